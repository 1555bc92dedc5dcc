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
    assert len(ids) == 22
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
