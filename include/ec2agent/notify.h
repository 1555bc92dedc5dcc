/* notify.h — posting alerts to Slack, Teams and PagerDuty (SPEC §4 notify formats): one POST with
 * retries and backoff until cancelled, a 4xx recorded with the service's words and never retried,
 * and PagerDuty's resolves, remembered across restarts (incidents.h) until PagerDuty accepts them. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "alert.h"
#include "http.h"
#include "incidents.h"

#define NOTIFY_ERROR_MAX 256

typedef struct Notifier Notifier;
typedef struct NotifyCall NotifyCall;

/* Called once when a post ends, unless cancelled: R 0 (accepted), or R < 0 and ERROR in words,
 * without the URL's secrets ("HTTP 400: invalid_payload", "Connection refused (retrying)" is a
 * note, never an ERROR). */
typedef void (*NotifyDone)(int r, const char *error, void *userdata);

/* Makes the notifier: EVENT and HTTP outlive it; the open PagerDuty incidents are read from
 * STATE_DIR. Returns 0 or a negative errno. */
int notifier_new(sd_event *event, Http *http, const char *state_dir, Notifier **ret);
/* Cancels its resolves in flight (they stay remembered) and frees. Takes NULL. */
Notifier *notifier_free(Notifier *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Notifier *, notifier_free);

/* Where an alert goes: the format, the URL (Slack's or Teams' webhook, PagerDuty's Events API) and
 * PagerDuty's routing key (NULL for the others). Both are secrets: never logged or shown. */
typedef struct NotifyTarget {
        AlertFormat format;
        const char *url;
        const char *routing_key;
} NotifyTarget;

#define PAGERDUTY_DEFAULT_URL "https://events.pagerduty.com/v2/enqueue"

/* What T posts to, for status and events: "slack https://hooks.slack.com/" and three asterisks
 * (url_redact: the token in the path never shows). */
void notify_target_text(const NotifyTarget *t, char *ret, size_t max);

/* Posts the alert with facts F to T: retried with backoff on network errors, 429 and 5xx until it
 * is cancelled (the step's timeout); a 4xx ends it with the service's words. A PagerDuty trigger
 * accepted is remembered as an open incident of F->rule, its notify step STEP and the event
 * instance INSTANCE (engine_instance_key of a scheduled event, else the event type: "metric"). DONE is
 * called from the loop. Returns 0 and *RET (cancel it with notify_call_cancel until DONE ran) or a negative
 * errno (DONE never called). */
int notifier_post(Notifier *n, const NotifyTarget *t, const AlertFacts *f, unsigned step,
                  const char *instance, NotifyDone done, void *userdata, NotifyCall **ret);

/* Why CALL is not done yet ("HTTP 503 (retrying)"), "" when nothing. */
const char *notify_call_note(const NotifyCall *call);

/* Stops CALL without calling its DONE. Takes NULL. */
void notify_call_cancel(NotifyCall *call);

/* Finds the target of the notify step STEP of rule RULE in the configuration (the routing key is
 * never stored): fills *RET and returns 0, or -ENOENT. */
typedef int (*NotifyLookup)(const char *rule, unsigned step, NotifyTarget *ret, void *userdata);

/* The trouble of RULE is over (its when condition stopped holding: INSTANCE NULL; or the scheduled
 * event INSTANCE completed or was canceled): sends PagerDuty a resolve for each incident it opened
 * for them, to the target LOOKUP finds, retried with backoff until accepted or the agent stops (the
 * incident then stays remembered for the next start). F gives the facts (resolved is set here).
 * Returns how many resolves were started. */
size_t notifier_resolve(Notifier *n, const char *rule, const char *instance, const AlertFacts *f,
                        NotifyLookup lookup, void *userdata);

/* Adds "notify": {"pagerduty": {"open_incidents", "dedup_keys"}, "resolves_in_flight",
 * "last_error"} to DOC (N may be NULL). Returns 0 or -ENOMEM. */
int notifier_status(const Notifier *n, cJSON *doc);
