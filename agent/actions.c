/* actions.c — the table of step executors and what they share: starting an action with its step
 * kind's executor, the report through the done callback (errors scrubbed of URL secrets), the
 * step's timeout, and systemd jobs: stop and restart through the manager's D-Bus API
 * (StopUnit/RestartUnit "replace", then the job's JobRemoved signal), reboot as StartUnit
 * reboot.target "replace-irreversibly". Exec is in actions-exec.c, the HTTP steps in
 * actions-http.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actions-internal.h"
#include "ec2agent/log.h"

static const char *const action_states[_ACTION_STATE_MAX] = {
        [ACTION_PENDING] = "pending", [ACTION_RUNNING] = "running",     [ACTION_DONE] = "done",
        [ACTION_FAILED] = "failed",   [ACTION_TIMED_OUT] = "timed-out", [ACTION_SKIPPED] = "skipped",
};

const char *action_state_to_string(ActionState s) {
        return s >= 0 && s < _ACTION_STATE_MAX ? action_states[s] : NULL;
}

int action_state_from_string(const char *s) {
        for (int i = 0; s && i < _ACTION_STATE_MAX; i++)
                if (strcmp(s, action_states[i]) == 0)
                        return i;
        return -EINVAL;
}

/* ---- secrets in texts ---- */

/* Removes the user:password@ of URL from TEXT wherever an error message repeated it (curl's
 * messages may), in place. */
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

void action_scrub(const Actions *a, const Step *s, char *text) {
        scrub_userinfo(text, s && s->kind == STEP_NOTIFY ? s->webhook : NULL);
        scrub_userinfo(text, a->config->endpoint_sns);
        scrub_userinfo(text, a->config->endpoint_autoscaling);
        scrub_userinfo(text, a->config->endpoint_ec2);
}

void action_target(const Step *s, char *ret, size_t max) {
        NotifyTarget t;
        if (action_alert_target(s, &t) >= 0)
                return notify_target_text(&t, ret, max); /* scheme and host: the path holds a token */
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
                 s->kind == STEP_EXEC         ? s->argv[0]
                 : s->kind == STEP_LIFECYCLE  ? s->hook
                 : s->kind == STEP_NOTIFY     ? s->sns_topic_arn
                 : s->kind == STEP_RESCHEDULE ? "ec2 scheduled event"
                                              : "reboot.target");
}

/* ---- systemd jobs ---- */

static void job_unlink(ActionJob *j) {
        if (!j->path[0])
                return; /* not linked (nor, before its first call, owned) */
        Actions *a = j->owner->actions;
        if (j->prev)
                j->prev->next = j->next;
        else
                a->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->next = j->prev = NULL;
        j->path[0] = 0;
}

void action_job_release(ActionJob *j) {
        job_unlink(j);
        j->slot = sd_bus_slot_unref(j->slot);
}

static int actions_on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Actions *a = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        (void) error;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        for (ActionJob *j = a->jobs; j; j = j->next)
                if (strcmp(j->path, path) == 0) {
                        job_unlink(j);
                        j->removed(j, result);
                        return 0;
                }
        return 0;
}

int action_job_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ActionJob *j = userdata;
        Actions *a = j->owner->actions;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *path;
        (void) error;

        j->slot = sd_bus_slot_unref(j->slot);
        if (err)
                return action_exec_done(j->owner, ACTION_FAILED, "%s", err->message ?: err->name), 0;
        if (sd_bus_message_read(m, "o", &path) < 0)
                return action_exec_done(j->owner, ACTION_FAILED, "bad reply from systemd"), 0;
        snprintf(j->path, sizeof j->path, "%s", path); /* JobRemoved tells the result */
        j->prev = NULL;
        j->next = a->jobs;
        if (a->jobs)
                a->jobs->prev = j;
        a->jobs = j;
        return 0;
}

