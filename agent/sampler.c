/* sampler.c — takes the samples every collection_interval_s: memory, CPU, pressure, filesystems.
 *
 * Each sample goes into the series store under its SPEC §7 name (disk metrics keyed by mount
 * point) for the rules and the publisher. The instance's mountinfo (PID 1's) is watched (it raises EPOLLPRI
 * on every mount change, fs/proc_namespace.c mounts_poll): a watched filesystem that was read-write and is
 * now read-only raises fs-readonly at once.
 *
 * statvfs() never runs on the loop: a hung NFS server or FUSE daemon would stall it until the
 * watchdog kills the agent, again and again. Each filesystem's call runs on a thread of its own
 * (fs_usage_start: why a thread per call and not one worker) and its answer comes back as a
 * datagram on a socket the loop watches; the thread touches no state of ours. At most one call
 * per filesystem is outstanding: while it is, the filesystem is not asked again, and after
 * FS_ANSWER_TIMEOUT_USEC it is "not answering" (status, a health warning, no metrics from it)
 * until that same call returns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ec2agent/catalog.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/log.h"
#include "ec2agent/sampler.h"
#include "ec2agent/utf8.h"

#define MAX_MOUNTS      512
#define MAX_FILESYSTEMS 64
/* statvfs() calls outstanding at once, stuck ones of filesystems no longer watched included */
#define MAX_CALLS (2 * MAX_FILESYSTEMS)

struct Sampler {
        sd_event *event;
        SamplerOptions opts;
        char **filesystems;
        char *mountinfo_path, *sysfs;
        EventSink sink;
        sd_event_source *timer, *mount_watch;
        int mount_fd;
        int reply_fd[2]; /* [0] the loop reads FsUsageReply datagrams, [1] the threads send them */
        sd_event_source *reply_source, *answer_timer;
        uint64_t last_call;
        size_t n_calls; /* started and not answered yet */

        SeriesStore series;
        bool have_mem;
        MemMetrics mem;
        bool have_psi;
        double psi;
        bool have_cpu_prev, have_cpu;
        CpuTicks cpu_prev;
        double cpu;
        Filesystem *fs; /* the watched filesystems, n_fs of them */
        size_t n_fs;
        MountEntry *mounts; /* scratch for mountinfo */
};

/* S (a mountinfo field: any bytes but NUL once \ooo is decoded) as it may be shown: valid UTF-8,
 * control bytes as \xNN, so a mount point cannot put a newline in a journal field or an escape
 * sequence on a terminal. The raw field stays what statvfs() is called on. */
#define SHOWN_MAX (4 * FS_PATH_MAX)
static const char *shown(const char *s, char buf[static SHOWN_MAX]) {
        (void) utf8_escape(s, strlen(s), UTF8_ESCAPE_C1, buf, SHOWN_MAX);
        return buf;
}

static bool wanted(const Sampler *s, const MountEntry *m) {
        for (char **f = s->filesystems; f && *f; f++)
                if (strcmp(*f, m->mount_point) == 0 || (strcmp(*f, "*") == 0 && mount_is_real(m)))
                        return true;
        return false;
}

/* What a filesystem's entry keeps across a mountinfo re-read: its last usage and its call. */
static void filesystem_carry(Filesystem *f, const Filesystem *old) {
        f->usage = old->usage;
        f->have_usage = old->have_usage;
        f->error = old->error;
        f->call = old->call;
        f->call_started = old->call_started;
        f->call_sample_at = old->call_sample_at;
        f->not_answering = old->not_answering;
}

