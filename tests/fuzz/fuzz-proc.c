/* fuzz-proc.c — the /proc parsers on any bytes; FUZZ_PROC picks one: /proc/meminfo, /proc/stat,
 * /proc/pressure/memory or /proc/sys/kernel/tainted (meson builds one target each). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/kernel.h"
#include "ec2agent/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *t = (const char *) data;

#if FUZZ_PROC == 0
        MemRaw raw;
        MemMetrics m;
        if (memory_parse_meminfo(t, size, &raw) == 0 && (raw.total == 0 || memory_compute(&raw, &m) < 0))
                abort();
#elif FUZZ_PROC == 1
        CpuTicks a, b = {};
        double v;
        if (cpu_parse_stat(t, size, &a) == 0 && cpu_usage_active(&b, &a, &v) == 0 && !(v >= 0 && v <= 100))
                abort();
#elif FUZZ_PROC == 2
        double v;
        if (psi_parse_some_avg10(t, size, &v) == 0 && !(v >= 0 && v <= 101))
                abort();
#else
        uint64_t taint;
        char letters[32];
        if (kernel_parse_taint(t, size, &taint) == 0)
                kernel_taint_letters(taint, letters);
#endif
        return 0;
}
