#!/bin/bash
# A hostile registry (tests/cli/fixtures/faultproxy.py rewriting what a real
# docker-registry answers): every URL it hands over - an upload session's
# Location after the POST, a PATCH or the status GET, a redirect, the Bearer
# realm - must be http or https, carry no user or password and not lead from
# https to plain http; credentials go only where bento-registry(5) says; the
# token request has a deadline.  Each refusal: exit 5, a message naming the
# registry and the refused URL, no file written, no connection made (a
# listening socket, fixtures/connlog.py, records any), the store unchanged.
# bento login gets the same rules.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v openssl > /dev/null; then
	echo "1..0 # SKIP docker-registry or openssl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"
unset DOCKER_CONFIG

registry_start r
proxy_start p "$REG_r_PORT"
listener_start l			# records connections, answers nothing
listener_start hold --hold		# accepts, never answers
listener_start tok --token tok123	# answers a token
R=127.0.0.1:$REG_r_PORT		# the registry itself
P=127.0.0.1:$PROXY_p_PORT	# the same registry, made hostile by the proxy
L=$LISTEN_l_PORT
CFG=$HOME/.docker/config.json
PASS=Zq9-s3cr3t-wX7pass
B64=$(printf 'alice:%s' "$PASS" | base64 -w0)

# An https registry needs a name bento does not count as loopback: the
# machine's own, when it resolves to 127.0.0.1.
if H=$(alias_host) && tls_cert "$TMP/tls" "$H"; then
	proxy_start s "$REG_r_PORT" --tls "$TMP/tls/cert.pem:$TMP/tls/key.pem"
	listener_start tokt --token tok456 --tls "$TMP/tls/cert.pem:$TMP/tls/key.pem"
	S=$H:$PROXY_s_PORT
else
	H=
fi
# test_skip NAME REASON: a TAP skip, counted, never a pass in disguise.
test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # SKIP $1: $2"
}

connects() { grep -c '^connect$' "$1" || true; }
# the proxy's faults for the next requests: a 401 with this Bearer challenge
challenge() {
	proxy_faults p --status 401 --www-authenticate "Bearer realm=\"$1\",service=\"reg\"" \
		--match "^GET /v2/"
}
# creds_for HOST: alice's password for HOST in config.json, as docker writes it
creds_for() {
	mkdir -p "$(dirname "$CFG")" &&
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$1" "$B64" > "$CFG"
}

mkctx "$TMP/ctx" demo
mkctx "$TMP/bigctx" big
# 21 MiB: its own layer, uploaded in two PATCH chunks.
mkweights "$TMP/bigctx/models/emb/big.bin" $((21 * 1024 * 1024)) 9

test_expect_success 'setup: demo:1 and big:1 built, layer digests cached, demo:1 in the registry' '
	bento build ctx --version 1 > /dev/null 2>&1 &&
	bento build bigctx --version 1 > /dev/null 2>&1 &&
	bento push demo:1 "oci:$TMP/warm" > /dev/null 2>&1 &&
	bento push big:1 "oci:$TMP/warm" > /dev/null 2>&1 &&
	bento push demo:1 "$R/src/demo" > /dev/null 2>&1
'

test_expect_success 'the fixtures work: the listener records a connection; an allowed Location is followed' '
	python3 -c "import socket, sys; socket.create_connection((\"127.0.0.1\", int(sys.argv[1]))).close()" "$L" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 1 &&
	: > "$LISTEN_l_LOG" &&
	: plain http to loopback, from a loopback registry: followed, so the fault fires &&
	proxy_faults p --location "http://127.0.0.1:$L/upload" --match "^POST /v2/[^ ]*/blobs/uploads/" &&
	refused 5 bento push demo:1 "$P/ok/follow" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" -ge 1 &&
	grep -q "^> PUT /upload?digest=sha256" "$LISTEN_l_LOG" &&
	: > "$LISTEN_l_LOG" && proxy_faults p
'

test_expect_success 'POST upload Location file://, gopher://, dict://, ftp://, user:password@: refused, exit 5' '
	for loc in "file://$TMP/pwned" "gopher://127.0.0.1:$L/_x" "dict://127.0.0.1:$L/x" \
		"ftp://127.0.0.1:$L/x" "http://alice:secret@127.0.0.1:$L/x" "//alice@127.0.0.1:$L/x"; do
		proxy_faults p --location "$loc" --match "^POST /v2/[^ ]*/blobs/uploads/" &&
		refused 5 bento push demo:1 "$P/h/post" &&
		grep_q err "$P/h/post: POST blob upload: refused Location '\''$loc'\''" || return 1
	done &&
	grep -q "not http or https" err || grep -q "user name or password" err &&
	test ! -e "$TMP/pwned" && test ! -e pwned &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	proxy_faults p
'

