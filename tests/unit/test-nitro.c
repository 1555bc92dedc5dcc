/* test-nitro.c — the Nitro module against fake devices (nitro-fake.h): discovery and hotplug, instance
 * store never asked, a refusing device, the rate limit, counter resets, the 5-minute status window,
 * one event per episode, the health reasons, the series, and the ioctls a collection costs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/health.h"
#include "ec2agent/json.h"
#include "ec2agent/nitro-fake.h"
#include "ec2agent/nitro.h"
#include "tap.h"

#define S USEC_PER_SEC

static char root[64];

static void put_raw(const char *rel, const void *data, size_t len) {
        char path[512], tmp[520];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(path, 0755);
                        *p = '/';
                }
        if (!data) {
                (void) mkdir(path, 0755);
                return;
        }
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        ASSERT_TRUE(f != NULL);
        ASSERT_INT(fwrite(data, 1, len, f), len);
        fclose(f);
        ASSERT_INT(rename(tmp, path), 0);
}

static void put(const char *rel, const char *text) {
        put_raw(rel, text, text ? strlen(text) : 0);
}

static void rm(const char *rel) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", root, rel);
        ASSERT_INT(system(cmd), 0);
}

static void ebs_volume(const char *ctrl, const char *serial) {
        char rel[128], ns[160];
        snprintf(rel, sizeof rel, "sys/class/nvme/%s/model", ctrl);
        put(rel, "Amazon Elastic Block Store              \n");
        snprintf(rel, sizeof rel, "sys/class/nvme/%s/serial", ctrl);
        put(rel, serial);
        snprintf(ns, sizeof ns, "sys/class/nvme/%s/%sn1", ctrl, ctrl);
        put(ns, NULL);
}

/* page 0xD0 of CTRL with the four "exceeded" counters (µs) and queue length 3 */
static void ebs_page(const char *ctrl, uint64_t viops, uint64_t vtp, uint64_t iiops, uint64_t itp) {
        unsigned char page[EBS_LOG_PAGE_SIZE] = { 0x10, 0xB5, 0x23, 0x3C };
        uint64_t c[11] = { 100, 200, 4096, 8192, 5000, 6000, viops, vtp, iiops, itp, 3 };
        char rel[64];
        for (int i = 0; i < 11; i++)
                for (int b = 0; b < 8; b++)
                        page[8 + 8 * i + b] = (unsigned char) (c[i] >> (8 * b));
        snprintf(rel, sizeof rel, "nvme/%s", ctrl);
        put_raw(rel, page, sizeof page);
}

static void iface(const char *name, const char *ifindex, const char *driver) {
        char rel[128], text[64];
        snprintf(rel, sizeof rel, "sys/class/net/%s/ifindex", name);
        put(rel, ifindex);
        snprintf(rel, sizeof rel, "ethtool/%s", name);
        snprintf(text, sizeof text, "driver %s\n", driver);
        put(rel, text);
}

static void ena_stats(const char *name, uint64_t bw_in, uint64_t pps, uint64_t linklocal) {
        char rel[128], text[1024];
        snprintf(rel, sizeof rel, "ethtool/%s", name);
        snprintf(text, sizeof text,
                 "driver ena\ntx_timeout 0\nsuspend 0\nbw_in_allowance_exceeded %llu\n"
                 "bw_out_allowance_exceeded 0\npps_allowance_exceeded %llu\n"
                 "conntrack_allowance_exceeded 0\nlinklocal_allowance_exceeded %llu\n"
                 "conntrack_allowance_available 136812\nqueue_0_tx_cnt 77\n",
                 (unsigned long long) bw_in, (unsigned long long) pps, (unsigned long long) linklocal);
        put(rel, text);
}

typedef struct Sink {
        cJSON *events; /* type + summary + detail of each */
} Sink;

static void sink_emit(Event *e, void *userdata) {
        Sink *s = userdata;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", e->type);
        cJSON_AddStringToObject(o, "summary", e->summary);
        cJSON_AddItemToObject(o, "detail", cJSON_Duplicate(e->detail, true));
        cJSON_AddItemToArray(s->events, o);
        event_free(e);
}

