/*
 * relay_load: the client and bulk backend of bench/relay/run, and the client of
 * bench/operator/run (built by those scripts, not by CMake: it links OpenSSL, which
 * the project's libraries do not need, and compiles src/shared/proxy_v2.c with it).
 *
 *   relay_load serve ADDR:PORT:proxy|plain...
 *       Bulk backend. On each listener, "proxy" expects a PROXY v2 header first. Then:
 *       a TLS record first (0x16): the ClientHello is skipped, and each 8-byte
 *       big-endian count the client sends is answered with that many bytes;
 *       otherwise HTTP/1.1 keep-alive: "GET /bytes/N" is answered with an N-byte body.
 *       Prints "ready" once listening; runs until killed.
 *   relay_load bulk http|tls ADDR:PORT NAME SECONDS [ROUND_MIB]
 *       One stream: rounds of ROUND_MIB (default 256) MiB downloaded until SECONDS
 *       have passed. http: GET /bytes/N with Host NAME; tls: a ClientHello naming NAME
 *       (never completed: the bulk backend does not speak TLS), then counts.
 *       Prints "bytes=B seconds=S".
 *   relay_load tls ADDR:PORT NAME CONCURRENCY SECONDS
 *       New HTTPS connection per request: TCP connect, full TLS handshake (SNI NAME,
 *       no session resumption), GET / with Connection: close, read to EOF, close.
 *       CONCURRENCY at once for SECONDS. Prints "conns=N errors=E seconds=S p50_us=..
 *       p99_us=.." (latency: connect() to EOF, handshake included).
 *   relay_load load http|tls keep|close ADDR:PORT NAME CONCURRENCY SECONDS [proxy]
 *       Request load on CONCURRENCY connections for SECONDS, GET / with Host NAME
 *       (tls: SNI NAME, full handshakes, no session resumption). keep: each connection
 *       sends its next request as soon as the previous answer is complete (keep-alive);
 *       latency: request sent to answer complete. close: a new connection per request,
 *       "Connection: close", read to EOF; latency: connect() to EOF. proxy: a PROXY v2
 *       header first on each connection, as the relay writes it (the project's encoder:
 *       the client's address, the name as authority, a unique id), in the same segment
 *       as the first bytes after it. Prints "requests=N conns=C errors=E seconds=S
 *       p50_us=.. p99_us=.. cpu_us=.." (cpu_us: this client's own user+system time).
 *   relay_load idle http|tls ADDR:PORT NAME COUNT HOLD_SECONDS
 *       Opens COUNT connections, 64 at a time, each completing one keep-alive request
 *       (tls: after a full handshake), and keeps them all open and idle.
 *       Prints "ready opened=N" and waits for SIGTERM or HOLD_SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy_v2.h"

#define BIG (1 << 20)

static void die(const char *what)
{
	fprintf(stderr, "relay_load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "relay_load: bad address %s\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		fprintf(stderr, "relay_load: bad address %s\n", s);
		exit(2);
	}
}

static int read_exact(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint8_t zeros[BIG];

static int send_bytes(int fd, uint64_t n)
{
	while (n > 0) {
		size_t k = n < BIG ? (size_t)n : BIG;
		if (send_all(fd, zeros, k) != 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* ---- serve -------------------------------------------------------------- */

struct srv_conn {
	int fd;
	int proxy;
};

