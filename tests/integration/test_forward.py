"""forward: every event to CloudWatch Logs and EventBridge against the fake, which verifies every
SigV4 signature (X-Amz-Target signed) with botocore and enforces AWS's batch limits."""
import calendar
import json
import signal
import time

from conftest import wait_for
from fakes.aws import error_json

INSTANCE = "i-0abc1234def567890"
ARN = "arn:aws:ec2:eu-west-1:123456789012:instance/" + INSTANCE
OOM = ("3,%d,%d,-;Out of memory: Killed process %d (w%d) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, "
       "shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0\n")


class KernelFile:
    """A file at kmsg.path (read whole, then followed): each record an oom-kill of its own pid."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        path.write_text("")

    def oom(self, count=1):
        with open(self.path, "a") as f:
            for _ in range(count):
                self.n += 1
                f.write(OOM % (100 + self.n, 1000 + self.n, 5000 + self.n, self.n))
        return self.n


def forwarding(agent_factory, tmp_path, imds, aws, forward=None, env=None, name=None):
    k = KernelFile(tmp_path / ("kmsg-%s" % (name or "a")))
    e = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": aws.url,
         "AWS_ENDPOINT_URL_EVENTBRIDGE": aws.url}
    e.update(env or {})
    a = agent_factory(config={"kmsg": {"path": str(k.path)}, "metrics": {"enabled": False},
                              "forward": forward if forward is not None else {"cloudwatch_logs": {},
                                                                                "eventbridge": {}}},
                      env=e, name=name)
    a.kernel = k
    return a


def journal_lines(a):
    """The events.jsonl lines: what every target must receive, byte for byte."""
    return [x for x in (a.state / "events.jsonl").read_text().splitlines() if x]


def oom_lines(a):
    return [x for x in journal_lines(a) if json.loads(x)["type"] == "oom-kill"]


def oom_pids(a):
    return {json.loads(x)["detail"]["pid"] for x in oom_lines(a)}


def fwd(a, target):
    return a.status()[1]["forward"][target]


def test_delivery_stream_creation_and_signatures(agent_factory, tmp_path, imds, aws):
    a = forwarding(agent_factory, tmp_path, imds, aws)
    a.start()
    a.kernel.oom(5)
    wait_for(lambda: len(aws.log_events()) >= 5 and len(aws.events) >= 5, 20, what="5 events in both services")
    want = oom_lines(a)
    assert len(want) == 5
    # CloudWatch Logs: the stream is the instance id, created on ResourceNotFoundException
    assert aws.log_events(stream=INSTANCE)[-5:] == want
    logs = [r for r in aws.accepted() if r["service"] == "logs"]
    assert logs[0]["action"] == "PutLogEvents" and logs[0]["status"] == 400 \
        and "log stream does not exist" in logs[0]["reply"]
    assert [r["action"] for r in logs].count("CreateLogStream") == 1
    for r in logs:
        if r["action"] == "PutLogEvents" and r["status"] == 200:
            for e in r["params"]["logEvents"]:
                at = json.loads(e["message"])["at"]
                assert e["timestamp"] == 1000 * calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ"))
    # EventBridge: one entry per event
    oom = [e for e in aws.events if e["DetailType"] == "oom-kill"]
    assert [e["Detail"] for e in oom] == want
    for e in oom:
        assert e["Source"] == "ec2agent" and e["EventBusName"] == "default" and e["Resources"] == [ARN]
        assert isinstance(e["Time"], int)
    # every request signed with the instance profile's credentials, the target header among the signed
    assert aws.rejected == []
    assert all(r["access_key"] == "ASIAFAKEIMDSKEY00001" and r["region"] == "eu-west-1" for r in aws.accepted())
    assert {r["service"] for r in aws.accepted()} == {"logs", "events"}
    # the fake records a request before its answer reaches the agent: wait for the agent's count
    wait_for(lambda: a.status()[1]["forward"]["cloudwatch_logs"]["sent"] >= 5 and
             a.status()[1]["forward"]["eventbridge"]["sent"] >= 5, 10, what="the answers counted in status")
    st = a.status()[1]["forward"]
    assert st["cloudwatch_logs"]["queued"] == 0 and st["cloudwatch_logs"]["last_error"] is None
    assert st["cloudwatch_logs"]["log_group"] == "/ec2agent/events" and st["eventbridge"]["event_bus"] == "default"


def test_types_filter_and_log_stream(agent_factory, tmp_path, imds, aws):
    aws.streams[("/ec2agent/events", "web")] = []   # exists: no CreateLogStream
    a = forwarding(agent_factory, tmp_path, imds, aws,
                   forward={"cloudwatch_logs": {"log_stream": "web"}, "eventbridge": {"types": ["spot-interruption"]}})
    a.start()
    a.kernel.oom(3)
    wait_for(lambda: len(aws.log_events(stream="web")) >= 3, 20, what="3 events in the stream")
    assert "CreateLogStream" not in [r["action"] for r in aws.accepted()]
    time.sleep(1)
    assert [e for e in aws.events if e["DetailType"] == "oom-kill"] == []
    assert fwd(a, "eventbridge")["queued"] == 0


def seed_spool(a, target, lines):
    d = a.state / "forward" / target
    d.mkdir(parents=True)
    (d / "0000000000000000.jsonl").write_text("".join(x + "\n" for x in lines))


def event_line(at, i, pad=None):
    """An event line as the spool holds it; short (as few bytes as an event can have) unless PAD."""
    e = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)), "type": "oom-kill", "detail": {"i": i}}
    if pad is not None:
        e.update(boot_id="b", severity="warning", summary="s", detail={"i": i, "pad": "x" * pad})
    return json.dumps(e, separators=(",", ":"))


def test_batch_limits_and_time_order(agent_factory, tmp_path, imds, aws):
    """A spool left by an earlier run: 10 500 small events (some out of time order), 1 200 of 1 KB,
    two 30 h apart. Every batch within 10 000 events, 1 MB and 24 h, sorted (the fake refuses
    anything else); everything delivered, in the spool's order from batch to batch."""
    now = int(time.time()) - 3 * 86400
    lines = [event_line(now + i - (50 if i % 100 == 7 else 0), i) for i in range(10500)]
    lines += [event_line(now + 20000, 10500 + i, pad=900) for i in range(1200)]
    lines += [event_line(now + 30000, 11700), event_line(now + 30000 + 30 * 3600, 11701)]
    aws.streams[("/ec2agent/events", "s")] = []
    a = forwarding(agent_factory, tmp_path, imds, aws, forward={"cloudwatch_logs": {"log_stream": "s"}},
                   env={"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDFAKEENVKEY000001",
                        "AWS_SECRET_ACCESS_KEY": "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012"})
    seed_spool(a, "cloudwatch_logs", lines)
    a.start()
    wait_for(lambda: len(aws.log_events(stream="s")) >= len(lines), 60, what="the whole spool delivered")
    reqs = [r for r in aws.accepted("PutLogEvents")]
    assert all(r["status"] == 200 for r in reqs), [r["reply"] for r in reqs if r["status"] != 200][:3]
    assert aws.rejected == []
    sizes = [len(r["params"]["logEvents"]) for r in reqs]
    assert max(sizes) == 10000, sizes
    for r in reqs:
        ev = r["params"]["logEvents"]
        assert sum(len(e["message"].encode()) + 26 for e in ev) <= 1048576
        assert [e["timestamp"] for e in ev] == sorted(e["timestamp"] for e in ev)
    # the 1 KB lines filled a request by bytes (the next line would not fit), the 30 h gap split one
    totals = [sum(len(e["message"].encode()) + 26 for e in r["params"]["logEvents"]) for r in reqs]
    assert any(n < 10000 and t > 1048576 - 1100 for n, t in zip(sizes, totals)), (sizes, totals)
    assert json.loads(reqs[-1]["params"]["logEvents"][0]["message"])["detail"]["i"] == 11701 and sizes[-1] == 1
    got = [json.loads(m)["detail"]["i"] for m in aws.log_events(stream="s")]
    assert sorted(got) == list(range(len(lines)))               # each once
    starts = [json.loads(r["params"]["logEvents"][0]["message"])["detail"]["i"] for r in reqs]
    batches = [sorted(json.loads(e["message"])["detail"]["i"] for e in r["params"]["logEvents"]) for r in reqs]
    assert all(b[-1] < c[0] for b, c in zip(batches, batches[1:])), starts   # batch after batch in order
    assert len(reqs) <= 6, sizes
    st = fwd(a, "cloudwatch_logs")
    assert st["sent"] == len(lines) and st["queued"] == 0 and st["dropped"] == 0
    wait_for(lambda: not list((a.state / "forward" / "cloudwatch_logs").glob("0000000000000000.jsonl")), 5,
             what="the delivered spool file removed")


