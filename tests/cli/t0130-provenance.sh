#!/bin/bash
# Provenance: the in-toto statement bento get --provenance shows, the git
# state it records (credentials stripped; which files of the bento are not
# in the commit: ignored, untracked, modified, deleted, and that nothing
# else counts), what verify and get --provenance say of it, CI identity,
# the DSSE envelope checked with openssl, and byte-identical provenance and
# archives from two builds of the same inputs.
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

test_expect_success 'get --provenance -o json shows the in-toto statement' '
	bento get demo:1 --provenance -o json > p.json &&
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

test_expect_success 'outside git: get --provenance and verify say there is no git source' '
	bento get demo:1 --provenance > pt &&
	grep_q pt "subject:   demo:1 sha256:$(cat hex)" &&
	grep_q pt "source:    not a git work tree" &&
	bento verify demo:1 > vt && ! grep -q "^source:" vt &&
	bento verify demo:1 -o json > vj.json &&
	! jget vj.json source > /dev/null 2>&1 && ! jget vj.json source_git > /dev/null 2>&1
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
	bento get plain:1 --provenance -o json > pu.json &&
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

test_expect_success 'a clean tree: the commit, the branch, the remote without its credentials, dirty false' '
	bento build g --version 1 --sign -o json > gb.json 2> /dev/null &&
	test "$(jget gb.json commit)" = "$(cat head)" &&
	test "$(jget gb.json dirty)" = false &&
	test "$(jget gb.json files_not_in_commit)" = 0 &&
	test "$(jget gb.json not_in_commit)" = "[]" &&
	bento get gitdemo:1 --provenance -o json > gp.json &&
	test "$(jget gp.json $RD.0.uri)" = git+https://example.com/r.git@refs/heads/main &&
	test "$(jget gp.json $RD.0.digest.gitCommit)" = "$(cat head)" &&
	test "$(jget gp.json $RD.0.annotations)" = \
		"{\"dirty\":false,\"filesNotInCommit\":0,\"notInCommit\":[],\"statusCounts\":{}}" &&
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

test_expect_success 'a clean tree: build, verify and get --provenance say clean' '
	bento build g --version 1 2> err > /dev/null &&
	grep_q err "commit $(cat head), clean" &&
	bento verify gitdemo:1 --key "$K/default.pub" > out &&
	grep_q out "source:    git+https://example.com/r.git@refs/heads/main commit $(cat head), clean" &&
	grep_q out "; source git+https://example.com/r.git@refs/heads/main commit $(cat head), clean" &&
	bento verify gitdemo:1 -o json > vj.json &&
	test "$(jget vj.json source_git.state)" = clean &&
	test "$(jget vj.json source_git.commit)" = "$(cat head)" &&
	test "$(jget vj.json source_git.files_not_in_commit)" = 0 &&
	test "$(jget vj.json source_git.not_in_commit)" = "[]" &&
	bento get gitdemo:1 --provenance > pt &&
	grep_q pt "source:    git+https://example.com/r.git@refs/heads/main commit $(cat head), clean"
'

test_expect_success 'the finding: a built file in a git-ignored bin/ is not in the commit' '
	printf "bin/\n" > g/.gitignore && git -C g add .gitignore && git -C g commit -q -m ignore &&
	git -C g rev-parse HEAD > head &&
	mkdir g/bin && printf "\177ELF built\n" > g/bin/server &&
	git -C g status --porcelain > st && test ! -s st &&
	bento build g --version 2 -o json > gb2.json 2> /dev/null &&
	test "$(jget gb2.json dirty)" = true &&
	test "$(jget gb2.json files_not_in_commit)" = 1 &&
	test "$(jget gb2.json not_in_commit)" = "[{\"path\":\"src/bin/server\",\"status\":\"ignored\"}]" &&
	bento get gitdemo:2 --provenance -o json > gp2.json &&
	test "$(jget gp2.json $RD.0.digest.gitCommit)" = "$(cat head)" &&
	test "$(jget gp2.json $RD.0.annotations.dirty)" = true &&
	test "$(jget gp2.json $RD.0.annotations.filesNotInCommit)" = 1 &&
	test "$(jget gp2.json $RD.0.annotations.notInCommit.0.path)" = src/bin/server &&
	test "$(jget gp2.json $RD.0.annotations.notInCommit.0.status)" = ignored &&
	test "$(jget gp2.json $RD.0.annotations.statusCounts)" = "{\"ignored\":1}" &&
	test "$(jget gp2.json $EP.source.dirty)" = true &&
	test "$(jget gp2.json $BP.0.annotations.dirty)" = true
