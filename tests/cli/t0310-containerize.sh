#!/bin/bash
# bento containerize: the three outputs (oci: layout, docker-archive,
# registry) read back by umoci and skopeo; the image's layers, config and
# annotations; determinism; reuse of the bento's layers (same digests as
# push, mounted in a registry, not rewritten in a layout); base images from
# a layout and from a registry; bad input.  Running the image with runc is
# t0320.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
for t in umoci skopeo curl python3; do
	if ! command -v $t > /dev/null; then
		echo "1..0 # SKIP $t missing (scripts/install-deps.sh)"
		exit 0
	fi
done
if ! [ -x /usr/bin/docker-registry ]; then
	echo "1..0 # SKIP docker-registry missing (scripts/install-deps.sh)"
	exit 0
fi
# The shim under test; an ASan build's shim is dynamic and cannot run FROM
# scratch, so the plain build's static one stands in for it there.
SHIM=$BUILD/bento-shim
if [ -x "$SHIM" ] && readelf -l "$SHIM" 2> /dev/null | grep -q INTERP; then
	SHIM=$SRC/build/bento-shim
fi
if ! [ -x "$SHIM" ]; then
	echo "1..0 # SKIP no static bento-shim (run make)"
	exit 0
fi
export BENTO_SHIM=$SHIM
. "$(dirname "$0")/fixtures/registry.sh.inc"

registry_start r
H=127.0.0.1:$REG_r_PORT
uploads() { count_requests "$REG_r_LOG" 'PUT|PATCH' "/v2/${1:-[^ ]*}/blobs/uploads/"; }
sk() { timeout 60 skopeo inspect --raw --tls-verify=false "$@"; }
skc() { timeout 60 skopeo inspect --config --raw --tls-verify=false "$@"; }
py() { python3 -c "$@"; }

mkctx "$TMP/ctx" demo
cat >> "$TMP/ctx/bentofile.yaml" <<'EOF'
envs:
  MODE: fast
image:
  ports: [3000]
  env:
    LOG: info
EOF
mkweights "$TMP/ctx/models/emb/big.bin" $((17 * 1024 * 1024)) 9

test_expect_success 'setup: build demo:1' '
	bento build ctx --version 1 -o json > b.json && jget b.json digest > demo.digest
'

test_expect_code 2 'an image is never written to a short name (Docker Hub) unasked' '
	before=$(store_state) &&
	bento containerize demo:1 --output team/demo:1 2> err || {
		rc=$? && grep_q err "bento containerize REF --output docker.io/team/demo:1" &&
		test "$(store_state)" = "$before" && exit $rc; }
'

test_expect_success 'containerize to oci:DIR: -o json names the image, its layers and what was written' '
	bento containerize demo:1 --output "oci:$TMP/img" -o json > c.json 2> err &&
	test "$(jget c.json output)" = "oci:$TMP/img:1" &&
	test "$(jget c.json digest)" = "$(cat demo.digest)" &&
	test "$(jget c.json platform)" = linux/amd64 &&
	test "$(jget c.json base)" = null &&
	test "$(jget c.json layers.#len)" = 5 &&
	test "$(jget c.json layers.*.role | tr "\n" " ")" = "shim code model model-file meta " &&
	test "$(jget c.json layers_written)" = 5 &&
	jget c.json image > image.digest &&
	test "$(cat "$TMP/img/oci-layout")" = "{\"imageLayoutVersion\":\"1.0.0\"}"
'

test_expect_success 'the text output: containerized NAME:VERSION to OUTPUT, then the image digest' '
	bento containerize demo:1 --output "oci:$TMP/img" > out 2> err &&
	grep_q out "containerized demo:1 to oci:$TMP/img:1" &&
	grep -qx "$(cat image.digest)" out &&
	grep_q err "0 written"
'

