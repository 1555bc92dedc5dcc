/* kmsg-rules.c — the kernel's own log formats, one table row per format, read top to bottom.
 *
 * Each row: the class, an anchored prefix of the message, an optional needle that must follow
 * it, and an extractor for the fields. Like node-problem-detector's kernel-monitor.json, but
 * anchored: "Out of memory" inside some other line is not an OOM kill. Only facility 0 records
 * are classified: the kernel forces LOG_USER on anything user space writes to /dev/kmsg
 * (kernel/printk/printk.c, devkmsg_write). Formats are cited from the kernel source; where they
 * changed between versions (2.6.32 / RHEL 6 to 6.x) or architectures (x86, arm, arm64, powerpc,
 * riscv), every variant has its row. Records that begin with a task name are matched first, on
 * the structure around the name (kmsg-claim.c), so a name never makes a record another class.
 * Samples are in tests/fixtures/kmsg/corpus.txt (one per row; tests/fixtures/kmsg/SOURCES says
 * where from). */
#include <stdio.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/kmsg.h"
#include "kmsg-internal.h"

static bool cur_i64(Cursor *c, int64_t *ret) {
        bool neg = c->p < c->end && *c->p == '-';
        uint64_t v;
        Cursor d = { c->p + neg, c->end };
        if (!cur_u64(&d, &v) || v > INT64_MAX)
                return false;
        *ret = neg ? -(int64_t) v : (int64_t) v;
        c->p = d.p;
        return true;
}

/* The last occurrence of LIT in [P, END), or NULL. */
static const char *find_last(const char *p, const char *end, const char *lit) {
        size_t l = strlen(lit);
        const char *last = NULL, *f;
        while ((f = memmem(p, (size_t) (end - p), lit, l))) {
                last = f;
                p = f + 1;
        }
        return last;
}

/* "KEY:123kB" anywhere after the cursor → *RET. */
static bool field_u64(const Cursor *c, const char *key, uint64_t *ret) {
        Cursor d = *c;
        return cur_find(&d, key) && cur_u64(&d, ret);
}

static bool field_i64(const Cursor *c, const char *key, int64_t *ret) {
        Cursor d = *c;
        return cur_find(&d, key) && cur_i64(&d, ret);
}

/* LINE is the whole text; C starts right after the row's prefix and ends with the text. */
typedef void (*Extract)(const char *line, Cursor *c, KmsgMatch *m, const char *arg);

/* ---- extractors ---- */

/* "1234 (stress) total-vm:123456kB, anon-rss:12345kB, file-rss:0kB, shmem-rss:0kB, UID:0
 *  pgtables:1234kB oom_score_adj:0" (mm/oom_kill.c __oom_kill_process; UID since 5.0,
 * pgtables and oom_score_adj since 5.10). The name may hold spaces and parentheses. */
static void ex_oom_victim(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        uint64_t pid;
        const char *open, *close;

        m->cgroup_oom = arg != NULL;
        if (cur_u64(c, &pid))
                m->pid = (int64_t) pid;
        /* The name may hold ") total-vm:" itself: the kernel's is the last one (numbers follow). */
        open = memchr(c->p, '(', (size_t) (c->end - c->p));
        close = find_last(c->p, c->end, ") total-vm:");
        if (open && close && close > open) {
                copy_span(open + 1, (size_t) (close - open - 1), m->process, sizeof m->process);
                c->p = close;
        }
        (void) field_u64(c, "total-vm:", &m->total_vm_kb);
        (void) field_u64(c, "anon-rss:", &m->anon_rss_kb);
        (void) field_u64(c, "file-rss:", &m->file_rss_kb);
        (void) field_u64(c, "shmem-rss:", &m->shmem_rss_kb);
        (void) field_u64(c, "pgtables:", &m->pgtables_kb);
        m->has_uid = field_i64(c, "UID:", &m->uid);
        m->has_score_adj = field_i64(c, "oom_score_adj:", &m->oom_score_adj);
}

/* "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
 *  oom_memcg=/system.slice/app.service,task_memcg=/system.slice/app.service,task=app,pid=1,uid=0"
 * (mm/oom_kill.c dump_oom_summary, since 4.19). */
static void ex_oom_summary(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = *c;
        (void) arg;
        if (cur_find(&d, "constraint="))
                cur_word(&d, ",", m->constraint, sizeof m->constraint);
        /* a cgroup path may hold ",task=": the kernel's is the last one, and ends the path */
        const char *task = find_last(c->p, c->end, ",task=");
        d = *c;
        if (cur_find(&d, "task_memcg=") && task && task >= d.p)
                copy_span(d.p, (size_t) (task - d.p), m->cgroup, sizeof m->cgroup);
        if (task) {
                d = (Cursor){ task + 6, c->end };
                cur_word(&d, ",", m->process, sizeof m->process);
        }
}

/* "Out of memory: Kill process 1234 (stress) score 900 or sacrifice child" (before 5.1: the
 * victim follows as "Killed process …"); ARG is the constraint it implies. */
static void ex_oom_select(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) c;
        copy_span(arg, strlen(arg), m->constraint, sizeof m->constraint);
}

/* "Task in /docker/abc killed as a result of limit of /docker/abc" (mm/memcontrol.c, before 4.19). */
static void ex_oom_task_in(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, " ", m->cgroup, sizeof m->cgroup);
        copy_span("CONSTRAINT_MEMCG", 16, m->constraint, sizeof m->constraint);
}

