/* health.h — SPEC §5 health: judged from the status document alone, so it is pure and tested. */
#pragma once

#include <cjson/cJSON.h>

#include "util.h"

typedef enum Health {
        HEALTH_OK,
        HEALTH_WARNING,
        HEALTH_CRITICAL,
} Health;

#define HEALTH_RECENT_USEC          USEC_PER_HOUR /* OOM kills and kernel problems count for an hour */
#define HEALTH_PUBLISH_FAILING_USEC (5 * USEC_PER_MINUTE)

/* Judges STATUS (a SPEC §5 document without "health"/"reasons") at realtime NOW. Appends one
 * string per reason to REASONS (an array), critical ones first. Returns the level; on ENOMEM
 * reasons may be missing but the level is still right. */
Health health_evaluate(const cJSON *status, usec_t now, cJSON *reasons);

const char *health_to_string(Health h);