test_expect_success 'skopeo and umoci read the layout; the bento layers have the digests push gives them' '
	sk "oci:$TMP/img:1" > man.json &&
	test "sha256:$(sha256sum < man.json | cut -c1-64)" = "$(cat image.digest)" &&
	test "$(jget man.json mediaType)" = application/vnd.oci.image.manifest.v1+json &&
	test "$(jget man.json config.mediaType)" = application/vnd.oci.image.config.v1+json &&
	bento push demo:1 "oci:$TMP/art" -o json > push.json 2> err &&
	sk "oci:$TMP/art:1" > art.json &&
	test "$(jget art.json layers.*.digest)" = "$(jget man.json layers.*.digest | sed -n 2,4p)" &&
	umoci stat --image "$TMP/img:1" > stat.out &&
	grep_q stat.out "bento containerize: shim layer"
'

test_expect_success 'the config: entrypoint the shim, cmd the service, workdir, user, env, ports, labels' '
	skc "oci:$TMP/img:1" > cfg.json &&
	test "$(jget cfg.json config.Entrypoint.0)" = /usr/local/bin/bento-shim &&
	test "$(jget cfg.json config.Cmd | tr -d "\n")" = "[\"./run.sh\",\"--port\",\"3000\"]" &&
	test "$(jget cfg.json config.WorkingDir)" = /bento/src &&
	test "$(jget cfg.json config.User)" = 65532:65532 &&
	jget cfg.json "config.Env.*" > env &&
	grep -qx "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" env &&
	grep -qx MODE=fast env && grep -qx LOG=info env &&
	test "$(jget cfg.json config.ExposedPorts.#keys)" = 3000/tcp &&
	test "$(jget cfg.json config.Labels.team)" = ml &&
	jget cfg.json config.Labels > labels.json &&
	grep -qF "\"dev.bento.digest\":\"$(cat demo.digest)\"" labels.json &&
	test "$(jget cfg.json "rootfs.diff_ids.*")" = "$(jget man.json layers.*.digest)" &&
	test "$(jget cfg.json history.#len)" = 5 &&
	test "$(jget cfg.json architecture)" = amd64 && test "$(jget cfg.json os)" = linux
'

test_expect_success 'umoci unpack: the shim, the files under /bento, bento.json byte for byte' '
	umoci unpack --image "$TMP/img:1" bundle > /dev/null &&
	cmp bundle/rootfs/usr/local/bin/bento-shim "$SHIM" &&
	test -x bundle/rootfs/usr/local/bin/bento-shim &&
	cmp bundle/rootfs/bento/src/service.py ctx/service.py &&
	cmp bundle/rootfs/bento/models/emb/big.bin ctx/models/emb/big.bin &&
	bento get demo:1 -o json > bj.json && cmp bundle/rootfs/bento/bento.json bj.json 2> /dev/null ||
	test "sha256:$(sha256sum < bundle/rootfs/bento/bento.json | cut -c1-64)" = "$(cat demo.digest)"
'

test_expect_success 'deterministic: another layout, another store (imported), the same image digest' '
	bento export demo:1 d.bento > /dev/null &&
	BENTO_HOME=$TMP/other bento import d.bento > /dev/null &&
	BENTO_HOME=$TMP/other bento containerize demo:1 --output "oci:$TMP/img2" -o json > c2.json &&
	test "$(jget c2.json image)" = "$(cat image.digest)" &&
	diff -r "$TMP/img/blobs" "$TMP/img2/blobs"
'

test_expect_success 'provenance: an in-toto statement about the image, a referrer of it in the layout' '
	jget c.json provenance > prov.digest &&
	python3 - "$TMP/img" "$(cat image.digest)" "$(cat demo.digest)" "$(cat prov.digest)" "$SHIM" <<-EOF
	import hashlib, json, sys
	d, image, bento, prov, shim = sys.argv[1:]
	blob = lambda dg: open(d + "/blobs/" + dg.replace(":", "/"), "rb").read()
	refs = [m for m in json.load(open(d + "/index.json"))["manifests"]
	        if json.loads(blob(m["digest"])).get("subject", {}).get("digest") == image]
	assert len(refs) == 1, refs
	man = json.loads(blob(refs[0]["digest"]))
	assert man["artifactType"] == "application/vnd.in-toto+json", man
	body = blob(man["layers"][0]["digest"])
	assert "sha256:" + hashlib.sha256(body).hexdigest() == prov
	st = json.loads(body)
	assert st["subject"][0]["digest"]["sha256"] == image[7:], st
	deps = {x["name"]: x["digest"]["sha256"] for x in st["predicate"]["buildDefinition"]["resolvedDependencies"]}
	assert deps["bento"] == bento[7:], deps
	assert deps["bento-shim"] == hashlib.sha256(open(shim, "rb").read()).hexdigest(), deps
	assert "base" not in deps
	EOF
