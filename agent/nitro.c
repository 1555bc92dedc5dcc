/* nitro.c — EBS volumes over their limits and ENA allowances exceeded, as only the guest sees them.
 *
 * Every collection_interval_s (never faster than a second): sysfs class nvme is listed again and
 * each EBS controller (model "Amazon Elastic Block Store"; instance store is never asked) is read
 * once with admin Get Log Page 0xD0; sysfs class net is listed again and each interface whose
 * driver (ETHTOOL_GDRVINFO, asked once per interface) is "ena" has its ethtool statistics read by
 * name. Devices come and go (hotplug): one that left is forgotten, one that came is read from a
 * new baseline. A device that refuses the page is marked and not asked again until it reappears.
 *
 * The counters are cumulative; their increase over the last 5 minutes is in status, a non-zero
 * one is a health warning (health.c), and the first excess after 5 minutes without one is an
 * ebs-performance-exceeded / network-allowance-exceeded event. A counter that goes down is a
 * driver reset: its new value is the new baseline. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ec2agent/counter-window.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "ec2agent/nitro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

enum { VOL_VOLUME_IOPS, VOL_VOLUME_TP, VOL_INSTANCE_IOPS, VOL_INSTANCE_TP, _VOL_MAX };

/* status keys and what each limit means to whoever reads the reason */
static const char *const vol_keys[_VOL_MAX] = { "volume_iops", "volume_throughput", "instance_iops",
                                                "instance_throughput" };
static const char *const ena_keys[ENA_EXCEEDED_MAX] = { "bw_in", "bw_out", "pps", "conntrack", "linklocal" };

typedef struct Volume {
        EbsController c;
        int error; /* the page was refused (a negative errno): not asked again while present */
        bool have_page;
        EbsLogPage page;
        usec_t last_read;
        CounterWindow w;
        Episode episode;
} Volume;

typedef struct Iface {
        char name[ENA_IFNAME_MAX];
        char ifindex[16]; /* as sysfs has it: a name reused by another interface is another one */
        bool is_ena;
        int error;
        char *table; /* the statistics' names, n_stats of them */
        size_t n_stats;
        int index[_ENA_STAT_MAX];
        uint64_t *values;
        bool have_stats;
        EnaStats stats;
        usec_t last_read;
        CounterWindow w;
        Episode episode;
} Iface;

struct Nitro {
        sd_event *event;
        sd_event_source *timer;
        NitroOptions opts;
        char *sysfs;
        EventSink sink;
        EbsOps ebs;
        EthtoolOps ethtool;
        int sock; /* the AF_INET datagram socket of the real ethtool ioctl */
        usec_t interval;
        Volume **volumes;
        size_t n_volumes;
        Iface **ifaces;
        size_t n_ifaces;
        EbsController *scratch;
};

static Volume *volume_free(Volume *v) {
        if (v)
                counter_window_done(&v->w);
        free(v);
        return NULL;
}

static Iface *iface_free(Iface *i) {
        if (!i)
                return NULL;
        counter_window_done(&i->w);
        free(i->table);
        free(i->values);
        free(i);
        return NULL;
}

static bool want(const Nitro *n, MetricId id) {
        return n->opts.series && n->opts.want_metric && n->opts.want_metric(id, n->opts.want_userdata);
}

static void record(Nitro *n, MetricId id, const SeriesDims *d, usec_t at, uint64_t v) {
        if (want(n, id) && series_add(n->opts.series, metric_name(id), d, at, (double) v) < 0)
                log_oom();
}

/* "2.1 s", "41 s" */
static const char *seconds(uint64_t us, char buf[static 32]) {
        double s = (double) us / (double) USEC_PER_SEC;
        snprintf(buf, 32, s < 10 ? "%.1f s" : "%.0f s", s);
        return buf;
}

static const char *const vol_what[_VOL_MAX] = { "its provisioned IOPS", "its provisioned throughput",
                                                "the instance's EBS IOPS limit",
                                                "the instance's EBS throughput limit" };

