/*
 * Response cache: see dnscache.h and docs/dns-cache.md.
 *
 * Layout: one allocation for the index tables and the ring, made by create.
 *
 *   kbuckets[]  key hash -> chain of entries (hlist through hnext/hpprev)
 *   dbuckets[]  seeded mix of a dependency hash -> chain of "representative" links,
 *               one per distinct dependency hash in the bucket; each representative
 *               heads a ring (next/prev) of every link with that hash. Invalidation
 *               finds the representative and drops the entries of its ring: one
 *               bucket walk plus the entries dropped.
 *   ring        records laid end to end, 16-byte aligned, each starting with a
 *               struct dnscache_entry whose state is one of
 *                 REC_LIVE  an entry in the index
 *                 REC_DEAD  dropped (replaced or invalidated); space reclaimed when
 *                           the hand reaches it
 *                 REC_PAD   the unusable end of the ring before a wrap
 *               New records go at head; the CLOCK hand is tail, the oldest record.
 *               Free space is [head, tail) when head <= tail (and the ring is not
 *               empty), else [head, end) and [0, tail).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "dnscache.h"
#include "error.h"

enum { REC_LIVE = 1, REC_DEAD = 2, REC_PAD = 3 };

#define REC_ALIGN 16
/* Read entries the hand moves to the front per insert at most; past that it evicts
 * whatever it meets, so one insert never copies the whole cache. */
#define CLOCK_MOVES_MAX 32
/* Index buckets: one of each kind per this many bytes of max_bytes (about 3% of it). */
#define BYTES_PER_BUCKET 512

struct dnscache {
	struct dnscache_entry **kbuckets;
	struct dnscache_dep **dbuckets;
	uint64_t mask;          /* buckets - 1, both tables */
	uint64_t seed0, seed1;  /* key hash */
	uint64_t dseed;         /* dependency bucket mix */
	uint8_t *ring;
	size_t cap, head, tail, used;  /* used: live, dead and pad bytes */
	void *region;
	size_t region_len;
	struct dnscache_stats st;
};

/* ---- hashing ---- */

#define HK0 0x9e3779b97f4a7c15ull
#define HK1 0xd6e8feb86659fd93ull
#define HK2 0xa0761d6478bd642full
#define NAME_S0 0x8ebc6af09c88c6e3ull /* dnscache_name_hash: fixed seeds */
#define NAME_S1 0x589965cc75374cc3ull

/* 64x64 -> 128 multiply folded to 64 bits: every input bit reaches the middle. */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Hash p[0..n) with meta. The last 16 bytes are read as two words that may overlap
 * what came before (n is mixed in, so that is no ambiguity): no byte loop, no read
 * outside p[0..n). */
static inline uint64_t hash_bytes(uint64_t s0, uint64_t s1, uint64_t meta, const uint8_t *p,
				  size_t n)
{
	uint64_t h = mum(meta ^ s0, (HK0 ^ s1) | 1) ^ n;
	uint64_t a, b;
	if (n > 16) {
		const uint8_t *end = p + n;
		do {
			h = mum(load64(p) ^ s0 ^ h, load64(p + 8) ^ s1);
			p += 16;
		} while (end - p > 16);
		a = load64(end - 16);
		b = load64(end - 8);
	} else if (n >= 8) {
		a = load64(p);
		b = load64(p + n - 8);
	} else if (n >= 4) {
		a = load32(p);
		b = load32(p + n - 4);
	} else {
		a = n > 0 ? (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 | p[n - 1] : 0;
		b = 0;
	}
	return mum(mum(a ^ s0 ^ h, b ^ s1), (HK1 ^ s0) | 1);
}

/* The key's fields before qname as one word: qtype, qclass, size_class, flags,
 * qname_len (7 bytes, see the static asserts). */
_Static_assert(offsetof(struct dnscache_key, qname_len) == 6 &&
		       offsetof(struct dnscache_key, qname) == 7,
	       "struct dnscache_key: the fields before qname are 7 packed bytes");

static inline uint64_t key_meta(const struct dnscache_key *k)
{
	uint64_t m = 0;
	memcpy(&m, k, 7);
	return m;
}

/* a[0..n) == b[0..n), word at a time with an overlapping last word. */
static inline bool name_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			if (load64(a + i) != load64(b + i))
				return false;
		}
		return load64(a + n - 8) == load64(b + n - 8);
	}
	if (n >= 4)
		return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return false;
	}
	return true;
}

