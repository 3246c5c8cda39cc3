/*
 * registry_internal.h - what registry.c reads from a registry and its token
 * service, as pure functions: response header values, WWW-Authenticate
 * challenges, the token answer, and the one check every URL the server
 * hands over must pass.  All input is untrusted; none of these prints,
 * touches the network or keeps state.  For registry.c, the unit tests and
 * tests/fuzz/fuzz_http.c; the rules are those of bento-registry(5),
 * PROTOCOL.
 */
#ifndef BENTO_REGISTRY_INTERNAL_H
#define BENTO_REGISTRY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#define BENTO_URL_MAX 8192		/* a longer URL from the server is refused */
#define BENTO_CHALLENGE_MAX 16384	/* WWW-Authenticate values kept, all headers together */

/* The headers of one response that bento uses; strings are owned. */
struct bento_http_headers {
	char *location, *dcd, *range, *content_type;
	char *www_auth;			/* every WWW-Authenticate value, joined with ", " */
	long long content_length;	/* -1 when absent or not a decimal number */
	long retry_after;		/* seconds from now, -1 when absent or malformed */
};

void bento_http_headers_init(struct bento_http_headers *h);
/* Free the strings and init again. */
void bento_http_headers_release(struct bento_http_headers *h);

/*
 * Fold one header line (n bytes "Name: value", its CRLF optional, not
 * NUL-terminated, may hold any byte) into h.  A later Location,
 * Docker-Content-Digest, Range or Content-Type replaces an earlier one; a
 * malformed Content-Length or Retry-After leaves the field as it was.  now
 * is the time against which an HTTP-date Retry-After is counted.
 */
void bento_http_header_line(struct bento_http_headers *h, const char *line, size_t n, time_t now);

/*
 * A decimal header value: digits only (no sign, no spaces), at most max.
 * 0 with *out, or -1.
 */
int bento_http_parse_uint(const char *v, uint64_t max, uint64_t *out);

/*
 * An upload session's Range ("0-N", or "bytes=0-N"): *have = N + 1 bytes
 * received.  0, or -1 when malformed or not starting at 0.
 */
int bento_http_range_parse(const char *v, uint64_t *have);

enum bento_auth_scheme { BENTO_AUTH_NONE, BENTO_AUTH_BASIC, BENTO_AUTH_BEARER };

struct bento_http_challenge {
	enum bento_auth_scheme scheme;
	char *realm, *service;		/* owned; NULL when absent */
};

/*
 * Parse a WWW-Authenticate value: a comma-separated list of challenges
 * (RFC 7235: scheme, then token=token or token="quoted\"string" params).
 * The Bearer challenge wins over Basic; others are skipped.  Fills out
 * (release it) and returns 0, or -1 when the value is malformed or holds
 * no Basic or Bearer challenge (out is then empty).
 */
int bento_http_challenge_parse(const char *v, struct bento_http_challenge *out);
void bento_http_challenge_release(struct bento_http_challenge *c);

/*
 * The token service's answer: {"token": T} or {"access_token": T}, and
 * "expires_in" (seconds; 60 when absent, not an integer or below 1).  T
 * must be 1 to 16384 visible ASCII characters (it goes into a header).
 * 0 with *token (new string, wipe and free it) and *expires_in, or -1
 * with *why (a static string).
 */
int bento_registry_token_parse(const char *body, size_t n, char **token, long long *expires_in,
			       const char **why);

/*
 * The check for every URL a registry hands over: a redirect's Location,
 * an upload session's Location, the Bearer realm.  ref (what the server
 * sent, absolute or relative) is resolved against from (the URL of the
 * request it answered), and must then be http or https, name a host and
 * no user or password, not be an https -> http downgrade except to a
 * loopback host, not name a link-local or unspecified address (169.254/16,
 * fe80::/10, 0.0.0.0, ::) other than base's own host, and be at most
 * BENTO_URL_MAX bytes.  base is the registry ("https://host[:port]").
 * 0 with *out (the absolute URL, new string), or -1 with *why (static).
 */
int bento_registry_url_check(const char *base, const char *from, const char *ref, char **out,
			     const char **why);

/* 1 when url has base's scheme, host (any case) and port: the registry's own origin. */
int bento_registry_same_origin(const char *base, const char *url);

/* 1 when url's host is loopback (localhost, 127.0.0.0/8, ::1). */
int bento_registry_url_is_loopback(const char *url);

/*
 * Restrict an easy handle to http and https, for requests and redirects
 * (defence in depth: bento follows no redirect through curl, and checks
 * every URL first).  registry.c calls it on every handle it sets up.
 */
void bento_registry_curl_restrict(CURL *c);

#endif
