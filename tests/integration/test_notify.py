"""notify formats (Slack, Teams, PagerDuty) and reschedule (EC2 ModifyInstanceEventStartTime)
against fakes on 127.0.0.1: exact payloads, a 4xx not retried, retries, secrets never shown,
PagerDuty trigger then resolve across a restart, and the scheduled event moved into the window."""
import calendar
import json
import signal
import time

import pytest

from conftest import Agent, wait_for
from fakes.aws import ec2_event
from fakes.hooks import FakeHooks
from fakes.imds import IDENTITY

SPOT_TIME = "2099-01-01T00:00:00Z"
SPOT = '{"action": "terminate", "time": "%s"}' % SPOT_TIME
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"   # 32 characters, as PagerDuty's are
INSTANCE = IDENTITY["instanceId"]
EVENT_ID = "instance-event-0d59937288b749b32"


@pytest.fixture
def hooks():
    h = FakeHooks().start()
    yield h
    h.stop()


@pytest.fixture
def ruled(agent_factory, imds, aws):
    def make(rules, extra=None, name=None):
        cfg = {"kmsg": {"enabled": False}, "metrics": {"enabled": False}, "rules": rules,
               "imds": {"scheduled_events_interval_s": 1}}
        cfg.update(extra or {})
        return agent_factory(config=cfg, env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
                                              "AWS_ENDPOINT_URL": aws.url}, name=name)
    return make


def actions(a):
    return (a.status()[1] or {}).get("actions", [])


def final_actions(a, n):
    def done():
        x = actions(a)
        return x if len(x) == n and all(y["state"] not in ("pending", "running") for y in x) else None
    return wait_for(done, 30, what="%d actions final" % n)


def facts_lines(event, summary, deadline, rule, reasons, asg="web-asg"):
    return [("Instance", "%s (%s)" % (INSTANCE, IDENTITY["instanceType"])), ("ASG", asg or "none"),
            ("AZ", IDENTITY["availabilityZone"]),
            ("Event", "%s%s%s, %s" % (event, ": " if summary else "", summary,
                                      "deadline " + deadline if deadline else "no deadline")),
            ("Rule", rule)] + [("Status", r) for r in (reasons or ["none"])]


def slack_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_slack_and_teams_exact_payloads(ruled, imds, hooks):
    imds.set("tags/instance/aws:autoscaling:groupName", "web-asg")
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"slack": hooks.url + "/services/T0/B0/SLACKSECRET"}},
                       {"notify": {"teams": hooks.url + "/workflows/TEAMSSECRET"}}]}])
    a.start()
    wait_for(lambda: (a.status()[1]["instance"] or {}).get("asg_name") == "web-asg", 10, what="ASG known")
    imds.set("spot/instance-action", SPOT)
    acts = final_actions(a, 2)
    assert [x["state"] for x in acts] == ["done", "done"], acts
    (spot,) = [e for e in a.events() if e["type"] == "spot-interruption"]
    reasons = a.status()[1]["reasons"]
    headline = "Alert on %s (ASG web-asg): spot-interruption, rule tell" % INSTANCE
    lines = facts_lines("spot-interruption", spot["summary"], SPOT_TIME, "tell", reasons)
    (slack,) = hooks.received("/services/T0/B0/SLACKSECRET")
    assert slack["content_type"] == "application/json"
    assert slack["json"] == {"text": "*%s*" % slack_escape(headline) +
                             "".join("\n*%s:* %s" % (k, slack_escape(v)) for k, v in lines)}
    (teams,) = hooks.received("/workflows/TEAMSSECRET")
    body = [{"type": "TextBlock", "text": headline, "weight": "Bolder", "size": "Medium", "wrap": True}] + \
           [{"type": "TextBlock", "text": "**%s:** %s" % (k, v), "wrap": True} for k, v in lines]
    assert teams["json"] == {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.2", "body": body}}]}
    # the targets show scheme and host only: the token in the path is a secret
    assert [x["target"] for x in acts] == ["slack %s/***" % hooks.url, "teams %s/***" % hooks.url]


def test_refused_post_is_not_retried_and_secrets_never_show(ruled, imds, hooks, tmp_path):
    hooks.answer((400, "invalid_payload"))
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"slack": hooks.url + "/services/T0/B0/SLACKSECRET"}},
                       {"notify": {"pagerduty": {"routing_key": ROUTING_KEY, "url": hooks.url + "/v2/enqueue"}}}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    acts = final_actions(a, 2)
    assert acts[0]["state"] == "failed" and acts[0]["error"] == "HTTP 400: invalid_payload", acts
    assert acts[1]["state"] == "done", acts          # a failed step: the next still runs
    time.sleep(3)                                    # a retry would come within 2 s
    assert len(hooks.received("/services/T0/B0/SLACKSECRET")) == 1
    (failed,) = [e for e in a.events() if e["type"] == "action-failed"]
    assert failed["detail"]["error"] == "HTTP 400: invalid_payload"
    a.stop()
    out = tmp_path / "report.txt"
    r = a.run_cli("report", "-o", "-")
    everything = a.log() + json.dumps(a.events()) + r.stdout + "".join(
        p.read_text(errors="replace") for p in a.state.iterdir() if p.is_file())
    a.start()
    everything += json.dumps(a.status()[1])
    assert "SLACKSECRET" not in everything and ROUTING_KEY not in everything
    assert "pagerduty %s/***" % hooks.url in everything
    del out


