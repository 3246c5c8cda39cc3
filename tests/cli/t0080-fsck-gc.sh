#!/bin/bash
# bento fsck finds damage; bento gc removes exactly the blobs nothing
# references, and -n only counts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkctx "$TMP/ctx" demo

# The blob file of the stored content equal to FILE.
blob_for() { echo "$BENTO_HOME/blobs/sha256/$(sha256sum "$1" | cut -c1-2)/$(sha256sum "$1" | cut -c3-64)"; }

test_expect_success 'setup: two versions sharing most files' '
	bento build ctx --version 1 > /dev/null &&
	cp ctx/service.py old.py &&
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 > /dev/null
'

test_expect_success 'fsck of a clean store: exit 0' '
	bento fsck > out && grep_q out "0 problems" &&
	bento fsck -o json > f.json && test "$(jget f.json ok)" = true &&
	test "$(jget f.json blobs_checked)" = "$(blob_count)" &&
	test "$(jget f.json problems.#len)" = 0
'

test_expect_success 'blobs are where store.h says, read-only, named by their digest' '
	b=$(blob_for ctx/models/emb/weights.bin) && test -f "$b" &&
	test "$(stat -c %a "$b")" = 444 &&
	for f in $(find "$BENTO_HOME/blobs" -type f); do
		test "$(sha256sum "$f" | cut -c1-64)" = "$(echo "$f" | sed "s|.*/sha256/\(..\)/|\1|")" || exit 1
	done
'

test_expect_success 'gc with nothing to collect removes nothing' '
	n=$(blob_count) && bento gc > out && grep_q out "removed 0 blobs" && test "$(blob_count)" = "$n"
'

test_expect_success 'gc -n after a delete counts without removing' '
	bento delete -y demo:1 > /dev/null &&
	n=$(blob_count) &&
	bento gc -n -o json > g.json &&
	test "$(jget g.json dry_run)" = true && test "$(jget g.json blobs)" = 1 &&
	test "$(jget g.json bytes)" -gt 0 &&
	test "$(blob_count)" = "$n" &&
	bento gc --dry-run > out && grep_q out "would remove 1 blob"
'

test_expect_success 'gc removes the unreferenced blob and keeps the referenced ones' '
	old=$(blob_for old.py) && test -f "$old" &&
	n=$(blob_count) &&
	bento gc -o json > g.json && test "$(jget g.json blobs)" = 1 &&
	test "$(jget g.json bytes)" = "$(wc -c < old.py)" &&
	test "$(blob_count)" = $((n - 1)) && ! test -e "$old" &&
	test -f "$(blob_for ctx/service.py)" && test -f "$(blob_for ctx/models/emb/weights.bin)" &&
	bento fsck > /dev/null &&
	bento export demo:2 - > /dev/null
'

test_expect_success 'a model on its own: gc keeps it while tagged, removes it after delete' '
	mkdir m && mkweights m/solo.bin 5000 9 &&
	bento models import m/solo.bin --name solo --version 1 > /dev/null &&
	bento gc > /dev/null && test -f "$(blob_for m/solo.bin)" &&
	bento models delete -y solo:1 > /dev/null &&
	bento gc > /dev/null && ! test -e "$(blob_for m/solo.bin)"
'

test_expect_success 'a flipped byte in a blob: fsck exits 3 naming the digest' '
	cp -a "$BENTO_HOME" c1 &&
	d=$(sha256sum ctx/models/emb/weights.bin | cut -c1-64) &&
	b=c1/blobs/sha256/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-64) &&
	chmod u+w "$b" &&
	printf "\001" | dd of="$b" bs=1 seek=100 conv=notrunc 2> /dev/null &&
	test "$(sha256sum "$b" | cut -c1-64)" != "$d" &&
	{ BENTO_HOME=$TMP/c1 bento fsck > out 2> err; rc=$?; } &&
	test "$rc" = 3 && grep_q out "sha256:$d" &&
	BENTO_HOME=$TMP/c1 bento fsck -o json > f.json; test "$(jget f.json ok)" = false
