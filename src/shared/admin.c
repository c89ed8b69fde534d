/*
 * Admin: the admin HTTP server. See admin.h for the API and the connection states.
 *
 * Threads: the admin thread owns the sockets, the connections, the routes (frozen
 * by admin_start) and the stall bookkeeping. Other threads touch only the atomics
 * (state, ready, serving_since, heartbeat words) and, under `lock`, the unhealthy
 * reason.
 *
 * Memory per connection: the head buffer (max_head) from accept to close, the body
 * (Content-Length + 1) and the response while they are needed. Nothing is shared
 * between connections; handlers run one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "admin_http.h"
#include "clock.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "sockaddr.h"

#define DEFAULT_STALL_MS 5000
#define DEFAULT_READ_TIMEOUT_MS 5000
#define DEFAULT_MAX_CONNS 64
#define DEFAULT_MAX_HEAD (8 * 1024)
#define DEFAULT_MAX_BODY (1024 * 1024)
#define MAX_CONNS_LIMIT 4096
#define MIN_HEAD 256
#define LINGER_MS 2000       /* at most this long discarding input after a response */
#define SAMPLE_MS 250        /* heartbeat sampling period of the admin thread */
#define ACCEPT_PAUSE_MS 100  /* after EMFILE and friends */
#define ACCEPT_BATCH 64
#define REASON_MAX 200
#define HB_ALIGN 128
#define LISTEN_BACKLOG 128

static const char text_plain[] = "text/plain; charset=utf-8";
static const char metrics_content_type[] = "text/plain; version=0.0.4";
static const char busy_response[] = "HTTP/1.1 503 Service Unavailable\r\n"
				    "Content-Type: text/plain; charset=utf-8\r\n"
				    "Content-Length: 5\r\n"
				    "Connection: close\r\n"
				    "\r\n"
				    "busy\n";
static const char continue_response[] = "HTTP/1.1 100 Continue\r\n\r\n";

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

struct route {
	char *method;
	char *path;
	size_t path_len;
	unsigned flags;
	admin_handler_fn fn;
	void *ctx;
};

struct admin_request {
	const char *method;
	const char *path;
	const char *query;
	unsigned n_headers;
	const char *hname[ADMIN_HTTP_MAX_HEADERS];
	const char *hvalue[ADMIN_HTTP_MAX_HEADERS];
	const char *body;
	size_t body_len;
};

struct admin_response {
	int status;
	char *type; /* NULL: text/plain */
	struct strbuf headers; /* "Name: value\r\n" lines */
	struct strbuf body;
};

enum conn_state { CONN_FREE, CONN_HEAD, CONN_BODY, CONN_WRITE, CONN_LINGER };

struct conn {
	enum conn_state state;
	enum conn_state after_write; /* CONN_BODY after "100 Continue", else CONN_LINGER */
	int fd;
	int64_t deadline;     /* ms, monotonic: the current state's */
	int64_t req_deadline; /* the whole request must be in by then */
	char *in;             /* head buffer, max_head bytes */
	size_t in_len;
	size_t scan;          /* where to look for the end of the head next */
	bool line_seen;       /* a LF has arrived: the request line was checked */
	struct admin_http_request http;
	const struct route *route;
	bool head_only;       /* HEAD served by a GET route: no body in the response */
	char *scratch;        /* NUL-terminated copies of the head's strings */
	struct admin_request req;
	char *body;
	size_t body_len;
	size_t body_got;
	char *out;
	size_t out_len;
	size_t out_off;
	bool out_static;      /* out points at a constant string */
};

struct heartbeat {
	_Alignas(HB_ALIGN) uint64_t beats;
};

struct admin {
	struct admin_config cfg;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char listen_text[SOCKADDR_STRLEN];

	struct route *routes;
	unsigned n_routes;

	/* written by other threads */
	int state;               /* enum admin_state, atomic */
	int ready;               /* atomic */
	int64_t serving_since;   /* ms, atomic: when the state last became SERVING */
	struct heartbeat *hb;    /* cfg.workers words, one per worker */
	pthread_mutex_t lock;    /* guards reason */
	char reason[REASON_MAX + 1];

	/* admin thread only */
	uint64_t *hb_seen;
	int64_t *hb_change;
	bool *hb_stalled;
	struct conn *conns;
	struct pollfd *pfds;
	struct conn **pconn;
	int64_t accept_paused_until;

	/* lifecycle, owner thread */
	bool running;
	pthread_t thread;
	int listen_fd;
	int wake_fd;
	uint16_t port; /* atomic */
};


/* ---- growable strings ---- */

