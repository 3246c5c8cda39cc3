#!/usr/bin/env bash
# test.sh - start iris-py on a free loopback port, query it, stop it.
# TAP output; exit status 0 when every check passed.
set -u
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
command -v curl >/dev/null || { echo "Bail out! curl is needed"; exit 1; }
command -v "$PYTHON" >/dev/null || { echo "Bail out! $PYTHON is needed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/iris-py-test.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2"; }
check() { # check NAME COMMAND...
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# Only the standard library may be imported at run time: refuse anything
# that is not in sys.stdlib_module_names.
check "service.py imports only the standard library" "$PYTHON" - <<'PY'
import ast, sys
tree = ast.parse(open("service.py").read())
mods = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        mods.update(a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        mods.add((node.module or "").split(".")[0])
bad = sorted(m for m in mods if m not in sys.stdlib_module_names)
if bad:
    print("# third-party imports:", bad)
sys.exit(1 if bad else 0)
PY
check "requirements.txt: every line pinned with a sha256" "$PYTHON" - <<'PY'
import re, sys
text = open("requirements.txt").read().replace("\\\n", " ")
reqs = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
bad = [r for r in reqs if not re.match(r"^[A-Za-z0-9._-]+==[^ ]+( +--hash=sha256:[0-9a-f]{64})+$", r)]
for r in bad:
    print("# not pinned and hashed:", r)
sys.exit(1 if bad or not reqs else 0)
PY

: > "$work/log"	# exists before the server opens it: the loop below reads it at once
"$PYTHON" service.py --host 127.0.0.1 --port 0 --model models/iris-py/weights.bin 2> "$work/log" &
pid=$!
port=
for _ in $(seq 1 200); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/log")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "Bail out! service did not start"; cat "$work/log"; exit 1
fi
echo "# service pid $pid on 127.0.0.1:$port"
url=http://127.0.0.1:$port

req() { # req METHOD PATH [BODY] -> $code, $body
	local args=(-s -o "$work/body" -w '%{http_code}' -X "$1" --max-time 10)
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	code=$(curl "${args[@]}" "$url$2") || code=curl-failed
	body=$(cat "$work/body" 2>/dev/null)
}
expect() { # expect NAME CODE GREP-PATTERN
	if [ "$code" = "$2" ] && printf '%s' "$body" | grep -q -- "$3"; then
		ok "$1"
	else
		not_ok "$1" "got $code: $body"
	fi
}

req POST /predict '{"features": [5.1, 3.5, 1.4, 0.2]}'
expect "setosa sample is predicted setosa" 200 '"predictions":\["setosa"\]'
req POST /predict '{"features": [6.3, 3.3, 6.0, 2.5]}'
expect "virginica sample is predicted virginica" 200 '"predictions":\["virginica"\]'
req POST /predict '{"instances": [[5.1,3.5,1.4,0.2],[7.0,3.2,4.7,1.4],[5.9,3.0,5.1,1.8]]}'
expect "instances batch" 200 '"predictions":\["setosa","versicolor","virginica"\]'
req POST /predict '{"features": [5.1, 3.5, 1.4'
expect "truncated JSON is 400" 400 'malformed JSON'
req POST /predict '{"features": [5.1, 3.5, 1.4]}'
expect "three features is 400" 400 'expected 4 features'
req POST /predict '{"features": [5.1, 3.5, 1.4, true]}'
expect "a boolean feature is 400" 400 'numbers'
req POST /predict '{"features": [NaN, 3.5, 1.4, 0.2]}'
expect "NaN is 400" 400 'out of range'
req POST /predict "{\"features\": [1$(printf '%0400d' 0), 3.5, 1.4, 0.2]}"
expect "a 400-digit integer is 400" 400 'out of range'
req POST /predict "{\"features\": [1$(printf '%05000d' 0), 3.5, 1.4, 0.2]}"
expect "a 5000-digit integer is 400" 400 'out of range'
req POST /predict '[1, 2]'
expect "a non-object body is 400" 400 'object'
req GET /predict
expect "GET /predict is 405" 405 'POST'
req GET /nope
expect "unknown path is 404" 404 'not found'
req GET /healthz
expect "GET /healthz" 200 '^ok$'
req GET /v2/health/ready
expect "GET /v2/health/ready" 200 'ready'
req GET /v2/health/live
expect "GET /v2/health/live" 200 'live'
req GET /metadata
expect "GET /metadata" 200 '"outputs":\["setosa","versicolor","virginica"\]'
head -c 70000 /dev/zero | tr '\0' ' ' > "$work/big"
code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 --data-binary @"$work/big" "$url/predict")
body=$(cat "$work/body")
expect "a body over 64 KiB is 413" 413 'larger'

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "SIGTERM exits 0 (got $rc)" [ "$rc" = 0 ]
check "the log says why it stopped" grep -q 'SIGTERM received' "$work/log"
"$PYTHON" service.py --model /nonexistent/weights.bin --port 0 2> /dev/null
rc=$?
check "a missing model file fails to start (exit $rc)" [ "$rc" = 1 ]

echo "1..$n"
[ "$failed" = 0 ]