'

test_expect_success 'the finding: build, verify and get --provenance name the file, in text and JSON' '
	bento build g --version 2 2> err > /dev/null &&
	grep_q err "commit $(cat head), dirty: 1 file not in the commit: src/bin/server (ignored)" &&
	bento verify gitdemo:2 > out &&
	grep_q out "source:    git+https://example.com/r.git@refs/heads/main commit $(cat head), dirty: 1 file not in the commit: src/bin/server (ignored)" &&
	bento verify gitdemo:2 -o json > vj.json &&
	test "$(jget vj.json source_git.state)" = dirty &&
	test "$(jget vj.json source_git.files_not_in_commit)" = 1 &&
	test "$(jget vj.json source_git.not_in_commit.0.path)" = src/bin/server &&
	test "$(jget vj.json source_git.not_in_commit.0.status)" = ignored &&
	case "$(jget vj.json source)" in *"dirty: 1 file not in the commit: src/bin/server (ignored)") ;; *) false ;; esac &&
	bento get gitdemo:2 --provenance > pt &&
	grep_q pt "source:    git+https://example.com/r.git@refs/heads/main commit $(cat head), dirty: 1 file not in the commit" &&
	grep -qx "           src/bin/server (ignored)" pt &&
	bento history gitdemo:2 -o json > h.json &&
	test "$(jget h.json 0.details.dirty)" = true &&
	test "$(jget h.json 0.details.not_in_commit)" = 1
'

test_expect_success 'an untracked file and a modified tracked file, each with its status' '
	printf "scratch\n" > g/notes.txt &&
	printf "# local edit\n" >> g/service.py &&
	bento build g --version 3 -o json > gb3.json 2> /dev/null &&
	test "$(jget gb3.json files_not_in_commit)" = 3 &&
	jget gb3.json "not_in_commit.*" > nic &&
	printf "%s\n" "{\"path\":\"src/bin/server\",\"status\":\"ignored\"}" \
		"{\"path\":\"src/notes.txt\",\"status\":\"untracked\"}" \
		"{\"path\":\"src/service.py\",\"status\":\"modified\"}" | cmp - nic &&
	bento get gitdemo:3 --provenance -o json > gp3.json &&
	test "$(jget gp3.json $RD.0.annotations.statusCounts)" = \
		"{\"ignored\":1,\"modified\":1,\"untracked\":1}" &&
	bento verify gitdemo:3 > out &&
	grep_q out "dirty: 3 files not in the commit: src/bin/server (ignored), src/notes.txt (untracked), src/service.py (modified)"
'

test_expect_success 'a staged change is modified too; a deleted file the bento lacks is deleted' '
	git -C g add service.py &&
	git -C g rm -q lib/util.py &&
	bento build g --version 4 -o json > gb4.json 2> /dev/null &&
	jget gb4.json "not_in_commit.*.path" > paths &&
	printf "src/bin/server\nsrc/lib/util.py\nsrc/notes.txt\nsrc/service.py\n" | cmp - paths &&
	test "$(jget gb4.json not_in_commit.1.status)" = deleted &&
	test "$(jget gb4.json not_in_commit.3.status)" = modified &&
	git -C g reset -q && git -C g checkout -q -- lib service.py
'

test_expect_success 'files the bentofile excludes do not count; the bentofile itself does' '
	cp g/bentofile.yaml bf.orig &&
	printf "exclude:\n  - bin/\n  - notes.txt\n  - lib/\n  - bentofile.yaml\n" >> g/bentofile.yaml &&
	rm g/lib/util.py && printf "more\n" > g/notes.txt &&
	bento build g --version 5 -o json > gb5.json 2> /dev/null &&
	test "$(jget gb5.json not_in_commit)" = "[]" &&
	test "$(jget gb5.json dirty)" = true &&
	test "$(jget gb5.json bentofile_not_in_commit)" = modified &&
	bento verify gitdemo:5 > out &&
	grep_q out "dirty: the bentofile is not in the commit (modified)"
'