/* Re-reads mountinfo: the watched filesystems, and read-only transitions among them. */
static void mounts_refresh(Sampler *s) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ Filesystem *next = NULL;
        size_t len, n, n_next = 0, max = strv_length(s->filesystems);

        if (read_file_bounded(s->mountinfo_path, 4 * 1024 * 1024, &text, &len) < 0)
                return;
        n = mountinfo_parse(text, len, s->mounts, MAX_MOUNTS);
        for (size_t i = 0; i < n; i++)
                max += wanted(s, &s->mounts[i]);
        max = MIN(max, (size_t) MAX_FILESYSTEMS);
        if (!(next = calloc(MAX(max, (size_t) 1), sizeof(Filesystem))))
                return (void) log_oom();
        /* Later entries over-mount earlier ones at the same point: the last one is what is seen. */
        for (size_t i = n; i-- > 0 && n_next < max;) {
                const MountEntry *m = &s->mounts[i];
                bool dup = false;
                if (!wanted(s, m))
                        continue;
                for (size_t j = 0; j < n_next && !dup; j++)
                        dup = strcmp(next[j].mount.mount_point, m->mount_point) == 0 ||
                              (strcmp(*s->filesystems, "*") == 0 && next[j].mount.major == m->major &&
                               next[j].mount.minor == m->minor && strcmp(next[j].mount.root, m->root) == 0);
                if (dup)
                        continue;
                Filesystem *f = &next[n_next++];
                *f = (Filesystem){ .mount = *m, .mounted = true };
                if (fs_disk_of(m->source, f->disk, sizeof f->disk) >= 0)
                        f->instance_store = fs_is_instance_store(s->sysfs, f->disk);
                for (size_t j = 0; j < s->n_fs; j++) {
                        const Filesystem *old = &s->fs[j];
                        if (strcmp(old->mount.mount_point, m->mount_point) != 0)
                                continue;
                        filesystem_carry(f, old);
                        f->became_read_only = old->became_read_only && m->read_only;
                        if (old->mounted && !old->mount.read_only && m->read_only) {
                                f->became_read_only = true;
                                char path[SHOWN_MAX], dev[SHOWN_MAX], type[SHOWN_MAX];
                                Event *e = event_new("fs-readonly",
                                                     "filesystem %s (%s) was remounted read-only",
                                                     shown(m->mount_point, path), shown(m->source, dev));
                                if (e) {
                                        cJSON_AddStringToObject(e->detail, "path", path);
                                        cJSON_AddStringToObject(e->detail, "device", dev);
                                        cJSON_AddStringToObject(e->detail, "fstype", shown(m->fstype, type));
                                        cJSON_AddStringToObject(e->detail, "source", "mountinfo");
                                        event_sink_emit(&s->sink, e);
                                }
                        }
                }
        }
        /* Named mount points that are not mounted stay listed, so status says so. */
        for (char **p = s->filesystems; p && *p && n_next < max; p++) {
                bool found = strcmp(*p, "*") == 0;
                for (size_t j = 0; j < n_next && !found; j++)
                        found = strcmp(next[j].mount.mount_point, *p) == 0;
                if (!found) {
                        Filesystem *f = &next[n_next++];
                        *f = (Filesystem){};
                        snprintf(f->mount.mount_point, sizeof f->mount.mount_point, "%s", *p);
                        /* a call stuck on what was mounted here still counts: not asked twice */
                        for (size_t j = 0; j < s->n_fs; j++)
                                if (strcmp(s->fs[j].mount.mount_point, *p) == 0)
                                        filesystem_carry(f, &s->fs[j]);
                        f->have_usage = false;
                }
        }
        free(s->fs);
        s->fs = TAKE_PTR(next);
        s->n_fs = n_next;
}

static void sampler_add(Sampler *s, MetricId metric, const SeriesDims *dims, usec_t now, double v) {
        if (series_add(&s->series, metric_name(metric), dims, now, v) < 0)
                log_oom();
}

