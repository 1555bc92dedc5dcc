/* test-alert.c — the exact Slack, Teams and PagerDuty payloads, dedup keys, severities, refusals. */
#include <errno.h>

#include "ec2agent/alert.h"
#include "tap.h"

static char *const reasons[] = { "scheduled event system-reboot at 2026-12-13T02:00:00Z", NULL };

static AlertFacts facts(void) {
        usec_t deadline = 0;
        (void) parse_rfc3339("2026-12-13T02:00:00Z", &deadline);
        return (AlertFacts){
                .instance_id = "i-0abc",
                .instance_type = "m7g.large",
                .asg_name = "web",
                .availability_zone = "eu-west-1a",
                .event = "maintenance:system-reboot",
                .summary = "The instance is scheduled for system-reboot",
                .deadline = deadline,
                .rule = "maint",
                .severity = "warning",
                .reasons = reasons,
        };
}

static void test_slack(void) {
        AlertFacts f = facts();
        _cleanup_free_ char *p = NULL, *q = NULL;

        ASSERT_INT(alert_payload(ALERT_SLACK, &f, NULL, &p), 0);
        ASSERT_STR(p, "{\"text\":\"*Alert on i-0abc (ASG web): maintenance:system-reboot, rule maint*"
                      "\\n*Instance:* i-0abc (m7g.large)"
                      "\\n*ASG:* web"
                      "\\n*AZ:* eu-west-1a"
                      "\\n*Event:* maintenance:system-reboot: The instance is scheduled for system-reboot, "
                      "deadline 2026-12-13T02:00:00Z"
                      "\\n*Rule:* maint"
                      "\\n*Status:* scheduled event system-reboot at 2026-12-13T02:00:00Z\"}");

        /* mrkdwn control characters are escaped; unknowns are named */
        f = (AlertFacts){ .event = "metric", .summary = "mem <used> & more", .rule = "r" };
        ASSERT_INT(alert_payload(ALERT_SLACK, &f, NULL, &q), 0);
        ASSERT_STR(q, "{\"text\":\"*Alert on an unknown instance (no ASG): metric, rule r*"
                      "\\n*Instance:* unknown (unknown type)"
                      "\\n*ASG:* none"
                      "\\n*AZ:* unknown"
                      "\\n*Event:* metric: mem &lt;used&gt; &amp; more, no deadline"
                      "\\n*Rule:* r"
                      "\\n*Status:* none\"}");
}

static void test_teams(void) {
        AlertFacts f = facts();
        _cleanup_free_ char *p = NULL;

        ASSERT_INT(alert_payload(ALERT_TEAMS, &f, NULL, &p), 0);
        ASSERT_STR(
                p,
                "{\"type\":\"message\",\"attachments\":[{\"contentType\":\"application/"
                "vnd.microsoft.card.adaptive\",\"content\":{\"type\":\"AdaptiveCard\",\"version\":\"1.2\","
                "\"body\":["
                "{\"type\":\"TextBlock\",\"text\":\"Alert on i-0abc (ASG web): maintenance:system-reboot, "
                "rule maint\",\"weight\":\"Bolder\",\"size\":\"Medium\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**Instance:** i-0abc (m7g.large)\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**ASG:** web\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**AZ:** eu-west-1a\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**Event:** maintenance:system-reboot: The instance is "
                "scheduled for system-reboot, deadline 2026-12-13T02:00:00Z\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**Rule:** maint\",\"wrap\":true},"
                "{\"type\":\"TextBlock\",\"text\":\"**Status:** scheduled event system-reboot at "
                "2026-12-13T02:00:00Z\",\"wrap\":true}]}}]}");
}

