/* snapshot.c — the SPEC §5 status document, built from the manager's state on request.
 *
 * Every key of schema_version 1 is always present; what no module knows yet is null or empty.
 * Health and reasons are judged last, from the document itself (health.c). */
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

static bool add_instance(cJSON *doc) {
        cJSON *i = cJSON_AddObjectToObject(doc, "instance");
        return i && cJSON_AddBoolToObject(i, "on_ec2", false) && cJSON_AddNullToObject(i, "instance_id") &&
               cJSON_AddNullToObject(i, "instance_type") && cJSON_AddNullToObject(i, "region") &&
               cJSON_AddNullToObject(i, "availability_zone") && cJSON_AddNullToObject(i, "ami_id") &&
               cJSON_AddNullToObject(i, "asg_name");
}

static bool add_imds(Manager *m, cJSON *doc) {
        cJSON *i = cJSON_AddObjectToObject(doc, "imds");
        return i && cJSON_AddBoolToObject(i, "enabled", m->imds != NULL) &&
               cJSON_AddBoolToObject(i, "reachable", false) && cJSON_AddNullToObject(i, "last_ok_at") &&
               cJSON_AddNullToObject(i, "last_error");
}

static bool add_notices(cJSON *doc) {
        cJSON *n = cJSON_AddObjectToObject(doc, "notices");
        return n && cJSON_AddNullToObject(n, "spot") && cJSON_AddNullToObject(n, "rebalance") &&
               cJSON_AddNullToObject(n, "asg_target_lifecycle_state") &&
               cJSON_AddArrayToObject(n, "scheduled");
}

static bool add_memory(cJSON *doc) {
        cJSON *mem = cJSON_AddObjectToObject(doc, "memory");
        return mem && cJSON_AddNullToObject(mem, "total_bytes") &&
               cJSON_AddNullToObject(mem, "available_bytes") && cJSON_AddNullToObject(mem, "used_percent") &&
               cJSON_AddNullToObject(mem, "swap_used_percent") &&
               cJSON_AddNullToObject(mem, "pressure_some_avg10");
}

static bool add_kernel(Manager *m, cJSON *doc) {
        cJSON *k = cJSON_AddObjectToObject(doc, "kernel"), *p;
        const PreviousBoot *pb = &m->previous_boot;

        if (!k || !cJSON_AddNumberToObject(k, "oom_kills", 0) || !cJSON_AddNullToObject(k, "last_oom") ||
            !cJSON_AddArrayToObject(k, "problems") || !cJSON_AddNullToObject(k, "tainted") ||
            !cJSON_AddStringToObject(k, "boot_id", m->boot_id) ||
            !(p = cJSON_AddObjectToObject(k, "previous_boot")))
                return false;
        if (!json_add_string_or_null(p, "boot_id", pb->known ? pb->boot_id : NULL))
                return false;
        if (!(pb->known ? cJSON_AddBoolToObject(p, "clean_shutdown", pb->clean)
                        : cJSON_AddNullToObject(p, "clean_shutdown")))
                return false;
        if (!json_add_string_or_null(p, "crash_log", pb->crash_log[0] ? pb->crash_log : NULL))
                return false;
        /* an unreadable kernel log is no kernel event at all: status must say so (a readable one
         * replaces this with its counters, kmsg_status) */
        if (m->kmsg_error) {
                cJSON *e = cJSON_AddObjectToObject(k, "kmsg");
                if (!e || !cJSON_AddStringToObject(e, "path", m->config->kmsg_path) ||
                    !cJSON_AddStringToObject(e, "error", strerror(-m->kmsg_error)))
                        return false;
        }
        /* "350735.47 234388.90" and "0.08 0.03 0.01 1/231 4242": read when asked, cheap. */
        _cleanup_free_ char *uptime = NULL, *loadavg = NULL;
        if (read_file_bounded("/proc/uptime", 256, &uptime, NULL) >= 0 &&
            !cJSON_AddNumberToObject(k, "uptime_s", strtod(uptime, NULL)))
                return false;
        if (read_file_bounded("/proc/loadavg", 256, &loadavg, NULL) >= 0) {
                char *cur = loadavg;
                double l[3];
                for (int i = 0; i < 3; i++)
                        l[i] = strtod(cur, &cur);
                cJSON *load = cJSON_CreateDoubleArray(l, 3);
                if (!load || !cJSON_AddItemToObject(k, "load", load)) {
                        cJSON_Delete(load);
                        return false;
                }
        }
        uint64_t taint;
        char letters[32];
        if (kernel_read_taint("/proc/sys/kernel/tainted", &taint) < 0)
                return true; /* stays null */
        kernel_taint_letters(taint, letters);
        return json_replace(k, "tainted", cJSON_CreateNumber((double) taint)) >= 0 &&
               cJSON_AddStringToObject(k, "taint_flags", letters);
}

