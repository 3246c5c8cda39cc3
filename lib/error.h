/*
 * error.h - the one error convention of libbento.
 *
 * Every library function that can fail returns an int: 0 on success, or a
 * negative value: -errno for system errors, -BENTO_E_* for bento's own.  When
 * the caller passes a non-NULL struct bento_error, it is filled with a message
 * that says what failed and why ("models/iris/w.bin: digest mismatch: ...").
 * The library never prints and never exits; the CLI prints the message once
 * and maps the code to an exit status with bento_exit_code().
 */
#ifndef BENTO_ERROR_H
#define BENTO_ERROR_H

#include <stddef.h>

enum bento_errcode {
	BENTO_E_FAIL = 1000,	/* generic failure                       exit 1 */
	BENTO_E_USAGE,		/* bad argument or option                exit 2 */
	BENTO_E_INVALID,	/* malformed input (bentofile, JSON)     exit 1 */
	BENTO_E_VERIFY,		/* digest/size/signature/policy mismatch exit 3 */
	BENTO_E_UNSAFE,		/* refused archive content (../, device) exit 3 */
	BENTO_E_NOTFOUND,	/* no such object, file or tag           exit 4 */
	BENTO_E_AMBIGUOUS,	/* a reference matches several objects   exit 2 */
	BENTO_E_EXISTS,		/* tag or object already exists          exit 1 */
	BENTO_E_INUSE,		/* object still referenced               exit 1 */
	BENTO_E_NETWORK,	/* registry or network failure           exit 5 */
	BENTO_E_CORRUPT,	/* store damaged (fsck finds problems)   exit 3 */
};

struct bento_error {
	int code;		/* the value the failing function returned */
	char msg[2048];		/* NUL-terminated; empty when unset */
};

/*
 * Fill err (if non-NULL) with a printf-style message and return -code.
 * code is a BENTO_E_* value.  Typical use: return bento_error_set(err, ...).
 */
int bento_error_set(struct bento_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like bento_error_set but for a system error: the message gets
 * ": strerror(errnum)" appended and -errnum is returned (ENOENT maps to
 * BENTO_E_NOTFOUND for the exit code).
 */
int bento_error_errno(struct bento_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "prefix: " to an already set message (for adding context). */
void bento_error_prefix(struct bento_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset err to "no error". */
void bento_error_clear(struct bento_error *err);

/* Map a return value (0, -errno, -BENTO_E_*) to the CLI exit code 0..5. */
int bento_exit_code(int rc);

/* A short generic description of rc, used when no message was set. */
const char *bento_strerror(int rc);

#endif
