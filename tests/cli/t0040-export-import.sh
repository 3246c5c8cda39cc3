#!/bin/bash
# bento export / bento import: file names, stdout/stdin, compression, the
# archive layout, and round trips into fresh stores.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkctx "$TMP/ctx" demo

magic() { od -An -tx1 -N4 "$1" | tr -d ' \n'; }
ustar() { dd if="$1" bs=1 skip=257 count=5 2> /dev/null; }

test_expect_success 'setup' '
	bento build ctx --version 1 -o json > b.json && jget b.json digest > d &&
	mkdir outdir
'

test_expect_success 'export with no FILE writes NAME-VERSION.bento' '
	bento export demo > msg &&
	test -s demo-1.bento &&
	grep_q msg "exported demo:1 to demo-1.bento" &&
	test "$(ustar demo-1.bento)" = ustar
'

test_expect_success 'export to a path' '
	bento export demo:1 outdir/x.bento -o json > e.json &&
	test "$(jget e.json file)" = outdir/x.bento &&
	test "$(jget e.json digest)" = "$(cat d)" &&
	cmp demo-1.bento outdir/x.bento &&
	! ls outdir | grep -v "^x.bento$"
'

test_expect_success 'the default file name comes from the tag REF resolved to' '
	bento tag demo:1 demo:stable > /dev/null &&
	bento export demo:stable > msg && grep_q msg "to demo-stable.bento" &&
	cmp demo-stable.bento demo-1.bento
'

test_expect_success 'the archive file is 0644 whatever the umask, and no temporary is left' '
	(umask 077 && bento export demo:1 outdir/m.bento) &&
	test "$(stat -c %a outdir/m.bento)" = 644 &&
	! ls outdir | grep -q tmp
'

test_expect_success 'export to - writes the archive on stdout and nothing else' '
	bento export demo:1 - > s.bento 2> err &&
	cmp demo-1.bento s.bento
'

test_expect_success '--compression gzip' '
	bento export demo:1 g.bento --compression gzip &&
	test "$(magic g.bento)" = 1f8b0800 &&
	gzip -dc g.bento > g.tar && cmp g.tar demo-1.bento
'

test_expect_success '--compression zstd' '
	bento export demo:1 z.bento --compression zstd &&
	test "$(magic z.bento)" = 28b52ffd &&
	zstd -dqc z.bento > z.tar && cmp z.tar demo-1.bento
'

test_expect_success '--compression none' '
	bento export demo:1 n.bento.zst --compression none &&
	cmp n.bento.zst demo-1.bento
'

test_expect_success 'a .zst or .gz file name picks the compression' '
	bento export demo:1 auto.bento.zst && test "$(magic auto.bento.zst)" = 28b52ffd &&
	bento export demo:1 auto.bento.gz && test "$(magic auto.bento.gz | cut -c1-4)" = 1f8b &&
	cmp auto.bento.zst z.bento && cmp auto.bento.gz g.bento
'

test_expect_success 'compressed export to stdout' '
	bento export demo:1 - --compression zstd > sz.bento && cmp sz.bento z.bento
'

test_expect_code 2 'an unknown compression is a usage error' 'bento export demo:1 q.bento --compression lz4'
test_expect_code 4 'export of an unknown bento' 'bento export nope:1 q.bento'
test_expect_success 'a failed export leaves no file behind' '
	bento export nope:1 q.bento; ! ls | grep -q "^q\.bento"'

