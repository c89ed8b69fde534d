/*
 * Benchmark: name table lookups, ours (sharded maps of one-line slots, lock-free readers
 * in ck_epoch sections) against the usual alternative, one pthread_rwlock over a chained
 * hash table (load factor about 1, the hash kept in each node), in the same process and
 * run. Both use the same allocator (jemalloc); ours puts its large maps on huge pages,
 * the peer's bucket array and nodes are plain jemalloc memory.
 *
 * Both tables hold the same N names (default 1M) and do the same work per lookup: fold
 * the case and hash with the same function (copied below), probe, compare. Only the table
 * and its synchronisation differ: ours opens and closes an epoch section per lookup, the
 * peer takes and drops the read lock. Each reader thread (pinned, one per core) looks up
 * a pre-generated random sequence of existing names stored one after the other, so key
 * generation and key fetch are not measured. Reported: ns per lookup per thread (mean
 * over threads), the median of the repetitions, and peer/ours.
 *
 * Output: table rows "what | ours | peer | ratio | target" (bench/shared/run prints the
 * header). Options: see usage().
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "namehash.h"
#include "nametable.h"

#define KEY_SLOT 48 /* one pre-generated lookup: expected value, length, name */
#define MAX_THREADS 2

struct key_slot {
	const void *expect; /* the value the lookup must return (NULL: a missing name) */
	uint8_t len;
	char name[KEY_SLOT - 9];
};

/* --- the peer: one rwlock over a chained hash table --- */

struct bnode {
	struct bnode *next;
	uint64_t hash;
	void *value;
	uint16_t len;
	char name[];
};

struct btable {
	pthread_rwlock_t lock;
	struct bnode **buckets;
	uint64_t mask;
	uint64_t seed;
};

static int btable_init(struct btable *b, size_t n)
{
	size_t cap = 1;

	while (cap < n)
		cap <<= 1;
	b->buckets = calloc(cap, sizeof(*b->buckets));
	if (b->buckets == NULL)
		return -ENOMEM;
	b->mask = cap - 1;
	b->seed = 0x5eedf00dULL;
	pthread_rwlock_init(&b->lock, NULL);
	return 0;
}

static int btable_set(struct btable *b, const char *name, size_t len, void *value)
{
	char buf[NAMETABLE_NAME_MAX];
	uint64_t h = namehash_fold(name, len, buf, b->seed);
	struct bnode *n = malloc(sizeof(*n) + len), **head;

	if (n == NULL)
		return -ENOMEM;
	n->hash = h;
	n->value = value;
	n->len = (uint16_t)len;
	memcpy(n->name, buf, len);
	pthread_rwlock_wrlock(&b->lock);
	head = &b->buckets[h & b->mask];
	n->next = *head;
	*head = n;
	pthread_rwlock_unlock(&b->lock);
	return 0;
}

static const void *btable_lookup(struct btable *b, const char *name, size_t len)
{
	char buf[NAMETABLE_NAME_MAX];
	const struct bnode *n;
	const void *v = NULL;
	uint64_t h;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAMETABLE_NAME_MAX)
		return NULL;
	h = namehash_fold(name, len, buf, b->seed);
	pthread_rwlock_rdlock(&b->lock);
	for (n = b->buckets[h & b->mask]; n != NULL; n = n->next)
		if (n->hash == h && n->len == len && memcmp(n->name, buf, len) == 0) {
			v = n->value;
			break;
		}
	pthread_rwlock_unlock(&b->lock);
	return v;
}

static void btable_deinit(struct btable *b)
{
	for (uint64_t i = 0; i <= b->mask; i++)
		for (struct bnode *n = b->buckets[i], *next; n != NULL; n = next) {
			next = n->next;
			free(n);
		}
	free(b->buckets);
	pthread_rwlock_destroy(&b->lock);
}

/* --- the run --- */

