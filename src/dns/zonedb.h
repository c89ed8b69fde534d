/*
 * Zone store: the authoritative data of airdress-dns in RocksDB (data_dir), laid out
 * so that every lookup the answer builder needs is one point read.
 *
 * Names are lowercase uncompressed wire names (dnswire.h). Keys order names in DNS
 * canonical order (labels from the root down), so a zone is one key range.
 *
 *   N <name-key>              node: the RR types present at the name (none for an
 *                             empty non-terminal), kept for every name of a zone and
 *                             every ancestor up to the apex
 *   R <name-key> <type:2>     RRset: TTL, then each RDATA (length-prefixed), names
 *                             inside RDATA uncompressed
 *   Z <apex-key>              a zone: its apex (the list of zones is loaded at open)
 *   C <name-key>              a claimed name (registry or admin API), value = apex
 *   S                         the registry feed sequence applied last
 *   Q <name-key>              view of a name: its node's type list, then each
 *                             RRset's R value, rewritten at every commit that
 *                             changes the name; absent when over 512 bytes (the
 *                             answer path then reads N and R)
 *
 * A name key is the name's labels from the root down, each label lowercased and
 * followed by 0x00; inside a label 0x00 is written 01 01 and 0x01 is written 01 02,
 * so the separator sorts below every label byte and bytewise key order is DNS
 * canonical order (RFC 4034 §6.1). A name's subtree is the key range starting with
 * its key. An R key ends the name with one more 0x00 before the type, so a name's
 * RRsets (by type) sort before its descendants. See docs/dns-store.md.
 *
 * Zones may nest (a.example and b.a.example both served): a name belongs to the
 * zone with the longest apex above it, except DS at a child apex, which belongs to
 * the parent (zonedb_find_owner). Empty non-terminals are kept up to the outermost
 * apex, so the names between a parent apex and a child apex exist.
 *
 * Writers (one control thread at a time) go through a transaction, one RocksDB
 * WriteBatch committed atomically; readers (every worker) read without locks.
 * A commit reports the names whose answers may have changed, so the server can
 * invalidate exactly those cache entries.
 */
#ifndef AIRDRESS_DNS_ZONEDB_H
#define AIRDRESS_DNS_ZONEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnswire.h"

#define ZONEDB_TYPES_MAX 64   /* RR types at one name */

struct zonedb;
struct zonedb_txn;

/* What is at one name. */
struct zonedb_node {
	uint16_t ntypes;
	uint16_t types[ZONEDB_TYPES_MAX]; /* ascending; empty for an empty non-terminal */
};

/* One RRset as read: rdata points into the caller's buffer. */
struct zonedb_rrset {
	uint16_t type;
	uint32_t ttl;
	uint16_t count;
	const uint8_t *rdata; /* count times: u16 length (network order), then the RDATA */
	size_t rdata_len;
};

/* An RRset to write: count RDATAs given as pointers and lengths. */
struct zonedb_rrset_in {
	uint16_t type;
	uint32_t ttl;
	uint16_t count;
	const uint8_t *const *rdata;
	const uint16_t *rdlen;
};

/* Names whose answers changed in a commit (for cache invalidation): the owner of
 * every RRset written or deleted, every node created or removed (empty
 * non-terminals included), every name claimed or unclaimed, and the apex of every
 * zone added or deleted. Lowercase wire names, each once. zonedb_txn_commit()
 * appends to it (so one struct may gather several commits); the caller owns it,
 * zero-initialised, and frees it with zonedb_changes_free(). */
struct zonedb_changes {
	uint8_t (*names)[DNSW_NAME_MAX];
	size_t count;
	size_t cap;
};

/* Open (creating if missing) the store in dir. Returns 0 and *out, or AD_ECONFIG
 * with RocksDB's message in err. */
int zonedb_open(const char *dir, struct zonedb **out, char *err, size_t errlen);
/* Write the memtable out to a sorted file and wait for it: after a large load, so
 * the zone does not stay resident as a memtable. Returns 0 or -EIO. */
int zonedb_flush(struct zonedb *db);
/* Close; NULL-safe. No reader may be running. */
void zonedb_close(struct zonedb *db);

/* ---- readers: any thread, no locks ---- */

/* The apex of the zone that holds name (the longest zone apex that is name or an
 * ancestor of it) into apex. Returns 0 or AD_ENOTFOUND (REFUSED territory). */
