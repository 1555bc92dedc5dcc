/* catalog.c — the product's names, the only list of them: event types (SPEC §6) with their severity,
 * and metric names (SPEC §7) with their units. The publisher, the sampler, the kernel log's classes
 * and the journal's MESSAGE_IDs all read these rows. */
#include <errno.h>
#include <string.h>

#include "ec2agent/catalog-ids.h"
#include "ec2agent/catalog.h"
#include "ec2agent/util.h"

/* T(id, name, MESSAGE_ID, severity, may trigger rules, is a kernel problem) */
#define T(id, name, mid, sev, trigger, kernel) [id] = { name, mid, sev, trigger, kernel, false, false }
#define PLANNED_T(id, name, sev)               [id] = { name, NULL, sev, true, false, true, false }
/* a kernel problem that SPEC §5 names: one in the last hour makes health a warning */
#define HEALTH_T(id, name, mid, sev) [id] = { name, mid, sev, true, true, false, true }

static const EventTypeInfo event_types[_EVENT_TYPE_MAX] = {
        T(EVENT_TYPE_SPOT_INTERRUPTION, "spot-interruption", MID_SPOT_INTERRUPTION, SEVERITY_CRITICAL, true,
          false),
        T(EVENT_TYPE_REBALANCE_RECOMMENDATION, "rebalance-recommendation", MID_REBALANCE, SEVERITY_WARNING,
          true, false),
        T(EVENT_TYPE_ASG_TERMINATE, "asg-terminate", MID_ASG_TERMINATE, SEVERITY_CRITICAL, true, false),
        T(EVENT_TYPE_ASG_WARM_POOL, "asg-warm-pool", MID_ASG_WARM_POOL, SEVERITY_WARNING, true, false),
        T(EVENT_TYPE_MAINTENANCE, "maintenance", MID_MAINTENANCE, SEVERITY_WARNING, true, false),
        T(EVENT_TYPE_OOM_KILL, "oom-kill", MID_OOM_KILL, SEVERITY_WARNING, true, false), /* its own metric */
        HEALTH_T(EVENT_TYPE_FS_ERROR, "fs-error", MID_FS_ERROR, SEVERITY_WARNING),
        T(EVENT_TYPE_FS_READONLY, "fs-readonly", MID_FS_READONLY, SEVERITY_CRITICAL, true, true),
        HEALTH_T(EVENT_TYPE_IO_ERROR, "io-error", MID_IO_ERROR, SEVERITY_WARNING),
        HEALTH_T(EVENT_TYPE_HUNG_TASK, "hung-task", MID_HUNG_TASK, SEVERITY_WARNING),
        HEALTH_T(EVENT_TYPE_SOFT_LOCKUP, "soft-lockup", MID_SOFT_LOCKUP, SEVERITY_WARNING),
        HEALTH_T(EVENT_TYPE_RCU_STALL, "rcu-stall", MID_RCU_STALL, SEVERITY_WARNING),
        HEALTH_T(EVENT_TYPE_KERNEL_OOPS, "kernel-oops", MID_KERNEL_OOPS, SEVERITY_CRITICAL),
        T(EVENT_TYPE_KERNEL_WARNING, "kernel-warning", MID_KERNEL_WARNING, SEVERITY_WARNING, true, true),
        T(EVENT_TYPE_SEGFAULT, "segfault", MID_SEGFAULT, SEVERITY_INFO, true, true),
        T(EVENT_TYPE_NET_ERROR, "net-error", MID_NET_ERROR, SEVERITY_WARNING, true, true),
        T(EVENT_TYPE_PREVIOUS_BOOT_CRASH, "previous-boot-crash", MID_PREVIOUS_BOOT_CRASH, SEVERITY_WARNING,
          true, false),
        /* Nitro (nitro.c): the EBS NVMe log page and the ENA driver's allowance counters */
        T(EVENT_TYPE_EBS_PERFORMANCE_EXCEEDED, "ebs-performance-exceeded", MID_EBS_PERFORMANCE_EXCEEDED,
          SEVERITY_WARNING, true, false),
        T(EVENT_TYPE_NETWORK_ALLOWANCE_EXCEEDED, "network-allowance-exceeded",
          MID_NETWORK_ALLOWANCE_EXCEEDED, SEVERITY_WARNING, true, false),
        /* The engine's own events never trigger rules: a rule on them could feed itself. */
        T(EVENT_TYPE_RULE_FIRED, "rule-fired", MID_RULE_FIRED, SEVERITY_INFO, false, false),
        T(EVENT_TYPE_ACTION_DONE, "action-done", MID_ACTION_DONE, SEVERITY_INFO, false, false),
        T(EVENT_TYPE_ACTION_FAILED, "action-failed", MID_ACTION_FAILED, SEVERITY_WARNING, false, false),
};

