/* test-ebs.c — the EBS log page 0xD0 parser, serials as volume ids, and discovery in a fake sysfs. */
#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ec2agent/ebs.h"
#include "ec2agent/util.h"
#include "tap.h"

/* A page as the device returns it, built from the documented layout (AWS "Amazon EBS detailed
 * performance statistics"; amazon-ec2-utils' ebsnvme): u32 magic, 4 reserved, then eleven
 * little-endian u64 from offset 8. The reserved area and histograms after them are filled with
 * 0xA5 so a parser that read past the counters would see it. */
static void put64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char) (v >> (8 * i));
}

static void make_page(unsigned char page[EBS_LOG_PAGE_SIZE], uint32_t magic, const uint64_t c[11]) {
        memset(page, 0xA5, EBS_LOG_PAGE_SIZE);
        page[0] = (unsigned char) magic;
        page[1] = (unsigned char) (magic >> 8);
        page[2] = (unsigned char) (magic >> 16);
        page[3] = (unsigned char) (magic >> 24);
        memset(page + 4, 0, 4);
        for (int i = 0; i < 11; i++)
                put64(page + 8 + 8 * i, c[i]);
}

/* every counter set, each to a value whose bytes differ, a few above 2^32 (little-endian order) */
static const uint64_t all_set[11] = {
        1234567,               /* read_ops */
        7654321,               /* write_ops */
        0x0000000123456789ULL, /* read_bytes */
        0x000000ABCDEF0123ULL, /* write_bytes */
        987654321012ULL,       /* total_read_time µs */
        123456789098ULL,       /* total_write_time µs */
        41000000,              /* volume exceeded iops µs: 41 s */
        3000000,               /* volume exceeded tp */
        250000,                /* instance exceeded iops */
        17,                    /* instance exceeded tp */
        32,                    /* queue length */
};

static void test_page_with_every_counter(void) {
        unsigned char page[EBS_LOG_PAGE_SIZE];
        EbsLogPage p;

        make_page(page, EBS_LOG_PAGE_MAGIC, all_set);
        ASSERT_INT(ebs_log_page_parse(page, sizeof page, &p), 0);
        ASSERT_TRUE(p.read_ops == 1234567);
        ASSERT_TRUE(p.write_ops == 7654321);
        ASSERT_TRUE(p.read_bytes == 0x0000000123456789ULL);
        ASSERT_TRUE(p.write_bytes == 0x000000ABCDEF0123ULL);
        ASSERT_TRUE(p.read_time_us == 987654321012ULL);
        ASSERT_TRUE(p.write_time_us == 123456789098ULL);
        ASSERT_TRUE(p.volume_exceeded_iops_us == 41000000);
        ASSERT_TRUE(p.volume_exceeded_tp_us == 3000000);
        ASSERT_TRUE(p.instance_exceeded_iops_us == 250000);
        ASSERT_TRUE(p.instance_exceeded_tp_us == 17);
        ASSERT_TRUE(p.queue_length == 32);
        /* the 4 bytes after the magic are reserved: something there does not matter */
        page[5] = 0x77;
        ASSERT_INT(ebs_log_page_parse(page, sizeof page, &p), 0);
}

static void test_wrong_magic(void) {
        unsigned char page[EBS_LOG_PAGE_SIZE];
        EbsLogPage p = { .read_ops = 99 };

        make_page(page, 0xEC2C0D7E, all_set); /* instance store's page */
        ASSERT_INT(ebs_log_page_parse(page, sizeof page, &p), -EPROTO);
        ASSERT_TRUE(p.read_ops == 99);        /* untouched */
        make_page(page, 0x10B5233C, all_set); /* the magic big-endian */
        ASSERT_INT(ebs_log_page_parse(page, sizeof page, &p), -EPROTO);
        memset(page, 0, sizeof page);
        ASSERT_INT(ebs_log_page_parse(page, sizeof page, &p), -EPROTO);
}

static void test_short_read(void) {
        unsigned char page[EBS_LOG_PAGE_SIZE];
        EbsLogPage p;

        make_page(page, EBS_LOG_PAGE_MAGIC, all_set);
        ASSERT_INT(ebs_log_page_parse(page, 95, &p), -EBADMSG); /* one byte short of queue_length */
        ASSERT_INT(ebs_log_page_parse(page, 4, &p), -EBADMSG);
        ASSERT_INT(ebs_log_page_parse(page, 0, &p), -EBADMSG);
        ASSERT_INT(ebs_log_page_parse(NULL, 4096, &p), -EBADMSG);
        ASSERT_INT(ebs_log_page_parse(page, 96, &p), 0);
        ASSERT_TRUE(p.queue_length == 32);
}

