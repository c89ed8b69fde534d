/* Unit tests: sharded name table (open-addressing shards, lock-free readers, ck_epoch
 * reclamation). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "nametable.h"

/* --- values that know whether they were freed --- */

#define MAGIC_LIVE 0x4e414d45544142ULL /* "NAMETAB" */
#define MAGIC_DEAD 0xdeaddeaddeaddeadULL

struct tval {
	uint64_t magic;
	uint64_t gen;
	uint32_t key;
	uint32_t id;
	uint64_t check; /* f(magic, gen, key): catches a torn or recycled block */
};

#define MAX_IDS 400000
static atomic_uint freed_by_id[MAX_IDS];
static atomic_ulong n_created, n_freed, n_bad_free;

static uint64_t tval_check(uint64_t gen, uint32_t key)
{
	return MAGIC_LIVE ^ (gen * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)key << 7);
}

static struct tval *tval_new(uint32_t id, uint32_t key, uint64_t gen)
{
	struct tval *v = malloc(sizeof(*v));

	cr_assert_not_null(v);
	v->magic = MAGIC_LIVE;
	v->gen = gen;
	v->key = key;
	v->id = id;
	v->check = tval_check(gen, key);
	atomic_fetch_add(&n_created, 1);
	return v;
}

/* value_free: count, poison, free. A reader that sees a poisoned value read freed memory. */
static void tval_free(void *p)
{
	struct tval *v = p;

	if (v->magic != MAGIC_LIVE) {
		atomic_fetch_add(&n_bad_free, 1);
		return;
	}
	if (v->id < MAX_IDS)
		atomic_fetch_add(&freed_by_id[v->id], 1);
	v->magic = MAGIC_DEAD;
	v->gen = 0;
	v->key = UINT32_MAX;
	v->check = 0;
	atomic_fetch_add(&n_freed, 1);
	free(v);
}

static const struct tval *lookup(struct nametable *t, struct nametable_reader *r,
				 const char *name)
{
	return nametable_lookup(t, r, name, strlen(name));
}

static int set(struct nametable *t, const char *name, void *v)
{
	return nametable_set(t, name, strlen(name), v);
}

/* --- name normalisation --- */

static int norm(const char *in, char *out)
{
	return nametable_name_normalize(in, strlen(in), out, NAMETABLE_NAME_MAX + 1);
}

Test(nametable, normalize_valid_names)
{
	char out[NAMETABLE_NAME_MAX + 1];

	cr_assert_eq(norm("MyApp.A.AirDr.ES.", out), 16);
	cr_assert_str_eq(out, "myapp.a.airdr.es");
	cr_assert_eq(norm("a-b_c.0-9", out), 9);
	cr_assert_str_eq(out, "a-b_c.0-9");
	cr_assert_eq(norm("*.Example.com", out), 13);
	cr_assert_str_eq(out, "*.example.com");
	cr_assert_eq(norm("*", out), 1);
	cr_assert_eq(norm("x", out), 1);

	char in[] = "In.Place.";
	cr_assert_eq(nametable_name_normalize(in, strlen(in), in, sizeof(in)), 8);
	cr_assert_str_eq(in, "in.place");
}

Test(nametable, normalize_rejects_bad_names)
{
	char out[NAMETABLE_NAME_MAX + 1];
	const char *parse[] = { "", ".", "..", "a..b", ".a", "a..", "a b", "a/b", "a*.b", "*a.b",
				"b.*", "a.*.b", "**.b", "caf\xc3\xa9.fr" };

	for (size_t i = 0; i < sizeof(parse) / sizeof(parse[0]); i++)
		cr_assert_eq(norm(parse[i], out), AD_EPARSE, "'%s' is not a valid name", parse[i]);
	cr_assert_eq(nametable_name_normalize("a\0b", 3, out, sizeof(out)), AD_EPARSE);

	/* labels: 63 ok, 64 too big */
	char name[300];
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	cr_assert_eq(norm(name, out), 67);
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	cr_assert_eq(norm(name, out), AD_ETOOBIG);

	/* total: 253 ok (254 with the trailing dot), 254 too big */
	for (int i = 0; i < 253; i++)
		name[i] = (i % 50 == 49) ? '.' : 'b';
	name[253] = '\0';
	cr_assert_eq(norm(name, out), 253);
	name[253] = '.';
	name[254] = '\0';
	cr_assert_eq(norm(name, out), 253);
	name[253] = 'b';
	cr_assert_eq(norm(name, out), AD_ETOOBIG);

	/* the output must hold the name and a NUL */
	cr_assert_eq(nametable_name_normalize("abc", 3, out, 3), AD_ENOSPACE);
	cr_assert_eq(nametable_name_normalize("abc.", 4, out, 4), 3);
}

