#!/bin/bash
# bento-shim: the container entrypoint, run outside a container on extracted
# bentos (BENTO_ROOT).  Exit statuses, signal forwarding, the stop timeout,
# zombie reaping, env/workdir/argv, the health endpoints, and every refusal
# with its exit code and one line on stderr.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password

SHIM=$BUILD/bento-shim
if [ ! -x "$SHIM" ]; then
	echo "1..0 # SKIP no $SHIM (run make)"
	exit 0
fi
K=$XDG_CONFIG_HOME/bento/keys
# The shim's own settings must come from each test, not from whoever runs us.
unset BENTO_ROOT BENTO_VERIFY BENTO_TRUSTED_KEY BENTO_TRUSTED_KEYS BENTO_REQUIRE_SIGNATURE \
	BENTO_STOP_TIMEOUT BENTO_HEALTH_PORT BENTO_HEALTH_ADDR BENTO_SERVICE_PORT BENTO_SHIM_QUIET
export T=$TMP

# Every run is bounded: a hang fails the test instead of the suite.  The
# service leaves $T/ran behind when it ran, so each run starts without it.
shim() {
	rm -f "$TMP/ran"
	timeout 30 "$SHIM" "$@"
}

# wait_for FILE [TENTHS]: until FILE exists (default 10 s).
wait_for() {
	_n=0
	while [ ! -e "$1" ]; do
		_n=$((_n + 1))
		[ "$_n" -le "${2:-100}" ] || { echo "timed out waiting for $1"; return 1; }
		sleep 0.1
	done
}

# A free TCP port (nothing else binds it between here and its use in practice).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Rewrite ROOT/bento.json through a Python expression on `m` (canonical form kept).
edit_manifest() {
	python3 - "$1/bento.json" "$2" <<'EOF'
import json, sys
p, expr = sys.argv[1], sys.argv[2]
m = json.load(open(p))
exec(expr)
open(p, "w").write(json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
EOF
}

# refusal CODE MESSAGE: the last shim run (stderr in err) exited CODE with
# exactly one line, "bento-shim: " + a line containing MESSAGE; nothing ran.
refusal() {
	test "$rc" = "$1" || { echo "exit $rc, wanted $1"; cat err; return 1; }
	test "$(wc -l < err)" = 1 || { echo "want one line:"; cat err; return 1; }
	grep -q "^bento-shim: " err || { echo "no prefix:"; cat err; return 1; }
	grep_q err "$2" && test ! -e "$TMP/ran"
}

HPORT=$(free_port)
SPORT=$(free_port)

mkctx "$TMP/ctx" svc
mkdir -p "$TMP/ctx/bin"
cat > "$TMP/ctx/svc.sh" <<'EOF'
#!/bin/sh
# The test service: what it does is named by $1.  $T is the test's directory.
echo "$PPID" > "$T/shim.pid"
case $1 in
default)
	echo ran > "$T/ran"; exit 7 ;;
exit)
	echo ran > "$T/ran"; exit "$2" ;;
kill)
	kill -"$2" $$; sleep 5; exit 0 ;;
trap)
	trap 'echo "$2" > "$T/marker"; exit 0' "$2"
	touch "$T/ready"
	while :; do sleep 0.05; done ;;
ignore)
	trap '' TERM INT QUIT
	touch "$T/ready"
	while :; do sleep 0.05; done ;;
orphan)
	# The subshell exits at once: its sleep is orphaned and re-parented
	# to the shim (a subreaper), and becomes a zombie when it exits.
	( sleep 0.5 & echo $! > "$T/orphan.pid" )
	sleep 0.2
	awk '/^PPid:/ { print $2 }' "/proc/$(cat "$T/orphan.pid")/status" > "$T/orphan.ppid"
	sleep 1.5
	touch "$T/ready"
	while :; do sleep 0.05; done ;;
env)
	{
		echo "SVC_ENV=$SVC_ENV"
		echo "IMG_ENV=$IMG_ENV"
		echo "BOTH=$BOTH"
		echo "PLATFORM=$PLATFORM"
		echo "PWD=$(pwd)"
		shift
		echo "ARGS=$*"
	} > "$T/env.out"
	exit 0 ;;
listen)
	while [ ! -e "$T/go" ]; do sleep 0.05; done
	exec python3 -c '
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(os.environ["T"] + "/listening", "w").close()
while True:
    s.accept()[0].close()
' "$2" ;;
esac
exit 99
EOF
printf '#!/bin/sh\necho "$@" > "$T/bin.out"\n' > "$TMP/ctx/bin/tool"
chmod 755 "$TMP/ctx/svc.sh" "$TMP/ctx/bin/tool"
cat > "$TMP/ctx/bentofile.yaml" <<EOF
name: svc
service: ./svc.sh default
envs:
  SVC_ENV: from-envs
  BOTH: from-envs
  PLATFORM: from-envs
image:
  env:
    IMG_ENV: from-image
    BOTH: from-image
  ports: [$SPORT]
