/*
 * Name table: sharded ck_ht maps with one writer mutex per shard, lock-free readers and
 * ck_epoch reclamation. See nametable.h for the contract.
 *
 * Layout. Each name lives in a struct nt_key (an epoch entry, the value it was stored
 * with, the name: one cache line for names up to 39 bytes); the ck_ht slot holds the key
 * pointer, its length, the 64-bit hash and the value, so a probe compares hashes in the
 * slot and touches the key only on a hash match: a hit costs the slot's line and the key's
 * line. The shard is chosen from the high half of the same hash, the slot from the low
 * bits (ck_ht), so a lookup hashes once.
 *
 * Life of an entry (all writer steps under the shard mutex):
 *   set (new name)      a new nt_key is published in the shard's ck_ht
 *   set (known name)    a new nt_key replaces the slot's key and value in place;
 *                       the old nt_key (and with it the old value) is retired
 *   delete              the slot becomes a tombstone; the nt_key is retired
 *   retired             queued on the shard's epoch record (ck_epoch_call); freed,
 *                       value first, by a later ck_epoch_poll / ck_epoch_barrier on that
 *                       record once no reader can still hold it
 * An outgrown ck_ht map is retired the same way: the ck_malloc free hook with defer=true
 * queues it on the epoch record of the shard being written. ck's hooks and epoch
 * callbacks get no context, so the writer holding a shard mutex publishes its record and
 * the table's value_free in a thread-local (nt_writer); all reclamation runs there.
 *
 * Every shard has its own writer epoch record, used only under the shard mutex, so
 * ck_epoch_call's single-producer queue is safe and writers of different shards reclaim
 * independently. Readers' records are the reader handles.
 */
#include "nametable.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include <ck_epoch.h>
#include <ck_ht.h>
#include <ck_pr.h>

#include "error.h"

#define NT_CACHELINE 64
#define NT_SHARD_INITIAL 64   /* initial ck_ht capacity of a shard */
#define NT_POLL_MIN 32        /* retired objects per shard before a write polls the epoch */
#define NT_PENDING_MAX 1024   /* retired objects per shard before a write waits for them */
#define NT_GC_MIN 1024        /* deletes before a shard's tombstones are compacted */

#define nt_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* 24 bytes and the name: a name of up to 39 bytes fits one 64-byte line */
struct nt_key {
	ck_epoch_entry_t epoch_entry; /* used once retired */
	void *value;                  /* the value published with this key */
	char name[];                  /* the name and a NUL (its length is in the slot) */
};

struct nt_shard {
	ck_ht_t ht; /* read by readers (map pointer), written on grow */
	/* writer side, under lock */
	pthread_mutex_t lock __attribute__((aligned(NT_CACHELINE)));
	uint64_t count;          /* names in the shard; ck_pr loads from any thread */
	uint64_t dels_since_gc;
	ck_epoch_record_t rec;   /* this shard's writer record */
} __attribute__((aligned(NT_CACHELINE)));

struct nametable {
	/* read on every lookup, written only by create */
	uint64_t seed;
	struct nt_shard *shards;
	unsigned nshards;
	nametable_free_fn *value_free;
	/* global epoch: read by read_begin, advanced by writers */
	ck_epoch_t epoch __attribute__((aligned(NT_CACHELINE)));
	/* reader handle registry */
	pthread_mutex_t readers_lock __attribute__((aligned(NT_CACHELINE)));
	struct nametable_reader *readers; /* every handle ever allocated, for destroy */
};

struct nametable_reader {
	ck_epoch_record_t rec; /* first member: a recycled record is its handle */
	struct nametable *table;
	struct nametable_reader *next;
};

/*
 * What the writer holding a shard mutex is working for: the shard's epoch record (where
 * ck_ht's deferred map frees go) and the table's value_free (for the reclaim callbacks,
 * which get nothing but the epoch entry). ck's hooks take no context, and all reclamation
 * runs under a shard mutex, so a thread-local carries it (see the banner).
 */
static __thread struct {
	ck_epoch_record_t *rec;
	nametable_free_fn *value_free;
} nt_writer;

/* --- hashing and case folding --- */

#define NT_ONES 0x0101010101010101ULL
#define NT_HIGHS 0x8080808080808080ULL

