/* health.c — SPEC §5 health: judged from the status document alone, so it is pure and tested.
 *
 * critical: spot interruption; Auto Scaling termination; a filesystem remounted read-only; a
 *           filesystem or memory at 95 % or more.
 * warning:  a pending scheduled event; a rebalance recommendation; within the last hour an OOM
 *           kill, a filesystem or I/O error, a hung task, a lockup or an oops (the catalog's
 *           health_warning rows); a filesystem or
 *           memory at 85 % or more; a watched filesystem that does not answer statvfs(); CloudWatch
 * publishing (or event forwarding) failing for over 5 minutes; an unclean end of the previous boot; an EBS
 * volume over its (or the instance's) IOPS or throughput limit, or an ENA allowance exceeded, in the last 5
 * minutes: one reason per volume or interface and limit, with what to do. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/health.h"
#include "ec2agent/json.h"

#define PERCENT_WARNING  85.0
#define PERCENT_CRITICAL 95.0

typedef struct Judge {
        Health level;
        cJSON *critical, *warning; /* reasons by level, merged at the end */
} Judge;

_printf_(3, 4) static void flag(Judge *j, Health level, const char *fmt, ...) {
        char line[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (level > j->level)
                j->level = level;
        cJSON *s = cJSON_CreateString(line);
        if (s && !cJSON_AddItemToArray(level == HEALTH_CRITICAL ? j->critical : j->warning, s))
                cJSON_Delete(s);
}

static const cJSON *health_get(const cJSON *o, const char *key) {
        return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* True when the RFC 3339 time at O[KEY] lies within WINDOW before NOW (or in the future). */
static bool recent(const cJSON *o, const char *key, usec_t now, usec_t window) {
        usec_t t;
        const char *s = json_get_string(o, key);
        if (!s || parse_rfc3339(s, &t) < 0)
                return false;
        return t + window >= now;
}

static void judge_percent(Judge *j, const char *what, double pct) {
        if (pct >= PERCENT_CRITICAL)
                flag(j, HEALTH_CRITICAL, "%s at %.1f%% (critical at %.0f%%)", what, pct, PERCENT_CRITICAL);
        else if (pct >= PERCENT_WARNING)
                flag(j, HEALTH_WARNING, "%s at %.1f%% (warning at %.0f%%)", what, pct, PERCENT_WARNING);
}

static void judge_notices(Judge *j, const cJSON *notices) {
        const cJSON *spot = health_get(notices, "spot"), *rebalance = health_get(notices, "rebalance");
        const char *lifecycle = json_get_string(notices, "asg_target_lifecycle_state");
        const cJSON *ev;

        if (cJSON_IsObject(spot))
                flag(j, HEALTH_CRITICAL, "spot interruption: %s at %s",
                     json_get_string(spot, "action") ?: "?", json_get_string(spot, "time") ?: "?");
        if (lifecycle && strcmp(lifecycle, "Terminated") == 0)
                flag(j, HEALTH_CRITICAL, "auto scaling: instance is being terminated");
        if (cJSON_IsObject(rebalance))
                flag(j, HEALTH_WARNING, "rebalance recommendation since %s",
                     json_get_string(rebalance, "notice_time") ?: "?");
        cJSON_ArrayForEach (ev, health_get(notices, "scheduled")) {
                const char *state = json_get_string(ev, "state");
                if (state && strcmp(state, "active") != 0)
                        continue; /* completed or canceled */
                flag(j, HEALTH_WARNING, "scheduled %s (%s) not before %s",
                     json_get_string(ev, "code") ?: "event", json_get_string(ev, "event_id") ?: "?",
                     json_get_string(ev, "not_before") ?: "?");
        }
}

static void judge_resources(Judge *j, const cJSON *status) {
        const cJSON *mem = health_get(status, "memory"), *fs;
        char what[160];

        if (cJSON_IsNumber(health_get(mem, "used_percent")) && json_get_number(mem, "total_bytes", 0) > 0)
                judge_percent(j, "memory used", json_get_number(mem, "used_percent", 0));
        cJSON_ArrayForEach (fs, health_get(status, "filesystems")) {
                const char *path = json_get_string(fs, "path") ?: "?";
                if (cJSON_IsTrue(health_get(fs, "became_read_only")))
                        flag(j, HEALTH_CRITICAL, "filesystem %s was remounted read-only", path);
                if (cJSON_IsFalse(health_get(fs, "answering")))
                        flag(j, HEALTH_WARNING, "filesystem %s does not answer (statvfs() hangs)", path);
                snprintf(what, sizeof what, "filesystem %s", path);
                if (cJSON_IsNumber(health_get(fs, "used_percent")))
                        judge_percent(j, what, json_get_number(fs, "used_percent", 0));
                snprintf(what, sizeof what, "filesystem %s inodes", path);
                if (cJSON_IsNumber(health_get(fs, "inodes_used_percent")))
                        judge_percent(j, what, json_get_number(fs, "inodes_used_percent", 0));
        }
}

static void judge_kernel(Judge *j, const cJSON *kernel, usec_t now) {
        const cJSON *oom = health_get(kernel, "last_oom"), *prev = health_get(kernel, "previous_boot"), *p;

        if (cJSON_IsObject(oom) && recent(oom, "at", now, HEALTH_RECENT_USEC))
                flag(j, HEALTH_WARNING, "OOM kill of %s (pid %.0f) at %s",
                     json_get_string(oom, "process") ?: "?", json_get_number(oom, "pid", 0),
                     json_get_string(oom, "at"));
        cJSON_ArrayForEach (p, health_get(kernel, "problems")) {
                const char *cls = json_get_string(p, "class");
                const EventTypeInfo *t = cls ? event_type_lookup(cls) : NULL; /* the catalog says which */
                if (t && t->health_warning && recent(p, "at", now, HEALTH_RECENT_USEC))
                        flag(j, HEALTH_WARNING, "%s at %s: %.120s", cls, json_get_string(p, "at"),
                             json_get_string(p, "message") ?: "");
        }
        const char *crash = json_get_string(prev, "crash_log"), *id = json_get_string(prev, "boot_id");
        if (cJSON_IsFalse(health_get(prev, "clean_shutdown")) || crash)
                flag(j, HEALTH_WARNING, "previous boot%s%s did not end cleanly%s%.100s", id ? " " : "",
                     id ?: "", crash ? ": " : "", crash ?: "");
}

static void judge_cloudwatch(Judge *j, const cJSON *cw, usec_t now) {
        const char *since = json_get_string(cw, "failing_since");
        usec_t t;

        if (!cJSON_IsTrue(health_get(cw, "enabled")) || !since || parse_rfc3339(since, &t) < 0)
                return;
        if (now > t && now - t > HEALTH_PUBLISH_FAILING_USEC)
                flag(j, HEALTH_WARNING, "CloudWatch publishing failing since %s: %.100s", since,
                     json_get_string(cw, "last_error") ?: "?");
}

/* status.forward: each target that has failed for over 5 minutes (health.h) is a warning. */
static void judge_forward(Judge *j, const cJSON *fw, usec_t now) {
        static const struct {
                const char *key, *title;
        } targets[] = { { "cloudwatch_logs", "CloudWatch Logs" }, { "eventbridge", "EventBridge" } };

        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                const cJSON *t = health_get(fw, targets[i].key);
                const char *since = json_get_string(t, "failing_since");
                usec_t at;
                if (!cJSON_IsTrue(health_get(t, "enabled")) || !since || parse_rfc3339(since, &at) < 0)
                        continue;
                if (now > at && now - at > HEALTH_PUBLISH_FAILING_USEC)
                        flag(j, HEALTH_WARNING,
                             "forwarding to %s failing since %s (%.0f events wait): %.100s",
                             targets[i].title, since, json_get_number(t, "queued", 0),
                             json_get_string(t, "last_error") ?: "?");
        }
}

/* 1234567 → "1 234 567" */
static const char *grouped(uint64_t v, char buf[static 32]) {
        char digits[24];
        int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long) v), o = 0;
        for (int i = 0; i < n; i++) {
                if (i > 0 && (n - i) % 3 == 0)
                        buf[o++] = ' ';
                buf[o++] = digits[i];
        }
        buf[o] = 0;
        return buf;
}

