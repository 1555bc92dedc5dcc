/* cli.c — the client commands: status (socket client and rendering), events. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ec2agent/catalog.h"
#include "ec2agent/cli.h"
#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "ec2agent/utf8.h"

#define STATUS_MAX_REPLY (4U * 1024U * 1024U)

int cli_fetch_status(const char *socket_path, usec_t timeout, cJSON **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        Buf reply;
        char chunk[16384];
        int r = 0;

        if (strlen(socket_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, strlen(socket_path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return negative_errno();
        if (send(fd, "status\n", 7, MSG_NOSIGNAL) != 7)
                return negative_errno();

        buf_init(&reply, STATUS_MAX_REPLY);
        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                int k = poll(&p, 1, (int) ((deadline - now) / USEC_PER_MSEC) + 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = negative_errno();
                        break;
                }
                if (k == 0)
                        continue;
                ssize_t n = recv(fd, chunk, sizeof chunk, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = negative_errno();
                        break;
                }
                if (n == 0)
                        break;
                r = buf_append(&reply, chunk, (size_t) n);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = cli_parse_status_reply(reply.data, reply.len, ret);
        buf_done(&reply);
        return r < 0 ? r : 0;
}

int cli_parse_status_reply(const char *buf, size_t len, cJSON **ret) {
        if (!buf || len == 0 || len > STATUS_MAX_REPLY)
                return -EBADMSG;
        cJSON *doc = cJSON_ParseWithLength(buf, len);
        if (!cJSON_IsObject(doc)) {
                cJSON_Delete(doc);
                return -EBADMSG;
        }
        *ret = doc;
        return 0;
}

int cli_status_exit_code(const cJSON *doc) {
        const char *h = json_get_string(doc, "health");
        if (!h)
                return EXIT_STATUS_UNKNOWN;
        if (strcmp(h, "ok") == 0)
                return 0;
        if (strcmp(h, "warning") == 0)
                return 1;
        if (strcmp(h, "critical") == 0)
                return 2;
        return EXIT_STATUS_UNKNOWN;
}

/* ---- human rendering ---- */

#define ANSI_RED    "\x1b[1;31m"
#define ANSI_YELLOW "\x1b[1;33m"
#define ANSI_GREEN  "\x1b[1;32m"
#define ANSI_BOLD   "\x1b[1m"
#define ANSI_RESET  "\x1b[0m"

typedef struct Out {
        FILE *f;
        bool color;
        unsigned width;
} Out;

/* TEXT made safe for a terminal (every control character escaped, UTF8_ESCAPE_TERMINAL) and cut to
 * ROOM columns with "..." (counting a UTF-8 character as one column). A new string, or NULL. */
static char *terminal_text(const char *text, size_t room) {
        char *e = utf8_escape_dup(text, strlen(text), UTF8_ESCAPE_TERMINAL);
        size_t cols = 0, i, cut = 0;

        if (!e)
                return NULL;
        for (i = 0; e[i]; i++) {
                if (((unsigned char) e[i] & 0xc0) == 0x80)
                        continue; /* a continuation byte: same column */
                if (cols == (room > 3 ? room - 3 : room))
                        cut = i;
                cols++;
        }
        if (cols > room && room > 3)
                memcpy(e + cut, "...", 4);
        return e;
}

/* Prints one line cut to the width: LABEL in a 13-column field, then the text, whose control
 * characters are escaped: kernel and pstore text is written by whoever names a program. */
