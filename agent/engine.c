/* engine.c — rules: events and metric windows in, runs of steps out, persisted across crashes.
 *
 * A rule fires at most once per event instance (engine_instance_key) and never inside its
 * cooldown; a scheduled event with before_s fires that long before its NotBefore. Each firing is
 * a Run: its actions (one per unit of a stop/restart step, one per other step) go pending →
 * running → done | failed | timed-out | skipped, in order; a failed one stops the run only with
 * on_failure "abort". No action outlives the event's deadline. The whole state is rewritten to
 * STATE_DIR/actions.json (engine-state.c) once per loop iteration, so after a crash or SIGKILL
 * the run goes on where it stopped: an action that was running runs again, finished ones do not.
 *
 * The steps themselves run in actions.c (a table of executors by step kind), which reports each
 * action's end through a done callback; the engine holds the step's timeout and the event's
 * deadline, and a reboot's max_per_day, counted across reboots. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/engine.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "engine-internal.h"

#define MAX_RUNNING_RUNS 8    /* runs of one rule at a time; later firings wait, in order */
#define MAX_QUEUED_RUNS  1000 /* firings of one rule waiting for a slot; more are dropped */
#define ANNOUNCE_BUDGET  64   /* rule-fired events written per loop iteration */

static void run_next(Run *r);
static void engine_action_finish(Run *r, ActionState state, const char *fmt, ...) _printf_(3, 4);

/* ---- keys and deadlines ---- */

char *engine_instance_key(const Event *ev) {
        char at[RFC3339_MAX], *k = NULL;
        const char *id = json_get_string(ev->detail, "event_id");
        int n;

        if (strcmp(ev->type, "spot-interruption") == 0)
                n = asprintf(&k, "spot:%s:%s", json_get_string(ev->detail, "action") ?: "",
                             json_get_string(ev->detail, "time") ?: "");
        else if (startswith(ev->type, "maintenance:") && id)
                n = asprintf(&k, "maintenance:%s", id);
        else if (strcmp(ev->type, "rebalance-recommendation") == 0 &&
                 json_get_string(ev->detail, "notice_time"))
                n = asprintf(&k, "rebalance:%s", json_get_string(ev->detail, "notice_time"));
        else if (strcmp(ev->type, "asg-terminate") == 0)
                /* an instance is Terminated once in its life: a notice seen again (imds-notices.json
                 * lost or set aside) is the same transition, never a second drain */
                n = asprintf(&k, "asg-terminate");
        else
                n = asprintf(&k, "%s:%s.%06llu", ev->type, format_rfc3339(at, ev->at),
                             (unsigned long long) (ev->at % USEC_PER_SEC));
        return n < 0 ? NULL : k;
}

usec_t engine_event_deadline(const Event *ev) {
        usec_t t = 0;
        const char *s = strcmp(ev->type, "spot-interruption") == 0 ? json_get_string(ev->detail, "time")
                        : startswith(ev->type, "maintenance:") ? json_get_string(ev->detail, "not_before")
                                                               : NULL;
        return s && parse_rfc3339(s, &t) >= 0 ? t : 0;
}

/* ---- events of the engine ---- */

static void engine_emit(Engine *e, const char *type, const Run *r, const Action *a, const char *fmt, ...)
        _printf_(5, 6);
