/* fuzz-pstore.c — pstore_summarize() on any record: what it returns is valid UTF-8 without a
 * control character (it reaches status, events and terminals). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/kernel.h"
#include "ec2agent/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The oracle: a strict UTF-8 decoder (RFC 3629) that also refuses C0, DEL and C1 controls. */
static void check_clean(const unsigned char *s) {
        while (*s) {
                unsigned c = *s, n = c < 0x80                 ? 1
                                     : c >= 0xC2 && c <= 0xDF ? 2
                                     : c >= 0xE0 && c <= 0xEF ? 3
                                     : c >= 0xF0 && c <= 0xF4 ? 4
                                                              : 0;
                uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
                if (n == 0)
                        abort();
                for (unsigned i = 1; i < n; i++) {
                        if ((s[i] & 0xC0) != 0x80)
                                abort();
                        cp = cp << 6 | (s[i] & 0x3F);
                }
                if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                    (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
                        abort();
                s += n;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char out[256], small[7];

        if (pstore_summarize((const char *) data, size, out, sizeof out) == 0)
                check_clean((const unsigned char *) out);
        (void) utf8_escape((const char *) data, size, UTF8_ESCAPE_C1, out, sizeof out);
        check_clean((const unsigned char *) out);
        (void) utf8_escape((const char *) data, size, UTF8_ESCAPE_C1, small, sizeof small);
        check_clean((const unsigned char *) small);
        return 0;
}
