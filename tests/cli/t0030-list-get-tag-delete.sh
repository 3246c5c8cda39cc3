#!/bin/bash
# bento list, get, tag, delete: every REF form, ambiguity, not found, and
# the confirmation rules of delete.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkctx "$TMP/ctx" demo
mkdir -p "$TMP/o"
printf 'print(0)\n' > "$TMP/o/app.py"
printf 'name: other\nversion: "1"\nservice: python3 app.py\n' > "$TMP/o/bentofile.yaml"

test_expect_code 0 'an empty store lists nothing' '
	bento list -o json > l.json && test "$(jget l.json "#len")" = 0'

test_expect_success 'setup: demo:1, demo:2 and other:1' '
	bento build ctx --version 1 -o json > b1.json &&
	printf "# v2\n" >> ctx/service.py &&
	bento build ctx --version 2 -o json > b2.json &&
	bento build o -o json > b3.json &&
	jget b1.json digest > d1 && jget b2.json digest > d2 && jget b3.json digest > d3 &&
	test "$(cat d1)" != "$(cat d2)"
'

test_expect_success 'list: a table with every tag' '
	bento list > out &&
	head -n 1 out | grep -q "^TAG  *DIGEST  *SIZE  *ADDED" &&
	test "$(wc -l < out)" = 4 &&
	grep -Eq "^demo:1  +$(cut -c1-19 d1)  " out &&
	grep -Eq "^demo:2  +$(cut -c1-19 d2)  " out &&
	grep -Eq "^other:1  +$(cut -c1-19 d3)  " out
'

test_expect_success 'list -o json, newest first' '
	bento list -o json > l.json &&
	jget l.json "*.name" > names && printf "other\ndemo\ndemo\n" > want && cmp want names &&
	jget l.json "*.version" > versions && printf "1\n2\n1\n" > want && cmp want versions &&
	test "$(jget l.json 1.digest)" = "$(cat d2)" &&
	jget l.json 0.added | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$" &&
	test "$(jget l.json 0.size)" = "$(cat o/app.py o/bentofile.yaml | wc -c)"
'

test_expect_success 'list NAME shows only that name' '
	bento list demo -o json > l.json &&
	jget l.json "*.name" > names && printf "demo\ndemo\n" > want && cmp want names
'

check_ref() {
	# check_ref REF DIGESTFILE
	bento get "$1" -o json > g.json || return 1
	jget g.json "#sha256" > got || return 1
	cmp "$2" got || { echo "get $1 gave $(cat got), wanted $(cat "$2")"; return 1; }
}

test_expect_success 'get name:version' 'check_ref demo:1 d1 && check_ref demo:2 d2'
test_expect_success 'get name and name:latest give the newest tag' '
	check_ref demo d2 && check_ref demo:latest d2 && check_ref other d3'
test_expect_success 'get by the full digest' 'check_ref "$(cat d1)" d1'
test_expect_success 'get by a 12-hex prefix, with and without sha256:' '
	check_ref "$(cut -c1-19 d1)" d1 && check_ref "$(cut -c8-19 d1)" d1 &&
	check_ref "$(cut -c8-30 d2)" d2'

test_expect_code 4 'a bare hex string shorter than 12 is a name, and none exists' '
	bento get "$(cut -c8-15 d1)"'
test_expect_code 2 'a sha256: prefix shorter than 12 hex is a usage error' '
	bento get "$(cut -c1-15 d1)"'
test_expect_success 'upper-case hex after sha256: is accepted' '
	check_ref "sha256:$(cut -c8-30 d1 | tr a-f A-F)" d1'

test_expect_success 'an ambiguous digest prefix is an error listing the candidates' '
	cp -a "$BENTO_HOME" amb &&
	p=$(cut -c1-19 d1) &&
	fake="${p}$(printf "0%.0s" $(seq 52))" &&
	test "$fake" != "$(cat d1)" &&
	python3 -c "
