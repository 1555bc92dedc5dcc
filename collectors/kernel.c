/* kernel.c — kernel state: taint, and the crash records a dead boot leaves in pstore.
 *
 * pstore (Documentation/admin-guide/ramoops.rst, fs/pstore): after a panic or oops the kernel
 * saves the tail of its log as files such as dmesg-efi-165395423601001 or dmesg-ramoops-0:
 *   "Panic#1 Part1\n<6>[    0.000000] Linux version …\n<0>[ 1234.567890] Kernel panic - not syncing: …"
 * systemd-pstore.service moves them to /var/lib/systemd/pstore/<time>/ at boot on systemd 243+. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/log.h"
#include "ec2agent/utf8.h"

#define PSTORE_SEEN_FILE  "pstore-seen.json"
#define PSTORE_MAX_RECORD (1024 * 1024)
#define PSTORE_MAX_SEEN   256

int kernel_parse_taint(const char *text, size_t len, uint64_t *ret) {
        /* "0\n", "12289\n" (kernel/sysctl.c proc_taint: an unsigned long in decimal) */
        if (len > 0 && text[len - 1] == '\n')
                len--;
        if (len == 0 || len > 20)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++)
                if (text[i] < '0' || text[i] > '9')
                        return -EBADMSG;
        return parse_u64_n(text, len, UINT64_MAX, ret) < 0 ? -EBADMSG : 0;
}

int kernel_read_taint(const char *path, uint64_t *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_file_bounded(path, 64, &text, &len);
        if (r < 0)
                return r;
        return kernel_parse_taint(text, len, ret);
}

void kernel_taint_letters(uint64_t taint, char ret[static 32]) {
        static const char letters[] = "PFSRMBUDAWCIOELKXTN";
        size_t n = 0;
        for (size_t bit = 0; bit < sizeof letters - 1; bit++)
                if (taint & (UINT64_C(1) << bit))
                        ret[n++] = letters[bit];
        ret[n] = 0;
}

/* Strips "<0>[ 1234.567890] " from a pstore line; returns the message start. */
static const char *strip_prefix(const char *line, const char *end) {
        const char *p = line;
        if (p < end && *p == '<') {
                const char *g = memchr(p, '>', (size_t) (end - p));
                if (g && g - p <= 4)
                        p = g + 1;
        }
        if (p < end && *p == '[') {
                const char *b = memchr(p, ']', (size_t) (end - p));
                if (b && b - p <= 20)
                        p = b + 1 + (b + 1 < end && b[1] == ' ');
        }
        return p;
}

int pstore_summarize(const char *text, size_t len, char *ret, size_t max) {
        char best[512] = "", line[512];
        int best_rank = 0;
        const char *end = text + len;

        for (const char *l = text; l < end;) {
                const char *nl = memchr(l, '\n', (size_t) (end - l)), *le = nl ?: end;
                const char *msg = strip_prefix(l, le);
                size_t n = MIN((size_t) (le - msg), sizeof line - 1);
                memcpy(line, msg, n);
                line[n] = 0;

                KmsgRecord rec = { .text = line, .text_len = n };
                KmsgMatch m;
                KmsgClass c = kmsg_classify(&rec, &m);
                int rank = startswith(line, "Kernel panic - not syncing") ? 4
                           : c == KMSG_KERNEL_OOPS                        ? 3
                           : c == KMSG_SOFT_LOCKUP || c == KMSG_RCU_STALL || c == KMSG_HUNG_TASK ||
                                           c == KMSG_OOM_KILL
                                   ? 2
                           : (startswith(line, "Panic#") || startswith(line, "Oops#")) ? 1
                                                                                       : 0;
                if (rank > best_rank) {
                        best_rank = rank;
                        snprintf(best, sizeof best, "%s", line);
                }
                l = nl ? nl + 1 : end;
        }
        if (best_rank == 0)
                return -ENODATA;
        /* a crash record holds what processes made the kernel print (comm, paths): it reaches
         * status, events and terminals only as valid UTF-8 without control characters */
        (void) utf8_escape(best, strlen(best), UTF8_ESCAPE_C1, ret, max);
        return 0;
}

