/* test-status.c — the request parser, and a server that no client can stall. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ec2agent/status.h"
#include "ec2agent/util.h"
#include "tap.h"

static void test_parse(void) {
        static const struct {
                const char *in;
                bool eof;
                StatusRequest want;
        } cases[] = {
                { "status\n", false, STATUS_REQUEST_STATUS },
                { "status\r\n", false, STATUS_REQUEST_STATUS },
                { "status", true, STATUS_REQUEST_STATUS },
                { "", true, STATUS_REQUEST_STATUS },
                { "stat", false, STATUS_REQUEST_INCOMPLETE },
                { "", false, STATUS_REQUEST_INCOMPLETE },
                { "statusx\n", false, STATUS_REQUEST_INVALID },
                { "GET / HTTP/1.1\r\n", false, STATUS_REQUEST_INVALID },
                { "\n", false, STATUS_REQUEST_INVALID },
                { "status\nstatus\n", false, STATUS_REQUEST_STATUS },
                { "\x01\x02", true, STATUS_REQUEST_INVALID },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                if (status_parse_request(cases[i].in, strlen(cases[i].in), cases[i].eof) != cases[i].want)
                        TAP_FAIL("case %zu \"%s\"", i, cases[i].in);

        char big[STATUS_MAX_REQUEST];
        memset(big, 'a', sizeof big);
        ASSERT_INT(status_parse_request(big, sizeof big, false), STATUS_REQUEST_INVALID);
}

typedef struct Fixture {
        size_t reply_size;
} Fixture;

static char *render(StatusRequest req, void *userdata) {
        Fixture *f = userdata;
        if (req != STATUS_REQUEST_STATUS)
                return strdup("{\"error\":\"unknown request\"}\n");
        char *s = malloc(f->reply_size + 1);
        if (!s)
                return NULL;
        memset(s, 'x', f->reply_size);
        memcpy(s, "{\"ok\":", 6);
        s[f->reply_size] = 0;
        return s;
}

static int client(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        memcpy(sa.sun_path, path, strlen(path));
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                abort();
        return fd;
}

/* Runs the loop until FD has something to read (or EOF), for at most 3 s. */
static ssize_t pump_read(sd_event *e, int fd, char *buf, size_t n) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + 3 * USEC_PER_SEC;
        while (now_usec(CLOCK_MONOTONIC) < end) {
                ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
                if (k >= 0 || errno != EAGAIN)
                        return k;
                (void) sd_event_run(e, 10 * USEC_PER_MSEC);
        }
        return -2;
}

static void test_no_client_stalls(void) {
        char path[] = "/tmp/ec2agent-status-XXXXXX";
        _cleanup_free_ char *sock = NULL;
        sd_event *e = NULL;
        StatusServer *s = NULL;
        Fixture f = { .reply_size = 100 };
        char buf[4096];

        ASSERT_TRUE(mkdtemp(path) != NULL);
        ASSERT_TRUE((sock = path_join(path, "run/status.sock")) != NULL);
        ASSERT_INT(sd_event_new(&e), 0);
        ASSERT_INT(status_server_new(e, sock, render, &f, &s), 0);

        /* A second server on the same live socket is refused. */
        StatusServer *s2 = NULL;
        ASSERT_INT(status_server_new(e, sock, render, &f, &s2), -EADDRINUSE);

        int idle = client(sock); /* connects and sends nothing */
        int slow = client(sock); /* asks for a huge reply and never reads */
        f.reply_size = 16 * 1024 * 1024;
        ASSERT_INT(send(slow, "status\n", 7, 0), 7);
        for (int i = 0; i < 20; i++)
                (void) sd_event_run(e, 5 * USEC_PER_MSEC);
        f.reply_size = 100;

        int good = client(sock);
        ASSERT_INT(send(good, "status\n", 7, 0), 7);
        ssize_t k = pump_read(e, good, buf, sizeof buf);
        ASSERT_INT(k, 100);
        ASSERT_TRUE(memcmp(buf, "{\"ok\":", 6) == 0);

        int bad = client(sock);
        ASSERT_INT(send(bad, "\x16\x03\x01 garbage\n", 12, 0), 12);
        k = pump_read(e, bad, buf, sizeof buf);
        ASSERT_TRUE(k > 0);
        buf[k] = 0;
        ASSERT_TRUE(strstr(buf, "error") != NULL);

        /* The idle client is dropped after the deadline, and so is the one that never reads. */
        ASSERT_INT(pump_read(e, idle, buf, sizeof buf), 0);
        usec_t end = now_usec(CLOCK_MONOTONIC) + 3 * USEC_PER_SEC;
        while (status_server_connections(s) > 0 && now_usec(CLOCK_MONOTONIC) < end)
                (void) sd_event_run(e, 10 * USEC_PER_MSEC);
        ASSERT_INT(status_server_connections(s), 0);
        ASSERT_INT(status_server_served(s), 2);

        close(idle);
        close(slow);
        close(good);
        close(bad);
        status_server_free(s);
        ASSERT_TRUE(access(sock, F_OK) < 0); /* the socket is removed */
        sd_event_unref(e);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", path);
        ASSERT_INT(system(cmd), 0);
}

static void test_socket_path(void) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        unsetenv("EC2AGENT_SOCKET");
        unsetenv("RUNTIME_DIRECTORY");
        ASSERT_STR((a = status_socket_path(NULL)), STATUS_DEFAULT_SOCKET);
        setenv("RUNTIME_DIRECTORY", "/run/ec2agent:/run/other", 1);
        ASSERT_STR((b = status_socket_path(NULL)), "/run/ec2agent/status.sock");
        setenv("EC2AGENT_SOCKET", "/tmp/e.sock", 1);
        ASSERT_STR((c = status_socket_path(NULL)), "/tmp/e.sock");
        ASSERT_STR((d = status_socket_path("/x.sock")), "/x.sock");
}

TAP_MAIN(T(test_parse), T(test_no_client_stalls), T(test_socket_path))
