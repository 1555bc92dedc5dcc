/* ebs-helper.c — page 0xD0 through the privileged helper ec2agent-nvme (ebs-helper.h): the request
 * parser and the reply framing (pure), the helper's serve loop, and the daemon's client. */
#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ec2agent/ebs-helper.h"

static bool helper_name_ok(const char *s, size_t len) {
        if (len < 5 || len > 8 || memcmp(s, "nvme", 4) != 0)
                return false;
        for (size_t i = 4; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

int ebs_helper_parse_request(const char *buf, size_t len, char names[][EBS_HELPER_NAME_MAX]) {
        size_t n = 0;

        if (len > EBS_HELPER_REQUEST_MAX)
                return -E2BIG;
        if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1) || memchr(buf, 0, len))
                return -EBADMSG;
        len--; /* the '\n' */
        if (len == 0)
                return -EINVAL;
        for (size_t i = 0;;) {
                const char *sp = memchr(buf + i, ' ', len - i);
                size_t end = sp ? (size_t) (sp - buf) : len;
                if (!helper_name_ok(buf + i, end - i)) /* also the empty one of a doubled space */
                        return -EINVAL;
                if (n == EBS_HELPER_NAMES_MAX)
                        return -E2BIG;
                memcpy(names[n], buf + i, end - i);
                names[n++][end - i] = 0;
                if (!sp)
                        break;
                i = end + 1;
        }
        return (int) n;
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

size_t ebs_helper_frame(const char *name, int status, const void *page, uint8_t *out) {
        size_t nl = strnlen(name, 8);
        uint32_t len = status == 0 ? EBS_LOG_PAGE_SIZE : 0;

        memset(out, 0, EBS_HELPER_HEADER_SIZE);
        memcpy(out, name, nl);
        put_le32(out + 8, (uint32_t) status);
        put_le32(out + 12, len);
        if (len)
                memcpy(out + EBS_HELPER_HEADER_SIZE, page, len);
        return EBS_HELPER_HEADER_SIZE + len;
}

int ebs_helper_unframe(const void *buf, size_t len, const char *name, int *status, const void **page) {
        const uint8_t *p = buf;
        char want[8] = {};

        if (len < EBS_HELPER_HEADER_SIZE)
                return -EAGAIN;
        memcpy(want, name, strnlen(name, 8));
        if (memcmp(p, want, 8) != 0)
                return -EBADMSG;
        int32_t st = (int32_t) get_le32(p + 8);
        uint32_t plen = get_le32(p + 12);
        if (plen != (st == 0 ? EBS_LOG_PAGE_SIZE : 0))
                return -EBADMSG;
        if (len < EBS_HELPER_HEADER_SIZE + plen)
                return -EAGAIN;
        *status = st;
        *page = st == 0 ? p + EBS_HELPER_HEADER_SIZE : NULL;
        return (int) (EBS_HELPER_HEADER_SIZE + plen);
}

/* Waits for FD to be ready for EVENTS until DEADLINE (CLOCK_MONOTONIC). */
static int wait_fd(int fd, short events, usec_t deadline) {
        for (;;) {
                usec_t t = now_usec(CLOCK_MONOTONIC);
                if (t >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = fd, .events = events };
                int r = poll(&p, 1, (int) ((deadline - t + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r > 0)
                        return 0;
        }
}

/* All LEN bytes of BUF to FD before DEADLINE: a short write is written on. */
static int write_all(int fd, const void *buf, size_t len, usec_t deadline) {
        const uint8_t *p = buf;
        while (len > 0) {
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                ssize_t k = write(fd, p, len);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* The model of SYSFS/class/nvme/NAME, trailing spaces and newline cut. */
static int helper_model(const char *sysfs, const char *name, char *ret, size_t size) {
        char rel[32 + EBS_HELPER_NAME_MAX];
        _cleanup_free_ char *dir = NULL;

        snprintf(rel, sizeof rel, "class/nvme/%.8s", name);
        if (!(dir = path_join(sysfs, rel)))
                return -ENOMEM;
        return ebs_read_attr(dir, "model", 256, ret, size);
}

int ebs_helper_serve(int in_fd, int out_fd, const char *sysfs, const EbsOps *ops, usec_t timeout) {
        char req[EBS_HELPER_REQUEST_MAX + 1], names[EBS_HELPER_NAMES_MAX][EBS_HELPER_NAME_MAX];
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        size_t len = 0;
        int r;

        /* one line, read until its '\n' or EOF, never past the bound */
        while (len < sizeof req && !memchr(req, '\n', len)) {
                if ((r = wait_fd(in_fd, POLLIN, deadline)) < 0)
                        return r;
                ssize_t k = read(in_fd, req + len, sizeof req - len);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        int n = ebs_helper_parse_request(req, len, names);
        if (n < 0)
                return n;

        _cleanup_free_ uint8_t *frame = malloc(EBS_HELPER_FRAME_MAX);
        _cleanup_free_ void *page = malloc(EBS_LOG_PAGE_SIZE);
        if (!frame || !page)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                char model[64];
                struct nvme_admin_cmd cmd;

                memset(page, 0, EBS_LOG_PAGE_SIZE);
                r = helper_model(sysfs, names[i], model, sizeof model);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        r = -ENODEV;
                else if (strcmp(model, EBS_MODEL) != 0)
                        r = -EMEDIUMTYPE;
                else {
                        ebs_log_page_command(&cmd, page); /* fixed: only the device comes from the request */
                        r = ops->admin(ops->userdata, names[i], &cmd);
                }
                size_t k = ebs_helper_frame(names[i], r, page, frame);
                if ((r = write_all(out_fd, frame, k, deadline)) < 0)
                        return r;
        }
        return 0;
}

/* One connection to the helper for CONTROLLER's page, into CMD's buffer. */
static int helper_ask(EbsHelperClient *c, const char *controller, struct nvme_admin_cmd *cmd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char req[EBS_HELPER_NAME_MAX + 1];
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + EBS_HELPER_TIMEOUT_USEC;
        _cleanup_free_ uint8_t *buf = malloc(EBS_HELPER_FRAME_MAX);
        size_t len = 0;
        int r, status;
        const void *page;

        if (!buf)
                return -ENOMEM;
        if (strlen(c->socket_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        if (!helper_name_ok(controller, strlen(controller)))
                return -EINVAL;
        memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path));
        int n = snprintf(req, sizeof req, "%s\n", controller);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        c->requests++;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                if (errno == ENOENT)
                        return -ECONNREFUSED; /* no socket: nobody listens */
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return negative_errno();
                if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
                        return r;
        }
        for (size_t off = 0; off < (size_t) n;) {
                if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
                        return r;
                ssize_t k = send(fd, req + off, (size_t) n - off, MSG_NOSIGNAL);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                off += (size_t) k;
        }
        for (;;) {
                r = ebs_helper_unframe(buf, len, controller, &status, &page);
                if (r != -EAGAIN)
                        break;
                if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
                        return r;
                ssize_t k = recv(fd, buf + len, EBS_HELPER_FRAME_MAX - len, 0);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        return -ECONNRESET; /* the helper went before its whole answer */
                len += (size_t) k;
        }
        if (r < 0)
                return r;
        if (status == 0)
                memcpy((void *) (uintptr_t) cmd->addr, page, MIN((size_t) cmd->data_len, EBS_LOG_PAGE_SIZE));
        return status;
}

/* One helper that does not answer blocks the loop once a collection, not once a volume. */
static int helper_ask_timed(EbsHelperClient *c, const char *controller, struct nvme_admin_cmd *cmd) {
        if (now_usec(CLOCK_MONOTONIC) < c->quiet_until)
                return -ETIMEDOUT;
        int r = helper_ask(c, controller, cmd);
        c->quiet_until = r == -ETIMEDOUT ? now_usec(CLOCK_MONOTONIC) + EBS_HELPER_QUIET_USEC : 0;
        return r;
}

static int helper_admin(void *userdata, const char *controller, struct nvme_admin_cmd *cmd) {
        EbsHelperClient *c = userdata;

        /* the helper issues only page 0xD0: anything else is a caller's bug */
        if (cmd->opcode != 0x02 || (cmd->cdw10 & 0xff) != EBS_LOG_PAGE_ID ||
            cmd->data_len != EBS_LOG_PAGE_SIZE)
                return -EINVAL;
        if (c->try_direct && !c->direct_error) {
                int r = ebs_sys_ops.admin(NULL, controller, cmd);
                if (r != -EACCES && r != -EPERM && r != -ENOENT)
                        return r;
                if (access(c->socket_path, F_OK) < 0)
                        return r; /* no helper installed: the ioctl's own answer */
                c->direct_error = r;
        }
        return helper_ask_timed(c, controller, cmd);
}

int ebs_helper_client_new(const char *socket_path, bool try_direct, EbsHelperClient **ret) {
        EbsHelperClient *c = calloc(1, sizeof *c);
        if (!c || !(c->socket_path = strdup(socket_path))) {
                free(c);
                return -ENOMEM;
        }
        c->try_direct = try_direct;
        c->ops = (EbsOps){ helper_admin, c };
        *ret = c;
        return 0;
}

EbsHelperClient *ebs_helper_client_free(EbsHelperClient *c) {
        if (c)
                free(c->socket_path);
        free(c);
        return NULL;
}
