/* test-catalog.c — event type lookup, rule patterns, metric names. */
#include "ec2agent/catalog.h"
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

TAP_MAIN(T(test_lookup), T(test_patterns), T(test_metrics_and_severity))
