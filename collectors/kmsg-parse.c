/* kmsg-parse.c — one /dev/kmsg record to a struct, in place. Pure: no I/O.
 *
 * Format (Documentation/ABI/testing/dev-kmsg):
 *   "7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)\n"
 *   " SUBSYSTEM=acpi\n"
 *   " DEVICE=+acpi:PNP0A03:00\n"
 * Non-printable bytes of the text arrive as \xNN; more prefix fields may follow FLAGS. */
#include <errno.h>
#include <string.h>

#include "ec2agent/kmsg.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads a decimal field ending at SEP; advances *P past SEP. */
static int take_field(const char **p, const char *end, char sep, uint64_t max, uint64_t *ret) {
        const char *s = *p, *e = memchr(s, sep, (size_t) (end - s));
        if (!e || parse_u64_n(s, (size_t) (e - s), max, ret) < 0)
                return -EBADMSG;
        *p = e + 1;
        return 0;
}

int kmsg_parse_record(char *buf, size_t len, KmsgRecord *ret) {
        const char *p = buf, *end = buf + len;
        uint64_t pri, seq, ts;
        char *semi, *text, *nl, *out;

        if (len == 0 || len > KMSG_MAX_RECORD)
                return -EBADMSG;
        if (take_field(&p, end, ',', UINT32_MAX, &pri) < 0 || take_field(&p, end, ',', UINT64_MAX, &seq) < 0)
                return -EBADMSG;
        /* TS ends at ',' (flags follow); flags end at ',' or ';'. */
        if (take_field(&p, end, ',', UINT64_MAX, &ts) < 0)
                return -EBADMSG;
        semi = memchr(p, ';', (size_t) (end - p));
        if (!semi || memchr(p, '\n', (size_t) (semi - p)))
                return -EBADMSG;

        text = semi + 1;
        nl = memchr(text, '\n', (size_t) (end - text));
        char *text_end = nl ? nl : buf + len;

        /* Unescape \xNN in place; the text only shrinks. */
        out = text;
        for (char *s = text; s < text_end; s++) {
                if (s[0] == '\\' && s + 3 < text_end + 1 && s[1] == 'x' && hexval(s[2]) >= 0 &&
                    hexval(s[3]) >= 0) {
                        *out++ = (char) (hexval(s[2]) * 16 + hexval(s[3]));
                        s += 3;
                } else
                        *out++ = *s;
        }
        size_t text_len = (size_t) (out - text);

        /* Continuation lines: " KEY=VALUE\n" each; the last one may lack its newline. */
        const char *device = NULL;
        for (char *l = nl ? nl + 1 : NULL; l && l < buf + len && *l == ' ';) {
                char *lend = memchr(l, '\n', (size_t) (buf + len - l));
                if (lend)
                        *lend = 0;
                if (strncmp(l + 1, "DEVICE=", 7) == 0)
                        device = l + 8;
                l = lend ? lend + 1 : NULL;
        }
        text[text_len] = 0;
        if (memchr(text, 0, text_len))
                text_len = strlen(text); /* an escaped NUL ends the text */

        *ret = (KmsgRecord){
                .facility = (unsigned) (pri >> 3),
                .level = (unsigned) (pri & 7),
                .seq = seq,
                .ts = ts,
                .text = text,
                .text_len = text_len,
                .device = device,
        };
        return 0;
}
