/*
 * Micro-benchmark of the response cache (src/dns/dnscache.c): the cost of a hit (key
 * hash + lookup, and hash + lookup + copy + patch), of a put into a full cache
 * (CLOCK eviction), and of an invalidation. No peer: it measures our hit path for
 * callgrind and for the answer-path budget.
 *
 *   bench_dnscache [-n names] [-k lookups] [-m cache MiB]
 *   valgrind --tool=callgrind --dump-instr=no bench_dnscache -n 10000 -k 100000
 *     then callgrind_annotate: bench_hit and bench_hit_copy are called k times each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dnscache.h"
#include "dnswire.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One hit: hash and lookup. */
__attribute__((noinline)) const struct dnscache_entry *
bench_hit(struct dnscache *c, const struct dnscache_key *k);
__attribute__((noinline)) const struct dnscache_entry *
bench_hit(struct dnscache *c, const struct dnscache_key *k)
{
	return dnscache_get(c, k, dnscache_key_hash(c, k));
}

/* One whole hit as the server does it: hash, lookup, copy, patch id and case. */
__attribute__((noinline)) size_t bench_hit_copy(struct dnscache *c, const struct dnscache_key *k,
						const uint8_t *qname, uint8_t *out);
__attribute__((noinline)) size_t bench_hit_copy(struct dnscache *c, const struct dnscache_key *k,
						const uint8_t *qname, uint8_t *out)
{
	const struct dnscache_entry *e = dnscache_get(c, k, dnscache_key_hash(c, k));
	return e != NULL ? dnscache_entry_copy(e, out, 1232, 0x1234, qname) : 0;
}

static size_t build(uint8_t *buf, const struct dnscache_key *k, unsigned nrr)
{
	struct dnsw_writer w;
	dnsw_writer_init(&w, buf, 4096);
	dnsw_put_header(&w, 0, DNSW_FLAG_QR | DNSW_FLAG_AA);
	dnsw_put_question(&w, k->qname, k->qtype, k->qclass);
	for (unsigned i = 0; i < nrr; i++) {
		uint8_t rd[4] = { 203, 0, 113, (uint8_t)i };
		dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, DNSW_CLASS_IN, 300, rd, 4);
	}
	struct dnsw_opt o = { .payload = 1232 };
	dnsw_put_opt(&w, &o);
	return dnsw_finish(&w);
}

int main(int argc, char **argv)
{
	unsigned names = 10000, lookups = 2000000, mib = 64;
	int opt;
	while ((opt = getopt(argc, argv, "n:k:m:")) != -1) {
		switch (opt) {
		case 'n': names = (unsigned)atoi(optarg); break;
		case 'k': lookups = (unsigned)atoi(optarg); break;
		case 'm': mib = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n names] [-k lookups] [-m cache MiB]\n", argv[0]);
			return 2;
		}
	}
	if (names == 0 || lookups == 0)
		return 2;
	struct dnscache *c = dnscache_create((size_t)mib << 20);
	struct dnscache_key *keys = calloc(names, sizeof(*keys));
	uint8_t (*orig)[DNSW_NAME_MAX] = calloc(names, DNSW_NAME_MAX);
	uint64_t *order = calloc(lookups, sizeof(*order));
	if (c == NULL || keys == NULL || orig == NULL || order == NULL)
		return 1;
	uint8_t buf[4096], out[4096];
	char text[64];
	for (unsigned i = 0; i < names; i++) {
		int n = snprintf(text, sizeof(text), "Host-%u.Users.A.airdr.es", i);
		keys[i].qname_len = (uint8_t)dnsw_name_from_text(text, (size_t)n,
								 (const uint8_t *)"", orig[i]);
		dnsw_name_lower(keys[i].qname, orig[i], keys[i].qname_len);
		keys[i].qtype = DNSW_T_A;
		keys[i].qclass = DNSW_CLASS_IN;
		keys[i].size_class = DNSCACHE_SC_EDNS_SMALL;
		uint64_t deps[2] = { dnscache_name_hash(keys[i].qname),
				     dnscache_name_hash((const uint8_t *)"\5airdr\2es") };
		size_t len = build(buf, &keys[i], 1 + i % 4);
		dnscache_put(c, &keys[i], dnscache_key_hash(c, &keys[i]), buf, len, deps, 2);
	}
	uint64_t x = 88172645463325252ull;
	for (unsigned i = 0; i < lookups; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		order[i] = x % names;
	}

	size_t sink = 0;
	double t0 = now();
	for (unsigned i = 0; i < lookups; i++)
		sink += bench_hit(c, &keys[order[i]]) != NULL;
	double t1 = now();
	for (unsigned i = 0; i < lookups; i++)
		sink += bench_hit_copy(c, &keys[order[i]], orig[order[i]], out);
	double t2 = now();
	const struct dnscache_stats *st = dnscache_stats(c);
	printf("entries %llu, bytes %llu of %llu, hits %llu, misses %llu\n",
	       (unsigned long long)st->entries, (unsigned long long)st->bytes,
	       (unsigned long long)st->capacity, (unsigned long long)st->hits,
	       (unsigned long long)st->misses);
	printf("hit (hash + lookup)               %6.1f ns\n", (t1 - t0) * 1e9 / lookups);
	printf("hit (hash + lookup + copy + patch) %6.1f ns\n", (t2 - t1) * 1e9 / lookups);

	/* puts into a full small cache: every put evicts */
	struct dnscache *s = dnscache_create(1 << 20);
	for (unsigned i = 0; i < names; i++) {
		size_t len = build(buf, &keys[i], 1 + i % 4);
		dnscache_put(s, &keys[i], dnscache_key_hash(s, &keys[i]), buf, len, NULL, 0);
	}
	double t3 = now();
	unsigned puts = names * 4;
	for (unsigned i = 0; i < puts; i++) {
		const struct dnscache_key *k = &keys[order[i % lookups]];
		size_t len = build(buf, k, 2);
		dnscache_put(s, k, dnscache_key_hash(s, k), buf, len, NULL, 0);
	}
	double t4 = now();
	printf("put (answer build included), 1 MiB cache: %6.1f ns, %llu evictions\n",
	       (t4 - t3) * 1e9 / puts, (unsigned long long)dnscache_stats(s)->evictions);

	double t5 = now();
	unsigned dropped = 0;
	for (unsigned i = 0; i < names; i++)
		dropped += dnscache_invalidate(c, dnscache_name_hash(keys[i].qname));
	double t6 = now();
	printf("invalidate one name: %6.1f ns (%u dropped)\n", (t6 - t5) * 1e9 / names, dropped);
	dnscache_destroy(s);
	dnscache_destroy(c);
	free(keys);
	free(orig);
	free(order);
	return sink == 0;
}
