/* prometheus.h — metrics.prometheus_textfile: every metric, the health and the notices, for
 * node_exporter's textfile collector (SPEC §7). */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "catalog.h"
#include "series.h"
#include "util.h"

#define PROMETHEUS_FILE_MODE 0644 /* node_exporter runs as its own user */
#define PROMETHEUS_MAX_BYTES (4U * 1024U * 1024U)

typedef struct Prometheus Prometheus;

/* The agent's counters since it started: Prometheus counters (_total), which may reset. */
typedef struct PrometheusCounters {
        double oom_kills;
        double problems[_EVENT_TYPE_MAX]; /* by event type: the kernel problems' */
} PrometheusCounters;

typedef struct PrometheusOptions {
        const char *path;                 /* the .prom file, in node_exporter's textfile directory */
        unsigned interval_s;              /* metrics.collection_interval_s */
        const SeriesStore *series;        /* the sampler's */
        cJSON *(*status)(void *userdata); /* the status document of now (new; NULL on ENOMEM) */
        void *userdata;
} PrometheusOptions;

/* Renders the exposition text into B: every series of STORE whose newest sample is taken at
 * FRESH_SINCE or later (its newest value, as a gauge ec2agent_NAME with the dimensions as labels),
 * the counters C, and from STATUS (may be NULL) ec2agent_health and ec2agent_notice. Each family
 * has its # HELP and # TYPE lines and its samples together; label values are escaped ('\\', '"',
 * newline). No timestamps (the textfile collector refuses them). Returns 0 or a negative errno. */
int prometheus_render(Buf *b, const SeriesStore *store, usec_t fresh_since, const PrometheusCounters *c,
                      const cJSON *status);

/* Writes TEXT to PATH atomically: a temporary file in the same directory, mode 0644 whatever the
 * umask, renamed over PATH. Returns 0 or a negative errno. */
int prometheus_write_file(const char *path, const char *text, size_t len);

/* Writes the file at once, then every interval_s on EVENT. Returns 0 or a negative errno. */
int prometheus_new(sd_event *event, const PrometheusOptions *o, Prometheus **ret);
Prometheus *prometheus_free(Prometheus *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Prometheus *, prometheus_free);

/* Renders and writes the file now (the timer calls it). Returns 0 or a negative errno, which is
 * logged when it is new and shown in status. */
int prometheus_write(Prometheus *p);

/* Counts an event for ec2agent_oom_kills_total and ec2agent_kernel_problems_total. */
void prometheus_note_event(Prometheus *p, const char *type, double count);

/* Writes status "prometheus" of DOC: path, last_write_at, last_error, bytes; P NULL (no textfile)
 * writes its absent shape, path null. Returns 0 or -ENOMEM. */
int prometheus_status(const Prometheus *p, cJSON *doc);
