/* engine.c — rules: events and metric windows in, runs of steps out, persisted across crashes.
 *
 * A rule fires at most once per event instance (engine_instance_key) and never inside its
 * cooldown; a scheduled event with before_s fires that long before its NotBefore. Each firing is
 * a Run: its actions (one per unit of a stop/restart step, one per other step) go pending →
 * running → done | failed | timed-out | skipped, in order; a failed one stops the run only with
 * on_failure "abort". No action outlives the event's deadline. The whole state is rewritten to
 * STATE_DIR/actions.json (atomically) at every change, so after a crash or SIGKILL the run goes
 * on where it stopped: an action that was running runs again, finished ones do not.
 *
 * Executors: stop/restart through systemd's D-Bus API (StopUnit/RestartUnit "replace", then the
 * job's JobRemoved signal); exec as a transient unit under systemd (StartTransientUnit, stopped at
 * the timeout), else by fork/execve in its own process group (SIGTERM at the timeout, SIGKILL 5 s
 * later, output to the log); complete_lifecycle_action through the Auto Scaling
 * Query API with RecordLifecycleActionHeartbeat every heartbeat_s while earlier steps run;
 * notify through SNS Publish or a webhook POST; reboot through reboot.target, at most
 * max_per_day, counted across reboots. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-login.h>

#include "ec2agent/aws.h"
#include "ec2agent/engine.h"
#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define MAX_INSTANCES      64   /* remembered event instances per rule */
#define MAX_FINISHED_RUNS  20   /* kept for status and actions.json; older ones are forgotten */
#define MAX_RUNNING_RUNS   8    /* runs of one rule at a time; later firings wait, in order */
#define MAX_QUEUED_RUNS    1000 /* firings of one rule waiting for a slot; more are dropped */
#define ANNOUNCE_BUDGET    64   /* rule-fired events written per loop iteration */
#define SAVE_GAP_USEC      (50 * USEC_PER_MSEC) /* between two saves: the loop answers status */
#define SYNC_SAVES_PER_SEC 4 /* firings saved before engine_on_event returns; a burst waits */
#define ENGINE_STATE_MAX   (16 * 1024 * 1024)
#define KILL_AFTER_USEC    (5 * USEC_PER_SEC)
#define EXEC_OUTPUT_MAX    4096        /* bytes of one output line logged */
#define EXEC_READ_BUDGET   (64 * 1024) /* bytes of a step's output read per loop iteration */
#define EXEC_LOG_MAX                                                            \
        (64 * 1024) /* bytes of a step's output logged in all; the rest is read \
                     * and dropped */
#define HTTP_RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define HTTP_RETRY_CAP_USEC  (20 * USEC_PER_SEC)

typedef enum ActionState {
        ACTION_PENDING,
        ACTION_RUNNING,
        ACTION_DONE,
        ACTION_FAILED,
        ACTION_TIMED_OUT,
        ACTION_SKIPPED,
        _ACTION_STATE_MAX,
} ActionState;

static const char *const action_states[_ACTION_STATE_MAX] = {
        [ACTION_PENDING] = "pending", [ACTION_RUNNING] = "running",     [ACTION_DONE] = "done",
        [ACTION_FAILED] = "failed",   [ACTION_TIMED_OUT] = "timed-out", [ACTION_SKIPPED] = "skipped",
};

typedef struct Action {
        size_t step;
        char target[256];
        ActionState state;
        usec_t started_at, finished_at;
        char error[256];
} Action;

typedef struct Run Run;

typedef struct RuleState {
        const Rule *rule;
        uint64_t fired;
        usec_t last_fired_at;
        char **instances;   /* event instances it fired for, newest last, bounded */
        bool armed;         /* metric rules: the condition went away since the last firing */
        uint64_t forgotten; /* finished runs trimmed from status (MAX_FINISHED_RUNS) */
        uint64_t dropped;   /* firings refused: MAX_QUEUED_RUNS were waiting */
} RuleState;

typedef struct Pending {
        size_t rule;
        char *key;
        usec_t fire_at, deadline;
        char *type, *summary;
        cJSON *detail;
        sd_event_source *timer;
        Engine *engine;
} Pending;

struct Run {
        Engine *engine;
        char id[48];
        size_t rule; /* index into the config's rules */
        char rule_name[65];
        char type[64];
        char *instance;
        char *summary;
        cJSON *detail;
        usec_t fired_at, deadline;
        Action *actions;
        size_t n_actions, current;
        bool finished;
        bool announced; /* its rule-fired event is written (false only between saving and writing it) */
        bool started;   /* it holds one of its rule's MAX_RUNNING_RUNS slots (else it is queued) */
        bool advance;   /* its current action starts once the state is saved */
        char *saved;    /* its actions.json text while it does not change: queued or finished */
        bool saved_announced, saved_finished;
        bool durable;           /* actions.json holds it */
        bool durable_announced; /* ... as announced: its steps may start */

        /* what the running action holds */
        sd_event_source *timeout, *kill_timer, *child, *out, *heartbeat, *retry;
        pid_t pid;
        int out_fd;
        Buf line;
        size_t logged; /* bytes of the step's output logged */
        bool timed_out;
        sd_bus_slot *slot;
        char job[256];
        char unit[128];      /* exec as a transient unit: its name */
        bool restarted;      /* ... was found left running by an earlier agent */
        bool stopping_stale; /* ... and is being stopped, to run afresh */
        HttpCall *call, *heartbeat_call;
        unsigned attempt;
};

struct Engine {
        sd_event *event;
        sd_bus *bus;
        sd_bus_slot *job_removed;
        Http *http;
        const Config *config;
        char *state_dir;
        EngineEnv env;
        RuleState *rules;
        Pending **pending;
        size_t n_pending;
        Run **runs;
        size_t n_runs;
        usec_t *reboots;
        size_t n_reboots;
        sd_event_source *metric_timer;
        sd_event_source *save; /* saves actions.json, then moves runs on: at most one save an
                                  iteration, SAVE_GAP_USEC apart */
        usec_t saved_at;       /* monotonic */
        usec_t sync_since;     /* engine_save_firing's second */
        unsigned sync_saves;
        bool dirty;
        unsigned run_seq;
};

static void run_next(Run *r);
static void exec_step_start(Run *r, Action *a);
static void transient_job_removed(Run *r, const char *result);
static void action_finish(Run *r, ActionState state, const char *fmt, ...) _printf_(3, 4);
static int engine_save(Engine *e);
static void engine_dirty(Engine *e);
static void engine_save_firing(Engine *e);
static void runs_saved(Engine *e);

/* ---- keys and deadlines ---- */

char *engine_instance_key(const Event *e) {
        char at[RFC3339_MAX], *k = NULL;
        const char *id = json_get_string(e->detail, "event_id");
        int n;

        if (strcmp(e->type, "spot-interruption") == 0)
                n = asprintf(&k, "spot:%s:%s", json_get_string(e->detail, "action") ?: "",
                             json_get_string(e->detail, "time") ?: "");
        else if (startswith(e->type, "maintenance:") && id)
                n = asprintf(&k, "maintenance:%s", id);
        else if (strcmp(e->type, "rebalance-recommendation") == 0 &&
                 json_get_string(e->detail, "notice_time"))
                n = asprintf(&k, "rebalance:%s", json_get_string(e->detail, "notice_time"));
        else if (strcmp(e->type, "asg-terminate") == 0)
                /* an instance is Terminated once in its life: a notice seen again (imds-notices.json
                 * lost or set aside) is the same transition, never a second drain */
                n = asprintf(&k, "asg-terminate");
        else
                n = asprintf(&k, "%s:%s.%06llu", e->type, format_rfc3339(at, e->at),
                             (unsigned long long) (e->at % USEC_PER_SEC));
        return n < 0 ? NULL : k;
}

usec_t engine_event_deadline(const Event *e) {
        usec_t t = 0;
        const char *s = strcmp(e->type, "spot-interruption") == 0 ? json_get_string(e->detail, "time")
                        : startswith(e->type, "maintenance:")     ? json_get_string(e->detail, "not_before")
                                                                  : NULL;
        return s && parse_rfc3339(s, &t) >= 0 ? t : 0;
}

/* ---- events of the engine ---- */

static void emit(Engine *e, const char *type, const Run *r, const Action *a, const char *fmt, ...)
        _printf_(5, 6);
