"""The fakes themselves: the IMDS enforces tokens, the AWS endpoint checks every signature."""
import subprocess
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def http(method, url, headers=None, data=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_imds_requires_token(imds):
    assert http("GET", imds.url + "/latest/meta-data/instance-id")[0] == 401
    assert http("PUT", imds.url + "/latest/api/token")[0] == 400
    assert http("PUT", imds.url + "/latest/api/token",
                {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0] == 400
    assert http("PUT", imds.url + "/latest/api/token",
                {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"})[0] == 403
    status, token = http("PUT", imds.url + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200
    h = {"X-aws-ec2-metadata-token": token}
    assert http("GET", imds.url + "/latest/meta-data/instance-id", h) == (200, "i-0abc1234def567890")
    assert http("GET", imds.url + "/latest/meta-data/spot/instance-action", h)[0] == 404
    imds.set("spot/instance-action", '{"action": "terminate", "time": "2026-11-23T10:02:00Z"}')
    assert http("GET", imds.url + "/latest/meta-data/spot/instance-action", h)[0] == 200
    imds.fault("spot/instance-action", status=503)
    assert http("GET", imds.url + "/latest/meta-data/spot/instance-action", h)[0] == 503
    imds.expire_tokens()
    assert http("GET", imds.url + "/latest/meta-data/instance-id", h)[0] == 401
    assert [r["status"] for r in imds.requests("GET")] == [401, 200, 404, 200, 503, 401]


def test_aws_accepts_botocore_signature(aws):
    body = "Action=PutMetricData&Version=2010-08-01&Namespace=CWAgent"
    req = AWSRequest(method="POST", url=aws.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("AKIDFAKEENVKEY000001", "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012"),
              "monitoring", "eu-west-1").add_auth(req)
    status, text = http("POST", aws.url + "/", dict(req.headers), body.encode())
    assert status == 200, text
    assert aws.accepted("PutMetricData")[0]["params"]["Namespace"] == "CWAgent"


def curl_sigv4(aws, secret, token=None, akid="AKIDFAKEENVKEY000001", extra=()):
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:eu-west-1:monitoring",
           "--user", "%s:%s" % (akid, secret), "-d", "Action=PutMetricData&Version=2010-08-01&Namespace=X",
           *extra, aws.url + "/"]
    if token:
        cmd[-1:-1] = ["-H", "X-Amz-Security-Token: " + token]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout


def test_aws_accepts_libcurl_signature_and_rejects_wrong_ones(aws):
    assert curl_sigv4(aws, "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012") == "200"
    assert curl_sigv4(aws, "fakeImdsSecret/abcdefghijklmnopqrstuvwxyz", "FAKEimdsSessionToken//abc+def==",
                      akid="ASIAFAKEIMDSKEY00001") == "200"
    assert curl_sigv4(aws, "wrong-secret") == "403"
    assert curl_sigv4(aws, "fakeImdsSecret/abcdefghijklmnopqrstuvwxyz", akid="ASIAFAKEIMDSKEY00001") == "403"
    assert len(aws.accepted()) == 2
    whys = [r["why"] for r in aws.rejected]
    assert whys[0].startswith("signature mismatch")
    assert whys[1] == "missing or wrong X-Amz-Security-Token"


def test_aws_scripted_answers(aws):
    aws.answer("throttle", "500")
    assert curl_sigv4(aws, "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012") == "400"
    assert curl_sigv4(aws, "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012") == "500"
    assert curl_sigv4(aws, "fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012") == "200"


def test_ec2_fake_answers_botocore(aws, imds):
    """The EC2 fake speaks EC2's XML as botocore's own model reads it, and refuses like EC2."""
    import botocore.session
    import json as _json
    import time as _time
    from fakes.aws import ec2_event
    now = int(_time.time())
    aws.ec2_events["instance-event-0d59"] = ec2_event("system-reboot", now + 86400, deadline=now + 7 * 86400,
                                                      not_after=now + 86400 + 7200)
    aws.ec2_events["instance-event-0nod"] = ec2_event("instance-stop", now + 86400)
    imds.scheduled([{"EventId": "instance-event-0d59", "Code": "system-reboot", "State": "active",
                     "NotBefore": now + 86400, "NotAfter": now + 86400 + 7200}])
    aws.on_modify = imds.move_scheduled
    ec2 = botocore.session.get_session().create_client(
        "ec2", region_name="eu-west-1", endpoint_url=aws.url,
        aws_access_key_id="AKIDFAKEENVKEY000001",
        aws_secret_access_key="fakeEnvSecret/abcdefghijklmnopqrstuvwxyz012")
    r = ec2.describe_instance_status(InstanceIds=["i-0abc1234def567890"], IncludeAllInstances=True)
    events = {e["InstanceEventId"]: e for e in r["InstanceStatuses"][0]["Events"]}
    assert int(events["instance-event-0d59"]["NotBeforeDeadline"].timestamp()) == now + 7 * 86400
    assert "NotBeforeDeadline" not in events["instance-event-0nod"]
    moved = ec2.modify_instance_event_start_time(InstanceId="i-0abc1234def567890",
                                                 InstanceEventId="instance-event-0d59", NotBefore=now + 3 * 86400)
    assert int(moved["Event"]["NotBefore"].timestamp()) == now + 3 * 86400
    served = _json.loads(imds.paths["/latest/meta-data/events/maintenance/scheduled"])
    assert served[0]["NotBefore"] == _time.strftime("%-d %b %Y %H:%M:%S GMT", _time.gmtime(now + 3 * 86400))
    assert served[0]["NotAfter"] == _time.strftime("%-d %b %Y %H:%M:%S GMT", _time.gmtime(now + 3 * 86400 + 7200))
    for eid, t, code in (("instance-event-0d59", now + 8 * 86400, "InvalidParameterValue"),
                         ("instance-event-0nod", now + 2 * 86400, "InvalidParameterValue"),
                         ("instance-event-0zzz", now + 2 * 86400, "InvalidInstanceEventID.NotFound")):
        try:
            ec2.modify_instance_event_start_time(InstanceId="i-0abc1234def567890", InstanceEventId=eid, NotBefore=t)
            raise AssertionError("not refused")
        except ec2.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == code
    assert [r["service"] for r in aws.accepted()] == ["ec2"] * 5
    assert not aws.rejected
