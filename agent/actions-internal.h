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
        ActionJob *jobs; /* waiting for JobRemoved */
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

/* executors, in actions-exec.c and actions-http.c */
extern const ActionExecutor action_exec_executor, action_lifecycle_executor, action_notify_executor;
