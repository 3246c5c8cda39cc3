/*
 * The probe endpoints: a deliberately tiny HTTP/1.x server inside the shim's
 * poll loop.  One request per connection, a few connections at a time, each
 * bounded in size and time, so a slow or hostile client can cost the shim a
 * file descriptor for HEALTH_CONN_MS at most and never blocks the loop that
 * forwards signals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "shim.h"

#define HEALTH_CONNS 16
#define HEALTH_REQ_MAX 4096	/* a kubelet probe is ~150 bytes */
#define HEALTH_CONN_MS 2000	/* from accept to the end of the request headers */
#define PORT_CHECK_MS 100	/* per port, for each readiness request */

struct conn {
	int fd;
	int64_t deadline;
	size_t len;
	char buf[HEALTH_REQ_MAX + 1];
};

struct health {
	const struct shim_config *c;
	int lfd;
	int listening;		/* lfd is in the poll set this round */
	size_t n;
	struct conn conns[HEALTH_CONNS];
};

struct health *health_open(const struct shim_config *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	struct health *h;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sa.sin_port = htons((uint16_t)c->health_port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		shim_log("health port %d: %s", c->health_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	h = bento_xcalloc(1, sizeof(*h));
	h->c = c;
	h->lfd = fd;
	return h;
}

void health_close(struct health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		close(h->conns[i].fd);
	close(h->lfd);
	free(h);
}

size_t health_max_fds(void)
{
	return 1 + HEALTH_CONNS;
}

size_t health_fds(struct health *h, struct pollfd *pfd, int64_t *deadline)
{
	size_t k = 0;

	*deadline = -1;
	for (size_t i = 0; i < h->n; i++) {
		pfd[k].fd = h->conns[i].fd;
		pfd[k].events = POLLIN;
		pfd[k++].revents = 0;
		if (*deadline < 0 || h->conns[i].deadline < *deadline)
			*deadline = h->conns[i].deadline;
	}
	/* When full, new clients wait in the listen backlog instead of being dropped. */
	h->listening = h->n < HEALTH_CONNS;
	if (h->listening) {
		pfd[k].fd = h->lfd;
		pfd[k].events = POLLIN;
		pfd[k++].revents = 0;
	}
	return k;
}

/* 1 when something accepts a TCP connection on 127.0.0.1:port right now. */
static int port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), ok = 0, e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return 0;
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		ok = 1;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, PORT_CHECK_MS) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

static int service_ready(const struct shim_config *c)
{
	for (size_t i = 0; i < c->n_service_ports; i++)
		if (!port_open(c->service_ports[i]))
			return 0;
	return 1;
}

static void respond(int fd, int code, const char *extra, const char *body, int head)
{
	static const struct {
		int code;
		const char *text;
	} reasons[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 431, "Request Header Fields Too Large" },
		{ 503, "Service Unavailable" }, { 505, "HTTP Version Not Supported" },
	};
	const char *reason = "";
	char out[512];
	int n;

	for (size_t i = 0; i < sizeof(reasons) / sizeof(*reasons); i++)
		if (reasons[i].code == code)
			reason = reasons[i].text;
	n = snprintf(out, sizeof(out),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n"
		     "%s\r\n%s", code, reason, strlen(body) + 1, extra, head ? "" : body);
	if (n < 0 || (size_t)n >= sizeof(out) - 1)
		return;
	if (!head)
		out[n++] = '\n';
	/* A few hundred bytes fit any socket buffer; a client that is gone is ignored. */
	(void)send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Route one complete request head (NUL-terminated in buf). */
