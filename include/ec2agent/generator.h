/* generator.h — ec2agent-generator: orders the agent's unit before the units its rules stop. */
#pragma once

#include "config.h"

#define GENERATOR_DROPIN_DIR  "ec2agent.service.d"
#define GENERATOR_DROPIN_NAME "50-drained-units.conf"

/* The drop-in for CONFIG: "[Unit]\nBefore=UNITS…" naming every unit of a stop or restart step once,
 * in the order the rules name them; NULL when no rule stops a unit. *RET is the caller's. */
int generator_dropin(const Config *config, char **ret);

/* Writes the drop-in into DIR/ec2agent.service.d/ (systemd's "normal" generator directory) from
 * the configuration at CONFIG_PATH. A configuration that does not load writes nothing: the
 * agent itself reports it at start. Returns 0 or a negative errno. */
int generator_run(const char *dir, const char *config_path);
