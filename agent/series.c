/* series.c — samples in time windows: what metric rules (for_s) and the publisher read. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/series.h"

static Series *find(const SeriesStore *s, const char *name, const char *key) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->series[i]->name, name) == 0 && strcmp(s->series[i]->key, key) == 0)
                        return s->series[i];
        return NULL;
}

int series_add(SeriesStore *s, const char *name, const char *key, usec_t at, double value) {
        Series *x = find(s, name, key ?: "");
        if (!x) {
                Series **n = realloc(s->series, (s->n + 1) * sizeof(Series *));
                if (!n)
                        return -ENOMEM;
                s->series = n;
                if (!(x = calloc(1, sizeof(Series))))
                        return -ENOMEM;
                snprintf(x->name, sizeof x->name, "%s", name);
                snprintf(x->key, sizeof x->key, "%s", key ?: "");
                s->series[s->n++] = x;
        }
        x->ring[x->head] = (Sample){ .at = at, .value = value };
        x->head = (x->head + 1) % SERIES_CAPACITY;
        if (x->count < SERIES_CAPACITY)
                x->count++;
        return 0;
}

/* The I-th newest sample (0: the newest). */
static const Sample *nth_newest(const Series *x, size_t i) {
        return &x->ring[(x->head + SERIES_CAPACITY - 1 - i) % SERIES_CAPACITY];
}

const Sample *series_last(const SeriesStore *s, const char *name, const char *key) {
        const Series *x = find(s, name, key ?: "");
        return x && x->count ? nth_newest(x, 0) : NULL;
}

static bool holds(const Series *x, bool above, double threshold, usec_t window, usec_t slack, usec_t now) {
        if (x->count == 0)
                return false;
        usec_t start = now > window ? now - window : 0;
        const Sample *oldest = nth_newest(x, x->count - 1);
        if (window > 0 && oldest->at > start + slack)
                return false; /* not sampled long enough to know */
        for (size_t i = 0; i < x->count; i++) {
                const Sample *p = nth_newest(x, i);
                if (i > 0 && p->at < start)
                        break;
                if (above ? !(p->value > threshold) : !(p->value < threshold))
                        return false;
        }
        return true;
}

bool series_holds(const SeriesStore *s, const char *name, bool above, double threshold, usec_t window,
                  usec_t slack, usec_t now) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->series[i]->name, name) == 0 &&
                    holds(s->series[i], above, threshold, window, slack, now))
                        return true;
        return false;
}

size_t series_stats(const Series *x, usec_t from, usec_t to, Stats *ret) {
        Stats st = { 0, 0, INFINITY, -INFINITY };
        for (size_t i = 0; i < x->count; i++) {
                const Sample *p = nth_newest(x, i);
                if (p->at < from)
                        break;
                if (p->at >= to)
                        continue;
                st.count++;
                st.sum += p->value;
                st.min = MIN(st.min, p->value);
                st.max = MAX(st.max, p->value);
        }
        *ret = st;
        return (size_t) st.count;
}

void series_store_done(SeriesStore *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->series[i]);
        free(s->series);
        *s = (SeriesStore){};
}
