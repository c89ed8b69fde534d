/*
 * Forward: peek, route, connect, splice. See forward.h for the states.
 *
 * Each side of a forwarded connection is a loop conn whose user data is a struct
 * fwd; the two point at each other until one ends. The peek buffer belongs to the
 * client side only while it peeks and goes back to the worker's pool once the bytes
 * are queued towards the operator, so a routed idle connection holds no buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "http_head.h"
#include "log.h"
#include "pool.h"
#include "proxy_v2.h"
#include "routes.h"
#include "tls_sni.h"

#define PEEK_CAP TLS_SNI_MAX_INPUT
/* Read from one side only while the other has less than this queued. */
#define HIGH_WATER (256 * 1024)
/* A direction that has carried this much is a stream: from then on the kernel moves
 * its bytes (conn_splice), which costs a third less CPU per byte than receiving them
 * into a buffer and sending them out again. Short exchanges (a request and its
 * answer) stay on the buffer path, which costs less per connection. */
#define KERNEL_SPLICE_AFTER (128 * 1024)

enum fwd_state { ST_PEEK, ST_CONNECTING, ST_SPLICE };
enum fwd_role { ROLE_CLIENT, ROLE_UPSTREAM };

struct peekbuf {
	uint32_t len;
	char name[TLS_SNI_NAME_BUF];
	uint8_t data[PEEK_CAP];
};

struct fwd {
	struct conn *peer;
	struct peekbuf *peek;      /* client, while PEEK/CONNECTING */
	struct route *route;       /* client: the route it counts against (held) */
	uint64_t id;               /* connection id: PP2_TYPE_UNIQUE_ID and logs */
	uint64_t start_ms;
	uint8_t role;
	uint8_t kind;
	uint8_t state;
	bool eof;                  /* this side shut down its writing */
	uint32_t copied;           /* bytes of this side copied to the peer, up to the
	                              KERNEL_SPLICE_AFTER */
	bool counted_active;
	bool peeking;
};

struct fwd_worker {
	struct forward_settings *s;
	struct nametable_reader *reader;
	struct metrics_slots *m;
	struct pool peeks;
	unsigned peeking;
	unsigned clients;
	uint64_t next_id;
};

static const char *const kind_values[] = { "http", "tls", NULL };
static const char *const reason_values[] = {
	"bad_request", "head_too_big", "no_name", "peek_timeout", "too_many_peeking",
	"too_many_connections", "connect_failed", "h2_preface", "too_many_for_name", NULL,
};
static const double peek_buckets[] = { 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 };

const struct metrics_desc forward_metrics[FM_COUNT] = {
	[FM_ACCEPTED] = METRICS_DESC("relay_accepted_total", "Client connections accepted.",
				     METRICS_COUNTER, .dims = { { "listener", kind_values } }),
	[FM_ROUTED] = METRICS_DESC("relay_routed_total",
				   "Client connections forwarded to an operator.", METRICS_COUNTER,
				   .dims = { { "listener", kind_values } }),
	[FM_UNKNOWN_NAME] = METRICS_DESC("relay_unknown_name_total",
					 "Client connections for a name with no route.",
					 METRICS_COUNTER, .dims = { { "listener", kind_values } }),
	[FM_REJECTED] = METRICS_DESC("relay_rejected_total",
				     "Client connections refused, by reason.", METRICS_COUNTER,
				     .dims = { { "listener", kind_values },
					       { "reason", reason_values } }),
	[FM_ACTIVE] = METRICS_DESC("relay_forwarding", "Client connections being forwarded.",
				   METRICS_GAUGE),
	[FM_PEEKING] = METRICS_DESC("relay_peeking",
				    "Client connections that have not yet sent a name.",
				    METRICS_GAUGE),
	[FM_BYTES_UP] = METRICS_DESC("relay_bytes_total", "Bytes forwarded.", METRICS_COUNTER,
				     .labels = "direction=\"to_operator\""),
	[FM_BYTES_DOWN] = METRICS_DESC("relay_bytes_total", "Bytes forwarded.", METRICS_COUNTER,
				       .labels = "direction=\"to_client\""),
	[FM_PEEK_SECONDS] = METRICS_DESC("relay_peek_seconds",
					 "Time from accept to a routed name.", METRICS_HISTOGRAM,
					 .buckets = peek_buckets,
					 .n_buckets = sizeof(peek_buckets) / sizeof(peek_buckets[0])),
};

static inline struct fwd *F(struct conn *c)
{
	return conn_data(c);
}

static inline struct fwd_worker *FW(struct conn *c)
{
	return worker_data(conn_worker(c));
}

