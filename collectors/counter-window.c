/* counter-window.c — cumulative counters (EBS's µs over a limit, ENA's packets over an allowance) as
 * increases over a step and over a window, driver resets as new baselines; the episode rule of
 * SPEC §6. Pure: every time comes from the caller. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/counter-window.h"

int counter_window_init(CounterWindow *w, size_t n_counters, usec_t window, usec_t interval) {
        interval = MAX(interval, USEC_PER_SEC);
        *w = (CounterWindow){ .n_counters = MIN(n_counters, (size_t) COUNTER_WINDOW_MAX) };
        w->capacity = window / interval + 2;
        if (!(w->ring = calloc(w->capacity, sizeof(CounterSample))))
                return -ENOMEM;
        return 0;
}

void counter_window_done(CounterWindow *w) {
        free(w->ring);
        *w = (CounterWindow){};
}

bool counter_window_add(CounterWindow *w, usec_t at, const uint64_t *values, uint64_t *ret_step) {
        bool reset = false;

        for (size_t i = 0; i < w->n_counters; i++) {
                uint64_t step = 0;
                if (w->have_last && values[i] >= w->last[i])
                        step = values[i] - w->last[i];
                else if (w->have_last)
                        reset = true;
                w->acc[i] += step;
                w->last[i] = values[i];
                if (ret_step)
                        ret_step[i] = step;
        }
        w->have_last = true;
        w->resets += reset;
        if (!w->capacity)
                return reset;
        /* the ring holds the newest CAPACITY samples; the oldest is overwritten */
        size_t slot = (w->head + w->count) % w->capacity;
        if (w->count == w->capacity) {
                slot = w->head;
                w->head = (w->head + 1) % w->capacity;
        } else
                w->count++;
        w->ring[slot].at = at;
        memcpy(w->ring[slot].acc, w->acc, sizeof w->acc);
        return reset;
}

void counter_window_increase(const CounterWindow *w, usec_t now, usec_t window, uint64_t *ret) {
        const CounterSample *from = NULL, *newest;

        for (size_t i = 0; i < w->n_counters; i++)
                ret[i] = 0;
        if (w->count == 0)
                return;
        newest = &w->ring[(w->head + w->count - 1) % w->capacity];
        /* the newest sample at least WINDOW old; the oldest when none is */
        for (size_t k = 0; k < w->count; k++) {
                const CounterSample *s = &w->ring[(w->head + k) % w->capacity];
                if (k == 0 || s->at + window <= now)
                        from = s;
                else
                        break;
        }
        for (size_t i = 0; i < w->n_counters; i++)
                ret[i] = newest->acc[i] - from->acc[i];
}

bool episode_note(Episode *e, usec_t now, bool excess, usec_t quiet) {
        if (!excess)
                return false;
        bool fresh = !e->seen || now - e->last_excess >= quiet;
        e->seen = true;
        e->last_excess = now;
        return fresh;
}
