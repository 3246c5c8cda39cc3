/*
 * The probe endpoints: a deliberately tiny HTTP/1.x server inside the shim's
 * poll loop.  One request per connection, every request answered (request.c
 * judges the bytes), each connection bounded in size and time.  The server
 * always accepts: when HEALTH_CONNS connections are open, the oldest is
 * dropped for the new one, so clients that connect and say nothing (or
 * trickle) can hold at most HEALTH_CONNS slots for HEALTH_CONN_MS each and
 * never keep a probe, which sends its request at once, from being answered.
 * Nothing here blocks the loop that forwards signals.
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

#define HEALTH_CONNS 64
#define HEALTH_CONN_MS 2000	/* from accept to the end of the request head */
#define HEALTH_ACCEPTS 256	/* per poll round, so that signals are not kept waiting */
#define PORT_CHECK_MS 100	/* per port, for each readiness request */

struct conn {
	int fd;
	int64_t deadline;
	size_t len;
	char *buf;		/* HEALTH_REQ_MAX bytes of bufs */
};

/*
 * conns[0..n) in the order they were accepted (conns[0] is the oldest),
 * small so that dropping one moves little; the buffers stay in place and
 * those not in use are spare[0..n_spare).
 */
struct health {
	const struct shim_config *c;
	int lfd;
	size_t n, n_spare;
	struct conn conns[HEALTH_CONNS];
	char *spare[HEALTH_CONNS];
	char bufs[HEALTH_CONNS][HEALTH_REQ_MAX];
};

static int listen_on(int af, const struct shim_config *c, int *fd)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)c->health_port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->health_port) };
	int one = 1, zero = 0;

	if (af == AF_INET6)
		memcpy(&s6.sin6_addr, c->health_ip, sizeof(s6.sin6_addr));
	else
		memcpy(&s4.sin_addr, c->health_ip, sizeof(s4.sin_addr));
	*fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -1;
	/* "::" takes IPv4 too (v4-mapped), whatever net.ipv6.bindv6only says. */
	if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (af == AF_INET6 && setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    (af == AF_INET6 ? bind(*fd, (struct sockaddr *)&s6, sizeof(s6))
			    : bind(*fd, (struct sockaddr *)&s4, sizeof(s4))) ||
	    listen(*fd, SOMAXCONN)) {
		int e = errno;
		close(*fd);
		errno = e;
		return -1;
	}
	return 0;
}

struct health *health_open(const struct shim_config *c)
{
	struct health *h;
	int fd, af = c->health_af ? c->health_af : AF_INET6;

	/* By default every address, IPv6 and IPv4; IPv4 alone where the kernel has no IPv6. */
	if (listen_on(af, c, &fd) &&
	    (c->health_af || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL) ||
	     listen_on(AF_INET, c, &fd))) {
		shim_log("health port %d (on %s): %s", c->health_port,
			 c->health_af ? c->health_addr : "every address", strerror(errno));
		return NULL;
	}
	h = bento_xcalloc(1, sizeof(*h));
	h->c = c;
	h->lfd = fd;
	for (size_t i = 0; i < HEALTH_CONNS; i++)
		h->spare[h->n_spare++] = h->bufs[i];
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
	pfd[k].fd = h->lfd;
	pfd[k].events = POLLIN;
	pfd[k++].revents = 0;
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

