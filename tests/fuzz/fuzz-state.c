/* fuzz-state.c — the loaders of the state directory's files on any bytes; FUZZ_STATE picks one:
 * boot.json, pstore-seen.json or a publish spool line (meson builds one target each). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/boot.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *t = (const char *) data;

#if FUZZ_STATE == 0
        cJSON *o = cJSON_ParseWithLength(t, size);
        char id[BOOT_ID_LEN + 1];
        PreviousBoot prev;
        if (boot_state_from_json(o, id, &prev) == 0 &&
            (strlen(id) != BOOT_ID_LEN || strlen(prev.crash_log) >= sizeof prev.crash_log))
                abort();
        cJSON_Delete(o);
#elif FUZZ_STATE == 1
        cJSON *seen = NULL;
        if (pstore_seen_parse(t, size, &seen) == 0 &&
            (!cJSON_IsArray(seen) || cJSON_GetArraySize(seen) > 256))
                abort();
        cJSON_Delete(seen);
#else
        /* what the spool reader accepts, the request builder takes */
        cJSON *d = NULL;
        if (publish_parse_datum(t, size, &d) == 0) {
                Buf b;
                const cJSON *one = d;
                buf_init(&b, 1024 * 1024);
                if (publish_build_form(&b, "CWAgent", &one, 1, false) < 0)
                        abort();
                buf_done(&b);
                cJSON_Delete(d);
        }
#endif
        return 0;
}
