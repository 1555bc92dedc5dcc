/* fuzz-imds.c — every IMDS body parser on any bytes; the first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static ScheduledEvent events[IMDS_MAX_SCHEDULED];
        SpotNotice spot;
        InstanceIdentity id;
        AwsCredentials cred;
        char word[64];
        usec_t t;
        char *body;

        if (size < 1)
                return 0;
        /* bodies arrive from the HTTP layer NUL-terminated, with their length */
        body = malloc(size);
        if (!body)
                return 0;
        memcpy(body, data + 1, size - 1);
        body[size - 1] = 0;
        switch (data[0] % 8) {
        case 0:
                (void) imds_parse_spot(body, size - 1, &spot);
                break;
        case 1:
                (void) imds_parse_rebalance(body, size - 1, &t);
                break;
        case 2:
                (void) imds_parse_lifecycle_state(body, size - 1, word);
                break;
        case 3:
                (void) imds_parse_scheduled(body, size - 1, events);
                break;
        case 4:
                (void) imds_parse_event_time(body, &t);
                break;
        case 5:
                (void) imds_parse_identity(body, size - 1, &id);
                break;
        case 6:
                (void) imds_parse_credentials(body, size - 1, &cred);
                break;
        default:
                (void) imds_parse_word(body, size - 1, word, sizeof word);
                break;
        }
        free(body);
        return 0;
}
