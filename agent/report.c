/* report.c — `ec2agent report`: the diagnostic bundle for a support case (SPEC §8).
 *
 * One tar.gz (or text with -o -) holding when the trouble started, the status document (instance
 * identity, notices and scheduled events, memory, filesystems, kernel), the event history of
 * this and the previous boots, the kernel problems with their log lines, /proc/meminfo and the
 * mounts, the pstore crash records, the agent's own state and its configuration. Nothing secret:
 * the state directory holds none, and webhook URLs (which often embed tokens) are redacted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <zlib.h>

#include "ec2agent/boot.h"
#include "ec2agent/cli.h"
#include "ec2agent/config.h"
#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/log.h"
#include "ec2agent/fs.h"
#include "ec2agent/report.h"
#include "ec2agent/utf8.h"

#define REPORT_MAX_FILE (8U * 1024U * 1024U)

typedef struct Section {
        char name[512];
        char *data;
        size_t len;
} Section;

typedef struct Report {
        Section *sections;
        size_t n;
        Buf skipped; /* one line per entry that could not be added: the bundle's skipped.txt */
} Report;

_printf_(2, 3) static void note_skipped(Report *r, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *safe = utf8_escape_dup(
                line, strlen(line), UTF8_ESCAPE_TERMINAL); /* file names are anyone's bytes */
        if (safe)
                (void) buf_appendf(&r->skipped, "%s\n", safe);
}

static int report_add(Report *r, const char *name, char *data, size_t len) {
        if (strlen(name) >= sizeof r->sections[0].name) {
                note_skipped(r, "%.300s...: name too long", name);
                free(data);
                return 0;
        }
        Section *n = realloc(r->sections, (r->n + 1) * sizeof(Section));
        if (!n) {
                free(data);
                return -ENOMEM;
        }
        r->sections = n;
        snprintf(n[r->n].name, sizeof n[r->n].name, "%s", name);
        n[r->n].data = data;
        n[r->n].len = len;
        r->n++;
        return 0;
}

static int add_text(Report *r, const char *name, const char *text) {
        char *d = strdup(text);
        return d ? report_add(r, name, d, strlen(d)) : -ENOMEM;
}

static void add_file(Report *r, const char *name, const char *path) {
        char *d = NULL;
        size_t len;
        int k = read_file_bounded(path, REPORT_MAX_FILE, &d, &len);
        if (k >= 0)
                (void) report_add(r, name, d, len);
        else if (k != -ENOENT) {
                char msg[512];
                snprintf(msg, sizeof msg, "cannot read %s: %s\n", path, strerror(-k));
                (void) add_text(r, name, msg);
        }
}

static int collect_event(const cJSON *ev, void *userdata) {
        Buf *b = userdata;
        _cleanup_free_ char *s = cJSON_PrintUnformatted(ev);
        return s ? buf_appendf(b, "%s\n", s) : -ENOMEM;
}

/* The first warning or critical event, of this boot if it had one: "when the trouble started". */
typedef struct Trouble {
        const char *boot_id;
        char first_any[512], first_boot[512];
} Trouble;

static int find_trouble(const cJSON *ev, void *userdata) {
        Trouble *t = userdata;
        const char *sev = json_get_string(ev, "severity"), *boot = json_get_string(ev, "boot_id");
        if (!sev || strcmp(sev, "info") == 0)
                return 0;
        char line[512];
        snprintf(line, sizeof line, "%s %s %s: %.300s", json_get_string(ev, "at"), sev,
                 json_get_string(ev, "type"), json_get_string(ev, "summary") ?: "");
        if (!t->first_any[0])
                memcpy(t->first_any, line, sizeof line);
        if (!t->first_boot[0] && boot && t->boot_id && strcmp(boot, t->boot_id) == 0)
                memcpy(t->first_boot, line, sizeof line);
        return 0;
}

/* Webhook URLs and routing keys are secrets (SPEC §4): gone. Other URLs (imds.endpoint,
 * aws.endpoints.*, pagerduty's url) lose their user:pass@ and path (url_redact). */
