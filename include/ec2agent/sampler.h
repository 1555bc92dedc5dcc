/* sampler.h — takes the samples every collection_interval_s: memory, CPU, pressure, filesystems. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "event.h"
#include "fs.h"
#include "memory.h"
#include "series.h"

typedef struct Filesystem {
        MountEntry mount;
        bool mounted;
        bool have_usage;
        FsUsage usage;
        bool became_read_only; /* was read-write while watched, is read-only now */
        bool instance_store;
        char disk[64];
} Filesystem;

typedef struct Sampler Sampler;

typedef struct SamplerOptions {
        unsigned interval_s;
        char **filesystems;         /* mount points, or "*" */
        const char *mountinfo_path; /* NULL: mountinfo_default() */
        const char *sysfs;          /* "/sys" */
        size_t series_capacity;     /* samples kept a series; 0: the default */
        const SeriesWatch *watches; /* the conditions of metric rules (series_store_init) */
        size_t n_watches;
} SamplerOptions;

/* Samples at once, then every INTERVAL on EVENT, and watches mountinfo for remounts.
 * Events (a remount read-only) go to SINK (copied; NULL: dropped). Returns 0 or a negative errno. */
int sampler_new(sd_event *event, const SamplerOptions *opts, const EventSink *sink, Sampler **ret);
Sampler *sampler_free(Sampler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sampler *, sampler_free);

/* Takes one sample of everything now (the timer calls it; benchmarks too). */
void sampler_collect(Sampler *s);

const SeriesStore *sampler_series(const Sampler *s);

/* Writes status "memory", "filesystems" and "cpu" of DOC; S NULL (or no sample yet) writes their
 * absent shape: null values, no filesystems. Returns 0 or -ENOMEM. */
int sampler_status(const Sampler *s, cJSON *doc);
