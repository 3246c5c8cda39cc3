#!/bin/sh
# registry.sh - a throw-away docker-registry (Debian's distribution 2.8) on
# 127.0.0.1 for the tests and benchmarks.
#
#   registry.sh start DIR [--htpasswd USER:PASS]
#       writes DIR/config.yml, keeps blobs in DIR/data, logs to
#       DIR/registry.log, binds 127.0.0.1 on a free port, waits (at most 15 s)
#       until GET /v2/ answers 200 or 401, records DIR/pid and DIR/port and
#       prints "PORT PID".  --htpasswd adds Basic auth (realm bento-test) with
#       that one user, from DIR/htpasswd.
#   registry.sh stop DIR
#       TERM to the PID in DIR/pid, KILL after 3 s, returns once it is gone.
#
# Counting requests: the registry writes an Apache combined-format access log
# line per request into DIR/registry.log, e.g.
#   127.0.0.1 - - [02/Jan/2025:10:00:00 +0000] "PATCH /v2/r/blobs/uploads/<uuid>?_state=... HTTP/1.1" 202 0 "" "curl/7.88.1"
# so blob uploads are counted with
#   grep -cE '"(PUT|PATCH) /v2/[^ ]*/blobs/uploads/' DIR/registry.log
# (a PUT of a manifest is "/v2/REPO/manifests/REF").
set -eu

die() { echo "registry.sh: $*" >&2; exit 1; }
REGISTRY=${DOCKER_REGISTRY:-/usr/bin/docker-registry}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A bcrypt htpasswd line.  htpasswd (apache2-utils) when it is there, else
# crypt(3) through perl: Debian's libxcrypt makes $2b$ hashes, which the
# registry's Go bcrypt accepts.  Cost 5 keeps each request cheap.
htpasswd_line() {
	user=${1%%:*}
	pass=${1#*:}
	if command -v htpasswd > /dev/null 2>&1; then
		htpasswd -Bbn -C 5 "$user" "$pass" | sed '/^$/d'
		return
	fi
	hash=$(perl -e '
		open my $r, "<", "/dev/urandom" or die;
		read $r, my $b, 21;
		my @a = (".", "/", "A".."Z", "a".."z", "0".."9");
		my $salt = join "", map { $a[ord($_) % 64] } split //, $b;
		$salt .= (".", "O", "e", "u")[ord(substr($b, 0, 1)) % 4];
		print crypt($ARGV[0], "\$2b\$05\$" . $salt);
	' "$pass")
	case $hash in
	'$2b$05$'*) printf '%s:%s\n' "$user" "$hash" ;;
	*) die "no htpasswd and crypt(3) cannot make bcrypt; install apache2-utils" ;;
	esac
}

pid_is_registry() {
	[ -r "/proc/$1/cmdline" ] || return 1
	# A zombie has an empty cmdline and is as good as gone.
	tr '\0' ' ' < "/proc/$1/cmdline" | grep -q 'registry.* serve '
}

cmd_start() {
	[ $# -ge 1 ] || die "usage: registry.sh start DIR [--htpasswd USER:PASS]"
	dir=$1
	shift
	auth=
	while [ $# -gt 0 ]; do
		case $1 in
		--htpasswd) [ $# -ge 2 ] || die "--htpasswd needs USER:PASS"; auth=$2; shift 2 ;;
		*) die "unknown option $1" ;;
		esac
	done
	case $auth in ''|*:*) ;; *) die "--htpasswd wants USER:PASS" ;; esac
	[ -x "$REGISTRY" ] || die "$REGISTRY not found (apt-get install docker-registry)"
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ] && pid_is_registry "$(cat "$dir/pid")"; then
		die "a registry already runs for $dir (pid $(cat "$dir/pid"))"
	fi
	if [ -n "$auth" ]; then
		htpasswd_line "$auth" > "$dir/htpasswd"
	fi

	# The port is free when picked but could be taken before the registry
	# binds it: then the registry exits at once and another port is tried.
	for try in 1 2 3 4 5; do
		port=$(free_port)
		write_config "$dir" "$port" "$auth"
		# A simple command in the background: the forked shell execs it,
		# so $! is the registry's own PID.
		"$REGISTRY" serve "$dir/config.yml" >> "$dir/registry.log" 2>&1 < /dev/null &
		pid=$!
		echo "$pid" > "$dir/pid"
		echo "$port" > "$dir/port"
		i=0
		while [ $i -lt 150 ]; do
			kill -0 "$pid" 2> /dev/null || break
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
				"http://127.0.0.1:$port/v2/" 2> /dev/null || true)
			case $code in
			200|401) echo "$port $pid"; return 0 ;;
			esac
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$pid" 2> /dev/null; then
			kill -KILL "$pid" 2> /dev/null || true
			die "the registry did not answer on 127.0.0.1:$port within 15 s; see $dir/registry.log"
		fi
		grep -q 'address already in use' "$dir/registry.log" ||
			die "the registry exited; see $dir/registry.log"
	done
	die "no free port after $try tries"
}

write_config() {
	{
		cat <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $1/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
  headers:
    X-Content-Type-Options: [nosniff]
EOF
		if [ -n "$3" ]; then
			cat <<EOF
auth:
  htpasswd:
    realm: bento-test
    path: $1/htpasswd
EOF
		fi
	} > "$1/config.yml"
}

cmd_stop() {
	[ $# -eq 1 ] || die "usage: registry.sh stop DIR"
	[ -f "$1/pid" ] || die "no $1/pid: no registry started there"
	pid=$(cat "$1/pid")
	if pid_is_registry "$pid"; then
		kill -TERM "$pid" 2> /dev/null || true
		i=0
		while pid_is_registry "$pid" && [ $i -lt 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if pid_is_registry "$pid"; then
			kill -KILL "$pid" 2> /dev/null || true
			i=0
			while pid_is_registry "$pid" && [ $i -lt 50 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			! pid_is_registry "$pid" || die "pid $pid survived KILL"
		fi
	fi
	rm -f "$1/pid"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) die "usage: registry.sh start DIR [--htpasswd USER:PASS] | registry.sh stop DIR" ;;
esac