/* The device between ARG (default "(device ") and ')' or ':' — "EXT4-fs error (device nvme1n1):",
 * "XFS (nvme1n1):", "BTRFS error (device dm-0: state A):". C may start anywhere before it. */
static void ex_paren_device(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor s = { line, c->end };
        if (cur_find(&s, arg ?: "(device "))
                cur_word(&s, "):, ", m->source, sizeof m->source);
}

/* jbd2 names its journal DEVICE-INODE ("nvme1n1-8", "dm-0-8"): "Aborting journal on device
 * nvme1n1-8." (fs/jbd2/journal.c), "JBD2: Detected IO errors while flushing file data on
 * nvme1n1-8" (fs/jbd2/commit.c). The source is the device. */
static void ex_jbd2(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor s = { line, c->end };
        char *dash;
        if (arg && !cur_find(&s, arg))
                return;
        if (!arg)
                s = *c;
        cur_word(&s, " ", m->source, sizeof m->source);
        size_t n = strlen(m->source);
        if (n > 0 && m->source[n - 1] == '.')
                m->source[--n] = 0;
        dash = strrchr(m->source, '-');
        if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1))
                *dash = 0;
}

/* The device after ARG (default "dev ") up to ',' and the sector after "sector " — block/blk-core.c
 * blk_print_req_error: "I/O error, dev nvme1n1, sector 2048 op 0x1:(WRITE) flags 0x800 …". */
static void ex_blk_error(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = { line, c->end };
        if (cur_find(&d, arg ?: "dev "))
                cur_word(&d, ", ", m->source, sizeof m->source);
        if (cur_find(&d, "sector "))
                (void) cur_u64(&d, &m->sector);
        d = (Cursor){ line, c->end };
        if (cur_find(&d, "logical block "))
                (void) cur_u64(&d, &m->sector);
}

/* "nvme nvme1: I/O 123 QID 4 timeout, aborting" — the controller is the source. */
static void ex_word_colon(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, ": ", m->source, sizeof m->source);
}

/* "nvme1n1: I/O Cmd(0x2) @ LBA 12345, 8 blocks, I/O Error (sct 0x0 / sc 0x4)"
 * (drivers/nvme/host/core.c nvme_log_error, since 5.19): the text starts with the disk. */
static void ex_nvme_cmd(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = { line, c->end };
        (void) arg;
        cur_word(&d, ":", m->source, sizeof m->source);
        if (cur_find(&d, "@ LBA "))
                (void) cur_u64(&d, &m->sector);
}

/* "INFO: task jbd2/nvme1n1-8:245 blocked for more than 120 seconds." (kernel/hung_task.c) */
static void ex_hung_task(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        const char *b = find_last(c->p, c->end, " blocked for more than ");
        const char *colon = b;
        uint64_t v;
        (void) arg;
        if (!b)
                return;
        while (colon > c->p && *colon != ':')
                colon--;
        if (colon > c->p) {
                copy_span(c->p, (size_t) (colon - c->p), m->process, sizeof m->process);
                Cursor p = { colon + 1, b };
                if (cur_u64(&p, &v))
                        m->pid = (int64_t) v;
        }
        Cursor s = { b + 23, c->end };
        (void) cur_u64(&s, &m->seconds);
        copy_span(m->process, strlen(m->process), m->source, sizeof m->source);
}

/* "watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:123]" (kernel/watchdog.c) and
 * "watchdog: Watchdog detected hard LOCKUP on cpu 3". */
static void ex_lockup(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        uint64_t cpu;
        (void) arg;
        if (cur_u64(c, &cpu))
                snprintf(m->source, sizeof m->source, "CPU#%llu", (unsigned long long) cpu);
        Cursor d = *c;
        if (cur_find(&d, "stuck for "))
                (void) cur_u64(&d, &m->seconds);
        if (cur_find(&d, "! [")) {
                const char *close = memrchr(d.p, ']', (size_t) (d.end - d.p));
                const char *colon = close ? memrchr(d.p, ':', (size_t) (close - d.p)) : NULL;
                uint64_t pid;
                if (colon) {
                        copy_span(d.p, (size_t) (colon - d.p), m->process, sizeof m->process);
                        Cursor p = { colon + 1, close };
                        if (cur_u64(&p, &pid))
                                m->pid = (int64_t) pid;
                }
        }
}

static void ex_constant_source(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) c;
        copy_span(arg, strlen(arg), m->source, sizeof m->source);
}

/* The die counter of an oops banner, "… [#2] SMP PTI" → source "#2" (SPEC §6: each oops is its
 * own source). Lines before the banner ("BUG: unable to handle …") have none. */
static void die_counter(const char *line, const char *end, KmsgMatch *m) {
        const char *h = find_last(line, end, "[#");
        uint64_t n;
        if (!h)
                return;
        Cursor d = { h + 2, end };
        if (cur_u64(&d, &n) && d.p < end && *d.p == ']')
                snprintf(m->source, sizeof m->source, "#%llu", (unsigned long long) n);
}

/* "WARNING: at kernel/softirq.c:159 local_bh_enable_ip+0x7b/0xa0() (Not tainted)" (kernel/panic.c
 * warn_slowpath_common, 2.6.32-3.10): grouped by file:line, as the newer format. */
