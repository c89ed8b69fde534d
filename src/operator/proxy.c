/*
 * Proxy: PROXY v2, TLS termination, HTTP/1.1 routing and streaming. See proxy.h.
 *
 * Each side of a proxied exchange is a loop conn whose user data is a struct opc;
 * the client side owns the parsed request and a buffer for bytes not yet consumed
 * (a request head being read, pipelined requests); the service side owns a buffer
 * for a response head being read. Buffers are allocated while needed and freed when
 * empty, so an idle keep-alive connection holds none.
 *
 * A service connection belongs to one client only while a request is in flight; when
 * the response is complete it goes back to the worker's pool (struct op_worker.idle,
 * most recently used first) or is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "daemon.h"
#include "error.h"
#include "http1.h"
#include "log.h"
#include "proxy.h"
#include "proxy_v2.h"
#include "sockaddr.h"

#define BUF_MAX (H1_HEAD_MAX + 16384) /* a head plus what may follow it */
#define HIGH_WATER (256 * 1024)

enum role { R_CLIENT, R_SERVICE };
enum cstate { C_PROXY, C_HEAD, C_BODY, C_WAIT, C_TUNNEL, C_DONE };
enum sstate { S_CONNECTING, S_HEAD, S_BODY, S_IDLE, S_TUNNEL };

struct buf {
	char *p;
	size_t len;
};

/* What the access line of the request in flight says (client side). */
struct access {
	bool active;               /* a request began and is not logged yet */
	int status;                /* last status sent to the client, 0: none yet */
	int route;                 /* index in routes, -1: none matched */
	uint64_t start_ms;         /* when its head was complete */
	uint64_t bytes;            /* HTTP bytes (head and body) sent to the client */
	char method[24];
	char host[H1_HOST_BUF];
	char path[512];            /* truncated beyond */
};

struct opc {
	struct conn *peer;
	uint8_t role;
	uint8_t state;
	bool tls;
	bool keep_client;          /* the client's connection stays after this response */
	bool service_keep;         /* the service's connection may carry another request */
	bool eof;                  /* tunnel: this side has finished sending */
	bool in_pool;              /* service: idle in the worker's pool */
	bool reused;               /* service: taken from the pool for this request */
	bool rx;                   /* service: a byte of this request's response arrived */
	struct conn *pool_prev;    /* service: neighbours in the pool */
	struct conn *pool_next;
	struct buf in;             /* bytes received and not yet consumed */
	struct buf replay;         /* client: the head sent on a reused service connection,
	                              kept until the answer starts, to send it again */
	struct tlsterm_conn *t;    /* client on the TLS listener */
	struct h1_request *req;    /* client: the request in flight */
	enum h1_body req_body;
	uint64_t req_left;
	uint64_t req_total;        /* request body bytes so far (max_request_body) */
	struct h1_chunked req_chunk;
	enum h1_body resp_body;    /* service side: how the response body arrives */
	enum h1_body resp_client;  /* how it goes to the client */
	uint64_t resp_left;
	struct h1_chunked resp_chunk;
	char client_ip[64];        /* from the PROXY header */
	char client_addr[SOCKADDR_STRLEN]; /* the same with the port, for the access log */
	char uid[PROXY_V2_UNIQUE_ID_MAX + 1]; /* PP2_TYPE_UNIQUE_ID as text, "" if none */
	char service[128];         /* the route's service (client: of the request in flight) */
	struct access acc;
};

struct op_worker {
	struct metrics_slots *m;
	struct conn *idle;         /* pooled service connections, most recently used first */
	uint8_t plain[16384];      /* TLS plaintext out of tlsterm_read */
	char head[H1_HEAD_MAX + 2048];
};

static const char *const listener_values[] = { "http", "tls", NULL };
static const char *const class_values[] = { "1xx", "2xx", "3xx", "4xx", "5xx", NULL };
static const char *const reject_values[] = { "no_proxy_header", "tls", "bad_request",
					     "misdirected", "service_down", "timeout",
					     "body_too_large", NULL };
enum { RJ_PROXY, RJ_TLS, RJ_BAD, RJ_421, RJ_502, RJ_504, RJ_413 };
static const char *const service_conn_values[] = { "opened", "reused", "retried",
						   "closed_idle", NULL };
enum { SC_OPENED, SC_REUSED, SC_RETRIED, SC_CLOSED_IDLE };

const struct metrics_desc op_metrics[OM_COUNT] = {
	[OM_REQUESTS] = METRICS_DESC("operator_requests_total", "Requests received.",
				     METRICS_COUNTER, .dims = { { "listener", listener_values } }),
	[OM_RESPONSES] = METRICS_DESC("operator_responses_total", "Responses sent, by class.",
				      METRICS_COUNTER, .dims = { { "class", class_values } }),
	[OM_REJECTED] = METRICS_DESC("operator_rejected_total",
				     "Connections or requests refused, by reason.", METRICS_COUNTER,
				     .dims = { { "reason", reject_values } }),
	[OM_UPGRADES] = METRICS_DESC("operator_upgrades_total", "WebSocket upgrades.",
				     METRICS_COUNTER),
	[OM_SERVICE_CONNS] = METRICS_DESC("operator_service_connections_total",
					  "Service connections opened, reused from the pool, "
					  "opened again for a retried request, and closed by the "
					  "service while idle.",
					  METRICS_COUNTER,
					  .dims = { { "event", service_conn_values } }),
	[OM_TUNNEL_UP] = METRICS_DESC("operator_tunnel_up",
				      "1 while the tunnel has had a handshake within dead_after.",
				      METRICS_GAUGE),
	[OM_TUNNEL_HANDSHAKE] = METRICS_DESC("operator_tunnel_last_handshake_seconds",
					     "Unix time of the latest handshake with the relay (0: none).",
					     METRICS_GAUGE),
	[OM_TUNNEL_RX] = METRICS_DESC("operator_tunnel_received_bytes",
				      "Bytes received from the relay since its peer was last set.",
				      METRICS_GAUGE),
	[OM_TUNNEL_TX] = METRICS_DESC("operator_tunnel_sent_bytes",
				      "Bytes sent to the relay since its peer was last set.",
				      METRICS_GAUGE),
	[OM_TUNNEL_PROBES_LOST] = METRICS_DESC("operator_tunnel_probes_lost_total",
					       "Probes of the relay's tunnel address left unanswered.",
					       METRICS_COUNTER),
	[OM_TUNNEL_REHANDSHAKES] = METRICS_DESC("operator_tunnel_rehandshakes_total",
						"Fresh handshakes forced after missed probes.",
						METRICS_COUNTER),
	[OM_TUNNEL_RESTARTS] = METRICS_DESC("operator_tunnel_restarts_total",
					    "Times the tunnel interface was created again.",
					    METRICS_COUNTER),
};

