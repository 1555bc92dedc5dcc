/* engine-internal.h — what engine.c (rules, runs) and engine-state.c (actions.json) share: the
 * engine's objects and the few functions each calls in the other. Not a public header. */
#pragma once

#include "ec2agent/actions.h"
#include "ec2agent/engine.h"
#include "ec2agent/util.h"

#define MAX_INSTANCES     64 /* remembered event instances per rule */
#define MAX_FINISHED_RUNS 20 /* kept for status and actions.json; older ones are forgotten */
#define ENGINE_STATE_MAX  (16 * 1024 * 1024)

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
        ActionExec *exec;           /* its executor's state; kept after it reported, until the next */
        ActionHeartbeat *heartbeat; /* lifecycle heartbeats while the steps before it run */
        sd_event_source *timeout;   /* the step's timeout_s, or the event's deadline */
};

struct Engine {
        sd_event *event;
        Actions *actions; /* the step executors */
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
        usec_t sync_since;     /* engine_state_save_firing's second */
        unsigned sync_saves;
        bool dirty;
        unsigned run_seq;
};

/* engine.c */

/* A new run of rule RULE (its actions pending), or NULL on ENOMEM. */
Run *run_new(Engine *e, size_t rule, const char *type, const char *instance, const char *summary,
             const cJSON *detail, usec_t deadline);
/* Frees R (NULL taken), killing what its running action holds. Returns NULL. */
Run *run_free(Run *r);
/* Adds a firing of RULE due at FIRE_AT (before_s). Returns 0 or a negative errno. */
int pending_add(Engine *e, size_t rule, const char *key, const char *type, const char *summary,
                const cJSON *detail, usec_t fire_at, usec_t deadline);
/* The index of the configured rule NAME, or -1. */
ssize_t engine_rule_index(const Engine *e, const char *name);
/* The work of one loop iteration, run by engine-state.c's save source: saves what changed (through
 * engine_state_save_if_dirty), announces saved firings, starts and moves runs on. */
void engine_iterate(Engine *e);

/* engine-state.c */

/* Loads STATE_DIR/actions.json into E (rules, reboots, pending firings, runs); a corrupt file is
 * set aside with a warning. Never fails: what cannot be read is left out. */
void engine_state_load(Engine *e);
/* Adds the save source that runs engine_iterate once per loop iteration. Returns 0 or a negative
 * errno. */
int engine_state_start(Engine *e);
/* Marks the state changed; the next loop iteration saves it. */
void engine_state_dirty(Engine *e);
/* Has engine_iterate run again soon (SAVE_GAP_USEC after the last save when dirty). */
void engine_state_schedule(Engine *e);
/* Saves now if dirty. Returns 0 or a negative errno (logged). */
int engine_state_save_if_dirty(Engine *e);
/* Saves a firing before engine_on_event returns, SYNC_SAVES_PER_SEC times a second at most. */
void engine_state_save_firing(Engine *e);
/* Saves now, dirty or not: what must be durable before an action goes on (the reboot count).
 * Returns 0 or a negative errno (logged). */
int engine_state_sync(Engine *e);
