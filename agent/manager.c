/* manager.c — `ec2agent run`: the manager, its sd-event loop, signals, sd_notify and the watchdog;
 * manager_start() starts each module in turn (manager-status.c builds the status document). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "ec2agent/aws.h"
#include "ec2agent/catalog-ids.h"
#include "ec2agent/health.h"
#include "ec2agent/json.h"
#include "ec2agent/kernel.h"
#include "ec2agent/log.h"
#include "ec2agent/manager.h"
#include "ec2agent/utf8.h"

#define NOTIFY_STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)
#define IDENTITY_WAIT_USEC          (60 * USEC_PER_SEC)

char *state_dir_path(void) {
        char *d = env_first_directory("STATE_DIRECTORY");
        return d || errno == ENOMEM ? d : strdup(STATE_DEFAULT_DIR);
}

int manager_new(Config *config, const char *state_dir, const char *socket_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        int r;

        if (!m)
                return -ENOMEM;
        m->config = config;
        if (!(m->state_dir = strdup(state_dir)) || !(m->socket_path = strdup(socket_path)))
                return -ENOMEM;
        m->started_at = now_usec(CLOCK_REALTIME);
        m->started_mono = now_usec(CLOCK_MONOTONIC);
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        sd_event_source_disable_unref(m->notify_timer);
        status_server_free(m->status);
        imds_free(m->imds);
        kmsg_free(m->kmsg); /* first: saving its cursor flushes the engine's firings */
        engine_free(m->engine);
        notifier_free(m->notifier);   /* after the engine: its runs held the notifier's calls */
        publisher_free(m->publisher); /* spools what is still queued */
        prometheus_free(m->prometheus);
        forwarder_free(m->forwarder); /* its events are in its spool already */
        nitro_free(m->nitro);
        nitro_fake_free(m->nitro_fake);
        ebs_helper_client_free(m->ebs_helper);
        sampler_free(m->sampler);
        http_free(m->http);
        explicit_bzero(&m->credentials_from_env, sizeof m->credentials_from_env);
        journal_free(m->journal);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        config_free(m->config);
        free(m->state_dir);
        free(m->socket_path);
        free(m);
        return NULL;
}

void manager_emit(Manager *m, Event *e) {
        _cleanup_(event_freep) Event *ev = e;
        _cleanup_free_ char *line = NULL, *f_type = NULL, *f_sev = NULL, *f_json = NULL;
        const EventTypeInfo *info = event_type_lookup(ev->type);
        int r;

        /* The engine announces a firing, and kmsg a kernel record's events, at least once: a SIGKILL
         * between the journal line and their own state file repeats them at the next start. The
         * journal knows the keys of what it holds; the repeat stops here, before anything sees it. */
        if (journal_holds(m->journal, ev, m->boot_id)) {
                log_debug("%s: in %s already, not recorded again.", ev->type, JOURNAL_FILE);
                return;
        }
        m->events_emitted++;
        /* a burst's follow-up carries the whole count; its first record was counted already */
        double n = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->detail, "aggregated"))
                           ? json_get_number(ev->detail, "count", 1) - 1
                           : 1;
        if (m->publisher)
                publisher_note_event(m->publisher, ev->type, n);
        if (m->prometheus)
                prometheus_note_event(m->prometheus, ev->type, n);
        /* Forward's spool before events.jsonl: a SIGKILL between the two lets the kernel log replay
         * the event (the journal lacks it), so it is forwarded at least once, never lost. */
        line = event_to_json_line(ev, m->boot_id);
        forwarder_on_event(m->forwarder, ev->type, line); /* a write to its spool: no wait */
        r = journal_append(m->journal, ev, m->boot_id);
        if (r < 0) {
                if (m->journal_error != r)
                        log_error_errno(
                                r, "Cannot append to %s/%s, events are kept in the system journal only: %m",
                                m->state_dir, JOURNAL_FILE);
                m->journal_error = r;
                m->journal_error_at = now_usec(CLOCK_REALTIME);
        } else if (m->journal_error) {
                log_notice("Appending to %s/%s works again.", m->state_dir, JOURNAL_FILE);
                m->journal_error = 0;
        }

        if (asprintf(&f_type, "EC2AGENT_EVENT_TYPE=%s", ev->type) < 0)
                f_type = NULL;
        if (asprintf(&f_sev, "EC2AGENT_SEVERITY=%s", severity_to_string(ev->severity)) < 0)
                f_sev = NULL;
        if (line && asprintf(&f_json, "EC2AGENT_EVENT=%s", line) < 0)
                f_json = NULL;
        const char *fields[] = { f_type, f_sev, f_json, NULL };
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", ev->type, ev->summary);
        log_record(ev->severity == SEVERITY_CRITICAL  ? LOG_CRIT
                   : ev->severity == SEVERITY_WARNING ? LOG_WARNING
                                                      : LOG_INFO,
                   info ? info->message_id : NULL, msg, f_type && f_sev && f_json ? fields : NULL);
        /* Last: a rule's own events must follow their cause, in events.jsonl and the journal. */
        if (m->engine)
                engine_on_event(m->engine, ev);
}

