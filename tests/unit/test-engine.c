/* test-engine.c — the rules engine driven through its env callbacks: firing, instance keys,
 * cooldown, state saved and resumed across a restart (rules that never fired included). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/engine.h"
#include "ec2agent/json.h"
#include "ec2agent/util.h"
#include "tap.h"

#define SPOT_TIME "2099-01-01T00:00:00Z"

typedef struct Harness {
        char dir[64];
        Config *config;
        sd_event *loop;
        SeriesStore series;
        Engine *engine;
        size_t n_events;
        char types[64][32];
        char states[64][16]; /* action events: the action's state */
} Harness;

static void h_emit(Event *ev, void *userdata) {
        Harness *h = userdata;
        if (h->n_events < ELEMENTSOF(h->types)) {
                snprintf(h->types[h->n_events], sizeof h->types[0], "%s", ev->type);
                snprintf(h->states[h->n_events], sizeof h->states[0], "%s",
                         json_get_string(ev->detail, "state") ?: "");
        }
        h->n_events++;
        event_free(ev);
}

static const InstanceIdentity *h_identity(void *userdata) {
        (void) userdata;
        return NULL;
}
static const char *h_asg(void *userdata) {
        (void) userdata;
        return NULL;
}
static const AwsCredentials *h_credentials(void *userdata) {
        (void) userdata;
        return NULL;
}
static const SeriesStore *h_series(void *userdata) {
        return &((Harness *) userdata)->series;
}

static void h_start(Harness *h) {
        EngineEnv env = { .sink = { h_emit, h },
                          .aws = { .identity = h_identity,
                                   .asg_name = h_asg,
                                   .credentials = h_credentials,
                                   .userdata = h },
                          .series = h_series,
                          .userdata = h };
        ASSERT_INT(engine_new(h->loop, NULL, NULL, h->config, h->dir, &env, &h->engine), 0);
}

static void h_stop(Harness *h) {
        h->engine = engine_free(h->engine);
}

static void h_init(Harness *h, const char *config) {
        char **errors = NULL;
        sigset_t ss;

        *h = (Harness){};
        snprintf(h->dir, sizeof h->dir, "/tmp/test-engine-XXXXXX");
        ASSERT_TRUE(mkdtemp(h->dir) != NULL);
        ASSERT_INT(config_load_string("test.json", config, &h->config, &errors), 0);
        ASSERT_TRUE(errors == NULL);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        ASSERT_INT(sigprocmask(SIG_BLOCK, &ss, NULL), 0);
        ASSERT_INT(sd_event_new(&h->loop), 0);
}

static void h_done(Harness *h) {
        char cmd[128];
        h_stop(h);
        config_free(h->config);
        sd_event_unref(h->loop);
        series_store_done(&h->series);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        ASSERT_INT(system(cmd), 0);
}

static size_t h_count(const Harness *h, const char *type) {
        size_t n = 0;
        for (size_t i = 0; i < MIN(h->n_events, ELEMENTSOF(h->types)); i++)
                n += strcmp(h->types[i], type) == 0;
        return n;
}

/* Runs the loop until N events of TYPE were emitted, at most 10 s. */
static bool h_wait(Harness *h, const char *type, size_t n) {
        usec_t until = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (h_count(h, type) < n && now_usec(CLOCK_MONOTONIC) < until)
                if (sd_event_run(h->loop, 100 * USEC_PER_MSEC) < 0)
                        return false;
        return h_count(h, type) >= n;
}

/* Runs the loop for USEC. */
static void h_spin(Harness *h, usec_t usec) {
        usec_t until = now_usec(CLOCK_MONOTONIC) + usec;
        while (now_usec(CLOCK_MONOTONIC) < until)
                (void) sd_event_run(h->loop, 10 * USEC_PER_MSEC);
}

static Event *spot_event(const char *time) {
        Event *ev = event_new("spot-interruption", "spot interruption: terminate at %s", time);
        ASSERT_TRUE(ev != NULL);
        cJSON_AddStringToObject(ev->detail, "action", "terminate");
        cJSON_AddStringToObject(ev->detail, "time", time);
        return ev;
}

static void offer(Harness *h, Event *ev) {
        engine_on_event(h->engine, ev);
        event_free(ev);
}

