/* Unit tests: the audit history (lib/history.c) and the store's signature/attestation tables. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cjson.h"
#include "embedded.h"
#include "history.h"
#include "manifest.h"
#include "store.h"
#include "fixture.h"
#include "tap.h"

static char tmpl[] = "/tmp/bento-test-history.XXXXXX";
static char *base;
static int n_stores;

static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";

static char *read_file(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return bento_xstrdup(buf);
}

/* Run sql on root/store.db through a connection of its own (as an outside tool would). */
static int sql_exec(const char *root, const char *sql, char *msg, size_t msglen)
{
	char *path = path_in(root, "store.db");
	sqlite3 *db = NULL;
	int r = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		r = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (msg)
			snprintf(msg, msglen, "%s", r == SQLITE_OK ? "" : sqlite3_errmsg(db));
	}
	sqlite3_close(db);
	free(path);
	return r;
}

static struct bento_digest dig(const char *s)
{
	struct bento_digest d;

	bento_digest_bytes(s, strlen(s), &d);
	return d;
}

static struct bento_digest put_blob(struct bento_store *s, const char *content)
{
	struct bento_blob_writer *w = NULL;
	struct bento_digest d = { { 0 } };

	if (bento_blob_writer_new(s, &w, NULL) ||
	    bento_blob_write(w, content, strlen(content), NULL) ||
	    bento_blob_writer_commit(w, "fixture", NULL, &d, NULL, NULL))
		fprintf(stderr, "# put_blob failed\n");
	return d;
}

static char *new_root(void)
{
	return bento_xasprintf("%s/store%d", base, ++n_stores);
}

static struct bento_store *open_store(const char *root)
{
	struct bento_store *s = NULL;
	struct bento_error err = { 0 };

	if (bento_store_open(root, &s, &err)) {
		printf("# open %s: %s\n", root, err.msg);
		exit(1);
	}
	return s;
}

static int append(struct bento_store *s, const char *action, enum bento_kind kind,
		  const char *name, const char *version, const struct bento_digest *d,
		  json_t *details, struct bento_error *err)
{
	struct bento_event_in e = {
		.action = action, .kind = kind, .name = name, .version = version, .digest = d,
		.details = details,
	};
	return bento_history_append(s, &e, err);
}

/* A store with five events (the fixture of the tamper tests). */
static struct bento_store *five_events(char **root_out)
{
	char *root = new_root();
	struct bento_store *s = open_store(root);
	struct bento_digest d = dig("bento"), m = dig("model");
	json_t *det = json_pack("{s:i}", "files", 3);
	int rc = 0;

	rc |= append(s, "model-import", BENTO_KIND_MODEL, "iris-model", "1", &m, NULL, NULL);
	rc |= append(s, "build", BENTO_KIND_BENTO, "iris", "1.0", &d, det, NULL);
	rc |= append(s, "tag", BENTO_KIND_BENTO, "iris", "stable", &d, NULL, NULL);
	rc |= append(s, "export", BENTO_KIND_BENTO, "iris", "1.0", &d, NULL, NULL);
	rc |= append(s, "gc", 0, NULL, NULL, NULL, NULL, NULL);
	json_decref(det);
	if (rc)
		printf("# five_events: append failed\n");
	*root_out = root;
	return s;
}

static int verify(struct bento_store *s, int64_t *checked, int64_t *bad, struct bento_error *err)
{
	*checked = *bad = -1;
	memset(err, 0, sizeof(*err));
	return bento_history_verify(s, checked, bad, err);
}

static void test_schema(void)
{
	const struct bento_embedded *v1 = bento_embedded_find("schema/store-001.sql");
	char *root = new_root(), *path = path_in(root, "store.db");
	struct bento_store *s;
	sqlite3 *db = NULL;

	/* a store as the first release left it: schema 1 only */
	mkdir(root, 0755);
	ok(v1 != NULL, "store-001.sql is embedded");
	if (v1 && sqlite3_open(path, &db) == SQLITE_OK) {
		ok(sqlite3_exec(db, v1->data, NULL, NULL, NULL) == SQLITE_OK &&
		   sqlite3_exec(db, "PRAGMA user_version = 1; INSERT INTO objects (kind, digest, "
				"manifest, added) VALUES (2, 'sha256:"
				"0000000000000000000000000000000000000000000000000000000000000001', "
				"X'7B7D', 0)", NULL, NULL, NULL) == SQLITE_OK,
		   "a version-1 store made by hand");
	}
	sqlite3_close(db);
	is_int(sql_int(root, "PRAGMA user_version"), 1, "it is at schema version 1");
	s = open_store(root);
	is_int(sql_int(root, "PRAGMA user_version"), 3, "opening it migrates to the current version (3)");
	is_int(sql_int(root, "SELECT count(*) FROM sqlite_master WHERE name IN ('history', "
		       "'signatures', 'attestations', 'history_no_update', 'history_no_delete')"),
	       5, "migration 2 adds history, signatures, attestations and the two triggers");
	is_int(sql_int(root, "SELECT count(*) FROM objects"), 1, "and keeps the version-1 rows");
	bento_store_close(s);
	s = open_store(root);
	is_int(sql_int(root, "PRAGMA user_version"), 3, "opening again is idempotent");
	bento_store_close(s);
	free(path);
	free(root);
}

