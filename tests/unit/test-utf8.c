/* test-utf8.c — the one UTF-8 validator and the escapes by their flags, table by table. */
#include <stdint.h>

#include "ec2agent/macro.h"
#include "ec2agent/utf8.h"
#include "tap.h"

#define FFFD "\xef\xbf\xbd"

static void test_valid_len(void) {
        static const struct {
                const char *in;
                size_t len, want;
        } cases[] = {
                { "a", 1, 1 },
                { "\x00", 1, 1 }, /* controls are valid UTF-8: escaping them is the escapes' job */
                { "\x1b", 1, 1 },
                { "\x7f", 1, 1 },
                { "\\", 1, 1 },
                /* valid multi-byte, at each boundary of each length */
                { "\xc2\x80", 2, 2 },         /* U+0080, a C1 control */
                { "\xc3\xa9", 2, 2 },         /* é */
                { "\xdf\xbf", 2, 2 },         /* U+07FF */
                { "\xe0\xa0\x80", 3, 3 },     /* U+0800 */
                { "\xe2\x82\xac", 3, 3 },     /* € */
                { "\xed\x9f\xbf", 3, 3 },     /* U+D7FF, just below the surrogates */
                { "\xee\x80\x80", 3, 3 },     /* U+E000, just above */
                { "\xef\xbf\xbd", 3, 3 },     /* U+FFFD */
                { "\xef\xbf\xbf", 3, 3 },     /* U+FFFF */
                { "\xf0\x90\x80\x80", 4, 4 }, /* U+10000 */
                { "\xf0\x9f\x98\x80", 4, 4 }, /* 😀 */
                { "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF */
                { "\xc3\xa9xyz", 5, 2 },      /* only the first character */
                /* cut sequences: too few bytes left, or the next byte not a continuation */
                { "\xc3", 1, 0 },
                { "\xe2\x82", 2, 0 },
                { "\xf0\x9f\x98", 3, 0 },
                { "\xe2\x82\xac", 2, 0 }, /* LEFT says the third byte is not there */
                { "\xc3"
                  "a",
                  2, 0 },
                { "\xe2\x82"
                  "a",
                  3, 0 },
                { "\xf0\x9f\x98"
                  "a",
                  4, 0 },
                { "\xe2\xc3\xa9", 3, 0 },
                /* a lone continuation byte, and bytes that never occur */
                { "\x80", 1, 0 },
                { "\xbf", 1, 0 },
                { "\xfe", 1, 0 },
                { "\xff", 1, 0 },
                /* overlongs */
                { "\xc0\xaf", 2, 0 },         /* '/' in 2 bytes */
                { "\xc1\xbf", 2, 0 },         /* U+007F in 2 bytes */
                { "\xe0\x80\xaf", 3, 0 },     /* '/' in 3 bytes */
                { "\xe0\x9f\xbf", 3, 0 },     /* U+07FF in 3 bytes */
                { "\xf0\x80\x80\xaf", 4, 0 }, /* '/' in 4 bytes */
                { "\xf0\x8f\xbf\xbf", 4, 0 }, /* U+FFFF in 4 bytes */
                /* surrogates */
                { "\xed\xa0\x80", 3, 0 }, /* U+D800 */
                { "\xed\xaf\xbf", 3, 0 }, /* U+DBFF */
                { "\xed\xbf\xbf", 3, 0 }, /* U+DFFF */
                /* above U+10FFFF */
                { "\xf4\x90\x80\x80", 4, 0 }, /* U+110000 */
                { "\xf5\x80\x80\x80", 4, 0 },
                { "\xf7\xbf\xbf\xbf", 4, 0 },
                { "\xf8\x88\x80\x80\x80", 5, 0 }, /* the old 5-byte form */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t got = utf8_valid_len(cases[i].in, cases[i].len);
                if (got != cases[i].want)
                        TAP_FAIL("case %zu: utf8_valid_len = %zu, want %zu", i, got, cases[i].want);
        }
}

/* One input through the three ways text is escaped: to the log (journal, sd_notify, stderr,
 * events.jsonl), as kernel or /proc text (C1 controls too), and to a terminal. */
static void test_escape_flags(void) {
        static const struct {
                const char *in, *log, *c1, *terminal;
        } cases[] = {
                { "plain text", "plain text", "plain text", "plain text" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
                /* backslash is kept: an escape written by the input stays text */
                { "a\\x0ab\\", "a\\x0ab\\", "a\\x0ab\\", "a\\x0ab\\" },
                /* C0 and DEL: \xNN in every mode */
                { "a\nb\r\t\x1b[2J\x7f\x01", "a\\x0ab\\x0d\\x09\\x1b[2J\\x7f\\x01",
                  "a\\x0ab\\x0d\\x09\\x1b[2J\\x7f\\x01", "a\\x0ab\\x0d\\x09\\x1b[2J\\x7f\\x01" },
                /* C1: \xc2\xNN in the log and as kernel text, \u00NN on a terminal */
                { "\xc2\x9b"
                  "31m \xc2\x80\xc2\x9f \xc2\xa0",
                  "\\xc2\\x9b31m \\xc2\\x80\\xc2\\x9f \xc2\xa0",
                  "\\xc2\\x9b31m \\xc2\\x80\\xc2\\x9f \xc2\xa0", "\\u009b31m \\u0080\\u009f \xc2\xa0" },
                /* cut sequences: one U+FFFD (or \xNN) per byte, the next byte looked at again */
                { "ab\xc3", "ab" FFFD, "ab" FFFD, "ab\\xc3" },
                { "\xe2\x82\n", FFFD FFFD "\\x0a", FFFD FFFD "\\x0a", "\\xe2\\x82\\x0a" },
                { "\xf0\x9f\x98"
                  "a",
                  FFFD FFFD FFFD "a", FFFD FFFD FFFD "a", "\\xf0\\x9f\\x98a" },
                { "\xe2\xc3\xa9", FFFD "\xc3\xa9", FFFD "\xc3\xa9", "\\xe2\xc3\xa9" },
                /* overlong, surrogate, above U+10FFFF, never-valid bytes */
                { "\xc0\xaf", FFFD FFFD, FFFD FFFD, "\\xc0\\xaf" },
                { "\xe0\x80\xaf", FFFD FFFD FFFD, FFFD FFFD FFFD, "\\xe0\\x80\\xaf" },
                { "\xed\xa0\x80", FFFD FFFD FFFD, FFFD FFFD FFFD, "\\xed\\xa0\\x80" },
                { "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, FFFD FFFD FFFD FFFD, "\\xf4\\x90\\x80\\x80" },
                { "\xfe\xff", FFFD FFFD, FFFD FFFD, "\\xfe\\xff" },
        };
        char out[256];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = strlen(cases[i].in);
                _cleanup_free_ char *log = utf8_escape_dup(cases[i].in, len, UTF8_ESCAPE_LOG);
                _cleanup_free_ char *term = utf8_escape_dup(cases[i].in, len, UTF8_ESCAPE_TERMINAL);
                ASSERT_STR(log, cases[i].log);
                ASSERT_STR(term, cases[i].terminal);
                ASSERT_INT(utf8_escape(cases[i].in, len, UTF8_ESCAPE_C1, out, sizeof out),
                           strlen(cases[i].c1));
                ASSERT_STR(out, cases[i].c1);
                /* the NUL-terminated form: the same text, and the input itself when it is clean */
                char *buf = NULL;
                const char *s = utf8_escape_str(cases[i].in, UTF8_ESCAPE_LOG, &buf);
                ASSERT_STR(s, cases[i].log);
                ASSERT_TRUE(strcmp(cases[i].in, cases[i].log) == 0 ? s == cases[i].in && !buf : s == buf);
                free(buf);
        }
        /* an embedded NUL is a control byte */
        ASSERT_INT(utf8_escape("a\0b", 3, UTF8_ESCAPE_LOG, out, sizeof out), 6);
        ASSERT_STR(out, "a\\x00b");
        _cleanup_free_ char *nul = utf8_escape_dup("\0", 1, UTF8_ESCAPE_TERMINAL);
        ASSERT_STR(nul, "\\x00");
        /* the worst case fits the copy: 4 bytes out for each byte in */
        _cleanup_free_ char *worst = utf8_escape_dup("\x01\xc2\x9b\xff", 4, UTF8_ESCAPE_C1);
        ASSERT_STR(worst, "\\x01\\xc2\\x9b" FFFD);
        _cleanup_free_ char *empty = utf8_escape_dup("", 0, UTF8_ESCAPE_TERMINAL);
        ASSERT_STR(empty, "");
}

/* A fixed buffer is cut before a character or an escape that does not fit, never inside one. */
static void test_escape_cut(void) {
        static const struct {
                const char *in;
                unsigned flags;
                size_t size;
                const char *want;
        } cases[] = {
                { "abc", UTF8_ESCAPE_LOG, 4, "abc" },
                { "abcd", UTF8_ESCAPE_LOG, 4, "abc" },
                { "ab\xe2\x82\xac", UTF8_ESCAPE_LOG, 5, "ab" },
                { "ab\xe2\x82\xac", UTF8_ESCAPE_LOG, 6, "ab\xe2\x82\xac" },
                { "ab\x1b", UTF8_ESCAPE_LOG, 6, "ab" },
                { "ab\x1b", UTF8_ESCAPE_LOG, 7, "ab\\x1b" },
                { "a\xff", UTF8_ESCAPE_LOG, 4, "a" },
                { "a\xff", UTF8_ESCAPE_LOG, 5, "a" FFFD },
                { "a\xc2\x9b", UTF8_ESCAPE_C1, 9, "a" },
                { "a\xc2\x9b", UTF8_ESCAPE_C1, 10, "a\\xc2\\x9b" },
                { "a\xc2\x9b", UTF8_ESCAPE_TERMINAL, 7, "a" },
                { "a\xc2\x9b", UTF8_ESCAPE_TERMINAL, 8, "a\\u009b" },
                { "abc", UTF8_ESCAPE_LOG, 1, "" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char out[16];
                memset(out, 'X', sizeof out);
                ASSERT_INT(utf8_escape(cases[i].in, strlen(cases[i].in), cases[i].flags, out, cases[i].size),
                           strlen(cases[i].want));
                ASSERT_STR(out, cases[i].want);
                if (out[cases[i].size] != 'X' && cases[i].size < sizeof out)
                        TAP_FAIL("case %zu: wrote past SIZE", i);
        }
        char untouched = 'X';
        ASSERT_INT(utf8_escape("abc", 3, UTF8_ESCAPE_LOG, &untouched, 0), 0);
        ASSERT_TRUE(untouched == 'X');
}

/* Any bytes: every mode gives valid UTF-8 without a C0 or C1 control or DEL. */
static void test_escape_any_bytes(void) {
        static const unsigned flags[] = { UTF8_ESCAPE_LOG, UTF8_ESCAPE_C1, UTF8_ESCAPE_TERMINAL };
        uint32_t seed = 4242;
        for (int i = 0; i < 20000; i++) {
                char in[24];
                size_t len = (seed >> 8) % sizeof in;
                for (size_t n = 0; n < len; n++) {
                        seed = seed * 1103515245u + 12345u;
                        in[n] = (char) (seed >> 16);
                }
                for (size_t f = 0; f < ELEMENTSOF(flags); f++) {
                        _cleanup_free_ char *r = utf8_escape_dup(in, len, flags[f]);
                        const unsigned char *p = (const unsigned char *) r;
                        for (size_t k, left = strlen(r); left > 0; p += k, left -= k) {
                                k = utf8_valid_len(p, left);
                                if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f)) ||
                                    (k == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
                                        TAP_FAIL("flags %u: unclean output for %zu bytes", flags[f], len);
                                        break;
                                }
                        }
                }
        }
}

TAP_MAIN(T(test_valid_len), T(test_escape_flags), T(test_escape_cut), T(test_escape_any_bytes))