static cJSON *h_state(const Harness *h) {
        cJSON *j = NULL;
        ASSERT_INT(state_load_json(h->dir, ENGINE_STATE_FILE, 1 << 24, &j), 1);
        return j;
}

static const cJSON *status_rule(const cJSON *doc, const char *name) {
        const cJSON *o;
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(doc, "rules"))
                if (strcmp(json_get_string(o, "name"), name) == 0)
                        return o;
        return NULL;
}

#define TWO_RULES                                                                                         \
        "{\"rules\": ["                                                                                   \
        "{\"name\": \"drain\", \"on\": [\"spot-interruption\"], \"do\": [{\"exec\": [\"/bin/true\"]}]},"  \
        "{\"name\": \"mem\", \"when\": {\"metric\": \"mem_used_percent\", \"above\": 95, \"for_s\": 60}," \
        " \"do\": [{\"exec\": [\"/bin/true\"]}]}]}"

/* Item 1 of "Trustworthy…": with a rule that never fired, the state was never written. */
static void test_state_round_trip_with_a_rule_that_never_fired(void) {
        Harness h;
        h_init(&h, TWO_RULES);
        h_start(&h);
        offer(&h, spot_event(SPOT_TIME));
        ASSERT_TRUE(h_wait(&h, "action-done", 1));
        h_spin(&h, 50 * USEC_PER_MSEC);

        _cleanup_json_ cJSON *j = h_state(&h);
        const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "rules");
        const cJSON *drain = cJSON_GetObjectItemCaseSensitive(rules, "drain");
        const cJSON *mem = cJSON_GetObjectItemCaseSensitive(rules, "mem");
        ASSERT_INT(json_get_number(drain, "fired", 0), 1);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(drain, "instances")), 1);
        ASSERT_INT(json_get_number(mem, "fired", -1), 0);
        ASSERT_TRUE(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(mem, "instances")));
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(mem, "instances")), 0);

        /* a restart: the same notice again does not fire, the counts are kept */
        h_stop(&h);
        h_start(&h);
        offer(&h, spot_event(SPOT_TIME));
        h_spin(&h, 200 * USEC_PER_MSEC);
        ASSERT_INT(h_count(&h, "rule-fired"), 1);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(engine_status(h.engine, doc), 0);
        ASSERT_INT(json_get_number(status_rule(doc, "drain"), "fired", 0), 1);
        ASSERT_INT(json_get_number(status_rule(doc, "mem"), "fired", -1), 0);
        ASSERT_TRUE(json_get_string(status_rule(doc, "drain"), "last_fired_at") != NULL);
        h_done(&h);
}

/* A corrupt actions.json is set aside, never fatal. */
static void test_corrupt_state_is_set_aside(void) {
        Harness h;
        char path[128];
        h_init(&h, TWO_RULES);
        ASSERT_INT(write_file_atomic(h.dir, ENGINE_STATE_FILE, "{\"rules\": [tr", 13, 0600), 0);
        h_start(&h);
        snprintf(path, sizeof path, "%s/%s.corrupt", h.dir, ENGINE_STATE_FILE);
        ASSERT_INT(access(path, F_OK), 0);
        offer(&h, spot_event(SPOT_TIME));
        ASSERT_TRUE(h_wait(&h, "action-done", 1));
        h_done(&h);
}

/* Item 10: resuming, a run whose deadline passed finishes at once; trimming the finished runs then
 * shifted the list under the resume loop, and the run after it stayed pending forever. */
