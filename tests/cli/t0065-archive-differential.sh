#!/bin/bash
# Differential testing of the archive reader (bento-archive(5), "Accepted
# headers"): every archive bento accepts extracts to exactly the same paths,
# modes and bytes with GNU tar, bsdtar and Python's tarfile as bento's own
# view of it (build/tests/tarview, the library reader that import and verify
# walk), and every archive bento refuses imports nothing.  The archives:
# bento's own exports (plain, gzip, zstd, with long and non-ASCII paths, an
# mtime past 2242, signatures and provenance), the hostile corpus t0060 runs
# (fixtures/mktar.py hostile), archives GNU tar writes, and the committed
# fuzz seeds.  `make fuzz-differential` runs the same check over what the
# fuzzers found (build/fuzz/corpus-fuzz_archive and -fuzz_bundle).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password

K=$XDG_CONFIG_HOME/bento/keys
TARVIEW=$BUILD/tests/tarview
mktar() { python3 "$FIX/mktar.py" "$@"; }
tardiff() { timeout 600 python3 "$FIX/tardiff.py" "$TARVIEW" "$@"; }
# the summary line's count of accepted archives
accepted() { sed -n 's/^tardiff: [0-9]* inputs, \([0-9]*\) accepted.*/\1/p' "$1"; }

mkctx "$TMP/ctx" victim
for i in 1 2 3 4 5 6; do
	echo "# start the service; the options and the environment come from bento.json ($i)"
done >> "$TMP/ctx/run.sh"
# Paths that need pax headers, sizes at block boundaries, an empty file.
mkdir -p "$TMP/wide/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 60))" "$TMP/wide/données"
printf 'print(1)\n' > "$TMP/wide/app.py"
printf 'x' > "$TMP/wide/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 60))/$(printf 'f%.0s' $(seq 150)).txt"
printf 'é\n' > "$TMP/wide/données/café-日本.txt"
head -c 512 /dev/zero > "$TMP/wide/block512"
head -c 513 /dev/zero > "$TMP/wide/block513"
: > "$TMP/wide/empty"
printf '#!/bin/sh\n' > "$TMP/wide/start" && chmod 755 "$TMP/wide/start"
printf 'name: wide\nversion: "1"\nservice: ./start\n' > "$TMP/wide/bentofile.yaml"

test_expect_success 'setup: signed bentos exported three ways, and the hostile corpus' '
	bento key generate > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/src bento build ctx --version 1 --sign > /dev/null 2>&1 &&
	SOURCE_DATE_EPOCH=10413792000 BENTO_HOME=$TMP/src bento build wide --sign > /dev/null 2>&1 &&
	mkdir own c &&
	for b in victim:1 wide:1; do
		for comp in none gzip zstd; do
			BENTO_HOME=$TMP/src bento export $b own/${b%:1}-$comp.bento --compression $comp \
				> /dev/null || exit 1
		done
	done &&
	tar -tvf own/wide-none.bento > list && grep -q "données/café-日本.txt" list &&
	grep -q " 2300-" list &&
	mktar hostile own/victim-none.bento c && test "$(wc -l < c/cases.tsv)" -gt 100
'

test_expect_success 'bento refuses what it does not read the way tar does (the check is not vacuous)' '
	mktar attack own/victim-none.bento attack.bento src/run.sh &&
	test_must_refuse() { ! "$TARVIEW" "$1" > /dev/null 2>&1; } &&
	test_must_refuse attack.bento &&
	"$TARVIEW" own/victim-none.bento > view &&
	printf "#!/bin/sh\ncat %s\n" "$TMP/view" > fakeview && chmod +x fakeview &&
	! timeout 600 python3 "$FIX/tardiff.py" ./fakeview attack.bento > out &&
	grep_q out "attack.bento: gnutar disagrees with bento:" &&
	grep_q out "attack.bento: python disagrees with bento:" &&
	grep_q out "src/run.sh: bento f 0755"
'

test_expect_success "bento's own exports: all accepted, and the three readers agree" '
	tardiff own > out && cat out &&
	grep_q out "tardiff: 6 inputs, 6 accepted (all three readers agree), 0 refused"
'

test_expect_success 'the hostile corpus: the three readers agree on every archive bento accepts' '
	tardiff --accepted acc c > out && cat out &&
	grep_q out "(all three readers agree)" &&
	test "$(accepted out)" -ge "$(awk -F "\t" "\$2 == 0" c/cases.tsv | wc -l)"
'

test_expect_success 'and every control of the corpus is among them' '
	awk -F "\t" "\$2 == 0 { print \"c/\" \$1 \".bento\" }" c/cases.tsv | sort > controls &&
	sed "s|^$TMP/||" acc | sort > acc.rel && test -s controls &&
	comm -23 controls acc.rel > missing && test ! -s missing
'

test_expect_success 'every archive of the corpus bento refuses imports nothing; the controls import' '
	bento build ctx --version 2 > /dev/null &&
	fails=0 &&
	for f in c/*.bento; do
		name=${f#c/} && name=${name%.bento} &&
		code=$(awk -F "\t" -v n="$name" "\$1 == n { print \$2 }" c/cases.tsv) &&
		if [ "$code" = 0 ]; then
			BENTO_HOME=$TMP/ctl-$name bento import "$f" > /dev/null 2> err ||
				{ echo "$f: a control was refused:"; cat err; fails=$((fails + 1)); }
		elif ! refused "1|3" bento import "$f"; then
			echo "$f: imported or changed the store"; fails=$((fails + 1))
		fi
	done &&
	test "$fails" = 0
'

test_expect_success 'what import stores is what tarview saw: the re-export lists the same files' '
	for f in own/*.bento c/ok-*.bento; do
		home=$TMP/re-$(basename "$f") &&
		BENTO_HOME=$home bento import "$f" -o json > i.json &&
		BENTO_HOME=$home bento export "$(jget i.json digest)" re.bento --compression none &&
		"$TARVIEW" "$f" | grep "^f " | sort > a && "$TARVIEW" re.bento | sort > b &&
		cmp a b || { echo "$f:"; diff a b; exit 1; }
	done
'

test_expect_success 'GNU tar --format=ustar with owner 0 writes a bento that imports, and agrees' '
	mkdir x && tar -xf own/victim-none.bento -C x &&
	tar --format=ustar --owner=0 --group=0 --numeric-owner -C x \
		-cf gnu.bento bento.json signatures attestations env models src &&
	BENTO_HOME=$TMP/gnu bento import gnu.bento > out &&
	tardiff gnu.bento > out && grep_q out "1 accepted (all three readers agree)" &&
	tar --format=posix -C x -cf posix.bento bento.json src &&
	refused 3 bento import posix.bento && grep_q err "posix.bento: ./PaxHeaders/bento.json: refusing entry"
'

test_expect_success 'the committed fuzz seeds: the three readers agree on every one bento accepts' '
	tardiff "$SRC/tests/fuzz/corpus/fuzz_archive" "$SRC/tests/fuzz/corpus/fuzz_bundle" > out &&
	cat out && grep_q out "(all three readers agree)" && test "$(accepted out)" -ge 6
'

test_done
