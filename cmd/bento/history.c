/* bento history - see bento-history(1). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "history.h"
#include "manifest.h"

/* "2026-11-21", "2026-11-21T10:00:00Z", unix seconds, or "36h" / "7d" ago. */
static int parse_when(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	struct tm tm;

	if (end != s && *end == '\0') {
		*out = v;
		return 0;
	}
	if (end != s && v >= 0 && end[1] == '\0' && strchr("smhdw", *end)) {
		static const long long mult[] = { ['s'] = 1, ['m'] = 60, ['h'] = 3600,
						  ['d'] = 86400, ['w'] = 604800 };
		*out = (int64_t)time(NULL) - v * mult[(unsigned char)*end];
		return 0;
	}
	if (bento_time_parse(s, out) == 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end && *end == '\0') {
		*out = (int64_t)timegm(&tm);
		return 0;
	}
	return -1;
}

int cmd_history(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "action", required_argument, NULL, 'a' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "verify", no_argument, NULL, 'V' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct bento_history_filter f = { 0 };
	struct bento_event *v = NULL;
	struct bento_error err = { 0 };
	struct bento_store *s = NULL;
	enum cli_output out = CLI_OUT_TABLE;
	char *name = NULL, *digest_prefix = NULL;
	size_t n = 0;
	int c, rc, verify = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': f.action = optarg; break;
		case 's':
		case 'u':
			if (parse_when(optarg, c == 's' ? &f.since : &f.until))
				return cli_usage("history", "--%s: not a time: '%s' (use 2026-11-21, "
					"2026-11-21T10:00:00Z, unix seconds, or 24h / 7d ago)",
					c == 's' ? "since" : "until", optarg);
			break;
		case 'V': verify = 1; break;
		case 'o':
			if ((rc = cli_output_parse("history", optarg, CLI_OUT_TABLE | CLI_OUT_JSON, &out)))
				return rc;
			break;
		default:
			return cli_usage("history", "invalid option");
		}
	}
	if (argc - optind > 1)
		return cli_usage("history", "wants at most one REF");
	if ((rc = cli_open_store(&s)))
		return rc;
	if (verify) {
		int64_t checked = 0, bad = 0;
		rc = bento_history_verify(s, &checked, &bad, &err);
		if (rc)
			rc = cli_fail(rc, &err);
		else
			printf("history intact: %lld events, hash chain and head verified\n",
			       (long long)checked);
		goto out;
	}
	/* REF: name, name:version, or a digest (prefix); deleted objects keep their history. */
	if (optind < argc) {
		const char *ref = argv[optind];
		size_t hex = strspn(ref + (strncmp(ref, "sha256:", 7) ? 0 : 7), "0123456789abcdef");
		if (strncmp(ref, "sha256:", 7) == 0 || (hex >= 12 && hex == strlen(ref))) {
			digest_prefix = strncmp(ref, "sha256:", 7) ? bento_xasprintf("sha256:%s", ref)
								  : bento_xstrdup(ref);
		} else {
			name = bento_xstrdup(ref);
			char *colon = strchr(name, ':');
			if (colon) {
				*colon = '\0';
				if (strcmp(colon + 1, "latest") != 0)
					f.version = colon + 1;
			}
			f.name = name;
		}
	}
	if ((rc = bento_history_query(s, &f, &v, &n, &err))) {
		rc = cli_fail(rc, &err);
		goto out;
	}
	if (out == CLI_OUT_JSON) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			if (!digest_prefix || strncmp(v[i].digest, digest_prefix, strlen(digest_prefix)) == 0)
				json_array_append_new(arr, bento_event_json(&v[i]));
		cli_print_json(arr);
		json_decref(arr);
	} else {
		printf("%-5s  %-20s  %-13s  %-30s  %-19s  %s\n", "SEQ", "TIME", "ACTION", "OBJECT",
		       "DIGEST", "ACTOR");
		for (size_t i = 0; i < n; i++) {
			char t[32], obj[300];
			if (digest_prefix && strncmp(v[i].digest, digest_prefix, strlen(digest_prefix)))
				continue;
			bento_time_rfc3339(v[i].time, t);
			snprintf(obj, sizeof(obj), "%s%s%s%s%s", v[i].kind, *v[i].kind ? " " : "", v[i].name,
				 *v[i].version ? ":" : "", v[i].version);
			printf("%-5lld  %-20s  %-13s  %-30s  %-19.19s  %s\n", (long long)v[i].seq, t,
			       v[i].action, *obj ? obj : "-", *v[i].digest ? v[i].digest : "-", v[i].actor);
		}
	}
out:
	bento_events_free(v, n);
	free(name);
	free(digest_prefix);
	bento_store_close(s);
	return rc;
}