size_t forward_conn_size(void)
{
	return sizeof(struct fwd);
}

int forward_worker_start(struct worker *w, struct forward_settings *s, struct metrics *m)
{
	struct fwd_worker *fw = calloc(1, sizeof(*fw));
	if (fw == NULL)
		return -ENOMEM;
	fw->s = s;
	fw->m = metrics_worker_slots(m, worker_id(w));
	fw->reader = nametable_reader_register(s->routes);
	int ret = fw->reader ? pool_init(&fw->peeks, sizeof(struct peekbuf), s->max_peeking) : -ENOMEM;
	if (ret != 0) {
		nametable_reader_unregister(fw->reader);
		free(fw);
		return ret;
	}
	/* Connection ids: worker id in the top byte, so they are unique per process. */
	fw->next_id = (uint64_t)worker_id(w) << 56;
	worker_set_data(w, fw);
	return 0;
}

void forward_worker_stop(struct worker *w)
{
	struct fwd_worker *fw = worker_data(w);
	if (fw == NULL)
		return;
	nametable_reader_unregister(fw->reader);
	pool_deinit(&fw->peeks);
	free(fw);
	worker_set_data(w, NULL);
}

/* ---- answers that end a connection -------------------------------------- */

static void reject(struct conn *c, enum forward_reject why)
{
	struct fwd *f = F(c);
	metrics_inc_at(FW(c)->m, FM_REJECTED, (unsigned)(f->kind * FR_COUNT + why));
}

static void http_answer(struct conn *c, int status, const char *reason, const char *text)
{
	char page[512];
	int body = snprintf(page, sizeof(page),
			    "<!doctype html><title>%d %s</title><h1>%d %s</h1><p>%s</p>\n",
			    status, reason, status, reason, text);
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
			 "Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
			 status, reason, body);
	conn_send(c, head, (size_t)n);
	conn_send(c, page, (size_t)body);
	conn_close(c);
}

static void tls_alert(struct conn *c, uint8_t description)
{
	/* A fatal alert in a TLS 1.2-framed record: what every client understands
	 * before the handshake. */
	const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description };
	conn_send(c, alert, sizeof(alert));
	conn_close(c);
}

#define TLS_ALERT_UNRECOGNIZED_NAME 112
#define TLS_ALERT_INTERNAL_ERROR 80
#define TLS_ALERT_DECODE_ERROR 50

static void peek_release(struct conn *c)
{
	struct fwd *f = F(c);
	struct fwd_worker *fw = FW(c);
	if (f->peek != NULL) {
		pool_put(&fw->peeks, f->peek);
		f->peek = NULL;
	}
	if (f->peeking) {
		f->peeking = false;
		fw->peeking--;
		metrics_gauge_add(fw->m, FM_PEEKING, -1);
	}
}

/* ---- client side -------------------------------------------------------- */

static int client_open(struct conn *c)
{
	const struct forward_listener *l = conn_ctx(c);
	struct fwd_worker *fw = FW(c);
	struct fwd *f = F(c);
	f->role = ROLE_CLIENT;
	f->kind = (uint8_t)l->kind;
	f->state = ST_PEEK;
	f->start_ms = worker_now_ms(conn_worker(c));
	f->id = ++fw->next_id;
	metrics_inc_at(fw->m, FM_ACCEPTED, f->kind);
	if (fw->clients >= fw->s->max_clients) {
		reject(c, FR_TOO_MANY_CONNECTIONS);
		if (f->kind == FORWARD_HTTP)
			http_answer(c, 503, "Service Unavailable", "The relay is at its connection limit.");
		else
			conn_abort(c);
		return 0;
	}
	fw->clients++;
	f->counted_active = true;
	metrics_gauge_add(fw->m, FM_ACTIVE, 1);
	if (fw->peeking >= fw->s->max_peeking || (f->peek = pool_get(&fw->peeks)) == NULL) {
		reject(c, FR_TOO_MANY_PEEKING);
		conn_abort(c);
		return 0;
	}
	f->peek->len = 0;
	f->peeking = true;
	fw->peeking++;
	metrics_gauge_add(fw->m, FM_PEEKING, 1);
	conn_set_timeout(c, __atomic_load_n(&fw->s->peek_timeout_ms, __ATOMIC_RELAXED));
	return 0;
}

static const struct conn_ops upstream_ops;

/* The name is known: look it up and connect, or answer "unknown". */
/* Route the peeked connection; rest (rest_len bytes) is what the read that completed
 * the head had beyond the peek buffer. */