static void test_resume_after_a_run_past_its_deadline(void) {
        Harness h;
        Buf b;
        h_init(&h, TWO_RULES);
        buf_init(&b, 1 << 20);
        ASSERT_INT(buf_appendf(&b, "{\"rules\": {\"drain\": {\"fired\": 23, \"instances\": []}}, "
                                   "\"pending\": [], \"reboots\": [], \"runs\": ["),
                   0);
        for (int i = 0; i < 21; i++)
                ASSERT_INT(buf_appendf(&b,
                                       "{\"id\": \"old-%d\", \"rule\": \"drain\", \"type\": "
                                       "\"spot-interruption\", \"instance\": \"k%d\", \"finished\": true, "
                                       "\"actions\": [{\"step\": 0, \"state\": \"done\"}]},",
                                       i, i),
                           0);
        /* A: cut short while running, its deadline gone; B: waiting behind it */
        ASSERT_INT(buf_appendf(&b, "{\"id\": \"A\", \"rule\": \"drain\", \"type\": \"spot-interruption\", "
                                   "\"instance\": \"a\", \"deadline_us\": 1000000, \"finished\": false, "
                                   "\"actions\": [{\"step\": 0, \"state\": \"running\"}]},"
                                   "{\"id\": \"B\", \"rule\": \"drain\", \"type\": \"spot-interruption\", "
                                   "\"instance\": \"b\", \"finished\": false, "
                                   "\"actions\": [{\"step\": 0, \"state\": \"pending\"}]}]}"),
                   0);
        ASSERT_INT(write_file_atomic(h.dir, ENGINE_STATE_FILE, b.data, b.len, 0600), 0);
        buf_done(&b);
        h_start(&h);
        ASSERT_TRUE(h_wait(&h, "action-done", 1));   /* B ran */
        ASSERT_INT(h_count(&h, "action-failed"), 1); /* A: the deadline has passed */
        h_spin(&h, 50 * USEC_PER_MSEC);
        _cleanup_json_ cJSON *j = h_state(&h);
        const cJSON *o;
        size_t unfinished = 0;
        cJSON_ArrayForEach (o, cJSON_GetObjectItemCaseSensitive(j, "runs"))
                unfinished += !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "finished"));
        ASSERT_INT(unfinished, 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "runs")), 20);
        h_done(&h);
}

static Event *at_event(const char *type, usec_t at);

static void test_instance_keys_and_deadlines(void) {
        _cleanup_(event_freep) Event *spot = spot_event(SPOT_TIME);
        _cleanup_(event_freep) Event *m = event_new("maintenance:system-reboot", "x");
        _cleanup_(event_freep) Event *oom = event_new("oom-kill", "x");
        _cleanup_free_ char *k1 = NULL, *k2 = NULL, *k3 = NULL;
        usec_t t;

        ASSERT_TRUE(m && oom);
        cJSON_AddStringToObject(m->detail, "event_id", "instance-event-0123");
        cJSON_AddStringToObject(m->detail, "not_before", "2099-02-01T00:00:00Z");
        oom->at = 1700000000123456ULL;
        ASSERT_STR(k1 = engine_instance_key(spot), "spot:terminate:" SPOT_TIME);
        ASSERT_STR(k2 = engine_instance_key(m), "maintenance:instance-event-0123");
        ASSERT_STR(k3 = engine_instance_key(oom), "oom-kill:2023-11-14T22:13:20Z.123456");
        ASSERT_INT(parse_rfc3339(SPOT_TIME, &t), 0);
        ASSERT_INT(engine_event_deadline(spot), t);
        ASSERT_INT(parse_rfc3339("2099-02-01T00:00:00Z", &t), 0);
        ASSERT_INT(engine_event_deadline(m), t);
        ASSERT_INT(engine_event_deadline(oom), 0);

        /* the same notice seen again (its record in imds-notices.json lost) is the same instance */
        for (int i = 0; i < 2; i++) {
                _cleanup_(event_freep) Event *term =
                        at_event("asg-terminate", 1700000000000000ULL + (usec_t) i);
                _cleanup_(event_freep) Event *reb =
                        at_event("rebalance-recommendation", 1700000000000000ULL + (usec_t) i);
                _cleanup_free_ char *kt = NULL, *kr = NULL;
                cJSON_AddStringToObject(reb->detail, "notice_time", "2026-11-23T10:00:00Z");
                ASSERT_STR(kt = engine_instance_key(term), "asg-terminate");
                ASSERT_STR(kr = engine_instance_key(reb), "rebalance:2026-11-23T10:00:00Z");
        }
}

static Event *at_event(const char *type, usec_t at) {
        Event *ev = event_new(type, "%s", type);
        ASSERT_TRUE(ev != NULL);
        ev->at = at;
        return ev;
}

