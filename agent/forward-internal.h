/* forward-internal.h — what forward.c (batches, requests, the forwarder), forward-spool.c (the spool
 * and its cursor) and forward-wire.c (request bodies, replies, batch limits) share. Not a public header. */
#pragma once

#include "ec2agent/forward.h"

#define FORWARD_DIR    "forward"
#define CURSOR_FILE    "cursor"
#define LINE_MAX_BYTES (200U * 1024U) /* an event line longer than this is no event of ours */

typedef enum TargetKind {
        TARGET_LOGS,
        TARGET_EVENTS,
        _TARGET_MAX,
} TargetKind;

/* The targets' configuration keys and their names in messages. */
extern const char *const forward_target_names[_TARGET_MAX];
extern const char *const forward_target_titles[_TARGET_MAX];

typedef struct Target {
        Forwarder *f;
        TargetKind kind;
        bool enabled;
        char *dir;
        int append_fd, cursor_fd;
        uint64_t append_seq, append_bytes;
        uint64_t cursor_seq, cursor_off; /* the first line not delivered */

        /* the batch: lines read from the spool at the cursor, up to (end_seq, end_off) */
        HttpCall *call;
        bool batch_ready;
        char *text; /* the lines' bytes, each line NUL-terminated in place */
        ForwardLine *lines;
        bool *pending; /* eventbridge: still to send */
        size_t n_lines, n_pending;
        uint64_t end_seq, end_off;
        bool create_stream; /* the next request is CreateLogStream */
        bool creating;      /* the request in flight is */
        unsigned attempt;
        sd_event_source *retry;

        uint64_t queued, spooled_bytes, sent, dropped, rejected, requests;
        usec_t last_ok_at, failing_since;
        char last_error[256];
        char logged_code[64]; /* the non-retryable code logged last: logged once */
} Target;

struct Forwarder {
        sd_event *event;
        Http *http;
        const Config *config;
        AwsEnv env;
        Target targets[_TARGET_MAX];
};

/* Serializes J unformatted into B (reset first). Returns 0 or -ENOMEM. */
int forward_print_into(Buf *b, const cJSON *j);

/* The spool files' sequence numbers, ascending, into *RET (the caller frees). Returns their count
 * (0 on error). */
size_t forward_spool_list(const Target *t, uint64_t **ret);
/* The path of spool file SEQ of T into BUF. */
void forward_spool_path(const Target *t, uint64_t seq, char *buf, size_t size);
/* The number of newlines in TEXT[FROM..LEN). */
uint64_t forward_spool_count_lines(const char *text, size_t len, size_t from);
/* Rewrites T's cursor file (opened on first use) with its cursor. Returns 0 or a negative errno. */
int forward_spool_save_cursor(Target *t);
/* At start: loads the cursor, removes the files before it (delivered), counts the rest into
 * queued and spooled_bytes; appends go to a new file. */
void forward_spool_open(Target *t);
/* Appends LINE (no newline) to T's spool in one write(2), then keeps the spool within its bound;
 * a failure counts the event as dropped and is recorded in last_error. */
void forward_spool_append(Target *t, const char *line);

/* Arms T's retry timer to try sending after DELAY. */
void forward_schedule_send(Target *t, usec_t delay);