/* Records a filesystem's usage in the series at realtime NOW. */
static void filesystem_record(Sampler *s, const Filesystem *f, usec_t now) {
        const MountEntry *m = &f->mount;
        SeriesDims d = {}; /* every dimension this series does not have stays "" */

        /* the disk metrics' dimensions: path, device, fstype, escaped as status shows them */
        (void) utf8_escape(m->mount_point, strlen(m->mount_point), UTF8_ESCAPE_C1, d.path, sizeof d.path);
        (void) utf8_escape(m->source, strlen(m->source), UTF8_ESCAPE_C1, d.device, sizeof d.device);
        (void) utf8_escape(m->fstype, strlen(m->fstype), UTF8_ESCAPE_C1, d.fstype, sizeof d.fstype);
        sampler_add(s, METRIC_DISK_USED_PERCENT, &d, now, f->usage.used_percent);
        sampler_add(s, METRIC_DISK_USED, &d, now, (double) f->usage.used);
        sampler_add(s, METRIC_DISK_FREE, &d, now, (double) f->usage.free);
        sampler_add(s, METRIC_DISK_TOTAL, &d, now, (double) f->usage.total);
        sampler_add(s, METRIC_DISK_INODES_USED, &d, now, (double) f->usage.inodes_used);
        sampler_add(s, METRIC_DISK_INODES_FREE, &d, now, (double) f->usage.inodes_free);
        sampler_add(s, METRIC_DISK_INODES_TOTAL, &d, now, (double) f->usage.inodes_total);
}

/* Arms the answer timer for the oldest call not yet judged, or turns it off. */
static void answer_timer_arm(Sampler *s) {
        usec_t next = USEC_INFINITY;

        for (size_t i = 0; i < s->n_fs; i++)
                if (s->fs[i].call && !s->fs[i].not_answering)
                        next = MIN(next, s->fs[i].call_started + FS_ANSWER_TIMEOUT_USEC);
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(s->answer_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(s->answer_timer, next);
        (void) sd_event_source_set_enabled(s->answer_timer, SD_EVENT_ONESHOT);
}

static int on_answer_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        Sampler *s = userdata;
        (void) src;

        for (size_t i = 0; i < s->n_fs; i++) {
                Filesystem *f = &s->fs[i];
                if (!f->call || f->not_answering || f->call_started + FS_ANSWER_TIMEOUT_USEC > usec)
                        continue;
                f->not_answering = true;
                f->have_usage = false;
                char path[SHOWN_MAX], dev[SHOWN_MAX], type[SHOWN_MAX];
                log_warning("Filesystem %s (%s %s) has not answered statvfs() in %llu s: no metrics from "
                            "it, and it is not asked again until it answers.",
                            shown(f->mount.mount_point, path), shown(f->mount.fstype, type),
                            shown(f->mount.source, dev),
                            (unsigned long long) (FS_ANSWER_TIMEOUT_USEC / USEC_PER_SEC));
        }
        answer_timer_arm(s);
        return 0;
}

/* A thread's answer: the usage of the filesystem whose call it was (if still watched). */
static void filesystem_answered(Sampler *s, const FsUsageReply *reply) {
        s->n_calls -= s->n_calls > 0;
        for (size_t i = 0; i < s->n_fs; i++) {
                Filesystem *f = &s->fs[i];
                if (f->call != reply->id)
                        continue;
                if (f->not_answering)
                        log_notice("Filesystem %s answers again, after %llu s.",
                                   shown(f->mount.mount_point, (char[SHOWN_MAX]){}),
                                   (unsigned long long) ((now_usec(CLOCK_MONOTONIC) - f->call_started) /
                                                         USEC_PER_SEC));
                f->call = 0;
                f->error = reply->error;
                f->have_usage = reply->error >= 0 && f->mounted;
                if (f->have_usage)
                        f->usage = reply->usage;
                /* an answer that came too late is no sample of the time it was asked for */
                if (f->have_usage && f->call_sample_at && !f->not_answering)
                        filesystem_record(s, f, f->call_sample_at);
                f->not_answering = false;
                f->call_sample_at = 0;
                break;
        }
        answer_timer_arm(s);
}

static int on_reply(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sampler *s = userdata;
        FsUsageReply reply;
        (void) src;
        (void) revents;

        while (recv(fd, &reply, sizeof reply, MSG_DONTWAIT) == (ssize_t) sizeof reply)
                filesystem_answered(s, &reply);
        return 0;
}

/* Asks every watched filesystem for its usage, off the loop; the answers are recorded in the
 * series (at NOW, when RECORD) as they come. A filesystem whose call is still out is not asked. */
