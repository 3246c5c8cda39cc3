#!/bin/bash
# bento import refuses damaged and hostile archives: exit 3 (1 for a bomb
# refused for lack of space), a message naming the archive and the entry,
# and the store as it was: no row, object or tag added, and at most
# unreferenced blobs that bento gc removes (bento-import(1): "file contents
# that were stored before the failure may stay in the store as unreferenced
# blobs").  The hostile corpus comes from fixtures/mktar.py hostile (t0065
# runs the differential check over the same corpus); each of its cases is one
# test here, and the controls in it must import.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password

K=$XDG_CONFIG_HOME/bento/keys
mktar() { python3 "$FIX/mktar.py" "$@"; }

mkctx "$TMP/ctx" victim
# run.sh long enough to hold the attack's payload, as a real start script is
for i in 1 2 3 4 5 6; do
	echo "# start the service; the options and the environment come from bento.json ($i)"
done >> "$TMP/ctx/run.sh"
mkdir -p "$TMP/o"
printf 'print(0)\n' > "$TMP/o/app.py"
printf 'name: other\nversion: "1"\nservice: python3 app.py\n' > "$TMP/o/bentofile.yaml"

test_expect_success 'setup: a good archive, the hostile corpus, and a store with something in it' '
	BENTO_HOME=$TMP/src bento build ctx --version 1 > /dev/null &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento --compression none &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento.zst &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento.gz &&
	bento build o > /dev/null &&
	tar -tf v.bento > list && grep -qx src/service.py list &&
	grep -qx models/emb/weights.bin list &&
	mkdir c && mktar hostile v.bento c && test "$(wc -l < c/cases.tsv)" -gt 100
'

# One test per case: exit code, a message naming the archive and saying
# what is wrong, and the store unchanged; a control imports (into a store of
# its own, so that the others are refused against the same store).
while IFS=$'\t' read -r -u 3 name code frag what; do
	test_expect_success "$name: $what" '
		if [ "$code" = 0 ]; then
			BENTO_HOME=$TMP/ctl bento import "c/$name.bento" > out 2> err
		else
			refused "$code" bento import "c/$name.bento" && grep_q err "c/$name.bento" &&
			{ [ "$frag" = - ] || grep_q err "$frag"; }
		fi
	'
done 3< "$TMP/c/cases.tsv"

test_expect_success 'nothing was written outside the store by any of them' '
	test ! -e /bento-abs-evil && test ! -e "$TMP/evil" && test ! -e "$TMP/evil2" &&
	test ! -e "$BENTO_HOME/../evil"
'

# Issue 9: libarchive ignored a pax global header, so bento verified the
# archive while GNU tar applied it and wrote the signature entry, a shell
# script, as src/run.sh.
test_expect_success 'setup: a key, and the bento signed with it' '
	bento key generate > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/signer bento build ctx --version 1 --sign > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/signer bento export victim:1 signed.bento --compression none &&
	bento verify --require-signature --key "$K/default.pub" signed.bento > out
'

test_expect_success 'the signed archive with a global header and a payload: GNU tar extracts the payload as src/run.sh' '
	mktar attack signed.bento attack.bento src/run.sh &&
	mkdir gnu && tar -xf attack.bento -C gnu &&
	test -x gnu/src/run.sh && ! cmp -s ctx/run.sh gnu/src/run.sh &&
	test "$(stat -c %s gnu/src/run.sh)" = "$(stat -c %s ctx/run.sh)" &&
	sh gnu/src/run.sh 2> /dev/null | grep -qx "PWNED by the archive"
'

test_expect_success 'and bento verify --require-signature refuses it, naming the header' '
	refused 3 bento verify --require-signature --key "$K/default.pub" attack.bento &&
	grep_q err "attack.bento: pax_global_header: refusing entry: pax global header (type g)"
'

test_expect_success 'and bento import --require-signature refuses it, storing nothing' '
	refused 3 bento import --require-signature --key "$K/default.pub" attack.bento &&
	grep_q err "pax global header (type g)" &&
	BENTO_HOME=$TMP/ok bento import --require-signature --key "$K/default.pub" signed.bento > /dev/null
'

test_expect_success 'sparse files, from GNU tar and with bad maps: "sparse file", not "unknown error"' '
	mkdir sp && printf x | dd of=sp/holes bs=1 seek=1048576 2> /dev/null &&
	tar --sparse --format=gnu -C sp -cf gnu-sparse.tar holes &&
	tar --sparse --format=posix -C sp -cf pax-sparse.tar holes &&
	mktar splice v.bento gnu-sparse.tar c/gnutar-sparse-gnu.bento &&
	mktar splice v.bento pax-sparse.tar c/gnutar-sparse-pax.bento &&
	for f in c/gnutar-sparse-*.bento c/pax-sparse-*.bento c/gnu-sparse*.bento; do
		refused 3 bento import $f && grep_q err "$f: " &&
		grep_q err "refusing entry: sparse file" && ! grep -q "unknown error" err || exit 1
	done
'

test_expect_success 'a directory with data: "directory with data", not "missing end-of-archive marker"' '
	refused 3 bento import c/dir-with-data.bento &&
	grep_q err "src/: refusing entry: directory with data (512 bytes)" &&
	! grep -q "end-of-archive" err
'

test_expect_success '4 GiB of zeros after the end marker (zstd, as the zstd command writes it): refused' '
	mktar trailer v.bento trailer.zst 4096 && test "$(stat -c %s trailer.zst)" -lt 1000000 &&
	refused 3 bento import trailer.zst &&
	grep_q err "trailer.zst: more than 1048576 bytes after the end-of-archive marker"
'

