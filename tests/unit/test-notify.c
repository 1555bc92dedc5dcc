/* test-notify.c — posting alerts against a local server: exact bodies, a 4xx not retried, a 503
 * retried, PagerDuty's incident remembered across a restart and resolved. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/notify.h"
#include "tap.h"

/* ---- a server on 127.0.0.1 answering each request with the next scripted status ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int script[16], n_script;                /* statuses to answer, in order; then 200 */
static const char *refusal = "invalid_payload"; /* the body of a 4xx */
static char bodies[16][4096];
static int n_requests;

static void *serve_one(void *arg) {
        int fd = (int) (intptr_t) arg;
        char req[8192];
        size_t len = 0;
        char *end;

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
        end = strstr(req, "\r\n\r\n");
        pthread_mutex_lock(&lock);
        int status = n_requests < n_script ? script[n_requests] : 200;
        if (n_requests < 16 && end)
                snprintf(bodies[n_requests], sizeof bodies[0], "%s", end + 4);
        n_requests++;
        pthread_mutex_unlock(&lock);
        const char *body = status >= 400 && status < 500 ? refusal : "ok";
        char head[256];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                         strlen(body));
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

static int server_port;

static void start_server(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof sa;
        pthread_t t;
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 64) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0 ||
            pthread_create(&t, NULL, server_main, (void *) (intptr_t) lfd) != 0)
                abort();
        pthread_detach(t);
        server_port = ntohs(sa.sin_port);
}

static void reset(const int *statuses, int n) {
        pthread_mutex_lock(&lock);
        if (n > 0) /* memcpy from NULL is undefined even for 0 bytes */
                memcpy(script, statuses, (size_t) n * sizeof(int));
        n_script = n;
        n_requests = 0;
        pthread_mutex_unlock(&lock);
}

static int requests(void) {
        pthread_mutex_lock(&lock);
        int n = n_requests;
        pthread_mutex_unlock(&lock);
        return n;
}

/* ---- the client ---- */

typedef struct Result {
        bool done;
        int r;
        char error[NOTIFY_ERROR_MAX];
} Result;

static void on_done(int r, const char *error, void *userdata) {
        Result *res = userdata;
        res->done = true;
        res->r = r;
        snprintf(res->error, sizeof res->error, "%s", error ?: "");
}

static void run_until(sd_event *e, bool *flag, usec_t max) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;
        while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
                (void) sd_event_run(e, 50 * USEC_PER_MSEC);
}

static char *tmpdir(void) {
        char t[] = "/tmp/test-notify.XXXXXX";
        char *d = mkdtemp(t);
        if (!d)
                TAP_FAIL("mkdtemp");
        return strdup(d);
}

static AlertFacts facts(void) {
        return (AlertFacts){ .instance_id = "i-0abc",
                             .instance_type = "m7g.large",
                             .availability_zone = "eu-west-1a",
                             .event = "metric",
                             .summary = "mem_used_percent above 95",
                             .rule = "mem",
                             .severity = "warning" };
}

typedef struct Env {
        sd_event *e;
        Http *h;
        Notifier *n;
        char *dir;
        char url[128];
} Env;

static void env_open(Env *v, const char *path) {
        if (!v->e && (sd_event_new(&v->e) < 0 || http_new(v->e, &v->h) < 0))
                TAP_FAIL("loop");
        if (!v->dir)
                v->dir = tmpdir();
        snprintf(v->url, sizeof v->url, "http://127.0.0.1:%d%s", server_port, path);
        ASSERT_INT(notifier_new(v->e, v->h, v->dir, &v->n), 0);
}

static void env_close(Env *v) {
        v->n = notifier_free(v->n);
        v->h = http_free(v->h);
        v->e = sd_event_unref(v->e);
        free(v->dir);
}

static void test_slack_ok_and_target(void) {
        Env v = {};
        Result res = {};
        NotifyCall *c;
        char text[128];

        env_open(&v, "/services/T000/B000/XXXXSECRET");
        reset(NULL, 0);
        AlertFacts f = facts();
        NotifyTarget t = { .format = ALERT_SLACK, .url = v.url };
        ASSERT_INT(notifier_post(v.n, &t, &f, 0, NULL, on_done, &res, &c), 0);
        ASSERT_FALSE(res.done); /* never from inside the call */
        run_until(v.e, &res.done, 10 * USEC_PER_SEC);
        ASSERT_TRUE(res.done);
        ASSERT_INT(res.r, 0);
        ASSERT_INT(requests(), 1);
        _cleanup_free_ char *want = NULL;
        ASSERT_INT(alert_payload(ALERT_SLACK, &f, NULL, &want), 0);
        ASSERT_STR(bodies[0], want);
        notify_target_text(&t, text, sizeof text);
        ASSERT_TRUE(strstr(text, "slack http://127.0.0.1:") == text);
        ASSERT_TRUE(!strstr(text, "SECRET"));
        env_close(&v);
}

