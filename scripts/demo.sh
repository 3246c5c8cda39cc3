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
# Free loopback ports for the service and the shim's health endpoint; the
# container shares the host's network so curl can reach it.
ports=$(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
port=${ports% *} health=${ports#* }
python3 - "$work/bundle/config.json" "$port" "$health" <<'PY'
import json, sys
path, port, health = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
p["args"] = [a if a != "3000" else port for a in p["args"]]
p["env"] += ["BENTO_HEALTH_PORT=" + health, "BENTO_SERVICE_PORT=" + port, "BENTO_VERIFY=full"]
ns = c["linux"]["namespaces"]
c["linux"]["namespaces"] = [n for n in ns if n["type"] != "network"]
json.dump(c, open(path, "w"))
PY
id=bento-demo-$$
say "runc run -d -b $work/bundle $id   (service on 127.0.0.1:$port, health on :$health)"
runc --root "$work/runc" run -d -b "$work/bundle" --pid-file "$work/pid" "$id" > "$work/runc.log" 2>&1 < /dev/null
trap 'runc --root "$work/runc" delete -f "$id" > /dev/null 2>&1; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$health/readyz" > /dev/null 2>&1 && break
	sleep 0.1
done
run curl -s "http://127.0.0.1:$health/readyz"
echo
run curl -s -X POST "http://127.0.0.1:$port/predict" -d '{"features": [5.1, 3.5, 1.4, 0.2]}'
echo
run runc --root "$work/runc" kill "$id" TERM
for _ in $(seq 1 50); do
	[ "$(runc --root "$work/runc" state "$id" 2> /dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2> /dev/null)" = stopped ] && break
	sleep 0.1
done
say "the container's output (the shim's lines and the service's):"
cat "$work/runc.log"