const AwsCredentials *manager_credentials(Manager *m) {
        if (m->env_credentials)
                return &m->credentials_from_env;
        return m->imds ? imds_credentials(m->imds) : NULL;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        (void) s;
        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        return sd_event_exit(m->event, 0);
}

/* Sends STATUS= when the health verdict changes, so `systemctl status` tells it. */
static int on_notify_status(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ cJSON *doc = manager_status(m);
        const char *health = json_get_string(doc, "health");
        const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(doc, "reasons");
        const cJSON *first = cJSON_GetArrayItem(reasons, 0);
        (void) usec;

        if (health && strcmp(m->notified_health, health) != 0) {
                /* A reason quotes kernel, IMDS or pstore text: escaped, it cannot add a line
                 * (MAINPID=, WATCHDOG=trigger, STOPPING=1) to the datagram. */
                _cleanup_free_ char *escaped_health = NULL, *escaped_reason = NULL;
                const char *h = utf8_escape_str(health, UTF8_ESCAPE_LOG, &escaped_health);
                const char *reason =
                        cJSON_IsString(first)
                                ? utf8_escape_str(first->valuestring, UTF8_ESCAPE_LOG, &escaped_reason)
                                : NULL;
                if (h) { /* else (ENOMEM) told at the next tick */
                        (void) sd_notifyf(false, "STATUS=Health %s%s%s", h, reason ? ": " : "",
                                          reason ?: "");
                        snprintf(m->notified_health, sizeof m->notified_health, "%s", health);
                }
        }
        return sd_event_source_set_time_relative(s, NOTIFY_STATUS_INTERVAL_USEC);
}

static char *render_status(StatusRequest req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ cJSON *doc = NULL;
        char *text;

        if (req == STATUS_REQUEST_STATUS)
                doc = manager_status(m);
        else if ((doc = cJSON_CreateObject()) &&
                 !cJSON_AddStringToObject(doc, "error", "unknown request; send \"status\\n\""))
                return NULL;
        if (!doc || !(text = cJSON_PrintUnformatted(doc)))
                return NULL;
        size_t n = strlen(text);
        char *out = realloc(text, n + 2);
        if (!out) {
                free(text);
                return NULL;
        }
        out[n] = '\n';
        out[n + 1] = 0;
        return out;
}

