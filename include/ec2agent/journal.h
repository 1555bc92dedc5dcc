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

#define JOURNAL_RECENT_RUNS 64             /* rule-fired runs remembered */
#define JOURNAL_RUN_ID_MAX  64             /* bytes of a run id, NUL included */
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

/* True when the journal holds a rule-fired event of run RUN: one appended since open, or one in
 * the tail of events.jsonl read at open (the journal's own file). The engine announces a firing
 * at least once (a SIGKILL between the append and its save of actions.json repeats it); the
 * manager drops the repeat here, so the journal, the forwarders and the engine see it once. */
bool journal_holds_run(const Journal *j, const char *run);

/* Number of events appended since open. */
uint64_t journal_appended(const Journal *j);

/* Calls VISIT for every stored event, oldest first across the rotated files, with the parsed
 * line (owned by the journal reader; valid during the call). Torn or unparsable lines are
 * skipped and counted in *RET_SKIPPED. VISIT returns < 0 to stop (returned), else 0.
 * Returns 0 or a negative errno; a missing journal is empty, not an error. */
typedef int (*JournalVisit)(const cJSON *event, void *userdata);
int journal_read(const char *state_dir, JournalVisit visit, void *userdata, unsigned *ret_skipped);
