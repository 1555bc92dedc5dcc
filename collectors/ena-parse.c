/* ena-parse.c — the ethtool statistics table (ETHTOOL_GSTRINGS) searched by name, and the ENA
 * allowance counters picked from ETHTOOL_GSTATS by it.
 *
 * A table is N entries of ETH_GSTRING_LEN (32) bytes, each a name NUL-padded to 32 (a name of
 * exactly 32 bytes has no NUL), as the ENA driver's ena_get_strings() writes them:
 *   "tx_timeout", "suspend", …, "bw_in_allowance_exceeded", "bw_out_allowance_exceeded",
 *   "pps_allowance_exceeded", "conntrack_allowance_exceeded", "linklocal_allowance_exceeded",
 *   "conntrack_allowance_available", "queue_0_tx_cnt", … */
#include <limits.h>
#include <string.h>

#include "ec2agent/ena.h"

const char *const ena_stat_names[_ENA_STAT_MAX] = {
        [ENA_BW_IN] = "bw_in_allowance_exceeded",
        [ENA_BW_OUT] = "bw_out_allowance_exceeded",
        [ENA_PPS] = "pps_allowance_exceeded",
        [ENA_CONNTRACK] = "conntrack_allowance_exceeded",
        [ENA_LINKLOCAL] = "linklocal_allowance_exceeded",
        [ENA_CONNTRACK_AVAILABLE] = "conntrack_allowance_available",
};

size_t ena_strings_index(const char *table, size_t n_strings, const char *const *names, size_t n_names,
                         int *ret_index) {
        size_t found = 0;

        for (size_t j = 0; j < n_names; j++)
                ret_index[j] = -1;
        for (size_t i = 0; table && i < n_strings && i < (size_t) INT_MAX; i++) {
                const char *e = table + i * ENA_STRING_LEN;
                size_t len = strnlen(e, ENA_STRING_LEN);
                for (size_t j = 0; j < n_names; j++)
                        if (ret_index[j] < 0 && strlen(names[j]) == len && memcmp(names[j], e, len) == 0) {
                                ret_index[j] = (int) i;
                                found++;
                                break;
                        }
        }
        return found;
}

void ena_stats_pick(const int index[_ENA_STAT_MAX], const uint64_t *values, size_t n_values, EnaStats *ret) {
        *ret = (EnaStats){};
        for (size_t j = 0; j < _ENA_STAT_MAX; j++)
                if (index[j] >= 0 && (size_t) index[j] < n_values) {
                        ret->have[j] = true;
                        ret->value[j] = values[index[j]];
                }
}
