/*
 * Zone store over RocksDB (see zonedb.h for the key layout, docs/dns-store.md for
 * the reasons).
 *
 * Readers: one point read per call with a shared rocksdb_readoptions_t, the value
 * pinned in the block cache and copied once into the caller's buffer. The zone list
 * is an immutable sorted array behind an atomic pointer; a commit that changes it
 * publishes a new array and keeps the old one on a list freed at close (arrays are
 * tiny and zone changes rare, so that is the whole grace period).
 *
 * Writers: a transaction is a WriteBatchWithIndex. Its reads (node type lists,
 * "does this name have descendants") go through the batch and the store, so every
 * step sees the steps before it; the batch is written with sync at commit. A new
 * zone with nothing in its way (zonedb_add_zone) needs no reads: its keys are
 * sorted in memory, written to a table file and ingested whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "log.h"
#include "zonedb.h"

#define KEY_MAX (1 + 2 * DNSW_NAME_MAX + 1 + 2)
#define RRSET_HDR 6          /* value: ttl u32, count u16, then the RDATAs */
#define RDATA_MAX 65535      /* all RDATAs of an RRset with their length fields */
#define CACHE_BYTES (256u << 20)
#define VIEW_MAX 512         /* largest name view (Q key): type list and RRsets */

enum { K_NODE = 'N', K_RRSET = 'R', K_ZONE = 'Z', K_CLAIM = 'C', K_SEQ = 'S', K_VIEW = 'Q' };

struct zone_apex {
	uint8_t len;
	uint8_t name[DNSW_NAME_MAX];
};

/* Sorted by length, longest first: the first match is the innermost zone. */
struct zone_list {
	struct zone_list *retired; /* older lists, freed at close */
	size_t n;
	struct zone_apex z[];
};

struct zonedb {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *topts;
	rocksdb_cache_t *cache;
	rocksdb_filterpolicy_t *filter;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts;
	_Atomic(struct zone_list *) zones;
	struct zone_list *retired;
	_Atomic uint64_t seq;
	char *dir;               /* the store's directory, for zonedb_add_zone's file */
};

struct zonedb_txn {
	struct zonedb *db;
	rocksdb_writebatch_wi_t *wb;
	struct zone_list *zones; /* the transaction's view; owned when zones_own */
	bool zones_own;
	int failed;              /* sticky store error */
	bool seq_set;
	uint64_t seq;
	uint8_t (*names)[DNSW_NAME_MAX];
	size_t nnames, cap;
};

/* ---- names and keys ---- */

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* The key bytes of a valid wire name (see zonedb.h), lowercased. Returns the length
 * (0 for the root); at most 2 * DNSW_NAME_MAX bytes. */
static size_t name_key(const uint8_t *name, uint8_t *out)
{
	const uint8_t *lab[DNSW_NAME_MAX / 2 + 1];
	unsigned n = 0;
	size_t k = 0;

	for (const uint8_t *p = name; *p && n < DNSW_NAME_MAX / 2 + 1; p += *p + 1)
		lab[n++] = p;
	while (n--) {
		const uint8_t *l = lab[n];
		for (unsigned i = 1; i <= l[0]; i++) {
			uint8_t c = l[i];
			if (c <= 1) {
				out[k++] = 1;
				out[k++] = (uint8_t)(c + 1);
			} else {
				out[k++] = lower(c);
			}
		}
		out[k++] = 0;
	}
	return k;
}

/* The wire name of key bytes k[0..len): labels separated by 0x00, ended by len or by
 * an empty label (the extra 0x00 of an R key). Returns the bytes of k used (the
 * empty label's 0x00 included), or -1 for a malformed key. */
static int key_name(const uint8_t *k, size_t len, uint8_t *name, size_t *name_len)
{
	size_t start[DNSW_NAME_MAX / 2 + 1], end[DNSW_NAME_MAX / 2 + 1];
	unsigned n = 0;
	size_t i = 0, wire = 1;

	while (i < len) {
		if (k[i] == 0) { /* empty label: end of the name */
			i++;
			break;
		}
		if (n == DNSW_NAME_MAX / 2 + 1)
			return -1;
		start[n] = i;
		size_t ll = 0;
		while (i < len && k[i] != 0) {
			if (k[i] == 1) {
				if (i + 1 >= len || k[i + 1] < 1 || k[i + 1] > 2)
					return -1;
				i++;
			}
			i++;
			ll++;
		}
		if (i == len || ll > DNSW_LABEL_MAX)
			return -1;
		end[n++] = i++;
		wire += ll + 1;
		if (wire > DNSW_NAME_MAX)
			return -1;
	}
	size_t w = 0;
	while (n--) {
		size_t lenpos = w++;
		for (size_t j = start[n]; j < end[n]; j++)
			name[w++] = k[j] == 1 ? (uint8_t)(k[++j] - 1) : k[j];
		name[lenpos] = (uint8_t)(w - lenpos - 1);
	}
	name[w++] = 0;
	*name_len = w;
	return (int)i;
}

static size_t node_key(const uint8_t *name, uint8_t *key)
{
	key[0] = K_NODE;
	return 1 + name_key(name, key + 1);
}

static size_t rrset_key(const uint8_t *name, uint16_t type, uint8_t *key)
{
	size_t k = 1 + name_key(name, key + 1);
	key[0] = K_RRSET;
	key[k++] = 0;
	key[k++] = (uint8_t)(type >> 8);
	key[k++] = (uint8_t)type;
	return k;
}

static size_t view_key(const uint8_t *name, uint8_t *key)
{
	key[0] = K_VIEW;
	return 1 + name_key(name, key + 1);
}

static size_t claim_key(const uint8_t *name, uint8_t *key)
{
	key[0] = K_CLAIM;
	return 1 + name_key(name, key + 1);
}

static size_t zone_key(const uint8_t *apex, uint8_t *key)
{
	key[0] = K_ZONE;
	return 1 + name_key(apex, key + 1);
}

/* Lowercase copy of a name given to a writer; its length or AD_EPARSE. */
static int name_input(const uint8_t *name, uint8_t *lc)
{
	if (!name)
		return AD_EPARSE;
	int len = dnsw_name_check(name, DNSW_NAME_MAX);
	if (len < 0)
		return AD_EPARSE;
	dnsw_name_lower(lc, name, (size_t)len);
	return len;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the zone list ---- */

static int apex_cmp(const void *a, const void *b)
{
	const struct zone_apex *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

/* The innermost and (outer != NULL) outermost apex of l at or above the lowercase
 * wire name[0..len); NULL when none. */
static const struct zone_apex *zl_match(const struct zone_list *l, const uint8_t *name,
					size_t len, const struct zone_apex **outer)
{
	uint64_t starts[4] = { 0 };
	const struct zone_apex *inner = NULL;

	for (size_t o = 0; o < len; o += name[o] + 1u) {
		starts[o >> 6] |= 1ull << (o & 63);
		if (!name[o])
			break;
	}
	if (outer)
		*outer = NULL;
	for (size_t i = 0; l && i < l->n; i++) {
		const struct zone_apex *z = &l->z[i];
		if (z->len > len)
			continue;
		size_t o = len - z->len;
		if (!(starts[o >> 6] >> (o & 63) & 1) || memcmp(name + o, z->name, z->len))
			continue;
		if (!inner)
			inner = z;
		if (!outer)
			break;
		*outer = z;
	}
	return inner;
}

static const struct zone_apex *zl_find(const struct zone_list *l, const uint8_t *apex,
				       size_t len)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (l->z[i].len == len && !memcmp(l->z[i].name, apex, len))
			return &l->z[i];
	return NULL;
}

static struct zone_list *zl_copy(const struct zone_list *l, size_t extra)
{
	size_t n = l ? l->n : 0;
	struct zone_list *c = malloc(sizeof(*c) + (n + extra) * sizeof(c->z[0]));
	if (!c)
		return NULL;
	c->retired = NULL;
	c->n = n;
	if (n)
		memcpy(c->z, l->z, n * sizeof(c->z[0]));
	return c;
}

/* Add the lowercase apex to l, which has room for it (zl_copy's extra), in order. */
static void zl_insert(struct zone_list *l, const uint8_t *lc, size_t len)
{
	struct zone_apex *z = &l->z[l->n++];
	z->len = (uint8_t)len;
	memcpy(z->name, lc, len);
	qsort(l->z, l->n, sizeof(l->z[0]), apex_cmp);
}

/* The zone owning (lc, type) in l: the innermost apex, or for DS at an apex the zone
 * above it when there is one. */
static const struct zone_apex *zl_owner(const struct zone_list *l, const uint8_t *lc,
					size_t len, uint16_t type)
{
	const struct zone_apex *z = zl_match(l, lc, len, NULL);
	if (z && type == DNSW_T_DS && z->len == len && len > 1) {
		const struct zone_apex *up = zl_match(l, lc + lc[0] + 1, len - lc[0] - 1u, NULL);
		if (up)
			z = up;
	}
	return z;
}

/* ---- open / close ---- */

static int load_meta(struct zonedb *db, char *err, size_t errlen)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, db->ropts);
	struct zone_list *l = NULL;
	size_t cap = 0;
	char *e = NULL;
	int ret = AD_ECONFIG;

	uint8_t zk = K_ZONE;
	for (rocksdb_iter_seek(it, (const char *)&zk, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		if (kl < 1 || k[0] != K_ZONE)
			break;
		if (dnsw_name_check(v, vl) != (int)vl) {
			snprintf(err, errlen, "zone store: bad zone entry");
			goto finish;
		}
		if (!l || l->n == cap) {
			cap = cap ? cap * 2 : 8;
			struct zone_list *g = realloc(l, sizeof(*l) + cap * sizeof(l->z[0]));
			if (!g) {
				ret = -ENOMEM;
				goto finish;
			}
			if (!l)
				g->n = 0;
			l = g;
		}
		l->z[l->n].len = (uint8_t)vl;
		memcpy(l->z[l->n].name, v, vl);
		l->n++;
	}
	rocksdb_iter_get_error(it, &e);
	if (e) {
		snprintf(err, errlen, "zone store: %s", e);
		goto finish;
	}
	if (!l && !(l = zl_copy(NULL, 0))) {
		ret = -ENOMEM;
		goto finish;
	}
	l->retired = NULL;
	qsort(l->z, l->n, sizeof(l->z[0]), apex_cmp);
	atomic_store(&db->zones, l);
	l = NULL;

	size_t vl = 0;
	uint8_t sk = K_SEQ;
	char *v = rocksdb_get(db->db, db->ropts, (const char *)&sk, 1, &vl, &e);
	if (e) {
		snprintf(err, errlen, "zone store: %s", e);
		goto finish;
	}
	uint64_t seq = 0;
	for (size_t i = 0; v && i < vl && i < 8; i++)
		seq = seq << 8 | (uint8_t)v[i];
	rocksdb_free(v);
	atomic_store(&db->seq, seq);
	ret = 0;
finish:
	free(e);
	free(l);
	rocksdb_iter_destroy(it);
	return ret;
}