uint64_t dnscache_key_hash(const struct dnscache *c, const struct dnscache_key *k)
{
	return hash_bytes(c->seed0, c->seed1, key_meta(k), k->qname, k->qname_len);
}

uint64_t dnscache_name_hash(const uint8_t *lc_name)
{
	size_t n = 0;
	while (lc_name[n] != 0 && n < DNSW_NAME_MAX)
		n += (size_t)lc_name[n] + 1;
	n++;
	if (n > DNSW_NAME_MAX)
		n = DNSW_NAME_MAX;
	return hash_bytes(NAME_S0, NAME_S1, 0, lc_name, n);
}

static inline size_t dep_bucket(const struct dnscache *c, uint64_t h)
{
	return (size_t)(mum(h ^ c->dseed, HK2) & c->mask);
}

/* ---- keys ---- */

unsigned dnscache_size_class(bool tcp, bool has_edns, unsigned udp_limit)
{
	if (tcp)
		return has_edns ? DNSCACHE_SC_TCP_EDNS : DNSCACHE_SC_TCP;
	if (!has_edns)
		return DNSCACHE_SC_PLAIN;
	return udp_limit <= DNSCACHE_EDNS_SMALL ? DNSCACHE_SC_EDNS_SMALL : DNSCACHE_SC_EDNS_LARGE;
}

bool dnscache_key_from_query(struct dnscache_key *k, const struct dnsw_query *q, bool tcp,
			     unsigned udp_limit)
{
	if (q->opcode != DNSW_OP_QUERY || q->has_tsig || q->qclass != DNSW_CLASS_IN ||
	    q->qtype == DNSW_T_AXFR || q->qtype == DNSW_T_IXFR ||
	    (q->has_edns && q->edns_version != 0) || q->qname_len == 0)
		return false;
	k->qtype = q->qtype;
	k->qclass = q->qclass;
	k->size_class = (uint8_t)dnscache_size_class(tcp, q->has_edns, udp_limit);
	k->flags = 0;
	if (q->has_edns && q->edns_do)
		k->flags |= DNSCACHE_KF_DO;
	if (q->has_edns && q->nsid)
		k->flags |= DNSCACHE_KF_NSID;
	if (q->flags & DNSW_FLAG_RD)
		k->flags |= DNSCACHE_KF_RD;
	if (q->flags & DNSW_FLAG_CD)
		k->flags |= DNSCACHE_KF_CD;
	k->qname_len = q->qname_len;
	memcpy(k->qname, q->qname_lc, q->qname_len);
	return true;
}

/* ---- create / destroy ---- */

struct dnscache *dnscache_create(size_t max_bytes)
{
	if (max_bytes < DNSCACHE_BYTES_MIN)
		return NULL;
	struct dnscache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	size_t nb = 64;
	while (nb * 2 <= max_bytes / BYTES_PER_BUCKET)
		nb *= 2;
	size_t tables = nb * (sizeof(*c->kbuckets) + sizeof(*c->dbuckets));
	size_t ring = (max_bytes - sizeof(*c) - tables) & ~(size_t)(REC_ALIGN - 1);
	c->region_len = tables + ring;
	c->region = mmap(NULL, c->region_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->region == MAP_FAILED) {
		free(c);
		return NULL;
	}
	/* Small pages on purpose. With MADV_HUGEPAGE the worker's first write to each
	 * 2 MiB of the ring faulted in a huge page (zeroed, and found by compacting
	 * memory when none is free: THP defrag "madvise", the kernel's default) and the
	 * worker stalled: queries were dropped at the socket and p99 went from
	 * 0.24-0.29 ms to 0.9-3.3 ms while the cache filled (bench/dns/run, 1M names).
	 * Hits gained nothing measurable. */
	c->kbuckets = c->region;
	c->dbuckets = (struct dnscache_dep **)(c->kbuckets + nb);
	c->ring = (uint8_t *)(c->dbuckets + nb);
	c->mask = nb - 1;
	c->cap = ring;
	c->st.capacity = ring;
	uint64_t s[3];
	if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
		/* No entropy yet (early boot): still distinct per cache and per run. */
		s[0] = (uint64_t)(uintptr_t)c ^ HK0;
		s[1] = (uint64_t)(uintptr_t)c->region ^ HK1;
		s[2] = s[0] * HK2;
	}
	c->seed0 = s[0];
	c->seed1 = s[1];
	c->dseed = s[2];
	return c;
}

