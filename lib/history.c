/*
 * history.c - the store's audit log (see history.h).
 *
 * The chain.  Events are numbered seq = 1, 2, 3, ... without gaps.  Event
 * N stores
 *
 *   hash_N = lowercase hex of SHA-256(prev_N || C_N)
 *
 * prev_N  hash_{N-1} as 64 lowercase hex ASCII bytes; 64 '0' bytes for
 *         event 1.  Nothing separates it from C_N.
 * C_N     the canonical JSON (cjson.h: UTF-8, keys sorted bytewise, no
 *         whitespace, integers only, no trailing newline) of the object
 *           {"action":A,"actor":U,"details":D,"digest":G,"kind":K,
 *            "name":N,"seq":S,"time":T,"version":V}
 *         S and T are integers (T in unix seconds); D is the details object
 *         ({} when there are none); K is "model", "bento" or ""; N, V and G
 *         ("sha256:<64 hex>") are "" when the event has none.
 *
 * The table keeps details as exactly the canonical bytes of D, so
 *   sqlite3 store.db "SELECT prev, action, actor, details, digest, kind,
 *   name, seq, time, version FROM history"
 * is all an outside tool needs to recompute the chain.
 *
 * The head.  ROOT/history.head holds "SEQ HASH\n" (decimal seq, one space,
 * 64 hex, newline) of the newest event, so that removing events from the
 * end, which leaves a perfectly good chain behind, is seen too.  It is
 * written after the commit that appended the event: written before, a
 * failed commit would leave a head that names an event that never was,
 * indistinguishable from one that was removed.  So the head may lag behind
 * the table (a crash between commit and head write), and verify accepts
 * that; it may never be ahead.
 *
 * Concurrency.  Appends are serialised by SQLite (BEGIN IMMEDIATE), but the
 * head write comes after COMMIT, when that lock is gone: two processes that
 * committed events 7 and 8 could write their heads in either order and leave
 * "7" behind.  So the head is written under an flock of ROOT/history.lock
 * (exclusive), and what is written is not "my event" but the newest event
 * re-read from the table while holding that lock.  Every head write thus
 * reflects a snapshot taken after every earlier head write, and the table
 * only grows, so the head never goes backwards.  verify holds the same lock
 * shared while it reads the table and the head, so it never sees a head
 * that a concurrent writer has moved past its snapshot.  The lock file is
 * opened afresh each time because flock does not exclude two threads that
 * share one open file description.
 *
 * An append also reads the head: when it names an event beyond the table's
 * last (events were removed from the end), the new event is numbered after
 * the head, so the gap stays visible to verify instead of being papered over
 * by the next ordinary append.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cjson.h"
#include "fs.h"
#include "history_internal.h"
#include "provenance.h"
#include "manifest.h"
#include "store_internal.h"

#define HEAD_FILE "history.head"
#define LOCK_FILE "history.lock"
#define ACTOR_MAX 256
#define ACTION_MAX 32
#define DETAILS_MAX (1u << 20)
#define HEAD_MAX 128

typedef char hexhash[BENTO_DIGEST_HEXLEN + 1];

static const char zero_hash[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* ---- actor ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Environment text ends up hashed and printed: keep it printable UTF-8. */
static char *actor_clean(char *v)
{
	size_t n = strlen(v);
	int utf8;

	if (n > ACTOR_MAX)
		v[n = ACTOR_MAX] = '\0';
	utf8 = bento_utf8_valid(v, n);
	for (char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80))
			*p = '?';
	}
	return v;
}

static char *user_name(void)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *u;

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name &&
	    *res->pw_name)
		return bento_xstrdup(res->pw_name);
	if ((u = env("USER")))
		return bento_xstrdup(u);
	return bento_xasprintf("uid%u", (unsigned)geteuid());
}

char *bento_history_actor(void)
{
	const char *v = env("BENTO_ACTOR");
	struct bento_ci ci;
	char host[256], *user, *out;

	if (v)
		return actor_clean(bento_xstrdup(v));
	/* One notion of "in CI" for the history and the provenance (provenance.c). */
	if (bento_ci_detect(&ci)) {
		if (strcmp(ci.system, "ci") == 0) {
			user = user_name();
			out = bento_xasprintf("ci:%s", user);
			free(user);
		} else {
			out = bento_xasprintf("%s:%s", ci.system, ci.actor ? ci.actor : "unknown");
		}
		bento_ci_release(&ci);
		return actor_clean(out);
	}
	user = user_name();
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	out = bento_xasprintf("%s@%s", user, host);
	free(user);
	return actor_clean(out);
}

