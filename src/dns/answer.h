/*
 * Answer: builds the response to one parsed query from the zone store, the way an
 * authoritative server does (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 6891, RFC 8482):
 *
 *   not QUERY opcode                   NOTIMP
 *   EDNS version > 0                   BADVERS
 *   class other than IN                REFUSED
 *   AXFR/IXFR over UDP                 NOTIMP
 *   AXFR/IXFR over TCP here            REFUSED (allowed transfers are served elsewhere)
 *   no zone holds the name             REFUSED
 *   name at or below a delegation      referral: NS in authority, glue in additional,
 *                                      AA clear (DS at the delegation point is
 *                                      answered from the parent side)
 *   name exists                        the RRset, or CNAME chain inside the zone, or
 *                                      NODATA with the SOA (negative TTL)
 *   a wildcard covers it               the wildcard's data with the query's name
 *   otherwise                          NXDOMAIN with the SOA
 *   ANY                                one RRset of the name (RFC 8482 §4.1)
 *
 * Minimal responses: nothing in additional but referral glue and the OPT record.
 * An answer that does not fit the UDP size is sent empty with TC set.
 */
#ifndef AIRDRESS_DNS_ANSWER_H
#define AIRDRESS_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnswire.h"
#include "zonedb.h"

#define ANSWER_DEPS_MAX 8
#define ANSWER_SCRATCH (64 * 1024)

struct answer_settings {
	uint16_t udp_payload;       /* our EDNS payload size */
	const uint8_t *nsid;        /* NULL: no NSID */
	uint8_t nsid_len;
};

/* What the builder says about the answer it wrote. */
struct answer_info {
	uint8_t rcode;
	bool cacheable;             /* depends only on the cache key and the zone data */
	bool truncated;
	unsigned ndeps;             /* names the answer depends on, for invalidation */
	uint8_t deps[ANSWER_DEPS_MAX][DNSW_NAME_MAX];
};

/* Build the answer to q into out[0..cap) and return its length (0: send nothing).
 * tcp: the query came over TCP; limit: the largest answer the client takes (512, its
 * EDNS payload, 65535 over TCP); what does not fit is sent empty with TC.
 * cookie/cookie_len: the COOKIE
 * option to send back (client + server cookie), or NULL. scratch is ANSWER_SCRATCH
 * bytes of per-worker memory for RRsets read from the store. */
size_t answer_build(struct zonedb *db, const struct answer_settings *s,
		    const struct dnsw_query *q, bool tcp, size_t limit, const uint8_t *cookie,
		    uint8_t cookie_len, uint8_t *scratch, uint8_t *out, size_t cap,
		    struct answer_info *info);

/* AXFR (RFC 5936) of the zone q names: the SOA, every other RRset in canonical
 * order, the SOA again, in as many messages as needed, each at most msg_cap bytes
 * (<= 65535) built in buf and handed to emit(ctx, msg, len), which returns 0 to go on.
 * The first message carries the question. Returns 0, AD_ENOTFOUND (we are not
 * authoritative for the zone: answer NOTAUTH), emit's error, or -EIO. */
int answer_axfr(struct zonedb *db, const struct dnsw_query *q, uint8_t *buf, size_t msg_cap,
		uint8_t *scratch, int (*emit)(void *ctx, const uint8_t *msg, size_t len),
		void *ctx);

/* The FORMERR answer to a query whose header could be read (q->id, flags valid):
 * header only, no question. Returns its length (12) or 0 when cap is too small. */
size_t answer_formerr(const struct dnsw_query *q, uint8_t *out, size_t cap);

#endif
