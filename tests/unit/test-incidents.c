/* test-incidents.c — open PagerDuty incidents survive a restart; a corrupt file is set aside. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/incidents.h"
#include "ec2agent/json.h"
#include "tap.h"

static char *tmpdir(void) {
        char t[] = "/tmp/test-incidents.XXXXXX";
        char *d = mkdtemp(t);
        if (!d)
                TAP_FAIL("mkdtemp");
        return strdup(d);
}

static void test_roundtrip(void) {
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_(incidents_freep) Incidents *a = NULL, *b = NULL;
        const Incident *found[4];

        ASSERT_INT(incidents_load(dir, &a), 0);
        ASSERT_INT(incidents_count(a), 0);
        ASSERT_INT(incidents_open(a, "ec2agent/i-0abc/mem", "mem", 1, "metric", 1000 * USEC_PER_SEC), 0);
        ASSERT_INT(incidents_open(a, "ec2agent/i-0abc/maint", "maint", 0, "maintenance:instance-event-1", 0),
                   0);
        ASSERT_INT(incidents_open(a, "ec2agent/i-0abc/mem", "mem", 1, "metric", 2000 * USEC_PER_SEC),
                   0); /* again */
        ASSERT_INT(incidents_count(a), 2);

        /* a restart: a new agent reads what the old one left */
        ASSERT_INT(incidents_load(dir, &b), 0);
        ASSERT_INT(incidents_count(b), 2);
        ASSERT_INT(incidents_find(b, "mem", NULL, found, 4), 1);
        ASSERT_STR(found[0]->dedup_key, "ec2agent/i-0abc/mem");
        ASSERT_INT(found[0]->step, 1);
        ASSERT_INT(found[0]->opened_at, 2000 * USEC_PER_SEC);
        ASSERT_INT(incidents_find(b, "maint", "maintenance:instance-event-2", found, 4), 0);
        ASSERT_INT(incidents_find(b, "maint", "maintenance:instance-event-1", found, 4), 1);
        ASSERT_INT(incidents_close(b, "ec2agent/i-0abc/maint"), 1);
        ASSERT_INT(incidents_close(b, "ec2agent/i-0abc/maint"), 0);

        incidents_free(a);
        ASSERT_INT(incidents_load(dir, &a), 0);
        ASSERT_INT(incidents_count(a), 1);

        /* status: the keys, never a routing key (none is stored) */
        _cleanup_json_ cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(incidents_status(a, doc), 0);
        _cleanup_free_ char *s = cJSON_PrintUnformatted(doc);
        ASSERT_STR(s, "{\"pagerduty\":{\"open_incidents\":1,\"dedup_keys\":[\"ec2agent/i-0abc/mem\"]}}");
        _cleanup_json_ cJSON *none = cJSON_CreateObject();
        ASSERT_INT(incidents_status(NULL, none), 0);
}

static void write_text(const char *dir, const char *text) {
        _cleanup_free_ char *p = NULL;
        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, INCIDENTS_FILE) > 0);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT(write(fd, text, strlen(text)), (long long) strlen(text));
        close(fd);
}

static void test_corrupt_and_shapes(void) {
        _cleanup_free_ char *dir = tmpdir(), *aside = NULL;
        _cleanup_(incidents_freep) Incidents *a = NULL, *b = NULL;
        struct stat st;

        write_text(dir, "{\"open\": [{\"dedup_key\"");
        ASSERT_INT(incidents_load(dir, &a), 0);
        ASSERT_INT(incidents_count(a), 0);
        ASSERT_TRUE(asprintf(&aside, "%s/%s.corrupt", dir, INCIDENTS_FILE) > 0);
        ASSERT_INT(stat(aside, &st), 0); /* kept for the post-mortem, never silently emptied */

        write_text(
                dir,
                "{\"open\": [{\"dedup_key\": \"k\", \"rule\": \"r\", \"step\": 0, \"instance\": \"metric\"},"
                "{\"dedup_key\": 5, \"rule\": \"r\", \"step\": 0, \"instance\": \"metric\"},"
                "{\"dedup_key\": \"k2\", \"rule\": \"r\", \"step\": -1, \"instance\": \"metric\"},"
                "{\"dedup_key\": \"k3\", \"rule\": \"r\", \"step\": 0, \"instance\": \"metric\","
                " \"opened_at\": \"yesterday\"}]}");
        ASSERT_INT(incidents_load(dir, &b), 0);
        ASSERT_INT(incidents_count(b), 1);
}

TAP_MAIN(T(test_roundtrip), T(test_corrupt_and_shapes))
