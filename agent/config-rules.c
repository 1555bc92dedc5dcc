/* config-rules.c — the "rules" of SPEC §4: a rule's trigger ("on" events or "when" a metric),
 * its steps with their kinds, timeouts and on_failure, and the drop-in merge by rule name. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "config-fields.h"
#include "ec2agent/catalog.h"

/* ---- string checks of steps ---- */

static const char *check_rule_name(const char *s) {
        if (!*s || strlen(s) > 64)
                return "must be 1 to 64 characters";
        if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != strlen(s))
                return "may contain only letters, digits, '_', '.', ':' and '-'";
        return NULL;
}

static const char *check_lifecycle_result(const char *s) {
        if (strcmp(s, "CONTINUE") != 0 && strcmp(s, "ABANDON") != 0)
                return "must be \"CONTINUE\" or \"ABANDON\"";
        return NULL;
}

static const char *check_hook_name(const char *s) {
        /* AWS: LifecycleHookName, 1–255 characters of [A-Za-z0-9\-_\/]. */
        if (!*s || strlen(s) > 255 ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/") != strlen(s))
                return "must be 1 to 255 characters of letters, digits, '-', '_' and '/'";
        return NULL;
}

static const char *check_group_name(const char *s) {
        if (!*s || strlen(s) > 255)
                return "must be 1 to 255 characters";
        return NULL;
}

static const char *check_sns_arn(const char *s) {
        /* arn:PARTITION:sns:REGION:ACCOUNT:TOPIC */
        if (!startswith(s, "arn:") || !strstr(s, ":sns:") || strlen(s) > 1024)
                return "must be an SNS topic ARN such as \"arn:aws:sns:eu-west-1:123456789012:ops\"";
        return NULL;
}

static const char *check_routing_key(const char *s) {
        /* PagerDuty integration keys are 32 characters; the value is a secret and never echoed */
        size_t n = strlen(s);
        if (n == 0 || n > 128)
                return "must be a PagerDuty integration key (1 to 128 characters)";
        for (const char *p = s; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        return "must be a PagerDuty integration key (printable ASCII, no spaces)";
        return NULL;
}

static const char *check_unit_name(const char *s) {
        static const char *const suffixes[] = { ".service", ".socket",    ".target", ".timer",
                                                ".mount",   ".automount", ".swap",   ".path",
                                                ".slice",   ".scope",     ".device" };
        size_t n = strlen(s);
        if (n == 0 || n > 255)
                return "must be a systemd unit name such as \"app.service\"";
        if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") != n)
                return "must be a systemd unit name such as \"app.service\" (invalid character)";
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (endswith(s, suffixes[i]) && n > strlen(suffixes[i]))
                        return NULL;
        return "must be a systemd unit name with its type, such as \"app.service\"";
}

/* ---- rules and steps ---- */

static const char *check_event_pattern(const char *s) {
        return event_pattern_is_valid(s) ? NULL
                                         : "is not an event a rule can react to (see SPEC §6; "
                                           "\"maintenance\" or \"maintenance:CODE\" for scheduled events)";
}

static void parse_on(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) config_parse_string_array(c, path, v, check_event_pattern, false, true, &((Rule *) base)->on);
}

static void parse_before(Ctx *c, const char *path, const cJSON *v, void *base) {
        Rule *r = base;
        if (config_get_uint(c, path, v, 0, 7 * 86400, &r->before_s))
                r->has_before = true;
}

static void parse_threshold(Ctx *c, const char *path, const cJSON *v, Rule *r, bool above) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                config_error(c, path, "must be a number, not %s", config_type_name(v));
                return;
        }
        r->above = above;
        r->threshold = v->valuedouble;
}

static void parse_above(Ctx *c, const char *path, const cJSON *v, void *base) {
        parse_threshold(c, path, v, base, true);
}

static void parse_below(Ctx *c, const char *path, const cJSON *v, void *base) {
        parse_threshold(c, path, v, base, false);
}

static const char *check_metric(const char *s) {
        return metric_name_is_valid(s) ? NULL : "is not a metric of SPEC §7 (such as \"mem_used_percent\")";
}

/* The index of each field of when_fields, the bit config_apply_object() sets when it is seen. */
enum { WHEN_METRIC, WHEN_ABOVE, WHEN_BELOW, WHEN_FOR_S };

static const Field when_fields[] = {
        [WHEN_METRIC] = F_STRING("metric", Rule, metric, check_metric),
        [WHEN_ABOVE] = F_CUSTOM("above", parse_above),
        [WHEN_BELOW] = F_CUSTOM("below", parse_below),
        [WHEN_FOR_S] = F_UINT("for_s", Rule, for_s, 0, 7 * 86400),
        F_END,
};