static void volume_event(Nitro *n, const Volume *v, const uint64_t *step, const uint64_t *w5) {
        char what[256] = "", sec[32];
        size_t len = 0;

        for (size_t i = 0; i < _VOL_MAX; i++)
                if (step[i] && len < sizeof what)
                        len += (size_t) snprintf(what + len, sizeof what - len, "%s%s for %s",
                                                 len ? ", " : "", vol_what[i], seconds(step[i], sec));
        Event *e = event_new("ebs-performance-exceeded", "%s (%s) exceeded %s in the last %" PRIu64 " s",
                             v->c.volume_id, v->c.device[0] ? v->c.device : v->c.name, what,
                             (uint64_t) (n->interval / USEC_PER_SEC));
        if (!e)
                return (void) log_oom();
        cJSON *d = e->detail, *x = NULL, *x5 = NULL, *c = NULL;
        const EbsLogPage *p = &v->page;
        bool ok = cJSON_AddStringToObject(d, "volume_id", v->c.volume_id) &&
                  json_add_string_or_null(d, "device", v->c.device[0] ? v->c.device : NULL) &&
                  cJSON_AddStringToObject(d, "controller", v->c.name) &&
                  cJSON_AddNumberToObject(d, "interval_s", (double) (n->interval / USEC_PER_SEC)) &&
                  (x = cJSON_AddObjectToObject(d, "exceeded_us")) &&
                  (x5 = cJSON_AddObjectToObject(d, "exceeded_5m_us")) &&
                  (c = cJSON_AddObjectToObject(d, "counters"));
        for (size_t i = 0; ok && i < _VOL_MAX; i++)
                ok = cJSON_AddNumberToObject(x, vol_keys[i], (double) step[i]) &&
                     cJSON_AddNumberToObject(x5, vol_keys[i], (double) w5[i]);
        /* the page as the device reports it, by the CloudWatch agent's names */
        const struct {
                const char *k;
                uint64_t v;
        } raw[] = {
                { "total_read_ops", p->read_ops },
                { "total_write_ops", p->write_ops },
                { "total_read_bytes", p->read_bytes },
                { "total_write_bytes", p->write_bytes },
                { "total_read_time", p->read_time_us },
                { "total_write_time", p->write_time_us },
                { "volume_performance_exceeded_iops", p->volume_exceeded_iops_us },
                { "volume_performance_exceeded_tp", p->volume_exceeded_tp_us },
                { "ec2_instance_performance_exceeded_iops", p->instance_exceeded_iops_us },
                { "ec2_instance_performance_exceeded_tp", p->instance_exceeded_tp_us },
                { "volume_queue_length", p->queue_length },
        };
        for (size_t i = 0; ok && i < ELEMENTSOF(raw); i++)
                ok = cJSON_AddNumberToObject(c, raw[i].k, (double) raw[i].v);
        if (!ok) {
                event_free(e);
                return (void) log_oom();
        }
        event_sink_emit(&n->sink, e);
}

static const char *const ena_what[ENA_EXCEEDED_MAX] = {
        "its inbound bandwidth allowance", "its outbound bandwidth allowance", "its PPS allowance",
        "its connection-tracking allowance", "the link-local allowance (IMDS, DNS, time sync)"
};

static void iface_event(Nitro *n, const Iface *f, const uint64_t *step, const uint64_t *w5) {
        char what[256] = "";
        size_t len = 0;

        for (size_t i = 0; i < ENA_EXCEEDED_MAX; i++)
                if (step[i] && len < sizeof what)
                        len += (size_t) snprintf(what + len, sizeof what - len, "%s%" PRIu64 " over %s",
                                                 len ? ", " : "", step[i], ena_what[i]);
        Event *e = event_new("network-allowance-exceeded",
                             "%s queued or dropped packets in the last %" PRIu64 " s: %s", f->name,
                             (uint64_t) (n->interval / USEC_PER_SEC), what);
        if (!e)
                return (void) log_oom();
        cJSON *d = e->detail, *x = NULL, *x5 = NULL, *c = NULL;
        bool ok = cJSON_AddStringToObject(d, "interface", f->name) &&
                  cJSON_AddStringToObject(d, "driver", "ena") &&
                  cJSON_AddNumberToObject(d, "interval_s", (double) (n->interval / USEC_PER_SEC)) &&
                  (x = cJSON_AddObjectToObject(d, "exceeded")) &&
                  (x5 = cJSON_AddObjectToObject(d, "exceeded_5m")) &&
                  (c = cJSON_AddObjectToObject(d, "counters"));
        for (size_t i = 0; ok && i < ENA_EXCEEDED_MAX; i++)
                ok = cJSON_AddNumberToObject(x, ena_keys[i], (double) step[i]) &&
                     cJSON_AddNumberToObject(x5, ena_keys[i], (double) w5[i]);
        for (size_t i = 0; ok && i < _ENA_STAT_MAX; i++)
                if (f->stats.have[i])
                        ok = cJSON_AddNumberToObject(c, ena_stat_names[i], (double) f->stats.value[i]);
        if (!ok) {
                event_free(e);
                return (void) log_oom();
        }
        event_sink_emit(&n->sink, e);
}

