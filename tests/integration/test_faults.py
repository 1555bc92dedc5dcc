"""Fault injection: the state directory full or read-only, SIGKILL at random points of drains,
wall-clock jumps, a thousand status clients at once. (IMDS and AWS faults: test_imds.py,
test_publish.py; a /dev/kmsg overrun: test_kmsg.py.)"""
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for
from test_kmsg import KernelLog

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mounts, the clock)")


@pytest.fixture
def small_state(tmp_path):
    """The agent's state directory on a 1 MiB tmpfs of its own."""
    d = tmp_path / "small-state"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def fs_error(a, n):
    a.klog.write("EXT4-fs error (device nvme%dn1): ext4_lookup:1855: inode #2: comm ls: deleted inode "
                 "referenced: 1234" % n)


def kernel_agent(agent_factory, tmp_path, state):
    log = KernelLog(str(tmp_path / "kmsg.fifo"))
    a = agent_factory(config={"kmsg": {"path": log.path}, "imds": {"enabled": False},
                              "metrics": {"enabled": False}}, env={"STATE_DIRECTORY": str(state)})
    a.klog = log
    return a


def state_error(a):
    return a.status()[1]["agent"]["state_error"]


@root_only
def test_state_directory_full_keeps_working_and_says_so(agent_factory, tmp_path, small_state):
    a = kernel_agent(agent_factory, tmp_path, small_state)
    a.start()
    fs_error(a, 0)
    wait_for(lambda: len(a.events("--type", "fs-error")) == 1, what="the first event")

    filler = small_state / "filler"
    with open(filler, "wb") as f:  # fill the file system to the last block
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28  # ENOSPC
    # the journal's last page may still have room for a few lines: events until it has none
    for n in range(1, 200):
        fs_error(a, n)
        time.sleep(0.02)
        if state_error(a):
            break
    err = wait_for(lambda: state_error(a), what="state_error in status")
    assert "No space left on device" in err and "events.jsonl" in err
    assert "No space left on device" in a.log()
    code, doc = a.status()  # still answering, still watching
    assert doc["kernel"]["problems"] and code in (0, 1, 2)
    assert "No space left" in a.run_cli("status").stdout

    filler.unlink()  # space again: recording resumes, and says so
    fs_error(a, 999)
    wait_for(lambda: state_error(a) is None, what="state_error cleared")
    assert "works again" in a.log()
    devices = [e["detail"].get("device") for e in a.events("--type", "fs-error")]
    assert devices[0] == "nvme0n1" and devices[-1] == "nvme999n1"
    assert a.stop() == 0


@pytest.fixture
def ext4_state(tmp_path):
    """The state directory on an ext4 image mounted errors=remount-ro, as a root volume is."""
    img, d = tmp_path / "state.img", tmp_path / "ext4-state"
    d.mkdir()
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
    r = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(img), str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("no loop device here: " + r.stderr.strip())
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


@root_only
def test_state_directory_turned_read_only_by_the_kernel(agent_factory, tmp_path, ext4_state):
    """ext4 remounts itself read-only on an error, with the agent's files open (a plain remount
    would refuse: busy): the agent keeps working and says so."""
    a = kernel_agent(agent_factory, tmp_path, ext4_state)
    a.start()
    fs_error(a, 0)
    wait_for(lambda: len(a.events("--type", "fs-error")) == 1, what="the first event")
    dev = Path(subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(ext4_state)], capture_output=True,
                              text=True, check=True).stdout.strip()).name
    Path("/sys/fs/ext4/%s/trigger_fs_error" % dev).write_text("1")
    fs_error(a, 1)
    err = wait_for(lambda: state_error(a), what="state_error in status")
    assert "Read-only file system" in err
    assert "Read-only file system" in a.run_cli("status").stdout
    for n in range(2, 5):  # still watching, still answering
        fs_error(a, n)
    wait_for(lambda: a.status()[1]["kernel"]["problems"][0]["count"] == 5, what="every record counted")
    assert a.stop() == 0


