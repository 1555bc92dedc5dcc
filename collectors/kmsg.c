/* kmsg.c — the kernel log source: reads /dev/kmsg (or a FIFO or file of records) on the loop,
 * classifies each record and turns trouble into events.
 *
 * /dev/kmsg gives one record per read(2) and EPIPE when the ring buffer overran the reader
 * (counted; the next read goes on with the oldest record left). A FIFO or file is a stream of
 * lines instead. At start the current boot's buffer is replayed; records up to the sequence
 * number saved in kmsg-cursor.json for this boot were handled before a restart and are skipped.
 *
 * kmsg keeps its own cursor and reads no output back. Each save of kmsg-cursor.json is two fsyncs,
 * so a record that made no event moves the cursor on disk at most once a second (and at a clean
 * stop); a record that made an event moves it at once. The order of writes, and what a SIGKILL
 * between any two of them leaves:
 *  1. the record's events go to the sink, which appends them to events.jsonl (one write(2) each)
 *     and feeds the engine;
 *  2. the engine's firings are flushed (before_cursor_save);
 *  3. the cursor file is replaced by one naming the record (write_file_atomic: old or new).
 *  A kill before 1 loses nothing: the record is after the cursor on disk and is read again. A kill
 *  after 3 repeats nothing: the record is at or before the cursor and is skipped. A kill between
 *  1 and 3 re-reads the batch's records and makes their events again: the event is written
 *  first so that the only failure left is a repeat, never a loss (saving the cursor first would
 *  turn that window into a lost event), and the repeat stops in the manager: the journal knows
 *  the keys (boot, type, seq; a follow-up's last seq and count) of the events it holds
 *  (journal_holds), so each is recorded once.
 *  Records handled after the cursor on disk that made no event (up to the last second's) are
 *  read again:
 *    unclassified ones make nothing; OOM context lines only describe the next kill; records
 *    counted into a burst window that died with the process open a new window, whose first
 *    record makes an event (it made none before: the old window's count was never written).
 *  A cursor file that does not parse is set aside as kmsg-cursor.json.corrupt (state_set_aside)
 *  and the boot's buffer is replayed from its start: its events are made again, and those the
 *  journal still holds (its newest JOURNAL_RECENT_KEYS) are dropped as repeats.
 * A dispatch handles at most BATCH_RECORDS records (plus the rest of one read), then returns to
 * the loop so the status socket and the watchdog keep answering through a storm: /dev/kmsg and a
 * FIFO are level-triggered and become ready again, a file's timer is re-armed at once; reading
 * has a lower priority than the other sources, so what is pending runs before the next batch.
 *
 * Bursts: the first record of a class from one source is an event at once; the records of that
 * class and source within the next 60 s, by the records' own kernel timestamps, are counted into
 * it and reported by one follow-up event when the window closes. OOM kills are never merged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/kmsg.h"
#include "ec2agent/log.h"

#define CURSOR_FILE        "kmsg-cursor.json"
#define PROBLEMS_FILE      "kernel-problems.log"
#define PROBLEMS_MAX_BYTES (1024 * 1024)
#define MAX_WINDOWS        256
#define CONTEXT_LINES      40                 /* lines kept after an oops, warning, lockup or stall */
#define CONTEXT_USEC       (2 * USEC_PER_SEC) /* … within this much kernel time */
#define OOM_CONTEXT_USEC   (10 * USEC_PER_SEC)
#define HOUSEKEEPING_USEC  (5 * USEC_PER_SEC)
#define FILE_POLL_USEC     (1 * USEC_PER_SEC)
#define CURSOR_SAVE_USEC   (1 * USEC_PER_SEC) /* the most the cursor on disk lags what was read */
#define CURSOR_MAX_BYTES   4096
#define BATCH_RECORDS      64                              /* per dispatch */
#define READ_PRIORITY      (SD_EVENT_PRIORITY_NORMAL + 10) /* after the status socket and timers */

typedef struct Window {
        KmsgClass klass;
        char source[KMSG_SOURCE_MAX];
        usec_t first_ts, last_ts; /* kernel µs */
        usec_t opened;            /* monotonic, for closing windows when the log goes quiet */
        uint64_t count;
        uint64_t last_seq; /* the newest record counted */
        char last_line[256];
} Window;

