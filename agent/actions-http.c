/* actions-http.c — the steps that are one HTTP request: complete_lifecycle_action (Auto Scaling
 * CompleteLifecycleAction, with RecordLifecycleActionHeartbeat every heartbeat_s while the earlier
 * steps run) and notify (SNS Publish, or a webhook POST of the event's JSON). A request that
 * fails in a way worth retrying is retried with backoff within the step's time; credentials,
 * identity or region not known yet are waited for the same way. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actions-internal.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

#define HTTP_RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define HTTP_RETRY_CAP_USEC  (20 * USEC_PER_SEC)
#define HTTP_STEP_BODY_MAX   (256 * 1024)

int action_http_send(Actions *a, const ActionHttpRequest *h, HttpCallback cb, void *userdata,
                     HttpCall **ret_call) {
        const AwsCredentials *c = a->aws.credentials(a->aws.userdata);
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
        k = http_submit(a->http, &req, cb, userdata, ret_call);
        aws_signing_done(&sig);
        return k;
}

/* Builds the request of a lifecycle call (ACTION: CompleteLifecycleAction or
 * RecordLifecycleActionHeartbeat) for step S. Returns 0, or a negative errno with a reason in ERR. */
static int lifecycle_request(Actions *a, const Step *s, const char *action, ActionHttpRequest *h,
                             char **ret_url, char err[static 256]) {
        const InstanceIdentity *id = a->aws.identity(a->aws.userdata);
        const char *group = s->group ?: a->aws.asg_name(a->aws.userdata);
        const char *region = aws_region(a->config, id);

        if (!id || !id->instance_id[0])
                return snprintf(err, 256, "the instance id is not known (IMDS)"), -ENODATA;
        if (!group)
                return snprintf(err, 256,
                                "no Auto Scaling group: set \"group\" or enable instance tags in metadata"),
                       -ENODATA;
        if (!region || !(*ret_url = aws_endpoint(a->config, AWS_SERVICE_AUTOSCALING, region)))
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

int action_http_event_body(const ActionExec *x, Buf *b, bool sns) {
        const ActionInfo *in = &x->info;
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        const InstanceIdentity *id = x->actions->aws.identity(x->actions->aws.userdata);
        _cleanup_free_ char *text = NULL;

        if (!j || !cJSON_AddStringToObject(j, "rule", in->rule) ||
            !cJSON_AddStringToObject(j, "event", in->event) ||
            !cJSON_AddStringToObject(j, "summary", in->summary) ||
            !json_add_string_or_null(j, "instance_id", id ? id->instance_id : NULL) ||
            !json_add_time(j, "fired_at", in->fired_at) || !json_add_time(j, "deadline", in->deadline) ||
            !cJSON_AddItemToObject(j, "detail",
                                   in->detail ? cJSON_Duplicate(in->detail, true) : cJSON_CreateObject()) ||
            !(text = cJSON_PrintUnformatted(j)))
                return -ENOMEM;
        if (!sns)
                return buf_append(b, text, strlen(text));
        char subject[300];
        snprintf(subject, sizeof subject, "ec2agent %s: %s on %s", in->rule, in->event,
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

static int lifecycle_build(const ActionExec *x, ActionHttpRequest *h, char **ret_url, char err[static 256]) {
        return lifecycle_request(x->actions, x->info.step, "CompleteLifecycleAction", h, ret_url, err);
}

static int notify_build(const ActionExec *x, ActionHttpRequest *h, char **ret_url, char err[static 256]) {
        const Step *s = x->info.step;
        char *region = h->region_buf;

        if (s->webhook) {
                h->url = s->webhook;
                h->content_type = "application/json";
                return action_http_event_body(x, &h->body, false);
        }
        if (!arn_region(s->sns_topic_arn, region, sizeof h->region_buf))
                return snprintf(err, 256, "cannot read the region of %s", s->sns_topic_arn), -EINVAL;
        if (!(*ret_url = aws_endpoint(x->actions->config, AWS_SERVICE_SNS, region)))
                return -ENOMEM;
        h->url = *ret_url;
        h->sigv4_service = "sns";
        h->region = region;
        return aws_form_add(&h->body, "TopicArn", s->sns_topic_arn) < 0
                       ? -ENOMEM
                       : action_http_event_body(x, &h->body, true);
}

static void http_step_done(const HttpResponse *resp, void *userdata);
static int http_step_on_retry(sd_event_source *s, uint64_t usec, void *userdata);

/* Builds and sends the step's request; what is not known yet is waited for, once a second. */
static void http_step_try(ActionHttp *p) {
        ActionHttpRequest h = {};
        _cleanup_free_ char *url = NULL;
        char err[256] = "";
        int k;

        buf_init(&h.body, HTTP_STEP_BODY_MAX);
        k = p->build(&p->x, &h, &url, err);
        if (k >= 0)
                k = action_http_send(p->x.actions, &h, http_step_done, p, &p->call);
        buf_done(&h.body);
        if (k == -ENOKEY || k == -ENODATA) {
                /* Credentials, identity or region come from IMDS a moment after start: wait for them
                 * within the step's time; its timeout reports what was missing. */
                snprintf(p->x.note, sizeof p->x.note, "%s", k == -ENOKEY ? "no AWS credentials yet" : err);
                if (sd_event_add_time_relative(p->x.actions->event, &p->retry, CLOCK_MONOTONIC, USEC_PER_SEC,
                                               0, http_step_on_retry, p) >= 0)
                        return;
        }
        if (k < 0)
                action_exec_done(&p->x, ACTION_FAILED, "%s", err[0] ? err : strerror(-k));
}

static int http_step_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        ActionHttp *p = userdata;
        (void) s;
        (void) usec;
        p->retry = sd_event_source_disable_unref(p->retry);
        http_step_try(p);
        return 0;
}

static void http_step_done(const HttpResponse *resp, void *userdata) {
        ActionHttp *p = userdata;
        char code[64] = "", message[256] = "";

        p->call = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300)
                return action_exec_done(&p->x, ACTION_DONE, NULL);
        if (resp->error == 0)
                (void) aws_parse_error(resp->body, resp->body_len, code, message);
        if (resp->error < 0 || aws_retryable(resp->status, code)) {
                /* Retry within the action's time; its timeout ends it otherwise. */
                usec_t delay =
                        aws_backoff(++p->attempt, HTTP_RETRY_BASE_USEC, HTTP_RETRY_CAP_USEC, random_unit());
                snprintf(p->x.note, sizeof p->x.note, "%.60s%s%.150s (retrying)",
                         resp->error < 0 ? (resp->error_message ?: strerror(-resp->error)) : code,
                         message[0] ? ": " : "", message);
                action_scrub(p->x.actions, p->x.info.step, p->x.note);
                if (sd_event_add_time_relative(p->x.actions->event, &p->retry, CLOCK_MONOTONIC, delay, 0,
                                               http_step_on_retry, p) >= 0)
                        return;
        }
        if (code[0])
                return action_exec_done(&p->x, ACTION_FAILED, "%s: %s (HTTP %ld)", code, message,
                                        resp->status);
        if (resp->error < 0)
                return action_exec_done(&p->x, ACTION_FAILED, "%s",
                                        resp->error_message ?: strerror(-resp->error));
        action_exec_done(&p->x, ACTION_FAILED, "HTTP %ld", resp->status);
}

void action_http_release(ActionExec *x) {
        ActionHttp *p = (ActionHttp *) x;
        p->retry = sd_event_source_disable_unref(p->retry);
        http_call_cancel(p->call);
        p->call = NULL;
}

static bool is_lifecycle_event(const char *type) {
        return strcmp(type, "asg-terminate") == 0 || strcmp(type, "asg-warm-pool") == 0;
}

void action_http_start(ActionExec *x, ActionHttpBuild build) {
        ActionHttp *p = (ActionHttp *) x;
        p->build = build;
        http_step_try(p);
}

static void lifecycle_start(ActionExec *x) {
        if (!is_lifecycle_event(x->info.event))
                return action_exec_done(x, ACTION_SKIPPED, "%s is not an Auto Scaling lifecycle event",
                                        x->info.event);
        action_http_start(x, lifecycle_build);
}

static void notify_start(ActionExec *x) {
        action_http_start(x, notify_build);
}

const ActionExecutor action_lifecycle_executor = { sizeof(ActionHttp), lifecycle_start, NULL,
                                                   action_http_release };
const ActionExecutor action_notify_executor = { sizeof(ActionHttp), notify_start, NULL,
                                                action_http_release };

/* ---- heartbeats ---- */

struct ActionHeartbeat {
        Actions *actions;
        const Step *step; /* the lifecycle step */
        char rule[65];
        sd_event_source *timer;
        HttpCall *call;
};

static void heartbeat_on_done(const HttpResponse *resp, void *userdata) {
        ActionHeartbeat *hb = userdata;
        char why[256];

        hb->call = NULL;
        snprintf(why, sizeof why, "%s",
                 resp->error < 0 ? (resp->error_message ?: "no answer") : "HTTP error");
        action_scrub(hb->actions, NULL, why);
        if (resp->error < 0 || resp->status != 200)
                log_warning("Rule %s: a lifecycle heartbeat failed (%s).", hb->rule, why);
}

static int heartbeat_on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        ActionHeartbeat *hb = userdata;
        _cleanup_free_ char *url = NULL;
        ActionHttpRequest h = {};
        char err[256];
        (void) usec;

        buf_init(&h.body, 64 * 1024);
        if (!hb->call &&
            lifecycle_request(hb->actions, hb->step, "RecordLifecycleActionHeartbeat", &h, &url, err) >= 0)
                (void) action_http_send(hb->actions, &h, heartbeat_on_done, hb, &hb->call);
        buf_done(&h.body);
        return sd_event_source_set_time_relative(src, hb->step->heartbeat_s * USEC_PER_SEC);
}