models:
  - name: emb
    path: models/emb
EOF

# A fresh copy of the extracted bento in DIR.
fresh() {
	rm -rf "$1" "$TMP/ran" "$TMP/ready" "$TMP/marker" "$TMP/shim.pid" && cp -a "$TMP/tree" "$1"
}

test_expect_success 'setup: build, export and extract the bento; keys' '
	bento build ctx --version 1 -o json > b.json 2> err &&
	jget b.json digest > digest &&
	bento export svc:1 svc.bento > /dev/null &&
	mkdir tree && tar -xf svc.bento -C tree &&
	test -f tree/bento.json && test -x tree/src/svc.sh && test -f tree/models/emb/weights.bin &&
	bento key generate > /dev/null 2>&1 &&
	bento key generate --name other --no-password > /dev/null 2>&1 &&
	minisign -G -W -p ms.pub -s ms.key > /dev/null &&
	bento sign svc:1 > /dev/null &&
	bento export svc:1 signed.bento > /dev/null &&
	mkdir signed && tar -xf signed.bento -C signed &&
	id_of "$K/default.pub" > id1 && test -f "signed/signatures/$(cat id1).minisig"
'

test_expect_success '--version and --help' '
	shim --version > out && grep -qx "bento-shim [0-9][0-9.]*" out &&
	shim --help > out && grep_q out "usage: bento-shim" && grep_q out BENTO_STOP_TIMEOUT
'

test_expect_success 'the service runs with the default entrypoint; its exit status is the shim'"'"'s' '
	fresh r && BENTO_ROOT=$TMP/r shim > out 2> err; rc=$? &&
	test "$rc" = 7 && test "$(cat ran)" = ran &&
	grep_q err "bento-shim: svc:1 $(cat digest): file sizes checked; started ./svc.sh" &&
	test "$(wc -l < err)" = 1
'

test_expect_success 'BENTO_SHIM_QUIET=1: nothing on stderr' '
	fresh r && BENTO_ROOT=$TMP/r BENTO_SHIM_QUIET=1 shim > out 2> err; rc=$? &&
	test "$rc" = 7 && test ! -s err
'

test_expect_success 'argv from the arguments overrides the entrypoint; exit 0 and 42' '
	fresh r && BENTO_ROOT=$TMP/r shim ./svc.sh exit 42 2> err; rc=$? && test "$rc" = 42 &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? && test "$rc" = 0 &&
	BENTO_ROOT=$TMP/r shim -- ./svc.sh exit 5 2> err; rc=$? && test "$rc" = 5
'

test_expect_success 'a service killed by a signal: 128+N' '
	fresh r && BENTO_ROOT=$TMP/r shim ./svc.sh kill USR1 2> err; rc=$? && test "$rc" = 138 &&
	BENTO_ROOT=$TMP/r shim ./svc.sh kill KILL 2> err; rc=$? && test "$rc" = 137
'

test_expect_success 'service env and image env fill in; the platform env wins; workdir is src/' '
	fresh r && BENTO_ROOT=$TMP/r PLATFORM=mine shim ./svc.sh env a "b c" 2> err &&
	grep -qx "SVC_ENV=from-envs" env.out &&
	grep -qx "IMG_ENV=from-image" env.out &&
	grep -qx "BOTH=from-image" env.out &&
	grep -qx "PLATFORM=mine" env.out &&
	grep -qx "PWD=$TMP/r/src" env.out &&
	grep -qx "ARGS=a b c" env.out
'

# setenv(3) per variable scans the whole environment: 100,000 service envs
# took 15.6 s that way (here), 0.3 s now.
test_expect_success 'start-up is linear in the service envs: 100,000 of them within 10 s' '
	fresh r && edit_manifest r "m[\"service\"][\"envs\"].update({\"S%05d\" % i: \"\" for i in range(100000)})" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off S00042=mine timeout 10 "$SHIM" sh -c "env > \"\$T/env.all\"" 2> err &&
	test "$(grep -c "^S[0-9]*=" env.all)" = 100000 &&
	grep -qx S00042=mine env.all && grep -qx S00041= env.all && grep -qx S99999= env.all &&
	grep -qx SVC_ENV=from-envs env.all && grep -qx BOTH=from-image env.all &&
	test "$(grep -c "^PATH=" env.all)" = 1
'

test_expect_success 'service.image.workdir: relative to src/, absolute, and /bento/... follows BENTO_ROOT' '
	fresh r && edit_manifest r "m[\"service\"][\"image\"][\"workdir\"] = \"bin\"" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off shim ./tool rel 2> err &&
	test "$(cat bin.out)" = rel &&
	edit_manifest r "m[\"service\"][\"image\"][\"workdir\"] = \"/bento/src/bin\"" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off shim ./tool rebased 2> err &&
	test "$(cat bin.out)" = rebased &&
	edit_manifest r "m[\"service\"][\"image\"][\"workdir\"] = \"$TMP/r/src/bin\"" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off shim ./tool abs 2> err &&
	test "$(cat bin.out)" = abs &&
	edit_manifest r "m[\"service\"][\"image\"][\"workdir\"] = \"nowhere\"" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off shim ./tool 2> err; rc=$? &&
	refusal 126 "$TMP/r/src/nowhere: cannot use as the working directory"
