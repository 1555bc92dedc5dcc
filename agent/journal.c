/* journal.c — the persisted event history: events.jsonl in the state directory (SPEC §6).
 *
 * One JSON object a line: {"at","boot_id","type","severity","summary","detail"}. Lines are
 * written with one write(2) on an O_APPEND fd, so a crash leaves at most one torn last line;
 * readers skip it, and the next append first terminates it. Critical events are fsynced:
 * they are what a post-mortem needs. Files rotate at a size bound: events.jsonl.1 … .N. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ec2agent/journal.h"
#include "ec2agent/json.h"

struct Journal {
        int dir_fd;
        int fd;
        uint64_t size;
        uint64_t max_bytes;
        bool need_newline; /* the file ends in a torn line */
        uint64_t appended;
        /* the keys of the newest events it holds that a producer may repeat: journal_holds() */
        char keys[JOURNAL_RECENT_KEYS][JOURNAL_KEY_MAX];
        size_t next_key;
};

int journal_event_key(const char *type, const char *boot_id, const cJSON *detail, char *buf, size_t size) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(detail, "seq"),
                    *last = cJSON_GetObjectItemCaseSensitive(detail, "last_seq"),
                    *count = cJSON_GetObjectItemCaseSensitive(detail, "count");
        const char *run = json_get_string(detail, "run");
        bool aggregated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(detail, "aggregated"));
        int n;

        if (!type)
                return 0;
        if (strcmp(type, "rule-fired") == 0 && run && *run)
                n = snprintf(buf, size, "run/%s", run);
        else if (!boot_id || !*boot_id)
                return 0;
        else if (!aggregated && cJSON_IsNumber(seq))
                n = snprintf(buf, size, "kmsg/%s/%s/%.0f", boot_id, type, seq->valuedouble);
        else if (aggregated && cJSON_IsNumber(last) && cJSON_IsNumber(count))
                n = snprintf(buf, size, "kmsg/%s/%s/to/%.0f/%.0f", boot_id, type, last->valuedouble,
                             count->valuedouble);
        else
                return 0;
        return n > 0 && (size_t) n < size ? 1 : 0; /* a key too long to keep is no key */
}

static void journal_remember(Journal *j, const char *type, const char *boot_id, const cJSON *detail) {
        char key[JOURNAL_KEY_MAX];

        if (journal_event_key(type, boot_id, detail, key, sizeof key) <= 0)
                return; /* no key: nothing a producer repeats, and the oldest kept key stays */
        memcpy(j->keys[j->next_key], key, sizeof key);
        j->next_key = (j->next_key + 1) % JOURNAL_RECENT_KEYS;
}

bool journal_holds(const Journal *j, const Event *e, const char *boot_id) {
        char key[JOURNAL_KEY_MAX];

        if (!j || journal_event_key(e->type, boot_id, e->detail, key, sizeof key) <= 0)
                return false;
        for (size_t i = 0; i < JOURNAL_RECENT_KEYS; i++)
                if (strcmp(j->keys[i], key) == 0)
                        return true;
        return false;
}

/* Learns the keys of the events in the last JOURNAL_TAIL_BYTES of events.jsonl, the journal's own
 * file, oldest first (a cut first line and a torn last line are skipped). */
static void journal_learn_tail(Journal *j, int rfd, uint64_t size) {
        uint64_t from = size > JOURNAL_TAIL_BYTES ? size - JOURNAL_TAIL_BYTES : 0;
        _cleanup_free_ char *buf = malloc(JOURNAL_TAIL_BYTES + 1);
        ssize_t n;

        if (!buf || (n = pread(rfd, buf, (size_t) (size - from), (off_t) from)) <= 0)
                return;
        buf[n] = 0;
        char *p = buf, *end = buf + n;
        if (from > 0 && !(p = memchr(buf, '\n', (size_t) n)))
                return;
        if (from > 0)
                p++;
        while (p < end) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        break; /* a torn last line */
                *nl = 0;
                if (strstr(p, "\"run\"") || strstr(p, "seq\"")) {
                        _cleanup_json_ cJSON *o = cJSON_ParseWithLength(p, (size_t) (nl - p));
                        journal_remember(j, json_get_string(o, "type"), json_get_string(o, "boot_id"),
                                         cJSON_GetObjectItemCaseSensitive(o, "detail"));
                }
                p = nl + 1;
        }
}

