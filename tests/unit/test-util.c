/* test-util.c — time, duration and number parsing, bounded buffers and files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "ec2agent/json.h"
#include "ec2agent/utf8.h"
#include "ec2agent/util.h"
#include "tap.h"

static void test_rfc3339_roundtrip(void) {
        char buf[RFC3339_MAX];
        usec_t t;

        ASSERT_INT(parse_rfc3339("2026-11-23T10:02:00Z", &t), 0);
        ASSERT_INT(t, 1795428120ULL * USEC_PER_SEC);
        ASSERT_STR(format_rfc3339(buf, t), "2026-11-23T10:02:00Z");
        ASSERT_INT(parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
        ASSERT_INT(t, 0);
        ASSERT_STR(format_rfc3339(buf, 0), "");
}

static void test_rfc3339_forms(void) {
        usec_t t, base;

        ASSERT_INT(parse_rfc3339("2024-02-29T23:59:59Z", &base), 0);
        ASSERT_INT(parse_rfc3339("2024-02-29T23:59:59.250Z", &t), 0);
        ASSERT_INT(t - base, 250 * USEC_PER_MSEC);
        ASSERT_INT(parse_rfc3339("2024-03-01T01:59:59+02:00", &t), 0);
        ASSERT_INT(t, base);
        ASSERT_INT(parse_rfc3339("2024-02-29 20:59:59-03:00", &t), 0);
        ASSERT_INT(t, base);
        /* IMDS spot/instance-action uses this form */
        ASSERT_INT(parse_rfc3339("2017-09-18T08:22:00Z", &t), 0);
}

static void test_rfc3339_invalid(void) {
        static const char *const bad[] = {
                "",
                "2026",
                "2026-11-23",
                "2026-11-23T10:02:00",
                "2026-13-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-11-23T24:00:00Z",
                "2026-11-23T10:02:00Zjunk",
                "2026-11-23T10:02:00.Z",
                "1969-12-31T23:59:59Z",
                "2026-11-23T10:02:00+2:00",
                "２０２６-11-23T10:02:00Z",
                /* past 9999-12-31T23:59:59Z (issue 15 item 16): no RFC 3339 form */
                "9999-12-31T23:59:59-00:01",
                "9999-12-31T23:59:60Z",
                "9999-12-31T20:00:00-23:59",
                "2026-02-29T00:00:00Z",
                "2100-02-29T00:00:00Z",
        };
        usec_t t = 42;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                if (parse_rfc3339(bad[i], &t) != -EINVAL)
                        TAP_FAIL("accepted \"%s\"", bad[i]);
                ASSERT_INT(t, 42);
        }
}

static void test_rfc3339_bounds(void) {
        char buf[RFC3339_MAX];
        usec_t t;

        ASSERT_INT(parse_rfc3339("9999-12-31T23:59:59Z", &t), 0);
        ASSERT_INT(t, 253402300799ULL * USEC_PER_SEC);
        ASSERT_STR(format_rfc3339(buf, t), "9999-12-31T23:59:59Z");
        ASSERT_INT(parse_rfc3339("9999-12-31T23:59:59.999999Z", &t), 0);
        ASSERT_INT(t, RFC3339_MAX_USEC);
        ASSERT_INT(parse_rfc3339("9999-12-31T23:59:59+01:00", &t), 0);
        ASSERT_INT(parse_rfc3339("2000-02-29T00:00:00Z", &t), 0);
        /* a time past year 9999 is never written as a non-RFC 3339 "10000-…" */
        ASSERT_STR(format_rfc3339(buf, RFC3339_MAX_USEC + 1), "");
        ASSERT_STR(format_rfc3339(buf, 253402300800ULL * USEC_PER_SEC), "");
        ASSERT_STR(format_rfc3339(buf, UINT64_MAX), "");
}

static void test_url_redact(void) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "http://169.254.169.254", "http://169.254.169.254" },
                { "http://169.254.169.254/", "http://169.254.169.254/" },
                { "http://[fd00:ec2::254]:80", "http://[fd00:ec2::254]:80" },
                { "http://u:p@[::1]:8080/latest?x", "http://***@[::1]:8080/***" },
                { "https://[2001:db8::1]/", "https://[2001:db8::1]/" },
                { "http://user:pass@127.0.0.1:8080", "http://***@127.0.0.1:8080" },
                { "https://u:p@ss@hooks.example.com/T0/B0/x?k=1#f", "https://***@hooks.example.com/***" },
                { "https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/***" },
                { "https://h.example?token=1", "https://h.example/***" },
                { "user@host", "***@host" },
                { "host/a@b", "host/***" },
                { "", "" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *r = url_redact(cases[i].in);
                ASSERT_STR(r, cases[i].out);
        }
        ASSERT_TRUE(url_redact(NULL) == NULL);
}

