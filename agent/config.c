/* config.c — the configuration of SPEC §4: defaults, loading with drop-ins, strict validation.
 *
 * Each file is applied onto one Config through tables of fields (key, type, offset, range), so
 * validation and the drop-in merge ("later wins" for object keys, append for rules) are one
 * walk. Unknown keys, duplicate keys, wrong types and out-of-range values are errors: a typo
 * must never silently disable a drain. Every error is one line "FILE: json.path: message". */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/config.h"
#include "ec2agent/json.h"
#include "ec2agent/utf8.h"

typedef struct Ctx {
        const char *file;
        unsigned file_index; /* counts the files loaded, for rules replaced by a later file */
        char ***errors;
        int oom; /* -ENOMEM once an allocation failed */
} Ctx;

typedef enum FieldType {
        FIELD_BOOL,
        FIELD_UINT,
        FIELD_STRING,
        FIELD_OBJECT,
        FIELD_CUSTOM,
} FieldType;

struct Field;
typedef void (*FieldParser)(Ctx *c, const char *path, const cJSON *v, void *base);
/* Returns NULL when S is acceptable, else the message. */
typedef const char *(*StringCheck)(const char *s);

typedef struct Field {
        const char *key;
        FieldType type;
        size_t offset;
        uint64_t min, max;       /* FIELD_UINT */
        bool nullable;           /* FIELD_STRING: null resets it to "unset" */
        StringCheck check;       /* FIELD_STRING */
        FieldParser parse;       /* FIELD_CUSTOM */
        const struct Field *sub; /* FIELD_OBJECT: fields of the nested object, same base */
} Field;

#define FIELD_AT(base, off, type) ((type *) ((char *) (base) + (off)))

/* Table rows: T is the struct the field lives in (Config, Rule or Step). */
#define F_BOOL(k, T, f) \
        { .key = k, .type = FIELD_BOOL, .offset = offsetof(T, f) }
#define F_UINT(k, T, f, lo, hi) \
        { .key = k, .type = FIELD_UINT, .offset = offsetof(T, f), .min = lo, .max = hi }
#define F_STRING(k, T, f, chk) \
        { .key = k, .type = FIELD_STRING, .offset = offsetof(T, f), .check = chk }
#define F_STRING_OR_NULL(k, T, f, chk) \
        { .key = k, .type = FIELD_STRING, .offset = offsetof(T, f), .nullable = true, .check = chk }
#define F_OBJECT(k, fields) \
        { .key = k, .type = FIELD_OBJECT, .sub = fields }
#define F_CUSTOM(k, fn) \
        { .key = k, .type = FIELD_CUSTOM, .parse = fn }
#define F_END \
        { .key = NULL }

_printf_(3, 4) static void add_error(Ctx *c, const char *path, const char *fmt, ...) {
        char msg[512];
        _cleanup_free_ char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        /* one line each, shown on a terminal: a key or value quoted from the file is escaped */
        _cleanup_free_ char *safe = utf8_escape_dup(msg, strlen(msg), UTF8_ESCAPE_TERMINAL),
                            *safe_path = utf8_escape_dup(path, strlen(path), UTF8_ESCAPE_TERMINAL);
        if (!safe || !safe_path || asprintf(&line, "%s: %s: %s", c->file, safe_path, safe) < 0 ||
            strv_extend(c->errors, line) < 0)
                c->oom = -ENOMEM;
}

static char *path_key(const char *path, const char *key) {
        char *r;
        if (asprintf(&r, "%s%s%s", path, *path ? "." : "", key) < 0)
                return NULL;
        return r;
}

static char *path_index(const char *path, size_t i) {
        char *r;
        if (asprintf(&r, "%s[%zu]", path, i) < 0)
                return NULL;
        return r;
}

/* Levenshtein distance, for "did you mean". Keys are short; anything long is "far". */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), row[65];
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t prev = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t cur = row[j];
                        size_t best = MIN(row[j] + 1, row[j - 1] + 1);
                        row[j] = MIN(best, prev + (a[i - 1] != b[j - 1]));
                        prev = cur;
                }
        }
        return row[lb];
}

