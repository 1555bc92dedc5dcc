/* test-config.c — defaults, every validation error, drop-in merging. */
#include <sys/stat.h>

#include "ec2agent/config.h"
#include "tap.h"

/* Loads TEXT and returns its errors joined by '\n' ("" when valid). Caller frees. */
static char *errors_of(const char *text, Config **ret) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;
        Buf b;

        if (config_load_string("t.json", text, &c, &errors) < 0)
                abort();
        buf_init(&b, 1 << 20);
        (void) buf_append(&b, "", 0);
        for (char **e = errors; e && *e; e++)
                (void) buf_appendf(&b, "%s%s", e == errors ? "" : "\n", *e);
        if (ret)
                *ret = c;
        else
                config_free(c);
        return b.data;
}

static void test_defaults(void) {
        Config *c;
        _cleanup_free_ char *e = errors_of("{}", &c);
        ASSERT_STR(e, "");
        ASSERT_TRUE(c->imds_enabled);
        ASSERT_FALSE(c->imds_endpoint_ipv6);
        ASSERT_INT(c->imds_poll_interval_s, 1);
        ASSERT_INT(c->imds_scheduled_events_interval_s, 60);
        ASSERT_INT(c->imds_timeout_ms, 1000);
        ASSERT_TRUE(c->metrics_enabled);
        ASSERT_STR(c->metrics_namespace, "CWAgent");
        ASSERT_INT(c->metrics_collection_interval_s, 10);
        ASSERT_INT(c->metrics_publish_interval_s, 60);
        ASSERT_FALSE(c->metrics_high_resolution);
        ASSERT_INT(c->metrics_dimensions, DIMENSION_INSTANCE_ID);
        ASSERT_STR(c->metrics_filesystems[0], "/");
        ASSERT_TRUE(c->metrics_filesystems[1] == NULL);
        ASSERT_TRUE(c->metrics_measurements == metric_default_set());
        ASSERT_INT(c->n_metrics_aggregation_dimensions, 0);
        ASSERT_TRUE(c->metrics_prometheus_textfile == NULL);
        ASSERT_TRUE(c->kmsg_enabled);
        ASSERT_STR(c->kmsg_path, "/dev/kmsg");
        ASSERT_STR(c->kernel_pstore_path, "/sys/fs/pstore");
        ASSERT_TRUE(c->aws_region == NULL && c->imds_endpoint == NULL && c->endpoint_cloudwatch == NULL);
        ASSERT_INT(c->n_rules, 0);
        config_free(c);
}

static void test_full_document(void) {
        Config *c;
        _cleanup_free_ char *e = errors_of(
                "{ \"aws\": { \"region\": \"eu-west-1\", \"endpoints\": { \"cloudwatch\": "
                "\"http://127.0.0.1:1\", \"ec2\": \"http://127.0.0.1:7\" } },"
                "  \"imds\": { \"enabled\": false, \"endpoint\": \"http://127.0.0.1:2\", "
                "\"poll_interval_s\": 2, \"endpoint_mode\": \"ipv6\","
                "             \"scheduled_events_interval_s\": 30, \"timeout_ms\": 500 },"
                "  \"metrics\": { \"enabled\": true, \"namespace\": \"Fleet\", \"collection_interval_s\": 5,"
                "                \"publish_interval_s\": 30, \"high_resolution\": true,"
                "                \"dimensions\": [\"InstanceId\", \"AutoScalingGroupName\"], "
                "\"filesystems\": [\"*\"] },"
                "  \"kmsg\": { \"enabled\": false, \"path\": \"/tmp/kmsg\" },"
                "  \"kernel\": { \"pstore_path\": \"/tmp/pstore\" },"
                "  \"rules\": [] }",
                &c);
        ASSERT_STR(e, "");
        ASSERT_STR(c->aws_region, "eu-west-1");
        ASSERT_STR(c->endpoint_cloudwatch, "http://127.0.0.1:1");
        ASSERT_STR(c->endpoint_ec2, "http://127.0.0.1:7");
        ASSERT_FALSE(c->imds_enabled);
        ASSERT_STR(c->imds_endpoint, "http://127.0.0.1:2");
        ASSERT_TRUE(c->imds_endpoint_ipv6);
        ASSERT_INT(c->imds_poll_interval_s, 2);
        ASSERT_INT(c->imds_timeout_ms, 500);
        ASSERT_STR(c->metrics_namespace, "Fleet");
        ASSERT_TRUE(c->metrics_high_resolution);
        ASSERT_INT(c->metrics_dimensions, DIMENSION_INSTANCE_ID | DIMENSION_ASG_NAME);
        ASSERT_STR(c->metrics_filesystems[0], "*");
        ASSERT_STR(c->kmsg_path, "/tmp/kmsg");
        ASSERT_STR(c->kernel_pstore_path, "/tmp/pstore");
        config_free(c);
}