static void filesystems_collect(Sampler *s, usec_t now, bool record) {
        usec_t mono = now_usec(CLOCK_MONOTONIC);
        int r;

        for (size_t i = 0; i < s->n_fs; i++) {
                Filesystem *f = &s->fs[i];
                if (!f->mounted) {
                        f->have_usage = false;
                        continue;
                }
                if (f->call) {
                        if (record && !f->call_sample_at && !f->not_answering)
                                f->call_sample_at = now;
                        continue;
                }
                if (s->n_calls >= MAX_CALLS) {
                        f->error = -EBUSY;
                        f->have_usage = false;
                        continue;
                }
                r = fs_usage_start(f->mount.mount_point, s->last_call + 1, s->reply_fd[1]);
                if (r < 0) {
                        log_debug_errno(r, "Cannot start statvfs(%s): %m",
                                        shown(f->mount.mount_point, (char[SHOWN_MAX]){}));
                        f->error = r;
                        f->have_usage = false;
                        continue;
                }
                f->call = ++s->last_call;
                f->call_started = mono;
                f->call_sample_at = record ? now : 0;
                s->n_calls++;
        }
        answer_timer_arm(s);
}

size_t sampler_calls_pending(const Sampler *s) {
        return s->n_calls;
}

void sampler_collect(Sampler *s) {
        usec_t now = now_usec(CLOCK_REALTIME);
        MemRaw raw;
        CpuTicks cpu;
        _cleanup_free_ char *psi = NULL;
        size_t psi_len;

        if (memory_read(&raw) >= 0 && memory_compute(&raw, &s->mem) >= 0) {
                const MemMetrics *m = &s->mem;
                s->have_mem = true;
                sampler_add(s, METRIC_MEM_USED_PERCENT, NULL, now, m->used_percent);
                sampler_add(s, METRIC_MEM_AVAILABLE_PERCENT, NULL, now, m->available_percent);
                sampler_add(s, METRIC_MEM_USED, NULL, now, m->used);
                sampler_add(s, METRIC_MEM_AVAILABLE, NULL, now, m->available);
                sampler_add(s, METRIC_MEM_TOTAL, NULL, now, m->total);
                sampler_add(s, METRIC_MEM_CACHED, NULL, now, m->cached);
                sampler_add(s, METRIC_MEM_BUFFERED, NULL, now, m->buffered);
                sampler_add(s, METRIC_MEM_FREE, NULL, now, m->free);
                sampler_add(s, METRIC_SWAP_USED_PERCENT, NULL, now, m->swap_used_percent);
                sampler_add(s, METRIC_SWAP_USED, NULL, now, m->swap_used);
                sampler_add(s, METRIC_SWAP_FREE, NULL, now, m->swap_free);
        }
        if (read_file_bounded("/proc/pressure/memory", 4096, &psi, &psi_len) >= 0 &&
            psi_parse_some_avg10(psi, psi_len, &s->psi) >= 0) {
                s->have_psi = true;
                sampler_add(s, METRIC_MEM_PRESSURE_SOME_AVG10, NULL, now, s->psi);
        }
        if (cpu_read(&cpu) >= 0) {
                if (s->have_cpu_prev && cpu_usage_active(&s->cpu_prev, &cpu, &s->cpu) >= 0) {
                        s->have_cpu = true;
                        sampler_add(s, METRIC_CPU_USAGE_ACTIVE, NULL, now, s->cpu);
                }
                s->cpu_prev = cpu;
                s->have_cpu_prev = true;
        }
        filesystems_collect(s, now, true);
}

static int sampler_on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Sampler *s = userdata;
        (void) usec;
        sampler_collect(s);
        return sd_event_source_set_time_relative(src, s->opts.interval_s * USEC_PER_SEC);
}

static int on_mounts(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Sampler *s = userdata;
        (void) src;
        (void) fd;
        (void) revents;
        /* A new or remounted filesystem shows in status at once; samples keep their interval (a
         * node that starts containers changes its mounts many times a minute). */
        mounts_refresh(s);
        filesystems_collect(s, 0, false);
        return 0;
}