static void redact(cJSON *j, bool in_endpoints) {
        static const char *const secret[] = { "webhook", "slack", "teams", "routing_key" };
        cJSON *c;
        cJSON_ArrayForEach (c, j) {
                bool is_secret = false, is_url = false;
                for (size_t i = 0; c->string && i < ELEMENTSOF(secret); i++)
                        is_secret = is_secret || strcmp(c->string, secret[i]) == 0;
                is_url =
                        in_endpoints ||
                        (c->string && (strcmp(c->string, "url") == 0 || strcmp(c->string, "endpoint") == 0));
                if (is_secret && cJSON_IsString(c))
                        cJSON_SetValuestring(c, "(redacted)");
                else if (is_url && cJSON_IsString(c)) {
                        _cleanup_free_ char *u = url_redact(c->valuestring);
                        cJSON_SetValuestring(c, u ?: "(redacted)");
                } else
                        redact(c, c->string && strcmp(c->string, "endpoints") == 0);
        }
}

static void add_config(Report *r, const char *path) {
        const char *main_path = path ?: CONFIG_DEFAULT_PATH;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ cJSON *j = NULL;

        if (read_file_bounded(main_path, CONFIG_MAX_BYTES, &text, NULL) < 0)
                return (void) add_text(r, "config.json", "(no configuration file: defaults)\n");
        j = cJSON_Parse(text);
        if (!j)
                return (void) add_text(r, "config.json", "(the configuration is not valid JSON)\n");
        redact(j, false);
        char *out = cJSON_Print(j);
        if (out)
                (void) report_add(r, "config.json", out, strlen(out));
}

static void add_filesystems(Report *r) {
        _cleanup_free_ char *mounts = NULL;
        Buf b;

        if (read_file_bounded("/proc/self/mounts", REPORT_MAX_FILE, &mounts, NULL) < 0)
                return;
        buf_init(&b, REPORT_MAX_FILE);
        (void) buf_appendf(&b, "%-30s %-10s %8s %8s  %s\n", "mount point", "type", "used%", "inodes%",
                           "device");
        for (char *save = NULL, *l = strtok_r(mounts, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[4] = {}, *s2 = NULL;
                size_t i = 0;
                for (char *w = strtok_r(l, " ", &s2); w && i < 4; w = strtok_r(NULL, " ", &s2))
                        f[i++] = w;
                struct statvfs v;
                if (i < 3 || f[0][0] != '/' || statvfs(f[1], &v) < 0 || v.f_blocks == 0)
                        continue;
                double used = (double) (v.f_blocks - v.f_bfree), avail = (double) v.f_bavail;
                double ipct = v.f_files ? 100.0 * (double) (v.f_files - v.f_ffree) / (double) v.f_files : 0;
                (void) buf_appendf(
                        &b, "%-30s %-10s %7.1f%% %7.1f%%  %s%s\n", f[1], f[2],
                        used + avail > 0 ? 100.0 * used / (used + avail) : 0, ipct, f[0],
                        f[3] && strncmp(f[3], "ro", 2) == 0 && (f[3][2] == ',' || !f[3][2]) ? " (ro)" : "");
        }
        (void) report_add(r, "filesystems.txt", b.data, b.len);
}

static void add_pstore(Report *r, const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
                char path[1024], name[sizeof((Section *) 0)->name];
                struct stat st;
                if (e->d_name[0] == '.' ||
                    (size_t) snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path ||
                    lstat(path, &st) < 0)
                        continue;
                if ((size_t) snprintf(name, sizeof name, "%s/%s", prefix, e->d_name) >= sizeof name) {
                        note_skipped(r, "%s/%s: name too long", prefix, e->d_name);
                        continue;
                }
                if (S_ISDIR(st.st_mode))
                        add_pstore(r, path, name);
                else if (S_ISREG(st.st_mode))
                        add_file(r, name, path);
        }
        if (d)
                closedir(d);
}

