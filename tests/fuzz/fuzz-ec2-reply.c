/* fuzz-ec2-reply.c — what the network answers a reschedule and a notify step: EC2's event XML
 * (ec2_parse_event, for the id it names and for another) and an alert service's refusal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/alert.h"
#include "ec2agent/ec2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char why[ALERT_ERROR_MAX];
        Ec2Event ev;
        /* not NUL-terminated: the parsers must stay within SIZE */
        char *body = malloc(size ? size : 1);

        if (!body)
                return 0;
        memcpy(body, data, size);
        (void) ec2_parse_event(body, size, "instance-event-0d59937288b749b32", &ev);
        (void) ec2_parse_event(body, size, "e", &ev);
        alert_refusal(body, size, why);
        free(body);
        return 0;
}