static const char *volume_error(int error) {
        switch (error) {
        case -EREMOTEIO:
                return "the device refused the statistics log page";
        case -EPROTO:
                return "its log page 0xD0 is not EBS's (wrong magic)";
        case -EBADMSG:
                return "its log page 0xD0 is short";
        case -EACCES:
        case -EPERM: /* drivers/nvme/host/ioctl.c nvme_cmd_allowed: admin Get Log Page is privileged */
                return "the NVMe admin command needs root with CAP_SYS_ADMIN";
        case -ENOENT:
                return "its /dev node is missing (a sandbox without the NVMe devices?)";
        case -ECONNREFUSED:
                return "the helper ec2agent-nvme does not answer (is ec2agent-nvme.socket running?)";
        case -ETIMEDOUT:
                return "the helper ec2agent-nvme did not answer in time";
        case -ENODEV:
                return "the helper ec2agent-nvme found no such controller";
        case -EMEDIUMTYPE:
                return "the helper ec2agent-nvme refused it: its model is not EBS's";
        default:
                return strerror(-error);
        }
}

/* The helper (ebs-helper.h) not answering says nothing of the volume: asked again next time. */
static bool volume_error_transient(int error) {
        return error == -ECONNREFUSED || error == -ECONNRESET || error == -ETIMEDOUT;
}

static void volume_read(Nitro *n, Volume *v, usec_t mono, usec_t realtime) {
        EbsLogPage p;
        uint64_t now[_VOL_MAX], step[_VOL_MAX], w5[_VOL_MAX];
        int r;

        if ((v->error && !volume_error_transient(v->error)) ||
            (v->last_read && mono - v->last_read < NITRO_MIN_GAP_USEC))
                return;
        v->last_read = mono;
        r = ebs_read_log_page(&n->ebs, v->c.name, &p);
        if (r == -ENOMEM)
                return (void) log_oom();
        if (r < 0 && volume_error_transient(r)) {
                if (r != v->error) /* once, not every interval */
                        log_warning("EBS volume %s (%s): %s; asked again every collection.", v->c.volume_id,
                                    v->c.name, volume_error(r));
                v->error = r;
                v->have_page = false;
                return;
        }
        v->error = 0;
        if (r < 0) {
                /* asked again only when it reappears: a refusal does not change by asking */
                v->error = r;
                v->have_page = false;
                log_warning("EBS volume %s (%s): %s; not asked again until it is attached again.",
                            v->c.volume_id, v->c.name, volume_error(r));
                return;
        }
        v->page = p;
        v->have_page = true;
        now[VOL_VOLUME_IOPS] = p.volume_exceeded_iops_us;
        now[VOL_VOLUME_TP] = p.volume_exceeded_tp_us;
        now[VOL_INSTANCE_IOPS] = p.instance_exceeded_iops_us;
        now[VOL_INSTANCE_TP] = p.instance_exceeded_tp_us;
        if (counter_window_add(&v->w, mono, now, step))
                log_info("EBS volume %s: its counters went down (reattached or reset); counting from here.",
                         v->c.volume_id);
        bool excess = false;
        for (size_t i = 0; i < _VOL_MAX; i++)
                excess |= step[i] > 0;
        if (episode_note(&v->episode, mono, excess, NITRO_WINDOW_USEC)) {
                counter_window_increase(&v->w, mono, NITRO_WINDOW_USEC, w5);
                volume_event(n, v, step, w5);
        }

        SeriesDims d = {};
        snprintf(d.volume_id, sizeof d.volume_id, "%s", v->c.volume_id);
        record(n, METRIC_DISKIO_EBS_TOTAL_READ_OPS, &d, realtime, p.read_ops);
        record(n, METRIC_DISKIO_EBS_TOTAL_WRITE_OPS, &d, realtime, p.write_ops);
        record(n, METRIC_DISKIO_EBS_TOTAL_READ_BYTES, &d, realtime, p.read_bytes);
        record(n, METRIC_DISKIO_EBS_TOTAL_WRITE_BYTES, &d, realtime, p.write_bytes);
        record(n, METRIC_DISKIO_EBS_TOTAL_READ_TIME, &d, realtime, p.read_time_us);
        record(n, METRIC_DISKIO_EBS_TOTAL_WRITE_TIME, &d, realtime, p.write_time_us);
        record(n, METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_IOPS, &d, realtime,
               p.volume_exceeded_iops_us);
        record(n, METRIC_DISKIO_EBS_VOLUME_PERFORMANCE_EXCEEDED_TP, &d, realtime, p.volume_exceeded_tp_us);
        record(n, METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_IOPS, &d, realtime,
               p.instance_exceeded_iops_us);
        record(n, METRIC_DISKIO_EBS_EC2_INSTANCE_PERFORMANCE_EXCEEDED_TP, &d, realtime,
               p.instance_exceeded_tp_us);
        record(n, METRIC_DISKIO_EBS_VOLUME_QUEUE_LENGTH, &d, realtime, p.queue_length);
}