static void emit(Engine *e, const char *type, const Run *r, const Action *a, const char *fmt, ...) {
        char summary[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(summary, sizeof summary, fmt, ap);
        va_end(ap);
        Event *ev = event_new(type, "%s", summary);
        if (!ev)
                return (void) log_oom();
        cJSON_AddStringToObject(ev->detail, "rule", r->rule_name);
        cJSON_AddStringToObject(ev->detail, "run", r->id);
        cJSON_AddStringToObject(ev->detail, "event_type", r->type);
        cJSON_AddStringToObject(ev->detail, "instance", r->instance);
        json_add_time(ev->detail, "deadline", r->deadline);
        if (a) {
                const Step *s = &e->config->rules[r->rule].steps[a->step];
                cJSON_AddStringToObject(ev->detail, "step", step_kind_to_string(s->kind));
                cJSON_AddStringToObject(ev->detail, "target", a->target);
                cJSON_AddStringToObject(ev->detail, "state", action_states[a->state]);
                json_add_string_or_null(ev->detail, "error", a->error[0] ? a->error : NULL);
                cJSON_AddNumberToObject(ev->detail, "seconds",
                                        (double) (a->finished_at - MIN(a->started_at, a->finished_at)) /
                                                1e6);
        }
        event_sink_emit(&e->env.sink, ev);
}

/* ---- runs ---- */

static const Step *step_of(const Run *r, const Action *a) {
        return &r->engine->config->rules[r->rule].steps[a->step];
}

static void run_release(Run *r) {
        r->timeout = sd_event_source_disable_unref(r->timeout);
        r->kill_timer = sd_event_source_disable_unref(r->kill_timer);
        r->child = sd_event_source_disable_unref(r->child);
        r->out = sd_event_source_disable_unref(r->out);
        r->retry = sd_event_source_disable_unref(r->retry);
        r->out_fd = safe_close(r->out_fd);
        r->slot = sd_bus_slot_unref(r->slot);
        http_call_cancel(r->call);
        r->call = NULL;
        r->job[0] = 0;
        r->unit[0] = 0;
        r->restarted = r->stopping_stale = false;
        r->timed_out = false;
        r->attempt = 0;
        r->logged = 0;
        buf_reset(&r->line);
}

static Run *run_free(Run *r) {
        if (!r)
                return NULL;
        run_release(r);
        r->heartbeat = sd_event_source_disable_unref(r->heartbeat);
        http_call_cancel(r->heartbeat_call);
        if (r->pid > 0)
                (void) kill(-r->pid, SIGKILL); /* the agent is going away: do not leave a step behind */
        buf_done(&r->line);
        free(r->saved);
        free(r->instance);
        free(r->summary);
        cJSON_Delete(r->detail);
        free(r->actions);
        free(r);
        return NULL;
}

/* Removes the user:password@ of URL from TEXT wherever an error message repeated it (curl's
 * messages may), in place. A local helper until the agent has one url_redact(). */
static void scrub_userinfo(char *text, const char *url) {
        const char *host = url ? strstr(url, "://") : NULL, *at;
        size_t n, len;

        if (!host)
                return;
        host += 3;
        n = strcspn(host, "/?#");
        at = NULL;
        for (const char *p = host; p < host + n; p++)
                if (*p == '@')
                        at = p; /* the last one: a password may hold an unescaped @ */
        if (!at || at == host)
                return;
        len = (size_t) (at - host);
        for (char *p = text; (p = memmem(p, strlen(p), host, len));) {
                memmove(p + 3, p + len, strlen(p + len) + 1);
                memcpy(p, "***", 3);
                p += 3;
        }
}

/* What an error text may hold of a secret URL the step used: the webhook's, the endpoints'. */
static void scrub_error(const Engine *e, const Step *s, char *text) {
        scrub_userinfo(text, s && s->kind == STEP_NOTIFY ? s->webhook : NULL);
        scrub_userinfo(text, e->config->endpoint_sns);
        scrub_userinfo(text, e->config->endpoint_autoscaling);
}

/* What an action acts on, for status and events. A webhook URL often embeds a token: only its
 * scheme and host are shown. */
static void webhook_or_target(const Step *s, char *ret, size_t max) {
        if (s->kind == STEP_NOTIFY && s->webhook) {
                const char *host = strstr(s->webhook, "://");
                host = host ? host + 3 : s->webhook;
                size_t n = strcspn(host, "/?#");
                /* user:password@ is a secret too; the last '@': a password may hold one */
                const char *at = memrchr(host, '@', n);
                if (at) {
                        n -= (size_t) (at + 1 - host);
                        host = at + 1;
                }
                snprintf(ret, max, "webhook %.*s", (int) n, host);
                return;
        }
        snprintf(ret, max, "%s",
                 s->kind == STEP_EXEC        ? s->argv[0]
                 : s->kind == STEP_LIFECYCLE ? s->hook
                 : s->kind == STEP_NOTIFY    ? s->sns_topic_arn
                                             : "reboot.target");
}

static Run *run_new(Engine *e, size_t rule, const char *type, const char *instance, const char *summary,
                    const cJSON *detail, usec_t deadline) {
        const Rule *ru = &e->config->rules[rule];
        Run *r = calloc(1, sizeof(Run));
        size_t n = 0;

        if (!r)
                return NULL;
        r->engine = e;
        r->out_fd = -EBADF;
        r->rule = rule;
        buf_init(&r->line, EXEC_OUTPUT_MAX);
        snprintf(r->rule_name, sizeof r->rule_name, "%s", ru->name);
        snprintf(r->type, sizeof r->type, "%s", type);
        r->fired_at = now_usec(CLOCK_REALTIME);
        r->deadline = deadline;
        snprintf(r->id, sizeof r->id, "%llu-%u", (unsigned long long) (r->fired_at / USEC_PER_SEC),
                 ++e->run_seq);
        for (size_t i = 0; i < ru->n_steps; i++)
                n += (ru->steps[i].kind == STEP_STOP || ru->steps[i].kind == STEP_RESTART)
                             ? strv_length(ru->steps[i].argv)
                             : 1;
        if (!(r->instance = strdup(instance)) || !(r->summary = strdup(summary ?: "")) ||
            !(r->detail = detail ? cJSON_Duplicate(detail, true) : cJSON_CreateObject()) ||
            !(r->actions = calloc(n, sizeof(Action))))
                return run_free(r);
        for (size_t i = 0; i < ru->n_steps; i++) {
                const Step *s = &ru->steps[i];
                if (s->kind == STEP_STOP || s->kind == STEP_RESTART)
                        for (char **u = s->argv; *u; u++) {
                                r->actions[r->n_actions].step = i;
                                snprintf(r->actions[r->n_actions++].target, sizeof r->actions[0].target,
                                         "%s", *u);
                        }
                else {
                        Action *a = &r->actions[r->n_actions++];
                        a->step = i;
                        webhook_or_target(s, a->target, sizeof a->target);
                }
        }
        return r;
}

/* Keeps at most MAX_FINISHED_RUNS finished runs; the oldest go. */
static void runs_trim(Engine *e) {
        size_t finished = 0;
        for (size_t i = 0; i < e->n_runs; i++)
                finished += e->runs[i]->finished;
        for (size_t i = 0; i < e->n_runs && finished > MAX_FINISHED_RUNS;) {
                if (e->runs[i]->finished) {
                        e->rules[e->runs[i]->rule].forgotten++;
                        run_free(e->runs[i]);
                        memmove(e->runs + i, e->runs + i + 1, (e->n_runs - i - 1) * sizeof(Run *));
                        e->n_runs--;
                        finished--;
                } else
                        i++;
        }
}

static bool is_lifecycle_event(const char *type) {
        return strcmp(type, "asg-terminate") == 0 || strcmp(type, "asg-warm-pool") == 0;
}

/* ---- HTTP steps: Auto Scaling, SNS, webhooks ---- */

typedef struct HttpStep {
        const char *url;
        const char *sigv4_service; /* NULL: unsigned (webhook) */
        const char *region;
        const char *content_type;
        Buf body;
} HttpStep;

static void http_step_done(const HttpResponse *resp, void *userdata);

/* Sends the request of R's current action; the answer comes to http_step_done. */
static int http_step_send(Run *r, const HttpStep *h, HttpCallback cb, HttpCall **ret_call) {
        const AwsCredentials *c = r->engine->env.aws.credentials(r->engine->env.aws.userdata);
        const char *headers[3] = {};
        AwsSigning sig = {};
        char ctype[128];
        size_t nh = 0;
        int k;

        if (h->content_type) {
                snprintf(ctype, sizeof ctype, "Content-Type: %s", h->content_type);
                headers[nh++] = ctype;
        }
        HttpRequest req = { .method = "POST",
                            .url = h->url,
                            .headers = headers,
                            .body = h->body.data,
                            .body_len = h->body.len,
                            .timeout_ms = 15000 };
        if (h->sigv4_service) {
                if (!c)
                        return -ENOKEY;
                aws_sign(&sig, &req, headers, &nh, c, h->region, h->sigv4_service);
        }
        k = http_submit(r->engine->http, &req, cb, r, ret_call);
        aws_signing_done(&sig);
        return k;
}

/* Builds the request of a lifecycle call (ACTION: CompleteLifecycleAction or
 * RecordLifecycleActionHeartbeat). Returns 0, or a negative errno with a reason in ERR. */
static int lifecycle_request(Run *r, const Step *s, const char *action, HttpStep *h, char **ret_url,
                             char err[static 256]) {
        Engine *e = r->engine;
        const InstanceIdentity *id = e->env.aws.identity(e->env.aws.userdata);
        const char *group = s->group ?: e->env.aws.asg_name(e->env.aws.userdata);
        const char *region = aws_region(e->config, id);

        if (!id || !id->instance_id[0])
                return snprintf(err, 256, "the instance id is not known (IMDS)"), -ENODATA;
        if (!group)
                return snprintf(err, 256,
                                "no Auto Scaling group: set \"group\" or enable instance tags in metadata"),
                       -ENODATA;
        if (!region || !(*ret_url = aws_endpoint(e->config, AWS_SERVICE_AUTOSCALING, region)))
                return snprintf(err, 256, "no AWS region"), -ENODATA;
        h->url = *ret_url;
        h->sigv4_service = "autoscaling";
        h->region = region;
        if (aws_form_add(&h->body, "Action", action) < 0 ||
            aws_form_add(&h->body, "Version", "2011-01-01") < 0 ||
            aws_form_add(&h->body, "AutoScalingGroupName", group) < 0 ||
            aws_form_add(&h->body, "LifecycleHookName", s->hook) < 0 ||
            aws_form_add(&h->body, "InstanceId", id->instance_id) < 0 ||
            (strcmp(action, "CompleteLifecycleAction") == 0 &&
             aws_form_add(&h->body, "LifecycleActionResult", s->result) < 0))
                return snprintf(err, 256, "out of memory"), -ENOMEM;
        return 0;
}

static int event_json_body(Run *r, Buf *b, bool sns) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        const InstanceIdentity *id = r->engine->env.aws.identity(r->engine->env.aws.userdata);
        _cleanup_free_ char *text = NULL;

        if (!j || !cJSON_AddStringToObject(j, "rule", r->rule_name) ||
            !cJSON_AddStringToObject(j, "event", r->type) ||
            !cJSON_AddStringToObject(j, "summary", r->summary) ||
            !json_add_string_or_null(j, "instance_id", id ? id->instance_id : NULL) ||
            !json_add_time(j, "fired_at", r->fired_at) || !json_add_time(j, "deadline", r->deadline) ||
            !cJSON_AddItemToObject(j, "detail", cJSON_Duplicate(r->detail, true)) ||
            !(text = cJSON_PrintUnformatted(j)))
                return -ENOMEM;
        if (!sns)
                return buf_append(b, text, strlen(text));
        char subject[300];
        snprintf(subject, sizeof subject, "ec2agent %s: %s on %s", r->rule_name, r->type,
                 id ? id->instance_id : "?");
        subject[99] = 0; /* SNS takes at most 100 characters */
        if (aws_form_add(b, "Action", "Publish") < 0 || aws_form_add(b, "Version", "2010-03-31") < 0 ||
            aws_form_add(b, "Subject", subject) < 0 || aws_form_add(b, "Message", text) < 0)
                return -ENOMEM;
        return 0;
}

