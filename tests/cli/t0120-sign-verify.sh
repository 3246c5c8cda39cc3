#!/bin/bash
# bento build --sign, bento sign, bento verify: minisign checks the
# signatures bento writes, several keys sign one bento, signatures are
# deterministic, and every kind of tampering is exit 3 naming what failed
# with nothing changed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password

K=$XDG_CONFIG_HOME/bento/keys
kit() { python3 "$FIX/trustkit.py" "$@"; }
mktar() { python3 "$FIX/mktar.py" "$@"; }
# Flip one bit in the middle of a file, in place (twice restores it).
flip() {
	python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "r+b").write(b)' "$1"
}

mkctx "$TMP/ctx" demo
mkctx "$TMP/u" unsigned

test_expect_success 'setup: three keys (bento encrypted, bento plain, minisign)' '
	bento key generate > /dev/null 2>&1 &&
	bento key generate --name second --no-password > /dev/null 2>&1 &&
	minisign -G -W -p ms.pub -s ms.key > /dev/null &&
	id_of "$K/default.pub" > id1 && id_of "$K/second.pub" > id2 && id_of ms.pub > id3 &&
	test "$(sort -u id1 id2 id3 | wc -l)" = 3
'

test_expect_success 'build --sign signs with the default key' '
	bento build ctx --version 1 --sign -o json > b.json 2> err &&
	test "$(jget b.json signed)" = true &&
	jget b.json digest > d &&
	bento build ctx --version 1 > /dev/null 2> err &&
	bento export demo:1 one.bento > /dev/null &&
	tar -tf one.bento > list &&
	sed -n 2p list | grep -qx "signatures/$(cat id1).minisig" &&
	sed -n 3p list | grep -qx attestations/provenance.dsse.json
'

test_expect_success 'build --sign=NAME and --key NAME pick the named key' '
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 --sign=second -o json > b2.json &&
	test "$(jget b2.json signed)" = true &&
	bento export demo:2 two.bento > /dev/null &&
	tar -tf two.bento | grep "^signatures/" > s && echo "signatures/$(cat id2).minisig" | cmp - s &&
	printf "# v3\n" >> ctx/service.py &&
	bento build ctx --version 3 --key second > /dev/null 2>&1 &&
	bento export demo:3 - | tar -tf - | grep "^signatures/" > s &&
	echo "signatures/$(cat id2).minisig" | cmp - s
'

test_expect_success 'bento sign REF adds signatures by more keys' '
	bento sign demo:1 --key second > out && grep_q out "signed demo:1 with key $(cat id2)" &&
	bento sign demo:1 --key ms.key > out && grep_q out "signed demo:1 with key $(cat id3)" &&
	bento export demo:1 d.bento --compression none > /dev/null &&
	tar -tf d.bento > list &&
	for i in 1 2 3; do echo "signatures/$(cat id$i).minisig"; done | LC_ALL=C sort > want &&
	sed -n 2,4p list | cmp - want &&
	sed -n 5p list | grep -qx attestations/provenance.dsse.json
'

test_expect_success 'bento sign of a tag signs the bento it names' '
	bento tag demo:1 demo:stable > /dev/null &&
	bento sign demo:stable --key second > out && grep_q out "signed demo:stable with key $(cat id2)" &&
	bento export demo:1 d1b.bento --compression none > /dev/null && cmp d.bento d1b.bento
'

test_expect_success 'minisign -V verifies the bento key signature from the archive' '
	mkdir x && tar -xf d.bento -C x &&
	minisign -Vm x/bento.json -x "x/signatures/$(cat id1).minisig" -p "$K/default.pub" > mv &&
	grep_q mv "Signature and comment signature verified" &&
	grep_q mv "Trusted comment: bento demo:1 $(cat d)" &&
	minisign -Vm x/bento.json -x "x/signatures/$(cat id2).minisig" -p "$K/second.pub" > mv &&
	grep_q mv "Trusted comment: bento demo:1 $(cat d)"
'

