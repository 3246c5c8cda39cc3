#!/bin/bash
# One rule for a bento's signatures, and three readers that apply it alike:
# bento verify (an archive and a store entry), bento import and bento-shim
# (lib/manifest.c, bento_signature_check).  A signature by key K is
# signatures/KEYID.minisig, KEYID being K's id in 16 upper-case hex digits;
# the trusted comment of a signature by a trusted key is exactly
# "bento NAME:VERSION sha256:HEX" for this bento.  Each signature below is
# given to the three readers, trusting one minisign key and requiring a
# signature, and the three must agree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

SHIM=$BUILD/bento-shim
if [ ! -x "$SHIM" ]; then
	echo "1..0 # SKIP no $SHIM (run make)"
	exit 0
fi
unset BENTO_ROOT BENTO_VERIFY BENTO_TRUSTED_KEY BENTO_TRUSTED_KEYS BENTO_REQUIRE_SIGNATURE \
	BENTO_STOP_TIMEOUT BENTO_HEALTH_PORT BENTO_HEALTH_ADDR BENTO_SERVICE_PORT BENTO_SHIM_QUIET
kit() { python3 "$FIX/trustkit.py" "$@"; }

mkctx "$TMP/ctx" svc

# mksig NAME KEY [COMMENT]: minisign KEY's signature of the bento's bento.json
# in sigs/NAME, with trusted comment COMMENT (minisign's own default without).
mksig() {
	_name=$1 _key=$2
	shift 2
	mkdir -p sigs && rm -f "sigs/$_name" &&
	minisign -S -s "$_key" -m tree/bento.json -x "sigs/$_name" ${1+-t "$1"} > /dev/null < /dev/null
}

# read3 NAME: the three readers, each given sigs/NAME as signatures/NAME of the
# bento and ms.pub as the one trusted key: bento verify of the archive
# (status in v.rc, report and errors in v.out), bento import of it (i.rc,
# i.out; i.store says whether the store changed) and bento-shim on the
# extracted tree (s.rc, s.out; the service exits 7).
read3() {
	kit put u.bento c.bento "signatures/$1" "sigs/$1" &&
	rm -rf r && cp -a tree r && mkdir r/signatures && cp "sigs/$1" "r/signatures/$1" || return 1
	bento verify c.bento --key ms.pub --require-signature > v.out 2>&1
	echo $? > v.rc
	_before=$(store_state)
	bento import c.bento --key ms.pub --require-signature > i.out 2>&1
	echo $? > i.rc
	if [ "$(store_state)" = "$_before" ]; then echo unchanged; else echo changed; fi > i.store
	BENTO_ROOT=$TMP/r BENTO_TRUSTED_KEY=$TMP/ms.pub timeout 30 "$SHIM" sh -c "exit 7" > s.out 2>&1
	echo $? > s.rc
}

# accepted NAME: all three take it.
accepted() {
	read3 "$1" || return 1
	test "$(cat v.rc) $(cat i.rc) $(cat s.rc)" = "0 0 7" || {
		echo "verify $(cat v.rc), import $(cat i.rc), shim $(cat s.rc) (wanted 0 0 7):"
		cat v.out i.out s.out
		return 1
	}
}

# refused3 NAME BENTO_MSG [SHIM_MSG]: all three refuse it, verify and import
# with exit 3 and BENTO_MSG, the import leaving the store as it was, the shim
# with 123 and SHIM_MSG (default BENTO_MSG).
refused3() {
	read3 "$1" || return 1
	test "$(cat v.rc) $(cat i.rc) $(cat s.rc)" = "3 3 123" || {
		echo "verify $(cat v.rc), import $(cat i.rc), shim $(cat s.rc) (wanted 3 3 123):"
		cat v.out i.out s.out
		return 1
	}
	test "$(cat i.store)" = unchanged || { echo "the refused import changed the store"; return 1; }
	grep_q v.out "$2" && grep_q i.out "$2" && grep_q s.out "${3:-$2}"
}

