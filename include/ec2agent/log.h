/* log.h — logging to the journal under systemd, to stderr otherwise. */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Chooses the sink: the journal when stderr is systemd's journal stream, else stderr.
 * LEVEL is the maximum syslog priority printed. Called once at start. */
void log_setup(int level);
int log_get_max_level(void);
/* Parses "debug", "info", … or a number 0–7. Returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs FMT at LEVEL; when ERROR is non-zero, errno is set to it for %m. MESSAGE_ID may be
 * NULL. Returns -abs(ERROR), so callers can "return log_error_errno(r, …)". */
int log_internal(int level, int error, const char *message_id, const char *fmt, ...) _printf_(4, 5);

#define log_full_errno(level, error, ...)                                                       \
        ({                                                                                      \
                int _l = (level), _e = (error);                                                 \
                _l <= log_get_max_level() ? log_internal(_l, _e, NULL, __VA_ARGS__) : -abs(_e); \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)            log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)             log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)           log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...)          log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)            log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom()                 log_error_errno(-ENOMEM, "Out of memory.")

/* Sends one structured record: MESSAGE, PRIORITY, MESSAGE_ID and the extra "KEY=value"
 * fields in FIELDS (NULL-terminated, may be NULL). On stderr only MESSAGE is printed. MESSAGE and
 * every field's value go through utf8_escape_str(UTF8_ESCAPE_LOG), the one way a value leaves for
 * sd_notify, a journal field, stderr or events.jsonl (utf8.h): CR, LF and every other control
 * byte become \xNN, invalid UTF-8 U+FFFD, so no value can start a line or a field of its own or
 * be refused as text. Kernel record text (kmsg.h) is already so and goes out as it is. */
void log_record(int level, const char *message_id, const char *message, const char *const *fields);
