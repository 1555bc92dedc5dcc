/* imds.c — the IMDSv2 source on the loop: token, identity, notices, instance-profile credentials.
 *
 * Version 2 only: every GET carries a session token from PUT /latest/api/token; a 401 drops the
 * token and the request is retried once with a fresh one; there is never a tokenless GET.
 * Notices are polled every poll_interval_s, the scheduled events every scheduled_events_interval_s.
 * Any failure keeps the last good knowledge and marks IMDS unreachable; the next successful
 * answer marks it reachable again. After a long outage the poll interval backs off, capped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/imds.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

#define TOKEN_RENEW_MARGIN_USEC  (5 * USEC_PER_MINUTE)
#define CREDS_REFRESH_AHEAD_USEC (15 * USEC_PER_MINUTE)
#define RETRY_MIN_USEC           (1 * USEC_PER_SEC)
#define RETRY_MAX_USEC           (60 * USEC_PER_SEC)
#define POLL_BACKOFF_AFTER       30                    /* consecutive failed polls before slowing down */
#define POLL_BACKOFF_MAX_USEC    (10 * USEC_PER_SEC)   /* so recovery is seen within 10 s at worst */
#define ROLE_RECHECK_USEC        (5 * USEC_PER_MINUTE) /* an instance profile can be attached later */
#define NOTICES_FILE             "imds-notices.json"
#define NOTICES_MAX_BYTES        (256U * 1024U)
#define PATH_MAX_LEN             384 /* the longest: iam/security-credentials/ plus a role name */
#define ASG_TAG_PATH             "/latest/meta-data/tags/instance/aws:autoscaling:groupName"

typedef enum Kind {
        KIND_SPOT,
        KIND_REBALANCE,
        KIND_LIFECYCLE,
        KIND_SCHEDULED,
        KIND_IDENTITY,
        KIND_ASG_TAG,
        KIND_ROLE,
        KIND_CREDENTIALS,
} Kind;

typedef struct Req Req;
struct Req {
        Imds *imds;
        Kind kind;
        char path[PATH_MAX_LEN];
        bool retried;       /* after a 401 */
        unsigned token_gen; /* the token it was sent with */
        HttpCall *call;
        Req *next; /* in the list waiting for a token, or in flight */
};

struct Imds {
        sd_event *event;
        Http *http;
        EventSink sink;
        char *endpoint;
        char *endpoint_shown; /* url_redact(endpoint): for logs and status */
        char *state_dir;
        ImdsOptions opts;

        char token[256];
        usec_t token_expiry; /* monotonic; 0: none */
        unsigned token_gen;  /* counts tokens, so a late 401 for an old one cannot drop a new one */
        HttpCall *token_call;
        Req *waiting; /* requests waiting for a token */
        Req *in_flight;

        sd_event_source *poll_timer, *scheduled_timer, *identity_timer, *creds_timer;
        unsigned poll_outstanding;
        bool poll_round_failed;
        unsigned poll_failures; /* consecutive rounds with a failure */
        unsigned identity_failures, creds_failures;

        bool have_identity;
        InstanceIdentity identity;
        bool asg_known;
        char asg_name[256];
        char role[IMDS_ID_MAX];
        bool have_creds;
        AwsCredentials creds;

        ImdsNotices notices;

        bool reachable;
        usec_t last_ok_at; /* realtime */
        char last_error[256];
};

static const struct {
        const char *path;
        const char *name;
} kinds[] = {
        [KIND_SPOT] = { "/latest/meta-data/spot/instance-action", "spot notice" },
        [KIND_REBALANCE] = { "/latest/meta-data/events/recommendations/rebalance",
                             "rebalance recommendation" },
        [KIND_LIFECYCLE] = { "/latest/meta-data/autoscaling/target-lifecycle-state", "lifecycle state" },
        [KIND_SCHEDULED] = { "/latest/meta-data/events/maintenance/scheduled", "scheduled events" },
        [KIND_IDENTITY] = { "/latest/dynamic/instance-identity/document", "identity" },
        [KIND_ASG_TAG] = { ASG_TAG_PATH, "Auto Scaling group tag" },
        [KIND_ROLE] = { "/latest/meta-data/iam/security-credentials/", "instance profile" },
        [KIND_CREDENTIALS] = { NULL, "instance-profile credentials" },
};

