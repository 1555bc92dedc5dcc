"""The kernel log through a FIFO at kmsg.path: classification, OOM context, storms, dedup."""
import json
import os
import signal
import time

import pytest

from conftest import wait_for


class KernelLog:
    """Writes /dev/kmsg-format records into the agent's FIFO with realistic timestamps."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.fd = None
        self.seq = 1000

    def open(self):
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY)
        return self

    def now_us(self):
        return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)

    def write(self, text, pri=3, ts=None, seq=None):
        self.open()
        if seq is None:
            self.seq += 1
            seq = self.seq
        line = "%d,%d,%d,-;%s\n" % (pri, seq, self.now_us() if ts is None else ts, text)
        os.write(self.fd, line.encode())
        return seq

    def write_many(self, lines):
        self.open()
        data = "".join(lines).encode()
        for i in range(0, len(data), 65536):
            os.write(self.fd, data[i:i + 65536])

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@pytest.fixture
def klog(agent_factory, tmp_path):
    log = KernelLog(str(tmp_path / "kmsg.fifo"))
    a = agent_factory(config={"kmsg": {"path": log.path}, "imds": {"enabled": False},
                              "metrics": {"enabled": False}})
    a.klog = log
    yield a
    log.close()


def events(a, type_=None):
    return a.events(*(("--type", type_) if type_ else ()))


def test_oom_kill_with_context(klog):
    klog.start()
    k = klog.klog
    k.write("java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0", pri=4)
    k.write("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
            "oom_memcg=/system.slice/app.service,task_memcg=/system.slice/app.service,task=java,pid=5151,uid=0",
            pri=6)
    k.write("Memory cgroup out of memory: Killed process 5151 (java) total-vm:9283812kB, anon-rss:2091012kB, "
            "file-rss:23788kB, shmem-rss:0kB, UID:0 pgtables:4788kB oom_score_adj:0")
    ev = wait_for(lambda: events(klog, "oom-kill"), 5, what="oom event")[0]
    d = ev["detail"]
    assert (d["pid"], d["process"], d["anon_rss_kb"], d["total_vm_kb"]) == (5151, "java", 2091012, 9283812)
    assert d["constraint"] == "CONSTRAINT_MEMCG" and d["cgroup"] == "/system.slice/app.service"
    assert d["trigger"] == "java" and d["uid"] == 0 and d["oom_score_adj"] == 0 and d["cgroup_oom"] is True
    rc, doc = klog.status()
    assert rc == 1
    assert doc["kernel"]["oom_kills"] == 1
    assert doc["kernel"]["last_oom"]["process"] == "java"
    assert doc["kernel"]["last_oom"]["cgroup"] == "/system.slice/app.service"
    assert any(r.startswith("OOM kill of java (pid 5151)") for r in doc["reasons"])


def test_each_oom_kill_is_its_own_event(klog):
    klog.start()
    for pid in range(100, 105):
        klog.klog.write("Out of memory: Killed process %d (worker) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
                        "shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0" % pid)
    wait_for(lambda: len(events(klog, "oom-kill")) == 5, 5, what="five oom events")
    assert klog.status()[1]["kernel"]["oom_kills"] == 5


CLASSES = [
    ("fs-error", "EXT4-fs error (device nvme1n1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0"),
    ("fs-readonly", "EXT4-fs (nvme1n1): Remounting filesystem read-only"),
    ("io-error", "I/O error, dev nvme1n1, sector 976773120 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2"),
    ("hung-task", "INFO: task jbd2/nvme1n1-8:245 blocked for more than 120 seconds."),
    ("soft-lockup", "watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:123]"),
    ("rcu-stall", "rcu: INFO: rcu_sched self-detected stall on CPU"),
    ("kernel-oops", "BUG: kernel NULL pointer dereference, address: 0000000000000008"),
    ("kernel-warning", "WARNING: CPU: 2 PID: 0 at net/sched/sch_generic.c:477 dev_watchdog+0x21b/0x220"),
    ("segfault", "nginx[1234]: segfault at 0 ip 00007f0e4b8a9b5d sp 00007ffd2c3a8f70 error 4 in libc.so.6[7f0e4b7a4000+178000]"),
    ("net-error", "NETDEV WATCHDOG: eth0 (ena): transmit queue 3 timed out"),
]


def test_every_class(klog):
    klog.start()
    for _, text in CLASSES:
        klog.klog.write(text)
    wait_for(lambda: len(events(klog)) == len(CLASSES), 5, what="all events")
    got = {e["type"]: e for e in events(klog)}
    assert set(got) == {c for c, _ in CLASSES}
    assert got["io-error"]["detail"]["device"] == "nvme1n1" and got["io-error"]["detail"]["sector"] == 976773120
    assert got["hung-task"]["detail"]["process"] == "jbd2/nvme1n1-8" and got["hung-task"]["detail"]["seconds"] == 120
    assert got["segfault"]["detail"]["library"] == "libc.so.6"
    assert got["kernel-warning"]["detail"]["where"] == "net/sched/sch_generic.c:477"
    doc = klog.status()[1]
    assert {p["class"] for p in doc["kernel"]["problems"]} == {c for c, _ in CLASSES}
    assert doc["health"] == "warning"   # fs/io errors, hung task, lockup, oops within the hour
    log = (klog.state / "kernel-problems.log").read_text()
    assert "BUG: kernel NULL pointer dereference" in log


def test_each_oops_is_its_own_event(klog):
    """SPEC §6: each oops is its own source by its die counter. An oops's first line and its die
    banner ("[#N]") are one event; two oopses within 60 s are two."""
    klog.start()
    k = klog.klog
    t0 = k.now_us()
    k.write_many(["1,%d,%d,-;%s\n" % (70000 + i, t0 + i * 1000, text) for i, text in enumerate([
        "BUG: kernel NULL pointer dereference, address: 0000000000000008",
        "Oops: 0002 [#1] SMP PTI",
        "BUG: unable to handle page fault for address: ffffc90000123000",
        "Oops: 0000 [#2] SMP PTI",
        "Internal error: Oops: 0000000096000004 [#3] PREEMPT SMP",
    ])] + ["6,70010,%d,-;random: the clock moves on past the window\n" % (t0 + 61_000_000)])
    wait_for(lambda: len(events(klog, "kernel-oops")) >= 5, 10, what="oops events and follow-ups")
    oops = events(klog, "kernel-oops")
    first = [e["detail"]["line"] for e in oops if not e["detail"].get("aggregated")]
    follow = sorted((e["detail"]["source"], e["detail"]["count"]) for e in oops if e["detail"].get("aggregated"))
    assert first == ["BUG: kernel NULL pointer dereference, address: 0000000000000008",
                     "BUG: unable to handle page fault for address: ffffc90000123000",
                     "Internal error: Oops: 0000000096000004 [#3] PREEMPT SMP"]
    assert follow == [("#1", 2), ("#2", 2)]
    assert len(oops) == 5


def test_look_alikes_are_not_events(klog):
    klog.start()
    k = klog.klog
    k.write("Out of memory: Killed process 4242 (x) total-vm:1kB, anon-rss:1kB", pri=12)  # user space
    k.write("EXT4-fs error (device nvme1n1): forged", pri=14)
    k.write("virtio_balloon virtio3: Out of memory: unable to inflate balloon", pri=6)
    k.write("EXT4-fs (nvme0n1p1): re-mounted. Opts: errors=remount-ro", pri=6)
    k.write_many(["this is not a record at all\n", " SUBSYSTEM=a continuation line is not one either\n"])
    k.write("EXT4-fs error (device nvme9n1): the last line, so we know the others were read")
    wait_for(lambda: events(klog), 5, what="the sentinel event")
    assert [e["detail"]["device"] for e in events(klog)] == ["nvme9n1"]
    assert klog.status()[1]["kernel"]["kmsg"]["malformed"] == 1   # "this is not a record at all"


def test_storm_is_aggregated_with_exact_counts(klog):
    klog.start()
    k = klog.klog
    t0 = k.now_us()
    lines = ["3,%d,%d,-;I/O error, dev nvme1n1, sector %d op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0\n"
             % (10000 + i, t0 + i * 2000, i * 8) for i in range(5000)]           # 10 s of errors
    lines += ["3,%d,%d,-;I/O error, dev nvme2n1, sector 8 op 0x1:(WRITE) flags 0x800\n" % (20000 + i, t0 + i * 1000)
              for i in range(3)]
    lines.append("6,30000,%d,-;random: the clock moves on past the window\n" % (t0 + 61_000_000))
    k.write_many(lines)
    wait_for(lambda: len(events(klog, "io-error")) >= 4, 10, what="aggregated events")
    io = events(klog, "io-error")
    first = [e for e in io if not e["detail"].get("aggregated")]
    follow = [e for e in io if e["detail"].get("aggregated")]
    assert [e["detail"]["device"] for e in first] == ["nvme1n1", "nvme2n1"]
    assert sorted((e["detail"]["source"], e["detail"]["count"]) for e in follow) == [("nvme1n1", 5000), ("nvme2n1", 3)]
    assert len(io) == 4
    # status keeps one entry per class: the latest source, and every record of the class counted
    (p,) = [p for p in klog.status()[1]["kernel"]["problems"] if p["class"] == "io-error"]
    assert (p["source"], p["count"]) == ("nvme2n1", 5003)


def test_storm_over_more_devices_than_open_windows(klog):
    """300 devices failing at once: windows grow as they open, past the 256 kept open the oldest
    is closed early, and no record is lost or counted twice."""
    klog.start()
    k = klog.klog
    t0 = k.now_us()
    lines = ["3,%d,%d,-;I/O error, dev sd%d, sector 8 op 0x1:(WRITE) flags 0x800\n" % (50000 + 2 * d + i, t0 + d * 1000 + i, d)
             for d in range(300) for i in range(2)]
    lines.append("6,60000,%d,-;random: the clock moves on past the window\n" % (t0 + 61_000_000))
    k.write_many(lines)
    wait_for(lambda: len(events(klog, "io-error")) >= 600, 10, what="every window closed")
    io = events(klog, "io-error")
    first = sorted(e["detail"]["device"] for e in io if not e["detail"].get("aggregated"))
    follow = sorted((e["detail"]["source"], e["detail"]["count"]) for e in io if e["detail"].get("aggregated"))
    assert first == sorted("sd%d" % d for d in range(300))
    assert follow == sorted(("sd%d" % d, 2) for d in range(300))
    (p,) = [p for p in klog.status()[1]["kernel"]["problems"] if p["class"] == "io-error"]
    assert p["count"] == 600


def test_burst_window_follows_kernel_time_not_arrival(klog):
    """A replayed buffer aggregates as it happened: records 2 minutes apart are two events."""
    klog.start()
    k = klog.klog
    t0 = max(k.now_us() - 300_000_000, 1_000_000)  # never before boot: a machine up for < 5 min
    k.write_many(["3,%d,%d,-;Buffer I/O error on dev nvme1n1p1, logical block %d, lost async page write\n"
                  % (40000 + i, t0 + i * 120_000_000, i) for i in range(3)])
    wait_for(lambda: len(events(klog, "io-error")) == 3, 5, what="three separate events")
    assert all(e["detail"]["count"] == 1 for e in events(klog, "io-error"))


def cursor_at(a, seq):
    """Waits until kmsg-cursor.json names record SEQ or a later one: kmsg saves it right after the
    batch whose records made events, and a kill before that save repeats those records' events
    (see collectors/kmsg.c), so a test that kills must wait for it to assert "no repeat"."""
    cursor = a.state / "kmsg-cursor.json"

    def saved():
        try:
            return json.loads(cursor.read_text()).get("seq", -1) >= seq
        except (OSError, ValueError):
            return False
    wait_for(saved, 5, what="the cursor at %d" % seq)


def test_restart_does_not_repeat_events(klog):
    klog.start()
    k = klog.klog
    seq = k.write("EXT4-fs error (device nvme1n1): ext4_lookup:1234: inode #5: comm x: deleted inode referenced")
    wait_for(lambda: events(klog, "fs-error"), 5, what="fs event")
    cursor_at(klog, seq)
    klog.stop(signal.SIGKILL)
    k.close()
    klog.start()
    # The same record again (as /dev/kmsg replays the buffer after a restart), then a new one.
    k.write("EXT4-fs error (device nvme1n1): ext4_lookup:1234: inode #5: comm x: deleted inode referenced", seq=seq)
    k.write("EXT4-fs error (device nvme3n1): a new one")
    wait_for(lambda: len(events(klog, "fs-error")) == 2, 5, what="only the new event")
    time.sleep(0.3)
    assert [e["detail"]["device"] for e in events(klog, "fs-error")] == ["nvme1n1", "nvme3n1"]


def test_a_kill_between_an_event_and_its_cursor_neither_repeats_nor_loses(klog):
    """SIGKILL after a record's event was appended and before the cursor naming it was saved: kmsg
    reads no output back, so the replayed record makes its event again; the journal holds its key
    (boot, type, seq: journal_holds) and the manager drops the repeat. The event is written first:
    the window can cost neither a loss nor a repeat."""
    klog.start()
    k = klog.klog
    first = k.write("EXT4-fs error (device nvme1n1): ext4_lookup:1234: inode #5: comm x: deleted inode referenced")
    wait_for(lambda: len(events(klog, "fs-error")) == 1, 5, what="the first fs event")
    cursor_at(klog, first)
    kept = (klog.state / "kmsg-cursor.json").read_text()
    seq = k.write("EXT4-fs error (device nvme2n1): ext4_lookup:1234: inode #6: comm x: deleted inode referenced")
    wait_for(lambda: len(events(klog, "fs-error")) == 2, 5, what="two fs events")
    klog.stop(signal.SIGKILL)
    k.close()
    (klog.state / "kmsg-cursor.json").write_text(kept)  # as if the kill came before the second save
    klog.start()
    k.write("EXT4-fs error (device nvme1n1): ext4_lookup:1234: inode #5: comm x: deleted inode referenced",
            seq=first)
    k.write("EXT4-fs error (device nvme2n1): ext4_lookup:1234: inode #6: comm x: deleted inode referenced", seq=seq)
    k.write("EXT4-fs error (device nvme3n1): a new one")
    wait_for(lambda: len(events(klog, "fs-error")) == 3, 5, what="the new event")
    time.sleep(0.3)
    assert [e["detail"]["device"] for e in events(klog, "fs-error")] == ["nvme1n1", "nvme2n1", "nvme3n1"]


def test_sigkill_right_after_a_burst_loses_and_repeats_nothing(klog):
    """A burst (OOM kills, an I/O error storm whose window closes, an fs error), SIGKILL as soon as
    its cursor is on disk, then /dev/kmsg replays the whole buffer plus what came while the agent
    was down: every kernel event exactly once. Then a corrupt cursor: set aside, and the buffer
    read from its start again: the journal holds those events' keys, so still exactly once."""
    klog.start()
    k = klog.klog
    t0 = k.now_us()
    oom = ("3,%d,%d,-;Out of memory: Killed process %d (w) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
           "shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0\n")
    burst = [oom % (80000 + i, t0 + i * 1000, 6000 + i) for i in range(3)]
    burst += ["3,%d,%d,-;I/O error, dev nvme1n1, sector %d op 0x1:(WRITE) flags 0x800\n" % (80010 + i, t0 + 10_000 + i * 1000, i)
              for i in range(20)]
    burst.append("3,80040,%d,-;EXT4-fs error (device nvme4n1): ext4_lookup:1: before the kill\n" % (t0 + 61_000_000))
    k.write_many(burst)
    wait_for(lambda: len(events(klog, "oom-kill")) == 3 and len(events(klog, "io-error")) == 2
             and events(klog, "fs-error"), 5, what="the burst's events")
    cursor_at(klog, 80040)
    klog.stop(signal.SIGKILL)
    k.close()

    later = [oom % (80050 + i, t0 + 62_000_000 + i * 1000, 7000 + i) for i in range(2)]
    later.append("3,80060,%d,-;EXT4-fs error (device nvme5n1): ext4_lookup:1: while down\n" % (t0 + 63_000_000))
    klog.start()
    k.write_many(burst + later)  # the buffer replayed, then what the agent has not seen

    def kinds():
        key = {"oom-kill": "pid", "io-error": "count", "fs-error": "device"}
        return sorted((e["type"], e["detail"][key[e["type"]]]) for e in klog.events() if e["type"] in key)
    once = sorted([("oom-kill", 6000 + i) for i in range(3)] + [("oom-kill", 7000 + i) for i in range(2)]
                  + [("io-error", 1), ("io-error", 20), ("fs-error", "nvme4n1"), ("fs-error", "nvme5n1")])
    wait_for(lambda: len(kinds()) >= len(once), 5, what="the events made while down")
    time.sleep(0.3)
    assert kinds() == once

    cursor_at(klog, 80060)
    klog.stop(signal.SIGKILL)
    k.close()
    (klog.state / "kmsg-cursor.json").write_text('{"boot_id": 7, "seq": "torn')
    klog.start()
    k.write_many(burst + later)
    k.write("EXT4-fs error (device nvme6n1): the sentinel", seq=80070, ts=t0 + 64_000_000)
    wait_for(lambda: ("fs-error", "nvme6n1") in kinds(), 5, what="the sentinel")
    time.sleep(0.3)
    assert kinds() == sorted(once + [("fs-error", "nvme6n1")])
    assert (klog.state / "kmsg-cursor.json.corrupt").read_text() == '{"boot_id": 7, "seq": "torn'
    cursor_at(klog, 80070)


