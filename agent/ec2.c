/* ec2.c — DescribeInstanceStatus and ModifyInstanceEventStartTime (EC2 Query API 2016-11-15, SigV4
 * "ec2"), and the reschedule that chains them: the event's NotBeforeDeadline from the first, the
 * first opening of the window before it (mwindow_next), then the move. AWS-NOTES "EC2 maintenance
 * rescheduling". A reply looks like:
 *   <DescribeInstanceStatusResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">…
 *     <eventsSet><item><instanceEventId>instance-event-0d59…</instanceEventId>
 *       <code>system-reboot</code><description>…</description>
 *       <notBefore>2026-12-08T10:00:00.000Z</notBefore><notAfter>…</notAfter>
 *       <notBeforeDeadline>2026-12-20T10:00:00.000Z</notBeforeDeadline></item></eventsSet>… */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/ec2.h"
#include "ec2agent/log.h"

#define RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define RETRY_CAP_USEC  (20 * USEC_PER_SEC)
#define REPLY_MAX       (256 * 1024)

int ec2_describe_form(Buf *b, const char *instance_id) {
        int k;
        if ((k = aws_form_add(b, "Action", "DescribeInstanceStatus")) < 0 ||
            (k = aws_form_add(b, "Version", EC2_API_VERSION)) < 0 ||
            (k = aws_form_add(b, "InstanceId.1", instance_id)) < 0 ||
            (k = aws_form_add(b, "IncludeAllInstances", "true")) < 0)
                return k;
        return 0;
}

int ec2_modify_form(Buf *b, const char *instance_id, const char *event_id, usec_t not_before) {
        char t[RFC3339_MAX];
        int k;
        if ((k = aws_form_add(b, "Action", "ModifyInstanceEventStartTime")) < 0 ||
            (k = aws_form_add(b, "Version", EC2_API_VERSION)) < 0 ||
            (k = aws_form_add(b, "InstanceId", instance_id)) < 0 ||
            (k = aws_form_add(b, "InstanceEventId", event_id)) < 0 ||
            (k = aws_form_add(b, "NotBefore", format_rfc3339(t, not_before))) < 0)
                return k;
        return 0;
}

static const char *find(const char *p, const char *end, const char *needle) {
        return p < end ? memmem(p, (size_t) (end - p), needle, strlen(needle)) : NULL;
}

/* The last occurrence of NEEDLE in [P, END). */
static const char *find_last(const char *p, const char *end, const char *needle) {
        const char *last = NULL;
        for (const char *q; (q = find(p, end, needle)); p = q + 1)
                last = q;
        return last;
}

/* Reads <TAG>time</TAG> within [P, END) into *RET (0 when absent). EC2 writes "…T10:00:00.000Z";
 * its documentation's samples also show "+0000" offsets, which parse_rfc3339 takes as "+00:00". */
static int element_time(const char *p, const char *end, const char *tag, usec_t *ret) {
        char open[48], close[48], v[64];
        const char *s, *e;

        snprintf(open, sizeof open, "<%s>", tag);
        snprintf(close, sizeof close, "</%s>", tag);
        *ret = 0;
        if (!(s = find(p, end, open)))
                return 0;
        s += strlen(open);
        if (!(e = find(s, end, close)) || (size_t) (e - s) >= sizeof v - 1)
                return -EBADMSG;
        size_t n = (size_t) (e - s);
        memcpy(v, s, n);
        v[n] = 0;
        if (n > 5 && (v[n - 5] == '+' || v[n - 5] == '-') && v[n - 3] != ':') { /* ±HHMM → ±HH:MM */
                memmove(v + n - 1, v + n - 2, 3);
                v[n - 2] = ':';
        }
        return parse_rfc3339(v, ret) < 0 ? -EBADMSG : 0;
}

static void element_text(const char *p, const char *end, const char *tag, char *dst, size_t max) {
        char open[48], close[48];
        const char *s, *e;

        snprintf(open, sizeof open, "<%s>", tag);
        snprintf(close, sizeof close, "</%s>", tag);
        dst[0] = 0;
        if (!(s = find(p, end, open)) || !(e = find(s + strlen(open), end, close)))
                return;
        s += strlen(open);
        snprintf(dst, max, "%.*s", (int) MIN((size_t) (e - s), max - 1), s);
}

