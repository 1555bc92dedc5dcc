/* counter-window.h — cumulative device counters turned into increases: over the last step, over a
 * window (the last 5 minutes), with driver resets as new baselines, and the episodes of events. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define COUNTER_WINDOW_MAX 5 /* counters followed together (ENA has five "exceeded" ones) */

typedef struct CounterSample {
        usec_t at;                        /* CLOCK_MONOTONIC */
        uint64_t acc[COUNTER_WINDOW_MAX]; /* the increases added up since the first reading */
} CounterSample;

typedef struct CounterWindow {
        size_t n_counters;
        bool have_last;
        uint64_t last[COUNTER_WINDOW_MAX]; /* the counters as last read */
        uint64_t acc[COUNTER_WINDOW_MAX];
        CounterSample *ring;
        size_t capacity, head, count;
        uint64_t resets; /* readings in which some counter went down */
} CounterWindow;

/* Sets W up for N_COUNTERS counters read every INTERVAL over WINDOW: room for the samples that
 * span it (INTERVAL is at least a second: no more than WINDOW/1 s + 2 samples). 0 or -ENOMEM. */
int counter_window_init(CounterWindow *w, size_t n_counters, usec_t window, usec_t interval);
void counter_window_done(CounterWindow *w);

/* Adds the counters VALUES read at monotonic AT. The increase since the previous reading goes to
 * RET_STEP (may be NULL): 0 for the first reading, which is the baseline, and 0 for a counter that
 * went down — a driver reset or a reattached volume: that value is its new baseline, never a
 * negative increase. Returns true when some counter went down. */
bool counter_window_add(CounterWindow *w, usec_t at, const uint64_t *values, uint64_t *ret_step);

/* The increase of each counter over the WINDOW before NOW into RET: from the newest sample at
 * least WINDOW old (or the oldest kept, soon after the start) to the newest. Zeros without
 * samples. */
void counter_window_increase(const CounterWindow *w, usec_t now, usec_t window, uint64_t *ret);

/* SPEC §6: an episode of excess starts with the first excess after QUIET without one. */
typedef struct Episode {
        bool seen;
        usec_t last_excess; /* CLOCK_MONOTONIC */
} Episode;

/* Notes whether the reading at NOW showed an EXCESS. Returns true when it starts a new episode:
 * an excess, and none in the QUIET before it. */
bool episode_note(Episode *e, usec_t now, bool excess, usec_t quiet);
