/* forward.h — every event to CloudWatch Logs (PutLogEvents) and EventBridge (PutEvents), in order,
 * through a spool in the state directory that survives restarts and SIGKILL. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "config.h"
#include "http.h"

#define FORWARD_LOGS_MAX_EVENTS  10000
#define FORWARD_LOGS_MAX_BYTES   1048576 /* the sum of each message's bytes + 26 */
#define FORWARD_LOGS_EVENT_BYTES 26
#define FORWARD_LOGS_MAX_SPAN    (24 * USEC_PER_HOUR)
#define FORWARD_EVENTS_MAX       10
#define FORWARD_EVENTS_MAX_BYTES (256U * 1024U)
#define FORWARD_SPOOL_MAX_BYTES  (8U * 1024U * 1024U) /* per target */
#define FORWARD_SPOOL_FILE_BYTES (256U * 1024U)       /* a spool file is closed past this */

typedef struct Forwarder Forwarder;

/* One event as the forwarder sends it: its events.jsonl line, its type and time (`at`). */
typedef struct ForwardLine {
        const char *line; /* not NUL-terminated necessarily: LEN bytes */
        size_t len;
        usec_t at;
} ForwardLine;

/* Reads `at` (and, when RET_TYPE is given — 128 bytes —, `type`, at most 127 bytes) of the events.jsonl LINE
 * of LEN bytes. Returns 0, or -EBADMSG when LINE is not an event object with an RFC 3339 `at`. Pure. */
int forward_parse_line(const char *line, size_t len, usec_t *ret_at, char *ret_type);

/* How many of the N lines (oldest first) one PutLogEvents may carry: at most 10 000, at most
 * 1 048 576 bytes counting 26 a line, spanning at most 24 h. At least 1 when N > 0. Pure. */
size_t forward_logs_take(const ForwardLine *lines, size_t n);

/* The PutLogEvents body for the N lines into B, sorted by time (stably: equal times keep their
 * order). Returns 0 or a negative errno. */
int forward_logs_body(Buf *b, const char *group, const char *stream, const ForwardLine *lines, size_t n);

/* How many of the N events of a PutLogEvents batch its 200 reply BODY says were refused
 * (rejectedLogEventsInfo: too old, expired, too new). 0 for anything else. Pure. */
size_t forward_logs_parse_rejected(const char *body, size_t len, size_t n);

/* The PutEvents body for the N (≤ 10) lines into B: Source "ec2agent", DetailType the type, Detail
 * the line, EventBusName BUS, Resources [ARN] (none when ARN is NULL), Time the event's second.
 * Returns 0 or a negative errno (-EBADMSG for a line that is no event). */
int forward_events_body(Buf *b, const char *bus, const char *arn, const ForwardLine *lines, size_t n);

/* Reads a PutEvents reply for N entries: RET_FAILED[i] is set to the entry's ErrorCode (at most 63
 * bytes) or "" when it was accepted. Returns the number of failed entries, or -EBADMSG when the
 * reply is not one (then nothing is known and all count as failed). Pure. */
int forward_events_parse_reply(const char *body, size_t len, size_t n, char (*ret_failed)[64]);

/* "arn:PARTITION:ec2:REGION:ACCOUNT:instance/ID" into BUF (aws-cn for cn-*, aws-us-gov for
 * us-gov-*). Returns BUF, or NULL when a part is missing. */
char *forward_instance_arn(char *buf, size_t size, const char *region, const char *account, const char *id);

/* Starts the targets CONFIG turns on; their spools live in STATE_DIR/forward/. *RET is NULL when
 * both are off. Returns 0 or a negative errno. */
int forwarder_new(sd_event *event, Http *http, const Config *config, const char *state_dir,
                  const AwsEnv *env, Forwarder **ret);
/* Cancels what is in flight (it is still in the spool, and sent again at the next start). */
Forwarder *forwarder_free(Forwarder *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(Forwarder *, forwarder_free);

/* Takes one event of TYPE as its events.jsonl LINE: appended to each target's spool that wants it
 * (a write(2), never a wait), sent from the loop later. F may be NULL. */
void forwarder_on_event(Forwarder *f, const char *type, const char *line);

/* Writes status "forward" of DOC: both targets, "enabled": false for one that is off (F NULL: both).
 * Returns 0 or -ENOMEM. */
int forwarder_status(const Forwarder *f, cJSON *doc);