'

test_expect_success 'docker-archive: manifest.json, config and diff_ids right; skopeo copies it' '
	bento containerize demo:1 --output docker-archive:img.tar -o json > da.json &&
	test "$(jget da.json image)" = "$(cat image.digest)" &&
	tar -xOf img.tar manifest.json > dm.json &&
	test "$(jget dm.json 0.RepoTags.0)" = demo:1 &&
	cfgblob=$(jget dm.json 0.Config) &&
	tar -xOf img.tar "$cfgblob" > dcfg.json && cmp dcfg.json cfg.json &&
	for l in $(jget dm.json 0.Layers.*); do
		echo "sha256:$(tar -xOf img.tar "$l" | sha256sum | cut -c1-64)"
	done > dl && test "$(cat dl)" = "$(jget cfg.json "rootfs.diff_ids.*")" &&
	timeout 60 skopeo copy -q docker-archive:img.tar "oci:$TMP/fromarchive:x" &&
	: skopeo rewrites the config on the way, the layers stay &&
	skc "oci:$TMP/fromarchive:x" > fc.json &&
	test "$(jget fc.json "rootfs.diff_ids.*")" = "$(jget cfg.json "rootfs.diff_ids.*")" &&
	test "$(jget fc.json config.Entrypoint.0)" = /usr/local/bin/bento-shim
'

test_expect_success 'skopeo copy oci: to the registry, and it serves the same manifest' '
	timeout 120 skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$TMP/img:1" "docker://$H/copied/demo:1" &&
	sk "docker://$H/copied/demo:1" > reg.json && cmp reg.json man.json
'

test_expect_success 'containerize to a registry: the weights pushed as the bento artifact are mounted' '
	bento push demo:1 "$H/team/demo" > /dev/null 2>&1 &&
	before=$(uploads team/app) &&
	bento containerize demo:1 --output "$H/team/app:1" -o json > r.json 2> err &&
	test "$(jget r.json image)" = "$(cat image.digest)" &&
	test "$(jget r.json output)" = "$H/team/app:1" &&
	sk "docker://$H/team/app:1" | cmp - man.json &&
	after=$(uploads team/app) &&
	echo "uploads $before -> $after" &&
	: shim, meta, config and the provenance statement are new there, the three bento layers mounted &&
	test $((after - before)) = 4 &&
	count_requests "$REG_r_LOG" POST "/v2/team/app/blobs/uploads/\?(.*&)?mount=" > mounts &&
	test "$(cat mounts)" -ge 3
'

test_expect_success 'a second containerize to the registry uploads nothing' '
	before=$(uploads team/app) &&
	bento containerize demo:1 --output "$H/team/app:1" -o json > r2.json 2> err &&
	test "$(uploads team/app)" = "$before" &&
	test "$(jget r2.json layers_written)" = 0
'

test_expect_success 'only the code changed: only the code and meta layers are rewritten' '
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 > /dev/null &&
	bento containerize demo:2 --output "oci:$TMP/img" -o json > v2.json &&
	test "$(jget v2.json layers.*.written | tr "\n" " ")" = "false true false false true " &&
	sk "oci:$TMP/img:2" > man2.json &&
	test "$(jget man2.json layers.2.digest)" = "$(jget man.json layers.2.digest)" &&
	test "$(jget man2.json layers.3.digest)" = "$(jget man.json layers.3.digest)" &&
	test "$(jget man2.json layers.1.digest)" != "$(jget man.json layers.1.digest)" &&
	: both tags in one layout &&
	sk "oci:$TMP/img:1" | cmp - man.json
'

mkbase() { # mkbase DIR TAG: a busybox base image with a non-root user
	umoci init --layout "$1" && umoci new --image "$1:$2" &&
	mkdir -p rfs/bin rfs/etc && cp /bin/busybox rfs/bin/ &&
	printf "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n" > rfs/etc/passwd &&
	printf "root:x:0:\napp:x:1000:\n" > rfs/etc/group &&
	umoci insert --image "$1:$2" rfs / > /dev/null &&
	umoci config --image "$1:$2" --config.user app --config.env BASE=1
}

