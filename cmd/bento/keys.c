/* bento key, bento sign, and the key handling other commands share. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <dirent.h>

#include <sodium.h>

#include "buf.h"
#include "cjson.h"
#include "cli.h"
#include "fs.h"
#include "history.h"
#include "manifest.h"
#include "sign.h"
#include "trust.h"

static void free_secret(char *p)
{
	if (p) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

/* BENTO_KEY_PASSWORD, else the terminal; NULL (with a message) when neither. */
static char *password_for(const char *keyfile, int twice)
{
	const char *env = getenv("BENTO_KEY_PASSWORD");
	char *p, *again;

	if (env)
		return bento_xstrdup(env);
	p = cli_read_password(twice ? "password for the new key: " : "password: ");
	if (!p) {
		fprintf(stderr, "bento: error: %s: needs a password: set BENTO_KEY_PASSWORD or run on a terminal\n",
			keyfile);
		return NULL;
	}
	if (twice) {
		again = cli_read_password("again: ");
		if (!again || strcmp(p, again) != 0) {
			fprintf(stderr, "bento: error: the passwords differ\n");
			free_secret(p);
			free_secret(again);
			return NULL;
		}
		free_secret(again);
	}
	return p;
}

/* A key name without '/' means keys/NAME.key (or .pub). */
static char *key_path(const char *arg, const char *ext)
{
	struct stat st;

	if (strchr(arg, '/') || stat(arg, &st) == 0)
		return bento_xstrdup(arg);
	char *dir = bento_config_path("keys"), *p = bento_xasprintf("%s/%s%s", dir, arg, ext);
	free(dir);
	return p;
}

int cli_load_signing_key(const char *arg, struct bento_seckey *k)
{
	struct bento_error err = { 0 };
	const char *env = getenv("BENTO_SIGNING_KEY");
	char *path, *pw = NULL;
	int rc;

	if (arg)
		path = key_path(arg, ".key");
	else if (env && *env)
		path = bento_xstrdup(env);
	else
		path = key_path("default", ".key");
	rc = bento_seckey_encrypted(path, &err);
	if (rc < 0) {
		if (!arg && !(env && *env) && rc == -ENOENT) {
			fprintf(stderr, "bento: error: no signing key: pass --key KEY, set BENTO_SIGNING_KEY, "
					"or create one with 'bento key generate'\n");
			rc = 1;
		} else {
			/* Key problems are exit 1 (bento-sign(1)), a key others may read 3. */
			rc = cli_fail(rc, &err) == 3 ? 3 : 1;
		}
		free(path);
		return rc;
	}
	if (rc == 1 && !(pw = password_for(path, 0))) {
		free(path);
		return 1;
	}
	rc = bento_seckey_load(path, pw, k, &err);
	free_secret(pw);
	free(path);
	return rc ? cli_fail(rc, &err) : 0;
}

int cli_keyring(char **files, size_t n, struct bento_keyring *kr)
{
	struct bento_error err = { 0 };
	int rc = bento_keyring_add_trusted(kr, &err);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = bento_keyring_add_file(kr, files[i], &err);
	return rc ? cli_fail(rc, &err) : 0;
}

/* ---- bento key ---- */

