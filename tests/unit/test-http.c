/* test-http.c — HTTP on the loop against a local server: concurrency, timeouts, limits, errors. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "ec2agent/http.h"
#include "tap.h"

/* ---- a tiny HTTP/1.1 server on 127.0.0.1, one thread per connection ---- */

static void *serve_one(void *arg) {
        int fd = (int) (intptr_t) arg;
        char req[65536];
        size_t len = 0;
        char *end = NULL;

        while (len < sizeof req - 1) {
                ssize_t k = recv(fd, req + len, sizeof req - 1 - len, 0);
                if (k <= 0)
                        goto out;
                len += (size_t) k;
                req[len] = 0;
                if ((end = strstr(req, "\r\n\r\n"))) {
                        const char *cl = strcasestr(req, "content-length:");
                        size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
                        if (len >= (size_t) (end + 4 - req) + body)
                                break;
                }
        }
        char path[64] = "";
        if (sscanf(req, "%*s %63s", path) != 1) /* test code: the server is ours */
                goto out;

        char head[256];
        if (strcmp(path, "/drop") == 0)
                goto out;
        if (strcmp(path, "/slow") == 0)
                sleep(2);
        if (strcmp(path, "/big") == 0) {
                static char big[100000];
                memset(big, 'b', sizeof big);
                int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                                 sizeof big);
                (void) !send(fd, head, (size_t) n, MSG_NOSIGNAL);
                (void) !send(fd, big, sizeof big, MSG_NOSIGNAL);
                goto out;
        }
        const char *body = strcmp(path, "/echo") == 0 ? req : strcmp(path, "/404") == 0 ? "nope" : "hello";
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         strcmp(path, "/404") == 0 ? "404 Not Found" : "200 OK", strlen(body));
        (void) !send(fd, head, (size_t) n, MSG_NOSIGNAL);
        (void) !send(fd, body, strlen(body), MSG_NOSIGNAL);
out:
        close(fd);
        return NULL;
}

static void *server_main(void *arg) {
        int lfd = (int) (intptr_t) arg;
        for (;;) {
                int fd = accept(lfd, NULL, NULL);
                pthread_t t;
                if (fd < 0)
                        return NULL;
                if (pthread_create(&t, NULL, serve_one, (void *) (intptr_t) fd) == 0)
                        pthread_detach(t);
                else
                        close(fd);
        }
}

static int server_ports[8], n_server_ports; /* every test server's, to tell its sockets apart */

static int start_server(int *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof sa;
        pthread_t t;
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 64) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0)
                abort();
        *ret_port = ntohs(sa.sin_port);
        if (n_server_ports < 8)
                server_ports[n_server_ports++] = *ret_port;
        if (pthread_create(&t, NULL, server_main, (void *) (intptr_t) lfd) != 0)
                abort();
        pthread_detach(t);
        return lfd;
}

/* ---- the client side ---- */

typedef struct Result {
        bool done;
        int order;
        int error;
        long status;
        char body[512];
        size_t body_len;
} Result;

static int finished;

static void on_done(const HttpResponse *r, void *userdata) {
        Result *res = userdata;
        res->done = true;
        res->order = finished++;
        res->error = r->error;
        res->status = r->status;
        res->body_len = r->body_len;
        snprintf(res->body, sizeof res->body, "%.*s", (int) MIN(r->body_len, sizeof res->body - 1), r->body);
}

static void run_until(sd_event *e, Result *results, size_t n, usec_t max) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;
        for (;;) {
                bool all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && results[i].done;
                if (all || now_usec(CLOCK_MONOTONIC) > end)
                        return;
                (void) sd_event_run(e, 50 * USEC_PER_MSEC);
        }
}

