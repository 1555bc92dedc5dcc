/* test-memory.c — the CloudWatch agent's memory formulas, CPU, PSI, mountinfo, the series store. */
#include "ec2agent/fs.h"
#include "ec2agent/memory.h"
#include "ec2agent/series.h"
#include "tap.h"

/* A meminfo fixture through the parser the agent reads /proc/meminfo with. */
static MemRaw raw_of(const char *name) {
        size_t len;
        _cleanup_free_ char *t = tap_fixture(FIXTURES "/proc", name, &len);
        MemRaw r = {};
        if (memory_parse_meminfo(t, len, &r) < 0)
                TAP_FAIL("cannot parse %s", name);
        return r;
}

static void test_meminfo_parse(void) {
        MemRaw r;
        MemRaw d = raw_of("meminfo-debian12-6.1.txt");
        ASSERT_INT(d.total, 7919304);
        ASSERT_INT(d.free, 4832564);
        ASSERT_INT(d.available, 6997972);
        ASSERT_INT(d.buffers, 71980);
        ASSERT_INT(d.cached, 2050452); /* not "SwapCached:" */
        ASSERT_INT(d.sreclaimable, 127392);
        const char *old = "MemTotal: 1000 kB\nMemFree: 300 kB\nBuffers: 10 kB\nCached: 20 kB\n";
        ASSERT_INT(memory_parse_meminfo(old, strlen(old), &r), 0);
        ASSERT_INT(r.available, 300); /* before 3.14: MemFree */
        ASSERT_INT(memory_parse_meminfo("MemTotal: 0 kB\nMemFree: 0 kB\n", 30, &r), -EBADMSG);
        ASSERT_INT(memory_parse_meminfo("MemFree: 10 kB\n", 16, &r), -EBADMSG);
        ASSERT_INT(memory_parse_meminfo("MemTotal: x kB\nMemFree: 1 kB\n", 30, &r), -EBADMSG);
        ASSERT_INT(memory_parse_meminfo("MemTotal: 99999999999999999999999 kB\nMemFree: 1 kB\n", 52, &r),
                   -EBADMSG);
        ASSERT_INT(memory_read(&r), 0);
        ASSERT_TRUE(r.total > 0 && r.free <= r.total);

        CpuTicks c;
        const char *stat = "cpu  10132153 290696 3084719 46828483 16683 0 25195 7 175628 0\ncpu0 1 2 3 4\n";
        ASSERT_INT(cpu_parse_stat(stat, strlen(stat), &c), 0);
        ASSERT_INT(c.user, 10132153);
        ASSERT_INT(c.idle, 46828483);
        ASSERT_INT(c.softirq, 25195);
        ASSERT_INT(c.steal, 7);
        ASSERT_INT(cpu_parse_stat("cpu  1 2 3 4\n", 13, &c), 0); /* a 2.4 kernel's four */
        ASSERT_INT(c.iowait, 0);
        ASSERT_INT(cpu_parse_stat("cpu  1 2 3\ncpu0 4 5 6 7\n", 24, &c), -EBADMSG);
        ASSERT_INT(cpu_parse_stat("cpu0 1 2 3 4\n", 13, &c), -EBADMSG);
        ASSERT_INT(cpu_parse_stat("", 0, &c), -EBADMSG);
}

static void test_memory_debian12(void) {
        MemRaw raw = raw_of("meminfo-debian12-6.1.txt");
        MemMetrics m;
        ASSERT_INT(memory_compute(&raw, &m), 0);
        /* used = 7919304 − 4832564 − 71980 − (2050452 + 127392) = 836916 kB */
        ASSERT_NEAR(m.used, 836916.0 * 1024, 0.5);
        ASSERT_NEAR(m.used_percent, 100.0 * 836916 / 7919304, 1e-9);
        ASSERT_NEAR(m.available_percent, 100.0 * 6997972 / 7919304, 1e-9);
        ASSERT_NEAR(m.cached, (2050452.0 + 127392) * 1024, 0.5);
        ASSERT_NEAR(m.buffered, 71980.0 * 1024, 0.5);
        ASSERT_NEAR(m.free, 4832564.0 * 1024, 0.5);
        ASSERT_NEAR(m.total, 7919304.0 * 1024, 0.5);
        ASSERT_NEAR(m.swap_used_percent, 0, 0);
        /* not procps 4's "used" (MemTotal − MemAvailable): that is 100 − mem_available_percent */
        ASSERT_TRUE(fabs(m.used_percent - (100 - m.available_percent)) > 1);
}

