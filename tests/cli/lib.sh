# lib.sh - sourced by every tests/cli/t*.sh.  TAP output, git-style helpers.
#
#   test_expect_success 'name' 'commands'   # passes when commands exit 0
#   test_expect_code N 'name' 'commands'    # passes when commands exit N
#   test_done
#
# Each test file gets a fresh $TMP (removed at the end) and BENTO_HOME inside
# it; $BENTO is the binary under test; $SRC the source tree.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
BENTO=${BENTO:-$BUILD/bento}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bento-test.XXXXXX")
export BENTO_HOME=$TMP/home
export XDG_CONFIG_HOME=$TMP/config
export HOME=$TMP
export NO_COLOR=1
unset SOURCE_DATE_EPOCH BENTO_SIGNING_KEY BENTO_KEY_PASSWORD
test_count=0
test_failures=0
trap 'rm -rf "$TMP"' EXIT

bento() { "$BENTO" "$@"; }

_run() {
	touch "$TMP/.start"
	( cd "$TMP" && eval "$1" ) > "$TMP/.out" 2>&1
}

# After a failure: the start of every err*/out* file in $TMP the test wrote,
# since commands there often redirect their output and tests stay silent.
_dump_outputs() {
	find "$TMP" -maxdepth 1 -type f \( -name 'err*' -o -name 'out*' \) \
		-newer "$TMP/.start" 2> /dev/null | sort | while read -r f; do
		echo "-- ${f#"$TMP"/}:"
		head -c 2000 "$f"
		echo
	done
}

_report() {
	test_count=$((test_count + 1))
	if [ "$1" = ok ]; then
		echo "ok $test_count - $2"
	else
		test_failures=$((test_failures + 1))
		echo "not ok $test_count - $2"
		{ cat "$TMP/.out"; _dump_outputs; } | sed 's/^/#   /'
	fi
}

test_expect_success() {
	if _run "$2"; then _report ok "$1"; else _report fail "$1"; fi
}

test_expect_code() {
	want=$1
	_run "$3"
	got=$?
	if [ "$got" = "$want" ]; then
		_report ok "$2"
	else
		echo "exit $got, wanted $want" >> "$TMP/.out"
		_report fail "$2"
	fi
}

# Fail (return 1) unless file $1 contains the fixed string $2.
grep_q() {
	grep -qF -- "$2" "$1" || { echo "'$2' not found in $1:"; cat "$1"; return 1; }
}

# A digest of the whole store's metadata and blob listing, to prove a failed
# command left the store exactly as it was.  The caches are left out: the
# stat cache describes the user's files (dev, inode, mtime -> digest) and the
# layer cache digests derived from content already stored; a failed build or
# push may rightly remember what it computed.
store_state() {
	{
		if [ -f "$BENTO_HOME/store.db" ]; then
			sqlite3 "$BENTO_HOME/store.db" .dump |
				grep -v -e '^INSERT INTO history' -e '^INSERT INTO stat_cache' \
					-e '^INSERT INTO layer_cache' || true
		fi
		if [ -d "$BENTO_HOME/blobs" ]; then
			find "$BENTO_HOME/blobs" -type f | sort
		fi
	} | sha256sum | cut -c1-64
}

# Stricter than store_state, for what must change nothing at all: every
# file and directory under the store with its type and mode, and the bytes
# of every file (the database, the caches, the history, tmp/ included).
# "none" when there is no store.
store_bytes() {
	if [ ! -d "$BENTO_HOME" ]; then
		echo none
		return
	fi
	(
		cd "$BENTO_HOME" || exit 1
		find . -printf '%y %m %p\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
	) | sha256sum | cut -c1-64
}

test_done() {
	echo "1..$test_count"
	[ "$test_failures" = 0 ]
}
