"""EBS volumes and ENA interfaces (issue 21): status.volumes / status.network, the health reasons,
and one event per episode — against fake devices (EC2AGENT_TEST_NITRO, nitro-fake.h): sysfs under
DIR/sys, page 0xD0 of each controller in DIR/nvme/, ethtool statistics in DIR/ethtool/."""
import os
import struct

import pytest

from conftest import wait_for

MAGIC = 0x3C23B510


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def page(volume_iops=0, volume_tp=0, instance_iops=0, instance_tp=0, magic=MAGIC):
    """Page 0xD0 as the AWS documentation lays it out: u32 magic, 4 reserved bytes, eleven
    little-endian u64 (ops, bytes, times, the four 'exceeded' times in µs, queue length), then
    reserved bytes and histograms to 4 096."""
    counters = [10, 20, 4096, 8192, 500, 600, volume_iops, volume_tp, instance_iops, instance_tp, 2]
    body = struct.pack("<I4x11Q", magic, *counters)
    return body + b"\0" * (4096 - len(body))


class FakeNitro:
    def __init__(self, root):
        self.root = root
        (root / "sys" / "class" / "nvme").mkdir(parents=True)
        (root / "sys" / "class" / "net").mkdir(parents=True)

    def volume(self, ctrl, serial, model="Amazon Elastic Block Store"):
        d = self.root / "sys" / "class" / "nvme" / ctrl
        write(d / "model", model.ljust(40) + "\n")
        write(d / "serial", serial + "\n")
        (d / (ctrl + "n1")).mkdir(exist_ok=True)

    def page(self, ctrl, **kw):
        write(self.root / "nvme" / ctrl, page(**kw))

    def iface(self, name, ifindex, driver="ena", **stats):
        write(self.root / "sys" / "class" / "net" / name / "ifindex", "%d\n" % ifindex)
        lines = ["driver " + driver, "tx_timeout 0"]
        if driver == "ena":
            for k in ("bw_in", "bw_out", "pps", "conntrack", "linklocal"):
                lines.append("%s_allowance_exceeded %d" % (k, stats.get(k, 0)))
            lines.append("conntrack_allowance_available 5000")
        write(self.root / "ethtool" / name, "\n".join(lines) + "\n")

    def remove_iface(self, name):
        import shutil
        shutil.rmtree(self.root / "sys" / "class" / "net" / name)


CONFIG = {"metrics": {"collection_interval_s": 1, "publish_interval_s": 60}}


@pytest.fixture
def nitro(tmp_path):
    return FakeNitro(tmp_path / "nitro")


def start(agent_factory, nitro):
    a = agent_factory(CONFIG, env={"EC2AGENT_TEST_NITRO": str(nitro.root)})
    return a.start()


def status_of(a):
    rc, doc = a.status()
    assert doc is not None, a.log()
    return rc, doc


def test_status_lists_ebs_volumes_and_ena_interfaces(agent_factory, nitro):
    nitro.volume("nvme0", "vol0123456789abcdef0")
    nitro.page("nvme0")
    nitro.volume("nvme1", "AWS11223344", model="Amazon EC2 NVMe Instance Storage")
    nitro.page("nvme1", magic=0xEC2C0D7E)  # never asked: it would be an error in status
    nitro.iface("ens5", 2)
    nitro.iface("veth0", 7, driver="veth")
    a = start(agent_factory, nitro)
    rc, doc = status_of(a)
    assert doc["volumes"] == [{
        "volume_id": "vol-0123456789abcdef0", "device": "/dev/nvme0n1", "controller": "nvme0", "kind": "ebs",
        "error": None, "queue_length": 2,
        "exceeded_5m": {"volume_iops": 0, "volume_throughput": 0, "instance_iops": 0, "instance_throughput": 0},
    }]
    assert doc["network"] == [{
        "interface": "ens5", "driver": "ena", "error": None, "conntrack_available": 5000,
        "exceeded_5m": {"bw_in": 0, "bw_out": 0, "pps": 0, "conntrack": 0, "linklocal": 0},
    }]
    assert doc["health"] == "ok", doc["reasons"]


