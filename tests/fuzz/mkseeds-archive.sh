#!/bin/bash
# mkseeds-archive.sh [BUILD] - regenerate the committed seeds of fuzz_archive
# and fuzz_bundle (tests/fuzz/corpus/fuzz_archive/, .../fuzz_bundle/) with the
# bento in BUILD (default build): a small bento (a service, a model) exported
# plain, gzip and zstd, signed with the fuzz key tests/fuzz/seed.key (a test
# key, not encrypted, whose public half fuzz_bundle trusts) and unsigned; a
# bento whose paths need pax headers and whose mtime needs base-256; and for
# fuzz_archive a few cases of the hostile corpus (tests/cli/fixtures/mktar.py
# hostile), accepted and refused.  Each seed is a few KiB.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkseeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export BENTO_HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config HOME=$tmp SOURCE_DATE_EPOCH=1700000000
bento() { "$build/bento" "$@" > /dev/null; }
out_a=$src/tests/fuzz/corpus/fuzz_archive
out_b=$src/tests/fuzz/corpus/fuzz_bundle
mkdir -p "$XDG_CONFIG_HOME/bento/keys" "$tmp/tiny/m" "$tmp/wide/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 50))" \
	"$out_a" "$out_b"
cp "$src/tests/fuzz/seed.key" "$XDG_CONFIG_HOME/bento/keys/seed.key"
cp "$src/tests/fuzz/seed.pub" "$XDG_CONFIG_HOME/bento/keys/seed.pub"
chmod 600 "$XDG_CONFIG_HOME/bento/keys/seed.key"

cd "$tmp"
printf '#!/bin/sh\nexec python3 service.py\n' > tiny/run.sh && chmod 755 tiny/run.sh
printf 'print(1)\n' > tiny/service.py
printf 'weights\n' > tiny/m/w.bin
printf 'name: tiny\nversion: "1"\nservice: ./run.sh\nmodels:\n  - name: m\n    path: m\n' > tiny/bentofile.yaml
printf 'x' > "wide/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 50))/$(printf 'f%.0s' $(seq 150))"
printf 'é' > "wide/café-日本"
printf 'name: wide\nversion: "1"\nservice: ./start\n' > wide/bentofile.yaml
printf '#!/bin/sh\n' > wide/start && chmod 755 wide/start

bento build tiny --sign=seed
BENTO_HOME=$tmp/unsigned bento build tiny --version 2
SOURCE_DATE_EPOCH=10413792000 bento build wide
for comp in none gzip zstd; do
	bento export tiny:1 "$tmp/tiny-$comp.bento" --compression "$comp"
done
BENTO_HOME=$tmp/unsigned bento export tiny:2 "$tmp/tiny-unsigned.bento" --compression none
bento export wide:1 "$tmp/wide.bento" --compression none

for f in tiny-none tiny-gzip tiny-zstd tiny-unsigned wide; do
	cp "$tmp/$f.bento" "$out_a/$f.bento"
	cp "$tmp/$f.bento" "$out_b/$f.bento"
done
mkdir hostile
python3 "$src/tests/cli/fixtures/mktar.py" hostile tiny-none.bento hostile
for c in ok-prefix-split ok-parent-dirs ok-redundant-pax ok-gzip-members ok-zstd-frames \
	ok-record-padding global-header-attack gnu-long-name pax-path-differs pax-sparse-1.0 \
	size-base256 dir-with-data lone-zero-block trailer-junk extra-file; do
	cp "hostile/$c.bento" "$out_a/$c.bento"
done
echo "mkseeds-archive: $(ls "$out_a" | wc -l) seeds in $out_a, $(ls "$out_b" | wc -l) in $out_b"
