"""A fake EC2 instance metadata service, IMDSv2 only, for tests and the demo.

It enforces tokens the way AWS documents them ("Use IMDSv2", EC2 User Guide): a token comes
from PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1-21600); every GET must
carry it in X-aws-ec2-metadata-token or gets 401; a PUT with X-Forwarded-For is refused.
Tests script it in-process (set/delete/fault); the demo drives it over /_control/ on loopback.
Every request is logged, so tests can prove there was no tokenless request.
"""
import argparse
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    """A client closing a kept-alive connection is normal here, not worth a traceback."""
    daemon_threads = True

    def __init__(self, address, handler):
        if ":" in address[0]:  # an IPv6 literal such as "::1"
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        import sys as _sys
        if not isinstance(_sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

IDENTITY = {
    "accountId": "123456789012",
    "architecture": "arm64",
    "availabilityZone": "eu-west-1a",
    "imageId": "ami-0abcdef1234567890",
    "instanceId": "i-0abc1234def567890",
    "instanceType": "m7g.large",
    "pendingTime": "2026-11-23T08:00:00Z",
    "privateIp": "10.0.1.23",
    "region": "eu-west-1",
    "version": "2017-09-30",
}


def default_paths():
    i = IDENTITY
    return {
        "/latest/meta-data/instance-id": i["instanceId"],
        "/latest/meta-data/instance-type": i["instanceType"],
        "/latest/meta-data/ami-id": i["imageId"],
        "/latest/meta-data/placement/region": i["region"],
        "/latest/meta-data/placement/availability-zone": i["availabilityZone"],
        "/latest/dynamic/instance-identity/document": json.dumps(i, indent=2),
        "/latest/meta-data/events/maintenance/scheduled": "[]",
        "/latest/meta-data/iam/security-credentials/": "ec2agent-role",
        "/latest/meta-data/iam/security-credentials/ec2agent-role": json.dumps({
            "Code": "Success",
            "LastUpdated": "2026-11-23T08:00:00Z",
            "Type": "AWS-HMAC",
            "AccessKeyId": "ASIAFAKEIMDSKEY00001",
            "SecretAccessKey": "fakeImdsSecret/abcdefghijklmnopqrstuvwxyz",
            "Token": "FAKEimdsSessionToken//abc+def==",
            "Expiration": "2099-01-01T00:00:00Z",
        }),
    }


class FakeImds:
    """State and behaviour; the HTTP handler below only translates."""

    def __init__(self, port=0, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.paths = default_paths()
        self.faults = {}        # path or "token" -> fault dict
        self.tokens = {}        # token -> expiry (monotonic)
        self.log = []           # dicts: method, path, token (or None), status, t
        self.max_ttl = 21600
        handler = type("Handler", (_Handler,), {"imds": self})
        self.server = QuietServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, self.port)
        self.thread = None

    # ---- scripting ----
    def set(self, path, body):
        with self.lock:
            self.paths[_norm(path)] = body

    def scheduled(self, events):
        """Serves EVENTS (dicts: EventId, Code, State, NotBefore/NotAfter/NotBeforeDeadline as epoch
        seconds or None) at events/maintenance/scheduled, times in IMDS's "21 Jan 2019 09:00:43 GMT"."""
        def gmt(t):
            return time.strftime("%-d %b %Y %H:%M:%S GMT", time.gmtime(t))
        out = []
        for e in events:
            o = {k: v for k, v in e.items() if not k.startswith("Not")}
            for k in ("NotBefore", "NotAfter", "NotBeforeDeadline"):
                if e.get(k):
                    o[k] = gmt(e[k])
            out.append(o)
        self.set("events/maintenance/scheduled", json.dumps(out))

    def move_scheduled(self, event_id, not_before):
        """What IMDS shows after ModifyInstanceEventStartTime: EVENT_ID's NotBefore (and NotAfter,
        by the same shift) moved to NOT_BEFORE (epoch seconds)."""
        import calendar

        def parse(s):
            return calendar.timegm(time.strptime(s, "%d %b %Y %H:%M:%S GMT"))

        def gmt(t):
            return time.strftime("%-d %b %Y %H:%M:%S GMT", time.gmtime(t))
        path = _norm("events/maintenance/scheduled")
        with self.lock:
            events = json.loads(self.paths.get(path, "[]"))
            for e in events:
                if e.get("EventId") == event_id:
                    shift = not_before - parse(e["NotBefore"])
                    e["NotBefore"] = gmt(not_before)
                    if e.get("NotAfter"):
                        e["NotAfter"] = gmt(parse(e["NotAfter"]) + shift)
            self.paths[path] = json.dumps(events)

    def delete(self, path):
        with self.lock:
            self.paths.pop(_norm(path), None)

    def fault(self, path, **kw):
        """kw: status=INT, delay=SECONDS, drop=True, garbage=True, oversize=BYTES; none clears."""
        key = path if path in ("token", "*") else _norm(path)
        with self.lock:
            if kw:
                self.faults[key] = kw
            else:
                self.faults.pop(key, None)

    def fault_all(self, **kw):
        """The fault for every metadata GET (not the token PUT)."""
        self.fault("*", **kw)

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def expire_tokens(self):
        with self.lock:
            self.tokens.clear()

    def requests(self, method=None, path=None):
        with self.lock:
            return [r for r in self.log
                    if (method is None or r["method"] == method) and (path is None or r["path"] == path)]

    # ---- lifecycle ----
    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _norm(path):
    return path if path.startswith("/latest/") else "/latest/meta-data/" + path.lstrip("/")


class _Handler(BaseHTTPRequestHandler):
    imds = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body=b"", content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, key):
        """Acts out the fault scripted for KEY; returns what to log (None: no fault, serve normally)."""
        f = self.imds.faults.get(key) or self.imds.faults.get("*")
        if not f:
            return None
        if f.get("delay"):
            time.sleep(f["delay"])
        if f.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return "drop"
        if f.get("garbage"):
            self._reply(200, b"\x00\xff garbage {{{ [[[\n" * 4)
            return "garbage"
        if f.get("oversize"):
            self._reply(200, b"x" * int(f["oversize"]))
            return "oversize"
        if f.get("status"):
            self._reply(int(f["status"]), "fault")
            return int(f["status"])
        return None

    def _log(self, token, status):
        with self.imds.lock:
            self.imds.log.append({"method": self.command, "path": self.path, "token": token,
                                  "status": status, "t": time.time(),
                                  "host": self.headers.get("Host")})

    def do_PUT(self):
        imds = self.imds
        if self.path.startswith("/_control/"):
            return self._control()
        if self.path != "/latest/api/token":
            self._log(None, 405)
            return self._reply(405, "method not allowed")
        if self.headers.get("X-Forwarded-For"):
            self._log(None, 403)
            return self._reply(403, "forbidden")
        fault = self._fault("token")
        if fault is not None:
            self._log(None, fault)
            return
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= imds.max_ttl:
            self._log(None, 400)
            return self._reply(400, "missing or invalid ttl")
        token = "AQAEA" + secrets.token_urlsafe(30)
        with imds.lock:
            imds.tokens[token] = time.monotonic() + int(ttl)
        self._log(None, 200)
        self._reply(200, token)

    def do_GET(self):
        imds = self.imds
        if self.path.startswith("/_control/"):
            return self._control()
        token = self.headers.get("X-aws-ec2-metadata-token")
        with imds.lock:
            valid = token is not None and imds.tokens.get(token, 0) > time.monotonic()
            body = imds.paths.get(self.path)
        if not valid:
            self._log(token, 401)
            return self._reply(401, "unauthorized")
        fault = self._fault(self.path)
        if fault is not None:
            self._log(token, fault)
            return
        if body is None:
            self._log(token, 404)
            return self._reply(404, "<?xml version=\"1.0\"?>\n<Error><Code>NotFound</Code></Error>", "text/html")
        self._log(token, 200)
        self._reply(200, body)

    def do_POST(self):
        if self.path.startswith("/_control/"):
            return self._control()
        self._reply(405, "method not allowed")

    # /_control/set?path=P (body) | /_control/delete?path=P | /_control/fault?path=P (JSON body)
    # | /_control/clear | /_control/log
    def _control(self):
        from urllib.parse import urlparse, parse_qs
        u = urlparse(self.path)
        q = parse_qs(u.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        p = q.get("path", [""])[0]
        if u.path == "/_control/set":
            self.imds.set(p, body)
        elif u.path == "/_control/delete":
            self.imds.delete(p)
        elif u.path == "/_control/fault":
            self.imds.fault(p, **(json.loads(body) if body else {}))
        elif u.path == "/_control/clear":
            self.imds.clear_faults()
        elif u.path == "/_control/log":
            return self._reply(200, json.dumps(self.imds.requests()), "application/json")
        else:
            return self._reply(404, "no such control")
        self._reply(200, "ok")


def main():
    ap = argparse.ArgumentParser(description="fake IMDSv2 on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    imds = FakeImds(args.port)
    print(imds.url, flush=True)
    imds.server.serve_forever()


if __name__ == "__main__":
    main()
