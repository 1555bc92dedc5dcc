/* status.c — the status socket: one request line in, one JSON document out, never blocking.
 *
 * Every connection is non-blocking with a deadline: a client that sends nothing within
 * STATUS_FIRST_BYTE_TIMEOUT_USEC, sends garbage or never reads is dropped (at the latest after
 * STATUS_CONNECTION_TIMEOUT_USEC) without ever stalling the loop. Slots are shared fairly: a
 * user other than root holds at most STATUS_MAX_PER_UID connections (SO_PEERCRED), and the last
 * STATUS_ROOT_RESERVED of STATUS_MAX_CONNECTIONS are root's, so no local user (an adm member
 * holding idle connections) can starve root's `status` (SPEC §9). Out of descriptors (EMFILE),
 * the listener pauses until a connection closes or STATUS_ACCEPT_RETRY_USEC passes, instead of
 * spinning on a backlog it cannot accept. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ec2agent/log.h"
#include "ec2agent/status.h"
#include "ec2agent/util.h"

typedef struct Conn Conn;

struct StatusServer {
        sd_event *event;
        int fd;
        char *path;
        bool bound; /* PATH is ours to unlink */
        sd_event_source *listen;
        StatusRender render;
        void *userdata;
        Conn *conns;
        size_t n_conns;
        unsigned long long served, refused;
        sd_event_source *accept_retry; /* while the listener is paused (EMFILE) */
        bool accept_paused;
        struct UidCount {
                uid_t uid;
                size_t n;
        } * uids; /* connections per user other than root */
        size_t n_uids;
};

struct Conn {
        StatusServer *server;
        int fd;
        uid_t uid;
        bool got_bytes;
        sd_event_source *io, *timer;
        char req[STATUS_MAX_REQUEST];
        size_t req_len;
        char *out;
        size_t out_len, out_off;
        Conn *next, *prev;
};

StatusRequest status_parse_request(const char *buf, size_t len, bool at_eof) {
        const char *nl = memchr(buf, '\n', len);
        size_t n;

        if (!nl) {
                if (!at_eof)
                        return len >= STATUS_MAX_REQUEST ? STATUS_REQUEST_INVALID
                                                         : STATUS_REQUEST_INCOMPLETE;
                n = len;
        } else
                n = (size_t) (nl - buf);
        if (n > 0 && buf[n - 1] == '\r')
                n--;
        if (n == 0 && at_eof && !nl)
                return STATUS_REQUEST_STATUS;
        if (n == strlen("status") && memcmp(buf, "status", n) == 0)
                return STATUS_REQUEST_STATUS;
        return STATUS_REQUEST_INVALID;
}

static struct UidCount *uid_count(StatusServer *s, uid_t uid, bool create) {
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == uid)
                        return &s->uids[i];
        if (!create)
                return NULL;
        struct UidCount *n = realloc(s->uids, (s->n_uids + 1) * sizeof *n);
        if (!n)
                return NULL;
        s->uids = n;
        s->uids[s->n_uids] = (struct UidCount){ .uid = uid };
        return &s->uids[s->n_uids++];
}

static void listener_resume(StatusServer *s) {
        if (!s->accept_paused)
                return;
        s->accept_paused = false;
        (void) sd_event_source_set_enabled(s->accept_retry, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->listen, SD_EVENT_ON);
}

static void conn_free(Conn *c) {
        StatusServer *s = c->server;
        if (c->uid != 0) {
                struct UidCount *u = uid_count(s, c->uid, false);
                if (u && --u->n == 0)
                        *u = s->uids[--s->n_uids]; /* drop the entry: the table holds users now connected */
        }
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        safe_close(c->fd);
        free(c->out);
        free(c);
        listener_resume(s); /* a descriptor is free again */
}

/* Writes what the socket takes; frees the connection when done or broken. */
static void conn_flush(Conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                (void) sd_event_source_set_io_events(c->io, EPOLLOUT);
                                return;
                        }
                        break; /* the client went away */
                }
                c->out_off += (size_t) k;
        }
        if (c->out_off >= c->out_len)
                c->server->served++;
        conn_free(c);
}

