#!/bin/bash
# bento key generate / trust / list / untrust, and the key problems every
# signing command shares: an existing key, a truncated key file, a wrong
# password, no password.  Keys are minisign's: minisign-made keys sign in
# bento, bento-made keys sign in minisign.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1

K=$XDG_CONFIG_HOME/bento/keys
T=$XDG_CONFIG_HOME/bento/trusted
mkctx "$TMP/ctx" demo

# Pass when exit status $2 is $1 (a failing check must not pass for a wanted 1).
code_is() { [ "$2" = "$1" ] || { echo "exit $2, wanted $1"; cat err 2> /dev/null; return 1; }; }

# The key id a minisign public key file names in its comment line.
comment_id() { sed -n '1s/^untrusted comment: minisign public key //p' "$1"; }

test_expect_success 'setup: a bento to sign' '
	bento build ctx --version 1 > /dev/null
'

test_expect_success 'key generate with BENTO_KEY_PASSWORD writes an encrypted pair' '
	BENTO_KEY_PASSWORD=s3cr3t-pw bento key generate > out 2> err &&
	test -f "$K/default.key" && test -f "$K/default.pub" &&
	test "$(stat -c %a "$K/default.key")" = 600 &&
	test "$(stat -c %a "$K/default.pub")" = 644 &&
	test "$(stat -c %a "$K")" = 700 &&
	id=$(sed -n "s/^key //p" out) &&
	echo "$id" | grep -qE "^[0-9A-F]{16}$" &&
	grep_q out "secret key: $K/default.key" &&
	grep_q out "public key: $K/default.pub" &&
	! grep -q "not encrypted" out &&
	grep_q err "bento key trust $K/default.pub" &&
	test "$(comment_id "$K/default.pub")" = "$id" &&
	head -n 1 "$K/default.key" | grep -qx "untrusted comment: minisign encrypted secret key" &&
	! grep -q s3cr3t-pw out err "$K/default.key" "$K/default.pub" &&
	echo "$id" > default.id
'

test_expect_success 'the key files are minisign formats of the documented sizes' '
	test "$(sed -n 2p "$K/default.pub" | base64 -d | wc -c)" = 42 &&
	test "$(sed -n 2p "$K/default.key" | base64 -d | wc -c)" = 158 &&
	sed -n 2p "$K/default.key" | base64 -d | head -c 6 > hdr &&
	printf "EdScB2" | cmp - hdr
'

test_expect_success 'key generate --no-password -o json' '
	bento key generate --name ci --no-password -o json > g.json &&
	test "$(jget g.json encrypted)" = false &&
	test "$(jget g.json secret_key)" = "$K/ci.key" &&
	test "$(jget g.json public_key)" = "$K/ci.pub" &&
	test "$(jget g.json keyid)" = "$(comment_id "$K/ci.pub")" &&
	test "$(stat -c %a "$K/ci.key")" = 600 && test "$(stat -c %a "$K/ci.pub")" = 644 &&
	head -n 1 "$K/ci.key" | grep -qx "untrusted comment: minisign unencrypted secret key" &&
	sed -n 2p "$K/ci.key" | base64 -d | head -c 6 | od -An -c | tr -d " \n" > hdr &&
	test "$(cat hdr)" = "Ed\\0\\0B2" &&
	jget g.json keyid > ci.id
'

test_expect_success 'text output says (not encrypted) for --no-password' '
	bento key generate --name ci2 --no-password > out &&
	grep_q out "secret key: $K/ci2.key (not encrypted)"
'

test_expect_success 'an encrypted key with BENTO_KEY_PASSWORD -o json says encrypted' '
	BENTO_KEY_PASSWORD=pw2 bento key generate --name enc2 -o json > g.json &&
	test "$(jget g.json encrypted)" = true
'

test_expect_success 'a second generate with the same name fails (exit 1), the files untouched' '
	cp "$K/default.key" before.key && cp "$K/default.pub" before.pub &&
	BENTO_KEY_PASSWORD=other bento key generate > out 2> err
	code_is 1 $? &&
	grep_q err exists && grep_q err "$K/default.key" &&
	cmp before.key "$K/default.key" && cmp before.pub "$K/default.pub"