static void parse_when(Ctx *c, const char *path, const cJSON *v, void *base) {
        uint64_t seen = config_apply_object(c, path, v, when_fields, base);
        if (!cJSON_IsObject(v))
                return;
        if (!SEEN(seen, WHEN_METRIC))
                config_error(c, path, "needs \"metric\"");
        if (SEEN(seen, WHEN_ABOVE) + SEEN(seen, WHEN_BELOW) != 1)
                config_error(c, path, "needs exactly one of \"above\" and \"below\"");
}

static void parse_units(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) config_parse_string_array(c, path, v, check_unit_name, false, true, &((Step *) base)->argv);
}

static void parse_exec(Ctx *c, const char *path, const cJSON *v, void *base) {
        Step *s = base;
        if (config_parse_string_array(c, path, v, NULL, false, false, &s->argv) && s->argv[0][0] != '/') {
                _cleanup_free_ char *p = config_path_index(path, 0);
                config_error(c, p ? p : path, "must be an absolute path (no shell, no PATH search)");
        }
}

static void parse_on_failure(Ctx *c, const char *path, const cJSON *v, void *base) {
        Step *s = base;
        if (cJSON_IsString(v) && strcmp(v->valuestring, "abort") == 0)
                s->abort_on_failure = true;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "continue") == 0)
                s->abort_on_failure = false;
        else
                config_error(c, path, "must be \"continue\" or \"abort\"");
}

static const Field lifecycle_fields[] = {
        F_STRING("hook", Step, hook, check_hook_name),
        F_STRING("group", Step, group, check_group_name),
        F_STRING("result", Step, result, check_lifecycle_result),
        F_UINT("heartbeat_s", Step, heartbeat_s, 30, 7200),
        F_END,
};

static const Field pagerduty_fields[] = {
        F_STRING("routing_key", Step, pagerduty_routing_key, check_routing_key),
        F_STRING_OR_NULL("url", Step, pagerduty_url, config_check_url),
        F_END,
};

static void parse_pagerduty(Ctx *c, const char *path, const cJSON *v, void *base) {
        uint64_t seen = config_apply_object(c, path, v, pagerduty_fields, base);
        if (cJSON_IsObject(v) && !SEEN(seen, 0))
                config_error(c, path, "needs \"routing_key\"");
}

static const Field notify_fields[] = {
        F_STRING("sns_topic_arn", Step, sns_topic_arn, check_sns_arn),
        F_STRING("webhook", Step, webhook, config_check_url),
        F_STRING("slack", Step, slack, config_check_url),
        F_STRING("teams", Step, teams, config_check_url),
        F_CUSTOM("pagerduty", parse_pagerduty),
        F_END,
};

/* ---- reschedule: the maintenance window (mwindow.h) ---- */

static void parse_days(Ctx *c, const char *path, const cJSON *v, void *base) {
        _cleanup_strv_free_ char **days = NULL;
        unsigned bits = 0, d;

        if (!config_parse_string_array(c, path, v, NULL, false, true, &days))
                return;
        for (size_t i = 0; days[i]; i++) {
                if (mwindow_parse_day(days[i], &d) < 0) {
                        _cleanup_free_ char *p = config_path_index(path, i);
                        config_error(c, p ?: path, "must be a day: \"sun\", \"mon\", … \"sat\"");
                        return;
                }
                bits |= 1u << d;
        }
        ((Step *) base)->window.days = bits;
}

static void parse_time(Ctx *c, const char *path, const cJSON *v, bool end, unsigned *ret) {
        if (!cJSON_IsString(v) || mwindow_parse_time(v->valuestring, end, ret) < 0)
                config_error(c, path, "must be a time \"HH:MM\" (00:00 to %s)", end ? "24:00" : "23:59");
}

static void parse_start(Ctx *c, const char *path, const cJSON *v, void *base) {
        parse_time(c, path, v, false, &((Step *) base)->window.start_min);
}

static void parse_end(Ctx *c, const char *path, const cJSON *v, void *base) {
        parse_time(c, path, v, true, &((Step *) base)->window.end_min);
}

static void parse_offset(Ctx *c, const char *path, const cJSON *v, void *base) {
        if (!cJSON_IsString(v) ||
            mwindow_parse_offset(v->valuestring, &((Step *) base)->window.offset_min) < 0)
                config_error(c, path, "must be a UTC offset \"+HH:MM\" or \"-HH:MM\" (at most 14:00)");
}

enum { WINDOW_DAYS, WINDOW_START, WINDOW_END, WINDOW_OFFSET };