static void test_rules(void) {
        Config *c;
        _cleanup_free_ char *e = errors_of(
                "{ \"rules\": ["
                "  { \"name\": \"drain-before-termination\","
                "    \"on\": [\"spot-interruption\", \"asg-terminate\", \"maintenance:instance-retirement\","
                "            \"maintenance:instance-stop\"],"
                "    \"before_s\": 300,"
                "    \"do\": ["
                "      { \"stop\": [\"nginx.service\", \"app.service\"], \"timeout_s\": 90 },"
                "      { \"exec\": [\"/usr/local/bin/deregister\", \"--now\"], \"timeout_s\": 20,"
                "        \"on_failure\": \"abort\" },"
                "      { \"complete_lifecycle_action\": { \"hook\": \"drain\" } } ] },"
                "  { \"name\": \"memory-runaway\","
                "    \"when\": { \"metric\": \"mem_used_percent\", \"above\": 95, \"for_s\": 300 },"
                "    \"do\": [ { \"restart\": [\"app.service\"] },"
                "            { \"notify\": { \"sns_topic_arn\": \"arn:aws:sns:eu-west-1:123456789012:ops\" "
                "} },"
                "            { \"notify\": { \"webhook\": \"https://hooks.example.com/x\" } },"
                "            { \"reboot\": { \"max_per_day\": 2 } } ],"
                "    \"cooldown_s\": 900 } ] }",
                &c);
        ASSERT_STR(e, "");
        ASSERT_INT(c->n_rules, 2);
        Rule *r = &c->rules[0];
        ASSERT_STR(r->name, "drain-before-termination");
        ASSERT_INT(strv_length(r->on), 4);
        ASSERT_TRUE(r->has_before);
        ASSERT_INT(r->before_s, 300);
        ASSERT_INT(r->n_steps, 3);
        ASSERT_INT(r->steps[0].kind, STEP_STOP);
        ASSERT_STR(r->steps[0].argv[1], "app.service");
        ASSERT_INT(r->steps[0].timeout_s, 90);
        ASSERT_FALSE(r->steps[0].abort_on_failure);
        ASSERT_INT(r->steps[1].kind, STEP_EXEC);
        ASSERT_TRUE(r->steps[1].abort_on_failure);
        ASSERT_INT(r->steps[2].kind, STEP_LIFECYCLE);
        ASSERT_STR(r->steps[2].hook, "drain");
        ASSERT_TRUE(r->steps[2].group == NULL);
        ASSERT_STR(r->steps[2].result, "CONTINUE");
        ASSERT_INT(r->steps[2].heartbeat_s, 300);
        ASSERT_INT(r->steps[2].timeout_s, 60);
        r = &c->rules[1];
        ASSERT_TRUE(r->on == NULL);
        ASSERT_STR(r->metric, "mem_used_percent");
        ASSERT_TRUE(r->above);
        ASSERT_NEAR(r->threshold, 95, 0);
        ASSERT_INT(r->for_s, 300);
        ASSERT_INT(r->cooldown_s, 900);
        ASSERT_INT(r->steps[0].kind, STEP_RESTART);
        ASSERT_INT(r->steps[1].kind, STEP_NOTIFY);
        ASSERT_STR(r->steps[1].sns_topic_arn, "arn:aws:sns:eu-west-1:123456789012:ops");
        ASSERT_STR(r->steps[2].webhook, "https://hooks.example.com/x");
        ASSERT_INT(r->steps[3].kind, STEP_REBOOT);
        ASSERT_INT(r->steps[3].max_per_day, 2);
        ASSERT_STR(step_kind_to_string(STEP_LIFECYCLE), "complete_lifecycle_action");
        config_free(c);
}

