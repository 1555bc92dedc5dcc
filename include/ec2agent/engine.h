/* engine.h — rules: events and metric windows in, runs of steps out, persisted across crashes. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "config.h"
#include "event.h"
#include "http.h"
#include "notify.h"
#include "series.h"

#define ENGINE_STATE_FILE "actions.json"

typedef struct Engine Engine;

/* What the engine asks of the rest of the agent. */
typedef struct EngineEnv {
        EventSink sink; /* rule-fired, action-done, action-failed */
        AwsEnv aws;     /* identity, group and credentials for the HTTP steps */
        const SeriesStore *(*series)(void *userdata);
        Notifier *notifier;                /* Slack, Teams, PagerDuty (NULL: those steps fail) */
        char **(*reasons)(void *userdata); /* the status reasons an alert shows (a new vector) */
        void *userdata;
} EngineEnv;

/* The key that makes "once per event instance" concrete: a spot notice per action and time, a
 * scheduled event per EventId, a rebalance notice per its notice time, an Auto Scaling termination
 * once (an instance is Terminated once in its life), anything else per its time and type.
 * Returns a new string or NULL. Pure. */
char *engine_instance_key(const Event *ev);

/* The deadline no step may outlive: a spot notice's time, a scheduled event's NotBefore; 0 for
 * none. Pure. */
usec_t engine_event_deadline(const Event *ev);

/* Loads STATE_DIR/actions.json (resuming unfinished runs) and starts evaluating metric rules.
 * BUS may be NULL (no systemd): stop, restart and reboot steps then fail, exec runs directly. */
int engine_new(sd_event *event, sd_bus *bus, Http *http, const Config *config, const char *state_dir,
               const EngineEnv *env, Engine **ret);
Engine *engine_free(Engine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

/* Offers event E (not taken over) to the rules. A firing it causes is saved to actions.json
 * before it returns, except in a burst (past four such saves in a second): then by the next
 * save, at most 50 ms later, or at engine_flush(). */
void engine_on_event(Engine *e, const Event *ev);

/* Saves actions.json now if anything changed since the last save. A producer that persists its
 * position past the events it emitted (a cursor) calls it first, so that no firing on those
 * events can be lost to a crash between the two. E may be NULL. */
void engine_flush(Engine *e);

/* Writes status "rules" and "actions" of DOC; E NULL writes their absent shape, empty arrays.
 * Returns 0 or -ENOMEM. */
int engine_status(const Engine *e, cJSON *doc);
