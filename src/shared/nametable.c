/*
 * Name table: sharded open-addressing maps with one writer mutex per shard, lock-free
 * readers and ck_epoch reclamation. See nametable.h for the contract.
 *
 * Layout. A shard's map is an array of 64-byte slots, one cache line each, probed
 * linearly. A slot holds the name's 64-bit hash (its tag), the value and the name itself
 * (names of up to 46 bytes, nearly all of them; a longer one is kept out of line and the
 * slot points to it). A lookup of a present name therefore touches the line of its home
 * slot and, at most about one time in two at the load we keep, the next one (prefetched
 * at the start), plus the table header, the shard's map pointer and the map's mask,
 * which are written only when a map is replaced and so stay in every reader's cache.
 * The shard is chosen from the high 32 bits of the hash, the home slot from bits 1 and
 * up (bit 0 is forced to 1 in a live tag), so a lookup hashes once, while it folds the
 * case, in one pass.
 *
 * Publication. A slot is written once: its name, length and value are stored while its
 * tag is 0 (empty), then the tag is published with a store fence. After that the name
 * never changes, so a reader that loaded a live tag can read it without a retry loop.
 * Only two stores ever reach a live slot: a new value pointer (set of a known name) and
 * the tombstone tag (delete). Tombstones are never reused in place (a reader might still
 * be comparing the old name): they count towards the load, and the map is rebuilt,
 * copied into a fresh array that is published with one pointer store, when live names and
 * tombstones reach half the slots; it doubles if at least a quarter are live.
 *
 * Life of an entry (all writer steps under the shard mutex):
 *   set (new name)      the slot is filled and its tag published
 *   set (known name)    the slot's value pointer is replaced; the old value is retired
 *   delete              the slot's tag becomes a tombstone; the value (and an
 *                       out-of-line name) are retired
 *   rebuild             live slots are copied to a new map; the old map is retired
 *   retired             queued on the shard's epoch record (ck_epoch_call) and freed by a
 *                       later ck_epoch_poll / ck_epoch_barrier on that record once no
 *                       reader can still hold it
 *
 * Every shard has its own writer epoch record, used only under the shard mutex, so
 * ck_epoch_call's single-producer queue is safe and writers of different shards reclaim
 * independently. Readers' records are the reader handles.
 */
#include "namehash.h"
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
#include <ck_pr.h>

#include "error.h"

#define NT_CACHELINE 64
#define NT_MAP_INITIAL 64     /* initial slots of a shard's map */
#define NT_POLL_MIN 32        /* retired objects per shard before a write polls the epoch */
#define NT_PENDING_MAX 1024   /* retired objects per shard before a write waits for them */
#define NT_INLINE 46          /* longest name kept in its slot (and a NUL) */

#define NT_EMPTY 0u           /* slot tags: never used */
#define NT_TOMB 2u            /* deleted; live tags are odd (hash | 1) */

#define nt_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* One cache line. name/len are written before the tag is published and never after. */
struct nt_slot {
	uint64_t tag;  /* NT_EMPTY, NT_TOMB or hash | 1 */
	void *value;   /* replaced in place by set (ck_pr_store_ptr) */
	union {
		struct {
			uint8_t len;
			char name[NT_INLINE + 1];
		} in;  /* len <= NT_INLINE */
		struct {
			uint8_t len;
			char pad[7];
			char *name;
		} out; /* len > NT_INLINE */
	} u;
};

struct nt_map {
	ck_epoch_entry_t epoch_entry; /* used once retired */
	size_t maplen;                /* 0: from aligned_alloc; else its own mapping's length */
	uint64_t mask;                /* slots - 1 */
	struct nt_slot slots[] __attribute__((aligned(NT_CACHELINE)));
};

struct nt_shard {
	struct nt_map *map; /* read by readers; written only when a map is replaced */
	/* writer side, under lock */
	pthread_mutex_t lock __attribute__((aligned(NT_CACHELINE)));
	uint64_t count;     /* names in the shard; ck_pr loads from any thread */
	uint64_t used;      /* live slots and tombstones in map */
	ck_epoch_record_t rec; /* this shard's writer record */
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

/* A value (and maybe an out-of-line name) unlinked by a writer, awaiting reclamation. */
struct nt_retired {
	ck_epoch_entry_t epoch_entry;
	nametable_free_fn *value_free;
	void *value;
	char *name;
};

_Static_assert(sizeof(struct nt_slot) == NT_CACHELINE, "a slot is one cache line");

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

/* --- slots and maps --- */

/* A name's home slot: bits 1 and up of its hash (bit 0 is forced in the tag, the high
 * half picks the shard). Also works on a live tag. */
static inline uint64_t nt_home(const struct nt_map *m, uint64_t h)
{
	return (h >> 1) & m->mask;
}

static inline const char *nt_slot_name(const struct nt_slot *sl)
{
	return sl->u.in.len <= NT_INLINE ? sl->u.in.name : sl->u.out.name;
}

/*
 * The live slot of name (normalised, hash h) in map, or NULL. Readers and writers share
 * it: a live tag is loaded before the name it publishes (load fence), and a live slot's
 * name never changes. The map always has empty slots (at most half are used), so the
 * probe ends.
 */
static inline struct nt_slot *nt_map_find(const struct nt_map *m, uint64_t h, const char *name,
					  size_t len)
{
	uint64_t mask = m->mask, i = nt_home(m, h), tag, want = h | 1;
	struct nt_slot *sl;

	/* a probe runs past its home slot about one time in two: start that line too */
	__builtin_prefetch(&m->slots[(i + 1) & mask]);
	for (;; i = (i + 1) & mask) {
		sl = (struct nt_slot *)&m->slots[i];
		tag = ck_pr_load_64(&sl->tag);
		if (tag == want) {
			ck_pr_fence_load();
			if (sl->u.in.len == len && memcmp(nt_slot_name(sl), name, len) == 0)
				return sl;
		} else if (tag == NT_EMPTY) {
			return NULL;
		}
	}
}

/* The empty slot where a name of hash h goes in m (writer; m has no such name). */
static struct nt_slot *nt_map_free_slot(struct nt_map *m, uint64_t h)
{
	uint64_t i = nt_home(m, h);