typedef struct Problem {
        usec_t at;
        uint64_t count; /* this boot */
        char source[KMSG_SOURCE_MAX];
        char message[256];
} Problem;

struct Kmsg {
        sd_event *event;
        void (*before_cursor_save)(void *userdata);
        void *before_cursor_save_userdata;
        EventSink sink;
        char *path, *state_dir, *boot_id;
        int fd;
        bool device;  /* /dev/kmsg: one record per read */
        bool regular; /* a plain file: polled by a timer */
        sd_event_source *io, *housekeeping, *file_timer, *cursor_timer;
        unsigned batch;  /* records handled in this dispatch */
        Buf stream;      /* partial lines of a FIFO or file */
        bool discarding; /* inside an over-long line */
        char record[KMSG_MAX_RECORD + 1];

        uint64_t cursor_seq; /* the last record handled */
        bool cursor_known;
        uint64_t saved_seq;
        bool unsaved_events;  /* events were made since the cursor was last saved */
        usec_t boot_realtime; /* realtime at kernel time 0 */

        Window *windows; /* open burst windows: grown as they open, freed when none is */
        size_t n_windows, n_windows_alloc;
        usec_t next_close_ts;

        KmsgMatch oom_context;
        usec_t oom_context_ts;
        bool have_oom_context;

        unsigned context_left; /* lines still to copy into the problem log */
        usec_t context_until;

        uint64_t records, overruns, malformed, oom_kills;
        Problem problems[_KMSG_CLASS_MAX];
        bool have_last_oom;
        usec_t last_oom_at;
        KmsgMatch last_oom;
};

/* ---- persistence ---- */

static void cursor_save(Kmsg *k) {
        char text[128];
        int n, r;

        if (!k->state_dir || !k->cursor_known || k->saved_seq == k->cursor_seq)
                return;
        if (k->before_cursor_save)
                k->before_cursor_save(k->before_cursor_save_userdata);
        n = snprintf(text, sizeof text, "{\"boot_id\":\"%s\",\"seq\":%llu}\n", k->boot_id,
                     (unsigned long long) k->cursor_seq);
        r = write_file_atomic(k->state_dir, CURSOR_FILE, text, (size_t) n, 0640);
        if (r < 0)
                log_debug_errno(r, "Cannot save the kernel log cursor: %m");
        else {
                k->saved_seq = k->cursor_seq;
                k->unsaved_events = false;
        }
}

/* Saves the cursor now when the records handled since the last save made events: see the order of
 * writes at the top. Called at the end of a batch, not per record, so that a storm of events costs
 * one save a batch (a save is two fsyncs, and the loop must keep answering). */
static void cursor_save_if_events(Kmsg *k) {
        if (k->unsaved_events)
                cursor_save(k);
}

/* Every event of this file goes out here: the sink appends it to the journal before it returns. */
static void kmsg_emit(Kmsg *k, Event *e) {
        event_sink_emit(&k->sink, e);
        k->unsaved_events = true;
}

static int on_cursor_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        cursor_save(userdata);
        return 0;
}

/* The cursor moved: saved within CURSOR_SAVE_USEC, once for all the records read until then. */
static void cursor_schedule(Kmsg *k) {
        int enabled = SD_EVENT_OFF;

        if (!k->state_dir || k->saved_seq == k->cursor_seq)
                return;
        if (!k->cursor_timer) {
                if (sd_event_add_time_relative(k->event, &k->cursor_timer, CLOCK_MONOTONIC, CURSOR_SAVE_USEC,
                                               0, on_cursor_timer, k) < 0) {
                        cursor_save(k); /* no timer (ENOMEM): save now rather than never */
                        return;
                }
                (void) sd_event_source_set_description(k->cursor_timer, "kmsg-cursor");
                return;
        }
        if (sd_event_source_get_enabled(k->cursor_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time_relative(k->cursor_timer, CURSOR_SAVE_USEC) < 0 ||
            sd_event_source_set_enabled(k->cursor_timer, SD_EVENT_ONESHOT) < 0)
                cursor_save(k);
}

/* SEQ, a record's sequence number, when O (the cursor file) is of boot BOOT_ID:
 * another boot's sequence numbers mean nothing now. */
static bool seq_of_boot(const cJSON *o, const cJSON *seq, const char *boot_id, uint64_t *ret) {
        const char *boot = json_get_string(o, "boot_id");

        if (!boot || strcmp(boot, boot_id) != 0 || !cJSON_IsNumber(seq) || !(seq->valuedouble >= 0) ||
            seq->valuedouble > 0x1p53)
                return false;
        *ret = (uint64_t) seq->valuedouble;
        return true;
}

static void cursor_load(Kmsg *k) {
        _cleanup_json_ cJSON *j = NULL;
        uint64_t seq;

        if (k->state_dir && state_load_json(k->state_dir, CURSOR_FILE, CURSOR_MAX_BYTES, &j) > 0) {
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "seq");
                if (seq_of_boot(j, s, k->boot_id, &seq)) {
                        k->cursor_seq = k->saved_seq = seq;
                        k->cursor_known = true;
                } else if (!json_get_string(j, "boot_id") || !cJSON_IsNumber(s) || s->valuedouble < 0 ||
                           s->valuedouble > 0x1p53)
                        (void) state_set_aside(k->state_dir, CURSOR_FILE, "no boot_id and seq");
                /* else a cursor of another boot: its sequence numbers mean nothing now */
        }
}