void dnscache_destroy(struct dnscache *c)
{
	if (c == NULL)
		return;
	munmap(c->region, c->region_len);
	free(c);
}

const struct dnscache_stats *dnscache_stats(const struct dnscache *c)
{
	return &c->st;
}

/* ---- index ---- */

static inline struct dnscache_entry *dep_entry(struct dnscache_dep *d)
{
	return (struct dnscache_entry *)((uint8_t *)d - d->back);
}

static inline size_t deps_off(size_t len)
{
	return sizeof(struct dnscache_entry) + ((len + 7) & ~(size_t)7);
}

static inline struct dnscache_dep *entry_deps(struct dnscache_entry *e)
{
	return (struct dnscache_dep *)((uint8_t *)e + deps_off(e->len));
}

static void dep_link(struct dnscache *c, struct dnscache_dep *d)
{
	struct dnscache_dep **b = &c->dbuckets[dep_bucket(c, d->hash)];
	for (struct dnscache_dep *r = *b; r != NULL; r = r->bnext) {
		if (r->hash == d->hash) {
			d->bnext = NULL;
			d->bpprev = NULL;
			d->next = r->next;
			d->prev = r;
			r->next->prev = d;
			r->next = d;
			return;
		}
	}
	d->next = d->prev = d;
	d->bnext = *b;
	if (*b != NULL)
		(*b)->bpprev = &d->bnext;
	*b = d;
	d->bpprev = b;
}

static void dep_unlink(struct dnscache_dep *d)
{
	if (d->bpprev == NULL) {
		d->prev->next = d->next;
		d->next->prev = d->prev;
		return;
	}
	if (d->next == d) {
		*d->bpprev = d->bnext;
		if (d->bnext != NULL)
			d->bnext->bpprev = d->bpprev;
		return;
	}
	/* A representative with company: the next link of its ring takes its place. */
	struct dnscache_dep *n = d->next;
	d->prev->next = n;
	n->prev = d->prev;
	n->bnext = d->bnext;
	n->bpprev = d->bpprev;
	*n->bpprev = n;
	if (n->bnext != NULL)
		n->bnext->bpprev = &n->bnext;
}

static void entry_link(struct dnscache *c, struct dnscache_entry *e)
{
	struct dnscache_entry **b = &c->kbuckets[e->hash & c->mask];
	e->hnext = *b;
	if (*b != NULL)
		(*b)->hpprev = &e->hnext;
	*b = e;
	e->hpprev = b;
	struct dnscache_dep *d = entry_deps(e);
	for (unsigned i = 0; i < e->ndeps; i++)
		dep_link(c, &d[i]);
}

static void entry_unlink(struct dnscache_entry *e)
{
	*e->hpprev = e->hnext;
	if (e->hnext != NULL)
		e->hnext->hpprev = e->hpprev;
	struct dnscache_dep *d = entry_deps(e);
	for (unsigned i = 0; i < e->ndeps; i++)
		dep_unlink(&d[i]);
}

/* Take e out of the index; its ring space is reclaimed when the hand gets there. */
static void entry_drop(struct dnscache *c, struct dnscache_entry *e)
{
	entry_unlink(e);
	e->state = REC_DEAD;
	c->st.bytes -= e->rec_size;
	c->st.entries--;
}

static inline struct dnscache_entry *lookup(struct dnscache *c, const struct dnscache_key *k,
					    uint64_t hash, uint64_t meta)
{
	for (struct dnscache_entry *e = c->kbuckets[hash & c->mask]; e != NULL; e = e->hnext) {
		if (e->hash == hash && e->meta == meta &&
		    name_eq(dnscache_entry_wire(e) + DNSW_HDR_LEN, k->qname, k->qname_len))
			return e;
	}
	return NULL;
}

