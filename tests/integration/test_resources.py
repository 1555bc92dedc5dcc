"""Memory, CPU and filesystems against the machine itself, a tmpfs filled and remounted, and a
FUSE mount that never answers."""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SOURCE, wait_for

SOURCE_FIXTURES = SOURCE / "tests" / "fixtures"


def meminfo():
    v = {}
    for line in open("/proc/meminfo"):
        k, rest = line.split(":", 1)
        v[k] = int(rest.split()[0])
    return v


@pytest.fixture
def sampled(agent_factory):
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "filesystems": ["*"]}})
    return a


def test_memory_matches_proc_meminfo(sampled):
    sampled.start()
    doc = sampled.status()[1]
    m = meminfo()
    used = m["MemTotal"] - m["MemFree"] - m["Buffers"] - m["Cached"] - m["SReclaimable"]
    assert doc["memory"]["total_bytes"] == m["MemTotal"] * 1024
    assert abs(doc["memory"]["used_percent"] - 100.0 * used / m["MemTotal"]) < 2.0
    assert abs(doc["memory"]["available_bytes"] - m["MemAvailable"] * 1024) < 0.05 * m["MemTotal"] * 1024
    assert doc["memory"]["swap_used_percent"] >= 0
    if os.path.exists("/proc/pressure/memory"):
        assert doc["memory"]["pressure_some_avg10"] is not None
    cpu = wait_for(lambda: sampled.status()[1]["cpu"]["usage_active"] is not None, 5, what="cpu sample")
    assert 0 <= sampled.status()[1]["cpu"]["usage_active"] <= 100


def fs_with_usage(a, path=None):
    """The status' filesystems by path, once every mounted one (or PATH) has its usage: statvfs()
    answers come through the loop a moment after the agent asked."""
    def ready():
        fs = {f["path"]: f for f in a.status()[1]["filesystems"]}
        todo = [f for f in fs.values() if f["mounted"] and (path is None or f["path"] == path)]
        return fs if todo and all(f["used_percent"] is not None for f in todo) else None
    return wait_for(ready, 10, what="filesystem usage in status")


def test_root_filesystem_matches_statvfs(sampled):
    sampled.start()
    fs = fs_with_usage(sampled, "/")
    assert "/" in fs
    st = os.statvfs("/")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    assert abs(fs["/"]["used_percent"] - 100.0 * used / (used + avail)) < 1.0
    assert fs["/"]["device"].startswith("/dev/")
    assert all(f["fstype"] not in ("tmpfs", "proc", "sysfs", "overlay", "squashfs") for f in fs.values())
    doc = sampled.status()[1]
    assert doc["kernel"]["uptime_s"] > 0 and len(doc["kernel"]["load"]) == 3
    assert isinstance(doc["kernel"]["tainted"], (int, float)) and "taint_flags" in doc["kernel"]


def test_named_mount_point_not_mounted(agent_factory, tmp_path):
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"filesystems": ["/", str(tmp_path / "nothing-here")]}})
    a.start()
    fs = {f["path"]: f for f in a.status()[1]["filesystems"]}
    assert fs[str(tmp_path / "nothing-here")]["mounted"] is False
    assert fs["/"]["mounted"] is True
    r = a.run_cli("status")
    assert "not mounted" in r.stdout


