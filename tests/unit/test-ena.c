/* test-ena.c — ethtool statistics by name: the ENA names through the pure parser from a table built
 * as the ENA driver writes it, and the real SIOCETHTOOL path (GDRVINFO, GSSET_INFO, GSTRINGS,
 * GSTATS) against a veth pair in a network namespace of the test's own. */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ec2agent/ena.h"
#include "ec2agent/macro.h"
#include "tap.h"

/* The ENA driver's ETH_SS_STATS names in its order (amzn-drivers kernel/linux/ena/ena_ethtool.c:
 * ena_stats_global_strings, ena_stats_eni_strings, then per queue), each NUL-padded to 32 bytes. */
static const char *const ena_table[] = {
        "tx_timeout",
        "suspend",
        "resume",
        "wd_expired",
        "interface_up",
        "interface_down",
        "admin_q_pause",
        "bw_in_allowance_exceeded",
        "bw_out_allowance_exceeded",
        "pps_allowance_exceeded",
        "conntrack_allowance_exceeded",
        "linklocal_allowance_exceeded",
        "conntrack_allowance_available",
        "queue_0_tx_cnt",
        "queue_0_tx_bytes",
        "queue_0_rx_cnt",
        "queue_0_rx_bytes",
        "ena_admin_q_aborted_cmd",
};

static char *build(const char *const *names, size_t n) {
        char *t = calloc(n, ENA_STRING_LEN);
        for (size_t i = 0; t && i < n; i++)
                memcpy(t + i * ENA_STRING_LEN, names[i], MIN(strlen(names[i]), (size_t) ENA_STRING_LEN));
        return t;
}

static void test_ena_names_by_index(void) {
        _cleanup_free_ char *t = build(ena_table, ELEMENTSOF(ena_table));
        int idx[_ENA_STAT_MAX];
        uint64_t values[ELEMENTSOF(ena_table)];
        EnaStats s;

        ASSERT_INT(ena_strings_index(t, ELEMENTSOF(ena_table), ena_stat_names, _ENA_STAT_MAX, idx), 6);
        ASSERT_INT(idx[ENA_BW_IN], 7);
        ASSERT_INT(idx[ENA_BW_OUT], 8);
        ASSERT_INT(idx[ENA_PPS], 9);
        ASSERT_INT(idx[ENA_CONNTRACK], 10);
        ASSERT_INT(idx[ENA_LINKLOCAL], 11);
        ASSERT_INT(idx[ENA_CONNTRACK_AVAILABLE], 12);
        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                values[i] = 1000 + i;
        ena_stats_pick(idx, values, ELEMENTSOF(values), &s);
        ASSERT_TRUE(s.have[ENA_PPS] && s.value[ENA_PPS] == 1009);
        ASSERT_TRUE(s.have[ENA_CONNTRACK_AVAILABLE] && s.value[ENA_CONNTRACK_AVAILABLE] == 1012);
        /* fewer values than the table says (a driver that shrank): what is out of range is missing */
        ena_stats_pick(idx, values, 10, &s);
        ASSERT_TRUE(s.have[ENA_PPS]);
        ASSERT_FALSE(s.have[ENA_CONNTRACK]);
}

/* An older driver (before 2.2.10 no allowance counters; before 2.8.1 no conntrack_allowance_available). */
static void test_older_driver(void) {
        static const char *const old[] = { "tx_timeout",
                                           "bw_in_allowance_exceeded",
                                           "bw_out_allowance_exceeded",
                                           "pps_allowance_exceeded",
                                           "conntrack_allowance_exceeded",
                                           "linklocal_allowance_exceeded",
                                           "queue_0_tx_cnt" };
        static const char *const oldest[] = { "tx_timeout", "suspend", "queue_0_tx_cnt" };
        _cleanup_free_ char *t = build(old, ELEMENTSOF(old)), *u = build(oldest, ELEMENTSOF(oldest));
        int idx[_ENA_STAT_MAX];
        uint64_t values[ELEMENTSOF(old)] = { 0 };
        EnaStats s;

        ASSERT_INT(ena_strings_index(t, ELEMENTSOF(old), ena_stat_names, _ENA_STAT_MAX, idx), 5);
        ASSERT_INT(idx[ENA_CONNTRACK_AVAILABLE], -1);
        ena_stats_pick(idx, values, ELEMENTSOF(values), &s);
        ASSERT_FALSE(s.have[ENA_CONNTRACK_AVAILABLE]);
        ASSERT_INT(ena_strings_index(u, ELEMENTSOF(oldest), ena_stat_names, _ENA_STAT_MAX, idx), 0);
        ASSERT_INT(ena_strings_index(NULL, 0, ena_stat_names, _ENA_STAT_MAX, idx), 0);
}

