"""A fake alert receiver on 127.0.0.1: Slack and Teams webhooks and PagerDuty's Events API v2.

Every POST is recorded with its path, headers, raw body, parsed JSON and arrival time. Replies can be
scripted per request (a queue of (status, body)); otherwise Slack/Teams paths answer 200 "ok" and
/v2/enqueue answers 202 with PagerDuty's {"status": "success", "dedup_key": ...}. PagerDuty's own
checks are applied: an event_action of trigger, acknowledge or resolve, a routing_key of 32
characters, and for a trigger payload.summary/source/severity — a bad event gets PagerDuty's 400
{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHooks:
    def __init__(self):
        self.lock = threading.Lock()
        self.posts = []
        self.script = []
        hooks = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                hooks._post(self, raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, *replies):
        with self.lock:
            self.script.extend(replies)

    def received(self, path=None):
        with self.lock:
            return [p for p in self.posts if path is None or p["path"] == path]

    def _post(self, h, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = {"path": h.path, "content_type": h.headers.get("Content-Type"), "raw": raw.decode(errors="replace"),
               "json": body, "t": time.time()}
        with self.lock:
            scripted = self.script.pop(0) if self.script else None
            rec["status"] = scripted[0] if scripted else None
            self.posts.append(rec)
        if scripted:
            return self._reply(h, *scripted)
        if h.path.endswith("/v2/enqueue"):
            errors = pagerduty_errors(body)
            if errors:
                return self._reply(h, 400, json.dumps({"status": "invalid event", "message": "Event object is invalid",
                                                       "errors": errors}))
            return self._reply(h, 202, json.dumps({"status": "success", "message": "Event processed",
                                                   "dedup_key": body.get("dedup_key")}))
        if not isinstance(body, dict):
            return self._reply(h, 400, "invalid_payload")
        self._reply(h, 200, "ok")

    @staticmethod
    def _reply(h, status, body):
        body = body.encode() if isinstance(body, str) else body
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def pagerduty_errors(e):
    if not isinstance(e, dict):
        return ["body is not a JSON object"]
    out = []
    if not isinstance(e.get("routing_key"), str) or len(e["routing_key"]) != 32:
        out.append("'routing_key' is invalid")
    if e.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        out.append("'event_action' is invalid")
    if len(e.get("dedup_key", "")) > 255:
        out.append("'dedup_key' is too long")
    if e.get("event_action") == "trigger":
        p = e.get("payload") or {}
        if not p.get("summary") or len(p["summary"]) > 1024:
            out.append("'payload.summary' is missing or too long")
        if not p.get("source"):
            out.append("'payload.source' is missing")
        if p.get("severity") not in ("critical", "error", "warning", "info"):
            out.append("'payload.severity' is invalid")
    elif e.get("event_action") == "resolve" and not e.get("dedup_key"):
        out.append("'dedup_key' is required to resolve")
    return out