/* ---- the chain ---- */

static const char *kind_text(enum bento_kind k)
{
	switch (k) {
	case BENTO_KIND_MODEL:
		return "model";
	case BENTO_KIND_BENTO:
		return "bento";
	default:
		return "";
	}
}

/* The hashed fields of one event (see the top of this file). */
struct fields {
	int64_t seq, time;
	const char *actor, *action, *kind, *name, *version, *digest;
	json_t *details;	/* an object */
	const char *prev;	/* 64 hex */
};

static int event_hash(const struct fields *f, hexhash out, struct bento_error *err)
{
	struct bento_buf b = BENTO_BUF_INIT;
	struct bento_digest d;
	json_t *o;
	int rc;

	o = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:I, s:I, s:s}",
		      "action", f->action, "actor", f->actor, "details", f->details,
		      "digest", f->digest, "kind", f->kind, "name", f->name,
		      "seq", (json_int_t)f->seq, "time", (json_int_t)f->time,
		      "version", f->version);
	if (!o)
		return bento_error_set(err, BENTO_E_INVALID,
				       "history event %lld (%s): a field is not valid UTF-8",
				       (long long)f->seq, f->action);
	bento_buf_add(&b, f->prev, strnlen(f->prev, BENTO_DIGEST_HEXLEN));
	rc = bento_json_canonical(o, &b, err);
	if (rc == 0) {
		bento_digest_bytes(b.buf, b.len, &d);
		bento_digest_hex(&d, out);
	}
	json_decref(o);
	bento_buf_release(&b);
	return rc;
}

static void copy_hash(hexhash out, const char *v)
{
	snprintf(out, sizeof(hexhash), "%s", v);
}