static void volumes_collect(Nitro *n, usec_t mono, usec_t realtime) {
        int k = ebs_discover(n->sysfs, n->scratch, NITRO_MAX_VOLUMES);
        size_t found = k > 0 ? (size_t) k : 0;
        _cleanup_free_ Volume **next = calloc(MAX(found, (size_t) 1), sizeof(Volume *));

        if (!next)
                return (void) log_oom();
        if (k == -ENOMEM)
                return (void) log_oom();
        for (size_t i = 0; i < found; i++) {
                const EbsController *c = &n->scratch[i];
                Volume *v = NULL;
                /* the same controller with the same volume: carried; another volume on a reused
                 * name is a new one (and a refused one that reappears is asked again) */
                for (size_t j = 0; j < n->n_volumes && !v; j++)
                        if (n->volumes[j] && strcmp(n->volumes[j]->c.name, c->name) == 0 &&
                            strcmp(n->volumes[j]->c.volume_id, c->volume_id) == 0) {
                                v = n->volumes[j];
                                n->volumes[j] = NULL;
                        }
                if (!v) {
                        if (!(v = calloc(1, sizeof *v)) ||
                            counter_window_init(&v->w, _VOL_MAX, NITRO_WINDOW_USEC, n->interval) < 0) {
                                volume_free(v);
                                continue;
                        }
                        log_debug("EBS volume %s is %s (%s).", c->volume_id, c->name, c->device);
                }
                v->c = *c; /* its namespace may have come since */
                next[i] = v;
                volume_read(n, v, mono, realtime);
        }
        for (size_t j = 0; j < n->n_volumes; j++)
                volume_free(n->volumes[j]); /* those that left */
        free(n->volumes);
        n->n_volumes = 0;
        for (size_t i = 0; i < found; i++)
                if (next[i])
                        next[n->n_volumes++] = next[i];
        n->volumes = TAKE_PTR(next);
}

