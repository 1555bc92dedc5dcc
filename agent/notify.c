/* notify.c — alerts posted to Slack, Teams and PagerDuty: one NotifyCall per POST, retried with
 * full-jitter backoff (1 s doubling to 20 s, SPEC §9) on network errors, 429 and 5xx until its owner
 * cancels it; a 4xx ends it with the service's words (alert_refusal), never retried. PagerDuty
 * incidents opened are remembered in pagerduty.json (incidents.c) and resolved when the trouble
 * ends, also after a restart. URLs and routing keys are secrets: errors are scrubbed of them and
 * targets shown through url_redact(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/aws.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "ec2agent/notify.h"

#define RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define RETRY_CAP_USEC  (20 * USEC_PER_SEC)
#define RESOLVE_GIVE_UP (24 * USEC_PER_HOUR) /* a resolve retried this long is left for the next start */
#define POST_TIMEOUT_MS 10000
#define MAX_RESOLVES    64

struct NotifyCall {
        Notifier *notifier;
        char *url, *routing_key, *body;
        AlertFormat format;
        bool trigger; /* a PagerDuty trigger: remember the incident when accepted */
        bool resolve; /* a resolve the notifier owns */
        char dedup_key[ALERT_DEDUP_KEY_MAX + 1];
        char rule[65], instance[160];
        unsigned step;
        usec_t give_up; /* monotonic; 0: until cancelled */
        unsigned attempt;
        HttpCall *call;
        sd_event_source *timer; /* retry, or the first send */
        char note[NOTIFY_ERROR_MAX];
        NotifyDone done;
        void *userdata;
};

struct Notifier {
        sd_event *event;
        Http *http;
        Incidents *incidents;
        NotifyCall *resolves[MAX_RESOLVES];
        size_t n_resolves;
        uint64_t posted, refused;
        char last_error[NOTIFY_ERROR_MAX];
};

static void call_free(NotifyCall *c) {
        if (!c)
                return;
        http_call_cancel(c->call);
        sd_event_source_disable_unref(c->timer);
        free(c->url);
        if (c->routing_key)
                explicit_bzero(c->routing_key, strlen(c->routing_key));
        free(c->routing_key);
        if (c->body)
                explicit_bzero(c->body, strlen(c->body));
        free(c->body);
        free(c);
}

void notify_call_cancel(NotifyCall *c) {
        call_free(c);
}

const char *notify_call_note(const NotifyCall *c) {
        return c ? c->note : "";
}

