/* fuzz-mountinfo.c — mountinfo_parse() and the "*" filter on any bytes; every field comes out
 * NUL-terminated within its array. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static MountEntry m[64];
        size_t n = mountinfo_parse((const char *) data, size, m, 64);

        if (n > 64)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!memchr(m[i].mount_point, 0, sizeof m[i].mount_point) ||
                    !memchr(m[i].source, 0, sizeof m[i].source) ||
                    !memchr(m[i].fstype, 0, sizeof m[i].fstype) || !memchr(m[i].root, 0, sizeof m[i].root) ||
                    !m[i].mount_point[0])
                        abort();
                (void) mount_is_real(&m[i]);
        }
        return 0;
}
