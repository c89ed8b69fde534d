/*
 * Proxy: the operator's reverse proxy on the worker loop.
 *
 * A connection from the relay starts with a PROXY v2 header (required: without a
 * valid one the connection is closed), which gives the client's real address. On the
 * TLS listener the rest is a TLS session terminated here (tlsterm); on the HTTP
 * listener it is plain HTTP. Each HTTP/1.1 request is checked (h1), matched against
 * the ingress rules (first match wins), and forwarded to its local service with
 * Forwarded / X-Forwarded-* set from the PROXY header; bodies stream both ways, never
 * buffered whole; a WebSocket upgrade becomes a byte tunnel.
 *
 * Client side:   PROXY -> HEAD -> BODY -> WAIT -> HEAD ... (keep-alive), or TUNNEL
 * Service side:  CONNECTING -> HEAD -> BODY -> IDLE (kept for the next request of the
 *                same client connection), or TUNNEL
 */
#ifndef AIRDRESS_OPERATOR_PROXY_H
#define AIRDRESS_OPERATOR_PROXY_H

#include <stdint.h>

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

size_t op_conn_size(void);
int op_worker_start(struct worker *w, struct metrics *m);
void op_worker_stop(struct worker *w);

#endif
