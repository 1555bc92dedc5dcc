/* memory.h — memory, swap, pressure and CPU, with the CloudWatch agent's names and formulas. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* /proc/meminfo values, in KiB. */
typedef struct MemRaw {
        uint64_t total, free, available, buffers, cached, sreclaimable, swap_total, swap_free;
} MemRaw;

/* SPEC §7, as the CloudWatch agent computes them through its pinned gopsutil. Bytes. */
typedef struct MemMetrics {
        double total, available, used, cached, buffered, free;
        double used_percent, available_percent;
        double swap_used, swap_free, swap_used_percent;
} MemMetrics;

/* Pure: RAW to the CloudWatch agent's metrics (aws/amazon-cloudwatch-agent
 * plugins/inputs/mem via gopsutil mem_linux.go):
 *   mem_used = MemTotal − MemFree − Buffers − (Cached + SReclaimable)
 *   mem_used_percent = 100 × mem_used / MemTotal; mem_available_percent = 100 × MemAvailable / MemTotal
 *   mem_cached = Cached + SReclaimable; swap_used = SwapTotal − SwapFree.
 * Returns -EINVAL when MemTotal is 0. */
int memory_compute(const MemRaw *raw, MemMetrics *ret);

/* Parses /proc/meminfo ("MemTotal:        7919304 kB\n…", fs/proc/meminfo.c) into RET. MemTotal
 * (not 0) and MemFree are required; without MemAvailable (before Linux 3.14) it is MemFree.
 * Returns 0 or -EBADMSG. Pure. */
int memory_parse_meminfo(const char *text, size_t len, MemRaw *ret);

/* Reads /proc/meminfo (memory_parse_meminfo). */
int memory_read(MemRaw *ret);

/* Parses /proc/pressure/memory ("some avg10=0.00 avg60=… total=…\nfull …") for some avg10. */
int psi_parse_some_avg10(const char *text, size_t len, double *ret);

/* The CPU counters of /proc/stat's "cpu" line, in ticks. */
typedef struct CpuTicks {
        uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
} CpuTicks;

/* Parses the first line of /proc/stat ("cpu  user nice system idle iowait irq softirq steal …").
 * The first four are required, the others are 0 when absent. Returns 0 or -EBADMSG. Pure. */
int cpu_parse_stat(const char *text, size_t len, CpuTicks *ret);

/* Reads /proc/stat (cpu_parse_stat). */
int cpu_read(CpuTicks *ret);

/* Pure: cpu_usage_active between two readings, as the CloudWatch agent's cpu plugin (telegraf's):
 * 100 × (Δtotal − Δidle − Δiowait) / Δtotal. Returns -EAGAIN when no time passed. */
int cpu_usage_active(const CpuTicks *before, const CpuTicks *after, double *ret);
