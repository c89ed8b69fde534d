/*
 * Forward: the relay's connection handling on the worker loop.
 *
 * A client connection on an HTTP or TLS listener goes through these states:
 *
 *   PEEK        bytes are gathered into a peek buffer (per-worker pool, 16 KiB)
 *               until the request head (HTTP) or the ClientHello (TLS) names the
 *               host, bounded by peek_timeout and the buffer size
 *   CONNECTING  the name was found in the route table; reading from the client is
 *               paused while the relay connects to the operator's tunnel address on
 *               the client's port (connect_timeout, a linked timeout)
 *   SPLICE      the PROXY v2 header and the peeked bytes went out first; now bytes
 *               are copied both ways, reading one side only while the other side
 *               can take more, until both sides have shut down
 *
 * An unknown name gets a small 404 page on HTTP and a TLS unrecognized_name alert on
 * TLS, then the connection closes. The relay never decrypts TLS.
 */
#ifndef AIRDRESS_RELAY_FORWARD_H
#define AIRDRESS_RELAY_FORWARD_H

#include <stdint.h>

#include "loop.h"
#include "metrics.h"
#include "nametable.h"

enum forward_kind { FORWARD_HTTP, FORWARD_TLS };

/* Settings shared by every worker; timeouts may change on reload (relaxed atomics). */
struct forward_settings {
	struct nametable *routes;
	uint64_t peek_timeout_ms;
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned max_peeking;      /* per worker */
	unsigned max_clients;      /* per worker */
	unsigned max_per_name;     /* client connections under one name, whole process;
	                              0 = no limit */
};

/* Metric ids of the relay (forward_metrics, forward_metrics_count). */
enum {
	FM_ACCEPTED,       /* by kind */
	FM_ROUTED,         /* by kind */
	FM_UNKNOWN_NAME,   /* by kind */
	FM_REJECTED,       /* by kind and reason */
	FM_ACTIVE,         /* gauge: forwarded client connections */
	FM_PEEKING,        /* gauge */
	FM_BYTES_UP,       /* client -> operator */
	FM_BYTES_DOWN,     /* operator -> client */
	FM_PEEK_SECONDS,   /* histogram */
	FM_COUNT,
};

/* Reasons of FM_REJECTED. */
enum forward_reject {
	FR_BAD_REQUEST,
	FR_HEAD_TOO_BIG,
	FR_NO_NAME,
	FR_PEEK_TIMEOUT,
	FR_TOO_MANY_PEEKING,
	FR_TOO_MANY_CONNECTIONS,
	FR_CONNECT_FAILED,
	FR_H2_PREFACE,
	FR_TOO_MANY_FOR_NAME,
	FR_COUNT,
};

extern const struct metrics_desc forward_metrics[FM_COUNT];

/* The ops of the HTTP and TLS listeners; the listener ctx is a struct
 * forward_listener. */
extern const struct conn_ops forward_client_ops;

struct forward_listener {
	enum forward_kind kind;
	struct forward_settings *settings;
};

/* Bytes of per-connection state the loop must reserve (loop_config.conn_user_size). */
size_t forward_conn_size(void);

/* Per-worker setup and teardown, from the loop hooks. */
int forward_worker_start(struct worker *w, struct forward_settings *s, struct metrics *m);
void forward_worker_stop(struct worker *w);

#endif