int zonedb_open(const char *dir, struct zonedb **out, char *err, size_t errlen)
{
	struct zonedb *db = calloc(1, sizeof(*db));
	char *e = NULL;
	int ret = -ENOMEM;

	if (!db)
		goto finish;
	db->opts = rocksdb_options_create();
	db->topts = rocksdb_block_based_options_create();
	db->cache = rocksdb_cache_create_lru(CACHE_BYTES);
	/* Whole-key bloom: every read is a point read of an exact key, and most
	 * cache misses for names that do not exist (NXDOMAIN, wildcard probes) are
	 * answered by the filter without touching a data block. */
	db->filter = rocksdb_filterpolicy_create_bloom_full(10);
	db->ropts = rocksdb_readoptions_create();
	db->wopts = rocksdb_writeoptions_create();
	if (!db->opts || !db->topts || !db->cache || !db->filter || !db->ropts || !db->wopts)
		goto finish;
	rocksdb_block_based_options_set_block_cache(db->topts, db->cache);
	rocksdb_block_based_options_set_filter_policy(db->topts, db->filter);
	rocksdb_block_based_options_set_whole_key_filtering(db->topts, 1);
	rocksdb_block_based_options_set_data_block_index_type(
		db->topts, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
	rocksdb_block_based_options_set_data_block_hash_ratio(db->topts, 0.75);
	/* Each table's index and filter stay in memory with the open table, outside the
	 * block cache: a read then makes one cache lookup (the data block), not three,
	 * and a filter larger than a cache shard (a big zone in one table) is never
	 * evicted and read from the file again on every lookup. */
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(db->topts, 0);
	rocksdb_options_set_block_based_table_factory(db->opts, db->topts);
	rocksdb_options_set_memtable_whole_key_filtering(db->opts, 1);
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(db->opts, 0.02);
	rocksdb_options_set_create_if_missing(db->opts, 1);
	rocksdb_options_set_keep_log_file_num(db->opts, 4);
	rocksdb_writeoptions_set_sync(db->wopts, 1);
	if (!(db->dir = strdup(dir)))
		goto finish;
	db->db = rocksdb_open(db->opts, dir, &e);
	if (e) {
		snprintf(err, errlen, "zone store %s: %s", dir, e);
		ret = AD_ECONFIG;
		goto finish;
	}
	ret = load_meta(db, err, errlen);
finish:
	free(e);
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "zone store %s: out of memory", dir);
		zonedb_close(db);
		db = NULL;
	}
	*out = db;
	return ret;
}

int zonedb_flush(struct zonedb *db)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	if (fo == NULL)
		return -ENOMEM;
	rocksdb_flushoptions_set_wait(fo, 1);
	char *err = NULL;
	rocksdb_flush(db->db, fo, &err);
	rocksdb_flushoptions_destroy(fo);
	if (err != NULL) {
		log_warn("zone store flush failed", "error=\"%s\"", err);
		rocksdb_free(err);
		return -EIO;
	}
	return 0;
}

void zonedb_close(struct zonedb *db)
{
	if (!db)
		return;
	if (db->db)
		rocksdb_close(db->db);
	free(atomic_load(&db->zones));
	for (struct zone_list *l = db->retired, *next; l; l = next) {
		next = l->retired;
		free(l);
	}
	if (db->ropts)
		rocksdb_readoptions_destroy(db->ropts);
	if (db->wopts)
		rocksdb_writeoptions_destroy(db->wopts);
	if (db->opts)
		rocksdb_options_destroy(db->opts);
	if (db->topts) /* owns the filter policy once set */
		rocksdb_block_based_options_destroy(db->topts);
	else if (db->filter)
		rocksdb_filterpolicy_destroy(db->filter);
	if (db->cache)
		rocksdb_cache_destroy(db->cache);
	free(db->dir);
	free(db);
}

/* ---- readers ---- */

int zonedb_find_zone(struct zonedb *db, const uint8_t *name, uint8_t apex[DNSW_NAME_MAX])
{
	uint8_t lc[DNSW_NAME_MAX];
	size_t len = dnsw_name_len(name);

	dnsw_name_lower(lc, name, len);
	const struct zone_apex *z =
		zl_match(atomic_load_explicit(&db->zones, memory_order_acquire), lc, len, NULL);
	if (!z)
		return AD_ENOTFOUND;
	memcpy(apex, z->name, z->len);
	return 0;
}

int zonedb_find_owner(struct zonedb *db, const uint8_t *name, uint16_t type,
		      uint8_t apex[DNSW_NAME_MAX])
{
	uint8_t lc[DNSW_NAME_MAX];
	size_t len = dnsw_name_len(name);

	dnsw_name_lower(lc, name, len);
	const struct zone_apex *z =
		zl_owner(atomic_load_explicit(&db->zones, memory_order_acquire), lc, len, type);
	if (!z)
		return AD_ENOTFOUND;
	memcpy(apex, z->name, z->len);
	return 0;
}

bool zonedb_has_zone(struct zonedb *db, const uint8_t *apex)
{
	uint8_t lc[DNSW_NAME_MAX];
	size_t len = dnsw_name_len(apex);

	dnsw_name_lower(lc, apex, len);
	return zl_find(atomic_load_explicit(&db->zones, memory_order_acquire), lc, len) != NULL;
}

size_t zonedb_list_zones(struct zonedb *db, uint8_t (*out)[DNSW_NAME_MAX], size_t max)
{
	const struct zone_list *l = atomic_load_explicit(&db->zones, memory_order_acquire);
	for (size_t i = 0; i < l->n && i < max; i++)
		memcpy(out[i], l->z[i].name, l->z[i].len);
	return l->n;
}

/* Point read of key into a pinned slice; *ps NULL when absent. 0 or -EIO. */
static int get_pinned(struct zonedb *db, const uint8_t *key, size_t klen,
		      rocksdb_pinnableslice_t **ps)
{
	char *e = NULL;
	*ps = rocksdb_get_pinned(db->db, db->ropts, (const char *)key, klen, &e);
	if (e) {
		free(e);
		rocksdb_pinnableslice_destroy(*ps);
		*ps = NULL;
		return -EIO;
	}
	return 0;
}

