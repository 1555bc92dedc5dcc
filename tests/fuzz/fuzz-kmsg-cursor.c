/* fuzz-kmsg-cursor.c — any bytes as kmsg-cursor.json when the kernel log reader starts: loaded
 * with state_load_json (a corrupt file set aside, never fatal), then a record read past it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/journal.h"
#include "ec2agent/kmsg.h"
#include "ec2agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(Event *e, void *userdata) {
        (*(unsigned *) userdata)++;
        event_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sd_event *loop;
        static char shm[] = "/dev/shm/fuzz-kmsg-cursor-XXXXXX", tmp[] = "/tmp/fuzz-kmsg-cursor-XXXXXX";
        static char *dir;
        static const char record[] = "3,18446744073709551615,5,-;EXT4-fs error (device nvme1n1): x";
        char path[64];
        unsigned events = 0;
        Kmsg *k = NULL;
        int fd;

        if (!loop) {
                log_setup(LOG_EMERG);
                /* tmpfs if there is one: the cursor's fsync at kmsg_free() is then free */
                if (sd_event_new(&loop) < 0 || !(dir = mkdtemp(shm) ?: mkdtemp(tmp)))
                        abort();
        }
        snprintf(path, sizeof path, "%s/kmsg-cursor.json", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);
        KmsgOptions opts = { .state_dir = dir, .boot_id = "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11" };
        if (kmsg_new(loop, &opts, &(EventSink){ on_event, &events }, &k) < 0)
                abort(); /* a cursor file is never fatal */
        /* the largest sequence number is past any cursor: it is an event whatever was loaded */
        kmsg_feed(k, record, sizeof record - 1, true);
        if (events != 1)
                abort();
        kmsg_free(k);
        return 0;
}
