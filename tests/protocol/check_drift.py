#!/usr/bin/env python3
"""Run scanner_check_drift and insist that it fails for the right reasons.

usage: check_drift.py PROGRAM EXPECTED...

PROGRAM is scanner_check linked with tables that gen_tables.py --drop-arg
damaged. Passes when PROGRAM exits with status 1 (failed subtests, not a
crash), only the wayland.xml subtest failed, every EXPECTED text appears in
its report, and it reported exactly as many differences as there are
EXPECTED texts (one per damaged message, nothing else).
"""

import re
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, expected = sys.argv[1], sys.argv[2:]
    run = subprocess.run([program], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120)
    out = run.stdout
    # Quoted, so TAP readers do not count the expected failures as ours.
    for line in out.splitlines():
        print(f"  | {line}")
    errors = []
    if run.returncode != 1:
        errors.append(f"exit status {run.returncode}, expected 1 (some subtest failed)")
    failed = re.findall(r"^not ok \d+ (\S+)", out, re.M)
    if failed != ["scanner_agrees[0]"]:
        errors.append(f"failed subtests {failed}, expected only scanner_agrees[0] (wayland.xml)")
    for text in expected:
        if text not in out:
            errors.append(f"no report containing {text!r}")
    counts = re.findall(r"(\d+) difference\(s\) from wayland-scanner", out)
    if counts != [str(len(expected))]:
        errors.append(f"difference counts {counts}, expected [{len(expected)}]")
    for e in errors:
        print(f"check_drift: {e}")
    if errors:
        return 1
    print("check_drift: the damaged tables were caught, as they should be")
    return 0


if __name__ == "__main__":
    sys.exit(main())