/* Each invalid document and the exact error lines it must produce. */
static const struct {
        const char *json;
        const char *errors;
} invalid[] = {
        { "[]", "t.json: $: must be an object, not an array" },
        { "{\"a\":", "t.json: $: invalid JSON near line 1, column 6" },
        { "{}\n{}", "t.json: $: invalid JSON near line 2, column 1" },
        { "{\"metrics\":{\"colection_interval_s\":5}}",
          "t.json: metrics.colection_interval_s: unknown key (did you mean \"collection_interval_s\"?)" },
        { "{\"bogus\":1}", "t.json: bogus: unknown key" },
        { "{\"imds\":{\"enabled\":1}}", "t.json: imds.enabled: must be true or false, not a number" },
        { "{\"imds\":{\"endpoint_mode\":\"IPv7\"}}",
          "t.json: imds.endpoint_mode: must be \"IPv4\" or \"IPv6\", not \"IPv7\"" },
        { "{\"imds\":{\"endpoint_mode\":6}}",
          "t.json: imds.endpoint_mode: must be \"IPv4\" or \"IPv6\", not a number" },
        { "{\"imds\":{\"poll_interval_s\":0}}",
          "t.json: imds.poll_interval_s: must be between 1 and 3600, not 0" },
        { "{\"imds\":{\"poll_interval_s\":1.5}}",
          "t.json: imds.poll_interval_s: must be an integer, not a fraction" },
        { "{\"imds\":{\"poll_interval_s\":\"1\"}}",
          "t.json: imds.poll_interval_s: must be an integer, not a string" },
        { "{\"imds\":{\"timeout_ms\":10}}",
          "t.json: imds.timeout_ms: must be between 50 and 60000, not 10" },
        { "{\"imds\":{\"endpoint\":\"169.254.169.254\"}}",
          "t.json: imds.endpoint: must be an http:// or https:// URL" },
        { "{\"imds\":{\"enabled\":true,\"enabled\":false}}", "t.json: imds.enabled: duplicate key" },
        { "{\"imds\":[]}", "t.json: imds: must be an object, not an array" },
        { "{\"aws\":{\"region\":\"EU West\"}}",
          "t.json: aws.region: must be an AWS region name such as \"eu-west-1\"" },
        { "{\"aws\":{\"endpoints\":{\"dynamodb\":\"http://x\"}}}",
          "t.json: aws.endpoints.dynamodb: unknown key" },
        { "{\"aws\":{\"endpoints\":{\"ec2\":\"x\"}}}",
          "t.json: aws.endpoints.ec2: must be an http:// or https:// URL" },
        { "{\"metrics\":{\"namespace\":\"AWS/EC2\"}}",
          "t.json: metrics.namespace: must not start with \"AWS/\" (reserved for AWS services)" },
        { "{\"metrics\":{\"dimensions\":[\"Host\"]}}", "t.json: metrics.dimensions[0]: unknown dimension "
                                                       "\"Host\" (use InstanceId, InstanceType, ImageId, "
                                                       "AutoScalingGroupName)" },
        { "{\"metrics\":{\"dimensions\":[\"InstanceId\",\"InstanceId\"]}}",
          "t.json: metrics.dimensions[1]: \"InstanceId\" is listed twice" },
        { "{\"metrics\":{\"filesystems\":[\"data\"]}}",
          "t.json: metrics.filesystems[0]: must be an absolute path" },
        { "{\"metrics\":{\"filesystems\":\"/\"}}",
          "t.json: metrics.filesystems: must be an array of strings, not a string" },
        { "{\"metrics\":{\"publish_interval_s\":5}}",
          "t.json: metrics.publish_interval_s: must not be shorter than metrics.collection_interval_s (5 < "
          "10)" },
        { "{\"kmsg\":{\"path\":\"kmsg\"}}", "t.json: kmsg.path: must be an absolute path" },
        { "{\"rules\":{}}", "t.json: rules: must be an array of rules, not an object" },
        { "{\"rules\":[{\"on\":[\"spot-interruption\"],\"do\":[{\"stop\":[\"a.service\"]}]}]}",
          "t.json: rules[0]: needs \"name\"" },
        { "{\"rules\":[{\"name\":\"r\",\"do\":[{\"stop\":[\"a.service\"]}]}]}",
          "t.json: rules[0]: needs exactly one of \"on\" (events) and \"when\" (a metric)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"spot\"],\"do\":[{\"stop\":[\"a.service\"]}]}]}",
          "t.json: rules[0].on[0]: is not an event a rule can react to (see SPEC §6; \"maintenance\" or "
          "\"maintenance:CODE\" for scheduled events)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"rule-fired\"],\"do\":[{\"stop\":[\"a.service\"]}]}]}",
          "t.json: rules[0].on[0]: is not an event a rule can react to (see SPEC §6; \"maintenance\" or "
          "\"maintenance:CODE\" for scheduled events)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance:system-nap\"],\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[0].on[0]: is not an event a rule can react to (see SPEC §6; \"maintenance\" or "
          "\"maintenance:CODE\" for scheduled events)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[],\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[0].on: must not be empty" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"]}]}",
          "t.json: rules[0]: needs \"do\" (its steps)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[]}]}",
          "t.json: rules[0].do: must not be empty" },
        { "{\"rules\":[{\"name\":\"r s\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[0].name: may contain only letters, digits, '_', '.', ':' and '-'" },
        { "{\"rules\":[{\"name\":\"r\",\"when\":{\"metric\":\"mem_used_percent\",\"above\":9},\"before_s\":"
          "5,"
          "\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[0]: \"before_s\" needs \"on\"" },
        { "{\"rules\":[{\"name\":\"r\",\"when\":{\"metric\":\"mem_used\"},\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[0].when: needs exactly one of \"above\" and \"below\"" },
        { "{\"rules\":[{\"name\":\"r\",\"when\":{\"metric\":\"memory\",\"below\":1},\"do\":[{\"reboot\":{}}]"
          "}]}",
          "t.json: rules[0].when.metric: is not a metric of SPEC §7 (such as \"mem_used_percent\")" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"stop\":[\"nginx\"]}]}]}",
          "t.json: rules[0].do[0].stop[0]: must be a systemd unit name with its type, such as "
          "\"app.service\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"stop\":[\"a.service\"],\"exec\":[\"/"
          "x\"]}]}]}",
          "t.json: rules[0].do[0]: needs exactly one of \"stop\", \"restart\", \"exec\", "
          "\"complete_lifecycle_action\", "
          "\"notify\", \"reboot\", \"reschedule\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"exec\":[\"deregister\"]}]}]}",
          "t.json: rules[0].do[0].exec[0]: must be an absolute path (no shell, no PATH search)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"exec\":[\"/"
          "x\"],\"on_failure\":\"stop\"}]}]}",
          "t.json: rules[0].do[0].on_failure: must be \"continue\" or \"abort\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"asg-terminate\"],\"do\":[{\"complete_lifecycle_action\":{}}"
          "]}]}",
          "t.json: rules[0].do[0]: complete_lifecycle_action needs \"hook\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"asg-terminate\"],\"do\":[{\"complete_lifecycle_action\":"
          "{\"hook\":\"h\",\"result\":\"continue\"}}]}]}",
          "t.json: rules[0].do[0].complete_lifecycle_action.result: must be \"CONTINUE\" or \"ABANDON\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"asg-terminate\"],\"do\":[{\"complete_lifecycle_action\":"
          "{\"hook\":\"h\",\"heartbeat_s\":10}}]}]}",
          "t.json: rules[0].do[0].complete_lifecycle_action.heartbeat_s: must be between 30 and 7200, not "
          "10" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{}}]}]}",
          "t.json: rules[0].do[0]: notify needs exactly one of \"sns_topic_arn\", \"webhook\", \"slack\", "
          "\"teams\" and \"pagerduty\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"slack\":\"https://h/x\","
          "\"teams\":\"https://t/y\"}}]}]}",
          "t.json: rules[0].do[0]: notify needs exactly one of \"sns_topic_arn\", \"webhook\", \"slack\", "
          "\"teams\" and \"pagerduty\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"slack\":\"hooks\"}}]}]}",
          "t.json: rules[0].do[0].notify.slack: must be an http:// or https:// URL" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"pagerduty\":{}}}]}]}",
          "t.json: rules[0].do[0].notify.pagerduty: needs \"routing_key\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"pagerduty\":"
          "{\"routing_key\":\"s3cr3t key\"}}}]}]}",
          "t.json: rules[0].do[0].notify.pagerduty.routing_key: must be a PagerDuty integration key "
          "(printable ASCII, no spaces)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"pagerduty\":"
          "{\"routing_key\":\"k\",\"url\":\"ftp://x\"}}}]}]}",
          "t.json: rules[0].do[0].notify.pagerduty.url: must be an http:// or https:// URL" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{}}]}]}",
          "t.json: rules[0].do[0].reschedule: needs \"window\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{\"window\":"
          "{\"days\":[\"sun\"],\"start\":\"02:00\"}}}]}]}",
          "t.json: rules[0].do[0].reschedule.window: needs \"days\", \"start\" and \"end\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{\"window\":"
          "{\"days\":[\"sun\",\"funday\"],\"start\":\"02:00\",\"end\":\"05:00\"}}}]}]}",
          "t.json: rules[0].do[0].reschedule.window.days[1]: must be a day: \"sun\", \"mon\", … \"sat\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{\"window\":"
          "{\"days\":[\"sun\"],\"start\":\"2:00\",\"end\":\"05:00\"}}}]}]}",
          "t.json: rules[0].do[0].reschedule.window.start: must be a time \"HH:MM\" (00:00 to 23:59)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{\"window\":"
          "{\"days\":[\"sun\"],\"start\":\"02:00\",\"end\":\"02:00\"}}}]}]}",
          "t.json: rules[0].do[0].reschedule.window: \"start\" and \"end\" must differ" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"maintenance\"],\"do\":[{\"reschedule\":{\"window\":"
          "{\"days\":[\"sun\"],\"start\":\"02:00\",\"end\":\"05:00\",\"utc_offset\":\"+15:00\"}}}]}]}",
          "t.json: rules[0].do[0].reschedule.window.utc_offset: must be a UTC offset \"+HH:MM\" or "
          "\"-HH:MM\" "
          "(at most 14:00)" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"notify\":{\"sns_topic_arn\":\"ops\"}"
          "}]}]}",
          "t.json: rules[0].do[0].notify.sns_topic_arn: must be an SNS topic ARN such as "
          "\"arn:aws:sns:eu-west-1:123456789012:ops\"" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{\"max_per_day\":0}}]}]}",
          "t.json: rules[0].do[0].reboot.max_per_day: must be between 1 and 100, not 0" },
        { "{\"rules\":[{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]},"
          "{\"name\":\"r\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]}]}",
          "t.json: rules[1]: a rule named \"r\" exists already" },
        /* metrics.measurements, aggregation_dimensions, prometheus_textfile (issue 18) */
        { "{\"metrics\":{\"measurements\":[\"mem_used_percent\",\"swap_used_pct\"]}}",
          "t.json: metrics.measurements[1]: unknown metric \"swap_used_pct\" (did you mean "
          "\"swap_used_percent\"?)" },
        { "{\"metrics\":{\"measurements\":[\"load_average\"]}}",
          "t.json: metrics.measurements[0]: unknown metric \"load_average\" (see SPEC §7, or \"*\" for "
          "all)" },
        { "{\"metrics\":{\"measurements\":[\"oom_kills\",\"oom_kills\"]}}",
          "t.json: metrics.measurements[1]: \"oom_kills\" is listed twice" },
        { "{\"metrics\":{\"measurements\":\"*\"}}",
          "t.json: metrics.measurements: must be an array of strings, not a string" },
        { "{\"metrics\":{\"aggregation_dimensions\":[\"InstanceType\"]}}",
          "t.json: metrics.aggregation_dimensions[0]: must be an array of strings, not a string" },
        { "{\"metrics\":{\"aggregation_dimensions\":[[\"AutoScalingGroup\"]]}}",
          "t.json: metrics.aggregation_dimensions[0][0]: unknown dimension \"AutoScalingGroup\" (did you "
          "mean "
          "\"AutoScalingGroupName\"?)" },
        { "{\"metrics\":{\"aggregation_dimensions\":[[\"Region\"]]}}",
          "t.json: metrics.aggregation_dimensions[0][0]: unknown dimension \"Region\" (use InstanceId, "
          "InstanceType, "
          "ImageId, AutoScalingGroupName, path, device, fstype, class, VolumeId, interface)" },
        { "{\"metrics\":{\"aggregation_dimensions\":[[\"InstanceType\",\"ImageId\"],[\"ImageId\","
          "\"InstanceType\"]]}}",
          "t.json: metrics.aggregation_dimensions[1]: the same set is listed twice" },
        { "{\"metrics\":{\"aggregation_dimensions\":[[],[\"InstanceId\"],[\"InstanceType\"],[\"ImageId\"],["
          "\"path\"],"
          "[\"device\"],[\"fstype\"],[\"class\"],[\"AutoScalingGroupName\"]]}}",
          "t.json: metrics.aggregation_dimensions: must not list more than 8 sets (each one is paid for)" },
        { "{\"metrics\":{\"aggregation_dimensions\":{}}}",
          "t.json: metrics.aggregation_dimensions: must be an array of arrays of dimension names, not an "
          "object" },
        { "{\"metrics\":{\"prometheus_textfile\":\"ec2agent.prom\"}}",
          "t.json: metrics.prometheus_textfile: must be an absolute path" },
        { "{\"metrics\":{\"prometheus_textfile\":\"/var/lib/prometheus/node-exporter/ec2agent.txt\"}}",
          "t.json: metrics.prometheus_textfile: must name a file ending in \".prom\" (node_exporter's "
          "textfile "
          "collector reads only those)" },
};

