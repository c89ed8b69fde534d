/*
 * Server: queries in, answers out, on the worker loop. See server.h.
 *
 * Per worker: one parsed-query struct, one scratch area for RRsets, one output
 * buffer, the response cache. Nothing is allocated per query; a TCP connection
 * allocates a reassembly buffer only while a message is split across reads.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dnscache.h"
#include "error.h"
#include "log.h"
#include "server.h"
#include "siphash.h"

#define TCP_HIGH_WATER (256 * 1024)
#define TCP_MSG_MAX 65535

struct dns_worker {
	struct dns_server *s;
	struct metrics_slots *m;
	struct dnscache *cache;
	unsigned tcp_conns;
	uint64_t evictions_seen;
	struct dnsw_query q;
	struct answer_info info;
	uint8_t scratch[ANSWER_SCRATCH];
	uint8_t out[2 + TCP_MSG_MAX];
};

struct dns_tcp {
	uint8_t *partial;          /* a message split across reads, 2 + TCP_MSG_MAX */
	uint32_t have;
	bool counted;
};

static const char *const proto_values[] = { "udp", "tcp", NULL };
static const char *const qtype_values[] = { "A", "AAAA", "NS", "SOA", "CNAME", "MX", "TXT",
					    "SRV", "PTR", "DS", "ANY", "AXFR", "other", NULL };
