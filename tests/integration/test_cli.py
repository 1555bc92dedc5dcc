"""The command line: usage errors, help, version, check-config, run refusing bad input."""
import json
import os
import subprocess

import pytest

from conftest import BIN


def test_version_and_help(agent):
    r = agent.run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("ec2agent 0.")
    r = agent.run_cli("--help")
    assert r.returncode == 0
    for cmd in ("run", "status", "events", "check-config"):
        assert "ec2agent " + cmd in r.stdout
    r = agent.run_cli("help", "events")
    assert r.returncode == 0 and "--since WHEN" in r.stdout
    r = agent.run_cli("status", "--help")
    assert r.returncode == 0 and "Exit code" in r.stdout


@pytest.mark.parametrize("args,needle", [
    ((), "Usage"),
    (("frobnicate",), "unknown command 'frobnicate'"),
    (("status", "--frob"), "unknown option '--frob'"),
    (("status", "--socket"), "option '--socket' needs a value"),
    (("status", "extra"), "unexpected argument 'extra'"),
    (("events", "--since", "yesterday"), "--since takes"),
    (("events", "--type", "spot"), "unknown event type 'spot'"),
    (("run", "--bogus"), "unknown option '--bogus'"),
    (("help", "nothing"), "unknown command 'nothing'"),
])
def test_usage_errors_exit_64(agent, args, needle):
    r = agent.run_cli(*args)
    assert r.returncode == 64
    assert needle in r.stderr


def test_check_config_valid(agent):
    agent.write_config({"imds": {"poll_interval_s": 2},
                        "rules": [{"name": "drain", "on": ["spot-interruption"],
                                   "do": [{"stop": ["app.service"]}]}]})
    r = agent.run_cli("check-config", "--config", str(agent.config_path))
    assert r.returncode == 0, r.stderr
    assert "valid (1 rule)" in r.stdout


def test_check_config_errors_one_line_each(agent):
    agent.write_config({"imds": {"poll_interval_s": 0, "enabld": True},
                        "metrics": {"namespace": "AWS/EC2"}})
    r = agent.run_cli("check-config", "--config", str(agent.config_path))
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    path = str(agent.config_path)
    assert lines == [
        path + ": imds.poll_interval_s: must be between 1 and 3600, not 0",
        path + ": imds.enabld: unknown key (did you mean \"enabled\"?)",
        path + ": metrics.namespace: must not start with \"AWS/\" (reserved for AWS services)",
    ]


def test_check_config_dropin_named(agent):
    d = agent.etc / "config.d"
    d.mkdir()
    (d / "50-drain.json").write_text(json.dumps({"rules": [{"name": "x", "on": ["spot-interruption"],
                                                           "do": [{"stop": ["nginx"]}]}]}))
    r = agent.run_cli("check-config", "--config", str(agent.config_path))
    assert r.returncode == 78
    assert r.stderr.startswith(str(d / "50-drain.json") + ": rules[0].do[0].stop[0]: ")


def test_run_invalid_config_exits_78_before_anything(agent):
    agent.write_config('{"kmsg": {"enabled": "yes"}}')
    r = agent.run_cli("run", "--config", str(agent.config_path))
    assert r.returncode == 78
    assert "kmsg.enabled: must be true or false" in r.stderr
    assert not agent.state.exists()          # nothing was created
    assert not agent.socket.exists()


def test_run_missing_explicit_config(agent):
    r = agent.run_cli("run", "--config", str(agent.dir / "nope.json"))
    assert r.returncode == 78
    assert "nope.json: $: cannot read: No such file or directory" in r.stderr


