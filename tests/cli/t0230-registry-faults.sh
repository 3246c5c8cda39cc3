#!/bin/bash
# Registry faults through tests/cli/fixtures/faultproxy.py in front of a
# real docker-registry: connections cut mid-upload and mid-download, a
# corrupted blob byte, 500s (a few: retried; many: exit 5), 429 with
# Retry-After, a manifest over 4 MiB, a missing tag, something that is not a
# bento, a registry that is not there, headers, a manifest and a blob
# trickled past their deadlines, a download that stalls (resumed).  Each
# refusal: the exact exit code, a clear message, the store unchanged; once
# the fault is gone a plain retry succeeds and what it pulled verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v skopeo > /dev/null ||
	! command -v curl > /dev/null; then
	echo "1..0 # SKIP docker-registry, skopeo or curl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"

registry_start f
proxy_start p "$REG_f_PORT"
R=127.0.0.1:$REG_f_PORT		# the registry itself
P=127.0.0.1:$PROXY_p_PORT	# the same registry through the fault proxy

sk() { timeout 60 skopeo inspect --raw --tls-verify=false "docker://$1"; }
sha() { echo "sha256:$(sha256sum "$1" | cut -c1-64)"; }
c() { timeout 60 curl -s --max-time 50 "$@"; }
OCTET="-HContent-Type:application/octet-stream"
# push_blob REPO FILE: a monolithic upload straight to the registry.
push_blob() {
	_loc=$(c -o /dev/null -D - -X POST "http://$R/v2/$1/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p') && [ -n "$_loc" ] || return 1
	case $_loc in /*) _loc=http://$R$_loc ;; esac
	test "$(c -o /dev/null -w '%{http_code}' -X PUT $OCTET --data-binary @"$2" \
		"$_loc&digest=$(sha "$2")")" = 201
}
# either_ok_or_5 CMD...: CMD exits 0, or 5 with the store unchanged (stdout >
# out, stderr > err; the exit status in $_rc); prints which.
either_ok_or_5() {
	_before=$(store_state)
	"$@" > out 2> err
	_rc=$?
	echo "exit $_rc"
	case $_rc in
	0) return 0 ;;
	5) test "$(store_state)" = "$_before" || { echo "the store changed"; cat err; return 1; }
	   grep -q . err ;;
	*) cat err; return 1 ;;
	esac
}
# pull_verifies REF DIGEST: pull REF straight from the registry into a new
# empty store, then verify --full; the digest is DIGEST.
pull_verifies() {
	BENTO_HOME=$TMP/check.$$.$RANDOM
	export BENTO_HOME
	bento pull "$1" -o json > pv.json 2> pv.err || { cat pv.err; return 1; }
	test "$(jget pv.json digest)" = "$2" &&
	bento verify --full "$(jget pv.json name):$(jget pv.json version)" > /dev/null 2>&1
}

# A manifest over 4 MiB: docker-registry 2.8 refuses to store or serve one
# ("request body too large", "storage: read exceeds limit"), so a stub
# registry serves it: /v2/ and GET /v2/huge/m/manifests/{big,DIGEST} (the
# tag with a Content-Length; the digest as HTTP/1.0, delimited by the
# close).  Bounded: exits after 900 s or when this shell is gone; stopped by
# PID at the end.
python3 -c "
import json
m = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
     'artifactType': 'application/vnd.bento.bundle.v1',
     'config': {'mediaType': 'application/vnd.oci.empty.v1+json',
                'digest': 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', 'size': 2},
     'layers': [], 'annotations': {'pad': 'x' * (5 << 20)}}
open('$TMP/huge.json', 'w').write(json.dumps(m))
"
cat > "$TMP/huge.py" <<'EOF'
import hashlib, http.server, os, sys, threading, time
body = open(sys.argv[1], "rb").read()
digest = "sha256:" + hashlib.sha256(body).hexdigest()
parent = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        elif self.path in ("/v2/huge/m/manifests/big", "/v2/huge/m/manifests/" + digest):
            by_digest = self.path.endswith(digest)
            if by_digest:
                self.protocol_version = "HTTP/1.0"
                self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Docker-Content-Digest", digest)
            if not by_digest:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass
        else:
            msg = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
def watchdog():
    t0 = time.time()
    while time.time() - t0 < 900:
        try:
            os.kill(parent, 0)
        except OSError:
            break
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watchdog, daemon=True).start()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
sys.stdout.close()
s.serve_forever()
EOF
python3 "$TMP/huge.py" "$TMP/huge.json" $$ > "$TMP/huge.port" 2> "$TMP/huge.log" &
HUGE_PID=$!
trap 'kill "$HUGE_PID" 2> /dev/null; _reg_cleanup' EXIT
trap 'kill "$HUGE_PID" 2> /dev/null; _reg_cleanup; trap - EXIT; exit 130' INT TERM HUP
for _ in $(seq 100); do [ -s "$TMP/huge.port" ] && break; sleep 0.1; done
HUGE=127.0.0.1:$(cat "$TMP/huge.port")

mkctx "$TMP/ctx" demo
mkctx "$TMP/bigctx" big
# 21 MiB: its own layer, uploaded in two PATCH chunks.
mkweights "$TMP/bigctx/models/emb/big.bin" $((21 * 1024 * 1024)) 9

test_expect_success 'setup: demo:1 and big:1 built; layer digests cached; both in the registry' '
	bento build ctx --version 1 -o json > d.json 2> /dev/null && jget d.json digest > demo.d &&
	bento build bigctx --version 1 -o json > b.json 2> /dev/null && jget b.json digest > big.d &&
	bento push big:1 "oci:$TMP/warm" > /dev/null 2>&1 &&
	bento push demo:1 "oci:$TMP/warm" > /dev/null 2>&1 &&
	bento push big:1 "$R/src/big" > /dev/null 2>&1 &&
	bento push demo:1 "$R/src/demo" > /dev/null 2>&1 &&
	sk "$R/src/big:1" > big.raw &&
	jget big.raw layers.2.digest > bigfile.layer &&
	jget big.raw layers.0.digest > code.layer &&
	python3 -c "
import json
m = json.load(open(\"big.raw\"))
assert [l[\"annotations\"][\"dev.bento.layer.role\"] for l in m[\"layers\"]] == [\"code\", \"model\", \"model-file\"], m
assert m[\"layers\"][2][\"size\"] > 21 * 1024 * 1024, m
"
'

test_expect_success 'an upload cut mid-layer every time: exit 5 naming the registry; a retry succeeds' '
	proxy_faults p --cut-after-bytes 3000000 --match "^(PATCH|PUT) /v2/[^ ]*/blobs/uploads/" &&
	either_ok_or_5 bento push big:1 "$P/cut/always" -o json &&
	if [ "$_rc" = 5 ]; then grep_q err "$P"; fi &&
	proxy_faults p &&
	bento push big:1 "$P/cut/always" -o json > ok.json 2> err &&
	test "$(jget ok.json layers)" = 3 &&
	pull_verifies "$R/cut/always:1" "$(cat big.d)"
'

test_expect_success 'an upload cut once mid-layer: resumed or retried, or exit 5; then a retry succeeds' '
	: a store that pushed nowhere yet, so nothing is mounted from the last test &&
	export BENTO_HOME=$TMP/up2 && bento pull "$R/src/big:1" > /dev/null 2>&1 &&
	bento push big:1 "oci:$TMP/warm2" > /dev/null 2>&1 &&
	proxy_faults p --cut-after-bytes 5000000 --times 1 --match "^PATCH /v2/[^ ]*/blobs/uploads/" &&
	either_ok_or_5 bento push big:1 "$P/cut/once" -o json &&
	if [ "$_rc" = 0 ]; then
		echo "recovered: $(jget out stats)" &&
		test "$(jget out stats.retries)" -ge 1 &&
		test "$(jget out stats.blobs_mounted)" = 0
	fi &&
	proxy_faults p &&
	bento push big:1 "$P/cut/once" > /dev/null 2> err &&
	pull_verifies "$R/cut/once:1" "$(cat big.d)" &&
	sk "$R/cut/once:1" | cmp - big.raw
'

test_expect_success 'a download cut once mid-layer: resumed, or exit 5 with the store unchanged' '
	export BENTO_HOME=$TMP/dl1 && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --cut-response-after-bytes 2000000 --times 1 --match "^GET /v2/[^ ]*/blobs/" &&
	either_ok_or_5 bento pull "$P/src/big:1" -o json &&
	if [ "$_rc" = 0 ]; then
		echo "recovered: $(jget out stats)" && test "$(jget out stats.retries)" -ge 1
	fi &&
	proxy_faults p &&
	bento pull "$P/src/big:1" > /dev/null 2> err &&
	test "$(list_digest big:1)" = "$(cat big.d)" &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_expect_success 'a download cut every time: exit 5 (or done by resuming), store unchanged; a retry succeeds' '
	export BENTO_HOME=$TMP/dl2 && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --cut-response-after-bytes 1000000 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	either_ok_or_5 bento pull "$P/src/big:1" &&
	if [ "$_rc" = 5 ]; then grep_q err "$P"; fi &&
	proxy_faults p &&
	bento pull "$P/src/big:1" > /dev/null 2> err &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_expect_success 'a corrupted byte in a layer blob: exit 3 "digest", store unchanged; a retry succeeds' '
	export BENTO_HOME=$TMP/cr && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --corrupt-response-byte 1000000 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	refused 3 bento pull "$P/src/big:1" &&
	grep -qi digest err &&
	! bento get big:1 > /dev/null 2>&1 &&
	proxy_faults p &&
	bento pull "$P/src/big:1" > /dev/null 2> err &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_expect_success 'a corrupted byte in a tar header of a layer: exit 3, store unchanged' '
	export BENTO_HOME=$TMP/cr2 && bento list > /dev/null &&
	proxy_faults p --corrupt-response-byte 700 --match "^GET /v2/[^ ]*/blobs/$(cat code.layer)" &&
	refused 3 bento pull "$P/src/big:1" &&
	proxy_faults p
'

test_expect_success 'a corrupted byte in the config (bento.json) blob: exit 3 "digest", store unchanged' '
	export BENTO_HOME=$TMP/cr3 && bento list > /dev/null &&
	proxy_faults p --corrupt-response-byte 10 --match "^GET /v2/[^ ]*/blobs/$(cat demo.d)" &&
	refused 3 bento pull "$P/src/demo:1" &&
	grep -qi digest err &&
	proxy_faults p &&
	bento pull "$P/src/demo:1" > /dev/null 2> err
'

test_expect_success 'a 500 answered twice on pull: retried, success' '
	export BENTO_HOME=$TMP/s500 && bento list > /dev/null &&
	proxy_faults p --status 500 --times 2 --match "^GET /v2/src/demo/manifests/" &&
	bento pull "$P/src/demo:1" -o json > out 2> err &&
	test "$(jget out stats.retries)" -ge 2 &&
	test "$(jget out digest)" = "$(cat demo.d)" &&
	proxy_faults p --status 500 --times 1 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	bento pull "$P/src/big:1" -o json > out 2> err &&
	test "$(jget out stats.retries)" -ge 1 &&
	bento verify --full big:1 > /dev/null 2>&1 &&
	proxy_faults p
'

test_expect_success 'a 500 answered once or twice on push (blob upload, manifest PUT): retried, success' '
	proxy_faults p --status 500 --times 2 --match "^PUT /v2/[^ ]*/manifests/" &&
	bento push demo:1 "$P/s500/demo" -o json > out 2> err &&
	test "$(jget out stats.retries)" -ge 2 &&
	# From a store with no push history (filled by a pull): nothing to mount, so blobs upload.
	export BENTO_HOME=$TMP/s503home && bento pull "$R/src/big:1" > /dev/null 2>&1 &&
	proxy_faults p --status 503 --times 1 --match "^PUT /v2/[^ ]*/blobs/uploads/" &&
	bento push big:1 "$P/s503/big" -o json > out 2> err &&
	test "$(jget out stats.blobs_mounted)" = 0 &&
	test "$(jget out stats.retries)" -ge 1 &&
	proxy_faults p &&
	pull_verifies "$R/s503/big:1" "$(cat big.d)"
'

test_expect_success 'a 500 that keeps coming on pull: exit 5 with the status in the message' '
	export BENTO_HOME=$TMP/s500b && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --status 500 --times 50 --match "^GET /v2/[^ ]*/manifests/" &&
	refused 5 bento pull "$P/src/big:1" &&
	grep_q err "500" && grep_q err "$P" &&
	proxy_faults p --status 500 --times 50 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	refused 5 bento pull "$P/src/big:1" &&
	grep_q err "500" &&
	proxy_faults p &&
	bento pull "$P/src/big:1" > /dev/null 2> err &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_expect_success 'a 500 that keeps coming on push: exit 5 with the status; a retry succeeds' '
	proxy_faults p --status 500 --times 50 --match "^(HEAD|POST|PUT|PATCH) /v2/" &&
	refused 5 bento push demo:1 "$P/s500/again" &&
	grep_q err "500" &&
	proxy_faults p &&
	bento push demo:1 "$P/s500/again" > /dev/null 2> err &&
	pull_verifies "$R/s500/again:1" "$(cat demo.d)"
'

test_expect_success '429 with Retry-After: 2 is honoured (the retry waits), then success' '
	export BENTO_HOME=$TMP/s429 && bento list > /dev/null &&
	proxy_faults p --status 429 --retry-after 2 --times 1 --match "^GET /v2/src/demo/manifests/" &&
	t0=$(date +%s%N) &&
	bento pull "$P/src/demo:1" -o json > out 2> err &&
	t1=$(date +%s%N) &&
	echo "took $(( (t1 - t0) / 1000000 )) ms" &&
	test $(( (t1 - t0) / 1000000 )) -ge 1900 &&
	proxy_faults p
'

test_expect_success 'a connection reset before any answer: retried, success' '
	export BENTO_HOME=$TMP/rst && bento list > /dev/null &&
	proxy_faults p --reset --times 2 --match "^GET /v2/src/demo/manifests/" &&
	bento pull "$P/src/demo:1" -o json > out 2> err &&
	test "$(jget out stats.retries)" -ge 2 &&
	proxy_faults p
'

test_expect_success 'docker-registry itself refuses a manifest over 4 MiB (hence the stub server)' '
	code=$(c -o put.out -w "%{http_code}" -X PUT \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary @"$TMP/huge.json" "http://$R/v2/huge/m/manifests/big") &&
	test "$code" = 400 && grep_q put.out "too large" &&
	c -f "http://$HUGE/v2/huge/m/manifests/big" | cmp - "$TMP/huge.json"
'

test_expect_success 'pull of a manifest over 4 MiB: exit 3 or 5 with "4 MiB", store unchanged' '
	export BENTO_HOME=$TMP/huge && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	refused "3|5" bento pull "$HUGE/huge/m:big" &&
	echo "exit $_rc" &&
	grep_q err "4 MiB" &&
	: by digest, the body without a Content-Length, until the connection closes &&
	refused "3|5" bento pull "$HUGE/huge/m@$(sha "$TMP/huge.json")" &&
	grep_q err "4 MiB"
'

test_expect_success 'a missing tag or repository: exit 4, store unchanged' '
	export BENTO_HOME=$TMP/nf && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	refused 4 bento pull "$R/src/demo:nosuchtag" &&
	grep_q err "nosuchtag" &&
	refused 4 bento pull "$R/no/such/repo:1" &&
	refused 4 bento pull "$R/src/demo@sha256:0000000000000000000000000000000000000000000000000000000000000000" &&
	refused 4 bento pull "$P/src/demo:nosuchtag"
'

test_expect_success 'setup: a plain container image (skopeo copy of an OCI layout) and a model' '
	python3 - <<-'EOF' &&
	import hashlib, io, json, os, tarfile
	d = "plain"
	os.makedirs(d + "/blobs/sha256")
	def blob(b):
	    h = hashlib.sha256(b).hexdigest()
	    open(d + "/blobs/sha256/" + h, "wb").write(b)
	    return {"digest": "sha256:" + h, "size": len(b)}
	t = io.BytesIO()
	with tarfile.open(fileobj=t, mode="w", format=tarfile.PAX_FORMAT) as tf:
	    i = tarfile.TarInfo("hello.txt"); data = b"hello\n"; i.size = len(data)
	    tf.addfile(i, io.BytesIO(data))
	layer = blob(t.getvalue())
	layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
	cfg = blob(json.dumps({"architecture": "amd64", "os": "linux",
	    "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}, "config": {}}).encode())
	cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
	man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
	    "config": cfg, "layers": [layer]}).encode()
	md = blob(man)
	md["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	md["annotations"] = {"org.opencontainers.image.ref.name": "1"}
	json.dump({"schemaVersion": 2, "manifests": [md]}, open(d + "/index.json", "w"))
	json.dump({"imageLayoutVersion": "1.0.0"}, open(d + "/oci-layout", "w"))
	EOF
	timeout 60 skopeo copy --dest-tls-verify=false oci:plain:1 "docker://$R/plain/img:1" > /dev/null &&
	sk "$R/plain/img:1" > plain.raw && test "$(jget plain.raw config.mediaType)" = application/vnd.oci.image.config.v1+json &&
	bento models import ctx/models/emb --name emb --version 1 > /dev/null 2>&1 &&
	bento models push emb:1 "$R/models/emb" > /dev/null 2>&1
'

test_expect_success 'pull of a plain image: a clear "not a bento" error (exit 1), store unchanged' '
	export BENTO_HOME=$TMP/nb && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	refused 1 bento pull "$R/plain/img:1" &&
	grep_q err "is not a bento" && grep_q err "$R/plain/img:1"
'

test_expect_success 'bento pull of a model, models pull of a bento: "not a bento (model)", exit 1' '
	export BENTO_HOME=$TMP/nb && bento list > /dev/null &&
	refused 1 bento pull "$R/models/emb:1" &&
	grep_q err "is not a bento" && grep_q err "application/vnd.bento.model.v1" &&
	refused 1 bento models pull "$R/src/demo:1" &&
	grep_q err "not a bento model"
'

test_expect_success 'a registry that is not there: exit 5 naming it, store unchanged, in bounded time' '
	port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])") &&
	export BENTO_HOME=$TMP/down && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	bento push demo:1 "oci:$TMP/warm-down" > /dev/null 2>&1 &&
	refused 5 timeout 60 "$BENTO" pull "127.0.0.1:$port/src/demo:1" &&
	grep_q err "127.0.0.1:$port" &&
	refused 5 timeout 60 "$BENTO" push demo:1 "127.0.0.1:$port/src/demo"
'

# ---- deadlines (bento-registry(5), TIMEOUTS), set small so that each
# ---- trickle is given up on in seconds; timeout(1) bounds the old behaviour.

test_expect_success 'the deadline knobs: a malformed value is a usage error (exit 2) naming it' '
	export BENTO_HOME=$TMP/knobs && bento list > /dev/null &&
	for v in abc 0 -1 1e10 nan 5s; do
		BENTO_REGISTRY_TIMEOUT=$v refused 2 bento pull "$R/src/demo:1" &&
		grep_q err "BENTO_REGISTRY_TIMEOUT: '\''$v'\'' is not a positive number" || return 1
	done &&
	BENTO_REGISTRY_STALL=x refused 2 bento pull "$R/src/demo:1" &&
	grep_q err BENTO_REGISTRY_STALL &&
	BENTO_REGISTRY_MIN_RATE=0 refused 2 bento pull "$R/src/demo:1" &&
	grep_q err BENTO_REGISTRY_MIN_RATE
'

test_expect_success 'response headers trickled at 2 bytes/s: exit 5 "GET manifest: timed out" at the deadline' '
	export BENTO_HOME=$TMP/slowhead && bento list > /dev/null &&
	proxy_faults p --trickle-headers 2 --match "^GET /v2/src/demo/manifests/" &&
	t0=$(date +%s) &&
	BENTO_REGISTRY_TIMEOUT=2 refused 5 timeout 60 "$BENTO" pull "$P/src/demo:1" &&
	t1=$(date +%s) && echo "took $((t1 - t0)) s" && test $((t1 - t0)) -lt 10 &&
	grep_q err "$P/src/demo: GET manifest: timed out: no complete answer within 2.0 s (BENTO_REGISTRY_TIMEOUT)" &&
	proxy_faults p
'

test_expect_success 'a manifest body trickled at 2 bytes/s: exit 5 at the deadline, store unchanged' '
	export BENTO_HOME=$TMP/slowman && bento list > /dev/null &&
	proxy_faults p --trickle-body 2 --match "^GET /v2/src/demo/manifests/" &&
	t0=$(date +%s) &&
	BENTO_REGISTRY_TIMEOUT=2 refused 5 timeout 60 "$BENTO" pull "$P/src/demo:1" &&
	t1=$(date +%s) && echo "took $((t1 - t0)) s" && test $((t1 - t0)) -lt 10 &&
	grep_q err "GET manifest: timed out" &&
	proxy_faults p
'

test_expect_success 'a blob trickled at 2 bytes/s: exit 5 naming the blob, its size and the deadline' '
	export BENTO_HOME=$TMP/slowblob && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --trickle-body 2 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	t0=$(date +%s) &&
	BENTO_REGISTRY_TIMEOUT=2 BENTO_REGISTRY_MIN_RATE=100000000 \
		refused 5 timeout 60 "$BENTO" pull "$P/src/big:1" &&
	t1=$(date +%s) && echo "took $((t1 - t0)) s" && test $((t1 - t0)) -lt 15 &&
	grep_q err "GET blob $(cat bigfile.layer): timed out: $(jget big.raw layers.2.size) bytes not done within 2.2 s" &&
	grep_q err "BENTO_REGISTRY_MIN_RATE 1e+08 bytes/s" &&
	proxy_faults p
'

test_expect_success 'the blob deadline scales with the size: the same trickle within a larger budget succeeds' '
	export BENTO_HOME=$TMP/slowok && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --trickle-body 4000000 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	BENTO_REGISTRY_TIMEOUT=2 BENTO_REGISTRY_MIN_RATE=1000000 \
		timeout 60 "$BENTO" pull "$P/src/big:1" -o json > out 2> err &&
	test "$(list_digest big:1)" = "$(cat big.d)" &&
	proxy_faults p
'

test_expect_success 'a blob download that stalls: resumed with Range after BENTO_REGISTRY_STALL, pull succeeds' '
	export BENTO_HOME=$TMP/stall && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	: > "$PROXY_p_RANGES" &&
	proxy_faults p --stall-response-after-bytes 3000000 --times 1 --match "^GET /v2/[^ ]*/blobs/$(cat bigfile.layer)" &&
	t0=$(date +%s) &&
	BENTO_REGISTRY_STALL=1 timeout 60 "$BENTO" pull "$P/src/big:1" -o json > out 2> err &&
	t1=$(date +%s) && echo "took $((t1 - t0)) s: $(jget out stats)" && test $((t1 - t0)) -lt 20 &&
	test "$(jget out stats.retries)" -ge 1 &&
	grep -E "^GET /v2/src/big/blobs/$(cat bigfile.layer) bytes=[1-9][0-9]*-" "$PROXY_p_RANGES" &&
	bento verify --full big:1 > /dev/null 2>&1 &&
	proxy_faults p
'

test_expect_success 'push: an upload answer trickled: exit 5 "POST blob upload: timed out"' '
	export BENTO_HOME=$TMP/slowpush && bento pull "$R/src/demo:1" > /dev/null 2>&1 &&
	proxy_faults p --trickle-headers 2 --match "^POST /v2/[^ ]*/blobs/uploads/" &&
	t0=$(date +%s) &&
	BENTO_REGISTRY_TIMEOUT=2 refused 5 timeout 60 "$BENTO" push demo:1 "$P/slow/push" &&
	t1=$(date +%s) && test $((t1 - t0)) -lt 10 &&
	grep_q err "POST blob upload: timed out" &&
	proxy_faults p
'

test_expect_success 'after all the faults: the stores are sound (fsck)' '
	for h in "$TMP/home" "$TMP/dl1" "$TMP/dl2" "$TMP/cr" "$TMP/cr2" "$TMP/s500b" "$TMP/nf" "$TMP/stall" \
		"$TMP/slowblob"; do
		BENTO_HOME=$h bento fsck > fsck.out 2>&1 || { echo "$h"; cat fsck.out; return 1; }
	done
'

test_done
