/* bento containerize - see bento-containerize(1). */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"

static const struct option longopts[] = {
	{ "base", required_argument, NULL, 'b' },
	{ "output", required_argument, NULL, 'O' },
	{ "platform", required_argument, NULL, 'P' },
	{ "shim", required_argument, NULL, 's' },
	{ "plain-http", no_argument, NULL, 'p' },
	{ "insecure", no_argument, NULL, 'i' },
	{ NULL, 0, NULL, 0 },
};

/*
 * The shim: --shim, else $BENTO_SHIM, else next to this bento binary (the
 * build tree), else PREFIX/libexec/bento/bento-shim (an installed bento).
 */
static char *find_shim(const char *arg)
{
	char exe[PATH_MAX], *dir, *p;
	ssize_t n;

	if (arg)
		return bento_xstrdup(arg);
	if (getenv("BENTO_SHIM") && *getenv("BENTO_SHIM"))
		return bento_xstrdup(getenv("BENTO_SHIM"));
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return NULL;
	exe[n] = 0;
	dir = dirname(exe);
	p = bento_xasprintf("%s/bento-shim", dir);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	p = bento_xasprintf("%s/../libexec/bento/bento-shim", dir);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

int cmd_containerize(int argc, char **argv)
{
	struct bento_image_opts o = { 0 };
	struct bento_image_result r = { 0 };
	struct bento_object_ref obj = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	enum cli_output out = CLI_OUT_TEXT;
	const char *shim_arg = NULL;
	char *shim = NULL, *output = NULL;
	int c, rc;

	o.topts.progress = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o.base = optarg; break;
		case 'O': o.output = optarg; break;
		case 'P': o.platform = optarg; break;
		case 's': shim_arg = optarg; break;
		case 'p': o.topts.plain_http = 1; break;
		case 'i': o.topts.insecure = 1; break;
		case 'o':
			if ((rc = cli_output_parse("containerize", optarg, CLI_OUT_TEXT | CLI_OUT_JSON,
						   &out)))
				return rc;
			break;
		default:
			return cli_usage("containerize", "invalid option");
		}
	}
	if (argc - optind != 1)
		return cli_usage("containerize", "wants one REF");
	if (!(shim = find_shim(shim_arg))) {
		err.code = -BENTO_E_NOTFOUND;
		bento_error_set(&err, BENTO_E_NOTFOUND,
				"bento-shim not found next to bento or in ../libexec/bento; "
				"build it (make) or give --shim PATH");
		return cli_fail(-BENTO_E_NOTFOUND, &err);
	}
	o.shim = shim;
	if ((rc = cli_open_store(&s)))
		goto out;
	if ((rc = bento_store_resolve(s, BENTO_KIND_BENTO, argv[optind], &obj, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (!o.output)
		o.output = output = bento_xasprintf("oci:%s.oci", obj.name);
	if ((rc = bento_containerize(s, &obj.digest, &o, &r, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	char md[BENTO_DIGEST_STRLEN], cd[BENTO_DIGEST_STRLEN], od[BENTO_DIGEST_STRLEN];
	size_t written = 0;
	bento_digest_str(&r.manifest, md);
	bento_digest_str(&r.config, cd);
	bento_digest_str(&obj.digest, od);
	for (size_t i = 0; i < r.n_layers; i++)
		written += r.layers[i].written;
	if (out == CLI_OUT_JSON) {
		json_t *layers = json_array();
		for (size_t i = 0; i < r.n_layers; i++) {
			char ld[BENTO_DIGEST_STRLEN];
			bento_digest_str(&r.layers[i].digest, ld);
			json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:b}", "role",
								r.layers[i].role, "digest", ld, "size",
								(json_int_t)r.layers[i].size, "written",
								r.layers[i].written));
		}
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I}",
				      "name", obj.name, "version", obj.version, "digest", od,
				      "output", r.output, "image", md, "config", cd, "platform",
				      r.platform, "layers", layers, "layers_written",
				      (json_int_t)written, "layers_reused",
				      (json_int_t)(r.n_layers - written), "bytes_written",
				      (json_int_t)r.bytes_written);
		if (r.have_provenance) {
			char pd[BENTO_DIGEST_STRLEN];
			bento_digest_str(&r.provenance, pd);
			json_object_set_new(j, "provenance", json_string(pd));
		}
		if (r.base) {
			char bd[BENTO_DIGEST_STRLEN];
			bento_digest_str(&r.base_digest, bd);
			json_object_set_new(j, "base", json_pack("{s:s, s:s}", "name", r.base, "digest", bd));
		} else {
			json_object_set_new(j, "base", json_null());
		}
		cli_print_json(j);
		json_decref(j);
	} else {
		char hs[32];
		cli_human_size(r.bytes_written, hs);
		printf("containerized %s:%s to %s\n%s\n", obj.name, obj.version, r.output, md);
		fprintf(stderr, "%s, %zu layers (%zu written, %s; %zu already there), base %s\n",
			r.platform, r.n_layers, written, hs, r.n_layers - written,
			r.base ? r.base : "scratch");
	}
out:
	bento_image_result_release(&r);
	bento_object_ref_release(&obj);
	bento_store_close(s);
	free(shim);
	free(output);
	return rc;
}