def test_cursor_saved_within_a_second_and_a_corrupt_one_set_aside(klog):
    klog.start()
    k = klog.klog
    seq = k.write("random: crng init done", pri=6)    # no event: only the cursor knows it was read
    cursor = klog.state / "kmsg-cursor.json"
    wait_for(lambda: cursor.exists() and json.loads(cursor.read_text())["seq"] == seq, 5, what="the cursor saved")
    klog.stop()
    k.close()
    cursor.write_text('{"boot_id": "torn')
    klog.start()
    k.write("EXT4-fs error (device nvme5n1): after the corrupt cursor")
    wait_for(lambda: events(klog, "fs-error"), 5, what="reading on")
    assert (klog.state / "kmsg-cursor.json.corrupt").read_text() == '{"boot_id": "torn'
    assert "kmsg-cursor.json" in klog.log() and "corrupt" in klog.log()


def test_a_file_at_kmsg_path_is_read_whole_and_followed(agent_factory, tmp_path):
    """A file of records: more than one read batch at start, and what is appended later (the
    file is polled; its timer must stay armed)."""
    path = tmp_path / "kmsg.file"
    oom = ("3,%d,%d,-;Out of memory: Killed process %d (w) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
           "shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0\n")
    path.write_text("".join(oom % (100 + i, 1000 + i, 5000 + i) for i in range(300)))
    a = agent_factory(config={"kmsg": {"path": str(path)}, "imds": {"enabled": False}, "metrics": {"enabled": False}})
    a.start()
    wait_for(lambda: a.status()[1]["kernel"]["oom_kills"] == 300, 10, what="the 300 records there at start")
    with open(path, "a") as f:
        f.write("".join(oom % (400 + i, 2000 + i, 6000 + i) for i in range(5)))
    wait_for(lambda: a.status()[1]["kernel"]["oom_kills"] == 305, 10, what="the 5 appended")
    assert len(a.events("--type", "oom-kill")) == 305