static void test_actor(void)
{
	static const char *vars[] = {
		"BENTO_ACTOR", "GITHUB_ACTIONS", "GITHUB_ACTOR", "GITLAB_CI", "GITLAB_USER_LOGIN",
		"JENKINS_URL", "BUILD_USER_ID", "BUILDKITE", "BUILDKITE_BUILD_CREATOR", "CIRCLECI",
		"CIRCLE_USERNAME", "CI",
	};
	char *a;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	a = bento_history_actor();
	ok(a && strchr(a, '@') && a[0] != '@' && a[strlen(a) - 1] != '@',
	   "no CI: user@host (%s)", a);
	free(a);
	setenv("CI", "true", 1);
	a = bento_history_actor();
	ok(a && strncmp(a, "ci:", 3) == 0 && a[3], "CI=true: ci:user (%s)", a);
	free(a);
	setenv("CIRCLECI", "true", 1);
	setenv("CIRCLE_USERNAME", "circ", 1);
	a = bento_history_actor();
	is_str(a, "circleci:circ", "CircleCI");
	free(a);
	setenv("BUILDKITE", "true", 1);
	setenv("BUILDKITE_BUILD_CREATOR", "Kite Flyer", 1);
	a = bento_history_actor();
	is_str(a, "buildkite:Kite Flyer", "Buildkite");
	free(a);
	/* Jenkins ranks below Buildkite and CircleCI (bento_ci_detect's order). */
	unsetenv("BUILDKITE");
	unsetenv("CIRCLECI");
	setenv("JENKINS_URL", "https://ci.example/", 1);
	a = bento_history_actor();
	is_str(a, "jenkins:unknown", "Jenkins without BUILD_USER_ID");
	free(a);
	setenv("BUILD_USER_ID", "jenkins-bob", 1);
	a = bento_history_actor();
	is_str(a, "jenkins:jenkins-bob", "Jenkins with BUILD_USER_ID");
	free(a);
	setenv("GITLAB_CI", "true", 1);
	setenv("GITLAB_USER_LOGIN", "gl", 1);
	a = bento_history_actor();
	is_str(a, "gitlab-ci:gl", "GitLab CI");
	free(a);
	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_ACTOR", "octocat", 1);
	a = bento_history_actor();
	is_str(a, "github-actions:octocat", "GitHub Actions wins over the others");
	free(a);
	setenv("BENTO_ACTOR", "release-bot", 1);
	a = bento_history_actor();
	is_str(a, "release-bot", "BENTO_ACTOR overrides everything");
	free(a);
	setenv("BENTO_ACTOR", "evil\n\033[31mred", 1);
	a = bento_history_actor();
	is_str(a, "evil??[31mred", "control characters in the actor are neutralised");
	free(a);
	setenv("BENTO_ACTOR", "bad\xff\xfeutf8", 1);
	a = bento_history_actor();
	is_str(a, "bad??utf8", "so is invalid UTF-8");
	free(a);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("BENTO_ACTOR", "tester", 1);
}

static int has_key(json_t *o, const char *k)
{
	return json_object_get(o, k) != NULL;
}