static int node_parse(const uint8_t *v, size_t vl, struct zonedb_node *out)
{
	if (vl % 2 || vl / 2 > ZONEDB_TYPES_MAX)
		return -EIO;
	out->ntypes = (uint16_t)(vl / 2);
	for (size_t i = 0; i < out->ntypes; i++)
		out->types[i] = get16(v + 2 * i);
	return 0;
}

int zonedb_get_node(struct zonedb *db, const uint8_t *name, struct zonedb_node *out)
{
	uint8_t key[KEY_MAX];
	rocksdb_pinnableslice_t *ps;
	size_t vl;

	int ret = get_pinned(db, key, node_key(name, key), &ps);
	if (ret)
		return ret;
	if (!ps)
		return AD_ENOTFOUND;
	const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(ps, &vl);
	ret = node_parse(v, vl, out);
	rocksdb_pinnableslice_destroy(ps);
	return ret;
}

/* An RRset value into out (rdata copied into buf). */
static int rrset_parse(const uint8_t *v, size_t vl, uint16_t type, struct zonedb_rrset *out,
		       uint8_t *buf, size_t cap)
{
	if (vl < RRSET_HDR)
		return -EIO;
	if (vl - RRSET_HDR > cap)
		return AD_ENOSPACE;
	out->type = type;
	out->ttl = get32(v);
	out->count = get16(v + 4);
	out->rdata_len = vl - RRSET_HDR;
	memcpy(buf, v + RRSET_HDR, out->rdata_len);
	out->rdata = buf;
	return 0;
}

/* A view value: the node, and the RRset of type when it is there and fits cap. */
static int view_parse(const uint8_t *v, size_t vl, uint16_t type, struct zonedb_node *node,
		      struct zonedb_rrset *rr, uint8_t *buf, size_t cap)
{
	if (vl < 2)
		return -EIO;
	size_t nt = get16(v), off = 2 + 2 * nt;
	if (nt > ZONEDB_TYPES_MAX || off > vl || node_parse(v + 2, 2 * nt, node) != 0)
		return -EIO;
	for (size_t i = 0; i < nt; i++) {
		if (off + 2 > vl || off + 2 + get16(v + off) > vl)
			return -EIO;
		size_t rl = get16(v + off);
		off += 2;
		if (node->types[i] == type && rrset_parse(v + off, rl, type, rr, buf, cap) != 0)
			rr->rdata = NULL; /* left to zonedb_get_rrset to report */
		off += rl;
	}
	return off == vl ? 0 : -EIO;
}

int zonedb_get_name(struct zonedb *db, const uint8_t *name, uint16_t type,
		    struct zonedb_node *node, struct zonedb_rrset *rr, uint8_t *buf, size_t cap)
{
	uint8_t key[KEY_MAX];
	rocksdb_pinnableslice_t *ps;
	size_t vl;

	rr->rdata = NULL;
	int ret = get_pinned(db, key, view_key(name, key), &ps);
	if (ret)
		return ret;
	if (ps) {
		const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(ps, &vl);
		ret = view_parse(v, vl, type, node, rr, buf, cap);
		rocksdb_pinnableslice_destroy(ps);
		if (ret == 0)
			return 0;
		rr->rdata = NULL;
	}
	/* No view (a missing or large name, data written before views) or a bad one. */
	return zonedb_get_node(db, name, node);
}

int zonedb_get_rrset(struct zonedb *db, const uint8_t *name, uint16_t type,
		     struct zonedb_rrset *out, uint8_t *buf, size_t cap)
{
	uint8_t key[KEY_MAX];
	rocksdb_pinnableslice_t *ps;
	size_t vl;

	int ret = get_pinned(db, key, rrset_key(name, type, key), &ps);
	if (ret)
		return ret;
	if (!ps)
		return AD_ENOTFOUND;
	const uint8_t *v = (const uint8_t *)rocksdb_pinnableslice_value(ps, &vl);
	ret = rrset_parse(v, vl, type, out, buf, cap);
	rocksdb_pinnableslice_destroy(ps);
	return ret;
}

bool zonedb_is_claimed(struct zonedb *db, const uint8_t *name)
{
	uint8_t key[KEY_MAX];
	rocksdb_pinnableslice_t *ps;

	if (get_pinned(db, key, claim_key(name, key), &ps) || !ps)
		return false;
	rocksdb_pinnableslice_destroy(ps);
	return true;
}

uint64_t zonedb_seq(struct zonedb *db)
{
	return atomic_load_explicit(&db->seq, memory_order_acquire);
}

typedef int (*rrset_fn)(const uint8_t *name, const struct zonedb_rrset *rrset, void *arg);

/* The stored RRsets of the zone apex as the zone list l assigns them. */
static int foreach_rrset(struct zonedb *db, const struct zone_list *l, const uint8_t *apex,
			 rrset_fn fn, void *arg)
{
	uint8_t lc[DNSW_NAME_MAX], prefix[KEY_MAX], name[DNSW_NAME_MAX];
	size_t alen = dnsw_name_len(apex);
	char *e = NULL;
	int ret = 0;

	dnsw_name_lower(lc, apex, alen);
	const struct zone_apex *zone = zl_find(l, lc, alen);
	if (!zone)
		return AD_ENOTFOUND;
	prefix[0] = K_RRSET;
	size_t plen = 1 + name_key(lc, prefix + 1);

	/* An iterator reads from one implicit snapshot: the walk is consistent. */
	rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, db->ropts);
	rocksdb_iter_seek(it, (const char *)prefix, plen);
	while (rocksdb_iter_valid(it)) {
		size_t kl, vl, nlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		if (kl < plen || memcmp(k, prefix, plen))
			break;
		int used = key_name(k + 1, kl - 1, name, &nlen);
		if (used < 0 || (size_t)used + 1 + 2 != kl) {
			ret = -EIO;
			break;
		}
		uint16_t type = get16(k + kl - 2);
		const struct zone_apex *own = zl_owner(l, name, nlen, type);
		if (own != zone) {
			const struct zone_apex *child = zl_match(l, name, nlen, NULL);
			if (child != zone && child->len < nlen) {
				/* below a child apex: skip the child's whole subtree */
				uint8_t skip[KEY_MAX];
				skip[0] = K_RRSET;
				size_t sl = 1 + name_key(child->name, skip + 1);
				skip[sl - 1] = 1; /* just past every key under the child */
				rocksdb_iter_seek(it, (const char *)skip, sl);
			} else {
				rocksdb_iter_next(it);
			}
			continue;
		}
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		if (vl < RRSET_HDR) {
			ret = -EIO;
			break;
		}
		struct zonedb_rrset rr = {
			.type = type, .ttl = get32(v), .count = get16(v + 4),
			.rdata = v + RRSET_HDR, .rdata_len = vl - RRSET_HDR,
		};
		ret = fn(name, &rr, arg);
		if (ret)
			break;
		rocksdb_iter_next(it);
	}
	if (!ret) {
		rocksdb_iter_get_error(it, &e);
		if (e)
			ret = -EIO;
	}
	free(e);
	rocksdb_iter_destroy(it);
	return ret;
}

int zonedb_foreach_rrset(struct zonedb *db, const uint8_t *apex, rrset_fn fn, void *arg)
{
	return foreach_rrset(db, atomic_load_explicit(&db->zones, memory_order_acquire), apex,
			     fn, arg);
}

/* ---- RRset values ---- */

struct rdref {
	const uint8_t *p;
	uint16_t len;
};

/* Left-justified octet strings, a missing octet first: RDATA order (RFC 4034 §6.3)
 * and RocksDB's bytewise key order. */
static int octets_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return (al > bl) - (al < bl);
}

static int rdata_cmp(const void *a, const void *b)
{
	const struct rdref *x = a, *y = b;
	return octets_cmp(x->p, x->len, y->p, y->len);
}

/* The RDATAs of rr sorted, without duplicates, into refs (rr->count entries).
 * Returns how many remain. */
static size_t rdata_sorted(const struct zonedb_rrset_in *rr, struct rdref *refs)
{
	size_t n = 0;
	for (size_t i = 0; i < rr->count; i++)
		refs[i] = (struct rdref){ rr->rdata[i], rr->rdlen[i] };
	qsort(refs, rr->count, sizeof(*refs), rdata_cmp);
	for (size_t i = 0; i < rr->count; i++)
		if (!n || rdata_cmp(&refs[n - 1], &refs[i]))
			refs[n++] = refs[i];
	return n;
}

