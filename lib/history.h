/*
 * history.h - the store's audit log: an append-only, hash-chained list of
 * events (who did what to which object, when).
 *
 * Each event's hash is sha256 over the previous event's hash and the
 * canonical JSON of its own fields (seq, time, actor, action, kind, name,
 * version, digest, details); the first event chains from 64 zeros.  The
 * hash of the newest event is also kept outside the table (the store's
 * "history.head" file, written after each commit), so deleting events from
 * the end is detected as well as editing or deleting any event in the
 * middle.  The exact byte layout is in man/bento-history.1.
 */
#ifndef BENTO_HISTORY_H
#define BENTO_HISTORY_H

#include <stdint.h>

#include <jansson.h>

#include "digest.h"
#include "error.h"
#include "store.h"

struct bento_event_in {
	const char *action;	/* "build", "import", "model-import", "tag", "delete",
				 * "model-delete", "sign", "export", "gc", later "push",
				 * "pull", "containerize" */
	enum bento_kind kind;	/* 0 when the event is about no single object (gc) */
	const char *name, *version;		/* may be NULL */
	const struct bento_digest *digest;	/* may be NULL */
	json_t *details;	/* borrowed, may be NULL: an object of action-specific facts */
};

/*
 * Who is acting: the CI identity ("github-actions:octocat" and the like)
 * when CI variables are set, else "user@host".  BENTO_ACTOR overrides both.
 * Returns a new string.
 */
char *bento_history_actor(void);

/* Append one event in its own transaction. */
int bento_history_append(struct bento_store *s, const struct bento_event_in *e,
			 struct bento_error *err);

struct bento_event {
	int64_t seq;
	int64_t time;		/* unix seconds */
	char *actor, *action;
	char *kind;		/* "model", "bento" or "" */
	char *name, *version;	/* "" when none */
	char *digest;		/* "sha256:…" or "" */
	json_t *details;	/* owned; an object (possibly empty) */
	char prev[BENTO_DIGEST_HEXLEN + 1];
	char hash[BENTO_DIGEST_HEXLEN + 1];
};

struct bento_history_filter {
	enum bento_kind kind;		/* 0 = any */
	const char *name;		/* NULL = any */
	const char *version;		/* NULL = any */
	const char *digest;		/* full "sha256:…" digest, NULL = any */
	const char *action;		/* NULL = any */
	int64_t since, until;		/* inclusive bounds, 0 = unbounded */
};

/* Matching events, oldest first.  Free with bento_events_free. */
int bento_history_query(struct bento_store *s, const struct bento_history_filter *f,
			struct bento_event **out, size_t *n, struct bento_error *err);
void bento_events_free(struct bento_event *v, size_t n);

/*
 * Recompute the chain.  0 when intact (*checked = events checked);
 * -BENTO_E_CORRUPT naming the first broken event ("event 17 (build
 * iris:1.0): hash does not match its content") otherwise, with *bad_seq set.
 */
int bento_history_verify(struct bento_store *s, int64_t *checked, int64_t *bad_seq,
			 struct bento_error *err);

/* The event's fields as a JSON object (for -o json). Returns a new reference. */
json_t *bento_event_json(const struct bento_event *e);

#endif