def test_partial_eventbridge_failure_retries_only_failed_entries(agent_factory, tmp_path, imds, aws):
    aws.fail_entries(None, "ThrottlingException", None, "InternalFailure", "MalformedDetail")
    a = forwarding(agent_factory, tmp_path, imds, aws, forward={"eventbridge": {"types": ["oom-kill"]}})
    # five events in one batch: an earlier run's spool
    seed_spool(a, "eventbridge", [event_line(int(time.time()), i) for i in range(5)])
    a.start()
    wait_for(lambda: len(aws.events) >= 3, 30, what="the retried entries")
    calls = [r for r in aws.accepted("PutEvents")]
    assert len(calls[0]["params"]["Entries"]) == 5
    assert json.loads(calls[0]["reply"])["FailedEntryCount"] == 3
    # only the retryable failures went again, nothing else
    assert [json.loads(e["Detail"])["detail"]["i"] for e in calls[1]["params"]["Entries"]] == [1, 3]
    assert sorted(json.loads(e["Detail"])["detail"]["i"] for e in aws.events) == [0, 1, 2, 3]
    st = fwd(a, "eventbridge")
    assert st["sent"] == 4 and st["rejected"] == 1 and st["queued"] == 0
    assert "MalformedDetail" in a.log()


def test_access_denied_is_kept_logged_once_and_shown(agent_factory, tmp_path, imds, aws):
    denied = (400, error_json("AccessDeniedException", "User is not authorized to perform: logs:PutLogEvents"))
    aws.streams[("/ec2agent/events", INSTANCE)] = []
    aws.answer(denied, denied)
    a = forwarding(agent_factory, tmp_path, imds, aws, forward={"cloudwatch_logs": {}})
    a.start()
    a.kernel.oom(2)
    wait_for(lambda: (fwd(a, "cloudwatch_logs")["last_error"] or "").startswith("AccessDeniedException"), 20,
             what="AccessDenied in status")
    wait_for(lambda: fwd(a, "cloudwatch_logs")["queued"] == 2, 10, what="both events kept")
    st = fwd(a, "cloudwatch_logs")
    assert st["failing_since"] and st["sent"] == 0
    wait_for(lambda: len(aws.log_events(stream=INSTANCE)) == 2, 90, what="delivery once allowed")
    assert aws.log_events(stream=INSTANCE) == oom_lines(a)
    assert sum(r["status"] == 400 for r in aws.accepted("PutLogEvents")) == 2
    assert a.log().count("AccessDeniedException") == 1, a.log()
    assert fwd(a, "cloudwatch_logs")["last_error"] is None