static int strbuf_reserve(struct strbuf *b, size_t more)
{
	if (more <= b->cap - b->len)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static int strbuf_append(struct strbuf *b, const void *data, size_t len)
{
	if (strbuf_reserve(b, len + 1) != 0)
		return -ENOMEM;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static int strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	if (strbuf_reserve(b, (size_t)n + 1) != 0)
		return -ENOMEM;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

static int strbuf_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = strbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

static void strbuf_free(struct strbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- request and response, for handlers ---- */

const char *admin_request_method(const struct admin_request *req)
{
	return req->method;
}

const char *admin_request_path(const struct admin_request *req)
{
	return req->path;
}

const char *admin_request_query(const struct admin_request *req)
{
	return req->query;
}

const char *admin_request_header(const struct admin_request *req, const char *name)
{
	for (unsigned i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->hname[i], name) == 0)
			return req->hvalue[i];
	return NULL;
}

const char *admin_request_body(const struct admin_request *req, size_t *len)
{
	if (len != NULL)
		*len = req->body_len;
	return req->body;
}

void admin_response_status(struct admin_response *resp, int status)
{
	resp->status = status;
}

static int has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

int admin_response_type(struct admin_response *resp, const char *content_type)
{
	if (content_type == NULL || has_crlf(content_type))
		return -EINVAL;
	char *copy = strdup(content_type);
	if (copy == NULL)
		return -ENOMEM;
	free(resp->type);
	resp->type = copy;
	return 0;
}

int admin_response_header(struct admin_response *resp, const char *name, const char *value)
{
	static const char *const reserved[] = { "content-length", "connection", "date",
						"transfer-encoding", "content-type" };
	if (name == NULL || value == NULL || name[0] == '\0' || has_crlf(value))
		return -EINVAL;
	for (const char *c = name; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == ':')
			return -EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -EINVAL;
	return strbuf_printf(&resp->headers, "%s: %s\r\n", name, value);
}

int admin_response_append(struct admin_response *resp, const void *data, size_t len)
{
	return strbuf_append(&resp->body, data, len);
}

int admin_response_printf(struct admin_response *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = strbuf_vprintf(&resp->body, fmt, ap);
	va_end(ap);
	return ret;
}

static void response_reset(struct admin_response *resp)
{
	free(resp->type);
	strbuf_free(&resp->headers);
	strbuf_free(&resp->body);
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
}

/* ---- health ---- */

void admin_set_state(struct admin *a, enum admin_state state)
{
	if (a == NULL)
		return;
	if (state == ADMIN_SERVING && __atomic_load_n(&a->state, __ATOMIC_RELAXED) != ADMIN_SERVING)
		__atomic_store_n(&a->serving_since, (int64_t)clock_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&a->state, (int)state, __ATOMIC_RELEASE);
}

enum admin_state admin_get_state(const struct admin *a)
{
	return (enum admin_state)__atomic_load_n(&a->state, __ATOMIC_ACQUIRE);
}

void admin_set_ready(struct admin *a, bool ready)
{
	if (a == NULL)
		return;
	__atomic_store_n(&a->ready, ready ? 1 : 0, __ATOMIC_RELEASE);
}

void admin_set_unhealthy(struct admin *a, const char *reason)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->reason[0] = '\0';
	if (reason != NULL) {
		size_t n = 0;
		/* one line: stop at a line break, keep it short */
		while (reason[n] != '\0' && reason[n] != '\n' && reason[n] != '\r' && n < REASON_MAX)
			n++;
		memcpy(a->reason, reason, n);
		a->reason[n] = '\0';
		if (n == 0)
			strcpy(a->reason, "unknown");
	}
	pthread_mutex_unlock(&a->lock);
}

void admin_heartbeat(struct admin *a, unsigned worker)
{
	if (a == NULL || worker >= a->cfg.workers)
		return;
	uint64_t *p = &a->hb[worker].beats;
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Note which workers' counters moved; flag (and log) those that have not moved for
 * stall_after_ms while SERVING. Admin thread. */
static void sample_heartbeats(struct admin *a, int64_t now)
{
	int serving = admin_get_state(a) == ADMIN_SERVING;
	int64_t since = __atomic_load_n(&a->serving_since, __ATOMIC_RELAXED);

	for (unsigned w = 0; w < a->cfg.workers; w++) {
		uint64_t v = __atomic_load_n(&a->hb[w].beats, __ATOMIC_RELAXED);
		if (v != a->hb_seen[w] || !serving) {
			if (a->hb_stalled[w] && serving)
				log_info("worker heartbeat resumed", "worker=%u", w);
			a->hb_seen[w] = v;
			a->hb_change[w] = now;
			a->hb_stalled[w] = false;
			continue;
		}
		int64_t last = a->hb_change[w] > since ? a->hb_change[w] : since;
		if (!a->hb_stalled[w] && now - last >= (int64_t)a->cfg.stall_after_ms) {
			a->hb_stalled[w] = true;
			log_warn("worker stalled", "worker=%u silent_ms=%lld", w,
				 (long long)(now - last));
		}
	}
}

/* ---- built-in routes ---- */

static int route_healthz(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	struct admin *a = ctx;
	enum admin_state state = admin_get_state(a);
	char reason[REASON_MAX + 1];

	sample_heartbeats(a, (int64_t)clock_ms());
	pthread_mutex_lock(&a->lock);
	memcpy(reason, a->reason, sizeof(reason));
	pthread_mutex_unlock(&a->lock);

	admin_response_status(resp, 503);
	if (state == ADMIN_DRAINING)
		return admin_response_printf(resp, "draining\n");
	if (reason[0] != '\0')
		return admin_response_printf(resp, "unhealthy: %s\n", reason);
	if (state == ADMIN_SERVING) {
		for (unsigned w = 0; w < a->cfg.workers; w++)
			if (a->hb_stalled[w])
				return admin_response_printf(resp, "unhealthy: worker %u stalled\n", w);
		admin_response_status(resp, 200);
		return admin_response_printf(resp, "ok\n");
	}
	return admin_response_printf(resp, "starting\n");
}

static int route_readyz(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	struct admin *a = ctx;
	if (__atomic_load_n(&a->ready, __ATOMIC_ACQUIRE)) {
		admin_response_status(resp, 200);
		return admin_response_printf(resp, "ready\n");
	}
	admin_response_status(resp, 503);
	return admin_response_printf(resp, "not ready\n");
}

static int route_metrics(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	struct admin *a = ctx;
	char *text = NULL;
	size_t len = 0;
	int ret = admin_response_type(resp, metrics_content_type);

	if (ret != 0 || a->cfg.metrics == NULL)
		goto finish;
	ret = metrics_render_alloc(a->cfg.metrics, &text, &len);
	if (ret != 0) {
		log_error("metrics render failed", "error=\"%s\"", airdress_strerror(ret));
		goto finish;
	}
	strbuf_free(&resp->body);
	resp->body.data = text;
	resp->body.len = len;
	resp->body.cap = len + 1; /* open_memstream keeps a NUL after the text */
	text = NULL;
finish:
	free(text);
	return ret;
}

/* ---- routes ---- */

static int route_add(struct admin *a, const char *method, const char *path, unsigned flags,
		     admin_handler_fn fn, void *ctx)
{
	char *m = NULL, *p = NULL;
	struct route *r, *routes;
	int ret = 0;

	for (unsigned i = 0; i < a->n_routes; i++) {
		r = &a->routes[i];
		if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0 &&
		    r->flags == flags) {
			r->fn = fn;
			r->ctx = ctx;
			goto finish;
		}
	}
	ret = -ENOMEM;
	m = strdup(method);
	p = strdup(path);
	routes = realloc(a->routes, (a->n_routes + 1) * sizeof(*routes));
	if (routes != NULL)
		a->routes = routes;
	if (m == NULL || p == NULL || routes == NULL)
		goto finish;
	a->routes[a->n_routes++] = (struct route){
		.method = m, .path = p, .path_len = strlen(p), .flags = flags, .fn = fn, .ctx = ctx,
	};
	m = p = NULL;
	ret = 0;
finish:
	free(m);
	free(p);
	return ret;
}

int admin_route_add(struct admin *a, const char *method, const char *path, unsigned flags,
		    admin_handler_fn fn, void *ctx)
{
	if (a == NULL || method == NULL || path == NULL || fn == NULL || path[0] != '/' ||
	    (flags & ~(unsigned)ADMIN_ROUTE_PREFIX) != 0)
		return -EINVAL;
	for (const char *c = method; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return -EINVAL;
	if (method[0] == '\0')
		return -EINVAL;
	if (a->running)
		return -EBUSY;
	return route_add(a, method, path, flags, fn, ctx);
}

static int route_path_matches(const struct route *r, const char *path)
{
	if (r->flags & ADMIN_ROUTE_PREFIX)
		return strncmp(path, r->path, r->path_len) == 0;
	return strcmp(path, r->path) == 0;
}

/* The route for method and path, or NULL with *status 404, or 405 and the methods
 * that would do in allow. *head_only is set when a GET route serves a HEAD. */
static const struct route *route_find(const struct admin *a, const char *method,
				      const char *path, bool *head_only, int *status,
				      struct strbuf *allow)
{
	const struct route *best = NULL;
	size_t best_score = 0;
	bool any = false, has_get = false, has_head = false;
	bool is_head = strcmp(method, "HEAD") == 0;

	for (unsigned i = 0; i < a->n_routes; i++) {
		const struct route *r = &a->routes[i];
		if (!route_path_matches(r, path))
			continue;
		any = true;
		/* longer paths first, exact over prefix, own method over GET-for-HEAD */
		size_t score = r->path_len * 4 + (r->flags & ADMIN_ROUTE_PREFIX ? 0 : 2);
		if (strcmp(r->method, method) == 0)
			score += 1;
		else if (!(is_head && strcmp(r->method, "GET") == 0))
			continue;
		if (best == NULL || score > best_score) {
			best = r;
			best_score = score;
		}
	}
	if (best != NULL) {
		*head_only = is_head && strcmp(best->method, "HEAD") != 0;
		return best;
	}
	*status = any ? 405 : 404;
	if (!any)
		return NULL;
	/* Allow: every method of a matching route, once, HEAD with GET */
	for (unsigned i = 0; i < a->n_routes; i++) {
		const struct route *r = &a->routes[i];
		if (!route_path_matches(r, path))
			continue;
		bool dup = false;
		for (unsigned j = 0; j < i && !dup; j++)
			dup = route_path_matches(&a->routes[j], path) &&
			      strcmp(a->routes[j].method, r->method) == 0;
		if (dup)
			continue;
		has_get |= strcmp(r->method, "GET") == 0;
		has_head |= strcmp(r->method, "HEAD") == 0;
		strbuf_printf(allow, "%s%s", allow->len ? ", " : "", r->method);
	}
	if (has_get && !has_head)
		strbuf_printf(allow, ", HEAD");
	return NULL;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->scratch);
	free(c->body);
	if (!c->out_static)
		free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
}

static void conn_linger(struct conn *c, int64_t now)
{
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->deadline = now + LINGER_MS;
}

/* Send what is left of the output; move on when it is all out. */
static void conn_write(struct admin *a, struct conn *c, int64_t now)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (!c->out_static)
		free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->out_static = false;
	if (c->after_write == CONN_BODY) {
		c->state = CONN_BODY;
		c->deadline = c->req_deadline;
	} else {
		conn_linger(c, now);
	}
}