test_expect_success '1 TiB of zeros after the end marker: refused having read a bounded part of the input' '
	mktar rle v.bento rle.zst 1024 && test "$(stat -c %s rle.zst)" -gt 30000000 &&
	python3 -c "
import subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=open(\"err\", \"wb\"))
fed = 0
with open(sys.argv[1], \"rb\") as f:
    try:
        while fed < 40 << 20:
            chunk = f.read(65536)
            if not chunk:
                break
            p.stdin.write(chunk)
            fed += len(chunk)
        p.stdin.close()
    except BrokenPipeError:
        pass
print(fed, p.wait())
" rle.zst timeout 30 "$BENTO" import - > fed &&
	read -r fed rc < fed && test "$rc" = 3 && test "$fed" -lt $((4 << 20)) &&
	grep_q err "more than 1048576 bytes after the end-of-archive marker"
'

test_expect_success 'attestations: at most 1 MiB, as bento-archive(5) and bento-import(1) say' '
	grep -q "an attestation entry at most 1 MiB" "$SRC/man/bento-archive.5" &&
	grep -q "of at most 1 MiB (at most 256 of each, at most 16 MiB of both together" "$SRC/man/bento-import.1" &&
	! grep -q "attestation entry at most 16 MiB" "$SRC/man/bento-archive.5" &&
	head -c $((1 << 20)) /dev/zero | tr "\0" x > att &&
	python3 "$FIX/trustkit.py" put v.bento att-ok.bento attestations/big.dsse.json att &&
	refused 3 bento import att-ok.bento && ! grep -q "more than" err &&
	echo x >> att &&
	python3 "$FIX/trustkit.py" put v.bento att-big.bento attestations/big.dsse.json att &&
	refused 3 bento import att-big.bento &&
	grep_q err "att-big.bento: attestations/big.dsse.json: 1048578 bytes, more than the 1048576 an attestation may have"
'

for comp in gzip zstd; do
	test_expect_success "a $comp bomb declaring a 1 TiB file is refused quickly, writing nothing" "
		mktar bomb v.bento bomb.$comp src/service.py $comp &&
		test \$(stat -c %s bomb.$comp) -lt 2000000 &&
		start=\$(date +%s) &&
		refused '1|3' bento import bomb.$comp &&
		test \$((\$(date +%s) - start)) -lt 20 &&
		grep_q err 'bento: error:' &&
		test \$(du -sk \"\$BENTO_HOME\" | cut -f1) -lt 20000
	"
done

# Issue 9: one set of caps on what a bento carries besides its content, the
# same for import, pull and push (store.h): 256 signatures, 256
# attestations, 16 MiB of them in all.
ak() { python3 "$FIX/attachkit.py" "$@"; }

test_expect_success 'setup: the provenance of the archive, padded to 2 KiB and to 1 MiB' '
	tar -xOf v.bento attestations/provenance.dsse.json > prov.json &&
	ak pad prov.json 2048 small.json && ak pad prov.json 1048576 big.json
'

test_expect_success '256 attestations import (the cap); 257 are refused, exit 3, the store as it was' '
	ak archive v.bento a255.bento 255 small.json &&
	BENTO_HOME=$TMP/ctl256 bento import a255.bento > /dev/null 2> err &&
	ak archive v.bento a256.bento 256 small.json &&
	refused_exactly 3 bento import a256.bento &&
	grep_q err "a256.bento: attestations/" &&
	grep_q err "dsse.json: more than the 256 attestations a bento may carry"
'

test_expect_success 'attestations of more than 16 MiB in all: refused, exit 3, the store as it was' '
	ak archive v.bento a17.bento 17 big.json &&
	refused_exactly 3 bento import a17.bento &&
	grep_q err "a17.bento: attestations/p00" &&
	grep_q err "more than the 16777216 bytes (16 MiB) of signatures and attestations a bento may carry"
'

test_expect_success 'a bento.json whose sizes add up to 2^64 plus its size: exit 3, says so' '
	tar -xOf v.bento bento.json > bj && ak overflow bj ovf.json &&
	python3 "$FIX/trustkit.py" put v.bento ovf.bento bento.json ovf.json &&
	refused_exactly 3 bento import ovf.bento &&
	grep_q err "ovf.bento: bento.json: sizes add up to more than 9223372036854775807 bytes"
'

test_expect_success 'a refused import into a store that does not exist leaves none' '
	BENTO_HOME=$TMP/never refused_exactly 3 bento import a17.bento && test ! -e "$TMP/never" &&
	mkdir "$TMP/empty" &&
	BENTO_HOME=$TMP/empty refused_exactly 3 bento import ovf.bento &&
	test -d "$TMP/empty" && test -z "$(ls -A "$TMP/empty")"
'

test_expect_success 'random bytes' '
	head -c 100000 /dev/urandom > rnd.bento &&
	refused 3 bento import rnd.bento && grep_q err "rnd.bento: not a tar archive"
'

test_expect_success 'an empty file' '
	: > empty.bento &&
	refused 3 bento import empty.bento && grep_q err "not a tar archive (empty input)"
'

test_expect_success 'an empty stdin' '
	refused 3 bento import - < /dev/null
'

test_expect_success 'after all that, the store is clean and nothing is left in tmp/' '
	bento fsck > out && grep_q out "0 problems" &&
	{ ! test -d "$BENTO_HOME/tmp" || test -z "$(find "$BENTO_HOME/tmp" -type f)"; } &&
	bento list -o json > l.json && test "$(jget l.json "*.name")" = other
'

test_expect_success 'and the good archives still import' '
	bento import v.bento > /dev/null && bento import v.bento.zst > /dev/null &&
	bento import v.bento.gz > /dev/null && bento fsck > /dev/null
'

test_done
