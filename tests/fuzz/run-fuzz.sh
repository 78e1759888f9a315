#!/usr/bin/env bash
# Runs every libFuzzer target of a -Dfuzz=enabled build for a bounded time.
#
#   tests/fuzz/run-fuzz.sh BUILDDIR [SECONDS]
#
# Each target starts from a scratch copy of its checked-in corpus (so a CI
# run never writes into the source tree) and runs for SECONDS (default 60).
# Prints, per target, "fuzz <name>: <runs> runs, <exec/s> exec/s, <cov> edges"
# and "RESULT fuzz-<name> pass|fail"; a crash leaves its input in
# $CROSSWAY_FUZZ_ARTIFACTS (default BUILDDIR/fuzz-artifacts) to add to the
# corpus once fixed. Exit status 1 if any target failed. For campaigns of
# hours that also grow the checked-in corpus, see fuzz-long.sh.
set -uo pipefail

build=${1:?usage: run-fuzz.sh BUILDDIR [SECONDS]}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
artifacts=${CROSSWAY_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
status=0

for corpus in "$here"/corpus/*/; do
	name=$(basename "$corpus")
	bin=$build/tests/fuzz/fuzz-$name
	if [ ! -x "$bin" ]; then
		echo "fuzz $name: no binary at $bin"
		echo "RESULT fuzz-$name fail"
		status=1
		continue
	fi
	scratch=$(mktemp -d)
	cp -r "$corpus". "$scratch"/
	log=$artifacts/$name.log
	"$bin" "$scratch" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	echo "fuzz $name: ${runs:-?} runs, ${speed:-?} exec/s, ${cov:-?} edges (${seconds}s)"
	if [ $rc -eq 0 ]; then
		echo "RESULT fuzz-$name pass"
	else
		echo "RESULT fuzz-$name fail"
		grep -E 'ERROR|fuzz check failed|SUMMARY|Test unit written' "$log" | head -5
		status=1
	fi
	rm -rf "$scratch"
done
exit $status
