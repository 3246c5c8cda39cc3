#!/bin/bash
# Reproducibility: the same inputs give the same digest and the same archive
# bytes whatever the checkout path, umask, file modes (but the exec bit),
# mtimes and creation order; "created" comes from SOURCE_DATE_EPOCH or the
# git HEAD commit time, else it is absent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"

# Context A: umask 022, files made in one order.
(umask 022 && mkctx "$TMP/a" repro)

# Context B: the same bytes at another path, made under umask 077 (modes
# 0600/0700), in reverse order, with other mtimes.
(
	umask 077
	b=$TMP/some/deeper/place/b
	cd "$TMP/a" || exit 1
	find . -type d | sort -r | while read -r dir; do mkdir -p "$b/$dir"; done
	find . -type f | sort -r | while read -r f; do
		cat "$f" > "$b/$f"
		if [ -x "$f" ]; then chmod u+x "$b/$f"; fi
		touch -d "2001-02-03 04:05:06" "$b/$f"
	done
)

test_expect_success 'the copies differ in modes and mtimes, not in content' '
	test "$(stat -c %a a/run.sh)" = 755 && test "$(stat -c %a some/deeper/place/b/run.sh)" = 700 &&
	test "$(stat -c %a a/service.py)" = 644 &&
	test "$(stat -c %a some/deeper/place/b/service.py)" = 600 &&
	test "$(stat -c %Y a/service.py)" != "$(stat -c %Y some/deeper/place/b/service.py)" &&
	diff -r a some/deeper/place/b
'

test_expect_success 'both build to the same digest (separate stores)' '
	BENTO_HOME=$TMP/ha bento build a -o json > a.json &&
	BENTO_HOME=$TMP/hb bento build some/deeper/place/b -o json > b.json &&
	jget a.json digest > da && jget b.json digest > db &&
	cmp da db &&
	test "$(jget a.json version)" = "$(jget b.json version)"
'

test_expect_success 'and into one store: the second is unchanged' '
	BENTO_HOME=$TMP/ha bento build some/deeper/place/b > out &&
	grep_q out unchanged && test "$(digest_of_text out)" = "$(cat da)"
'

test_expect_success 'touching every file changes nothing' '
	find a -type f -exec touch -d "2030-01-01 00:00:00" {} + &&
	BENTO_HOME=$TMP/ha bento build a -o json > a2.json &&
	test "$(jget a2.json digest)" = "$(cat da)"
'

test_expect_success 'the number of hashing threads changes nothing' '
	BENTO_HOME=$TMP/hc bento build a -j 1 -o json > j1.json &&
	BENTO_HOME=$TMP/hd bento build a -j 8 -o json > j8.json &&
	test "$(jget j1.json digest)" = "$(cat da)" && test "$(jget j8.json digest)" = "$(cat da)"
'

test_expect_success 'without SOURCE_DATE_EPOCH and outside git there is no created' '
	BENTO_HOME=$TMP/ha bento get "$(cat da)" -o json > g.json &&
	{ jget g.json created; test $? = 3; }
'

for comp in none gzip zstd; do
	test_expect_success "both exports are the same bytes (--compression $comp)" "
		BENTO_HOME=\$TMP/ha bento export \"\$(cat da)\" a-$comp.bento --compression $comp &&
		BENTO_HOME=\$TMP/hb bento export \"\$(cat db)\" b-$comp.bento --compression $comp &&
		cmp a-$comp.bento b-$comp.bento
	"
done

test_expect_success 'without created, every tar entry has mtime 0' '
	python3 "$FIX/mktar.py" mtimes a-none.bento > hdr &&
	test -s hdr && ! grep -v "^[^ ]* 0 " hdr
'

test_expect_success 'a content change does change the digest' '
	cp -a a a3 && printf " " >> a3/lib/util.py &&
	BENTO_HOME=$TMP/ha bento build a3 -o json > a3.json &&
	test "$(jget a3.json digest)" != "$(cat da)"
'

test_expect_success 'an exec bit change does change the digest' '
	cp -a a a4 && chmod 644 a4/run.sh &&
	BENTO_HOME=$TMP/ha bento build a4 -o json > a4.json &&
	test "$(jget a4.json digest)" != "$(cat da)"
'

test_expect_success 'SOURCE_DATE_EPOCH sets created' '
	SOURCE_DATE_EPOCH=1700000000 BENTO_HOME=$TMP/hs bento build a -o json > s.json &&
	BENTO_HOME=$TMP/hs bento get "$(jget s.json digest)" -o json > g.json &&
	test "$(jget g.json created)" = 2023-11-14T22:13:20Z &&
	test "$(jget s.json digest)" != "$(cat da)" &&
	SOURCE_DATE_EPOCH=1700000000 BENTO_HOME=$TMP/hs2 bento build some/deeper/place/b -o json > s2.json &&
	test "$(jget s2.json digest)" = "$(jget s.json digest)"
'

test_expect_success 'with created, every tar entry has that mtime' '
	BENTO_HOME=$TMP/hs bento export "$(jget s.json digest)" s.bento &&
	python3 "$FIX/mktar.py" mtimes s.bento > hdr &&
	test "$(wc -l < hdr)" -gt 5 &&
	! grep -v "^[^ ]* 1700000000 0 0 - - " hdr
'

test_expect_code 1 'a SOURCE_DATE_EPOCH that is not a number is refused' '
	SOURCE_DATE_EPOCH=yesterday bento build a 2> err; rc=$?
	grep_q err SOURCE_DATE_EPOCH || exit 9; exit $rc'

test_expect_success 'inside a git work tree, created is the HEAD commit time' '
	cp -a a g && cd g && git init -q . &&
	git add -A &&
	GIT_AUTHOR_DATE="2020-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-02T03:04:05Z" \
		git -c user.name=t -c user.email=t@example.com commit -q -m one &&
	cd .. &&
	BENTO_HOME=$TMP/hg bento build g -o json > gb.json &&
	BENTO_HOME=$TMP/hg bento get "$(jget gb.json digest)" -o json > g.json &&
	test "$(jget g.json created)" = 2024-01-02T03:04:05Z &&
	! jget g.json "files.*.path" | grep -q "^src/\.git/"
'

test_expect_success 'a dirty work tree does not change created; SOURCE_DATE_EPOCH wins over git' '
	printf "# dirty\n" >> g/service.py &&
	BENTO_HOME=$TMP/hg bento build g -o json > gd.json &&
	BENTO_HOME=$TMP/hg bento get "$(jget gd.json digest)" -o json > g.json &&
	test "$(jget g.json created)" = 2024-01-02T03:04:05Z &&
	SOURCE_DATE_EPOCH=1700000000 BENTO_HOME=$TMP/hg bento build g -o json > ge.json &&
	BENTO_HOME=$TMP/hg bento get "$(jget ge.json digest)" -o json > g.json &&
	test "$(jget g.json created)" = 2023-11-14T22:13:20Z
'

test_done
