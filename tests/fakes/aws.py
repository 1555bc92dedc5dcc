"""A fake AWS Query-API endpoint (CloudWatch, Auto Scaling, SNS, EC2) that checks every signature.

Each request's SigV4 signature is recomputed with botocore (python3-botocore) from the
headers the client says it signed, the body (gunzipped only for parsing, signed as sent),
and the secret of the access key; a mismatch is answered like AWS does
(403 SignatureDoesNotMatch) and recorded. Accepted requests are parsed into their Query
parameters and recorded. Replies can be scripted: a queue of (status, body) answers.

EC2 (Version 2016-11-15) keeps scheduled events: ec2_events[event_id] = ec2_event(...);
DescribeInstanceStatus lists them under eventsSet, ModifyInstanceEventStartTime moves one (refused
like EC2 does past its NotBeforeDeadline, or when it has none) and calls on_modify(event_id, epoch)
so a test can make the IMDS fake serve the new NotBefore.
"""
import argparse
import gzip
import json
import re
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
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_KEYS = {
    "AKIDFAKEENVKEY000001": ("fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012", None),
    "ASIAFAKEIMDSKEY00001": ("fakeImdsSecret/abcdefghijklmnopqrstuvwxyz", "FAKEimdsSessionToken//abc+def=="),
}

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")

ERROR_XML = ('<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error>'
             '<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>'
             '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>')


def error_xml(code, message):
    return ERROR_XML.format(code=code, message=message)


def ec2_error_xml(code, message):
    """EC2's error document differs from the other Query services'."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message>'
            '</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>' % (code, message))


def iso(t):
    """EC2's timestamps: 2026-12-13T02:00:00.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def ec2_event(code, not_before, deadline=None, not_after=None, instance="i-0abc1234def567890"):
    return {"code": code, "not_before": not_before, "not_after": not_after, "deadline": deadline,
            "instance": instance, "description": "The instance is scheduled for %s" % code}


def ec2_event_xml(tag, event_id, e):
    parts = ["<%s>" % tag, "<instanceEventId>%s</instanceEventId>" % event_id, "<code>%s</code>" % e["code"],
             "<description>%s</description>" % e["description"], "<notBefore>%s</notBefore>" % iso(e["not_before"])]
    if e["not_after"]:
        parts.append("<notAfter>%s</notAfter>" % iso(e["not_after"]))
    if e["deadline"]:
        parts.append("<notBeforeDeadline>%s</notBeforeDeadline>" % iso(e["deadline"]))
    parts.append("</%s>" % tag)
    return "".join(parts)


def parse_iso(s):
    import calendar
    s = s.replace(".000Z", "Z")
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def verify_sigv4(method, path, headers, body, keys):
    """Returns (ok, why, info): info has access_key, region, service, signed_headers."""
    auth = headers.get("Authorization", "")
    m = AUTH_RE.match(auth)
    if not m:
        return False, "malformed Authorization header: %r" % auth[:80], {}
    akid, date, region, service, signed, signature = m.groups()
    info = {"access_key": akid, "region": region, "service": service, "signed_headers": signed.split(";")}
    if akid not in keys:
        return False, "unknown access key %s" % akid, info
    secret, token = keys[akid]
    amz_date = headers.get("X-Amz-Date", "")
    if not amz_date.startswith(date):
        return False, "X-Amz-Date %r does not match the credential date %s" % (amz_date, date), info
    sent_token = headers.get("X-Amz-Security-Token")
    if token is not None and sent_token != token:
        return False, "missing or wrong X-Amz-Security-Token", info
    if sent_token is not None and "x-amz-security-token" not in info["signed_headers"]:
        return False, "X-Amz-Security-Token is not signed", info
    for required in ("host", "x-amz-date"):
        if required not in info["signed_headers"]:
            return False, "%s is not signed" % required, info

    signed_headers = {}
    for name in info["signed_headers"]:
        values = headers.get_all(name) or []
        if len(values) != 1:
            return False, "signed header %s present %d times" % (name, len(values)), info
        signed_headers[name] = values[0]
    host = signed_headers["host"]
    req = AWSRequest(method=method, url="http://%s%s" % (host, path), headers=signed_headers, data=body)
    req.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(akid, secret, token), service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if expected != signature:
        return False, "signature mismatch; canonical request was:\n" + canonical, info
    return True, "", info


