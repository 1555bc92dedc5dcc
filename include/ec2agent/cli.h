/* cli.h — the client commands: status (socket client and rendering), events. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "util.h"

/* Asks the agent at SOCKET_PATH for its status document, waiting at most TIMEOUT.
 * Returns 0 and the parsed document, or a negative errno (-ECONNREFUSED, -ENOENT,
 * -ETIMEDOUT, -EBADMSG for a reply that is not a JSON object). */
int cli_fetch_status(const char *socket_path, usec_t timeout, cJSON **ret);

/* The agent's reply (LEN bytes, untrusted: anything may listen on a socket path) as a JSON
 * object. Returns 0 and the document, or -EBADMSG. Pure, for tests and fuzzing. */
int cli_parse_status_reply(const char *buf, size_t len, cJSON **ret);

/* Writes the human form of DOC to F: most severe first, lines of at most WIDTH columns,
 * ANSI colour when COLOR. NOW is realtime, for ages. */
void cli_render_status(FILE *f, const cJSON *doc, bool color, unsigned width, usec_t now);

/* The exit code of `status` for DOC: 0 ok, 1 warning, 2 critical, 3 anything else. */
int cli_status_exit_code(const cJSON *doc);

typedef struct EventFilter {
        usec_t since; /* 0: all */
        char **types; /* patterns as in rules ("maintenance" matches maintenance:*); NULL: all */
} EventFilter;

/* Prints the events of STATE_DIR that pass FILTER, oldest first, as JSON lines or as
 * aligned text. Returns the number printed, or a negative errno. */
int cli_print_events(FILE *f, const char *state_dir, const EventFilter *filter, bool json, bool color);

/* Parses --since: RFC 3339, or a duration back from NOW ("2h", "30m", "1d"). */
int cli_parse_since(const char *s, usec_t now, usec_t *ret);
