/* test-publish.c — the publisher's pure parts: what goes in one request (1 000 datums, the byte
 * bound), gzip above the threshold, the retry delays, timestamps kept from the datum. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ec2agent/json.h"
#include "ec2agent/publish.h"
#include "tap.h"

/* N datum lines of metric NAME one minute apart from T0, each with DIMS (a JSON array text). */
static char **make_lines(size_t n, const char *name, const char *dims, long long t0) {
        char **lines = calloc(n + 1, sizeof(char *));
        ASSERT_TRUE(lines != NULL);
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(asprintf(&lines[i], "{\"m\":\"%s\",\"t\":%lld,\"s\":[6,300,40,60],\"d\":%s}",
                                     name, t0 + 60 * (long long) i, dims) > 0);
        return lines;
}

static void free_lines(char **lines) {
        for (size_t i = 0; lines && lines[i]; i++)
                free(lines[i]);
        free(lines);
}

/* The form publish_build_form makes for the first N LINES: its length, or -1 when it fails. */
static long long form_len(char *const *lines, size_t n, bool hr) {
        cJSON **d = calloc(n + 1, sizeof(cJSON *));
        long long len;
        Buf b;
        int r;

        ASSERT_TRUE(d != NULL);
        for (size_t i = 0; i < n; i++)
                ASSERT_INT(publish_parse_datum(lines[i], strlen(lines[i]), &d[i]), 0);
        buf_init(&b, 64U << 20);
        r = publish_build_form(&b, "CWAgent", (const cJSON *const *) d, n, hr);
        len = r < 0 ? -1 : (long long) b.len;
        buf_done(&b);
        for (size_t i = 0; i < n; i++)
                cJSON_Delete(d[i]);
        free(d);
        return len;
}

/* At most 1 000 datums a request (CloudWatch's limit), whatever waits. */
static void test_fit_datums(void) {
        char **lines = make_lines(2500, "mem_used_percent", "[[\"InstanceId\",\"i-0abc\"]]", 1795428000);
        ASSERT_INT(publish_batch_fit(lines, 2500, "CWAgent", false), PUBLISH_BATCH_MAX_DATUMS);
        ASSERT_INT(publish_batch_fit(lines, 1000, "CWAgent", false), 1000);
        ASSERT_INT(publish_batch_fit(lines, 7, "CWAgent", true), 7);
        ASSERT_INT(publish_batch_fit(lines, 0, "CWAgent", false), 0);
        ASSERT_TRUE(form_len(lines, 1000, true) < PUBLISH_BATCH_MAX_BYTES); /* small ones: the count binds */
        free_lines(lines);
}

/* Datums with long dimensions: the request holds as many as keep the form within the byte bound,
 * exactly (one more would not fit), with and without StorageResolution. */
static void test_fit_bytes(void) {
        char dims[2048], path[256];
        memset(path, 'x', sizeof path - 1);
        path[0] = '/';
        path[sizeof path - 1] = 0;
        snprintf(dims, sizeof dims,
                 "[[\"InstanceId\",\"i-0abcdef0123456789\"],[\"InstanceType\",\"m7g.large\"],"
                 "[\"ImageId\",\"ami-0abcdef0123456789\"],[\"AutoScalingGroupName\",\"%s\"],"
                 "[\"path\",\"%s\"],[\"device\",\"nvme0n1p1\"],[\"fstype\",\"ext4\"]]",
                 path + 1, path);
        char **lines = make_lines(1000, "disk_used_percent", dims, 1795428000);
        /* 1 000 of them, as the count alone would take, are over 1 MB: more than CloudWatch takes */
        ASSERT_TRUE(form_len(lines, 1000, false) > 1000 * 1000);
        for (int hr = 0; hr <= 1; hr++) {
                size_t n = publish_batch_fit(lines, 1000, "CWAgent", hr);
                ASSERT_TRUE(n > 100 && n < 1000);
                ASSERT_TRUE(form_len(lines, n, hr) <= PUBLISH_BATCH_MAX_BYTES);
                ASSERT_TRUE(form_len(lines, n + 1, hr) > PUBLISH_BATCH_MAX_BYTES);
                /* the rest goes in the next request, from where this one ended */
                size_t m = publish_batch_fit(lines + n, 1000 - n, "CWAgent", hr);
                ASSERT_TRUE(m > 0 && m <= 1000 - n);
        }
        free_lines(lines);
}

/* A line that is no datum costs nothing (the build drops it); a datum bigger than a request alone
 * still leaves, alone, rather than block the queue. */
