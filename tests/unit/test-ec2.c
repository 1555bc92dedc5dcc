/* test-ec2.c — the EC2 Query forms of the reschedule step and the reading of EC2's replies. */
#include <errno.h>

#include "ec2agent/ec2.h"
#include "tap.h"

static usec_t at(const char *s) {
        usec_t t = 0;
        if (parse_rfc3339(s, &t) < 0)
                TAP_FAIL("bad time in the test: %s", s);
        return t;
}

static void test_forms(void) {
        Buf b;

        buf_init(&b, 4096);
        ASSERT_INT(ec2_describe_form(&b, "i-0abc"), 0);
        ASSERT_STR(b.data, "Action=DescribeInstanceStatus&Version=2016-11-15&InstanceId.1=i-0abc&"
                           "IncludeAllInstances=true");
        buf_reset(&b);
        ASSERT_INT(ec2_modify_form(&b, "i-0abc", "instance-event-0d59", at("2026-12-13T02:00:00Z")), 0);
        ASSERT_STR(b.data, "Action=ModifyInstanceEventStartTime&Version=2016-11-15&InstanceId=i-0abc"
                           "&InstanceEventId=instance-event-0d59&NotBefore=2026-12-13T02%3A00%3A00Z");
        buf_done(&b);
}

static void test_parse_describe(void) {
        size_t len;
        _cleanup_free_ char *xml = FIXTURE("ec2/describe-instance-status.xml", &len);
        Ec2Event ev;

        ASSERT_INT(ec2_parse_event(xml, len, "instance-event-0d59937288b749b32", &ev), 0);
        ASSERT_STR(ev.code, "system-reboot");
        ASSERT_INT(ev.not_before, at("2026-12-08T10:00:00Z"));
        ASSERT_INT(ev.not_after, at("2026-12-08T12:00:00Z"));
        ASSERT_INT(ev.deadline, at("2026-12-20T10:00:00Z"));

        /* an event without a deadline: the deadline of the next item is not taken for it */
        ASSERT_INT(ec2_parse_event(xml, len, "instance-event-0aaa", &ev), 0);
        ASSERT_STR(ev.code, "instance-retirement");
        ASSERT_INT(ev.not_before, at("2026-12-08T10:00:00Z"));
        ASSERT_INT(ev.deadline, 0);
        ASSERT_INT(ev.not_after, 0);

        /* a prefix of an id is not the id */
        ASSERT_INT(ec2_parse_event(xml, len, "instance-event-0d59", &ev), -ENOENT);
        ASSERT_INT(ec2_parse_event(xml, len, "instance-event-0bbb", &ev), -ENOENT);
        /* cut short: never read past the length */
        ASSERT_INT(ec2_parse_event(xml, 200, "instance-event-0d59937288b749b32", &ev), -ENOENT);
}

static void test_parse_modify(void) {
        const char *xml =
                "<ModifyInstanceEventStartTimeResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
                "<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><event>"
                "<instanceEventId>instance-event-0d59</instanceEventId><code>system-reboot</code>"
                "<notBefore>2026-12-13T02:00:00.000Z</notBefore>"
                "<notBeforeDeadline>2026-12-20T10:00:00.000Z</notBeforeDeadline></event>"
                "</ModifyInstanceEventStartTimeResponse>";
        const char *bad =
                "<event><instanceEventId>e</instanceEventId><notBefore>tomorrow</notBefore></event>";
        const char *open = "<event><instanceEventId>e</instanceEventId><notBefore>2026-12-13T02:00:00Z";
        Ec2Event ev;

        ASSERT_INT(ec2_parse_event(xml, strlen(xml), "instance-event-0d59", &ev), 0);
        ASSERT_INT(ev.not_before, at("2026-12-13T02:00:00Z"));
        ASSERT_INT(ev.deadline, at("2026-12-20T10:00:00Z"));
        ASSERT_INT(ec2_parse_event(bad, strlen(bad), "e", &ev), -EBADMSG);
        ASSERT_INT(ec2_parse_event(open, strlen(open), "e", &ev), -EBADMSG);
}

static void test_error_reply(void) {
        /* EC2's error document: aws_parse_error reads it, and a refused move is not retried */
        const char *xml =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
                "<Code>InvalidParameterValue</Code><Message>The requested time is after the event's "
                "deadline</Message></Error></Errors><RequestID>ab12</RequestID></Response>";
        char code[64], message[256];

        ASSERT_INT(aws_parse_error(xml, strlen(xml), code, message), 0);
        ASSERT_STR(code, "InvalidParameterValue");
        ASSERT_STR(message, "The requested time is after the event's deadline");
        ASSERT_FALSE(aws_retryable(400, code));
        ASSERT_TRUE(aws_retryable(503, "Unavailable"));
        ASSERT_TRUE(aws_retryable(400, "RequestLimitExceeded"));
}

TAP_MAIN(T(test_forms), T(test_parse_describe), T(test_parse_modify), T(test_error_reply))
