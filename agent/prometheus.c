/* prometheus.c — metrics.prometheus_textfile: node_exporter's textfile collector reads what the
 * agent knows, locally and for free (SPEC §7).
 *
 * Every collection_interval_s the file is rendered anew: each SPEC §7 metric the sampler has a
 * fresh sample of, as the gauge ec2agent_NAME (its newest value) with the dimensions as lowercase
 * labels; the agent's counters as ec2agent_oom_kills_total and ec2agent_kernel_problems_total{class};
 * ec2agent_health (0 ok, 1 warning, 2 critical) and ec2agent_notice{type} (1 while the notice
 * stands), all in the text exposition format with # HELP and # TYPE lines. It is written to a
 * temporary file in the same directory (whose name does not end in .prom, so the collector never
 * reads it half-written), made 0644 whatever the umask, and renamed over the file. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "ec2agent/prometheus.h"

#define FIRST_WRITE_USEC (1 * USEC_PER_SEC) /* the first samples' statvfs() answers are in by then */
#define FRESH_INTERVALS  3                  /* a series older than this many intervals is gone */

struct Prometheus {
        sd_event_source *timer;
        char *path;
        usec_t interval;
        const SeriesStore *series;
        cJSON *(*status)(void *userdata);
        void *userdata;
        PrometheusCounters counters;
        usec_t last_write_at;
        size_t bytes;
        int error; /* the last write's, 0 when it worked */
};

/* ---- rendering ---- */

/* Appends V escaped as a label value of the exposition format: '\\', '"' and newline. */
static int append_label_value(Buf *b, const char *v) {
        int r = 0;
        for (const char *p = v; *p && r >= 0;) {
                size_t n = strcspn(p, "\\\"\n");
                if (n > 0)
                        r = buf_append(b, p, n);
                p += n;
                if (*p && r >= 0) {
                        r = buf_append(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\", 2);
                        p++;
                }
        }
        return r;
}

/* Appends {k="v",…} for the pairs whose value is non-empty (nothing when none is). */
static int append_labels(Buf *b, const char *const (*pairs)[2], size_t n) {
        bool first = true;
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!pairs[i][1] || !pairs[i][1][0])
                        continue;
                if ((r = buf_appendf(b, "%s%s=\"", first ? "{" : ",", pairs[i][0])) < 0 ||
                    (r = append_label_value(b, pairs[i][1])) < 0 || (r = buf_append(b, "\"", 1)) < 0)
                        return r;
                first = false;
        }
        return r < 0 ? r : first ? 0 : buf_append(b, "}", 1);
}

static int append_value(Buf *b, double v) {
        if (isnan(v))
                return buf_append(b, " NaN\n", 5);
        if (isinf(v))
                return buf_appendf(b, " %sInf\n", v > 0 ? "+" : "-");
        return buf_appendf(b, " %.15g\n", v);
}

static int append_family(Buf *b, const char *name, const char *type, const char *help) {
        return buf_appendf(b, "# HELP ec2agent_%s %s\n# TYPE ec2agent_%s %s\n", name, help, name, type);
}

static const Sample *newest(const Series *x) {
        return x->count > 0 ? &x->ring[(x->head + x->capacity - 1) % x->capacity] : NULL;
}

/* One gauge family: the newest value of every fresh series of metric ID. */
static int render_gauge(Buf *b, const SeriesStore *store, usec_t fresh_since, MetricId id) {
        const MetricInfo *m = metric_info(id);
        char help[160];
        bool any = false;
        int r = 0;

        for (size_t i = 0; i < store->n && r >= 0; i++) {
                const Series *x = store->series[i];
                const Sample *s = newest(x);
                if (strcmp(x->name, m->name) != 0 || !s || s->at < fresh_since)
                        continue;
                if (!any) {
                        snprintf(help, sizeof help, "%s (%s), as the CloudWatch agent publishes it.",
                                 m->name, m->unit);
                        if ((r = append_family(b, m->name, "gauge", help)) < 0)
                                return r;
                        any = true;
                }
                const char *const labels[][2] = { { "path", x->dims.path },
                                                  { "device", x->dims.device },
                                                  { "fstype", x->dims.fstype },
                                                  { "volume_id", x->dims.volume_id },
                                                  { "interface", x->dims.interface } };
                if ((r = buf_appendf(b, "ec2agent_%s", m->name)) < 0 ||
                    (r = append_labels(b, labels, ELEMENTSOF(labels))) < 0)
                        return r;
                r = append_value(b, s->value);
        }
        return r;
}

