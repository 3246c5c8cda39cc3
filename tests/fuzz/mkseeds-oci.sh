#!/bin/bash
# mkseeds-oci.sh [BUILD] - regenerate the committed seeds of the OCI JSON
# fuzz targets (tests/fuzz/corpus/fuzz_oci_manifest/, fuzz_oci_index/,
# fuzz_oci_layout/, fuzz_image_base/) from what the real tools write, with
# the bento in BUILD (default build): a small signed bento pushed to an
# oci: layout and to a docker-registry (its sha256-<hex> referrers index),
# that layout copied by skopeo, the bento containerized (its image layout,
# with the provenance referrer), a umoci base image and skopeo's Docker v2
# conversion of it; and a few edge cases written here.  The layout targets
# take a layout as NUL-separated parts with "@Dk"/"@Sk" naming blob k
# (tests/fuzz/fuzz_layout.h): each layout is turned into that form below,
# every JSON blob numbered after the documents that name it, layer tars
# replaced by the harness's empty tar ("@D0").  fuzz_layer_reader writes
# its own seeds (BENTO_FUZZ_SEEDS=DIR build/fuzz/bin/fuzz_layer_reader).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkseeds-oci.XXXXXX")
reg=
cleanup() {
	[ -z "$reg" ] || sh "$src/scripts/registry.sh" stop "$tmp/reg" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
export BENTO_HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config HOME=$tmp SOURCE_DATE_EPOCH=1700000000
export BENTO_KDF_FAST=1 BENTO_SHIM=$build/bento-shim
bento() { "$build/bento" "$@" > /dev/null; }
corpus=$src/tests/fuzz/corpus
M=$corpus/fuzz_oci_manifest I=$corpus/fuzz_oci_index L=$corpus/fuzz_oci_layout B=$corpus/fuzz_image_base
mkdir -p "$M" "$I" "$L" "$B"
cd "$tmp"

mkdir -p ctx/m
printf '#!/bin/sh\nexec python3 service.py\n' > ctx/run.sh && chmod 755 ctx/run.sh
printf 'print(1)\n' > ctx/service.py
printf 'weights\n' > ctx/m/w.bin
printf 'name: tiny\nversion: "1"\nservice: ./run.sh\nmodels:\n  - name: m\n    path: m\nimage:\n  ports: [8080]\n' \
	> ctx/bentofile.yaml
bento key generate --no-password
bento build ctx --sign
bento push tiny:1 "oci:$tmp/lay"
skopeo copy -q --insecure-policy "oci:$tmp/lay:1" "oci:$tmp/lay2:1"
bento containerize tiny:1 --output "oci:$tmp/img"

# a umoci base with a user and an env, and skopeo's Docker v2 form of it
mkdir -p rfs/etc && printf 'root:x:0:0::/root:/bin/sh\n' > rfs/etc/passwd
umoci init --layout base && umoci new --image base:1
umoci insert --image base:1 rfs / > /dev/null
umoci config --image base:1 --config.user 1000 --config.env BASE=1 --config.exposedports 80/tcp
skopeo copy -q --insecure-policy --format v2s2 "oci:$tmp/base:1" "dir:$tmp/v2s2"

# the registry's referrers fallback index, as bento writes it
out=$(sh "$src/scripts/registry.sh" start "$tmp/reg") && reg=1
bento push tiny:1 "127.0.0.1:${out% *}/seed/tiny"
man=$(python3 -c 'import json,sys; print([m["digest"] for m in json.load(open(sys.argv[1]))["manifests"]
      if m.get("annotations",{}).get("org.opencontainers.image.ref.name") == "1"][0])' lay/index.json)
curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" \
	"http://127.0.0.1:${out% *}/v2/seed/tiny/manifests/sha256-${man#sha256:}" > "$I/referrers-fallback-tag.json"

