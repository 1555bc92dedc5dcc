/* test-forward.c — forward's batches (PutLogEvents limits and order, PutEvents entries and replies),
 * the instance ARN, the endpoints, and the spool across a restart. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/forward.h"
#include "ec2agent/json.h"
#include "tap.h"

#define LINE(at, type)                                                                         \
        "{\"at\":\"" at "\",\"boot_id\":\"b\",\"type\":\"" type "\",\"severity\":\"warning\"," \
        "\"summary\":\"s\",\"detail\":{}}"

static ForwardLine fl(const char *line) {
        ForwardLine l = { line, strlen(line), 0 };
        ASSERT_INT(forward_parse_line(line, l.len, &l.at, NULL), 0);
        return l;
}

static void test_parse_line(void) {
        char type[128];
        usec_t at;
        const char *ok = LINE("2026-11-23T10:00:01Z", "oom-kill");
        ASSERT_INT(forward_parse_line(ok, strlen(ok), &at, type), 0);
        ASSERT_INT(at, 1795428001ULL * USEC_PER_SEC);
        ASSERT_STR(type, "oom-kill");
        ASSERT_INT(forward_parse_line(ok, strlen(ok) - 3, &at, type), -EBADMSG); /* torn */
        ASSERT_INT(forward_parse_line("{\"at\":\"x\",\"type\":\"a\"}", 22, &at, type), -EBADMSG);
        ASSERT_INT(forward_parse_line("{\"at\":\"2026-11-23T10:00:01Z\"}", 29, &at, type), -EBADMSG);
        ASSERT_INT(forward_parse_line("", 0, &at, type), -EBADMSG);
}

static void test_logs_limits(void) {
        size_t n = FORWARD_LOGS_MAX_EVENTS + 5;
        ForwardLine *lines = calloc(n, sizeof *lines);
        ASSERT_TRUE(lines);
        for (size_t i = 0; i < n; i++)
                lines[i] = (ForwardLine){ "x", 1, 1000 * USEC_PER_SEC + i };
        /* 10 000 events at most */
        ASSERT_INT(forward_logs_take(lines, n), FORWARD_LOGS_MAX_EVENTS);
        ASSERT_INT(forward_logs_take(lines, 3), 3);
        ASSERT_INT(forward_logs_take(lines, 0), 0);
        /* 1 048 576 bytes counting 26 a line: lines of 1 000 bytes, 1 026 each, 1 022 fit */
        static char big[1001];
        memset(big, 'a', 1000);
        for (size_t i = 0; i < 2000; i++)
                lines[i] = (ForwardLine){ big, 1000, 1000 * USEC_PER_SEC };
        ASSERT_INT(forward_logs_take(lines, 2000), 1048576 / 1026);
        /* one line over the limit still goes alone (AWS rejects it, it is counted, the queue moves) */
        lines[0].len = 2000000;
        ASSERT_INT(forward_logs_take(lines, 2), 1);
        /* 24 h span at most, whichever order the times come in */
        lines[0] = (ForwardLine){ "a", 1, 2 * USEC_PER_DAY };
        lines[1] = (ForwardLine){ "b", 1, 2 * USEC_PER_DAY - 10 * USEC_PER_HOUR };
        lines[2] = (ForwardLine){ "c", 1, 2 * USEC_PER_DAY + 14 * USEC_PER_HOUR };
        lines[3] = (ForwardLine){ "d", 1, 2 * USEC_PER_DAY + 14 * USEC_PER_HOUR + 1 };
        ASSERT_INT(forward_logs_take(lines, 4), 3);
        free(lines);
}

