/* status.c — the status socket: one request line in, one JSON document out, never blocking.
 *
 * Every connection is non-blocking with a deadline: a client that sends nothing, sends garbage
 * or never reads is dropped after STATUS_CONNECTION_TIMEOUT_USEC without ever stalling the loop.
 * Beyond STATUS_MAX_CONNECTIONS new clients are closed at once. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
        unsigned long long served;
};

struct Conn {
        StatusServer *server;
        int fd;
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

static void conn_free(Conn *c) {
        StatusServer *s = c->server;
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
        (void) src;
        (void) usec;
        conn_free(userdata);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        StatusServer *s = userdata;
        (void) src;
        (void) revents;

        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN)
                                log_debug_errno(errno, "accept() on the status socket failed: %m");
                        return 0;
                }
                if (s->n_conns >= STATUS_MAX_CONNECTIONS) {
                        safe_close(cfd);
                        continue;
                }
                Conn *c = calloc(1, sizeof(Conn));
                if (!c) {
                        safe_close(cfd);
                        return 0;
                }
                c->server = s;
                c->fd = cfd;
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->n_conns++;
                if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, conn_on_io, c) < 0 ||
                    sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC,
                                               STATUS_CONNECTION_TIMEOUT_USEC, 0, conn_on_timeout, c) < 0) {
                        conn_free(c);
                        continue;
                }
                (void) sd_event_source_set_description(c->io, "status-conn");
                (void) sd_event_source_set_description(c->timer, "status-conn-timeout");
        }
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
        while (s->conns)
                conn_free(s->conns);
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
