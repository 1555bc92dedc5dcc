/* actions-alert.c — the executors of notify to Slack, Teams or PagerDuty (notify.c posts, with its
 * retries and PagerDuty's incident memory) and of reschedule (ec2.c: DescribeInstanceStatus, the
 * window, ModifyInstanceEventStartTime). Thin rows of executors[]: an ActionInfo becomes facts, the
 * result comes back through action_exec_done(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions-internal.h"
#include "ec2agent/catalog.h"
#include "ec2agent/ec2.h"
#include "ec2agent/json.h"
#include "ec2agent/notify.h"

bool action_step_is_alert(const Step *s) {
        return s->kind == STEP_NOTIFY && (s->slack || s->teams || s->pagerduty_routing_key);
}

int action_alert_target(const Step *s, NotifyTarget *ret) {
        if (s->kind != STEP_NOTIFY)
                return -EINVAL;
        if (s->slack)
                *ret = (NotifyTarget){ .format = ALERT_SLACK, .url = s->slack };
        else if (s->teams)
                *ret = (NotifyTarget){ .format = ALERT_TEAMS, .url = s->teams };
        else if (s->pagerduty_routing_key)
                *ret = (NotifyTarget){ .format = ALERT_PAGERDUTY,
                                       .url = s->pagerduty_url ?: PAGERDUTY_DEFAULT_URL,
                                       .routing_key = s->pagerduty_routing_key };
        else
                return -EINVAL;
        return 0;
}

void actions_set_notify(Actions *a, Notifier *n, char **(*reasons)(void *userdata), void *userdata) {
        a->notifier = n;
        a->reasons = reasons;
        a->reasons_userdata = userdata;
}

char *action_scheduled_instance(const char *event, const cJSON *detail) {
        const char *id = json_get_string(detail, "event_id");
        char *k = NULL;
        if (!startswith(event, "maintenance:") || !id || asprintf(&k, "maintenance:%s", id) < 0)
                return NULL;
        return k;
}

void action_alert_facts(const Actions *a, const char *rule, const char *event, const char *summary,
                        usec_t deadline, char **reasons, AlertFacts *ret) {
        const InstanceIdentity *id = a->aws.identity(a->aws.userdata);
        const EventTypeInfo *t = event_type_lookup(event);

        *ret = (AlertFacts){
                .instance_id = id && id->instance_id[0] ? id->instance_id : NULL,
                .instance_type = id && id->instance_type[0] ? id->instance_type : NULL,
                .availability_zone = id && id->availability_zone[0] ? id->availability_zone : NULL,
                .asg_name = a->aws.asg_name(a->aws.userdata),
                .event = event,
                .summary = summary,
                .deadline = deadline,
                .rule = rule,
                /* a metric rule's trouble (memory, disk) is a warning until an operator says otherwise */
                .severity = t ? severity_to_string(t->severity) : "warning",
                .reasons = reasons,
        };
}

/* ---- notify: Slack, Teams, PagerDuty ---- */

/* The index of step S in the rule named RULE: what the incident memory keeps to find the routing key
 * again (a secret, never stored). */
static unsigned step_index(const Config *c, const char *rule, const Step *s) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (strcmp(c->rules[i].name, rule) == 0 && s >= c->rules[i].steps &&
                    s < c->rules[i].steps + c->rules[i].n_steps)
                        return (unsigned) (s - c->rules[i].steps);
        return 0;
}

typedef struct AlertAction {
        ActionExec x;
        NotifyCall *call;
} AlertAction;

static void alert_done(int r, const char *error, void *userdata) {
        AlertAction *p = userdata;
        p->call = NULL;
        if (r < 0)
                return action_exec_done(&p->x, ACTION_FAILED, "%s", error ?: strerror(-r));
        action_exec_done(&p->x, ACTION_DONE, NULL);
}

