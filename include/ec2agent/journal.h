/* journal.h — the persisted event history: events.jsonl in the state directory (SPEC §6). */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "util.h"

#define JOURNAL_FILE              "events.jsonl"
#define JOURNAL_DEFAULT_MAX_BYTES (4U * 1024U * 1024U) /* per file */
#define JOURNAL_KEEP_ROTATED      4                    /* events.jsonl.1 … .4 */
#define JOURNAL_MAX_LINE          (64U * 1024U)

#define JOURNAL_RECENT_KEYS 256            /* keys of the newest events remembered */
#define JOURNAL_KEY_MAX     128            /* bytes of a key, NUL included */
#define JOURNAL_TAIL_BYTES  (256U * 1024U) /* read back at open, for the runs */

typedef struct Journal Journal;

/* Opens STATE_DIR/events.jsonl for appending (creating it), rotating at MAX_BYTES.
 * Returns 0 or a negative errno (the directory is unwritable, …). */
int journal_open(const char *state_dir, uint64_t max_bytes, Journal **ret);
Journal *journal_free(Journal *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Journal *, journal_free);

/* Appends E as one line; fsyncs it when E is critical; rotates when the file is full.
 * A torn last line left by a power loss is closed first, so it never swallows E.
 * Returns 0 or a negative errno (-ENOSPC, …): the caller counts and goes on. */
int journal_append(Journal *j, const Event *e, const char *boot_id);

/* The key of an event a producer may hand over twice after a SIGKILL, into BUF: "run/RUN" for a
 * rule-fired event (the engine announces a firing at least once: a kill between the journal line
 * and its save of actions.json repeats it), "kmsg/BOOT/TYPE/SEQ" for an event of one kernel record
 * and "kmsg/BOOT/TYPE/to/LAST_SEQ/COUNT" for a burst's follow-up (kmsg saves its cursor after a
 * batch's events: a kill between replays the batch). Returns 1, or 0 for an event without a key. */
int journal_event_key(const char *type, const char *boot_id, const cJSON *detail, char *buf, size_t size);

/* True when the journal holds an event with E's key (of boot BOOT_ID): one appended since open, or
 * one in the tail of events.jsonl read at open (its own file; the newest JOURNAL_RECENT_KEYS). The
 * manager drops such a repeat before anything sees it, so every event is recorded once. */
bool journal_holds(const Journal *j, const Event *e, const char *boot_id);

/* Number of events appended since open. */
uint64_t journal_appended(const Journal *j);

/* Calls VISIT for every stored event, oldest first across the rotated files, with the parsed
 * line (owned by the journal reader; valid during the call). Torn or unparsable lines are
 * skipped and counted in *RET_SKIPPED. VISIT returns < 0 to stop (returned), else 0.
 * Returns 0 or a negative errno; a missing journal is empty, not an error. */
typedef int (*JournalVisit)(const cJSON *event, void *userdata);
int journal_read(const char *state_dir, JournalVisit visit, void *userdata, unsigned *ret_skipped);
