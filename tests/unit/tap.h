/* tap.h — a minimal TAP producer for the unit tests: one "ok N - name" line per test case. */
#pragma once

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TapCase {
        const char *name;
        void (*fn)(void);
} TapCase;

extern jmp_buf tap_jmp;

#define TAP_FAIL(...)                                    \
        do {                                             \
                printf("# %s:%d: ", __FILE__, __LINE__); \
                printf(__VA_ARGS__);                     \
                printf("\n");                            \
                longjmp(tap_jmp, 1);                     \
        } while (0)

#define ASSERT_TRUE(x)                                     \
        do {                                               \
                if (!(x))                                  \
                        TAP_FAIL("expected true: %s", #x); \
        } while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))
#define ASSERT_INT(a, b)                                                             \
        do {                                                                         \
                long long _a = (long long) (a), _b = (long long) (b);                \
                if (_a != _b)                                                        \
                        TAP_FAIL("%s == %lld, expected %s == %lld", #a, _a, #b, _b); \
        } while (0)
#define ASSERT_STR(a, b)                                                                  \
        do {                                                                              \
                const char *_a = (a), *_b = (b);                                          \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                    \
                        TAP_FAIL("%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)", \
                                 _b ? _b : "(null)");                                     \
        } while (0)
#define ASSERT_NEAR(a, b, eps)                                             \
        do {                                                               \
                double _a = (a), _b = (b);                                 \
                if (fabs(_a - _b) > (eps))                                 \
                        TAP_FAIL("%s == %.9g, expected %.9g", #a, _a, _b); \
        } while (0)

/* Reads the fixture DIR/NAME into a NUL-terminated buffer the caller frees; aborts when it
 * cannot, as a missing fixture is a broken test. FIXTURE() passes the tests' fixture directory. */
char *tap_fixture(const char *dir, const char *name, size_t *ret_len);
#define FIXTURE(name, ret_len) tap_fixture(FIXTURES, name, ret_len)

/* Runs CASES, prints TAP, returns the exit code (0 when all passed). */
int tap_main(const TapCase *cases, size_t n);

#define TAP_MAIN(...)                                                                  \
        int main(void) {                                                               \
                static const TapCase tap_cases_[] = { __VA_ARGS__ };                   \
                return tap_main(tap_cases_, sizeof tap_cases_ / sizeof tap_cases_[0]); \
        }
#define T(fn) \
        { #fn, fn }