test_expect_success 'a base from an oci: layout: its layers first, hard-linked, its user and env kept' '
	mkbase "$TMP/base" 1 &&
	sk "oci:$TMP/base:1" > bman.json &&
	bento containerize demo:1 --base "oci:$TMP/base:1" --output "oci:$TMP/withbase" -o json > wb.json &&
	test "$(jget wb.json base.name)" = "oci:$TMP/base:1" &&
	test "$(jget wb.json base.digest)" = "sha256:$(sha256sum < bman.json | cut -c1-64)" &&
	sk "oci:$TMP/withbase:1" > wman.json &&
	test "$(jget wman.json layers.0.digest)" = "$(jget bman.json layers.0.digest)" &&
	test "$(jget wman.json layers.0.mediaType)" = "$(jget bman.json layers.0.mediaType)" &&
	test "$(jget wman.json layers.#len)" = 6 &&
	py "import json;a=json.load(open(\"wman.json\"))[\"annotations\"];assert a[\"org.opencontainers.image.base.name\"]==\"oci:$TMP/base:1\", a" &&
	l=$(jget bman.json layers.0.digest | cut -c8-) &&
	test "$(stat -c %i "$TMP/base/blobs/sha256/$l")" = "$(stat -c %i "$TMP/withbase/blobs/sha256/$l")" &&
	skc "oci:$TMP/withbase:1" > wcfg.json &&
	test "$(jget wcfg.json config.User)" = app &&
	jget wcfg.json "config.Env.*" | grep -qx BASE=1 &&
	umoci unpack --image "$TMP/withbase:1" wbundle > /dev/null &&
	test -x wbundle/rootfs/bin/busybox && test -f wbundle/rootfs/bento/bento.json
'

test_expect_success 'a multi-platform base (an image index): the manifest for linux/amd64 is used' '
	cp -r "$TMP/base" "$TMP/multi" &&
	python3 - "$TMP/multi" <<-EOF &&
	import hashlib, json, sys
	d = sys.argv[1]
	idx = json.load(open(d + "/index.json"))
	m = [x for x in idx["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == "1"][0]
	plat = lambda a: dict(mediaType=m["mediaType"], digest=m["digest"], size=m["size"],
	                      platform={"os": "linux", "architecture": a})
	other = dict(plat("arm64"), digest="sha256:" + "0" * 64)
	body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
	                   "manifests": [other, plat("amd64")]}).encode()
	dg = hashlib.sha256(body).hexdigest()
	open(d + "/blobs/sha256/" + dg, "wb").write(body)
	idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
	                         "digest": "sha256:" + dg, "size": len(body),
	                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
	json.dump(idx, open(d + "/index.json", "w"))
	EOF
	bento containerize demo:1 --base "oci:$TMP/multi:multi" --output "oci:$TMP/withmulti" -o json > mb.json &&
	test "$(jget mb.json base.digest)" = "$(jget wb.json base.digest)" &&
	sk "oci:$TMP/withmulti:1" > mman.json &&
	test "$(jget mman.json layers)" = "$(jget wman.json layers)"
'

test_expect_success 'a base from a registry: resolved to its digest, the same image as from the layout' '
	timeout 60 skopeo copy -q --dest-tls-verify=false "oci:$TMP/base:1" "docker://$H/lib/base:1" &&
	bento containerize demo:1 --base "$H/lib/base:1" --output "oci:$TMP/withrbase" -o json > rb.json &&
	test "$(jget rb.json base.digest)" = "$(jget wb.json base.digest)" &&
	sk "oci:$TMP/withrbase:1" > rman.json &&
	test "$(jget rman.json layers)" = "$(jget wman.json layers)" &&
	test "$(jget rman.json config)" = "$(jget wman.json config)" &&
	: the downloaded base blobs are not left in the store &&
	test -z "$(find "$BENTO_HOME/tmp" -type f)"
'

