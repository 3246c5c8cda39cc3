#!/bin/bash
# oci:DIR, an OCI image layout directory as a push/pull target: skopeo
# reads what bento wrote, a pull into an empty store verifies, and the
# layout interoperates with a registry both ways through skopeo copy
# (bento -> oci:DIR -> skopeo -> registry -> bento, and
# bento -> registry -> skopeo -> oci:DIR2 -> bento).
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

sha() { echo "sha256:$(sha256sum "$1" | cut -c1-64)"; }
# blob_add DIR FILE: FILE as a blob of the layout DIR; prints its hex digest.
blob_add() {
	_h=$(sha256sum "$2" | cut -c1-64) && cp "$2" "$1/blobs/sha256/$_h" && echo "$_h"
}
# tag_add DIR TAG FILE: FILE as a manifest of the layout DIR, tagged TAG.
tag_add() {
	_h=$(blob_add "$1" "$3") &&
	python3 - "$1/index.json" "$_h" "$(stat -c %s "$3")" "$2" <<-'PY'
	import json, sys
	p, h, n, tag = sys.argv[1:]
	idx = json.load(open(p))
	idx["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
	    "digest": "sha256:" + h, "size": int(n),
	    "annotations": {"org.opencontainers.image.ref.name": tag}})
	json.dump(idx, open(p, "w"))
	PY
}
# desc_add DIR FILE MEDIATYPE: FILE as a blob of DIR, listed untagged in its index.json.
desc_add() {
	_h=$(blob_add "$1" "$2") &&
	python3 - "$1/index.json" "$_h" "$(stat -c %s "$2")" "$3" <<-'PY'
	import json, sys
	p, h, n, mt = sys.argv[1:]
	idx = json.load(open(p))
	idx["manifests"].append({"mediaType": mt, "digest": "sha256:" + h, "size": int(n)})
	json.dump(idx, open(p, "w"))
	PY
}
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json
skr() { timeout 60 skopeo inspect --raw "oci:$1"; }
skd() { timeout 60 skopeo inspect --raw --tls-verify=false "docker://$1"; }

mkctx "$TMP/ctx" demo

test_expect_success 'setup: build demo:1 and demo:2' '
	bento build ctx --version 1 -o json > b1.json 2> /dev/null && jget b1.json digest > d1 &&
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 -o json > b2.json 2> /dev/null && jget b2.json digest > d2
'

test_expect_success 'push to oci:DIR makes an OCI image layout' '
	bento push demo:1 "oci:$TMP/lay" -o json > p.json 2> err &&
	test "$(jget p.json target)" = "oci:$TMP/lay:1" &&
	jget p.json manifest > m1 &&
	test "$(jget lay/oci-layout imageLayoutVersion)" = 1.0.0 &&
	test "$(jget lay/index.json schemaVersion)" = 2 &&
	test -f "lay/blobs/sha256/$(cut -c8- m1)" &&
	test -f "lay/blobs/sha256/$(cut -c8- d1)" &&
	for f in lay/blobs/sha256/*; do
		test "$(sha "$f")" = "sha256:${f##*/}" || { echo "bad blob $f"; return 1; }
	done &&
	python3 -c "