/* Lowercase the ASCII letters among 8 bytes at once; other bytes, >= 0x80 included, are
 * left alone. Each byte b < 0x80 is tested for 'A' <= b <= 'Z' by two adds that set its
 * high bit and cannot carry into the next byte. */
static inline uint64_t nt_fold8(uint64_t w)
{
	uint64_t low7 = w & ~NT_HIGHS;
	uint64_t ge_a = low7 + NT_ONES * (0x80 - 'A');
	uint64_t gt_z = low7 + NT_ONES * (0x80 - 'Z' - 1);

	return w | (((ge_a ^ gt_z) & ~w & NT_HIGHS) >> 2);
}

static inline uint64_t nt_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* One MurmurHash3-style round per 8-byte word. */
static inline uint64_t nt_mix(uint64_t h, uint64_t w)
{
	w *= 0x87c37b91114253d5ULL;
	w = nt_rotl(w, 31);
	w *= 0x4cf5ad432745937fULL;
	h ^= w;
	return nt_rotl(h, 27) * 5 + 0x52dce729;
}

static inline uint64_t nt_fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Lowercase len bytes of in into out (which may be in) and hash the result. */
static inline uint64_t nt_fold_hash(const char *in, size_t len, char *out, uint64_t seed)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	size_t i = 0, j;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, in + i, 8);
		w = nt_fold8(w);
		memcpy(out + i, &w, 8);
		h = nt_mix(h, w);
	}
	if (i < len) {
		w = 0;
		for (j = 0; i + j < len; j++)
			w |= (uint64_t)(unsigned char)in[i + j] << (8 * j);
		w = nt_fold8(w);
		for (j = 0; i + j < len; j++)
			out[i + j] = (char)(w >> (8 * j));
		h = nt_mix(h, w);
	}
	return nt_fmix(h);
}

/* ck_ht's hash callback (ck_ht only calls it with pointer packing, which x86-64 builds of
 * libck disable; kept so the table is consistent either way). */
static void nt_ht_hash(ck_ht_hash_t *h, const void *key, size_t len, uint64_t seed)
{
	char buf[NAMETABLE_NAME_MAX];

	h->value = nt_fold_hash(key, len < sizeof(buf) ? len : sizeof(buf), buf, seed);
}

static inline struct nt_shard *nt_shard_of(const struct nametable *t, uint64_t h)
{
	return &t->shards[((h >> 32) * t->nshards) >> 32];
}

/* --- name validation --- */