static void test_append_query(void)
{
	char *root = new_root(), *head, *hpath, want[256], expect_hash[65];
	struct bento_store *s = open_store(root);
	struct bento_error err = { 0 };
	struct bento_digest d = dig("bento"), m = dig("model");
	char dhex[BENTO_DIGEST_STRLEN];
	struct bento_event *v = NULL;
	struct bento_history_filter f = { 0 };
	size_t n = 0;
	int64_t now = (int64_t)time(NULL), checked, bad;
	json_t *det = json_pack("{s:i, s:s}", "files", 3, "commit", "abc");
	int rc;

	bento_digest_str(&d, dhex);
	/* an empty history verifies, and needs no head */
	is_int(verify(s, &checked, &bad, &err), 0, "an empty history verifies: %s", err.msg);
	is_int(checked, 0, "zero events checked");

	is_int(append(s, "model-import", BENTO_KIND_MODEL, "iris-model", "1", &m, NULL, &err), 0,
	       "append model-import: %s", err.msg);
	is_int(append(s, "build", BENTO_KIND_BENTO, "iris", "1.0", &d, det, &err), 0,
	       "append build with details: %s", err.msg);
	is_int(append(s, "tag", BENTO_KIND_BENTO, "iris", "stable", &d, NULL, &err), 0, "append tag");
	is_int(append(s, "gc", 0, NULL, NULL, NULL, NULL, &err), 0, "append gc (no object)");
	is_int(append(s, "export", BENTO_KIND_BENTO, "iris", "1.0", &d, NULL, &err), 0,
	       "append export");

	/* bad input appends nothing */
	rc = append(s, NULL, 0, NULL, NULL, NULL, NULL, &err);
	is_int(rc, -BENTO_E_USAGE, "no action: USAGE");
	rc = append(s, "Build", 0, NULL, NULL, NULL, NULL, &err);
	ok(rc == -BENTO_E_USAGE && strstr(err.msg, "bad action 'Build'"), "odd action: %s", err.msg);
	rc = append(s, "build", (enum bento_kind)7, "x", "1", NULL, NULL, &err);
	ok(rc == -BENTO_E_USAGE && strstr(err.msg, "kind 7"), "unknown kind: %s", err.msg);
	json_t *arr = json_array();
	rc = append(s, "build", BENTO_KIND_BENTO, "x", "1", NULL, arr, &err);
	is_int(rc, -BENTO_E_USAGE, "details not an object: USAGE");
	json_decref(arr);
	json_t *real = json_pack("{s:f}", "ratio", 0.5);
	rc = append(s, "build", BENTO_KIND_BENTO, "x", "1", NULL, real, &err);
	is_int(rc, -BENTO_E_INVALID, "details with a real number: INVALID (%s)", err.msg);
	json_decref(real);
	rc = append(s, "build", BENTO_KIND_BENTO, "bad\xff", "1", NULL, NULL, &err);
	is_int(rc, -BENTO_E_INVALID, "a name that is not UTF-8: INVALID (%s)", err.msg);
	is_int(sql_int(root, "SELECT count(*) FROM history"), 5, "failed appends added nothing");

	rc = bento_history_query(s, NULL, &v, &n, &err);
	is_int(rc, 0, "query everything: %s", err.msg);
	is_int(n, 5, "five events");
	int order = n == 5;
	for (size_t i = 0; i < n; i++)
		order &= v[i].seq == (int64_t)i + 1;
	ok(order, "oldest first, seq 1..5");
	if (n == 5) {
		is_str(v[0].prev, zeros, "event 1 chains from 64 zeros");
		int chained = 1;
		for (size_t i = 1; i < n; i++)
			chained &= strcmp(v[i].prev, v[i - 1].hash) == 0;
		ok(chained, "each prev is the previous event's hash");
		is_str(v[0].kind, "model", "kind text of a model");
		is_str(v[1].kind, "bento", "kind text of a bento");
		is_str(v[1].actor, "tester", "actor recorded (BENTO_ACTOR)");
		is_str(v[1].digest, dhex, "digest recorded as sha256:...");
		is_int(json_integer_value(json_object_get(v[1].details, "files")), 3, "details kept");
		is_int(json_object_size(v[0].details), 0, "no details: an empty object");
		is_str(v[3].kind, "", "gc: kind ''");
		is_str(v[3].name, "", "gc: name ''");
		is_str(v[3].digest, "", "gc: digest ''");
		ok(v[1].time >= now - 5 && v[1].time <= now + 5, "time is now");

		/* the documented layout, spelled out by hand: sha256(prev || canonical JSON) */
		struct bento_buf b = BENTO_BUF_INIT;
		struct bento_digest h;
		bento_buf_adds(&b, v[2].hash);
		bento_buf_addf(&b, "{\"action\":\"gc\",\"actor\":\"tester\",\"details\":{},\"digest\":\"\","
			       "\"kind\":\"\",\"name\":\"\",\"seq\":4,\"time\":%lld,\"version\":\"\"}",
			       (long long)v[3].time);
		bento_digest_bytes(b.buf, b.len, &h);
		bento_digest_hex(&h, expect_hash);
		is_str(v[3].hash, expect_hash, "hash = sha256(prev hex || canonical JSON of the fields)");
		bento_buf_reset(&b);
		bento_buf_adds(&b, v[0].hash);
		bento_buf_addf(&b, "{\"action\":\"build\",\"actor\":\"tester\",\"details\":"
			       "{\"commit\":\"abc\",\"files\":3},\"digest\":\"%s\",\"kind\":\"bento\","
			       "\"name\":\"iris\",\"seq\":2,\"time\":%lld,\"version\":\"1.0\"}",
			       dhex, (long long)v[1].time);
		bento_digest_bytes(b.buf, b.len, &h);
		bento_digest_hex(&h, expect_hash);
		is_str(v[1].hash, expect_hash, "the same with details and a digest");
		bento_buf_release(&b);

		/* JSON shape */
		json_t *j = bento_event_json(&v[1]);
		const char *keys[] = { "seq", "time", "actor", "action", "kind", "name", "version",
				       "digest", "details", "prev", "hash" };
		int all = json_object_size(j) == 11;
		for (size_t i = 0; i < 11; i++)
			all &= has_key(j, keys[i]);
		ok(all, "event JSON has exactly seq time actor action kind name version digest "
		   "details prev hash");
		is_int(json_integer_value(json_object_get(j, "seq")), 2, "seq is an integer");
		int64_t t = 0;
		ok(json_is_string(json_object_get(j, "time")) &&
		   bento_time_parse(json_string_value(json_object_get(j, "time")), &t) == 0 &&
		   t == v[1].time, "time is RFC 3339 (%s)", json_string_value(json_object_get(j, "time")));
		ok(json_is_object(json_object_get(j, "details")), "details is an object");
		is_str(json_string_value(json_object_get(j, "hash")), v[1].hash, "hash in JSON");
		json_decref(j);

		/* head = newest event */
		hpath = path_in(root, "history.head");
		head = read_file(hpath);
		snprintf(want, sizeof(want), "5 %s\n", v[4].hash);
		is_str(head, want, "history.head holds \"5 HASH\\n\"");
		free(head);
		free(hpath);
	}
	bento_events_free(v, n);

	/* filters */
	struct {
		struct bento_history_filter f;
		size_t want;
		const char *what;
	} cases[] = {
		{ { .name = "iris" }, 3, "by name" },
		{ { .name = "iris", .version = "1.0" }, 2, "by name and version" },
		{ { .action = "gc" }, 1, "by action" },
		{ { .action = "export", .name = "iris" }, 1, "by action and name" },
		{ { .digest = dhex }, 3, "by digest" },
		{ { .kind = BENTO_KIND_MODEL }, 1, "by kind" },
		{ { .name = "nope" }, 0, "an unknown name matches nothing" },
		{ { .since = now + 1000 }, 0, "since the future: nothing" },
		{ { .until = now - 1000 }, 0, "until the past: nothing" },
		{ { .since = now - 1000, .until = now + 1000 }, 5, "a window around now: everything" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = NULL;
		n = 99;
		rc = bento_history_query(s, &cases[i].f, &v, &n, &err);
		ok(rc == 0 && n == cases[i].want, "query %s: %zu events", cases[i].what, n);
		bento_events_free(v, n);
	}
	f.kind = (enum bento_kind)9;
	v = NULL;
	n = 0;
	is_int(bento_history_query(s, &f, &v, &n, &err), -BENTO_E_USAGE, "query of an unknown kind");

	is_int(verify(s, &checked, &bad, &err), 0, "verify an intact history: %s", err.msg);
	is_int(checked, 5, "five events checked");
	bento_events_free(NULL, 0);
	json_decref(det);
	bento_store_close(s);
	free(root);
}

static void test_triggers(void)
{
	char *root, msg[512];
	struct bento_store *s = five_events(&root);

	ok(sql_exec(root, "UPDATE history SET name = 'x' WHERE seq = 2", msg, sizeof(msg)) != SQLITE_OK &&
	   strstr(msg, "history is append-only"), "UPDATE of a history row is refused (%s)", msg);
	ok(sql_exec(root, "DELETE FROM history WHERE seq = 5", msg, sizeof(msg)) != SQLITE_OK &&
	   strstr(msg, "history is append-only"), "DELETE of a history row is refused (%s)", msg);
	is_int(sql_int(root, "SELECT count(*) FROM history WHERE name = 'x'"), 0, "nothing changed");
	is_int(sql_int(root, "SELECT count(*) FROM history"), 5, "nothing removed");
	bento_store_close(s);
	free(root);
}

#define DROP_TRIGGERS "DROP TRIGGER history_no_update; DROP TRIGGER history_no_delete; "

/* Recompute the hash of row seq from its columns, as an attacker covering tracks would. */
static void rehash_row(const char *root, int seq)
{
	char *path = path_in(root, "store.db");
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT prev, action, actor, details, digest, kind, name, seq, "
			       "time, version FROM history WHERE seq = ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int(st, 1, seq);
		if (sqlite3_step(st) == SQLITE_ROW) {
			struct bento_buf b = BENTO_BUF_INIT;
			struct bento_digest d;
			char hex[65], sql[256];
			json_t *det = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
			json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:s}",
					      "action", sqlite3_column_text(st, 1),
					      "actor", sqlite3_column_text(st, 2), "details", det,
					      "digest", sqlite3_column_text(st, 4),
					      "kind", sqlite3_column_text(st, 5),
					      "name", sqlite3_column_text(st, 6),
					      "seq", (json_int_t)sqlite3_column_int64(st, 7),
					      "time", (json_int_t)sqlite3_column_int64(st, 8),
					      "version", sqlite3_column_text(st, 9));
			bento_buf_adds(&b, (const char *)sqlite3_column_text(st, 0));
			bento_json_canonical(o, &b, NULL);
			bento_digest_bytes(b.buf, b.len, &d);
			bento_digest_hex(&d, hex);
			snprintf(sql, sizeof(sql), "UPDATE history SET hash = '%s' WHERE seq = %d", hex, seq);
			sqlite3_finalize(st);
			st = NULL;
			sqlite3_exec(db, sql, NULL, NULL, NULL);
			json_decref(o);
			bento_buf_release(&b);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
}