blob() { cat "$1/blobs/sha256/${2#sha256:}"; }
tagged() {	# tagged DIR TAG: the digest of the manifest tagged TAG
	python3 -c 'import json,sys; print([m["digest"] for m in json.load(open(sys.argv[1]))["manifests"]
	      if m.get("annotations",{}).get("org.opencontainers.image.ref.name") == sys.argv[2]][0])' \
		"$1/index.json" "$2"
}
untagged() {	# untagged DIR ARTIFACTTYPE: the first untagged manifest whose artifactType is that
	for d in $(python3 -c 'import json,sys; print(" ".join(m["digest"] for m in json.load(open(sys.argv[1]))["manifests"]
	      if "annotations" not in m))' "$1/index.json"); do
		if blob "$1" "$d" | grep -q "\"artifactType\":\"$2\""; then echo "$d"; return; fi
	done
}

# fuzz_oci_manifest
blob lay "$(tagged lay 1)" > "$M/bento-artifact.json"
blob lay "$(untagged lay application/vnd.bento.signature.v1)" > "$M/bento-signature-referrer.json"
blob lay "$(untagged lay application/vnd.in-toto+json)" > "$M/bento-provenance-referrer.json"
blob img "$(tagged img 1)" > "$M/containerize-image.json"
blob base "$(tagged base 1)" > "$M/umoci-image.json"
cp v2s2/manifest.json "$M/skopeo-docker-v2s2.json"
printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha512:%0128d","size":0,"urls":["https://example.com/l"],"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}],"x-unknown":[1.5,null,{}]}' 0 \
	> "$M/edge-no-mediatype-sha512-data.json"

# fuzz_oci_index
cp lay/index.json "$I/bento-layout-index.json"
cp lay2/index.json "$I/skopeo-layout-index.json"
cp base/index.json "$I/umoci-layout-index.json"
cp img/index.json "$I/containerize-layout-index.json"
cat > "$I/docker-manifest-list.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"$(tagged base 1)","size":429,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:$(printf '%064d' 0)","size":429,"platform":{"architecture":"arm","os":"linux","variant":"v7","features":["sse4"],"os.version":"10.0.17763.1879","os.features":["win32k"]}}]}
EOF
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' > "$I/empty-referrers.json"

# layout -> NUL-separated parts with placeholders (fuzz_layout.h)
layout_seed() {	# layout_seed DIR OUT [INDEX_CODE]
	python3 - "$@" <<-'PY'
	import json, sys
	d, out = sys.argv[1], sys.argv[2]
	idx_code = sys.argv[3] if len(sys.argv) > 3 else ""
	def raw(dg):
	    return open("%s/blobs/sha256/%s" % (d, dg[7:]), "rb").read()
	def is_doc(b):
	    try:
	        j = json.loads(b)
	    except Exception:
	        return None
	    return j if isinstance(j, dict) else None
	index = json.load(open(d + "/index.json"))
	exec(idx_code)
	# the blobs reachable from index.json (not through subject), parents first
	kids, texts, order, seen = {}, {}, [], set()
	def descs(j):
	    for k in ("config",):
	        if isinstance(j.get(k), dict): yield j[k]
	    for k in ("layers", "manifests"):
	        for x in j.get(k, []) or []: yield x
	def visit(dg):
	    if dg in seen: return
	    seen.add(dg)
	    try:
	        b = raw(dg)
	    except FileNotFoundError:
	        return
	    if b"\0" in b or len(b) > 16384:
	        return                       # a layer: the harness's empty tar stands for it
	    texts[dg] = b
	    j = is_doc(b)
	    kids[dg] = [x["digest"] for x in descs(j) if isinstance(x, dict) and isinstance(x.get("digest"), str)] if j else []
	    for k in kids[dg]: visit(k)
	    order.append(dg)                 # post-order: children first
	for x in index["manifests"]: visit(x["digest"])
	order.reverse()                      # parents first
	num = {dg: i + 1 for i, dg in enumerate(order[:9])}
	def subst(j):
	    if isinstance(j, dict):
	        if isinstance(j.get("digest"), str) and "size" in j and "mediaType" in j:
	            if j["digest"] in num:
	                k = num[j["digest"]]
	                j["digest"], j["size"] = "@D%d" % k, "@@S%d" % k
	            elif j["digest"] not in texts:
	                j["digest"], j["size"] = "@D0", "@@S0"
	        for k, v in j.items():
	            if k != "subject": subst(v)
	    elif isinstance(j, list):
	        for v in j: subst(v)
	def render(b):
	    j = is_doc(b)
	    if j is None: return b
	    nl = b"\n" if b.endswith(b"\n") else b""
	    again = json.dumps(j, separators=(",", ":"), ensure_ascii=False).encode() + nl
	    if again != b: return b          # not written compactly: kept as it is
	    subst(j)
	    s = json.dumps(j, separators=(",", ":"), ensure_ascii=False)
	    for k in range(10): s = s.replace('"@@S%d"' % k, "@S%d" % k)
	    return s.encode() + nl
	parts = [open(d + "/oci-layout", "rb").read(),
	         render(json.dumps(index, separators=(",", ":"), ensure_ascii=False).encode())]
	parts += [render(texts[dg]) for dg in order[:9]]
	open(out, "wb").write(b"\0".join(parts))
	PY
}

