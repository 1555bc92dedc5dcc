/* ebs-helper.h — the EBS statistics through a privileged helper: the daemon runs without
 * CAP_SYS_ADMIN, which NVMe admin Get Log Page needs, so ec2agent-nvme (socket-activated as root by
 * ec2agent-nvme.socket, one instance a connection) issues it for the daemon.
 *
 * The request: controller names separated by single spaces and ended by one '\n', each matching
 * ^nvme[0-9]{1,4}$, at most EBS_HELPER_NAMES_MAX of them, at most EBS_HELPER_REQUEST_MAX bytes.
 * The reply: one frame a name, in the request's order: 8 bytes of the name (NUL-padded), a
 * little-endian int32 status (0, a negative errno, or the NVMe status > 0 of a refused command),
 * a little-endian uint32 length (EBS_LOG_PAGE_SIZE when the status is 0, else 0), then the page.
 * Nothing from the request but the device reaches the command: it is always page 0xD0, 4 096 bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ebs.h"
#include "util.h"

#define EBS_HELPER_SOCKET       "/run/ec2agent-nvme.sock"
#define EBS_HELPER_NAME_MAX     9 /* "nvme9999" and its NUL */
#define EBS_HELPER_NAMES_MAX    64
#define EBS_HELPER_REQUEST_MAX  (EBS_HELPER_NAMES_MAX * EBS_HELPER_NAME_MAX)
#define EBS_HELPER_HEADER_SIZE  16
#define EBS_HELPER_FRAME_MAX    (EBS_HELPER_HEADER_SIZE + EBS_LOG_PAGE_SIZE)
#define EBS_HELPER_TIMEOUT_USEC (2 * USEC_PER_SEC)
/* after a helper timed out, the daemon's asks fail at once for this long */
#define EBS_HELPER_QUIET_USEC (5 * USEC_PER_SEC)

/* Parses the request in BUF (LEN bytes) into NAMES. Returns how many (>= 1); -EBADMSG when it is
 * not one line ended by '\n' (or holds a NUL); -EINVAL for an empty name list or a name that is not
 * ^nvme[0-9]{1,4}$ (also a doubled space); -E2BIG for more than EBS_HELPER_NAMES_MAX names or
 * LEN over EBS_HELPER_REQUEST_MAX. Pure. */
int ebs_helper_parse_request(const char *buf, size_t len, char names[][EBS_HELPER_NAME_MAX]);

/* The frame for NAME with STATUS and, when STATUS is 0, PAGE (EBS_LOG_PAGE_SIZE bytes) into OUT
 * (EBS_HELPER_FRAME_MAX bytes). Returns its size. Pure. */
size_t ebs_helper_frame(const char *name, int status, const void *page, uint8_t *out);

/* Reads the frame at BUF (LEN bytes) that must be NAME's: its status into *STATUS and, when 0, its
 * page into *PAGE (pointing into BUF). Returns the bytes it took, -EAGAIN when LEN is short of the
 * whole frame, or -EBADMSG (another name, a length other than the status calls for). Pure. */
int ebs_helper_unframe(const void *buf, size_t len, const char *name, int *status, const void **page);

/* The helper's work: reads one request from IN_FD (within TIMEOUT), and for each name answers on
 * OUT_FD: -ENODEV when SYSFS/class/nvme/NAME/model cannot be read, -EMEDIUMTYPE when the model is
 * not EBS_MODEL (instance store is never asked), else page 0xD0 through OPS. Returns 0, or a
 * negative errno for a request refused whole (nothing written) or a reply that could not be written. */
int ebs_helper_serve(int in_fd, int out_fd, const char *sysfs, const EbsOps *ops, usec_t timeout);

/* The daemon's side. */
typedef struct EbsHelperClient {
        char *socket_path;  /* the helper's socket */
        bool try_direct;    /* the ioctl first (root); the helper once that is refused */
        int direct_error;   /* what the direct ioctl said, when it was refused */
        uint64_t requests;  /* connections made */
        usec_t quiet_until; /* CLOCK_MONOTONIC: a timed-out helper is not asked again before */
        EbsOps ops;         /* admin through the helper; userdata is this */
} EbsHelperClient;

/* A client of the helper at SOCKET_PATH; with TRY_DIRECT the ioctl is tried first and the helper
 * asked only once it fails with -EACCES, -EPERM or -ENOENT and the socket exists. Returns 0 or
 * -ENOMEM. */
int ebs_helper_client_new(const char *socket_path, bool try_direct, EbsHelperClient **ret);
EbsHelperClient *ebs_helper_client_free(EbsHelperClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(EbsHelperClient *, ebs_helper_client_free);