/* Bytes allowed in a label after lowercasing. */
static const bool nt_label_byte[256] = {
	['-'] = true, ['_'] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true, ['e'] = true, ['f'] = true,
	['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true, ['k'] = true, ['l'] = true,
	['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true, ['q'] = true, ['r'] = true,
	['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true, ['w'] = true, ['x'] = true,
	['y'] = true, ['z'] = true,
};

int nametable_name_normalize(const char *in, size_t len, char *out, size_t outcap)
{
	size_t i, label = 0;
	unsigned char c;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return AD_EPARSE;
	if (len > NAMETABLE_NAME_MAX)
		return AD_ETOOBIG;
	if (outcap < len + 1)
		return AD_ENOSPACE;

	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c == '.') {
			if (label == 0)
				return AD_EPARSE;
			label = 0;
		} else if (c == '*') {
			/* wildcard: the whole first label, "*" or "*.rest" */
			if (i != 0 || (len > 1 && in[1] != '.'))
				return AD_EPARSE;
			label = 1;
		} else if (nt_label_byte[c]) {
			if (++label > NAMETABLE_LABEL_MAX)
				return AD_ETOOBIG;
		} else {
			return AD_EPARSE;
		}
		out[i] = (char)c;
	}
	if (label == 0) /* "a.." had one dot stripped, leaving an empty last label */
		return AD_EPARSE;
	out[len] = '\0';
	return (int)len;
}

/* --- memory and reclamation --- */

/*
 * ck_ht's allocations carry an epoch entry so a map can be retired. Maps of 2 MiB and more
 * (a shard of some 30k names and up) get their own mapping with transparent huge pages:
 * a lookup touches one random slot, and with 4 KiB pages that costs a TLB miss on top
 * of the cache miss.
 */
#define NT_HUGE (2u << 20)

struct nt_block {
	ck_epoch_entry_t epoch_entry;
	size_t maplen; /* 0: from malloc; else the length of its own mapping */
} __attribute__((aligned(16)));

static void nt_block_free(struct nt_block *b)
{
	if (b->maplen != 0)
		munmap(b, b->maplen);
	else
		free(b);
}

static void nt_block_reclaim(ck_epoch_entry_t *e)
{
	nt_block_free(nt_container_of(e, struct nt_block, epoch_entry));
}

static void nt_key_reclaim(ck_epoch_entry_t *e)
{
	struct nt_key *k = nt_container_of(e, struct nt_key, epoch_entry);

	if (nt_writer.value_free != NULL)
		nt_writer.value_free(k->value);
	free(k);
}

/*
 * Queue an unlinked object on a writer record. ck_epoch_call files it under the global
 * epoch it loads now; that load must not be satisfied before the store that unlinked the
 * object is visible, or (x86 lets a load pass an earlier store) a reader could enter a
 * newer epoch, still find the object, and see it freed two epochs later. The full fence
 * orders the unlink before the load.
 */
static void nt_retire(ck_epoch_record_t *rec, ck_epoch_entry_t *e, ck_epoch_cb_t *fn)
{
	ck_pr_fence_memory();
	ck_epoch_call(rec, e, fn);
}

/* A mapping of len bytes (a multiple of 4 KiB) that starts on a 2 MiB boundary, so every
 * whole 2 MiB of it can be a huge page and the tail takes small pages (no waste). */
static void *nt_map_huge(size_t len)
{
	size_t span = len + NT_HUGE, head;
	char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	head = (NT_HUGE - ((uintptr_t)p & (NT_HUGE - 1))) & (NT_HUGE - 1);
	if (head > 0)
		munmap(p, head);
	munmap(p + head + len, span - head - len);
	madvise(p + head, len, MADV_HUGEPAGE); /* advice: fine if THP is off */
	return p + head;
}

static void *nt_ht_malloc(size_t size)
{
	struct nt_block *b;
	size_t len = sizeof(*b) + size;

	if (len >= NT_HUGE) {
		len = (len + 4095) & ~(size_t)4095;
		b = nt_map_huge(len);
		if (b == NULL)
			return NULL;
		b->maplen = len;
		return b + 1;
	}
	b = malloc(len);
	if (b == NULL)
		return NULL;
	b->maplen = 0;
	return b + 1;
}

static void nt_ht_free(void *p, size_t size, bool defer)
{
	struct nt_block *b;

	if (p == NULL)
		return;
	b = (struct nt_block *)p - 1;
	if (!defer) {
		nt_block_free(b);
		return;
	}
	/* ck_ht defers only maps it replaced during a write, under the shard mutex */
	if (nt_writer.rec == NULL)
		abort();
	nt_retire(nt_writer.rec, &b->epoch_entry, nt_block_reclaim);
}

static struct ck_malloc nt_ht_allocator = {
	.malloc = nt_ht_malloc,
	.realloc = NULL,
	.free = nt_ht_free,
};

static void nt_shard_lock(struct nametable *t, struct nt_shard *s)
{
	pthread_mutex_lock(&s->lock);
	nt_writer.rec = &s->rec;
	nt_writer.value_free = t->value_free;
}

/*
 * Reclaim what a grace period allows, bound the rest, and unlock. A poll scans every epoch
 * record (readers and shards), so it runs once per NT_POLL_MIN retired objects, not per
 * write; nametable_synchronize flushes the remainder.
 */
static void nt_shard_unlock(struct nt_shard *s)
{
	if (s->rec.n_pending >= NT_POLL_MIN)
		ck_epoch_poll(&s->rec);
	if (s->rec.n_pending > NT_PENDING_MAX)
		ck_epoch_barrier(&s->rec);
	nt_writer.rec = NULL;
	nt_writer.value_free = NULL;
	pthread_mutex_unlock(&s->lock);
}

/* --- table --- */

static uint64_t nt_seed(void)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return nt_fmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)&ts);
}

struct nametable *nametable_create(unsigned shards, nametable_free_fn *value_free)
{
	struct nametable *t = NULL, *ret = NULL;
	unsigned i;

	if (shards == 0)
		shards = NAMETABLE_SHARDS_DEFAULT;
	if (shards > NAMETABLE_SHARDS_MAX)
		goto out;

