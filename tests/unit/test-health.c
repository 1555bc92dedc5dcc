/* test-health.c — every SPEC §5 health rule, judged from status documents. */
#include "ec2agent/catalog.h"
#include "ec2agent/health.h"
#include "ec2agent/json.h"
#include "tap.h"

/* 2026-11-23T10:00:00Z */
#define NOW (1795428000ULL * USEC_PER_SEC)

static const struct {
        const char *doc;
        Health level;
        const char *reasons; /* joined by '|' */
} cases[] = {
        { "{}", HEALTH_OK, "" },
        { "{\"notices\":{\"spot\":null,\"rebalance\":null,\"scheduled\":[]}}", HEALTH_OK, "" },
        { "{\"notices\":{\"spot\":{\"action\":\"terminate\",\"time\":\"2026-11-23T10:02:00Z\"}}}",
          HEALTH_CRITICAL, "spot interruption: terminate at 2026-11-23T10:02:00Z" },
        { "{\"notices\":{\"asg_target_lifecycle_state\":\"Terminated\"}}", HEALTH_CRITICAL,
          "auto scaling: instance is being terminated" },
        { "{\"notices\":{\"asg_target_lifecycle_state\":\"InService\"}}", HEALTH_OK, "" },
        { "{\"notices\":{\"rebalance\":{\"notice_time\":\"2026-11-23T09:00:00Z\"}}}", HEALTH_WARNING,
          "rebalance recommendation since 2026-11-23T09:00:00Z" },
        { "{\"notices\":{\"scheduled\":[{\"event_id\":\"instance-event-0d59\",\"code\":\"system-reboot\","
          "\"state\":\"active\",\"not_before\":\"2026-11-30T02:00:00Z\"},{\"event_id\":\"e2\",\"code\":"
          "\"instance-stop\",\"state\":\"canceled\"}]}}",
          HEALTH_WARNING, "scheduled system-reboot (instance-event-0d59) not before 2026-11-30T02:00:00Z" },
        { "{\"memory\":{\"total_bytes\":100,\"used_percent\":84.9}}", HEALTH_OK, "" },
        { "{\"memory\":{\"total_bytes\":100,\"used_percent\":85}}", HEALTH_WARNING,
          "memory used at 85.0% (warning at 85%)" },
        { "{\"memory\":{\"total_bytes\":100,\"used_percent\":95.2}}", HEALTH_CRITICAL,
          "memory used at 95.2% (critical at 95%)" },
        { "{\"memory\":{\"total_bytes\":null,\"used_percent\":null}}", HEALTH_OK, "" },
        { "{\"filesystems\":[{\"path\":\"/\",\"used_percent\":96,\"inodes_used_percent\":3},"
          "{\"path\":\"/data\",\"used_percent\":10,\"inodes_used_percent\":90}]}",
          HEALTH_CRITICAL,
          "filesystem / at 96.0% (critical at 95%)|filesystem /data inodes at 90.0% (warning at 85%)" },
        { "{\"filesystems\":[{\"path\":\"/"
          "data\",\"used_percent\":1,\"read_only\":true,\"became_read_only\":true}]}",
          HEALTH_CRITICAL, "filesystem /data was remounted read-only" },
        { "{\"filesystems\":[{\"path\":\"/"
          "usr\",\"used_percent\":1,\"read_only\":true,\"became_read_only\":false}]}",
          HEALTH_OK, "" },
        { "{\"filesystems\":[{\"path\":\"/mnt/nfs\",\"used_percent\":null,\"answering\":false,"
          "\"error\":\"not answering\"},{\"path\":\"/\",\"used_percent\":1,\"answering\":true}]}",
          HEALTH_WARNING, "filesystem /mnt/nfs does not answer (statvfs() hangs)" },
        { "{\"kernel\":{\"last_oom\":{\"at\":\"2026-11-23T09:30:00Z\",\"pid\":4242,\"process\":\"java\"}}}",
          HEALTH_WARNING, "OOM kill of java (pid 4242) at 2026-11-23T09:30:00Z" },
        { "{\"kernel\":{\"last_oom\":{\"at\":\"2026-11-23T08:30:00Z\",\"pid\":4242,\"process\":\"java\"}}}",
          HEALTH_OK, "" },
        { "{\"kernel\":{\"problems\":[{\"class\":\"io-error\",\"at\":\"2026-11-23T09:59:00Z\",\"message\":"
          "\"nvme1n1: I/O "
          "error\"},{\"class\":\"segfault\",\"at\":\"2026-11-23T09:59:00Z\",\"message\":\"x\"},"
          "{\"class\":\"hung-task\",\"at\":\"2026-11-23T07:00:00Z\",\"message\":\"old\"}]}}",
          HEALTH_WARNING, "io-error at 2026-11-23T09:59:00Z: nvme1n1: I/O error" },
        { "{\"kernel\":{\"previous_boot\":{\"boot_id\":\"abc\",\"clean_shutdown\":false,\"crash_log\":null}}"
          "}",
          HEALTH_WARNING, "previous boot abc did not end cleanly" },
        { "{\"kernel\":{\"previous_boot\":{\"boot_id\":null,\"clean_shutdown\":null}}}", HEALTH_OK, "" },
        { "{\"kernel\":{\"previous_boot\":{\"boot_id\":null,\"clean_shutdown\":null,\"crash_log\":"
          "\"Kernel panic - not syncing: Fatal exception\"}}}",
          HEALTH_WARNING, "previous boot did not end cleanly: Kernel panic - not syncing: Fatal exception" },
        { "{\"cloudwatch\":{\"enabled\":true,\"failing_since\":\"2026-11-23T09:54:00Z\",\"last_error\":"
          "\"Throttling\"}}",
          HEALTH_WARNING, "CloudWatch publishing failing since 2026-11-23T09:54:00Z: Throttling" },
        { "{\"cloudwatch\":{\"enabled\":true,\"failing_since\":\"2026-11-23T09:57:00Z\",\"last_error\":"
          "\"x\"}}",
          HEALTH_OK, "" },
        { "{\"forward\":{\"cloudwatch_logs\":{\"enabled\":true,\"failing_since\":\"2026-11-23T09:54:00Z\","
          "\"queued\":12,\"last_error\":\"AccessDeniedException: no (HTTP "
          "400)\"},\"eventbridge\":{\"enabled\":"
          "true,\"failing_since\":\"2026-11-23T09:56:00Z\",\"queued\":1,\"last_error\":\"x\"}}}",
          HEALTH_WARNING,
          "forwarding to CloudWatch Logs failing since 2026-11-23T09:54:00Z (12 events wait): "
          "AccessDeniedException: no (HTTP 400)" },
        { "{\"forward\":{\"eventbridge\":{\"enabled\":false,\"failing_since\":\"2026-11-23T09:00:00Z\"}}}",
          HEALTH_OK, "" },
        /* Critical reasons come first, whatever order the facts were found in. */
        { "{\"notices\":{\"rebalance\":{\"notice_time\":\"t\"}},\"memory\":{\"total_bytes\":1,\"used_"
          "percent\":99}}",
          HEALTH_CRITICAL, "memory used at 99.0% (critical at 95%)|rebalance recommendation since t" },
};

