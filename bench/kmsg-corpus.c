/* kmsg-corpus.c — scores the classifier on real kernel reports: recall and false events per class.
 *
 * Usage: kmsg-corpus [-v] [-t] [--min-recall R] DIR_OR_FILE...
 * -v lists every classified line, -t every line's text as classified.
 * A report is one file (DIR/ *.log, read in name order): header lines "# source: …",
 * "# kernel: …", "# arch: …", "# expect: CLASS… | none", other "#" lines are comments, every
 * other line is a kernel log line as someone posted it. The line's prefix is stripped: a dmesg
 * stamp "[ 123.456]", "[  +0.005106]" or "[Mon Jan  1 …]", a caller id "[ T123]", a syslog or
 * journalctl header ending in "kernel: " (or syslogd's wall " kernel:"), a CI clock
 * "16:03:51 ", "<4>", "kern  :err   : " (dmesg -x, talosctl), a /dev/kmsg "6,123,456,-;" header.
 * Control bytes and the backslash are then written as \xNN as the kernel does, and the text is
 * classified as a facility-0 record. Per class, a report that expects it and has a line of it is
 * found; a class found in a report that does not expect it is a false event. Exit 1 when there
 * is a false event or the total recall is below R (default 0), 64 on usage or read errors. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2agent/kmsg.h"

#define MAX_REPORTS 4096

typedef struct Report {
        char *path;
        bool expect[_KMSG_CLASS_MAX];
        bool found[_KMSG_CLASS_MAX];
        unsigned found_line[_KMSG_CLASS_MAX];
        unsigned expect_line;
        bool has_expect;
} Report;

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* "[ 123.456]", "[Mon Jan  1 12:00:00 2023]" (any language), "[  +0.005106]" (dmesg -H),
 * "[ T123]", "[ C0]" at S, or "123.456] " with its '[' lost in a copy: returns the byte after
 * "] " or S when S starts with none of these. */
static const char *skip_bracket_stamp(const char *s) {
        const char *p = s + (s[0] == '['), *close = strchr(s, ']');
        if (!close || close - s > 40 || close == p)
                return s;
        while (*p == ' ')
                p++;
        if (p == close)
                return s;
        if (s[0] != '[') { /* only "123.456]" */
                for (const char *q = p; q < close; q++)
                        if (!is_digit(*q) && *q != '.')
                                return s;
                if (!memchr(p, '.', (size_t) (close - p)))
                        return s;
        } else if ((*p == 'T' || *p == 'C') && is_digit(p[1])) { /* CONFIG_PRINTK_CALLER */
                for (const char *q = p + 1; q < close; q++)
                        if (!is_digit(*q))
                                return s;
        } else {
                /* monotonic seconds, or dmesg -H deltas "+0.005106" */
                bool seconds = is_digit(*p) || *p == '+';
                for (const char *q = p + 1; q < close && seconds; q++)
                        seconds = is_digit(*q) || *q == '.';
                seconds = seconds && memchr(p, '.', (size_t) (close - p)); /* not "[0000000c] *pgd=" */
                /* dmesg -T "Mon Jan  1 12:00:00 2023" in any locale, or an ISO time: HH:MM:SS */
                bool clock = false;
                for (const char *q = p; q + 8 <= close && !clock && !seconds; q++)
                        clock = is_digit(q[0]) && is_digit(q[1]) && q[2] == ':' && is_digit(q[3]) &&
                                is_digit(q[4]) && q[5] == ':' && is_digit(q[6]) && is_digit(q[7]);
                if (!seconds && !clock)
                        return s;
        }
        p = close + 1;
        p += *p == ':'; /* talosctl: "[2024-04-16T18:19:30.92Z]: " */
        return *p == ' ' ? p + 1 : p;
}

