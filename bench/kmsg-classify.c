/* kmsg-classify.c — classifier throughput: parse + classify a mixed corpus, one core.
 * Usage: kmsg-classify CORPUS [MILLION_RECORDS]. Prints records per second of wall time, and per
 * second of this process's CPU time (steadier on a machine shared with other work). */
#include <stdio.h>
#include <string.h>

#include "ec2agent/kmsg.h"

int main(int argc, char **argv) {
        char *lines[256], *line = NULL;
        size_t n = 0, cap = 0, matched = 0;
        double millions = argc > 2 ? strtod(argv[2], NULL) : 2.0;
        FILE *f;

        if (argc < 2 || !(f = fopen(argv[1], "re"))) {
                fprintf(stderr, "usage: kmsg-classify CORPUS [MILLION_RECORDS]\n");
                return 64;
        }
        while (getline(&line, &cap, f) > 0 && n < ELEMENTSOF(lines)) {
                char *rec = strstr(line, " | ");
                rec = rec ? strstr(rec + 3, " | ") : NULL;
                if (line[0] == '#' || !rec)
                        continue;
                rec += 3;
                rec[strcspn(rec, "\n")] = 0;
                lines[n++] = strdup(rec);
        }
        fclose(f);
        free(line);

        size_t total = (size_t) (millions * 1e6);
        char buf[KMSG_MAX_RECORD + 1];
        usec_t t0 = now_usec(CLOCK_MONOTONIC), c0 = now_usec(CLOCK_PROCESS_CPUTIME_ID);
        for (size_t i = 0; i < total; i++) {
                const char *src = lines[i % n];
                size_t len = strlen(src);
                KmsgRecord r;
                KmsgMatch m;
                memcpy(buf, src, len + 1); /* the parser works in place, as on a read buffer */
                if (kmsg_parse_record(buf, len, &r) == 0 && kmsg_classify(&r, &m) != KMSG_NONE)
                        matched++;
        }
        double secs = (double) (now_usec(CLOCK_MONOTONIC) - t0) / 1e6;
        double cpu = (double) (now_usec(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e6;
        printf("%.0f records/s (%zu records, %zu classified, %zu distinct lines, %.2f s); %.0f records/s of "
               "CPU "
               "time (%.2f s)\n",
               (double) total / secs, total, matched, n, secs, (double) total / cpu, cpu);
        return 0;
}