static void imds_send(Imds *m, Req *q);
static void imds_fetch(Imds *m, Kind kind, const char *path);
static void token_request(Imds *m);

/* ---- reachability ---- */

static void mark_ok(Imds *m) {
        if (!m->reachable && m->last_error[0])
                log_notice("IMDS answers again (%s).", m->endpoint_shown);
        m->reachable = true;
        m->last_ok_at = now_usec(CLOCK_REALTIME);
        m->last_error[0] = 0;
}

_printf_(2, 3) static void mark_failed(Imds *m, const char *fmt, ...) {
        va_list ap;
        bool was = m->reachable || !m->last_error[0];

        va_start(ap, fmt);
        (void) vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
        va_end(ap);
        if (was)
                log_warning("IMDS at %s is not usable, keeping what was known: %s", m->endpoint_shown,
                            m->last_error);
        m->reachable = false;
}

/* ---- persistence of the known notices, so a restart repeats no event ---- */

static void notices_save(Imds *m) {
        _cleanup_json_ cJSON *j = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if (!m->state_dir)
                return;
        if (!(j = imds_notices_to_json(&m->notices, false)) || !(text = cJSON_PrintUnformatted(j)))
                return (void) log_oom();
        r = write_file_atomic(m->state_dir, NOTICES_FILE, text, strlen(text), 0640);
        if (r < 0)
                log_warning_errno(r, "Cannot save %s/%s: %m", m->state_dir, NOTICES_FILE);
}

int imds_notices_load(const char *state_dir, ImdsNotices *ret) {
        _cleanup_json_ cJSON *j = NULL;
        int r;

        r = state_load_json(state_dir, NOTICES_FILE, NOTICES_MAX_BYTES, &j);
        if (r <= 0)
                return r; /* absent (0), set aside or unreadable (< 0, logged) */
        r = imds_notices_from_json(j, ret);
        if (r < 0)
                (void) state_set_aside(state_dir, NOTICES_FILE, "not a notices document");
        return r < 0 ? r : 1;
}

static void notices_load(Imds *m) {
        ImdsNotices n = {};

        if (m->state_dir && imds_notices_load(m->state_dir, &n) > 0)
                m->notices = n;
}

/* ---- results ---- */

static void handle_absent(Imds *m, Kind kind) {
        bool changed = false;

        switch (kind) {
        case KIND_SPOT:
                changed = imds_observe_spot(&m->notices, NULL, &m->sink);
                break;
        case KIND_REBALANCE:
                changed = imds_observe_rebalance(&m->notices, 0, &m->sink);
                break;
        case KIND_LIFECYCLE:
                changed = imds_observe_lifecycle(&m->notices, "", &m->sink);
                break;
        case KIND_SCHEDULED:
                changed = imds_observe_scheduled(&m->notices, NULL, 0, &m->sink);
                break;
        case KIND_ASG_TAG:
                m->asg_known = true; /* not in a group, or tags not in metadata */
                m->asg_name[0] = 0;
                break;
        case KIND_IDENTITY:
        case KIND_ROLE:
        case KIND_CREDENTIALS:
                break; /* handled as failures by the caller */
        }
        if (changed)
                notices_save(m);
}