/* Names are matched whole: a longer name that starts alike is another statistic, and an entry of
 * exactly 32 bytes (no NUL) is read no further than its 32 bytes. */
static void test_exact_names(void) {
        static const char *const t1[] = { "pps_allowance_exceeded_queue_0", "pps_allowance_exceed",
                                          "0123456789abcdef0123456789abcdef", "pps_allowance_exceeded" };
        static const char *const want[] = { "pps_allowance_exceeded", "0123456789abcdef0123456789abcdef",
                                            "0123456789abcdef0123456789abcdefX" };
        _cleanup_free_ char *t = build(t1, ELEMENTSOF(t1));
        int idx[3];

        ASSERT_INT(ena_strings_index(t, ELEMENTSOF(t1), want, 3, idx), 2);
        ASSERT_INT(idx[0], 3);
        ASSERT_INT(idx[1], 2);
        ASSERT_INT(idx[2], -1);
}

/* The real ioctls on a veth pair in a namespace of our own: veth has ethtool statistics of its own
 * (drivers/net/veth.c: "peer_ifindex", then per-queue ones), which proves the machinery. */
static void test_real_ethtool_on_veth(void) {
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
                printf("# skipped: needs root and a network namespace\n");
                return;
        }
        if (system("ip link add ec2t0 type veth peer name ec2t1 >/dev/null 2>&1") != 0) {
                printf("# skipped: cannot create a veth pair\n");
                return;
        }
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        EthtoolOps ops = { ethtool_sys_ioctl, &fd };
        char driver[32];
        size_t n;
        _cleanup_free_ char *table = NULL;

        int k = ethtool_driver(&ops, "ec2t0", driver, sizeof driver);
        if (k == -ENOSYS || k == -ENOTTY) {
                /* qemu-user (the arm64 build's tests) does not translate SIOCETHTOOL; a kernel
                 * always answers GDRVINFO for a veth */
                printf("# skipped: SIOCETHTOOL is not implemented here (%s): an emulator\n", strerror(-k));
                if (system("ip link del ec2t0 >/dev/null 2>&1") != 0) {
                }
                return;
        }
        ASSERT_INT(k, 0);
        ASSERT_STR(driver, "veth");
        ASSERT_INT(ethtool_driver(&ops, "lo", driver, sizeof driver), -EOPNOTSUPP); /* no driver info */
        ASSERT_INT(ethtool_driver(&ops, "nonexistent0", driver, sizeof driver), -ENODEV);
        ASSERT_INT(ethtool_stats_count(&ops, "ec2t0", &n), 0);
        ASSERT_TRUE(n >= 1);
        ASSERT_INT(ethtool_stats_strings(&ops, "ec2t0", n, &table), 0);
        static const char *const names[] = { "peer_ifindex", "bw_in_allowance_exceeded" };
        int idx[2];
        ASSERT_INT(ena_strings_index(table, n, names, 2, idx), 1);
        ASSERT_TRUE(idx[0] >= 0);
        ASSERT_INT(idx[1], -1); /* not ENA */
        _cleanup_free_ uint64_t *values = calloc(n, sizeof(uint64_t));
        ASSERT_INT(ethtool_stats_values(&ops, "ec2t0", n, values), 0);
        ASSERT_INT(values[idx[0]], if_nametoindex("ec2t1"));
        /* a count that is not the driver's: -ESTALE, the caller reads the names again */
        ASSERT_INT(ethtool_stats_values(&ops, "ec2t0", n + 1, values), -ESTALE);
        /* best effort: the pair may be gone already */
        if (system("ip link del ec2t0 >/dev/null 2>&1") != 0) {
        }
}

TAP_MAIN(T(test_ena_names_by_index), T(test_older_driver), T(test_exact_names), T(test_real_ethtool_on_veth))