static void test_pagerduty(void) {
        char *const two[] = { "a", "b", NULL };
        AlertFacts f = facts();
        _cleanup_free_ char *p = NULL, *q = NULL, *r = NULL, *crit = NULL;

        ASSERT_INT(alert_payload(ALERT_PAGERDUTY, &f, "R0UT1NG", &p), 0);
        ASSERT_STR(
                p,
                "{\"routing_key\":\"R0UT1NG\",\"event_action\":\"trigger\",\"dedup_key\":\"ec2agent/i-0abc/"
                "maint\","
                "\"payload\":{\"summary\":\"Alert on i-0abc (ASG web): maintenance:system-reboot, rule "
                "maint\","
                "\"source\":\"i-0abc\",\"severity\":\"warning\",\"component\":\"maintenance:system-reboot\","
                "\"group\":\"web\",\"custom_details\":{\"Instance\":\"i-0abc (m7g.large)\",\"ASG\":\"web\","
                "\"AZ\":\"eu-west-1a\",\"Event\":\"maintenance:system-reboot: The instance is scheduled for "
                "system-reboot, deadline 2026-12-13T02:00:00Z\",\"Rule\":\"maint\",\"Status\":\"scheduled "
                "event system-reboot at 2026-12-13T02:00:00Z\"}},\"client\":\"ec2agent\"}");
        f.resolved = true;
        ASSERT_INT(alert_payload(ALERT_PAGERDUTY, &f, "R0UT1NG", &q), 0);
        ASSERT_STR(q, "{\"routing_key\":\"R0UT1NG\",\"event_action\":\"resolve\",\"dedup_key\":\"ec2agent/"
                      "i-0abc/maint\"}");
        f.resolved = false;
        f.severity = "critical";
        f.reasons = two;
        ASSERT_INT(alert_payload(ALERT_PAGERDUTY, &f, "k", &crit), 0);
        ASSERT_TRUE(strstr(crit, "\"severity\":\"critical\""));
        ASSERT_TRUE(strstr(crit, "\"Status\":[\"a\",\"b\"]"));
        ASSERT_INT(alert_payload(ALERT_PAGERDUTY, &f, NULL, &r), -EINVAL);
        ASSERT_INT(alert_payload(ALERT_PAGERDUTY, &f, "", &r), -EINVAL);
        ASSERT_TRUE(r == NULL);
}

static void test_severity_and_keys(void) {
        char key[ALERT_DEDUP_KEY_MAX + 1], rule[400];

        ASSERT_STR(alert_pagerduty_severity("critical"), "critical");
        ASSERT_STR(alert_pagerduty_severity("warning"), "warning");
        ASSERT_STR(alert_pagerduty_severity("info"), "info");
        ASSERT_STR(alert_pagerduty_severity(NULL), "info");
        alert_dedup_key("i-0abc", "drain", key);
        ASSERT_STR(key, "ec2agent/i-0abc/drain");
        memset(rule, 'x', sizeof rule - 1);
        rule[sizeof rule - 1] = 0;
        alert_dedup_key("i-0abc", rule, key);
        ASSERT_INT(strlen(key), ALERT_DEDUP_KEY_MAX);
        ASSERT_STR(alert_format_to_string(ALERT_TEAMS), "teams");
}

static void test_summary_cut(void) {
        char rule[1100];
        AlertFacts f = facts();
        /* a rule name of multi-byte characters: the cut falls between characters */
        for (size_t i = 0; i + 2 < sizeof rule; i += 2)
                memcpy(rule + i, "\xc3\xa9", 2);
        rule[sizeof rule - 2] = 0;
        f.rule = rule;
        _cleanup_free_ char *h = alert_headline(&f);
        ASSERT_TRUE(h && strlen(h) <= ALERT_SUMMARY_MAX);
        ASSERT_TRUE(strlen(h) >= ALERT_SUMMARY_MAX - 1);
        ASSERT_TRUE((unsigned char) h[strlen(h) - 1] == 0xa9);
}

static void test_refusal(void) {
        char msg[ALERT_ERROR_MAX];
        const char *pd = "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\","
                         "\"errors\":[\"'routing_key' is invalid\",\"x\"]}";

        alert_refusal(pd, strlen(pd), msg);
        ASSERT_STR(msg, "Event object is invalid: 'routing_key' is invalid; x");
        alert_refusal("invalid_payload", 15, msg);
        ASSERT_STR(msg, "invalid_payload");
        alert_refusal("no_text\nmore", 12, msg);
        ASSERT_STR(msg, "no_text");
        const char *teams = "{\"error\":{\"code\":\"InvalidRequestContent\",\"message\":\"bad card\"}}";
        alert_refusal(teams, strlen(teams), msg);
        ASSERT_STR(msg, "bad card");
        alert_refusal("\x1b[31mred", 8, msg);
        ASSERT_STR(msg, "?[31mred");
        alert_refusal(NULL, 0, msg);
        ASSERT_STR(msg, "");
}

TAP_MAIN(T(test_slack), T(test_teams), T(test_pagerduty), T(test_severity_and_keys), T(test_summary_cut),
         T(test_refusal))
