/* test-kernel.c — taint letters and pstore summaries. */
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/kernel.h"
#include "ec2agent/utf8.h"
#include "tap.h"

static void test_taint(void) {
        char l[32];
        uint64_t t;
        kernel_taint_letters(0, l);
        ASSERT_STR(l, "");
        kernel_taint_letters((1 << 0) | (1 << 12) | (1 << 13), l);
        ASSERT_STR(l, "POE");
        kernel_taint_letters(1 << 9, l);
        ASSERT_STR(l, "W");
        ASSERT_INT(kernel_read_taint("/proc/sys/kernel/tainted", &t), 0);
        ASSERT_INT(kernel_parse_taint("12289\n", 6, &t), 0);
        ASSERT_INT(t, 12289);
        ASSERT_INT(kernel_parse_taint("", 0, &t), -EBADMSG);
        ASSERT_INT(kernel_parse_taint("\n", 1, &t), -EBADMSG);
        ASSERT_INT(kernel_parse_taint("-1\n", 3, &t), -EBADMSG);
        ASSERT_INT(kernel_parse_taint("1 2\n", 4, &t), -EBADMSG);
        ASSERT_INT(kernel_parse_taint("99999999999999999999\n", 21, &t), -EBADMSG);
}

static void summary_of(const char *name, char *out, size_t max, int *r) {
        size_t len;
        _cleanup_free_ char *text = tap_fixture(FIXTURES "/pstore", name, &len);
        *r = pstore_summarize(text, len, out, max);
}

static void test_pstore_summary(void) {
        char s[256];
        int r;
        summary_of("dmesg-efi-165395423601001", s, sizeof s, &r);
        ASSERT_INT(r, 0);
        ASSERT_STR(s, "Kernel panic - not syncing: sysrq triggered crash");
        summary_of("dmesg-ramoops-0", s, sizeof s, &r);
        ASSERT_INT(r, 0);
        ASSERT_STR(s, "BUG: kernel NULL pointer dereference, address: 0000000000000008");
        ASSERT_INT(pstore_summarize("hello\nworld\n", 12, s, sizeof s), -ENODATA);
        ASSERT_INT(pstore_summarize("Panic#2 Part3\n<6>[ 1.0] nothing else\n", 37, s, sizeof s), 0);
        ASSERT_STR(s, "Panic#2 Part3");
        /* what a process made the kernel print reaches status escaped and valid UTF-8 */
        const char *evil = "<0>[ 1.0] Kernel panic - not syncing: \x1b[2J\xd1\n";
        ASSERT_INT(pstore_summarize(evil, strlen(evil), s, sizeof s), 0);
        ASSERT_STR(s, "Kernel panic - not syncing: \\x1b[2J\xef\xbf\xbd");
}

static void test_sanitize(void) {
        static const struct {
                const char *in;
                const char *out;
        } cases[] = {
                { "plain ascii", "plain ascii" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7" },
                /* the kernel's 15-byte comm cut in the middle of a character */
                { "\xd0\xbf\xd1\x80\xd0\xbe\xd1", "\xd0\xbf\xd1\x80\xd0\xbe\xef\xbf\xbd" },
                { "a\x1b]0;title\x07"
                  "b",
                  "a\\x1b]0;title\\x07b" },
                { "x\nMAINPID=1\r\t\x7f", "x\\x0aMAINPID=1\\x0d\\x09\\x7f" },
                { "\xc2\x9b"
                  "31m",
                  "\\xc2\\x9b"
                  "31m" },                                  /* C1 CSI */
                { "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", /* overlong, surrogate, > U+10FFFF */
                  "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
                { "\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd" },
        };
        char out[128];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                utf8_escape(cases[i].in, strlen(cases[i].in), UTF8_ESCAPE_C1, out, sizeof out);
                ASSERT_STR(out, cases[i].out);
        }
        /* an embedded NUL is a control byte; a sequence that does not fit is left out whole */
        ASSERT_INT(utf8_escape("a\0b", 3, UTF8_ESCAPE_C1, out, sizeof out), 6);
        ASSERT_STR(out, "a\\x00b");
        ASSERT_INT(utf8_escape("ab\xe2\x82\xac", 5, UTF8_ESCAPE_C1, out, 5), 2);
        ASSERT_STR(out, "ab");
        ASSERT_INT(utf8_escape("ab\x1b", 3, UTF8_ESCAPE_C1, out, 6), 2);
        ASSERT_INT(utf8_escape("abc", 3, UTF8_ESCAPE_C1, out, 1), 0);
        ASSERT_STR(out, "");
}

static size_t n_emitted;
static void count_event(Event *e, void *userdata) {
        (void) userdata;
        n_emitted++;
        event_free(e);
}

static void test_pstore_seen(void) {
        char dir[] = "/tmp/ec2agent-pstore-XXXXXX", state[128], path[160];
        cJSON *seen = NULL;
        char *summary = NULL;
        size_t len;

        ASSERT_INT(pstore_seen_parse("{\"seen\":[\"a:1:2\",\"b:3:4\"]}", 29, &seen), 0);
        ASSERT_INT(cJSON_GetArraySize(seen), 2);
        cJSON_Delete(seen);
        ASSERT_INT(pstore_seen_parse("[\"a:1:2\"]", 9, &seen), 0); /* the format before 2026-12 */
        ASSERT_INT(cJSON_GetArraySize(seen), 1);
        cJSON_Delete(seen);
        ASSERT_INT(pstore_seen_parse("{\"seen\":[1]}", 12, &seen), -EBADMSG);
        ASSERT_INT(pstore_seen_parse("[\"a:1:2\"", 8, &seen), -EBADMSG);
        ASSERT_INT(pstore_seen_parse("{}", 2, &seen), -EBADMSG);

        /* a torn pstore-seen.json: set aside, the records reported again, a new one written */
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(state, sizeof state, "%s/state", dir);
        ASSERT_INT(mkdir(state, 0700), 0);
        _cleanup_free_ char *rec = tap_fixture(FIXTURES "/pstore", "dmesg-ramoops-0", &len);
        ASSERT_INT(write_file_atomic(dir, "dmesg-ramoops-0", rec, len, 0644), 0);
        ASSERT_INT(pstore_scan(dir, NULL, state, &(EventSink){ count_event, NULL }, &summary), 1);
        summary = mfree(summary);
        ASSERT_INT(pstore_scan(dir, NULL, state, &(EventSink){ count_event, NULL }, &summary), 0);
        ASSERT_INT(write_file_atomic(state, "pstore-seen.json", "{\"seen\":[\"dmesg", 15, 0640), 0);
        ASSERT_INT(pstore_scan(dir, NULL, state, &(EventSink){ count_event, NULL }, &summary), 1);
        summary = mfree(summary);
        ASSERT_INT(n_emitted, 2);
        snprintf(path, sizeof path, "%s/pstore-seen.json.corrupt", state);
        ASSERT_INT(access(path, F_OK), 0);
        ASSERT_INT(pstore_scan(dir, NULL, state, &(EventSink){ count_event, NULL }, &summary), 0);

        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ASSERT_INT(system(cmd), 0);
}

TAP_MAIN(T(test_taint), T(test_pstore_summary), T(test_sanitize), T(test_pstore_seen))