/* A syslog or journalctl header "Jan  1 12:00:00 host kernel: ", "2023-01-01T12:00:00+00:00
 * host kernel: ", "kernel: ": returns the byte after it, or S. The header has a time (':' before
 * "kernel: ") and is short; the text the kernel printed is never searched. */
static const char *skip_syslog(const char *s) {
        const char *k = strstr(s, "kernel:");
        if (!k || k - s > 100)
                return s;
        if (k != s) {
                if (k[-1] != ' ' || !memchr(s, ':', (size_t) (k - s)))
                        return s;
                /* the header holds no '[' ']' of a kernel line before it, except "host[1]" forms */
                for (const char *q = s; q < k; q++)
                        if (*q == ']' && q[1] != ':' && q[1] != ' ')
                                return s;
        }
        k += strlen("kernel:");
        return *k == ' ' ? k + 1 : k;
}

/* A build or CI log's own clock before the line: "16:03:51 ". */
static const char *skip_clock(const char *s) {
        const char *p = s;
        for (int i = 0; i < 3; i++) {
                if (!is_digit(p[0]) || !is_digit(p[1]) || p[2] != (i < 2 ? ':' : ' '))
                        return s;
                p += 3;
        }
        return p;
}

/* /dev/kmsg "6,123,456,-;" (PRI, seq, usec, flags, maybe more): sets *LEVEL. */
static const char *skip_kmsg_header(const char *s, unsigned *level) {
        const char *p = s;
        unsigned commas = 0;
        if (!is_digit(*p))
                return s;
        while (*p && *p != ';' && p - s < 64) {
                if (*p == ',')
                        commas++;
                else if (!is_digit(*p) && *p != '-' && *p != '+' && *p != 'c' && *p != '=' &&
                         !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
                        return s;
                p++;
        }
        if (*p != ';' || commas < 3)
                return s;
        *level = (unsigned) (s[0] - '0') % 8;
        return p + 1;
}

/* "kern  :err   : " (dmesg -x), "kern:    info: " (talosctl dmesg, after "NODE: "). */
static const char *skip_dmesg_x(const char *s) {
        const char *k = strstr(s, ": kern:");
        if (k && k - s < 48 && !memchr(s, ' ', (size_t) (k - s)))
                s = k + 2;
        if (strncmp(s, "kern", 4) != 0)
                return s;
        const char *p = s + 4;
        while (*p == ' ')
                p++;
        if (*p != ':')
                return s;
        p++;
        while (*p == ' ')
                p++;
        while (*p >= 'a' && *p <= 'z')
                p++;
        while (*p == ' ')
                p++;
        if (*p != ':')
                return s;
        p++;
        return *p == ' ' ? p + 1 : p;
}

/* The message text of a posted log line, per the header comment; *LEVEL as far as known. */
static const char *corpus_strip(const char *s, unsigned *level) {
        const char *t;
        *level = 6;
        while (*s == ' ' || *s == '\t')
                s++;
        for (int round = 0; round < 4; round++) {
                const char *before = s;
                s = skip_clock(s);
                s = skip_syslog(s);
                s = skip_dmesg_x(s);
                if (s[0] == '<' && is_digit(s[1]) && s[2] == '>') {
                        *level = (unsigned) (s[1] - '0');
                        s += 3;
                }
                s = skip_kmsg_header(s, level);
                while ((t = skip_bracket_stamp(s)) != s)
                        s = t;
                if (s == before)
                        break;
        }
        return s;
}

/* Writes TEXT as the kernel's record text: bytes < 0x20, 0x7f and '\' as \xNN (TEXT-CONTRACT). */
static size_t corpus_escape(const char *text, char *dst, size_t max) {
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *) text; *p && n + 5 < max; p++) {
                if (*p < 0x20 || *p == 0x7f || *p == '\\')
                        n += (size_t) snprintf(dst + n, max - n, "\\x%02x", *p);
                else
                        dst[n++] = (char) *p;
        }
        dst[n] = 0;
        return n;
}

