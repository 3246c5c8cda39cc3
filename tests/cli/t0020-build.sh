#!/bin/bash
# bento build: output forms, overrides, models by tag and by path, file
# selection (include/exclude, .bentoignore, always-excluded dirs), lockfiles
# and their warnings, --strict, rebuilds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkctx "$TMP/ctx" demo
mkdir -p "$TMP/m/clf"
mkweights "$TMP/m/clf/w.bin" 20000 7

test_expect_success 'build prints name:version and a sha256 digest' '
	bento build ctx > out 2> err &&
	test "$(wc -l < out)" = 2 &&
	head -n 1 out | grep -Eq "^built demo:[0-9a-f]{16}$" &&
	digest_of_text out > d &&
	test -s d &&
	! grep -q "warning" err
'

test_expect_success 'build -o json has name, version and digest' '
	bento build ctx -o json > b.json &&
	test "$(jget b.json name)" = demo &&
	jget b.json version | grep -Eq "^[0-9a-f]{16}$" &&
	jget b.json digest | grep -Eq "^sha256:[0-9a-f]{64}$" &&
	test "$(jget b.json existed)" = true &&
	test "$(jget b.json digest)" = "$(list_digest "demo:$(jget b.json version)")"
'

test_expect_success 'rebuilding with no change gives the same digest and says unchanged' '
	bento build ctx > a 2> /dev/null &&
	bento build ctx > b 2> /dev/null &&
	test "$(digest_of_text a)" = "$(digest_of_text b)" &&
	grep_q b unchanged
'

test_expect_success 'build -o tag prints only name:version' '
	bento build ctx -o tag > t &&
	test "$(wc -l < t)" = 1 &&
	grep -Eq "^demo:[0-9a-f]{16}$" t
'

test_expect_success 'the bento.json of the build' '
	bento get demo -o json > g.json &&
	test "$(jget g.json mediaType)" = application/vnd.bento.manifest.v1+json &&
	test "$(jget g.json labels.team)" = ml &&
	test "$(jget g.json service.entrypoint)" = "[\"./run.sh\",\"--port\",\"3000\"]" &&
	jget g.json "files.*.path" > paths &&
	LC_ALL=C sort -c paths &&
	grep -qx src/run.sh paths && grep -qx src/service.py paths &&
	grep -qx src/lib/util.py paths && grep -qx src/bentofile.yaml paths &&
	python3 -c "
