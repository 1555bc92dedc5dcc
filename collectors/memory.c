/* memory.c — memory, swap, pressure and CPU, with the CloudWatch agent's names and formulas. */
#include <errno.h>
#include <stddef.h>
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

/* Advances *P past spaces and reads one decimal number of at most 20 digits before END. */
static int take_u64(const char **p, const char *end, uint64_t *ret) {
        const char *c = *p;
        size_t n = 0;

        while (c < end && *c == ' ')
                c++;
        while (c + n < end && c[n] >= '0' && c[n] <= '9' && n < 21)
                n++;
        if (n == 0 || parse_u64_n(c, n, UINT64_MAX, ret) < 0)
                return -EBADMSG;
        *p = c + n;
        return 0;
}

int memory_parse_meminfo(const char *text, size_t len, MemRaw *ret) {
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
                { "MemTotal:", offsetof(MemRaw, total) },
                { "MemFree:", offsetof(MemRaw, free) },
                { "MemAvailable:", offsetof(MemRaw, available) },
                { "Buffers:", offsetof(MemRaw, buffers) },
                { "Cached:", offsetof(MemRaw, cached) },
                { "SReclaimable:", offsetof(MemRaw, sreclaimable) },
                { "SwapTotal:", offsetof(MemRaw, swap_total) },
                { "SwapFree:", offsetof(MemRaw, swap_free) },
        };
        const char *end = text + len;
        unsigned seen = 0;
        MemRaw raw = {};

        /* "MemTotal:        7919304 kB\n" (fs/proc/meminfo.c): a key, spaces, a number of KiB */
        for (const char *l = text; l < end;) {
                const char *nl = memchr(l, '\n', (size_t) (end - l)), *le = nl ?: end;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        size_t k = strlen(keys[i].key);
                        uint64_t v;
                        const char *p = l + k;
                        if ((size_t) (le - l) <= k || memcmp(l, keys[i].key, k) != 0 ||
                            take_u64(&p, le, &v) < 0)
                                continue;
                        /* KiB: anything above 2^54 would overflow bytes later */
                        *(uint64_t *) ((char *) &raw + keys[i].offset) = MIN(v, UINT64_C(1) << 54);
                        seen |= 1U << i;
                        break;
                }
                l = nl ? nl + 1 : end;
        }
        if ((seen & 3U) != 3U || raw.total == 0) /* MemTotal and MemFree */
                return -EBADMSG;
        if (!(seen & 4U)) /* no MemAvailable before Linux 3.14: what is free for sure */
                raw.available = raw.free;
        *ret = raw;
        return 0;
}

int memory_read(MemRaw *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_file_bounded("/proc/meminfo", 64 * 1024, &text, &len);
        if (r < 0)
                return r;
        return memory_parse_meminfo(text, len, ret);
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

int cpu_parse_stat(const char *text, size_t len, CpuTicks *ret) {
        const char *end = text + len, *p = text;
        uint64_t v[8] = {};

        /* "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n" (fs/proc/stat.c:
         * user nice system idle iowait irq softirq steal guest guest_nice; since 2.6.33 all ten) */
        if (len < 5 || memcmp(text, "cpu ", 4) != 0)
                return -EBADMSG;
        p += 4;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (take_u64(&p, nl ?: end, &v[i]) < 0) {
                        if (i < 4) /* user nice system idle: every kernel has them */
                                return -EBADMSG;
                        break;
                }
        }
        *ret = (CpuTicks){ .user = v[0],
                           .nice = v[1],
                           .system = v[2],
                           .idle = v[3],
                           .iowait = v[4],
                           .irq = v[5],
                           .softirq = v[6],
                           .steal = v[7] };
        return 0;
}

int cpu_read(CpuTicks *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        /* the "cpu" line comes first; a machine with 192 CPUs writes ~20 KiB in all */
        int r = read_file_bounded("/proc/stat", 1024 * 1024, &text, &len);
        if (r < 0)
                return r;
        return cpu_parse_stat(text, len, ret);
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
