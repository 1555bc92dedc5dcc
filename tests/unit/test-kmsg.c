/* test-kmsg.c — the record parser, and the classifier line by line over the fixture corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/kmsg.h"
#include "tap.h"

static const char *class_name(KmsgClass c) {
        return c == KMSG_NONE ? "none" : c == KMSG_OOM_CONTEXT ? "oom-context" : kmsg_class_to_string(c);
}

/* Whether S (N bytes) is valid UTF-8 (RFC 3629) without a control character. */
static bool clean_utf8(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *e = p + n;
        while (p < e) {
                unsigned char b = *p;
                size_t k = b < 0x80                 ? 1
                           : b >= 0xc2 && b <= 0xdf ? 2
                           : b >= 0xe0 && b <= 0xef ? 3
                           : b >= 0xf0 && b <= 0xf4 ? 4
                                                    : 0;
                if (k == 0 || (size_t) (e - p) < k || b < 0x20 || b == 0x7f)
                        return false;
                for (size_t i = 1; i < k; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f) || (b == 0xf0 && p[1] < 0x90) ||
                    (b == 0xf4 && p[1] > 0x8f))
                        return false;
                p += k;
        }
        return true;
}

static const char *parse_text(const char *record) {
        static KmsgRecord r;
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", record);
        if (kmsg_parse_record(buf, strlen(buf), &r) < 0)
                return "(not a record)";
        if (r.text_len != strlen(r.text) || !clean_utf8(r.text, r.text_len))
                TAP_FAIL("unclean text for %s", record);
        return r.text;
}

static void test_parse_record(void) {
        char buf[] = "6,339,5140900,-;NET: Registered \\x5cx protocol family 10\\x07\n SUBSYSTEM=net\n "
                     "DEVICE=n2\\x0a\\xc3\\xa9\n";
        KmsgRecord r;

        ASSERT_INT(kmsg_parse_record(buf, strlen(buf), &r), 0);
        ASSERT_INT(r.facility, 0);
        ASSERT_INT(r.level, 6);
        ASSERT_INT(r.seq, 339);
        ASSERT_INT(r.ts, 5140900);
        /* control bytes and the backslash stay escaped, as the kernel wrote them */
        ASSERT_STR(r.text, "NET: Registered \\x5cx protocol family 10\\x07");
        ASSERT_INT(r.text_len, strlen(r.text));
        ASSERT_STR(r.device, "n2\\x0a\xc3\xa9");

        char more[] = "14,1,2,c,caller=T1;user text";
        ASSERT_INT(kmsg_parse_record(more, strlen(more), &r), 0);
        ASSERT_INT(r.facility, 1);
        ASSERT_STR(r.text, "user text");
        ASSERT_TRUE(r.device == NULL);

        char empty[] = "6,2,3,-;";
        ASSERT_INT(kmsg_parse_record(empty, strlen(empty), &r), 0);
        ASSERT_INT(r.text_len, 0);

        static const char *const bad[] = { "",
                                           "6,339,5140900",
                                           "6;x",
                                           "x,1,2,-;t",
                                           "6,1,2;t",
                                           "6,1,-2,-;t",
                                           "6,1,99999999999999999999,-;t",
                                           "6,1,2,-\n;t" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char b[64];
                snprintf(b, sizeof b, "%s", bad[i]);
                if (kmsg_parse_record(b, strlen(b), &r) >= 0)
                        TAP_FAIL("accepted \"%s\"", bad[i]);
        }
}

