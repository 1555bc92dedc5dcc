/* series.h — samples in time windows: what metric rules (for_s) and the publisher read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define SERIES_CAPACITY 720 /* two hours at the default 10 s interval */

typedef struct Sample {
        usec_t at; /* realtime */
        double value;
} Sample;

typedef struct Series {
        char name[48]; /* a SPEC §7 metric name */
        char key[768]; /* what tells series of one name apart: "" or "path\tdevice\tfstype" */
        Sample ring[SERIES_CAPACITY];
        size_t head, count;
} Series;

typedef struct SeriesStore {
        Series **series;
        size_t n;
} SeriesStore;

/* Appends a sample to the series NAME/KEY (created on first use). Returns 0 or -ENOMEM. */
int series_add(SeriesStore *s, const char *name, const char *key, usec_t at, double value);

/* The newest sample of NAME/KEY, or NULL. */
const Sample *series_last(const SeriesStore *s, const char *name, const char *key);

/* True when some series called NAME (any key) held the condition — value above (or below)
 * THRESHOLD — in every sample of the last WINDOW before NOW, and has been sampled for that long
 * (its oldest sample is at most SLACK younger than NOW − WINDOW). WINDOW 0: the newest sample. */
bool series_holds(const SeriesStore *s, const char *name, bool above, double threshold, usec_t window,
                  usec_t slack, usec_t now);

typedef struct Stats {
        double count, sum, min, max;
} Stats;

/* The statistics of the samples of X taken in [FROM, TO). Returns their number. */
size_t series_stats(const Series *x, usec_t from, usec_t to, Stats *ret);

void series_store_done(SeriesStore *s);
