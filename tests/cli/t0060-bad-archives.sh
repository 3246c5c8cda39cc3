#!/bin/bash
# bento import refuses damaged and hostile archives: exit 3 (1 for a bomb
# refused for lack of space), a message naming the entry, and the store
# as it was: no row, object or tag added, and at most unreferenced blobs that
# bento gc removes (bento-import(1): "file contents that were stored before
# the failure may stay in the store as unreferenced blobs").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mktar() { python3 "$FIX/mktar.py" "$@"; }

mkctx "$TMP/ctx" victim
mkdir -p "$TMP/o"
printf 'print(0)\n' > "$TMP/o/app.py"
printf 'name: other\nversion: "1"\nservice: python3 app.py\n' > "$TMP/o/bentofile.yaml"

test_expect_success 'setup: a good archive, and a target store with something in it' '
	BENTO_HOME=$TMP/src bento build ctx --version 1 > /dev/null &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento --compression none &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento.zst &&
	BENTO_HOME=$TMP/src bento export victim:1 v.bento.gz &&
	bento build o > /dev/null &&
	tar -tf v.bento > list && grep -qx src/service.py list &&
	grep -qx models/emb/weights.bin list
'

test_expect_success 'control: a rewritten copy of the archive still imports' '
	mktar copy v.bento copy.bento &&
	BENTO_HOME=$TMP/ctl bento import copy.bento > /dev/null &&
	BENTO_HOME=$TMP/ctl bento import v.bento.zst -o json > i.json &&
	test "$(jget i.json existed)" = true
'

test_expect_success 'a flipped byte in the last content file' '
	mktar flip v.bento bad.bento src/service.py &&
	refused 3 bento import bad.bento && grep_q err src/service.py
'

test_expect_success 'a flipped byte in a model file' '
	mktar flip v.bento bad.bento models/emb/weights.bin &&
	refused 3 bento import bad.bento && grep_q err models/emb/weights.bin
'

test_expect_success 'a flipped byte in bento.json' '
	mktar flip v.bento bad.bento bento.json &&
	refused 3 bento import bad.bento && grep_q err bento.json
'

test_expect_success 'a flipped byte inside the zstd stream' '
	cp v.bento.zst bad.zst &&
	size=$(stat -c %s bad.zst) &&
	printf "\377" | dd of=bad.zst bs=1 seek=$((size / 2)) conv=notrunc 2> /dev/null &&
	! cmp -s bad.zst v.bento.zst &&
	refused 3 bento import bad.zst
'

test_expect_success 'a flipped byte inside the gzip stream' '
	cp v.bento.gz bad.gz &&
	size=$(stat -c %s bad.gz) &&
	printf "\125" | dd of=bad.gz bs=1 seek=$((size / 2)) conv=notrunc 2> /dev/null &&
	! cmp -s bad.gz v.bento.gz &&
	refused 3 bento import bad.gz
'

test_expect_success 'an extra file not listed in bento.json' '
	mktar add v.bento bad.bento file src/extra.txt last &&
	refused 3 bento import bad.bento && grep_q err src/extra.txt
'

test_expect_success 'a listed file missing from the archive' '
	mktar drop v.bento bad.bento src/lib/util.py &&
	refused 3 bento import bad.bento && grep_q err src/lib/util.py
'

test_expect_success 'a ../ path' '
	mktar add v.bento bad.bento file ../evil first &&
	refused 3 bento import bad.bento && grep_q err ../evil &&
	test ! -e "$TMP/evil" && test ! -e "$BENTO_HOME/../evil"
'

test_expect_success 'a ../ path inside src/' '
	mktar add v.bento bad.bento file src/../../evil2 last &&
	refused 3 bento import bad.bento && grep_q err evil2 &&
	test ! -e "$TMP/evil2"
'

test_expect_success 'an absolute path' '
	mktar add v.bento bad.bento file "$TMP/abs-evil" first &&
	refused 3 bento import bad.bento && grep_q err abs-evil &&
	test ! -e "$TMP/abs-evil"
'

test_expect_success 'a backslash in a name' '
	mktar add v.bento bad.bento file "src\\evil" first &&
	refused 3 bento import bad.bento && grep_q err evil
'

test_expect_success 'a control character in a name' '
	mktar add v.bento bad.bento file "$(printf "src/a\001b")" last &&
	refused 3 bento import bad.bento