static void engine_emit(Engine *e, const char *type, const Run *r, const Action *a, const char *fmt, ...) {
        char summary[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(summary, sizeof summary, fmt, ap);
        va_end(ap);
        Event *ev = event_new(type, "%s", summary);
        if (!ev)
                return (void) log_oom();
        cJSON_AddStringToObject(ev->detail, "rule", r->rule_name);
        cJSON_AddStringToObject(ev->detail, "run", r->id);
        cJSON_AddStringToObject(ev->detail, "event_type", r->type);
        cJSON_AddStringToObject(ev->detail, "instance", r->instance);
        json_add_time(ev->detail, "deadline", r->deadline);
        if (a) {
                const Step *s = &e->config->rules[r->rule].steps[a->step];
                cJSON_AddStringToObject(ev->detail, "step", step_kind_to_string(s->kind));
                cJSON_AddStringToObject(ev->detail, "target", a->target);
                cJSON_AddStringToObject(ev->detail, "state", action_state_to_string(a->state));
                json_add_string_or_null(ev->detail, "error", a->error[0] ? a->error : NULL);
                cJSON_AddNumberToObject(ev->detail, "seconds",
                                        (double) (a->finished_at - MIN(a->started_at, a->finished_at)) /
                                                1e6);
        }
        event_sink_emit(&e->env.sink, ev);
}

/* ---- runs ---- */

static const Step *step_of(const Run *r, const Action *a) {
        return &r->engine->config->rules[r->rule].steps[a->step];
}

/* Lets go of the running action: its timeout, and its executor's state once it has reported. */
static void run_release(Run *r) {
        r->timeout = sd_event_source_disable_unref(r->timeout);
        r->exec = action_free(r->exec);
}

Run *run_free(Run *r) {
        if (!r)
                return NULL;
        run_release(r); /* a forked step is killed: the agent is going away */
        r->heartbeat = action_heartbeat_free(r->heartbeat);
        free(r->saved);
        free(r->instance);
        free(r->summary);
        cJSON_Delete(r->detail);
        free(r->actions);
        free(r);
        return NULL;
}

Run *run_new(Engine *e, size_t rule, const char *type, const char *instance, const char *summary,
             const cJSON *detail, usec_t deadline) {
        const Rule *ru = &e->config->rules[rule];
        Run *r = calloc(1, sizeof(Run));
        size_t n = 0;

        if (!r)
                return NULL;
        r->engine = e;
        r->rule = rule;
        snprintf(r->rule_name, sizeof r->rule_name, "%s", ru->name);
        snprintf(r->type, sizeof r->type, "%s", type);
        r->fired_at = now_usec(CLOCK_REALTIME);
        r->deadline = deadline;
        snprintf(r->id, sizeof r->id, "%llu-%u", (unsigned long long) (r->fired_at / USEC_PER_SEC),
                 ++e->run_seq);
        for (size_t i = 0; i < ru->n_steps; i++)
                n += (ru->steps[i].kind == STEP_STOP || ru->steps[i].kind == STEP_RESTART)
                             ? strv_length(ru->steps[i].argv)
                             : 1;
        if (!(r->instance = strdup(instance)) || !(r->summary = strdup(summary ?: "")) ||
            !(r->detail = detail ? cJSON_Duplicate(detail, true) : cJSON_CreateObject()) ||
            !(r->actions = calloc(n, sizeof(Action))))
                return run_free(r);
        for (size_t i = 0; i < ru->n_steps; i++) {
                const Step *s = &ru->steps[i];
                if (s->kind == STEP_STOP || s->kind == STEP_RESTART)
                        for (char **u = s->argv; *u; u++) {
                                r->actions[r->n_actions].step = i;
                                snprintf(r->actions[r->n_actions++].target, sizeof r->actions[0].target,
                                         "%s", *u);
                        }
                else {
                        Action *a = &r->actions[r->n_actions++];
                        a->step = i;
                        action_target(s, a->target, sizeof a->target);
                }
        }
        return r;
}

/* Keeps at most MAX_FINISHED_RUNS finished runs; the oldest go. */
static void runs_trim(Engine *e) {
        size_t finished = 0;
        for (size_t i = 0; i < e->n_runs; i++)
                finished += e->runs[i]->finished;
        for (size_t i = 0; i < e->n_runs && finished > MAX_FINISHED_RUNS;) {
                if (e->runs[i]->finished) {
                        e->rules[e->runs[i]->rule].forgotten++;
                        run_free(e->runs[i]);
                        memmove(e->runs + i, e->runs + i + 1, (e->n_runs - i - 1) * sizeof(Run *));
                        e->n_runs--;
                        finished--;
                } else
                        i++;
        }
}

/* ---- the sequence ---- */

static int engine_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        (void) s;
        (void) usec;
        r->timeout = sd_event_source_disable_unref(r->timeout);
        action_cancel(r->exec); /* it reports timed-out, now or once what it started has stopped */
        return 0;
}

