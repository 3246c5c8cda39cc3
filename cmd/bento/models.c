/* bento models - see bento-models(1). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cli.h"

static int models_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'V' },
		{ "label", required_argument, NULL, 'l' },
		{ "framework", required_argument, NULL, 'F' },
		{ "format", required_argument, NULL, 'f' },
		{ "description", required_argument, NULL, 'd' },
		{ "license", required_argument, NULL, 'L' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_model_import_opts o = { 0 };
	struct bento_build_result r = { 0 };
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	struct bento_kv *labels = NULL;
	enum cli_output out = CLI_OUT_TEXT;
	size_t n_labels = 0;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "j:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
		case 'V': o.version = optarg; break;
		case 'F': o.framework = optarg; break;
		case 'f': o.format = optarg; break;
		case 'd': o.description = optarg; break;
		case 'L': o.license = optarg; break;
		case 'j':
			o.jobs = atoi(optarg);
			if (o.jobs < 1 || o.jobs > 64) {
				rc = cli_usage("models", "--jobs wants 1..64, got '%s'", optarg);
				goto out;
			}
			break;
		case 'l':
			labels = bento_xrealloc(labels, (n_labels + 1) * sizeof(*labels));
			memset(&labels[n_labels], 0, sizeof(*labels));
			if ((rc = cli_parse_label("models", optarg, &labels[n_labels].key,
						  &labels[n_labels].value)))
				goto out;
			n_labels++;
			break;
		case 'o':
			if ((rc = cli_output_parse("models", optarg,
						   CLI_OUT_TEXT | CLI_OUT_JSON | CLI_OUT_TAG, &out)))
				goto out;
			break;
		default:
			rc = cli_usage("models", "invalid option");
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage("models", "import wants one PATH");
		goto out;
	}
	if (!o.name) {
		rc = cli_usage("models", "import needs --name NAME");
		goto out;
	}
	o.path = argv[optind];
	o.labels = labels;
	o.n_labels = n_labels;
	if ((rc = cli_open_store(&s)))
		goto out;
	if ((rc = bento_model_import(s, &o, &r, &err)))
		rc = cli_fail(rc, &err);
	else
		cli_print_result(&r, out, "imported model");
out:
	for (size_t i = 0; i < n_labels; i++) {
		free(labels[i].key);
		free(labels[i].value);
	}
	free(labels);
	bento_build_result_release(&r);
	bento_store_close(s);
	return rc;
}

int cmd_models(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("models", "wants a subcommand: import, list, get, delete, push, pull");
	if (strcmp(argv[1], "import") == 0)
		return models_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cli_list_objects(BENTO_KIND_MODEL, "models", argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0)
		return cli_get_object(BENTO_KIND_MODEL, "models", argc - 1, argv + 1);
	if (strcmp(argv[1], "delete") == 0)
		return cli_delete_objects(BENTO_KIND_MODEL, "models", argc - 1, argv + 1);
	if (strcmp(argv[1], "push") == 0)
		return cli_models_push(argc - 1, argv + 1);
	if (strcmp(argv[1], "pull") == 0)
		return cli_models_pull(argc - 1, argv + 1);
	return cli_usage("models", "unknown subcommand '%s' (import, list, get, delete, push, pull)",
			 argv[1]);
}