static void *serve_conn(void *arg)
{
	struct srv_conn *sc = arg;
	int fd = sc->fd;
	static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	uint8_t hdr[16];
	char *buf = malloc(16384);
	if (buf == NULL)
		goto out;
	if (sc->proxy) {
		if (read_exact(fd, hdr, 16) != 0 || memcmp(hdr, sig, 12) != 0)
			goto out;
		size_t len = (size_t)hdr[14] << 8 | hdr[15];
		if (len > 16384 || read_exact(fd, buf, len) != 0)
			goto out;
	}
	uint8_t first;
	if (recv(fd, &first, 1, MSG_PEEK) != 1)
		goto out;
	if (first == 0x16) {
		if (read_exact(fd, hdr, 5) != 0)
			goto out;
		size_t len = (size_t)hdr[3] << 8 | hdr[4];
		if (len > 16384 || read_exact(fd, buf, len) != 0)
			goto out;
		uint8_t cnt[8];
		while (read_exact(fd, cnt, 8) == 0) {
			uint64_t n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | cnt[i];
			if (send_bytes(fd, n) != 0)
				break;
		}
		goto out;
	}
	size_t have = 0;
	for (;;) {
		char *end;
		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
			if (have >= 16383)
				goto out;
			ssize_t r = recv(fd, buf + have, 16383 - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		buf[have] = 0;
		uint64_t n = 0;
		if (strncmp(buf, "GET /bytes/", 11) == 0)
			n = strtoull(buf + 11, NULL, 10);
		char head[160];
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
				  "Content-Length: %llu\r\n\r\n", (unsigned long long)n);
		if (send_all(fd, head, (size_t)hl) != 0 || send_bytes(fd, n) != 0)
			goto out;
		size_t used = (size_t)(end + 4 - buf);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
out:
	free(buf);
	close(fd);
	free(sc);
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	struct pollfd pfd[16];
	int proxy[16];
	int n = 0;
	for (int i = 0; i < argc && n < 16; i++, n++) {
		char spec[96];
		snprintf(spec, sizeof(spec), "%s", argv[i]);
		char *mode = strrchr(spec, ':');
		if (mode == NULL)
			return 2;
		*mode++ = 0;
		proxy[n] = strcmp(mode, "proxy") == 0;
		struct sockaddr_in a;
		parse_addr(spec, &a);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0)
			die(argv[i]);
		pfd[n].fd = fd;
		pfd[n].events = POLLIN;
	}
	printf("ready\n");
	fflush(stdout);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			struct srv_conn *sc = malloc(sizeof(*sc));
			sc->fd = fd;
			sc->proxy = proxy[i];
			pthread_t t;
			if (pthread_create(&t, &at, serve_conn, sc) != 0) {
				close(fd);
				free(sc);
			}
		}
	}
}

/* ---- bulk --------------------------------------------------------------- */

