/* nitro-fake.h — the test seam of nitro.c: NVMe admin commands and ethtool ioctls answered from files,
 * for unit and integration tests and benchmarks (there is no EBS or ENA device off EC2). The daemon
 * uses it only when EC2AGENT_TEST_NITRO names a directory (manager.c); never in production.
 *
 * DIR/sys/              the sysfs root (class/nvme/nvmeN/{model,serial,nvmeNn1/}, class/net/IF/ifindex)
 * DIR/nvme/nvmeN        the bytes page 0xD0 of controller nvmeN returns (missing: the device refuses)
 * DIR/ethtool/IF        "driver ena" then one "NAME VALUE" line per statistic (missing: no ethtool) */
#pragma once

#include <stdint.h>

#include "ebs.h"
#include "macro.h"
#include "ena.h"

typedef struct NitroFake {
        char *dir;
        EbsOps ebs;
        EthtoolOps ethtool;
        uint64_t admin_calls, ethtool_calls; /* what a collection cost */
} NitroFake;

/* A fake answering from DIR. Returns 0 or -ENOMEM. */
int nitro_fake_new(const char *dir, NitroFake **ret);
NitroFake *nitro_fake_free(NitroFake *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(NitroFake *, nitro_fake_free);