static void test_fit_odd_lines(void) {
        char *odd[] = { "not json", "{\"m\":\"mem_used\",\"t\":1,\"s\":[1,1,1,1]}", "{\"m\":\"x\"}" };
        ASSERT_INT(publish_batch_fit(odd, 3, "CWAgent", false), 3);

        size_t big_len = PUBLISH_BATCH_MAX_BYTES + 100;
        char *big_value = malloc(big_len + 1), *big = NULL;
        ASSERT_TRUE(big_value != NULL);
        memset(big_value, 'v', big_len);
        big_value[big_len] = 0;
        ASSERT_TRUE(asprintf(&big, "{\"m\":\"mem_used\",\"t\":1,\"s\":[1,1,1,1],\"d\":[[\"k\",\"%s\"]]}",
                             big_value) > 0);
        char *two[] = { big, odd[1] };
        ASSERT_INT(publish_batch_fit(two, 2, "CWAgent", false), 1);
        char *after[] = { odd[1], big };
        ASSERT_INT(publish_batch_fit(after, 2, "CWAgent", false), 1); /* the big one waits for its own */
        free(big);
        free(big_value);
}

static size_t gunzip(const Buf *in, char *out, size_t max) {
        z_stream z = {};
        ASSERT_INT(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
        z.next_in = (unsigned char *) in->data;
        z.avail_in = (uInt) in->len;
        z.next_out = (unsigned char *) out;
        z.avail_out = (uInt) max;
        ASSERT_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
        size_t n = z.total_out;
        inflateEnd(&z);
        return n;
}

/* Gzip for a form above PUBLISH_GZIP_ABOVE_BYTES (10 240), never at or below it; what is sent
 * inflates back to the form. */
static void test_compress_threshold(void) {
        static char text[3 * PUBLISH_GZIP_ABOVE_BYTES], back[sizeof text];
        Buf form, gz;

        for (size_t i = 0; i < sizeof text; i++)
                text[i] = "MetricData.member.1.StatisticValues.Sum=300&"[i % 44];
        for (size_t len = PUBLISH_GZIP_ABOVE_BYTES - 1; len <= PUBLISH_GZIP_ABOVE_BYTES + 1; len++) {
                buf_init(&form, 1 << 20);
                buf_init(&gz, 1 << 20);
                ASSERT_INT(buf_append(&form, text, len), 0);
                int r = publish_compress(&form, &gz);
                ASSERT_INT(r, len > PUBLISH_GZIP_ABOVE_BYTES);
                if (r > 0) {
                        ASSERT_TRUE(gz.len < form.len / 4);
                        ASSERT_INT(gunzip(&gz, back, sizeof back), len);
                        ASSERT_TRUE(memcmp(back, text, len) == 0);
                } else
                        ASSERT_INT(gz.len, 0);
                buf_done(&form);
                buf_done(&gz);
        }
}

/* Full jitter: uniform below min(20 s, 1 s × 2^attempt); never above the cap, however many
 * attempts (no overflow), and zero possible. */
static void test_retry_delay(void) {
        ASSERT_INT(publish_retry_delay(1, 0), 0);
        ASSERT_INT(publish_retry_delay(1, 0.5), PUBLISH_RETRY_BASE_USEC);
        ASSERT_INT(publish_retry_delay(2, 0.5), 2 * PUBLISH_RETRY_BASE_USEC);
        ASSERT_INT(publish_retry_delay(4, 0.5), 8 * PUBLISH_RETRY_BASE_USEC);
        ASSERT_INT(publish_retry_delay(5, 0.5), PUBLISH_RETRY_CAP_USEC / 2); /* 32 s capped to 20 */
        usec_t last = 0;
        for (unsigned a = 1; a <= 200; a++) {
                usec_t d = publish_retry_delay(a, 0.999999);
                ASSERT_TRUE(d >= last && d < PUBLISH_RETRY_CAP_USEC);
                last = d;
        }
        ASSERT_TRUE(last > PUBLISH_RETRY_CAP_USEC - USEC_PER_MSEC);
        ASSERT_INT(publish_retry_delay(UINT32_MAX, 0.25), PUBLISH_RETRY_CAP_USEC / 4);
}

/* A datum keeps its own time: a spooled one is sent with the interval it was measured in, not
 * the time it is sent at; CloudWatch's Timestamp is that time in RFC 3339 UTC. */
static void test_original_timestamps(void) {
        char **lines = make_lines(3, "mem_used_percent", "[]", 1795428000); /* 2026-11-23T10:00:00Z */
        cJSON *d[3];
        Buf b;

        for (size_t i = 0; i < 3; i++)
                ASSERT_INT(publish_parse_datum(lines[i], strlen(lines[i]), &d[i]), 0);
        buf_init(&b, 1 << 16);
        ASSERT_INT(publish_build_form(&b, "CWAgent", (const cJSON *const *) d, 3, false), 0);
        const char *t1 = strstr(b.data, "MetricData.member.1.Timestamp=2026-11-23T10%3A00%3A00Z");
        const char *t2 = strstr(b.data, "MetricData.member.2.Timestamp=2026-11-23T10%3A01%3A00Z");
        const char *t3 = strstr(b.data, "MetricData.member.3.Timestamp=2026-11-23T10%3A02%3A00Z");
        ASSERT_TRUE(t1 && t2 && t3 && t1 < t2 && t2 < t3); /* in the order given: oldest first */
        ASSERT_TRUE(strstr(b.data, "StorageResolution") == NULL);
        buf_done(&b);
        for (size_t i = 0; i < 3; i++)
                cJSON_Delete(d[i]);
        free_lines(lines);
}

/* ---- the spool, through the publisher: a fake endpoint on 127.0.0.1 in the test's own loop ---- */

typedef struct Fake {
        sd_event *loop;
        int listen_fd;
        sd_event_source *accept_source;
        char *bodies[16];
        size_t n_bodies;
} Fake;

typedef struct Conn {
        Fake *fake;
        int fd;
        Buf in;
        bool continued;
} Conn;

/* One HTTP/1.1 request a connection: answers 100-continue when asked, records the body, answers
 * 200 and closes. */
static int conn_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        char chunk[65536];
        ssize_t n;
        (void) revents;

        while ((n = read(fd, chunk, sizeof chunk)) > 0)
                ASSERT_INT(buf_append(&c->in, chunk, (size_t) n), 0);
        const char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (!end && n != 0)
                return 0;
        const char *cl = c->in.data ? strcasestr(c->in.data, "\r\nContent-Length: ") : NULL;
        uint64_t want = 0;
        if (end && cl && cl < end)
                ASSERT_INT(parse_u64_n(cl + 18, strcspn(cl + 18, "\r"), 1U << 24, &want), 0);
        if (end && !c->continued && strcasestr(c->in.data, "\r\nExpect: 100-continue") &&
            (size_t) (c->in.data + c->in.len - (end + 4)) < want) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                ASSERT_INT(write(fd, cont, sizeof cont - 1), (long long) sizeof cont - 1);
                c->continued = true;
                return 0;
        }
        if (end && (size_t) (c->in.data + c->in.len - (end + 4)) < want && n != 0)
                return 0;
        if (end) {
                static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                ASSERT_TRUE(c->fake->n_bodies < ELEMENTSOF(c->fake->bodies));
                c->fake->bodies[c->fake->n_bodies++] = strndup(end + 4, want);
                ASSERT_INT(write(fd, ok, sizeof ok - 1), (long long) sizeof ok - 1);
        }
        sd_event_source_disable_unref(src);
        close(fd);
        buf_done(&c->in);
        free(c);
        return 0;
}