static void test_command(void) {
        struct nvme_admin_cmd cmd;
        char buf[EBS_LOG_PAGE_SIZE];

        ebs_log_page_command(&cmd, buf);
        ASSERT_INT(cmd.opcode, 0x02);
        ASSERT_INT(cmd.nsid, 1);
        ASSERT_INT(cmd.data_len, 4096);
        ASSERT_INT(cmd.cdw10, 0x03FF00D0); /* 0xD0 | (1023 << 16) */
        ASSERT_TRUE(cmd.addr == (uint64_t) (uintptr_t) buf);
}

static void test_volume_id_from_serial(void) {
        char id[32];

        ASSERT_INT(ebs_volume_id_from_serial("vol0123456789abcdef0", id, sizeof id), 0);
        ASSERT_STR(id, "vol-0123456789abcdef0");
        ASSERT_INT(ebs_volume_id_from_serial("vol0abc      \n", id, sizeof id), 0);
        ASSERT_STR(id, "vol-0abc");
        ASSERT_INT(ebs_volume_id_from_serial("vol-0abc", id, sizeof id), 0);
        ASSERT_STR(id, "vol-0abc");
        ASSERT_INT(ebs_volume_id_from_serial("AWS1234567890ABCDEF", id, sizeof id),
                   -EINVAL); /* instance store */
        ASSERT_INT(ebs_volume_id_from_serial("vol", id, sizeof id), -EINVAL);
        ASSERT_INT(ebs_volume_id_from_serial("vol-", id, sizeof id), -EINVAL);
        ASSERT_INT(ebs_volume_id_from_serial("vol0ab/../x", id, sizeof id), -EINVAL);
        ASSERT_INT(ebs_volume_id_from_serial("vol0123456789abcdef0", id, 21), -EINVAL); /* no room */
        ASSERT_INT(ebs_volume_id_from_serial("vol0123456789abcdef0", id, 22), 0);
}

static void put(const char *root, const char *rel, const char *text) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(path, 0755);
                        *p = '/';
                }
        if (text) {
                FILE *f = fopen(path, "w");
                ASSERT_TRUE(f != NULL);
                fputs(text, f);
                fclose(f);
        } else
                (void) mkdir(path, 0755);
}

/* sysfs as drivers/nvme/host/core.c writes it: model and serial space-padded. */
static void test_discover(void) {
        char root[] = "/tmp/test-ebs-XXXXXX";
        EbsController c[8];

        ASSERT_TRUE(mkdtemp(root) != NULL);
        ASSERT_INT(ebs_discover(root, c, 8), -ENOENT); /* no class/nvme: no NVMe at all */
        put(root, "class/nvme/nvme0/model", "Amazon Elastic Block Store              \n");
        put(root, "class/nvme/nvme0/serial", "vol0aaaaaaaaaaaaaaaa\n");
        put(root, "class/nvme/nvme0/nvme0n1", NULL);
        put(root, "class/nvme/nvme1/model", "Amazon EC2 NVMe Instance Storage        \n");
        put(root, "class/nvme/nvme1/serial", "AWS22B1A2F1C3D4E5F6\n");
        put(root, "class/nvme/nvme1/nvme1n1", NULL);
        put(root, "class/nvme/nvme2/model", "Amazon Elastic Block Store              \n");
        put(root, "class/nvme/nvme2/serial", "vol0bbbbbbbbbbbbbbbb\n");
        put(root, "class/nvme/nvme2/nvme2c2n1", NULL); /* native multipath */
        put(root, "class/nvme/nvme3/model", "Amazon Elastic Block Store              \n");
        put(root, "class/nvme/nvme3/serial", "vol0cccc\n"); /* attached, namespace not there yet */
        put(root, "class/nvme/nvme4/model", "Some Other SSD\n");
        put(root, "class/nvme/nvme4/serial", "vol0dddd\n");
        put(root, "class/nvme/nvme-subsys0", NULL); /* not a controller */

        int n = ebs_discover(root, c, 8);
        ASSERT_INT(n, 3);
        int seen = 0;
        for (int i = 0; i < n; i++) {
                if (strcmp(c[i].name, "nvme0") == 0) {
                        ASSERT_STR(c[i].volume_id, "vol-0aaaaaaaaaaaaaaaa");
                        ASSERT_STR(c[i].device, "/dev/nvme0n1");
                        seen |= 1;
                } else if (strcmp(c[i].name, "nvme2") == 0) {
                        ASSERT_STR(c[i].volume_id, "vol-0bbbbbbbbbbbbbbbb");
                        ASSERT_STR(c[i].device, "/dev/nvme2n1");
                        seen |= 2;
                } else if (strcmp(c[i].name, "nvme3") == 0) {
                        ASSERT_STR(c[i].device, "");
                        seen |= 4;
                } else
                        TAP_FAIL("%s is not an EBS volume", c[i].name);
        }
        ASSERT_INT(seen, 7);
        ASSERT_INT(ebs_discover(root, c, 1), 1); /* bounded */

        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        ASSERT_INT(system(cmd), 0);
}

TAP_MAIN(T(test_page_with_every_counter), T(test_wrong_magic), T(test_short_read), T(test_command),
         T(test_volume_id_from_serial), T(test_discover))