static int tcp_connect(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A minimal TLS 1.3-style ClientHello naming NAME (enough for SNI routers). */
static size_t client_hello(uint8_t *out, const char *name)
{
	size_t nl = strlen(name);
	uint8_t body[512];
	size_t b = 0;
	body[b++] = 3;
	body[b++] = 3;
	for (int i = 0; i < 32; i++)
		body[b++] = (uint8_t)(i * 7 + 1);
	body[b++] = 0;                        /* session id */
	body[b++] = 0; body[b++] = 2;         /* cipher suites */
	body[b++] = 0x13; body[b++] = 0x01;
	body[b++] = 1; body[b++] = 0;         /* compression: null */
	size_t ext_len = 4 + 2 + 1 + 2 + nl;
	body[b++] = (uint8_t)(ext_len >> 8); body[b++] = (uint8_t)ext_len;
	body[b++] = 0; body[b++] = 0;         /* server_name */
	body[b++] = (uint8_t)((nl + 5) >> 8); body[b++] = (uint8_t)(nl + 5);
	body[b++] = (uint8_t)((nl + 3) >> 8); body[b++] = (uint8_t)(nl + 3);
	body[b++] = 0;                        /* host_name */
	body[b++] = (uint8_t)(nl >> 8); body[b++] = (uint8_t)nl;
	memcpy(body + b, name, nl);
	b += nl;
	size_t o = 0;
	out[o++] = 0x16; out[o++] = 3; out[o++] = 1;
	out[o++] = (uint8_t)((b + 4) >> 8); out[o++] = (uint8_t)(b + 4);
	out[o++] = 1;
	out[o++] = 0; out[o++] = (uint8_t)(b >> 8); out[o++] = (uint8_t)b;
	memcpy(out + o, body, b);
	return o + b;
}

/* Read an HTTP response head from fd into buf; returns the head length and sets
 * *body_have to the body bytes already read and *clen to Content-Length. */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *body_have, uint64_t *clen)
{
	size_t have = 0;
	char *end;
	for (;;) {
		buf[have] = 0;
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (have + 1 >= cap)
			return -1;
		ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	size_t hl = (size_t)(end + 4 - buf);
	*body_have = have - hl;
	*clen = 0;
	for (char *p = buf; p < end; p++)
		if (strncasecmp(p, "\r\ncontent-length:", 17) == 0)
			*clen = strtoull(p + 17, NULL, 10);
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
		return -1;
	return (ssize_t)hl;
}

static int cmd_bulk(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int tls = strcmp(argv[0], "tls") == 0;
	struct sockaddr_in a;
	parse_addr(argv[1], &a);
	const char *name = argv[2];
	double seconds = atof(argv[3]);
	uint64_t round = (uint64_t)(argc > 4 ? atoi(argv[4]) : 256) << 20;
	int fd = tcp_connect(&a);
	if (fd < 0)
		die("connect");
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	char *buf = malloc(BIG);
	if (tls) {
		uint8_t hello[600];
		size_t hl = client_hello(hello, name);
		if (send_all(fd, hello, hl) != 0)
			die("send hello");
	}
	uint64_t total = 0;
	double t0 = now_s(), t = t0;
	while (t - t0 < seconds) {
		uint64_t want;
		if (tls) {
			uint8_t cnt[8];
			for (int i = 0; i < 8; i++)
				cnt[i] = (uint8_t)(round >> (56 - 8 * i));
			if (send_all(fd, cnt, 8) != 0)
				die("send count");
			want = round;
		} else {
			char req[256];
			int rl = snprintf(req, sizeof(req), "GET /bytes/%llu HTTP/1.1\r\nHost: %s\r\n\r\n",
					  (unsigned long long)round, name);
			if (send_all(fd, req, (size_t)rl) != 0)
				die("send request");
			size_t body_have = 0;
			uint64_t clen = 0;
			if (read_head(fd, buf, 4096, &body_have, &clen) < 0 || clen != round) {
				fprintf(stderr, "relay_load: bad response head\n");
				return 1;
			}
			want = round - body_have;
			total += body_have;
		}
		while (want > 0) {
			ssize_t r = recv(fd, buf, want < BIG ? (size_t)want : BIG, 0);
			if (r <= 0) {
				fprintf(stderr, "relay_load: stream ended early\n");
				return 1;
			}
			want -= (uint64_t)r;
			total += (uint64_t)r;
		}
		t = now_s();
	}
	close(fd);
	printf("bytes=%llu seconds=%.3f\n", (unsigned long long)total, t - t0);
	return 0;
}

/* ---- many connections: TLS load and idle ---------------------------------- */

/*
 * One state machine drives both: connect, (TLS handshake,) one request, its answer.
 * Load mode (close): "Connection: close", read to EOF, record the latency, start over.
 * Idle mode (keep): a keep-alive request, read the answer by Content-Length, then
 * leave the connection open and idle; stop once COUNT are open.
 */
enum { TC_CONNECT, TC_HANDSHAKE, TC_WRITE, TC_READ, TC_IDLE };

struct tconn {
	int fd;
	int state;
	uint32_t events;  /* the epoll interest now registered */
	SSL *ssl;
	uint64_t start;
	size_t got;
	char head[1024];
};

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Every handshake is a full one. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* A complete keep-alive answer is in c->head: 1 (200), -1 (other), 0 (not yet). */
static int answer_done(const struct tconn *c)
{
	const char *end = memmem(c->head, c->got < sizeof(c->head) ? c->got : sizeof(c->head),
				 "\r\n\r\n", 4);
	if (end == NULL)
		return c->got >= sizeof(c->head) ? -1 : 0;
	uint64_t clen = 0;
	for (const char *p = c->head; p < end; p++)
		if (strncasecmp(p, "\r\ncontent-length:", 17) == 0)
			clen = strtoull(p + 17, NULL, 10);
	if (c->got - (size_t)(end + 4 - c->head) < clen)
		return 0;
	return memcmp(c->head, "HTTP/1.1 200", 12) == 0 ? 1 : -1;
}

struct drive {
	int tls, keep;
	int repeat;       /* load: keep-alive, the next request on the same connection */
	int proxy;        /* a PROXY v2 header first */
	struct sockaddr_in addr;
	const char *name;
	int conc;
	double seconds;   /* load: duration; idle: longest time to open them all */
	int count;        /* idle: connections to open */
};

struct drive_out {
	uint64_t *lat;
	size_t nlat;
	unsigned long conns;
	unsigned long errors;
	double seconds;
	int open_fds;
	int *fds;
	SSL **ssls;
};

/* Change a connection's epoll interest, with a system call only when it changes. */
static void want_events(int ep, struct tconn *c, uint32_t idx, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = { .events = events, .data.u32 = idx };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->events = events;
}

/* Send the PROXY v2 header the relay would send for this connection. MSG_MORE holds
 * it until the first bytes after it (the request, or OpenSSL's ClientHello), so the
 * two leave in one segment, as the relay sends them. */
static int send_proxy_header(int fd, const struct sockaddr_in *dst, const char *name,
			     unsigned long seq)
{
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	uint8_t hdr[PROXY_V2_ENCODE_MAX];
	char id[32];
	if (getsockname(fd, (struct sockaddr *)&src, &sl) != 0)
		return -1;
	int idl = snprintf(id, sizeof(id), "bench-%lu", seq);
	int n = proxy_v2_encode(hdr, sizeof(hdr), (struct sockaddr *)&src,
				(const struct sockaddr *)dst, name, strlen(name), (const uint8_t *)id,
				(size_t)idl);
	if (n <= 0)
		return -1;
	return send(fd, hdr, (size_t)n, MSG_NOSIGNAL | MSG_MORE) == n ? 0 : -1;
}

static void add_latency(struct drive_out *o, size_t *cap, uint64_t us)
{
	if (o->nlat == *cap) {
		*cap *= 2;
		o->lat = realloc(o->lat, *cap * sizeof(*o->lat));
		if (o->lat == NULL)
			die("realloc");
	}
	o->lat[o->nlat++] = us;
}

static void drive(const struct drive *d, struct drive_out *o)
{
	SSL_CTX *ctx = d->tls ? client_ctx() : NULL;
	char req[256];
	int keepalive = d->keep || d->repeat;
	int reqlen = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n%s\r\n", d->name,
			      keepalive ? "" : "Connection: close\r\n");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct tconn *tc = calloc((size_t)d->conc, sizeof(*tc));
	size_t lat_cap = 1 << 16;
	o->lat = malloc(lat_cap * sizeof(*o->lat));
	o->nlat = 0;
	o->conns = 0;
	o->errors = 0;
	o->open_fds = 0;
	o->fds = d->keep ? malloc(sizeof(int) * (size_t)d->count) : NULL;
	o->ssls = d->keep ? calloc((size_t)d->count, sizeof(SSL *)) : NULL;
	double t0 = now_s();
	int active = 0, started = 0, stopping = 0;
	for (int i = 0; i < d->conc; i++)
		tc[i].fd = -1;
	for (;;) {
		double t = now_s();
		if (!stopping && (t - t0 >= d->seconds || stop_flag ||
				  (d->keep && started >= d->count)))
			stopping = 1;
		if (stopping && (active == 0 || t - t0 >= d->seconds + 5 || stop_flag))
			break;
		for (int i = 0; i < d->conc && !stopping; i++) {
			struct tconn *c = &tc[i];
			if (c->fd >= 0 || (d->keep && started >= d->count))
				continue;
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			c->start = now_us();
			c->got = 0;
			c->ssl = NULL;
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(c->fd, (struct sockaddr *)&d->addr, sizeof(d->addr)) != 0 &&
			    errno != EINPROGRESS) {
				close(c->fd);
				c->fd = -1;
				o->errors++;
				continue;
			}
			c->state = TC_CONNECT;
			c->events = EPOLLOUT;
			struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)i };
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			active++;
			started++;
			o->conns++;
		}
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 50);
		for (int k = 0; k < n; k++) {
			struct tconn *c = &tc[evs[k].data.u32];
			int done = 0, fail = 0;
			if (c->state == TC_CONNECT) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0 || (d->proxy && send_proxy_header(c->fd, &d->addr, d->name,
											o->conns) != 0)) {
					fail = 1;
					goto finish;
				}
				if (d->tls) {
					c->ssl = SSL_new(ctx);
					SSL_set_fd(c->ssl, c->fd);
					SSL_set_tlsext_host_name(c->ssl, d->name);
					SSL_set_connect_state(c->ssl);
					c->state = TC_HANDSHAKE;
				} else {
					c->state = TC_WRITE;
				}
			}
			for (;;) {
				int r, e, want_write = 0;
				if (c->state == TC_HANDSHAKE) {
					r = SSL_do_handshake(c->ssl);
					if (r == 1) {
						c->state = TC_WRITE;
						continue;
					}
				} else if (c->state == TC_WRITE) {
					r = c->ssl ? SSL_write(c->ssl, req, reqlen)
						   : (int)send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL);
					if (r == reqlen) {
						c->state = TC_READ;
						if (d->repeat)
							c->start = now_us();
						/* Plain: wait for the answer rather than try a
						 * read that would only say EAGAIN. */
						if (c->ssl == NULL)
							break;
						continue;
					}
					if (!c->ssl) {
						if (r < 0 && errno == EAGAIN)
							want_write = 1;
						else
							fail = 1;
					}
				} else {
					char buf[4096];
					r = c->ssl ? SSL_read(c->ssl, buf, sizeof(buf))
						   : (int)recv(c->fd, buf, sizeof(buf), 0);
					if (r > 0) {
						if (c->got < sizeof(c->head)) {
							size_t k2 = sizeof(c->head) - c->got;
							memcpy(c->head + c->got, buf, k2 < (size_t)r ? k2 : (size_t)r);
						}
						c->got += (size_t)r;
						if (keepalive) {
							int a = answer_done(c);
							if (a == 1 && d->repeat && !stopping) {
								add_latency(o, &lat_cap, now_us() - c->start);
								c->got = 0;
								c->state = TC_WRITE;
								continue;
							}
							if (a == 1) {
								done = 1;
								break;
							}
							if (a < 0) {
								fail = 1;
								break;
							}
						}
						continue;
					}
					if (!c->ssl) {
						if (r < 0 && errno == EAGAIN)
							break;
						if (r == 0 && !keepalive && c->got >= 12 &&
						    memcmp(c->head, "HTTP/1.1 200", 12) == 0)
							done = 1;
						else
							fail = 1;
						break;
					}
				}
				if (fail)
					break;
				if (c->ssl == NULL) {
					if (want_write)
						want_events(ep, c, evs[k].data.u32, EPOLLOUT);
					break;
				}
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					want_events(ep, c, evs[k].data.u32,
						    e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
					break;
				}
				if (c->state == TC_READ && !keepalive &&
				    (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) &&
				    c->got >= 12 && memcmp(c->head, "HTTP/1.1 200", 12) == 0)
					done = 1;
				else
					fail = 1;
				break;
			}
			if (!done && !fail && c->state == TC_READ && c->ssl == NULL)
				want_events(ep, c, evs[k].data.u32, EPOLLIN);