static void test_tamper(void)
{
	struct bento_store *s;
	struct bento_error err = { 0 };
	int64_t checked, bad;
	char *root, *hpath, *head, line[256];
	int rc;

	/* edit a row's name */
	s = five_events(&root);
	ok(sql_exec(root, DROP_TRIGGERS "UPDATE history SET name = 'iris-evil' WHERE seq = 3",
		    NULL, 0) == SQLITE_OK, "tamper: drop the triggers and rename event 3");
	rc = verify(s, &checked, &bad, &err);
	is_int(rc, -BENTO_E_CORRUPT, "an edited event: CORRUPT");
	is_int(bad, 3, "bad_seq names event 3");
	is_str(err.msg, "history: event 3 (tag iris-evil:stable): hash does not match its content (edited?)",
	       "the message names the event");
	struct bento_fsck_problem *p = NULL;
	size_t np = 0;
	rc = bento_store_fsck(s, &p, &np, NULL, &err);
	int found = 0;
	for (size_t i = 0; i < np; i++)
		found |= strstr(p[i].what, "event 3 (tag iris-evil:stable): hash does not match") != NULL;
	ok(rc == 0 && found, "fsck reports the broken chain as a problem");
	bento_fsck_free(p, np);

	/* ... and recompute its hash: the next event's prev gives it away */
	rehash_row(root, 3);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 4, "a rehashed edit is caught at the next event (bad %lld)",
	   (long long)bad);
	is_str(err.msg, "history: event 4: prev does not match event 3's hash (an event was removed "
	       "or reordered)", "the message says so");
	bento_store_close(s);
	free(root);

	/* triggers dropped, nothing else */
	s = five_events(&root);
	sql_exec(root, DROP_TRIGGERS, NULL, 0);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && strstr(err.msg, "triggers") && bad == 0,
	   "dropped triggers alone are reported: %s", err.msg);
	bento_store_close(s);
	free(root);

	/* details reformatted: same meaning, different bytes */
	s = five_events(&root);
	sql_exec(root, DROP_TRIGGERS "UPDATE history SET details = '{ \"files\": 3 }' WHERE seq = 2; "
		 "CREATE TRIGGER history_no_update BEFORE UPDATE ON history BEGIN SELECT RAISE(ABORT, 'x'); END; "
		 "CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'x'); END;",
		 NULL, 0);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 2 && strstr(err.msg, "canonical"),
	   "details rewritten (whitespace) are caught: %s", err.msg);
	bento_store_close(s);
	free(root);

	/* delete a middle row */
	s = five_events(&root);
	sql_exec(root, DROP_TRIGGERS "DELETE FROM history WHERE seq = 3", NULL, 0);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 3, "a removed middle event: CORRUPT, bad_seq 3");
	ok(strstr(err.msg, "history: event 3 is missing") != NULL, "%s", err.msg);
	bento_store_close(s);
	free(root);

	/* delete the last row: the chain is fine, the head is not */
	s = five_events(&root);
	sql_exec(root, DROP_TRIGGERS "DELETE FROM history WHERE seq = 5", NULL, 0);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 5, "a removed last event: CORRUPT, bad_seq 5");
	is_str(err.msg, "history: history.head names event 5 but the history ends at event 4 "
	       "(events after 4 were removed)", "found through history.head");
	/* the next ordinary append must not paper over it */
	is_int(append(s, "tag", BENTO_KIND_BENTO, "iris", "2", NULL, NULL, &err), 0,
	       "an append after the removal works: %s", err.msg);
	is_int(sql_int(root, "SELECT max(seq) FROM history"), 6, "and is numbered after the head (6)");
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 5 && strstr(err.msg, "event 5 is missing"),
	   "so the removal stays visible: %s", err.msg);
	bento_store_close(s);
	free(root);

	/* head file removed, malformed, rewritten, behind */
	s = five_events(&root);
	hpath = path_in(root, "history.head");
	head = read_file(hpath);
	unlink(hpath);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && strstr(err.msg, "history.head is missing") && bad == 5,
	   "a missing head: %s", err.msg);
	write_file(hpath, "five\n", 5);
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && strstr(err.msg, "history.head is malformed"),
	   "a malformed head: %s", err.msg);
	snprintf(line, sizeof(line), "5 %s\n", zeros);
	write_file(hpath, line, strlen(line));
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 5 &&
	   strstr(err.msg, "history.head does not match event 5 (gc)"),
	   "a head with another hash: %s", err.msg);
	/* a head one event behind: what a crash between commit and head write leaves */
	struct bento_event *v = NULL;
	size_t n = 0;
	bento_history_query(s, NULL, &v, &n, &err);
	if (n == 5) {
		snprintf(line, sizeof(line), "4 %s\n", v[3].hash);
		write_file(hpath, line, strlen(line));
	}
	rc = verify(s, &checked, &bad, &err);
	ok(rc == 0 && checked == 5, "a head that lags behind is accepted: %s", err.msg);
	if (n == 5) {
		snprintf(line, sizeof(line), "4 %s\n", v[4].hash);
		write_file(hpath, line, strlen(line));
	}
	rc = verify(s, &checked, &bad, &err);
	ok(rc == -BENTO_E_CORRUPT && bad == 4, "but it must match the event it names: %s", err.msg);
	bento_events_free(v, n);
	append(s, "gc", 0, NULL, NULL, NULL, NULL, &err);
	free(head);
	head = read_file(hpath);
	ok(head && strncmp(head, "6 ", 2) == 0, "the next append brings the head up to date");
	is_int(verify(s, &checked, &bad, &err), 0, "and verify is happy again: %s", err.msg);
	free(head);
	free(hpath);
	bento_store_close(s);
	free(root);
}

