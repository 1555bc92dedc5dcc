"""CloudWatch publishing against the fake endpoint, which checks every SigV4 signature."""
import collections
import json
import signal
import time

import pytest

from conftest import wait_for
from fakes.aws import error_xml

UNITS = {
    "mem_used_percent": "Percent", "mem_available_percent": "Percent", "mem_used": "Bytes",
    "mem_available": "Bytes", "mem_total": "Bytes", "mem_cached": "Bytes", "mem_buffered": "Bytes",
    "mem_free": "Bytes", "swap_used_percent": "Percent", "swap_used": "Bytes", "swap_free": "Bytes",
    "disk_used_percent": "Percent", "disk_used": "Bytes", "disk_free": "Bytes", "disk_total": "Bytes",
    "disk_inodes_used": "Count", "disk_inodes_free": "Count", "disk_inodes_total": "Count",
    "cpu_usage_active": "Percent", "oom_kills": "Count", "kernel_problems": "Count",
    "mem_pressure_some_avg10": "Percent",
}


def datums(request):
    """The MetricData members of one recorded request, as dicts."""
    by = collections.defaultdict(dict)
    for k, v in request["params"].items():
        if k.startswith("MetricData.member."):
            n, rest = k[len("MetricData.member."):].split(".", 1)
            by[int(n)][rest] = v
    out = []
    for n in sorted(by):
        d = by[n]
        dims = {}
        for k, v in d.items():
            if k.startswith("Dimensions.member.") and k.endswith(".Name"):
                dims[v] = d[k[:-len("Name")] + "Value"]
        out.append({"name": d["MetricName"], "unit": d.get("Unit"), "ts": d["Timestamp"], "dims": dims,
                    "count": float(d["StatisticValues.SampleCount"]), "sum": float(d["StatisticValues.Sum"]),
                    "min": float(d["StatisticValues.Minimum"]), "max": float(d["StatisticValues.Maximum"]),
                    "resolution": d.get("StorageResolution")})
    return out


def delivered(aws):
    return [d for r in aws.accepted("PutMetricData") if r["status"] == 200 for d in datums(r)]


@pytest.fixture
def publishing(agent_factory, imds, aws, tmp_path):
    def make(metrics=None, env=None, name=None):
        m = {"collection_interval_s": 1, "publish_interval_s": 2}
        m.update(metrics or {})
        e = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url}
        e.update(env or {})
        a = agent_factory(config={"kmsg": {"enabled": False}, "metrics": m}, env=e,
                          name=name)
        a.aws = aws
        return a
    return make


def test_put_metric_data_is_signed_and_complete(publishing, aws):
    a = publishing(metrics={"filesystems": ["/"], "measurements": ["*"]})
    a.start()
    wait_for(lambda: {d["name"] for d in delivered(aws)} >= set(UNITS) - {"kernel_problems", "oom_kills"}, 15,
             what="every metric name")
    assert aws.rejected == []
    reqs = aws.accepted("PutMetricData")
    assert all(r["service"] == "monitoring" and r["region"] == "eu-west-1" for r in reqs)
    assert all(r["access_key"] == "ASIAFAKEIMDSKEY00001" for r in reqs)   # instance-profile credentials
    assert all(r["params"]["Namespace"] == "CWAgent" and r["params"]["Version"] == "2010-08-01" for r in reqs)
    for d in delivered(aws):
        assert d["unit"] == UNITS[d["name"]], d
        assert d["dims"]["InstanceId"] == "i-0abc1234def567890"
        assert d["count"] >= 1 and d["min"] <= d["sum"] / d["count"] + 1e-6 <= d["max"] + 2e-6
        assert d["ts"].endswith("Z") and int(d["ts"][17:19]) % 2 == 0     # interval starts
        if d["name"].startswith("disk_"):
            assert d["dims"]["path"] == "/" and d["dims"]["device"].startswith("/dev/") and d["dims"]["fstype"]
        assert d["resolution"] is None
    per_request = [len(datums(r)) for r in reqs]
    assert max(per_request) <= 1000
    # gzip above 10 KiB, as botocore does; the form repeats itself, so it shrinks well
    assert all(r["gzip"] == (r["form_bytes"] > 10240) for r in reqs), [(r["gzip"], r["form_bytes"]) for r in reqs]
    assert all(r["bytes"] * 4 < r["form_bytes"] for r in reqs if r["gzip"])
    assert any(r["gzip"] for r in reqs)
    doc = a.status()[1]["cloudwatch"]
    assert doc["published_datapoints"] > 0 and doc["last_error"] is None and doc["last_publish_at"]