@pytest.fixture
def tmpfs(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_tmpfs_full_then_read_only(agent_factory, tmpfs):
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "filesystems": [str(tmpfs)]}})
    a.start()
    fs = fs_with_usage(a, str(tmpfs))
    assert fs[str(tmpfs)]["fstype"] == "tmpfs" and fs[str(tmpfs)]["used_percent"] < 5
    with open(tmpfs / "fill", "wb") as f:
        f.write(b"x" * (1024 * 1024 * 96 // 100 + 4096))
    doc = wait_for(lambda: (lambda d: d if d["health"] == "critical" else None)(a.status()[1]), 5,
                   what="critical when full")
    assert any(r.startswith("filesystem %s at 9" % tmpfs) for r in doc["reasons"])
    assert a.status()[0] == 2
    os.unlink(tmpfs / "fill")
    wait_for(lambda: a.status()[1]["health"] == "ok", 5, what="ok again")

    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    ev = wait_for(lambda: a.events("--type", "fs-readonly"), 5, what="fs-readonly event")
    assert ev[0]["detail"]["path"] == str(tmpfs) and ev[0]["severity"] == "critical"
    rc, doc = a.status()
    assert rc == 2
    assert "filesystem %s was remounted read-only" % tmpfs in doc["reasons"]
    fs = {f["path"]: f for f in doc["filesystems"]}
    assert fs[str(tmpfs)]["read_only"] is True and fs[str(tmpfs)]["became_read_only"] is True
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    wait_for(lambda: a.status()[1]["health"] == "ok", 5, what="ok after rw")
    assert len(a.events("--type", "fs-readonly")) == 1


FS_ANSWER_TIMEOUT_S = 5   # FS_ANSWER_TIMEOUT_USEC


def statvfs_blocks(path, seconds):
    """True when statvfs(PATH) in a child has not returned after SECONDS (the child is killed)."""
    p = subprocess.Popen([sys.executable, "-c", "import os, sys; os.statvfs(sys.argv[1])", str(path)])
    try:
        p.wait(seconds)
        return False
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        return True


@pytest.fixture
def hung_fuse(tmp_path):
    """A FUSE filesystem whose daemon never answers: /dev/fuse opened and mounted with mount(2)
    (no libfuse), and never read. The kernel's FUSE_INIT stays unanswered, so every request on
    the mount (statvfs() too) waits in request_wait_answer() for a reply that never comes, as
    with a FUSE daemon stopped by SIGSTOP or a hard NFS mount whose server is gone."""
    d = tmp_path / "hung"
    d.mkdir()
    try:
        fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        pytest.skip("no /dev/fuse here: %s" % e)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
    # a /dev/ source, as fuseblk (ntfs-3g) has: only the fstype tells it is FUSE
    if libc.mount(b"/dev/ec2agent-hung", str(d).encode(), b"fuse.hung", 0, opts.encode()) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        pytest.skip("cannot mount FUSE here: %s" % os.strerror(err))
    try:
        assert statvfs_blocks(d, 1), "statvfs() on the unanswered FUSE mount returned"
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        os.close(fd)   # aborts the connection: a statvfs() still waiting returns ENOTCONN


@pytest.mark.timing
def test_hung_fuse_mount_does_not_stall_the_agent(agent_factory, hung_fuse):
    # LeakSanitizer (an ASan build) stops every thread with ptrace at exit to scan memory, and the
    # agent's thread in the hung statvfs() never stops (the FUSE wait is killable only): it would
    # hang LeakSanitizer, not the agent, so leak checking is off for this one agent.
    asan = ":".join(o for o in (os.environ.get("ASAN_OPTIONS", ""), "detect_leaks=0") if o)
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "filesystems": ["/dev", str(hung_fuse)]}},
                      env={"ASAN_OPTIONS": asan})
    a.start()
    # The loop never waits for the mount: every status call answers, at start and while the
    # agent's statvfs() hangs, and soon shows the filesystem as not answering.
    def not_answering():
        r = a.run_cli("status", "--json", timeout=5)
        assert r.returncode in (0, 1), (r.returncode, r.stderr)
        doc = json.loads(r.stdout)
        fs = {f["path"]: f for f in doc["filesystems"]}
        return doc if fs[str(hung_fuse)]["answering"] is False else None
    doc = wait_for(not_answering, 20, interval=0.2, what="the FUSE mount shown as not answering")
    fs = {f["path"]: f for f in doc["filesystems"]}
    hung = fs[str(hung_fuse)]
    assert hung["mounted"] is True and hung["fstype"] == "fuse.hung" and hung["error"] == "not answering"
    assert hung["used_percent"] is None
    assert fs["/dev"]["answering"] is True and fs["/dev"]["error"] is None
    assert "filesystem %s does not answer (statvfs() hangs)" % hung_fuse in doc["reasons"]
    assert doc["health"] == "warning"
    # the sampler goes on: /dev keeps being sampled, the hung mount is not asked again
    assert fs_with_usage(a, "/dev")["/dev"]["used_percent"] is not None
    time.sleep(2)
    threads = len(os.listdir("/proc/%d/task" % a.proc.pid))
    assert threads <= 2, "statvfs() asked again while the first call hangs: %d threads" % threads
    assert "has not answered statvfs()" in a.log()
    # and it still stops at once
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    assert time.monotonic() - t0 < 2.0


