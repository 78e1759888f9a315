#!/usr/bin/env python3
"""Count passed and failed tests across meson test logs and extra results.

Reads each meson-logs/testlog.json given on the command line. A TAP test
counts once per subtest (its "ok"/"not ok" lines); other tests count once.
Lines of the form "RESULT <name> pass|fail" in files given with --extra add
more results (fuzz runs, format checks). Prints the failures, then the closing
line "N passed, N failed". Exit status 1 if anything failed.
"""
import argparse
import json
import re
import sys

TAP_LINE = re.compile(r"^(not ok|ok)\b\s*\d*\s*(.*)$")


def count_log(path, failures):
    passed = failed = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        failures.append(f"{path}: {e}")
        return 0, 1
    for line in lines:
        try:
            t = json.loads(line)
        except json.JSONDecodeError:
            continue
        name = t.get("name", "?")
        result = t.get("result", "")
        subtests = []
        if t.get("protocol") == "tap" or "1.." in (t.get("stdout") or "")[:100]:
            for out in (t.get("stdout") or "").splitlines():
                m = TAP_LINE.match(out.strip())
                if m:
                    skip = "# SKIP" in out
                    subtests.append((m.group(1) == "ok", m.group(2), skip))
        if subtests:
            for ok, sub, skip in subtests:
                if ok:
                    passed += 1
                else:
                    failed += 1
                    failures.append(f"{name}: {sub}")
            # A TAP program that crashed after its last line still failed.
            if result not in ("OK", "SKIP", "EXPECTEDFAIL") and all(ok for ok, _, _ in subtests):
                failed += 1
                failures.append(f"{name}: {result} after its subtests")
        elif result in ("OK", "SKIP", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
            failures.append(f"{name}: {result}")
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="*")
    ap.add_argument("--extra", action="append", default=[])
    opts = ap.parse_args()
    failures = []
    passed = failed = 0
    for log in opts.logs:
        p, f = count_log(log, failures)
        passed += p
        failed += f
    for extra in opts.extra:
        try:
            with open(extra, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[0] == "RESULT":
                        if parts[-1] == "pass":
                            passed += 1
                        else:
                            failed += 1
                            failures.append(" ".join(parts[1:-1]))
        except OSError:
            pass
    for f in failures:
        print(f"FAILED: {f}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