/* The record text contract (kmsg.h): escapes kept, UTF-8 decoded, invalid bytes U+FFFD. */
static void test_text_contract(void) {
        /* an OOM victim named "x\nMAINPID=1\n": the newline stays the four characters \x0a */
        ASSERT_STR(parse_text("3,1,2,-;Out of memory: Killed process 7 (x\\x0aMAINPID=1\\x0a)"),
                   "Out of memory: Killed process 7 (x\\x0aMAINPID=1\\x0a)");
        ASSERT_STR(parse_text("6,1,2,-;a\\x1b[31mred\\x1b]0;title\\x07\\x7f\\x0D\\x00b"),
                   "a\\x1b[31mred\\x1b]0;title\\x07\\x7f\\x0d\\x00b"); /* lower-case hex, NUL does not end */
        ASSERT_STR(parse_text("6,1,2,-;caf\\xc3\\xa9 \\xe2\\x82\\xac \\xf0\\x9f\\x98\\x80"), "café € 😀");
        /* the kernel's 15-byte comm cut inside 'é': one U+FFFD, and the text goes on */
        ASSERT_STR(parse_text("6,1,2,-;abcdefghijklmn\\xc3[42]: segfault at 0"),
                   "abcdefghijklmn\xef\xbf\xbd[42]: segfault at 0");
        ASSERT_STR(parse_text("6,1,2,-;\\xc3"), "\xef\xbf\xbd");
        /* invalid UTF-8: one U+FFFD per byte (overlong, surrogate, past U+10FFFF, stray continuation) */
        ASSERT_STR(parse_text("6,1,2,-;\\xc0\\xaf|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\x80|\\xff"),
                   "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                   "\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd");
        /* a valid lead byte, then an escaped control byte: U+FFFD, then the escape */
        ASSERT_STR(parse_text("6,1,2,-;\\xe2\\x0a"), "\xef\xbf\xbd\\x0a");
        /* not from the kernel (a FIFO or file): raw bytes follow the same contract */
        ASSERT_STR(parse_text("6,1,2,-;raw\x1b[0m \xff \\ \\x4 caf\xc3\xa9\r"),
                   "raw\\x1b[0m \xef\xbf\xbd \\x5c \\x5cx4 café\\x0d");
        /* a C1 control (0xc2 0x9b is a CSI to some terminals) stays its two escapes, raw or escaped */
        ASSERT_STR(parse_text("6,1,2,-;a\\xc2\\x9b31m \\xc2\\xa0"), "a\\xc2\\x9b31m \xc2\xa0");
        ASSERT_STR(parse_text("6,1,2,-;a\xc2\x85"
                              "b"),
                   "a\\xc2\\x85b");
        /* decoded printable ASCII is just itself */
        ASSERT_STR(parse_text("6,1,2,-;\\x41\\x42"), "AB");

        /* a fixed buffer is cut at a character boundary, never inside a sequence or an escape */
        char out[8];
        ASSERT_INT(kmsg_text_decode("ab\\xc3\\xa9\\xc3\\xa9", 18, out, 5), 4);
        ASSERT_STR(out, "ab\xc3\xa9");
        ASSERT_INT(kmsg_text_decode("abcd\\x0a", 8, out, 7), 4);
        ASSERT_STR(out, "abcd");
        ASSERT_INT(kmsg_text_decode("x", 1, out, 1), 0);

        /* any bytes: always valid UTF-8 without a control character */
        static const char alphabet[] =
                "\\\\\\xx0a1bcCfF89e\xc3\xa9\xe2\x82\xac\xf0\x9f\xed\xa0\x80\xff\x1b\x7f ;,";
        uint32_t seed = 12345;
        for (int i = 0; i < 20000; i++) {
                char in[64], text[256];
                size_t n = 0, len = (seed >> 8) % sizeof in;
                for (; n < len; n++) {
                        seed = seed * 1103515245u + 12345u;
                        in[n] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
                }
                size_t got = kmsg_text_decode(in, n, text, sizeof text);
                if (got != strlen(text) || !clean_utf8(text, got))
                        TAP_FAIL("unclean decoding of %.*s", (int) n, in);
        }
}

/* Records this machine's kernel really wrote for a program run as nobody under hostile names
 * (fixtures/kmsg/user-crashes.txt, captured by tests/integration/test_hostile_kmsg.py): clean
 * text, the control bytes still escaped, the cut 'é' one U+FFFD, and every one a segfault. */
static void test_captured_user_crashes(void) {
        char path[512], *line = NULL;
        size_t cap = 0, n = 0;
        ssize_t len;
        FILE *f;

        snprintf(path, sizeof path, "%s/kmsg/user-crashes.txt", FIXTURES);
        ASSERT_TRUE((f = fopen(path, "re")) != NULL);
        while ((len = getline(&line, &cap, f)) > 0) {
                static KmsgRecord r;
                KmsgMatch m = {};
                if (line[0] == '#')
                        continue;
                ASSERT_INT(kmsg_parse_record(line, (size_t) len, &r), 0);
                if (!clean_utf8(r.text, r.text_len) || r.text_len != strlen(r.text))
                        TAP_FAIL("unclean text: %s", r.text);
                if (kmsg_classify(&r, &m) != KMSG_SEGFAULT)
                        TAP_FAIL("not a segfault: %s", r.text);
                if (strstr(r.text, "MAINPID"))
                        ASSERT_TRUE(strncmp(r.text, "x\\x0aMAINPID=1\\x0aabc[", 22) == 0);
                if (strstr(r.text, "red"))
                        ASSERT_TRUE(strncmp(r.text, "\\x1b[31mred\\x1b]0;t\\x07z[", 24) == 0);
                if (strncmp(r.text, "aaaa", 4) == 0) { /* 14 bytes and the first of 'é': comm's cut */
                        ASSERT_TRUE(strncmp(r.text, "aaaaaaaaaaaaaa\xef\xbf\xbd[", 18) == 0);
                        ASSERT_TRUE(strstr(r.text, " in aaaaaaaaaaaaaa\xc3\xa9-") !=
                                    NULL); /* the file name: whole */
                }
                n++;
        }
        free(line);
        fclose(f);
        ASSERT_INT(n, 9);
}

static void test_corpus(void) {
        char path[512], *line = NULL;
        size_t cap = 0, n = 0, classes_seen = 0;
        bool seen[_KMSG_CLASS_MAX] = {};
        FILE *f;

        snprintf(path, sizeof path, "%s/kmsg/corpus.txt", FIXTURES);
        ASSERT_TRUE((f = fopen(path, "re")) != NULL);
        while (getline(&line, &cap, f) > 0) {
                char *cls, *src, *rec, *nl = strchr(line, '\n');
                KmsgRecord r;
                KmsgMatch m = {};
                if (nl)
                        *nl = 0;
                if (line[0] == '#' || line[0] == 0)
                        continue;
                cls = line;
                src = strstr(cls, " | ");
                ASSERT_TRUE(src != NULL);
                *src = 0;
                src += 3;
                rec = strstr(src, " | ");
                ASSERT_TRUE(rec != NULL);
                *rec = 0;
                rec += 3;
                char *sp = src + strlen(src);
                while (sp > src && sp[-1] == ' ')
                        *--sp = 0;
                while (*src == ' ')
                        src++;
                size_t sl = strlen(src); /* "…" keeps spaces at either end */
                if (sl >= 2 && src[0] == '"' && src[sl - 1] == '"') {
                        src[sl - 1] = 0;
                        src++;
                }
                char copy[1024];
                snprintf(copy, sizeof copy, "%s", rec);
                ASSERT_INT(kmsg_parse_record(copy, strlen(copy), &r), 0);
                KmsgClass c = kmsg_classify(&r, &m);
                if (strcmp(class_name(c), cls) != 0 ||
                    (c != KMSG_NONE && c != KMSG_OOM_CONTEXT && strcmp(m.source, src) != 0))
                        TAP_FAIL("%s\n#   got %s [%s] (%s), expected %s [%s]", rec, class_name(c), m.source,
                                 m.format ? m.format : "-", cls, src);
                if (!seen[c])
                        classes_seen++;
                seen[c] = true;
                n++;
        }
        free(line);
        fclose(f);
        ASSERT_TRUE(n >= 80);
        ASSERT_INT(classes_seen, _KMSG_CLASS_MAX); /* every class, NONE and the OOM context included */
}

static KmsgClass classify(const char *rec, KmsgMatch *m) {
        static char buf[1024];
        KmsgRecord r;
        snprintf(buf, sizeof buf, "%s", rec);
        if (kmsg_parse_record(buf, strlen(buf), &r) < 0)
                abort();
        return kmsg_classify(&r, m);
}

static void test_oom_fields(void) {
        KmsgMatch m;
        ASSERT_INT(
                classify("3,1,2,-;Out of memory: Killed process 777 (Web Content (x)) total-vm:2418184kB, "
                         "anon-rss:884004kB, file-rss:7kB, shmem-rss:1024kB, UID:1000 pgtables:2712kB "
                         "oom_score_adj:-17",
                         &m),
                KMSG_OOM_KILL);
        ASSERT_INT(m.pid, 777);
        ASSERT_STR(m.process, "Web Content (x)");
        ASSERT_INT(m.total_vm_kb, 2418184);
        ASSERT_INT(m.anon_rss_kb, 884004);
        ASSERT_INT(m.file_rss_kb, 7);
        ASSERT_INT(m.shmem_rss_kb, 1024);
        ASSERT_INT(m.pgtables_kb, 2712);
        ASSERT_TRUE(m.has_uid && m.uid == 1000);
        ASSERT_TRUE(m.has_score_adj && m.oom_score_adj == -17);
        ASSERT_FALSE(m.cgroup_oom);

        ASSERT_INT(classify("3,1,2,-;Memory cgroup out of memory: Killed process 5151 (java) "
                            "total-vm:9283812kB, "
                            "anon-rss:2091012kB, file-rss:23788kB, shmem-rss:0kB, UID:0 pgtables:4788kB "
                            "oom_score_adj:0",
                            &m),
                   KMSG_OOM_KILL);
        ASSERT_TRUE(m.cgroup_oom);
        ASSERT_STR(m.process, "java");

        ASSERT_INT(classify("3,1,2,-;Killed process 2345 (mysqld) total-vm:2530304kB, anon-rss:1854940kB, "
                            "file-rss:0kB, shmem-rss:0kB",
                            &m),
                   KMSG_OOM_KILL);
        ASSERT_FALSE(m.has_uid || m.has_score_adj);

        ASSERT_INT(classify("6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/"
                            ",mems_allowed=0,"
                            "oom_memcg=/system.slice/app.service,task_memcg=/system.slice/"
                            "app.service,task=app,pid=1,uid=0",
                            &m),
                   KMSG_OOM_CONTEXT);
        ASSERT_STR(m.constraint, "CONSTRAINT_MEMCG");
        ASSERT_STR(m.cgroup, "/system.slice/app.service");
        ASSERT_STR(m.process, "app");
}

static void test_other_fields(void) {
        KmsgMatch m;
        ASSERT_INT(
                classify("3,1,2,-;I/O error, dev nvme1n1, sector 976773120 op 0x0:(READ) flags 0x80700", &m),
                KMSG_IO_ERROR);
        ASSERT_INT(m.sector, 976773120);
        ASSERT_INT(classify("3,1,2,-;INFO: task jbd2/nvme1n1-8:245 blocked for more than 120 seconds.", &m),
                   KMSG_HUNG_TASK);
        ASSERT_STR(m.process, "jbd2/nvme1n1-8");
        ASSERT_INT(m.pid, 245);
        ASSERT_INT(m.seconds, 120);
        ASSERT_INT(
                classify("0,1,2,-;watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:123]", &m),
                KMSG_SOFT_LOCKUP);
        ASSERT_INT(m.seconds, 23);
        ASSERT_STR(m.process, "kworker/3:1");
        ASSERT_INT(m.pid, 123);
        ASSERT_INT(classify("4,1,2,-;kernel BUG at mm/slub.c:4025!", &m), KMSG_KERNEL_OOPS);
        ASSERT_STR(m.where, "mm/slub.c:4025");
        ASSERT_INT(classify("6,1,2,-;nginx[1234]: segfault at 0 ip 00007f0e4b8a9b5d sp 00007ffd2c3a8f70 "
                            "error 4 in "
                            "libc-2.31.so[7f0e4b7a4000+178000]",
                            &m),
                   KMSG_SEGFAULT);
        ASSERT_INT(m.pid, 1234);
        ASSERT_STR(m.where, "libc-2.31.so");
        ASSERT_INT(classify("4,1,2,-;WARNING: CPU: 2 PID: 0 at net/sched/sch_generic.c:477 "
                            "dev_watchdog+0x21b/0x220",
                            &m),
                   KMSG_KERNEL_WARNING);
        ASSERT_STR(m.where, "net/sched/sch_generic.c:477");
}

/* RAW as the kernel writes it into a /dev/kmsg record: bytes < 0x20, >= 0x7f and '\' as \xNN. */
static void kernel_escape(const char *raw, char *out, size_t max) {
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *) raw; *p && o + 5 < max; p++)
                if (*p < 0x20 || *p >= 0x7f || *p == '\\')
                        o += (size_t) snprintf(out + o, max - o, "\\x%02x", *p);
                else
                        out[o++] = (char) *p;
        out[o] = 0;
}