static void iface_read(Nitro *n, Iface *f, usec_t mono, usec_t realtime) {
        size_t count;
        uint64_t now[ENA_EXCEEDED_MAX], step[ENA_EXCEEDED_MAX], w5[ENA_EXCEEDED_MAX];
        int r;

        if (f->last_read && mono - f->last_read < NITRO_MIN_GAP_USEC)
                return;
        f->last_read = mono;
        r = ethtool_stats_count(&n->ethtool, f->name, &count);
        if (r >= 0 && count == 0)
                r = -EOPNOTSUPP;
        if (r >= 0 && count > ETHTOOL_STATS_MAX)
                r = -E2BIG;
        if (r >= 0 && (!f->table || count != f->n_stats)) {
                /* new, or its queues changed: the names again */
                f->table = mfree(f->table);
                f->values = mfree(f->values);
                r = ethtool_stats_strings(&n->ethtool, f->name, count, &f->table);
                if (r >= 0 && !(f->values = calloc(count, sizeof(uint64_t))))
                        r = -ENOMEM;
                if (r >= 0) {
                        f->n_stats = count;
                        if (ena_strings_index(f->table, count, ena_stat_names, ENA_EXCEEDED_MAX, f->index) ==
                            0)
                                log_notice(
                                        "ENA interface %s has no allowance statistics (ENA driver 2.2.10 or "
                                        "later has them).",
                                        f->name);
                        ena_strings_index(f->table, count, ena_stat_names, _ENA_STAT_MAX, f->index);
                } else {
                        f->table = mfree(f->table);
                        f->n_stats = 0;
                }
        }
        if (r >= 0)
                r = ethtool_stats_values(&n->ethtool, f->name, f->n_stats, f->values);
        if (r == -ESTALE) /* read the names again next time */
                f->table = mfree(f->table);
        if (r < 0) {
                if (f->error != r)
                        log_debug_errno(r, "Cannot read the ethtool statistics of %s: %m", f->name);
                f->error = r;
                f->have_stats = false;
                return;
        }
        f->error = 0;
        ena_stats_pick(f->index, f->values, f->n_stats, &f->stats);
        f->have_stats = true;
        for (size_t i = 0; i < ENA_EXCEEDED_MAX; i++)
                now[i] = f->stats.value[i]; /* a missing one stays 0 */
        if (counter_window_add(&f->w, mono, now, step))
                log_info("ENA interface %s: its counters went down (driver reset); counting from here.",
                         f->name);
        bool excess = false;
        for (size_t i = 0; i < ENA_EXCEEDED_MAX; i++)
                excess |= step[i] > 0;
        if (episode_note(&f->episode, mono, excess, NITRO_WINDOW_USEC)) {
                counter_window_increase(&f->w, mono, NITRO_WINDOW_USEC, w5);
                iface_event(n, f, step, w5);
        }

        static const MetricId ids[_ENA_STAT_MAX] = {
                [ENA_BW_IN] = METRIC_ETHTOOL_BW_IN_ALLOWANCE_EXCEEDED,
                [ENA_BW_OUT] = METRIC_ETHTOOL_BW_OUT_ALLOWANCE_EXCEEDED,
                [ENA_PPS] = METRIC_ETHTOOL_PPS_ALLOWANCE_EXCEEDED,
                [ENA_CONNTRACK] = METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_EXCEEDED,
                [ENA_LINKLOCAL] = METRIC_ETHTOOL_LINKLOCAL_ALLOWANCE_EXCEEDED,
                [ENA_CONNTRACK_AVAILABLE] = METRIC_ETHTOOL_CONNTRACK_ALLOWANCE_AVAILABLE,
        };
        SeriesDims d = {};
        snprintf(d.interface, sizeof d.interface, "%s", f->name);
        for (size_t i = 0; i < _ENA_STAT_MAX; i++)
                if (f->stats.have[i])
                        record(n, ids[i], &d, realtime, f->stats.value[i]);
}

static int read_ifindex(const char *class, const char *name, char *ret, size_t size) {
        char rel[ENA_IFNAME_MAX + 16];
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;

        snprintf(rel, sizeof rel, "%s/ifindex", name);
        if (!(path = path_join(class, rel)))
                return -ENOMEM;
        int r = read_file_bounded(path, 64, &text, &len);
        if (r < 0)
                return r;
        while (len > 0 && text[len - 1] == '\n')
                len--;
        snprintf(ret, size, "%.*s", (int) len, text);
        return 0;
}

