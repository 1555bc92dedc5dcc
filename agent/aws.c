/* aws.c — what every AWS caller needs: credentials, region and endpoints, resolved per SPEC §3.
 * The environment names are the AWS SDKs' (botocore reads the same ones, in the same order). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ec2agent/aws.h"
#include "ec2agent/json.h"

static const char *env(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

int aws_env_credentials(AwsCredentials *ret) {
        const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
        const char *token = env("AWS_SESSION_TOKEN");
        AwsCredentials c = {};

        if (!id || !secret)
                return -ENOENT;
        if (strlen(id) >= sizeof c.access_key_id || strlen(secret) >= sizeof c.secret_access_key ||
            (token && strlen(token) >= sizeof c.session_token) || strchr(id, ':'))
                return -EINVAL;
        snprintf(c.access_key_id, sizeof c.access_key_id, "%s", id);
        snprintf(c.secret_access_key, sizeof c.secret_access_key, "%s", secret);
        snprintf(c.session_token, sizeof c.session_token, "%s", token ?: "");
        *ret = c;
        return 0;
}

const char *aws_region(const Config *c, const InstanceIdentity *identity) {
        const char *r = env("AWS_REGION") ?: env("AWS_DEFAULT_REGION") ?: c->aws_region;
        if (r)
                return r;
        return identity && identity->region[0] ? identity->region : NULL;
}

char *aws_endpoint(const Config *c, AwsService service, const char *region) {
        static const struct {
                const char *env, *prefix;
        } services[] = {
                [AWS_SERVICE_CLOUDWATCH] = { "AWS_ENDPOINT_URL_CLOUDWATCH", "monitoring" },
                [AWS_SERVICE_AUTOSCALING] = { "AWS_ENDPOINT_URL_AUTO_SCALING", "autoscaling" },
                [AWS_SERVICE_SNS] = { "AWS_ENDPOINT_URL_SNS", "sns" },
                [AWS_SERVICE_EC2] = { "AWS_ENDPOINT_URL_EC2", "ec2" },
        };
        const char *configured[] = {
                [AWS_SERVICE_CLOUDWATCH] = c->endpoint_cloudwatch,
                [AWS_SERVICE_AUTOSCALING] = c->endpoint_autoscaling,
                [AWS_SERVICE_SNS] = c->endpoint_sns,
                [AWS_SERVICE_EC2] = c->endpoint_ec2,
        };
        const char *e = env(services[service].env) ?: env("AWS_ENDPOINT_URL") ?: configured[service];
        char *url;

        if (e)
                return strdup(e);
        if (!region)
                return NULL;
        if (asprintf(&url, "https://%s.%s.amazonaws.com", services[service].prefix, region) < 0)
                return NULL;
        return url;
}

int aws_imds_endpoint_mode_ipv6(const char *mode) {
        if (strcasecmp(mode, "IPv4") == 0)
                return 0;
        if (strcasecmp(mode, "IPv6") == 0)
                return 1;
        return -EINVAL;
}

int aws_imds_endpoint(const Config *c, const char **ret) {
        const char *e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?: c->imds_endpoint;
        const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"); /* set but empty: invalid */
        bool ipv6 = c->imds_endpoint_ipv6;

        if (mode) {
                int k = aws_imds_endpoint_mode_ipv6(mode);
                if (k < 0)
                        return k;
                ipv6 = k;
        }
        *ret = e ?: ipv6 ? IMDS_DEFAULT_ENDPOINT_IPV6 : IMDS_DEFAULT_ENDPOINT;
        return 0;
}

bool aws_imds_enabled(const Config *c) {
        const char *d = env("AWS_EC2_METADATA_DISABLED");
        if (d && strcasecmp(d, "true") == 0)
                return false;
        return c->imds_enabled;
}

