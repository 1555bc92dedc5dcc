/* alert.c — Slack, Teams and PagerDuty payloads of a notify step, built from one AlertFacts.
 * Formats: Slack incoming webhooks take {"text"} in mrkdwn (&, <, > escaped); Teams Workflows take
 * only Adaptive Cards in a "message" envelope; PagerDuty Events API v2 takes trigger/resolve with a
 * dedup_key (AWS-NOTES "Where alerts go"). No I/O here: the executor posts what these return. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/alert.h"
#include "ec2agent/json.h"
#include "ec2agent/utf8.h"

static const char *const format_names[_ALERT_FORMAT_MAX] = {
        [ALERT_SLACK] = "slack",
        [ALERT_TEAMS] = "teams",
        [ALERT_PAGERDUTY] = "pagerduty",
};

const char *alert_format_to_string(AlertFormat f) {
        return (unsigned) f < _ALERT_FORMAT_MAX ? format_names[f] : NULL;
}

/* Cuts S (a NUL-terminated string) to at most MAX bytes at a character boundary, in place. */
static void cut_utf8(char *s, size_t max) {
        size_t i = 0, n = strlen(s);
        while (i < n) {
                size_t l = utf8_valid_len(s + i, n - i) ?: 1;
                if (i + l > max)
                        break;
                i += l;
        }
        s[i] = 0;
}

void alert_dedup_key(const char *instance_id, const char *rule, char ret[static ALERT_DEDUP_KEY_MAX + 1]) {
        snprintf(ret, ALERT_DEDUP_KEY_MAX + 1, "ec2agent/%s/%s", instance_id ?: "unknown", rule ?: "");
        cut_utf8(ret, ALERT_DEDUP_KEY_MAX);
}

const char *alert_pagerduty_severity(const char *severity) {
        if (severity && strcmp(severity, "critical") == 0)
                return "critical";
        if (severity && strcmp(severity, "warning") == 0)
                return "warning";
        return "info";
}

char *alert_headline(const AlertFacts *f) {
        char *s = NULL;
        if (asprintf(&s, "%s on %s (%s%s): %s, rule %s", f->resolved ? "Resolved" : "Alert",
                     f->instance_id ?: "an unknown instance", f->asg_name ? "ASG " : "no ASG",
                     f->asg_name ?: "", f->event ?: "?", f->rule ?: "?") < 0)
                return NULL;
        cut_utf8(s, ALERT_SUMMARY_MAX);
        return s;
}

#define FACTS_MAX 32 /* lines of one alert: five facts and the reasons */

typedef struct Fact {
        const char *label;
        char *value;
} Fact;

static void facts_free(Fact *facts, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(facts[i].value);
}

/* The facts of F in the order every format shows them; *N_RET is how many. Returns 0 or -ENOMEM. */
static int facts_of(const AlertFacts *f, Fact facts[static FACTS_MAX], size_t *n_ret) {
        char deadline[RFC3339_MAX];
        size_t n = 0;
        int k = 0;

        k |= asprintf(&facts[n].value, "%s (%s)", f->instance_id ?: "unknown",
                      f->instance_type ?: "unknown type");
        facts[n++].label = "Instance";
        k |= asprintf(&facts[n].value, "%s", f->asg_name ?: "none");
        facts[n++].label = "ASG";
        k |= asprintf(&facts[n].value, "%s", f->availability_zone ?: "unknown");
        facts[n++].label = "AZ";
        k |= asprintf(&facts[n].value, "%s%s%s, %s%s", f->event ?: "?",
                      f->summary && *f->summary ? ": " : "", f->summary ?: "",
                      f->deadline ? "deadline " : "no deadline",
                      f->deadline ? format_rfc3339(deadline, f->deadline) : "");
        facts[n++].label = "Event";
        k |= asprintf(&facts[n].value, "%s%s", f->rule ?: "?", f->resolved ? " (resolved)" : "");
        facts[n++].label = "Rule";
        if (!f->reasons || !f->reasons[0]) {
                k |= asprintf(&facts[n].value, "none");
                facts[n++].label = "Status";
        }
        for (char *const *r = f->reasons; r && *r && n < FACTS_MAX; r++) {
                k |= asprintf(&facts[n].value, "%s", *r);
                facts[n++].label = "Status";
        }
        *n_ret = n;
        if (k < 0) {
                facts_free(facts, n);
                return -ENOMEM;
        }
        return 0;
}

