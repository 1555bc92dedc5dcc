"""IMDSv2 against the fake: identity, every notice and transition, every fault, tokens, secrets."""
import json
import signal
import time

import pytest

from conftest import wait_for

SPOT = '{"action": "terminate", "time": "2026-11-23T10:02:00Z"}'
SCHEDULED = [{"NotBefore": "30 Nov 2026 02:00:00 GMT", "Code": "system-reboot", "Description": "scheduled reboot",
              "EventId": "instance-event-0d59937288b749b32", "NotAfter": "30 Nov 2026 04:00:00 GMT",
              "State": "active"}]


@pytest.fixture
def on_ec2(agent_factory, imds):
    """An agent pointed at the fake IMDS, polling every second, scheduled events every second."""
    a = agent_factory(config={"imds": {"timeout_ms": 300, "scheduled_events_interval_s": 1},
                              "kmsg": {"enabled": False}, "metrics": {"enabled": False}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url})
    a.imds = imds
    return a


def status(a):
    return a.status()[1]


def events(a, type_=None):
    return a.events(*(("--type", type_) if type_ else ()))


def test_identity(on_ec2):
    on_ec2.start()
    doc = wait_for(lambda: (lambda d: d if d["instance"]["on_ec2"] else None)(status(on_ec2)), 5, what="identity")
    assert doc["instance"] == {"on_ec2": True, "instance_id": "i-0abc1234def567890", "instance_type": "m7g.large",
                               "region": "eu-west-1", "availability_zone": "eu-west-1a",
                               "ami_id": "ami-0abcdef1234567890", "asg_name": None}
    assert doc["imds"]["reachable"] is True and doc["imds"]["last_error"] is None
    assert doc["health"] == "ok"


def test_asg_name_from_instance_tags(on_ec2, imds):
    imds.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    on_ec2.start()
    wait_for(lambda: status(on_ec2)["instance"]["asg_name"] == "web-asg", 5, what="asg name")


def test_tokens_always_and_reused(on_ec2, imds):
    on_ec2.start()
    time.sleep(3.5)
    gets = imds.requests("GET")
    assert len(gets) >= 9
    assert all(r["token"] for r in gets), "a GET without a token"
    assert all(r["status"] != 401 for r in gets)
    assert len(imds.requests("PUT", "/latest/api/token")) == 1
    assert len({r["token"] for r in gets}) == 1


def test_expired_token_is_renewed(on_ec2, imds):
    on_ec2.start()
    wait_for(lambda: status(on_ec2)["instance"]["on_ec2"], 5, what="identity")
    imds.expire_tokens()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: events(on_ec2, "spot-interruption"), 5, what="spot event after token expiry")
    assert len(imds.requests("PUT", "/latest/api/token")) == 2
    assert status(on_ec2)["imds"]["reachable"] is True


def test_spot_interruption_once(on_ec2, imds):
    on_ec2.start()
    wait_for(lambda: status(on_ec2)["imds"]["reachable"], 5, what="reachable")
    imds.set("spot/instance-action", SPOT)
    ev = wait_for(lambda: events(on_ec2, "spot-interruption"), 5, what="spot event")
    assert ev[0]["severity"] == "critical"
    assert ev[0]["detail"] == {"action": "terminate", "time": "2026-11-23T10:02:00Z"}
    rc, doc = on_ec2.status()
    assert rc == 2 and doc["health"] == "critical"
    assert doc["notices"]["spot"] == {"action": "terminate", "time": "2026-11-23T10:02:00Z"}
    assert "spot interruption: terminate at 2026-11-23T10:02:00Z" in doc["reasons"]
    time.sleep(2.5)
    assert len(events(on_ec2, "spot-interruption")) == 1
    # Restarted with the notice still up: the same notice is not a new event.
    on_ec2.stop()
    on_ec2.start()
    time.sleep(2.5)
    assert len(events(on_ec2, "spot-interruption")) == 1
    assert status(on_ec2)["notices"]["spot"]["action"] == "terminate"


