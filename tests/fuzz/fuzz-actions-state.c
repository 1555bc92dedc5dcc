/* fuzz-actions-state.c — any bytes as actions.json when the engine starts: loaded with
 * state_load_json (a corrupt file set aside, never fatal), its runs, firings and reboots rendered
 * into status, then saved again. The loop is never run, so no resumed step starts. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec2agent/config.h"
#include "ec2agent/engine.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every kind of rule state: an event rule with before_s and a cooldown, a metric rule, a reboot. */
static const char config_text[] =
        "{\"rules\": ["
        "{\"name\": \"drain\", \"on\": [\"spot-interruption\", \"maintenance\"], \"before_s\": 300,"
        " \"do\": [{\"stop\": [\"app.service\"], \"timeout_s\": 90}, {\"exec\": [\"/bin/true\"]},"
        "        {\"complete_lifecycle_action\": {\"hook\": \"drain\"}}]},"
        "{\"name\": \"mem\", \"when\": {\"metric\": \"mem_used_percent\", \"above\": 95, \"for_s\": 60},"
        " \"cooldown_s\": 900, \"do\": [{\"reboot\": {\"max_per_day\": 1}}]}]}";

static void on_event(Event *e, void *userdata) {
        (void) userdata;
        event_free(e);
}

static const InstanceIdentity *no_identity(void *userdata) {
        (void) userdata;
        return NULL;
}
static const char *no_asg(void *userdata) {
        (void) userdata;
        return NULL;
}
static const AwsCredentials *no_credentials(void *userdata) {
        (void) userdata;
        return NULL;
}
static const SeriesStore *no_series(void *userdata) {
        static const SeriesStore empty;
        (void) userdata;
        return &empty;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sd_event *loop;
        static Config *config;
        static char shm[] = "/dev/shm/fuzz-actions-state-XXXXXX", tmp[] = "/tmp/fuzz-actions-state-XXXXXX";
        static char *dir;
        char path[96];
        Engine *e = NULL;
        int fd;

        if (!loop) {
                char **errors = NULL;
                log_setup(LOG_EMERG);
                /* tmpfs if there is one: the state's fsyncs are then free */
                if (sd_event_new(&loop) < 0 || !(dir = mkdtemp(shm) ?: mkdtemp(tmp)) ||
                    config_load_string("fuzz.json", config_text, &config, &errors) < 0)
                        abort();
        }
        snprintf(path, sizeof path, "%s/" ENGINE_STATE_FILE ".corrupt", dir);
        (void) unlink(path);
        snprintf(path, sizeof path, "%s/" ENGINE_STATE_FILE, dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);

        EngineEnv env = {
                .sink = { on_event, NULL },
                .aws = { .identity = no_identity, .asg_name = no_asg, .credentials = no_credentials },
                .series = no_series
        };
        if (engine_new(loop, NULL, NULL, config, dir, &env, &e) < 0)
                abort(); /* a state file is never fatal */
        cJSON *doc = cJSON_CreateObject();
        if (!doc || engine_status(e, doc) < 0)
                abort();
        cJSON_Delete(doc);
        engine_free(e);
        return 0;
}
