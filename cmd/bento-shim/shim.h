/*
 * shim.h - private to bento-shim, the container entrypoint (PID 1).
 *
 * main.c runs the steps in order: config.c reads the configuration (the
 * environment), check.c refuses a bento that is not what bento.json and the
 * trusted keys say, run.c starts and supervises the service, health.c
 * answers the probes from run.c's poll loop (request.c judging each
 * request).  Every refusal is one line on stderr and one of the exit codes
 * below (documented in man/bento-shim.1).  Everything but main.c and lean.c
 * also links into the fuzz targets (tests/fuzz/fuzz_shim_*.c).
 */
#ifndef BENTO_SHIM_H
#define BENTO_SHIM_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "sign.h"

/*
 * Exit codes of the shim itself.  They sit just under the shell's 126/127
 * so that they cannot be confused with 128+N (killed by a signal), and a
 * service that wants to be told apart from its shim can keep below 120.
 */
enum shim_exit {
	SHIM_EXIT_CONFIG = 120,		/* bad environment value or arguments */
	SHIM_EXIT_MANIFEST = 121,	/* bento.json missing, unreadable or malformed */
	SHIM_EXIT_FILES = 122,		/* a listed file missing or not as listed */
	SHIM_EXIT_SIGNATURE = 123,	/* no good signature by a trusted key */
	SHIM_EXIT_INTERNAL = 125,	/* the shim could not set up (fork, signalfd, port) */
	SHIM_EXIT_NOEXEC = 126,		/* the service is there but cannot be run */
	SHIM_EXIT_NOTFOUND = 127,	/* the service's program is not there */
};

enum shim_verify { VERIFY_OFF, VERIFY_SIZE, VERIFY_FULL };

#define SHIM_MAX_PORTS 64

struct shim_config {
	char *root;			/* BENTO_ROOT or /bento */
	enum shim_verify verify;	/* BENTO_VERIFY */
	struct bento_pubkey *keys;	/* BENTO_TRUSTED_KEY(S) */
	size_t n_keys;
	int require_signature;		/* keys given, or BENTO_REQUIRE_SIGNATURE=1 */
	uint64_t stop_timeout_ms;	/* BENTO_STOP_TIMEOUT */
	int health_port;		/* BENTO_HEALTH_PORT, 0 = none */
	int health_af;			/* BENTO_HEALTH_ADDR's family, 0 = unset (every address) */
	unsigned char health_ip[16];	/* its address, network order; zero = any */
	char *health_addr;		/* BENTO_HEALTH_ADDR as given, or NULL */
	int service_ports[SHIM_MAX_PORTS];	/* BENTO_SERVICE_PORT, else service.image.ports */
	size_t n_service_ports;
	int service_ports_from_env;
	int quiet;			/* BENTO_SHIM_QUIET */
};

/* ---- config.c ---- */

/* "bento-shim: " + the message + newline, on shim_log_fd (stderr), in one write. */
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int shim_log_fd;		/* -1: nowhere (the fuzz targets) */

/*
 * Fill c from the environment envp (NULL-terminated "NAME=VALUE" strings;
 * the first of a name counts, as for getenv), reading the trusted key
 * files it names.  -1 with the line printed on a bad value (exit
 * SHIM_EXIT_CONFIG); release c in either case.
 */
int shim_config_read(struct shim_config *c, char *const *envp);
void shim_config_release(struct shim_config *c);

/*
 * The service's environment: envp, then service.image.env and then
 * service.envs of m for each name not set before, then PATH when unset.
 * Linear in the number of variables.  Returns the count; *out is a new
 * NULL-terminated array of new strings (bento_strv_free(*out, count)).
 */
size_t shim_env_merge(char *const *envp, const struct bento_manifest *m, char ***out);

/* The service's working directory (service.image.workdir under c->root); a new string. */
char *shim_workdir(const struct shim_config *c, const struct bento_manifest *m);

/* ---- check.c ---- */

/*
 * Read and parse ROOT/bento.json; on success *m is new and *json, *len hold
 * the exact bytes (the signed message; caller frees).  Refusals print their
 * line and return SHIM_EXIT_MANIFEST; 0 on success.
 */
int shim_load_manifest(const struct shim_config *c, struct bento_manifest **m, char **json,
		       size_t *len);
/* At least one good signature by a trusted key naming m's digest; else SHIM_EXIT_SIGNATURE. */
int shim_check_signatures(const struct shim_config *c, const struct bento_manifest *m,
			  const char *json, size_t len, char *signer, size_t signer_len);
/* Every listed file as c->verify asks; else SHIM_EXIT_FILES. */
int shim_check_files(const struct shim_config *c, const struct bento_manifest *m);
/* The ports and workdir/env hints of service.image, type-checked (SHIM_EXIT_MANIFEST). */
int shim_check_service(struct shim_config *c, const struct bento_manifest *m);

/* ---- run.c ---- */

/*
 * Start argv in workdir and supervise it until it exits; returns the exit
 * status the shim should end with (the service's, 128+N, or a SHIM_EXIT_*
 * when it could not be started).
 */
int shim_run(const struct shim_config *c, char *const *argv, const char *workdir,
	     const char *banner);

/* ---- health.c ---- */

struct health;

/*
 * Listen on BENTO_HEALTH_ADDR:port, by default on every address (IPv6 and
 * IPv4, or IPv4 alone without IPv6); NULL with the line printed on failure.
 */
struct health *health_open(const struct shim_config *c);
void health_close(struct health *h);
/*
 * The poll entries the server wants (at most health_max_fds()) and the next
 * deadline it needs woken for (monotonic ms, or -1).
 */
size_t health_max_fds(void);
size_t health_fds(struct health *h, struct pollfd *pfd, int64_t *deadline);
/*
 * Serve what poll reported in pfd[0..n) (as health_fds filled it); while
 * stopping, readiness is 503.
 */
void health_serve(struct health *h, const struct pollfd *pfd, size_t n, int stopping,
		  int64_t now);

/* ---- request.c ---- */

#define HEALTH_REQ_MAX 4096	/* bytes of request head; a kubelet probe is ~150 */

enum health_route { HEALTH_NOT_FOUND, HEALTH_LIVEZ, HEALTH_LIVE, HEALTH_READYZ, HEALTH_READY };

struct health_request {
	int status;		/* 0: a request to route; else the error status to answer */
	enum health_route route;
	int head;		/* HEAD: the answer without its body */
};

/*
 * Judge the len bytes (any bytes, NULs included) a client sent so far; eof:
 * it will send no more.  0 while more bytes could still make a request;
 * else 1 with *out filled: status 0 and a route for a whole good head
 * (GET or HEAD, HTTP/1.x), or 400 (malformed, or cut short by eof), 405
 * (another method), 431 (HEALTH_REQ_MAX bytes and no end), 505 (HTTP/2+).
 */
int health_request_parse(const char *buf, size_t len, int eof, struct health_request *out);

/* Monotonic clock in milliseconds. */
int64_t shim_now_ms(void);

#endif