/* Task names (at most 15 raw bytes) that imitate the start of every class's format, with control
 * bytes, ESC sequences, a UTF-8 character cut by the 15-byte limit; file names that imitate the
 * rest of a format. A record the kernel prints around them is a segfault (or nothing), never
 * another class: SPEC §6, issue 15 item 2. */
static void test_forged_user_names(void) {
        static const char *const comms[] = {
                "Killed process ",
                "Out of memory: ",
                "Out of memory:",
                "Memory cgroup o",
                "oom-kill:constr",
                "Task in /x kill",
                "x invoked oom-k",
                "EXT4-fs (sda1",
                "EXT4-fs error (",
                "XFS (sda): Corr",
                "XFS (sda1",
                "BTRFS error (de",
                "BTRFS ",
                "JBD2: IO error ",
                "Aborting journa",
                "I/O error, dev ",
                "critical medium",
                "timeout error, ",
                "blk_update_requ",
                "Buffer I/O erro",
                "nvme nvme0: I/O",
                "nvme0n1: I/O Cm",
                "nvme",
                "INFO: task x:1 ",
                "watchdog: BUG: ",
                "BUG: soft locku",
                "rcu: INFO: rcu_",
                "INFO: rcu_sched",
                "BUG: unable to ",
                "BUG: ",
                "Oops: 0000 [#1]",
                "kernel BUG at x",
                "general protect",
                "Kernel panic - ",
                "WARNING: CPU: 1",
                "NETDEV WATCHDOG",
                "ena 0000:00:05.",
                "traps: x[1] gen",
                "\nKilled process",
                "Killed\nprocess",
                "\x1b[2JBUG: x\r\n",
                "\x1b]0;Oops: x\x07",
                "Killed proces\xc3",
                "Killed proc\xe2\x82",
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3",
                "\\x4b\\x69\\x6c",
                "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b",
                "a[1]: segfault",
                "x[5]",
                "]: segfault at ",
                "x (12) y",
        };
        static const char *const files[] = {
                "a.out",
                "): Remounting filesystem read-only",
                " blocked for more than 120 seconds.",
                " total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
                ": I/O error, dev nvme1n1, sector 8 [#2] forced readonly Corruption",
                "\n3,1,2,-;Out of memory: Killed process 1 (x) total-vm:1kB",
        };
        /* the kernel's formats around a task name (%1$s) and a mapped file name (%2$s) */
        static const struct {
                const char *fmt;
                KmsgClass klass;
        } formats[] = {
                { "6,%%u,5,-;%s[5548]: segfault at 0 ip 0000557acfa42132 sp 00007fffedee41b0 error 6 in "
                  "%s[1132,557acfa42000+1000] likely on CPU 0 (core 0, socket 0)",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;traps: %s[5548] general protection fault ip:7f7a5c6b3d2e sp:7f7a1fffd6e0 "
                  "error:0 in %s[7f7a5b800000+1000000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;traps: %s[5548] trap divide error ip:401136 sp:7ffd0c8d1e60 error:0 in "
                  "%s[401000+1000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548] general protection ip:401136 sp:7ffd0c8d1e60 error:0 in "
                  "%s[401000+1000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548] bad frame in rt_sigreturn frame:00007ffd0c8d1e60 ip:401136 "
                  "sp:7ffd0c8d1e60 orax:ffffffffffffffff in %s[401000+1000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548]: unhandled exception: DABT (lower EL), ESR 0x92000007, level 3 "
                  "translation fault in %s[f5fd7000+1c6000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548]: unhandled signal 11 code 0x1 at 0x0000000000000000 in "
                  "%s[10000+1000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548]: segfault (11) at 0 nip 10000454 lr 7fff8c2a0c28 code 1 in "
                  "%s[10000000+10000]",
                  KMSG_SEGFAULT },
                { "6,%%u,5,-;%s[5548]: bus error (7) at 7fffa3c40000 nip 10000454 lr 7fff8c2a0c28 code 2",
                  KMSG_SEGFAULT },
                { "3,%%u,5,-;%s: unhandled page fault (11) at 0x00000000, code 0x817 (%s)", KMSG_SEGFAULT },
                { "4,%%u,5,-;%s invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, "
                  "oom_score_adj=0 (%s)",
                  KMSG_OOM_CONTEXT },
                { "4,%%u,5,-;%s (5548) used greatest stack depth: 11928 bytes left (%s)", KMSG_NONE },
                { "4,%%u,5,-;%s: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), "
                  "nodemask=(null) (%s)",
                  KMSG_NONE },
                { "6,%%u,5,-;%s[5548] vsyscall attempted with vsyscall=none ip:ffffffffff600400 cs:33 "
                  "sp:7ffd0c8d1e60 ax:ffffffffff600400 si:0 di:0 (%s)",
                  KMSG_NONE },
                { "4,%%u,5,-;%s[5548]: memfd_create() called without MFD_EXEC or MFD_NOEXEC_SEAL set (%s)",
                  KMSG_NONE },
        };
        unsigned seq = 1;

        for (size_t f = 0; f < ELEMENTSOF(formats); f++)
                for (size_t i = 0; i < ELEMENTSOF(comms); i++)
                        for (size_t j = 0; j < ELEMENTSOF(files); j++) {
                                char comm[128], file[512], fmt[1024], rec[2048];
                                KmsgRecord r;
                                KmsgMatch m;

                                ASSERT_TRUE(strlen(comms[i]) <= 15);
                                kernel_escape(comms[i], comm, sizeof comm);
                                kernel_escape(files[j], file, sizeof file);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                                snprintf(fmt, sizeof fmt, formats[f].fmt, comm, file);
                                snprintf(rec, sizeof rec, fmt, seq++);
#pragma GCC diagnostic pop
                                ASSERT_INT(kmsg_parse_record(rec, strlen(rec), &r), 0);
                                KmsgClass c = kmsg_classify(&r, &m);
                                if (c != formats[f].klass)
                                        TAP_FAIL("%s\n#   got %s (%s), expected %s", rec, class_name(c),
                                                 c ? m.format : "-", class_name(formats[f].klass));
                                if (c == KMSG_SEGFAULT && formats[f].fmt[10] != 't' && m.pid != 5548 &&
                                    strstr(formats[f].fmt, "[5548]"))
                                        TAP_FAIL("%s\n#   pid %lld", rec, (long long) m.pid);
                        }
}