/* status.volumes[].exceeded_5m: microseconds over each limit (nitro.c). */
static void judge_volumes(Judge *j, const cJSON *volumes) {
        static const struct {
                const char *key, *what, *todo;
        } limits[] = {
                { "volume_iops", "its provisioned IOPS", "raise its IOPS or spread the load" },
                { "volume_throughput", "its provisioned throughput",
                  "raise its throughput or spread the load" },
                { "instance_iops", "the instance's EBS IOPS limit", "a larger instance size" },
                { "instance_throughput", "the instance's EBS throughput limit", "a larger instance size" },
        };
        const cJSON *v;

        cJSON_ArrayForEach (v, volumes) {
                const cJSON *x = health_get(v, "exceeded_5m");
                for (size_t i = 0; cJSON_IsObject(x) && i < ELEMENTSOF(limits); i++) {
                        double us = json_get_number(x, limits[i].key, 0);
                        if (!(us > 0))
                                continue;
                        double s = us / 1e6;
                        flag(j, HEALTH_WARNING, "%s exceeded %s for %.*f s of the last 5 min: %s",
                             json_get_string(v, "volume_id") ?: "?", limits[i].what, s < 10 ? 1 : 0, s,
                             limits[i].todo);
                }
        }
}

/* status.network[].exceeded_5m: packets queued or dropped over each allowance (nitro.c). */
static void judge_network(Judge *j, const cJSON *network) {
        static const struct {
                const char *key, *what, *todo;
        } limits[] = {
                { "bw_in", "its inbound bandwidth allowance", "a larger instance size" },
                { "bw_out", "its outbound bandwidth allowance", "a larger instance size" },
                { "pps", "its PPS allowance", "a larger instance size" },
                { "conntrack", "its connection-tracking allowance",
                  "fewer tracked connections (untracked security group rules, shorter idle timeouts) or a "
                  "larger instance size" },
                { "linklocal", "the link-local allowance (IMDS, DNS, time sync)",
                  "cache IMDS and DNS answers" },
        };
        const cJSON *n;
        char num[32];

        cJSON_ArrayForEach (n, network) {
                const cJSON *x = health_get(n, "exceeded_5m");
                for (size_t i = 0; cJSON_IsObject(x) && i < ELEMENTSOF(limits); i++) {
                        uint64_t c = json_get_u64(x, limits[i].key, 0);
                        if (c == 0)
                                continue;
                        flag(j, HEALTH_WARNING, "%s dropped %s packets over %s in the last 5 min: %s",
                             json_get_string(n, "interface") ?: "?", grouped(c, num), limits[i].what,
                             limits[i].todo);
                }
        }
}