/* The executor's report on the running action of run USERDATA. */
static void engine_on_action_done(ActionState result, const char *error, const cJSON *detail,
                                  void *userdata) {
        (void) detail;
        engine_action_finish(userdata, result, "%s", error);
}

/* A reboot counts against max_per_day before it happens, and the count is saved first: a reboot
 * loop cannot outrun the limit. Returns true when it may go on, else finishes the action. */
static bool reboot_allowed(Run *r, const Step *s) {
        Engine *e = r->engine;
        usec_t now = now_usec(CLOCK_REALTIME), *n;
        size_t recent = 0;

        for (size_t i = 0; i < e->n_reboots; i++)
                recent += e->reboots[i] + USEC_PER_DAY > now;
        if (recent >= s->max_per_day)
                return engine_action_finish(r, ACTION_SKIPPED, "max_per_day (%u) reached", s->max_per_day),
                       false;
        if (!(n = realloc(e->reboots, (e->n_reboots + 1) * sizeof(usec_t))))
                return engine_action_finish(r, ACTION_FAILED, "out of memory"), false;
        e->reboots = n;
        e->reboots[e->n_reboots++] = now;
        (void) engine_state_sync(e);
        return true;
}

static void engine_action_start(Run *r) {
        Action *a = &r->actions[r->current];
        const Step *s = step_of(r, a);
        usec_t now = now_usec(CLOCK_REALTIME);
        usec_t timeout = s->timeout_s * USEC_PER_SEC;
        int k;

        run_release(r); /* the executor's state of the action before */
        a->state = ACTION_RUNNING;
        a->started_at = now;
        a->finished_at = 0;
        a->error[0] = 0;
        engine_state_dirty(r->engine);
        if (r->deadline && r->deadline <= now)
                return engine_action_finish(r, ACTION_TIMED_OUT, "the notice's deadline has passed");
        if (r->deadline)
                timeout = MIN(timeout, r->deadline - now);
        if (sd_event_add_time_relative(r->engine->event, &r->timeout, CLOCK_MONOTONIC, timeout, 0,
                                       engine_on_timeout, r) < 0)
                return engine_action_finish(r, ACTION_FAILED, "cannot set a timer");
        if (s->kind == STEP_LIFECYCLE)
                r->heartbeat = action_heartbeat_free(r->heartbeat); /* the earlier steps are over */
        if (s->kind == STEP_REBOOT && !reboot_allowed(r, s))
                return;
        ActionInfo info = { .step = s,
                            .target = a->target,
                            .rule = r->rule_name,
                            .run = r->id,
                            .index = r->current,
                            .event = r->type,
                            .summary = r->summary,
                            .detail = r->detail,
                            .fired_at = r->fired_at,
                            .deadline = r->deadline };
        k = action_start(r->engine->actions, &info, engine_on_action_done, r, &r->exec);
        if (k < 0)
                engine_action_finish(r, ACTION_FAILED, "cannot start the step: %s", strerror(-k));
}

static void engine_action_finish(Run *r, ActionState state, const char *fmt, ...) {
        Action *a = &r->actions[r->current];
        const Step *s = step_of(r, a);

        r->timeout = sd_event_source_disable_unref(r->timeout);
        a->state = state;
        a->finished_at = now_usec(CLOCK_REALTIME);
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(a->error, sizeof a->error, fmt, ap);
        va_end(ap);
        if (state == ACTION_DONE || state == ACTION_SKIPPED)
                engine_emit(r->engine, "action-done", r, a, "rule %s: %s %s %s%s%s", r->rule_name,
                            step_kind_to_string(s->kind), a->target, action_state_to_string(state),
                            a->error[0] ? ": " : "", a->error);
        else
                engine_emit(r->engine, "action-failed", r, a, "rule %s: %s %s %s: %s", r->rule_name,
                            step_kind_to_string(s->kind), a->target, action_state_to_string(state),
                            a->error);
        if (state != ACTION_DONE && state != ACTION_SKIPPED && s->abort_on_failure) {
                for (size_t i = r->current + 1; i < r->n_actions; i++) {
                        r->actions[i].state = ACTION_SKIPPED;
                        snprintf(r->actions[i].error, sizeof r->actions[i].error,
                                 "an earlier step failed (abort)");
                }
                r->current = r->n_actions;
        } else
                r->current++;
        run_next(r);
}

