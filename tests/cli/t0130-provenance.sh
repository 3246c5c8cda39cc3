#!/bin/bash
# Provenance: the in-toto statement bento get --provenance shows, the git
# state it records (credentials stripped, dirty), CI identity, the DSSE
# envelope checked with openssl, and byte-identical provenance and archives
# from two builds of the same inputs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password
# A CI environment around the test run must not leak into the builds.
unset CI GITHUB_ACTIONS GITLAB_CI JENKINS_URL BUILDKITE CIRCLECI BENTO_ACTOR

K=$XDG_CONFIG_HOME/bento/keys
kit() { python3 "$FIX/trustkit.py" "$@"; }
RD=predicate.buildDefinition.resolvedDependencies
EP=predicate.buildDefinition.externalParameters
BP=predicate.runDetails.byproducts

# git with a fixed identity and fixed dates, so commits are reproducible.
export GIT_AUTHOR_NAME=tester GIT_AUTHOR_EMAIL=t@example.com
export GIT_COMMITTER_NAME=tester GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE=2024-01-02T03:04:05Z GIT_COMMITTER_DATE=2024-01-02T03:04:05Z
export GIT_CONFIG_NOSYSTEM=1

mkctx "$TMP/ctx" demo

test_expect_success 'setup: a key, and a signed build outside git' '
	bento key generate > /dev/null 2>&1 && id_of "$K/default.pub" > id &&
	bento build ctx --version 1 --sign -o json > b.json 2> /dev/null &&
	jget b.json digest > d && cut -c8- d > hex &&
	! grep -q commit b.json
'

test_expect_success 'get --provenance shows the in-toto statement' '
	bento get demo:1 --provenance > p.json &&
	test "$(jget p.json _type)" = https://in-toto.io/Statement/v1 &&
	test "$(jget p.json predicateType)" = https://slsa.dev/provenance/v1 &&
	test "$(jget p.json subject.#len)" = 1 &&
	test "$(jget p.json subject.0.name)" = demo:1 &&
	test "$(jget p.json subject.0.digest.sha256)" = "$(cat hex)" &&
	test "$(jget p.json predicate.buildDefinition.buildType)" = https://bento.dev/build/v1 &&
	test "$(jget p.json predicate.runDetails.builder.id)" = https://bento.dev/builder/bento-cli &&
	test "bento $(jget p.json predicate.runDetails.builder.version.bento)" = "$(bento version)" &&
	test "$(jget p.json $EP.name)" = demo && test "$(jget p.json $EP.version)" = 1 &&
	test "$(jget p.json $EP.bentofile)" = bentofile.yaml &&
	test "$(jget p.json $EP.labels.team)" = ml &&
	test "$(jget p.json predicate.runDetails.metadata)" = "{}"
'

test_expect_success 'outside git: no git dependency, repository false, no source' '
	jget p.json "$RD.*.uri" > uris &&
	! grep -q "^git+" uris &&
	test "$(jget p.json $BP.0.name)" = git-worktree &&
	test "$(jget p.json $BP.0.annotations)" = "{\"repository\":false}" &&
	! jget p.json $EP.source > /dev/null 2>&1
'

test_expect_success 'resolvedDependencies: every model digest and every lockfile digest' '
	bento models list -o json > ml.json &&
	test "$(jget p.json $RD.0.uri)" = "bento-model:emb:$(jget ml.json 0.version)" &&
	test "sha256:$(jget p.json $RD.0.digest.sha256)" = "$(jget ml.json 0.digest)" &&
	test "$(jget p.json $RD.1.name)" = env/requirements.txt &&
	test "$(jget p.json $RD.1.uri)" = file:requirements.txt &&
	test "$(jget p.json $RD.1.digest.sha256)" = "$(sha256sum < ctx/requirements.txt | cut -c1-64)" &&
	test "$(jget p.json $RD.#len)" = 2
'

test_expect_success 'the exported envelope: canonical DSSE, payload = the statement, subject = bento.json' '
	bento export demo:1 d.bento > /dev/null &&
	mkdir x && tar -xf d.bento -C x &&
	env=x/attestations/provenance.dsse.json &&
	test "$(jget $env "#keys" | tr "\n" " ")" = "payload payloadType signatures " &&
	test "$(jget $env payloadType)" = application/vnd.in-toto+json &&
	test "$(jget $env signatures.#len)" = 1 &&
	test "$(jget $env signatures.0.keyid)" = "$(cat id)" &&
	python3 -c "
