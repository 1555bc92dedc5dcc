/* mwindow.h — an operator's maintenance window (days, start–end, UTC offset) and the pure arithmetic
 * that finds where a scheduled event can be moved: the reschedule step's time (SPEC §4). */
#pragma once

#include <stdbool.h>

#include "util.h"

#define MWINDOW_REASON_MAX 160

/* A weekly window: it opens on each day of DAYS at START (local time of OFFSET) and closes at END,
 * the next day when END is not after START (a window that crosses midnight). */
typedef struct MWindow {
        unsigned days;      /* bit 0 Sunday … bit 6 Saturday: the days the window opens */
        unsigned start_min; /* minutes after local midnight, 0..1439 */
        unsigned end_min;   /* 0..1440; <= start_min: the next day */
        int offset_min;     /* local time = UTC + offset, -14:00..+14:00 */
} MWindow;

/* Parses "sun".."sat" (any case, or the full English name) into bit *RET of MWindow.days.
 * Returns 0 or -EINVAL. */
int mwindow_parse_day(const char *s, unsigned *ret);

/* Parses "HH:MM" (00:00..23:59; "24:00" too when ALLOW_24) into minutes. Returns 0 or -EINVAL. */
int mwindow_parse_time(const char *s, bool allow_24, unsigned *ret);

/* Parses a UTC offset "+HH:MM" / "-HH:MM" (at most 14:00) or "Z" into minutes. Returns 0 or -EINVAL. */
int mwindow_parse_offset(const char *s, int *ret);

/* True when realtime T falls inside an opening of W (from its start, before its end). Pure. */
bool mwindow_contains(const MWindow *w, usec_t t);

/* The start of the first opening of W strictly after NOW and not after DEADLINE (both realtime µs).
 * Returns 0 with *RET set; -ENODATA when DEADLINE is 0 (the event has no deadline: it cannot be
 * moved); -ERANGE when every opening after NOW starts past DEADLINE; -EINVAL when W opens on no
 * day. On failure REASON (MWINDOW_REASON_MAX bytes, or NULL) says why in words, for "cannot be rescheduled:
 * REASON". Pure. */
int mwindow_next(const MWindow *w, usec_t now, usec_t deadline, usec_t *ret, char *reason);