static int render_counters(Buf *b, const PrometheusCounters *c) {
        int r;

        if ((r = append_family(b, "oom_kills_total", "counter",
                               "Processes the kernel's OOM killer killed since the agent started.")) < 0 ||
            (r = buf_append(b, "ec2agent_oom_kills_total", strlen("ec2agent_oom_kills_total"))) < 0 ||
            (r = append_value(b, c->oom_kills)) < 0 ||
            (r = append_family(b, "kernel_problems_total", "counter",
                               "Kernel problems (SPEC section 6) since the agent started, by class.")) < 0)
                return r;
        /* every class, at 0 too: a rate() over a series that appears only at its first problem misses it */
        for (EventTypeId i = 0; i < _EVENT_TYPE_MAX; i++) {
                const EventTypeInfo *t = event_type_info(i);
                if (!t->kernel_problem || t->planned)
                        continue;
                const char *const labels[][2] = { { "class", t->name } };
                if ((r = buf_append(b, "ec2agent_kernel_problems_total",
                                    strlen("ec2agent_kernel_problems_total"))) < 0 ||
                    (r = append_labels(b, labels, 1)) < 0 || (r = append_value(b, c->problems[i])) < 0)
                        return r;
        }
        return 0;
}

static const cJSON *get(const cJSON *o, const char *key) {
        return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int render_status(Buf *b, const cJSON *status) {
        const char *health = json_get_string(status, "health");
        const cJSON *n = get(status, "notices"), *ev;
        const char *lifecycle = json_get_string(n, "asg_target_lifecycle_state");
        bool scheduled = false;
        int r;

        if (health && (strcmp(health, "ok") == 0 || strcmp(health, "warning") == 0 ||
                       strcmp(health, "critical") == 0)) {
                double v = strcmp(health, "ok") == 0 ? 0 : strcmp(health, "warning") == 0 ? 1 : 2;
                if ((r = append_family(
                             b, "health", "gauge",
                             "The agent's verdict: 0 ok, 1 warning, 2 critical (ec2agent status).")) < 0 ||
                    (r = buf_append(b, "ec2agent_health", strlen("ec2agent_health"))) < 0 ||
                    (r = append_value(b, v)) < 0)
                        return r;
        }
        cJSON_ArrayForEach (ev, get(n, "scheduled")) {
                const char *state = json_get_string(ev, "state");
                scheduled |= !state || strcmp(state, "active") == 0;
        }
        const struct {
                const char *type;
                bool stands;
        } notices[] = {
                { "spot", cJSON_IsObject(get(n, "spot")) },
                { "rebalance", cJSON_IsObject(get(n, "rebalance")) },
                /* a lifecycle state other than InService: termination, a warm pool */
                { "autoscaling", lifecycle && strcmp(lifecycle, "InService") != 0 },
                { "scheduled", scheduled },
        };
        if ((r = append_family(b, "notice", "gauge",
                               "1 while a spot, rebalance, Auto Scaling or scheduled notice stands.")) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(notices); i++) {
                const char *const labels[][2] = { { "type", notices[i].type } };
                if ((r = buf_append(b, "ec2agent_notice", strlen("ec2agent_notice"))) < 0 ||
                    (r = append_labels(b, labels, 1)) < 0 || (r = append_value(b, notices[i].stands)) < 0)
                        return r;
        }
        return 0;
}

int prometheus_render(Buf *b, const SeriesStore *store, usec_t fresh_since, const PrometheusCounters *c,
                      const cJSON *status) {
        int r;

        for (MetricId id = 0; id < _METRIC_MAX; id++) {
                if (id == METRIC_OOM_KILLS || id == METRIC_KERNEL_PROBLEMS || metric_info(id)->planned)
                        continue; /* the counters come below, under their _total names */
                if ((r = render_gauge(b, store, fresh_since, id)) < 0)
                        return r;
        }
        if ((r = render_counters(b, c)) < 0)
                return r;
        return status ? render_status(b, status) : 0;
}

/* ---- writing ---- */

int prometheus_write_file(const char *path, const char *text, size_t len) {
        _cleanup_free_ char *tmp = NULL;
        const char *slash = strrchr(path, '/');
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* ".NAME.tmp" beside it: the same filesystem for rename(), and no ".prom" the collector reads */
        if (!slash || !slash[1] ||
            asprintf(&tmp, "%.*s.%s.tmp", (int) (slash - path + 1), path, slash + 1) < 0)
                return slash && slash[1] ? -ENOMEM : -EINVAL;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, PROMETHEUS_FILE_MODE);
        if (fd < 0)
                return negative_errno();
        for (const char *p = text; len > 0;) {
                ssize_t k = write(fd, p, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = negative_errno();
                        goto fail;
                }
                p += k;
                len -= (size_t) k;
        }
        /* No fsync: it is rewritten every interval, and rename() alone keeps readers from a torn file. */
        if (fchmod(fd, PROMETHEUS_FILE_MODE) < 0 || rename(tmp, path) < 0) {
                r = negative_errno();
                goto fail;
        }
        return 0;
fail:
        (void) unlink(tmp);
        return r;
}