static void conn_answer(Conn *c, StatusRequest req) {
        char *reply = c->server->render(req, c->server->userdata);
        if (!reply) {
                conn_free(c);
                return;
        }
        c->out = reply;
        c->out_len = strlen(reply);
        (void) shutdown(c->fd, SHUT_RD);
        conn_flush(c);
}

static int conn_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        (void) src;
        (void) fd;

        if (c->out) {
                if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                        conn_flush(c);
                return 0;
        }
        for (;;) {
                ssize_t k = recv(c->fd, c->req + c->req_len, sizeof c->req - c->req_len, MSG_DONTWAIT);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return 0;
                if (k < 0) {
                        conn_free(c);
                        return 0;
                }
                if (!c->got_bytes && k > 0) {
                        /* the first byte: from now on the whole-connection deadline holds */
                        c->got_bytes = true;
                        (void) sd_event_source_set_time_relative(
                                c->timer, STATUS_CONNECTION_TIMEOUT_USEC - STATUS_FIRST_BYTE_TIMEOUT_USEC);
                }
                c->req_len += (size_t) k;
                StatusRequest req = status_parse_request(c->req, c->req_len, k == 0);
                if (req != STATUS_REQUEST_INCOMPLETE) {
                        conn_answer(c, req);
                        return 0;
                }
                if (k == 0) /* unreachable: at EOF the request is complete */
                        return 0;
        }
}

static int conn_on_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        Conn *c = userdata;
        char peek;
        (void) usec;

        /* The first-byte deadline and the request can fall due in one busy iteration: a client
         * whose bytes (or EOF) already wait is served, not dropped. */
        if (!c->got_bytes && !c->out && recv(c->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) >= 0) {
                (void) sd_event_source_set_time_relative(src, STATUS_CONNECTION_TIMEOUT_USEC -
                                                                      STATUS_FIRST_BYTE_TIMEOUT_USEC);
                (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
                c->got_bytes = true;
                return conn_on_io(c->io, c->fd, EPOLLIN, c);
        }
        conn_free(c);
        return 0;
}

static int on_accept_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        (void) src;
        (void) usec;
        listener_resume(userdata);
        return 0;
}

/* Out of descriptors or memory: stop listening (the pending client stays in the backlog) until
 * a connection closes or a short timer passes, so the loop does not spin on EPOLLIN. */
static void listener_pause(StatusServer *s, int error) {
        int r;

        if (s->accept_paused)
                return;
        log_debug_errno(error, "accept() on the status socket failed, pausing the listener: %m");
        if (!s->accept_retry) {
                r = sd_event_add_time_relative(s->event, &s->accept_retry, CLOCK_MONOTONIC,
                                               STATUS_ACCEPT_RETRY_USEC, 0, on_accept_retry, s);
                if (r < 0)
                        return; /* cannot pause safely: keep listening */
                (void) sd_event_source_set_description(s->accept_retry, "status-accept-retry");
        } else if (sd_event_source_set_time_relative(s->accept_retry, STATUS_ACCEPT_RETRY_USEC) < 0)
                return;
        (void) sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT);
        (void) sd_event_source_set_enabled(s->listen, SD_EVENT_OFF);
        s->accept_paused = true;
}