/* Slack's mrkdwn wants &, < and > escaped (its "Formatting text for app surfaces"). */
static int slack_escape(Buf *b, const char *s) {
        int k = 0;
        for (; *s && k >= 0; s++)
                k = *s == '&'   ? buf_append(b, "&amp;", 5)
                    : *s == '<' ? buf_append(b, "&lt;", 4)
                    : *s == '>' ? buf_append(b, "&gt;", 4)
                                : buf_append(b, s, 1);
        return k;
}

static cJSON *slack_payload(const AlertFacts *f, const char *headline, const Fact *facts, size_t n) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        Buf b;
        int k;

        buf_init(&b, 64 * 1024);
        k = buf_append(&b, "*", 1);
        k = k < 0 ? k : slack_escape(&b, headline);
        k = k < 0 ? k : buf_append(&b, "*", 1);
        for (size_t i = 0; i < n && k >= 0; i++) {
                k = buf_appendf(&b, "\n*%s:* ", facts[i].label);
                k = k < 0 ? k : slack_escape(&b, facts[i].value);
        }
        if (k < 0 || !j || !cJSON_AddStringToObject(j, "text", b.data)) {
                buf_done(&b);
                return NULL;
        }
        buf_done(&b);
        (void) f;
        return TAKE_PTR(j);
}

static cJSON *text_block(const char *text, bool title) {
        cJSON *t = cJSON_CreateObject();
        if (!t || !cJSON_AddStringToObject(t, "type", "TextBlock") ||
            !cJSON_AddStringToObject(t, "text", text) ||
            (title && (!cJSON_AddStringToObject(t, "weight", "Bolder") ||
                       !cJSON_AddStringToObject(t, "size", "Medium"))) ||
            !cJSON_AddBoolToObject(t, "wrap", true))
                return cJSON_Delete(t), NULL;
        return t;
}

static cJSON *teams_payload(const char *headline, const Fact *facts, size_t n) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        cJSON *atts, *att, *card, *body;

        if (!j || !cJSON_AddStringToObject(j, "type", "message") ||
            !(atts = cJSON_AddArrayToObject(j, "attachments")) || !(att = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(atts, att) ||
            !cJSON_AddStringToObject(att, "contentType", "application/vnd.microsoft.card.adaptive") ||
            !(card = cJSON_AddObjectToObject(att, "content")) ||
            !cJSON_AddStringToObject(card, "type", "AdaptiveCard") ||
            !cJSON_AddStringToObject(card, "version", "1.2") ||
            !(body = cJSON_AddArrayToObject(card, "body")) ||
            !cJSON_AddItemToArray(body, text_block(headline, true)))
                return NULL;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "**%s:** %s", facts[i].label, facts[i].value) < 0 ||
                    !cJSON_AddItemToArray(body, text_block(line, false)))
                        return NULL;
        }
        return TAKE_PTR(j);
}