'

test_expect_success 'an existing public key alone also blocks generate (exit 1), nothing is written' '
	cp "$K/ci.pub" "$K/lone.pub" &&
	bento key generate --name lone --no-password > out 2> err
	code_is 1 $? &&
	grep_q err exists && test ! -e "$K/lone.key" && cmp "$K/ci.pub" "$K/lone.pub"
'

test_expect_success 'a symbolic link in place of the secret key is not followed (exit 1)' '
	ln -s "$TMP/victim" "$K/evil.key" &&
	bento key generate --name evil --no-password > out 2> err
	code_is 1 $? &&
	test ! -e "$TMP/victim" && test -L "$K/evil.key" && test ! -e "$K/evil.pub"
'

test_expect_success 'without BENTO_KEY_PASSWORD and without a terminal, no encrypted key (exit 1)' '
	setsid -w "$BENTO" key generate --name nopw < /dev/null > out 2> err
	code_is 1 $? &&
	grep_q err "BENTO_KEY_PASSWORD" && test ! -e "$K/nopw.key" && test ! -e "$K/nopw.pub"
'

test_expect_code 2 'an invalid --name is a usage error' 'bento key generate --name ../x --no-password'
test_expect_code 2 'an unknown key subcommand is a usage error' 'bento key frobnicate'

test_expect_success 'key trust writes trusted/KEYID.pub' '
	bento key trust "$K/default.pub" > out &&
	id=$(cat default.id) &&
	grep_q out "trusted key $id ($T/$id.pub)" &&
	test -f "$T/$id.pub" &&
	sed -n 2p "$T/$id.pub" > a && sed -n 2p "$K/default.pub" > b && cmp a b
'

test_expect_success 'key list: table, sorted by role then file' '
	bento key list > out &&
	head -n 1 out | grep -qE "^KEY +ROLE +FILE$" &&
	id=$(cat default.id) &&
	grep -qE "^$id +own +$K/default.pub$" out &&
	grep -qE "^$id +trusted +$T/$id.pub$" out &&
	grep -qE "^$(cat ci.id) +own +$K/ci.pub$" out &&
	tail -n +2 out | awk "{print \$2, \$3}" > rows &&
	LC_ALL=C sort rows | cmp - rows
'

test_expect_success 'key list -o json' '
	bento key list -o json > l.json &&
	id=$(cat default.id) &&
	test "$(jget l.json "#len")" = "$(($(ls "$K"/*.pub | wc -l) + 1))" &&
	jget l.json "*.role" | uniq > roles && printf "own\ntrusted\n" | cmp - roles &&
	test "$(jget l.json "$(($(jget l.json "#len") - 1)).keyid")" = "$id" &&
	test "$(jget l.json "$(($(jget l.json "#len") - 1)).file")" = "$T/$id.pub"
'

test_expect_success 'a file in keys/ that is not a public key is left out of the list' '
	echo garbage > "$K/junk.pub" &&
	bento key list -o json > l.json && ! grep -q junk.pub l.json &&
	rm "$K/junk.pub"
'

test_expect_code 4 'key trust of a missing file' 'bento key trust nothere.pub'
test_expect_success 'key trust of a file that is not a public key: exit 1 naming it' '
	ls "$T" > before && echo "not a key" > bad.pub && bento key trust bad.pub 2> err
	code_is 1 $? && grep_q err bad.pub && ls "$T" | cmp - before
'

test_expect_success 'key untrust by id (either case) removes it' '
	id=$(cat default.id) &&
	lc=$(echo "$id" | tr A-F a-f) &&
	bento key untrust "$lc" > out &&
	grep_q out "no longer trusted: key $id ($T/$id.pub)" &&
	test ! -e "$T/$id.pub" &&
	bento key list -o json > l.json && ! grep -q "\"trusted\"" l.json
'

test_expect_code 4 'key untrust of a key that is not trusted' 'bento key untrust "$(cat default.id)"'

