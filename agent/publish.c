/* publish.c — CloudWatch PutMetricData: aggregation, batching, retries; datum lines in
 * publish-datum.c, the spool in publish-spool.c.
 *
 * Every publish_interval_s the complete intervals of every series become one StatisticValues
 * datum each (SampleCount, Sum, Minimum, Maximum), stamped with the interval's start, with the
 * CloudWatch agent's unit and the configured dimensions (disk metrics add path, device, fstype),
 * for the metrics metrics.measurements selects; then once more per metrics.aggregation_dimensions
 * set the instance has, with only that set's dimensions (the CloudWatch agent's rollup). The
 * agent's own counters (oom_kills, kernel_problems by class) are datums of the same intervals,
 * sent only for intervals in which they are above zero.
 *
 * A datum is one compact JSON line, {"m":NAME,"t":SECONDS,"s":[count,sum,min,max],"d":[[K,V],…]},
 * which is also its form in the spool: state_dir/spool/NNNNNNNNNNNNNNNN.jsonl, oldest first. At
 * most MEMORY_MAX datums wait in memory; older ones go to the spool, bounded by SPOOL_MAX_BYTES,
 * whose overflow drops the oldest file and counts it. One request is in flight at a time, with up
 * to 1 000 datums and a form under 1 MB (CloudWatch's limits; what does not fit is the next
 * request's), gzipped above 10 KiB as botocore does.
 * Failures are retried with full-jitter exponential backoff capped at 20 s (the SDKs' standard
 * mode); a rejected batch (a non-retryable 4xx) is logged with AWS's code and counted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "ec2agent/catalog.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "publish-internal.h"

const char *publish_unit(const char *metric) {
        const MetricInfo *m = metric_lookup(metric);
        return m ? m->unit : NULL;
}

/* ---- the request ---- */

/* Appends the form fields of datum D as member I (1-based) of MetricData to B. Returns 0 or a
 * negative errno (-EBADMSG: D is no datum CloudWatch takes). */
static int form_add_datum(Buf *b, size_t i, const cJSON *d, bool high_resolution) {
        char key[128], val[64], ts[RFC3339_MAX];
        int r;

        const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "s"), *pair;
        const char *m = json_get_string(d, "m");
        static const char *const stat_names[] = { "SampleCount", "Sum", "Minimum", "Maximum" };
        size_t k = 0;

        if (!m || cJSON_GetArraySize(s) != 4)
                return -EBADMSG;
        snprintf(key, sizeof key, "MetricData.member.%zu.MetricName", i);
        if ((r = aws_form_add(b, key, m)) < 0)
                return r;
        cJSON_ArrayForEach (pair, cJSON_GetObjectItemCaseSensitive(d, "d")) {
                if (!publish_dim_of(pair, 0) || !publish_dim_of(pair, 1))
                        continue;
                k++;
                snprintf(key, sizeof key, "MetricData.member.%zu.Dimensions.member.%zu.Name", i, k);
                if ((r = aws_form_add(b, key, publish_dim_of(pair, 0))) < 0)
                        return r;
                snprintf(key, sizeof key, "MetricData.member.%zu.Dimensions.member.%zu.Value", i, k);
                if ((r = aws_form_add(b, key, publish_dim_of(pair, 1))) < 0)
                        return r;
        }
        snprintf(key, sizeof key, "MetricData.member.%zu.Timestamp", i);
        if ((r = aws_form_add(b, key,
                              format_rfc3339(ts, (usec_t) json_get_number(d, "t", 0) * USEC_PER_SEC))) < 0)
                return r;
        for (int x = 0; x < 4; x++) {
                double v = cJSON_GetArrayItem(s, x)->valuedouble;
                if (!isfinite(v))
                        return -EBADMSG; /* CloudWatch rejects NaN and Infinity */
                snprintf(key, sizeof key, "MetricData.member.%zu.StatisticValues.%s", i, stat_names[x]);
                snprintf(val, sizeof val, "%.17g", v);
                if ((r = aws_form_add(b, key, val)) < 0)
                        return r;
        }
        snprintf(key, sizeof key, "MetricData.member.%zu.Unit", i);
        if ((r = aws_form_add(b, key, publish_unit(m) ?: "None")) < 0)
                return r;
        if (high_resolution) {
                snprintf(key, sizeof key, "MetricData.member.%zu.StorageResolution", i);
                if ((r = aws_form_add(b, key, "1")) < 0)
                        return r;
        }
        return 0;
}

