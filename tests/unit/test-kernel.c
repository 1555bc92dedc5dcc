/* test-kernel.c — taint letters and pstore summaries. */
#include "ec2agent/kernel.h"
#include "tap.h"

static void test_taint(void) {
        char l[32];
        uint64_t t;
        kernel_taint_letters(0, l);
        ASSERT_STR(l, "");
        kernel_taint_letters((1 << 0) | (1 << 12) | (1 << 13), l);
        ASSERT_STR(l, "POE");
        kernel_taint_letters(1 << 9, l);
        ASSERT_STR(l, "W");
        ASSERT_INT(kernel_read_taint("/proc/sys/kernel/tainted", &t), 0);
}

static void summary_of(const char *name, char *out, size_t max, int *r) {
        size_t len;
        _cleanup_free_ char *text = tap_fixture(FIXTURES "/pstore", name, &len);
        *r = pstore_summarize(text, len, out, max);
}

static void test_pstore_summary(void) {
        char s[256];
        int r;
        summary_of("dmesg-efi-165395423601001", s, sizeof s, &r);
        ASSERT_INT(r, 0);
        ASSERT_STR(s, "Kernel panic - not syncing: sysrq triggered crash");
        summary_of("dmesg-ramoops-0", s, sizeof s, &r);
        ASSERT_INT(r, 0);
        ASSERT_STR(s, "BUG: kernel NULL pointer dereference, address: 0000000000000008");
        ASSERT_INT(pstore_summarize("hello\nworld\n", 12, s, sizeof s), -ENODATA);
        ASSERT_INT(pstore_summarize("Panic#2 Part3\n<6>[ 1.0] nothing else\n", 37, s, sizeof s), 0);
        ASSERT_STR(s, "Panic#2 Part3");
}

TAP_MAIN(T(test_taint), T(test_pstore_summary))
