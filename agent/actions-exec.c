/* actions-exec.c — the exec step. Under systemd it runs as an instance of the static template
 * ec2agent-step@.service (StartUnit), stopped at the timeout; without systemd it is forked and execve'd in
 * its own process group (SIGTERM at the timeout, SIGKILL 5 s later), its output read line by line into the
 * log. Either way it gets the variables of SPEC §4 and never the agent's AWS credentials. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actions-internal.h"
#include "ec2agent/log.h"
#include "ec2agent/step.h"

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define EXEC_OUTPUT_MAX  4096        /* bytes of one output line logged */
#define EXEC_READ_BUDGET (64 * 1024) /* bytes of a step's output read per loop iteration */
#define EXEC_LOG_MAX     (64 * 1024) /* bytes of a step's output logged in all; the rest is dropped */

typedef struct ExecAction {
        ActionExec x;
        /* forked */
        sd_event_source *kill_timer, *child, *out;
        pid_t pid;
        int out_fd;
        Buf line;
        size_t logged; /* bytes of the step's output logged */
        bool timed_out;
        /* an instance of ec2agent-step@.service */
        ActionJob job;
        char unit[STEP_UNIT_MAX + 32]; /* its name */
        unsigned step_index;           /* the step's place in its rule's "do" */
        bool env_written;              /* its environment file */
        bool stopping_stale;           /* ... stopped first, should it run from an agent that died */
} ExecAction;

/* Logs the step's output line L, while EXEC_LOG_MAX bytes were not logged yet. */
static void output_log(ExecAction *p, const char *l) {
        const char *rule = p->x.info.rule;
        size_t n = strlen(rule) + strlen(l) + 16; /* what the line costs in the log */
        if (p->logged < EXEC_LOG_MAX && p->logged + n >= EXEC_LOG_MAX)
                log_notice("%s: the step wrote more than %d bytes; the rest of its output is dropped.", rule,
                           EXEC_LOG_MAX);
        if (p->logged + n <= EXEC_LOG_MAX)
                log_info("%s: %s", rule, l);
        p->logged = MIN(p->logged + n, (size_t) EXEC_LOG_MAX);
}

/* Reads what the step wrote, EXEC_READ_BUDGET bytes at most (a step that writes without end must
 * not hold the loop), logging whole lines. Returns >0 when the budget is spent with more to
 * read, 0 at its end (the pipe closed: the rest is logged, the pipe released), -EAGAIN when there
 * is no more yet. */
static int output_read(ExecAction *p) {
        char chunk[4096];

        for (size_t total = 0; total < EXEC_READ_BUDGET;) {
                ssize_t n = read(p->out_fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return -EAGAIN;
                if (n <= 0) {
                        if (p->line.len)
                                output_log(p, p->line.data);
                        buf_reset(&p->line);
                        p->out = sd_event_source_disable_unref(p->out);
                        p->out_fd = safe_close(p->out_fd);
                        return 0;
                }
                total += (size_t) n;
                for (ssize_t i = 0; i < n && p->logged < EXEC_LOG_MAX; i++)
                        if (chunk[i] == '\n' || buf_append(&p->line, &chunk[i], 1) < 0) {
                                output_log(p, p->line.data ?: "");
                                buf_reset(&p->line);
                        }
        }
        return 1;
}

static int exec_on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) fd;
        (void) revents;
        (void) output_read(userdata);
        return 0;
}

static int exec_on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        ExecAction *p = userdata;
        (void) s;

        p->pid = 0;
        p->child = sd_event_source_disable_unref(p->child);
        p->kill_timer = sd_event_source_disable_unref(p->kill_timer);
        /* The exit may be seen before the last output: read what is in the pipe now, one budget (a
         * process the step left behind may keep it open and write without end). */
        if (p->out_fd >= 0)
                (void) output_read(p);
        if (p->timed_out)
                return action_exec_done(&p->x, ACTION_TIMED_OUT, "killed at the timeout"), 0;
        if (si->si_code == CLD_EXITED && si->si_status == 0)
                return action_exec_done(&p->x, ACTION_DONE, NULL), 0;
        if (si->si_code == CLD_EXITED)
                return action_exec_done(&p->x, ACTION_FAILED, "exit status %d", si->si_status), 0;
        return action_exec_done(&p->x, ACTION_FAILED, "killed by signal %s", strsignal(si->si_status)), 0;
}