def test_writer_reopening_the_fifo(klog):
    klog.start()
    k = klog.klog
    k.write("EXT4-fs error (device nvme1n1): one")
    wait_for(lambda: events(klog), 5, what="first")
    k.close()            # the writer goes away: the agent must reopen, not spin
    time.sleep(0.3)
    k.write("EXT4-fs error (device nvme4n1): two")
    wait_for(lambda: len(events(klog)) == 2, 5, what="second after reopen")
    cpu = klog_cpu(klog.proc.pid)
    time.sleep(1)
    assert klog_cpu(klog.proc.pid) - cpu < 20    # ticks: not busy-looping on a hang-up


def klog_cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def test_missing_kernel_log_is_not_fatal(agent_factory, tmp_path):
    a = agent_factory(config={"kmsg": {"path": str(tmp_path / "nope")}, "imds": {"enabled": False}})
    a.start()
    rc, doc = a.status()
    assert rc == 0                                 # SPEC §5 health: not a reason of its own
    assert "Cannot read the kernel log" in a.log()
    # ... but status says it: kernel events are off
    assert doc["kernel"]["kmsg"] == {"path": str(tmp_path / "nope"), "error": "No such file or directory"}
    assert "kernel events are off: No such file or directory: /tmp/" in a.run_cli("status").stdout


