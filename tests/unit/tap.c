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

char *tap_fixture(const char *dir, const char *name, size_t *ret_len) {
        char path[1024];
        char *data = NULL;
        FILE *f;
        long n = -1;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "re");
        if (f && fseek(f, 0, SEEK_END) == 0)
                n = ftell(f);
        if (n < 0 || fseek(f, 0, SEEK_SET) < 0 || !(data = malloc((size_t) n + 1)) ||
            fread(data, 1, (size_t) n, f) != (size_t) n) {
                fprintf(stderr, "cannot read the fixture %s\n", path);
                abort();
        }
        fclose(f);
        data[n] = 0;
        if (ret_len)
                *ret_len = (size_t) n;
        return data;
}
