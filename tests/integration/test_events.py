"""The event history: events.jsonl across restarts, the events command and its filters."""
import json
import signal

from test_daemon import simulate_reboot


def seed(agent, lines):
    agent.state.mkdir(parents=True, exist_ok=True)
    (agent.state / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def ev(at, type_, severity="warning", summary="s"):
    return {"at": at, "boot_id": "b", "type": type_, "severity": severity, "summary": summary, "detail": {}}


def test_events_filters(agent):
    seed(agent, [
        ev("2026-11-20T10:00:00Z", "oom-kill", summary="killed java"),
        ev("2026-11-21T10:00:00Z", "maintenance:system-reboot"),
        ev("2026-11-22T10:00:00Z", "spot-interruption", "critical"),
        ev("2026-11-23T10:00:00Z", "maintenance:instance-stop"),
    ])
    assert [e["type"] for e in agent.events()] == [
        "oom-kill", "maintenance:system-reboot", "spot-interruption", "maintenance:instance-stop"]
    assert [e["type"] for e in agent.events("--type", "maintenance")] == [
        "maintenance:system-reboot", "maintenance:instance-stop"]
    assert [e["type"] for e in agent.events("--type", "oom-kill", "--type", "spot-interruption")] == [
        "oom-kill", "spot-interruption"]
    assert [e["type"] for e in agent.events("--since", "2026-11-22T00:00:00Z")] == [
        "spot-interruption", "maintenance:instance-stop"]
    assert agent.events("--since", "1h") == []
    assert len(agent.events("--since", "3650d")) == 4
    r = agent.run_cli("events")
    assert r.returncode == 0
    first = r.stdout.splitlines()[0]
    assert first.startswith("2026-11-20T10:00:00Z  warning   oom-kill")
    assert first.endswith("killed java")


def test_torn_last_line_is_skipped(agent):
    seed(agent, [ev("2026-11-20T10:00:00Z", "oom-kill")])
    with open(agent.state / "events.jsonl", "a") as f:
        f.write('{"at":"2026-11-21T10:00:00Z","boot_id":"b","ty')
    assert [e["type"] for e in agent.events()] == ["oom-kill"]


def test_events_persist_across_restarts_and_reboots(agent):
    agent.start()
    agent.stop(signal.SIGKILL)
    simulate_reboot(agent.state, "11111111111111111111111111111111")
    agent.start()
    agent.stop(signal.SIGKILL)
    simulate_reboot(agent.state, "22222222222222222222222222222222")
    agent.start()
    crashes = agent.events("--type", "previous-boot-crash")
    assert [c["detail"]["previous_boot_id"] for c in crashes] == [
        "11111111111111111111111111111111", "22222222222222222222222222222222"]
    assert all(c["severity"] == "warning" for c in crashes)