#undef T
#undef PLANNED_T
#undef HEALTH_T

const char *const maintenance_codes[] = {
        "instance-reboot",     "system-reboot", "system-maintenance",
        "instance-retirement", "instance-stop", NULL,
};

/* M: published to CloudWatch only when metrics.measurements names it (the Nitro ones, nitro.c);
 * D: in the default set too */
#define M(id, name, unit)         [id] = { name, unit, false, false }
#define D(id, name, unit)         [id] = { name, unit, false, true }
#define PLANNED_M(id, name, unit) [id] = { name, unit, true, false }
#define OPT_IN_M(id, name, unit)  M(id, name, unit)

static const MetricInfo metrics[_METRIC_MAX] = {
        /* as aws/amazon-cloudwatch-agent's mem, swap, disk and cpu plugins publish them */
        D(METRIC_MEM_USED_PERCENT, "mem_used_percent", "Percent"),
        M(METRIC_MEM_AVAILABLE_PERCENT, "mem_available_percent", "Percent"),
        M(METRIC_MEM_USED, "mem_used", "Bytes"),
        M(METRIC_MEM_AVAILABLE, "mem_available", "Bytes"),
        M(METRIC_MEM_TOTAL, "mem_total", "Bytes"),
        M(METRIC_MEM_CACHED, "mem_cached", "Bytes"),
        M(METRIC_MEM_BUFFERED, "mem_buffered", "Bytes"),
        M(METRIC_MEM_FREE, "mem_free", "Bytes"),
        D(METRIC_SWAP_USED_PERCENT, "swap_used_percent", "Percent"),
        M(METRIC_SWAP_USED, "swap_used", "Bytes"),
        M(METRIC_SWAP_FREE, "swap_free", "Bytes"),
        D(METRIC_DISK_USED_PERCENT, "disk_used_percent", "Percent"),
        M(METRIC_DISK_USED, "disk_used", "Bytes"),
        M(METRIC_DISK_FREE, "disk_free", "Bytes"),
        M(METRIC_DISK_TOTAL, "disk_total", "Bytes"),
        M(METRIC_DISK_INODES_USED, "disk_inodes_used", "Count"),
        M(METRIC_DISK_INODES_FREE, "disk_inodes_free", "Count"),
        M(METRIC_DISK_INODES_TOTAL, "disk_inodes_total", "Count"),
        M(METRIC_CPU_USAGE_ACTIVE, "cpu_usage_active", "Percent"),
        /* the agent's own */
        D(METRIC_OOM_KILLS, "oom_kills", "Count"),
        D(METRIC_KERNEL_PROBLEMS, "kernel_problems", "Count"),
        M(METRIC_MEM_PRESSURE_SOME_AVG10, "mem_pressure_some_avg10", "Percent"),
        /* SPEC §7, Nitro (nitro.c): the EBS NVMe log page and the ENA driver's ethtool statistics,
         * not in the default set (metrics.measurements selects them). Units as SPEC §7 describes
         * them (times in microseconds, packets counted), the CloudWatch agent's names. */
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_READ_OPS, "diskio_ebs_total_read_ops", "Count"),
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_WRITE_OPS, "diskio_ebs_total_write_ops", "Count"),
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_READ_BYTES, "diskio_ebs_total_read_bytes", "Bytes"),
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_WRITE_BYTES, "diskio_ebs_total_write_bytes", "Bytes"),
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_READ_TIME, "diskio_ebs_total_read_time", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_TOTAL_WRITE_TIME, "diskio_ebs_total_write_time", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_IOPS,
                 "diskio_ebs_volume_performance_exceeded_iops", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_TP,
                 "diskio_ebs_volume_performance_exceeded_tp", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_IOPS,
                 "diskio_ebs_ec2_instance_performance_exceeded_iops", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_TP,
                 "diskio_ebs_ec2_instance_performance_exceeded_tp", "Microseconds"),
        OPT_IN_M(METRIC_DISKIO_EBS_VOLUME_QUEUE_LENGTH, "diskio_ebs_volume_queue_length", "Count"),
        OPT_IN_M(METRIC_ETHTOOL_BW_IN_ALLOWANCE_EXCEEDED, "ethtool_bw_in_allowance_exceeded", "Count"),
        OPT_IN_M(METRIC_ETHTOOL_BW_OUT_ALLOWANCE_EXCEEDED, "ethtool_bw_out_allowance_exceeded", "Count"),
        OPT_IN_M(METRIC_ETHTOOL_PPS_ALLOWANCE_EXCEEDED, "ethtool_pps_allowance_exceeded", "Count"),
        OPT_IN_M(METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_EXCEEDED, "ethtool_conntrack_allowance_exceeded",
                 "Count"),
        OPT_IN_M(METRIC_ETHTOOL_LINKLOCAL_ALLOWANCE_EXCEEDED, "ethtool_linklocal_allowance_exceeded",
                 "Count"),
        OPT_IN_M(METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_AVAILABLE, "ethtool_conntrack_allowance_available",
                 "Count"),
};