bool zonedb_rrset_equal(const struct zonedb_rrset *stored, const struct zonedb_rrset_in *rr)
{
	if (stored->type != rr->type || stored->ttl != rr->ttl || !rr->count)
		return false;
	struct rdref *refs = malloc(rr->count * sizeof(*refs));
	if (!refs)
		return false;
	size_t n = rdata_sorted(rr, refs), off = 0;
	bool eq = n == stored->count;
	for (size_t i = 0; eq && i < n; i++) {
		eq = off + 2 + refs[i].len <= stored->rdata_len &&
		     get16(stored->rdata + off) == refs[i].len &&
		     !memcmp(stored->rdata + off + 2, refs[i].p, refs[i].len);
		off += 2u + refs[i].len;
	}
	free(refs);
	return eq && off == stored->rdata_len;
}

/* The stored value of rr into a new buffer (*out, *outlen). 0, AD_ETOOBIG, -ENOMEM. */
static int rrset_encode(const struct zonedb_rrset_in *rr, uint8_t **out, size_t *outlen)
{
	struct rdref *refs = malloc(rr->count * sizeof(*refs));
	uint8_t *v = NULL;
	int ret = -ENOMEM;

	if (!refs)
		goto finish;
	size_t n = rdata_sorted(rr, refs), total = 0;
	for (size_t i = 0; i < n; i++)
		total += 2u + refs[i].len;
	ret = AD_ETOOBIG;
	if (total > RDATA_MAX)
		goto finish;
	ret = -ENOMEM;
	if (!(v = malloc(RRSET_HDR + total)))
		goto finish;
	v[0] = (uint8_t)(rr->ttl >> 24);
	v[1] = (uint8_t)(rr->ttl >> 16);
	v[2] = (uint8_t)(rr->ttl >> 8);
	v[3] = (uint8_t)rr->ttl;
	v[4] = (uint8_t)(n >> 8);
	v[5] = (uint8_t)n;
	size_t off = RRSET_HDR;
	for (size_t i = 0; i < n; i++) {
		v[off++] = (uint8_t)(refs[i].len >> 8);
		v[off++] = (uint8_t)refs[i].len;
		memcpy(v + off, refs[i].p, refs[i].len);
		off += refs[i].len;
	}
	*out = v;
	*outlen = off;
	v = NULL;
	ret = 0;
finish:
	free(v);
	free(refs);
	return ret;
}

/* ---- transactions ---- */

struct zonedb_txn *zonedb_txn_begin(struct zonedb *db)
{
	struct zonedb_txn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->db = db;
	t->wb = rocksdb_writebatch_wi_create(0, 1);
	if (!t->wb) {
		free(t);
		return NULL;
	}
	t->zones = atomic_load(&db->zones);
	return t;
}

void zonedb_txn_abort(struct zonedb_txn *t)
{
	if (!t)
		return;
	rocksdb_writebatch_wi_destroy(t->wb);
	if (t->zones_own)
		free(t->zones);
	free(t->names);
	free(t);
}

static int fail(struct zonedb_txn *t, int err)
{
	if (!t->failed)
		t->failed = err;
	return err;
}

/* Append name[0..len) to a growing array of names. 0 or -ENOMEM. */
static int names_append(uint8_t (**names)[DNSW_NAME_MAX], size_t *n, size_t *cap,
			const uint8_t *name, size_t len)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		void *g = realloc(*names, c * sizeof((*names)[0]));
		if (!g)
			return -ENOMEM;
		*names = g;
		*cap = c;
	}
	memcpy((*names)[(*n)++], name, len);
	return 0;
}

static int note(struct zonedb_txn *t, const uint8_t *name, size_t len)
{
	int ret = names_append(&t->names, &t->nnames, &t->cap, name, len);
	return ret ? fail(t, ret) : 0;
}

/* The pending-or-stored value of key; *v NULL when absent (free with rocksdb_free). */
static int txn_get(struct zonedb_txn *t, const uint8_t *key, size_t klen, char **v,
		   size_t *vl)
{
	char *e = NULL;
	*v = rocksdb_writebatch_wi_get_from_batch_and_db(t->wb, t->db->db, t->db->ropts,
							 (const char *)key, klen, vl, &e);
	if (e) {
		free(e);
		rocksdb_free(*v);
		*v = NULL;
		return fail(t, -EIO);
	}
	return 0;
}

static void txn_put(struct zonedb_txn *t, const uint8_t *key, size_t klen,
		    const void *v, size_t vl)
{
	rocksdb_writebatch_wi_put(t->wb, (const char *)key, klen, (const char *)v, vl);
}

static void txn_del(struct zonedb_txn *t, const uint8_t *key, size_t klen)
{
	rocksdb_writebatch_wi_delete(t->wb, (const char *)key, klen);
}

/* The node at the lowercase name: 1 (present, *n filled), 0 (absent) or -EIO. */
static int txn_node(struct zonedb_txn *t, const uint8_t *lc, struct zonedb_node *n)
{
	uint8_t key[KEY_MAX];
	char *v;
	size_t vl;
	int ret = txn_get(t, key, node_key(lc, key), &v, &vl);
	if (ret || !v)
		return ret;
	ret = node_parse((const uint8_t *)v, vl, n) ? fail(t, -EIO) : 1;
	rocksdb_free(v);
	return ret;
}

/* The stored value of a node (N key): its types, 2 bytes each. Returns its length. */
static size_t node_encode(const uint16_t *types, size_t ntypes, uint8_t v[2 * ZONEDB_TYPES_MAX])
{
	for (size_t i = 0; i < ntypes; i++) {
		v[2 * i] = (uint8_t)(types[i] >> 8);
		v[2 * i + 1] = (uint8_t)types[i];
	}
	return 2 * ntypes;
}

static void txn_put_node(struct zonedb_txn *t, const uint8_t *lc, const struct zonedb_node *n)
{
	uint8_t key[KEY_MAX], v[2 * ZONEDB_TYPES_MAX];
	txn_put(t, key, node_key(lc, key), v, node_encode(n->types, n->ntypes, v));
}

/* The stored value of a name's view (Q key): the type count, the types, then each
 * RRset's stored value with a 2-byte length; 2 + the sum of (4 + value length)
 * bytes, which the caller has checked is at most VIEW_MAX. Returns its length. */
static size_t view_encode(size_t nt, const uint16_t *types, const uint8_t *const *val,
			  const size_t *vlen, uint8_t out[VIEW_MAX])
{
	size_t off = 2 + 2 * nt;
	out[0] = (uint8_t)(nt >> 8);
	out[1] = (uint8_t)nt;
	for (size_t i = 0; i < nt; i++) {
		out[2 + 2 * i] = (uint8_t)(types[i] >> 8);
		out[3 + 2 * i] = (uint8_t)types[i];
	}
	for (size_t i = 0; i < nt; i++) {
		out[off] = (uint8_t)(vlen[i] >> 8);
		out[off + 1] = (uint8_t)vlen[i];
		memcpy(out + off + 2, val[i], vlen[i]);
		off += 2 + vlen[i];
	}
	return off;
}

/* An iterator over the transaction's view (pending writes over the store). */
static rocksdb_iterator_t *txn_iter(struct zonedb_txn *t);

/* Rewrite the view (Q key) of the lowercase name lc from the transaction's RRsets,
 * read with it, an iterator over the transaction's view: its type list, then each
 * RRset's stored value with a 2-byte length. The name's R keys are contiguous and
 * hold exactly its node's types, so one seek finds them all. A name without a node,
 * or whose view would exceed VIEW_MAX, has none. */
static int txn_put_view(struct zonedb_txn *t, rocksdb_iterator_t *it, const uint8_t *lc)
{
	uint8_t key[KEY_MAX], prefix[KEY_MAX], v[VIEW_MAX];
	const uint8_t *val[ZONEDB_TYPES_MAX];
	size_t vlen[ZONEDB_TYPES_MAX];
	uint16_t types[ZONEDB_TYPES_MAX];
	size_t kl = view_key(lc, key);
	size_t pl = rrset_key(lc, 0, prefix) - 2; /* "R" name-key 00: then the type */
	size_t nt = 0, size = 2, used = 0;
	bool fits = true;
	char *e = NULL;

	for (rocksdb_iter_seek(it, (const char *)prefix, pl); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t il;
		const uint8_t *ik = (const uint8_t *)rocksdb_iter_key(it, &il);
		if (il != pl + 2 || memcmp(ik, prefix, pl) != 0)
			break;
		if (nt == ZONEDB_TYPES_MAX)
			return fail(t, -EIO);
		types[nt] = get16(ik + pl);
		val[nt] = (const uint8_t *)rocksdb_iter_value(it, &vlen[nt]);
		size += 4 + vlen[nt];
		if (size > VIEW_MAX) {
			fits = false;
			break;
		}
		/* A value is valid only until the iterator moves: copy it now. */
		memcpy(v + used, val[nt], vlen[nt]);
		val[nt] = v + used;
		used += vlen[nt];
		nt++;
	}
	rocksdb_iter_get_error(it, &e);
	if (e) {
		free(e);
		return fail(t, -EIO);
	}
	if (nt == 0 && fits) {
		/* No RRsets: an empty non-terminal keeps an empty view, else none. */
		struct zonedb_node n;
		int ret = txn_node(t, lc, &n);
		if (ret < 0)
			return ret;
		fits = ret == 1;
	}
	if (!fits) {
		txn_del(t, key, kl);
		return 0;
	}
	uint8_t out[VIEW_MAX];
	txn_put(t, key, kl, out, view_encode(nt, types, val, vlen, out));
	return 0;
}