/* Appends LINE to the bounded problem log the report bundles (with one rotation). */
static void problem_log(Kmsg *k, usec_t at, const char *what, const char *line) {
        _cleanup_free_ char *path = NULL, *old = NULL;
        char ts[RFC3339_MAX];
        struct stat st;
        FILE *f;

        if (!k->state_dir || !(path = path_join(k->state_dir, PROBLEMS_FILE)))
                return;
        if (stat(path, &st) == 0 && st.st_size > PROBLEMS_MAX_BYTES && asprintf(&old, "%s.1", path) >= 0)
                (void) rename(path, old);
        f = fopen(path, "ae");
        if (!f)
                return;
        fprintf(f, "%s %-14s %s\n", format_rfc3339(ts, at), what, line);
        fclose(f);
}

/* ---- events ---- */

static usec_t record_realtime(const Kmsg *k, usec_t ts) {
        return k->boot_realtime + ts;
}

static void add_fields(cJSON *d, const KmsgMatch *m) {
        if (m->source[0])
                cJSON_AddStringToObject(d, "source", m->source);
        if (m->process[0])
                cJSON_AddStringToObject(d, "process", m->process);
        if (m->pid)
                cJSON_AddNumberToObject(d, "pid", (double) m->pid);
        if (m->klass == KMSG_IO_ERROR || m->klass == KMSG_FS_ERROR || m->klass == KMSG_FS_READONLY)
                json_add_string_or_null(d, "device", m->source[0] ? m->source : NULL);
        if (m->sector)
                cJSON_AddNumberToObject(d, "sector", (double) m->sector);
        if (m->seconds)
                cJSON_AddNumberToObject(d, "seconds", (double) m->seconds);
        if (m->where[0])
                cJSON_AddStringToObject(d, m->klass == KMSG_SEGFAULT ? "library" : "where", m->where);
}

static void emit_problem(Kmsg *k, const KmsgRecord *rec, const KmsgMatch *m) {
        const char *type = kmsg_class_to_string(m->klass);
        usec_t at = record_realtime(k, rec->ts);
        char cut[201];
        (void) kmsg_text_decode(rec->text, rec->text_len, cut, sizeof cut); /* at a character boundary */
        Event *e = event_new(type, "%s: %s", type, cut);

        if (!e)
                return (void) log_oom();
        e->at = at;
        cJSON_AddStringToObject(e->detail, "line", rec->text);
        cJSON_AddStringToObject(e->detail, "format", m->format);
        cJSON_AddNumberToObject(e->detail, "seq", (double) rec->seq);
        cJSON_AddNumberToObject(e->detail, "kernel_ts_us", (double) rec->ts);
        cJSON_AddNumberToObject(e->detail, "count", 1);
        add_fields(e->detail, m);
        kmsg_emit(k, e);

        Problem *p = &k->problems[m->klass];
        p->at = at;
        p->count++;
        snprintf(p->source, sizeof p->source, "%s", m->source);
        (void) kmsg_text_decode(rec->text, rec->text_len, p->message, sizeof p->message);
        problem_log(k, at, type, rec->text);
}

