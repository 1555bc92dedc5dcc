/* test-imds.c — IMDS bodies from AWS's documentation, hostile bodies, and notice transitions. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/imds.h"
#include "ec2agent/json.h"
#include "tap.h"

static void test_spot(void) {
        size_t len;
        _cleanup_free_ char *body = FIXTURE("imds/spot-instance-action.json", &len);
        SpotNotice n;
        usec_t t;

        ASSERT_INT(imds_parse_spot(body, len, &n), 0);
        ASSERT_STR(n.action, "terminate");
        ASSERT_INT(parse_rfc3339("2017-09-18T08:22:00Z", &t), 0);
        ASSERT_TRUE(n.time == t);
        SpotNotice keep = { .action = "stop" };
        static const char *const bad[] = {
                "",
                "[]",
                "{}",
                "{\"action\":\"reboot\",\"time\":\"2017-09-18T08:22:00Z\"}",
                "{\"action\":\"stop\",\"time\":\"soon\"}",
                "{\"action\":\"stop\"}",
                "<html>502</html>",
                "{\"action\":\"stop\",\"time\":\"2017-09-18T08:22:00Z\"",
                "{\"action\":7,\"time\":null}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                if (imds_parse_spot(bad[i], strlen(bad[i]), &keep) >= 0)
                        TAP_FAIL("accepted %s", bad[i]);
                ASSERT_STR(keep.action, "stop");
        }
        const char *h = "{\"action\":\"hibernate\",\"time\":\"2026-11-23T10:02:00Z\"}";
        ASSERT_INT(imds_parse_spot(h, strlen(h), &n), 0);
        ASSERT_STR(n.action, "hibernate");
}

static void test_rebalance_and_lifecycle(void) {
        size_t len;
        _cleanup_free_ char *body = FIXTURE("imds/rebalance.json", &len),
                            *lc = FIXTURE("imds/target-lifecycle-state.txt", &len);
        char state[64] = "x";
        usec_t t = 0, want;

        ASSERT_INT(imds_parse_rebalance(body, strlen(body), &t), 0);
        ASSERT_INT(parse_rfc3339("2020-10-27T08:22:00Z", &want), 0);
        ASSERT_TRUE(t == want);
        ASSERT_TRUE(imds_parse_rebalance("{\"noticeTime\":1}", 16, &t) < 0);
        ASSERT_INT(imds_parse_lifecycle_state(lc, strlen(lc), state), 0);
        ASSERT_STR(state, "InService");
        ASSERT_INT(imds_parse_lifecycle_state("Warmed:Running\n", 15, state), 0);
        ASSERT_STR(state, "Warmed:Running");
        ASSERT_TRUE(imds_parse_lifecycle_state("In Service", 10, state) < 0);
        ASSERT_TRUE(imds_parse_lifecycle_state("<html>", 6, state) < 0);
        ASSERT_TRUE(imds_parse_lifecycle_state("", 0, state) < 0);
        char long_state[100];
        memset(long_state, 'A', sizeof long_state);
        ASSERT_TRUE(imds_parse_lifecycle_state(long_state, sizeof long_state, state) < 0);
        ASSERT_STR(state, "Warmed:Running");
}

static void test_event_time(void) {
        usec_t t, want;
        ASSERT_INT(imds_parse_event_time("21 Jan 2019 09:00:43 GMT", &t), 0);
        ASSERT_INT(parse_rfc3339("2019-01-21T09:00:43Z", &want), 0);
        ASSERT_TRUE(t == want);
        ASSERT_INT(imds_parse_event_time("3 Feb 2019 01:00:00 GMT", &t), 0);
        ASSERT_INT(parse_rfc3339("2019-02-03T01:00:00Z", &want), 0);
        ASSERT_TRUE(t == want);
        static const char *const bad[] = { "",
                                           "21 Jan 2019",
                                           "21 Foo 2019 09:00:43 GMT",
                                           "32 Jan 2019 09:00:43 GMT",
                                           "21 Jan 2019 09:00:43 UTC",
                                           "121 Jan 2019 09:00:43 GMT",
                                           "21 Jan 2019 25:00:43 GMT",
                                           "2019-01-21T09:00:43Z" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (imds_parse_event_time(bad[i], &t) >= 0)
                        TAP_FAIL("accepted \"%s\"", bad[i]);
}

static void test_scheduled(void) {
        size_t len;
        _cleanup_free_ char *one = FIXTURE("imds/scheduled-events.json", &len);
        _cleanup_free_ char *hist = FIXTURE("imds/scheduled-events-history.json", &len);
        ScheduledEvent ev[IMDS_MAX_SCHEDULED];
        usec_t want;

        ASSERT_INT(imds_parse_scheduled(one, strlen(one), ev), 1);
        ASSERT_STR(ev[0].event_id, "instance-event-0d59937288b749b32");
        ASSERT_STR(ev[0].code, "system-reboot");
        ASSERT_STR(ev[0].state, "active");
        ASSERT_STR(ev[0].description, "scheduled reboot");
        ASSERT_INT(parse_rfc3339("2019-01-21T09:17:23Z", &want), 0);
        ASSERT_TRUE(ev[0].not_after == want);
        ASSERT_INT(imds_parse_scheduled(hist, strlen(hist), ev), 3);
        ASSERT_STR(ev[1].state, "canceled");
        ASSERT_TRUE(ev[1].not_after == 0);
        ASSERT_INT(parse_rfc3339("2019-03-19T06:00:00Z", &want), 0);
        ASSERT_TRUE(ev[2].not_before_deadline == want);
        ASSERT_INT(imds_parse_scheduled("[]", 2, ev), 0);
        ASSERT_TRUE(imds_parse_scheduled("{}", 2, ev) < 0);
        ASSERT_TRUE(
                imds_parse_scheduled("[{\"EventId\":\"e\",\"Code\":\"system-reboot\",\"State\":\"active\"}]",
                                     60, ev) < 0);
        ASSERT_TRUE(imds_parse_scheduled("[{\"EventId\":\"e\\n\",\"Code\":\"c\",\"State\":\"active\","
                                         "\"NotBefore\":\"21 Jan 2019 09:00:43 GMT\"}]",
                                         86, ev) < 0);
}

static void test_identity_and_credentials(void) {
        size_t len;
        _cleanup_free_ char *doc = FIXTURE("imds/identity-document.json", &len);
        _cleanup_free_ char *cred = FIXTURE("imds/security-credentials.json", &len);
        InstanceIdentity id;
        AwsCredentials c;
        char role[IMDS_ID_MAX];

        ASSERT_INT(imds_parse_identity(doc, strlen(doc), &id), 0);
        ASSERT_STR(id.instance_id, "i-1234567890abcdef0");
        ASSERT_STR(id.instance_type, "t2.micro");
        ASSERT_STR(id.ami_id, "ami-5fb8c835");
        ASSERT_STR(id.region, "us-west-2");
        ASSERT_STR(id.availability_zone, "us-west-2b");
        ASSERT_STR(id.account_id, "0123456789");
        ASSERT_TRUE(imds_parse_identity("{\"instanceId\":\"i-1\"}", 20, &id) < 0);
        ASSERT_INT(imds_parse_credentials(cred, strlen(cred), &c), 0);
        ASSERT_STR(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        ASSERT_STR(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        ASSERT_STR(c.session_token, "token");
        ASSERT_TRUE(c.expiration > 0);
        ASSERT_INT(imds_parse_credentials("{\"Code\":\"AssumeRoleUnauthorizedAccess\"}", 39, &c), -EACCES);
        ASSERT_INT(imds_parse_role("ec2agent-role\nother\n", 20, role), 0);
        ASSERT_STR(role, "ec2agent-role");
        ASSERT_TRUE(imds_parse_role("", 0, role) < 0);
}

static void test_hostile_bodies(void) {
        char big[IMDS_MAX_BODY + 10];
        SpotNotice n;
        ScheduledEvent ev[IMDS_MAX_SCHEDULED];
        memset(big, '[', sizeof big);
        ASSERT_TRUE(imds_parse_spot(big, sizeof big, &n) < 0);
        ASSERT_TRUE(imds_parse_scheduled(big, sizeof big, ev) < 0);
        ASSERT_TRUE(imds_parse_spot("{\"action\":\"stop\"\0,\"time\":\"x\"}", 28, &n) < 0);
        /* Deep nesting is refused by cJSON's own limit, not by the stack. */
        char deep[4000];
        memset(deep, '[', sizeof deep);
        ASSERT_TRUE(imds_parse_scheduled(deep, sizeof deep, ev) < 0);
        char word[8];
        ASSERT_TRUE(imds_parse_word("a b", 3, word, sizeof word) < 0);
        ASSERT_TRUE(imds_parse_word("abcdefgh", 8, word, sizeof word) < 0);
        ASSERT_TRUE(imds_parse_word("a\x01", 2, word, sizeof word) < 0);
}