static inline struct opc *O(struct conn *c)
{
	return conn_data(c);
}

static inline struct op_worker *OW(struct conn *c)
{
	return worker_data(conn_worker(c));
}

static const struct op_cfg *cfg_of(struct conn *c)
{
	const struct op_listener *l = NULL;
	struct opc *o = O(c);
	struct conn *client = o->role == R_CLIENT ? c : o->peer;
	if (client != NULL)
		l = conn_ctx(client);
	struct daemon *d = l ? l->shared->d : daemon_of_worker(conn_worker(c));
	return daemon_config(d);
}

size_t op_conn_size(void)
{
	return sizeof(struct opc);
}

int op_worker_start(struct worker *w, struct metrics *m)
{
	struct op_worker *ow = calloc(1, sizeof(*ow));
	if (ow == NULL)
		return -ENOMEM;
	ow->m = metrics_worker_slots(m, worker_id(w));
	worker_set_data(w, ow);
	return 0;
}

void op_worker_stop(struct worker *w)
{
	struct op_worker *ow = worker_data(w);
	/* Connections still pooled here (only after a hard stop) must not reach back
	 * into the freed worker state when they are settled. */
	for (struct conn *s = ow ? ow->idle : NULL; s != NULL;) {
		struct opc *so = O(s);
		struct conn *next = so->pool_next;
		so->in_pool = false;
		so->pool_prev = so->pool_next = NULL;
		s = next;
	}
	free(ow);
	worker_set_data(w, NULL);
}

/* ---- buffers ------------------------------------------------------------ */

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > BUF_MAX)
		return AD_ETOOBIG;
	if (b->p == NULL && (b->p = malloc(BUF_MAX)) == NULL)
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		free(b->p);
		b->p = NULL;
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* ---- output to the client (through TLS when there is TLS) --------------- */

static void tls_flush(struct conn *c)
{
	struct opc *o = O(c);
	const uint8_t *p;
	size_t n;
	tlsterm_pending_out(o->t, &p, &n);
	if (n == 0)
		return;
	if (conn_send(c, p, n) == 0)
		tlsterm_consume_out(o->t, n);
	else
		conn_abort(c);
}

