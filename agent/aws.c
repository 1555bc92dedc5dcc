/* aws.c — what every AWS caller needs: credentials, region and endpoints, resolved per SPEC §3.
 * The environment names are the AWS SDKs' (botocore reads the same ones, in the same order). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ec2agent/aws.h"

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

const char *aws_region(const Config *c, const ImdsIdentity *identity) {
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
        };
        const char *configured[] = {
                [AWS_SERVICE_CLOUDWATCH] = c->endpoint_cloudwatch,
                [AWS_SERVICE_AUTOSCALING] = c->endpoint_autoscaling,
                [AWS_SERVICE_SNS] = c->endpoint_sns,
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

const char *aws_imds_endpoint(const Config *c) {
        return env("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?: c->imds_endpoint ?: IMDS_DEFAULT_ENDPOINT;
}

bool aws_imds_enabled(const Config *c) {
        const char *d = env("AWS_EC2_METADATA_DISABLED");
        if (d && strcasecmp(d, "true") == 0)
                return false;
        return c->imds_enabled;
}