test_expect_success 'the same with the bentofile committed: clean though the tree is not' '
	git -C g add bentofile.yaml && git -C g commit -q -m exclude && git -C g rev-parse HEAD > head &&
	git -C g status --porcelain > st && grep -q "^ D lib/util.py" st && grep -q "^?? notes.txt" st &&
	bento build g --version 6 -o json > gb6.json 2> /dev/null &&
	test "$(jget gb6.json dirty)" = false &&
	test "$(jget gb6.json not_in_commit)" = "[]" &&
	! jget gb6.json bentofile_not_in_commit > /dev/null 2>&1 &&
	bento verify gitdemo:6 > out && grep_q out "commit $(cat head), clean" &&
	git -C g checkout -q -- lib && rm g/notes.txt && cp bf.orig g/bentofile.yaml &&
	git -C g commit -q -am "include again" && git -C g rev-parse HEAD > head
'

test_expect_success 'ignored and untracked as git status says, below ignored directories too' '
	mkdir -p ig/deps/lib ig/keep/sub ig/logs &&
	printf "#!/bin/sh\n" > ig/run.sh && chmod 755 ig/run.sh &&
	printf "name: ig\nservice: ./run.sh\n" > ig/bentofile.yaml &&
	printf "deps/\n*.log\n!deps/lib/keep.py\nlogs\n" > ig/.gitignore &&
	printf "e.txt\n" > ig/keep/sub/.gitignore &&
	for f in deps/lib/keep.py deps/lib/x.py keep/a.log keep/b.py keep/sub/e.txt keep/sub/f.txt logs/g.txt; do
		echo "$f" > "ig/$f" || return 1
	done &&
	git -C ig init -q -b main && git -C ig add run.sh bentofile.yaml .gitignore keep/sub/.gitignore &&
	git -C ig commit -q -m init &&
	bento build ig -o json > ig.json 2> /dev/null &&
	jget ig.json "not_in_commit.*" |
		sed -n "s/^{\"path\":\"src\/\([^\"]*\)\",\"status\":\"\([a-z]*\)\"}$/\2 \1/p" | sort > got &&
	git -C ig status --porcelain --ignored --untracked-files=all |
		sed -n "s/^!! /ignored /p; s/^?? /untracked /p" | sort > want &&
	{ test "$(wc -l < want)" = 7 && cmp want got || { cat want got; false; }; }
'

test_expect_success 'a model imported from a path counts its files too (git-ignored weights)' '
	printf "*.bin\n" > g/models/emb/.gitignore &&
	git -C g rm -q --cached models/emb/weights.bin models/emb/sub/vocab.bin &&
	git -C g add models/emb/.gitignore && git -C g commit -q -m "weights out of git" &&
	git -C g rev-parse HEAD > head &&
	bento build g --version 7 -o json > gb7.json 2> /dev/null &&
	jget gb7.json "not_in_commit.*" > nic &&
	printf "%s\n" "{\"path\":\"models/emb/sub/vocab.bin\",\"status\":\"ignored\"}" \
		"{\"path\":\"models/emb/weights.bin\",\"status\":\"ignored\"}" \
		"{\"path\":\"src/bin/server\",\"status\":\"ignored\"}" | cmp - nic
'

test_expect_success 'a context in a subdirectory of the repository: only its files count' '
	mkdir -p mono && git -C mono init -q -b main &&
	mkctx mono/svc subdemo && printf "top\n" > mono/README &&
	git -C mono add -A && git -C mono commit -q -m mono && git -C mono rev-parse HEAD > mhead &&
	printf "edited outside the context\n" >> mono/README && printf "x\n" > mono/stray.txt &&
	bento build mono/svc --version 1 -o json > sb.json 2> /dev/null &&
	test "$(jget sb.json commit)" = "$(cat mhead)" &&
	test "$(jget sb.json dirty)" = false &&
	bento get subdemo:1 --provenance -o json > sp.json &&
	test "$(jget sp.json $RD.0.annotations.contextDir)" = svc &&
	test "$(jget sp.json $RD.0.annotations.filesNotInCommit)" = 0 &&
	printf "new\n" > mono/svc/new.txt &&
	bento build mono/svc --version 2 -o json > sb2.json 2> /dev/null &&
	test "$(jget sb2.json not_in_commit)" = "[{\"path\":\"src/new.txt\",\"status\":\"untracked\"}]" &&
	bento get subdemo:2 --provenance > spt &&
	grep -qx "           src/new.txt (untracked)" spt
'