static struct bento_object_put obj(enum bento_kind kind, const char *name, const char *version,
				   const char *manifest, const struct bento_digest *blob)
{
	struct bento_object_put p = {
		.kind = kind, .name = name, .version = version,
		.manifest = manifest, .manifest_len = strlen(manifest), .size = 42,
		.blobs = blob, .n_blobs = 1,
	};
	return p;
}

static void test_put_event(void)
{
	char *root = new_root();
	struct bento_store *s = open_store(root);
	struct bento_error err = { 0 };
	struct bento_digest b = put_blob(s, "weights"), md, out;
	struct bento_event *v = NULL;
	size_t n = 0;
	int64_t checked, bad;
	int rc;

	struct bento_object_put p = obj(BENTO_KIND_MODEL, "m", "1", "{\"m\":1}", &b);
	bento_digest_bytes(p.manifest, p.manifest_len, &md);
	struct bento_event_in ev = {
		.action = "model-import", .kind = BENTO_KIND_MODEL, .name = "m", .version = "1",
		.digest = &md,
	};
	p.event = &ev;
	rc = bento_store_put(s, &p, &out, &err);
	is_int(rc, 0, "put with an event: %s", err.msg);
	rc = bento_history_query(s, NULL, &v, &n, &err);
	ok(rc == 0 && n == 1 && strcmp(v[0].action, "model-import") == 0 &&
	   strcmp(v[0].name, "m") == 0, "the event is in the history");
	bento_events_free(v, n);
	char *hp = path_in(root, "history.head"), *head = read_file(hp);
	ok(head && strncmp(head, "1 ", 2) == 0, "and the head names it");
	free(head);

	/* a put that fails (tag conflict) appends nothing */
	struct bento_object_put q = obj(BENTO_KIND_MODEL, "m", "1", "{\"m\":2}", &b);
	q.event = &ev;
	rc = bento_store_put(s, &q, NULL, &err);
	is_int(rc, -BENTO_E_EXISTS, "a tag conflict fails");
	is_int(sql_int(root, "SELECT count(*) FROM history"), 1, "and appends no event");

	/* an event that cannot be appended undoes the put */
	struct bento_event_in bad_ev = { .action = "Nope" };
	struct bento_object_put r = obj(BENTO_KIND_MODEL, "m", "2", "{\"m\":3}", &b);
	r.event = &bad_ev;
	rc = bento_store_put(s, &r, NULL, &err);
	is_int(rc, -BENTO_E_USAGE, "a put whose event is bad fails");
	is_int(sql_int(root, "SELECT count(*) FROM tags WHERE name = 'm' AND version = '2'"), 0,
	       "and stores no object: one transaction");
	/* a put without an event appends none */
	struct bento_object_put u = obj(BENTO_KIND_MODEL, "m", "3", "{\"m\":4}", &b);
	is_int(bento_store_put(s, &u, NULL, &err), 0, "put without an event");
	is_int(sql_int(root, "SELECT count(*) FROM history"), 1, "appends nothing");
	is_int(verify(s, &checked, &bad, &err), 0, "history intact: %s", err.msg);
	free(hp);
	bento_store_close(s);
	free(root);
}