static void test_memory_ubuntu1804_with_swap(void) {
        MemRaw raw = raw_of("meminfo-ubuntu1804-4.15.txt");
        MemMetrics m;
        ASSERT_INT(memory_compute(&raw, &m), 0);
        ASSERT_NEAR(m.used, (3978968.0 - 162104 - 31488 - 437720 - 51032) * 1024, 0.5);
        ASSERT_NEAR(m.swap_used, (1048572.0 - 524108) * 1024, 0.5);
        ASSERT_NEAR(m.swap_used_percent, 100.0 * (1048572 - 524108) / 1048572, 1e-9);
        ASSERT_NEAR(m.swap_free, 524108.0 * 1024, 0.5);
        MemRaw zero = {};
        ASSERT_INT(memory_compute(&zero, &m), -EINVAL);
}

static void test_cpu_and_psi(void) {
        CpuTicks a = { .user = 100, .system = 50, .idle = 800, .iowait = 50 };
        CpuTicks b = { .user = 160, .system = 70, .idle = 880, .iowait = 90, .steal = 0 };
        double v;
        ASSERT_INT(cpu_usage_active(&a, &b, &v), 0);
        ASSERT_NEAR(v, 100.0 * 80 / 200, 1e-9); /* 200 ticks, 120 idle or iowait */
        ASSERT_INT(cpu_usage_active(&b, &b, &v), -EAGAIN);
        CpuTicks now;
        ASSERT_INT(cpu_read(&now), 0);
        ASSERT_TRUE(now.user + now.system + now.idle > 0);

        size_t len;
        _cleanup_free_ char *psi = FIXTURE("proc/pressure-memory.txt", &len);
        ASSERT_INT(psi_parse_some_avg10(psi, len, &v), 0);
        ASSERT_NEAR(v, 1.53, 1e-9);
        ASSERT_INT(psi_parse_some_avg10("full avg10=1.00", 15, &v), -EBADMSG);
        ASSERT_INT(psi_parse_some_avg10("some avg10=x", 12, &v), -EBADMSG);
}

static void test_mountinfo(void) {
        size_t len;
        _cleanup_free_ char *t = FIXTURE("proc/mountinfo-debian12.txt", &len);
        MountEntry m[32];
        size_t n = mountinfo_parse(t, len, m, 32);
        ASSERT_INT(n, 12);
        ASSERT_STR(m[4].mount_point, "/");
        ASSERT_STR(m[4].source, "/dev/nvme0n1p1");
        ASSERT_STR(m[4].fstype, "ext4");
        ASSERT_INT(m[4].major, 259);
        ASSERT_FALSE(m[4].read_only);
        ASSERT_STR(m[8].mount_point, "/mnt/scratch space");
        ASSERT_TRUE(m[8].read_only);
        ASSERT_STR(m[10].root, "/exports");
        size_t real = 0;
        for (size_t i = 0; i < n; i++)
                real += mount_is_real(&m[i]);
        ASSERT_INT(
                real,
                5); /* /, /boot/efi, /data, /mnt/scratch space, /srv/exports; not squashfs, tmpfs, overlay */
        ASSERT_INT(mountinfo_parse("garbage\n1 2 3\n", 14, m, 32), 0);
        /* found by fuzz-mountinfo: a decoded NUL made the mount point "" */
        const char *nul = "36 22 0:21 / /\\000x rw - ext4 /dev/sda1 rw\n";
        ASSERT_INT(mountinfo_parse(nul, strlen(nul), m, 32), 0);
        ASSERT_INT(mountinfo_parse("36 22 0:21 / /\0x rw - ext4 /dev/sda1 rw\n", 41, m, 32), 0);
        ASSERT_INT(mountinfo_parse(t, len, m, 3), 3);
        FsUsage u;
        ASSERT_INT(fs_usage("/", &u), 0);
        ASSERT_TRUE(u.total > 0 && u.used_percent > 0 && u.used_percent < 100);
        ASSERT_TRUE(fs_usage("/nonexistent", &u) < 0);
}

static void test_instance_store(void) {
        char dir[] = "/tmp/ec2agent-sysfs-XXXXXX", path[256];
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "mkdir -p %s/block/nvme1n1/device %s/block/nvme0n1/device", dir, dir);
        ASSERT_INT(system(path), 0);
        snprintf(path, sizeof path, "%s/block/nvme1n1/device", dir);
        const char *is = "Amazon EC2 NVMe Instance Storage        \n",
                   *ebs = "Amazon Elastic Block Store              \n";
        ASSERT_INT(write_file_atomic(path, "model", is, strlen(is), 0644), 0);
        snprintf(path, sizeof path, "%s/block/nvme0n1/device", dir);
        ASSERT_INT(write_file_atomic(path, "model", ebs, strlen(ebs), 0644), 0);
        ASSERT_TRUE(fs_is_instance_store(dir, "nvme1n1"));
        ASSERT_FALSE(fs_is_instance_store(dir, "nvme0n1"));
        ASSERT_FALSE(fs_is_instance_store(dir, "nvme9n1"));
        snprintf(path, sizeof path, "rm -rf %s", dir);
        ASSERT_INT(system(path), 0);
        char disk[64];
        ASSERT_INT(fs_disk_of("/dev/nonexistent-disk", disk, sizeof disk), 0);
        ASSERT_STR(disk, "nonexistent-disk");
}