static void test_text_escape(void) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "plain text", "plain text" },
                { "\\x1b stays as text", "\\x1b stays as text" },
                { "a\033]0;pwned\007b", "a\\x1b]0;pwned\\x07b" },
                { "csi \033[2J", "csi \\x1b[2J" },
                { "line\nbreak\r\t", "line\\x0abreak\\x0d\\x09" },
                { "del\177", "del\\x7f" },
                { "c1 \302\233 csi", "c1 \\u009b csi" },
                { "caf\303\251 \360\237\230\200", "caf\303\251 \360\237\230\200" },
                { "cut \303", "cut \\xc3" },
                { "bad \300\257 \355\240\200", "bad \\xc0\\xaf \\xed\\xa0\\x80" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *r =
                        utf8_escape_dup(cases[i].in, strlen(cases[i].in), UTF8_ESCAPE_TERMINAL);
                ASSERT_STR(r, cases[i].out);
        }
        _cleanup_free_ char *nul = utf8_escape_dup("a\0b", 3, UTF8_ESCAPE_TERMINAL);
        ASSERT_STR(nul, "a\\x00b");
}

static void test_duration(void) {
        usec_t d;
        ASSERT_INT(parse_duration("2h", &d), 0);
        ASSERT_INT(d, 2 * USEC_PER_HOUR);
        ASSERT_INT(parse_duration("1h30m", &d), 0);
        ASSERT_INT(d, 90 * USEC_PER_MINUTE);
        ASSERT_INT(parse_duration("90", &d), 0);
        ASSERT_INT(d, 90 * USEC_PER_SEC);
        ASSERT_INT(parse_duration("1w1d", &d), 0);
        ASSERT_INT(d, 8 * USEC_PER_DAY);
        ASSERT_INT(parse_duration("", &d), -EINVAL);
        ASSERT_INT(parse_duration("h", &d), -EINVAL);
        ASSERT_INT(parse_duration("2x", &d), -EINVAL);
        ASSERT_INT(parse_duration("-2h", &d), -EINVAL);
        ASSERT_INT(parse_duration("2h5", &d), -EINVAL);
        ASSERT_INT(parse_duration("99999999999999999999w", &d), -ERANGE);
        ASSERT_INT(parse_duration("999999999999w", &d), -ERANGE);
}

