/*
 * What the shim reads from its environment (its whole configuration: a
 * container's Cmd belongs to the service), and the environment it gives
 * the service.  Every bad value is one line naming the variable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cjson.h"
#include "fs.h"
#include "shim.h"

#define DEFAULT_ROOT "/bento"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_STOP_MS 10000

int shim_log_fd = 2;

void shim_log(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	if (shim_log_fd < 0)
		return;
	memcpy(line, "bento-shim: ", 12);
	va_start(ap, fmt);
	n = vsnprintf(line + 12, sizeof(line) - 13, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 14)
		n = (int)(sizeof(line) - 14);
	line[12 + n] = '\n';
	/* One write per line: the service shares stderr and may log concurrently. */
	(void)bento_write_all(shim_log_fd, line, 12 + (size_t)n + 1);
}

/* getenv on envp: the value of the first NAME=, or NULL. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* A value that must be one of the words; -1 when it is none of them. */
static int env_bool(char *const *envp, const char *name, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "", "0", "false", "no", "off", NULL };
	const char *v = env_get(envp, name);

	*out = 0;
	if (!v)
		return 0;
	for (size_t i = 0; yes[i]; i++)
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
	for (size_t i = 0; no[i]; i++)
		if (strcmp(v, no[i]) == 0)
			return 0;
	shim_log("%s: '%.80s' is not a boolean (want 1 or 0)", name, v);
	return -1;
}

/*
 * "10", "0.5", "2.25": parsed by hand rather than with strtod, which reads
 * the locale and takes hex, exponents and "inf".  Sub-millisecond parts are
 * rounded up so that any positive value stays positive.
 */
static int parse_seconds(const char *s, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0, scale = 1000;
	int digits = 0, sub = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 9)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (!digits)
		return -1;
	if (*p == '.') {
		if (!p[1])
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += scale * (uint64_t)(*p - '0');
			} else if (*p != '0') {
				sub = 1;
			}
		}
	}
	if (*p)
		return -1;
	*ms = whole * 1000 + frac + (uint64_t)sub;
	return *ms ? 0 : -1;
}

