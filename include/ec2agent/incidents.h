/* incidents.h — the PagerDuty incidents the agent opened and has not resolved yet, kept in the state
 * directory (pagerduty.json) so a resolve is never lost to a restart. No secret is kept: the routing
 * key stays in the configuration, found again through the rule and step. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define INCIDENTS_FILE "pagerduty.json"
#define INCIDENTS_MAX  256 /* open incidents remembered; the oldest is forgotten (and logged) past it */

typedef struct Incident {
        char dedup_key[256]; /* ec2agent/INSTANCE/RULE */
        char rule[65];
        unsigned step;      /* the notify step of that rule, for its routing key */
        char instance[160]; /* the event instance that triggered it (engine_instance_key), or "metric" */
        usec_t opened_at;   /* realtime */
} Incident;

typedef struct Incidents Incidents;

/* Loads STATE_DIR/pagerduty.json (a missing file: none open; a corrupt one is set aside by
 * state_load_json and none are open; entries of the wrong shape are skipped). Returns 0 with *RET,
 * or -ENOMEM. */
int incidents_load(const char *state_dir, Incidents **ret);
Incidents *incidents_free(Incidents *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(Incidents *, incidents_free);

/* Records that DEDUP_KEY is open (replacing an entry with that key) and saves at once. Returns 0, or
 * a negative errno when it could not be saved (kept in memory all the same). */
int incidents_open(Incidents *i, const char *dedup_key, const char *rule, unsigned step,
                   const char *instance, usec_t at);

/* Forgets DEDUP_KEY (its resolve was accepted) and saves. Returns 1 when it was open, 0 when not, or a
 * negative errno when saving failed. */
int incidents_close(Incidents *i, const char *dedup_key);

/* The open incidents of RULE, and of event instance INSTANCE when it is not NULL, into RET (up to MAX
 * pointers into I, valid until the next change). Returns how many were found. */
size_t incidents_find(const Incidents *i, const char *rule, const char *instance, const Incident **ret,
                      size_t max);

/* How many are open. */
size_t incidents_count(const Incidents *i);

/* Adds "pagerduty": {"open_incidents": N, "dedup_keys": [...]} to DOC (I may be NULL: 0 and []).
 * Returns 0 or -ENOMEM. */
int incidents_status(const Incidents *i, cJSON *doc);