int sampler_new(sd_event *event, const SamplerOptions *opts, const EventSink *sink, Sampler **ret) {
        _cleanup_(sampler_freep) Sampler *s = calloc(1, sizeof(Sampler));
        int r;

        if (!s)
                return -ENOMEM;
        s->mount_fd = s->reply_fd[0] = s->reply_fd[1] = -EBADF;
        s->event = sd_event_ref(event);
        s->opts = *opts;
        if (sink)
                s->sink = *sink;
        if (series_store_init(&s->series, opts->series_capacity, opts->watches, opts->n_watches) < 0 ||
            !(s->mounts = calloc(MAX_MOUNTS, sizeof(MountEntry))) ||
            !(s->mountinfo_path = strdup(opts->mountinfo_path ?: mountinfo_default())) ||
            !(s->sysfs = strdup(opts->sysfs ?: "/sys")))
                return -ENOMEM;
        for (char **f = opts->filesystems; f && *f; f++)
                if (strv_extend(&s->filesystems, *f) < 0)
                        return -ENOMEM;
        /* [1] stays blocking: a thread waits for room rather than lose its answer */
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, s->reply_fd) < 0 ||
            fcntl(s->reply_fd[0], F_SETFL, O_NONBLOCK) < 0)
                return negative_errno();
        r = sd_event_add_io(event, &s->reply_source, s->reply_fd[0], EPOLLIN, on_reply, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->reply_source, "statvfs-replies");
        r = sd_event_add_time(event, &s->answer_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC * 10,
                              on_answer_timeout, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->answer_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->answer_timer, "statvfs-timeout");
        mounts_refresh(s);
        sampler_collect(s);

        s->mount_fd = open(s->mountinfo_path, O_RDONLY | O_CLOEXEC);
        if (s->mount_fd >= 0) {
                r = sd_event_add_io(event, &s->mount_watch, s->mount_fd, EPOLLPRI, on_mounts, s);
                if (r < 0)
                        log_debug_errno(r, "Cannot watch %s, remounts are seen at the next sample: %m",
                                        s->mountinfo_path);
                else
                        (void) sd_event_source_set_description(s->mount_watch, "mountinfo");
        }
        r = sd_event_add_time_relative(event, &s->timer, CLOCK_MONOTONIC, opts->interval_s * USEC_PER_SEC,
                                       USEC_PER_MSEC * 10, sampler_on_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->timer, "sampler");
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ON);
        *ret = TAKE_PTR(s);
        return 0;
}

Sampler *sampler_free(Sampler *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->mount_watch);
        sd_event_source_disable_unref(s->reply_source);
        sd_event_source_disable_unref(s->answer_timer);
        safe_close(s->mount_fd);
        /* a thread still in statvfs() holds its own dup() of [1]: its send fails, nothing else */
        safe_close(s->reply_fd[0]);
        safe_close(s->reply_fd[1]);
        sd_event_unref(s->event);
        series_store_done(&s->series);
        strv_free(s->filesystems);
        free(s->mountinfo_path);
        free(s->sysfs);
        free(s->fs);
        free(s->mounts);
        free(s);
        return NULL;
}

const SeriesStore *sampler_series(const Sampler *s) {
        return &s->series;
}

SeriesStore *sampler_series_shared(Sampler *s) {
        return &s->series;
}

/* Before the first sample (or without a sampler): the keys, null. */
static cJSON *memory_absent_json(void) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddNullToObject(m, "total_bytes") || !cJSON_AddNullToObject(m, "available_bytes") ||
            !cJSON_AddNullToObject(m, "used_percent") || !cJSON_AddNullToObject(m, "swap_used_percent") ||
            !cJSON_AddNullToObject(m, "pressure_some_avg10")) {
                cJSON_Delete(m);
                return NULL;
        }
        return m;
}