/*
 * One lookup each way, as the relay does it per connection. Not inlined, so that
 * valgrind --tool=callgrind --toggle-collect=ours_lookup_one --toggle-collect=peer_lookup_one
 * counts exactly the lookups (instructions, and cache misses with --cache-sim=yes).
 */
__attribute__((noinline)) const void *ours_lookup_one(struct nametable *t,
						       struct nametable_reader *r,
						       const char *name, size_t len);
__attribute__((noinline)) const void *ours_lookup_one(struct nametable *t,
						       struct nametable_reader *r,
						       const char *name, size_t len)
{
	const void *v;

	nametable_read_begin(r);
	v = nametable_lookup(t, r, name, len);
	nametable_read_end(r);
	return v;
}

__attribute__((noinline)) const void *peer_lookup_one(struct btable *b, const char *name,
						       size_t len);
__attribute__((noinline)) const void *peer_lookup_one(struct btable *b, const char *name,
						       size_t len)
{
	return btable_lookup(b, name, len);
}

/* One data set: the same names in both tables, and each thread's lookup sequence. */
struct dataset {
	size_t names;
	struct nametable *ours;
	struct btable peer;
	char *values;                      /* value of name i: &values[i] */
	struct key_slot *keys[2][MAX_THREADS]; /* [HIT]: names in the tables, [MISS]: not */
	size_t nkeys[2];                   /* per thread */
};

enum { HIT, MISS };

enum { OURS, PEER };

struct bench {
	struct dataset *ds;
	int set;                     /* HIT or MISS */
	int threads;
	int blocks;                  /* timed blocks per side */
	size_t block;                /* lookups per block */
	pthread_barrier_t start;
	double *ns[MAX_THREADS][2];  /* per thread, per side: ns per lookup of each block */
	unsigned long wrong;
};

struct worker_arg {
	struct bench *b;
	int id;
};

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Blocks alternate between the two tables in ABBA order, every thread on the same side at
 * the same time (a barrier before each block), so both sides see the same machine: on a
 * shared host the noise of other work lands on both, and the median of the blocks drops
 * the blocks where a thread was preempted.
 */
static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct bench *b = a->b;
	struct dataset *ds = b->ds;
	const struct key_slot *keys = ds->keys[b->set][a->id];
	struct nametable_reader *r = nametable_reader_register(ds->ours);
	unsigned long wrong = 0;
	size_t pos = 0;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a->id % sysconf(_SC_NPROCESSORS_ONLN), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (int blk = -2; blk < 2 * b->blocks; blk++) { /* two untimed warm-up blocks */
		int side = ((blk + 4) % 4 == 1 || (blk + 4) % 4 == 2) ? PEER : OURS;
		const struct key_slot *k;
		double t0;

		if (pos + b->block > ds->nkeys[b->set])
			pos = 0;
		k = keys + pos;
		pos += b->block;
		pthread_barrier_wait(&b->start);
		t0 = now_ns();
		if (side == PEER) {
			for (size_t i = 0; i < b->block; i++) {
				const void *v = peer_lookup_one(&ds->peer, k[i].name, k[i].len);
				wrong += v != k[i].expect;
			}
		} else {
			for (size_t i = 0; i < b->block; i++) {
				const void *v = ours_lookup_one(ds->ours, r, k[i].name, k[i].len);
				wrong += v != k[i].expect;
			}
		}
		if (blk >= 0)
			b->ns[a->id][side][blk / 2] = (now_ns() - t0) / (double)b->block;
	}
	__atomic_add_fetch(&b->wrong, wrong, __ATOMIC_RELAXED);
	nametable_reader_unregister(r);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

