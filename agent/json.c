/* json.c — cJSON ownership helpers and the few shapes we emit often. */
#include <errno.h>

#include "ec2agent/json.h"

cJSON *json_add_time(cJSON *obj, const char *key, usec_t t) {
        char buf[RFC3339_MAX];
        if (t == 0)
                return cJSON_AddNullToObject(obj, key);
        return cJSON_AddStringToObject(obj, key, format_rfc3339(buf, t));
}

cJSON *json_add_string_or_null(cJSON *obj, const char *key, const char *s) {
        return s ? cJSON_AddStringToObject(obj, key, s) : cJSON_AddNullToObject(obj, key);
}

const char *json_get_string(const cJSON *obj, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

double json_get_number(const cJSON *obj, const char *key, double def) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        return cJSON_IsNumber(v) ? v->valuedouble : def;
}

int json_replace(cJSON *obj, const char *key, cJSON *item) {
        if (!item)
                return -ENOMEM;
        if (cJSON_GetObjectItemCaseSensitive(obj, key)
                    ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                    : cJSON_AddItemToObject(obj, key, item))
                return 0;
        cJSON_Delete(item);
        return -ENOMEM;
}
