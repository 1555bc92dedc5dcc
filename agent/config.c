/* config.c — the configuration of SPEC §4: defaults, loading with drop-ins, strict validation.
 *
 * Each file is applied onto one Config through tables of fields (key, type, offset, range), so
 * validation and the drop-in merge ("later wins" for object keys, append for rules) are one
 * walk. Unknown keys, duplicate keys, wrong types and out-of-range values are errors: a typo
 * must never silently disable a drain. Every error is one line "FILE: json.path: message". */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "config-fields.h"
#include "ec2agent/aws.h"

/* ---- checks and parsers of the sections ---- */

static const char *check_region(const char *s) {
        if (!*s || strlen(s) > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s))
                return "must be an AWS region name such as \"eu-west-1\"";
        return NULL;
}

static const char *check_namespace(const char *s) {
        if (!*s || strlen(s) > 255)
                return "must be 1 to 255 characters";
        if (startswith(s, "AWS/"))
                return "must not start with \"AWS/\" (reserved for AWS services)";
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return "must not contain control characters";
        return NULL;
}

static void parse_dimensions(Ctx *c, const char *path, const cJSON *v, void *base) {
        static const struct {
                const char *name;
                unsigned bit;
        } dims[] = {
                { "InstanceId", DIMENSION_INSTANCE_ID },
                { "InstanceType", DIMENSION_INSTANCE_TYPE },
                { "ImageId", DIMENSION_IMAGE_ID },
                { "AutoScalingGroupName", DIMENSION_ASG_NAME },
        };
        _cleanup_strv_free_ char **names = NULL;
        unsigned bits = 0;

        if (!config_parse_string_array(c, path, v, NULL, true, true, &names))
                return;
        for (size_t i = 0; names[i]; i++) {
                size_t j;
                for (j = 0; j < ELEMENTSOF(dims); j++)
                        if (strcmp(names[i], dims[j].name) == 0)
                                break;
                if (j == ELEMENTSOF(dims)) {
                        _cleanup_free_ char *p = config_path_index(path, i);
                        config_error(c, p ? p : path,
                                     "unknown dimension \"%s\" (use InstanceId, InstanceType, ImageId, "
                                     "AutoScalingGroupName)",
                                     names[i]);
                        return;
                }
                bits |= dims[j].bit;
        }
        ((Config *) base)->metrics_dimensions = bits;
}

static const char *check_filesystem(const char *s) {
        return strcmp(s, "*") == 0 ? NULL : config_check_abs_path(s);
}

/* imds.endpoint_mode: "IPv4" or "IPv6", in any case as the AWS SDKs take it. */
static void parse_endpoint_mode(Ctx *c, const char *path, const cJSON *v, void *base) {
        int k = cJSON_IsString(v) ? aws_imds_endpoint_mode_ipv6(v->valuestring) : -EINVAL;

        if (k < 0 && cJSON_IsString(v))
                return config_error(c, path, "must be \"IPv4\" or \"IPv6\", not \"%s\"", v->valuestring);
        if (k < 0)
                return config_error(c, path, "must be \"IPv4\" or \"IPv6\", not %s", config_type_name(v));
        ((Config *) base)->imds_endpoint_ipv6 = k;
}

static void parse_filesystems(Ctx *c, const char *path, const cJSON *v, void *base) {
        (void) config_parse_string_array(c, path, v, check_filesystem, true, true,
                                         &((Config *) base)->metrics_filesystems);
}

/* The name closest to NAME among the non-NULL entries NAMES(i), i < N, or NULL when none is within
 * a third of NAME's length in edits (at least 2: "swap_used_pct" finds "swap_used_percent"). */
static const char *did_you_mean(const char *name, const char *(*names)(size_t i), size_t n) {
        const char *best = NULL;
        size_t bestd = MAX((size_t) 2, strlen(name) / 3) + 1;
        for (size_t i = 0; i < n; i++) {
                const char *cand = names(i);
                size_t d = cand ? config_edit_distance(name, cand) : SIZE_MAX;
                if (d < bestd) {
                        bestd = d;
                        best = cand;
                }
        }
        return best;
}