static cJSON *memory_json(const Sampler *s) {
        if (!s || !s->have_mem)
                return memory_absent_json();
        cJSON *m = cJSON_CreateObject();
        if (!m)
                return NULL;
        const MemMetrics *x = &s->mem;
        if (!cJSON_AddNumberToObject(m, "total_bytes", x->total) ||
            !cJSON_AddNumberToObject(m, "available_bytes", x->available) ||
            !cJSON_AddNumberToObject(m, "used_bytes", x->used) ||
            !cJSON_AddNumberToObject(m, "cached_bytes", x->cached) ||
            !cJSON_AddNumberToObject(m, "used_percent", x->used_percent) ||
            !cJSON_AddNumberToObject(m, "available_percent", x->available_percent) ||
            !cJSON_AddNumberToObject(m, "swap_used_percent", x->swap_used_percent) ||
            !(s->have_psi ? cJSON_AddNumberToObject(m, "pressure_some_avg10", s->psi)
                          : cJSON_AddNullToObject(m, "pressure_some_avg10"))) {
                cJSON_Delete(m);
                return NULL;
        }
        return m;
}

static cJSON *filesystems_json(const Sampler *s) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; s && a && i < s->n_fs; i++) {
                const Filesystem *f = &s->fs[i];
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(a, o)) {
                        cJSON_Delete(o);
                        cJSON_Delete(a);
                        return NULL;
                }
                char path[SHOWN_MAX], dev[SHOWN_MAX], type[SHOWN_MAX];
                bool ok = cJSON_AddStringToObject(o, "path", shown(f->mount.mount_point, path)) &&
                          json_add_string_or_null(o, "device",
                                                  f->mounted ? shown(f->mount.source, dev) : NULL) &&
                          json_add_string_or_null(o, "fstype",
                                                  f->mounted ? shown(f->mount.fstype, type) : NULL) &&
                          cJSON_AddBoolToObject(o, "mounted", f->mounted) &&
                          cJSON_AddBoolToObject(o, "read_only", f->mount.read_only) &&
                          cJSON_AddBoolToObject(o, "became_read_only", f->became_read_only) &&
                          cJSON_AddBoolToObject(o, "instance_store", f->instance_store) &&
                          cJSON_AddBoolToObject(o, "answering", !f->not_answering) &&
                          json_add_string_or_null(o, "error",
                                                  f->not_answering             ? "not answering"
                                                  : f->mounted && f->error < 0 ? strerror(-f->error)
                                                                               : NULL);
                if (ok && f->have_usage)
                        ok = cJSON_AddNumberToObject(o, "used_percent", f->usage.used_percent) &&
                             cJSON_AddNumberToObject(o, "inodes_used_percent",
                                                     f->usage.inodes_used_percent) &&
                             cJSON_AddNumberToObject(o, "total_bytes", (double) f->usage.total) &&
                             cJSON_AddNumberToObject(o, "used_bytes", (double) f->usage.used) &&
                             cJSON_AddNumberToObject(o, "free_bytes", (double) f->usage.free);
                else if (ok)
                        ok = cJSON_AddNullToObject(o, "used_percent") &&
                             cJSON_AddNullToObject(o, "inodes_used_percent");
                if (!ok) {
                        cJSON_Delete(a); /* and O with it */
                        return NULL;
                }
        }
        return a;
}

int sampler_status(const Sampler *s, cJSON *doc) {
        cJSON *cpu = cJSON_CreateObject();
        int r = 0, k;

        if (cpu && !(s && s->have_cpu ? cJSON_AddNumberToObject(cpu, "usage_active", s->cpu)
                                      : cJSON_AddNullToObject(cpu, "usage_active"))) {
                cJSON_Delete(cpu);
                cpu = NULL;
        }
        /* Until the first sample the memory keys are null. */
        r = json_replace(doc, "memory", memory_json(s));
        k = json_replace(doc, "filesystems", filesystems_json(s));
        r = r < 0 ? r : k;
        k = json_replace(doc, "cpu", cpu);
        return r < 0 ? r : k;
}