/* The real record of a program named "Killed process " that segfaulted (kernel 6.18). */
static void test_forged_real_record(void) {
        KmsgMatch m;
        ASSERT_INT(classify("6,1,2,-;Killed process [5548]: segfault at 0 ip 0000557acfa42132 sp "
                            "00007fffedee41b0 error 6 in Killed process [1132,557acfa42000+1000] likely on "
                            "CPU 0 (core 0, socket 0)",
                            &m),
                   KMSG_SEGFAULT);
        ASSERT_STR(m.process, "Killed process ");
        ASSERT_INT(m.pid, 5548);
        ASSERT_STR(m.where, "Killed process ");
        ASSERT_INT(classify("6,1,2,-;traps: EXT4-fs (sda1[77] general protection fault ip:1 sp:2 error:0 in "
                            "): Remounting filesystem read-only[400000+1000]",
                            &m),
                   KMSG_SEGFAULT);
        ASSERT_STR(m.process, "EXT4-fs (sda1");
        ASSERT_INT(m.pid, 77);
        /* a name holding "[digits]" itself */
        ASSERT_INT(classify("6,1,2,-;a[1]: segfault[42]: segfault at 0 ip 1 sp 2 error 4 in a[1+2]", &m),
                   KMSG_SEGFAULT);
        ASSERT_STR(m.process, "a[1]: segfault");
        ASSERT_INT(m.pid, 42);
        /* records the kernel (6.18) wrote for programs that renamed themselves (prctl PR_SET_NAME)
         * to "EXT4-fs (sda1\x1b", "Oops: 0000 [#1]", seven and a half "é" and "\nKilled process"
         * and segfaulted as nobody */
        static const char *const real[] = {
                "6,52403,2070546028,-;EXT4-fs (sda1\\x1b[16979]: segfault at 0 ip 000056268bb4717a sp "
                "00007fffac4f90c0 error 6 in Killed process [117a,56268bb47000+1000] likely on CPU 1 (core "
                "1, socket 0)",
                "6,52405,2070573543,-;Oops: 0000 [#1][16983]: segfault at 0 ip 0000560922a1a17a sp "
                "00007ffd07ac9de0 error 6 in Killed process [117a,560922a1a000+1000] likely on CPU 1 (core "
                "1, socket 0)",
                "6,52407,2070629182,-;"
                "\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3[16989]: "
                "segfault at 0 ip 000055d69f3c317a sp 00007ffecd07bc80 error 6 in Killed process "
                "[117a,55d69f3c3000+1000] likely on CPU 1 (core 1, socket 0)",
                "6,52409,2070650771,-;\\x0aKilled process[16995]: segfault at 0 ip 00005581c626117a sp "
                "00007ffc9f09bc50 error 6 in Killed process [117a,5581c6261000+1000] likely on CPU 1 (core "
                "1, socket 0)",
        };
        static const int64_t pids[] = { 16979, 16983, 16989, 16995 };
        for (size_t i = 0; i < ELEMENTSOF(real); i++) {
                ASSERT_INT(classify(real[i], &m), KMSG_SEGFAULT);
                ASSERT_INT(m.pid, pids[i]);
                ASSERT_STR(m.where, "Killed process ");
        }
        ASSERT_INT(classify(real[1], &m), KMSG_SEGFAULT);
        ASSERT_STR(m.process, "Oops: 0000 [#1]");
        ASSERT_STR(m.source, "Oops: 0000 [#1]");
        /* a 16-byte "name" is not a task name: this is not a user crash */
        ASSERT_INT(classify("6,1,2,-;0123456789abcdef[1]: segfault at 0", &m), KMSG_NONE);
}

