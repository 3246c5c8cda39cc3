/* bento list, get, delete, tag - see bento-list(1) and friends. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "manifest.h"

int cmd_list(int argc, char **argv)
{
	return cli_list_objects(BENTO_KIND_BENTO, "list", argc, argv);
}

int cmd_get(int argc, char **argv)
{
	return cli_get_object(BENTO_KIND_BENTO, "get", argc, argv);
}

int cmd_delete(int argc, char **argv)
{
	return cli_delete_objects(BENTO_KIND_BENTO, "delete", argc, argv);
}

int cmd_tag(int argc, char **argv)
{
	struct cli_simple_opts o = { 0 };
	struct bento_object_ref ref = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	char *name = NULL, *colon;
	int rc;

	if ((rc = cli_simple_opts("tag", argc, argv, 0, "F", &o)))
		return rc;
	if (argc - optind != 2)
		return cli_usage("tag", "wants REF and NAME:VERSION");
	name = bento_xstrdup(argv[optind + 1]);
	colon = strchr(name, ':');
	if (!colon || colon == name || !colon[1]) {
		free(name);
		return cli_usage("tag", "the new tag must be NAME:VERSION, got '%s'", argv[optind + 1]);
	}
	*colon = '\0';
	if (bento_name_check(name, "new tag", &err) ||
	    bento_version_check(colon + 1, "new tag", &err)) {
		rc = cli_usage("tag", "%s", err.msg);
		goto out;
	}
	if ((rc = cli_open_store(&s)))
		goto out;
	if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, argv[optind], &ref, &err)) ||
	    (rc = bento_store_tag(s, BENTO_KIND_BENTO, &ref.digest, name, colon + 1, o.force, &err)))
		rc = cli_fail(rc, &err);
	else {
		json_t *details = json_pack("{s:s, s:s}", "from", ref.name, "from_version", ref.version);
		printf("tagged %s:%s as %s:%s\n", ref.name, ref.version, name, colon + 1);
		rc = cli_event(s, "tag", BENTO_KIND_BENTO, name, colon + 1, &ref.digest, details);
		json_decref(details);
	}
out:
	bento_object_ref_release(&ref);
	bento_store_close(s);
	free(name);
	return rc;
}

int cmd_fsck(int argc, char **argv)
{
	struct cli_simple_opts o = { .out = CLI_OUT_TEXT };
	struct bento_fsck_problem *p = NULL;
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	uint64_t checked = 0;
	size_t n = 0;
	int rc;

	if ((rc = cli_simple_opts("fsck", argc, argv, CLI_OUT_TEXT | CLI_OUT_JSON, "", &o)))
		return rc;
	if (optind != argc)
		return cli_usage("fsck", "takes no arguments");
	if ((rc = cli_open_store(&s)))
		return rc;
	rc = bento_store_fsck(s, &p, &n, &checked, &err);
	if (rc) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (o.out == CLI_OUT_JSON) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_string(p[i].what));
		json_t *j = json_pack("{s:b, s:I, s:o}", "ok", n == 0, "blobs_checked",
				      (json_int_t)checked, "problems", arr);
		cli_print_json(j);
		json_decref(j);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("problem: %s\n", p[i].what);
		printf("%llu blobs checked, %zu problem%s\n", (unsigned long long)checked, n,
		       n == 1 ? "" : "s");
	}
	if (n) {
		fprintf(stderr, "bento: error: the store has %zu problem%s\n", n, n == 1 ? "" : "s");
		rc = 3;
	}
out:
	bento_fsck_free(p, n);
	bento_store_close(s);
	return rc;
}

int cmd_gc(int argc, char **argv)
{
	struct cli_simple_opts o = { .out = CLI_OUT_TEXT };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	uint64_t blobs = 0, bytes = 0;
	int rc;

	if ((rc = cli_simple_opts("gc", argc, argv, CLI_OUT_TEXT | CLI_OUT_JSON, "n", &o)))
		return rc;
	if (optind != argc)
		return cli_usage("gc", "takes no arguments");
	if ((rc = cli_open_store(&s)))
		return rc;
	rc = bento_store_gc(s, o.dry_run, &blobs, &bytes, &err);
	if (rc) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (!o.dry_run && blobs) {
		json_t *details = json_pack("{s:I, s:I}", "blobs", (json_int_t)blobs, "bytes",
					    (json_int_t)bytes);
		rc = cli_event(s, "gc", 0, NULL, NULL, NULL, details);
		json_decref(details);
		if (rc)
			goto out;
	}
	if (o.out == CLI_OUT_JSON) {
		json_t *j = json_pack("{s:b, s:I, s:I}", "dry_run", o.dry_run, "blobs",
				      (json_int_t)blobs, "bytes", (json_int_t)bytes);
		cli_print_json(j);
		json_decref(j);
	} else {
		char size[32];
		cli_human_size(bytes, size);
		printf("%s %llu blob%s (%s)\n", o.dry_run ? "would remove" : "removed",
		       (unsigned long long)blobs, blobs == 1 ? "" : "s", size);
	}
out:
	bento_store_close(s);
	return rc;
}
