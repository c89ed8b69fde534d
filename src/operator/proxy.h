/*
 * Proxy: the operator's reverse proxy on the worker loop.
 *
 * A connection from the relay starts with a PROXY v2 header (required: without a
 * valid one the connection is closed), which gives the client's real address. On the
 * TLS listener the rest is a TLS session terminated here (tlsterm); on the HTTP
 * listener it is plain HTTP. Each HTTP/1.1 request is checked (h1), matched against
 * the ingress rules (first match wins), and forwarded to its local service with
 * Forwarded / X-Forwarded-* set from the PROXY header; bodies stream both ways, never
 * buffered whole; a WebSocket upgrade becomes a byte tunnel. A service is reached over
 * TCP (http://IP:PORT) or a unix stream socket (unix:/PATH). Each completed request
 * may be logged as one access line (access_log).
 *
 * Client side:   PROXY -> HEAD -> BODY -> WAIT -> HEAD ... (keep-alive), or TUNNEL
 * Service side:  CONNECTING -> HEAD -> BODY -> IDLE, or TUNNEL
 *
 * IDLE service connections wait in a per-worker pool keyed by the service's address
 * (at most upstream_idle per service, for upstream_idle_timeout) for the next request
 * to that service from any client of the worker. A pooled connection the service
 * closes is dropped as soon as its EOF arrives. A request without a body and with an
 * idempotent method that went out on a pooled connection which then closed before any
 * response byte is sent once more on a new connection.
 */
#ifndef AIRDRESS_OPERATOR_PROXY_H
#define AIRDRESS_OPERATOR_PROXY_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "metrics.h"
#include "operator_config.h"
#include "tlsterm.h"

struct op_listener {
	bool tls;
	struct op_shared *shared;
};

/* What every worker reads; the config comes from the daemon (daemon_config). */
struct op_shared {
	struct daemon *d;
	struct tlsterm_ctx *tls;   /* NULL: no certificates (the TLS listener refuses) */
};

enum {
	OM_REQUESTS,       /* by listener */
	OM_RESPONSES,      /* by status class */
	OM_REJECTED,       /* by reason */
	OM_UPGRADES,
	OM_SERVICE_CONNS,  /* by event: opened, reused, retried, closed_idle */
	/* The tunnel (tunnel.c), set from the control thread. */
	OM_TUNNEL_UP,
	OM_TUNNEL_HANDSHAKE,
	OM_TUNNEL_RX,
	OM_TUNNEL_TX,
	OM_TUNNEL_PROBES_LOST,
	OM_TUNNEL_REHANDSHAKES,
	OM_TUNNEL_RESTARTS,
	OM_COUNT,
};

extern const struct metrics_desc op_metrics[OM_COUNT];
extern const struct conn_ops op_client_ops;  /* listener ctx: struct op_listener */

/* Parse a route's service "http://IP:PORT[/...]" or "unix:/ABSOLUTE/PATH" into the
 * address to connect to (a unix path must fit sun_path). Returns 0, or AD_EPARSE
 * (also for "http_status:CODE", which names no address). */
int op_service_parse(const char *service, struct sockaddr_storage *ss, socklen_t *len);

/* Check every route's service of cfg: an address op_service_parse() accepts, or
 * http_status:CODE with CODE in 100..599. Logs the first bad one (its routes[i]
 * index and why) and returns AD_ECONFIG; 0 when all are usable. */
int op_routes_check(const struct op_cfg *cfg);

size_t op_conn_size(void);
int op_worker_start(struct worker *w, struct metrics *m);
void op_worker_stop(struct worker *w);

#endif
