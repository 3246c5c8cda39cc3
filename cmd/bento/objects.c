/*
 * The commands bentos and models share: list, get, delete.  `bento list` is
 * cli_list_objects(BENTO_KIND_BENTO, ...), `bento models list` the same with
 * BENTO_KIND_MODEL, and so on.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cjson.h"
#include "cli.h"
#include "manifest.h"
#include "provenance.h"
#include "sign.h"

static const char *kind_word(enum bento_kind kind)
{
	return kind == BENTO_KIND_MODEL ? "model" : "bento";
}

int cli_simple_opts(const char *cmd, int argc, char **argv, unsigned formats, const char *flags,
		    struct cli_simple_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "yes", no_argument, NULL, 'y' },
		{ "force", no_argument, NULL, 'F' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "provenance", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:yn", longopts, NULL)) != -1) {
		if (c == 'o' && formats) {
			if ((rc = cli_output_parse(cmd, optarg, formats, &o->out)))
				return rc;
		} else if (c == 'y' && strchr(flags, 'y')) {
			o->yes = 1;
		} else if (c == 'F' && strchr(flags, 'F')) {
			o->force = 1;
		} else if (c == 'n' && strchr(flags, 'n')) {
			o->dry_run = 1;
		} else if (c == 'P' && strchr(flags, 'P')) {
			o->provenance = 1;
		} else {
			return cli_usage(cmd, "invalid option");
		}
	}
	return 0;
}

int cli_list_objects(enum bento_kind kind, const char *cmd, int argc, char **argv)
{
	struct cli_simple_opts o = { .out = CLI_OUT_TABLE };
	struct bento_object_info *v = NULL;
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cli_simple_opts(cmd, argc, argv, CLI_OUT_TABLE | CLI_OUT_JSON, "", &o)))
		return rc;
	if (argc - optind > 1)
		return cli_usage(cmd, "too many arguments");
	if ((rc = cli_open_store(&s)))
		return rc;
	rc = bento_store_list(s, kind, optind < argc ? argv[optind] : NULL, &v, &n, &err);
	if (rc) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (o.out == CLI_OUT_JSON) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			char d[BENTO_DIGEST_STRLEN], t[32];
			bento_digest_str(&v[i].digest, d);
			bento_time_rfc3339(v[i].added, t);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s}", "name",
							     v[i].name, "version", v[i].version,
							     "digest", d, "size", (json_int_t)v[i].size,
							     "added", t));
		}
		cli_print_json(arr);
		json_decref(arr);
	} else {
		int wt = 3;
		for (size_t i = 0; i < n; i++) {
			int w = (int)(strlen(v[i].name) + strlen(v[i].version) + 1);
			wt = w > wt ? w : wt;
		}
		printf("%-*s  %-19s  %10s  %s\n", wt, "TAG", "DIGEST", "SIZE", "ADDED");
		for (size_t i = 0; i < n; i++) {
			char tag[300], d[20], size[32], t[32];
			snprintf(tag, sizeof(tag), "%s:%s", v[i].name, v[i].version);
			cli_short_digest(&v[i].digest, d);
			cli_human_size(v[i].size, size);
			cli_human_time(v[i].added, t);
			printf("%-*s  %-19s  %10s  %s\n", wt, tag, d, size, t);
		}
	}
out:
	bento_object_info_free(v, n);
	bento_store_close(s);
	return rc;
}

static void print_files_text(const char *title, const struct bento_file *f, size_t n)
{
	printf("%s:\n", title);
	for (size_t i = 0; i < n; i++) {
		char size[32], d[20];
		cli_human_size(f[i].size, size);
		cli_short_digest(&f[i].digest, d);
		printf("  %s  %10s  %s%s\n", d, size, f[i].path, f[i].mode == 0755 ? " (exec)" : "");
	}
}

static void print_labels(const json_t *obj)
{
	const json_t *labels = json_object_get(obj, "labels");
	const char *k;
	json_t *v;

	if (!json_object_size(labels))
		return;
	printf("labels:\n");
	json_object_foreach((json_t *)labels, k, v)
		printf("  %s=%s\n", k, json_string_value(v));
}

static void print_model_text(const struct bento_model *m)
{
	char d[BENTO_DIGEST_STRLEN], size[32];
	const char *s;

	bento_digest_str(&m->digest, d);
	cli_human_size(m->size, size);
	printf("model:   %s:%s\ndigest:  %s\nsize:    %s in %zu files\n", m->name, m->version, d,
	       size, m->n_files);
	if ((s = json_string_value(json_object_get(m->json, "framework"))))
		printf("framework: %s\n", s);
	if ((s = json_string_value(json_object_get(m->json, "format"))))
		printf("format:  %s\n", s);
	if ((s = json_string_value(json_object_get(m->json, "description"))))
		printf("description: %s\n", s);
	print_labels(m->json);
	print_files_text("files", m->files, m->n_files);
}

static void print_bento_text(const struct bento_manifest *m)
{
	char d[BENTO_DIGEST_STRLEN], size[32];
	const json_t *ep = json_object_get(json_object_get(m->json, "service"), "entrypoint");
	const json_t *v;
	const char *desc = json_string_value(json_object_get(m->json, "description"));
	size_t i;

	bento_digest_str(&m->digest, d);
	cli_human_size(m->size, size);
	printf("bento:   %s:%s\ndigest:  %s\n", m->name, m->version, d);
	if (m->created)
		printf("created: %s\n", m->created);
	if (desc)
		printf("description: %s\n", desc);
	printf("size:    %s\nservice:", size);
	json_array_foreach(ep, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
	print_labels(m->json);
	if (m->n_models) {
		printf("models:\n");
		for (i = 0; i < m->n_models; i++) {
			char md[20], ms[32];
			cli_short_digest(&m->models[i].digest, md);
			cli_human_size(m->models[i].size, ms);
			printf("  %s  %10s  %s:%s (%zu files)\n", md, ms, m->models[i].name,
			       m->models[i].version, m->models[i].n_files);
		}
	}
	print_files_text("files", m->files, m->n_files);
}

static void print_paths(struct bento_store *s, const struct bento_manifest *bm,
			const struct bento_model *mm)
{
	struct bento_entry *e = NULL;
	size_t n = 0;

	if (bm) {
		bento_manifest_entries(bm, &e, &n);
		for (size_t i = 0; i < n; i++) {
			char *p = bento_blob_path(s, &e[i].file->digest);
			printf("%s\t%s\n", e[i].path, p);
			free(p);
		}
		bento_entries_free(e, n);
		return;
	}
	for (size_t i = 0; i < mm->n_files; i++) {
		char *p = bento_blob_path(s, &mm->files[i].digest);
		printf("%s\t%s\n", mm->files[i].path, p);
		free(p);
	}
}

/* The provenance statement of a bento, decoded from its envelope (not verified: see bento verify). */
static int print_provenance(struct bento_store *s, const struct bento_object_ref *ref,
			    enum cli_output out, struct bento_error *err)
{
	struct bento_attachment *atts = NULL;
	struct bento_dsse env = { 0 };
	json_t *stmt = NULL;
	size_t n = 0;
	int rc = bento_store_attestations(s, &ref->digest, &atts, &n, err);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (strcmp(atts[i].name, "provenance.dsse.json") != 0)
			continue;
		if (bento_dsse_read(atts[i].data, atts[i].len, &env, err) ||
		    bento_intoto_read(env.payload.buf, env.payload.len, &stmt, err)) {
			rc = bento_error_set(err, BENTO_E_CORRUPT, "%s: %s:%s: provenance is malformed",
					     atts[i].name, ref->name, ref->version);
			break;
		}
		if (out == CLI_OUT_YAML) {
			cli_print_yaml(stmt);
		} else if (out != CLI_OUT_TEXT) {
			cli_print_json(stmt);
		} else {
			char *text = bento_provenance_text(stmt);
			fputs(text, stdout);
			free(text);
		}
		goto done;
	}
	if (rc == 0)
		rc = bento_error_set(err, BENTO_E_NOTFOUND, "%s:%s has no provenance", ref->name,
				     ref->version);