static const char *type_name(const cJSON *v) {
        if (cJSON_IsBool(v))
                return "a boolean";
        if (cJSON_IsNumber(v))
                return "a number";
        if (cJSON_IsString(v))
                return "a string";
        if (cJSON_IsArray(v))
                return "an array";
        if (cJSON_IsObject(v))
                return "an object";
        if (cJSON_IsNull(v))
                return "null";
        return "invalid";
}

static bool set_string(Ctx *c, char **dst, const char *s) {
        char *n = NULL;
        if (s && !(n = strdup(s))) {
                c->oom = -ENOMEM;
                return false;
        }
        free(*dst);
        *dst = n;
        return true;
}

/* Reads V as an integer in [MIN, MAX]; reports and returns false otherwise. */
static bool get_uint(Ctx *c, const char *path, const cJSON *v, uint64_t min, uint64_t max, unsigned *ret) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble) {
                add_error(c, path, "must be an integer, not %s",
                          cJSON_IsNumber(v) ? "a fraction" : type_name(v));
                return false;
        }
        if (v->valuedouble < (double) min || v->valuedouble > (double) max) {
                add_error(c, path, "must be between %llu and %llu, not %.0f", (unsigned long long) min,
                          (unsigned long long) max, v->valuedouble);
                return false;
        }
        *ret = (unsigned) v->valuedouble;
        return true;
}

/* Applies the members of object V onto BASE through FIELDS. Returns the bitmask of the
 * fields seen (bit i for FIELDS[i]: test it with SEEN(seen, i), i a table's index enum);
 * reports unknown and duplicate keys. */
#define SEEN(seen, i) (((seen) >> (i)) & 1U)

static uint64_t apply_object(Ctx *c, const char *path, const cJSON *v, const Field *fields, void *base) {
        uint64_t seen = 0;

        if (!cJSON_IsObject(v)) {
                add_error(c, *path ? path : "$", "must be an object, not %s", type_name(v));
                return 0;
        }
        for (const cJSON *m = v->child; m; m = m->next) {
                _cleanup_free_ char *p = path_key(path, m->string);
                const Field *f = NULL;
                size_t i;

                if (!p) {
                        c->oom = -ENOMEM;
                        return seen;
                }
                for (i = 0; fields[i].key; i++)
                        if (strcmp(fields[i].key, m->string) == 0) {
                                f = &fields[i];
                                break;
                        }
                if (!f) {
                        const char *best = NULL;
                        size_t bestd = 3;
                        for (const Field *g = fields; g->key; g++) {
                                size_t d = edit_distance(m->string, g->key);
                                if (d < bestd) {
                                        bestd = d;
                                        best = g->key;
                                }
                        }
                        if (best)
                                add_error(c, p, "unknown key (did you mean \"%s\"?)", best);
                        else
                                add_error(c, p, "unknown key");
                        continue;
                }
                if (seen & (UINT64_C(1) << i)) {
                        add_error(c, p, "duplicate key");
                        continue;
                }
                seen |= UINT64_C(1) << i;

                switch (f->type) {
                case FIELD_BOOL:
                        if (!cJSON_IsBool(m))
                                add_error(c, p, "must be true or false, not %s", type_name(m));
                        else
                                *FIELD_AT(base, f->offset, bool) = cJSON_IsTrue(m);
                        break;
                case FIELD_UINT:
                        (void) get_uint(c, p, m, f->min, f->max, FIELD_AT(base, f->offset, unsigned));
                        break;
                case FIELD_STRING: {
                        const char *msg;
                        if (cJSON_IsNull(m) && f->nullable)
                                (void) set_string(c, FIELD_AT(base, f->offset, char *), NULL);
                        else if (!cJSON_IsString(m))
                                add_error(c, p, "must be a string%s, not %s", f->nullable ? " or null" : "",
                                          type_name(m));
                        else if (f->check && (msg = f->check(m->valuestring)))
                                add_error(c, p, "%s", msg);
                        else
                                (void) set_string(c, FIELD_AT(base, f->offset, char *), m->valuestring);
                        break;
                }
                case FIELD_OBJECT:
                        (void) apply_object(c, p, m, f->sub, base);
                        break;
                case FIELD_CUSTOM:
                        f->parse(c, p, m, base);
                        break;
                }
        }
        return seen;
}