/* --- single-threaded behaviour --- */

Test(nametable, set_lookup_replace_delete)
{
	struct nametable *t = nametable_create(4, tval_free);
	cr_assert_not_null(t);
	struct nametable_reader *r = nametable_reader_register(t);
	cr_assert_not_null(r);

	struct tval *a = tval_new(1, 1, 1), *b = tval_new(2, 2, 1), *a2 = tval_new(3, 1, 2);
	cr_assert_eq(set(t, "a.example.com", a), 0);
	cr_assert_eq(set(t, "b.example.com", b), 0);
	cr_assert_eq(nametable_count(t), 2);

	nametable_read_begin(r);
	cr_assert_eq(lookup(t, r, "a.example.com"), a);
	cr_assert_eq(lookup(t, r, "b.example.com"), b);
	cr_assert_null(lookup(t, r, "c.example.com"));
	cr_assert_null(lookup(t, r, "example.com"));
	nametable_read_end(r);

	/* replace: the old value lives until a grace period has passed */
	cr_assert_eq(set(t, "a.example.com", a2), 0);
	cr_assert_eq(nametable_count(t), 2);
	nametable_read_begin(r);
	cr_assert_eq(lookup(t, r, "a.example.com"), a2);
	nametable_read_end(r);
	nametable_synchronize(t);
	cr_assert_eq(atomic_load(&freed_by_id[1]), 1, "the replaced value is freed once");
	cr_assert_eq(atomic_load(&freed_by_id[3]), 0);

	/* delete */
	cr_assert_eq(nametable_delete(t, "b.example.com", 13), 0);
	cr_assert_eq(nametable_delete(t, "b.example.com", 13), AD_ENOTFOUND);
	cr_assert_eq(nametable_delete(t, "nope.example.com", 16), AD_ENOTFOUND);
	cr_assert_eq(nametable_count(t), 1);
	nametable_read_begin(r);
	cr_assert_null(lookup(t, r, "b.example.com"));
	nametable_read_end(r);
	nametable_synchronize(t);
	cr_assert_eq(atomic_load(&freed_by_id[2]), 1, "the deleted value is freed once");

	/* re-insert after delete */
	struct tval *b2 = tval_new(4, 2, 2);
	cr_assert_eq(set(t, "b.example.com", b2), 0);
	nametable_read_begin(r);
	cr_assert_eq(lookup(t, r, "b.example.com"), b2);
	nametable_read_end(r);

	nametable_destroy(t);
	for (int id = 1; id <= 4; id++)
		cr_assert_eq(atomic_load(&freed_by_id[id]), 1, "value %d freed exactly once", id);
	cr_assert_eq(atomic_load(&n_bad_free), 0);
	nametable_destroy(NULL);
}

Test(nametable, case_insensitive_and_trailing_dot)
{
	struct nametable *t = nametable_create(0, tval_free);
	struct nametable_reader *r = nametable_reader_register(t);
	struct tval *v = tval_new(1, 1, 1);

	cr_assert_eq(set(t, "MyApp.A.AIRDR.es.", v), 0);
	nametable_read_begin(r);
	const char *forms[] = { "myapp.a.airdr.es", "MYAPP.A.AIRDR.ES", "myapp.a.airdr.es.",
				"mYaPp.A.aIrDr.Es." };
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(lookup(t, r, forms[i]), v, "lookup of %s", forms[i]);
	cr_assert_null(lookup(t, r, "myapp.a.airdr.es.."), "only one trailing dot is stripped");
	cr_assert_null(lookup(t, r, "myapp.a.airdr.e"));
	nametable_read_end(r);

	/* a write in another case hits the same entry */
	struct tval *v2 = tval_new(2, 1, 2);
	cr_assert_eq(set(t, "MYAPP.a.airdr.ES", v2), 0);
	cr_assert_eq(nametable_count(t), 1);
	cr_assert_eq(nametable_delete(t, "Myapp.A.Airdr.Es.", 17), 0);
	cr_assert_eq(nametable_count(t), 0);
	nametable_destroy(t);
	cr_assert_eq(atomic_load(&freed_by_id[1]), 1);
	cr_assert_eq(atomic_load(&freed_by_id[2]), 1);
}