/* An iterator over the transaction's view (pending writes over the store). */
static rocksdb_iterator_t *txn_iter(struct zonedb_txn *t)
{
	rocksdb_iterator_t *base = rocksdb_create_iterator(t->db->db, t->db->ropts);
	return rocksdb_writebatch_wi_create_iterator_with_base(t->wb, base);
}

/* Whether the lowercase name has a node strictly below it: 1, 0 or -EIO. */
static int txn_has_descendant(struct zonedb_txn *t, const uint8_t *lc)
{
	uint8_t key[KEY_MAX];
	size_t kl = node_key(lc, key);
	rocksdb_iterator_t *it = txn_iter(t);
	char *e = NULL;
	int ret = 0;

	key[kl] = 1; /* the smallest key of a descendant is longer than this */
	rocksdb_iter_seek(it, (const char *)key, kl + 1);
	if (rocksdb_iter_valid(it)) {
		size_t il;
		const char *ik = rocksdb_iter_key(it, &il);
		ret = il > kl && !memcmp(ik, key, kl);
	}
	rocksdb_iter_get_error(it, &e);
	if (e) {
		free(e);
		ret = fail(t, -EIO);
	}
	rocksdb_iter_destroy(it);
	return ret;
}

static size_t parent_of(const uint8_t *name, size_t len, const uint8_t **parent)
{
	*parent = name + name[0] + 1;
	return len - name[0] - 1u;
}

/* Give every ancestor of lc[0..len) down from limit_len bytes (an apex) a node,
 * stopping at the first that has one (its own ancestors have theirs). */
static int ensure_ancestors(struct zonedb_txn *t, const uint8_t *lc, size_t len,
			    size_t limit_len)
{
	struct zonedb_node n;
	while (len > limit_len) {
		len = parent_of(lc, len, &lc);
		int ret = txn_node(t, lc, &n);
		if (ret < 0)
			return ret;
		if (ret)
			break;
		n.ntypes = 0;
		txn_put_node(t, lc, &n);
		if ((ret = note(t, lc, len)))
			return ret;
	}
	return 0;
}

/* lc[0..len) lost its node: remove the ancestors, up to limit_len bytes, that are
 * now empty non-terminals without descendants. */
static int prune_ancestors(struct zonedb_txn *t, const uint8_t *lc, size_t len,
			   size_t limit_len)
{
	uint8_t key[KEY_MAX];
	struct zonedb_node n;
	while (len > limit_len) {
		len = parent_of(lc, len, &lc);
		int ret = txn_node(t, lc, &n);
		if (ret <= 0)
			return ret;
		if (n.ntypes)
			return 0;
		if ((ret = txn_has_descendant(t, lc)))
			return ret < 0 ? ret : 0;
		txn_del(t, key, node_key(lc, key));
		if ((ret = note(t, lc, len)))
			return ret;
	}
	return 0;
}

static bool meta_type(uint16_t type)
{
	return type == 0 || type == DNSW_T_OPT || (type >= DNSW_T_TSIG && type <= DNSW_T_ANY);
}

/* The outermost apex length above lc in the transaction's view, or len itself. */
static size_t outer_len(struct zonedb_txn *t, const uint8_t *lc, size_t len)
{
	const struct zone_apex *outer;
	return zl_match(t->zones, lc, len, &outer) ? outer->len : len;
}

int zonedb_txn_put_rrset(struct zonedb_txn *t, const uint8_t *name,
			 const struct zonedb_rrset_in *rr)
{
	uint8_t lc[DNSW_NAME_MAX], key[KEY_MAX];
	struct zonedb_node n;
	uint8_t *val = NULL;
	char *old = NULL;
	size_t vl, ol;

	int len = name_input(name, lc);
	if (len < 0 || !rr || !rr->count || meta_type(rr->type) || !rr->rdata || !rr->rdlen)
		return AD_EPARSE;
	for (size_t i = 0; i < rr->count; i++)
		if (!rr->rdata[i] && rr->rdlen[i])
			return AD_EPARSE;
	const struct zone_apex *outer;
	if (!zl_match(t->zones, lc, (size_t)len, &outer))
		return AD_ENOTFOUND;
	int ret = rrset_encode(rr, &val, &vl);
	if (ret)
		return ret == -ENOMEM ? fail(t, ret) : ret;

	size_t kl = rrset_key(lc, rr->type, key);
	if ((ret = txn_get(t, key, kl, &old, &ol)))
		goto finish;
	if (old && ol == vl && !memcmp(old, val, vl))
		goto finish; /* already stored */
	int have = txn_node(t, lc, &n);
	if ((ret = have < 0 ? have : 0))
		goto finish;
	if (!have)
		n.ntypes = 0;
	size_t i = 0;
	while (i < n.ntypes && n.types[i] < rr->type)
		i++;
	if (i == n.ntypes || n.types[i] != rr->type) {
		if (n.ntypes == ZONEDB_TYPES_MAX) {
			ret = AD_ETOOBIG;
			goto finish;
		}
		memmove(n.types + i + 1, n.types + i, (n.ntypes - i) * sizeof(n.types[0]));
		n.types[i] = rr->type;
		n.ntypes++;
		txn_put_node(t, lc, &n);
	}
	txn_put(t, key, kl, val, vl);
	ret = note(t, lc, (size_t)len);
	if (!ret && !have)
		ret = ensure_ancestors(t, lc, (size_t)len, outer->len);
finish:
	rocksdb_free(old);
	free(val);
	return ret;
}

/* Delete (lc, type); ancestors pruned up to limit_len bytes. */
static int delete_rrset(struct zonedb_txn *t, const uint8_t *lc, size_t len, uint16_t type,
			size_t limit_len)
{
	uint8_t key[KEY_MAX];
	struct zonedb_node n;
	char *old;
	size_t ol;

	size_t kl = rrset_key(lc, type, key);
	int ret = txn_get(t, key, kl, &old, &ol);
	if (ret)
		return ret;
	if (!old)
		return AD_ENOTFOUND;
	rocksdb_free(old);
	txn_del(t, key, kl);
	if ((ret = note(t, lc, len)))
		return ret;
	int have = txn_node(t, lc, &n);
	if (have <= 0)
		return have; /* a node was missing: nothing more to keep right */
	size_t i = 0, j = 0;
	for (; i < n.ntypes; i++)
		if (n.types[i] != type)
			n.types[j++] = n.types[i];
	n.ntypes = (uint16_t)j;
	if (n.ntypes) {
		txn_put_node(t, lc, &n);
		return 0;
	}
	ret = txn_has_descendant(t, lc);
	if (ret < 0)
		return ret;
	if (ret) {
		txn_put_node(t, lc, &n); /* stays, as an empty non-terminal */
		return 0;
	}
	txn_del(t, key, node_key(lc, key));
	if ((ret = note(t, lc, len)))
		return ret;
	return prune_ancestors(t, lc, len, limit_len);
}

int zonedb_txn_delete_rrset(struct zonedb_txn *t, const uint8_t *name, uint16_t type)
{
	uint8_t lc[DNSW_NAME_MAX];
	int len = name_input(name, lc);
	if (len < 0)
		return AD_EPARSE;
	return delete_rrset(t, lc, (size_t)len, type, outer_len(t, lc, (size_t)len));
}

/* Make the transaction's zone list its own (copy on first change). */
static int own_zones(struct zonedb_txn *t, size_t extra)
{
	struct zone_list *c = zl_copy(t->zones, extra);
	if (!c)
		return fail(t, -ENOMEM);
	if (t->zones_own)
		free(t->zones);
	t->zones = c;
	t->zones_own = true;
	return 0;
}

