#!/bin/sh
# fuzz.sh DIR SECONDS TARGET... - run each libFuzzer target DIR/bin/TARGET for
# SECONDS on its seeds (tests/fuzz/corpus/TARGET/, read only) and what earlier
# runs found (DIR/corpus-TARGET/, where new inputs go), then print one line per
# target: executions, corpus size and findings (crash-, leak-, timeout- and
# oom- files in DIR/artifacts/).  Exits 1 when any target found something or
# did not run.  A target's file may carry a line "// fuzz-flags: ..." with
# its own libFuzzer flags (e.g. -max_len=1048576).  FUZZ_JOBS=N runs N
# targets at once (default 1).
set -u
dir=$1 secs=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/artifacts" "$dir/logs"

one() {
	t=$1
	flags=$(sed -n 's|^// fuzz-flags: ||p' "$src/tests/fuzz/$t.c" | head -n 1)
	mkdir -p "$dir/corpus-$t"
	seeds=
	[ -d "$src/tests/fuzz/corpus/$t" ] && seeds="$src/tests/fuzz/corpus/$t"
	# shellcheck disable=SC2086 # flags and seeds split on purpose
	"$dir/bin/$t" -max_total_time="$secs" -max_len=65536 -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" $flags \
		"$dir/corpus-$t" $seeds > "$dir/logs/$t.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/logs/$t.log" | tail -n 1)
	found=$(find "$dir/artifacts" -maxdepth 1 -name "$t-*" -newer "$dir/logs/$t.start" | wc -l)
	corpus=$(find "$dir/corpus-$t" -type f | wc -l)
	status=ok
	if [ "$rc" != 0 ] || [ "$found" != 0 ]; then status="FAILED (exit $rc, see $dir/logs/$t.log)"; fi
	printf '%s: %s executions in %s s, corpus %s, findings %s: %s\n' \
		"$t" "${execs:-0}" "$secs" "$corpus" "$found" "$status"
}

for t in "$@"; do
	[ -x "$dir/bin/$t" ] || { echo "$t: not built ($dir/bin/$t)"; exit 1; }
	touch "$dir/logs/$t.start"
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# FUZZ_JOBS at a time, in batches (POSIX sh has no wait -n).
n=0
for t in "$@"; do
	one "$t" > "$out/$t" &
	n=$((n + 1))
	[ "$n" -lt "${FUZZ_JOBS:-1}" ] || { wait; n=0; }
done
wait
cat "$out"/* > "$out/all"
sort "$out/all"
if grep -q 'FAILED' "$out/all"; then
	echo "fuzz: findings or failures (inputs in $dir/artifacts/)"
	exit 1
fi
echo "fuzz: $(wc -l < "$out/all") targets, no findings"
