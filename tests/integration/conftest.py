"""Integration harness: the real ec2agent binary against fakes on 127.0.0.1.

EC2AGENT_BIN names the binary (meson sets it); every agent gets its own state directory,
socket and NOTIFY_SOCKET, and every wait is bounded in time.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("EC2AGENT_SOURCE", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(SOURCE / "tests"))

from fakes.aws import FakeAws  # noqa: E402
from fakes.imds import FakeImds  # noqa: E402

BIN = os.environ.get("EC2AGENT_BIN", str(SOURCE / "build" / "ec2agent"))
# scripts/valgrind: every agent and command under memcheck, one log per process in this directory;
# waits grow by SLOW (a valgrind'ed agent is ~20 times slower, not wrong).
VALGRIND = os.environ.get("EC2AGENT_VALGRIND")
SLOW = 8 if VALGRIND else 1


def command(*args):
    if not VALGRIND:
        return [BIN, *args]
    return ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--child-silent-after-fork=yes",
            "--log-file=%s/vg-%%p.log" % VALGRIND, BIN, *args]


def pytest_configure(config):
    config.addinivalue_line("markers", "timing: asserts a duration; left out under valgrind")


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls PREDICATE until it returns a true value (returned) or TIMEOUT passes (fails)."""
    end = time.monotonic() + timeout * SLOW
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class NotifyListener:
    """A NOTIFY_SOCKET: collects the sd_notify datagrams of one agent."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.extend(data.decode(errors="replace").split("\n"))

    def seen(self, prefix):
        with self.lock:
            return [m for m in self.messages if m.startswith(prefix)]

    def close(self):
        self.running = False
        self.thread.join(1)
        self.sock.close()


class Agent:
    def __init__(self, tmp_path, config=None, env=None):
        self.dir = Path(tmp_path)
        self.state = self.dir / "state"
        self.socket = self.dir / "run" / "status.sock"
        self.etc = self.dir / "etc"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.config_path = self.etc / "config.json"
        self.write_config(config if config is not None else {})
        self.extra_env = dict(env or {})
        self.proc = None
        self.notify = None
        self.stderr_path = self.dir / "agent.stderr"
        self.started_at = None

    def write_config(self, config):
        if isinstance(config, dict) and "kmsg" not in config:
            # Not the host's /dev/kmsg unless a test asks for it: what the machine's kernel logged
            # (an earlier test's real ext4 error, say) must not change another test's health.
            empty = self.dir / "kmsg-none"
            empty.touch()
            config = dict(config, kmsg={"path": str(empty)})
        if isinstance(config, dict) and "filesystems" not in config.get("metrics", {}):
            # Nor the host's "/" (the default): a machine whose disk is 85 % full would turn every
            # test's health to warning, at 95 % to critical. /dev holds device nodes, no data: 0 %.
            config = dict(config, metrics=dict(config.get("metrics", {}), filesystems=["/dev"]))
        self.config_path.write_text(json.dumps(config) if not isinstance(config, str) else config)

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EC2AGENT_", "NOTIFY_", "WATCHDOG_"))}
        e.update({
            "STATE_DIRECTORY": str(self.state),
            "EC2AGENT_SOCKET": str(self.socket),
            # Never the real IMDS: a closed loopback port unless a test gives a fake.
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_REGION": "eu-west-1",
        })
        e.update(self.extra_env)
        return e

    def run_cli(self, *args, timeout=20, env=None):
        e = self.env()
        e.update(env or {})
        return subprocess.run(command(*args), env=e, capture_output=True, text=True, timeout=timeout * SLOW)

    def run_argv(self, args):
        """The command line of `ec2agent run` (a subclass may wrap it, e.g. in a namespace)."""
        return command("run", "--config", str(self.config_path), *args)

    def start(self, wait_ready=True, args=()):
        if self.notify:
            self.notify.close()
        notify_path = self.dir / ("notify-%d.sock" % time.monotonic_ns())
        self.notify = NotifyListener(notify_path)
        env = self.env()
        env["NOTIFY_SOCKET"] = str(notify_path)
        self.stderr = open(self.stderr_path, "a")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.run_argv(args), env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)
        if wait_ready:
            wait_for(lambda: self.notify.seen("READY=1") or self.proc.poll() is not None, 10, what="READY=1")
            assert self.proc.poll() is None, "agent exited: " + self.stderr_path.read_text()
        return self

    def status(self, *args):
        r = self.run_cli("status", "--json", *args)
        doc = json.loads(r.stdout) if r.stdout.strip() else None
        return r.returncode, doc

    def events(self, *args):
        r = self.run_cli("events", "--json", *args)
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout * SLOW)
        self.stop_seconds = time.monotonic() - t0
        return rc

    def log(self):
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.notify:
            self.notify.close()


@pytest.fixture
def agent_factory(tmp_path):
    agents = []

    def make(config=None, env=None, name=None):
        d = tmp_path / (name or "agent%d" % len(agents))
        d.mkdir()
        a = Agent(d, config, env)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.cleanup()


@pytest.fixture
def agent(agent_factory):
    return agent_factory()


@pytest.fixture
def imds():
    f = FakeImds().start()
    yield f
    f.stop()


@pytest.fixture
def aws():
    f = FakeAws().start()
    yield f
    f.stop()