def test_rebalance_recommendation(on_ec2, imds):
    imds.set("events/recommendations/rebalance", '{"noticeTime": "2026-11-23T09:00:00Z"}')
    on_ec2.start()
    ev = wait_for(lambda: events(on_ec2, "rebalance-recommendation"), 5, what="rebalance event")
    assert ev[0]["detail"] == {"notice_time": "2026-11-23T09:00:00Z"}
    rc, doc = on_ec2.status()
    assert rc == 1 and doc["notices"]["rebalance"] == {"notice_time": "2026-11-23T09:00:00Z"}


def test_lifecycle_transitions(on_ec2, imds):
    imds.set("autoscaling/target-lifecycle-state", "Warmed:Pending")
    on_ec2.start()
    wait_for(lambda: events(on_ec2, "asg-warm-pool"), 5, what="warm pool event")
    imds.set("autoscaling/target-lifecycle-state", "InService")
    wait_for(lambda: status(on_ec2)["notices"]["asg_target_lifecycle_state"] == "InService", 5, what="InService")
    assert status(on_ec2)["health"] == "ok"
    imds.set("autoscaling/target-lifecycle-state", "Terminated")
    ev = wait_for(lambda: events(on_ec2, "asg-terminate"), 5, what="terminate event")
    assert ev[0]["detail"] == {"from": "InService", "to": "Terminated"}
    rc, doc = on_ec2.status()
    assert rc == 2 and "auto scaling: instance is being terminated" in doc["reasons"]
    time.sleep(1.5)
    assert [e["type"] for e in events(on_ec2) if e["type"].startswith("asg-")] == ["asg-warm-pool", "asg-terminate"]


def test_scheduled_event_lifecycle(on_ec2, imds):
    on_ec2.start()
    wait_for(lambda: status(on_ec2)["imds"]["reachable"], 5, what="reachable")
    imds.set("events/maintenance/scheduled", json.dumps(SCHEDULED))
    ev = wait_for(lambda: events(on_ec2, "maintenance"), 5, what="maintenance event")
    assert ev[0]["type"] == "maintenance:system-reboot"
    assert ev[0]["detail"]["change"] == "scheduled"
    assert ev[0]["detail"]["not_before"] == "2026-11-30T02:00:00Z"
    doc = status(on_ec2)
    assert doc["health"] == "warning"
    assert doc["notices"]["scheduled"][0]["event_id"] == "instance-event-0d59937288b749b32"
    assert doc["notices"]["scheduled"][0]["not_after"] == "2026-11-30T04:00:00Z"
    moved = [dict(SCHEDULED[0], NotBefore="1 Dec 2026 02:00:00 GMT")]
    imds.set("events/maintenance/scheduled", json.dumps(moved))
    wait_for(lambda: len(events(on_ec2, "maintenance")) == 2, 5, what="rescheduled")
    canceled = [dict(moved[0], State="canceled", Description="[Canceled] scheduled reboot")]
    imds.set("events/maintenance/scheduled", json.dumps(canceled))
    wait_for(lambda: len(events(on_ec2, "maintenance")) == 3, 5, what="canceled")
    changes = [e["detail"]["change"] for e in events(on_ec2, "maintenance")]
    assert changes == ["scheduled", "rescheduled", "canceled"]
    assert events(on_ec2, "maintenance")[2]["severity"] == "info"
    wait_for(lambda: status(on_ec2)["health"] == "ok", 3, what="ok after cancellation")


FAULTS = [
    ("500", {"status": 500}),
    ("503", {"status": 503}),
    ("403", {"status": 403}),
    ("timeout", {"delay": 0.6}),
    ("drop", {"drop": True}),
    ("garbage", {"garbage": True}),
    ("oversize", {"oversize": 200000}),
]