/* Starts the next pending action, or finishes the run. */
static void run_next(Run *r) {
        while (r->current < r->n_actions && r->actions[r->current].state != ACTION_PENDING &&
               r->actions[r->current].state != ACTION_RUNNING)
                r->current++;
        if (r->current >= r->n_actions) {
                r->finished = true;
                r->heartbeat = action_heartbeat_free(r->heartbeat);
        } else
                r->advance = true; /* engine_action_start, once the state is saved */
        engine_state_dirty(r->engine);
}

/* Starts (or resumes) a run: heartbeats for a lifecycle step, then the first pending action. */
static void run_go(Run *r) {
        ActionInfo info = { .rule = r->rule_name, .run = r->id, .event = r->type };
        if (!r->heartbeat && action_heartbeat_new(r->engine->actions, &r->engine->config->rules[r->rule],
                                                  &info, &r->heartbeat) < 0)
                log_oom();
        r->started = true;
        r->current = 0;
        run_next(r);
}

static void engine_announce(Run *r) {
        engine_emit(r->engine, "rule-fired", r, NULL, "rule %s fired on %s: %s", r->rule_name, r->type,
                    r->summary);
        r->announced = true;
}

static void engine_fire(Engine *e, size_t rule, const char *key, const char *type, const char *summary,
                        const cJSON *detail, usec_t deadline) {
        RuleState *rs = &e->rules[rule];
        size_t queued = 0;
        Run *r, **n;

        for (size_t i = 0; i < e->n_runs; i++)
                queued += e->runs[i]->rule == rule && !e->runs[i]->started;
        if (queued >= MAX_QUEUED_RUNS) {
                if (rs->dropped++ == 0)
                        log_warning("Rule %s: %d firings are waiting already; not firing on %s (counted "
                                    "as \"dropped\" in status).",
                                    e->config->rules[rule].name, MAX_QUEUED_RUNS, type);
                return;
        }
        r = run_new(e, rule, type, key, summary, detail, deadline);
        if (!r || !(n = realloc(e->runs, (e->n_runs + 1) * sizeof(Run *)))) {
                run_free(r);
                return (void) log_oom();
        }
        e->runs = n;
        e->runs[e->n_runs++] = r;
        rs->fired++;
        rs->last_fired_at = r->fired_at;
        (void) strv_extend(&rs->instances, key);
        while (strv_length(rs->instances) > MAX_INSTANCES) {
                free(rs->instances[0]);
                memmove(rs->instances, rs->instances + 1, strv_length(rs->instances) * sizeof(char *));
        }
        /* Durable before it is announced and started (engine_iterate): a crash after the event must
         * not fire the rule again. A crash between the two leaves announced false, and the next
         * start writes the event. */
        engine_state_dirty(e);
}

/* ---- pending firings (before_s) ---- */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timer);
        free(p->key);
        free(p->type);
        free(p->summary);
        cJSON_Delete(p->detail);
        free(p);
        return NULL;
}

static void pending_remove(Engine *e, size_t i) {
        pending_free(e->pending[i]);
        memmove(e->pending + i, e->pending + i + 1, (e->n_pending - i - 1) * sizeof(Pending *));
        e->n_pending--;
}

static int engine_on_pending(sd_event_source *s, uint64_t usec, void *userdata) {
        Pending *p = userdata;
        Engine *e = p->engine;
        (void) s;
        (void) usec;
        for (size_t i = 0; i < e->n_pending; i++)
                if (e->pending[i] == p) {
                        engine_fire(e, p->rule, p->key, p->type, p->summary, p->detail, p->deadline);
                        pending_remove(e, i);
                        engine_state_dirty(e);
                        break;
                }
        return 0;
}

