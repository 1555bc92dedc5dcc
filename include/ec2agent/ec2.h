/* ec2.h — the EC2 Query API calls of the reschedule step (SPEC §4): DescribeInstanceStatus for an
 * event's NotBeforeDeadline, then ModifyInstanceEventStartTime into the operator's window. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "aws.h"
#include "http.h"
#include "mwindow.h"
#include "util.h"

#define EC2_API_VERSION "2016-11-15"
#define EC2_REASON_MAX  256

/* One scheduled event as EC2 describes it (InstanceStatusEvent). Times realtime µs, 0 when absent. */
typedef struct Ec2Event {
        char event_id[96];
        char code[48];
        usec_t not_before, not_after, deadline;
} Ec2Event;

/* Appends the form of DescribeInstanceStatus for INSTANCE_ID (IncludeAllInstances=true) to B.
 * Returns 0, -ENOMEM or -EFBIG. */
int ec2_describe_form(Buf *b, const char *instance_id);

/* Appends the form of ModifyInstanceEventStartTime moving EVENT_ID of INSTANCE_ID to NOT_BEFORE.
 * Returns 0, -ENOMEM or -EFBIG. */
int ec2_modify_form(Buf *b, const char *instance_id, const char *event_id, usec_t not_before);

/* Finds the event EVENT_ID in an EC2 reply of LEN bytes (an <item> of DescribeInstanceStatus's
 * eventsSet, or ModifyInstanceEventStartTime's <event>) and reads its times into *RET.
 * Returns 0; -ENOENT when the reply does not hold the event; -EBADMSG for a time that does not
 * parse. Bounded: never reads past LEN. Pure. */
int ec2_parse_event(const char *body, size_t len, const char *event_id, Ec2Event *ret);

/* A reschedule in flight: describe, compute, modify; retried with backoff on throttling, 5xx and
 * network errors until cancelled (the step's timeout cancels it). */
typedef struct Ec2Reschedule Ec2Reschedule;

/* Called once when the reschedule ends, unless it was cancelled: R >= 0 and *EVENT the moved event
 * (NEW_NOT_BEFORE, and its former not_before in OLD_NOT_BEFORE) on success; R < 0 with REASON in
 * words: "cannot be rescheduled: …" for an event that cannot move, else AWS's "Code: message". */
typedef void (*Ec2RescheduleDone)(int r, const char *reason, usec_t old_not_before, usec_t new_not_before,
                                  void *userdata);

typedef struct Ec2RescheduleParams {
        sd_event *event;
        Http *http;
        const AwsEnv *aws;
        const char *endpoint; /* the EC2 endpoint URL (aws_endpoint) */
        const char *region;
        const char *event_id; /* instance-event-… */
        MWindow window;
} Ec2RescheduleParams;

/* Starts a reschedule of P->event_id (P's strings are copied). DONE is called from the loop, never
 * from inside this call. Returns 0 with *RET (cancel it with ec2_reschedule_cancel until DONE ran),
 * or a negative errno (then DONE is never called). */
int ec2_reschedule_start(const Ec2RescheduleParams *p, Ec2RescheduleDone done, void *userdata,
                         Ec2Reschedule **ret);

/* Why R is not done yet ("Throttling: Rate exceeded (retrying)"), "" when nothing. Takes NULL. */
const char *ec2_reschedule_note(const Ec2Reschedule *r);

/* Stops R without calling its DONE and frees it. Takes NULL. */
void ec2_reschedule_cancel(Ec2Reschedule *r);
