/* fuzz-kmsg.c — the /dev/kmsg record parser and the classifier on any bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/kmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = malloc(size + 1); /* the reader hands over one record, NUL-terminated */
        KmsgRecord rec;
        KmsgMatch m;

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;
        if (kmsg_parse_record(buf, size, &rec) >= 0)
                (void) kmsg_classify(&rec, &m);
        free(buf);
        return 0;
}