static void client_route(struct conn *c, const uint8_t *rest, size_t rest_len)
{
	struct fwd *f = F(c);
	struct fwd_worker *fw = FW(c);
	struct route r;
	bool found = false, over = false;
	unsigned limit = __atomic_load_n(&fw->s->max_per_name, __ATOMIC_RELAXED);
	nametable_read_begin(fw->reader);
	struct route *p = (struct route *)nametable_lookup(fw->s->routes, fw->reader, f->peek->name,
							  strlen(f->peek->name));
	if (p != NULL) {
		found = true;
		/* Count first, then check: two workers racing for the last slot cannot
		 * both pass. */
		uint32_t now = __atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
		if (limit && now > limit) {
			__atomic_sub_fetch(&p->active, 1, __ATOMIC_RELAXED);
			over = true;
		} else {
			r = *p;
			route_hold(p);
			f->route = p;
		}
	}
	nametable_read_end(fw->reader);
	if (over) {
		reject(c, FR_TOO_MANY_FOR_NAME);
		peek_release(c);
		if (f->kind == FORWARD_HTTP)
			http_answer(c, 503, "Service Unavailable",
				    "This service has too many connections; try again later.");
		else
			conn_abort(c);
		return;
	}
	if (!found) {
		metrics_inc_at(fw->m, FM_UNKNOWN_NAME, f->kind);
		peek_release(c);
		if (f->kind == FORWARD_HTTP)
			http_answer(c, 404, "Not Found", "No service is connected under this name.");
		else
			tls_alert(c, TLS_ALERT_UNRECOGNIZED_NAME);
		return;
	}
	/* The operator listens on the port the client came to. */
	uint16_t port = ((const struct sockaddr_in *)conn_local(c, NULL))->sin_port;
	if (r.tunnel.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&r.tunnel)->sin6_port = port;
	else
		((struct sockaddr_in *)&r.tunnel)->sin_port = port;
	/* CONN_SENDS_FIRST: the PROXY v2 header always goes first, so the handshake's
	 * last ACK rides with it. */
	int err = 0;
	struct conn *up = conn_connect(conn_worker(c), (struct sockaddr *)&r.tunnel, r.tunnel_len,
				       &upstream_ops, NULL,
				       __atomic_load_n(&fw->s->connect_timeout_ms, __ATOMIC_RELAXED),
				       CONN_SENDS_FIRST, &err);
	if (up == NULL) {
		reject(c, FR_CONNECT_FAILED);
		peek_release(c);
		if (f->kind == FORWARD_HTTP)
			http_answer(c, 502, "Bad Gateway", "The relay could not reach the service.");
		else
			tls_alert(c, TLS_ALERT_INTERNAL_ERROR);
		return;
	}
	struct fwd *u = F(up);
	u->role = ROLE_UPSTREAM;
	u->kind = f->kind;
	u->state = ST_CONNECTING;
	u->id = f->id;
	u->peer = c;
	f->peer = up;
	f->state = ST_CONNECTING;
	/* Queued until connected, in this order: PROXY v2 header, the peeked bytes, the
	 * rest of that read, then whatever the client sends meanwhile (client_data; the
	 * usual backpressure applies). */
	uint8_t hdr[PROXY_V2_ENCODE_MAX];
	char uid[17];
	snprintf(uid, sizeof(uid), "%016" PRIx64, f->id);
	int n = proxy_v2_encode(hdr, sizeof(hdr), conn_peer(c, NULL), conn_local(c, NULL),
				f->peek->name, strlen(f->peek->name), (const uint8_t *)uid, 16);
	if (n < 0 || conn_send(up, hdr, (size_t)n) != 0 ||
	    conn_send(up, f->peek->data, f->peek->len) != 0 ||
	    (rest_len && conn_send(up, rest, rest_len) != 0)) {
		conn_abort(up);
		conn_abort(c);
		return;
	}
	metrics_add(fw->m, FM_BYTES_UP, f->peek->len + rest_len);
	conn_set_timeout(c, 0);
}

