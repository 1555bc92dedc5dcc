/* fs.c — filesystems: mountinfo, the CloudWatch agent's disk metrics, instance-store volumes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ec2agent/fs.h"

/* Copies one space-separated field, decoding \ooo escapes (fs/proc_namespace.c mangle()). */
static const char *take(const char *p, const char *end, char *dst, size_t max, bool *ok) {
        size_t n = 0;
        while (p < end && *p != ' ' && *p != '\n') {
                char c = *p++;
                if (c == '\\' && end - p >= 3 && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
                    p[2] >= '0' && p[2] <= '7') {
                        c = (char) ((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0'));
                        p += 3;
                }
                if (n + 1 >= max) {
                        *ok = false;
                        continue;
                }
                dst[n++] = c;
        }
        dst[n] = 0;
        *ok = *ok && n > 0;
        return p < end && *p == ' ' ? p + 1 : p;
}

static bool has_option(const char *opts, const char *opt) {
        size_t n = strlen(opt);
        for (const char *p = opts; p && *p;) {
                const char *c = strchr(p, ',');
                size_t len = c ? (size_t) (c - p) : strlen(p);
                if (len == n && memcmp(p, opt, n) == 0)
                        return true;
                p = c ? c + 1 : NULL;
        }
        return false;
}

const char *mountinfo_default(void) {
        return access("/proc/1/mountinfo", R_OK) == 0 ? "/proc/1/mountinfo" : "/proc/self/mountinfo";
}

size_t mountinfo_parse(const char *text, size_t len, MountEntry *ret, size_t max) {
        const char *end = text + len;
        size_t n = 0;

        for (const char *l = text; l < end && n < max;) {
                const char *nl = memchr(l, '\n', (size_t) (end - l)), *le = nl ?: end;
                char field[FS_PATH_MAX], opts[512], dev[32];
                MountEntry m = {};
                bool ok = true;
                const char *p = l;

                p = take(p, le, field, sizeof field, &ok); /* mount id */
                p = take(p, le, field, sizeof field, &ok); /* parent id */
                p = take(p, le, dev, sizeof dev, &ok);     /* major:minor */
                p = take(p, le, m.root, sizeof m.root, &ok);
                p = take(p, le, m.mount_point, sizeof m.mount_point, &ok);
                p = take(p, le, opts, sizeof opts, &ok); /* per-mount options */
                m.read_only = has_option(opts, "ro");
                /* optional fields up to the lone "-" */
                while (ok && p < le) {
                        p = take(p, le, field, sizeof field, &ok);
                        if (strcmp(field, "-") == 0)
                                break;
                }
                p = take(p, le, m.fstype, sizeof m.fstype, &ok);
                p = take(p, le, m.source, sizeof m.source, &ok);
                char *colon = strchr(dev, ':');
                uint64_t maj, min;
                if (ok && colon && (*colon = 0, parse_u64(dev, UINT32_MAX, &maj) == 0) &&
                    parse_u64(colon + 1, UINT32_MAX, &min) == 0) {
                        m.major = (unsigned) maj;
                        m.minor = (unsigned) min;
                        ret[n++] = m;
                }
                l = nl ? nl + 1 : end;
        }
        return n;
}

bool mount_is_real(const MountEntry *m) {
        return startswith(m->source, "/dev/") && strcmp(m->fstype, "squashfs") != 0 &&
               strcmp(m->fstype, "iso9660") != 0;
}

int fs_usage(const char *path, FsUsage *ret) {
        struct statvfs v;
        if (statvfs(path, &v) < 0)
                return negative_errno();
        uint64_t bs = v.f_frsize ?: v.f_bsize;
        uint64_t used = (uint64_t) (v.f_blocks - MIN(v.f_bfree, v.f_blocks)) * bs;
        uint64_t avail = (uint64_t) v.f_bavail * bs;
        FsUsage u = {
                .total = (uint64_t) v.f_blocks * bs,
                .used = used,
                .free = avail,
                .inodes_total = v.f_files,
                .inodes_free = v.f_ffree,
                .inodes_used = v.f_files - MIN(v.f_ffree, v.f_files),
        };
        u.used_percent = used + avail ? 100.0 * (double) used / (double) (used + avail) : 0.0;
        u.inodes_used_percent =
                u.inodes_total ? 100.0 * (double) u.inodes_used / (double) u.inodes_total : 0.0;
        *ret = u;
        return 0;
}

int fs_disk_of(const char *source, char *ret, size_t max) {
        char path[FS_PATH_MAX + 64], link[FS_PATH_MAX];
        const char *name = strrchr(source, '/');
        ssize_t n;

        name = name ? name + 1 : source;
        /* /sys/class/block/nvme1n1p2 -> ../../devices/…/nvme1n1/nvme1n1p2: a partition's parent. */
        snprintf(path, sizeof path, "/sys/class/block/%s/partition", name);
        if (access(path, F_OK) == 0) {
                snprintf(path, sizeof path, "/sys/class/block/%s", name);
                n = readlink(path, link, sizeof link - 1);
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EINVAL;
                link[n] = 0;
                char *slash = strrchr(link, '/');
                if (!slash)
                        return -EINVAL;
                *slash = 0;
                slash = strrchr(link, '/');
                name = slash ? slash + 1 : link;
        }
        if ((size_t) snprintf(ret, max, "%s", name) >= max)
                return -ENAMETOOLONG;
        return 0;
}

bool fs_is_instance_store(const char *sysfs, const char *disk) {
        char path[FS_PATH_MAX + 64];
        _cleanup_free_ char *model = NULL;

        snprintf(path, sizeof path, "%s/block/%s/device/model", sysfs, disk);
        if (read_file_bounded(path, 256, &model, NULL) < 0)
                return false;
        /* The model is space-padded: "Amazon EC2 NVMe Instance Storage        \n" */
        return startswith(model, "Amazon EC2 NVMe Instance Storage");
}
