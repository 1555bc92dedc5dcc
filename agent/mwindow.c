/* mwindow.c — maintenance windows: parsing their parts and finding the next opening before a deadline.
 * Pure arithmetic on realtime µs; days are counted from the epoch in the window's local time
 * (1970-01-01 was a Thursday), so there is no libc time zone state involved. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ec2agent/mwindow.h"

static const char *const day_names[7][2] = {
        { "sun", "sunday" },   { "mon", "monday" }, { "tue", "tuesday" },  { "wed", "wednesday" },
        { "thu", "thursday" }, { "fri", "friday" }, { "sat", "saturday" },
};

int mwindow_parse_day(const char *s, unsigned *ret) {
        for (unsigned i = 0; i < 7; i++)
                if (strcasecmp(s, day_names[i][0]) == 0 || strcasecmp(s, day_names[i][1]) == 0) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

static bool two_digits(const char *s, unsigned *ret) {
        if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
                return false;
        *ret = (unsigned) (s[0] - '0') * 10 + (unsigned) (s[1] - '0');
        return true;
}

int mwindow_parse_time(const char *s, bool allow_24, unsigned *ret) {
        unsigned h, m;

        if (strlen(s) != 5 || s[2] != ':' || !two_digits(s, &h) || !two_digits(s + 3, &m) || m > 59)
                return -EINVAL;
        if (h > 23 && !(allow_24 && h == 24 && m == 0))
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

int mwindow_parse_offset(const char *s, int *ret) {
        unsigned h, m;

        if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
                *ret = 0;
                return 0;
        }
        if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !two_digits(s + 1, &h) ||
            !two_digits(s + 4, &m) || m > 59 || h * 60 + m > 14 * 60)
                return -EINVAL;
        *ret = (s[0] == '-' ? -1 : 1) * (int) (h * 60 + m);
        return 0;
}

#define MIN_USEC ((int64_t) USEC_PER_MINUTE)
#define DAY_USEC ((int64_t) USEC_PER_DAY)

/* Local midnight (as local µs) of the day holding local time L, and that day's number. */
static int64_t local_day(int64_t l) {
        return l >= 0 ? l / DAY_USEC : -((-l + DAY_USEC - 1) / DAY_USEC);
}

static bool opens_on(const MWindow *w, int64_t day) {
        int64_t wd = ((day + 4) % 7 + 7) % 7; /* day 0 (1970-01-01) was a Thursday */
        return w->days & (1u << wd);
}

static int64_t length_usec(const MWindow *w) {
        unsigned end = w->end_min <= w->start_min ? w->end_min + 1440 : w->end_min;
        return (int64_t) (end - w->start_min) * MIN_USEC;
}

bool mwindow_contains(const MWindow *w, usec_t t) {
        int64_t l = (int64_t) t + w->offset_min * MIN_USEC, d = local_day(l);

        /* an opening that covers T started today or, crossing midnight, yesterday */
        for (int64_t day = d - 1; day <= d; day++) {
                int64_t start = day * DAY_USEC + (int64_t) w->start_min * MIN_USEC;
                if (opens_on(w, day) && l >= start && l < start + length_usec(w))
                        return true;
        }
        return false;
}

int mwindow_next(const MWindow *w, usec_t now, usec_t deadline, usec_t *ret, char *reason) {
        char at[RFC3339_MAX];
        int64_t off = w->offset_min * MIN_USEC, d = local_day((int64_t) now + off);

        if (!(w->days & 0x7f)) {
                if (reason)
                        snprintf(reason, MWINDOW_REASON_MAX, "the window opens on no day");
                return -EINVAL;
        }
        if (deadline == 0) {
                if (reason)
                        snprintf(reason, MWINDOW_REASON_MAX,
                                 "the event has no deadline (NotBeforeDeadline): AWS does not let it move");
                return -ENODATA;
        }
        /* the openings after NOW in order: one of the next eight local days has the first */
        for (int64_t day = d; day <= d + 8; day++) {
                int64_t start = day * DAY_USEC + (int64_t) w->start_min * MIN_USEC - off;
                if (!opens_on(w, day) || start <= (int64_t) now)
                        continue;
                if (start > (int64_t) deadline) {
                        if (reason)
                                snprintf(reason, MWINDOW_REASON_MAX,
                                         "no maintenance window starts before its deadline %s",
                                         format_rfc3339(at, deadline));
                        return -ERANGE;
                }
                *ret = (usec_t) start;
                return 0;
        }
        return -EINVAL; /* not reached: a window that opens on some day opens within a week */
}
