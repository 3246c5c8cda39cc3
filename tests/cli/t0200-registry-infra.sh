#!/bin/bash
# The registry test infrastructure itself, with curl only: scripts/registry.sh
# (a real docker-registry on 127.0.0.1, stopped by PID), htpasswd auth, the
# access log, and tests/cli/fixtures/faultproxy.py with each of its faults.
. "$(dirname "$0")/lib.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v curl > /dev/null; then
	echo "1..0 # SKIP docker-registry or curl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"
FIX=$SRC/tests/cli/fixtures

c() { timeout 30 curl -s --max-time 20 "$@"; }
# Without it curl says application/x-www-form-urlencoded, and the registry
# (Go's ParseForm) eats the body of a PUT looking for ?digest= there.
OCTET="-HContent-Type:application/octet-stream"
sha() { echo "sha256:$(sha256sum "$1" | cut -c1-64)"; }
mkblob() { head -c "$2" /dev/urandom > "$1"; }
# The Location of a response whose headers are in file $1.
location() { tr -d '\r' < "$1" | sed -n 's/^[Ll]ocation: //p' | tail -1; }
# start_upload PORT REPO: POST an upload, print its Location.
start_upload() {
	c -o /dev/null -D post.h -X POST "http://127.0.0.1:$1/v2/$2/blobs/uploads/" &&
		location post.h
}
# push_blob PORT REPO FILE: a monolithic upload (POST, PUT ?digest=); prints
# the PUT's status code.
push_blob() {
	_loc=$(start_upload "$1" "$2") && [ -n "$_loc" ] || return 1
	c -o /dev/null -w '%{http_code}' -X PUT $OCTET --data-binary @"$3" \
		"$_loc&digest=$(sha "$3")"
}
# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2> /dev/null | grep -q '^Z'
}
# gone PID: not alive within 5 s.
gone() {
	for _ in $(seq 50); do alive "$1" || return 0; sleep 0.1; done
	return 1
}

registry_start plain
registry_start auth --htpasswd alice:s3cr3t
proxy_start p "$REG_plain_PORT"

test_expect_success 'registry.sh start printed a port and the PID of a docker-registry' '
	test -n "$REG_plain_PORT" && test "$REG_plain_PORT" -gt 0 &&
	test "$(cat "$REG_plain_DIR/pid")" = "$REG_plain_PID" &&
	tr "\0" " " < /proc/$REG_plain_PID/cmdline > cmd &&
	grep_q cmd "docker-registry serve $REG_plain_DIR/config.yml" &&
	test "$REG_auth_PORT" != "$REG_plain_PORT"
'

test_expect_success 'GET /v2/ answers 200 with {}' '
	c -o body -w "%{http_code}" "http://127.0.0.1:$REG_plain_PORT/v2/" > code &&
	test "$(cat code)" = 200 && test "$(cat body)" = "{}"
'

test_expect_success 'the registry listens on 127.0.0.1 only, storage in its DIR' '
	ss -Hltn "sport = :$REG_plain_PORT" > ss.out &&
	test "$(wc -l < ss.out)" = 1 && grep_q ss.out "127.0.0.1:$REG_plain_PORT" &&
	grep_q "$REG_plain_DIR/config.yml" "addr: 127.0.0.1:$REG_plain_PORT" &&
	grep_q "$REG_plain_DIR/config.yml" "rootdirectory: $REG_plain_DIR/data"
'

test_expect_success 'a blob pushed directly with curl is stored and served' '
	mkblob b1 70000 &&
	test "$(push_blob "$REG_plain_PORT" lib/one b1)" = 201 &&
	c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/one/blobs/$(sha b1)" -o got &&
	cmp got b1 &&
	find "$REG_plain_DIR/data" -name data -path "*$(sha b1 | cut -c8-)*" | grep -q .
'

test_expect_success 'through the proxy: Location names the proxy, the push lands upstream' '
	mkblob b2 3000000 &&
	start_upload "$PROXY_p_PORT" lib/two > loc &&
	grep_q loc "http://127.0.0.1:$PROXY_p_PORT/v2/lib/two/blobs/uploads/" &&
	c -o /dev/null -w "%{http_code}" -X PUT $OCTET --data-binary @b2 \
		"$(cat loc)&digest=$(sha b2)" > code &&
	test "$(cat code)" = 201 &&
	c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/two/blobs/$(sha b2)" | cmp - b2 &&
	c -f "http://127.0.0.1:$PROXY_p_PORT/v2/lib/two/blobs/$(sha b2)" | cmp - b2 &&
	c -f -I "http://127.0.0.1:$PROXY_p_PORT/v2/lib/two/blobs/$(sha b2)" > head &&
	grep_q head "Content-Length: 3000000"
'