static void ex_warning_at(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, " ", m->where, sizeof m->where);
        copy_span(m->where, strlen(m->where), m->source, sizeof m->source);
}

/* 6.x netdev_crit(): "r8125 0000:22:04.0 eth4: NETDEV WATCHDOG: CPU: 3: transmit queue 0 timed out
 * 5010 ms": the interface is the last word of the driver/bus/interface prefix. */
static void ex_netdev_prefixed(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        const char *at = memmem(line, (size_t) (c->end - line), ": NETDEV WATCHDOG: ", 19);
        const char *w = at;
        (void) arg;
        if (!at)
                return;
        while (w > line && w[-1] != ' ')
                w--;
        copy_span(w, (size_t) (at - w), m->source, sizeof m->source);
}

/* 2.6.32 XFS: 'Filesystem "dm-3": XFS internal error …' (fs/xfs/support/debug.c xfs_fs_cmn_err),
 * 'xfs_force_shutdown(dm-3,0x8) called from line …' and 'I/O error in filesystem ("sdb1") …'
 * (fs/xfs/xfs_rw.c): the device between ARG and the next '"', ',' or ')'. */
static void ex_after(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor s = { line, c->end };
        if (cur_find(&s, arg))
                cur_word(&s, "\",) ", m->source, sizeof m->source);
}

/* Oopses: the reason is the line itself ("kernel BUG at mm/slub.c:4025!" → "mm/slub.c:4025"). */
static void ex_oops(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, "!", m->where, sizeof m->where);
}

/* die() banners: the oops's reason, and its die counter as the source. Only these rows read a
 * counter: a "[#N]" elsewhere (in a task name) is not one. */
static void ex_die(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        die_counter(line, c->end, m);
        ex_oops(line, c, m, arg);
}

/* "WARNING: CPU: 2 PID: 1234 at net/sched/sch_generic.c:477 dev_watchdog+0x21b/0x220"
 * (kernel/panic.c __warn): bursts are grouped by file:line. */
static void ex_warning(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = *c;
        uint64_t pid;
        (void) arg;
        if (cur_find(&d, "PID: ") && cur_u64(&d, &pid))
                m->pid = (int64_t) pid;
        if (cur_find(&d, " at ")) {
                cur_word(&d, " ", m->where, sizeof m->where);
                copy_span(m->where, strlen(m->where), m->source, sizeof m->source);
        }
}

/* "NETDEV WATCHDOG: eth0 (ena): transmit queue 3 timed out" (net/sched/sch_generic.c) */
static void ex_netdev_watchdog(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, " (:", m->source, sizeof m->source);
}

/* "ena 0000:00:05.0 eth0: Found a Tx that wasn't completed on time, qid 4, index 219." — the
 * PCI address is the source (drivers/net/ethernet/amazon/ena). */
static void ex_pci_source(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        size_t n;
        (void) line;
        (void) arg;
        /* "0000:00:05.0 eth0: …" or "0000:00:05.0: …": the address holds ':' itself. */
        cur_word(c, " ", m->source, sizeof m->source);
        n = strlen(m->source);
        if (n > 0 && m->source[n - 1] == ':')
                m->source[n - 1] = 0;
}

typedef struct Rule {
        KmsgClass klass;
        const char *prefix; /* anchored at the start of the text; "" for none */
        size_t prefix_len;
        const char *needle; /* must follow the prefix; NULL for none */
        Extract extract;
        const char *arg;
        const char *format;             /* a name for the row */
        bool (*check)(const Cursor *c); /* the structure after the prefix, NULL: none */
        unsigned flags;
} Rule;

enum {
        RULE_NEEDLE_ANY_CASE = 1 << 0, /* the kernel changed the needle's case between versions */
};

