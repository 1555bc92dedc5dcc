"""The NVMe statistics helper (ec2agent-nvme, ebs-helper.h): the root side of page 0xD0 for a daemon
without CAP_SYS_ADMIN. The helper run directly against fake devices (EC2AGENT_TEST_NITRO) with
hostile requests, and the daemon asking it through a socket in a temporary directory
(EC2AGENT_TEST_NVME_SOCKET, the way ec2agent-nvme.socket's Accept=yes hands it a connection)."""
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, wait_for
from test_nitro import CONFIG, FakeNitro, page

HELPER = str(Path(BIN).parent / "ec2agent-nvme")
EMEDIUMTYPE, ENODEV = 124, 19


def run_helper(root, request, timeout=10):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "EC2AGENT_TEST_NITRO": str(root)}
    return subprocess.run([HELPER], input=request, env=env, capture_output=True, timeout=timeout)


def frames(data):
    """[(name, status, page or None)] from a reply; asserts it is whole."""
    out = []
    while data:
        assert len(data) >= 16, data
        name, status, length = struct.unpack("<8siI", data[:16])
        assert length == (4096 if status == 0 else 0)
        assert len(data) >= 16 + length
        out.append((name.rstrip(b"\0").decode(), status, data[16:16 + length] if length else None))
        data = data[16 + length:]
    return out


@pytest.fixture
def devices(tmp_path):
    n = FakeNitro(tmp_path / "nitro")
    n.volume("nvme1", "vol0abc")
    n.page("nvme1", volume_iops=7)
    n.volume("nvme2", "AWS1122", model="Amazon EC2 NVMe Instance Storage")
    n.page("nvme2")  # it would answer: the helper must not ask it
    n.volume("nvme3", "vol0def", model="QEMU NVMe Ctrl")
    n.page("nvme3")
    n.volume("nvme4", "vol0fed")  # EBS, but the device refuses the page (no page file)
    return n


def test_helper_answers_ebs_controllers_only(devices):
    r = run_helper(devices.root, b"nvme1 nvme2 nvme3 nvme4 nvme5\n")
    assert r.returncode == 0, r.stderr
    got = frames(r.stdout)
    assert [(n, s) for n, s, _ in got] == [
        ("nvme1", 0), ("nvme2", -EMEDIUMTYPE), ("nvme3", -EMEDIUMTYPE), ("nvme4", 0x4002), ("nvme5", -ENODEV)]
    assert got[0][2] == page(volume_iops=7)


@pytest.mark.parametrize("request_", [
    b"nvme1/../../sda\n", b"../nvme1\n", b"sda\n", b"nvme1n1\n", b"nvme10000\n", b"nvme1  nvme2\n",
    b"nvme1 \n", b"\n", b"nvme1\nnvme2\n", b"nvme1\0\n", b"NVME1\n", b"nvme1\r\n",
    b" ".join(b"nvme%d" % i for i in range(65)) + b"\n",  # too many
    b"nvme1 " * 200 + b"\n",  # too long
    b"nvme1",  # no end of line, then EOF
])
def test_helper_refuses_hostile_requests_whole(devices, request_):
    r = run_helper(devices.root, request_)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == b""
    assert b"request refused" in r.stderr


def test_helper_takes_no_arguments(devices):
    r = subprocess.run([HELPER, "nvme1"], input=b"nvme1\n", capture_output=True, timeout=10)
    assert r.returncode == 2 and r.stdout == b""


def test_helper_gives_up_on_a_silent_peer(devices):
    """A peer that sends half a name and then nothing, its end still open: the helper exits at its
    own deadline (2 s), having written nothing."""
    mine, theirs = socket.socketpair()
    with mine, theirs:
        mine.sendall(b"nvme1")
        t0 = time.monotonic()
        p = subprocess.Popen([HELPER], stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.PIPE,
                             env={"EC2AGENT_TEST_NITRO": str(devices.root)})
        try:
            err = p.communicate(timeout=30)[1]
        finally:
            p.kill() if p.poll() is None else None
        took = time.monotonic() - t0
        mine.setblocking(False)
        with pytest.raises(BlockingIOError):
            mine.recv(1)  # nothing was written
    assert p.returncode == 1 and b"Connection timed out" in err, err
    assert took >= 1.9