static int fake_on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Fake *f = userdata;
        (void) src;
        (void) revents;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        Conn *c = calloc(1, sizeof(Conn));
        ASSERT_TRUE(c != NULL);
        *c = (Conn){ .fake = f, .fd = cfd };
        buf_init(&c->in, 1U << 22);
        ASSERT_INT(sd_event_add_io(f->loop, NULL, cfd, EPOLLIN, conn_on_io, c), 0);
        return 0;
}

static int fake_start(Fake *f, sd_event *loop) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;

        *f = (Fake){ .loop = loop };
        f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(f->listen_fd >= 0);
        ASSERT_INT(bind(f->listen_fd, (struct sockaddr *) &a, sizeof a), 0);
        ASSERT_INT(listen(f->listen_fd, 8), 0);
        ASSERT_INT(getsockname(f->listen_fd, (struct sockaddr *) &a, &len), 0);
        ASSERT_INT(sd_event_add_io(loop, &f->accept_source, f->listen_fd, EPOLLIN, fake_on_accept, f), 0);
        return ntohs(a.sin_port);
}

static void fake_stop(Fake *f) {
        sd_event_source_disable_unref(f->accept_source);
        close(f->listen_fd);
        for (size_t i = 0; i < f->n_bodies; i++)
                free(f->bodies[i]);
}

static const AwsCredentials test_credentials = { .access_key_id = "AKIDEXAMPLE",
                                                 .secret_access_key = "wJalrXUtnFEMI/K7MDENG" };
static const AwsCredentials *env_credentials(void *u) {
        (void) u;
        return &test_credentials;
}
static const InstanceIdentity *env_identity(void *u) {
        (void) u;
        return NULL;
}
static const char *env_asg(void *u) {
        (void) u;
        return NULL;
}
static bool env_pending(void *u) {
        (void) u;
        return true; /* no new interval is aggregated: only the spool goes out */
}

/* What an earlier run spooled goes out oldest file first (by sequence number: 2 before 10), each
 * datum with the time it was measured at, each once, and the files go as they are sent. */
