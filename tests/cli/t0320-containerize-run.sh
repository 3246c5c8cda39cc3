#!/bin/bash
# bento containerize, run for real: images made by bento containerize are
# unpacked with umoci and run with runc, with bento-shim as PID 1.  The
# iris-c example FROM scratch and on a busybox base answers predictions and
# the shim's probes and stops cleanly on SIGTERM; the user is never root; a
# flipped byte in the weights, a missing file, a broken bento.json and an
# untrusted signature keep the service from starting, each with its exit
# code and one line; orphans are reaped; exit statuses pass through (7,
# 128+N) and a service that ignores SIGTERM is killed after the grace period.
# The image layout and config are t0310's; the shim alone is t0300's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
for t in runc umoci curl python3 readelf nsenter; do
	if ! command -v $t > /dev/null; then
		echo "1..0 # SKIP $t missing (scripts/install-deps.sh)"
		exit 0
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP runc needs root"
	exit 0
fi
# The shim under test; an ASan build's shim is dynamic and cannot run FROM
# scratch, so the plain build's static one stands in for it there.
SHIM=$BUILD/bento-shim
if [ -x "$SHIM" ] && readelf -l "$SHIM" 2> /dev/null | grep -q INTERP; then
	SHIM=$SRC/build/bento-shim
fi
if ! [ -x "$SHIM" ] || readelf -l "$SHIM" 2> /dev/null | grep -q INTERP; then
	echo "1..0 # SKIP no static bento-shim (run make)"
	exit 0
fi
. "$(dirname "$0")/fixtures/runc.sh.inc"
export BENTO_KDF_FAST=1