int prometheus_write(Prometheus *p) {
        _cleanup_json_ cJSON *status = p->status ? p->status(p->userdata) : NULL;
        usec_t now = now_usec(CLOCK_REALTIME), window = FRESH_INTERVALS * p->interval;
        Buf b;
        int r;

        buf_init(&b, PROMETHEUS_MAX_BYTES);
        r = prometheus_render(&b, p->series, now > window ? now - window : 0, &p->counters, status);
        if (r >= 0)
                r = prometheus_write_file(p->path, b.data ?: "", b.len);
        if (r >= 0) {
                if (p->error)
                        log_notice("Writing %s works again.", p->path);
                p->last_write_at = now;
                p->bytes = b.len;
        } else if (r != p->error)
                log_warning_errno(r, "Cannot write the Prometheus textfile %s: %m", p->path);
        p->error = r < 0 ? r : 0;
        buf_done(&b);
        return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Prometheus *p = userdata;
        (void) usec;
        (void) prometheus_write(p);
        return sd_event_source_set_time_relative(s, p->interval);
}

int prometheus_new(sd_event *event, const PrometheusOptions *o, Prometheus **ret) {
        _cleanup_(prometheus_freep) Prometheus *p = calloc(1, sizeof(Prometheus));
        int r;

        if (!p || !(p->path = strdup(o->path)))
                return -ENOMEM;
        p->interval = (usec_t) o->interval_s * USEC_PER_SEC;
        p->series = o->series;
        p->status = o->status;
        p->userdata = o->userdata;
        r = sd_event_add_time_relative(event, &p->timer, CLOCK_MONOTONIC, MIN(FIRST_WRITE_USEC, p->interval),
                                       USEC_PER_MSEC * 10, on_timer, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->timer, "prometheus");
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ON);
        *ret = TAKE_PTR(p);
        return 0;
}

Prometheus *prometheus_free(Prometheus *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timer);
        free(p->path);
        free(p);
        return NULL;
}

void prometheus_note_event(Prometheus *p, const char *type, double count) {
        int id = event_type_from_string(type);
        if (id == EVENT_TYPE_OOM_KILL)
                p->counters.oom_kills += count;
        else if (id >= 0 && event_type_info(id)->kernel_problem)
                p->counters.problems[id] += count;
}

int prometheus_status(const Prometheus *p, cJSON *doc) {
        cJSON *c = cJSON_CreateObject();
        if (!c || !json_add_string_or_null(c, "path", p ? p->path : NULL) ||
            !json_add_time(c, "last_write_at", p ? p->last_write_at : 0) ||
            !json_add_string_or_null(c, "last_error", p && p->error ? strerror(-p->error) : NULL) ||
            !cJSON_AddNumberToObject(c, "bytes", p ? (double) p->bytes : 0)) {
                cJSON_Delete(c);
                return -ENOMEM;
        }
        return json_replace(doc, "prometheus", c);
}