/* Median over blocks of the mean over threads, for each side. Returns 0 or -1. */
static int measure(struct dataset *ds, int set, int threads, int blocks, size_t block,
		   double out[2], unsigned long *wrong)
{
	struct bench b = { .ds = ds, .set = set, .threads = threads, .blocks = blocks,
			   .block = block };
	pthread_t tid[MAX_THREADS];
	struct worker_arg args[MAX_THREADS];
	double *mean[2] = { calloc((size_t)blocks, sizeof(double)),
			    calloc((size_t)blocks, sizeof(double)) };
	int ret = -1;

	if (mean[0] == NULL || mean[1] == NULL)
		goto out;
	for (int t = 0; t < threads; t++)
		for (int side = 0; side < 2; side++)
			if ((b.ns[t][side] = calloc((size_t)blocks, sizeof(double))) == NULL)
				goto out;
	pthread_barrier_init(&b.start, NULL, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		args[t] = (struct worker_arg){ &b, t };
		pthread_create(&tid[t], NULL, worker, &args[t]);
	}
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	pthread_barrier_destroy(&b.start);
	for (int side = 0; side < 2; side++) {
		for (int i = 0; i < blocks; i++) {
			for (int t = 0; t < threads; t++)
				mean[side][i] += b.ns[t][side][i];
			mean[side][i] /= threads;
		}
		qsort(mean[side], (size_t)blocks, sizeof(double), cmp_double);
		out[side] = mean[side][blocks / 2];
	}
	*wrong += b.wrong;
	ret = 0;
out:
	for (int t = 0; t < MAX_THREADS; t++)
		for (int side = 0; side < 2; side++)
			free(b.ns[t][side]);
	free(mean[0]);
	free(mean[1]);
	return ret;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Write name i into name (KEY_SLOT - 9 bytes); returns -1 if it does not fit. */
static int make_name(char *name, uint64_t *seed, size_t i)
{
	char word[16], buf[128];
	int wl = 6 + (int)(xorshift(seed) % 7), n;

	for (int j = 0; j < wl; j++)
		word[j] = (char)('a' + xorshift(seed) % 26);
	word[wl] = '\0';
	n = snprintf(buf, sizeof(buf), "%s-%zu.u%zu.a.airdr.es", word, i, i % 997);
	if (n < 0 || n >= KEY_SLOT - 9)
		return -1;
	memcpy(name, buf, (size_t)n + 1);
	return 0;
}

/* names "<6-12 random letters>-<i>.u<i % 997>.a.airdr.es", i < names in both tables;
 * the missing names have i >= names */
static int dataset_build(struct dataset *ds, size_t names, size_t nhit, size_t nmiss,
			 uint64_t seed)
{
	char *storage = malloc(names * KEY_SLOT);
	int ret = -1;

	ds->names = names;
	ds->nkeys[HIT] = nhit;
	ds->nkeys[MISS] = nmiss;
	ds->values = malloc(names);
	ds->ours = nametable_create(0, NULL);
	if (storage == NULL || ds->values == NULL || ds->ours == NULL ||
	    btable_init(&ds->peer, names) != 0)
		goto out;
	for (size_t i = 0; i < names; i++) {
		char *name = storage + i * KEY_SLOT;

		if (make_name(name, &seed, i) != 0) {
			fprintf(stderr, "too many names\n");
			goto out;
		}
		if (nametable_set(ds->ours, name, strlen(name), &ds->values[i]) != 0 ||
		    btable_set(&ds->peer, name, strlen(name), &ds->values[i]) != 0) {
			fprintf(stderr, "insert failed at %zu\n", i);
			goto out;
		}
	}
	for (int set = HIT; set <= MISS; set++)
		for (int t = 0; t < MAX_THREADS; t++) {
			ds->keys[set][t] = malloc(ds->nkeys[set] * sizeof(struct key_slot));
			if (ds->keys[set][t] == NULL)
				goto out;
			for (size_t i = 0; i < ds->nkeys[set]; i++) {
				size_t idx = xorshift(&seed) % names;
				struct key_slot *k = &ds->keys[set][t][i];

				if (set == HIT) {
					strcpy(k->name, storage + idx * KEY_SLOT);
					k->expect = &ds->values[idx];
				} else {
					if (make_name(k->name, &seed, names + idx) != 0)
						goto out;
					k->expect = NULL;
				}
				k->len = (uint8_t)strlen(k->name);
			}
		}
	ret = 0;
out:
	free(storage);
	return ret;
}

static void dataset_free(struct dataset *ds)
{
	for (int set = HIT; set <= MISS; set++)
		for (int t = 0; t < MAX_THREADS; t++)
			free(ds->keys[set][t]);
	if (ds->peer.buckets != NULL)
		btable_deinit(&ds->peer);
	nametable_destroy(ds->ours);
	free(ds->values);
}

static void row(const char *what, const double ns[2], const char *target)
{
	printf("%s | %.0f | %.0f | %.1fx | %s\n", what, ns[OURS], ns[PEER], ns[PEER] / ns[OURS],
	       target);
	fflush(stdout);
}

/* 1000000 -> "1M", 2000 -> "2k" */
static const char *count(size_t n, char *buf, size_t cap)
{
	if (n >= 1000000 && n % 1000000 == 0)
		snprintf(buf, cap, "%zuM", n / 1000000);
	else if (n >= 1000 && n % 1000 == 0)
		snprintf(buf, cap, "%zuk", n / 1000);
	else
		snprintf(buf, cap, "%zu", n);
	return buf;
}

int main(int argc, char **argv)
{
	size_t names = 1000000, small = 1000, block = 20000;
	int blocks = 25, opt, max_threads = MAX_THREADS;
	bool only_hits = false;
	struct dataset big = { 0 }, hot = { 0 };
	unsigned long wrong = 0;
	double ns[2];
	char what[128], num[32];
	int ret = 1;

	while ((opt = getopt(argc, argv, "n:s:b:k:1")) != -1) {
		switch (opt) {
		case 'n': names = strtoull(optarg, NULL, 10); break;
		case 's': small = strtoull(optarg, NULL, 10); break;
		case 'b': blocks = atoi(optarg); break;
		case 'k': block = strtoull(optarg, NULL, 10); break;
		case '1': max_threads = 1; only_hits = true; break;
		default:
			fprintf(stderr, "usage: %s [-n names] [-s small-table names] "
				"[-b blocks per side] [-k lookups per block] [-1: one thread, hits "
				"only, for valgrind]\n", argv[0]);
			return 2;
		}
	}
	if (names == 0 || small == 0 || blocks < 1 || block == 0)
		return 2;

	if (dataset_build(&big, names, 1000000, 200000, 0x9e3779b97f4a7c15ULL) != 0)
		goto out;
	for (int threads = 1; threads <= max_threads; threads++) {
		if (measure(&big, HIT, threads, blocks, block, ns, &wrong) != 0)
			goto out;
		snprintf(what, sizeof(what), "nametable lookup ns, %d thread%s, %s names", threads,
			 threads > 1 ? "s" : "", count(names, num, sizeof(num)));
		row(what, ns, threads > 1 ? ">= 2x" : "-");
	}
	if (only_hits)
		goto check;
	/* names that are not there (unknown Host / SNI) */
	if (measure(&big, MISS, 2, blocks, block, ns, &wrong) != 0)
		goto out;
	snprintf(what, sizeof(what), "nametable miss ns, 2 threads, %s names",
		 count(names, num, sizeof(num)));
	row(what, ns, "-");
	/* a table that stays in cache: what the synchronisation itself costs */
	if (dataset_build(&hot, small, 200000, 1000, 0x2545f4914f6cdd1dULL) != 0 ||
	    measure(&hot, HIT, 2, blocks, block, ns, &wrong) != 0)
		goto out;
	snprintf(what, sizeof(what), "nametable lookup ns, 2 threads, %s names (in cache)",
		 count(small, num, sizeof(num)));
	row(what, ns, "-");
check:
	if (wrong != 0) {
		fprintf(stderr, "%lu lookups returned a wrong value\n", wrong);
		goto out;
	}
	ret = 0;
out:
	dataset_free(&big);
	dataset_free(&hot);
	return ret;
}