class HelperSocket:
    """Accept=yes in a thread: each connection handed to a new helper as stdin and stdout."""

    def __init__(self, path, root, hang=False):
        self.path, self.root = path, root
        self.hang = hang  # accept and never answer
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.hang:
                self.hung = getattr(self, "hung", []) + [conn]
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(1024, socket.MSG_PEEK))
                except OSError:
                    self.requests.append(b"")
                subprocess.run([HELPER], stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.DEVNULL,
                               env={"EC2AGENT_TEST_NITRO": str(self.root)}, timeout=20)

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()
        for c in getattr(self, "hung", []):
            c.close()


def test_daemon_reads_pages_through_the_helper(agent_factory, tmp_path, devices):
    """The daemon's own fake has the controllers in sysfs but no page: every figure it shows came
    through the socket from the helper, which reads the pages."""
    daemon_root = tmp_path / "daemon-nitro"
    mine = FakeNitro(daemon_root)
    mine.volume("nvme1", "vol0abc")
    mine.volume("nvme4", "vol0fed")
    sock_path = tmp_path / "nvme.sock"
    helper = HelperSocket(sock_path, devices.root)
    try:
        a = agent_factory(CONFIG, env={"EC2AGENT_TEST_NITRO": str(daemon_root),
                                       "EC2AGENT_TEST_NVME_SOCKET": str(sock_path)}).start()

        def volumes():
            rc, doc = a.status()
            assert doc is not None, a.log()
            vols = {v["controller"]: v for v in doc["volumes"]}
            return vols if len(vols) == 2 and all(v.get("error") or "queue_length" in v for v in vols.values()) \
                else None
        vols = wait_for(volumes, 15, what="both volumes read")
        assert vols["nvme1"]["error"] is None, vols
        assert vols["nvme1"]["queue_length"] == 2
        assert vols["nvme4"]["error"] == "the device refused the statistics log page", vols

        # nvme1 is read every interval; the refused nvme4 is marked and asked once
        wait_for(lambda: helper.requests.count(b"nvme1\n") >= 3, 15, what="three reads of nvme1")
        assert helper.requests.count(b"nvme4\n") == 1, helper.requests
        assert set(helper.requests) <= {b"nvme1\n", b"nvme4\n"}, helper.requests
    finally:
        helper.close()


def volume_error(a):
    rc, doc = a.status()
    assert doc is not None, a.log()
    return doc["volumes"][0]["error"] if doc["volumes"] else "(not listed yet)"


def test_daemon_says_when_the_helper_is_missing_and_asks_again(agent_factory, tmp_path, devices):
    """No helper socket (the socket unit stopped): named in status, and asked again every
    collection, not marked like a device's refusal: once the helper listens, the figures come."""
    daemon_root = tmp_path / "daemon-nitro"
    FakeNitro(daemon_root).volume("nvme1", "vol0abc")
    sock_path = tmp_path / "later.sock"
    a = agent_factory(CONFIG, env={"EC2AGENT_TEST_NITRO": str(daemon_root),
                                   "EC2AGENT_TEST_NVME_SOCKET": str(sock_path)}).start()
    wait_for(lambda: volume_error(a) == "the helper ec2agent-nvme does not answer (is ec2agent-nvme.socket running?)",
             15, what="the missing helper in status")
    helper = HelperSocket(sock_path, devices.root)
    try:
        wait_for(lambda: volume_error(a) is None, 15, what="the volume read once the helper listens")
        assert a.log().count("does not answer") == 1, a.log()  # logged once, not every interval
    finally:
        helper.close()


def test_daemon_gives_up_on_a_helper_that_never_answers(agent_factory, tmp_path, devices):
    """A helper that accepts and never answers: each ask ends at its 2 s deadline, the error is in
    status, the agent keeps answering, and an answering helper is used again afterwards."""
    daemon_root = tmp_path / "daemon-nitro"
    mine = FakeNitro(daemon_root)
    mine.volume("nvme1", "vol0abc")
    sock_path = tmp_path / "hung.sock"
    helper = HelperSocket(sock_path, devices.root, hang=True)
    try:
        a = agent_factory(CONFIG, env={"EC2AGENT_TEST_NITRO": str(daemon_root),
                                       "EC2AGENT_TEST_NVME_SOCKET": str(sock_path)}).start()
        wait_for(lambda: volume_error(a) == "the helper ec2agent-nvme did not answer in time", 20,
                 what="the timeout in status")
        helper.hang = False
        wait_for(lambda: volume_error(a) is None, 30, what="the volume read once the helper answers")
    finally:
        helper.close()
