/* test-catalog.c — event type lookup, rule patterns, metric names; the catalog holds every name of the SPEC.
 * EC2AGENT_SPEC=/path/to/SPEC.md checks the tables here against the SPEC's own text as well. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/kmsg.h"
#include "tap.h"

static void test_lookup(void) {
        ASSERT_STR(event_type_lookup("spot-interruption")->name, "spot-interruption");
        ASSERT_STR(event_type_lookup("maintenance:system-reboot")->name, "maintenance");
        ASSERT_INT(event_type_lookup("fs-readonly")->severity, SEVERITY_CRITICAL);
        ASSERT_TRUE(event_type_lookup("spot") == NULL);
        ASSERT_TRUE(strlen(event_type_lookup("oom-kill")->message_id) == 32);
}

static void test_patterns(void) {
        ASSERT_TRUE(event_pattern_is_valid("maintenance"));
        ASSERT_TRUE(event_pattern_is_valid("maintenance:instance-retirement"));
        ASSERT_FALSE(event_pattern_is_valid("maintenance:"));
        ASSERT_FALSE(event_pattern_is_valid("maintenance:nap"));
        ASSERT_FALSE(event_pattern_is_valid("action-failed"));
        ASSERT_TRUE(event_pattern_is_valid("asg-warm-pool"));
        ASSERT_TRUE(event_pattern_matches("maintenance", "maintenance:instance-stop"));
        ASSERT_TRUE(event_pattern_matches("maintenance:instance-stop", "maintenance:instance-stop"));
        ASSERT_FALSE(event_pattern_matches("maintenance:instance-stop", "maintenance:system-reboot"));
        ASSERT_FALSE(event_pattern_matches("spot-interruption", "spot-interruption-x"));
}

static void test_metrics_and_severity(void) {
        ASSERT_TRUE(metric_name_is_valid("mem_used_percent"));
        ASSERT_TRUE(metric_name_is_valid("disk_inodes_total"));
        ASSERT_FALSE(metric_name_is_valid("mem_used_pct"));
        ASSERT_STR(severity_to_string(SEVERITY_WARNING), "warning");
        ASSERT_INT(severity_from_string("critical"), SEVERITY_CRITICAL);
        ASSERT_TRUE(severity_from_string("fatal") < 0);
}

/* SPEC §7, every metric name as the SPEC lists it, with the unit where the SPEC says it. */
static const struct {
        const char *name, *unit;
} spec_metrics[] = {
        { "mem_used_percent", "Percent" },
        { "mem_available_percent", "Percent" },
        { "mem_used", "Bytes" },
        { "mem_available", "Bytes" },
        { "mem_total", "Bytes" },
        { "mem_cached", "Bytes" },
        { "mem_buffered", "Bytes" },
        { "mem_free", "Bytes" },
        { "swap_used_percent", "Percent" },
        { "swap_used", "Bytes" },
        { "swap_free", "Bytes" },
        { "disk_used_percent", "Percent" },
        { "disk_used", "Bytes" },
        { "disk_free", "Bytes" },
        { "disk_total", "Bytes" },
        { "disk_inodes_used", "Count" },
        { "disk_inodes_free", "Count" },
        { "disk_inodes_total", "Count" },
        { "cpu_usage_active", "Percent" },
        { "oom_kills", "Count" },
        { "kernel_problems", "Count" },
        { "mem_pressure_some_avg10", "Percent" },
        { "diskio_ebs_total_read_ops", NULL },
        { "diskio_ebs_total_write_ops", NULL },
        { "diskio_ebs_total_read_bytes", NULL },
        { "diskio_ebs_total_write_bytes", NULL },
        { "diskio_ebs_total_read_time", "Microseconds" },
        { "diskio_ebs_total_write_time", "Microseconds" },
        { "diskio_ebs_volume_performance_exceeded_iops", "Microseconds" },
        { "diskio_ebs_volume_performance_exceeded_tp", "Microseconds" },
        { "diskio_ebs_ec2_instance_performance_exceeded_iops", "Microseconds" },
        { "diskio_ebs_ec2_instance_performance_exceeded_tp", "Microseconds" },
        { "diskio_ebs_volume_queue_length", NULL },
        { "ethtool_bw_in_allowance_exceeded", NULL },
        { "ethtool_bw_out_allowance_exceeded", NULL },
        { "ethtool_pps_allowance_exceeded", NULL },
        { "ethtool_conntrack_allowance_exceeded", NULL },
        { "ethtool_linklocal_allowance_exceeded", NULL },
        { "ethtool_conntrack_allowance_available", NULL },
};