int pending_add(Engine *e, size_t rule, const char *key, const char *type, const char *summary,
                const cJSON *detail, usec_t fire_at, usec_t deadline) {
        Pending *p = calloc(1, sizeof(Pending)), **n;
        if (!p)
                return -ENOMEM;
        *p = (Pending){ .rule = rule, .fire_at = fire_at, .deadline = deadline, .engine = e };
        if (!(p->key = strdup(key)) || !(p->type = strdup(type)) || !(p->summary = strdup(summary ?: "")) ||
            !(p->detail = detail ? cJSON_Duplicate(detail, true) : cJSON_CreateObject()) ||
            !(n = realloc(e->pending, (e->n_pending + 1) * sizeof(Pending *)))) {
                pending_free(p);
                return -ENOMEM;
        }
        e->pending = n;
        e->pending[e->n_pending++] = p;
        return sd_event_add_time(e->event, &p->timer, CLOCK_REALTIME, fire_at, USEC_PER_SEC,
                                 engine_on_pending, p);
}

/* ---- matching ---- */

static bool rule_has_instance(const RuleState *rs, const char *key) {
        for (char **k = rs->instances; k && *k; k++)
                if (strcmp(*k, key) == 0)
                        return true;
        return false;
}

/* ---- PagerDuty: resolved when the trouble is over ---- */

/* Finds the notify target of step STEP of RULE for notifier_resolve(): the routing key lives only in
 * the configuration. */
static int engine_notify_lookup(const char *rule, unsigned step, NotifyTarget *ret, void *userdata) {
        const Engine *e = userdata;
        for (size_t i = 0; i < e->config->n_rules; i++)
                if (strcmp(e->config->rules[i].name, rule) == 0 && step < e->config->rules[i].n_steps)
                        return action_alert_target(&e->config->rules[i].steps[step], ret);
        return -ENOENT;
}

/* The trouble rule I alerted about is over: its when condition cleared (KEY NULL), or the scheduled
 * event KEY (engine_instance_key) completed or was canceled. Resolves what it opened in PagerDuty. */
static void engine_resolve(Engine *e, size_t i, const char *type, const char *summary, const char *key) {
        const Rule *ru = &e->config->rules[i];
        AlertFacts f;

        if (!e->env.notifier)
                return;
        action_alert_facts(e->actions, ru->name, type, summary, 0, NULL, &f);
        if (notifier_resolve(e->env.notifier, ru->name, key, &f, engine_notify_lookup, e) > 0)
                log_info("Rule %s: %s is over; resolving its PagerDuty incident.", ru->name,
                         key ?: "its condition");
}

void engine_on_event(Engine *e, const Event *ev) {
        const char *change = json_get_string(ev->detail, "change");
        usec_t now = now_usec(CLOCK_REALTIME);
        bool changed = false;

        /* A canceled or completed maintenance event is news, not a reason to drain. */
        if (startswith(ev->type, "maintenance:") && change && strcmp(change, "scheduled") != 0 &&
            strcmp(change, "rescheduled") != 0) {
                _cleanup_free_ char *key = engine_instance_key(ev);
                for (size_t i = 0; key && i < e->n_pending;)
                        if (strcmp(e->pending[i]->key, key) == 0) {
                                pending_remove(e, i);
                                changed = true;
                        } else
                                i++;
                for (size_t i = 0; key && i < e->config->n_rules; i++)
                        for (char **p = e->config->rules[i].on; p && *p; p++)
                                if (event_pattern_matches(*p, ev->type)) {
                                        engine_resolve(e, i, ev->type, ev->summary, key);
                                        break;
                                }
                if (changed)
                        engine_state_dirty(e);
                return;
        }
        for (size_t i = 0; i < e->config->n_rules; i++) {
                const Rule *ru = &e->config->rules[i];
                RuleState *rs = &e->rules[i];
                bool match = false;
                for (char **p = ru->on; p && *p && !match; p++)
                        match = event_pattern_matches(*p, ev->type);
                if (!match)
                        continue;
                _cleanup_free_ char *key = engine_instance_key(ev);
                if (!key || rule_has_instance(rs, key))
                        continue; /* once per event instance */
                if (ru->cooldown_s && rs->last_fired_at &&
                    now < rs->last_fired_at + ru->cooldown_s * USEC_PER_SEC) {
                        log_info("Rule %s: not firing on %s within its cooldown.", ru->name, ev->type);
                        continue;
                }
                usec_t deadline = engine_event_deadline(ev);
                /* A (re)scheduled maintenance event: fire before_s ahead of NotBefore. */
                for (size_t k = 0; k < e->n_pending;)
                        if (e->pending[k]->rule == i && strcmp(e->pending[k]->key, key) == 0)
                                pending_remove(e, k);
                        else
                                k++;
                changed = true;
                if (startswith(ev->type, "maintenance:") && ru->has_before && deadline &&
                    deadline > now + ru->before_s * USEC_PER_SEC) {
                        if (pending_add(e, i, key, ev->type, ev->summary, ev->detail,
                                        deadline - ru->before_s * USEC_PER_SEC, deadline) < 0)
                                log_oom();
                        continue;
                }
                engine_fire(e, i, key, ev->type, ev->summary, ev->detail, deadline);
        }
        if (changed) {
                engine_state_dirty(e);
                engine_state_save_firing(e);
        }
}

