/* catalog.h — the product's names, the only list of them: event types (SPEC §6) with their severity,
 * and metric names (SPEC §7) with their units. Adding one is one enum value and one row. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum Severity {
        SEVERITY_INFO,
        SEVERITY_WARNING,
        SEVERITY_CRITICAL,
} Severity;

typedef enum EventTypeId {
        EVENT_TYPE_SPOT_INTERRUPTION,
        EVENT_TYPE_REBALANCE_RECOMMENDATION,
        EVENT_TYPE_ASG_TERMINATE,
        EVENT_TYPE_ASG_WARM_POOL,
        EVENT_TYPE_MAINTENANCE,
        EVENT_TYPE_OOM_KILL,
        EVENT_TYPE_FS_ERROR,
        EVENT_TYPE_FS_READONLY,
        EVENT_TYPE_IO_ERROR,
        EVENT_TYPE_HUNG_TASK,
        EVENT_TYPE_SOFT_LOCKUP,
        EVENT_TYPE_RCU_STALL,
        EVENT_TYPE_KERNEL_OOPS,
        EVENT_TYPE_KERNEL_WARNING,
        EVENT_TYPE_SEGFAULT,
        EVENT_TYPE_NET_ERROR,
        EVENT_TYPE_PREVIOUS_BOOT_CRASH,
        EVENT_TYPE_EBS_PERFORMANCE_EXCEEDED,
        EVENT_TYPE_NETWORK_ALLOWANCE_EXCEEDED,
        EVENT_TYPE_RULE_FIRED,
        EVENT_TYPE_ACTION_DONE,
        EVENT_TYPE_ACTION_FAILED,
        _EVENT_TYPE_MAX,
} EventTypeId;

typedef struct EventTypeInfo {
        const char *name;       /* "spot-interruption"; "maintenance" stands for "maintenance:CODE" */
        const char *message_id; /* journal MESSAGE_ID (units/ec2agent.catalog); NULL while planned */
        Severity severity;      /* the usual severity of this type */
        bool rule_trigger;      /* may appear in a rule's "on" */
        bool kernel_problem;    /* counted in the kernel_problems metric, dimension class = name */
        bool planned;           /* named by the SPEC, made by nothing yet: lookups do not find it */
        bool health_warning;    /* one in the last hour makes health a warning (SPEC §5) */
} EventTypeInfo;

typedef enum MetricId {
        METRIC_MEM_USED_PERCENT,
        METRIC_MEM_AVAILABLE_PERCENT,
        METRIC_MEM_USED,
        METRIC_MEM_AVAILABLE,
        METRIC_MEM_TOTAL,
        METRIC_MEM_CACHED,
        METRIC_MEM_BUFFERED,
        METRIC_MEM_FREE,
        METRIC_SWAP_USED_PERCENT,
        METRIC_SWAP_USED,
        METRIC_SWAP_FREE,
        METRIC_DISK_USED_PERCENT,
        METRIC_DISK_USED,
        METRIC_DISK_FREE,
        METRIC_DISK_TOTAL,
        METRIC_DISK_INODES_USED,
        METRIC_DISK_INODES_FREE,
        METRIC_DISK_INODES_TOTAL,
        METRIC_CPU_USAGE_ACTIVE,
        METRIC_OOM_KILLS,
        METRIC_KERNEL_PROBLEMS,
        METRIC_MEM_PRESSURE_SOME_AVG10,
        METRIC_DISKIO_EBS_TOTAL_READ_OPS,
        METRIC_DISKIO_EBS_TOTAL_WRITE_OPS,
        METRIC_DISKIO_EBS_TOTAL_READ_BYTES,
        METRIC_DISKIO_EBS_TOTAL_WRITE_BYTES,
        METRIC_DISKIO_EBS_TOTAL_READ_TIME,
        METRIC_DISKIO_EBS_TOTAL_WRITE_TIME,
        METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_IOPS,
        METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_TP,
        METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_IOPS,
        METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_TP,
        METRIC_DISKIO_EBS_VOLUME_QUEUE_LENGTH,
        METRIC_ETHTOOL_BW_IN_ALLOWANCE_EXCEEDED,
        METRIC_ETHTOOL_BW_OUT_ALLOWANCE_EXCEEDED,
        METRIC_ETHTOOL_PPS_ALLOWANCE_EXCEEDED,
        METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_EXCEEDED,
        METRIC_ETHTOOL_LINKLOCAL_ALLOWANCE_EXCEEDED,
        METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_AVAILABLE,
        _METRIC_MAX,
} MetricId;