/* The prefix is followed by a number ("Killed process 1234 (…", never "Killed process [12]…"). */
static bool check_digit(const Cursor *c) {
        return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* x86 die() before 6.x (arch/x86/kernel/dumpstack.c __die_header): "%s: %04lx [#%d]%s%s%s%s%s",
 * the trap's name in lower case: "divide error: 0000 [#1] SMP", "invalid opcode: 0000 [#1] SMP PTI",
 * "stack segment: 0000 [#1]", "double fault: 0000 [#1]", … (6.x prefixes "Oops: "). */
static bool check_x86_die(const Cursor *c) {
        const char *p = c->p;
        while (p < c->end && p - c->p < 40 && ((*p >= 'a' && *p <= 'z') || *p == ' '))
                p++;
        if (p == c->p || !has_at(p, c->end, ": ") || c->end - p < 10)
                return false;
        for (int i = 2; i < 6; i++)
                if (!strchr("0123456789abcdef", p[i]) || p[i] == 0)
                        return false;
        return has_at(p + 6, c->end, " [#");
}

/* XFS superblock read and validate failures (fs/xfs/xfs_mount.c xfs_readsb, "SB validate failed
 * with error %d."): only EIO and the corruption codes (EFSCORRUPTED = EUCLEAN 117, EFSBADCRC =
 * EBADMSG 74) are errors; EINVAL (22) is a feature mismatch. 3.x printed them positive. */
static bool check_xfs_sb_error(const Cursor *c) {
        Cursor d = *c;
        int64_t e;
        if (!cur_find(&d, " with error "))
                return false;
        if (d.p < d.end && *d.p == '-')
                d.p++;
        return cur_i64(&d, &e) && (e == 5 || e == 117 || e == 74);
}

/* netdev_printk(): "%s %s %s%s: " — driver, bus id, interface — then "NETDEV WATCHDOG: " (6.x). */
static bool check_netdev_prefix(const Cursor *c) {
        const char *p = c->p;
        for (int words = 0; words < 3; words++) {
                const char *sp = memchr(p, ' ', (size_t) MIN(c->end - p, 64));
                if (!sp || sp == p)
                        return false;
                if (sp[-1] == ':')
                        return has_at(sp - 1, c->end, ": NETDEV WATCHDOG: ");
                p = sp + 1;
        }
        return false;
}

#define ROW(k, pre, nee, ex, a, fmt)                                                                    \
        {                                                                                               \
                .klass = k, .prefix = pre, .prefix_len = sizeof(pre) - 1, .needle = nee, .extract = ex, \
                .arg = a, .format = fmt                                                                 \
        }
#define ROWX(k, pre, nee, ex, a, fmt, chk, fl)                                                          \
        {                                                                                               \
                .klass = k, .prefix = pre, .prefix_len = sizeof(pre) - 1, .needle = nee, .extract = ex, \
                .arg = a, .format = fmt, .check = chk, .flags = fl                                      \
        }

/* Read top to bottom; the first match wins. */
static const Rule rules[] = {
        /* mm/oom_kill.c, mm/memcontrol.c */
        ROW(KMSG_OOM_KILL, "Out of memory: Killed process ", NULL, ex_oom_victim, NULL, "oom victim (5.1+)"),
        ROW(KMSG_OOM_KILL, "Memory cgroup out of memory: Killed process ", NULL, ex_oom_victim, "",
            "memcg oom victim (5.1+)"),
        ROWX(KMSG_OOM_KILL, "Killed process ", NULL, ex_oom_victim, NULL, "oom victim (before 5.1)",
             check_digit, 0),
        ROW(KMSG_OOM_CONTEXT, "oom-kill:", NULL, ex_oom_summary, NULL, "oom summary (4.19+)"),
        ROW(KMSG_OOM_CONTEXT, "Out of memory: Kill process ", NULL, ex_oom_select, "CONSTRAINT_NONE",
            "oom select (before 5.1)"),
        ROW(KMSG_OOM_CONTEXT, "Memory cgroup out of memory: Kill process ", NULL, ex_oom_select,
            "CONSTRAINT_MEMCG", "memcg oom select (before 5.1)"),
        ROW(KMSG_OOM_CONTEXT, "Task in ", " killed as a result of limit of ", ex_oom_task_in, NULL,
            "memcg task in (before 4.19)"),

        /* fs/ext4/super.c, fs/jbd2, fs/xfs, fs/btrfs: read-only first, then errors */
        ROW(KMSG_FS_READONLY, "EXT4-fs (", "Remounting filesystem read-only", ex_paren_device, "(",
            "ext4 remount ro"),
        ROW(KMSG_FS_READONLY, "BTRFS ", "forced readonly", ex_paren_device, NULL, "btrfs forced ro"),
        ROW(KMSG_FS_ERROR, "EXT4-fs error (device ", NULL, ex_paren_device, NULL, "ext4 error"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "I/O error", ex_paren_device, "(", "ext4 I/O error"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "error count since last fsck", ex_paren_device, "(",
            "ext4 error count"),
        /* fs/ext4/super.c ext4_msg(KERN_ERR) at mount (3.x-6.x): group descriptors, journal load */
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): ext4_check_descriptors: ", ex_paren_device, "(",
            "ext4 descriptors (super.c ext4_check_descriptors)"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): group descriptors corrupted", ex_paren_device, "(",
            "ext4 group descriptors corrupted (super.c)"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): can't read group descriptor", ex_paren_device, "(",
            "ext4 group descriptor read (super.c)"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): error loading journal", ex_paren_device, "(",
            "ext4 journal load (super.c ext4_load_journal)"),
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): failed to open journal device", ex_paren_device, "(",
            "ext4 journal device (super.c)"),
        /* fs/ext4/page-io.c ext4_end_io_rsv_work / ext4_put_io_end (KERN_EMERG, 3.x-6.x) */
        ROW(KMSG_FS_ERROR, "EXT4-fs (", "): failed to convert unwritten extents", ex_paren_device, "(",
            "ext4 unwritten extents (page-io.c)"),
        /* fs/ext4/page-io.c ext4_end_bio: "EXT4-fs warning (device %s): ext4_end_bio:%d: I/O error %d
         * writing to inode …" (the error code follows: -5, -19, or a blk_status such as 10) */
        ROW(KMSG_FS_ERROR, "EXT4-fs warning (device ", "I/O error", ex_paren_device, NULL,
            "ext4 warning I/O error (page-io.c)"),
        ROW(KMSG_FS_ERROR, "Aborting journal on device ", NULL, ex_jbd2, NULL, "jbd2 abort"),
        ROW(KMSG_FS_ERROR, "JBD2: ", "IO error", ex_jbd2, " on ", "jbd2 io error"),
        /* fs/jbd2/journal.c jbd2_write_superblock: "JBD2: Error %d detected when updating journal
         * superblock for %s." (4.x+); 3.x "JBD2: I/O error detected when updating journal superblock" */
        ROW(KMSG_FS_ERROR, "JBD2: ", "detected when updating journal superblock", ex_jbd2, " for ",
            "jbd2 superblock update (journal.c)"),
        ROW(KMSG_FS_ERROR, "JBD2: ", "I/O error", ex_jbd2, " for ", "jbd2 I/O error (journal.c)"),
        /* fs/jbd2/journal.c jbd2_journal_load: "JBD2: recovery failed" (before 5.x), "JBD2: journal
         * recovery failed"; fs/jbd2/recovery.c "JBD2: Invalid checksum recovering [data ]block %lu in
         * log" */
        ROW(KMSG_FS_ERROR, "JBD2: ", "recovery failed", ex_jbd2, " on ", "jbd2 recovery failed (journal.c)"),
        ROW(KMSG_FS_ERROR, "JBD2: Invalid checksum recovering ", NULL, ex_jbd2, " on ",
            "jbd2 recovery checksum (recovery.c)"),
        /* fs/xfs: "XFS (%s): " (xfs_message.c, 3.x+), bare "XFS: " without a mount (and RHEL 6) */
        ROW(KMSG_FS_ERROR, "XFS (", "orruption", ex_paren_device, "(", "xfs corruption"),
        ROWX(KMSG_FS_ERROR, "XFS (", "I/O error", ex_paren_device, "(",
             "xfs I/O error (metadata, log: 'Log I/O Error Detected' before 5.x)", NULL,
             RULE_NEEDLE_ANY_CASE),
        ROW(KMSG_FS_ERROR, "XFS (", "Filesystem has been shut down", ex_paren_device, "(", "xfs shutdown"),
        ROW(KMSG_FS_ERROR, "XFS (", "xfs_do_force_shutdown", ex_paren_device, "(", "xfs forced shutdown"),
        ROW(KMSG_FS_ERROR, "XFS (", "): Internal error ", ex_paren_device, "(",
            "xfs internal error (xfs_error.c xfs_error_report)"),
        ROW(KMSG_FS_ERROR, "XFS (", "): xfs_log_force: error ", ex_paren_device, "(",
            "xfs log force (xfs_log.c, 3.x-4.x)"),
        ROW(KMSG_FS_ERROR, "XFS (", "): log mount failed", ex_paren_device, "(",
            "xfs log mount (xfs_log.c)"),
        ROW(KMSG_FS_ERROR, "XFS (", "recovery failed", ex_paren_device, "(",
            "xfs log recovery (xfs_log.c, xfs_mount.c 'log mount/recovery failed')"),
        ROW(KMSG_FS_ERROR, "XFS (", "): log mount finish failed", ex_paren_device, "(",
            "xfs log mount finish (xfs_mount.c)"),
        ROW(KMSG_FS_ERROR, "XFS (", "): Failed to recover ", ex_paren_device, "(",
            "xfs intent recovery (6.x)"),
        ROW(KMSG_FS_ERROR, "XFS (", " CRC error detected", ex_paren_device, "(", "xfs metadata CRC (4.x+)"),
        ROWX(KMSG_FS_ERROR, "XFS (", "): SB validate failed", ex_paren_device, "(",
             "xfs superblock validate (xfs_mount.c xfs_readsb)", check_xfs_sb_error, 0),
        ROWX(KMSG_FS_ERROR, "XFS: ", "I/O error", ex_constant_source, "", "xfs I/O error (no device)", NULL,
             RULE_NEEDLE_ANY_CASE),
        ROW(KMSG_FS_ERROR, "XFS: ", "orruption", ex_constant_source, "", "xfs corruption (no device)"),
        ROW(KMSG_FS_ERROR, "XFS: Internal error ", NULL, ex_constant_source, "",
            "xfs internal error (no device: 2.6.32 RHEL 6, 3.x)"),
        ROW(KMSG_FS_ERROR, "XFS: ", "Filesystem has been shut down", ex_constant_source, "",
            "xfs shutdown (no device)"),
        ROW(KMSG_FS_ERROR, "XFS: ", "xfs_do_force_shutdown", ex_constant_source, "",
            "xfs forced shutdown (no device)"),
        ROW(KMSG_FS_ERROR, "XFS: xfs_log_force: error ", NULL, ex_constant_source, "",
            "xfs log force (no device)"),
        ROW(KMSG_FS_ERROR, "XFS: ", "recovery failed", ex_constant_source, "",
            "xfs log recovery (no device)"),
        ROWX(KMSG_FS_ERROR, "XFS: SB validate failed", NULL, ex_constant_source, "",
             "xfs superblock validate (no device)", check_xfs_sb_error, 0),
        /* 2.6.32 fs/xfs/support/debug.c xfs_fs_cmn_err: 'Filesystem "%s": …'; xfs_fsops.c
         * "xfs_force_shutdown(%s,0x%x) called from line …"; xfs_rw.c xfs_ioerror_alert */
        ROW(KMSG_FS_ERROR, "Filesystem \"", "\": XFS internal error ", ex_after, "Filesystem \"",
            "xfs internal error (2.6.32)"),
        ROW(KMSG_FS_ERROR, "Filesystem \"", "\": Corruption ", ex_after, "Filesystem \"",
            "xfs corruption (2.6.32)"),
        ROW(KMSG_FS_ERROR, "Filesystem \"", "\": Log I/O Error Detected", ex_after, "Filesystem \"",
            "xfs log I/O error (2.6.32)"),
        ROW(KMSG_FS_ERROR, "xfs_force_shutdown(", ") called from line ", ex_after, "xfs_force_shutdown(",
            "xfs forced shutdown (2.6.32)"),
        ROW(KMSG_FS_ERROR, "I/O error in filesystem (\"", NULL, ex_after, "(\"", "xfs I/O error (2.6.32)"),
        ROW(KMSG_FS_ERROR, "BTRFS error (device ", NULL, ex_paren_device, NULL, "btrfs error"),
        ROW(KMSG_FS_ERROR, "BTRFS critical (device ", NULL, ex_paren_device, NULL, "btrfs critical"),
        ROW(KMSG_FS_ERROR, "BTRFS: error (device ", NULL, ex_paren_device, NULL, "btrfs error (old)"),
        ROW(KMSG_FS_ERROR, "BTRFS: Transaction aborted", NULL, ex_paren_device, NULL,
            "btrfs transaction aborted"),
        /* fs/btrfs/inode.c (btrfs_warn_rl): "csum failed root %lld ino %llu off %llu csum …" (4.x+;
         * info level in 3.x), "direct IO failed ino %llu …"; fs/btrfs/scrub.c "checksum error at …";
         * 3.x-: "btrfs csum failed ino %llu off %llu csum %u private %llu" */
        ROW(KMSG_FS_ERROR, "BTRFS warning (device ", "): csum failed ", ex_paren_device, NULL,
            "btrfs csum failed (inode.c)"),
        ROW(KMSG_FS_ERROR, "BTRFS info (device ", "): csum failed ", ex_paren_device, NULL,
            "btrfs csum failed (inode.c, 3.x)"),
        ROW(KMSG_FS_ERROR, "BTRFS warning (device ", "): direct IO failed ", ex_paren_device, NULL,
            "btrfs direct IO failed (inode.c)"),
        ROW(KMSG_FS_ERROR, "BTRFS warning (device ", "): checksum error at ", ex_paren_device, NULL,
            "btrfs scrub checksum error (scrub.c)"),
        ROW(KMSG_FS_ERROR, "btrfs csum failed ino ", NULL, ex_constant_source, "",
            "btrfs csum failed (3.x-)"),

        /* block/blk-core.c (prefix per kernel version), fs/buffer.c, drivers/nvme/host */
        ROW(KMSG_IO_ERROR, "blk_update_request: ", " error, dev ", ex_blk_error, NULL,
            "blk_update_request (before 5.19)"),
        ROW(KMSG_IO_ERROR, "print_req_error: ", " error, dev ", ex_blk_error, NULL,
            "print_req_error (4.17-4.20)"),
        ROW(KMSG_IO_ERROR, "I/O error, dev ", NULL, ex_blk_error, NULL, "blk error (5.19+)"),
        ROW(KMSG_IO_ERROR, "critical ", " error, dev ", ex_blk_error, NULL, "blk critical error"),
        ROW(KMSG_IO_ERROR, "timeout error, dev ", NULL, ex_blk_error, NULL, "blk timeout"),
        ROW(KMSG_IO_ERROR, "Buffer I/O error on dev ", NULL, ex_blk_error, NULL, "buffer I/O error"),
        /* fs/ext4/page-io.c ext4_finish_bio (3.x-5.x) and fs/buffer.c (2.6.32-4.x): "Buffer I/O error on
         * device %s, logical block %llu" */
        ROW(KMSG_IO_ERROR, "Buffer I/O error on device ", NULL, ex_blk_error, "device ",
            "buffer I/O error (ext4 page-io.c, 'on device')"),
        ROW(KMSG_IO_ERROR, "nvme ", " timeout", ex_word_colon, NULL, "nvme timeout"),
        ROW(KMSG_IO_ERROR, "nvme ", "controller is down", ex_word_colon, NULL, "nvme controller down"),
        ROW(KMSG_IO_ERROR, "nvme ", "Abort status", ex_word_colon, NULL, "nvme abort"),
        ROW(KMSG_IO_ERROR, "nvme", ": I/O Cmd(", ex_nvme_cmd, NULL, "nvme I/O error (5.19+)"),
        /* drivers/nvme/host/pci.c nvme_remove_dead_ctrl "Removing after probe failure status: %d" and
         * nvme_reset_work "Disabling device after reset failure: %d" (4.x-6.x) */
        ROW(KMSG_IO_ERROR, "nvme ", ": Removing after probe failure", ex_word_colon, NULL,
            "nvme removed after probe failure (pci.c)"),
        ROW(KMSG_IO_ERROR, "nvme ", ": Disabling device after reset failure", ex_word_colon, NULL,
            "nvme disabled after reset failure (pci.c)"),

        /* kernel/hung_task.c, kernel/watchdog.c, kernel/rcu/tree_stall.h */
        ROW(KMSG_HUNG_TASK, "INFO: task ", " blocked for more than ", ex_hung_task, NULL, "hung task"),
        ROW(KMSG_SOFT_LOCKUP, "watchdog: BUG: soft lockup - CPU#", NULL, ex_lockup, NULL, "soft lockup"),
        ROW(KMSG_SOFT_LOCKUP, "NMI watchdog: BUG: soft lockup - CPU#", NULL, ex_lockup, NULL,
            "soft lockup (old)"),
        ROW(KMSG_SOFT_LOCKUP, "BUG: soft lockup - CPU#", NULL, ex_lockup, NULL, "soft lockup (older)"),
        ROW(KMSG_SOFT_LOCKUP, "watchdog: Watchdog detected hard LOCKUP on cpu ", NULL, ex_lockup, NULL,
            "hard lockup"),
        ROW(KMSG_SOFT_LOCKUP, "NMI watchdog: Watchdog detected hard LOCKUP on cpu ", NULL, ex_lockup, NULL,
            "hard lockup (old)"),
        /* kernel/watchdog.c 3.x-4.4: WARN(1, "Watchdog detected hard LOCKUP on cpu %d", cpu), no prefix */
        ROW(KMSG_SOFT_LOCKUP, "Watchdog detected hard LOCKUP on cpu ", NULL, ex_lockup, NULL,
            "hard lockup (3.x WARN)"),
        /* arch/powerpc/kernel/watchdog.c: 4.13-4.18 "Watchdog CPU:%d Hard LOCKUP", "Watchdog CPU:%d
         * detected Hard LOCKUP other CPUS:%*pbl"; 4.19+ (pr_fmt "watchdog: ") "CPU %d self-detected hard
         * LOCKUP @ %pS", "CPU %d detected hard LOCKUP on other CPUs %*pbl" */
        ROWX(KMSG_SOFT_LOCKUP, "Watchdog CPU:", "hard LOCKUP", ex_lockup, NULL,
             "hard lockup (powerpc 4.13-4.18)", NULL, RULE_NEEDLE_ANY_CASE),
        ROWX(KMSG_SOFT_LOCKUP, "watchdog: CPU ", "hard LOCKUP", ex_lockup, NULL,
             "hard lockup (powerpc 4.19+)", NULL, RULE_NEEDLE_ANY_CASE),
        ROW(KMSG_RCU_STALL, "rcu: INFO: rcu_", " stall", ex_constant_source, "rcu", "rcu stall"),
        ROW(KMSG_RCU_STALL, "INFO: rcu_", " stall", ex_constant_source, "rcu", "rcu stall (before 4.20)"),

        /* arch/x86/mm/fault.c, arch/x86/kernel/dumpstack.c and traps.c, lib/bug.c, kernel/panic.c;
         * the die() banners carry the die counter "[#N]", each oops's source */
        ROW(KMSG_KERNEL_OOPS, "BUG: kernel NULL pointer dereference", NULL, ex_oops, NULL,
            "null deref (5.0+)"),
        ROW(KMSG_KERNEL_OOPS, "BUG: unable to handle ", NULL, ex_oops, NULL, "page fault"),
        ROW(KMSG_KERNEL_OOPS, "Oops: ", NULL, ex_die, NULL,
            "oops (x86 'Oops: [trap: ]%04lx [#N]', powerpc)"),
        ROW(KMSG_KERNEL_OOPS, "general protection fault", NULL, ex_die, NULL, "general protection fault"),
        ROW(KMSG_KERNEL_OOPS, "kernel BUG at ", NULL, ex_oops, NULL, "kernel BUG"),
        ROW(KMSG_KERNEL_OOPS, "Kernel panic - not syncing: ", NULL, ex_oops, NULL, "panic"),
        ROW(KMSG_KERNEL_OOPS, "BUG: ", NULL, ex_oops, NULL, "BUG"),
        /* arch/arm/kernel/traps.c and arch/arm64/kernel/traps.c __die: "Internal error: %s: %x [#%d]"
         * + PREEMPT SMP ARM/THUMB2 (arm64: "%016x" since 5.x) */
        ROW(KMSG_KERNEL_OOPS, "Internal error: ", " [#", ex_die, NULL,
            "oops (arm/arm64 die 'Internal error')"),
        /* arch/arm/mm/fault.c __do_kernel_fault, arch/arm64/mm/fault.c die_kernel_fault (and
         * __do_kernel_fault before 4.19), arch/riscv/mm/fault.c: "Unable to handle kernel %s at
         * virtual address %08lx"; arm64 also "Unable to handle kernel execute from non-executable
         * memory …", "Unable to handle kernel paging request …" */
        ROW(KMSG_KERNEL_OOPS, "Unable to handle kernel ", NULL, ex_oops, NULL,
            "kernel page fault (arm/arm64/riscv fault.c)"),
        /* arch/riscv/kernel/traps.c die: "%s [#%d]" with "Oops", "Oops - <cause>", "Kernel BUG" */
        ROW(KMSG_KERNEL_OOPS, "Oops [#", NULL, ex_die, NULL, "oops (riscv die)"),
        ROW(KMSG_KERNEL_OOPS, "Oops - ", " [#", ex_die, NULL, "oops (riscv die, with cause)"),
        ROW(KMSG_KERNEL_OOPS, "Kernel BUG [#", NULL, ex_die, NULL, "kernel BUG (riscv die)"),
        /* x86 die() before 6.x for traps other than a page fault or a general protection fault */
        ROWX(KMSG_KERNEL_OOPS, "", NULL, ex_die, NULL, "oops (x86 die '<trap>: %04lx [#N]', before 6.x)",
             check_x86_die, 0),
        ROW(KMSG_KERNEL_WARNING, "WARNING: CPU: ", " at ", ex_warning, NULL, "warning"),
        /* kernel/panic.c warn_slowpath_common (2.6.32-3.10): "WARNING: at %s:%d %pS()" */
        ROW(KMSG_KERNEL_WARNING, "WARNING: at ", NULL, ex_warning_at, NULL, "warning (2.6.32-3.10)"),

        /* net/sched/sch_generic.c dev_watchdog, drivers/net/ethernet/amazon/ena */
        ROW(KMSG_NET_ERROR, "NETDEV WATCHDOG: ", NULL, ex_netdev_watchdog, NULL, "netdev watchdog"),
        /* 6.x: netdev_crit(dev, "NETDEV WATCHDOG: CPU: %d: transmit queue %u timed out %u ms") */
        ROWX(KMSG_NET_ERROR, "", NULL, ex_netdev_prefixed, NULL, "netdev watchdog (6.x netdev_crit)",
             check_netdev_prefix, 0),
        ROW(KMSG_NET_ERROR, "ena ", "Found a Tx that wasn't completed on time", ex_pci_source, NULL,
            "ena tx timeout"),
        ROW(KMSG_NET_ERROR, "ena ", "TX hasn't completed", ex_pci_source, NULL, "ena tx stall"),
        /* ena_netdev.c check_missing_comp_in_tx_queue: "The number of lost tx completions is above the
         * threshold (%d > %d). Reset the device" (before 2.8), "Lost TX completions are above the
         * threshold (%d > %d). Completion transmission timeout: %u." (2.8+) */
        ROWX(KMSG_NET_ERROR, "ena ", "lost tx completions", ex_pci_source, NULL, "ena lost tx completions",
             NULL, RULE_NEEDLE_ANY_CASE),
        /* ena_netdev.c ena_tx_timeout (ndo_tx_timeout): "Transmit time out" */
        ROW(KMSG_NET_ERROR, "ena ", ": Transmit time out", ex_pci_source, NULL, "ena transmit timeout"),
        ROW(KMSG_NET_ERROR, "ena ", "Keep alive watchdog timeout", ex_pci_source, NULL, "ena keep-alive"),
        ROW(KMSG_NET_ERROR, "ena ", "Trigger reset is on", ex_pci_source, NULL, "ena reset"),
        ROW(KMSG_NET_ERROR, "ena ", "Device reset completed successfully", ex_pci_source, NULL,
            "ena reset done"),
};