/* Parses a 200 body for KIND. Returns 0, or a negative errno when the body is malformed. */
static int handle_body(Imds *m, Kind kind, const char *body, size_t len) {
        bool changed = false;
        int r = 0;

        switch (kind) {
        case KIND_SPOT: {
                SpotNotice n;
                if ((r = imds_parse_spot(body, len, &n)) >= 0)
                        changed = imds_observe_spot(&m->notices, &n, &m->sink);
                break;
        }
        case KIND_REBALANCE: {
                usec_t t;
                if ((r = imds_parse_rebalance(body, len, &t)) >= 0)
                        changed = imds_observe_rebalance(&m->notices, t, &m->sink);
                break;
        }
        case KIND_LIFECYCLE: {
                char state[64];
                if ((r = imds_parse_lifecycle_state(body, len, state)) >= 0)
                        changed = imds_observe_lifecycle(&m->notices, state, &m->sink);
                break;
        }
        case KIND_SCHEDULED: {
                ScheduledEvent list[IMDS_MAX_SCHEDULED];
                int n = imds_parse_scheduled(body, len, list);
                if ((r = n) >= 0)
                        changed = imds_observe_scheduled(&m->notices, list, (size_t) n, &m->sink);
                break;
        }
        case KIND_IDENTITY:
                if ((r = imds_parse_identity(body, len, &m->identity)) >= 0) {
                        unsigned rej = m->identity.rejected;
                        if (!m->have_identity && rej)
                                log_warning("Ignoring the %s IMDS gave: not [a-z0-9-]{1,32}; AWS calls need "
                                            "aws.region or $AWS_REGION.",
                                            rej == (IMDS_REJECTED_REGION | IMDS_REJECTED_AZ)
                                                    ? "region and availability zone"
                                            : rej & IMDS_REJECTED_REGION ? "region"
                                                                         : "availability zone");
                        if (!m->have_identity)
                                log_info("On EC2: %s (%s) in %s.", m->identity.instance_id,
                                         m->identity.instance_type,
                                         m->identity.availability_zone[0] ? m->identity.availability_zone
                                                                          : "an unknown zone");
                        m->have_identity = true;
                        imds_fetch(m, KIND_ASG_TAG, NULL);
                }
                break;
        case KIND_ASG_TAG:
                if ((r = imds_parse_word(body, len, m->asg_name, sizeof m->asg_name)) >= 0)
                        m->asg_known = true;
                break;
        case KIND_ROLE:
                if ((r = imds_parse_role(body, len, m->role)) >= 0) {
                        char path[PATH_MAX_LEN];
                        snprintf(path, sizeof path, "%s%s", kinds[KIND_ROLE].path, m->role);
                        imds_fetch(m, KIND_CREDENTIALS, path);
                }
                break;
        case KIND_CREDENTIALS: {
                AwsCredentials c;
                if ((r = imds_parse_credentials(body, len, &c)) >= 0) {
                        m->creds = c;
                        m->have_creds = true;
                }
                break;
        }
        }
        if (changed)
                notices_save(m);
        return r;
}

/* 1 s after the first failure, doubling up to a minute. */
static usec_t imds_backoff(unsigned failures) {
        return backoff_usec(RETRY_MIN_USEC, failures > 0 ? failures - 1 : 0, RETRY_MAX_USEC);
}