/* ---- string checks ---- */

static const char *check_url(const char *s) {
        if (!startswith(s, "http://") && !startswith(s, "https://"))
                return "must be an http:// or https:// URL";
        if (strlen(s) <= strlen("https://") - (startswith(s, "http://") ? 1 : 0) || strlen(s) > 1024)
                return "must be an http:// or https:// URL with a host";
        if (strpbrk(s, " \t\r\n"))
                return "must not contain white space";
        return NULL;
}

static const char *check_abs_path(const char *s) {
        if (s[0] != '/')
                return "must be an absolute path";
        if (strlen(s) > 4095)
                return "is too long";
        return NULL;
}

static const char *check_region(const char *s) {
        if (!*s || strlen(s) > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s))
                return "must be an AWS region name such as \"eu-west-1\"";
        return NULL;
}

static const char *check_namespace(const char *s) {
        if (!*s || strlen(s) > 255)
                return "must be 1 to 255 characters";
        if (startswith(s, "AWS/"))
                return "must not start with \"AWS/\" (reserved for AWS services)";
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return "must not contain control characters";
        return NULL;
}

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

/* ---- arrays ---- */

/* Parses V as a non-empty (unless ALLOW_EMPTY) array of distinct strings that pass CHECK,
 * replacing *DST. Returns true on success. */
static bool parse_string_array(Ctx *c, const char *path, const cJSON *v, StringCheck check, bool allow_empty,
                               bool unique, char ***dst) {
        _cleanup_strv_free_ char **out = NULL;
        bool ok = true;
        size_t i = 0;

        if (!cJSON_IsArray(v)) {
                add_error(c, path, "must be an array of strings, not %s", type_name(v));
                return false;
        }
        if (!v->child && !allow_empty) {
                add_error(c, path, "must not be empty");
                return false;
        }
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = path_index(path, i);
                const char *msg;
                if (!p) {
                        c->oom = -ENOMEM;
                        return false;
                }
                if (!cJSON_IsString(e)) {
                        add_error(c, p, "must be a string, not %s", type_name(e));
                        ok = false;
                        continue;
                }
                if (check && (msg = check(e->valuestring))) {
                        add_error(c, p, "%s", msg);
                        ok = false;
                        continue;
                }
                if (unique)
                        for (char **s = out; s && *s; s++)
                                if (strcmp(*s, e->valuestring) == 0) {
                                        add_error(c, p, "\"%s\" is listed twice", e->valuestring);
                                        ok = false;
                                }
                if (strv_extend(&out, e->valuestring) < 0) {
                        c->oom = -ENOMEM;
                        return false;
                }
        }
        if (!ok)
                return false;
        if (!out && !(out = calloc(1, sizeof(char *)))) {
                c->oom = -ENOMEM;
                return false;
        }
        strv_free(*dst);
        *dst = TAKE_PTR(out);
        return true;
}

static void parse_dimensions(Ctx *c, const char *path, const cJSON *v, void *base) {
        static const struct {
                const char *name;
                unsigned bit;
        } dims[] = {
                { "InstanceId", DIMENSION_INSTANCE_ID },
                { "InstanceType", DIMENSION_INSTANCE_TYPE },
                { "ImageId", DIMENSION_IMAGE_ID },
                { "AutoScalingGroupName", DIMENSION_ASG_NAME },
        };
        _cleanup_strv_free_ char **names = NULL;
        unsigned bits = 0;

        if (!parse_string_array(c, path, v, NULL, true, true, &names))
                return;
        for (size_t i = 0; names[i]; i++) {
                size_t j;
                for (j = 0; j < ELEMENTSOF(dims); j++)
                        if (strcmp(names[i], dims[j].name) == 0)
                                break;
                if (j == ELEMENTSOF(dims)) {
                        _cleanup_free_ char *p = path_index(path, i);
                        add_error(c, p ? p : path,
                                  "unknown dimension \"%s\" (use InstanceId, InstanceType, ImageId, "
                                  "AutoScalingGroupName)",
                                  names[i]);
                        return;
                }
                bits |= dims[j].bit;
        }
        ((Config *) base)->metrics_dimensions = bits;
}