static void conn_send(struct admin *a, struct conn *c, char *out, size_t len, bool is_static,
		      enum conn_state after, int64_t now)
{
	if (!c->out_static)
		free(c->out);
	c->out = out;
	c->out_len = len;
	c->out_off = 0;
	c->out_static = is_static;
	c->after_write = after;
	c->state = CONN_WRITE;
	c->deadline = after == CONN_BODY ? c->req_deadline : now + (int64_t)a->cfg.read_timeout_ms;
	conn_write(a, c, now);
}

/* Serialise resp and start sending it; then the connection closes. */
static void conn_respond(struct admin *a, struct conn *c, struct admin_response *resp,
			 int64_t now)
{
	struct strbuf out = { 0 };
	char date[64];
	struct tm tm;
	time_t t = time(NULL);
	int status = resp->status;
	bool no_body = status == 204 || status == 304;
	int ret = 0;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ret |= strbuf_printf(&out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
			     admin_http_reason(status), date);
	if (!no_body)
		ret |= strbuf_printf(&out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
				     resp->type ? resp->type : text_plain, resp->body.len);
	if (resp->headers.len > 0)
		ret |= strbuf_append(&out, resp->headers.data, resp->headers.len);
	ret |= strbuf_printf(&out, "Connection: close\r\n\r\n");
	if (!no_body && !c->head_only && resp->body.len > 0)
		ret |= strbuf_append(&out, resp->body.data, resp->body.len);
	if (ret != 0) {
		strbuf_free(&out);
		conn_close(c);
		return;
	}
	log_debug("admin request", "method=%s path=%s status=%d",
		  c->req.method ? c->req.method : "-", c->req.path ? c->req.path : "-", status);
	conn_send(a, c, out.data, out.len, false, CONN_LINGER, now);
}

