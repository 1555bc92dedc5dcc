/* event.c — the Event every producer makes (SPEC §6), its JSON line, and the EventSink they emit into. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/event.h"
#include "ec2agent/json.h"
#include "ec2agent/utf8.h"

Event *event_new(const char *type, const char *summary_fmt, ...) {
        _cleanup_(event_freep) Event *e = calloc(1, sizeof(Event));
        const EventTypeInfo *info;
        va_list ap;
        int n;

        if (!e)
                return NULL;
        e->at = now_usec(CLOCK_REALTIME);
        info = event_type_lookup(type);
        e->severity = info ? info->severity : SEVERITY_INFO;
        va_start(ap, summary_fmt);
        n = vasprintf(&e->summary, summary_fmt, ap);
        va_end(ap);
        if (n < 0) {
                e->summary = NULL;
                return NULL;
        }
        if (!(e->type = strdup(type)) || !(e->detail = cJSON_CreateObject()))
                return NULL;
        return TAKE_PTR(e);
}

Event *event_free(Event *e) {
        if (!e)
                return NULL;
        free(e->type);
        free(e->summary);
        cJSON_Delete(e->detail);
        free(e);
        return NULL;
}

/* Escapes every string value under O (UTF8_ESCAPE_LOG: no control character, valid UTF-8), so what
 * a reader decodes from the line is as clean as the line. Returns 0 or -ENOMEM. */
static int escape_strings(cJSON *o) {
        for (cJSON *c = o->child; c; c = c->next) {
                if (cJSON_IsString(c) && c->valuestring) {
                        char *copy = NULL;
                        const char *v = utf8_escape_str(c->valuestring, UTF8_ESCAPE_LOG, &copy);
                        if (!v)
                                return -ENOMEM;
                        if (copy) { /* cJSON_Delete frees valuestring with the default hooks */
                                free(c->valuestring);
                                c->valuestring = copy;
                        }
                } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && escape_strings(c) < 0)
                        return -ENOMEM;
        }
        return 0;
}

char *event_to_json_line(const Event *e, const char *boot_id) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        cJSON *detail;

        if (!o || !json_add_time(o, "at", e->at) || !json_add_string_or_null(o, "boot_id", boot_id) ||
            !cJSON_AddStringToObject(o, "type", e->type) ||
            !cJSON_AddStringToObject(o, "severity", severity_to_string(e->severity)) ||
            !cJSON_AddStringToObject(o, "summary", e->summary ?: ""))
                return NULL;
        detail = e->detail ? cJSON_Duplicate(e->detail, true) : cJSON_CreateObject();
        if (!detail || !cJSON_AddItemToObject(o, "detail", detail)) {
                cJSON_Delete(detail);
                return NULL;
        }
        if (escape_strings(o) < 0)
                return NULL;
        return cJSON_PrintUnformatted(o);
}

void event_sink_emit(const EventSink *sink, Event *e) {
        if (!e)
                return;
        if (!sink || !sink->emit) {
                event_free(e);
                return;
        }
        sink->emit(e, sink->userdata);
}
