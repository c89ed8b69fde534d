/*
 * Response cache of airdress-dns: ready wire-format answers, one cache per worker
 * thread (no locks, no atomics, nothing shared), so that a hit costs a hash, a
 * compare, a memcpy and dnsw_patch_cached() (docs/dns-cache.md).
 *
 * Key: the question (lowercase qname, qtype, qclass) and everything else of the query
 * the answer depends on: EDNS present and the UDP size class or TCP, DO, NSID
 * request, RD and CD (copied into the answer's header). Value: the answer as built for
 * that key, with ID 0 and the question in lowercase, plus up to DNSCACHE_DEPS_MAX
 * dependency hashes (dnscache_name_hash of the names the answer was built from).
 * dnscache_invalidate(name hash) drops every entry that depends on the name.
 *
 * Memory: everything is allocated by dnscache_create(), within max_bytes: the struct,
 * the two index tables and a ring that holds the entries (header, dependency links,
 * answer bytes). Inserting into a full ring evicts with CLOCK (second chance): the
 * hand walks the ring from its oldest entry; an entry read since the hand last
 * passed has its bit cleared and moves to the front, an unread one is evicted. No
 * malloc after create.
 *
 *   worker, per query:   if (dnscache_key_from_query(&k, q, tcp, limit)) {
 *                            h = dnscache_key_hash(c, &k);
 *                            e = dnscache_get(c, &k, h);
 *                            if (e != NULL && e->len <= limit) {
 *                                n = dnscache_entry_copy(e, buf, cap, q->id, q->qname);
 *                                ... send buf[0..n)
 *                            }
 *                            ... else build, send, dnscache_put(c, &k, h, ...)
 *                        }
 *   worker, on a change: dnscache_invalidate(c, dnscache_name_hash(lc_name));
 */
#ifndef AIRDRESS_DNSCACHE_H
#define AIRDRESS_DNSCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnswire.h"

#define DNSCACHE_WIRE_MAX 4096          /* longest answer cached */
#define DNSCACHE_DEPS_MAX 8             /* dependency hashes per entry */
#define DNSCACHE_BYTES_MIN (64 * 1024)  /* smallest max_bytes dnscache_create takes */
#define DNSCACHE_EDNS_SMALL 1232        /* upper limit of DNSCACHE_SC_EDNS_SMALL */

/* How big an answer may be, as part of the key. A cached answer is built with the
 * class's limit (512; 1232; the server's largest UDP payload; 65535 for TCP) and is
 * served to a query of the class only when it fits the query's own limit (an answer
 * that fits the smaller limit is what a build with that limit would have produced). */
enum dnscache_size_class {
	DNSCACHE_SC_PLAIN = 0,      /* UDP without EDNS: 512 bytes */
	DNSCACHE_SC_EDNS_SMALL = 1, /* UDP with EDNS, limit <= 1232 */
	DNSCACHE_SC_EDNS_LARGE = 2, /* UDP with EDNS, limit above 1232 */
	DNSCACHE_SC_TCP = 3,        /* TCP without EDNS */
	DNSCACHE_SC_TCP_EDNS = 4,   /* TCP with EDNS */
};

/* Query bits that change the answer (struct dnscache_key.flags). */
#define DNSCACHE_KF_DO 0x01u   /* EDNS DO bit: DNSSEC records wanted */
#define DNSCACHE_KF_NSID 0x02u /* NSID requested: the answer's OPT carries it */
#define DNSCACHE_KF_RD 0x04u   /* RD, copied into the answer */
#define DNSCACHE_KF_CD 0x08u   /* CD, copied into the answer */

/* A cache key, filled by the caller (or by dnscache_key_from_query). Only qname's
 * first qname_len bytes count. */
struct dnscache_key {
	uint16_t qtype, qclass;
	uint8_t size_class;             /* enum dnscache_size_class */
	uint8_t flags;                  /* DNSCACHE_KF_* */
	uint8_t qname_len;              /* wire length, root label included (1..255) */
	uint8_t qname[DNSW_NAME_MAX];   /* lowercase uncompressed wire name */
};

/* A dependency link of an entry (private: the invalidation index). */
struct dnscache_dep {
	uint64_t hash;
	struct dnscache_dep *bnext, **bpprev; /* bucket chain; bpprev NULL off the chain */
	struct dnscache_dep *next, *prev;     /* ring of the links with the same hash */
	uint32_t back;                        /* bytes from its entry to this link */
};

/* A cached answer. Returned by dnscache_get(); valid until the next dnscache_put,
 * dnscache_invalidate, dnscache_clear or dnscache_destroy on the same cache. Read
 * the public fields and dnscache_entry_wire(); the rest is private. */
