/* http.h — non-blocking HTTP on the sd-event loop: one curl_multi, callbacks on completion. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "util.h"

typedef struct Http Http;
typedef struct HttpCall HttpCall;

typedef struct HttpRequest {
        const char *method; /* "GET", "PUT", "POST" */
        const char *url;
        const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
        const void *body;           /* copied; may be NULL */
        size_t body_len;
        unsigned timeout_ms;     /* whole transfer; 0: 10 s */
        size_t max_response;     /* bytes; a larger body fails with -EFBIG; 0: 64 KiB */
        const char *aws_sigv4;   /* "aws:amz:REGION:SERVICE" to sign, or NULL */
        const char *aws_userpwd; /* "ACCESS_KEY:SECRET" when signing */
} HttpRequest;

typedef struct HttpResponse {
        int error;                 /* 0, or a negative errno: -ETIMEDOUT, -ECONNREFUSED, -EFBIG, … */
        const char *error_message; /* curl's words for ERROR, or NULL */
        long status;               /* HTTP status, 0 when no response */
        const char *body;          /* NUL-terminated; valid during the callback only */
        size_t body_len;
} HttpResponse;

/* Called exactly once per submitted call, from the loop; the call is freed after it returns. */
typedef void (*HttpCallback)(const HttpResponse *resp, void *userdata);

/* Creates the HTTP engine on EVENT. Returns 0 or a negative errno. */
int http_new(sd_event *event, Http **ret);
/* Cancels every pending call (their callbacks are not called) and frees. Takes NULL. */
Http *http_free(Http *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Http *, http_free);

/* Starts REQ; CB is called with the result from the loop, never from inside this call.
 * When RET_CALL is given the caller may http_call_cancel() it until the callback ran.
 * Returns 0 or a negative errno (then CB is never called). */
int http_submit(Http *h, const HttpRequest *req, HttpCallback cb, void *userdata, HttpCall **ret_call);

/* Cancels CALL without calling its callback. Takes NULL. */
void http_call_cancel(HttpCall *call);

/* Number of calls in flight. */
size_t http_pending(const Http *h);
