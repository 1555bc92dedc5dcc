/* engine-state.c — the engine's state file, STATE_DIR/actions.json: what it holds (rules' firings
 * and instances, pending before_s firings, the reboot count, runs and their actions), loading it
 * at start, and the one place that decides when it is written: once per loop iteration through a
 * dirty flag and a timer source, a firing at once (SYNC_SAVES_PER_SEC a second at most), the
 * reboot count before the reboot, and at engine_flush() and exit. Each save rewrites the whole
 * file atomically (write_file_atomic: a crash leaves the old file or the new one). */
#include <errno.h>
#include <string.h>

#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "engine-internal.h"

#define SAVE_GAP_USEC      (50 * USEC_PER_MSEC) /* between two saves: the loop answers status */
#define SYNC_SAVES_PER_SEC 4 /* firings saved before engine_on_event returns; a burst waits */

static cJSON *run_to_json(const Run *r) {
        cJSON *j = cJSON_CreateObject(), *acts;
        if (!j || !cJSON_AddStringToObject(j, "id", r->id) ||
            !cJSON_AddStringToObject(j, "rule", r->rule_name) ||
            !cJSON_AddStringToObject(j, "type", r->type) ||
            !cJSON_AddStringToObject(j, "instance", r->instance) ||
            !cJSON_AddStringToObject(j, "summary", r->summary) ||
            !json_add_time(j, "fired_at", r->fired_at) ||
            !cJSON_AddNumberToObject(j, "deadline_us", (double) r->deadline) ||
            !cJSON_AddBoolToObject(j, "finished", r->finished) ||
            !cJSON_AddBoolToObject(j, "announced", r->announced) ||
            !cJSON_AddItemToObject(j, "detail", cJSON_Duplicate(r->detail, true)) ||
            !(acts = cJSON_AddArrayToObject(j, "actions"))) {
                cJSON_Delete(j);
                return NULL;
        }
        for (size_t i = 0; i < r->n_actions; i++) {
                const Action *a = &r->actions[i];
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(acts, o)) {
                        cJSON_Delete(o);
                        cJSON_Delete(j);
                        return NULL;
                }
                if (!cJSON_AddNumberToObject(o, "step", (double) a->step) ||
                    !cJSON_AddStringToObject(o, "target", a->target) ||
                    !cJSON_AddStringToObject(o, "state", action_state_to_string(a->state)) ||
                    !json_add_time(o, "started_at", a->started_at) ||
                    !json_add_time(o, "finished_at", a->finished_at) ||
                    !json_add_string_or_null(o, "error", a->error[0] ? a->error : NULL)) {
                        cJSON_Delete(j); /* and O with it */
                        return NULL;
                }
        }
        return j;
}

/* A rule's remembered instances as a JSON array (an empty one for a rule that never fired:
 * cJSON_CreateStringArray(NULL, 0) is NULL in cJSON 1.7.15). NULL only on ENOMEM. */
static cJSON *instances_to_json(char **instances) {
        cJSON *a = cJSON_CreateArray();
        for (char **k = instances; a && k && *k; k++)
                if (!cJSON_AddItemToArray(a, cJSON_CreateString(*k))) {
                        cJSON_Delete(a);
                        return NULL;
                }
        return a;
}

/* The text of run R in actions.json; NULL on ENOMEM. A queued or finished run does not change: its
 * text is kept, so a save with a thousand queued runs does not print them a thousand times. */
static const char *run_saved_text(Run *r) {
        if (r->saved && (r->started && !r->finished
                                 ? false
                                 : r->saved_announced == r->announced && r->saved_finished == r->finished))
                return r->saved;
        _cleanup_json_ cJSON *j = run_to_json(r);
        r->saved = mfree(r->saved);
        if (!j || !(r->saved = cJSON_PrintUnformatted(j)))
                return NULL;
        r->saved_announced = r->announced;
        r->saved_finished = r->finished;
        return r->saved;
}

