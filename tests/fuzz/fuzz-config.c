/* fuzz-config.c — the configuration loader (JSON, strict validation) on any text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);
        Config *c = NULL;
        char **errors = NULL;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (config_load_string("fuzz.json", text, &c, &errors) >= 0) {
                for (char **e = errors; e && *e; e++)
                        free(*e);
                free(errors);
                config_free(c);
        }
        free(text);
        return 0;
}
