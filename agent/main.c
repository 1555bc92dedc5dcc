/* main.c — the ec2agent command line: run, status, events, check-config, help. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ec2agent/cli.h"
#include "ec2agent/config.h"
#include "ec2agent/generator.h"
#include "ec2agent/json.h"
#include "ec2agent/log.h"
#include "ec2agent/manager.h"
#include "ec2agent/report.h"
#include "ec2agent/step.h"

#define STATUS_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct Command {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *synopsis;
        const char *help;
} Command;

static const Command *command_find(const char *name);
static void print_usage(FILE *f);

static bool want_color(FILE *f) {
        const char *term = getenv("TERM");
        return isatty(fileno(f)) && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
}

static unsigned terminal_width(void) {
        struct winsize ws;
        uint64_t v;
        const char *cols = getenv("COLUMNS");
        if (cols && parse_u64(cols, 1000, &v) == 0 && v >= 40)
                return (unsigned) v;
        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
                return ws.ws_col;
        return 80;
}

/* Reports a usage error and returns EX_USAGE. */
_printf_(2, 3) static int usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "ec2agent%s%s: ", cmd ? " " : "", cmd ?: "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'ec2agent help%s%s'.\n", cmd ? " " : "", cmd ?: "");
        return EXIT_USAGE;
}

/* The usage error for what getopt_long returned C for: an unknown option or a missing value. */
static int bad_option(const char *cmd, int c, char **argv) {
        if (c == ':')
                return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

/* getopt_long over one command's options; unknown options are usage errors. */
#define FOR_EACH_OPTION(c, argc, argv, shorts, longs) \
        for (int c; (c = getopt_long(argc, argv, shorts, longs, NULL)) >= 0;)

static int load_config_or_report(const char *path, Config **ret) {
        _cleanup_strv_free_ char **errors = NULL;
        int r = config_load(path, ret, &errors);
        if (r < 0) {
                fprintf(stderr, "ec2agent: cannot load the configuration: %s\n", strerror(-r));
                return EXIT_CONFIG;
        }
        if (errors) {
                for (char **e = errors; *e; e++)
                        fprintf(stderr, "%s\n", *e);
                *ret = config_free(*ret);
                return EXIT_CONFIG;
        }
        return 0;
}

static int cmd_run(int argc, char **argv) {
        static const struct option opts[] = { { "config", required_argument, NULL, 'c' }, {} };
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *state_dir = NULL, *socket_path = NULL;
        const char *config_path = NULL;
        Config *config = NULL;
        int r;

        FOR_EACH_OPTION (c, argc, argv, "+:c:", opts) {
                if (c == 'c')
                        config_path = optarg;
                else
                        return bad_option("run", c, argv);
        }
        if (optind < argc)
                return usage_error("run", "unexpected argument '%s'", argv[optind]);

        /* One malloc arena: the daemon is one thread, but libcurl resolves host names (the AWS
         * endpoints) on threads of its own, and each would get an arena that keeps its pages. */
        (void) mallopt(M_ARENA_MAX, 1);
        r = load_config_or_report(config_path, &config);
        if (r != 0)
                return r;
        state_dir = state_dir_path();
        socket_path = status_socket_path(NULL);
        if (!state_dir || !socket_path || manager_new(config, state_dir, socket_path, &m) < 0) {
                config_free(config);
                log_oom();
                return 1;
        }
        if (manager_open_state(m) < 0)
                return EXIT_CANTCREAT;
        if (manager_start(m) < 0)
                return 1;
        return manager_run(m) < 0 ? 1 : 0;
}

static int cmd_check_config(int argc, char **argv) {
        static const struct option opts[] = { { "config", required_argument, NULL, 'c' }, {} };
        const char *config_path = NULL;
        Config *config = NULL;

        FOR_EACH_OPTION (c, argc, argv, "+:c:", opts) {
                if (c == 'c')
                        config_path = optarg;
                else
                        return bad_option("check-config", c, argv);
        }
        if (optind < argc)
                return usage_error("check-config", "unexpected argument '%s'", argv[optind]);
        int r = load_config_or_report(config_path, &config);
        if (r != 0)
                return r;
        printf("%s: configuration is valid (%zu rule%s).\n", config_path ?: CONFIG_DEFAULT_PATH,
               config->n_rules, config->n_rules == 1 ? "" : "s");
        config_free(config);
        return 0;
}

static int cmd_status(int argc, char **argv) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "socket", required_argument, NULL, 's' },
                {},
        };
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ cJSON *doc = NULL;
        const char *socket_override = NULL;
        bool json = false;
        int r;

        FOR_EACH_OPTION (c, argc, argv, "+:js:", opts) {
                if (c == 'j')
                        json = true;
                else if (c == 's')
                        socket_override = optarg;
                else
                        return bad_option("status", c, argv);
        }
        if (optind < argc)
                return usage_error("status", "unexpected argument '%s'", argv[optind]);
        path = status_socket_path(socket_override);
        if (!path)
                return EXIT_STATUS_UNKNOWN;
        r = cli_fetch_status(path, STATUS_TIMEOUT_USEC, &doc);
        if (r < 0) {
                fprintf(stderr, "UNKNOWN: ec2agent is not reachable at %s: %s\n", path,
                        r == -EBADMSG ? "the reply is not a status document" : strerror(-r));
                return EXIT_STATUS_UNKNOWN;
        }
        if (json) {
                _cleanup_free_ char *text = cJSON_Print(doc);
                if (!text)
                        return EXIT_STATUS_UNKNOWN;
                printf("%s\n", text);
        } else
                cli_render_status(stdout, doc, want_color(stdout), terminal_width(),
                                  now_usec(CLOCK_REALTIME));
        return cli_status_exit_code(doc);
}