	while (m->slots[i].tag != NT_EMPTY)
		i = (i + 1) & m->mask;
	return &m->slots[i];
}

/*
 * Maps of 2 MiB and more (a shard of some 8k names and up) get their own mapping with
 * transparent huge pages: a lookup touches one random slot, and with 4 KiB pages that
 * costs a TLB miss (a nested page walk on a VM) on top of the cache miss.
 */
#define NT_HUGE (2u << 20)

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

/* An empty map of `slots` slots (a power of two), or NULL. */
static struct nt_map *nt_map_new(uint64_t slots)
{
	size_t len = sizeof(struct nt_map) + slots * sizeof(struct nt_slot);
	struct nt_map *m;

	if (len >= NT_HUGE) {
		len = (len + 4095) & ~(size_t)4095;
		m = nt_map_huge(len); /* zero-filled */
		if (m == NULL)
			return NULL;
		m->maplen = len;
	} else {
		m = aligned_alloc(NT_CACHELINE, len);
		if (m == NULL)
			return NULL;
		memset(m, 0, len);
		m->maplen = 0;
	}
	m->mask = slots - 1;
	return m;
}

static void nt_map_free(struct nt_map *m)
{
	if (m == NULL)
		return;
	if (m->maplen != 0)
		munmap(m, m->maplen);
	else
		free(m);
}

static void nt_map_reclaim(ck_epoch_entry_t *e)
{
	nt_map_free(nt_container_of(e, struct nt_map, epoch_entry));
}

static void nt_retired_reclaim(ck_epoch_entry_t *e)
{
	struct nt_retired *d = nt_container_of(e, struct nt_retired, epoch_entry);

	if (d->value_free != NULL)
		d->value_free(d->value);
	free(d->name);
	free(d);
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

/* Retire an unlinked value and out-of-line name (may be NULL). Without memory for the
 * record, wait for a grace period and free them now. */
static void nt_retire_value(struct nametable *t, struct nt_shard *s, void *value, char *name)
{
	struct nt_retired *d = malloc(sizeof(*d));

	if (d == NULL) {
		ck_pr_fence_memory();
		ck_epoch_synchronize(&s->rec);
		if (t->value_free != NULL)
			t->value_free(value);
		free(name);
		return;
	}
	d->value_free = t->value_free;
	d->value = value;
	d->name = name;
	nt_retire(&s->rec, &d->epoch_entry, nt_retired_reclaim);
}

/*
 * Replace s's map by a fresh copy without tombstones, twice as large if at least a quarter
 * of the slots are live. The copy is filled before it is published; readers still in the
 * old map see its (unchanging) slots until they leave their section. Returns 0 or -ENOMEM.
 */
static int nt_shard_rebuild(struct nt_shard *s)
{
	struct nt_map *old = s->map, *m;
	uint64_t slots = old->mask + 1, i;

	if (s->count >= slots / 4)
		slots *= 2;
	m = nt_map_new(slots);
	if (m == NULL)
		return -ENOMEM;
	for (i = 0; i <= old->mask; i++) {
		const struct nt_slot *sl = &old->slots[i];

		if (sl->tag != NT_EMPTY && sl->tag != NT_TOMB)
			*nt_map_free_slot(m, sl->tag) = *sl;
	}
	s->used = s->count;
	ck_pr_fence_store();
	ck_pr_store_ptr(&s->map, m);
	nt_retire(&s->rec, &old->epoch_entry, nt_map_reclaim);
	return 0;
}

static void nt_shard_lock(struct nt_shard *s)
{
	pthread_mutex_lock(&s->lock);
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
	return namehash_fmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)&ts);
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

		s->map = nt_map_new(NT_MAP_INITIAL);
		if (s->map == NULL)
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
	unsigned i;
	uint64_t j;

