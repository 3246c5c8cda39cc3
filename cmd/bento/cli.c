#include <stdarg.h>
#include <unistd.h>
#include <termios.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "buf.h"
#include "cli.h"
#include "history.h"

int cli_fail(int rc, const struct bento_error *err)
{
	if (err && err->msg[0]) {
		/*
		 * Messages quote what a registry, a layout or an archive said
		 * (a media type, a member name): its control characters, an
		 * escape sequence to the terminal among them, are shown as '?'.
		 */
		fputs("bento: error: ", stderr);
		for (const char *p = err->msg; *p; p++)
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
		fputc('\n', stderr);
	} else
		fprintf(stderr, "bento: error: %s\n", bento_strerror(rc));
	return bento_exit_code(rc);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bento %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	const struct cli_cmd *c = cli_find(cmd);
	if (c)
		fprintf(stderr, "usage: %s\n", c->usage);
	return 2;
}

int cli_help(const char *cmd)
{
	const struct cli_cmd *c = cli_find(cmd);

	if (!c)
		return 2;
	printf("bento %s - %s\n\nusage: %s\n\nSee bento-%s(1) for details.\n", c->name,
	       c->summary, c->usage, c->name);
	return 0;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bento: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

int cli_open_store(struct bento_store **s)
{
	struct bento_error err = { 0 };
	int rc = bento_store_open(NULL, s, &err);

	return rc ? cli_fail(rc, &err) : 0;
}

static const struct {
	const char *name;
	enum cli_output v;
} outputs[] = {
	{ "table", CLI_OUT_TABLE }, { "json", CLI_OUT_JSON }, { "yaml", CLI_OUT_YAML },
	{ "path", CLI_OUT_PATH }, { "tag", CLI_OUT_TAG }, { "text", CLI_OUT_TEXT },
};

int cli_output_parse(const char *cmd, const char *s, unsigned allowed, enum cli_output *out)
{
	struct bento_buf names = BENTO_BUF_INIT;

	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		if (!(allowed & outputs[i].v))
			continue;
		if (strcmp(s, outputs[i].name) == 0) {
			*out = outputs[i].v;
			bento_buf_release(&names);
			return 0;
		}
		bento_buf_addf(&names, "%s%s", names.len ? ", " : "", outputs[i].name);
	}
	int rc = cli_usage(cmd, "unknown output format '%s' (choose from %s)", s, names.buf);
	bento_buf_release(&names);
	return rc;
}

void cli_print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s) {
		puts(s);
		free(s);
	}
}

static int yaml_plain(const char *s)
{
	static const char *const words[] = { "", "true", "false", "yes", "no", "null", "~",
					     "on", "off", "y", "n", NULL };
	char *end;

	for (int i = 0; words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			return 0;
	strtod(s, &end);
	if (*end == '\0')
		return 0;
	if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[strlen(s) - 1] == ' ')
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (p[0] == ':' && (p[1] == ' ' || !p[1])) ||
		    (p[0] == ' ' && p[1] == '#'))
			return 0;
	return 1;
}

static void yaml_scalar(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (yaml_plain(json_string_value(v))) {
			fputs(json_string_value(v), stdout);
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY);	/* JSON strings are YAML */
			fputs(s, stdout);
			free(s);
		}
		break;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%.17g", json_real_value(v));
		break;
	case JSON_TRUE: fputs("true", stdout); break;
	case JSON_FALSE: fputs("false", stdout); break;
	default: fputs("null", stdout); break;
	}
}

static int is_container(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void yaml_node(const json_t *v, int indent);

static void yaml_child(const json_t *v, int indent)
{
	if (is_container(v)) {
		putchar('\n');
		yaml_node(v, indent);
	} else {
		putchar(' ');
		if (json_is_object(v))
			fputs("{}", stdout);
		else if (json_is_array(v))
			fputs("[]", stdout);
		else
			yaml_scalar(v);
		putchar('\n');
	}
}

static void yaml_node(const json_t *v, int indent)
{
	if (json_is_object(v)) {
		size_t n = json_object_size(v), i = 0;
		const char **keys = bento_xcalloc(n, sizeof(*keys));
		const char *k;
		json_t *c;

		json_object_foreach((json_t *)v, k, c)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), key_cmp);
		for (i = 0; i < n; i++) {
			json_t *key = json_string(keys[i]);
			printf("%*s", indent, "");
			yaml_scalar(key);
			json_decref(key);
			putchar(':');
			yaml_child(json_object_get(v, keys[i]), indent + 2);
		}
		free(keys);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *c;

		json_array_foreach((json_t *)v, i, c) {
			printf("%*s-", indent, "");
			yaml_child(c, indent + 2);
		}
	} else {
		yaml_scalar(v);
		putchar('\n');
	}
}

void cli_print_yaml(const json_t *v)
{
	yaml_node(v, 0);
}

void cli_human_size(uint64_t n, char out[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)n;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(out, 32, "%.1f %s", d, units[u]);
}

void cli_human_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm)) {
		snprintf(out, 32, "-");
		return;
	}
	strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
}

int cli_parse_label(const char *cmd, const char *arg, char **key, char **value)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return cli_usage(cmd, "--label wants KEY=VALUE, got '%s'", arg);
	*key = bento_xstrndup(arg, (size_t)(eq - arg));
	*value = bento_xstrdup(eq + 1);
	return 0;
}

void cli_short_digest(const struct bento_digest *d, char out[20])
{
	char s[BENTO_DIGEST_STRLEN];

	bento_digest_str(d, s);
	memcpy(out, s, 19);
	out[19] = '\0';
}

int cli_event(struct bento_store *s, const char *action, enum bento_kind kind, const char *name,
	      const char *version, const struct bento_digest *d, json_t *details)
{
	struct bento_error err = { 0 };
	struct bento_event_in ev = {
		.action = action, .kind = kind, .name = name, .version = version, .digest = d,
		.details = details,
	};
	int rc = bento_history_append(s, &ev, &err);

	if (rc) {
		bento_error_prefix(&err, "%s done, but not recorded in the history", action);
		return cli_fail(rc, &err);
	}
	return 0;
}

/*
 * Read a password without echo from the terminal; NULL when there is none.
 * The caller wipes and frees it.
 */
char *cli_read_password(const char *prompt)
{
	struct termios old, quiet;
	char buf[1024], *p = NULL;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	FILE *tty;

	if (fd < 0)
		return NULL;
	tty = fdopen(fd, "r+");
	if (!tty) {
		close(fd);
		return NULL;
	}
	fputs(prompt, tty);
	fflush(tty);
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	if (fgets(buf, sizeof(buf), tty)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		p = bento_xstrdup(buf);
	}
	tcsetattr(fd, TCSAFLUSH, &old);
	fputs("\n", tty);
	sodium_memzero(buf, sizeof(buf));
	fclose(tty);
	return p;
}