static void test_refusal_not_retried(void) {
        Env v = {};
        Result res = {};
        NotifyCall *c;
        const int s[] = { 400, 200 };

        env_open(&v, "/hook/SECRET");
        reset(s, 2);
        AlertFacts f = facts();
        NotifyTarget t = { .format = ALERT_TEAMS, .url = v.url };
        ASSERT_INT(notifier_post(v.n, &t, &f, 0, NULL, on_done, &res, &c), 0);
        run_until(v.e, &res.done, 10 * USEC_PER_SEC);
        ASSERT_TRUE(res.done);
        ASSERT_INT(res.r, -EREMOTEIO);
        ASSERT_STR(res.error, "HTTP 400: invalid_payload");
        /* no second request comes, even given the time of a retry */
        usec_t until = now_usec(CLOCK_MONOTONIC) + 2500 * USEC_PER_MSEC;
        while (now_usec(CLOCK_MONOTONIC) < until)
                (void) sd_event_run(v.e, 100 * USEC_PER_MSEC);
        ASSERT_INT(requests(), 1);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(notifier_status(v.n, doc), 0);
        _cleanup_free_ char *st = cJSON_PrintUnformatted(doc);
        ASSERT_TRUE(strstr(st, "\"refused\":1"));
        ASSERT_TRUE(!strstr(st, "SECRET"));
        env_close(&v);
}

static void test_retried_then_ok(void) {
        Env v = {};
        Result res = {};
        NotifyCall *c;
        const int s[] = { 503, 429 };

        env_open(&v, "/hook");
        reset(s, 2);
        AlertFacts f = facts();
        NotifyTarget t = { .format = ALERT_SLACK, .url = v.url };
        ASSERT_INT(notifier_post(v.n, &t, &f, 0, NULL, on_done, &res, &c), 0);
        run_until(v.e, &res.done, 20 * USEC_PER_SEC);
        ASSERT_TRUE(res.done);
        ASSERT_INT(res.r, 0);
        ASSERT_INT(requests(), 3);
        ASSERT_STR(bodies[0], bodies[2]);
        env_close(&v);
}

static void test_cancel(void) {
        Env v = {};
        Result res = {};
        NotifyCall *c;
        const int s[] = { 503, 503, 503, 503 };

        env_open(&v, "/hook");
        reset(s, 4);
        AlertFacts f = facts();
        NotifyTarget t = { .format = ALERT_SLACK, .url = v.url };
        ASSERT_INT(notifier_post(v.n, &t, &f, 0, NULL, on_done, &res, &c), 0);
        usec_t until = now_usec(CLOCK_MONOTONIC) + 300 * USEC_PER_MSEC;
        while (now_usec(CLOCK_MONOTONIC) < until)
                (void) sd_event_run(v.e, 50 * USEC_PER_MSEC);
        ASSERT_TRUE(strstr(notify_call_note(c), "HTTP 503 (retrying)") != NULL);
        notify_call_cancel(c);
        ASSERT_FALSE(res.done);
        env_close(&v);
}

static int lookup(const char *rule, unsigned step, NotifyTarget *ret, void *userdata) {
        const NotifyTarget *t = userdata;
        if (strcmp(rule, "mem") != 0 || step != 1)
                return -ENOENT;
        *ret = *t;
        return 0;
}

static void test_pagerduty_restart_resolve(void) {
        Env v = {};
        Result res = {};
        NotifyCall *c;

        env_open(&v, "/v2/enqueue");
        reset(NULL, 0);
        AlertFacts f = facts();
        NotifyTarget t = { .format = ALERT_PAGERDUTY, .url = v.url, .routing_key = "R0UTINGKEY" };
        ASSERT_INT(notifier_post(v.n, &t, &f, 1, NULL, on_done, &res, &c), 0);
        run_until(v.e, &res.done, 10 * USEC_PER_SEC);
        ASSERT_INT(res.r, 0);
        ASSERT_TRUE(strstr(bodies[0], "\"event_action\":\"trigger\""));

        /* the agent restarts: a new notifier on the same state directory */
        v.n = notifier_free(v.n);
        ASSERT_INT(notifier_new(v.e, v.h, v.dir, &v.n), 0);
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(notifier_status(v.n, doc), 0);
        _cleanup_free_ char *st = cJSON_PrintUnformatted(doc);
        ASSERT_TRUE(strstr(st, "\"open_incidents\":1,\"dedup_keys\":[\"ec2agent/i-0abc/mem\"]"));
        ASSERT_TRUE(!strstr(st, "R0UTINGKEY"));

        /* another rule's recovery resolves nothing; this one's resolves it */
        ASSERT_INT(notifier_resolve(v.n, "disk", NULL, &f, lookup, &t), 0);
        ASSERT_INT(notifier_resolve(v.n, "mem", NULL, &f, lookup, &t), 1);
        ASSERT_INT(notifier_resolve(v.n, "mem", NULL, &f, lookup, &t), 0); /* already on its way */
        bool closed = false;
        usec_t until = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (!closed && now_usec(CLOCK_MONOTONIC) < until) {
                (void) sd_event_run(v.e, 50 * USEC_PER_MSEC);
                cJSON *d = cJSON_CreateObject();
                (void) notifier_status(v.n, d);
                closed = json_get_u64(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "notify"), "pagerduty"),
                                      "open_incidents", 9) == 0;
                cJSON_Delete(d);
        }
        ASSERT_TRUE(closed);
        ASSERT_INT(requests(), 2);
        ASSERT_STR(bodies[1], "{\"routing_key\":\"R0UTINGKEY\",\"event_action\":\"resolve\",\"dedup_key\":"
                              "\"ec2agent/i-0abc/mem\"}");
        env_close(&v);
}

static void test_setup(void) {
        start_server();
}

TAP_MAIN(T(test_setup), T(test_slack_ok_and_target), T(test_refusal_not_retried), T(test_retried_then_ok),
         T(test_cancel), T(test_pagerduty_restart_resolve))