#define PER_WRITER 50

static void *append_thread(void *arg)
{
	struct bento_store *s = arg;
	long bad = 0;

	for (int i = 0; i < PER_WRITER / 2; i++)
		if (append(s, "tag", BENTO_KIND_BENTO, "t", "1", NULL, NULL, NULL))
			bad++;
	return (void *)bad;
}

static void test_concurrent(void)
{
	char *root = new_root(), *hp = path_in(root, "history.head"), *head;
	struct bento_store *s = NULL;	/* opened after the fork: no connection crosses it */
	struct bento_error err = { 0 };
	int64_t checked = 0, bad = 0;
	pid_t pids[2];
	int gate[2], good = 1;

	if (pipe(gate) < 0)
		exit(1);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct bento_store *cs = NULL;
			struct bento_error e = { 0 };
			int rc;
			char c;
			close(gate[1]);
			if (read(gate[0], &c, 1) < 0)
				_exit(3);
			rc = bento_store_open(root, &cs, &e);
			for (int k = 0; rc == 0 && k < PER_WRITER; k++) {
				json_t *det = json_pack("{s:i, s:i}", "writer", i, "n", k);
				rc = append(cs, i ? "export" : "tag", BENTO_KIND_BENTO, "c", "1", NULL,
					    det, &e);
				json_decref(det);
			}
			if (rc)
				fprintf(stderr, "# writer %d: %s\n", i, e.msg);
			bento_store_close(cs);
			free(root);
			free(hp);
			_exit(rc ? 1 : 0);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (int i = 0; i < 2; i++) {
		int status = 0;
		waitpid(pids[i], &status, 0);
		good &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	ok(good, "two processes append %d events each at once", PER_WRITER);
	s = open_store(root);
	is_int(sql_int(root, "SELECT count(*) FROM history"), 2 * PER_WRITER, "100 events");
	is_int(verify(s, &checked, &bad, &err), 0, "the chain is intact: %s", err.msg);
	is_int(checked, 2 * PER_WRITER, "all checked");
	head = read_file(hp);
	ok(head && strncmp(head, "100 ", 4) == 0, "history.head names event 100");
	free(head);

	/* threads: two on one handle, one on a handle of its own */
	struct bento_store *s2 = open_store(root);
	pthread_t t[3];
	void *r;
	long fails = 0;
	pthread_create(&t[0], NULL, append_thread, s);
	pthread_create(&t[1], NULL, append_thread, s);
	pthread_create(&t[2], NULL, append_thread, s2);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &r);
		fails += (long)r;
	}
	is_int(fails, 0, "three threads append at once");
	is_int(verify(s, &checked, &bad, &err), 0, "chain intact: %s", err.msg);
	is_int(checked, 2 * PER_WRITER + 3 * (PER_WRITER / 2), "175 events");
	head = read_file(hp);
	ok(head && strncmp(head, "175 ", 4) == 0, "history.head names event 175");
	free(head);
	bento_store_close(s2);
	bento_store_close(s);
	free(hp);
	free(root);
}

