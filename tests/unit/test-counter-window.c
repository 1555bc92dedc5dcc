/* test-counter-window.c — increases over a step and over 5 minutes, driver resets, the episode rule. */
#include "ec2agent/counter-window.h"
#include "tap.h"

#define S    USEC_PER_SEC
#define MIN5 (5 * USEC_PER_MINUTE)
#define T0   (1000 * S)

static void add1(CounterWindow *w, usec_t at, uint64_t v, uint64_t *step) {
        uint64_t vals[COUNTER_WINDOW_MAX] = { v, 2 * v };
        (void) counter_window_add(w, at, vals, step);
}

static void test_first_reading_is_the_baseline(void) {
        CounterWindow w;
        uint64_t step[COUNTER_WINDOW_MAX], inc[COUNTER_WINDOW_MAX];

        ASSERT_INT(counter_window_init(&w, 2, MIN5, 10 * S), 0);
        counter_window_increase(&w, T0, MIN5, inc);
        ASSERT_INT(inc[0], 0);    /* nothing read yet */
        add1(&w, T0, 5000, step); /* counted since attach: not an increase we saw */
        ASSERT_INT(step[0], 0);
        ASSERT_INT(step[1], 0);
        add1(&w, T0 + 10 * S, 5100, step);
        ASSERT_INT(step[0], 100);
        ASSERT_INT(step[1], 200);
        counter_window_increase(&w, T0 + 10 * S, MIN5, inc);
        ASSERT_INT(inc[0], 100);
        ASSERT_INT(inc[1], 200);
        counter_window_done(&w);
}

/* The 5-minute window: what happened more than 5 minutes ago falls out of it. */
static void test_five_minute_window(void) {
        CounterWindow w;
        uint64_t inc[COUNTER_WINDOW_MAX];

        ASSERT_INT(counter_window_init(&w, 1, MIN5, 10 * S), 0);
        add1(&w, T0, 0, NULL);
        add1(&w, T0 + 10 * S, 41, NULL); /* 41 at 10 s, then quiet */
        for (int k = 2; k <= 30; k++)
                add1(&w, T0 + (usec_t) k * 10 * S, 41, NULL);
        counter_window_increase(&w, T0 + 300 * S, MIN5, inc);
        ASSERT_INT(inc[0], 41); /* at 300 s the excess at 10 s is 290 s old: inside */
        add1(&w, T0 + 310 * S, 41, NULL);
        counter_window_increase(&w, T0 + 310 * S, MIN5, inc);
        ASSERT_INT(inc[0], 0); /* at 310 s it is 300 s old: out */
        for (int k = 32; k <= 40; k++)
                add1(&w, T0 + (usec_t) k * 10 * S, 41, NULL);
        counter_window_increase(&w, T0 + 400 * S, MIN5, inc);
        ASSERT_INT(inc[0], 0);
        /* the ring wrapped many times over (capacity 32 at 10 s): still right */
        for (int k = 41; k <= 200; k++)
                add1(&w, T0 + (usec_t) k * 10 * S, 41 + (uint64_t) (k - 40), NULL);
        counter_window_increase(&w, T0 + 2000 * S, MIN5, inc);
        ASSERT_INT(inc[0], 30); /* one a step, over the 30 steps of the last 300 s */
        counter_window_done(&w);
}

/* A counter that goes down is a driver reset: new baseline, never a negative (huge) increase. */
static void test_reset_is_a_new_baseline(void) {
        CounterWindow w;
        uint64_t step[COUNTER_WINDOW_MAX], inc[COUNTER_WINDOW_MAX];
        uint64_t v[COUNTER_WINDOW_MAX] = { 1000, 50 };

        ASSERT_INT(counter_window_init(&w, 2, MIN5, 10 * S), 0);
        ASSERT_FALSE(counter_window_add(&w, T0, v, step));
        v[0] = 1200;
        v[1] = 60;
        ASSERT_FALSE(counter_window_add(&w, T0 + 10 * S, v, step));
        v[0] = 7; /* the driver reset */
        v[1] = 65;
        ASSERT_TRUE(counter_window_add(&w, T0 + 20 * S, v, step));
        ASSERT_INT(step[0], 0);
        ASSERT_INT(step[1], 5); /* the other counter goes on */
        v[0] = 17;
        ASSERT_FALSE(counter_window_add(&w, T0 + 30 * S, v, step));
        ASSERT_INT(step[0], 10); /* from the new baseline */
        counter_window_increase(&w, T0 + 30 * S, MIN5, inc);
        ASSERT_INT(inc[0], 210);
        ASSERT_INT(inc[1], 15);
        ASSERT_INT(w.resets, 1);
        counter_window_done(&w);
}

/* SPEC §6: one event per episode, the first excess after 5 minutes without one. */
static void test_episode_rule(void) {
        Episode e = {};

        ASSERT_FALSE(episode_note(&e, T0, false, MIN5));
        ASSERT_TRUE(episode_note(&e, T0 + 10 * S, true, MIN5));  /* the first excess */
        ASSERT_FALSE(episode_note(&e, T0 + 20 * S, true, MIN5)); /* the same episode */
        ASSERT_FALSE(episode_note(&e, T0 + 30 * S, false, MIN5));
        ASSERT_FALSE(episode_note(&e, T0 + 310 * S, true, MIN5)); /* 290 s after the last one */
        ASSERT_FALSE(episode_note(&e, T0 + 600 * S, false, MIN5));
        ASSERT_TRUE(episode_note(&e, T0 + 610 * S, true, MIN5)); /* 300 s quiet: a new episode */
        /* an excess every 4 minutes for an hour is one episode */
        for (int k = 1; k <= 15; k++)
                ASSERT_FALSE(episode_note(&e, T0 + 610 * S + (usec_t) k * 240 * S, true, MIN5));
}

TAP_MAIN(T(test_first_reading_is_the_baseline), T(test_five_minute_window), T(test_reset_is_a_new_baseline),
         T(test_episode_rule))