/* A short text/plain answer from the server itself; allow: an Allow value or NULL. */
static void conn_respond_simple(struct admin *a, struct conn *c, int status, const char *body,
				const char *allow, int64_t now)
{
	struct admin_response resp = { .status = status };
	if (admin_response_printf(&resp, "%s", body) != 0 ||
	    (allow != NULL && admin_response_header(&resp, "Allow", allow) != 0)) {
		response_reset(&resp);
		conn_close(c);
		return;
	}
	conn_respond(a, c, &resp, now);
	response_reset(&resp);
}

/* Run the route's handler and answer. */
static void conn_dispatch(struct admin *a, struct conn *c, int64_t now)
{
	struct admin_response resp = { .status = 200 };
	c->req.body = c->body ? c->body : "";
	c->req.body_len = c->body_len;
	int ret = c->route->fn(&c->req, &resp, c->route->ctx);
	if (ret == 0 && (resp.status < 200 || resp.status > 599)) {
		log_error("admin handler set an invalid status", "path=%s status=%d", c->req.path,
			  resp.status);
		ret = AD_EPARSE;
	}
	if (ret != 0) {
		if (resp.status >= 200 && resp.status <= 599)
			log_warn("admin handler failed", "path=%s error=\"%s\"", c->req.path,
				 airdress_strerror(ret));
		response_reset(&resp);
		resp.status = 500;
		if (admin_response_printf(&resp, "internal error\n") != 0) {
			response_reset(&resp);
			conn_close(c);
			return;
		}
	}
	conn_respond(a, c, &resp, now);
	response_reset(&resp);
}