static const char *check_filesystem(const char *s) {
        return strcmp(s, "*") == 0 ? NULL : check_abs_path(s);
}

static void parse_filesystems(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) parse_string_array(c, path, v, check_filesystem, true, true,
                                  &((Config *) base)->metrics_filesystems);
}

/* ---- rules ---- */

static const char *check_event_pattern(const char *s) {
        return event_pattern_is_valid(s) ? NULL
                                         : "is not an event a rule can react to (see SPEC §6; "
                                           "\"maintenance\" or \"maintenance:CODE\" for scheduled events)";
}

static void parse_on(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) parse_string_array(c, path, v, check_event_pattern, false, true, &((Rule *) base)->on);
}

static void parse_before(Ctx *c, const char *path, const cJSON *v, void *base) {
        Rule *r = base;
        if (get_uint(c, path, v, 0, 7 * 86400, &r->before_s))
                r->has_before = true;
}

static void parse_threshold(Ctx *c, const char *path, const cJSON *v, Rule *r, bool above) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                add_error(c, path, "must be a number, not %s", type_name(v));
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

/* The index of each field of when_fields, the bit apply_object() sets when it is seen. */
enum { WHEN_METRIC, WHEN_ABOVE, WHEN_BELOW, WHEN_FOR_S };

static const Field when_fields[] = {
        [WHEN_METRIC] = F_STRING("metric", Rule, metric, check_metric),
        [WHEN_ABOVE] = F_CUSTOM("above", parse_above),
        [WHEN_BELOW] = F_CUSTOM("below", parse_below),
        [WHEN_FOR_S] = F_UINT("for_s", Rule, for_s, 0, 7 * 86400),
        F_END,
};

static void parse_when(Ctx *c, const char *path, const cJSON *v, void *base) {
        uint64_t seen = apply_object(c, path, v, when_fields, base);
        if (!cJSON_IsObject(v))
                return;
        if (!SEEN(seen, WHEN_METRIC))
                add_error(c, path, "needs \"metric\"");
        if (SEEN(seen, WHEN_ABOVE) + SEEN(seen, WHEN_BELOW) != 1)
                add_error(c, path, "needs exactly one of \"above\" and \"below\"");
}

static void parse_units(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) parse_string_array(c, path, v, check_unit_name, false, true, &((Step *) base)->argv);
}

static void parse_exec(Ctx *c, const char *path, const cJSON *v, void *base) {
        Step *s = base;
        if (parse_string_array(c, path, v, NULL, false, false, &s->argv) && s->argv[0][0] != '/') {
                _cleanup_free_ char *p = path_index(path, 0);
                add_error(c, p ? p : path, "must be an absolute path (no shell, no PATH search)");
        }
}

static void parse_on_failure(Ctx *c, const char *path, const cJSON *v, void *base) {
        Step *s = base;
        if (cJSON_IsString(v) && strcmp(v->valuestring, "abort") == 0)
                s->abort_on_failure = true;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "continue") == 0)
                s->abort_on_failure = false;
        else
                add_error(c, path, "must be \"continue\" or \"abort\"");
}

static const Field lifecycle_fields[] = {
        F_STRING("hook", Step, hook, check_hook_name),
        F_STRING("group", Step, group, check_group_name),
        F_STRING("result", Step, result, check_lifecycle_result),
        F_UINT("heartbeat_s", Step, heartbeat_s, 30, 7200),
        F_END,
};

static const Field notify_fields[] = {
        F_STRING("sns_topic_arn", Step, sns_topic_arn, check_sns_arn),
        F_STRING("webhook", Step, webhook, check_url),
        F_END,
};

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
        F_UINT("timeout_s", Step, timeout_s, 1, 86400),
        F_CUSTOM("on_failure", parse_on_failure),
        F_END,
};

static const unsigned step_default_timeout_s[_STEP_KIND_MAX] = {
        [STEP_STOP] = 90,      [STEP_RESTART] = 90, [STEP_EXEC] = 60,
        [STEP_LIFECYCLE] = 60, [STEP_NOTIFY] = 15,  [STEP_REBOOT] = 60,
};