static int engine_on_metrics(sd_event_source *s, uint64_t usec, void *userdata) {
        Engine *e = userdata;
        usec_t now = now_usec(CLOCK_REALTIME),
               slack = e->config->metrics_collection_interval_s * USEC_PER_SEC;
        (void) usec;

        for (size_t i = 0; i < e->config->n_rules; i++) {
                const Rule *ru = &e->config->rules[i];
                RuleState *rs = &e->rules[i];
                if (!ru->metric)
                        continue;
                bool holds = series_holds(e->env.series(e->env.userdata), ru->metric, ru->above,
                                          ru->threshold, ru->for_s * USEC_PER_SEC, slack, now);
                if (!holds) {
                        /* cleared (not merely too few samples since a start): it may fire again */
                        if (!rs->armed && series_cleared(e->env.series(e->env.userdata), ru->metric,
                                                         ru->above, ru->threshold)) {
                                rs->armed = true;
                                engine_state_dirty(e);
                                engine_resolve(e, i, "metric", NULL, NULL);
                        }
                        continue;
                }
                if (!rs->armed || (ru->cooldown_s && rs->last_fired_at &&
                                   now < rs->last_fired_at + ru->cooldown_s * USEC_PER_SEC))
                        continue;
                rs->armed = false;
                char key[96], summary[256];
                snprintf(key, sizeof key, "metric:%llu", (unsigned long long) now);
                snprintf(summary, sizeof summary, "%s %s %g for %u s", ru->metric,
                         ru->above ? "above" : "below", ru->threshold, ru->for_s);
                _cleanup_json_ cJSON *d = cJSON_CreateObject();
                if (d) {
                        cJSON_AddStringToObject(d, "metric", ru->metric);
                        cJSON_AddStringToObject(d, "condition", ru->above ? "above" : "below");
                        cJSON_AddNumberToObject(d, "threshold", ru->threshold);
                        cJSON_AddNumberToObject(d, "for_s", ru->for_s);
                }
                engine_fire(e, i, key, "metric", summary, d, 0);
        }
        return sd_event_source_set_time_relative(s, slack);
}

ssize_t engine_rule_index(const Engine *e, const char *name) {
        for (size_t i = 0; name && i < e->config->n_rules; i++)
                if (strcmp(e->config->rules[i].name, name) == 0)
                        return (ssize_t) i;
        return -1;
}

/* Once per loop iteration (engine-state.c's save source). The order is what makes a crash safe:
 *   1. a firing saved (announced false) is announced: its rule-fired event goes to the journal,
 *   2. everything that changed is saved at once, in the same callback: announced is now true,
 *   3. only then do its steps start; an action starts only after a save.
 * A crash before 1 leaves announced false: the next start announces it. A crash between 1 and 2
 * (the time of one save, no loop iteration in between) writes the event again at the next start:
 * the engine announces a firing at least once, never loses one; the repeat carries the same
 * detail.run, and the manager drops it because the journal holds that run (journal_holds).
 * The engine keeps all it knows in actions.json and never reads events.jsonl back.
 * Runs are trimmed here only, so nothing shifts e->runs under a loop over it. */
