/* test-ebs-helper.c — the privileged helper's request parser, its reply framing, and its serve loop
 * over a socket pair with a recording fake device: hostile requests are refused whole, only EBS
 * controllers are asked, and only ever with the fixed page 0xD0 command. */
#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/ebs-helper.h"
#include "tap.h"

static char names[EBS_HELPER_NAMES_MAX][EBS_HELPER_NAME_MAX];

static int parse(const char *s) {
        memset(names, 0x5A, sizeof names);
        return ebs_helper_parse_request(s, strlen(s), names);
}

static void test_parse_good(void) {
        ASSERT_INT(parse("nvme1\n"), 1);
        ASSERT_STR(names[0], "nvme1");
        ASSERT_INT(parse("nvme0 nvme12 nvme9999\n"), 3);
        ASSERT_STR(names[0], "nvme0");
        ASSERT_STR(names[1], "nvme12");
        ASSERT_STR(names[2], "nvme9999");
}

static void test_parse_hostile(void) {
        static const char *const bad[] = {
                "\n",
                "nvme\n",
                "nvme10000\n",
                "nvme1 \n",
                " nvme1\n",
                "nvme1  nvme2\n",
                "nvme1n1\n",
                "nvme-1\n",
                "NVME1\n",
                "../nvme1\n",
                "nvme1/../sda\n",
                "sda\n",
                "nvme1\tnvme2\n",
                "nvme1\r\n",
                "nvme+1\n",
                "nvme١\n", /* a non-ASCII digit */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (parse(bad[i]) != -EINVAL)
                        TAP_FAIL("\"%s\" was not refused as -EINVAL: %d", bad[i], parse(bad[i]));
        ASSERT_INT(parse(""), -EBADMSG);
        ASSERT_INT(parse("nvme1"), -EBADMSG);          /* no end of line */
        ASSERT_INT(parse("nvme1\nnvme2\n"), -EBADMSG); /* two lines */
        ASSERT_INT(ebs_helper_parse_request("nvme1\0\n", 7, names), -EBADMSG);
}

static void test_parse_bounds(void) {
        char buf[EBS_HELPER_REQUEST_MAX + 64];
        size_t len = 0;

        for (int i = 0; i < EBS_HELPER_NAMES_MAX; i++)
                len += (size_t) snprintf(buf + len, sizeof buf - len, "%snvme%d", i ? " " : "", 9000 + i);
        buf[len++] = '\n';
        ASSERT_INT(ebs_helper_parse_request(buf, len, names), EBS_HELPER_NAMES_MAX);
        ASSERT_STR(names[63], "nvme9063");
        /* a 65th short name still fits the byte bound: refused by count */
        memcpy(buf + len - 1, " nvme1\n", 7);
        ASSERT_INT(ebs_helper_parse_request(buf, len + 6, names), -E2BIG);
        memset(buf, ' ', sizeof buf);
        buf[sizeof buf - 1] = '\n';
        ASSERT_INT(ebs_helper_parse_request(buf, sizeof buf, names), -E2BIG);
}

static void test_frame_round_trip(void) {
        static uint8_t frame[EBS_HELPER_FRAME_MAX * 2];
        static uint8_t page[EBS_LOG_PAGE_SIZE];
        const void *got;
        int status;

        for (size_t i = 0; i < sizeof page; i++)
                page[i] = (uint8_t) (i * 7);
        size_t k = ebs_helper_frame("nvme9999", 0, page, frame);
        ASSERT_INT(k, EBS_HELPER_FRAME_MAX);
        ASSERT_TRUE(memcmp(frame, "nvme9999", 8) == 0);
        ASSERT_INT(frame[12] | frame[13] << 8, EBS_LOG_PAGE_SIZE); /* little-endian length */
        size_t k2 = ebs_helper_frame("nvme3", -EACCES, page, frame + k);
        ASSERT_INT(k2, EBS_HELPER_HEADER_SIZE);
        ASSERT_INT(frame[k + 8], (uint8_t) -EACCES); /* little-endian status */
        ASSERT_INT(frame[k + 11], 0xff);

        ASSERT_INT(ebs_helper_unframe(frame, k + k2, "nvme9999", &status, &got), (int) k);
        ASSERT_INT(status, 0);
        ASSERT_TRUE(memcmp(got, page, sizeof page) == 0);
        ASSERT_INT(ebs_helper_unframe(frame + k, k2, "nvme3", &status, &got), (int) k2);
        ASSERT_INT(status, -EACCES);
        ASSERT_TRUE(got == NULL);

        /* short: wait for more; another name or a length the status does not call for: refused */
        for (size_t cut = 0; cut < k; cut += 509)
                ASSERT_INT(ebs_helper_unframe(frame, cut, "nvme9999", &status, &got), -EAGAIN);
        ASSERT_INT(ebs_helper_unframe(frame, k, "nvme999", &status, &got), -EBADMSG);
        ASSERT_INT(ebs_helper_unframe(frame + k, k2, "nvme9999", &status, &got), -EBADMSG);
        frame[k + 12] = 1; /* an error frame claiming a byte of page */
        ASSERT_INT(ebs_helper_unframe(frame + k, k2 + 1, "nvme3", &status, &got), -EBADMSG);
        frame[13] = 0x20; /* a success frame of another length: 8 192 */
        ASSERT_INT(ebs_helper_unframe(frame, k, "nvme9999", &status, &got), -EBADMSG);
}

/* a fake controller: records what reached it */
static struct {
        unsigned calls;
        char last[16];
        struct nvme_admin_cmd cmd;
} seen;

static int fake_admin(void *userdata, const char *controller, struct nvme_admin_cmd *cmd) {
        seen.calls++;
        snprintf(seen.last, sizeof seen.last, "%s", controller);
        seen.cmd = *cmd;
        memset((void *) (uintptr_t) cmd->addr, 0xC3, cmd->data_len);
        return strcmp(controller, "nvme7") == 0 ? 0x4002 : 0;
}

static const EbsOps fake_ops = { fake_admin, NULL };

static void write_model(const char *root, const char *name, const char *model) {
        char path[256];
        snprintf(path, sizeof path, "%s/class", root);
        (void) mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/class/nvme", root);
        (void) mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/class/nvme/%s", root, name);
        ASSERT_INT(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/class/nvme/%s/model", root, name);
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f);
        fprintf(f, "%-40s\n", model);
        fclose(f);
}

/* REQ written to the helper in two parts; its reply read whole */
static int serve(const char *root, const char *req, size_t cut, uint8_t *reply, size_t size, size_t *len,
                 usec_t timeout) {
        int sv[2];
        ASSERT_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ASSERT_INT(write(sv[0], req, cut), (ssize_t) cut);
        if (strlen(req) > cut)
                ASSERT_INT(write(sv[0], req + cut, strlen(req) - cut), (ssize_t) (strlen(req) - cut));
        /* the reply of a few frames fits the socket buffer: serve does not block on it */
        int r = ebs_helper_serve(sv[1], sv[1], root, &fake_ops, timeout);
        close(sv[1]);
        *len = 0;
        for (ssize_t k; (k = read(sv[0], reply + *len, size - *len)) > 0;)
                *len += (size_t) k;
        close(sv[0]);
        return r;
}

static void test_serve(void) {
        char root[] = "/tmp/test-ebs-helper-XXXXXX";
        static uint8_t reply[EBS_HELPER_FRAME_MAX * 8];
        size_t len;
        const void *page;
        int status, k, off = 0;

        ASSERT_TRUE(mkdtemp(root));
        write_model(root, "nvme1", EBS_MODEL);
        write_model(root, "nvme2", EBS_INSTANCE_STORE);
        write_model(root, "nvme3", "QEMU NVMe Ctrl");
        write_model(root, "nvme7", EBS_MODEL);
        memset(&seen, 0, sizeof seen);

        ASSERT_INT(serve(root, "nvme1 nvme2 nvme3 nvme4 nvme7\n", 3, reply, sizeof reply, &len,
                         EBS_HELPER_TIMEOUT_USEC),
                   0);
        /* only the two EBS controllers reached the device, with the fixed command */
        ASSERT_INT(seen.calls, 2);
        ASSERT_STR(seen.last, "nvme7");
        ASSERT_INT(seen.cmd.opcode, 0x02);
        ASSERT_INT(seen.cmd.nsid, 1);
        ASSERT_INT(seen.cmd.cdw10, 0xD0 | (1023 << 16));
        ASSERT_INT(seen.cmd.data_len, EBS_LOG_PAGE_SIZE);

        ASSERT_TRUE((k = ebs_helper_unframe(reply + off, len - off, "nvme1", &status, &page)) > 0);
        ASSERT_INT(status, 0);
        ASSERT_INT(((const uint8_t *) page)[4095], 0xC3);
        off += k;
        ASSERT_TRUE((k = ebs_helper_unframe(reply + off, len - off, "nvme2", &status, &page)) > 0);
        ASSERT_INT(status, -EMEDIUMTYPE); /* instance store: never asked */
        off += k;
        ASSERT_TRUE((k = ebs_helper_unframe(reply + off, len - off, "nvme3", &status, &page)) > 0);
        ASSERT_INT(status, -EMEDIUMTYPE);
        off += k;
        ASSERT_TRUE((k = ebs_helper_unframe(reply + off, len - off, "nvme4", &status, &page)) > 0);
        ASSERT_INT(status, -ENODEV); /* no such controller */
        off += k;
        ASSERT_TRUE((k = ebs_helper_unframe(reply + off, len - off, "nvme7", &status, &page)) > 0);
        ASSERT_INT(status, 0x4002); /* the device's refusal, passed on */
        off += k;
        ASSERT_INT(off, (int) len);

        /* refused whole: nothing asked, nothing written */
        seen.calls = 0;
        ASSERT_INT(
                serve(root, "nvme1 ../../dev/sda\n", 5, reply, sizeof reply, &len, EBS_HELPER_TIMEOUT_USEC),
                -EINVAL);
        ASSERT_INT(len, 0);
        ASSERT_INT(serve(root, "nvme1", 5, reply, sizeof reply, &len, EBS_HELPER_TIMEOUT_USEC), -ETIMEDOUT);
        ASSERT_INT(len, 0);
        ASSERT_INT(seen.calls, 0);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        ASSERT_INT(system(cmd), 0);
}

/* a request with no end of line that fills the bound is refused without waiting for more */
static void test_serve_unbounded(void) {
        static char req[EBS_HELPER_REQUEST_MAX + 2];
        static uint8_t reply[64];
        size_t len;

        memset(req, 'x', sizeof req - 1);
        ASSERT_INT(serve("/nonexistent", req, 100, reply, sizeof reply, &len, 60 * USEC_PER_SEC), -E2BIG);
        ASSERT_INT(len, 0);
}

TAP_MAIN(T(test_parse_good), T(test_parse_hostile), T(test_parse_bounds), T(test_frame_round_trip),
         T(test_serve), T(test_serve_unbounded))
