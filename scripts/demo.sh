#!/bin/sh
# demo.sh BUILD_DIR - `make demo`: the main job on the bundled example.
# Builds the iris-c example service, makes a bento of it, shows it, exports
# it, imports it into a second, empty store and checks that store.
set -eu
B=${1:-build}
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
BENTO=$B/bento
work=$(mktemp -d "${TMPDIR:-/tmp}/bento-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BENTO_HOME="$work/store" XDG_CONFIG_HOME="$work/config"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
	say() { printf '\n$ %s\n' "$*"; }
fi
run() { say "$*"; "$@"; }

run make -s -C examples/iris-c
run "$BENTO" key generate --no-password
run "$BENTO" key trust "$work/config/bento/keys/default.pub"
run "$BENTO" build examples/iris-c --sign
run "$BENTO" list
run "$BENTO" get iris-c
run "$BENTO" models list
run "$BENTO" export iris-c "$work/iris-c.bento"
say "tar -tvf $work/iris-c.bento | head"
tar -tvf "$work/iris-c.bento" | head
export BENTO_HOME="$work/store2"
run "$BENTO" import "$work/iris-c.bento" --require-signature
run "$BENTO" verify iris-c --full
run "$BENTO" fsck
run "$BENTO" history
run "$BENTO" history --verify
say "the same bento digest in both stores:"
BENTO_HOME="$work/store" "$BENTO" get iris-c -o json > "$work/a.json"
"$BENTO" get iris-c -o json > "$work/b.json"
cmp "$work/a.json" "$work/b.json" && echo "identical bento.json"