/* Issue 15 item 14: the region becomes a host name ("https://monitoring." REGION ".amazonaws.com"). */
static void test_identity_hostile_names(void) {
        static const char *const bad_regions[] = {
                "x@127.0.0.1:8080#",
                "eu-west-1.evil.example",
                "EU-WEST-1",
                "eu_west_1",
                "",
                "a23456789012345678901234567890123",
                "eu-west-1/",
                "eu-west-1?",
        };
        char doc[512];
        InstanceIdentity id;

        for (size_t i = 0; i < ELEMENTSOF(bad_regions); i++) {
                int n = snprintf(
                        doc, sizeof doc,
                        "{\"instanceId\":\"i-0abc\",\"instanceType\":\"m7g.large\",\"imageId\":\"ami-0abc\","
                        "\"region\":\"%s\",\"availabilityZone\":\"%sa\"}",
                        bad_regions[i], bad_regions[i]);
                ASSERT_INT(imds_parse_identity(doc, (size_t) n, &id), 0);
                bool az_bad = *bad_regions[i] != 0; /* "a" alone is a name */
                if (id.region[0] || !(id.rejected & IMDS_REJECTED_REGION))
                        TAP_FAIL("accepted the region \"%s\"", bad_regions[i]);
                if (az_bad && (id.availability_zone[0] || !(id.rejected & IMDS_REJECTED_AZ)))
                        TAP_FAIL("accepted the zone \"%sa\"", bad_regions[i]);
                ASSERT_STR(id.instance_id, "i-0abc");
        }
        /* Local Zones and 32 characters are names */
        const char *good =
                "{\"instanceId\":\"i-0abc\",\"instanceType\":\"u-6tb1.metal\",\"imageId\":\"ami-0abc\","
                "\"region\":\"a2345678901234567890123456789012\",\"availabilityZone\":\"us-west-2-lax-1a\"}";
        ASSERT_INT(imds_parse_identity(good, strlen(good), &id), 0);
        ASSERT_STR(id.region, "a2345678901234567890123456789012");
        ASSERT_STR(id.availability_zone, "us-west-2-lax-1a");
        ASSERT_INT(id.rejected, 0);
        /* The instance id, type and AMI are words or the document is not trusted at all */
        const char *bad_id =
                "{\"instanceId\":\"i-0abc@x\",\"instanceType\":\"m7g.large\",\"imageId\":\"ami-0abc\","
                "\"region\":\"eu-west-1\",\"availabilityZone\":\"eu-west-1a\"}";
        ASSERT_TRUE(imds_parse_identity(bad_id, strlen(bad_id), &id) < 0);
        /* The role name is appended to an IMDS path */
        char role[IMDS_ID_MAX];
        ASSERT_INT(imds_parse_role("Role+=,.@_-1", 12, role), 0);
        ASSERT_STR(role, "Role+=,.@_-1");
        ASSERT_TRUE(imds_parse_role("..", 2, role) < 0);
        ASSERT_TRUE(imds_parse_role("a/../../x", 9, role) < 0);
        ASSERT_TRUE(imds_parse_role("a?b", 3, role) < 0);
        ASSERT_TRUE(imds_parse_role("a#b", 3, role) < 0);
        ASSERT_TRUE(imds_parse_role("a%2fb", 5, role) < 0);
}