/* The event type of each class, named by the catalog; -1: the class makes no event of its own. */
static const int class_types[_KMSG_CLASS_MAX] = {
        [KMSG_NONE] = -1,
        [KMSG_OOM_KILL] = EVENT_TYPE_OOM_KILL,
        [KMSG_FS_ERROR] = EVENT_TYPE_FS_ERROR,
        [KMSG_FS_READONLY] = EVENT_TYPE_FS_READONLY,
        [KMSG_IO_ERROR] = EVENT_TYPE_IO_ERROR,
        [KMSG_HUNG_TASK] = EVENT_TYPE_HUNG_TASK,
        [KMSG_SOFT_LOCKUP] = EVENT_TYPE_SOFT_LOCKUP,
        [KMSG_RCU_STALL] = EVENT_TYPE_RCU_STALL,
        [KMSG_KERNEL_OOPS] = EVENT_TYPE_KERNEL_OOPS,
        [KMSG_KERNEL_WARNING] = EVENT_TYPE_KERNEL_WARNING,
        [KMSG_SEGFAULT] = EVENT_TYPE_SEGFAULT,
        [KMSG_NET_ERROR] = EVENT_TYPE_NET_ERROR,
        [KMSG_OOM_CONTEXT] = -1,
};

const char *kmsg_class_to_string(KmsgClass c) {
        return (unsigned) c < _KMSG_CLASS_MAX && class_types[c] >= 0 ? event_type_info(class_types[c])->name
                                                                     : NULL;
}

KmsgClass kmsg_classify(const KmsgRecord *rec, KmsgMatch *ret) {
        const char *t = rec->text;
        size_t n = rec->text_len;

        if (rec->facility != 0 || n == 0)
                return KMSG_NONE;
        KmsgClass user;
        if (kmsg_claim_user(t, t + n, ret, &user))
                return user;
        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                const Rule *r = &rules[i];
                size_t pl = r->prefix_len;
                if (pl > n || (pl > 0 && (t[0] != r->prefix[0] || memcmp(t, r->prefix, pl) != 0)))
                        continue;
                Cursor c = { t + pl, t + n };
                if (r->check && !r->check(&c))
                        continue;
                if (r->needle) {
                        Cursor f = c;
                        if (r->flags & RULE_NEEDLE_ANY_CASE ? !strcasestr(c.p, r->needle)
                                                            : !cur_find(&f, r->needle))
                                continue;
                }
                *ret = (KmsgMatch){ .klass = r->klass, .format = r->format };
                r->extract(t, &c, ret, r->arg);
                return r->klass;
        }
        return KMSG_NONE;
}