def test_server_errors_are_retried_with_backoff(ruled, imds, hooks):
    hooks.answer((503, "busy"), (500, "oops"))
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"teams": hooks.url + "/w"}, "timeout_s": 30}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    (act,) = final_actions(a, 1)
    assert act["state"] == "done", act
    posts = hooks.received("/w")
    assert [p["status"] for p in posts] == [503, 500, None]
    assert posts[0]["raw"] == posts[2]["raw"]
    assert posts[2]["t"] - posts[0]["t"] < 8          # full jitter, 1 s doubling: at most 2 + 4 s


def test_timeout_ends_retries(ruled, imds, hooks):
    hooks.answer(*[(503, "busy")] * 20)
    a = ruled([{"name": "tell", "on": ["spot-interruption"],
                "do": [{"notify": {"slack": hooks.url + "/s"}, "timeout_s": 2}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    (act,) = final_actions(a, 1)
    assert act["state"] == "timed-out" and "HTTP 503" in act["error"], act


# ---------------------------------------------------------------- PagerDuty: trigger, restart, resolve

NAMESPACE = r'''
mount --bind "$FAKE_MEMINFO" /proc/meminfo || exit 1
exec "$@"
'''


class MeminfoAgent(Agent):
    """The agent in a mount namespace where /proc/meminfo is the test's (test_examples does the same)."""

    def run_argv(self, args):
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", NAMESPACE, "sh",
                *super().run_argv(args)]


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="needs root (a mount namespace for /proc/meminfo)")
def test_pagerduty_trigger_then_resolve_across_a_restart(tmp_path, imds, aws, hooks):
    from test_examples import FakeMeminfo
    meminfo = FakeMeminfo(str(tmp_path / "meminfo"))
    (tmp_path / "kmsg-none").touch()
    cfg = {"kmsg": {"path": str(tmp_path / "kmsg-none")},
           "metrics": {"enabled": True, "collection_interval_s": 1, "filesystems": ["/dev"]},
           "rules": [{"name": "mem", "when": {"metric": "mem_used_percent", "above": 90, "for_s": 1},
                      "do": [{"notify": {"pagerduty": {"routing_key": ROUTING_KEY,
                                                       "url": hooks.url + "/v2/enqueue"}}}]}]}
    d = tmp_path / "agent"
    d.mkdir()
    a = MeminfoAgent(d, cfg, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, "AWS_ENDPOINT_URL": aws.url,
                              "FAKE_MEMINFO": meminfo.path})
    try:
        a.start()
        meminfo.set(97.0)
        (trigger,) = wait_for(lambda: hooks.received("/v2/enqueue"), 20, what="the trigger")
        t = trigger["json"]
        assert t["routing_key"] == ROUTING_KEY and t["event_action"] == "trigger"
        assert t["dedup_key"] == "ec2agent/%s/mem" % INSTANCE
        assert t["payload"]["severity"] == "warning" and t["payload"]["source"] == INSTANCE
        assert t["payload"]["summary"] == "Alert on %s (no ASG): metric, rule mem" % INSTANCE
        assert trigger["status"] is None          # accepted (202)
        wait_for(lambda: (a.state / "pagerduty.json").exists() and
                 json.loads((a.state / "pagerduty.json").read_text())["open"], 10, what="incident remembered")
        assert a.stop() == 0
        saved = json.loads((a.state / "pagerduty.json").read_text())
        assert [x["dedup_key"] for x in saved["open"]] == ["ec2agent/%s/mem" % INSTANCE]
        assert ROUTING_KEY not in (a.state / "pagerduty.json").read_text()
        meminfo.set(50.0)                          # the trouble clears while the agent is down
        a.start()
        resolve = wait_for(lambda: hooks.received("/v2/enqueue")[1:], 20, what="the resolve after the restart")[0]
        assert resolve["json"] == {"routing_key": ROUTING_KEY, "event_action": "resolve",
                                   "dedup_key": "ec2agent/%s/mem" % INSTANCE}
        wait_for(lambda: json.loads((a.state / "pagerduty.json").read_text())["open"] == [], 10,
                 what="the incident forgotten once resolved")
        assert a.status()[1]["notify"]["pagerduty"]["open_incidents"] == 0
        time.sleep(2)
        assert len(hooks.received("/v2/enqueue")) == 2   # one trigger, one resolve
    finally:
        a.cleanup()


def test_pagerduty_resolves_when_the_scheduled_event_completes(ruled, imds, hooks):
    now = int(time.time())
    event = {"EventId": EVENT_ID, "Code": "system-reboot", "State": "active", "Description": "reboot",
             "NotBefore": now + 86400}
    imds.scheduled([event])
    a = ruled([{"name": "maint", "on": ["maintenance"],
                "do": [{"notify": {"pagerduty": {"routing_key": ROUTING_KEY, "url": hooks.url + "/v2/enqueue"}}}]}])
    a.start()
    (trigger,) = wait_for(lambda: hooks.received("/v2/enqueue"), 15, what="the trigger")
    assert trigger["json"]["payload"]["component"] == "maintenance:system-reboot"
    assert trigger["json"]["payload"]["severity"] == "warning"
    wait_for(lambda: a.status()[1]["notify"]["pagerduty"]["open_incidents"] == 1, 10, what="incident open")
    imds.scheduled([dict(event, State="completed")])
    resolve = wait_for(lambda: hooks.received("/v2/enqueue")[1:], 15, what="the resolve")[0]
    assert resolve["json"]["event_action"] == "resolve"
    assert resolve["json"]["dedup_key"] == "ec2agent/%s/maint" % INSTANCE


# ---------------------------------------------------------------- reschedule

def gmt(t):
    return time.strftime("%-d %b %Y %H:%M:%S GMT", time.gmtime(t))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def next_opening(now, days, hh, mm, offset_min):
    """The first opening strictly after NOW: DAYS as tm_wday numbers of the local (offset) day."""
    local = now + offset_min * 60
    day0 = local - local % 86400
    for k in range(0, 9):
        start = day0 + k * 86400 + hh * 3600 + mm * 60 - offset_min * 60
        if time.gmtime(day0 + k * 86400).tm_wday in days and start > now:
            return start
    raise AssertionError("no opening")


def schedule(imds, aws, not_before, deadline):
    imds.scheduled([{"EventId": EVENT_ID, "Code": "system-reboot", "State": "active",
                     "Description": "The instance is scheduled for system-reboot",
                     "NotBefore": not_before, "NotAfter": not_before + 7200}])
    aws.ec2_events[EVENT_ID] = ec2_event("system-reboot", not_before, deadline=deadline, not_after=not_before + 7200)
    aws.on_modify = imds.move_scheduled


def reschedule_rule(hooks, window, extra_rules=()):
    return [{"name": "maint", "on": ["maintenance"],
             "do": [{"reschedule": {"window": window}},
                    {"notify": {"slack": hooks.url + "/s"}}]}] + list(extra_rules)


def test_reschedule_moves_the_event_into_the_window(ruled, imds, aws, hooks, tmp_path):
    now = int(time.time())
    schedule(imds, aws, now + 3600, now + 14 * 86400)
    # a window crossing midnight, at an offset: Saturday and Sunday 23:30 to 01:30 at -03:30
    window = {"days": ["sat", "sun"], "start": "23:30", "end": "01:30", "utc_offset": "-03:30"}
    expect = next_opening(now, {5, 6}, 23, 30, -210)
    drain = tmp_path / "drained"
    a = ruled(reschedule_rule(hooks, window, [
        {"name": "drain", "on": ["maintenance"], "before_s": 3590,
         "do": [{"exec": ["/bin/sh", "-c", "echo $EC2AGENT_DEADLINE >> %s" % drain]}]}]))
    a.start()
    acts = wait_for(lambda: [x for x in actions(a) if x["rule"] == "maint" and x["state"] not in ("pending", "running")]
                    if len([x for x in actions(a) if x["rule"] == "maint" and
                            x["state"] not in ("pending", "running")]) == 2 else None, 30, what="maint finished")
    assert [x["state"] for x in acts] == ["done", "done"], acts
    (mod,) = aws.accepted("ModifyInstanceEventStartTime")
    assert mod["service"] == "ec2" and mod["region"] == "eu-west-1" and aws.rejected == []   # SigV4 checked
    assert mod["params"] == {"Action": "ModifyInstanceEventStartTime", "Version": "2016-11-15",
                             "InstanceId": INSTANCE, "InstanceEventId": EVENT_ID, "NotBefore": iso(expect)}
    (desc,) = aws.accepted("DescribeInstanceStatus")
    assert desc["params"]["InstanceId.1"] == INSTANCE and desc["params"]["IncludeAllInstances"] == "true"
    # the new time in the action and in an event
    moved_to = "moved to %s (was %s)" % (iso(expect), iso(now + 3600))
    assert acts[0]["error"] == moved_to, acts[0]
    (done,) = [e for e in a.events() if e["type"] == "action-done" and e["detail"]["step"] == "reschedule"]
    assert done["detail"]["error"] == moved_to and moved_to in done["summary"], done
    # IMDS shows the new NotBefore: a reschedule of the same event, not a new one
    moved = wait_for(lambda: [e for e in a.events() if e["type"] == "maintenance:system-reboot"
                              and e["detail"]["change"] == "rescheduled"], 15, what="the IMDS event moved")
    assert moved[0]["detail"]["not_before"] == iso(expect)
    # the drain rule (before_s 3590) was due 10 s after the notice; re-armed for the new time, it does not fire
    time.sleep(max(0, now + 14 - time.time()))
    fired = [e["detail"]["rule"] for e in a.events() if e["type"] == "rule-fired"]
    assert fired.count("maint") == 1, fired
    assert "drain" not in fired and not drain.exists()
    assert len(hooks.received("/s")) == 1


def test_reschedule_without_deadline_fails_and_the_next_step_runs(ruled, imds, aws, hooks):
    now = int(time.time())
    schedule(imds, aws, now + 3600, None)
    a = ruled(reschedule_rule(hooks, {"days": ["sun"], "start": "02:00", "end": "05:00"}))
    a.start()
    acts = final_actions(a, 2)
    assert acts[0]["state"] == "failed", acts
    assert acts[0]["error"].startswith("cannot be rescheduled: the event has no deadline"), acts[0]
    assert acts[1]["state"] == "done"
    assert aws.accepted("ModifyInstanceEventStartTime") == []


def test_reschedule_with_deadline_before_every_window(ruled, imds, aws, hooks):
    now = int(time.time())
    schedule(imds, aws, now + 3600, now + 7200)
    # the window opens only on the day after tomorrow
    day = time.gmtime(now + 2 * 86400).tm_wday
    name = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day]
    a = ruled(reschedule_rule(hooks, {"days": [name], "start": "12:00", "end": "13:00", "utc_offset": "+00:00"}))
    a.start()
    acts = final_actions(a, 2)
    assert acts[0]["state"] == "failed", acts
    assert acts[0]["error"] == "cannot be rescheduled: no maintenance window starts before its deadline %s" % iso(
        now + 7200), acts[0]
    assert acts[1]["state"] == "done"
    assert aws.accepted("ModifyInstanceEventStartTime") == []


def test_reschedule_refused_by_aws(ruled, imds, aws, hooks):
    now = int(time.time())
    schedule(imds, aws, now + 3600, now + 14 * 86400)
    aws.ec2_refuse = (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
    a = ruled(reschedule_rule(hooks, {"days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
                                      "start": "02:00", "end": "05:00"}))
    a.start()
    acts = final_actions(a, 2)
    assert acts[0]["state"] == "failed", acts
    assert acts[0]["error"] == ("cannot be rescheduled: ModifyInstanceEventStartTime: UnauthorizedOperation: "
                                "You are not authorized to perform this operation. (HTTP 403)"), acts[0]
    assert len(aws.accepted("ModifyInstanceEventStartTime")) == 1      # not retried
    assert acts[1]["state"] == "done"


def test_reschedule_is_skipped_for_other_events(ruled, imds, aws, hooks):
    a = ruled([{"name": "r", "on": ["spot-interruption"],
                "do": [{"reschedule": {"window": {"days": ["sun"], "start": "02:00", "end": "05:00"}}}]}])
    a.start()
    imds.set("spot/instance-action", SPOT)
    (act,) = final_actions(a, 1)
    assert act["state"] == "skipped" and "not a scheduled event" in act["error"], act
    assert aws.accepted() == []
