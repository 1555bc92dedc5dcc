/* fuzz-status-reply.c — the CLI's reading of a status reply (whatever listens on the socket path
 * may answer): parsed as `ec2agent status` does, rendered in the human form at any width, with
 * and without colour. Without colour the output holds no control character but newlines and no
 * C1 control: no reply can drive the terminal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ec2agent/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        cJSON *doc = NULL;
        char *out = NULL;
        size_t len = 0;

        if (size < 1)
                return 0;
        unsigned width = data[0];
        if (cli_parse_status_reply((const char *) data + 1, size - 1, &doc) < 0)
                return 0;
        int code = cli_status_exit_code(doc);
        if (code < 0 || code > 3)
                abort();
        FILE *f = open_memstream(&out, &len);
        if (!f)
                abort();
        cli_render_status(f, doc, false, width, 0);
        fclose(f);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) out[i];
                if ((c < 0x20 && c != '\n') || c == 0x7f ||
                    (c == 0xc2 && i + 1 < len && (unsigned char) out[i + 1] >= 0x80 &&
                     (unsigned char) out[i + 1] < 0xa0))
                        abort();
        }
        free(out);
        f = fopen("/dev/null", "w");
        if (f) {
                cli_render_status(f, doc, true, width, 0);
                fclose(f);
        }
        cJSON_Delete(doc);
        return 0;
}