test_expect_success 'tar lists bento.json first, the provenance, then every path sorted bytewise' '
	tar -tf demo-1.bento > list &&
	head -n 1 list | grep -qx bento.json &&
	sed -n 2p list | grep -qx attestations/provenance.dsse.json &&
	bento get demo:1 -o json > g.json &&
	{ jget g.json "files.*.path"
	  python3 -c "
import json
for m in json.load(open(\"g.json\"))[\"models\"]:
    for f in m[\"manifest\"][\"files\"]:
        print(\"models/%s/%s\" % (m[\"name\"], f[\"path\"]))"; } | LC_ALL=C sort > want &&
	tail -n +3 list > rest &&
	cmp want rest &&
	grep -qx models/emb/sub/vocab.bin rest && grep -qx env/requirements.txt rest
'

test_expect_success 'every header is normalised' '
	python3 "$FIX/mktar.py" mtimes demo-1.bento > hdr &&
	! grep -v " 0 0 0 - - 644 reg$" hdr | grep -v "^src/run.sh 0 0 0 - - 755 reg$" &&
	grep -q "^src/run.sh 0 0 0 - - 755 reg$" hdr
'

test_expect_success 'bento.json in the archive is the canonical manifest' '
	tar -xOf demo-1.bento bento.json > bj &&
	test "sha256:$(sha256sum bj | cut -c1-64)" = "$(cat d)"
'

for f in demo-1.bento g.bento z.bento; do
	test_expect_success "import $f into a fresh store gives the same digest" "
		BENTO_HOME=\$TMP/h-$f bento import $f -o json > i.json &&
		test \"\$(jget i.json digest)\" = \"\$(cat d)\" &&
		test \"\$(jget i.json name)\" = demo && test \"\$(jget i.json version)\" = 1 &&
		BENTO_HOME=\$TMP/h-$f bento get demo:1 -o json > g2.json &&
		bento get demo:1 -o json > g1.json && cmp g1.json g2.json &&
		BENTO_HOME=\$TMP/h-$f bento fsck > /dev/null
	"
done

test_expect_success 'import brings the models along' '
	BENTO_HOME=$TMP/h-demo-1.bento bento models list -o json > ml.json &&
	test "$(jget ml.json "*.name")" = emb &&
	bento models list -o json > ml0.json &&
	test "$(jget ml.json 0.digest)" = "$(jget ml0.json 0.digest)"
'

test_expect_success 'import from stdin' '
	BENTO_HOME=$TMP/h-stdin bento import - < z.bento > out &&
	head -n 1 out | grep -q "^imported demo:1" &&
	test "$(digest_of_text out)" = "$(cat d)"
'

test_expect_success 'importing what is already there says so and changes nothing' '
	before=$(BENTO_HOME=$TMP/h-stdin store_state) &&
	: a second later, so that a time written again would show &&
	sleep 1.1 &&
	BENTO_HOME=$TMP/h-stdin bento import demo-1.bento -o json > i.json &&
	test "$(jget i.json existed)" = true &&
	test "$(BENTO_HOME=$TMP/h-stdin store_state)" = "$before"
'

test_expect_success 'an imported bento exports to the same bytes' '
	BENTO_HOME=$TMP/h-stdin bento export demo:1 again.bento &&
	cmp again.bento demo-1.bento &&
	BENTO_HOME=$TMP/h-stdin bento export demo:1 again.bento.zst &&
	cmp again.bento.zst z.bento
'

test_expect_success 'import into a store that has the files already (blobs shared)' '
	bento export demo:1 - | BENTO_HOME=$TMP/h-stdin bento import - > /dev/null &&
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 > /dev/null && bento export demo:2 v2.bento &&
	n0=$(BENTO_HOME=$TMP/h-stdin blob_count) &&
	BENTO_HOME=$TMP/h-stdin bento import v2.bento > /dev/null &&
	test "$(BENTO_HOME=$TMP/h-stdin blob_count)" = $((n0 + 1))
'

test_expect_code 4 'import of a missing file' 'bento import nothere.bento'
test_expect_code 2 'import without FILE' 'bento import'

# Export reads the store's blobs ahead of the archive writer (small ones
# whole, big ones streamed): a damaged blob of either kind stops the export
# by name, and nothing is left where the archive would have gone.
blob_of() { printf '%s/blobs/sha256/%s/%s' "$BENTO_HOME" "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-64)"; }
test_expect_success 'setup: a store with small and big files to damage' '
	export BENTO_HOME=$TMP/h-dmg &&
	mkdir -p dmg/data &&
	printf "#!/bin/sh\n" > dmg/run.sh &&
	for i in 1 2 3 4 5 6 7 8; do printf "small %s\n" $i > dmg/data/s$i.txt; done &&
	head -c 3000000 /dev/urandom > dmg/data/big.bin &&
	printf "name: dmg\nservice: [\"./run.sh\"]\ninclude: [\"run.sh\", \"data/**\"]\n" > dmg/bentofile.yaml &&
	bento build dmg --version 1 > /dev/null &&
	bento export dmg:1 dmg-good.bento &&
	for f in s5.txt big.bin; do sha256sum dmg/data/$f | cut -c1-64 > $f.d; done
'
damage() {	# damage FILE HOW: shorten, lengthen or remove its blob
	b=$(blob_of "$(cat "$1.d")") && chmod u+w "$b" &&
	case $2 in
	shorten) truncate -s -1 "$b" ;;
	lengthen) printf x >> "$b" ;;
	remove) rm "$b" ;;
	esac
}
repair() { cp "dmg/data/$1" "$(blob_of "$(cat "$1.d")")"; }
for how in shorten lengthen remove; do
	for f in s5.txt big.bin; do
		case $how in
		shorten) why="file shrank while writing" code=3 ;;
		lengthen) why="file grew while writing" code=3 ;;
		remove) why="is not in the store" code=4 ;;
		esac
		test_expect_success "export stops at a $how blob ($f) by name, leaving nothing" "
			export BENTO_HOME=\$TMP/h-dmg &&
			damage $f $how &&
			{ bento export dmg:1 out-dmg.bento 2> err; echo \$? > rc; } &&
			test \$(cat rc) = $code &&
			grep_q err 'data/$f' && grep_q err '$why' &&
			test ! -e out-dmg.bento && ! ls -a | grep -q '^\.out-dmg' &&
			repair $f &&
			bento export dmg:1 out-dmg.bento && cmp out-dmg.bento dmg-good.bento && rm out-dmg.bento
		"
	done
done

# A small blob's file is made with its final mode, a big one chmod-ed once
# written: either way every blob is 0444, whatever the umask.
for u in 022 077 0222 0444; do
	test_expect_success "every blob is 0444 under umask $u, built or imported" "
		(umask $u && BENTO_HOME=\$TMP/h-u$u-b bento build dmg --version 1 > /dev/null &&
		 BENTO_HOME=\$TMP/h-u$u-i bento import dmg-good.bento > /dev/null) &&
		for h in \$TMP/h-u$u-b \$TMP/h-u$u-i; do
			test \$(find \$h/blobs -type f | wc -l) -ge 10 &&
			test -z \"\$(find \$h/blobs -type f ! -perm 0444)\" || return 1
		done
	"
done

test_done