/* Whether the variable V=… is the agent's AWS credentials: never a step's (SPEC §9). */
static bool is_credential(const char *v) {
        static const char *const names[] = { "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
                                             "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN=",
                                             "AWS_CREDENTIAL_EXPIRATION=" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (startswith(v, names[i]))
                        return true;
        return false;
}

/* NAME=VALUE with VALUE made valid UTF-8 without control characters: an invalid sequence, a C0
 * or C1 control or DEL becomes U+FFFD. (The JSON of EC2AGENT_DETAIL has its C0 controls escaped
 * by cJSON already, so it stays valid JSON.) Returns a new string or NULL. */
static char *env_assign(const char *name, const char *value) {
        const unsigned char *p = (const unsigned char *) (value ?: "");
        Buf b;

        buf_init(&b, SIZE_MAX / 4);
        if (buf_appendf(&b, "%s=", name) < 0)
                goto fail;
        while (*p) {
                size_t n = *p < 0x80             ? 1
                           : (*p & 0xe0) == 0xc0 ? 2
                           : (*p & 0xf0) == 0xe0 ? 3
                           : (*p & 0xf8) == 0xf0 ? 4
                                                 : 0;
                uint32_t c = n == 1 ? *p : n == 2 ? *p & 0x1f : n == 3 ? *p & 0x0f : *p & 0x07;
                bool ok = n > 0;
                for (size_t i = 1; ok && i < n; i++) {
                        ok = (p[i] & 0xc0) == 0x80; /* also stops at the NUL */
                        c = (c << 6) | (p[i] & 0x3f);
                }
                if (ok)
                        ok = !(n == 2 && c < 0x80) && !(n == 3 && c < 0x800) && !(n == 4 && c < 0x10000) &&
                             c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff) && c >= 0x20 && c != 0x7f &&
                             !(c >= 0x80 && c <= 0x9f);
                if (ok ? buf_append(&b, p, n) < 0 : buf_append(&b, "\xef\xbf\xbd", 3) < 0)
                        goto fail;
                if (!ok) /* one byte at a time: resynchronise on the next lead byte */
                        n = 1;
                p += n;
        }
        return b.data ?: strdup("");
fail:
        buf_done(&b);
        return NULL;
}

/* The step's own variables of SPEC §4; with INHERIT, after the agent's environment less what a
 * step must not inherit (the notify socket, the watchdog, stale EC2AGENT_*, AWS credentials). */
static int exec_environment(const ActionInfo *in, bool inherit, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        char deadline[RFC3339_MAX] = "",
             *detail = in->detail ? cJSON_PrintUnformatted(in->detail) : strdup("{}");
        char *extra[4] = {};
        int k = 0;

        if (in->deadline)
                format_rfc3339(deadline, in->deadline);
        for (char **v = environ; inherit && v && *v && k >= 0; v++)
                if (!startswith(*v, "NOTIFY_SOCKET=") && !startswith(*v, "WATCHDOG_") &&
                    !startswith(*v, "EC2AGENT_") && !is_credential(*v))
                        k = strv_extend(&env, *v);
        if (k < 0 || !detail || !(extra[0] = env_assign("EC2AGENT_EVENT", in->event)) ||
            !(extra[1] = env_assign("EC2AGENT_RULE", in->rule)) ||
            !(extra[2] = env_assign("EC2AGENT_DEADLINE", deadline)) ||
            !(extra[3] = env_assign("EC2AGENT_DETAIL", detail)))
                k = -ENOMEM;
        for (int i = 0; i < 4; i++) {
                if (k >= 0)
                        k = strv_extend(&env, extra[i]);
                free(extra[i]);
        }
        free(detail);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(env);
        return 0;
}

/* Under systemd the step runs as an instance of the static template ec2agent-step@.service,
 * ec2agent-step@RULE-STEP-RUN.service (systemd-escape of RULE/STEP/RUN): as root, outside the
 * agent's sandbox, in its own cgroup, its output in the journal under its own unit. The agent
 * names the step, never its argv: the template's `ec2agent exec-step` takes the argv from the
 * root-owned configuration, and only the EC2AGENT_* values from the file the agent writes to
 * $RUNTIME_DIRECTORY/steps/RUN-STEP.env. The start job ends when the process does ("done" for
 * exit status 0); at the timeout StopUnit sends SIGTERM to the whole cgroup and SIGKILL after
 * TimeoutStopSec=5s. The name is fixed per run and step, and the unit is stopped before it is
 * started: a step left running by an agent that died is stopped and run afresh (for a new run
 * the stop is a no-op job). */

/* StopUnit on the step's unit: its start job (if any) is cancelled, and the stop job's end is what
 * JobRemoved reports next for it. */
static int template_stop(ExecAction *p) {
        return action_job_call(&p->job, "StopUnit", p->unit, "replace");
}