/* Issue 15 item 16: a time past 9999-12-31T23:59:59Z has no RFC 3339 form. */
static void test_times_past_9999(void) {
        SpotNotice n;
        usec_t t;
        AwsCredentials c;
        ScheduledEvent ev[IMDS_MAX_SCHEDULED];
        const char *spot = "{\"action\":\"terminate\",\"time\":\"9999-12-31T23:59:59-01:00\"}";
        const char *reb = "{\"noticeTime\":\"9999-12-31T23:59:60Z\"}";
        const char *cred =
                "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
                "\"Expiration\":\"9999-12-31T20:00:00-12:00\"}";
        const char *sched = "[{\"EventId\":\"e\",\"Code\":\"system-reboot\",\"State\":\"active\","
                            "\"NotBefore\":\"31 Dec 9999 23:59:60 GMT\"}]";

        ASSERT_TRUE(imds_parse_spot(spot, strlen(spot), &n) < 0);
        ASSERT_TRUE(imds_parse_rebalance(reb, strlen(reb), &t) < 0);
        ASSERT_TRUE(imds_parse_credentials(cred, strlen(cred), &c) < 0);
        ASSERT_TRUE(imds_parse_scheduled(sched, strlen(sched), ev) < 0);
        /* found by fuzz-imds-role: an empty secret was taken for credentials */
        const char *empty =
                "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\",\"Token\":\"T\","
                "\"Expiration\":\"2026-11-23T10:02:00Z\"}";
        ASSERT_TRUE(imds_parse_credentials(empty, strlen(empty), &c) < 0);
        ASSERT_INT(imds_parse_event_time("31 Dec 9999 23:59:59 GMT", &t), 0);
        ASSERT_INT(t, 253402300799ULL * USEC_PER_SEC);
        /* the persisted notices: such a time reads as absent */
        ImdsNotices k;
        _cleanup_json_ cJSON *j =
                cJSON_Parse("{\"spot\":{\"action\":\"stop\",\"time\":\"9999-12-31T23:59:59-00:01\"},"
                            "\"rebalance\":{\"notice_time\":\"9999-12-31T23:59:59-00:01\"}}");
        ASSERT_INT(imds_notices_from_json(j, &k), 0);
        ASSERT_FALSE(k.spot_known);
        ASSERT_INT(k.rebalance, 0);
}