Health health_evaluate(const cJSON *status, usec_t now, cJSON *reasons) {
        Judge j = { .critical = cJSON_CreateArray(), .warning = cJSON_CreateArray() };
        cJSON *r;

        if (j.critical && j.warning) {
                judge_notices(&j, health_get(status, "notices"));
                judge_resources(&j, status);
                judge_kernel(&j, health_get(status, "kernel"), now);
                judge_cloudwatch(&j, health_get(status, "cloudwatch"), now);
                judge_volumes(&j, health_get(status, "volumes"));
                judge_network(&j, health_get(status, "network"));
                judge_forward(&j, health_get(status, "forward"), now);
        } else
                j.level = HEALTH_WARNING; /* cannot judge: never claim "ok" */

        for (cJSON *list = j.critical; list; list = list == j.critical ? j.warning : NULL)
                while ((r = cJSON_DetachItemFromArray(list, 0)))
                        if (!cJSON_AddItemToArray(reasons, r))
                                cJSON_Delete(r);
        cJSON_Delete(j.critical);
        cJSON_Delete(j.warning);
        return j.level;
}

const char *health_to_string(Health h) {
        switch (h) {
        case HEALTH_OK:
                return "ok";
        case HEALTH_WARNING:
                return "warning";
        case HEALTH_CRITICAL:
                return "critical";
        }
        return "unknown";
}