test_expect_success 'PATCH Location file:// (a chunked upload): refused, nothing written, exit 5' '
	proxy_faults p --location "file://$TMP/pwned2" --match "^PATCH /v2/[^ ]*/blobs/uploads/" &&
	refused 5 bento push big:1 "$P/h/patch" &&
	grep_q err "PATCH blob upload: refused Location '\''file://$TMP/pwned2'\'': not http or https" &&
	test ! -e "$TMP/pwned2" && grep -q "^PATCH " "$PROXY_p_COUNT" &&
	proxy_faults p
'

test_expect_success 'the upload status GET (after a failed PATCH) with Location gopher://: refused, no connection' '
	: the first PATCH gets a 503, so bento asks the session how much it has &&
	proxy_faults p --status 503 --times 1 --location "gopher://127.0.0.1:$L/_x" \
		--match "^(PATCH|GET) /v2/[^ ]*/blobs/uploads/" &&
	refused 5 bento push big:1 "$P/h/status" &&
	grep_q err "GET upload status: refused Location '\''gopher://127.0.0.1:$L/_x'\''" &&
	grep -q "^GET /v2/h/status/blobs/uploads/" "$PROXY_p_COUNT" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	proxy_faults p
'

test_expect_success 'a redirect to file://, ftp://, dict:// or user:password@ on pull: refused, exit 5' '
	export BENTO_HOME=$TMP/redir && bento list > /dev/null &&
	for loc in "file://$TMP/pwned3" "ftp://127.0.0.1:$L/x" "dict://127.0.0.1:$L/x" \
		"http://alice:secret@127.0.0.1:$L/x"; do
		proxy_faults p --status 307 --location "$loc" --match "^GET /v2/src/demo/manifests/" &&
		refused 5 bento pull "$P/src/demo:1" &&
		grep_q err "$P/src/demo: GET manifest: refused redirect to '\''$loc'\''" || return 1
	done &&
	test ! -e "$TMP/pwned3" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	proxy_faults p && bento pull "$P/src/demo:1" > /dev/null 2>&1
'

if [ -n "$H" ]; then
test_expect_success 'an https registry (--insecure): push and pull work, its own https Locations followed' '
	bento push demo:1 "$S/tls/demo" --insecure > out 2> err &&
	grep_q out "pushed demo:1 to $S/tls/demo:1" &&
	export BENTO_HOME=$TMP/tlspull && bento list > /dev/null &&
	bento pull "$S/tls/demo:1" --insecure > /dev/null 2> err &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_expect_success 'https -> plain http: an upload Location or a redirect to http://NAME is refused' '
	proxy_faults s --status 202 --location "http://$H:$L/x" --match "^POST /v2/[^ ]*/blobs/uploads/" &&
	refused 5 bento push demo:1 "$S/tls/down" --insecure &&
	grep_q err "refused Location '\''http://$H:$L/x'\'': it leads from https to plain http" &&
	export BENTO_HOME=$TMP/tlsdown && bento list > /dev/null &&
	proxy_faults s --status 307 --location "http://$H:$L/blob" --match "^GET /v2/[^ ]*/blobs/" &&
	refused 5 bento pull "$S/tls/demo:1" --insecure &&
	grep_q err "refused redirect to '\''http://$H:$L/blob'\'': it leads from https to plain http" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	proxy_faults s
'

test_expect_success 'https -> plain http to a loopback host is allowed (and then fails here)' '
	export BENTO_HOME=$TMP/tlsloop && bento list > /dev/null &&
	proxy_faults s --status 307 --location "http://127.0.0.1:$L/blob" --match "^GET /v2/[^ ]*/blobs/" &&
	refused 5 bento pull "$S/tls/demo:1" --insecure &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" -ge 1 &&
	grep -q "^> GET /blob" "$LISTEN_l_LOG" && ! grep -qi "^> Authorization" "$LISTEN_l_LOG" &&
	: > "$LISTEN_l_LOG" && proxy_faults s
'
else
	for n in 1 2 3; do test_skip "https registry test $n" "no host name other than localhost resolves to 127.0.0.1"; done
fi

test_expect_success 'a file:// Bearer realm is not read, and not shown: exit 5' '
	export BENTO_HOME=$TMP/realm && bento list > /dev/null &&
	echo TOPSECRET-file-content > "$TMP/secret" &&
	challenge "file://$TMP/secret" &&
	refused 5 bento pull "$P/src/demo:1" &&
	grep_q err "$P/src/demo: GET manifest: refused Bearer realm '\''file://$TMP/secret'\'': not http or https" &&
	! grep -q TOPSECRET err out &&
	proxy_faults p
'

test_expect_success 'gopher:// and dict:// Bearer realms: refused, nothing sent to the port' '
	for realm in "gopher://127.0.0.1:$L/_SET%20x" "dict://127.0.0.1:$L/d:x" "ftp://127.0.0.1:$L/t"; do
		challenge "$realm" &&
		refused 5 bento pull "$P/src/demo:1" &&
		grep_q err "refused Bearer realm '\''$realm'\''" || return 1
	done &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	proxy_faults p
