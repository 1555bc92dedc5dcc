/* memory.c — memory, swap, pressure and CPU, with the CloudWatch agent's names and formulas. */
#include <errno.h>
#include <libproc2/meminfo.h>
#include <libproc2/stat.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/memory.h"

int memory_compute(const MemRaw *raw, MemMetrics *ret) {
        const double k = 1024.0;
        MemMetrics m;

        if (raw->total == 0)
                return -EINVAL;
        double cached = (double) (raw->cached + raw->sreclaimable);
        double used = (double) raw->total - (double) raw->free - (double) raw->buffers - cached;
        m = (MemMetrics){
                .total = (double) raw->total * k,
                .available = (double) raw->available * k,
                .used = used * k,
                .cached = cached * k,
                .buffered = (double) raw->buffers * k,
                .free = (double) raw->free * k,
                .used_percent = 100.0 * used / (double) raw->total,
                .available_percent = 100.0 * (double) raw->available / (double) raw->total,
                .swap_used = (double) (raw->swap_total - MIN(raw->swap_free, raw->swap_total)) * k,
                .swap_free = (double) raw->swap_free * k,
        };
        m.swap_used_percent = raw->swap_total ? 100.0 * m.swap_used / ((double) raw->swap_total * k) : 0.0;
        *ret = m;
        return 0;
}

int memory_read(MemRaw *ret) {
        struct meminfo_info *info = NULL;
        int r = procps_meminfo_new(&info);
        if (r < 0)
                return r;
        *ret = (MemRaw){
                .total = MEMINFO_GET(info, MEMINFO_MEM_TOTAL, ul_int),
                .free = MEMINFO_GET(info, MEMINFO_MEM_FREE, ul_int),
                .available = MEMINFO_GET(info, MEMINFO_MEM_AVAILABLE, ul_int),
                .buffers = MEMINFO_GET(info, MEMINFO_MEM_BUFFERS, ul_int),
                .cached = MEMINFO_GET(info, MEMINFO_MEM_CACHED, ul_int),
                .sreclaimable = MEMINFO_GET(info, MEMINFO_MEM_SLAB_RECLAIM, ul_int),
                .swap_total = MEMINFO_GET(info, MEMINFO_SWAP_TOTAL, ul_int),
                .swap_free = MEMINFO_GET(info, MEMINFO_SWAP_FREE, ul_int),
        };
        procps_meminfo_unref(&info);
        return ret->total > 0 ? 0 : -ENODATA;
}

int psi_parse_some_avg10(const char *text, size_t len, double *ret) {
        const char *end = text + len, *p;

        /* "some avg10=1.53 avg60=0.87 avg300=0.29 total=124581\n" (Documentation/accounting/psi.rst) */
        if (len < 11 || memcmp(text, "some avg10=", 11) != 0)
                return -EBADMSG;
        p = text + 11;
        uint64_t whole = 0, frac = 0, scale = 1;
        size_t n = 0;
        while (p + n < end && p[n] >= '0' && p[n] <= '9')
                n++;
        if (parse_u64_n(p, n, 100, &whole) < 0)
                return -EBADMSG;
        p += n;
        if (p < end && *p == '.') {
                p++;
                for (n = 0; p + n < end && p[n] >= '0' && p[n] <= '9' && n < 6; n++) {
                        frac = frac * 10 + (uint64_t) (p[n] - '0');
                        scale *= 10;
                }
        }
        *ret = (double) whole + (double) frac / (double) scale;
        return 0;
}

int cpu_read(CpuTicks *ret) {
        struct stat_info *info = NULL;
        int r = procps_stat_new(&info);
        if (r < 0)
                return r;
        *ret = (CpuTicks){
                .user = STAT_GET(info, STAT_TIC_USER, ull_int),
                .nice = STAT_GET(info, STAT_TIC_NICE, ull_int),
                .system = STAT_GET(info, STAT_TIC_SYSTEM, ull_int),
                .idle = STAT_GET(info, STAT_TIC_IDLE, ull_int),
                .iowait = STAT_GET(info, STAT_TIC_IOWAIT, ull_int),
                .irq = STAT_GET(info, STAT_TIC_IRQ, ull_int),
                .softirq = STAT_GET(info, STAT_TIC_SOFTIRQ, ull_int),
                .steal = STAT_GET(info, STAT_TIC_STOLEN, ull_int),
        };
        procps_stat_unref(&info);
        return 0;
}

static uint64_t cpu_total(const CpuTicks *t) {
        /* guest and guest_nice are already inside user and nice */
        return t->user + t->nice + t->system + t->idle + t->iowait + t->irq + t->softirq + t->steal;
}

int cpu_usage_active(const CpuTicks *before, const CpuTicks *after, double *ret) {
        uint64_t t0 = cpu_total(before), t1 = cpu_total(after);
        if (t1 <= t0)
                return -EAGAIN;
        double total = (double) (t1 - t0);
        double idle = (double) (after->idle - MIN(before->idle, after->idle)) +
                      (double) (after->iowait - MIN(before->iowait, after->iowait));
        double active = 100.0 * (total - idle) / total;
        *ret = active < 0 ? 0 : active > 100 ? 100 : active;
        return 0;
}
