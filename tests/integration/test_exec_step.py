"""`ec2agent exec-step`, what ec2agent-step@.service runs as root, run directly with a temporary
configuration: it runs exactly the configured argv of the step the instance names, with only the
EC2AGENT_* values of the agent's environment file, and refuses everything else with a clear
message and its exit code (64 instance, 65 environment file, 78 configuration)."""
import json
import os
import subprocess

import pytest

from conftest import BIN

RULES = {"rules": [{"name": "drain", "on": ["spot-interruption"],
                    "do": [{"stop": ["app.service"]}, {"exec": ["/bin/sh", "-c", "echo \"$0 $*\"; env | sort", "a b"]}]}]}
RUN = "1765090000-3"
INSTANCE = "drain-1-1765090000\\x2d3"        # systemd-escape drain/1/1765090000-3
GOOD = "EC2AGENT_EVENT=spot-interruption\nEC2AGENT_RULE=drain\nEC2AGENT_DEADLINE=\nEC2AGENT_DETAIL={}\n"


@pytest.fixture
def step(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "config.json").write_text(json.dumps(RULES))
    envdir = tmp_path / "steps"
    envdir.mkdir()

    class Step:
        dir = tmp_path
        env_dir = envdir
        env_file = envdir / ("%s-1.env" % RUN)
        config = etc / "config.json"

        def run(self, instance=INSTANCE, env=None):
            e = {"PATH": "/usr/bin:/bin", "EC2AGENT_RULE": "from-systemd", "LANG": "C"}
            e.update(env or {})
            return subprocess.run([BIN, "exec-step", "--config", str(self.config), "--env-dir", str(envdir), "--",
                                   instance], env=e, capture_output=True, text=True, timeout=20)
    return Step()


def test_runs_the_configured_argv_with_the_files_values(step):
    step.env_file.write_text(GOOD)
    r = step.run()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "a b "     # $0 and no more arguments: the configuration's argv, exactly
    env = [l for l in lines[1:] if not l.startswith(("PWD=", "SHLVL=", "_="))]
    assert env == sorted(["EC2AGENT_DEADLINE=", "EC2AGENT_DETAIL={}", "EC2AGENT_EVENT=spot-interruption",
                          "EC2AGENT_RULE=drain", "LANG=C", "PATH=/usr/bin:/bin"])
    assert not step.env_file.exists()        # read once


@pytest.mark.parametrize("text,why", [
    ("EC2AGENT_RULE=drain\nPATH=/tmp/evil\n", "line 2: not EC2AGENT_[A-Z_]+=VALUE"),
    ("LD_PRELOAD=/tmp/evil.so\n", "line 1: not EC2AGENT_[A-Z_]+=VALUE"),
    ("EC2AGENT_RULE=drain\nEC2AGENT_RULE=other\n", "line 2: the variable is set twice"),
    ("EC2AGENT_DETAIL=a\x1b[2Jb\n", "line 1: a control character or NUL in the value"),
    ("EC2AGENT_DETAIL=a\x00LD_PRELOAD=x\n", "line 1: a control character or NUL in the value"),
    ("EC2AGENT_RULE=drain", "does not end with a newline"),
    ("EC2AGENT_lower=x\n", "line 1: not EC2AGENT_[A-Z_]+=VALUE"),
    ("EC2AGENT_X=" + "x" * 140000 + "\n", "File too large"),
], ids=["PATH", "LD_PRELOAD", "twice", "escape", "NUL", "no-newline", "lower", "too-big"])
def test_hostile_environment_files_are_refused(step, text, why):
    step.env_file.write_bytes(text.encode())
    r = step.run()
    assert r.returncode == 65, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""    # nothing ran
    assert ("is refused: %s" % why if why != "File too large" else "cannot read the step's environment file %s: %s"
            % (step.env_file, why)) in r.stderr, r.stderr
    assert "evil" not in r.stderr        # the file's text is not repeated


def test_environment_file_must_be_a_plain_file_of_its_own(step):
    secret = step.dir / "secret"
    secret.write_text("EC2AGENT_RULE=from-a-root-file\n")
    step.env_file.symlink_to(secret)
    r = step.run()
    assert r.returncode == 65 and "Too many levels of symbolic links" in r.stderr, r.stderr
    step.env_file.unlink()
    os.link(secret, step.env_file)           # a hard link to a file the agent's user could not write
    r = step.run()
    assert r.returncode == 65 and "Operation not permitted" in r.stderr, r.stderr
    step.env_file.unlink()
    os.mkfifo(step.env_file)                 # would block a plain open() and read()
    r = step.run()
    assert r.returncode == 65 and "Operation not permitted" in r.stderr, r.stderr
    step.env_file.unlink()
    r = step.run()
    assert r.returncode == 65 and "No such file or directory" in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("instance,code,why", [
    ("drain-0-1765090000\\x2d3", 64, "names no exec step: step 0 of the rule \"drain\" is a stop step, not exec"),
    ("drain-2-1765090000\\x2d3", 64, "names no exec step: the rule \"drain\" has no step 2 (it has 2)"),
    ("other-1-1765090000\\x2d3", 64, "names no exec step: no rule is named \"other\""),
    ("drain-1-1765090000-3", 64, "does not name RULE/STEP/RUN"),
    ("dr\\x61in-1-1765090000\\x2d3", 64, "is not as systemd-escape writes RULE/STEP/RUN"),
    ("drain-01-1765090000\\x2d3", 64, "names no step index"),
    ("--help", 64, "names no valid rule"),
    ("-c-tmp-evil", 64, "does not name RULE/STEP/RUN"),
])
def test_instances_that_name_no_exec_step_are_refused(step, instance, code, why):
    step.env_file.write_text(GOOD)
    r = step.run(instance)
    assert r.returncode == code and why in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert step.env_file.exists()            # not consumed by a refused instance


def test_a_broken_configuration_runs_nothing(step):
    step.env_file.write_text(GOOD)
    step.config.write_text('{"rules": [{"name": "drain", "on": ["spot-interruption"], "do": [{"exec": ["sh"]}]}]}')
    r = step.run()
    assert r.returncode == 78 and "has errors" in r.stderr and "absolute path" in r.stderr, r.stderr
    assert r.stdout == ""


def test_options_only_before_the_double_dash(step):
    r = subprocess.run([BIN, "exec-step", "--config", str(step.config), INSTANCE, "extra"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 64 and "takes exactly one INSTANCE" in r.stderr
