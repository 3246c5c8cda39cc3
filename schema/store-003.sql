-- store-003.sql - migration 3: the layer digest cache (see lib/oci.h).
--
-- Pushing a bento to a registry needs the digest and size of each of its
-- tar layers before anything is uploaded; hashing a 1 GiB layer again on
-- every push is what this table saves.  key is the hex sha256 of a
-- canonical description of the layer (format version, every tar header's
-- exact bytes and every file's digest), which determines the layer's bytes
-- completely, so a row can never describe other content.  Rows are only a
-- cache: deleting any or all of them is always safe.
--
-- Applied by bento_store_open() inside one BEGIN IMMEDIATE transaction that
-- then sets PRAGMA user_version = 3.  Never edit after release.
CREATE TABLE layer_cache (
	key    TEXT PRIMARY KEY CHECK (length(key) = 64),
	digest TEXT NOT NULL CHECK (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:'),
	size   INTEGER NOT NULL CHECK (size >= 0)
) STRICT;
