#!/bin/sh
# run.sh BUILD_DIR - run every unit test binary and every CLI test script
# (each speaks TAP), then print one line: "N passed, N failed, N skipped".
set -u
B=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export SRC BUILD="$B"
pass=0 fail=0 skip=0 failed_files=""
out=$(mktemp)
for t in "$B"/tests/test_* "$SRC"/tests/cli/t[0-9]*.sh; do
	[ -e "$t" ] || continue
	case $t in *.d|*.o) continue ;; esac
	name=${t#"$SRC"/}
	echo "# $name"
	case $t in
	*.sh) timeout 1200 bash "$t" > "$out" 2>&1 ;;
	*) timeout 600 "$t" > "$out" 2>&1 ;;
	esac
	rc=$?
	cat "$out"
	p=$(grep -c '^ok ' "$out" || true)
	s=$(grep -c '^ok .*# SKIP' "$out" || true)
	f=$(grep -c '^not ok ' "$out" || true)
	p=$((p - s))
	# A whole file skipped ("1..0 # SKIP why") counts as one skip.
	if grep -q '^1\.\.0 # SKIP' "$out"; then s=$((s + 1)); fi
	# A script that dies before its plan, or exits non-zero with no failing test, counts as a failure.
	if ! grep -q '^1\.\.[0-9]' "$out" || { [ "$rc" != 0 ] && [ "$f" = 0 ]; }; then
		echo "# $name: exited $rc without a complete plan"
		f=$((f + 1))
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ "$f" = 0 ] || failed_files="$failed_files $name"
done
rm -f "$out"
[ -z "$failed_files" ] || echo "# failures in:$failed_files"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
