/* ena.h — ENA interfaces and their allowance counters: ethtool statistics read by name. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ENA driver's ENI statistics (amzn-drivers kernel/linux/ena ena_ethtool.c, 2.2.10+;
 * conntrack_allowance_available 2.8.1+ and not on every instance), packets queued or dropped
 * because an allowance of the instance was exceeded, cumulative since the driver's last reset. */
typedef enum EnaStat {
        ENA_BW_IN,
        ENA_BW_OUT,
        ENA_PPS,
        ENA_CONNTRACK,
        ENA_LINKLOCAL,
        ENA_CONNTRACK_AVAILABLE, /* a gauge: connections that can still be tracked */
        _ENA_STAT_MAX,
} EnaStat;

#define ENA_EXCEEDED_MAX ENA_CONNTRACK_AVAILABLE /* the counters before it are the "exceeded" ones */

extern const char *const ena_stat_names[_ENA_STAT_MAX];

#define ENA_STRING_LEN 32 /* ETH_GSTRING_LEN */

/* Finds each of the N_NAMES NAMES in TABLE, N_STRINGS entries of ENA_STRING_LEN bytes each (as
 * ETHTOOL_GSTRINGS returns them: NUL-padded, not always NUL-terminated). RET_INDEX[i] is the entry
 * of NAMES[i], or -1 when the table has none. Returns how many were found. Pure. */
size_t ena_strings_index(const char *table, size_t n_strings, const char *const *names, size_t n_names,
                         int *ret_index);

typedef struct EnaStats {
        bool have[_ENA_STAT_MAX];
        uint64_t value[_ENA_STAT_MAX];
} EnaStats;

/* Picks the ENA statistics from VALUES (N_VALUES of them, ETHTOOL_GSTATS order) by INDEX (from
 * ena_strings_index over ena_stat_names). Pure. */
void ena_stats_pick(const int index[_ENA_STAT_MAX], const uint64_t *values, size_t n_values, EnaStats *ret);

#define ENA_IFNAME_MAX 16 /* IFNAMSIZ */

/* How SIOCETHTOOL reaches an interface: the real ioctl on one AF_INET datagram socket
 * (ethtool_sys_ops), or a test's fake (nitro-fake.c). IOCTL runs the ethtool command DATA (a
 * struct ethtool_* whose first member is the command) on IFNAME: 0 or a negative errno. */
typedef struct EthtoolOps {
        int (*ioctl)(void *userdata, const char *ifname, void *data);
        void *userdata;
} EthtoolOps;

/* The real one; USERDATA points to the int descriptor of an AF_INET SOCK_DGRAM socket. */
int ethtool_sys_ioctl(void *userdata, const char *ifname, void *data);

/* The driver of IFNAME ("ena") into RET (RET_SIZE bytes): ETHTOOL_GDRVINFO. 0 or a negative errno. */
int ethtool_driver(const EthtoolOps *ops, const char *ifname, char *ret, size_t ret_size);

/* The number of statistics of IFNAME: ETHTOOL_GSSET_INFO for ETH_SS_STATS. 0.. or a negative errno. */
int ethtool_stats_count(const EthtoolOps *ops, const char *ifname, size_t *ret);

/* Their names: ETHTOOL_GSTRINGS for ETH_SS_STATS, N entries of ENA_STRING_LEN bytes into *RET
 * (the caller frees). 0 or a negative errno (-ESTALE: the driver changed its count meanwhile). */
int ethtool_stats_strings(const EthtoolOps *ops, const char *ifname, size_t n, char **ret);

/* Their values: ETHTOOL_GSTATS into RET (room for N). 0, -ESTALE when the driver now has another
 * count than N (read the names again), or a negative errno. */
int ethtool_stats_values(const EthtoolOps *ops, const char *ifname, size_t n, uint64_t *ret);

/* Most statistics an interface may have for us (a 32-queue ENA has about 600). */
#define ETHTOOL_STATS_MAX 16384