static void schedule(sd_event_source *s, usec_t delay) {
        (void) sd_event_source_set_time_relative(s, delay);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* Every request ends here once: success (a body or a 404) or failure. */
static void req_done(Imds *m, Req *q, bool ok) {
        switch (q->kind) {
        case KIND_SPOT:
        case KIND_REBALANCE:
        case KIND_LIFECYCLE:
                m->poll_round_failed = m->poll_round_failed || !ok;
                if (m->poll_outstanding > 0 && --m->poll_outstanding == 0) {
                        m->poll_failures = m->poll_round_failed ? m->poll_failures + 1 : 0;
                        m->poll_round_failed = false;
                }
                break;
        case KIND_IDENTITY:
        case KIND_ASG_TAG:
                if (ok)
                        m->identity_failures = 0;
                else
                        schedule(m->identity_timer, imds_backoff(++m->identity_failures));
                break;
        case KIND_ROLE:
        case KIND_CREDENTIALS:
                if (ok) {
                        m->creds_failures = 0;
                        if (q->kind == KIND_CREDENTIALS) {
                                /* Refresh well before Expiration; new keys appear 5 min ahead at least. */
                                usec_t now = now_usec(CLOCK_REALTIME), at = m->creds.expiration;
                                usec_t delay = at > now + CREDS_REFRESH_AHEAD_USEC + RETRY_MAX_USEC
                                                       ? at - now - CREDS_REFRESH_AHEAD_USEC
                                                       : RETRY_MAX_USEC;
                                schedule(m->creds_timer, delay);
                        }
                } else
                        schedule(m->creds_timer, imds_backoff(++m->creds_failures) * 5);
                break;
        case KIND_SCHEDULED:
                break;
        }
}

static void req_unlink(Imds *m, Req *q) {
        for (Req **p = &m->in_flight; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        break;
                }
}

static void on_get(const HttpResponse *resp, void *userdata) {
        Req *q = userdata;
        Imds *m = q->imds;
        const char *what = kinds[q->kind].name;
        bool ok = false;
        int r;

        req_unlink(m, q);
        q->call = NULL;
        if (resp->error < 0)
                mark_failed(m, "%s: %s", what, resp->error_message ?: strerror(-resp->error));
        else if (resp->status == 401 && !q->retried) {
                /* The token expired or was revoked: drop it, get a new one, try once more. */
                if (q->token_gen == m->token_gen)
                        m->token_expiry = 0;
                q->retried = true;
                imds_send(m, q);
                return;
        } else if (resp->status == 404) {
                bool absent_is_answer =
                        q->kind != KIND_IDENTITY && q->kind != KIND_ROLE && q->kind != KIND_CREDENTIALS;
                if (absent_is_answer) {
                        mark_ok(m);
                        handle_absent(m, q->kind);
                        ok = true;
                } else if (q->kind == KIND_ROLE) {
                        /* No instance profile yet; one can be attached to a running instance. */
                        mark_ok(m);
                        schedule(m->creds_timer, ROLE_RECHECK_USEC);
                        ok = true;
                } else
                        mark_failed(m, "%s: HTTP 404", what);
        } else if (resp->status == 200) {
                r = handle_body(m, q->kind, resp->body, resp->body_len);
                if (r < 0)
                        mark_failed(m, "%s: malformed answer (%s)", what, strerror(-r));
                else {
                        mark_ok(m);
                        ok = true;
                }
        } else
                mark_failed(m, "%s: HTTP %ld", what, resp->status);
        req_done(m, q, ok);
        free(q);
}

static void imds_send(Imds *m, Req *q) {
        _cleanup_free_ char *url = NULL;
        char header[300];
        int r;

        if (m->token_expiry <= now_usec(CLOCK_MONOTONIC)) {
                /* Wait for a token; one PUT serves every waiting request. */
                q->next = m->waiting;
                m->waiting = q;
                if (!m->token_call)
                        token_request(m);
                return;
        }
        if (asprintf(&url, "%s%s", m->endpoint, q->path) < 0) {
                url = NULL;
                log_oom();
                req_done(m, q, false);
                free(q);
                return;
        }
        snprintf(header, sizeof header, "X-aws-ec2-metadata-token: %s", m->token);
        const char *headers[] = { header, NULL };
        HttpRequest req = { .method = "GET",
                            .url = url,
                            .headers = headers,
                            .timeout_ms = m->opts.timeout_ms,
                            .max_response = IMDS_MAX_BODY };
        q->token_gen = m->token_gen;
        r = http_submit(m->http, &req, on_get, q, &q->call);
        if (r < 0) {
                mark_failed(m, "%s: %s", kinds[q->kind].name, strerror(-r));
                req_done(m, q, false);
                free(q);
                return;
        }
        q->next = m->in_flight;
        m->in_flight = q;
}

static void on_token(const HttpResponse *resp, void *userdata) {
        Imds *m = userdata;
        Req *waiting = m->waiting;
        char token[256];
        bool ok = false;

        m->token_call = NULL;
        m->waiting = NULL;
        if (resp->error < 0) {
                mark_failed(m, "token: %s", resp->error_message ?: strerror(-resp->error));
                if (resp->error == -ETIMEDOUT)
                        log_debug(
                                "IMDSv2 token request timed out: in a container behind a bridge, raise the "
                                "instance's metadata hop limit (HttpPutResponseHopLimit) to 2.");
        } else if (resp->status != 200)
                mark_failed(m, "token: HTTP %ld", resp->status);
        else if (imds_parse_word(resp->body, resp->body_len, token, sizeof token) < 0)
                mark_failed(m, "token: malformed answer");
        else {
                memcpy(m->token, token, sizeof token);
                m->token_gen++;
                m->token_expiry = now_usec(CLOCK_MONOTONIC) + IMDS_TOKEN_TTL_S * USEC_PER_SEC -
                                  TOKEN_RENEW_MARGIN_USEC;
                ok = true;
        }
        while (waiting) {
                Req *q = waiting;
                waiting = q->next;
                if (ok)
                        imds_send(m, q);
                else {
                        req_done(m, q, false);
                        free(q);
                }
        }
}

static void token_request(Imds *m) {
        static const char *const headers[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
        _cleanup_free_ char *url = NULL;
        int r;

        if (asprintf(&url, "%s/latest/api/token", m->endpoint) < 0) {
                url = NULL;
                HttpResponse fail = { .error = -ENOMEM };
                on_token(&fail, m);
                return;
        }
        HttpRequest req = { .method = "PUT",
                            .url = url,
                            .headers = headers,
                            .timeout_ms = m->opts.timeout_ms,
                            .max_response = 1024 };
        r = http_submit(m->http, &req, on_token, m, &m->token_call);
        if (r < 0) {
                HttpResponse fail = { .error = r };
                on_token(&fail, m);
        }
}

static void imds_fetch(Imds *m, Kind kind, const char *path) {
        Req *q = calloc(1, sizeof(Req));
        if (!q) {
                log_oom();
                return;
        }
        q->imds = m;
        q->kind = kind;
        snprintf(q->path, sizeof q->path, "%s", path ?: kinds[kind].path);
        imds_send(m, q);
}

/* ---- timers ---- */

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Imds *m = userdata;
        usec_t interval = m->opts.poll_interval_s * USEC_PER_SEC;
        (void) usec;

        /* A slow IMDS must not pile up requests: skip a round while the last one is out. */
        if (m->poll_outstanding == 0) {
                m->poll_outstanding = 3;
                imds_fetch(m, KIND_SPOT, NULL);
                imds_fetch(m, KIND_REBALANCE, NULL);
                imds_fetch(m, KIND_LIFECYCLE, NULL);
        }
        if (m->poll_failures > POLL_BACKOFF_AFTER) {
                unsigned extra = MIN(m->poll_failures - POLL_BACKOFF_AFTER, 10u);
                interval = backoff_usec(interval, extra, MAX(POLL_BACKOFF_MAX_USEC, interval));
        }
        return sd_event_source_set_time_relative(s, interval);
}

static int on_scheduled(sd_event_source *s, uint64_t usec, void *userdata) {
        Imds *m = userdata;
        (void) usec;
        imds_fetch(m, KIND_SCHEDULED, NULL);
        return sd_event_source_set_time_relative(s, m->opts.scheduled_interval_s * USEC_PER_SEC);
}

static int on_identity(sd_event_source *s, uint64_t usec, void *userdata) {
        Imds *m = userdata;
        (void) s;
        (void) usec;
        imds_fetch(m, m->have_identity ? KIND_ASG_TAG : KIND_IDENTITY, NULL);
        return 0;
}

static int on_creds(sd_event_source *s, uint64_t usec, void *userdata) {
        Imds *m = userdata;
        (void) s;
        (void) usec;
        imds_fetch(m, KIND_ROLE, NULL);
        return 0;
}

static int add_timer(Imds *m, sd_event_source **s, usec_t first, sd_event_time_handler_t cb,
                     const char *name, bool repeat) {
        int r = sd_event_add_time_relative(m->event, s, CLOCK_MONOTONIC, first, 10 * USEC_PER_MSEC, cb, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(*s, name);
        return sd_event_source_set_enabled(*s, repeat ? SD_EVENT_ON : SD_EVENT_ONESHOT);
}

int imds_new(sd_event *event, Http *http, const ImdsOptions *opts, const EventSink *sink, Imds **ret) {
        _cleanup_(imds_freep) Imds *m = calloc(1, sizeof(Imds));
        int r;

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->http = http;
        m->sink = *sink;
        m->opts = *opts;
        if (!(m->endpoint = strdup(opts->endpoint)) ||
            (opts->state_dir && !(m->state_dir = strdup(opts->state_dir))))
                return -ENOMEM;
        /* "http://169.254.169.254/" and "…254" are the same base. */
        size_t n = strlen(m->endpoint);
        while (n > 0 && m->endpoint[n - 1] == '/')
                m->endpoint[--n] = 0;
        m->opts.endpoint = m->endpoint;
        if (!(m->endpoint_shown = url_redact(m->endpoint)))
                return -ENOMEM;
        m->opts.state_dir = m->state_dir;
        notices_load(m);

        if ((r = add_timer(m, &m->identity_timer, 0, on_identity, "imds-identity", false)) < 0 ||
            (r = add_timer(m, &m->poll_timer, 0, on_poll, "imds-poll", true)) < 0 ||
            (r = add_timer(m, &m->scheduled_timer, 0, on_scheduled, "imds-scheduled", true)) < 0)
                return r;
        if (opts->fetch_credentials &&
            (r = add_timer(m, &m->creds_timer, 0, on_creds, "imds-credentials", false)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Imds *imds_free(Imds *m) {
        if (!m)
                return NULL;
        http_call_cancel(m->token_call);
        while (m->in_flight) {
                Req *q = m->in_flight;
                m->in_flight = q->next;
                http_call_cancel(q->call);
                free(q);
        }
        while (m->waiting) {
                Req *q = m->waiting;
                m->waiting = q->next;
                free(q);
        }
        sd_event_source_disable_unref(m->poll_timer);
        sd_event_source_disable_unref(m->scheduled_timer);
        sd_event_source_disable_unref(m->identity_timer);
        sd_event_source_disable_unref(m->creds_timer);
        sd_event_unref(m->event);
        free(m->endpoint);
        free(m->endpoint_shown);
        free(m->state_dir);
        explicit_bzero(&m->creds, sizeof m->creds);
        explicit_bzero(m->token, sizeof m->token);
        free(m);
        return NULL;
}

const InstanceIdentity *imds_identity(const Imds *m) {
        return m->have_identity ? &m->identity : NULL;
}

const char *imds_asg_name(const Imds *m) {
        return m->asg_known && m->asg_name[0] ? m->asg_name : NULL;
}

bool imds_asg_known(const Imds *m) {
        return m->asg_known;
}

const AwsCredentials *imds_credentials(const Imds *m) {
        return m->have_creds ? &m->creds : NULL;
}

/* IMDS is disabled: not on EC2, nothing known, every notice null. */
static int imds_status_absent(cJSON *doc) {
        cJSON *inst = cJSON_CreateObject(), *im = cJSON_CreateObject(), *notices = cJSON_CreateObject();

        if (!inst || !im || !notices || !cJSON_AddBoolToObject(inst, "on_ec2", false) ||
            !cJSON_AddNullToObject(inst, "instance_id") || !cJSON_AddNullToObject(inst, "instance_type") ||
            !cJSON_AddNullToObject(inst, "region") || !cJSON_AddNullToObject(inst, "availability_zone") ||
            !cJSON_AddNullToObject(inst, "ami_id") || !cJSON_AddNullToObject(inst, "asg_name") ||
            !cJSON_AddBoolToObject(im, "enabled", false) || !cJSON_AddBoolToObject(im, "reachable", false) ||
            !cJSON_AddNullToObject(im, "last_ok_at") || !cJSON_AddNullToObject(im, "last_error") ||
            !cJSON_AddNullToObject(im, "endpoint") || !cJSON_AddArrayToObject(im, "rejected") ||
            !cJSON_AddNullToObject(notices, "spot") || !cJSON_AddNullToObject(notices, "rebalance") ||
            !cJSON_AddNullToObject(notices, "asg_target_lifecycle_state") ||
            !cJSON_AddArrayToObject(notices, "scheduled")) {
                cJSON_Delete(inst);
                cJSON_Delete(im);
                cJSON_Delete(notices);
                return -ENOMEM;
        }
        int r = json_replace(doc, "instance", inst);
        int k = json_replace(doc, "imds", im);
        int l = json_replace(doc, "notices", notices);
        return r < 0 ? r : k < 0 ? k : l;
}

int imds_status(const Imds *m, cJSON *doc) {
        if (!m)
                return imds_status_absent(doc);
        const InstanceIdentity *id = imds_identity(m);
        cJSON *inst = cJSON_CreateObject(), *im = cJSON_CreateObject(), *notices, *rejected;

        if (!inst || !im || !cJSON_AddBoolToObject(inst, "on_ec2", id != NULL) ||
            !json_add_string_or_null(inst, "instance_id", id ? id->instance_id : NULL) ||
            !json_add_string_or_null(inst, "instance_type", id ? id->instance_type : NULL) ||
            !json_add_string_or_null(inst, "region", id && id->region[0] ? id->region : NULL) ||
            !json_add_string_or_null(inst, "availability_zone",
                                     id && id->availability_zone[0] ? id->availability_zone : NULL) ||
            !json_add_string_or_null(inst, "ami_id", id ? id->ami_id : NULL) ||
            !json_add_string_or_null(inst, "asg_name", imds_asg_name(m)) ||
            !cJSON_AddBoolToObject(im, "enabled", true) ||
            !cJSON_AddBoolToObject(im, "reachable", m->reachable) ||
            !json_add_time(im, "last_ok_at", m->last_ok_at) ||
            !json_add_string_or_null(im, "last_error", m->last_error[0] ? m->last_error : NULL) ||
            !cJSON_AddStringToObject(im, "endpoint", m->endpoint_shown) ||
            !(rejected = cJSON_AddArrayToObject(im, "rejected")) ||
            (id && (id->rejected & IMDS_REJECTED_REGION) &&
             !cJSON_AddItemToArray(rejected, cJSON_CreateString("region"))) ||
            (id && (id->rejected & IMDS_REJECTED_AZ) &&
             !cJSON_AddItemToArray(rejected, cJSON_CreateString("availability_zone"))) ||
            !cJSON_AddBoolToObject(im, "credentials", m->have_creds) ||
            !(notices = imds_notices_to_json(&m->notices, true))) {
                cJSON_Delete(inst);
                cJSON_Delete(im);
                return -ENOMEM;
        }
        if (!cJSON_AddBoolToObject(notices, "stale", !m->reachable)) {
                cJSON_Delete(inst);
                cJSON_Delete(im);
                cJSON_Delete(notices);
                return -ENOMEM;
        }
        /* Each call takes its item over, so all three run; the first error is returned. */
        int r = json_replace(doc, "instance", inst);
        int k = json_replace(doc, "imds", im);
        int l = json_replace(doc, "notices", notices);
        return r < 0 ? r : k < 0 ? k : l;
}