static int client_send(struct conn *c, const void *data, size_t len)
{
	struct opc *o = O(c);
	o->acc.bytes += len;
	if (!o->tls)
		return conn_send(c, data, len);
	const uint8_t *p = data;
	while (len > 0) {
		int n = tlsterm_write(o->t, p, len);
		if (n < 0)
			return n;
		tls_flush(c);
		if (n == 0)
			continue; /* the output was full: flushed now, write again */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void count_status(struct conn *c, int status)
{
	unsigned cls = status >= 100 && status < 600 ? (unsigned)(status / 100 - 1) : 4;
	metrics_inc_at(OW(c)->m, OM_RESPONSES, cls);
	O(c)->acc.status = status;
}

/* ---- the access log ----------------------------------------------------- */

static void slice_copy(char *out, size_t size, const char *p, size_t len)
{
	if (len >= size)
		len = size - 1;
	if (len)
		memcpy(out, p, len);
	out[len] = '\0';
}

/* A request begins on client c: r is its parsed head, or NULL when it did not parse. */
static void access_begin(struct conn *c, const struct h1_request *r)
{
	struct access *a = &O(c)->acc;
	a->active = true;
	a->status = 0;
	a->route = -1;
	a->bytes = 0;
	a->start_ms = worker_now_ms(conn_worker(c));
	O(c)->service[0] = '\0';
	if (r == NULL) {
		strcpy(a->method, "-");
		strcpy(a->host, "-");
		strcpy(a->path, "-");
		return;
	}
	slice_copy(a->method, sizeof(a->method), r->method_text.p, r->method_text.len);
	if (r->host_len)
		slice_copy(a->host, sizeof(a->host), r->host, r->host_len);
	else
		strcpy(a->host, "-");
	slice_copy(a->path, sizeof(a->path), r->path.p, r->path.len);
}

/* The request on c is over: one line, when access_log is on. aborted: the exchange
 * ended before the response was complete (status is then what the client got, 0 for
 * nothing). */
static void access_end(struct conn *c, bool aborted)
{
	struct opc *o = O(c);
	struct access *a = &o->acc;
	if (!a->active)
		return;
	a->active = false;
	if (!cfg_of(c)->access_log)
		return;
	const struct op_listener *l = conn_ctx(c);
	char path[2 * sizeof(a->path) + 3], service[2 * sizeof(o->service) + 3], route[16];
	log_quote(path, sizeof(path), a->path);
	log_quote(service, sizeof(service), o->service[0] ? o->service : "-");
	if (a->route >= 0)
		snprintf(route, sizeof(route), "%d", a->route);
	else
		strcpy(route, "-");
	log_info("access",
		 "client=%s host=%s method=%s path=%s status=%d bytes=%llu duration_ms=%llu "
		 "listener=%s route=%s service=%s id=%s%s",
		 o->client_addr[0] ? o->client_addr : "-", a->host, a->method, path, a->status,
		 (unsigned long long)a->bytes,
		 (unsigned long long)(worker_now_ms(conn_worker(c)) - a->start_ms),
		 l->tls ? "tls" : "http", route, service, o->uid[0] ? o->uid : "-",
		 aborted ? " aborted=true" : "");
}

/* A response of our own; the client's connection closes after it. */
static void respond(struct conn *c, int status, const char *reason, const char *text)
{
	struct opc *o = O(c);
	char body[512], head[256];
	int blen = snprintf(body, sizeof(body),
			    "<!doctype html><title>%d %s</title><h1>%d %s</h1><p>%s</p>\n", status,
			    reason, status, reason, text);
	int hlen = snprintf(head, sizeof(head),
			    "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
			    status, reason, blen);
	if (!o->acc.active)
		access_begin(c, NULL);
	count_status(c, status);
	client_send(c, head, (size_t)hlen);
	client_send(c, body, (size_t)blen);
	access_end(c, false);
	o->state = C_DONE;
	if (o->tls)
		tlsterm_shutdown(o->t), tls_flush(c);
	conn_close(c);
	if (o->peer != NULL) {
		/* Detached first: its on_close must not act for this client any more. */
		O(o->peer)->peer = NULL;
		conn_abort(o->peer);
		o->peer = NULL;
	}
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* ---- routing ------------------------------------------------------------ */

static bool holds_name(const struct op_cfg *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->names_count; i++) {
		const char *n = cfg->names[i];
		if (strcasecmp(n, host) == 0)
			return true;
		/* "*.a.airdr.es" holds one label in front of a.airdr.es. */
		if (n[0] == '*' && n[1] == '.') {
			const char *dot = strchr(host, '.');
			if (dot != NULL && dot != host && strcasecmp(dot + 1, n + 2) == 0)
				return true;
		}
	}
	return false;
}

static const struct op_route_cfg *match_route(const struct op_cfg *cfg, const struct h1_request *r)
{
	for (size_t i = 0; i < cfg->routes_count; i++) {
		const struct op_route_cfg *rt = &cfg->routes[i];
		if (rt->host != NULL && strcasecmp(rt->host, r->host) != 0)
			continue;
		if (rt->path != NULL) {
			size_t pl = strlen(rt->path);
			if (r->path.len < pl || memcmp(r->path.p, rt->path, pl) != 0)
				continue;
		}
		return rt;
	}
	return NULL;
}

int op_service_parse(const char *service, struct sockaddr_storage *ss, socklen_t *len)
{
	if (strncmp(service, "unix:", 5) == 0) {
		const char *path = service + 5;
		size_t n = strlen(path);
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		/* Absolute only: the config's folder is not known here, and a path relative
		 * to the working directory would depend on where the operator was started. */
		if (path[0] != '/' || n >= sizeof(un->sun_path))
			return AD_EPARSE;
		memset(ss, 0, sizeof(*ss));
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, n);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if (strncmp(service, "http://", 7) != 0)
		return AD_EPARSE;
	char hostport[80];
	const char *end = strchr(service + 7, '/');
	size_t n = end ? (size_t)(end - (service + 7)) : strlen(service + 7);
	if (n >= sizeof(hostport))
		return AD_EPARSE;
	memcpy(hostport, service + 7, n);
	hostport[n] = '\0';
	return sockaddr_parse(hostport, ss, len);
}

static int http_status_of(const char *service)
{
	if (strncmp(service, "http_status:", 12) != 0)
		return 0;
	const char *p = service + 12;
	int status = 0;
	for (int i = 0; i < 3; i++, p++) {
		if (*p < '0' || *p > '9')
			return 0;
		status = status * 10 + (*p - '0');
	}
	return *p == '\0' && status >= 100 && status < 600 ? status : 0;
}

int op_routes_check(const struct op_cfg *cfg)
{
	for (size_t i = 0; i < cfg->routes_count; i++) {
		const char *service = cfg->routes[i].service;
		struct sockaddr_storage ss;
		socklen_t len;
		if (http_status_of(service) || op_service_parse(service, &ss, &len) == 0)
			continue;
		char q[256];
		log_error("route has an unusable service", "route=%zu service=%s expected=%s", i,
			  log_quote(q, sizeof(q), service),
			  strncmp(service, "unix:", 5) == 0
				  ? "\"an absolute path shorter than 108 bytes\""
				  : "\"http://IP:PORT, unix:/PATH or http_status:100..599\"");
		return AD_ECONFIG;
	}
	return 0;
}

/* ---- the pool of idle service connections ------------------------------- */

static bool same_address(struct conn *s, const struct sockaddr *sa, socklen_t len)
{
	socklen_t plen;
	const struct sockaddr *p = conn_peer(s, &plen);
	return plen == len && memcmp(p, sa, len) == 0;
}

static void pool_remove(struct op_worker *ow, struct conn *s)
{
	struct opc *so = O(s);
	if (!so->in_pool)
		return;
	if (so->pool_prev != NULL)
		O(so->pool_prev)->pool_next = so->pool_next;
	else
		ow->idle = so->pool_next;
	if (so->pool_next != NULL)
		O(so->pool_next)->pool_prev = so->pool_prev;
	so->pool_prev = so->pool_next = NULL;
	so->in_pool = false;
}

/* The most recently parked connection to the service at sa, out of the pool. */
static struct conn *pool_take(struct op_worker *ow, const struct sockaddr *sa, socklen_t len)
{
	for (struct conn *s = ow->idle; s != NULL; s = O(s)->pool_next) {
		if (same_address(s, sa, len)) {
			pool_remove(ow, s);
			return s;
		}
	}
	return NULL;
}

/* Park s, whose last response is complete, for the next request to its service.
 * Returns false (the caller closes it) when the pool holds max for that service. */
static bool pool_put(struct op_worker *ow, struct conn *s, unsigned max, uint64_t idle_ms)
{
	socklen_t len;
	const struct sockaddr *sa = conn_peer(s, &len);
	unsigned n = 0;
	for (struct conn *p = ow->idle; p != NULL && n < max; p = O(p)->pool_next)
		n += same_address(p, sa, len);
	if (n >= max)
		return false;
	struct opc *so = O(s);
	so->state = S_IDLE;
	so->in_pool = true;
	so->pool_prev = NULL;
	so->pool_next = ow->idle;
	if (ow->idle != NULL)
		O(ow->idle)->pool_prev = s;
	ow->idle = s;
	conn_set_timeout(s, idle_ms);
	conn_resume(s); /* read on, to see the service close it */
	return true;
}

/* A pooled connection is done for (the service closed it, it idled out, it sent
 * bytes nobody asked for, the worker drains). */
static void pool_drop(struct conn *s, bool by_service)
{
	struct op_worker *ow = OW(s);
	pool_remove(ow, s);
	if (by_service)
		metrics_inc_at(ow->m, OM_SERVICE_CONNS, SC_CLOSED_IDLE);
	conn_close(s);
}

/* ---- tunnels ------------------------------------------------------------ */

/* One side of a tunnel (WebSocket) has finished sending: pass the half-close on, and
 * once both sides have, close both, unlinked so that neither aborts the other's
 * output still queued. */
static void tunnel_eof(struct conn *from, struct conn *to)
{
	O(from)->eof = true;
	conn_shutdown_write(to);
	if (O(to)->eof) {
		O(from)->peer = NULL;
		O(to)->peer = NULL;
		conn_close(to);
		conn_close(from);
	}
}

/* ---- the service side --------------------------------------------------- */

static const struct conn_ops service_ops;
static void client_process(struct conn *c);

static void service_done(struct conn *s)
{
	/* The response is complete: the service connection goes back to the pool for
	 * the next request to this service from any client, or is closed. */
	struct opc *so = O(s);
	struct conn *c = so->peer;
	const struct op_cfg *cfg = cfg_of(s);
	/* A request not wholly sent leaves the service's framing in the middle of it. */
	bool request_sent = c != NULL && O(c)->state == C_WAIT;
	so->peer = NULL;
	so->reused = so->rx = false;
	if (c != NULL)
		O(c)->peer = NULL;
	if (!so->service_keep || !request_sent || so->in.len || worker_draining(conn_worker(s)) ||
	    cfg->upstream_idle == 0 ||
	    !pool_put(OW(s), s, cfg->upstream_idle, cfg->upstream_idle_timeout))
		conn_close(s);
	if (c == NULL)
		return;
	struct opc *co = O(c);
	access_end(c, false);
	free(co->req);
	co->req = NULL;
	buf_free(&co->replay);
	if (co->state == C_BODY) {
		/* Answered before the whole request arrived: the rest of its body could
		 * not be told from a next request. */
		co->keep_client = false;
	}
	if (!co->keep_client) {
		co->state = C_DONE;
		if (co->tls)
			tlsterm_shutdown(co->t), tls_flush(c);
		conn_close(c);
		return;
	}
	co->state = C_HEAD;
	conn_set_timeout(c, cfg_of(c)->idle_timeout);
	conn_resume(c);
	client_process(c); /* a pipelined request may be waiting */
}

/* Body bytes of the response: to the client in its framing. Returns the bytes of
 * data used; sets *done when the body ended. */
static size_t response_body(struct conn *s, const char *data, size_t len, bool *done)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	*done = false;
	switch (so->resp_body) {
	case H1_BODY_NONE:
		*done = true;
		return 0;
	case H1_BODY_LENGTH: {
		size_t n = len < so->resp_left ? len : (size_t)so->resp_left;
		if (c != NULL && n)
			client_send(c, data, n);
		so->resp_left -= n;
		*done = so->resp_left == 0;
		return n;
	}
	case H1_BODY_CHUNKED: {
		size_t used_all = 0;
		while (used_all < len) {
			size_t used = 0;
			struct h1_slice d;
			int ret = h1_chunked_decode(&so->resp_chunk, data + used_all, len - used_all,
						    &used, &d);
			if (ret < 0) {
				if (c != NULL)
					conn_abort(c);
				conn_abort(s);
				return len;
			}
			if (c != NULL) {
				if (so->resp_client == H1_BODY_CHUNKED)
					client_send(c, data + used_all, used); /* passed through as is */
				else if (d.len)
					client_send(c, d.p, d.len);
			}
			used_all += used;
			if (ret == 1) {
				*done = true;
				break;
			}
		}
		return used_all;
	}
	case H1_BODY_CLOSE:
	default:
		if (c != NULL)
			client_send(c, data, len);
		return len;
	}
}

static void service_head(struct conn *s)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	struct op_worker *ow = OW(s);
	for (;;) {
		struct h1_response resp;
		int ret = h1_parse_response(so->in.p, so->in.len, c ? O(c)->req : NULL, &resp);
		if (ret == AD_ETRUNC)
			return;
		if (ret != 0 || c == NULL) {
			log_info("service answered badly", "service=%s reason=\"%s\"", so->service,
				 h1_reason_str(resp.reason));
			if (c != NULL) {
				metrics_inc_at(ow->m, OM_REJECTED, RJ_502);
				respond(c, 502, "Bad Gateway", "The service sent an invalid response.");
			}
			conn_abort(s);
			return;
		}
		struct opc *co = O(c);
		bool keep = false;
		enum h1_body cf = h1_response_client_framing(&resp, co->req, &keep);
		int n = h1_write_response_head(&resp, co->req, ow->head, sizeof(ow->head));
		if (n <= 0) {
			respond(c, 502, "Bad Gateway", "The service's response head is too large.");
			conn_abort(s);
			return;
		}
		client_send(c, ow->head, (size_t)n);
		count_status(c, resp.status);
		buf_consume(&so->in, resp.head_len);
		if (resp.status < 200 && !resp.upgrade)
			continue; /* an interim response: the real one follows */
		conn_set_timeout(s, 0);
		if (resp.upgrade) {
			metrics_inc(ow->m, OM_UPGRADES);
			so->state = S_TUNNEL;
			co->state = C_TUNNEL;
			free(co->req);
			co->req = NULL;
			uint64_t idle = cfg_of(c)->idle_timeout;
			conn_set_timeout(c, idle);
			conn_set_timeout(s, idle);
			if (so->in.len)
				client_send(c, so->in.p, so->in.len);
			buf_consume(&so->in, so->in.len);
			if (co->in.len)
				conn_send(s, co->in.p, co->in.len);
			buf_consume(&co->in, co->in.len);
			conn_resume(c);
			return;
		}
		co->keep_client = co->keep_client && keep;
		so->service_keep = resp.keep_alive;
		so->resp_body = resp.body;
		so->resp_client = cf;
		so->resp_left = resp.content_length;
		h1_chunked_init(&so->resp_chunk);
		so->state = S_BODY;
		break;
	}
	bool done = false;
	if (so->in.len) {
		size_t used = response_body(s, so->in.p, so->in.len, &done);
		buf_consume(&so->in, used);
	} else if (so->resp_body == H1_BODY_NONE) {
		done = true;
	}
	if (done)
		service_done(s);
}

