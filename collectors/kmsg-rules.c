/* kmsg-rules.c — the kernel's own log formats, one table row per format, read top to bottom.
 *
 * Each row: the class, an anchored prefix of the message, an optional needle that must follow
 * it, and an extractor for the fields. Like node-problem-detector's kernel-monitor.json, but
 * anchored: "Out of memory" inside some other line is not an OOM kill. Only facility 0 records
 * are classified: the kernel forces LOG_USER on anything user space writes to /dev/kmsg
 * (kernel/printk/printk.c, devkmsg_write). Formats are cited from the kernel source; where they
 * changed between the kernels of Debian 10–13, Ubuntu 18.04–24.04 and Amazon Linux 2/2023
 * (4.14–6.12), every variant has its row. Samples are in tests/fixtures/kmsg/corpus.txt. */
#include <stdio.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/kmsg.h"

typedef struct Cursor {
        const char *p, *end;
} Cursor;

static bool cur_find(Cursor *c, const char *lit) {
        const char *f = memmem(c->p, (size_t) (c->end - c->p), lit, strlen(lit));
        if (!f)
                return false;
        c->p = f + strlen(lit);
        return true;
}

static bool cur_u64(Cursor *c, uint64_t *ret) {
        size_t n = 0;
        while (c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9')
                n++;
        if (parse_u64_n(c->p, n, UINT64_MAX, ret) < 0)
                return false;
        c->p += n;
        return true;
}

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

/* Copies from the cursor up to (not including) the first of STOP or the end, at most MAX-1. */
static void cur_word(Cursor *c, const char *stop, char *dst, size_t max) {
        size_t n = 0;
        while (c->p + n < c->end && !strchr(stop, c->p[n]))
                n++;
        size_t k = MIN(n, max - 1);
        memcpy(dst, c->p, k);
        dst[k] = 0;
        c->p += n;
}

static void copy_span(const char *s, size_t n, char *dst, size_t max) {
        size_t k = MIN(n, max - 1);
        memcpy(dst, s, k);
        dst[k] = 0;
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
        Cursor rest = *c;
        const char *open, *close;

        m->cgroup_oom = arg != NULL;
        if (cur_u64(c, &pid))
                m->pid = (int64_t) pid;
        open = memchr(c->p, '(', (size_t) (c->end - c->p));
        if (cur_find(&rest, " total-vm:")) {
                close = rest.p - strlen(" total-vm:");
                while (close > c->p && *close != ')')
                        close--;
                if (open && close > open)
                        copy_span(open + 1, (size_t) (close - open - 1), m->process, sizeof m->process);
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
        d = *c;
        if (cur_find(&d, "task_memcg="))
                cur_word(&d, ",", m->cgroup, sizeof m->cgroup);
        d = *c;
        if (cur_find(&d, ",task="))
                cur_word(&d, ",", m->process, sizeof m->process);
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

/* "stress invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0" */
static void ex_oom_invoked(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        const char *at = memmem(c->p, (size_t) (c->end - c->p), " invoked oom-killer:", 20);
        if (at)
                copy_span(c->p, (size_t) (at - c->p), m->process, sizeof m->process);
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

/* The device after "dev " up to ',' and the sector after "sector " — block/blk-core.c
 * blk_print_req_error: "I/O error, dev nvme1n1, sector 2048 op 0x1:(WRITE) flags 0x800 …". */
static void ex_blk_error(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = { line, c->end };
        (void) arg;
        if (cur_find(&d, "dev "))
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
        const char *b = memmem(c->p, (size_t) (c->end - c->p), " blocked for more than ", 23);
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

/* Oopses: the reason is the line itself ("kernel BUG at mm/slub.c:4025!" → "mm/slub.c:4025"). */
static void ex_oops(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        (void) arg;
        cur_word(c, "!", m->where, sizeof m->where);
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

/* "nginx[1234]: segfault at 0 ip 00007f… sp 00007ff… error 4 in libc.so.6[7f…+178000]"
 * (arch/x86/mm/fault.c show_signal_msg) and "traps: nginx[1234] general protection fault
 * ip:… sp:… error:0 in libc.so.6[…]" (arch/x86/kernel/traps.c). C is at the line start. */
static void ex_segfault(const char *line, Cursor *c, KmsgMatch *m, const char *arg) {
        Cursor d = *c;
        uint64_t pid;
        (void) arg;
        const char *lb = memchr(d.p, '[', (size_t) (d.end - d.p));
        if (!lb)
                return;
        copy_span(d.p, (size_t) (lb - d.p), m->process, sizeof m->process);
        d.p = lb + 1;
        if (cur_u64(&d, &pid))
                m->pid = (int64_t) pid;
        if (cur_find(&d, " in "))
                cur_word(&d, "[ ", m->where, sizeof m->where);
        copy_span(m->process, strlen(m->process), m->source, sizeof m->source);
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
        const char *needle; /* must follow the prefix; NULL for none */
        Extract extract;
        const char *arg;
        const char *format; /* a name for the row */
} Rule;

/* Read top to bottom; the first match wins. */
static const Rule rules[] = {
        /* mm/oom_kill.c, mm/memcontrol.c */
        { KMSG_OOM_KILL, "Out of memory: Killed process ", NULL, ex_oom_victim, NULL, "oom victim (5.1+)" },
        { KMSG_OOM_KILL, "Memory cgroup out of memory: Killed process ", NULL, ex_oom_victim, "",
          "memcg oom victim (5.1+)" },
        { KMSG_OOM_KILL, "Killed process ", NULL, ex_oom_victim, NULL, "oom victim (before 5.1)" },
        { KMSG_OOM_CONTEXT, "oom-kill:", NULL, ex_oom_summary, NULL, "oom summary (4.19+)" },
        { KMSG_OOM_CONTEXT, "Out of memory: Kill process ", NULL, ex_oom_select, "CONSTRAINT_NONE",
          "oom select (before 5.1)" },
        { KMSG_OOM_CONTEXT, "Memory cgroup out of memory: Kill process ", NULL, ex_oom_select,
          "CONSTRAINT_MEMCG", "memcg oom select (before 5.1)" },
        { KMSG_OOM_CONTEXT, "Task in ", " killed as a result of limit of ", ex_oom_task_in, NULL,
          "memcg task in (before 4.19)" },
        { KMSG_OOM_CONTEXT, "", " invoked oom-killer: ", ex_oom_invoked, NULL, "oom invoked" },

        /* fs/ext4/super.c, fs/jbd2, fs/xfs, fs/btrfs: read-only first, then errors */
        { KMSG_FS_READONLY, "EXT4-fs (", "Remounting filesystem read-only", ex_paren_device, "(",
          "ext4 remount ro" },
        { KMSG_FS_READONLY, "BTRFS ", "forced readonly", ex_paren_device, NULL, "btrfs forced ro" },
        { KMSG_FS_ERROR, "EXT4-fs error (device ", NULL, ex_paren_device, NULL, "ext4 error" },
        { KMSG_FS_ERROR, "EXT4-fs (", "I/O error", ex_paren_device, "(", "ext4 I/O error" },
        { KMSG_FS_ERROR, "EXT4-fs (", "error count since last fsck", ex_paren_device, "(",
          "ext4 error count" },
        { KMSG_FS_ERROR, "Aborting journal on device ", NULL, ex_jbd2, NULL, "jbd2 abort" },
        { KMSG_FS_ERROR, "JBD2: ", "IO error", ex_jbd2, " on ", "jbd2 io error" },
        { KMSG_FS_ERROR, "XFS (", "orruption", ex_paren_device, "(", "xfs corruption" },
        { KMSG_FS_ERROR, "XFS (", "I/O error", ex_paren_device, "(", "xfs I/O error" },
        { KMSG_FS_ERROR, "XFS (", "Filesystem has been shut down", ex_paren_device, "(", "xfs shutdown" },
        { KMSG_FS_ERROR, "XFS (", "xfs_do_force_shutdown", ex_paren_device, "(", "xfs forced shutdown" },
        { KMSG_FS_ERROR, "BTRFS error (device ", NULL, ex_paren_device, NULL, "btrfs error" },
        { KMSG_FS_ERROR, "BTRFS critical (device ", NULL, ex_paren_device, NULL, "btrfs critical" },
        { KMSG_FS_ERROR, "BTRFS: error (device ", NULL, ex_paren_device, NULL, "btrfs error (old)" },
        { KMSG_FS_ERROR, "BTRFS: Transaction aborted", NULL, ex_paren_device, NULL,
          "btrfs transaction aborted" },

        /* block/blk-core.c (prefix per kernel version), fs/buffer.c, drivers/nvme/host */
        { KMSG_IO_ERROR, "blk_update_request: ", " error, dev ", ex_blk_error, NULL,
          "blk_update_request (before 5.19)" },
        { KMSG_IO_ERROR, "print_req_error: ", " error, dev ", ex_blk_error, NULL,
          "print_req_error (4.17-4.20)" },
        { KMSG_IO_ERROR, "I/O error, dev ", NULL, ex_blk_error, NULL, "blk error (5.19+)" },
        { KMSG_IO_ERROR, "critical ", " error, dev ", ex_blk_error, NULL, "blk critical error" },
        { KMSG_IO_ERROR, "timeout error, dev ", NULL, ex_blk_error, NULL, "blk timeout" },
        { KMSG_IO_ERROR, "Buffer I/O error on dev ", NULL, ex_blk_error, NULL, "buffer I/O error" },
        { KMSG_IO_ERROR, "nvme ", " timeout", ex_word_colon, NULL, "nvme timeout" },
        { KMSG_IO_ERROR, "nvme ", "controller is down", ex_word_colon, NULL, "nvme controller down" },
        { KMSG_IO_ERROR, "nvme ", "Abort status", ex_word_colon, NULL, "nvme abort" },
        { KMSG_IO_ERROR, "nvme", ": I/O Cmd(", ex_nvme_cmd, NULL, "nvme I/O error (5.19+)" },

        /* kernel/hung_task.c, kernel/watchdog.c, kernel/rcu/tree_stall.h */
        { KMSG_HUNG_TASK, "INFO: task ", " blocked for more than ", ex_hung_task, NULL, "hung task" },
        { KMSG_SOFT_LOCKUP, "watchdog: BUG: soft lockup - CPU#", NULL, ex_lockup, NULL, "soft lockup" },
        { KMSG_SOFT_LOCKUP, "NMI watchdog: BUG: soft lockup - CPU#", NULL, ex_lockup, NULL,
          "soft lockup (old)" },
        { KMSG_SOFT_LOCKUP, "BUG: soft lockup - CPU#", NULL, ex_lockup, NULL, "soft lockup (older)" },
        { KMSG_SOFT_LOCKUP, "watchdog: Watchdog detected hard LOCKUP on cpu ", NULL, ex_lockup, NULL,
          "hard lockup" },
        { KMSG_SOFT_LOCKUP, "NMI watchdog: Watchdog detected hard LOCKUP on cpu ", NULL, ex_lockup, NULL,
          "hard lockup (old)" },
        { KMSG_RCU_STALL, "rcu: INFO: rcu_", " stall", ex_constant_source, "rcu", "rcu stall" },
        { KMSG_RCU_STALL, "INFO: rcu_", " stall", ex_constant_source, "rcu", "rcu stall (before 4.20)" },

        /* arch/x86/mm/fault.c, arch/x86/kernel/dumpstack.c and traps.c, lib/bug.c, kernel/panic.c */
        { KMSG_KERNEL_OOPS, "BUG: kernel NULL pointer dereference", NULL, ex_oops, NULL,
          "null deref (5.0+)" },
        { KMSG_KERNEL_OOPS, "BUG: unable to handle ", NULL, ex_oops, NULL, "page fault" },
        { KMSG_KERNEL_OOPS, "Oops: ", NULL, ex_oops, NULL, "oops" },
        { KMSG_KERNEL_OOPS, "general protection fault", NULL, ex_oops, NULL, "general protection fault" },
        { KMSG_KERNEL_OOPS, "kernel BUG at ", NULL, ex_oops, NULL, "kernel BUG" },
        { KMSG_KERNEL_OOPS, "Kernel panic - not syncing: ", NULL, ex_oops, NULL, "panic" },
        { KMSG_KERNEL_OOPS, "BUG: ", NULL, ex_oops, NULL, "BUG" },
        { KMSG_KERNEL_WARNING, "WARNING: CPU: ", " at ", ex_warning, NULL, "warning" },

        /* user-space crashes the kernel reports */
        { KMSG_SEGFAULT, "traps: ", " in ", ex_segfault, NULL, "trap" },
        { KMSG_SEGFAULT, "", "]: segfault at ", ex_segfault, NULL, "segfault" },

        /* net/sched/sch_generic.c, drivers/net/ethernet/amazon/ena */
        { KMSG_NET_ERROR, "NETDEV WATCHDOG: ", NULL, ex_netdev_watchdog, NULL, "netdev watchdog" },
        { KMSG_NET_ERROR, "ena ", "Found a Tx that wasn't completed on time", ex_pci_source, NULL,
          "ena tx timeout" },
        { KMSG_NET_ERROR, "ena ", "TX hasn't completed", ex_pci_source, NULL, "ena tx stall" },
        { KMSG_NET_ERROR, "ena ", "Keep alive watchdog timeout", ex_pci_source, NULL, "ena keep-alive" },
        { KMSG_NET_ERROR, "ena ", "Trigger reset is on", ex_pci_source, NULL, "ena reset" },
        { KMSG_NET_ERROR, "ena ", "Device reset completed successfully", ex_pci_source, NULL,
          "ena reset done" },
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
        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                const Rule *r = &rules[i];
                size_t pl = strlen(r->prefix);
                if (pl > n || (pl > 0 && (t[0] != r->prefix[0] || memcmp(t, r->prefix, pl) != 0)))
                        continue;
                Cursor c = { t + pl, t + n };
                if (r->needle) {
                        Cursor f = c;
                        if (!cur_find(&f, r->needle))
                                continue;
                }
                *ret = (KmsgMatch){ .klass = r->klass, .format = r->format };
                r->extract(t, &c, ret, r->arg);
                return r->klass;
        }
        return KMSG_NONE;
}