static void client_peek(struct conn *c, const uint8_t *data, size_t len)
{
	struct fwd *f = F(c);
	struct peekbuf *pb = f->peek;
	size_t room = PEEK_CAP - pb->len;
	size_t take = len < room ? len : room;
	memcpy(pb->data + pb->len, data, take);
	pb->len += (uint32_t)take;
	size_t name_len = 0;
	int ret;
	if (f->kind == FORWARD_TLS) {
		ret = tls_sni_parse(pb->data, pb->len, pb->name, &name_len);
		if (ret == AD_ETRUNC && take < len)
			ret = AD_ETOOBIG;
		switch (ret) {
		case 0:
			break;
		case AD_ETRUNC:
			return;
		case AD_ENOTFOUND:
			reject(c, FR_NO_NAME);
			peek_release(c);
			tls_alert(c, TLS_ALERT_UNRECOGNIZED_NAME);
			return;
		default:
			reject(c, ret == AD_ETOOBIG ? FR_HEAD_TOO_BIG : FR_BAD_REQUEST);
			peek_release(c);
			tls_alert(c, TLS_ALERT_DECODE_ERROR);
			return;
		}
	} else {
		struct http_head h;
		ret = http_head_parse((const char *)pb->data, pb->len > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : pb->len, &h);
		if (ret == AD_ETRUNC && pb->len >= HTTP_HEAD_MAX)
			ret = AD_ETOOBIG;
		if (ret == AD_ETRUNC)
			return;
		if (ret != 0) {
			peek_release(c);
			if (h.reason == HTTP_HEAD_H2_PREFACE) {
				reject(c, FR_H2_PREFACE);
				conn_abort(c);
			} else if (ret == AD_ETOOBIG) {
				reject(c, FR_HEAD_TOO_BIG);
				http_answer(c, 431, "Request Header Fields Too Large",
					    "The request head is over 8 KiB.");
			} else if (ret == AD_ENOTFOUND) {
				metrics_inc_at(FW(c)->m, FM_UNKNOWN_NAME, f->kind);
				http_answer(c, 404, "Not Found", "The request names no host.");
			} else {
				reject(c, FR_BAD_REQUEST);
				http_answer(c, h.reason == HTTP_HEAD_BAD_VERSION ? 505 : 400,
					    h.reason == HTTP_HEAD_BAD_VERSION ? "HTTP Version Not Supported"
									       : "Bad Request",
					    http_head_reason_str(h.reason));
			}
			return;
		}
		memcpy(pb->name, h.host, h.host_len + 1);
	}
	/* The head is complete: what this read had beyond the peek buffer goes after it
	 * (a receive buffer holds 64 KiB, the peek buffer 16). */
	client_route(c, data + take, len - take);
}

static void splice_data(struct conn *c, const uint8_t *data, size_t len)
{
	struct fwd *f = F(c);
	struct conn *peer = f->peer;
	if (peer == NULL)
		return;
	if (conn_send(peer, data, len) != 0) {
		/* The worker's output chunks ran out: this connection cannot continue. */
		conn_abort(c);
		return;
	}
	metrics_add(FW(c)->m, f->role == ROLE_CLIENT ? FM_BYTES_UP : FM_BYTES_DOWN, len);
	/* Activity either way keeps both sides out of the idle timeout. */
	uint64_t idle = __atomic_load_n(&FW(c)->s->idle_timeout_ms, __ATOMIC_RELAXED);
	conn_set_timeout(c, idle);
	conn_set_timeout(peer, idle);
	if (conn_pending(peer) > HIGH_WATER)
		conn_pause(c);
	f->copied += (uint32_t)len;
	if (f->copied >= KERNEL_SPLICE_AFTER && !conn_spliced(c))
		conn_splice(c, peer);
}

/* Kernel splice passed len bytes on (the loop already counts both sides as active). */
static void spliced(struct conn *c, size_t len)
{
	metrics_add(FW(c)->m, F(c)->role == ROLE_CLIENT ? FM_BYTES_UP : FM_BYTES_DOWN, len);
}

static void client_data(struct conn *c, const uint8_t *data, size_t len)
{
	struct fwd *f = F(c);
	if (f->state == ST_PEEK)
		client_peek(c, data, len);
	else if (f->state == ST_SPLICE)
		splice_data(c, data, len);
	else if (f->state == ST_CONNECTING && f->peer != NULL)
		splice_data(c, data, len); /* queued behind the header until connected */
	else
		conn_abort(c);
}

/* One side shut down its writing: pass the half-close on; close when both did. */
static void side_eof(struct conn *c)
{
	struct fwd *f = F(c);
	f->eof = true;
	if (f->state == ST_CONNECTING && f->peer != NULL) {
		/* The client sent its request and shut down its side before the operator
		 * answered the connect: pass the half-close on once connected. */
		return;
	}
	if (f->state != ST_SPLICE || f->peer == NULL) {
		conn_close(c);
		return;
	}
	struct conn *peer = f->peer;
	if (F(peer)->eof) {
		/* Both sides are done. The client gets a FIN; the operator, which has
		 * nothing more to read, a reset once it has acknowledged every byte, so it
		 * keeps no TIME_WAIT per connection (conn_close_finished). */
		struct conn *client = f->role == ROLE_UPSTREAM ? peer : c;
		struct conn *up = client == c ? peer : c;
		conn_close(client);
		conn_close_finished(up);
		return;
	}
	conn_shutdown_write(peer);
}

