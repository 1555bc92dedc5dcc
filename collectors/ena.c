/* ena.c — ethtool over SIOCETHTOOL: an interface's driver (ETHTOOL_GDRVINFO), and its statistics by
 * name (ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GSTATS), as the ethtool tool reads them
 * (ethtool.c do_gdrv, get_stringset, do_gnicstats). One AF_INET datagram socket serves every
 * interface. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ec2agent/ena.h"
#include "ec2agent/macro.h"

/* The kernel answers GSTRINGS and GSTATS with the count the driver has at that moment and copies
 * that many entries, whatever count was asked for (net/ethtool/ioctl.c ethtool_get_stats): a
 * driver that grew its queues since GSSET_INFO would write past a buffer of exactly N. Room for
 * twice N (and 256 more) keeps such a change inside; its answer is then -ESTALE. */
static size_t headroom(size_t n) {
        return MAX(2 * n, n + 256);
}

int ethtool_sys_ioctl(void *userdata, const char *ifname, void *data) {
        int fd = *(const int *) userdata;
        struct ifreq ifr = {};

        if (strlen(ifname) >= sizeof ifr.ifr_name)
                return -EINVAL;
        memcpy(ifr.ifr_name, ifname, strlen(ifname));
        ifr.ifr_data = data;
        return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? negative_errno() : 0;
}

int ethtool_driver(const EthtoolOps *ops, const char *ifname, char *ret, size_t ret_size) {
        struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
        int r = ops->ioctl(ops->userdata, ifname, &info);

        if (r < 0)
                return r;
        snprintf(ret, ret_size, "%.*s", (int) strnlen(info.driver, sizeof info.driver), info.driver);
        return 0;
}

int ethtool_stats_count(const EthtoolOps *ops, const char *ifname, size_t *ret) {
        /* struct ethtool_sset_info and the one u32 its data[] holds for the one set asked */
        uint64_t buf[(sizeof(struct ethtool_sset_info) + sizeof(uint32_t) + 7) / 8] = {};
        struct ethtool_sset_info *info = (struct ethtool_sset_info *) buf;

        info->cmd = ETHTOOL_GSSET_INFO;
        info->sset_mask = 1ULL << ETH_SS_STATS;
        int r = ops->ioctl(ops->userdata, ifname, info);
        if (r < 0)
                return r;
        /* the kernel clears the bits of the sets the driver does not have */
        *ret = info->sset_mask & (1ULL << ETH_SS_STATS) ? info->data[0] : 0;
        return 0;
}

int ethtool_stats_strings(const EthtoolOps *ops, const char *ifname, size_t n, char **ret) {
        if (n == 0 || n > ETHTOOL_STATS_MAX)
                return -E2BIG;
        _cleanup_free_ struct ethtool_gstrings *g = calloc(1, sizeof *g + headroom(n) * ETH_GSTRING_LEN);
        if (!g)
                return -ENOMEM;
        g->cmd = ETHTOOL_GSTRINGS;
        g->string_set = ETH_SS_STATS;
        g->len = (uint32_t) n;
        int r = ops->ioctl(ops->userdata, ifname, g);
        if (r < 0)
                return r;
        if (g->len != n)
                return -ESTALE;
        char *table = malloc(n * ETH_GSTRING_LEN);
        if (!table)
                return -ENOMEM;
        memcpy(table, g->data, n * ETH_GSTRING_LEN);
        *ret = table;
        return 0;
}

int ethtool_stats_values(const EthtoolOps *ops, const char *ifname, size_t n, uint64_t *ret) {
        if (n == 0 || n > ETHTOOL_STATS_MAX)
                return -E2BIG;
        _cleanup_free_ struct ethtool_stats *st = calloc(1, sizeof *st + headroom(n) * sizeof(uint64_t));
        if (!st)
                return -ENOMEM;
        st->cmd = ETHTOOL_GSTATS;
        st->n_stats = (uint32_t) n;
        int r = ops->ioctl(ops->userdata, ifname, st);
        if (r < 0)
                return r;
        if (st->n_stats != n)
                return -ESTALE;
        memcpy(ret, st->data, n * sizeof(uint64_t));
        return 0;
}