/* Names and paths inside kernel formats stay data: fields come from the kernel's structure. */
static void test_embedded_names(void) {
        KmsgMatch m;
        ASSERT_INT(
                classify("3,1,2,-;INFO: task x:9 blocked for:1234 blocked for more than 120 seconds.", &m),
                KMSG_HUNG_TASK);
        ASSERT_STR(m.process, "x:9 blocked for");
        ASSERT_INT(m.pid, 1234);
        ASSERT_INT(m.seconds, 120);
        ASSERT_INT(classify("3,1,2,-;Out of memory: Killed process 77 (x) total-vm:1kB) total-vm:4418184kB, "
                            "anon-rss:3884004kB, file-rss:4kB, shmem-rss:0kB, UID:1000 pgtables:7712kB "
                            "oom_score_adj:1000",
                            &m),
                   KMSG_OOM_KILL);
        ASSERT_STR(m.process, "x) total-vm:1kB");
        ASSERT_INT(m.total_vm_kb, 4418184);
        ASSERT_INT(m.anon_rss_kb, 3884004);
        ASSERT_INT(classify("6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,"
                            "mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=evil,pid=1,task=app,pid=9,uid=0",
                            &m),
                   KMSG_OOM_CONTEXT);
        ASSERT_STR(m.cgroup, "/a,task=evil,pid=1");
        ASSERT_STR(m.process, "app");
        /* "Killed process " as the task that invoked the OOM killer: context, not a kill */
        ASSERT_INT(classify("4,1,2,-;Killed process  invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_"
                            "MOVABLE), order=0, oom_score_adj=0",
                            &m),
                   KMSG_OOM_CONTEXT);
        ASSERT_STR(m.process, "Killed process ");
        /* only a die banner has a die counter: not a task named "x[#9]" */
        ASSERT_INT(classify("1,1,2,-;BUG: Bad page state in process x[#9]  pfn:1a2b3", &m),
                   KMSG_KERNEL_OOPS);
        ASSERT_STR(m.source, "");
        ASSERT_INT(classify("4,1,2,-;Oops: general protection fault, probably for non-canonical address "
                            "0xdffffc0000000000: 0000 [#12] PREEMPT SMP KASAN NOPTI",
                            &m),
                   KMSG_KERNEL_OOPS);
        ASSERT_STR(m.source, "#12");
        ASSERT_INT(classify("0,1,2,-;watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [a] [b:1:123]", &m),
                   KMSG_SOFT_LOCKUP);
        ASSERT_STR(m.process, "a] [b:1");
        ASSERT_INT(m.pid, 123);
}

