#!/bin/bash
# A hostile registry's JSON: a real docker-registry behind
# tests/cli/fixtures/faultproxy.py, which answers chosen requests with a
# malformed manifest or referrers index (--status 200 --body FILE), and
# referrer manifests pushed to the registry itself with curl (stored, so
# served with their right digest) that lie about their subject or carry no
# titled layer.  Every such document is refused before anything is stored:
# exit 3, a message naming where it came from and the field, the store
# unchanged (ocidoc.h, bento-registry(5)); a well-formed document of the
# wrong kind (an image index where a bento's manifest should be) is exit 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v curl > /dev/null; then
	echo "1..0 # SKIP docker-registry or curl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"
export BENTO_KDF_FAST=1
unset DOCKER_CONFIG

registry_start r
proxy_start p "$REG_r_PORT"
R=127.0.0.1:$REG_r_PORT		# the registry itself
P=127.0.0.1:$PROXY_p_PORT	# the same registry, made hostile by the proxy
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json

# serve FILE TYPE REGEX: the proxy answers requests matching REGEX with FILE.
serve() { proxy_faults p --status 200 --body "$TMP/$1" --content-type "$2" --match "$3"; }
# get PATH: a GET of the registry itself.
get() { curl -sf -H "Accept: $OCI_M, $OCI_I" "http://$R$1"; }
# put_manifest REPO FILE: FILE as a manifest of REPO, by its digest; prints the digest.
put_manifest() {
	_d="sha256:$(sha256sum "$2" | cut -c1-64)" &&
	curl -sf -X PUT -H "Content-Type: $OCI_M" --data-binary "@$2" \
		"http://$R/v2/$1/manifests/$_d" > /dev/null && echo "$_d"
}

mkctx "$TMP/ctx" demo

test_expect_success 'setup: demo:1, signed, in the registry; its manifest and a signature referrer' '
	bento key generate --no-password > /dev/null 2>&1 &&
	bento build ctx --version 1 --sign > /dev/null 2>&1 &&
	bento push demo:1 "$R/src/demo" -o json > push.json 2> err &&
	jget push.json manifest > m1 &&
	get /v2/src/demo/manifests/1 > raw.json &&
	get "/v2/src/demo/manifests/sha256-$(cut -c8- m1)" > refs.json &&
	python3 -c "