static void setup(void) {
        snprintf(root, sizeof root, "/tmp/test-nitro-XXXXXX");
        ASSERT_TRUE(mkdtemp(root) != NULL);
        put("sys/class/nvme", NULL);
        put("sys/class/net", NULL);
}

static void teardown(void) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        ASSERT_INT(system(cmd), 0);
}

static cJSON *status_at(Nitro *n, usec_t now) {
        cJSON *doc = cJSON_CreateObject();
        ASSERT_INT(nitro_status_at(n, doc, now), 0);
        return doc;
}

static const cJSON *find(const cJSON *doc, const char *list, const char *key, const char *value) {
        const cJSON *x;
        cJSON_ArrayForEach (x, cJSON_GetObjectItem(doc, list)) {
                const char *v = json_get_string(x, key);
                if (v && strcmp(v, value) == 0)
                        return x;
        }
        return NULL;
}

static double exceeded(const cJSON *doc, const char *list, const char *key, const char *value,
                       const char *what) {
        const cJSON *x = find(doc, list, key, value);
        ASSERT_TRUE(x != NULL);
        const cJSON *e = cJSON_GetObjectItem(x, "exceeded_5m");
        ASSERT_TRUE(cJSON_IsObject(e));
        return json_get_number(e, what, -1);
}

static bool want_all(MetricId id, void *userdata) {
        (void) id;
        (void) userdata;
        return true;
}

typedef struct Fixture {
        NitroFake *fake;
        Nitro *nitro;
        Sink sink;
        SeriesStore series;
        usec_t t; /* the test's monotonic clock */
} Fixture;

static void start(Fixture *f, bool metrics) {
        char sysfs[128];
        *f = (Fixture){ .sink.events = cJSON_CreateArray(), .t = 1000 * S };
        ASSERT_INT(nitro_fake_new(root, &f->fake), 0);
        snprintf(sysfs, sizeof sysfs, "%s/sys", root);
        NitroOptions o = { .interval_s = 10,
                           .sysfs = sysfs,
                           .ebs_ops = &f->fake->ebs,
                           .ethtool_ops = &f->fake->ethtool,
                           .series = metrics ? &f->series : NULL,
                           .want_metric = metrics ? want_all : NULL,
                           .no_timer = true };
        ASSERT_INT(nitro_new(NULL, &o, &(EventSink){ sink_emit, &f->sink }, &f->nitro), 0);
}

static void step(Fixture *f) {
        f->t += 10 * S;
        nitro_collect(f->nitro, f->t, 1700000000 * S + f->t);
}

static void stop(Fixture *f) {
        nitro_free(f->nitro);
        nitro_fake_free(f->fake);
        cJSON_Delete(f->sink.events);
        series_store_done(&f->series);
}

/* Two EBS volumes, an instance-store one (never asked for 0xD0), one ENA interface and a veth. */
static void test_discovery_and_cost(void) {
        Fixture f;
        setup();
        ebs_volume("nvme0", "vol0aaaa\n");
        ebs_volume("nvme1", "vol0bbbb\n");
        put("sys/class/nvme/nvme2/model", "Amazon EC2 NVMe Instance Storage        \n");
        put("sys/class/nvme/nvme2/serial", "AWS1234\n");
        ebs_page("nvme0", 0, 0, 0, 0);
        ebs_page("nvme1", 0, 0, 0, 0);
        ebs_page("nvme2", 0, 0, 0, 0); /* would be answered: must not be asked */
        iface("ens5", "2", "ena");
        ena_stats("ens5", 0, 0, 0);
        iface("veth1234", "7", "veth");
        iface("lo", "1", "");
        start(&f, false); /* the first collection, at nitro_new() */
        /* 2 admin commands (EBS only); ethtool: 3 GDRVINFO + GSSET_INFO, GSTRINGS, GSTATS on ens5 */
        ASSERT_INT(f.fake->admin_calls, 2);
        ASSERT_INT(f.fake->ethtool_calls, 6);
        f.fake->admin_calls = f.fake->ethtool_calls = 0;
        nitro_collect(f.nitro, 2000 * S, 0);
        /* steady state: one admin command a volume, GSSET_INFO + GSTATS an ENA interface */
        ASSERT_INT(f.fake->admin_calls, 2);
        ASSERT_INT(f.fake->ethtool_calls, 2);

        cJSON *doc = status_at(f.nitro, 2000 * S);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "volumes")), 2);
        const cJSON *v = find(doc, "volumes", "volume_id", "vol-0aaaa");
        ASSERT_TRUE(v != NULL);
        ASSERT_STR(json_get_string(v, "device"), "/dev/nvme0n1");
        ASSERT_STR(json_get_string(v, "kind"), "ebs");
        ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "error")));
        ASSERT_INT(json_get_number(v, "queue_length", -1), 3);
        ASSERT_INT(exceeded(doc, "volumes", "volume_id", "vol-0aaaa", "volume_iops"), 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "network")), 1);
        const cJSON *e = find(doc, "network", "interface", "ens5");
        ASSERT_TRUE(e != NULL);
        ASSERT_STR(json_get_string(e, "driver"), "ena");
        ASSERT_INT(json_get_number(e, "conntrack_available", -1), 136812);
        ASSERT_INT(exceeded(doc, "network", "interface", "ens5", "pps"), 0);
        cJSON_Delete(doc);
        /* and no status at all without the module */
        doc = cJSON_CreateObject();
        ASSERT_INT(nitro_status(NULL, doc), 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "volumes")), 0);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "network")), 0);
        cJSON_Delete(doc);
        stop(&f);
        teardown();
}

