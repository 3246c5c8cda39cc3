#!/bin/bash
# bento models: import (a directory, a single file), list, get, delete, and
# delete refused while a bento uses the model.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkdir -p "$TMP/m/clf/sub"
mkweights "$TMP/m/clf/weights.bin" 50000 1
mkweights "$TMP/m/clf/sub/extra.bin" 1234 2
printf '{"classes": 3}\n' > "$TMP/m/clf/config.json"
mkweights "$TMP/m/single.onnx" 4096 3

test_expect_success 'import a directory with --version, --label, --framework' '
	bento models import m/clf --name clf --version 1.0 --label team=ml --label stage=dev \
		--framework sklearn -o json > out.json &&
	test "$(jget out.json name)" = clf &&
	test "$(jget out.json version)" = 1.0 &&
	jget out.json digest | grep -Eq "^sha256:[0-9a-f]{64}$" &&
	test "$(jget out.json files)" = 3 &&
	test "$(jget out.json size)" = "$(cat m/clf/config.json m/clf/sub/extra.bin m/clf/weights.bin | wc -c)" &&
	test "$(jget out.json existed)" = false
'

test_expect_success 'models get -o json shows the model.json' '
	bento models get clf:1.0 -o json > get.json &&
	test "$(jget get.json name)" = clf &&
	test "$(jget get.json version)" = 1.0 &&
	test "$(jget get.json framework)" = sklearn &&
	test "$(jget get.json mediaType)" = application/vnd.bento.model.v1+json &&
	test "$(jget get.json labels.team)" = ml &&
	test "$(jget get.json labels.stage)" = dev &&
	jget get.json "files.*.path" > paths &&
	printf "config.json\nsub/extra.bin\nweights.bin\n" > want &&
	cmp want paths &&
	test "$(jget get.json files.2.size)" = 50000 &&
	test "$(jget get.json files.2.mode)" = 420 &&
	test "$(jget get.json files.2.digest)" = "sha256:$(sha256sum m/clf/weights.bin | cut -c1-64)"
'

test_expect_success 'import a single file derives a deterministic version' '
	bento models import m/single.onnx --name single -o json > a.json &&
	v=$(jget a.json version) &&
	echo "$v" | grep -Eq "^[0-9a-f]{16}$" &&
	bento models get "single:$v" -o json > get.json &&
	test "$(jget get.json "files.*.path")" = single.onnx &&
	test "$(jget get.json files.0.size)" = 4096 &&
	BENTO_HOME=$TMP/other bento models import m/single.onnx --name single -o json > b.json &&
	test "$(jget b.json version)" = "$v" &&
	test "$(jget b.json digest)" = "$(jget a.json digest)"
'

test_expect_success 'importing the same content again says so and changes nothing' '
	before=$(store_state) &&
	bento models import m/single.onnx --name single -o json > again.json &&
	test "$(jget again.json existed)" = true &&
	test "$(store_state)" = "$before"
'

test_expect_success 'text output: verb, tag and digest' '
	bento models import m/clf --name clf --version 1.0 --framework sklearn \
		--label team=ml --label stage=dev > out 2> err &&
	head -n 1 out | grep -q "^imported model clf:1.0" &&
	test "$(digest_of_text out)" = "$(list_digest models clf:1.0)"
'

test_expect_success 'models import -o tag prints name:version' '
	bento models import m/clf --name clf --version 1.0 --framework sklearn \
		--label team=ml --label stage=dev -o tag > out &&
	test "$(cat out)" = clf:1.0
'

test_expect_success 'models list: table' '
	bento models list > out &&
	head -n 1 out | grep -q "^TAG  *DIGEST  *SIZE  *ADDED" &&
	grep -Eq "^clf:1.0  +sha256:[0-9a-f]{12} " out &&
	grep -Eq "^single:[0-9a-f]{16}  +sha256:[0-9a-f]{12} " out &&
	test "$(wc -l < out)" = 3
'

test_expect_success 'models list -o json' '
	bento models list -o json > l.json &&
	python3 -c "
