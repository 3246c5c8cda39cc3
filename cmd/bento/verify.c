/* bento verify - see bento-verify(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "cli.h"
#include "trust.h"

static void print_report(const struct bento_report *r, const char *subject)
{
	static const char *const tag[] = { "ok  ", "FAIL", "??  " };

	printf("verifying %s\n", subject);
	for (size_t i = 0; i < r->n; i++)
		printf("  %s %s: %s\n", tag[r->v[i].status], r->v[i].what, r->v[i].detail);
	if (r->source)
		printf("source:    %s\n", r->source);
	printf("signed by: %s\n", r->signed_by ? r->signed_by : "no trusted key");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "require-signature", no_argument, NULL, 'r' },
		{ "full", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_keyring kr = BENTO_KEYRING_INIT;
	struct bento_report r = { 0 };
	struct bento_error err = { 0 };
	struct bento_object_ref ref = { 0 };
	struct bento_manifest *m = NULL;
	struct bento_policy *policy = NULL;
	struct bento_store *s = NULL;
	enum cli_output out = CLI_OUT_TEXT;
	char **keys = NULL;
	size_t n_keys = 0;
	int c, rc, require = 0, full = 0, fd = -1;
	const char *target;
	struct stat st;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keys = bento_xrealloc(keys, (n_keys + 1) * sizeof(*keys));
			keys[n_keys++] = optarg;
			break;
		case 'r': require = 1; break;
		case 'F': full = 1; break;
		case 'o':
			if ((rc = cli_output_parse("verify", optarg, CLI_OUT_TEXT | CLI_OUT_JSON, &out)))
				goto out;
			break;
		default:
			rc = cli_usage("verify", "invalid option");
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage("verify", "wants one REF or FILE.bento");
		goto out;
	}
	target = argv[optind];
	if ((rc = cli_keyring(keys, n_keys, &kr)))
		goto out;
	if ((rc = bento_policy_load(NULL, &policy, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	/* A file that exists is an archive; anything else names a bento in the store. */
	if (strcmp(target, "-") == 0 || (stat(target, &st) == 0 && !S_ISDIR(st.st_mode))) {
		fd = strcmp(target, "-") == 0 ? STDIN_FILENO : open(target, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = cli_fail(bento_error_errno(&err, errno, "%s", target), &err);
			goto out;
		}
		rc = bento_verify_archive(fd, target, &kr, &r, &m, &err);
	} else {
		if ((rc = cli_open_store(&s)))
			goto out;
		if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, target, &ref, &err)) == 0)
			rc = bento_verify_stored(s, &ref.digest, full, &kr, &r, &m, &err);
	}
	if (rc) {
		/* The input itself is unreadable as a bento: that is a failed verification too. */
		if (bento_exit_code(rc) == 1 || bento_exit_code(rc) == 3)
			bento_report_add(&r, BENTO_CHECK_FAIL, "archive", "%s", err.msg);
		else {
			rc = cli_fail(rc, &err);
			goto out;
		}
	} else if (bento_policy_check(policy, require, m->name, &r, &kr, &err) && r.failed == 0) {
		bento_report_add(&r, BENTO_CHECK_FAIL, require ? "signature" : "policy", "%s", err.msg);
	}
	if (out == CLI_OUT_JSON) {
		json_t *j = bento_report_json(&r);
		if (m) {
			char d[BENTO_DIGEST_STRLEN];
			bento_digest_str(&m->digest, d);
			json_object_set_new(j, "name", json_string(m->name));
			json_object_set_new(j, "version", json_string(m->version));
			json_object_set_new(j, "digest", json_string(d));
		}
		cli_print_json(j);
		json_decref(j);
	} else {
		print_report(&r, target);
	}
	if (r.failed) {
		for (size_t i = 0; i < r.n; i++)
			if (r.v[i].status == BENTO_CHECK_FAIL) {
				fprintf(stderr, "bento: error: verification failed: %s: %s\n", r.v[i].what,
					r.v[i].detail);
				break;
			}
		rc = 3;
	} else {
		rc = 0;
	}
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(keys);
	bento_manifest_free(m);
	bento_policy_free(policy);
	bento_report_release(&r);
	bento_keyring_release(&kr);
	bento_object_ref_release(&ref);
	bento_store_close(s);
	return rc;
}