int aws_form_add(Buf *b, const char *key, const char *value) {
        static const char hex[] = "0123456789ABCDEF";
        const char *parts[] = { key, value };
        int r;

        if (b->len > 0 && (r = buf_append(b, "&", 1)) < 0)
                return r;
        for (size_t i = 0; i < 2; i++) {
                if (i == 1 && (r = buf_append(b, "=", 1)) < 0)
                        return r;
                for (const unsigned char *p = (const unsigned char *) parts[i]; *p; p++) {
                        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                                    *p == '~';
                        char enc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
                        r = keep ? buf_append(b, p, 1) : buf_append(b, enc, 3);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Copies the text between OPEN and the next '<' after it into DST. */
static bool xml_element(const char *body, size_t len, const char *open, char *dst, size_t max) {
        const char *p = memmem(body, len, open, strlen(open));
        if (!p)
                return false;
        p += strlen(open);
        const char *e = memchr(p, '<', (size_t) (body + len - p));
        if (!e)
                return false;
        size_t n = MIN((size_t) (e - p), max - 1);
        memcpy(dst, p, n);
        dst[n] = 0;
        return true;
}

int aws_parse_error(const char *body, size_t len, char code[static 64], char message[static 256]) {
        code[0] = message[0] = 0;
        if (xml_element(body, len, "<Code>", code, 64)) {
                (void) xml_element(body, len, "<Message>", message, 256);
                return 0;
        }
        _cleanup_json_ cJSON *j = len < 65536 ? cJSON_ParseWithLength(body, len) : NULL;
        const char *type = json_get_string(j, "__type") ?: json_get_string(j, "code");
        if (!type)
                return -EBADMSG;
        const char *hash = strrchr(type, '#');
        snprintf(code, 64, "%s", hash ? hash + 1 : type);
        snprintf(message, 256, "%s", json_get_string(j, "message") ?: json_get_string(j, "Message") ?: "");
        return 0;
}

bool aws_retryable(long status, const char *code) {
        static const char *const codes[] = {
                "Throttling",
                "ThrottlingException",
                "ThrottledException",
                "RequestThrottledException",
                "TooManyRequestsException",
                "ProvisionedThroughputExceededException",
                "TransactionInProgressException",
                "RequestLimitExceeded",
                "BandwidthLimitExceeded",
                "LimitExceededException",
                "RequestThrottled",
                "SlowDown",
                "PriorRequestNotComplete",
                "EC2ThrottledException",
                "ExpiredToken",
                "ExpiredTokenException",
                "RequestExpired",
                "RequestTimeout",
                "RequestTimeoutException",
                "InternalError",
                "InternalFailure",
                "ServiceUnavailable",
                "ResourceContention",
        };
        if (status == 0 || status >= 500 || status == 429)
                return true;
        for (size_t i = 0; code && i < ELEMENTSOF(codes); i++)
                if (strcmp(code, codes[i]) == 0)
                        return true;
        return false;
}

usec_t aws_backoff(unsigned attempt, usec_t base, usec_t cap, double r) {
        return (usec_t) (r * (double) backoff_usec(base, attempt, cap));
}

void aws_sign(AwsSigning *s, HttpRequest *req, const char **headers, size_t *n_headers,
              const AwsCredentials *c, const char *region, const char *service) {
        snprintf(s->userpwd, sizeof s->userpwd, "%s:%s", c->access_key_id, c->secret_access_key);
        snprintf(s->provider, sizeof s->provider, "aws:amz:%s:%s", region, service);
        s->token_header[0] = 0;
        if (c->session_token[0]) {
                /* curl signs every header we add: the token is then part of SignedHeaders, as AWS wants */
                snprintf(s->token_header, sizeof s->token_header, "X-Amz-Security-Token: %s",
                         c->session_token);
                headers[(*n_headers)++] = s->token_header;
                headers[*n_headers] = NULL;
        }
        req->aws_sigv4 = s->provider;
        req->aws_userpwd = s->userpwd;
}

void aws_signing_done(AwsSigning *s) {
        explicit_bzero(s, sizeof *s);
}
