/* test-actions.c — the step executors driven directly, without the engine: each reports once
 * through the done callback (result, error), at its end or at action_cancel (the timeout). */
#include <signal.h>
#include <string.h>

#include "ec2agent/actions.h"
#include "ec2agent/util.h"
#include "tap.h"

typedef struct Result {
        int calls;
        ActionState state;
        char error[256];
} Result;

static void on_done(ActionState result, const char *error, const cJSON *detail, void *userdata) {
        Result *res = userdata;
        (void) detail;
        res->calls++;
        res->state = result;
        snprintf(res->error, sizeof res->error, "%s", error);
}

static const InstanceIdentity *no_identity(void *userdata) {
        (void) userdata;
        return NULL;
}
static const char *no_asg(void *userdata) {
        (void) userdata;
        return NULL;
}
static const AwsCredentials *no_credentials(void *userdata) {
        (void) userdata;
        return NULL;
}

typedef struct Fixture {
        sd_event *loop;
        Http *http;
        Config config;
        Actions *actions;
} Fixture;

static void f_init(Fixture *f) {
        AwsEnv aws = { .identity = no_identity, .asg_name = no_asg, .credentials = no_credentials };
        sigset_t ss;

        *f = (Fixture){};
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        ASSERT_INT(sigprocmask(SIG_BLOCK, &ss, NULL), 0);
        ASSERT_INT(sd_event_new(&f->loop), 0);
        ASSERT_INT(http_new(f->loop, &f->http), 0);
        ASSERT_INT(actions_new(f->loop, NULL, f->http, &f->config, &aws, &f->actions), 0);
}

static void f_done(Fixture *f) {
        f->actions = actions_free(f->actions);
        http_free(f->http);
        sd_event_unref(f->loop);
}

/* Runs the loop until RES was reported, at most 10 s. */
static void f_wait(Fixture *f, const Result *res) {
        usec_t until = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (res->calls == 0 && now_usec(CLOCK_MONOTONIC) < until)
                ASSERT_TRUE(sd_event_run(f->loop, 100 * USEC_PER_MSEC) >= 0);
        ASSERT_INT(res->calls, 1);
}

static ActionInfo info_for(const Step *s, const char *target, const char *event) {
        return (ActionInfo){ .step = s,
                             .target = target,
                             .rule = "r",
                             .run = "1-1",
                             .event = event,
                             .summary = "s",
                             .fired_at = 1 };
}

static void test_exec_reports_its_exit(void) {
        Fixture f;
        char *ok[] = { (char *) "/bin/true", NULL },
             *bad[] = { (char *) "/bin/sh", (char *) "-c", (char *) "exit 3", NULL };
        Step s_ok = { .kind = STEP_EXEC, .argv = ok }, s_bad = { .kind = STEP_EXEC, .argv = bad };
        ActionExec *x = NULL, *y = NULL;
        Result r1 = {}, r2 = {};

        f_init(&f);
        ActionInfo i1 = info_for(&s_ok, "/bin/true", "oom-kill"),
                   i2 = info_for(&s_bad, "/bin/sh", "oom-kill");
        ASSERT_INT(action_start(f.actions, &i1, on_done, &r1, &x), 0);
        ASSERT_INT(action_start(f.actions, &i2, on_done, &r2, &y), 0);
        f_wait(&f, &r1);
        f_wait(&f, &r2);
        ASSERT_INT(r1.state, ACTION_DONE);
        ASSERT_STR(r1.error, "");
        ASSERT_INT(r2.state, ACTION_FAILED);
        ASSERT_STR(r2.error, "exit status 3");
        action_cancel(x); /* reported already: nothing happens */
        ASSERT_INT(r1.calls, 1);
        action_free(x);
        action_free(y);
        f_done(&f);
}

static void test_cancel_ends_a_process_as_timed_out(void) {
        Fixture f;
        char *argv[] = { (char *) "/bin/sleep", (char *) "30", NULL };
        Step s = { .kind = STEP_EXEC, .argv = argv };
        ActionExec *x = NULL;
        Result res = {};

        f_init(&f);
        ActionInfo in = info_for(&s, "/bin/sleep", "oom-kill");
        ASSERT_INT(action_start(f.actions, &in, on_done, &res, &x), 0);
        (void) sd_event_run(f.loop, 50 * USEC_PER_MSEC);
        ASSERT_INT(res.calls, 0);
        action_cancel(x);
        f_wait(&f, &res); /* SIGTERM ends sleep */
        ASSERT_INT(res.state, ACTION_TIMED_OUT);
        ASSERT_STR(res.error, "killed at the timeout");
        action_free(x);
        f_done(&f);
}

static void test_refused_starts_report_at_once(void) {
        Fixture f;
        char *units[] = { (char *) "x.service", NULL };
        Step life = { .kind = STEP_LIFECYCLE, .hook = (char *) "h", .result = (char *) "CONTINUE" },
             stop = { .kind = STEP_STOP, .argv = units };
        ActionExec *x = NULL, *y = NULL;
        Result r1 = {}, r2 = {};

        f_init(&f);
        ActionInfo i1 = info_for(&life, "h", "spot-interruption"),
                   i2 = info_for(&stop, "x.service", "oom-kill");
        ASSERT_INT(action_start(f.actions, &i1, on_done, &r1, &x), 0);
        ASSERT_INT(r1.calls, 1); /* within action_start */
        ASSERT_INT(r1.state, ACTION_SKIPPED);
        ASSERT_STR(r1.error, "spot-interruption is not an Auto Scaling lifecycle event");
        ASSERT_INT(action_start(f.actions, &i2, on_done, &r2, &y), 0);
        ASSERT_INT(r2.state, ACTION_FAILED);
        ASSERT_STR(r2.error, "systemd is not running (no system bus)");
        action_free(x);
        action_free(y);
        f_done(&f);
}