/* A corrupt imds-notices.json is set aside, never fatal, never silently empty. */
static void test_notices_load(void) {
        char dir[] = "/tmp/test-imds-XXXXXX", path[64], aside[80];
        ImdsNotices n = {};
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_INT(imds_notices_load(dir, &n), 0);
        snprintf(path, sizeof path, "%s/imds-notices.json", dir);
        snprintf(aside, sizeof aside, "%s.corrupt", path);
        ASSERT_INT(write_file_atomic(dir, "imds-notices.json", "{\"rebalance\":{\"notice_time\":\"2026-", 34,
                                     0640),
                   0);
        ASSERT_TRUE(imds_notices_load(dir, &n) < 0);
        ASSERT_TRUE(stat(path, &st) < 0 && errno == ENOENT);
        ASSERT_INT(stat(aside, &st), 0);
        const char *good =
                "{\"rebalance\":{\"notice_time\":\"2026-11-23T10:02:00Z\"},\"scheduled_known\":true}";
        ASSERT_INT(write_file_atomic(dir, "imds-notices.json", good, strlen(good), 0640), 0);
        ASSERT_INT(imds_notices_load(dir, &n), 1);
        ASSERT_TRUE(n.rebalance > 0);
        ASSERT_TRUE(n.scheduled_known);
        (void) unlink(path);
        (void) unlink(aside);
        (void) rmdir(dir);
}

/* ---- transitions ---- */

