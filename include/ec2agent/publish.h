/* publish.h — CloudWatch PutMetricData: aggregation, batching, retries, the spool. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "config.h"
#include "http.h"
#include "series.h"

typedef struct Publisher Publisher;

#define PUBLISH_BATCH_MAX_DATUMS 1000           /* CloudWatch's limit of datums a request */
#define PUBLISH_BATCH_MAX_BYTES  (900U * 1024U) /* CloudWatch takes 1 MB a request: a margin */
#define PUBLISH_GZIP_ABOVE_BYTES 10240          /* botocore's request_min_compression_size_bytes */
#define PUBLISH_RETRY_BASE_USEC  (1 * USEC_PER_SEC)
#define PUBLISH_RETRY_CAP_USEC   (20 * USEC_PER_SEC) /* the SDKs' standard retry mode */

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

/* How many of the N datum LINES, oldest first, go in one request: at most PUBLISH_BATCH_MAX_DATUMS,
 * and a form (as publish_build_form makes it for NAMESPACE_) of at most PUBLISH_BATCH_MAX_BYTES.
 * At least one when N > 0, so a datum too big alone still leaves (and is dropped at the build). A
 * line that is no datum counts as a datum of no bytes. Pure. */
size_t publish_batch_fit(char *const *lines, size_t n, const char *namespace_, bool high_resolution);

/* The body to send for FORM: above PUBLISH_GZIP_ABOVE_BYTES, its gzip (RFC 1952) appended to OUT
 * and 1 returned; else 0 and FORM goes as it is. A negative errno when compressing failed (send FORM). */
int publish_compress(const Buf *form, Buf *out);

/* The delay before retry ATTEMPT (1, 2, …) of a failed request, for R uniform in [0, 1): full
 * jitter, R × min(PUBLISH_RETRY_CAP_USEC, PUBLISH_RETRY_BASE_USEC × 2^ATTEMPT). */
usec_t publish_retry_delay(unsigned attempt, double r);

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
