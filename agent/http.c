/* http.c — non-blocking HTTP on the sd-event loop: one curl_multi, callbacks on completion.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it
 * (CURLMOPT_TIMERFUNCTION); we map those onto sd-event io and time sources, as systemd's
 * src/import/curl-util.c does. Finished transfers are collected right after each
 * curl_multi_socket_action() of those io and time handlers (http_check_done) and handed to their
 * callbacks there. http_submit() only adds the handle (curl then asks for a timer), so a callback
 * never runs inside http_submit(). */
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "ec2agent/http.h"
#include "ec2agent/log.h"

#define HTTP_DEFAULT_TIMEOUT_MS   10000U
#define HTTP_DEFAULT_MAX_RESPONSE (64U * 1024U)

struct HttpCall {
        Http *http;
        CURL *easy;
        struct curl_slist *headers;
        Buf body;
        bool too_big;
        HttpCallback cb;
        void *userdata;
        HttpCall *next, *prev;
};

struct Http {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        HttpCall *calls;
        size_t n_calls;
};

static void call_unlink_free(HttpCall *c) {
        Http *h = c->http;
        if (c->prev)
                c->prev->next = c->next;
        else
                h->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        h->n_calls--;
        curl_multi_remove_handle(h->multi, c->easy);
        curl_easy_cleanup(c->easy);
        curl_slist_free_all(c->headers);
        buf_done(&c->body);
        free(c);
}

static int curl_to_errno(CURLcode code) {
        switch (code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Hands every finished transfer to its callback. */
static void http_check_done(Http *h) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(h->multi, &left))) {
                HttpCall *c = NULL;
                long status = 0;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &c) != CURLE_OK || !c)
                        continue;
                (void) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
                HttpResponse resp = {
                        .error = c->too_big ? -EFBIG : curl_to_errno(msg->data.result),
                        .error_message =
                                c->too_big
                                        ? "response body too large"
                                        : (msg->data.result ? curl_easy_strerror(msg->data.result) : NULL),
                        .status = status,
                        .body = c->body.data ?: "",
                        .body_len = c->body.len,
                };
                HttpCallback cb = c->cb;
                void *userdata = c->userdata;
                /* Unlink before the callback: it may submit new calls or free its owner. */
                c->cb = NULL;
                cb(&resp, userdata);
                call_unlink_free(c);
        }
}

static int http_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Http *h = userdata;
        int action = 0, running;
        (void) s;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        (void) curl_multi_socket_action(h->multi, fd, action, &running);
        http_check_done(h);
        return 0;
}

static int http_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Http *h = userdata;
        int running;
        (void) s;
        (void) usec;

        (void) curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        http_check_done(h);
        return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one io source per socket, kept as curl's socket pointer. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        Http *h = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        (void) easy;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        curl_multi_assign(h->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0 ||
                    sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        if (sd_event_add_io(h->event, &io, fd, events, http_on_io, h) < 0)
                return -1;
        (void) sd_event_source_set_description(io, "http-io");
        if (curl_multi_assign(h->multi, fd, io) != CURLM_OK) {
                sd_event_source_disable_unref(io);
                return -1;
        }
        return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, else wake curl in TIMEOUT_MS. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        Http *h = userp;
        (void) multi;

        if (timeout_ms < 0)
                return h->timer ? (sd_event_source_set_enabled(h->timer, SD_EVENT_OFF) < 0 ? -1 : 0) : 0;

        usec_t when = now_usec(CLOCK_MONOTONIC) + (usec_t) timeout_ms * USEC_PER_MSEC;
        if (h->timer) {
                if (sd_event_source_set_time(h->timer, when) < 0 ||
                    sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        /* accuracy 1 µs: sd-event's default (0 = 250 ms) coalesced curl's "now" timeouts, which
         * start every transfer, to the next 250 ms boundary (bench/notify-latency: 250 → 31 ms) */
        if (sd_event_add_time(h->event, &h->timer, CLOCK_MONOTONIC, when, 1, http_on_timer, h) < 0)
                return -1;
        (void) sd_event_source_set_description(h->timer, "http-timer");
        return 0;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *userdata) {
        HttpCall *c = userdata;
        size_t n = size * nmemb;
        if (buf_append(&c->body, p, n) < 0) {
                c->too_big = true;
                return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        }
        return n;
}

/* Debian's libcurl brings libssh2, whose init (run by curl_global_init) loads every OpenSSL engine
 * and algorithm: 1.5 MB resident for SCP and SFTP, which the agent never speaks (CURLOPT_PROTOCOLS_STR
 * is http,https). libssh2 initializes its crypto only on its first init, so a first one without it,
 * found at run time, leaves curl's without it too. Other builds of libcurl: nothing to do. */
static void libssh2_init_without_crypto(void) {
        int (*init)(int) = (int (*)(int)) dlsym(RTLD_DEFAULT, "libssh2_init");
        if (init)
                (void) init(0x0001 /* LIBSSH2_INIT_NO_CRYPTO */);
}

/* CURLOPT_OPENSOCKETFUNCTION: every connection is SOCK_CLOEXEC (libcurl 7.88 does not ask for
 * it), so a step the agent starts never inherits a connection to AWS or IMDS. */
static curl_socket_t open_socket_cb(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
        (void) userdata;
        (void) purpose;
        int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        return fd < 0 ? CURL_SOCKET_BAD : fd;
}

#define FD_SCAN_MAX 4096

/* Marks in OPEN (FD_SCAN_MAX bits) the descriptors of the process below FD_SCAN_MAX. */
static void fds_open(uint64_t open_fds[static FD_SCAN_MAX / 64]) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        memset(open_fds, 0, FD_SCAN_MAX / 8);
        while (d && (de = readdir(d))) {
                uint64_t fd;
                if (parse_u64(de->d_name, FD_SCAN_MAX - 1, &fd) == 0 && (int) fd != dirfd(d))
                        open_fds[fd / 64] |= 1ULL << (fd % 64);
        }
        if (d)
                closedir(d);
}

