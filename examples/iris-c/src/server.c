/*
 * server.c - iris-c: a tiny HTTP/1.1 prediction service for the Iris
 * logistic-regression model, libc only, built static so it runs FROM scratch.
 *
 *   POST /predict         {"features": [5.1, 3.5, 1.4, 0.2]}
 *                         {"instances": [[5.1, 3.5, 1.4, 0.2], [...]]}
 *                      -> {"predictions": ["setosa"], "probabilities": [[...]]}
 *   GET  /healthz          ok
 *   GET  /v2/health/live   Open Inference Protocol liveness
 *   GET  /v2/health/ready  Open Inference Protocol readiness
 *   GET  /metadata         model information
 *
 * One request per connection (Connection: close), served one at a time by a
 * single thread: the model is a few multiply-adds, so a connection costs far
 * more than the prediction.  Requests are capped at 64 KiB and a slow client
 * is cut off after a timeout, so one peer cannot hold the loop for long.
 * SIGTERM and SIGINT finish the request in hand and exit 0.
 *
 * Usage: server [--port N] [--host ADDR] [--model PATH]
 *   env PORT (default 3000), MODEL_PATH (default ../models/iris/weights.bin,
 *   the model's place when the working directory is the bento's src/).
 *   --port 0 picks a free port; the "listening on" line on stderr names it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REQUEST	(64 * 1024)	/* headers and body together */
#define IO_TIMEOUT_S	5
#define MAX_DEPTH	32		/* JSON nesting we are willing to skip */
#define N_FEATURES	4
#define N_CLASSES	3
#define WEIGHTS_SIZE	(8 + 4 + 4 + 4 * (N_CLASSES * N_FEATURES + N_CLASSES))
#define DEFAULT_MODEL	"../models/iris/weights.bin"
#define CONTINUE_100	"HTTP/1.1 100 Continue\r\n\r\n"

static const char *const class_names[N_CLASSES] = { "setosa", "versicolor", "virginica" };
static const char *const feature_names[N_FEATURES] = {
	"sepal_length", "sepal_width", "petal_length", "petal_width"
};