/* seq and hash of the newest event in the table; 0 and 64 zeros when it is empty. */
static int last_event(struct bento_store *s, int64_t *seq, hexhash hash, struct bento_error *err)
{
	sqlite3 *db = bento_store_db(s);
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM history ORDER BY seq DESC LIMIT 1", -1,
			       &st, NULL) != SQLITE_OK)
		return bento_store_db_fail(s, "read history", err);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*seq = sqlite3_column_int64(st, 0);
		copy_hash(hash, sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
		break;
	case SQLITE_DONE:
		*seq = 0;
		copy_hash(hash, zero_hash);
		break;
	default:
		rc = bento_store_db_fail(s, "read history", err);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- history.head ---- */

static int is_hex64(const char *p)
{
	for (int i = 0; i < BENTO_DIGEST_HEXLEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * 1 with *seq and hash filled when ROOT/history.head holds "SEQ HASH\n";
 * 0 when there is no such file; -BENTO_E_CORRUPT when it holds anything
 * else; -errno when it cannot be read.
 */
static int head_read(struct bento_store *s, int64_t *seq, hexhash hash)
{
	char *path = bento_xasprintf("%s/" HEAD_FILE, bento_store_root(s));
	char buf[HEAD_MAX + 1], *p, *end;
	size_t len = 0;
	ssize_t k;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while (len < HEAD_MAX && (k = read(fd, buf + len, HEAD_MAX - len)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			close(fd);
			return rc;
		}
		len += (size_t)k;
	}
	close(fd);
	buf[len] = '\0';
	/* decimal without sign or leading zero, one space, 64 hex, one newline, nothing else */
	if (buf[0] < '1' || buf[0] > '9')
		return -BENTO_E_CORRUPT;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || *end != ' ')
		return -BENTO_E_CORRUPT;
	p = end + 1;
	if (strlen(p) != BENTO_DIGEST_HEXLEN + 1 || !is_hex64(p) || p[BENTO_DIGEST_HEXLEN] != '\n')
		return -BENTO_E_CORRUPT;
	*seq = v;
	memcpy(hash, p, BENTO_DIGEST_HEXLEN);
	hash[BENTO_DIGEST_HEXLEN] = '\0';
	return 1;
}

/* Atomically replace ROOT/history.head (its temporary file in tmp/); -errno. */
static int head_write(struct bento_store *s, int64_t seq, const char *hash)
{
	const char *root = bento_store_root(s);
	char *tmpdir = bento_xasprintf("%s/tmp", root);
	char *path = bento_xasprintf("%s/" HEAD_FILE, root);
	char line[HEAD_MAX];
	int n = snprintf(line, sizeof(line), "%lld %s\n", (long long)seq, hash);
	struct bento_atomic a;
	int rc = bento_atomic_open(&a, path, tmpdir, 0644, NULL);

	if (rc == 0 && (rc = bento_atomic_write(&a, line, (size_t)n, NULL)) == 0)
		rc = bento_atomic_commit(&a, 0, NULL);
	free(tmpdir);
	free(path);
	return rc;
}

/*
 * An flock of ROOT/history.lock on a descriptor of its own (see the top of
 * this file).  Returns the descriptor (close it to unlock) or -errno.
 */
static int history_lock(struct bento_store *s, int op)
{
	char *path = bento_xasprintf("%s/" LOCK_FILE, bento_store_root(s));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), e;

	free(path);
	if (fd < 0)
		return -errno;
	while (flock(fd, op) < 0) {
		if (errno != EINTR) {
			e = errno;
			close(fd);
			return -e;
		}
	}
	return fd;
}

int bento_history_head_update(struct bento_store *s)
{
	int64_t seq = 0, hseq = 0;
	hexhash hash, hhash;
	int fd = history_lock(s, LOCK_EX), have, rc;

	if (fd < 0)
		return fd;
	bento_store_lock(s);
	rc = last_event(s, &seq, hash, NULL);
	bento_store_unlock(s);
	if (rc == 0 && seq > 0) {
		have = head_read(s, &hseq, hhash);
		/* never backwards, and never over a head that shows removed events */
		if (have <= 0 || hseq < seq)
			rc = head_write(s, seq, hash);
	}
	close(fd);
	return rc;
}

/* ---- appending ---- */

static int action_ok(const char *a)
{
	size_t n = a ? strlen(a) : 0;

	if (n == 0 || n > ACTION_MAX || a[0] == '-')
		return 0;
	for (; *a; a++)
		if (!((*a >= 'a' && *a <= 'z') || *a == '-'))
			return 0;
	return 1;
}

int bento_history_append_locked(struct bento_store *s, const struct bento_event_in *e,
				struct bento_error *err)
{
	struct bento_buf dj = BENTO_BUF_INIT;
	struct fields f = { 0 };
	sqlite3 *db = bento_store_db(s);
	sqlite3_stmt *st = NULL;
	char digest[BENTO_DIGEST_STRLEN] = "", *actor = NULL;
	hexhash prev, hash, hhash;
	int64_t last = 0, hseq = 0;
	int rc;

	if (!action_ok(e->action))
		return bento_error_set(err, BENTO_E_USAGE,
				       "history event: bad action '%s' (want lowercase letters and '-')",
				       e->action ? e->action : "");
	if (e->kind != 0 && e->kind != BENTO_KIND_MODEL && e->kind != BENTO_KIND_BENTO)
		return bento_error_set(err, BENTO_E_USAGE, "history event %s: unknown object kind %d",
				       e->action, (int)e->kind);
	if (e->details && !json_is_object(e->details))
		return bento_error_set(err, BENTO_E_USAGE,
				       "history event %s: details must be a JSON object", e->action);
	f.details = e->details ? json_incref(e->details) : json_object();
	if ((rc = bento_json_canonical(f.details, &dj, err)))
		goto out;
	if (dj.len > DETAILS_MAX) {
		rc = bento_error_set(err, BENTO_E_INVALID,
				     "history event %s: details are %zu bytes (at most %u)", e->action,
				     dj.len, DETAILS_MAX);
		goto out;
	}
	if ((rc = last_event(s, &last, prev, err)))
		goto out;
	f.seq = last + 1;
	if (head_read(s, &hseq, hhash) == 1 && hseq > last)
		f.seq = hseq + 1;
	if (e->digest)
		bento_digest_str(e->digest, digest);
	actor = bento_history_actor();
	f.time = (int64_t)time(NULL);
	f.actor = actor;
	f.action = e->action;
	f.kind = kind_text(e->kind);
	f.name = e->name ? e->name : "";
	f.version = e->version ? e->version : "";
	f.digest = digest;
	f.prev = prev;
	if ((rc = event_hash(&f, hash, err)))
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO history (seq, time, actor, action, kind, name, version, "
			       "digest, details, prev, hash) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = bento_store_db_fail(s, "append to history", err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, f.seq);
	sqlite3_bind_int64(st, 2, f.time);
	sqlite3_bind_text(st, 3, f.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f.kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, f.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, f.version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, f.digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, dj.buf, (int)dj.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, f.prev, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bento_store_db_fail(s, "append to history", err);
out:
	sqlite3_finalize(st);
	json_decref(f.details);
	bento_buf_release(&dj);
	free(actor);
	return rc;
}

int bento_history_append(struct bento_store *s, const struct bento_event_in *e,
			 struct bento_error *err)
{
	int rc;

	if ((rc = bento_store_tx_open(s, err)))
		return rc;
	rc = bento_store_tx_close(s, bento_history_append_locked(s, e, err), err);
	if (rc == 0)
		(void)bento_history_head_update(s);
	return rc;
}

/* ---- reading ---- */

#define EVENT_COLUMNS "seq, time, actor, action, kind, name, version, digest, details, prev, hash"

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *p = sqlite3_column_text(st, i);

	return p ? (const char *)p : "";
}

/* "build iris:1.0", "gc": the event as messages name it. */
static void event_label(char *out, size_t n, const char *action, const char *name,
			const char *version)
{
	snprintf(out, n, "%s%s%s%s%s", action, *name ? " " : "", name, *version ? ":" : "",
		 version);
}

/* Parse a stored details column: an object in canonical form, else -BENTO_E_CORRUPT. */
static int details_parse(sqlite3_stmt *st, int i, json_t **out, int *canonical)
{
	const char *p = col(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	json_t *j = NULL;

	if (bento_json_parse(p, n, "details", &j, NULL) || !json_is_object(j)) {
		json_decref(j);
		return -BENTO_E_CORRUPT;
	}
	if (canonical)
		*canonical = bento_json_is_canonical(p, n);
	*out = j;
	return 0;
}

void bento_events_free(struct bento_event *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].actor);
		free(v[i].action);
		free(v[i].kind);
		free(v[i].name);
		free(v[i].version);
		free(v[i].digest);
		json_decref(v[i].details);
	}
	free(v);
}