static void ifaces_collect(Nitro *n, usec_t mono, usec_t realtime) {
        _cleanup_free_ char *class = path_join(n->sysfs, "class/net");
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ Iface **next = calloc(NITRO_MAX_IFACES, sizeof(Iface *));
        size_t n_next = 0;
        struct dirent *de;

        if (!class || !next)
                return (void) log_oom();
        d = opendir(class);
        while (d && n_next < NITRO_MAX_IFACES && (de = readdir(d))) {
                char ifindex[16];
                Iface *f = NULL;
                if (de->d_name[0] == '.' || strlen(de->d_name) >= ENA_IFNAME_MAX ||
                    read_ifindex(class, de->d_name, ifindex, sizeof ifindex) < 0)
                        continue;
                for (size_t j = 0; j < n->n_ifaces && !f; j++)
                        if (n->ifaces[j] && strcmp(n->ifaces[j]->name, de->d_name) == 0 &&
                            strcmp(n->ifaces[j]->ifindex, ifindex) == 0) {
                                f = n->ifaces[j];
                                n->ifaces[j] = NULL;
                        }
                if (!f) {
                        char driver[32];
                        if (!(f = calloc(1, sizeof *f))) {
                                log_oom(); /* those found so far are kept, the rest freed */
                                break;
                        }
                        memcpy(f->name, de->d_name,
                               strlen(de->d_name) + 1); /* checked: shorter than IFNAMSIZ */
                        snprintf(f->ifindex, sizeof f->ifindex, "%s", ifindex);
                        /* by driver, never by name: eth0, ens5, enX0 are all ENA somewhere */
                        f->is_ena = ethtool_driver(&n->ethtool, f->name, driver, sizeof driver) >= 0 &&
                                    strcmp(driver, "ena") == 0;
                        if (f->is_ena && counter_window_init(&f->w, ENA_EXCEEDED_MAX, NITRO_WINDOW_USEC,
                                                             n->interval) < 0) {
                                iface_free(f);
                                log_oom();
                                break;
                        }
                        if (f->is_ena)
                                log_debug("ENA interface %s (ifindex %s).", f->name, f->ifindex);
                }
                next[n_next++] = f;
                if (f->is_ena)
                        iface_read(n, f, mono, realtime);
        }
        for (size_t j = 0; j < n->n_ifaces; j++)
                iface_free(n->ifaces[j]);
        free(n->ifaces);
        n->ifaces = TAKE_PTR(next);
        n->n_ifaces = n_next;
}

void nitro_collect(Nitro *n, usec_t mono, usec_t realtime) {
        volumes_collect(n, mono, realtime);
        ifaces_collect(n, mono, realtime);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Nitro *n = userdata;
        (void) usec;
        nitro_collect(n, now_usec(CLOCK_MONOTONIC), now_usec(CLOCK_REALTIME));
        return sd_event_source_set_time_relative(src, n->interval);
}

int nitro_new(sd_event *event, const NitroOptions *opts, const EventSink *sink, Nitro **ret) {
        _cleanup_(nitro_freep) Nitro *n = calloc(1, sizeof(Nitro));
        int r;

        if (!n)
                return -ENOMEM;
        n->sock = -EBADF;
        n->opts = *opts;
        n->interval = MAX(opts->interval_s, 1U) * USEC_PER_SEC;
        if (sink)
                n->sink = *sink;
        if (!(n->sysfs = strdup(opts->sysfs ?: "/sys")) ||
            !(n->scratch = calloc(NITRO_MAX_VOLUMES, sizeof(EbsController))))
                return -ENOMEM;
        n->ebs = opts->ebs_ops ? *opts->ebs_ops : ebs_sys_ops;
        if (opts->ethtool_ops)
                n->ethtool = *opts->ethtool_ops;
        else {
                n->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (n->sock < 0)
                        return negative_errno();
                n->ethtool = (EthtoolOps){ ethtool_sys_ioctl, &n->sock };
        }
        if (event)
                n->event = sd_event_ref(event);
        nitro_collect(n, now_usec(CLOCK_MONOTONIC), now_usec(CLOCK_REALTIME));
        if (event && !opts->no_timer) {
                r = sd_event_add_time_relative(event, &n->timer, CLOCK_MONOTONIC, n->interval,
                                               USEC_PER_MSEC * 10, on_timer, n);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(n->timer, "nitro");
                (void) sd_event_source_set_enabled(n->timer, SD_EVENT_ON);
        }
        *ret = TAKE_PTR(n);
        return 0;
}