finish:
			if (done || fail) {
				if (done) {
					add_latency(o, &lat_cap, now_us() - c->start);
				} else {
					o->errors++;
				}
				active--;
				if (done && d->keep) {
					/* Keep it: out of the driver, open and idle. */
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					o->fds[o->open_fds] = c->fd;
					o->ssls[o->open_fds++] = c->ssl;
				} else {
					if (c->ssl != NULL)
						SSL_free(c->ssl);
					close(c->fd);
				}
				c->ssl = NULL;
				c->fd = -1;
			}
		}
	}
	for (int i = 0; i < d->conc; i++) {
		if (tc[i].fd >= 0) {
			if (tc[i].ssl != NULL)
				SSL_free(tc[i].ssl);
			close(tc[i].fd);
		}
	}
	o->seconds = now_s() - t0;
	close(ep);
	free(tc);
}

static int cmd_tls(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct drive d = { .tls = 1, .keep = 0 };
	parse_addr(argv[0], &d.addr);
	d.name = argv[1];
	d.conc = atoi(argv[2]);
	d.seconds = atof(argv[3]);
	struct drive_out o;
	drive(&d, &o);
	if (o.nlat == 0) {
		printf("conns=0 errors=%lu seconds=%.3f p50_us=0 p99_us=0\n", o.errors, o.seconds);
		return 1;
	}
	qsort(o.lat, o.nlat, sizeof(*o.lat), cmp_u64);
	printf("conns=%zu errors=%lu seconds=%.3f p50_us=%llu p99_us=%llu\n", o.nlat, o.errors,
	       o.seconds, (unsigned long long)o.lat[o.nlat / 2],
	       (unsigned long long)o.lat[o.nlat * 99 / 100]);
	return 0;
}

