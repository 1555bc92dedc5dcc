/* actions.h — the executors of a rule's steps: a table indexed by step kind, each action's state its
 * own, every result reported through a done callback. The engine sequences; this runs one step.
 *
 * Adding a step kind: a STEP_* in config.h, one row in executors[] (agent/actions.c; the row type
 * ActionExecutor and the shared helpers are in agent/actions-internal.h) and its functions: a
 * state struct that starts with an ActionExec, a start and a cancel (NULL: time out at once) and
 * a release if it holds anything. An HTTP step is only a request builder: see ActionHttpBuild.
 * An executor never calls the engine: it reports once, through action_exec_done(), and the
 * engine decides what comes next. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "config.h"
#include "http.h"
#include "notify.h"

typedef enum ActionState {
        ACTION_PENDING,
        ACTION_RUNNING,
        ACTION_DONE,
        ACTION_FAILED,
        ACTION_TIMED_OUT,
        ACTION_SKIPPED,
        _ACTION_STATE_MAX,
} ActionState;

/* "pending", "running", "done", "failed", "timed-out", "skipped"; NULL out of range. */
const char *action_state_to_string(ActionState s);
/* The state named S, or -EINVAL. */
int action_state_from_string(const char *s);

/* What every executor shares: the loop, the system bus (NULL without systemd), the HTTP client, the
 * configuration (endpoints) and the AWS callbacks (identity, group, credentials). */
typedef struct Actions Actions;

/* One action while it runs: the head of its executor's own state. */
typedef struct ActionExec ActionExec;

/* What one action is about. Everything is borrowed and must stay valid until the action is freed
 * (the engine's Run holds it). */
typedef struct ActionInfo {
        const Step *step;
        const char *target;  /* a stop/restart step's unit, else action_target()'s text */
        const char *rule;    /* the rule's name */
        const char *run;     /* the run's id */
        size_t index;        /* the action's place in its run: names its transient unit */
        const char *event;   /* the type of the event that fired the rule */
        const char *summary; /* ... and its summary */
        const cJSON *detail; /* ... and its detail (NULL: {}) */
        usec_t fired_at;
        usec_t deadline; /* no step outlives it; 0 for none */
} ActionInfo;

/* How an action ended. RESULT is ACTION_DONE, ACTION_FAILED, ACTION_TIMED_OUT or ACTION_SKIPPED;
 * ERROR is why ("" for nothing to say), secrets of URLs already scrubbed; DETAIL is NULL or more
 * facts about the result. Both are borrowed for the call. Called exactly once per action, perhaps
 * from within action_start(); the callback must not free the action (action_free() later). */
typedef void (*ActionDoneFn)(ActionState result, const char *error, const cJSON *detail, void *userdata);

/* Makes the executors' shared context. BUS may be NULL: stop, restart and reboot then fail and exec
 * forks. Subscribes to systemd's JobRemoved. All arguments must outlive it. Returns 0 or a negative
 * errno. */
int actions_new(sd_event *event, sd_bus *bus, Http *http, const Config *config, const AwsEnv *aws,
                Actions **ret);
/* Frees A (NULL taken): every action must be freed first. Returns NULL. */
Actions *actions_free(Actions *a);

/* Gives the executors of notify formats the NOTIFIER (owned by the caller, outliving A) and the
 * status reasons an alert shows: REASONS returns a string vector the caller frees (NULL: none). */
void actions_set_notify(Actions *a, Notifier *notifier, char **(*reasons)(void *userdata), void *userdata);

/* True when S is a notify to Slack, Teams or PagerDuty (actions-alert.c runs it). */
bool action_step_is_alert(const Step *s);

/* Where such a notify step S posts: fills *RET (URL and routing key borrowed from S) and returns 0,
 * or -EINVAL for another step. */
int action_alert_target(const Step *s, NotifyTarget *ret);

/* The facts of an alert of RULE on EVENT (its SUMMARY and DEADLINE) with the status REASONS
 * (borrowed, may be NULL), the instance's identity and group from A's AWS callbacks, into *RET
 * (strings borrowed). */
void action_alert_facts(const Actions *a, const char *rule, const char *event, const char *summary,
                        usec_t deadline, char **reasons, AlertFacts *ret);

/* The instance key of a scheduled EVENT with DETAIL, as engine_instance_key makes it
 * ("maintenance:EVENT_ID"); NULL for any other event (or ENOMEM). A new string. */
char *action_scheduled_instance(const char *event, const cJSON *detail);

/* What step S acts on, for status and events, in RET (MAX bytes): the command, the hook, the topic,
 * "webhook HOST" (a webhook URL's path, query and userinfo often hold a token), "reboot.target".
 * Stop and restart steps have one action per unit instead. */
void action_target(const Step *s, char *ret, size_t max);

/* Starts the action INFO with its step kind's executor. Returns 0 and the action in *RET: DONE is
 * called once when it ends (perhaps before action_start returns: a refused start). Returns a
 * negative errno (-ENOMEM) without calling DONE and without *RET when it cannot even begin. */
int action_start(Actions *a, const ActionInfo *info, ActionDoneFn done, void *userdata, ActionExec **ret);

/* The step's time is up: ends X, reporting ACTION_TIMED_OUT now or once what it started has
 * stopped (a process gets SIGTERM, then SIGKILL 5 s later; a transient unit is stopped). Nothing
 * happens if X has reported already. */
void action_cancel(ActionExec *x);

/* Why X is not done yet ("no AWS credentials yet", "…(retrying)"), "" for nothing to say. */
const char *action_note(const ActionExec *x);

/* Frees X (NULL taken), without reporting: a process it forked and still runs is killed (the agent
 * is going away), a systemd job or transient unit is left to systemd. Returns NULL. */
ActionExec *action_free(ActionExec *x);

/* RecordLifecycleActionHeartbeat every heartbeat_s while the steps before a lifecycle step run. */
typedef struct ActionHeartbeat ActionHeartbeat;

/* Starts heartbeats for the run of RULE that INFO describes (INFO->step ignored). Returns 0 with
 * *RET NULL when the rule has no lifecycle step or the event is no Auto Scaling lifecycle event,
 * 0 with the heartbeat in *RET, or a negative errno. A failed heartbeat is logged, never fatal. */
int action_heartbeat_new(Actions *a, const Rule *rule, const ActionInfo *info, ActionHeartbeat **ret);
/* Stops and frees H (NULL taken). Returns NULL. */
ActionHeartbeat *action_heartbeat_free(ActionHeartbeat *h);