static void emit_oom(Kmsg *k, const KmsgRecord *rec, const KmsgMatch *m) {
        usec_t at = record_realtime(k, rec->ts);
        const KmsgMatch *ctx = k->have_oom_context && rec->ts <= k->oom_context_ts + OOM_CONTEXT_USEC
                                       ? &k->oom_context
                                       : NULL;
        const char *constraint = ctx && ctx->constraint[0] ? ctx->constraint
                                 : m->cgroup_oom           ? "CONSTRAINT_MEMCG"
                                                           : NULL;
        Event *e = event_new("oom-kill", "OOM kill of %s (pid %lld), anon-rss %llu kB%s%s", m->process,
                             (long long) m->pid, (unsigned long long) m->anon_rss_kb,
                             ctx && ctx->cgroup[0] ? " in " : "", ctx && ctx->cgroup[0] ? ctx->cgroup : "");

        if (!e)
                return (void) log_oom();
        e->at = at;
        cJSON *d = e->detail;
        cJSON_AddNumberToObject(d, "pid", (double) m->pid);
        cJSON_AddStringToObject(d, "process", m->process);
        cJSON_AddNumberToObject(d, "total_vm_kb", (double) m->total_vm_kb);
        cJSON_AddNumberToObject(d, "anon_rss_kb", (double) m->anon_rss_kb);
        cJSON_AddNumberToObject(d, "file_rss_kb", (double) m->file_rss_kb);
        cJSON_AddNumberToObject(d, "shmem_rss_kb", (double) m->shmem_rss_kb);
        if (m->pgtables_kb)
                cJSON_AddNumberToObject(d, "pgtables_kb", (double) m->pgtables_kb);
        if (m->has_uid)
                cJSON_AddNumberToObject(d, "uid", (double) m->uid);
        if (m->has_score_adj)
                cJSON_AddNumberToObject(d, "oom_score_adj", (double) m->oom_score_adj);
        json_add_string_or_null(d, "constraint", constraint);
        json_add_string_or_null(d, "cgroup", ctx && ctx->cgroup[0] ? ctx->cgroup : NULL);
        json_add_string_or_null(d, "trigger", ctx && ctx->process[0] ? ctx->process : NULL);
        cJSON_AddBoolToObject(d, "cgroup_oom",
                              m->cgroup_oom || (constraint && strcmp(constraint, "CONSTRAINT_MEMCG") == 0));
        cJSON_AddStringToObject(d, "line", rec->text);
        cJSON_AddNumberToObject(d, "seq", (double) rec->seq);
        kmsg_emit(k, e);

        k->oom_kills++;
        k->have_last_oom = true;
        k->last_oom_at = at;
        k->last_oom = *m;
        if (ctx)
                snprintf(k->last_oom.cgroup, sizeof k->last_oom.cgroup, "%s", ctx->cgroup);
        k->have_oom_context = false;
        problem_log(k, at, "oom-kill", rec->text);
}

/* ---- burst windows ---- */

static void window_close(Kmsg *k, size_t i) {
        Window *w = &k->windows[i];
        if (w->count > 1) {
                const char *type = kmsg_class_to_string(w->klass);
                Event *e = event_new(type, "%llu %s records from %s within %llu s (the first was reported)",
                                     (unsigned long long) w->count, type,
                                     w->source[0] ? w->source : "the kernel",
                                     (unsigned long long) ((w->last_ts - w->first_ts) / USEC_PER_SEC));
                if (e) {
                        e->at = record_realtime(k, w->last_ts);
                        cJSON_AddBoolToObject(e->detail, "aggregated", true);
                        cJSON_AddNumberToObject(e->detail, "count", (double) w->count);
                        cJSON_AddStringToObject(e->detail, "source", w->source);
                        json_add_time(e->detail, "first_at", record_realtime(k, w->first_ts));
                        json_add_time(e->detail, "last_at", record_realtime(k, w->last_ts));
                        cJSON_AddStringToObject(e->detail, "last_line", w->last_line);
                        cJSON_AddNumberToObject(e->detail, "last_seq", (double) w->last_seq);
                        kmsg_emit(k, e);
                        k->problems[w->klass].count += w->count - 1;
                } else
                        log_oom();
        }
        k->windows[i] = k->windows[--k->n_windows];
}

