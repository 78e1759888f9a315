#!/usr/bin/env bash
# Line coverage of the parsers and the policy code reached by the fuzz
# corpora alone (not by the other tests): builds with gcov instrumentation,
# replays every corpus/<target>/ through <target>-replay, and reports per
# file and in total for wire/ and daemon/policy.c.
#
#   tests/fuzz/coverage.sh [BUILDDIR]      (default: build-coverage)
#
# Needs gcovr (Debian package gcovr). Prints "coverage wire: N%" and
# "coverage policy: N%" lines, and writes BUILDDIR/coverage.txt.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-coverage}
command -v gcovr >/dev/null || { echo "coverage: gcovr is not installed (apt-get install gcovr)"; exit 1; }

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" -Db_coverage=true -Dbuildtype=debug >/dev/null
fi
ninja -C "$build" >/dev/null
find "$build" -name '*.gcda' -delete

for corpus in "$top"/tests/fuzz/corpus/*/; do
	name=$(basename "$corpus")
	replay=$build/tests/fuzz/$name-replay
	if [ -x "$replay" ]; then
		"$replay" "$corpus" >/dev/null 2>&1 || echo "coverage: $name-replay reported failures"
	fi
done

report() { # label, filter...
	local label=$1
	shift
	local args=()
	for f in "$@"; do
		args+=(--filter "$top/$f")
	done
	gcovr --root "$top" --object-directory "$build" "${args[@]}" --exclude-unreachable-branches \
		>"$build/coverage-$label.txt" 2>/dev/null
	local total
	total=$(awk '/^TOTAL/ {print $4}' "$build/coverage-$label.txt")
	echo "coverage $label: ${total:-?} of lines"
}
report wire 'wire/'
report policy 'daemon/policy.c'
cat "$build"/coverage-wire.txt "$build"/coverage-policy.txt >"$build/coverage.txt"