test_expect_success 'to the base registry itself: the base layers are mounted from its repository' '
	bento containerize demo:1 --base "$H/lib/base:1" --output "$H/team/withbase:1" -o json > rm.json &&
	count_requests "$REG_r_LOG" POST "/v2/team/withbase/blobs/uploads/\?(.*&)?from=lib(%2F|/)base" > m &&
	test "$(cat m)" -ge 1
'

test_expect_success 'history: a containerize event names the image and where it went' '
	bento history demo:1 --action containerize -o json > h.json &&
	jget h.json "*.details.output" > outs &&
	grep -qx "oci:$TMP/img:1" outs && grep -qx "$H/team/app:1" outs &&
	jget h.json "*.details.image" | grep -qx "$(cat image.digest)"
'

test_expect_success 'bad input: no such bento (4), bad --platform and output (2), store unchanged' '
	refused 4 bento containerize nope:1 --output "oci:$TMP/x" &&
	refused 2 bento containerize demo:1 --platform linux &&
	refused 2 bento containerize demo:1 --output "$H/team/app@sha256:$(printf %064d 0)" &&
	refused 2 bento containerize &&
	! test -e "$TMP/x"
'

test_expect_success 'bad input: a shim for another architecture, a dynamic shim FROM scratch' '
	refused 1 bento containerize demo:1 --platform linux/arm64 --output "oci:$TMP/x" &&
	grep_q err "is for amd64" &&
	refused 1 bento containerize demo:1 --shim /bin/ls --output "oci:$TMP/x" &&
	grep_q err "dynamically linked" &&
	refused 1 bento containerize demo:1 --shim ctx/service.py --output "oci:$TMP/x" &&
	grep_q err "not a 64-bit little-endian ELF" &&
	refused 4 bento containerize demo:1 --shim "$TMP/none" --output "oci:$TMP/x" &&
	! test -e "$TMP/x"
'

test_expect_success 'bad base: a missing tag (4), a base for another platform, a corrupt base blob (3)' '
	refused 4 bento containerize demo:1 --base "oci:$TMP/base:nope" --output "oci:$TMP/x" &&
	grep_q err nope &&
	cp -r "$TMP/base" "$TMP/armbase" &&
	umoci config --image "$TMP/armbase:1" --architecture arm64 --tag 1 &&
	refused 1 bento containerize demo:1 --base "oci:$TMP/armbase:1" --output "oci:$TMP/x" &&
	grep_q err "is for linux/arm64, not linux/amd64" &&
	cp -r "$TMP/base" "$TMP/badbase" &&
	f=$TMP/badbase/blobs/sha256/$(jget bman.json layers.0.digest | cut -c8-) &&
	chmod u+w "$f" && printf "\\x00" | dd of="$f" bs=1 seek=100 conv=notrunc 2> /dev/null &&
	refused 3 bento containerize demo:1 --base "oci:$TMP/badbase:1" --output "oci:$TMP/x" &&
	grep_q err "does not match" &&
	! test -e "$TMP/x/index.json"
'

# rebase SRC DST CFG MAN [IDX]: DST is a copy of the layout SRC whose tag
# "bad" names SRC:1's image with its config changed by the Python statements
# CFG (on c), then its manifest by MAN (on m), and, with IDX, wrapped in an
# image index changed by IDX (on i); CFG may set c to bytes (written as
# they are).  Digests and sizes are made to match: only the JSON is hostile.
rebase() {
	rm -rf "$2" && cp -r "$1" "$2" &&
	python3 - "$2" "$3" "$4" "${5-}" <<-'PY'
	import hashlib, json, sys
	d, cfg_code, man_code, idx_code = sys.argv[1:]
	def blob(b):
	    h = hashlib.sha256(b).hexdigest()
	    open("%s/blobs/sha256/%s" % (d, h), "wb").write(b)
	    return "sha256:" + h, len(b)
	def read(dg):
	    return json.load(open("%s/blobs/sha256/%s" % (d, dg[7:])))
	idx = json.load(open(d + "/index.json"))
	top = [x for x in idx["manifests"]
	       if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == "1"][0]
	m = read(top["digest"])
	c = read(m["config"]["digest"])
	exec(cfg_code)
	cb = c if isinstance(c, bytes) else json.dumps(c).encode()
	m["config"]["digest"], m["config"]["size"] = blob(cb)
	exec(man_code)
	desc = dict(mediaType=top["mediaType"])
	desc["digest"], desc["size"] = blob(json.dumps(m).encode())
	if idx_code:
	    i = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
	         "manifests": [dict(desc, platform={"os": "linux", "architecture": "amd64"})]}
	    exec(idx_code)
	    desc = dict(mediaType=i["mediaType"])
	    desc["digest"], desc["size"] = blob(json.dumps(i).encode())
	desc["annotations"] = {"org.opencontainers.image.ref.name": "bad"}
	idx["manifests"].append(desc)
	json.dump(idx, open(d + "/index.json", "w"))
	PY
}

