/* test-manager-status.c — each module's *_status(NULL, doc) writes its part's absent shape (SPEC §5). */
#include "ec2agent/engine.h"
#include "ec2agent/health.h"
#include "ec2agent/imds.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/kmsg.h"
#include "ec2agent/publish.h"
#include "ec2agent/sampler.h"
#include "tap.h"

/* The keys of SPEC §5 each part must have even when its module is off (tests/integration/test_daemon.py
 * checks the same on the running agent). */
static const struct {
        const char *object;
        const char *keys[8];
} parts[] = {
        { "instance",
          { "on_ec2", "instance_id", "instance_type", "region", "availability_zone", "ami_id",
            "asg_name" } },
        { "imds", { "enabled", "reachable", "last_ok_at", "last_error" } },
        { "notices", { "spot", "rebalance", "asg_target_lifecycle_state", "scheduled" } },
        { "memory",
          { "total_bytes", "available_bytes", "used_percent", "swap_used_percent", "pressure_some_avg10" } },
        { "cpu", { "usage_active" } },
        { "kernel", { "oom_kills", "last_oom", "problems" } },
        { "cloudwatch",
          { "enabled", "last_publish_at", "last_error", "failing_since", "queued_datapoints",
            "spooled_bytes", "published_datapoints", "dropped_datapoints" } },
};

static void test_absent_shapes(void) {
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        cJSON *kernel = cJSON_AddObjectToObject(doc, "kernel");

        ASSERT_INT(imds_status(NULL, doc), 0);
        ASSERT_INT(sampler_status(NULL, doc), 0);
        ASSERT_INT(kmsg_status(NULL, kernel), 0);
        ASSERT_INT(publisher_status(NULL, doc), 0);
        ASSERT_INT(engine_status(NULL, doc), 0);

        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
                const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, parts[i].object);
                if (!cJSON_IsObject(o))
                        TAP_FAIL("no \"%s\" object", parts[i].object);
                for (size_t k = 0; k < 8 && parts[i].keys[k]; k++)
                        if (!cJSON_GetObjectItemCaseSensitive(o, parts[i].keys[k]))
                                TAP_FAIL("\"%s\" has no \"%s\"", parts[i].object, parts[i].keys[k]);
        }
        ASSERT_TRUE(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "filesystems")));
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "filesystems")), 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "rules")), 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "actions")), 0);
        ASSERT_FALSE(cJSON_IsTrue(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "imds"), "enabled")));
        ASSERT_FALSE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(doc, "cloudwatch"), "enabled")));
        ASSERT_FALSE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(doc, "instance"), "on_ec2")));
        ASSERT_TRUE(cJSON_IsNull(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "notices"), "spot")));
        ASSERT_INT(json_get_number(kernel, "oom_kills", -1), 0);
        ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(kernel, "kmsg") == NULL); /* no counters without it */

        /* the absent shape is a healthy document: nothing known is nothing wrong */
        _cleanup_json_ cJSON *reasons = cJSON_CreateArray();
        ASSERT_INT(health_evaluate(doc, 1795428000ULL * USEC_PER_SEC, reasons), HEALTH_OK);
        ASSERT_INT(cJSON_GetArraySize(reasons), 0);
}

/* kernel_status reads /proc: uptime and load are there on Linux, tainted is a number or null. */
static void test_kernel_status(void) {
        _cleanup_json_ cJSON *k = cJSON_CreateObject();
        ASSERT_INT(kernel_status(k), 0);
        ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(k, "uptime_s")));
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "load")), 3);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(k, "tainted");
        ASSERT_TRUE(cJSON_IsNumber(t) || cJSON_IsNull(t));
}

TAP_MAIN(T(test_absent_shapes), T(test_kernel_status))