'

test_expect_success 'a bare name is found in PATH (the default PATH when unset)' '
	fresh r && BENTO_ROOT=$TMP/r shim sh -c "echo \$PATH > \"\$T/path\"" 2> err &&
	test "$(cat path)" = "$PATH" &&
	BENTO_ROOT=$TMP/r env -u PATH "$SHIM" sh -c "echo \$PATH > \"\$T/path\"" 2> err &&
	test "$(cat path)" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
'

test_expect_success 'service not found: 127; not executable: 126' '
	fresh r && BENTO_ROOT=$TMP/r shim no-such-program-xyz 2> err; rc=$? &&
	refusal 127 "bento-shim: no-such-program-xyz: not found in PATH=" &&
	BENTO_ROOT=$TMP/r shim ./no-such-file 2> err; rc=$? &&
	refusal 127 "./no-such-file: cannot run the service (in $TMP/r/src): No such file or directory" &&
	BENTO_ROOT=$TMP/r shim ../bento.json 2> err; rc=$? &&
	refusal 126 "../bento.json: cannot run the service (in $TMP/r/src): Permission denied"
'

test_expect_success 'SIGTERM reaches the service, which exits 0: the shim exits 0' '
	fresh r && { BENTO_ROOT=$TMP/r shim ./svc.sh trap TERM > out 2> err & } && p=$! &&
	wait_for ready && kill -TERM "$(cat shim.pid)" &&
	wait $p; rc=$? && test "$rc" = 0 && test "$(cat marker)" = TERM
'

test_expect_success 'SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGINT and SIGQUIT are forwarded' '
	for s in HUP USR1 USR2 WINCH INT QUIT; do
		fresh r && { BENTO_ROOT=$TMP/r shim ./svc.sh trap $s > out 2> err & } && p=$! &&
		wait_for ready && kill -$s "$(cat shim.pid)" &&
		wait $p; rc=$?
		test "$rc" = 0 && test "$(cat marker)" = $s || { echo "$s: exit $rc"; exit 1; }
	done
'

test_expect_success 'a service ignoring SIGTERM is killed after BENTO_STOP_TIMEOUT=1: 137' '
	fresh r && { BENTO_ROOT=$TMP/r BENTO_STOP_TIMEOUT=1 shim ./svc.sh ignore > out 2> err & } &&
	p=$! && wait_for ready && start=$(date +%s%N) && kill -TERM "$(cat shim.pid)" &&
	wait $p; rc=$? && end=$(date +%s%N) &&
	test "$rc" = 137 &&
	ms=$(( (end - start) / 1000000 )) && test "$ms" -ge 900 && test "$ms" -lt 5000 &&
	grep_q err "did not stop within 1.000s: killing its process group"
'

test_expect_success 'BENTO_STOP_TIMEOUT takes decimals' '
	fresh r && { BENTO_ROOT=$TMP/r BENTO_STOP_TIMEOUT=0.3 shim ./svc.sh ignore > out 2> err & } &&
	p=$! && wait_for ready && start=$(date +%s%N) && kill -INT "$(cat shim.pid)" &&
	wait $p; rc=$? && end=$(date +%s%N) &&
	test "$rc" = 137 && test $(( (end - start) / 1000000 )) -lt 2500 &&
	grep_q err "within 0.300s"
'

test_expect_success 'an orphan re-parented to the shim is reaped (no zombie left)' '
	fresh r && { BENTO_ROOT=$TMP/r shim ./svc.sh orphan > out 2> err & } && p=$! &&
	wait_for ready 50 && sp=$(cat shim.pid) &&
	test "$(cat orphan.ppid)" = "$sp" &&
	test ! -e "/proc/$(cat orphan.pid)" &&
	z=$(grep -l "^PPid:[[:space:]]*$sp\$" /proc/[0-9]*/status 2> /dev/null |
		xargs -r grep -l "^State:[[:space:]]*Z" 2> /dev/null || true) &&
	{ test -z "$z" || { echo "zombie children of the shim: $z"; kill -KILL "$sp"; exit 1; }; } &&
	kill -TERM "$sp" && wait $p; rc=$? && test "$rc" = 143
'

# curl_code URL [METHOD]: prints the HTTP status; the body goes to body.
curl_code() {
	curl -s -m 5 -o body -w "%{http_code}" ${2:+-X "$2"} "$1"
}

