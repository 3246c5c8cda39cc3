#!/bin/bash
# Bad bentofiles and contexts: the exact exit code, a message with
# file:line:col and a hint where the format allows one, and a store left
# exactly as it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

mkdir -p "$TMP/m"
mkweights "$TMP/m/w.bin" 1000 5

# bad NAME: a context $TMP/NAME with app.py, run.sh and a bentofile from stdin.
bad() {
	mkdir -p "$TMP/$1" &&
	printf 'print(1)\n' > "$TMP/$1/app.py" &&
	printf '#!/bin/sh\n' > "$TMP/$1/run.sh" &&
	cat > "$TMP/$1/bentofile.yaml"
}

test_expect_success 'setup: a store with a model and a bento' '
	bento models import m/w.bin --name clf --version 1 > /dev/null &&
	bad good <<-EOF &&
	name: good
	service: ./run.sh
	models: [clf:1]
	EOF
	bento build good > /dev/null
'

bad modles <<'EOF'
name: bad
service: ./run.sh
modles:
  - clf:1
EOF
test_expect_success 'an unknown top-level key: file:line:col and did you mean' '
	refused 1 bento build modles &&
	grep_q err "bentofile.yaml:3:1" && grep_q err "modles" && grep_q err "did you mean" &&
	grep_q err "models"
'

bad nested <<'EOF'
name: bad
service: ./run.sh
resources:
  cpu: "2"
  memroy: 1Gi
EOF
test_expect_success 'a misspelt nested key' '
	refused 1 bento build nested &&
	grep_q err "bentofile.yaml:5:3" && grep_q err "memroy" && grep_q err "memory"
'

bad modelkey <<'EOF'
name: bad
service: ./run.sh
models:
  - name: emb
    pth: m
EOF
test_expect_success 'a misspelt key in a model entry' '
	refused 1 bento build modelkey &&
	grep_q err "bentofile.yaml:5:5" && grep_q err "pth" && grep_q err "path"
'

bad labeltype <<'EOF'
name: bad
service: ./run.sh
labels: [a, b]
EOF
test_expect_success 'a wrong type: labels as a sequence' '
	refused 1 bento build labeltype &&
	grep_q err "bentofile.yaml:3:9" && grep_q err "labels" && grep_q err "mapping"
'

bad inttype <<'EOF'
name: bad
service: ./run.sh
traffic:
  timeout: soon
EOF
test_expect_success 'a wrong type: a word where an integer goes' '
	refused 1 bento build inttype &&
	grep_q err "bentofile.yaml:4:12" && grep_q err "timeout" && grep_q err "soon"
'

bad noservice <<'EOF'
name: bad
labels: {a: b}
EOF
test_expect_success 'no service' '
	refused 1 bento build noservice && grep_q err "bentofile.yaml" && grep_q err "service"
'

bad dupkey <<'EOF'
name: bad
service: ./run.sh
name: again
EOF
test_expect_success 'a duplicate key' '
	refused 1 bento build dupkey && grep_q err "bentofile.yaml:3:1" && grep_q err "name"
'