# CODE (on the base config c) <tab> what the message says after "oci:DIR:bad: config: "
base_config_cases() {
	cat <<'EOF'
c = b'{"architecture":"amd64",'	oci:DIR:bad: config:1:
c["config"]["Env"] = "PATH=/bin"	config.Env: a string, not an array of strings
c["config"]["Env"] = ["A=1", 2]	config.Env[1]: an integer, not a string
c["config"]["Entrypoint"] = "/bin/sh"	config.Entrypoint: a string, not an array of strings
c["config"]["Cmd"] = [None]	config.Cmd[0]: null, not a string
c["config"]["User"] = 1000	config.User: an integer, not a string
c["config"]["WorkingDir"] = ["/"]	config.WorkingDir: an array, not a string
c["config"]["ExposedPorts"] = ["80/tcp"]	config.ExposedPorts: an array, not an object
c["config"]["Labels"] = {"a": 1}	config.Labels.a: an integer, not a string
c["config"]["StopSignal"] = 9	config.StopSignal: an integer, not a string
c["config"] = "x"	config: a string, not an object
c["rootfs"]["diff_ids"].append(c["rootfs"]["diff_ids"][0])	rootfs.diff_ids: 2 of them for 1 layers
c["rootfs"]["diff_ids"] = ["sha256:00"]	rootfs.diff_ids[0]: 'sha256:00' is not a sha256 digest
del c["rootfs"]	rootfs: missing
c["os"] = 1	os: an integer, not a string
del c["architecture"]	architecture: missing
c["variant"] = ["v8"]	variant: an array, not a string
c["history"] = [1]	history[0]: an integer, not an object
EOF
}

test_expect_success 'a malformed base config (18 ways): exit 3 naming the base and the field, nothing written' '
	base_config_cases > cfg.cases && test "$(wc -l < cfg.cases)" = 18 &&
	while IFS="	" read -r code says; do
		rebase "$TMP/base" "$TMP/hb" "$code" "" &&
		refused 3 bento containerize demo:1 --base "oci:$TMP/hb:bad" --output "oci:$TMP/x" &&
		case $says in
		oci:DIR*) grep_q err "oci:$TMP/hb:bad${says#oci:DIR:bad}" ;;
		*) grep_q err "oci:$TMP/hb:bad: config: $says" ;;
		esac || { echo "case $code"; return 1; }
		! test -e "$TMP/x/index.json" || return 1
	done < cfg.cases
'

test_expect_success 'a malformed base manifest or index: exit 3 naming it and the field' '
	for c in "m[\"layers\"][0][\"size\"] = \"x\":layers[0].size: a string, not an integer >= 0" \
		"del m[\"schemaVersion\"]:schemaVersion: missing" \
		"m[\"config\"][\"digest\"] = 7:config.digest: an integer, not a string" \
		"m[\"layers\"] = None:layers: null, not an array of descriptors"; do
		rebase "$TMP/base" "$TMP/hb" "" "${c%%:*}" &&
		refused 3 bento containerize demo:1 --base "oci:$TMP/hb:bad" --output "oci:$TMP/x" &&
		grep_q err "oci:$TMP/hb:bad: ${c#*:}" || { echo "case $c"; return 1; }
	done &&
	rebase "$TMP/base" "$TMP/hb" "" "" "i[\"manifests\"][0][\"platform\"][\"os\"] = 1" &&
	refused 3 bento containerize demo:1 --base "oci:$TMP/hb:bad" --output "oci:$TMP/x" &&
	grep_q err "oci:$TMP/hb:bad: manifests[0].platform.os: an integer, not a string" &&
	: the manifest the index picks is read as strictly, and named by its digest &&
	rebase "$TMP/base" "$TMP/hb" "" "del m[\"layers\"]" "pass" &&
	refused 3 bento containerize demo:1 --base "oci:$TMP/hb:bad" --output "oci:$TMP/x" &&
	grep -q "oci:$TMP/hb:bad@sha256:[0-9a-f]*: layers: missing" err &&
	! test -e "$TMP/x/index.json"