static int gather(const ReportOptions *o, Report *r) {
        _cleanup_json_ cJSON *status = NULL;
        _cleanup_free_ char *status_text = NULL;
        char boot_id[33] = "", now[RFC3339_MAX], host[256] = "?";
        struct utsname u;
        Buf b;
        int k;

        (void) boot_id_get(boot_id);
        (void) gethostname(host, sizeof host - 1);
        k = cli_fetch_status(o->socket_path, 5 * USEC_PER_SEC, &status);
        status_text = status ? cJSON_Print(status) : NULL;

        Trouble t = { .boot_id = boot_id };
        (void) journal_read(o->state_dir, find_trouble, &t, NULL);
        buf_init(&b, 1 << 20);
        (void) buf_appendf(&b,
                           "ec2agent %s diagnostic report\n"
                           "generated:   %s\nhost:        %s\nboot id:     %s\n",
                           EC2AGENT_VERSION, format_rfc3339(now, now_usec(CLOCK_REALTIME)), host, boot_id);
        if (uname(&u) == 0)
                (void) buf_appendf(&b, "kernel:      %s %s %s\n", u.sysname, u.release, u.machine);
        (void) buf_appendf(&b, "health:      %s\n",
                           status ? json_get_string(status, "health") ?: "?"
                                  : "unknown (agent not reachable)");
        (void) buf_appendf(&b, "\nWhen the trouble started\n  this boot:  %s\n  any boot:   %s\n",
                           t.first_boot[0] ? t.first_boot : "nothing recorded",
                           t.first_any[0] ? t.first_any : "nothing recorded");
        if (status) {
                const cJSON *reason;
                (void) buf_appendf(&b, "\nReasons now\n");
                cJSON_ArrayForEach (reason, cJSON_GetObjectItemCaseSensitive(status, "reasons"))
                        (void) buf_appendf(&b, "  - %s\n",
                                           cJSON_IsString(reason) ? reason->valuestring : "?");
        }
        (void) buf_appendf(
                &b, "\nFiles: summary.txt, status.json (identity, notices, scheduled events, memory,\n"
                    "filesystems, kernel), events.jsonl (history of this and previous boots),\n"
                    "kernel-problems.log (kernel problems with their log lines), meminfo.txt,\n"
                    "filesystems.txt, mountinfo.txt, pstore/ (crash records), state/, config.json.\n");
        if ((k = report_add(r, "summary.txt", b.data, b.len)) < 0)
                return k;

        if (status_text) {
                size_t n = strlen(status_text);
                (void) report_add(r, "status.json", TAKE_PTR(status_text), n);
        } else {
                char msg[512];
                snprintf(msg, sizeof msg, "{\"error\": \"the agent is not reachable at %s: %s\"}\n",
                         o->socket_path, strerror(-k));
                (void) add_text(r, "status.json", msg);
        }
        buf_init(&b, 64U * 1024U * 1024U);
        (void) buf_append(&b, "", 0);
        (void) journal_read(o->state_dir, collect_event, &b, NULL);
        (void) report_add(r, "events.jsonl", b.data, b.len);

        char path[512];
        static const char *const state_files[] = {
                "kernel-problems.log.1", "kernel-problems.log", "boot.json",
                "imds-notices.json",     "kmsg-cursor.json",    "pstore-seen.json"
        };
        for (size_t i = 0; i < ELEMENTSOF(state_files); i++) {
                char name[128];
                snprintf(path, sizeof path, "%s/%s", o->state_dir, state_files[i]);
                snprintf(name, sizeof name, "%s%s",
                         startswith(state_files[i], "kernel-problems") ? "" : "state/", state_files[i]);
                add_file(r, name, path);
        }
        add_file(r, "meminfo.txt", "/proc/meminfo");
        add_file(r, "mountinfo.txt", mountinfo_default());
        add_filesystems(r);
        add_pstore(r, o->pstore_path, "pstore");
        if (strcmp(o->pstore_path, "/sys/fs/pstore") == 0)
                add_pstore(r, PSTORE_SYSTEMD_ARCHIVE, "pstore/systemd");
        add_config(r, o->config_path);
        return 0;
}