static void test_attachments(void)
{
	char *root = new_root();
	struct bento_store *s = open_store(root);
	struct bento_error err = { 0 };
	struct bento_digest blob = put_blob(s, "code"), md, bd, nowhere = dig("nothing");
	struct bento_attachment *a = NULL;
	size_t n = 0;
	char hex[BENTO_DIGEST_STRLEN], want[256];
	const char sig1[] = "untrusted comment: x\nRWQ...\ntrusted comment: é\nabc\n";
	int rc;

	struct bento_object_put pm = obj(BENTO_KIND_MODEL, "m", "1", "{\"model\":1}", &blob);
	struct bento_object_put pb = obj(BENTO_KIND_BENTO, "b", "1", "{\"bento\":1}", &blob);
	bento_digest_bytes(pm.manifest, pm.manifest_len, &md);
	pb.deps = &md;
	pb.n_deps = 1;
	if (bento_store_put(s, &pm, &md, &err) || bento_store_put(s, &pb, &bd, &err))
		printf("# put: %s\n", err.msg);

	is_int(bento_store_signatures(s, &bd, &a, &n, &err), 0, "no signatures yet");
	is_int(n, 0, "an empty list");
	bento_attachments_free(a, n);

	rc = bento_store_signature_add(s, &bd, "0123456789ABCDEF", sig1, strlen(sig1), &err);
	is_int(rc, 0, "add a signature: %s", err.msg);
	rc = bento_store_signature_add(s, &bd, "FEDCBA9876543210", "sig two", 7, &err);
	is_int(rc, 0, "add another key's signature");
	a = NULL;
	rc = bento_store_signatures(s, &bd, &a, &n, &err);
	ok(rc == 0 && n == 2, "two signatures");
	if (rc == 0 && n == 2) {
		is_str(a[0].name, "0123456789ABCDEF", "sorted by key id");
		ok(a[0].len == strlen(sig1) && memcmp(a[0].data, sig1, a[0].len) == 0 &&
		   a[0].data[a[0].len] == '\0', "data comes back byte for byte");
		is_str(a[1].data, "sig two", "the other one");
	}
	bento_attachments_free(a, n);
	rc = bento_store_signature_add(s, &bd, "0123456789ABCDEF", "replaced", 8, &err);
	a = NULL;
	rc |= bento_store_signatures(s, &bd, &a, &n, &err);
	ok(rc == 0 && n == 2 && strcmp(a[0].data, "replaced") == 0,
	   "a signature by the same key replaces the old one");
	bento_attachments_free(a, n);

	rc = bento_store_attestation_add(s, &bd, "provenance.dsse.json", "{\"a\":1}", 7, &err);
	is_int(rc, 0, "add an attestation: %s", err.msg);
	rc = bento_store_attestation_add(s, &bd, "provenance.dsse.json", "{\"a\":2}", 7, &err);
	a = NULL;
	rc |= bento_store_attestations(s, &bd, &a, &n, &err);
	ok(rc == 0 && n == 1 && strcmp(a[0].name, "provenance.dsse.json") == 0 &&
	   strcmp(a[0].data, "{\"a\":2}") == 0, "the same name replaces");
	bento_attachments_free(a, n);

	/* bad input */
	bento_digest_str(&nowhere, hex);
	rc = bento_store_signature_add(s, &nowhere, "0123456789ABCDEF", "x", 1, &err);
	snprintf(want, sizeof(want), "bento %s is not in the store", hex);
	ok(rc == -BENTO_E_NOTFOUND && strcmp(err.msg, want) == 0, "unknown bento: %s", err.msg);
	a = NULL;
	rc = bento_store_attestations(s, &nowhere, &a, &n, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "listing an unknown bento: NOTFOUND");
	rc = bento_store_signature_add(s, &md, "0123456789ABCDEF", "x", 1, &err);
	ok(rc == -BENTO_E_INVALID && strstr(err.msg, "is a model"), "a model cannot be signed: %s",
	   err.msg);
	rc = bento_store_signatures(s, &md, &a, &n, &err);
	is_int(rc, -BENTO_E_INVALID, "nor listed");
	/* names: refused content (exit 3), by the one rule of manifest.h */
	rc = bento_store_signature_add(s, &bd, "0123456789abcdef", "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "lowercase key id refused");
	rc = bento_store_signature_add(s, &bd, "0123456789ABCDE", "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "short key id refused");
	rc = bento_store_signature_add(s, &bd, NULL, "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "no key id refused");
	rc = bento_store_attestation_add(s, &bd, "../evil.dsse.json", "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "attestation name with a path refused");
	rc = bento_store_attestation_add(s, &bd, "prov.json", "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "attestation name without .dsse.json refused");
	rc = bento_store_attestation_add(s, &bd, ".dsse.json", "x", 1, &err);
	is_int(rc, -BENTO_E_UNSAFE, "attestation name that is only the suffix refused");
	/* content: damaged (exit 3) */
	rc = bento_store_signature_add(s, &bd, "0123456789ABCDEF", "a\0b", 3, &err);
	ok(rc == -BENTO_E_VERIFY && strstr(err.msg, "NUL"), "data with a NUL refused: %s", err.msg);
	rc = bento_store_signature_add(s, &bd, "0123456789ABCDEF", "", 0, &err);
	is_int(rc, -BENTO_E_VERIFY, "empty data refused");
	size_t big = (1u << 20) + 1;
	char *huge = bento_xmalloc(big);
	memset(huge, 'x', big);
	rc = bento_store_attestation_add(s, &bd, "big.dsse.json", huge, big, &err);
	is_int(rc, -BENTO_E_VERIFY, "more than 1 MiB refused");
	rc = bento_store_attestation_add(s, &bd, "big.dsse.json", huge, big - 1, &err);
	is_int(rc, 0, "exactly 1 MiB is fine");
	free(huge);
	a = NULL;
	bento_store_signatures(s, &bd, &a, &n, &err);
	ok(n == 2 && strcmp(a[0].data, "replaced") == 0, "refused adds changed nothing");
	bento_attachments_free(a, n);
	bento_attachments_free(NULL, 0);

	/* they go with the bento's object row */
	is_int(bento_store_tag(s, BENTO_KIND_BENTO, &bd, "b", "2", 0, &err), 0, "second tag");
	is_int(bento_store_untag(s, BENTO_KIND_BENTO, "b", "1", 0, &err), 0, "untag one");
	is_int(sql_int(root, "SELECT count(*) FROM signatures"), 2, "signatures stay while a tag does");
	struct bento_fsck_problem *p = NULL;
	size_t np = 0;
	rc = bento_store_fsck(s, &p, &np, NULL, &err);
	ok(rc == 0 && np == 0, "fsck: a store with signatures and attestations is clean (%zu)", np);
	for (size_t i = 0; i < np; i++)
		printf("#   %s\n", p[i].what);
	bento_fsck_free(p, np);
	is_int(bento_store_untag(s, BENTO_KIND_BENTO, "b", "2", 0, &err), 0, "untag the last tag");
	is_int(sql_int(root, "SELECT count(*) FROM signatures"), 0, "its signatures are gone");
	is_int(sql_int(root, "SELECT count(*) FROM attestations"), 0, "and its attestations");
	rc = bento_store_signatures(s, &bd, &a, &n, &err);
	is_int(rc, -BENTO_E_NOTFOUND, "the bento is no longer there");

	/* fsck: a signature on a model (only a hand edit can do that) */
	sql_exec(root, "INSERT INTO signatures (object_id, keyid, data, added) SELECT id, "
		 "'0123456789ABCDEF', 'x', 0 FROM objects WHERE kind = 1", NULL, 0);
	rc = bento_store_fsck(s, &p, &np, NULL, &err);
	int found = 0;
	for (size_t i = 0; i < np; i++)
		found |= strstr(p[i].what, "has signature 0123456789ABCDEF but is not a bento") != NULL;
	ok(rc == 0 && found, "fsck reports a signature on a model");
	bento_fsck_free(p, np);
	bento_store_close(s);
	free(root);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	base = mkdtemp(tmpl);
	if (!base)
		return 1;
	unsetenv("BENTO_HOME");
	test_actor();
	test_schema();
	test_append_query();
	test_triggers();
	test_tamper();
	test_put_event();
	test_concurrent();
	test_attachments();
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