static int query_locked(struct bento_store *s, const struct bento_history_filter *f,
			struct bento_event **out, size_t *n, struct bento_error *err)
{
	struct bento_event *v = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int r, rc = 0;

	if (sqlite3_prepare_v2(bento_store_db(s),
			       "SELECT " EVENT_COLUMNS " FROM history WHERE "
			       "(?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR name = ?2) AND "
			       "(?3 IS NULL OR version = ?3) AND (?4 IS NULL OR digest = ?4) AND "
			       "(?5 IS NULL OR action = ?5) AND (?6 IS NULL OR time >= ?6) AND "
			       "(?7 IS NULL OR time <= ?7) ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return bento_store_db_fail(s, "query history", err);
	if (f->kind)
		sqlite3_bind_text(st, 1, kind_text(f->kind), -1, SQLITE_STATIC);
	if (f->name)
		sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
	if (f->version)
		sqlite3_bind_text(st, 3, f->version, -1, SQLITE_STATIC);
	if (f->digest)
		sqlite3_bind_text(st, 4, f->digest, -1, SQLITE_STATIC);
	if (f->action)
		sqlite3_bind_text(st, 5, f->action, -1, SQLITE_STATIC);
	if (f->since)
		sqlite3_bind_int64(st, 6, f->since);
	if (f->until)
		sqlite3_bind_int64(st, 7, f->until);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct bento_event *e;
		json_t *details;
		if (details_parse(st, 8, &details, NULL)) {
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: event %lld: details are not a JSON object; "
					     "run bento history --verify",
					     (long long)sqlite3_column_int64(st, 0));
			break;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			v = bento_xrealloc(v, cap * sizeof(*v));
		}
		e = &v[len++];
		e->seq = sqlite3_column_int64(st, 0);
		e->time = sqlite3_column_int64(st, 1);
		e->actor = bento_xstrdup(col(st, 2));
		e->action = bento_xstrdup(col(st, 3));
		e->kind = bento_xstrdup(col(st, 4));
		e->name = bento_xstrdup(col(st, 5));
		e->version = bento_xstrdup(col(st, 6));
		e->digest = bento_xstrdup(col(st, 7));
		e->details = details;
		copy_hash(e->prev, col(st, 9));
		copy_hash(e->hash, col(st, 10));
	}
	if (rc == 0 && r != SQLITE_DONE)
		rc = bento_store_db_fail(s, "query history", err);
	sqlite3_finalize(st);
	if (rc) {
		bento_events_free(v, len);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

int bento_history_query(struct bento_store *s, const struct bento_history_filter *f,
			struct bento_event **out, size_t *n, struct bento_error *err)
{
	static const struct bento_history_filter any;
	int rc;

	if (!f)
		f = &any;
	if (f->kind != 0 && f->kind != BENTO_KIND_MODEL && f->kind != BENTO_KIND_BENTO)
		return bento_error_set(err, BENTO_E_USAGE, "history: unknown object kind %d",
				       (int)f->kind);
	bento_store_lock(s);
	rc = query_locked(s, f, out, n, err);
	bento_store_unlock(s);
	return rc;
}

/* Not valid UTF-8 (a hand-edited row) must not make the whole object vanish. */
static json_t *jstr(const char *v)
{
	json_t *j = json_string(v);

	if (!j) {
		char *c = bento_xstrdup(v);
		for (char *p = c; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		j = json_string(c);
		free(c);
	}
	return j;
}

json_t *bento_event_json(const struct bento_event *e)
{
	json_t *o = json_object();
	char t[32];

	bento_time_rfc3339(e->time, t);
	json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(o, "time", json_string(t));
	json_object_set_new(o, "actor", jstr(e->actor));
	json_object_set_new(o, "action", jstr(e->action));
	json_object_set_new(o, "kind", jstr(e->kind));
	json_object_set_new(o, "name", jstr(e->name));
	json_object_set_new(o, "version", jstr(e->version));
	json_object_set_new(o, "digest", jstr(e->digest));
	json_object_set_new(o, "details", e->details ? json_incref(e->details) : json_object());
	json_object_set_new(o, "prev", jstr(e->prev));
	json_object_set_new(o, "hash", jstr(e->hash));
	return o;
}

/* ---- verifying ---- */

struct verify {
	int64_t n, last, bad;
	int have_head;		/* head_read's result */
	int64_t head_seq;
	hexhash head_hash;
};

/* Check the rows of the chain, oldest first; stops at the first broken event. */
static int verify_rows(struct bento_store *s, struct verify *v, struct bento_error *err)
{
	sqlite3_stmt *st;
	hexhash prev, hash;
	int r, rc = 0;

	copy_hash(prev, zero_hash);
	if (sqlite3_prepare_v2(bento_store_db(s), "SELECT " EVENT_COLUMNS " FROM history ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return bento_store_db_fail(s, "read history", err);
	while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0), want = v->last + 1;
		const char *stored = col(st, 10);
		char label[512];
		json_t *details = NULL;
		int canonical = 0;

		event_label(label, sizeof(label), col(st, 3), col(st, 5), col(st, 6));
		if (seq != want) {
			v->bad = want;
			if (seq > want)
				rc = bento_error_set(err, BENTO_E_CORRUPT,
						     "history: event %lld is missing (the history jumps "
						     "from event %lld to event %lld; removed?)",
						     (long long)want, (long long)v->last, (long long)seq);
			else
				rc = bento_error_set(err, BENTO_E_CORRUPT,
						     "history: event %lld (%s): bad sequence number "
						     "(events count from 1)", (long long)seq, label);
			break;
		}
		if (details_parse(st, 8, &details, &canonical) || !canonical) {
			v->bad = seq;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: event %lld (%s): details are not %s (edited?)",
					     (long long)seq, label,
					     details ? "in canonical form" : "a JSON object");
			json_decref(details);
			break;
		}
		struct fields f = {
			.seq = seq, .time = sqlite3_column_int64(st, 1),
			.actor = col(st, 2), .action = col(st, 3), .kind = col(st, 4),
			.name = col(st, 5), .version = col(st, 6), .digest = col(st, 7),
			.details = details, .prev = col(st, 9),
		};
		if (event_hash(&f, hash, NULL) || strcmp(hash, stored) != 0) {
			v->bad = seq;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: event %lld (%s): hash does not match its content "
					     "(edited?)", (long long)seq, label);
		} else if (strcmp(f.prev, prev) != 0) {
			v->bad = seq;
			if (seq == 1)
				rc = bento_error_set(err, BENTO_E_CORRUPT,
						     "history: event 1 (%s): prev is not the start of "
						     "the chain (64 zeros; events before it removed?)",
						     label);
			else
				rc = bento_error_set(err, BENTO_E_CORRUPT,
						     "history: event %lld: prev does not match event "
						     "%lld's hash (an event was removed or reordered)",
						     (long long)seq, (long long)v->last);
		} else if (v->have_head == 1 && seq == v->head_seq &&
			   strcmp(v->head_hash, stored) != 0) {
			v->bad = seq;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: " HEAD_FILE " does not match event %lld (%s): it "
					     "names hash %.16s…, the event has %.16s… (rewritten?)",
					     (long long)seq, label, v->head_hash, stored);
		}
		json_decref(details);
		copy_hash(prev, stored);
		v->last = seq;
		v->n++;
	}
	if (rc == 0 && r != SQLITE_DONE)
		rc = bento_store_db_fail(s, "read history", err);
	sqlite3_finalize(st);
	return rc;
}

