/* json.c — cJSON ownership helpers and the few shapes we emit often. */
#include <errno.h>
#include <stdio.h>

#include "ec2agent/json.h"
#include "ec2agent/log.h"

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

uint64_t json_u64(const cJSON *item, uint64_t def) {
        if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0) || item->valuedouble > 0x1p53)
                return def; /* NaN fails ">= 0" */
        return (uint64_t) item->valuedouble;
}

uint64_t json_get_u64(const cJSON *obj, const char *key, uint64_t def) {
        return json_u64(cJSON_GetObjectItemCaseSensitive(obj, key), def);
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

int state_set_aside(const char *dir, const char *name, const char *why) {
        _cleanup_free_ char *path = path_join(dir, name), *aside = NULL;

        if (!path || asprintf(&aside, "%s.corrupt", path) < 0)
                return log_oom();
        if (rename(path, aside) < 0)
                return log_warning_errno(errno, "Cannot set aside the unreadable %s (%s): %m", path, why);
        log_warning("Set aside the unreadable %s as %s (%s); starting without it.", path, aside, why);
        return 0;
}

int state_load_json(const char *dir, const char *name, size_t max, cJSON **ret) {
        _cleanup_free_ char *path = path_join(dir, name), *text = NULL;
        cJSON *j;
        size_t len;
        int r;

        *ret = NULL;
        if (!path)
                return log_oom();
        r = read_file_bounded(path, max, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG || r == -ENOBUFS) {
                (void) state_set_aside(dir, name, "too large");
                return -EBADMSG;
        }
        if (r < 0)
                return log_warning_errno(r, "Cannot read %s: %m", path);
        j = cJSON_ParseWithLength(text, len);
        if (!cJSON_IsObject(j)) {
                cJSON_Delete(j);
                (void) state_set_aside(dir, name, "not a JSON object");
                return -EBADMSG;
        }
        *ret = j;
        return 1;
}
