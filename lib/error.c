#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static void vset(struct bento_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int bento_error_set(struct bento_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vset(err, -code, fmt, ap);
		va_end(ap);
	}
	return -code;
}

int bento_error_errno(struct bento_error *err, int errnum, const char *fmt, ...)
{
	if (errnum <= 0)
		errnum = EIO;
	if (err) {
		va_list ap;
		size_t n;
		va_start(ap, fmt);
		vset(err, -errnum, fmt, ap);
		va_end(ap);
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	}
	return -errnum;
}

void bento_error_prefix(struct bento_error *err, const char *fmt, ...)
{
	char pre[512], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t n = strlen(pre);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, pre, n);
	memcpy(err->msg + n, ": ", 2);
	size_t rest = sizeof(err->msg) - n - 3;
	size_t olen = strnlen(old, rest);
	memcpy(err->msg + n + 2, old, olen);
	err->msg[n + 2 + olen] = '\0';
}

void bento_error_clear(struct bento_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

int bento_exit_code(int rc)
{
	if (rc >= 0)
		return 0;
	switch (-rc) {
	case BENTO_E_USAGE:
	case BENTO_E_AMBIGUOUS:
		return 2;
	case BENTO_E_VERIFY:
	case BENTO_E_UNSAFE:
	case BENTO_E_CORRUPT:
		return 3;
	case BENTO_E_NOTFOUND:
	case ENOENT:
		return 4;
	case BENTO_E_NETWORK:
		return 5;
	default:
		return 1;
	}
}

const char *bento_strerror(int rc)
{
	if (rc >= 0)
		return "success";
	switch (-rc) {
	case BENTO_E_FAIL: return "failed";
	case BENTO_E_USAGE: return "invalid usage";
	case BENTO_E_INVALID: return "invalid input";
	case BENTO_E_VERIFY: return "verification failed";
	case BENTO_E_UNSAFE: return "unsafe content refused";
	case BENTO_E_NOTFOUND: return "not found";
	case BENTO_E_AMBIGUOUS: return "ambiguous reference";
	case BENTO_E_EXISTS: return "already exists";
	case BENTO_E_INUSE: return "in use";
	case BENTO_E_NETWORK: return "network or registry error";
	case BENTO_E_CORRUPT: return "store corrupt";
	default: return strerror(-rc);
	}
}