int notifier_new(sd_event *event, Http *http, const char *state_dir, Notifier **ret) {
        _cleanup_(notifier_freep) Notifier *n = calloc(1, sizeof(Notifier));
        int r;

        if (!n)
                return -ENOMEM;
        n->event = event;
        n->http = http;
        if ((r = incidents_load(state_dir, &n->incidents)) < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

Notifier *notifier_free(Notifier *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_resolves; i++)
                call_free(n->resolves[i]);
        incidents_free(n->incidents);
        free(n);
        return NULL;
}

void notify_target_text(const NotifyTarget *t, char *ret, size_t max) {
        _cleanup_free_ char *u = url_redact(t->url);
        snprintf(ret, max, "%s %s", alert_format_to_string(t->format) ?: "?", u ?: "?");
}

/* Removes the URL's path and query, and the routing key, from TEXT wherever they appear (curl's
 * messages may repeat a URL), in place. */
static void scrub(const NotifyCall *c, char *text) {
        const char *host = strstr(c->url, "://");
        const char *path = host ? host + 3 + strcspn(host + 3, "/?#") : NULL;
        const char *secrets[] = { c->url, path && strlen(path) > 1 ? path : NULL, c->routing_key };

        for (size_t i = 0; i < ELEMENTSOF(secrets); i++) {
                size_t len = secrets[i] ? strlen(secrets[i]) : 0;
                if (len < 4)
                        continue;
                for (char *p = text; (p = strstr(p, secrets[i]));) {
                        memmove(p + 3, p + len, strlen(p + len) + 1);
                        memcpy(p, "***", 3);
                        p += 3;
                }
        }
}

static void call_end(NotifyCall *c, int r, const char *error);
static void on_reply(const HttpResponse *resp, void *userdata);

static int send_call(NotifyCall *c) {
        const char *headers[] = { "Content-Type: application/json", NULL };
        HttpRequest req = { .method = "POST",
                            .url = c->url,
                            .headers = headers,
                            .body = c->body,
                            .body_len = strlen(c->body),
                            .timeout_ms = POST_TIMEOUT_MS };
        return http_submit(c->notifier->http, &req, on_reply, c, &c->call);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        NotifyCall *c = userdata;
        int r;
        (void) s;
        (void) usec;
        c->timer = sd_event_source_disable_unref(c->timer);
        if ((r = send_call(c)) < 0)
                call_end(c, r, strerror(-r));
        return 0;
}

static void retry_later(NotifyCall *c) {
        usec_t delay = aws_backoff(++c->attempt, RETRY_BASE_USEC, RETRY_CAP_USEC, random_unit());
        if (c->give_up && now_usec(CLOCK_MONOTONIC) + delay > c->give_up)
                return call_end(c, -ETIMEDOUT, c->note);
        if (sd_event_add_time_relative(c->notifier->event, &c->timer, CLOCK_MONOTONIC, delay, 1, on_timer,
                                       c) < 0)
                call_end(c, -ENOMEM, "out of memory");
}

static void on_reply(const HttpResponse *resp, void *userdata) {
        NotifyCall *c = userdata;
        char why[ALERT_ERROR_MAX], text[NOTIFY_ERROR_MAX];

        c->call = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300)
                return call_end(c, 0, NULL);
        if (resp->error == 0 && resp->status >= 400 && resp->status < 500 && resp->status != 429) {
                alert_refusal(resp->body, resp->body_len, why);
                snprintf(text, sizeof text, "HTTP %ld%s%.200s", resp->status, why[0] ? ": " : "", why);
                scrub(c, text);
                return call_end(c, -EREMOTEIO, text);
        }
        if (resp->error < 0)
                snprintf(c->note, sizeof c->note, "%s (retrying)",
                         resp->error_message ?: strerror(-resp->error));
        else
                snprintf(c->note, sizeof c->note, "HTTP %ld (retrying)", resp->status);
        scrub(c, c->note);
        retry_later(c);
}

static void resolve_forget(Notifier *n, NotifyCall *c) {
        for (size_t i = 0; i < n->n_resolves; i++)
                if (n->resolves[i] == c) {
                        memmove(n->resolves + i, n->resolves + i + 1,
                                (n->n_resolves - i - 1) * sizeof(NotifyCall *));
                        n->n_resolves--;
                        return;
                }
}

static void call_end(NotifyCall *c, int r, const char *error) {
        Notifier *n = c->notifier;
        NotifyDone done = c->done;
        void *u = c->userdata;
        char e[NOTIFY_ERROR_MAX];

        snprintf(e, sizeof e, "%s", error ?: "");
        if (r >= 0) {
                n->posted++;
                if (c->trigger)
                        (void) incidents_open(n->incidents, c->dedup_key, c->rule, c->step, c->instance,
                                              now_usec(CLOCK_REALTIME));
                if (c->resolve && incidents_close(n->incidents, c->dedup_key) > 0)
                        log_info("PagerDuty incident %s resolved.", c->dedup_key);
        } else {
                n->refused += r == -EREMOTEIO;
                snprintf(n->last_error, sizeof n->last_error, "%s %s: %.200s",
                         alert_format_to_string(c->format), c->resolve ? "resolve" : "post", e);
                if (c->resolve)
                        log_warning("PagerDuty resolve of %s failed: %s (kept for the next start)",
                                    c->dedup_key, e);
        }
        if (c->resolve)
                resolve_forget(n, c);
        call_free(c);
        if (done)
                done(r, r < 0 ? e : NULL, u);
}