done:
	bento_dsse_release(&env);
	json_decref(stmt);
	bento_attachments_free(atts, n);
	return rc;
}

int cli_get_object(enum bento_kind kind, const char *cmd, int argc, char **argv)
{
	struct cli_simple_opts o = { .out = CLI_OUT_TEXT };
	struct bento_object_ref ref = { 0 };
	struct bento_buf json = BENTO_BUF_INIT;
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	struct bento_manifest *bm = NULL;
	struct bento_model *mm = NULL;
	json_t *obj;
	int rc;

	if ((rc = cli_simple_opts(cmd, argc, argv,
				  CLI_OUT_TEXT | CLI_OUT_JSON | CLI_OUT_YAML | CLI_OUT_PATH,
				  kind == BENTO_KIND_BENTO ? "P" : "", &o)))
		return rc;
	if (argc - optind != 1)
		return cli_usage(cmd, "wants exactly one REF");
	if ((rc = cli_open_store(&s)))
		return rc;
	if ((rc = bento_store_resolve(s, kind, argv[optind], &ref, &err)))
		goto fail;
	if (o.provenance) {
		rc = print_provenance(s, &ref, o.out, &err);
		if (rc)
			goto fail;
		goto out;
	}
	if ((rc = bento_store_manifest(s, kind, &ref.digest, &json, &err)))
		goto fail;
	rc = kind == BENTO_KIND_BENTO ? bento_manifest_parse(json.buf, json.len, argv[optind], &bm, &err)
				      : bento_model_parse(json.buf, json.len, argv[optind], &mm, &err);
	if (rc)
		goto fail;
	switch (o.out) {
	case CLI_OUT_JSON:
	case CLI_OUT_YAML:
		/* the whole manifest: a parsed bento keeps its files out of bm->json */
		if ((rc = bento_json_parse(json.buf, json.len, argv[optind], &obj, &err)))
			goto fail;
		if (o.out == CLI_OUT_JSON)
			cli_print_json(obj);
		else
			cli_print_yaml(obj);
		json_decref(obj);
		break;
	case CLI_OUT_PATH: print_paths(s, bm, mm); break;
	default:
		if (bm)
			print_bento_text(bm);
		else
			print_model_text(mm);
	}
	goto out;
fail:
	rc = cli_fail(rc, &err);
out:
	bento_manifest_free(bm);
	bento_model_free(mm);
	bento_buf_release(&json);
	bento_object_ref_release(&ref);
	bento_store_close(s);
	return rc;
}

