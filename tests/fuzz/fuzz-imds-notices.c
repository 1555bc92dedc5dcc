/* fuzz-imds-notices.c — the persisted imds-notices.json, loaded as the agent does at start
 * (state_load_json: a corrupt file is set aside as .corrupt, never fatal, never silently empty),
 * then written back and read again: the round trip must keep what was known. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/imds.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz-imds-notices-XXXXXX";

/* Writes the input as the state file; no fsync: thousands of runs a second, not durability. */
static void write_input(const char *d, const char *name, const uint8_t *data, size_t size) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", d, name);
        FILE *f = fopen(p, "we");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[128], aside[160];
        ImdsNotices n = {}, again = {};
        struct stat st;

        if (dir[sizeof dir - 2] == 'X') {
                if (!mkdtemp(dir))
                        abort();
                log_setup(LOG_CRIT); /* the set-aside warning, once per corrupt input */
        }
        snprintf(path, sizeof path, "%s/imds-notices.json", dir);
        snprintf(aside, sizeof aside, "%s.corrupt", path);
        (void) unlink(aside);
        write_input(dir, "imds-notices.json", data, size);
        int r = imds_notices_load(dir, &n);
        if (r < 0) {
                /* set aside: the original is gone and its bytes kept */
                if (r != -EBADMSG || stat(path, &st) == 0 || stat(aside, &st) < 0 ||
                    (size_t) st.st_size != size)
                        abort();
                return 0;
        }
        if (r != 1 || stat(aside, &st) == 0)
                abort();
        _cleanup_json_ cJSON *j = imds_notices_to_json(&n, false);
        if (!j || imds_notices_from_json(j, &again) < 0)
                abort();
        if (again.spot_known != n.spot_known || again.rebalance != n.rebalance ||
            again.n_scheduled != n.n_scheduled || again.scheduled_known != n.scheduled_known ||
            strcmp(again.lifecycle, n.lifecycle) != 0)
                abort();
        (void) unlink(path);
        return 0;
}
