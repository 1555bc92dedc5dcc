/* fuzz-imds-role.c — iam/security-credentials/: the role list (imds_parse_role, whose result is
 * appended to an IMDS path) and the credential document (imds_parse_credentials); the first
 * byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char role[IMDS_ID_MAX];
        AwsCredentials cred;
        char *body;

        if (size < 1)
                return 0;
        body = malloc(size); /* NUL-terminated, as the HTTP layer hands bodies over */
        if (!body)
                return 0;
        memcpy(body, data + 1, size - 1);
        body[size - 1] = 0;
        if (data[0] & 1) {
                if (imds_parse_role(body, size - 1, role) == 0) {
                        /* what reaches the URL: a short name of IAM's characters, no dot segment */
                        size_t n = strlen(role);
                        if (n == 0 || n > 64 ||
                            strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,."
                                         "@_-") != n ||
                            strcmp(role, ".") == 0 || strcmp(role, "..") == 0)
                                abort();
                }
        } else if (imds_parse_credentials(body, size - 1, &cred) == 0) {
                if (!cred.access_key_id[0] || !cred.secret_access_key[0] ||
                    cred.expiration > RFC3339_MAX_USEC)
                        abort();
        }
        free(body);
        return 0;
}
