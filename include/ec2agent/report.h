/* report.h — `ec2agent report`: the diagnostic bundle for a support case (SPEC §8). */
#pragma once

typedef struct ReportOptions {
        const char *output; /* a path; "-" writes text to stdout; NULL: a tar.gz in the cwd */
        const char *state_dir;
        const char *socket_path;
        const char *config_path; /* NULL: the default */
        const char *pstore_path; /* NULL: the configured one */
} ReportOptions;

/* Gathers the bundle and writes it. Returns 0 or a negative errno (logged). */
int report_write(const ReportOptions *o);