static int confirm(const char *what)
{
	char line[16];

	fprintf(stderr, "delete %s? [y/N] ", what);
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

int cli_delete_objects(enum bento_kind kind, const char *cmd, int argc, char **argv)
{
	struct cli_simple_opts o = { 0 };
	struct bento_store *s = NULL;
	int rc, worst = 0;

	if ((rc = cli_simple_opts(cmd, argc, argv, 0, kind == BENTO_KIND_MODEL ? "yF" : "y", &o)))
		return rc;
	if (optind >= argc)
		return cli_usage(cmd, "wants at least one REF");
	if (!o.yes && !isatty(STDIN_FILENO))
		return cli_usage(cmd, "not a terminal: pass -y to delete without asking");
	if ((rc = cli_open_store(&s)))
		return rc;
	for (int i = optind; i < argc; i++) {
		struct bento_object_ref ref = { 0 };
		struct bento_error err = { 0 };
		char what[300];

		rc = bento_store_resolve(s, kind, argv[i], &ref, &err);
		if (rc == 0) {
			snprintf(what, sizeof(what), "%s %s:%s", kind_word(kind), ref.name, ref.version);
			if (o.yes || confirm(what)) {
				rc = bento_store_untag(s, kind, ref.name, ref.version, o.force, &err);
				if (rc == 0) {
					printf("deleted %s\n", what);
					json_t *details = o.force ? json_pack("{s:b}", "force", 1) : NULL;
					int code = cli_event(s, kind == BENTO_KIND_MODEL ? "model-delete" : "delete",
							     kind, ref.name, ref.version, &ref.digest, details);
					json_decref(details);
					worst = code > worst ? code : worst;
				}
			}
		}
		if (rc) {
			int code = cli_fail(rc, &err);
			worst = code > worst ? code : worst;
		}
		bento_object_ref_release(&ref);
	}
	bento_store_close(s);
	return worst;
}