static void test_logs_body(void) {
        const char *l0 = LINE("2026-11-23T10:00:05Z", "oom-kill"), *l1 = LINE("2026-11-23T10:00:01Z", "a"),
                   *l2 = LINE("2026-11-23T10:00:05Z", "b");
        ForwardLine lines[] = { fl(l0), fl(l1), fl(l2) };
        Buf b;
        buf_init(&b, 1 << 20);
        ASSERT_INT(forward_logs_body(&b, "/ec2agent/events", "i-0abc", lines, 3), 0);
        _cleanup_json_ cJSON *j = cJSON_Parse(b.data);
        ASSERT_STR(json_get_string(j, "logGroupName"), "/ec2agent/events");
        ASSERT_STR(json_get_string(j, "logStreamName"), "i-0abc");
        const cJSON *ev = cJSON_GetObjectItem(j, "logEvents");
        ASSERT_INT(cJSON_GetArraySize(ev), 3);
        /* in time order; equal times keep the spool's order */
        ASSERT_STR(json_get_string(cJSON_GetArrayItem(ev, 0), "message"), l1);
        ASSERT_STR(json_get_string(cJSON_GetArrayItem(ev, 1), "message"), l0);
        ASSERT_STR(json_get_string(cJSON_GetArrayItem(ev, 2), "message"), l2);
        ASSERT_INT(json_get_u64(cJSON_GetArrayItem(ev, 0), "timestamp", 0), 1795428001000ULL);
        buf_done(&b);

        const char *ok = "{\"nextSequenceToken\":\"1\"}",
                   *rej = "{\"rejectedLogEventsInfo\":{\"tooOldLogEventEndIndex\":1,"
                          "\"tooNewLogEventStartIndex\":9}}",
                   *exp = "{\"rejectedLogEventsInfo\":{\"expiredLogEventEndIndex\":3,"
                          "\"tooOldLogEventEndIndex\":0}}";
        ASSERT_INT(forward_logs_parse_rejected(ok, strlen(ok), 10), 0);
        ASSERT_INT(forward_logs_parse_rejected(rej, strlen(rej), 10), 3); /* 0, 1 and 9 */
        ASSERT_INT(forward_logs_parse_rejected(exp, strlen(exp), 10), 4);
        ASSERT_INT(forward_logs_parse_rejected(rej, strlen(rej), 1), 1); /* never more than the batch */
        ASSERT_INT(forward_logs_parse_rejected("", 0, 10), 0);
}

static void test_events_body_and_reply(void) {
        const char *l0 = LINE("2026-11-23T10:00:05Z", "spot-interruption"),
                   *l1 = LINE("2026-11-23T10:00:06Z", "maintenance:system-reboot");
        ForwardLine lines[] = { fl(l0), fl(l1) };
        char arn[256], failed[3][64];
        Buf b;
        buf_init(&b, 1 << 20);
        ASSERT_STR(forward_instance_arn(arn, sizeof arn, "eu-west-1", "123456789012", "i-0abc"),
                   "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc");
        ASSERT_INT(forward_events_body(&b, "default", arn, lines, 2), 0);
        _cleanup_json_ cJSON *j = cJSON_Parse(b.data);
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Entries"), 1);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "Entries")), 2);
        ASSERT_STR(json_get_string(e, "Source"), "ec2agent");
        ASSERT_STR(json_get_string(e, "DetailType"), "maintenance:system-reboot");
        ASSERT_STR(json_get_string(e, "Detail"), l1);
        ASSERT_STR(json_get_string(e, "EventBusName"), "default");
        ASSERT_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "Resources"), 0)->valuestring, arn);
        ASSERT_INT(json_get_u64(e, "Time", 0), 1795428006ULL);
        buf_done(&b);

        ASSERT_STR(forward_instance_arn(arn, sizeof arn, "cn-north-1", "1", "i-1"),
                   "arn:aws-cn:ec2:cn-north-1:1:instance/i-1");
        ASSERT_STR(forward_instance_arn(arn, sizeof arn, "us-gov-west-1", "1", "i-1"),
                   "arn:aws-us-gov:ec2:us-gov-west-1:1:instance/i-1");
        ASSERT_TRUE(forward_instance_arn(arn, sizeof arn, "eu-west-1", "", "i-1") == NULL);

        const char *reply = "{\"FailedEntryCount\":1,\"Entries\":[{\"EventId\":\"1\"},{\"ErrorCode\":"
                            "\"ThrottlingException\",\"ErrorMessage\":\"slow\"},{\"EventId\":\"3\"}]}";
        ASSERT_INT(forward_events_parse_reply(reply, strlen(reply), 3, failed), 1);
        ASSERT_STR(failed[0], "");
        ASSERT_STR(failed[1], "ThrottlingException");
        ASSERT_STR(failed[2], "");
        ASSERT_INT(forward_events_parse_reply(reply, strlen(reply), 2, failed),
                   -EBADMSG); /* count differs */
        ASSERT_INT(forward_events_parse_reply("nope", 4, 1, failed), -EBADMSG);
}