static int cmd_load(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	struct drive d = { 0 };
	d.tls = strcmp(argv[0], "tls") == 0;
	d.repeat = strcmp(argv[1], "keep") == 0;
	parse_addr(argv[2], &d.addr);
	d.name = argv[3];
	d.conc = atoi(argv[4]);
	d.seconds = atof(argv[5]);
	d.proxy = argc > 6 && strcmp(argv[6], "proxy") == 0;
	if (d.conc <= 0 || d.seconds <= 0)
		return 2;
	struct drive_out o;
	drive(&d, &o);
	uint64_t p50 = 0, p99 = 0;
	if (o.nlat > 0) {
		qsort(o.lat, o.nlat, sizeof(*o.lat), cmp_u64);
		p50 = o.lat[o.nlat / 2];
		p99 = o.lat[o.nlat * 99 / 100];
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long cpu_us = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
			   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	printf("requests=%zu conns=%lu errors=%lu seconds=%.3f p50_us=%llu p99_us=%llu cpu_us=%lld\n",
	       o.nlat, o.conns, o.errors, o.seconds, (unsigned long long)p50, (unsigned long long)p99,
	       cpu_us);
	return o.nlat > 0 ? 0 : 1;
}

static int cmd_idle(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	struct drive d = { .keep = 1, .conc = 64 };
	d.tls = strcmp(argv[0], "tls") == 0;
	parse_addr(argv[1], &d.addr);
	d.name = argv[2];
	d.count = atoi(argv[3]);
	double hold = atof(argv[4]);
	d.seconds = hold;
	signal(SIGTERM, on_term);
	struct drive_out o;
	double t0 = now_s();
	drive(&d, &o);
	printf("ready opened=%d failed=%lu seconds=%.3f\n", o.open_fds, o.errors, o.seconds);
	fflush(stdout);
	while (!stop_flag && now_s() - t0 < hold)
		usleep(50000);
	for (int i = 0; i < o.open_fds; i++) {
		if (o.ssls[i] != NULL)
			SSL_free(o.ssls[i]);
		close(o.fds[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: relay_load serve|bulk|tls|load|idle ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "bulk") == 0)
		return cmd_bulk(argc - 2, argv + 2);
	if (strcmp(argv[1], "tls") == 0)
		return cmd_tls(argc - 2, argv + 2);
	if (strcmp(argv[1], "load") == 0)
		return cmd_load(argc - 2, argv + 2);
	if (strcmp(argv[1], "idle") == 0)
		return cmd_idle(argc - 2, argv + 2);
	fprintf(stderr, "relay_load: unknown command %s\n", argv[1]);
	return 2;
}
