/* kmsg-claim.c — kernel records that begin with a task name, matched on the structure the kernel
 * prints around the name before the table (kmsg-rules.c) sees them. */
#include <string.h>

#include "kmsg-internal.h"

/* The kernel reports user-space crashes, and a few other things, as kernel records that begin
 * with the task's name ("comm": 1 to 15 bytes, any byte but NUL, TASK_COMM_LEN - 1) and often end
 * with a mapped file name: both are the user's. A program may be named "Killed process " or
 * "EXT4-fs (sda1", so these formats are matched before the table, on the structure the kernel
 * prints around the name, and such a record is a segfault or nothing: never another class. */

#define COMM_MAX_RAW 15

/* powerpc's "%s (%d) at %lx nip " after "COMM[PID]: ": a signal's name in lower case ("segfault",
 * "bus error", "trace/breakpoint trap"), its number, the address. */
static bool powerpc_signal(const char *p, const char *end) {
        const char *q = p;
        uint64_t v;
        while (q < end && q - p < 32 && ((*q >= 'a' && *q <= 'z') || *q == ' ' || *q == '/'))
                q++;
        if (q - p < 2 || q[-1] != ' ' || q >= end || *q != '(')
                return false;
        Cursor c = { q + 1, end };
        if (!cur_u64(&c, &v) || !has_at(c.p, end, ") at "))
                return false;
        c.p += 5;
        while (c.p < end && *c.p && strchr("0123456789abcdef", *c.p))
                c.p++;
        return has_at(c.p, end, " nip ");
}

/* The user-space crash formats: the text after "COMM[PID]" starts with TAIL, and what follows
 * the tail passes REST (if any). */
typedef struct UserCrash {
        const char *tail;
        const char *format;
        bool (*rest)(const char *p, const char *end);
} UserCrash;

static const UserCrash user_crashes[] = {
        /* arch/x86/mm/fault.c show_signal_msg, 2.6.32-6.x: "%s[%d]: segfault at %lx ip %px sp %px
         * error %lx" + print_vma_addr " in %s[%lx+%lx]" (6.x: "[%lx,%lx+%lx]", then " likely on CPU
         * %d (core %d, socket %d)") */
        { ": segfault at ", "segfault (x86 fault.c show_signal_msg)", NULL },
        /* arch/x86/kernel/traps.c do_trap / do_general_protection: "%s[%d] trap %s ip:%lx sp:%lx
         * error:%lx" and "%s[%d] general protection fault ip:…" under pr_fmt "traps: " (3.x+);
         * 2.6.32 has no prefix and says "general protection ip:" */
        { " trap ", "trap (x86 traps.c do_trap)", NULL },
        { " general protection ", "general protection (x86 traps.c)", NULL },
        /* arch/x86/kernel/signal.c signal_fault: "%s[%d] bad frame in %s frame:%p ip:%lx sp:%lx
         * orax:%lx" */
        { " bad frame in ", "bad frame (x86 signal.c signal_fault)", NULL },
        /* arch/arm64/kernel/traps.c arm64_show_signal (4.18+): "%s[%d]: unhandled exception: …";
         * arch/arm64/mm/fault.c (before 4.18): "%s[%d]: unhandled %s (%d) at 0x%08lx, esr 0x%03x";
         * arch/riscv/kernel/traps.c do_trap: "%s[%d]: unhandled signal %d code 0x%x at 0x…";
         * arch/powerpc/kernel/traps.c (before 4.17): "%s[%d]: unhandled signal %d at %lx nip …" */
        { ": unhandled ", "unhandled (arm64/riscv/powerpc traps.c)", NULL },
        /* arch/powerpc/kernel/traps.c show_signal_msg (4.17+): "%s[%d]: %s (%d) at %lx nip %lx lr %lx
         * code %x" with the signal's name: "segfault", "bus error", "illegal instruction", … */
        { ": ", "signal (powerpc traps.c show_signal_msg, 4.17+)", powerpc_signal },
};

static void user_crash_fields(const char *t, const char *comm_end, uint64_t pid, const char *after,
                              const char *end, KmsgMatch *m) {
        copy_span(t, (size_t) (comm_end - t), m->process, sizeof m->process);
        m->pid = (int64_t) pid;
        Cursor d = { after, end };
        if (cur_find(&d, " in "))
                cur_word(&d, "[", m->where, sizeof m->where);
        copy_span(m->process, strlen(m->process), m->source, sizeof m->source);
}

/* "[PID]" at P: returns the text after ']' with *PID, or NULL. */
static const char *bracket_pid(const char *p, const char *end, uint64_t *pid) {
        Cursor c = { p + 1, end };
        if (!cur_u64(&c, pid) || c.p - p > 11 || c.p >= end || *c.p != ']')
                return NULL;
        return c.p + 1;
}

