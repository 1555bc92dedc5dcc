/* utf8.c — the one UTF-8 validator, and the escapes of any bytes into safe text (utf8.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/utf8.h"

size_t utf8_valid_len(const void *p, size_t left) {
        const unsigned char *s = p;
        unsigned char b = s[0], lo = 0x80, hi = 0xbf;
        size_t n;

        if (b < 0x80)
                return 1;
        if (b >= 0xc2 && b <= 0xdf)
                n = 2;
        else if (b >= 0xe0 && b <= 0xef) {
                n = 3;
                lo = b == 0xe0 ? 0xa0 : 0x80; /* 0xe0 0x80..0x9f: overlong */
                hi = b == 0xed ? 0x9f : 0xbf; /* 0xed 0xa0..0xbf: a surrogate */
        } else if (b >= 0xf0 && b <= 0xf4) {
                n = 4;
                lo = b == 0xf0 ? 0x90 : 0x80; /* 0xf0 0x80..0x8f: overlong */
                hi = b == 0xf4 ? 0x8f : 0xbf; /* 0xf4 0x90..: above U+10FFFF */
        } else
                return 0; /* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5..0xff */
        if (left < n || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

static size_t put_hex(char *o, const char *prefix, unsigned char b) {
        static const char hex[] = "0123456789abcdef";
        size_t k = strlen(prefix);
        memcpy(o, prefix, k);
        o[k] = hex[b >> 4];
        o[k + 1] = hex[b & 15];
        return k + 2;
}

/* The escaped form of the character at P (LEFT > 0 bytes) by FLAGS in UNIT; *TOOK is set to the
 * input bytes it stands for. Returns its length, or 0 when those bytes are kept as they are. */
static size_t escape_one(const unsigned char *p, size_t left, unsigned flags, char unit[static 8],
                         size_t *took) {
        size_t n = utf8_valid_len(p, left);

        *took = n ? n : 1;
        if (n == 1)
                return p[0] < 0x20 || p[0] == 0x7f ? put_hex(unit, "\\x", p[0]) : 0;
        if (n == 0) {
                if (flags & UTF8_ESCAPE_INVALID_AS_X)
                        return put_hex(unit, "\\x", p[0]);
                memcpy(unit, "\xef\xbf\xbd", 3); /* one U+FFFD a byte, the next looked at again */
                return 3;
        }
        if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* U+0080..U+009F */
                if (flags & UTF8_ESCAPE_C1_AS_U)
                        return put_hex(unit, "\\u00", p[1]);
                if (flags & UTF8_ESCAPE_C1)
                        return put_hex(unit, "\\x", p[0]) + put_hex(unit + 4, "\\x", p[1]);
        }
        return 0;
}

size_t utf8_escape(const char *s, size_t len, unsigned flags, char *out, size_t size) {
        const unsigned char *p = (const unsigned char *) s;
        size_t o = 0, took;

        if (size == 0)
                return 0;
        for (size_t i = 0; i < len; i += took) {
                char unit[8];
                size_t n = escape_one(p + i, len - i, flags, unit, &took);
                const char *from = n ? unit : s + i;

                if (n == 0)
                        n = took;
                if (n > size - 1 - o)
                        break;
                memcpy(out + o, from, n);
                o += n;
        }
        out[o] = 0;
        return o;
}

char *utf8_escape_dup(const char *s, size_t len, unsigned flags) {
        char *r;

        /* at most 4 bytes out for each byte in: "\xNN" for one, "\u00NN" or "\xc2\xNN" for two */
        if (len > (SIZE_MAX - 1) / 4 || !(r = malloc(4 * len + 1)))
                return NULL;
        (void) utf8_escape(s, len, flags, r, 4 * len + 1);
        return r;
}

const char *utf8_escape_str(const char *s, unsigned flags, char **buf) {
        const unsigned char *p = (const unsigned char *) s;
        size_t len = strlen(s), i, took;
        char unit[8], *r;

        for (i = 0; i < len; i += took) /* clean text is the rule: no copy */
                if (escape_one(p + i, len - i, flags, unit, &took) > 0)
                        break;
        if (i == len)
                return s;
        if (!(r = utf8_escape_dup(s, len, flags)))
                return NULL;
        return *buf = r;
}
