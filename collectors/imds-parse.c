/* imds-parse.c — IMDSv2 bodies to structs, and the events a change of notice makes. Pure: no I/O.
 *
 * Formats, from the EC2 User Guide ("Instance metadata categories", "Spot Instance interruption
 * notices", "Scheduled events", "Rebalance recommendations", "Auto Scaling target lifecycle"):
 *   spot/instance-action              {"action": "terminate", "time": "2017-09-18T08:22:00Z"}
 *   events/recommendations/rebalance  {"noticeTime": "2020-10-27T08:22:00Z"}
 *   autoscaling/target-lifecycle-state  InService
 *   events/maintenance/scheduled      [{"NotBefore": "21 Jan 2019 09:00:43 GMT", "Code": "system-reboot",
 *                                       "Description": "scheduled reboot", "EventId":
 *                                       "instance-event-0d59937288b749b32", "NotAfter":
 *                                       "21 Jan 2019 09:17:23 GMT", "State": "active"}]
 * Every body is untrusted: lengths are capped, strings checked, times validated. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/imds.h"
#include "ec2agent/json.h"

/* Parses LEN bytes as a JSON document of the expected kind; NULL on anything else. */
static cJSON *parse_json(const char *body, size_t len) {
        if (len == 0 || len > IMDS_MAX_BODY || memchr(body, 0, len))
                return NULL;
        return cJSON_ParseWithLength(body, len);
}

static bool printable(const char *s, bool spaces) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f || (!spaces && *s == ' '))
                        return false;
        return true;
}

/* Copies JSON string OBJ[KEY] into DST (MAX bytes) when present, printable and short enough. */
static int copy_string(const cJSON *obj, const char *key, char *dst, size_t max, bool spaces) {
        const char *s = json_get_string(obj, key);
        if (!s)
                return -ENOENT;
        if (strlen(s) >= max || !printable(s, spaces))
                return -EINVAL;
        memcpy(dst, s, strlen(s) + 1);
        return 0;
}

int imds_parse_word(const char *body, size_t len, char *ret, size_t max) {
        if (len > 0 && body[len - 1] == '\n')
                len--;
        if (len == 0 || len >= max)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) body[i] <= 0x20 || (unsigned char) body[i] >= 0x7f)
                        return -EINVAL;
        memcpy(ret, body, len);
        ret[len] = 0;
        return 0;
}

int imds_parse_spot(const char *body, size_t len, SpotNotice *ret) {
        static const char *const actions[] = { "terminate", "stop", "hibernate" };
        _cleanup_json_ cJSON *j = parse_json(body, len);
        SpotNotice n = {};
        size_t i;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        const char *action = json_get_string(j, "action");
        for (i = 0; action && i < ELEMENTSOF(actions); i++)
                if (strcmp(action, actions[i]) == 0)
                        break;
        if (!action || i == ELEMENTSOF(actions))
                return -EINVAL;
        if (parse_rfc3339(json_get_string(j, "time"), &n.time) < 0)
                return -EINVAL;
        snprintf(n.action, sizeof n.action, "%s", action);
        *ret = n;
        return 0;
}

int imds_parse_rebalance(const char *body, size_t len, usec_t *ret) {
        _cleanup_json_ cJSON *j = parse_json(body, len);
        usec_t t;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        if (parse_rfc3339(json_get_string(j, "noticeTime"), &t) < 0)
                return -EINVAL;
        *ret = t;
        return 0;
}