static void service_data(struct conn *s, const uint8_t *data, size_t len)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	if (!so->rx && so->state != S_IDLE) {
		/* The answer has begun: the request can no longer be sent again. */
		so->rx = true;
		if (c != NULL)
			buf_free(&O(c)->replay);
	}
	switch (so->state) {
	case S_HEAD:
		if (buf_append(&so->in, data, len) != 0) {
			if (c != NULL)
				respond(c, 502, "Bad Gateway", "The service's response head is too large.");
			conn_abort(s);
			return;
		}
		service_head(s);
		break;
	case S_BODY: {
		bool done = false;
		size_t used = response_body(s, (const char *)data, len, &done);
		if (used < len)
			so->service_keep = false; /* bytes after the response: dropped, and the
						     connection with them */
		if (done)
			service_done(s);
		break;
	}
	case S_TUNNEL:
		if (c != NULL)
			client_send(c, data, len);
		break;
	default:
		/* Bytes from an idle service: nothing asked for them. */
		if (so->in_pool)
			pool_remove(OW(s), s);
		conn_abort(s);
		return;
	}
	/* so->peer, not c: a complete response has detached s (maybe into the pool,
	 * where it must keep reading). */
	if (so->peer != NULL && conn_pending(so->peer) > HIGH_WATER)
		conn_pause(s);
}

