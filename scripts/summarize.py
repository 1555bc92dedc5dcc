"""Counts the test cases of the given meson build directories and prints "N passed, N failed".

Unit tests speak TAP (one "ok"/"not ok" line per case); the integration and system suites leave
JUnit files.
A test program that died without its TAP lines counts as one failure. Exit status 1 on any failure.
"""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# meson test's logs: the unit and integration suites, then the system suite run on its own
LOGS = ("testlog", "systemlog")


def count(build):
    passed = failed = skipped = 0
    logs = [Path(build) / "meson-logs" / (name + ".json") for name in LOGS]
    if not logs[0].exists():
        return 0, 1, 0
    lines = [l for log in logs if log.exists() for l in log.read_text().splitlines()]
    for line in lines:
        t = json.loads(line)
        suite_name = t["name"].rsplit(" ", 1)[-1]
        if suite_name in ("integration", "system"):
            junit = Path(build) / "tests" / (suite_name + ".xml")
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