int imds_parse_lifecycle_state(const char *body, size_t len, char ret[static 64]) {
        char w[64];
        int r = imds_parse_word(body, len, w, sizeof w);
        if (r < 0)
                return r;
        /* InService, Terminated, Detached, Standby, Warmed:Pending, …: letters and one ':'. */
        if (strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:") != strlen(w))
                return -EINVAL;
        memcpy(ret, w, strlen(w) + 1);
        return 0;
}

int imds_parse_event_time(const char *s, usec_t *ret) {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char iso[32];
        unsigned day = 0, month = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        /* "21 Jan 2019 09:00:43 GMT": a day of one or two digits, then fixed fields. */
        while (*p >= '0' && *p <= '9' && p - s < 2)
                day = day * 10 + (unsigned) (*p++ - '0');
        if (p == s || *p++ != ' ' || strlen(p) != strlen("Jan 2019 09:00:43 GMT"))
                return -EINVAL;
        for (month = 0; month < 12; month++)
                if (memcmp(p, months + 3 * month, 3) == 0)
                        break;
        if (month == 12 || p[3] != ' ' || p[8] != ' ' || strcmp(p + 17, " GMT") != 0)
                return -EINVAL;
        /* Reuse the RFC 3339 parser, which validates every field. */
        if (snprintf(iso, sizeof iso, "%.4s-%02u-%02uT%.8sZ", p + 4, month + 1, day, p + 9) >=
            (int) sizeof iso)
                return -EINVAL;
        return parse_rfc3339(iso, ret);
}

int imds_parse_scheduled(const char *body, size_t len, ScheduledEvent ret[static IMDS_MAX_SCHEDULED]) {
        _cleanup_json_ cJSON *j = parse_json(body, len);
        const cJSON *e;
        int n = 0;

        if (!cJSON_IsArray(j))
                return -EBADMSG;
        cJSON_ArrayForEach (e, j) {
                ScheduledEvent ev = {};
                if (n >= IMDS_MAX_SCHEDULED)
                        break;
                if (!cJSON_IsObject(e) ||
                    copy_string(e, "EventId", ev.event_id, sizeof ev.event_id, false) < 0 ||
                    copy_string(e, "Code", ev.code, sizeof ev.code, false) < 0 ||
                    copy_string(e, "State", ev.state, sizeof ev.state, false) < 0 ||
                    imds_parse_event_time(json_get_string(e, "NotBefore"), &ev.not_before) < 0)
                        return -EBADMSG; /* a half-understood list is not trusted at all */
                if (json_get_string(e, "NotAfter") &&
                    imds_parse_event_time(json_get_string(e, "NotAfter"), &ev.not_after) < 0)
                        return -EBADMSG;
                if (json_get_string(e, "NotBeforeDeadline") &&
                    imds_parse_event_time(json_get_string(e, "NotBeforeDeadline"), &ev.not_before_deadline) <
                            0)
                        return -EBADMSG;
                (void) copy_string(e, "Description", ev.description, sizeof ev.description, true);
                ret[n++] = ev;
        }
        return n;
}

/* True when S is 1..MAX bytes, all of ACCEPT. */
static bool word_of(const char *s, const char *accept, size_t max) {
        size_t n = strlen(s);
        return n >= 1 && n <= max && strspn(s, accept) == n;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define NAME_MAX_LEN 32 /* SPEC §3: a region name is at most 32 */

int imds_parse_identity(const char *body, size_t len, InstanceIdentity *ret) {
        _cleanup_json_ cJSON *j = parse_json(body, len);
        InstanceIdentity id = {};

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        if (copy_string(j, "instanceId", id.instance_id, sizeof id.instance_id, false) < 0 ||
            copy_string(j, "instanceType", id.instance_type, sizeof id.instance_type, false) < 0 ||
            copy_string(j, "imageId", id.ami_id, sizeof id.ami_id, false) < 0 ||
            !word_of(id.instance_id, LOWER_DIGITS "-", 64) ||
            !word_of(id.instance_type, LOWER_DIGITS ".-", 64) || !word_of(id.ami_id, LOWER_DIGITS "-", 64))
                return -EBADMSG;
        /* "https://monitoring." REGION ".amazonaws.com": a region "x@127.0.0.1:8080#" would send
         * signed requests to 127.0.0.1:8080. Kept only when it is a region name. */
        if (copy_string(j, "region", id.region, sizeof id.region, false) < 0 ||
            !word_of(id.region, LOWER_DIGITS "-", NAME_MAX_LEN)) {
                id.region[0] = 0;
                id.rejected |= IMDS_REJECTED_REGION;
        }
        if (copy_string(j, "availabilityZone", id.availability_zone, sizeof id.availability_zone, false) <
                    0 ||
            !word_of(id.availability_zone, LOWER_DIGITS "-", NAME_MAX_LEN)) {
                id.availability_zone[0] = 0;
                id.rejected |= IMDS_REJECTED_AZ;
        }
        (void) copy_string(j, "accountId", id.account_id, sizeof id.account_id, false);
        *ret = id;
        return 0;
}

int imds_parse_credentials(const char *body, size_t len, AwsCredentials *ret) {
        _cleanup_json_ cJSON *j = parse_json(body, len);
        AwsCredentials c = {};
        const char *code;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        code = json_get_string(j, "Code");
        if (code && strcmp(code, "Success") != 0)
                return -EACCES;
        if (copy_string(j, "AccessKeyId", c.access_key_id, sizeof c.access_key_id, false) < 0 ||
            copy_string(j, "SecretAccessKey", c.secret_access_key, sizeof c.secret_access_key, false) < 0 ||
            copy_string(j, "Token", c.session_token, sizeof c.session_token, false) < 0 ||
            parse_rfc3339(json_get_string(j, "Expiration"), &c.expiration) < 0 || !c.access_key_id[0] ||
            !c.secret_access_key[0]) /* an empty key would sign every request with nothing */
                return -EBADMSG;
        *ret = c;
        return 0;
}

int imds_parse_role(const char *body, size_t len, char ret[static IMDS_ID_MAX]) {
        const char *nl = memchr(body, '\n', len);
        char role[IMDS_ID_MAX];
        int r = imds_parse_word(body, nl ? (size_t) (nl - body) : len, role, sizeof role);

        if (r < 0)
                return r;
        /* IAM role names: [\w+=,.@-]{1,64}. The name is appended to an IMDS path: no '/', '?',
         * '#', '%', and no dot segment. */
        if (!word_of(role, LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ+=,.@_-", 64) || strcmp(role, ".") == 0 ||
            strcmp(role, "..") == 0)
                return -EINVAL;
        memcpy(ret, role, strlen(role) + 1);
        return 0;
}

/* ---- notices ---- */

bool imds_observe_spot(ImdsNotices *known, const SpotNotice *now, const EventSink *sink) {
        char t[RFC3339_MAX];

        if (!now) {
                if (!known->spot_known)
                        return false;
                known->spot_known = false; /* withdrawn: a later notice is a new one */
                return true;
        }
        if (known->spot_known && known->spot.time == now->time &&
            strcmp(known->spot.action, now->action) == 0)
                return false;
        known->spot_known = true;
        known->spot = *now;
        Event *e = event_new("spot-interruption", "spot interruption: %s at %s", now->action,
                             format_rfc3339(t, now->time));
        if (e) {
                cJSON_AddStringToObject(e->detail, "action", now->action);
                json_add_time(e->detail, "time", now->time);
        }
        event_sink_emit(sink, e);
        return true;
}

bool imds_observe_rebalance(ImdsNotices *known, usec_t notice_time, const EventSink *sink) {
        char t[RFC3339_MAX];

        if (known->rebalance == notice_time)
                return false;
        known->rebalance = notice_time;
        if (notice_time == 0)
                return true;
        Event *e = event_new("rebalance-recommendation", "rebalance recommended at %s",
                             format_rfc3339(t, notice_time));
        if (e)
                json_add_time(e->detail, "notice_time", notice_time);
        event_sink_emit(sink, e);
        return true;
}

bool imds_observe_lifecycle(ImdsNotices *known, const char *state, const EventSink *sink) {
        char before[64];
        const char *type = NULL;

        state = state ?: "";
        if (strcmp(known->lifecycle, state) == 0)
                return false;
        snprintf(before, sizeof before, "%s", known->lifecycle);
        snprintf(known->lifecycle, sizeof known->lifecycle, "%s", state);
        if (strcmp(state, "Terminated") == 0)
                type = "asg-terminate";
        else if (startswith(state, "Warmed:") && !startswith(before, "Warmed:"))
                type = "asg-warm-pool";
        if (type) {
                Event *e = event_new(type, "auto scaling target lifecycle state %s%s%s",
                                     *before ? before : "", *before ? " -> " : "", state);
                if (e) {
                        json_add_string_or_null(e->detail, "from", *before ? before : NULL);
                        cJSON_AddStringToObject(e->detail, "to", state);
                }
                event_sink_emit(sink, e);
        }
        return true;
}

static const ScheduledEvent *find_scheduled(const ScheduledEvent *list, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].event_id, id) == 0)
                        return &list[i];
        return NULL;
}