static cJSON *pagerduty_payload(const AlertFacts *f, const char *headline, const Fact *facts, size_t n,
                                const char *routing_key) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        char key[ALERT_DEDUP_KEY_MAX + 1];
        cJSON *p, *d;

        alert_dedup_key(f->instance_id, f->rule, key);
        if (!j || !cJSON_AddStringToObject(j, "routing_key", routing_key) ||
            !cJSON_AddStringToObject(j, "event_action", f->resolved ? "resolve" : "trigger") ||
            !cJSON_AddStringToObject(j, "dedup_key", key))
                return NULL;
        if (f->resolved) /* a resolve needs only the key (Events API v2) */
                return TAKE_PTR(j);
        if (!(p = cJSON_AddObjectToObject(j, "payload")) ||
            !cJSON_AddStringToObject(p, "summary", headline) ||
            !cJSON_AddStringToObject(p, "source", f->instance_id ?: "unknown") ||
            !cJSON_AddStringToObject(p, "severity", alert_pagerduty_severity(f->severity)) ||
            !cJSON_AddStringToObject(p, "component", f->event ?: "?") ||
            !json_add_string_or_null(p, "group", f->asg_name) ||
            !(d = cJSON_AddObjectToObject(p, "custom_details")))
                return NULL;
        for (size_t i = 0; i < n; i++) {
                cJSON *old = cJSON_GetObjectItemCaseSensitive(d, facts[i].label);
                if (old && cJSON_IsString(old)) { /* several status lines: one array */
                        cJSON *a = cJSON_CreateArray();
                        if (!a || !cJSON_AddItemToArray(a, cJSON_CreateString(old->valuestring)) ||
                            !cJSON_ReplaceItemInObjectCaseSensitive(d, facts[i].label, a))
                                return cJSON_Delete(a), NULL;
                        old = a;
                }
                if (old ? !cJSON_AddItemToArray(old, cJSON_CreateString(facts[i].value))
                        : !cJSON_AddStringToObject(d, facts[i].label, facts[i].value))
                        return NULL;
        }
        if (!cJSON_AddStringToObject(j, "client", "ec2agent"))
                return NULL;
        return TAKE_PTR(j);
}

int alert_payload(AlertFormat format, const AlertFacts *f, const char *routing_key, char **ret) {
        _cleanup_free_ char *headline = NULL;
        _cleanup_json_ cJSON *j = NULL;
        Fact facts[FACTS_MAX] = {};
        size_t n = 0;
        char *text;

        if (format == ALERT_PAGERDUTY && (!routing_key || !*routing_key))
                return -EINVAL;
        if (!(headline = alert_headline(f)) || facts_of(f, facts, &n) < 0)
                return -ENOMEM;
        j = format == ALERT_SLACK   ? slack_payload(f, headline, facts, n)
            : format == ALERT_TEAMS ? teams_payload(headline, facts, n)
                                    : pagerduty_payload(f, headline, facts, n, routing_key);
        facts_free(facts, n);
        if (!j || !(text = cJSON_PrintUnformatted(j)))
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* Copies LEN bytes of S into RET as printable ASCII (others as '?'), cut to fit. */
static void printable(const char *s, size_t len, char ret[static ALERT_ERROR_MAX]) {
        size_t n = 0;
        for (size_t i = 0; i < len && n + 1 < ALERT_ERROR_MAX; i++) {
                if (s[i] == '\n' || s[i] == '\r')
                        break;
                ret[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        }
        ret[n] = 0;
}

void alert_refusal(const char *body, size_t len, char ret[static ALERT_ERROR_MAX]) {
        _cleanup_json_ cJSON *j = body && len > 0 && len < 65536 ? cJSON_ParseWithLength(body, len) : NULL;
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        const char *msg = json_get_string(j, "message") ?: json_get_string(err, "message") ?: json_get_string(j, "error");
        const cJSON *errors = cJSON_GetObjectItemCaseSensitive(j, "errors"), *e;
        Buf b;

        ret[0] = 0;
        if (!msg) { /* Slack answers in plain text: "invalid_payload", "no_text", "invalid_token" */
                if (body)
                        printable(body, len, ret);
                return;
        }
        buf_init(&b, 4096);
        (void) buf_appendf(&b, "%s", msg);
        cJSON_ArrayForEach (e,
                            errors) /* PagerDuty: {"message": "Event object is invalid", "errors": [...]} */
                if (cJSON_IsString(e))
                        (void) buf_appendf(&b, "%s%s", e == errors->child ? ": " : "; ", e->valuestring);
        printable(b.data ?: "", b.len, ret);
        buf_done(&b);
}