/* The region of an SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME. */
static bool arn_region(const char *arn, char *ret, size_t max) {
        const char *p = arn, *end;
        for (int i = 0; i < 3 && p; i++) {
                p = strchr(p, ':');
                p = p ? p + 1 : NULL;
        }
        end = p ? strchr(p, ':') : NULL;
        if (!end || end == p || (size_t) (end - p) >= max)
                return false;
        snprintf(ret, max, "%.*s", (int) (end - p), p);
        return true;
}

static int on_http_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void http_step_start(Run *r, Action *a) {
        const Step *s = step_of(r, a);
        Engine *e = r->engine;
        HttpStep h = {};
        _cleanup_free_ char *url = NULL;
        char region[32], err[256] = "";
        int k = 0;

        buf_init(&h.body, 256 * 1024);
        if (s->kind == STEP_LIFECYCLE) {
                r->heartbeat = sd_event_source_disable_unref(r->heartbeat); /* the earlier steps are over */
                k = lifecycle_request(r, s, "CompleteLifecycleAction", &h, &url, err);
        } else if (s->webhook) {
                h.url = s->webhook;
                h.content_type = "application/json";
                k = event_json_body(r, &h.body, false);
        } else {
                if (!arn_region(s->sns_topic_arn, region, sizeof region))
                        k = -EINVAL,
                        snprintf(err, sizeof err, "cannot read the region of %s", s->sns_topic_arn);
                else if (!(url = aws_endpoint(e->config, AWS_SERVICE_SNS, region)))
                        k = -ENOMEM;
                else {
                        h.url = url;
                        h.sigv4_service = "sns";
                        h.region = region;
                        k = aws_form_add(&h.body, "TopicArn", s->sns_topic_arn) < 0
                                    ? -ENOMEM
                                    : event_json_body(r, &h.body, true);
                }
        }
        if (k >= 0)
                k = http_step_send(r, &h, http_step_done, &r->call);
        buf_done(&h.body);
        if (k == -ENOKEY || k == -ENODATA) {
                /* Credentials, identity or region come from IMDS a moment after start: wait for them
                 * within the step's time; its timeout reports what was missing. */
                snprintf(r->actions[r->current].error, sizeof r->actions[0].error, "%s",
                         k == -ENOKEY ? "no AWS credentials yet" : err);
                if (sd_event_add_time_relative(e->event, &r->retry, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                               on_http_retry, r) >= 0)
                        return;
        }
        if (k < 0)
                return action_finish(r, ACTION_FAILED, "%s", err[0] ? err : strerror(-k));
}

static int on_http_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        (void) s;
        (void) usec;
        r->retry = sd_event_source_disable_unref(r->retry);
        http_step_start(r, &r->actions[r->current]);
        return 0;
}

static void http_step_done(const HttpResponse *resp, void *userdata) {
        Run *r = userdata;
        char code[64] = "", message[256] = "";

        r->call = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300)
                return action_finish(r, ACTION_DONE, NULL);
        if (resp->error == 0)
                (void) aws_parse_error(resp->body, resp->body_len, code, message);
        if (resp->error < 0 || aws_retryable(resp->status, code)) {
                /* Retry within the action's time; its timeout ends it otherwise. */
                usec_t delay =
                        aws_backoff(++r->attempt, HTTP_RETRY_BASE_USEC, HTTP_RETRY_CAP_USEC, random_unit());
                snprintf(r->actions[r->current].error, sizeof r->actions[0].error,
                         "%.60s%s%.150s (retrying)",
                         resp->error < 0 ? (resp->error_message ?: strerror(-resp->error)) : code,
                         message[0] ? ": " : "", message);
                scrub_error(r->engine, step_of(r, &r->actions[r->current]), r->actions[r->current].error);
                if (sd_event_add_time_relative(r->engine->event, &r->retry, CLOCK_MONOTONIC, delay, 0,
                                               on_http_retry, r) >= 0)
                        return;
        }
        if (code[0])
                return action_finish(r, ACTION_FAILED, "%s: %s (HTTP %ld)", code, message, resp->status);
        if (resp->error < 0)
                return action_finish(r, ACTION_FAILED, "%s", resp->error_message ?: strerror(-resp->error));
        return action_finish(r, ACTION_FAILED, "HTTP %ld", resp->status);
}

/* RecordLifecycleActionHeartbeat every heartbeat_s while the steps before the lifecycle step run. */
static void on_heartbeat_done(const HttpResponse *resp, void *userdata) {
        Run *r = userdata;
        char why[256];
        r->heartbeat_call = NULL;
        snprintf(why, sizeof why, "%s",
                 resp->error < 0 ? (resp->error_message ?: "no answer") : "HTTP error");
        scrub_error(r->engine, NULL, why);
        if (resp->error < 0 || resp->status != 200)
                log_warning("Rule %s: a lifecycle heartbeat failed (%s).", r->rule_name, why);
}

static int on_heartbeat(sd_event_source *src, uint64_t usec, void *userdata) {
        Run *r = userdata;
        const Rule *ru = &r->engine->config->rules[r->rule];
        _cleanup_free_ char *url = NULL;
        char err[256];
        (void) usec;

        for (size_t i = 0; i < ru->n_steps; i++)
                if (ru->steps[i].kind == STEP_LIFECYCLE) {
                        HttpStep h = {};
                        buf_init(&h.body, 64 * 1024);
                        if (!r->heartbeat_call &&
                            lifecycle_request(r, &ru->steps[i], "RecordLifecycleActionHeartbeat", &h, &url,
                                              err) >= 0)
                                (void) http_step_send(r, &h, on_heartbeat_done, &r->heartbeat_call);
                        buf_done(&h.body);
                        return sd_event_source_set_time_relative(src,
                                                                 ru->steps[i].heartbeat_s * USEC_PER_SEC);
                }
        return 0;
}

/* ---- systemd: stop, restart, reboot ---- */

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Engine *e = userdata;
        const char *job, *unit, *result;
        uint32_t id;
        (void) error;

        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *r = e->runs[i];
                if (!r->finished && r->job[0] && strcmp(r->job, job) == 0) {
                        r->job[0] = 0;
                        if (r->unit[0])
                                transient_job_removed(r, result);
                        else if (strcmp(result, "done") == 0)
                                action_finish(r, ACTION_DONE, NULL);
                        else
                                action_finish(r, ACTION_FAILED, "systemd job %s", result);
                        return 0;
                }
        }
        return 0;
}

static int on_job_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        (void) error;

        r->slot = sd_bus_slot_unref(r->slot);
        if (e)
                return action_finish(r, ACTION_FAILED, "%s", e->message ?: e->name), 0;
        if (sd_bus_message_read(m, "o", &path) < 0)
                return action_finish(r, ACTION_FAILED, "bad reply from systemd"), 0;
        snprintf(r->job, sizeof r->job, "%s", path); /* JobRemoved tells the result */
        return 0;
}

/* Asks systemd's manager for a job on UNIT (StopUnit, RestartUnit, StartUnit); on_job_reply keeps
 * its path, and JobRemoved for that path ends the action. */