test_expect_success 'key untrust by file name' '
	bento key trust "$K/ci.pub" > /dev/null &&
	id=$(cat ci.id) &&
	bento key untrust "$T/$id.pub" > out && grep_q out "no longer trusted: key $id" &&
	test ! -e "$T/$id.pub"
'

test_expect_success 'sign with the encrypted key and its password' '
	BENTO_KEY_PASSWORD=s3cr3t-pw bento sign demo:1 > out 2> err &&
	grep_q out "signed demo:1 with key $(cat default.id)" &&
	! grep -q s3cr3t-pw out err
'

test_expect_success 'a wrong password: exit 1, names the key file, store unchanged' '
	BENTO_KEY_PASSWORD=wrong-pw refused 1 bento sign demo:1 --key enc2 &&
	test ! -s out && grep_q err "$K/enc2.key" &&
	BENTO_KEY_PASSWORD=wrong-pw refused 1 bento sign demo:1 &&
	grep_q err "$K/default.key" && grep_q err "wrong password" &&
	! grep -q wrong-pw out err
'

test_expect_success 'a wrong password fails build --sign before anything is stored' '
	printf "# v2\n" >> ctx/service.py &&
	BENTO_KEY_PASSWORD=wrong-pw refused 1 bento build ctx --version 2 --sign &&
	grep_q err "wrong password" &&
	bento list -o json > l.json && ! grep -q "\"version\": \"2\"" l.json
'

test_expect_success 'a truncated secret key: exit 1 naming the file, store unchanged' '
	(umask 077 && head -c 120 "$K/ci.key" > trunc.key) &&
	refused 1 bento sign demo:1 --key ./trunc.key &&
	grep_q err trunc.key && grep_q err "truncated or malformed"
'

test_expect_success 'a secret key cut inside its base64 line' '
	(umask 077 && head -n 1 "$K/ci.key" > trunc2.key) && sed -n 2p "$K/ci.key" | cut -c1-100 >> trunc2.key &&
	refused 1 bento sign demo:1 --key ./trunc2.key &&
	grep_q err "trunc2.key: truncated or malformed secret key"
'

test_expect_success 'an empty secret key file' '
	(umask 077 && : > empty.key) &&
	refused 1 bento sign demo:1 --key ./empty.key && grep_q err "empty.key: truncated or malformed secret key"
'

test_expect_success 'a truncated public key given to verify: exit 1 naming the file' '
	head -c 60 "$K/ci.pub" > trunc.pub &&
	refused 1 bento verify demo:1 --key trunc.pub && grep_q err trunc.pub
'

test_expect_success 'a damaged file in trusted/ makes verify fail (exit 1) naming it' '
	mkdir -p "$T" && head -c 60 "$K/ci.pub" > "$T/broken.pub" &&
	refused 1 bento verify demo:1 && grep_q err "$T/broken.pub" &&
	rm "$T/broken.pub"
'

test_expect_success 'no key given and no default key: exit 1' '
	XDG_CONFIG_HOME=$TMP/empty-config refused 1 bento sign demo:1 && grep_q err "no signing key"
'

test_expect_success 'a --key file that does not exist: exit 1 naming it' '
	refused 1 bento sign demo:1 --key ./nothere.key && grep_q err nothere.key
'

test_expect_code 4 'sign of an unknown bento' 'bento sign nope:1 --key ci'

test_expect_success 'BENTO_SIGNING_KEY names the key when --key is not given' '
	BENTO_SIGNING_KEY=$K/ci.key bento sign demo:1 > out &&
	grep_q out "with key $(cat ci.id)"
'

test_expect_success 'a key made by minisign -G -W signs in bento and verifies' '
	minisign -G -W -p ms.pub -s ms.key > /dev/null &&
	bento sign demo:1 --key ms.key > out &&
	msid=$(id_of ms.pub) &&
	grep_q out "with key $msid" &&
	bento verify demo:1 --key ms.pub > v && grep_q v "ok   signature $msid: good signature" &&
	bento key trust ms.pub > out && grep_q out "trusted key $msid" &&
	bento verify demo:1 --require-signature > v && grep_q v "signed by: $msid"
'

