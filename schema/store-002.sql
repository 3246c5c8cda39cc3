-- store-002.sql - migration 2: the audit history, and the signatures and
-- attestations of bentos (see lib/history.h and lib/store.h).
--
-- Applied by bento_store_open() inside one BEGIN IMMEDIATE transaction that
-- then sets PRAGMA user_version = 2.  Never edit after release: later
-- changes go in store-003.sql.

-- The audit log: one row per action, hash-chained (lib/history.c has the
-- exact hash layout).  seq is assigned by bento, 1, 2, 3, ... without gaps;
-- a gap is how a deleted event shows.  kind is 'model', 'bento' or '' (an
-- event about no single object, such as gc); name, version and digest are
-- '' when the event has none.  details is the canonical JSON of an object.
CREATE TABLE history (
	seq     INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,		-- unix seconds
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL CHECK (action <> ''),
	kind    TEXT NOT NULL CHECK (kind IN ('', 'model', 'bento')),
	name    TEXT NOT NULL,
	version TEXT NOT NULL,
	digest  TEXT NOT NULL
	        CHECK (digest = '' OR (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:')),
	details TEXT NOT NULL,
	prev    TEXT NOT NULL CHECK (length(prev) = 64),
	hash    TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX history_name ON history(name, version);
CREATE INDEX history_digest ON history(digest);

-- Append-only, as far as bento's own code paths go: these stop an UPDATE or
-- DELETE by mistake.  Whoever drops them on purpose is caught by the hash
-- chain and history.head instead (bento history --verify).
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

-- minisign signatures of a bento's canonical bento.json, one per key (keyid
-- is the key's 16 uppercase hex digits).  data is the whole .minisig text.
-- They belong to the bento: deleting its object row deletes them.
CREATE TABLE signatures (
	object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
	keyid     TEXT NOT NULL CHECK (length(keyid) = 16),
	data      TEXT NOT NULL,
	added     INTEGER NOT NULL,		-- unix seconds
	PRIMARY KEY (object_id, keyid)
) STRICT, WITHOUT ROWID;

-- Attestations of a bento (DSSE envelopes, canonical JSON), one per name
-- ("provenance.dsse.json"); exported as attestations/NAME.
CREATE TABLE attestations (
	object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
	name      TEXT NOT NULL CHECK (name <> ''),
	data      TEXT NOT NULL,
	added     INTEGER NOT NULL,
	PRIMARY KEY (object_id, name)
) STRICT, WITHOUT ROWID;
