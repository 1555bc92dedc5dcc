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
/* Replaces OBJ[KEY] with ITEM (taken over; freed on failure). Returns 0 or -ENOMEM. */
int json_replace(cJSON *obj, const char *key, cJSON *item);
