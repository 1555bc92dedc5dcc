/* test-journal.c — append, read back oldest first, torn lines, rotation. */
#include <fcntl.h>
#include <sys/stat.h>

#include "ec2agent/journal.h"
#include "ec2agent/json.h"
#include "tap.h"

typedef struct Seen {
        char types[64][48];
        size_t n;
} Seen;

static int collect(const cJSON *ev, void *userdata) {
        Seen *s = userdata;
        if (s->n < 64)
                snprintf(s->types[s->n++], sizeof s->types[0], "%s", json_get_string(ev, "type"));
        return 0;
}

static char *tmpdir(void) {
        char *d = strdup("/tmp/ec2agent-journal-XXXXXX");
        if (!d || !mkdtemp(d))
                abort();
        return d;
}

static void rmdir_all(const char *d) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        if (system(cmd) != 0)
                abort();
}

static void append(Journal *j, const char *type, const char *summary) {
        _cleanup_(event_freep) Event *e = event_new(type, "%s", summary);
        ASSERT_TRUE(e != NULL);
        cJSON_AddNumberToObject(e->detail, "n", 1);
        ASSERT_INT(journal_append(j, e, "0123456789abcdef0123456789abcdef"), 0);
}

static void test_event_line(void) {
        _cleanup_(event_freep) Event *e =
                event_new("spot-interruption", "terminate at %s", "2026-11-23T10:02:00Z");
        ASSERT_TRUE(e != NULL);
        ASSERT_INT(e->severity, SEVERITY_CRITICAL);
        e->at = 1795428000ULL * USEC_PER_SEC;
        cJSON_AddStringToObject(e->detail, "action", "terminate");
        _cleanup_free_ char *line = event_to_json_line(e, "b00t");
        ASSERT_STR(line,
                   "{\"at\":\"2026-11-23T10:00:00Z\",\"boot_id\":\"b00t\",\"type\":\"spot-interruption\","
                   "\"severity\":\"critical\",\"summary\":\"terminate at 2026-11-23T10:02:00Z\","
                   "\"detail\":{\"action\":\"terminate\"}}");
}

static void test_append_and_read(void) {
        _cleanup_free_ char *d = tmpdir();
        _cleanup_(journal_freep) Journal *j = NULL;
        Seen s = {};
        unsigned skipped = 99;

        ASSERT_INT(journal_open(d, 0, &j), 0);
        append(j, "oom-kill", "a");
        append(j, "spot-interruption", "b");
        append(j, "maintenance:system-reboot", "c");
        ASSERT_INT(journal_appended(j), 3);
        ASSERT_INT(journal_read(d, collect, &s, &skipped), 0);
        ASSERT_INT(s.n, 3);
        ASSERT_INT(skipped, 0);
        ASSERT_STR(s.types[0], "oom-kill");
        ASSERT_STR(s.types[2], "maintenance:system-reboot");
        rmdir_all(d);
}

static void test_torn_last_line(void) {
        _cleanup_free_ char *d = tmpdir(), *p = path_join(d, JOURNAL_FILE);
        Journal *j = NULL;
        Seen s = {};
        unsigned skipped = 0;

        ASSERT_INT(journal_open(d, 0, &j), 0);
        append(j, "oom-kill", "a");
        j = journal_free(j);
        /* A power loss in the middle of a write leaves half a line. */
        int fd = open(p, O_WRONLY | O_APPEND);
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT(write(fd, "{\"at\":\"2026-11-2", 16), 16);
        close(fd);
        ASSERT_INT(journal_read(d, collect, &s, &skipped), 0);
        ASSERT_INT(s.n, 1);
        ASSERT_INT(skipped, 1);

        /* The next append closes the torn line, so the new event is intact. */
        ASSERT_INT(journal_open(d, 0, &j), 0);
        append(j, "io-error", "b");
        j = journal_free(j);
        memset(&s, 0, sizeof s);
        ASSERT_INT(journal_read(d, collect, &s, &skipped), 0);
        ASSERT_INT(s.n, 2);
        ASSERT_STR(s.types[1], "io-error");
        ASSERT_INT(skipped, 1);
        rmdir_all(d);
}

static void test_garbage_lines(void) {
        _cleanup_free_ char *d = tmpdir();
        const char *text =
                "not json\n{\"type\":\"x\"}\n[1]\n{\"at\":\"2026-11-23T10:00:00Z\",\"type\":\"oom-kill\"}\n";
        Seen s = {};
        unsigned skipped = 0;

        ASSERT_INT(write_file_atomic(d, JOURNAL_FILE, text, strlen(text), 0640), 0);
        ASSERT_INT(journal_read(d, collect, &s, &skipped), 0);
        ASSERT_INT(s.n, 1);
        ASSERT_INT(skipped, 3);
        rmdir_all(d);
}

static void test_rotation(void) {
        _cleanup_free_ char *d = tmpdir();
        _cleanup_(journal_freep) Journal *j = NULL;
        char name[32];
        Seen s = {};
        struct stat st;

        /* ~200-byte lines into 1 KiB files: 40 events overflow the 4 kept rotations. */
        ASSERT_INT(journal_open(d, 1024, &j), 0);
        for (int i = 0; i < 40; i++) {
                char t[16];
                snprintf(t, sizeof t, "%d", i);
                append(j, "oom-kill", t);
        }
        for (int i = 1; i <= JOURNAL_KEEP_ROTATED; i++) {
                _cleanup_free_ char *p = NULL;
                snprintf(name, sizeof name, JOURNAL_FILE ".%d", i);
                ASSERT_TRUE((p = path_join(d, name)) != NULL);
                ASSERT_INT(stat(p, &st), 0);
                ASSERT_TRUE(st.st_size <= 1024);
        }
        snprintf(name, sizeof name, JOURNAL_FILE ".%d", JOURNAL_KEEP_ROTATED + 1);
        _cleanup_free_ char *extra = path_join(d, name);
        ASSERT_TRUE(stat(extra, &st) < 0);
        ASSERT_INT(journal_read(d, collect, &s, NULL), 0);
        ASSERT_TRUE(s.n > 10 && s.n < 40); /* the oldest were rotated away */
        ASSERT_INT(journal_appended(j), 40);
        rmdir_all(d);
}

