#!/bin/bash
# bento push / pull against a real docker-registry on 127.0.0.1: the
# manifest skopeo sees, pull into an empty store (by tag and by digest),
# no re-upload of what the registry has, shared model layers, cross-repo
# mounts, signatures and provenance as referrers (tag-schema fallback),
# models push/pull, history events, usage errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v skopeo > /dev/null ||
	! command -v curl > /dev/null; then
	echo "1..0 # SKIP docker-registry, skopeo or curl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"
export BENTO_KDF_FAST=1

registry_start r
H=127.0.0.1:$REG_r_PORT
K=$XDG_CONFIG_HOME/bento/keys

# sk REF: skopeo inspect --raw of docker://REF (plain HTTP).
sk() { timeout 60 skopeo inspect --raw --tls-verify=false "docker://$1"; }
# uploads [REPO_REGEX]: blob upload requests (PUT/PATCH) in the registry log.
uploads() { count_requests "$REG_r_LOG" 'PUT|PATCH' "/v2/${1:-[^ ]*}/blobs/uploads/"; }
# sha FILE: "sha256:<hex>" of a file's bytes.
sha() { echo "sha256:$(sha256sum "$1" | cut -c1-64)"; }
py() { python3 -c "$@"; }

mkctx "$TMP/ctx" demo
# A context with a 17 MiB model file: that file gets its own layer.
mkctx "$TMP/bigctx" big
mkweights "$TMP/bigctx/models/emb/big.bin" $((17 * 1024 * 1024)) 7

test_expect_success 'setup: build demo:1' '
	bento build ctx --version 1 -o json > b.json &&
	jget b.json digest > demo.digest
'

# A short name reads from Docker Hub; nothing is ever written there unasked.
for target in team/demo demo demo:1; do
	test_expect_code 2 "push to the short name $target is refused, showing the command with a host" "
		bento push demo:1 $target 2> err ||  { rc=\$?; grep_q err 'bento push demo:1 docker.io/$target (or bento push demo:1 HOST/$target' && grep_q err '$target: no registry host' && exit \$rc; }
	"
done
test_expect_code 2 'models push to a short name is refused the same way' '
	bento models push emb team/emb 2> err || { rc=$?; grep_q err "bento models push emb docker.io/team/emb" && exit $rc; }
'

test_expect_success 'push -o json names the target, the manifest and what was uploaded' '
	bento push demo:1 "$H/team/demo" -o json > push1.json 2> err &&
	test "$(jget push1.json target)" = "$H/team/demo:1" &&
	test "$(jget push1.json digest)" = "$(cat demo.digest)" &&
	test "$(jget push1.json name)" = demo && test "$(jget push1.json version)" = 1 &&
	jget push1.json manifest > man.digest &&
	grep -qE "^sha256:[0-9a-f]{64}\$" man.digest &&
	test "$(jget push1.json layers)" = 2 &&
	test "$(jget push1.json stats.blobs_uploaded)" -ge 3 &&
	test "$(jget push1.json stats.bytes_uploaded)" -gt 70000 &&
	test "$(jget push1.json stats.blobs_skipped)" = 0
'

test_expect_success 'skopeo inspect --raw shows the bento artifact manifest' '
	sk "$H/team/demo:1" > raw.json &&
	test "$(sha raw.json)" = "$(cat man.digest)" &&
	test "$(jget raw.json mediaType)" = application/vnd.oci.image.manifest.v1+json &&
	test "$(jget raw.json schemaVersion)" = 2 &&
	test "$(jget raw.json artifactType)" = application/vnd.bento.bundle.v1 &&
	test "$(jget raw.json config.mediaType)" = application/vnd.bento.manifest.v1+json &&
	test "$(jget raw.json config.digest)" = "$(cat demo.digest)" &&
	py "