/* NUL-terminated copies of method, path, query and headers for the handler. */
static int conn_build_request(struct conn *c)
{
	const struct admin_http_request *h = &c->http;
	size_t size = h->head_len + 2 * ADMIN_HTTP_MAX_HEADERS + 8;
	char *p;

	c->scratch = malloc(size);
	if (c->scratch == NULL)
		return -ENOMEM;
	p = c->scratch;
#define COPY(dst, src, n)                     \
	do {                                  \
		memcpy(p, (src), (n));        \
		p[(n)] = '\0';                \
		(dst) = p;                    \
		p += (n) + 1;                 \
	} while (0)
	COPY(c->req.method, h->method, h->method_len);
	COPY(c->req.path, h->path, h->path_len);
	COPY(c->req.query, h->query, h->query_len);
	c->req.n_headers = h->n_headers;
	for (unsigned i = 0; i < h->n_headers; i++) {
		COPY(c->req.hname[i], h->headers[i].name, h->headers[i].name_len);
		COPY(c->req.hvalue[i], h->headers[i].value, h->headers[i].value_len);
	}
#undef COPY
	return 0;
}

/* The head is complete and parsed: check it, find the route, then read the body or
 * answer at once. */
static void conn_head_done(struct admin *a, struct conn *c, int64_t now)
{
	const struct admin_http_request *h = &c->http;
	struct strbuf allow = { 0 };
	int status = 0;

	if (h->version_major != 1) {
		conn_respond_simple(a, c, 505, "http version not supported\n", NULL, now);
		goto finish;
	}
	if (h->host_count > 1 || (h->version_minor >= 1 && h->host_count == 0)) {
		conn_respond_simple(a, c, 400, "bad request: one Host header required\n", NULL, now);
		goto finish;
	}
	if (h->transfer_encoding == ADMIN_HTTP_TE_CHUNKED) {
		conn_respond_simple(a, c, 411, "length required: chunked bodies are not accepted\n",
				    NULL, now);
		goto finish;
	}
	if (h->transfer_encoding == ADMIN_HTTP_TE_OTHER) {
		conn_respond_simple(a, c, 501, "transfer-encoding not implemented\n", NULL, now);
		goto finish;
	}
	if (h->expect_other && h->version_minor >= 1) {
		conn_respond_simple(a, c, 417, "expectation failed\n", NULL, now);
		goto finish;
	}
	if (h->content_length > (int64_t)a->cfg.max_body) {
		conn_respond_simple(a, c, 413, "request body too large\n", NULL, now);
		goto finish;
	}
	if (conn_build_request(c) != 0) {
		conn_respond_simple(a, c, 500, "internal error\n", NULL, now);
		goto finish;
	}
	c->route = route_find(a, c->req.method, c->req.path, &c->head_only, &status, &allow);
	if (c->route == NULL) {
		if (status == 405)
			conn_respond_simple(a, c, 405, "method not allowed\n",
					    allow.data ? allow.data : "", now);
		else
			conn_respond_simple(a, c, 404, "not found\n", NULL, now);
		goto finish;
	}
	c->body_len = h->content_length > 0 ? (size_t)h->content_length : 0;
	if (c->body_len == 0) {
		conn_dispatch(a, c, now);
		goto finish;
	}
	c->body = malloc(c->body_len + 1);
	if (c->body == NULL) {
		conn_respond_simple(a, c, 500, "internal error\n", NULL, now);
		goto finish;
	}
	c->body_got = c->in_len - h->head_len;
	if (c->body_got > c->body_len)
		c->body_got = c->body_len; /* pipelined bytes after the body are ignored */
	memcpy(c->body, c->in + h->head_len, c->body_got);
	c->body[c->body_len] = '\0';
	if (c->body_got == c->body_len) {
		conn_dispatch(a, c, now);
	} else if (h->expect_continue && h->version_minor >= 1) {
		conn_send(a, c, (char *)continue_response, sizeof(continue_response) - 1, true,
			  CONN_BODY, now);
	} else {
		c->state = CONN_BODY;
	}
finish:
	strbuf_free(&allow);
}