/* The whole state but its runs as one JSON document, or NULL (ENOMEM: cJSON fails on nothing else
 * here). */
static cJSON *engine_state_to_json(const Engine *e) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        cJSON *rules, *pend, *reboots;
        usec_t now = now_usec(CLOCK_REALTIME);

        if (!j || !(rules = cJSON_AddObjectToObject(j, "rules")) ||
            !(pend = cJSON_AddArrayToObject(j, "pending")) ||
            !(reboots = cJSON_AddArrayToObject(j, "reboots")))
                return NULL;
        for (size_t i = 0; i < e->config->n_rules; i++) {
                const RuleState *rs = &e->rules[i];
                cJSON *o = cJSON_AddObjectToObject(rules, rs->rule->name), *inst;
                if (!o || !cJSON_AddNumberToObject(o, "fired", (double) rs->fired) ||
                    !json_add_time(o, "last_fired_at", rs->last_fired_at) ||
                    (rs->rule->metric && !cJSON_AddBoolToObject(o, "armed", rs->armed)) ||
                    !(inst = instances_to_json(rs->instances)))
                        return NULL;
                if (!cJSON_AddItemToObject(o, "instances", inst)) {
                        cJSON_Delete(inst);
                        return NULL;
                }
        }
        for (size_t i = 0; i < e->n_pending; i++) {
                const Pending *p = e->pending[i];
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(pend, o)) {
                        cJSON_Delete(o);
                        return NULL;
                }
                if (!cJSON_AddStringToObject(o, "rule", e->config->rules[p->rule].name) ||
                    !cJSON_AddStringToObject(o, "key", p->key) ||
                    !cJSON_AddStringToObject(o, "type", p->type) ||
                    !cJSON_AddStringToObject(o, "summary", p->summary) ||
                    !cJSON_AddNumberToObject(o, "fire_at_us", (double) p->fire_at) ||
                    !cJSON_AddNumberToObject(o, "deadline_us", (double) p->deadline) ||
                    !cJSON_AddItemToObject(o, "detail", cJSON_Duplicate(p->detail, true)))
                        return NULL;
        }
        for (size_t i = 0; i < e->n_reboots; i++)
                if (e->reboots[i] + USEC_PER_DAY > now &&
                    !cJSON_AddItemToArray(reboots, cJSON_CreateNumber((double) e->reboots[i])))
                        return NULL;
        return TAKE_PTR(j);
}

/* Every run as it is now is in actions.json: its steps may go on. */
static void runs_saved(Engine *e) {
        for (size_t i = 0; i < e->n_runs; i++) {
                e->runs[i]->durable = true;
                e->runs[i]->durable_announced = e->runs[i]->announced;
        }
}

/* Writes STATE_DIR/actions.json now. Returns 0 or a negative errno, logged here with its real
 * cause. */
static int engine_save(Engine *e) {
        _cleanup_json_ cJSON *j = engine_state_to_json(e);
        _cleanup_free_ char *head = j ? cJSON_PrintUnformatted(j) : NULL;
        Buf text;
        int k = head ? 0 : -ENOMEM;

        /* {"rules":…,"pending":…,"reboots":…,"runs":[…]}: the runs spliced in as text */
        buf_init(&text, ENGINE_STATE_MAX);
        if (k >= 0)
                k = buf_append(&text, head, strlen(head) - 1);
        if (k >= 0)
                k = buf_append(&text, ",\"runs\":[", 9);
        for (size_t i = 0; k >= 0 && i < e->n_runs; i++) {
                const char *run = run_saved_text(e->runs[i]);
                k = !run ? -ENOMEM : i > 0 ? buf_append(&text, ",", 1) : 0;
                if (k >= 0)
                        k = buf_append(&text, run, strlen(run));
        }
        if (k >= 0)
                k = buf_append(&text, "]}", 2);
        if (k < 0) {
                buf_done(&text);
                return log_error_errno(k, "Cannot save the rules' state: %m");
        }
        k = write_file_atomic(e->state_dir, ENGINE_STATE_FILE, text.data, text.len, 0640);
        buf_done(&text);
        if (k >= 0)
                runs_saved(e);
        if (k < 0)
                return log_error_errno(k, "Cannot save the rules' state to %s/%s: %m", e->state_dir,
                                       ENGINE_STATE_FILE);
        return 0;
}

