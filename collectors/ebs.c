/* ebs.c — EBS volumes on Nitro: the NVMe controllers of sysfs class nvme whose model is EBS's, and their
 * statistics log page 0xD0 through NVME_IOCTL_ADMIN_CMD.
 *
 * sysfs, as drivers/nvme/host/core.c writes it (model and serial space-padded to their NVMe width):
 *   /sys/class/nvme/nvme1/model   "Amazon Elastic Block Store              \n"
 *   /sys/class/nvme/nvme1/serial  "vol0123456789abcdef0\n"
 *   /sys/class/nvme/nvme1/nvme1n1/ (or nvme1c1n1/ with native multipath) its namespace */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ec2agent/ebs.h"
#include "ec2agent/macro.h"
#include "ec2agent/util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* SRC into DST (SIZE bytes) when it fits whole; the callers have checked that it does. */
static void copy_name(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);
        memcpy(dst, src, n);
        dst[n] = 0;
}

int ebs_read_attr(const char *dir, const char *name, size_t max, char *buf, size_t size) {
        _cleanup_free_ char *path = path_join(dir, name), *text = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_file_bounded(path, max, &text, &len);
        if (r < 0)
                return r;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
                len--;
        if (len >= size)
                return -E2BIG;
        memcpy(buf, text, len);
        buf[len] = 0;
        return 0;
}

/* The first namespace of controller NAME under its sysfs directory DIR: "nvme1n1", or with native
 * multipath "nvme1c1n1" (whose block device is "nvme1n1"). */
static void first_namespace(const char *dir, const char *name, char *ret, size_t size) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        size_t nl = strlen(name);
        char best[EBS_NAME_MAX] = "";

        ret[0] = 0;
        while (d && (de = readdir(d))) {
                const char *n = de->d_name;
                if (strncmp(n, name, nl) != 0 || (n[nl] != 'n' && n[nl] != 'c') || strlen(n) >= sizeof best)
                        continue;
                /* the lowest namespace: nvme1n1 before nvme1n2 */
                if (!best[0] || strlen(n) < strlen(best) ||
                    (strlen(n) == strlen(best) && strcmp(n, best) < 0))
                        copy_name(best, sizeof best, n);
        }
        if (!best[0])
                return;
        /* nvme1c1n1 → nvme1n1 */
        const char *c = best[nl] == 'c' ? strchr(best + nl, 'n') : NULL;
        if (c)
                snprintf(ret, size, "/dev/%.*s%s", (int) nl, best, c);
        else
                snprintf(ret, size, "/dev/%s", best);
}

static bool is_controller_name(const char *n) {
        if (strncmp(n, "nvme", 4) != 0 || !n[4])
                return false;
        for (const char *p = n + 4; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return strlen(n) < EBS_NAME_MAX;
}

int ebs_discover(const char *sysfs, EbsController *ret, size_t max) {
        _cleanup_free_ char *class = path_join(sysfs, "class/nvme");
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;

        if (!class)
                return -ENOMEM;
        if (!(d = opendir(class)))
                return negative_errno();
        while (n < max && (de = readdir(d))) {
                char model[64], serial[64];
                if (!is_controller_name(de->d_name))
                        continue;
                _cleanup_free_ char *dir = path_join(class, de->d_name);
                if (!dir)
                        return -ENOMEM;
                /* Instance store answers 0xD0 with another layout, other models not at all: only EBS's */
                if (ebs_read_attr(dir, "model", 4096, model, sizeof model) < 0 ||
                    strcmp(model, EBS_MODEL) != 0)
                        continue;
                EbsController *c = &ret[n];
                if (ebs_read_attr(dir, "serial", 4096, serial, sizeof serial) < 0 ||
                    ebs_volume_id_from_serial(serial, c->volume_id, sizeof c->volume_id) < 0)
                        continue;
                copy_name(c->name, sizeof c->name, de->d_name);
                first_namespace(dir, de->d_name, c->device, sizeof c->device);
                n++;
        }
        return (int) n;
}

static int sys_admin(void *userdata, const char *controller, struct nvme_admin_cmd *cmd) {
        char path[EBS_NAME_MAX + 8];
        (void) userdata;

        snprintf(path, sizeof path, "/dev/%s", controller);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        int r = ioctl(fd, NVME_IOCTL_ADMIN_CMD, cmd);
        if (r < 0)
                return negative_errno();
        return r; /* > 0: the NVMe status of a refused command */
}

const EbsOps ebs_sys_ops = { sys_admin, NULL };

int ebs_read_log_page(const EbsOps *ops, const char *controller, EbsLogPage *ret) {
        _cleanup_free_ void *buf = calloc(1, EBS_LOG_PAGE_SIZE);
        struct nvme_admin_cmd cmd;

        if (!buf)
                return -ENOMEM;
        ebs_log_page_command(&cmd, buf);
        int r = ops->admin(ops->userdata, controller, &cmd);
        if (r > 0)
                return -EREMOTEIO;
        if (r < 0)
                return r;
        return ebs_log_page_parse(buf, EBS_LOG_PAGE_SIZE, ret);
}
