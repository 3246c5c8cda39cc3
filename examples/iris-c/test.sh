#!/usr/bin/env bash
# test.sh - build iris-c, start it on a free loopback port, query it, stop it.
# TAP output; exit status 0 when every check passed.
#   SERVER=path/to/server bash test.sh   tests another build (e.g. with ASan)
set -u
cd "$(dirname "$0")"

if [ -z "${SERVER:-}" ]; then
	make -s bin/server || { echo "Bail out! make failed"; exit 1; }
	SERVER=./bin/server
fi
command -v curl >/dev/null || { echo "Bail out! curl is needed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/iris-c-test.XXXXXX")
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

# --port 0: the kernel picks a free port and the log line names it, so two
# runs at once never race for the same port.
: > "$work/log"	# exists before the server opens it: the loop below reads it at once
"$SERVER" --host 127.0.0.1 --port 0 --model models/iris/weights.bin 2> "$work/log" &
pid=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/log")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "Bail out! server did not start"; cat "$work/log"; exit 1
fi
echo "# server pid $pid on 127.0.0.1:$port"
url=http://127.0.0.1:$port

# req METHOD PATH [BODY] -> sets $code and $body
req() {
	local args=(-s -o "$work/body" -w '%{http_code}' -X "$1" --max-time 10)
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	code=$(curl "${args[@]}" "$url$2") || code=curl-failed
	body=$(tr -d '\000' < "$work/body" 2>/dev/null)
	# a NUL byte in a response is a server bug: fail the check that sees it
	if ! tr -d '\000' < "$work/body" | cmp -s - "$work/body"; then
		code="$code+NUL"
	fi
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
req POST /predict '{"instances": [[5.1,3.5,1.4,0.2],[7.0,3.2,4.7,1.4],[5.9,3.0,5.1,1.8]], "id": {"x": [1, "a\"b", null]}}'
expect "instances batch, unknown keys skipped" 200 '"predictions":\["setosa","versicolor","virginica"\],"probabilities":\[\['
# the probabilities of one instance sum to 1
req POST /predict '{"features":[5.9,3.0,5.1,1.8]}'
sum=$(printf '%s' "$body" | sed 's/.*"probabilities":\[\[\([^]]*\)\]\].*/\1/' | tr ',' '\n' |
	awk '{ s += $1 } END { printf "%.4f", s }')
check "probabilities sum to 1 ($sum)" [ "$sum" = "1.0000" ]

req POST /predict '{"features": [5.1, 3.5, 1.4'
expect "truncated JSON is 400" 400 '"error":"invalid request body'
req POST /predict 'not json'
expect "non-JSON body is 400" 400 '"error"'
req POST /predict '{"features": [5.1, 3.5, 1.4]}'
expect "three features is 400" 400 'expected 4 features'
req POST /predict '{"features": [5.1, 3.5, 1.4, "x"]}'
expect "a string feature is 400" 400 'numbers'
req POST /predict '{"features": [1e999, 3.5, 1.4, 0.2]}'
expect "an infinite feature is 400" 400 'out of range'
req POST /predict '{"features": [01, 3.5, 1.4, 0.2]}'
expect "a JSON-invalid number is 400" 400 '"error"'
req POST /predict '{"features": [5.1, 3.5, 1.4, 0.2]} x'
expect "trailing garbage is 400" 400 'trailing'
req POST /predict '{"instances": []}'
expect "no instances is 400" 400 'empty'
req POST /predict '{"other": 1}'
expect "missing features is 400" 400 'missing'
deep=$(printf '%0.s[' $(seq 1 200))
req POST /predict "{\"x\": $deep}"
expect "deep nesting is 400, not a crash" 400 'deeply'

req GET /predict
expect "GET /predict is 405" 405 'POST'
req POST /healthz '{}'
expect "POST /healthz is 405" 405 'not allowed'
req GET /nope
expect "unknown path is 404" 404 'not found'
req GET /healthz
expect "GET /healthz" 200 '^ok$'
req GET '/v2/health/live'
expect "GET /v2/health/live" 200 'live'
req GET '/v2/health/ready?verbose=1'
expect "GET /v2/health/ready (query string ignored)" 200 'ready'
req GET /metadata
expect "GET /metadata" 200 '"outputs":\["setosa","versicolor","virginica"\]'

# 64 KiB cap
head -c 70000 /dev/zero | tr '\0' ' ' > "$work/big"
code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
	--data-binary @"$work/big" "$url/predict")
