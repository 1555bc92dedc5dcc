/* forward.c — every event to CloudWatch Logs (PutLogEvents) and EventBridge (PutEvents), in order.
 *
 * Each target (cloudwatch_logs, eventbridge) has its spool: state_dir/forward/TARGET/NNNNNNNNNNNNNNNN.jsonl,
 * the events' events.jsonl lines, oldest file first. An event is appended to the newest file when it
 * happens (one write(2): nothing waits, and a SIGKILL right after loses nothing); the file is closed
 * past FORWARD_SPOOL_FILE_BYTES and a new one begun, and every start begins a new one (a torn last
 * line stays alone). "cursor" holds "SEQ OFFSET" of the first line not yet delivered, rewritten in
 * place after every delivered batch, so a restart resends at most the batch that was in flight (at least
 * once). The spool is bounded by FORWARD_SPOOL_MAX_BYTES: past it the oldest file goes, counted in
 * "dropped". The batch in memory is read from the spool at the cursor; one request is in flight per
 * target. Failures are retried with full-jitter backoff capped at 20 s; what AWS will never take
 * (a malformed batch) is counted as rejected and passed; what an operator must fix (AccessDenied, a
 * missing log group) is logged once with AWS's code, shown in status, and the events wait. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forward-internal.h"
#include "ec2agent/catalog.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

#define RETRY_BASE_USEC    (1 * USEC_PER_SEC)
#define RETRY_CAP_USEC     (20 * USEC_PER_SEC)
#define WAIT_USEC          (1 * USEC_PER_SEC) /* for credentials, a region or the identity */
#define REQUEST_TIMEOUT_MS 20000
#define RESPONSE_MAX       (256U * 1024U)

const char *const forward_target_names[_TARGET_MAX] = {
        [TARGET_LOGS] = "cloudwatch_logs",
        [TARGET_EVENTS] = "eventbridge",
};

const char *const forward_target_titles[_TARGET_MAX] = {
        [TARGET_LOGS] = "CloudWatch Logs",
        [TARGET_EVENTS] = "EventBridge",
};

/* ---- the batch ---- */

static void batch_free(Target *t) {
        t->text = mfree(t->text);
        t->lines = mfree(t->lines);
        t->pending = mfree(t->pending);
        t->n_lines = t->n_pending = 0;
        t->batch_ready = false;
}

/* Reads at most MAX bytes of PATH from OFF into *RET (NUL-terminated, the caller frees); *RET_SIZE is
 * the file's size. Returns 0 or a negative errno. */
