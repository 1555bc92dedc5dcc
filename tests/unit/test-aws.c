/* test-aws.c — Query-form encoding, AWS error replies, retry rules, backoff, PutMetricData forms. */
#include "ec2agent/aws.h"
#include "ec2agent/json.h"
#include "ec2agent/publish.h"
#include "tap.h"

static void test_form(void) {
        Buf b;
        buf_init(&b, 4096);
        ASSERT_INT(aws_form_add(&b, "Action", "PutMetricData"), 0);
        ASSERT_INT(aws_form_add(&b, "MetricData.member.1.Dimensions.member.1.Value", "/mnt/a b+c&d=é~_-."),
                   0);
        ASSERT_STR(b.data, "Action=PutMetricData&MetricData.member.1.Dimensions.member.1.Value="
                           "%2Fmnt%2Fa%20b%2Bc%26d%3D%C3%A9~_-.");
        buf_done(&b);
        buf_init(&b, 10);
        ASSERT_INT(aws_form_add(&b, "Action", "PutMetricData"), -EFBIG);
        buf_done(&b);
}

static void test_errors(void) {
        char code[64], msg[256];
        const char *xml = "<ErrorResponse "
                          "xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender"
                          "</Type><Code>Throttling</Code><Message>Rate "
                          "exceeded</Message></Error><RequestId>1</RequestId>"
                          "</ErrorResponse>";
        ASSERT_INT(aws_parse_error(xml, strlen(xml), code, msg), 0);
        ASSERT_STR(code, "Throttling");
        ASSERT_STR(msg, "Rate exceeded");
        const char *json = "{\"__type\":\"com.amazon.coral.service#InvalidParameterValueException\","
                           "\"message\":\"bad\"}";
        ASSERT_INT(aws_parse_error(json, strlen(json), code, msg), 0);
        ASSERT_STR(code, "InvalidParameterValueException");
        ASSERT_STR(msg, "bad");
        ASSERT_INT(aws_parse_error("<html><body>Bad Gateway</body></html>", 38, code, msg), -EBADMSG);
        ASSERT_INT(aws_parse_error("", 0, code, msg), -EBADMSG);
        ASSERT_INT(aws_parse_error("<Code>unterminated", 18, code, msg), -EBADMSG);
}

static void test_retry_rules(void) {
        ASSERT_TRUE(aws_retryable(0, NULL));
        ASSERT_TRUE(aws_retryable(500, "InternalServiceError"));
        ASSERT_TRUE(aws_retryable(503, NULL));
        ASSERT_TRUE(aws_retryable(429, NULL));
        ASSERT_TRUE(aws_retryable(400, "Throttling"));
        ASSERT_TRUE(aws_retryable(403, "ExpiredToken"));
        ASSERT_FALSE(aws_retryable(400, "InvalidParameterValue"));
        ASSERT_FALSE(aws_retryable(403, "AccessDenied"));
        ASSERT_FALSE(aws_retryable(400, NULL));
        /* full jitter, capped at 20 s */
        ASSERT_INT(aws_backoff(1, USEC_PER_SEC, 20 * USEC_PER_SEC, 0.5), USEC_PER_SEC);
        ASSERT_INT(aws_backoff(3, USEC_PER_SEC, 20 * USEC_PER_SEC, 0.5), 4 * USEC_PER_SEC);
        ASSERT_INT(aws_backoff(30, USEC_PER_SEC, 20 * USEC_PER_SEC, 0.999999), 19999980);
        ASSERT_INT(aws_backoff(5, USEC_PER_SEC, 20 * USEC_PER_SEC, 0), 0);
}

static void test_put_metric_data_form(void) {
        const char *lines[] = {
                "{\"m\":\"mem_used_percent\",\"t\":1795428000,\"s\":[6,300,40,60],\"d\":[[\"InstanceId\","
                "\"i-1\"]]}",
                "{\"m\":\"disk_used\",\"t\":1795428060,\"s\":[1,5e9,5e9,5e9],\"d\":[[\"InstanceId\",\"i-1\"]"
                ",[\"path\",\"/\"]]}",
        };
        cJSON *d[2] = { cJSON_Parse(lines[0]), cJSON_Parse(lines[1]) };
        Buf b;
        buf_init(&b, 1 << 16);
        ASSERT_INT(publish_build_form(&b, "CWAgent", (const cJSON *const *) d, 2, true), 0);
        ASSERT_STR(b.data, "Action=PutMetricData&Version=2010-08-01&Namespace=CWAgent"
                           "&MetricData.member.1.MetricName=mem_used_percent"
                           "&MetricData.member.1.Dimensions.member.1.Name=InstanceId"
                           "&MetricData.member.1.Dimensions.member.1.Value=i-1"
                           "&MetricData.member.1.Timestamp=2026-11-23T10%3A00%3A00Z"
                           "&MetricData.member.1.StatisticValues.SampleCount=6"
                           "&MetricData.member.1.StatisticValues.Sum=300"
                           "&MetricData.member.1.StatisticValues.Minimum=40"
                           "&MetricData.member.1.StatisticValues.Maximum=60"
                           "&MetricData.member.1.Unit=Percent&MetricData.member.1.StorageResolution=1"
                           "&MetricData.member.2.MetricName=disk_used"
                           "&MetricData.member.2.Dimensions.member.1.Name=InstanceId"
                           "&MetricData.member.2.Dimensions.member.1.Value=i-1"
                           "&MetricData.member.2.Dimensions.member.2.Name=path"
                           "&MetricData.member.2.Dimensions.member.2.Value=%2F"
                           "&MetricData.member.2.Timestamp=2026-11-23T10%3A01%3A00Z"
                           "&MetricData.member.2.StatisticValues.SampleCount=1"
                           "&MetricData.member.2.StatisticValues.Sum=5000000000"
                           "&MetricData.member.2.StatisticValues.Minimum=5000000000"
                           "&MetricData.member.2.StatisticValues.Maximum=5000000000"
                           "&MetricData.member.2.Unit=Bytes&MetricData.member.2.StorageResolution=1");
        buf_done(&b);
        cJSON_Delete(d[0]);
        cJSON_Delete(d[1]);
        ASSERT_STR(publish_unit("disk_inodes_free"), "Count");
        ASSERT_TRUE(publish_unit("nope") == NULL);
}