#undef M
#undef D
#undef PLANNED_M
#undef OPT_IN_M

static bool is_maintenance_code(const char *code) {
        for (const char *const *c = maintenance_codes; *c; c++)
                if (strcmp(*c, code) == 0)
                        return true;
        return false;
}

const EventTypeInfo *event_type_info(EventTypeId id) {
        return (unsigned) id < _EVENT_TYPE_MAX ? &event_types[id] : NULL;
}

int event_type_from_string(const char *type) {
        if (startswith(type, "maintenance:"))
                type = "maintenance";
        for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                if (!event_types[i].planned && strcmp(event_types[i].name, type) == 0)
                        return (int) i;
        return -ENOENT;
}

const EventTypeInfo *event_type_lookup(const char *type) {
        int id = event_type_from_string(type);
        return id < 0 ? NULL : &event_types[id];
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

const MetricInfo *metric_info(MetricId id) {
        return (unsigned) id < _METRIC_MAX ? &metrics[id] : NULL;
}

const char *metric_name(MetricId id) {
        return (unsigned) id < _METRIC_MAX ? metrics[id].name : "";
}

const MetricInfo *metric_lookup(const char *name) {
        int id = metric_from_string(name);
        return id < 0 ? NULL : &metrics[id];
}

int metric_from_string(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(metrics); i++)
                if (!metrics[i].planned && strcmp(metrics[i].name, name) == 0)
                        return (int) i;
        return -ENOENT;
}

uint64_t metric_default_set(void) {
        uint64_t set = 0;
        for (size_t i = 0; i < ELEMENTSOF(metrics); i++)
                if (metrics[i].published_by_default)
                        set |= METRIC_BIT(i);
        return set;
}

bool metric_name_is_valid(const char *name) {
        return metric_lookup(name) != NULL;
}

static const char *const dimension_names[] = {
        "InstanceId", "InstanceType", "ImageId",   "AutoScalingGroupName", "path", "device", "fstype",
        "class",      "VolumeId",     "interface",
};

const char *dimension_name(unsigned bit) {
        for (size_t i = 0; i < ELEMENTSOF(dimension_names); i++)
                if (bit == 1U << i)
                        return dimension_names[i];
        return NULL;
}

int dimension_from_string(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(dimension_names); i++)
                if (strcmp(dimension_names[i], name) == 0)
                        return (int) (1U << i);
        return -ENOENT;
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
