#!/bin/bash
# bento history: one hash-chained event per action, with its actor; the
# filters; -o json; and history --verify catching edits made with sqlite3
# behind bento's back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
export BENTO_KDF_FAST=1
export BENTO_KEY_PASSWORD=test-password
unset BENTO_ACTOR CI GITHUB_ACTIONS GITLAB_CI JENKINS_URL BUILDKITE CIRCLECI

K=$XDG_CONFIG_HOME/bento/keys
DB=$BENTO_HOME/store.db
ME=$(id -un)@$(uname -n)
# Pass when exit status $2 is $1 (a failing check must not pass for a wanted 1 or 3).
code_is() { [ "$2" = "$1" ] || { echo "exit $2, wanted $1"; cat err 2> /dev/null; return 1; }; }
# A copy of the store to tamper with: BENTO_HOME=$TMP/$1.
copy_store() { rm -rf "$TMP/$1" && cp -a "$BENTO_HOME" "$TMP/$1"; }
nodrop() { sqlite3 "$TMP/$1/store.db" "$2"; }
drop_triggers() {
	sqlite3 "$TMP/$1/store.db" "DROP TRIGGER history_no_update; DROP TRIGGER history_no_delete"
}

# Event $2's hash recomputed from its row in database $1 (bento-history(1), THE HASH CHAIN).
chain_hash() {
	sqlite3 "$1" "SELECT prev || json_object('action', action, 'actor', actor,
		'details', json(details), 'digest', digest, 'kind', kind, 'name', name,
		'seq', seq, 'time', time, 'version', version) FROM history WHERE seq = $2" |
		tr -d '\n' | sha256sum | cut -c1-64
}

mkctx "$TMP/ctx" demo
mkctx "$TMP/other" other

test_expect_success 'setup: a key, then every kind of action' '
	date +%s > t0 &&
	bento key generate --no-password > /dev/null 2>&1 && id_of "$K/default.pub" > id &&
	bento build ctx --version 1 > /dev/null 2>&1 &&
	bento sign demo:1 > /dev/null &&
	BENTO_ACTOR=tester bento tag demo:1 demo:stable > /dev/null &&
	bento export demo:1 d.bento > /dev/null &&
	bento import d.bento > /dev/null 2>&1 &&
	bento build other --version 1 --sign > /dev/null 2>&1 &&
	bento delete demo:stable -y > /dev/null &&
	bento delete other:1 -y > /dev/null &&
	bento gc > gc.out &&
	date +%s > t1
'

test_expect_success 'the events come in order, one per action' '
	bento history -o json > h.json &&
	jget h.json "*.action" > actions &&
	printf "%s\n" model-import build sign tag export import model-import build delete delete gc > want &&
	cmp want actions
'

test_expect_success 'actor: BENTO_ACTOR when set, else user@host' '
	jget h.json "*.actor" > actors &&
	test "$(sed -n 4p actors)" = tester &&
	sed 4d actors | sort -u > rest && echo "$ME" | cmp - rest
'

test_expect_success 'seq runs 1..N, prev chains to the previous hash, 64 zeros first' '
	n=$(jget h.json "#len") && test "$n" = 11 &&
	jget h.json "*.seq" > seqs && seq 1 $n | cmp - seqs &&
	test "$(jget h.json 0.prev)" = 0000000000000000000000000000000000000000000000000000000000000000 &&
	jget h.json "*.hash" | head -n $((n - 1)) > hashes &&
	jget h.json "*.prev" | tail -n +2 | cmp - hashes &&
	jget h.json "*.hash" | grep -cvE "^[0-9a-f]{64}$" | grep -qx 0
'

test_expect_success 'every event has exactly the documented fields' '
	for i in $(seq 0 10); do
		test "$(jget h.json "$i.#keys" | tr "\n" " ")" = \
			"action actor details digest hash kind name prev seq time version " || exit 1
	done &&
	jget h.json "*.time" | grep -cvE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$" | grep -qx 0
'

test_expect_success 'the fields of each action' '
	d=$(list_digest demo:1) &&
	test "$(jget h.json 0.kind)" = model && test "$(jget h.json 0.name)" = emb &&
	test "$(jget h.json 0.digest)" = "$(list_digest models emb:$(jget h.json 0.version))" &&
	test "$(jget h.json 1.kind)" = bento && test "$(jget h.json 1.name)" = demo &&
	test "$(jget h.json 1.version)" = 1 && test "$(jget h.json 1.digest)" = "$d" &&
	test "$(jget h.json 1.details.files)" = 9 && test "$(jget h.json 1.details.models)" = 1 &&
	test "$(jget h.json 2.details.key)" = "$(cat id)" && test "$(jget h.json 2.digest)" = "$d" &&
	test "$(jget h.json 3.name):$(jget h.json 3.version)" = demo:stable &&
	test "$(jget h.json 3.details.from)" = demo && test "$(jget h.json 3.details.from_version)" = 1 &&
	test "$(jget h.json 4.details.file)" = d.bento &&
	test "$(jget h.json 4.details.compression)" = none &&
	test "$(jget h.json 5.details.source)" = d.bento &&
	test "$(jget h.json 5.details.signatures)" = 1 &&
	test "$(jget h.json 5.details.attestations)" = 1 &&
	test "$(jget h.json 7.details.signed)" = "$(cat id)" &&
	test "$(jget h.json 8.version)" = stable && test "$(jget h.json 8.digest)" = "$d" &&
	test "$(jget h.json 10.kind)" = "" && test "$(jget h.json 10.name)" = "" &&
	test "$(jget h.json 10.digest)" = "" &&
	test "$(jget h.json 10.details.blobs)" -gt 0 && test "$(jget h.json 10.details.bytes)" -gt 0