def test_sigkill_at_random_points_of_50_drains(agent_factory, imds, aws, tmp_path):
    """50 spot notices, each drained by three steps; the agent is SIGKILLed once in every drain at
    a random moment. Every drain finishes, with its steps in order; no rule fires twice."""
    log = tmp_path / "steps.log"
    steps = []
    for k in range(3):
        p = tmp_path / ("step%d.sh" % k)
        p.write_text("#!/bin/sh\necho \"$EC2AGENT_DEADLINE %d start\" >>%s\nsleep 0.%d\n"
                     "echo \"$EC2AGENT_DEADLINE %d end\" >>%s\n" % (k, log, k + 1, k, log))
        p.chmod(0o755)
        steps.append({"exec": [str(p)], "timeout_s": 10})
    a = agent_factory(config={"kmsg": {"enabled": False}, "metrics": {"enabled": False},
                              "rules": [{"name": "drain", "on": ["spot-interruption"], "do": steps}]},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    rng = random.Random(20261125)
    deadlines = []
    a.start()
    for trial in range(50):
        deadline = "2099-01-01T%02d:%02d:00Z" % (trial // 60, trial % 60)
        deadlines.append(deadline)
        imds.set("spot/instance-action", json.dumps({"action": "terminate", "time": deadline}))
        time.sleep(rng.uniform(0, 1.6))  # the poll (≤ 1 s), then somewhere in the drain
        a.stop(signal.SIGKILL)
        a.start()

        def finished():  # as the agent knows it (an orphan of the killed agent may still write)
            doc = a.status()[1]
            return doc and doc["rules"][0]["fired"] == trial + 1 and \
                all(x["state"] not in ("pending", "running") for x in doc["actions"])
        wait_for(finished, timeout=15, what="drain %d to finish" % trial)
    time.sleep(0.5)  # a step re-run after the kill may still be writing

    lines = [l.split() for l in log.read_text().splitlines()]
    for d in deadlines:
        mine = [(int(k), what) for t, k, what in lines if t == d]
        for k in range(3):
            assert (k, "end") in mine, (d, mine)
            assert mine.count((k, "start")) <= 2, (d, mine)  # at most the one cut short runs again
        # in order: a step starts only after the one before it ended
        assert mine.index((1, "start")) > mine.index((0, "end")) and \
            mine.index((2, "start")) > mine.index((1, "end")), (d, mine)
    fired = [e["detail"]["instance"] for e in a.events("--type", "rule-fired")]
    assert len(fired) == 50 and len(set(fired)) == 50
    runs = [x for x in a.status()[1]["actions"]]
    assert all(x["state"] == "done" for x in runs)


@root_only
def test_wall_clock_jumps_back_and_forth(agent_factory, imds, aws):
    """The machine's wall clock goes back an hour, then forward again (as NTP fixing a clock
    does), for real: clock_settime, restored whatever happens. Timers stay true (monotonic),
    notices are still seen once, metrics still go out at once, status still answers."""
    a = agent_factory(config={"kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "publish_interval_s": 2}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    a.start()
    wait_for(lambda: len(aws.accepted()) >= 1, timeout=20, what="a first PutMetricData")
    shifted = 0
    try:
        for shift, spot in ((-3600, "2099-01-01T00:00:00Z"), (+3600, "2099-01-01T01:00:00Z")):
            time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) + shift)
            shifted += shift
            n = len(aws.accepted())
            wait_for(lambda: len(aws.accepted()) >= n + 2, timeout=15, what="metrics after a %+d s jump" % shift)
            imds.set("spot/instance-action", json.dumps({"action": "terminate", "time": spot}))
            wait_for(lambda: any(e["detail"].get("time") == spot for e in a.events("--type", "spot-interruption")),
                     timeout=10, what="the spot notice after a %+d s jump" % shift)
            assert a.status()[0] == 2  # critical: the notice stands
    finally:
        if shifted:
            time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) - shifted)
    assert "wall clock went back" in a.log()
    assert len(a.events("--type", "spot-interruption")) == 2  # each notice once, none repeated
    assert a.status()[1]["cloudwatch"]["last_error"] is None
    assert a.stop() == 0


@pytest.mark.timing
def test_a_thousand_status_clients_at_once(agent):
    agent.start()
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(agent.socket))
        socks.append(s)
    for s in socks:  # every client has connected before the first asks
        s.sendall(b"status\n")
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    done = []
    end = time.monotonic() + 30
    while len(done) < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            if chunk:
                key.data.extend(chunk)
            else:
                done.append(json.loads(bytes(key.data))["schema_version"])
                sel.unregister(key.fileobj)
                key.fileobj.close()
    assert done.count(1) == 1000
    assert agent.status()[0] in (0, 1)