/* Never more than once a second, whoever calls. */
static void test_rate_limit(void) {
        Fixture f;
        setup();
        ebs_volume("nvme0", "vol0aaaa\n");
        ebs_page("nvme0", 0, 0, 0, 0);
        iface("ens5", "2", "ena");
        ena_stats("ens5", 0, 0, 0);
        start(&f, false);
        nitro_collect(f.nitro, 5000 * S, 0);
        f.fake->admin_calls = f.fake->ethtool_calls = 0;
        nitro_collect(f.nitro, 5000 * S + 999 * USEC_PER_MSEC, 0);
        ASSERT_INT(f.fake->admin_calls, 0);
        ASSERT_INT(f.fake->ethtool_calls, 0);
        nitro_collect(f.nitro, 5001 * S, 0);
        ASSERT_INT(f.fake->admin_calls, 1);
        stop(&f);
        teardown();
}

/* The status window, the episode rule, the event's text and detail, the health reasons. */
static void test_episodes_window_and_health(void) {
        Fixture f;
        setup();
        ebs_volume("nvme1", "vol0abc\n");
        ebs_page("nvme1", 1000, 0, 0, 0);
        iface("ens5", "2", "ena");
        ena_stats("ens5", 0, 500, 0);
        start(&f, false);
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 0); /* baselines */

        ebs_page("nvme1", 1000 + 41000000, 0, 0, 0); /* 41 s over its IOPS */
        ena_stats("ens5", 0, 500 + 1200, 0);         /* 1 200 packets over PPS */
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 2);
        const cJSON *ev = cJSON_GetArrayItem(f.sink.events, 0);
        ASSERT_STR(json_get_string(ev, "type"), "ebs-performance-exceeded");
        ASSERT_STR(json_get_string(ev, "summary"),
                   "vol-0abc (/dev/nvme1n1) exceeded its provisioned IOPS for 41 s in the last 10 s");
        const cJSON *d = cJSON_GetObjectItem(ev, "detail");
        ASSERT_STR(json_get_string(d, "volume_id"), "vol-0abc");
        ASSERT_INT(json_get_number(cJSON_GetObjectItem(d, "exceeded_us"), "volume_iops", -1), 41000000);
        ASSERT_INT(
                json_get_number(cJSON_GetObjectItem(d, "counters"), "volume_performance_exceeded_iops", -1),
                41001000);
        ev = cJSON_GetArrayItem(f.sink.events, 1);
        ASSERT_STR(json_get_string(ev, "type"), "network-allowance-exceeded");
        ASSERT_STR(json_get_string(ev, "summary"),
                   "ens5 queued or dropped packets in the last 10 s: 1200 over its PPS allowance");
        d = cJSON_GetObjectItem(ev, "detail");
        ASSERT_INT(json_get_number(cJSON_GetObjectItem(d, "exceeded"), "pps", -1), 1200);
        ASSERT_INT(json_get_number(cJSON_GetObjectItem(d, "counters"), "pps_allowance_exceeded", -1), 1700);

        /* status and health */
        cJSON *doc = status_at(f.nitro, f.t);
        ASSERT_INT(exceeded(doc, "volumes", "volume_id", "vol-0abc", "volume_iops"), 41000000);
        ASSERT_INT(exceeded(doc, "network", "interface", "ens5", "pps"), 1200);
        cJSON *reasons = cJSON_CreateArray();
        ASSERT_INT(health_evaluate(doc, 0, reasons), HEALTH_WARNING);
        ASSERT_INT(cJSON_GetArraySize(reasons), 2);
        ASSERT_STR(cJSON_GetArrayItem(reasons, 0)->valuestring,
                   "vol-0abc exceeded its provisioned IOPS for 41 s of the last 5 min: raise its IOPS or "
                   "spread "
                   "the load");
        ASSERT_STR(cJSON_GetArrayItem(reasons, 1)->valuestring,
                   "ens5 dropped 1 200 packets over its PPS allowance in the last 5 min: a larger instance "
                   "size");
        cJSON_Delete(reasons);
        cJSON_Delete(doc);

        /* more excess within the episode: no event */
        ebs_page("nvme1", 1000 + 42000000, 0, 0, 0);
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 2);
        /* 5 minutes quiet: the window empties, health is ok again, and the next excess is a new episode */
        for (int k = 0; k < 30; k++)
                step(&f);
        doc = status_at(f.nitro, f.t);
        ASSERT_INT(exceeded(doc, "volumes", "volume_id", "vol-0abc", "volume_iops"), 0);
        ASSERT_INT(exceeded(doc, "network", "interface", "ens5", "pps"), 0);
        reasons = cJSON_CreateArray();
        ASSERT_INT(health_evaluate(doc, 0, reasons), HEALTH_OK);
        cJSON_Delete(reasons);
        cJSON_Delete(doc);
        ebs_page("nvme1", 1000 + 42000000, 0, 0, 2500000); /* instance throughput now */
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 3);
        ASSERT_STR(json_get_string(cJSON_GetArrayItem(f.sink.events, 2), "summary"),
                   "vol-0abc (/dev/nvme1n1) exceeded the instance's EBS throughput limit for 2.5 s in the "
                   "last 10 s");
        stop(&f);
        teardown();
}

