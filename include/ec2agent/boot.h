/* boot.h — boot identity and the clean-shutdown mark that tells the next boot how this one ended. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "util.h"

#define BOOT_ID_LEN     32
#define BOOT_STATE_FILE "boot.json"
#define BOOT_CLEAN_MARK "clean-shutdown"

typedef struct PreviousBoot {
        bool known; /* false on the very first start: nothing to judge */
        char boot_id[BOOT_ID_LEN + 1];
        bool clean;          /* the agent of that boot wrote its clean-shutdown mark */
        bool new_verdict;    /* judged by this start (not carried over from an earlier start of this boot) */
        char crash_log[256]; /* the summary of its pstore crash record, "" when none */
} PreviousBoot;

/* This boot's id as 32 hex digits: $EC2AGENT_BOOT_ID when valid (the unit passes systemd's %b: in a
 * container, the container's boot, which the sandbox's fresh /proc hides behind the kernel's),
 * else the kernel's /proc/sys/kernel/random/boot_id. */
int boot_id_get(char ret[static BOOT_ID_LEN + 1]);

/* Reads a boot.json object O: the boot it was written in into RET_BOOT_ID, and the verdict on the
 * boot before that into RET_PREV (crash_log made valid UTF-8 without control characters).
 * Returns 0, or -EBADMSG when O has no valid "boot_id" (then nothing is written). Pure. */
int boot_state_from_json(const cJSON *o, char ret_boot_id[static BOOT_ID_LEN + 1], PreviousBoot *ret_prev);

/* Judges the previous boot from the state directory and records this boot. On the first
 * start of boot CURRENT, the previous boot is the one recorded in boot.json: clean when the
 * clean-shutdown mark names it. Later starts in the same boot carry the verdict over. The
 * mark is consumed. A boot.json that cannot be read as such is set aside as boot.json.corrupt
 * with a warning (state_load_json), and this start judges nothing. Returns 0 or a negative errno (the state
 * directory is unwritable). */
int boot_judge_previous(const char *state_dir, const char *current, PreviousBoot *ret);

/* Records the previous boot's crash summary in boot.json, so later starts of boot CURRENT keep it. */
int boot_set_crash_log(const char *state_dir, const char *current, PreviousBoot *prev, const char *summary);

/* Writes the clean-shutdown mark for boot CURRENT (at the end of a clean stop). */
int boot_mark_clean(const char *state_dir, const char *current);
