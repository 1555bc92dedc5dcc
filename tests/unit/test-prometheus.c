/* test-prometheus.c — the textfile for node_exporter: families, labels escaped, counters, health,
 * notices, freshness, and the atomic 0644 write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/prometheus.h"
#include "tap.h"

#define NOW (1800000000ULL * USEC_PER_SEC)

static char *render(const SeriesStore *s, const PrometheusCounters *c, const char *status_json) {
        _cleanup_json_ cJSON *status = status_json ? cJSON_Parse(status_json) : NULL;
        Buf b;
        buf_init(&b, PROMETHEUS_MAX_BYTES);
        if (prometheus_render(&b, s, NOW - 30 * USEC_PER_SEC, c, status) < 0 || buf_append(&b, "", 1) < 0) {
                buf_done(&b);
                return NULL;
        }
        return b.data; /* taken over */
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0))
                        return true;
        return false;
}

static size_t count(const char *text, const char *needle) {
        size_t n = 0;
        for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static void test_gauges_and_labels(void) {
        SeriesStore s = {};
        SeriesDims root = { .path = "/", .device = "/dev/nvme0n1p1", .fstype = "ext4" };
        SeriesDims data = { .path = "/data", .device = "/dev/nvme1n1", .fstype = "xfs" };
        PrometheusCounters c = {};

        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, NOW - 20 * USEC_PER_SEC, 40), 0);
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, NOW - 10 * USEC_PER_SEC, 41.5), 0);
        ASSERT_INT(series_add(&s, "disk_used_percent", &root, NOW, 12.25), 0);
        ASSERT_INT(series_add(&s, "disk_total", &root, NOW, 8589934592.0), 0);
        ASSERT_INT(series_add(&s, "disk_used_percent", &data, NOW, 99), 0);
        _cleanup_free_ char *t = render(&s, &c, NULL);
        ASSERT_TRUE(t != NULL);
        ASSERT_TRUE(has_line(t, "# TYPE ec2agent_mem_used_percent gauge"));
        ASSERT_TRUE(has_line(t, "ec2agent_mem_used_percent 41.5")); /* the newest sample */
        ASSERT_TRUE(has_line(
                t,
                "ec2agent_disk_used_percent{path=\"/\",device=\"/dev/nvme0n1p1\",fstype=\"ext4\"} 12.25"));
        ASSERT_TRUE(has_line(
                t, "ec2agent_disk_used_percent{path=\"/data\",device=\"/dev/nvme1n1\",fstype=\"xfs\"} 99"));
        ASSERT_TRUE(has_line(
                t, "ec2agent_disk_total{path=\"/\",device=\"/dev/nvme0n1p1\",fstype=\"ext4\"} 8589934592"));
        {
                /* the Nitro metrics' labels, lowercase (SPEC §7) */
                SeriesStore n = {};
                SeriesDims vol = { .volume_id = "vol-0abc" }, eth = { .interface = "ens5" };
                ASSERT_INT(series_add(&n, "diskio_ebs_total_read_ops", &vol, NOW, 7), 0);
                ASSERT_INT(series_add(&n, "ethtool_pps_allowance_exceeded", &eth, NOW, 3), 0);
                _cleanup_free_ char *u = render(&n, &c, NULL);
                ASSERT_TRUE(has_line(u, "ec2agent_diskio_ebs_total_read_ops{volume_id=\"vol-0abc\"} 7"));
                ASSERT_TRUE(has_line(u, "ec2agent_ethtool_pps_allowance_exceeded{interface=\"ens5\"} 3"));
                series_store_done(&n);
        }
        /* one HELP and one TYPE per family, and its samples together right after them */
        ASSERT_INT(count(t, "# TYPE ec2agent_disk_used_percent "), 1);
        ASSERT_INT(count(t, "# HELP ec2agent_disk_used_percent "), 1);
        const char *a = strstr(t, "# TYPE ec2agent_disk_used_percent"), *b = strstr(t, "path=\"/\",device"),
                   *d = strstr(t, "path=\"/data\""), *next = strstr(a, "# HELP ec2agent_disk_total");
        ASSERT_TRUE(a && b && d && next && a < b && b < d && d < next);
        /* no timestamps: the textfile collector refuses them */
        ASSERT_FALSE(has_line(t, "ec2agent_mem_used_percent 41.5 1800000000000"));
        series_store_done(&s);
}

static void test_hostile_label_values(void) {
        SeriesStore s = {};
        SeriesDims d = { .path = "/mnt/a \"b\" c\\d\ne", .device = "/dev/x", .fstype = "ext4" };
        PrometheusCounters c = {};

        ASSERT_INT(series_add(&s, "disk_free", &d, NOW, 1), 0);
        _cleanup_free_ char *t = render(&s, &c, NULL);
        ASSERT_TRUE(has_line(t, "ec2agent_disk_free{path=\"/mnt/a \\\"b\\\" c\\\\d\\ne\",device=\"/dev/x\","
                                "fstype=\"ext4\"} 1"));
        series_store_done(&s);
}