void engine_iterate(Engine *e) {
        _cleanup_free_ size_t *running = calloc(e->config->n_rules + 1, sizeof(size_t));
        size_t budget = ANNOUNCE_BUDGET;
        bool more = false;

        if (!running)
                return log_oom(), engine_state_dirty(e);
        /* Index loops: announcing and starting may emit events that fire rules (appending runs).
         * A burst is announced and started a budget at a time, the rest in later iterations. */
        for (size_t i = 0; i < e->n_runs; i++)
                if (!e->runs[i]->announced && e->runs[i]->durable) {
                        if (budget-- == 0) {
                                more = true;
                                break;
                        }
                        engine_announce(e->runs[i]);
                        e->dirty = true; /* saved next, before the loop goes on */
                }
        if (e->dirty)
                runs_trim(e);
        (void) engine_state_save_if_dirty(e);
        for (size_t i = 0; i < e->n_runs && !more; i++)
                more = !e->runs[i]->announced; /* fired since the last save: announced next time */
        for (size_t i = 0; i < e->n_runs; i++)
                running[e->runs[i]->rule] += e->runs[i]->started && !e->runs[i]->finished;
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *r = e->runs[i];
                if (r->durable_announced && !r->finished && !r->started &&
                    running[r->rule] < MAX_RUNNING_RUNS) {
                        running[r->rule]++;
                        run_go(r);
                }
        }
        for (size_t i = 0; i < e->n_runs; i++) {
                Run *r = e->runs[i];
                if (r->advance && !r->finished) {
                        r->advance = false;
                        engine_action_start(r);
                }
        }
        if (more)
                engine_state_schedule(e);
}

/* ---- life ---- */

int engine_new(sd_event *event, sd_bus *bus, Http *http, const Config *config, const char *state_dir,
               const EngineEnv *env, Engine **ret) {
        _cleanup_(engine_freep) Engine *e = calloc(1, sizeof(Engine));
        int k;

        if (!e)
                return -ENOMEM;
        e->event = sd_event_ref(event);
        e->config = config;
        e->env = *env;
        if (!(e->state_dir = strdup(state_dir)) ||
            !(e->rules = calloc(config->n_rules + 1, sizeof(RuleState))))
                return -ENOMEM;
        for (size_t i = 0; i < config->n_rules; i++)
                e->rules[i] = (RuleState){ .rule = &config->rules[i], .armed = true };
        k = actions_new(event, bus, http, config, &env->aws, &e->actions);
        if (k < 0)
                return k;
        actions_set_notify(e->actions, env->notifier, env->reasons, env->userdata);
        engine_state_load(e);
        /* a metric rule armed again before a restart may have left its resolve undelivered */
        for (size_t i = 0; i < config->n_rules; i++)
                if (config->rules[i].metric && e->rules[i].armed)
                        engine_resolve(e, i, "metric", NULL, NULL);
        k = sd_event_add_time_relative(event, &e->metric_timer, CLOCK_MONOTONIC,
                                       config->metrics_collection_interval_s * USEC_PER_SEC,
                                       USEC_PER_MSEC * 10, engine_on_metrics, e);
        if (k < 0)
                return k;
        (void) sd_event_source_set_description(e->metric_timer, "rules-metrics");
        (void) sd_event_source_set_enabled(e->metric_timer, SD_EVENT_ON);
        k = engine_state_start(e);
        if (k < 0)
                return k;
        /* unannounced firings are announced, unfinished runs resume: engine_iterate */
        engine_state_dirty(e);
        *ret = TAKE_PTR(e);
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        if (e->save)
                (void) engine_state_save_if_dirty(e); /* what changed since the last loop iteration */
        e->save = sd_event_source_disable_unref(e->save);
        for (size_t i = 0; i < e->n_runs; i++)
                run_free(e->runs[i]);
        free(e->runs);
        for (size_t i = 0; i < e->n_pending; i++)
                pending_free(e->pending[i]);
        free(e->pending);
        for (size_t i = 0; e->rules && i < e->config->n_rules; i++)
                strv_free(e->rules[i].instances);
        free(e->rules);
        free(e->reboots);
        sd_event_source_disable_unref(e->metric_timer);
        actions_free(e->actions);
        sd_event_unref(e->event);
        free(e->state_dir);
        free(e);
        return NULL;
}

