#!/bin/sh
# bench.sh BUILD_DIR - `make bench`: bento against a baseline run side by side
# in the same run, over the same files.  Prints each timing and the ratio.
#
#   build       bento build of a bento with BENCH_MB MiB of weights in 4 files
#               vs `openssl dgst -sha256` over the same files (target <= 1.3x)
#   rebuild     the same build again, nothing changed (target < 5% of build)
#   export      bento export --compression none vs tar -cf of the same files
#               (target: bento at >= 90% of tar's speed)
#   RSS         peak resident memory of build/export/import (target < 64 MiB)
#
#   registry    bento push / pull of a bento with BENCH_MB/2 MiB of weights (two of
#               the files above) to/from a loopback docker-registry, vs skopeo
#               copy of the same bytes (oci layout -> registry, registry -> oci
#               layout); push target >= skopeo, pull target >= 2x skopeo; an
#               unchanged re-push under 0.5 s; peak RSS
#   many files  BENCH_FILES (20,000) files of 200 B to 8 KiB, as a Python
#               environment or a tokenizer-heavy model has them: bento build vs
#               `cp -a` + `sha256sum` of every file (2 processes) + `sync`;
#               bento import of its archive vs `tar -xf` + `sync`; bento export
#               vs `tar -cf` (targets <= 1.00x); a rebuild with nothing changed
#               (target < 0.25 s); peak RSS of the build.  Each timed run
#               writes into a new directory, deleted by the next bench at its
#               start, at least 6 minutes before these runs (see best_fresh)
#   sign        bento build --sign vs bento build of a 100-file bento, and
#               verify --full of it signed vs unsigned (target: < 5 ms added)
#   image       bento containerize of a bento with BENCH_MB/2 MiB of weights to
#               an oci: layout vs umoci init/new/insert of the same files
#               (target: bento >= 5x faster), with the layer cache cold (first
#               image of a bento never pushed) and warm; a second containerize
#               with only the code changed (only code and meta written); peak
#               RSS; the shim's size and start-up overhead.  bento's layout is
#               durable when it returns and umoci's is not, so umoci followed
#               by a sync is timed too
#
# Data lives in $BENCH_DIR (default build/bench); BENCH_MB defaults to 2048.
set -eu
B=${1:-build}
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
BENTO=$B/bento
MB=${BENCH_MB:-2048}
DIR=${BENCH_DIR:-$(pwd)/build/bench}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$DIR"
# What the many-files runs of the last bench created goes first: see
# best_fresh for why the deleting happens long before those runs.
if [ -d "$DIR/fresh" ]; then
	rm -rf "$DIR/fresh"
	sync
fi
t_deleted=$(date +%s)
export BENTO_HOME="$DIR/home"
unset SOURCE_DATE_EPOCH

now() { date +%s.%N; }
# best TIME of RUNS runs of "$@" (after running PREP before each, if set;
# with FRESH set, each run gets a new path in $F and a sync first)
best() {
	b=""
	i=0
	while [ $i -lt "$RUNS" ]; do
		[ -n "${PREP:-}" ] && sh -c "$PREP"
		if [ -n "${FRESH:-}" ]; then
			F=$(mktemp -u "$DIR/fresh/XXXXXX")
			export F
			sync
		fi
		t0=$(now)
		"$@" > /dev/null 2> "$DIR/err" || { echo "bench: failed: $*" >&2; cat "$DIR/err" >&2; exit 1; }
		t1=$(now)
		t=$(awk "BEGIN{print $t1 - $t0}")
		if [ -z "$b" ] || [ "$(awk "BEGIN{print ($t < $b)}")" = 1 ]; then b=$t; fi
		i=$((i + 1))
	done
	printf '%.3f' "$b"
}
# best TIME of RUNS runs of the shell command $1, each given a new path in
# $F (made by none of the earlier runs) after a sync.  Nothing is deleted
# between runs, and what they make is deleted only by the next bench, at its
# start: ext4 without a journal (this machine's) will not reuse an inode
# freed in the last 60 s, or 360 s when its inode table block is dirty
# again, which allocating the next inodes makes it, and every new file's
# allocation scans past those.  A run within minutes of an rm -rf of 20,000
# files measures that scan (recently_deleted() in perf: two thirds of a
# build's time, five times slower runs on either side).
best_fresh() { FRESH=1 best sh -c "$1"; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }
ratio() { calc %.2f "$1 / $2"; }
rss_mib() {
	/usr/bin/time -f '%M' -o "$DIR/rss" "$@" > /dev/null 2>&1
	echo $(( $(cat "$DIR/rss") / 1024 ))
}