/* Once per event instance, never inside the cooldown, patterns as SPEC §4 says. */
static void test_matching_once_and_cooldown(void) {
        Harness h;
        usec_t now = now_usec(CLOCK_REALTIME);
        h_init(&h,
               "{\"rules\": ["
               "{\"name\": \"each\", \"on\": [\"oom-kill\"], \"do\": [{\"exec\": [\"/bin/true\"]}]},"
               "{\"name\": \"calm\", \"on\": [\"oom-kill\"], \"cooldown_s\": 3600,"
               " \"do\": [{\"exec\": [\"/bin/true\"]}]},"
               "{\"name\": \"any\", \"on\": [\"maintenance\"], \"do\": [{\"exec\": [\"/bin/true\"]}]}]}");
        h_start(&h);
        offer(&h, at_event("oom-kill", now));
        offer(&h, at_event("oom-kill", now)); /* the same instance */
        offer(&h, at_event("oom-kill", now + 1));
        offer(&h, at_event("segfault", now));
        ASSERT_TRUE(h_wait(&h, "action-done", 3));
        h_spin(&h, 100 * USEC_PER_MSEC);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(engine_status(h.engine, doc), 0);
        ASSERT_INT(json_get_number(status_rule(doc, "each"), "fired", 0), 2);
        ASSERT_INT(json_get_number(status_rule(doc, "calm"), "fired", 0), 1);
        ASSERT_INT(json_get_number(status_rule(doc, "any"), "fired", -1), 0);
        /* the cooldown holds across a restart */
        h_stop(&h);
        h_start(&h);
        offer(&h, at_event("oom-kill", now + 2));
        _cleanup_(event_freep) Event *m = at_event("maintenance:system-reboot", now);
        cJSON_AddStringToObject(m->detail, "event_id", "instance-event-1");
        cJSON_AddStringToObject(m->detail, "change", "scheduled");
        engine_on_event(h.engine, m);
        ASSERT_TRUE(h_wait(&h, "action-done", 5));
        h_spin(&h, 100 * USEC_PER_MSEC);
        _cleanup_json_ cJSON *doc2 = cJSON_CreateObject();
        ASSERT_INT(engine_status(h.engine, doc2), 0);
        ASSERT_INT(json_get_number(status_rule(doc2, "each"), "fired", 0), 3);
        ASSERT_INT(json_get_number(status_rule(doc2, "calm"), "fired", 0), 1);
        ASSERT_INT(json_get_number(status_rule(doc2, "any"), "fired", 0), 1);
        h_done(&h);
}

/* before_s: a scheduled event far ahead waits as a pending firing, kept across a restart, and
 * a cancellation removes it. */
static void test_pending_before_s_firing(void) {
        Harness h;
        char nb[RFC3339_MAX];
        h_init(&h, "{\"rules\": [{\"name\": \"retire\", \"on\": [\"maintenance:instance-retirement\"],"
                   " \"before_s\": 300, \"do\": [{\"exec\": [\"/bin/true\"]}]}]}");
        h_start(&h);
        format_rfc3339(nb, now_usec(CLOCK_REALTIME) + 3600 * USEC_PER_SEC);
        Event *m = event_new("maintenance:instance-retirement", "x");
        ASSERT_TRUE(m != NULL);
        cJSON_AddStringToObject(m->detail, "event_id", "instance-event-2");
        cJSON_AddStringToObject(m->detail, "change", "scheduled");
        cJSON_AddStringToObject(m->detail, "not_before", nb);
        offer(&h, m);
        h_spin(&h, 100 * USEC_PER_MSEC);
        ASSERT_INT(h_count(&h, "rule-fired"), 0);
        {
                _cleanup_json_ cJSON *j = h_state(&h);
                const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "pending"), 0);
                ASSERT_STR(json_get_string(p, "key"), "maintenance:instance-event-2");
        }
        h_stop(&h);
        h_start(&h);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(engine_status(h.engine, doc), 0);
        ASSERT_STR(json_get_string(status_rule(doc, "retire"), "state"), "pending");
        m = event_new("maintenance:instance-retirement", "x");
        ASSERT_TRUE(m != NULL);
        cJSON_AddStringToObject(m->detail, "event_id", "instance-event-2");
        cJSON_AddStringToObject(m->detail, "change", "canceled");
        offer(&h, m);
        h_spin(&h, 100 * USEC_PER_MSEC);
        _cleanup_json_ cJSON *doc2 = cJSON_CreateObject();
        ASSERT_INT(engine_status(h.engine, doc2), 0);
        ASSERT_STR(json_get_string(status_rule(doc2, "retire"), "state"), "idle");
        _cleanup_json_ cJSON *j = h_state(&h);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "pending")), 0);
        ASSERT_INT(h_count(&h, "rule-fired"), 0);
        h_done(&h);
}