static void template_env_remove(ExecAction *p) {
        _cleanup_free_ char *dir = NULL;
        char name[STEP_RUN_MAX + 16];
        if (!p->env_written)
                return;
        p->env_written = false;
        if ((dir = step_env_dir()) && step_env_name(p->x.info.run, p->step_index, name, sizeof name) >= 0) {
                _cleanup_free_ char *path = path_join(dir, name);
                if (path)
                        (void) unlink(path); /* exec-step removes it once read; this is for a unit that never
                                                ran */
        }
}

/* The index of the step of INFO in its rule's "do", from the configuration. */
static int step_index_of(const Actions *a, const ActionInfo *in, unsigned *ret) {
        for (size_t r = 0; r < a->config->n_rules; r++) {
                const Rule *rule = &a->config->rules[r];
                if (strcmp(rule->name, in->rule) == 0 && in->step >= rule->steps &&
                    in->step < rule->steps + rule->n_steps) {
                        *ret = (unsigned) (in->step - rule->steps);
                        return 0;
                }
        }
        return -ENOENT;
}

/* Names the step's unit and stops it (the first stage of a start: see above). */
static int template_start(ExecAction *p, char err[static 256]) {
        const ActionInfo *in = &p->x.info;
        char instance[STEP_UNIT_MAX];
        int k;

        k = step_index_of(p->x.actions, in, &p->step_index);
        if (k >= 0)
                k = step_instance_format(in->rule, p->step_index, in->run, instance, sizeof instance);
        if (k < 0) {
                snprintf(err, 256, "the step has no unit name (rule \"%s\", run %s): %s", in->rule, in->run,
                         strerror(-k));
                return k;
        }
        snprintf(p->unit, sizeof p->unit, STEP_TEMPLATE_PREFIX "%s.service", instance);
        p->stopping_stale = true;
        return template_stop(p);
}

