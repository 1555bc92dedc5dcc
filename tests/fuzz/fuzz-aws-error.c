/* fuzz-aws-error.c — the AWS error reply parser (Query XML or JSON) on any body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char code[64], message[256];
        char *body = malloc(size + 1);

        if (!body)
                return 0;
        memcpy(body, data, size);
        body[size] = 0;
        if (aws_parse_error(body, size, code, message) == 0)
                (void) aws_retryable(400, code);
        free(body);
        return 0;
}