static int cmd_events(int argc, char **argv) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "since", required_argument, NULL, 's' },
                { "type", required_argument, NULL, 't' },
                {},
        };
        _cleanup_strv_free_ char **types = NULL;
        _cleanup_free_ char *state_dir = NULL;
        EventFilter filter = {};
        bool json = false;
        int r;

        FOR_EACH_OPTION (c, argc, argv, "+:js:t:", opts) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 's':
                        if (cli_parse_since(optarg, now_usec(CLOCK_REALTIME), &filter.since) < 0)
                                return usage_error(
                                        "events",
                                        "--since takes an RFC 3339 time or a duration such as 2h, not '%s'",
                                        optarg);
                        break;
                case 't':
                        if (!event_type_lookup(optarg) && !event_pattern_is_valid(optarg))
                                return usage_error("events", "unknown event type '%s'", optarg);
                        if (strv_extend(&types, optarg) < 0)
                                return 1;
                        break;
                default:
                        return bad_option("events", c, argv);
                }
        }
        if (optind < argc)
                return usage_error("events", "unexpected argument '%s'", argv[optind]);
        filter.types = types;
        state_dir = state_dir_path();
        if (!state_dir)
                return 1;
        r = cli_print_events(stdout, state_dir, &filter, json, want_color(stdout));
        if (r < 0) {
                fprintf(stderr, "ec2agent events: cannot read %s/%s: %s\n", state_dir, JOURNAL_FILE,
                        strerror(-r));
                return 1;
        }
        return 0;
}

static int cmd_report(int argc, char **argv) {
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { "config", required_argument, NULL, 'c' },
                {},
        };
        _cleanup_free_ char *state_dir = NULL, *socket_path = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        ReportOptions o = {};
        Config *config = NULL;

        FOR_EACH_OPTION (c, argc, argv, "+:o:c:", opts) {
                if (c == 'o')
                        o.output = optarg;
                else if (c == 'c')
                        o.config_path = optarg;
                else
                        return bad_option("report", c, argv);
        }
        if (optind < argc)
                return usage_error("report", "unexpected argument '%s'", argv[optind]);
        /* A broken configuration is part of what a report is for: use what can be read. */
        if (config_load(o.config_path, &config, &errors) < 0)
                return 1;
        state_dir = state_dir_path();
        socket_path = status_socket_path(NULL);
        o.state_dir = state_dir;
        o.socket_path = socket_path;
        o.pstore_path = config->kernel_pstore_path;
        int r = state_dir && socket_path ? report_write(&o) : -ENOMEM;
        config_free(config);
        return r < 0 ? 1 : 0;
}

static int cmd_exec_step(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "env-dir", required_argument, NULL, 'e' },
                {},
        };
        const char *config_path = NULL, *env_dir = NULL;

        FOR_EACH_OPTION (c, argc, argv, "+:c:e:", opts) {
                if (c == 'c')
                        config_path = optarg;
                else if (c == 'e')
                        env_dir = optarg;
                else
                        return bad_option("exec-step", c, argv);
        }
        if (argc - optind != 1)
                return usage_error("exec-step", "takes exactly one INSTANCE (after '--')");
        return step_exec_main(config_path, env_dir, argv[optind]);
}

static int cmd_help(int argc, char **argv) {
        if (argc > 2)
                return usage_error("help", "takes at most one command");
        if (argc == 2) {
                const Command *c = command_find(argv[1]);
                if (!c)
                        return usage_error(NULL, "unknown command '%s'", argv[1]);
                printf("Usage: ec2agent %s\n\n%s", c->synopsis, c->help);
                return 0;
        }
        print_usage(stdout);
        return 0;
}