/* "ec2agent-report-HOST-20261125T021500Z": the bundle's name and its top directory. */
static void report_name(char ret[static 128], time_t now) {
        char host[64] = "host", t[32];
        struct tm tm;
        (void) gethostname(host, sizeof host - 1);
        strftime(t, sizeof t, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
        snprintf(ret, 128, "ec2agent-report-%.40s-%s", host, t);
}

/* ---- ustar over gzip ---- */

static void octal(char *dst, size_t n, unsigned long long v) {
        snprintf(dst, n, "%0*llo", (int) n - 1, v);
}

/* Splits DIR/NAME into ustar's name (100 bytes) and prefix (155 bytes) at a '/', as POSIX
 * pax's ustar format allows: a member name of up to 256 bytes. Returns 0, or -ENAMETOOLONG
 * when no '/' splits it so (a last component over 100 bytes). */
static int tar_split(const char *dir, const char *name, char ret_name[static 101],
                     char ret_prefix[static 156]) {
        char full[1024];
        size_t n = (size_t) snprintf(full, sizeof full, "%s/%s", dir, name);

        if (n >= sizeof full)
                return -ENAMETOOLONG;
        if (n <= 100) {
                memcpy(ret_name, full, n + 1);
                ret_prefix[0] = 0;
                return 0;
        }
        /* the rightmost '/' whose prefix fits leaves the shortest name; any that fits will do */
        for (size_t i = MIN(n - 1, (size_t) 155); i > 0; i--)
                if (full[i] == '/' && n - i - 1 <= 100 && n - i - 1 > 0) {
                        memcpy(ret_prefix, full, i);
                        ret_prefix[i] = 0;
                        memcpy(ret_name, full + i + 1, n - i);
                        return 0;
                }
        return -ENAMETOOLONG;
}

static int tar_add(gzFile gz, const char *name, const char *prefix, const Section *s, time_t mtime) {
        unsigned char h[512] = {};
        static const char zeros[512];
        unsigned sum = 0;

        memcpy(h, name, strnlen(name, 100)); /* exactly 100 bytes: no NUL, as ustar allows */
        memcpy(h + 345, prefix, strnlen(prefix, 155));
        octal((char *) h + 100, 8, 0600);
        octal((char *) h + 108, 8, 0);
        octal((char *) h + 116, 8, 0);
        octal((char *) h + 124, 12, s->len);
        octal((char *) h + 136, 12, (unsigned long long) mtime);
        memset(h + 148, ' ', 8);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memcpy(h + 265, "root", 4);
        memcpy(h + 297, "root", 4);
        for (size_t i = 0; i < sizeof h; i++)
                sum += h[i];
        snprintf((char *) h + 148, 8, "%06o", sum);
        h[155] = ' ';
        if (gzwrite(gz, h, sizeof h) != (int) sizeof h ||
            (s->len && gzwrite(gz, s->data, (unsigned) s->len) != (int) s->len))
                return -EIO;
        size_t pad = (512 - s->len % 512) % 512;
        if (pad && gzwrite(gz, zeros, (unsigned) pad) != (int) pad)
                return -EIO;
        return 0;
}

/* Creates PATH for the bundle: never through a symlink, never over an existing file (SPEC §9),
 * mode 0600 (it holds kernel lines dmesg_restrict hides). Returns the fd or a negative errno. */
static int report_create(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, 0600) < 0) { /* whatever the umask */
                int k = negative_errno();
                safe_close(fd);
                (void) unlink(path);
                return k;
        }
        return fd;
}

/* Writes every section of R under DIR/ into PATH; an entry whose name ustar cannot hold is
 * skipped and named in DIR/skipped.txt, never a reason to lose the rest. */