ctx=$DIR/ctx
per=$((MB / 4))
if [ ! -f "$ctx/models/w/part3.bin" ] || [ "$(cat "$ctx/.mb" 2>/dev/null)" != "$MB" ]; then
	echo "# generating $MB MiB of weights in 4 files under $ctx"
	rm -rf "$ctx"
	mkdir -p "$ctx/models/w"
	for i in 0 1 2 3; do
		openssl enc -aes-128-ctr -pass pass:bench$i -nosalt -pbkdf2 < /dev/zero 2>/dev/null |
			head -c $((per * 1024 * 1024)) > "$ctx/models/w/part$i.bin"
	done
	printf '#!/bin/sh\nexec sleep 1\n' > "$ctx/serve.sh"
	chmod +x "$ctx/serve.sh"
	cat > "$ctx/bentofile.yaml" <<YAML
name: bench
service: ["./serve.sh"]
include: ["serve.sh"]
models:
  - {name: weights, path: models/w}
YAML
	echo "$MB" > "$ctx/.mb"
fi
files="$ctx/models/w/part0.bin $ctx/models/w/part1.bin $ctx/models/w/part2.bin $ctx/models/w/part3.bin"
cat $files > /dev/null	# warm the page cache for both sides alike

echo "# bento bench: $MB MiB of weights in 4 files, best of $RUNS, $(nproc) cores"
t_dgst=$(PREP="" best openssl dgst -sha256 $files)
t_build=$(PREP="rm -rf '$BENTO_HOME'" best "$BENTO" build "$ctx")
echo "build:    bento build $t_build s   openssl dgst -sha256 $t_dgst s   ratio $(ratio "$t_build" "$t_dgst")x  (target <= 1.30x)"

rm -rf "$BENTO_HOME"
"$BENTO" build "$ctx" > /dev/null 2>&1
t_rebuild=$(PREP="" best "$BENTO" build "$ctx")
pct=$(calc %.1f "100 * $t_rebuild / $t_build")
echo "rebuild:  bento build (unchanged) $t_rebuild s = $pct% of the first build  (target < 5%)"

out=$DIR/out.bento
t_export=$(PREP="rm -f '$out'" best "$BENTO" export bench:latest "$out" --compression none)
# tar over the same bytes: the bento's files as they sit in the context.
t_tar=$(PREP="rm -f '$DIR/out.tar'" best tar -cf "$DIR/out.tar" -C "$ctx" serve.sh models/w)
speed=$(calc %.0f "100 * $t_tar / $t_export")
echo "export:   bento export $t_export s   tar -cf $t_tar s   bento at $speed% of tar's speed  (target >= 90%)"

rm -rf "$BENTO_HOME"
r_build=$(rss_mib "$BENTO" build "$ctx")
r_export=$(rss_mib "$BENTO" export bench:latest "$out" --compression none)
rm -rf "$BENTO_HOME"
r_import=$(rss_mib "$BENTO" import "$out")
echo "peak RSS: build $r_build MiB, export $r_export MiB, import $r_import MiB  (target < 64 MiB)"
rm -f "$out" "$DIR/out.tar"

# ---- many files: BENCH_FILES files of 200 B to 8 KiB ----
RUNS=${BENCH_RUNS:-3}
NF=${BENCH_FILES:-20000}
mctx=$DIR/ctx-many
if [ "$(cat "$mctx/.n" 2>/dev/null)" != "$NF" ]; then
	echo "# generating $NF small files under $mctx"
	rm -rf "$mctx"
	python3 - "$mctx" "$NF" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20000)