static void test_series(void) {
        static const SeriesWatch watches[] = {
                { "mem_used_percent", true, 95 },  { "mem_used_percent", false, 95 },
                { "mem_used_percent", true, 10 },  { "swap_used_percent", true, 0 },
                { "disk_used_percent", true, 95 },
        };
        SeriesStore s = {};
        usec_t t0 = 1000 * USEC_PER_SEC, step = 10 * USEC_PER_SEC;
        ASSERT_INT(series_store_init(&s, 8, watches, ELEMENTSOF(watches)), 0);
        for (int i = 0; i < 40; i++) /* 400 s of samples, above 95 from the 10th on */
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, t0 + i * step, i < 10 ? 50 : 97), 0);
        usec_t now = t0 + 39 * step;
        /* the windows reach far past the 8 samples of the ring */
        ASSERT_TRUE(series_holds(&s, "mem_used_percent", true, 95, 290 * USEC_PER_SEC, step, now));
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", true, 95, 310 * USEC_PER_SEC, step, now));
        ASSERT_TRUE(series_holds(&s, "mem_used_percent", true, 95, 0, step, now));
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", false, 95, 0, step, now));
        ASSERT_TRUE(series_holds(&s, "mem_used_percent", true, 10, 390 * USEC_PER_SEC, step, now));
        /* not sampled long enough: a window longer than the history */
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", true, 10, 3600 * USEC_PER_SEC, step, now));
        /* a condition no rule watches is never met */
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", true, 90, 0, step, now));
        ASSERT_FALSE(series_holds(&s, "swap_used_percent", true, 0, 0, step, now));
        /* a window of days: one miss anywhere in it breaks it, however long ago */
        for (int i = 40; i < 40 + 8640 * 2; i++) /* two days at 10 s */
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, t0 + i * step, i == 5000 ? 90 : 97), 0);
        now = t0 + (40 + 8640 * 2 - 1) * step;
        ASSERT_TRUE(series_holds(&s, "mem_used_percent", true, 95, 86400 * USEC_PER_SEC, step, now));
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", true, 95, 2 * 86400 * USEC_PER_SEC - 1000 * step,
                                  step, now));
        /* any key of the name: one filesystem of two */
        ASSERT_INT(series_add(&s, "disk_used_percent", &(SeriesDims){ .path = "/" }, now, 40), 0);
        ASSERT_INT(series_add(&s, "disk_used_percent", &(SeriesDims){ .path = "/data" }, now, 99), 0);
        ASSERT_TRUE(series_holds(&s, "disk_used_percent", true, 95, 0, step, now));
        /* ... but not once it is no longer sampled (unmounted) */
        ASSERT_FALSE(series_holds(&s, "disk_used_percent", true, 95, 0, step, now + 3 * step));
        ASSERT_NEAR(series_last(&s, "disk_used_percent", &(SeriesDims){ .path = "/" })->value, 40, 0);
        /* the ring keeps the newest samples: the publisher's statistics see those */
        for (int i = 0; i < 13; i++)
                ASSERT_INT(series_add(&s, "cpu_usage_active", NULL, t0 + i * step, i), 0);
        ASSERT_NEAR(series_last(&s, "cpu_usage_active", NULL)->value, 12, 0);
        Stats st;
        ASSERT_INT(series_stats(s.series[s.n - 1], 0, USEC_INFINITY, &st), 8);
        ASSERT_NEAR(st.min, 5, 0);
        ASSERT_NEAR(st.max, 12, 0);
        series_store_done(&s);

        SeriesStore d = {}; /* not initialized: the default ring, no watches */
        for (int i = 0; i < SERIES_DEFAULT_CAPACITY + 5; i++)
                ASSERT_INT(series_add(&d, "cpu_usage_active", NULL, t0 + i * step, i), 0);
        ASSERT_INT(series_stats(d.series[0], 0, USEC_INFINITY, &st), SERIES_DEFAULT_CAPACITY);
        ASSERT_FALSE(series_holds(&d, "cpu_usage_active", true, 0, 0, step, t0));
        series_store_done(&d);
}

TAP_MAIN(T(test_meminfo_parse), T(test_memory_debian12), T(test_memory_ubuntu1804_with_swap),
         T(test_cpu_and_psi), T(test_mountinfo), T(test_instance_store), T(test_series))
