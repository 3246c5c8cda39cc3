/*
 * bentofile.h - parse bentofile.yaml (libyaml) into a typed struct.
 *
 * The format is documented in man/bentofile.5 and schema/bentofile.schema.json.
 * Errors name the file and the position: "bentofile.yaml:7:3: unknown key
 * 'modles' (did you mean 'models'?)", "bentofile.yaml:4:10: 'labels' must be
 * a mapping of strings, got a sequence".  Any error returns -BENTO_E_INVALID.
 */
#ifndef BENTO_BENTOFILE_H
#define BENTO_BENTOFILE_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"

struct bento_pos {
	int line, col;		/* 1-based; 0 when not from a file */
};

struct bento_kv {
	char *key, *value;
	struct bento_pos pos;
};

struct bento_kvlist {
	struct bento_kv *v;
	size_t n;
};

struct bento_str {
	char *s;
	struct bento_pos pos;
};

struct bento_strlist {
	struct bento_str *v;
	size_t n;
};

/* One entry of "models:". Either a store tag or an on-the-fly import. */
struct bentofile_model {
	char *tag;		/* "name", "name:version", "name:latest"; NULL if path */
	char *name;		/* with path: the model name to import under */
	char *version;		/* with path: optional version */
	char *path;		/* with path: directory or file, relative to the context */
	char *framework;	/* with path: optional */
	struct bento_pos pos;
};

struct bentofile {
	char *file;		/* the path as given, for messages */
	char *name;		/* NULL when absent */
	char *version;
	char *description;
	struct bento_strlist service;	/* argv, exec form; string form is split like a shell */
	struct bento_pos service_pos;
	struct bento_kvlist labels;
	struct bento_kvlist envs;
	struct bento_strlist include;	/* globs; empty = everything */
	struct bento_strlist exclude;
	struct bentofile_model *models;
	size_t n_models;
	struct bento_strlist lockfiles;	/* explicit lockfile paths; empty = autodetect */
	/* image: (alias docker:) */
	char *image_base;
	char *image_user;
	char *image_workdir;
	struct bento_kvlist image_env;
	long long *image_ports;
	size_t n_image_ports;
	/* runtime hints; -1 / NULL when absent */
	char *res_cpu, *res_memory;
	long long res_gpu;
	long long traffic_timeout, traffic_max_concurrency;
	long long batch_max_size, batch_max_latency_ms;
	long long scale_min, scale_max;
};

/*
 * Parse bentofile bytes.  file is the name used in messages.  On success *out
 * is a new struct the caller frees with bentofile_free().
 */
int bentofile_parse(const char *data, size_t len, const char *file,
		    struct bentofile **out, struct bento_error *err);

/* Read and parse a file (capped at 1 MiB). */
int bentofile_load(const char *path, struct bentofile **out, struct bento_error *err);

void bentofile_free(struct bentofile *bf);	/* NULL is a no-op */

/*
 * The "service" object of bento.json built from bf: entrypoint, envs, and
 * the image/resources/traffic/batching/scaling hints that were given (absent
 * ones are left out, so the object is stable).  Returns a new reference.
 */
json_t *bentofile_service_json(const struct bentofile *bf);

/*
 * Split a command string into argv the way a POSIX shell would (single and
 * double quotes, backslashes, whitespace) without running one.  Unquoted
 * shell operators and expansions ($ ` | ; & < > ( )) are refused with
 * -BENTO_E_INVALID, since no shell runs to give them meaning; use the list
 * form or an explicit ["sh", "-c", ...] for those.
 */
int bentofile_split_command(const char *s, char ***argv, size_t *argc, struct bento_error *err);

#endif
