/*
 * cli.h - what every subcommand shares: the command table entry, error
 * printing and exit codes, output formats, opening the store.
 */
#ifndef BENTO_CLI_H
#define BENTO_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "build.h"
#include "error.h"
#include "store.h"

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;	/* "bento build [CONTEXT] [-f BENTOFILE] ..." */
};

/* The sorted table in main.c. */
extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* Print "bento: error: <msg>" once (control characters as '?') and return the exit code for rc. */
int cli_fail(int rc, const struct bento_error *err);
/* Usage error: message plus a pointer to help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the usage of cmd on stdout; returns 0. */
int cli_help(const char *cmd);
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open the store at $BENTO_HOME / default; on failure prints and returns the exit code. */
int cli_open_store(struct bento_store **s);

enum cli_output {
	CLI_OUT_TABLE = 1 << 0,
	CLI_OUT_JSON = 1 << 1,
	CLI_OUT_YAML = 1 << 2,
	CLI_OUT_PATH = 1 << 3,
	CLI_OUT_TAG = 1 << 4,
	CLI_OUT_TEXT = 1 << 5,
};
/* Parse -o VALUE among the allowed set; 0 or a usage exit code (printed). */
int cli_output_parse(const char *cmd, const char *s, unsigned allowed, enum cli_output *out);

/* Print v as indented JSON with sorted keys and a newline; steals no reference. */
void cli_print_json(const json_t *v);
/* Print v as YAML (block style) on stdout. */
void cli_print_yaml(const json_t *v);

/* "1.5 GiB" style. */
void cli_human_size(uint64_t n, char out[32]);
/* "2026-11-21 23:41" local time, or "-" for 0. */
void cli_human_time(int64_t t, char out[32]);

/* Parse "K=V" into newly allocated key/value; returns 0 or prints a usage error (2). */
int cli_parse_label(const char *cmd, const char *arg, char **key, char **value);

/* Short digest for tables: "sha256:0123456789ab". */
void cli_short_digest(const struct bento_digest *d, char out[20]);

/* Print a build/import result: text ("VERB name:version" + digest), json, or tag. */
void cli_print_result(const struct bento_build_result *r, enum cli_output out, const char *verb);

/*
 * Options most commands take: -o FORMAT (among formats; 0 = none) and the
 * flags named in flags: 'y' (-y/--yes), 'F' (--force), 'n' (-n/--dry-run),
 * 'P' (--provenance).
 * Positional arguments are left in argv[optind..].  0 or a usage exit code.
 */
struct cli_simple_opts {
	enum cli_output out;
	int yes, force, dry_run, provenance;
};
int cli_simple_opts(const char *cmd, int argc, char **argv, unsigned formats, const char *flags,
		    struct cli_simple_opts *o);

/* The object commands bentos and models share (objects.c). */
int cli_list_objects(enum bento_kind kind, const char *cmd, int argc, char **argv);
int cli_get_object(enum bento_kind kind, const char *cmd, int argc, char **argv);
int cli_delete_objects(enum bento_kind kind, const char *cmd, int argc, char **argv);

/*
 * Load the signing key: arg (a path, or NAME for keys/NAME.key), else
 * $BENTO_SIGNING_KEY, else keys/default.key; the password comes from
 * $BENTO_KEY_PASSWORD or the terminal.  0 or an exit code (printed).
 * The caller wipes *k with bento_seckey_wipe.
 */
struct bento_seckey;
struct bento_keyring;
int cli_load_signing_key(const char *arg, struct bento_seckey *k);
/* The trusted keys plus the given public key files. 0 or an exit code (printed). */
int cli_keyring(char **files, size_t n, struct bento_keyring *kr);

/*
 * Append a history event about an object (kind 0: none); details is
 * borrowed.  0 or an exit code (printed): an action that cannot be
 * recorded is reported as failed.
 */
int cli_event(struct bento_store *s, const char *action, enum bento_kind kind, const char *name,
	      const char *version, const struct bento_digest *d, json_t *details);

/*
 * Read a line from the terminal without echo (a password); NULL when there
 * is no terminal.  The caller wipes (sodium_memzero) and frees it.
 */
char *cli_read_password(const char *prompt);

/* Commands. */
int cmd_build(int argc, char **argv);
int cmd_containerize(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cli_models_push(int argc, char **argv);
int cli_models_pull(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