/* The run O of actions.json, or NULL when its rule is gone from the configuration (or ENOMEM). */
static Run *run_from_json(Engine *e, const cJSON *o) {
        ssize_t i = engine_rule_index(e, json_get_string(o, "rule"));
        const cJSON *acts = cJSON_GetObjectItemCaseSensitive(o, "actions"), *x;
        usec_t t;

        if (i < 0 || !json_get_string(o, "type") || !json_get_string(o, "instance"))
                return NULL;
        Run *r = run_new(e, (size_t) i, json_get_string(o, "type"), json_get_string(o, "instance"),
                         json_get_string(o, "summary"), cJSON_GetObjectItemCaseSensitive(o, "detail"),
                         json_get_u64(o, "deadline_us", 0));
        if (!r)
                return NULL;
        snprintf(r->id, sizeof r->id, "%s", json_get_string(o, "id") ?: r->id);
        if (parse_rfc3339(json_get_string(o, "fired_at"), &t) >= 0)
                r->fired_at = t;
        r->finished = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "finished"));
        r->announced = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "announced"));
        /* it is in the file: announced (if it was not) at the first iteration, then saved */
        r->durable = true;
        r->durable_announced = r->announced;
        /* The steps as they were, if the rule still has the same shape. */
        if ((size_t) cJSON_GetArraySize(acts) != r->n_actions)
                return r;
        size_t k = 0;
        cJSON_ArrayForEach (x, acts) {
                Action *a = &r->actions[k++];
                int state = action_state_from_string(json_get_string(x, "state"));
                if (state >= 0)
                        a->state = (ActionState) state;
                if (parse_rfc3339(json_get_string(x, "started_at"), &t) >= 0)
                        a->started_at = t;
                if (parse_rfc3339(json_get_string(x, "finished_at"), &t) >= 0)
                        a->finished_at = t;
                snprintf(a->error, sizeof a->error, "%s", json_get_string(x, "error") ?: "");
                if (a->state == ACTION_RUNNING)
                        a->state = ACTION_PENDING; /* cut short by a crash: it runs again */
        }
        return r;
}

void engine_state_load(Engine *e) {
        _cleanup_json_ cJSON *j = NULL;
        const cJSON *o, *x;

        /* A corrupt file is set aside (actions.json.corrupt) with a warning: start without it. */
        if (state_load_json(e->state_dir, ENGINE_STATE_FILE, ENGINE_STATE_MAX, &j) <= 0)
                return;
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "rules")) ||
            !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "runs"))) {
                (void) state_set_aside(e->state_dir, ENGINE_STATE_FILE, "no \"rules\" or \"runs\"");
                return;
        }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "rules")) {
                ssize_t i = engine_rule_index(e, o->string);
                usec_t t;
                if (i < 0)
                        continue;
                e->rules[i].fired = json_get_u64(o, "fired", 0);
                if (parse_rfc3339(json_get_string(o, "last_fired_at"), &t) >= 0)
                        e->rules[i].last_fired_at = t;
                /* a metric rule that fired stays disarmed until its condition clears, restart or not */
                if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "armed")))
                        e->rules[i].armed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "armed"));
                cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "instances"))
                        if (cJSON_IsString(x))
                                (void) strv_extend(&e->rules[i].instances, x->valuestring);
        }
        cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(j, "reboots"))
                if (json_u64(x, 0) > 0) {
                        usec_t *n = realloc(e->reboots, (e->n_reboots + 1) * sizeof(usec_t));
                        if (n) {
                                e->reboots = n;
                                e->reboots[e->n_reboots++] = json_u64(x, 0);
                        }
                }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "pending")) {
                ssize_t i = engine_rule_index(e, json_get_string(o, "rule"));
                if (i >= 0 && json_get_string(o, "key") && json_get_string(o, "type"))
                        (void) pending_add(
                                e, (size_t) i, json_get_string(o, "key"), json_get_string(o, "type"),
                                json_get_string(o, "summary"), cJSON_GetObjectItemCaseSensitive(o, "detail"),
                                json_get_u64(o, "fire_at_us", 0), json_get_u64(o, "deadline_us", 0));
        }
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "runs")) {
                Run *r = run_from_json(e, o), **n;
                if (!r)
                        continue;
                if (!(n = realloc(e->runs, (e->n_runs + 1) * sizeof(Run *)))) {
                        run_free(r);
                        continue;
                }
                e->runs = n;
                e->runs[e->n_runs++] = r;
                if (!r->finished)
                        log_notice("Resuming rule %s, cut short before the agent stopped.", r->rule_name);
        }
}

