/* catalog.h — the product's names: event types (SPEC §6) and metric names (SPEC §7). */
#pragma once

#include <stdbool.h>

typedef enum Severity {
        SEVERITY_INFO,
        SEVERITY_WARNING,
        SEVERITY_CRITICAL,
} Severity;

typedef struct EventTypeInfo {
        const char *name;       /* "spot-interruption"; "maintenance" stands for "maintenance:CODE" */
        const char *message_id; /* journal MESSAGE_ID */
        Severity severity;      /* the usual severity of this type */
        bool rule_trigger;      /* may appear in a rule's "on" */
} EventTypeInfo;

/* The scheduled-event codes of IMDS events/maintenance/scheduled. */
extern const char *const maintenance_codes[];

/* Looks TYPE up ("maintenance:system-reboot" finds "maintenance"). NULL when unknown. */
const EventTypeInfo *event_type_lookup(const char *type);

/* True when PATTERN may stand in a rule's "on": a triggering event type, "maintenance",
 * or "maintenance:CODE" with a known code. */
bool event_pattern_is_valid(const char *pattern);

/* True when event TYPE matches rule PATTERN ("maintenance" matches every maintenance:CODE). */
bool event_pattern_matches(const char *pattern, const char *type);

/* True for a metric name of SPEC §7. */
bool metric_name_is_valid(const char *name);

const char *severity_to_string(Severity s);
/* Returns the severity or -EINVAL. */
int severity_from_string(const char *s);