static struct conn *service_connect(struct conn *c, const struct sockaddr *sa, socklen_t len,
				    const char *service);

/* The service connection s died before any byte of the answer to a request that may
 * safely go again: one that went out on a reused connection (the service may have
 * closed it just as the request left), has no body and an idempotent method. Send
 * it on a new connection. Returns true when the request went on, or was answered. */
static bool service_retry(struct conn *s)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	if (c == NULL || !so->reused || so->rx || so->state != S_HEAD)
		return false;
	struct opc *co = O(c);
	if (co->replay.p == NULL || co->state != C_WAIT)
		return false;
	struct sockaddr_storage ss;
	socklen_t len;
	const struct sockaddr *sa = conn_peer(s, &len);
	memcpy(&ss, sa, len);
	so->peer = NULL;
	co->peer = NULL;
	metrics_inc_at(OW(c)->m, OM_SERVICE_CONNS, SC_RETRIED);
	log_debug("service closed a reused connection before answering, sending again",
		  "service=%s", co->service);
	struct conn *n = service_connect(c, (struct sockaddr *)&ss, len, co->service);
	if (n == NULL || conn_send(n, co->replay.p, co->replay.len) != 0) {
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_502);
		respond(c, 502, "Bad Gateway", "The relay could not reach the service.");
		return true;
	}
	buf_free(&co->replay); /* once only: n is a new connection */
	return true;
}

static void service_eof(struct conn *s)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	if (so->state == S_IDLE) {
		pool_drop(s, true);
		return;
	}
	if (service_retry(s)) {
		conn_close(s);
		return;
	}
	if (so->state == S_BODY && so->resp_body == H1_BODY_CLOSE) {
		so->service_keep = false;
		service_done(s);
		return;
	}
	if (so->state == S_TUNNEL && c != NULL) {
		tunnel_eof(s, c);
		return;
	}
	if (c != NULL && (so->state == S_HEAD || so->state == S_BODY)) {
		if (so->state == S_HEAD) {
			metrics_inc_at(OW(s)->m, OM_REJECTED, RJ_502);
			respond(c, 502, "Bad Gateway", "The service closed the connection.");
		} else {
			conn_abort(c); /* a body cut short cannot be repaired */
		}
	}
	conn_close(s);
}

static void service_timeout(struct conn *s)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	if (so->state == S_IDLE) {
		pool_drop(s, false);
		return;
	}
	if (c != NULL && so->state == S_HEAD) {
		metrics_inc_at(OW(s)->m, OM_REJECTED, RJ_504);
		respond(c, 504, "Gateway Timeout", "The service did not answer in time.");
	}
	conn_abort(s);
}

static void service_drained(struct conn *s)
{
	struct opc *so = O(s);
	if (so->peer != NULL)
		conn_resume(so->peer);
}

