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

# ---- an OCI image FROM scratch, run with runc when it is there ----
shim=$B/bento-shim
if readelf -l "$shim" 2> /dev/null | grep -q INTERP; then shim=$(pwd)/build/bento-shim; fi
export BENTO_SHIM="$shim"
run "$BENTO" containerize iris-c --output "oci:$work/iris.oci:demo"
if ! command -v umoci > /dev/null || ! command -v runc > /dev/null || [ "$(id -u)" != 0 ]; then
	say "(runc, umoci or root missing: not running the image)"
	exit 0
fi
run umoci unpack --image "$work/iris.oci:demo" "$work/bundle"
# The container keeps its own network namespace (its loopback only); curl
# reaches it through nsenter.  The shim's probes on 8081.
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["env"] += ["BENTO_HEALTH_PORT=8081", "BENTO_VERIFY=full"]
json.dump(c, open(sys.argv[1], "w"))
PY
id=bento-demo-$$
say "runc run -d -b $work/bundle $id"
runc --root "$work/runc" run -d -b "$work/bundle" --pid-file "$work/pid" "$id" > "$work/runc.log" 2>&1 < /dev/null
trap 'runc --root "$work/runc" delete -f "$id" > /dev/null 2>&1; rm -rf "$work"' EXIT
inside() { nsenter --net="/proc/$(cat "$work/pid")/ns/net" "$@"; }
for _ in $(seq 1 100); do
	inside curl -sf http://127.0.0.1:8081/readyz > /dev/null 2>&1 && break
	sleep 0.1
done
say "(in the container's network namespace) curl http://127.0.0.1:8081/readyz"
inside curl -s http://127.0.0.1:8081/readyz
echo
say "(in the container's network namespace) curl -X POST http://127.0.0.1:3000/predict -d '{\"features\": [5.1, 3.5, 1.4, 0.2]}'"
inside curl -s -X POST http://127.0.0.1:3000/predict -d '{"features": [5.1, 3.5, 1.4, 0.2]}'
echo
run runc --root "$work/runc" kill "$id" TERM
for _ in $(seq 1 50); do
	[ "$(runc --root "$work/runc" state "$id" 2> /dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2> /dev/null)" = stopped ] && break
	sleep 0.1
done
say "the container's output (the shim's lines and the service's):"
cat "$work/runc.log"
