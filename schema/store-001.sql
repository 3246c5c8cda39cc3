-- store-001.sql - the initial schema of store.db (see lib/store.h).
--
-- Applied by bento_store_open() inside one BEGIN IMMEDIATE transaction that
-- then sets PRAGMA user_version = 1.  Later changes go in store-002.sql and
-- on, never here: a store that ran this file keeps it.
--
-- Digests are TEXT "sha256:<64 lowercase hex>" so the database reads well in
-- the sqlite3 shell; kinds are 1 = model, 2 = bento (enum bento_kind).

-- Models and bentos, each named by the digest of its canonical manifest.
CREATE TABLE objects (
	id       INTEGER PRIMARY KEY,
	kind     INTEGER NOT NULL CHECK (kind IN (1, 2)),
	digest   TEXT NOT NULL UNIQUE
	         CHECK (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:'),
	manifest BLOB NOT NULL,
	size     INTEGER NOT NULL DEFAULT 0,	-- bytes of content the manifest lists
	added    INTEGER NOT NULL		-- unix seconds
) STRICT;

-- name:version tags.  seq grows with every tag added (max + 1), so "latest"
-- is the highest seq of a name and two tags never tie.  An object row is
-- deleted when its last tag goes; the foreign key (no cascade) makes
-- deleting a still-tagged object an error rather than a silent untag.
CREATE TABLE tags (
	kind      INTEGER NOT NULL CHECK (kind IN (1, 2)),
	name      TEXT NOT NULL CHECK (name <> ''),
	version   TEXT NOT NULL CHECK (version <> ''),
	object_id INTEGER NOT NULL REFERENCES objects(id),
	added     INTEGER NOT NULL,
	seq       INTEGER NOT NULL UNIQUE,
	PRIMARY KEY (kind, name, version)
) STRICT;
CREATE INDEX tags_object ON tags(object_id);
CREATE INDEX tags_name_seq ON tags(kind, name, seq);

-- Every blob an object's manifest lists.  This table, not the manifests, is
-- what gc keeps blobs for.
CREATE TABLE object_blobs (
	object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
	digest    TEXT NOT NULL
	          CHECK (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:'),
	PRIMARY KEY (object_id, digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX object_blobs_digest ON object_blobs(digest);

-- Models a bento uses.  RESTRICT: a model cannot go while a bento needs it
-- (bento_store_untag with force removes these rows first, on purpose).
CREATE TABLE object_deps (
	bento_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
	model_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE RESTRICT,
	PRIMARY KEY (bento_id, model_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX object_deps_model ON object_deps(model_id);

-- Files already hashed into the store, so an unchanged file is not read
-- again.  A hint only: an entry counts when dev, ino, size, mtime and ctime
-- all match and the blob is present.  dev and ino are stored as the signed
-- 64-bit reinterpretation of the unsigned values.
CREATE TABLE stat_cache (
	dev      INTEGER NOT NULL,
	ino      INTEGER NOT NULL,
	size     INTEGER NOT NULL,
	mtime_ns INTEGER NOT NULL,
	ctime_ns INTEGER NOT NULL,
	digest   TEXT NOT NULL,
	PRIMARY KEY (dev, ino)
) STRICT, WITHOUT ROWID;