static const MetricInfo *find_metric(const char *name) {
        for (MetricId i = 0; i < _METRIC_MAX; i++)
                if (strcmp(metric_info(i)->name, name) == 0)
                        return metric_info(i);
        return NULL;
}

static void test_every_spec_metric(void) {
        for (size_t i = 0; i < sizeof spec_metrics / sizeof spec_metrics[0]; i++) {
                const MetricInfo *m = find_metric(spec_metrics[i].name);
                if (!m)
                        TAP_FAIL("SPEC §7 metric %s is not in the catalog", spec_metrics[i].name);
                ASSERT_TRUE(m->unit != NULL);
                if (spec_metrics[i].unit)
                        ASSERT_STR(m->unit, spec_metrics[i].unit);
                /* what the agent collects is found by name; what is only planned is not */
                ASSERT_TRUE(metric_name_is_valid(m->name) == !m->planned);
        }
        /* and nothing else: the catalog names no metric the SPEC does not */
        ASSERT_INT(_METRIC_MAX, sizeof spec_metrics / sizeof spec_metrics[0]);
        for (MetricId i = 0; i < _METRIC_MAX; i++)
                ASSERT_STR(metric_name(i), metric_info(i)->name);
        ASSERT_STR(metric_name(_METRIC_MAX), "");
}

/* SPEC §4: the default metrics.measurements, exactly; every default is something collected. */
static void test_default_measurements(void) {
        uint64_t want = METRIC_BIT(METRIC_MEM_USED_PERCENT) | METRIC_BIT(METRIC_SWAP_USED_PERCENT) |
                        METRIC_BIT(METRIC_DISK_USED_PERCENT) | METRIC_BIT(METRIC_OOM_KILLS) |
                        METRIC_BIT(METRIC_KERNEL_PROBLEMS);
        ASSERT_TRUE(metric_default_set() == want);
        for (MetricId i = 0; i < _METRIC_MAX; i++)
                if (metric_info(i)->published_by_default)
                        ASSERT_FALSE(metric_info(i)->planned);
        ASSERT_INT(metric_from_string("swap_used_percent"), METRIC_SWAP_USED_PERCENT);
        ASSERT_INT(metric_from_string("swap_used_pct"), -ENOENT);
        ASSERT_INT(metric_from_string("diskio_ebs_total_read_ops"), METRIC_DISKIO_EBS_TOTAL_READ_OPS);
        ASSERT_FALSE(metric_default_set() & METRIC_BIT(METRIC_DISKIO_EBS_TOTAL_READ_OPS)); /* opt-in */
}

/* SPEC §6, every event type as the SPEC's table lists it. */
static const char *const spec_event_types[] = {
        "spot-interruption",
        "rebalance-recommendation",
        "asg-terminate",
        "asg-warm-pool",
        "maintenance:instance-reboot",
        "maintenance:system-reboot",
        "maintenance:system-maintenance",
        "maintenance:instance-retirement",
        "maintenance:instance-stop",
        "oom-kill",
        "fs-error",
        "fs-readonly",
        "io-error",
        "hung-task",
        "soft-lockup",
        "rcu-stall",
        "kernel-oops",
        "kernel-warning",
        "segfault",
        "net-error",
        "previous-boot-crash",
        "ebs-performance-exceeded",
        "network-allowance-exceeded",
        "rule-fired",
        "action-done",
        "action-failed",
};