static void handle(struct health *h, int fd, char *buf, int stopping)
{
	char *method = buf, *target, *version, *eol = strpbrk(buf, "\r\n");
	int head, ready;

	if (eol)
		*eol = '\0';
	if (!(target = strchr(method, ' ')) || !(version = strchr(target + 1, ' '))) {
		respond(fd, 400, "", "{\"error\":\"bad request\"}", 0);
		return;
	}
	*target++ = '\0';
	*version++ = '\0';
	if (strncmp(version, "HTTP/1.", 7) != 0 || !version[7] || version[8]) {
		respond(fd, strncmp(version, "HTTP/", 5) ? 400 : 505, "",
			"{\"error\":\"want HTTP/1.x\"}", 0);
		return;
	}
	head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		respond(fd, 405, "Allow: GET, HEAD\r\n", "{\"error\":\"method not allowed\"}", 0);
		return;
	}
	target[strcspn(target, "?#")] = '\0';
	/* The server runs only while the service does: alive is a given. */
	if (!strcmp(target, "/livez")) {
		respond(fd, 200, "", "{\"status\":\"ok\"}", head);
	} else if (!strcmp(target, "/v2/health/live")) {
		respond(fd, 200, "", "{\"live\":true}", head);
	} else if (!strcmp(target, "/readyz") || !strcmp(target, "/v2/health/ready")) {
		/* Not ready once stopping: the endpoints drain before the service goes. */
		ready = !stopping && service_ready(h->c);
		if (target[1] == 'r')
			respond(fd, ready ? 200 : 503, "",
				ready ? "{\"status\":\"ok\"}" : "{\"status\":\"not ready\"}", head);
		else
			respond(fd, ready ? 200 : 503, "",
				ready ? "{\"ready\":true}" : "{\"ready\":false}", head);
	} else {
		respond(fd, 404, "", "{\"error\":\"not found\"}", head);
	}
}

/* Read what there is; 1 when the connection is finished (answered or dropped). */
static int conn_read(struct health *h, struct conn *cn, int stopping)
{
	for (;;) {
		ssize_t n = recv(cn->fd, cn->buf + cn->len, HEALTH_REQ_MAX - cn->len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK;
		if (n == 0)
			return 1;	/* closed before a whole request: nothing to answer */
		cn->len += (size_t)n;
		cn->buf[cn->len] = '\0';
		if (strstr(cn->buf, "\r\n\r\n") || strstr(cn->buf, "\n\n")) {
			handle(h, cn->fd, cn->buf, stopping);
			return 1;
		}
		if (cn->len == HEALTH_REQ_MAX) {
			respond(cn->fd, 431, "", "{\"error\":\"request too large\"}", 0);
			return 1;
		}
	}
}

/*
 * Closing with unread request bytes makes the kernel send a reset, which may
 * reach the client before the answer does: drop what is already there.
 */
static void conn_close(int fd)
{
	char sink[1024];
	size_t total = 0;
	ssize_t n;

	while (total < (64u << 10) && (n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	close(fd);
}

void health_serve(struct health *h, const struct pollfd *pfd, size_t n, int stopping,
		  int64_t now)
{
	size_t k = 0, i, keep = 0;

	/* pfd is in health_fds' order: the connections, then the listener. */
	for (i = 0; i < h->n; i++, k++) {
		struct conn *cn = &h->conns[i];
		int finished = 0;

		if (k < n && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
			finished = conn_read(h, cn, stopping);
		if (!finished && now >= cn->deadline)
			finished = 1;
		if (finished) {
			conn_close(cn->fd);
			continue;
		}
		if (keep != i)
			h->conns[keep] = *cn;
		keep++;
	}
	h->n = keep;
	if (!h->listening || k >= n || !(pfd[k].revents & POLLIN))
		return;
	while (h->n < HEALTH_CONNS) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		h->conns[h->n].fd = fd;
		h->conns[h->n].deadline = now + HEALTH_CONN_MS;
		h->conns[h->n].len = 0;
		h->conns[h->n].buf[0] = '\0';
		h->n++;
		/* Usually the request is already there: answer without another poll round. */
		if (conn_read(h, &h->conns[h->n - 1], stopping)) {
			conn_close(fd);
			h->n--;
		}
	}
}
