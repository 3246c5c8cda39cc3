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

# bad_policy WHERE MESSAGE YAML: a policy file YAML (printf format) refused
# by import with exit 1 and "$P:WHERE: MESSAGE", the store untouched.
bad_policy() {
	printf "$3" > "$P" &&
	refused 1 bento import dev-x.bento &&
	grep_q err "$P:$1: " && grep_q err "$2"
}

test_expect_success 'a key given twice in a rule: the second does not silently win' '
	bad_policy 4:5 "duplicate key '\''require_signature'\'' (first at line 3)" \
		"rules:\n  - match: \"dev-*\"\n    require_signature: true\n    require_signature: false\n" &&
	bad_policy 4:5 "duplicate key '\''match'\'' (first at line 2)" \
		"rules:\n  - match: \"dev-*\"\n    require_signature: true\n    match: \"x\"\n" &&
	bad_policy 2:60 "duplicate key '\''keys'\'' (first at line 2)" \
		"rules:\n  - {match: dev-x, require_signature: true, keys: [a.pub], keys: [b.pub]}\n"
'

test_expect_success 'rules given twice at the top level' '
	bad_policy 2:1 "duplicate key '\''rules'\'' (first at line 1)" \
		"rules: [{match: \"dev-*\", require_signature: true}]\nrules: []\n"
'

test_expect_success 'an invalid glob is an error, not a rule that never matches' '
	bad_policy 2:12 "pattern '\''dev-[xy'\'': '\''['\'' is not closed by '\'']'\''" \
		"rules:\n  - match: \"dev-[xy\"\n    require_signature: true\n" &&
	bad_policy 2:13 "pattern '\''[z-a]*'\'': a range runs backwards" \
		"rules:\n  - match: [\"[z-a]*\"]\n    require_signature: true\n" &&
	bad_policy 2:12 "unknown character class" \
		"rules:\n  - match: \"[[:letter:]]*\"\n    require_signature: true\n" &&
	bad_policy 2:12 "equivalence classes" "rules:\n  - match: \"[[=a=]]*\"\n" &&
	bad_policy 2:12 "is not allowed: names have no characters to escape" "rules:\n  - match: \"dev-\\\\\\\\*\"\n"
'

test_expect_success 'a pattern no bento name can match is an error' '
	bad_policy 2:12 "pattern '\''Dev-*'\'': can never match: names hold only a-z, 0-9" \
		"rules:\n  - match: \"Dev-*\"\n    require_signature: true\n" &&
	bad_policy 2:12 "pattern '\''dev-x:1'\'': can never match" "rules:\n  - match: \"dev-x:1\"\n" &&
	bad_policy 2:12 "can never match: names start with a letter or digit" "rules:\n  - match: \"-x*\"\n" &&
	bad_policy 2:12 "can never match: its first set has no letter or digit" "rules:\n  - match: \"[._]*\"\n" &&
	bad_policy 2:12 "can never match: a set has no character a name may hold" "rules:\n  - match: \"d[A-Z]*\"\n" &&
	long=$(printf "%0129d" 0) &&
	bad_policy 2:12 "more characters than a name may have (128)" "rules:\n  - match: \"$long\"\n"
'

test_expect_success 'patterns that can match still work: sets, ranges, classes, negation, ?' '
	printf "rules:\n  - match: [\"[a-d]ev-?\", \"[![:digit:]]ev-[xyz]\", \"[[:lower:]]*-x\"]\n    require_signature: true\n" > "$P" &&
	BENTO_HOME=$TMP/hg bento list > /dev/null &&
	BENTO_HOME=$TMP/hg refused 3 bento import dev-x.bento &&
	grep_q err "$P:2: bentos matching '\''[a-d]ev-?'\''" &&
	printf "rules:\n  - match: \"[![:digit:]]ev-[xyz]\"\n    require_signature: true\n" > "$P" &&
	BENTO_HOME=$TMP/hg refused 3 bento import dev-x.bento &&
	printf "rules:\n  - match: \"[a-z]*-y\"\n    require_signature: true\n" > "$P" &&
	BENTO_HOME=$TMP/hg bento import dev-x.bento > out 2> /dev/null && grep_q out "imported dev-x:1"