test_expect_success 'minisign -V verifies the minisign-made key signature from the archive' '
	minisign -Vm x/bento.json -x "x/signatures/$(cat id3).minisig" -p ms.pub > mv &&
	grep_q mv "Signature and comment signature verified" &&
	grep_q mv "Trusted comment: bento demo:1 $(cat d)"
'

test_expect_success 'minisign rejects a signature against the wrong key or another file (control)' '
	! minisign -Vm x/bento.json -x "x/signatures/$(cat id1).minisig" -p ms.pub > /dev/null 2>&1 &&
	cp x/bento.json other.json && printf " " >> other.json &&
	! minisign -Vm other.json -x "x/signatures/$(cat id1).minisig" -p "$K/default.pub" > /dev/null 2>&1
'

test_expect_success 'the signature text is the documented four lines' '
	f="x/signatures/$(cat id1).minisig" &&
	test "$(wc -l < "$f")" = 4 &&
	sed -n 1p "$f" | grep -qx "untrusted comment: signature from bento secret key $(cat id1)" &&
	sed -n 3p "$f" | grep -qx "trusted comment: bento demo:1 $(cat d)" &&
	sed -n 2p "$f" | base64 -d | head -c 2 | grep -q "^ED$" &&
	test "$(sed -n 2p "$f" | tr -d "\n" | wc -c)" = 100 &&
	test "$(sed -n 4p "$f" | tr -d "\n" | wc -c)" = 88
'

test_expect_success 'signing again with the same key gives the same bytes' '
	for i in 1 2 3; do cp "x/signatures/$(cat id$i).minisig" first$i.minisig; done &&
	bento sign demo:1 > /dev/null && bento sign demo:1 --key ms.key > /dev/null &&
	bento export demo:1 again.bento --compression none > /dev/null &&
	cmp again.bento d.bento &&
	mkdir y && tar -xf again.bento -C y &&
	for i in 1 2 3; do cmp first$i.minisig "y/signatures/$(cat id$i).minisig" || exit 1; done
'

test_expect_success 'the same bento and key in another store give the same signature bytes' '
	mkctx "$TMP/ctx2" demo &&
	BENTO_HOME=$TMP/h2 bento build ctx2 --version 1 -o json > c.json 2> /dev/null &&
	test "$(jget c.json digest)" = "$(cat d)" &&
	BENTO_HOME=$TMP/h2 bento sign demo:1 > /dev/null &&
	BENTO_HOME=$TMP/h2 bento sign demo:1 --key ms.key > /dev/null &&
	BENTO_HOME=$TMP/h2 bento export demo:1 h2.bento > /dev/null &&
	mkdir z && tar -xf h2.bento -C z &&
	cmp first1.minisig "z/signatures/$(cat id1).minisig" &&
	cmp first3.minisig "z/signatures/$(cat id3).minisig"
'

test_expect_success 'verify REF with no trusted key: exit 0, signatures not checked' '
	bento verify demo:1 > out 2> err &&
	grep_q out "verifying demo:1" &&
	grep_q out "  ok   bento.json: demo:1 is $(cat d)" &&
	grep_q out "  ok   model emb:" &&
	grep_q out "  ok   files: all 9 files present with the right sizes" &&
	grep_q out "  ??   signature $(cat id1): by key $(cat id1), which is not trusted" &&
	grep_q out "  ??   attestation provenance.dsse.json: subject matches" &&
	grep_q out "signed by: no trusted key" &&
	! grep -q FAIL out && test ! -s err
'

test_expect_success '--require-signature with no trusted key: exit 3' '
	refused 3 bento verify demo:1 --require-signature &&
	grep_q out "FAIL signature: demo has no signature by a trusted key (--require-signature)" &&
	grep_q err "verification failed: signature:"
'

test_expect_success '--require-signature --key PUB: exit 0, the key named' '
	bento verify demo:1 --require-signature --key ms.pub > out &&
	grep_q out "  ok   signature $(cat id3): good signature by key $(cat id3) (ms.pub): bento demo:1 $(cat d)" &&
	grep_q out "  ??   signature $(cat id1): by key $(cat id1), which is not trusted" &&
	grep_q out "signed by: $(cat id3) (ms.pub)"
