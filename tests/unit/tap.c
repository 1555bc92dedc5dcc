/* tap.c — the TAP runner of the unit tests. */
#include "tap.h"

jmp_buf tap_jmp;

int tap_main(const TapCase *cases, size_t n) {
        volatile int failed = 0;

        setvbuf(stdout, NULL, _IONBF, 0);
        printf("TAP version 13\n1..%zu\n", n);
        for (size_t i = 0; i < n; i++) {
                if (setjmp(tap_jmp) == 0) {
                        cases[i].fn();
                        printf("ok %zu - %s\n", i + 1, cases[i].name);
                } else {
                        printf("not ok %zu - %s\n", i + 1, cases[i].name);
                        failed++;
                }
        }
        return failed ? 1 : 0;
}
