/*
 * Zone files: RFC 1035 master files read with ldns, checked, and applied to the zone
 * store as the difference from what it holds.
 *
 * Reading: ldns parses each record ($ORIGIN and $TTL as ldns handles them, relative
 * names against the origin, a missing TTL from $TTL or else 3600). ldns does not
 * implement $INCLUDE; this module does: "$INCLUDE file [origin]", the file relative
 * to the including file's directory, read with the given origin (else the current
 * one), nested at most ZONEFILE_INCLUDE_DEPTH deep; $ORIGIN and $TTL changed inside
 * it do not leak back (RFC 1035 §5.1).
 *
 * What is kept of a record: owner lowercased (wire), type, TTL, RDATA in wire form
 * with names uncompressed and as written (case kept, as Knot and NSD do).
 *
 * Errors (the load fails, nothing is applied; messages "FILE:LINE: text"):
 *   a syntax error ldns reports; a class other than IN; a meta type (OPT, ANY, ...);
 *   SOA elsewhere than at the apex, none at the apex, or more than one there;
 *   no NS at the apex; a CNAME beside other data (RRSIG and NSEC excepted) or
 *   more than one CNAME at a name; a cyclic or too deep $INCLUDE.
 * Warnings (the record or the difference is dropped, the load goes on):
 *   out-of-zone data (Knot and NSD ignore it with a warning: so do we); a TTL that
 *   differs within an RRset (the first record's TTL is used, as Knot does); an exact
 *   duplicate record.
 */
#ifndef AIRDRESS_DNS_ZONEFILE_H
#define AIRDRESS_DNS_ZONEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "dnswire.h"
#include "zonedb.h"

#define ZONEFILE_INCLUDE_DEPTH 8
#define ZONEFILE_DEFAULT_TTL 3600

/* One RRset of a loaded file: RDATAs sorted (zonedb order), duplicates dropped. */
struct zonefile_rrset {
	const uint8_t *owner;          /* lowercase wire name */
	uint16_t type;
	uint32_t ttl;
	uint16_t count;
	const uint8_t *const *rdata;   /* count RDATAs */
	const uint16_t *rdlen;
	const char *file;              /* where its first record is */
	unsigned line;
};

/* A loaded zone file. All storage owned by it (zonefile_free). */
struct zonefile {
	uint8_t apex[DNSW_NAME_MAX];
	struct zonefile_rrset *rrsets; /* sorted by owner (length, bytes), then type */
	size_t nrrsets;
	size_t nrecords;               /* records kept, after duplicates */
	char **warnings;               /* "FILE:LINE: text" */
	size_t nwarnings;
	struct zonefile_priv *priv;
};

/* Read and check the zone file at path for the zone apex (a wire name, the origin
 * of the file). Returns 0 and *out, AD_EPARSE (a bad file: err holds
 * "FILE:LINE: message" or "FILE: message"), -errno (a file could not be read: err
 * says which) or -ENOMEM. */
int zonefile_load(const char *path, const uint8_t *apex, struct zonefile **out, char *err,
		  size_t errlen);
void zonefile_free(struct zonefile *zf);

/* The RRset (owner, type) of zf, or NULL. */
const struct zonefile_rrset *zonefile_find(const struct zonefile *zf, const uint8_t *owner,
					   uint16_t type);

/* Load path for the zone apex and make the store hold exactly its data: a zone the
 * store does not hold is written whole (zonedb_add_zone()); otherwise, or when
 * another zone or stored data is in the way, one transaction adds the zone if it is
 * new, puts the RRsets that are new or differ and deletes those the file no longer
 * has. RRsets of the file that belong to
 * another served zone (a child zone below apex: zonedb_txn_find_owner) are left
 * alone. On any error nothing changes (a bad file never replaces a good zone). An
 * unchanged file writes nothing. Warnings are logged. On success *rrsets_changed
 * (may be NULL) is the number of RRsets put or deleted and changes (may be NULL) is
 * appended to as by zonedb_txn_commit(). Returns 0, the errors of zonefile_load(),
 * or the store's error (err says so). */
int zonefile_apply(struct zonedb *db, const uint8_t *apex, const char *path,
		   struct zonedb_changes *changes, size_t *rrsets_changed, char *err,
		   size_t errlen);

#endif