/* A counter that goes down (driver reset) is a new baseline: no event, no negative increase. */
static void test_driver_reset(void) {
        Fixture f;
        setup();
        iface("eth0", "2", "ena");
        ena_stats("eth0", 90000, 0, 0);
        start(&f, false);
        ena_stats("eth0", 5, 0, 0); /* reset */
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 0);
        cJSON *doc = status_at(f.nitro, f.t);
        ASSERT_INT(exceeded(doc, "network", "interface", "eth0", "bw_in"), 0);
        cJSON_Delete(doc);
        ena_stats("eth0", 25, 0, 0);
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 1);
        doc = status_at(f.nitro, f.t);
        ASSERT_INT(exceeded(doc, "network", "interface", "eth0", "bw_in"), 20);
        cJSON_Delete(doc);
        stop(&f);
        teardown();
}

/* A device that refuses is asked once, and again only when it reappears. */
static void test_refused_until_it_reappears(void) {
        Fixture f;
        setup();
        ebs_volume("nvme1", "vol0abc\n"); /* no page file: the fake refuses */
        start(&f, false);
        ASSERT_INT(f.fake->admin_calls, 1);
        for (int k = 0; k < 3; k++)
                step(&f);
        ASSERT_INT(f.fake->admin_calls, 1);
        cJSON *doc = status_at(f.nitro, f.t);
        const cJSON *v = find(doc, "volumes", "volume_id", "vol-0abc");
        ASSERT_STR(json_get_string(v, "error"), "the device refused the statistics log page");
        ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "exceeded_5m")));
        cJSON_Delete(doc);
        /* detached, then attached again: asked again */
        rm("sys/class/nvme/nvme1");
        step(&f);
        ebs_volume("nvme1", "vol0abc\n");
        ebs_page("nvme1", 0, 0, 0, 0);
        step(&f);
        ASSERT_INT(f.fake->admin_calls, 2);
        doc = status_at(f.nitro, f.t);
        ASSERT_TRUE(
                cJSON_IsNull(cJSON_GetObjectItem(find(doc, "volumes", "volume_id", "vol-0abc"), "error")));
        cJSON_Delete(doc);
        /* a wrong magic is refused too */
        ebs_volume("nvme2", "vol0def\n");
        put("nvme/nvme2", "not a page");
        step(&f);
        doc = status_at(f.nitro, f.t);
        ASSERT_STR(json_get_string(find(doc, "volumes", "volume_id", "vol-0def"), "error"),
                   "its log page 0xD0 is not EBS's (wrong magic)");
        cJSON_Delete(doc);
        stop(&f);
        teardown();
}