static void emit_scheduled(const ScheduledEvent *ev, const char *change, const EventSink *sink) {
        char type[64], nb[RFC3339_MAX];
        bool known_code = false;

        for (const char *const *c = maintenance_codes; *c; c++)
                known_code = known_code || strcmp(*c, ev->code) == 0;
        /* An unknown code still becomes an event; rules can only name the known ones. */
        snprintf(type, sizeof type, "maintenance:%s", ev->code);
        Event *e = event_new(type, "scheduled %s %s (%s), not before %s", ev->code, change, ev->event_id,
                             format_rfc3339(nb, ev->not_before));
        if (!e)
                return;
        if (strcmp(change, "canceled") == 0 || strcmp(change, "completed") == 0)
                e->severity = SEVERITY_INFO;
        cJSON_AddStringToObject(e->detail, "change", change);
        cJSON_AddStringToObject(e->detail, "event_id", ev->event_id);
        cJSON_AddStringToObject(e->detail, "code", ev->code);
        cJSON_AddBoolToObject(e->detail, "known_code", known_code);
        cJSON_AddStringToObject(e->detail, "state", ev->state);
        json_add_time(e->detail, "not_before", ev->not_before);
        json_add_time(e->detail, "not_after", ev->not_after);
        json_add_time(e->detail, "not_before_deadline", ev->not_before_deadline);
        cJSON_AddStringToObject(e->detail, "description", ev->description);
        event_sink_emit(sink, e);
}

