/* test-series.c — sample windows: for_s means a window of at least for_s seconds of samples. */
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

TAP_MAIN(T(test_for_s_needs_that_many_seconds_of_samples), T(test_a_miss_starts_the_window_again),
         T(test_other_conditions_do_not_hold), T(test_cleared_needs_a_sample_that_misses))
