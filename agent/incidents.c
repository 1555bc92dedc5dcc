/* incidents.c — PagerDuty incidents open on the agent's behalf, in STATE_DIR/pagerduty.json:
 *   {"open": [{"dedup_key": "ec2agent/i-0abc/mem", "rule": "mem", "step": 1,
 *              "instance": "metric", "opened_at": "2026-12-07T08:00:00Z"}]}
 * Rewritten atomically at each change (they are rare: one trigger, one resolve). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/incidents.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

struct Incidents {
        char *state_dir;
        Incident *open;
        size_t n;
};

Incidents *incidents_free(Incidents *i) {
        if (!i)
                return NULL;
        free(i->state_dir);
        free(i->open);
        free(i);
        return NULL;
}

static bool copy_field(char *dst, size_t max, const char *s) {
        if (!s || !*s || strlen(s) >= max)
                return false;
        snprintf(dst, max, "%s", s);
        return true;
}

int incidents_load(const char *state_dir, Incidents **ret) {
        _cleanup_(incidents_freep) Incidents *i = calloc(1, sizeof(Incidents));
        _cleanup_json_ cJSON *j = NULL;
        const cJSON *e;

        if (!i || !(i->state_dir = strdup(state_dir)))
                return -ENOMEM;
        if (state_load_json(state_dir, INCIDENTS_FILE, 1024 * 1024, &j) > 0) {
                const cJSON *open = cJSON_GetObjectItemCaseSensitive(j, "open");
                size_t skipped = 0;
                cJSON_ArrayForEach (e, open) {
                        Incident in = {};
                        uint64_t step = json_get_u64(e, "step", UINT64_MAX);
                        const char *at = json_get_string(e, "opened_at");
                        if (i->n >= INCIDENTS_MAX || step > 1000 ||
                            !copy_field(in.dedup_key, sizeof in.dedup_key,
                                        json_get_string(e, "dedup_key")) ||
                            !copy_field(in.rule, sizeof in.rule, json_get_string(e, "rule")) ||
                            !copy_field(in.instance, sizeof in.instance, json_get_string(e, "instance")) ||
                            (at && parse_rfc3339(at, &in.opened_at) < 0)) {
                                skipped++;
                                continue;
                        }
                        in.step = (unsigned) step;
                        Incident *n = realloc(i->open, (i->n + 1) * sizeof(Incident));
                        if (!n)
                                return -ENOMEM;
                        i->open = n;
                        i->open[i->n++] = in;
                }
                if (skipped)
                        log_warning("%s: %zu entries skipped (wrong shape)", INCIDENTS_FILE, skipped);
        }
        *ret = TAKE_PTR(i);
        return 0;
}

static int incidents_save(Incidents *i) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;
        cJSON *open;
        int r;

        if (!j || !(open = cJSON_AddArrayToObject(j, "open")))
                return -ENOMEM;
        for (size_t k = 0; k < i->n; k++) {
                cJSON *e = cJSON_CreateObject();
                if (!e || !cJSON_AddItemToArray(open, e) ||
                    !cJSON_AddStringToObject(e, "dedup_key", i->open[k].dedup_key) ||
                    !cJSON_AddStringToObject(e, "rule", i->open[k].rule) ||
                    !cJSON_AddNumberToObject(e, "step", i->open[k].step) ||
                    !cJSON_AddStringToObject(e, "instance", i->open[k].instance) ||
                    !json_add_time(e, "opened_at", i->open[k].opened_at))
                        return -ENOMEM;
        }
        if (!(text = cJSON_PrintUnformatted(j)))
                return -ENOMEM;
        r = write_file_atomic(i->state_dir, INCIDENTS_FILE, text, strlen(text), 0600);
        if (r < 0)
                return log_warning_errno(r, "Cannot save %s: %m", INCIDENTS_FILE);
        return 0;
}

static ssize_t index_of(const Incidents *i, const char *dedup_key) {
        for (size_t k = 0; k < i->n; k++)
                if (strcmp(i->open[k].dedup_key, dedup_key) == 0)
                        return (ssize_t) k;
        return -1;
}

int incidents_open(Incidents *i, const char *dedup_key, const char *rule, unsigned step,
                   const char *instance, usec_t at) {
        Incident in = { .step = step, .opened_at = at };
        ssize_t k = index_of(i, dedup_key);

        if (!copy_field(in.dedup_key, sizeof in.dedup_key, dedup_key) ||
            !copy_field(in.rule, sizeof in.rule, rule) ||
            !copy_field(in.instance, sizeof in.instance, instance ?: "metric"))
                return -EINVAL;
        if (k >= 0)
                i->open[k] = in;
        else {
                if (i->n >= INCIDENTS_MAX) {
                        log_warning("More than %d PagerDuty incidents open: forgetting %s", INCIDENTS_MAX,
                                    i->open[0].dedup_key);
                        memmove(i->open, i->open + 1, (i->n - 1) * sizeof(Incident));
                        i->n--;
                }
                Incident *n = realloc(i->open, (i->n + 1) * sizeof(Incident));
                if (!n)
                        return -ENOMEM;
                i->open = n;
                i->open[i->n++] = in;
        }
        return incidents_save(i);
}

int incidents_close(Incidents *i, const char *dedup_key) {
        ssize_t k = index_of(i, dedup_key);
        int r;

        if (k < 0)
                return 0;
        memmove(i->open + k, i->open + k + 1, (i->n - (size_t) k - 1) * sizeof(Incident));
        i->n--;
        r = incidents_save(i);
        return r < 0 ? r : 1;
}

size_t incidents_find(const Incidents *i, const char *rule, const char *instance, const Incident **ret,
                      size_t max) {
        size_t n = 0;
        for (size_t k = 0; i && k < i->n && n < max; k++)
                if (strcmp(i->open[k].rule, rule) == 0 &&
                    (!instance || strcmp(i->open[k].instance, instance) == 0))
                        ret[n++] = &i->open[k];
        return n;
}

size_t incidents_count(const Incidents *i) {
        return i ? i->n : 0;
}

int incidents_status(const Incidents *i, cJSON *doc) {
        cJSON *p = cJSON_AddObjectToObject(doc, "pagerduty"), *keys;
        if (!p || !cJSON_AddNumberToObject(p, "open_incidents", (double) incidents_count(i)) ||
            !(keys = cJSON_AddArrayToObject(p, "dedup_keys")))
                return -ENOMEM;
        for (size_t k = 0; i && k < i->n; k++)
                if (!cJSON_AddItemToArray(keys, cJSON_CreateString(i->open[k].dedup_key)))
                        return -ENOMEM;
        return 0;
}
