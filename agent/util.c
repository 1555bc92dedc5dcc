/* util.c — time, parsing, file and buffer helpers shared by every module. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "ec2agent/util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;
        if (clock_gettime(clock, &ts) < 0)
                abort(); /* Only fails for an invalid clock id: a programming error. */
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

char *format_rfc3339(char buf[static RFC3339_MAX], usec_t t) {
        struct tm tm;
        time_t sec = (time_t) (t / USEC_PER_SEC);

        buf[0] = 0;
        if (t == 0 || t > RFC3339_MAX_USEC || !gmtime_r(&sec, &tm))
                return buf;
        if (strftime(buf, RFC3339_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                buf[0] = 0;
        return buf;
}

/* Reads exactly N digits at *P into *RET, advancing *P only on success. */
static int take_digits(const char **p, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return -EINVAL;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return 0;
}

static int take_char(const char **p, const char *accept) {
        if (**p == 0 || !strchr(accept, **p))
                return -EINVAL;
        (*p)++;
        return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

int parse_rfc3339(const char *s, usec_t *ret) {
        static const uint8_t mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int Y, M, D, h, m, sec, oh = 0, om = 0;
        usec_t frac = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        if (take_digits(&p, 4, &Y) < 0 || take_char(&p, "-") < 0 || take_digits(&p, 2, &M) < 0 ||
            take_char(&p, "-") < 0 || take_digits(&p, 2, &D) < 0 || take_char(&p, "Tt ") < 0 ||
            take_digits(&p, 2, &h) < 0 || take_char(&p, ":") < 0 || take_digits(&p, 2, &m) < 0 ||
            take_char(&p, ":") < 0 || take_digits(&p, 2, &sec) < 0)
                return -EINVAL;
        if (*p == '.') {
                usec_t scale = USEC_PER_SEC / 10;
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        frac += (usec_t) (*p - '0') * scale;
                        scale /= 10;
                }
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1;
                p++;
                if (take_digits(&p, 2, &oh) < 0 || take_char(&p, ":") < 0 || take_digits(&p, 2, &om) < 0)
                        return -EINVAL;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                oh *= sign;
                om *= sign;
        } else
                return -EINVAL;
        if (*p != 0)
                return -EINVAL;
        if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (M == 2 && D == 29 && !(Y % 4 == 0 && (Y % 100 != 0 || Y % 400 == 0)))
                return -EINVAL;

        int64_t t = days_from_civil(Y, (unsigned) M, (unsigned) D) * 86400 + h * 3600 + m * 60 + sec -
                    (oh * 3600 + om * 60);
        /* An offset or a leap second can carry 9999-12-31 into year 10000, which has no RFC 3339
         * form: such a time is refused, not stored to be shown as "+10000-…" later. */
        if (t < 0 || (usec_t) t > RFC3339_MAX_USEC / USEC_PER_SEC)
                return -EINVAL;
        *ret = (usec_t) t * USEC_PER_SEC + frac;
        return 0;
}

int parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0 || len > 20)
                return len == 0 ? -EINVAL : -ERANGE;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        return s ? parse_u64_n(s, strlen(s), max, ret) : -EINVAL;
}

int parse_duration(const char *s, usec_t *ret) {
        static const struct {
                char unit;
                usec_t usec;
        } units[] = {
                { 's', USEC_PER_SEC }, { 'm', USEC_PER_MINUTE },  { 'h', USEC_PER_HOUR },
                { 'd', USEC_PER_DAY }, { 'w', 7 * USEC_PER_DAY },
        };
        usec_t total = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        while (*p) {
                size_t n = strspn(p, "0123456789");
                uint64_t v;
                int r = parse_u64_n(p, n, UINT64_MAX, &v);
                if (r < 0)
                        return r;
                p += n;
                usec_t mult = 0;
                if (*p == 0 && p - n == s)
                        mult = USEC_PER_SEC; /* a bare number: seconds */
                else
                        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                                if (*p == units[i].unit) {
                                        mult = units[i].usec;
                                        p++;
                                        break;
                                }
                if (mult == 0)
                        return -EINVAL;
                if (v > (USEC_INFINITY - 1 - total) / mult)
                        return -ERANGE;
                total += v * mult;
        }
        *ret = total;
        return 0;
}