static void test_read_missing(void) {
        Seen s = {};
        ASSERT_INT(journal_read("/nonexistent/state", collect, &s, NULL), 0);
        ASSERT_INT(s.n, 0);
}

#define BOOT "0123456789abcdef0123456789abcdef"

static Event *fired(const char *run) {
        Event *e = event_new("rule-fired", "rule drain fired");
        ASSERT_TRUE(e != NULL);
        cJSON_AddStringToObject(e->detail, "run", run);
        return e;
}

static Event *kernel(const char *type, double seq, bool aggregated) {
        Event *e = event_new(type, "%s", type);
        ASSERT_TRUE(e != NULL);
        cJSON_AddNumberToObject(e->detail, "seq", seq);
        if (aggregated)
                cJSON_AddBoolToObject(e->detail, "aggregated", true);
        return e;
}

static void add(Journal *j, Event *e) {
        ASSERT_INT(journal_append(j, e, BOOT), 0);
        event_free(e);
}

static bool holds(Journal *j, Event *e, const char *boot) {
        bool r = journal_holds(j, e, boot);
        event_free(e);
        return r;
}

/* The keys of what it holds, appended now or found in its tail at open: how the manager drops the
 * engine's repeated announcement and kmsg's repeated record after a SIGKILL. */
static void test_holds(void) {
        _cleanup_free_ char *d = tmpdir();
        Journal *j = NULL;
        char key[JOURNAL_KEY_MAX];

        ASSERT_INT(journal_event_key("rule-fired", BOOT, NULL, key, sizeof key), 0);
        ASSERT_INT(journal_open(d, 0, &j), 0);
        ASSERT_FALSE(holds(j, fired("1765090000-1"), BOOT));
        add(j, fired("1765090000-1"));
        add(j, kernel("oom-kill", 812, false));
        add(j, kernel("io-error", 900, false));
        add(j, kernel("io-error", 990, true)); /* a follow-up without last_seq and count: no key */
        append(j, "spot-interruption", "no key either");
        ASSERT_TRUE(holds(j, fired("1765090000-1"), BOOT));
        ASSERT_FALSE(holds(j, fired("1765090000-2"), BOOT));
        ASSERT_TRUE(holds(j, kernel("oom-kill", 812, false), BOOT));
        ASSERT_FALSE(holds(j, kernel("oom-kill", 812, false), "another-boot"));
        ASSERT_FALSE(holds(j, kernel("oom-kill", 813, false), BOOT));
        ASSERT_FALSE(holds(j, kernel("fs-error", 812, false), BOOT));
        ASSERT_FALSE(holds(j, kernel("io-error", 990, true), BOOT));
        Event *f = kernel("io-error", 901, true);
        cJSON_AddNumberToObject(f->detail, "last_seq", 990);
        cJSON_AddNumberToObject(f->detail, "count", 20);
        add(j, f);
        f = kernel("io-error", 901, true);
        cJSON_AddNumberToObject(f->detail, "last_seq", 990);
        cJSON_AddNumberToObject(f->detail, "count", 20);
        ASSERT_TRUE(holds(j, f, BOOT));
        f = kernel("io-error", 901, true);
        cJSON_AddNumberToObject(f->detail, "last_seq", 990);
        cJSON_AddNumberToObject(f->detail, "count", 12); /* a window replayed in part: another sum */
        ASSERT_FALSE(holds(j, f, BOOT));
        j = journal_free(j);

        /* after a restart: read back from the file's tail */
        ASSERT_INT(journal_open(d, 0, &j), 0);
        ASSERT_TRUE(holds(j, fired("1765090000-1"), BOOT));
        ASSERT_TRUE(holds(j, kernel("oom-kill", 812, false), BOOT));
        ASSERT_TRUE(holds(j, kernel("io-error", 900, false), BOOT));
        ASSERT_FALSE(holds(j, fired("1765090000-2"), BOOT));
        for (int i = 0; i < 2 * JOURNAL_RECENT_KEYS; i++) {
                char run[32];
                snprintf(run, sizeof run, "r-%d", i);
                add(j, fired(run));
        }
        ASSERT_FALSE(holds(j, fired("1765090000-1"), BOOT)); /* the oldest forgotten: bounded */
        ASSERT_TRUE(holds(j, fired("r-511"), BOOT));
        ASSERT_TRUE(holds(j, fired("r-256"), BOOT)); /* the oldest kept … */
        append(j, "spot-interruption", "an event without a key");
        ASSERT_TRUE(holds(j, fired("r-256"), BOOT)); /* … is not pushed out by one without a key */
        j = journal_free(j);
        rmdir_all(d);
}

static void test_unwritable(void) {
        Journal *j = NULL;
        ASSERT_TRUE(journal_open("/nonexistent/state", 0, &j) < 0);
        ASSERT_TRUE(j == NULL);
}

TAP_MAIN(T(test_event_line), T(test_append_and_read), T(test_torn_last_line), T(test_garbage_lines),
         T(test_rotation), T(test_read_missing), T(test_unwritable), T(test_holds))