static void side_drained(struct conn *c)
{
	/* Our output drained: the other side may read again. */
	struct fwd *f = F(c);
	if (f->peer != NULL && F(f->peer)->state == ST_SPLICE)
		conn_resume(f->peer);
}

static void side_timeout(struct conn *c)
{
	struct fwd *f = F(c);
	if (f->role == ROLE_CLIENT && f->state == ST_PEEK) {
		reject(c, FR_PEEK_TIMEOUT);
		peek_release(c);
		if (f->kind == FORWARD_HTTP)
			http_answer(c, 408, "Request Timeout", "The request head did not arrive in time.");
		else
			conn_abort(c);
		return;
	}
	conn_abort(c);
	if (f->peer != NULL)
		conn_abort(f->peer);
}

static void side_drain(struct conn *c)
{
	/* Draining: a client that has not named a host yet will not be served. */
	struct fwd *f = F(c);
	if (f->role == ROLE_CLIENT && f->state == ST_PEEK) {
		peek_release(c);
		conn_abort(c);
	}
}

static void side_close(struct conn *c, enum conn_end why, int err)
{
	struct fwd *f = F(c);
	struct fwd_worker *fw = FW(c);
	if (f->role == ROLE_CLIENT) {
		peek_release(c);
		if (f->route != NULL) {
			__atomic_sub_fetch(&f->route->active, 1, __ATOMIC_RELAXED);
			route_release(f->route);
			f->route = NULL;
		}
		if (f->counted_active) {
			fw->clients--;
			metrics_gauge_add(fw->m, FM_ACTIVE, -1);
		}
	}
	struct conn *peer = f->peer;
	if (peer == NULL)
		return;
	F(peer)->peer = NULL;
	f->peer = NULL;
	if (f->role == ROLE_UPSTREAM && F(peer)->state == ST_CONNECTING) {
		/* The operator could not be reached. */
		struct fwd *cf = F(peer);
		reject(peer, FR_CONNECT_FAILED);
		log_info("operator unreachable", "id=%016" PRIx64 " name=%s error=\"%s\"", f->id,
			 cf->peek ? cf->peek->name : "?", airdress_strerror(err));
		peek_release(peer);
		cf->state = ST_SPLICE;
		conn_resume(peer);
		if (cf->kind == FORWARD_HTTP)
			http_answer(peer, 502, "Bad Gateway", "The relay could not reach the service.");
		else
			tls_alert(peer, TLS_ALERT_INTERNAL_ERROR);
		return;
	}
	/* A clean end flushes what is queued for the other side; a failure cuts it. */
	if (why == CONN_END_CLOSED || why == CONN_END_PEER)
		conn_close(peer);
	else
		conn_abort(peer);
}

const struct conn_ops forward_client_ops = {
	.on_open = client_open,
	.on_data = client_data,
	.on_eof = side_eof,
	.on_drained = side_drained,
	.on_timeout = side_timeout,
	.on_drain = side_drain,
	.on_close = side_close,
	.on_spliced = spliced,
};

/* ---- operator side ------------------------------------------------------ */

static int upstream_open(struct conn *up)
{
	struct fwd *u = F(up);
	struct conn *c = u->peer;
	if (c == NULL)
		return -1; /* the client went away while connecting */
	struct fwd *f = F(c);
	struct fwd_worker *fw = FW(c);
	metrics_inc_at(fw->m, FM_ROUTED, f->kind);
	metrics_observe(fw->m, FM_PEEK_SECONDS,
			(double)(worker_now_ms(conn_worker(c)) - f->start_ms) / 1000.0);
	log_debug("routed", "id=%016" PRIx64 " name=%s", f->id, f->peek->name);
	peek_release(c);
	f->state = ST_SPLICE;
	u->state = ST_SPLICE;
	if (f->eof)
		conn_shutdown_write(up);
	uint64_t idle = __atomic_load_n(&fw->s->idle_timeout_ms, __ATOMIC_RELAXED);
	conn_set_timeout(c, idle);
	conn_set_timeout(up, idle);
	conn_resume(c);
	return 0;
}

static const struct conn_ops upstream_ops = {
	.on_open = upstream_open,
	.on_data = splice_data,
	.on_eof = side_eof,
	.on_drained = side_drained,
	.on_timeout = side_timeout,
	.on_close = side_close,
	.on_spliced = spliced,
};
