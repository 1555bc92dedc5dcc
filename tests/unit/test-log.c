/* test-log.c — utf8_escape_str(), the one guard of every value sent to sd_notify, the journal, stderr
 * and events.jsonl; and events.jsonl lines made clean by it. */
#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "ec2agent/utf8.h"
#include "tap.h"

static const char *escaped(const char *s) {
        static char out[512];
        _cleanup_free_ char *buf = NULL;
        const char *r = utf8_escape_str(s, UTF8_ESCAPE_LOG, &buf);
        if (!r)
                abort();
        if (r != s && r != buf)
                TAP_FAIL("neither the input nor the copy");
        snprintf(out, sizeof out, "%s", r);
        return out;
}

static void test_escape(void) {
        static const char clean[] = "OOM kill of x\\x0aMAINPID=1\\x0a (pid 7): café € 😀";
        char *buf = NULL;

        /* clean text (kernel record text is) is the same pointer, no copy */
        ASSERT_TRUE(utf8_escape_str(clean, UTF8_ESCAPE_LOG, &buf) == clean);
        ASSERT_TRUE(buf == NULL);
        ASSERT_STR(escaped(""), "");

        /* CR, LF and every other control byte: \xNN, so nothing starts a line of its own */
        ASSERT_STR(escaped("x\nMAINPID=1\nWATCHDOG=trigger\r\nSTOPPING=1"),
                   "x\\x0aMAINPID=1\\x0aWATCHDOG=trigger\\x0d\\x0aSTOPPING=1");
        ASSERT_STR(escaped("\x1b[31mred\x1b]0;title\x07\x7f\t"), "\\x1b[31mred\\x1b]0;title\\x07\\x7f\\x09");
        /* invalid UTF-8: U+FFFD per byte; valid sequences kept */
        ASSERT_STR(escaped("abcdefghijklmn\xc3"), "abcdefghijklmn\xef\xbf\xbd");
        ASSERT_STR(escaped("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xc3\xa9"),
                   "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd é");
        ASSERT_STR(escaped("\xe2\x82\n"), "\xef\xbf\xbd\xef\xbf\xbd\\x0a");
        /* idempotent: escaping escaped text changes nothing */
        char once[64];
        snprintf(once, sizeof once, "%s", escaped("a\n\xff"));
        ASSERT_STR(escaped(once), "a\\x0a\xef\xbf\xbd");
}

static void test_event_line_is_clean(void) {
        _cleanup_(event_freep) Event *e =
                event_new("oom-kill", "OOM kill of %s", "x\nMAINPID=1\n\x1b[2J\xc3");
        _cleanup_free_ char *line = NULL;
        ASSERT_TRUE(e != NULL);
        cJSON *nested = cJSON_AddObjectToObject(e->detail, "imds");
        cJSON_AddStringToObject(nested, "description", "line one\r\nline two \xff");
        cJSON *arr = cJSON_AddArrayToObject(e->detail, "list");
        cJSON_AddItemToArray(arr, cJSON_CreateString("\x07"));
        ASSERT_TRUE((line = event_to_json_line(e, "b00t")) != NULL);

        for (const unsigned char *p = (const unsigned char *) line; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        TAP_FAIL("raw control byte 0x%02x in %s", *p, line);
        /* and what a reader decodes holds none either (no \u000a from cJSON) */
        ASSERT_TRUE(strstr(line, "\\u00") == NULL);
        _cleanup_json_ cJSON *o = cJSON_Parse(line);
        ASSERT_STR(json_get_string(o, "summary"), "OOM kill of x\\x0aMAINPID=1\\x0a\\x1b[2J\xef\xbf\xbd");
        ASSERT_STR(json_get_string(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "detail"), "imds"),
                                   "description"),
                   "line one\\x0d\\x0aline two \xef\xbf\xbd");
        ASSERT_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "detail"), "list"), 0)
                           ->valuestring,
                   "\\x07");
        /* the event itself is not changed */
        ASSERT_STR(e->summary, "OOM kill of x\nMAINPID=1\n\x1b[2J\xc3");
}

TAP_MAIN(T(test_escape), T(test_event_line_is_clean))