int ec2_parse_event(const char *body, size_t len, const char *event_id, Ec2Event *ret) {
        const char *end = body + len, *id, *start, *stop, *a, *b;
        char needle[160];
        Ec2Event ev = {};
        int k;

        if (!body || strlen(event_id) >= sizeof ev.event_id)
                return -ENOENT;
        snprintf(needle, sizeof needle, "<instanceEventId>%s</instanceEventId>", event_id);
        if (!(id = find(body, end, needle)))
                return -ENOENT;
        /* the event's element: from the nearest <item> or <event> before its id to the nearest close after
         */
        a = find_last(body, id, "<item>");
        b = find_last(body, id, "<event>");
        start = a && (!b || a > b) ? a : b ?: body;
        a = find(id, end, "</item>");
        b = find(id, end, "</event>");
        stop = a && (!b || a < b) ? a : b ?: end;
        snprintf(ev.event_id, sizeof ev.event_id, "%s", event_id);
        element_text(start, stop, "code", ev.code, sizeof ev.code);
        if ((k = element_time(start, stop, "notBefore", &ev.not_before)) < 0 ||
            (k = element_time(start, stop, "notAfter", &ev.not_after)) < 0 ||
            (k = element_time(start, stop, "notBeforeDeadline", &ev.deadline)) < 0)
                return k;
        *ret = ev;
        return 0;
}

/* ---- the reschedule on the loop ---- */

typedef enum Phase {
        PHASE_DESCRIBE,
        PHASE_MODIFY,
} Phase;

struct Ec2Reschedule {
        sd_event *event;
        Http *http;
        const AwsEnv *aws;
        char *endpoint, *region, *event_id;
        MWindow window;
        Phase phase;
        usec_t old_not_before, new_not_before;
        unsigned attempt;
        HttpCall *call;
        sd_event_source *timer; /* a retry, or the deferred DONE */
        int result;
        char reason[EC2_REASON_MAX];
        Ec2RescheduleDone done;
        void *userdata;
};

static void reschedule_free(Ec2Reschedule *r) {
        if (!r)
                return;
        http_call_cancel(r->call);
        sd_event_source_disable_unref(r->timer);
        free(r->endpoint);
        free(r->region);
        free(r->event_id);
        free(r);
}

const char *ec2_reschedule_note(const Ec2Reschedule *r) {
        return r && r->result == 0 ? r->reason : "";
}

void ec2_reschedule_cancel(Ec2Reschedule *r) {
        reschedule_free(r);
}

static int on_finish(sd_event_source *s, uint64_t usec, void *userdata) {
        Ec2Reschedule *r = userdata;
        Ec2RescheduleDone done = r->done;
        void *u = r->userdata;
        int result = r->result;
        char reason[EC2_REASON_MAX];
        usec_t o = r->old_not_before, n = r->new_not_before;

        (void) s;
        (void) usec;
        snprintf(reason, sizeof reason, "%s", r->reason);
        reschedule_free(r); /* before DONE: it may start another */
        done(result, reason[0] ? reason : NULL, o, n, u);
        return 0;
}

/* Ends R: DONE runs on the next loop iteration (never inside ec2_reschedule_start). */
static void finish(Ec2Reschedule *r, int result, const char *fmt, ...) _printf_(3, 4);
static void finish(Ec2Reschedule *r, int result, const char *fmt, ...) {
        va_list ap;

        r->result = result;
        r->reason[0] = 0;
        if (fmt) {
                va_start(ap, fmt);
                (void) vsnprintf(r->reason, sizeof r->reason, fmt, ap);
                va_end(ap);
        }
        r->timer = sd_event_source_disable_unref(r->timer);
        if (sd_event_add_time(r->event, &r->timer, CLOCK_MONOTONIC, 0, 1, on_finish, r) < 0)
                log_error("ec2: cannot finish a reschedule: out of memory");
}

static void on_reply(const HttpResponse *resp, void *userdata);
static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void retry_later(Ec2Reschedule *r) {
        usec_t delay = aws_backoff(++r->attempt, RETRY_BASE_USEC, RETRY_CAP_USEC, random_unit());
        r->timer = sd_event_source_disable_unref(r->timer);
        if (sd_event_add_time_relative(r->event, &r->timer, CLOCK_MONOTONIC, delay, 1, on_retry, r) < 0)
                finish(r, -ENOMEM, "out of memory");
}