def test_ipv6_literal_endpoints(agent_factory):
    """An IPv6-only subnet: IMDS and CloudWatch at IPv6 literals. The SigV4 signature covers the
    Host header "[::1]:PORT" as the fake (botocore) recomputes it."""
    from fakes.aws import FakeAws
    from fakes.imds import FakeImds
    imds6, aws6 = FakeImds(host="::1").start(), FakeAws(host="::1").start()
    try:
        a = agent_factory(config={"kmsg": {"enabled": False},
                                  "metrics": {"collection_interval_s": 1, "publish_interval_s": 2}},
                          env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds6.url,
                               "AWS_ENDPOINT_URL_CLOUDWATCH": aws6.url})
        a.start()
        wait_for(lambda: aws6.accepted("PutMetricData"), 15, what="PutMetricData over IPv6")
        assert aws6.rejected == []
        assert aws6.accepted("PutMetricData")[0]["access_key"] == "ASIAFAKEIMDSKEY00001"
        a.stop()
    finally:
        imds6.stop()
        aws6.stop()


def test_high_resolution_and_all_dimensions(publishing, aws, imds):
    imds.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    a = publishing(metrics={"high_resolution": True, "namespace": "Fleet",
                            "dimensions": ["InstanceId", "InstanceType", "ImageId", "AutoScalingGroupName"]})
    a.start()
    d = wait_for(lambda: delivered(aws), 30, what="a datum")[0]
    assert d["resolution"] == "1"
    assert d["dims"] == {"InstanceId": "i-0abc1234def567890", "InstanceType": "m7g.large",
                         "ImageId": "ami-0abcdef1234567890", "AutoScalingGroupName": "web-asg"}
    assert aws.accepted()[0]["params"]["Namespace"] == "Fleet"


def test_environment_credentials(publishing, aws):
    a = publishing(env={"AWS_ACCESS_KEY_ID": "AKIDFAKEENVKEY000001",
                        "AWS_SECRET_ACCESS_KEY": "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012"})
    a.start()
    wait_for(lambda: aws.accepted(), 30, what="a request")
    assert {r["access_key"] for r in aws.accepted()} == {"AKIDFAKEENVKEY000001"}
    assert aws.rejected == []


def timestamps(aws, name="mem_used_percent"):
    return sorted(d["ts"] for d in delivered(aws) if d["name"] == name)


