/* test-publish-rollup.c — metrics.aggregation_dimensions as the CloudWatch agent rolls a datum up
 * (its outputs/cloudwatch ProcessRollup): only the set's dimensions, a set the instance or the datum
 * lacks left out, the datum itself not sent twice. */
#include <string.h>

#include "ec2agent/json.h"
#include "ec2agent/publish.h"
#include "tap.h"

/* every dimension the instance and a disk datum have, and what metrics.dimensions ["InstanceId"] publishes
 */
#define ALL                                                                                                \
        "[[\"InstanceId\",\"i-0abc\"],[\"InstanceType\",\"m7g.large\"],[\"ImageId\",\"ami-1\"],[\"path\"," \
        "\"/\"],"                                                                                          \
        "[\"device\",\"/dev/nvme0n1p1\"],[\"fstype\",\"ext4\"]]"
#define PUBLISHED                                                           \
        "[[\"InstanceId\",\"i-0abc\"],[\"path\",\"/\"],[\"device\",\"/dev/" \
        "nvme0n1p1\"],[\"fstype\",\"ext4\"]]"

/* The rollup of ALL/PUBLISHED by SET, printed; "-" when left out. Caller frees. */
static char *rollup(const char *all, const char *published, unsigned set) {
        _cleanup_json_ cJSON *a = cJSON_Parse(all), *p = cJSON_Parse(published), *out = NULL;
        int r = publish_rollup_dims(a, p, set, &out);
        if (r < 0)
                return NULL;
        if (r == 0)
                return out ? strdup("(set but 0)") : strdup("-");
        return cJSON_PrintUnformatted(out);
}

static void test_keeps_only_the_set(void) {
        _cleanup_free_ char *s = rollup(ALL, PUBLISHED, DIMENSION_INSTANCE_TYPE);
        ASSERT_STR(
                s,
                "[[\"InstanceType\",\"m7g.large\"]]"); /* not in metrics.dimensions: the instance has it */
}

static void test_keeps_the_canonical_order(void) {
        _cleanup_free_ char *s = rollup(ALL, PUBLISHED, DIMENSION_PATH | DIMENSION_INSTANCE_TYPE);
        ASSERT_STR(s, "[[\"InstanceType\",\"m7g.large\"],[\"path\",\"/\"]]");
}

static void test_empty_set_is_one_fleet_series(void) {
        _cleanup_free_ char *s = rollup(ALL, PUBLISHED, 0);
        ASSERT_STR(s, "[]");
}

static void test_missing_dimension_leaves_the_set_out(void) {
        /* no Auto Scaling group: not sent without the group, not sent at all */
        _cleanup_free_ char *a = rollup(ALL, PUBLISHED, DIMENSION_ASG_NAME),
                            *b = rollup(ALL, PUBLISHED, DIMENSION_ASG_NAME | DIMENSION_INSTANCE_TYPE),
                            /* a memory datum has no path */
                                    *c = rollup("[[\"InstanceId\",\"i-0abc\"]]",
                                                "[[\"InstanceId\",\"i-0abc\"]]", DIMENSION_PATH);
        ASSERT_STR(a, "-");
        ASSERT_STR(b, "-");
        ASSERT_STR(c, "-");
}

static void test_the_datum_itself_is_not_sent_twice(void) {
        _cleanup_free_ char *a = rollup(ALL, PUBLISHED,
                                        DIMENSION_INSTANCE_ID | DIMENSION_PATH | DIMENSION_DEVICE |
                                                DIMENSION_FSTYPE),
                            *b = rollup("[[\"InstanceId\",\"i-0abc\"]]", "[]",
                                        0); /* dimensions [] and set [] */
        ASSERT_STR(a, "-");
        ASSERT_STR(b, "-");
}

static void test_kernel_problems_class(void) {
        _cleanup_free_ char *s =
                rollup("[[\"InstanceId\",\"i-0abc\"],[\"class\",\"fs-error\"]]",
                       "[[\"InstanceId\",\"i-0abc\"],[\"class\",\"fs-error\"]]", DIMENSION_CLASS);
        ASSERT_STR(s, "[[\"class\",\"fs-error\"]]");
}

TAP_MAIN(T(test_keeps_only_the_set), T(test_keeps_the_canonical_order),
         T(test_empty_set_is_one_fleet_series), T(test_missing_dimension_leaves_the_set_out),
         T(test_the_datum_itself_is_not_sent_twice), T(test_kernel_problems_class))