static int key_generate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "no-password", no_argument, NULL, 'N' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = "default";
	enum cli_output out = CLI_OUT_TEXT;
	struct bento_error err = { 0 };
	struct bento_pubkey pub;
	char *dir, *sec, *pubp, *pw = NULL, id[BENTO_KEYID_HEXLEN + 1];
	int c, rc, nopw = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'N')
			nopw = 1;
		else if (c == 'o') {
			if ((rc = cli_output_parse("key", optarg, CLI_OUT_TEXT | CLI_OUT_JSON, &out)))
				return rc;
		} else
			return cli_usage("key", "invalid option");
	}
	if (optind != argc)
		return cli_usage("key", "generate takes no arguments");
	if (bento_name_check(name, "--name", &err))
		return cli_usage("key", "%s", err.msg);
	dir = bento_config_path("keys");
	sec = bento_xasprintf("%s/%s.key", dir, name);
	pubp = bento_xasprintf("%s/%s.pub", dir, name);
	if (!nopw && !(pw = password_for(sec, 1))) {
		rc = 1;
		goto out;
	}
	if ((rc = bento_mkdir_p(dir, 0700, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if ((rc = bento_key_generate(sec, pubp, pw, &pub, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	bento_keyid_hex(pub.keyid, id);
	if (out == CLI_OUT_JSON) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "keyid", id, "secret_key", sec,
				      "public_key", pubp, "encrypted", !nopw);
		cli_print_json(j);
		json_decref(j);
	} else {
		printf("key %s\nsecret key: %s%s\npublic key: %s\n", id, sec,
		       nopw ? " (not encrypted)" : "", pubp);
		fprintf(stderr, "trust it for verification with: bento key trust %s\n", pubp);
	}
out:
	free_secret(pw);
	free(dir);
	free(sec);
	free(pubp);
	return rc;
}

static int key_trust(int argc, char **argv)
{
	struct bento_error err = { 0 };
	struct bento_pubkey k;
	struct bento_buf text = BENTO_BUF_INIT;
	char id[BENTO_KEYID_HEXLEN + 1], *dir = NULL, *dest = NULL;
	int rc;

	if (argc != 2)
		return cli_usage("key", "trust wants one public key file");
	if ((rc = bento_pubkey_load(argv[1], &k, &err)))
		return cli_fail(rc, &err);
	bento_keyid_hex(k.keyid, id);
	dir = bento_config_path("trusted");
	dest = bento_xasprintf("%s/%s.pub", dir, id);
	bento_pubkey_format(&k, &text);
	/* A key written where others can write would not be trusted: say so now. */
	if ((rc = bento_mkdir_p(dir, 0755, &err)) || (rc = bento_trust_dirs_check(&err))) {
		rc = cli_fail(rc, &err);
	} else if ((rc = bento_write_file_atomic(dest, text.buf, text.len, 0644, 0, &err))) {
		rc = cli_fail(rc, &err);
	} else {
		printf("trusted key %s (%s)\n", id, dest);
	}
	bento_buf_release(&text);
	free(dir);
	free(dest);
	return rc;
}

static void list_dir_keys(const char *sub, const char *role, json_t *arr)
{
	char *dir = bento_config_path(sub);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct bento_pubkey k;
		char id[BENTO_KEYID_HEXLEN + 1];
		if (len <= 4 || strcmp(de->d_name + len - 4, ".pub") != 0)
			continue;
		char *p = bento_xasprintf("%s/%s", dir, de->d_name);
		if (bento_pubkey_load(p, &k, NULL) == 0) {
			bento_keyid_hex(k.keyid, id);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "keyid", id, "role", role,
							     "file", p));
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
}

static int entry_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(bento_json_str(x, "role"), bento_json_str(y, "role"));
	return c ? c : strcmp(bento_json_str(x, "file"), bento_json_str(y, "file"));
}

static int key_list(int argc, char **argv)
{
	struct cli_simple_opts o = { .out = CLI_OUT_TABLE };
	json_t *arr = json_array(), *sorted = json_array();
	size_t n;
	int rc;

	if ((rc = cli_simple_opts("key", argc, argv, CLI_OUT_TABLE | CLI_OUT_JSON, "", &o)))
		return rc;
	list_dir_keys("keys", "own", arr);
	list_dir_keys("trusted", "trusted", arr);
	n = json_array_size(arr);
	json_t **v = bento_xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(arr, i);
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	if (o.out == CLI_OUT_JSON) {
		cli_print_json(sorted);
	} else {
		printf("%-16s  %-7s  %s\n", "KEY", "ROLE", "FILE");
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(sorted, i);
			printf("%-16s  %-7s  %s\n", bento_json_str(e, "keyid"), bento_json_str(e, "role"),
			       bento_json_str(e, "file"));
		}
	}
	json_decref(arr);
	json_decref(sorted);
	return 0;
}

static int key_untrust(int argc, char **argv)
{
	struct bento_error err = { 0 };
	char *dir;
	DIR *d;
	struct dirent *de;
	int rc = 0, found = 0;

	if (argc != 2)
		return cli_usage("key", "untrust wants a key id (or a trusted key's file)");
	dir = bento_config_path("trusted");
	d = opendir(dir);
	/* Every file holding the key: a key trusted twice must not stay trusted. */
	while (d && rc == 0 && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct bento_pubkey k;
		char id[BENTO_KEYID_HEXLEN + 1], *p;
		if (len <= 4 || strcmp(de->d_name + len - 4, ".pub") != 0)
			continue;
		p = bento_xasprintf("%s/%s", dir, de->d_name);
		if (bento_pubkey_load(p, &k, NULL) == 0) {
			bento_keyid_hex(k.keyid, id);
			if (strcasecmp(id, argv[1]) == 0 || strcmp(p, argv[1]) == 0) {
				if (unlink(p) < 0)
					rc = cli_fail(bento_error_errno(&err, errno, "%s", p), &err);
				else
					printf("no longer trusted: key %s (%s)\n", id, p);
				found = 1;
			}
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
	if (rc == 0 && !found) {
		fprintf(stderr, "bento: error: no trusted key '%s'\n", argv[1]);
		rc = 4;
	}
	return rc;
}

int cmd_key(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("key", "wants a subcommand: generate, trust, list, untrust");
	if (strcmp(argv[1], "generate") == 0)
		return key_generate(argc - 1, argv + 1);
	if (strcmp(argv[1], "trust") == 0)
		return key_trust(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return key_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "untrust") == 0)
		return key_untrust(argc - 1, argv + 1);
	return cli_usage("key", "unknown subcommand '%s' (generate, trust, list, untrust)", argv[1]);
}

/* ---- bento sign ---- */

int cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_object_ref ref = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	struct bento_seckey k;
	const char *key = NULL;
	char id[BENTO_KEYID_HEXLEN + 1];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:", longopts, NULL)) != -1) {
		if (c == 'k')
			key = optarg;
		else
			return cli_usage("sign", "invalid option");
	}
	if (argc - optind != 1)
		return cli_usage("sign", "wants one REF");
	if ((rc = cli_open_store(&s)))
		return rc;
	if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, argv[optind], &ref, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if ((rc = cli_load_signing_key(key, &k)))
		goto out;
	rc = bento_sign_stored(s, &ref.digest, &k, &err);
	bento_keyid_hex(k.keyid, id);
	bento_seckey_wipe(&k);
	if (rc)
		rc = cli_fail(rc, &err);
	else
		printf("signed %s:%s with key %s\n", ref.name, ref.version, id);
out:
	bento_object_ref_release(&ref);
	bento_store_close(s);
	return rc;
}
