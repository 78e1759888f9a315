#!/usr/bin/env bash
# Long fuzzing campaign: every libFuzzer target of a -Dfuzz=enabled build in
# turn, for hours each, then the inputs that found new coverage are merged
# into the checked-in corpus.
#
#   tests/fuzz/fuzz-long.sh BUILDDIR [TARGET...]
#   meson compile -C BUILDDIR fuzz-long          (all targets, same settings)
#
# Environment:
#   CROSSWAY_FUZZ_HOURS    hours per target (default 1; fractions are fine:
#                          0.05 is three minutes)
#   CROSSWAY_FUZZ_JOBS     parallel libFuzzer processes per target (default:
#                          the number of cores); passed as -jobs and -workers
#   CROSSWAY_FUZZ_WORKDIR  scratch space (default BUILDDIR/fuzz-long)
#   CROSSWAY_FUZZ_TIMEOUT  seconds one input may take (default 1). libFuzzer
#                          measures it on the wall clock, so on a loaded
#                          machine use more; the slowest input is reported
#                          either way
#   CROSSWAY_FUZZ_MERGE    1 (default): merge inputs with new edges; all: inputs
#                          with any new feature (edge hit counts too: many
#                          more files); 0: leave the checked-in corpus alone
#
# Each target starts from a copy of tests/fuzz/corpus/<target>/ and runs with
# -timeout=1 -rss_limit_mb=2048 (the release gate's limits: an input over 1 s
# or 2 GiB is a failure) and -max_len=65536. Afterwards libFuzzer's -merge=1
# adds to the checked-in corpus the campaign's inputs that cover edges the
# corpus does not, as few as do it, named campaign-<sha1>; the rest of the
# corpus is left as it is. (Merging on edges alone keeps the corpus small:
# for e2e, 333 files instead of 1493 for the same 591 new edges.)
#
# Prints per target: executions, CPU seconds the fuzzing processes used (user
# + system, the measure of a "CPU-hour"), exec/s (all jobs together), edges (the
# campaign's, and the merged corpus's), corpus files before and after, the
# files added, and crashes/timeouts/OOMs with their inputs (left in
# WORKDIR/<target>/artifacts; add them to the corpus once fixed). Exit status
# 1 if any target failed or crashed.
set -uo pipefail

