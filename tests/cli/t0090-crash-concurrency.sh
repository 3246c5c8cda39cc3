#!/bin/bash
# Crashes and concurrency: kill -9 at any moment of a build or an import
# leaves a store that fsck calls clean and a retry completes with the same
# digest; several writers (and gc) may use one store at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

# A context with ~200 MB of weights, so a build takes a moment.
mkctx "$TMP/big" big
for i in 1 2 3 4; do
	mkweights "$TMP/big/models/emb/shard-$i.bin" $((50 * 1024 * 1024)) $((10 + i))
done
mkctx "$TMP/small1" small1
mkctx "$TMP/small2" small2
printf '# two\n' >> "$TMP/small2/service.py"

# crash_at SECONDS CMD...: start CMD in the background and kill -9 it after
# SECONDS; prints "killed", or "finished" when it ended before the signal.
crash_at() {
	_t=$1
	shift
	"$@" > /dev/null 2>&1 &
	_pid=$!
	sleep "$_t"
	kill -9 "$_pid" 2> /dev/null
	wait "$_pid" 2> /dev/null
	if [ $? = 137 ]; then echo killed; else echo finished; fi
}

test_expect_success 'setup: the digest of a clean build' '
	BENTO_HOME=$TMP/ref bento build big -o json > ref.json &&
	jget ref.json digest > want &&
	BENTO_HOME=$TMP/ref bento export big - > big.bento &&
	test "$(stat -c %s big.bento)" -gt $((200 * 1024 * 1024)) &&
	rm -rf "$TMP/ref"
'

test_expect_success 'kill -9 during a build: fsck is clean and a retry gives the same digest' '
	killed=0
	for t in 0.01 0.03 0.06 0.1 0.2 0.4; do
		r=$(crash_at $t "$BENTO" build big -j 1) || exit 1
		echo "build killed after ${t}s: $r" >> kills.log
		test "$r" = finished || killed=$((killed + 1))
		bento fsck > fsck.out 2>&1 || { cat fsck.out; exit 1; }
		bento build big -o json > b.json || exit 1
		test "$(jget b.json digest)" = "$(cat want)" || exit 1
		bento fsck > /dev/null || exit 1
		# Start the next round from a store without the weights.
		bento delete -y big > /dev/null && bento models delete -y emb > /dev/null &&
			bento gc > /dev/null || exit 1
		test "$(blob_count)" = 0 || { echo "blobs left after gc"; exit 1; }
	done
	test "$killed" -ge 2
'

test_expect_success 'kill -9 during an import: fsck is clean, nothing is tagged, a retry completes' '
	killed=0
	for t in 0.02 0.05 0.1 0.2 0.4; do
		rm -rf "$TMP/imp"
		r=$(BENTO_HOME=$TMP/imp crash_at $t "$BENTO" import big.bento) || exit 1
		echo "import killed after ${t}s: $r" >> kills.log
		if test "$r" = killed; then
			killed=$((killed + 1))
			# All or nothing: untagged, or (killed after its commit) whole,
			# provenance included.
			BENTO_HOME=$TMP/imp bento list -o json > l.json || exit 1
			if test "$(jget l.json "#len")" != 0; then
				BENTO_HOME=$TMP/imp bento verify big --full > v.out 2>&1 &&
				grep -q "attestation provenance.dsse.json" v.out ||
				{ echo "a killed import left a partial bento:"; cat v.out; exit 1; }
			fi
		fi
		BENTO_HOME=$TMP/imp bento fsck > fsck.out 2>&1 || { cat fsck.out; exit 1; }
		BENTO_HOME=$TMP/imp bento import big.bento -o json > i.json || exit 1
		test "$(jget i.json digest)" = "$(cat want)" || exit 1
		BENTO_HOME=$TMP/imp bento fsck > /dev/null || exit 1
	done
	rm -rf "$TMP/imp"
	test "$killed" -ge 2
'

# How far each crash got, as TAP comments.
if [ -f "$TMP/kills.log" ]; then sed 's/^/# /' "$TMP/kills.log"; fi

test_expect_success 'two builds into one store at once both succeed' '
	bento build small1 -o json > s1.json 2> s1.err &
	p1=$!
	bento build small2 -o json > s2.json 2> s2.err &
	p2=$!
	wait $p1 && wait $p2 &&
	bento list -o json > l.json &&
	jget l.json "*.name" | grep -qx small1 && jget l.json "*.name" | grep -qx small2 &&
	bento fsck > /dev/null
'

test_expect_success 'four identical builds at once all give the same digest' '
	rm -rf "$TMP/home4" &&
	pids=
	for i in 1 2 3 4; do
		BENTO_HOME=$TMP/home4 bento build big -o json > p$i.json 2> p$i.err &
		pids="$pids $!"
	done
	fails=0
	for j in $pids; do wait $j || fails=$((fails + 1)); done &&
	cat p1.err p2.err p3.err p4.err &&
	test "$fails" = 0 &&
	for i in 1 2 3 4; do test "$(jget p$i.json digest)" = "$(cat want)" || exit 1; done &&
	BENTO_HOME=$TMP/home4 bento fsck > /dev/null &&
	rm -rf "$TMP/home4"
