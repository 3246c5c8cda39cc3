#!/bin/bash
# bento import --require-signature and the policy file: what may enter the
# store unsigned, what needs a trusted signature and by which key, and the
# errors of a malformed policy.  A refused import stores nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password

K=$XDG_CONFIG_HOME/bento/keys
T=$XDG_CONFIG_HOME/bento/trusted
P=$XDG_CONFIG_HOME/bento/policy.yaml
SRC=$TMP/src
code_is() { [ "$2" = "$1" ] || { echo "exit $2, wanted $1"; cat err 2> /dev/null; return 1; }; }
# The number of events in the store's history.
events() { bento history -o json > "$TMP/.ev.json" && jget "$TMP/.ev.json" "#len"; }
# refused, and no event recorded either (store_state leaves the history out).
refused_quiet() {
	_n=$(events)
	refused "$@" || return 1
	[ "$(events)" = "$_n" ] || { echo "an event was recorded"; return 1; }
}

for n in prod-x dev-x prod-s prod-o demo; do mkctx "$TMP/c-$n" $n; done

test_expect_success 'setup: two keys and five bentos in another store' '
	bento key generate > /dev/null 2>&1 &&
	bento key generate --name other --no-password > /dev/null 2>&1 &&
	id_of "$K/default.pub" > id1 && id_of "$K/other.pub" > id2 &&
	for n in prod-x dev-x; do
		BENTO_HOME=$SRC bento build c-$n --version 1 > /dev/null 2>&1 || exit 1
	done &&
	BENTO_HOME=$SRC bento build c-prod-s --version 1 --sign > /dev/null 2>&1 &&
	BENTO_HOME=$SRC bento build c-demo --version 1 --sign > /dev/null 2>&1 &&
	BENTO_HOME=$SRC bento build c-prod-o --version 1 --sign=other > /dev/null 2>&1 &&
	for n in prod-x dev-x prod-s prod-o demo; do
		BENTO_HOME=$SRC bento export $n:1 $n.bento > /dev/null || exit 1
	done &&
	bento list > /dev/null
'

test_expect_success 'import --require-signature of an unsigned archive: 3, store unchanged' '
	refused_quiet 3 bento import --require-signature prod-x.bento &&
	grep_q err "prod-x.bento" &&
	grep_q err "prod-x has no signature by a trusted key (--require-signature)" &&
	bento list -o json > l.json && test "$(jget l.json "#len")" = 0 &&
	bento models list -o json > l.json && test "$(jget l.json "#len")" = 0
'

test_expect_success 'import --require-signature of a signed archive whose key is not trusted: 3' '
	refused_quiet 3 bento import --require-signature demo.bento &&
	grep_q err "demo has no signature by a trusted key"
'

test_expect_success 'with --key PUB instead of trusting: 0' '
	BENTO_HOME=$TMP/h2 bento import --require-signature --key "$K/default.pub" demo.bento > out 2> err &&
	grep_q out "imported demo:1" &&
	grep_q err "signature $(cat id1): good signature by key $(cat id1) ($K/default.pub)" &&
	test ! -d "$T"
'

test_expect_success 'with the key trusted: 0, and the signatures come along' '
	bento key trust "$K/default.pub" > /dev/null &&
	bento import --require-signature demo.bento > out 2> err &&
	grep_q out "imported demo:1" &&
	grep_q err "signature $(cat id1): good signature" &&
	bento export demo:1 back.bento > /dev/null && cmp demo.bento back.bento &&
	bento verify demo:1 --require-signature > /dev/null
'

test_expect_success 'from standard input too' '
	BENTO_HOME=$TMP/h3 bento import --require-signature - < demo.bento > out 2> /dev/null &&
	grep_q out "imported demo:1"
'

test_expect_success 'signed only by a key that is not trusted: 3' '
	refused_quiet 3 bento import --require-signature prod-o.bento &&
	grep_q err "prod-o has no signature by a trusted key"
'

test_expect_success 'without --require-signature or a policy, unsigned archives import' '
	BENTO_HOME=$TMP/h4 bento import prod-x.bento > out 2> /dev/null && grep_q out "imported prod-x:1"
'

test_expect_success 'policy: prod-* needs a signature; unsigned prod-x refused (3), naming the file and rule' '
	printf "rules: [{match: \"prod-*\", require_signature: true}]\n" > "$P" &&
	refused_quiet 3 bento import prod-x.bento &&
	grep_q err "prod-x.bento: $P:1: bentos matching '\''prod-*'\'' need a signature by a trusted key; prod-x has none"
'

test_expect_success 'policy: unsigned dev-x imports' '
	bento import dev-x.bento > out 2> /dev/null && grep_q out "imported dev-x:1"
'