import json
idx = json.load(open(\"lay/index.json\"))
tags = {m.get(\"annotations\", {}).get(\"org.opencontainers.image.ref.name\"): m[\"digest\"] for m in idx[\"manifests\"]}
assert tags.get(\"1\") == \"$(cat m1)\", idx
"
'

test_expect_success 'skopeo inspect --raw oci:DIR:TAG shows the bento artifact manifest' '
	skr "$TMP/lay:1" > raw.json &&
	test "$(sha raw.json)" = "$(cat m1)" &&
	test "$(jget raw.json artifactType)" = application/vnd.bento.bundle.v1 &&
	test "$(jget raw.json config.mediaType)" = application/vnd.bento.manifest.v1+json &&
	test "$(jget raw.json config.digest)" = "$(cat d1)" &&
	jget raw.json layers.*.annotations > ann &&
	test "$(grep -c "org.opencontainers.image.title" ann)" = 2
'

test_expect_success 'pull from oci:DIR into an empty store: same digest, verify --full' '
	export BENTO_HOME=$TMP/p1 &&
	bento pull "oci:$TMP/lay:1" -o json > pl.json 2> err &&
	test "$(jget pl.json digest)" = "$(cat d1)" &&
	test "$(jget pl.json manifest)" = "$(cat m1)" &&
	bento verify --full demo:1 > /dev/null 2>&1 &&
	bento history --action pull -o json > h.json &&
	grep_q h.json "$(cat m1)"
'

test_expect_success 'the same bento has the same manifest digest in a layout and in a registry' '
	bento push demo:1 "$H/lib/demo" -o json > pr.json 2> err &&
	test "$(jget pr.json manifest)" = "$(cat m1)"
'

test_expect_success 'a second push to the layout writes no blob; a second tag joins index.json' '
	find lay/blobs -type f | sort > before &&
	bento push demo:1 "oci:$TMP/lay" -o json > p2.json 2> err &&
	test "$(jget p2.json stats.blobs_uploaded)" = 0 &&
	find lay/blobs -type f | sort | cmp - before &&
	bento push demo:2 "oci:$TMP/lay" -o json > p3.json 2> err &&
	bento push demo:1 "oci:$TMP/lay:stable" > /dev/null 2> err &&
	skr "$TMP/lay:2" > raw2.json && test "$(jget raw2.json config.digest)" = "$(cat d2)" &&
	skr "$TMP/lay:stable" | cmp - raw.json &&
	skr "$TMP/lay:1" | cmp - raw.json
'

test_expect_success 'skopeo copy oci:DIR -> registry (--preserve-digests), then bento pull from it' '
	timeout 120 skopeo copy --preserve-digests --dest-tls-verify=false \
		"oci:$TMP/lay:1" "docker://$H/from/skopeo:1" > /dev/null 2> sk.err ||
		{ cat sk.err; false; } &&
	skd "$H/from/skopeo:1" | cmp - raw.json &&
	export BENTO_HOME=$TMP/p2 &&
	bento pull "$H/from/skopeo:1" -o json > pl.json 2> err &&
	test "$(jget pl.json digest)" = "$(cat d1)" &&
	test "$(jget pl.json manifest)" = "$(cat m1)" &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_expect_success 'bento push -> registry -> skopeo copy -> oci:DIR2, then bento pull oci:DIR2' '
	bento push demo:2 "$H/lib/demo" > /dev/null 2> err &&
	timeout 120 skopeo copy --preserve-digests --src-tls-verify=false \
		"docker://$H/lib/demo:2" "oci:$TMP/lay2:2" > /dev/null 2> sk.err ||
		{ cat sk.err; false; } &&
	skr "$TMP/lay2:2" | cmp - raw2.json &&
	export BENTO_HOME=$TMP/p3 &&
	bento pull "oci:$TMP/lay2:2" -o json > pl.json 2> err &&
	test "$(jget pl.json digest)" = "$(cat d2)" &&
	bento verify --full demo:2 > /dev/null 2>&1
'

test_expect_success 'bento pull of a layout skopeo copied without --preserve-digests' '
	timeout 120 skopeo copy --src-tls-verify=false \
		"docker://$H/lib/demo:1" "oci:$TMP/lay3:1" > /dev/null 2> sk.err ||
		{ cat sk.err; false; } &&
	export BENTO_HOME=$TMP/p4 &&
	bento pull "oci:$TMP/lay3:1" > /dev/null 2> err &&
	test "$(list_digest demo:1)" = "$(cat d1)" &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_expect_success 'signed bento in a layout: referrers travel, pull --require-signature' '
	bento key generate --no-password > /dev/null 2>&1 &&
	mkctx sctx signed &&
	bento build sctx --version 1 --sign -o json > s.json 2> /dev/null &&
	bento push signed:1 "oci:$TMP/slay" -o json > sp.json 2> err &&
	test "$(jget sp.json referrers)" = 2 &&
	export BENTO_HOME=$TMP/s1 XDG_CONFIG_HOME=$TMP/cfg-none &&
	bento list > /dev/null &&
	refused 3 bento pull --require-signature "oci:$TMP/slay:1" &&
	export XDG_CONFIG_HOME=$TMP/cfg-trust &&
	bento key trust "$K/default.pub" > /dev/null 2>&1 &&
	bento pull --require-signature "oci:$TMP/slay:1" -o json > spl.json 2> err &&
	test "$(jget spl.json trusted_signatures)" = 1 &&
	test "$(jget spl.json digest)" = "$(jget s.json digest)"
'

test_expect_success 'models push/pull through a layout' '
	bento models import ctx/models/emb --name emb --version 7 -o json > mi.json 2> /dev/null &&
	bento models push emb:7 "oci:$TMP/mlay" > /dev/null 2> err &&
	skr "$TMP/mlay:7" > mraw.json &&
	test "$(jget mraw.json artifactType)" = application/vnd.bento.model.v1 &&
	export BENTO_HOME=$TMP/mstore &&
	bento models pull "oci:$TMP/mlay:7" > /dev/null 2> err &&
	test "$(list_digest models emb:7)" = "$(jget mi.json digest)"
'

test_expect_success 'a layout that does not exist, a missing tag: exit 4, store unchanged' '
	export BENTO_HOME=$TMP/p1 &&
	refused 4 bento pull "oci:$TMP/nosuch:1" &&
	refused 4 bento pull "oci:$TMP/lay:nosuchtag" &&
	grep_q err nosuchtag
'

# badlayout CASE: a copy of lay/ in ol/ whose oci-layout is broken as CASE says.
badlayout() {
	rm -rf ol && cp -r lay ol &&
	case $1 in
	missing) rm ol/oci-layout ;;
	dir) rm ol/oci-layout && mkdir ol/oci-layout ;;
	notjson) printf "imageLayoutVersion: 1.0.0" > ol/oci-layout ;;
	array) printf "[\"1.0.0\"]" > ol/oci-layout ;;
	noversion) printf "{\"version\":\"1.0.0\"}" > ol/oci-layout ;;
	number) printf "{\"imageLayoutVersion\":1}" > ol/oci-layout ;;
	v2) printf "{\"imageLayoutVersion\":\"2.0.0\"}" > ol/oci-layout ;;
	v11) printf "{\"imageLayoutVersion\":\"1.1.0\"}" > ol/oci-layout ;;
	esac
}