/* Copies into fixed buffers end at a character boundary: never inside UTF-8 or a \xNN escape. */
static void test_cut_at_character(void) {
        KmsgMatch m;
        char rec[2048], cg[1024];
        size_t n;

        /* 3 three-byte characters */
        ASSERT_INT(classify("6,1,2,-;INFO: task \\xe2\\x82\\xac\\xe2\\x82\\xac\\xe2\\x82\\xac:1 blocked for "
                            "more than 1 seconds.",
                            &m),
                   KMSG_HUNG_TASK);
        ASSERT_STR(m.process, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");

        /* a cgroup path of 3-byte characters longer than the buffer: cut before a character */
        for (size_t off = 0; off < 3; off++) {
                n = (size_t) snprintf(cg, sizeof cg, "/%.*s", (int) off, "ab");
                for (int i = 0; i < 60; i++)
                        n += (size_t) snprintf(cg + n, sizeof cg - n, "\\xe2\\x82\\xac");
                snprintf(rec, sizeof rec,
                         "6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=%s,task=app,pid=9,uid=0",
                         cg);
                ASSERT_INT(classify(rec, &m), KMSG_OOM_CONTEXT);
                n = strlen(m.cgroup);
                ASSERT_TRUE(n > 100 && n < sizeof m.cgroup);
                ASSERT_INT((n - 1 - off) % 3, 0); /* "/", OFF letters and whole characters */
        }

        /* escapes of control bytes stay "\xNN" (TEXT-CONTRACT.md): never split, wherever the cut */
        for (size_t off = 0; off < 4; off++) {
                n = (size_t) snprintf(cg, sizeof cg, "/%.*s", (int) off, "abc");
                for (int i = 0; i < 200; i++)
                        n += (size_t) snprintf(cg + n, sizeof cg - n, "\\x1b");
                snprintf(rec, sizeof rec,
                         "6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=%s,task=a,pid=1", cg);
                ASSERT_INT(classify(rec, &m), KMSG_OOM_CONTEXT);
                n = strlen(m.cgroup);
                ASSERT_TRUE(n > 100 && n < sizeof m.cgroup);
                for (size_t i = 0; i < n; i++)
                        if (m.cgroup[i] == '\\')
                                ASSERT_TRUE(i + 4 <= n && m.cgroup[i + 1] == 'x');
        }
}

typedef struct FlushSeen {
        const char *dir;
        unsigned calls, events;
        bool cursor_had_seq; /* what the cursor file held when the flush ran */
} FlushSeen;

static void flush_count_event(Event *e, void *userdata) {
        ((FlushSeen *) userdata)->events++;
        event_free(e);
}

static void flush_check_cursor(void *userdata) {
        FlushSeen *f = userdata;
        _cleanup_json_ cJSON *j = NULL;

        f->calls++;
        f->cursor_had_seq = state_load_json(f->dir, "kmsg-cursor.json", 4096, &j) > 0 &&
                            json_get_number(j, "seq", 0) == 42;
}

static void rmdir_all(const char *d) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        if (system(cmd) != 0)
                abort();
}