static const char *const rcode_values[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP", "REFUSED", "BADVERS", "other", NULL };
static const char *const transfer_values[] = { "done", "refused", "failed", NULL };
static const double lookup_buckets[] = { 1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2 };

const struct metrics_desc dns_metrics[DM_COUNT] = {
	[DM_QUERIES] = METRICS_DESC("dns_queries_total", "Queries answered, by protocol and type.",
				    METRICS_COUNTER, .dims = { { "proto", proto_values },
							       { "qtype", qtype_values } }),
	[DM_RCODES] = METRICS_DESC("dns_responses_total", "Responses sent, by rcode.",
				   METRICS_COUNTER, .dims = { { "rcode", rcode_values } }),
	[DM_DROPPED] = METRICS_DESC("dns_dropped_total", "Packets that were not queries.",
				    METRICS_COUNTER),
	[DM_TRUNCATED] = METRICS_DESC("dns_truncated_total", "UDP answers sent with TC.",
				      METRICS_COUNTER),
	[DM_CACHE_HITS] = METRICS_DESC("dns_cache_hits_total", "Answers from the response cache.",
				       METRICS_COUNTER),
	[DM_CACHE_MISSES] = METRICS_DESC("dns_cache_misses_total",
					 "Answers built from the zone store.", METRICS_COUNTER),
	[DM_CACHE_EVICTIONS] = METRICS_DESC("dns_cache_evictions_total",
					    "Cached answers evicted for room.", METRICS_COUNTER),
	[DM_CACHE_ENTRIES] = METRICS_DESC("dns_cache_entries", "Cached answers.", METRICS_GAUGE),
	[DM_INVALIDATIONS] = METRICS_DESC("dns_cache_invalidated_total",
					  "Cached answers dropped because their data changed.",
					  METRICS_COUNTER),
	[DM_LOOKUP_SECONDS] = METRICS_DESC("dns_store_lookup_seconds",
					   "Time to build an answer from the zone store (RocksDB).",
					   METRICS_HISTOGRAM, .buckets = lookup_buckets,
					   .n_buckets = sizeof(lookup_buckets) / sizeof(lookup_buckets[0])),
	[DM_TCP_REFUSED] = METRICS_DESC("dns_tcp_refused_total",
					"TCP connections closed at once: over max_tcp_connections.",
					METRICS_COUNTER),
	[DM_TRANSFERS] = METRICS_DESC("dns_transfers_total", "Zone transfers (AXFR), by result.",
				      METRICS_COUNTER, .dims = { { "result", transfer_values } }),
};


static unsigned qtype_index(uint16_t t)
{
	switch (t) {
	case DNSW_T_A: return 0;
	case DNSW_T_AAAA: return 1;
	case DNSW_T_NS: return 2;
	case DNSW_T_SOA: return 3;
	case DNSW_T_CNAME: return 4;
	case DNSW_T_MX: return 5;
	case DNSW_T_TXT: return 6;
	case DNSW_T_SRV: return 7;
	case DNSW_T_PTR: return 8;
	case DNSW_T_DS: return 9;
	case DNSW_T_ANY: return 10;
	case DNSW_T_AXFR: return 11;
	default: return 12;
	}
}

static unsigned rcode_index(unsigned rc)
{
	switch (rc) {
	case DNSW_RC_NOERROR: return 0;
	case DNSW_RC_FORMERR: return 1;
	case DNSW_RC_SERVFAIL: return 2;
	case DNSW_RC_NXDOMAIN: return 3;
	case DNSW_RC_NOTIMP: return 4;
	case DNSW_RC_REFUSED: return 5;
	case DNSW_RC_BADVERS: return 6;
	default: return 7;
	}
}

size_t dns_conn_size(void)
{
	return sizeof(struct dns_tcp);
}

int dns_worker_start(struct worker *w, struct dns_server *s, struct metrics *m)
{
	struct dns_worker *dw = aligned_alloc(64, (sizeof(*dw) + 63) & ~(size_t)63);
	if (dw == NULL)
		return -ENOMEM;
	memset(dw, 0, sizeof(*dw));
	dw->s = s;
	dw->m = metrics_worker_slots(m, worker_id(w));
	if (s->cache_size && (dw->cache = dnscache_create(s->cache_size)) == NULL) {
		free(dw);
		return -ENOMEM;
	}
	worker_set_data(w, dw);
	return 0;
}

void dns_worker_stop(struct worker *w)
{
	struct dns_worker *dw = worker_data(w);
	if (dw == NULL)
		return;
	dnscache_destroy(dw->cache);
	free(dw);
	worker_set_data(w, NULL);
}

static void cache_stats(struct dns_worker *dw);

void dns_worker_message(struct worker *w, const struct msg *m)
{
	struct dns_worker *dw = worker_data(w);
	if (m->type != MSG_DNS_INVALIDATE || dw->cache == NULL)
		return;
	unsigned dropped = dnscache_invalidate(dw->cache, m->u64);
	metrics_add(dw->m, DM_INVALIDATIONS, dropped);
	cache_stats(dw);
}

/* RFC 9018 server cookie: version 1, reserved, timestamp, SipHash-2-4 over the client
 * cookie, those 8 bytes and the client address. Writes client + server cookie into
 * out (24 bytes) and returns 24. */
static uint8_t make_cookie(const struct dns_server *s, const struct dnsw_query *q,
			   const struct sockaddr *from, uint8_t out[24])
{
	uint8_t in[8 + 8 + 16];
	size_t n = 0;
	memcpy(out, q->cookie, 8);
	uint32_t now = (uint32_t)time(NULL);
	uint8_t *sc = out + 8;
	sc[0] = 1;
	sc[1] = sc[2] = sc[3] = 0;
	sc[4] = (uint8_t)(now >> 24);
	sc[5] = (uint8_t)(now >> 16);
	sc[6] = (uint8_t)(now >> 8);
	sc[7] = (uint8_t)now;
	memcpy(in, q->cookie, 8);
	memcpy(in + 8, sc, 8);
	n = 16;
	if (from->sa_family == AF_INET) {
		memcpy(in + n, &((const struct sockaddr_in *)from)->sin_addr, 4);
		n += 4;
	} else if (from->sa_family == AF_INET6) {
		memcpy(in + n, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
		n += 16;
	}
	uint64_t h = siphash24(s->cookie_secret, in, n);
	for (int i = 0; i < 8; i++)
		sc[8 + i] = (uint8_t)(h >> (56 - 8 * i));
	return 24;
}

/* The largest answer this client takes. */
static size_t query_limit(const struct dns_server *s, const struct dnsw_query *q, bool tcp)
{
	if (tcp)
		return TCP_MSG_MAX;
	if (!q->has_edns)
		return 512;
	size_t l = q->edns_payload < s->answer.udp_payload ? q->edns_payload : s->answer.udp_payload;
	return l < 512 ? 512 : l;
}

/* The limit a cached answer of a size class is built with (dnscache.h). */
static size_t class_limit(const struct dns_server *s, unsigned size_class)
{
	switch (size_class) {
	case DNSCACHE_SC_PLAIN:
		return 512;
	case DNSCACHE_SC_EDNS_SMALL:
		return s->answer.udp_payload < DNSCACHE_EDNS_SMALL ? s->answer.udp_payload
								 : DNSCACHE_EDNS_SMALL;
	case DNSCACHE_SC_EDNS_LARGE:
		return s->answer.udp_payload;
	default:
		return TCP_MSG_MAX;
	}
}

/* Build from the store, timing the lookup. */
static size_t build(struct dns_worker *dw, const struct dnsw_query *q, bool tcp, size_t limit,
		    const uint8_t *cookie, uint8_t cookie_len)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t n = answer_build(dw->s->db, &dw->s->answer, q, tcp, limit, cookie, cookie_len,
				dw->scratch, dw->out + 2, TCP_MSG_MAX, &dw->info);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe(dw->m, DM_LOOKUP_SECONDS,
			(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	return n;
}

static void count_answer(struct dns_worker *dw)
{
	metrics_inc_at(dw->m, DM_RCODES, rcode_index(dw->info.rcode));
	if (dw->info.truncated)
		metrics_inc(dw->m, DM_TRUNCATED);
}

static void cache_stats(struct dns_worker *dw)
{
	const struct dnscache_stats *st = dnscache_stats(dw->cache);
	metrics_gauge_set(dw->m, DM_CACHE_ENTRIES, (int64_t)st->entries);
	metrics_add(dw->m, DM_CACHE_EVICTIONS, st->evictions - dw->evictions_seen);
	dw->evictions_seen = st->evictions;
}

/* Parse one message into dw->q. Returns true when it is a query to answer; false
 * when it is answered already (*n: the FORMERR answer's length in dw->out + 2) or
 * dropped (*n = 0). */
static bool parse(struct dns_worker *dw, const uint8_t *pkt, size_t len, size_t *n)
{
	int ret = dnsw_parse_query(pkt, len, &dw->q);
	*n = 0;
	if (ret == DNSW_DROP) {
		metrics_inc(dw->m, DM_DROPPED);
		return false;
	}
	if (ret != 0) {
		metrics_inc_at(dw->m, DM_RCODES, rcode_index(DNSW_RC_FORMERR));
		*n = answer_formerr(&dw->q, dw->out + 2, TCP_MSG_MAX);
		return false;
	}
	return true;
}

/* Answer the query parse() left in dw->q; returns the answer length in dw->out + 2. */
static size_t answer(struct dns_worker *dw, bool tcp, const struct sockaddr *from)
{
	struct dnsw_query *q = &dw->q;
	uint8_t *out = dw->out + 2;
	metrics_inc_at(dw->m, DM_QUERIES, (tcp ? 1u : 0u) * 13u + qtype_index(q->qtype));

	uint8_t cookie[24];
	uint8_t cookie_len = q->cookie_len ? make_cookie(dw->s, q, from, cookie) : 0;

	size_t qlimit = query_limit(dw->s, q, tcp);
	struct dnscache_key key;
	uint64_t hash = 0;
	size_t n;
	/* The cache holds answers that depend only on the key and the zone data: not
	 * those carrying a server cookie, which depends on the client's address. */
	if (dw->cache != NULL && cookie_len == 0 && dnscache_key_from_query(&key, q, tcp, (unsigned)qlimit)) {
		hash = dnscache_key_hash(dw->cache, &key);
		const struct dnscache_entry *e = dnscache_get(dw->cache, &key, hash);
		if (e != NULL && e->len <= qlimit) {
			n = dnscache_entry_copy(e, out, TCP_MSG_MAX, q->id, q->qname);
			metrics_inc(dw->m, DM_CACHE_HITS);
			metrics_inc_at(dw->m, DM_RCODES, rcode_index(e->rcode));
			return n;
		}
		metrics_inc(dw->m, DM_CACHE_MISSES);
		/* Build for the whole size class, so the entry serves every query of it. */
		n = build(dw, q, tcp, class_limit(dw->s, key.size_class), NULL, 0);
		if (n > 0 && n <= qlimit) {
			if (dw->info.cacheable) {
				uint64_t deps[ANSWER_DEPS_MAX];
				for (unsigned i = 0; i < dw->info.ndeps; i++)
					deps[i] = dnscache_name_hash(dw->info.deps[i]);
				if (dnscache_put(dw->cache, &key, hash, out, n, deps, dw->info.ndeps) == 0)
					cache_stats(dw);
			}
			count_answer(dw);
			return n;
		}
	}
	n = build(dw, q, tcp, qlimit, cookie_len ? cookie : NULL, cookie_len);
	if (n > 0)
		count_answer(dw);
	return n;
}

/* ---- UDP ---------------------------------------------------------------- */

static void udp_datagram(const struct udp_packet *p)
{
	struct dns_worker *dw = worker_data(p->worker);
	size_t n;
	if (parse(dw, p->data, p->len, &n))
		n = answer(dw, false, p->from);
	if (n > 0)
		udp_send(p->sock, p->from, p->fromlen, dw->out + 2, n);
}

const struct udp_ops dns_udp_ops = {
	.on_datagram = udp_datagram,
};

/* ---- TCP ---------------------------------------------------------------- */

static int tcp_open(struct conn *c)
{
	struct dns_worker *dw = worker_data(conn_worker(c));
	struct dns_tcp *t = conn_data(c);
	if (dw->tcp_conns >= dw->s->max_tcp_per_worker) {
		metrics_inc(dw->m, DM_TCP_REFUSED);
		conn_abort(c);
		return 0;
	}
	dw->tcp_conns++;
	t->counted = true;
	conn_set_timeout(c, __atomic_load_n(&dw->s->tcp_idle_ms, __ATOMIC_RELAXED));
	return 0;
}

static int axfr_emit(void *ctx, const uint8_t *msg, size_t len)
{
	struct conn *c = ctx;
	uint8_t prefix[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	int ret = conn_send(c, prefix, 2);
	return ret ? ret : conn_send(c, msg, len);
}

/* AXFR over TCP: the zone, to peers the zone's allow_transfer lists; REFUSED to the
 * others (as NSD and Knot answer). Takes the query parse() left in dw->q; returns true
 * when it was an allowed AXFR, now queued on c. */
static bool tcp_axfr(struct conn *c, struct dns_worker *dw)
{
	struct dnsw_query *q = &dw->q;
	if (q->qtype != DNSW_T_AXFR || q->opcode != DNSW_OP_QUERY || q->qclass != DNSW_CLASS_IN)
		return false;
	uint8_t apex[DNSW_NAME_MAX];
	const struct sockaddr *peer = conn_peer(c, NULL);
	bool ok = zonedb_find_zone(dw->s->db, q->qname_lc, apex) == 0 &&
		  dnsw_name_equal(apex, q->qname_lc) && dw->s->transfer_allowed != NULL &&
		  dw->s->transfer_allowed(apex, peer);
	if (!ok) {
		metrics_inc_at(dw->m, DM_TRANSFERS, 1);
		return false; /* answered REFUSED by the normal path */
	}
	metrics_inc_at(dw->m, DM_QUERIES, 13u + qtype_index(q->qtype));
	/* Messages of 16 KiB; the whole zone is queued on the connection now. */
	int ret = answer_axfr(dw->s->db, q, dw->out + 2, 16384, dw->scratch, axfr_emit, c);
	metrics_inc_at(dw->m, DM_TRANSFERS, ret == 0 ? 0u : 2u);
	if (ret != 0) {
		char text[DNSW_TEXT_MAX];
		dnsw_name_to_text(q->qname_lc, text, sizeof(text));
		log_warn("zone transfer failed", "zone=%s error=\"%s\"", text, airdress_strerror(ret));
		conn_abort(c);
	}
	return true;
}

static void tcp_answer(struct conn *c, struct dns_worker *dw, const uint8_t *msg, size_t len)
{
	size_t n;
	if (parse(dw, msg, len, &n)) {
		if (tcp_axfr(c, dw))
			return; /* an allowed AXFR is served apart */
		n = answer(dw, true, conn_peer(c, NULL));
	}
	if (n == 0)
		return;
	dw->out[0] = (uint8_t)(n >> 8);
	dw->out[1] = (uint8_t)n;
	if (conn_send(c, dw->out, n + 2) != 0)
		conn_abort(c);
}

static void tcp_data(struct conn *c, const uint8_t *data, size_t len)
{
	struct dns_worker *dw = worker_data(conn_worker(c));
	struct dns_tcp *t = conn_data(c);
	while (len > 0) {
		if (t->partial == NULL) {
			/* Fast path: whole messages straight from the receive buffer. */
			if (len >= 2) {
				size_t mlen = (size_t)data[0] << 8 | data[1];
				if (len >= 2 + mlen) {
					tcp_answer(c, dw, data + 2, mlen);
					data += 2 + mlen;
					len -= 2 + mlen;
					continue;
				}
			}
			t->partial = malloc(2 + TCP_MSG_MAX);
			if (t->partial == NULL) {
				conn_abort(c);
				return;
			}
			t->have = 0;
		}
		/* Gather the length, then the message. */
		size_t need = t->have < 2 ? 2 - t->have
					  : 2 + ((size_t)t->partial[0] << 8 | t->partial[1]) - t->have;
		size_t take = len < need ? len : need;
		memcpy(t->partial + t->have, data, take);
		t->have += (uint32_t)take;
		data += take;
		len -= take;
		if (t->have >= 2) {
			size_t mlen = (size_t)t->partial[0] << 8 | t->partial[1];
			if (t->have == 2 + mlen) {
				tcp_answer(c, dw, t->partial + 2, mlen);
				free(t->partial);
				t->partial = NULL;
			}
		}
	}
	if (conn_pending(c) > TCP_HIGH_WATER)
		conn_pause(c); /* a client that pipelines without reading */
}

static void tcp_drained(struct conn *c)
{
	conn_resume(c);
}

static void tcp_drain(struct conn *c)
{
	/* Shutting down: a connection with no answer pending is finished. */
	if (conn_pending(c) == 0)
		conn_close(c);
}

static void tcp_close(struct conn *c, enum conn_end why, int err)
{
	struct dns_worker *dw = worker_data(conn_worker(c));
	struct dns_tcp *t = conn_data(c);
	free(t->partial);
	t->partial = NULL;
	if (t->counted)
		dw->tcp_conns--;
}

const struct conn_ops dns_tcp_ops = {
	.on_open = tcp_open,
	.on_data = tcp_data,
	.on_drained = tcp_drained,
	.on_drain = tcp_drain,
	.on_close = tcp_close,
};
