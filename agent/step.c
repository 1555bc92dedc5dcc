/* step.c — exec steps through the template ec2agent-step@.service: the instance name, the
 * environment file, and `ec2agent exec-step` (root: the argv comes from the root-owned
 * configuration, only the EC2AGENT_* values from the agent). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ec2agent/step.h"

#define EXIT_DATAERR   65
#define EXIT_NOEXEC    127
#define RULE_NAME_MAX  64
#define STEP_INDEX_MAX 9999

static const char rule_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
static const char plain_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:";

static bool rule_name_ok(const char *s, size_t n) {
        if (n == 0 || n > RULE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!s[i] || !strchr(rule_chars, s[i]))
                        return false;
        return true;
}

/* DIGITS-DIGITS, each 1 to 20 digits: the engine's "%llu-%u". */
static bool run_id_ok(const char *s, size_t n) {
        const char *dash = memchr(s, '-', n);
        size_t a = dash ? (size_t) (dash - s) : 0, b = dash ? n - a - 1 : 0;
        if (!dash || a == 0 || b == 0 || a > 20 || b > 20)
                return false;
        for (size_t i = 0; i < n; i++)
                if (i != a && (s[i] < '0' || s[i] > '9'))
                        return false;
        return true;
}

/* systemd-escape of the plain string S (LEN bytes) appended to B. */
static int escape_append(Buf *b, const char *s, size_t len) {
        int k = 0;
        for (size_t i = 0; i < len && k >= 0; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '/')
                        k = buf_append(b, "-", 1);
                else if (c && strchr(plain_chars, c) && !(i == 0 && c == '.'))
                        k = buf_append(b, &s[i], 1);
                else
                        k = buf_appendf(b, "\\x%02x", c);
        }
        return k;
}