def test_run_unwritable_state_directory_names_it(agent, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = agent.run_cli("run", "--config", str(agent.config_path),
                      env={"STATE_DIRECTORY": str(blocker / "state")})
    assert r.returncode == 73
    assert str(blocker / "state") in r.stderr


def test_status_unreachable_is_unknown(agent):
    r = agent.run_cli("status")
    assert r.returncode == 3
    assert "UNKNOWN" in r.stderr and str(agent.socket) in r.stderr
    r = agent.run_cli("status", "--json", "--socket", "/nonexistent/s.sock")
    assert r.returncode == 3 and r.stdout == ""


def test_events_empty_history(agent):
    r = agent.run_cli("events")
    assert r.returncode == 0 and r.stdout == ""


def test_catalog_explains_every_message_id():
    import re
    from conftest import SOURCE
    ids = set(re.findall(r'#define MID_\w+\s+"([0-9a-f]{32})"',
                         (SOURCE / "include/ec2agent/catalog-ids.h").read_text()))
    catalog = (SOURCE / "units/ec2agent.catalog").read_text()
    entries = re.findall(r"^-- ([0-9a-f]{32})\nSubject: .+\n", catalog, re.M)
    assert len(ids) == 24
    assert set(entries) == ids and len(entries) == len(ids)


def test_shipped_configuration_and_the_drain_dropin(agent, tmp_path):
    import shutil
    from conftest import SOURCE
    etc = tmp_path / "etc-shipped"
    (etc / "config.d").mkdir(parents=True)
    shutil.copy(SOURCE / "data/config.json", etc / "config.json")
    r = agent.run_cli("check-config", "--config", str(etc / "config.json"))
    assert r.returncode == 0 and "valid (1 rule)" in r.stdout, r.stderr
    # The README's drop-in replaces the shipped "drain" rule, it does not add a second one.
    shutil.copy(SOURCE / "data/50-drain.json.example", etc / "config.d" / "50-drain.json")
    r = agent.run_cli("check-config", "--config", str(etc / "config.json"))
    assert r.returncode == 0 and "valid (1 rule)" in r.stdout, r.stderr


def test_generator_orders_the_agent_before_the_drained_units(agent, tmp_path):
    """Called as ec2agent-generator, the binary writes a drop-in that makes the units the rules stop
    or restart stop before the agent at shutdown; a bad configuration writes nothing and never
    fails the boot."""
    gen = tmp_path / "ec2agent-generator"
    gen.symlink_to(BIN)
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps({"rules": [
        {"name": "drain", "on": ["spot-interruption"],
         "do": [{"stop": ["nginx.service", "app.service"]}, {"exec": ["/bin/true"]}]},
        {"name": "mem", "when": {"metric": "mem_used_percent", "above": 90, "for_s": 60},
         "do": [{"restart": ["app.service", "worker@1.service"]}]},
    ]}))
    out = tmp_path / "normal"
    out.mkdir()
    r = subprocess.run([str(gen), "--config", str(conf), str(out), str(out), str(out)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    dropin = (out / "ec2agent.service.d" / "50-drained-units.conf").read_text()
    assert "[Unit]\nBefore=nginx.service app.service worker@1.service\n" in dropin
    # what the polkit rule grants besides stop/restart of those units (ec2agent.rules reads it)
    assert "\n# polkit: exec\n" in dropin

    conf.write_text(json.dumps({"rules": [{"name": "r", "on": ["spot-interruption"],
                                           "do": [{"reboot": {}}]}]}))
    out3 = tmp_path / "reboot"
    out3.mkdir()
    r = subprocess.run([str(gen), "--config", str(conf), str(out3)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    dropin = (out3 / "ec2agent.service.d" / "50-drained-units.conf").read_text()
    assert "\n# polkit: reboot\n[Unit]\n" in dropin and "Before=" not in dropin

    conf.write_text('{"rules": [{"name": "x", "on": ["spot-interruption"], "do": [{"stop": []}]}], "bogus": 1}')
    out2 = tmp_path / "normal2"
    out2.mkdir()
    r = subprocess.run([str(gen), "--config", str(conf), str(out2)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    assert "no ordering written" in r.stderr
    assert not (out2 / "ec2agent.service.d").exists()

    conf.write_text('{}')  # no rule stops a unit: no drop-in
    r = subprocess.run([str(gen), "--config", str(conf), str(out2)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and not (out2 / "ec2agent.service.d").exists()
    r = subprocess.run([str(gen)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 64 and "usage" in r.stderr


# ---- report -o FILE (issue 15 items 8 and 9, SPEC §9) ----

def _report_agent(agent_factory, tmp_path):
    pstore = tmp_path / "pstore"
    pstore.mkdir()
    a = agent_factory(config={"kernel": {"pstore_path": str(pstore)}, "imds": {"enabled": False},
                              "kmsg": {"enabled": False}, "metrics": {"enabled": False}})
    a.pstore = pstore
    return a


def _report(a, out, umask=None):
    e = a.env()
    return subprocess.run([BIN, "report", "--config", str(a.config_path), "-o", str(out)], env=e,
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def test_report_refuses_a_symlink_and_leaves_its_target(agent_factory, tmp_path):
    a = _report_agent(agent_factory, tmp_path)
    target = tmp_path / "precious"
    target.write_text("precious\n")
    link = tmp_path / "bundle.tar.gz"
    link.symlink_to(target)
    r = _report(a, link)
    assert r.returncode == 1
    assert "Refusing to write %s" % link in r.stderr
    assert target.read_text() == "precious\n"
    assert os.readlink(link) == str(target)
    dangling = tmp_path / "dangling.tar.gz"
    dangling.symlink_to(tmp_path / "created-through-link")
    assert _report(a, dangling).returncode == 1
    assert not (tmp_path / "created-through-link").exists()


def test_report_refuses_an_existing_file(agent_factory, tmp_path):
    a = _report_agent(agent_factory, tmp_path)
    out = tmp_path / "bundle.tar.gz"
    out.write_text("earlier bundle\n")
    r = _report(a, out)
    assert r.returncode == 1 and "it exists" in r.stderr
    assert out.read_text() == "earlier bundle\n"


def test_report_is_mode_0600_whatever_the_umask(agent_factory, tmp_path):
    a = _report_agent(agent_factory, tmp_path)
    out = tmp_path / "bundle.tar.gz"
    r = _report(a, out, umask=0)
    assert r.returncode == 0, r.stderr
    assert os.stat(out).st_mode & 0o777 == 0o600


def test_report_long_names_and_an_entry_tar_cannot_hold(agent_factory, tmp_path):
    """A member name over 100 bytes (host name plus a pstore file) aborted the whole bundle."""
    import tarfile
    a = _report_agent(agent_factory, tmp_path)
    long_file = "dmesg-efi_pstore-" + "1" * 70                     # the member name is far past 100 bytes
    (a.pstore / long_file).write_text("Kernel panic - not syncing: long name\n")
    deep = a.pstore / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "dmesg-ramoops-0").write_text("Oops: deep\n")
    too_long = "x" * 120                                           # no ustar split can hold it
    (a.pstore / too_long).write_text("lost\n")
    out = tmp_path / "bundle.tar.gz"
    r = _report(a, out)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        by_name = {n.split("/", 1)[1]: n for n in names}
        assert tar.extractfile(by_name["pstore/" + long_file]).read() == b"Kernel panic - not syncing: long name\n"
        assert tar.extractfile(by_name["pstore/%s/%s/dmesg-ramoops-0" % ("d" * 60, "e" * 60)]).read() == \
            b"Oops: deep\n"
        assert len(by_name["pstore/" + long_file]) > 100
        assert not any(too_long in n for n in names)
        skipped = tar.extractfile(top + "/skipped.txt").read().decode()
        assert "pstore/" + too_long in skipped and "too long" in skipped
        assert {"summary.txt", "config.json", "meminfo.txt"} <= set(by_name)
        assert all(m.mode == 0o600 for m in tar.getmembers())
    # GNU tar reads it the same way, when it is installed
    if os.path.exists("/usr/bin/tar") or os.path.exists("/bin/tar"):
        x = tmp_path / "x"
        x.mkdir()
        subprocess.run(["tar", "-xzf", str(out), "-C", str(x)], check=True, timeout=30)
        assert (x / top / "pstore" / long_file).read_text() == "Kernel panic - not syncing: long name\n"


def test_report_text_escapes_control_characters(agent_factory, tmp_path):
    a = _report_agent(agent_factory, tmp_path)
    (a.pstore / "dmesg-ramoops-0").write_bytes(b"Oops: \x1b]0;pwned\x07 \x1b[2J \xc2\x9b31m\nnext line\n")
    r = subprocess.run([BIN, "report", "--config", str(a.config_path), "-o", "-"], env=a.env(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout and b"\xc2\x9b" not in r.stdout
    assert b"Oops: \\x1b]0;pwned\\x07 \\x1b[2J \\u009b31m\nnext line\n" in r.stdout


# ---- terminal escapes (issue 15 item 4) ----

HOSTILE = "x\x1b]0;pwned\x07\x1b[2J\x9b31m\r\nMAINPID=1\x7fend"   # (cJSON cuts a string at \\u0000)


def _serve_once(path, body, count=1):
    """A fake agent: answers COUNT connections on PATH with BODY (bytes), in a thread."""
    import socket
    import threading
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(4)
    s.settimeout(20)

    def run():
        for _ in range(count):
            try:
                c, _ = s.accept()
            except OSError:
                break
            c.settimeout(5)
            try:
                c.recv(256)
                c.sendall(body)
            finally:
                c.close()
        s.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_status_human_form_escapes_control_characters(agent, tmp_path):
    doc = {"schema_version": 1, "health": "warning", "reasons": ["oom kill of " + HOSTILE],
           "agent": {"version": "0.1.0" + HOSTILE, "pid": 1, "uptime_s": 5},
           "instance": {"on_ec2": True, "instance_id": "i-" + HOSTILE, "instance_type": "t3.micro",
                        "availability_zone": HOSTILE, "ami_id": "ami-1", "asg_name": HOSTILE},
           "imds": {"reachable": False, "last_error": HOSTILE, "last_ok_at": None},
           "notices": {"spot": None, "rebalance": None, "asg_target_lifecycle_state": HOSTILE,
                       "scheduled": [{"code": HOSTILE, "event_id": HOSTILE, "state": "active",
                                      "not_before": HOSTILE, "not_after": HOSTILE}]},
           "memory": {"total_bytes": 1, "available_bytes": 1, "used_percent": 1},
           "filesystems": [{"path": HOSTILE, "fstype": HOSTILE, "device": HOSTILE, "used_percent": 1}],
           "kernel": {"oom_kills": 1, "last_oom": {"process": HOSTILE, "pid": 4, "at": HOSTILE},
                      "taint_flags": HOSTILE, "kmsg": {"error": HOSTILE, "path": HOSTILE},
                      "problems": [{"class": "kernel-oops", "count": 1, "at": HOSTILE, "message": HOSTILE}],
                      "previous_boot": {"clean_shutdown": False, "boot_id": HOSTILE}},
           "cloudwatch": {"enabled": True, "last_error": HOSTILE},
           "rules": [{"name": HOSTILE, "state": HOSTILE}],
           "actions": [{"rule": HOSTILE, "step": "exec", "target": HOSTILE, "state": "done"}]}
    sock = tmp_path / "fake.sock"
    body = json.dumps(doc).encode()
    t = _serve_once(sock, body, 2)
    r = subprocess.run([BIN, "status", "--socket", str(sock)], capture_output=True, timeout=20,
                       env=dict(agent.env(), COLUMNS="400"))
    assert r.returncode == 1, r.stderr
    out = r.stdout
    for bad in (b"\x1b", b"\x07", b"\x9b", b"\xc2\x9b", b"\r", b"\x7f", b"\x00"):
        assert bad not in out, (bad, out)
    assert b"\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\x0d\\x0aMAINPID=1\\x7fend" in out
    assert not any(line.startswith(b"MAINPID") for line in out.split(b"\n"))
    # the JSON form stays JSON: cJSON escapes, nothing raw either
    r = subprocess.run([BIN, "status", "--json", "--socket", str(sock)], capture_output=True, timeout=20,
                       env=agent.env())
    t.join(5)
    assert b"\x1b" not in r.stdout and json.loads(r.stdout)["reasons"] == ["oom kill of " + HOSTILE]


def test_events_human_form_escapes_control_characters(agent):
    agent.state.mkdir(parents=True, exist_ok=True)
    ev = {"at": "2026-11-23T10:02:00Z", "boot_id": "b", "type": "segfault" + HOSTILE, "severity": "warning",
          "summary": "segfault of " + HOSTILE, "detail": {"message": HOSTILE}}
    (agent.state / "events.jsonl").write_text(json.dumps(ev) + "\n")
    r = subprocess.run([BIN, "events"], capture_output=True, timeout=20, env=agent.env())
    assert r.returncode == 0, r.stderr
    for bad in (b"\x1b", b"\x07", b"\x9b", b"\r", b"\x7f", b"\x00"):
        assert bad not in r.stdout, (bad, r.stdout)
    assert b"segfault of x\\x1b]0;pwned" in r.stdout and r.stdout.count(b"\n") == 1
    r = subprocess.run([BIN, "events", "--json"], capture_output=True, timeout=20, env=agent.env())
    assert json.loads(r.stdout)["summary"] == "segfault of " + HOSTILE
