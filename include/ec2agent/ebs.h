/* ebs.h — EBS volumes on Nitro: their NVMe controllers in sysfs and the statistics log page 0xD0. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

struct nvme_admin_cmd;

/* The EBS statistics log page (AWS, "Amazon EBS detailed performance statistics"): 4 096 bytes,
 * little-endian, read with admin Get Log Page (opcode 0x02), log id 0xD0, nsid 1. */
#define EBS_LOG_PAGE_ID    0xD0
#define EBS_LOG_PAGE_SIZE  4096
#define EBS_LOG_PAGE_MAGIC 0x3C23B510U
#define EBS_MODEL          "Amazon Elastic Block Store"
#define EBS_INSTANCE_STORE "Amazon EC2 NVMe Instance Storage"

/* The counters of the page, cumulative since the volume was attached. Times in microseconds. */
typedef struct EbsLogPage {
        uint64_t read_ops, write_ops, read_bytes, write_bytes;
        uint64_t read_time_us, write_time_us;
        uint64_t volume_exceeded_iops_us, volume_exceeded_tp_us;     /* the volume's own limits */
        uint64_t instance_exceeded_iops_us, instance_exceeded_tp_us; /* the instance's EBS limits */
        uint64_t queue_length;                                       /* a gauge */
} EbsLogPage;

/* Parses the page in BUF (LEN bytes, as the device returned it). Returns 0, -EBADMSG when LEN is
 * short of the counters (a short read), or -EPROTO when the magic is not EBS's (not an EBS volume,
 * or a page of another layout). Pure; RET is untouched on failure. */
int ebs_log_page_parse(const void *buf, size_t len, EbsLogPage *ret);

/* Builds the Get Log Page admin command for page 0xD0 into BUF (EBS_LOG_PAGE_SIZE bytes). */
void ebs_log_page_command(struct nvme_admin_cmd *cmd, void *buf);

#define EBS_NAME_MAX 32

/* An NVMe controller of sysfs class nvme that is an EBS volume. */
typedef struct EbsController {
        char name[EBS_NAME_MAX];       /* "nvme1": /dev/nvme1 is where its admin commands go */
        char volume_id[EBS_NAME_MAX];  /* "vol-0abc…", from the serial "vol0abc…" */
        char device[EBS_NAME_MAX + 8]; /* "/dev/nvme1n1", its first namespace ("" when none yet) */
} EbsController;

/* Lists SYSFS/class/nvme: the controllers whose model is EBS_MODEL (instance store and every other
 * model left out), up to MAX into RET. Returns how many, or a negative errno when the class cannot
 * be read (-ENOENT: no NVMe at all). Controllers whose serial is not "vol…" are skipped. */
/* Reads the sysfs attribute DIR/NAME (at most MAX bytes) into BUF, trailing spaces and newline
 * cut. Returns 0, -E2BIG when it does not fit SIZE, or a negative errno. */
int ebs_read_attr(const char *dir, const char *name, size_t max, char *buf, size_t size);

int ebs_discover(const char *sysfs, EbsController *ret, size_t max);

/* "vol0abc" → "vol-0abc" into RET (RET_SIZE bytes). Returns 0, or -EINVAL when SERIAL (trailing
 * spaces and newline ignored) is not "vol" and hex digits, or does not fit. Pure. */
int ebs_volume_id_from_serial(const char *serial, char *ret, size_t ret_size);

/* How admin commands reach a controller: the real NVME_IOCTL_ADMIN_CMD (ebs_sys_ops), or a test's
 * fake (nitro-fake.c). ADMIN returns 0, a negative errno, or the NVMe status (> 0) of a command
 * the device refused. */
typedef struct EbsOps {
        int (*admin)(void *userdata, const char *controller, struct nvme_admin_cmd *cmd);
        void *userdata;
} EbsOps;

/* NVME_IOCTL_ADMIN_CMD on /dev/CONTROLLER (opened read-only for the call; root only). */
extern const EbsOps ebs_sys_ops;

/* Reads and parses page 0xD0 of CONTROLLER through OPS (one admin command). Returns 0, a negative
 * errno, -EREMOTEIO when the device refused the command, or ebs_log_page_parse()'s errors. */
int ebs_read_log_page(const EbsOps *ops, const char *controller, EbsLogPage *ret);