static void service_close(struct conn *s, enum conn_end why, int err)
{
	struct opc *so = O(s);
	struct conn *c = so->peer;
	struct op_worker *ow = worker_data(conn_worker(s)); /* NULL after a hard stop */
	if (ow != NULL)
		pool_remove(ow, s);
	buf_free(&so->in);
	if (c == NULL)
		return;
	if (why == CONN_END_CONNECT) {
		O(c)->peer = NULL;
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_502);
		log_info("service unreachable", "service=%s error=\"%s\"", so->service,
			 airdress_strerror(err));
		respond(c, 502, "Bad Gateway", "The service is not running.");
		return;
	}
	/* A reset or a failed send on a reused connection; not a drain or send timeout. */
	if (why == CONN_END_PEER && service_retry(s))
		return;
	O(c)->peer = NULL;
	if (so->state == S_HEAD && O(c)->state == C_WAIT) {
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_502);
		respond(c, 502, "Bad Gateway", "The service closed the connection.");
		return;
	}
	if (O(c)->state == C_TUNNEL || O(c)->state == C_BODY || O(c)->state == C_WAIT)
		conn_close(c);
}

static void service_drain(struct conn *s)
{
	/* Shutting down: nothing will ask for a pooled connection again. */
	if (O(s)->state == S_IDLE)
		pool_drop(s, false);
}

static int service_open(struct conn *s)
{
	struct opc *so = O(s);
	if (so->peer == NULL)
		return -1;
	conn_set_timeout(s, cfg_of(s)->response_timeout);
	return 0;
}

static const struct conn_ops service_ops = {
	.on_open = service_open,
	.on_data = service_data,
	.on_eof = service_eof,
	.on_timeout = service_timeout,
	.on_drained = service_drained,
	.on_drain = service_drain,
	.on_close = service_close,
};

/* ---- the client side ---------------------------------------------------- */

/* A chunked request body grew past max_request_body: its start is already with the
 * service, so that connection is given up; the client gets 413 unless an answer
 * has begun, in which case it is cut off. */
static void body_too_large(struct conn *c)
{
	struct opc *co = O(c);
	struct conn *s = co->peer;
	bool answered = s != NULL && O(s)->state != S_HEAD;
	metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_413);
	if (s != NULL) {
		O(s)->peer = NULL;
		co->peer = NULL;
		conn_abort(s);
	}
	if (answered)
		conn_abort(c);
	else
		respond(c, 413, "Content Too Large", "The request body is larger than allowed.");
}

/* Request body bytes to the service. Returns the bytes used. */
static size_t request_body(struct conn *c, const char *data, size_t len)
{
	struct opc *co = O(c);
	struct conn *s = co->peer;
	switch (co->req_body) {
	case H1_BODY_LENGTH: {
		size_t n = len < co->req_left ? len : (size_t)co->req_left;
		if (s != NULL && n)
			conn_send(s, data, n);
		co->req_left -= n;
		if (co->req_left == 0)
			co->state = C_WAIT;
		return n;
	}
	case H1_BODY_CHUNKED: {
		size_t used_all = 0;
		while (used_all < len) {
			size_t used = 0;
			struct h1_slice d;
			int ret = h1_chunked_decode(&co->req_chunk, data + used_all, len - used_all,
						    &used, &d);
			if (ret < 0) {
				respond(c, 400, "Bad Request", h1_reason_str(co->req_chunk.reason));
				return len;
			}
			co->req_total += d.len;
			uint64_t max = cfg_of(c)->max_request_body;
			if (max && co->req_total > max) {
				body_too_large(c);
				return len;
			}
			if (s != NULL)
				conn_send(s, data + used_all, used);
			used_all += used;
			if (ret == 1) {
				co->state = C_WAIT;
				break;
			}
		}
		return used_all;
	}
	default:
		co->state = C_WAIT;
		return 0;
	}
}

/* A new connection to the service at sa for client c, linked to it, ready for the
 * request head (queued until connected). NULL when no connection could be made. */
static struct conn *service_connect(struct conn *c, const struct sockaddr *sa, socklen_t len,
				    const char *service)
{
	int err = 0;
	struct conn *s = conn_connect(conn_worker(c), sa, len, &service_ops, NULL,
				      cfg_of(c)->connect_timeout, CONN_SENDS_FIRST, &err);
	if (s == NULL) {
		log_info("service unreachable", "service=%s error=\"%s\"", service,
			 airdress_strerror(err));
		return NULL;
	}
	struct opc *so = O(s);
	so->role = R_SERVICE;
	so->state = S_HEAD;
	snprintf(so->service, sizeof(so->service), "%s", service);
	so->peer = c;
	O(c)->peer = s;
	metrics_inc_at(OW(c)->m, OM_SERVICE_CONNS, SC_OPENED);
	return s;
}

/* May the request go to the service a second time (RFC 9110 §9.2.2, and nothing of
 * a body that would have to be kept)? */
static bool request_repeatable(const struct h1_request *r)
{
	bool idempotent = r->method == H1_METHOD_GET || r->method == H1_METHOD_HEAD ||
			  r->method == H1_METHOD_OPTIONS || r->method == H1_METHOD_TRACE ||
			  r->method == H1_METHOD_PUT || r->method == H1_METHOD_DELETE;
	bool bodiless = r->body == H1_BODY_NONE ||
			(r->body == H1_BODY_LENGTH && r->content_length == 0);
	return idempotent && bodiless;
}

