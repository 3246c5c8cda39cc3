/*
 * cjson.h - canonical JSON on jansson.
 *
 * Canonical form (man/bento-archive.5): UTF-8; object keys sorted bytewise;
 * no insignificant whitespace (separators "," and ":"); integers only (no
 * reals); strings escaped minimally (only '"', '\\' and control characters,
 * the latter as \uXXXX except \b \f \n \r \t); no trailing newline.
 * The digest of an object is sha256 over exactly these bytes.
 */
#ifndef BENTO_CJSON_H
#define BENTO_CJSON_H

#include <jansson.h>

#include "buf.h"
#include "digest.h"
#include "error.h"

/* Caps applied when parsing untrusted JSON. */
#define BENTO_JSON_MAX (64u << 20)	/* 64 MiB */

/*
 * Append the canonical encoding of v to out.  Fails with -BENTO_E_INVALID if
 * v holds a real number or a string that is not valid UTF-8.
 */
int bento_json_canonical(const json_t *v, struct bento_buf *out, struct bento_error *err);

/* Canonical bytes of v, hashed. */
int bento_json_digest(const json_t *v, struct bento_digest *out, struct bento_error *err);

/*
 * The canonical encoding of the object obj with one more member, key, whose
 * value is raw, already canonical bytes (obj must not have key): for a
 * member too big to hold as jansson values (bento.json's files).  The
 * digest of the same (or of obj alone when key is NULL).
 */
int bento_json_canonical_with(const json_t *obj, const char *key, const struct bento_buf *raw,
			      struct bento_buf *out, struct bento_error *err);
int bento_json_digest_with(const json_t *obj, const char *key, const struct bento_buf *raw,
			   struct bento_digest *out, struct bento_error *err);

/* Append the canonical encoding of the n bytes at s as a JSON string (-BENTO_E_INVALID unless UTF-8). */
int bento_json_put_string(struct bento_buf *out, const char *s, size_t n, struct bento_error *err);

/*
 * Parse len bytes as JSON (strict: no duplicate keys, no NUL in strings, no
 * trailing data, at most BENTO_JSON_MAX bytes).  what names the source in
 * errors ("bento.json").  On success *out owns a new reference.
 */
int bento_json_parse(const char *data, size_t len, const char *what,
		     json_t **out, struct bento_error *err);

/* 1 when the bytes are exactly the canonical encoding of what they parse to. */
int bento_json_is_canonical(const char *data, size_t len);

/* Small typed getters used by the manifest readers; NULL/-1 when absent or mistyped. */
const char *bento_json_str(const json_t *obj, const char *key);
int bento_json_int(const json_t *obj, const char *key, long long *out);

#endif