static const char *collected_metric(size_t i) {
        const MetricInfo *m = metric_info((MetricId) i);
        return m && !m->planned ? m->name : NULL;
}

static const char *dimension_at(size_t i) {
        return dimension_name(1U << i);
}

/* metrics.measurements: SPEC §7 names, or "*" for every one. */
static void parse_measurements(Ctx *c, const char *path, const cJSON *v, void *base) {
        _cleanup_strv_free_ char **names = NULL;
        uint64_t set = 0;
        bool ok = true;

        if (!config_parse_string_array(c, path, v, NULL, true, true, &names))
                return;
        for (size_t i = 0; names[i]; i++) {
                int id = metric_from_string(names[i]);
                if (strcmp(names[i], "*") == 0) {
                        set = UINT64_MAX; /* the Nitro metrics too, once collected */
                        continue;
                }
                if (id >= 0) {
                        set |= METRIC_BIT(id);
                        continue;
                }
                _cleanup_free_ char *p = config_path_index(path, i);
                const char *best = did_you_mean(names[i], collected_metric, _METRIC_MAX);
                if (best)
                        config_error(c, p ?: path, "unknown metric \"%s\" (did you mean \"%s\"?)", names[i],
                                     best);
                else
                        config_error(c, p ?: path, "unknown metric \"%s\" (see SPEC §7, or \"*\" for all)",
                                     names[i]);
                ok = false;
        }
        if (ok)
                ((Config *) base)->metrics_measurements = set;
}

/* metrics.aggregation_dimensions: as the CloudWatch agent's, a list of dimension sets ([] too). */
static void parse_aggregation_dimensions(Ctx *c, const char *path, const cJSON *v, void *base) {
        Config *cfg = base;
        unsigned sets[AGGREGATION_SETS_MAX];
        size_t n = 0, i = 0;
        bool ok = true;

        if (!cJSON_IsArray(v)) {
                config_error(c, path, "must be an array of arrays of dimension names, not %s",
                             config_type_name(v));
                return;
        }
        if (cJSON_GetArraySize(v) > AGGREGATION_SETS_MAX) {
                config_error(c, path, "must not list more than %d sets (each one is paid for)",
                             AGGREGATION_SETS_MAX);
                return;
        }
        for (const cJSON *e = v->child; e; e = e->next, i++) {
                _cleanup_free_ char *p = config_path_index(path, i);
                _cleanup_strv_free_ char **names = NULL;
                unsigned set = 0;
                if (!p) {
                        c->oom = -ENOMEM;
                        return;
                }
                if (!config_parse_string_array(c, p, e, NULL, true, true, &names)) {
                        ok = false;
                        continue;
                }
                for (size_t k = 0; names[k]; k++) {
                        int bit = dimension_from_string(names[k]);
                        if (bit >= 0) {
                                set |= (unsigned) bit;
                                continue;
                        }
                        _cleanup_free_ char *pk = config_path_index(p, k);
                        const char *best = did_you_mean(names[k], dimension_at, 8 * sizeof(unsigned));
                        config_error(
                                c, pk ?: p,
                                best ? "unknown dimension \"%s\" (did you mean \"%s\"?)"
                                     : "unknown dimension \"%s\" (use InstanceId, InstanceType, ImageId, "
                                       "AutoScalingGroupName, path, device, fstype, class, VolumeId, "
                                       "interface)%s",
                                names[k], best ?: "");
                        ok = false;
                }
                for (size_t k = 0; k < n; k++)
                        if (sets[k] == set) {
                                config_error(c, p, "the same set is listed twice");
                                ok = false;
                        }
                sets[n++] = set;
        }
        if (!ok)
                return;
        memcpy(cfg->metrics_aggregation_dimensions, sets, n * sizeof(unsigned));
        cfg->n_metrics_aggregation_dimensions = n;
}

static const char *check_textfile(const char *s) {
        const char *msg = config_check_abs_path(s);
        if (msg)
                return msg;
        if (!endswith(s, ".prom") || endswith(s, "/.prom"))
                return "must name a file ending in \".prom\" (node_exporter's textfile collector reads only "
                       "those)";
        return NULL;
}