static KmsgClass class_from_string(const char *s, size_t n) {
        for (int c = KMSG_NONE + 1; c < _KMSG_CLASS_MAX; c++) {
                const char *name = kmsg_class_to_string((KmsgClass) c);
                if (name && strlen(name) == n && strncmp(name, s, n) == 0)
                        return (KmsgClass) c;
        }
        return KMSG_NONE;
}

static int parse_expect(Report *r, const char *v, unsigned lineno) {
        r->has_expect = true;
        r->expect_line = lineno;
        while (*v) {
                size_t n = strcspn(v, " \t,");
                if (n == 0) {
                        v++;
                        continue;
                }
                if (!(n == 4 && strncmp(v, "none", 4) == 0)) {
                        KmsgClass c = class_from_string(v, n);
                        if (c == KMSG_NONE) {
                                fprintf(stderr, "%s:%u: unknown class '%.*s'\n", r->path, lineno, (int) n,
                                        v);
                                return -EINVAL;
                        }
                        r->expect[c] = true;
                }
                v += n;
        }
        return 0;
}

static int score_report(Report *r, bool verbose, bool show_text) {
        FILE *f = fopen(r->path, "re");
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        ssize_t len;
        char text[KMSG_MAX_RECORD + 1];

        if (!f) {
                int r_errno = errno;
                fprintf(stderr, "%s: %s\n", r->path, strerror(r_errno));
                return -r_errno;
        }
        while ((len = getline(&line, &cap, f)) >= 0) {
                unsigned level;
                KmsgRecord rec = { 0 };
                KmsgMatch m;

                lineno++;
                line[strcspn(line, "\r\n")] = 0;
                if (line[0] == '#') {
                        if (strncmp(line, "# expect:", 9) == 0 && parse_expect(r, line + 9, lineno) < 0) {
                                free(line);
                                fclose(f);
                                return -EINVAL;
                        }
                        continue;
                }
                const char *s = corpus_strip(line, &level);
                if (show_text)
                        printf("  %s:%u <%u> %s\n", r->path, lineno, level, s);
                if (!*s)
                        continue;
                rec.facility = 0;
                rec.level = level;
                rec.seq = lineno;
                rec.text = text;
                rec.text_len = corpus_escape(s, text, sizeof text);
                KmsgClass c = kmsg_classify(&rec, &m);
                if (c == KMSG_NONE || !kmsg_class_to_string(c))
                        continue;
                if (verbose)
                        printf("  %s:%u %s [%s] %s\n", r->path, lineno, kmsg_class_to_string(c), m.format,
                               s);
                if (!r->found[c]) {
                        r->found[c] = true;
                        r->found_line[c] = lineno;
                }
        }
        free(line);
        fclose(f);
        if (!r->has_expect) {
                fprintf(stderr, "%s: no '# expect:' line\n", r->path);
                return -EINVAL;
        }
        return 0;
}

static int path_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Appends the *.log files of DIR (sorted), or ARG itself when it is not a directory. */
static int collect(const char *arg, char **paths, size_t *n) {
        DIR *d = opendir(arg);
        struct dirent *de;
        size_t first = *n;

        if (!d) {
                if (errno != ENOTDIR)
                        return -errno;
                if (*n >= MAX_REPORTS)
                        return -E2BIG;
                paths[(*n)++] = strdup(arg);
                return 0;
        }
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 5 || strcmp(de->d_name + l - 4, ".log") != 0)
                        continue;
                if (*n >= MAX_REPORTS) {
                        closedir(d);
                        return -E2BIG;
                }
                char *p = NULL;
                if (asprintf(&p, "%s/%s", arg, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                paths[(*n)++] = p;
        }
        closedir(d);
        qsort(paths + first, *n - first, sizeof *paths, path_compare);
        return 0;
}