	if (t == NULL)
		return;
	for (i = 0; i < t->nshards; i++) {
		struct nt_shard *s = &t->shards[i];
		struct nt_map *m = s->map;

		/* no reader is inside a section: every retired object can go now */
		ck_epoch_reclaim(&s->rec);
		for (j = 0; j <= m->mask; j++) {
			struct nt_slot *sl = &m->slots[j];

			if (sl->tag == NT_EMPTY || sl->tag == NT_TOMB)
				continue;
			if (t->value_free != NULL)
				t->value_free(sl->value);
			if (sl->u.in.len > NT_INLINE)
				free(sl->u.out.name);
		}
		nt_map_free(m);
		pthread_mutex_destroy(&s->lock);
	}
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
	const struct nt_shard *s;
	const struct nt_slot *sl;
	const void *v;
	uint64_t h;

	assert(r != NULL && r->table == t && r->rec.active > 0);
	(void)r;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAMETABLE_NAME_MAX)
		return NULL;
	h = namehash_fold(name, len, buf, t->seed);
	s = nt_shard_of(t, h);
	sl = nt_map_find(ck_pr_load_ptr(&s->map), h, buf, len);
	if (sl == NULL)
		return NULL;
	v = ck_pr_load_ptr(&sl->value);
	ck_pr_fence_load(); /* the value's contents after its pointer */
	return v;
}

/* --- writers --- */

int nametable_set(struct nametable *t, const char *name, size_t len, void *value)
{
	char buf[NAMETABLE_NAME_MAX + 1];
	struct nt_shard *s = NULL;
	struct nt_slot *sl;
	char *longname = NULL;
	void *old;
	uint64_t h;
	int ret;

	ret = -EINVAL;
	if (value == NULL)
		goto out;
	ret = nametable_name_normalize(name, len, buf, sizeof(buf));
	if (ret < 0)
		goto out;
	len = (size_t)ret;
	h = namehash_fold(buf, len, buf, t->seed);

	s = nt_shard_of(t, h);
	nt_shard_lock(s);
	sl = nt_map_find(s->map, h, buf, len);
	if (sl != NULL) {
		/* a known name: publish the new value (its contents first), retire the old */
		old = sl->value;
		ck_pr_fence_store();
		ck_pr_store_ptr(&sl->value, value);
		nt_retire_value(t, s, old, NULL);
		ret = 0;
		goto out;
	}
	ret = -ENOMEM;
	if (len > NT_INLINE) {
		longname = malloc(len + 1);
		if (longname == NULL)
			goto out;
		memcpy(longname, buf, len + 1);
	}
	if ((s->used + 1) * 2 > s->map->mask + 1 && nt_shard_rebuild(s) != 0)
		goto out; /* nothing was published */
	sl = nt_map_free_slot(s->map, h);
	sl->value = value;
	sl->u.in.len = (uint8_t)len;
	if (longname != NULL)
		sl->u.out.name = longname;
	else
		memcpy(sl->u.in.name, buf, len + 1);
	longname = NULL;
	ck_pr_fence_store(); /* the slot and the value's contents before the tag */
	ck_pr_store_64(&sl->tag, h | 1);
	s->used++;
	ck_pr_store_64(&s->count, s->count + 1);
	ret = 0;
out:
	if (s != NULL)
		nt_shard_unlock(s);
	free(longname);
	return ret;
}

int nametable_delete(struct nametable *t, const char *name, size_t len)
{
	char buf[NAMETABLE_NAME_MAX + 1];
	struct nt_shard *s = NULL;
	struct nt_slot *sl;
	uint64_t h;
	int ret;

	ret = nametable_name_normalize(name, len, buf, sizeof(buf));
	if (ret < 0)
		goto out;
	len = (size_t)ret;
	h = namehash_fold(buf, len, buf, t->seed);

	s = nt_shard_of(t, h);
	nt_shard_lock(s);
	ret = AD_ENOTFOUND;
	sl = nt_map_find(s->map, h, buf, len);
	if (sl == NULL)
		goto out;
	/* the slot stays a tombstone (still counted in used) until the next rebuild */
	ck_pr_store_64(&sl->tag, NT_TOMB);
	nt_retire_value(t, s, sl->value, len > NT_INLINE ? sl->u.out.name : NULL);
	ck_pr_store_64(&s->count, s->count - 1);
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
	unsigned i;
	uint64_t j;
	int ret = 0;

	for (i = 0; i < t->nshards && ret == 0; i++) {
		struct nt_shard *s = &t->shards[i];
		const struct nt_map *m;

		nt_shard_lock(s);
		m = s->map;
		for (j = 0; ret == 0 && j <= m->mask; j++) {
			const struct nt_slot *sl = &m->slots[j];

			if (sl->tag != NT_EMPTY && sl->tag != NT_TOMB)
				ret = fn(nt_slot_name(sl), sl->u.in.len, sl->value, arg);
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

		nt_shard_lock(s);
		if (s->rec.n_pending > 0)
			ck_epoch_barrier(&s->rec);
		nt_shard_unlock(s);
	}
}