typedef struct Record {
        char path[512];
        char key[320];
        time_t mtime;
} Record;

/* Adds the dmesg-* files of DIR to RECS (at most CAP). */
static size_t list_records(const char *dir, Record *recs, size_t n, size_t cap) {
        DIR *d = opendir(dir);
        struct dirent *e;
        struct stat st;

        if (!d)
                return n;
        while ((e = readdir(d)) && n < cap) {
                Record *r = &recs[n];
                if (!startswith(e->d_name, "dmesg-"))
                        continue;
                if ((size_t) snprintf(r->path, sizeof r->path, "%s/%s", dir, e->d_name) >= sizeof r->path ||
                    stat(r->path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                snprintf(r->key, sizeof r->key, "%s:%lld:%lld", e->d_name, (long long) st.st_size,
                         (long long) st.st_mtime);
                r->mtime = st.st_mtime;
                n++;
        }
        closedir(d);
        return n;
}

int pstore_seen_parse(const char *text, size_t len, cJSON **ret) {
        _cleanup_json_ cJSON *j = cJSON_ParseWithLength(text, len), *out = cJSON_CreateArray();
        const cJSON *list = cJSON_IsArray(j) ? j : cJSON_GetObjectItemCaseSensitive(j, "seen"), *k;

        if (!out)
                return -ENOMEM;
        if (!cJSON_IsArray(list))
                return -EBADMSG;
        cJSON_ArrayForEach (k, list) {
                if (!cJSON_IsString(k) || strlen(k->valuestring) >= sizeof(((Record *) NULL)->key))
                        return -EBADMSG;
                cJSON *c = cJSON_CreateString(k->valuestring);
                if (!c || !cJSON_AddItemToArray(out, c)) {
                        cJSON_Delete(c);
                        return -ENOMEM;
                }
                if (cJSON_GetArraySize(out) > PSTORE_MAX_SEEN)
                        cJSON_DeleteItemFromArray(out, 0);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* STATE_DIR/pstore-seen.json's keys; an unreadable file is set aside (NAME.corrupt, with a
 * warning) and the scan starts with none: its records are reported once more, never lost. */
static cJSON *pstore_seen_load(const char *state_dir) {
        _cleanup_free_ char *path = path_join(state_dir, PSTORE_SEEN_FILE), *text = NULL;
        cJSON *seen = NULL;
        size_t len;
        int r;

        if (!path)
                return NULL;
        r = read_file_bounded(path, 256 * 1024, &text, &len);
        if (r == -EFBIG || r == -ENOBUFS)
                (void) state_set_aside(state_dir, PSTORE_SEEN_FILE, "too large");
        else if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Cannot read %s, pstore records may be reported again: %m", path);
        else if (r >= 0 && (r = pstore_seen_parse(text, len, &seen)) == -EBADMSG)
                (void) state_set_aside(state_dir, PSTORE_SEEN_FILE, "not a list of record keys");
        return seen ?: cJSON_CreateArray();
}

int pstore_scan(const char *dir, const char *archive, const char *state_dir, const EventSink *sink,
                char **ret_summary) {
        _cleanup_json_ cJSON *seen = NULL;
        Record *recs = calloc(PSTORE_MAX_SEEN, sizeof(Record));
        size_t n = 0;
        int news = 0;
        const Record *newest = NULL;

        if (!recs)
                return -ENOMEM;
        n = list_records(dir, recs, n, PSTORE_MAX_SEEN);
        if (archive) {
                /* systemd-pstore: ARCHIVE/<timestamp>/dmesg-* */
                DIR *d = opendir(archive);
                struct dirent *e;
                while (d && (e = readdir(d)))
                        if (e->d_name[0] != '.') {
                                char sub[512];
                                if ((size_t) snprintf(sub, sizeof sub, "%s/%s", archive, e->d_name) <
                                    sizeof sub)
                                        n = list_records(sub, recs, n, PSTORE_MAX_SEEN);
                        }
                if (d)
                        closedir(d);
        }
        if (state_dir)
                seen = pstore_seen_load(state_dir);
        else
                seen = cJSON_CreateArray();
        for (size_t i = 0; i < n && seen; i++) {
                const Record *r = &recs[i];
                const cJSON *s;
                bool known = false;
                cJSON_ArrayForEach (s, seen)
                        known = known || (cJSON_IsString(s) && strcmp(s->valuestring, r->key) == 0);
                if (known)
                        continue;
                if (!newest || r->mtime > newest->mtime)
                        newest = r;

                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                char summary[256] = "";
                if (read_file_bounded(r->path, PSTORE_MAX_RECORD, &text, &len) >= 0)
                        (void) pstore_summarize(text, len, summary, sizeof summary);
                char path[4 * sizeof r->path];
                (void) utf8_escape(r->path, strlen(r->path), UTF8_ESCAPE_C1, path, sizeof path);
                Event *ev = event_new("previous-boot-crash", "crash record %s: %s", strrchr(path, '/') + 1,
                                      summary[0] ? summary : "(no panic line)");
                if (ev) {
                        cJSON_AddStringToObject(ev->detail, "reason", "pstore record");
                        cJSON_AddStringToObject(ev->detail, "record", path);
                        json_add_string_or_null(ev->detail, "summary", summary[0] ? summary : NULL);
                        cJSON_AddNumberToObject(ev->detail, "bytes", (double) len);
                        event_sink_emit(sink, ev);
                }
                cJSON_AddItemToArray(seen, cJSON_CreateString(r->key));
                while (cJSON_GetArraySize(seen) > PSTORE_MAX_SEEN)
                        cJSON_DeleteItemFromArray(seen, 0);
                news++;
        }
        if (news > 0 && state_dir) {
                _cleanup_json_ cJSON *o = cJSON_CreateObject();
                _cleanup_free_ char *out = NULL;
                if (o && cJSON_AddItemReferenceToObject(o, "seen", seen) &&
                    (out = cJSON_PrintUnformatted(o)))
                        (void) write_file_atomic(state_dir, PSTORE_SEEN_FILE, out, strlen(out), 0640);
        }
        *ret_summary = NULL;
        if (newest) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                char summary[256];
                if (read_file_bounded(newest->path, PSTORE_MAX_RECORD, &text, &len) >= 0 &&
                    pstore_summarize(text, len, summary, sizeof summary) >= 0)
                        *ret_summary = strdup(summary);
        }
        free(recs);
        return news;
}

int kernel_status(cJSON *kernel) {
        /* "350735.47 234388.90" and "0.08 0.03 0.01 1/231 4242": read when asked, cheap. */
        _cleanup_free_ char *uptime = NULL, *loadavg = NULL;
        if (read_file_bounded("/proc/uptime", 256, &uptime, NULL) >= 0 &&
            !cJSON_AddNumberToObject(kernel, "uptime_s", strtod(uptime, NULL)))
                return -ENOMEM;
        if (read_file_bounded("/proc/loadavg", 256, &loadavg, NULL) >= 0) {
                char *cur = loadavg;
                double l[3];
                for (int i = 0; i < 3; i++)
                        l[i] = strtod(cur, &cur);
                cJSON *load = cJSON_CreateDoubleArray(l, 3);
                if (!load || !cJSON_AddItemToObject(kernel, "load", load)) {
                        cJSON_Delete(load);
                        return -ENOMEM;
                }
        }
        uint64_t taint;
        char letters[32];
        if (kernel_read_taint("/proc/sys/kernel/tainted", &taint) < 0)
                return json_replace(kernel, "tainted", cJSON_CreateNull());
        kernel_taint_letters(taint, letters);
        if (json_replace(kernel, "tainted", cJSON_CreateNumber((double) taint)) < 0 ||
            !cJSON_AddStringToObject(kernel, "taint_flags", letters))
                return -ENOMEM;
        return 0;
}