for i in range(n):
    d = os.path.join(root, "env", "pkg%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "mod%03d.py" % (i % 100)), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(200, 8192)))
PY
	printf '#!/bin/sh\nexec sleep 1\n' > "$mctx/serve.sh"
	chmod +x "$mctx/serve.sh"
	printf 'name: many\nservice: ["./serve.sh"]\ninclude: ["serve.sh", "env/**"]\n' > "$mctx/bentofile.yaml"
	echo "$NF" > "$mctx/.n"
fi
export BENTO_HOME="$DIR/home-many"
mb=$(du -sm --apparent-size "$mctx/env" | cut -f1)
find "$mctx" -type f -exec cat {} + > /dev/null	# warm the page cache for both sides alike
wait_s=$((t_deleted + 360 - $(date +%s)))
if [ "$wait_s" -gt 0 ]; then
	echo "# waiting ${wait_s} s: 6 minutes after the last bench's files were deleted (see best_fresh)"
	sleep "$wait_s"
fi
mkdir -p "$DIR/fresh"
t_mcp=$(best_fresh "cp -a '$mctx' \"\$F\" && find \"\$F\" -type f -print0 | xargs -0 -P 2 -n 2000 sha256sum > /dev/null && sync")
t_mbuild=$(best_fresh "BENTO_HOME=\$F '$BENTO' build '$mctx'")
echo "many:     $NF files, $mb MiB, best of $RUNS, each run into a new directory"
echo "many:     bento build $t_mbuild s   cp -a + sha256sum + sync $t_mcp s   ratio $(ratio "$t_mbuild" "$t_mcp")x  (target <= 1.00x)"
rm -rf "$BENTO_HOME"
"$BENTO" build "$mctx" > /dev/null 2>&1
t_mrebuild=$(PREP="" best "$BENTO" build "$mctx")
echo "many:     rebuild (unchanged) $t_mrebuild s  (target < 0.25 s)"
mout=$DIR/many.bento
t_mexport=$(PREP="rm -f '$mout'" best "$BENTO" export many:latest "$mout" --compression none)
t_mtar=$(PREP="rm -f '$DIR/many.tar'" best tar -cf "$DIR/many.tar" -C "$mctx" serve.sh env)
echo "many:     bento export $t_mexport s   tar -cf $t_mtar s   ratio $(ratio "$t_mexport" "$t_mtar")x  (target <= 1.00x)"
t_mimport=$(best_fresh "BENTO_HOME=\$F '$BENTO' import '$mout'")
t_mtarx=$(best_fresh "mkdir \"\$F\" && tar -xf '$mout' -C \"\$F\" && sync")
echo "many:     bento import $t_mimport s   tar -xf + sync $t_mtarx s   ratio $(ratio "$t_mimport" "$t_mtarx")x  (target <= 1.00x)"
r_mbuild=$(rss_mib env BENTO_HOME="$DIR/fresh/rss" "$BENTO" build "$mctx")
echo "many:     peak RSS of the build $r_mbuild MiB"
rm -rf "$BENTO_HOME" "$DIR/many.tar" "$mout"	# not $DIR/fresh: see best_fresh
export BENTO_HOME="$DIR/home"

# ---- signing and verifying: 100 small files, an unencrypted key ----
sctx=$DIR/ctx100
rm -rf "$sctx" "$DIR/cfg"
mkdir -p "$sctx/src"
i=0
while [ $i -lt 99 ]; do
	head -c 4096 /dev/urandom > "$sctx/src/f$i.py"
	i=$((i + 1))
done
printf 'name: b100\nservice: ./run\n' > "$sctx/bentofile.yaml"
export XDG_CONFIG_HOME="$DIR/cfg"
"$BENTO" key generate --no-password > /dev/null 2>&1
"$BENTO" key trust "$DIR/cfg/bento/keys/default.pub" > /dev/null
RUNS=${BENCH_SIGN_RUNS:-15}
t_plain=$(PREP="rm -rf '$BENTO_HOME'" best "$BENTO" build "$sctx")
t_signed=$(PREP="rm -rf '$BENTO_HOME'" best "$BENTO" build --sign "$sctx")
rm -rf "$BENTO_HOME"
"$BENTO" build "$sctx" --name b100u > /dev/null 2>&1
"$BENTO" build --sign "$sctx" > /dev/null 2>&1
t_vu=$(PREP="" best "$BENTO" verify --full b100u)
t_vs=$(PREP="" best "$BENTO" verify --full b100)
ms() { calc %+.1f "1000 * ($1 - $2)"; }
echo "sign:     build --sign $t_signed s vs build $t_plain s: $(ms "$t_signed" "$t_plain") ms; verify --full signed $t_vs s vs unsigned $t_vu s: $(ms "$t_vs" "$t_vu") ms  (target < 5 ms each)"
rm -rf "$sctx" "$DIR/cfg"

# ---- registry: push and pull against a loopback docker-registry ----
if command -v docker-registry > /dev/null && command -v skopeo > /dev/null; then
	unset XDG_CONFIG_HOME
	reg=$DIR/reg
	export BENTO_HOME="$DIR/home-reg"
	rctx=$DIR/ctx-reg
	rm -rf "$BENTO_HOME" "$rctx" "$DIR/lay"
	mkdir -p "$rctx"
	printf '#!/bin/sh\nexec sleep 1\n' > "$rctx/serve.sh"
	chmod +x "$rctx/serve.sh"
	printf 'name: pushbench\nservice: ["./serve.sh"]\ninclude: ["serve.sh"]\nmodels:\n  - {name: w0, path: %s}\n  - {name: w1, path: %s}\n' \
		"$ctx/models/w/part0.bin" "$ctx/models/w/part1.bin" > "$rctx/bentofile.yaml"
	"$BENTO" build "$rctx" --version 1 > /dev/null 2>&1
	"$BENTO" push pushbench:1 "oci:$DIR/lay" > /dev/null 2>&1	# the same bytes, for skopeo
	fresh_registry() {
		sh "$(dirname "$0")/registry.sh" stop "$reg" > /dev/null 2>&1 || true
		rm -rf "$reg"
		port=$(sh "$(dirname "$0")/registry.sh" start "$reg" | cut -d' ' -f1)
	}
	timed() { t0=$(now); "$@" > /dev/null 2> "$DIR/err" || { echo "bench: failed: $*" >&2; cat "$DIR/err" >&2; exit 1; }; t1=$(now); awk "BEGIN{print $t1 - $t0}"; }
	minof() { printf '%s\n' "$@" | sort -g | head -n 1; }
	bp="" sp=""
	i=0
	while [ $i -lt "$RUNS" ]; do
		fresh_registry
		bp="$bp $(timed "$BENTO" push pushbench:1 "127.0.0.1:$port/bench:1")"
		fresh_registry
		sp="$sp $(timed skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$DIR/lay:1" "docker://127.0.0.1:$port/bench:1")"
		i=$((i + 1))
	done
	t_bpush=$(minof $bp)
	t_spush=$(minof $sp)
	t_repush=$(PREP="" best "$BENTO" push pushbench:1 "127.0.0.1:$port/bench:1")
	# the registry now holds the bento (skopeo's copy has the same digests)
	"$BENTO" push pushbench:1 "127.0.0.1:$port/bench:1" > /dev/null 2>&1
	t_bpull=$(PREP="rm -rf '$DIR/home-pull'" best env BENTO_HOME="$DIR/home-pull" "$BENTO" pull "127.0.0.1:$port/bench:1")
	t_spull=$(PREP="rm -rf '$DIR/lay-pull'" best skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$port/bench:1" "oci:$DIR/lay-pull:1")
	rm -rf "$DIR/home-pull"
	r_pull=$(BENTO_HOME="$DIR/home-pull" rss_mib "$BENTO" pull "127.0.0.1:$port/bench:1")
	fresh_registry
	r_push=$(rss_mib "$BENTO" push pushbench:1 "127.0.0.1:$port/bench:1")
	echo "push:     bento push $t_bpush s   skopeo copy $t_spush s   ratio $(ratio "$t_bpush" "$t_spush")x  (target <= 1.00x)"
	echo "pull:     bento pull $t_bpull s   skopeo copy $t_spull s   bento $(ratio "$t_spull" "$t_bpull")x faster  (target >= 2x)"
	echo "re-push:  unchanged bento $t_repush s  (target < 0.5 s);  peak RSS push $r_push MiB, pull $r_pull MiB"
	sh "$(dirname "$0")/registry.sh" stop "$reg" > /dev/null 2>&1 || true
	rm -rf "$reg" "$DIR/lay" "$DIR/lay-pull" "$DIR/home-pull" "$BENTO_HOME" "$rctx"
fi

# ---- containerize: an image of a bento vs umoci building the same files ----
SHIM=$B/bento-shim
if readelf -l "$SHIM" 2> /dev/null | grep -q INTERP; then SHIM=$(pwd)/build/bento-shim; fi
if command -v umoci > /dev/null && [ -x "$SHIM" ]; then
	export BENTO_HOME="$DIR/home-img" BENTO_SHIM="$SHIM"
	ictx=$DIR/ctx-img
	rm -rf "$BENTO_HOME" "$ictx" "$DIR/img" "$DIR/umoci" "$DIR/rootfs"
	mkdir -p "$ictx"
	printf '#!/bin/sh\nexec sleep 1\n' > "$ictx/serve.sh"
	chmod +x "$ictx/serve.sh"
	printf 'name: imgbench\nservice: ["./serve.sh"]\ninclude: ["serve.sh"]\nmodels:\n  - {name: w0, path: %s}\n  - {name: w1, path: %s}\n' \
		"$ctx/models/w/part0.bin" "$ctx/models/w/part1.bin" > "$ictx/bentofile.yaml"
	"$BENTO" build "$ictx" --version 1 > /dev/null 2>&1
	# the same files for umoci, as the image has them (hard links: no copy to time)
	mkdir -p "$DIR/rootfs/bento/src" "$DIR/rootfs/bento/models/w0" "$DIR/rootfs/bento/models/w1"
	ln "$ctx/models/w/part0.bin" "$DIR/rootfs/bento/models/w0/part0.bin"
	ln "$ctx/models/w/part1.bin" "$DIR/rootfs/bento/models/w1/part1.bin"
	cp "$ictx/serve.sh" "$DIR/rootfs/bento/src/"
	cp "$SHIM" "$DIR/rootfs/bento/"
	cold="sqlite3 '$BENTO_HOME/store.db' 'DELETE FROM layer_cache'"
	t_icold=$(PREP="rm -rf '$DIR/img'; $cold; sync" best "$BENTO" containerize imgbench:1 --output "oci:$DIR/img")
	t_iwarm=$(PREP="rm -rf '$DIR/img'; sync" best "$BENTO" containerize imgbench:1 --output "oci:$DIR/img")
	umoci="umoci init --layout '$DIR/umoci' && umoci new --image '$DIR/umoci:t' && umoci insert --image '$DIR/umoci:t' '$DIR/rootfs' /"
	t_umoci=$(PREP="rm -rf '$DIR/umoci'; sync" best sh -c "$umoci")
	# bento's layout is durable when it returns (one syncfs); umoci's is not:
	# the same work for both is umoci followed by a sync
	t_umocis=$(PREP="rm -rf '$DIR/umoci'; sync" best sh -c "$umoci && sync")
	printf '# v2\n' >> "$ictx/serve.sh"
	"$BENTO" build "$ictx" --version 2 > /dev/null 2>&1
	t0=$(now)
	"$BENTO" containerize imgbench:2 --output "oci:$DIR/img" -o json > "$DIR/img2.json" 2> "$DIR/err"
	t_icode=$(calc %.3f "$(now) - $t0")
	written=$(grep -c '"written": true' "$DIR/img2.json" || true)
	rm -rf "$DIR/img"
	r_img=$(rss_mib "$BENTO" containerize imgbench:1 --output "oci:$DIR/img")
	echo "image:    bento containerize $t_icold s (cold layer cache), $t_iwarm s (warm)   umoci init/new/insert $t_umoci s   bento $(ratio "$t_umoci" "$t_icold")x / $(ratio "$t_umoci" "$t_iwarm")x faster  (target >= 5x)"
	echo "image:    durable on both sides: umoci + sync $t_umocis s   bento $(ratio "$t_umocis" "$t_icold")x / $(ratio "$t_umocis" "$t_iwarm")x faster"
	echo "image:    code changed: $t_icode s, $written layers written (code and meta); peak RSS $r_img MiB"
	# the shim: size, and what it adds to starting a program (BENTO_VERIFY=size)
	sroot=$DIR/shimroot
	rm -rf "$sroot" && mkdir -p "$sroot"
	"$BENTO" export imgbench:2 - --compression none 2> /dev/null | tar -xf - -C "$sroot" --exclude='models/*'
	mkdir -p "$sroot/models/w0" "$sroot/models/w1"
	ln -f "$ctx/models/w/part0.bin" "$sroot/models/w0/part0.bin"
	ln -f "$ctx/models/w/part1.bin" "$sroot/models/w1/part1.bin"
	n=200

	t_true=$(best sh -c "n=$n; i=0; while [ \$i -lt $n ]; do /bin/true; i=\$((i + 1)); done")
	t_shim=$(best env BENTO_ROOT="$sroot" BENTO_SHIM_QUIET=1 sh -c "i=0; while [ \$i -lt $n ]; do '$SHIM' /bin/true || exit 1; i=\$((i + 1)); done")
	echo "shim:     $(stat -c %s "$SHIM") bytes (target < 1048576), static; start-up overhead $(calc %.2f "1000 * ($t_shim - $t_true) / $n") ms per start (BENTO_VERIFY=size, 4 files, $((MB / 2)) MiB)"
	t_full=$(best env BENTO_ROOT="$sroot" BENTO_VERIFY=full BENTO_SHIM_QUIET=1 "$SHIM" /bin/true)
	t_port=$(best env BENTO_ROOT="$sroot" BENTO_VERIFY=full BENTO_SHIM_QUIET=1 BENTO_DIGEST_PORTABLE=1 "$SHIM" /bin/true)
	t_sdgst=$(best openssl dgst -sha256 "$sroot/models/w0/part0.bin" "$sroot/models/w1/part1.bin")
	echo "shim:     BENTO_VERIFY=full of $((MB / 2)) MiB: $t_full s (SHA-NI), $t_port s (libsodium's portable code)   openssl dgst -sha256 $t_sdgst s"
	rm -rf "$DIR/img" "$DIR/umoci" "$DIR/rootfs" "$sroot" "$BENTO_HOME" "$ictx" "$DIR/img2.json"
fi