static void step_done(Step *s) {
        strv_free(s->argv);
        free(s->hook);
        free(s->group);
        free(s->result);
        free(s->sns_topic_arn);
        free(s->webhook);
}

static bool parse_step(Ctx *c, const char *path, const cJSON *v, Step *s) {
        *s = (Step){ .heartbeat_s = 300, .max_per_day = 1 };
        size_t errors_before = strv_length(*c->errors);
        uint64_t seen = apply_object(c, path, v, step_fields, s);
        uint64_t actions = seen & ((UINT64_C(1) << _STEP_KIND_MAX) - 1);

        /* One mistake, one line: no cross-checks on a step that already failed. */
        if (!cJSON_IsObject(v) || strv_length(*c->errors) != errors_before)
                return false;
        if (__builtin_popcountll(actions) != 1) {
                add_error(c, path,
                          "needs exactly one of \"stop\", \"restart\", \"exec\", "
                          "\"complete_lifecycle_action\", \"notify\", \"reboot\"");
                return false;
        }
        s->kind = (StepKind) __builtin_ctzll(actions);
        if (s->timeout_s == 0)
                s->timeout_s = step_default_timeout_s[s->kind];
        if (s->kind == STEP_LIFECYCLE && !s->hook) {
                add_error(c, path, "complete_lifecycle_action needs \"hook\"");
                return false;
        }
        if (s->kind == STEP_LIFECYCLE && !s->result && !set_string(c, &s->result, "CONTINUE"))
                return false;
        if (s->kind == STEP_NOTIFY && !s->sns_topic_arn == !s->webhook) {
                add_error(c, path, "notify needs exactly one of \"sns_topic_arn\" and \"webhook\"");
                return false;
        }
        return true;
}

static void parse_steps(Ctx *c, const char *path, const cJSON *v, void *base) {
        Rule *r = base;
        size_t n = 0, i = 0;

        if (!cJSON_IsArray(v)) {
                add_error(c, path, "must be an array of steps, not %s", type_name(v));
                return;
        }
        n = (size_t) cJSON_GetArraySize(v);
        if (n == 0) {
                add_error(c, path, "must not be empty");
                return;
        }
        Step *steps = calloc(n, sizeof(Step));
        if (!steps) {
                c->oom = -ENOMEM;
                return;
        }
        bool ok = true;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = path_index(path, i);
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

/* The index of each field of rule_fields, the bit apply_object() sets when it is seen. */
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

static void rule_done(Rule *r) {
        free(r->name);
        strv_free(r->on);
        free(r->metric);
        for (size_t i = 0; i < r->n_steps; i++)
                step_done(&r->steps[i]);
        free(r->steps);
}

static void parse_rules(Ctx *c, const char *path, const cJSON *v, void *base) {
        Config *cfg = base;
        size_t i = 0;

        if (!cJSON_IsArray(v)) {
                add_error(c, path, "must be an array of rules, not %s", type_name(v));
                return;
        }
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = path_index(path, i);
                Rule r = {};
                if (!p) {
                        c->oom = -ENOMEM;
                        return;
                }
                size_t errors_before = strv_length(*c->errors);
                uint64_t seen = apply_object(c, p, e, rule_fields, &r);
                if (cJSON_IsObject(e)) {
                        if (!SEEN(seen, RULE_NAME))
                                add_error(c, p, "needs \"name\"");
                        if (SEEN(seen, RULE_ON) + SEEN(seen, RULE_WHEN) != 1)
                                add_error(c, p,
                                          "needs exactly one of \"on\" (events) and \"when\" (a metric)");
                        if (SEEN(seen, RULE_BEFORE_S) && !SEEN(seen, RULE_ON))
                                add_error(c, p, "\"before_s\" needs \"on\"");
                        if (!SEEN(seen, RULE_DO))
                                add_error(c, p, "needs \"do\" (its steps)");
                        for (size_t k = 0; k < cfg->n_rules && r.name; k++)
                                if (strcmp(cfg->rules[k].name, r.name) == 0 &&
                                    cfg->rules[k].origin == c->file_index)
                                        add_error(c, p, "a rule named \"%s\" exists already", r.name);
                }
                if (strv_length(*c->errors) != errors_before || c->oom) {
                        rule_done(&r);
                        continue;
                }
                /* A rule of an earlier file with this name is replaced: how a drop-in fills in the
                 * shipped "drain" rule. */
                r.origin = c->file_index;
                bool replaced = false;
                for (size_t k = 0; k < cfg->n_rules && !replaced; k++)
                        if (strcmp(cfg->rules[k].name, r.name) == 0) {
                                rule_done(&cfg->rules[k]);
                                cfg->rules[k] = r;
                                replaced = true;
                        }
                if (replaced)
                        continue;
                Rule *n = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(Rule));
                if (!n) {
                        rule_done(&r);
                        c->oom = -ENOMEM;
                        return;
                }
                cfg->rules = n;
                cfg->rules[cfg->n_rules++] = r;
        }
}

