/*
 * target_internal.h - the operations a target backend implements.
 * target.c dispatches bento_target_* to them; registry.c and layout.c each
 * provide one table.
 */
#ifndef BENTO_TARGET_INTERNAL_H
#define BENTO_TARGET_INTERNAL_H

#include "target.h"

struct bento_target_ops {
	int (*open)(struct bento_target *t, struct bento_error *err);
	void (*close)(struct bento_target *t);
	int (*blob_exists)(struct bento_target *t, const struct bento_digest *d, uint64_t *size,
			   struct bento_error *err);
	int (*blob_put)(struct bento_target *t, const struct bento_blob_source *src,
			const char *from_repo, struct bento_error *err);
	int (*blob_get)(struct bento_target *t, const struct bento_digest *d, uint64_t expect_size,
			bento_sink_fn sink, void *ctx, struct bento_hasher *sink_hashes,
			struct bento_error *err);
	int (*manifest_put)(struct bento_target *t, const char *reference, const char *media_type,
			    const void *data, size_t len, struct bento_digest *out,
			    struct bento_error *err);
	int (*manifest_get)(struct bento_target *t, const char *reference, struct bento_buf *out,
			    char **media_type, struct bento_digest *digest, struct bento_error *err);
	int (*referrers)(struct bento_target *t, const struct bento_digest *subject,
			 struct bento_buf *index, struct bento_error *err);
	int (*referrer_add)(struct bento_target *t, const struct bento_digest *subject,
			    const char *descriptor_json, struct bento_error *err);
};

struct bento_target {
	const struct bento_target_ops *ops;
	struct bento_target_ref ref;		/* a copy, owned */
	struct bento_target_opts opts;		/* docker_config copied */
	struct bento_target_stats stats;
	void *impl;				/* the backend's state */
};

extern const struct bento_target_ops bento_registry_ops;	/* registry.c */
extern const struct bento_target_ops bento_layout_ops;		/* layout.c */

#endif