test_expect_success 'a signature by the minisign key verifies in minisign' '
	bento export demo:1 d.bento > /dev/null && mkdir x && tar -xf d.bento -C x &&
	msid=$(id_of ms.pub) &&
	minisign -Vm x/bento.json -x "x/signatures/$msid.minisig" -p ms.pub > mv &&
	grep_q mv "Signature and comment signature verified" &&
	grep_q mv "Trusted comment: bento demo:1 sha256:"
'

test_expect_success 'a bento-made unencrypted key signs in minisign' '
	echo hello > msg.txt &&
	minisign -S -s "$K/ci.key" -m msg.txt -t "from bento key" < /dev/null > /dev/null 2>&1 &&
	minisign -Vm msg.txt -p "$K/ci.pub" > mv && grep_q mv "Trusted comment: from bento key"
'

test_expect_success 'a bento-made encrypted key signs in minisign with its password' '
	echo hello > msg2.txt &&
	echo s3cr3t-pw | minisign -S -s "$K/default.key" -m msg2.txt -t "encrypted bento key" > /dev/null 2>&1 &&
	minisign -Vm msg2.txt -p "$K/default.pub" > mv && grep_q mv "Trusted comment: encrypted bento key"
'

# A FIFO where a key or the policy should be: a plain open would wait for a
# writer forever.  Each command is bounded at 10 s; a hang is exit 124.
fifo_refused() {
	timeout 10 "$BENTO" "$@" > out 2> err
	code_is 1 $? && grep_q err "not a regular file (a FIFO)"
}
# Each test starts by removing what an earlier, failed one may have left:
# writing the next policy.yaml into a FIFO would block the test itself.
no_fifos() {
	rm -f "$T/fifo.pub" "$T/rule.pub" "$XDG_CONFIG_HOME/bento/policy.yaml" "$TMP/fifo.key" \
		"$K/fifo.key" "$TMP/fifo.pub" "$K/fifo.pub"
}

test_expect_success 'a FIFO in trusted/ does not hang verify (exit 1, named)' '
	no_fifos &&
	mkdir -p "$T" && mkfifo "$T/fifo.pub" &&
	fifo_refused verify demo:1 && grep_q err "$T/fifo.pub" &&
	fifo_refused verify demo:1 --require-signature &&
	timeout 10 "$BENTO" key list > out 2> err && ! grep -q fifo.pub out &&
	rm "$T/fifo.pub"
'

test_expect_success 'a FIFO as policy.yaml does not hang verify or import' '
	no_fifos &&
	mkfifo "$XDG_CONFIG_HOME/bento/policy.yaml" &&
	fifo_refused verify demo:1 && grep_q err "$XDG_CONFIG_HOME/bento/policy.yaml" &&
	bento export demo:1 d.bento > /dev/null &&
	BENTO_HOME=$TMP/hf fifo_refused import d.bento &&
	rm "$XDG_CONFIG_HOME/bento/policy.yaml"
'

test_expect_success 'a FIFO named as a key in the policy does not hang' '
	no_fifos &&
	mkfifo "$T/rule.pub" &&
	printf "rules:\n  - match: demo\n    require_signature: true\n    keys: [rule.pub]\n" > "$XDG_CONFIG_HOME/bento/policy.yaml" &&
	timeout 10 "$BENTO" verify demo:1 > out 2> err
	code_is 1 $? && grep_q err "$T/rule.pub: not a regular file (a FIFO)" &&
	rm "$T/rule.pub" "$XDG_CONFIG_HOME/bento/policy.yaml"
'

test_expect_success 'a FIFO as the secret key (--key, BENTO_SIGNING_KEY, keys/NAME.key) does not hang sign' '
	no_fifos &&
	mkfifo fifo.key &&
	fifo_refused sign demo:1 --key ./fifo.key && grep_q err fifo.key &&
	BENTO_SIGNING_KEY=$TMP/fifo.key fifo_refused sign demo:1 &&
	mkfifo "$K/fifo.key" && fifo_refused sign demo:1 --key fifo &&
	printf "# v3\n" >> ctx/service.py &&
	fifo_refused build ctx --version 3 --sign=fifo &&
	bento list -o json > l.json && ! grep -q "\"version\": \"3\"" l.json &&
	rm "$K/fifo.key"