static int journal_open_current(Journal *j) {
        struct stat st;
        char last;

        j->fd = openat(j->dir_fd, JOURNAL_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                       0640);
        if (j->fd < 0)
                return negative_errno();
        if (fstat(j->fd, &st) < 0)
                return negative_errno();
        j->size = (uint64_t) st.st_size;
        j->need_newline = false;
        if (st.st_size > 0) {
                _cleanup_close_ int rfd = openat(j->dir_fd, JOURNAL_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (rfd >= 0 && pread(rfd, &last, 1, st.st_size - 1) == 1)
                        j->need_newline = last != '\n';
                if (rfd >= 0 && j->appended == 0)
                        journal_learn_tail(j, rfd, j->size);
        }
        return 0;
}

int journal_open(const char *state_dir, uint64_t max_bytes, Journal **ret) {
        Journal *j = calloc(1, sizeof(Journal));
        int r;

        if (!j)
                return -ENOMEM;
        j->fd = -EBADF;
        j->max_bytes = max_bytes ?: JOURNAL_DEFAULT_MAX_BYTES;
        j->dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (j->dir_fd < 0) {
                r = negative_errno();
                journal_free(j);
                return r;
        }
        r = journal_open_current(j);
        if (r < 0) {
                journal_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

Journal *journal_free(Journal *j) {
        if (!j)
                return NULL;
        safe_close(j->fd);
        safe_close(j->dir_fd);
        free(j);
        return NULL;
}

/* events.jsonl.(N-1) → .N, …, events.jsonl → .1, then a fresh events.jsonl. */
static int journal_rotate(Journal *j) {
        char from[64], to[64];

        for (int i = JOURNAL_KEEP_ROTATED - 1; i >= 1; i--) {
                snprintf(from, sizeof from, JOURNAL_FILE ".%d", i);
                snprintf(to, sizeof to, JOURNAL_FILE ".%d", i + 1);
                if (renameat(j->dir_fd, from, j->dir_fd, to) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (renameat(j->dir_fd, JOURNAL_FILE, j->dir_fd, JOURNAL_FILE ".1") < 0)
                return negative_errno();
        j->fd = safe_close(j->fd);
        return journal_open_current(j);
}

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

int journal_append(Journal *j, const Event *e, const char *boot_id) {
        _cleanup_free_ char *json = event_to_json_line(e, boot_id);
        _cleanup_free_ char *line = NULL;
        int r, n;

        if (!json)
                return -ENOMEM;
        if (j->fd < 0 && (r = journal_open_current(j)) < 0)
                return r;
        if (j->size > 0 && j->size + strlen(json) + 2 > j->max_bytes && (r = journal_rotate(j)) < 0)
                return r;
        n = asprintf(&line, "%s%s\n", j->need_newline ? "\n" : "", json);
        if (n < 0)
                return -ENOMEM;
        r = write_all(j->fd, line, (size_t) n);
        if (r < 0) {
                /* A partial write leaves a torn line: terminate it before the next one. */
                j->need_newline = true;
                return r;
        }
        j->need_newline = false;
        j->size += (uint64_t) n;
        journal_remember(j, e->type, boot_id, e->detail);
        if (e->severity == SEVERITY_CRITICAL && fdatasync(j->fd) < 0)
                return negative_errno();
        j->appended++;
        return 0;
}

uint64_t journal_appended(const Journal *j) {
        return j->appended;
}

/* Visits the complete lines of one file. The last line counts only when newline-terminated. */
static int journal_read_file(int dir_fd, const char *name, JournalVisit visit, void *userdata,
                             unsigned *skipped) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f;
        int fd, r = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        f = fdopen(fd, "r");
        if (!f) {
                safe_close(fd);
                return -ENOMEM;
        }
        while ((n = getline(&line, &cap, f)) > 0) {
                if (line[n - 1] != '\n' || (size_t) n > JOURNAL_MAX_LINE) {
                        (*skipped)++;
                        continue;
                }
                if (n == 1)
                        continue; /* the newline that closed a torn line */
                _cleanup_json_ cJSON *o = cJSON_ParseWithLength(line, (size_t) n);
                if (!cJSON_IsObject(o) || !json_get_string(o, "type") || !json_get_string(o, "at")) {
                        (*skipped)++;
                        continue;
                }
                r = visit(o, userdata);
                if (r < 0)
                        break;
        }
        fclose(f);
        return r;
}

int journal_read(const char *state_dir, JournalVisit visit, void *userdata, unsigned *ret_skipped) {
        _cleanup_close_ int dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        unsigned skipped = 0;
        char name[64];
        int r = 0;

        if (dir_fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        for (int i = JOURNAL_KEEP_ROTATED; i >= 0 && r >= 0; i--) {
                if (i > 0)
                        snprintf(name, sizeof name, JOURNAL_FILE ".%d", i);
                else
                        snprintf(name, sizeof name, JOURNAL_FILE);
                r = journal_read_file(dir_fd, name, visit, userdata, &skipped);
        }
        if (ret_skipped)
                *ret_skipped = skipped;
        return r;
}
