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

static const ImdsIdentity *h_identity(void *userdata) {
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
        EngineEnv env = { .emit = h_emit,
                          .identity = h_identity,
                          .asg_name = h_asg,
                          .credentials = h_credentials,
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

TAP_MAIN(T(test_state_round_trip_with_a_rule_that_never_fired), T(test_corrupt_state_is_set_aside))