/* A firing (or a pending one) on an event is saved before engine_on_event returns: the producer
 * saves its own position next (imds-notices.json, the kmsg cursor), and a crash between the
 * two must not lose the firing. A burst is the exception: past SYNC_SAVES_PER_SEC such saves in
 * a second, firings wait for the next save, at most SAVE_GAP_USEC away (engine_flush() closes
 * that window), so that saves, two fsyncs each, never take the whole loop. */
void engine_state_save_firing(Engine *e) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (now >= e->sync_since + USEC_PER_SEC) {
                e->sync_since = now;
                e->sync_saves = 0;
        }
        if (e->sync_saves >= SYNC_SAVES_PER_SEC)
                return;
        e->sync_saves++;
        if (engine_save(e) >= 0)
                e->saved_at = now_usec(CLOCK_MONOTONIC); /* still dirty: its announcement follows */
}

void engine_flush(Engine *e) {
        if (e && e->dirty && engine_save(e) >= 0)
                e->saved_at = now_usec(CLOCK_MONOTONIC);
}

/* Has engine_iterate run: as soon as the loop is idle, but with SAVE_GAP_USEC after the last save
 * when it is to save again (a save is two fsyncs: a status query must not wait behind several). */
void engine_state_schedule(Engine *e) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int enabled = SD_EVENT_OFF;

        if (!e->save || (sd_event_source_get_enabled(e->save, &enabled) >= 0 && enabled != SD_EVENT_OFF))
                return;
        (void) sd_event_source_set_time(e->save, e->dirty ? MAX(now, e->saved_at + SAVE_GAP_USEC) : now);
        (void) sd_event_source_set_enabled(e->save, SD_EVENT_ONESHOT);
}

void engine_state_dirty(Engine *e) {
        e->dirty = true;
        engine_state_schedule(e);
}

int engine_state_save_if_dirty(Engine *e) {
        int k;

        if (!e->dirty)
                return 0;
        e->dirty = false;
        k = engine_save(e);
        e->saved_at = now_usec(CLOCK_MONOTONIC);
        return k;
}

int engine_state_sync(Engine *e) {
        return engine_save(e);
}

static int engine_state_on_save(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        engine_iterate(userdata);
        return 0;
}

int engine_state_start(Engine *e) {
        int k = sd_event_add_time(e->event, &e->save, CLOCK_MONOTONIC, 0, 0, engine_state_on_save, e);
        if (k < 0)
                return k;
        (void) sd_event_source_set_description(e->save, "rules-save");
        /* after everything else that is ready: a status query never waits behind a save but one */
        (void) sd_event_source_set_priority(e->save, SD_EVENT_PRIORITY_IDLE);
        return 0;
}