static void windows_recompute(Kmsg *k) {
        k->next_close_ts = USEC_INFINITY;
        for (size_t i = 0; i < k->n_windows; i++)
                k->next_close_ts = MIN(k->next_close_ts, k->windows[i].first_ts + KMSG_BURST_WINDOW_USEC);
}

/* Closes the windows whose 60 s have passed by kernel time TS, or by the monotonic clock MONO
 * (0: not by the clock). */
static void windows_expire(Kmsg *k, usec_t ts, usec_t mono) {
        for (size_t i = 0; i < k->n_windows;) {
                Window *w = &k->windows[i];
                if (ts > w->first_ts + KMSG_BURST_WINDOW_USEC ||
                    (mono && mono > w->opened + KMSG_BURST_WINDOW_USEC))
                        window_close(k, i);
                else
                        i++;
        }
        if (k->n_windows == 0) { /* a storm's windows (up to 90 KB) go back once it is over */
                k->windows = mfree(k->windows);
                k->n_windows_alloc = 0;
        }
        windows_recompute(k);
}

#define OOPS_BANNER_USEC (5 * USEC_PER_SEC) /* an oops's die banner follows its first line within */

/* An oops's first lines ("BUG: unable to handle …") come before its die banner ("Oops: 0002 [#1]
 * SMP"), which alone carries the die counter: the banner (M) names the window those lines opened,
 * so one oops is one event and each die counter its own source (SPEC §6). */
static void oops_banner_names_window(Kmsg *k, const KmsgRecord *rec, const KmsgMatch *m) {
        Window *unnamed = NULL;
        for (size_t i = 0; i < k->n_windows; i++) {
                Window *w = &k->windows[i];
                if (w->klass != KMSG_KERNEL_OOPS)
                        continue;
                if (strcmp(w->source, m->source) == 0)
                        return; /* this oops has its window */
                if (!w->source[0] && rec->ts <= w->last_ts + OOPS_BANNER_USEC)
                        unnamed = w;
        }
        if (unnamed)
                snprintf(unnamed->source, sizeof unnamed->source, "%s", m->source);
}

/* Returns true when REC belongs to an open window (counted, no event). */
static bool window_absorb(Kmsg *k, const KmsgRecord *rec, const KmsgMatch *m) {
        if (m->klass == KMSG_KERNEL_OOPS && m->source[0] == '#')
                oops_banner_names_window(k, rec, m);
        for (size_t i = 0; i < k->n_windows; i++) {
                Window *w = &k->windows[i];
                if (w->klass == m->klass && strcmp(w->source, m->source) == 0) {
                        w->count++;
                        w->last_ts = MAX(w->last_ts, rec->ts);
                        w->last_seq = rec->seq;
                        (void) kmsg_text_decode(rec->text, rec->text_len, w->last_line, sizeof w->last_line);
                        return true;
                }
        }
        if (k->n_windows == MAX_WINDOWS) {
                size_t oldest = 0;
                for (size_t i = 1; i < k->n_windows; i++)
                        if (k->windows[i].first_ts < k->windows[oldest].first_ts)
                                oldest = i;
                window_close(k, oldest);
        }
        if (k->n_windows == k->n_windows_alloc) {
                size_t n = MIN(MAX(2 * k->n_windows_alloc, (size_t) 4), (size_t) MAX_WINDOWS);
                Window *grown = reallocarray(k->windows, n, sizeof(Window));
                if (!grown) { /* reported, not aggregated */
                        log_oom();
                        return false;
                }
                k->windows = grown;
                k->n_windows_alloc = n;
        }
        Window *w = &k->windows[k->n_windows++];
        *w = (Window){ .klass = m->klass,
                       .first_ts = rec->ts,
                       .last_ts = rec->ts,
                       .count = 1,
                       .last_seq = rec->seq,
                       .opened = now_usec(CLOCK_MONOTONIC) };
        snprintf(w->source, sizeof w->source, "%s", m->source);
        k->next_close_ts = MIN(k->next_close_ts, rec->ts + KMSG_BURST_WINDOW_USEC);
        return false;
}

/* ---- records ---- */

