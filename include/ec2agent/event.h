/* event.h — the Event every producer makes (SPEC §6), its JSON line, and the one EventSink they emit into.
 */
#pragma once

#include <cjson/cJSON.h>

#include "catalog.h"
#include "util.h"

typedef struct Event {
        usec_t at;  /* realtime µs */
        char *type; /* "spot-interruption", "maintenance:system-reboot", … */
        Severity severity;
        char *summary; /* one line for people */
        cJSON *detail; /* an object; NULL is written as {} */
} Event;

/* Builds an event of TYPE with SUMMARY (printf), now, at TYPE's usual severity, with an
 * empty detail object. Returns NULL on ENOMEM. */
Event *event_new(const char *type, const char *summary_fmt, ...) _printf_(2, 3);
Event *event_free(Event *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Event *, event_free);

/* The journal line of E (without the newline), or NULL on ENOMEM. Caller frees. */
char *event_to_json_line(const Event *e, const char *boot_id);

/* Where collectors and the engine hand their events: EMIT takes each event over. The manager's
 * sink records it (events.jsonl, the system journal, the publisher's counters, the rules). */
typedef struct EventSink {
        void (*emit)(Event *e, void *userdata);
        void *userdata;
} EventSink;

/* Hands E (taken over; NULL is ignored) to SINK. A NULL SINK or one without EMIT frees E. */
void event_sink_emit(const EventSink *sink, Event *e);