static const Field window_fields[] = {
        [WINDOW_DAYS] = F_CUSTOM("days", parse_days),
        [WINDOW_START] = F_CUSTOM("start", parse_start),
        [WINDOW_END] = F_CUSTOM("end", parse_end),
        [WINDOW_OFFSET] = F_CUSTOM("utc_offset", parse_offset),
        F_END,
};

static void parse_window(Ctx *c, const char *path, const cJSON *v, void *base) {
        Step *s = base;
        uint64_t seen = config_apply_object(c, path, v, window_fields, base);

        if (!cJSON_IsObject(v))
                return;
        if (!SEEN(seen, WINDOW_DAYS) || !SEEN(seen, WINDOW_START) || !SEEN(seen, WINDOW_END))
                config_error(c, path, "needs \"days\", \"start\" and \"end\"");
        else if (s->window.start_min == s->window.end_min % 1440 && s->window.end_min != 1440)
                config_error(c, path, "\"start\" and \"end\" must differ");
}

static void parse_reschedule(Ctx *c, const char *path, const cJSON *v, void *base) {
        static const Field fields[] = { F_CUSTOM("window", parse_window), F_END };
        uint64_t seen = config_apply_object(c, path, v, fields, base);
        if (cJSON_IsObject(v) && !SEEN(seen, 0))
                config_error(c, path, "needs \"window\"");
}

static const Field reboot_fields[] = {
        F_UINT("max_per_day", Step, max_per_day, 1, 100),
        F_END,
};

/* The first _STEP_KIND_MAX rows are the action keys, in StepKind order. */
static const Field step_fields[] = {
        [STEP_STOP] = F_CUSTOM("stop", parse_units),
        [STEP_RESTART] = F_CUSTOM("restart", parse_units),
        [STEP_EXEC] = F_CUSTOM("exec", parse_exec),
        [STEP_LIFECYCLE] = F_OBJECT("complete_lifecycle_action", lifecycle_fields),
        [STEP_NOTIFY] = F_OBJECT("notify", notify_fields),
        [STEP_REBOOT] = F_OBJECT("reboot", reboot_fields),
        [STEP_RESCHEDULE] = F_CUSTOM("reschedule", parse_reschedule),
        F_UINT("timeout_s", Step, timeout_s, 1, 86400),
        F_CUSTOM("on_failure", parse_on_failure),
        F_END,
};

static const unsigned step_default_timeout_s[_STEP_KIND_MAX] = {
        [STEP_STOP] = 90,   [STEP_RESTART] = 90, [STEP_EXEC] = 60,       [STEP_LIFECYCLE] = 60,
        [STEP_NOTIFY] = 15, [STEP_REBOOT] = 60,  [STEP_RESCHEDULE] = 60,
};

static void step_done(Step *s) {
        strv_free(s->argv);
        free(s->hook);
        free(s->group);
        free(s->result);
        free(s->sns_topic_arn);
        free(s->webhook);
        free(s->slack);
        free(s->teams);
        if (s->pagerduty_routing_key)
                explicit_bzero(s->pagerduty_routing_key, strlen(s->pagerduty_routing_key));
        free(s->pagerduty_routing_key);
        free(s->pagerduty_url);
}

static bool parse_step(Ctx *c, const char *path, const cJSON *v, Step *s) {
        *s = (Step){ .heartbeat_s = 300, .max_per_day = 1 };
        size_t errors_before = strv_length(*c->errors);
        uint64_t seen = config_apply_object(c, path, v, step_fields, s);
        uint64_t actions = seen & ((UINT64_C(1) << _STEP_KIND_MAX) - 1);

        /* One mistake, one line: no cross-checks on a step that already failed. */
        if (!cJSON_IsObject(v) || strv_length(*c->errors) != errors_before)
                return false;
        if (__builtin_popcountll(actions) != 1) {
                config_error(c, path,
                             "needs exactly one of \"stop\", \"restart\", \"exec\", "
                             "\"complete_lifecycle_action\", \"notify\", \"reboot\", \"reschedule\"");
                return false;
        }
        s->kind = (StepKind) __builtin_ctzll(actions);
        if (s->timeout_s == 0)
                s->timeout_s = step_default_timeout_s[s->kind];
        if (s->kind == STEP_LIFECYCLE && !s->hook) {
                config_error(c, path, "complete_lifecycle_action needs \"hook\"");
                return false;
        }
        if (s->kind == STEP_LIFECYCLE && !s->result && !config_set_string(c, &s->result, "CONTINUE"))
                return false;
        if (s->kind == STEP_NOTIFY &&
            !!s->sns_topic_arn + !!s->webhook + !!s->slack + !!s->teams + !!s->pagerduty_routing_key != 1) {
                config_error(c, path,
                             "notify needs exactly one of \"sns_topic_arn\", \"webhook\", \"slack\", "
                             "\"teams\" and \"pagerduty\"");
                return false;
        }
        return true;
}