int zonedb_find_zone(struct zonedb *db, const uint8_t *name, uint8_t apex[DNSW_NAME_MAX]);
/* The zone whose data (name, type) is: zonedb_find_zone(), except that DS at a zone
 * apex belongs to the parent zone when one is served. Returns 0 or AD_ENOTFOUND. */
int zonedb_find_owner(struct zonedb *db, const uint8_t *name, uint16_t type,
		      uint8_t apex[DNSW_NAME_MAX]);
/* Whether apex is a zone. */
bool zonedb_has_zone(struct zonedb *db, const uint8_t *apex);
/* The apexes of all zones, up to max of them, into out (may be NULL with max 0).
 * Returns how many zones there are (may exceed max). */
size_t zonedb_list_zones(struct zonedb *db, uint8_t (*out)[DNSW_NAME_MAX], size_t max);
/* The node at name. Returns 0 (the name exists, maybe as an empty non-terminal),
 * AD_ENOTFOUND, or -EIO on a store error. */
int zonedb_get_node(struct zonedb *db, const uint8_t *name, struct zonedb_node *out);
/* The RRset (name, type), copied into buf (cap bytes). Returns 0, AD_ENOTFOUND,
 * AD_ENOSPACE when cap is too small, or -EIO. */
int zonedb_get_rrset(struct zonedb *db, const uint8_t *name, uint16_t type,
		     struct zonedb_rrset *out, uint8_t *buf, size_t cap);
/* The node at name and, in the same point read when the name's view has it, the
 * RRset (name, type): the read for the name a query asks for. Returns as
 * zonedb_get_node(); when it returns 0, rr holds the RRset if it was read (rdata
 * copied into buf, at most cap bytes), else rr->rdata is NULL and zonedb_get_rrset()
 * tells (the type may be absent, or the name too large for a view). */
int zonedb_get_name(struct zonedb *db, const uint8_t *name, uint16_t type,
		    struct zonedb_node *node, struct zonedb_rrset *rr, uint8_t *buf, size_t cap);
/* Every RRset of the zone at apex in canonical order (names, then types): the
 * zone's key range read from one consistent view, without the names that belong to
 * a child zone in the list (zonedb_find_owner). fn gets the owner (lowercase wire
 * name) and the RRset, both valid only during the call; a non-zero return from fn
 * stops the walk and is returned. Returns 0, fn's value, AD_ENOTFOUND (no such
 * zone) or -EIO. */
int zonedb_foreach_rrset(struct zonedb *db, const uint8_t *apex,
			 int (*fn)(const uint8_t *name, const struct zonedb_rrset *rrset,
				   void *arg),
			 void *arg);
/* Whether a stored RRset holds the same TTL and the same set of RDATAs as rr (as
 * zonedb_txn_put_rrset() would store it: order and duplicates of rr do not matter). */
bool zonedb_rrset_equal(const struct zonedb_rrset *stored, const struct zonedb_rrset_in *rr);
/* Is name claimed (C key)? */
bool zonedb_is_claimed(struct zonedb *db, const uint8_t *name);
/* The applied registry sequence (0 when none). */
uint64_t zonedb_seq(struct zonedb *db);

/* ---- writers: one thread at a time ---- */

/* A transaction sees its own pending writes (reads go through a RocksDB
 * WriteBatchWithIndex over the store). Returns NULL when out of memory. Names given
 * to writers may be in any case; they are stored lowercase. A store error inside an
 * operation (-EIO, -ENOMEM) poisons the transaction: commit then fails, nothing is
 * written. Errors from bad input (AD_EPARSE, AD_ENOTFOUND, ...) leave it usable. */
struct zonedb_txn *zonedb_txn_begin(struct zonedb *db);
/* Add a zone (its apex); a zone must exist before RRsets are put under it.
 * Returns 0, AD_EEXISTS, AD_EPARSE (bad name) or -EIO. */
int zonedb_txn_add_zone(struct zonedb_txn *t, const uint8_t *apex);
/* Remove a zone and everything that belongs to it (zonedb_find_owner): RRsets, the
 * nodes that become empty, the claims whose value is apex; a child zone's data
 * stays. Returns 0, AD_ENOTFOUND (no such zone), AD_EPARSE or -EIO. */