typedef struct Sink {
        char types[16][64];
        char changes[16][16];
        size_t n;
} Sink;

static void sink(Event *e, void *userdata) {
        Sink *s = userdata;
        if (s->n < 16) {
                snprintf(s->types[s->n], sizeof s->types[0], "%s", e->type);
                snprintf(s->changes[s->n], sizeof s->changes[0], "%s",
                         json_get_string(e->detail, "change") ?: "");
                s->n++;
        }
        event_free(e);
}

static void test_spot_once_per_notice(void) {
        ImdsNotices k = {};
        Sink s = {};
        SpotNotice a = { .action = "terminate", .time = 1000 * USEC_PER_SEC }, b = a;

        ASSERT_TRUE(imds_observe_spot(&k, NULL, &(EventSink){ sink, &s }) == false);
        ASSERT_TRUE(imds_observe_spot(&k, &a, &(EventSink){ sink, &s }));
        ASSERT_FALSE(
                imds_observe_spot(&k, &a, &(EventSink){ sink, &s })); /* the same notice, polled again */
        ASSERT_INT(s.n, 1);
        ASSERT_STR(s.types[0], "spot-interruption");
        b.time += USEC_PER_MINUTE;
        ASSERT_TRUE(imds_observe_spot(&k, &b, &(EventSink){ sink, &s })); /* a new notice time */
        ASSERT_INT(s.n, 2);
        ASSERT_TRUE(imds_observe_spot(&k, NULL, &(EventSink){ sink, &s })); /* withdrawn */
        ASSERT_INT(s.n, 2);
        ASSERT_TRUE(imds_observe_spot(
                &k, &b, &(EventSink){ sink, &s })); /* and back: a new instance of the notice */
        ASSERT_INT(s.n, 3);
}

static void test_rebalance_once(void) {
        ImdsNotices k = {};
        Sink s = {};
        ASSERT_TRUE(imds_observe_rebalance(&k, 5, &(EventSink){ sink, &s }));
        ASSERT_FALSE(imds_observe_rebalance(&k, 5, &(EventSink){ sink, &s }));
        ASSERT_TRUE(imds_observe_rebalance(&k, 0, &(EventSink){ sink, &s }));
        ASSERT_INT(s.n, 1);
        ASSERT_STR(s.types[0], "rebalance-recommendation");
}

static void test_lifecycle_transitions(void) {
        ImdsNotices k = {};
        Sink s = {};
        ASSERT_TRUE(imds_observe_lifecycle(&k, "Warmed:Pending", &(EventSink){ sink, &s }));
        ASSERT_TRUE(imds_observe_lifecycle(&k, "Warmed:Running",
                                           &(EventSink){ sink, &s })); /* still warm: no event */
        ASSERT_TRUE(imds_observe_lifecycle(&k, "InService", &(EventSink){ sink, &s }));
        ASSERT_FALSE(imds_observe_lifecycle(&k, "InService", &(EventSink){ sink, &s }));
        ASSERT_TRUE(imds_observe_lifecycle(&k, "Terminated", &(EventSink){ sink, &s }));
        ASSERT_FALSE(imds_observe_lifecycle(&k, "Terminated", &(EventSink){ sink, &s }));
        ASSERT_INT(s.n, 2);
        ASSERT_STR(s.types[0], "asg-warm-pool");
        ASSERT_STR(s.types[1], "asg-terminate");
}