test_expect_success 'a linked worktree: its .git file is not bundled, and it is clean' '
	git -C g worktree add -q "$TMP/gwt" 2> /dev/null && test -f gwt/.git &&
	bento build gwt --version 10 -o json > wt.json 2> /dev/null &&
	test "$(jget wt.json commit)" = "$(cat head)" &&
	test "$(jget wt.json dirty)" = false &&
	bento get gitdemo:10 -o json > wtm.json &&
	jget wtm.json "files.*.path" > wtpaths && grep -qx src/service.py wtpaths &&
	! grep -q "\.git$" wtpaths &&
	git -C g worktree remove --force "$TMP/gwt"
'

test_expect_success 'an ssh URL keeps its user but loses its password; a detached HEAD has no branch' '
	git -C g remote set-url origin ssh://git:hunter2@example.com/r.git &&
	git -C g checkout -q --detach &&
	bento build g --version 8 > /dev/null 2>&1 &&
	bento get gitdemo:8 --provenance -o json > gp5.json &&
	test "$(jget gp5.json $RD.0.uri)" = git+ssh://git@example.com/r.git &&
	! grep -rq hunter2 gp5.json "$BENTO_HOME" &&
	git -C g checkout -q main &&
	git -C g remote set-url origin https://user:secret@example.com/r.git
'

test_expect_success 'in GitHub Actions: invocationId is the run URL' '
	printf "# ci\n" >> g/service.py &&
	GITHUB_ACTIONS=true GITHUB_SERVER_URL=https://github.example GITHUB_REPOSITORY=acme/demo \
	GITHUB_RUN_ID=4242 GITHUB_ACTOR=octocat bento build g --version 9 > /dev/null 2>&1 &&
	bento get gitdemo:9 --provenance -o json > gp6.json &&
	test "$(jget gp6.json predicate.runDetails.metadata.invocationId)" = \
		https://github.example/acme/demo/actions/runs/4242 &&
	test "$(jget gp6.json $BP.1.name)" = invocation &&
	test "$(jget gp6.json $BP.1.annotations.ci)" = github-actions &&
	test "$(jget gp6.json $BP.1.annotations.ciRunId)" = 4242 &&
	test "$(jget gp6.json $BP.1.annotations.ciActor)" = octocat &&
	test "$(jget gp6.json $BP.1.uri)" = https://github.example/acme/demo/actions/runs/4242 &&
	bento history gitdemo:9 -o json > h.json &&
	test "$(jget h.json 0.actor)" = github-actions:octocat &&
	bento get gitdemo:9 --provenance > pt &&
	grep_q pt "ci:        github-actions run 4242 by octocat, https://github.example/acme/demo/actions/runs/4242"
'

test_expect_success 'outside CI the invocation byproduct is empty' '
	test "$(jget gp.json $BP.1.name)" = invocation &&
	test "$(jget gp.json $BP.1.annotations)" = "{}"
'

test_expect_success 'two builds of the same inputs in fresh stores: identical envelopes and archives' '
	git -C g checkout -q -- service.py &&
	for i in 1 2; do
		BENTO_HOME=$TMP/r$i bento build g --version 1 --sign > /dev/null 2>&1 &&
		BENTO_HOME=$TMP/r$i bento get gitdemo:1 --provenance -o json > rp$i.json &&
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

test_expect_success 'every statement written here matches schema/provenance-statement.schema.json' '
	schema=$SRC/schema/provenance-statement.schema.json &&
	for f in p.json pu.json gp.json gp2.json gp3.json gp5.json gp6.json sp.json rp1.json; do
		test -s $f || { echo "no $f"; exit 1; }
	done &&
	python3 "$FIX/schema_check.py" "$schema" p.json pu.json gp.json gp2.json gp3.json \
		gp5.json gp6.json sp.json rp1.json &&
	python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
a = s[\"predicate\"][\"buildDefinition\"][\"resolvedDependencies\"][0][\"annotations\"]
del a[\"filesNotInCommit\"]
json.dump(s, open(\"bad1.json\", \"w\"))
a[\"filesNotInCommit\"] = 1
a[\"notInCommit\"] = [{\"path\": \"/etc/passwd\", \"status\": \"ignored\"}]
json.dump(s, open(\"bad2.json\", \"w\"))" gp2.json &&
	! python3 "$FIX/schema_check.py" "$schema" bad1.json > e1 && grep -q filesNotInCommit e1 &&
	! python3 "$FIX/schema_check.py" "$schema" bad2.json > e2 && grep -q notInCommit e2
'

test_done
