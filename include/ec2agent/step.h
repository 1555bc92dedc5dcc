/* step.h — exec steps through the static template ec2agent-step@.service: the instance name
 * (RULE/STEP/RUN, escaped as systemd-escape does), the environment file the agent hands over,
 * and `ec2agent exec-step`, which runs as root the argv the root-owned configuration gives. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define STEP_TEMPLATE_PREFIX "ec2agent-step@"
#define STEP_UNIT_MAX        256          /* a unit name's bytes, with the NUL (systemd: UNIT_NAME_MAX) */
#define STEP_ENV_MAX         (128 * 1024) /* bytes of an environment file */
#define STEP_ENV_LINES_MAX   32
#define STEP_RUN_MAX         48 /* bytes of a run's id, with the NUL */
#define STEP_ENV_DIR         "/run/ec2agent/steps"

/* What an instance names: the rule (by name), the step's index in its "do", the run's id. */
typedef struct StepInstance {
        char rule[65];
        unsigned step;
        char run[STEP_RUN_MAX];
} StepInstance;

/* The escaped instance of RULE/STEP/RUN in RET (MAX bytes), as `systemd-escape RULE/STEP/RUN`
 * gives it: '/' becomes '-', every byte but [A-Za-z0-9:_.] (and a leading '.') \xHH. Returns 0,
 * -EINVAL when RULE is no rule name or RUN no run id (DIGITS-DIGITS), -ENAMETOOLONG when it does
 * not fit or would make a unit name longer than systemd's 255 bytes. */
int step_instance_format(const char *rule, unsigned step, const char *run, char *ret, size_t max);

/* Parses the escaped INSTANCE (%i of the template) strictly: the canonical escape of exactly
 * RULE/STEP/RUN, a valid rule name, a step index without leading zeros, a run id. Returns 0 with
 * *RET filled, or -EINVAL with a reason in *RET_WHY (a static string). */
int step_instance_parse(const char *instance, StepInstance *ret, const char **ret_why);

/* The name of the environment file of RUN's step STEP ("RUN-STEP.env") in RET (MAX bytes).
 * Returns 0 or -ENAMETOOLONG. */
int step_env_name(const char *run, unsigned step, char *ret, size_t max);

/* Parses the environment file TEXT (LEN bytes, perhaps with NULs): at most STEP_ENV_MAX bytes and
 * STEP_ENV_LINES_MAX lines, each "EC2AGENT_[A-Z_]+=VALUE\n", each name once, VALUE without NUL,
 * control characters or DEL. Returns 0 with the assignments in *RET (a string vector, NULL for
 * an empty file), or -EINVAL/-EFBIG with the reason in WHY (the line's number, never its text:
 * the file is not trusted), or -ENOMEM. */
int step_env_parse(const char *text, size_t len, char ***ret, char why[static 128]);

/* The directory of the environment files: $RUNTIME_DIRECTORY/steps, else STEP_ENV_DIR. Returns
 * a new string or NULL on ENOMEM. */
char *step_env_dir(void);

/* The exec step of CONFIG that I names, or NULL with the reason in WHY. */
const Step *step_find(const Config *config, const StepInstance *i, char why[static 256]);

/* `ec2agent exec-step [--config PATH] [--env-dir DIR] -- INSTANCE`, run by the template as root:
 * loads the configuration (CONFIG_PATH, NULL: the default), finds the exec step INSTANCE names,
 * reads and removes its environment file from ENV_DIR (NULL: STEP_ENV_DIR), and execve()s the
 * step's argv with systemd's environment plus the file's EC2AGENT_* values. Returns only on
 * failure, an exit code (64 a bad instance, 65 a bad environment file, 78 a bad configuration,
 * 127 the program not executable), after saying why on stderr. */
int step_exec_main(const char *config_path, const char *env_dir, const char *instance);