@pytest.mark.parametrize("name,fault", FAULTS, ids=[f[0] for f in FAULTS])
def test_faults_keep_knowledge_and_recover(on_ec2, imds, name, fault):
    imds.set("spot/instance-action", SPOT)
    on_ec2.start()
    wait_for(lambda: events(on_ec2, "spot-interruption"), 5, what="spot event")
    imds.fault_all(**fault)
    doc = wait_for(lambda: (lambda d: d if not d["imds"]["reachable"] else None)(status(on_ec2)), 5,
                   what="unreachable")
    assert doc["imds"]["last_error"]
    assert doc["notices"]["spot"]["action"] == "terminate"   # last good knowledge kept
    assert doc["notices"]["stale"] is True
    assert doc["health"] == "critical"
    time.sleep(1.5)
    imds.clear_faults()
    t0 = time.monotonic()
    wait_for(lambda: status(on_ec2)["imds"]["reachable"], 5, what="recovery")
    assert time.monotonic() - t0 < 2.5                        # within about one poll
    evs = events(on_ec2)
    assert [e["type"] for e in evs] == ["spot-interruption"], evs  # no false event, no repeat


@pytest.mark.parametrize("status_code", [404, 500, 403])
def test_token_faults(on_ec2, imds, status_code):
    imds.fault("token", status=status_code)
    on_ec2.start()
    doc = wait_for(lambda: (lambda d: d if d["imds"]["last_error"] else None)(status(on_ec2)), 5, what="error")
    assert "token" in doc["imds"]["last_error"] and str(status_code) in doc["imds"]["last_error"]
    assert doc["instance"]["on_ec2"] is False
    assert imds.requests("GET") == []           # never a tokenless GET
    imds.clear_faults()
    wait_for(lambda: status(on_ec2)["instance"]["on_ec2"], 5, what="identity after recovery")


def test_withdrawn_notice_then_new(on_ec2, imds):
    imds.set("spot/instance-action", SPOT)
    on_ec2.start()
    wait_for(lambda: events(on_ec2, "spot-interruption"), 5, what="spot event")
    imds.delete("spot/instance-action")
    wait_for(lambda: status(on_ec2)["notices"]["spot"] is None, 5, what="notice withdrawn")
    imds.set("spot/instance-action", '{"action": "stop", "time": "2026-11-23T11:00:00Z"}')
    wait_for(lambda: len(events(on_ec2, "spot-interruption")) == 2, 5, what="second notice")


@pytest.fixture
def imds6():
    from fakes.imds import FakeImds
    f = FakeImds(host="::1").start()
    yield f
    f.stop()


def test_ipv6_literal_endpoint(agent_factory, imds6):
    """An IPv6-only subnet: IMDS at an IPv6 literal (here [::1]) through the SDKs' variable. The
    token, identity, notices and credentials all come over IPv6; Host names the literal in
    brackets; status shows the endpoint."""
    assert imds6.url.startswith("http://[::1]:")
    a = agent_factory(config={"imds": {"timeout_ms": 300, "endpoint_mode": "IPv6"}, "kmsg": {"enabled": False},
                              "metrics": {"enabled": False}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds6.url,
                           "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"})
    a.start()
    doc = wait_for(lambda: (lambda d: d if d["instance"]["on_ec2"] and d["imds"]["credentials"] else None)(
        status(a)), 10, what="identity and credentials over IPv6")
    assert doc["instance"]["instance_id"] == "i-0abc1234def567890"
    assert doc["imds"]["endpoint"] == imds6.url and doc["imds"]["reachable"] is True
    imds6.set("spot/instance-action", SPOT)
    wait_for(lambda: events(a, "spot-interruption"), 5, what="spot event over IPv6")
    puts = imds6.requests("PUT", "/latest/api/token")
    assert puts and all(r["host"] == "[::1]:%d" % imds6.port for r in imds6.requests())