Test(nametable, invalid_names_and_values)
{
	struct nametable *t = nametable_create(2, tval_free);
	struct nametable_reader *r = nametable_reader_register(t);
	struct tval *v = tval_new(1, 1, 1);
	char long_name[300];

	cr_assert_eq(set(t, "", v), AD_EPARSE);
	cr_assert_eq(set(t, ".", v), AD_EPARSE);
	cr_assert_eq(set(t, "a..b", v), AD_EPARSE);
	cr_assert_eq(set(t, "bad name.com", v), AD_EPARSE);
	memset(long_name, 'a', 70);
	long_name[70] = '\0';
	cr_assert_eq(set(t, long_name, v), AD_ETOOBIG);
	cr_assert_eq(nametable_set(t, "ok.com", 6, NULL), -EINVAL);
	cr_assert_eq(nametable_delete(t, "a..b", 4), AD_EPARSE);
	cr_assert_eq(nametable_count(t), 0);
	cr_assert_eq(atomic_load(&n_freed), 0, "a rejected value stays the caller's");

	/* lookups of impossible names find nothing and never crash */
	cr_assert_eq(set(t, "*.wild.com", v), 0);
	nametable_read_begin(r);
	cr_assert_eq(lookup(t, r, "*.WILD.com"), v);
	cr_assert_null(lookup(t, r, ""));
	cr_assert_null(lookup(t, r, "."));
	cr_assert_null(lookup(t, r, "x.wild.com"));
	for (int i = 0; i < 299; i++)
		long_name[i] = (i % 10 == 9) ? '.' : 'c';
	long_name[299] = '\0';
	cr_assert_null(lookup(t, r, long_name));
	cr_assert_null(nametable_lookup(t, r, "a\0b", 3));
	nametable_read_end(r);
	nametable_destroy(t);
	cr_assert_eq(atomic_load(&freed_by_id[1]), 1);
}

static int count_entry(const char *name, size_t len, void *value, void *arg)
{
	const struct tval *v = value;
	unsigned *seen = arg;
	char expect[64];

	snprintf(expect, sizeof(expect), "host-%u.user.a.airdr.es", v->key);
	cr_assert_eq(len, strlen(expect));
	cr_assert_str_eq(name, expect);
	seen[v->key]++;
	return 0;
}

static int stop_at_ten(const char *name, size_t len, void *value, void *arg)
{
	unsigned *n = arg;
	return ++*n == 10 ? 42 : 0;
}

#define MANY 100000

Test(nametable, many_names_across_shards, .timeout = 120)
{
	struct nametable *t = nametable_create(0, tval_free);
	struct nametable_reader *r = nametable_reader_register(t);
	char name[64];
	unsigned *seen = calloc(MANY, sizeof(*seen));

	for (uint32_t i = 0; i < MANY; i++) {
		int n = snprintf(name, sizeof(name), "HOST-%u.user.A.airdr.es.", i);
		cr_assert_eq(nametable_set(t, name, (size_t)n, tval_new(i, i, 1)), 0);
	}
	cr_assert_eq(nametable_count(t), MANY);

	nametable_read_begin(r);
	for (uint32_t i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "host-%u.user.a.airdr.es", i);
		const struct tval *v = lookup(t, r, name);
		cr_assert_not_null(v, "%s found", name);
		cr_assert_eq(v->key, i);
	}
	nametable_read_end(r);

	cr_assert_eq(nametable_foreach(t, count_entry, seen), 0);
	for (uint32_t i = 0; i < MANY; i++)
		cr_assert_eq(seen[i], 1, "foreach visits %u once", i);
	unsigned n = 0;
	cr_assert_eq(nametable_foreach(t, stop_at_ten, &n), 42);
	cr_assert_eq(n, 10);

	/* delete the even ones, replace the odd ones */
	for (uint32_t i = 0; i < MANY; i++) {
		int len = snprintf(name, sizeof(name), "host-%u.user.a.airdr.es", i);
		if (i % 2 == 0)
			cr_assert_eq(nametable_delete(t, name, (size_t)len), 0);
		else
			cr_assert_eq(nametable_set(t, name, (size_t)len,
						   tval_new(MANY + i, i, 2)), 0);
	}
	cr_assert_eq(nametable_count(t), MANY / 2);
	nametable_read_begin(r);
	for (uint32_t i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "host-%u.user.a.airdr.es", i);
		const struct tval *v = lookup(t, r, name);
		if (i % 2 == 0) {
			cr_assert_null(v);
		} else {
			cr_assert_not_null(v);
			cr_assert_eq(v->gen, 2);
		}
	}
	nametable_read_end(r);

	nametable_destroy(t);
	cr_assert_eq(atomic_load(&n_freed), atomic_load(&n_created));
	cr_assert_eq(atomic_load(&n_freed), MANY + MANY / 2);
	for (uint32_t i = 0; i < MANY + MANY; i++)
		cr_assert_leq(atomic_load(&freed_by_id[i]), 1, "value %u freed at most once", i);
	cr_assert_eq(atomic_load(&n_bad_free), 0);
	free(seen);
}