static void test_scheduled_lifecycle(void) {
        ImdsNotices k = {};
        Sink s = {};
        ScheduledEvent e = { .event_id = "instance-event-1",
                             .code = "system-reboot",
                             .state = "active",
                             .not_before = 100 * USEC_PER_SEC };
        ScheduledEvent old = { .event_id = "instance-event-0",
                               .code = "instance-stop",
                               .state = "completed",
                               .not_before = 50 * USEC_PER_SEC };
        ScheduledEvent list[2] = { old, e };

        ASSERT_TRUE(imds_observe_scheduled(&k, list, 2, &(EventSink){ sink, &s })); /* history is not news */
        ASSERT_INT(s.n, 1);
        ASSERT_STR(s.types[0], "maintenance:system-reboot");
        ASSERT_STR(s.changes[0], "scheduled");
        ASSERT_FALSE(imds_observe_scheduled(&k, list, 2, &(EventSink){ sink, &s }));
        list[1].not_before += USEC_PER_HOUR;
        ASSERT_TRUE(imds_observe_scheduled(&k, list, 2, &(EventSink){ sink, &s }));
        ASSERT_STR(s.changes[1], "rescheduled");
        snprintf(list[1].state, sizeof list[1].state, "completed");
        ASSERT_TRUE(imds_observe_scheduled(&k, list, 2, &(EventSink){ sink, &s }));
        ASSERT_STR(s.changes[2], "completed");
        /* A new one vanishing while active is a cancellation. */
        ScheduledEvent c = { .event_id = "instance-event-2",
                             .code = "instance-retirement",
                             .state = "active",
                             .not_before = 200 * USEC_PER_SEC };
        ASSERT_TRUE(imds_observe_scheduled(&k, &c, 1, &(EventSink){ sink, &s }));
        ASSERT_TRUE(imds_observe_scheduled(&k, NULL, 0, &(EventSink){ sink, &s }));
        ASSERT_INT(s.n, 5);
        ASSERT_STR(s.types[3], "maintenance:instance-retirement");
        ASSERT_STR(s.changes[3], "scheduled");
        ASSERT_STR(s.changes[4], "canceled");
}

static void test_notices_json_roundtrip(void) {
        ImdsNotices k = {}, back;
        Sink s = {};
        SpotNotice a = { .action = "stop", .time = 1795428120 * USEC_PER_SEC };
        ScheduledEvent e = { .event_id = "instance-event-1",
                             .code = "system-reboot",
                             .state = "active",
                             .not_before = 1795428000 * USEC_PER_SEC,
                             .description = "scheduled reboot" };

        imds_observe_spot(&k, &a, &(EventSink){ sink, &s });
        imds_observe_rebalance(&k, 1795427000 * USEC_PER_SEC, &(EventSink){ sink, &s });
        imds_observe_lifecycle(&k, "InService", &(EventSink){ sink, &s });
        imds_observe_scheduled(&k, &e, 1, &(EventSink){ sink, &s });
        _cleanup_json_ cJSON *j = imds_notices_to_json(&k, false);
        ASSERT_TRUE(j != NULL);
        ASSERT_INT(imds_notices_from_json(j, &back), 0);
        ASSERT_TRUE(back.spot_known && back.spot.time == a.time);
        ASSERT_STR(back.spot.action, "stop");
        ASSERT_TRUE(back.rebalance == k.rebalance);
        ASSERT_STR(back.lifecycle, "InService");
        ASSERT_INT(back.n_scheduled, 1);
        ASSERT_STR(back.scheduled[0].description, "scheduled reboot");
        ASSERT_TRUE(back.scheduled_known);
        /* Restored knowledge repeats no event. */
        size_t before = s.n;
        ASSERT_FALSE(imds_observe_spot(&back, &a, &(EventSink){ sink, &s }));
        ASSERT_FALSE(imds_observe_scheduled(&back, &e, 1, &(EventSink){ sink, &s }));
        ASSERT_INT(s.n, before);
        _cleanup_json_ cJSON *st = imds_notices_to_json(&k, true);
        _cleanup_free_ char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(st, "spot"));
        ASSERT_STR(text, "{\"action\":\"stop\",\"time\":\"2026-11-23T10:02:00Z\"}");
}

TAP_MAIN(T(test_spot), T(test_rebalance_and_lifecycle), T(test_event_time), T(test_scheduled),
         T(test_identity_and_credentials), T(test_hostile_bodies), T(test_identity_hostile_names),
         T(test_times_past_9999), T(test_notices_load), T(test_spot_once_per_notice), T(test_rebalance_once),
         T(test_lifecycle_transitions), T(test_scheduled_lifecycle), T(test_notices_json_roundtrip))