static bool add_cloudwatch(Manager *m, cJSON *doc) {
        cJSON *c = cJSON_AddObjectToObject(doc, "cloudwatch");
        return c && cJSON_AddBoolToObject(c, "enabled", m->config->metrics_enabled) &&
               cJSON_AddNullToObject(c, "last_publish_at") && cJSON_AddNullToObject(c, "last_error") &&
               cJSON_AddNullToObject(c, "failing_since") &&
               cJSON_AddNumberToObject(c, "queued_datapoints", 0) &&
               cJSON_AddNumberToObject(c, "spooled_bytes", 0) &&
               cJSON_AddNumberToObject(c, "published_datapoints", 0) &&
               cJSON_AddNumberToObject(c, "dropped_datapoints", 0);
}

static bool add_rules(Manager *m, cJSON *doc) {
        cJSON *rules = cJSON_AddArrayToObject(doc, "rules");
        if (!rules || !cJSON_AddArrayToObject(doc, "actions"))
                return false;
        for (size_t i = 0; i < m->config->n_rules; i++) {
                cJSON *r = cJSON_CreateObject();
                if (!r || !cJSON_AddItemToArray(rules, r)) {
                        cJSON_Delete(r);
                        return false;
                }
                if (!cJSON_AddStringToObject(r, "name", m->config->rules[i].name) ||
                    !cJSON_AddNumberToObject(r, "fired", 0) || !cJSON_AddNullToObject(r, "last_fired_at") ||
                    !cJSON_AddStringToObject(r, "state", "idle"))
                        return false;
        }
        return true;
}

cJSON *manager_status(Manager *m) {
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        cJSON *reasons;

        if (!doc || !cJSON_AddNumberToObject(doc, "schema_version", STATUS_SCHEMA_VERSION) ||
            !cJSON_AddStringToObject(doc, "health", "unknown") ||
            !(reasons = cJSON_AddArrayToObject(doc, "reasons")) || !add_agent(m, doc) ||
            !add_instance(doc) || !add_imds(m, doc) || !add_notices(doc) || !add_memory(doc) ||
            !cJSON_AddArrayToObject(doc, "filesystems") || !add_kernel(m, doc) || !add_cloudwatch(m, doc) ||
            !add_rules(m, doc))
                return NULL;

        if (m->imds && imds_status(m->imds, doc) < 0)
                return NULL;
        if (m->engine && engine_status(m->engine, doc) < 0)
                return NULL;
        if (m->publisher && publisher_status(m->publisher, doc) < 0)
                return NULL;
        if (m->sampler && sampler_status(m->sampler, doc) < 0)
                return NULL;
        if (m->kmsg && kmsg_status(m->kmsg, cJSON_GetObjectItemCaseSensitive(doc, "kernel")) < 0)
                return NULL;
        Health h = health_evaluate(doc, now_usec(CLOCK_REALTIME), reasons);
        cJSON *hs = cJSON_CreateString(health_to_string(h));
        if (!hs || !cJSON_ReplaceItemInObjectCaseSensitive(doc, "health", hs)) {
                cJSON_Delete(hs);
                return NULL;
        }
        return TAKE_PTR(doc);
}
