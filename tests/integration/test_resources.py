"""Memory, CPU and filesystems against the machine itself, and a tmpfs filled and remounted."""
import os
import subprocess
import time

import pytest

from conftest import wait_for


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


def test_root_filesystem_matches_statvfs(sampled):
    sampled.start()
    fs = {f["path"]: f for f in sampled.status()[1]["filesystems"]}
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
    fs = {f["path"]: f for f in a.status()[1]["filesystems"]}
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
