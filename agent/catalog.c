/* catalog.c — the product's names: event types (SPEC §6) and metric names (SPEC §7). */
#include <errno.h>
#include <string.h>

#include "ec2agent/catalog-ids.h"
#include "ec2agent/catalog.h"
#include "ec2agent/util.h"

static const EventTypeInfo event_types[] = {
        { "spot-interruption", MID_SPOT_INTERRUPTION, SEVERITY_CRITICAL, true },
        { "rebalance-recommendation", MID_REBALANCE, SEVERITY_WARNING, true },
        { "asg-terminate", MID_ASG_TERMINATE, SEVERITY_CRITICAL, true },
        { "asg-warm-pool", MID_ASG_WARM_POOL, SEVERITY_WARNING, true },
        { "maintenance", MID_MAINTENANCE, SEVERITY_WARNING, true },
        { "oom-kill", MID_OOM_KILL, SEVERITY_WARNING, true },
        { "fs-error", MID_FS_ERROR, SEVERITY_WARNING, true },
        { "fs-readonly", MID_FS_READONLY, SEVERITY_CRITICAL, true },
        { "io-error", MID_IO_ERROR, SEVERITY_WARNING, true },
        { "hung-task", MID_HUNG_TASK, SEVERITY_WARNING, true },
        { "soft-lockup", MID_SOFT_LOCKUP, SEVERITY_WARNING, true },
        { "rcu-stall", MID_RCU_STALL, SEVERITY_WARNING, true },
        { "kernel-oops", MID_KERNEL_OOPS, SEVERITY_CRITICAL, true },
        { "kernel-warning", MID_KERNEL_WARNING, SEVERITY_WARNING, true },
        { "segfault", MID_SEGFAULT, SEVERITY_INFO, true },
        { "net-error", MID_NET_ERROR, SEVERITY_WARNING, true },
        { "previous-boot-crash", MID_PREVIOUS_BOOT_CRASH, SEVERITY_WARNING, true },
        /* The engine's own events never trigger rules: a rule on them could feed itself. */
        { "rule-fired", MID_RULE_FIRED, SEVERITY_INFO, false },
        { "action-done", MID_ACTION_DONE, SEVERITY_INFO, false },
        { "action-failed", MID_ACTION_FAILED, SEVERITY_WARNING, false },
};

const char *const maintenance_codes[] = {
        "instance-reboot",     "system-reboot", "system-maintenance",
        "instance-retirement", "instance-stop", NULL,
};

static const char *const metric_names[] = {
        "mem_used_percent",  "mem_available_percent",
        "mem_used",          "mem_available",
        "mem_total",         "mem_cached",
        "mem_buffered",      "mem_free",
        "swap_used_percent", "swap_used",
        "swap_free",         "disk_used_percent",
        "disk_used",         "disk_free",
        "disk_total",        "disk_inodes_used",
        "disk_inodes_free",  "disk_inodes_total",
        "cpu_usage_active",  "oom_kills",
        "kernel_problems",   "mem_pressure_some_avg10",
};

static bool is_maintenance_code(const char *code) {
        for (const char *const *c = maintenance_codes; *c; c++)
                if (strcmp(*c, code) == 0)
                        return true;
        return false;
}

const EventTypeInfo *event_type_lookup(const char *type) {
        if (startswith(type, "maintenance:"))
                type = "maintenance";
        for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                if (strcmp(event_types[i].name, type) == 0)
                        return &event_types[i];
        return NULL;
}

bool event_pattern_is_valid(const char *pattern) {
        if (startswith(pattern, "maintenance:"))
                return is_maintenance_code(pattern + strlen("maintenance:"));
        const EventTypeInfo *t = event_type_lookup(pattern);
        return t && t->rule_trigger;
}

bool event_pattern_matches(const char *pattern, const char *type) {
        if (strcmp(pattern, type) == 0)
                return true;
        return strcmp(pattern, "maintenance") == 0 && startswith(type, "maintenance:");
}

bool metric_name_is_valid(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(metric_names); i++)
                if (strcmp(metric_names[i], name) == 0)
                        return true;
        return false;
}

static const char *const severity_names[] = {
        [SEVERITY_INFO] = "info",
        [SEVERITY_WARNING] = "warning",
        [SEVERITY_CRITICAL] = "critical",
};

const char *severity_to_string(Severity s) {
        return (unsigned) s < ELEMENTSOF(severity_names) ? severity_names[s] : "info";
}

int severity_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(severity_names); i++)
                if (strcmp(severity_names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}
