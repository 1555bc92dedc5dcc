/* actions-exec.c — the exec step. Under systemd it runs as a transient oneshot service
 * (StartTransientUnit), stopped at the timeout; without systemd it is forked and execve'd in its
 * own process group (SIGTERM at the timeout, SIGKILL 5 s later), its output read line by line
 * into the log. Either way it gets the variables of SPEC §4 and never the agent's AWS
 * credentials. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-login.h>

#include "actions-internal.h"
#include "ec2agent/log.h"

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
        /* a transient unit */
        ActionJob job;
        char unit[128];      /* its name */
        bool restarted;      /* ... was found left running by an earlier agent */
        bool stopping_stale; /* ... and is being stopped, to run afresh */
} ExecAction;

static void exec_start(ActionExec *x);

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

/* Under systemd the step runs as a transient oneshot service: outside the agent's sandbox, in its
 * own cgroup, its output in the journal under its own unit. The start job ends when the process
 * does ("done" for exit status 0); at the timeout StopUnit sends SIGTERM to the whole cgroup and
 * SIGKILL after TimeoutStopUSec. The name is fixed per run and action, so a step left running by
 * an agent that died is found (UnitExists), stopped, and run afresh. */

/* StopUnit on the step's unit: its start job (if any) is cancelled, and the stop job's end is what
 * JobRemoved reports next for it. */
static int transient_stop(ExecAction *p) {
        return action_job_call(&p->job, "StopUnit", p->unit, "replace");
}

static int transient_on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ActionJob *j = userdata;
        ExecAction *p = (ExecAction *) j->owner;
        const sd_bus_error *err = sd_bus_message_get_error(m);

        if (err && sd_bus_error_has_name(err, "org.freedesktop.systemd1.UnitExists") && !p->restarted) {
                j->slot = sd_bus_slot_unref(j->slot);
                p->restarted = p->stopping_stale = true;
                log_notice("%s: %s is still running from before; stopping it to run the step afresh",
                           p->x.info.rule, p->unit);
                int k = transient_stop(p);
                if (k < 0)
                        action_exec_done(&p->x, ACTION_FAILED, "cannot stop %s: %s", p->unit, strerror(-k));
                return 0;
        }
        return action_job_reply(m, userdata, error);
}

static void transient_job_removed(ActionJob *j, const char *result) {
        ExecAction *p = (ExecAction *) j->owner;

        if (p->stopping_stale) {
                p->stopping_stale = false;
                return exec_start(&p->x);
        }
        if (p->timed_out)
                return action_exec_done(&p->x, ACTION_TIMED_OUT, "%s stopped at the timeout", p->unit);
        if (strcmp(result, "done") == 0)
                return action_exec_done(&p->x, ACTION_DONE, NULL);
        action_exec_done(&p->x, ACTION_FAILED, "%s %s (journalctl -u %s)", p->unit,
                         strcmp(result, "failed") == 0 ? "exited with failure" : result, p->unit);
}

static int transient_start(ExecAction *p, char **env) {
        const ActionInfo *in = &p->x.info;
        const Step *s = in->step;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *own = NULL;
        char description[512];
        int k;

        snprintf(p->unit, sizeof p->unit, "ec2agent-step-%s-%zu.service", in->run, in->index);
        snprintf(description, sizeof description, "ec2agent rule %s: %s", in->rule, s->argv[0]);
        k = sd_bus_message_new_method_call(p->x.actions->bus, &m, "org.freedesktop.systemd1",
                                           "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                           "StartTransientUnit");
        if (k >= 0)
                k = sd_bus_message_append(m, "ss", p->unit, "fail");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sv)");
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", description, "Type",
                                          "s", "oneshot", "CollectMode", "s", "inactive-or-failed",
                                          "TimeoutStartUSec", "t", USEC_INFINITY, "TimeoutStopUSec", "t",
                                          (uint64_t) KILL_AFTER_USEC);
        /* stopped before the agent at shutdown, so the agent sees how the step ended */
        if (k >= 0 && sd_pid_get_unit(0, &own) >= 0)
                k = sd_bus_message_append(m, "(sv)", "After", "as", 1, own);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", "Environment");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "as");
        if (k >= 0)
                k = sd_bus_message_append_strv(m, env);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", "ExecStart");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sasb");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", s->argv[0]);
        if (k >= 0)
                k = sd_bus_message_append_strv(m, s->argv);
        if (k >= 0)
                k = sd_bus_message_append(m, "b", 0);
        for (int i = 0; i < 4 && k >= 0; i++) /* the struct, the array, the variant, the property */
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m); /* the properties */
        if (k >= 0)
                k = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (k >= 0)
                k = sd_bus_call_async(p->x.actions->bus, &p->job.slot, m, transient_on_reply, &p->job, 0);
        return k;
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
        bool transient = x->actions->bus != NULL;
        _cleanup_strv_free_ char **env = NULL;
        int k;

        if (!p->line.max) { /* the first start (a stale unit's stop starts it again) */
                p->out_fd = -EBADF;
                buf_init(&p->line, EXEC_OUTPUT_MAX);
                p->job.owner = x;
                p->job.removed = transient_job_removed;
        }
        if (exec_environment(&x->info, !transient, &env) < 0)
                return action_exec_done(x, ACTION_FAILED, "out of memory");
        k = transient ? transient_start(p, env) : fork_start(p, env);
        if (k < 0)
                action_exec_done(x, ACTION_FAILED, "cannot start %s: %s", x->info.step->argv[0],
                                 strerror(-k));
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
                int k = transient_stop(p);
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