/* Writes the step's EC2AGENT_* values ENV to its environment file and starts its unit. */
static int template_run(ExecAction *p, char **env, char err[static 256]) {
        const ActionInfo *in = &p->x.info;
        _cleanup_strv_free_ char **check = NULL;
        _cleanup_free_ char *dir = NULL;
        char name[STEP_RUN_MAX + 16], why[128] = "";
        Buf text;
        int k = 0;

        buf_init(&text, STEP_ENV_MAX);
        for (char **v = env; v && *v && k >= 0; v++)
                k = buf_appendf(&text, "%s\n", *v);
        /* What exec-step will refuse is refused here, where the reason can be said. */
        if (k >= 0)
                k = step_env_parse(text.data ?: "", text.len, &check, why);
        if (k >= 0 && !(dir = step_env_dir()))
                k = -ENOMEM;
        if (k >= 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
                k = -errno;
        if (k >= 0)
                k = step_env_name(in->run, p->step_index, name, sizeof name);
        if (k >= 0)
                k = write_file_atomic(dir, name, text.data ?: "", text.len, 0600);
        buf_done(&text);
        if (k < 0) {
                snprintf(err, 256, "cannot write the step's environment file: %.200s",
                         why[0] && k != -ENOMEM ? why : strerror(-k));
                return k;
        }
        p->env_written = true;
        return action_job_call(&p->job, "StartUnit", p->unit, "replace");
}
static void template_job_removed(ActionJob *j, const char *result) {
        ExecAction *p = (ExecAction *) j->owner;

        if (p->stopping_stale) { /* stopped (or was not running): now the step's own start */
                _cleanup_strv_free_ char **env = NULL;
                char err[256] = "";
                int k;
                p->stopping_stale = false;
                if (exec_environment(&p->x.info, false, &env) < 0)
                        return action_exec_done(&p->x, ACTION_FAILED, "out of memory");
                k = template_run(p, env, err);
                if (k < 0 && err[0])
                        return action_exec_done(&p->x, ACTION_FAILED, "%s", err);
                if (k < 0)
                        return action_exec_done(&p->x, ACTION_FAILED, "cannot start %s: %s", p->unit,
                                                strerror(-k));
                return;
        }
        template_env_remove(p);
        if (p->timed_out)
                return action_exec_done(&p->x, ACTION_TIMED_OUT, "%s stopped at the timeout", p->unit);
        if (strcmp(result, "done") == 0)
                return action_exec_done(&p->x, ACTION_DONE, NULL);
        action_exec_done(&p->x, ACTION_FAILED, "%s %s (journalctl -u %s)", p->unit,
                         strcmp(result, "failed") == 0 ? "exited with failure" : result, p->unit);
}

/* Forks the step in its own process group, its output read line by line into the log. */
static int fork_start(ExecAction *p, char **env) {
        const Step *s = p->x.info.step;
        int pipefd[2];
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int k = -errno;
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return k;
        }
        if (pid == 0) {
                sigset_t none;
                int devnull = open("/dev/null", O_RDONLY);
                (void) setpgid(0, 0);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                for (int sig = 1; sig < NSIG; sig++)
                        (void) signal(sig, SIG_DFL);
                if (devnull >= 0)
                        (void) dup2(devnull, STDIN_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                (void) dup2(pipefd[1], STDERR_FILENO);
                /* None of the agent's descriptors (curl's sockets, the status socket, state files)
                 * reach the step, O_CLOEXEC or not. */
                if (syscall(__NR_close_range, 3U, ~0U, 0U) < 0) { /* ENOSYS before Linux 5.9 */
                        struct rlimit rl = { .rlim_cur = 65536 };
                        (void) getrlimit(RLIMIT_NOFILE, &rl);
                        for (rlim_t fd = 3; fd < MIN(rl.rlim_cur, (rlim_t) 1 << 20); fd++)
                                (void) close((int) fd);
                }
                execve(s->argv[0], s->argv, env);
                dprintf(STDERR_FILENO, "cannot execute %s: %s\n", s->argv[0], strerror(errno));
                _exit(127);
        }
        (void) setpgid(pid, pid);
        safe_close(pipefd[1]);
        p->pid = pid;
        p->out_fd = pipefd[0];
        (void) fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
        if (sd_event_add_io(p->x.actions->event, &p->out, p->out_fd, EPOLLIN, exec_on_output, p) < 0 ||
            sd_event_add_child(p->x.actions->event, &p->child, pid, WEXITED, exec_on_child, p) < 0) {
                (void) kill(-pid, SIGKILL);
                return -ENOMEM;
        }
        return 0;
}

static void exec_start(ActionExec *x) {
        ExecAction *p = (ExecAction *) x;
        bool templated = x->actions->bus != NULL;
        _cleanup_strv_free_ char **env = NULL;
        char err[256] = "";
        int k;

        p->out_fd = -EBADF;
        buf_init(&p->line, EXEC_OUTPUT_MAX);
        p->job.owner = x;
        p->job.removed = template_job_removed;
        if (!templated && exec_environment(&x->info, true, &env) < 0)
                return action_exec_done(x, ACTION_FAILED, "out of memory");
        k = templated ? template_start(p, err) : fork_start(p, env);
        if (k < 0 && err[0])
                action_exec_done(x, ACTION_FAILED, "%s", err);
        else if (k < 0)
                action_exec_done(x, ACTION_FAILED, "cannot start %s: %s",
                                 templated ? p->unit : x->info.step->argv[0], strerror(-k));
}

static int exec_on_kill(sd_event_source *s, uint64_t usec, void *userdata) {
        ExecAction *p = userdata;
        (void) s;
        (void) usec;
        if (p->pid > 0)
                (void) kill(-p->pid, SIGKILL);
        return 0;
}

static void exec_cancel(ActionExec *x) {
        ExecAction *p = (ExecAction *) x;

        if (p->unit[0] && !p->stopping_stale) {
                /* StopUnit: SIGTERM to the unit's cgroup, SIGKILL after its TimeoutStopUSec (5 s);
                 * the start job is cancelled, the stop job's end ends the action. */
                p->timed_out = true;
                int k = template_stop(p);
                if (k < 0)
                        action_exec_done(x, ACTION_TIMED_OUT, "cannot stop %s: %s", p->unit, strerror(-k));
                return;
        }
        if (p->pid > 0) {
                /* SIGTERM to the whole process group, SIGKILL 5 s later; the exit ends the action. */
                p->timed_out = true;
                (void) kill(-p->pid, SIGTERM);
                (void) sd_event_add_time_relative(x->actions->event, &p->kill_timer, CLOCK_MONOTONIC,
                                                  KILL_AFTER_USEC, 0, exec_on_kill, p);
                return;
        }
        action_exec_done(x, ACTION_TIMED_OUT, "no result within the step's time%s%s", x->note[0] ? ": " : "",
                         x->note);
}

static void exec_release(ActionExec *x) {
        ExecAction *p = (ExecAction *) x;

        p->kill_timer = sd_event_source_disable_unref(p->kill_timer);
        p->child = sd_event_source_disable_unref(p->child);
        p->out = sd_event_source_disable_unref(p->out);
        p->out_fd = safe_close(p->out_fd);
        action_job_release(&p->job);
        if (p->pid > 0)
                (void) kill(-p->pid, SIGKILL); /* the agent is going away: do not leave a step behind */
        p->pid = 0;
        buf_done(&p->line);
}

const ActionExecutor action_exec_executor = { sizeof(ExecAction), exec_start, exec_cancel, exec_release };