static void parse_steps(Ctx *c, const char *path, const cJSON *v, void *base) {
        Rule *r = base;
        size_t n = 0, i = 0;

        if (!cJSON_IsArray(v)) {
                config_error(c, path, "must be an array of steps, not %s", config_type_name(v));
                return;
        }
        n = (size_t) cJSON_GetArraySize(v);
        if (n == 0) {
                config_error(c, path, "must not be empty");
                return;
        }
        Step *steps = calloc(n, sizeof(Step));
        if (!steps) {
                c->oom = -ENOMEM;
                return;
        }
        bool ok = true;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = config_path_index(path, i);
                if (!p) {
                        c->oom = -ENOMEM;
                        ok = false;
                        break;
                }
                ok = parse_step(c, p, e, &steps[i]) && ok;
        }
        if (!ok) {
                for (size_t k = 0; k < n; k++)
                        step_done(&steps[k]);
                free(steps);
                return;
        }
        for (size_t k = 0; k < r->n_steps; k++)
                step_done(&r->steps[k]);
        free(r->steps);
        r->steps = steps;
        r->n_steps = n;
}

/* The index of each field of rule_fields, the bit config_apply_object() sets when it is seen. */
enum { RULE_NAME, RULE_ON, RULE_WHEN, RULE_BEFORE_S, RULE_COOLDOWN_S, RULE_DO };

static const Field rule_fields[] = {
        [RULE_NAME] = F_STRING("name", Rule, name, check_rule_name),
        [RULE_ON] = F_CUSTOM("on", parse_on),
        [RULE_WHEN] = F_CUSTOM("when", parse_when),
        [RULE_BEFORE_S] = F_CUSTOM("before_s", parse_before),
        [RULE_COOLDOWN_S] = F_UINT("cooldown_s", Rule, cooldown_s, 0, 30 * 86400),
        [RULE_DO] = F_CUSTOM("do", parse_steps),
        F_END,
};

void config_rule_done(Rule *r) {
        free(r->name);
        strv_free(r->on);
        free(r->metric);
        for (size_t i = 0; i < r->n_steps; i++)
                step_done(&r->steps[i]);
        free(r->steps);
}

void config_parse_rules(Ctx *c, const char *path, const cJSON *v, void *base) {
        Config *cfg = base;
        size_t i = 0;

        if (!cJSON_IsArray(v)) {
                config_error(c, path, "must be an array of rules, not %s", config_type_name(v));
                return;
        }
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = config_path_index(path, i);
                Rule r = {};
                if (!p) {
                        c->oom = -ENOMEM;
                        return;
                }
                size_t errors_before = strv_length(*c->errors);
                uint64_t seen = config_apply_object(c, p, e, rule_fields, &r);
                if (cJSON_IsObject(e)) {
                        if (!SEEN(seen, RULE_NAME))
                                config_error(c, p, "needs \"name\"");
                        if (SEEN(seen, RULE_ON) + SEEN(seen, RULE_WHEN) != 1)
                                config_error(c, p,
                                             "needs exactly one of \"on\" (events) and \"when\" (a metric)");
                        if (SEEN(seen, RULE_BEFORE_S) && !SEEN(seen, RULE_ON))
                                config_error(c, p, "\"before_s\" needs \"on\"");
                        if (!SEEN(seen, RULE_DO))
                                config_error(c, p, "needs \"do\" (its steps)");
                        for (size_t k = 0; k < cfg->n_rules && r.name; k++)
                                if (strcmp(cfg->rules[k].name, r.name) == 0 &&
                                    cfg->rules[k].origin == c->file_index)
                                        config_error(c, p, "a rule named \"%s\" exists already", r.name);
                }
                if (strv_length(*c->errors) != errors_before || c->oom) {
                        config_rule_done(&r);
                        continue;
                }
                /* A rule of an earlier file with this name is replaced: how a drop-in fills in the
                 * shipped "drain" rule. */
                r.origin = c->file_index;
                bool replaced = false;
                for (size_t k = 0; k < cfg->n_rules && !replaced; k++)
                        if (strcmp(cfg->rules[k].name, r.name) == 0) {
                                config_rule_done(&cfg->rules[k]);
                                cfg->rules[k] = r;
                                replaced = true;
                        }
                if (replaced)
                        continue;
                Rule *n = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(Rule));
                if (!n) {
                        config_rule_done(&r);
                        c->oom = -ENOMEM;
                        return;
                }
                cfg->rules = n;
                cfg->rules[cfg->n_rules++] = r;
        }
}

const char *step_kind_to_string(StepKind k) {
        return (unsigned) k < _STEP_KIND_MAX ? step_fields[k].key : "unknown";
}