'

test_expect_success 'a FIFO as a public key (verify --key, key trust, keys/) does not hang' '
	no_fifos &&
	mkfifo fifo.pub &&
	fifo_refused verify demo:1 --key fifo.pub &&
	fifo_refused key trust fifo.pub &&
	mkfifo "$K/fifo.pub" &&
	timeout 10 "$BENTO" key list > out 2> err && ! grep -q fifo.pub out &&
	rm "$K/fifo.pub"
'

test_expect_success 'FIFOs where key trust could write its temporary file do not hang it' '
	id=$(cat ci.id) && mkfifo "$T/$id.pub.tmp" "$T/.$id.pub.tmp-AAAAAA" &&
	timeout 10 "$BENTO" key trust "$K/ci.pub" > out 2> err &&
	grep_q out "trusted key $id" && test -f "$T/$id.pub" &&
	test "$(ls -A "$T" | grep -c "tmp")" = 2 &&
	timeout 10 "$BENTO" key untrust "$id" > /dev/null
'
test_expect_success 'cleanup: no FIFO left behind' '
	rm -f "$T/$(cat ci.id).pub.tmp" "$T/.$(cat ci.id).pub.tmp-AAAAAA"; no_fifos
'

# Key permissions, as ssh has them: a secret key others may read, and
# trusted keys, trusted/, the configuration directory or policy.yaml that
# others may write, are refused (exit 3) with the file, its mode and the fix.
C=$XDG_CONFIG_HOME/bento

test_expect_success 'a secret key readable by others is refused (exit 3): file, mode, chmod 600' '
	cp "$K/ci.key" open.key && chmod 644 open.key &&
	refused 3 bento sign demo:1 --key ./open.key && test ! -s out &&
	grep_q err "./open.key: permissions 0644 are too open: group or others may read it; run chmod 600 ./open.key" &&
	chmod 666 open.key && refused 3 bento sign demo:1 --key ./open.key && grep_q err "permissions 0666" &&
	chmod 620 open.key && refused 3 bento sign demo:1 --key ./open.key &&
	grep_q err "permissions 0620 are too open: group or others may write it" &&
	chmod 600 open.key && bento sign demo:1 --key ./open.key > out && grep_q out "with key $(cat ci.id)"
'

test_expect_success 'an encrypted secret key readable by others is refused before the password is asked' '
	cp "$K/default.key" open2.key && chmod 640 open2.key &&
	setsid -w "$BENTO" sign demo:1 --key ./open2.key < /dev/null > out 2> err
	code_is 3 $? && grep_q err "permissions 0640 are too open" && ! grep -q password err
'

test_expect_success 'BENTO_SIGNING_KEY (CI) and the default key are checked the same way' '
	cp "$K/ci.key" ci-secret.key && chmod 644 ci-secret.key &&
	BENTO_SIGNING_KEY=$TMP/ci-secret.key refused 3 bento sign demo:1 &&
	grep_q err "$TMP/ci-secret.key: permissions 0644 are too open" && grep_q err "chmod 600" &&
	chmod 644 "$K/default.key" &&
	BENTO_KEY_PASSWORD=s3cr3t-pw refused 3 bento sign demo:1 && grep_q err "$K/default.key: permissions 0644" &&
	printf "# v4\n" >> ctx/service.py &&
	BENTO_KEY_PASSWORD=s3cr3t-pw refused 3 bento build ctx --version 4 --sign &&
	chmod 600 "$K/default.key"
'

test_expect_success 'setup: the ci key trusted, a signed bento and its archive' '
	bento key trust "$K/ci.pub" > /dev/null && bento export demo:1 p.bento > /dev/null &&
	bento verify demo:1 --require-signature > /dev/null
'