test_expect_success 'policy: prod-s signed by a trusted key imports' '
	bento import prod-s.bento > out 2> err && grep_q out "imported prod-s:1" &&
	grep_q err "signature $(cat id1): good signature"
'

test_expect_success 'policy: prod-o signed by an untrusted key is refused' '
	refused_quiet 3 bento import prod-o.bento && grep_q err "prod-o has none"
'

test_expect_success 'verify applies the policy too' '
	refused 3 bento verify prod-x.bento &&
	grep_q out "FAIL policy: $P:1: bentos matching '\''prod-*'\'' need a signature by a trusted key; prod-x has none" &&
	bento verify dev-x.bento > /dev/null && bento verify prod-s.bento > /dev/null
'

test_expect_success 'a rule with keys: a bento signed only by another trusted key is refused' '
	cp "$K/other.pub" "$T/other.pub" &&
	printf "rules:\n  - match: \"prod-*\"\n    require_signature: true\n    keys: [other.pub]\n" > "$P" &&
	BENTO_HOME=$TMP/h5 bento list > /dev/null &&
	BENTO_HOME=$TMP/h5 refused 3 bento import prod-s.bento &&
	grep_q err "$P:2: bentos matching '\''prod-*'\'' need a signature by one of the rule'\''s 1 key" &&
	grep_q err "prod-s has none" &&
	BENTO_HOME=$TMP/h5 bento import prod-o.bento > out 2> /dev/null && grep_q out "imported prod-o:1"
'

test_expect_success 'a rule key given by path that is not trusted does not count' '
	rm "$T/other.pub" &&
	printf "rules:\n  - match: \"prod-*\"\n    require_signature: true\n    keys: [%s]\n" "$K/other.pub" > "$P" &&
	BENTO_HOME=$TMP/h6 bento list > /dev/null &&
	BENTO_HOME=$TMP/h6 refused 3 bento import prod-o.bento &&
	BENTO_HOME=$TMP/h6 bento import --key "$K/other.pub" prod-o.bento > out 2> /dev/null &&
	grep_q out "imported prod-o:1"
'

test_expect_success 'the first matching rule decides' '
	printf "rules:\n  - match: [\"prod-x\", \"scratch-*\"]\n    require_signature: false\n  - match: \"*\"\n    require_signature: true\n" > "$P" &&
	BENTO_HOME=$TMP/h7 bento import prod-x.bento > out 2> /dev/null && grep_q out "imported prod-x:1" &&
	BENTO_HOME=$TMP/h7 refused 3 bento import dev-x.bento &&
	grep_q err "$P:4: bentos matching '\''*'\'' need a signature"
'

test_expect_success '--require-signature overrides a rule that requires nothing' '
	BENTO_HOME=$TMP/h8 bento list > /dev/null &&
	BENTO_HOME=$TMP/h8 refused 3 bento import --require-signature prod-x.bento &&
	grep_q err "(--require-signature)"
'

test_expect_success 'an empty policy file requires nothing' '
	: > "$P" &&
	BENTO_HOME=$TMP/h9 bento import prod-x.bento > /dev/null 2>&1
'

test_expect_success 'a policy with an unknown key: exit 1 with file:line:col, nothing imported' '
	printf "rules:\n  - match: \"prod-*\"\n    require: true\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento &&
	grep_q err "$P:3:5: unknown key '\''require'\'' in a rule" &&
	refused 1 bento verify dev-x.bento && grep_q err "$P:3:5:"
'

test_expect_success 'an unknown top-level key' '
	printf "rule:\n  - match: x\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento && grep_q err "$P:1:1: unknown key '\''rule'\''"
'

test_expect_success 'require_signature must be exactly true or false' '
	printf "rules:\n  - match: \"prod-*\"\n    require_signature: yes\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento && grep_q err "$P:3:" &&
	grep_q err "must be true or false"
'

test_expect_success 'rules must be a list; a rule needs match' '
	printf "rules:\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento && grep_q err "$P:1:" &&
	printf "rules:\n  - require_signature: true\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento && grep_q err "needs '\''match'\''"
'

test_expect_success 'a YAML syntax error names the place' '
	printf "rules: [{match: \"prod-*\"\n" > "$P" &&
	refused_quiet 1 bento import dev-x.bento && grep -q "$P:[0-9]*:[0-9]*: " err
'

test_expect_success 'a rule key file that does not exist: exit 4' '
	printf "rules:\n  - match: \"prod-*\"\n    require_signature: true\n    keys: [nokey.pub]\n" > "$P" &&
	refused_quiet 4 bento import dev-x.bento && grep_q err "$T/nokey.pub"
'

test_expect_success 'with the policy gone, everything imports' '
	rm "$P" && bento import prod-x.bento > out 2> /dev/null && grep_q out "imported prod-x:1"
'

test_done