/* The triggers that stop bento's own code from editing history: how many are there (2)? */
static int count_triggers(struct bento_store *s, int64_t *n, struct bento_error *err)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (sqlite3_prepare_v2(bento_store_db(s),
			       "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
			       "tbl_name = 'history' AND name IN ('history_no_update', "
			       "'history_no_delete')", -1, &st, NULL) != SQLITE_OK)
		return bento_store_db_fail(s, "read schema", err);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = bento_store_db_fail(s, "read schema", err);
	sqlite3_finalize(st);
	return rc;
}

int bento_history_verify(struct bento_store *s, int64_t *checked, int64_t *bad_seq,
			 struct bento_error *err)
{
	struct verify v = { 0 };
	int64_t triggers = 0;
	int lockfd, rc;

	/*
	 * Shared: head writers (exclusive) wait, so the head read below is
	 * never newer than the table snapshot.  A store we cannot create the
	 * lock file in is checked anyway; nobody can be appending to it.
	 */
	lockfd = history_lock(s, LOCK_SH);
	bento_store_lock(s);
	rc = sqlite3_exec(bento_store_db(s), "BEGIN", NULL, NULL, NULL) == SQLITE_OK
		     ? 0 : bento_store_db_fail(s, "begin transaction", err);
	if (rc == 0) {
		v.have_head = head_read(s, &v.head_seq, v.head_hash);
		rc = verify_rows(s, &v, err);
		if (rc == 0)
			rc = count_triggers(s, &triggers, err);
		sqlite3_exec(bento_store_db(s), "COMMIT", NULL, NULL, NULL);
	}
	bento_store_unlock(s);
	if (lockfd >= 0)
		close(lockfd);
	if (rc == 0) {
		if (v.have_head == -BENTO_E_CORRUPT) {
			v.bad = v.last;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: %s/" HEAD_FILE " is malformed (want \"SEQ HASH\")",
					     bento_store_root(s));
		} else if (v.have_head < 0) {
			rc = bento_error_errno(err, -v.have_head, "history: %s/" HEAD_FILE,
					       bento_store_root(s));
		} else if (v.have_head == 0 && v.n > 0) {
			v.bad = v.last;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: %s/" HEAD_FILE " is missing (it keeps the newest "
					     "event's hash; %lld events in the table)",
					     bento_store_root(s), (long long)v.n);
		} else if (v.have_head == 1 && v.head_seq > v.last) {
			v.bad = v.last + 1;
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: " HEAD_FILE " names event %lld but the history "
					     "ends at event %lld (events after %lld were removed)",
					     (long long)v.head_seq, (long long)v.last, (long long)v.last);
		} else if (triggers != 2) {
			/* the chain holds, but someone went to the trouble of dropping them */
			rc = bento_error_set(err, BENTO_E_CORRUPT,
					     "history: the append-only triggers of the history table "
					     "were removed (tampering?)");
		}
	}
	if (rc == 0 && checked)
		*checked = v.n;
	if (rc == -BENTO_E_CORRUPT && bad_seq)
		*bad_seq = v.bad;
	return rc;
}