def test_excess_is_a_warning_and_one_event_per_episode(agent_factory, nitro):
    nitro.volume("nvme1", "vol0abc")
    nitro.page("nvme1")
    nitro.iface("ens5", 2, pps=100)
    a = start(agent_factory, nitro)
    wait_for(lambda: len(status_of(a)[1]["volumes"]) == 1 and len(status_of(a)[1]["network"]) == 1,
             10, what="the devices in status")

    nitro.page("nvme1", volume_iops=41_000_000)
    nitro.iface("ens5", 2, pps=1300)
    doc = wait_for(lambda: (lambda d: d if d["volumes"][0]["exceeded_5m"]["volume_iops"] and
                            d["network"][0]["exceeded_5m"]["pps"] else None)(status_of(a)[1]),
                   10, what="the excess in status")
    rc, doc = status_of(a)
    assert rc == 1 and doc["health"] == "warning"
    assert "vol-0abc exceeded its provisioned IOPS for 41 s of the last 5 min: raise its IOPS or spread the load" \
        in doc["reasons"]
    assert "ens5 dropped 1 200 packets over its PPS allowance in the last 5 min: a larger instance size" \
        in doc["reasons"]
    human = a.run_cli("status").stdout
    assert "vol-0abc /dev/nvme1n1: 41.0 s over its limits in 5 min" in human, human
    assert "ens5 (ena): 1200 packets over allowances in 5 min" in human, human

    # more excess in the same episode: status grows, no second event
    nitro.page("nvme1", volume_iops=43_000_000)
    nitro.iface("ens5", 2, pps=1400)
    wait_for(lambda: status_of(a)[1]["volumes"][0]["exceeded_5m"]["volume_iops"] == 43_000_000 and
             status_of(a)[1]["network"][0]["exceeded_5m"]["pps"] == 1300, 10, what="the second excess in status")
    events = [e for e in a.events() if e["type"] in ("ebs-performance-exceeded", "network-allowance-exceeded")]
    assert [e["type"] for e in events].count("ebs-performance-exceeded") == 1, events
    assert [e["type"] for e in events].count("network-allowance-exceeded") == 1, events
    ebs = next(e for e in events if e["type"] == "ebs-performance-exceeded")
    assert ebs["severity"] == "warning"
    assert ebs["detail"]["volume_id"] == "vol-0abc"
    assert ebs["detail"]["exceeded_us"]["volume_iops"] == 41_000_000
    assert ebs["detail"]["counters"]["volume_performance_exceeded_iops"] == 41_000_000
    net = next(e for e in events if e["type"] == "network-allowance-exceeded")
    assert net["detail"]["interface"] == "ens5"
    assert net["detail"]["exceeded"]["pps"] == 1200
    assert net["detail"]["counters"]["pps_allowance_exceeded"] == 1300


def test_driver_reset_is_no_excess(agent_factory, nitro):
    nitro.iface("eth0", 2, bw_out=900000)
    a = start(agent_factory, nitro)
    wait_for(lambda: len(status_of(a)[1]["network"]) == 1, 10, what="eth0 in status")
    nitro.iface("eth0", 2, bw_out=3)  # the driver reset
    wait_for(lambda: "counters went down" in a.log(), 10, what="the reset noticed")
    rc, doc = status_of(a)
    assert doc["network"][0]["exceeded_5m"]["bw_out"] == 0 and doc["health"] == "ok", doc
    assert not [e for e in a.events() if e["type"] == "network-allowance-exceeded"]


def test_refusing_device_is_asked_once_and_hotplug_is_followed(agent_factory, nitro):
    nitro.volume("nvme2", "vol0def")  # no page: the fake device refuses
    nitro.iface("ens5", 2)
    a = start(agent_factory, nitro)
    rc, doc = status_of(a)
    assert doc["volumes"][0]["error"] == "the device refused the statistics log page"
    assert doc["volumes"][0]["exceeded_5m"] is None
    nitro.iface("ens6", 3)
    wait_for(lambda: len(status_of(a)[1]["network"]) == 2, 10, what="ens6 plugged")
    nitro.remove_iface("ens5")
    wait_for(lambda: [n["interface"] for n in status_of(a)[1]["network"]] == ["ens6"], 10, what="ens5 unplugged")
    assert a.log().count("vol-0def (nvme2): the device refused") == 1, a.log()


def test_metrics_go_to_cloudwatch_when_measured_and_to_the_textfile_always(agent_factory, nitro, imds, aws,
                                                                           tmp_path):
    """SPEC §7: the EBS and ENA metrics are opt-in for CloudWatch (metrics.measurements), with
    VolumeId / interface as dimensions; the Prometheus textfile has every one of them."""
    from test_publish import delivered
    nitro.volume("nvme0", "vol0123456789abcdef0")
    nitro.page("nvme0", volume_iops=41_000_000)
    nitro.iface("ens5", 2, pps=1200)
    prom = tmp_path / "prom" / "ec2agent.prom"
    prom.parent.mkdir()
    config = {"kmsg": {"enabled": False},
              "metrics": {"collection_interval_s": 1, "publish_interval_s": 2, "prometheus_textfile": str(prom),
                          "measurements": ["mem_used_percent", "diskio_ebs_volume_performance_exceeded_iops",
                                           "ethtool_pps_allowance_exceeded"]}}
    a = agent_factory(config=config, env={"EC2AGENT_TEST_NITRO": str(nitro.root),
                                          "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
                                          "AWS_ENDPOINT_URL": aws.url}).start()

    def sent(name):
        return [d for d in delivered(aws) if d["name"] == name]

    wait_for(lambda: sent("diskio_ebs_volume_performance_exceeded_iops") and
             sent("ethtool_pps_allowance_exceeded"), 30, what="EBS and ENA metrics published")
    ebs = sent("diskio_ebs_volume_performance_exceeded_iops")[0]
    assert ebs["dims"].get("VolumeId") == "vol-0123456789abcdef0", ebs
    ena = sent("ethtool_pps_allowance_exceeded")[0]
    assert ena["dims"].get("interface") == "ens5", ena
    # only what measurements names goes to CloudWatch
    names = {d["name"] for d in delivered(aws)}
    assert names == {"mem_used_percent", "diskio_ebs_volume_performance_exceeded_iops",
                     "ethtool_pps_allowance_exceeded"}, names
    # the textfile has every metric, the unpublished ones too
    wait_for(lambda: prom.exists() and "ec2agent_diskio_ebs_volume_queue_length" in prom.read_text(), 20,
             what="the textfile with the EBS metrics")
    text = prom.read_text()
    assert 'ec2agent_diskio_ebs_volume_queue_length{volume_id="vol-0123456789abcdef0"} 2' in text, text
    assert 'ec2agent_ethtool_conntrack_allowance_available{interface="ens5"} 5000' in text, text
    a.stop()