def test_missing_log_group_keeps_events(agent_factory, tmp_path, imds, aws):
    aws.log_groups = set()
    a = forwarding(agent_factory, tmp_path, imds, aws, forward={"cloudwatch_logs": {"log_group": "/fleet/ev"}})
    a.start()
    a.kernel.oom(2)
    wait_for(lambda: "/fleet/ev does not exist" in (fwd(a, "cloudwatch_logs")["last_error"] or ""), 20,
             what="the missing group in status")
    assert fwd(a, "cloudwatch_logs")["queued"] == 2
    aws.log_groups = {"/fleet/ev"}
    wait_for(lambda: len(aws.log_events("/fleet/ev", INSTANCE)) == 2, 60, what="delivery once the group exists")
    assert aws.log_events("/fleet/ev", INSTANCE) == oom_lines(a)
    assert a.log().count("ResourceNotFoundException") == 1


def test_outage_with_sigkills_loses_and_reorders_nothing(agent_factory, tmp_path, imds, aws):
    """An outage (compressed: the fake's switch, not 10 minutes) with events and SIGKILLs in it, then
    SIGKILLs while the backlog drains: every event arrives at least once and in order in both
    services; during the outage nothing was accepted, so nothing arrives twice from it."""
    aws.streams[("/ec2agent/events", INSTANCE)] = []
    a = forwarding(agent_factory, tmp_path, imds, aws)
    a.start()
    a.kernel.oom(3)
    wait_for(lambda: len(aws.log_events()) >= 3 and len(aws.events) >= 3, 20, what="before the outage")
    aws.outage = True
    for round_ in range(3):
        a.kernel.oom(40)
        n = a.kernel.n
        # (a SIGKILL may make the kernel log replay up to a second of records: more lines, same pids)
        wait_for(lambda: len(oom_pids(a)) == n, 20, what="the agent read round %d" % round_)
        a.stop(signal.SIGKILL)
        a.start()
    wait_for(lambda: fwd(a, "cloudwatch_logs")["queued"] >= 120, 20, what="the backlog counted after restarts")
    wait_for(lambda: "ServiceUnavailableException" in (fwd(a, "cloudwatch_logs")["last_error"] or ""), 20,
             what="the outage in status")
    aws.outage = False
    a.kernel.oom(40)
    # SIGKILL while the backlog drains: a request answered 200 that the agent may not have seen yet
    aws.delay = 0.3
    t_end = time.time()
    wait_for(lambda: [r for r in aws.accepted() if r["status"] == 200 and r["t"] > t_end], 40,
             what="the drain under way")
    a.stop(signal.SIGKILL)
    aws.delay = 0.0
    a.start()
    wait_for(lambda: len(oom_pids(a)) == 163, 20, what="every record read")
    recorded = oom_lines(a)
    want = list(dict.fromkeys(recorded))        # each event line once, in the order recorded
    wait_for(lambda: set(want) <= set(aws.log_events()) and set(want) <= {e["Detail"] for e in aws.events}, 90,
             what="every event delivered")
    accepted = [r for r in aws.accepted() if r["status"] == 200 and r["action"] in ("PutLogEvents", "PutEvents")]

    def messages(r):
        return [e["message"] for e in r["params"]["logEvents"]] if r["action"] == "PutLogEvents" \
            else [e["Detail"] for e in r["params"]["Entries"]]
    for got in (aws.log_events(), [e["Detail"] for e in aws.events]):
        got = [x for x in got if x in set(want)]
        first = []
        for x in got:
            if x not in first:
                first.append(x)
        assert first == want                                    # every one, in order
        dups = {x for x in got if got.count(x) > recorded.count(x)}
        # the duplicates are only a batch that was in flight at a SIGKILL (the outage took nothing)
        assert not dups or any(dups <= set(messages(r)) for r in accepted), len(dups)
    wait_for(lambda: fwd(a, "cloudwatch_logs")["queued"] == 0 and fwd(a, "eventbridge")["queued"] == 0, 30,
             what="both queues empty")
    assert aws.rejected == []


def test_forwarding_never_delays_an_action(agent_factory, tmp_path, imds, aws):
    """AWS holds every forward request for 20 s: the rule's step on the same event runs and is
    recorded meanwhile (nothing forwarded has been answered yet), and the events go out after."""
    aws.streams[("/ec2agent/events", INSTANCE)] = []
    aws.delay = 20
    k = KernelFile(tmp_path / "kmsg-slow")
    a = agent_factory(config={"kmsg": {"path": str(k.path)}, "metrics": {"enabled": False},
                              "forward": {"cloudwatch_logs": {}, "eventbridge": {}},
                              "rules": [{"name": "on-oom", "on": ["oom-kill"], "do": [{"exec": ["/bin/true"]}]}]},
                      env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url})
    a.start()
    k.oom(1)
    wait_for(lambda: [e for e in a.events() if e["type"] == "action-done"], 15, what="the step done")
    assert aws.accepted() == []                     # every forward request still held by AWS
    st = a.status()[1]["forward"]
    assert st["cloudwatch_logs"]["queued"] >= 1 and st["eventbridge"]["queued"] >= 1
    aws.delay = 0
    want = journal_lines(a)
    wait_for(lambda: set(want) <= set(aws.log_events()), 60, what="the events forwarded after")