'

test_expect_success 'empty values are errors' '
	bad_policy 2:12 "'\''match'\'' is an empty list" "rules:\n  - match: []\n    require_signature: true\n" &&
	bad_policy 2:12 "'\''match'\'' holds an empty string" "rules:\n  - match: \"\"\n" &&
	bad_policy 2:12 "'\''match'\'' must be a string or a list of strings" "rules:\n  - match: ~\n" &&
	bad_policy 2:11 "'\''match'\'' must be a string or a list of strings" "rules:\n  - match:\n    require_signature: true\n" &&
	bad_policy 2:16 "'\''match'\'' must list strings" "rules:\n  - match: [a, null]\n" &&
	bad_policy 2:51 "'\''keys'\'' is an empty list" "rules:\n  - {match: dev-x, require_signature: true, keys: []}\n" &&
	bad_policy 2:52 "'\''keys'\'' holds an empty string" "rules:\n  - {match: dev-x, require_signature: true, keys: [\"\"]}\n"
'

test_expect_success 'wrong types are errors' '
	bad_policy 3:24 "'\''require_signature'\'' must be true or false" \
		"rules:\n  - match: dev-x\n    require_signature: \"true\"\n" &&
	bad_policy 3:24 "'\''require_signature'\'' must be true or false" \
		"rules:\n  - match: dev-x\n    require_signature: [true]\n" &&
	bad_policy 2:12 "'\''match'\'' must be a string or a list of strings" "rules:\n  - match: {a: b}\n" &&
	bad_policy 1:8 "'\''rules'\'' must be a list" "rules: {match: dev-x}\n" &&
	bad_policy 2:5 "a rule must be a mapping" "rules:\n  - dev-x\n" &&
	bad_policy 2:6 "keys must be strings" "rules:\n  - {[a]: b}\n" &&
	bad_policy 3:24 "YAML tags ('\''tag:yaml.org,2002:bool'\'') are not allowed" \
		"rules:\n  - match: dev-x\n    require_signature: !!bool true\n"
'

test_expect_success 'keys without require_signature: true is an error, not keys ignored' '
	bad_policy 3:5 "'\''keys'\'' is only used with '\''require_signature: true'\''" \
		"rules:\n  - match: dev-x\n    keys: [other.pub]\n" &&
	bad_policy 4:5 "'\''keys'\'' is only used with" \
		"rules:\n  - match: dev-x\n    require_signature: false\n    keys: [other.pub]\n"
'

test_expect_success 'a pattern or key given twice, and a rule after a rule for every name' '
	bad_policy 4:12 "pattern '\''dev-*'\'' is given twice (first at line 2)" \
		"rules:\n  - match: \"dev-*\"\n    require_signature: true\n  - match: \"dev-*\"\n" &&
	bad_policy 2:19 "pattern '\''a'\'' is given twice (first at line 2)" "rules:\n  - match: [a, b, a]\n" &&
	bad_policy 2:59 "key '\''x.pub'\'' is given twice" \
		"rules:\n  - {match: dev-x, require_signature: true, keys: [x.pub, x.pub]}\n" &&
	bad_policy 4:5 "this rule never applies: the rule at line 2 matches every name with '\''*'\''" \
		"rules:\n  - match: [prod-x, \"*\"]\n    require_signature: true\n  - match: dev-x\n    require_signature: true\n"
'

test_expect_success 'a second YAML document is an error, not ignored' '
	bad_policy 3:1 "a second YAML document" \
		"rules: []\n---\nrules: [{match: \"*\", require_signature: true}]\n"
'

test_expect_success 'aliases cannot make a rule loop' '
	bad_policy 2:12 "must list strings" "rules:\n  - match: &a [*a]\n" &&
	bad_policy 1:8 "a rule must be a mapping" "rules: &r\n  - *r\n"
'

test_expect_success 'with the policy gone, everything imports' '
	rm "$P" && bento import prod-x.bento > out 2> /dev/null && grep_q out "imported prod-x:1"
'

test_done