'

test_expect_success 'a directory entry at the path of a listed file' '
	mktar add v.bento bad.bento dir src/run.sh last &&
	refused 3 bento import bad.bento && grep_q err src/run.sh
'

test_expect_success 'a character device' '
	mktar add v.bento bad.bento chardev src/null first &&
	refused 3 bento import bad.bento && grep_q err src/null
'

test_expect_success 'a block device' '
	mktar add v.bento bad.bento blockdev src/disk last &&
	refused 3 bento import bad.bento && grep_q err src/disk
'

test_expect_success 'a fifo' '
	mktar add v.bento bad.bento fifo src/pipe first &&
	refused 3 bento import bad.bento && grep_q err src/pipe
'

test_expect_success 'a symlink' '
	mktar add v.bento bad.bento symlink src/link first /etc/passwd &&
	refused 3 bento import bad.bento && grep_q err src/link
'

test_expect_success 'a symlink named like a listed file' '
	mktar drop v.bento tmp.bento src/service.py &&
	mktar add tmp.bento bad.bento symlink src/service.py last ../../../etc/passwd &&
	refused 3 bento import bad.bento && grep_q err src/service.py
'

test_expect_success 'a hard link' '
	mktar add v.bento bad.bento hardlink src/hl last src/run.sh &&
	refused 3 bento import bad.bento && grep_q err src/hl
'

test_expect_success 'a directory entry nothing is listed under' '
	mktar add v.bento bad.bento dir evil first &&
	refused 3 bento import bad.bento && grep_q err evil
'

test_expect_success 'a duplicate entry' '
	mktar dup v.bento bad.bento src/lib/util.py &&
	refused 3 bento import bad.bento && grep_q err src/lib/util.py
'

test_expect_success 'bento.json not first' '
	mktar move-manifest v.bento bad.bento &&
	refused 3 bento import bad.bento && grep_q err bento.json
'

test_expect_success 'truncated archives, cut inside every header and every file' '
	mktar cuts v.bento > cuts && test "$(wc -l < cuts)" -gt 10 &&
	fails=0 &&
	while read -r n; do
		head -c "$n" v.bento > cut.bento &&
		if ! refused 3 bento import cut.bento; then
			echo "cut at $n bytes:"; fails=$((fails + 1))
		fi
	done < cuts &&
	test "$fails" = 0
'

test_expect_success 'a missing end-of-archive marker, or half of it' '
	end=$(mktar end v.bento) && test "$end" -lt "$(stat -c %s v.bento)" &&
	head -c "$end" v.bento > cut.bento &&
	refused 3 bento import cut.bento &&
	head -c $((end + 512)) v.bento > cut.bento &&
	refused 3 bento import cut.bento
'

test_expect_success 'truncated compressed archives' '
	size=$(stat -c %s v.bento.zst) && fails=0 &&
	for n in 10 100 $((size / 3)) $((size / 2)) $((size - 20)); do
		head -c "$n" v.bento.zst > cut.zst &&
		if ! refused 3 bento import cut.zst; then
			echo "zstd cut at $n bytes:"; fails=$((fails + 1))
		fi
	done &&
	size=$(stat -c %s v.bento.gz) &&
	for n in 10 $((size / 2)) $((size - 4)); do
		head -c "$n" v.bento.gz > cut.gz &&
		if ! refused 3 bento import cut.gz; then
			echo "gzip cut at $n bytes:"; fails=$((fails + 1))
		fi
	done &&
	test "$fails" = 0
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

test_expect_success 'random bytes' '
	head -c 100000 /dev/urandom > rnd.bento &&
	refused 3 bento import rnd.bento
'

test_expect_success 'an empty file' '
	: > empty.bento &&
	refused 3 bento import empty.bento
'

test_expect_success 'an empty stdin' '
	refused 3 bento import - < /dev/null
'

test_expect_success 'after all that, the store is clean and nothing is left in tmp/' '
	bento fsck > out && grep_q out "0 problems" &&
	{ ! test -d "$BENTO_HOME/tmp" || test -z "$(find "$BENTO_HOME/tmp" -type f)"; } &&
	bento list -o json > l.json && test "$(jget l.json "*.name")" = other
'

test_expect_success 'and the good archive still imports' '
	bento import v.bento > /dev/null && bento fsck > /dev/null
'

test_done