usage() {
	sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 2
}
[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; esac
build=$(cd "$1" && pwd) || usage
shift
here=$(cd "$(dirname "$0")" && pwd)
hours=${CROSSWAY_FUZZ_HOURS:-1}
jobs=${CROSSWAY_FUZZ_JOBS:-$(nproc)}
work=${CROSSWAY_FUZZ_WORKDIR:-$build/fuzz-long}
merge=${CROSSWAY_FUZZ_MERGE:-1}
seconds=$(awk -v h="$hours" 'BEGIN { s = int(h * 3600); print (s < 1 ? 1 : s) }')
timeout=${CROSSWAY_FUZZ_TIMEOUT:-1}
limits=(-timeout="$timeout" -rss_limit_mb=2048 -max_len=65536)

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for corpus in "$here"/corpus/*/; do
		targets+=("$(basename "$corpus")")
	done
fi

files() { find "$1/" -maxdepth 1 -type f ! -name '.*' | wc -l; } # "/": a corpus may be a link
bytes() { du -sbL "$1/" | cut -f1; }
# Sums or takes the largest value of a "stat::" line over the jobs' logs.
stat_sum() { cat "$2"/fuzz-*.log 2>/dev/null | sed -n "s/^stat::$1: *//p" | awk '{s += $1} END {print s + 0}'; }
max_cov() { cat "$1"/fuzz-*.log 2>/dev/null | grep -oE 'cov: [0-9]+' | awk '{if ($2 > m) m = $2} END {print m + 0}'; }
# Sets children_cpu to the CPU seconds (user + system) of this shell's
# finished children so far. (`times` must run in this shell, not in a
# pipeline or $(...): a subshell has no finished children.)
count_children_cpu() {
	times >"$work/.times"
	children_cpu=$(tail -1 "$work/.times" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
		printf "%d", s
	}')
}
# Edges covered by a corpus: what libFuzzer reports after loading it.
corpus_cov() { "$1" -runs=0 "${limits[@]}" "$2" 2>&1 | grep -oE 'INITED cov: [0-9]+' | tail -1 | cut -d' ' -f3; }

echo "fuzz-long: ${#targets[@]} targets, ${hours} h each (${seconds} s), $jobs jobs, in $work"
mkdir -p "$work"
status=0
for name in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz-$name
	src=$here/corpus/$name
	dir=$work/$name
	if [ ! -x "$bin" ] || [ ! -d "$src" ]; then
		echo "fuzz-long $name: no binary at $bin or no corpus at $src"
		echo "RESULT fuzz-long-$name fail"
		status=1
		continue
	fi
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp "$src"/* "$dir/corpus/" 2>/dev/null
	before_files=$(files "$src")
	before_bytes=$(bytes "$src")
	start=$(date +%s)
	count_children_cpu
	cpu_before=$children_cpu
	# -jobs runs that many fuzzing processes on the one corpus directory
	# (they share new inputs through it), each writing fuzz-N.log here.
	(cd "$dir" && "$bin" "$dir/corpus" -max_total_time="$seconds" "${limits[@]}" \
		-jobs="$jobs" -workers="$jobs" -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" >"$dir/parent.log" 2>&1)
	elapsed=$(($(date +%s) - start))
	count_children_cpu
	cpu=$((children_cpu - cpu_before))
	runs=$(stat_sum number_of_executed_units "$dir")
	speed=$(awk -v r="$runs" -v t="$elapsed" 'BEGIN { printf "%d", (t > 0 ? r / t : 0) }')
	cov=$(max_cov "$dir")
	found=$(find "$dir/artifacts" -type f | wc -l)

	added=0
	after_cov=
	if [ "$merge" != 0 ]; then
		# Merge into a copy of the checked-in corpus; what appears in it
		# is new coverage. Crashing inputs never get there: they are
		# artifacts, not corpus files.
		merged=$dir/merged
		rm -rf "$merged"
		mkdir -p "$merged"
		cp "$src"/* "$merged/" 2>/dev/null
		ls "$merged" | sort >"$dir/known"
		features=(-use_counters=0 -use_value_profile=0)
		[ "$merge" = all ] && features=()
		"$bin" -merge=1 "${features[@]}" "${limits[@]}" "$merged" "$dir/corpus" \
			>"$dir/merge.log" 2>&1 ||
			echo "fuzz-long $name: merge failed, see $dir/merge.log"
		for f in $(ls "$merged" | sort | comm -13 "$dir/known" -); do
			cp "$merged/$f" "$src/campaign-$f"
			added=$((added + 1))
		done
		after_cov=$(corpus_cov "$bin" "$src")
	fi
	if [ "$merge" != 0 ]; then
		after="${after_cov:-?} edges (corpus after merge)"
	else
		after="corpus not merged"
	fi
	slowest=$(cat "$dir"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::slowest_unit_time_sec: *//p' |
		sort -n | tail -1)
	echo "fuzz-long $name: $runs executions in ${elapsed} s (${cpu} CPU s), $speed exec/s," \
		"$cov edges (campaign), $after; slowest input ${slowest:-?} s"
	echo "fuzz-long $name: corpus $before_files files/$before_bytes bytes before," \
		"$(files "$src") files/$(bytes "$src") bytes after, $added new files"
	if [ "$found" -gt 0 ]; then
		echo "fuzz-long $name: $found crash/timeout/OOM inputs in $dir/artifacts:"
		find "$dir/artifacts" -type f | head -10 | sed 's/^/  /'
		grep -hE 'ERROR: |fuzz check failed|SUMMARY' "$dir"/fuzz-*.log | sort | uniq -c | head -10
		echo "RESULT fuzz-long-$name fail"
		status=1
	else
		echo "RESULT fuzz-long-$name pass"
	fi
done
exit $status