/* The firings a record caused are flushed before the cursor that skips the record is saved: else a
 * crash just after the save loses them (the record is never read again). A record that made an
 * event moves the cursor on disk at once (kmsg reads no output back to learn it was handled); one
 * that made none waits for the timer or the end. */
static void test_flush_before_cursor_save(void) {
        char dir[] = "/tmp/test-kmsg-XXXXXX";
        static const char quiet[] = "6,41,4,-;random: crng init done";
        static const char record[] = "3,42,5,-;EXT4-fs error (device nvme1n1): ext4_find_entry:1455: x";
        _cleanup_(sd_event_unrefp) sd_event *loop = NULL;
        _cleanup_json_ cJSON *j = NULL;
        FlushSeen f = { .dir = dir };
        Kmsg *k = NULL;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_INT(sd_event_new(&loop), 0);
        KmsgOptions opts = { .state_dir = dir,
                             .boot_id = "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11",
                             .before_cursor_save = flush_check_cursor,
                             .before_cursor_save_userdata = &f };
        ASSERT_INT(kmsg_new(loop, &opts, &(EventSink){ flush_count_event, &f }, &k), 0);
        kmsg_feed(k, quiet, sizeof quiet - 1, true);
        ASSERT_INT(f.calls, 0); /* no event: the cursor waits for its timer */
        ASSERT_INT(state_load_json(dir, "kmsg-cursor.json", 4096, &j), 0);
        kmsg_feed(k, record, sizeof record - 1, true);
        ASSERT_INT(f.events, 1);
        ASSERT_INT(f.calls, 1);         /* an event: saved at once… */
        ASSERT_FALSE(f.cursor_had_seq); /* … after the flush */
        ASSERT_INT(state_load_json(dir, "kmsg-cursor.json", 4096, &j), 1);
        ASSERT_INT(json_get_number(j, "seq", 0), 42);
        kmsg_free(k);
        ASSERT_INT(f.calls, 1); /* nothing new to save at the end */
        rmdir_all(dir);
}