static void test_metrics_keys(void) {
        Config *c;
        _cleanup_free_ char *e = errors_of(
                "{\"metrics\":{\"measurements\":[\"cpu_usage_active\",\"disk_free\"],"
                "\"aggregation_dimensions\":[[\"AutoScalingGroupName\"],[\"InstanceType\",\"path\"],[]],"
                "\"prometheus_textfile\":\"/var/lib/prometheus/node-exporter/ec2agent.prom\"}}",
                &c);
        ASSERT_STR(e, "");
        ASSERT_TRUE(c->metrics_measurements ==
                    (METRIC_BIT(METRIC_CPU_USAGE_ACTIVE) | METRIC_BIT(METRIC_DISK_FREE)));
        ASSERT_INT(c->n_metrics_aggregation_dimensions, 3);
        ASSERT_INT(c->metrics_aggregation_dimensions[0], DIMENSION_ASG_NAME);
        ASSERT_INT(c->metrics_aggregation_dimensions[1], DIMENSION_INSTANCE_TYPE | DIMENSION_PATH);
        ASSERT_INT(c->metrics_aggregation_dimensions[2], 0);
        ASSERT_STR(c->metrics_prometheus_textfile, "/var/lib/prometheus/node-exporter/ec2agent.prom");
        config_free(c);

        /* "*" is every metric; [] none (Prometheus only); null turns the textfile off again */
        free(e);
        e = errors_of("{\"metrics\":{\"measurements\":[\"*\"],\"prometheus_textfile\":null}}", &c);
        ASSERT_STR(e, "");
        for (MetricId i = 0; i < _METRIC_MAX; i++)
                ASSERT_TRUE(c->metrics_measurements & METRIC_BIT(i));
        ASSERT_TRUE(c->metrics_prometheus_textfile == NULL);
        config_free(c);
        free(e);
        e = errors_of("{\"metrics\":{\"measurements\":[]}}", &c);
        ASSERT_STR(e, "");
        ASSERT_TRUE(c->metrics_measurements == 0);
        config_free(c);
}

