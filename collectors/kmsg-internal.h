/* kmsg-internal.h — what kmsg-rules.c (the table, the extractors) and kmsg-claim.c (records that
 * begin with a task name) share: the bounded cursor over a record's text. Not a public header. */
#pragma once

#include <string.h>

#include "ec2agent/kmsg.h"

typedef struct Cursor {
        const char *p, *end;
} Cursor;

static inline bool cur_find(Cursor *c, const char *lit) {
        const char *f = memmem(c->p, (size_t) (c->end - c->p), lit, strlen(lit));
        if (!f)
                return false;
        c->p = f + strlen(lit);
        return true;
}

static inline bool cur_u64(Cursor *c, uint64_t *ret) {
        size_t n = 0;
        while (c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9')
                n++;
        if (parse_u64_n(c->p, n, UINT64_MAX, ret) < 0)
                return false;
        c->p += n;
        return true;
}

/* The longest head of S (N bytes) that fits MAX-1 bytes and ends at a character boundary of the
 * text (TEXT-CONTRACT.md): never inside a UTF-8 sequence or a "\xNN" escape. */
static inline size_t char_cut(const char *s, size_t n, size_t max) {
        size_t k;

        if (n < max)
                return n;
        k = max - 1;
        while (k > 0 && ((unsigned char) s[k] & 0xc0) == 0x80) /* s[k] continues a character */
                k--;
        for (size_t j = k > 3 ? k - 3 : 0; j < k; j++)
                if (s[j] == '\\' && s[j + 1] == 'x') { /* an escape that the cut would split */
                        k = j;
                        break;
                }
        return k;
}

static inline void copy_span(const char *s, size_t n, char *dst, size_t max) {
        size_t k = char_cut(s, n, max);
        memcpy(dst, s, k);
        dst[k] = 0;
}

/* Copies from the cursor up to (not including) the first of STOP or the end, cut to fit MAX. */
static inline void cur_word(Cursor *c, const char *stop, char *dst, size_t max) {
        size_t n = 0;
        while (c->p + n < c->end && !strchr(stop, c->p[n]))
                n++;
        copy_span(c->p, n, dst, max);
        c->p += n;
}

/* True when the text at P (up to END) begins with LIT. */
static inline bool has_at(const char *p, const char *end, const char *lit) {
        size_t l = strlen(lit);
        return (size_t) (end - p) >= l && memcmp(p, lit, l) == 0;
}

/* Claims a record whose text T..END begins with a task name (a user-space crash, "COMM invoked
 * oom-killer", "COMM[PID]: …"): returns true with *RET set to KMSG_SEGFAULT or KMSG_OOM_CONTEXT
 * (and *M filled), or KMSG_NONE when the record is another of the kernel's task-name formats;
 * false when it is none, and the table (kmsg-rules.c) decides. Matched before the table, so a
 * task name never makes a record another class. */
bool kmsg_claim_user(const char *t, const char *end, KmsgMatch *m, KmsgClass *ret);