layout_seed lay "$L/bento-signed-layout"
layout_seed lay2 "$L/skopeo-copied-layout"
layout_seed img "$L/containerize-image-layout"
layout_seed base "$L/umoci-base-layout"
printf '{"imageLayoutVersion":"1.0.0"}\0{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"@D1","size":@S1,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}\0{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@D2","size":@S2,"platform":{"architecture":"amd64","os":"linux"}}]}\0{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"@D3","size":@S3},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@D1","size":1}}\0{}' \
	> "$L/edge-nested-index-and-subject"

# fuzz_image_base: the base layouts as containerize reads them (tag "1")
layout_seed base "$B/umoci-base"
cp -r base multi
python3 - multi <<-'PY'
import hashlib, json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = idx["manifests"][0]
plat = lambda a: dict(mediaType=m["mediaType"], digest=m["digest"], size=m["size"],
                      platform={"os": "linux", "architecture": a})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [plat("arm64"), plat("amd64")]}, separators=(",", ":")).encode()
dg = hashlib.sha256(body).hexdigest()
open(d + "/blobs/sha256/" + dg, "wb").write(body)
idx["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + dg,
                     "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "1"}}]
json.dump(idx, open(d + "/index.json", "w"), separators=(",", ":"))
PY
layout_seed multi "$B/multi-platform-base"
# skopeo's Docker v2 conversion as a layout: Docker's config, with its nulls
mkdir -p v2lay/blobs/sha256 && cp base/oci-layout v2lay/
for f in v2s2/*; do
	case $f in */manifest.json|*/version) ;; *) cp "$f" "v2lay/blobs/sha256/${f##*/}" ;; esac
done
h=$(sha256sum < v2s2/manifest.json | cut -c1-64) && cp v2s2/manifest.json "v2lay/blobs/sha256/$h"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
	"$h" "$(stat -c %s v2s2/manifest.json)" > v2lay/index.json
layout_seed v2lay "$B/docker-v2s2-base"
# Docker's config members as null, which containerize takes as absent
cp -r base dnull
python3 - dnull <<-'PY'
import hashlib, json, sys
d = sys.argv[1]
def put(j):
    b = json.dumps(j, separators=(",", ":")).encode()
    h = hashlib.sha256(b).hexdigest()
    open("%s/blobs/sha256/%s" % (d, h), "wb").write(b)
    return "sha256:" + h, len(b)
idx = json.load(open(d + "/index.json"))
m = json.load(open("%s/blobs/sha256/%s" % (d, idx["manifests"][0]["digest"][7:])))
c = json.load(open("%s/blobs/sha256/%s" % (d, m["config"]["digest"][7:])))
c["config"].update(Entrypoint=None, Cmd=None, Labels=None, Volumes=None, OnBuild=None,
                   ExposedPorts=None, WorkingDir="", StopSignal="SIGTERM")
m["config"]["digest"], m["config"]["size"] = put(c)
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(m)
json.dump(idx, open(d + "/index.json", "w"), separators=(",", ":"))
PY
layout_seed dnull "$B/docker-nulls-base"
chmod 644 "$M"/* "$I"/* "$L"/* "$B"/*
ls -l "$M" "$I" "$L" "$B"