/* Sends the request of R's phase, signed for "ec2". */
static void send_phase(Ec2Reschedule *r) {
        const InstanceIdentity *id = r->aws->identity(r->aws->userdata);
        const AwsCredentials *c = r->aws->credentials(r->aws->userdata);
        const char *headers[3] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8" };
        size_t nh = 1;
        AwsSigning sig = {};
        Buf body;
        int k;

        if (!id || !id->instance_id[0] ||
            !c) /* IMDS tells them a moment after start: wait within the step */
                return retry_later(r);
        buf_init(&body, 64 * 1024);
        k = r->phase == PHASE_DESCRIBE
                    ? ec2_describe_form(&body, id->instance_id)
                    : ec2_modify_form(&body, id->instance_id, r->event_id, r->new_not_before);
        if (k < 0) {
                buf_done(&body);
                return finish(r, k, "%s", strerror(-k));
        }
        HttpRequest req = { .method = "POST",
                            .url = r->endpoint,
                            .headers = headers,
                            .body = body.data,
                            .body_len = body.len,
                            .timeout_ms = 15000,
                            .max_response = REPLY_MAX };
        aws_sign(&sig, &req, headers, &nh, c, r->region, "ec2");
        k = http_submit(r->http, &req, on_reply, r, &r->call);
        aws_signing_done(&sig);
        buf_done(&body);
        if (k < 0)
                finish(r, k, "%s", strerror(-k));
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Ec2Reschedule *r = userdata;
        (void) s;
        (void) usec;
        r->timer = sd_event_source_disable_unref(r->timer);
        send_phase(r);
        return 0;
}

static void described(Ec2Reschedule *r, const HttpResponse *resp) {
        char why[MWINDOW_REASON_MAX], t[RFC3339_MAX];
        Ec2Event ev;
        usec_t start;
        int k;

        k = ec2_parse_event(resp->body, resp->body_len, r->event_id, &ev);
        if (k == -ENOENT)
                return finish(
                        r, -ENOENT,
                        "cannot be rescheduled: EC2 does not list the event %s (completed or canceled?)",
                        r->event_id);
        if (k < 0)
                return finish(r, k, "cannot read DescribeInstanceStatus's answer");
        r->old_not_before = ev.not_before;
        if (ev.deadline && ev.not_before && ev.not_before <= ev.deadline &&
            mwindow_contains(&r->window, ev.not_before)) {
                r->new_not_before = ev.not_before;
                return finish(r, 0, "already in the window at %s", format_rfc3339(t, ev.not_before));
        }
        k = mwindow_next(&r->window, now_usec(CLOCK_REALTIME), ev.deadline, &start, why);
        if (k < 0)
                return finish(r, k, "cannot be rescheduled: %s", why);
        r->new_not_before = start;
        r->phase = PHASE_MODIFY;
        r->attempt = 0;
        send_phase(r);
}

static void on_reply(const HttpResponse *resp, void *userdata) {
        Ec2Reschedule *r = userdata;
        char code[64] = "", message[256] = "";
        Ec2Event ev;

        r->call = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300) {
                if (r->phase == PHASE_DESCRIBE)
                        return described(r, resp);
                /* EC2 answers with the event as it now stands */
                if (ec2_parse_event(resp->body, resp->body_len, r->event_id, &ev) >= 0 && ev.not_before)
                        r->new_not_before = ev.not_before;
                return finish(r, 0, NULL);
        }
        if (resp->error == 0)
                (void) aws_parse_error(resp->body, resp->body_len, code, message);
        if (resp->error < 0 || aws_retryable(resp->status, code)) {
                snprintf(r->reason, sizeof r->reason, "%.60s%s%.150s (retrying)",
                         resp->error < 0 ? (resp->error_message ?: strerror(-resp->error)) : code,
                         message[0] ? ": " : "", message);
                return retry_later(r);
        }
        if (code[0])
                return finish(r, -EREMOTEIO, "%s%s: %s: %s (HTTP %ld)",
                              r->phase == PHASE_MODIFY ? "cannot be rescheduled: " : "",
                              r->phase == PHASE_DESCRIBE ? "DescribeInstanceStatus"
                                                         : "ModifyInstanceEventStartTime",
                              code, message, resp->status);
        finish(r, -EREMOTEIO, "%s: HTTP %ld",
               r->phase == PHASE_DESCRIBE ? "DescribeInstanceStatus" : "ModifyInstanceEventStartTime",
               resp->status);
}

int ec2_reschedule_start(const Ec2RescheduleParams *p, Ec2RescheduleDone done, void *userdata,
                         Ec2Reschedule **ret) {
        Ec2Reschedule *r = calloc(1, sizeof *r);

        if (!r)
                return -ENOMEM;
        *r = (Ec2Reschedule){ .event = p->event,
                              .http = p->http,
                              .aws = p->aws,
                              .window = p->window,
                              .done = done,
                              .userdata = userdata };
        if (!(r->endpoint = strdup(p->endpoint)) || !(r->region = strdup(p->region)) ||
            !(r->event_id = strdup(p->event_id))) {
                reschedule_free(r);
                return -ENOMEM;
        }
        /* start on the loop, so DONE is never called from inside this function */
        if (sd_event_add_time(r->event, &r->timer, CLOCK_MONOTONIC, 0, 1, on_retry, r) < 0) {
                reschedule_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}