static void test_invalid(void) {
        for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
                _cleanup_free_ char *e = errors_of(invalid[i].json, NULL);
                for (char *p = e; (p = strchr(p, '\n'));)
                        *p = '|'; /* keep TAP output one line per message */
                if (strcmp(e, invalid[i].errors) != 0)
                        TAP_FAIL("for %s\n#  got:      %s\n#  expected: %s", invalid[i].json, e,
                                 invalid[i].errors);
        }
}

static void test_several_errors(void) {
        _cleanup_free_ char *e = errors_of("{\"imds\":{\"enabled\":1,\"timeout_ms\":1},\"x\":2}", NULL);
        ASSERT_STR(e, "t.json: imds.enabled: must be true or false, not a number\n"
                      "t.json: imds.timeout_ms: must be between 50 and 60000, not 1\n"
                      "t.json: x: unknown key");
}

/* check-config prints each error on a terminal: keys and values quoted from the file are escaped. */
static void test_errors_escape_control_characters(void) {
        _cleanup_free_ char *e =
                errors_of("{\"x\\u001b]0;t\\u0007\": 1, \"imds\": {\"ti\\rmeout_ms\": 1}}", NULL);
        ASSERT_TRUE(strchr(e, '\033') == NULL && strchr(e, '\007') == NULL && strchr(e, '\r') == NULL);
        ASSERT_TRUE(strstr(e, "t.json: x\\x1b]0;t\\x07: unknown key") != NULL);
        ASSERT_TRUE(strstr(e, "t.json: imds.ti\\x0dmeout_ms: unknown key") != NULL);
}