static int job_call(Run *r, const char *method, const char *unit, const char *mode) {
        r->job[0] = 0;
        r->slot = sd_bus_slot_unref(r->slot);
        return sd_bus_call_method_async(r->engine->bus, &r->slot, "org.freedesktop.systemd1",
                                        "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                        method, on_job_reply, r, "ss", unit, mode);
}

static void unit_step_start(Run *r, Action *a) {
        const Step *s = step_of(r, a);
        const char *method = s->kind == STEP_STOP      ? "StopUnit"
                             : s->kind == STEP_RESTART ? "RestartUnit"
                                                       : "StartUnit";
        const char *mode = s->kind == STEP_REBOOT ? "replace-irreversibly" : "replace";
        int k;

        if (!r->engine->bus)
                return action_finish(r, ACTION_FAILED, "systemd is not running (no system bus)");
        k = job_call(r, method, a->target, mode);
        if (k < 0)
                action_finish(r, ACTION_FAILED, "cannot call systemd: %s", strerror(-k));
}

static void reboot_step_start(Run *r, Action *a) {
        Engine *e = r->engine;
        usec_t now = now_usec(CLOCK_REALTIME);
        size_t recent = 0;

        for (size_t i = 0; i < e->n_reboots; i++)
                recent += e->reboots[i] + USEC_PER_DAY > now;
        if (recent >= step_of(r, a)->max_per_day)
                return action_finish(r, ACTION_SKIPPED, "max_per_day (%u) reached",
                                     step_of(r, a)->max_per_day);
        usec_t *n = realloc(e->reboots, (e->n_reboots + 1) * sizeof(usec_t));
        if (!n)
                return action_finish(r, ACTION_FAILED, "out of memory");
        e->reboots = n;
        e->reboots[e->n_reboots++] = now;
        engine_save(e); /* counted before it happens: a reboot loop cannot outrun the limit */
        unit_step_start(r, a);
}

/* ---- exec ---- */

/* Logs the step's output line L, while EXEC_LOG_MAX bytes were not logged yet. */
static void output_log(Run *r, const char *l) {
        size_t n = strlen(r->rule_name) + strlen(l) + 16; /* what the line costs in the log */
        if (r->logged < EXEC_LOG_MAX && r->logged + n >= EXEC_LOG_MAX)
                log_notice("%s: the step wrote more than %d bytes; the rest of its output is dropped.",
                           r->rule_name, EXEC_LOG_MAX);
        if (r->logged + n <= EXEC_LOG_MAX)
                log_info("%s: %s", r->rule_name, l);
        r->logged = MIN(r->logged + n, (size_t) EXEC_LOG_MAX);
}

/* Reads what the step wrote, EXEC_READ_BUDGET bytes at most (a step that writes without end must
 * not hold the loop), logging whole lines. Returns >0 when the budget is spent with more to
 * read, 0 at its end (the pipe closed: the rest is logged, the pipe released), -EAGAIN when there
 * is no more yet. */
static int output_read(Run *r) {
        char chunk[4096];

        for (size_t total = 0; total < EXEC_READ_BUDGET;) {
                ssize_t n = read(r->out_fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return -EAGAIN;
                if (n <= 0) {
                        if (r->line.len)
                                output_log(r, r->line.data);
                        buf_reset(&r->line);
                        r->out = sd_event_source_disable_unref(r->out);
                        r->out_fd = safe_close(r->out_fd);
                        return 0;
                }
                total += (size_t) n;
                for (ssize_t i = 0; i < n && r->logged < EXEC_LOG_MAX; i++)
                        if (chunk[i] == '\n' || buf_append(&r->line, &chunk[i], 1) < 0) {
                                output_log(r, r->line.data ?: "");
                                buf_reset(&r->line);
                        }
        }
        return 1;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) fd;
        (void) revents;
        (void) output_read(userdata);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Run *r = userdata;
        (void) s;

        r->pid = 0;
        r->child = sd_event_source_disable_unref(r->child);
        r->kill_timer = sd_event_source_disable_unref(r->kill_timer);
        /* The exit may be seen before the last output: read what is in the pipe now, one budget (a
         * process the step left behind may keep it open and write without end). */
        if (r->out_fd >= 0)
                (void) output_read(r);
        if (r->timed_out)
                return action_finish(r, ACTION_TIMED_OUT, "killed at the timeout"), 0;
        if (si->si_code == CLD_EXITED && si->si_status == 0)
                return action_finish(r, ACTION_DONE, NULL), 0;
        if (si->si_code == CLD_EXITED)
                return action_finish(r, ACTION_FAILED, "exit status %d", si->si_status), 0;
        return action_finish(r, ACTION_FAILED, "killed by signal %s", strsignal(si->si_status)), 0;
}

/* Whether the variable V=… is the agent's AWS credentials: never a step's (SPEC §9). */
static bool is_credential(const char *v) {
        static const char *const names[] = { "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
                                             "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN=",
                                             "AWS_CREDENTIAL_EXPIRATION=" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (startswith(v, names[i]))
                        return true;
        return false;
}

/* NAME=VALUE with VALUE made valid UTF-8 without control characters: an invalid sequence, a C0
 * or C1 control or DEL becomes U+FFFD. (The JSON of EC2AGENT_DETAIL has its C0 controls escaped
 * by cJSON already, so it stays valid JSON.) Returns a new string or NULL. */
static char *env_assign(const char *name, const char *value) {
        const unsigned char *p = (const unsigned char *) (value ?: "");
        Buf b;

        buf_init(&b, SIZE_MAX / 4);
        if (buf_appendf(&b, "%s=", name) < 0)
                goto fail;
        while (*p) {
                size_t n = *p < 0x80             ? 1
                           : (*p & 0xe0) == 0xc0 ? 2
                           : (*p & 0xf0) == 0xe0 ? 3
                           : (*p & 0xf8) == 0xf0 ? 4
                                                 : 0;
                uint32_t c = n == 1 ? *p : n == 2 ? *p & 0x1f : n == 3 ? *p & 0x0f : *p & 0x07;
                bool ok = n > 0;
                for (size_t i = 1; ok && i < n; i++) {
                        ok = (p[i] & 0xc0) == 0x80; /* also stops at the NUL */
                        c = (c << 6) | (p[i] & 0x3f);
                }
                if (ok)
                        ok = !(n == 2 && c < 0x80) && !(n == 3 && c < 0x800) && !(n == 4 && c < 0x10000) &&
                             c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff) && c >= 0x20 && c != 0x7f &&
                             !(c >= 0x80 && c <= 0x9f);
                if (ok ? buf_append(&b, p, n) < 0 : buf_append(&b, "\xef\xbf\xbd", 3) < 0)
                        goto fail;
                if (!ok) /* one byte at a time: resynchronise on the next lead byte */
                        n = 1;
                p += n;
        }
        return b.data ?: strdup("");
fail:
        buf_done(&b);
        return NULL;
}

/* The step's own variables of SPEC §4; with INHERIT, after the agent's environment less what a
 * step must not inherit (the notify socket, the watchdog, stale EC2AGENT_*, AWS credentials). */
static int exec_environment(const Run *r, bool inherit, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        char deadline[RFC3339_MAX] = "", *detail = cJSON_PrintUnformatted(r->detail);
        char *extra[4] = {};
        int k = 0;

        if (r->deadline)
                format_rfc3339(deadline, r->deadline);
        for (char **v = environ; inherit && v && *v && k >= 0; v++)
                if (!startswith(*v, "NOTIFY_SOCKET=") && !startswith(*v, "WATCHDOG_") &&
                    !startswith(*v, "EC2AGENT_") && !is_credential(*v))
                        k = strv_extend(&env, *v);
        if (k < 0 || !detail || !(extra[0] = env_assign("EC2AGENT_EVENT", r->type)) ||
            !(extra[1] = env_assign("EC2AGENT_RULE", r->rule_name)) ||
            !(extra[2] = env_assign("EC2AGENT_DEADLINE", deadline)) ||
            !(extra[3] = env_assign("EC2AGENT_DETAIL", detail)))
                k = -ENOMEM;
        for (int i = 0; i < 4; i++) {
                if (k >= 0)
                        k = strv_extend(&env, extra[i]);
                free(extra[i]);
        }
        free(detail);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(env);
        return 0;
}

/* Under systemd the step runs as a transient oneshot service: outside the agent's sandbox, in its
 * own cgroup, its output in the journal under its own unit. The start job ends when the process
 * does ("done" for exit status 0); at the timeout StopUnit sends SIGTERM to the whole cgroup and
 * SIGKILL after TimeoutStopUSec. The name is fixed per run and action, so a step left running by
 * an agent that died is found (UnitExists), stopped, and run afresh. */
static int transient_start(Run *r, Action *a, char **env);

/* StopUnit on the step's unit: its start job (if any) is cancelled, and the stop job's end is what
 * JobRemoved reports next for this run. */
static int transient_stop(Run *r) {
        return job_call(r, "StopUnit", r->unit, "replace");
}

static int on_transient_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e && sd_bus_error_has_name(e, "org.freedesktop.systemd1.UnitExists") && !r->restarted) {
                r->restarted = r->stopping_stale = true;
                log_notice("%s: %s is still running from before; stopping it to run the step afresh",
                           r->rule_name, r->unit);
                int k = transient_stop(r);
                if (k < 0)
                        action_finish(r, ACTION_FAILED, "cannot stop %s: %s", r->unit, strerror(-k));
                return 0;
        }
        return on_job_reply(m, userdata, error);
}

static void transient_job_removed(Run *r, const char *result) {
        if (r->stopping_stale) {
                r->stopping_stale = false;
                return exec_step_start(r, &r->actions[r->current]);
        }
        if (r->timed_out)
                return action_finish(r, ACTION_TIMED_OUT, "%s stopped at the timeout", r->unit);
        if (strcmp(result, "done") == 0)
                return action_finish(r, ACTION_DONE, NULL);
        action_finish(r, ACTION_FAILED, "%s %s (journalctl -u %s)", r->unit,
                      strcmp(result, "failed") == 0 ? "exited with failure" : result, r->unit);
}

static int transient_start(Run *r, Action *a, char **env) {
        const Step *s = step_of(r, a);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *own = NULL;
        char description[512];
        int k;

        snprintf(r->unit, sizeof r->unit, "ec2agent-step-%s-%zu.service", r->id, (size_t) (a - r->actions));
        snprintf(description, sizeof description, "ec2agent rule %s: %s", r->rule_name, s->argv[0]);
        k = sd_bus_message_new_method_call(r->engine->bus, &m, "org.freedesktop.systemd1",
                                           "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                           "StartTransientUnit");
        if (k >= 0)
                k = sd_bus_message_append(m, "ss", r->unit, "fail");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sv)");
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", description, "Type",
                                          "s", "oneshot", "CollectMode", "s", "inactive-or-failed",
                                          "TimeoutStartUSec", "t", USEC_INFINITY, "TimeoutStopUSec", "t",
                                          (uint64_t) KILL_AFTER_USEC);
        /* stopped before the agent at shutdown, so the agent sees how the step ended */
        if (k >= 0 && sd_pid_get_unit(0, &own) >= 0)
                k = sd_bus_message_append(m, "(sv)", "After", "as", 1, own);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", "Environment");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "as");
        if (k >= 0)
                k = sd_bus_message_append_strv(m, env);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", "ExecStart");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sasb");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", s->argv[0]);
        if (k >= 0)
                k = sd_bus_message_append_strv(m, s->argv);
        if (k >= 0)
                k = sd_bus_message_append(m, "b", 0);
        for (int i = 0; i < 4 && k >= 0; i++) /* the struct, the array, the variant, the property */
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m); /* the properties */
        if (k >= 0)
                k = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (k >= 0)
                k = sd_bus_call_async(r->engine->bus, &r->slot, m, on_transient_reply, r, 0);
        return k;
}

