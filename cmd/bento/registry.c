/* bento push, pull, login, logout (and models push/pull) - see bento-push(1), bento-pull(1), bento-login(1). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "dockercfg.h"
#include "trust.h"
#include "transfer.h"

static const struct option transfer_longopts[] = {
	{ "plain-http", no_argument, NULL, 'p' },
	{ "insecure", no_argument, NULL, 'i' },
	{ "require-signature", no_argument, NULL, 'r' },
	{ "key", required_argument, NULL, 'k' },
	{ "output", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

struct transfer_args {
	struct bento_target_opts topts;
	int require_signature;
	char **keys;
	size_t n_keys;
	enum cli_output out;
};

static int parse_transfer(const char *cmd, int pull, int argc, char **argv, struct transfer_args *a)
{
	int c, rc;

	memset(a, 0, sizeof(*a));
	a->out = CLI_OUT_TEXT;
	a->topts.progress = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:", transfer_longopts, NULL)) != -1) {
		switch (c) {
		case 'p': a->topts.plain_http = 1; break;
		case 'i': a->topts.insecure = 1; break;
		case 'r':
		case 'k':
			/* Only bentos carry signatures; a model's trust comes from the bentos using it. */
			if (!pull)
				return cli_usage(cmd, "--%s is for bento pull",
						 c == 'r' ? "require-signature" : "key");
			if (c == 'r') {
				a->require_signature = 1;
			} else {
				a->keys = bento_xrealloc(a->keys, (a->n_keys + 1) * sizeof(*a->keys));
				a->keys[a->n_keys++] = optarg;
			}
			break;
		case 'o':
			if ((rc = cli_output_parse(cmd, optarg, CLI_OUT_TEXT | CLI_OUT_JSON, &a->out)))
				return rc;
			break;
		default:
			return cli_usage(cmd, "invalid option");
		}
	}
	return 0;
}

static json_t *stats_json(const struct bento_target_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "blobs_uploaded",
			 (json_int_t)st->blobs_uploaded, "bytes_uploaded", (json_int_t)st->bytes_uploaded,
			 "blobs_skipped", (json_int_t)st->blobs_skipped, "blobs_mounted",
			 (json_int_t)st->blobs_mounted, "blobs_downloaded",
			 (json_int_t)st->blobs_downloaded, "bytes_downloaded",
			 (json_int_t)st->bytes_downloaded, "retries", (json_int_t)st->retries);
}

