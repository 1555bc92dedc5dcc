/* test-series.c — sample windows: for_s means a window of at least for_s seconds of samples. */
#include <math.h>

#include "ec2agent/series.h"
#include "tap.h"

#define S  USEC_PER_SEC
#define T0 (1700000000ULL * USEC_PER_SEC)

static const SeriesWatch watch = { .name = "mem_used_percent", .above = true, .threshold = 90 };

static bool holds_at(const SeriesStore *s, usec_t window, usec_t now) {
        return series_holds(s, "mem_used_percent", true, 90, window, 1 * S, now);
}

/* Item 18: with samples every 1 s and for_s 2, the rule fired after 1 s of samples. */
static void test_for_s_needs_that_many_seconds_of_samples(void) {
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 0, &watch, 1), 0);
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0, 95), 0);
        ASSERT_FALSE(holds_at(&s, 2 * S, T0));
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 1 * S, 95), 0);
        ASSERT_FALSE(holds_at(&s, 2 * S, T0 + 1 * S)); /* 1 s of samples */
        ASSERT_FALSE(holds_at(&s, 2 * S, T0 + 1 * S + 900 * USEC_PER_MSEC));
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 2 * S - 20 * USEC_PER_MSEC, 95), 0);
        ASSERT_TRUE(holds_at(&s, 2 * S, T0 + 2 * S)); /* 2 s, less the timer's jitter */
        ASSERT_TRUE(holds_at(&s, 0, T0 + 2 * S));
        series_store_done(&s);
}

static void test_a_miss_starts_the_window_again(void) {
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 4, &watch, 1), 0);
        for (int i = 0; i < 5; i++)
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
        ASSERT_TRUE(holds_at(&s, 3 * S, T0 + 4 * S));
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 5 * S, 50), 0);
        ASSERT_FALSE(holds_at(&s, 3 * S, T0 + 5 * S));
        ASSERT_FALSE(holds_at(&s, 0, T0 + 5 * S));
        for (int i = 6; i < 9; i++) {
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
                ASSERT_FALSE(holds_at(&s, 3 * S, T0 + (usec_t) i * S));
        }
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 9 * S, 95), 0);
        ASSERT_TRUE(holds_at(&s, 3 * S, T0 + 9 * S));
        /* longer than the ring (4 samples): followed sample by sample */
        for (int i = 10; i < 40; i++)
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
        ASSERT_TRUE(holds_at(&s, 33 * S, T0 + 39 * S));
        ASSERT_FALSE(holds_at(&s, 34 * S, T0 + 39 * S));
        /* stale: no sample for more than two intervals */
        ASSERT_FALSE(holds_at(&s, 3 * S, T0 + 42 * S));
        series_store_done(&s);
}

static void test_other_conditions_do_not_hold(void) {
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 0, &watch, 1), 0);
        for (int i = 0; i < 5; i++)
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
        ASSERT_FALSE(series_holds(&s, "mem_used_percent", true, 80, 2 * S, S, T0 + 4 * S)); /* not watched */
        ASSERT_FALSE(series_holds(&s, "swap_used_percent", true, 90, 2 * S, S, T0 + 4 * S));
        series_store_done(&s);
}

/* A metric rule re-arms when its condition clears, not when a restart leaves too few samples. */
static void test_cleared_needs_a_sample_that_misses(void) {
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 0, &watch, 1), 0);
        ASSERT_FALSE(series_cleared(&s, "mem_used_percent", true, 90)); /* no sample yet */
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0, 95), 0);
        ASSERT_FALSE(series_cleared(&s, "mem_used_percent", true, 90)); /* holds, window or not */
        ASSERT_FALSE(holds_at(&s, 2 * S, T0));
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + S, 50), 0);
        ASSERT_TRUE(series_cleared(&s, "mem_used_percent", true, 90));
        /* one of several series (a disk per path) still over it: not cleared */
        ASSERT_INT(series_add(&s, "mem_used_percent", &(SeriesDims){ .path = "other" }, T0 + S, 99), 0);
        ASSERT_FALSE(series_cleared(&s, "mem_used_percent", true, 90));
        series_store_done(&s);
}

/* The publisher's intervals: [FROM, TO), a sample at TO belongs to the next one; what the ring
 * no longer holds is not counted. */
static void test_stats_half_open_intervals(void) {
        SeriesStore s = {};
        Stats st;
        ASSERT_INT(series_store_init(&s, 4, NULL, 0), 0);
        for (int i = 0; i < 6; i++) /* 10, 11, … 15 at T0 + 0 … 50 s; the ring keeps the last 4 */
                ASSERT_INT(series_add(&s, "mem_used", NULL, T0 + (usec_t) i * 10 * S, 10 + i), 0);
        const Series *x = s.series[0];
        ASSERT_INT(series_stats(x, T0 + 20 * S, T0 + 40 * S, &st), 2); /* 12 and 13, not 14 at 40 s */
        ASSERT_NEAR(st.sum, 25, 1e-9);
        ASSERT_NEAR(st.min, 12, 1e-9);
        ASSERT_NEAR(st.max, 13, 1e-9);
        ASSERT_INT(series_stats(x, T0 + 40 * S, T0 + 60 * S, &st), 2); /* 14, 15 */
        ASSERT_INT(series_stats(x, T0, T0 + 20 * S, &st), 0);          /* out of the ring */
        ASSERT_INT(st.count, 0);
        ASSERT_INT(series_stats(x, T0 + 60 * S, T0 + 120 * S, &st), 0); /* nothing yet */
        ASSERT_INT(series_stats(x, T0 + 30 * S, T0 + 30 * S, &st), 0);  /* an empty interval */
        ASSERT_TRUE(series_last(&s, "mem_used", NULL)->value == 15);
        ASSERT_TRUE(series_last(&s, "mem_free", NULL) == NULL);
        series_store_done(&s);
}