static void test_requests(void) {
        sd_event *e = NULL;
        Http *h = NULL;
        int port;
        char url[7][128];
        Result res[7] = {};
        static const char *const paths[] = { "/ok", "/slow", "/big", "/404", "/drop", "/echo", "/ok" };

        start_server(&port);
        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(http_new(e, &h), 0);
        for (size_t i = 0; i < 7; i++) {
                snprintf(url[i], sizeof url[i], "http://127.0.0.1:%d%s", port, paths[i]);
                const char *headers[] = { "X-Test: 1", NULL };
                HttpRequest req = { .method = i == 5 ? "POST" : "GET",
                                    .url = url[i],
                                    .timeout_ms = 500,
                                    .headers = headers };
                if (i == 5) {
                        req.body = "Action=PutMetricData&Version=2010-08-01";
                        req.body_len = strlen(req.body);
                        req.aws_sigv4 = "aws:amz:eu-west-1:monitoring";
                        req.aws_userpwd = "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
                }
                ASSERT_INT(http_submit(h, &req, on_done, &res[i], NULL), 0);
                ASSERT_FALSE(res[i].done); /* never called from inside submit */
        }
        ASSERT_INT(http_pending(h), 7);
        run_until(e, res, 7, 5 * USEC_PER_SEC);

        ASSERT_TRUE(res[0].done && res[0].error == 0 && res[0].status == 200);
        ASSERT_STR(res[0].body, "hello");
        ASSERT_INT(res[1].error, -ETIMEDOUT); /* /slow: the timeout, not 2 s of waiting */
        ASSERT_INT(res[1].order, 6);          /* and it did not hold anything else up */
        ASSERT_INT(res[2].error, -EFBIG);     /* 100 000 bytes > the 64 KiB default */
        ASSERT_INT(res[3].error, 0);
        ASSERT_INT(res[3].status, 404);
        ASSERT_STR(res[3].body, "nope");
        ASSERT_INT(res[4].error, -ECONNRESET); /* closed without an answer */
        ASSERT_INT(res[5].error, 0);
        ASSERT_TRUE(strncmp(res[5].body, "POST /echo HTTP/1.1\r\n", 21) == 0);
        ASSERT_TRUE(strstr(res[5].body, "X-Test: 1\r\n") != NULL);
        ASSERT_TRUE(strstr(res[5].body, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") != NULL);
        ASSERT_TRUE(strstr(res[5].body, "/eu-west-1/monitoring/aws4_request") != NULL);
        ASSERT_TRUE(strstr(res[5].body, "\r\n\r\nAction=PutMetricData&Version=2010-08-01") != NULL);
        ASSERT_INT(res[6].status, 200);
        ASSERT_INT(http_pending(h), 0);
        http_free(h);
        sd_event_unref(e);
}

static void test_refused_and_cancel(void) {
        sd_event *e = NULL;
        Http *h = NULL;
        HttpCall *call = NULL;
        Result res[2] = {};

        /* A port nobody listens on: bind one, note it, close it. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_INT(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        ASSERT_INT(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
        close(fd);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));

        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(http_new(e, &h), 0);
        HttpRequest req = { .method = "PUT", .url = url, .timeout_ms = 1000 };
        ASSERT_INT(http_submit(h, &req, on_done, &res[0], NULL), 0);
        ASSERT_INT(http_submit(h, &req, on_done, &res[1], &call), 0);
        http_call_cancel(call);
        ASSERT_INT(http_pending(h), 1);
        run_until(e, res, 1, 3 * USEC_PER_SEC);
        ASSERT_INT(res[0].error, -ECONNREFUSED);
        ASSERT_FALSE(res[1].done);

        /* Freeing with calls in flight cancels them without callbacks. */
        ASSERT_INT(http_submit(h, &req, on_done, &res[1], NULL), 0);
        http_free(h);
        ASSERT_FALSE(res[1].done);
        sd_event_unref(e);
}

/* Every descriptor of the process that is not the test server's own (its listener, and the
 * connections it accept()s without SOCK_CLOEXEC) is close-on-exec: a step the agent starts
 * inherits no curl socket (issue 15 item 11; SPEC §9). Returns how many were checked. */
static int check_cloexec(int server_port) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int checked = 0;
        bool client_seen = false;

        ASSERT_TRUE(d != NULL);
        while ((de = readdir(d))) {
                uint64_t fd;
                char link[64] = "", target[64];
                if (parse_u64(de->d_name, INT32_MAX, &fd) < 0 || (int) fd == dirfd(d) || fd <= 2)
                        continue;
                snprintf(link, sizeof link, "/proc/self/fd/%d", (int) fd);
                ssize_t n = readlink(link, target, sizeof target - 1);
                if (n <= 0 || strncmp(target, "socket:", 7) != 0)
                        continue;
                struct sockaddr_in local = {}, peer = {};
                socklen_t sl = sizeof local, pl = sizeof peer;
                (void) getsockname((int) fd, (struct sockaddr *) &local, &sl);
                (void) getpeername((int) fd, (struct sockaddr *) &peer, &pl);
                bool server_side = false;
                for (int i = 0; i < n_server_ports; i++)
                        server_side = server_side || (local.sin_family == AF_INET &&
                                                      ntohs(local.sin_port) == server_ports[i]);
                if (server_side)
                        continue; /* the test server's side */
                if (local.sin_family == AF_INET && ntohs(peer.sin_port) == server_port)
                        client_seen = true;
                if (!(fcntl((int) fd, F_GETFD) & FD_CLOEXEC))
                        TAP_FAIL("fd %d (%.*s, local port %d, peer port %d, family %d) is not close-on-exec",
                                 (int) fd, (int) n, target, ntohs(local.sin_port), ntohs(peer.sin_port),
                                 local.sin_family);
                checked++;
        }
        closedir(d);
        ASSERT_TRUE(client_seen); /* the connection to the server was among them */
        return checked;
}

static void test_sockets_are_cloexec(void) {
        sd_event *e = NULL;
        Http *h = NULL;
        int port;
        char url[128];
        Result res = {};

        int lfd = start_server(&port);
        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(http_new(e, &h), 0);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", port);
        HttpRequest req = { .method = "GET", .url = url, .timeout_ms = 1500 };
        ASSERT_INT(http_submit(h, &req, on_done, &res, NULL), 0);
        /* until the connection is up: the server thread sleeps 2 s in /slow */
        for (int i = 0; i < 40; i++)
                (void) sd_event_run(e, 10 * USEC_PER_MSEC);
        ASSERT_FALSE(res.done);
        ASSERT_TRUE(check_cloexec(port) >= 1);
        http_free(h);
        sd_event_unref(e);
        (void) lfd;
}

TAP_MAIN(T(test_requests), T(test_refused_and_cancel), T(test_sockets_are_cloexec))
