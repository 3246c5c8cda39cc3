#!/bin/sh
# install-deps.sh - install every build and test dependency of bento
# (Debian 12 package names) with apt-get.  Idempotent, and quick when all are
# present: one dpkg-query, no apt-get, no network.  Runs as root, or through
# sudo when it is there.  POSIX sh (make runs it with sh).
#   BENTO_SKIP_DEPS=1   do nothing (a machine set up some other way)
set -eu

PKGS="
	build-essential pkg-config
	libarchive-dev libgit2-dev libssl-dev libyaml-dev libsqlite3-dev
	libcurl4-openssl-dev libsodium-dev libjansson-dev libzstd-dev zlib1g-dev
	sqlite3 openssl git ca-certificates xxd zstd gzip tar libarchive-tools python3 python3-jsonschema curl
	docker-registry skopeo umoci runc minisign busybox-static
	hyperfine valgrind strace clang libclang-rt-14-dev time procps
"

say() { echo "install-deps: $*" >&2; }
# shellcheck disable=SC2086 # word splitting of the list is wanted, here and below
count=$(set -- $PKGS; echo $#)

if [ "${BENTO_SKIP_DEPS:-}" = 1 ]; then
	say "BENTO_SKIP_DEPS=1: not checking"
	exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	say "this is not a Debian-like system (no dpkg-query/apt-get); install the equivalents of:"
	# shellcheck disable=SC2086
	echo $PKGS >&2
	say "then run with BENTO_SKIP_DEPS=1"
	exit 1
fi

# Which are not fully installed?  One dpkg-query for all: it prints the known
# ones (status "ii" when installed) and complains about unknown ones, which
# are then missing too.
missing() {
	# shellcheck disable=SC2086
	dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null |
		awk '$2 == "ii" { print $1 }' > "$tmp.have" || true
	for p in $PKGS; do
		grep -qx "$p" "$tmp.have" || printf '%s ' "$p"
	done
}

tmp=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX")
trap 'rm -f "$tmp" "$tmp.have"' EXIT
need=$(missing)
need=${need% }
if [ -z "$need" ]; then
	say "all $count packages present"
	exit 0
fi
say "missing: $need"

if [ "$(id -u)" = 0 ]; then
	as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
	as_root() { sudo "$@"; }
else
	say "not root and no sudo: install them as root, e.g. apt-get install $need"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A mirror mid-sync or a flaky network fails now and then; try once more.
if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q; then
	say "apt-get update failed; retrying in 5 s"
	sleep 5
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
# shellcheck disable=SC2086
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need

need=$(missing)
need=${need% }
if [ -n "$need" ]; then
	say "still missing after apt-get install: $need"
	exit 1
fi
say "installed; all $count packages present"
