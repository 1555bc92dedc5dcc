/* test-sampler.c — the sampler: statvfs() answers come back through the loop, never on it. */
#include <sys/socket.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/sampler.h"
#include "tap.h"

/* Runs EVENT until every statvfs() call of S has answered (at most 10 s). */
static void run_until_answered(sd_event *e, Sampler *s) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (sampler_calls_pending(s) > 0 && now_usec(CLOCK_MONOTONIC) < end)
                ASSERT_TRUE(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
        ASSERT_INT(sampler_calls_pending(s), 0);
}

static const cJSON *fs_entry(const cJSON *doc, const char *path) {
        const cJSON *f;
        cJSON_ArrayForEach (f, cJSON_GetObjectItemCaseSensitive(doc, "filesystems"))
                if (strcmp(json_get_string(f, "path") ?: "", path) == 0)
                        return f;
        return NULL;
}

static void test_usage_arrives_through_the_loop(void) {
        char *fs[] = { (char *) "/", (char *) "/nonexistent-mount-point", NULL };
        SamplerOptions o = { .interval_s = 3600,
                             .filesystems = fs,
                             .mountinfo_path = "/proc/self/mountinfo" };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sampler_freep) Sampler *s = NULL;
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();

        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(sampler_new(e, &o, NULL, &s), 0);
        /* asked at once, answered later: the loop has not run yet */
        ASSERT_INT(sampler_calls_pending(s), 1);
        ASSERT_TRUE(series_last(sampler_series(s), "disk_used_percent", NULL) == NULL);
        run_until_answered(e, s);

        ASSERT_INT(sampler_status(s, doc), 0);
        const cJSON *root = fs_entry(doc, "/"), *none = fs_entry(doc, "/nonexistent-mount-point");
        ASSERT_TRUE(root && none);
        ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "used_percent")));
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "answering")));
        ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "error")));
        ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(none, "mounted")));
        ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(none, "used_percent")));

        /* the answer of the first (recording) sample went into the series */
        const SeriesStore *st = sampler_series(s);
        bool found = false;
        for (size_t i = 0; i < st->n && !found; i++)
                found = strcmp(st->series[i]->name, "disk_used_percent") == 0 &&
                        strcmp(st->series[i]->dims.path, "/") == 0;
        ASSERT_TRUE(found);

        /* one call per filesystem at a time: a second sample while the first is out asks nothing */
        sampler_collect(s);
        sampler_collect(s);
        ASSERT_INT(sampler_calls_pending(s), 1);
        run_until_answered(e, s);
}

static void test_remote_types(void) {
        static const char *const remote[] = { "nfs",     "nfs4",       "cifs",      "smb3",
                                              "ceph",    "glusterfs",  "9p",        "fuse",
                                              "fuseblk", "fuse.sshfs", "fuse.s3fs", "lustre" };
        for (size_t i = 0; i < ELEMENTSOF(remote); i++)
                ASSERT_TRUE(fs_type_is_remote(remote[i]));
        ASSERT_FALSE(fs_type_is_remote("ext4"));
        ASSERT_FALSE(fs_type_is_remote("xfs"));
        ASSERT_FALSE(fs_type_is_remote("fusectl"));
        MountEntry ntfs = { .fstype = "fuseblk", .source = "/dev/sdb1" },
                   ext4 = { .fstype = "ext4", .source = "/dev/nvme0n1p1" };
        ASSERT_FALSE(mount_is_real(&ntfs));
        ASSERT_TRUE(mount_is_real(&ext4));
}

/* The sampler keeps what the rules and the publisher asked for: SERIES_CAPACITY samples a series,
 * and the metric rules' conditions (for_s windows) followed sample by sample, far past the ring. */
static void test_watches_and_capacity(void) {
        static const SeriesWatch watches[] = {
                { .name = "mem_total", .above = true, .threshold = 0 },  /* always met */
                { .name = "mem_total", .above = false, .threshold = 0 }, /* never */
                { .name = "swap_used_percent", .above = true, .threshold = 1000 },
        };
        SamplerOptions o = { .interval_s = 3600,
                             .mountinfo_path = "/proc/self/mountinfo",
                             .series_capacity = 3,
                             .watches = watches,
                             .n_watches = ELEMENTSOF(watches) };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sampler_freep) Sampler *s = NULL;

        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(sampler_new(e, &o, NULL, &s), 0); /* the first sample, at once */
        usec_t first = now_usec(CLOCK_REALTIME);
        for (int i = 0; i < 5; i++)
                sampler_collect(s);
        const SeriesStore *st = sampler_series(s);
        const Series *total = NULL;
        for (size_t i = 0; i < st->n; i++) {
                ASSERT_INT(st->series[i]->capacity, 3);
                if (strcmp(st->series[i]->name, "mem_total") == 0)
                        total = st->series[i];
        }
        ASSERT_TRUE(total != NULL);
        ASSERT_INT(total->count, 3);           /* 6 samples taken, the ring keeps 3 … */
        ASSERT_TRUE(total->first_at <= first); /* … the watch remembers the first */
        usec_t now = now_usec(CLOCK_REALTIME), interval = 3600 * USEC_PER_SEC;
        ASSERT_TRUE(series_holds(st, "mem_total", true, 0, 0, interval, now));
        ASSERT_TRUE(series_holds(st, "mem_total", true, 0, now - total->first_at, interval, now));
        ASSERT_FALSE(series_holds(st, "mem_total", true, 0, USEC_PER_HOUR, interval, now)); /* for_s 3600 */
        ASSERT_FALSE(series_holds(st, "mem_total", false, 0, 0, interval, now));
        ASSERT_TRUE(series_cleared(st, "mem_total", false, 0));
        ASSERT_FALSE(series_cleared(st, "mem_total", true, 0));
        ASSERT_FALSE(series_holds(st, "mem_free", true, 0, 0, interval, now)); /* not watched */
        /* an hour and two intervals later without a sample: stale, nothing holds */
        ASSERT_FALSE(series_holds(st, "mem_total", true, 0, 0, interval, now + 2 * interval + USEC_PER_SEC));
}

TAP_MAIN(T(test_usage_arrives_through_the_loop), T(test_remote_types), T(test_watches_and_capacity))