import json
m = json.load(open(\"g.json\"))
modes = {f[\"path\"]: f[\"mode\"] for f in m[\"files\"]}
assert modes[\"src/run.sh\"] == 0o755 and modes[\"src/service.py\"] == 0o644, modes
assert m[\"size\"] == sum(f[\"size\"] for f in m[\"files\"]) + sum(x[\"manifest\"][\"size\"] for x in m[\"models\"]), m[\"size\"]
"
'

test_expect_success 'a model given by {name, path} is imported, and not also under src/' '
	bento get demo -o json > g.json &&
	test "$(jget g.json "models.*.name")" = emb &&
	jget g.json "models.0.manifest.files.*.path" > mp &&
	printf "config.json\nsub/vocab.bin\nweights.bin\n" > want && cmp want mp &&
	! jget g.json "files.*.path" | grep -q "^src/models/" &&
	bento models list -o json > ml.json &&
	test "$(jget ml.json "*.name")" = emb &&
	test "$(jget g.json models.0.digest)" = "$(list_digest models "emb:$(jget g.json models.0.version)")"
'

test_expect_success 'get -o path: the model files are in the store as they were' '
	bento get demo -o path > paths &&
	grep_q paths "models/emb/weights.bin	" &&
	blob=$(grep "^models/emb/weights.bin	" paths | cut -f2) &&
	cmp "$blob" ctx/models/emb/weights.bin &&
	blob=$(grep "^src/run.sh	" paths | cut -f2) &&
	cmp "$blob" ctx/run.sh
'

test_expect_success 'the lockfile is found by name and listed under env/' '
	bento get demo -o json > g.json &&
	jget g.json "files.*.path" | grep -qx env/requirements.txt &&
	test "$(jget g.json lockfiles.0.path)" = env/requirements.txt &&
	test "$(jget g.json lockfiles.0.kind)" = pip &&
	test "$(jget g.json lockfiles.0.source)" = requirements.txt &&
	test "$(jget g.json lockfiles.0.digest)" = "sha256:$(sha256sum ctx/requirements.txt | cut -c1-64)" &&
	test "$(jget g.json lockfiles.#len)" = 1
'

test_expect_success '--name, --version and --label override the bentofile' '
	bento build ctx --name other --version 2.0 --label team=infra --label extra=1 -o json > b.json &&
	test "$(jget b.json name)" = other && test "$(jget b.json version)" = 2.0 &&
	bento get other:2.0 -o json > g.json &&
	test "$(jget g.json name)" = other &&
	test "$(jget g.json version)" = 2.0 &&
	test "$(jget g.json labels.team)" = infra &&
	test "$(jget g.json labels.extra)" = 1
'

test_expect_success 'a model by store tag' '
	bento models import m/clf --name clf --version 3 > /dev/null &&
	mkdir -p tagctx/models && printf "x = 1\n" > tagctx/app.py &&
	cp -r ctx/models/emb tagctx/models/emb &&
	cat > tagctx/bentofile.yaml <<-EOF &&
	name: tagged
	version: "1"
	service: [python3, app.py]
	models:
	  - clf:3
	  - name: emb
	    path: models/emb
	EOF
	bento build tagctx > /dev/null &&
	bento get tagged:1 -o json > g.json &&
	jget g.json "models.*.name" > names && printf "clf\nemb\n" > want && cmp want names &&
	test "$(jget g.json models.0.version)" = 3 &&
	test "$(jget g.json models.0.digest)" = "$(list_digest models clf:3)" &&
	test "$(jget g.json service.entrypoint)" = "[\"python3\",\"app.py\"]" &&
	jget g.json "files.*.path" > paths && printf "src/app.py\nsrc/bentofile.yaml\n" > want &&
	cmp want paths
'

# include/exclude globs, .bentoignore, and the directories always left out.
sel=$TMP/sel
mkdir -p "$sel/lib/__pycache__" "$sel/__pycache__" "$sel/.git/objects" "$sel/data/deep" \
	"$sel/venv/bin" "$sel/env2" "$sel/docs"
printf 'print(1)\n' > "$sel/service.py"
printf 'print(2)\n' > "$sel/helper.py"
printf 'x\n' > "$sel/lib/util.py"
printf 'k\n' > "$sel/lib/secret.key"
printf 'c\n' > "$sel/lib/__pycache__/util.cpython-311.pyc"
printf 'c\n' > "$sel/__pycache__/service.cpython-311.pyc"
printf 'c\n' > "$sel/stray.pyc"
printf '[core]\n' > "$sel/.git/config"
printf 'o\n' > "$sel/.git/objects/ab"
printf '1,2\n' > "$sel/data/a.csv"
printf '3,4\n' > "$sel/data/deep/b.csv"
printf 'big\n' > "$sel/data/deep/big.bin"
printf 'tmp\n' > "$sel/data/scratch.tmp"
printf 'home = /usr\n' > "$sel/env2/pyvenv.cfg"
printf 'x\n' > "$sel/env2/lib.py"
printf '#!/bin/sh\n' > "$sel/venv/bin/activate"
printf 'doc\n' > "$sel/docs/readme.md"
printf 'readme\n' > "$sel/README.md"
printf 'requests==2.31.0 --hash=sha256:%s\n' "$HASH1" > "$sel/requirements.txt"
printf '# comment\n*.bin\ndocs\n' > "$sel/.bentoignore"
cat > "$sel/bentofile.yaml" <<'EOF'
name: sel
version: "1"
service: python3 service.py
include:
  - "*.py"
  - "data/**"
  - requirements.txt
  - venv
  - env2
  - docs
exclude:
  - "secret*"
  - "*.tmp"
  - helper.py
EOF

test_expect_success 'include, exclude and .bentoignore decide the files' '
	bento build sel > /dev/null 2>&1 &&
	bento get sel:1 -o json > g.json &&
	jget g.json "files.*.path" > paths &&
	printf "%s\n" env/requirements.txt src/data/a.csv src/data/deep/b.csv src/lib/util.py \
		src/requirements.txt src/service.py > want &&
	cmp want paths
'

test_expect_success '.git, __pycache__, *.pyc and virtualenvs are always left out' '
	rm sel/.bentoignore &&
	printf "name: sel\nversion: \"2\"\nservice: python3 service.py\n" > sel/bentofile.yaml &&
	bento build sel > /dev/null 2>&1 &&
	bento get sel:2 -o json > g.json &&
	jget g.json "files.*.path" > paths &&
	grep -qx src/data/deep/big.bin paths && grep -qx src/helper.py paths &&
	grep -qx src/docs/readme.md paths && grep -qx src/lib/secret.key paths &&
	! grep -E "(^|/)(\.git|__pycache__|venv|env2)/" paths &&
	! grep -E "\.pyc$" paths
'

test_expect_success 'a symlink that stays inside the context is stored as its file' '
	mkdir link && printf "print(3)\n" > link/real.py && ln -s real.py link/alias.py &&
	printf "name: link\nversion: \"1\"\nservice: python3 alias.py\n" > link/bentofile.yaml &&
	bento build link > /dev/null &&
	bento get link:1 -o json > g.json &&
	python3 -c "
import json
f = {x[\"path\"]: x for x in json.load(open(\"g.json\"))[\"files\"]}
assert f[\"src/alias.py\"][\"digest\"] == f[\"src/real.py\"][\"digest\"], f
assert f[\"src/alias.py\"][\"size\"] == 9, f
"
'

# Lockfile findings: warnings by default, errors with --strict.
mkdir -p "$TMP/loose"
printf 'print(1)\n' > "$TMP/loose/app.py"
printf '# deps\nrequests==2.31.0 --hash=sha256:%s\nflask>=2\n' "$HASH1" > "$TMP/loose/requirements.txt"
printf 'name: loose\nversion: "1"\nservice: python3 app.py\n' > "$TMP/loose/bentofile.yaml"

test_expect_success 'an unpinned requirement is a warning naming requirements.txt:LINE' '
	bento build loose > out 2> err &&
	grep_q err "warning" &&
	grep_q err "requirements.txt:3" &&
	grep_q err "flask" &&
	! grep -q "requirements.txt:2" err &&
	head -n 1 out | grep -q "^built loose:1"
'

test_expect_success 'build -o json keeps warnings off stdout' '
	bento build loose -o json > out.json 2> err &&
	python3 -c "import json; json.load(open(\"out.json\"))" &&
	grep_q err "requirements.txt:3"
'

test_expect_success 'with --strict the same finding fails the build and stores nothing' '
	printf "flask>=3\n" >> loose/requirements.txt &&
	refused 3 bento build --strict loose --version 2 &&
	grep_q err "requirements.txt" &&
	{ bento get loose:2; test $? = 4; }
'

test_expect_success '--strict on a clean context builds' '
	bento build --strict ctx --version strict > out &&
	grep_q out "built demo:strict"
'

test_expect_code 1 'a bento without a name' '
	mkdir noname && printf "service: ./x\n" > noname/bentofile.yaml &&
	bento build noname 2> err; rc=$?; grep_q err name || exit 9; exit $rc'

test_expect_code 4 'a context that does not exist' 'bento build nowhere'
test_expect_code 2 'build -j 0 is a usage error' 'bento build ctx -j 0'

test_expect_code 1 'the same name:version for other content is refused' '
	printf "# changed\n" >> ctx/lib/util.py &&
	bento build ctx --version 2.0 --name other 2> err; rc=$?; grep_q err "other:2.0" || exit 9; exit $rc'

test_expect_success 'build -f picks another bentofile' '
	printf "name: alt\nversion: \"9\"\nservice: ./run.sh\n" > alt.yaml &&
	bento build ctx -f alt.yaml -o tag > t &&
	test "$(cat t)" = alt:9
'

test_done