'

if [ -n "$H" ]; then
test_expect_success 'credentials are not sent to a plain http realm on another host: exit 5, no connection' '
	creds_for "$P" &&
	challenge "http://$H:$L/token" &&
	refused 5 bento pull "$P/src/demo:1" &&
	grep_q err "the credentials for $P are not sent to the Bearer realm '\''http://$H:$L/token'\'' over plain http" &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 &&
	: without credentials the realm is asked, anonymously &&
	rm -f "$CFG" &&
	refused 5 bento pull "$P/src/demo:1" &&
	sleep 0.3 && grep -q "^> GET /token?service=reg&scope=repository%3Asrc%2Fdemo%3Apull" "$LISTEN_l_LOG" &&
	! grep -qi "^> Authorization" "$LISTEN_l_LOG" &&
	: > "$LISTEN_l_LOG" && proxy_faults p
'

test_expect_success 'an https realm on another host gets the credentials, as docker sends them' '
	creds_for "$P" &&
	proxy_faults p --status 401 --match "^GET /v2/" \
		--www-authenticate "Bearer realm=\"https://$H:$LISTEN_tokt_PORT/token\",service=\"reg\"" &&
	refused 5 bento pull "$P/src/demo:1" --insecure &&
	grep_q "$LISTEN_tokt_LOG" "> Authorization: Basic $B64" &&
	grep_q err "authentication failed" &&
	rm -f "$CFG" && proxy_faults p
'
else
	for n in 1 2; do test_skip "realm on another host $n" "no host name other than localhost resolves to 127.0.0.1"; done
fi

test_expect_success 'a plain http realm on a loopback host gets the credentials' '
	creds_for "$P" &&
	challenge "http://127.0.0.1:$LISTEN_tok_PORT/token" &&
	refused 5 bento pull "$P/src/demo:1" &&
	grep_q "$LISTEN_tok_LOG" "> Authorization: Basic $B64" &&
	grep_q err "authentication failed" && ! grep -qF -- "$PASS" err &&
	rm -f "$CFG" && proxy_faults p
'

test_expect_success 'a realm that never answers: exit 5 "token: timed out" within the deadline' '
	challenge "http://127.0.0.1:$LISTEN_hold_PORT/token" &&
	export BENTO_REGISTRY_TIMEOUT=2 &&
	t0=$(date +%s) &&
	refused 5 timeout 60 "$BENTO" pull "$P/src/demo:1" &&
	t1=$(date +%s) && echo "took $((t1 - t0)) s" && test $((t1 - t0)) -lt 10 &&
	grep_q err "$P/src/demo: token: timed out: no complete answer within 2.0 s" &&
	grep -q "^connect$" "$LISTEN_hold_LOG" &&
	proxy_faults p
'

test_expect_success 'bento login: a file:// realm is refused, config.json not written, exit 5' '
	rm -f "$CFG" &&
	challenge "file://$TMP/secret" &&
	refused 5 sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $P -u alice --password-stdin" &&
	grep_q err "refused Bearer realm '\''file://$TMP/secret'\''" &&
	! grep -q TOPSECRET err out && test ! -e "$CFG" &&
	proxy_faults p
'

test_expect_success 'bento login: gopher:// realm, no connection; plain http realm elsewhere, no credentials sent' '
	challenge "gopher://127.0.0.1:$L/_x" &&
	refused 5 sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $P -u alice --password-stdin" &&
	grep_q err "refused Bearer realm" &&
	if [ -n "$H" ]; then
		challenge "http://$H:$L/token" &&
		refused 5 sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $P -u alice --password-stdin" &&
		grep_q err "are not sent to the Bearer realm"
	fi &&
	sleep 0.3 && test "$(connects "$LISTEN_l_LOG")" = 0 && test ! -e "$CFG" &&
	proxy_faults p
'

test_expect_success 'bento login: a realm that never answers times out (exit 5), config.json not written' '
	challenge "http://127.0.0.1:$LISTEN_hold_PORT/token" &&
	t0=$(date +%s) &&
	refused 5 sh -c "printf %s \"$PASS\" | BENTO_REGISTRY_TIMEOUT=2 timeout 60 \"$BENTO\" login $P -u alice --password-stdin" &&
	t1=$(date +%s) && test $((t1 - t0)) -lt 10 &&
	grep_q err "token: timed out" && test ! -e "$CFG" &&
	proxy_faults p
'

test_expect_success 'after the hostile answers: a clean push and pull through the proxy work' '
	proxy_faults p &&
	bento push big:1 "$P/clean/big" > /dev/null 2> err &&
	export BENTO_HOME=$TMP/clean && bento list > /dev/null &&
	bento pull "$P/clean/big:1" > /dev/null 2> err &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_done