int main(int argc, char **argv) {
        static char *paths[MAX_REPORTS];
        static Report reports[MAX_REPORTS];
        size_t n = 0;
        double min_recall = 0;
        bool verbose = false, show_text = false;
        unsigned expected[_KMSG_CLASS_MAX] = { 0 }, found[_KMSG_CLASS_MAX] = { 0 },
                 falses[_KMSG_CLASS_MAX] = { 0 };
        unsigned tot_expected = 0, tot_found = 0, tot_false = 0, negatives = 0;
        int i;

        for (i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-v") == 0)
                        verbose = true;
                else if (strcmp(argv[i], "-t") == 0)
                        show_text = true;
                else if (strcmp(argv[i], "--min-recall") == 0 && i + 1 < argc)
                        min_recall = strtod(argv[++i], NULL);
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "usage: kmsg-corpus [-v] [-t] [--min-recall R] DIR_OR_FILE...\n");
                        return 64;
                } else {
                        int r = collect(argv[i], paths, &n);
                        if (r < 0) {
                                fprintf(stderr, "%s: cannot read: %s\n", argv[i], strerror(-r));
                                return 64;
                        }
                }
        }
        if (n == 0) {
                fprintf(stderr, "usage: kmsg-corpus [-v] [-t] [--min-recall R] DIR_OR_FILE...\n");
                return 64;
        }

        for (size_t k = 0; k < n; k++) {
                Report *r = &reports[k];
                bool any = false;
                r->path = paths[k];
                if (score_report(r, verbose, show_text) < 0)
                        return 64;
                for (int c = 1; c < _KMSG_CLASS_MAX; c++) {
                        if (!kmsg_class_to_string((KmsgClass) c))
                                continue;
                        any = any || r->expect[c];
                        expected[c] += r->expect[c];
                        found[c] += r->expect[c] && r->found[c];
                        falses[c] += !r->expect[c] && r->found[c];
                }
                negatives += !any;
        }

        printf("%zu reports (%u expect no event)\n\n", n, negatives);
        printf("%-16s %8s %6s %8s %6s\n", "class", "expected", "found", "recall", "false");
        for (int c = 1; c < _KMSG_CLASS_MAX; c++) {
                const char *name = kmsg_class_to_string((KmsgClass) c);
                if (!name)
                        continue;
                printf("%-16s %8u %6u %8.3f %6u\n", name, expected[c], found[c],
                       expected[c] ? (double) found[c] / expected[c] : 1.0, falses[c]);
                tot_expected += expected[c];
                tot_found += found[c];
                tot_false += falses[c];
        }
        double recall = tot_expected ? (double) tot_found / tot_expected : 1.0;
        printf("%-16s %8u %6u %8.3f %6u\n", "total", tot_expected, tot_found, recall, tot_false);

        printf("\nmisses (report-class pairs with no line of the class; at the '# expect:' line):\n");
        for (size_t k = 0; k < n; k++)
                for (int c = 1; c < _KMSG_CLASS_MAX; c++)
                        if (reports[k].expect[c] && !reports[k].found[c])
                                printf("  MISS  %-15s %s:%u\n", kmsg_class_to_string((KmsgClass) c),
                                       reports[k].path, reports[k].expect_line);
        printf("false events (first line of a class the report does not expect):\n");
        for (size_t k = 0; k < n; k++)
                for (int c = 1; c < _KMSG_CLASS_MAX; c++)
                        if (!reports[k].expect[c] && reports[k].found[c] &&
                            kmsg_class_to_string((KmsgClass) c))
                                printf("  FALSE %-15s %s:%u\n", kmsg_class_to_string((KmsgClass) c),
                                       reports[k].path, reports[k].found_line[c]);

        for (size_t k = 0; k < n; k++)
                free(paths[k]);
        if (tot_false > 0 || recall < min_recall) {
                printf("\nFAIL: %u false events, recall %.3f (minimum %.3f)\n", tot_false, recall,
                       min_recall);
                return 1;
        }
        return 0;
}