struct dnscache_entry {
	uint16_t len;          /* answer bytes at dnscache_entry_wire() */
	uint16_t opt_off;      /* offset of the OPT record's RDLENGTH when the OPT is the
	                        * last record (to append a COOKIE on a hit); 0: no OPT */
	uint8_t rcode;         /* the header's 4 rcode bits */
	uint8_t tc;            /* 1 when the answer has TC set */
	/* private */
	uint8_t state, ref;    /* ring record state; CLOCK bit */
	uint8_t ndeps, qname_len;
	uint32_t rec_size;     /* bytes of the record in the ring */
	uint64_t hash;         /* dnscache_key_hash of the key */
	uint64_t meta;         /* packed qtype, qclass, size class, flags, qname_len */
	struct dnscache_entry *hnext, **hpprev; /* key hash chain */
	/* then the answer (len bytes), padded to 8, then ndeps struct dnscache_dep: the
	 * header and the question share the first cache lines a hit touches */
};

/* Counters of one cache, read by the owning worker (which sums them into its own
 * counters when scraped). bytes and entries are current values. */
struct dnscache_stats {
	uint64_t hits, misses;
	uint64_t inserts;      /* successful puts (replacements included) */
	uint64_t replaced;     /* puts that replaced an entry of the same key */
	uint64_t refused;      /* puts refused (too big, malformed) */
	uint64_t evictions;    /* entries dropped by CLOCK to make room */
	uint64_t second_chances; /* entries the hand passed over because they were read */
	uint64_t invalidated;  /* entries dropped by dnscache_invalidate */
	uint64_t bytes;        /* bytes of live entries: header, links, answer, padding */
	uint64_t entries;
	uint64_t capacity;     /* bytes the ring holds: bytes never exceeds it */
};

struct dnscache;

/* Create a cache that uses at most max_bytes of memory in all (struct, index tables,
 * entries), all of it reserved here (the entry ring is committed lazily as it fills).
 * Returns NULL when out of memory or when max_bytes < DNSCACHE_BYTES_MIN (a server
 * with a smaller cache_size runs without a cache). */
struct dnscache *dnscache_create(size_t max_bytes);
/* Free the cache and every entry. NULL-safe. */
void dnscache_destroy(struct dnscache *c);

/* Hash of a key for this cache (keyed with a per-cache random seed, so clients cannot
 * aim names at one bucket). Compute it once per query, pass it to get and put. */
uint64_t dnscache_key_hash(const struct dnscache *c, const struct dnscache_key *k);

/* Hash of a lowercase wire name, for dependencies and dnscache_invalidate. The same in
 * every cache and every thread (not seeded). */
uint64_t dnscache_name_hash(const uint8_t *lc_name);

/* Size class of a query: over TCP or UDP, with EDNS or not, and the UDP limit the
 * answer must fit (min of the client's payload and the server's). */
unsigned dnscache_size_class(bool tcp, bool has_edns, unsigned udp_limit);

/* Fill k from a parsed query (dnsw_parse_query returned 0). Returns false, with k
 * unset, for queries whose answers are never cached: opcode other than QUERY, TSIG,
 * EDNS version other than 0, AXFR/IXFR, class other than IN. udp_limit as for
 * dnscache_size_class (ignored over TCP). */
bool dnscache_key_from_query(struct dnscache_key *k, const struct dnsw_query *q, bool tcp,
			     unsigned udp_limit);

/* The entry for k (hash = dnscache_key_hash(c, k)) or NULL. Marks it read for CLOCK.
 * The caller must still check e->len against the query's own size limit. */
const struct dnscache_entry *dnscache_get(struct dnscache *c, const struct dnscache_key *k,
					  uint64_t hash);

/* Insert the answer wire[0..len) for k, replacing an entry with the same key, with the
 * dependency hashes deps[0..ndeps) (duplicates are merged). The answer must be a
 * whole message built for k: one question equal to k's (lowercase qname, qtype,
 * qclass), records inside len, no TSIG. It is copied (ID set to 0); the caller keeps
 * wire and deps. Evicts with CLOCK to make room.
 * Returns 0, AD_ETOOBIG (len > DNSCACHE_WIRE_MAX, ndeps > DNSCACHE_DEPS_MAX, or the
 * entry over an eighth of the cache) or AD_EPARSE (not such a message). On error an
 * entry for k that was there is still there. */
int dnscache_put(struct dnscache *c, const struct dnscache_key *k, uint64_t hash,
		 const uint8_t *wire, size_t len, const uint64_t *deps, unsigned ndeps);

/* Drop every entry that depends on name_hash (dnscache_name_hash of a name). Costs
 * the entries dropped plus one bucket walk. Returns how many were dropped. */
unsigned dnscache_invalidate(struct dnscache *c, uint64_t name_hash);

/* Drop every entry (a reload that changes how answers are built, e.g. NSID or
 * the EDNS size). Counters other than bytes and entries are kept. */
void dnscache_clear(struct dnscache *c);

const struct dnscache_stats *dnscache_stats(const struct dnscache *c);

/* The answer bytes of an entry (e->len of them). */
static inline const uint8_t *dnscache_entry_wire(const struct dnscache_entry *e)
{
	return (const uint8_t *)(e + 1);
}

/* Copy e's answer into buf[0..cap) as the answer to a query with this id and qname in
 * the client's case (the cached qname up to case). Returns e->len, or 0 when cap is
 * smaller. */
size_t dnscache_entry_copy(const struct dnscache_entry *e, uint8_t *buf, size_t cap,
			   uint16_t id, const uint8_t *qname);

#endif
