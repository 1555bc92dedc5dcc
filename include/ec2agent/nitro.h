/* nitro.h — what only the guest sees on Nitro: EBS volumes over their limits (NVMe log page 0xD0)
 * and ENA allowances exceeded (ethtool statistics), as status, health reasons, events and series. */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "catalog.h"
#include "ebs.h"
#include "ena.h"
#include "event.h"
#include "series.h"

/* The window of status.volumes/network "exceeded_5m", and the quiet that ends an episode (SPEC §6). */
#define NITRO_WINDOW_USEC (5 * USEC_PER_MINUTE)
/* A device is never read more often than this (AWS: not faster than once a second). */
#define NITRO_MIN_GAP_USEC (1 * USEC_PER_SEC)

#define NITRO_MAX_VOLUMES 128 /* EBS attachments of the largest Nitro instances */
#define NITRO_MAX_IFACES  512 /* interfaces looked at (a container host has many veths) */

typedef struct Nitro Nitro;

typedef struct NitroOptions {
        unsigned interval_s;                              /* collection_interval_s; below 1 counts as 1 */
        const char *sysfs;                                /* "/sys" */
        const EbsOps *ebs_ops;                            /* NULL: ebs_sys_ops */
        const EthtoolOps *ethtool_ops;                    /* NULL: SIOCETHTOOL on a socket of Nitro's own */
        SeriesStore *series;                              /* where metrics go (NULL: none) */
        bool (*want_metric)(MetricId id, void *userdata); /* which (NULL: none, they are opt-in) */
        void *want_userdata;
        bool no_timer; /* tests and benchmarks call nitro_collect() themselves */
} NitroOptions;

/* Collects at once, then every interval on EVENT (no timer with no_timer). Events go to SINK
 * (copied; NULL: dropped). Returns 0 or a negative errno (-ENOMEM; no socket for ethtool). */
int nitro_new(sd_event *event, const NitroOptions *opts, const EventSink *sink, Nitro **ret);
Nitro *nitro_free(Nitro *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Nitro *, nitro_free);

/* One collection at monotonic MONO (realtime REALTIME for series): sysfs and interfaces looked
 * at again (hotplug), each EBS volume's page and each ENA interface's statistics read once —
 * unless read less than NITRO_MIN_GAP_USEC before, or refused. */
void nitro_collect(Nitro *n, usec_t mono, usec_t realtime);

/* Writes status "volumes" and "network" of DOC (N NULL: empty lists), their exceeded_5m the
 * increase over the 5 minutes before now. Returns 0 or -ENOMEM. */
int nitro_status(const Nitro *n, cJSON *doc);

/* nitro_status() as of monotonic NOW (tests drive the clock). */
int nitro_status_at(const Nitro *n, cJSON *doc, usec_t now);