Nitro *nitro_free(Nitro *n) {
        if (!n)
                return NULL;
        sd_event_source_disable_unref(n->timer);
        sd_event_unref(n->event);
        for (size_t i = 0; i < n->n_volumes; i++)
                volume_free(n->volumes[i]);
        for (size_t i = 0; i < n->n_ifaces; i++)
                iface_free(n->ifaces[i]);
        free(n->volumes);
        free(n->ifaces);
        free(n->scratch);
        free(n->sysfs);
        safe_close(n->sock);
        free(n);
        return NULL;
}

static cJSON *volume_json(const Volume *v, usec_t now) {
        cJSON *o = cJSON_CreateObject(), *x;
        uint64_t w5[_VOL_MAX];
        bool ok = o && cJSON_AddStringToObject(o, "volume_id", v->c.volume_id) &&
                  json_add_string_or_null(o, "device", v->c.device[0] ? v->c.device : NULL) &&
                  cJSON_AddStringToObject(o, "controller", v->c.name) &&
                  cJSON_AddStringToObject(o, "kind", "ebs") &&
                  json_add_string_or_null(o, "error", v->error ? volume_error(v->error) : NULL);
        if (ok && v->have_page) {
                counter_window_increase(&v->w, now, NITRO_WINDOW_USEC, w5);
                ok = (x = cJSON_AddObjectToObject(o, "exceeded_5m")) &&
                     cJSON_AddNumberToObject(o, "queue_length", (double) v->page.queue_length);
                for (size_t i = 0; ok && i < _VOL_MAX; i++)
                        ok = cJSON_AddNumberToObject(x, vol_keys[i], (double) w5[i]);
        } else if (ok)
                ok = cJSON_AddNullToObject(o, "exceeded_5m") && cJSON_AddNullToObject(o, "queue_length");
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

static cJSON *iface_json(const Iface *f, usec_t now) {
        cJSON *o = cJSON_CreateObject(), *x;
        uint64_t w5[ENA_EXCEEDED_MAX];
        bool ok = o && cJSON_AddStringToObject(o, "interface", f->name) &&
                  cJSON_AddStringToObject(o, "driver", "ena") &&
                  json_add_string_or_null(o, "error", f->error ? strerror(-f->error) : NULL);
        if (ok && f->have_stats) {
                counter_window_increase(&f->w, now, NITRO_WINDOW_USEC, w5);
                ok = (x = cJSON_AddObjectToObject(o, "exceeded_5m"));
                for (size_t i = 0; ok && i < ENA_EXCEEDED_MAX; i++)
                        ok = f->stats.have[i] ? cJSON_AddNumberToObject(x, ena_keys[i], (double) w5[i])
                                              : cJSON_AddNullToObject(x, ena_keys[i]);
                if (ok)
                        ok = f->stats.have[ENA_CONNTRACK_AVAILABLE]
                                     ? cJSON_AddNumberToObject(
                                               o, "conntrack_available",
                                               (double) f->stats.value[ENA_CONNTRACK_AVAILABLE])
                                     : cJSON_AddNullToObject(o, "conntrack_available");
        } else if (ok)
                ok = cJSON_AddNullToObject(o, "exceeded_5m") &&
                     cJSON_AddNullToObject(o, "conntrack_available");
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

int nitro_status(const Nitro *n, cJSON *doc) {
        return nitro_status_at(n, doc, now_usec(CLOCK_MONOTONIC));
}

int nitro_status_at(const Nitro *n, cJSON *doc, usec_t now) {
        cJSON *vols = cJSON_CreateArray(), *net = cJSON_CreateArray(), *o;
        bool ok = vols && net;

        for (size_t i = 0; ok && n && i < n->n_volumes; i++)
                ok = (o = volume_json(n->volumes[i], now)) && cJSON_AddItemToArray(vols, o);
        for (size_t i = 0; ok && n && i < n->n_ifaces; i++)
                if (n->ifaces[i]->is_ena)
                        ok = (o = iface_json(n->ifaces[i], now)) && cJSON_AddItemToArray(net, o);
        if (!ok) {
                cJSON_Delete(vols);
                cJSON_Delete(net);
                return -ENOMEM;
        }
        int r = json_replace(doc, "volumes", vols);
        int k = json_replace(doc, "network", net);
        return r < 0 ? r : k;
}