static void test_endpoints(void) {
        Config c = { .endpoint_cloudwatch = (char *) "http://127.0.0.1:1" };
        _cleanup_free_ char *a = NULL, *b = NULL, *e = NULL, *f = NULL;
        unsetenv("AWS_ENDPOINT_URL");
        unsetenv("AWS_ENDPOINT_URL_AUTO_SCALING");
        unsetenv("AWS_ENDPOINT_URL_CLOUDWATCH");
        ASSERT_STR((a = aws_endpoint(&c, AWS_SERVICE_CLOUDWATCH, "eu-west-1")), "http://127.0.0.1:1");
        ASSERT_STR((b = aws_endpoint(&c, AWS_SERVICE_AUTOSCALING, "eu-west-1")),
                   "https://autoscaling.eu-west-1.amazonaws.com");
        setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2", 1);
        setenv("AWS_ENDPOINT_URL_AUTO_SCALING", "http://127.0.0.1:3", 1);
        ASSERT_STR((e = aws_endpoint(&c, AWS_SERVICE_CLOUDWATCH, NULL)), "http://127.0.0.1:2");
        ASSERT_STR((f = aws_endpoint(&c, AWS_SERVICE_AUTOSCALING, NULL)), "http://127.0.0.1:3");
        unsetenv("AWS_REGION");
        unsetenv("AWS_DEFAULT_REGION");
        InstanceIdentity id = { .region = "us-east-2" };
        ASSERT_STR(aws_region(&c, &id), "us-east-2");
        ASSERT_TRUE(aws_region(&c, NULL) == NULL);
        setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
        ASSERT_STR(aws_region(&c, &id), "eu-central-1");
}

static void test_endpoint_ec2(void) {
        Config c = { .endpoint_ec2 = (char *) "http://127.0.0.1:4" };
        _cleanup_free_ char *a = NULL, *b = NULL, *d = NULL;
        unsetenv("AWS_ENDPOINT_URL");
        unsetenv("AWS_ENDPOINT_URL_EC2");
        ASSERT_STR((a = aws_endpoint(&c, AWS_SERVICE_EC2, "eu-west-1")), "http://127.0.0.1:4");
        c.endpoint_ec2 = NULL;
        ASSERT_STR((b = aws_endpoint(&c, AWS_SERVICE_EC2, "eu-west-1")),
                   "https://ec2.eu-west-1.amazonaws.com");
        setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:5", 1);
        ASSERT_STR((d = aws_endpoint(&c, AWS_SERVICE_EC2, NULL)), "http://127.0.0.1:5");
        unsetenv("AWS_ENDPOINT_URL_EC2");
}

/* The IMDS base URL: the endpoint mode picks the default (case-insensitive, as botocore), the
 * variable's mode over the config's, and an explicit endpoint wins over any mode. */
static void test_imds_endpoint(void) {
        Config c = {};
        const char *e = NULL;

        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
        ASSERT_STR(e, "http://169.254.169.254");
        c.imds_endpoint_ipv6 = true;
        ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
        ASSERT_STR(e, "http://[fd00:ec2::254]");
        setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv4", 1);
        ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
        ASSERT_STR(e, "http://169.254.169.254");
        c.imds_endpoint_ipv6 = false;
        const char *ipv6[] = { "IPv6", "ipv6", "IPV6" };
        for (size_t i = 0; i < ELEMENTSOF(ipv6); i++) {
                setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", ipv6[i], 1);
                e = NULL;
                ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
                ASSERT_STR(e, "http://[fd00:ec2::254]");
        }
        c.imds_endpoint = (char *) "http://127.0.0.1:1";
        ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
        ASSERT_STR(e, "http://127.0.0.1:1");
        setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[::1]:2", 1);
        ASSERT_INT(aws_imds_endpoint(&c, &e), 0);
        ASSERT_STR(e, "http://[::1]:2");
        const char *bad[] = { "", "v6", "IPv6 ", "dualstack" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", bad[i], 1);
                e = "untouched";
                ASSERT_INT(aws_imds_endpoint(&c, &e), -EINVAL);
                ASSERT_STR(e, "untouched");
        }
        ASSERT_INT(aws_imds_endpoint_mode_ipv6("IpV4"), 0);
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
}

TAP_MAIN(T(test_form), T(test_errors), T(test_retry_rules), T(test_put_metric_data_form), T(test_endpoints),
         T(test_imds_endpoint), T(test_endpoint_ec2))
