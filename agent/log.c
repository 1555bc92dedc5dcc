/* log.c — logging to the journal under systemd, to stderr otherwise. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "ec2agent/log.h"
#include "ec2agent/utf8.h"
#include "ec2agent/util.h"

/* Read-only after log_setup(): the only globals of the program besides constants. */
static int log_max_level = LOG_INFO;
static bool log_to_journal = false;

/* systemd sets JOURNAL_STREAM=DEV:INODE when stderr is connected to the journal. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char *end;

        if (!e || fstat(STDERR_FILENO, &st) < 0)
                return false;
        dev = strtoull(e, &end, 10);
        if (*end != ':')
                return false;
        ino = strtoull(end + 1, &end, 10);
        return *end == 0 && dev == (unsigned long long) st.st_dev && ino == (unsigned long long) st.st_ino;
}

void log_setup(int level) {
        log_max_level = level;
        log_to_journal = stderr_is_journal();
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = { "emerg",   "alert",  "crit", "err",
                                             "warning", "notice", "info", "debug" };
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int) i;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        if (parse_u64(s, 7, &v) == 0)
                return (int) v;
        return -EINVAL;
}

void log_record(int level, const char *message_id, const char *message, const char *const *fields) {
        _cleanup_free_ char *escaped = NULL;
        const char *clean = utf8_escape_str(message, UTF8_ESCAPE_LOG, &escaped);

        if (!clean)
                return;
        if (!log_to_journal) {
                fprintf(stderr, "ec2agent: %s\n", clean);
                return;
        }

        char prio[32], mid[64];
        struct iovec iov[16];
        char *owned[ELEMENTSOF(iov)] = {};
        size_t n = 0, nf = 0;
        while (fields && fields[nf] && nf < ELEMENTSOF(iov) - 3)
                nf++;
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "MESSAGE=%s", clean) < 0)
                return;
        snprintf(prio, sizeof prio, "PRIORITY=%i", level);
        iov[n++] = (struct iovec){ msg, strlen(msg) };
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        if (message_id) {
                snprintf(mid, sizeof mid, "MESSAGE_ID=%s", message_id);
                iov[n++] = (struct iovec){ mid, strlen(mid) };
        }
        for (size_t i = 0; i < nf; i++) {
                const char *f = utf8_escape_str(fields[i], UTF8_ESCAPE_LOG, &owned[n]);
                if (f) /* a field that cannot be escaped (ENOMEM) is left out, never sent raw */
                        iov[n++] = (struct iovec){ (void *) f, strlen(f) };
        }
        (void) sd_journal_sendv(iov, (int) n);
        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                free(owned[i]);
}

int log_internal(int level, int error, const char *message_id, const char *fmt, ...) {
        char msg[2048];
        va_list ap;

        error = abs(error);
        errno = error; /* for %m */
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_record(level, message_id, msg, NULL);
        return -error;
}