test_expect_success 'health: live at once; ready only when the service port accepts; 404, 405' '
	fresh r && rm -f go listening &&
	{ BENTO_ROOT=$TMP/r BENTO_HEALTH_PORT=$HPORT shim ./svc.sh listen $SPORT > out 2> err & } &&
	p=$! && wait_for shim.pid && sleep 0.2 &&
	test "$(curl_code http://127.0.0.1:$HPORT/livez)" = 200 && test "$(cat body)" = "{\"status\":\"ok\"}" &&
	test "$(curl_code http://127.0.0.1:$HPORT/v2/health/live)" = 200 &&
	test "$(cat body)" = "{\"live\":true}" &&
	test "$(curl_code http://127.0.0.1:$HPORT/readyz)" = 503 &&
	test "$(cat body)" = "{\"status\":\"not ready\"}" &&
	test "$(curl_code http://127.0.0.1:$HPORT/v2/health/ready)" = 503 &&
	test "$(cat body)" = "{\"ready\":false}" &&
	touch go && wait_for listening &&
	test "$(curl_code "http://127.0.0.1:$HPORT/readyz?verbose")" = 200 &&
	test "$(cat body)" = "{\"status\":\"ok\"}" &&
	test "$(curl_code http://127.0.0.1:$HPORT/v2/health/ready)" = 200 &&
	test "$(cat body)" = "{\"ready\":true}" &&
	test "$(curl_code http://127.0.0.1:$HPORT/metrics)" = 404 &&
	test "$(curl_code http://127.0.0.1:$HPORT/livez POST)" = 405 &&
	curl -s -m 5 -I http://127.0.0.1:$HPORT/readyz > head &&
	grep -q "^HTTP/1.1 200 OK" head && grep -qi "^content-type: application/json" head &&
	curl -s -m 5 --http1.0 -o body -w "%{http_code}" http://127.0.0.1:$HPORT/livez > code &&
	test "$(cat code)" = 200 &&
	kill -TERM "$(cat shim.pid)" && wait $p; rc=$? && test "$rc" = 143
'

test_expect_success 'health: BENTO_SERVICE_PORT replaces image.ports' '
	fresh r && rm -f go listening && touch go && other=$(free_port) &&
	{ BENTO_ROOT=$TMP/r BENTO_HEALTH_PORT=$HPORT BENTO_SERVICE_PORT=$other \
		shim ./svc.sh listen $SPORT > out 2> err & } &&
	p=$! && wait_for listening &&
	test "$(curl_code http://127.0.0.1:$HPORT/readyz)" = 503 &&
	test "$(curl_code http://127.0.0.1:$HPORT/livez)" = 200 &&
	kill -TERM "$(cat shim.pid)" && wait $p; rc=$? && test "$rc" = 143
'

test_expect_success 'health: no port known: ready once started; garbage and slow clients are survived' '
	fresh r && edit_manifest r "del m[\"service\"][\"image\"][\"ports\"]" &&
	{ BENTO_ROOT=$TMP/r BENTO_VERIFY=off BENTO_HEALTH_PORT=$HPORT shim ./svc.sh trap TERM \
		> out 2> err & } &&
	p=$! && wait_for ready &&
	test "$(curl_code http://127.0.0.1:$HPORT/readyz)" = 200 &&
	python3 -c "