import sqlite3, sys
db = sqlite3.connect(\"amb/store.db\")
fake = sys.argv[1]
db.execute(\"INSERT INTO objects (kind, digest, manifest, size, added) VALUES (2, ?, ?, 0, 1)\", (fake, b\"{}\"))
db.execute(\"INSERT INTO tags (kind, name, version, object_id, added, seq) SELECT 2, ?, ?, id, 1, (SELECT max(seq) + 1 FROM tags) FROM objects WHERE digest = ?\", (\"fake\", \"1\", fake))
db.commit()
" "$fake" &&
	{ BENTO_HOME=$TMP/amb bento get "$p" > out 2> err; rc=$?; } &&
	test "$rc" = 2 &&
	{ grep -qF "$(cat d1)" err || grep -qF demo:1 err; } &&
	{ grep -qF "$fake" err || grep -qF fake:1 err; } &&
	BENTO_HOME=$TMP/amb bento get "$(cut -c1-30 d1)" -o json > g.json &&
	test "$(jget g.json version)" = 1
'

test_expect_code 4 'get of an unknown name' 'bento get nope'
test_expect_code 4 'get of an unknown version' 'bento get demo:9'
test_expect_code 4 'get of an unknown digest' 'bento get "sha256:$(printf "0%.0s" $(seq 64))"'
test_expect_code 2 'get without a REF' 'bento get'
test_expect_code 2 'get -o with an unknown format' 'bento get demo -o xml'

test_expect_success 'get text and yaml' '
	bento get demo:1 > out && grep_q out "demo:1" && grep_q out "$(cat d1)" &&
	grep_q out "service: ./run.sh --port 3000" && grep_q out "src/service.py" &&
	bento get demo:1 -o yaml > y && grep_q y "name: demo" && grep_q y "version: \"1\"" &&
	grep_q y "team: ml"
'

test_expect_success 'get -o path lists every file with its blob' '
	bento get demo:1 -o path > paths &&
	test "$(wc -l < paths)" = "$(bento get demo:1 -o json > g.json &&
		{ jget g.json "files.*.path"; jget g.json "models.*.manifest.files.*.path"; } | wc -l)" &&
	cut -f2 paths | while read -r b; do test -f "$b" || exit 1; done
'

test_expect_success 'tag, then get by the new tag' '
	bento tag demo:1 demo:stable > out &&
	grep_q out "demo:stable" &&
	check_ref demo:stable d1 &&
	check_ref demo d1
'

test_expect_code 1 'tag onto a tag that names other content needs --force' '
	bento tag demo:2 demo:stable 2> err; rc=$?; grep_q err "demo:stable" || exit 9; exit $rc'
test_expect_success 'tag --force moves it' 'bento tag --force demo:2 demo:stable && check_ref demo:stable d2'
test_expect_code 2 'tag wants NAME:VERSION' 'bento tag demo:1 justname'
test_expect_code 4 'tag of an unknown REF' 'bento tag nope:1 x:1'

test_expect_success 'delete without -y from a non-terminal is a usage error and deletes nothing' '
	before=$(store_state) &&
	{ bento delete demo:stable < /dev/null > out 2> err; rc=$?; } &&
	test "$rc" = 2 && grep_q err -y &&
	test "$(store_state)" = "$before"
'

test_expect_success 'delete -y removes only that tag' '
	bento delete -y demo:stable > out &&
	grep_q out "deleted bento demo:stable" &&
	{ bento get demo:stable; test $? = 4; } &&
	check_ref demo:2 d2 &&
	bento list -o json > l.json && test "$(jget l.json "#len")" = 3
'

test_expect_code 4 'delete of an unknown REF' 'bento delete -y nope:1'

test_expect_success 'when the last tag goes, the digest no longer resolves' '
	bento delete -y demo:1 > /dev/null &&
	{ bento get "$(cat d1)"; test $? = 4; } &&
	{ bento get "$(cut -c1-19 d1)"; test $? = 4; }
'

test_expect_success 'delete several at once' '
	bento delete -y demo:2 other:1 > out &&
	grep_q out "demo:2" && grep_q out "other:1" &&
	bento list -o json > l.json && test "$(jget l.json "#len")" = 0
'

test_done
