/* fuzz-kmsg-stream.c — any bytes through the kernel log reader's own code (kmsg_feed): framed as
 * a FIFO's stream cut at arbitrary points, or as /dev/kmsg records, classified, aggregated into
 * burst windows by their timestamps, and every event made checked: its events.jsonl line is
 * valid UTF-8 without a control character (the record text contract and UTF8_ESCAPE_LOG). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/kmsg.h"
#include "ec2agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean_utf8(const unsigned char *p, size_t n) {
        const unsigned char *e = p + n;
        while (p < e) {
                unsigned char b = *p;
                size_t k = b < 0x80                 ? 1
                           : b >= 0xc2 && b <= 0xdf ? 2
                           : b >= 0xe0 && b <= 0xef ? 3
                           : b >= 0xf0 && b <= 0xf4 ? 4
                                                    : 0;
                if (k == 0 || (size_t) (e - p) < k || b < 0x20 || b == 0x7f)
                        return false;
                for (size_t i = 1; i < k; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f) || (b == 0xf0 && p[1] < 0x90) ||
                    (b == 0xf4 && p[1] > 0x8f))
                        return false;
                p += k;
        }
        return true;
}

static void on_event(Event *e, void *userdata) {
        char *line = event_to_json_line(e, "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11");
        (void) userdata;
        if (line && !clean_utf8((const unsigned char *) line, strlen(line)))
                abort(); /* an output that is not clean text */
        free(line);
        event_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sd_event *loop;
        KmsgOptions opts = { .boot_id = "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11" };
        Kmsg *k = NULL;

        if (size < 1)
                return 0;
        if (!loop) {
                log_setup(LOG_EMERG); /* quiet */
                if (sd_event_new(&loop) < 0)
                        abort();
        }
        if (kmsg_new(loop, &opts, &(EventSink){ on_event, NULL }, &k) < 0)
                return 0;
        /* The first byte: records (split at NUL bytes) or a stream cut every (byte) bytes. */
        const uint8_t mode = data[0];
        data++, size--;
        if (mode & 1) {
                for (size_t i = 0; i < size;) {
                        const uint8_t *z = memchr(data + i, 0, size - i);
                        size_t n = z ? (size_t) (z - (data + i)) : size - i;
                        kmsg_feed(k, data + i, n, true);
                        i += n + 1;
                }
        } else {
                size_t cut = (size_t) (mode >> 1) + 1;
                for (size_t i = 0; i < size; i += cut)
                        kmsg_feed(k, data + i, size - i < cut ? size - i : cut, false);
        }
        cJSON *kernel = cJSON_CreateObject();
        if (kernel) {
                (void) kmsg_status(k, kernel);
                char *s = cJSON_PrintUnformatted(kernel);
                if (s && !clean_utf8((const unsigned char *) s, strlen(s)))
                        abort();
                free(s);
                cJSON_Delete(kernel);
        }
        kmsg_free(k); /* closes no window: a stop does not report open bursts */
        return 0;
}
