"""Counts the test cases of the given meson build directories and prints "N passed, N failed".

Unit tests speak TAP (one "ok"/"not ok" line per case); the integration suite leaves a JUnit file.
A test program that died without its TAP lines counts as one failure. Exit status 1 on any failure.
"""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(build):
    passed = failed = skipped = 0
    log = Path(build) / "meson-logs" / "testlog.json"
    if not log.exists():
        return 0, 1, 0
    for line in log.read_text().splitlines():
        t = json.loads(line)
        if t["name"].endswith("integration"):
            junit = Path(build) / "tests" / "integration.xml"
            if not junit.exists():
                failed += 1
                continue
            root = ET.parse(junit).getroot()
            suite = root if root.tag == "testsuite" else root.find("testsuite")
            total = int(suite.get("tests"))
            bad = int(suite.get("failures")) + int(suite.get("errors"))
            skip = int(suite.get("skipped"))
            passed += total - bad - skip
            failed += bad
            skipped += skip
            if t["result"] not in ("OK", "SKIP") and bad == 0:
                failed += 1
            continue
        tap = [l for l in (t.get("stdout") or "").splitlines()]
        ok = sum(1 for l in tap if l.startswith("ok "))
        nok = sum(1 for l in tap if l.startswith("not ok "))
        passed += ok
        failed += nok
        if t["result"] not in ("OK", "SKIP") and nok == 0:
            failed += 1
    return passed, failed, skipped


def main():
    args = sys.argv[1:]
    failed_steps = 0
    if "--failed-steps" in args:
        i = args.index("--failed-steps")
        failed_steps = int(args[i + 1])
        del args[i:i + 2]
    passed = failed = skipped = 0
    for build in args:
        p, f, s = count(build)
        print("%s: %d passed, %d failed, %d skipped" % (build, p, f, s))
        passed += p
        failed += f
        skipped += s
    failed += failed_steps
    tail = ", %d skipped" % skipped if skipped else ""
    print("%d passed, %d failed%s" % (passed, failed, tail))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
