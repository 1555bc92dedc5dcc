/* fs.c — filesystems: mountinfo, the CloudWatch agent's disk metrics, instance-store volumes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
                if (c == 0) /* no path holds a NUL (raw or "\000"): it would cut the field short */
                        *ok = false;
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
        if (access("/proc/1/mountinfo", R_OK) == 0)
                return "/proc/1/mountinfo";
        /* Not root, under ProtectProc=invisible: the unit binds PID 1's table here. */
        if (access(MOUNTINFO_HOST_BIND, R_OK) == 0)
                return MOUNTINFO_HOST_BIND;
        return "/proc/self/mountinfo";
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

bool fs_type_is_remote(const char *fstype) {
        /* Network filesystems and FUSE: their statvfs() is answered by a server or a user-space
         * daemon, which may be gone (a hard NFS mount waits for ever, a dead FUSE daemon never
         * replies). "fuse" and "fuseblk" (ntfs-3g on /dev/sdb1) and every "fuse.NAME" (sshfs is
         * "fuse.sshfs", s3fs "fuse.s3fs", rclone "fuse.rclone") are FUSE. AWS's own: efs
         * (amazon-efs-utils mounts "nfs4"), FSx for Lustre ("lustre"), FSx for ONTAP/OpenZFS (nfs),
         * FSx for Windows (cifs/smb3). */
        static const char *const remote[] = {
                "nfs",  "nfs4",      "cifs",   "smb3", "smbfs",    "ncpfs", "afs",     "ceph",
                "gfs2", "glusterfs", "lustre", "9p",   "sshfs",    "davfs", "ocfs2",   "beegfs",
                "gpfs", "orangefs",  "pvfs2",  "coda", "virtiofs", "fuse",  "fuseblk",
        };
        for (size_t i = 0; i < ELEMENTSOF(remote); i++)
                if (strcmp(fstype, remote[i]) == 0)
                        return true;
        return startswith(fstype, "fuse.");
}

bool mount_is_real(const MountEntry *m) {
        return startswith(m->source, "/dev/") && strcmp(m->fstype, "squashfs") != 0 &&
               strcmp(m->fstype, "iso9660") != 0 && !fs_type_is_remote(m->fstype);
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

/* ---- statvfs() off the loop ----
 *
 * statvfs() of a hung NFS server or of a FUSE daemon that never replies does not return (the
 * caller sleeps in request_wait_answer() until the reply or a fatal signal), and a timeout is not
 * possible on the call itself. So the call runs on a thread of its own, one per call: a single
 * worker thread would queue every other filesystem behind the first one that hangs. The thread
 * gets a copy of the path and a dup() of the reply socket, and touches nothing else: it sends
 * one FsUsageReply datagram, closes its descriptor, frees its copy and ends (detached). The
 * caller never waits for it and never closes anything it uses, so a call that never returns
 * costs one sleeping thread and one descriptor; exit_group() at the agent's stop ends it (the
 * FUSE and NFS waits are killable). All signals are blocked in it: SIGTERM and the rest stay with
 * the loop's signalfd. */

typedef struct UsageCall {
        uint64_t id;
        int fd;
        char path[];
} UsageCall;

static void *usage_thread(void *arg) {
        UsageCall *c = arg;
        FsUsageReply reply = { .id = c->id };

        reply.error = fs_usage(c->path, &reply.usage);
        /* blocking: the loop reads these as they come (a datagram socket queues only a few) */
        (void) send(c->fd, &reply, sizeof reply, MSG_NOSIGNAL);
        (void) close(c->fd);
        free(c);
        return NULL;
}

int fs_usage_start(const char *path, uint64_t id, int reply_fd) {
        size_t len = strlen(path) + 1;
        _cleanup_free_ UsageCall *c = malloc(sizeof(UsageCall) + len);
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (!c)
                return -ENOMEM;
        c->id = id;
        memcpy(c->path, path, len);
        c->fd = fcntl(reply_fd, F_DUPFD_CLOEXEC, 3);
        if (c->fd < 0)
                return negative_errno();
        if ((r = pthread_attr_init(&attr)) != 0) {
                (void) close(c->fd);
                return -r;
        }
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_attr_setstacksize(&attr, 256 * 1024);
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&thread, &attr, usage_thread, c);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) pthread_attr_destroy(&attr);
        if (r != 0) {
                (void) close(c->fd);
                return -r;
        }
        TAKE_PTR(c); /* the thread's now */
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
