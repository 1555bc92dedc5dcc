"""The package as operators use it: installed with apt into a Debian rootfs standing in for an
AMI, booted with real systemd, once per release in $EC2AGENT_SYSTEM_RELEASES (Debian 12 bookworm
and 13 trixie; the one .deb, built on bookworm, in both: apt resolves its Depends in trixie too).
The unit is active at boot and sandboxed, `ec2agent status` answers inside, it reads the kernel
log and reaches AWS (signed calls to the fake endpoint, by host name) from its sandbox, a spot
notice from the fake IMDS on the host stops a real service through D-Bus and runs an exec step as
root through the template ec2agent-step@.service, an Auto Scaling termination completes the lifecycle action, and a poweroff stops
the drained units before the agent and leaves the clean-shutdown mark the next boot reports. The
agent runs as its own user, ec2agent: polkit (the package's rule) lets it stop, restart and
reboot what its rules name, start the template's instances (which run only the configured exec
steps), and refuses it anything else: StartTransientUnit above all."""
import json
import shutil
import sys

import pytest

from machine import RELEASES, Machine, build_deb, log, wait_for, SOURCE

sys.path.insert(0, str(SOURCE / "tests"))
from fakes.aws import FakeAws  # noqa: E402
from fakes.imds import FakeImds  # noqa: E402

APP = """[Unit]
Description=Stand-in application (stops gracefully on SIGTERM)

[Service]
StateDirectory=app
ExecStart=/bin/bash -c 'echo running >/var/lib/app/state; trap "echo graceful >/var/lib/app/state; exit 0" TERM; while :; do sleep 0.1 & wait $!; done'

[Install]
WantedBy=multi-user.target
"""

# Takes a second to stop: without the generator's ordering the agent would be gone before it.
SLOW = """[Unit]
Description=Stand-in worker that takes a second to stop

[Service]
StateDirectory=worker
ExecStart=/bin/sleep infinity
ExecStop=/bin/bash -c 'sleep 1; date +%%s.%%N >/var/lib/worker/stopped'

[Install]
WantedBy=multi-user.target
"""

