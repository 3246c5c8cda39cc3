/*
 * The health port's request parser: the bytes a client sent so far in,
 * a verdict out, no sockets (health.c does the I/O; a fuzzer calls this
 * directly).  It reads the HTTP/1.x request line and header lines of
 * RFC 9112 strictly, bytes being bytes (a NUL is a byte like any other):
 * every line ends in CR LF, the request line is METHOD SP TARGET SP
 * HTTP/D.D with single spaces, a header line is NAME ":" VALUE with a
 * token name and no control character but HTAB in the value.  A NUL, a
 * bare CR or a bare LF is a 400 as soon as it arrives, a line that breaks
 * a rule as soon as its CR LF does; nothing is waited for after that.
 */
#include <string.h>

#include "shim.h"

/* RFC 9110 tchar: what a method or a header field name is made of. */
static int is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int verdict(struct health_request *out, int status)
{
	out->status = status;
	return 1;
}

/* The request line, [p, p + n) without its CR LF. */
static int request_line(const char *p, size_t n, struct health_request *out)
{
	static const struct {
		const char *path;
		enum health_route route;
	} routes[] = {
		{ "/livez", HEALTH_LIVEZ },
		{ "/v2/health/live", HEALTH_LIVE },
		{ "/readyz", HEALTH_READYZ },
		{ "/v2/health/ready", HEALTH_READY },
	};
	size_t m = 0, t, tn, q;

	while (m < n && is_tchar((unsigned char)p[m]))
		m++;
	if (m == 0 || m == n || p[m] != ' ')
		return verdict(out, 400);
	/* request-target: visible ASCII; its query is not part of the path */
	for (t = m + 1, tn = 0; t + tn < n && p[t + tn] > ' ' && p[t + tn] < 0x7f; tn++)
		;
	if (tn == 0 || t + tn == n || p[t + tn] != ' ')
		return verdict(out, 400);
	q = t + tn + 1;
	if (n - q != 8 || memcmp(p + q, "HTTP/", 5) != 0 || p[q + 5] < '0' || p[q + 5] > '9' ||
	    p[q + 6] != '.' || p[q + 7] < '0' || p[q + 7] > '9')
		return verdict(out, 400);
	if (p[q + 5] != '1')
		return verdict(out, 505);
	out->head = m == 4 && memcmp(p, "HEAD", 4) == 0;
	if (!out->head && !(m == 3 && memcmp(p, "GET", 3) == 0))
		return verdict(out, 405);
	for (size_t i = 0; i < tn; i++)
		if (p[t + i] == '?') {
			tn = i;
			break;
		}
	out->route = HEALTH_NOT_FOUND;
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++)
		if (strlen(routes[i].path) == tn && memcmp(p + t, routes[i].path, tn) == 0)
			out->route = routes[i].route;
	return 0;
}

/* One header line, [p, p + n) without its CR LF (not empty). */
static int header_line(const char *p, size_t n)
{
	size_t k = 0;

	while (k < n && is_tchar((unsigned char)p[k]))
		k++;
	if (k == 0 || k == n || p[k] != ':')
		return -1;	/* also obs-fold (a leading SP or HTAB) and "Name :" */
	for (k++; k < n; k++) {
		unsigned char ch = (unsigned char)p[k];
		if ((ch < ' ' && ch != '\t') || ch == 0x7f)
			return -1;
	}
	return 0;
}

int health_request_parse(const char *buf, size_t len, int eof, struct health_request *out)
{
	size_t start = 0;
	int first = 1;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				break;	/* its LF may be on the way */
			if (buf[i + 1] != '\n')
				return verdict(out, 400);	/* a bare CR */
			if (first) {
				if (request_line(buf, i, out))
					return 1;
				first = 0;
			} else if (i == start) {
				return verdict(out, out->status);	/* the empty line: complete */
			} else if (header_line(buf + start, i - start)) {
				return verdict(out, 400);
			}
			start = ++i + 1;
		} else if (buf[i] == '\n' || buf[i] == '\0') {
			return verdict(out, 400);	/* a bare LF, a NUL */
		}
	}
	if (len >= HEALTH_REQ_MAX)
		return verdict(out, 431);
	if (eof && len)
		return verdict(out, 400);	/* cut short: the client stopped sending */
	return 0;
}
