/* ebs-parse.c — the EBS statistics log page 0xD0 as a struct, and a controller's serial as a volume id.
 *
 * The layout (AWS, "Amazon EBS detailed performance statistics", the ebsnvme tool of
 * amazonlinux/amazon-ec2-utils and the CloudWatch agent's nvme package agree), little-endian:
 *   0   u32 magic 0x3C23B510, 4 reserved bytes
 *   8   u64 total_read_ops, total_write_ops, total_read_bytes, total_write_bytes,
 *           total_read_time, total_write_time (µs),
 *           ebs_volume_performance_exceeded_iops, _tp, ec2_instance_ebs_performance_exceeded_iops, _tp
 *           (µs spent over the limit), volume_queue_length
 *   96  416 reserved bytes, then the read and write latency histograms (512..3600), reserved to 4096. */
#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <string.h>

#include "ec2agent/ebs.h"

#define OFF_COUNTERS 8
#define N_COUNTERS   11

static uint64_t le64(const unsigned char *p) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

int ebs_log_page_parse(const void *buf, size_t len, EbsLogPage *ret) {
        const unsigned char *p = buf;
        uint64_t c[N_COUNTERS];

        if (!buf || len < OFF_COUNTERS + N_COUNTERS * 8)
                return -EBADMSG;
        uint32_t magic =
                (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        if (magic != EBS_LOG_PAGE_MAGIC)
                return -EPROTO;
        for (size_t i = 0; i < N_COUNTERS; i++)
                c[i] = le64(p + OFF_COUNTERS + 8 * i);
        *ret = (EbsLogPage){
                .read_ops = c[0],
                .write_ops = c[1],
                .read_bytes = c[2],
                .write_bytes = c[3],
                .read_time_us = c[4],
                .write_time_us = c[5],
                .volume_exceeded_iops_us = c[6],
                .volume_exceeded_tp_us = c[7],
                .instance_exceeded_iops_us = c[8],
                .instance_exceeded_tp_us = c[9],
                .queue_length = c[10],
        };
        return 0;
}

void ebs_log_page_command(struct nvme_admin_cmd *cmd, void *buf) {
        *cmd = (struct nvme_admin_cmd){
                .opcode = 0x02, /* Get Log Page */
                .nsid = 1,
                .addr = (uint64_t) (uintptr_t) buf,
                .data_len = EBS_LOG_PAGE_SIZE,
                /* NUMDL is zero-based, in dwords: 1 023 is 4 096 bytes */
                .cdw10 = EBS_LOG_PAGE_ID | ((EBS_LOG_PAGE_SIZE / 4 - 1) << 16),
        };
}

int ebs_volume_id_from_serial(const char *serial, char *ret, size_t ret_size) {
        size_t n = strlen(serial);

        while (n > 0 && (serial[n - 1] == ' ' || serial[n - 1] == '\n' || serial[n - 1] == '\0'))
                n--;
        if (n < 4 || strncmp(serial, "vol", 3) != 0)
                return -EINVAL;
        size_t from = serial[3] == '-' ? 4 : 3; /* some serials carry the dash already */
        if (from == n)
                return -EINVAL;
        for (size_t i = from; i < n; i++) {
                char ch = serial[i];
                if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                        return -EINVAL;
        }
        /* "vol-" and the hex digits */
        if (4 + (n - from) + 1 > ret_size)
                return -EINVAL;
        memcpy(ret, "vol-", 4);
        memcpy(ret + 4, serial + from, n - from);
        ret[4 + n - from] = 0;
        return 0;
}
