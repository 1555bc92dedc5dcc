/* utf8.h — the one UTF-8 validator, and the escapes that make any bytes safe text for the
 * journal, sd_notify, events.jsonl, status, fixed buffers and terminals. */
#pragma once

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence at P, of which LEFT (> 0) bytes may be read,
 * or 0 when P starts none. Strict (RFC 3629): no overlong form, no surrogate (U+D800..U+DFFF),
 * nothing above U+10FFFF. Any byte < 0x80, a control byte too, is a sequence of 1. Pure. */
size_t utf8_valid_len(const void *p, size_t left);

/* How the escapes below write what is not plain text. Always: each C0 control byte (< 0x20, NUL
 * included) and DEL become the four characters "\xNN" (lower-case hex); a valid UTF-8 sequence
 * that is not a control, the backslash and printable ASCII are kept. Then by FLAGS: */
typedef enum Utf8EscapeFlags {
        /* the C1 controls U+0080..U+009F (0xc2 0x9b is a CSI to some terminals) too, as "\xc2\xNN" */
        UTF8_ESCAPE_C1 = 1 << 0,
        /* the journal, sd_notify, stderr, events.jsonl: no control of any kind, and each byte that
         * starts no valid sequence becomes U+FFFD (SPEC §6: no control character reaches them) */
        UTF8_ESCAPE_LOG = UTF8_ESCAPE_C1,
        /* the C1 controls too, as "\u00NN" (wins over UTF8_ESCAPE_C1) */
        UTF8_ESCAPE_C1_AS_U = 1 << 1,
        /* a byte of no valid sequence as "\xNN" instead of U+FFFD, so it can be told apart */
        UTF8_ESCAPE_INVALID_AS_X = 1 << 2,
        /* what the CLI writes to a terminal */
        UTF8_ESCAPE_TERMINAL = UTF8_ESCAPE_C1_AS_U | UTF8_ESCAPE_INVALID_AS_X,
} Utf8EscapeFlags;

/* LEN bytes of S (any bytes) escaped by FLAGS into OUT: at most SIZE bytes, the NUL included,
 * cut before a character or an escape that does not fit. Returns the length written (0 when
 * SIZE is 0, and then nothing is written). The result is valid UTF-8 without a C0 control or
 * DEL, and without a C1 control when FLAGS escape them. Pure. */
size_t utf8_escape(const char *s, size_t len, unsigned flags, char *out, size_t size);

/* LEN bytes of S escaped by FLAGS as utf8_escape(), whole, into a new NUL-terminated string (for
 * the caller to free); NULL on ENOMEM. */
char *utf8_escape_dup(const char *s, size_t len, unsigned flags);

/* The NUL-terminated S escaped by FLAGS: S itself when the escape changes nothing (no copy, *BUF
 * untouched), else a new string also stored in *BUF for the caller to free; NULL on ENOMEM. */
const char *utf8_escape_str(const char *s, unsigned flags, char **buf);