/* Forks the step in its own process group, its output read line by line into the log. */
static int fork_start(Run *r, const Step *s, char **env) {
        int pipefd[2];
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int k = -errno;
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return k;
        }
        if (pid == 0) {
                sigset_t none;
                int devnull = open("/dev/null", O_RDONLY);
                (void) setpgid(0, 0);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                for (int sig = 1; sig < NSIG; sig++)
                        (void) signal(sig, SIG_DFL);
                if (devnull >= 0)
                        (void) dup2(devnull, STDIN_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                (void) dup2(pipefd[1], STDERR_FILENO);
                /* None of the agent's descriptors (curl's sockets, the status socket, state files)
                 * reach the step, O_CLOEXEC or not. */
                if (syscall(__NR_close_range, 3U, ~0U, 0U) < 0) { /* ENOSYS before Linux 5.9 */
                        struct rlimit rl = { .rlim_cur = 65536 };
                        (void) getrlimit(RLIMIT_NOFILE, &rl);
                        for (rlim_t fd = 3; fd < MIN(rl.rlim_cur, (rlim_t) 1 << 20); fd++)
                                (void) close((int) fd);
                }
                execve(s->argv[0], s->argv, env);
                dprintf(STDERR_FILENO, "cannot execute %s: %s\n", s->argv[0], strerror(errno));
                _exit(127);
        }
        (void) setpgid(pid, pid);
        safe_close(pipefd[1]);
        r->pid = pid;
        r->out_fd = pipefd[0];
        (void) fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
        if (sd_event_add_io(r->engine->event, &r->out, r->out_fd, EPOLLIN, on_output, r) < 0 ||
            sd_event_add_child(r->engine->event, &r->child, pid, WEXITED, on_child, r) < 0) {
                (void) kill(-pid, SIGKILL);
                return -ENOMEM;
        }
        return 0;
}

static void exec_step_start(Run *r, Action *a) {
        bool transient = r->engine->bus != NULL;
        _cleanup_strv_free_ char **env = NULL;
        int k;

        if (exec_environment(r, !transient, &env) < 0)
                return action_finish(r, ACTION_FAILED, "out of memory");
        k = transient ? transient_start(r, a, env) : fork_start(r, step_of(r, a), env);
        if (k < 0)
                action_finish(r, ACTION_FAILED, "cannot start %s: %s", step_of(r, a)->argv[0], strerror(-k));
}

/* ---- the sequence ---- */

static int on_kill(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        (void) s;
        (void) usec;
        if (r->pid > 0)
                (void) kill(-r->pid, SIGKILL);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        (void) s;
        (void) usec;
        r->timeout = sd_event_source_disable_unref(r->timeout);
        if (r->unit[0] && !r->stopping_stale) {
                /* StopUnit: SIGTERM to the unit's cgroup, SIGKILL after its TimeoutStopUSec (5 s);
                 * the start job is cancelled, the stop job's end ends the action. */
                r->timed_out = true;
                int k = transient_stop(r);
                if (k < 0)
                        action_finish(r, ACTION_TIMED_OUT, "cannot stop %s: %s", r->unit, strerror(-k));
                return 0;
        }
        if (r->pid > 0) {
                /* SIGTERM to the whole process group, SIGKILL 5 s later; the exit ends the action. */
                r->timed_out = true;
                (void) kill(-r->pid, SIGTERM);
                (void) sd_event_add_time_relative(r->engine->event, &r->kill_timer, CLOCK_MONOTONIC,
                                                  KILL_AFTER_USEC, 0, on_kill, r);
                return 0;
        }
        char why[256];
        snprintf(why, sizeof why, "%s", r->actions[r->current].error);
        action_finish(r, ACTION_TIMED_OUT, "no result within the step's time%s%s", why[0] ? ": " : "", why);
        return 0;
}

static void action_start(Run *r) {
        Action *a = &r->actions[r->current];
        const Step *s = step_of(r, a);
        usec_t now = now_usec(CLOCK_REALTIME);
        usec_t timeout = s->timeout_s * USEC_PER_SEC;

        a->state = ACTION_RUNNING;
        a->started_at = now;
        a->finished_at = 0;
        a->error[0] = 0;
        engine_dirty(r->engine);
        if (r->deadline && r->deadline <= now)
                return action_finish(r, ACTION_TIMED_OUT, "the notice's deadline has passed");
        if (r->deadline)
                timeout = MIN(timeout, r->deadline - now);
        if (sd_event_add_time_relative(r->engine->event, &r->timeout, CLOCK_MONOTONIC, timeout, 0,
                                       on_timeout, r) < 0)
                return action_finish(r, ACTION_FAILED, "cannot set a timer");

        switch (s->kind) {
        case STEP_STOP:
        case STEP_RESTART:
                return unit_step_start(r, a);
        case STEP_EXEC:
                return exec_step_start(r, a);
        case STEP_LIFECYCLE:
                if (!is_lifecycle_event(r->type))
                        return action_finish(r, ACTION_SKIPPED, "%s is not an Auto Scaling lifecycle event",
                                             r->type);
                return http_step_start(r, a);
        case STEP_NOTIFY:
                return http_step_start(r, a);
        case STEP_REBOOT:
                return reboot_step_start(r, a);
        case _STEP_KIND_MAX:
                break;
        }
        action_finish(r, ACTION_FAILED, "unknown step");
}

static void action_finish(Run *r, ActionState state, const char *fmt, ...) {
        Action *a = &r->actions[r->current];
        const Step *s = step_of(r, a);

        run_release(r);
        a->state = state;
        a->finished_at = now_usec(CLOCK_REALTIME);
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                (void) vsnprintf(a->error, sizeof a->error, fmt, ap);
                va_end(ap);
                scrub_error(r->engine, s, a->error);
        } else
                a->error[0] = 0;
        if (state == ACTION_DONE || state == ACTION_SKIPPED)
                emit(r->engine, "action-done", r, a, "rule %s: %s %s %s%s%s", r->rule_name,
                     step_kind_to_string(s->kind), a->target, action_states[state], a->error[0] ? ": " : "",
                     a->error);
        else
                emit(r->engine, "action-failed", r, a, "rule %s: %s %s %s: %s", r->rule_name,
                     step_kind_to_string(s->kind), a->target, action_states[state], a->error);
        if (state != ACTION_DONE && state != ACTION_SKIPPED && s->abort_on_failure) {
                for (size_t i = r->current + 1; i < r->n_actions; i++) {
                        r->actions[i].state = ACTION_SKIPPED;
                        snprintf(r->actions[i].error, sizeof r->actions[i].error,
                                 "an earlier step failed (abort)");
                }
                r->current = r->n_actions;
        } else
                r->current++;
        run_next(r);
}

/* Starts the next pending action, or finishes the run. */
static void run_next(Run *r) {
        while (r->current < r->n_actions && r->actions[r->current].state != ACTION_PENDING &&
               r->actions[r->current].state != ACTION_RUNNING)
                r->current++;
        if (r->current >= r->n_actions) {
                r->finished = true;
                r->heartbeat = sd_event_source_disable_unref(r->heartbeat);
        } else
                r->advance = true; /* action_start, once the state is saved */
        engine_dirty(r->engine);
}

/* Starts (or resumes) a run: heartbeats for a lifecycle step, then the first pending action. */
static void run_go(Run *r) {
        const Rule *ru = &r->engine->config->rules[r->rule];
        for (size_t i = 0; i < ru->n_steps; i++)
                if (ru->steps[i].kind == STEP_LIFECYCLE && is_lifecycle_event(r->type) && !r->heartbeat) {
                        (void) sd_event_add_time_relative(r->engine->event, &r->heartbeat, CLOCK_MONOTONIC,
                                                          ru->steps[i].heartbeat_s * USEC_PER_SEC, 0,
                                                          on_heartbeat, r);
                        break;
                }
        r->started = true;
        r->current = 0;
        run_next(r);
}

static void announce(Run *r) {
        emit(r->engine, "rule-fired", r, NULL, "rule %s fired on %s: %s", r->rule_name, r->type, r->summary);
        r->announced = true;
}

static void fire(Engine *e, size_t rule, const char *key, const char *type, const char *summary,
                 const cJSON *detail, usec_t deadline) {
        RuleState *rs = &e->rules[rule];
        size_t queued = 0;
        Run *r, **n;

        for (size_t i = 0; i < e->n_runs; i++)
                queued += e->runs[i]->rule == rule && !e->runs[i]->started;
        if (queued >= MAX_QUEUED_RUNS) {
                if (rs->dropped++ == 0)
                        log_warning("Rule %s: %d firings are waiting already; not firing on %s (counted "
                                    "as \"dropped\" in status).",
                                    e->config->rules[rule].name, MAX_QUEUED_RUNS, type);
                return;
        }
        r = run_new(e, rule, type, key, summary, detail, deadline);
        if (!r || !(n = realloc(e->runs, (e->n_runs + 1) * sizeof(Run *)))) {
                run_free(r);
                return (void) log_oom();
        }
        e->runs = n;
        e->runs[e->n_runs++] = r;
        rs->fired++;
        rs->last_fired_at = r->fired_at;
        (void) strv_extend(&rs->instances, key);
        while (strv_length(rs->instances) > MAX_INSTANCES) {
                free(rs->instances[0]);
                memmove(rs->instances, rs->instances + 1, strv_length(rs->instances) * sizeof(char *));
        }
        /* Durable before it is announced and started (engine_on_save): a crash after the event must
         * not fire the rule again. A crash between the two leaves announced false, and the next
         * start writes the event. */
        engine_dirty(e);
}