_printf_(3, 4) static void line(Out *o, const char *label, const char *fmt, ...) {
        char text[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        size_t room = o->width > 13 ? o->width - 13 : 1;
        _cleanup_free_ char *safe = terminal_text(text, room);
        if (!safe)
                return;
        if (o->color && *label)
                fprintf(o->f, ANSI_BOLD "%-13s" ANSI_RESET "%s\n", label, safe);
        else
                fprintf(o->f, "%-13s%s\n", label, safe);
}

static const cJSON *cli_get(const cJSON *o, const char *k) {
        return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str_or(const cJSON *o, const char *k, const char *def) {
        const char *s = json_get_string(o, k);
        return s ?: def;
}

static void format_bytes(char *buf, size_t n, double bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        size_t u = 0;
        while (bytes >= 1024 && u + 1 < ELEMENTSOF(units)) {
                bytes /= 1024;
                u++;
        }
        snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
}

static void render_header(Out *o, const cJSON *doc) {
        const char *health = str_or(doc, "health", "unknown");
        const char *color = strcmp(health, "critical") == 0  ? ANSI_RED
                            : strcmp(health, "warning") == 0 ? ANSI_YELLOW
                                                             : ANSI_GREEN;
        const cJSON *reasons = cli_get(doc, "reasons"), *r;
        char upper[16];
        size_t i;

        for (i = 0; health[i] && i < sizeof upper - 1; i++)
                upper[i] = (char) (health[i] >= 'a' && health[i] <= 'z' ? health[i] - 32 : health[i]);
        upper[i] = 0;
        _cleanup_free_ char *version = terminal_text(str_or(cli_get(doc, "agent"), "version", "?"), 32);
        _cleanup_free_ char *health_text = terminal_text(upper, sizeof upper);
        fprintf(o->f, "ec2agent %s: %s%s%s\n", version ?: "?", o->color ? color : "", health_text ?: "?",
                o->color ? ANSI_RESET : "");
        cJSON_ArrayForEach (r, reasons) {
                if (!cJSON_IsString(r))
                        continue;
                _cleanup_free_ char *text = terminal_text(r->valuestring, o->width - 4);
                if (text)
                        fprintf(o->f, "  - %s\n", text);
        }
        fputc('\n', o->f);
}

static void render_instance(Out *o, const cJSON *doc) {
        const cJSON *i = cli_get(doc, "instance"), *imds = cli_get(doc, "imds");

        if (cJSON_IsTrue(cli_get(i, "on_ec2")))
                line(o, "Instance", "%s (%s) in %s, %s, ASG %s", str_or(i, "instance_id", "?"),
                     str_or(i, "instance_type", "?"), str_or(i, "availability_zone", "?"),
                     str_or(i, "ami_id", "?"), str_or(i, "asg_name", "none"));
        else
                line(o, "Instance", "not on EC2 (or IMDS unreachable)");
        if (cJSON_IsFalse(cli_get(imds, "enabled")))
                line(o, "IMDS", "disabled");
        else if (cJSON_IsTrue(cli_get(imds, "reachable")))
                line(o, "IMDS", "reachable, last answer %s", str_or(imds, "last_ok_at", "-"));
        else
                line(o, "IMDS", "unreachable%s%s (last answer %s)",
                     json_get_string(imds, "last_error") ? ": " : "", str_or(imds, "last_error", ""),
                     str_or(imds, "last_ok_at", "never"));
}

static void render_notices(Out *o, const cJSON *doc) {
        const cJSON *n = cli_get(doc, "notices"), *spot = cli_get(n, "spot"), *reb = cli_get(n, "rebalance"),
                    *ev;
        bool any = false;

        if (cJSON_IsObject(spot)) {
                line(o, "Spot", "%s at %s", str_or(spot, "action", "?"), str_or(spot, "time", "?"));
                any = true;
        }
        if (cJSON_IsObject(reb)) {
                line(o, "Rebalance", "recommended at %s", str_or(reb, "notice_time", "?"));
                any = true;
        }
        if (json_get_string(n, "asg_target_lifecycle_state")) {
                line(o, "Lifecycle", "%s", json_get_string(n, "asg_target_lifecycle_state"));
                any = true;
        }
        cJSON_ArrayForEach (ev, cli_get(n, "scheduled")) {
                line(o, "Scheduled", "%s %s (%s), %s to %s", str_or(ev, "code", "?"),
                     str_or(ev, "event_id", "?"), str_or(ev, "state", "?"), str_or(ev, "not_before", "?"),
                     str_or(ev, "not_after", "?"));
                any = true;
        }
        if (!any)
                line(o, "Notices", "none");
}

static void render_resources(Out *o, const cJSON *doc) {
        const cJSON *mem = cli_get(doc, "memory"), *fs;
        char total[32], avail[32];

        if (cJSON_IsNumber(cli_get(mem, "total_bytes"))) {
                format_bytes(total, sizeof total, json_get_number(mem, "total_bytes", 0));
                format_bytes(avail, sizeof avail, json_get_number(mem, "available_bytes", 0));
                line(o, "Memory", "%.1f%% used of %s, %s available, swap %.1f%%, pressure %.2f",
                     json_get_number(mem, "used_percent", 0), total, avail,
                     json_get_number(mem, "swap_used_percent", 0),
                     json_get_number(mem, "pressure_some_avg10", 0));
        } else
                line(o, "Memory", "not sampled yet");
        if (cJSON_IsNumber(cli_get(cli_get(doc, "cpu"), "usage_active")))
                line(o, "CPU", "%.1f%% active", json_get_number(cli_get(doc, "cpu"), "usage_active", 0));
        const char *label = "Filesystems";
        cJSON_ArrayForEach (fs, cli_get(doc, "filesystems")) {
                if (cJSON_IsFalse(cli_get(fs, "mounted")))
                        line(o, label, "not mounted: %s", str_or(fs, "path", "?"));
                else
                        line(o, label, "%-12s %5.1f%% used, inodes %.1f%%, %s %s%s%s",
                             str_or(fs, "path", "?"), json_get_number(fs, "used_percent", 0),
                             json_get_number(fs, "inodes_used_percent", 0), str_or(fs, "fstype", "?"),
                             str_or(fs, "device", "?"),
                             cJSON_IsTrue(cli_get(fs, "read_only")) ? ", READ-ONLY" : "",
                             cJSON_IsTrue(cli_get(fs, "instance_store")) ? ", instance store (lost on stop)"
                                                                         : "");
                label = "";
        }
}

/* status.volumes / status.network (nitro.c): one line a device, its last 5 minutes. */
static void render_nitro(Out *o, const cJSON *doc) {
        static const char *const vol_keys[] = { "volume_iops", "volume_throughput", "instance_iops",
                                                "instance_throughput" };
        static const char *const net_keys[] = { "bw_in", "bw_out", "pps", "conntrack", "linklocal" };
        const char *label = "Volumes";
        const cJSON *x;

        cJSON_ArrayForEach (x, cli_get(doc, "volumes")) {
                const cJSON *e = cli_get(x, "exceeded_5m");
                double us = 0;
                for (size_t i = 0; i < ELEMENTSOF(vol_keys); i++)
                        us += json_get_number(e, vol_keys[i], 0);
                if (json_get_string(x, "error"))
                        line(o, label, "%s %s: %s", str_or(x, "volume_id", "?"), str_or(x, "device", "?"),
                             json_get_string(x, "error"));
                else
                        line(o, label, "%s %s: %s%.1f s over its limits in 5 min, queue %.0f",
                             str_or(x, "volume_id", "?"), str_or(x, "device", "?"), us > 0 ? "" : "ok, ",
                             us / 1e6, json_get_number(x, "queue_length", 0));
                label = "";
        }
        label = "Network";
        cJSON_ArrayForEach (x, cli_get(doc, "network")) {
                const cJSON *e = cli_get(x, "exceeded_5m");
                double n = 0;
                for (size_t i = 0; i < ELEMENTSOF(net_keys); i++)
                        n += json_get_number(e, net_keys[i], 0);
                if (json_get_string(x, "error"))
                        line(o, label, "%s (ena): %s", str_or(x, "interface", "?"),
                             json_get_string(x, "error"));
                else
                        line(o, label, "%s (ena): %s%.0f packets over allowances in 5 min",
                             str_or(x, "interface", "?"), n > 0 ? "" : "ok, ", n);
                label = "";
        }
}

static void render_kernel(Out *o, const cJSON *doc) {
        const cJSON *k = cli_get(doc, "kernel"), *prev = cli_get(k, "previous_boot"),
                    *oom = cli_get(k, "last_oom");
        char oomtext[160] = "";

        if (cJSON_IsObject(oom))
                snprintf(oomtext, sizeof oomtext, ", last %s (pid %.0f) at %s", str_or(oom, "process", "?"),
                         json_get_number(oom, "pid", 0), str_or(oom, "at", "?"));
        const char *taint = json_get_string(k, "taint_flags");
        const cJSON *load = cJSON_GetArrayItem(cli_get(k, "load"), 0), *p;
        line(o, "Kernel", "%.0f OOM kills%s, %d problem classes, tainted %s, up %.1f d, load %.2f",
             json_get_number(k, "oom_kills", 0), oomtext, cJSON_GetArraySize(cli_get(k, "problems")),
             !taint   ? "?"
             : *taint ? taint
                      : "no",
             json_get_number(k, "uptime_s", 0) / 86400, cJSON_IsNumber(load) ? load->valuedouble : 0.0);
        /* the cause before the path: a narrow terminal cuts the path, not the cause */
        if (json_get_string(cli_get(k, "kmsg"), "error"))
                line(o, "", "kernel events are off: %s: %s", json_get_string(cli_get(k, "kmsg"), "error"),
                     str_or(cli_get(k, "kmsg"), "path", "?"));
        cJSON_ArrayForEach (p, cli_get(k, "problems"))
                line(o, "", "%s x%.0f, last %s: %s", str_or(p, "class", "?"), json_get_number(p, "count", 0),
                     str_or(p, "at", "?"), str_or(p, "message", ""));
        if (!cJSON_IsBool(cli_get(prev, "clean_shutdown")))
                line(o, "Last boot", "unknown (first start of the agent)");
        else
                line(o, "Last boot", "%s, %s",
                     cJSON_IsTrue(cli_get(prev, "clean_shutdown")) ? "clean shutdown" : "NOT clean",
                     str_or(prev, "boot_id", "?"));
}

static void render_agent(Out *o, const cJSON *doc) {
        const cJSON *cw = cli_get(doc, "cloudwatch"), *a = cli_get(doc, "agent"), *r;

        if (cJSON_IsTrue(cli_get(cw, "enabled")))
                line(o, "CloudWatch", "last publish %s, %.0f published, %.0f queued, %.0f B spooled%s%s",
                     str_or(cw, "last_publish_at", "never"), json_get_number(cw, "published_datapoints", 0),
                     json_get_number(cw, "queued_datapoints", 0), json_get_number(cw, "spooled_bytes", 0),
                     json_get_string(cw, "last_error") ? "; error: " : "", str_or(cw, "last_error", ""));
        else
                line(o, "CloudWatch", "disabled");
        const char *label = "Rules";
        cJSON_ArrayForEach (r, cli_get(doc, "rules")) {
                line(o, label, "%s: %s, fired %.0f times, last %s", str_or(r, "name", "?"),
                     str_or(r, "state", "?"), json_get_number(r, "fired", 0),
                     str_or(r, "last_fired_at", "never"));
                label = "";
        }
        label = "Actions";
        cJSON_ArrayForEach (r, cli_get(doc, "actions")) {
                line(o, label, "%s %s %s: %s", str_or(r, "rule", "?"), str_or(r, "step", "?"),
                     str_or(r, "target", ""), str_or(r, "state", "?"));
                label = "";
        }
        line(o, "Agent", "%s, pid %.0f, up %.0f s", str_or(a, "version", "?"), json_get_number(a, "pid", 0),
             json_get_number(a, "uptime_s", 0));
        if (json_get_string(a, "state_error")) /* events reach the system journal only */
                line(o, "", "%s", json_get_string(a, "state_error"));
}

void cli_render_status(FILE *f, const cJSON *doc, bool color, unsigned width, usec_t now) {
        Out o = { .f = f, .color = color, .width = width < 40 ? 40 : width };
        (void) now;

        render_header(&o, doc);
        render_notices(&o, doc);
        render_resources(&o, doc);
        render_nitro(&o, doc);
        render_kernel(&o, doc);
        render_instance(&o, doc);
        render_agent(&o, doc);
}

/* ---- events ---- */

int cli_parse_since(const char *s, usec_t now, usec_t *ret) {
        usec_t d;
        if (parse_rfc3339(s, ret) >= 0)
                return 0;
        if (parse_duration(s, &d) < 0)
                return -EINVAL;
        *ret = d > now ? 0 : now - d;
        return 0;
}

typedef struct PrintCtx {
        FILE *f;
        const EventFilter *filter;
        bool json, color;
        int printed;
} PrintCtx;

static int print_event(const cJSON *ev, void *userdata) {
        PrintCtx *p = userdata;
        const char *type = json_get_string(ev, "type"), *sev = str_or(ev, "severity", "info");
        usec_t at;

        if (parse_rfc3339(json_get_string(ev, "at"), &at) < 0)
                return 0;
        if (p->filter->since && at < p->filter->since)
                return 0;
        if (p->filter->types) {
                bool match = false;
                for (char **t = p->filter->types; *t && !match; t++)
                        match = event_pattern_matches(*t, type);
                if (!match)
                        return 0;
        }
        if (p->json) {
                _cleanup_free_ char *s = cJSON_PrintUnformatted(ev);
                if (!s)
                        return -ENOMEM;
                fprintf(p->f, "%s\n", s);
        } else {
                const char *c = strcmp(sev, "critical") == 0  ? ANSI_RED
                                : strcmp(sev, "warning") == 0 ? ANSI_YELLOW
                                                              : "";
                /* every field escaped: a summary quotes kernel text that a program's name controls */
                _cleanup_free_ char *at_text = utf8_escape_dup(
                        json_get_string(ev, "at"), strlen(json_get_string(ev, "at")), UTF8_ESCAPE_TERMINAL);
                _cleanup_free_ char *sev_text = utf8_escape_dup(sev, strlen(sev), UTF8_ESCAPE_TERMINAL);
                _cleanup_free_ char *type_text =
                        type ? utf8_escape_dup(type, strlen(type), UTF8_ESCAPE_TERMINAL) : strdup("?");
                const char *summary = str_or(ev, "summary", "");
                _cleanup_free_ char *summary_text =
                        utf8_escape_dup(summary, strlen(summary), UTF8_ESCAPE_TERMINAL);
                if (!at_text || !sev_text || !type_text || !summary_text)
                        return -ENOMEM;
                fprintf(p->f, "%s  %s%-8s%s  %-26s %s\n", at_text, p->color ? c : "", sev_text,
                        p->color && *c ? ANSI_RESET : "", type_text, summary_text);
        }
        p->printed++;
        return 0;
}

int cli_print_events(FILE *f, const char *state_dir, const EventFilter *filter, bool json, bool color) {
        PrintCtx p = { .f = f, .filter = filter, .json = json, .color = color };
        int r = journal_read(state_dir, print_event, &p, NULL);
        return r < 0 ? r : p.printed;
}