static const Command commands[] = {
        { "run", cmd_run, "run [--config PATH]",
          "Runs the agent in the foreground (systemd Type=notify). Exits 78 on an invalid\n"
          "configuration, 73 when the state directory is not writable.\n" },
        { "status", cmd_status, "status [--json] [--socket PATH]",
          "Shows the instance's health from the running agent.\n"
          "Exit code: 0 ok, 1 warning, 2 critical, 3 unknown (agent unreachable).\n"
          "  --json         the status document (schema_version 1)\n"
          "  --socket PATH  the agent's socket (default $EC2AGENT_SOCKET,\n"
          "                 $RUNTIME_DIRECTORY/status.sock, " STATUS_DEFAULT_SOCKET ")\n" },
        { "events", cmd_events, "events [--json] [--since WHEN] [--type T]...",
          "Prints the persisted event history across boots, oldest first.\n"
          "  --json        one JSON object a line, as stored\n"
          "  --since WHEN  an RFC 3339 time, or a duration back from now: 90s, 30m, 2h, 1d\n"
          "  --type T      only events of type T (repeatable; 'maintenance' matches every\n"
          "                maintenance:CODE)\n" },
        { "check-config", cmd_check_config, "check-config [--config PATH]",
          "Validates the configuration and its config.d/ drop-ins. Exit 0, or 78 with one\n"
          "line per error: FILE: json.path: message\n" },
        { "report", cmd_report, "report [-o FILE] [--config PATH]",
          "Writes a diagnostic bundle for a support case: when the trouble started, the status\n"
          "(identity, notices, scheduled events, memory, filesystems, kernel), the event history of\n"
          "this and previous boots, the kernel problems with their log lines, pstore crash records,\n"
          "the agent's state and configuration. Nothing secret.\n"
          "  -o FILE   where to write it (default ec2agent-report-HOST-TIME.tar.gz);\n"
          "            '-' prints it as text to stdout\n" },
        { "exec-step", cmd_exec_step, "exec-step [--config PATH] [--env-dir DIR] -- INSTANCE",
          "Runs, as ec2agent-step@INSTANCE.service does (as root), the exec step that INSTANCE names:\n"
          "RULE/STEP/RUN escaped as systemd-escape does (STEP counts a rule's \"do\" from 0). The argv\n"
          "is the configuration's; the environment file DIR/RUN-STEP.env (default " STEP_ENV_DIR ")\n"
          "gives only EC2AGENT_* values. Exit 64 for an instance that names no exec step, 65 for a\n"
          "refused environment file, 78 for an invalid configuration.\n" },
        { "help", cmd_help, "help [COMMAND]", "Shows the commands, or one command's help.\n" },
};

static const Command *command_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void print_usage(FILE *f) {
        fprintf(f, "ec2agent %s — in-guest health agent for EC2 instances\n\nUsage:\n", EC2AGENT_VERSION);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  ec2agent %s\n", commands[i].synopsis);
        fprintf(f, "  ec2agent --version | --help\n\nSee 'ec2agent help COMMAND' for details.\n");
}

/* Called as ec2agent-generator by systemd: NORMAL_DIR [EARLY_DIR LATE_DIR] (systemd.generator(7)),
 * after an optional --config PATH for tests. Never fails the boot over a bad configuration. */
static int generator_main(int argc, char **argv) {
        const char *config = NULL;
        int k;

        if (argc >= 3 && strcmp(argv[1], "--config") == 0) {
                config = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc < 2 || argc > 4) {
                fprintf(stderr,
                        "usage: ec2agent-generator [--config PATH] NORMAL_DIR [EARLY_DIR LATE_DIR]\n");
                return EXIT_USAGE;
        }
        k = generator_run(argv[1], config);
        if (k < 0)
                log_error_errno(k, "ec2agent-generator: cannot write the unit ordering: %m");
        return k < 0 ? EXIT_FAILURE : 0;
}

int main(int argc, char **argv) {
        const char *lvl = getenv("EC2AGENT_LOG_LEVEL");
        int level = lvl ? log_level_from_string(lvl) : LOG_INFO;
        log_setup(level < 0 ? LOG_INFO : level);

        if (strcmp(program_invocation_short_name, "ec2agent-generator") == 0)
                return generator_main(argc, argv);

        if (argc < 2) {
                print_usage(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
                printf("ec2agent %s\n", EC2AGENT_VERSION);
                return 0;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                print_usage(stdout);
                return 0;
        }
        const Command *c = command_find(argv[1]);
        if (!c)
                return usage_error(NULL, "unknown command '%s'", argv[1]);
        for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        char *help_argv[] = { (char *) "help", (char *) c->name, NULL };
                        return cmd_help(2, help_argv);
                }
        opterr = 0; /* we word the errors ourselves */
        return c->run(argc - 1, argv + 1);
}