/* ---- pending firings (before_s) ---- */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timer);
        free(p->key);
        free(p->type);
        free(p->summary);
        cJSON_Delete(p->detail);
        free(p);
        return NULL;
}

static void pending_remove(Engine *e, size_t i) {
        pending_free(e->pending[i]);
        memmove(e->pending + i, e->pending + i + 1, (e->n_pending - i - 1) * sizeof(Pending *));
        e->n_pending--;
}

static int on_pending(sd_event_source *s, uint64_t usec, void *userdata) {
        Pending *p = userdata;
        Engine *e = p->engine;
        (void) s;
        (void) usec;
        for (size_t i = 0; i < e->n_pending; i++)
                if (e->pending[i] == p) {
                        fire(e, p->rule, p->key, p->type, p->summary, p->detail, p->deadline);
                        pending_remove(e, i);
                        engine_dirty(e);
                        break;
                }
        return 0;
}

static int pending_add(Engine *e, size_t rule, const char *key, const char *type, const char *summary,
                       const cJSON *detail, usec_t fire_at, usec_t deadline) {
        Pending *p = calloc(1, sizeof(Pending)), **n;
        if (!p)
                return -ENOMEM;
        *p = (Pending){ .rule = rule, .fire_at = fire_at, .deadline = deadline, .engine = e };
        if (!(p->key = strdup(key)) || !(p->type = strdup(type)) || !(p->summary = strdup(summary ?: "")) ||
            !(p->detail = detail ? cJSON_Duplicate(detail, true) : cJSON_CreateObject()) ||
            !(n = realloc(e->pending, (e->n_pending + 1) * sizeof(Pending *)))) {
                pending_free(p);
                return -ENOMEM;
        }
        e->pending = n;
        e->pending[e->n_pending++] = p;
        return sd_event_add_time(e->event, &p->timer, CLOCK_REALTIME, fire_at, USEC_PER_SEC, on_pending, p);
}

/* ---- matching ---- */

static bool rule_has_instance(const RuleState *rs, const char *key) {
        for (char **k = rs->instances; k && *k; k++)
                if (strcmp(*k, key) == 0)
                        return true;
        return false;
}

void engine_on_event(Engine *e, const Event *ev) {
        const char *change = json_get_string(ev->detail, "change");
        usec_t now = now_usec(CLOCK_REALTIME);
        bool changed = false;

        /* A canceled or completed maintenance event is news, not a reason to drain. */
        if (startswith(ev->type, "maintenance:") && change && strcmp(change, "scheduled") != 0 &&
            strcmp(change, "rescheduled") != 0) {
                _cleanup_free_ char *key = engine_instance_key(ev);
                for (size_t i = 0; key && i < e->n_pending;)
                        if (strcmp(e->pending[i]->key, key) == 0) {
                                pending_remove(e, i);
                                changed = true;
                        } else
                                i++;
                if (changed)
                        engine_dirty(e);
                return;
        }
        for (size_t i = 0; i < e->config->n_rules; i++) {
                const Rule *ru = &e->config->rules[i];
                RuleState *rs = &e->rules[i];
                bool match = false;
                for (char **p = ru->on; p && *p && !match; p++)
                        match = event_pattern_matches(*p, ev->type);
                if (!match)
                        continue;
                _cleanup_free_ char *key = engine_instance_key(ev);
                if (!key || rule_has_instance(rs, key))
                        continue; /* once per event instance */
                if (ru->cooldown_s && rs->last_fired_at &&
                    now < rs->last_fired_at + ru->cooldown_s * USEC_PER_SEC) {
                        log_info("Rule %s: not firing on %s within its cooldown.", ru->name, ev->type);
                        continue;
                }
                usec_t deadline = engine_event_deadline(ev);
                /* A (re)scheduled maintenance event: fire before_s ahead of NotBefore. */
                for (size_t k = 0; k < e->n_pending;)
                        if (e->pending[k]->rule == i && strcmp(e->pending[k]->key, key) == 0)
                                pending_remove(e, k);
                        else
                                k++;
                changed = true;
                if (startswith(ev->type, "maintenance:") && ru->has_before && deadline &&
                    deadline > now + ru->before_s * USEC_PER_SEC) {
                        if (pending_add(e, i, key, ev->type, ev->summary, ev->detail,
                                        deadline - ru->before_s * USEC_PER_SEC, deadline) < 0)
                                log_oom();
                        continue;
                }
                fire(e, i, key, ev->type, ev->summary, ev->detail, deadline);
        }
        if (changed) {
                engine_dirty(e);
                engine_save_firing(e);
        }
}

static int on_metrics(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;
        usec_t now = now_usec(CLOCK_REALTIME),
               slack = e->config->metrics_collection_interval_s * USEC_PER_SEC;
        (void) usec;

        for (size_t i = 0; i < e->config->n_rules; i++) {
                const Rule *ru = &e->config->rules[i];
                RuleState *rs = &e->rules[i];
                if (!ru->metric)
                        continue;
                bool holds = series_holds(e->env.series(e->env.userdata), ru->metric, ru->above,
                                          ru->threshold, ru->for_s * USEC_PER_SEC, slack, now);
                if (!holds) {
                        /* cleared (not merely too few samples since a start): it may fire again */
                        if (!rs->armed && series_cleared(e->env.series(e->env.userdata), ru->metric,
                                                         ru->above, ru->threshold)) {
                                rs->armed = true;
                                engine_dirty(e);
                        }
                        continue;
                }
                if (!rs->armed || (ru->cooldown_s && rs->last_fired_at &&
                                   now < rs->last_fired_at + ru->cooldown_s * USEC_PER_SEC))
                        continue;
                rs->armed = false;
                char key[96], summary[256];
                snprintf(key, sizeof key, "metric:%llu", (unsigned long long) now);
                snprintf(summary, sizeof summary, "%s %s %g for %u s", ru->metric,
                         ru->above ? "above" : "below", ru->threshold, ru->for_s);
                _cleanup_json_ cJSON *d = cJSON_CreateObject();
                if (d) {
                        cJSON_AddStringToObject(d, "metric", ru->metric);
                        cJSON_AddStringToObject(d, "condition", ru->above ? "above" : "below");
                        cJSON_AddNumberToObject(d, "threshold", ru->threshold);
                        cJSON_AddNumberToObject(d, "for_s", ru->for_s);
                }
                fire(e, i, key, "metric", summary, d, 0);
        }
        return sd_event_source_set_time_relative(s, slack);
}

/* ---- persistence ---- */

static cJSON *run_to_json(const Run *r) {
        cJSON *j = cJSON_CreateObject(), *acts;
        if (!j || !cJSON_AddStringToObject(j, "id", r->id) ||
            !cJSON_AddStringToObject(j, "rule", r->rule_name) ||
            !cJSON_AddStringToObject(j, "type", r->type) ||
            !cJSON_AddStringToObject(j, "instance", r->instance) ||
            !cJSON_AddStringToObject(j, "summary", r->summary) ||
            !json_add_time(j, "fired_at", r->fired_at) ||
            !cJSON_AddNumberToObject(j, "deadline_us", (double) r->deadline) ||
            !cJSON_AddBoolToObject(j, "finished", r->finished) ||
            !cJSON_AddBoolToObject(j, "announced", r->announced) ||
            !cJSON_AddItemToObject(j, "detail", cJSON_Duplicate(r->detail, true)) ||
            !(acts = cJSON_AddArrayToObject(j, "actions"))) {
                cJSON_Delete(j);
                return NULL;
        }
        for (size_t i = 0; i < r->n_actions; i++) {
                const Action *a = &r->actions[i];
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(acts, o)) {
                        cJSON_Delete(o);
                        cJSON_Delete(j);
                        return NULL;
                }
                if (!cJSON_AddNumberToObject(o, "step", (double) a->step) ||
                    !cJSON_AddStringToObject(o, "target", a->target) ||
                    !cJSON_AddStringToObject(o, "state", action_states[a->state]) ||
                    !json_add_time(o, "started_at", a->started_at) ||
                    !json_add_time(o, "finished_at", a->finished_at) ||
                    !json_add_string_or_null(o, "error", a->error[0] ? a->error : NULL)) {
                        cJSON_Delete(j); /* and O with it */
                        return NULL;
                }
        }
        return j;
}

/* A rule's remembered instances as a JSON array (an empty one for a rule that never fired:
 * cJSON_CreateStringArray(NULL, 0) is NULL in cJSON 1.7.15). NULL only on ENOMEM. */
static cJSON *instances_to_json(char **instances) {
        cJSON *a = cJSON_CreateArray();
        for (char **k = instances; a && k && *k; k++)
                if (!cJSON_AddItemToArray(a, cJSON_CreateString(*k))) {
                        cJSON_Delete(a);
                        return NULL;
                }
        return a;
}

/* The text of run R in actions.json; NULL on ENOMEM. A queued or finished run does not change: its
 * text is kept, so a save with a thousand queued runs does not print them a thousand times. */