def test_pstore_records_are_previous_boot_crashes(agent_factory, tmp_path):
    import shutil
    from conftest import SOURCE
    pstore = tmp_path / "pstore"
    pstore.mkdir()
    shutil.copy(SOURCE / "tests/fixtures/pstore/dmesg-efi-165395423601001", pstore)
    a = agent_factory(config={"kernel": {"pstore_path": str(pstore)}, "kmsg": {"enabled": False},
                              "imds": {"enabled": False}})
    a.start()
    crashes = a.events("--type", "previous-boot-crash")
    assert len(crashes) == 1
    assert crashes[0]["detail"]["summary"] == "Kernel panic - not syncing: sysrq triggered crash"
    rc, doc = a.status()
    assert rc == 1
    assert doc["kernel"]["previous_boot"]["crash_log"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert any("did not end cleanly" in r for r in doc["reasons"])
    a.stop()
    a.start()      # the same record is not reported twice; the verdict stays for this boot
    assert len(a.events("--type", "previous-boot-crash")) == 1
    assert a.status()[1]["kernel"]["previous_boot"]["crash_log"].startswith("Kernel panic")
    shutil.copy(SOURCE / "tests/fixtures/pstore/dmesg-ramoops-0", pstore)
    a.stop()
    a.start()
    crashes = a.events("--type", "previous-boot-crash")
    assert [c["detail"]["summary"] for c in crashes][-1].startswith("BUG: kernel NULL pointer dereference")


def test_report_bundle(klog, tmp_path):
    import tarfile
    klog.write_config({"kmsg": {"path": klog.klog.path}, "imds": {"enabled": False}, "metrics": {"enabled": False},
                       "rules": [{"name": "tell", "on": ["oom-kill"],
                                  "do": [{"notify": {"webhook": "https://hooks.example.com/T000/B000/SECRETTOKEN"}}]}]})
    klog.start()
    klog.klog.write("I/O error, dev nvme1n1, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0")
    klog.klog.write("Out of memory: Killed process 4242 (java) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
                    "shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0")
    wait_for(lambda: {e["type"] for e in klog.events()} >= {"io-error", "oom-kill"}, 5, what="both events")
    r = klog.run_cli("report", "--config", str(klog.config_path), "-o", "-")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    for section in ("summary.txt", "status.json", "events.jsonl", "kernel-problems.log", "meminfo.txt",
                    "filesystems.txt", "state/boot.json", "config.json"):
        assert "==== %s ====" % section in text
    assert "this boot:  " in text and "warning io-error: io-error: I/O error, dev nvme1n1" in text
    assert "Killed process 4242 (java)" in text.split("==== kernel-problems.log ====")[1]
    assert "SECRETTOKEN" not in text and "(redacted)" in text
    out = tmp_path / "bundle.tar.gz"
    r = klog.run_cli("report", "--config", str(klog.config_path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames()]
        assert {"summary.txt", "status.json", "events.jsonl", "kernel-problems.log"} <= set(names)
        top = tar.getnames()[0].split("/")[0]
        status = json.loads(tar.extractfile(top + "/status.json").read())
        assert status["kernel"]["oom_kills"] == 1
        assert all(b"SECRETTOKEN" not in tar.extractfile(m).read() for m in tar.getmembers())


def test_overrun_of_dev_kmsg_is_counted_and_reading_goes_on(agent_factory):
    """The real /dev/kmsg: a paused agent falls behind a flood, gets EPIPE, counts it, reads on."""
    knob = "/proc/sys/kernel/printk_devkmsg"
    try:
        saved = open(knob).read().strip()
        kmsg = os.open("/dev/kmsg", os.O_WRONLY)
        open(knob, "w").write("on\n")             # user writes are rate-limited by default
    except OSError as e:
        pytest.skip("cannot write /dev/kmsg here: %s" % e)
    try:
        a = agent_factory(config={"imds": {"enabled": False}, "metrics": {"enabled": False},
                                  "kmsg": {"path": "/dev/kmsg"}})
        a.start()
        before = a.status()[1]["kernel"]["kmsg"]
        a.proc.send_signal(signal.SIGSTOP)
        try:
            filler = b"<12>ec2agent-test: " + b"x" * 900 + b"\n"
            for _ in range(4000):                    # ~3.6 MB: more than any default ring buffer
                os.write(kmsg, filler)
        finally:
            a.proc.send_signal(signal.SIGCONT)
        after = wait_for(lambda: (lambda k: k if k["overruns"] > before["overruns"] else None)(
            a.status()[1]["kernel"]["kmsg"]), 10, what="an overrun")
        os.write(kmsg, b"<12>ec2agent-test: after the flood\n")
        wait_for(lambda: a.status()[1]["kernel"]["kmsg"]["records"] > after["records"], 5, what="reading on")
        # user-space records are never events (the machine's own kernel records may be)
        assert not [e for e in a.events() if "ec2agent-test" in json.dumps(e)]
    finally:
        open(knob, "w").write(saved + "\n")
        os.close(kmsg)


def test_dev_kmsg_handed_over_on_stdin_needs_no_capability(agent_factory):
    """The unit has systemd open /dev/kmsg as root (StandardInput=file:/dev/kmsg) and runs the agent
    as its own user without any capability. Under kernel.dmesg_restrict=1 opening /dev/kmsg takes
    CAP_SYSLOG, reading an open one does not: without CAP_SYSLOG the agent reads the descriptor it
    was handed, and cannot open the device itself (the control)."""
    if open("/proc/sys/kernel/dmesg_restrict").read().strip() != "1" or os.geteuid() != 0:
        pytest.skip("needs root and kernel.dmesg_restrict=1")
    from conftest import Agent
    no_syslog = ["setpriv", "--bounding-set=-syslog", "--inh-caps=-syslog", "--"]
    docs = {}
    for handed in (True, False):
        a = agent_factory(config={"imds": {"enabled": False}, "metrics": {"enabled": False},
                                  "kmsg": {"path": "/dev/kmsg"}})
        argv = no_syslog + Agent.run_argv(a, ())
        # the shell opens the device while it still has CAP_SYSLOG, then execs the capless agent
        a.run_argv = (lambda argv: lambda args: ["sh", "-c", 'exec "$@" </dev/kmsg', "sh"] + argv)(argv) \
            if handed else (lambda argv: lambda args: argv)(argv)
        a.start()
        docs[handed] = wait_for(lambda: (lambda k: k if "error" in k or k.get("records") else None)(
            a.status()[1]["kernel"]["kmsg"]), 10, what="the kernel log read or refused")
        a.stop()
    assert docs[True]["path"] == "/dev/kmsg" and docs[True]["records"] > 0 and "error" not in docs[True], docs
    assert docs[False]["error"] == "Operation not permitted", docs
