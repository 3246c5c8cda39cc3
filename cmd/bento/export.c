/* bento export, bento import - see bento-export(1), bento-import(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "cli.h"
#include "fs.h"

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Write to a temporary file beside path and rename it into place only when complete. */
static int export_to_file(struct bento_store *s, const struct bento_digest *d, const char *path,
			  enum bento_compression comp, struct bento_error *err)
{
	struct bento_atomic a;
	int rc = bento_atomic_open(&a, path, NULL, 0644, err);

	if (rc)
		return rc;
	if ((rc = bento_export(s, d, a.fd, comp, err))) {
		bento_atomic_abort(&a);
		return rc;
	}
	return bento_atomic_commit(&a, 0, err);
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compression", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	enum bento_compression comp = BENTO_COMP_NONE;
	enum cli_output out = CLI_OUT_TEXT;
	struct bento_object_ref ref = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	const char *compname = NULL;
	char *path = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		if (c == 'c') {
			compname = optarg;
		} else if (c == 'o') {
			if ((rc = cli_output_parse("export", optarg, CLI_OUT_TEXT | CLI_OUT_JSON, &out)))
				return rc;
		} else {
			return cli_usage("export", "invalid option");
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage("export", "wants REF and optionally FILE or -");
	if (compname && (rc = bento_compression_parse(compname, &comp, &err)))
		return cli_usage("export", "%s", err.msg);
	if ((rc = cli_open_store(&s)))
		return rc;
	if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, argv[optind], &ref, &err)))
		goto fail;
	path = argc - optind == 2 ? bento_xstrdup(argv[optind + 1])
				  : bento_xasprintf("%s-%s.bento", ref.name, ref.version);
	/* Without --compression the file name decides: .zst / .gz, else none. */
	if (!compname)
		comp = ends_with(path, ".zst") ? BENTO_COMP_ZSTD
		       : ends_with(path, ".gz") ? BENTO_COMP_GZIP : BENTO_COMP_NONE;
	if (strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			rc = cli_usage("export", "refusing to write an archive to a terminal");
			goto out;
		}
		rc = bento_export(s, &ref.digest, STDOUT_FILENO, comp, &err);
	} else {
		rc = export_to_file(s, &ref.digest, path, comp, &err);
	}
	if (rc)
		goto fail;
	json_t *details = json_pack("{s:s, s:s}", "file", strcmp(path, "-") ? path : "(stdout)",
				    "compression", comp == BENTO_COMP_ZSTD ? "zstd"
						   : comp == BENTO_COMP_GZIP ? "gzip" : "none");
	rc = cli_event(s, "export", BENTO_KIND_BENTO, ref.name, ref.version, &ref.digest, details);
	json_decref(details);
	if (rc)
		goto out;
	if (strcmp(path, "-") != 0) {
		char d[BENTO_DIGEST_STRLEN];
		bento_digest_str(&ref.digest, d);
		if (out == CLI_OUT_JSON) {
			json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "name", ref.name, "version",
					      ref.version, "digest", d, "file", path);
			cli_print_json(j);
			json_decref(j);
		} else {
			printf("exported %s:%s to %s\n", ref.name, ref.version, path);
		}
	}
	goto out;
fail:
	rc = cli_fail(rc, &err);
out:
	free(path);
	bento_object_ref_release(&ref);
	bento_store_close(s);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "require-signature", no_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_build_result r = { 0 };
	struct bento_keyring kr = BENTO_KEYRING_INIT;
	struct bento_report report = { 0 };
	struct bento_import_opts io = { .keys = &kr, .report = &report };
	struct bento_policy *policy = NULL;
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	enum cli_output out = CLI_OUT_TEXT;
	char **keys = NULL;
	size_t n_keys = 0;
	const char *file;
	int c, fd = -1, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:", longopts, NULL)) != -1) {
		if (c == 'r') {
			io.require_signature = 1;
		} else if (c == 'k') {
			keys = bento_xrealloc(keys, (n_keys + 1) * sizeof(*keys));
			keys[n_keys++] = optarg;
		} else if (c == 'o') {
			if ((rc = cli_output_parse("import", optarg,
						   CLI_OUT_TEXT | CLI_OUT_JSON | CLI_OUT_TAG, &out)))
				goto out;
		} else {
			rc = cli_usage("import", "invalid option");
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage("import", "wants one FILE or -");
		goto out;
	}
	if ((rc = cli_keyring(keys, n_keys, &kr)))
		goto out;
	if ((rc = bento_policy_load(NULL, &policy, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	io.policy = policy;
	file = argv[optind];
	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
		file = "(stdin)";
	} else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = cli_fail(bento_error_errno(&err, errno, "%s", file), &err);
		goto out;
	}
	if ((rc = cli_open_store(&s)))
		goto out;
	rc = bento_import(s, fd, file, &io, &r, &err);
	/* Say what was checked, whatever the outcome. */
	for (size_t i = 0; i < report.n; i++)
		if (report.v[i].status != BENTO_CHECK_FAIL || rc == 0)
			fprintf(stderr, "%s: %s\n", report.v[i].what, report.v[i].detail);
	if (rc)
		rc = cli_fail(rc, &err);
	else
		cli_print_result(&r, out, "imported");
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(keys);
	bento_policy_free(policy);
	bento_report_release(&report);
	bento_keyring_release(&kr);
	bento_build_result_release(&r);
	/* a refused import or pull leaves no store it made */
	if (rc)
		bento_store_discard(s);
	else
		bento_store_close(s);
	return rc;
}
