/* config-fields.c — the machinery of the configuration loader: field tables applied onto a
 * struct, errors with their JSON path, integer ranges, string arrays, "did you mean". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config-fields.h"
#include "ec2agent/utf8.h"

void config_error(Ctx *c, const char *path, const char *fmt, ...) {
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

char *config_path_key(const char *path, const char *key) {
        char *r;
        if (asprintf(&r, "%s%s%s", path, *path ? "." : "", key) < 0)
                return NULL;
        return r;
}

char *config_path_index(const char *path, size_t i) {
        char *r;
        if (asprintf(&r, "%s[%zu]", path, i) < 0)
                return NULL;
        return r;
}

size_t config_edit_distance(const char *a, const char *b) {
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

const char *config_type_name(const cJSON *v) {
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

bool config_set_string(Ctx *c, char **dst, const char *s) {
        char *n = NULL;
        if (s && !(n = strdup(s))) {
                c->oom = -ENOMEM;
                return false;
        }
        free(*dst);
        *dst = n;
        return true;
}

bool config_get_uint(Ctx *c, const char *path, const cJSON *v, uint64_t min, uint64_t max, unsigned *ret) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble) {
                config_error(c, path, "must be an integer, not %s",
                             cJSON_IsNumber(v) ? "a fraction" : config_type_name(v));
                return false;
        }
        if (v->valuedouble < (double) min || v->valuedouble > (double) max) {
                config_error(c, path, "must be between %llu and %llu, not %.0f", (unsigned long long) min,
                             (unsigned long long) max, v->valuedouble);
                return false;
        }
        *ret = (unsigned) v->valuedouble;
        return true;
}

uint64_t config_apply_object(Ctx *c, const char *path, const cJSON *v, const Field *fields, void *base) {
        uint64_t seen = 0;

        if (!cJSON_IsObject(v)) {
                config_error(c, *path ? path : "$", "must be an object, not %s", config_type_name(v));
                return 0;
        }
        for (const cJSON *m = v->child; m; m = m->next) {
                _cleanup_free_ char *p = config_path_key(path, m->string);
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
                                size_t d = config_edit_distance(m->string, g->key);
                                if (d < bestd) {
                                        bestd = d;
                                        best = g->key;
                                }
                        }
                        if (best)
                                config_error(c, p, "unknown key (did you mean \"%s\"?)", best);
                        else
                                config_error(c, p, "unknown key");
                        continue;
                }
                if (seen & (UINT64_C(1) << i)) {
                        config_error(c, p, "duplicate key");
                        continue;
                }
                seen |= UINT64_C(1) << i;

                switch (f->type) {
                case FIELD_BOOL:
                        if (!cJSON_IsBool(m))
                                config_error(c, p, "must be true or false, not %s", config_type_name(m));
                        else
                                *FIELD_AT(base, f->offset, bool) = cJSON_IsTrue(m);
                        break;
                case FIELD_UINT:
                        (void) config_get_uint(c, p, m, f->min, f->max, FIELD_AT(base, f->offset, unsigned));
                        break;
                case FIELD_STRING: {
                        const char *msg;
                        if (cJSON_IsNull(m) && f->nullable)
                                (void) config_set_string(c, FIELD_AT(base, f->offset, char *), NULL);
                        else if (!cJSON_IsString(m))
                                config_error(c, p, "must be a string%s, not %s",
                                             f->nullable ? " or null" : "", config_type_name(m));
                        else if (f->check && (msg = f->check(m->valuestring)))
                                config_error(c, p, "%s", msg);
                        else
                                (void) config_set_string(c, FIELD_AT(base, f->offset, char *),
                                                         m->valuestring);
                        break;
                }
                case FIELD_OBJECT:
                        (void) config_apply_object(c, p, m, f->sub, base);
                        break;
                case FIELD_CUSTOM:
                        f->parse(c, p, m, base);
                        break;
                }
        }
        return seen;
}

/* ---- shared string checks ---- */

const char *config_check_url(const char *s) {
        if (!startswith(s, "http://") && !startswith(s, "https://"))
                return "must be an http:// or https:// URL";
        if (strlen(s) <= strlen("https://") - (startswith(s, "http://") ? 1 : 0) || strlen(s) > 1024)
                return "must be an http:// or https:// URL with a host";
        if (strpbrk(s, " \t\r\n"))
                return "must not contain white space";
        return NULL;
}

const char *config_check_abs_path(const char *s) {
        if (s[0] != '/')
                return "must be an absolute path";
        if (strlen(s) > 4095)
                return "is too long";
        return NULL;
}

bool config_is_name(const char *s, size_t max, const char *charset) {
        size_t n = strlen(s);
        return n > 0 && n <= max && strspn(s, charset) == n;
}

/* ---- arrays ---- */

/* ---- arrays ---- */

bool config_parse_string_array(Ctx *c, const char *path, const cJSON *v, StringCheck check, bool allow_empty,
                               bool unique, char ***dst) {
        _cleanup_strv_free_ char **out = NULL;
        bool ok = true;
        size_t i = 0;

        if (!cJSON_IsArray(v)) {
                config_error(c, path, "must be an array of strings, not %s", config_type_name(v));
                return false;
        }
        if (!v->child && !allow_empty) {
                config_error(c, path, "must not be empty");
                return false;
        }
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = config_path_index(path, i);
                const char *msg;
                if (!p) {
                        c->oom = -ENOMEM;
                        return false;
                }
                if (!cJSON_IsString(e)) {
                        config_error(c, p, "must be a string, not %s", config_type_name(e));
                        ok = false;
                        continue;
                }
                if (check && (msg = check(e->valuestring))) {
                        config_error(c, p, "%s", msg);
                        ok = false;
                        continue;
                }
                if (unique)
                        for (char **s = out; s && *s; s++)
                                if (strcmp(*s, e->valuestring) == 0) {
                                        config_error(c, p, "\"%s\" is listed twice", e->valuestring);
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