test_expect_success 'setup: the bento, its archive and tree; a trusted and an untrusted minisign key' '
	bento build ctx --version 1 -o json > b.json 2> err &&
	jget b.json digest > d &&
	bento export svc:1 u.bento > /dev/null &&
	mkdir tree && tar -xf u.bento -C tree && test -f tree/bento.json &&
	test ! -e tree/signatures &&
	# a key id with a letter in it, so that its lower-case spelling differs
	for i in 1 2 3 4 5 6 7 8; do
		rm -f ms.pub ms.key && minisign -G -W -p ms.pub -s ms.key > /dev/null &&
		id_of ms.pub > id && grep -q "[A-F]" id && break
	done &&
	grep -q "[A-F]" id && tr A-F a-f < id > lid &&
	minisign -G -W -p other.pub -s other.key > /dev/null && id_of other.pub > oid &&
	tr A-F a-f < oid > loid &&
	echo "bento svc:1 $(cat d)" > comment
'

test_expect_success 'the name bento sign writes and its comment: taken by all three' '
	mksig "$(cat id).minisig" ms.key "$(cat comment)" &&
	accepted "$(cat id).minisig" &&
	grep_q v.out "ok   signature $(cat id): good signature by key $(cat id) (ms.pub): $(cat comment)" &&
	grep_q s.out "signed by key $(cat id)"
'

test_expect_success 'a lower-case key id in the name: refused by all three' '
	mksig "$(cat lid).minisig" ms.key "$(cat comment)" &&
	refused3 "$(cat lid).minisig" \
		"signatures/$(cat lid).minisig: '"'"'$(cat lid).minisig'"'"' is not a signature'"'"'s name" \
		"$(cat lid).minisig'"'"' is not a signature'"'"'s name (want KEYID.minisig, KEYID 16 upper-case hex digits)"
'

test_expect_success 'the same by an untrusted key: the name is checked for every signature' '
	mksig "$(cat loid).minisig" other.key whatever &&
	refused3 "$(cat loid).minisig" \
		"signatures/$(cat loid).minisig: '"'"'$(cat loid).minisig'"'"' is not a signature'"'"'s name" \
		"is not a signature'"'"'s name"
'

test_expect_success 'a name for another key than the signer: refused by all three' '
	mksig 0000000000000000.minisig ms.key "$(cat comment)" &&
	refused3 0000000000000000.minisig \
		"file is named for key 0000000000000000 but the signature is by key $(cat id)"
'

test_expect_success 'a well-named signature by an untrusted key only: no trusted signature' '
	mksig "$(cat oid).minisig" other.key "not checked" &&
	refused3 "$(cat oid).minisig" "no signature by a trusted key"
'

# Trusted comments that do not name this bento (name:version and digest).
n=0
while read -r what comment; do
	n=$((n + 1))
	test_expect_success "trusted comment $what: refused by all three" '
		mksig "$(cat id).minisig" ms.key "$(eval echo "\"$comment\"")" &&
		refused3 "$(cat id).minisig" \
			"does not name this bento (want '"'"'$(cat comment)'"'"')"
	'
done <<'EOF'
naming-another-version bento svc:2 $(cat d)
naming-another-bento bento other:1 $(cat d)
with-the-digest-only release $(cat d) ok
with-more-after-it $(cat comment) signed-by-ci
naming-another-digest bento svc:1 sha256:0000000000000000000000000000000000000000000000000000000000000000
EOF

test_expect_success 'minisign'"'"'s default trusted comment (a time stamp and the file name)' '
	mksig "$(cat id).minisig" ms.key &&
	sed -n 3p "sigs/$(cat id).minisig" | grep -q "^trusted comment: timestamp:" &&
	refused3 "$(cat id).minisig" "does not name this bento"
'

test_expect_success 'bento verify of a store entry: a stored signature with a wrong comment fails' '
	bento sign svc:1 --key ms.key > /dev/null &&
	bento verify svc:1 --key ms.pub --require-signature > out 2>&1 &&
	mksig "$(cat id).minisig" ms.key "bento svc:2 $(cat d)" &&
	python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute(\"UPDATE signatures SET data = ? WHERE keyid = ?\", (open(sys.argv[2]).read(), sys.argv[3])).rowcount
c.commit()
sys.exit(n != 1)" "$BENTO_HOME/store.db" "sigs/$(cat id).minisig" "$(cat id)" &&
	refused 3 bento verify svc:1 --key ms.pub &&
	grep_q out "FAIL signature $(cat id): trusted comment '"'"'bento svc:2 $(cat d)'"'"' does not name this bento"
'

test_done
