/* prometheus-write.c — the cost of metrics.prometheus_textfile: renders the textfile for the
 * sampler's series (every metric, two filesystems) and writes it atomically, N times; prints the
 * size and the microseconds per render and per render + write. Usage: prometheus-write [DIR] [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/prometheus.h"

int main(int argc, char **argv) {
        const char *dir = argc > 1 ? argv[1] : "/tmp";
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
        SeriesStore s = {};
        SeriesDims fs[2] = { { .path = "/", .device = "/dev/nvme0n1p1", .fstype = "ext4" },
                             { .path = "/data", .device = "/dev/nvme1n1", .fstype = "xfs" } };
        PrometheusCounters c = { .oom_kills = 1 };
        usec_t now = now_usec(CLOCK_REALTIME);
        char path[4096];
        _cleanup_json_ cJSON *status =
                cJSON_Parse("{\"health\":\"ok\",\"notices\":{\"spot\":null,\"rebalance\":null,"
                            "\"asg_target_lifecycle_state\":\"InService\",\"scheduled\":[]}}");
        Buf b;

        if (n < 1 || !status)
                return 2;
        /* what the sampler keeps: every collected metric, the disk ones per filesystem */
        for (MetricId id = 0; id < _METRIC_MAX; id++) {
                const MetricInfo *m = metric_info(id);
                if (m->planned || id == METRIC_OOM_KILLS || id == METRIC_KERNEL_PROBLEMS)
                        continue;
                for (int f = 0; f < (strncmp(m->name, "disk_", 5) == 0 ? 2 : 1); f++)
                        if (series_add(&s, m->name, strncmp(m->name, "disk_", 5) == 0 ? &fs[f] : NULL, now,
                                       123456789.25) < 0)
                                return 1;
        }
        snprintf(path, sizeof path, "%s/ec2agent-bench.prom", dir);

        buf_init(&b, PROMETHEUS_MAX_BYTES);
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i++) {
                buf_reset(&b);
                if (prometheus_render(&b, &s, 0, &c, status) < 0)
                        return 1;
        }
        usec_t t1 = now_usec(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i++) {
                buf_reset(&b);
                if (prometheus_render(&b, &s, 0, &c, status) < 0 ||
                    prometheus_write_file(path, b.data, b.len) < 0) {
                        perror(path);
                        return 1;
                }
        }
        usec_t t2 = now_usec(CLOCK_MONOTONIC);
        printf("series %zu\nbytes %zu\nrender_us %.2f\nrender_and_write_us %.2f\n", s.n, b.len,
               (double) (t1 - t0) / (double) n, (double) (t2 - t1) / (double) n);
        (void) unlink(path);
        buf_done(&b);
        series_store_done(&s);
        return 0;
}