static const char *run_saved_text(Run *r) {
        if (r->saved && (r->started && !r->finished
                                 ? false
                                 : r->saved_announced == r->announced && r->saved_finished == r->finished))
                return r->saved;
        _cleanup_json_ cJSON *j = run_to_json(r);
        r->saved = mfree(r->saved);
        if (!j || !(r->saved = cJSON_PrintUnformatted(j)))
                return NULL;
        r->saved_announced = r->announced;
        r->saved_finished = r->finished;
        return r->saved;
}

/* The whole state but its runs as one JSON document, or NULL (ENOMEM: cJSON fails on nothing else
 * here). */
static cJSON *engine_state_to_json(const Engine *e) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        cJSON *rules, *pend, *reboots;
        usec_t now = now_usec(CLOCK_REALTIME);

        if (!j || !(rules = cJSON_AddObjectToObject(j, "rules")) ||
            !(pend = cJSON_AddArrayToObject(j, "pending")) ||
            !(reboots = cJSON_AddArrayToObject(j, "reboots")))
                return NULL;
        for (size_t i = 0; i < e->config->n_rules; i++) {
                const RuleState *rs = &e->rules[i];
                cJSON *o = cJSON_AddObjectToObject(rules, rs->rule->name), *inst;
                if (!o || !cJSON_AddNumberToObject(o, "fired", (double) rs->fired) ||
                    !json_add_time(o, "last_fired_at", rs->last_fired_at) ||
                    (rs->rule->metric && !cJSON_AddBoolToObject(o, "armed", rs->armed)) ||
                    !(inst = instances_to_json(rs->instances)))
                        return NULL;
                if (!cJSON_AddItemToObject(o, "instances", inst)) {
                        cJSON_Delete(inst);
                        return NULL;
                }
        }
        for (size_t i = 0; i < e->n_pending; i++) {
                const Pending *p = e->pending[i];
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(pend, o)) {
                        cJSON_Delete(o);
                        return NULL;
                }
                if (!cJSON_AddStringToObject(o, "rule", e->config->rules[p->rule].name) ||
                    !cJSON_AddStringToObject(o, "key", p->key) ||
                    !cJSON_AddStringToObject(o, "type", p->type) ||
                    !cJSON_AddStringToObject(o, "summary", p->summary) ||
                    !cJSON_AddNumberToObject(o, "fire_at_us", (double) p->fire_at) ||
                    !cJSON_AddNumberToObject(o, "deadline_us", (double) p->deadline) ||
                    !cJSON_AddItemToObject(o, "detail", cJSON_Duplicate(p->detail, true)))
                        return NULL;
        }
        for (size_t i = 0; i < e->n_reboots; i++)
                if (e->reboots[i] + USEC_PER_DAY > now &&
                    !cJSON_AddItemToArray(reboots, cJSON_CreateNumber((double) e->reboots[i])))
                        return NULL;
        return TAKE_PTR(j);
}

/* Writes STATE_DIR/actions.json now. Returns 0 or a negative errno, logged here with its real
 * cause. */
static int engine_save(Engine *e) {
        _cleanup_json_ cJSON *j = engine_state_to_json(e);
        _cleanup_free_ char *head = j ? cJSON_PrintUnformatted(j) : NULL;
        Buf text;
        int r = head ? 0 : -ENOMEM;

        /* {"rules":…,"pending":…,"reboots":…,"runs":[…]}: the runs spliced in as text */
        buf_init(&text, ENGINE_STATE_MAX);
        if (r >= 0)
                r = buf_append(&text, head, strlen(head) - 1);
        if (r >= 0)
                r = buf_append(&text, ",\"runs\":[", 9);
        for (size_t i = 0; r >= 0 && i < e->n_runs; i++) {
                const char *run = run_saved_text(e->runs[i]);
                r = !run ? -ENOMEM : i > 0 ? buf_append(&text, ",", 1) : 0;
                if (r >= 0)
                        r = buf_append(&text, run, strlen(run));
        }
        if (r >= 0)
                r = buf_append(&text, "]}", 2);
        if (r < 0) {
                buf_done(&text);
                return log_error_errno(r, "Cannot save the rules' state: %m");
        }
        r = write_file_atomic(e->state_dir, ENGINE_STATE_FILE, text.data, text.len, 0640);
        buf_done(&text);
        if (r >= 0)
                runs_saved(e);
        if (r < 0)
                return log_error_errno(r, "Cannot save the rules' state to %s/%s: %m", e->state_dir,
                                       ENGINE_STATE_FILE);
        return 0;
}

static ssize_t rule_index(const Engine *e, const char *name) {
        for (size_t i = 0; name && i < e->config->n_rules; i++)
                if (strcmp(e->config->rules[i].name, name) == 0)
                        return (ssize_t) i;
        return -1;
}

static void engine_load(Engine *e) {
        _cleanup_json_ cJSON *j = NULL;
        const cJSON *o, *x;

        /* A corrupt file is set aside (actions.json.corrupt) with a warning: start without it. */
        if (state_load_json(e->state_dir, ENGINE_STATE_FILE, ENGINE_STATE_MAX, &j) <= 0)
                return;
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "rules")) ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "runs"))) {
                (void) state_set_aside(e->state_dir, ENGINE_STATE_FILE, "no \"rules\" or \"runs\"");
                return;
        }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "rules")) {
                ssize_t i = rule_index(e, o->string);
                usec_t t;
                if (i < 0)
                        continue;
                e->rules[i].fired = json_get_u64(o, "fired", 0);
                if (parse_rfc3339(json_get_string(o, "last_fired_at"), &t) >= 0)
                        e->rules[i].last_fired_at = t;
                /* a metric rule that fired stays disarmed until its condition clears, restart or not */
                if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "armed")))
                        e->rules[i].armed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "armed"));
                cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "instances"))
                        if (cJSON_IsString(x))
                                (void) strv_extend(&e->rules[i].instances, x->valuestring);
        }
        cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(j, "reboots"))
                if (json_u64(x, 0) > 0) {
                        usec_t *n = realloc(e->reboots, (e->n_reboots + 1) * sizeof(usec_t));
                        if (n) {
                                e->reboots = n;
                                e->reboots[e->n_reboots++] = json_u64(x, 0);
                        }
                }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "pending")) {
                ssize_t i = rule_index(e, json_get_string(o, "rule"));
                if (i >= 0 && json_get_string(o, "key") && json_get_string(o, "type"))
                        (void) pending_add(
                                e, (size_t) i, json_get_string(o, "key"), json_get_string(o, "type"),
                                json_get_string(o, "summary"), cJSON_GetObjectItemCaseSensitive(o, "detail"),
                                json_get_u64(o, "fire_at_us", 0), json_get_u64(o, "deadline_us", 0));
        }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "runs")) {
                ssize_t i = rule_index(e, json_get_string(o, "rule"));
                const cJSON *acts = cJSON_GetObjectItemCaseSensitive(o, "actions");
                if (i < 0 || !json_get_string(o, "type") || !json_get_string(o, "instance"))
                        continue; /* the rule is gone from the configuration */
                Run *r =
                        run_new(e, (size_t) i, json_get_string(o, "type"), json_get_string(o, "instance"),
                                json_get_string(o, "summary"), cJSON_GetObjectItemCaseSensitive(o, "detail"),
                                json_get_u64(o, "deadline_us", 0));
                if (!r)
                        continue;
                snprintf(r->id, sizeof r->id, "%s", json_get_string(o, "id") ?: r->id);
                usec_t t;
                if (parse_rfc3339(json_get_string(o, "fired_at"), &t) >= 0)
                        r->fired_at = t;
                r->finished = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "finished"));
                r->announced = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "announced"));
                /* The steps as they were, if the rule still has the same shape. */
                if ((size_t) cJSON_GetArraySize(acts) == r->n_actions) {
                        size_t k = 0;
                        cJSON_ArrayForEach (x, acts) {
                                Action *a = &r->actions[k++];
                                const char *st = json_get_string(x, "state");
                                for (int s = 0; st && s < _ACTION_STATE_MAX; s++)
                                        if (strcmp(st, action_states[s]) == 0)
                                                a->state = (ActionState) s;
                                if (parse_rfc3339(json_get_string(x, "started_at"), &t) >= 0)
                                        a->started_at = t;
                                if (parse_rfc3339(json_get_string(x, "finished_at"), &t) >= 0)
                                        a->finished_at = t;
                                snprintf(a->error, sizeof a->error, "%s", json_get_string(x, "error") ?: "");
                                if (a->state == ACTION_RUNNING)
                                        a->state = ACTION_PENDING; /* cut short by a crash: it runs again */
                        }
                }
                Run **n = realloc(e->runs, (e->n_runs + 1) * sizeof(Run *));
                if (!n) {
                        run_free(r);
                        continue;
                }
                e->runs = n;
                e->runs[e->n_runs++] = r;
                if (!r->finished)
                        log_notice("Resuming rule %s, cut short before the agent stopped.", r->rule_name);
        }
}

typedef struct RunLookup {
        const char *id;
        bool found;
} RunLookup;

static int visit_rule_fired(const cJSON *event, void *userdata) {
        RunLookup *l = userdata;
        const char *run = json_get_string(cJSON_GetObjectItemCaseSensitive(event, "detail"), "run");
        l->found =
                strcmp(json_get_string(event, "type"), "rule-fired") == 0 && run && strcmp(run, l->id) == 0;
        return l->found ? -ECANCELED : 0;
}

/* Whether events.jsonl (or a rotated file) holds the rule-fired event of run ID. An unreadable
 * journal counts as not holding it: an event written twice beats an event lost. */
static bool journal_has_run(const char *state_dir, const char *id) {
        RunLookup l = { .id = id };
        (void) journal_read(state_dir, visit_rule_fired, &l, NULL);
        return l.found;
}

/* ---- once per loop iteration: save, then announce and move runs on ---- */