/* A "below" watch, and the threshold itself: a rule fires above (or below) it, not at it; a NaN
 * sample meets neither and starts the window again. */
static void test_below_threshold_and_nan(void) {
        static const SeriesWatch below = { .name = "mem_available_percent",
                                           .above = false,
                                           .threshold = 10 };
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 0, &below, 1), 0);
        ASSERT_INT(series_add(&s, "mem_available_percent", NULL, T0, 10), 0); /* at it: not below */
        ASSERT_FALSE(series_holds(&s, "mem_available_percent", false, 10, 0, S, T0));
        ASSERT_TRUE(series_cleared(&s, "mem_available_percent", false, 10));
        for (int i = 1; i <= 3; i++)
                ASSERT_INT(series_add(&s, "mem_available_percent", NULL, T0 + (usec_t) i * S, 5), 0);
        ASSERT_TRUE(series_holds(&s, "mem_available_percent", false, 10, 2 * S, S, T0 + 3 * S));
        ASSERT_FALSE(series_holds(&s, "mem_available_percent", true, 10, 2 * S, S, T0 + 3 * S));
        ASSERT_INT(series_add(&s, "mem_available_percent", NULL, T0 + 4 * S, NAN), 0);
        ASSERT_FALSE(series_holds(&s, "mem_available_percent", false, 10, 0, S, T0 + 4 * S));
        ASSERT_INT(series_add(&s, "mem_available_percent", NULL, T0 + 5 * S, 5), 0);
        ASSERT_TRUE(series_holds(&s, "mem_available_percent", false, 10, 0, S, T0 + 5 * S));
        ASSERT_FALSE(series_holds(&s, "mem_available_percent", false, 10, S, S, T0 + 5 * S));
        series_store_done(&s);
}

/* Fired, cleared, met again: the rule re-arms, and the new streak needs all of for_s again,
 * counted from its own first sample, not from the first streak's. */
static void test_cleared_series_rearms_with_a_whole_window(void) {
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 3, &watch, 1), 0);
        for (int i = 0; i <= 10; i++)
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
        ASSERT_TRUE(holds_at(&s, 10 * S, T0 + 10 * S));
        ASSERT_FALSE(series_cleared(&s, "mem_used_percent", true, 90));
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 11 * S, 80), 0);
        ASSERT_TRUE(series_cleared(&s, "mem_used_percent", true, 90));
        ASSERT_FALSE(holds_at(&s, 0, T0 + 11 * S));
        for (int i = 12; i <= 21; i++) {
                ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + (usec_t) i * S, 95), 0);
                ASSERT_FALSE(series_cleared(&s, "mem_used_percent", true, 90));
                ASSERT_INT(holds_at(&s, 10 * S, T0 + (usec_t) i * S), false); /* 12 … 21: 9 s */
        }
        ASSERT_INT(series_add(&s, "mem_used_percent", NULL, T0 + 22 * S, 95), 0);
        ASSERT_TRUE(holds_at(&s, 10 * S, T0 + 22 * S));
        series_store_done(&s);
}

/* Several series of one name (a disk metric per path): the condition holds when one of them holds
 * it for the whole window; one that is no longer sampled (unmounted at 99 %) holds nothing. */
static void test_one_of_several_series_and_staleness(void) {
        static const SeriesWatch disk = { .name = "disk_used_percent", .above = true, .threshold = 90 };
        const SeriesDims root = { .path = "/" }, data = { .path = "/data" };
        SeriesStore s = {};
        ASSERT_INT(series_store_init(&s, 0, &disk, 1), 0);
        for (int i = 0; i <= 5; i++) {
                ASSERT_INT(series_add(&s, "disk_used_percent", &root, T0 + (usec_t) i * S, i == 3 ? 50 : 95),
                           0);
                ASSERT_INT(series_add(&s, "disk_used_percent", &data, T0 + (usec_t) i * S, 99), 0);
        }
        ASSERT_INT(s.n, 2);
        ASSERT_TRUE(series_holds(&s, "disk_used_percent", true, 90, 5 * S, S, T0 + 5 * S)); /* /data */
        /* /data unmounted: only / is sampled from now on, and its streak began at 4 s */
        for (int i = 6; i <= 8; i++)
                ASSERT_INT(series_add(&s, "disk_used_percent", &root, T0 + (usec_t) i * S, 95), 0);
        ASSERT_FALSE(series_holds(&s, "disk_used_percent", true, 90, 5 * S, S, T0 + 8 * S));
        ASSERT_TRUE(series_holds(&s, "disk_used_percent", true, 90, 4 * S, S, T0 + 8 * S));
        series_store_done(&s);
}

TAP_MAIN(T(test_for_s_needs_that_many_seconds_of_samples), T(test_a_miss_starts_the_window_again),
         T(test_other_conditions_do_not_hold), T(test_cleared_needs_a_sample_that_misses),
         T(test_stats_half_open_intervals), T(test_below_threshold_and_nan),
         T(test_cleared_series_rearms_with_a_whole_window), T(test_one_of_several_series_and_staleness))