	t = aligned_alloc(NT_CACHELINE, sizeof(*t));
	if (t == NULL)
		goto out;
	memset(t, 0, sizeof(*t));
	t->seed = nt_seed();
	t->value_free = value_free;
	ck_epoch_init(&t->epoch);
	pthread_mutex_init(&t->readers_lock, NULL);

	t->shards = aligned_alloc(NT_CACHELINE, sizeof(*t->shards) * shards);
	if (t->shards == NULL)
		goto out;
	memset(t->shards, 0, sizeof(*t->shards) * shards);
	for (i = 0; i < shards; i++) {
		struct nt_shard *s = &t->shards[i];

		/* WORKLOAD_DELETE keeps a probe bound per slot: a lookup of a missing name
		 * stops after the probes its own slot needs instead of the map's longest
		 * probe (some 12 slots at 1M names), and the bound's load overlaps the slot's */
		if (!ck_ht_init(&s->ht, CK_HT_MODE_BYTESTRING | CK_HT_WORKLOAD_DELETE,
				nt_ht_hash, &nt_ht_allocator, NT_SHARD_INITIAL, t->seed))
			goto out;
		pthread_mutex_init(&s->lock, NULL);
		ck_epoch_register(&t->epoch, &s->rec, NULL);
		t->nshards = i + 1; /* shards [0, nshards) are live */
	}
	ret = t;
	t = NULL;
out:
	nametable_destroy(t);
	return ret;
}

void nametable_destroy(struct nametable *t)
{
	struct nametable_reader *r, *next;
	ck_ht_iterator_t it;
	ck_ht_entry_t *e;
	unsigned i;

	if (t == NULL)
		return;
	nt_writer.value_free = t->value_free; /* for the reclaim callbacks */
	for (i = 0; i < t->nshards; i++) {
		struct nt_shard *s = &t->shards[i];

		/* no reader is inside a section: every retired object can go now */
		ck_epoch_reclaim(&s->rec);
		ck_ht_iterator_init(&it);
		while (ck_ht_next(&s->ht, &it, &e)) {
			struct nt_key *k = nt_container_of(ck_ht_entry_key(e), struct nt_key, name);

			if (t->value_free != NULL)
				t->value_free(k->value);
			free(k);
		}
		ck_ht_destroy(&s->ht);
		pthread_mutex_destroy(&s->lock);
	}
	nt_writer.value_free = NULL;
	free(t->shards);
	for (r = t->readers; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	pthread_mutex_destroy(&t->readers_lock);
	free(t);
}

/* --- readers --- */

struct nametable_reader *nametable_reader_register(struct nametable *t)
{
	struct nametable_reader *r = NULL;
	ck_epoch_record_t *rec;

	pthread_mutex_lock(&t->readers_lock);
	/* only reader records are ever unregistered, so a recycled one is a handle */
	rec = ck_epoch_recycle(&t->epoch, NULL);
	if (rec != NULL) {
		r = nt_container_of(rec, struct nametable_reader, rec);
		goto out;
	}
	r = aligned_alloc(NT_CACHELINE, sizeof(*r));
	if (r == NULL)
		goto out;
	memset(r, 0, sizeof(*r));
	r->table = t;
	r->next = t->readers;
	t->readers = r;
	ck_epoch_register(&t->epoch, &r->rec, NULL);
out:
	pthread_mutex_unlock(&t->readers_lock);
	return r;
}

void nametable_reader_unregister(struct nametable_reader *r)
{
	if (r == NULL)
		return;
	assert(r->rec.active == 0);
	ck_epoch_unregister(&r->rec);
}

void nametable_read_begin(struct nametable_reader *r)
{
	ck_epoch_begin(&r->rec, NULL);
}

void nametable_read_end(struct nametable_reader *r)
{
	ck_epoch_end(&r->rec, NULL);
}

const void *nametable_lookup(const struct nametable *t, struct nametable_reader *r,
			     const char *name, size_t len)
{
	char buf[NAMETABLE_NAME_MAX];
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	struct nt_shard *s;

	assert(r != NULL && r->table == t && r->rec.active > 0);
	(void)r;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAMETABLE_NAME_MAX)
		return NULL;
	h.value = nt_fold_hash(name, len, buf, t->seed);
	s = nt_shard_of(t, h.value);
	ck_ht_entry_key_set(&e, buf, (uint16_t)len);
	if (!ck_ht_get_spmc(&s->ht, h, &e))
		return NULL;
	return ck_ht_entry_value(&e);
}