static const EventTypeInfo *find_type(const char *type) {
        const char *name = strncmp(type, "maintenance:", 12) == 0 ? "maintenance" : type;
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++)
                if (strcmp(event_type_info(i)->name, name) == 0)
                        return event_type_info(i);
        return NULL;
}

static void test_every_spec_event_type(void) {
        for (size_t i = 0; i < sizeof spec_event_types / sizeof spec_event_types[0]; i++) {
                const EventTypeInfo *t = find_type(spec_event_types[i]);
                if (!t)
                        TAP_FAIL("SPEC §6 event type %s is not in the catalog", spec_event_types[i]);
                ASSERT_TRUE(event_type_lookup(spec_event_types[i]) == (t->planned ? NULL : t));
                if (strncmp(spec_event_types[i], "maintenance:", 12) == 0)
                        ASSERT_TRUE(event_pattern_is_valid(spec_event_types[i]));
        }
        /* the ids are the rows: event_type_from_string() gives back the id of each */
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++)
                if (!event_type_info(i)->planned)
                        ASSERT_INT(event_type_from_string(event_type_info(i)->name), (int) i);
        ASSERT_TRUE(event_type_info(_EVENT_TYPE_MAX) == NULL);
        /* the Nitro events are made now (nitro.c), and rules may wait on them */
        ASSERT_INT(event_type_from_string("ebs-performance-exceeded"), EVENT_TYPE_EBS_PERFORMANCE_EXCEEDED);
        ASSERT_INT(event_type_from_string("network-allowance-exceeded"),
                   EVENT_TYPE_NETWORK_ALLOWANCE_EXCEEDED);
        ASSERT_TRUE(event_pattern_is_valid("ebs-performance-exceeded"));
        ASSERT_TRUE(event_pattern_is_valid("network-allowance-exceeded"));
}

/* SPEC §7's EBS and ENA names exactly (CloudWatch publishes them as they are, the Prometheus textfile
 * as ec2agent_NAME): collected, and not in the default set (metrics.measurements selects them). */
static void test_nitro_metrics_are_opt_in(void) {
        static const char *const nitro[] = {
                "diskio_ebs_total_read_ops",
                "diskio_ebs_total_write_ops",
                "diskio_ebs_total_read_bytes",
                "diskio_ebs_total_write_bytes",
                "diskio_ebs_total_read_time",
                "diskio_ebs_total_write_time",
                "diskio_ebs_volume_performance_exceeded_iops",
                "diskio_ebs_volume_performance_exceeded_tp",
                "diskio_ebs_ec2_instance_performance_exceeded_iops",
                "diskio_ebs_ec2_instance_performance_exceeded_tp",
                "diskio_ebs_volume_queue_length",
                "ethtool_bw_in_allowance_exceeded",
                "ethtool_bw_out_allowance_exceeded",
                "ethtool_pps_allowance_exceeded",
                "ethtool_conntrack_allowance_exceeded",
                "ethtool_linklocal_allowance_exceeded",
                "ethtool_conntrack_allowance_available",
        };
        for (size_t i = 0; i < sizeof nitro / sizeof nitro[0]; i++) {
                const MetricInfo *m = metric_lookup(nitro[i]);
                if (!m)
                        TAP_FAIL("%s is not collected", nitro[i]);
                ASSERT_FALSE(m->published_by_default);
        }
        ASSERT_STR(metric_name(METRIC_DISKIO_EBS_TOTAL_READ_OPS), "diskio_ebs_total_read_ops");
        ASSERT_STR(metric_name(METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_AVAILABLE),
                   "ethtool_conntrack_allowance_available");
        ASSERT_TRUE(metric_lookup("mem_used_percent")->published_by_default);
}

/* Every type made today has a MESSAGE_ID that units/ec2agent.catalog explains (journalctl -x). */
static void test_message_ids_in_journal_catalog(void) {
        _cleanup_free_ char *text = NULL;
        size_t len;

        ASSERT_INT(read_file_bounded(FIXTURES "/../../units/ec2agent.catalog", 1 << 20, &text, &len), 0);
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++) {
                const EventTypeInfo *t = event_type_info(i);
                char line[64];
                if (t->planned)
                        continue;
                ASSERT_TRUE(t->message_id && strlen(t->message_id) == 32);
                snprintf(line, sizeof line, "\n-- %s\n", t->message_id);
                if (!strstr(text, line))
                        TAP_FAIL("MESSAGE_ID %s of %s is not in units/ec2agent.catalog", t->message_id,
                                 t->name);
        }
}

