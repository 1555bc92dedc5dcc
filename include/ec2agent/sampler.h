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
        int error;             /* what the last statvfs() answered: 0 or a negative errno */
        uint64_t call;         /* the statvfs() call out (fs_usage_start), 0 when none */
        usec_t call_started;   /* CLOCK_MONOTONIC */
        usec_t call_sample_at; /* the realtime sample its answer is for, 0: status only */
        bool not_answering; /* CALL has been out FS_ANSWER_TIMEOUT_USEC: not asked again until it returns */
} Filesystem;

/* A statvfs() that has not returned after this long: the filesystem is "not answering". */
#define FS_ANSWER_TIMEOUT_USEC (5 * USEC_PER_SEC)

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

/* Takes one sample of everything now (the timer calls it; benchmarks too). The filesystems'
 * usage comes later, through the loop, as their statvfs() calls return. */
void sampler_collect(Sampler *s);

/* The statvfs() calls started and not answered yet (tests and benchmarks wait for 0). */
size_t sampler_calls_pending(const Sampler *s);

const SeriesStore *sampler_series(const Sampler *s);
/* The same store, for another collector that adds its own series to it (nitro's EBS and ENA
 * counters): one store, so the publisher, the textfile and the rules see every metric. */
SeriesStore *sampler_series_shared(Sampler *s);

/* Writes status "memory", "filesystems" and "cpu" of DOC; S NULL (or no sample yet) writes their
 * absent shape: null values, no filesystems. Returns 0 or -ENOMEM. */
int sampler_status(const Sampler *s, cJSON *doc);
