/* bento build - see bento-build(1). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cli.h"
#include "provenance.h"
#include "sign.h"

static void warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	cli_warn("%s", msg);
}

/* Print a build or import result in the chosen form. */
void cli_print_result(const struct bento_build_result *r, enum cli_output out, const char *verb)
{
	char d[BENTO_DIGEST_STRLEN], size[32];

	bento_digest_str(&r->digest, d);
	if (out == CLI_OUT_JSON) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b}", "name", r->name, "version",
				      r->version, "digest", d, "size", (json_int_t)r->size,
				      "files", (json_int_t)r->n_files, "existed", r->existed,
				      "signed", r->signed_by_key);
		if (r->git_commit) {
			/* What the provenance says of the files (bento-build(1), FILES NOT IN THE COMMIT). */
			json_t *n = json_object_get(r->git_source, "files_not_in_commit");
			json_t *v = json_object_get(r->git_source, "not_in_commit");
			json_t *bf = json_object_get(r->git_source, "bentofile");
			json_object_set_new(j, "commit", json_string(r->git_commit));
			json_object_set_new(j, "dirty", json_boolean(r->git_dirty));
			if (n && v) {
				json_object_set(j, "files_not_in_commit", n);
				json_object_set(j, "not_in_commit", v);
			}
			if (bf)
				json_object_set(j, "bentofile_not_in_commit", bf);
		}
		cli_print_json(j);
		json_decref(j);
	} else if (out == CLI_OUT_TAG) {
		printf("%s:%s\n", r->name, r->version);
	} else {
		cli_human_size(r->size, size);
		printf("%s %s:%s%s\n%s\n", verb, r->name, r->version,
		       r->existed ? " (unchanged, already in the store)" : "", d);
		char *state = r->git_source ? bento_provenance_source_state(r->git_source, 3) : NULL;
		fprintf(stderr, "%zu files, %s%s%s%s%s%s\n", r->n_files, size,
			r->git_commit ? ", commit " : "", r->git_commit ? r->git_commit : "",
			state ? ", " : "", state ? state : "", r->signed_by_key ? ", signed" : "");
		free(state);
	}
}

int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'V' },
		{ "label", required_argument, NULL, 'l' },
		{ "strict", no_argument, NULL, 's' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "sign", optional_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_build_opts o = { .warn = warn_cb };
	struct bento_seckey key;
	const char *key_arg = NULL;
	int sign = 0;
	struct bento_build_result r = { 0 };
	struct bento_error err = { 0 };
	struct bento_kv *labels = NULL;
	struct bento_store *s = NULL;
	enum cli_output out = CLI_OUT_TEXT;
	size_t n_labels = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "f:j:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o.bentofile = optarg; break;
		case 'n': o.name = optarg; break;
		case 'V': o.version = optarg; break;
		case 's': o.strict = 1; break;
		case 'S':
			sign = 1;
			if (optarg)
				key_arg = optarg;
			break;
		case 'k': key_arg = optarg; sign = 1; break;
		case 'j':
			o.jobs = atoi(optarg);
			if (o.jobs < 1 || o.jobs > 64) {
				rc = cli_usage("build", "--jobs wants 1..64, got '%s'", optarg);
				goto out;
			}
			break;
		case 'l':
			labels = bento_xrealloc(labels, (n_labels + 1) * sizeof(*labels));
			memset(&labels[n_labels], 0, sizeof(*labels));
			if ((rc = cli_parse_label("build", optarg, &labels[n_labels].key,
						  &labels[n_labels].value)))
				goto out;
			n_labels++;
			break;
		case 'o':
			if ((rc = cli_output_parse("build", optarg,
						   CLI_OUT_TEXT | CLI_OUT_JSON | CLI_OUT_TAG, &out)))
				goto out;
			break;
		default:
			rc = cli_usage("build", "invalid option");
			goto out;
		}
	}
	if (argc - optind > 1) {
		rc = cli_usage("build", "too many arguments");
		goto out;
	}
	o.context = optind < argc ? argv[optind] : ".";
	o.labels = labels;
	o.n_labels = n_labels;
	/* The key (and its password) first, so a bad key fails before any work. */
	if (sign || (getenv("BENTO_SIGNING_KEY") && *getenv("BENTO_SIGNING_KEY"))) {
		if ((rc = cli_load_signing_key(key_arg, &key)))
			goto out;
		o.sign_key = &key;
	}
	if ((rc = cli_open_store(&s)))
		goto out;
	rc = bento_build(s, &o, &r, &err);
	if (rc) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	cli_print_result(&r, out, "built");
out:
	if (o.sign_key)
		bento_seckey_wipe(&key);
	bento_build_result_release(&r);
	for (size_t i = 0; i < n_labels; i++) {
		free(labels[i].key);
		free(labels[i].value);
	}
	free(labels);
	bento_store_close(s);
	return rc;
}