# Enabled, and named by no rule: the agent's user must not be able to stop it.
BYSTANDER = """[Unit]
Description=A unit no rule names

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

HOOK = """#!/bin/sh
{ echo "EVENT=$EC2AGENT_EVENT"; echo "RULE=$EC2AGENT_RULE"; echo "DEADLINE=$EC2AGENT_DEADLINE"; echo "UID=$(id -u)"; cat /proc/self/cgroup; } >/var/lib/drain-hook.out
"""


def config(imds_url, aws_port):
    aws = "http://aws.test:%d" % aws_port  # a name: the sandbox must resolve it (/etc/hosts)
    return {
        "imds": {"endpoint": imds_url, "scheduled_events_interval_s": 2},
        "aws": {"endpoints": {"cloudwatch": aws, "autoscaling": aws}},
        "metrics": {"collection_interval_s": 1, "publish_interval_s": 2},
        "rules": [
            {"name": "drain",
             "on": ["spot-interruption", "asg-terminate", "maintenance:instance-retirement",
                    "maintenance:instance-stop"],
             "do": [{"stop": ["app.service"], "timeout_s": 30},
                    {"exec": ["/usr/local/bin/drain-hook"], "timeout_s": 30},
                    {"complete_lifecycle_action": {"hook": "ec2agent-drain"}}]},
            {"name": "slow-hook", "on": ["rebalance-recommendation"],
             "do": [{"exec": ["/bin/sleep", "600"], "timeout_s": 2}]},
            {"name": "maintenance-reboot", "on": ["maintenance:system-reboot"],
             "do": [{"reboot": {"max_per_day": 1}}]},
            {"name": "worker-memory",
             "when": {"metric": "mem_used_percent", "above": 99.9, "for_s": 3600},
             "do": [{"restart": ["worker.service"]}]},
        ],
    }


@pytest.fixture(scope="module", params=RELEASES)
def release(request):
    """Every test runs once per release; the fakes below depend on it, so each boot has fresh ones."""
    return request.param


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    """The package, built once for every release."""
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="module")
def imds(release):
    f = FakeImds().start()
    f.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    f.set("autoscaling/target-lifecycle-state", "InService")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def aws(release):
    f = FakeAws().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def machine(tmp_path_factory, release, deb, imds, aws):
    tmp = tmp_path_factory.mktemp("ami-" + release)
    log("image: %s base rootfs + %s" % (release, deb.name))
    m = Machine.from_base(tmp / "rootfs", release)
    r = m.install_deb(deb)
    # what apt resolved the package's Depends to in this release (trixie: the t64 names)
    log("%s: apt installed %s" % (release, " ".join(
        l.split()[1] for l in r.stdout.splitlines() if l.startswith("Unpacking "))))
    m.write("/etc/systemd/system/app.service", APP)
    m.write("/etc/systemd/system/worker.service", SLOW)
    m.write("/etc/systemd/system/bystander.service", BYSTANDER)
    m.write("/usr/local/bin/drain-hook", HOOK, 0o755)
    m.write("/etc/ec2agent/config.d/50-test.json", json.dumps(config(imds.url, aws.port), indent=2))
    hosts = m.path("/etc/hosts")  # minbase has none (netbase brings it)
    m.write("/etc/hosts", (hosts.read_text() if hosts.exists() else "127.0.0.1 localhost\n") + "127.0.0.1 aws.test\n")
    r = m.chroot("systemctl", "enable", "app.service", "worker.service", "bystander.service")
    assert r.returncode == 0, r.stderr
    r = m.chroot("ec2agent", "check-config")
    assert r.returncode == 0, r.stdout + r.stderr
    log("image ready (%s)" % release)
    state = m.boot()
    log("booted %s: %s" % (release, state))
    yield m
    m.halt()
    shutil.rmtree(m.root, ignore_errors=True)


def test_unit_active_at_boot_and_sandboxed(machine):
    os_release = dict(l.split("=", 1) for l in machine.run("cat", "/etc/os-release").stdout.splitlines() if "=" in l)
    assert os_release["VERSION_CODENAME"] == machine.release  # the release this parameter names booted
    show = machine.show("ec2agent.service", "ActiveState", "SubState", "Type", "NRestarts", "Before",
                        "UnitFileState")
    assert show["ActiveState"] == "active" and show["SubState"] == "running", show
    assert show["Type"] == "notify" and show["NRestarts"] == "0"
    assert show["UnitFileState"] == "enabled"  # dh_installsystemd enabled it
    # ec2agent-generator ordered the agent before the units its rules stop or restart
    assert {"app.service", "worker.service"} <= set(show["Before"].split())

    r = machine.run("systemd-analyze", "security", "ec2agent.service", "--no-pager")
    line = [l for l in r.stdout.splitlines() if "Overall exposure level" in l][0]
    exposure = float(line.split(":")[1].split()[0])
    log("systemd-analyze security: %s" % line.strip())
    assert exposure <= 1.5

    pid = machine.show("ec2agent.service", "MainPID")["MainPID"]
    caps = dict(l.split(":\t") for l in machine.run("cat", "/proc/%s/status" % pid).stdout.splitlines()
                if l.startswith("Cap"))
    # no capability at all: systemd opened /dev/kmsg for it (StandardInput=), reading needs none
    assert {k: int(caps[k], 16) for k in ("CapBnd", "CapPrm", "CapEff", "CapAmb")} == \
        {"CapBnd": 0, "CapPrm": 0, "CapEff": 0, "CapAmb": 0}, caps
    # not root: the package's system user, whose group reads the configuration and nothing else
    uid = machine.run("id", "-u", "ec2agent", check=True).stdout.strip()
    assert uid != "0"
    ids = dict(l.split(":\t", 1) for l in machine.run("cat", "/proc/%s/status" % pid).stdout.splitlines()
               if l.startswith(("Uid", "Gid")))
    assert ids["Uid"].split() == [uid] * 4, ids
    assert machine.run("stat", "-c", "%a %U %G", "/etc/ec2agent/config.json").stdout.split() == \
        ["640", "root", "ec2agent"]
    assert machine.run("stat", "-c", "%U", "/var/lib/ec2agent").stdout.strip() == "ec2agent"

    status = machine.status()
    # /dev/kmsg read without CAP_SYSLOG (dmesg_restrict=1), from the descriptor systemd opened
    assert status["kernel"]["kmsg"]["path"] == "/dev/kmsg" and status["kernel"]["kmsg"]["records"] > 0
    assert status["agent"]["pid"] == int(pid)
    assert status["instance"]["instance_id"] == "i-0abc1234def567890"  # the host's fake IMDS
    assert status["health"] in ("ok", "warning")
    # PID 1's mount table (bound in: ProtectProc=invisible hides /proc/1), not the sandbox's
    # read-only view of it
    assert status["filesystems"] and not any(f["read_only"] for f in status["filesystems"]), status["filesystems"]
    human = machine.run("ec2agent", "status")
    assert human.returncode in (0, 1) and "i-0abc1234def567890" in human.stdout


# A client of the NVMe helper's socket (perl-base is in every Debian rootfs): the request from
# argv, the reply as hex, the connect error on stderr.
NVME_ASK = r"""#!/usr/bin/perl
use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => "/run/ec2agent-nvme.sock") or die "connect: $!\n";
print $s $ARGV[0];
$s->shutdown(1);
local $/;
my $r = <$s>;
print unpack("H*", $r // "");
"""


def test_nvme_helper_socket_is_root_and_narrow(machine):
    """EBS statistics need CAP_SYS_ADMIN (NVMe admin Get Log Page), which the agent has not: the
    package's socket starts a root helper per connection. It listens, only root and group
    ec2agent may connect, its service is sandboxed to that one capability, and it answers the
    agent's user for a controller this machine does not have (no NVMe in a container) with
    -ENODEV, and a hostile request with nothing."""
    show = machine.show("ec2agent-nvme.socket", "ActiveState", "SubState", "UnitFileState", "Accept")
    assert show == {"ActiveState": "active", "SubState": "listening", "UnitFileState": "enabled",
                    "Accept": "yes"}, show
    assert machine.run("stat", "-c", "%a %U %G %F", "/run/ec2agent-nvme.sock").stdout.split() == \
        ["660", "root", "ec2agent", "socket"]
    # the template has no [Install]: nothing enables it, only the socket starts it
    assert machine.run("systemctl", "is-enabled", "ec2agent-nvme@.service").stdout.strip() == "static"

    r = machine.run("systemd-analyze", "security", "ec2agent-nvme@x.service", "--no-pager")
    line = [l for l in r.stdout.splitlines() if "Overall exposure level" in l][0]
    exposure = float(line.split(":")[1].split()[0])
    log("systemd-analyze security (helper): %s" % line.strip())
    assert exposure <= 1.5

    machine.write("/usr/local/bin/nvme-ask", NVME_ASK, 0o755)
    r = machine.run("runuser", "-u", "ec2agent", "--", "/usr/local/bin/nvme-ask", "nvme9999\n")
    assert r.returncode == 0, r.stderr
    # "nvme9999", status -19 (ENODEV) little-endian, length 0
    assert r.stdout == "6e766d6539393939" + "edffffff" + "00000000", r.stdout
    r = machine.run("runuser", "-u", "ec2agent", "--", "/usr/local/bin/nvme-ask", "../../dev/sda\n")
    assert r.returncode == 0 and r.stdout == "", r
    # another user cannot connect at all (0660 root:ec2agent)
    r = machine.run("runuser", "-u", "nobody", "--", "/usr/local/bin/nvme-ask", "nvme1\n")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    # every instance ran and is gone (CollectMode=inactive-or-failed: the refused one too)
    wait_for(lambda: "ec2agent-nvme@" not in machine.run("systemctl", "list-units", "--all", "--no-legend",
                                                          "ec2agent-nvme@*").stdout,
             timeout=20, what="the helper instances gone")


def test_metrics_reach_aws_from_the_sandbox(machine, aws):
    """PutMetricData from inside the sandbox, to an endpoint named in /etc/hosts, signed with the
    instance profile's keys from IMDS: name resolution, TCP and SigV4 all work under the unit's
    RestrictAddressFamilies= and system-call filter."""
    put = wait_for(lambda: aws.accepted("PutMetricData"), timeout=30, what="PutMetricData from the container")[0]
    assert put["service"] == "monitoring" and put["region"] == "eu-west-1"
    assert put["access_key"] == "ASIAFAKEIMDSKEY00001" and put["params"]["Namespace"] == "CWAgent"
    assert aws.rejected == []
    wait_for(lambda: machine.status()["cloudwatch"]["published_datapoints"] > 0, what="published in status")


def test_spot_notice_drains_real_units(machine, imds):
    assert machine.run("systemctl", "is-active", "app.service").stdout.strip() == "active"
    imds.set("spot/instance-action", json.dumps({"action": "terminate", "time": "2099-01-01T00:02:00Z"}))

    wait_for(lambda: machine.run("systemctl", "is-active", "app.service").stdout.strip() == "inactive",
             timeout=20, what="app.service stopped by the drain")
    assert machine.path("/var/lib/app/state").read_text().strip() == "graceful"

    def finished():
        acts = machine.status()["actions"]
        return acts if acts and all(a["state"] not in ("pending", "running") for a in acts) else None
    actions = wait_for(finished, timeout=20, what="the drain to finish")
    by_step = {a["step"]: a for a in actions}
    assert by_step["stop"]["target"] == "app.service" and by_step["stop"]["state"] == "done"
    assert by_step["exec"]["state"] == "done", by_step["exec"]
    assert by_step["complete_lifecycle_action"]["state"] == "skipped"  # a spot notice

    # the exec step ran as root in an instance of ec2agent-step@.service, outside the agent's
    # sandbox and cgroup: ec2agent-step@RULE-STEP-RUN.service, as systemd-escape spells it
    out = machine.path("/var/lib/drain-hook.out").read_text()
    assert "EVENT=spot-interruption" in out and "RULE=drain" in out
    assert "DEADLINE=2099-01-01T00:02:00Z" in out
    assert "UID=0" in out
    cgroup = [l for l in out.splitlines() if l.startswith("0::")][0]
    escaped = machine.run("systemd-escape", "drain/1/%s" % by_step["exec"]["run"], check=True).stdout.strip()
    assert cgroup.endswith("/ec2agent-step@%s.service" % escaped), cgroup
    assert "ec2agent.service" not in cgroup
    unit = cgroup.rsplit("/", 1)[1]
    assert machine.run("ls", "-A", "/run/ec2agent/steps", check=True).stdout == ""  # read once, removed
    # collected by systemd once it ended (CollectMode=inactive-or-failed)
    assert machine.run("systemctl", "is-active", unit).stdout.strip() in ("inactive", "unknown")

    r = machine.run("ec2agent", "events", "--json")
    types = [json.loads(l)["type"] for l in r.stdout.splitlines()]
    assert "spot-interruption" in types and "rule-fired" in types
    assert types.count("action-done") == 3
    assert machine.status()["health"] == "critical"


def test_exec_step_stopped_at_its_timeout(machine, imds):
    imds.set("events/recommendations/rebalance", json.dumps({"noticeTime": "2099-01-01T00:00:00Z"}))

    def slow():
        acts = [a for a in machine.status()["actions"] if a["rule"] == "slow-hook"]
        return acts if acts and acts[0]["state"] not in ("pending", "running") else None
    act = wait_for(slow, timeout=30, what="the slow exec step to end")[0]
    assert act["state"] == "timed-out" and "stopped at the timeout" in act["error"], act
    r = machine.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "ec2agent-step*")
    cmdlines = machine.run("sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null").stdout
    assert "/bin/sleep\x00600" not in cmdlines  # killed, nothing left running
    assert "activ" not in r.stdout.replace("inactive", ""), r.stdout
    imds.delete("events/recommendations/rebalance")


def test_asg_termination_completes_the_lifecycle_action(machine, imds, aws):
    """The same drain on an Auto Scaling termination, and then CompleteLifecycleAction: the group
    from the instance's tag, the instance's own id, CONTINUE, signed from the sandbox."""
    imds.set("autoscaling/target-lifecycle-state", "Terminated")
    done = wait_for(lambda: aws.accepted("CompleteLifecycleAction"), timeout=30, what="CompleteLifecycleAction")[0]
    p = done["params"]
    assert (p["Version"], p["AutoScalingGroupName"], p["LifecycleHookName"], p["InstanceId"],
            p["LifecycleActionResult"]) == ("2011-01-01", "web-asg", "ec2agent-drain", "i-0abc1234def567890",
                                            "CONTINUE")
    assert done["service"] == "autoscaling" and done["access_key"] == "ASIAFAKEIMDSKEY00001"
    assert aws.rejected == []

    def finished():
        acts = [a for a in machine.status()["actions"] if a["event"] == "asg-terminate"]
        return acts if acts and all(a["state"] not in ("pending", "running") for a in acts) else None
    acts = wait_for(finished, timeout=20, what="the termination drain to finish")
    assert [(a["step"], a["state"]) for a in acts] == [("stop", "done"), ("exec", "done"),
                                                       ("complete_lifecycle_action", "done")]
    assert "EVENT=asg-terminate" in machine.path("/var/lib/drain-hook.out").read_text()
    imds.set("autoscaling/target-lifecycle-state", "InService")


def busctl_as_agent(machine, method, unit):
    return machine.run("runuser", "-u", "ec2agent", "--", "busctl", "call", "--system", "org.freedesktop.systemd1",
                       "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", method, "ss", unit, "replace")


def test_polkit_refuses_what_no_rule_names(machine):
    """The agent's user may restart the unit a rule restarts (worker.service), and nothing it has no
    rule for: stopping bystander.service over D-Bus is refused by polkit, and it keeps running."""
    assert machine.run("systemctl", "is-active", "bystander.service").stdout.strip() == "active"
    r = busctl_as_agent(machine, "StopUnit", "bystander.service")
    assert r.returncode != 0 and ("Access denied" in r.stderr or "authentication" in r.stderr.lower()), r
    r = busctl_as_agent(machine, "StartUnit", "poweroff.target")
    assert r.returncode != 0, r
    assert machine.run("systemctl", "is-active", "bystander.service").stdout.strip() == "active"
    before = machine.show("worker.service", "MainPID")["MainPID"]
    r = busctl_as_agent(machine, "RestartUnit", "worker.service")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: machine.show("worker.service", "MainPID")["MainPID"] not in ("0", before), timeout=20,
             what="worker.service restarted by the agent's user")


def step_journal(machine, unit):
    return machine.run("journalctl", "--no-pager", "-o", "cat", "-u", unit).stdout


def test_agent_user_cannot_run_root_commands(machine):
    """Whatever the agent's user asks, root runs only the configured exec steps. StartTransientUnit
    is refused (systemd 252: polkit sees no unit; later systemd: polkit sees the unit, and a
    transient unit cannot take the name of the template's instance); the template's instances it
    may start run exec-step, which refuses an instance naming no exec step and an environment file
    with anything but EC2AGENT_* values, running nothing."""
    for name in ("ec2agent-step-1-2-3.service", "ec2agent-step@drain-1-1\\x2d2.service", "pwned.service"):
        r = machine.run("runuser", "-u", "ec2agent", "--", "systemd-run", "--no-ask-password", "--unit", name,
                        "/usr/bin/touch", "/var/lib/pwned")
        assert r.returncode != 0, (name, r)
        assert not machine.path("/var/lib/pwned").exists(), name
    r = machine.run("runuser", "-u", "ec2agent", "--", "busctl", "call", "--system", "org.freedesktop.systemd1",
                    "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartTransientUnit",
                    "ssa(sv)a(sa(sv))", "ec2agent-step-9-9-9.service", "fail", "1", "ExecStart", "a(sasb)", "1",
                    "/usr/bin/touch", "2", "/usr/bin/touch", "/var/lib/pwned", "false", "0")
    assert r.returncode != 0 and not machine.path("/var/lib/pwned").exists(), r

    # step 0 of "drain" is a stop step: the instance names no exec step
    unit = "ec2agent-step@drain-0-1\\x2d2.service"
    r = busctl_as_agent(machine, "StartUnit", unit)
    assert r.returncode == 0, r.stderr          # polkit lets it start the template's instances...
    wait_for(lambda: "names no exec step" in step_journal(machine, unit), timeout=20,
             what="exec-step refusing %s" % unit)   # ...which refuse what is no exec step

    # slow-hook's step 0 is /bin/sleep 600: an environment file with LD_PRELOAD is refused
    r = machine.run("runuser", "-u", "ec2agent", "--", "sh", "-c",
                    "mkdir -p /run/ec2agent/steps && printf 'EC2AGENT_RULE=x\\nLD_PRELOAD=/tmp/x.so\\n' "
                    ">/run/ec2agent/steps/1-2-0.env")
    assert r.returncode == 0, r.stderr
    unit = "ec2agent-step@slow\\x2dhook-0-1\\x2d2.service"
    r = busctl_as_agent(machine, "StartUnit", unit)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "is refused: line 2" in step_journal(machine, unit), timeout=20,
             what="exec-step refusing the environment file")
    cmdlines = machine.run("sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null").stdout
    assert "/bin/sleep\x00600" not in cmdlines


def test_reboot_step_reboots(machine, imds):
    """A scheduled system-reboot fires the rule whose step reboots: reboot.target, started by the
    agent's user through polkit. The container reboots (nspawn exits), boots again, and the agent
    reports the boot before as clean."""
    first_boot = machine.status()["kernel"]["boot_id"]
    imds.set("events/maintenance/scheduled", json.dumps([{
        "NotBefore": "1 Jan 2099 02:00:00 GMT", "NotAfter": "1 Jan 2099 04:00:00 GMT", "Code": "system-reboot",
        "Description": "scheduled reboot", "EventId": "instance-event-0reboot0000000001", "State": "active"}]))
    machine.proc.wait(timeout=90)  # a reboot ends systemd-nspawn (status 133)
    log("rebooted: nspawn exited with %s" % machine.proc.returncode)
    machine.halt()
    imds.set("events/maintenance/scheduled", "[]")
    machine.boot()
    status = wait_for(lambda: machine.status(), what="status after the reboot")
    prev = status["kernel"]["previous_boot"]
    assert prev["boot_id"] == first_boot and prev["clean_shutdown"] is True
    assert [a["step"] for a in status["actions"] if a["rule"] == "maintenance-reboot"] == ["reboot"]


def test_poweroff_stops_drained_units_first_and_leaves_a_clean_mark(machine, imds):
    imds.delete("spot/instance-action")
    first_boot = machine.status()["kernel"]["boot_id"]
    machine.poweroff()
    log("powered off")
    mark = machine.path("/var/lib/ec2agent/clean-shutdown")
    assert mark.read_text().strip() == first_boot
    stopped = machine.path("/var/lib/worker/stopped")
    # worker.service took a second to stop, and the agent still outlived it
    assert stopped.stat().st_mtime <= mark.stat().st_mtime

    machine.boot()
    status = wait_for(lambda: machine.status(), what="status after the second boot")
    prev = status["kernel"]["previous_boot"]
    assert prev["boot_id"] == first_boot and prev["clean_shutdown"] is True
    r = machine.run("ec2agent", "events", "--type", "previous-boot-crash", "--json")
    assert r.returncode == 0 and r.stdout.strip() == ""
    show = machine.show("ec2agent.service", "ActiveEnterTimestampMonotonic")
    init = machine.show("init.scope", "ActiveEnterTimestampMonotonic")
    log("%s: boot -> READY=1: %.0f ms" % (machine.release, (int(show["ActiveEnterTimestampMonotonic"]) -
                                                           int(init["ActiveEnterTimestampMonotonic"])) / 1000))