/* Is the end of the head ("\n\n" or "\n\r\n") in in[from..in_len)? */
static bool head_end_in(const struct conn *c, size_t from)
{
	for (size_t i = from > 2 ? from - 2 : 0; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (i >= 1 && c->in[i - 1] == '\n')
			return true;
		if (i >= 2 && c->in[i - 1] == '\r' && c->in[i - 2] == '\n')
			return true;
	}
	return false;
}

/* Read what is there: > 0 bytes read; 0 nothing yet, or the connection is closed
 * (peer gone or error). */
static ssize_t conn_recv(struct conn *c, void *buf, size_t cap)
{
	ssize_t n;
	do
		n = recv(c->fd, buf, cap, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		conn_close(c);
		return 0;
	}
	return n;
}

static void conn_read_head(struct admin *a, struct conn *c, int64_t now)
{
	size_t old = c->in_len;
	ssize_t n = conn_recv(c, c->in + c->in_len, a->cfg.max_head - c->in_len);
	if (n <= 0)
		return;
	c->in_len += (size_t)n;
	/* Parse only when it can tell something: when the first line is complete (to
	 * reject garbage early) or the head may be; never once per byte of a slow client. */
	bool first_line = false;
	if (!c->line_seen) {
		/* Until the first LF, refuse bytes no request line holds (a TLS hello, say)
		 * at once, checking each byte only once. */
		for (size_t i = old; i < c->in_len && !first_line; i++) {
			unsigned char ch = (unsigned char)c->in[i];
			if (ch == '\n')
				first_line = true;
			else if (ch != '\r' && ch != ' ' && (ch < 0x21 || ch > 0x7e)) {
				conn_respond_simple(a, c, 400, "bad request\n", NULL, now);
				return;
			}
		}
		c->line_seen = first_line;
	}
	if (first_line || head_end_in(c, old) || c->in_len == a->cfg.max_head) {
		int ret = admin_http_parse_request(c->in, c->in_len, &c->http);
		if (ret == 0) {
			conn_head_done(a, c, now);
			return;
		}
		if (ret == AD_EPARSE) {
			conn_respond_simple(a, c, 400, "bad request\n", NULL, now);
			return;
		}
		if (ret == AD_ETOOBIG || c->in_len == a->cfg.max_head) {
			conn_respond_simple(a, c, 431, "request header fields too large\n", NULL,
					    now);
			return;
		}
	}
}

static void conn_read_body(struct admin *a, struct conn *c, int64_t now)
{
	ssize_t n = conn_recv(c, c->body + c->body_got, c->body_len - c->body_got);
	if (n <= 0)
		return;
	c->body_got += (size_t)n;
	if (c->body_got == c->body_len)
		conn_dispatch(a, c, now);
}

static void conn_read_linger(struct conn *c)
{
	char sink[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_close(c);
			return;
		}
	}
}

static void conn_event(struct admin *a, struct conn *c, short revents, int64_t now)
{
	switch (c->state) {
	case CONN_HEAD:
		conn_read_head(a, c, now);
		break;
	case CONN_BODY:
		conn_read_body(a, c, now);
		break;
	case CONN_WRITE:
		if (revents & (POLLERR | POLLNVAL))
			conn_close(c);
		else
			conn_write(a, c, now);
		break;
	case CONN_LINGER:
		conn_read_linger(c);
		break;
	case CONN_FREE:
		break;
	}
}

static void conn_expire(struct admin *a, struct conn *c, int64_t now)
{
	if (c->state == CONN_FREE || now < c->deadline)
		return;
	if ((c->state == CONN_HEAD && c->in_len > 0) || c->state == CONN_BODY) {
		/* a partial request: say why before closing */
		log_debug("admin request timed out", "received=%zu", c->in_len);
		conn_respond_simple(a, c, 408, "request timeout\n", NULL, now);
		return;
	}
	conn_close(c);
}

/* Too many connections: answer 503 at once, drain what has arrived, close. */
static void refuse(int fd)
{
	char sink[1024];
	ssize_t ignored = send(fd, busy_response, sizeof(busy_response) - 1,
			       MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)ignored;
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 8 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void accept_all(struct admin *a, int64_t now)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("admin accept failed, pausing", "error=\"%s\"",
					 strerror(errno));
				a->accept_paused_until = now + ACCEPT_PAUSE_MS;
			}
			return;
		}
		struct conn *c = NULL;
		for (unsigned k = 0; k < a->cfg.max_conns && c == NULL; k++)
			if (a->conns[k].state == CONN_FREE)
				c = &a->conns[k];
		if (c == NULL) {
			refuse(fd);
			continue;
		}
		c->in = malloc(a->cfg.max_head);
		if (c->in == NULL) {
			refuse(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_HEAD;
		c->req_deadline = c->deadline = now + (int64_t)a->cfg.read_timeout_ms;
	}
}