test_expect_success 'pull checks oci-layout (present, a JSON object, version 1.0.0): exit 3 naming it' '
	export BENTO_HOME=$TMP/p1 &&
	for c in "missing:missing: not an OCI image layout, though it has an index.json" \
		"dir:not a regular file (a directory)" "notjson:oci-layout:1:" \
		"array:an array, not a JSON object" "noversion:imageLayoutVersion: missing" \
		"number:imageLayoutVersion: an integer, not a string" \
		"v2:imageLayoutVersion: '\''2.0.0'\'' is not supported (only 1.0.0)" \
		"v11:imageLayoutVersion: '\''1.1.0'\'' is not supported"; do
		badlayout "${c%%:*}" &&
		refused 3 bento pull "oci:$TMP/ol:1" &&
		grep_q err "$TMP/ol/oci-layout" && grep_q err "${c#*:}" || return 1
	done &&
	: models pull reads the same way &&
	refused 3 bento models pull "oci:$TMP/ol:1" && grep_q err "$TMP/ol/oci-layout"
'

test_expect_success 'push makes the same check: exit 3, the layout left as it was' '
	for c in missing v2 array; do
		badlayout $c && find ol -type f -exec sha256sum {} + | sort > ol.before &&
		refused 3 bento push demo:2 "oci:$TMP/ol" &&
		grep_q err "$TMP/ol/oci-layout" &&
		find ol -type f -exec sha256sum {} + | sort | cmp - ol.before || return 1
	done &&
	: a directory with neither file is a new layout &&
	mkdir fresh && bento push demo:1 "oci:$TMP/fresh" > /dev/null 2> err &&
	test "$(cat fresh/oci-layout)" = "{\"imageLayoutVersion\":\"1.0.0\"}"
'