int engine_status(const Engine *e, cJSON *doc) {
        cJSON *rules = cJSON_CreateArray(), *actions = cJSON_CreateArray();
        if (!rules || !actions)
                goto fail;
        for (size_t i = 0; e && i < e->config->n_rules; i++) {
                const RuleState *rs = &e->rules[i];
                const char *state = "idle";
                size_t queued = 0;
                for (size_t k = 0; k < e->n_pending; k++)
                        if (e->pending[k]->rule == i)
                                state = "pending";
                for (size_t k = 0; k < e->n_runs; k++)
                        if (e->runs[k]->rule == i && !e->runs[k]->finished) {
                                state = "running";
                                queued += !e->runs[k]->started;
                        }
                cJSON *o = cJSON_CreateObject();
                /* Beyond SPEC §5's keys: runs waiting for one of the rule's MAX_RUNNING_RUNS slots
                 * (their actions show as "pending"), finished runs no longer listed under "actions"
                 * (only the newest MAX_FINISHED_RUNS are kept), firings refused with
                 * MAX_QUEUED_RUNS waiting. */
                if (!o || !cJSON_AddItemToArray(rules, o) ||
                    !cJSON_AddStringToObject(o, "name", rs->rule->name) ||
                    !cJSON_AddNumberToObject(o, "fired", (double) rs->fired) ||
                    !json_add_time(o, "last_fired_at", rs->last_fired_at) ||
                    !cJSON_AddStringToObject(o, "state", state) ||
                    !cJSON_AddNumberToObject(o, "queued", (double) queued) ||
                    !cJSON_AddNumberToObject(o, "runs_not_shown", (double) rs->forgotten) ||
                    !cJSON_AddNumberToObject(o, "dropped", (double) rs->dropped))
                        goto fail;
        }
        for (size_t k = 0; e && k < e->n_runs; k++) {
                const Run *r = e->runs[k];
                if (!r->started && !r->finished)
                        continue; /* queued: counted in its rule's "queued" */
                for (size_t i = 0; i < r->n_actions; i++) {
                        const Action *a = &r->actions[i];
                        /* a running action: why it is not done yet ("… (retrying)"), if anything */
                        const char *error = a->state == ACTION_RUNNING && i == r->current && !a->error[0]
                                                    ? action_note(r->exec)
                                                    : a->error;
                        cJSON *o = cJSON_CreateObject();
                        if (!o || !cJSON_AddItemToArray(actions, o) ||
                            !cJSON_AddStringToObject(o, "rule", r->rule_name) ||
                            !cJSON_AddStringToObject(o, "run", r->id) ||
                            !cJSON_AddStringToObject(o, "event", r->type) ||
                            !cJSON_AddStringToObject(o, "step", step_kind_to_string(step_of(r, a)->kind)) ||
                            !cJSON_AddStringToObject(o, "target", a->target) ||
                            !cJSON_AddStringToObject(o, "state", action_state_to_string(a->state)) ||
                            !json_add_time(o, "started_at", a->started_at) ||
                            !json_add_time(o, "finished_at", a->finished_at) ||
                            !json_add_string_or_null(o, "error", error[0] ? error : NULL))
                                goto fail;
                }
        }
        int k = json_replace(doc, "rules", rules);
        int k2 = json_replace(doc, "actions", actions);
        return k < 0 ? k : k2;
fail:
        cJSON_Delete(rules);
        cJSON_Delete(actions);
        return -ENOMEM;
}
