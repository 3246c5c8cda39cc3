/*
 * bento - reproducible, signed model bundles.  See bento(1).
 *
 * main() only dispatches: one sorted table of subcommands, each living in
 * its own file that parses options, calls libbento and renders the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const struct cli_cmd cli_cmds[] = {
	{ "build", cmd_build, "build a bento from a bentofile",
	  "bento build [CONTEXT] [-f BENTOFILE] [--name N] [--version V] [--label K=V]...\n"
	  "            [--strict] [--sign[=KEY] | --key KEY] [-j JOBS] [-o text|json|tag]" },
	{ "containerize", cmd_containerize, "make an OCI image of a bento, without a container engine",
	  "bento containerize REF [--base scratch|oci:DIR[:TAG]|HOST/REPO[:TAG|@DIGEST]]\n"
	  "                   [--output oci:DIR[:TAG]|docker-archive:FILE|HOST/REPO[:TAG]]\n"
	  "                   [--platform OS/ARCH] [--shim PATH] [--plain-http] [--insecure]\n"
	  "                   [-o text|json]" },
	{ "delete", cmd_delete, "delete bentos from the store",
	  "bento delete REF... [-y]" },
	{ "export", cmd_export, "write a bento as a .bento archive",
	  "bento export REF [FILE|-] [--compression none|gzip|zstd] [-o text|json]" },
	{ "fsck", cmd_fsck, "check the store's blobs and metadata",
	  "bento fsck [-o text|json]" },
	{ "gc", cmd_gc, "remove blobs nothing references",
	  "bento gc [-n|--dry-run] [-o text|json]" },
	{ "get", cmd_get, "show a bento",
	  "bento get REF [-o text|json|yaml|path] [--provenance]" },
	{ "help", cmd_help, "show help for a command",
	  "bento help [COMMAND]" },
	{ "history", cmd_history, "show or verify the store's audit log",
	  "bento history [REF] [--action A] [--since T] [--until T] [-o table|json]\n"
	  "bento history --verify" },
	{ "import", cmd_import, "import a .bento archive into the store",
	  "bento import FILE|- [--require-signature] [--key PUB]... [-o text|json|tag]" },
	{ "key", cmd_key, "generate, trust and list signing keys",
	  "bento key generate [--name N] [--no-password] [-o text|json]\n"
	  "bento key trust PUBFILE\n"
	  "bento key list [-o table|json]\n"
	  "bento key untrust KEYID" },
	{ "list", cmd_list, "list bentos",
	  "bento list [NAME] [-o table|json]" },
	{ "login", cmd_login, "store registry credentials (~/.docker/config.json)",
	  "bento login HOST -u USER [--password-stdin] [--plain-http] [--insecure]" },
	{ "logout", cmd_logout, "remove registry credentials",
	  "bento logout HOST" },
	{ "models", cmd_models, "import, list, show and delete models",
	  "bento models import PATH --name N [--version V] [--label K=V]... [--framework F]\n"
	  "                    [--format F] [--description TEXT] [--license L] [-j JOBS]\n"
	  "                    [-o text|json|tag]\n"
	  "bento models list [NAME] [-o table|json]\n"
	  "bento models get REF [-o text|json|yaml|path]\n"
	  "bento models delete REF... [--force] [-y]\n"
	  "bento models push REF TARGET [--plain-http] [--insecure] [-o text|json]\n"
	  "bento models pull SOURCE [--plain-http] [--insecure] [-o text|json]" },
	{ "pull", cmd_pull, "pull a bento from a registry or an oci: layout",
	  "bento pull SOURCE [--require-signature] [--key PUB]... [--plain-http] [--insecure]\n"
	  "           [-o text|json]" },
	{ "push", cmd_push, "push a bento to a registry or an oci: layout",
	  "bento push REF TARGET [--plain-http] [--insecure] [-o text|json]" },
	{ "sign", cmd_sign, "sign a bento",
	  "bento sign REF [--key KEY]" },
	{ "tag", cmd_tag, "give a bento another name:version",
	  "bento tag REF NAME:VERSION [--force]" },
	{ "verify", cmd_verify, "check a bento or an archive: digests, signatures, provenance",
	  "bento verify REF|FILE.bento [--key PUB]... [--require-signature] [--full] [-o text|json]" },
	{ "version", cmd_version, "print bento's version",
	  "bento version" },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_cmd *cli_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void overview(FILE *f)
{
	fprintf(f, "usage: bento <command> [options]\n\ncommands:\n");
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 'bento help <command>' or see bento(1) and bento-<command>(1).\n");
}

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		overview(stdout);
		return 0;
	}
	if (!cli_find(argv[1]))
		return cli_usage("help", "unknown command '%s'", argv[1]);
	return cli_help(argv[1]);
}

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("bento %s\n", BENTO_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		overview(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		overview(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "bento: error: unknown command '%s'\n", argv[1]);
		overview(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return cli_help(c->name);
	}
	return c->fn(argc - 1, argv + 1);
}