'

test_expect_success 'trusted keys: verify REF and --full' '
	bento key trust "$K/default.pub" > /dev/null &&
	bento verify demo:1 > out &&
	grep_q out "  ok   signature $(cat id1): good signature by key $(cat id1)" &&
	grep_q out "  ok   attestation provenance.dsse.json: subject matches; signed by key $(cat id1)" &&
	grep_q out "signed by: $(cat id1) (" &&
	bento verify demo:1 --full --require-signature > out &&
	grep_q out "  ok   files: all 9 files match their digests"
'

test_expect_success 'verify -o json' '
	bento verify demo:1 --key "$K/second.pub" -o json > v.json &&
	test "$(jget v.json ok)" = true &&
	test "$(jget v.json failed)" = 0 &&
	test "$(jget v.json trusted_signatures)" = 2 &&
	test "$(jget v.json name)" = demo && test "$(jget v.json version)" = 1 &&
	test "$(jget v.json digest)" = "$(cat d)" &&
	jget v.json "checks.*.check" > checks &&
	grep -qx bento.json checks && grep -qx files checks &&
	grep -qx "signature $(cat id1)" checks && grep -qx "signature $(cat id3)" checks &&
	grep -qx "attestation provenance.dsse.json" checks &&
	jget v.json "checks.*.status" | sort -u > st && printf "ok\nunverified\n" | cmp - st &&
	jget v.json signed_by | grep -q "$(cat id2)"
'

test_expect_success 'verify -o json of a failure: ok false and the failed check' '
	XDG_CONFIG_HOME=$TMP/nocfg bento verify demo:1 --require-signature -o json > v.json
	test $? = 3 &&
	test "$(jget v.json ok)" = false && test "$(jget v.json failed)" = 1 &&
	test "$(jget v.json trusted_signatures)" = 0 &&
	python3 -c "
