/* test-kmsg.c — the record parser, and the classifier line by line over the fixture corpus. */
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

/* Lines of events.jsonl: only a kernel log event of this boot names a record. */
static void test_event_seq(void) {
        static const char boot[] = "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11";
        static const struct {
                const char *line;
                bool found;
                uint64_t seq;
        } cases[] = {
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"type\":\"fs-error\","
                  "\"detail\":{\"seq\":4242,\"line\":\"EXT4-fs error\"}}",
                  true, 4242 },
                { "{\"boot_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"type\":\"fs-error\",\"detail\":{"
                  "\"seq\":9}}",
                  false, 0 },
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"type\":\"spot-interruption\","
                  "\"detail\":{\"action\":\"terminate\"}}",
                  false, 0 },
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"detail\":{\"seq\":-1}}", false, 0 },
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"detail\":{\"seq\":\"7\"}}", false,
                  0 },
                { "{\"detail\":{\"seq\":7}}", false, 0 },
                /* an aggregated burst event names the last record it counted */
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"type\":\"io-error\",\"detail\":{"
                  "\"aggregated\":true,\"count\":3,\"last_seq\":5003}}",
                  true, 5003 },
                { "{\"boot_id\":\"0f6b4b3b7c1e4e7f9d510a0f2a8f3a11\",\"detail\":{\"seq\":1e300}}", false,
                  0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ cJSON *e = cJSON_Parse(cases[i].line);
                uint64_t seq = 0;
                ASSERT_TRUE(e != NULL);
                ASSERT_INT(kmsg_event_seq(e, boot, &seq), cases[i].found);
                ASSERT_INT(seq, cases[i].seq); /* not written when not found */
        }
}

TAP_MAIN(T(test_parse_record), T(test_text_contract), T(test_corpus), T(test_oom_fields),
         T(test_other_fields), T(test_event_seq))