/* ---- the document ---- */

static const Field endpoint_fields[] = {
        F_STRING_OR_NULL("cloudwatch", Config, endpoint_cloudwatch, config_check_url),
        F_STRING_OR_NULL("autoscaling", Config, endpoint_autoscaling, config_check_url),
        F_STRING_OR_NULL("sns", Config, endpoint_sns, config_check_url),
        F_STRING_OR_NULL("ec2", Config, endpoint_ec2, config_check_url),
        F_END,
};

static const Field aws_fields[] = {
        F_STRING_OR_NULL("region", Config, aws_region, check_region),
        F_OBJECT("endpoints", endpoint_fields),
        F_END,
};

static const Field imds_fields[] = {
        F_BOOL("enabled", Config, imds_enabled),
        F_STRING_OR_NULL("endpoint", Config, imds_endpoint, config_check_url),
        F_CUSTOM("endpoint_mode", parse_endpoint_mode),
        F_UINT("poll_interval_s", Config, imds_poll_interval_s, 1, 3600),
        F_UINT("scheduled_events_interval_s", Config, imds_scheduled_events_interval_s, 1, 86400),
        F_UINT("timeout_ms", Config, imds_timeout_ms, 50, 60000),
        F_END,
};

static const Field metrics_fields[] = {
        F_BOOL("enabled", Config, metrics_enabled),
        F_STRING("namespace", Config, metrics_namespace, check_namespace),
        F_UINT("collection_interval_s", Config, metrics_collection_interval_s, 1, 86400),
        F_UINT("publish_interval_s", Config, metrics_publish_interval_s, 1, 86400),
        F_BOOL("high_resolution", Config, metrics_high_resolution),
        F_CUSTOM("dimensions", parse_dimensions),
        F_CUSTOM("filesystems", parse_filesystems),
        F_CUSTOM("measurements", parse_measurements),
        F_CUSTOM("aggregation_dimensions", parse_aggregation_dimensions),
        F_STRING_OR_NULL("prometheus_textfile", Config, metrics_prometheus_textfile, check_textfile),
        F_END,
};

static const Field kmsg_fields[] = {
        F_BOOL("enabled", Config, kmsg_enabled),
        F_STRING("path", Config, kmsg_path, config_check_abs_path),
        F_END,
};

static const Field kernel_fields[] = {
        F_STRING("pstore_path", Config, kernel_pstore_path, config_check_abs_path),
        F_END,
};

static const Field top_fields[] = {
        F_OBJECT("aws", aws_fields),
        F_OBJECT("imds", imds_fields),
        F_OBJECT("metrics", metrics_fields),
        F_OBJECT("kmsg", kmsg_fields),
        F_OBJECT("kernel", kernel_fields),
        F_CUSTOM("rules", config_parse_rules),
        F_END,
};

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->aws_region);
        free(c->endpoint_cloudwatch);
        free(c->endpoint_autoscaling);
        free(c->endpoint_sns);
        free(c->endpoint_ec2);
        free(c->imds_endpoint);
        free(c->metrics_namespace);
        free(c->metrics_prometheus_textfile);
        strv_free(c->metrics_filesystems);
        free(c->kmsg_path);
        free(c->kernel_pstore_path);
        for (size_t i = 0; i < c->n_rules; i++)
                config_rule_done(&c->rules[i]);
        free(c->rules);
        free(c);
        return NULL;
}

