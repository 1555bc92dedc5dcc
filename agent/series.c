/* series.c — samples in time windows: what metric rules (for_s) and the publisher read.
 *
 * A ring of the newest samples per series serves the publisher (its intervals). Metric rules'
 * windows may be days long, so they do not read the ring: each series follows every watched
 * condition as samples arrive (the newest sample that missed it), which takes O(1) memory. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/series.h"

static const SeriesDims no_dims;

static bool dims_equal(const SeriesDims *a, const SeriesDims *b) {
        return strcmp(a->path, b->path) == 0 && strcmp(a->device, b->device) == 0 &&
               strcmp(a->fstype, b->fstype) == 0 && strcmp(a->volume_id, b->volume_id) == 0 &&
               strcmp(a->interface, b->interface) == 0;
}

static Series *find(const SeriesStore *s, const char *name, const SeriesDims *dims) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->series[i]->name, name) == 0 && dims_equal(&s->series[i]->dims, dims))
                        return s->series[i];
        return NULL;
}

int series_store_init(SeriesStore *s, size_t capacity, const SeriesWatch *watches, size_t n) {
        s->capacity = capacity;
        if (n == 0)
                return 0;
        if (!(s->watches = calloc(n, sizeof *watches)))
                return -ENOMEM;
        memcpy(s->watches, watches, n * sizeof *watches);
        s->n_watches = n;
        return 0;
}

static bool meets(double v, bool above, double threshold) {
        return above ? v > threshold : v < threshold; /* NaN meets neither */
}

static Series *series_new(const SeriesStore *s, const char *name, const SeriesDims *dims) {
        size_t capacity = s->capacity ?: SERIES_DEFAULT_CAPACITY;
        Series *x;

        if (capacity > (SIZE_MAX - sizeof(Series)) / sizeof(Sample) ||
            !(x = calloc(1, sizeof(Series) + capacity * sizeof(Sample))))
                return NULL;
        if (s->n_watches && !(x->watch = calloc(s->n_watches, sizeof(WatchState)))) {
                free(x);
                return NULL;
        }
        x->capacity = capacity;
        snprintf(x->name, sizeof x->name, "%s", name);
        x->dims = *dims;
        return x;
}

int series_add(SeriesStore *s, const char *name, const SeriesDims *dims, usec_t at, double value) {
        Series *x = find(s, name, dims ?: &no_dims);
        if (!x) {
                Series **n = realloc(s->series, (s->n + 1) * sizeof(Series *));
                if (!n)
                        return -ENOMEM;
                s->series = n;
                if (!(x = series_new(s, name, dims ?: &no_dims)))
                        return -ENOMEM;
                s->series[s->n++] = x;
        }
        if (x->count == 0)
                x->first_at = at;
        x->ring[x->head] = (Sample){ .at = at, .value = value };
        x->head = (x->head + 1) % x->capacity;
        if (x->count < x->capacity)
                x->count++;
        for (size_t w = 0; w < s->n_watches; w++) {
                if (strcmp(s->watches[w].name, name) != 0)
                        continue;
                WatchState *ws = &x->watch[w];
                bool met = meets(value, s->watches[w].above, s->watches[w].threshold);
                if (!met)
                        ws->last_miss = at;
                else if (!ws->newest_met)
                        ws->met_since = at; /* a new streak of samples that meet it */
                ws->newest_met = met;
        }
        return 0;
}

/* The I-th newest sample (0: the newest). */
static const Sample *nth_newest(const Series *x, size_t i) {
        return &x->ring[(x->head + x->capacity - 1 - i) % x->capacity];
}

const Sample *series_last(const SeriesStore *s, const char *name, const SeriesDims *dims) {
        const Series *x = find(s, name, dims ?: &no_dims);
        return x && x->count ? nth_newest(x, 0) : NULL;
}

/* The samples of X that met watch W without a miss span WINDOW at least (less a tenth of SLACK
 * for the timer's jitter), and X is sampled still: a filesystem unmounted at 99 % holds nothing.
 * Samples at 0, 1 and 2 s span 2 s: a 2 s window holds at the third sample, not the second. */
static bool holds(const Series *x, size_t w, usec_t window, usec_t slack, usec_t now) {
        const WatchState *ws = &x->watch[w];
        usec_t newest;

        if (x->count == 0 || !ws->newest_met)
                return false;
        newest = nth_newest(x, 0)->at;
        if (newest + 2 * slack < now)
                return false;
        return newest >= ws->met_since && newest - ws->met_since + slack / 10 >= window;
}

bool series_holds(const SeriesStore *s, const char *name, bool above, double threshold, usec_t window,
                  usec_t slack, usec_t now) {
        for (size_t w = 0; w < s->n_watches; w++) {
                const SeriesWatch *sw = &s->watches[w];
                if (strcmp(sw->name, name) != 0 || sw->above != above || sw->threshold != threshold)
                        continue;
                for (size_t i = 0; i < s->n; i++)
                        if (strcmp(s->series[i]->name, name) == 0 &&
                            holds(s->series[i], w, window, slack, now))
                                return true;
        }
        return false;
}

bool series_cleared(const SeriesStore *s, const char *name, bool above, double threshold) {
        bool sampled = false;

        for (size_t i = 0; i < s->n; i++) {
                const Series *x = s->series[i];
                if (strcmp(x->name, name) != 0 || x->count == 0)
                        continue;
                if (meets(nth_newest(x, 0)->value, above, threshold))
                        return false;
                sampled = true;
        }
        return sampled;
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
        for (size_t i = 0; i < s->n; i++) {
                free(s->series[i]->watch);
                free(s->series[i]);
        }
        free(s->series);
        free(s->watches);
        *s = (SeriesStore){};
}

int series_watches_from_rules(const Config *config, SeriesWatch **ret, size_t *ret_n) {
        SeriesWatch *w = calloc(config->n_rules + 1, sizeof(SeriesWatch));
        size_t n = 0;

        if (!w)
                return -ENOMEM;
        for (size_t i = 0; i < config->n_rules; i++) {
                const Rule *ru = &config->rules[i];
                if (ru->metric)
                        w[n++] = (SeriesWatch){ ru->metric, ru->above, ru->threshold };
        }
        *ret = w;
        *ret_n = n;
        return 0;
}