# NAME <tab> CODE (changes index.json, m) <tab> what the message says after "DIR/index.json"
index_cases() {
	cat <<EOF
notjson	m = b'{"manifests":['	:1:
array	m = [m]	: an array, not a JSON object
noschema	del m["schemaVersion"]	: schemaVersion: missing
nomanifests	del m["manifests"]	: manifests: missing
mnum	m["manifests"][0] = 1	: manifests[0]: an integer, not a descriptor object
nodigest	del m["manifests"][0]["digest"]	: manifests[0].digest: missing
baddigest	m["manifests"][1]["digest"] = "sha256:../../etc/passwd"	: manifests[1].digest: 'sha256:../../etc/passwd' is not a digest
negsize	m["manifests"][0]["size"] = -5	: manifests[0].size: negative, not an integer >= 0
refnum	m["manifests"][-1]["annotations"]["org.opencontainers.image.ref.name"] = 1	.annotations.org.opencontainers.image.ref.name: an integer, not a string
mtmanifest	m["mediaType"] = "$OCI_M"	: mediaType: '$OCI_M', but it was served or described as '$OCI_I'
EOF
}

test_expect_success 'a malformed index.json (10 ways, or a directory): exit 3 naming it and the field' '
	export BENTO_HOME=$TMP/p1 &&
	index_cases > index.cases &&
	while IFS="	" read -r name code says; do
		rm -rf ol && cp -r lay ol &&
		jmut lay/index.json ol/index.json "$code" &&
		refused 3 bento pull "oci:$TMP/ol:1" &&
		grep_q err "$TMP/ol/index.json" && grep_q err "$says" || { echo "case $name"; return 1; }
	done < index.cases &&
	rm -rf ol && cp -r lay ol && rm ol/index.json && mkdir ol/index.json &&
	refused 3 bento pull "oci:$TMP/ol:1" &&
	grep_q err "$TMP/ol/index.json: not a regular file (a directory)" &&
	: a push refuses it the same way, and leaves it &&
	rm -rf ol && cp -r lay ol && jmut lay/index.json ol/index.json "del m[\"schemaVersion\"]" &&
	cp ol/index.json ix.before && export BENTO_HOME=$TMP/home &&
	refused 3 bento push demo:2 "oci:$TMP/ol:new" && grep_q err "index.json: schemaVersion: missing" &&
	cmp ol/index.json ix.before
'

test_expect_success 'a malformed manifest under a tag: exit 3 naming oci:DIR:TAG and the field' '
	export BENTO_HOME=$TMP/p1 &&
	for c in "del m[\"schemaVersion\"]:schemaVersion: missing" \
		"m[\"layers\"][0][\"size\"] = 1.0:layers[0].size: a real number, not an integer >= 0" \
		"del m[\"config\"]:config: missing" \
		"m[\"layers\"][1][\"digest\"] = m[\"layers\"][1][\"digest\"].upper():layers[1].digest:"; do
		rm -rf ol && cp -r lay ol &&
		jmut raw.json bad.json "${c%%:*}" && tag_add ol bad bad.json &&
		refused 3 bento pull "oci:$TMP/ol:bad" &&
		grep_q err "oci:$TMP/ol:bad: ${c#*:}" || { echo "case $c"; return 1; }
	done
'

test_expect_success 'a malformed manifest or index reachable from index.json: the referrers walk refuses it, exit 3' '
	export BENTO_HOME=$TMP/p1 &&
	rm -rf ol && cp -r lay ol &&
	jmut raw.json walk1.json "m[\"layers\"] = \"x\"" &&
	desc_add ol walk1.json "$OCI_M" && w1=$(sha walk1.json) &&
	refused 3 bento pull "oci:$TMP/ol:1" &&
	grep_q err "oci:$TMP/ol: manifest $w1: layers: a string, not an array of descriptors" &&
	rm -rf ol && cp -r lay ol &&
	printf "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":1}]}" "$(cat m1)" > walk2.json &&
	desc_add ol walk2.json "$OCI_I" && w2=$(sha walk2.json) &&
	refused 3 bento pull "oci:$TMP/ol:1" &&
	grep_q err "oci:$TMP/ol: manifest $w2: manifests[0].mediaType: missing" &&
	: listed as a manifest, it is an index &&
	rm -rf ol && cp -r lay ol &&
	printf "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[]}" "$OCI_I" > walk3.json &&
	desc_add ol walk3.json "$OCI_M" &&
	refused 3 bento pull "oci:$TMP/ol:1" &&
	grep_q err "but it was served or described as '\''$OCI_M'\''" &&
	: of another size than its descriptor says &&
	rm -rf ol && cp -r lay ol && desc_add ol walk3.json "$OCI_I" &&
	jmut ol/index.json ol/index.json "m[\"manifests\"][-1][\"size\"] += 1" &&
	refused 3 bento pull "oci:$TMP/ol:1" &&
	grep_q err "bytes, its descriptor says" &&
	: what cannot be a referrer is not read: a blob of another type, a sha512 digest &&
	rm -rf ol && cp -r lay ol && desc_add ol walk1.json application/octet-stream &&
	jmut ol/index.json ol/index.json "m[\"manifests\"].append(dict(mediaType=\"$OCI_M\", digest=\"sha512:\" + \"0\" * 128, size=2))" &&
	bento pull "oci:$TMP/ol:1" > /dev/null 2> err