/* Every length from 1 to 253: names up to 46 bytes live in their slot, longer ones out of
 * line; the case fold and hash take names shorter than 8 bytes byte by byte and the tail
 * of longer ones as one overlapping word. */
static int name_of_length(char *out, size_t len, unsigned salt, bool upper)
{
	for (size_t i = 0; i < len; i++) {
		char c = (char)('a' + (i * 7 + salt) % 26);

		out[i] = (i % 50 == 49 && i + 1 < len) ? '.' : (upper && i % 3 == 0) ? (char)(c - 32) : c;
	}
	return (int)len;
}

static int length_entry(const char *name, size_t len, void *value, void *arg)
{
	const struct tval *v = value;
	unsigned *seen = arg;
	char expect[NAMETABLE_NAME_MAX + 1];

	cr_assert_eq(len, v->key);
	name_of_length(expect, len, (unsigned)len, false);
	expect[len] = '\0';
	cr_assert_str_eq(name, expect, "foreach gives the normalised, NUL-terminated name");
	seen[v->key]++;
	return 0;
}

Test(nametable, every_length_inline_and_out_of_line)
{
	struct nametable *t = nametable_create(2, tval_free);
	struct nametable_reader *r = nametable_reader_register(t);
	char name[NAMETABLE_NAME_MAX + 2];
	unsigned *seen = calloc(MANY, sizeof(*seen));

	for (uint32_t len = 1; len <= NAMETABLE_NAME_MAX; len++) {
		name_of_length(name, len, len, true);
		cr_assert_eq(nametable_set(t, name, len, tval_new(len, len, 1)), 0, "length %u", len);
	}
	cr_assert_eq(nametable_count(t), NAMETABLE_NAME_MAX);
	nametable_read_begin(r);
	for (uint32_t len = 1; len <= NAMETABLE_NAME_MAX; len++) {
		name_of_length(name, len, len, false);
		const struct tval *v = nametable_lookup(t, r, name, len);
		cr_assert_not_null(v, "length %u found", len);
		cr_assert_eq(v->key, len);
		name[len] = '.';
		cr_assert_eq(nametable_lookup(t, r, name, len + 1), v, "length %u and a dot", len);
		name_of_length(name, len, len + 1, false); /* same length, other bytes */
		cr_assert_null(nametable_lookup(t, r, name, len));
	}
	nametable_read_end(r);
	cr_assert_eq(nametable_foreach(t, length_entry, seen), 0);
	for (uint32_t len = 1; len <= NAMETABLE_NAME_MAX; len++)
		cr_assert_eq(seen[len], 1, "foreach visits length %u once", len);
	/* replace the odd lengths, delete the even ones */
	for (uint32_t len = 1; len <= NAMETABLE_NAME_MAX; len++) {
		name_of_length(name, len, len, false);
		if (len % 2 == 0)
			cr_assert_eq(nametable_delete(t, name, len), 0);
		else
			cr_assert_eq(nametable_set(t, name, len, tval_new(1000 + len, len, 2)), 0);
	}
	nametable_synchronize(t);
	nametable_read_begin(r);
	for (uint32_t len = 1; len <= NAMETABLE_NAME_MAX; len++) {
		name_of_length(name, len, len, true);
		const struct tval *v = nametable_lookup(t, r, name, len);
		if (len % 2 == 0) {
			cr_assert_null(v);
		} else {
			cr_assert_not_null(v);
			cr_assert_eq(v->gen, 2);
		}
	}
	nametable_read_end(r);
	nametable_destroy(t);
	cr_assert_eq(atomic_load(&n_freed), atomic_load(&n_created));
	cr_assert_eq(atomic_load(&n_bad_free), 0);
	free(seen);
}

