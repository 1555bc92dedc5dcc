/* fuzz-nitro.c — the Nitro parsers on any bytes: FUZZ_NITRO 0 the EBS log page 0xD0 and a serial as a
 * volume id, 1 the ethtool strings table searched for the ENA names and the values picked by it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/ebs.h"
#include "ec2agent/ena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
#if FUZZ_NITRO == 0
        EbsLogPage p;
        char serial[64], id[EBS_NAME_MAX];
        int r = ebs_log_page_parse(data, size, &p);

        if (r == 0 && (size < 96 || (data[0] | data[1] << 8 | data[2] << 16 | (uint32_t) data[3] << 24) !=
                                            EBS_LOG_PAGE_MAGIC))
                abort();
        size_t n = size < sizeof serial - 1 ? size : sizeof serial - 1;
        memcpy(serial, data, n);
        serial[n] = 0;
        if (ebs_volume_id_from_serial(serial, id, sizeof id) == 0 &&
            (strncmp(id, "vol-", 4) != 0 || !memchr(id, 0, sizeof id) || strlen(id) < 5))
                abort();
#else
        size_t n = size / ENA_STRING_LEN;
        int idx[_ENA_STAT_MAX];
        uint64_t values[64] = { 0 };
        EnaStats s;
        size_t found = ena_strings_index((const char *) data, n, ena_stat_names, _ENA_STAT_MAX, idx);

        if (found > _ENA_STAT_MAX)
                abort();
        for (size_t j = 0; j < _ENA_STAT_MAX; j++)
                if (idx[j] >= (int) n ||
                    (idx[j] >= 0 && strncmp((const char *) data + idx[j] * ENA_STRING_LEN, ena_stat_names[j],
                                            ENA_STRING_LEN) != 0))
                        abort();
        ena_stats_pick(idx, values, n < 64 ? n : 64, &s);
#endif
        return 0;
}