def test_star_leaves_out_fuse_and_network_filesystems(agent_factory, hung_fuse):
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "filesystems": ["*"]}})
    a.start()
    fs = fs_with_usage(a)
    assert str(hung_fuse) not in fs
    assert all(f["answering"] for f in fs.values())
    time.sleep(FS_ANSWER_TIMEOUT_S + 1)
    doc = a.status()[1]
    assert not any("does not answer" in r for r in doc["reasons"])
    assert len(os.listdir("/proc/%d/task" % a.proc.pid)) == 1   # no statvfs() of it hangs


def test_corrupt_state_files_are_set_aside(agent_factory, tmp_path):
    pstore = tmp_path / "pstore"
    pstore.mkdir()
    (pstore / "dmesg-ramoops-0").write_bytes(
        (SOURCE_FIXTURES / "pstore" / "dmesg-ramoops-0").read_bytes())
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "kernel": {"pstore_path": str(pstore)}})
    a.state.mkdir(parents=True)
    (a.state / "boot.json").write_bytes(b'{"boot_id": "0123')          # torn by a crash
    (a.state / "pstore-seen.json").write_bytes(b'\x00\x00\x00\x00')    # zeroed by a power cut
    a.start()
    doc = a.status()[1]
    assert doc["kernel"]["previous_boot"]["boot_id"] is None
    assert (a.state / "boot.json.corrupt").read_bytes() == b'{"boot_id": "0123'
    assert (a.state / "pstore-seen.json.corrupt").read_bytes() == b'\x00\x00\x00\x00'
    log = a.log()
    assert "boot.json.corrupt" in log and "pstore-seen.json.corrupt" in log
    # the record was reported (once more, never lost) and the new files are whole
    wait_for(lambda: a.events("--type", "previous-boot-crash"), 5, what="the pstore record reported")
    json.loads((a.state / "boot.json").read_text())
    wait_for(lambda: (a.state / "pstore-seen.json").exists(), 5, what="pstore-seen.json written")
    assert json.loads((a.state / "pstore-seen.json").read_text())["seen"]


def test_hostile_mount_point_is_shown_escaped(agent_factory, tmp_path):
    """A mount point is any bytes: a newline, an escape sequence, a cut UTF-8 character."""
    name = b"bad\n\x1b[31m\xd1"
    d = os.path.join(bytes(tmp_path), name)
    os.mkdir(d)
    if subprocess.run([b"mount", b"-t", b"tmpfs", b"-o", b"size=1m", b"tmpfs", d], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                                  "metrics": {"collection_interval_s": 1, "filesystems": ["/dev"]}})
        cfg = json.loads(a.config_path.read_text())
        cfg["metrics"]["filesystems"] = ["@HOSTILE@"]
        a.config_path.write_bytes(json.dumps(cfg).encode().replace(b"@HOSTILE@", d.replace(b"\n", b"\\n")))
        a.start()
        shown = str(tmp_path) + "/bad\\x0a\\x1b[31m\ufffd"

        def entry():
            r = a.run_cli("status", "--json")
            doc = json.loads(r.stdout.encode().decode("utf-8", errors="strict"))
            fs = {f["path"]: f for f in doc["filesystems"]}
            return fs.get(shown) if fs.get(shown, {}).get("used_percent") is not None else None
        f = wait_for(entry, 10, what="the hostile mount point in status")
        assert f["mounted"] is True and f["fstype"] == "tmpfs"
        subprocess.run([b"mount", b"-o", b"remount,ro", d], check=True)
        ev = wait_for(lambda: a.events("--type", "fs-readonly"), 5, what="fs-readonly event")
        assert ev[0]["detail"]["path"] == shown
        assert not any(ord(c) < 0x20 for c in ev[0]["summary"] + ev[0]["detail"]["path"])
    finally:
        subprocess.run([b"umount", b"-l", d], capture_output=True)
