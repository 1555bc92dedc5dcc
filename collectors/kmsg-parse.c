/* kmsg-parse.c — one /dev/kmsg record to a struct. Pure: no I/O.
 *
 * Format (Documentation/ABI/testing/dev-kmsg):
 *   "7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)\n"
 *   " SUBSYSTEM=acpi\n"
 *   " DEVICE=+acpi:PNP0A03:00\n"
 * more prefix fields may follow FLAGS. The kernel writes every byte < 0x20, >= 0x7f and the
 * backslash of the text and the values as \xNN (kernel/printk/printk.c, msg_add_ext_text()).
 * The text is decoded by the record text contract (kmsg.h): valid UTF-8, no control byte. */
#include <errno.h>
#include <string.h>

#include "ec2agent/kmsg.h"
#include "ec2agent/utf8.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The raw byte at S: a \xNN escape or the byte itself. Returns the input bytes it takes. */
static size_t raw_byte(const char *s, const char *end, unsigned char *ret) {
        if (end - s >= 4 && s[0] == '\\' && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
                *ret = (unsigned char) (hexval(s[2]) * 16 + hexval(s[3]));
                return 4;
        }
        *ret = (unsigned char) *s;
        return 1;
}

size_t kmsg_text_decode(const char *in, size_t len, char *out, size_t size) {
        static const char hex[] = "0123456789abcdef";
        const char *s = in, *end = in + len;
        size_t o = 0;

        if (size == 0)
                return 0;
        while (s < end) {
                /* the common case: a run of printable ASCII, copied as is */
                const char *run = s;
                while (run < end && (unsigned char) *run >= 0x20 && (unsigned char) *run < 0x7f &&
                       *run != '\\')
                        run++;
                if (run > s) {
                        size_t k = MIN((size_t) (run - s), size - 1 - o);
                        memcpy(out + o, s, k);
                        o += k;
                        s += k;
                        if (s < run)
                                break; /* out of room */
                        continue;
                }
                unsigned char b, seq[4];
                size_t took = raw_byte(s, end, &b), n = 0;
                char unit[8];

                if (b < 0x20 || b == 0x7f || b == '\\') { /* kept escaped, as the kernel wrote it */
                        unit[0] = '\\', unit[1] = 'x', unit[2] = hex[b >> 4], unit[3] = hex[b & 15];
                        n = 4;
                } else if (b < 0x80) {
                        unit[0] = (char) b;
                        n = 1;
                } else { /* the raw bytes of one sequence, each escaped or not; AT[k]: after k */
                        size_t at[5] = { 0, took }, m = 1;
                        seq[0] = b;
                        while (m < 4 && s + at[m] < end) {
                                at[m + 1] = at[m] + raw_byte(s + at[m], end, &seq[m]);
                                if ((seq[m++] & 0xc0) != 0x80)
                                        break;
                        }
                        n = utf8_valid_len(seq, m);
                        if (n == 2 && seq[0] == 0xc2 && seq[1] < 0xa0) { /* a C1 control: kept escaped */
                                for (size_t i = 0; i < 2; i++) {
                                        unit[4 * i] = '\\', unit[4 * i + 1] = 'x';
                                        unit[4 * i + 2] = hex[seq[i] >> 4],
                                                     unit[4 * i + 3] = hex[seq[i] & 15];
                                }
                                n = 8;
                                took = at[2];
                        } else if (n > 0) {
                                memcpy(unit, seq, n);
                                took = at[n];
                        } else { /* one U+FFFD for the lead byte; what follows is looked at again */
                                memcpy(unit, "\xef\xbf\xbd", 3);
                                n = 3;
                        }
                }
                if (o + n > size - 1)
                        break; /* cut at a character boundary */
                memcpy(out + o, unit, n);
                o += n;
                s += took;
        }
        out[o] = 0;
        return o;
}

/* Reads a decimal field ending at SEP; advances *P past SEP. */
static int take_field(const char **p, const char *end, char sep, uint64_t max, uint64_t *ret) {
        const char *s = *p, *e = memchr(s, sep, (size_t) (end - s));
        if (!e || parse_u64_n(s, (size_t) (e - s), max, ret) < 0)
                return -EBADMSG;
        *p = e + 1;
        return 0;
}

int kmsg_parse_record(const char *buf, size_t len, KmsgRecord *ret) {
        const char *p = buf, *end = buf + len, *semi, *text, *nl, *device = NULL, *device_end = NULL;
        uint64_t pri, seq, ts;

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

        /* Continuation lines: " KEY=VALUE\n" each; the last one may lack its newline. */
        for (const char *l = nl ? nl + 1 : NULL; l && l < end && *l == ' ';) {
                const char *lend = memchr(l, '\n', (size_t) (end - l)) ?: end;
                if ((size_t) (lend - l) >= 8 && memcmp(l + 1, "DEVICE=", 7) == 0) {
                        device = l + 8;
                        device_end = lend;
                }
                l = lend < end ? lend + 1 : NULL;
        }

        /* Field by field: a compound literal would clear the 8 KB of storage for every record. */
        ret->facility = (unsigned) (pri >> 3);
        ret->level = (unsigned) (pri & 7);
        ret->seq = seq;
        ret->ts = ts;
        ret->device = NULL;
        ret->text = ret->text_storage;
        ret->text_len = kmsg_text_decode(text, (size_t) ((nl ?: end) - text), ret->text_storage,
                                         sizeof ret->text_storage);
        if (device) {
                (void) kmsg_text_decode(device, (size_t) (device_end - device), ret->device_storage,
                                        sizeof ret->device_storage);
                ret->device = ret->device_storage;
        }
        return 0;
}
