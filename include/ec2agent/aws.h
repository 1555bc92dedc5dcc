/* aws.h — what every AWS caller needs: credentials, region and endpoints, resolved per SPEC §3. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "http.h"
#include "util.h"

#define AWS_ID_MAX                 128
#define IMDS_DEFAULT_ENDPOINT      "http://169.254.169.254" /* aws_imds_endpoint() resolves the one used */
#define IMDS_DEFAULT_ENDPOINT_IPV6 "http://[fd00:ec2::254]" /* endpoint mode IPv6 (IPv6-only subnets) */

/* Who this instance is (IMDS dynamic/instance-identity/document): the dimensions of its metrics,
 * the region of its AWS calls, the subject of lifecycle actions. */
typedef struct InstanceIdentity {
        char instance_id[AWS_ID_MAX];
        char instance_type[AWS_ID_MAX];
        char ami_id[AWS_ID_MAX];
        char region[AWS_ID_MAX];
        char availability_zone[AWS_ID_MAX];
        char account_id[AWS_ID_MAX];
        unsigned rejected; /* IMDS_REJECTED_*: values IMDS gave that are not names of their kind */
} InstanceIdentity;

/* The keys AWS requests are signed with: the environment's, or the instance profile's from IMDS. */
typedef struct AwsCredentials {
        char access_key_id[128];
        char secret_access_key[128];
        char session_token[4096]; /* "" for long-term keys */
        usec_t expiration;        /* realtime; 0: does not expire */
} AwsCredentials;

/* What every AWS caller (the engine's HTTP steps, the publisher) asks of the rest of the agent,
 * each time it needs it. Never log or store the credentials. */
typedef struct AwsEnv {
        const InstanceIdentity *(*identity)(void *userdata);  /* NULL while unknown */
        const char *(*asg_name)(void *userdata);              /* NULL when not in an ASG (or unknown) */
        const AwsCredentials *(*credentials)(void *userdata); /* NULL while none are known */
        bool (*identity_pending)(void *userdata); /* true while IMDS may still tell the identity */
        void *userdata;
} AwsEnv;

/* Reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Returns 0 when both keys
 * are set and well-formed, -ENOENT when they are not set, -EINVAL when malformed. */
int aws_env_credentials(AwsCredentials *ret);

/* The region: $AWS_REGION, $AWS_DEFAULT_REGION, config aws.region, then IMDS (IDENTITY may be
 * NULL). Returns NULL while unknown. */
const char *aws_region(const Config *c, const InstanceIdentity *identity);

typedef enum AwsService {
        AWS_SERVICE_CLOUDWATCH,
        AWS_SERVICE_AUTOSCALING,
        AWS_SERVICE_SNS,
        AWS_SERVICE_EC2,
} AwsService;

/* The endpoint URL of SERVICE for REGION: $AWS_ENDPOINT_URL_<SERVICE>, $AWS_ENDPOINT_URL, the
 * config's aws.endpoints, then https://PREFIX.REGION.amazonaws.com. A new string, or NULL
 * (ENOMEM, or no region for the default). */
char *aws_endpoint(const Config *c, AwsService service, const char *region);

/* An IMDS endpoint mode as the AWS SDKs spell it, in any case (botocore lowercases it): 0 for
 * "IPv4", 1 for "IPv6", -EINVAL for anything else. */
int aws_imds_endpoint_mode_ipv6(const char *mode);

/* The IMDS base URL into RET: $AWS_EC2_METADATA_SERVICE_ENDPOINT, config imds.endpoint, else the
 * default of the endpoint mode ($AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE, else config
 * imds.endpoint_mode): IMDS_DEFAULT_ENDPOINT or IMDS_DEFAULT_ENDPOINT_IPV6. An explicit endpoint
 * wins over any mode, as in botocore. Returns 0, or -EINVAL (RET untouched) when the variable's
 * mode is neither IPv4 nor IPv6 (the config's was checked when it was loaded). */
int aws_imds_endpoint(const Config *c, const char **ret);

/* False when $AWS_EC2_METADATA_DISABLED is "true" (any case) or imds.enabled is false. */
bool aws_imds_enabled(const Config *c);

/* Appends "&KEY=VALUE" (or "KEY=VALUE" to an empty buffer) to B, percent-encoding both as the
 * Query API wants (RFC 3986: unreserved characters kept). Returns 0, -EFBIG or -ENOMEM. */
int aws_form_add(Buf *b, const char *key, const char *value);

/* Reads the error code and message of an AWS error reply: the Query API's XML
 * (<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message>…) or a JSON
 * {"__type": "…#Code", "message": "…"}. Returns 0, or -EBADMSG when BODY is neither. */
int aws_parse_error(const char *body, size_t len, char code[static 64], char message[static 256]);

/* True when a failed call should be retried (the SDKs' standard mode): no response, HTTP 5xx,
 * 429, or a throttling or expired-credentials error code. */
bool aws_retryable(long status, const char *code);

/* Full-jitter backoff for retry ATTEMPT (1, 2, …): uniform in [0, min(CAP, BASE × 2^ATTEMPT)),
 * from the random number R in [0, 1). */
usec_t aws_backoff(unsigned attempt, usec_t base, usec_t cap, double r);

/* The strings a signed request points to, from aws_sign() until aws_signing_done(). */
typedef struct AwsSigning {
        char userpwd[300];
        char provider[96];
        char token_header[4200];
} AwsSigning;

/* Makes REQ signed by libcurl's SigV4 for SERVICE ("monitoring", "autoscaling", "sns") in REGION
 * with C: sets aws_sigv4 and aws_userpwd, and appends "X-Amz-Security-Token: …" to HEADERS
 * (*N_HEADERS entries, room for one more before its NULL) when C is temporary. */
void aws_sign(AwsSigning *s, HttpRequest *req, const char **headers, size_t *n_headers,
              const AwsCredentials *c, const char *region, const char *service);

/* Wipes the secrets S held; call right after http_submit(), which copies what it needs. */
void aws_signing_done(AwsSigning *s);