int zonedb_txn_add_zone(struct zonedb_txn *t, const uint8_t *apex)
{
	uint8_t lc[DNSW_NAME_MAX], key[KEY_MAX];
	int len = name_input(apex, lc);
	if (len < 0)
		return AD_EPARSE;
	if (zl_find(t->zones, lc, (size_t)len))
		return AD_EEXISTS;
	int ret = own_zones(t, 1);
	if (ret)
		return ret;
	zl_insert(t->zones, lc, (size_t)len);
	txn_put(t, key, zone_key(lc, key), lc, (size_t)len);
	if ((ret = note(t, lc, (size_t)len)))
		return ret;

	/* Zones already served below this one now hang from it: the names between
	 * their apexes and this apex become empty non-terminals. */
	size_t olen = outer_len(t, lc, (size_t)len);
	for (size_t i = 0; i < t->zones->n; i++) {
		const struct zone_apex *c = &t->zones->z[i];
		struct zonedb_node n;
		if (c->len <= len || !dnsw_name_is_below(c->name, c->len, lc, (size_t)len))
			continue;
		int have = txn_node(t, c->name, &n);
		if (have < 0)
			return have;
		if (have && (ret = ensure_ancestors(t, c->name, c->len, olen)))
			return ret;
	}
	return 0;
}

struct owned {
	uint8_t (*names)[DNSW_NAME_MAX];
	uint16_t *types;
	size_t n, cap;
};

int zonedb_txn_delete_zone(struct zonedb_txn *t, const uint8_t *apex)
{
	uint8_t lc[DNSW_NAME_MAX], key[KEY_MAX], name[DNSW_NAME_MAX];
	struct owned own = { 0 };
	rocksdb_iterator_t *it = NULL;
	char *e = NULL;
	int ret;

	int len = name_input(apex, lc);
	if (len < 0)
		return AD_EPARSE;
	const struct zone_apex *zone = zl_find(t->zones, lc, (size_t)len);
	if (!zone)
		return AD_ENOTFOUND;
	size_t limit = outer_len(t, lc, (size_t)len);

	/* 1. The RRsets the zone owns, read before anything changes. */
	key[0] = K_RRSET;
	size_t plen = 1 + name_key(lc, key + 1);
	it = txn_iter(t);
	ret = 0;
	for (rocksdb_iter_seek(it, (const char *)key, plen); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, nlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		if (kl < plen || memcmp(k, key, plen))
			break;
		int used = key_name(k + 1, kl - 1, name, &nlen);
		if (used < 0 || (size_t)used + 3 != kl)
			continue;
		uint16_t type = get16(k + kl - 2);
		if (zl_owner(t->zones, name, nlen, type) != zone)
			continue;
		if (own.n == own.cap) {
			size_t cap = own.cap ? own.cap * 2 : 64;
			void *a = realloc(own.names, cap * sizeof(own.names[0]));
			if (a)
				own.names = a;
			void *b = a ? realloc(own.types, cap * sizeof(own.types[0])) : NULL;
			if (!b) {
				ret = fail(t, -ENOMEM);
				goto finish;
			}
			own.types = b;
			own.cap = cap;
		}
		memcpy(own.names[own.n], name, nlen);
		own.types[own.n++] = type;
	}
	rocksdb_iter_get_error(it, &e);
	if (e) {
		ret = fail(t, -EIO);
		goto finish;
	}
	rocksdb_iter_destroy(it);
	it = NULL;

	/* 2. Delete them; nodes pruned up to the outermost apex as it is now. */
	for (size_t i = 0; i < own.n; i++) {
		size_t nl = dnsw_name_len(own.names[i]);
		ret = delete_rrset(t, own.names[i], nl, own.types[i], limit);
		if (ret && ret != AD_ENOTFOUND)
			goto finish;
	}
	ret = 0;

	/* 3. Claims made in this zone. */
	key[0] = K_CLAIM;
	plen = 1 + name_key(lc, key + 1);
	it = txn_iter(t);
	for (rocksdb_iter_seek(it, (const char *)key, plen); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl, nlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);
		if (kl < plen || memcmp(k, key, plen))
			break;
		if (vl != (size_t)len || memcmp(v, lc, vl) ||
		    key_name(k + 1, kl - 1, name, &nlen) < 0)
			continue;
		txn_del(t, k, kl);
		if ((ret = note(t, name, nlen)))
			goto finish;
	}
	rocksdb_iter_destroy(it);
	it = NULL;

	/* 4. The zone itself. */
	ret = own_zones(t, 0);
	if (ret)
		goto finish;
	zone = zl_find(t->zones, lc, (size_t)len);
	size_t idx = (size_t)(zone - t->zones->z);
	memmove(&t->zones->z[idx], &t->zones->z[idx + 1],
		(t->zones->n - idx - 1) * sizeof(t->zones->z[0]));
	t->zones->n--;
	txn_del(t, key, zone_key(lc, key));
	if ((ret = note(t, lc, (size_t)len)))
		goto finish;

	/* 5. Nothing above holds these names any more: the empty non-terminals left
	 * between this apex and child apexes go (outside any zone no node is kept). */
	if (!zl_match(t->zones, lc, (size_t)len, NULL)) {
		key[0] = K_NODE;
		plen = 1 + name_key(lc, key + 1);
		it = txn_iter(t);
		for (rocksdb_iter_seek(it, (const char *)key, plen); rocksdb_iter_valid(it);
		     rocksdb_iter_next(it)) {
			size_t kl, nlen;
			const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
			if (kl < plen || memcmp(k, key, plen))
				break;
			if (key_name(k + 1, kl - 1, name, &nlen) < 0 ||
			    zl_match(t->zones, name, nlen, NULL))
				continue;
			txn_del(t, k, kl);
			if ((ret = note(t, name, nlen)))
				goto finish;
		}
	}
finish:
	free(e);
	if (it)
		rocksdb_iter_destroy(it);
	free(own.names);
	free(own.types);
	return ret;
}

int zonedb_txn_claim(struct zonedb_txn *t, const uint8_t *name, bool claimed)
{
	uint8_t lc[DNSW_NAME_MAX], key[KEY_MAX];
	char *old;
	size_t ol;

	int len = name_input(name, lc);
	if (len < 0)
		return AD_EPARSE;
	const struct zone_apex *z = zl_match(t->zones, lc, (size_t)len, NULL);
	if (claimed && !z)
		return AD_ENOTFOUND;
	size_t kl = claim_key(lc, key);
	int ret = txn_get(t, key, kl, &old, &ol);
	if (ret)
		return ret;
	bool same = old ? claimed && z && ol == z->len && !memcmp(old, z->name, ol) : !claimed;
	rocksdb_free(old);
	if (same)
		return 0;
	if (claimed)
		txn_put(t, key, kl, z->name, z->len);
	else
		txn_del(t, key, kl);
	return note(t, lc, (size_t)len);
}

int zonedb_txn_foreach_rrset(struct zonedb_txn *t, const uint8_t *apex, rrset_fn fn,
			     void *arg)
{
	return foreach_rrset(t->db, t->zones, apex, fn, arg);
}

int zonedb_txn_find_owner(struct zonedb_txn *t, const uint8_t *name, uint16_t type,
			  uint8_t apex[DNSW_NAME_MAX])
{
	uint8_t lc[DNSW_NAME_MAX];
	int len = name_input(name, lc);
	if (len < 0)
		return AD_EPARSE;
	const struct zone_apex *z = zl_owner(t->zones, lc, (size_t)len, type);
	if (!z)
		return AD_ENOTFOUND;
	memcpy(apex, z->name, z->len);
	return 0;
}

void zonedb_txn_set_seq(struct zonedb_txn *t, uint64_t seq)
{
	uint8_t k = K_SEQ, v[8];
	for (int i = 0; i < 8; i++)
		v[i] = (uint8_t)(seq >> (56 - 8 * i));
	txn_put(t, &k, 1, v, sizeof(v));
	t->seq_set = true;
	t->seq = seq;
}

static int name_cmp(const void *a, const void *b)
{
	const uint8_t *x = a, *y = b;
	size_t lx = dnsw_name_len(x), ly = dnsw_name_len(y);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x, y, lx);
}

/* Room in changes (may be NULL) for n more names. 0 or -ENOMEM. */
static int changes_reserve(struct zonedb_changes *changes, size_t n)
{
	if (!changes || changes->count + n <= changes->cap)
		return 0;
	size_t cap = changes->count + n;
	void *g = realloc(changes->names, cap * sizeof(changes->names[0]));
	if (!g)
		return -ENOMEM;
	changes->names = g;
	changes->cap = cap;
	return 0;
}

