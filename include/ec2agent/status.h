/* status.h — the status socket: one request line in, one JSON document out, never blocking. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define STATUS_DEFAULT_SOCKET          "/run/ec2agent/status.sock"
#define STATUS_MAX_REQUEST             256
#define STATUS_MAX_CONNECTIONS         2048
#define STATUS_CONNECTION_TIMEOUT_USEC (2 * 1000 * 1000ULL)
#define STATUS_FIRST_BYTE_TIMEOUT_USEC (1 * 1000 * 1000ULL) /* connect to the first byte of a request */
#define STATUS_MAX_PER_UID             32                   /* connections of one user other than root */
#define STATUS_ROOT_RESERVED           128                  /* of STATUS_MAX_CONNECTIONS, root's alone */
#define STATUS_ACCEPT_RETRY_USEC       (100 * 1000ULL)      /* listener paused on EMFILE, at most */
#define STATUS_ACCEPT_BATCH            64                   /* accepts per wake-up */

typedef enum StatusRequest {
        STATUS_REQUEST_STATUS, /* "status" */
        STATUS_REQUEST_INVALID,
        STATUS_REQUEST_INCOMPLETE, /* no newline yet */
} StatusRequest;

/* Parses the LEN bytes a client sent so far. AT_EOF: the client closed its side. A request is
 * one line: "status" (an empty request at EOF means "status" too). Pure, for tests and fuzzing. */
StatusRequest status_parse_request(const char *buf, size_t len, bool at_eof);

/* Produces the JSON reply to a request, a NUL-terminated string the server frees; NULL on ENOMEM. */
typedef char *(*StatusRender)(StatusRequest req, void *userdata);

typedef struct StatusServer StatusServer;

/* Listens on PATH (creating its directory, replacing a stale socket; refusing with -EADDRINUSE
 * when another agent answers there), mode 0660, group "adm" when run as root. A user other than
 * root holds at most STATUS_MAX_PER_UID connections; STATUS_ROOT_RESERVED slots stay root's. */
int status_server_new(sd_event *e, const char *path, StatusRender render, void *userdata,
                      StatusServer **ret);
StatusServer *status_server_free(StatusServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(StatusServer *, status_server_free);

/* Connections open now, served since start, and refused for want of a slot (per-user cap). */
size_t status_server_connections(const StatusServer *s);
unsigned long long status_server_served(const StatusServer *s);
unsigned long long status_server_refused(const StatusServer *s);

/* The socket path for a client or server: OVERRIDE, else $EC2AGENT_SOCKET, else
 * $RUNTIME_DIRECTORY/status.sock, else the default. Returns a new string or NULL on ENOMEM. */
char *status_socket_path(const char *override);