import json, sys
l = json.load(open(\"l.json\"))
assert sorted(o[\"name\"] for o in l) == [\"clf\", \"single\"], l
for o in l:
    assert set(o) >= {\"name\", \"version\", \"digest\", \"size\", \"added\"}, o
    assert o[\"digest\"].startswith(\"sha256:\") and len(o[\"digest\"]) == 71, o
clf = [o for o in l if o[\"name\"] == \"clf\"][0]
assert clf[\"version\"] == \"1.0\" and clf[\"size\"] == $(cat m/clf/config.json m/clf/sub/extra.bin m/clf/weights.bin | wc -c), clf
"
'

test_expect_success 'models list NAME filters' '
	bento models list clf -o json > l.json &&
	test "$(jget l.json "*.name")" = clf
'

test_expect_success 'models get -o yaml' '
	bento models get clf:1.0 -o yaml > out.yaml &&
	grep_q out.yaml "name: clf" &&
	grep_q out.yaml "framework: sklearn" &&
	grep_q out.yaml "team: ml" &&
	grep_q out.yaml "path: sub/extra.bin"
'

test_expect_success 'models get -o path points at the stored blobs' '
	bento models get clf:1.0 -o path > paths &&
	test "$(wc -l < paths)" = 3 &&
	grep_q paths "weights.bin	$BENTO_HOME/blobs/sha256/" &&
	while IFS="	" read -r p blob; do
		cmp "m/clf/$p" "$blob" || exit 1
	done < paths
'

test_expect_success 'models get text' '
	bento models get clf > out &&
	grep_q out "clf:1.0" &&
	grep_q out "framework: sklearn" &&
	grep_q out "sub/extra.bin"
'

test_expect_success 'a second version; the name alone resolves to the newest' '
	printf "more" >> m/clf/config.json &&
	bento models import m/clf --name clf --version 2.0 > /dev/null &&
	bento models get clf -o json > g.json &&
	test "$(jget g.json version)" = 2.0 &&
	bento models get clf:latest -o json > g.json &&
	test "$(jget g.json version)" = 2.0 &&
	bento models get clf:1.0 -o json > g.json &&
	test "$(jget g.json version)" = 1.0
'

test_expect_code 4 'import of a missing path' '
	bento models import m/nope --name nope 2> err; rc=$?; grep_q err "m/nope" || exit 9; exit $rc'

test_expect_success 'import of an empty directory' '
	mkdir empty && refused 1 bento models import empty --name empty && grep_q err empty'
test_expect_success 'a symlink leaving the model directory' '
	mkdir -p leaky && cp m/single.onnx leaky/w.bin && ln -s ../m/clf/weights.bin leaky/stolen.bin &&
	refused 3 bento models import leaky --name leaky && grep_q err stolen.bin'
test_expect_code 2 'import without --name is a usage error' 'bento models import m/clf'
test_expect_code 2 'a label without = is a usage error' 'bento models import m/clf --name x --label oops'
test_expect_code 1 'an invalid model name is refused' '
	bento models import m/clf --name Bad/Name 2> err; rc=$?; grep_q err "Bad/Name" || exit 9; exit $rc'
test_expect_code 4 'models get of an unknown model' 'bento models get nope:1'

test_expect_success 'a bento that uses clf:1.0 (by store tag)' '
	mkdir ctx &&
	printf "print(1)\n" > ctx/app.py &&
	printf "name: usesclf\nversion: \"1\"\nservice: python3 app.py\nmodels:\n  - clf:1.0\n" \
		> ctx/bentofile.yaml &&
	bento build ctx > /dev/null
'

test_expect_success 'models delete is refused while a bento uses the model' '
	before=$(store_state) &&
	{ bento models delete -y clf:1.0 > out 2> err; rc=$?; } &&
	test "$rc" = 1 &&
	grep_q err "usesclf" &&
	test "$(store_state)" = "$before" &&
	bento models get clf:1.0 > /dev/null
'

test_expect_code 2 'models delete without -y from a non-terminal' '
	bento models delete single < /dev/null'

test_expect_success 'models delete --force removes it even so' '
	bento models delete -y --force clf:1.0 > out &&
	grep_q out "clf:1.0" &&
	bento models list -o json > l.json &&
	! jget l.json "*.version" | grep -qx 1.0 &&
	{ bento models get clf:1.0; test $? = 4; } &&
	bento get usesclf:1 > /dev/null
'

test_expect_success 'models delete -y of an unused model' '
	bento models delete -y single > out &&
	grep_q out "deleted model single:" &&
	{ bento models get single; test $? = 4; }
'

test_expect_code 4 'models delete of an unknown model' 'bento models delete -y nope:1'

test_done
