/* publish.h — CloudWatch PutMetricData: aggregation, batching, retries, the spool. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "config.h"
#include "http.h"
#include "series.h"

typedef struct Publisher Publisher;

/* The unit the CloudWatch agent publishes METRIC with ("Percent", "Bytes", "Count"), or NULL. */
const char *publish_unit(const char *metric);

/* Builds the PutMetricData form for N datums in JSON form ({"m","t","s":[count,sum,min,max],"d"}),
 * for tests and the publisher. Returns 0 or a negative errno. */
int publish_build_form(Buf *b, const char *namespace_, const cJSON *const *datums, size_t n,
                       bool high_resolution);

/* The CloudWatch agent's rollup (aggregation_dimensions): of AVAILABLE, every dimension the instance
 * and the datum have ([[K,V],…]), the pairs whose names are in SET (DIMENSION_* bits), as a new
 * array in *RET. Returns 1; 0 when AVAILABLE lacks a dimension SET names (the set is left out) or
 * the result is PUBLISHED, the datum's own dimensions (sent already); -ENOMEM. */
int publish_rollup_dims(const cJSON *available, const cJSON *published, unsigned set, cJSON **ret);

/* Parses one datum line of the queue or the spool, {"m":NAME,"t":SECONDS,"s":[count,sum,min,max],
 * "d":[[K,V],…]}, into *RET (the caller frees): a 1-255 character name, a time within years
 * 0-9999, four finite numbers, dimensions as pairs of strings. Returns 0 or -EBADMSG. Pure. */
int publish_parse_datum(const char *line, size_t len, cJSON **ret);

/* The samples a series must keep for the publisher: the interval running and the one before it,
 * and a few for the timer's lateness. */
size_t publish_ring_samples(const Config *config);

int publisher_new(sd_event *event, Http *http, const Config *config, const SeriesStore *series,
                  const char *state_dir, const AwsEnv *env, Publisher **ret);
/* Moves what is still queued in memory to the spool (nothing is lost at a stop), then frees. */
Publisher *publisher_free(Publisher *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Publisher *, publisher_free);

/* Counts an event for the agent's own metrics (oom_kills, kernel_problems by class). */
void publisher_note_event(Publisher *p, const char *type, double count);

/* Writes status "cloudwatch" of DOC; P NULL (metrics off) writes its absent shape, "enabled": false.
 * Returns 0 or -ENOMEM. */
int publisher_status(const Publisher *p, cJSON *doc);