static void respond(int fd, int code, const char *body, int head)
{
	static const struct {
		int code;
		const char *text;
	} reasons[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 431, "Request Header Fields Too Large" }, { 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
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
		     "%s\r\n%s", code, reason, strlen(body) + 1,
		     code == 405 ? "Allow: GET, HEAD\r\n" : "", head ? "" : body);
	if (n < 0 || (size_t)n >= sizeof(out) - 1)
		return;
	if (!head)
		out[n++] = '\n';
	/* A few hundred bytes fit any socket buffer; a client that is gone is ignored. */
	(void)send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Answer what request.c made of a request. */
static void answer(struct health *h, int fd, const struct health_request *rq, int stopping)
{
	int ready;

	if (rq->status) {
		respond(fd, rq->status,
			rq->status == 405 ? "{\"error\":\"method not allowed\"}" :
			rq->status == 431 ? "{\"error\":\"request too large\"}" :
			rq->status == 505 ? "{\"error\":\"want HTTP/1.x\"}" :
					    "{\"error\":\"bad request\"}", 0);
		return;
	}
	switch (rq->route) {
	/* The server runs only while the service does: alive is a given. */
	case HEALTH_LIVEZ:
		respond(fd, 200, "{\"status\":\"ok\"}", rq->head);
		break;
	case HEALTH_LIVE:
		respond(fd, 200, "{\"live\":true}", rq->head);
		break;
	case HEALTH_READYZ:
	case HEALTH_READY:
		/* Not ready once stopping: the endpoints drain before the service goes. */
		ready = !stopping && service_ready(h->c);
		if (rq->route == HEALTH_READYZ)
			respond(fd, ready ? 200 : 503,
				ready ? "{\"status\":\"ok\"}" : "{\"status\":\"not ready\"}", rq->head);
		else
			respond(fd, ready ? 200 : 503, ready ? "{\"ready\":true}" : "{\"ready\":false}",
				rq->head);
		break;
	default:
		respond(fd, 404, "{\"error\":\"not found\"}", rq->head);
	}
}

/* Read what there is; 1 when the connection is finished (answered, or closed empty). */
static int conn_read(struct health *h, struct conn *cn, int stopping)
{
	struct health_request rq;

	for (;;) {
		ssize_t n = recv(cn->fd, cn->buf + cn->len, HEALTH_REQ_MAX - cn->len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK;
		cn->len += (size_t)n;
		if (health_request_parse(cn->buf, cn->len, n == 0, &rq)) {
			answer(h, cn->fd, &rq, stopping);
			return 1;
		}
		if (n == 0)
			return 1;	/* closed before sending anything: nothing to answer */
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

/*
 * The end of a connection: answered (drop 0), or out of time or of room
 * (drop 1), when a client that sent part of a request is told so.
 */
static void conn_end(struct health *h, struct conn *cn, int drop)
{
	if (drop && cn->len)
		respond(cn->fd, 408, "{\"error\":\"request timeout\"}", 0);
	conn_close(cn->fd);
	h->spare[h->n_spare++] = cn->buf;
}

void health_serve(struct health *h, const struct pollfd *pfd, size_t n, int stopping,
		  int64_t now)
{
	size_t k = 0, i, keep = 0;

	/* pfd is in health_fds' order: the connections, then the listener. */
	for (i = 0; i < h->n; i++, k++) {
		struct conn *cn = &h->conns[i];

		if (k < n && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    conn_read(h, cn, stopping)) {
			conn_end(h, cn, 0);
		} else if (now >= cn->deadline) {
			conn_end(h, cn, 1);
		} else {
			if (keep != i)
				h->conns[keep] = *cn;
			keep++;
		}
	}
	h->n = keep;
	if (k >= n || !(pfd[k].revents & POLLIN))
		return;
	for (int a = 0; a < HEALTH_ACCEPTS; a++) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *cn;

		if (fd < 0)
			break;
		if (h->n == HEALTH_CONNS) {
			conn_end(h, &h->conns[0], 1);
			memmove(&h->conns[0], &h->conns[1], --h->n * sizeof(h->conns[0]));
		}
		cn = &h->conns[h->n++];
		*cn = (struct conn){ .fd = fd, .deadline = now + HEALTH_CONN_MS,
				     .buf = h->spare[--h->n_spare] };
		/* Usually the request is already there: answer without another poll round. */
		if (conn_read(h, cn, stopping)) {
			conn_end(h, cn, 0);
			h->n--;
		}
	}
}
