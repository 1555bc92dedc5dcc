/* fuzz-events.c — events.jsonl read as `ec2agent events` does (journal_read: a torn or foreign
 * line is skipped, never fatal), printed in both forms. What reaches the terminal holds no control
 * character but the newline ending each line, and no C1 control; the JSON form is one valid
 * JSON object per line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/cli.h"
#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz-events-XXXXXX";

static void check_terminal_safe(const char *out, size_t len) {
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) out[i];
                if ((c < 0x20 && c != '\n') || c == 0x7f)
                        abort();
                if (c == 0xc2 && i + 1 < len && (unsigned char) out[i + 1] >= 0x80 &&
                    (unsigned char) out[i + 1] < 0xa0)
                        abort();
        }
}

/* Writes the input as the state file; no fsync: thousands of runs a second, not durability. */
static void write_input(const char *d, const char *name, const uint8_t *data, size_t size) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", d, name);
        FILE *f = fopen(p, "we");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        EventFilter all = {};
        char *out = NULL;
        size_t len = 0;

        if (dir[sizeof dir - 2] == 'X') {
                if (!mkdtemp(dir))
                        abort();
                log_setup(LOG_CRIT);
        }
        write_input(dir, JOURNAL_FILE, data, size);

        FILE *f = open_memstream(&out, &len);
        if (!f)
                abort();
        int human = cli_print_events(f, dir, &all, false, false);
        fclose(f);
        if (human >= 0)
                check_terminal_safe(out, len);
        free(out);

        out = NULL;
        len = 0;
        f = open_memstream(&out, &len);
        if (!f)
                abort();
        int json = cli_print_events(f, dir, &all, true, false);
        fclose(f);
        if (human >= 0 && json != human)
                abort(); /* the same events in both forms */
        for (char *line = out, *nl; json > 0 && line && (nl = strchr(line, '\n')); line = nl + 1) {
                cJSON *ev = cJSON_ParseWithLength(line, (size_t) (nl - line));
                if (!cJSON_IsObject(ev))
                        abort();
                cJSON_Delete(ev);
        }
        free(out);
        return 0;
}