static void alert_start(ActionExec *x) {
        AlertAction *p = (AlertAction *) x;
        Actions *a = x->actions;
        _cleanup_strv_free_ char **reasons = a->reasons ? a->reasons(a->reasons_userdata) : NULL;
        _cleanup_free_ char *instance = action_scheduled_instance(x->info.event, x->info.detail);
        NotifyTarget t;
        AlertFacts f;
        int r;

        if (!a->notifier || action_alert_target(x->info.step, &t) < 0)
                return action_exec_done(x, ACTION_FAILED, "notify is not set up");
        action_alert_facts(a, x->info.rule, x->info.event, x->info.summary, x->info.deadline, reasons, &f);
        r = notifier_post(a->notifier, &t, &f, step_index(a->config, x->info.rule, x->info.step),
                          instance ?: x->info.event, alert_done, p, &p->call);
        if (r < 0)
                action_exec_done(x, ACTION_FAILED, "cannot post: %s", strerror(-r));
}

/* Ends X at its timeout with what the retries saw, as action_cancel() words it for the others. */
static void cancel_with_note(ActionExec *x, const char *note) {
        snprintf(x->note, sizeof x->note, "%s", note);
        action_exec_done(x, ACTION_TIMED_OUT, "no result within the step's time%s%s", x->note[0] ? ": " : "",
                         x->note);
}

static void alert_cancel(ActionExec *x) {
        cancel_with_note(x, notify_call_note(((AlertAction *) x)->call));
}

static void alert_release(ActionExec *x) {
        AlertAction *p = (AlertAction *) x;
        notify_call_cancel(p->call);
        p->call = NULL;
}

const ActionExecutor action_alert_executor = { sizeof(AlertAction), alert_start, alert_cancel,
                                               alert_release };

/* ---- reschedule ---- */

typedef struct RescheduleAction {
        ActionExec x;
        Ec2Reschedule *r;
} RescheduleAction;

static void reschedule_done(int r, const char *reason, usec_t old_not_before, usec_t new_not_before,
                            void *userdata) {
        RescheduleAction *p = userdata;
        char was[RFC3339_MAX], now[RFC3339_MAX];

        p->r = NULL;
        if (r < 0)
                return action_exec_done(&p->x, ACTION_FAILED, "%s", reason ?: strerror(-r));
        if (reason) /* nothing to move: already in the window */
                return action_exec_done(&p->x, ACTION_DONE, "%s", reason);
        action_exec_done(&p->x, ACTION_DONE, "moved to %s (was %s)", format_rfc3339(now, new_not_before),
                         format_rfc3339(was, old_not_before));
}

static void reschedule_start(ActionExec *x) {
        RescheduleAction *p = (RescheduleAction *) x;
        Actions *a = x->actions;
        const char *event_id = json_get_string(x->info.detail, "event_id");
        const char *region = aws_region(a->config, a->aws.identity(a->aws.userdata));
        _cleanup_free_ char *endpoint = NULL;
        int r;

        if (!startswith(x->info.event, "maintenance:"))
                return action_exec_done(x, ACTION_SKIPPED, "%s is not a scheduled event", x->info.event);
        if (!event_id)
                return action_exec_done(x, ACTION_FAILED, "cannot be rescheduled: the event has no EventId");
        if (!region || !(endpoint = aws_endpoint(a->config, AWS_SERVICE_EC2, region)))
                return action_exec_done(x, ACTION_FAILED, "no AWS region");
        Ec2RescheduleParams params = {
                .event = a->event,
                .http = a->http,
                .aws = &a->aws,
                .endpoint = endpoint,
                .region = region,
                .event_id = event_id,
                .window = x->info.step->window,
        };
        r = ec2_reschedule_start(&params, reschedule_done, p, &p->r);
        if (r < 0)
                action_exec_done(x, ACTION_FAILED, "cannot start: %s", strerror(-r));
}

static void reschedule_cancel(ActionExec *x) {
        cancel_with_note(x, ec2_reschedule_note(((RescheduleAction *) x)->r));
}

static void reschedule_release(ActionExec *x) {
        RescheduleAction *p = (RescheduleAction *) x;
        ec2_reschedule_cancel(p->r);
        p->r = NULL;
}

const ActionExecutor action_reschedule_executor = { sizeof(RescheduleAction), reschedule_start,
                                                    reschedule_cancel, reschedule_release };