static void write_text(const char *dir, const char *name, const char *text) {
        ASSERT_INT(write_file_atomic(dir, name, text, strlen(text), 0644), 0);
}

static void test_dropins(void) {
        char dir[] = "/tmp/ec2agent-config-XXXXXX";
        _cleanup_free_ char *dropins = NULL, *main_path = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_TRUE((dropins = path_join(dir, "config.d")) && (main_path = path_join(dir, "config.json")));
        ASSERT_INT(mkdir(dropins, 0755), 0);
        write_text(dir, "config.json",
                   "{\"imds\":{\"poll_interval_s\":5,\"timeout_ms\":700},\"rules\":[{\"name\":\"a\","
                   "\"on\":[\"spot-interruption\"],\"do\":[{\"stop\":[\"a.service\"]}]}]}");
        write_text(dropins, "20-later.json",
                   "{\"imds\":{\"poll_interval_s\":3},\"rules\":[{\"name\":\"c\","
                   "\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]}]}");
        write_text(dropins, "10-first.json",
                   "{\"imds\":{\"poll_interval_s\":2},\"rules\":[{\"name\":\"b\","
                   "\"on\":[\"maintenance\"],\"do\":[{\"reboot\":{}}]}]}");
        write_text(dropins, "README", "not json, not loaded");
        write_text(dropins, ".hidden.json", "not loaded either");

        ASSERT_INT(config_load(main_path, &c, &errors), 0);
        ASSERT_TRUE(errors == NULL);
        ASSERT_INT(c->imds_poll_interval_s, 3); /* later wins */
        ASSERT_INT(c->imds_timeout_ms, 700);    /* untouched keys stay */
        ASSERT_INT(c->n_rules, 3);              /* rules append, in file order */
        ASSERT_STR(c->rules[0].name, "a");
        ASSERT_STR(c->rules[1].name, "b");
        ASSERT_STR(c->rules[2].name, "c");
        c = config_free(c);

        /* A later file's rule of the same name replaces the earlier one, in place. */
        write_text(dropins, "30-replace.json",
                   "{\"rules\":[{\"name\":\"a\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]}]}");
        ASSERT_INT(config_load(main_path, &c, &errors), 0);
        ASSERT_TRUE(errors == NULL);
        ASSERT_INT(c->n_rules, 3);
        ASSERT_STR(c->rules[0].name, "a");
        ASSERT_STR(c->rules[0].on[0], "oom-kill");
        ASSERT_INT(c->rules[0].steps[0].kind, STEP_REBOOT);
        c = config_free(c);

        /* An error names the drop-in it is in; a name twice in one file is refused. */
        write_text(dropins, "40-bad.json",
                   "{\"rules\":[{\"name\":\"x\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]},"
                   "{\"name\":\"x\",\"on\":[\"oom-kill\"],\"do\":[{\"reboot\":{}}]}],"
                   "\"kmsg\":{\"enabled\":\"no\"}}");
        ASSERT_INT(config_load(main_path, &c, &errors), 0);
        ASSERT_INT(strv_length(errors), 2);
        ASSERT_TRUE(strstr(errors[0],
                           "/config.d/40-bad.json: rules[1]: a rule named \"x\" exists already") != NULL);
        ASSERT_TRUE(strstr(errors[1], "/config.d/40-bad.json: kmsg.enabled: must be true or false") != NULL);
        config_free(c);
        errors = strv_free(errors);

        /* An explicit path that does not exist is an error; the default missing is not. */
        ASSERT_INT(config_load("/nonexistent/ec2agent.json", &c, &errors), 0);
        ASSERT_STR(errors[0], "/nonexistent/ec2agent.json: $: cannot read: No such file or directory");
        config_free(c);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ASSERT_INT(system(cmd), 0);
}

