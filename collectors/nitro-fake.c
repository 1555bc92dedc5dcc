/* nitro-fake.c — NVMe admin commands and ethtool ioctls answered from files (nitro-fake.h): the test
 * seam of the EBS and ENA collectors, for tests and benchmarks only. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/nitro-fake.h"
#include "ec2agent/util.h"

#define FAKE_FILE_MAX (1024 * 1024)

static int fake_read(const NitroFake *f, const char *sub, const char *name, char **ret, size_t *ret_len) {
        char rel[128];
        snprintf(rel, sizeof rel, "%s/%s", sub, name);
        _cleanup_free_ char *path = path_join(f->dir, rel);
        if (!path)
                return -ENOMEM;
        return read_file_bounded(path, FAKE_FILE_MAX, ret, ret_len);
}

static int fake_admin(void *userdata, const char *controller, struct nvme_admin_cmd *cmd) {
        NitroFake *f = userdata;
        _cleanup_free_ char *page = NULL;
        size_t len;

        f->admin_calls++;
        if (cmd->opcode != 0x02 || (cmd->cdw10 & 0xff) != EBS_LOG_PAGE_ID)
                return -EINVAL;
        if (fake_read(f, "nvme", controller, &page, &len) < 0)
                return 0x4002; /* NVMe status: Invalid Field in Command, Do Not Retry */
        memcpy((void *) (uintptr_t) cmd->addr, page, MIN(len, (size_t) cmd->data_len));
        return 0;
}

typedef struct FakeStats {
        char driver[32];
        size_t n;
        char (*names)[ETH_GSTRING_LEN];
        uint64_t *values;
} FakeStats;

static void fake_stats_done(FakeStats *s) {
        free(s->names);
        free(s->values);
}

/* "driver ena\nbw_in_allowance_exceeded 12\n…" */
static int fake_stats(const NitroFake *f, const char *ifname, FakeStats *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len, lines = 0;
        int r = fake_read(f, "ethtool", ifname, &text, &len);

        if (r < 0)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < len; i++)
                lines += text[i] == '\n';
        *ret = (FakeStats){ .names = calloc(lines + 1, ETH_GSTRING_LEN), .values = calloc(lines + 1, 8) };
        if (!ret->names || !ret->values) {
                fake_stats_done(ret);
                return -ENOMEM;
        }
        for (char *line = text, *nl; line < text + len; line = nl + 1) {
                nl = memchr(line, '\n', (size_t) (text + len - line));
                if (!nl)
                        nl = text + len;
                char *sp = memchr(line, ' ', (size_t) (nl - line));
                if (!sp)
                        continue;
                size_t klen = (size_t) (sp - line);
                if (klen == 6 && memcmp(line, "driver", 6) == 0) {
                        snprintf(ret->driver, sizeof ret->driver, "%.*s", (int) (nl - sp - 1), sp + 1);
                        continue;
                }
                uint64_t v;
                if (klen > ETH_GSTRING_LEN ||
                    parse_u64_n(sp + 1, (size_t) (nl - sp - 1), UINT64_MAX, &v) < 0)
                        continue;
                memcpy(ret->names[ret->n], line,
                       klen); /* NUL-padded; 32 bytes has no NUL, as the kernel's */
                ret->values[ret->n++] = v;
        }
        return 0;
}

static int fake_ethtool(void *userdata, const char *ifname, void *data) {
        NitroFake *f = userdata;
        FakeStats s;
        uint32_t cmd;
        int r;

        f->ethtool_calls++;
        memcpy(&cmd, data, sizeof cmd);
        r = fake_stats(f, ifname, &s);
        if (r < 0)
                return r;
        switch (cmd) {
        case ETHTOOL_GDRVINFO: {
                struct ethtool_drvinfo *d = data;
                snprintf(d->driver, sizeof d->driver, "%s", s.driver);
                break;
        }
        case ETHTOOL_GSSET_INFO: {
                struct ethtool_sset_info *i = data;
                if (i->sset_mask & (1ULL << ETH_SS_STATS)) {
                        i->sset_mask = 1ULL << ETH_SS_STATS;
                        i->data[0] = (uint32_t) s.n;
                }
                break;
        }
        case ETHTOOL_GSTRINGS: { /* as the kernel: its own count, whatever was asked */
                struct ethtool_gstrings *g = data;
                memcpy(g->data, s.names, MIN(s.n, (size_t) g->len) * ETH_GSTRING_LEN);
                g->len = (uint32_t) s.n;
                break;
        }
        case ETHTOOL_GSTATS: {
                struct ethtool_stats *st = data;
                memcpy(st->data, s.values, MIN(s.n, (size_t) st->n_stats) * sizeof(uint64_t));
                st->n_stats = (uint32_t) s.n;
                break;
        }
        default:
                r = -EOPNOTSUPP;
        }
        fake_stats_done(&s);
        return r;
}

int nitro_fake_new(const char *dir, NitroFake **ret) {
        NitroFake *f = calloc(1, sizeof *f);
        if (!f || !(f->dir = strdup(dir))) {
                free(f);
                return -ENOMEM;
        }
        f->ebs = (EbsOps){ fake_admin, f };
        f->ethtool = (EthtoolOps){ fake_ethtool, f };
        *ret = f;
        return 0;
}

NitroFake *nitro_fake_free(NitroFake *f) {
        if (f)
                free(f->dir);
        free(f);
        return NULL;
}
