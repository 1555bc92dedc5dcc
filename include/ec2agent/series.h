/* series.h — samples in time windows: what metric rules (for_s) and the publisher read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

/* Samples kept per series when the store is not told otherwise (series_store_init). */
#define SERIES_DEFAULT_CAPACITY 32

typedef struct Sample {
        usec_t at; /* realtime */
        double value;
} Sample;

/* A condition a metric rule waits on: NAME above (or below) THRESHOLD. Its for_s may span days,
 * far more than the ring holds, so each series follows it as samples arrive. */
typedef struct SeriesWatch {
        const char *name; /* not owned: the configuration's */
        bool above;
        double threshold;
} SeriesWatch;

typedef struct WatchState {
        usec_t last_miss; /* the newest sample that did not meet the watch; 0: none yet */
        usec_t met_since; /* the first sample of the newest streak that met it */
        bool newest_met;  /* the newest sample did */
} WatchState;

#define SERIES_DIM_MAX 256

/* What tells series of one name apart: the disk metrics' dimensions, the EBS metrics' VolumeId and
 * the ENA metrics' interface (SPEC §7), all "" for the others. The publisher sends each non-empty
 * one as a dimension of that name. */
typedef struct SeriesDims {
        char path[SERIES_DIM_MAX];
        char device[SERIES_DIM_MAX];
        char fstype[32];
        char volume_id[32]; /* "vol-0abc…": dimension VolumeId */
        char interface[16]; /* "ens5": dimension interface */
} SeriesDims;

typedef struct Series {
        char name[48]; /* a SPEC §7 metric name */
        SeriesDims dims;
        usec_t first_at;   /* the oldest sample ever added */
        WatchState *watch; /* one per watch of the store */
        size_t capacity, head, count;
        Sample ring[]; /* the newest CAPACITY samples */
} Series;

typedef struct SeriesStore {
        Series **series;
        size_t n;
        size_t capacity; /* 0: SERIES_DEFAULT_CAPACITY */
        SeriesWatch *watches;
        size_t n_watches;
} SeriesStore;

/* Sets what S keeps: CAPACITY samples a series (0: the default) and the N conditions WATCHES
 * (copied; their names are not). Call before the first series_add. Returns 0 or -ENOMEM. */
int series_store_init(SeriesStore *s, size_t capacity, const SeriesWatch *watches, size_t n);

/* Appends a sample to the series NAME/DIMS (created on first use; DIMS NULL: none). Returns 0 or
 * -ENOMEM. */
int series_add(SeriesStore *s, const char *name, const SeriesDims *dims, usec_t at, double value);

/* The newest sample of NAME/DIMS (NULL: none), or NULL. */
const Sample *series_last(const SeriesStore *s, const char *name, const SeriesDims *dims);

/* True when some series called NAME (any key) held the condition — value above (or below)
 * THRESHOLD — in a run of consecutive samples spanning WINDOW at least (from the first sample of
 * the run to the newest; a tenth of SLACK, the sample interval, is allowed for timer jitter), and
 * its newest sample is at most two SLACKs older than NOW. WINDOW 0: the newest sample.
 * The condition must be one of the store's watches (series_store_init); any other is false. */
bool series_holds(const SeriesStore *s, const char *name, bool above, double threshold, usec_t window,
                  usec_t slack, usec_t now);

/* True when the condition is known to have cleared: some series called NAME has a sample, and no
 * such series' newest sample is above (or below) THRESHOLD. Too few samples for a window (right
 * after a start) is not a clearing: a rule that fired must not fire again only for a restart. */
bool series_cleared(const SeriesStore *s, const char *name, bool above, double threshold);

typedef struct Stats {
        double count, sum, min, max;
} Stats;

/* The statistics of the samples of X taken in [FROM, TO). Returns their number. */
size_t series_stats(const Series *x, usec_t from, usec_t to, Stats *ret);

void series_store_done(SeriesStore *s);

/* The conditions the metric rules of CONFIG wait on, one per rule with a metric, in rule order:
 * *RET (the caller frees; names point into CONFIG) and *RET_N. Returns 0 or -ENOMEM. */
int series_watches_from_rules(const Config *config, SeriesWatch **ret, size_t *ret_n);