test_expect_success 'the proxy count file records each request as "METHOD TARGET"' '
	grep -qx "POST /v2/lib/two/blobs/uploads/" "$PROXY_p_COUNT" &&
	grep -q "^PUT /v2/lib/two/blobs/uploads/.*digest=$(sha b2)\$" "$PROXY_p_COUNT" &&
	test "$(count_requests "$PROXY_p_COUNT" "PUT|PATCH" "/v2/[^ ]*/blobs/uploads/")" = 1 &&
	test "$(count_requests "$PROXY_p_COUNT" HEAD "/v2/")" = 1 &&
	test "$(count_requests "$PROXY_p_COUNT" DELETE "/v2/")" = 0
'

test_expect_success 'the registry access log counts uploads, direct and proxied' '
	test "$(count_requests "$REG_plain_LOG" "PUT|PATCH" "/v2/[^ ]*/blobs/uploads/")" = 2 &&
	test "$(count_requests "$REG_plain_LOG" POST "/v2/lib/one/blobs/uploads/")" = 1 &&
	test "$(count_requests "$REG_plain_LOG" GET "/v2/\$")" -ge 2
'

test_expect_success 'a chunked PATCH through the proxy, then PUT ?digest=' '
	mkblob b3 200000 &&
	start_upload "$PROXY_p_PORT" lib/three > loc &&
	c -f -o /dev/null -D patch.h -X PATCH -H "Transfer-Encoding: chunked" \
		$OCTET --data-binary @b3 "$(cat loc)" &&
	grep -qi "^Range: 0-199999" patch.h &&
	c -f -o /dev/null -X PUT "$(location patch.h)&digest=$(sha b3)" &&
	c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/three/blobs/$(sha b3)" | cmp - b3
'

test_expect_success 'keep-alive: several requests on one client connection' '
	u="http://127.0.0.1:$PROXY_p_PORT/v2/lib/three/blobs/$(sha b3)" &&
	c -f -v "$u" -o k1 "$u" -o k2 "$u" -o k3 2> v.err &&
	cmp k1 b3 && cmp k2 b3 && cmp k3 b3 &&
	test "$(grep -c "Re-using existing connection" v.err)" = 2
'

test_expect_success '--status 500 --times 1: one OCI error, then the request passes' '
	proxy_faults p --status 500 --times 1 --match "^GET /v2/lib/one/blobs/" &&
	u="http://127.0.0.1:$PROXY_p_PORT/v2/lib/one/blobs/$(sha b1)" &&
	c -o e.json -w "%{http_code}" "$u" > code && test "$(cat code)" = 500 &&
	grep_q e.json "\"errors\":[{\"code\":\"UNKNOWN\"" &&
	c -f "$u" | cmp - b1 &&
	c -f "$u" | cmp - b1
'

test_expect_success '--status with a non-matching request passes it through' '
	proxy_faults p --status 500 --match "^PUT " &&
	c -f "http://127.0.0.1:$PROXY_p_PORT/v2/lib/one/blobs/$(sha b1)" | cmp - b1
'

test_expect_success '--status 429 --retry-after, and the request body is drained' '
	proxy_faults p --status 429 --retry-after 1 --times 1 --match "^PUT " &&
	mkblob b4 500000 &&
	start_upload "$PROXY_p_PORT" lib/four > loc &&
	u="$(cat loc)&digest=$(sha b4)" &&
	c -D h429 -o /dev/null -w "%{http_code}" -X PUT $OCTET --data-binary @b4 "$u" > code &&
	test "$(cat code)" = 429 && grep -qi "^Retry-After: 1" h429 &&
	c -f -o /dev/null -X PUT $OCTET --data-binary @b4 "$u" &&
	c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/four/blobs/$(sha b4)" | cmp - b4
'

test_expect_success 'a cut mid-upload fails curl; with the fault off a new upload works' '
	proxy_faults p --cut-after-bytes 100000 --match "^(PATCH|PUT) /v2/.*/blobs/uploads/" &&
	mkblob b5 1000000 &&
	start_upload "$PROXY_p_PORT" lib/five > loc &&
	{ c -o /dev/null -X PUT $OCTET --data-binary @b5 "$(cat loc)&digest=$(sha b5)"
	  rc=$?; } && echo "curl exit $rc" && case $rc in 52|55|56) ;; *) false ;; esac &&
	! c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/five/blobs/$(sha b5)" -o /dev/null &&
	proxy_faults p &&
	test "$(push_blob "$PROXY_p_PORT" lib/five b5)" = 201 &&
	c -f "http://127.0.0.1:$REG_plain_PORT/v2/lib/five/blobs/$(sha b5)" | cmp - b5
'

test_expect_success 'a cut fires only when the body is longer than N' '
	proxy_faults p --cut-after-bytes 100000 --match "^PUT " &&
	mkblob b6 1000 &&
	test "$(push_blob "$PROXY_p_PORT" lib/six b6)" = 201
'

