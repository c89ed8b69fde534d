/*
 * Admin: the small HTTP/1.1 server every daemon runs on `admin.listen` (loopback by
 * default) for health checks, readiness, Prometheus metrics and the daemon's own
 * control routes. docs/admin.md is the user-facing description.
 *
 * It runs on its own thread (the admin thread): one poll() loop over non-blocking
 * sockets, at most max_conns connections, every request answered and then the
 * connection closed ("Connection: close" on every response; no keep-alive). Workers
 * never wait for it: they only bump their heartbeat word and their metrics slots,
 * which the admin thread reads with relaxed atomic loads.
 *
 * Built-in routes (GET, and HEAD):
 *   /healthz   200 "ok\n" while SERVING and healthy
 *              503 "starting\n" | "draining\n" | "unhealthy: <reason>\n"
 *   /readyz    200 "ready\n" once admin_set_ready(true), else 503 "not ready\n"
 *   /metrics   200 Prometheus text (Content-Type: text/plain; version=0.0.4)
 *
 * Health: while the state is SERVING, each of the `workers` worker ids must call
 * admin_heartbeat() at least once every stall_after_ms; a worker whose counter has
 * not moved for that long makes /healthz answer 503 "unhealthy: worker N stalled".
 * The stall clock of every worker restarts when the state becomes SERVING.
 *
 * Connection states (admin.c):
 *   HEAD     reading the request head (deadline: read_timeout from accept)
 *   BODY     reading Content-Length bytes of body (same deadline)
 *   WRITE    sending the response (deadline: read_timeout from its start)
 *   LINGER   response sent, write side shut down: reading and discarding what the
 *            client still sends until it closes, so that the kernel does not reset
 *            the connection under an unread response (short deadline)
 */
#ifndef AIRDRESS_ADMIN_H
#define AIRDRESS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;
struct admin;
struct admin_request;
struct admin_response;

enum admin_state {
	ADMIN_STARTING, /* /healthz 503 "starting" */
	ADMIN_SERVING,  /* /healthz 200 "ok" unless unhealthy */
	ADMIN_DRAINING, /* /healthz 503 "draining" */
};

/* Zero fields take the default shown. */
struct admin_config {
	const char *listen;       /* "127.0.0.1:9153" or "[::1]:9153"; port 0: ephemeral.
	                             Required. */
	unsigned workers;         /* heartbeat slots: worker ids 0..workers-1, the actual
	                             number of worker threads (0: no stall check) */
	unsigned stall_after_ms;  /* 5000 */
	unsigned read_timeout_ms; /* 5000: the whole request must arrive in this time */
	unsigned max_conns;       /* 64 open connections; more are answered 503 and closed */
	size_t max_head;          /* 8 KiB: request line and headers */
	size_t max_body;          /* 1 MiB: request body (Content-Length only) */
	struct metrics *metrics;  /* rendered by GET /metrics; may be NULL; borrowed */
};

/* A route handler: runs on the admin thread, one request at a time; it must not
 * block for long (it delays every other admin request, never the workers). It reads
 * req and fills resp (status 200 and text/plain unless set). Returns 0, or an error
 * to answer 500 instead of whatever resp holds. */
typedef int (*admin_handler_fn)(const struct admin_request *req, struct admin_response *resp,
				void *ctx);

enum admin_route_flags {
	ADMIN_ROUTE_EXACT = 0,  /* the path must equal the route's path */
	ADMIN_ROUTE_PREFIX = 1, /* the path must start with the route's path */
};

/* ---- lifecycle ---- */

/* Check cfg (the listen address is parsed, not yet bound) and allocate the server
 * in state STARTING, not ready. Returns 0 and *out (free with admin_destroy), AD_ECONFIG
 * for an unusable cfg (logged), -EINVAL for NULL arguments, -ENOMEM. cfg is copied;
 * cfg->listen need not outlive the call, cfg->metrics must. */
int admin_create(const struct admin_config *cfg, struct admin **out);

/* Add a route before admin_start(): requests whose method is `method` ("GET", "PUT",
 * ...; HEAD is served by a GET route unless a HEAD route exists) and whose path (the
 * target without "?query", not percent-decoded) equals `path`, or starts with it with
 * ADMIN_ROUTE_PREFIX, go to fn(req, resp, ctx). The longest matching path wins; a
 * route added later replaces one with the same method, path and flags (also the
 * built-in ones). A path that matches with another method only gets 405 with Allow.
 * Strings are copied. Returns 0, -EINVAL (bad arguments), -EBUSY (server running),
 * -ENOMEM. */
int admin_route_add(struct admin *a, const char *method, const char *path, unsigned flags,
		    admin_handler_fn fn, void *ctx);

/* Bind and listen on the configured address and start the admin thread. Returns 0,
 * -EBUSY when already running, or the failing call's -errno (e.g. -EADDRINUSE),
 * which is logged. */
int admin_start(struct admin *a);

/* The bound port (useful with port 0), or 0 when not running. */
uint16_t admin_port(const struct admin *a);

/* Stop the admin thread and join it, close the listening socket and every
 * connection. Does nothing when not running. May be followed by admin_start(). */
void admin_stop(struct admin *a);

/* admin_stop() and free everything. NULL is fine. */
void admin_destroy(struct admin *a);

/* ---- health, from any thread; never blocks on the admin thread; NULL a is ignored ---- */

void admin_set_state(struct admin *a, enum admin_state state);
enum admin_state admin_get_state(const struct admin *a);
void admin_set_ready(struct admin *a, bool ready);

/* Mark the daemon unhealthy with a one-line reason (copied, up to 200 bytes), or
 * healthy again with NULL. Takes a mutex: for control threads, not the hot path. */
void admin_set_unhealthy(struct admin *a, const char *reason);

/* Called by worker `worker` from its loop housekeeping, at least once a second:
 * a relaxed load and store on the worker's own cache line. Out-of-range ids are
 * ignored. */
void admin_heartbeat(struct admin *a, unsigned worker);

/* ---- for handlers: the request ---- */

/* All strings are NUL-terminated and live until the handler returns. */
const char *admin_request_method(const struct admin_request *req);
const char *admin_request_path(const struct admin_request *req);  /* "/v1/names/x" */
const char *admin_request_query(const struct admin_request *req); /* "a=1&b=2" or "" */
/* The value of the first header called `name` (case-insensitive), without leading
 * and trailing blanks, or NULL when absent. E.g. "Authorization". */
const char *admin_request_header(const struct admin_request *req, const char *name);
/* The body (Content-Length bytes, NUL-terminated for convenience; may hold NULs). */
const char *admin_request_body(const struct admin_request *req, size_t *len);

/* ---- for handlers: the response ---- */

/* Status 100..599 except 1xx; others become 500. Default 200. */
void admin_response_status(struct admin_response *resp, int status);
/* Content-Type (copied; must not hold CR or LF). Default "text/plain; charset=utf-8". */
int admin_response_type(struct admin_response *resp, const char *content_type);
/* An extra header line such as "WWW-Authenticate: Bearer". Content-Length,
 * Connection, Date and Transfer-Encoding belong to the server, Content-Type to
 * admin_response_type(). Returns 0, -EINVAL (CR, LF, or a reserved or invalid name),
 * -ENOMEM. */
int admin_response_header(struct admin_response *resp, const char *name, const char *value);
/* Append to the body. Return 0 or -ENOMEM. */
int admin_response_append(struct admin_response *resp, const void *data, size_t len);
int admin_response_printf(struct admin_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