K=$XDG_CONFIG_HOME/bento/keys
py() { python3 -c "$@"; }
ctrz() { bento containerize "$@" --shim "$SHIM"; }
# oci_manifest LAYOUT TAG: the manifest TAG names in the layout's index.json.
oci_manifest() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
d, tag = sys.argv[1], sys.argv[2]
hits = [m for m in json.load(open(d + "/index.json"))["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
if len(hits) != 1:
    sys.exit("oci_manifest: %d manifests tagged %s in %s" % (len(hits), tag, d))
sys.stdout.write(open(d + "/blobs/" + hits[0]["digest"].replace(":", "/")).read())
EOF
}
# Flip one bit in the middle of a file, in place: same size, other bytes.
flip() {
	py 'import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "r+b").write(b)' "$1"
}
# predict NAME: POST an iris flower to the service in container NAME (port
# 3000 of its own loopback); the answer must name its species.
predict() {
	in_ctr "$1" curl -sf --max-time 10 -H 'Content-Type: application/json' \
		-d '{"features":[5.1,3.5,1.4,0.2]}' "http://127.0.0.1:3000/predict" > pred.json &&
	py 'import json, sys; p = json.load(open("pred.json"))["predictions"]; assert p == ["setosa"], p'
}
# code NAME URL: the HTTP status of a GET inside container NAME's network
# namespace (000 when nothing answered).
code() { in_ctr "$1" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$2"; }
# one_line NAME: the container wrote exactly one line (the shim's refusal).
one_line() {
	test "$(wc -l < "$1.log")" = 1 || { echo "wanted one line from $1:"; cat "$1.log"; return 1; }
}

# Each container has its own network namespace: the services keep the
# image's port 3000 (so readiness comes from the image's ports), the shim's
# probes listen on 8081, the busybox httpd on 8080, none of them on the host.
H=8081
iris_edits() { printf '%s\n' -e BENTO_HEALTH_PORT=$H; }

test_expect_success 'setup: make iris-c, build it as iris-c:1' '
	make -s -C "$SRC/examples/iris-c" > out 2>&1 &&
	bento build "$SRC/examples/iris-c" --version 1 -o json > b.json 2> err &&
	jget b.json digest > iris.digest
'

# ---- 1. FROM scratch ----

test_expect_success 'containerize FROM scratch: -o json names the image and the bento' '
	ctrz iris-c:1 --base scratch --output "oci:$TMP/iris" -o json > c.json 2> err &&
	jget c.json image | grep -qE "^sha256:[0-9a-f]{64}\$" &&
	test "$(jget c.json output)" = "oci:$TMP/iris:1" &&
	test "$(jget c.json name)" = iris-c && test "$(jget c.json version)" = 1 &&
	test "$(jget c.json digest)" = "$(cat iris.digest)" &&
	oci_manifest "$TMP/iris" 1 > man.json &&
	test "sha256:$(sha256sum < man.json | cut -c1-64)" = "$(jget c.json image)"
'

test_expect_success 'umoci unpack: the shim as entrypoint, the service as its arguments, user 65532' '
	bundle_unpack "$TMP/iris:1" b1 &&
	jget b1/config.json "process.args.*" | tr "\n" " " > args &&
	test "$(cat args)" = "/usr/local/bin/bento-shim ./bin/server --port 3000 " &&
	test "$(jget b1/config.json process.cwd)" = /bento/src &&
	test "$(jget b1/config.json process.user.uid)" = 65532 &&
	test "$(jget b1/config.json process.user.gid)" = 65532 &&
	jget b1/config.json "process.env.*" > env &&
	grep -qx "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" env &&
	grep -qx PORT=3000 env &&
	test -x b1/rootfs/bento/src/bin/server && test -f b1/rootfs/bento/models/iris/weights.bin &&
	! test -e b1/rootfs/bin
'

test_expect_success 'runc run: the service answers a prediction on the container'"'"'s 127.0.0.1' '
	bundle_edit b1 $(iris_edits) &&
	ctr_start iris b1 &&
	wait_http iris "http://127.0.0.1:3000/healthz" &&
	predict iris
'

test_expect_success 'the shim answers its probes: /livez, /readyz, /v2/health/live, /v2/health/ready' '
	wait_http iris "http://127.0.0.1:$H/readyz" &&
	test "$(code iris "http://127.0.0.1:$H/readyz")" = 200 &&
	test "$(code iris "http://127.0.0.1:$H/livez")" = 200 &&
	test "$(code iris "http://127.0.0.1:$H/v2/health/live")" = 200 &&
	test "$(code iris "http://127.0.0.1:$H/v2/health/ready")" = 200
'

test_expect_success 'the shim (PID 1) and the service run as 65532, nothing else runs' '
	ctr_procs iris > procs && cat procs &&
	test "$(wc -l < procs)" = 2 &&
	test "$(sed -n 1p procs | cut -d" " -f3-)" = "65532 bento-shim" &&
	test "$(sed -n 2p procs | cut -d" " -f3-)" = "65532 server"
'

test_expect_success 'runc kill TERM: the service exits 0 on SIGTERM, so does the container; it is gone' '
	ctr_stop iris TERM && exits iris 0 &&
	ctr_gone iris &&
	grep_q iris.log "SIGTERM received, exiting"
'

# ---- 2. On a busybox base ----

test_expect_success 'setup: a busybox base image with a user app (1000)' '
	bash "$FIX/busybox-base.sh" "$TMP/base" 1 > out 2>&1 &&
	oci_manifest "$TMP/base" 1 > bman.json
'

test_expect_success 'containerize --base oci:: the base layers first, with their digests' '
	ctrz iris-c:1 --base "oci:$TMP/base:1" --output "oci:$TMP/ib" -o json > cb.json 2> err &&
	oci_manifest "$TMP/ib" 1 > ibman.json &&
	test "$(jget ibman.json layers.#len)" = $(( $(jget bman.json layers.#len) + $(jget man.json layers.#len) )) &&
	test "$(jget ibman.json layers.0.digest)" = "$(jget bman.json layers.0.digest)" &&
	test "$(jget ibman.json "layers.*.digest" | tail -n +2)" = "$(jget man.json "layers.*.digest")"
'

test_expect_success 'on the base: the service answers, as the base user app (1000)' '
	bundle_unpack "$TMP/ib:1" b2 $(iris_edits) &&
	test "$(jget b2/config.json process.user.uid)" = 1000 &&
	test -x b2/rootfs/bin/busybox &&
	ctr_start ib b2 &&
	wait_http ib "http://127.0.0.1:3000/healthz" &&
	predict ib &&
	wait_http ib "http://127.0.0.1:$H/v2/health/ready" &&
	test "$(ctr_exec ib /bin/busybox id -u)" = 1000 &&
	ctr_procs ib > procs && cat procs &&
	test "$(cut -d" " -f3- procs)" = "$(printf "1000 bento-shim\n1000 server")"
'

test_expect_success 'on the base: SIGTERM, exit 0, gone' '
	ctr_stop ib TERM && exits ib 0 && ctr_gone ib
'

# ---- 3. Files that are not what bento.json says ----

test_expect_success 'setup: a bundle with one byte of the weights flipped (same size)' '
	bundle_unpack "$TMP/iris:1" b3 $(iris_edits) &&
	w=b3/rootfs/bento/models/iris/weights.bin &&
	size=$(stat -c %s $w) && flip $w && test "$(stat -c %s $w)" = $size &&
	! cmp -s $w "$SRC/examples/iris-c/models/iris/weights.bin"
'

test_expect_success 'BENTO_VERIFY=full: exit 122, one line naming the file, the service never started' '
	bundle_edit b3 -e BENTO_VERIFY=full &&
	ctr_start full b3 &&
	exits full 122 &&
	one_line full && grep_q full.log models/iris/weights.bin &&
	! grep -q "listening on" full.log
'

test_expect_success 'the default size check does not read the weights: the service starts' '
	bundle_edit b3 -E BENTO_VERIFY &&
	ctr_start size b3 &&
	wait_http size "http://127.0.0.1:3000/healthz" &&
	ctr_stop size && exits size 0
'

test_expect_success 'a byte more: the size check refuses it (122)' '
	printf x >> b3/rootfs/bento/models/iris/weights.bin &&
	ctr_start grown b3 &&
	exits grown 122 &&
	one_line grown && grep_q grown.log models/iris/weights.bin &&
	! grep -q "listening on" grown.log
'

test_expect_success 'a file missing: 122, naming it' '
	bundle_unpack "$TMP/iris:1" b3m $(iris_edits) &&
	rm b3m/rootfs/bento/src/Makefile &&
	ctr_start missing b3m &&
	exits missing 122 &&
	one_line missing && grep_q missing.log Makefile
'

test_expect_success 'bento.json not JSON: 121' '
	bundle_unpack "$TMP/iris:1" b3j $(iris_edits) &&
	printf "{not json" > b3j/rootfs/bento/bento.json &&
	ctr_start badjson b3j &&
	exits badjson 121 &&
	one_line badjson && grep_q badjson.log bento.json
'

# ---- 4. Signatures ----

test_expect_success 'setup: keys k1 and k2; iris-c:2 signed with k1, in an image' '
	bento key generate --no-password --name k1 > out 2>&1 &&
	bento key generate --no-password --name k2 > out 2>&1 &&
	bento build "$SRC/examples/iris-c" --version 2 --sign=k1 -o json > s.json 2> err &&
	test "$(jget s.json signed)" = true &&
	ctrz iris-c:2 --output "oci:$TMP/iris" -o json > cs.json 2> err &&
	test "$(jget cs.json base)" = null &&
	bundle_unpack "$TMP/iris:2" b4 $(iris_edits) &&
	test -f "b4/rootfs/bento/signatures/$(id_of "$K/k1.pub").minisig"
'

test_expect_success 'BENTO_REQUIRE_SIGNATURE=1, the signer trusted (RW... line): it starts' '
	bundle_edit b4 -e BENTO_REQUIRE_SIGNATURE=1 -e "BENTO_TRUSTED_KEY=$(sed -n 2p "$K/k1.pub")" &&
	ctr_start signed b4 &&
	wait_http signed "http://127.0.0.1:3000/healthz" &&
	predict signed &&
	ctr_stop signed && exits signed 0
'

test_expect_success 'the trusted key as a .pub file in the image: it starts' '
	cp "$K/k1.pub" b4/rootfs/trusted.pub &&
	bundle_edit b4 -e BENTO_TRUSTED_KEY=/trusted.pub &&
	ctr_start signedfile b4 &&
	wait_http signedfile "http://127.0.0.1:3000/healthz" &&
	ctr_stop signedfile && exits signedfile 0
'

test_expect_success 'only another key trusted: 123, one line, the service never started' '
	bundle_edit b4 -e "BENTO_TRUSTED_KEY=$(sed -n 2p "$K/k2.pub")" &&
	ctr_start untrusted b4 &&
	exits untrusted 123 &&
	one_line untrusted && ! grep -q "listening on" untrusted.log &&
	grep -qi "signature\|trusted" untrusted.log
'

test_expect_success 'an unsigned bento with BENTO_REQUIRE_SIGNATURE=1: 123' '
	bundle_unpack "$TMP/iris:1" b4u $(iris_edits) -e BENTO_REQUIRE_SIGNATURE=1 \
		-e "BENTO_TRUSTED_KEY=$(sed -n 2p "$K/k1.pub")" &&
	ctr_start unsigned b4u &&
	exits unsigned 123 &&
	one_line unsigned && ! grep -q "listening on" unsigned.log
'

# ---- 5. Processes: orphans, exit statuses, the grace period ----

mkdir -p "$TMP/zctx"
cat > "$TMP/zctx/svc.sh" <<'EOF'
#!/bin/sh
# svc.sh [MODE]: a service that tests its supervisor.
case ${1:-orphan} in
orphan)
	# The inner sh exits at once; its child, reparented to PID 1 (the
	# shim), exits 0.2 s later and is a zombie until PID 1 reaps it.
	sh -c '(sleep 0.2; echo orphan gone) & exit 0'
	sleep 1
	echo checkpoint
	sleep 2
	exit 7 ;;
kill9)
	kill -9 $$ ;;
ignore-term)
	# SIGTERM ignored here and in the children; httpd keeps port $2 open.
	trap "" TERM
	httpd -f -p "127.0.0.1:$2" -h /tmp &
	echo ready
	while :; do sleep 1; done ;;
default-term)
	echo ready
	exec sleep 60 ;;
esac
EOF
chmod 755 "$TMP/zctx/svc.sh"
cat > "$TMP/zctx/bentofile.yaml" <<EOF
name: zombie
service: ["./svc.sh"]
image:
  base: oci:$TMP/base:1
  user: "4242:4242"
EOF

test_expect_success 'setup: a shell service whose image base and user come from its bentofile' '
	bento build zctx --version 1 > out 2> err &&
	ctrz zombie:1 --output "oci:$TMP/z" -o json > cz.json 2> err &&
	test "$(jget cz.json base.name)" = "oci:$TMP/base:1" &&
	oci_manifest "$TMP/z" 1 > zman.json &&
	test "$(jget zman.json layers.0.digest)" = "$(jget bman.json layers.0.digest)" &&
	bundle_unpack "$TMP/z:1" b5 -e BENTO_HEALTH_PORT=$H &&
	test "$(jget b5/config.json process.user.uid)" = 4242
'

test_expect_success 'an orphan is reaped while the service runs; the service exits 7, so does the container' '
	ctr_start orphan b5 &&
	wait_log orphan checkpoint &&
	ctr_procs orphan > procs && cat procs &&
	! grep " Z " procs &&
	test "$(sed -n 1p procs | cut -d" " -f3-)" = "4242 bento-shim" &&
	test "$(cut -d" " -f3 procs | sort -u)" = 4242 &&
	exits orphan 7 &&
	sed -n "/orphan gone/,\$p" orphan.log | grep -q checkpoint &&
	ctr_gone orphan
'

test_expect_success 'a service killed by signal 9: 137' '
	bundle_edit b5 -- /usr/local/bin/bento-shim ./svc.sh kill9 &&
	ctr_start kill9 b5 &&
	exits kill9 137
'

test_expect_success 'SIGTERM forwarded to a service that does not catch it: 143' '
	bundle_edit b5 -- /usr/local/bin/bento-shim ./svc.sh default-term &&
	ctr_start term b5 &&
	wait_log term ready &&
	ctr_stop term TERM && exits term 143
'

test_expect_success 'a service that ignores SIGTERM: live and ready while its port is open' '
	bundle_edit b5 -e BENTO_STOP_TIMEOUT=4 -e BENTO_SERVICE_PORT=8080 \
		-- /usr/local/bin/bento-shim ./svc.sh ignore-term 8080 &&
	ctr_start ignore b5 &&
	wait_log ignore ready &&
	wait_http ignore "http://127.0.0.1:$H/readyz" &&
	test "$(code ignore "http://127.0.0.1:$H/livez")" = 200
'

test_expect_success 'after SIGTERM: not ready (the port still open), still live; killed after BENTO_STOP_TIMEOUT: 137' '
	start=$(date +%s%N) &&
	ctr_stop ignore TERM &&
	sleep 0.5 && ! ctr_gone ignore &&
	test "$(code ignore "http://127.0.0.1:8080/")" != 000 &&
	test "$(code ignore "http://127.0.0.1:$H/readyz")" = 503 &&
	test "$(code ignore "http://127.0.0.1:$H/v2/health/ready")" = 503 &&
	test "$(code ignore "http://127.0.0.1:$H/livez")" = 200 &&
	exits ignore 137 10 &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) && echo "stopped after $ms ms" &&
	test $ms -ge 3900 && test $ms -lt 9000
'

test_expect_success 'no container and no process of this test is left' '
	test -z "$(runc_ list -q)" &&
	! ps -eo args | grep -F "$RUNC_PREFIX" | grep -v grep
'

test_done