/* Sort *count names and keep each once. */
static void names_settle(uint8_t (*names)[DNSW_NAME_MAX], size_t *count)
{
	if (*count == 0)
		return;
	qsort(names, *count, sizeof(names[0]), name_cmp);
	size_t n = 0;
	for (size_t i = 0; i < *count; i++)
		if (!n || name_cmp(names[n - 1], names[i]))
			memmove(names[n++], names[i], sizeof(names[0]));
	*count = n;
}

/* Sort the names of changes and keep each once. */
static void changes_settle(struct zonedb_changes *changes)
{
	names_settle(changes->names, &changes->count);
}

/* Make l the zone list readers see; the old one is freed at close. */
static void publish_zones(struct zonedb *db, struct zone_list *l)
{
	struct zone_list *old = atomic_exchange_explicit(&db->zones, l, memory_order_acq_rel);
	old->retired = db->retired;
	db->retired = old;
}

int zonedb_txn_commit(struct zonedb_txn *t, struct zonedb_changes *changes)
{
	struct zonedb *db = t->db;
	char *e = NULL;
	int ret = t->failed;

	if (ret)
		goto finish;
	/* Room for the changes first: nothing may fail after the write. */
	if ((ret = changes_reserve(changes, t->nnames)))
		goto finish;
	/* Every name whose data changed gets its view rewritten in the same batch (a
	 * name noted twice in a row, as A then AAAA of one owner, once). */
	if (t->nnames) {
		rocksdb_iterator_t *it = txn_iter(t);
		for (size_t i = 0; i < t->nnames && !ret; i++) {
			if (i == 0 || !dnsw_name_equal(t->names[i], t->names[i - 1]))
				ret = txn_put_view(t, it, t->names[i]);
		}
		rocksdb_iter_destroy(it);
		if (ret)
			goto finish;
	}
	if (rocksdb_writebatch_wi_count(t->wb)) {
		rocksdb_write_writebatch_wi(db->db, db->wopts, t->wb, &e);
		if (e) {
			ret = -EIO;
			goto finish;
		}
	}
	if (t->zones_own) {
		publish_zones(db, t->zones);
		t->zones_own = false;
	}
	if (t->seq_set)
		atomic_store_explicit(&db->seq, t->seq, memory_order_release);
	if (changes && t->nnames) {
		memcpy(changes->names + changes->count, t->names,
		       t->nnames * sizeof(t->names[0]));
		changes->count += t->nnames;
		changes_settle(changes);
	}
finish:
	free(e);
	zonedb_txn_abort(t);
	return ret;
}

/* ---- adding a whole zone ---- */

/* One key and its value, stored one after the other at p. */
struct bulk_kv {
	const uint8_t *p;
	uint32_t klen, vlen;
};

struct bulk_chunk {
	struct bulk_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

struct bulk {
	zonedb_rrset_at at;
	const void *arg;
	size_t n;
	uint8_t (*ents)[DNSW_NAME_MAX]; /* empty non-terminals (repeats until names_settle) */
	size_t nents, entcap;
	struct bulk_kv *kv;             /* everything to write, sorted before writing */
	size_t nkv, kvcap;
	struct bulk_chunk *chunks;      /* where the keys and values are */
};

#define BULK_CHUNK (4u << 20)

static int bulk_put(struct bulk *b, const uint8_t *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct bulk_chunk *c = b->chunks;
	if (!c || c->cap - c->used < klen + vlen) {
		size_t cap = klen + vlen > BULK_CHUNK ? klen + vlen : BULK_CHUNK;
		if (!(c = malloc(sizeof(*c) + cap)))
			return -ENOMEM;
		*c = (struct bulk_chunk){ .next = b->chunks, .cap = cap };
		b->chunks = c;
	}
	if (b->nkv == b->kvcap) {
		size_t cap = b->kvcap ? b->kvcap * 2 : 1024;
		void *g = realloc(b->kv, cap * sizeof(b->kv[0]));
		if (!g)
			return -ENOMEM;
		b->kv = g;
		b->kvcap = cap;
	}
	uint8_t *p = c->data + c->used;
	memcpy(p, key, klen);
	if (vlen)
		memcpy(p + klen, val, vlen);
	c->used += klen + vlen;
	b->kv[b->nkv++] = (struct bulk_kv){ p, (uint32_t)klen, (uint32_t)vlen };
	return 0;
}

static int bulk_kv_cmp(const void *x, const void *y)
{
	const struct bulk_kv *a = x, *b = y;
	return octets_cmp(a->p, a->klen, b->p, b->klen);
}

static void bulk_free(struct bulk *b)
{
	while (b->chunks) {
		struct bulk_chunk *next = b->chunks->next;
		free(b->chunks);
		b->chunks = next;
	}
	free(b->kv);
	free(b->ents);
}

/* Lowercase wire names in (length, bytes) order, the order of zonefile.h. */
static int len_bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return memcmp(a, b, al);
}

/* Two lowercase wire names are the same bytes. */
static bool same_name(const uint8_t *a, const uint8_t *b)
{
	size_t al = dnsw_name_len(a);
	return al == dnsw_name_len(b) && !memcmp(a, b, al);
}

/* Whether the lowercase name lc[0..len) owns one of the RRsets: a binary search. */
static bool bulk_is_owner(const struct bulk *b, const uint8_t *lc, size_t len)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uint8_t *o;
		struct zonedb_rrset_in rr;
		b->at(b->arg, mid, &o, &rr);
		int c = len_bytes_cmp(o, dnsw_name_len(o), lc, len);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Add the RRsets of the owner of RRset i (R keys, its node, its view) to b, and
 * note its ancestors that own nothing, down to the apex alc[0..alen). *next is then
 * the first RRset of the next owner. Checks each RRset as zonedb_txn_put_rrset(). */
static int bulk_owner(struct bulk *b, size_t i, const uint8_t *alc, size_t alen, size_t *next)
{
	uint8_t lc[DNSW_NAME_MAX], key[KEY_MAX];
	uint16_t types[ZONEDB_TYPES_MAX];
	uint8_t *val[ZONEDB_TYPES_MAX];
	size_t vlen[ZONEDB_TYPES_MAX], nt = 0, j;
	const uint8_t *owner, *o;
	struct zonedb_rrset_in rr;
	int ret = 0;

	b->at(b->arg, i, &owner, &rr);
	int len = name_input(owner, lc);
	if (len < 0 || memcmp(lc, owner, (size_t)len))
		return AD_EPARSE; /* not a name, or not lowercase */
	if (i > 0) {
		b->at(b->arg, i - 1, &o, &rr);
		if (len_bytes_cmp(o, dnsw_name_len(o), lc, (size_t)len) >= 0)
			return AD_EPARSE; /* out of order */
	}
	if (!dnsw_name_is_below(lc, (size_t)len, alc, alen))
		return AD_ENOTFOUND;
	for (j = i; j < b->n; j++) {
		b->at(b->arg, j, &o, &rr);
		if (j > i && !same_name(o, lc))
			break;
		ret = AD_EPARSE;
		if (!rr.count || meta_type(rr.type) || !rr.rdata || !rr.rdlen)
			goto finish;
		for (size_t r = 0; r < rr.count; r++)
			if (!rr.rdata[r] && rr.rdlen[r])
				goto finish;
		uint8_t *v;
		size_t vl;
		if ((ret = rrset_encode(&rr, &v, &vl)))
			goto finish;
		size_t k = 0;
		while (k < nt && types[k] < rr.type)
			k++;
		if (k < nt && types[k] == rr.type) { /* a later RRset replaces an earlier */
			free(val[k]);
			val[k] = v;
			vlen[k] = vl;
			continue;
		}
		if (nt == ZONEDB_TYPES_MAX) {
			free(v);
			ret = AD_ETOOBIG;
			goto finish;
		}
		memmove(types + k + 1, types + k, (nt - k) * sizeof(types[0]));
		memmove(val + k + 1, val + k, (nt - k) * sizeof(val[0]));
		memmove(vlen + k + 1, vlen + k, (nt - k) * sizeof(vlen[0]));
		types[k] = rr.type;
		val[k] = v;
		vlen[k] = vl;
		nt++;
	}
	*next = j;

	size_t view = 2;
	for (size_t k = 0; k < nt && !ret; k++) {
		ret = bulk_put(b, key, rrset_key(lc, types[k], key), val[k], vlen[k]);
		view += 4 + vlen[k];
	}
	uint8_t nv[2 * ZONEDB_TYPES_MAX], qv[VIEW_MAX];
	if (!ret)
		ret = bulk_put(b, key, node_key(lc, key), nv, node_encode(types, nt, nv));
	if (!ret && view <= VIEW_MAX)
		ret = bulk_put(b, key, view_key(lc, key), qv,
			       view_encode(nt, types, (const uint8_t *const *)val, vlen, qv));
	/* As ensure_ancestors(): up to the first ancestor that has a node of its own
	 * (an owner's), each an empty non-terminal. */
	const uint8_t *p = lc;
	size_t pl = (size_t)len;
	while (pl > alen && !ret) {
		pl = parent_of(p, pl, &p);
		if (bulk_is_owner(b, p, pl))
			break;
		ret = names_append(&b->ents, &b->nents, &b->entcap, p, pl);
	}
finish:
	for (size_t k = 0; k < nt; k++)
		free(val[k]);
	return ret;
}

