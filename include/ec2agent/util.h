/* util.h — time, parsing, file and buffer helpers shared by every module. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

typedef uint64_t usec_t;

/* Exit codes (sysexits.h and the Nagios plugin convention for status). */
#define EXIT_USAGE          64
#define EXIT_CANTCREAT      73
#define EXIT_CONFIG         78
#define EXIT_STATUS_UNKNOWN 3

#define USEC_INFINITY   ((usec_t) UINT64_MAX)
#define USEC_PER_SEC    ((usec_t) 1000000ULL)
#define USEC_PER_MSEC   ((usec_t) 1000ULL)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR   (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY    (24 * USEC_PER_HOUR)

/* "2026-11-23T10:02:00Z" plus NUL, or with milliseconds "…00.123Z". */
#define RFC3339_MAX 32
/* 9999-12-31T23:59:59Z: the last second RFC 3339 can write (four-digit years). */
#define RFC3339_MAX_USEC (253402300799ULL * USEC_PER_SEC + 999999ULL)

/* The current time of CLOCK in µs. */
usec_t now_usec(clockid_t clock);

/* Formats realtime T (µs since the epoch) as RFC 3339 UTC with second precision into BUF
 * (RFC3339_MAX bytes). Returns BUF; "" when T is 0 or past RFC3339_MAX_USEC. */
char *format_rfc3339(char buf[static RFC3339_MAX], usec_t t);

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" (also ' ' for 'T', lowercase 'z').
 * Returns 0 and stores µs since the epoch, or -EINVAL (also for a time before 1970 or past
 * 9999-12-31T23:59:59Z in UTC, and for Feb 29 of a common year). */
int parse_rfc3339(const char *s, usec_t *ret);

/* Parses a duration: one or more NUMBER UNIT groups, units s m h d w ("2h", "1h30m", "90s"),
 * or a bare number of seconds. Returns 0, -EINVAL on bad syntax, -ERANGE on overflow. */
int parse_duration(const char *s, usec_t *ret);

/* Parses the whole of S as an unsigned decimal within [0, MAX]; no sign, no spaces.
 * Returns 0, -EINVAL or -ERANGE; *RET untouched on failure. */
int parse_u64(const char *s, uint64_t max, uint64_t *ret);
/* Same for LEN bytes at S (not NUL-terminated). */
int parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *ret);

/* Reads at most MAX bytes of PATH into a NUL-terminated buffer the caller frees.
 * Returns 0, -EFBIG when the file holds more, or a negative errno. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len);

/* Writes DATA to DIR/NAME atomically (temporary file, fsync, rename, fsync of DIR).
 * Returns 0 or a negative errno; on failure the old file is intact. */
int write_file_atomic(const char *dir, const char *name, const void *data, size_t len, int mode);

/* The first directory of the systemd variable NAME ($STATE_DIRECTORY, $RUNTIME_DIRECTORY: systemd
 * lists several separated by ':'), as a new string; NULL when unset or empty (errno 0) or on ENOMEM. */
char *env_first_directory(const char *name);

/* Joins A "/" B into a new string, or NULL on ENOMEM. */
char *path_join(const char *a, const char *b);

/* A uniformly distributed number in [0, 1), from getrandom(2) (the clock if that fails): for
 * backoff jitter, not for secrets. */
double random_unit(void);

bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
size_t strv_length(char *const *v);
/* Appends a copy of S to the NULL-terminated vector *V. Returns 0 or -ENOMEM. */
int strv_extend(char ***v, const char *s);

/* URL without what may be secret, to log or show: "user:pass@" becomes three asterisks and '@',
 * and a path, query or fragment other than "/" becomes '/' and three asterisks (webhook URLs
 * carry their token in the path); scheme, host and port stay. See test-util.c for examples.
 * Returns a new string; NULL for a NULL URL or on ENOMEM. */
char *url_redact(const char *url);

/* A growable byte buffer with a hard maximum (curl's dynbuf). Always NUL-terminated. */
typedef struct Buf {
        char *data;
        size_t len;
        size_t cap;
        size_t max;
} Buf;

void buf_init(Buf *b, size_t max);
/* Appends LEN bytes. Returns 0, -EFBIG past the maximum (nothing appended), -ENOMEM. */
int buf_append(Buf *b, const void *p, size_t len);
int buf_appendf(Buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_reset(Buf *b);
void buf_done(Buf *b);

/* Exponential backoff: BASE × 2^DOUBLINGS, at most CAP. Doubling stops at CAP, so it never
 * overflows. The one backoff of the agent: IMDS retries and polls, AWS retries (aws_backoff). */
usec_t backoff_usec(usec_t base, unsigned doublings, usec_t cap);