static void test_notify_formats_and_reschedule(void) {
        Config *c;
        _cleanup_free_ char *e = errors_of(
                "{\"rules\":[{\"name\":\"maint\",\"on\":[\"maintenance\"],\"do\":["
                "{\"reschedule\":{\"window\":{\"days\":[\"sat\",\"sun\"],\"start\":\"22:00\",\"end\":\"02:"
                "00\","
                "\"utc_offset\":\"-03:30\"}}},"
                "{\"notify\":{\"slack\":\"https://hooks.slack.com/services/T/B/X\"}},"
                "{\"notify\":{\"teams\":\"https://example.webhook.office.com/w\"}},"
                "{\"notify\":{\"pagerduty\":{\"routing_key\":\"0123456789abcdef0123456789abcdef\"}}},"
                "{\"notify\":{\"pagerduty\":{\"routing_key\":\"k\",\"url\":\"http://127.0.0.1:1/v2/"
                "enqueue\"}}}"
                "]}]}",
                &c);
        ASSERT_STR(e, "");
        const Step *s = c->rules[0].steps;
        ASSERT_INT(s[0].kind, STEP_RESCHEDULE);
        ASSERT_STR(step_kind_to_string(s[0].kind), "reschedule");
        ASSERT_INT(s[0].window.days, (1 << 6) | 1);
        ASSERT_INT(s[0].window.start_min, 22 * 60);
        ASSERT_INT(s[0].window.end_min, 2 * 60);
        ASSERT_INT(s[0].window.offset_min, -210);
        ASSERT_INT(s[0].timeout_s, 60);
        ASSERT_STR(s[1].slack, "https://hooks.slack.com/services/T/B/X");
        ASSERT_STR(s[2].teams, "https://example.webhook.office.com/w");
        ASSERT_STR(s[3].pagerduty_routing_key, "0123456789abcdef0123456789abcdef");
        ASSERT_TRUE(s[3].pagerduty_url == NULL);
        ASSERT_STR(s[4].pagerduty_url, "http://127.0.0.1:1/v2/enqueue");
        ASSERT_INT(s[1].kind, STEP_NOTIFY);
        config_free(c);
}

TAP_MAIN(T(test_metrics_keys), T(test_defaults), T(test_full_document), T(test_rules), T(test_invalid),
         T(test_several_errors), T(test_errors_escape_control_characters), T(test_dropins),
         T(test_notify_formats_and_reschedule))
