/* kernel.h — kernel state: taint, and the crash records a dead boot leaves in pstore. */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

#include "event.h"
#include "kmsg.h"

#define PSTORE_SYSTEMD_ARCHIVE "/var/lib/systemd/pstore"

/* Writes status.kernel's uptime_s, load, tainted and taint_flags into KERNEL from /proc, read now;
 * what cannot be read is left out (tainted: null). Returns 0 or -ENOMEM. */
int kernel_status(cJSON *kernel);

/* Parses /proc/sys/kernel/tainted's "12289\n": decimal digits only. Returns 0 or -EBADMSG. Pure. */
int kernel_parse_taint(const char *text, size_t len, uint64_t *ret);

/* Reads /proc/sys/kernel/tainted (PATH) as a number (kernel_parse_taint). */
int kernel_read_taint(const char *path, uint64_t *ret);

/* The letters of the set taint bits, in the kernel's order (kernel/panic.c taint_flags):
 * "POE" for a proprietary, out-of-tree, unsigned module. "" when untainted. */
void kernel_taint_letters(uint64_t taint, char ret[static 32]);

/* Summarises a pstore dmesg record ("Panic#1 Part1\n<0>[ 1234.5] Kernel panic - not syncing: …"):
 * the panic line if there is one, else the first oops, lockup or OOM line, else the header.
 * Writes at most MAX-1 bytes to RET. Returns 0, or -ENODATA when nothing in it explains a crash. */
int pstore_summarize(const char *text, size_t len, char *ret, size_t max);

/* Parses pstore-seen.json: {"seen": ["dmesg-efi-1:8192:1700000000", …]} (or the bare list written
 * before 2026-12) into a new array of at most 256 keys in *RET (the newest kept). Returns 0,
 * -EBADMSG when it is not that shape, -ENOMEM. Pure. */
int pstore_seen_parse(const char *text, size_t len, cJSON **ret);

/* Looks at the pstore records in DIR (and in systemd-pstore's archive when ARCHIVE is not NULL),
 * emits into SINK one previous-boot-crash event for each record not seen before (remembered in
 * STATE_DIR/pstore-seen.json), and returns the summary of the newest of those new records in
 * *RET_SUMMARY (NULL when there is none; the caller frees). Returns the number of new records, or a
 * negative errno. */
int pstore_scan(const char *dir, const char *archive, const char *state_dir, const EventSink *sink,
                char **ret_summary);
