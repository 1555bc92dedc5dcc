/* forward-wire.c — forward's pure parts: event lines, request bodies, AWS replies, batch limits, ARNs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward-internal.h"
#include "ec2agent/json.h"

int forward_parse_line(const char *line, size_t len, usec_t *ret_at, char *ret_type) {
        _cleanup_json_ cJSON *j = NULL;
        const char *at, *type;
        usec_t t;

        if (len == 0 || len > LINE_MAX_BYTES || memchr(line, '\n', len) ||
            !(j = cJSON_ParseWithLength(line, len)) || !cJSON_IsObject(j) ||
            !(at = json_get_string(j, "at")) || parse_rfc3339(at, &t) < 0 ||
            !(type = json_get_string(j, "type")) || !type[0] || strlen(type) >= 128)
                return -EBADMSG;
        *ret_at = t;
        if (ret_type)
                snprintf(ret_type, 128, "%s", type);
        return 0;
}

size_t forward_logs_take(const ForwardLine *lines, size_t n) {
        size_t bytes = 0, i;
        usec_t lo = USEC_INFINITY, hi = 0;

        for (i = 0; i < n && i < FORWARD_LOGS_MAX_EVENTS; i++) {
                size_t b = lines[i].len + FORWARD_LOGS_EVENT_BYTES;
                usec_t nlo = MIN(lo, lines[i].at), nhi = MAX(hi, lines[i].at);
                if (i > 0 && (bytes + b > FORWARD_LOGS_MAX_BYTES || nhi - nlo > FORWARD_LOGS_MAX_SPAN))
                        break;
                bytes += b;
                lo = nlo;
                hi = nhi;
        }
        return i;
}

static int cmp_at(const void *a, const void *b) {
        const ForwardLine *x = *(const ForwardLine *const *) a, *y = *(const ForwardLine *const *) b;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x < y ? -1 : x > y; /* stable: the spool's order among equal times */
}

/* Adds KEY: the LEN bytes at S as a JSON string. */
static bool add_string_n(cJSON *o, const char *key, const char *s, size_t len) {
        _cleanup_free_ char *c = strndup(s, len);
        return c && cJSON_AddStringToObject(o, key, c);
}

int forward_print_into(Buf *b, const cJSON *j) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(j);
        if (!text)
                return -ENOMEM;
        buf_reset(b);
        return buf_append(b, text, strlen(text));
}

int forward_logs_body(Buf *b, const char *group, const char *stream, const ForwardLine *lines, size_t n) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        _cleanup_free_ const ForwardLine **order = calloc(n ?: 1, sizeof *order);
        cJSON *events;

        if (!j || !order || !cJSON_AddStringToObject(j, "logGroupName", group) ||
            !cJSON_AddStringToObject(j, "logStreamName", stream) ||
            !(events = cJSON_AddArrayToObject(j, "logEvents")))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                order[i] = &lines[i];
        qsort(order, n, sizeof *order, cmp_at);
        for (size_t i = 0; i < n; i++) {
                cJSON *e = cJSON_CreateObject();
                if (!e || !cJSON_AddItemToArray(events, e)) {
                        cJSON_Delete(e);
                        return -ENOMEM;
                }
                if (!cJSON_AddNumberToObject(e, "timestamp", (double) (order[i]->at / USEC_PER_MSEC)) ||
                    !add_string_n(e, "message", order[i]->line, order[i]->len))
                        return -ENOMEM;
        }
        return forward_print_into(b, j);
}

int forward_events_body(Buf *b, const char *bus, const char *arn, const ForwardLine *lines, size_t n) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        cJSON *entries;

        if (!j || !(entries = cJSON_AddArrayToObject(j, "Entries")))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char type[128];
                usec_t at;
                cJSON *e = cJSON_CreateObject(), *res;
                if (!e || !cJSON_AddItemToArray(entries, e)) {
                        cJSON_Delete(e);
                        return -ENOMEM;
                }
                if (forward_parse_line(lines[i].line, lines[i].len, &at, type) < 0)
                        return -EBADMSG;
                if (!cJSON_AddStringToObject(e, "Source", "ec2agent") ||
                    !cJSON_AddStringToObject(e, "DetailType", type) ||
                    !add_string_n(e, "Detail", lines[i].line, lines[i].len) ||
                    !cJSON_AddStringToObject(e, "EventBusName", bus) ||
                    !(res = cJSON_AddArrayToObject(e, "Resources")) ||
                    (arn && !cJSON_AddItemToArray(res, cJSON_CreateString(arn))) ||
                    !cJSON_AddNumberToObject(e, "Time", (double) (at / USEC_PER_SEC)))
                        return -ENOMEM;
        }
        return forward_print_into(b, j);
}

size_t forward_logs_parse_rejected(const char *body, size_t len, size_t n) {
        _cleanup_json_ cJSON *j = cJSON_ParseWithLength(body, len);
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(j, "rejectedLogEventsInfo");
        uint64_t old = 0, new_from = n;

        if (!cJSON_IsObject(info))
                return 0;
        /* the indexes are of the sorted batch: [0, old) too old or expired, [new_from, n) too new */
        for (size_t i = 0; i < 2; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(info, i == 0 ? "tooOldLogEventEndIndex"
                                                                               : "expiredLogEventEndIndex");
                if (cJSON_IsNumber(v))
                        old = MAX(old, MIN(json_u64(v, 0) + 1, (uint64_t) n));
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(info, "tooNewLogEventStartIndex");
        if (cJSON_IsNumber(v))
                new_from = (size_t) MIN(json_u64(v, n), (uint64_t) n);
        return (size_t) old + (n - MAX((size_t) old, new_from));
}

int forward_events_parse_reply(const char *body, size_t len, size_t n, char (*ret_failed)[64]) {
        _cleanup_json_ cJSON *j = cJSON_ParseWithLength(body, len);
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(j, "Entries");
        int failed = 0;

        if (!cJSON_IsObject(j) || !cJSON_IsArray(entries) || (size_t) cJSON_GetArraySize(entries) != n)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                const cJSON *e = cJSON_GetArrayItem(entries, (int) i);
                const char *code = json_get_string(e, "ErrorCode");
                if (!cJSON_IsObject(e))
                        return -EBADMSG;
                snprintf(ret_failed[i], 64, "%s", code && code[0] ? code : "");
                failed += ret_failed[i][0] != 0;
        }
        return failed;
}

char *forward_instance_arn(char *buf, size_t size, const char *region, const char *account, const char *id) {
        const char *partition = startswith(region ?: "", "cn-")       ? "aws-cn"
                                : startswith(region ?: "", "us-gov-") ? "aws-us-gov"
                                                                      : "aws";
        if (!region || !region[0] || !account || !account[0] || !id || !id[0])
                return NULL;
        snprintf(buf, size, "arn:%s:ec2:%s:%s:instance/%s", partition, region, account, id);
        return buf;
}
