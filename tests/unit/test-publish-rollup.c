/* test-publish-rollup.c — metrics.aggregation_dimensions as the CloudWatch agent rolls a datum up
 * (its outputs/cloudwatch ProcessRollup): only the set's dimensions, a set the datum lacks left out. */
#include <string.h>

#include "ec2agent/json.h"
#include "ec2agent/publish.h"
#include "tap.h"

static cJSON *parse(const char *text) {
        return cJSON_Parse(text);
}

static char *print(const cJSON *j) {
        return cJSON_PrintUnformatted(j);
}

#define DISK                                                                                             \
        "[[\"InstanceId\",\"i-0abc\"],[\"InstanceType\",\"m7g.large\"],[\"path\",\"/\"],[\"device\",\"/" \
        "dev/"                                                                                           \
        "nvme0n1p1\"],[\"fstype\",\"ext4\"]]"

static void test_keeps_only_the_set(void) {
        _cleanup_json_ cJSON *d = parse(DISK), *out = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_INT(publish_rollup_dims(d, DIMENSION_INSTANCE_TYPE, &out), 1);
        s = print(out);
        ASSERT_STR(s, "[[\"InstanceType\",\"m7g.large\"]]");
}

static void test_keeps_the_datums_order(void) {
        _cleanup_json_ cJSON *d = parse(DISK), *out = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_INT(publish_rollup_dims(d, DIMENSION_PATH | DIMENSION_INSTANCE_ID, &out), 1);
        s = print(out);
        ASSERT_STR(s, "[[\"InstanceId\",\"i-0abc\"],[\"path\",\"/\"]]");
}

static void test_empty_set_is_one_fleet_series(void) {
        _cleanup_json_ cJSON *d = parse(DISK), *out = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_INT(publish_rollup_dims(d, 0, &out), 1);
        s = print(out);
        ASSERT_STR(s, "[]");
}

static void test_missing_dimension_leaves_the_set_out(void) {
        /* no Auto Scaling group: not sent with the group missing, not sent at all */
        _cleanup_json_ cJSON *d = parse(DISK), *mem = parse("[[\"InstanceId\",\"i-0abc\"]]"), *out = NULL;

        ASSERT_INT(publish_rollup_dims(d, DIMENSION_ASG_NAME, &out), 0);
        ASSERT_TRUE(out == NULL);
        ASSERT_INT(publish_rollup_dims(d, DIMENSION_ASG_NAME | DIMENSION_INSTANCE_TYPE, &out), 0);
        ASSERT_TRUE(out == NULL);
        /* a memory datum has no path */
        ASSERT_INT(publish_rollup_dims(mem, DIMENSION_PATH, &out), 0);
        ASSERT_TRUE(out == NULL);
}

static void test_the_datum_itself_is_not_sent_twice(void) {
        _cleanup_json_ cJSON *mem = parse("[[\"InstanceId\",\"i-0abc\"]]"), *none = parse("[]"), *out = NULL;

        ASSERT_INT(publish_rollup_dims(mem, DIMENSION_INSTANCE_ID, &out), 0);
        ASSERT_INT(publish_rollup_dims(none, 0, &out), 0); /* metrics.dimensions [] and the set [] */
        ASSERT_TRUE(out == NULL);
}

static void test_kernel_problems_class(void) {
        _cleanup_json_ cJSON *d = parse("[[\"InstanceId\",\"i-0abc\"],[\"class\",\"fs-error\"]]"),
                             *out = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_INT(publish_rollup_dims(d, DIMENSION_CLASS, &out), 1);
        s = print(out);
        ASSERT_STR(s, "[[\"class\",\"fs-error\"]]");
}

TAP_MAIN(T(test_keeps_only_the_set), T(test_keeps_the_datums_order), T(test_empty_set_is_one_fleet_series),
         T(test_missing_dimension_leaves_the_set_out), T(test_the_datum_itself_is_not_sent_twice),
         T(test_kernel_problems_class))
