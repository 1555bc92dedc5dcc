/* nvme-helper.c — ec2agent-nvme, the privileged helper: one request on standard input (a socket
 * ec2agent-nvme.socket accepted), page 0xD0 of each EBS controller it names on standard output,
 * then exit (ebs-helper.h). A separate small executable so that what runs as root links none of
 * the daemon's parsers, HTTP or configuration. EC2AGENT_TEST_NITRO=DIR (tests only, nitro-fake.h)
 * answers from DIR's files and reads DIR/sys as sysfs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/ebs-helper.h"
#include "ec2agent/nitro-fake.h"

int main(int argc, char **argv) {
        _cleanup_(nitro_fake_freep) NitroFake *fake = NULL;
        _cleanup_free_ char *sysfs = NULL;
        const char *dir = secure_getenv("EC2AGENT_TEST_NITRO");
        const EbsOps *ops = &ebs_sys_ops;
        int r;

        (void) argv;
        if (argc != 1) {
                fprintf(stderr,
                        "ec2agent-nvme takes no arguments: systemd starts it for ec2agent-nvme.socket.\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN); /* a peer that left is a write error, not a death */
        if (dir && *dir) {
                if (nitro_fake_new(dir, &fake) < 0 || !(sysfs = path_join(dir, "sys")))
                        return 1;
                ops = &fake->ebs;
        }
        r = ebs_helper_serve(STDIN_FILENO, STDOUT_FILENO, sysfs ?: "/sys", ops, EBS_HELPER_TIMEOUT_USEC);
        if (r < 0) {
                fprintf(stderr, "ec2agent-nvme: request refused or reply not written: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