'

test_expect_success 'builds and imports of different bentos into one store at once' '
	rm -rf "$TMP/home5"
	BENTO_HOME=$TMP/home5 bento build big -o json > q1.json 2> q1.err &
	p1=$!
	BENTO_HOME=$TMP/home5 bento build small1 > /dev/null 2> q2.err &
	p2=$!
	BENTO_HOME=$TMP/home5 bento import big.bento > /dev/null 2> q3.err &
	p3=$!
	BENTO_HOME=$TMP/home5 bento build small2 > /dev/null 2> q4.err &
	p4=$!
	fails=0
	for p in $p1 $p2 $p3 $p4; do wait $p || fails=$((fails + 1)); done
	cat q1.err q2.err q3.err q4.err
	test "$fails" = 0 &&
	BENTO_HOME=$TMP/home5 bento list -o json > l.json &&
	test "$(jget l.json "*.name" | sort | tr "\n" " ")" = "big small1 small2 " &&
	BENTO_HOME=$TMP/home5 bento fsck > /dev/null &&
	rm -rf "$TMP/home5"
'

test_expect_success 'gc while a build runs removes nothing the build needs' '
	rm -rf "$TMP/home6"
	BENTO_HOME=$TMP/home6 bento build small1 > /dev/null || exit 1
	BENTO_HOME=$TMP/home6 bento build big -j 1 -o json > g1.json 2> g1.err &
	p1=$!
	sleep 0.1 &&
	BENTO_HOME=$TMP/home6 bento gc > gc.out 2>&1 &&
	wait $p1 &&
	test "$(jget g1.json digest)" = "$(cat want)" &&
	BENTO_HOME=$TMP/home6 bento fsck > /dev/null &&
	BENTO_HOME=$TMP/home6 bento export big - | cmp - big.bento
'

# Two imports of the same tag with different models, both past the tag
# check before either commits: the second to commit is refused whole (exit 1,
# naming its archive) and leaves nothing of its own behind, neither its model
# nor a blob only it had.  Each archive comes through a FIFO, so that the
# test decides when each import may go on.
mkctx "$TMP/race1" race
mkctx "$TMP/race2" race
mkweights "$TMP/race2/models/emb/weights.bin" 70000 99

test_expect_success 'setup: race:1 twice, with different weights' '
	BENTO_HOME=$TMP/r1 bento build race1 --version 1 > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/r1 bento export race:1 ra.bento --compression none > /dev/null &&
	BENTO_HOME=$TMP/r2 bento build race2 --version 1 > /dev/null 2>&1 &&
	BENTO_HOME=$TMP/r2 bento export race:1 rb.bento --compression none > /dev/null &&
	BENTO_HOME=$TMP/r2 bento models list -o json > m2.json && jget m2.json "0.version" > v2 &&
	BENTO_HOME=$TMP/r1 bento models list -o json > m1.json && jget m1.json "0.version" > v1 &&
	! cmp -s v1 v2
'

test_expect_success 'two imports of race:1 at once: the loser is refused whole and names its archive' '
	rm -rf "$TMP/rh" && export BENTO_HOME=$TMP/rh && bento list > /dev/null &&
	python3 - "$BENTO" ra.bento rb.bento <<-\EOF
	import os, subprocess, sys, time
	bento, a, b = sys.argv[1:4]
	procs, pipes = [], []
	for name, src in (("fa.bento", a), ("fb.bento", b)):
	    os.mkfifo(name)
	    procs.append(subprocess.Popen([bento, "import", name], stdout=subprocess.DEVNULL,
	                                  stderr=open("e" + name, "wb")))
	for name in ("fa.bento", "fb.bento"):
	    pipes.append(open(name, "wb"))
	data = [open(a, "rb").read(), open(b, "rb").read()]
	# bento.json and a little more: both check the tags and wait for the rest
	for p, d in zip(pipes, data):
	    p.write(d[:len(d) // 2])
	    p.flush()
	time.sleep(1.5)
	rc = []
	for p, d, pr in zip(pipes, data, procs):
	    p.write(d[len(d) // 2:])
	    p.close()
	    rc.append(pr.wait(timeout=60))
	open("rc", "w").write("%d %d\n" % tuple(rc))
	EOF
	test "$(cat rc)" = "0 1" &&
	grep_q efb.bento "bento: error: fb.bento: bento race:1 already exists in the store with other content" &&
	bento models list -o json > ml.json && test "$(jget ml.json "#len")" = 1 &&
	test "$(jget ml.json "0.version")" = "$(cat v1)" &&
	bento gc --dry-run > gc.out 2>&1 && grep_q gc.out "would remove 0 blobs" &&
	bento fsck > /dev/null && test -z "$(find "$BENTO_HOME/tmp" -type f)"
'

test_done