static int read_at(const char *path, uint64_t off, size_t max, char **ret, size_t *ret_len,
                   uint64_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t len = 0;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        size_t want =
                off < (uint64_t) st.st_size ? (size_t) MIN((uint64_t) max, (uint64_t) st.st_size - off) : 0;
        if (!(data = malloc(want + 1)))
                return -ENOMEM;
        while (len < want) {
                ssize_t k = pread(fd, data + len, want - len, (off_t) (off + len));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        data[len] = 0;
        *ret = TAKE_PTR(data);
        *ret_len = len;
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

typedef struct Found {
        size_t at, len; /* in the batch's text */
        usec_t t;
        uint64_t end_seq, end_off; /* where the spool continues after this line */
        size_t bad_before;         /* unreadable lines passed over before it */
} Found;

/* Reads the undelivered lines from the cursor on, as many as one request takes (for CloudWatch Logs
 * within forward_logs_take()'s limits). Lines that are no event (torn by a crash) are passed over and
 * counted as dropped. Returns the number of lines. */
static int batch_fill(Target *t) {
        _cleanup_free_ uint64_t *seqs = NULL;
        size_t n = forward_spool_list(t, &seqs),
               cap = t->kind == TARGET_LOGS ? FORWARD_LOGS_MAX_EVENTS : FORWARD_EVENTS_MAX;
        size_t max_bytes = t->kind == TARGET_LOGS ? FORWARD_LOGS_MAX_BYTES : FORWARD_EVENTS_MAX_BYTES - 4096;
        uint64_t seq = t->cursor_seq, off = t->cursor_off;
        _cleanup_free_ Found *found = calloc(cap, sizeof *found);
        size_t n_found = 0, bytes = 0, bad = 0;
        bool full = false;
        Buf text;
        int r = 0;

        if (!found)
                return -ENOMEM;
        buf_init(&text, max_bytes + LINE_MAX_BYTES + 1);
        for (size_t i = 0; i < n && !full && r >= 0; i++) {
                char path[512];
                _cleanup_free_ char *data = NULL;
                size_t len = 0, p = 0;
                uint64_t size = 0;
                if (seqs[i] < seq)
                        continue;
                if (seqs[i] > seq) {
                        seq = seqs[i];
                        off = 0;
                }
                forward_spool_path(t, seq, path, sizeof path);
                if (read_at(path, off, max_bytes - MIN(bytes, max_bytes) + LINE_MAX_BYTES + 1, &data, &len,
                            &size) < 0)
                        continue;
                while (p < len) {
                        const char *nl = memchr(data + p, '\n', len - p);
                        size_t l;
                        usec_t at;
                        if (!nl)
                                break; /* being written, torn, or past what was read */
                        l = (size_t) (nl - (data + p));
                        if (n_found == cap ||
                            (n_found > 0 && bytes + l + FORWARD_LOGS_EVENT_BYTES > max_bytes)) {
                                full = true;
                                break;
                        }
                        if (forward_parse_line(data + p, l, &at, NULL) < 0) {
                                bad++;
                        } else {
                                found[n_found] = (Found){ .at = text.len,
                                                          .len = l,
                                                          .t = at,
                                                          .end_seq = seq,
                                                          .end_off = off + p + l + 1,
                                                          .bad_before = bad };
                                if ((r = buf_append(&text, data + p, l)) < 0 ||
                                    (r = buf_append(&text, "", 1)) < 0)
                                        break;
                                n_found++;
                                bytes += l + FORWARD_LOGS_EVENT_BYTES;
                        }
                        p += l + 1;
                }
                off += p;
                /* a file no longer appended to that ends in a torn line: the line is passed over */
                if (r >= 0 && !full && seq != t->append_seq && off + len - p == size && p < len) {
                        bad++;
                        off = size;
                }
        }
        size_t take = n_found;
        if (r >= 0 && n_found > 0) {
                _cleanup_free_ ForwardLine *lines = calloc(n_found, sizeof *lines);
                bool *pending = calloc(n_found, sizeof *pending);
                if (!lines || !pending) {
                        free(pending);
                        r = -ENOMEM;
                } else {
                        for (size_t i = 0; i < n_found; i++) {
                                lines[i] =
                                        (ForwardLine){ text.data + found[i].at, found[i].len, found[i].t };
                                pending[i] = true;
                        }
                        if (t->kind == TARGET_LOGS)
                                take = forward_logs_take(lines, n_found);
                        if (take < n_found) {
                                /* what follows waits for the next batch: the spool continues after line TAKE
                                 */
                                seq = found[take - 1].end_seq;
                                off = found[take - 1].end_off;
                                bad = found[take].bad_before;
                        }
                        t->text = TAKE_PTR(text.data);
                        t->lines = TAKE_PTR(lines);
                        t->pending = pending;
                        t->n_lines = t->n_pending = take;
                }
        }
        buf_done(&text);
        if (r < 0) {
                batch_free(t);
                return r;
        }
        if (bad > 0) {
                log_warning("The %s spool in %s held %zu unreadable lines: passed over.",
                            forward_target_titles[t->kind], t->dir, bad);
                t->dropped += bad;
                t->queued -= MIN(t->queued, (uint64_t) bad);
        }
        t->end_seq = seq;
        t->end_off = off;
        t->batch_ready = take > 0;
        if (take == 0 && (seq != t->cursor_seq || off != t->cursor_off)) {
                /* only torn lines: move on past them */
                t->cursor_seq = seq;
                t->cursor_off = off;
                (void) forward_spool_save_cursor(t);
        }
        return (int) take;
}

/* The batch left for good (delivered or rejected): the cursor moves past it, delivered files go. */
static void batch_done(Target *t) {
        _cleanup_free_ uint64_t *seqs = NULL;
        size_t n;
        int r;

        t->queued -= MIN(t->queued, (uint64_t) t->n_lines);
        t->cursor_seq = t->end_seq;
        t->cursor_off = t->end_off;
        batch_free(t);
        /* at the end of a file no longer appended to: on to the next one, and this one goes */
        char path[512];
        struct stat cst;
        forward_spool_path(t, t->cursor_seq, path, sizeof path);
        if (t->cursor_seq < t->append_seq &&
            (stat(path, &cst) < 0 || (uint64_t) cst.st_size <= t->cursor_off)) {
                t->cursor_seq++;
                t->cursor_off = 0;
        }
        r = forward_spool_save_cursor(t);
        if (r < 0)
                log_warning_errno(
                        r, "Cannot save the %s cursor in %s; a restart sends the last batch again: %m",
                        forward_target_titles[t->kind], t->dir);
        n = forward_spool_list(t, &seqs);
        for (size_t i = 0; i < n && seqs[i] < t->cursor_seq; i++) {
                struct stat st;
                forward_spool_path(t, seqs[i], path, sizeof path);
                if (stat(path, &st) == 0 && unlink(path) == 0)
                        t->spooled_bytes -= MIN(t->spooled_bytes, (uint64_t) st.st_size);
        }
}

/* ---- requests ---- */

/* Records why sending fails; the first failure of a run of them is logged (as a warning) when LOG. */
_printf_(3, 4) static void failed(Target *t, bool log, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(t->last_error, sizeof t->last_error, fmt, ap);
        va_end(ap);
        if (!t->failing_since) {
                t->failing_since = now_usec(CLOCK_REALTIME);
                if (log)
                        log_warning("Forwarding to %s fails, keeping the events: %s",
                                    forward_target_titles[t->kind], t->last_error);
        }
}

static void succeeded(Target *t) {
        t->last_ok_at = now_usec(CLOCK_REALTIME);
        if (t->failing_since)
                log_notice("Forwarding to %s works again.", forward_target_titles[t->kind]);
        t->failing_since = 0;
        t->last_error[0] = 0;
        t->logged_code[0] = 0;
        t->attempt = 0;
}

static void retry_later(Target *t) {
        t->attempt++;
        forward_schedule_send(t, aws_backoff(t->attempt, RETRY_BASE_USEC, RETRY_CAP_USEC, random_unit()));
}

/* Codes that say this batch itself will never be taken: passing it on is the only way forward. */
static bool rejects_content(const char *code) {
        static const char *const codes[] = { "InvalidParameterException",
                                             "SerializationException",
                                             "ValidationException",
                                             "InvalidParameterValue",
                                             "DataAlreadyAcceptedException",
                                             "MalformedDetail",
                                             "InvalidArgument" };
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                if (strcmp(code, codes[i]) == 0)
                        return true;
        return false;
}

/* A failed call: retried soon when AWS says so, the batch passed over when AWS will never take it,
 * kept and retried at the cap otherwise (an operator must act: logged once with AWS's code). */
static void on_failure(Target *t, const HttpResponse *resp, const char *code, const char *message) {
        /* retryable failures are logged at the first of a run; the rest once per code, below */
        bool retry = resp->error < 0 || aws_retryable(resp->status, code);
        if (resp->error < 0)
                failed(t, retry, "%s", resp->error_message ?: strerror(-resp->error));
        else if (code[0])
                failed(t, retry, "%s: %s (HTTP %ld)", code, message, resp->status);
        else
                failed(t, retry, "HTTP %ld", resp->status);
        if (retry)
                return retry_later(t);
        if (code[0] && rejects_content(code)) {
                log_error("%s rejected %zu events: %s", forward_target_titles[t->kind], t->n_pending,
                          t->last_error);
                t->rejected += t->n_pending;
                batch_done(t);
                return forward_schedule_send(t, 0);
        }
        if (strcmp(t->logged_code, code[0] ? code : "?") != 0) {
                log_error("Forwarding to %s is refused, the events wait in the spool: %s",
                          forward_target_titles[t->kind], t->last_error);
                snprintf(t->logged_code, sizeof t->logged_code, "%s", code[0] ? code : "?");
        }
        t->attempt = MAX(t->attempt, 5U); /* at the cap at once: an operator must act */
        retry_later(t);
}

static bool is_stream_missing(const char *code, const char *message) {
        return strcmp(code, "ResourceNotFoundException") == 0 && !strstr(message, "log group");
}

/* AWS's words for a missing group name no group: say which one the operator must create. */
static void name_missing_group(Target *t, const char *code, char message[static 256]) {
        if (strcmp(code, "ResourceNotFoundException") == 0)
                snprintf(message, 256, "the log group %s does not exist (events are kept until it does)",
                         t->f->config->forward_logs_group);
}

static void on_logs_response(const HttpResponse *resp, void *userdata) {
        Target *t = userdata;
        char code[64] = "", message[256] = "";
        bool creating = t->creating;

        t->call = NULL;
        t->creating = false;
        if (resp->error == 0 && resp->status != 200)
                (void) aws_parse_error(resp->body, resp->body_len, code, message);
        if (creating) {
                if ((resp->error == 0 && resp->status == 200) ||
                    strcmp(code, "ResourceAlreadyExistsException") == 0) {
                        log_info("Created the log stream for events in CloudWatch Logs.");
                        t->create_stream = false;
                        return forward_schedule_send(t, 0);
                }
                name_missing_group(t, code, message);
                return on_failure(t, resp, code, message);
        }
        if (resp->error == 0 && resp->status == 200) {
                size_t refused = forward_logs_parse_rejected(resp->body, resp->body_len, t->n_lines);
                if (refused > 0) {
                        log_warning("CloudWatch Logs refused %zu events older than 14 days or more than 2 h "
                                    "ahead (the clock?).",
                                    refused);
                        t->rejected += refused;
                }
                t->sent += t->n_lines - refused;
                succeeded(t);
                batch_done(t);
                return forward_schedule_send(t, 0);
        }
        if (is_stream_missing(code, message)) {
                t->create_stream = true;
                return forward_schedule_send(t, 0);
        }
        if (strstr(message, "log group"))
                name_missing_group(t, code, message);
        on_failure(t, resp, code, message);
}

static void on_events_response(const HttpResponse *resp, void *userdata) {
        Target *t = userdata;
        char code[64] = "", message[256] = "";
        size_t idx[FORWARD_EVENTS_MAX], n = 0;
        char results[FORWARD_EVENTS_MAX][64];
        int nf;

        t->call = NULL;
        if (resp->error != 0 || resp->status != 200) {
                if (resp->error == 0)
                        (void) aws_parse_error(resp->body, resp->body_len, code, message);
                return on_failure(t, resp, code, message);
        }
        for (size_t i = 0; i < t->n_lines && n < FORWARD_EVENTS_MAX; i++)
                if (t->pending[i])
                        idx[n++] = i;
        nf = forward_events_parse_reply(resp->body, resp->body_len, n, results);
        if (nf < 0) {
                failed(t, true, "PutEvents answered something that is no PutEvents reply");
                return retry_later(t);
        }
        const char *retry_code = NULL;
        for (size_t k = 0; k < n; k++) {
                size_t i = idx[k];
                if (!results[k][0]) {
                        t->pending[i] = false;
                        t->n_pending--;
                        t->sent++;
                } else if (aws_retryable(200, results[k]) || strcmp(results[k], "InternalException") == 0) {
                        retry_code = results[k];
                } else {
                        /* this entry will never be taken */
                        log_error("EventBridge rejected an event: %s", results[k]);
                        t->pending[i] = false;
                        t->n_pending--;
                        t->rejected++;
                }
        }
        if (t->n_pending == 0) {
                succeeded(t);
                batch_done(t);
                return forward_schedule_send(t, 0);
        }
        failed(t, true, "%d of %zu entries failed: %s", nf, n, retry_code ?: "?");
        retry_later(t); /* only the failed entries go again */
}

/* The stream: log_stream, else the instance id, else (off EC2) the host name. */
static const char *log_stream(Target *t, char buf[static 256]) {
        const InstanceIdentity *id = t->f->env.identity(t->f->env.userdata);
        if (t->f->config->forward_logs_stream)
                return t->f->config->forward_logs_stream;
        if (id && id->instance_id[0])
                return id->instance_id;
        if (gethostname(buf, 255) < 0 || !buf[0])
                snprintf(buf, 256, "unknown-host");
        buf[255] = 0;
        return buf;
}

static void send_batch(Target *t) {
        Forwarder *f = t->f;
        const AwsCredentials *c = f->env.credentials(f->env.userdata);
        const InstanceIdentity *id = f->env.identity(f->env.userdata);
        const char *region = aws_region(f->config, id);
        _cleanup_free_ char *endpoint = NULL;
        char stream[256], arn[512];
        const char *target_header, *service;
        Buf body;
        int r;

        if (t->call)
                return;
        if (!t->batch_ready && batch_fill(t) <= 0)
                return;
        if (f->env.identity_pending(f->env.userdata))
                return forward_schedule_send(t, WAIT_USEC); /* the stream name and the ARN wait for the id */
        if (!c) {
                failed(t, true, "no AWS credentials (environment or instance profile) yet");
                return forward_schedule_send(t, WAIT_USEC);
        }
        if (!region ||
            !(endpoint = aws_endpoint(
                      f->config, t->kind == TARGET_LOGS ? AWS_SERVICE_LOGS : AWS_SERVICE_EVENTS, region))) {
                failed(t, true, "no AWS region yet");
                return forward_schedule_send(t, WAIT_USEC);
        }
        buf_init(&body, 4 * FORWARD_LOGS_MAX_BYTES);
        if (t->kind == TARGET_LOGS) {
                service = "logs";
                const char *s = log_stream(t, stream);
                if (t->create_stream) {
                        _cleanup_json_ cJSON *j = cJSON_CreateObject();
                        target_header = "X-Amz-Target: Logs_20140328.CreateLogStream";
                        r = j && cJSON_AddStringToObject(j, "logGroupName", f->config->forward_logs_group) &&
                                            cJSON_AddStringToObject(j, "logStreamName", s)
                                    ? forward_print_into(&body, j)
                                    : -ENOMEM;
                        t->creating = true;
                } else {
                        target_header = "X-Amz-Target: Logs_20140328.PutLogEvents";
                        r = forward_logs_body(&body, f->config->forward_logs_group, s, t->lines, t->n_lines);
                }
        } else {
                ForwardLine sel[FORWARD_EVENTS_MAX];
                size_t n = 0;
                service = "events";
                target_header = "X-Amz-Target: AWSEvents.PutEvents";
                for (size_t i = 0; i < t->n_lines && n < FORWARD_EVENTS_MAX; i++)
                        if (t->pending[i])
                                sel[n++] = t->lines[i];
                r = forward_events_body(
                        &body, f->config->forward_events_bus,
                        id ? forward_instance_arn(arn, sizeof arn, region, id->account_id, id->instance_id)
                           : NULL,
                        sel, n);
        }
        if (r < 0) {
                /* cannot happen for lines batch_fill() parsed, but then they are never sendable */
                log_error_errno(r, "Cannot build a request to %s, passing over %zu events: %m",
                                forward_target_titles[t->kind], t->n_lines);
                t->creating = false;
                t->rejected += t->n_pending;
                batch_done(t);
                buf_done(&body);
                return forward_schedule_send(t, 0);
        }
        const char *headers[4] = { target_header, "Content-Type: application/x-amz-json-1.1" };
        size_t nh = 2;
        AwsSigning sig;
        HttpRequest req = {
                .method = "POST",
                .url = endpoint,
                .headers = headers,
                .body = body.data,
                .body_len = body.len,
                .timeout_ms = REQUEST_TIMEOUT_MS,
                .max_response = RESPONSE_MAX,
        };
        aws_sign(&sig, &req, headers, &nh, c, region, service);
        t->requests++;
        r = http_submit(f->http, &req, t->kind == TARGET_LOGS ? on_logs_response : on_events_response, t,
                        &t->call);
        aws_signing_done(&sig);
        buf_done(&body);
        if (r < 0) {
                t->creating = false;
                failed(t, true, "cannot send: %s", strerror(-r));
                retry_later(t);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        send_batch(userdata);
        return 0;
}

void forward_schedule_send(Target *t, usec_t delay) {
        (void) sd_event_source_set_time_relative(t->retry, delay);
        (void) sd_event_source_set_enabled(t->retry, SD_EVENT_ONESHOT);
}

/* ---- the forwarder ---- */

static bool wants(const Forwarder *f, TargetKind kind, const char *type) {
        char *const *types = f->config->forward_events_types;
        if (kind == TARGET_LOGS || !types)
                return true;
        for (size_t i = 0; types[i]; i++)
                if (strcmp(types[i], "*") == 0 || event_pattern_matches(types[i], type))
                        return true;
        return false;
}

void forwarder_on_event(Forwarder *f, const char *type, const char *line) {
        if (!f || !line)
                return;
        for (size_t k = 0; k < _TARGET_MAX; k++) {
                Target *t = &f->targets[k];
                if (!t->enabled || !wants(f, t->kind, type))
                        continue;
                forward_spool_append(t, line);
                /* sent from the loop: in backoff the timer already waits, else at once */
                if (!t->call && t->attempt == 0)
                        forward_schedule_send(t, 0);
        }
}

static int target_start(Forwarder *f, TargetKind kind, const char *base) {
        Target *t = &f->targets[kind];
        int r;

        t->f = f;
        t->kind = kind;
        t->enabled = true;
        t->append_fd = t->cursor_fd = -1;
        if (!(t->dir = path_join(base, forward_target_names[kind])))
                return -ENOMEM;
        if (mkdir(t->dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s, events cannot be forwarded to %s: %m",
                                       t->dir, forward_target_titles[kind]);
        forward_spool_open(t);
        /* accuracy 1 µs: sd-event takes 0 as its default, 250 ms, which would pause every batch of a backlog
         */
        r = sd_event_add_time_relative(f->event, &t->retry, CLOCK_MONOTONIC, 0, 1, on_retry, t);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(t->retry,
                                               kind == TARGET_LOGS ? "forward-logs" : "forward-events");
        /* what an earlier run spooled goes out at once */
        (void) sd_event_source_set_enabled(t->retry, t->queued > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
        return 0;
}

int forwarder_new(sd_event *event, Http *http, const Config *config, const char *state_dir,
                  const AwsEnv *env, Forwarder **ret) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        _cleanup_free_ char *base = NULL;
        int r;

        if (!config->forward_logs_enabled && !config->forward_events_enabled) {
                *ret = NULL;
                return 0;
        }
        if (!(f = calloc(1, sizeof *f)) || !(base = path_join(state_dir, FORWARD_DIR)))
                return -ENOMEM;
        f->event = sd_event_ref(event);
        f->http = http;
        f->config = config;
        f->env = *env;
        for (size_t k = 0; k < _TARGET_MAX; k++)
                f->targets[k].append_fd = f->targets[k].cursor_fd = -1;
        if (mkdir(base, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s, events cannot be forwarded: %m", base);
        if (config->forward_logs_enabled && (r = target_start(f, TARGET_LOGS, base)) < 0)
                return r;
        if (config->forward_events_enabled && (r = target_start(f, TARGET_EVENTS, base)) < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

Forwarder *forwarder_free(Forwarder *f) {
        if (!f)
                return NULL;
        for (size_t k = 0; k < _TARGET_MAX; k++) {
                Target *t = &f->targets[k];
                http_call_cancel(t->call);
                batch_free(t);
                t->append_fd = safe_close(t->append_fd);
                t->cursor_fd = safe_close(t->cursor_fd);
                sd_event_source_disable_unref(t->retry);
                free(t->dir);
        }
        sd_event_unref(f->event);
        free(f);
        return NULL;
}

static int target_status(const Forwarder *f, TargetKind kind, cJSON *fw) {
        const Target *t = f ? &f->targets[kind] : NULL;
        cJSON *o = cJSON_CreateObject();
        bool on = t && t->enabled;

        if (!o || !cJSON_AddItemToObject(fw, forward_target_names[kind], o)) {
                cJSON_Delete(o);
                return -ENOMEM;
        }
        if (!cJSON_AddBoolToObject(o, "enabled", on) ||
            !json_add_time(o, "last_ok_at", on ? t->last_ok_at : 0) ||
            !json_add_string_or_null(o, "last_error", on && t->last_error[0] ? t->last_error : NULL) ||
            !json_add_time(o, "failing_since", on ? t->failing_since : 0) ||
            !cJSON_AddNumberToObject(o, "queued", on ? (double) t->queued : 0) ||
            !cJSON_AddNumberToObject(o, "spooled_bytes", on ? (double) t->spooled_bytes : 0) ||
            !cJSON_AddNumberToObject(o, "sent", on ? (double) t->sent : 0) ||
            !cJSON_AddNumberToObject(o, "dropped", on ? (double) t->dropped : 0) ||
            !cJSON_AddNumberToObject(o, "rejected", on ? (double) t->rejected : 0) ||
            !cJSON_AddNumberToObject(o, "requests", on ? (double) t->requests : 0))
                return -ENOMEM;
        if (on && kind == TARGET_LOGS &&
            (!cJSON_AddStringToObject(o, "log_group", f->config->forward_logs_group) ||
             !json_add_string_or_null(o, "log_stream", f->config->forward_logs_stream)))
                return -ENOMEM;
        if (on && kind == TARGET_EVENTS &&
            !cJSON_AddStringToObject(o, "event_bus", f->config->forward_events_bus))
                return -ENOMEM;
        return 0;
}

int forwarder_status(const Forwarder *f, cJSON *doc) {
        cJSON *fw = cJSON_CreateObject();
        if (!fw)
                return -ENOMEM;
        for (size_t k = 0; k < _TARGET_MAX; k++)
                if (target_status(f, k, fw) < 0) {
                        cJSON_Delete(fw);
                        return -ENOMEM;
                }
        return json_replace(doc, "forward", fw);
}