import socket, sys
port = int(sys.argv[1])
idle = socket.create_connection((\"127.0.0.1\", port))    # says nothing
bad = socket.create_connection((\"127.0.0.1\", port))
bad.sendall(b\"NONSENSE\r\n\r\n\")
assert bad.recv(100).startswith(b\"HTTP/1.1 400\"), \"400\"
big = socket.create_connection((\"127.0.0.1\", port))
big.sendall(b\"GET /livez HTTP/1.1\r\nX: \" + b\"a\" * 5000)
assert big.recv(100).startswith(b\"HTTP/1.1 431\"), \"431\"
v = socket.create_connection((\"127.0.0.1\", port))
v.sendall(b\"GET /livez HTTP/2.0\r\n\r\n\")
assert v.recv(100).startswith(b\"HTTP/1.1 505\"), \"505\"
" $HPORT &&
	test "$(curl_code http://127.0.0.1:$HPORT/livez)" = 200 &&
	kill -TERM "$(cat shim.pid)" && wait $p; rc=$? && test "$rc" = 0
'

probe() { python3 "$FIX/healthprobe.py" "$@"; }

# Start the shim with the health port (and more settings) on a service that
# waits for SIGTERM; stop_shim ends it (exit 0).
start_shim() {
	fresh r && edit_manifest r "del m[\"service\"][\"image\"][\"ports\"]" &&
	{ env BENTO_ROOT=$TMP/r BENTO_VERIFY=off BENTO_HEALTH_PORT=$HPORT "$@" \
		timeout 60 "$SHIM" ./svc.sh trap TERM > out 2> err & } &&
	shim_job=$! && wait_for ready && wait_for_port
}
stop_shim() {
	kill -TERM "$(cat shim.pid)" && wait $shim_job; rc=$? && test "$rc" = 0
}
# After a failed check: the shim must not outlive its test (it holds the port).
kill_shim() {
	kill -KILL "$(cat shim.pid)" 2> /dev/null
	wait $shim_job 2> /dev/null
	return 1
}
wait_for_port() {
	_n=0
	while [ "$(probe get 127.0.0.1 $HPORT)" = refused ] && [ "$(probe get ::1 $HPORT)" = refused ]; do
		_n=$((_n + 1))
		[ "$_n" -le 50 ] || { echo "nothing listens on $HPORT"; cat err; return 1; }
		sleep 0.1
	done
}

test_expect_success 'health: 300 idle and trickling connections do not starve the probes' '
	start_shim &&
	timeout 60 python3 "$FIX/healthprobe.py" flood $HPORT > flood.out &&
	cat flood.out && grep -q "^10 probes answered" flood.out &&
	test "$(probe get 127.0.0.1 $HPORT)" = 200 &&
	stop_shim || kill_shim
'

test_expect_success 'health: every malformed request is answered (400, 405, 431, 505) and closed' '
	start_shim &&
	timeout 120 python3 "$FIX/healthprobe.py" malformed $HPORT > bad.out &&
	grep -q "requests answered" bad.out &&
	test "$(probe get 127.0.0.1 $HPORT)" = 200 &&
	stop_shim || kill_shim
'

test_expect_success 'health: a request cut short and then silent is told 408 at the 2 s deadline' '
	start_shim &&
	timeout 20 python3 -c "
import socket, sys, time
s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])), timeout=4)
s.sendall(b\"GET /livez HTTP/1.1\\r\\n\")
t = time.monotonic()
d = s.recv(200)
took = time.monotonic() - t
assert d.startswith(b\"HTTP/1.1 408\"), d
assert 1.5 < took < 3.5, took
" $HPORT &&
	stop_shim || kill_shim
'

# Every address by default (the pod IP is where kubelet probes go), IPv6
# too; BENTO_HEALTH_ADDR picks one.  127.0.0.2 is a loopback address like
# 127.0.0.1 but not 127.0.0.1: it tells "every address" from "127.0.0.1".
if python3 -c "import socket; socket.socket(socket.AF_INET6).bind((\"::1\", 0))" 2> /dev/null; then
	V6=1
else
	V6=
	echo "# no IPv6 on this host: the ::1 checks below are left out"
fi

test_expect_success 'health: every address by default, IPv4 and IPv6' '
	start_shim &&
	test "$(probe get 127.0.0.1 $HPORT)" = 200 &&
	test "$(probe get 127.0.0.2 $HPORT)" = 200 &&
	{ test -z "$V6" || test "$(probe get ::1 $HPORT)" = 200; } &&
	stop_shim || kill_shim
'

test_expect_success 'health: BENTO_HEALTH_ADDR=127.0.0.1, 0.0.0.0, ::1 and [::1]' '
	start_shim BENTO_HEALTH_ADDR=127.0.0.1 &&
	test "$(probe get 127.0.0.1 $HPORT)" = 200 &&
	test "$(probe get 127.0.0.2 $HPORT)" = refused &&
	{ test -z "$V6" || test "$(probe get ::1 $HPORT)" = refused; } &&
	stop_shim &&
	start_shim BENTO_HEALTH_ADDR=0.0.0.0 &&
	test "$(probe get 127.0.0.2 $HPORT)" = 200 &&
	{ test -z "$V6" || test "$(probe get ::1 $HPORT)" = refused; } &&
	stop_shim &&
	if [ -n "$V6" ]; then
		start_shim BENTO_HEALTH_ADDR=::1 &&
		test "$(probe get ::1 $HPORT)" = 200 &&
		test "$(probe get 127.0.0.1 $HPORT)" = refused &&
		stop_shim &&
		start_shim BENTO_HEALTH_ADDR=[::1] &&
		test "$(probe get ::1 $HPORT)" = 200 &&
		stop_shim
	fi || kill_shim
'

test_expect_success 'health: an address that is not this host'"'"'s: 125 naming it' '
	fresh r && BENTO_ROOT=$TMP/r BENTO_HEALTH_PORT=$HPORT BENTO_HEALTH_ADDR=192.0.2.1 \
		shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 125 "health port $HPORT (on 192.0.2.1): Cannot assign requested address"
'

test_expect_success 'health: a port already in use refuses to start: 125' '
	fresh r && python3 -c "
import socket, subprocess, sys, os
s = socket.socket(); s.bind((\"0.0.0.0\", 0)); s.listen(1)
env = dict(os.environ, BENTO_ROOT=sys.argv[2], BENTO_HEALTH_PORT=str(s.getsockname()[1]))
sys.exit(subprocess.call([sys.argv[1], \"./svc.sh\", \"exit\", \"0\"], env=env, stderr=open(\"err\", \"w\"), timeout=30))
" "$SHIM" "$TMP/r"; rc=$? &&
	refusal 125 "bento-shim: health port"
'

# ---- refusals ----

test_expect_success 'missing bento.json: 121' '
	mkdir -p empty && BENTO_ROOT=$TMP/empty shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "bento-shim: $TMP/empty/bento.json: No such file or directory"
'

test_expect_success 'malformed bento.json (not canonical, truncated, bad image hints): 121' '
	fresh r && printf " " >> r/bento.json &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "bento-shim: $TMP/r/bento.json:" &&
	fresh r && head -c 100 tree/bento.json > r/bento.json &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "$TMP/r/bento.json" &&
	fresh r && edit_manifest r "m[\"service\"][\"image\"][\"ports\"] = [\"80\"]" &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "service.image.ports[0] is not a port number" &&
	fresh r && edit_manifest r "m[\"service\"][\"image\"][\"env\"] = {\"A=B\": \"x\"}" &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "service.image.env.A=B" &&
	fresh r && rm r/bento.json && mkdir r/bento.json &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 121 "$TMP/r/bento.json: not a regular file"
'

test_expect_success 'a listed file missing: 122 naming it, its size and digest' '
	fresh r && rm r/src/lib/util.py &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "bento-shim: $TMP/r/src/lib/util.py: missing (bento.json lists $(stat -c %s tree/src/lib/util.py) bytes, sha256:"
'

test_expect_success 'a model file of the wrong size: 122 with both sizes' '
	fresh r && printf x >> r/models/emb/sub/vocab.bin &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "$TMP/r/models/emb/sub/vocab.bin: size 3001, bento.json says 3000"
'

test_expect_success 'a flipped byte: passes BENTO_VERIFY=size, refused by full (122), ignored by off' '
	fresh r && python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, \"rb\").read()); b[len(b) // 2] ^= 1; open(p, \"wb\").write(b)" r/models/emb/weights.bin &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err && rm -f ran &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=full shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "$TMP/r/models/emb/weights.bin: digest sha256:" &&
	grep_q err ", bento.json says sha256:" &&
	BENTO_ROOT=$TMP/r BENTO_VERIFY=off shim ./svc.sh exit 0 2> err && test -e ran &&
	fresh r && BENTO_ROOT=$TMP/r BENTO_VERIFY=full shim ./svc.sh exit 0 2> err &&
	grep_q err "file digests checked"
'

test_expect_success 'not a regular file, lost exec bit, symlink out of the bento: 122' '
	fresh r && rm r/src/service.py && mkdir r/src/service.py &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "$TMP/r/src/service.py: not a regular file" &&
	fresh r && chmod 644 r/src/svc.sh &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "$TMP/r/src/svc.sh: not executable, bento.json says mode 0755" &&
	fresh r && cp r/src/lib/util.py util.py && rm r/src/lib/util.py &&
	ln -s "$TMP/util.py" r/src/lib/util.py &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 122 "$TMP/r/src/lib/util.py: a symbolic link out of $TMP/r" &&
	fresh r && mv r/src/lib/util.py r/src/util.real && ln -s ../util.real r/src/lib/util.py &&
	BENTO_ROOT=$TMP/r shim ./svc.sh exit 0 2> err
'

test_expect_success 'bad configuration: 120 naming the variable' '
	fresh r &&
	for kv in BENTO_VERIFY=sizes BENTO_VERIFY=FULL BENTO_STOP_TIMEOUT=0 BENTO_STOP_TIMEOUT=-1 \
		BENTO_STOP_TIMEOUT=1e3 BENTO_STOP_TIMEOUT=1. BENTO_STOP_TIMEOUT=abc \
		BENTO_HEALTH_PORT=0 BENTO_HEALTH_PORT=65536 BENTO_HEALTH_PORT=80x \
		BENTO_HEALTH_ADDR=localhost BENTO_HEALTH_ADDR=1.2.3 BENTO_HEALTH_ADDR=::g \
		BENTO_HEALTH_ADDR=[::1 BENTO_HEALTH_ADDR=127.0.0.1:80 BENTO_HEALTH_ADDR=fe80::1%lo \
		BENTO_SERVICE_PORT=1,,2 BENTO_SERVICE_PORT=http \
		BENTO_REQUIRE_SIGNATURE=maybe BENTO_SHIM_QUIET=2 BENTO_ROOT= \
		BENTO_TRUSTED_KEY=$TMP/nokey.pub BENTO_TRUSTED_KEYS=$TMP/nodir BENTO_TRUSTED_KEY=RWQnotakey; do
		rm -f ran
		env BENTO_ROOT="$TMP/r" "$kv" timeout 30 "$SHIM" ./svc.sh exit 0 2> err; rc=$?
		refusal 120 "${kv%%=*}" || { echo "for $kv"; exit 1; }
	done
'

# A FIFO with no writer blocks an open(2) for reading forever: every path
# the shim reads is opened without waiting and refused as not a file.
# (Each run is bounded at 5 s; before lib/fs.c, BENTO_TRUSTED_KEY hung.)
fifo_refusal() {
	_want=$1 _msg=$2
	shift 2
	rm -f ran
	env "$@" timeout 5 "$SHIM" ./svc.sh exit 0 2> err; rc=$?
	refusal "$_want" "$_msg" || { echo "for $*"; return 1; }
}

test_expect_success 'FIFOs where the shim reads a file: refused at once (120, 121, 122, 123, 126)' '
	id=$(cat id1) &&
	rm -rf ff && mkdir -p ff/keys && mkfifo ff/key.pub ff/keys/a.pub &&
	fifo_refusal 120 "BENTO_TRUSTED_KEY: $TMP/ff/key.pub: not a regular file (a FIFO)" \
		BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$TMP/ff/key.pub &&
	fifo_refusal 120 "BENTO_TRUSTED_KEYS: $TMP/ff/key.pub: not a regular file (a FIFO)" \
		BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEYS=$TMP/ff/key.pub &&
	fifo_refusal 120 "BENTO_TRUSTED_KEYS: $TMP/ff/keys/a.pub: not a regular file (a FIFO)" \
		BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEYS=$TMP/ff/keys &&
	fresh r && rm r/bento.json && mkfifo r/bento.json &&
	fifo_refusal 121 "$TMP/r/bento.json: not a regular file (a FIFO)" BENTO_ROOT=$TMP/r &&
	rm -rf s1 && cp -a signed s1 && rm "s1/signatures/$id.minisig" &&
	mkfifo "s1/signatures/$id.minisig" &&
	fifo_refusal 123 "$TMP/s1/signatures/$id.minisig: not a regular file (a FIFO)" \
		BENTO_ROOT=$TMP/s1 BENTO_TRUSTED_KEY=$K/default.pub &&
	rm -rf s1/signatures && mkfifo s1/signatures &&
	fifo_refusal 123 "$TMP/s1/signatures: Not a directory" \
		BENTO_ROOT=$TMP/s1 BENTO_TRUSTED_KEY=$K/default.pub &&
	fresh r && rm r/src/lib/util.py && mkfifo r/src/lib/util.py &&
	fifo_refusal 122 "$TMP/r/src/lib/util.py: not a regular file" BENTO_ROOT=$TMP/r &&
	fifo_refusal 122 "$TMP/r/src/lib/util.py: not a regular file" BENTO_ROOT=$TMP/r \
		BENTO_VERIFY=full &&
	mkfifo ff/root && fifo_refusal 121 "$TMP/ff/root/bento.json: Not a directory" \
		BENTO_ROOT=$TMP/ff/root &&
	fresh r && edit_manifest r "m[\"service\"][\"image\"][\"workdir\"] = \"pipe\"" &&
	mkfifo r/src/pipe &&
	fifo_refusal 126 "$TMP/r/src/pipe: cannot use as the working directory: Not a directory" \
		BENTO_ROOT=$TMP/r BENTO_VERIFY=off
'

test_expect_success 'BENTO_REQUIRE_SIGNATURE=1 with no key: 120, no trusted key given' '
	BENTO_ROOT=$TMP/signed BENTO_REQUIRE_SIGNATURE=1 shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 120 "no trusted key given"
'

test_expect_success 'unsigned bento with a trusted key: 123' '
	fresh r && BENTO_ROOT=$TMP/r BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "bento-shim: $TMP/r/signatures: not signed; a signature by a trusted key is required"
'

test_expect_success 'good signature with the trusted key (file, bare key line, directory): runs' '
	rm -f ran && BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 3 2> err;
	rc=$? && test "$rc" = 3 && test -e ran &&
	grep_q err "signed by key $(cat id1)" &&
	rm -f ran && BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$(sed -n 2p "$K/default.pub") \
		shim ./svc.sh exit 3 2> err; rc=$? && test "$rc" = 3 && test -e ran &&
	mkdir -p keys && cp "$K/other.pub" "$K/default.pub" keys/ &&
	rm -f ran && BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEYS=$TMP/nothing-here.pub:$TMP/keys \
		shim ./svc.sh exit 3 2> err; rc=$? && test "$rc" = 120 &&
	rm -f ran && BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEYS=$K/other.pub::$TMP/keys \
		BENTO_VERIFY=full shim ./svc.sh exit 3 2> err; rc=$? && test "$rc" = 3 && test -e ran
'

test_expect_success 'signature by another key only: 123 naming the signer' '
	rm -f ran && BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$K/other.pub shim ./svc.sh exit 0 2> err;
	rc=$? && refusal 123 "no signature by a trusted key (only by $(cat id1))"
'

test_expect_success 'tampered signature, tampered trusted comment, altered bento.json: 123' '
	s=signatures/$(cat id1).minisig &&
	rm -rf t1 && cp -a signed t1 && python3 -c "
import sys
p = sys.argv[1]
lines = open(p).read().split(\"\n\")
sig = bytearray(lines[1], \"ascii\"); sig[40] = ord(\"A\") if sig[40] != ord(\"A\") else ord(\"B\")
lines[1] = sig.decode(); open(p, \"w\").write(\"\n\".join(lines))" "t1/$s" &&
	BENTO_ROOT=$TMP/t1 BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "$TMP/t1/$s: signature by key $(cat id1) does not match" &&
	rm -rf t2 && cp -a signed t2 && sed -i "3s/bento svc:1/bento svc:2/" "t2/$s" &&
	BENTO_ROOT=$TMP/t2 BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "trusted comment was altered" &&
	rm -rf t3 && cp -a signed t3 &&
	edit_manifest t3 "m[\"labels\"][\"team\"] = \"evil\"" &&
	BENTO_ROOT=$TMP/t3 BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "does not match the signed data" &&
	rm -rf t4 && cp -a signed t4 && mv "t4/$s" t4/signatures/0000000000000000.minisig &&
	BENTO_ROOT=$TMP/t4 BENTO_TRUSTED_KEY=$K/default.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "file is named for key 0000000000000000 but the signature is by key $(cat id1)"
'

test_expect_success 'a minisign signature: its trusted comment must be the one bento sign writes' '
	id3=$(id_of ms.pub) &&
	rm -rf m1 && cp -a signed m1 && rm m1/signatures/* &&
	minisign -S -s ms.key -m m1/bento.json -x "m1/signatures/$id3.minisig" -t "svc release" > /dev/null &&
	BENTO_ROOT=$TMP/m1 BENTO_TRUSTED_KEY=$TMP/ms.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "trusted comment '"'"'svc release'"'"' does not name this bento (want '"'"'bento svc:1 $(cat digest)'"'"')" &&
	minisign -S -s ms.key -m m1/bento.json -x "m1/signatures/$id3.minisig" \
		-t "release $(cat digest) ok" > /dev/null &&
	BENTO_ROOT=$TMP/m1 BENTO_TRUSTED_KEY=$TMP/ms.pub shim ./svc.sh exit 0 2> err; rc=$? &&
	refusal 123 "does not name this bento" &&
	minisign -S -s ms.key -m m1/bento.json -x "m1/signatures/$id3.minisig" \
		-t "bento svc:1 $(cat digest)" > /dev/null &&
	BENTO_ROOT=$TMP/m1 BENTO_TRUSTED_KEY=$TMP/ms.pub shim ./svc.sh exit 4 2> err; rc=$? &&
	test "$rc" = 4
'

if readelf -d "$SHIM" 2> /dev/null | grep -q "NEEDED.*libasan"; then
	test_count=$((test_count + 1))
	echo "ok $test_count - the shim is static and under 1 MiB # SKIP sanitizer builds are dynamic"
else
	test_expect_success 'the shim is static and under 1 MiB' '
		readelf -l "$SHIM" > phdrs && ! grep -q INTERP phdrs && grep -q LOAD phdrs &&
		test "$(stat -c %s "$SHIM")" -lt 1048576
	'
fi

# valgrind cannot see malloc in a static binary: build a dynamic copy here.
if command -v valgrind > /dev/null && ! readelf -d "$SHIM" | grep -q "NEEDED.*libasan"; then
	test_expect_success 'valgrind: no leaks or errors (success, refusal, signatures, health)' '
		cc -std=c11 -D_GNU_SOURCE -DBENTO_DIGEST_SODIUM -DBENTO_VERSION="\"t\"" -O1 -g \
			-iquote "$SRC/lib" -Wl,--wrap=gmtime_r,--wrap=timegm,--wrap=strptime,--wrap=strftime \
			-o vshim $(make -s --no-print-directory -C "$SRC" print-SHIM_SRC | tr " " "\n" | sed "s|^|$SRC/|") \
			-lsodium -ljansson &&
		vg() { timeout 120 valgrind -q --leak-check=full --errors-for-leak-kinds=all \
			--error-exitcode=99 ./vshim "$@"; } &&
		BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$K/default.pub BENTO_VERIFY=full \
			vg ./svc.sh exit 3 2> err; rc=$? && test "$rc" = 3 &&
		BENTO_ROOT=$TMP/signed BENTO_TRUSTED_KEY=$K/other.pub vg ./svc.sh exit 0 2> err; rc=$? &&
		test "$rc" = 123 &&
		BENTO_ROOT=$TMP/empty vg 2> err; rc=$? && test "$rc" = 121 &&
		BENTO_ROOT=$TMP/signed BENTO_VERIFY=bad vg 2> err; rc=$? && test "$rc" = 120 &&
		BENTO_ROOT=$TMP/signed vg ./nothing 2> err; rc=$? && test "$rc" = 127 &&
		fresh r && { BENTO_ROOT=$TMP/r BENTO_HEALTH_PORT=$HPORT vg ./svc.sh trap TERM 2> err & } &&
		p=$! && wait_for ready 300 &&
		curl -s -m 5 http://127.0.0.1:$HPORT/readyz > /dev/null &&
		curl -s -m 5 http://127.0.0.1:$HPORT/nope > /dev/null &&
		kill -TERM "$(cat shim.pid)" && wait $p; rc=$? && test "$rc" = 0
	'
fi

test_done
