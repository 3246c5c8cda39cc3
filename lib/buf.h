/*
 * buf.h - growable byte buffer (git's strbuf invariants) and a {ptr,len} view.
 *
 * Invariants: b->buf is never NULL and always NUL-terminated at b->len, so a
 * buffer can be passed as a C string at any time.  BENTO_BUF_INIT and
 * bento_buf_init() give an empty buffer without allocating.  Allocation
 * failure aborts the process (like git's xmalloc): the library treats OOM as
 * unrecoverable rather than threading it through every call.
 */
#ifndef BENTO_BUF_H
#define BENTO_BUF_H

#include <stdarg.h>
#include <stddef.h>

extern char bento_buf_empty[];

struct bento_buf {
	char *buf;
	size_t len;
	size_t alloc;	/* 0 while buf points at bento_buf_empty */
};

#define BENTO_BUF_INIT { bento_buf_empty, 0, 0 }

/* A non-owning view of bytes, for parsing. */
struct bento_view {
	const char *ptr;
	size_t len;
};

void bento_buf_init(struct bento_buf *b);
/* Free the memory and leave b empty (reusable). */
void bento_buf_release(struct bento_buf *b);
/* Ensure room for extra more bytes plus the NUL. */
void bento_buf_grow(struct bento_buf *b, size_t extra);
void bento_buf_reset(struct bento_buf *b);		/* len = 0, keep memory */
void bento_buf_setlen(struct bento_buf *b, size_t len);	/* len <= alloc-1 */
void bento_buf_add(struct bento_buf *b, const void *p, size_t n);
void bento_buf_adds(struct bento_buf *b, const char *s);
void bento_buf_addch(struct bento_buf *b, int c);
void bento_buf_addf(struct bento_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bento_buf_vaddf(struct bento_buf *b, const char *fmt, va_list ap);
/* Hand the memory over to the caller (must free()); b is left empty. */
char *bento_buf_detach(struct bento_buf *b, size_t *len);

/* 1 when the n bytes are well-formed UTF-8 (no overlongs, no surrogates). */
int bento_utf8_valid(const void *p, size_t n);

/* Checked allocation helpers (abort on OOM). */
void *bento_xmalloc(size_t n);
void *bento_xcalloc(size_t n, size_t size);
void *bento_xrealloc(void *p, size_t n);
char *bento_xstrdup(const char *s);
char *bento_xstrndup(const char *s, size_t n);
/* asprintf that aborts on OOM. */
char *bento_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
