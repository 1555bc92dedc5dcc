/* config.h — the configuration of SPEC §4: defaults, loading with drop-ins, strict validation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "mwindow.h"
#include "util.h"

#define CONFIG_DEFAULT_PATH "/etc/ec2agent/config.json"
#define CONFIG_MAX_BYTES    (1024 * 1024)

typedef enum StepKind {
        STEP_STOP,
        STEP_RESTART,
        STEP_EXEC,
        STEP_LIFECYCLE,
        STEP_NOTIFY,
        STEP_REBOOT,
        STEP_RESCHEDULE,
        _STEP_KIND_MAX,
} StepKind;

typedef struct Step {
        StepKind kind;
        char **argv;  /* stop/restart: unit names; exec: the argv */
        char *hook;   /* complete_lifecycle_action */
        char *group;  /* NULL: the instance's aws:autoscaling:groupName tag */
        char *result; /* "CONTINUE" or "ABANDON" */
        unsigned heartbeat_s;
        char *sns_topic_arn; /* notify: one of these five */
        char *webhook;
        char *slack, *teams;         /* incoming-webhook URLs (secrets) */
        char *pagerduty_routing_key; /* a secret; set for a pagerduty notify */
        char *pagerduty_url;         /* NULL: https://events.pagerduty.com/v2/enqueue */
        MWindow window;              /* reschedule */
        unsigned max_per_day;        /* reboot */
        unsigned timeout_s;
        bool abort_on_failure;
} Step;

typedef struct Rule {
        char *name;
        char **on; /* event patterns; NULL for a metric rule */
        bool has_before;
        unsigned before_s;
        char *metric; /* a metric rule: metric, above/below threshold, for_s */
        bool above;
        double threshold;
        unsigned for_s;
        unsigned cooldown_s;
        Step *steps;
        size_t n_steps;
        unsigned origin; /* which file defined it (loader-internal) */
} Rule;

/* The most sets metrics.aggregation_dimensions takes: each multiplies what a fleet pays. */
#define AGGREGATION_SETS_MAX 8

typedef struct Config {
        char *aws_region;
        char *endpoint_cloudwatch, *endpoint_autoscaling, *endpoint_sns;
        char *endpoint_ec2;

        bool imds_enabled;
        char *imds_endpoint;
        bool imds_endpoint_ipv6; /* imds.endpoint_mode "IPv6" */
        unsigned imds_poll_interval_s;
        unsigned imds_scheduled_events_interval_s;
        unsigned imds_timeout_ms;

        bool metrics_enabled;
        char *metrics_namespace;
        unsigned metrics_collection_interval_s;
        unsigned metrics_publish_interval_s;
        bool metrics_high_resolution;
        unsigned metrics_dimensions;   /* DIMENSION_* bits */
        char **metrics_filesystems;    /* mount points; "*" for every block-backed one */
        uint64_t metrics_measurements; /* published to CloudWatch: METRIC_BIT(MetricId) set */
        unsigned metrics_aggregation_dimensions[AGGREGATION_SETS_MAX]; /* DIMENSION_* bits each */
        size_t n_metrics_aggregation_dimensions;
        char *metrics_prometheus_textfile; /* NULL: none */

        bool kmsg_enabled;
        char *kmsg_path;

        char *kernel_pstore_path;

        Rule *rules;
        size_t n_rules;
} Config;

/* Loads PATH (NULL: the default) and the *.json files of its sibling config.d in lexical order onto the
 * defaults. A missing default file means defaults; a missing explicit PATH is an error.
 * Every problem becomes one line "FILE: json.path: message" in *RET_ERRORS (a string vector
 * the caller frees, NULL when there are none). Returns 0 with *RET set (even when errors
 * were found: check *RET_ERRORS), or -ENOMEM. */
int config_load(const char *path, Config **ret, char ***ret_errors);

/* Parses one JSON document TEXT as if it came from FILE, onto the defaults. For tests and
 * fuzzing. Same contract as config_load(). */
int config_load_string(const char *file, const char *text, Config **ret, char ***ret_errors);

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

const char *step_kind_to_string(StepKind k);
