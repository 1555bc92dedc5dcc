/* forward-spool.c — forward's spool: each target's event files appended to, bounded, and its saved cursor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward-internal.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

static int spool_filter(const struct dirent *d) {
        return d->d_name[0] != '.' && endswith(d->d_name, ".jsonl");
}

static int spool_sort(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* The spool files' sequence numbers, ascending. Returns their count (0 on error). */
size_t forward_spool_list(const Target *t, uint64_t **ret) {
        struct dirent **names = NULL;
        int n = scandir(t->dir, &names, spool_filter, spool_sort);
        uint64_t *seqs = n > 0 ? calloc((size_t) n, sizeof *seqs) : NULL;
        size_t k = 0;

        for (int i = 0; i < n; i++) {
                uint64_t seq;
                if (seqs &&
                    parse_u64_n(names[i]->d_name, strcspn(names[i]->d_name, "."), UINT64_MAX, &seq) == 0)
                        seqs[k++] = seq;
                free(names[i]);
        }
        free(names);
        *ret = seqs;
        return k;
}

void forward_spool_path(const Target *t, uint64_t seq, char *buf, size_t size) {
        snprintf(buf, size, "%s/%016llu.jsonl", t->dir, (unsigned long long) seq);
}

uint64_t forward_spool_count_lines(const char *text, size_t len, size_t from) {
        uint64_t n = 0;
        for (size_t i = from; i < len; i++)
                n += text[i] == '\n';
        return n;
}

/* The cursor is one fixed-width record rewritten in place by one pwrite(2): a SIGKILL leaves the old
 * or the new one, and no fsync is paid per batch (after a power loss an older cursor only sends
 * again what was delivered: at least once). */
int forward_spool_save_cursor(Target *t) {
        char text[64];
        int n = snprintf(text, sizeof text, "%020llu %020llu\n", (unsigned long long) t->cursor_seq,
                         (unsigned long long) t->cursor_off);

        if (t->cursor_fd < 0) {
                _cleanup_free_ char *path = path_join(t->dir, CURSOR_FILE);
                if (!path)
                        return -ENOMEM;
                t->cursor_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (t->cursor_fd < 0)
                        return -errno;
        }
        if (pwrite(t->cursor_fd, text, (size_t) n, 0) != n)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static void load_cursor(Target *t) {
        _cleanup_free_ char *path = path_join(t->dir, CURSOR_FILE), *text = NULL;
        size_t len = 0, sp;
        uint64_t seq, off;

        if (!path || read_file_bounded(path, 64, &text, &len) < 0)
                return;
        sp = strcspn(text, " ");
        if (sp < len && parse_u64_n(text, sp, UINT64_MAX, &seq) == 0 &&
            parse_u64_n(text + sp + 1, strcspn(text + sp + 1, "\n"), UINT64_MAX, &off) == 0) {
                t->cursor_seq = seq;
                t->cursor_off = off;
        } else {
                log_warning("%s/%s is unreadable: forwarding starts at the oldest spooled event.", t->dir,
                            CURSOR_FILE);
                t->cursor_seq = t->cursor_off = 0;
        }
}

/* At start: files before the cursor go (delivered), the rest are counted; appends go to a new file. */
void forward_spool_open(Target *t) {
        _cleanup_free_ uint64_t *seqs = NULL;
        size_t n = forward_spool_list(t, &seqs);

        load_cursor(t);
        t->queued = t->spooled_bytes = 0;
        t->append_seq = t->cursor_seq;
        for (size_t i = 0; i < n; i++) {
                char path[512];
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                forward_spool_path(t, seqs[i], path, sizeof path);
                if (seqs[i] < t->cursor_seq) {
                        (void) unlink(path);
                        continue;
                }
                if (read_file_bounded(path, 2 * FORWARD_SPOOL_MAX_BYTES, &text, &len) < 0)
                        continue;
                t->spooled_bytes += len;
                t->queued += forward_spool_count_lines(
                        text, len, seqs[i] == t->cursor_seq ? MIN(t->cursor_off, len) : 0);
                t->append_seq = MAX(t->append_seq, seqs[i] + 1);
        }
        if (n == 0 || t->cursor_seq > t->append_seq)
                t->append_seq = MAX(t->append_seq, t->cursor_seq);
}

/* Over the bound: the oldest files go, except those of the batch and the one appended to. */
static void spool_bound(Target *t) {
        _cleanup_free_ uint64_t *seqs = NULL;
        size_t n;

        if (t->spooled_bytes <= FORWARD_SPOOL_MAX_BYTES)
                return;
        n = forward_spool_list(t, &seqs);
        for (size_t i = 0; i < n && t->spooled_bytes > FORWARD_SPOOL_MAX_BYTES; i++) {
                char path[512];
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                uint64_t lines;
                if (seqs[i] == t->append_seq || (t->batch_ready && seqs[i] <= t->end_seq))
                        continue;
                forward_spool_path(t, seqs[i], path, sizeof path);
                if (read_file_bounded(path, 2 * FORWARD_SPOOL_MAX_BYTES, &text, &len) < 0)
                        continue;
                lines = forward_spool_count_lines(text, len,
                                                  seqs[i] == t->cursor_seq ? MIN(t->cursor_off, len) : 0);
                if (unlink(path) < 0)
                        continue;
                t->spooled_bytes -= MIN(t->spooled_bytes, (uint64_t) len);
                t->dropped += lines;
                t->queued -= MIN(t->queued, lines);
                log_warning("The %s spool is full (%u bytes): dropping its %llu oldest events.",
                            forward_target_titles[t->kind], FORWARD_SPOOL_MAX_BYTES,
                            (unsigned long long) lines);
        }
}

void forward_spool_append(Target *t, const char *line) {
        size_t len = strlen(line);
        _cleanup_free_ char *rec = malloc(len + 1);
        char path[512];
        ssize_t w;

        if (!rec) {
                t->dropped++;
                return;
        }
        memcpy(rec, line, len);
        rec[len] = '\n';
        if (t->append_fd < 0) {
                forward_spool_path(t, t->append_seq, path, sizeof path);
                t->append_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
                t->append_bytes = 0;
        }
        w = t->append_fd >= 0 ? write(t->append_fd, rec, len + 1) : -1;
        if (w != (ssize_t) (len + 1)) {
                if (!t->last_error[0] || !startswith(t->last_error, "spool:"))
                        log_error("Cannot append to the %s spool in %s, the event is not forwarded: %s",
                                  forward_target_titles[t->kind], t->dir, strerror(w < 0 ? errno : EIO));
                snprintf(t->last_error, sizeof t->last_error, "spool: %s", strerror(w < 0 ? errno : EIO));
                t->dropped++;
                return;
        }
        t->append_bytes += len + 1;
        t->spooled_bytes += len + 1;
        t->queued++;
        if (t->append_bytes >= FORWARD_SPOOL_FILE_BYTES) {
                t->append_fd = safe_close(t->append_fd);
                t->append_seq++;
        }
        spool_bound(t);
}