static int write_tar(const char *path, const char *dir, Report *r, time_t now) {
        static const char zeros[1024];
        char name[101], prefix[156];
        int k = 0, fd;

        fd = report_create(path);
        if (fd < 0)
                return fd;
        gzFile gz = gzdopen(fd, "wb");
        if (!gz) {
                safe_close(fd);
                (void) unlink(path);
                return -ENOMEM;
        }
        for (size_t i = 0; i < r->n && k >= 0; i++) {
                if (tar_split(dir, r->sections[i].name, name, prefix) < 0) {
                        note_skipped(r, "%s: name too long for a tar member", r->sections[i].name);
                        continue;
                }
                k = tar_add(gz, name, prefix, &r->sections[i], now);
        }
        if (k >= 0 && r->skipped.len > 0) {
                Section s = { .name = "skipped.txt", .data = r->skipped.data, .len = r->skipped.len };
                if (tar_split(dir, s.name, name, prefix) >= 0)
                        k = tar_add(gz, name, prefix, &s, now);
        }
        if (k >= 0 && gzwrite(gz, zeros, sizeof zeros) != (int) sizeof zeros)
                k = -EIO;
        if (gzclose(gz) != Z_OK && k >= 0)
                k = -EIO;
        if (k < 0)
                (void) unlink(path); /* ours: created above with O_EXCL */
        return k;
}

/* The length of the run of DATA (LEN bytes) without a byte of REJECT. */
static size_t strcspn_n(const char *data, size_t len, const char *reject) {
        size_t i = 0;
        while (i < len && (!data[i] || !strchr(reject, data[i])))
                i++;
        return i;
}

/* Writes LEN bytes of DATA to F with every control character but newline and tab escaped:
 * the text form goes to a terminal as often as to a file. */
static void print_text(FILE *f, const char *data, size_t len) {
        while (len > 0) {
                size_t n = strcspn_n(data, len, "\n\t");
                _cleanup_free_ char *safe = utf8_escape_dup(data, n, UTF8_ESCAPE_TERMINAL);
                if (safe)
                        fputs(safe, f);
                if (n < len)
                        fputc(data[n], f);
                n += n < len;
                data += n;
                len -= n;
        }
}

int report_write(const ReportOptions *o) {
        Report r = {};
        int k;

        buf_init(&r.skipped, 64U * 1024U);
        k = gather(o, &r);
        if (k >= 0) {
                if (o->output && strcmp(o->output, "-") == 0) {
                        for (size_t i = 0; i < r.n; i++) {
                                _cleanup_free_ char *name =
                                        utf8_escape_dup(r.sections[i].name, strlen(r.sections[i].name),
                                                        UTF8_ESCAPE_TERMINAL);
                                printf("==== %s ====\n", name ?: "?");
                                print_text(stdout, r.sections[i].data, r.sections[i].len);
                                if (r.sections[i].len && r.sections[i].data[r.sections[i].len - 1] != '\n')
                                        putchar('\n');
                                putchar('\n');
                        }
                        if (r.skipped.len) {
                                printf("==== skipped.txt ====\n");
                                fwrite(r.skipped.data, 1, r.skipped.len, stdout); /* escaped already */
                        }
                } else {
                        char name[128], def[160];
                        time_t now = time(NULL);
                        report_name(name, now);
                        snprintf(def, sizeof def, "%s.tar.gz", name);
                        const char *path = o->output ?: def;
                        k = write_tar(path, name, &r, now);
                        if (k == -EEXIST)
                                log_error("Refusing to write %s: it exists (a file or a symlink); remove it "
                                          "or "
                                          "name a new file.",
                                          path);
                        else if (k == -ELOOP)
                                log_error("Refusing to write %s: it is a symlink.", path);
                        else if (k < 0)
                                log_error_errno(k, "Cannot write %s: %m", path);
                        else
                                fprintf(stderr, "Wrote %s (%zu files%s).\n", path, r.n,
                                        r.skipped.len ? ", some skipped: see skipped.txt" : "");
                }
        }
        for (size_t i = 0; i < r.n; i++)
                free(r.sections[i].data);
        free(r.sections);
        buf_done(&r.skipped);
        return k;
}
