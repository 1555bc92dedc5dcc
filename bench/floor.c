/* floor.c — what the agent's libraries cost before it does anything: the same libraries loaded,
 * curl initialized as http_new() does it (libssh2 without its crypto, curl_global_init, a multi
 * handle on an sd-event loop). Prints "RSS_KB USS_KB" from /proc/self/smaps_rollup. */
#include <stdio.h>
#include <string.h>

#include "ec2agent/http.h"

int main(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(http_freep) Http *http = NULL;
        unsigned long rss = 0, clean = 0, dirty = 0, v;
        char line[256];
        FILE *f;

        if (sd_event_default(&event) < 0 || http_new(event, &http) < 0)
                return 1;
        if (!(f = fopen("/proc/self/smaps_rollup", "re")))
                return 1;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "Rss: %lu", &v) == 1)
                        rss = v;
                else if (sscanf(line, "Private_Clean: %lu", &v) == 1)
                        clean = v;
                else if (sscanf(line, "Private_Dirty: %lu", &v) == 1)
                        dirty = v;
        }
        fclose(f);
        printf("%lu %lu\n", rss, clean + dirty);
        return 0;
}