import json, sys
e = open(sys.argv[1], \"rb\").read()
c = json.dumps(json.loads(e), sort_keys=True, separators=(\",\", \":\"), ensure_ascii=False).encode()
sys.exit(e != c)" $env &&
	kit payload $env > payload.json &&
	test "$(jget payload.json "#sha256")" = "$(jget p.json "#sha256")" &&
	test "$(jget payload.json subject.0.digest.sha256)" = "$(sha256sum < x/bento.json | cut -c1-64)"
'

test_expect_success 'the DSSE signature verifies with openssl pkeyutl -rawin over the PAE' '
	kit pae x/attestations/provenance.dsse.json pae.bin sig.bin "$(cat id)" &&
	head -c 39 pae.bin | grep -q "^DSSEv1 28 application/vnd.in-toto+json $" &&
	test "$(wc -c < sig.bin)" = 64 &&
	kit pem "$K/default.pub" pub.pem &&
	openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin -sigfile sig.bin > ov &&
	grep_q ov "Signature Verified Successfully"
'

test_expect_success 'openssl rejects a changed PAE or another key (control)' '
	python3 -c "
import sys
b = bytearray(open(\"pae.bin\", \"rb\").read()); b[-10] ^= 1
open(\"pae2.bin\", \"wb\").write(b)" &&
	! openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae2.bin -sigfile sig.bin > /dev/null 2>&1 &&
	minisign -G -W -p ms.pub -s ms.key > /dev/null &&
	kit pem ms.pub ms.pem &&
	! openssl pkeyutl -verify -pubin -inkey ms.pem -rawin -in pae.bin -sigfile sig.bin > /dev/null 2>&1
'

test_expect_success 'a second signer: signatures sorted by key id, each verifies with openssl' '
	bento sign demo:1 --key ms.key > /dev/null &&
	bento export demo:1 - | tar -xOf - attestations/provenance.dsse.json > env2.json &&
	jget env2.json "signatures.*.keyid" > ids &&
	{ cat id; id_of ms.pub; } | LC_ALL=C sort | cmp - ids &&
	test "$(jget env2.json payload)" = "$(jget x/attestations/provenance.dsse.json payload)" &&
	kit pae env2.json pae.bin sig1.bin "$(cat id)" &&
	openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin -sigfile sig1.bin > /dev/null &&
	kit pae env2.json pae.bin sig2.bin "$(id_of ms.pub)" &&
	openssl pkeyutl -verify -pubin -inkey ms.pem -rawin -in pae.bin -sigfile sig2.bin > /dev/null
'

test_expect_success 'an unsigned build still has provenance, with no signature' '
	mkctx u plain &&
	bento build u --version 1 > /dev/null 2>&1 &&
	bento get plain:1 --provenance > pu.json &&
	test "$(jget pu.json subject.0.name)" = plain:1 &&
	bento export plain:1 - | tar -xOf - attestations/provenance.dsse.json > envu.json &&
	test "$(jget envu.json signatures)" = "[]" &&
	bento verify plain:1 > out && grep_q out "??   attestation provenance.dsse.json: subject matches; not signed"
'

test_expect_code 4 'get --provenance of an unknown bento' 'bento get nope:1 --provenance'

test_expect_success 'setup: a git repository with a credentialed remote' '
	mkctx g gitdemo &&
	git -C g init -q -b main &&
	git -C g add -A && git -C g commit -q -m init &&
	git -C g remote add origin https://user:secret@example.com/r.git &&
	git -C g rev-parse HEAD > head && git -C g rev-parse "HEAD^{tree}" > tree
'

test_expect_success 'in git: the commit, the branch, the remote without its credentials, dirty false' '
	bento build g --version 1 --sign -o json > gb.json 2> /dev/null &&
	test "$(jget gb.json commit)" = "$(cat head)" &&
	test "$(jget gb.json dirty)" = false &&
	bento get gitdemo:1 --provenance > gp.json &&
	test "$(jget gp.json $RD.0.uri)" = git+https://example.com/r.git@refs/heads/main &&
	test "$(jget gp.json $RD.0.digest.gitCommit)" = "$(cat head)" &&
	test "$(jget gp.json $EP.source.dirty)" = false &&
	test "$(jget gp.json $BP.0.annotations.repository)" = true &&
	test "$(jget gp.json $BP.0.annotations.dirty)" = false &&
	test "$(jget gp.json $BP.0.digest.gitTree)" = "$(cat tree)"
'

test_expect_success 'the credentials appear nowhere: statement, archive, store, output' '
	! grep -q secret gp.json gb.json &&
	bento export gitdemo:1 g.bento > /dev/null &&
	kit payload <(tar -xOf g.bento attestations/provenance.dsse.json) > gpay.json &&
	! grep -q secret gpay.json && ! grep -q user: gpay.json &&
	! grep -aq user:secret g.bento && ! grep -rq user:secret "$BENTO_HOME" &&
	bento history -o json > h.json && ! grep -q secret h.json
'

test_expect_success 'verify reports the source commit' '
	bento verify gitdemo:1 --key "$K/default.pub" > out &&
	grep_q out "source:    git+https://example.com/r.git@refs/heads/main commit $(cat head)"
'

test_expect_success 'an edited tracked file: dirty true' '
	printf "# local edit\n" >> g/service.py &&
	bento build g --version 2 -o json > gb2.json 2> /dev/null &&
	test "$(jget gb2.json dirty)" = true &&
	bento get gitdemo:2 --provenance > gp2.json &&
	test "$(jget gp2.json $EP.source.dirty)" = true &&
	test "$(jget gp2.json $BP.0.annotations.dirty)" = true &&
	test "$(jget gp2.json $RD.0.digest.gitCommit)" = "$(cat head)"
'

test_expect_success 'a staged change is dirty too; an untracked file is not' '
	git -C g add service.py &&
	bento build g --version 3 -o json > gb3.json 2> /dev/null &&
	test "$(jget gb3.json dirty)" = true &&
	git -C g commit -q -m edit && git -C g rev-parse HEAD > head2 &&
	printf "scratch\n" > g/untracked.txt &&
	bento build g --version 4 -o json > gb4.json 2> /dev/null &&
	test "$(jget gb4.json dirty)" = false &&
	test "$(jget gb4.json commit)" = "$(cat head2)" &&
	rm g/untracked.txt
'

test_expect_success 'an ssh URL keeps its user but loses its password; a detached HEAD has no branch' '
	git -C g remote set-url origin ssh://git:hunter2@example.com/r.git &&
	git -C g checkout -q --detach &&
	bento build g --version 5 > /dev/null 2>&1 &&
	bento get gitdemo:5 --provenance > gp5.json &&
	test "$(jget gp5.json $RD.0.uri)" = git+ssh://git@example.com/r.git &&
	! grep -rq hunter2 gp5.json "$BENTO_HOME" &&
	git -C g checkout -q main &&
	git -C g remote set-url origin https://user:secret@example.com/r.git
'

test_expect_success 'in GitHub Actions: invocationId is the run URL' '
	printf "# ci\n" >> g/service.py &&
	GITHUB_ACTIONS=true GITHUB_SERVER_URL=https://github.example GITHUB_REPOSITORY=acme/demo \
	GITHUB_RUN_ID=4242 GITHUB_ACTOR=octocat bento build g --version 6 > /dev/null 2>&1 &&
	bento get gitdemo:6 --provenance > gp6.json &&
	test "$(jget gp6.json predicate.runDetails.metadata.invocationId)" = \
		https://github.example/acme/demo/actions/runs/4242 &&
	test "$(jget gp6.json $BP.1.name)" = invocation &&
	test "$(jget gp6.json $BP.1.annotations.ci)" = github-actions &&
	test "$(jget gp6.json $BP.1.annotations.ciRunId)" = 4242 &&
	test "$(jget gp6.json $BP.1.annotations.ciActor)" = octocat &&
	test "$(jget gp6.json $BP.1.uri)" = https://github.example/acme/demo/actions/runs/4242 &&
	bento history gitdemo:6 -o json > h.json &&
	test "$(jget h.json 0.actor)" = github-actions:octocat
'

test_expect_success 'outside CI the invocation byproduct is empty' '
	test "$(jget gp.json $BP.1.name)" = invocation &&
	test "$(jget gp.json $BP.1.annotations)" = "{}"
'

test_expect_success 'two builds of the same inputs in fresh stores: identical envelopes and archives' '
	git -C g checkout -q -- service.py &&
	for i in 1 2; do
		BENTO_HOME=$TMP/r$i bento build g --version 1 --sign > /dev/null 2>&1 &&
		BENTO_HOME=$TMP/r$i bento get gitdemo:1 --provenance > rp$i.json &&
		BENTO_HOME=$TMP/r$i bento export gitdemo:1 r$i.bento --compression none > /dev/null &&
		tar -xOf r$i.bento attestations/provenance.dsse.json > renv$i.json || exit 1
	done &&
	cmp rp1.json rp2.json && cmp renv1.json renv2.json && cmp r1.bento r2.bento &&
	test "$(jget renv1.json signatures.#len)" = 1
'

test_expect_success 'the same from a copy of the checkout in another directory' '
	cp -a g g-copy &&
	BENTO_HOME=$TMP/r3 bento build g-copy --version 1 --sign > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/r3 bento export gitdemo:1 r3.bento --compression none > /dev/null &&
	cmp r1.bento r3.bento
'

test_expect_success 'an unsigned build then bento sign gives the same envelope as build --sign' '
	BENTO_HOME=$TMP/r4 bento build g --version 1 > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/r4 bento sign gitdemo:1 > /dev/null &&
	BENTO_HOME=$TMP/r4 bento export gitdemo:1 r4.bento --compression none > /dev/null &&
	cmp r1.bento r4.bento
'

test_expect_success 'outside git, two fresh stores also agree' '
	for i in 5 6; do
		BENTO_HOME=$TMP/r$i bento build ctx --version 1 --sign > /dev/null 2>&1 &&
		BENTO_HOME=$TMP/r$i bento export demo:1 r$i.bento --compression none > /dev/null || exit 1
	done &&
	cmp r5.bento r6.bento &&
	tar -xOf r5.bento attestations/provenance.dsse.json | cmp - x/attestations/provenance.dsse.json
'

test_done