/* ---- ring ---- */

static inline struct dnscache_entry *rec_at(struct dnscache *c, size_t off)
{
	return (struct dnscache_entry *)(c->ring + off);
}

static inline size_t ring_next(const struct dnscache *c, size_t off)
{
	return off == c->cap ? 0 : off;
}

/* Reclaim or pass the record at the hand (tail). */
static void clock_step(struct dnscache *c, unsigned *moves)
{
	struct dnscache_entry *e = rec_at(c, c->tail);
	size_t sz = e->rec_size;

	if (e->state == REC_LIVE && e->ref && *moves < CLOCK_MOVES_MAX) {
		/* Second chance: clear the bit and move it to the front (head <= tail here,
		 * so [head, head + sz) is inside the ring). */
		(*moves)++;
		c->st.second_chances++;
		entry_unlink(e);
		struct dnscache_entry *to = rec_at(c, c->head);
		if (to != e)
			memmove(to, e, sz);
		to->ref = 0;
		entry_link(c, to);
		c->head = ring_next(c, c->head + sz);
		c->tail = ring_next(c, c->tail + sz);
		return;
	}
	if (e->state == REC_LIVE) {
		entry_drop(c, e);
		c->st.evictions++;
	}
	c->used -= sz;
	c->tail = ring_next(c, c->tail + sz);
}

/* Room for a record of n bytes (n <= cap / 8, a multiple of REC_ALIGN). */
static struct dnscache_entry *ring_alloc(struct dnscache *c, size_t n)
{
	unsigned moves = 0;
	for (;;) {
		if (c->used == 0)
			c->head = c->tail = 0;
		if (c->head > c->tail || c->used == 0) {
			if (c->cap - c->head >= n)
				break;
			struct dnscache_entry *pad = rec_at(c, c->head);
			pad->state = REC_PAD;
			pad->rec_size = (uint32_t)(c->cap - c->head);
			c->used += c->cap - c->head;
			c->head = 0;
			continue;
		}
		if (c->tail - c->head >= n)
			break;
		clock_step(c, &moves);
	}
	struct dnscache_entry *e = rec_at(c, c->head);
	c->head = ring_next(c, c->head + n);
	c->used += n;
	return e;
}

/* ---- get / put ---- */

const struct dnscache_entry *dnscache_get(struct dnscache *c, const struct dnscache_key *k,
					  uint64_t hash)
{
	struct dnscache_entry *e = lookup(c, k, hash, key_meta(k));
	if (e == NULL) {
		c->st.misses++;
		return NULL;
	}
	e->ref = 1;
	c->st.hits++;
	return e;
}

static inline unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Check that wire[0..len) is a response to k's question whose records all end inside
 * len, with no TSIG. *opt_off: the OPT's RDLENGTH offset if the OPT is the last record,
 * else 0. Returns 0 or AD_EPARSE. */
static int answer_check(const struct dnscache_key *k, const uint8_t *wire, size_t len,
			uint16_t *opt_off)
{
	size_t pos = DNSW_HDR_LEN + (size_t)k->qname_len;
	if (len < pos + 4 || !(wire[2] & 0x80) || get16(wire + 4) != 1 ||
	    memcmp(wire + DNSW_HDR_LEN, k->qname, k->qname_len) != 0 ||
	    get16(wire + pos) != k->qtype || get16(wire + pos + 2) != k->qclass)
		return AD_EPARSE;
	pos += 4;
	unsigned nrr = get16(wire + 6) + get16(wire + 8) + get16(wire + 10);
	*opt_off = 0;
	for (unsigned i = 0; i < nrr; i++) {
		for (;;) { /* owner: labels up to the root label or a pointer */
			if (pos >= len)
				return AD_EPARSE;
			uint8_t l = wire[pos];
			if (l == 0) {
				pos++;
				break;
			}
			if ((l & 0xc0) == 0xc0) {
				pos += 2;
				break;
			}
			if (l > DNSW_LABEL_MAX)
				return AD_EPARSE;
			pos += (size_t)l + 1;
		}
		if (pos + 10 > len)
			return AD_EPARSE;
		unsigned type = get16(wire + pos);
		if (type == DNSW_T_TSIG)
			return AD_EPARSE;
		*opt_off = type == DNSW_T_OPT && i == nrr - 1 ? (uint16_t)(pos + 8) : 0;
		pos += 10 + get16(wire + pos + 8);
	}
	return pos == len ? 0 : AD_EPARSE;
}