static void *admin_main(void *arg)
{
	struct admin *a = arg;
	int64_t next_sample = 0;

	for (;;) {
		int64_t now = (int64_t)clock_ms();
		if (now >= next_sample) {
			sample_heartbeats(a, now);
			next_sample = now + SAMPLE_MS;
		}
		int64_t wake = next_sample;
		nfds_t n = 0;

		a->pfds[n++] = (struct pollfd){ .fd = a->wake_fd, .events = POLLIN };
		if (now >= a->accept_paused_until) {
			a->pfds[n++] = (struct pollfd){ .fd = a->listen_fd, .events = POLLIN };
		} else if (a->accept_paused_until < wake) {
			wake = a->accept_paused_until;
		}
		nfds_t first_conn = n;
		for (unsigned k = 0; k < a->cfg.max_conns; k++) {
			struct conn *c = &a->conns[k];
			if (c->state == CONN_FREE)
				continue;
			if (c->deadline < wake)
				wake = c->deadline;
			a->pconn[n] = c;
			a->pfds[n++] = (struct pollfd){
				.fd = c->fd,
				.events = c->state == CONN_WRITE ? POLLOUT : POLLIN,
			};
		}
		int timeout = wake > now ? (int)(wake - now) : 0;
		int r = poll(a->pfds, n, timeout);
		if (r < 0 && errno != EINTR) {
			/* ENOMEM and the like: transient; keep serving */
			log_error("admin poll failed", "error=\"%s\"", strerror(errno));
			struct timespec pause = { 0, 100 * 1000000 };
			nanosleep(&pause, NULL);
			continue;
		}
		now = (int64_t)clock_ms();
		if (r > 0 && a->pfds[0].revents != 0)
			break;
		for (nfds_t i = first_conn; r > 0 && i < n; i++)
			if (a->pfds[i].revents != 0)
				conn_event(a, a->pconn[i], a->pfds[i].revents, now);
		if (r > 0 && first_conn == 2 && a->pfds[1].revents != 0)
			accept_all(a, now);
		for (unsigned k = 0; k < a->cfg.max_conns; k++)
			conn_expire(a, &a->conns[k], now);
	}
	return NULL;
}

/* ---- lifecycle ---- */

int admin_create(const struct admin_config *cfg, struct admin **out)
{
	struct admin *a = NULL;
	int ret = -EINVAL;

	if (cfg == NULL || out == NULL)
		goto finish;
	*out = NULL;
	ret = -ENOMEM;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto finish;
	pthread_mutex_init(&a->lock, NULL);
	a->listen_fd = -1;
	a->wake_fd = -1;
	a->cfg = *cfg;
	a->cfg.listen = NULL;
	if (!a->cfg.stall_after_ms)
		a->cfg.stall_after_ms = DEFAULT_STALL_MS;
	if (!a->cfg.read_timeout_ms)
		a->cfg.read_timeout_ms = DEFAULT_READ_TIMEOUT_MS;
	if (!a->cfg.max_conns)
		a->cfg.max_conns = DEFAULT_MAX_CONNS;
	if (!a->cfg.max_head)
		a->cfg.max_head = DEFAULT_MAX_HEAD;
	if (!a->cfg.max_body)
		a->cfg.max_body = DEFAULT_MAX_BODY;

	ret = AD_ECONFIG;
	if (cfg->listen == NULL || sockaddr_parse(cfg->listen, &a->addr, &a->addr_len) != 0) {
		log_error("admin listen address invalid", "listen=\"%s\"",
			  cfg->listen ? cfg->listen : "(none)");
		goto finish;
	}
	sockaddr_format((struct sockaddr *)&a->addr, a->addr_len, a->listen_text,
			sizeof(a->listen_text));
	if (a->cfg.max_conns > MAX_CONNS_LIMIT || a->cfg.max_head < MIN_HEAD ||
	    a->cfg.max_head > (1u << 20) || a->cfg.max_body > ((size_t)1 << 30) ||
	    a->cfg.workers > 65536) {
		log_error("admin limits invalid", "max_conns=%u max_head=%zu max_body=%zu workers=%u",
			  a->cfg.max_conns, a->cfg.max_head, a->cfg.max_body, a->cfg.workers);
		goto finish;
	}

	ret = -ENOMEM;
	if (a->cfg.workers > 0) {
		a->hb = aligned_alloc(HB_ALIGN, a->cfg.workers * sizeof(*a->hb));
		a->hb_seen = calloc(a->cfg.workers, sizeof(*a->hb_seen));
		a->hb_change = calloc(a->cfg.workers, sizeof(*a->hb_change));
		a->hb_stalled = calloc(a->cfg.workers, sizeof(*a->hb_stalled));
		if (a->hb == NULL || a->hb_seen == NULL || a->hb_change == NULL ||
		    a->hb_stalled == NULL)
			goto finish;
		memset(a->hb, 0, a->cfg.workers * sizeof(*a->hb));
	}
	a->conns = calloc(a->cfg.max_conns, sizeof(*a->conns));
	a->pfds = calloc(a->cfg.max_conns + 2, sizeof(*a->pfds));
	a->pconn = calloc(a->cfg.max_conns + 2, sizeof(*a->pconn));
	if (a->conns == NULL || a->pfds == NULL || a->pconn == NULL)
		goto finish;
	for (unsigned k = 0; k < a->cfg.max_conns; k++)
		a->conns[k].fd = -1;

	if ((ret = route_add(a, "GET", "/healthz", ADMIN_ROUTE_EXACT, route_healthz, a)) != 0 ||
	    (ret = route_add(a, "GET", "/readyz", ADMIN_ROUTE_EXACT, route_readyz, a)) != 0 ||
	    (ret = route_add(a, "GET", "/metrics", ADMIN_ROUTE_EXACT, route_metrics, a)) != 0)
		goto finish;
	a->state = ADMIN_STARTING;
	*out = a;
	a = NULL;
	ret = 0;
finish:
	admin_destroy(a);
	return ret;
}