static void handle_record(Kmsg *k, char *buf, size_t len) {
        KmsgRecord rec;
        KmsgMatch m;

        k->batch++;
        if (kmsg_parse_record(buf, len, &rec) < 0) {
                k->malformed++;
                return;
        }
        k->records++;
        if (k->cursor_known && rec.seq <= k->cursor_seq)
                return; /* handled before a restart */
        k->cursor_seq = rec.seq;
        k->cursor_known = true;
        cursor_schedule(k);

        if (rec.ts > k->next_close_ts)
                windows_expire(k, rec.ts, 0);
        if (k->context_left > 0 && rec.ts <= k->context_until) {
                k->context_left--;
                problem_log(k, record_realtime(k, rec.ts), "  context", rec.text);
        }

        KmsgClass c = kmsg_classify(&rec, &m);
        switch (c) {
        case KMSG_NONE:
                return;
        case KMSG_OOM_CONTEXT:
                /* Lines before the victim describe it: keep what each one adds. */
                if (!k->have_oom_context || rec.ts > k->oom_context_ts + OOM_CONTEXT_USEC)
                        k->oom_context = (KmsgMatch){};
                if (m.constraint[0])
                        memcpy(k->oom_context.constraint, m.constraint, sizeof m.constraint);
                if (m.cgroup[0])
                        memcpy(k->oom_context.cgroup, m.cgroup, sizeof m.cgroup);
                if (m.process[0] && !k->oom_context.process[0])
                        memcpy(k->oom_context.process, m.process, sizeof m.process);
                k->oom_context_ts = rec.ts;
                k->have_oom_context = true;
                return;
        case KMSG_OOM_KILL:
                emit_oom(k, &rec, &m);
                return;
        default:
                if (window_absorb(k, &rec, &m))
                        return;
                emit_problem(k, &rec, &m);
                if (c == KMSG_KERNEL_OOPS || c == KMSG_KERNEL_WARNING || c == KMSG_HUNG_TASK ||
                    c == KMSG_SOFT_LOCKUP || c == KMSG_RCU_STALL) {
                        k->context_left = CONTEXT_LINES;
                        k->context_until = rec.ts + CONTEXT_USEC;
                }
        }
}

/* Splits a stream into lines; continuation lines (" KEY=VALUE") carry nothing we classify. */
static void handle_stream(Kmsg *k, const char *data, size_t len) {
        for (size_t i = 0; i < len;) {
                const char *nl = memchr(data + i, '\n', len - i);
                size_t n = nl ? (size_t) (nl - (data + i)) : len - i;
                if (k->discarding) {
                        if (nl)
                                k->discarding = false;
                } else if (buf_append(&k->stream, data + i, n) < 0) {
                        k->malformed++;
                        buf_reset(&k->stream);
                        k->discarding = !nl;
                } else if (nl) {
                        if (k->stream.len > 0 && k->stream.data[0] != ' ')
                                handle_record(k, k->stream.data, k->stream.len);
                        buf_reset(&k->stream);
                }
                i += n + (nl ? 1 : 0);
        }
}

/* /dev/kmsg as the unit hands it over: systemd opens it as root (StandardInput=file:/dev/kmsg)
 * before it starts the agent as its own user without capabilities, and reading an open
 * /dev/kmsg needs none (opening it does, under kernel.dmesg_restrict=1). A copy of standard input
 * when that is the device (1:11), non-blocking; -EBADF otherwise. */
static int kmsg_inherited(void) {
        struct stat st;
        int fd, flags;

        if (fstat(STDIN_FILENO, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 11))
                return -EBADF;
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        return fd;
}

static int kmsg_open(Kmsg *k) {
        struct stat st;
        k->fd = strcmp(k->path, "/dev/kmsg") == 0 ? kmsg_inherited() : -EBADF;
        if (k->fd < 0)
                k->fd = open(k->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (k->fd < 0)
                return negative_errno();
        if (fstat(k->fd, &st) < 0)
                return negative_errno();
        k->device = S_ISCHR(st.st_mode);
        k->regular = S_ISREG(st.st_mode);
        return 0;
}

/* Reads what is there, at most BATCH_RECORDS records (and the rest of the read that reached
 * them) per call so other sources run in a storm. Overruns (EPIPE) are counted and reading goes
 * on. Returns 1 at the end of a FIFO's stream, 2 when more may be waiting. */
static int kmsg_drain_batch(Kmsg *k) {
        for (k->batch = 0; k->batch < BATCH_RECORDS;) {
                ssize_t n = read(k->fd, k->record, KMSG_MAX_RECORD);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EPIPE) {
                                k->overruns++; /* the ring buffer overwrote records we had not read */
                                k->batch++;    /* bounded even if the kernel says nothing else */
                                continue;
                        }
                        if (errno == EAGAIN)
                                return 0;
                        log_debug_errno(errno, "Reading %s failed: %m", k->path);
                        return 0;
                }
                if (n == 0)
                        return 1;
                if (k->device) {
                        k->record[n] = 0;
                        handle_record(k, k->record, (size_t) n);
                } else {
                        handle_stream(k, k->record, (size_t) n);
                        k->batch++; /* an empty or endless line still counts */
                }
        }
        return 2; /* more may be waiting: the loop calls again, other sources run in between */
}

