/* collect.c — the cost of one collection cycle: memory, CPU, pressure and every real filesystem.
 * Usage: collect [CYCLES]. Prints µs per cycle and the share of a core at the default 10 s. */
#include <stdio.h>
#include <stdlib.h>

#include "ec2agent/sampler.h"

int main(int argc, char **argv) {
        long cycles = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
        char *fs[] = { (char *) "*", NULL };
        SamplerOptions o = { .interval_s = 10, .filesystems = fs };
        sd_event *e = NULL;
        Sampler *s = NULL;

        if (cycles <= 0 || sd_event_new(&e) < 0 || sampler_new(e, &o, NULL, &s) < 0)
                return 1;
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        for (long i = 0; i < cycles; i++) {
                sampler_collect(s);
                /* statvfs() runs off the loop: a cycle ends when every filesystem has answered */
                while (sampler_calls_pending(s) > 0)
                        if (sd_event_run(e, USEC_PER_SEC) < 0)
                                return 1;
        }
        double us = (double) (now_usec(CLOCK_MONOTONIC) - t0) / (double) cycles;
        printf("%.1f us per cycle, %.4f %% of a core at 10 s (%ld cycles)\n", us, us / 10e6 * 100, cycles);
        sampler_free(s);
        sd_event_unref(e);
        return 0;
}