int dnscache_put(struct dnscache *c, const struct dnscache_key *k, uint64_t hash,
		 const uint8_t *wire, size_t len, const uint64_t *deps, unsigned ndeps)
{
	uint64_t u[DNSCACHE_DEPS_MAX];
	unsigned nu = 0;
	uint16_t opt_off;
	int ret = AD_ETOOBIG;

	if (len > DNSCACHE_WIRE_MAX || ndeps > DNSCACHE_DEPS_MAX)
		goto refuse;
	ret = answer_check(k, wire, len, &opt_off);
	if (ret != 0)
		goto refuse;
	for (unsigned i = 0; i < ndeps; i++) {
		unsigned j = 0;
		while (j < nu && u[j] != deps[i])
			j++;
		if (j == nu)
			u[nu++] = deps[i];
	}
	size_t size = deps_off(len) + nu * sizeof(struct dnscache_dep);
	size = (size + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
	ret = AD_ETOOBIG;
	if (size > c->cap / 8)
		goto refuse;

	uint64_t meta = key_meta(k);
	struct dnscache_entry *old = lookup(c, k, hash, meta);
	if (old != NULL) {
		entry_drop(c, old);
		c->st.replaced++;
	}
	struct dnscache_entry *e = ring_alloc(c, size);
	e->len = (uint16_t)len;
	e->opt_off = opt_off;
	e->rcode = wire[3] & 0x0f;
	e->tc = (wire[2] & 0x02) != 0;
	e->state = REC_LIVE;
	e->ref = 0;
	e->ndeps = (uint8_t)nu;
	e->qname_len = k->qname_len;
	e->rec_size = (uint32_t)size;
	e->hash = hash;
	e->meta = meta;
	struct dnscache_dep *d = entry_deps(e);
	for (unsigned i = 0; i < nu; i++) {
		d[i].hash = u[i];
		d[i].back = (uint32_t)((uint8_t *)&d[i] - (uint8_t *)e);
	}
	uint8_t *w = (uint8_t *)dnscache_entry_wire(e);
	memcpy(w, wire, len);
	w[0] = w[1] = 0;
	entry_link(c, e);
	c->st.inserts++;
	c->st.entries++;
	c->st.bytes += size;
	return 0;
refuse:
	c->st.refused++;
	return ret;
}

/* ---- invalidation ---- */

unsigned dnscache_invalidate(struct dnscache *c, uint64_t name_hash)
{
	struct dnscache_dep *r = c->dbuckets[dep_bucket(c, name_hash)];
	while (r != NULL && r->hash != name_hash)
		r = r->bnext;
	if (r == NULL)
		return 0;
	unsigned n = 0;
	/* Dropping an entry unlinks exactly one link of this ring (deps are distinct per
	 * entry); take the others first so the representative stays put. */
	while (r->next != r) {
		entry_drop(c, dep_entry(r->next));
		n++;
	}
	entry_drop(c, dep_entry(r));
	n++;
	c->st.invalidated += n;
	return n;
}

void dnscache_clear(struct dnscache *c)
{
	memset(c->kbuckets, 0, (c->mask + 1) * sizeof(*c->kbuckets));
	memset(c->dbuckets, 0, (c->mask + 1) * sizeof(*c->dbuckets));
	c->head = c->tail = c->used = 0;
	c->st.bytes = 0;
	c->st.entries = 0;
}

size_t dnscache_entry_copy(const struct dnscache_entry *e, uint8_t *buf, size_t cap,
			   uint16_t id, const uint8_t *qname)
{
	if (cap < e->len)
		return 0;
	memcpy(buf, dnscache_entry_wire(e), e->len);
	dnsw_patch_cached(buf, e->len, id, qname, e->qname_len);
	return e->len;
}