static int parse_port(const char *s, size_t n, int *out)
{
	int v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

/*
 * An IP address as inet_pton reads it: dotted-quad IPv4 ("127.0.0.1"), or
 * IPv6 ("::1", "fd00::5"), bare or in brackets.  No names: a static PID 1
 * has no resolver to ask, and a probe address should not depend on one.
 */
static int parse_addr(const char *s, struct shim_config *c)
{
	char v6[INET6_ADDRSTRLEN];
	size_t n = strlen(s);

	c->health_addr = bento_xstrdup(s);
	if (inet_pton(AF_INET, s, c->health_ip) == 1) {
		c->health_af = AF_INET;
		return 0;
	}
	if (n > 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(v6))
		return -1;
	memcpy(v6, s, n);
	v6[n] = '\0';
	if (inet_pton(AF_INET6, v6, c->health_ip) != 1)
		return -1;
	c->health_af = AF_INET6;
	return 0;
}

static void add_key(struct shim_config *c, const struct bento_pubkey *k)
{
	c->keys = bento_xrealloc(c->keys, (c->n_keys + 1) * sizeof(*c->keys));
	c->keys[c->n_keys++] = *k;
}

static int add_key_file(struct shim_config *c, const char *var, const char *path)
{
	struct bento_error err = { 0 };
	struct bento_pubkey k;

	if (bento_pubkey_load(path, &k, &err)) {
		shim_log("%s: %s", var, err.msg);
		return -1;
	}
	add_key(c, &k);
	return 0;
}

/* Every NAME.pub in dir, in name order so that errors are reproducible. */
static int add_key_dir(struct shim_config *c, const char *var, const char *dir)
{
	char **names;
	size_t n;
	int rc = bento_dir_list(dir, ".pub", 1, &names, &n);

	if (rc < 0) {
		shim_log("%s: %s: %s", var, dir, strerror(-rc));
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_key_file(c, var, names[i]);
	bento_strv_free(names, n);
	return rc;
}

static int read_keys(struct shim_config *c, char *const *envp)
{
	const char *one = env_get(envp, "BENTO_TRUSTED_KEY");
	const char *many = env_get(envp, "BENTO_TRUSTED_KEYS");
	int given = 0;

	if (one && *one) {
		struct bento_pubkey k;

		given = 1;
		/* The bare key line is the form that fits in a pod spec; else a file. */
		if (bento_pubkey_parse(one, strlen(one), "BENTO_TRUSTED_KEY", &k, NULL) == 0)
			add_key(c, &k);
		else if (add_key_file(c, "BENTO_TRUSTED_KEY", one))
			return -1;
	}
	if (many && *many) {
		char *list = bento_xstrdup(many), *save = NULL;
		int rc = 0;

		given = 1;
		for (char *p = strtok_r(list, ":", &save); p && rc == 0;
		     p = strtok_r(NULL, ":", &save)) {
			struct stat st;

			if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
				rc = add_key_dir(c, "BENTO_TRUSTED_KEYS", p);
			else
				rc = add_key_file(c, "BENTO_TRUSTED_KEYS", p);
		}
		free(list);
		if (rc)
			return -1;
	}
	if (given)
		c->require_signature = 1;
	if (c->require_signature && c->n_keys == 0) {
		shim_log("signature required: no trusted key given "
			 "(set BENTO_TRUSTED_KEY or BENTO_TRUSTED_KEYS)");
		return -1;
	}
	return 0;
}

int shim_config_read(struct shim_config *c, char *const *envp)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	v = env_get(envp, "BENTO_ROOT");
	if (v && !*v) {
		shim_log("BENTO_ROOT: empty (unset it for %s)", DEFAULT_ROOT);
		return -1;
	}
	c->root = bento_xstrdup(v ? v : DEFAULT_ROOT);

	v = env_get(envp, "BENTO_VERIFY");
	if (!v || !strcmp(v, "size") || !*v)
		c->verify = VERIFY_SIZE;
	else if (!strcmp(v, "full"))
		c->verify = VERIFY_FULL;
	else if (!strcmp(v, "off"))
		c->verify = VERIFY_OFF;
	else {
		shim_log("BENTO_VERIFY: '%.80s' is not one of size, full, off", v);
		return -1;
	}

	c->stop_timeout_ms = DEFAULT_STOP_MS;
	v = env_get(envp, "BENTO_STOP_TIMEOUT");
	if (v && parse_seconds(v, &c->stop_timeout_ms)) {
		shim_log("BENTO_STOP_TIMEOUT: '%.80s' is not a positive number of seconds", v);
		return -1;
	}

	v = env_get(envp, "BENTO_HEALTH_PORT");
	if (v && *v && parse_port(v, strlen(v), &c->health_port)) {
		shim_log("BENTO_HEALTH_PORT: '%.80s' is not a port number (1-65535)", v);
		return -1;
	}
	v = env_get(envp, "BENTO_HEALTH_ADDR");
	if (v && *v && parse_addr(v, c)) {
		shim_log("BENTO_HEALTH_ADDR: '%.80s' is not an IPv4 or IPv6 address", v);
		return -1;
	}

	v = env_get(envp, "BENTO_SERVICE_PORT");
	if (v && *v) {
		const char *p = v;

		c->service_ports_from_env = 1;
		for (;;) {
			size_t n = strcspn(p, ",");
			if (c->n_service_ports == SHIM_MAX_PORTS ||
			    parse_port(p, n, &c->service_ports[c->n_service_ports])) {
				shim_log("BENTO_SERVICE_PORT: '%.80s' is not a list of up to %d "
					 "port numbers", v, SHIM_MAX_PORTS);
				return -1;
			}
			c->n_service_ports++;
			if (!p[n])
				break;
			p += n + 1;
		}
	}

	if (env_bool(envp, "BENTO_SHIM_QUIET", &c->quiet) ||
	    env_bool(envp, "BENTO_REQUIRE_SIGNATURE", &c->require_signature))
		return -1;
	return read_keys(c, envp);
}

void shim_config_release(struct shim_config *c)
{
	free(c->root);
	free(c->keys);
	free(c->health_addr);
	memset(c, 0, sizeof(*c));
}

/*
 * Service env vars fill in what the platform left unset: a pod spec's env
 * (or docker run -e) is the operator's decision and wins.  image.env goes
 * first so that it beats service.envs, as in the image config bento writes.
 * The names already set are kept in a hash table (a JSON object, as the
 * manifest's maps already are), not looked up in the array: setenv(3) for
 * each variable scans the whole environment and made 100,000 of them take
 * 19 s.
 */
size_t shim_env_merge(char *const *envp, const struct bento_manifest *m, char ***out)
{
	const json_t *svc = json_object_get(m->json, "service");
	const json_t *maps[] = { json_object_get(json_object_get(svc, "image"), "env"),
				 json_object_get(svc, "envs") };
	json_t *set = json_object(), *val;
	size_t n = 0, cap = 2;
	const char *k;
	char **v;

	for (size_t i = 0; envp[i]; i++)
		cap++;
	for (size_t i = 0; i < 2; i++)
		cap += json_object_size(maps[i]);
	v = bento_xcalloc(cap, sizeof(*v));
	for (; *envp; envp++) {
		v[n++] = bento_xstrdup(*envp);
		json_object_setn_new_nocheck(set, *envp, strcspn(*envp, "="), json_null());
	}
	for (size_t i = 0; i < 2; i++)
		json_object_foreach((json_t *)maps[i], k, val)
			if (json_is_string(val) && !json_object_get(set, k)) {
				v[n++] = bento_xasprintf("%s=%s", k, json_string_value(val));
				json_object_set_new_nocheck(set, k, json_null());
			}
	if (!json_object_get(set, "PATH"))
		v[n++] = bento_xstrdup("PATH=" DEFAULT_PATH);
	json_decref(set);
	*out = v;
	return n;
}

/*
 * service.image.workdir: relative to ROOT/src, or absolute.  An absolute one
 * under /bento (where images put the bento) moves with BENTO_ROOT, so a
 * bento behaves the same extracted anywhere as in its image.
 */
char *shim_workdir(const struct shim_config *c, const struct bento_manifest *m)
{
	const json_t *img = json_object_get(json_object_get(m->json, "service"), "image");
	const char *wd = bento_json_str(img, "workdir");
	size_t rl = strlen(DEFAULT_ROOT);

	if (wd && !strncmp(wd, DEFAULT_ROOT, rl) && (wd[rl] == '/' || !wd[rl]))
		return bento_xasprintf("%s%s", c->root, wd + rl);
	if (wd && wd[0] == '/')
		return bento_xstrdup(wd);
	if (wd && *wd)
		return bento_xasprintf("%s/src/%s", c->root, wd);
	return bento_xasprintf("%s/src", c->root);
}