body=$(cat "$work/body")
expect "a body over 64 KiB is 413" 413 'larger'
# a 60 KiB body of spaces around a valid request is under the cap and fine
{ head -c 60000 /dev/zero | tr '\0' ' '; printf '{"features":[5.1,3.5,1.4,0.2]}'; } > "$work/big"
code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 --data-binary @"$work/big" "$url/predict")
body=$(cat "$work/body")
expect "a 60 KiB body (100-continue, many reads) is served" 200 'setosa'

# raw RAW-REQUEST-PARTS... : each part written separately, 0.2 s apart
raw() {
	local part
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	for part in "$@"; do
		printf '%b' "$part" >&3
		sleep 0.2
	done
	timeout 10 cat <&3 > "$work/raw"
	exec 3<&-
	code=$(head -n 1 "$work/raw" | awk '{ print $2 }')
	body=$(sed '1,/^\r$/d' "$work/raw")
}
raw 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le' 'ngth: 34\r\n\r\n{"features": ' '[6.3, 3.3, 6.0, 2.5]}'
expect "a request split over several reads" 200 'virginica'
raw 'GARBAGE\r\n\r\n'
expect "a malformed request line is 400" 400 'request line'
raw 'GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n'
expect "a malformed header is 400" 400 'header'
raw 'GET /healthz HTTP/1.1\r\n\r\n'
expect "HTTP/1.1 without Host is 400" 400 'Host'
raw 'POST /predict HTTP/1.1\r\nHost: x\r\n\r\n'
expect "POST without Content-Length is 411" 411 'Content-Length'
raw 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n'
expect "a huge Content-Length is 413" 413 'larger'
# a client that stops sending (half-close) before the whole body arrived
code=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"features":[1,2,3,4]}')
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.split(b" ")[1].decode() if data else "none")
PY
)
body="(status $code)"
expect "a body shorter than Content-Length is 400" 400 'status'

# the server is still healthy after all that
req GET /healthz
expect "still serving after the bad requests" 200 '^ok$'

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "SIGTERM exits 0 (got $rc)" [ "$rc" = 0 ]
check "the log says why it stopped" grep -q 'SIGTERM received' "$work/log"

"$SERVER" --model /nonexistent/weights.bin --port 0 2> "$work/log2"
rc=$?
check "a missing model file fails to start (exit $rc)" [ "$rc" = 1 ]
printf 'IRISW001\4\0\0\0\3\0\0\0' > "$work/short.bin"
"$SERVER" --model "$work/short.bin" --port 0 2> "$work/log3"
rc=$?
check "a truncated weights file fails to start (exit $rc)" [ "$rc" = 1 ]
"$SERVER" --port 70000 2> /dev/null
rc=$?
check "an invalid --port is a usage error (exit $rc)" [ "$rc" = 2 ]

# The bento layout: run from src/, the model found at ../models/iris/ by default.
mkdir -p "$work/bento/src/bin" "$work/bento/models/iris"
cp "$SERVER" "$work/bento/src/bin/server"
cp models/iris/weights.bin "$work/bento/models/iris/"
: > "$work/log4"	# exists before the server opens it: the loop below reads it at once
(cd "$work/bento/src" && exec env -u MODEL_PATH ./bin/server --host 127.0.0.1 --port 0) 2> "$work/log4" &
pid=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/log4")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
url=http://127.0.0.1:$port
req POST /predict '{"features": [7.0, 3.2, 4.7, 1.4]}'
expect "in the bento layout the default model path works (versicolor)" 200 'versicolor'
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=
check "and SIGTERM exits 0 there too (got $rc)" [ "$rc" = 0 ]

echo "1..$n"
[ "$failed" = 0 ]