bool imds_observe_scheduled(ImdsNotices *known, const ScheduledEvent *list, size_t n,
                            const EventSink *sink) {
        bool changed = !known->scheduled_known || known->n_scheduled != n;

        for (size_t i = 0; i < n; i++) {
                const ScheduledEvent *now = &list[i],
                                     *was = find_scheduled(known->scheduled, known->n_scheduled,
                                                           now->event_id);
                const char *change = NULL;
                if (!was) /* first seen: only a pending event is news; a finished one is history */
                        change = strcmp(now->state, "active") == 0 ? "scheduled" : NULL;
                else if (strcmp(was->state, now->state) != 0)
                        change = now->state; /* completed, canceled */
                else if (was->not_before != now->not_before || was->not_after != now->not_after)
                        change = "rescheduled";
                else if (memcmp(was, now, sizeof *now) != 0)
                        changed = true;
                if (change) {
                        changed = true;
                        emit_scheduled(now, change, sink);
                }
        }
        /* An active event that vanished from the list without completing was withdrawn. */
        for (size_t i = 0; i < known->n_scheduled; i++) {
                const ScheduledEvent *was = &known->scheduled[i];
                if (!find_scheduled(list, n, was->event_id) && strcmp(was->state, "active") == 0) {
                        ScheduledEvent gone = *was;
                        snprintf(gone.state, sizeof gone.state, "canceled");
                        emit_scheduled(&gone, "canceled", sink);
                        changed = true;
                }
        }
        if (n > 0)
                memcpy(known->scheduled, list, n * sizeof *list);
        known->n_scheduled = n;
        known->scheduled_known = true;
        return changed;
}

