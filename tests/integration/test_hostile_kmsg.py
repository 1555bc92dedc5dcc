"""Hostile kernel log text: what an unprivileged user can make the kernel print must never
forge a line of sd_notify, a journal field, a terminal escape or invalid UTF-8 (issue 15)."""
import json
import re

import pytest

import conftest
from conftest import wait_for
from test_kmsg import KernelLog

# What the agent itself sends to NOTIFY_SOCKET (agent/daemon.c, sd-event's watchdog).
OWN_NOTIFY = re.compile(r"^(READY=1|STOPPING=1|WATCHDOG=1|STATUS=[^\n]*|)$")


class RawNotifyListener(conftest.NotifyListener):
    """Keeps every datagram as bytes too: a forged line or invalid UTF-8 must not be hidden by
    the decoding of the harness's listener."""

    def _run(self):
        self.raw = []
        while self.running:
            try:
                data = self.sock.recv(65536)
            except conftest.socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.raw.append(data)
                self.messages.extend(data.decode(errors="replace").split("\n"))

    def datagrams(self):
        with self.lock:
            return list(getattr(self, "raw", []))


@pytest.fixture
def raw_notify(monkeypatch):
    monkeypatch.setattr(conftest, "NotifyListener", RawNotifyListener)


def assert_clean_text(what, data):
    """DATA (bytes) is strict UTF-8 and holds no control character but the line ends given."""
    text = data.decode("utf-8")   # strict: raises on invalid UTF-8
    bad = [c for c in text if ord(c) < 0x20 and c != "\n" or ord(c) == 0x7f or 0x80 <= ord(c) < 0xa0]
    assert not bad, "%s holds control characters %r: %r" % (what, bad, text[:300])
    return text


def assert_own_notify_lines(datagrams):
    for d in datagrams:
        text = assert_clean_text("an sd_notify datagram", d)
        for line in text.split("\n"):
            assert OWN_NOTIFY.match(line), "a line the agent does not send: %r in %r" % (line, text)


OOM = ("Out of memory: Killed process 4242 (%s) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
       "shmem-rss:0kB, UID:65534 pgtables:10kB oom_score_adj:0")


def test_oom_victim_cannot_forge_sd_notify_lines(raw_notify, agent_factory, tmp_path):
    """An OOM victim named "x\\nMAINPID=1\\n" (as the kernel escapes it) is the first health
    reason: STATUS= carries it escaped, on one line, and no MAINPID=/WATCHDOG=/STOPPING= line."""
    log = KernelLog(str(tmp_path / "kmsg.fifo"))
    a = agent_factory(config={"kmsg": {"path": log.path}, "imds": {"enabled": False},
                              "metrics": {"enabled": False}})
    try:
        a.start()
        for name in ("x\\x0aMAINPID=1\\x0a", "y\\x0aWATCHDOG=trigger\\x0dSTOPPING=1\\x0a"):
            log.write(OOM % name)
        status = wait_for(lambda: [m for m in a.notify.seen("STATUS=") if "OOM kill" in m], 15,
                          what="STATUS= with the OOM kill")
        a.stop()
        datagrams = a.notify.datagrams()
        assert_own_notify_lines(datagrams)
        assert not any(line.startswith((b"MAINPID=", b"WATCHDOG=trigger")) for d in datagrams
                       for line in d.split(b"\n"))
        assert "x\\x0aMAINPID=1\\x0a" in status[0] or "y\\x0aWATCHDOG=trigger\\x0dSTOPPING=1\\x0a" in status[0]
        for ev in a.events("--type", "oom-kill"):
            assert "\n" not in json.dumps(ev["detail"]["process"]) and ev["detail"]["process"].startswith(("x\\x0a", "y\\x0a"))
    finally:
        log.close()
