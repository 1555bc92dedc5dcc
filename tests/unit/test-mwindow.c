/* test-mwindow.c — maintenance windows: parsing, and the next opening before a deadline (a table). */
#include <errno.h>

#include "ec2agent/mwindow.h"
#include "tap.h"

static usec_t at(const char *s) {
        usec_t t = 0;
        if (parse_rfc3339(s, &t) < 0)
                TAP_FAIL("bad time in the test: %s", s);
        return t;
}

static MWindow window(const char *const *days, const char *start, const char *end, const char *offset) {
        MWindow w = {};
        unsigned d;
        for (; days && *days; days++) {
                if (mwindow_parse_day(*days, &d) < 0)
                        TAP_FAIL("bad day %s", *days);
                w.days |= 1u << d;
        }
        if (mwindow_parse_time(start, false, &w.start_min) < 0 ||
            mwindow_parse_time(end, true, &w.end_min) < 0 || mwindow_parse_offset(offset, &w.offset_min) < 0)
                TAP_FAIL("bad window %s-%s %s", start, end, offset);
        return w;
}

#define DAYS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* 2026-12-07 is a Monday. */
static void test_next_table(void) {
        const struct {
                const char *what;
                const char *const *days;
                const char *start, *end, *offset, *now, *deadline; /* deadline NULL: none */
                int ret;
                const char *expect;
        } cases[] = {
                { "later in the week", DAYS("sun"), "02:00", "05:00", "+00:00", "2026-12-07T08:00:00Z",
                  "2026-12-20T00:00:00Z", 0, "2026-12-13T02:00:00Z" },
                { "first of two days", DAYS("sat", "sun"), "02:00", "05:00", "+00:00",
                  "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z", 0, "2026-12-12T02:00:00Z" },
                { "today, later", DAYS("mon"), "22:00", "02:00", "+00:00", "2026-12-07T08:00:00Z",
                  "2026-12-20T00:00:00Z", 0, "2026-12-07T22:00:00Z" },
                { "today's is over: next week", DAYS("mon"), "02:00", "05:00", "+00:00",
                  "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z", 0, "2026-12-14T02:00:00Z" },
                { "inside an opening: the next one", DAYS("mon"), "06:00", "10:00", "Z",
                  "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z", 0, "2026-12-14T06:00:00Z" },
                { "exactly at the start: the next one", DAYS("sun"), "02:00", "05:00", "+00:00",
                  "2026-12-13T02:00:00Z", "2026-12-31T00:00:00Z", 0, "2026-12-20T02:00:00Z" },
                { "offset east: the UTC day before", DAYS("sun"), "02:00", "05:00", "+05:30",
                  "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z", 0, "2026-12-12T20:30:00Z" },
                { "offset west", DAYS("sun"), "02:00", "05:00", "-08:00", "2026-12-07T08:00:00Z",
                  "2026-12-20T00:00:00Z", 0, "2026-12-13T10:00:00Z" },
                { "offset west: still Sunday locally", DAYS("sun"), "22:00", "01:00", "-08:00",
                  "2026-12-07T03:00:00Z", "2026-12-20T00:00:00Z", 0, "2026-12-07T06:00:00Z" },
                { "offset +14:00", DAYS("sat"), "01:00", "03:00", "+14:00", "2026-12-07T08:00:00Z",
                  "2026-12-20T00:00:00Z", 0, "2026-12-11T11:00:00Z" },
                { "every day at midnight", DAYS("sun", "mon", "tue", "wed", "thu", "fri", "sat"), "00:00",
                  "24:00", "+00:00", "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z", 0,
                  "2026-12-08T00:00:00Z" },
                { "deadline exactly at the start", DAYS("sun"), "02:00", "05:00", "+00:00",
                  "2026-12-07T08:00:00Z", "2026-12-13T02:00:00Z", 0, "2026-12-13T02:00:00Z" },
                { "deadline before every window", DAYS("sun"), "02:00", "05:00", "+00:00",
                  "2026-12-07T08:00:00Z", "2026-12-12T23:00:00Z", -ERANGE, NULL },
                { "deadline one second before the start", DAYS("sun"), "02:00", "05:00", "+00:00",
                  "2026-12-07T08:00:00Z", "2026-12-13T01:59:59Z", -ERANGE, NULL },
                { "deadline already past", DAYS("sun"), "02:00", "05:00", "+00:00", "2026-12-07T08:00:00Z",
                  "2026-12-01T00:00:00Z", -ERANGE, NULL },
                { "no deadline", DAYS("sun"), "02:00", "05:00", "+00:00", "2026-12-07T08:00:00Z", NULL,
                  -ENODATA, NULL },
                { "no day", NULL, "02:00", "05:00", "+00:00", "2026-12-07T08:00:00Z", "2026-12-20T00:00:00Z",
                  -EINVAL, NULL },
                { "across a year", DAYS("fri"), "23:30", "01:30", "+00:00", "2026-12-31T23:45:00Z",
                  "2027-01-31T00:00:00Z", 0, "2027-01-01T23:30:00Z" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                MWindow w = window(cases[i].days, cases[i].start, cases[i].end, cases[i].offset);
                usec_t got = 12345;
                char reason[MWINDOW_REASON_MAX] = "", buf[RFC3339_MAX];
                int r = mwindow_next(&w, at(cases[i].now), cases[i].deadline ? at(cases[i].deadline) : 0,
                                     &got, reason);
                printf("# %s: %d %s\n", cases[i].what, r, r == 0 ? format_rfc3339(buf, got) : reason);
                ASSERT_INT(r, cases[i].ret);
                if (r == 0)
                        ASSERT_STR(format_rfc3339(buf, got), cases[i].expect);
                else {
                        ASSERT_INT(got, 12345); /* never written on failure */
                        ASSERT_TRUE(reason[0]);
                }
        }
}

static void test_reasons(void) {
        MWindow w = window(DAYS("sun"), "02:00", "05:00", "+00:00");
        char reason[MWINDOW_REASON_MAX];
        usec_t t;

        ASSERT_INT(mwindow_next(&w, at("2026-12-07T08:00:00Z"), 0, &t, reason), -ENODATA);
        ASSERT_STR(reason, "the event has no deadline (NotBeforeDeadline): AWS does not let it move");
        ASSERT_INT(mwindow_next(&w, at("2026-12-07T08:00:00Z"), at("2026-12-10T00:00:00Z"), &t, reason),
                   -ERANGE);
        ASSERT_STR(reason, "no maintenance window starts before its deadline 2026-12-10T00:00:00Z");
        ASSERT_INT(mwindow_next(&w, at("2026-12-07T08:00:00Z"), 0, &t, NULL), -ENODATA);
}

static void test_contains(void) {
        MWindow w = window(DAYS("sat"), "22:00", "02:00", "+01:00"); /* crosses midnight */

        ASSERT_FALSE(mwindow_contains(&w, at("2026-12-12T20:59:59Z")));
        ASSERT_TRUE(mwindow_contains(&w, at("2026-12-12T21:00:00Z")));  /* Sat 22:00 local */
        ASSERT_TRUE(mwindow_contains(&w, at("2026-12-13T00:30:00Z")));  /* Sun 01:30 local */
        ASSERT_FALSE(mwindow_contains(&w, at("2026-12-13T01:00:00Z"))); /* Sun 02:00: closed */
        ASSERT_FALSE(mwindow_contains(&w, at("2026-12-13T21:30:00Z"))); /* Sunday: not a Saturday */
        ASSERT_FALSE(mwindow_contains(&w, at("2026-12-11T21:30:00Z"))); /* Friday */

        MWindow d = window(DAYS("mon"), "00:00", "24:00", "Z");
        ASSERT_TRUE(mwindow_contains(&d, at("2026-12-07T00:00:00Z")));
        ASSERT_TRUE(mwindow_contains(&d, at("2026-12-07T23:59:59Z")));
        ASSERT_FALSE(mwindow_contains(&d, at("2026-12-08T00:00:00Z")));
}

static void test_parse(void) {
        unsigned u;
        int o;

        ASSERT_INT(mwindow_parse_day("sun", &u), 0);
        ASSERT_INT(u, 0);
        ASSERT_INT(mwindow_parse_day("Saturday", &u), 0);
        ASSERT_INT(u, 6);
        ASSERT_INT(mwindow_parse_day("WED", &u), 0);
        ASSERT_INT(u, 3);
        ASSERT_INT(mwindow_parse_day("su", &u), -EINVAL);
        ASSERT_INT(mwindow_parse_day("", &u), -EINVAL);

        ASSERT_INT(mwindow_parse_time("02:00", false, &u), 0);
        ASSERT_INT(u, 120);
        ASSERT_INT(mwindow_parse_time("23:59", false, &u), 0);
        ASSERT_INT(u, 1439);
        ASSERT_INT(mwindow_parse_time("24:00", true, &u), 0);
        ASSERT_INT(u, 1440);
        static const char *const bad_times[] = { "24:00",    "2:00", "02:60", "02-00",
                                                 "02:00:00", "",     "ab:cd", "-1:00" };
        for (size_t i = 0; i < ELEMENTSOF(bad_times); i++)
                ASSERT_INT(mwindow_parse_time(bad_times[i], false, &u), -EINVAL);
        ASSERT_INT(mwindow_parse_time("24:01", true, &u), -EINVAL);

        ASSERT_INT(mwindow_parse_offset("+00:00", &o), 0);
        ASSERT_INT(o, 0);
        ASSERT_INT(mwindow_parse_offset("-03:30", &o), 0);
        ASSERT_INT(o, -210);
        ASSERT_INT(mwindow_parse_offset("+14:00", &o), 0);
        ASSERT_INT(o, 840);
        static const char *const bad_offsets[] = {
                "+14:01", "05:00", "+5:00", "+05:60", "UTC", "", "+05:00x"
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_offsets); i++)
                ASSERT_INT(mwindow_parse_offset(bad_offsets[i], &o), -EINVAL);
}

TAP_MAIN(T(test_next_table), T(test_reasons), T(test_contains), T(test_parse))