/* ---- JSON ---- */

cJSON *imds_notices_to_json(const ImdsNotices *n, bool for_status) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        cJSON *o, *list;

        if (!j)
                return NULL;
        if (n->spot_known) {
                if (!(o = cJSON_AddObjectToObject(j, "spot")) ||
                    !cJSON_AddStringToObject(o, "action", n->spot.action) ||
                    !json_add_time(o, "time", n->spot.time))
                        return NULL;
        } else if (!cJSON_AddNullToObject(j, "spot"))
                return NULL;
        if (n->rebalance) {
                if (!(o = cJSON_AddObjectToObject(j, "rebalance")) ||
                    !json_add_time(o, "notice_time", n->rebalance))
                        return NULL;
        } else if (!cJSON_AddNullToObject(j, "rebalance"))
                return NULL;
        if (!json_add_string_or_null(j, "asg_target_lifecycle_state", *n->lifecycle ? n->lifecycle : NULL) ||
            !(list = cJSON_AddArrayToObject(j, "scheduled")))
                return NULL;
        for (size_t i = 0; i < n->n_scheduled; i++) {
                const ScheduledEvent *e = &n->scheduled[i];
                if (!(o = cJSON_CreateObject()) || !cJSON_AddItemToArray(list, o)) {
                        cJSON_Delete(o);
                        return NULL;
                }
                if (!cJSON_AddStringToObject(o, "event_id", e->event_id) ||
                    !cJSON_AddStringToObject(o, "code", e->code) ||
                    !cJSON_AddStringToObject(o, "state", e->state) ||
                    !json_add_time(o, "not_before", e->not_before) ||
                    !json_add_time(o, "not_after", e->not_after) ||
                    !json_add_time(o, "not_before_deadline", e->not_before_deadline) ||
                    !cJSON_AddStringToObject(o, "description", e->description))
                        return NULL;
        }
        if (!for_status && !cJSON_AddBoolToObject(j, "scheduled_known", n->scheduled_known))
                return NULL;
        return TAKE_PTR(j);
}

static usec_t time_of(const cJSON *o, const char *key) {
        usec_t t;
        return parse_rfc3339(json_get_string(o, key), &t) < 0 ? 0 : t;
}

int imds_notices_from_json(const cJSON *j, ImdsNotices *ret) {
        ImdsNotices n = {};
        const cJSON *spot = cJSON_GetObjectItemCaseSensitive(j, "spot"), *e;

        if (!cJSON_IsObject(j))
                return -EBADMSG;
        if (cJSON_IsObject(spot) &&
            copy_string(spot, "action", n.spot.action, sizeof n.spot.action, false) == 0 &&
            (n.spot.time = time_of(spot, "time")))
                n.spot_known = true;
        n.rebalance = time_of(cJSON_GetObjectItemCaseSensitive(j, "rebalance"), "notice_time");
        (void) copy_string(j, "asg_target_lifecycle_state", n.lifecycle, sizeof n.lifecycle, false);
        cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive(j, "scheduled")) {
                ScheduledEvent *s = &n.scheduled[n.n_scheduled];
                if (n.n_scheduled >= IMDS_MAX_SCHEDULED)
                        break;
                if (copy_string(e, "event_id", s->event_id, sizeof s->event_id, false) < 0 ||
                    copy_string(e, "code", s->code, sizeof s->code, false) < 0 ||
                    copy_string(e, "state", s->state, sizeof s->state, false) < 0)
                        continue;
                s->not_before = time_of(e, "not_before");
                s->not_after = time_of(e, "not_after");
                s->not_before_deadline = time_of(e, "not_before_deadline");
                (void) copy_string(e, "description", s->description, sizeof s->description, true);
                n.n_scheduled++;
        }
        n.scheduled_known = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "scheduled_known"));
        *ret = n;
        return 0;
}