int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        char chunk[4096];
        Buf b;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        buf_init(&b, max);
        r = buf_append(&b, "", 0); /* an empty file still yields "" */
        while (r >= 0) {
                ssize_t k = read(fd, chunk, sizeof chunk);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? negative_errno() : 0;
                        break;
                }
                r = buf_append(&b, chunk, (size_t) k);
        }
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        if (ret_len)
                *ret_len = b.len;
        *ret = b.data;
        return 0;
}

char *env_first_directory(const char *name) {
        const char *e = getenv(name);
        errno = 0;
        return e && *e ? strndup(e, strcspn(e, ":")) : NULL;
}

char *path_join(const char *a, const char *b) {
        char *r;
        size_t la = strlen(a);
        bool slash = la > 0 && a[la - 1] == '/';
        if (asprintf(&r, "%s%s%s", a, slash ? "" : "/", b) < 0)
                return NULL;
        return r;
}

int write_file_atomic(const char *dir, const char *name, const void *data, size_t len, int mode) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        char tmp[256];
        int r;

        if ((size_t) snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= sizeof tmp)
                return -ENAMETOOLONG;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        for (const char *p = data; len > 0;) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                p += k;
                len -= (size_t) k;
        }
        if (fsync(fd) < 0 || renameat(dfd, tmp, dfd, name) < 0) {
                r = negative_errno();
                goto fail;
        }
        (void) fsync(dfd);
        return 0;
fail:
        (void) unlinkat(dfd, tmp, 0);
        return r;
}

double random_unit(void) {
        uint32_t v = 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t) sizeof v)
                v = (uint32_t) now_usec(CLOCK_MONOTONIC);
        return (double) v / 4294967296.0;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

size_t strv_length(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

int strv_extend(char ***v, const char *s) {
        size_t n = strv_length(*v);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        char **nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(c);
                return -ENOMEM;
        }
        nv[n] = c;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

void buf_init(Buf *b, size_t max) {
        *b = (Buf){ .max = max };
}

int buf_append(Buf *b, const void *p, size_t len) {
        if (len > b->max - b->len)
                return -EFBIG;
        if (b->len + len + 1 > b->cap) {
                size_t ncap = b->cap ? b->cap : 256;
                while (ncap < b->len + len + 1)
                        ncap *= 2;
                if (ncap > b->max + 1)
                        ncap = b->max + 1;
                char *n = realloc(b->data, ncap);
                if (!n)
                        return -ENOMEM;
                b->data = n;
                b->cap = ncap;
        }
        if (len > 0)
                memcpy(b->data + b->len, p, len);
        b->len += len;
        b->data[b->len] = 0;
        return 0;
}

int buf_appendf(Buf *b, const char *fmt, ...) {
        char small[256];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n < sizeof small)
                return buf_append(b, small, (size_t) n);

        _cleanup_free_ char *big = malloc((size_t) n + 1);
        if (!big)
                return -ENOMEM;
        va_start(ap, fmt);
        (void) vsnprintf(big, (size_t) n + 1, fmt, ap);
        va_end(ap);
        return buf_append(b, big, (size_t) n);
}

void buf_reset(Buf *b) {
        b->len = 0;
        if (b->data)
                b->data[0] = 0;
}

void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf){ .max = b->max };
}

usec_t backoff_usec(usec_t base, unsigned doublings, usec_t cap) {
        usec_t d = MIN(base, cap);
        for (unsigned i = 0; i < doublings; i++) {
                if (d > cap / 2)
                        return cap;
                d *= 2;
        }
        return d;
}

char *url_redact(const char *url) {
        const char *auth, *at = NULL, *rest;
        size_t scheme_len = 0, auth_len;
        char *r;

        if (!url)
                return NULL;
        /* scheme "://" only counts before the first '/', '?' or '#' */
        const char *sep = strstr(url, "://");
        if (sep && (size_t) (sep - url) <= strcspn(url, "/?#"))
                scheme_len = (size_t) (sep - url) + 3;
        auth = url + scheme_len;
        auth_len = strcspn(auth, "/?#");
        for (size_t i = 0; i < auth_len; i++)
                if (auth[i] == '@')
                        at = auth + i; /* the last '@': a password may hold one */
        const char *host = at ? at + 1 : auth;
        rest = auth + auth_len;
        bool hide_rest = *rest && strcmp(rest, "/") != 0;
        if (asprintf(&r, "%.*s%s%.*s%s", (int) scheme_len, url, at ? "***@" : "", (int) (rest - host), host,
                     hide_rest ? "/***" : rest) < 0)
                return NULL;
        return r;
}