/* A complete request head is in co->in: route it and send it on. */
static void client_request(struct conn *c)
{
	struct opc *co = O(c);
	struct op_worker *ow = OW(c);
	const struct op_cfg *cfg = cfg_of(c);
	struct h1_request *r = co->req;
	const struct op_listener *l = conn_ctx(c);
	metrics_inc_at(ow->m, OM_REQUESTS, l->tls ? 1u : 0u);
	access_begin(c, r);
	if (r->host_len == 0 || !holds_name(cfg, r->host)) {
		metrics_inc_at(ow->m, OM_REJECTED, RJ_421);
		respond(c, 421, "Misdirected Request", "This operator does not serve that name.");
		return;
	}
	const struct op_route_cfg *rt = match_route(cfg, r);
	if (rt == NULL) {
		respond(c, 404, "Not Found", "No route matches this request.");
		return;
	}
	co->acc.route = (int)(rt - cfg->routes);
	snprintf(co->service, sizeof(co->service), "%s", rt->service);
	int status = http_status_of(rt->service);
	if (status) {
		respond(c, status, reason_phrase(status), "Answered by the operator's ingress rules.");
		return;
	}
	if (cfg->max_request_body && r->body == H1_BODY_LENGTH &&
	    r->content_length > cfg->max_request_body) {
		metrics_inc_at(ow->m, OM_REJECTED, RJ_413);
		respond(c, 413, "Content Too Large", "The request body is larger than allowed.");
		return;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	if (op_service_parse(rt->service, &ss, &sl) != 0) {
		/* op_routes_check refuses such a config; kept for safety. */
		respond(c, 502, "Bad Gateway", "The route names an unusable service.");
		return;
	}
	struct h1_forward fwd = {
		.client_addr = co->client_ip[0] ? co->client_ip : NULL,
		.proto = l->tls ? "https" : "http",
		.upstream_close = cfg->upstream_idle == 0,
	};
	int n = h1_write_request_head(r, &fwd, ow->head, sizeof(ow->head));
	if (n <= 0) {
		respond(c, 431, "Request Header Fields Too Large", "The request head is too large.");
		return;
	}
	if (co->peer != NULL) {
		/* Not expected: a response always detaches its service connection. */
		O(co->peer)->peer = NULL;
		conn_abort(co->peer);
		co->peer = NULL;
	}
	/* A warm connection to this service from the pool, else a new one. One that
	 * cannot take the head (it died and is not settled yet) is given up. */
	struct conn *s = pool_take(ow, (struct sockaddr *)&ss, sl);
	if (s != NULL && conn_send(s, ow->head, (size_t)n) != 0) {
		conn_abort(s);
		s = NULL;
	}
	if (s != NULL) {
		struct opc *so = O(s);
		so->state = S_HEAD;
		so->reused = true;
		so->rx = false;
		snprintf(so->service, sizeof(so->service), "%s", rt->service);
		so->peer = c;
		co->peer = s;
		conn_set_timeout(s, cfg->response_timeout);
		conn_resume(s);
		metrics_inc_at(ow->m, OM_SERVICE_CONNS, SC_REUSED);
		/* Kept in case the service closed this connection as the head left. */
		buf_free(&co->replay);
		if (request_repeatable(r) && (co->replay.p = malloc((size_t)n)) != NULL) {
			memcpy(co->replay.p, ow->head, (size_t)n);
			co->replay.len = (size_t)n;
		}
	} else {
		s = service_connect(c, (struct sockaddr *)&ss, sl, rt->service);
		if (s == NULL || conn_send(s, ow->head, (size_t)n) != 0) {
			metrics_inc_at(ow->m, OM_REJECTED, RJ_502);
			respond(c, 502, "Bad Gateway", "The relay could not reach the service.");
			return;
		}
	}
	co->keep_client = r->keep_alive;
	co->req_body = r->body;
	co->req_left = r->content_length;
	co->req_total = 0;
	h1_chunked_init(&co->req_chunk);
	buf_consume(&co->in, r->head_len);
	co->state = C_BODY;
	if (r->upgrade || r->body == H1_BODY_NONE ||
	    (r->body == H1_BODY_LENGTH && r->content_length == 0))
		co->state = C_WAIT;
	if (co->state == C_BODY && co->in.len) {
		size_t used = request_body(c, co->in.p, co->in.len);
		buf_consume(&co->in, used);
	}
}

/* Parse what the client sent, as far as the state allows. */
static void client_process(struct conn *c)
{
	struct opc *co = O(c);
	if (co->state != C_HEAD || co->in.len == 0)
		return;
	if (co->req == NULL && (co->req = malloc(sizeof(*co->req))) == NULL) {
		conn_abort(c);
		return;
	}
	int ret = h1_parse_request(co->in.p, co->in.len, co->req);
	if (ret == AD_ETRUNC) {
		if (co->in.len >= H1_HEAD_MAX)
			respond(c, 431, "Request Header Fields Too Large", "The request head is too large.");
		return;
	}
	if (ret != 0) {
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_BAD);
		int status = h1_reason_status(co->req->reason);
		respond(c, status ? status : 400, reason_phrase(status ? status : 400),
			h1_reason_str(co->req->reason));
		return;
	}
	conn_set_timeout(c, 0);
	client_request(c);
}

/* Plaintext from the client, after the PROXY header (and TLS). */
static void client_plain(struct conn *c, const uint8_t *data, size_t len)
{
	struct opc *co = O(c);
	switch (co->state) {
	case C_TUNNEL:
		if (co->peer != NULL)
			conn_send(co->peer, data, len);
		break;
	case C_BODY: {
		size_t used = request_body(c, (const char *)data, len);
		if (used < len && co->state != C_DONE && buf_append(&co->in, data + used, len - used))
			conn_abort(c);
		break;
	}
	case C_HEAD:
	case C_WAIT:
		/* A head, or the next pipelined request while this one is answered. */
		if (buf_append(&co->in, data, len) != 0) {
			respond(c, 431, "Request Header Fields Too Large", "The request head is too large.");
			return;
		}
		if (co->state == C_WAIT && co->in.len > H1_HEAD_MAX)
			conn_pause(c);
		client_process(c);
		break;
	default:
		break;
	}
	if (co->peer != NULL && conn_pending(co->peer) > HIGH_WATER)
		conn_pause(c);
}

/* The relay's connection id (PP2_TYPE_UNIQUE_ID) as one logfmt value: as sent when
 * it is made of safe characters (the relay sends hex), else in hex. */
