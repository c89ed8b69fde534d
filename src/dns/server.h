/*
 * Server: airdress-dns's query handling on the worker loop. UDP datagrams and TCP
 * streams (2-byte length framing, pipelining, idle timeout, a cap on connections)
 * are parsed, answered from the worker's response cache or the zone store, and
 * sent back. Changes to the zone data reach every worker as invalidation messages.
 */
#ifndef AIRDRESS_DNS_SERVER_H
#define AIRDRESS_DNS_SERVER_H

#include <stdint.h>

#include "answer.h"
#include "loop.h"
#include "metrics.h"
#include "zonedb.h"

/* Cross-core message: drop cached answers depending on the name whose hash is u64. */
#define MSG_DNS_INVALIDATE (MSG_USER + 1)

/* Settings shared by every worker (read-only while serving, but tcp_idle_ms and
 * the answer settings' NSID may change on reload: relaxed reads). */
struct dns_server {
	struct zonedb *db;
	struct answer_settings answer;
	uint64_t cache_size;        /* bytes per worker, 0 = no cache */
	uint64_t tcp_idle_ms;
	unsigned max_tcp_per_worker;
	uint8_t cookie_secret[16];  /* server cookies (RFC 9018) */
	/* Whether peer may transfer the zone at apex (AXFR over TCP); runs on a worker. */
	bool (*transfer_allowed)(const uint8_t *apex, const struct sockaddr *peer);
};

enum {
	DM_QUERIES,        /* by proto × qtype */
	DM_RCODES,         /* by rcode */
	DM_DROPPED,        /* not a query */
	DM_TRUNCATED,
	DM_CACHE_HITS,
	DM_CACHE_MISSES,
	DM_CACHE_EVICTIONS,
	DM_CACHE_ENTRIES,
	DM_INVALIDATIONS,
	DM_LOOKUP_SECONDS, /* histogram: answer built from the store */
	DM_TCP_REFUSED,
	DM_TRANSFERS,      /* by result */
	DM_COUNT,
};

extern const struct metrics_desc dns_metrics[DM_COUNT];
extern const struct conn_ops dns_tcp_ops;   /* listener ctx: struct dns_server */
extern const struct udp_ops dns_udp_ops;    /* listener ctx: struct dns_server */

size_t dns_conn_size(void);
int dns_worker_start(struct worker *w, struct dns_server *s, struct metrics *m);
void dns_worker_stop(struct worker *w);
void dns_worker_message(struct worker *w, const struct msg *m);

/* MSG_DNS_INVALIDATE carries dnscache_name_hash() of the lowercase wire name. */

#endif