class FakeAws:
    def __init__(self, port=0, keys=None, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.keys = dict(keys or DEFAULT_KEYS)
        self.requests = []      # accepted: dicts with action, params, service, region, gzip, bytes, form_bytes, t
        self.rejected = []      # signature failures: dicts with why
        self.script = []        # queued (status, body) answers, consumed one per request
        self.delay = 0.0
        self.ec2_events = {}    # event id -> ec2_event(...)
        self.on_modify = None   # callback(event_id, new NotBefore as epoch seconds)
        self.ec2_refuse = None  # (status, code, message): how every ModifyInstanceEventStartTime is refused
        handler = type("Handler", (_Handler,), {"aws": self})
        self.server = QuietServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, self.port)

    def answer(self, *replies):
        """Queues replies: (status, body) tuples, or "throttle" / "500" / "notxml" shorthands."""
        with self.lock:
            for r in replies:
                if r == "throttle":
                    r = (400, error_xml("Throttling", "Rate exceeded"))
                elif r == "500":
                    r = (500, error_xml("InternalServiceError", "Internal error"))
                elif r == "notxml":
                    r = (502, "<html><body>Bad Gateway</body></html>")
                self.script.append(r)

    def accepted(self, action=None):
        with self.lock:
            return [r for r in self.requests if action is None or r["action"] == action]

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    aws = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body, content_type="text/xml"):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_control/requests":
            return self._reply(200, json.dumps(self.aws.accepted()), "application/json")
        self._reply(404, "")

    def do_POST(self):
        aws = self.aws
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        ok, why, info = verify_sigv4("POST", self.path, self.headers, body, aws.keys)
        if not ok:
            with aws.lock:
                aws.rejected.append({"why": why, "t": time.time(), **info})
            return self._reply(403, error_xml("SignatureDoesNotMatch", why.splitlines()[0]))
        gz = self.headers.get("Content-Encoding", "") == "gzip"
        text = gzip.decompress(body).decode() if gz else body.decode()
        params = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))
        action = params.get("Action", "")
        with aws.lock:
            scripted = aws.script.pop(0) if aws.script else None
            delay = aws.delay
        if delay:
            time.sleep(delay)
        record = {"action": action, "params": params, "service": info["service"], "region": info["region"],
                  "access_key": info["access_key"], "gzip": gz, "bytes": len(body), "form_bytes": len(text), "t": time.time(),
                  "status": scripted[0] if scripted else 200}
        with aws.lock:
            aws.requests.append(record)
        if scripted:
            return self._reply(scripted[0], scripted[1])
        if action in ("DescribeInstanceStatus", "ModifyInstanceEventStartTime"):
            return self._ec2(action, params)
        self._reply(200, '<%sResponse><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000'
                         '</RequestId></ResponseMetadata></%sResponse>' % (action, action))


def _ec2(self, action, params):
    aws = self.aws
    ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
    if params.get("Version") != "2016-11-15":
        return self._reply(400, ec2_error_xml("InvalidParameterValue", "Version must be 2016-11-15"))
    if action == "DescribeInstanceStatus":
        instance = params.get("InstanceId.1")
        with aws.lock:
            items = "".join(ec2_event_xml("item", k, e) for k, e in aws.ec2_events.items() if e["instance"] == instance)
        return self._reply(200, '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstanceStatusResponse %s>'
                                '<requestId>r-1</requestId><instanceStatusSet><item><instanceId>%s</instanceId>'
                                '<availabilityZone>eu-west-1a</availabilityZone><eventsSet>%s</eventsSet>'
                                '<instanceState><code>16</code><name>running</name></instanceState></item>'
                                '</instanceStatusSet></DescribeInstanceStatusResponse>' % (ns, instance, items))
    eid = params.get("InstanceEventId", "")
    if aws.ec2_refuse:
        return self._reply(aws.ec2_refuse[0], ec2_error_xml(aws.ec2_refuse[1], aws.ec2_refuse[2]))
    with aws.lock:
        e = aws.ec2_events.get(eid)
        if not e or e["instance"] != params.get("InstanceId"):
            return self._reply(400, ec2_error_xml("InvalidInstanceEventID.NotFound",
                                                  "The event ID '%s' does not exist" % eid))
        try:
            t = parse_iso(params.get("NotBefore", ""))
        except ValueError:
            return self._reply(400, ec2_error_xml("InvalidParameterValue", "NotBefore is not a valid time"))
        if not e["deadline"]:
            return self._reply(400, ec2_error_xml("InvalidParameterValue",
                                                  "The event %s cannot be rescheduled" % eid))
        if t > e["deadline"]:
            return self._reply(400, ec2_error_xml("InvalidParameterValue",
                                                  "The requested time is after the event's deadline"))
        if e["not_after"]:
            e["not_after"] = t + (e["not_after"] - e["not_before"])
        e["not_before"] = t
        reply = ec2_event_xml("event", eid, e)
        hook = aws.on_modify
    if hook:
        hook(eid, t)
    self._reply(200, '<?xml version="1.0" encoding="UTF-8"?>\n<ModifyInstanceEventStartTimeResponse %s>'
                     '<requestId>r-2</requestId>%s</ModifyInstanceEventStartTimeResponse>' % (ns, reply))


_Handler._ec2 = _ec2


def main():
    ap = argparse.ArgumentParser(description="fake AWS Query endpoint on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    aws = FakeAws(args.port)
    print(aws.url, flush=True)
    aws.server.serve_forever()


if __name__ == "__main__":
    main()