static int call_new(Notifier *n, const NotifyTarget *t, const AlertFacts *f, unsigned step,
                    const char *instance, NotifyCall **ret) {
        NotifyCall *c = calloc(1, sizeof(NotifyCall));
        int r;

        if (!c)
                return -ENOMEM;
        c->notifier = n;
        c->format = t->format;
        c->step = step;
        alert_dedup_key(f->instance_id, f->rule, c->dedup_key);
        snprintf(c->rule, sizeof c->rule, "%s", f->rule ?: "");
        snprintf(c->instance, sizeof c->instance, "%s", instance ?: "metric");
        if (!(c->url = strdup(t->url)) || (t->routing_key && !(c->routing_key = strdup(t->routing_key)))) {
                call_free(c);
                return -ENOMEM;
        }
        if ((r = alert_payload(t->format, f, t->routing_key, &c->body)) < 0) {
                call_free(c);
                return r;
        }
        /* the first send from the loop: DONE is never called from inside the caller */
        if (sd_event_add_time(n->event, &c->timer, CLOCK_MONOTONIC, 0, 1, on_timer, c) < 0) {
                call_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int notifier_post(Notifier *n, const NotifyTarget *t, const AlertFacts *f, unsigned step,
                  const char *instance, NotifyDone done, void *userdata, NotifyCall **ret) {
        NotifyCall *c;
        int r;

        if ((r = call_new(n, t, f, step, instance, &c)) < 0)
                return r;
        c->trigger = t->format == ALERT_PAGERDUTY && !f->resolved;
        c->done = done;
        c->userdata = userdata;
        *ret = c;
        return 0;
}

size_t notifier_resolve(Notifier *n, const char *rule, const char *instance, const AlertFacts *f,
                        NotifyLookup lookup, void *userdata) {
        const Incident *open[16];
        size_t found = incidents_find(n->incidents, rule, instance, open, ELEMENTSOF(open)), started = 0;

        for (size_t i = 0; i < found; i++) {
                AlertFacts rf = *f;
                NotifyTarget t;
                NotifyCall *c;
                bool busy = false;

                for (size_t k = 0; k < n->n_resolves; k++)
                        busy = busy || strcmp(n->resolves[k]->dedup_key, open[i]->dedup_key) == 0;
                if (busy || n->n_resolves >= MAX_RESOLVES)
                        continue;
                if (lookup(open[i]->rule, open[i]->step, &t, userdata) < 0 || t.format != ALERT_PAGERDUTY) {
                        log_warning("PagerDuty incident %s: its rule's notify step is gone; forgetting it",
                                    open[i]->dedup_key);
                        (void) incidents_close(n->incidents, open[i]->dedup_key);
                        continue;
                }
                rf.resolved = true;
                rf.rule = open[i]->rule;
                if (call_new(n, &t, &rf, open[i]->step, open[i]->instance, &c) < 0)
                        continue;
                /* the key of the trigger, even if the instance id was unknown then */
                snprintf(c->dedup_key, sizeof c->dedup_key, "%s", open[i]->dedup_key);
                c->resolve = true;
                c->give_up = now_usec(CLOCK_MONOTONIC) + RESOLVE_GIVE_UP;
                n->resolves[n->n_resolves++] = c;
                started++;
        }
        return started;
}

int notifier_status(const Notifier *n, cJSON *doc) {
        cJSON *o = cJSON_AddObjectToObject(doc, "notify");
        if (!o || incidents_status(n ? n->incidents : NULL, o) < 0 ||
            !cJSON_AddNumberToObject(o, "resolves_in_flight", n ? (double) n->n_resolves : 0) ||
            !cJSON_AddNumberToObject(o, "posted", n ? (double) n->posted : 0) ||
            !cJSON_AddNumberToObject(o, "refused", n ? (double) n->refused : 0) ||
            !json_add_string_or_null(o, "last_error", n && n->last_error[0] ? n->last_error : NULL))
                return -ENOMEM;
        return 0;
}
