#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

char bento_buf_empty[1];

static void oom(void)
{
	fputs("bento: out of memory\n", stderr);
	abort();
}

void *bento_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *bento_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *bento_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *bento_xstrdup(const char *s)
{
	return bento_xstrndup(s, strlen(s));
}

char *bento_xstrndup(const char *s, size_t n)
{
	char *p = bento_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *bento_xasprintf(const char *fmt, ...)
{
	struct bento_buf b = BENTO_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	bento_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return bento_buf_detach(&b, NULL);
}

void bento_buf_init(struct bento_buf *b)
{
	b->buf = bento_buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void bento_buf_release(struct bento_buf *b)
{
	if (b->alloc)
		free(b->buf);
	bento_buf_init(b);
}

void bento_buf_grow(struct bento_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need < b->len)
		oom();
	if (need <= b->alloc)
		return;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n = n < (SIZE_MAX / 2) ? n * 2 : need;
	if (!b->alloc) {
		b->buf = bento_xmalloc(n);
		b->buf[0] = '\0';
	} else {
		b->buf = bento_xrealloc(b->buf, n);
	}
	b->alloc = n;
}

void bento_buf_reset(struct bento_buf *b)
{
	bento_buf_setlen(b, 0);
}

void bento_buf_setlen(struct bento_buf *b, size_t len)
{
	if (!b->alloc) {
		if (len)
			abort();
		return;
	}
	if (len >= b->alloc)
		abort();
	b->len = len;
	b->buf[len] = '\0';
}

void bento_buf_add(struct bento_buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	bento_buf_grow(b, n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void bento_buf_adds(struct bento_buf *b, const char *s)
{
	bento_buf_add(b, s, strlen(s));
}

void bento_buf_addch(struct bento_buf *b, int c)
{
	char ch = (char)c;
	bento_buf_add(b, &ch, 1);
}

void bento_buf_vaddf(struct bento_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		abort();
	bento_buf_grow(b, (size_t)n);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void bento_buf_addf(struct bento_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bento_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *bento_buf_detach(struct bento_buf *b, size_t *len)
{
	char *p;

	if (!b->alloc)
		bento_buf_grow(b, 0);
	p = b->buf;
	if (len)
		*len = b->len;
	bento_buf_init(b);
	return p;
}

int bento_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t extra;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			extra = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			extra = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + extra >= n)
			return 0;
		for (size_t k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += extra + 1;
	}
	return 1;
}
