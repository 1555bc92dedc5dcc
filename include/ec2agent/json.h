/* json.h — cJSON ownership helpers and the few shapes we emit often. */
#pragma once

#include <cjson/cJSON.h>

#include "macro.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);
#define _cleanup_json_ _cleanup_(cJSON_Deletep)

/* Adds KEY: RFC 3339 string of realtime T, or null when T is 0. Returns the item or NULL. */
cJSON *json_add_time(cJSON *obj, const char *key, usec_t t);
/* Adds KEY: S, or null when S is NULL. */
cJSON *json_add_string_or_null(cJSON *obj, const char *key, const char *s);
/* The string value of OBJ[KEY], or NULL when absent or not a string. */
const char *json_get_string(const cJSON *obj, const char *key);
/* OBJ[KEY] as a number, or DEF when absent or not a number. */
double json_get_number(const cJSON *obj, const char *key, double def);
/* ITEM as a whole number in [0, 2^53] (every such double is exact; a cast of anything else to an
 * integer type is undefined), or DEF when ITEM is not a number or is out of that range. */
uint64_t json_u64(const cJSON *item, uint64_t def);
/* OBJ[KEY] as json_u64() takes it. */
uint64_t json_get_u64(const cJSON *obj, const char *key, uint64_t def);
/* Replaces OBJ[KEY] with ITEM (taken over; freed on failure). Returns 0 or -ENOMEM. */
int json_replace(cJSON *obj, const char *key, cJSON *item);

/* State files (the state directory's *.json): one way to read them and one way to give up on them.
 *
 * state_load_json() reads DIR/NAME (at most MAX bytes) and parses it as a JSON object into *RET.
 * Returns 1 with *RET set when loaded; 0 with *RET NULL when the file does not exist (a first
 * start); -EBADMSG with *RET NULL when it is not a JSON object (torn, truncated, hand-edited):
 * the file is then set aside as NAME.corrupt with a warning, so the caller starts empty but the
 * operator is told and the bytes are kept for the post-mortem. Other read errors are returned as
 * negative errno (logged at warning) and the file is left where it is. */
int state_load_json(const char *dir, const char *name, size_t max, cJSON **ret);

/* Renames DIR/NAME to DIR/NAME.corrupt (replacing an older one) and logs a warning naming WHY.
 * For a loader that parsed the JSON but found its shape wrong. Returns 0 or negative errno. */
int state_set_aside(const char *dir, const char *name, const char *why);