/* curl_multi_init() opens a socketpair to wake the multi handle, without SOCK_CLOEXEC in libcurl
 * 7.88 and with no option to ask for it: the descriptors it opened get FD_CLOEXEC afterwards. */
static CURLM *multi_init_cloexec(void) {
        _cleanup_free_ uint64_t *before = malloc(FD_SCAN_MAX / 8), *after = malloc(FD_SCAN_MAX / 8);
        CURLM *m;

        if (!before || !after)
                return curl_multi_init();
        fds_open(before);
        m = curl_multi_init();
        fds_open(after);
        for (int fd = 3; fd < FD_SCAN_MAX; fd++)
                if ((after[fd / 64] & ~before[fd / 64]) & (1ULL << (fd % 64))) {
                        int flags = fcntl(fd, F_GETFD);
                        if (flags >= 0 && !(flags & FD_CLOEXEC))
                                (void) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
                }
        return m;
}

int http_new(sd_event *event, Http **ret) {
        static bool curl_ready = false;
        Http *h;

        if (!curl_ready) {
                libssh2_init_without_crypto();
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                curl_ready = true;
        }
        h = calloc(1, sizeof(Http));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->multi = multi_init_cloexec();
        if (!h->multi) {
                http_free(h);
                return -ENOMEM;
        }
        if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK) {
                http_free(h);
                return -EIO;
        }
        *ret = h;
        return 0;
}

Http *http_free(Http *h) {
        if (!h)
                return NULL;
        while (h->calls)
                call_unlink_free(h->calls);
        if (h->multi)
                curl_multi_cleanup(h->multi); /* removes the io sources through socket_cb */
        sd_event_source_disable_unref(h->timer);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

#define SETOPT(c, opt, val)                                              \
        do {                                                             \
                if (curl_easy_setopt((c)->easy, opt, val) != CURLE_OK) { \
                        r = -EINVAL;                                     \
                        goto fail;                                       \
                }                                                        \
        } while (0)

int http_submit(Http *h, const HttpRequest *req, HttpCallback cb, void *userdata, HttpCall **ret_call) {
        HttpCall *c;
        int r;

        c = calloc(1, sizeof(HttpCall));
        if (!c)
                return -ENOMEM;
        c->http = h;
        c->cb = cb;
        c->userdata = userdata;
        buf_init(&c->body, req->max_response ?: HTTP_DEFAULT_MAX_RESPONSE);
        c->easy = curl_easy_init();
        if (!c->easy) {
                free(c);
                return -ENOMEM;
        }
        for (const char *const *hd = req->headers; hd && *hd; hd++) {
                struct curl_slist *n = curl_slist_append(c->headers, *hd);
                if (!n) {
                        r = -ENOMEM;
                        goto fail;
                }
                c->headers = n;
        }

        SETOPT(c, CURLOPT_URL, req->url);
        SETOPT(c, CURLOPT_PRIVATE, c);
        SETOPT(c, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
        SETOPT(c, CURLOPT_WRITEFUNCTION, write_cb);
        SETOPT(c, CURLOPT_WRITEDATA, c);
        SETOPT(c, CURLOPT_NOSIGNAL, 1L);
        SETOPT(c, CURLOPT_TIMEOUT_MS, (long) (req->timeout_ms ?: HTTP_DEFAULT_TIMEOUT_MS));
        SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, (long) (req->timeout_ms ?: HTTP_DEFAULT_TIMEOUT_MS));
        SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
        SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(c, CURLOPT_NOPROXY, "169.254.169.254,fd00:ec2::254,localhost,127.0.0.1,::1");
        SETOPT(c, CURLOPT_USERAGENT, "ec2agent/" EC2AGENT_VERSION);
        SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) c->body.max);
        if (c->headers)
                SETOPT(c, CURLOPT_HTTPHEADER, c->headers);
        if (req->body || strcmp(req->method, "POST") == 0) {
                SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
                SETOPT(c, CURLOPT_COPYPOSTFIELDS, req->body ? (const char *) req->body : "");
        }
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
                SETOPT(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->aws_sigv4) {
                SETOPT(c, CURLOPT_AWS_SIGV4, req->aws_sigv4);
                SETOPT(c, CURLOPT_USERPWD, req->aws_userpwd);
        }

        if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK) {
                r = -EIO;
                goto fail;
        }
        c->next = h->calls;
        if (h->calls)
                h->calls->prev = c;
        h->calls = c;
        h->n_calls++;
        if (ret_call)
                *ret_call = c;
        return 0;
fail:
        curl_easy_cleanup(c->easy);
        curl_slist_free_all(c->headers);
        free(c);
        return r;
}

void http_call_cancel(HttpCall *c) {
        if (c && c->cb)
                call_unlink_free(c);
}

size_t http_pending(const Http *h) {
        return h->n_calls;
}
