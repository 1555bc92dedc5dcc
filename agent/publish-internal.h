/* publish-internal.h — what publish.c (aggregation, the request), publish-datum.c (datum lines)
 * and publish-spool.c (the spool) share: the Publisher and its limits. Not a public header. */
#pragma once

#include "ec2agent/publish.h"

#define BATCH_MAX_DATUMS   PUBLISH_BATCH_MAX_DATUMS
#define BATCH_MAX_BYTES    PUBLISH_BATCH_MAX_BYTES
#define MEMORY_MAX         2000 /* datums in memory before the oldest go to the spool */
#define SPOOL_CHUNK        1000 /* datums per spool file */
#define SPOOL_MAX_BYTES    (16U * 1024U * 1024U)
#define MAX_AGE_USEC       (14 * USEC_PER_DAY - USEC_PER_HOUR) /* CloudWatch keeps two weeks back */
#define REQUEST_TIMEOUT_MS 20000
#define WAIT_USEC          (1 * USEC_PER_SEC) /* for credentials or a region */
#define SPOOL_DIR          "spool"

struct Publisher {
        sd_event *event;
        Http *http;
        const Config *config;
        const SeriesStore *series;
        AwsEnv env;
        char *spool_dir;
        sd_event_source *tick, *retry;
        usec_t interval, offset;
        usec_t done_until; /* intervals before this (realtime) are aggregated */

        char **queue; /* datum lines, oldest first */
        size_t n_queue;
        uint64_t spool_seq;
        uint64_t spooled_datums, spooled_bytes;

        /* the batch in flight */
        HttpCall *call;
        char **batch;
        size_t n_batch;
        char *batch_file; /* the spool file it came from, removed on success */
        char **rest;      /* from BATCH_FILE, what did not fit in 1 MB: written back once the batch left */
        size_t n_rest;
        unsigned attempt;

        /* counters of the current interval */
        usec_t counter_start;
        double oom_kills, problems[_EVENT_TYPE_MAX]; /* by event type: the kernel problems' */

        uint64_t published, rejected, dropped, requests, bytes_sent;
        usec_t last_publish_at, failing_since;
        char last_error[256];
};

/* Item I (0: the name, 1: the value) of the dimension pair PAIR, or NULL when it is no string. */
const char *publish_dim_of(const cJSON *pair, int i);

/* Appends the datums of one interval of METRIC to P's memory queue: one with every dimension, and
 * one more per metrics.aggregation_dimensions set the datum has (the CloudWatch agent's rollup).
 * DIMS: a disk series' dimensions, or NULL; EXTRA_DIM: one more (kernel_problems' class).
 * Returns 0 or -ENOMEM. */
int publish_queue_datum(Publisher *p, const char *metric, const SeriesDims *dims, const char *extra_dim,
                        const char *extra_value, usec_t at, const Stats *st);

/* Rescans P's spool directory: its size and the next sequence number (and, when COUNT, the datums
 * it holds, in spooled_datums); drops the oldest files while it is over SPOOL_MAX_BYTES, adding
 * what they held to dropped (the batch in flight's file is kept). */
void publish_spool_scan(Publisher *p, bool count);

/* Writes the oldest N datums of P's memory queue to a new spool file, or fewer (what fits in one
 * request, publish_batch_fit), and removes them from the queue. Returns 0 or a negative errno
 * (the queue is then unchanged). */
int publish_spool_write(Publisher *p, size_t n);

/* Takes the oldest spool file's datums as P's batch (batch_file: its path), or returns 0 when the
 * spool is empty. Lines that are no datum are skipped and counted as dropped, the file set aside
 * as NAME.corrupt and its good lines written back under NAME. Returns 1 when a batch was taken. */
int publish_spool_take(Publisher *p);
