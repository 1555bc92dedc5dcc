/* publish-datum.c — the publisher's datum lines: the dimensions a datum carries, the
 * aggregation_dimensions rollup, and the line {"m","t","s","d"} built for the queue and parsed back. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "ec2agent/catalog.h"
#include "ec2agent/json.h"
#include "publish-internal.h"

const char *publish_dim_of(const cJSON *pair, int i) {
        const cJSON *v = cJSON_GetArrayItem(pair, i);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Appends ["NAME", "VALUE"] to the dimension array D. */
static bool add_pair(cJSON *d, const char *name, const char *value) {
        const char *pair[] = { name, value };
        cJSON *a = cJSON_CreateStringArray(pair, 2);
        if (a && cJSON_AddItemToArray(d, a))
                return true;
        cJSON_Delete(a);
        return false;
}

/* The instance's dimensions it has (IMDS's identity and group tag): those named by the DIMENSION_*
 * bits WANT. */
static cJSON *dims_base(Publisher *p, unsigned want) {
        const InstanceIdentity *id = p->env.identity(p->env.userdata);
        const char *asg = p->env.asg_name(p->env.userdata);
        cJSON *d = cJSON_CreateArray();
        const struct {
                unsigned bit;
                const char *name, *value;
        } dims[] = {
                { DIMENSION_INSTANCE_ID, "InstanceId", id ? id->instance_id : NULL },
                { DIMENSION_INSTANCE_TYPE, "InstanceType", id ? id->instance_type : NULL },
                { DIMENSION_IMAGE_ID, "ImageId", id ? id->ami_id : NULL },
                { DIMENSION_ASG_NAME, "AutoScalingGroupName", asg },
        };
        for (size_t i = 0; d && i < ELEMENTSOF(dims); i++)
                if ((want & dims[i].bit) && dims[i].value && !add_pair(d, dims[i].name, dims[i].value)) {
                        cJSON_Delete(d);
                        return NULL;
                }
        return d;
}

/* The pairs of DIMS whose names SET has, as a new array (NULL: ENOMEM); *FOUND: their bits. */
static cJSON *dims_filter(const cJSON *dims, unsigned set, unsigned *found) {
        cJSON *out = cJSON_CreateArray();
        const cJSON *pair;

        *found = 0;
        cJSON_ArrayForEach (pair, dims) {
                const char *name = publish_dim_of(pair, 0), *value = publish_dim_of(pair, 1);
                int bit = name ? dimension_from_string(name) : -ENOENT;
                if (!out || bit < 0 || !(set & (unsigned) bit) || !value)
                        continue;
                if (!add_pair(out, name, value)) {
                        cJSON_Delete(out);
                        return NULL;
                }
                *found |= (unsigned) bit;
        }
        return out;
}

int publish_rollup_dims(const cJSON *available, const cJSON *published, unsigned set, cJSON **ret) {
        unsigned found;
        _cleanup_json_ cJSON *out = dims_filter(available, set, &found);

        if (!out)
                return -ENOMEM;
        /* a dimension the instance or the datum lacks (no Auto Scaling group, a memory metric's path):
         * the set is left out, not sent short; the published dimensions: the datum itself, sent already */
        if (found != set || cJSON_Compare(out, published, true))
                return 0;
        *ret = TAKE_PTR(out);
        return 1;
}

/* Appends one datum line, METRIC with the dimensions D (not taken), to the memory queue. */
static int queue_line(Publisher *p, const char *metric, cJSON *d, usec_t at, const Stats *st) {
        _cleanup_json_ cJSON *j = cJSON_CreateObject();
        double s[4] = { st->count, st->sum, st->min, st->max };
        char *line;

        if (!j || !cJSON_AddItemReferenceToObject(j, "d", d) || !cJSON_AddStringToObject(j, "m", metric) ||
            !cJSON_AddNumberToObject(j, "t", (double) (at / USEC_PER_SEC)) ||
            !cJSON_AddItemToObject(j, "s", cJSON_CreateDoubleArray(s, 4)) ||
            !(line = cJSON_PrintUnformatted(j)))
                return -ENOMEM;
        char **q = realloc(p->queue, (p->n_queue + 1) * sizeof(char *));
        if (!q) {
                free(line);
                return -ENOMEM;
        }
        p->queue = q;
        p->queue[p->n_queue++] = line;
        return 0;
}