/* --- writers --- */

int nametable_set(struct nametable *t, const char *name, size_t len, void *value)
{
	char buf[NAMETABLE_NAME_MAX + 1];
	struct nt_key *k = NULL, *old;
	struct nt_shard *s = NULL;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	int ret;

	ret = -EINVAL;
	if (value == NULL)
		goto out;
	ret = nametable_name_normalize(name, len, buf, sizeof(buf));
	if (ret < 0)
		goto out;
	len = (size_t)ret;
	h.value = nt_fold_hash(buf, len, buf, t->seed);

	ret = -ENOMEM;
	k = malloc(sizeof(*k) + len + 1);
	if (k == NULL)
		goto out;
	k->value = value;
	memcpy(k->name, buf, len + 1);

	s = nt_shard_of(t, h.value);
	nt_shard_lock(t, s);
	ck_ht_entry_set(&e, h, k->name, (uint16_t)len, value);
	if (!ck_ht_set_spmc(&s->ht, h, &e))
		goto out; /* the map could not grow; nothing was published */
	k = NULL;
	if (ck_ht_entry_empty(&e)) {
		ck_pr_store_64(&s->count, s->count + 1);
	} else {
		/* replaced in place: e holds the previous key and value */
		old = nt_container_of(ck_ht_entry_key(&e), struct nt_key, name);
		nt_retire(&s->rec, &old->epoch_entry, nt_key_reclaim);
	}
	ret = 0;
out:
	if (s != NULL)
		nt_shard_unlock(s);
	free(k);
	return ret;
}

int nametable_delete(struct nametable *t, const char *name, size_t len)
{
	char buf[NAMETABLE_NAME_MAX + 1];
	struct nt_key *old;
	struct nt_shard *s = NULL;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	int ret;

	ret = nametable_name_normalize(name, len, buf, sizeof(buf));
	if (ret < 0)
		goto out;
	len = (size_t)ret;
	h.value = nt_fold_hash(buf, len, buf, t->seed);

	s = nt_shard_of(t, h.value);
	nt_shard_lock(t, s);
	ck_ht_entry_key_set(&e, buf, (uint16_t)len);
	ret = AD_ENOTFOUND;
	if (!ck_ht_remove_spmc(&s->ht, h, &e))
		goto out;
	old = nt_container_of(ck_ht_entry_key(&e), struct nt_key, name);
	nt_retire(&s->rec, &old->epoch_entry, nt_key_reclaim);
	ck_pr_store_64(&s->count, s->count - 1);
	/* Tombstones are reused by later inserts, but until then they raise the probe
	 * bounds; ck_ht_gc compacts them and recomputes the bounds, once the deletes since
	 * the last one outnumber the names. */
	if (++s->dels_since_gc >= NT_GC_MIN && s->dels_since_gc >= s->count) {
		ck_ht_gc(&s->ht, 0, 0);
		s->dels_since_gc = 0;
	}
	ret = 0;
out:
	if (s != NULL)
		nt_shard_unlock(s);
	return ret;
}

size_t nametable_count(const struct nametable *t)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < t->nshards; i++)
		n += ck_pr_load_64(&t->shards[i].count);
	return (size_t)n;
}

int nametable_foreach(struct nametable *t, nametable_foreach_fn *fn, void *arg)
{
	ck_ht_iterator_t it;
	ck_ht_entry_t *e;
	unsigned i;
	int ret = 0;

	for (i = 0; i < t->nshards && ret == 0; i++) {
		struct nt_shard *s = &t->shards[i];

		nt_shard_lock(t, s);
		ck_ht_iterator_init(&it);
		while (ret == 0 && ck_ht_next(&s->ht, &it, &e)) {
			struct nt_key *k = nt_container_of(ck_ht_entry_key(e), struct nt_key, name);

			ret = fn(k->name, ck_ht_entry_key_length(e), k->value, arg);
		}
		nt_shard_unlock(s);
	}
	return ret;
}

void nametable_synchronize(struct nametable *t)
{
	unsigned i;

	for (i = 0; i < t->nshards; i++) {
		struct nt_shard *s = &t->shards[i];

		nt_shard_lock(t, s);
		if (s->rec.n_pending > 0)
			ck_epoch_barrier(&s->rec);
		nt_shard_unlock(s);
	}
}