static void test_spool_oldest_first_with_original_times(void) {
        char dir[] = "/tmp/test-publish-XXXXXX", json[512], name[64];
        _cleanup_(sd_event_unrefp) sd_event *loop = NULL;
        _cleanup_(http_freep) Http *http = NULL;
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_free_ char *spool = NULL;
        char **errors = NULL;
        Publisher *p = NULL;
        Fake fake;
        /* minutes ago, so CloudWatch's two weeks keep them: file 1 oldest, then 2, then 10 */
        long long t0 = (long long) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC / 60 * 60) - 3 * 3600;
        static const unsigned files[] = { 10, 1, 2 }; /* written out of order */

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        spool = path_join(dir, "spool");
        ASSERT_INT(mkdir(spool, 0750), 0);
        for (size_t f = 0; f < ELEMENTSOF(files); f++) {
                Buf b;
                buf_init(&b, 1 << 16);
                long long base = t0 + (files[f] == 1 ? 0 : files[f] == 2 ? 600 : 1200);
                for (int k = 0; k < 3; k++)
                        ASSERT_INT(buf_appendf(&b,
                                               "{\"m\":\"mem_used_percent\",\"t\":%lld,\"s\":[1,%d,%d,%d],"
                                               "\"d\":[]}\n",
                                               base + 60 * k, k, k, k),
                                   0);
                snprintf(name, sizeof name, "%016u.jsonl", files[f]);
                ASSERT_INT(write_file_atomic(spool, name, b.data, b.len, 0640), 0);
                buf_done(&b);
        }
        ASSERT_INT(sd_event_new(&loop), 0);
        int port = fake_start(&fake, loop);
        snprintf(json, sizeof json,
                 "{\"metrics\":{\"enabled\":true},\"aws\":{\"region\":\"eu-west-1\",\"endpoints\":"
                 "{\"cloudwatch\":\"http://127.0.0.1:%d\"}}}",
                 port);
        ASSERT_INT(config_load_string("test.json", json, &config, &errors), 0);
        ASSERT_TRUE(errors == NULL);
        ASSERT_INT(http_new(loop, &http), 0);
        AwsEnv env = { .identity = env_identity,
                       .asg_name = env_asg,
                       .credentials = env_credentials,
                       .identity_pending = env_pending };
        ASSERT_INT(publisher_new(loop, http, config, &(SeriesStore){}, dir, &env, &p), 0);
        usec_t end = now_usec(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;
        while (fake.n_bodies < 3 && now_usec(CLOCK_MONOTONIC) < end)
                ASSERT_TRUE(sd_event_run(loop, 100 * USEC_PER_MSEC) >= 0);
        ASSERT_INT(fake.n_bodies, 3);
        /* the last file goes once its answer is in */
        snprintf(name, sizeof name, "%s/%016u.jsonl", spool, 10U);
        end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (access(name, F_OK) == 0 && now_usec(CLOCK_MONOTONIC) < end)
                ASSERT_TRUE(sd_event_run(loop, 100 * USEC_PER_MSEC) >= 0);

        long long expect = t0;
        for (size_t r = 0; r < 3; r++) {
                const char *body = fake.bodies[r];
                ASSERT_TRUE(strstr(body, "Action=PutMetricData") != NULL);
                for (int k = 1; k <= 3; k++, expect += 60) {
                        char key[64], ts[RFC3339_MAX], enc[64];
                        const char *at;
                        snprintf(key, sizeof key, "MetricData.member.%d.Timestamp=", k);
                        ASSERT_TRUE((at = strstr(body, key)) != NULL);
                        format_rfc3339(ts, (usec_t) expect * USEC_PER_SEC); /* 2026-12-07T05:00:00Z */
                        size_t o = 0;
                        for (const char *c = ts; *c && o + 4 < sizeof enc; c++)
                                o += (size_t) snprintf(enc + o, sizeof enc - o, *c == ':' ? "%%3A" : "%c",
                                                       *c);
                        if (strncmp(at + strlen(key), enc, strlen(enc)) != 0)
                                TAP_FAIL("request %zu member %d: %.40s, expected %s", r + 1, k,
                                         at + strlen(key), enc);
                }
                if (r == 0)
                        expect = t0 + 600;
                else if (r == 1)
                        expect = t0 + 1200;
        }
        for (unsigned f = 0; f < 11; f++) {
                snprintf(name, sizeof name, "%s/%016u.jsonl", spool, f);
                ASSERT_TRUE(access(name, F_OK) < 0); /* each sent file is gone */
        }
        p = publisher_free(p);
        fake_stop(&fake);
        ASSERT_INT(rmdir(spool), 0);
        ASSERT_INT(rmdir(dir), 0);
}

TAP_MAIN(T(test_fit_datums), T(test_fit_bytes), T(test_fit_odd_lines), T(test_compress_threshold),
         T(test_retry_delay), T(test_original_timestamps), T(test_spool_oldest_first_with_original_times))