/* Appends the datums of one interval of METRIC to the memory queue: one with every dimension, and
 * one more per metrics.aggregation_dimensions set the datum has (the CloudWatch agent's rollup).
 * DIMS: a disk series' dimensions, or NULL; EXTRA_DIM: one more (kernel_problems' class). */
int publish_queue_datum(Publisher *p, const char *metric, const SeriesDims *dims, const char *extra_dim,
                        const char *extra_value, usec_t at, const Stats *st) {
        const unsigned own = DIMENSION_PATH | DIMENSION_DEVICE | DIMENSION_FSTYPE | DIMENSION_CLASS |
                             DIMENSION_VOLUME_ID | DIMENSION_INTERFACE;
        _cleanup_json_ cJSON *all = dims_base(p, DIMENSION_INSTANCE_ID | DIMENSION_INSTANCE_TYPE |
                                                         DIMENSION_IMAGE_ID | DIMENSION_ASG_NAME),
                             *d = NULL;
        unsigned found;
        int r;

        if (!all)
                return -ENOMEM;
        if (dims) {
                const struct {
                        const char *name, *value;
                } pairs[] = { { "path", dims->path },
                              { "device", dims->device },
                              { "fstype", dims->fstype },
                              { "VolumeId", dims->volume_id },
                              { "interface", dims->interface } };
                for (size_t i = 0; i < ELEMENTSOF(pairs); i++)
                        if (pairs[i].value[0] && !add_pair(all, pairs[i].name, pairs[i].value))
                                return -ENOMEM;
        }
        if (extra_dim && !add_pair(all, extra_dim, extra_value))
                return -ENOMEM;
        /* the datum: metrics.dimensions and its own; then once per aggregation set, from all the instance
         * has */
        if (!(d = dims_filter(all, p->config->metrics_dimensions | own, &found)))
                return -ENOMEM;
        if ((r = queue_line(p, metric, d, at, st)) < 0)
                return r;
        for (size_t i = 0; i < p->config->n_metrics_aggregation_dimensions; i++) {
                _cleanup_json_ cJSON *rolled = NULL;
                r = publish_rollup_dims(all, d, p->config->metrics_aggregation_dimensions[i], &rolled);
                if (r > 0)
                        r = queue_line(p, metric, rolled, at, st);
                if (r < 0)
                        return r;
        }
        return 0;
}

int publish_parse_datum(const char *line, size_t len, cJSON **ret) {
        _cleanup_json_ cJSON *d = NULL;
        const cJSON *t, *st, *x, *dims, *pair;
        const char *m;

        if (len == 0 || memchr(line, '\n', len) || !(d = cJSON_ParseWithLength(line, len)))
                return -EBADMSG;
        t = cJSON_GetObjectItemCaseSensitive(d, "t");
        st = cJSON_GetObjectItemCaseSensitive(d, "s");
        dims = cJSON_GetObjectItemCaseSensitive(d, "d");
        m = json_get_string(d, "m");
        /* a metric name as CloudWatch takes it (1-255 characters), a time, four finite numbers */
        if (!cJSON_IsObject(d) || !m || !m[0] || strlen(m) > 255 || !cJSON_IsNumber(t) ||
            !isfinite(t->valuedouble) || t->valuedouble < 0 || t->valuedouble > 253402300799.0 ||
            !cJSON_IsArray(st) || cJSON_GetArraySize(st) != 4)
                return -EBADMSG;
        cJSON_ArrayForEach (x, st)
                if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
                        return -EBADMSG;
        if (dims && !cJSON_IsArray(dims))
                return -EBADMSG;
        cJSON_ArrayForEach (pair, dims)
                if (cJSON_GetArraySize(pair) != 2 || !publish_dim_of(pair, 0) || !publish_dim_of(pair, 1))
                        return -EBADMSG;
        *ret = TAKE_PTR(d);
        return 0;
}
