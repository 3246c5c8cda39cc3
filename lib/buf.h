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

/* write(2) until all n bytes are written, retrying EINTR; 0 or -errno. */
int bento_write_all(int fd, const void *p, size_t n);

/*
 * mkdir -p: create path and its missing parents (mode for the last one,
 * 0755 for parents).  An existing directory is fine; an existing
 * non-directory is an error.  Returns 0 or -errno / -BENTO_E_FAIL with err
 * naming the directory.
 */
struct bento_error;
int bento_mkdir_p(const char *path, unsigned mode, struct bento_error *err);

/* Checked allocation helpers (abort on OOM). */
/*
 * The entries of dir whose names end in suffix (and are longer than it),
 * sorted bytewise so that whatever is done with them is reproducible;
 * "dir/NAME" when full, else NAME.  0, or -errno from opendir (-ENOENT for
 * a missing dir).  Free with bento_strv_free.
 */
int bento_dir_list(const char *dir, const char *suffix, int full, char ***out, size_t *n);
void bento_strv_free(char **v, size_t n);	/* NULL ok */

/* Online CPUs, at least 1, at most max (0: no cap). */
size_t bento_cpus(size_t max);
/*
 * Run fn(arg) on n threads (the caller's among them, at most
 * BENTO_PARALLEL_MAX) and return when all have returned.  The workers share
 * arg and take work from it themselves (an atomic index).
 */
#define BENTO_PARALLEL_MAX 64
void bento_parallel(void *(*fn)(void *), void *arg, size_t n);

void *bento_xmalloc(size_t n);
void *bento_xcalloc(size_t n, size_t size);
void *bento_xrealloc(void *p, size_t n);
char *bento_xstrdup(const char *s);
char *bento_xstrndup(const char *s, size_t n);
/* asprintf that aborts on OOM. */
char *bento_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
