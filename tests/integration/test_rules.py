"""Rules and their steps against the fakes: exec, lifecycle actions, notifications, deadlines,
once per event instance, cooldowns, and a drain cut short by SIGKILL."""
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import wait_for

SPOT_TIME = "2099-01-01T00:00:00Z"
SPOT = '{"action": "terminate", "time": "%s"}' % SPOT_TIME


def script(tmp_path, name, body):
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


def written(path):
    """A step's shell redirect creates the file before the line is in it: wait for the line."""
    return path.exists() and path.read_text().endswith("\n")


@pytest.fixture
def ruled(agent_factory, imds, aws):
    def make(rules, extra=None, name=None):
        cfg = {"kmsg": {"enabled": False}, "metrics": {"enabled": False},
               "rules": rules}
        cfg.update(extra or {})
        a = agent_factory(config=cfg, env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
                                           "AWS_ENDPOINT_URL": aws.url}, name=name)
        return a
    return make


def types(a):
    return [e["type"] for e in a.events() if e["type"] in ("rule-fired", "action-done", "action-failed")]


def test_exec_environment_and_output(ruled, imds, tmp_path):
    out = tmp_path / "env.txt"
    s = script(tmp_path, "drain.sh", 'env | grep ^EC2AGENT_ | sort > %s\necho "draining now"\n' % out)
    a = ruled([{"name": "drain", "on": ["spot-interruption"], "do": [{"exec": [s, "--now"]}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: "action-done" in types(a), 10, what="exec done")
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["EC2AGENT_EVENT"] == "spot-interruption" and env["EC2AGENT_RULE"] == "drain"
    assert env["EC2AGENT_DEADLINE"] == SPOT_TIME
    assert json.loads(env["EC2AGENT_DETAIL"]) == {"action": "terminate", "time": SPOT_TIME}
    assert "drain: draining now" in a.log()
    doc = a.status()[1]
    assert doc["rules"][0] == {"name": "drain", "fired": 1, "last_fired_at": doc["rules"][0]["last_fired_at"],
                               "state": "idle", "queued": 0, "runs_not_shown": 0, "dropped": 0}
    (act,) = doc["actions"]
    assert (act["rule"], act["step"], act["target"], act["state"]) == ("drain", "exec", s, "done")
    assert act["started_at"] and act["finished_at"]


def test_timeout_terms_then_kills_the_whole_group(ruled, imds, tmp_path):
    pids = tmp_path / "pids"
    s = script(tmp_path, "stubborn.sh", 'trap "" TERM\nsleep 60 &\necho $! > %s\nwait\n' % pids)
    a = ruled([{"name": "slow", "on": ["spot-interruption"], "do": [{"exec": [s], "timeout_s": 1}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    t0 = time.monotonic()
    wait_for(lambda: "action-failed" in types(a), 15, what="timed out")
    assert 5.5 < time.monotonic() - t0 < 10          # SIGTERM at 1 s is ignored, SIGKILL 5 s later
    (act,) = a.status()[1]["actions"]
    assert act["state"] == "timed-out"
    child = int(pids.read_text())
    wait_for(lambda: not os.path.exists("/proc/%d" % child) or open("/proc/%d/stat" % child).read().split()[2] == "Z",
             5, what="the step's child killed too")


def test_failure_policy(ruled, imds, tmp_path):
    ok = script(tmp_path, "ok.sh", "exit 0\n")
    a = ruled([{"name": "go-on", "on": ["spot-interruption"],
                "do": [{"exec": ["/bin/false"]}, {"exec": [ok]}]},
               {"name": "abort", "on": ["spot-interruption"],
                "do": [{"exec": ["/bin/false"], "on_failure": "abort"}, {"exec": [ok]}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: len([x for x in a.status()[1]["actions"] if x["state"] != "pending"]) == 4, 10,
             what="all actions final")
    states = [(x["rule"], x["state"]) for x in a.status()[1]["actions"]]
    assert states == [("go-on", "failed"), ("go-on", "done"), ("abort", "failed"), ("abort", "skipped")]
    failed = [e for e in a.events("--type", "action-failed")]
    assert failed[0]["detail"]["error"] == "exit status 1"


def test_once_per_notice_and_across_restarts(ruled, imds, tmp_path):
    ok = script(tmp_path, "ok.sh", "echo x >> %s\n" % (tmp_path / "count"))
    a = ruled([{"name": "drain", "on": ["spot-interruption"], "do": [{"exec": [ok]}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: "action-done" in types(a), 10, what="first run")
    time.sleep(2)
    a.stop(signal.SIGKILL)
    os.unlink(a.state / "imds-notices.json")       # even if the notice looked new again
    a.start()
    time.sleep(2.5)
    assert types(a).count("rule-fired") == 1
    assert (tmp_path / "count").read_text() == "x\n"


def test_stop_without_systemd_fails_clearly(ruled, imds):
    a = ruled([{"name": "drain", "on": ["spot-interruption"], "do": [{"stop": ["app.service", "nginx.service"]}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: types(a).count("action-failed") == 2, 10, what="two failures")
    assert [x["target"] for x in a.status()[1]["actions"]] == ["app.service", "nginx.service"]
    assert "systemd is not running" in a.status()[1]["actions"][0]["error"]


def test_lifecycle_action_with_heartbeats(ruled, imds, aws, tmp_path):
    imds.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    imds.set("autoscaling/target-lifecycle-state", "InService")
    slow = script(tmp_path, "slow.sh", "sleep 33\n")
    a = ruled([{"name": "drain", "on": ["asg-terminate", "spot-interruption"],
                "do": [{"exec": [slow], "timeout_s": 60},
                       {"complete_lifecycle_action": {"hook": "drain-hook", "heartbeat_s": 30}}]}])
    a.start()
    wait_for(lambda: a.status()[1]["instance"]["asg_name"] == "web-asg", 5, what="asg name")
    imds.set("autoscaling/target-lifecycle-state", "Terminated")
    wait_for(lambda: aws.accepted("CompleteLifecycleAction"), 45, what="lifecycle completed")
    beats = aws.accepted("RecordLifecycleActionHeartbeat")
    assert len(beats) == 1
    done = aws.accepted("CompleteLifecycleAction")[0]
    assert done["service"] == "autoscaling" and done["access_key"] == "ASIAFAKEIMDSKEY00001"
    p = done["params"]
    assert (p["Version"], p["AutoScalingGroupName"], p["LifecycleHookName"], p["InstanceId"],
            p["LifecycleActionResult"]) == ("2011-01-01", "web-asg", "drain-hook", "i-0abc1234def567890", "CONTINUE")
    assert beats[0]["t"] < done["t"]
    assert aws.rejected == []


def test_lifecycle_step_is_skipped_for_other_events(ruled, imds, aws):
    a = ruled([{"name": "drain", "on": ["spot-interruption"],
                "do": [{"complete_lifecycle_action": {"hook": "h", "group": "g"}}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: a.status()[1]["actions"] and a.status()[1]["actions"][0]["state"] == "skipped", 10,
             what="skipped")
    assert aws.accepted() == []


class Webhook:
    def __init__(self):
        self.posts = []
        hook = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                hook.posts.append((self.headers.get("Content-Type"), json.loads(self.rfile.read(n))))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_notify_sns_and_webhook(ruled, imds, aws):
    hook = Webhook()
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"sns_topic_arn": "arn:aws:sns:eu-central-1:123456789012:ops"}},
                       {"notify": {"webhook": hook.url}}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: types(a).count("action-done") == 2, 10, what="both notified")
    (pub,) = aws.accepted("Publish")
    assert pub["service"] == "sns" and pub["region"] == "eu-central-1"
    assert pub["params"]["TopicArn"] == "arn:aws:sns:eu-central-1:123456789012:ops"
    msg = json.loads(pub["params"]["Message"])
    assert msg["event"] == "spot-interruption" and msg["instance_id"] == "i-0abc1234def567890"
    ctype, body = hook.posts[0]
    assert ctype == "application/json" and body["rule"] == "tell" and body["detail"]["time"] == SPOT_TIME
    hook.server.shutdown()


def gmt(t):
    return time.strftime("%-d %b %Y %H:%M:%S GMT", time.gmtime(t))


def test_before_s_fires_ahead_of_a_scheduled_event(ruled, imds, tmp_path):
    marker = tmp_path / "fired"
    s = script(tmp_path, "m.sh", 'echo "$EC2AGENT_DEADLINE" > %s\n' % marker)
    a = ruled([{"name": "retire", "on": ["maintenance:instance-retirement"], "before_s": 8, "do": [{"exec": [s]}]}],
              extra={"imds": {"scheduled_events_interval_s": 1}})
    a.start()
    not_before = int(time.time()) + 12
    imds.set("events/maintenance/scheduled", json.dumps([{
        "NotBefore": gmt(not_before), "Code": "instance-retirement", "Description": "retiring",
        "EventId": "instance-event-0123456789abcdef0", "State": "active"}]))
    wait_for(lambda: a.status()[1]["rules"][0]["state"] == "pending", 5, what="pending")
    assert not marker.exists()
    wait_for(lambda: written(marker), 10, what="fired before NotBefore")
    assert time.time() < not_before
    assert marker.read_text().strip() == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_before))


def test_metric_rule_with_window_and_cooldown(agent_factory, tmp_path):
    count = tmp_path / "count"
    s = script(tmp_path, "m.sh", 'echo "$EC2AGENT_EVENT" >> %s\n' % count)
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"enabled": False, "collection_interval_s": 1},
                              "rules": [{"name": "mem", "when": {"metric": "mem_total", "above": 0, "for_s": 3},
                                         "cooldown_s": 3600, "do": [{"exec": [s]}]}]})
    a.start()
    time.sleep(1.5)
    assert not count.exists()                      # not held for 3 s yet
    wait_for(lambda: count.exists(), 10, what="metric rule fired")
    time.sleep(3)
    assert count.read_text() == "metric\n"         # once, inside the cooldown


def test_metric_rule_window_longer_than_the_sample_ring(agent_factory, tmp_path):
    """for_s may be days: the window is followed sample by sample, not read from the ring the
    publisher keeps (here 6 samples at 1 s: 2 publish intervals and 4 spare)."""
    fired = tmp_path / "fired"
    s = script(tmp_path, "m.sh", 'date +%%s.%%N > %s\n' % fired)
    a = agent_factory(config={"imds": {"enabled": False}, "kmsg": {"enabled": False},
                              "metrics": {"enabled": False, "collection_interval_s": 1, "publish_interval_s": 1},
                              "rules": [{"name": "mem", "when": {"metric": "mem_total", "above": 0, "for_s": 9},
                                         "do": [{"exec": [s]}]}]})
    started = time.time()
    a.start()
    wait_for(lambda: written(fired), 20, what="a metric rule with a 9 s window")
    assert float(fired.read_text()) - started >= 8  # 9 s less the slack of one sample interval


def test_sigkill_in_the_middle_of_a_drain_resumes_it(ruled, imds, tmp_path):
    log = tmp_path / "log"
    first = script(tmp_path, "first.sh", "echo first >> %s\n" % log)
    middle = script(tmp_path, "middle.sh", "echo middle-start >> %s\nsleep 2\necho middle-end >> %s\n" % (log, log))
    last = script(tmp_path, "last.sh", "echo last >> %s\n" % log)
    a = ruled([{"name": "drain", "on": ["spot-interruption"],
                "do": [{"exec": [first]}, {"exec": [middle]}, {"exec": [last]}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: log.exists() and "middle-start" in log.read_text(), 10, what="middle step running")
    a.stop(signal.SIGKILL)
    a.start()
    wait_for(lambda: "last" in log.read_text(), 15, what="the drain finished")
    lines = log.read_text().split()
    assert lines.count("first") == 1                # finished steps do not run again
    assert lines.count("middle-start") == 2 and lines[-1] == "last"   # the cut one does
    assert types(a).count("rule-fired") == 1
    assert [x["state"] for x in a.status()[1]["actions"]] == ["done", "done", "done"]


def test_a_firing_saved_but_not_announced_is_announced_once(ruled, imds, tmp_path):
    """SIGKILL between saving a firing and saving it as announced: the next start announces it
    again. The engine keeps what it knows in actions.json and never reads events.jsonl back; the
    journal knows the runs it holds (journal_holds_run), so an event the killed agent had written
    already is not written twice, and one it had not written is written now: exactly once."""
    log = tmp_path / "log"
    slow = script(tmp_path, "slow.sh", "echo start >> %s\nsleep 30\n" % log)
    a = ruled([{"name": "drain", "on": ["spot-interruption"], "do": [{"exec": [slow], "timeout_s": 60}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: log.exists(), 10, what="the step running")

    def crash_in_the_window(drop_event, starts):
        a.stop(signal.SIGKILL)
        state = json.loads((a.state / "actions.json").read_text())
        assert state["runs"][0]["announced"] is True
        state["runs"][0]["announced"] = False
        (a.state / "actions.json").write_text(json.dumps(state))
        if drop_event:
            events = a.state / "events.jsonl"
            kept = [l for l in events.read_text().splitlines(True) if '"rule-fired"' not in l]
            events.write_text("".join(kept))
        a.start()
        wait_for(lambda: log.read_text().count("start") >= starts, 10, what="the step again")
        return state["runs"][0]["id"]

    run = crash_in_the_window(drop_event=True, starts=2)    # lost: written now, once
    fired = [e["detail"]["run"] for e in a.events("--type", "rule-fired")]
    assert fired == [run]
    crash_in_the_window(drop_event=False, starts=3)         # written already: not again
    fired = [e["detail"]["run"] for e in a.events("--type", "rule-fired")]
    assert fired == [run]
    assert json.loads((a.state / "actions.json").read_text())["runs"][0]["announced"] is True


def test_state_of_every_rule_survives_sigkill(ruled, imds, tmp_path):
    """A drain rule beside rules that have not fired (a metric rule): the state is saved at the
    first firing, a drain cut by SIGKILL resumes, nothing fires twice, cooldown_s and reboot's
    max_per_day hold across the restart."""
    log = tmp_path / "log"
    first = script(tmp_path, "first.sh", "echo first >> %s\n" % log)
    middle = script(tmp_path, "middle.sh", "echo middle-start >> %s\nsleep 3\necho middle-end >> %s\n" % (log, log))
    last = script(tmp_path, "last.sh", "echo last >> %s\n" % log)
    told = script(tmp_path, "tell.sh", "echo told >> %s\n" % (tmp_path / "told"))
    a = ruled([{"name": "drain", "on": ["spot-interruption"],
                "do": [{"exec": [first]}, {"exec": [middle]}, {"exec": [last]}]},
               {"name": "boot", "on": ["spot-interruption"], "do": [{"reboot": {}}]},
               {"name": "tell", "on": ["rebalance-recommendation"], "cooldown_s": 3600, "do": [{"exec": [told]}]},
               {"name": "mem", "when": {"metric": "mem_used_percent", "above": 99.9, "for_s": 86400},
                "do": [{"exec": ["/bin/true"]}]}],
              extra={"imds": {"poll_interval_s": 1}})
    a.start()
    imds.set("events/recommendations/rebalance", '{"noticeTime": "2099-01-01T00:00:00Z"}')
    wait_for(lambda: (tmp_path / "told").exists(), 10, what="tell fired")
    state = a.state / "actions.json"
    wait_for(lambda: state.exists() and json.loads(state.read_text())["rules"]["tell"]["fired"] == 1, 10,
             what="actions.json saved after the first firing")
    saved = json.loads(state.read_text())["rules"]
    assert saved["mem"] == {"fired": 0, "last_fired_at": None, "armed": True, "instances": []}
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: log.exists() and "middle-start" in log.read_text(), 10, what="middle step running")
    wait_for(lambda: len(json.loads(state.read_text())["reboots"]) == 1, 10, what="the reboot counted")
    a.stop(signal.SIGKILL)
    a.start()
    wait_for(lambda: "last" in log.read_text(), 15, what="the drain finished after the restart")
    lines = log.read_text().split()
    assert lines.count("first") == 1 and lines.count("middle-start") == 2 and lines[-1] == "last"
    # a new recommendation inside the cooldown, a new spot notice past the reboot limit
    imds.set("events/recommendations/rebalance", '{"noticeTime": "2099-01-02T00:00:00Z"}')
    imds.set("spot/instance-action", '{"action": "terminate", "time": "2099-01-03T00:00:00Z"}')
    wait_for(lambda: [x["state"] for x in a.status()[1]["actions"] if x["rule"] == "boot"] == ["failed", "skipped"],
             15, what="the second reboot skipped")
    boots = [x for x in a.status()[1]["actions"] if x["rule"] == "boot"]
    assert boots[1]["error"] == "max_per_day (1) reached"
    fired = [e["detail"]["rule"] for e in a.events("--type", "rule-fired")]
    assert fired.count("tell") == 1 and fired.count("boot") == 2 and fired.count("mem") == 0
    assert (tmp_path / "told").read_text() == "told\n"
    rules = {r["name"]: r for r in a.status()[1]["rules"]}
    assert rules["tell"]["fired"] == 1 and rules["mem"]["fired"] == 0


def test_oom_burst_keeps_status_and_step_timeouts(agent_factory, tmp_path):
    """1 000 OOM kills in one second with exec rules on oom-kill: every kill is an event, status
    answers throughout, a /bin/true step never times out, a sleep step is ended at its timeout.
    (bench/oom-burst measures the round trips.)"""
    fifo = tmp_path / "kmsg.fifo"
    os.mkfifo(fifo)
    slow = script(tmp_path, "slow.sh", "exec sleep 30\n")
    a = agent_factory(config={"kmsg": {"path": str(fifo)}, "imds": {"enabled": False}, "metrics": {"enabled": False},
                              "rules": [{"name": "quick", "on": ["oom-kill"], "do": [{"exec": ["/bin/true"]}]},
                                        {"name": "slow", "on": ["oom-kill"], "cooldown_s": 3600,
                                         "do": [{"exec": [slow], "timeout_s": 2}]}]})
    a.start()
    fd = os.open(fifo, os.O_WRONLY)
    answered, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            rc, doc = a.status()
            answered.append(doc is not None and rc in (0, 1, 2))
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    t0 = time.monotonic()
    ts = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    for b in range(10):
        data = "".join("3,%d,%d,-;Out of memory: Killed process %d (w%d) total-vm:1000kB, anon-rss:900kB, "
                       "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0\n"
                       % (i + 1, ts + i, 10000 + i, i) for i in range(b * 100, b * 100 + 100)).encode()
        while data:
            data = data[os.write(fd, data):]
        time.sleep(max(0, t0 + (b + 1) * 0.1 - time.monotonic()))

    def count(kind, rule=None):
        return len([e for e in a.events("--type", kind) if rule is None or e["detail"].get("rule") == rule])
    try:
        wait_for(lambda: count("action-done", "quick") + count("action-failed", "quick") == 1000, 240,
                 interval=1, what="every run of the burst over")
    finally:
        stop.set()
        poller.join()
        os.close(fd)
    assert count("oom-kill") == 1000
    assert count("action-failed", "quick") == 0       # /bin/true never "timed out"
    assert answered and all(answered)
    (slow_done,) = [e for e in a.events("--type", "action-failed") if e["detail"]["rule"] == "slow"]
    assert slow_done["detail"]["state"] == "timed-out"
    assert slow_done["detail"]["seconds"] < 2 + 2.5  # SIGTERM at its 2 s, not later
    rules = {r["name"]: r for r in a.status()[1]["rules"]}
    assert rules["quick"]["fired"] == 1000 and rules["quick"]["queued"] == 0
    assert len([x for x in a.status()[1]["actions"] if x["rule"] == "quick"]) <= 20   # finished runs kept


def test_a_step_writing_without_end_is_ended_at_its_timeout(ruled, imds, tmp_path):
    """`yes` as a step, and `yes` left behind by a step that exited: the loop is not held, the
    timeout is kept, the log is bounded."""
    a = ruled([{"name": "noisy", "on": ["spot-interruption"], "do": [{"exec": ["/usr/bin/yes"], "timeout_s": 2}]},
               {"name": "leaver", "on": ["spot-interruption"],
                "do": [{"exec": ["/bin/sh", "-c", "yes & exit 0"], "timeout_s": 2}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    t0 = time.monotonic()
    answered = []
    while time.monotonic() - t0 < 4:
        answered.append(a.status()[1] is not None)
    wait_for(lambda: len([x for x in a.status()[1]["actions"] if x["state"] in ("done", "timed-out")]) == 2, 10,
             what="both steps over")
    acts = {x["rule"]: x for x in a.status()[1]["actions"]}
    assert acts["noisy"]["state"] == "timed-out" and acts["leaver"]["state"] == "done"
    noisy = [e for e in a.events("--type", "action-failed") if e["detail"]["rule"] == "noisy"][0]
    assert noisy["detail"]["seconds"] < 2 + 2.5
    assert all(answered)
    assert len(a.log()) < 1024 * 1024


def test_a_step_inherits_no_descriptor_and_no_credentials(ruled, imds, aws, tmp_path):
    pidfile = tmp_path / "pid"
    s = script(tmp_path, "look.sh", "echo $$ > %s.tmp\nmv %s.tmp %s\nexec sleep 30\n" % (pidfile, pidfile, pidfile))
    a = ruled([{"name": "look", "on": ["spot-interruption"], "do": [{"exec": [s], "timeout_s": 20}]},
               {"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:ops"}}]}])
    a.extra_env.update({"AWS_ACCESS_KEY_ID": "AKIAFAKEENVKEY000001", "AWS_SECRET_ACCESS_KEY": "fake-secret",
                        "AWS_SESSION_TOKEN": "fake-token"})
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: pidfile.exists(), 10, what="the step running")
    pid = int(pidfile.read_text())
    wait_for(lambda: os.readlink("/proc/%d/exe" % pid).endswith("sleep"), 5, what="exec sleep")
    wait_for(lambda: [x for x in a.status()[1]["actions"] if x["rule"] == "tell" and x["finished_at"]], 10,
             what="the agent's own AWS call over (its connection kept by curl)")
    fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % pid))
    env = dict(v.split("=", 1) for v in open("/proc/%d/environ" % pid).read().split("\0") if "=" in v)
    a.stop()
    assert fds == [0, 1, 2]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    assert env["AWS_REGION"] == "eu-west-1" and env["EC2AGENT_RULE"] == "look"


def test_step_variables_carry_no_control_character(agent_factory, tmp_path):
    """A victim's name is user-controlled: escapes, DEL, C1 controls and a cut UTF-8 sequence."""
    fifo = tmp_path / "kmsg.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "env"
    s = script(tmp_path, "env.sh", "env -0 > %s.tmp\nmv %s.tmp %s\n" % (out, out, out))
    a = agent_factory(config={"kmsg": {"path": str(fifo)}, "imds": {"enabled": False}, "metrics": {"enabled": False},
                              "rules": [{"name": "r", "on": ["oom-kill"], "do": [{"exec": [s]}]}]})
    a.start()
    fd = os.open(fifo, os.O_WRONLY)
    name = "a\\x1b]0;pwn\\x07\\x7f\\xc2\\x85\\xe2\\x82"
    os.write(fd, ("3,1,%d,-;Out of memory: Killed process 77 (%s) total-vm:1kB, anon-rss:1kB, file-rss:0kB, "
                  "shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n"
                  % (int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6), name)).encode())
    os.write(fd, "3,2,%d,-;Out of memory: Killed process 78 (\xff\x1b[2J) total-vm:1kB, anon-rss:1kB\n".encode(
        "utf-8", "surrogateescape") % int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6))
    wait_for(lambda: out.exists(), 10, what="the step ran")
    os.close(fd)
    for var in out.read_bytes().split(b"\0"):
        if var.startswith(b"EC2AGENT_"):
            text = var.decode("utf-8")            # valid UTF-8
            assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text), text
            if var.startswith(b"EC2AGENT_DETAIL="):
                json.loads(text.split("=", 1)[1])


def test_webhook_credentials_never_shown(ruled, imds, tmp_path):
    """user:password@ of a webhook URL is a secret: not in status, events, the log or actions.json,
    whether the POST works or fails. (A guard: no failing message was found to echo it.)"""
    hook = Webhook()
    good = hook.url.replace("http://", "http://hookuser:s3cr3t-pw@")
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"webhook": good}},
                       # a password may hold an unescaped '@': the userinfo ends at the last one
                       {"notify": {"webhook": "http://hookuser:s3cr3t@pw@127.0.0.1:9/hook"}, "timeout_s": 3}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    wait_for(lambda: len([x for x in a.status()[1]["actions"] if x["finished_at"]]) == 2, 15, what="both over")
    r = a.run_cli("status")
    seen = [json.dumps(a.status()[1]), r.stdout, json.dumps(a.events()), a.log(),
            (a.state / "actions.json").read_text()]
    assert hook.posts
    assert [x["target"] for x in a.status()[1]["actions"]] == ["webhook 127.0.0.1:%d" % hook.server.server_address[1],
                                                               "webhook 127.0.0.1:9"]
    assert not [t for t in seen if "s3cr3t" in t or "hookuser" in t]
    hook.server.shutdown()