Test(nametable, one_big_shard_grows_through_huge_maps, .timeout = 120)
{
	/* 200k names in one shard: its map grows past 2 MiB (own mapping, huge pages) and
	 * each outgrown map is retired through the epoch */
	struct nametable *t = nametable_create(1, tval_free);
	struct nametable_reader *r = nametable_reader_register(t);
	char name[64];

	for (uint32_t i = 0; i < 2 * MANY; i++) {
		int n = snprintf(name, sizeof(name), "b%u.example.net", i);
		cr_assert_eq(nametable_set(t, name, (size_t)n, tval_new(i, i, 1)), 0);
		if (i % 50000 == 0)
			nametable_synchronize(t);
	}
	nametable_read_begin(r);
	for (uint32_t i = 0; i < 2 * MANY; i += 7) {
		snprintf(name, sizeof(name), "B%u.EXAMPLE.net.", i);
		const struct tval *v = lookup(t, r, name);
		cr_assert_not_null(v);
		cr_assert_eq(v->key, i);
	}
	nametable_read_end(r);
	cr_assert_eq(nametable_count(t), 2 * MANY);
	nametable_destroy(t);
	cr_assert_eq(atomic_load(&n_freed), 2 * MANY);
}

Test(nametable, value_free_exactly_once_pending_and_live)
{
	/* values replaced with no synchronize are still pending at destroy: destroy frees
	 * them, and the live ones, each exactly once */
	struct nametable *t = nametable_create(1, tval_free);
	uint32_t id = 0;

	for (int round = 0; round < 50; round++)
		for (uint32_t k = 0; k < 100; k++) {
			char name[32];
			int n = snprintf(name, sizeof(name), "k%u.example", k);
			cr_assert_eq(nametable_set(t, name, (size_t)n, tval_new(id++, k, 1)), 0);
		}
	cr_assert_eq(nametable_count(t), 100);
	nametable_destroy(t);
	cr_assert_eq(atomic_load(&n_freed), id);
	for (uint32_t i = 0; i < id; i++)
		cr_assert_eq(atomic_load(&freed_by_id[i]), 1, "value %u freed once", i);

	/* no value_free: the table frees nothing it does not own */
	t = nametable_create(3, NULL);
	cr_assert_eq(nametable_set(t, "x.y", 3, &id), 0);
	cr_assert_eq(nametable_set(t, "x.y", 3, &id), 0);
	nametable_destroy(t);
}

Test(nametable, reader_handles_are_recycled)
{
	struct nametable *t = nametable_create(0, NULL);
	struct nametable_reader *a = nametable_reader_register(t);
	struct nametable_reader *b = nametable_reader_register(t);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	nametable_reader_unregister(a);
	struct nametable_reader *c = nametable_reader_register(t);
	cr_assert_eq(c, a, "an unregistered handle is reused");
	nametable_read_begin(c);
	nametable_read_begin(c); /* sections nest */
	cr_assert_null(lookup(t, c, "nothing.here"));
	nametable_read_end(c);
	nametable_read_end(c);
	nametable_reader_unregister(NULL);
	nametable_synchronize(t); /* no reader inside a section: returns at once */
	nametable_destroy(t);

	cr_assert_null(nametable_create(NAMETABLE_SHARDS_MAX + 1, NULL));
}

/* --- concurrency: readers on every core against a writer --- */

#define STRESS_KEYS 65536
#define STRESS_DEADLINE_S 40