static void test_cases(void) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                _cleanup_json_ cJSON *doc = cJSON_Parse(cases[i].doc), *reasons = cJSON_CreateArray();
                const cJSON *r;
                Buf joined;

                ASSERT_TRUE(doc && reasons);
                Health h = health_evaluate(doc, NOW, reasons);
                buf_init(&joined, 4096);
                (void) buf_append(&joined, "", 0);
                cJSON_ArrayForEach (r, reasons)
                        (void) buf_appendf(&joined, "%s%s", r == reasons->child ? "" : "|", r->valuestring);
                if (h != cases[i].level || strcmp(joined.data, cases[i].reasons) != 0) {
                        printf("# case %zu: %s\n#  got %s [%s]\n", i, cases[i].doc, health_to_string(h),
                               joined.data);
                        buf_done(&joined);
                        TAP_FAIL("expected %s [%s]", health_to_string(cases[i].level), cases[i].reasons);
                }
                buf_done(&joined);
        }
}

/* A kernel problem of the last hour warns when its catalog row says so, and only then: a recent
 * segfault or kernel warning is counted, not a health warning. */
static void test_kernel_classes_from_catalog(void) {
        size_t warned = 0;
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++) {
                const EventTypeInfo *t = event_type_info(i);
                char text[256];
                if (t->planned)
                        continue;
                snprintf(text, sizeof text,
                         "{\"kernel\":{\"problems\":[{\"class\":\"%s\",\"at\":\"2026-11-23T09:59:00Z\","
                         "\"message\":\"m\"}]}}",
                         t->name);
                _cleanup_json_ cJSON *doc = cJSON_Parse(text), *reasons = cJSON_CreateArray();
                ASSERT_TRUE(doc && reasons);
                Health h = health_evaluate(doc, NOW, reasons);
                ASSERT_INT(h, t->health_warning ? HEALTH_WARNING : HEALTH_OK);
                ASSERT_INT(cJSON_GetArraySize(reasons), t->health_warning);
                warned += t->health_warning;
        }
        ASSERT_INT(warned, 6);
        ASSERT_FALSE(event_type_lookup("segfault")->health_warning);
        ASSERT_FALSE(event_type_lookup("kernel-warning")->health_warning);
}

TAP_MAIN(T(test_cases), T(test_kernel_classes_from_catalog))