/* ---- the document ---- */

static const Field endpoint_fields[] = {
        F_STRING_OR_NULL("cloudwatch", Config, endpoint_cloudwatch, check_url),
        F_STRING_OR_NULL("autoscaling", Config, endpoint_autoscaling, check_url),
        F_STRING_OR_NULL("sns", Config, endpoint_sns, check_url),
        F_END,
};

static const Field aws_fields[] = {
        F_STRING_OR_NULL("region", Config, aws_region, check_region),
        F_OBJECT("endpoints", endpoint_fields),
        F_END,
};

static const Field imds_fields[] = {
        F_BOOL("enabled", Config, imds_enabled),
        F_STRING_OR_NULL("endpoint", Config, imds_endpoint, check_url),
        F_UINT("poll_interval_s", Config, imds_poll_interval_s, 1, 3600),
        F_UINT("scheduled_events_interval_s", Config, imds_scheduled_events_interval_s, 1, 86400),
        F_UINT("timeout_ms", Config, imds_timeout_ms, 50, 60000),
        F_END,
};

static const Field metrics_fields[] = {
        F_BOOL("enabled", Config, metrics_enabled),
        F_STRING("namespace", Config, metrics_namespace, check_namespace),
        F_UINT("collection_interval_s", Config, metrics_collection_interval_s, 1, 86400),
        F_UINT("publish_interval_s", Config, metrics_publish_interval_s, 1, 86400),
        F_BOOL("high_resolution", Config, metrics_high_resolution),
        F_CUSTOM("dimensions", parse_dimensions),
        F_CUSTOM("filesystems", parse_filesystems),
        F_END,
};

static const Field kmsg_fields[] = {
        F_BOOL("enabled", Config, kmsg_enabled),
        F_STRING("path", Config, kmsg_path, check_abs_path),
        F_END,
};

static const Field kernel_fields[] = {
        F_STRING("pstore_path", Config, kernel_pstore_path, check_abs_path),
        F_END,
};

static const Field top_fields[] = {
        F_OBJECT("aws", aws_fields),
        F_OBJECT("imds", imds_fields),
        F_OBJECT("metrics", metrics_fields),
        F_OBJECT("kmsg", kmsg_fields),
        F_OBJECT("kernel", kernel_fields),
        F_CUSTOM("rules", parse_rules),
        F_END,
};

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->aws_region);
        free(c->endpoint_cloudwatch);
        free(c->endpoint_autoscaling);
        free(c->endpoint_sns);
        free(c->imds_endpoint);
        free(c->metrics_namespace);
        free(c->metrics_prometheus_textfile);
        strv_free(c->metrics_filesystems);
        free(c->kmsg_path);
        free(c->kernel_pstore_path);
        for (size_t i = 0; i < c->n_rules; i++)
                rule_done(&c->rules[i]);
        free(c->rules);
        free(c);
        return NULL;
}