int action_job_call(ActionJob *j, const char *method, const char *unit, const char *mode) {
        action_job_release(j);
        return sd_bus_call_method_async(j->owner->actions->bus, &j->slot, "org.freedesktop.systemd1",
                                        "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                        method, action_job_reply, j, "ss", unit, mode);
}

/* ---- stop, restart, reboot ---- */

typedef struct UnitExec {
        ActionExec x;
        ActionJob job;
} UnitExec;

static void unit_job_removed(ActionJob *j, const char *result) {
        if (strcmp(result, "done") == 0)
                action_exec_done(j->owner, ACTION_DONE, NULL);
        else
                action_exec_done(j->owner, ACTION_FAILED, "systemd job %s", result);
}

static void unit_start(ActionExec *x) {
        UnitExec *u = (UnitExec *) x;
        StepKind kind = x->info.step->kind;
        const char *method = kind == STEP_STOP      ? "StopUnit"
                             : kind == STEP_RESTART ? "RestartUnit"
                                                    : "StartUnit";
        const char *mode = kind == STEP_REBOOT ? "replace-irreversibly" : "replace";
        int k;

        if (!x->actions->bus)
                return action_exec_done(x, ACTION_FAILED, "systemd is not running (no system bus)");
        u->job.owner = x;
        u->job.removed = unit_job_removed;
        k = action_job_call(&u->job, method, x->info.target, mode);
        if (k < 0)
                action_exec_done(x, ACTION_FAILED, "cannot call systemd: %s", strerror(-k));
}

static void unit_release(ActionExec *x) {
        action_job_release(&((UnitExec *) x)->job);
}

static const ActionExecutor unit_executor = { sizeof(UnitExec), unit_start, NULL, unit_release };

/* ---- the table ---- */

static const ActionExecutor *const executors[_STEP_KIND_MAX] = {
        [STEP_STOP] = &unit_executor,
        [STEP_RESTART] = &unit_executor,
        [STEP_EXEC] = &action_exec_executor,
        [STEP_LIFECYCLE] = &action_lifecycle_executor,
        [STEP_NOTIFY] = &action_notify_executor,
        [STEP_REBOOT] = &unit_executor,
        [STEP_RESCHEDULE] = &action_reschedule_executor,
};

int action_start(Actions *a, const ActionInfo *info, ActionDoneFn done, void *userdata, ActionExec **ret) {
        const ActionExecutor *ex = info->step->kind >= 0 && info->step->kind < _STEP_KIND_MAX
                                           ? executors[info->step->kind]
                                           : NULL;
        ActionExec *x;

        if (ex == &action_notify_executor && action_step_is_alert(info->step))
                ex = &action_alert_executor; /* notify to Slack, Teams, PagerDuty */
        if (!ex)
                return -EOPNOTSUPP;
        x = calloc(1, ex->size);
        if (!x)
                return -ENOMEM;
        *x = (ActionExec){ .executor = ex, .actions = a, .info = *info, .done = done, .userdata = userdata };
        *ret = x;
        ex->start(x);
        return 0;
}

void action_exec_done(ActionExec *x, ActionState state, const char *fmt, ...) {
        char error[256] = "";

        if (x->finished)
                return;
        x->finished = true;
        if (x->executor->release)
                x->executor->release(x);
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                (void) vsnprintf(error, sizeof error, fmt, ap);
                va_end(ap);
                action_scrub(x->actions, x->info.step, error);
        }
        x->done(state, error, NULL, x->userdata);
}

void action_cancel(ActionExec *x) {
        if (!x || x->finished)
                return;
        if (x->executor->cancel)
                return x->executor->cancel(x);
        action_exec_done(x, ACTION_TIMED_OUT, "no result within the step's time%s%s", x->note[0] ? ": " : "",
                         x->note);
}

const char *action_note(const ActionExec *x) {
        return x && !x->finished ? x->note : "";
}

ActionExec *action_free(ActionExec *x) {
        if (!x)
                return NULL;
        if (!x->finished && x->executor->release)
                x->executor->release(x);
        free(x);
        return NULL;
}

/* ---- the shared context ---- */

int actions_new(sd_event *event, sd_bus *bus, Http *http, const Config *config, const AwsEnv *aws,
                Actions **ret) {
        Actions *a = calloc(1, sizeof(Actions));
        int r;

        if (!a)
                return -ENOMEM;
        *a = (Actions){ .event = sd_event_ref(event),
                        .bus = bus ? sd_bus_ref(bus) : NULL,
                        .http = http,
                        .config = config,
                        .aws = *aws };
        if (a->bus) {
                r = sd_bus_match_signal(a->bus, &a->job_removed, "org.freedesktop.systemd1",
                                        "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                        "JobRemoved", actions_on_job_removed, a);
                if (r < 0) {
                        actions_free(a);
                        return r;
                }
                (void) sd_bus_call_method_async(
                        a->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, "");
        }
        *ret = a;
        return 0;
}

Actions *actions_free(Actions *a) {
        if (!a)
                return NULL;
        sd_bus_slot_unref(a->job_removed);
        sd_bus_unref(a->bus);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}