test_expect_success 'a cut mid-download: curl exits 18 with the first N bytes' '
	proxy_faults p --cut-response-after-bytes 4096 --match "^GET /v2/.*/blobs/" &&
	u="http://127.0.0.1:$PROXY_p_PORT/v2/lib/two/blobs/$(sha b2)" &&
	{ c -o part "$u"; test $? = 18; } &&
	test "$(stat -c %s part)" = 4096 && cmp -n 4096 part b2 &&
	proxy_faults p &&
	c -f "$u" | cmp - b2
'

test_expect_success '--corrupt-response-byte flips exactly that byte' '
	proxy_faults p --corrupt-response-byte 70 --match "^GET /v2/.*/blobs/" &&
	c -f "http://127.0.0.1:$PROXY_p_PORT/v2/lib/one/blobs/$(sha b1)" -o bad &&
	test "$(stat -c %s bad)" = 70000 &&
	{ cmp -l bad b1 > diff.out || true; } && test "$(wc -l < diff.out)" = 1 &&
	test "$(awk "{print \$1}" diff.out)" = 71 &&
	test "$(sha bad)" != "$(sha b1)"
'

test_expect_success '--reset closes the connection without an answer' '
	proxy_faults p --reset --times 1 &&
	{ c "http://127.0.0.1:$PROXY_p_PORT/v2/"; test $? = 52; } &&
	c -f "http://127.0.0.1:$PROXY_p_PORT/v2/" > /dev/null
'

test_expect_success 'faults given on the command line, until a control file exists' '
	proxy_start q "$REG_plain_PORT" --status 503 --match "^GET /v2/\$" &&
	test "$(c -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PROXY_q_PORT/v2/")" = 503 &&
	test "$(c -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PROXY_q_PORT/v2/")" = 503 &&
	proxy_faults q &&
	test "$(c -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PROXY_q_PORT/v2/")" = 200 &&
	proxy_stop q
'

test_expect_success 'htpasswd: 401 with a Basic challenge without credentials' '
	c -D h -o /dev/null -w "%{http_code}" "http://127.0.0.1:$REG_auth_PORT/v2/" > code &&
	test "$(cat code)" = 401 &&
	grep -qi "^Www-Authenticate: Basic realm=\"bento-test\"" h &&
	grep -q "^alice:\\\$2[aby]\\\$" "$REG_auth_DIR/htpasswd"
'

test_expect_success 'htpasswd: 401 with a wrong password, 200 with the right one' '
	test "$(c -o /dev/null -w "%{http_code}" -u alice:wrong "http://127.0.0.1:$REG_auth_PORT/v2/")" = 401 &&
	test "$(c -o /dev/null -w "%{http_code}" -u alice:s3cr3t "http://127.0.0.1:$REG_auth_PORT/v2/")" = 200
'

test_expect_success 'htpasswd: the proxy passes credentials and challenges through' '
	proxy_start a "$REG_auth_PORT" &&
	test "$(c -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PROXY_a_PORT/v2/")" = 401 &&
	test "$(c -o /dev/null -w "%{http_code}" -u alice:s3cr3t "http://127.0.0.1:$PROXY_a_PORT/v2/")" = 200 &&
	proxy_stop a
'

test_expect_success 'the proxy exits when its parent does' '
	sh -c "python3 \"$FIX/faultproxy.py\" --upstream $REG_plain_PORT > /dev/null & echo \$! > orphan.pid; sleep 1" &&
	test -s orphan.pid && gone "$(cat orphan.pid)"
'

test_expect_success 'the proxy exits after --max-seconds' '
	{ python3 "$FIX/faultproxy.py" --upstream $REG_plain_PORT --max-seconds 0.5 > /dev/null & } &&
	pid=$! && alive "$pid" && gone "$pid"
'

test_expect_success 'a second start in a running DIR is refused' '
	! timeout 30 sh "$SRC/scripts/registry.sh" start "$REG_plain_DIR" 2> err &&
	grep_q err "already runs" &&
	alive "$REG_plain_PID"
'

test_expect_success 'stop kills it by PID and leaves no process behind' '
	registry_stop plain &&
	gone "$REG_plain_PID" &&
	! test -e "$REG_plain_DIR/pid" &&
	! pgrep -f "docker-registry serve $REG_plain_DIR/" &&
	test "$(c -o /dev/null -w "%{http_code}" "http://127.0.0.1:$REG_plain_PORT/v2/")" = 000
'

test_expect_success 'a restart on the same DIR serves the blobs pushed before' '
	out=$(timeout 30 sh "$SRC/scripts/registry.sh" start "$REG_plain_DIR") &&
	port=${out% *} &&
	c -f "http://127.0.0.1:$port/v2/lib/one/blobs/$(sha b1)" | cmp - b1 &&
	timeout 30 sh "$SRC/scripts/registry.sh" stop "$REG_plain_DIR" &&
	gone "${out#* }"
'

test_expect_success 'stopping a stopped registry is an error, not a hang' '
	! timeout 10 sh "$SRC/scripts/registry.sh" stop "$REG_plain_DIR"
'

test_done