int zonedb_txn_delete_zone(struct zonedb_txn *t, const uint8_t *apex);
/* Put (replace) an RRset; its node and the empty non-terminals up to the outermost
 * apex follow. RDATAs are stored sorted (RFC 4034 §6.3 order, as given: no case
 * folding inside RDATA), duplicates dropped; putting what is already stored writes
 * and reports nothing. Returns 0, AD_ENOTFOUND when no zone holds name, AD_EPARSE
 * for bad input (bad name, count 0, type 0 or a meta type), AD_ETOOBIG (RDATAs
 * over 65535 bytes in all, or a node over ZONEDB_TYPES_MAX types) or -EIO. */
int zonedb_txn_put_rrset(struct zonedb_txn *t, const uint8_t *name,
			 const struct zonedb_rrset_in *rr);
/* Delete an RRset (nodes and empty non-terminals that become empty go too).
 * Returns 0, AD_ENOTFOUND (no such RRset), AD_EPARSE or -EIO. */
int zonedb_txn_delete_rrset(struct zonedb_txn *t, const uint8_t *name, uint16_t type);
/* Claim (C key, value = the zone's apex) or unclaim name. Claiming needs a zone
 * holding name (AD_ENOTFOUND otherwise); claiming twice or unclaiming what is not
 * claimed is 0 and reports nothing. Returns 0, AD_ENOTFOUND, AD_EPARSE or -EIO. */
int zonedb_txn_claim(struct zonedb_txn *t, const uint8_t *name, bool claimed);
void zonedb_txn_set_seq(struct zonedb_txn *t, uint64_t seq);
/* zonedb_foreach_rrset() over the committed data, but with the transaction's zone
 * list deciding what belongs to apex (so a zone added in t, not yet committed, can be
 * walked: it holds what is stored in its range). Pending writes are not seen. */
int zonedb_txn_foreach_rrset(struct zonedb_txn *t, const uint8_t *apex,
			     int (*fn)(const uint8_t *name, const struct zonedb_rrset *rrset,
				       void *arg),
			     void *arg);
/* zonedb_find_owner() over the transaction's zone list (zones added or deleted in
 * it count). Returns 0, AD_ENOTFOUND or AD_EPARSE. */
int zonedb_txn_find_owner(struct zonedb_txn *t, const uint8_t *name, uint16_t type,
			  uint8_t apex[DNSW_NAME_MAX]);
/* Commit atomically (synced); on success *changes (caller-owned, may be NULL) is
 * appended to. The zone list readers see is swapped after the write. The
 * transaction is freed either way. Returns 0, or -EIO / -ENOMEM (nothing written). */
int zonedb_txn_commit(struct zonedb_txn *t, struct zonedb_changes *changes);
/* Drop an uncommitted transaction. NULL-safe. */
void zonedb_txn_abort(struct zonedb_txn *t);

/* RRset i (0 <= i < n) of a zone given whole to zonedb_add_zone(): its owner, and
 * the RRset. Both stay valid for the whole call. */
typedef void (*zonedb_rrset_at)(const void *arg, size_t i, const uint8_t **owner,
				struct zonedb_rrset_in *rr);

/*
 * Add the zone at apex holding the n RRsets at(arg, i) when nothing else is in the
 * way: the zone is not served, no served zone is above or below it, and the store
 * holds nothing under its apex. The store then holds exactly what
 * zonedb_txn_add_zone() and zonedb_txn_put_rrset() of each RRset in one transaction
 * would write, and changes (may be NULL) is appended to the same way. Nothing is
 * read back: the keys are sorted in memory, written to a table file in the store's
 * directory and ingested atomically (synced), so a million-name zone takes seconds
 * where a transaction's indexed batch, the memtable and its flush take most of a
 * minute. RRsets must come grouped by owner (lowercase): all of one owner's next
 * to each other; owners in (wire length, bytes) order, as zonefile.h sorts them. A
 * later RRset of the same owner and type replaces an earlier one.
 * Returns 0, AD_EEXISTS (something is in the way: use a transaction), the
 * errors of zonedb_txn_put_rrset() for a bad RRset (nothing written), or -EIO.
 */
int zonedb_add_zone(struct zonedb *db, const uint8_t *apex, size_t n, zonedb_rrset_at at,
		    const void *arg, struct zonedb_changes *changes);

void zonedb_changes_free(struct zonedb_changes *c);

#endif