/* Interfaces and volumes come and go; a name reused by another interface is a new one. */
static void test_hotplug(void) {
        Fixture f;
        setup();
        iface("ens5", "2", "ena");
        ena_stats("ens5", 0, 0, 0);
        start(&f, false);
        iface("ens6", "3", "ena");
        ena_stats("ens6", 0, 0, 7);
        ebs_volume("nvme1", "vol0abc\n");
        ebs_page("nvme1", 0, 0, 0, 0);
        step(&f);
        cJSON *doc = status_at(f.nitro, f.t);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "network")), 2);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "volumes")), 1);
        cJSON_Delete(doc);
        rm("sys/class/net/ens6");
        rm("sys/class/nvme/nvme1");
        step(&f);
        doc = status_at(f.nitro, f.t);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "network")), 1);
        ASSERT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "volumes")), 0);
        cJSON_Delete(doc);
        /* ens6 back with another ifindex and lower counters: a new baseline, no event */
        iface("ens6", "4", "ena");
        ena_stats("ens6", 0, 0, 3);
        step(&f);
        ena_stats("ens6", 0, 0, 3);
        step(&f);
        ASSERT_INT(cJSON_GetArraySize(f.sink.events), 0);
        /* the same name, now another driver: not ENA any more */
        rm("sys/class/net/ens5");
        step(&f);
        iface("ens5", "9", "virtio_net");
        step(&f);
        doc = status_at(f.nitro, f.t);
        ASSERT_TRUE(find(doc, "network", "interface", "ens5") == NULL);
        cJSON_Delete(doc);
        stop(&f);
        teardown();
}

/* The opt-in metrics: SPEC §7 names, VolumeId and interface dimensions, cumulative values. */
static void test_series(void) {
        Fixture f;
        setup();
        ebs_volume("nvme1", "vol0abc\n");
        ebs_page("nvme1", 7, 0, 0, 0);
        iface("ens5", "2", "ena");
        ena_stats("ens5", 11, 0, 0);
        start(&f, true);
        SeriesDims vol = {}, net = {};
        snprintf(vol.volume_id, sizeof vol.volume_id, "vol-0abc");
        snprintf(net.interface, sizeof net.interface, "ens5");
        const Sample *s = series_last(&f.series, "diskio_ebs_volume_performance_exceeded_iops", &vol);
        ASSERT_TRUE(s != NULL && s->value == 7);
        s = series_last(&f.series, "diskio_ebs_total_read_ops", &vol);
        ASSERT_TRUE(s != NULL && s->value == 100);
        s = series_last(&f.series, "diskio_ebs_volume_queue_length", &vol);
        ASSERT_TRUE(s != NULL && s->value == 3);
        s = series_last(&f.series, "ethtool_bw_in_allowance_exceeded", &net);
        ASSERT_TRUE(s != NULL && s->value == 11);
        s = series_last(&f.series, "ethtool_conntrack_allowance_available", &net);
        ASSERT_TRUE(s != NULL && s->value == 136812);
        ASSERT_TRUE(series_last(&f.series, "ethtool_bw_in_allowance_exceeded", NULL) == NULL);
        ASSERT_INT(f.series.n, 11 + 6);
        stop(&f);
        /* without a selection: no series at all */
        start(&f, false);
        ASSERT_INT(f.series.n, 0);
        stop(&f);
        teardown();
}

TAP_MAIN(T(test_discovery_and_cost), T(test_rate_limit), T(test_episodes_window_and_health),
         T(test_driver_reset), T(test_refused_until_it_reappears), T(test_hotplug), T(test_series))