int publish_build_form(Buf *b, const char *namespace_, const cJSON *const *datums, size_t n,
                       bool high_resolution) {
        int r;

        if ((r = aws_form_add(b, "Action", "PutMetricData")) < 0 ||
            (r = aws_form_add(b, "Version", "2010-08-01")) < 0 ||
            (r = aws_form_add(b, "Namespace", namespace_)) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if ((r = form_add_datum(b, i + 1, datums[i], high_resolution)) < 0)
                        return r;
        return 0;
}

size_t publish_batch_fit(char *const *lines, size_t n, const char *namespace_, bool high_resolution) {
        Buf one;
        size_t bytes, i;

        buf_init(&one, PUBLISH_BATCH_MAX_BYTES);
        if (publish_build_form(&one, namespace_, NULL, 0, high_resolution) < 0)
                n = MIN(n, (size_t) 1);
        bytes = one.len;
        for (i = 0; i < n && i < PUBLISH_BATCH_MAX_DATUMS; i++) {
                _cleanup_json_ cJSON *d = NULL;
                buf_reset(&one);
                /* a line that is no datum is dropped when the batch is built: it costs nothing */
                if (publish_parse_datum(lines[i], strlen(lines[i]), &d) < 0)
                        continue;
                if (form_add_datum(&one, i + 1, d, high_resolution) < 0)
                        one.len = one.max; /* bigger than a request: alone, it fails and is dropped */
                bytes += 1 + one.len;      /* "&" */
                if (bytes > PUBLISH_BATCH_MAX_BYTES && i > 0)
                        break;
        }
        buf_done(&one);
        return i;
}

int publish_compress(const Buf *form, Buf *out) {
        z_stream z = {};
        unsigned char chunk[16384];
        int r = 0;

        if (form->len <= PUBLISH_GZIP_ABOVE_BYTES)
                return 0;
        /* A 4 KiB window and memLevel 5: 32 KiB of state instead of zlib's default 256 KiB, which
         * stayed in the heap after each batch; the form repeats itself within a datum (a few
         * hundred bytes), so bodies come out only about 4 % larger (1.4 KB a request at the defaults). */
        if (deflateInit2(&z, 6, Z_DEFLATED, 12 + 16, 5, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        z.next_in = (unsigned char *) form->data;
        z.avail_in = (uInt) form->len;
        do {
                z.next_out = chunk;
                z.avail_out = sizeof chunk;
                if (deflate(&z, Z_FINISH) == Z_STREAM_ERROR) {
                        r = -EIO;
                        break;
                }
                r = buf_append(out, chunk, sizeof chunk - z.avail_out);
        } while (r >= 0 && z.avail_out == 0);
        deflateEnd(&z);
        return r < 0 ? r : 1;
}

usec_t publish_retry_delay(unsigned attempt, double r) {
        return aws_backoff(attempt, PUBLISH_RETRY_BASE_USEC, PUBLISH_RETRY_CAP_USEC, r);
}

/* Forgets the batch; DONE: it left for good (sent, rejected or dropped), so its spool file goes, or
 * keeps only what did not fit in the request (the rest, sent next). */
static void batch_free(Publisher *p, bool done) {
        if (done && p->batch_file) {
                Buf b;
                int r = 0;
                buf_init(&b, SPOOL_MAX_BYTES);
                for (size_t i = 0; i < p->n_rest && r >= 0; i++)
                        r = buf_appendf(&b, "%s\n", p->rest[i]);
                if (p->n_rest == 0)
                        (void) unlink(p->batch_file);
                else if (r < 0 || (r = write_file_atomic(p->spool_dir, strrchr(p->batch_file, '/') + 1,
                                                         b.data, b.len, 0640)) < 0)
                        log_warning_errno(r, "Cannot rewrite %s, its sent datapoints will be sent again: %m",
                                          p->batch_file);
                buf_done(&b);
                p->spooled_datums -= MIN(p->spooled_datums, p->n_batch);
        }
        for (size_t i = 0; i < p->n_batch; i++)
                free(p->batch[i]);
        for (size_t i = 0; i < p->n_rest; i++)
                free(p->rest[i]);
        p->n_batch = p->n_rest = 0;
        p->rest = mfree(p->rest);
        p->batch_file = mfree(p->batch_file);
}

/* The request for the batch would pass CloudWatch's 1 MB: only the first FIT of its N readable
 * datums (batch lines IDX[0..N)) go now; the others wait, in order, at the front of the queue (or,
 * from a spool file, in the file: batch_free writes them back). Lines that are not datums (too old,
 * unreadable: counted dropped already) go. Returns 0, or -ENOMEM with the batch unchanged. */
static int batch_split(Publisher *p, const size_t *idx, size_t fit, size_t n) {
        size_t n_rest = n - fit, k = 0, j = 0, gone = 0;
        char **rest = calloc(n_rest, sizeof(char *));

        if (!rest)
                return -ENOMEM;
        if (!p->batch_file) {
                char **q = realloc(p->queue, (p->n_queue + n_rest) * sizeof(char *));
                if (!q) {
                        free(rest);
                        return -ENOMEM;
                }
                p->queue = q;
        }
        for (size_t i = fit; i < n; i++) {
                rest[i - fit] = p->batch[idx[i]];
                p->batch[idx[i]] = NULL;
        }
        for (size_t i = 0; i < p->n_batch; i++) {
                if (j < fit && idx[j] == i) {
                        p->batch[k++] = p->batch[i];
                        j++;
                } else if (p->batch[i]) {
                        free(p->batch[i]);
                        gone++;
                }
        }
        p->n_batch = k;
        if (p->batch_file) {
                p->rest = rest;
                p->n_rest = n_rest;
                p->spooled_datums -= MIN(p->spooled_datums, (uint64_t) gone);
                return 0;
        }
        memmove(p->queue + n_rest, p->queue, p->n_queue * sizeof(char *));
        memcpy(p->queue, rest, n_rest * sizeof(char *));
        p->n_queue += n_rest;
        free(rest);
        return 0;
}

static void schedule_send(Publisher *p, usec_t delay);

_printf_(2, 3) static void failed(Publisher *p, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(p->last_error, sizeof p->last_error, fmt, ap);
        va_end(ap);
        if (!p->failing_since) {
                p->failing_since = now_usec(CLOCK_REALTIME);
                log_warning("Publishing to CloudWatch fails, keeping the datapoints: %s", p->last_error);
        }
}

static void on_response(const HttpResponse *resp, void *userdata) {
        Publisher *p = userdata;
        char code[64] = "", message[256] = "";

        p->call = NULL;
        if (resp->error == 0 && resp->status == 200) {
                p->published += p->n_batch;
                p->last_publish_at = now_usec(CLOCK_REALTIME);
                if (p->failing_since)
                        log_notice("Publishing to CloudWatch works again.");
                p->failing_since = 0;
                p->last_error[0] = 0;
                p->attempt = 0;
                batch_free(p, true);
                publish_spool_scan(p, false);
                schedule_send(p, 0); /* a backlog drains request after request */
                return;
        }
        if (resp->error == 0)
                (void) aws_parse_error(resp->body, resp->body_len, code, message);
        if (resp->error < 0)
                failed(p, "%s", resp->error_message ?: strerror(-resp->error));
        else if (code[0])
                failed(p, "%s: %s (HTTP %ld)", code, message, resp->status);
        else
                failed(p, "HTTP %ld", resp->status);

        if (resp->error < 0 || aws_retryable(resp->status, code)) {
                p->attempt++;
                schedule_send(p, publish_retry_delay(p->attempt, random_unit()));
                return;
        }
        /* Not retryable: this batch will never be accepted. Say why, count it, go on. */
        log_error("CloudWatch rejected %zu datapoints: %s", p->n_batch, p->last_error);
        p->rejected += p->n_batch;
        p->attempt = 0;
        batch_free(p, true);
        publish_spool_scan(p, false);
        schedule_send(p, 0);
}

/* Fills the batch (spool first, oldest first), drops what is too old, and sends it. */
static void send_batch(Publisher *p) {
        const AwsCredentials *c = p->env.credentials(p->env.userdata);
        const InstanceIdentity *id = p->env.identity(p->env.userdata);
        const char *region = aws_region(p->config, id);
        _cleanup_free_ char *endpoint = NULL;
        cJSON *parsed[BATCH_MAX_DATUMS];
        size_t idx[BATCH_MAX_DATUMS], n_parsed = 0, fit;
        Buf form, gz;
        int r;

        if (p->call)
                return;
        if (p->n_batch == 0 && publish_spool_take(p) <= 0) {
                size_t n = publish_batch_fit(p->queue, p->n_queue, p->config->metrics_namespace,
                                             p->config->metrics_high_resolution);
                if (n > 0) {
                        memcpy(p->batch, p->queue, n * sizeof(char *));
                        memmove(p->queue, p->queue + n, (p->n_queue - n) * sizeof(char *));
                        p->n_queue -= n;
                        p->n_batch = n;
                }
        }
        if (p->n_batch == 0)
                return;
        /* Credentials and the region come from IMDS a moment after start: look again soon. */
        if (!c) {
                failed(p, "no AWS credentials (environment or instance profile) yet");
                return schedule_send(p, WAIT_USEC);
        }
        if (!region || !(endpoint = aws_endpoint(p->config, AWS_SERVICE_CLOUDWATCH, region))) {
                failed(p, "no AWS region yet");
                return schedule_send(p, WAIT_USEC);
        }

        usec_t oldest = now_usec(CLOCK_REALTIME) - MAX_AGE_USEC;
        buf_init(&form, 2 * BATCH_MAX_BYTES);
        for (size_t i = 0; i < p->n_batch; i++) {
                cJSON *d = NULL;
                if (publish_parse_datum(p->batch[i], strlen(p->batch[i]), &d) < 0 ||
                    (usec_t) json_get_number(d, "t", 0) * USEC_PER_SEC < oldest) {
                        p->dropped++; /* unreadable, or older than CloudWatch accepts */
                        cJSON_Delete(d);
                        continue;
                }
                idx[n_parsed] = i;
                parsed[n_parsed++] = d;
        }
        /* CloudWatch takes 1 MB a request: while the form is larger, half as many datums go (long
         * paths, many dimensions, a backlog of 1 000); the rest is the next request's. */
        for (fit = n_parsed;; fit = (fit + 1) / 2) {
                buf_reset(&form);
                r = publish_build_form(&form, p->config->metrics_namespace, (const cJSON *const *) parsed,
                                       fit, p->config->metrics_high_resolution);
                if ((r >= 0 && form.len <= BATCH_MAX_BYTES) || fit <= 1)
                        break;
        }
        if (r >= 0 && fit < n_parsed && batch_split(p, idx, fit, n_parsed) < 0) {
                log_oom(); /* sent whole: CloudWatch may refuse it, and it is counted rejected */
                buf_reset(&form);
                r = publish_build_form(&form, p->config->metrics_namespace, (const cJSON *const *) parsed,
                                       n_parsed, p->config->metrics_high_resolution);
        }
        for (size_t i = 0; i < n_parsed; i++)
                cJSON_Delete(parsed[i]);
        if (r < 0 || n_parsed == 0) {
                if (r < 0)
                        log_error_errno(r,
                                        "Cannot build a PutMetricData request, dropping %zu datapoints: %m",
                                        p->n_batch);
                p->dropped += r < 0 ? n_parsed : 0;
                batch_free(p, true);
                buf_done(&form);
                return schedule_send(p, 0);
        }

        buf_init(&gz, 2 * BATCH_MAX_BYTES);
        bool zipped = publish_compress(&form, &gz) > 0;
        const char *headers[3] = {};
        size_t nh = 0;
        AwsSigning sig;
        if (zipped)
                headers[nh++] = "Content-Encoding: gzip";
        HttpRequest req = {
                .method = "POST",
                .url = endpoint,
                .headers = headers,
                .body = zipped ? gz.data : form.data,
                .body_len = zipped ? gz.len : form.len,
                .timeout_ms = REQUEST_TIMEOUT_MS,
        };
        aws_sign(&sig, &req, headers, &nh, c, region, "monitoring");
        p->requests++;
        p->bytes_sent += req.body_len;
        r = http_submit(p->http, &req, on_response, p, &p->call);
        aws_signing_done(&sig);
        buf_done(&form);
        buf_done(&gz);
        if (r < 0) {
                failed(p, "cannot send: %s", strerror(-r));
                p->attempt++;
                schedule_send(p, publish_retry_delay(p->attempt, random_unit()));
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        send_batch(userdata);
        return 0;
}

static void schedule_send(Publisher *p, usec_t delay) {
        (void) sd_event_source_set_time_relative(p->retry, delay);
        (void) sd_event_source_set_enabled(p->retry, SD_EVENT_ONESHOT);
}

/* ---- aggregation ---- */

/* True when metrics.measurements publishes METRIC. */
static bool selected(const Publisher *p, const char *metric) {
        int id = metric_from_string(metric);
        return id >= 0 && (p->config->metrics_measurements & METRIC_BIT(id));
}

/* The agent's counters go out only for intervals in which they are above zero: CloudWatch bills a
 * metric for the hours it receives data (SPEC §7). */
static void flush_counters(Publisher *p, usec_t interval_start) {
        Stats st = { 1, p->oom_kills, p->oom_kills, p->oom_kills };
        if (p->oom_kills > 0 && selected(p, metric_name(METRIC_OOM_KILLS)))
                (void) publish_queue_datum(p, metric_name(METRIC_OOM_KILLS), NULL, NULL, NULL,
                                           interval_start, &st);
        for (size_t i = 0; i < ELEMENTSOF(p->problems); i++)
                if (p->problems[i] > 0 && selected(p, metric_name(METRIC_KERNEL_PROBLEMS))) {
                        st = (Stats){ 1, p->problems[i], p->problems[i], p->problems[i] };
                        (void) publish_queue_datum(p, metric_name(METRIC_KERNEL_PROBLEMS), NULL, "class",
                                                   event_type_info(i)->name, interval_start, &st);
                }
        p->oom_kills = 0;
        memset(p->problems, 0, sizeof p->problems);
}

/* Turns every complete interval since the last one into datums. */
static void aggregate(Publisher *p, usec_t now) {
        usec_t end = now / p->interval * p->interval; /* the start of the interval now running */

        if (p->env.identity_pending(p->env.userdata))
                return; /* dimensions would miss InstanceId: wait, the samples keep */
        if (p->done_until == 0)
                p->done_until = end; /* from the first complete interval after start */
        if (p->done_until > end + p->interval) {
                /* The wall clock went back: go on from the new time, not from the old one an hour hence. */
                log_notice("The wall clock went back by %llu s; metrics go on from the new time.",
                           (unsigned long long) ((p->done_until - end) / USEC_PER_SEC));
                p->done_until = p->counter_start = end;
        }
        /* ... or forward (NTP fixing a clock at boot, a resume): no samples are older than the ring. */
        usec_t held =
                publish_ring_samples(p->config) * p->config->metrics_collection_interval_s * USEC_PER_SEC;
        if (end > p->done_until + held)
                p->done_until = (end - held) / p->interval * p->interval;
        for (usec_t from = p->done_until; from + p->interval <= end; from += p->interval) {
                for (size_t i = 0; i < p->series->n; i++) {
                        const Series *x = p->series->series[i];
                        Stats st;
                        if (selected(p, x->name) && series_stats(x, from, from + p->interval, &st) > 0)
                                (void) publish_queue_datum(p, x->name, &x->dims, NULL, NULL, from, &st);
                }
        }
        if (p->counter_start + p->interval <= end) {
                flush_counters(p, p->counter_start);
                p->counter_start = end;
        }
        p->done_until = MAX(p->done_until, end);
        if (p->n_queue > MEMORY_MAX) {
                int r = publish_spool_write(p, MIN((size_t) SPOOL_CHUNK, p->n_queue));
                if (r < 0)
                        log_warning_errno(r, "Cannot spool datapoints to %s, keeping them in memory: %m",
                                          p->spool_dir);
        }
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Publisher *p = userdata;
        usec_t now = now_usec(CLOCK_REALTIME);
        (void) usec;

        aggregate(p, now);
        send_batch(p);
        /* Next: the next interval boundary plus this instance's offset, so a fleet spreads out. */
        usec_t next = (now / p->interval + 1) * p->interval + p->offset;
        return sd_event_source_set_time_relative(s, next > now ? next - now : p->interval);
}

size_t publish_ring_samples(const Config *config) {
        return 2 * config->metrics_publish_interval_s / config->metrics_collection_interval_s + 4;
}

int publisher_new(sd_event *event, Http *http, const Config *config, const SeriesStore *series,
                  const char *state_dir, const AwsEnv *env, Publisher **ret) {
        _cleanup_(publisher_freep) Publisher *p = calloc(1, sizeof(Publisher));
        uint64_t h = 1469598103934665603ULL;
        char id[40] = "";
        int r;

        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->http = http;
        p->config = config;
        p->series = series;
        p->env = *env;
        p->interval = config->metrics_publish_interval_s * USEC_PER_SEC;
        if (!(p->batch = calloc(BATCH_MAX_DATUMS, sizeof(char *))) ||
            !(p->spool_dir = path_join(state_dir, SPOOL_DIR)))
                return -ENOMEM;
        if (mkdir(p->spool_dir, 0750) < 0 && errno != EEXIST)
                log_warning_errno(errno, "Cannot create %s, an outage will be kept in memory only: %m",
                                  p->spool_dir);
        publish_spool_scan(p, true);

        /* A stable offset per machine within the interval (FNV-1a of the machine id). */
        _cleanup_free_ char *machine_id = NULL;
        if (read_file_bounded("/etc/machine-id", 64, &machine_id, NULL) >= 0)
                snprintf(id, sizeof id, "%s", machine_id);
        for (const char *c = id; *c && *c != '\n'; c++)
                h = (h ^ (unsigned char) *c) * 1099511628211ULL;
        p->offset = id[0] ? h % p->interval : (usec_t) (random_unit() * (double) p->interval);
        p->counter_start = now_usec(CLOCK_REALTIME) / p->interval * p->interval;

        /* Monotonic: a relative wall-clock timer would wait an hour after the clock went back an hour.
         * The interval boundaries are wall-clock ones, computed anew at every tick. */
        r = sd_event_add_time_relative(event, &p->tick, CLOCK_MONOTONIC, p->interval / 10,
                                       USEC_PER_MSEC * 10, on_tick, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->tick, "publish");
        (void) sd_event_source_set_enabled(p->tick, SD_EVENT_ON);
        r = sd_event_add_time_relative(event, &p->retry, CLOCK_MONOTONIC, 0, 0, on_retry, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->retry, "publish-send");
        /* What an earlier run spooled goes out at once, not at the first interval's end. */
        (void) sd_event_source_set_enabled(p->retry,
                                           p->spooled_datums > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
        *ret = TAKE_PTR(p);
        return 0;
}

Publisher *publisher_free(Publisher *p) {
        if (!p)
                return NULL;
        http_call_cancel(p->call);
        /* The batch in flight goes back in front of the queue, the queue to the spool. */
        if (p->n_batch > 0 && !p->batch_file) {
                char **q = realloc(p->queue, (p->n_queue + p->n_batch) * sizeof(char *));
                if (q) {
                        memmove(q + p->n_batch, q, p->n_queue * sizeof(char *));
                        memcpy(q, p->batch, p->n_batch * sizeof(char *));
                        p->queue = q;
                        p->n_queue += p->n_batch;
                        p->n_batch = 0;
                }
        }
        while (p->n_queue > 0 && publish_spool_write(p, MIN((size_t) SPOOL_CHUNK, p->n_queue)) >= 0)
                ;
        if (p->n_queue > 0)
                log_error("Cannot spool %zu datapoints to %s: they are lost.", p->n_queue, p->spool_dir);
        batch_free(p, false);
        for (size_t i = 0; i < p->n_queue; i++)
                free(p->queue[i]);
        free(p->queue);
        free(p->batch);
        sd_event_source_disable_unref(p->tick);
        sd_event_source_disable_unref(p->retry);
        sd_event_unref(p->event);
        free(p->spool_dir);
        free(p);
        return NULL;
}

void publisher_note_event(Publisher *p, const char *type, double count) {
        int id = event_type_from_string(type);
        if (id == EVENT_TYPE_OOM_KILL)
                p->oom_kills += count;
        else if (id >= 0 && event_type_info(id)->kernel_problem)
                p->problems[id] += count;
}

int publisher_status(const Publisher *p, cJSON *doc) {
        cJSON *c = cJSON_CreateObject();
        if (!p) {
                /* metrics are off */
                if (!c || !cJSON_AddBoolToObject(c, "enabled", false) ||
                    !cJSON_AddNullToObject(c, "last_publish_at") ||
                    !cJSON_AddNullToObject(c, "last_error") || !cJSON_AddNullToObject(c, "failing_since") ||
                    !cJSON_AddNumberToObject(c, "queued_datapoints", 0) ||
                    !cJSON_AddNumberToObject(c, "spooled_bytes", 0) ||
                    !cJSON_AddNumberToObject(c, "published_datapoints", 0) ||
                    !cJSON_AddNumberToObject(c, "dropped_datapoints", 0)) {
                        cJSON_Delete(c);
                        return -ENOMEM;
                }
                return json_replace(doc, "cloudwatch", c);
        }
        uint64_t queued = p->n_queue + (p->batch_file ? 0 : p->n_batch) + p->spooled_datums;
        if (!c || !cJSON_AddBoolToObject(c, "enabled", true) ||
            !json_add_time(c, "last_publish_at", p->last_publish_at) ||
            !json_add_string_or_null(c, "last_error", p->last_error[0] ? p->last_error : NULL) ||
            !json_add_time(c, "failing_since", p->failing_since) ||
            !cJSON_AddNumberToObject(c, "queued_datapoints", (double) queued) ||
            !cJSON_AddNumberToObject(c, "spooled_bytes", (double) p->spooled_bytes) ||
            !cJSON_AddNumberToObject(c, "published_datapoints", (double) p->published) ||
            !cJSON_AddNumberToObject(c, "dropped_datapoints", (double) p->dropped) ||
            !cJSON_AddNumberToObject(c, "rejected_datapoints", (double) p->rejected) ||
            !cJSON_AddNumberToObject(c, "requests", (double) p->requests) ||
            !cJSON_AddNumberToObject(c, "bytes_sent", (double) p->bytes_sent) ||
            !cJSON_AddStringToObject(c, "namespace", p->config->metrics_namespace)) {
                cJSON_Delete(c);
                return -ENOMEM;
        }
        return json_replace(doc, "cloudwatch", c);
}
