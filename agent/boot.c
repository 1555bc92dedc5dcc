/* boot.c — boot identity and the clean-shutdown mark that tells the next boot how this one ended.
 *
 * boot.json: {"boot_id": CURRENT, "previous": {"boot_id": …, "clean_shutdown": true|false}}
 * clean-shutdown: the boot id of the boot whose agent stopped cleanly, written at SIGTERM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/boot.h"
#include "ec2agent/json.h"
#include "ec2agent/utf8.h"

static bool is_boot_id(const char *s) {
        return s && strlen(s) == BOOT_ID_LEN && strspn(s, "0123456789abcdef") == BOOT_ID_LEN;
}

/* "0f6b4b3b-7c1e-4e7f-9d51-0a0f2a8f3a11\n", or the same without dashes, into 32 hex digits. */
static int boot_id_parse(const char *text, char ret[static BOOT_ID_LEN + 1]) {
        size_t n = 0;

        for (const char *p = text; *p && *p != '\n'; p++) {
                if (*p == '-')
                        continue;
                if (n >= BOOT_ID_LEN || !strchr("0123456789abcdef", *p))
                        return -EINVAL;
                ret[n++] = *p;
        }
        if (n != BOOT_ID_LEN)
                return -EINVAL;
        ret[n] = 0;
        return 0;
}

int boot_id_get(char ret[static BOOT_ID_LEN + 1]) {
        _cleanup_free_ char *text = NULL;
        const char *env = getenv("EC2AGENT_BOOT_ID");
        int r;

        if (env && boot_id_parse(env, ret) == 0)
                return 0;
        r = read_file_bounded("/proc/sys/kernel/random/boot_id", 64, &text, NULL);
        if (r < 0)
                return r;
        return boot_id_parse(text, ret);
}

static int write_state(const char *state_dir, const char *current, const PreviousBoot *prev) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;
        cJSON *p;

        if (!o || !cJSON_AddStringToObject(o, "boot_id", current) ||
            !(p = cJSON_AddObjectToObject(o, "previous")))
                return -ENOMEM;
        if (prev->known) {
                if (!cJSON_AddStringToObject(p, "boot_id", prev->boot_id) ||
                    !cJSON_AddBoolToObject(p, "clean_shutdown", prev->clean))
                        return -ENOMEM;
        }
        if (prev->crash_log[0] && !cJSON_AddStringToObject(p, "crash_log", prev->crash_log))
                return -ENOMEM;
        if (!(text = cJSON_PrintUnformatted(o)))
                return -ENOMEM;
        return write_file_atomic(state_dir, BOOT_STATE_FILE, text, strlen(text), 0644);
}

int boot_state_from_json(const cJSON *o, char ret_boot_id[static BOOT_ID_LEN + 1], PreviousBoot *ret_prev) {
        const char *recorded = json_get_string(o, "boot_id");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "previous");
        const char *id = json_get_string(p, "boot_id"), *crash = json_get_string(p, "crash_log");
        PreviousBoot prev = {};

        if (!is_boot_id(recorded) || (p && !cJSON_IsObject(p)))
                return -EBADMSG;
        if (is_boot_id(id)) {
                prev.known = true;
                memcpy(prev.boot_id, id, BOOT_ID_LEN + 1);
                prev.clean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "clean_shutdown"));
        }
        /* it reaches status: kept valid UTF-8 without control characters, whoever wrote it */
        if (crash)
                (void) utf8_escape(crash, strlen(crash), UTF8_ESCAPE_C1, prev.crash_log,
                                   sizeof prev.crash_log);
        memcpy(ret_boot_id, recorded, BOOT_ID_LEN + 1);
        *ret_prev = prev;
        return 0;
}

int boot_judge_previous(const char *state_dir, const char *current, PreviousBoot *ret) {
        _cleanup_free_ char *mark_path = path_join(state_dir, BOOT_CLEAN_MARK);
        _cleanup_free_ char *mark = NULL;
        _cleanup_json_ cJSON *o = NULL;
        PreviousBoot prev = {}, stored = {};
        char recorded[BOOT_ID_LEN + 1];
        bool have = false;
        int r;

        if (!mark_path)
                return -ENOMEM;
        /* a torn or hand-broken boot.json is set aside (boot.json.corrupt, a warning): this start
         * then judges nothing, as a first start would */
        r = state_load_json(state_dir, BOOT_STATE_FILE, 4096, &o);
        if (r > 0) {
                have = boot_state_from_json(o, recorded, &stored) >= 0;
                if (!have)
                        (void) state_set_aside(state_dir, BOOT_STATE_FILE, "no valid boot_id");
        }

        if (have && strcmp(recorded, current) == 0)
                /* Started again within this boot: the verdict stands as first judged. */
                prev = stored;
        else if (have) {
                prev.known = true;
                prev.new_verdict = true;
                memcpy(prev.boot_id, recorded, BOOT_ID_LEN + 1);
                if (read_file_bounded(mark_path, 256, &mark, NULL) >= 0) {
                        mark[strcspn(mark, "\n")] = 0;
                        prev.clean = strcmp(mark, recorded) == 0;
                }
        }
        /* else: the very first start on this state directory, nothing to judge. */

        r = write_state(state_dir, current, &prev);
        if (r < 0)
                return r;
        if (unlink(mark_path) < 0 && errno != ENOENT)
                return negative_errno();
        *ret = prev;
        return 0;
}

int boot_set_crash_log(const char *state_dir, const char *current, PreviousBoot *prev, const char *summary) {
        snprintf(prev->crash_log, sizeof prev->crash_log, "%s", summary);
        return write_state(state_dir, current, prev);
}

int boot_mark_clean(const char *state_dir, const char *current) {
        char line[BOOT_ID_LEN + 2];
        int n = snprintf(line, sizeof line, "%s\n", current);
        return write_file_atomic(state_dir, BOOT_CLEAN_MARK, line, (size_t) n, 0644);
}
