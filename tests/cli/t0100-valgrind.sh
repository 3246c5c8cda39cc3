#!/bin/bash
# The main commands, success and failure paths, under valgrind: no invalid
# access, no definite or indirect leak.
. "$(dirname "$0")/lib.sh"

if ! command -v valgrind > /dev/null; then
	echo "1..0 # SKIP valgrind not installed"
	exit 0
fi
# A sanitizer build cannot run under valgrind; its leak checks are ASan's own.
if ldd "$BENTO" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP $BENTO is built with ASan (the plain pass runs this file)"
	exit 0
fi
vg() {
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 "$BENTO" "$@"
}

mkdir -p "$TMP/ctx/models/m" "$TMP/ctx/lib"
printf '#!/bin/sh\necho serving\n' > "$TMP/ctx/run.sh"
chmod +x "$TMP/ctx/run.sh"
echo 'print(1)' > "$TMP/ctx/lib/app.py"
printf 'requests==2.31.0 --hash=sha256:%s\nflask>=2\n' "$(printf 'a%.0s' $(seq 64))" > "$TMP/ctx/requirements.txt"
head -c 100000 /dev/urandom > "$TMP/ctx/models/m/w.bin"
cat > "$TMP/ctx/bentofile.yaml" <<'YAML'
name: vg
service: ./run.sh --port 3000
labels: {team: ml}
models:
  - {name: weights, path: models/m}
YAML

test_expect_success 'build under valgrind' 'vg build ctx > build.out 2> build.err && grep_q build.err "requirements.txt:2"'
test_expect_success 'models import/list/get under valgrind' '
	vg models import ctx/models/m --name other --version 1 --label a=b > /dev/null &&
	vg models list > /dev/null && vg models get other:1 -o yaml > /dev/null'
test_expect_success 'list/get/tag under valgrind' '
	vg list -o json > /dev/null && vg get vg -o yaml > /dev/null &&
	vg get vg -o path > /dev/null && vg tag vg vg:stable > /dev/null'
test_expect_success 'export/import under valgrind' '
	vg export vg x.bento --compression zstd > /dev/null &&
	BENTO_HOME=$TMP/home2 vg import x.bento > /dev/null'
test_expect_code 3 'refused import under valgrind' '
	cp x.bento y.bento && printf "\377" | dd of=y.bento bs=1 seek=2000 conv=notrunc 2>/dev/null;
	zstd -dq x.bento -o plain.bento && cp plain.bento bad.bento &&
	size=$(stat -c %s bad.bento) && printf "XXXX" | dd of=bad.bento bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null &&
	BENTO_HOME=$TMP/home3 vg import bad.bento'
test_expect_code 4 'missing ref under valgrind' 'vg get nope:1'
test_expect_code 1 'bad bentofile under valgrind' '
	mkdir bad && echo "servce: x" > bad/bentofile.yaml && vg build bad'
test_expect_success 'containerize (layout, docker-archive, a base) under valgrind' '
	mkdir -p base/rfs/bin && cp /bin/busybox base/rfs/bin/ &&
	umoci init --layout base/l && umoci new --image base/l:1 &&
	umoci insert --image base/l:1 base/rfs / > /dev/null &&
	vg containerize vg --shim /bin/busybox --output oci:img > /dev/null 2>&1 &&
	vg containerize vg --shim /bin/busybox --base oci:base/l:1 --output docker-archive:img.tar > /dev/null 2>&1 &&
	test -s img.tar'
test_expect_code 1 'containerize refused under valgrind' '
	vg containerize vg --shim /bin/ls --output oci:img2 > /dev/null 2> err; rc=$?; grep -q "dynamically linked" err && exit $rc'
test_expect_success 'push and pull through an oci: layout under valgrind (a 17 MiB model file)' '
	mkdir -p ctx2/models/big && cp ctx/run.sh ctx2/ &&
	head -c 17825792 /dev/urandom > ctx2/models/big/w.bin &&
	printf "name: vgbig\nservice: ./run.sh\nmodels:\n  - {name: big, path: models/big}\n" > ctx2/bentofile.yaml &&
	vg build ctx2 --version 1 > /dev/null 2>&1 &&
	vg push vgbig:1 oci:lay > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/home4 vg pull oci:lay:1 > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/home4 vg verify --full vgbig:1 > /dev/null 2>&1'
test_expect_code 3 'refused pull under valgrind (a flipped byte in a layer)' '
	cp -r lay badlay && f=$(ls -S badlay/blobs/sha256 | head -n 1) &&
	chmod u+w "badlay/blobs/sha256/$f" &&
	printf "\377" | dd of="badlay/blobs/sha256/$f" bs=1 seek=5000000 conv=notrunc 2>/dev/null &&
	BENTO_HOME=$TMP/home5 vg pull oci:badlay:1 > /dev/null 2> err; rc=$?; grep -q digest err && exit $rc'
test_expect_success 'delete, fsck and gc under valgrind' '
	vg delete -y vg:stable > /dev/null && vg fsck > /dev/null && vg gc > /dev/null'
test_expect_code 5 'a pull through registries.conf mirrors that are all down, under valgrind' '
	printf "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:2\"\n[[registry.mirror]]\nlocation = \"127.0.0.1:1/hub\"\n[[registry]]\nprefix = \"docker.io/library/no\"\nblocked = true\n" > rc.conf &&
	CONTAINERS_REGISTRIES_CONF=$TMP/rc.conf BENTO_REGISTRY_TIMEOUT=5 vg pull demo:1 2> err; rc=$?
	grep -q "mirrors tried first: 127.0.0.1:1/hub/library/demo:1" err && exit $rc'
test_expect_code 2 'a blocked one, and a short push target, under valgrind' '
	CONTAINERS_REGISTRIES_CONF=$TMP/rc.conf vg pull no:1 2> err; test $? = 2 || exit 1
	grep -q "blocked by registries.conf" err && vg push vg:stable team/vg 2> err; rc=$?
	grep -q "no registry host" err && exit $rc'
test_done