static void runs_saved(Engine *e) {
        for (size_t i = 0; i < e->n_runs; i++) {
                e->runs[i]->durable = true;
                e->runs[i]->durable_announced = e->runs[i]->announced;
        }
}

/* A firing (or a pending one) on an event is saved before engine_on_event returns: the producer
 * saves its own position next (imds-notices.json, the kmsg cursor), and a crash between the
 * two must not lose the firing. A burst is the exception: past SYNC_SAVES_PER_SEC such saves in
 * a second, firings wait for the next save, at most SAVE_GAP_USEC away (engine_flush() closes
 * that window), so that saves, two fsyncs each, never take the whole loop. */
static void engine_save_firing(Engine *e) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (now >= e->sync_since + USEC_PER_SEC) {
                e->sync_since = now;
                e->sync_saves = 0;
        }
        if (e->sync_saves >= SYNC_SAVES_PER_SEC)
                return;
        e->sync_saves++;
        if (engine_save(e) >= 0)
                e->saved_at = now_usec(CLOCK_MONOTONIC); /* still dirty: its announcement follows */
}

void engine_flush(Engine *e) {
        if (e && e->dirty && engine_save(e) >= 0)
                e->saved_at = now_usec(CLOCK_MONOTONIC);
}

/* Has engine_on_save run: as soon as the loop is idle, but with SAVE_GAP_USEC after the last save
 * when it is to save again (a save is two fsyncs: a status query must not wait behind several). */
static void engine_schedule(Engine *e) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int enabled = SD_EVENT_OFF;

        if (!e->save || (sd_event_source_get_enabled(e->save, &enabled) >= 0 && enabled != SD_EVENT_OFF))
                return;
        (void) sd_event_source_set_time(e->save, e->dirty ? MAX(now, e->saved_at + SAVE_GAP_USEC) : now);
        (void) sd_event_source_set_enabled(e->save, SD_EVENT_ONESHOT);
}

static void engine_dirty(Engine *e) {
        e->dirty = true;
        engine_schedule(e);
}

/* Every change of a loop iteration is saved once, here, before what depends on it being durable:
 * a firing is announced only once saved, its steps start only once saved as announced, an
 * action starts only after a save. Runs are trimmed here only, so nothing shifts e->runs under a
 * loop over it. */
static int engine_on_save(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;
        _cleanup_free_ size_t *running = calloc(e->config->n_rules + 1, sizeof(size_t));
        size_t budget = ANNOUNCE_BUDGET;
        bool more = false;
        (void) s;
        (void) usec;

        if (!running)
                return log_oom(), engine_dirty(e), 0;
        if (e->dirty) {
                runs_trim(e);
                e->dirty = false;
                (void) engine_save(e);
                e->saved_at = now_usec(CLOCK_MONOTONIC);
        }
        /* Index loops: announcing and starting may emit events that fire rules (appending runs).
         * A burst is announced and started a budget at a time, the rest in later iterations. */
        for (size_t i = 0; i < e->n_runs; i++)
                if (!e->runs[i]->announced && e->runs[i]->durable) {
                        if (budget-- == 0) {
                                more = true;
                                break;
                        }
                        announce(e->runs[i]);
                        engine_dirty(e); /* records announced */
                }
        for (size_t i = 0; i < e->n_runs; i++)
                running[e->runs[i]->rule] += e->runs[i]->started && !e->runs[i]->finished;
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *r = e->runs[i];
                if (r->durable_announced && !r->finished && !r->started &&
                    running[r->rule] < MAX_RUNNING_RUNS) {
                        running[r->rule]++;
                        run_go(r);
                }
        }
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *r = e->runs[i];
                if (r->advance && !r->finished) {
                        r->advance = false;
                        action_start(r);
                }
        }
        if (more)
                engine_schedule(e);
        return 0;
}

/* ---- life ---- */

int engine_new(sd_event *event, sd_bus *bus, Http *http, const Config *config, const char *state_dir,
               const EngineEnv *env, Engine **ret) {
        _cleanup_(engine_freep) Engine *e = calloc(1, sizeof(Engine));
        int r;

        if (!e)
                return -ENOMEM;
        e->event = sd_event_ref(event);
        e->bus = bus ? sd_bus_ref(bus) : NULL;
        e->http = http;
        e->config = config;
        e->env = *env;
        if (!(e->state_dir = strdup(state_dir)) ||
            !(e->rules = calloc(config->n_rules + 1, sizeof(RuleState))))
                return -ENOMEM;
        for (size_t i = 0; i < config->n_rules; i++)
                e->rules[i] = (RuleState){ .rule = &config->rules[i], .armed = true };
        if (e->bus) {
                r = sd_bus_match_signal(e->bus, &e->job_removed, "org.freedesktop.systemd1",
                                        "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                        "JobRemoved", on_job_removed, e);
                if (r < 0)
                        return r;
                (void) sd_bus_call_method_async(
                        e->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, "");
        }
        engine_load(e);
        r = sd_event_add_time_relative(event, &e->metric_timer, CLOCK_MONOTONIC,
                                       config->metrics_collection_interval_s * USEC_PER_SEC,
                                       USEC_PER_MSEC * 10, on_metrics, e);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(e->metric_timer, "rules-metrics");
        (void) sd_event_source_set_enabled(e->metric_timer, SD_EVENT_ON);
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *run = e->runs[i];
                if (!run->announced && !journal_has_run(e->state_dir, run->id))
                        announce(run); /* the crash came between saving the firing and writing it */
                run->announced = true;
        }
        r = sd_event_add_time(event, &e->save, CLOCK_MONOTONIC, 0, 0, engine_on_save, e);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(e->save, "rules-save");
        /* after everything else that is ready: a status query never waits behind a save but one */
        (void) sd_event_source_set_priority(e->save, SD_EVENT_PRIORITY_IDLE);
        engine_dirty(e); /* unfinished runs resume after this first save */
        *ret = TAKE_PTR(e);
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        if (e->dirty && e->save)
                (void) engine_save(e); /* what changed since the last loop iteration */
        e->save = sd_event_source_disable_unref(e->save);
        for (size_t i = 0; i < e->n_runs; i++)
                run_free(e->runs[i]);
        free(e->runs);
        for (size_t i = 0; i < e->n_pending; i++)
                pending_free(e->pending[i]);
        free(e->pending);
        for (size_t i = 0; e->rules && i < e->config->n_rules; i++)
                strv_free(e->rules[i].instances);
        free(e->rules);
        free(e->reboots);
        sd_event_source_disable_unref(e->metric_timer);
        sd_bus_slot_unref(e->job_removed);
        sd_bus_unref(e->bus);
        sd_event_unref(e->event);
        free(e->state_dir);
        free(e);
        return NULL;
}

int engine_status(const Engine *e, cJSON *doc) {
        cJSON *rules = cJSON_CreateArray(), *actions = cJSON_CreateArray();
        if (!rules || !actions)
                goto fail;
        for (size_t i = 0; e && i < e->config->n_rules; i++) {
                const RuleState *rs = &e->rules[i];
                const char *state = "idle";
                size_t queued = 0;
                for (size_t k = 0; k < e->n_pending; k++)
                        if (e->pending[k]->rule == i)
                                state = "pending";
                for (size_t k = 0; k < e->n_runs; k++)
                        if (e->runs[k]->rule == i && !e->runs[k]->finished) {
                                state = "running";
                                queued += !e->runs[k]->started;
                        }
                cJSON *o = cJSON_CreateObject();
                /* Beyond SPEC §5's keys: runs waiting for one of the rule's MAX_RUNNING_RUNS slots
                 * (their actions show as "pending"), finished runs no longer listed under "actions"
                 * (only the newest MAX_FINISHED_RUNS are kept), firings refused with
                 * MAX_QUEUED_RUNS waiting. */
                if (!o || !cJSON_AddItemToArray(rules, o) ||
                    !cJSON_AddStringToObject(o, "name", rs->rule->name) ||
                    !cJSON_AddNumberToObject(o, "fired", (double) rs->fired) ||
                    !json_add_time(o, "last_fired_at", rs->last_fired_at) ||
                    !cJSON_AddStringToObject(o, "state", state) ||
                    !cJSON_AddNumberToObject(o, "queued", (double) queued) ||
                    !cJSON_AddNumberToObject(o, "runs_not_shown", (double) rs->forgotten) ||
                    !cJSON_AddNumberToObject(o, "dropped", (double) rs->dropped))
                        goto fail;
        }
        for (size_t k = 0; e && k < e->n_runs; k++) {
                const Run *r = e->runs[k];
                if (!r->started && !r->finished)
                        continue; /* queued: counted in its rule's "queued" */
                for (size_t i = 0; i < r->n_actions; i++) {
                        const Action *a = &r->actions[i];
                        cJSON *o = cJSON_CreateObject();
                        if (!o || !cJSON_AddItemToArray(actions, o) ||
                            !cJSON_AddStringToObject(o, "rule", r->rule_name) ||
                            !cJSON_AddStringToObject(o, "run", r->id) ||
                            !cJSON_AddStringToObject(o, "event", r->type) ||
                            !cJSON_AddStringToObject(o, "step", step_kind_to_string(step_of(r, a)->kind)) ||
                            !cJSON_AddStringToObject(o, "target", a->target) ||
                            !cJSON_AddStringToObject(o, "state", action_states[a->state]) ||
                            !json_add_time(o, "started_at", a->started_at) ||
                            !json_add_time(o, "finished_at", a->finished_at) ||
                            !json_add_string_or_null(o, "error", a->error[0] ? a->error : NULL))
                                goto fail;
                }
        }
        int r = json_replace(doc, "rules", rules);
        int k = json_replace(doc, "actions", actions);
        return r < 0 ? r : k;
fail:
        cJSON_Delete(rules);
        cJSON_Delete(actions);
        return -ENOMEM;
}
