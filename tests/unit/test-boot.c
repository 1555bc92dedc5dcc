/* test-boot.c — the previous boot's verdict from boot.json and the clean-shutdown mark. */
#include "ec2agent/boot.h"
#include "ec2agent/util.h"
#include "tap.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccc"

static void test_boot_id(void) {
        char id[BOOT_ID_LEN + 1];
        ASSERT_INT(boot_id_get(id), 0);
        ASSERT_INT(strlen(id), 32);
        /* systemd's %b through the unit's environment wins, dashed or not; garbage does not */
        setenv("EC2AGENT_BOOT_ID", "0f6b4b3b-7c1e-4e7f-9d51-0a0f2a8f3a11", 1);
        ASSERT_INT(boot_id_get(id), 0);
        ASSERT_STR(id, "0f6b4b3b7c1e4e7f9d510a0f2a8f3a11");
        setenv("EC2AGENT_BOOT_ID", C, 1);
        ASSERT_INT(boot_id_get(id), 0);
        ASSERT_STR(id, C);
        setenv("EC2AGENT_BOOT_ID", "%b", 1);
        ASSERT_INT(boot_id_get(id), 0);
        ASSERT_TRUE(strcmp(id, C) != 0 && strlen(id) == 32);
        unsetenv("EC2AGENT_BOOT_ID");
}

static void test_sequence(void) {
        char dir[] = "/tmp/ec2agent-boot-XXXXXX";
        PreviousBoot p;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        /* First start ever: nothing to judge. */
        ASSERT_INT(boot_judge_previous(dir, A, &p), 0);
        ASSERT_FALSE(p.known);
        /* Boot A ends cleanly; boot B starts: clean. */
        ASSERT_INT(boot_mark_clean(dir, A), 0);
        ASSERT_INT(boot_judge_previous(dir, B, &p), 0);
        ASSERT_TRUE(p.known && p.clean && p.new_verdict);
        ASSERT_STR(p.boot_id, A);
        /* The agent restarts within boot B (crashed or not): the verdict carries over. */
        ASSERT_INT(boot_judge_previous(dir, B, &p), 0);
        ASSERT_TRUE(p.known && p.clean);
        ASSERT_FALSE(p.new_verdict);
        ASSERT_STR(p.boot_id, A);
        /* Boot B dies without a mark; boot C: not clean. */
        ASSERT_INT(boot_judge_previous(dir, C, &p), 0);
        ASSERT_TRUE(p.known && p.new_verdict);
        ASSERT_FALSE(p.clean);
        ASSERT_STR(p.boot_id, B);
        /* A mark of another boot does not make the last one clean. */
        ASSERT_INT(boot_mark_clean(dir, A), 0);
        ASSERT_INT(boot_judge_previous(dir, B, &p), 0);
        ASSERT_FALSE(p.clean);
        ASSERT_STR(p.boot_id, C);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ASSERT_INT(system(cmd), 0);
}

static void test_corrupt_state(void) {
        char dir[] = "/tmp/ec2agent-boot-XXXXXX";
        PreviousBoot p;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        char path[128];
        _cleanup_free_ char *kept = NULL, *now = NULL;
        ASSERT_INT(write_file_atomic(dir, BOOT_STATE_FILE, "{\"boot_id\":\"../../x\"", 20, 0644), 0);
        ASSERT_INT(boot_judge_previous(dir, A, &p), 0);
        ASSERT_FALSE(p.known);
        /* torn: set aside with its bytes, and a fresh boot.json written */
        snprintf(path, sizeof path, "%s/boot.json.corrupt", dir);
        ASSERT_INT(read_file_bounded(path, 4096, &kept, NULL), 0);
        ASSERT_STR(kept, "{\"boot_id\":\"../../x\"");
        snprintf(path, sizeof path, "%s/boot.json", dir);
        ASSERT_INT(read_file_bounded(path, 4096, &now, NULL), 0);
        ASSERT_TRUE(strstr(now, A) != NULL);
        kept = mfree(kept);

        /* JSON, but no boot id: set aside too */
        const char *wrong = "{\"boot_id\":\"../../x\"}";
        ASSERT_INT(write_file_atomic(dir, BOOT_STATE_FILE, wrong, strlen(wrong), 0644), 0);
        ASSERT_INT(boot_judge_previous(dir, B, &p), 0);
        ASSERT_FALSE(p.known);
        snprintf(path, sizeof path, "%s/boot.json.corrupt", dir);
        ASSERT_INT(read_file_bounded(path, 4096, &kept, NULL), 0);
        ASSERT_STR(kept, wrong);

        /* a crash_log with an escape sequence and a cut UTF-8 character reaches status clean */
        char text[512];
        snprintf(text, sizeof text,
                 "{\"boot_id\":\"%s\",\"previous\":{\"boot_id\":\"%s\",\"clean_shutdown\":false,"
                 "\"crash_log\":\"oops \\u001b]0;pwned\\u0007 \xc3\"}}",
                 B, A);
        ASSERT_INT(write_file_atomic(dir, BOOT_STATE_FILE, text, strlen(text), 0644), 0);
        ASSERT_INT(boot_judge_previous(dir, B, &p), 0);
        ASSERT_TRUE(p.known);
        ASSERT_STR(p.crash_log, "oops \\x1b]0;pwned\\x07 \xef\xbf\xbd");
        ASSERT_TRUE(boot_judge_previous("/nonexistent/dir", A, &p) < 0);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ASSERT_INT(system(cmd), 0);
}

TAP_MAIN(T(test_boot_id), T(test_sequence), T(test_corrupt_state))