'

test_expect_success 'times lie within the test run' '
	python3 -c "
import calendar, json, sys, time
t0, t1 = int(open(\"t0\").read()), int(open(\"t1\").read())
for e in json.load(open(\"h.json\")):
    t = calendar.timegm(time.strptime(e[\"time\"], \"%Y-%m-%dT%H:%M:%SZ\"))
    if not t0 <= t <= t1:
        sys.exit(\"event %d at %d, not in [%d, %d]\" % (e[\"seq\"], t, t0, t1))"
'

test_expect_success 'each hash is sha256(prev || canonical JSON of the fields), as documented' '
	sqlite3 "$DB" "SELECT seq FROM history ORDER BY seq" > seqs &&
	for s in $(cat seqs); do
		test "$(chain_hash "$DB" $s)" = "$(sqlite3 "$DB" "SELECT hash FROM history WHERE seq = $s")" ||
			exit 1
	done
'

test_expect_success 'history.head holds the newest event number and hash' '
	printf "11 %s\n" "$(jget h.json 10.hash)" | cmp - "$BENTO_HOME/history.head"
'

test_expect_success 'table output' '
	bento history > t &&
	head -n 1 t | grep -qE "^SEQ +TIME +ACTION +OBJECT +DIGEST +ACTOR$" &&
	test "$(wc -l < t)" = 12 &&
	grep -qE "^4 +[0-9T:-]+Z +tag +bento demo:stable +sha256:[0-9a-f]{12} +tester$" t &&
	grep -qE "^11 +[0-9T:-]+Z +gc +- +- +$ME$" t
'

test_expect_success 'history REF: name:version, name, digest prefix' '
	bento history demo:1 -o json > r.json &&
	jget r.json "*.action" | tr "\n" " " > a && test "$(cat a)" = "build sign export import " &&
	bento history demo -o json > r.json &&
	jget r.json "*.action" | tr "\n" " " > a && test "$(cat a)" = "build sign tag export import delete " &&
	d=$(list_digest demo:1) &&
	bento history "$(echo "$d" | cut -c8-19)" -o json > r.json &&
	jget r.json "*.digest" | sort -u > ds && echo "$d" | cmp - ds &&
	test "$(jget r.json "#len")" = 6 &&
	bento history "$d" -o json > r2.json && cmp r.json r2.json
'

test_expect_success 'history of a deleted bento is still there' '
	bento history other -o json > r.json &&
	jget r.json "*.action" | tr "\n" " " > a && test "$(cat a)" = "build delete "
'

test_expect_success '--action' '
	bento history --action sign -o json > r.json &&
	test "$(jget r.json "#len")" = 1 && test "$(jget r.json 0.seq)" = 3 &&
	bento history --action model-import -o json > r.json &&
	jget r.json "*.kind" | sort -u | grep -qx model && test "$(jget r.json "#len")" = 2 &&
	bento history --action push -o json > r.json && test "$(jget r.json "#len")" = 0 &&
	bento history demo --action tag > t && test "$(wc -l < t)" = 2
'

test_expect_success '--since and --until' '
	bento history --since 2099-01-01 -o json > r.json && test "$(jget r.json "#len")" = 0 &&
	bento history --since 2099-01-01 > t && test "$(wc -l < t)" = 1 &&
	bento history --until 2000-01-01 -o json > r.json && test "$(jget r.json "#len")" = 0 &&
	bento history --since 1h -o json > r.json && test "$(jget r.json "#len")" = 11 &&
	bento history --since "$(cat t0)" --until "$(cat t1)" -o json > r.json &&
	test "$(jget r.json "#len")" = 11 &&
	bento history --since 2000-01-01T00:00:00Z --until 2099-01-01 --action build -o json > r.json &&
	test "$(jget r.json "#len")" = 2
'

test_expect_code 2 'a --since that is not a time' 'bento history --since yesterday-ish'
test_expect_code 2 'two REFs' 'bento history demo other'

test_expect_success 'a failed command records nothing' '
	bento sign nope:1 > /dev/null 2>&1; bento tag nope:1 nope:2 > /dev/null 2>&1
	bento export nope:1 x.bento > /dev/null 2>&1
	bento history -o json > r.json && test "$(jget r.json "#len")" = 11
'

test_expect_success 'history --verify: intact' '
	bento history --verify > out &&
	grep_q out "history intact: 11 events, hash chain and head verified"
'

test_expect_success 'the append-only triggers: an UPDATE or DELETE is refused by SQLite' '
	sqlite3 "$DB" ".schema history" > schema &&
	grep_q schema "CREATE TRIGGER history_no_update" &&
	grep_q schema "CREATE TRIGGER history_no_delete" &&
	cp "$DB" db.before &&
	! sqlite3 "$DB" "UPDATE history SET actor = '\''someone@else'\'' WHERE seq = 4" 2> err &&
	grep_q err "append-only" &&
	! sqlite3 "$DB" "DELETE FROM history WHERE seq = 11" 2> err &&
	grep_q err "append-only" &&
	bento history -o json > r.json && cmp h.json r.json &&
	bento history --verify > /dev/null
'

test_expect_success 'an edited actor is caught, naming the event' '
	copy_store e1 && drop_triggers e1 &&
	nodrop e1 "UPDATE history SET actor = '\''someone@else'\'' WHERE seq = 4" &&
	BENTO_HOME=$TMP/e1 bento history --verify > out 2> err
	code_is 3 $? &&
	grep_q err "event 4 (tag demo:stable)" && grep_q err "hash does not match its content"
'

test_expect_success 'the same edit with the triggers put back is still caught' '
	grep "^CREATE TRIGGER" -A3 schema > triggers.sql &&
	sqlite3 "$TMP/e1/store.db" < triggers.sql &&
	sqlite3 "$TMP/e1/store.db" ".schema history" | grep -c "CREATE TRIGGER" | grep -qx 2 &&
	BENTO_HOME=$TMP/e1 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "event 4 (tag demo:stable)"
'

test_expect_success 'an edited digest, time or details is caught' '
	copy_store e2 && drop_triggers e2 &&
	nodrop e2 "UPDATE history SET time = time + 1 WHERE seq = 6" &&
	BENTO_HOME=$TMP/e2 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "event 6 (import demo:1): hash does not match" &&
	copy_store e3 && drop_triggers e3 &&
	nodrop e3 "UPDATE history SET details = replace(details, '\''\"files\":9'\'', '\''\"files\":8'\'') WHERE seq = 2" &&
	test "$(sqlite3 "$TMP/e3/store.db" "SELECT json_extract(details, '\''$.files'\'') FROM history WHERE seq = 2")" = 8 &&
	BENTO_HOME=$TMP/e3 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "event 2 (build demo:1)"
'

test_expect_success 'a rewritten hash is caught by the next event (prev) or the head' '
	copy_store e4 && drop_triggers e4 &&
	nodrop e4 "UPDATE history SET actor = '\''x'\'', hash = '\''$(printf %064d 7)'\'' WHERE seq = 5" &&
	BENTO_HOME=$TMP/e4 bento history --verify > out 2> err
	code_is 3 $? && grep -q "event [56]" err
'

test_expect_success 'deleting the newest event is detected' '
	copy_store e5 && drop_triggers e5 &&
	nodrop e5 "DELETE FROM history WHERE seq = 11" &&
	BENTO_HOME=$TMP/e5 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "history.head names event 11 but the history ends at event 10"
'

test_expect_success 'an event appended after that keeps the gap visible' '
	BENTO_HOME=$TMP/e5 bento tag demo:1 demo:later > /dev/null 2>&1
	BENTO_HOME=$TMP/e5 bento history -o json > r.json &&
	test "$(jget r.json "$(($(jget r.json "#len") - 1)).seq")" = 12 &&
	BENTO_HOME=$TMP/e5 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "event 11 is missing"
'

test_expect_success 'deleting an event in the middle is detected' '
	copy_store e6 && drop_triggers e6 &&
	nodrop e6 "DELETE FROM history WHERE seq = 7" &&
	BENTO_HOME=$TMP/e6 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "event 7 is missing"
'

test_expect_success 'dropped triggers alone are reported' '
	copy_store e7 && drop_triggers e7 &&
	BENTO_HOME=$TMP/e7 bento history --verify > out 2> err
	code_is 3 $? && grep_q err "append-only triggers"
'

test_expect_success 'a missing history.head is reported' '
	copy_store e8 && rm "$TMP/e8/history.head" &&
	BENTO_HOME=$TMP/e8 bento history --verify > out 2> err
	rc=$?
	{ test $rc = 3 || test $rc = 1; } && grep_q err "history.head is missing"
'

test_expect_success 'the real store was not touched by any of this' '
	bento history -o json > r.json && cmp h.json r.json &&
	bento history --verify > /dev/null
'

test_done