/* Claims a record that begins at T with a task name at S (T or after "traps: "): returns true with *RET
 * set (KMSG_SEGFAULT, KMSG_OOM_CONTEXT or KMSG_NONE), or false when the record is not one. One
 * pass over the first 15 raw bytes: at every character that could end the name, the kernel's
 * text that follows a name is tried. A name may hold '[', digits, ' ' and ':' itself, so the
 * first place where the whole structure holds wins; no name can hold the structure entire. */
static bool claim_from(const char *t, const char *s, const char *end, KmsgMatch *m, KmsgClass *ret,
                       bool *other_ret) {
        const char *after;
        bool other = false;
        uint64_t pid;
        size_t raw = 0;

        for (const char *p = s; p < end && raw <= COMM_MAX_RAW; raw++) {
                if (p > s) /* S..P is a possible name of RAW bytes */
                        switch (*p) {
                        case '[':
                                if (!(after = bracket_pid(p, end, &pid)))
                                        break;
                                for (size_t i = 0; i < ELEMENTSOF(user_crashes); i++)
                                        if (has_at(after, end, user_crashes[i].tail) &&
                                            (!user_crashes[i].rest ||
                                             user_crashes[i].rest(after + strlen(user_crashes[i].tail),
                                                                  end))) {
                                                *m = (KmsgMatch){ .klass = KMSG_SEGFAULT,
                                                                  .format = user_crashes[i].format };
                                                user_crash_fields(s, p, pid,
                                                                  after + strlen(user_crashes[i].tail), end,
                                                                  m);
                                                return (*ret = KMSG_SEGFAULT), true;
                                        }
                                /* "COMM[PID]" then anything else: vsyscall, memfd_create, … */
                                other = other || after == end || *after == ':' || *after == ' ';
                                break;
                        case ':':
                                /* arch/arm/mm/fault.c __do_user_fault: "%s: unhandled page fault (%d)
                                 * at 0x%08lx, code 0x%03x" */
                                if (has_at(p, end, ": unhandled page fault (")) {
                                        *m = (KmsgMatch){ .klass = KMSG_SEGFAULT,
                                                          .format = "unhandled page fault (arm fault.c)" };
                                        copy_span(s, (size_t) (p - s), m->process, sizeof m->process);
                                        copy_span(m->process, strlen(m->process), m->source,
                                                  sizeof m->source);
                                        return (*ret = KMSG_SEGFAULT), true;
                                }
                                /* mm/page_alloc.c warn_alloc: "%s: page allocation failure…",
                                 * "%s: vmalloc…" */
                                other = other || has_at(p, end, ": page allocation failure") ||
                                        has_at(p, end, ": vmalloc");
                                break;
                        case ' ':
                                /* mm/oom_kill.c dump_header: "%s invoked oom-killer: gfp_mask=…" */
                                if (s == t && has_at(p, end, " invoked oom-killer: ")) {
                                        *m = (KmsgMatch){ .klass = KMSG_OOM_CONTEXT,
                                                          .format = "oom invoked" };
                                        copy_span(t, (size_t) (p - t), m->process, sizeof m->process);
                                        return (*ret = KMSG_OOM_CONTEXT), true;
                                }
                                /* "%s (%d)…": kernel/exit.c stack depth, fs/drop_caches.c, arm's
                                 * "undefined instruction", … */
                                if (p + 1 < end && p[1] == '(') {
                                        Cursor c = { p + 2, end };
                                        other = other ||
                                                (cur_u64(&c, &pid) && c.p < end && *c.p == ')' &&
                                                 (c.p + 1 == end || c.p[1] == ':' || c.p[1] == ' '));
                                }
                                break;
                        }
                /* the next character: "\xNN" is one raw byte, U+FFFD at least one */
                if (*p == '\\' && end - p > 3 && p[1] == 'x')
                        p += 4;
                else if ((unsigned char) *p == 0xef && end - p > 2 && (unsigned char) p[1] == 0xbf &&
                         (unsigned char) p[2] == 0xbd)
                        p += 3;
                else
                        p++;
        }
        *other_ret = *other_ret || other;
        return false;
}

bool kmsg_claim_user(const char *t, const char *end, KmsgMatch *m, KmsgClass *ret) {
        bool other = has_at(t, end, "traps: "); /* x86 traps.c, with no trap it prints: nothing */
        if ((other && claim_from(t, t + 7, end, m, ret, &other)) || claim_from(t, t, end, m, ret, &other))
                return true;
        if (other)
                return (*ret = KMSG_NONE), true;
        return false;
}