struct model {
	float w[N_CLASSES][N_FEATURES];
	float b[N_CLASSES];
	char path[512];
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("iris-c: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- growable output buffer (aborts on OOM: a 64 KiB request is tiny) ---- */

struct out {
	char *p;
	size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;

		while (cap < o->len + n + 1)
			cap *= 2;
		o->p = realloc(o->p, cap);
		if (!o->p) {
			logf_("out of memory");
			abort();
		}
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* a string literal, length counted by the compiler */
#define OUT_LIT(o, lit) out_add((o), "" lit, sizeof(lit) - 1)

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_add(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Append s as a JSON string (quotes included). */
static void out_json_str(struct out *o, const char *s)
{
	OUT_LIT(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			out_add(o, e, 2);
		} else if (c < 0x20) {
			out_printf(o, "\\u%04x", c);
		} else {
			out_add(o, s, 1);
		}
	}
	OUT_LIT(o, "\"");
}

/* ---- model ---- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float lef32(const unsigned char *p)
{
	uint32_t u = le32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static int model_load(struct model *m, const char *path)
{
	unsigned char buf[WEIGHTS_SIZE + 1];
	const unsigned char *p;
	size_t n;
	FILE *f;
	int c, j;

	f = fopen(path, "rb");
	if (!f) {
		logf_("%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		logf_("%s: read error", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n < 16 || memcmp(buf, "IRISW001", 8) != 0) {
		logf_("%s: not an iris weights file (bad magic)", path);
		return -1;
	}
	if (le32(buf + 8) != N_FEATURES || le32(buf + 12) != N_CLASSES) {
		logf_("%s: expected %d features and %d classes, got %u and %u", path,
		      N_FEATURES, N_CLASSES, le32(buf + 8), le32(buf + 12));
		return -1;
	}
	if (n != WEIGHTS_SIZE) {
		logf_("%s: expected %d bytes, got %s%zu", path, WEIGHTS_SIZE,
		      n > WEIGHTS_SIZE ? "more than " : "", n > WEIGHTS_SIZE ? (size_t)WEIGHTS_SIZE : n);
		return -1;
	}
	p = buf + 16;
	for (c = 0; c < N_CLASSES; c++)
		for (j = 0; j < N_FEATURES; j++, p += 4)
			m->w[c][j] = lef32(p);
	for (c = 0; c < N_CLASSES; c++, p += 4)
		m->b[c] = lef32(p);
	for (c = 0; c < N_CLASSES; c++) {
		for (j = 0; j < N_FEATURES; j++)
			if (!isfinite(m->w[c][j]))
				goto nonfinite;
		if (!isfinite(m->b[c]))
			goto nonfinite;
	}
	snprintf(m->path, sizeof(m->path), "%s", path);
	return 0;
nonfinite:
	logf_("%s: weights contain NaN or infinity", path);
	return -1;
}

/* Softmax probabilities; returns the arg-max class. */
static int model_predict(const struct model *m, const double x[N_FEATURES], double prob[N_CLASSES])
{
	double z[N_CLASSES], max, sum = 0;
	int c, j, best = 0;

	for (c = 0; c < N_CLASSES; c++) {
		z[c] = m->b[c];
		for (j = 0; j < N_FEATURES; j++)
			z[c] += (double)m->w[c][j] * x[j];
	}
	max = z[0];
	for (c = 1; c < N_CLASSES; c++)
		if (z[c] > max) {
			max = z[c];
			best = c;
		}
	for (c = 0; c < N_CLASSES; c++) {
		prob[c] = exp(z[c] - max);
		sum += prob[c];
	}
	for (c = 0; c < N_CLASSES; c++)
		prob[c] /= sum;
	return best;
}

/* ---- minimal JSON reading: just enough for the request body ---- */

struct jp {
	const char *start, *p, *end;
	char err[160];
};

static int jp_fail(struct jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jp_fail(struct jp *j, const char *fmt, ...)
{
	va_list ap;

	if (!j->err[0]) {
		va_start(ap, fmt);
		vsnprintf(j->err, sizeof(j->err), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jp_peek(struct jp *j)
{
	jp_ws(j);
	return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int jp_expect(struct jp *j, char c)
{
	if (jp_peek(j) != c) {
		if (j->p == j->end)
			return jp_fail(j, "expected '%c' at offset %td, found the end of the body",
				       c, j->p - j->start);
		return jp_fail(j, "expected '%c' at offset %td", c, j->p - j->start);
	}
	j->p++;
	return 0;
}

static int jp_digits(struct jp *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s ? 0 : -1;
}

/* A JSON number (RFC 8259 grammar, checked before strtod sees it). */
static int jp_number(struct jp *j, double *out)
{
	char tmp[64];
	const char *s;
	size_t n;
	char *e;

	jp_ws(j);
	s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (jp_digits(j) < 0)
		return jp_fail(j, "expected a number");
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (jp_digits(j) < 0)
			return jp_fail(j, "bad number: digits expected after '.'");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (jp_digits(j) < 0)
			return jp_fail(j, "bad number: digits expected in exponent");
	}
	n = (size_t)(j->p - s);
	if (n >= sizeof(tmp))
		return jp_fail(j, "number too long");
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*out = strtod(tmp, &e);
	if (*e || !isfinite(*out))
		return jp_fail(j, "number out of range: %s", tmp);
	return 0;
}

/*
 * A JSON string.  Object keys are all we read, so escapes are validated and
 * kept as written; key comparison is on the raw bytes.
 */
static int jp_string(struct jp *j, const char **s, size_t *n)
{
	const char *start;

	if (jp_expect(j, '"') < 0)
		return -1;
	start = j->p;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				break;
			if (*j->p == 'u') {
				int k;

				for (k = 1; k <= 4; k++)
					if (j->p + k >= j->end || !strchr("0123456789abcdefABCDEF", j->p[k]) ||
					    !j->p[k])
						return jp_fail(j, "bad \\u escape in string");
				j->p += 4;
			} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
				return jp_fail(j, "bad escape in string");
			}
		}
		j->p++;
	}
	if (j->p >= j->end)
		return jp_fail(j, "unterminated string");
	if (s)
		*s = start;
	if (n)
		*n = (size_t)(j->p - start);
	j->p++;
	return 0;
}

static int jp_literal(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return jp_fail(j, "unexpected character");
	j->p += n;
	return 0;
}

/* Skip any JSON value (for keys we do not use). */
static int jp_skip(struct jp *j, int depth)
{
	double d;
	int c = jp_peek(j);

	if (depth > MAX_DEPTH)
		return jp_fail(j, "JSON nested too deeply");
	switch (c) {
	case '"':
		return jp_string(j, NULL, NULL);
	case 't':
		return jp_literal(j, "true");
	case 'f':
		return jp_literal(j, "false");
	case 'n':
		return jp_literal(j, "null");
	case '[':
		j->p++;
		if (jp_peek(j) == ']') {
			j->p++;
			return 0;
		}
		for (;;) {
			if (jp_skip(j, depth + 1) < 0)
				return -1;
			if (jp_peek(j) == ',') {
				j->p++;
				continue;
			}
			return jp_expect(j, ']');
		}
	case '{':
		j->p++;
		if (jp_peek(j) == '}') {
			j->p++;
			return 0;
		}
		for (;;) {
			if (jp_string(j, NULL, NULL) < 0 || jp_expect(j, ':') < 0 ||
			    jp_skip(j, depth + 1) < 0)
				return -1;
			if (jp_peek(j) == ',') {
				j->p++;
				continue;
			}
			return jp_expect(j, '}');
		}
	case -1:
		return jp_fail(j, "unexpected end of body");
	default:
		return jp_number(j, &d);
	}
}

struct rows {
	double (*x)[N_FEATURES];
	size_t n, cap;
};

/* [f0, f1, f2, f3] appended to rows. */
static int jp_row(struct jp *j, struct rows *r)
{
	double x[N_FEATURES];
	size_t k = 0;

	if (jp_peek(j) != '[')
		return jp_fail(j, "each instance must be an array of %d numbers", N_FEATURES);
	j->p++;
	if (jp_peek(j) != ']') {
		for (;;) {
			double v;

			if (jp_peek(j) == '[' || jp_peek(j) == '{' || jp_peek(j) == '"')
				return jp_fail(j, "features must be numbers");
			if (jp_number(j, &v) < 0)
				return -1;
			if (k == N_FEATURES)
				return jp_fail(j, "expected %d features per instance, got more", N_FEATURES);
			x[k++] = v;
			if (jp_peek(j) != ',')
				break;
			j->p++;
		}
	}
	if (jp_expect(j, ']') < 0)
		return -1;
	if (k != N_FEATURES)
		return jp_fail(j, "expected %d features per instance, got %zu", N_FEATURES, k);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		void *p = realloc(r->x, cap * sizeof(*r->x));

		if (!p)
			return jp_fail(j, "out of memory");
		r->x = p;
		r->cap = cap;
	}
	memcpy(r->x[r->n++], x, sizeof(x));
	return 0;
}

/*
 * Parse {"features": [...]} or {"instances": [[...], ...]}.  Other keys are
 * ignored; exactly one of the two must be present.
 */
static int parse_request(const char *body, size_t len, struct rows *r, char *err, size_t errlen)
{
	struct jp j = { body, body, body + len, "" };
	int seen = 0;

	if (jp_expect(&j, '{') < 0)
		goto fail;
	if (jp_peek(&j) != '}') {
		for (;;) {
			const char *key;
			size_t n;

			if (jp_string(&j, &key, &n) < 0 || jp_expect(&j, ':') < 0)
				goto fail;
			if ((n == 8 && !memcmp(key, "features", 8)) ||
			    (n == 9 && !memcmp(key, "instances", 9))) {
				if (seen++) {
					jp_fail(&j, "give one of \"features\" or \"instances\", once");
					goto fail;
				}
				if (n == 8) {
					if (jp_row(&j, r) < 0)
						goto fail;
				} else {
					if (jp_expect(&j, '[') < 0)
						goto fail;
					if (jp_peek(&j) != ']') {
						for (;;) {
							if (jp_row(&j, r) < 0)
								goto fail;
							if (jp_peek(&j) != ',')
								break;
							j.p++;
						}
					}
					if (jp_expect(&j, ']') < 0)
						goto fail;
				}
			} else if (jp_skip(&j, 1) < 0) {
				goto fail;
			}
			if (jp_peek(&j) != ',')
				break;
			j.p++;
		}
	}
	if (jp_expect(&j, '}') < 0)
		goto fail;
	if (jp_peek(&j) != -1) {
		jp_fail(&j, "trailing data after the JSON object");
		goto fail;
	}
	if (!seen) {
		jp_fail(&j, "missing \"features\" (one instance) or \"instances\" (a list)");
		goto fail;
	}
	if (r->n == 0) {
		jp_fail(&j, "\"instances\" is empty");
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s", j.err[0] ? j.err : "malformed JSON");
	return -1;
}

/* ---- HTTP ---- */

struct response {
	int status;
	const char *content_type;
	const char *allow;		/* for 405 */
	struct out body;
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void set_error(struct response *res, int status, const char *msg)
{
	res->status = status;
	res->content_type = "application/json";
	res->body.len = 0;
	OUT_LIT(&res->body, "{\"error\":");
	out_json_str(&res->body, msg);
	OUT_LIT(&res->body, "}\n");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void send_response(int fd, const struct response *res, int head_only)
{
	char hdr[512];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "%s%s%s"
		     "Connection: close\r\n"
		     "\r\n",
		     res->status, reason(res->status), res->content_type, res->body.len,
		     res->allow ? "Allow: " : "", res->allow ? res->allow : "", res->allow ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return;
	if (write_all(fd, hdr, (size_t)n) < 0)
		return;
	if (!head_only && res->body.len)
		write_all(fd, res->body.p, res->body.len);
}

/* Case-insensitive header lookup in the raw header block; value is trimmed. */
static int header_value(const char *hdrs, const char *name, char *val, size_t vlen, int *count)
{
	size_t nlen = strlen(name);
	const char *line = hdrs;
	int found = 0;

	*count = 0;
	while (*line) {
		const char *eol = strstr(line, "\r\n");

		if (!eol)
			eol = line + strlen(line);
		if ((size_t)(eol - line) > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
			const char *v = line + nlen + 1, *e = eol;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (!found) {
				size_t n = (size_t)(e - v) < vlen - 1 ? (size_t)(e - v) : vlen - 1;

				memcpy(val, v, n);
				val[n] = '\0';
			}
			found = 1;
			(*count)++;
		}
		line = *eol ? eol + 2 : eol;
	}
	return found;
}

static int valid_headers(const char *hdrs)
{
	const char *line = hdrs;

	while (*line) {
		const char *eol = strstr(line, "\r\n"), *colon;

		if (!eol)
			eol = line + strlen(line);
		colon = memchr(line, ':', (size_t)(eol - line));
		/* a name is a non-empty token: no spaces before the colon */
		if (!colon || colon == line || memchr(line, ' ', (size_t)(colon - line)) ||
		    memchr(line, '\t', (size_t)(colon - line)))
			return 0;
		line = *eol ? eol + 2 : eol;
	}
	return 1;
}

static void handle_predict(const struct model *m, const char *body, size_t len, struct response *res)
{
	struct rows rows = { NULL, 0, 0 };
	char err[200];
	size_t i;
	int c;

	if (parse_request(body, len, &rows, err, sizeof(err)) < 0) {
		char msg[240];

		snprintf(msg, sizeof(msg), "invalid request body: %s", err);
		set_error(res, 400, msg);
		free(rows.x);
		return;
	}
	res->status = 200;
	res->content_type = "application/json";
	OUT_LIT(&res->body, "{\"predictions\":[");
	for (i = 0; i < rows.n; i++) {
		double prob[N_CLASSES];

		c = model_predict(m, rows.x[i], prob);
		if (i)
			OUT_LIT(&res->body, ",");
		out_json_str(&res->body, class_names[c]);
		/* stash the probabilities in place of the features for the second array */
		memcpy(rows.x[i], prob, sizeof(prob));
	}
	OUT_LIT(&res->body, "],\"probabilities\":[");
	for (i = 0; i < rows.n; i++) {
		out_printf(&res->body, "%s[", i ? "," : "");
		for (c = 0; c < N_CLASSES; c++)
			out_printf(&res->body, "%s%.6g", c ? "," : "", rows.x[i][c]);
		OUT_LIT(&res->body, "]");
	}
	OUT_LIT(&res->body, "]}\n");
	free(rows.x);
}

static void handle_metadata(const struct model *m, struct response *res)
{
	int c, j;

	res->status = 200;
	res->content_type = "application/json";
	OUT_LIT(&res->body, "{\"name\":\"iris\",\"platform\":\"custom-logreg\",");
	OUT_LIT(&res->body, "\"model\":\"multinomial logistic regression\",\"weights\":");
	out_json_str(&res->body, m->path);
	OUT_LIT(&res->body, ",\"inputs\":[");
	for (j = 0; j < N_FEATURES; j++) {
		if (j)
			OUT_LIT(&res->body, ",");
		out_json_str(&res->body, feature_names[j]);
	}
	OUT_LIT(&res->body, "],\"outputs\":[");
	for (c = 0; c < N_CLASSES; c++) {
		if (c)
			OUT_LIT(&res->body, ",");
		out_json_str(&res->body, class_names[c]);
	}
	OUT_LIT(&res->body, "]}\n");
}

static void route(const struct model *m, const char *method, const char *path,
		  const char *body, size_t len, struct response *res)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	if (!strcmp(path, "/predict")) {
		if (strcmp(method, "POST") != 0) {
			res->allow = "POST";
			set_error(res, 405, "use POST for /predict");
			return;
		}
		handle_predict(m, body, len, res);
		return;
	}
	if (!strcmp(path, "/healthz") || !strcmp(path, "/v2/health/live") ||
	    !strcmp(path, "/v2/health/ready") || !strcmp(path, "/metadata")) {
		if (!get) {
			res->allow = "GET, HEAD";
			set_error(res, 405, "method not allowed");
			return;
		}
		res->status = 200;
		if (!strcmp(path, "/healthz")) {
			res->content_type = "text/plain";
			OUT_LIT(&res->body, "ok\n");
		} else if (!strcmp(path, "/v2/health/live")) {
			res->content_type = "application/json";
			OUT_LIT(&res->body, "{\"live\":true}\n");
		} else if (!strcmp(path, "/v2/health/ready")) {
			res->content_type = "application/json";
			OUT_LIT(&res->body, "{\"ready\":true}\n");
		} else {
			handle_metadata(m, res);
		}
		return;
	}
	set_error(res, 404, "not found");
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { seconds, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * Close after the client has seen the response: stop writing, then read and
 * drop what it still sends (an unread request body would otherwise make the
 * kernel answer with RST, which can destroy the response in flight).
 */
static void lingering_close(int fd)
{
	char sink[4096];
	size_t total = 0;

	shutdown(fd, SHUT_WR);
	set_timeouts(fd, 1);
	while (total < 4 * MAX_REQUEST) {
		ssize_t r = recv(fd, sink, sizeof(sink), 0);

		if (r <= 0)
			break;
		total += (size_t)r;
	}
	close(fd);
}

/*
 * "METHOD SP TARGET SP VERSION": a method of capital letters, an
 * origin-form target, single spaces, no other whitespace.
 */
static int split_request_line(const char *line, char *method, size_t mlen, char *path,
			      size_t plen, char *version, size_t vlen)
{
	const char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	const char *q;

	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line || sp2 == sp1 + 1 || !sp2[1])
		return -1;
	if ((size_t)(sp1 - line) >= mlen || (size_t)(sp2 - sp1 - 1) >= plen || strlen(sp2 + 1) >= vlen)
		return -1;
	for (q = line; q < sp1; q++)
		if (*q < 'A' || *q > 'Z')
			return -1;
	for (q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return -1;
	if (sp1[1] != '/')
		return -1;
	memcpy(method, line, (size_t)(sp1 - line));
	method[sp1 - line] = '\0';
	memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	path[sp2 - sp1 - 1] = '\0';
	strcpy(version, sp2 + 1);
	return 0;
}

static void serve_one(const struct model *m, int fd)
{
	static char req[MAX_REQUEST + 1];
	struct response res = { 0, "text/plain", NULL, { NULL, 0, 0 } };
	char method[16] = "", path[1024] = "", version[16] = "", val[64], *hdr_end, *p, *q;
	size_t len = 0, hdr_len, body_len = 0;
	int head_only = 0, count;

	set_timeouts(fd, IO_TIMEOUT_S);

	/* Read until the end of the headers, within the cap. */
	for (;;) {
		ssize_t r;

		req[len] = '\0';
		if ((hdr_end = strstr(req, "\r\n\r\n")) != NULL)
			break;
		if (len == MAX_REQUEST) {
			set_error(&res, 431, "request headers too large");
			goto respond;
		}
		r = recv(fd, req + len, MAX_REQUEST - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (len == 0)
				goto out;
			set_error(&res, 408, "timed out reading the request");
			goto respond;
		}
		if (r <= 0) {
			if (len == 0)
				goto out;	/* connected and left: nothing to answer */
			set_error(&res, 400, "connection closed mid-request");
			goto respond;
		}
		if (memchr(req + len, '\0', (size_t)r)) {
			len += (size_t)r;
			set_error(&res, 400, "NUL byte in request headers");
			goto respond;
		}
		len += (size_t)r;
	}
	hdr_len = (size_t)(hdr_end - req) + 4;
	*hdr_end = '\0';

	/* Request line: METHOD SP TARGET SP HTTP/1.x */
	p = strstr(req, "\r\n");
	if (p)
		*p = '\0';
	if (split_request_line(req, method, sizeof(method), path, sizeof(path),
			       version, sizeof(version)) < 0) {
		method[0] = path[0] = '\0';
		set_error(&res, 400, "malformed request line");
		goto respond;
	}
	if (strncmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1') || version[8]) {
		set_error(&res, strncmp(version, "HTTP/", 5) ? 400 : 505,
			  "only HTTP/1.0 and HTTP/1.1 are supported");
		goto respond;
	}
	head_only = !strcmp(method, "HEAD");
	if ((q = strchr(path, '?')) != NULL)
		*q = '\0';
	p = p ? p + 2 : req + strlen(req);	/* header block, NUL-terminated */
	if (!valid_headers(p)) {
		set_error(&res, 400, "malformed header line");
		goto respond;
	}
	if (version[7] == '1' && !header_value(p, "Host", val, sizeof(val), &count)) {
		set_error(&res, 400, "HTTP/1.1 request without a Host header");
		goto respond;
	}
	if (header_value(p, "Transfer-Encoding", val, sizeof(val), &count)) {
		set_error(&res, 411, "chunked bodies are not supported; send Content-Length");
		goto respond;
	}
	if (header_value(p, "Content-Length", val, sizeof(val), &count)) {
		char *e;
		unsigned long long cl;

		if (count > 1 || !val[0] || strspn(val, "0123456789") != strlen(val) || strlen(val) > 12) {
			set_error(&res, 400, "invalid Content-Length");
			goto respond;
		}
		cl = strtoull(val, &e, 10);
		if (cl > MAX_REQUEST - hdr_len) {
			set_error(&res, 413, "request larger than 64 KiB");
			goto respond;
		}
		body_len = (size_t)cl;
	} else if (!strcmp(method, "POST")) {
		set_error(&res, 411, "Content-Length required");
		goto respond;
	}
	if (len - hdr_len > body_len) {
		set_error(&res, 400, "more data than Content-Length (pipelining is not supported)");
		goto respond;
	}
	if (len < hdr_len + body_len && header_value(p, "Expect", val, sizeof(val), &count) &&
	    !strcasecmp(val, "100-continue"))
		write_all(fd, CONTINUE_100, sizeof(CONTINUE_100) - 1);
	while (len < hdr_len + body_len) {
		ssize_t r = recv(fd, req + len, hdr_len + body_len - len, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_error(&res, 408, "timed out reading the request body");
			goto respond;
		}
		if (r <= 0) {
			set_error(&res, 400, "connection closed before the whole body arrived");
			goto respond;
		}
		len += (size_t)r;
	}
	req[len] = '\0';
	route(m, method, path, req + hdr_len, body_len, &res);
respond:
	if (res.status == 0)
		set_error(&res, 500, "internal error");
	send_response(fd, &res, head_only);
	logf_("%s %s %d", method[0] ? method : "-", path[0] ? path : "-", res.status);
out:
	free(res.body.p);
	lingering_close(fd);
}

static int parse_port(const char *s, int *port)
{
	char *e;
	long v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: server [--port N] [--host ADDR] [--model PATH]\n"
		"  env PORT (default 3000), MODEL_PATH (default %s)\n", DEFAULT_MODEL);
}

int main(int argc, char **argv)
{
	const char *model_path = getenv("MODEL_PATH"), *host = "0.0.0.0", *env_port = getenv("PORT");
	struct sockaddr_in addr;
	socklen_t alen = sizeof(addr);
	struct sigaction sa;
	sigset_t block, orig;
	static struct model model;
	int port = 3000, fd, one = 1, i;

	if (!model_path || !*model_path)
		model_path = DEFAULT_MODEL;
	if (env_port && *env_port && parse_port(env_port, &port) < 0) {
		logf_("invalid PORT '%s'", env_port);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc || (strcmp(a, "--port") && strcmp(a, "--model") && strcmp(a, "--host"))) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--port")) {
			if (parse_port(argv[++i], &port) < 0) {
				logf_("invalid --port '%s'", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--model")) {
			model_path = argv[++i];
		} else {
			host = argv[++i];
		}
	}

	if (model_load(&model, model_path) < 0)
		return 1;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		logf_("invalid --host '%s' (an IPv4 address)", host);
		return 2;
	}
	/* non-blocking, so a peer that vanishes between poll and accept cannot stall us */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		logf_("socket: %s", strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		logf_("%s:%d: %s", host, port, strerror(errno));
		return 1;
	}
	if (getsockname(fd, (struct sockaddr *)&addr, &alen) == 0)
		port = ntohs(addr.sin_port);

	/*
	 * SIGTERM/SIGINT stay blocked except inside ppoll(), so a signal either
	 * wakes the wait or is seen right after the request in hand: no race
	 * between testing the flag and going to sleep.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);

	logf_("model %s loaded; listening on %s:%d", model_path, host, port);
	while (!stop_signal) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int c;

		if (ppoll(&pfd, 1, NULL, &orig) < 0) {
			if (errno == EINTR)
				continue;
			logf_("poll: %s", strerror(errno));
			close(fd);
			return 1;
		}
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			/* the peer gave up, or fds ran out: keep serving */
			if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				logf_("accept: %s", strerror(errno));
			continue;
		}
		serve_one(&model, c);
	}
	close(fd);
	logf_("%s received, exiting", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	return 0;
}