'

test_expect_success 'Docker nulls in the base config are absent: the bento adds its own ports and labels' '
	rebase "$TMP/base" "$TMP/nb" "c[\"config\"].update(ExposedPorts=None, Labels=None, Entrypoint=None, Cmd=None, Volumes=None)" "" &&
	bento containerize demo:1 --base "oci:$TMP/nb:bad" --output "oci:$TMP/withnull" > /dev/null 2> err &&
	skc "oci:$TMP/withnull:1" > ncfg.json &&
	py "
import json
c = json.load(open(\"ncfg.json\"))[\"config\"]
assert c[\"ExposedPorts\"] == {\"3000/tcp\": {}}, c
assert c[\"Labels\"][\"dev.bento.name\"] == \"demo\", c
assert c[\"Entrypoint\"] == [\"/usr/local/bin/bento-shim\"], c
assert \"Volumes\" not in c, c"
'

# A full disk: a 1 MiB tmpfs (root can mount one; elsewhere this is skipped).
mkdir -p "$TMP/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2> /dev/null; then
	trap 'umount "$TMP/small" 2> /dev/null; _reg_cleanup' EXIT
	test_expect_success 'a full disk: exit 1 naming the layer and ENOSPC, no image in the layout, no stray file' '
		refused 1 bento containerize demo:1 --output "oci:$TMP/small/img" &&
		grep_q err "No space left on device" && grep_q err "layer" &&
		! grep -q "\"digest\"" "$TMP/small/img/index.json" &&
		test -z "$(ls -A "$TMP/small/img/blobs/sha256" | grep "tmp")" &&
		refused 1 bento containerize demo:1 --output "docker-archive:$TMP/small/img.tar" &&
		grep_q err "No space left on device" &&
		! test -e "$TMP/small/img.tar" && test -z "$(ls -A "$TMP/small" | grep tmp)"
	'
else
	test_count=$((test_count + 1))
	echo "ok $test_count - a full disk # SKIP needs root to mount a small tmpfs"
fi

test_expect_success 'an unreachable registry: exit 5, nothing written, store unchanged' '
	refused 5 bento containerize demo:1 --base 127.0.0.1:1/lib/base:1 --output "oci:$TMP/x" &&
	! test -e "$TMP/x/index.json"
'

# The layers are written without an fsync each (".layer.tmp-" files renamed
# to their digest), then one syncfs, before the config, the manifest and
# index.json that name them.  (LeakSanitizer cannot run under ptrace.)
test_expect_success 'the layers are durable before the index names the image (strace: syncfs, then index.json)' '
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -o trace -e trace=syncfs,rename,renameat2 \
		"$BENTO" containerize demo:1 --output "oci:$TMP/dur" > /dev/null 2>&1 &&
	grep -n . trace | sed -n "s/^\([0-9]*\):.*syncfs(.*= 0$/\1 syncfs/p;
		s/^\([0-9]*\):.*rename(\".*\/\.layer\.tmp-.*= 0$/\1 layer/p;
		s/^\([0-9]*\):.*rename(.*\/index\.json\") = 0$/\1 index/p" > order &&
	test "$(grep -c layer order)" -ge 3 &&
	last_layer=$(grep layer order | tail -n 1 | cut -d" " -f1) &&
	next_index=$(awk -v a="$last_layer" "\$2 == \"index\" && \$1 > a" order | head -n 1 | cut -d" " -f1) &&
	test -n "$next_index" &&
	awk -v a="$last_layer" -v b="$next_index" "\$2 == \"syncfs\" && \$1 > a && \$1 < b" order | grep -q syncfs
'

test_done