static void test_parse_u64(void) {
        uint64_t v = 7;
        ASSERT_INT(parse_u64("0", 10, &v), 0);
        ASSERT_INT(v, 0);
        ASSERT_INT(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
        ASSERT_TRUE(v == UINT64_MAX);
        ASSERT_INT(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        ASSERT_INT(parse_u64("11", 10, &v), -ERANGE);
        ASSERT_INT(parse_u64(" 1", 10, &v), -EINVAL);
        ASSERT_INT(parse_u64("+1", 10, &v), -EINVAL);
        ASSERT_INT(parse_u64("", 10, &v), -EINVAL);
        ASSERT_INT(parse_u64("1a", 10, &v), -EINVAL);
        ASSERT_INT(parse_u64_n("123456", 3, 1000, &v), 0);
        ASSERT_INT(v, 123);
}

static void test_buf_bounded(void) {
        Buf b;
        buf_init(&b, 10);
        ASSERT_INT(buf_append(&b, "12345", 5), 0);
        ASSERT_INT(buf_appendf(&b, "%d", 6789), 0);
        ASSERT_STR(b.data, "123456789");
        ASSERT_INT(buf_append(&b, "ab", 2), -EFBIG);
        ASSERT_STR(b.data, "123456789");
        ASSERT_INT(buf_append(&b, "a", 1), 0);
        ASSERT_INT(b.len, 10);
        ASSERT_INT(buf_appendf(&b, "%s", "x"), -EFBIG);
        buf_reset(&b);
        ASSERT_INT(b.len, 0);
        ASSERT_STR(b.data, "");
        buf_done(&b);
        ASSERT_TRUE(b.data == NULL);
}

static void test_files(void) {
        char dir[] = "/tmp/ec2agent-test-XXXXXX";
        _cleanup_free_ char *data = NULL, *path = NULL;
        size_t len;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_INT(write_file_atomic(dir, "f", "hello", 5, 0644), 0);
        ASSERT_TRUE((path = path_join(dir, "f")) != NULL);
        ASSERT_INT(read_file_bounded(path, 100, &data, &len), 0);
        ASSERT_STR(data, "hello");
        ASSERT_INT(len, 5);
        free(TAKE_PTR(data));
        ASSERT_INT(read_file_bounded(path, 4, &data, &len), -EFBIG);
        ASSERT_TRUE(data == NULL);
        ASSERT_INT(write_file_atomic(dir, "f", "", 0, 0644), 0);
        ASSERT_INT(read_file_bounded(path, 4, &data, &len), 0);
        ASSERT_STR(data, "");
        ASSERT_INT(read_file_bounded("/nonexistent/x", 4, &data, &len), -ENOENT);
        unlink(path);
        rmdir(dir);
}

static void test_strings(void) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *p = path_join("/a/", "b");
        ASSERT_STR(p, "/a/b");
        ASSERT_TRUE(startswith("maintenance:x", "maintenance:"));
        ASSERT_FALSE(startswith("main", "maintenance:"));
        ASSERT_TRUE(endswith("x.json", ".json"));
        ASSERT_FALSE(endswith("json", ".json"));
        ASSERT_INT(strv_extend(&v, "a"), 0);
        ASSERT_INT(strv_extend(&v, "b"), 0);
        ASSERT_INT(strv_length(v), 2);
        ASSERT_STR(v[1], "b");
        ASSERT_TRUE(v[2] == NULL);
}

/* A state file is loaded, absent, or set aside as NAME.corrupt: never fatal, never silently empty. */
static void test_state_files(void) {
        char dir[] = "/tmp/test-util-state-XXXXXX";
        _cleanup_free_ char *aside = NULL;
        cJSON *j = NULL;
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_INT(state_load_json(dir, "s.json", 4096, &j), 0);
        ASSERT_TRUE(j == NULL);
        ASSERT_INT(write_file_atomic(dir, "s.json", "{\"a\":1}", 7, 0600), 0);
        ASSERT_INT(state_load_json(dir, "s.json", 4096, &j), 1);
        ASSERT_INT(json_get_number(j, "a", 0), 1);
        cJSON_Delete(j);
        for (int i = 0; i < 3; i++) {
                static const char *const bad[] = { "{\"a\":", "[1]", "{\"a\":1}{\"a\":1}{\"a\":1}" };
                ASSERT_INT(write_file_atomic(dir, "s.json", bad[i], strlen(bad[i]), 0600), 0);
                ASSERT_INT(state_load_json(dir, "s.json", i == 2 ? 8 : 4096, &j), -EBADMSG);
                ASSERT_TRUE(j == NULL);
                aside = path_join(dir, "s.json.corrupt");
                ASSERT_INT(stat(aside, &st), 0);
                ASSERT_INT(unlink(aside), 0);
                aside = mfree(aside);
                ASSERT_INT(state_load_json(dir, "s.json", 4096, &j), 0);
        }
        ASSERT_INT(rmdir(dir), 0);
}

/* The one backoff: IMDS retries (1 s doubling to 60 s), IMDS polls (the interval doubling to 10 s or
 * itself), AWS retries (the jitter's ceiling). */
static void test_backoff(void) {
        ASSERT_INT(backoff_usec(USEC_PER_SEC, 0, 60 * USEC_PER_SEC), USEC_PER_SEC);
        ASSERT_INT(backoff_usec(USEC_PER_SEC, 1, 60 * USEC_PER_SEC), 2 * USEC_PER_SEC);
        ASSERT_INT(backoff_usec(USEC_PER_SEC, 5, 60 * USEC_PER_SEC), 32 * USEC_PER_SEC);
        ASSERT_INT(backoff_usec(USEC_PER_SEC, 6, 60 * USEC_PER_SEC), 60 * USEC_PER_SEC);
        ASSERT_INT(backoff_usec(USEC_PER_SEC, UINT_MAX, 60 * USEC_PER_SEC),
                   60 * USEC_PER_SEC); /* no overflow */
        ASSERT_TRUE(backoff_usec(UINT64_MAX / 2 + 1, 3, UINT64_MAX) == UINT64_MAX);
        ASSERT_INT(backoff_usec(30 * USEC_PER_SEC, 4, 10 * USEC_PER_SEC),
                   10 * USEC_PER_SEC); /* base over cap */
        ASSERT_INT(backoff_usec(0, 10, USEC_PER_SEC), 0);
}

TAP_MAIN(T(test_backoff), T(test_rfc3339_roundtrip), T(test_rfc3339_forms), T(test_rfc3339_invalid),
         T(test_rfc3339_bounds), T(test_url_redact), T(test_text_escape), T(test_duration),
         T(test_parse_u64), T(test_buf_bounded), T(test_files), T(test_strings), T(test_state_files))