import json, sys
m = json.load(open(\"raw.json\"))
titles = [l[\"annotations\"][\"org.opencontainers.image.title\"] for l in m[\"layers\"]]
assert titles == [\"code\", \"models/emb\"], titles
for l in m[\"layers\"]:
    assert l[\"mediaType\"] == \"application/vnd.oci.image.layer.v1.tar\", l
    assert \"dev.bento.layer.role\" in l[\"annotations\"], l
" &&
	sk "$H/team/demo@$(cat man.digest)" | cmp - raw.json
'

test_expect_success 'the config blob is the canonical bento.json, the layers are tars rooted at bento/' '
	curl -sf "http://$H/v2/team/demo/blobs/$(cat demo.digest)" -o cfg.json &&
	test "$(sha cfg.json)" = "$(cat demo.digest)" &&
	bento get demo:1 -o json > get.json && test "$(jget cfg.json name)" = demo &&
	for l in $(jget raw.json layers.*.digest); do
		curl -sf "http://$H/v2/team/demo/blobs/$l" -o layer.tar &&
		test "$(sha layer.tar)" = "$l" &&
		tar -tf layer.tar > names && test -s names &&
		! grep -v "^bento/" names || return 1
	done
'

test_expect_success 'the text output: pushed NAME:VERSION to TARGET, then the manifest digest' '
	bento push demo:1 "$H/team/demo" > out 2> err &&
	grep_q out "pushed demo:1 to $H/team/demo:1" &&
	sed -n 2p out | grep -qx "$(cat man.digest)" &&
	grep_q err "2 layers"
'

test_expect_success 'pull into an empty BENTO_HOME: same digest, verify --full passes' '
	export BENTO_HOME=$TMP/p1 &&
	bento pull "$H/team/demo:1" -o json > pull.json 2> err &&
	test "$(jget pull.json digest)" = "$(cat demo.digest)" &&
	test "$(jget pull.json manifest)" = "$(cat man.digest)" &&
	test "$(jget pull.json name)" = demo && test "$(jget pull.json version)" = 1 &&
	test "$(jget pull.json existed)" = false &&
	test "$(jget pull.json layers)" = 2 && test "$(jget pull.json layers_skipped)" = 0 &&
	test "$(jget pull.json stats.blobs_downloaded)" -ge 3 &&
	test "$(list_digest demo:1)" = "$(cat demo.digest)" &&
	bento verify --full demo:1 > v.out 2>&1 &&
	grep_q v.out "all 9 files match" &&
	bento fsck > /dev/null 2>&1
'

test_expect_success 'the pulled bento exports to the same archive as the original' '
	bento export demo:1 a.bento --compression none > /dev/null &&
	BENTO_HOME=$TMP/p1 bento export demo:1 b.bento --compression none > /dev/null &&
	cmp a.bento b.bento
'

test_expect_success 'pull by @digest into another empty store' '
	export BENTO_HOME=$TMP/p2 &&
	bento pull "$H/team/demo@$(cat man.digest)" -o json > pd.json 2> err &&
	test "$(jget pd.json digest)" = "$(cat demo.digest)" &&
	test "$(jget pd.json manifest)" = "$(cat man.digest)" &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_expect_success 'a second pull of what the store has: existed, no layer downloaded' '
	export BENTO_HOME=$TMP/p1 &&
	bento pull "$H/team/demo:1" -o json > again.json 2> err &&
	test "$(jget again.json existed)" = true &&
	test "$(jget again.json layers_skipped)" = 2 &&
	test "$(jget again.json digest)" = "$(cat demo.digest)"
'

test_expect_success 'a second push of an unchanged bento uploads no blob' '
	before=$(uploads) && test "$before" -gt 0 &&
	bento push demo:1 "$H/team/demo" -o json > push2.json 2> err &&
	after=$(uploads) &&
	echo "uploads before $before after $after" &&
	test "$after" = "$before" &&
	test "$(jget push2.json stats.blobs_uploaded)" = 0 &&
	test "$(jget push2.json stats.bytes_uploaded)" = 0 &&
	test "$(jget push2.json stats.blobs_skipped)" -ge 3 &&
	test "$(jget push2.json manifest)" = "$(cat man.digest)"
'

test_expect_success 'setup: big:1 and big:2 share the model emb with a 17 MiB file' '
	bento build bigctx --version 1 -o json > big1.json &&
	printf "# v2\n" >> bigctx/service.py &&
	bento build bigctx --version 2 -o json > big2.json &&
	test "$(jget big1.json digest)" != "$(jget big2.json digest)"
'

test_expect_success 'big:1: the 17 MiB file has its own layer, uploaded in chunks' '
	patch0=$(count_requests "$REG_r_LOG" PATCH "/v2/team/big/blobs/uploads/") &&
	bento push big:1 "$H/team/big" -o json > bp1.json 2> err &&
	test "$(jget bp1.json layers)" = 3 &&
	sk "$H/team/big:1" > big1.raw &&
	py "
import json
m = json.load(open(\"big1.raw\"))
roles = [(l[\"annotations\"][\"dev.bento.layer.role\"], l[\"annotations\"][\"org.opencontainers.image.title\"]) for l in m[\"layers\"]]
assert roles == [(\"code\", \"code\"), (\"model\", \"models/emb\"), (\"model-file\", \"models/emb/big.bin\")], roles
assert m[\"layers\"][2][\"size\"] > 17 * 1024 * 1024
open(\"bigfile.digest\", \"w\").write(m[\"layers\"][2][\"digest\"] + \"\\n\")
open(\"bigmodel.digest\", \"w\").write(m[\"layers\"][1][\"digest\"] + \"\\n\")
" &&
	test "$(count_requests "$REG_r_LOG" PATCH "/v2/team/big/blobs/uploads/")" -gt "$patch0"
'

# put_of DIGEST_FILE: upload PUTs (to any repository) that completed that digest.
put_of() { count_requests "$REG_r_LOG" PUT "/v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256(%3A|:)$(cut -c8- "$1")"; }

test_expect_success 'big:2 uploads only its new layers, not the shared model ones' '
	before=$(uploads team/big) &&
	patch0=$(count_requests "$REG_r_LOG" PATCH "/v2/team/big/blobs/uploads/") &&
	test "$(put_of bigfile.digest)" = 1 &&
	put_model=$(put_of bigmodel.digest) &&
	bento push big:2 "$H/team/big" -o json > bp2.json 2> err &&
	sk "$H/team/big:2" > big2.raw &&
	test "$(jget big2.raw layers.2.digest)" = "$(cat bigfile.digest)" &&
	test "$(jget big2.raw layers.1.digest)" = "$(cat bigmodel.digest)" &&
	test "$(jget big2.raw layers.0.digest)" != "$(jget big1.raw layers.0.digest)" &&
	test "$(jget bp2.json stats.blobs_skipped)" -ge 2 &&
	test "$(jget bp2.json stats.bytes_uploaded)" -lt 1048576 &&
	test "$(count_requests "$REG_r_LOG" PATCH "/v2/team/big/blobs/uploads/")" = "$patch0" &&
	test "$(put_of bigfile.digest)" = 1 &&
	test "$(put_of bigmodel.digest)" = "$put_model" &&
	after=$(uploads team/big) &&
	echo "uploads to team/big: $before -> $after; stats: $(jget bp2.json stats)" &&
	test "$((after - before))" = "$(jget bp2.json stats.blobs_uploaded)"
'

test_expect_success 'pull big:2 into a store that has big:1 skips the shared layers' '
	export BENTO_HOME=$TMP/pb &&
	bento pull "$H/team/big:1" > /dev/null 2>&1 &&
	bento pull "$H/team/big:2" -o json > pb2.json 2> err &&
	test "$(jget pb2.json layers_skipped)" = 2 &&
	test "$(jget pb2.json stats.bytes_downloaded)" -lt 1048576 &&
	test "$(jget pb2.json digest)" = "$(jget big2.json digest)" &&
	bento verify --full big:2 > /dev/null 2>&1 &&
	bento verify --full big:1 > /dev/null 2>&1
'

test_expect_success 'the same bento to another repository of the registry: blobs mounted' '
	before=$(uploads team/mnt) &&
	bento push big:1 "$H/team/mnt" -o json > m1.json 2> err &&
	echo "stats: $(jget m1.json stats)" &&
	test "$(jget m1.json stats.blobs_mounted)" -gt 0 &&
	test "$(jget m1.json stats.blobs_uploaded)" = 0 &&
	test "$(uploads team/mnt)" = "$before" &&
	test "$(count_requests "$REG_r_LOG" POST "/v2/team/mnt/blobs/uploads/\\?mount=")" -gt 0 &&
	sk "$H/team/mnt:1" | cmp - big1.raw
'

test_expect_success 'mounting does not depend on which repository was pushed to last' '
	bento push big:2 "$H/team/other" > /dev/null 2>&1 &&
	before=$(uploads team/demo2) &&
	bento push demo:1 "$H/team/demo2" -o json > m2.json 2> err &&
	echo "stats: $(jget m2.json stats)" &&
	test "$(jget m2.json stats.blobs_uploaded)" = 0 &&
	test "$(jget m2.json stats.blobs_mounted)" -ge 3 &&
	test "$(uploads team/demo2)" = "$before"
'

test_expect_success 'setup: a signing key, a signed bento' '
	bento key generate --no-password > /dev/null 2>&1 &&
	id_of "$K/default.pub" > keyid &&
	test -s keyid &&
	mkctx sctx signed &&
	bento build sctx --version 1 --sign -o json > s.json 2> /dev/null &&
	test "$(jget s.json signed)" = true &&
	jget s.json digest > s.digest
'

test_expect_success 'push of a signed bento: its signature and provenance as referrers' '
	bento push signed:1 "$H/team/signed" -o json > sp.json 2> err &&
	test "$(jget sp.json referrers)" = 2 &&
	jget sp.json manifest > s.man &&
	sk "$H/team/signed:sha256-$(cut -c8- s.man)" > refs.json &&
	test "$(jget refs.json mediaType)" = application/vnd.oci.image.index.v1+json &&
	jget refs.json manifests.*.artifactType | sort > types &&
	printf "%s\n" application/vnd.bento.signature.v1 application/vnd.in-toto+json | cmp - types &&
	for d in $(jget refs.json manifests.*.digest); do
		sk "$H/team/signed@$d" > ref.json &&
		test "$(jget ref.json subject.digest)" = "$(cat s.man)" || return 1
	done &&
	py "
import json
idx = json.load(open(\"refs.json\"))
t = [m[\"annotations\"][\"org.opencontainers.image.title\"] for m in idx[\"manifests\"]]
assert \"$(cat keyid).minisig\" in t and \"provenance.dsse.json\" in t, t
"
'

test_expect_success 'pull --require-signature, key not trusted: exit 3, store unchanged' '
	export BENTO_HOME=$TMP/s1 XDG_CONFIG_HOME=$TMP/cfg-none &&
	bento pull "$H/team/demo:1" > /dev/null 2>&1 &&
	refused 3 bento pull --require-signature "$H/team/signed:1" &&
	! bento get signed:1 > /dev/null 2>&1 &&
	grep -qi "sign" err
'

test_expect_success 'pull --require-signature of an unsigned bento: exit 3' '
	export BENTO_HOME=$TMP/s1 XDG_CONFIG_HOME=$TMP/cfg-trust &&
	bento key trust "$K/default.pub" > /dev/null 2>&1 &&
	refused 3 bento pull --require-signature "$H/team/big:2"
'

test_expect_success 'pull --require-signature with the key trusted: the signature travelled' '
	export BENTO_HOME=$TMP/s1 XDG_CONFIG_HOME=$TMP/cfg-trust &&
	bento pull --require-signature "$H/team/signed:1" -o json > sp1.json 2> err &&
	test "$(jget sp1.json digest)" = "$(cat s.digest)" &&
	test "$(jget sp1.json trusted_signatures)" = 1 &&
	bento verify --full signed:1 > v.out 2>&1 &&
	grep_q v.out "$(cat keyid)" &&
	bento export signed:1 - | tar -tf - > list &&
	grep -qx "signatures/$(cat keyid).minisig" list &&
	grep -qx "attestations/provenance.dsse.json" list
'

test_expect_success 'pull --require-signature --key PUB (not in the trust list) works too' '
	export BENTO_HOME=$TMP/s2 XDG_CONFIG_HOME=$TMP/cfg-none2 &&
	bento pull --require-signature --key "$K/default.pub" "$H/team/signed:1" > out 2> err &&
	test "$(list_digest signed:1)" = "$(cat s.digest)"
'

test_expect_success 'models push then models pull into a fresh store: the same model digest' '
	bento models import ctx/models/emb --name emb --version 3 -o json > mi.json 2> /dev/null &&
	jget mi.json digest > m.digest &&
	bento models push emb:3 "$H/models/emb" -o json > mp.json 2> err &&
	test "$(jget mp.json target)" = "$H/models/emb:3" &&
	sk "$H/models/emb:3" > mraw.json &&
	test "$(jget mraw.json artifactType)" = application/vnd.bento.model.v1 &&
	test "$(jget mraw.json config.digest)" = "$(cat m.digest)" &&
	export BENTO_HOME=$TMP/mp &&
	bento models pull "$H/models/emb:3" -o json > mpull.json 2> err &&
	test "$(jget mpull.json digest)" = "$(cat m.digest)" &&
	test "$(list_digest models emb:3)" = "$(cat m.digest)" &&
	bento fsck > /dev/null 2>&1
'

test_expect_success 'history: push events carry the target and the manifest digest' '
	bento history --action push -o json > hp.json &&
	py "
import json
ev = json.load(open(\"hp.json\"))
assert ev and all(e[\"action\"] == \"push\" for e in ev), ev
e = [e for e in ev if e[\"details\"][\"target\"] == \"$H/team/demo:1\"]
assert e, ev
assert e[0][\"details\"][\"manifest\"] == \"$(cat man.digest)\", e[0]
assert e[0][\"digest\"] == \"$(cat demo.digest)\", e[0]
assert e[0][\"name\"] == \"demo\" and e[0][\"version\"] == \"1\", e[0]
" &&
	bento history demo:1 --action push -o json > hd.json &&
	test "$(jget hd.json "#len")" -ge 2
'

test_expect_success 'history: a pull event names the source and the manifest digest' '
	BENTO_HOME=$TMP/p1 bento history --action pull -o json > hl.json &&
	py "
import json
ev = json.load(open(\"hl.json\"))
assert len(ev) >= 1, ev
d = ev[0][\"details\"]
assert d[\"manifest\"] == \"$(cat man.digest)\", d
assert \"$H/team/demo\" in json.dumps(d), d
assert ev[0][\"digest\"] == \"$(cat demo.digest)\", ev[0]
"
'

# Issue 9: a registry that lists more referrers than a bento may carry, or
# bigger ones, costs the pull no more than the caps (store.h): the list is
# counted before any referrer is fetched, each one's size checked before its
# content is.
test_expect_success 'setup: demo:1 in team/many and team/big17, its provenance padded' '
	bento push demo:1 "$H/team/many" > /dev/null 2> err &&
	bento push demo:1 "$H/team/big17" > /dev/null 2> err &&
	bento export demo:1 - --compression none | tar -xOf - attestations/provenance.dsse.json > prov.json &&
	python3 "$FIX/attachkit.py" pad prov.json 1048576 big.json &&
	python3 "$FIX/attachkit.py" pad prov.json 2048 small.json
'

test_expect_success '1,500 referrers: refused from their list alone, not one of them fetched' '
	python3 "$FIX/attachkit.py" registry "$H" team/many 1 att 1500 small.json &&
	sk "$H/team/many:1" > many.json &&
	sk "$H/team/many:sha256-$(sha many.json | cut -c8-)" > many-refs.json &&
	test "$(jget many-refs.json "manifests.#len")" = 1501 &&
	before=$(count_requests "$REG_r_LOG" GET "/v2/team/many/manifests/sha256:") &&
	export BENTO_HOME=$TMP/many && bento list > /dev/null &&
	refused_exactly 3 bento pull "$H/team/many:1" &&
	grep_q err "$H/team/many:1: the referrers list more than the 256 attestations a bento may carry" &&
	test "$(count_requests "$REG_r_LOG" GET "/v2/team/many/manifests/sha256:")" = "$before" &&
	test "$(count_requests "$REG_r_LOG" GET "/v2/team/many/manifests/sha256-")" -ge 1
'

test_expect_success 'attestations of more than 16 MiB in all: refused having fetched at most 16 MiB of them' '
	python3 "$FIX/attachkit.py" registry "$H" team/big17 1 att 17 big.json &&
	env=$(sha big.json) &&
	export BENTO_HOME=$TMP/big17 && bento list > /dev/null &&
	refused_exactly 3 bento pull "$H/team/big17:1" &&
	grep_q err "more than the 16777216 bytes (16 MiB) of signatures and attestations" &&
	n=$(count_requests "$REG_r_LOG" GET "/v2/team/big17/blobs/$env") &&
	test "$n" -ge 15 && test "$n" -le 16
'

test_expect_success 'usage errors: exit 2, store unchanged' '
	refused 2 bento push demo:1 &&
	refused 2 bento push demo:1 "$H/team/demo@$(cat man.digest)" &&
	refused 2 bento push demo:1 "not a ref" &&
	refused 2 bento pull &&
	refused 2 bento pull "$H/" &&
	refused 2 bento push --require-signature demo:1 "$H/team/demo"
'

test_expect_success 'push of a bento the store does not have: exit 4' '
	refused 4 bento push nosuch:1 "$H/team/demo"
'

# registries.conf mirrors (containers-registries.conf(5)), as podman and
# skopeo read them: a short name (Docker Hub's) is served by the local
# registry; a mirror that is down is passed over; a blocked prefix refused.
test_expect_success 'pull of a short name through a registries.conf mirror' '
	bento push demo:1 "$H/hub/library/demo:1" > /dev/null &&
	mkdir -p "$XDG_CONFIG_HOME/containers" &&
	cat > "$XDG_CONFIG_HOME/containers/registries.conf" <<-EOF &&
	unqualified-search-registries = ["docker.io"]
	[[registry]]
	prefix = "docker.io"
	location = "docker.io"
	[[registry.mirror]]
	location = "127.0.0.1:1/down"   # nothing listens there
	[[registry.mirror]]
	location = "$H/hub"
	[[registry]]
	prefix = "docker.io/library/forbidden"
	blocked = true
	EOF
	BENTO_HOME=$TMP/h-mirror bento pull demo:1 -o json > mp.json 2> err &&
	test "$(jget mp.json digest)" = "$(cat demo.digest)" &&
	BENTO_HOME=$TMP/h-mirror bento get demo:1 > /dev/null &&
	BENTO_HOME=$TMP/h-mirror bento history -o json > mh.json &&
	grep_q mh.json "\"mirror\": \"$H/hub/library/demo:1\"" &&
	grep_q mh.json "\"source\": \"registry-1.docker.io/library/demo:1\""
'

test_expect_code 2 'a blocked prefix is refused, naming it' '
	before=$(BENTO_HOME=$TMP/h-mirror store_state) &&
	BENTO_HOME=$TMP/h-mirror bento pull forbidden:1 2> err ||
	{ rc=$?; grep_q err "docker.io/library/forbidden:1: blocked by registries.conf (prefix docker.io/library/forbidden)" &&
	  test "$(BENTO_HOME=$TMP/h-mirror store_state)" = "$before" && exit $rc; }
'

test_expect_code 4 'a tag no mirror has: not found, saying which mirrors were tried' '
	cat > "$XDG_CONFIG_HOME/containers/registries.conf" <<-EOF &&
	[[registry]]
	prefix = "docker.io"
	location = "$H/hub2"
	[[registry.mirror]]
	location = "$H/hub"
	EOF
	BENTO_HOME=$TMP/h-mirror bento pull demo:9 2> err ||
	{ rc=$?; grep_q err "mirrors tried first: $H/hub/library/demo:9" && exit $rc; }
'

test_expect_code 1 'a registries.conf of version 1 is refused, naming the file' '
	printf "[registries.search]\nregistries = [\"docker.io\"]\n" > "$XDG_CONFIG_HOME/containers/registries.conf" &&
	BENTO_HOME=$TMP/h-mirror bento pull demo:1 2> err ||
	{ rc=$?; grep_q err "$XDG_CONFIG_HOME/containers/registries.conf:1: [registries.search] is version 1" && exit $rc; }
'
rm -f "$XDG_CONFIG_HOME/containers/registries.conf"

test_done