static void test_endpoints(void) {
        Config c = {};
        _cleanup_free_ char *a = NULL, *b = NULL, *d = NULL;
        unsetenv("AWS_ENDPOINT_URL");
        unsetenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS");
        unsetenv("AWS_ENDPOINT_URL_EVENTBRIDGE");
        ASSERT_STR((a = aws_endpoint(&c, AWS_SERVICE_LOGS, "eu-west-1")),
                   "https://logs.eu-west-1.amazonaws.com");
        setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:7", 1);
        ASSERT_STR((b = aws_endpoint(&c, AWS_SERVICE_EVENTS, "eu-west-1")), "http://127.0.0.1:7");
        unsetenv("AWS_ENDPOINT_URL_EVENTBRIDGE");
        ASSERT_STR((d = aws_endpoint(&c, AWS_SERVICE_EVENTS, "eu-west-1")),
                   "https://events.eu-west-1.amazonaws.com");
}

static const InstanceIdentity *no_identity(void *u) {
        (void) u;
        return NULL;
}
static const char *no_asg(void *u) {
        (void) u;
        return NULL;
}
static const AwsCredentials *no_credentials(void *u) {
        (void) u;
        return NULL;
}
static bool not_pending(void *u) {
        (void) u;
        return false;
}

static double forward_get(const Forwarder *f, const char *target, const char *key) {
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(forwarder_status(f, doc), 0);
        return json_get_number(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "forward"), target), key, -1);
}

/* Without credentials nothing leaves: what was appended is in the spool, and still there after a
 * restart; the eventbridge filter keeps what it does not want out of its spool. */
static void test_spool_survives_restart(void) {
        char dir[] = "/tmp/test-forward-XXXXXX";
        char *types[] = { "maintenance", NULL };
        Config c = { .forward_logs_enabled = true,
                     .forward_logs_group = "g",
                     .forward_events_enabled = true,
                     .forward_events_bus = "default",
                     .forward_events_types = types };
        AwsEnv env = { no_identity, no_asg, no_credentials, not_pending, NULL };
        sd_event *e = NULL;
        Http *h = NULL;
        Forwarder *f = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(http_new(e, &h), 0);
        ASSERT_INT(forwarder_new(e, h, &c, dir, &env, &f), 0);
        ASSERT_TRUE(f);
        forwarder_on_event(f, "oom-kill", LINE("2026-11-23T10:00:01Z", "oom-kill"));
        forwarder_on_event(f, "maintenance:system-reboot",
                           LINE("2026-11-23T10:00:02Z", "maintenance:system-reboot"));
        ASSERT_INT(forward_get(f, "cloudwatch_logs", "queued"), 2);
        ASSERT_INT(forward_get(f, "eventbridge", "queued"), 1);
        f = forwarder_free(f);
        ASSERT_INT(forwarder_new(e, h, &c, dir, &env, &f), 0);
        ASSERT_INT(forward_get(f, "cloudwatch_logs", "queued"), 2);
        ASSERT_INT(forward_get(f, "eventbridge", "queued"), 1);
        ASSERT_TRUE(forward_get(f, "cloudwatch_logs", "spooled_bytes") > 100);
        f = forwarder_free(f);

        Config off = {};
        ASSERT_INT(forwarder_new(e, h, &off, dir, &env, &f), 0);
        ASSERT_TRUE(f == NULL);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(forwarder_status(NULL, doc), 0);
        ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "forward"), "eventbridge"), "enabled")));
        http_free(h);
        sd_event_unref(e);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ASSERT_INT(system(cmd), 0);
}

TAP_MAIN(T(test_parse_line), T(test_logs_limits), T(test_logs_body), T(test_events_body_and_reply),
         T(test_endpoints), T(test_spool_survives_restart))