def test_endpoint_mode_the_sdks_refuse(agent_factory):
    """botocore raises on a mode other than IPv4/IPv6 (any case); the agent does not start either
    (the default URL of each mode is covered by test-aws: nothing here reaches fd00:ec2::254)."""
    a = agent_factory(config={"kmsg": {"enabled": False}, "metrics": {"enabled": False}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv7"})
    with pytest.raises(AssertionError, match="agent exited"):
        a.start()
    assert a.proc.wait(5) == 1
    assert 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE="IPv7" is neither IPv4 nor IPv6' in a.log()


def test_off_ec2(agent_factory):
    a = agent_factory(config={"imds": {"timeout_ms": 200}, "kmsg": {"enabled": False}})
    a.start()
    time.sleep(1)
    rc, doc = a.status()
    assert rc == 0
    assert doc["instance"]["on_ec2"] is False and doc["imds"]["reachable"] is False
    assert doc["imds"]["last_error"]
    assert a.events() == []


def test_disabled(agent_factory, imds):
    for how in ({"env": {"AWS_EC2_METADATA_DISABLED": "TRUE", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}},
                {"config": {"imds": {"enabled": False}}, "env": {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}}):
        a = agent_factory(**how)
        a.start()
        time.sleep(1)
        doc = a.status()[1]
        assert doc["imds"]["enabled"] is False and doc["instance"]["on_ec2"] is False
        assert doc["imds"]["endpoint"] is None
        a.stop()
    assert imds.log == []


def test_instance_profile_credentials_stay_secret(on_ec2, imds):
    on_ec2.start()
    wait_for(lambda: status(on_ec2)["imds"].get("credentials"), 5, what="credentials")
    assert imds.requests("GET", "/latest/meta-data/iam/security-credentials/ec2agent-role")
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: events(on_ec2, "spot-interruption"), 5, what="spot event")
    on_ec2.stop()
    secrets = ["fakeImdsSecret", "FAKEimdsSessionToken"] + [r["token"] for r in imds.requests("GET")]
    everything = on_ec2.log() + json.dumps(status_text(on_ec2))
    for f in on_ec2.state.iterdir():
        everything += f.read_text(errors="replace")
    for s in secrets:
        assert s not in everything


def status_text(a):
    a.start()
    r = a.run_cli("status", "--json")
    a.stop()
    return r.stdout


def test_environment_credentials_win(on_ec2, imds):
    on_ec2.extra_env.update({"AWS_ACCESS_KEY_ID": "AKIDFAKEENVKEY000001",
                             "AWS_SECRET_ACCESS_KEY": "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012"})
    on_ec2.start()
    time.sleep(1.5)
    assert not [r for r in imds.requests("GET") if "security-credentials" in r["path"]]


def test_hostile_region_is_never_a_host(agent_factory, imds):
    """Issue 15 item 14: a region "x@127.0.0.1:PORT#" made the CloudWatch URL
    https://monitoring.x@127.0.0.1:PORT#.amazonaws.com and sent signed requests to that port.
    Only [a-z0-9-]{1,32} is a region (SPEC §3): nothing reaches the port, status says rejected."""
    import socket
    import threading
    attacker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    attacker.bind(("127.0.0.1", 0))
    attacker.listen(16)
    attacker.settimeout(0.2)
    port = attacker.getsockname()[1]
    hits = []
    running = [True]

    def serve():
        while running[0]:
            try:
                c, _ = attacker.accept()
            except (socket.timeout, OSError):
                continue
            hits.append(1)
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    doc = json.loads(imds.paths["/latest/dynamic/instance-identity/document"])
    doc["region"] = "x@127.0.0.1:%d#" % port
    doc["availabilityZone"] = "x@127.0.0.1:%d#a" % port
    imds.set("/latest/dynamic/instance-identity/document", json.dumps(doc))
    a = agent_factory(config={"imds": {"timeout_ms": 300}, "kmsg": {"enabled": False},
                              "metrics": {"collection_interval_s": 1, "publish_interval_s": 1}},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
                           "AWS_ENDPOINT_URL": ""})
    try:
        a.start()
        st = wait_for(lambda: (lambda d: d if d["instance"]["on_ec2"] and d["imds"]["credentials"] else None)(
            status(a)), 10, what="identity and credentials")
        assert st["instance"]["region"] is None and st["instance"]["availability_zone"] is None
        assert st["imds"]["rejected"] == ["region", "availability_zone"]
        # the publisher had datapoints, credentials and an identity: it says why it does not send
        wait_for(lambda: (status(a)["cloudwatch"]["last_error"] or "").startswith("no AWS region"), 10,
                 what="publishing held for want of a region")
        time.sleep(1.5)   # more publish rounds, each of which would have connected
        assert hits == []
        assert "Ignoring the region and availability zone IMDS gave" in a.log()
        human = a.run_cli("status").stdout
        assert "127.0.0.1" not in human
    finally:
        running[0] = False
        t.join(2)
        attacker.close()