typedef struct MetricInfo {
        const char *name; /* "mem_used_percent" */
        const char *unit; /* the CloudWatch unit it is published with: "Percent", "Bytes", "Count", … */
        bool planned;     /* named by the SPEC, collected by nothing yet: lookups do not find it */
        bool published_by_default; /* in metrics.measurements' default set (SPEC §4): what costs money */
} MetricInfo;

/* A set of metrics (metrics.measurements) is a bitmask of MetricIds. */
#define METRIC_BIT(id) (UINT64_C(1) << (id))
_Static_assert(_METRIC_MAX <= 64, "a set of metrics is a uint64_t");

/* The dimensions of a datum: the instance's (metrics.dimensions), then a metric's own (SPEC §7). */
enum {
        DIMENSION_INSTANCE_ID = 1 << 0,
        DIMENSION_INSTANCE_TYPE = 1 << 1,
        DIMENSION_IMAGE_ID = 1 << 2,
        DIMENSION_ASG_NAME = 1 << 3,
        /* a datum's own dimensions, which metrics.aggregation_dimensions may keep too */
        DIMENSION_PATH = 1 << 4,
        DIMENSION_DEVICE = 1 << 5,
        DIMENSION_FSTYPE = 1 << 6,
        DIMENSION_CLASS = 1 << 7,
        DIMENSION_VOLUME_ID = 1 << 8,
        DIMENSION_INTERFACE = 1 << 9,
};

/* The CloudWatch name of dimension BIT (one DIMENSION_* bit), or NULL. */
const char *dimension_name(unsigned bit);

/* The DIMENSION_* bit named NAME ("InstanceId", …, "path", "class"), or -ENOENT. */
int dimension_from_string(const char *name);

/* The scheduled-event codes of IMDS events/maintenance/scheduled. */
extern const char *const maintenance_codes[];

/* The row of event type ID, planned ones included; NULL when ID is out of range. */
const EventTypeInfo *event_type_info(EventTypeId id);

/* Looks TYPE up ("maintenance:system-reboot" finds "maintenance"). NULL when unknown or planned. */
const EventTypeInfo *event_type_lookup(const char *type);

/* The id of TYPE as event_type_lookup() finds it, or -ENOENT. */
int event_type_from_string(const char *type);

/* True when PATTERN may stand in a rule's "on": a triggering event type, "maintenance",
 * or "maintenance:CODE" with a known code. */
bool event_pattern_is_valid(const char *pattern);

/* True when event TYPE matches rule PATTERN ("maintenance" matches every maintenance:CODE). */
bool event_pattern_matches(const char *pattern, const char *type);

/* The row of metric ID, planned ones included; NULL when ID is out of range. */
const MetricInfo *metric_info(MetricId id);

/* The name of metric ID ("" when out of range: a programming error). */
const char *metric_name(MetricId id);

/* Looks a metric NAME up. NULL when unknown or planned. */
const MetricInfo *metric_lookup(const char *name);

/* The id of metric NAME as metric_lookup() finds it, or -ENOENT. */
int metric_from_string(const char *name);

/* The metrics published to CloudWatch when metrics.measurements is not given (METRIC_BIT set). */
uint64_t metric_default_set(void);

/* True for a metric name of SPEC §7 that the agent collects. */
bool metric_name_is_valid(const char *name);

const char *severity_to_string(Severity s);
/* Returns the severity or -EINVAL. */
int severity_from_string(const char *s);
