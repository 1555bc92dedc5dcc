/* imds.h — IMDSv2: instance identity, credentials and notices; pure parsers and the loop source. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "event.h"
#include "http.h"
#include "util.h"

#define IMDS_TOKEN_TTL_S   21600
#define IMDS_MAX_BODY      (64U * 1024U)
#define IMDS_MAX_SCHEDULED 32
#define IMDS_ID_MAX        AWS_ID_MAX

#define IMDS_REJECTED_REGION 1U /* left "": never a host name, never signed for */
#define IMDS_REJECTED_AZ     2U

typedef struct SpotNotice {
        char action[16]; /* terminate, stop, hibernate */
        usec_t time;     /* realtime */
} SpotNotice;

typedef struct ScheduledEvent {
        char event_id[IMDS_ID_MAX];
        char code[32];  /* instance-reboot, system-reboot, system-maintenance, instance-retirement,
                           instance-stop */
        char state[16]; /* active, completed, canceled */
        usec_t not_before, not_after, not_before_deadline; /* 0 when absent */
        char description[256];
} ScheduledEvent;

/* ---- pure parsers: bytes in, struct out; *ret untouched on failure ---- */

/* spot/instance-action: {"action": "terminate", "time": "2017-09-18T08:22:00Z"}. -EBADMSG when
 * not such a document, -EINVAL for an unknown action or a bad time. */
int imds_parse_spot(const char *body, size_t len, SpotNotice *ret);

/* events/recommendations/rebalance: {"noticeTime": "2020-10-27T08:22:00Z"}. */
int imds_parse_rebalance(const char *body, size_t len, usec_t *ret);

/* autoscaling/target-lifecycle-state: a word such as "InService" or "Warmed:Running". */
int imds_parse_lifecycle_state(const char *body, size_t len, char ret[static 64]);

/* events/maintenance/scheduled: a JSON array of {"Code", "Description", "EventId", "NotAfter",
 * "NotBefore", "NotBeforeDeadline", "State"} with times as "21 Jan 2019 09:00:43 GMT".
 * Fills at most IMDS_MAX_SCHEDULED entries of RET; returns their number or -EBADMSG. */
int imds_parse_scheduled(const char *body, size_t len, ScheduledEvent ret[static IMDS_MAX_SCHEDULED]);

/* "21 Jan 2019 09:00:43 GMT" → µs since the epoch. */
int imds_parse_event_time(const char *s, usec_t *ret);

/* dynamic/instance-identity/document → identity. The region and the availability zone become
 * host names and credential scopes, so each is kept only when it is [a-z0-9-]{1,32} (SPEC §3);
 * otherwise it is left "" and flagged in RET->rejected. The instance id, type and AMI id must be
 * [a-z0-9.-] words, or the document is refused (-EBADMSG). */
int imds_parse_identity(const char *body, size_t len, InstanceIdentity *ret);

/* iam/security-credentials/ROLE → credentials; -EACCES when "Code" is not "Success". */
int imds_parse_credentials(const char *body, size_t len, AwsCredentials *ret);

/* iam/security-credentials/ → the first role name (one line), which becomes part of a URL path:
 * only IAM's role-name characters [A-Za-z0-9+=,.@_-], never "." or ".."; -EINVAL otherwise. */
int imds_parse_role(const char *body, size_t len, char ret[static IMDS_ID_MAX]);

/* A plain-text value (an id, a region, a tag): printable ASCII without spaces, at most MAX-1
 * bytes, one line (a trailing newline is dropped). */
int imds_parse_word(const char *body, size_t len, char *ret, size_t max);

/* ---- notices: what is known, and the events a new observation makes ---- */

typedef struct ImdsNotices {
        bool spot_known;
        SpotNotice spot;
        usec_t rebalance;   /* 0: none */
        char lifecycle[64]; /* "" until known */
        ScheduledEvent scheduled[IMDS_MAX_SCHEDULED];
        size_t n_scheduled;
        bool scheduled_known; /* the list was fetched at least once */
} ImdsNotices;

/* Each of these compares one fresh observation with KNOWN, updates KNOWN, and emits the events
 * the change makes (a new spot notice, a rebalance recommendation, a lifecycle transition into
 * Terminated or Warmed:*, a scheduled event that is new, rescheduled, canceled or completed).
 * NULL / 0 / "" observations mean the notice is gone (IMDS answered 404). Returns true when
 * KNOWN changed (so the caller persists it). SINK takes the events. */
bool imds_observe_spot(ImdsNotices *known, const SpotNotice *now, const EventSink *sink);
bool imds_observe_rebalance(ImdsNotices *known, usec_t notice_time, const EventSink *sink);
bool imds_observe_lifecycle(ImdsNotices *known, const char *state, const EventSink *sink);
bool imds_observe_scheduled(ImdsNotices *known, const ScheduledEvent *list, size_t n, const EventSink *sink);

/* KNOWN as JSON (the persisted form and the status "notices" object), and back. */
cJSON *imds_notices_to_json(const ImdsNotices *n, bool for_status);
int imds_notices_from_json(const cJSON *j, ImdsNotices *ret);

/* Loads STATE_DIR/imds-notices.json into *RET. Returns 1 when loaded, 0 when absent, a negative
 * errno when unreadable; a corrupt file (not JSON, or not a notices object) is set aside as
 * imds-notices.json.corrupt with a warning, and the caller starts with nothing known. */
int imds_notices_load(const char *state_dir, ImdsNotices *ret);

/* ---- the source on the loop ---- */

typedef struct ImdsOptions {
        const char *endpoint; /* base URL */
        unsigned poll_interval_s;
        unsigned scheduled_interval_s;
        unsigned timeout_ms;
        bool fetch_credentials; /* false when the environment has keys */
        const char *state_dir;  /* for imds-notices.json; NULL: not persisted */
} ImdsOptions;

typedef struct Imds Imds;

/* Starts identity, notice and credential polling on EVENT through HTTP. Events go to SINK (copied).
 * Returns 0 or a negative errno. */
int imds_new(sd_event *event, Http *http, const ImdsOptions *opts, const EventSink *sink, Imds **ret);
Imds *imds_free(Imds *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Imds *, imds_free);

/* What is known: NULL until the identity was fetched once. */
const InstanceIdentity *imds_identity(const Imds *m);
const char *imds_asg_name(const Imds *m); /* NULL when not in an ASG or tags not in metadata */
/* True once the group tag lookup has answered, with a name or a 404. */
bool imds_asg_known(const Imds *m);
const AwsCredentials *imds_credentials(const Imds *m); /* NULL until fetched */

/* Writes the status objects "instance", "imds" and "notices" of DOC; M NULL (IMDS disabled) writes
 * their absent shape: not on EC2, every notice null. Returns 0 or -ENOMEM. */
int imds_status(const Imds *m, cJSON *doc);