static void uid_text(char *out, size_t size, const uint8_t *p, size_t len)
{
	bool plain = true;
	for (size_t i = 0; i < len && plain; i++)
		plain = (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
			(p[i] >= 'A' && p[i] <= 'Z') || (p[i] && strchr("-._:", p[i]) != NULL);
	if (plain) {
		slice_copy(out, size, (const char *)p, len);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < len && n + 3 <= size; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", p[i]);
	out[n] = '\0';
}

static void client_proxy_header(struct conn *c, const uint8_t *data, size_t len)
{
	struct opc *co = O(c);
	if (buf_append(&co->in, data, len) != 0) {
		conn_abort(c);
		return;
	}
	struct proxy_v2_header h;
	int ret = proxy_v2_parse((const uint8_t *)co->in.p, co->in.len, &h);
	if (ret == AD_ETRUNC && co->in.len < 1024)
		return;
	if (ret != 0) {
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_PROXY);
		conn_abort(c);
		return;
	}
	if (h.command == PROXY_V2_CMD_PROXY) {
		const struct sockaddr *src = (const struct sockaddr *)&h.src;
		socklen_t slen = src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							    : sizeof(struct sockaddr_in);
		sockaddr_format_ip(src, co->client_ip, sizeof(co->client_ip));
		sockaddr_format(src, slen, co->client_addr, sizeof(co->client_addr));
	}
	uid_text(co->uid, sizeof(co->uid), h.unique_id, h.unique_id_len);
	/* What follows the header came in this read: until now the header was incomplete,
	 * so every earlier byte belongs to it. The tail is the end of data, any length. */
	size_t rest = co->in.len - h.header_len;
	const uint8_t *tail = data + len - rest;
	buf_consume(&co->in, co->in.len);
	co->state = C_HEAD;
	if (rest == 0)
		return;
	if (co->tls) {
		/* Handled by client_data's TLS path on the next call. */
		const struct conn_ops *ops = &op_client_ops;
		ops->on_data(c, tail, rest);
	} else {
		client_plain(c, tail, rest);
	}
}

static int client_open(struct conn *c)
{
	const struct op_listener *l = conn_ctx(c);
	struct opc *co = O(c);
	co->role = R_CLIENT;
	co->state = C_PROXY;
	co->tls = l->tls;
	if (l->tls) {
		if (l->shared->tls == NULL || tlsterm_conn_create(l->shared->tls, &co->t) != 0) {
			metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_TLS);
			conn_abort(c);
			return 0;
		}
	}
	conn_set_timeout(c, cfg_of(c)->idle_timeout);
	return 0;
}

static void client_data(struct conn *c, const uint8_t *data, size_t len)
{
	struct opc *co = O(c);
	if (co->state == C_PROXY) {
		client_proxy_header(c, data, len);
		return;
	}
	if (!co->tls) {
		client_plain(c, data, len);
		return;
	}
	int ret = tlsterm_feed(co->t, data, len);
	if (ret != 0) {
		metrics_inc_at(OW(c)->m, OM_REJECTED, RJ_TLS);
		conn_abort(c);
		return;
	}
	struct op_worker *ow = OW(c);
	for (;;) {
		int n = tlsterm_read(co->t, ow->plain, sizeof(ow->plain));
		if (n > 0) {
			client_plain(c, ow->plain, (size_t)n);
			if (co->state == C_DONE)
				break;
			continue;
		}
		tls_flush(c);
		if (n == TLSTERM_EOF) {
			const struct conn_ops *ops = &op_client_ops;
			ops->on_eof(c);
		} else if (n < 0) {
			char why[160];
			log_debug("tls failed", "error=\"%s\"", tlsterm_strerror(co->t, n, why, sizeof(why)));
			metrics_inc_at(ow->m, OM_REJECTED, RJ_TLS);
			conn_abort(c);
		}
		break;
	}
}

static void client_eof(struct conn *c)
{
	struct opc *co = O(c);
	if (co->state == C_TUNNEL && co->peer != NULL) {
		tunnel_eof(c, co->peer);
		return;
	}
	if (co->state == C_WAIT && co->peer != NULL) {
		/* Half-close after a full request: let the answer come back. */
		co->keep_client = false;
		return;
	}
	conn_close(c);
}

static void client_timeout(struct conn *c)
{
	conn_abort(c);
}

static void client_drained(struct conn *c)
{
	struct opc *co = O(c);
	if (co->peer != NULL)
		conn_resume(co->peer);
}

static void client_drain(struct conn *c)
{
	/* Shutting down: a connection between requests is finished. */
	struct opc *co = O(c);
	if (co->state == C_HEAD && co->in.len == 0)
		conn_close(c);
	co->keep_client = false;
}

static void client_close(struct conn *c, enum conn_end why, int err)
{
	struct opc *co = O(c);
	/* A request still open ends with the connection: a WebSocket tunnel closing,
	 * or an exchange cut short. */
	access_end(c, co->state != C_TUNNEL);
	buf_free(&co->in);
	buf_free(&co->replay);
	free(co->req);
	co->req = NULL;
	tlsterm_conn_destroy(co->t);
	co->t = NULL;
	struct conn *s = co->peer;
	if (s == NULL)
		return;
	O(s)->peer = NULL;
	co->peer = NULL;
	if (co->state == C_TUNNEL && O(s)->eof) {
		/* The service had finished its side of the tunnel: the client's bytes that
		 * came before the end (the relay resets a finished tunnel once every byte
		 * is acknowledged) still go to it, then its FIN. */
		conn_close(s);
		return;
	}
	conn_abort(s);
}

const struct conn_ops op_client_ops = {
	.on_open = client_open,
	.on_data = client_data,
	.on_eof = client_eof,
	.on_timeout = client_timeout,
	.on_drained = client_drained,
	.on_drain = client_drain,
	.on_close = client_close,
};
