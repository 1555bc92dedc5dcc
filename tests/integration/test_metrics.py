"""Issue 18: what a fleet pays for (metrics.measurements), fleet-wide series
(metrics.aggregation_dimensions), and the Prometheus textfile as Debian's node_exporter reads it.

CloudWatch is the fake of tests/fakes/aws.py (every request's SigV4 checked with botocore)."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import Agent, wait_for
from test_publish import delivered

DEFAULTS = {"mem_used_percent", "swap_used_percent", "disk_used_percent"}
NODE_EXPORTER = shutil.which("prometheus-node-exporter")
PROMTOOL = shutil.which("promtool")


def distinct(aws):
    """The distinct metrics CloudWatch bills: name and dimensions."""
    return {(d["name"], tuple(sorted(d["dims"].items()))) for d in delivered(aws)}


def intervals(aws):
    return {d["ts"] for d in delivered(aws)}


def ok_requests(aws):
    return [r for r in aws.accepted("PutMetricData") if r["status"] == 200]


@pytest.fixture
def metrics_agent(agent_factory, imds, aws):
    def make(metrics=None, **config):
        m = {"collection_interval_s": 1, "publish_interval_s": 2}
        m.update(metrics or {})
        return agent_factory(config=dict({"kmsg": {"enabled": False}, "metrics": m}, **config),
                             env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    return make


# ---------------------------------------------------------------- measurements


def test_defaults_are_three_metrics_in_one_request_an_interval(metrics_agent, aws):
    a = metrics_agent().start()
    wait_for(lambda: len(intervals(aws)) >= 4, 30, what="four intervals published")
    a.stop()
    got = distinct(aws)
    assert {name for name, _ in got} == DEFAULTS, got
    assert len(got) == 3, got                   # one filesystem (/dev here), no kernel trouble
    assert aws.rejected == []
    # at most one request an interval: every interval's datums went out together
    assert len(ok_requests(aws)) <= len(intervals(aws))
    for ts in intervals(aws):
        assert len([d for d in delivered(aws) if d["ts"] == ts]) == 3


def test_measurements_star_is_every_metric(metrics_agent, aws):
    a = metrics_agent(metrics={"measurements": ["*"]}).start()
    wait_for(lambda: len(intervals(aws)) >= 2, 30, what="two intervals published")
    a.stop()
    names = {name for name, _ in distinct(aws)}
    assert len(names) == 20 and "cpu_usage_active" in names and "disk_inodes_total" in names, names
    assert "oom_kills" not in names and "kernel_problems" not in names   # zero: not sent


def test_measurements_selects(metrics_agent, aws):
    a = metrics_agent(metrics={"measurements": ["mem_available_percent", "disk_free"]}).start()
    wait_for(lambda: len(intervals(aws)) >= 2, 30, what="two intervals published")
    a.stop()
    assert {name for name, _ in distinct(aws)} == {"mem_available_percent", "disk_free"}


def test_unknown_measurement_is_a_config_error(agent_factory):
    a = agent_factory(config={"metrics": {"measurements": ["mem_used_percent", "mem_usd_percent"]}})
    r = a.run_cli("check-config", "--config", str(a.config_path))
    assert r.returncode != 0
    assert 'metrics.measurements[1]: unknown metric "mem_usd_percent" (did you mean "mem_used_percent"?)' \
        in r.stdout + r.stderr


# ---------------------------------------------------------------- aggregation_dimensions


SETS = [["AutoScalingGroupName"], ["InstanceType"], []]


def dims_by_name(aws):
    out = {}
    for name, dims in distinct(aws):
        out.setdefault(name, set()).add(tuple(k for k, _ in dims))
    return out


def test_aggregation_dimensions_without_an_auto_scaling_group(metrics_agent, aws):
    a = metrics_agent(metrics={"aggregation_dimensions": SETS}).start()
    wait_for(lambda: len(intervals(aws)) >= 3, 30, what="three intervals published")
    a.stop()
    got = distinct(aws)
    assert len(got) == 9, got       # 3 metrics × (all dimensions, InstanceType, none); no ASG: left out
    assert not any("AutoScalingGroupName" in dict(dims) for _, dims in got)
    for name, keys in dims_by_name(aws).items():
        full = ("InstanceId", "device", "fstype", "path") if name.startswith("disk_") else ("InstanceId",)
        assert keys == {full, ("InstanceType",), ()}, (name, keys)
    # the same statistics under each set, in the same requests: still one request an interval
    for ts in intervals(aws):
        same = [d for d in delivered(aws) if d["ts"] == ts and d["name"] == "mem_used_percent"]
        assert len(same) == 3 and len({(d["count"], d["sum"], d["min"], d["max"]) for d in same}) == 1
        assert len([d for d in delivered(aws) if d["ts"] == ts]) == 9
    assert len(ok_requests(aws)) <= len(intervals(aws))
    assert {d["dims"].get("InstanceType") for d in delivered(aws) if list(d["dims"]) == ["InstanceType"]} \
        == {"m7g.large"}


def test_aggregation_dimensions_in_an_auto_scaling_group(metrics_agent, aws, imds):
    imds.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    a = metrics_agent(metrics={"aggregation_dimensions": SETS}).start()
    wait_for(lambda: len(intervals(aws)) >= 2, 30, what="two intervals published")
    a.stop()
    got = distinct(aws)
    assert len(got) == 12, got
    # the group's series from the first interval on: the datums waited for the group's tag
    for ts in intervals(aws):
        assert {d["name"] for d in delivered(aws)
                if d["ts"] == ts and d["dims"] == {"AutoScalingGroupName": "web-asg"}} == DEFAULTS


# ---------------------------------------------------------------- the Prometheus textfile

# A mount point with a quote, a backslash, a space and a newline in its name (mountinfo shows it as
# a\040"q"\040\134b\012nl). The agent reads PID 1's mount table, so it is mounted here, not in a
# namespace of the agent's own, and unmounted at the end.
HOSTILE = 'a "q" \\b\nnl'


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text):
    """The samples of a text exposition: [(name, {label: value}, float)], strictly."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = {}
        if m.group(2):
            assert LABEL.sub("", m.group(2)) == "", "bad labels: %r" % line
            labels = {k: unescape(v) for k, v in LABEL.findall(m.group(2))}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, (name, labels, [s for s in samples if s[0] == name])
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the hostile mount point needs root")
@pytest.mark.skipif(not NODE_EXPORTER, reason="Debian's prometheus-node-exporter is not installed (scripts/deps)")
def test_prometheus_textfile_through_node_exporter(tmp_path, imds, aws):
    textdir = tmp_path / "node-exporter"
    textdir.mkdir()
    mnt = tmp_path / HOSTILE
    mnt.mkdir()
    prom = textdir / "ec2agent.prom"
    imds.set("spot/instance-action", '{"action": "terminate", "time": "2099-01-01T00:00:00Z"}')
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    a = Agent(tmp_path / "agent", {
        "kmsg": {"enabled": False},
        "metrics": {"collection_interval_s": 1, "publish_interval_s": 2, "filesystems": ["/dev", str(mnt)],
                    "prometheus_textfile": str(prom)}},
        {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    ne = None
    try:
        a.start()
        wait_for(lambda: prom.exists() and 'fstype="tmpfs"' in prom.read_text()
                 and 'ec2agent_notice{type="spot"} 1' in prom.read_text(), 20,
                 what="the textfile with both filesystems and the spot notice")
        assert prom.stat().st_mode & 0o7777 == 0o644
        assert [p.name for p in textdir.iterdir() if p.name.endswith(".prom")] == ["ec2agent.prom"]

        port = free_port()
        ne = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                               "--collector.disable-defaults", "--collector.textfile",
                               "--collector.textfile.directory=%s" % textdir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def scrape():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
                    return r.read().decode()
            except OSError:
                return None
        text = wait_for(scrape, 15, interval=0.2, what="node_exporter's /metrics")
        samples = parse_exposition(text)
        assert value(samples, "node_textfile_scrape_error") == 0, text
        # what the agent knows, as node_exporter serves it
        assert 0 < value(samples, "ec2agent_mem_used_percent") < 100
        assert value(samples, "ec2agent_mem_total") > 0
        assert value(samples, "ec2agent_disk_used_percent", path="/dev", fstype="devtmpfs") == 0
        # the label as status shows the path: the newline as the four characters \x0a (no control byte
        # reaches a label), the quote and the backslash as they are
        shown = str(mnt).replace("\n", "\\x0a")
        assert sorted(f["path"] for f in a.status()[1]["filesystems"]) == sorted(["/dev", shown])
        assert value(samples, "ec2agent_disk_total", path=shown, fstype="tmpfs", device="tmpfs") == 1024 * 1024
        # node_exporter sorts the labels: path last
        assert 'path="%s"}' % shown.replace("\\", "\\\\").replace('"', '\\"') in text
        assert value(samples, "ec2agent_health") == 2                          # spot: critical
        assert value(samples, "ec2agent_notice", type="spot") == 1
        assert value(samples, "ec2agent_notice", type="rebalance") == 0
        assert value(samples, "ec2agent_oom_kills_total") == 0
        assert value(samples, "ec2agent_kernel_problems_total", **{"class": "fs-error"}) == 0
        assert "# TYPE ec2agent_oom_kills_total counter" in text
        assert "# TYPE ec2agent_disk_used_percent gauge" in text
        assert "# HELP ec2agent_health " in text
        # the status says the same
        doc = a.status()[1]
        assert doc["prometheus"]["path"] == str(prom) and doc["prometheus"]["last_error"] is None
        assert doc["prometheus"]["bytes"] > 0
    finally:
        if ne:
            ne.terminate()
            ne.communicate(timeout=10)
        a.cleanup()
        subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.skipif(not PROMTOOL, reason="promtool (Debian's prometheus package) is not installed")
def test_prometheus_textfile_passes_promtool(metrics_agent, tmp_path):
    prom = tmp_path / "ec2agent.prom"
    a = metrics_agent(metrics={"enabled": False, "prometheus_textfile": str(prom)}).start()
    wait_for(lambda: prom.exists() and "ec2agent_disk_used_percent" in prom.read_text(), 15, what="the textfile")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=prom.read_bytes(), capture_output=True, timeout=30)
    # It parses (exit 1 otherwise); of its lint, only the names SPEC §7 fixes (the CloudWatch agent's
    # mem_total, disk_total, disk_inodes_total are gauges) are left: exit 3, "lint problems".
    lint = set((r.stdout + r.stderr).decode().splitlines())
    assert r.returncode in (0, 3), lint
    assert lint <= {'ec2agent_%s non-counter metrics should not have "_total" suffix' % n
                    for n in ("mem_total", "disk_total", "disk_inodes_total")}, lint
    a.stop()


def test_prometheus_textfile_rewritten_every_interval_and_errors_shown(metrics_agent, tmp_path):
    prom = tmp_path / "missing" / "ec2agent.prom"
    a = metrics_agent(metrics={"prometheus_textfile": str(prom)}).start()
    wait_for(lambda: a.status()[1]["prometheus"]["last_error"] == "No such file or directory", 10,
             what="the missing directory in status")
    prom.parent.mkdir()
    wait_for(lambda: prom.exists(), 10, what="the file once the directory is there")
    first = prom.stat().st_ino
    wait_for(lambda: prom.stat().st_ino != first, 10, what="a rewrite (a new inode: renamed over)")
    assert a.status()[1]["prometheus"]["last_error"] is None
    assert "Cannot write the Prometheus textfile" in a.log()


# ---------------------------------------------------------------- the API's limits


def test_a_backlog_over_one_megabyte_goes_in_requests_under_it(metrics_agent, aws):
    """1 000 spooled datums with long dimensions (an outage with many filesystems and aggregation
    sets) make a form of ~3 MB: they go in requests of at most 1 MB, in order, none dropped."""
    a = metrics_agent(metrics={"measurements": []})
    spool = a.state / "spool"
    spool.mkdir(parents=True)
    t = int(time.time()) // 60 * 60 - 3600
    long = "/srv/" + "x" * 240
    lines = [json.dumps({"m": "disk_used_percent", "t": t + i, "s": [6, 6.0 * i, i, i],
                         "d": [["InstanceId", "i-0abc1234def567890"], ["path", long + "%04d" % i],
                               ["device", "/dev/mapper/" + "y" * 200], ["fstype", "ext4"]]})
             for i in range(1000)]
    (spool / "0000000000000001.jsonl").write_text("\n".join(lines) + "\n")
    a.start()
    wait_for(lambda: len(delivered(aws)) >= 1000, 30, what="the 1 000 spooled datums")
    got = delivered(aws)
    assert [d["sum"] for d in got] == [6.0 * i for i in range(1000)]       # each once, in order
    reqs = ok_requests(aws)
    assert len(reqs) > 1 and all(r["form_bytes"] <= 1024 * 1024 for r in reqs), [r["form_bytes"] for r in reqs]
    doc = a.status()[1]["cloudwatch"]
    assert doc["dropped_datapoints"] == 0 and doc["rejected_datapoints"] == 0, doc
    wait_for(lambda: not list(spool.glob("*.jsonl")), 10, what="the spool file gone once all is sent")