/* A restart skips what the cursor names; a cursor that does not parse is set aside, never fatal,
 * and the boot's buffer is read again from its start. */
static void test_cursor_restart_and_corrupt(void) {
        char dir[] = "/tmp/test-kmsg-XXXXXX";
        static const char boot[] = "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11";
        static const char first[] = "3,42,5,-;EXT4-fs error (device nvme1n1): ext4_find_entry:1455: x";
        static const char second[] = "3,43,6,-;EXT4-fs error (device nvme2n1): ext4_find_entry:1455: y";
        _cleanup_(sd_event_unrefp) sd_event *loop = NULL;
        _cleanup_free_ char *cursor = NULL, *aside = NULL;
        FlushSeen f = { .dir = dir };
        Kmsg *k = NULL;
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_INT(sd_event_new(&loop), 0);
        KmsgOptions opts = { .state_dir = dir, .boot_id = boot };
        ASSERT_INT(kmsg_new(loop, &opts, &(EventSink){ flush_count_event, &f }, &k), 0);
        kmsg_feed(k, first, sizeof first - 1, true);
        ASSERT_INT(f.events, 1);
        k = kmsg_free(k); /* as a SIGKILL would leave it: the event's cursor is on disk already */

        ASSERT_INT(kmsg_new(loop, &opts, &(EventSink){ flush_count_event, &f }, &k), 0);
        kmsg_feed(k, first, sizeof first - 1, true); /* the boot's buffer replayed */
        kmsg_feed(k, second, sizeof second - 1, true);
        ASSERT_INT(f.events, 2); /* the first record made nothing again */
        k = kmsg_free(k);

        cursor = path_join(dir, "kmsg-cursor.json");
        aside = path_join(dir, "kmsg-cursor.json.corrupt");
        ASSERT_INT(write_file_atomic(dir, "kmsg-cursor.json", "{\"boot_id\": \"torn", 17, 0640), 0);
        ASSERT_INT(kmsg_new(loop, &opts, &(EventSink){ flush_count_event, &f }, &k), 0);
        ASSERT_INT(stat(aside, &st), 0);
        ASSERT_INT(st.st_size, 17);
        kmsg_feed(k, second, sizeof second - 1, true); /* read again: the cursor is gone */
        ASSERT_INT(f.events, 3);
        ASSERT_INT(stat(cursor, &st), 0); /* and a good one written in its place */
        k = kmsg_free(k);

        /* another boot's cursor is not corrupt, and says nothing about this boot */
        ASSERT_INT(unlink(aside), 0);
        opts.boot_id = "1f6b4b3b7c1e4e7f9d510a0f2a8f3a11";
        ASSERT_INT(kmsg_new(loop, &opts, &(EventSink){ flush_count_event, &f }, &k), 0);
        ASSERT_TRUE(stat(aside, &st) < 0);
        kmsg_feed(k, second, sizeof second - 1, true);
        ASSERT_INT(f.events, 4);
        kmsg_free(k);
        rmdir_all(dir);
}

TAP_MAIN(T(test_parse_record), T(test_text_contract), T(test_corpus), T(test_oom_fields),
         T(test_other_fields), T(test_forged_user_names), T(test_forged_real_record), T(test_embedded_names),
         T(test_cut_at_character), T(test_captured_user_crashes), T(test_flush_before_cursor_save),
         T(test_cursor_restart_and_corrupt))