/* The kernel log's classes are the catalog's kernel event types; the kernel problems are those
 * classes but the OOM kill (a metric of its own). */
static void test_kmsg_classes_are_catalog_types(void) {
        size_t problems = 0;
        for (KmsgClass c = 1; c < _KMSG_CLASS_MAX; c++) {
                const char *name = kmsg_class_to_string(c);
                if (c == KMSG_OOM_CONTEXT) {
                        ASSERT_TRUE(name == NULL);
                        continue;
                }
                const EventTypeInfo *t = event_type_lookup(name);
                ASSERT_TRUE(t != NULL);
                ASSERT_TRUE(t->kernel_problem == (c != KMSG_OOM_KILL));
        }
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++)
                problems += event_type_info(i)->kernel_problem;
        ASSERT_INT(problems, _KMSG_CLASS_MAX - 3); /* not NONE, OOM_KILL, OOM_CONTEXT */
        ASSERT_TRUE(kmsg_class_to_string(KMSG_NONE) == NULL);
}

/* SPEC §5: "after an OOM kill, a filesystem or I/O error, a hung task, a lockup or an oops in the
 * last hour" is a warning; the OOM kill is judged from status.kernel.last_oom, the rest are these
 * rows. */
static void test_health_warning_types(void) {
        static const char *const spec_health[] = { "fs-error",    "io-error",  "hung-task",
                                                   "soft-lockup", "rcu-stall", "kernel-oops" };
        size_t n = 0;
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++) {
                const EventTypeInfo *t = event_type_info(i);
                bool listed = false;
                for (size_t k = 0; k < sizeof spec_health / sizeof spec_health[0]; k++)
                        listed = listed || strcmp(t->name, spec_health[k]) == 0;
                if (t->health_warning != listed)
                        TAP_FAIL("%s: health_warning is %d, SPEC §5 says %d", t->name, t->health_warning,
                                 listed);
                ASSERT_TRUE(!t->health_warning || t->kernel_problem);
                n += listed;
        }
        ASSERT_INT(n, sizeof spec_health / sizeof spec_health[0]);
}

/* The text of SPEC from the line starting with FROM up to the next "\n## ": NULL when absent. */
static char *spec_section(const char *spec, const char *from) {
        const char *p = strstr(spec, from), *end;
        if (!p)
                return NULL;
        end = strstr(p + 1, "\n## ");
        return strndup(p, end ? (size_t) (end - p) : strlen(p));
}

/* Calls FOUND for each `token` in [P, END) (backticks excluded), up to 127 bytes each. */
static void each_token(const char *p, const char *end, void (*found)(const char *tok, void *u), void *u) {
        while (p < end) {
                const char *open = memchr(p, '`', (size_t) (end - p)), *close;
                if (!open || !(close = memchr(open + 1, '`', (size_t) (end - open - 1))))
                        return;
                char tok[128];
                size_t n = (size_t) (close - open - 1);
                if (n < sizeof tok) {
                        memcpy(tok, open + 1, n);
                        tok[n] = 0;
                        found(tok, u);
                }
                p = close + 1;
        }
}

typedef struct SpecSeen {
        size_t n;
        bool table[64]; /* which entries of the test's table the SPEC names */
} SpecSeen;

static void spec_event_type(const char *tok, void *u) {
        SpecSeen *s = u;
        bool listed = false;
        for (size_t i = 0; i < sizeof spec_event_types / sizeof spec_event_types[0]; i++) {
                bool same = strcmp(tok, "maintenance:CODE") == 0
                                    ? strncmp(spec_event_types[i], "maintenance:", 12) == 0
                                    : strcmp(tok, spec_event_types[i]) == 0;
                if (same)
                        s->table[i] = listed = true;
        }
        if (!listed)
                TAP_FAIL("SPEC §6 names event type %s, which the test's table does not", tok);
        if (!find_type(tok))
                TAP_FAIL("SPEC §6 event type %s is not in the catalog", tok);
        s->n++;
}