'

test_expect_success 'a corrupted blob in the layout: exit 3, store unchanged' '
	cp -r lay bad &&
	layer=$(jget raw2.json layers.1.digest | cut -c8-) &&
	chmod u+w "bad/blobs/sha256/$layer" &&
	python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, \"rb\").read())
b[len(b) // 2] ^= 1
open(p, \"wb\").write(b)" "bad/blobs/sha256/$layer" &&
	export BENTO_HOME=$TMP/p5 && bento list > /dev/null &&
	refused 3 bento pull "oci:$TMP/bad:2" &&
	grep -qi digest err
'

# repack TAG TARFLAGS...: layer 0 of demo:1 in the layout repack/, repacked
# by GNU tar from the same files, under a new manifest tagged TAG.
repack() {
	_tag=$1 && shift &&
	tar "$@" --sort=name -cf "$_tag.tar" -C rp bento &&
	_th=$(blob_add repack "$_tag.tar") &&
	python3 -c "
import json
m = json.load(open(\"raw.json\"))
m[\"layers\"][0].update(digest=\"sha256:$_th\", size=$(stat -c %s "$_tag.tar"))
json.dump(m, open(\"$_tag.json\", \"w\"))" &&
	tag_add repack "$_tag" "$_tag.json"
}

test_expect_success 'a layer repacked by GNU tar (the same files, other headers): exit 3, store unchanged' '
	cp -r lay repack && mkdir rp &&
	layer=$(jget raw.json layers.0.digest | cut -c8-) &&
	tar -xf "repack/blobs/sha256/$layer" -C rp &&
	repack padded && repack rp -b 1 &&
	export BENTO_HOME=$TMP/p6 && bento list > /dev/null &&
	refused 3 bento pull "oci:$TMP/repack:padded" &&
	grep -q "layer code: the manifest says 10240 bytes, bento.json makes" err &&
	refused 3 bento pull "oci:$TMP/repack:rp" &&
	grep -q "code: bento/: refusing entry: GNU tar format header" err
'

test_expect_success 'a layout manifest over 4 MiB: exit 3, store unchanged' '
	cp -r lay huge &&
	python3 -c "
import json
m = json.load(open(\"raw.json\"))
m[\"annotations\"][\"pad\"] = \"x\" * (5 << 20)
json.dump(m, open(\"huge.json\", \"w\"))" &&
	tag_add huge huge huge.json &&
	export BENTO_HOME=$TMP/p1 &&
	refused 3 bento pull "oci:$TMP/huge:huge" &&
	grep -q "4194304\|4 MiB" err
'

test_expect_success 'usage: oci: with an empty directory or tag exits 2' '
	refused 2 bento push demo:1 "oci:" &&
	refused 2 bento push demo:1 "oci:$TMP/lay:"
'

# Issue 9: what a layout's referrers may make a pull do.  Everything is
# checked before anything is committed, by the store's own rules (one rule
# for names, one set of caps for pull, import and push: store.h), so a
# refused pull leaves every file of the store as it was; and the referrers
# are counted, and each one's title and size checked, before any content is
# fetched.
ak() { python3 "$FIX/attachkit.py" "$@"; }
mkctx "$TMP/octx" other

test_expect_success 'setup: demo:1 in a layout of its own, its provenance padded, a signature of it' '
	bento push demo:1 "oci:$TMP/rbase" > /dev/null 2> err &&
	bento export demo:1 - --compression none | tar -xOf - attestations/provenance.dsse.json > prov.json &&
	ak pad prov.json 2048 small.json && ak pad prov.json 1048576 big.json &&
	test "$(stat -c %s big.json)" -gt 1040000 &&
	BENTO_HOME=$TMP/rs bento build octx --version 1 > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/signer bento pull "oci:$TMP/rbase:1" > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/signer bento sign demo:1 > /dev/null 2>&1 &&
	id_of "$K/default.pub" > keyid && tr A-F a-f < keyid > lkeyid &&
	BENTO_HOME=$TMP/signer bento export demo:1 - --compression none |
		tar -xOf - "signatures/$(cat keyid).minisig" > sig.minisig
'

# bad_title KIND TITLE FILE MESSAGE: a layout whose one more referrer is titled
# TITLE; its pull into the store rs is refused, exit 3, the store exactly as it
# was, and the message names the referrer and MESSAGE.
bad_title() {
	rm -rf t && cp -r rbase t && ak referrers t 1 "$1" 1 "$3" "$2" &&
	export BENTO_HOME=$TMP/rs &&
	refused_exactly 3 bento pull "oci:$TMP/t:1" &&
	grep_q err "oci:$TMP/t:1: referrer sha256:" && grep_q err "$4"
}

test_expect_success 'an attestation titled "evil name.dsse.json": exit 3, the store as it was' '
	bad_title att "evil name.dsse.json" small.json \
		"'"'"'evil name.dsse.json'"'"' is not an attestation'"'"'s name"
'

test_expect_success 'an attestation titled ../../x.dsse.json: exit 3, the store as it was' '
	bad_title att ../../x.dsse.json small.json "is not an attestation'"'"'s name"
'

test_expect_success 'an attestation title of 300 characters: exit 3, the store as it was' '
	bad_title att "$(printf "%0290d" 0).dsse.json" small.json "is not an attestation'"'"'s name"
'

test_expect_success 'a signature titled KEYID.minisix (not .minisig): exit 3, not taken as KEYID' '
	bad_title sig "$(cat keyid).minisix" sig.minisig "is not a signature'"'"'s name"
'

test_expect_success 'a signature titled with a lower-case key id: exit 3, the store as it was' '
	bad_title sig "$(cat lkeyid).minisig" sig.minisig "is not a signature'"'"'s name"
'

test_expect_success 'the same signature rightly titled is taken (control)' '
	rm -rf t && cp -r rbase t && ak referrers t 1 sig 1 sig.minisig "$(cat keyid).minisig" &&
	BENTO_HOME=$TMP/good bento pull "oci:$TMP/t:1" > /dev/null 2> err &&
	grep_q err "signature $(cat keyid): by key $(cat keyid)"
'

test_expect_success '1,500 referrers to one 1 MiB envelope: refused at once, exit 3, the store as it was' '
	rm -rf t && cp -r rbase t && ak referrers t 1 att 1500 big.json &&
	export BENTO_HOME=$TMP/rs && start=$(date +%s) &&
	refused_exactly 3 bento pull "oci:$TMP/t:1" &&
	test $(($(date +%s) - start)) -lt 20 &&
	grep_q err "oci:$TMP/t:1: the referrers list more than the 256 attestations a bento may carry"
'

test_expect_success '300 referrers: refused too (an export of them would not import)' '
	rm -rf t && cp -r rbase t && ak referrers t 1 att 300 small.json &&
	export BENTO_HOME=$TMP/rs &&
	refused_exactly 3 bento pull "oci:$TMP/t:1" && grep_q err "more than the 256 attestations"
'

test_expect_success 'at the cap, 256 attestations: the pull, its export, the import and a push all take them' '
	rm -rf t && cp -r rbase t && ak referrers t 1 att 255 small.json &&
	BENTO_HOME=$TMP/cap bento pull "oci:$TMP/t:1" > /dev/null 2> err &&
	BENTO_HOME=$TMP/cap bento export demo:1 cap.bento > /dev/null &&
	test "$(tar -tf cap.bento | grep -c "^attestations/")" = 256 &&
	BENTO_HOME=$TMP/cap2 bento import cap.bento > /dev/null 2> err &&
	BENTO_HOME=$TMP/cap2 bento push demo:1 "oci:$TMP/caplay" -o json > cp.json 2> err &&
	test "$(jget cp.json referrers)" = 256 &&
	BENTO_HOME=$TMP/cap3 bento pull "oci:$TMP/caplay:1" > /dev/null 2> err
'

test_expect_success 'a stored bento over the caps (from before them): push and export refuse it whole' '
	rm -rf "$TMP/over" && cp -r "$TMP/cap" "$TMP/over" &&
	sqlite3 "$TMP/over/store.db" "INSERT INTO attestations (object_id, name, data, added)
		SELECT object_id, '"'"'zz.dsse.json'"'"', data, added FROM attestations
		WHERE name = '"'"'provenance.dsse.json'"'"'" &&
	export BENTO_HOME=$TMP/over &&
	refused 3 bento push demo:1 "oci:$TMP/overlay" && test ! -e "$TMP/overlay" &&
	grep_q err "demo:1: attestation zz.dsse.json: more than the 256 attestations a bento may carry" &&
	refused 3 bento export demo:1 over.bento && test ! -e over.bento &&
	grep_q err "more than the 256 attestations"
'

test_expect_success 'and one more, 257: refused' '
	ak referrers t 1 att 1 small.json extra.dsse.json &&
	export BENTO_HOME=$TMP/rs &&
	refused_exactly 3 bento pull "oci:$TMP/t:1" && grep_q err "more than the 256 attestations"
'

test_expect_success 'attestations of more than 16 MiB in all: refused, exit 3, the store as it was' '
	rm -rf t && cp -r rbase t && ak referrers t 1 att 17 big.json &&
	export BENTO_HOME=$TMP/rs &&
	refused_exactly 3 bento pull "oci:$TMP/t:1" &&
	grep_q err "more than the 16777216 bytes (16 MiB) of signatures and attestations a bento may carry"
'

test_expect_success 'a bento signed after its push and pushed again: its two envelopes pull as the signed one' '
	rm -rf t && cp -r rbase t &&
	BENTO_HOME=$TMP/signer bento push demo:1 "oci:$TMP/t" > /dev/null 2> err &&
	python3 -c "
import json, sys
idx = json.load(open(\"t/index.json\"))
n = 0
for d in idx[\"manifests\"]:
    m = json.load(open(\"t/blobs/sha256/\" + d[\"digest\"][7:]))
    n += m.get(\"annotations\", {}).get(\"org.opencontainers.image.title\") == \"provenance.dsse.json\"
sys.exit(n != 2)" &&
	BENTO_HOME=$TMP/resigned bento pull "oci:$TMP/t:1" > /dev/null 2> err &&
	BENTO_HOME=$TMP/resigned bento export demo:1 - --compression none |
		tar -xOf - attestations/provenance.dsse.json > got.json &&
	BENTO_HOME=$TMP/signer bento export demo:1 - --compression none |
		tar -xOf - attestations/provenance.dsse.json | cmp - got.json &&
	! cmp -s prov.json got.json
'

test_expect_success 'a bento.json whose sizes add up to 2^64 plus its size: exit 3, says so' '
	rm -rf t && cp -r rbase t &&
	python3 -c "
import json
idx = json.load(open(\"t/index.json\"))
d = [m for m in idx[\"manifests\"] if m.get(\"annotations\", {}).get(\"org.opencontainers.image.ref.name\") == \"1\"][0]
open(\"m1.json\", \"wb\").write(open(\"t/blobs/sha256/\" + d[\"digest\"][7:], \"rb\").read())
m = json.load(open(\"m1.json\"))
open(\"cfg.json\", \"wb\").write(open(\"t/blobs/sha256/\" + m[\"config\"][\"digest\"][7:], \"rb\").read())" &&
	ak overflow cfg.json ovf.json &&
	h=$(blob_add t ovf.json) &&
	python3 -c "
import json
m = json.load(open(\"m1.json\"))
m[\"config\"].update(digest=\"sha256:$h\", size=$(stat -c %s ovf.json))
json.dump(m, open(\"ovfm.json\", \"w\"))" &&
	tag_add t ovf ovfm.json &&
	export BENTO_HOME=$TMP/ovfs && bento list > /dev/null &&
	refused_exactly 3 bento pull "oci:$TMP/t:ovf" &&
	grep_q err "sizes add up to more than 9223372036854775807 bytes"
'

test_expect_success 'a refused pull into a store that does not exist leaves none' '
	export BENTO_HOME=$TMP/never &&
	refused_exactly 3 bento pull "oci:$TMP/t:ovf" && test ! -e "$TMP/never"
'

test_done