/* A non-blocking listening socket on the configured address: *fd_out and the bound
 * port. Returns 0 or -errno. */
static int listen_socket(struct admin *a, int *fd_out, uint16_t *port_out)
{
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int one = 1;
	int fd = -1, ret = 0;

	fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (a->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&a->addr, a->addr_len) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
		ret = -errno;
		goto finish;
	}
	*port_out = sockaddr_port((struct sockaddr *)&bound);
	*fd_out = fd;
	fd = -1;
finish:
	if (fd >= 0)
		close(fd);
	return ret;
}

int admin_start(struct admin *a)
{
	sigset_t all, old;
	uint16_t port = 0;
	int ret = -EINVAL;

	if (a == NULL)
		goto finish;
	ret = -EBUSY;
	if (a->running)
		goto finish;
	ret = listen_socket(a, &a->listen_fd, &port);
	if (ret != 0) {
		log_error("admin listen failed", "listen=%s error=\"%s\"", a->listen_text,
			  airdress_strerror(ret));
		goto finish;
	}
	a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->wake_fd < 0) {
		ret = -errno;
		goto finish;
	}
	a->accept_paused_until = 0;
	/* The admin thread takes no signals: they belong to the daemon's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&a->thread, NULL, admin_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		goto finish;
	a->running = true;
	__atomic_store_n(&a->port, port, __ATOMIC_RELEASE);
	log_info("admin listening", "listen=%s port=%u", a->listen_text, port);
finish:
	if (ret != 0 && a != NULL && !a->running && ret != -EBUSY) {
		if (a->listen_fd >= 0)
			close(a->listen_fd);
		if (a->wake_fd >= 0)
			close(a->wake_fd);
		a->listen_fd = a->wake_fd = -1;
	}
	return ret;
}

uint16_t admin_port(const struct admin *a)
{
	return a != NULL ? __atomic_load_n(&a->port, __ATOMIC_ACQUIRE) : 0;
}

void admin_stop(struct admin *a)
{
	uint64_t one = 1;

	if (a == NULL || !a->running)
		return;
	while (write(a->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(a->thread, NULL);
	for (unsigned k = 0; k < a->cfg.max_conns; k++)
		if (a->conns[k].state != CONN_FREE)
			conn_close(&a->conns[k]);
	close(a->listen_fd);
	close(a->wake_fd);
	a->listen_fd = a->wake_fd = -1;
	a->running = false;
	__atomic_store_n(&a->port, 0, __ATOMIC_RELEASE);
}

void admin_destroy(struct admin *a)
{
	if (a == NULL)
		return;
	admin_stop(a);
	for (unsigned i = 0; i < a->n_routes; i++) {
		free(a->routes[i].method);
		free(a->routes[i].path);
	}
	free(a->routes);
	free(a->hb);
	free(a->hb_seen);
	free(a->hb_change);
	free(a->hb_stalled);
	free(a->conns);
	free(a->pfds);
	free(a->pconn);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