import json
for d in json.load(open(\"refs.json\"))[\"manifests\"]:
    if d[\"artifactType\"] == \"application/vnd.bento.signature.v1\":
        print(d[\"digest\"])" > sig.digest &&
	get "/v2/src/demo/manifests/$(cat sig.digest)" > sig.json &&
	: the proxy passes a clean pull through &&
	BENTO_HOME=$TMP/clean bento pull "$P/src/demo:1" > /dev/null 2> err
'

# NAME <tab> CODE (changes the manifest m) <tab> what the message says after "$P/src/demo:1"
# [<tab> and anywhere]
manifest_cases() {
	cat <<EOF
notjson	m = b'{"schemaVersion":2,'	:1:
array	m = [m]	: an array, not a JSON object
dupkey	m = json.dumps(m).replace('{', '{"schemaVersion":2,', 1).encode()	:1:	duplicate object key
noschema	del m["schemaVersion"]	: schemaVersion: missing
schema1	m["schemaVersion"] = 1	: schemaVersion: 1 is not supported (only 2)
schemastr	m["schemaVersion"] = "2"	: schemaVersion: a string, not the integer 2
mtindex	m["mediaType"] = "$OCI_I"	: mediaType: '$OCI_I', but it was served or described as '$OCI_M'
mtnum	m["mediaType"] = 3	: mediaType: an integer, not a string
noconfig	del m["config"]	: config: missing
cfgdigest	m["config"]["digest"] = 123	: config.digest: an integer, not a string
cfgbaddigest	m["config"]["digest"] = "sha256:xyz"	: config.digest: 'sha256:xyz' is not a digest
cfgneg	m["config"]["size"] = -1	: config.size: negative, not an integer >= 0
cfgreal	m["config"]["size"] = 812.5	: config.size: a real number, not an integer >= 0
cfgstr	m["config"]["size"] = "812"	: config.size: a string, not an integer >= 0
cfghuge	m["config"]["size"] = 2**64 + 11378	:1:	too big integer
cfgnomt	del m["config"]["mediaType"]	: config.mediaType: missing
cfgmt	m["config"]["mediaType"] = "application/octet-stream"	: config.mediaType: 'application/octet-stream', not application/vnd.bento.manifest.v1+json
nolayers	del m["layers"]	: layers: missing
layersobj	m["layers"] = {}	: layers: an object, not an array of descriptors
layerstr	m["layers"][0] = "sha256:00"	: layers[0]: a string, not a descriptor object
l1nosize	del m["layers"][1]["size"]	: layers[1].size: missing
l0gzip	m["layers"][0]["mediaType"] += "+gzip"	: layers[0].mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', not a bento layer
l0ann	m["layers"][0]["annotations"]["dev.bento.layer.role"] = 1	: layers[0].annotations.dev.bento.layer.role: an integer, not a string
l0urls	m["layers"][0]["urls"] = "http://x"	: layers[0].urls: a string, not an array of strings
l0sha512	m["layers"][0]["digest"] = "sha512:" + "0" * 128	: layers[0]: digest algorithm sha512 is not supported
annarr	m["annotations"] = []	: annotations: an array, not an object of strings
atnum	m["artifactType"] = 5	: artifactType: an integer, not a string
subjstr	m["subject"] = "sha256:00"	: subject: a string, not a descriptor object
EOF
}

test_expect_success 'a malformed manifest (28 ways): exit 3 naming the registry, the tag and the field' '
	export BENTO_HOME=$TMP/hostile && bento list > /dev/null &&
	manifest_cases > manifest.cases &&
	while IFS="	" read -r name code says also; do
		jmut raw.json "m-$name.json" "$code" &&
		serve "m-$name.json" "$OCI_M" "^GET /v2/src/demo/manifests/1\$" &&
		refused 3 bento pull "$P/src/demo:1" &&
		grep_q err "$P/src/demo:1$says" && grep_q err "$also" || { echo "case $name"; return 1; }
	done < manifest.cases &&
	test "$(wc -l < manifest.cases)" = 28 &&
	proxy_faults p
'

test_expect_success 'what a hostile manifest says is quoted without its control characters' '
	export BENTO_HOME=$TMP/hostile &&
	jmut raw.json m-esc.json "m[\"annotations\"][\"\\x1b]0;pwned\\x07\\x1b[2J\"] = 1" &&
	grep -q "u001b" m-esc.json &&
	serve m-esc.json "$OCI_M" "^GET /v2/src/demo/manifests/1\$" &&
	refused 3 bento pull "$P/src/demo:1" &&
	grep_q err "$P/src/demo:1: annotations.?]0;pwned??[2J: an integer, not a string" &&
	! grep -q "$(printf "\033")" err &&
	proxy_faults p
'

test_expect_success 'a well-formed image index at the tag is not a bento: exit 1' '
	export BENTO_HOME=$TMP/hostile &&
	printf "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[]}" "$OCI_I" > idx.json &&
	serve idx.json "$OCI_I" "^GET /v2/src/demo/manifests/1\$" &&
	refused 1 bento pull "$P/src/demo:1" &&
	grep_q err "$P/src/demo:1: an image index, not an image manifest" &&
	proxy_faults p
'

# The same for the referrers API's answer (an image index); run where m1 is.
referrers_cases() {
	cat <<EOF
notjson	m = b'{"manifests":'	:1:
array	m = [m]	: an array, not a JSON object
noschema	del m["schemaVersion"]	: schemaVersion: missing
schema3	m["schemaVersion"] = 3	: schemaVersion: 3 is not supported (only 2)
nomanifests	del m["manifests"]	: manifests: missing
mobj	m["manifests"] = {}	: manifests: an object, not an array of descriptors
mnum	m["manifests"] = [7]	: manifests[0]: an integer, not a descriptor object
atnum	m["manifests"] = [dict(mediaType="$OCI_M", digest="$(cat m1)", size=1, artifactType=7)]	: manifests[0].artifactType: an integer, not a string
sizestr	m["manifests"] = [dict(mediaType="$OCI_M", digest="$(cat m1)", size="1")]	: manifests[0].size: a string, not an integer >= 0
nodigest	m["manifests"] = [dict(mediaType="$OCI_M", size=1)]	: manifests[0].digest: missing
amanifest	m = json.load(open("raw.json"))	: mediaType: '$OCI_M', but it was served or described as '$OCI_I'
EOF
}

test_expect_success 'a malformed referrers answer (11 ways): exit 3 naming it and the field' '
	export BENTO_HOME=$TMP/hostile &&
	referrers_cases > referrers.cases &&
	printf "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[]}" "$OCI_I" > empty.json &&
	while IFS="	" read -r name code says; do
		jmut empty.json "r-$name.json" "$code" &&
		serve "r-$name.json" "$OCI_I" "^GET /v2/src/demo/referrers/" &&
		refused 3 bento pull "$P/src/demo:1" &&
		grep_q err "$P/src/demo:1: referrers$says" || { echo "case $name"; return 1; }
	done < referrers.cases &&
	test "$(wc -l < referrers.cases)" = 11 &&
	proxy_faults p
'

test_expect_success 'a stored referrer whose subject is another manifest, or without a titled layer: exit 3' '
	export BENTO_HOME=$TMP/hostile &&
	: the real signature referrer, with another subject, and without its title &&
	jmut sig.json s-subject.json "m[\"subject\"][\"digest\"] = \"sha256:\" + \"0\" * 64" &&
	jmut sig.json s-notitle.json "del m[\"layers\"][0][\"annotations\"]" &&
	jmut sig.json s-nolayer.json "m[\"layers\"] = []" &&
	for v in subject:"subject: not the manifest pulled" notitle:"has no titled layer" \
		nolayer:"has no titled layer"; do
		d=$(put_manifest src/demo "s-${v%%:*}.json") &&
		printf "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%s,\"artifactType\":\"application/vnd.bento.signature.v1\"}]}" \
			"$OCI_I" "$OCI_M" "$d" "$(stat -c %s "s-${v%%:*}.json")" > rs.json &&
		serve rs.json "$OCI_I" "^GET /v2/src/demo/referrers/" &&
		refused 3 bento pull "$P/src/demo:1" &&
		grep_q err "$P/src/demo:1: referrer $d: ${v#*:}" || { echo "case $v"; return 1; }
	done &&
	proxy_faults p
'

test_expect_success 'push: a malformed sha256-<hex> referrers index to append to is refused, exit 3' '
	export BENTO_HOME=$TMP/home &&
	printf "{\"schemaVersion\":2,\"manifests\":{}}" > fb.json &&
	serve fb.json "$OCI_I" "^GET /v2/push/demo/manifests/sha256-" &&
	refused 3 bento push demo:1 "$P/push/demo" &&
	grep_q err "$P/push/demo:sha256-$(cut -c8- m1): manifests: an object, not an array of descriptors" &&
	proxy_faults p
'

test_expect_success 'after the hostile answers: the same pull through the proxy works' '
	export BENTO_HOME=$TMP/hostile &&
	proxy_faults p &&
	bento pull "$P/src/demo:1" > /dev/null 2> err &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_done