static void test_stale_series_left_out(void) {
        SeriesStore s = {};
        SeriesDims gone = { .path = "/gone", .device = "/dev/y", .fstype = "ext4" };
        PrometheusCounters c = {};

        ASSERT_INT(series_add(&s, "disk_used_percent", &gone, NOW - 60 * USEC_PER_SEC, 5), 0);
        _cleanup_free_ char *t = render(&s, &c, NULL);
        ASSERT_TRUE(strstr(t, "/gone") == NULL);
        ASSERT_TRUE(strstr(t, "ec2agent_disk_used_percent") == NULL); /* no family without a sample */
        series_store_done(&s);
}

static void test_counters(void) {
        SeriesStore s = {};
        PrometheusCounters c = { .oom_kills = 3 };
        c.problems[EVENT_TYPE_FS_ERROR] = 2;

        _cleanup_free_ char *t = render(&s, &c, NULL);
        ASSERT_TRUE(has_line(t, "# TYPE ec2agent_oom_kills_total counter"));
        ASSERT_TRUE(has_line(t, "ec2agent_oom_kills_total 3"));
        ASSERT_TRUE(has_line(t, "# TYPE ec2agent_kernel_problems_total counter"));
        ASSERT_TRUE(has_line(t, "ec2agent_kernel_problems_total{class=\"fs-error\"} 2"));
        ASSERT_TRUE(has_line(t, "ec2agent_kernel_problems_total{class=\"hung-task\"} 0"));
        ASSERT_TRUE(strstr(t, "class=\"oom-kill\"") == NULL);
        ASSERT_TRUE(strstr(t, "ec2agent_oom_kills ") == NULL); /* only under its _total name */
}

static void test_health_and_notices(void) {
        SeriesStore s = {};
        PrometheusCounters c = {};
        _cleanup_free_ char *t = render(
                &s, &c,
                "{\"health\":\"critical\",\"notices\":{\"spot\":{\"action\":\"terminate\"},\"rebalance\":"
                "null,"
                "\"asg_target_lifecycle_state\":\"InService\",\"scheduled\":[{\"state\":\"completed\"}]}}");
        ASSERT_TRUE(has_line(t, "# TYPE ec2agent_health gauge"));
        ASSERT_TRUE(has_line(t, "ec2agent_health 2"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"spot\"} 1"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"rebalance\"} 0"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"autoscaling\"} 0"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"scheduled\"} 0"));
        free(t);
        t = render(&s, &c,
                   "{\"health\":\"warning\",\"notices\":{\"spot\":null,\"rebalance\":{},"
                   "\"asg_target_lifecycle_state\":\"Terminated\",\"scheduled\":[{\"state\":\"active\"}]}}");
        ASSERT_TRUE(has_line(t, "ec2agent_health 1"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"spot\"} 0"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"rebalance\"} 1"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"autoscaling\"} 1"));
        ASSERT_TRUE(has_line(t, "ec2agent_notice{type=\"scheduled\"} 1"));
}

static void test_write_file_is_atomic_and_0644(void) {
        char dir[] = "/tmp/test-prometheus-XXXXXX", path[128], tmp[128];
        struct stat st;
        _cleanup_free_ char *text = NULL;
        size_t len;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/ec2agent.prom", dir);
        snprintf(tmp, sizeof tmp, "%s/.ec2agent.prom.tmp", dir);
        mode_t old = umask(077);
        ASSERT_INT(prometheus_write_file(path, "a 1\n", 4), 0);
        ASSERT_INT(prometheus_write_file(path, "b 2\n", 4), 0);
        umask(old);
        ASSERT_INT(stat(path, &st), 0);
        ASSERT_INT(st.st_mode & 07777, 0644);
        ASSERT_INT(read_file_bounded(path, 100, &text, &len), 0);
        ASSERT_STR(text, "b 2\n");
        ASSERT_INT(access(tmp, F_OK), -1); /* no temporary left behind */
        ASSERT_INT(prometheus_write_file("relative.prom", "", 0), -EINVAL);
        snprintf(path, sizeof path, "%s/missing/ec2agent.prom", dir);
        ASSERT_INT(prometheus_write_file(path, "", 0), -ENOENT);
        snprintf(path, sizeof path, "%s/ec2agent.prom", dir);
        (void) unlink(path);
        (void) rmdir(dir);
}

TAP_MAIN(T(test_gauges_and_labels), T(test_hostile_label_values), T(test_stale_series_left_out),
         T(test_counters), T(test_health_and_notices), T(test_write_file_is_atomic_and_0644))
