/* config-fields.h — inside the configuration loader: the field tables and their helpers.
 *
 * Private to config.c and config-rules.c (not a public header): a section of SPEC §4 is a
 * table of Field rows (key, type, offset into its struct, range or check) that
 * config_apply_object() walks; everything here reports through config_error() into the Ctx. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec2agent/config.h"
#include "ec2agent/json.h"
#include "ec2agent/macro.h"

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

/* Reports one error "FILE: PATH: message" (key and value escaped for a terminal). */
_printf_(3, 4) void config_error(Ctx *c, const char *path, const char *fmt, ...);
/* "PATH.KEY" and "PATH[I]", or NULL without memory. */
char *config_path_key(const char *path, const char *key);
char *config_path_index(const char *path, size_t i);
/* Levenshtein distance of two short strings (SIZE_MAX above 64 bytes), for "did you mean". */
size_t config_edit_distance(const char *a, const char *b);
/* "a boolean", "a number", …: how an error names the JSON type of V. */
const char *config_type_name(const cJSON *v);
/* Replaces *DST by a copy of S (NULL: unset); false without memory (c->oom set). */
bool config_set_string(Ctx *c, char **dst, const char *s);
/* Reads V as an integer in [MIN, MAX]; reports and returns false otherwise. */
bool config_get_uint(Ctx *c, const char *path, const cJSON *v, uint64_t min, uint64_t max, unsigned *ret);

/* Applies the members of object V onto BASE through FIELDS. Returns the bitmask of the
 * fields seen (bit i for FIELDS[i]: test it with SEEN(seen, i), i a table's index enum);
 * reports unknown and duplicate keys. */
#define SEEN(seen, i) (((seen) >> (i)) & 1U)
uint64_t config_apply_object(Ctx *c, const char *path, const cJSON *v, const Field *fields, void *base);

/* Parses V as a non-empty (unless ALLOW_EMPTY) array of strings that pass CHECK (distinct if
 * UNIQUE), replacing *DST. Returns true on success. */
bool config_parse_string_array(Ctx *c, const char *path, const cJSON *v, StringCheck check, bool allow_empty,
                               bool unique, char ***dst);

/* String checks shared by several sections: NULL when S is acceptable, else the message. */
const char *config_check_url(const char *s);
const char *config_check_abs_path(const char *s);
/* True when S is 1 to MAX bytes, each of CHARSET: the shape of most AWS resource names. */
bool config_is_name(const char *s, size_t max, const char *charset);
#define CONFIG_ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* config-rules.c: the "rules" array (a FIELD_CUSTOM parser on Config), and freeing one rule. */
void config_parse_rules(Ctx *c, const char *path, const cJSON *v, void *base);
void config_rule_done(Rule *r);