struct stress {
	struct nametable *t;
	unsigned long nops;
	char names[STRESS_KEYS][80];     /* as the writer writes them */
	char upper[STRESS_KEYS][80];     /* as some readers look them up */
	size_t lens[STRESS_KEYS];
	size_t ulens[STRESS_KEYS];
	uint64_t model[STRESS_KEYS];     /* writer's view: gen, 0 = absent */
	atomic_bool stop;
	atomic_ulong lookups, hits, errors;
	atomic_ulong ops, sets, deletes;
	char first_error[160];
	pthread_mutex_t error_lock;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void stress_error(struct stress *st, const char *what, uint32_t key, uint64_t gen)
{
	if (atomic_fetch_add(&st->errors, 1) == 0) {
		pthread_mutex_lock(&st->error_lock);
		snprintf(st->first_error, sizeof(st->first_error), "%s (key %u gen %llu)", what,
			 key, (unsigned long long)gen);
		pthread_mutex_unlock(&st->error_lock);
	}
}

static void *stress_reader(void *arg)
{
	struct stress *st = arg;
	struct nametable_reader *r = nametable_reader_register(st->t);
	uint64_t *last = calloc(STRESS_KEYS, sizeof(*last));
	uint64_t seed = (uint64_t)(uintptr_t)&r ^ 0x9e3779b97f4a7c15ULL;
	unsigned long n = 0, hits = 0;

	if (r == NULL || last == NULL) {
		stress_error(st, "reader setup failed", 0, 0);
		goto out;
	}
	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		const struct tval *seen[4];
		uint64_t seen_gen[4];
		int nseen = 0;

		nametable_read_begin(r);
		/* a few lookups per section, as a worker handles a batch of completions */
		for (int i = 0; i < 4; i++) {
			uint32_t k = (uint32_t)(xorshift(&seed) % STRESS_KEYS);
			const char *name = (k & 1) ? st->upper[k] : st->names[k];
			size_t len = (k & 1) ? st->ulens[k] : st->lens[k];
			const struct tval *v = nametable_lookup(st->t, r, name, len);

			n++;
			if (v == NULL)
				continue;
			hits++;
			uint64_t magic = v->magic, gen = v->gen, check = v->check;
			uint32_t key = v->key;
			if (magic != MAGIC_LIVE)
				stress_error(st, "reader saw a freed value", k, gen);
			else if (key != k || check != tval_check(gen, key))
				stress_error(st, "reader saw a wrong or torn value", k, gen);
			else if (gen < last[k])
				stress_error(st, "reader saw a value older than one it saw before",
					     k, gen);
			else
				last[k] = gen;
			seen[nseen] = v;
			seen_gen[nseen++] = gen;
		}
		/* values stay valid until read_end, not just right after the lookup: now and
		 * then give the writer the core (it may replace or delete them meanwhile), then
		 * check them all again */
		if (n % 256 < 4)
			sched_yield();
		for (int i = 0; i < nseen; i++)
			if (seen[i]->magic != MAGIC_LIVE || seen[i]->gen != seen_gen[i] ||
			    seen[i]->check != tval_check(seen_gen[i], seen[i]->key))
				stress_error(st, "a value changed or was freed inside its section",
					     seen[i]->key, seen_gen[i]);
		nametable_read_end(r);
	}
out:
	atomic_fetch_add(&st->lookups, n);
	atomic_fetch_add(&st->hits, hits);
	free(last);
	nametable_reader_unregister(r);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *stress_writer(void *arg)
{
	struct stress *st = arg;
	uint64_t seed = 0x2545f4914f6cdd1dULL, gen = 0;
	double deadline = now_s() + STRESS_DEADLINE_S;
	unsigned long op;

	for (op = 0; op < st->nops; op++) {
		/* the key space widens over the first half of the ops so the shards keep
		 * growing (past the 2 MiB maps that take huge pages) while readers run */
		uint64_t span = 64 + op * 2 * STRESS_KEYS / st->nops;
		uint32_t k = (uint32_t)(xorshift(&seed) % (span < STRESS_KEYS ? span : STRESS_KEYS));
		uint64_t dice = xorshift(&seed) % 8;

		if (dice < 5) {
			struct tval *v = tval_new(MAX_IDS, k, ++gen); /* id out of range: not tracked */
			if (nametable_set(st->t, st->names[k], st->lens[k], v) != 0) {
				stress_error(st, "set failed", k, gen);
				free(v);
				break;
			}
			st->model[k] = gen;
			atomic_fetch_add_explicit(&st->sets, 1, memory_order_relaxed);
		} else {
			int ret = nametable_delete(st->t, st->names[k], st->lens[k]);
			if (ret != (st->model[k] ? 0 : AD_ENOTFOUND))
				stress_error(st, "delete disagrees with the model", k, st->model[k]);
			st->model[k] = 0;
			atomic_fetch_add_explicit(&st->deletes, 1, memory_order_relaxed);
		}
		if (op % 100000 == 99999) {
			nametable_synchronize(st->t);
			if (now_s() > deadline)
				break;
		}
	}
	atomic_store(&st->ops, op == st->nops ? op : op + 1);
	atomic_store(&st->stop, true);
	return NULL;
}

/*
 * One reader thread per online core (at least 2) looks random names up in a loop, in any
 * case and sometimes with the trailing dot, and checks every value it gets: live (not
 * poisoned by value_free), the right key, untorn, and never older than one it saw before
 * for that key. Meanwhile a writer inserts, replaces and deletes nops times over a key
 * space that widens during the first half, so shards grow under the readers. At the end
 * the table must match the writer's model and every value must have been freed once.
 */
static void stress_run(unsigned shards, unsigned long nops)
{
	struct stress *st = calloc(1, sizeof(*st));
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int nreaders = cores < 2 ? 2 : (int)cores;
	pthread_t readers[64], writer;
	double start = now_s();

	if (nreaders > 64)
		nreaders = 64;
	cr_assert_not_null(st);
	st->nops = nops;
	pthread_mutex_init(&st->error_lock, NULL);
	st->t = nametable_create(shards, tval_free);
	cr_assert_not_null(st->t);
	for (uint32_t k = 0; k < STRESS_KEYS; k++) {
		/* one in five longer than a slot holds (kept out of line) */
		int n = snprintf(st->names[k], sizeof(st->names[k]), "svc%u.user%u.%sa.airdr.es", k,
				 k * 7919 % 1000, k % 5 == 0 ? "a-label-that-makes-it-long." : "");
		st->lens[k] = st->ulens[k] = (size_t)n;
		for (int i = 0; i < n; i++)
			st->upper[k][i] = (char)((st->names[k][i] >= 'a' && st->names[k][i] <= 'z')
						 ? st->names[k][i] - 32 : st->names[k][i]);
		if (k % 3 == 0) /* and some with the trailing dot */
			st->upper[k][st->ulens[k]++] = '.';
	}

	for (int i = 0; i < nreaders; i++)
		cr_assert_eq(pthread_create(&readers[i], NULL, stress_reader, st), 0);
	cr_assert_eq(pthread_create(&writer, NULL, stress_writer, st), 0);
	pthread_join(writer, NULL);
	for (int i = 0; i < nreaders; i++)
		pthread_join(readers[i], NULL);

	unsigned long ops = atomic_load(&st->ops);
	cr_log_info("stress: %u shards, %d readers, %lu writer ops (%lu sets, %lu deletes), %lu lookups "
		    "(%lu hits) in %.1f s", shards, nreaders, ops, atomic_load(&st->sets),
		    atomic_load(&st->deletes), atomic_load(&st->lookups), atomic_load(&st->hits),
		    now_s() - start);
	cr_assert_eq(atomic_load(&st->errors), 0, "%lu errors, first: %s",
		     atomic_load(&st->errors), st->first_error);
	cr_assert_eq(ops, nops, "the writer finished its ops before the deadline");
	cr_assert_gt(atomic_load(&st->hits), 0);

	/* the table holds exactly the writer's model */
	struct nametable_reader *r = nametable_reader_register(st->t);
	size_t present = 0;
	nametable_read_begin(r);
	for (uint32_t k = 0; k < STRESS_KEYS; k++) {
		const struct tval *v = nametable_lookup(st->t, r, st->names[k], st->lens[k]);
		if (st->model[k] == 0) {
			cr_assert_null(v, "key %u was deleted", k);
			continue;
		}
		present++;
		cr_assert_not_null(v, "key %u is present", k);
		cr_assert_eq(v->gen, st->model[k], "key %u has its last value", k);
	}
	nametable_read_end(r);
	cr_assert_eq(nametable_count(st->t), present);

	nametable_destroy(st->t);
	cr_assert_eq(atomic_load(&n_bad_free), 0, "no value freed twice");
	cr_assert_eq(atomic_load(&n_freed), atomic_load(&n_created), "every value freed");
	free(st);
}

Test(nametable, readers_on_every_core_against_a_writer, .timeout = 120)
{
	stress_run(NAMETABLE_SHARDS_DEFAULT, 1000000);
}

/* two shards: their maps outgrow 2 MiB (own mappings) while readers run */
Test(nametable, readers_against_a_writer_few_big_shards, .timeout = 120)
{
	stress_run(2, 400000);
}