static void spec_metric(const char *tok, void *u) {
        static const char *const prefixes[] = { "mem_", "swap_",   "disk_",   "cpu_",
                                                "oom_", "kernel_", "diskio_", "ethtool_" };
        SpecSeen *s = u;
        bool metric = false, listed = false;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
                metric = metric || strncmp(tok, prefixes[i], strlen(prefixes[i])) == 0;
        if (!metric || strspn(tok, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(tok))
                return; /* a dimension, a key, a status field */
        for (size_t i = 0; i < sizeof spec_metrics / sizeof spec_metrics[0]; i++)
                if (strcmp(tok, spec_metrics[i].name) == 0)
                        s->table[i] = listed = true;
        if (!listed)
                TAP_FAIL("SPEC §7 names metric %s, which the test's table does not", tok);
        if (!find_metric(tok))
                TAP_FAIL("SPEC §7 metric %s is not in the catalog", tok);
        s->n++;
}

/* With EC2AGENT_SPEC naming SPEC.md, the tables above are checked against it both ways: every
 * event type of §6's table (first column) and every metric of §7 is in the table and the catalog,
 * and every entry of the tables is in the SPEC. Without it, the tables stand for the SPEC. */
static void test_spec_file(void) {
        const char *path = getenv("EC2AGENT_SPEC");
        _cleanup_free_ char *spec = NULL, *events = NULL, *metrics = NULL;
        SpecSeen ev = {}, me = {};
        size_t len;

        if (!path || !*path) {
                printf("# EC2AGENT_SPEC not set: the tables in this file stand for SPEC §6 and §7\n");
                return;
        }
        ASSERT_INT(read_file_bounded(path, 1 << 22, &spec, &len), 0);
        events = spec_section(spec, "## 6. Events");
        metrics = spec_section(spec, "## 7. Metrics");
        ASSERT_TRUE(events && metrics);
        for (const char *line = events; (line = strstr(line, "\n| `")); line++) {
                const char *cell = line + 3, *bar = strstr(cell, " | "), *eol = strchr(cell, '\n');
                if (bar && (!eol || bar < eol))
                        each_token(cell, bar, spec_event_type, &ev);
                for (size_t i = 0; bar && eol && i < sizeof spec_event_types / sizeof spec_event_types[0];
                     i++)
                        if (strncmp(spec_event_types[i], "maintenance:", 12) == 0 && ev.table[i] &&
                            !memmem(bar, (size_t) (eol - bar), spec_event_types[i] + 12,
                                    strlen(spec_event_types[i] + 12)))
                                ev.table[i] = strncmp(cell, "`maintenance:CODE`", 18) != 0;
        }
        each_token(metrics, metrics + strlen(metrics), spec_metric, &me);
        for (size_t i = 0; i < sizeof spec_event_types / sizeof spec_event_types[0]; i++)
                if (!ev.table[i])
                        TAP_FAIL("the test's event type %s is not in SPEC §6", spec_event_types[i]);
        for (size_t i = 0; i < sizeof spec_metrics / sizeof spec_metrics[0]; i++)
                if (!me.table[i])
                        TAP_FAIL("the test's metric %s is not in SPEC §7", spec_metrics[i].name);
        printf("# SPEC %s: %zu event type names, %zu metric names checked\n", path, ev.n, me.n);
}

TAP_MAIN(T(test_lookup), T(test_patterns), T(test_metrics_and_severity), T(test_every_spec_metric),
         T(test_default_measurements), T(test_every_spec_event_type), T(test_message_ids_in_journal_catalog),
         T(test_kmsg_classes_are_catalog_types), T(test_health_warning_types), T(test_spec_file),
         T(test_nitro_metrics_are_opt_in))