'

test_expect_success 'a missing blob: fsck exits 3 naming the digest' '
	cp -a "$BENTO_HOME" c2 &&
	d=$(sha256sum ctx/lib/util.py | cut -c1-64) &&
	rm -f c2/blobs/sha256/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-64) &&
	{ BENTO_HOME=$TMP/c2 bento fsck > out 2> err; rc=$?; } &&
	test "$rc" = 3 && grep_q out "sha256:$d"
'

test_expect_success 'a missing model file blob: fsck exits 3 naming the digest' '
	cp -a "$BENTO_HOME" c5 &&
	d=$(sha256sum ctx/models/emb/sub/vocab.bin | cut -c1-64) &&
	rm c5/blobs/sha256/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-64) &&
	{ BENTO_HOME=$TMP/c5 bento fsck > out 2> err; rc=$?; } &&
	test "$rc" = 3 && grep_q out "sha256:$d"
'

test_expect_success 'a truncated blob: fsck exits 3; export refuses to write it' '
	cp -a "$BENTO_HOME" c3 &&
	d=$(sha256sum ctx/models/emb/weights.bin | cut -c1-64) &&
	b=c3/blobs/sha256/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-64) &&
	chmod u+w "$b" && truncate -s 100 "$b" &&
	{ BENTO_HOME=$TMP/c3 bento fsck > out 2> err; rc=$?; } &&
	test "$rc" = 3 && grep_q out "sha256:$d" &&
	{ BENTO_HOME=$TMP/c3 bento export demo:2 c3.bento 2> err; rc=$?; } &&
	test "$rc" != 0 && ! test -e c3.bento && ! ls -A | grep -q "c3.bento.tmp" &&
	echo old > old.bento &&
	{ BENTO_HOME=$TMP/c3 bento export demo:2 old.bento 2> err; rc=$?; } &&
	test "$rc" != 0 && test "$(cat old.bento)" = old && ! ls -A | grep -q "old.bento.tmp"
'

test_expect_success 'a tampered manifest row: fsck exits 3' '
	cp -a "$BENTO_HOME" c4 &&
	python3 -c "
import sqlite3
db = sqlite3.connect(\"c4/store.db\")
rows = db.execute(\"SELECT id, manifest FROM objects WHERE kind = 2\").fetchall()
assert len(rows) == 1, rows
m = bytes(rows[0][1])
t = m.replace(b\"\\\"team\\\":\\\"ml\\\"\", b\"\\\"team\\\":\\\"xx\\\"\")
assert t != m
db.execute(\"UPDATE objects SET manifest = ? WHERE id = ?\", (t, rows[0][0]))
db.commit()
" &&
	{ BENTO_HOME=$TMP/c4 bento fsck > out 2> err; rc=$?; } &&
	test "$rc" = 3 && grep_q out "$(list_digest demo:2)" &&
	{ BENTO_HOME=$TMP/c4 bento export demo:2 c4.bento 2> err; rc=$?; } &&
	test "$rc" = 3 && ! test -e c4.bento
'

test_expect_success 'stale files in tmp/ are not blobs and do not upset fsck' '
	mkdir -p "$BENTO_HOME/tmp" && printf "partial" > "$BENTO_HOME/tmp/stale" &&
	bento fsck > /dev/null && bento gc > /dev/null && bento fsck > /dev/null
'

test_expect_success 'a model force-deleted while a bento uses it keeps its blobs through gc' '
	bento models delete -y --force emb > /dev/null &&
	bento gc > /dev/null &&
	test -f "$(blob_for ctx/models/emb/weights.bin)" &&
	bento fsck > /dev/null &&
	bento export demo:2 x.bento && BENTO_HOME=$TMP/h2 bento import x.bento > /dev/null
'

test_done