int step_instance_format(const char *rule, unsigned step, const char *run, char *ret, size_t max) {
        char plain[RULE_NAME_MAX + 1 + 8 + 1 + STEP_RUN_MAX];
        Buf b;
        int k;

        if (!rule_name_ok(rule, strlen(rule)) || !run_id_ok(run, strlen(run)) || step > STEP_INDEX_MAX)
                return -EINVAL;
        snprintf(plain, sizeof plain, "%s/%u/%s", rule, step, run);
        buf_init(&b, STEP_UNIT_MAX);
        k = escape_append(&b, plain, strlen(plain));
        if (k >= 0 && (b.len + strlen(STEP_TEMPLATE_PREFIX ".service") >= STEP_UNIT_MAX || b.len >= max))
                k = -ENAMETOOLONG;
        if (k >= 0)
                memcpy(ret, b.data, b.len + 1);
        buf_done(&b);
        return k == -EFBIG ? -ENAMETOOLONG : k < 0 ? k : 0;
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int step_instance_parse(const char *instance, StepInstance *ret, const char **ret_why) {
        char plain[STEP_UNIT_MAX], again[STEP_UNIT_MAX];
        size_t n = 0, len = strlen(instance);
        uint64_t step;

        *ret_why = "is empty";
        if (len == 0)
                return -EINVAL;
        *ret_why = "is too long for a unit name";
        if (len + strlen(STEP_TEMPLATE_PREFIX ".service") >= STEP_UNIT_MAX)
                return -EINVAL;
        /* Unescape: '-' is '/', \xHH one byte, anything else must be a plain character. */
        for (size_t i = 0; i < len; i++) {
                char c = instance[i];
                if (c == '-')
                        plain[n++] = '/';
                else if (c == '\\' && i + 3 < len && instance[i + 1] == 'x' && unhex(instance[i + 2]) >= 0 &&
                         unhex(instance[i + 3]) >= 0) {
                        plain[n++] = (char) (unhex(instance[i + 2]) << 4 | unhex(instance[i + 3]));
                        i += 3;
                } else if (strchr(plain_chars, c) && c) {
                        plain[n++] = c;
                } else {
                        *ret_why = "has a character systemd-escape does not leave (only [A-Za-z0-9:_.], '-' "
                                   "and \\xHH)";
                        return -EINVAL;
                }
                if (n > 0 && plain[n - 1] == '\0') {
                        *ret_why = "escapes a NUL";
                        return -EINVAL;
                }
        }
        plain[n] = '\0';
        const char *s1 = strchr(plain, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1 || !s2 || strchr(s2 + 1, '/')) {
                *ret_why = "does not name RULE/STEP/RUN (three parts, '-' between them)";
                return -EINVAL;
        }
        if (!rule_name_ok(plain, (size_t) (s1 - plain))) {
                *ret_why = "names no valid rule (1 to 64 of [A-Za-z0-9_.:-])";
                return -EINVAL;
        }
        if (parse_u64_n(s1 + 1, (size_t) (s2 - s1 - 1), STEP_INDEX_MAX, &step) < 0 ||
            (s1[1] == '0' && s2 - s1 - 1 > 1)) {
                *ret_why = "names no step index (a number from 0, no leading zeros)";
                return -EINVAL;
        }
        if (!run_id_ok(s2 + 1, strlen(s2 + 1))) {
                *ret_why = "names no run id (DIGITS-DIGITS)";
                return -EINVAL;
        }
        memcpy(ret->rule, plain, (size_t) (s1 - plain));
        ret->rule[s1 - plain] = '\0';
        ret->step = (unsigned) step;
        memcpy(ret->run, s2 + 1, strlen(s2 + 1) + 1); /* run_id_ok: at most 41 bytes */
        /* Canonical: exactly what the agent writes, so one step has one unit name. */
        if (step_instance_format(ret->rule, ret->step, ret->run, again, sizeof again) < 0 ||
            strcmp(again, instance) != 0) {
                *ret_why = "is not as systemd-escape writes RULE/STEP/RUN (escape exactly what it escapes)";
                return -EINVAL;
        }
        *ret_why = NULL;
        return 0;
}

int step_env_name(const char *run, unsigned step, char *ret, size_t max) {
        int n = snprintf(ret, max, "%s-%u.env", run, step);
        return n < 0 || (size_t) n >= max ? -ENAMETOOLONG : 0;
}

int step_env_parse(const char *text, size_t len, char ***ret, char why[static 128]) {
        _cleanup_strv_free_ char **env = NULL;
        size_t line = 0;

        why[0] = '\0';
        if (len > STEP_ENV_MAX) {
                snprintf(why, 128, "is larger than %d bytes", STEP_ENV_MAX);
                return -EFBIG;
        }
        if (len > 0 && text[len - 1] != '\n') {
                snprintf(why, 128, "does not end with a newline");
                return -EINVAL;
        }
        for (size_t at = 0; at < len;) {
                const char *l = text + at, *nl = memchr(l, '\n', len - at);
                size_t n = (size_t) (nl - l), name = 0;
                line++;
                at += n + 1;
                if (line > STEP_ENV_LINES_MAX) {
                        snprintf(why, 128, "has more than %d lines", STEP_ENV_LINES_MAX);
                        return -EFBIG;
                }
                while (name < n && l[name] != '=')
                        name++;
                if (name == n || name <= strlen("EC2AGENT_") || name > 64 ||
                    strncmp(l, "EC2AGENT_", 9) != 0 ||
                    strspn(l + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") < name - 9) {
                        snprintf(why, 128, "line %zu: not EC2AGENT_[A-Z_]+=VALUE", line);
                        return -EINVAL;
                }
                for (size_t i = name + 1; i < n; i++)
                        if ((unsigned char) l[i] < 0x20 || l[i] == 0x7f) {
                                snprintf(why, 128, "line %zu: a control character or NUL in the value",
                                         line);
                                return -EINVAL;
                        }
                for (char **e = env; e && *e; e++)
                        if (strncmp(*e, l, name + 1) == 0) {
                                snprintf(why, 128, "line %zu: the variable is set twice", line);
                                return -EINVAL;
                        }
                _cleanup_free_ char *v = strndup(l, n);
                if (!v || strv_extend(&env, v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

char *step_env_dir(void) {
        _cleanup_free_ char *runtime = env_first_directory("RUNTIME_DIRECTORY");
        return runtime ? path_join(runtime, "steps") : strdup(STEP_ENV_DIR);
}

const Step *step_find(const Config *config, const StepInstance *i, char why[static 256]) {
        for (size_t r = 0; r < config->n_rules; r++) {
                const Rule *rule = &config->rules[r];
                if (strcmp(rule->name, i->rule) != 0)
                        continue;
                if (i->step >= rule->n_steps) {
                        snprintf(why, 256, "the rule \"%s\" has no step %u (it has %zu)", i->rule, i->step,
                                 rule->n_steps);
                        return NULL;
                }
                if (rule->steps[i->step].kind != STEP_EXEC) {
                        snprintf(why, 256, "step %u of the rule \"%s\" is a %s step, not exec", i->step,
                                 i->rule, step_kind_to_string(rule->steps[i->step].kind));
                        return NULL;
                }
                return &rule->steps[i->step];
        }
        snprintf(why, 256, "no rule is named \"%s\"", i->rule);
        return NULL;
}

/* Reads and removes DIR/NAME: a regular file of one link, not a symlink, at most STEP_ENV_MAX
 * bytes. The directory belongs to the agent's user: nothing in it is trusted. */
static int env_file_read(const char *dir, const char *name, char **ret, size_t *ret_len) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len = 0;

        if (dfd < 0)
                return -errno;
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                return -EPERM;
        if (st.st_size > STEP_ENV_MAX)
                return -EFBIG;
        if (!(text = malloc(STEP_ENV_MAX + 1)))
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, text + len, STEP_ENV_MAX + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > STEP_ENV_MAX)
                        return -EFBIG;
        }
        (void) unlinkat(dfd, name, 0); /* read once: the next run writes its own */
        text[len] = '\0';
        *ret = TAKE_PTR(text);
        *ret_len = len;
        return 0;
}

int step_exec_main(const char *config_path, const char *env_dir, const char *instance) {
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_strv_free_ char **errors = NULL, **vars = NULL, **env = NULL;
        _cleanup_free_ char *text = NULL;
        char name[STEP_RUN_MAX + 16], why[256];
        const char *reason;
        StepInstance i;
        const Step *s;
        size_t len = 0;
        int k = 0;

        if (step_instance_parse(instance, &i, &reason) < 0) {
                fprintf(stderr, "ec2agent exec-step: the instance '%s' %s.\n", instance, reason);
                return EXIT_USAGE;
        }
        k = config_load(config_path, &config, &errors);
        if (k < 0 || errors) {
                fprintf(stderr, "ec2agent exec-step: the configuration %s: %s\n",
                        k < 0 ? "cannot be loaded" : "has errors", k < 0 ? strerror(-k) : errors[0]);
                return EXIT_CONFIG;
        }
        if (!(s = step_find(config, &i, why))) {
                fprintf(stderr, "ec2agent exec-step: the instance '%s' names no exec step: %s.\n", instance,
                        why);
                return EXIT_USAGE;
        }
        env_dir = env_dir ?: STEP_ENV_DIR;
        if (step_env_name(i.run, i.step, name, sizeof name) < 0 ||
            (k = env_file_read(env_dir, name, &text, &len)) < 0) {
                fprintf(stderr, "ec2agent exec-step: cannot read the step's environment file %s/%s: %s\n",
                        env_dir, name, strerror(-k));
                return EXIT_DATAERR;
        }
        if ((k = step_env_parse(text, len, &vars, why)) < 0) {
                if (k == -ENOMEM)
                        snprintf(why, sizeof why, "%s", strerror(ENOMEM));
                fprintf(stderr, "ec2agent exec-step: the environment file %s/%s is refused: %s\n", env_dir,
                        name, why);
                return EXIT_DATAERR;
        }
        /* systemd's own environment, less any EC2AGENT_* of it, then the event's. */
        k = 0;
        for (char **v = environ; v && *v && k >= 0; v++)
                if (!startswith(*v, "EC2AGENT_"))
                        k = strv_extend(&env, *v);
        for (char **v = vars; v && *v && k >= 0; v++)
                k = strv_extend(&env, *v);
        if (k < 0) {
                fprintf(stderr, "ec2agent exec-step: %s\n", strerror(-k));
                return 1;
        }
        fflush(NULL);
        execve(s->argv[0], s->argv, env ?: (char *[]){ NULL });
        fprintf(stderr, "ec2agent exec-step: cannot execute %s (rule \"%s\", step %u): %s\n", s->argv[0],
                i.rule, i.step, strerror(errno));
        return EXIT_NOEXEC;
}