import json, sys
c = [x for x in json.load(open(\"v.json\"))[\"checks\"] if x[\"status\"] == \"failed\"]
sys.exit(not (len(c) == 1 and c[0][\"check\"] == \"signature\"))"
'

test_expect_success 'verify FILE.bento hashes every file' '
	bento verify d.bento --require-signature > out &&
	grep_q out "verifying d.bento" &&
	grep_q out "  ok   files: all 9 files match their digests" &&
	grep_q out "  ok   signature $(cat id1): good signature"
'

test_expect_success 'verify of a compressed archive and of standard input' '
	bento export demo:1 d.bento.zst > /dev/null &&
	bento verify d.bento.zst --require-signature > /dev/null &&
	bento verify - --require-signature < d.bento > out && grep_q out "signed by: $(cat id1)"
'

test_expect_success 'verify FILE needs no store' '
	BENTO_HOME=$TMP/nostore bento verify d.bento --require-signature > /dev/null &&
	test ! -e "$TMP/nostore/store.db"
'

test_expect_code 4 'verify of an unknown REF' 'bento verify nope:1'

# ---- tampering: each is exit 3, names what failed, and changes nothing ----

test_expect_success 'a flipped byte in a weights file inside the archive (verify FILE)' '
	mktar flip d.bento bad.bento models/emb/weights.bin &&
	refused 3 bento verify bad.bento &&
	grep_q out "  FAIL models/emb/weights.bin: digest mismatch: expected sha256:" &&
	grep_q err "verification failed: models/emb/weights.bin" &&
	grep_q out "  ok   signature $(cat id1)"
'

test_expect_success 'the same archive is refused by import into a fresh store' '
	BENTO_HOME=$TMP/h3 bento list > /dev/null &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento &&
	grep_q err models/emb/weights.bin &&
	BENTO_HOME=$TMP/h3 bento list -o json > l.json && test "$(jget l.json "#len")" = 0
'

test_expect_success 'a flipped byte in a store blob: verify passes on sizes, --full catches it' '
	blob=$(bento get demo:1 -o path | sed -n "s|^models/emb/weights.bin\t||p") &&
	test -f "$blob" && chmod u+w "$blob" && flip "$blob" &&
	bento verify demo:1 > out &&
	refused 3 bento verify --full demo:1 &&
	grep_q out "  FAIL models/emb/weights.bin: digest mismatch" &&
	grep_q err "verification failed: models/emb/weights.bin" &&
	flip "$blob" && chmod u-w "$blob" &&
	bento verify --full demo:1 > /dev/null
'

test_expect_success 'a flipped byte in bento.json inside the archive' '
	mktar flip d.bento bad.bento bento.json &&
	refused 3 bento verify bad.bento &&
	grep_q out "FAIL archive:" && grep_q err bento.json &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento && grep_q err bento.json
'

test_expect_success 'a flipped base64 character in the signature (trusted key)' '
	kit sigflip d.bento bad.bento "signatures/$(cat id1).minisig" 2 &&
	refused 3 bento verify bad.bento &&
	grep_q out "  FAIL signature $(cat id1): signature by key $(cat id1) does not match" &&
	grep_q err "verification failed: signature $(cat id1)" &&
	grep_q out "  ok   files: all 9 files match" &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento &&
	grep_q err "does not match"
'

test_expect_success 'the rebuilt archive imports when nothing is changed (control for the above)' '
	cp "x/signatures/$(cat id1).minisig" s.minisig &&
	kit put d.bento ctl.bento "signatures/$(cat id1).minisig" s.minisig &&
	bento verify ctl.bento --require-signature > /dev/null &&
	BENTO_HOME=$TMP/h4 bento import ctl.bento --require-signature > /dev/null 2>&1
'

test_expect_success 'a flipped character in the signature of the trusted comment' '
	kit sigflip d.bento bad.bento "signatures/$(cat id1).minisig" 4 &&
	refused 3 bento verify bad.bento &&
	grep_q out "FAIL signature $(cat id1):" && grep_q out "trusted comment"
'

test_expect_success 'an altered trusted comment' '
	sed "3s/bento demo:1/bento demo:9/" "x/signatures/$(cat id1).minisig" > s.minisig &&
	! cmp -s s.minisig "x/signatures/$(cat id1).minisig" &&
	kit put d.bento bad.bento "signatures/$(cat id1).minisig" s.minisig &&
	refused 3 bento verify bad.bento &&
	grep_q out "FAIL signature $(cat id1):" && grep_q out "trusted comment"
'

test_expect_success 'a flipped byte in the provenance payload' '
	kit payloadflip d.bento bad.bento &&
	refused 3 bento verify bad.bento &&
	grep_q out "  FAIL attestation provenance.dsse.json: provenance: signature by key $(cat id1) does not match" &&
	grep_q err "verification failed: attestation provenance.dsse.json" &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento && grep_q err provenance
'

test_expect_success 'a flipped byte in the raw provenance envelope' '
	mktar flip d.bento bad.bento attestations/provenance.dsse.json &&
	refused 3 bento verify bad.bento && grep_q err "verification failed: attestation provenance.dsse.json"
'

test_expect_success 'a signature by an untrusted key: ?? alone, exit 3 with --require-signature' '
	bento build u --version 1 > /dev/null 2>&1 &&
	bento sign unsigned:1 --key ms.key > /dev/null &&
	bento export unsigned:1 u.bento > /dev/null &&
	bento verify u.bento > out && grep_q out "  ??   signature $(cat id3)" &&
	refused 3 bento verify u.bento --require-signature &&
	grep_q err "no signature by a trusted key" &&
	refused 3 bento verify unsigned:1 --require-signature &&
	BENTO_HOME=$TMP/h3 refused 3 bento import u.bento --require-signature &&
	grep_q err "no signature by a trusted key"
'

test_expect_success 'a signature taken from another bento' '
	bento sign demo:2 > /dev/null &&
	bento export demo:2 two.bento > /dev/null &&
	bento verify two.bento --require-signature > /dev/null &&
	kit put two.bento bad.bento "signatures/$(cat id1).minisig" "x/signatures/$(cat id1).minisig" &&
	refused 3 bento verify bad.bento &&
	grep_q out "  FAIL signature $(cat id1): signature by key $(cat id1) does not match" &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento && grep_q err "does not match"
'

test_expect_success 'a signature file named after another key id' '
	kit put d.bento bad.bento "signatures/$(cat id2).minisig" "x/signatures/$(cat id1).minisig" &&
	refused 3 bento verify bad.bento --key "$K/second.pub" &&
	grep_q out "FAIL signature $(cat id2): file is named for key $(cat id2) but the signature is by key $(cat id1)" &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento
'

test_expect_success 'a truncated signature' '
	head -n 2 "x/signatures/$(cat id1).minisig" > s.minisig &&
	kit put d.bento bad.bento "signatures/$(cat id1).minisig" s.minisig &&
	refused 3 bento verify bad.bento && grep_q out "FAIL signature"
'

test_expect_success 'provenance taken from another bento: subject mismatch' '
	tar -xOf d.bento attestations/provenance.dsse.json > envA.json &&
	kit put two.bento bad.bento attestations/provenance.dsse.json envA.json &&
	refused 3 bento verify bad.bento &&
	grep_q out "  FAIL attestation provenance.dsse.json: provenance subject is $(cat d) but the bento is" &&
	BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento && grep_q err "provenance subject is"
'

# envmod IN OUT MODE: a copy of envelope IN altered as MODE says; the
# statement modes re-encode the payload (its signature then fails, which
# only a trusted key would notice).
envmod() {
	python3 - "$@" << 'PY'
import base64, json, sys
src, dst, mode = sys.argv[1:]
env = json.load(open(src))
stmt = json.loads(base64.b64decode(env["payload"]))
raw = None
if mode == "extra": env["extra"] = 1
elif mode == "dup": raw = open(src).read().replace('{', '{"payloadType":"text/plain",', 1)
elif mode == "sigextra": env["signatures"][0]["x"] = "y"
elif mode == "signokeyid": env["signatures"] = [{"sig": x["sig"]} for x in env["signatures"]]
elif mode == "sigkeyidnum": env["signatures"][0]["keyid"] = 1
elif mode == "sigdup": raw = open(src).read().replace('{"keyid"', '{"sig":"AA==","keyid"', 1)
elif mode == "sigsobj": env["signatures"] = {}
elif mode == "payloadnum": env["payload"] = 1
else:
    if mode == "twosubjects": stmt["subject"].append({"name": "other:1", "digest": {"sha256": "00" * 32}})
    elif mode == "type": stmt["_type"] = "https://in-toto.io/Statement/v0.1"
    elif mode == "digeststr": stmt["subject"][0]["digest"] = stmt["subject"][0]["digest"]["sha256"]
    elif mode == "digestnum": stmt["subject"][0]["digest"]["sha1"] = 1
    elif mode == "nopredtype": del stmt["predicateType"]
    elif mode == "predlist": stmt["predicate"] = []
    elif mode == "namenum": stmt["subject"][0]["name"] = 7
    elif mode == "stmtdup": pass
    elif mode == "unknown": stmt["extraField"] = {"ignored": True}
    else: sys.exit("envmod: unknown mode " + mode)
    body = json.dumps(stmt, sort_keys=True, separators=(",", ":"))
    if mode == "stmtdup": body = body.replace('{', '{"_type":"x",', 1)
    env["payload"] = base64.b64encode(body.encode()).decode()
if raw is None: raw = json.dumps(env, sort_keys=True, separators=(",", ":"))
open(dst, "w").write(raw)
PY
}

# The envelope of d.bento altered by MODE must fail (3) with WHY, whether
# its key is trusted or not, in verify and in import, the store untouched.
env_refused() {
	envmod envA.json env.json "$1" &&
	kit put d.bento bad.bento attestations/provenance.dsse.json env.json &&
	XDG_CONFIG_HOME=$TMP/no-keys refused 3 bento verify bad.bento &&
	grep_q out "  FAIL attestation provenance.dsse.json: provenance.dsse.json: not a DSSE envelope holding an in-toto statement: provenance: malformed $2" &&
	refused 3 bento verify bad.bento && grep_q out "FAIL attestation provenance.dsse.json" &&
	XDG_CONFIG_HOME=$TMP/no-keys BENTO_HOME=$TMP/h3 refused 3 bento import bad.bento &&
	grep_q err "malformed $2"
}

test_expect_success 'an envelope member other than the three is refused, trusted key or not' '
	env_refused extra "envelope: a member other than payload, payloadType and signatures"
'

test_expect_success 'a member given twice in the envelope is refused' '
	env_refused dup "envelope: provenance envelope:1:" &&
	grep_q err "duplicate object key" &&
	env_refused sigdup "envelope: provenance envelope:1:"
'

test_expect_success 'a signature with another member, or a keyid that is not a string' '
	env_refused sigextra "envelope: a signature is not an object of the strings keyid (optional) and sig" &&
	env_refused sigkeyidnum "envelope: a signature is not an object"
'

test_expect_success 'signatures or payload of the wrong type' '
	env_refused sigsobj "envelope: signatures must be an array" &&
	env_refused payloadnum "envelope: payload and payloadType must be strings"
'

test_expect_success 'a statement of another _type, or with two subjects, is refused' '
	env_refused type "statement: _type is not https://in-toto.io/Statement/v1" &&
	env_refused twosubjects "statement: subject is not a list of one element"
'

test_expect_success 'a statement member given twice, or of the wrong type' '
	env_refused stmtdup "statement: statement:1:" &&
	env_refused digeststr "statement: the subject is not an object of a name (string) and a digest" &&
	env_refused namenum "statement: the subject is not an object" &&
	env_refused digestnum "statement: the subject'\''s digests must be strings" &&
	env_refused nopredtype "statement: predicateType must be a string" &&
	env_refused predlist "statement: predicate must be an object"
'

test_expect_success 'what is allowed still is: no keyid, and members of the statement in-toto adds' '
	envmod envA.json env.json signokeyid &&
	kit put d.bento ok.bento attestations/provenance.dsse.json env.json &&
	bento verify ok.bento > out &&
	grep_q out "  ??   attestation provenance.dsse.json: subject matches; signed by no trusted key" &&
	envmod envA.json env.json unknown &&
	kit put d.bento ok.bento attestations/provenance.dsse.json env.json &&
	XDG_CONFIG_HOME=$TMP/no-keys bento verify ok.bento > out &&
	grep_q out "  ??   attestation provenance.dsse.json: subject matches"
'

test_expect_success 'one bad trusted signature refuses an import although another one verifies' '
	kit sigflip d.bento bad.bento "signatures/$(cat id1).minisig" 2 &&
	BENTO_HOME=$TMP/h3 refused 3 bento import --key "$K/second.pub" --require-signature bad.bento &&
	grep_q err "signature $(cat id2): good signature" &&
	grep_q err "signature $(cat id1): signature by key $(cat id1) does not match"
'

test_expect_success 'a signature altered in the store: verify REF fails (3)' '
	rm -rf hs && cp -a "$BENTO_HOME" hs &&
	kit sqltamper hs/store.db signatures "$(cat id1)" > /dev/null &&
	BENTO_HOME=$TMP/hs bento verify demo:1 > out 2> err
	test $? = 3 &&
	grep_q out "  FAIL signature $(cat id1): signature by key $(cat id1) does not match" &&
	BENTO_HOME=$TMP/hs bento verify demo:1 --require-signature -o json > v.json
	test $? = 3 && test "$(jget v.json failed)" = 1
'

test_expect_success 'a provenance payload altered in the store: verify REF fails (3)' '
	rm -rf hs && cp -a "$BENTO_HOME" hs &&
	kit sqltamper hs/store.db attestations > /dev/null &&
	BENTO_HOME=$TMP/hs bento verify demo:1 > out 2> err
	test $? = 3 &&
	grep_q out "  FAIL attestation provenance.dsse.json: provenance: signature by key $(cat id1) does not match"
'

test_expect_success 'nothing above changed the store, and the good archive still verifies' '
	bento verify d.bento --require-signature > /dev/null &&
	bento verify --full demo:1 --require-signature > /dev/null
'

test_done
