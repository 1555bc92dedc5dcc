/* actions-internal.h — what the executor files share (actions.c: the table, systemd jobs, reboot;
 * actions-exec.c: exec; actions-http.c: lifecycle, SNS, webhooks): the shared context, the head of
 * every action's state, the systemd job helper and the report. Not a public header. */
#pragma once

#include "ec2agent/actions.h"
#include "ec2agent/util.h"

#define KILL_AFTER_USEC (5 * USEC_PER_SEC) /* SIGTERM to SIGKILL, a process's or a unit's */

typedef struct ActionJob ActionJob;

struct Actions {
        sd_event *event;
        sd_bus *bus;
        Http *http;
        const Config *config;
        AwsEnv aws;
        sd_bus_slot *job_removed;
        ActionJob *jobs;                   /* waiting for JobRemoved */
        Notifier *notifier;                /* notify to Slack, Teams, PagerDuty (actions_set_notify) */
        char **(*reasons)(void *userdata); /* status reasons for an alert's text */
        void *reasons_userdata;
};

/* A systemd job an action waits for: the reply gives its path, JobRemoved its result. */
struct ActionJob {
        ActionExec *owner;
        sd_bus_slot *slot;
        char path[256];
        void (*removed)(ActionJob *j, const char *result); /* JobRemoved for PATH */
        ActionJob *next, *prev;
};

/* The row of a step kind in executors[]. */
typedef struct ActionExecutor {
        size_t size; /* of its state, which starts with an ActionExec */
        /* Starts X; ends with action_exec_done() now or later. */
        void (*start)(ActionExec *x);
        /* The step's time is up: ends X (action_exec_done with ACTION_TIMED_OUT), now or once what
         * it started has stopped. NULL: at once, with action_note() as the reason. */
        void (*cancel)(ActionExec *x);
        /* Drops what X holds (sources, calls, a child, killed), without reporting; NULL: nothing. */
        void (*release)(ActionExec *x);
} ActionExecutor;

struct ActionExec {
        const ActionExecutor *executor;
        Actions *actions;
        ActionInfo info;
        ActionDoneFn done;
        void *userdata;
        bool finished;
        char note[256]; /* why it is not done yet */
};

/* Reports how X ended (once; later calls are ignored), its error formatted from FMT (NULL: none)
 * and scrubbed of the URLs' secrets, after releasing what X holds. X stays allocated. */
void action_exec_done(ActionExec *x, ActionState state, const char *fmt, ...) _printf_(3, 4);

/* Removes the user:password@ of the step's and the endpoints' URLs from TEXT, in place. */
void action_scrub(const Actions *a, const Step *s, char *text);

/* Asks systemd for METHOD (StopUnit, RestartUnit, StartUnit) on UNIT with MODE for J; the reply
 * gives the job's path, JobRemoved for it calls J->removed. Returns 0 or a negative errno. */
int action_job_call(ActionJob *j, const char *method, const char *unit, const char *mode);
/* The reply of a job call for J: keeps the job's path, or ends J's owner (failed). */
int action_job_reply(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* Forgets J's job: no JobRemoved reaches it any more. */
void action_job_release(ActionJob *j);

/* ---- HTTP steps (actions-http.c): a new one is a builder and a row
 * { sizeof(ActionHttp), a start calling action_http_start(x, builder), NULL, action_http_release } ---- */

/* One request of a step, as its builder fills it. */
typedef struct ActionHttpRequest {
        const char *url;
        const char *sigv4_service; /* NULL: unsigned (a webhook) */
        const char *region;
        const char *content_type; /* NULL: none (a form: aws_form_add's) */
        Buf body;                 /* at most 256 KiB */
        char region_buf[32];      /* for REGION, when the builder works it out */
} ActionHttpRequest;

/* Fills H (URL, signing, body) for the action X. Returns 0, or a negative errno with a reason in
 * ERR: -ENODATA (identity, group or region not known yet) and -ENOKEY are waited for, once a
 * second, within the step's time; anything else fails the step. A URL it allocates goes to
 * *RET_URL, freed by the caller after the request is sent. Called again for every retry. */
typedef int (*ActionHttpBuild)(const ActionExec *x, ActionHttpRequest *h, char **ret_url,
                               char err[static 256]);

/* The state of an HTTP step. */
typedef struct ActionHttp {
        ActionExec x;
        ActionHttpBuild build;
        sd_event_source *retry;
        HttpCall *call;
        unsigned attempt;
} ActionHttp;

/* Starts the HTTP step X (an ActionHttp) with BUILD: sends, and retries with backoff (1 s doubling
 * to 20 s) what fails in a way worth retrying (no answer, 5xx, throttling), until the step's
 * timeout; 2xx is done, anything else failed with the AWS error code and message if any. Errors
 * and notes are scrubbed of the URLs' user:password@. */
void action_http_start(ActionExec *x, ActionHttpBuild build);
/* The release of an ActionHttp: its retry timer and call. */
void action_http_release(ActionExec *x);
/* Sends H through A's HTTP client, signed with the agent's credentials when H->sigv4_service;
 * the answer comes to CB with USERDATA. Returns 0, -ENOKEY without credentials, or a negative
 * errno. */
int action_http_send(Actions *a, const ActionHttpRequest *h, HttpCallback cb, void *userdata,
                     HttpCall **ret_call);
/* The event of X's run as JSON ({"rule","event","summary","instance_id","fired_at","deadline",
 * "detail"}) appended to B: a webhook's body; with SNS, the Message of a Publish form with its
 * Subject. Returns 0 or -ENOMEM. */
int action_http_event_body(const ActionExec *x, Buf *b, bool sns);

/* executors, in actions-exec.c and actions-http.c */
extern const ActionExecutor action_exec_executor, action_lifecycle_executor, action_notify_executor;
/* executors, in actions-alert.c: notify to Slack/Teams/PagerDuty, and reschedule */
extern const ActionExecutor action_alert_executor, action_reschedule_executor;