def contiguous(ts, step=2):
    import datetime
    t = [datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%SZ").timestamp() for x in ts]
    return all(b - a == step for a, b in zip(t, t[1:]))


def test_outage_of_5xx_then_throttling_loses_nothing(publishing, aws):
    aws.answer("500", "500", "notxml", "throttle", "throttle", "throttle")
    a = publishing()
    a.start()
    doc = wait_for(lambda: (lambda d: d if d["cloudwatch"]["failing_since"] else None)(a.status()[1]), 10,
                   what="failing")
    assert doc["cloudwatch"]["last_error"]
    wait_for(lambda: len(aws.accepted()) >= 6 and a.status()[1]["cloudwatch"]["failing_since"] is None, 60,
             what="recovery")
    time.sleep(4.5)
    ts = timestamps(aws)
    assert len(ts) >= 4 and len(ts) == len(set(ts)), ts          # every interval once
    assert contiguous(ts), ts                                     # none missing
    doc = a.status()[1]["cloudwatch"]
    assert doc["dropped_datapoints"] == 0 and doc["rejected_datapoints"] == 0
    assert doc["queued_datapoints"] < 60


def test_error_reply_that_is_not_xml(publishing, aws):
    aws.answer("notxml")
    a = publishing()
    a.start()
    # Reported as the status code, not as the body. status shows it only until the retry works,
    # which full jitter may make milliseconds later: the journal line is what stays.
    wait_for(lambda: "fails, keeping the datapoints: HTTP 502\n" in a.log(), 10, what="HTTP 502 reported")
    wait_for(lambda: delivered(aws), 30, what="delivered after the retry")


def test_non_retryable_error_is_counted(publishing, aws):
    aws.answer((400, error_xml("InvalidParameterValue", "The value NaN for parameter MetricData.member.1 is invalid.")))
    a = publishing()
    a.start()
    doc = wait_for(lambda: (lambda c: c if c["rejected_datapoints"] > 0 else None)(a.status()[1]["cloudwatch"]), 10,
                   what="rejected")
    assert "InvalidParameterValue" in a.log()
    wait_for(lambda: delivered(aws), 10, what="later batches still go")


def test_restart_with_a_spool(publishing, aws):
    aws.answer(*["500"] * 1000)
    a = publishing()
    a.start()
    time.sleep(6)
    a.stop()
    spool = a.state / "spool"
    files = list(spool.glob("*.jsonl"))
    assert files, "the queue went to the spool at stop"
    spooled = [json.loads(line) for f in sorted(files) for line in open(f)]
    with aws.lock:
        aws.script.clear()
    a.start()
    assert a.status()[1]["cloudwatch"]["queued_datapoints"] >= len(spooled)
    wait_for(lambda: not list(spool.glob("*.jsonl")), 30, what="the spool drained")
    # Every spooled datum arrived once, with its original timestamp.
    import datetime
    got = collections.Counter((d["name"], d["ts"], json.dumps(d["dims"], sort_keys=True)) for d in delivered(aws))
    for s_ in spooled:
        ts = datetime.datetime.fromtimestamp(s_["t"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = (s_["m"], ts, json.dumps(dict(s_["d"]), sort_keys=True))
        assert got[key] == 1, key
    assert contiguous(timestamps(aws))


def test_agent_metrics_oom_kills_and_kernel_problems(agent_factory, imds, aws, tmp_path):
    import os
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    a = agent_factory(config={"kmsg": {"path": str(fifo)}, "imds": {},
                              "metrics": {"collection_interval_s": 1, "publish_interval_s": 2}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    a.start()
    fd = os.open(fifo, os.O_WRONLY)
    now = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    os.write(fd, ("3,1,%d,-;Out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, "
                  "shmem-rss:0kB\n3,2,%d,-;I/O error, dev nvme1n1, sector 8 op 0x1:(WRITE) flags 0x0\n"
                  "3,3,%d,-;I/O error, dev nvme1n1, sector 16 op 0x1:(WRITE) flags 0x0\n" % (now, now, now)).encode())
    os.close(fd)
    wait_for(lambda: sum(d["sum"] for d in delivered(aws) if d["name"] == "oom_kills") == 1, 15, what="oom_kills 1")
    probs = [d for d in delivered(aws) if d["name"] == "kernel_problems"]
    wait_for(lambda: [d for d in delivered(aws) if d["name"] == "kernel_problems"], 10, what="kernel_problems")
    probs = [d for d in delivered(aws) if d["name"] == "kernel_problems"]
    assert probs[0]["dims"]["class"] == "io-error" and probs[0]["sum"] >= 1
    # only for the intervals in which they are above zero (SPEC §7): no zeros sent, no zeros paid for
    time.sleep(4.5)
    counters = [d for d in delivered(aws) if d["name"] in ("oom_kills", "kernel_problems")]
    assert all(d["sum"] > 0 for d in counters), counters
    assert len([d for d in counters if d["name"] == "oom_kills"]) == 1


def test_corrupt_spool_lines_are_skipped_and_counted(publishing, aws):
    a = publishing()
    spool = a.state / "spool"
    spool.mkdir(parents=True)
    t = int(time.time()) // 60 * 60 - 120
    good = [{"m": "mem_used_percent", "t": t - 60 * i, "s": [1, 42.0 + i, 42.0 + i, 42.0 + i],
             "d": [["InstanceId", "i-0abc1234def567890"]]} for i in range(3)]
    bad = [b'{"m":"mem_used_percent","t":', b"\x00\x00\x00\x00\x00\x00",          # torn, zeroed
           b'{"m":"mem_used_percent","t":1,"s":[1,2]}',                            # short statistics
           b'{"m":"","t":1,"s":[1,2,3,4]}', b'{"m":"x","t":1,"s":[1,"2",3,4]}',    # no name, a string
           b'{"m":"x","t":1,"s":[1,2,3,4],"d":[["k"]]}', b"[1,2,3]", b"\xff\xfe"]
    lines = [json.dumps(good[0]).encode()] + bad[:4] + [json.dumps(good[1]).encode()] + bad[4:] + \
        [json.dumps(good[2]).encode()]
    (spool / "0000000000000001.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    a.start()
    # every good datum arrives, once; the bad ones are counted, never fatal
    wait_for(lambda: {d["sum"] for d in delivered(aws) if d["name"] == "mem_used_percent"} >= {42.0, 43.0, 44.0},
             20, what="the good spooled datums")
    assert a.proc.poll() is None
    assert (spool / "0000000000000001.jsonl.corrupt").read_bytes() == b"\n".join(lines) + b"\n"
    assert "holds 8 unreadable lines" in a.log() and "0000000000000001.jsonl.corrupt" in a.log()
    assert a.status()[1]["cloudwatch"]["dropped_datapoints"] >= len(bad)
    wait_for(lambda: not list(spool.glob("*.jsonl")), 10, what="the spool file gone once sent")
