/* fuzz-status-request.c — the status socket's request line, as read so far or at EOF. */
#include <stdint.h>

#include "ec2agent/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) status_parse_request((const char *) data, size, false);
        (void) status_parse_request((const char *) data, size, true);
        return 0;
}