int action_heartbeat_new(Actions *a, const Rule *rule, const ActionInfo *info, ActionHeartbeat **ret) {
        const Step *s = NULL;
        ActionHeartbeat *hb;
        int r;

        for (size_t i = 0; i < rule->n_steps && !s; i++)
                if (rule->steps[i].kind == STEP_LIFECYCLE)
                        s = &rule->steps[i];
        if (!s || !is_lifecycle_event(info->event)) {
                *ret = NULL;
                return 0;
        }
        hb = calloc(1, sizeof(ActionHeartbeat));
        if (!hb)
                return -ENOMEM;
        *hb = (ActionHeartbeat){ .actions = a, .step = s };
        snprintf(hb->rule, sizeof hb->rule, "%s", info->rule);
        r = sd_event_add_time_relative(a->event, &hb->timer, CLOCK_MONOTONIC, s->heartbeat_s * USEC_PER_SEC,
                                       0, heartbeat_on_timer, hb);
        if (r < 0) {
                free(hb);
                return r;
        }
        *ret = hb;
        return 0;
}

ActionHeartbeat *action_heartbeat_free(ActionHeartbeat *hb) {
        if (!hb)
                return NULL;
        sd_event_source_disable_unref(hb->timer);
        http_call_cancel(hb->call);
        free(hb);
        return NULL;
}