test_expect_success 'a trusted key file others may write: verify and import refuse (3)' '
	id=$(cat ci.id) && chmod 666 "$T/$id.pub" &&
	refused 3 bento verify demo:1 &&
	grep_q err "$T/$id.pub: permissions 0666 are too open: group or others may write it; run chmod go-w $T/$id.pub" &&
	BENTO_HOME=$TMP/hp refused 3 bento import p.bento &&
	chmod 664 "$T/$id.pub" && refused 3 bento verify demo:1 && grep_q err "permissions 0664" &&
	chmod 644 "$T/$id.pub" && bento verify demo:1 --require-signature > /dev/null
'

test_expect_success 'a trusted key file owned by another user: refused (3)' '
	id=$(cat ci.id) && chown 4321 "$T/$id.pub" &&
	refused 3 bento verify demo:1 &&
	grep_q err "$T/$id.pub: owned by uid 4321, not by you (uid $(id -u)) or root" &&
	chown "$(id -u)" "$T/$id.pub" && bento verify demo:1 > /dev/null
'

test_expect_success 'a trusted/ directory others may write (even sticky): refused (3), key trust too' '
	chmod 777 "$T" &&
	refused 3 bento verify demo:1 &&
	grep_q err "$T: permissions 0777 are too open: group or others may write it; run chmod go-w $T" &&
	refused 3 bento key trust "$K/default.pub" && test ! -e "$T/$(cat default.id).pub" &&
	chmod 1777 "$T" && refused 3 bento verify demo:1 && grep_q err "permissions 1777" &&
	chmod 775 "$T" && refused 3 bento verify demo:1 &&
	chmod 755 "$T" && bento verify demo:1 > /dev/null
'

test_expect_success 'a trusted/ directory of another user: refused (3)' '
	chown 4321 "$T" && refused 3 bento verify demo:1 && grep_q err "$T: owned by uid 4321" &&
	chown "$(id -u)" "$T"
'

test_expect_success 'the configuration directory others may write: refused (3), with or without trusted/' '
	chmod 777 "$C" &&
	refused 3 bento verify demo:1 && grep_q err "$C: permissions 0777 are too open" &&
	mv "$T" "$TMP/trusted.away" && refused 3 bento verify demo:1 && grep_q err "$C: permissions 0777" &&
	mv "$TMP/trusted.away" "$T" && chmod 755 "$C" && bento verify demo:1 > /dev/null
'

test_expect_success 'policy.yaml others may write, or of another user: refused (3)' '
	printf "rules: []\n" > "$C/policy.yaml" && chmod 666 "$C/policy.yaml" &&
	refused 3 bento verify demo:1 && grep_q err "$C/policy.yaml: permissions 0666 are too open" &&
	BENTO_HOME=$TMP/hp2 refused 3 bento import p.bento &&
	chmod 644 "$C/policy.yaml" && chown 4321 "$C/policy.yaml" &&
	refused 3 bento verify demo:1 && grep_q err "$C/policy.yaml: owned by uid 4321" &&
	rm "$C/policy.yaml" && bento verify demo:1 > /dev/null
'

test_expect_success 'a key named in the policy: in trusted/ checked as trusted/, by path not writable by others' '
	cp "$K/ci.pub" rule.pub && chmod 666 rule.pub &&
	printf "rules:\n  - match: demo\n    require_signature: true\n    keys: [%s]\n" "$TMP/rule.pub" > "$C/policy.yaml" &&
	refused 3 bento verify demo:1 && grep_q err "$TMP/rule.pub: permissions 0666" &&
	chmod 644 rule.pub && chown 4321 rule.pub && bento verify demo:1 > /dev/null &&
	rm "$C/policy.yaml"
'

test_expect_success 'verify --key PUB that others may write: refused (3); its owner is not checked' '
	cp "$K/ci.pub" given.pub && chmod 646 given.pub &&
	refused 3 bento verify demo:1 --key given.pub && grep_q err "given.pub: permissions 0646 are too open" &&
	chmod 644 given.pub && chown 4321 given.pub && bento verify demo:1 --key given.pub > /dev/null
'

test_expect_success 'key generate writes the secret key 0600 whatever the umask' '
	(umask 0 && bento key generate --name um0 --no-password > /dev/null 2>&1) &&
	test "$(stat -c %a "$K/um0.key")" = 600 && bento sign demo:1 --key um0 > /dev/null
'

test_done