/* One batch, then the cursor when the batch made events. Returns as kmsg_drain_batch(). */
static int kmsg_drain(Kmsg *k) {
        int r = kmsg_drain_batch(k);
        cursor_save_if_events(k);
        return r;
}

static int kmsg_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Kmsg *k = userdata;
        (void) fd;

        int r = kmsg_drain(k);
        if (r == 1 || (r == 0 && (revents & EPOLLHUP))) {
                /* A FIFO's writer went away (and all it wrote was read): reopen, or epoll reports
                 * the hang-up forever. */
                (void) s;
                sd_event_source_disable_unref(TAKE_PTR(k->io));
                k->fd = safe_close(k->fd);
                if (kmsg_open(k) < 0 || sd_event_add_io(k->event, &k->io, k->fd, EPOLLIN, kmsg_on_io, k) < 0)
                        log_warning("Cannot reopen %s; kernel log events stop.", k->path);
                else {
                        (void) sd_event_source_set_description(k->io, "kmsg");
                        (void) sd_event_source_set_priority(k->io, READ_PRIORITY);
                }
        }
        return 0;
}

static int on_file_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Kmsg *k = userdata;
        (void) usec;
        /* A full batch: back at once, after the loop's other sources; else at the next poll. (A
         * time source is one-shot: it must be enabled again, or a file is read only once.) */
        int r = sd_event_source_set_time_relative(s, kmsg_drain(k) == 2 ? 0 : FILE_POLL_USEC);
        return r < 0 ? r : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_housekeeping(sd_event_source *s, uint64_t usec, void *userdata) {
        Kmsg *k = userdata;
        (void) usec;
        windows_expire(k, 0, now_usec(CLOCK_MONOTONIC));
        cursor_save(k);
        return sd_event_source_set_time_relative(s, HOUSEKEEPING_USEC);
}

int kmsg_new(sd_event *event, const KmsgOptions *opts, const EventSink *sink, Kmsg **ret) {
        _cleanup_(kmsg_freep) Kmsg *k = calloc(1, sizeof(Kmsg));
        int r;

        if (!k)
                return -ENOMEM;
        k->fd = -EBADF;
        k->event = sd_event_ref(event);
        k->sink = *sink;
        k->before_cursor_save = opts->before_cursor_save;
        k->before_cursor_save_userdata = opts->before_cursor_save_userdata;
        k->next_close_ts = USEC_INFINITY;
        buf_init(&k->stream, KMSG_MAX_RECORD);
        if (!(k->path = strdup(opts->path ?: "")) || !(k->boot_id = strdup(opts->boot_id ?: "")) ||
            (opts->state_dir && !(k->state_dir = strdup(opts->state_dir))))
                return -ENOMEM;
        k->boot_realtime = now_usec(CLOCK_REALTIME) - now_usec(CLOCK_MONOTONIC);
        cursor_load(k);
        if (!opts->path) { /* fed by kmsg_feed() only */
                *ret = TAKE_PTR(k);
                return 0;
        }

        r = kmsg_open(k);
        if (r < 0)
                return r;
        if (k->regular)
                r = sd_event_add_time_relative(event, &k->file_timer, CLOCK_MONOTONIC, 0, 0, on_file_timer,
                                               k);
        else
                r = sd_event_add_io(event, &k->io, k->fd, EPOLLIN, kmsg_on_io, k);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(k->io ?: k->file_timer, "kmsg");
        (void) sd_event_source_set_priority(k->io ?: k->file_timer, READ_PRIORITY);
        r = sd_event_add_time_relative(event, &k->housekeeping, CLOCK_MONOTONIC, HOUSEKEEPING_USEC, 0,
                                       on_housekeeping, k);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(k->housekeeping, "kmsg-housekeeping");
        *ret = TAKE_PTR(k);
        return 0;
}