static int do_push(enum bento_kind kind, const char *cmd, int argc, char **argv)
{
	struct transfer_args a;
	struct bento_target_ref ref = { 0 };
	struct bento_object_ref obj = { 0 };
	struct bento_push_result r = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	int rc;

	if ((rc = parse_transfer(cmd, 0, argc, argv, &a)))
		return rc;
	if (argc - optind != 2) {
		rc = cli_usage(cmd, "wants REF and TARGET (HOST/REPO[:TAG] or oci:DIR[:TAG])");
		goto out;
	}
	char *fix = bento_xasprintf("bento %s %s", kind == BENTO_KIND_MODEL ? "models push" : "push",
				    argv[optind]);
	rc = bento_target_ref_parse(argv[optind + 1], &ref, &err);
	if (rc == 0)
		rc = bento_target_ref_explicit(&ref, argv[optind + 1], fix, &err);
	free(fix);
	if (rc) {
		rc = cli_usage(cmd, "%s", err.msg);
		goto out;
	}
	if ((rc = cli_open_store(&s)))
		goto out;
	if ((rc = bento_store_resolve(s, kind, argv[optind], &obj, &err)) ||
	    (rc = bento_push(s, kind, &obj.digest, &ref, &a.topts, &r, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	char d[BENTO_DIGEST_STRLEN], od[BENTO_DIGEST_STRLEN];
	bento_digest_str(&r.manifest, d);
	bento_digest_str(&obj.digest, od);
	if (a.out == CLI_OUT_JSON) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "name", obj.name,
				      "version", obj.version, "digest", od, "target", r.where,
				      "manifest", d, "layers", (json_int_t)r.layers, "referrers",
				      (json_int_t)r.referrers, "stats", stats_json(&r.stats));
		cli_print_json(j);
		json_decref(j);
	} else {
		printf("pushed %s:%s to %s\n%s\n", obj.name, obj.version, r.where, d);
		fprintf(stderr, "%zu layers, %zu referrers; blobs: %llu uploaded, %llu already there, %llu mounted\n",
			r.layers, r.referrers, (unsigned long long)r.stats.blobs_uploaded,
			(unsigned long long)r.stats.blobs_skipped, (unsigned long long)r.stats.blobs_mounted);
	}
out:
	free(a.keys);
	bento_push_result_release(&r);
	bento_object_ref_release(&obj);
	bento_target_ref_release(&ref);
	bento_store_close(s);
	return rc;
}

static int do_pull(enum bento_kind kind, const char *cmd, int argc, char **argv)
{
	/* pull=1 allows --require-signature/--key; models carry no signatures. */
	struct transfer_args a;
	struct bento_target_ref ref = { 0 };
	struct bento_keyring kr = BENTO_KEYRING_INIT;
	struct bento_report report = { 0 };
	struct bento_import_opts io = { .keys = &kr, .report = &report };
	struct bento_policy *policy = NULL;
	struct bento_pull_result r = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	int rc;

	if ((rc = parse_transfer(cmd, kind == BENTO_KIND_BENTO, argc, argv, &a)))
		return rc;
	if (argc - optind != 1) {
		rc = cli_usage(cmd, "wants one SOURCE (HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG])");
		goto out;
	}
	if ((rc = bento_target_ref_parse(argv[optind], &ref, &err))) {
		rc = cli_usage(cmd, "%s", err.msg);
		goto out;
	}
	io.require_signature = a.require_signature;
	if ((rc = cli_keyring(a.keys, a.n_keys, &kr)))
		goto out;
	if ((rc = bento_policy_load(NULL, &policy, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	io.policy = policy;
	if ((rc = cli_open_store(&s)))
		goto out;
	rc = bento_pull(s, kind, &ref, &a.topts, &io, &r, &err);
	for (size_t i = 0; i < report.n; i++)
		if (report.v[i].status != BENTO_CHECK_FAIL || rc == 0)
			fprintf(stderr, "%s: %s\n", report.v[i].what, report.v[i].detail);
	if (rc) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (a.out == CLI_OUT_JSON) {
		char d[BENTO_DIGEST_STRLEN], md[BENTO_DIGEST_STRLEN];
		bento_digest_str(&r.object.digest, d);
		bento_digest_str(&r.manifest, md);
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:o}", "name",
				      r.object.name, "version", r.object.version, "digest", d,
				      "manifest", md, "layers", (json_int_t)r.layers, "layers_skipped",
				      (json_int_t)r.layers_skipped, "existed", r.object.existed,
				      "trusted_signatures", (json_int_t)report.trusted_signatures,
				      "stats", stats_json(&r.stats));
		cli_print_json(j);
		json_decref(j);
	} else {
		cli_print_result(&r.object, CLI_OUT_TEXT, "pulled");
	}
out:
	free(a.keys);
	bento_pull_result_release(&r);
	bento_policy_free(policy);
	bento_report_release(&report);
	bento_keyring_release(&kr);
	bento_target_ref_release(&ref);
	/* a refused import or pull leaves no store it made */
	if (rc)
		bento_store_discard(s);
	else
		bento_store_close(s);
	return rc;
}

int cmd_push(int argc, char **argv)
{
	return do_push(BENTO_KIND_BENTO, "push", argc, argv);
}

int cmd_pull(int argc, char **argv)
{
	return do_pull(BENTO_KIND_BENTO, "pull", argc, argv);
}

int cli_models_push(int argc, char **argv)
{
	return do_push(BENTO_KIND_MODEL, "models", argc, argv);
}

int cli_models_pull(int argc, char **argv)
{
	return do_pull(BENTO_KIND_MODEL, "models", argc, argv);	/* no trust options: see parse_transfer */
}

/* ---- login / logout ---- */

static char *read_line_stdin(void)
{
	struct bento_buf b = BENTO_BUF_INIT;
	int c;

	while ((c = getchar()) != EOF && c != '\n')
		bento_buf_addch(&b, c);
	if (b.len && b.buf[b.len - 1] == '\r')
		bento_buf_setlen(&b, b.len - 1);
	return bento_buf_detach(&b, NULL);
}

int cmd_login(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password-stdin", no_argument, NULL, 'P' },
		{ "plain-http", no_argument, NULL, 'p' },
		{ "insecure", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_target_opts topts = { 0 };
	struct bento_error err = { 0 };
	const char *user = NULL;
	char *pass = NULL;
	int c, rc, from_stdin = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "u:", longopts, NULL)) != -1) {
		if (c == 'u')
			user = optarg;
		else if (c == 'P')
			from_stdin = 1;
		else if (c == 'p')
			topts.plain_http = 1;
		else if (c == 'i')
			topts.insecure = 1;
		else
			return cli_usage("login", "invalid option");
	}
	if (argc - optind != 1)
		return cli_usage("login", "wants one HOST");
	if (!user)
		return cli_usage("login", "wants -u USER");
	if (from_stdin)
		pass = read_line_stdin();
	else if (!(pass = cli_read_password("password: ")))
		return cli_usage("login", "no terminal to ask for the password: use --password-stdin");
	if (!*pass) {
		free(pass);
		return cli_usage("login", "empty password");
	}
	/* as docker login does: only credentials the registry accepts are kept */
	rc = bento_registry_login_check(argv[optind], user, pass, &topts, &err);
	if (rc == 0)
		rc = bento_dockercfg_set(NULL, argv[optind], user, pass, &err);
	sodium_memzero(pass, strlen(pass));
	free(pass);
	if (rc)
		return cli_fail(rc, &err);
	printf("logged in to %s as %s\n", argv[optind], user);
	return 0;
}

int cmd_logout(int argc, char **argv)
{
	struct bento_error err = { 0 };
	int rc;

	if (argc != 2)
		return cli_usage("logout", "wants one HOST");
	if ((rc = bento_dockercfg_remove(NULL, argv[1], &err)))
		return cli_fail(rc, &err);
	printf("logged out of %s\n", argv[1]);
	return 0;
}