/* Whether a client of UID may take another slot now (SPEC §9: capped per user, root's kept). */
static bool slot_for(StatusServer *s, uid_t uid) {
        if (s->n_conns >= STATUS_MAX_CONNECTIONS)
                return false;
        if (uid == 0)
                return true;
        if (s->n_conns >= STATUS_MAX_CONNECTIONS - STATUS_ROOT_RESERVED)
                return false;
        struct UidCount *u = uid_count(s, uid, false);
        return !u || u->n < STATUS_MAX_PER_UID;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        StatusServer *s = userdata;
        (void) src;
        (void) revents;

        /* A bounded batch: a flood of connects cannot keep the loop here. */
        for (unsigned batch = 0; batch < STATUS_ACCEPT_BATCH; batch++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                listener_pause(s, errno);
                        else if (errno != EAGAIN)
                                log_debug_errno(errno, "accept() on the status socket failed: %m");
                        return 0;
                }
                struct ucred cred = { .uid = (uid_t) -1 };
                socklen_t len = sizeof cred;
                if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred)
                        cred.uid = (uid_t) -1; /* unknown: capped as a user, never as root */
                if (!slot_for(s, cred.uid)) {
                        s->refused++;
                        safe_close(cfd);
                        continue;
                }
                struct UidCount *u = cred.uid != 0 ? uid_count(s, cred.uid, true) : NULL;
                Conn *c = cred.uid == 0 || u ? calloc(1, sizeof(Conn)) : NULL;
                if (!c) {
                        safe_close(cfd);
                        return 0;
                }
                if (u)
                        u->n++;
                c->server = s;
                c->fd = cfd;
                c->uid = cred.uid;
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->n_conns++;
                if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, conn_on_io, c) < 0 ||
                    sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC,
                                               STATUS_FIRST_BYTE_TIMEOUT_USEC, 0, conn_on_timeout, c) < 0) {
                        conn_free(c);
                        continue;
                }
                (void) sd_event_source_set_description(c->io, "status-conn");
                (void) sd_event_source_set_description(c->timer, "status-conn-timeout");
        }
        return 0;
}

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        return 0;
}

int status_server_new(sd_event *e, const char *path, StatusRender render, void *userdata,
                      StatusServer **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(status_server_freep) StatusServer *s = NULL;
        int r;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));

        s = calloc(1, sizeof(StatusServer));
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        s->event = sd_event_ref(e);
        s->render = render;
        s->userdata = userdata;
        if (!(s->path = strdup(path)))
                return -ENOMEM;

        r = mkdir_parents(path);
        if (r < 0)
                return r;
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0)
                return negative_errno();

        /* A socket that still answers belongs to a running agent; a dead one is stale. */
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof sa) == 0)
                return -EADDRINUSE;
        (void) unlink(path);

        mode_t old = umask(0117);
        r = bind(s->fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old);
        if (r < 0)
                return negative_errno();
        s->bound = true;
        if (geteuid() == 0) {
                struct group *g = getgrnam("adm");
                if (g && chown(path, 0, g->gr_gid) < 0)
                        log_debug_errno(errno, "Cannot give %s to group adm: %m", path);
        }
        if (chmod(path, 0660) < 0)
                return negative_errno();
        if (listen(s->fd, 128) < 0)
                return negative_errno();
        r = sd_event_add_io(e, &s->listen, s->fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->listen, "status-listen");
        *ret = TAKE_PTR(s);
        return 0;
}

StatusServer *status_server_free(StatusServer *s) {
        if (!s)
                return NULL;
        s->accept_paused = false; /* nothing to resume while freeing */
        while (s->conns)
                conn_free(s->conns);
        sd_event_source_disable_unref(s->accept_retry);
        free(s->uids);
        sd_event_source_disable_unref(s->listen);
        safe_close(s->fd);
        if (s->bound)
                (void) unlink(s->path);
        free(s->path);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

size_t status_server_connections(const StatusServer *s) {
        return s->n_conns;
}

unsigned long long status_server_served(const StatusServer *s) {
        return s->served;
}

unsigned long long status_server_refused(const StatusServer *s) {
        return s->refused;
}

char *status_socket_path(const char *override) {
        const char *e;
        if (override)
                return strdup(override);
        if ((e = getenv("EC2AGENT_SOCKET")) && *e)
                return strdup(e);
        _cleanup_free_ char *runtime = env_first_directory("RUNTIME_DIRECTORY");
        if (runtime)
                return path_join(runtime, "status.sock");
        return errno == ENOMEM ? NULL : strdup(STATUS_DEFAULT_SOCKET);
}
