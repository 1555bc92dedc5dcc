/* kmsg.h — the kernel log: /dev/kmsg records, their classification, and the loop source. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "event.h"
#include "util.h"

#define KMSG_MAX_RECORD        8192
#define KMSG_BURST_WINDOW_USEC (60 * USEC_PER_SEC)
#define KMSG_SOURCE_MAX        64

/* One record of /dev/kmsg (Documentation/ABI/testing/dev-kmsg):
 *   "6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n DEVICE=n1\n"
 * PRI (facility * 8 + level), sequence number, µs since boot, flags ('-', or 'c' for a
 * continuation), maybe more comma-separated fields, then the text with \xNN escapes.
 *
 * The record text contract (TEXT and DEVICE): the kernel escapes every byte < 0x20, >= 0x7f and
 * the backslash as \xNN. A \xNN of a byte >= 0x80 is decoded; every byte that is then not part
 * of valid UTF-8 becomes U+FFFD (one per byte); a control byte (< 0x20, 0x7f; NUL included) and
 * the backslash stay the four characters \xNN (lower-case hex), a C1 control (U+0080..U+009F) its
 * two escapes \xc2\xNN. So the text is valid UTF-8 with
 * no control character and no backslash but the ones that begin \xNN, and can be stored, logged
 * and sent as is. One raw byte of a task name (comm, at most 15 bytes) takes 1 to 4 bytes of
 * text: a copy into a fixed buffer must be cut at a character boundary. */
#define KMSG_TEXT_MAX   (KMSG_MAX_RECORD + 1) /* a kernel record's text never grows when decoded */
#define KMSG_DEVICE_MAX 128
typedef struct KmsgRecord {
        unsigned facility; /* 0: the kernel; user space can never write facility 0 */
        unsigned level;
        uint64_t seq;
        usec_t ts;  /* µs since boot, the kernel's clock */
        char *text; /* NUL-terminated, by the contract above; kmsg_parse_record() points it at
                     * text_storage (so a copy of the struct points at the original's) */
        size_t text_len;
        const char *device; /* "DEVICE=" value (same contract) or NULL */
        char text_storage[KMSG_TEXT_MAX];
        char device_storage[KMSG_DEVICE_MAX];
} KmsgRecord;

/* Parses one record of LEN bytes at BUF (followed by a NUL or not) into *RET, decoding the text
 * and the DEVICE= value of the continuation lines (" KEY=VALUE") by the contract above. Returns
 * 0, or -EBADMSG for anything that is not a record. BUF is not changed or kept. */
int kmsg_parse_record(const char *buf, size_t len, KmsgRecord *ret);

/* Decodes LEN bytes of kernel text at IN (\xNN escapes, or raw bytes) into OUT by the record text
 * contract: valid UTF-8, control bytes and '\\' as \xNN, U+FFFD for each byte of invalid UTF-8.
 * Writes at most SIZE bytes, the NUL included, cut at a character boundary; returns the length. */
size_t kmsg_text_decode(const char *in, size_t len, char *out, size_t size);

typedef enum KmsgClass {
        KMSG_NONE = 0,
        KMSG_OOM_KILL,
        KMSG_FS_ERROR,
        KMSG_FS_READONLY,
        KMSG_IO_ERROR,
        KMSG_HUNG_TASK,
        KMSG_SOFT_LOCKUP,
        KMSG_RCU_STALL,
        KMSG_KERNEL_OOPS,
        KMSG_KERNEL_WARNING,
        KMSG_SEGFAULT,
        KMSG_NET_ERROR,
        KMSG_OOM_CONTEXT, /* a line that describes the next OOM kill (constraint, cgroup, trigger) */
        _KMSG_CLASS_MAX,
} KmsgClass;

/* The event type of a class ("oom-kill", …), NULL for KMSG_NONE and KMSG_OOM_CONTEXT. */
const char *kmsg_class_to_string(KmsgClass c);

typedef struct KmsgMatch {
        KmsgClass klass;
        const char *format;           /* the row that matched, e.g. "ext4 error" */
        char source[KMSG_SOURCE_MAX]; /* what bursts are grouped by: device, CPU, task, file:line */
        /* fields, as far as the format has them (0 / "" otherwise) */
        char process[64];
        int64_t pid;
        uint64_t sector;
        uint64_t seconds; /* hung task, soft lockup */
        char where[96];   /* kernel-warning file:line, segfault library, oops reason */
        /* oom-kill */
        uint64_t total_vm_kb, anon_rss_kb, file_rss_kb, shmem_rss_kb, pgtables_kb;
        int64_t uid, oom_score_adj;
        bool has_uid, has_score_adj;
        bool cgroup_oom; /* "Memory cgroup out of memory" */
        /* oom context */
        char constraint[32];
        char cgroup[128];
} KmsgMatch;

/* Classifies the text of one kernel record by the kernel's own formats (kmsg-rules.c). Records
 * not of facility 0 are never classified. Returns the class (KMSG_NONE when nothing matched). */
KmsgClass kmsg_classify(const KmsgRecord *rec, KmsgMatch *ret);

/* ---- the source ---- */

typedef struct KmsgOptions {
        const char *path;      /* /dev/kmsg, or a FIFO or file of records in the same format */
        const char *state_dir; /* for the replay cursor; NULL: none */
        const char *boot_id;
        /* Called before the cursor is saved: whatever the records up to it caused (rule firings) must
         * be on disk first, or a crash right after the save would lose it. NULL: nothing to flush. */
        void (*before_cursor_save)(void *userdata);
        void *before_cursor_save_userdata;
} KmsgOptions;

typedef struct Kmsg Kmsg;

/* Starts reading OPTS->path on EVENT; with OPTS->path NULL reads nothing and is fed by
 * kmsg_feed() (tests, fuzzing). Events go to SINK (copied). Returns 0 or a negative errno. */
int kmsg_new(sd_event *event, const KmsgOptions *opts, const EventSink *sink, Kmsg **ret);
/* Hands LEN bytes at DATA to the same code as what is read: one /dev/kmsg record when RECORD, else
 * a piece of a FIFO's or file's stream (lines, possibly cut anywhere). */
void kmsg_feed(Kmsg *k, const void *data, size_t len, bool record);
Kmsg *kmsg_free(Kmsg *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(Kmsg *, kmsg_free);

/* Writes status.kernel's oom_kills, last_oom and problems, plus the "kmsg" counters, into KERNEL;
 * K NULL (the kernel log off or unreadable) writes their absent shape: 0, null, [], no counters.
 * Returns 0 or -ENOMEM. */
int kmsg_status(const Kmsg *k, cJSON *kernel);