void kmsg_feed(Kmsg *k, const void *data, size_t len, bool record) {
        if (!record)
                handle_stream(k, data, len);
        else if (len > KMSG_MAX_RECORD) { /* as read(2) of /dev/kmsg would not give it */
                k->malformed++;
        } else {
                memcpy(k->record, data, len);
                k->record[len] = 0;
                handle_record(k, k->record, len);
        }
        cursor_save_if_events(k); /* as at the end of a batch read from the file */
}

Kmsg *kmsg_free(Kmsg *k) {
        if (!k)
                return NULL;
        cursor_save(k);
        sd_event_source_disable_unref(k->io);
        sd_event_source_disable_unref(k->file_timer);
        sd_event_source_disable_unref(k->housekeeping);
        sd_event_source_disable_unref(k->cursor_timer);
        safe_close(k->fd);
        sd_event_unref(k->event);
        buf_done(&k->stream);
        free(k->windows);
        free(k->path);
        free(k->state_dir);
        free(k->boot_id);
        free(k);
        return NULL;
}

int kmsg_status(const Kmsg *k, cJSON *kernel) {
        if (!k) {
                /* the kernel log is off or unreadable: no kernel event counted */
                cJSON *n = cJSON_CreateNumber(0);
                int r = json_replace(kernel, "oom_kills", n);
                int s = json_replace(kernel, "last_oom", cJSON_CreateNull());
                int t = json_replace(kernel, "problems", cJSON_CreateArray());
                return r < 0 ? r : s < 0 ? s : t;
        }
        cJSON *problems = cJSON_CreateArray(), *oom = NULL, *counters = cJSON_CreateObject();

        if (!problems || !counters)
                goto oom;
        for (int c = 0; c < _KMSG_CLASS_MAX; c++) {
                const Problem *p = &k->problems[c];
                cJSON *o;
                if (p->count == 0 || c == KMSG_OOM_KILL)
                        continue;
                if (!(o = cJSON_CreateObject()) || !cJSON_AddItemToArray(problems, o)) {
                        cJSON_Delete(o);
                        goto oom;
                }
                if (!cJSON_AddStringToObject(o, "class", kmsg_class_to_string((KmsgClass) c)) ||
                    !json_add_time(o, "at", p->at) || !cJSON_AddStringToObject(o, "message", p->message) ||
                    !json_add_string_or_null(o, "source", p->source[0] ? p->source : NULL) ||
                    !cJSON_AddNumberToObject(o, "count", (double) p->count))
                        goto oom;
        }
        if (k->have_last_oom) {
                if (!(oom = cJSON_CreateObject()) || !json_add_time(oom, "at", k->last_oom_at) ||
                    !cJSON_AddNumberToObject(oom, "pid", (double) k->last_oom.pid) ||
                    !cJSON_AddStringToObject(oom, "process", k->last_oom.process) ||
                    !cJSON_AddNumberToObject(oom, "anon_rss_kb", (double) k->last_oom.anon_rss_kb) ||
                    !json_add_string_or_null(oom, "cgroup",
                                             k->last_oom.cgroup[0] ? k->last_oom.cgroup : NULL))
                        goto oom;
        } else if (!(oom = cJSON_CreateNull()))
                goto oom;
        if (!cJSON_AddNumberToObject(counters, "records", (double) k->records) ||
            !cJSON_AddNumberToObject(counters, "overruns", (double) k->overruns) ||
            !cJSON_AddNumberToObject(counters, "malformed", (double) k->malformed) ||
            !cJSON_AddStringToObject(counters, "path", k->path))
                goto oom;
        cJSON *n = cJSON_CreateNumber((double) k->oom_kills);
        int r = json_replace(kernel, "oom_kills", n);
        int s = json_replace(kernel, "last_oom", oom);
        int t = json_replace(kernel, "problems", problems);
        int u = json_replace(kernel, "kmsg", counters);
        return r < 0 ? r : s < 0 ? s : t < 0 ? t : u;
oom:
        cJSON_Delete(problems);
        cJSON_Delete(oom);
        cJSON_Delete(counters);
        return -ENOMEM;
}