/* Whether the store holds a name-keyed entry (node, RRset, view, claim) at or below
 * the lowercase apex: 1, 0 or -EIO. */
static int subtree_used(struct zonedb *db, const uint8_t *alc)
{
	static const uint8_t kinds[] = { K_NODE, K_RRSET, K_VIEW, K_CLAIM };
	uint8_t key[KEY_MAX];
	size_t kl = 1 + name_key(alc, key + 1);
	rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, db->ropts);
	char *e = NULL;
	int ret = 0;

	for (size_t i = 0; i < sizeof(kinds) && !ret; i++) {
		key[0] = kinds[i];
		rocksdb_iter_seek(it, (const char *)key, kl);
		if (rocksdb_iter_valid(it)) {
			size_t il;
			const char *ik = rocksdb_iter_key(it, &il);
			ret = il >= kl && !memcmp(ik, key, kl);
		}
	}
	rocksdb_iter_get_error(it, &e);
	if (e) {
		free(e);
		ret = -EIO;
	}
	rocksdb_iter_destroy(it);
	return ret;
}

#define BULK_FILE_KEYS 262144u
#define BULK_FILES_MAX 256u

/* Read the file at path once, so that it is in the page cache: the table file
 * writer drops what it writes from the page cache, and the first queries would
 * otherwise wait for the disk, block by block, in a worker. */
static void page_in(const char *path)
{
	enum { CHUNK = 1 << 20 };
	char *buf = malloc(CHUNK);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (buf && fd >= 0)
		while (read(fd, buf, CHUNK) > 0)
			;
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* Remove the table files a load that stopped half-way left (numbered from 0 on). */
static void bulk_remove_files(const struct zonedb *db)
{
	char path[4096];
	for (size_t f = 0; f < BULK_FILES_MAX; f++) {
		snprintf(path, sizeof(path), "%s/zone-load-%zu.sst", db->dir, f);
		if (unlink(path) != 0)
			break;
	}
}

/*
 * Write the sorted entries of b to table files in the store's directory and ingest
 * them: atomically, synced, with no memtable, log or flush on the way. A file holds
 * at most BULK_FILE_KEYS keys (a few MB), about what a flush or a compaction writes,
 * so that a table's filter and index, one block each, stay small. 0 or -EIO.
 */
static int bulk_ingest(struct zonedb *db, const struct bulk *b)
{
	size_t per = BULK_FILE_KEYS;
	if (b->nkv > per * BULK_FILES_MAX) /* a zone of many millions: larger files */
		per = (b->nkv + BULK_FILES_MAX - 1) / BULK_FILES_MAX;
	size_t nfiles = (b->nkv + per - 1) / per;
	if (nfiles == 0)
		return 0;
	char (*paths)[4096] = calloc(nfiles, sizeof(*paths));
	const char **files = calloc(nfiles, sizeof(*files));
	rocksdb_envoptions_t *env = rocksdb_envoptions_create();
	rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
	char *e = NULL;
	int ret = -EIO;

	if (!paths || !files || !env || !io)
		goto finish;
	bulk_remove_files(db);
	for (size_t f = 0; f < nfiles && !e; f++) {
		snprintf(paths[f], sizeof(paths[f]), "%s/zone-load-%zu.sst", db->dir, f);
		files[f] = paths[f];
		rocksdb_sstfilewriter_t *w = rocksdb_sstfilewriter_create(env, db->opts);
		if (!w)
			goto finish;
		rocksdb_sstfilewriter_open(w, paths[f], &e);
		size_t end = (f + 1) * per < b->nkv ? (f + 1) * per : b->nkv;
		for (size_t i = f * per; i < end && !e; i++) {
			const struct bulk_kv *kv = &b->kv[i];
			rocksdb_sstfilewriter_put(w, (const char *)kv->p, kv->klen,
						  (const char *)kv->p + kv->klen, kv->vlen, &e);
		}
		if (!e)
			rocksdb_sstfilewriter_finish(w, &e);
		rocksdb_sstfilewriter_destroy(w);
		if (!e)
			page_in(paths[f]);
	}
	if (!e) {
		rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
		rocksdb_ingest_external_file(db->db, files, nfiles, io, &e);
	}
	if (e)
		log_error("zone store: writing a new zone failed", "detail=\"%s\"", e);
	else
		ret = 0;
finish:
	for (size_t f = 0; paths && f < nfiles; f++)
		if (paths[f][0])
			unlink(paths[f]);
	free(e);
	if (io)
		rocksdb_ingestexternalfileoptions_destroy(io);
	if (env)
		rocksdb_envoptions_destroy(env);
	free(files);
	free(paths);
	return ret;
}

int zonedb_add_zone(struct zonedb *db, const uint8_t *apex, size_t n, zonedb_rrset_at at,
		    const void *arg, struct zonedb_changes *changes)
{
	uint8_t alc[DNSW_NAME_MAX], key[KEY_MAX];
	struct bulk b = { .at = at, .arg = arg, .n = n };
	struct zone_list *zl = NULL;
	size_t nowners = 0;

	int alen = name_input(apex, alc);
	if (alen < 0)
		return AD_EPARSE;
	const struct zone_list *zones = atomic_load_explicit(&db->zones, memory_order_acquire);
	for (size_t i = 0; zones && i < zones->n; i++) {
		const struct zone_apex *z = &zones->z[i];
		if (dnsw_name_is_below(z->name, z->len, alc, (size_t)alen) ||
		    dnsw_name_is_below(alc, (size_t)alen, z->name, z->len))
			return AD_EEXISTS;
	}
	int ret = subtree_used(db, alc);
	if (ret)
		return ret < 0 ? ret : AD_EEXISTS;

	ret = -ENOMEM;
	if (!(zl = zl_copy(zones, 1)))
		goto finish;
	for (size_t i = 0; i < n; nowners++)
		if ((ret = bulk_owner(&b, i, alc, (size_t)alen, &i)))
			goto finish;
	names_settle(b.ents, &b.nents);
	static const uint8_t empty_view[2] = { 0, 0 };
	for (size_t i = 0; i < b.nents; i++)
		if ((ret = bulk_put(&b, key, node_key(b.ents[i], key), NULL, 0)) ||
		    (ret = bulk_put(&b, key, view_key(b.ents[i], key), empty_view, 2)))
			goto finish;
	if ((ret = bulk_put(&b, key, zone_key(alc, key), alc, (size_t)alen)) ||
	    (ret = changes_reserve(changes, nowners + b.nents + 1)))
		goto finish;
	qsort(b.kv, b.nkv, sizeof(b.kv[0]), bulk_kv_cmp);
	if ((ret = bulk_ingest(db, &b)))
		goto finish;

	zl_insert(zl, alc, (size_t)alen);
	publish_zones(db, zl);
	zl = NULL;
	if (changes) {
		const uint8_t *prev = NULL, *o;
		struct zonedb_rrset_in rr;
		for (size_t i = 0; i < n; i++, prev = o) {
			b.at(b.arg, i, &o, &rr);
			if (!prev || !same_name(prev, o)) /* each owner once */
				memcpy(changes->names[changes->count++], o, dnsw_name_len(o));
		}
		for (size_t i = 0; i < b.nents; i++)
			memcpy(changes->names[changes->count++], b.ents[i], dnsw_name_len(b.ents[i]));
		memcpy(changes->names[changes->count++], alc, (size_t)alen);
		changes_settle(changes);
	}
finish:
	free(zl);
	bulk_free(&b);
	return ret;
}

void zonedb_changes_free(struct zonedb_changes *c)
{
	if (!c)
		return;
	free(c->names);
	c->names = NULL;
	c->count = c->cap = 0;
}