/* Many status clients at once need descriptors: take the hard limit (systemd sets it high). */
static void raise_nofile(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int manager_open_state(Manager *m) {
        if (mkdir(m->state_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create the state directory %s: %m", m->state_dir);
        int r = journal_open(m->state_dir, 0, &m->journal);
        if (r < 0)
                return log_error_errno(r, "The state directory %s is not writable: %m", m->state_dir);
        return 0;
}

/* What AWS callers ask of the manager (AwsEnv). */
static const InstanceIdentity *env_identity(void *userdata) {
        Manager *m = userdata;
        return m->imds ? imds_identity(m->imds) : NULL;
}

static const char *env_asg_name(void *userdata) {
        Manager *m = userdata;
        return m->imds ? imds_asg_name(m->imds) : NULL;
}

static const AwsCredentials *env_credentials(void *userdata) {
        return manager_credentials(userdata);
}

/* The identity may still come: IMDS is on and the agent started less than a minute ago. Datums
 * wait for it (and for the group tag when AutoScalingGroupName is a dimension) so they carry
 * every dimension; off EC2 they go without after that minute. */
static bool env_identity_pending(void *userdata) {
        Manager *m = userdata;
        bool want_asg = m->config->metrics_dimensions & DIMENSION_ASG_NAME;
        for (size_t i = 0; i < m->config->n_metrics_aggregation_dimensions; i++)
                want_asg |= m->config->metrics_aggregation_dimensions[i] & DIMENSION_ASG_NAME;
        return m->imds && (!imds_identity(m->imds) || (want_asg && !imds_asg_known(m->imds))) &&
               now_usec(CLOCK_MONOTONIC) - m->started_mono < IDENTITY_WAIT_USEC;
}

/* What the engine and the publisher ask of the manager for their AWS calls. */
static AwsEnv manager_aws_env(Manager *m) {
        return (AwsEnv){ .identity = env_identity,
                         .asg_name = env_asg_name,
                         .credentials = env_credentials,
                         .identity_pending = env_identity_pending,
                         .userdata = m };
}

/* Collectors and the engine hand their events here (their EventSink). */
static void collector_emit(Event *e, void *userdata) {
        manager_emit(userdata, e);
}

/* The kernel log's cursor is about to be saved: the firings its records caused go to disk first. */
static void flush_engine(void *userdata) {
        Manager *m = userdata;
        engine_flush(m->engine);
}

/* pstore: one previous-boot-crash per crash record not seen before. */
static void scan_pstore(Manager *m) {
        const char *dir = m->config->kernel_pstore_path;
        _cleanup_free_ char *summary = NULL;
        /* systemd-pstore moves records out of the default directory at boot: look there too. */
        bool is_default = strcmp(dir, "/sys/fs/pstore") == 0;
        int r = pstore_scan(dir, is_default ? PSTORE_SYSTEMD_ARCHIVE : NULL, m->state_dir,
                            &(EventSink){ collector_emit, m }, &summary);
        if (r < 0)
                log_warning_errno(r, "Cannot read the pstore records in %s: %m", dir);
        if (summary && boot_set_crash_log(m->state_dir, m->boot_id, &m->previous_boot, summary) < 0)
                log_warning("Cannot record the crash summary in %s.", m->state_dir);
}

static void judge_previous_boot(Manager *m) {
        PreviousBoot *p = &m->previous_boot;
        int r = boot_judge_previous(m->state_dir, m->boot_id, p);
        if (r < 0) {
                log_warning_errno(r, "Cannot record this boot in %s: %m", m->state_dir);
                return;
        }
        scan_pstore(m);
        if (!p->known || !p->new_verdict || p->clean)
                return;
        Event *e =
                event_new("previous-boot-crash", "previous boot %s did not shut down cleanly", p->boot_id);
        if (!e) {
                log_oom();
                return;
        }
        cJSON_AddStringToObject(e->detail, "previous_boot_id", p->boot_id);
        cJSON_AddStringToObject(e->detail, "boot_id", m->boot_id);
        cJSON_AddStringToObject(e->detail, "reason", "no clean-shutdown mark");
        manager_emit(m, e);
}

static const SeriesStore *env_series(void *userdata) {
        static const SeriesStore empty = {};
        Manager *m = userdata;
        return m->sampler ? sampler_series(m->sampler) : &empty;
}

/* The status reasons, for an alert's text. */
static char **env_reasons(void *userdata) {
        _cleanup_json_ cJSON *doc = manager_status(userdata);
        char **v = NULL;
        const cJSON *r;

        cJSON_ArrayForEach (r, cJSON_GetObjectItemCaseSensitive(doc, "reasons"))
                if (cJSON_IsString(r) && strv_extend(&v, r->valuestring) < 0)
                        break;
        return v;
}

/* Alerts to Slack, Teams and PagerDuty, with PagerDuty's open incidents from the state directory. */
static int manager_start_notifier(Manager *m) {
        int r = notifier_new(m->event, m->http, m->state_dir, &m->notifier);
        if (r < 0)
                return log_error_errno(r, "Cannot start the notifier: %m");
        return 0;
}

/* The rules: on the system bus when systemd runs (stop, restart, reboot), without it otherwise. */
static int manager_start_engine(Manager *m) {
        sigset_t ss;
        int r;

        /* Child sources of sd-event need SIGCHLD blocked. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Cannot block SIGCHLD: %m");
        if (access("/run/systemd/system", F_OK) == 0) {
                r = sd_bus_open_system(&m->bus);
                if (r >= 0)
                        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0) {
                        log_warning_errno(
                                r, "Cannot reach systemd on the system bus; stop, restart and reboot steps "
                                   "will fail: %m");
                        m->bus = sd_bus_flush_close_unref(m->bus);
                }
        }
        EngineEnv env = {
                .sink = { collector_emit, m },
                .aws = manager_aws_env(m),
                .series = env_series,
                .notifier = m->notifier,
                .reasons = env_reasons,
                .userdata = m,
        };
        r = engine_new(m->event, m->bus, m->http, m->config, m->state_dir, &env, &m->engine);
        if (r < 0)
                return log_error_errno(r, "Cannot start the rules: %m");
        return 0;
}

/* The loop itself: descriptors, the boot id, SIGTERM/SIGINT, the watchdog, and HTTP on the loop. */
static int manager_start_loop(Manager *m) {
        int r;

        raise_nofile();
        r = boot_id_get(m->boot_id);
        if (r < 0)
                return log_error_errno(r, "Cannot read the boot id: %m");

        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_signal,
                                        m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch SIGTERM/SIGINT: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");

        r = http_new(m->event, &m->http);
        if (r < 0)
                return log_error_errno(r, "Cannot set up HTTP: %m");
        return 0;
}

/* IMDS: identity, notices, and the instance profile's credentials unless the environment has keys. */
static int manager_start_imds(Manager *m) {
        int r = aws_env_credentials(&m->credentials_from_env);
        if (r == -EINVAL)
                log_warning(
                        "Ignoring malformed AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment.");
        m->env_credentials = r >= 0;
        if (!aws_imds_enabled(m->config)) {
                log_info("IMDS is disabled: no identity, notices or instance-profile credentials.");
                return 0;
        }
        const char *endpoint;
        if (aws_imds_endpoint(m->config, &endpoint) < 0)
                return log_error_errno(
                        -EINVAL, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=\"%s\" is neither IPv4 nor IPv6.",
                        getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
        ImdsOptions o = {
                .endpoint = endpoint,
                .poll_interval_s = m->config->imds_poll_interval_s,
                .scheduled_interval_s = m->config->imds_scheduled_events_interval_s,
                .timeout_ms = m->config->imds_timeout_ms,
                .fetch_credentials = !m->env_credentials,
                .state_dir = m->state_dir,
        };
        r = imds_new(m->event, m->http, &o, &(EventSink){ collector_emit, m }, &m->imds);
        if (r < 0)
                return log_error_errno(r, "Cannot start the IMDS client: %m");
        return 0;
}

/* The samples: as many kept a series as the publisher needs, each rule's metric condition followed. */
static int manager_start_sampler(Manager *m) {
        _cleanup_free_ SeriesWatch *watches = NULL;
        size_t n_watches;
        int r;

        if (series_watches_from_rules(m->config, &watches, &n_watches) < 0)
                return log_oom();
        SamplerOptions so = { .interval_s = m->config->metrics_collection_interval_s,
                              .filesystems = m->config->metrics_filesystems,
                              .series_capacity = publish_ring_samples(m->config),
                              .watches = watches,
                              .n_watches = n_watches };
        r = sampler_new(m->event, &so, &(EventSink){ collector_emit, m }, &m->sampler);
        if (r < 0)
                return log_error_errno(r, "Cannot start sampling: %m");
        return 0;
}

/* CloudWatch, when metrics are on. */
static int manager_start_publisher(Manager *m) {
        if (!m->config->metrics_enabled)
                return 0;
        AwsEnv env = manager_aws_env(m);
        int r = publisher_new(m->event, m->http, m->config, sampler_series(m->sampler), m->state_dir, &env,
                              &m->publisher);
        if (r < 0)
                return log_error_errno(r, "Cannot start publishing to CloudWatch: %m");
        return 0;
}

static cJSON *prometheus_status_doc(void *userdata) {
        return manager_status(userdata);
}

/* node_exporter's textfile, when metrics.prometheus_textfile names one (metrics on or off). */
static int manager_start_prometheus(Manager *m) {
        if (!m->config->metrics_prometheus_textfile)
                return 0;
        PrometheusOptions o = { .path = m->config->metrics_prometheus_textfile,
                                .interval_s = m->config->metrics_collection_interval_s,
                                .series = sampler_series(m->sampler),
                                .status = prometheus_status_doc,
                                .userdata = m };
        int r = prometheus_new(m->event, &o, &m->prometheus);
        if (r < 0)
                return log_error_errno(r, "Cannot start the Prometheus textfile: %m");
        return 0;
}

/* CloudWatch Logs and EventBridge, when forward names them. */
static int manager_start_forwarder(Manager *m) {
        AwsEnv env = manager_aws_env(m);
        int r = forwarder_new(m->event, m->http, m->config, m->state_dir, &env, &m->forwarder);
        if (r < 0)
                return log_error_errno(r, "Cannot start forwarding events: %m");
        return 0;
}

/* The kernel log, when on; an unreadable one is said in status and the agent goes on. */
static int manager_start_kmsg(Manager *m) {
        if (!m->config->kmsg_enabled)
                return 0;
        KmsgOptions o = { .path = m->config->kmsg_path,
                          .state_dir = m->state_dir,
                          .boot_id = m->boot_id,
                          .before_cursor_save = flush_engine,
                          .before_cursor_save_userdata = m };
        int r = kmsg_new(m->event, &o, &(EventSink){ collector_emit, m }, &m->kmsg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                /* the agent is still useful without it: say so, here and in status, and go on */
                m->kmsg_error = r;
                log_warning_errno(r, "Cannot read the kernel log %s, kernel events are off: %m",
                                  m->config->kmsg_path);
        }
        return 0;
}

/* Every EBS and ENA metric goes into the series: status, the report and the Prometheus textfile
 * have them all; the publisher sends to CloudWatch only those metrics.measurements names. */
static bool manager_nitro_wants(MetricId id, void *userdata) {
        return true;
}

/* EBS volumes and ENA interfaces: health and events always (where the hardware exists), metrics
 * into the sampler's series. EC2AGENT_TEST_NITRO=DIR (tests only, nitro-fake.h) reads
 * DIR/sys as sysfs and answers the ioctls from DIR's files. Page 0xD0 needs CAP_SYS_ADMIN, which
 * the daemon lacks: once the ioctl is refused it is asked of ec2agent-nvme (ebs-helper.h) at
 * EBS_HELPER_SOCKET; EC2AGENT_TEST_NVME_SOCKET=PATH (tests only) asks the helper at PATH always. */
static int manager_start_nitro(Manager *m) {
        const char *fake = secure_getenv("EC2AGENT_TEST_NITRO");
        const char *helper = secure_getenv("EC2AGENT_TEST_NVME_SOCKET");
        _cleanup_free_ char *sysfs = NULL;
        NitroOptions o = { .interval_s = m->config->metrics_collection_interval_s,
                           .series = sampler_series_shared(m->sampler),
                           .want_metric = manager_nitro_wants };
        int r;

        if (fake && *fake) {
                if (nitro_fake_new(fake, &m->nitro_fake) < 0 || !(sysfs = path_join(fake, "sys")))
                        return log_oom();
                log_warning("EC2AGENT_TEST_NITRO is set: EBS and ENA devices are faked from %s.", fake);
                o.sysfs = sysfs;
                o.ebs_ops = &m->nitro_fake->ebs;
                o.ethtool_ops = &m->nitro_fake->ethtool;
        }
        if (helper && *helper)
                log_warning("EC2AGENT_TEST_NVME_SOCKET is set: EBS pages are asked of the helper at %s.",
                            helper);
        if (helper && *helper
                    ? ebs_helper_client_new(helper, false, &m->ebs_helper) < 0
                    : !o.ebs_ops && ebs_helper_client_new(EBS_HELPER_SOCKET, true, &m->ebs_helper) < 0)
                return log_oom();
        if (m->ebs_helper)
                o.ebs_ops = &m->ebs_helper->ops;
        r = nitro_new(m->event, &o, &(EventSink){ collector_emit, m }, &m->nitro);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) /* no socket for ethtool: the rest of the agent goes on */
                log_warning_errno(r, "Cannot watch EBS volumes and ENA interfaces: %m");
        return 0;
}

/* The status socket, and STATUS= lines when systemd listens. */
static int manager_start_status(Manager *m) {
        int r = status_server_new(m->event, m->socket_path, render_status, m, &m->status);
        if (r == -EADDRINUSE)
                return log_error_errno(r, "Another ec2agent answers on %s.", m->socket_path);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", m->socket_path);

        if (getenv("NOTIFY_SOCKET")) {
                r = sd_event_add_time_relative(m->event, &m->notify_timer, CLOCK_MONOTONIC,
                                               NOTIFY_STATUS_INTERVAL_USEC, 0, on_notify_status, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot add a timer: %m");
                (void) sd_event_source_set_description(m->notify_timer, "notify-status");
        }
        return 0;
}

int manager_start(Manager *m) {
        int r;

        if ((r = manager_start_loop(m)) < 0)
                return r;
        /* The rules first: the events of this very start (a crashed previous boot) may trigger them. */
        if ((r = manager_start_notifier(m)) < 0 || (r = manager_start_engine(m)) < 0)
                return r;
        judge_previous_boot(m);
        if ((r = manager_start_imds(m)) < 0 || (r = manager_start_sampler(m)) < 0 ||
            (r = manager_start_publisher(m)) < 0 || (r = manager_start_prometheus(m)) < 0 ||
            (r = manager_start_forwarder(m)) < 0 || (r = manager_start_kmsg(m)) < 0 ||
            (r = manager_start_nitro(m)) < 0 || (r = manager_start_status(m)) < 0)
                return r;
        return 0;
}

int manager_run(Manager *m) {
        int r;

        log_record(LOG_INFO, MID_AGENT_STARTED, "ec2agent " EC2AGENT_VERSION " started.", NULL);
        (void) sd_notify(false, "READY=1\nSTATUS=Running.");

        r = sd_event_loop(m->event);
        if (r < 0)
                log_error_errno(r, "The event loop failed: %m");

        int k = boot_mark_clean(m->state_dir, m->boot_id);
        if (k < 0)
                log_error_errno(k, "Cannot write the clean-shutdown mark in %s: %m", m->state_dir);
        log_record(LOG_INFO, MID_AGENT_STOPPED, "ec2agent stopped.", NULL);
        return r < 0 ? r : 0;
}
