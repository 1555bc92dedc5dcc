/* publish-spool.c — the publisher's bounded spool in state_dir/spool: datum lines written oldest
 * first in NNNNNNNNNNNNNNNN.jsonl files, taken back as batches, the oldest dropped (and counted) over
 * SPOOL_MAX_BYTES. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "publish-internal.h"

static int spool_filter(const struct dirent *d) {
        return d->d_name[0] != '.' && endswith(d->d_name, ".jsonl");
}

static int spool_sort(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static uint64_t count_lines(const char *text, size_t len) {
        uint64_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += text[i] == '\n';
        return n;
}

/* Rescans the spool: its size and the next sequence number (and, when COUNT, the datums it
 * holds); drops the oldest files while it is over its bound. */
void publish_spool_scan(Publisher *p, bool count) {
        struct dirent **names = NULL;
        int n = scandir(p->spool_dir, &names, spool_filter, spool_sort);
        uint64_t bytes = 0;

        if (count)
                p->spooled_datums = 0;
        for (int i = 0; i < n; i++) {
                char path[512];
                struct stat st;
                uint64_t seq;
                snprintf(path, sizeof path, "%s/%s", p->spool_dir, names[i]->d_name);
                if (stat(path, &st) == 0)
                        bytes += (uint64_t) st.st_size;
                if (count) {
                        _cleanup_free_ char *text = NULL;
                        size_t len;
                        if (read_file_bounded(path, SPOOL_MAX_BYTES, &text, &len) >= 0)
                                p->spooled_datums += count_lines(text, len);
                }
                if (parse_u64_n(names[i]->d_name, strcspn(names[i]->d_name, "."), UINT64_MAX, &seq) == 0 &&
                    seq >= p->spool_seq)
                        p->spool_seq = seq + 1;
        }
        /* Over the bound: the oldest files go, and what they held is counted as dropped. */
        for (int i = 0; i < n && bytes > SPOOL_MAX_BYTES; i++) {
                char path[512];
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                snprintf(path, sizeof path, "%s/%s", p->spool_dir, names[i]->d_name);
                if (p->batch_file && strcmp(p->batch_file, path) == 0)
                        continue;
                if (read_file_bounded(path, SPOOL_MAX_BYTES, &text, &len) >= 0) {
                        uint64_t lines = count_lines(text, len);
                        p->dropped += lines;
                        p->spooled_datums -= MIN(p->spooled_datums, lines);
                        log_warning("The CloudWatch spool is full: dropping %llu datapoints of %s.",
                                    (unsigned long long) lines, names[i]->d_name);
                }
                bytes -= MIN(bytes, (uint64_t) len);
                (void) unlink(path);
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        p->spooled_bytes = bytes;
}

/* Writes the oldest N datums of the memory queue to a new spool file, or fewer: a file is sent as
 * one request later, so it holds what fits in one (publish_batch_fit). */
int publish_spool_write(Publisher *p, size_t n) {
        char name[64];
        Buf b;
        int r;

        n = publish_batch_fit(p->queue, n, p->config->metrics_namespace, p->config->metrics_high_resolution);
        if (n == 0)
                return 0;
        buf_init(&b, SPOOL_MAX_BYTES);
        for (size_t i = 0; i < n; i++)
                if ((r = buf_appendf(&b, "%s\n", p->queue[i])) < 0) {
                        buf_done(&b);
                        return r;
                }
        snprintf(name, sizeof name, "%016llu.jsonl", (unsigned long long) p->spool_seq++);
        r = write_file_atomic(p->spool_dir, name, b.data, b.len, 0640);
        buf_done(&b);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                free(p->queue[i]);
        memmove(p->queue, p->queue + n, (p->n_queue - n) * sizeof(char *));
        p->n_queue -= n;
        p->spooled_datums += n;
        publish_spool_scan(p, false);
        return 0;
}

/* The oldest spool file's datums as a batch, or 0 when the spool is empty. A line that is no
 * datum (a torn write, a disk error, a hand edit) is skipped and counted as dropped: the file is
 * set aside as NAME.corrupt for the post-mortem and its good lines written back under NAME. */
int publish_spool_take(Publisher *p) {
        struct dirent **names = NULL;
        int n = scandir(p->spool_dir, &names, spool_filter, spool_sort), r = 0;

        for (int i = 0; i < n && r == 0; i++) {
                char path[512];
                _cleanup_free_ char *text = NULL;
                size_t len, bad = 0;
                Buf good;
                snprintf(path, sizeof path, "%s/%s", p->spool_dir, names[i]->d_name);
                if (read_file_bounded(path, SPOOL_MAX_BYTES, &text, &len) < 0) {
                        (void) unlink(path);
                        continue;
                }
                buf_init(&good, SPOOL_MAX_BYTES);
                for (const char *l = text, *end = text + len; l < end && p->n_batch < BATCH_MAX_DATUMS;) {
                        const char *nl = memchr(l, '\n', (size_t) (end - l)), *le = nl ?: end;
                        _cleanup_json_ cJSON *d = NULL;
                        char *c;
                        if (le == l) {
                                l = le + 1;
                                continue;
                        }
                        if (publish_parse_datum(l, (size_t) (le - l), &d) < 0) {
                                bad++;
                        } else if (!(c = strndup(l, (size_t) (le - l))) ||
                                   buf_append(&good, l, (size_t) (le - l + 1)) < 0) {
                                free(c);
                                break; /* ENOMEM: what is taken goes, the rest stays spooled */
                        } else
                                p->batch[p->n_batch++] = c;
                        l = nl ? nl + 1 : end;
                }
                if (bad > 0) {
                        log_warning("The CloudWatch spool file %s holds %zu unreadable lines: skipped.",
                                    path, bad);
                        p->dropped += bad;
                        p->spooled_datums -= MIN(p->spooled_datums, (uint64_t) bad);
                        (void) state_set_aside(p->spool_dir, names[i]->d_name, "unreadable lines");
                        if (p->n_batch > 0 &&
                            write_file_atomic(p->spool_dir, names[i]->d_name, good.data, good.len, 0640) < 0)
                                log_warning("Cannot rewrite %s: its good datapoints are sent but not kept.",
                                            path);
                }
                buf_done(&good);
                if (p->n_batch == 0) {
                        (void) unlink(path); /* empty or torn: nothing to send */
                        continue;
                }
                p->batch_file = strdup(path);
                r = 1;
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}
