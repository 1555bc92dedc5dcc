/* manager.h — the one context that owns the loop and every module, userdata of every callback. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "boot.h"
#include "config.h"
#include "engine.h"
#include "forward.h"
#include "http.h"
#include "imds.h"
#include "journal.h"
#include "kmsg.h"
#include "ebs-helper.h"
#include "nitro.h"
#include "nitro-fake.h"
#include "prometheus.h"
#include "publish.h"
#include "sampler.h"
#include "status.h"

#define STATE_DEFAULT_DIR "/var/lib/ec2agent"

typedef struct Manager {
        sd_event *event;
        Config *config;
        char *state_dir;
        char *socket_path;
        char boot_id[BOOT_ID_LEN + 1];
        usec_t started_at;   /* realtime */
        usec_t started_mono; /* monotonic */
        PreviousBoot previous_boot;

        Http *http;
        Imds *imds;     /* NULL when IMDS is disabled */
        Kmsg *kmsg;     /* NULL when the kernel log is off or unreadable */
        int kmsg_error; /* why it is unreadable (a negative errno), 0 otherwise */
        Sampler *sampler;
        Publisher *publisher;   /* NULL when metrics are off */
        Prometheus *prometheus; /* NULL without metrics.prometheus_textfile */
        Forwarder *forwarder;   /* NULL when forward is off */
        Nitro *nitro;           /* EBS volumes and ENA interfaces (empty lists off Nitro) */
        NitroFake *nitro_fake;  /* EC2AGENT_TEST_NITRO's fake devices: tests only */

        /* page 0xD0 through ec2agent-nvme once the ioctl is refused (NULL with a fake) */
        EbsHelperClient *ebs_helper;

        sd_bus *bus; /* the system bus, NULL without systemd */
        Engine *engine;
        Notifier *notifier; /* notify to Slack, Teams, PagerDuty; its open incidents */
        bool env_credentials;
        AwsCredentials credentials_from_env;
        Journal *journal;
        StatusServer *status;
        sd_event_source *sigterm, *sigint, *notify_timer;

        uint64_t events_emitted;
        char notified_health[16]; /* the health last sent as STATUS= */
        int journal_error;        /* the last append's error, 0 when it worked */
        usec_t journal_error_at;
} Manager;

/* Creates the manager for CONFIG (taken over) with the given state directory and socket
 * path; nothing is started yet. Returns 0 or a negative errno. */
int manager_new(Config *config, const char *state_dir, const char *socket_path, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Creates the state directory when missing and opens the event journal in it. Returns 0 or a
 * negative errno, logged with the directory's path. */
int manager_open_state(Manager *m);

/* Judges the previous boot, starts every source and the status socket. Call after
 * manager_open_state(). Returns 0 or a negative errno, logged. */
int manager_start(Manager *m);

/* Runs the loop until SIGTERM/SIGINT, then writes the clean-shutdown mark. Returns 0 or a
 * negative errno. */
int manager_run(Manager *m);

/* Records event E (taken over): events.jsonl, the system journal, and later the rules.
 * Never fails the caller: a journal error is counted and shown in status. */
void manager_emit(Manager *m, Event *e);

/* The SPEC §5 status document of now. Returns NULL on ENOMEM. */
cJSON *manager_status(Manager *m);

/* The credentials to sign AWS requests with: the environment's keys, else the instance profile's
 * from IMDS. NULL while none are known. Never log or store them. */
const AwsCredentials *manager_credentials(Manager *m);

/* The state directory: $STATE_DIRECTORY (first entry), else the default. New string or NULL. */
char *state_dir_path(void);
