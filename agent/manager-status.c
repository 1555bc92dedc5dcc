/* manager-status.c — the SPEC §5 status document, built from the manager's state on request.
 *
 * Every key of schema_version 1 is always present: each module writes its own part through its
 * *_status(module_or_NULL, doc), which writes the part's absent shape (nulls, empty lists) when the
 * module is off. The manager writes "agent" and its part of "kernel" (the boot). Health and
 * reasons are judged last, from the document itself (health.c). */
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/health.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/manager.h"

#define STATUS_SCHEMA_VERSION 1

static bool add_agent(Manager *m, cJSON *doc) {
        cJSON *a = cJSON_AddObjectToObject(doc, "agent");
        usec_t up = now_usec(CLOCK_MONOTONIC) - m->started_mono;
        char journal_error[PATH_MAX + 128] = "";

        /* the reason first: a narrow terminal cuts the path, not the cause */
        if (m->journal_error)
                snprintf(journal_error, sizeof journal_error, "%s: cannot write %s/%s",
                         strerror(-m->journal_error), m->state_dir, JOURNAL_FILE);
        return a && cJSON_AddStringToObject(a, "version", EC2AGENT_VERSION) &&
               cJSON_AddNumberToObject(a, "pid", getpid()) &&
               json_add_time(a, "started_at", m->started_at) &&
               cJSON_AddNumberToObject(a, "uptime_s", (double) (up / USEC_PER_SEC)) &&
               cJSON_AddStringToObject(a, "state_directory", m->state_dir) &&
               json_add_string_or_null(a, "state_error", m->journal_error ? journal_error : NULL) &&
               cJSON_AddNumberToObject(a, "events_recorded", (double) journal_appended(m->journal));
}

/* status.kernel: the kernel log's counters (kmsg.c), this boot and the previous one (the manager's),
 * and /proc's uptime, load and taint (kernel.c). */
static bool add_kernel(Manager *m, cJSON *doc) {
        cJSON *k = cJSON_AddObjectToObject(doc, "kernel"), *p;
        const PreviousBoot *pb = &m->previous_boot;

        if (!k || kmsg_status(m->kmsg, k) < 0 || !cJSON_AddStringToObject(k, "boot_id", m->boot_id) ||
            !(p = cJSON_AddObjectToObject(k, "previous_boot")))
                return false;
        if (!json_add_string_or_null(p, "boot_id", pb->known ? pb->boot_id : NULL))
                return false;
        if (!(pb->known ? cJSON_AddBoolToObject(p, "clean_shutdown", pb->clean)
                        : cJSON_AddNullToObject(p, "clean_shutdown")))
                return false;
        if (!json_add_string_or_null(p, "crash_log", pb->crash_log[0] ? pb->crash_log : NULL))
                return false;
        /* an unreadable kernel log is no kernel event at all: status must say so */
        if (m->kmsg_error) {
                cJSON *e = cJSON_AddObjectToObject(k, "kmsg");
                if (!e || !cJSON_AddStringToObject(e, "path", m->config->kmsg_path) ||
                    !cJSON_AddStringToObject(e, "error", strerror(-m->kmsg_error)))
                        return false;
        }
        return kernel_status(k) >= 0;
}

cJSON *manager_status(Manager *m) {
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        cJSON *reasons;

        if (!doc || !cJSON_AddNumberToObject(doc, "schema_version", STATUS_SCHEMA_VERSION) ||
            !cJSON_AddStringToObject(doc, "health", "unknown") ||
            !(reasons = cJSON_AddArrayToObject(doc, "reasons")) || !add_agent(m, doc) ||
            imds_status(m->imds, doc) < 0 || sampler_status(m->sampler, doc) < 0 || !add_kernel(m, doc) ||
            publisher_status(m->publisher, doc) < 0 || prometheus_status(m->prometheus, doc) < 0 ||
            nitro_status(m->nitro, doc) < 0 || engine_status(m->engine, doc) < 0 ||
            notifier_status(m->notifier, doc) < 0)
                return NULL;

        Health h = health_evaluate(doc, now_usec(CLOCK_REALTIME), reasons);
        cJSON *hs = cJSON_CreateString(health_to_string(h));
        if (!hs || !cJSON_ReplaceItemInObjectCaseSensitive(doc, "health", hs)) {
                cJSON_Delete(hs);
                return NULL;
        }
        return TAKE_PTR(doc);
}
