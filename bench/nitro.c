/* nitro.c — the cost of one EBS + ENA collection (agent/nitro.c) against fake devices (nitro-fake.h):
 * sysfs listed, each EBS volume's page 0xD0 parsed, each interface's driver known, each ENA
 * interface's statistics read by name, windows and episodes updated.
 * Usage: nitro [VOLUMES [ENA_INTERFACES [CYCLES]]] (default 8 2 20000). Prints µs per cycle and
 * the ioctls a cycle makes. The fake answers from files (a read() where the real agent makes an
 * ioctl), so the figure is an upper bound of the agent's own work, not of the device's. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ec2agent/nitro-fake.h"
#include "ec2agent/nitro.h"

static int put(const char *root, const char *rel, const void *data, size_t len) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(path, 0755);
                        *p = '/';
                }
        if (!data)
                return mkdir(path, 0755);
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        size_t w = fwrite(data, 1, len, f);
        return fclose(f) == 0 && w == len ? 0 : -1;
}

int main(int argc, char **argv) {
        long volumes = argc > 1 ? strtol(argv[1], NULL, 10) : 8;
        long ifaces = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
        long cycles = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
        char root[] = "/tmp/bench-nitro-XXXXXX", rel[128], text[2048], sysfs[64];
        unsigned char page[EBS_LOG_PAGE_SIZE] = { 0x10, 0xB5, 0x23, 0x3C };
        NitroFake *fake;
        Nitro *n;

        if (volumes < 0 || ifaces < 0 || cycles <= 0 || !mkdtemp(root))
                return 1;
        for (long i = 0; i < volumes; i++) {
                snprintf(rel, sizeof rel, "sys/class/nvme/nvme%ld/model", i);
                put(root, rel, "Amazon Elastic Block Store              \n", 41);
                snprintf(rel, sizeof rel, "sys/class/nvme/nvme%ld/serial", i);
                snprintf(text, sizeof text, "vol0%016lx\n", i);
                put(root, rel, text, strlen(text));
                snprintf(rel, sizeof rel, "sys/class/nvme/nvme%ld/nvme%ldn1", i, i);
                put(root, rel, NULL, 0);
                snprintf(rel, sizeof rel, "nvme/nvme%ld", i);
                put(root, rel, page, sizeof page);
        }
        /* ENA interfaces with a realistic table: 8 queues of 13 statistics each, ~120 names */
        for (long i = 0; i < ifaces + 3; i++) {
                bool ena = i < ifaces;
                size_t len = 0;
                snprintf(rel, sizeof rel, "sys/class/net/%s%ld/ifindex", ena ? "ens" : "veth", i);
                snprintf(text, sizeof text, "%ld\n", i + 2);
                put(root, rel, text, strlen(text));
                len += (size_t) snprintf(text + len, sizeof text - len, "driver %s\n", ena ? "ena" : "veth");
                if (ena) {
                        for (int k = 0; k < _ENA_STAT_MAX; k++)
                                len += (size_t) snprintf(text + len, sizeof text - len, "%s %d\n",
                                                         ena_stat_names[k], k);
                        for (int q = 0; q < 8 && len < sizeof text - 200; q++)
                                len += (size_t) snprintf(text + len, sizeof text - len,
                                                         "queue_%d_tx_cnt 1\nqueue_%d_tx_bytes 2\n"
                                                         "queue_%d_rx_cnt 3\nqueue_%d_rx_bytes 4\n",
                                                         q, q, q, q);
                }
                snprintf(rel, sizeof rel, "ethtool/%s%ld", ena ? "ens" : "veth", i);
                put(root, rel, text, len);
        }
        if (nitro_fake_new(root, &fake) < 0)
                return 1;
        snprintf(sysfs, sizeof sysfs, "%s/sys", root);
        NitroOptions o = { .interval_s = 10,
                           .sysfs = sysfs,
                           .ebs_ops = &fake->ebs,
                           .ethtool_ops = &fake->ethtool,
                           .no_timer = true };
        if (nitro_new(NULL, &o, NULL, &n) < 0)
                return 1;
        printf("first collection: %llu admin commands, %llu ethtool ioctls\n",
               (unsigned long long) fake->admin_calls, (unsigned long long) fake->ethtool_calls);
        fake->admin_calls = fake->ethtool_calls = 0;
        usec_t mono = now_usec(CLOCK_MONOTONIC), t0 = mono;
        for (long i = 0; i < cycles; i++) {
                mono += 10 * USEC_PER_SEC; /* the clock of the collections: every one reads */
                nitro_collect(n, mono, 0);
        }
        double us = (double) (now_usec(CLOCK_MONOTONIC) - t0) / (double) cycles;
        printf("%ld EBS volumes + %ld ENA interfaces (+3 others): %.1f us per collection, "
               "%.4f %% of a core at 10 s; per collection %.1f admin commands, %.1f ethtool ioctls "
               "(%ld cycles)\n",
               volumes, ifaces, us, us / 10e6 * 100, (double) fake->admin_calls / (double) cycles,
               (double) fake->ethtool_calls / (double) cycles, cycles);
        nitro_free(n);
        nitro_fake_free(fake);
        snprintf(text, sizeof text, "rm -rf '%s'", root);
        return system(text) == 0 ? 0 : 1;
}
