/* alert.h — what a notify step posts to Slack, Teams and PagerDuty (SPEC §4): pure payload builders
 * from one set of facts, and the reading of a refusal. */
#pragma once

#include <stdbool.h>

#include "util.h"

#define ALERT_DEDUP_KEY_MAX 255  /* PagerDuty Events API v2 */
#define ALERT_SUMMARY_MAX   1024 /* PagerDuty payload.summary, bytes */
#define ALERT_ERROR_MAX     256

typedef enum AlertFormat {
        ALERT_SLACK,
        ALERT_TEAMS,
        ALERT_PAGERDUTY,
        _ALERT_FORMAT_MAX,
} AlertFormat;

/* The facts every format shows, one line each. Strings may be NULL (unknown, or none). */
typedef struct AlertFacts {
        const char *instance_id, *instance_type, *asg_name, *availability_zone;
        const char *event;   /* the event type ("maintenance:system-reboot"), "metric" for a when rule */
        const char *summary; /* the event's summary */
        usec_t deadline;     /* realtime; 0: none */
        const char *rule;
        const char *severity; /* the event's: "critical", "warning", "info" (catalog names) */
        char *const *reasons; /* status "reasons", NULL-terminated; NULL: none */
        bool resolved;        /* a resolve: the trouble is over */
} AlertFacts;

const char *alert_format_to_string(AlertFormat f);

/* "ec2agent/INSTANCE/RULE", cut to ALERT_DEDUP_KEY_MAX bytes, into RET (ALERT_DEDUP_KEY_MAX + 1). */
void alert_dedup_key(const char *instance_id, const char *rule, char ret[static ALERT_DEDUP_KEY_MAX + 1]);

/* PagerDuty's severity for an event of catalog severity SEVERITY: "critical", "warning", else "info". */
const char *alert_pagerduty_severity(const char *severity);

/* The one-line text naming the instance, its ASG, the event and the rule (PagerDuty's summary, the
 * first line of the others). A new string (at most ALERT_SUMMARY_MAX bytes, cut at a character),
 * or NULL on ENOMEM. */
char *alert_headline(const AlertFacts *f);

/* The JSON body to POST for FORMAT: Slack {"text": mrkdwn, one line a fact}; Teams an Adaptive Card
 * 1.2 in a "message"; PagerDuty an Events API v2 "trigger" (or "resolve" when F->resolved) with
 * ROUTING_KEY (PagerDuty only; NULL otherwise) and dedup_key ec2agent/INSTANCE/RULE. Returns 0 with
 * a new string in *RET, or -ENOMEM / -EINVAL (PagerDuty without ROUTING_KEY). Pure. */
int alert_payload(AlertFormat format, const AlertFacts *f, const char *routing_key, char **ret);

/* What the service said when it refused (HTTP 4xx), for the action's error: PagerDuty's JSON
 * "message" and "errors", Slack's plain text ("invalid_payload"), Teams' JSON "error.message", else the
 * body's first line — printable ASCII only, at most ALERT_ERROR_MAX bytes with the NUL. Pure. */
void alert_refusal(const char *body, size_t len, char ret[static ALERT_ERROR_MAX]);
