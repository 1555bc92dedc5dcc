/* fs.h — filesystems: mountinfo, the CloudWatch agent's disk metrics, read-only transitions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define FS_PATH_MAX 256

typedef struct MountEntry {
        unsigned major, minor;
        char root[FS_PATH_MAX];
        char mount_point[FS_PATH_MAX];
        char fstype[32];
        char source[FS_PATH_MAX];
        bool read_only; /* the mount's own options say "ro" */
} MountEntry;

/* Parses /proc/self/mountinfo (proc(5)):
 *   "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
 * with \040-style octal escapes. Fills at most MAX entries; malformed lines are skipped.
 * Returns the number filled. Pure. */
size_t mountinfo_parse(const char *text, size_t len, MountEntry *ret, size_t max);

/* Where the unit binds PID 1's mount table (BindReadOnlyPaths=): the agent runs as its own user
 * under ProtectProc=invisible, which hides /proc/1 from it. */
#define MOUNTINFO_HOST_BIND "/run/ec2agent/host-mountinfo"

/* The instance's mount table: PID 1's (/proc/1/mountinfo, else MOUNTINFO_HOST_BIND). The agent's
 * own mount namespace is sandboxed (ProtectSystem=strict shows every mount read-only in it), so
 * /proc/self/mountinfo would tell about the sandbox; it is the fallback where neither is readable. */
const char *mountinfo_default(void);

/* True for an FSTYPE whose statvfs() is answered over the network or by a user-space daemon
 * (nfs, nfs4, cifs, smb3, ceph, glusterfs, lustre, 9p, virtiofs, fuse, fuseblk, fuse.*, …): it may
 * never answer, so "*" leaves such filesystems out (they are watched only when named). */
bool fs_type_is_remote(const char *fstype);

/* True for a "real" filesystem, the "*" of metrics.filesystems: backed by a block device
 * (a /dev/ source), not a read-only image (squashfs, iso9660), not remote or FUSE
 * (fs_type_is_remote: the FUSE "fuseblk" has a /dev/ source too). */
bool mount_is_real(const MountEntry *m);

typedef struct FsUsage {
        uint64_t total, used, free; /* bytes; free is what unprivileged users may use */
        uint64_t inodes_total, inodes_used, inodes_free;
        double used_percent, inodes_used_percent;
} FsUsage;

/* statvfs(PATH) the way df computes it: used = blocks − bfree, used% = used / (used + bavail). */
int fs_usage(const char *path, FsUsage *ret);

/* The answer to fs_usage_start(): ID as given, ERROR 0 or a negative errno, USAGE when 0. */
typedef struct FsUsageReply {
        uint64_t id;
        int error;
        FsUsage usage;
} FsUsageReply;

/* Starts fs_usage(PATH) on a detached thread of its own, which sends one FsUsageReply datagram
 * with ID to REPLY_FD (a blocking AF_UNIX SOCK_DGRAM socket, dup()ed for the thread: the caller
 * may close its own at any time) and ends. Never blocks on PATH. Returns 0, or a negative errno
 * when no thread could be started (then no reply comes). */
int fs_usage_start(const char *path, uint64_t id, int reply_fd);

/* The whole-disk name of a block device path ("/dev/nvme1n1p2" → "nvme1n1"), via /sys/class/block.
 * Returns 0 or a negative errno. */
int fs_disk_of(const char *source, char *ret, size_t max);

/* True when DISK ("nvme1n1") is an instance-store volume: its NVMe model is
 * "Amazon EC2 NVMe Instance Storage" (SYSFS is "/sys" outside tests). */
bool fs_is_instance_store(const char *sysfs, const char *disk);