static int config_new_default(Config **ret) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        *c = (Config){
                .imds_enabled = true,
                .imds_poll_interval_s = 1,
                .imds_scheduled_events_interval_s = 60,
                .imds_timeout_ms = 1000,
                .metrics_enabled = true,
                .metrics_collection_interval_s = 10,
                .metrics_publish_interval_s = 60,
                .metrics_dimensions = DIMENSION_INSTANCE_ID,
                .kmsg_enabled = true,
        };
        c->metrics_measurements = metric_default_set();
        c->metrics_namespace = strdup("CWAgent");
        c->kmsg_path = strdup("/dev/kmsg");
        c->kernel_pstore_path = strdup("/sys/fs/pstore");
        if (!c->metrics_namespace || !c->kmsg_path || !c->kernel_pstore_path ||
            strv_extend(&c->metrics_filesystems, "/") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Parses TEXT (from FILE) and applies it onto CFG. */
static void apply_text(Ctx *c, Config *cfg, const char *text, size_t len) {
        _cleanup_json_ cJSON *doc = NULL;
        const char *end = NULL;

        if (memchr(text, 0, len)) {
                config_error(c, "$", "contains a NUL byte");
                return;
        }
        /* TEXT is NUL-terminated; cJSON wants the terminator inside the length to accept it. */
        doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
        if (!doc) {
                size_t off = end && end >= text ? (size_t) (end - text) : 0;
                unsigned line = 1, col = 1;
                for (size_t i = 0; i < off && i < len; i++, col++)
                        if (text[i] == '\n') {
                                line++;
                                col = 0;
                        }
                config_error(c, "$", "invalid JSON near line %u, column %u", line, col);
                return;
        }
        (void) config_apply_object(c, "", doc, top_fields, cfg);
}

static void check_merged(Ctx *c, Config *cfg) {
        if (cfg->metrics_publish_interval_s < cfg->metrics_collection_interval_s)
                config_error(c, "metrics.publish_interval_s",
                             "must not be shorter than metrics.collection_interval_s (%u < %u)",
                             cfg->metrics_publish_interval_s, cfg->metrics_collection_interval_s);
}

int config_load_string(const char *file, const char *text, Config **ret, char ***ret_errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        Ctx c = { .file = file, .errors = &errors };
        int r;

        r = config_new_default(&cfg);
        if (r < 0)
                return r;
        apply_text(&c, cfg, text, strlen(text));
        check_merged(&c, cfg);
        if (c.oom)
                return c.oom;
        *ret = TAKE_PTR(cfg);
        *ret_errors = TAKE_PTR(errors);
        return 0;
}

static int load_file(Ctx *c, Config *cfg, const char *path, bool must_exist) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        c->file = path;
        c->file_index++;
        r = read_file_bounded(path, CONFIG_MAX_BYTES, &text, &len);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                config_error(c, "$", "file is larger than %u bytes", CONFIG_MAX_BYTES);
        else if (r < 0)
                config_error(c, "$", "cannot read: %s", strerror(-r));
        else
                apply_text(c, cfg, text, len);
        return 0;
}

static int dropin_filter(const struct dirent *d) {
        return d->d_name[0] != '.' && endswith(d->d_name, ".json");
}

static int lexical(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int config_load(const char *path, Config **ret, char ***ret_errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *dir = NULL, *dropins = NULL;
        struct dirent **names = NULL;
        Ctx c = { .errors = &errors };
        int r, n;

        r = config_new_default(&cfg);
        if (r < 0)
                return r;
        r = load_file(&c, cfg, path ?: CONFIG_DEFAULT_PATH, path != NULL);
        if (r < 0)
                return r;

        /* The drop-in directory is the sibling "config.d" of the main file. */
        const char *main_path = path ?: CONFIG_DEFAULT_PATH;
        const char *slash = strrchr(main_path, '/');
        dir = slash ? strndup(main_path, (size_t) (slash - main_path) + 1) : strdup("./");
        if (!dir || !(dropins = path_join(dir, "config.d")))
                return -ENOMEM;
        n = scandir(dropins, &names, dropin_filter, lexical);
        if (n < 0 && errno != ENOENT && errno != ENOTDIR) {
                c.file = dropins;
                config_error(&c, "$", "cannot read directory: %m");
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = path_join(dropins, names[i]->d_name);
                if (!p || load_file(&c, cfg, p, true) < 0)
                        r = -ENOMEM;
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;

        c.file = main_path;
        check_merged(&c, cfg);
        if (c.oom)
                return c.oom;
        *ret = TAKE_PTR(cfg);
        *ret_errors = TAKE_PTR(errors);
        return 0;
}