/* A burst: at most 8 runs of a rule at a time, the rest queued in order; every one runs. */
static void test_runs_queue_in_order(void) {
        Harness h;
        usec_t now = now_usec(CLOCK_REALTIME);
        h_init(&h, "{\"rules\": [{\"name\": \"each\", \"on\": [\"oom-kill\"],"
                   " \"do\": [{\"exec\": [\"/bin/sleep\", \"1.5\"]}]}]}");
        h_start(&h);
        for (int i = 0; i < 20; i++)
                offer(&h, at_event("oom-kill", now + (usec_t) i));
        /* the first 8 start within a few loop iterations (each a save apart); the steps run 1.5 s, so
         * none has ended by then even on a loaded machine */
        _cleanup_json_ cJSON *doc = NULL;
        size_t running = 0;
        for (usec_t until = now_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;
             running < 8 && now_usec(CLOCK_MONOTONIC) < until;) {
                h_spin(&h, 10 * USEC_PER_MSEC);
                cJSON_Delete(doc);
                ASSERT_TRUE((doc = cJSON_CreateObject()) != NULL);
                ASSERT_INT(engine_status(h.engine, doc), 0);
                const cJSON *a;
                running = 0;
                cJSON_ArrayForEach (a, cJSON_GetObjectItemCaseSensitive(doc, "actions"))
                        running += strcmp(json_get_string(a, "state"), "running") == 0;
        }
        ASSERT_INT(running, 8);
        ASSERT_INT(json_get_number(status_rule(doc, "each"), "queued", 0), 12);
        ASSERT_TRUE(h_wait(&h, "action-done", 20));
        ASSERT_INT(h_count(&h, "rule-fired"), 20);
        ASSERT_INT(h_count(&h, "action-failed"), 0);
        h_done(&h);
}

/* Issue 17 item 6: a firing saved but not saved as announced (a crash between) is announced at the
 * next start from actions.json alone, whatever events.jsonl holds (the engine never reads it: at
 * least once), then saved as announced; its finished steps do not run again. */
static void test_unannounced_firing_is_announced_from_the_state_alone(void) {
        Harness h;
        h_init(&h, TWO_RULES);
        h_start(&h);
        offer(&h, spot_event(SPOT_TIME));
        ASSERT_TRUE(h_wait(&h, "action-done", 1));
        h_spin(&h, 100 * USEC_PER_MSEC);
        h_stop(&h);

        _cleanup_json_ cJSON *j = h_state(&h);
        cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "runs"), 0);
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "announced")));
        ASSERT_TRUE(cJSON_ReplaceItemInObjectCaseSensitive(run, "announced", cJSON_CreateFalse()));
        _cleanup_free_ char *text = cJSON_PrintUnformatted(j);
        ASSERT_INT(write_file_atomic(h.dir, ENGINE_STATE_FILE, text, strlen(text), 0600), 0);
        char line[256];
        int n = snprintf(line, sizeof line, "{\"type\":\"rule-fired\",\"detail\":{\"run\":\"%s\"}}\n",
                         json_get_string(run, "id"));
        ASSERT_INT(write_file_atomic(h.dir, "events.jsonl", line, (size_t) n, 0600), 0);

        h_start(&h);
        ASSERT_TRUE(h_wait(&h, "rule-fired", 2));
        h_spin(&h, 100 * USEC_PER_MSEC);
        ASSERT_INT(h_count(&h, "rule-fired"), 2);
        ASSERT_INT(h_count(&h, "action-done"), 1); /* the step is not run again */
        _cleanup_json_ cJSON *k = h_state(&h);
        run = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(k, "runs"), 0);
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "announced")));
        h_done(&h);
}

TAP_MAIN(T(test_state_round_trip_with_a_rule_that_never_fired), T(test_corrupt_state_is_set_aside),
         T(test_resume_after_a_run_past_its_deadline), T(test_instance_keys_and_deadlines),
         T(test_matching_once_and_cooldown), T(test_pending_before_s_firing), T(test_runs_queue_in_order),
         T(test_unannounced_firing_is_announced_from_the_state_alone))