bad syntax <<'EOF'
name: bad
service: [./run.sh
labels: {a: b}
EOF
test_expect_success 'a YAML syntax error' '
	refused 1 bento build syntax && grep_q err "bentofile.yaml:"
'

bad shellop <<'EOF'
name: bad
service: ./run.sh > /tmp/log
EOF
test_expect_success 'a service string with a shell operator' '
	refused 1 bento build shellop && grep_q err "bentofile.yaml:2:" && grep_q err "service"
'

bad badname <<'EOF'
name: Bad_Name
service: ./run.sh
EOF
test_expect_success 'an invalid name' '
	refused 1 bento build badname && grep_q err "bentofile.yaml:1:" && grep_q err "Bad_Name"
'

bad emptyfile < /dev/null
test_expect_success 'an empty bentofile' '
	refused 1 bento build emptyfile && grep_q err "bentofile.yaml"
'

test_expect_success 'no bentofile at all' '
	mkdir nofile && refused 4 bento build nofile && grep_q err "bentofile.yaml"
'

bad nomodel <<'EOF'
name: bad
service: ./run.sh
models:
  - clf:1
  - nosuch:2
EOF
test_expect_success 'a model tag not in the store' '
	refused 4 bento build nomodel && grep_q err "nosuch:2" && grep_q err "bentofile.yaml:5:"
'

bad nomodelpath <<'EOF'
name: bad
service: ./run.sh
models:
  - {name: emb, path: models/none}
EOF
test_expect_success 'a model path that does not exist' '
	refused 4 bento build nomodelpath && grep_q err "models/none"
'

bad noinclude <<'EOF'
name: bad
service: ./run.sh
include:
  - app.py
  - nothere.py
EOF
test_expect_success 'an include path that names nothing' '
	refused 4 bento build noinclude && grep_q err "nothere.py"
'

bad nolock <<'EOF'
name: bad
service: ./run.sh
lockfiles: [requirements.txt]
EOF
test_expect_success 'a lockfile that does not exist' '
	refused 4 bento build nolock && grep_q err "requirements.txt"
'

bad leak <<'EOF'
name: bad
service: ./run.sh
EOF
printf 'secret\n' > "$TMP/outside.txt"
ln -s ../outside.txt "$TMP/leak/leak.txt"
test_expect_success 'a symlink leaving the context' '
	refused 3 bento build leak && grep_q err "leak.txt"
'

bad leakabs <<'EOF'
name: bad
service: ./run.sh
EOF
mkdir -p "$TMP/leakabs/conf"
ln -s /etc "$TMP/leakabs/conf/etc"
test_expect_success 'a symlink to a directory outside the context' '
	refused 3 bento build leakabs && grep_q err "conf/etc"
'

bad dangling <<'EOF'
name: bad
service: ./run.sh
EOF
ln -s nowhere.py "$TMP/dangling/gone.py"
test_expect_success 'a dangling symlink' '
	refused 3 bento build dangling && grep_q err "gone.py"
'

bad leakexcluded <<'EOF'
name: fine
version: "1"
service: ./run.sh
exclude: [leak.txt]
EOF
ln -s ../outside.txt "$TMP/leakexcluded/leak.txt"
test_expect_success 'an excluded symlink leaving the context does no harm' '
	bento build leakexcluded > /dev/null &&
	bento get fine:1 -o json > g.json &&
	! jget g.json "files.*.path" | grep -q leak
'

bad fifo <<'EOF'
name: bad
service: ./run.sh
EOF
mkfifo "$TMP/fifo/pipe"
test_expect_success 'a fifo in the context' '
	refused 3 bento build fifo && grep_q err "pipe"
'

test_expect_success 'bento.yaml via -f that does not exist' '
	refused 4 bento build good -f good/nope.yaml && grep_q err "nope.yaml"
'

# A file that vanishes while the build runs: -j1 hashes a.bin (sorted
# first) before z.txt; z.txt is removed once a.bin is being staged in tmp/.
mkdir -p "$TMP/vanish"
printf 'name: vanish\nservice: ./z.txt\n' > "$TMP/vanish/bentofile.yaml"
head -c $((512 * 1024 * 1024)) /dev/zero > "$TMP/vanish/a.bin"
echo hi > "$TMP/vanish/z.txt"
touch -d '1 hour ago' "$TMP/vanish/a.bin"	# old enough for the stat cache
test_expect_success 'a file vanishing mid-build: exit 4 naming it, store unchanged' '
	before=$(store_state) &&
	{ timeout 120 "$BENTO" build -j 1 vanish > out 2> err & pid=$!; } &&
	i=0 && while [ $i -lt 2000 ] && [ -z "$(find "$BENTO_HOME/tmp" -type f)" ]; do sleep 0.005; i=$((i + 1)); done &&
	rm vanish/z.txt &&
	{ wait $pid; rc=$?; } ; echo "exit $rc" &&
	test "$rc" = 4 && grep_q err "z.txt: file vanished during the build" &&
	test "$(store_state)" = "$before" && test -z "$(find "$BENTO_HOME/tmp" -type f)"
'
rm -rf "$TMP/vanish"

test_done