/* A webhook nobody answers is retried within the step's time; at the timeout the reason is what
 * the retries saw, with the URL's password scrubbed; the target shows the host only. */
static void test_webhook_retries_until_cancelled_without_its_secret(void) {
        Fixture f;
        Step s = { .kind = STEP_NOTIFY,
                   .webhook = (char *) "http://user:s3cret@127.0.0.1:1/hook?token=t0k" };
        char target[256];
        ActionExec *x = NULL;
        Result res = {};

        f_init(&f);
        action_target(&s, target, sizeof target);
        ASSERT_STR(target, "webhook 127.0.0.1:1");
        ActionInfo in = info_for(&s, target, "oom-kill");
        ASSERT_INT(action_start(f.actions, &in, on_done, &res, &x), 0);
        usec_t until = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (!strstr(action_note(x), "(retrying)") && now_usec(CLOCK_MONOTONIC) < until)
                ASSERT_TRUE(sd_event_run(f.loop, 100 * USEC_PER_MSEC) >= 0);
        ASSERT_TRUE(strstr(action_note(x), "(retrying)") != NULL);
        ASSERT_INT(res.calls, 0);
        action_cancel(x);
        ASSERT_INT(res.calls, 1);
        ASSERT_INT(res.state, ACTION_TIMED_OUT);
        ASSERT_TRUE(startswith(res.error, "no result within the step's time: "));
        ASSERT_TRUE(strstr(res.error, "s3cret") == NULL);
        action_free(x);
        f_done(&f);
}

/* A notify to Slack, Teams or PagerDuty runs in actions-alert.c; its target shows scheme and host,
 * never the token in the path or the routing key. */
static void test_alert_targets(void) {
        Step slack = { .kind = STEP_NOTIFY,
                       .slack = (char *) "https://hooks.slack.com/services/T0/B0/SECRET" };
        Step pd = { .kind = STEP_NOTIFY, .pagerduty_routing_key = (char *) "R0UTINGKEY" };
        Step sns = { .kind = STEP_NOTIFY, .sns_topic_arn = (char *) "arn:aws:sns:eu-west-1:1:ops" };
        Step move = { .kind = STEP_RESCHEDULE };
        char target[256];
        NotifyTarget t;

        ASSERT_TRUE(action_step_is_alert(&slack) && action_step_is_alert(&pd) &&
                    !action_step_is_alert(&sns));
        action_target(&slack, target, sizeof target);
        ASSERT_STR(target, "slack https://hooks.slack.com/***");
        action_target(&pd, target, sizeof target);
        ASSERT_STR(target, "pagerduty https://events.pagerduty.com/***");
        action_target(&move, target, sizeof target);
        ASSERT_STR(target, "ec2 scheduled event");
        ASSERT_INT(action_alert_target(&pd, &t), 0);
        ASSERT_INT(t.format, ALERT_PAGERDUTY);
        ASSERT_STR(t.url, PAGERDUTY_DEFAULT_URL);
        ASSERT_STR(t.routing_key, "R0UTINGKEY");
        ASSERT_INT(action_alert_target(&sns, &t), -EINVAL);
}

/* A reschedule for any other event than a scheduled one is skipped at once, AWS never asked. */
static void test_reschedule_skips_other_events(void) {
        Fixture f;
        Step s = { .kind = STEP_RESCHEDULE, .window = { .days = 1, .start_min = 120, .end_min = 300 } };
        ActionExec *x = NULL;
        Result res = {};

        f_init(&f);
        ActionInfo in = info_for(&s, "ec2 scheduled event", "spot-interruption");
        ASSERT_INT(action_start(f.actions, &in, on_done, &res, &x), 0);
        ASSERT_INT(res.calls, 1);
        ASSERT_INT(res.state, ACTION_SKIPPED);
        ASSERT_STR(res.error, "spot-interruption is not a scheduled event");
        action_free(x);
        f_done(&f);
}

static void test_state_names(void) {
        for (int i = 0; i < _ACTION_STATE_MAX; i++)
                ASSERT_INT(action_state_from_string(action_state_to_string((ActionState) i)), i);
        ASSERT_STR(action_state_to_string(ACTION_TIMED_OUT), "timed-out");
        ASSERT_INT(action_state_from_string("gone"), -EINVAL);
        ASSERT_TRUE(action_state_to_string(_ACTION_STATE_MAX) == NULL);
}

TAP_MAIN(T(test_exec_reports_its_exit), T(test_cancel_ends_a_process_as_timed_out),
         T(test_refused_starts_report_at_once), T(test_webhook_retries_until_cancelled_without_its_secret),
         T(test_alert_targets), T(test_reschedule_skips_other_events), T(test_state_names))