static int config_new_default(Config **ret) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        *c = (Config){
                .imds_enabled = true,
                .imds_poll_interval_s = 1,
                .imds_scheduled_events_interval_s = 60,
                .imds_timeout_ms = 1000,
                .metrics_enabled = true,
                .metrics_collection_interval_s = 10,
                .metrics_publish_interval_s = 60,
                .metrics_dimensions = DIMENSION_INSTANCE_ID,
                .kmsg_enabled = true,
        };
        c->metrics_measurements = metric_default_set();
        c->metrics_namespace = strdup("CWAgent");
        c->kmsg_path = strdup("/dev/kmsg");
        c->kernel_pstore_path = strdup("/sys/fs/pstore");
        if (!c->metrics_namespace || !c->kmsg_path || !c->kernel_pstore_path ||
            strv_extend(&c->metrics_filesystems, "/") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Parses TEXT (from FILE) and applies it onto CFG. */
static void apply_text(Ctx *c, Config *cfg, const char *text, size_t len) {
        _cleanup_json_ cJSON *doc = NULL;
        const char *end = NULL;

        if (memchr(text, 0, len)) {
                add_error(c, "$", "contains a NUL byte");
                return;
        }
        /* TEXT is NUL-terminated; cJSON wants the terminator inside the length to accept it. */
        doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
        if (!doc) {
                size_t off = end && end >= text ? (size_t) (end - text) : 0;
                unsigned line = 1, col = 1;
                for (size_t i = 0; i < off && i < len; i++, col++)
                        if (text[i] == '\n') {
                                line++;
                                col = 0;
                        }
                add_error(c, "$", "invalid JSON near line %u, column %u", line, col);
                return;
        }
        (void) apply_object(c, "", doc, top_fields, cfg);
}

static void check_merged(Ctx *c, Config *cfg) {
        if (cfg->metrics_publish_interval_s < cfg->metrics_collection_interval_s)
                add_error(c, "metrics.publish_interval_s",
                          "must not be shorter than metrics.collection_interval_s (%u < %u)",
                          cfg->metrics_publish_interval_s, cfg->metrics_collection_interval_s);
}

int config_load_string(const char *file, const char *text, Config **ret, char ***ret_errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Ctx c = { .file = file, .errors = &errors };
        int r;

        r = config_new_default(&cfg);
        if (r < 0)
                return r;
        apply_text(&c, cfg, text, strlen(text));
        check_merged(&c, cfg);
        if (c.oom)
                return c.oom;
        *ret = TAKE_PTR(cfg);
        *ret_errors = TAKE_PTR(errors);
        return 0;
}

static int load_file(Ctx *c, Config *cfg, const char *path, bool must_exist) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        c->file = path;
        c->file_index++;
        r = read_file_bounded(path, CONFIG_MAX_BYTES, &text, &len);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                add_error(c, "$", "file is larger than %u bytes", CONFIG_MAX_BYTES);
        else if (r < 0)
                add_error(c, "$", "cannot read: %s", strerror(-r));
        else
                apply_text(c, cfg, text, len);
        return 0;
}

static int dropin_filter(const struct dirent *d) {
        return d->d_name[0] != '.' && endswith(d->d_name, ".json");
}

static int lexical(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int config_load(const char *path, Config **ret, char ***ret_errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *dir = NULL, *dropins = NULL;
        struct dirent **names = NULL;
        Ctx c = { .errors = &errors };
        int r, n;

        r = config_new_default(&cfg);
        if (r < 0)
                return r;
        r = load_file(&c, cfg, path ?: CONFIG_DEFAULT_PATH, path != NULL);
        if (r < 0)
                return r;

        /* The drop-in directory is the sibling "config.d" of the main file. */
        const char *main_path = path ?: CONFIG_DEFAULT_PATH;
        const char *slash = strrchr(main_path, '/');
        dir = slash ? strndup(main_path, (size_t) (slash - main_path) + 1) : strdup("./");
        if (!dir || !(dropins = path_join(dir, "config.d")))
                return -ENOMEM;
        n = scandir(dropins, &names, dropin_filter, lexical);
        if (n < 0 && errno != ENOENT && errno != ENOTDIR) {
                c.file = dropins;
                add_error(&c, "$", "cannot read directory: %m");
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = path_join(dropins, names[i]->d_name);
                if (!p || load_file(&c, cfg, p, true) < 0)
                        r = -ENOMEM;
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;

        c.file = main_path;
        check_merged(&c, cfg);
        if (c.oom)
                return c.oom;
        *ret = TAKE_PTR(cfg);
        *ret_errors = TAKE_PTR(errors);
        return 0;
}

const char *step_kind_to_string(StepKind k) {
        return (unsigned) k < _STEP_KIND_MAX ? step_fields[k].key : "unknown";
}
