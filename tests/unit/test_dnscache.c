/*
 * Unit tests for dnscache: get/put/replace, what makes keys different, refusals,
 * patching a hit, the memory bound and CLOCK eviction, invalidation by dependency
 * (qname, CNAME target, zone apex, eight dependencies), clear, keys from parsed
 * queries, and random operation sequences checked against a plain array model.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dnscache.h"
#include "dnswire.h"
#include "error.h"

/* Lowercase wire name from text ("www.example.com"). */
static size_t wname(const char *text, uint8_t out[DNSW_NAME_MAX])
{
	int n = dnsw_name_from_text(text, strlen(text), (const uint8_t *)"", out);
	cr_assert_gt(n, 0, "name %s", text);
	dnsw_name_lower(out, out, (size_t)n);
	return (size_t)n;
}

static uint64_t nhash(const char *text)
{
	uint8_t n[DNSW_NAME_MAX];
	wname(text, n);
	return dnscache_name_hash(n);
}

static struct dnscache_key mkkey(const char *name, uint16_t qtype, unsigned sc, unsigned flags)
{
	struct dnscache_key k;
	memset(&k, 0xa5, sizeof(k)); /* bytes past qname_len must not matter */
	k.qname_len = (uint8_t)wname(name, k.qname);
	k.qtype = qtype;
	k.qclass = DNSW_CLASS_IN;
	k.size_class = (uint8_t)sc;
	k.flags = (uint8_t)flags;
	return k;
}

/* An answer for k: nrr A records whose last octets start at tag, an OPT when the key
 * has EDNS, rcode rc. Returns its length. */
static size_t answer(uint8_t *buf, size_t cap, const struct dnscache_key *k, unsigned nrr,
		     uint8_t tag, uint8_t rc)
{
	struct dnsw_writer w;
	dnsw_writer_init(&w, buf, cap);
	uint16_t flags = DNSW_FLAG_QR | DNSW_FLAG_AA | rc;
	if (k->flags & DNSCACHE_KF_RD)
		flags |= DNSW_FLAG_RD;
	cr_assert_eq(dnsw_put_header(&w, 0, flags), 0);
	cr_assert_eq(dnsw_put_question(&w, k->qname, k->qtype, k->qclass), 0);
	for (unsigned i = 0; i < nrr; i++) {
		uint8_t rd[4] = { 192, 0, (uint8_t)(i >> 8), (uint8_t)(tag + i) };
		cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, DNSW_CLASS_IN, 300, rd, 4), 0);
	}
	if (k->size_class != DNSCACHE_SC_PLAIN && k->size_class != DNSCACHE_SC_TCP) {
		struct dnsw_opt o = { .payload = 1232, .do_bit = (k->flags & DNSCACHE_KF_DO) != 0 };
		if (k->flags & DNSCACHE_KF_NSID) {
			o.nsid = (const uint8_t *)"pop1";
			o.nsid_len = 4;
		}
		cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	}
	return dnsw_finish(&w);
}

static struct dnscache *c;

static void setup(void)
{
	c = dnscache_create(1 << 20);
	cr_assert_not_null(c);
}

static void teardown(void)
{
	dnscache_destroy(c);
	c = NULL;
}

/* Put an answer for k with deps; returns its length (answer in buf). */
static size_t put_answer(const struct dnscache_key *k, uint8_t *buf, unsigned nrr, uint8_t tag,
			 const uint64_t *deps, unsigned ndeps)
{
	size_t n = answer(buf, 8192, k, nrr, tag, DNSW_RC_NOERROR);
	cr_assert_eq(dnscache_put(c, k, dnscache_key_hash(c, k), buf, n, deps, ndeps), 0);
	return n;
}

static const struct dnscache_entry *get(const struct dnscache_key *k)
{
	return dnscache_get(c, k, dnscache_key_hash(c, k));
}

static void assert_entry(const struct dnscache_entry *e, const uint8_t *wire, size_t n)
{
	cr_assert_not_null(e);
	cr_assert_eq(e->len, n);
	cr_assert_eq(memcmp(dnscache_entry_wire(e), wire, n), 0);
}

TestSuite(dnscache, .init = setup, .fini = teardown);

Test(dnscache, create_limits)
{
	cr_assert_null(dnscache_create(DNSCACHE_BYTES_MIN - 1));
	cr_assert_null(dnscache_create(0));
	dnscache_destroy(NULL);
	struct dnscache *s = dnscache_create(DNSCACHE_BYTES_MIN);
	cr_assert_not_null(s);
	cr_assert_leq(dnscache_stats(s)->capacity, DNSCACHE_BYTES_MIN);
	cr_assert_gt(dnscache_stats(s)->capacity, DNSCACHE_BYTES_MIN / 2);
	dnscache_destroy(s);
}

/* Hashes of distinct names and keys differ; the name hash is the same everywhere, the
 * key hash is seeded per cache. */
Test(dnscache, hashes)
{
	enum { N = 20000 };
	static uint64_t hn[N], hk[N];
	char name[64];
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "%s%u.example.com", i % 2 ? "a" : "bb", i);
		hn[i] = nhash(name);
		struct dnscache_key k = mkkey(name, DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
		hk[i] = dnscache_key_hash(c, &k);
	}
	for (unsigned i = 0; i < N; i++) {
		for (unsigned j = i + 1; j < N; j++) {
			cr_assert_neq(hn[i], hn[j]);
			cr_assert_neq(hk[i], hk[j]);
		}
	}
	uint8_t root = 0;
	cr_assert_neq(dnscache_name_hash(&root), nhash("com"));
	cr_assert_eq(nhash("Example.COM"), nhash("example.com"));
	struct dnscache *o = dnscache_create(DNSCACHE_BYTES_MIN);
	struct dnscache_key k = mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	cr_assert_neq(dnscache_key_hash(o, &k), dnscache_key_hash(c, &k));
	dnscache_destroy(o);
}

Test(dnscache, get_put_replace)
{
	struct dnscache_key k = mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	uint8_t a[8192], b[8192];
	uint64_t dep = nhash("www.example.com");

	cr_assert_null(get(&k));
	cr_assert_eq(dnscache_stats(c)->misses, 1);
	size_t na = put_answer(&k, a, 2, 1, &dep, 1);
	const struct dnscache_entry *e = get(&k);
	assert_entry(e, a, na);
	cr_assert_eq(e->rcode, 0);
	cr_assert_eq(e->tc, 0);
	/* the OPT is the last record: its RDLENGTH is 2 bytes before the end (no options) */
	cr_assert_eq(e->opt_off, na - 2);
	cr_assert_eq(dnscache_stats(c)->hits, 1);

	size_t nb = put_answer(&k, b, 3, 7, &dep, 1);
	e = get(&k);
	assert_entry(e, b, nb);
	const struct dnscache_stats *st = dnscache_stats(c);
	cr_assert_eq(st->entries, 1);
	cr_assert_eq(st->inserts, 2);
	cr_assert_eq(st->replaced, 1);
	cr_assert_gt(st->bytes, nb);
	cr_assert_lt(st->bytes, nb + 200);

	/* a replaced entry is gone from the dependency index too */
	cr_assert_eq(dnscache_invalidate(c, dep), 1);
	cr_assert_null(get(&k));
	cr_assert_eq(dnscache_stats(c)->entries, 0);
	cr_assert_eq(dnscache_stats(c)->bytes, 0);
}

Test(dnscache, rcode_tc_id_zeroed)
{
	struct dnscache_key k = mkkey("nx.example.com", DNSW_T_A, DNSCACHE_SC_PLAIN, 0);
	uint8_t buf[512];
	size_t n = answer(buf, sizeof(buf), &k, 0, 0, DNSW_RC_NXDOMAIN);
	buf[0] = 0x12;
	buf[1] = 0x34;
	buf[2] |= 0x02; /* TC */
	cr_assert_eq(dnscache_put(c, &k, dnscache_key_hash(c, &k), buf, n, NULL, 0), 0);
	const struct dnscache_entry *e = get(&k);
	cr_assert_not_null(e);
	cr_assert_eq(e->rcode, DNSW_RC_NXDOMAIN);
	cr_assert_eq(e->tc, 1);
	cr_assert_eq(e->opt_off, 0);
	cr_assert_eq(dnscache_entry_wire(e)[0], 0);
	cr_assert_eq(dnscache_entry_wire(e)[1], 0);
	cr_assert_eq(memcmp(dnscache_entry_wire(e) + 2, buf + 2, n - 2), 0);
}

Test(dnscache, copy_patches_id_and_case)
{
	struct dnscache_key k = mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	uint8_t a[8192], out[1232], orig[DNSW_NAME_MAX];
	size_t na = put_answer(&k, a, 2, 1, NULL, 0);
	int ql = dnsw_name_from_text("WwW.ExAmple.COM", 15, (const uint8_t *)"", orig);
	cr_assert_eq(ql, k.qname_len);

	const struct dnscache_entry *e = get(&k);
	cr_assert_eq(dnscache_entry_copy(e, out, na - 1, 0xbeef, orig), 0);
	cr_assert_eq(dnscache_entry_copy(e, out, sizeof(out), 0xbeef, orig), na);
	cr_assert_eq(out[0], 0xbe);
	cr_assert_eq(out[1], 0xef);
	cr_assert_eq(memcmp(out + 12, orig, (size_t)ql), 0);
	cr_assert_eq(memcmp(out + 12 + ql, a + 12 + ql, na - 12 - (size_t)ql), 0);
	/* the cached copy itself is untouched */
	cr_assert_eq(memcmp(dnscache_entry_wire(e), a, na), 0);
}

Test(dnscache, keys_differ_by_every_field)
{
	struct dnscache_key keys[] = {
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0),
		mkkey("www.example.com", DNSW_T_AAAA, DNSCACHE_SC_EDNS_SMALL, 0),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, DNSCACHE_KF_DO),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, DNSCACHE_KF_NSID),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, DNSCACHE_KF_RD),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, DNSCACHE_KF_CD),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_LARGE, 0),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_PLAIN, 0),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_TCP, 0),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_TCP_EDNS, 0),
		mkkey("www.example.org", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0),
		mkkey("ww.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0),
		mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL,
		      DNSCACHE_KF_DO | DNSCACHE_KF_NSID),
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	static uint8_t w[N][8192];
	size_t n[N];
	struct dnscache_key ch = keys[0];
	ch.qclass = 3; /* CH */
	for (unsigned i = 0; i < N; i++)
		n[i] = put_answer(&keys[i], w[i], 1 + i % 3, (uint8_t)(10 * i), NULL, 0);
	cr_assert_eq(dnscache_stats(c)->entries, N);
	for (unsigned i = 0; i < N; i++)
		assert_entry(get(&keys[i]), w[i], n[i]);
	cr_assert_null(get(&ch));
	/* the hash does not read past qname_len */
	struct dnscache_key k2 = keys[0];
	memset(k2.qname + k2.qname_len, 0x5a, sizeof(k2.qname) - k2.qname_len);
	cr_assert_eq(dnscache_key_hash(c, &k2), dnscache_key_hash(c, &keys[0]));
	assert_entry(get(&k2), w[0], n[0]);
}

Test(dnscache, put_refuses)
{
	struct dnscache_key k = mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_TCP, 0);
	uint64_t h = dnscache_key_hash(c, &k);
	static uint8_t big[8192], ok[8192], bad[8192];
	uint64_t deps[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

	size_t nok = put_answer(&k, ok, 1, 1, NULL, 0);
	size_t nbig = answer(big, sizeof(big), &k, 300, 0, 0);
	cr_assert_gt(nbig, DNSCACHE_WIRE_MAX);
	cr_assert_eq(dnscache_put(c, &k, h, big, nbig, NULL, 0), AD_ETOOBIG);
	cr_assert_eq(dnscache_put(c, &k, h, ok, nok, deps, 9), AD_ETOOBIG);

	/* malformed: too short, question of another name / case / type, a record cut,
	 * trailing bytes, no QR, a TSIG record */
	cr_assert_eq(dnscache_put(c, &k, h, ok, 11, NULL, 0), AD_EPARSE);
	cr_assert_eq(dnscache_put(c, &k, h, ok, nok - 1, NULL, 0), AD_EPARSE);
	memcpy(bad, ok, nok);
	bad[nok] = 0;
	cr_assert_eq(dnscache_put(c, &k, h, bad, nok + 1, NULL, 0), AD_EPARSE);
	bad[13] = 'W';
	cr_assert_eq(dnscache_put(c, &k, h, bad, nok, NULL, 0), AD_EPARSE);
	memcpy(bad, ok, nok);
	bad[12 + k.qname_len + 1] = DNSW_T_AAAA;
	cr_assert_eq(dnscache_put(c, &k, h, bad, nok, NULL, 0), AD_EPARSE);
	memcpy(bad, ok, nok);
	bad[2] &= 0x7f;
	cr_assert_eq(dnscache_put(c, &k, h, bad, nok, NULL, 0), AD_EPARSE);
	memcpy(bad, ok, nok);
	bad[nok - 16 + 2] = 0; /* the A record's type (owner is a 2-byte pointer) */
	bad[nok - 16 + 3] = DNSW_T_TSIG;
	cr_assert_eq(dnscache_put(c, &k, h, bad, nok, NULL, 0), AD_EPARSE);
	cr_assert_eq(dnscache_stats(c)->refused, 9);

	/* the entry that was there survives every refusal */
	assert_entry(get(&k), ok, nok);
	cr_assert_eq(dnscache_stats(c)->entries, 1);

	/* the largest answer allowed goes in */
	size_t n4k = answer(big, sizeof(big), &k, 250, 0, 0);
	cr_assert_leq(n4k, DNSCACHE_WIRE_MAX);
	cr_assert_eq(dnscache_put(c, &k, h, big, n4k, NULL, 0), 0);
	assert_entry(get(&k), big, n4k);

	/* the smallest cache takes the largest answer (an entry may use an eighth) */
	struct dnscache *s = dnscache_create(DNSCACHE_BYTES_MIN);
	cr_assert_eq(dnscache_put(s, &k, dnscache_key_hash(s, &k), big, n4k, NULL, 0), 0);
	dnscache_destroy(s);
}

Test(dnscache, invalidate_by_dependency)
{
	/* zone example.com: www (A, AAAA, and the DO variant), alias CNAME www, a
	 * negative answer for nx (SOA of the apex), a name under a wildcard and one under
	 * a delegation; another zone. */
	uint64_t apex = nhash("example.com"), www = nhash("www.example.com");
	uint64_t alias = nhash("alias.example.com"), nx = nhash("nx.example.com");
	uint64_t wild = nhash("*.w.example.com"), any = nhash("foo.w.example.com");
	uint64_t deleg = nhash("sub.example.com"), other = nhash("www.example.net");
	struct {
		const char *name;
		uint16_t qtype;
		unsigned flags;
		uint64_t deps[3];
		unsigned ndeps;
	} t[] = {
		{ "www.example.com", DNSW_T_A, 0, { www }, 1 },                 /* 0 */
		{ "www.example.com", DNSW_T_AAAA, 0, { www }, 1 },              /* 1 */
		{ "www.example.com", DNSW_T_A, DNSCACHE_KF_DO, { www }, 1 },    /* 2 */
		{ "alias.example.com", DNSW_T_A, 0, { alias, www }, 2 },        /* 3 */
		{ "nx.example.com", DNSW_T_A, 0, { nx, apex }, 2 },             /* 4 */
		{ "www.example.com", DNSW_T_MX, 0, { www, apex }, 2 },          /* 5: NODATA */
		{ "foo.w.example.com", DNSW_T_A, 0, { any, wild }, 2 },         /* 6 */
		{ "a.sub.example.com", DNSW_T_A, 0, { nhash("a.sub.example.com"), deleg }, 2 },
		{ "www.example.net", DNSW_T_A, 0, { other }, 1 },               /* 8 */
	};
	enum { N = sizeof(t) / sizeof(t[0]) };
	static uint8_t w[N][8192];
	size_t n[N];
	struct dnscache_key k[N];
	for (unsigned i = 0; i < N; i++) {
		k[i] = mkkey(t[i].name, t[i].qtype, DNSCACHE_SC_EDNS_SMALL, t[i].flags);
		n[i] = put_answer(&k[i], w[i], 1, (uint8_t)i, t[i].deps, t[i].ndeps);
	}
	bool gone[N] = { false };
	struct {
		uint64_t h;
		unsigned expect;
		unsigned drops[5];
	} steps[] = {
		{ nhash("unrelated.example.com"), 0, { 0 } },
		{ www, 5, { 0, 1, 2, 3, 5 } }, /* qname and CNAME target */
		{ www, 0, { 0 } },
		{ apex, 1, { 4 } },            /* apex of a negative answer */
		{ wild, 1, { 6 } },            /* the wildcard used */
		{ deleg, 1, { 7 } },           /* the delegation point */
	};
	for (unsigned s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		cr_assert_eq(dnscache_invalidate(c, steps[s].h), steps[s].expect, "step %u", s);
		for (unsigned j = 0; j < steps[s].expect; j++)
			gone[steps[s].drops[j]] = true;
		for (unsigned i = 0; i < N; i++) {
			if (gone[i])
				cr_assert_null(get(&k[i]), "step %u entry %u", s, i);
			else
				assert_entry(get(&k[i]), w[i], n[i]);
		}
	}
	cr_assert_eq(dnscache_stats(c)->entries, 1);
	cr_assert_eq(dnscache_stats(c)->invalidated, N - 1);
	/* a dependency's other entries are still indexed after some were dropped */
	put_answer(&k[0], w[0], 1, 0, &www, 1);
	put_answer(&k[1], w[1], 1, 0, &www, 1);
	cr_assert_eq(dnscache_invalidate(c, other), 1);
	cr_assert_eq(dnscache_invalidate(c, www), 2);
	cr_assert_eq(dnscache_stats(c)->entries, 0);
}

Test(dnscache, eight_dependencies)
{
	char names[8][32];
	uint64_t deps[10];
	for (unsigned i = 0; i < 8; i++) {
		snprintf(names[i], sizeof(names[i]), "d%u.example.com", i);
		deps[i] = nhash(names[i]);
	}
	struct dnscache_key k = mkkey("q.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	struct dnscache_key k2 = mkkey("q2.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	uint8_t w[8192], w2[8192];
	for (unsigned i = 0; i < 8; i++) {
		size_t n = put_answer(&k, w, 1, (uint8_t)i, deps, 8);
		/* k2 shares d0..d7 except d_i; duplicates are merged */
		uint64_t d2[8];
		unsigned nd2 = 0;
		for (unsigned j = 0; j < 8; j++)
			d2[nd2++] = j == i ? deps[(i + 1) % 8] : deps[j];
		size_t n2 = put_answer(&k2, w2, 1, (uint8_t)i, d2, nd2);
		cr_assert_eq(dnscache_invalidate(c, deps[i]), 1, "dep %u", i);
		cr_assert_null(get(&k));
		assert_entry(get(&k2), w2, n2);
		(void)n;
	}
	cr_assert_eq(dnscache_invalidate(c, deps[3]), 1);
	cr_assert_null(get(&k2));
	cr_assert_eq(dnscache_stats(c)->entries, 0);
}

Test(dnscache, invalidate_many_sharing_apex)
{
	uint64_t apex = nhash("example.com");
	uint8_t w[8192];
	char name[64];
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "nx%u.example.com", i);
		struct dnscache_key k = mkkey(name, DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
		uint64_t d[2] = { nhash(name), apex };
		put_answer(&k, w, 0, 0, d, 2);
	}
	struct dnscache_key other = mkkey("www.example.org", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	size_t no = put_answer(&other, w, 1, 0, NULL, 0);
	cr_assert_eq(dnscache_stats(c)->entries, 3001);
	cr_assert_eq(dnscache_stats(c)->evictions, 0);
	cr_assert_eq(dnscache_invalidate(c, nhash("nx17.example.com")), 1);
	cr_assert_eq(dnscache_invalidate(c, apex), 2999);
	cr_assert_eq(dnscache_stats(c)->entries, 1);
	assert_entry(get(&other), w, no);
}

Test(dnscache, clear)
{
	uint8_t w[8192];
	struct dnscache_key k = mkkey("www.example.com", DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
	uint64_t d = nhash("www.example.com");
	put_answer(&k, w, 1, 0, &d, 1);
	dnscache_clear(c);
	cr_assert_null(get(&k));
	cr_assert_eq(dnscache_stats(c)->entries, 0);
	cr_assert_eq(dnscache_stats(c)->bytes, 0);
	cr_assert_eq(dnscache_invalidate(c, d), 0);
	size_t n = put_answer(&k, w, 2, 0, &d, 1);
	assert_entry(get(&k), w, n);
}

/* ---- memory bound and CLOCK ---- */

static struct dnscache_key numkey(unsigned i)
{
	char name[64];
	snprintf(name, sizeof(name), "n%u.example.com", i);
	return mkkey(name, DNSW_T_A, DNSCACHE_SC_EDNS_SMALL, 0);
}

Test(dnscache, eviction_bound)
{
	dnscache_destroy(c);
	c = dnscache_create(DNSCACHE_BYTES_MIN);
	const struct dnscache_stats *st = dnscache_stats(c);
	uint8_t w[8192];
	for (unsigned i = 0; i < 5000; i++) {
		struct dnscache_key k = numkey(i);
		size_t n = put_answer(&k, w, 1 + i % 40, (uint8_t)i, NULL, 0);
		cr_assert_leq(st->bytes, st->capacity);
		assert_entry(get(&k), w, n);
	}
	cr_assert_gt(st->evictions, 4000);
	cr_assert_eq(st->inserts - st->evictions, st->entries);
	/* the ring is used, not wasted: live bytes fill most of it */
	cr_assert_gt(st->bytes, st->capacity / 2);
}

/* Fill a small cache exactly; returns how many entries fit without an eviction. */
static unsigned fill(uint8_t *w)
{
	unsigned i = 0;
	for (;; i++) {
		struct dnscache_key k = numkey(i);
		put_answer(&k, w, 2, 0, NULL, 0);
		if (dnscache_stats(c)->evictions > 0)
			break;
	}
	return i;
}

Test(dnscache, clock_second_chance)
{
	dnscache_destroy(c);
	c = dnscache_create(DNSCACHE_BYTES_MIN);
	uint8_t w[8192];
	unsigned fit = fill(w);
	cr_assert_gt(fit, 50);
	dnscache_destroy(c);
	c = dnscache_create(DNSCACHE_BYTES_MIN);

	for (unsigned i = 0; i < fit; i++) {
		struct dnscache_key k = numkey(i);
		put_answer(&k, w, 2, 0, NULL, 0);
	}
	cr_assert_eq(dnscache_stats(c)->evictions, 0);
	/* read the five oldest and three in the middle */
	unsigned hot[] = { 0, 1, 2, 3, 4, fit / 2, fit / 2 + 1, fit / 2 + 2 };
	for (unsigned j = 0; j < 8; j++) {
		struct dnscache_key k = numkey(hot[j]);
		cr_assert_not_null(get(&k));
	}
	/* half a sweep of new entries: the oldest cold ones go, the hot ones stay */
	unsigned more = fit / 3;
	for (unsigned i = fit; i < fit + more; i++) {
		struct dnscache_key k = numkey(i);
		put_answer(&k, w, 2, 0, NULL, 0);
	}
	cr_assert_geq(dnscache_stats(c)->evictions, more);
	for (unsigned j = 0; j < 8; j++) {
		struct dnscache_key k = numkey(hot[j]);
		cr_assert_not_null(dnscache_get(c, &k, dnscache_key_hash(c, &k)), "hot %u", hot[j]);
	}
	cr_assert_eq(dnscache_stats(c)->second_chances, 5); /* the middle ones not reached */
	/* cold entries: evicted oldest first, so every survivor is newer than every
	 * evicted one */
	unsigned last_gone = 0, first_kept = UINT32_MAX;
	for (unsigned i = 5; i < fit + more; i++) {
		if (i >= fit / 2 && i < fit / 2 + 3)
			continue;
		struct dnscache_key k = numkey(i);
		bool hit = dnscache_get(c, &k, dnscache_key_hash(c, &k)) != NULL;
		if (!hit)
			last_gone = i;
		else if (first_kept == UINT32_MAX)
			first_kept = i;
	}
	cr_assert_lt(last_gone, first_kept);
	cr_assert_geq(last_gone, 5 + more - 1 - 8);

	/* the hot ones were not read again (the gets above set their bit again, so clear
	 * by one more sweep first): two sweeps of new entries evict them */
	for (unsigned i = fit + more; i < 3 * fit + more; i++) {
		struct dnscache_key k = numkey(i);
		put_answer(&k, w, 2, 0, NULL, 0);
	}
	for (unsigned j = 0; j < 8; j++) {
		struct dnscache_key k = numkey(hot[j]);
		cr_assert_null(dnscache_get(c, &k, dnscache_key_hash(c, &k)), "hot %u", hot[j]);
	}
}

/* ---- keys from parsed queries ---- */

static size_t query(uint8_t *buf, const char *name, uint16_t flags, uint16_t qtype,
		    uint16_t qclass, bool edns, bool do_bit, bool nsid)
{
	/* by hand: the writer sets counts from what it wrote, which is what we want */
	struct dnsw_writer w;
	uint8_t qn[DNSW_NAME_MAX];
	int ql = dnsw_name_from_text(name, strlen(name), (const uint8_t *)"", qn);
	cr_assert_gt(ql, 0);
	dnsw_writer_init(&w, buf, 512);
	cr_assert_eq(dnsw_put_header(&w, 0x4242, flags), 0);
	cr_assert_eq(dnsw_put_question(&w, qn, qtype, qclass), 0);
	if (edns) {
		struct dnsw_opt o = { .payload = 1400, .do_bit = do_bit };
		if (nsid) {
			o.nsid = (const uint8_t *)"";
			o.nsid_len = 0;
		}
		cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	}
	return dnsw_finish(&w);
}

Test(dnscache, key_from_query)
{
	uint8_t pkt[512];
	struct dnsw_query q;
	struct dnscache_key k, ref;

	size_t n = query(pkt, "WWW.Example.COM", DNSW_FLAG_RD | DNSW_FLAG_CD, DNSW_T_AAAA,
			 DNSW_CLASS_IN, true, true, true);
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert(dnscache_key_from_query(&k, &q, false, 1232));
	ref = mkkey("www.example.com", DNSW_T_AAAA, DNSCACHE_SC_EDNS_SMALL,
		    DNSCACHE_KF_DO | DNSCACHE_KF_NSID | DNSCACHE_KF_RD | DNSCACHE_KF_CD);
	cr_assert_eq(k.qname_len, ref.qname_len);
	cr_assert_eq(memcmp(k.qname, ref.qname, k.qname_len), 0);
	cr_assert_eq(dnscache_key_hash(c, &k), dnscache_key_hash(c, &ref));
	cr_assert(dnscache_key_from_query(&k, &q, false, 1400));
	cr_assert_eq(k.size_class, DNSCACHE_SC_EDNS_LARGE);
	cr_assert(dnscache_key_from_query(&k, &q, true, 1400));
	cr_assert_eq(k.size_class, DNSCACHE_SC_TCP_EDNS);

	n = query(pkt, "www.example.com", 0, DNSW_T_A, DNSW_CLASS_IN, false, false, false);
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert(dnscache_key_from_query(&k, &q, false, 512));
	cr_assert_eq(k.size_class, DNSCACHE_SC_PLAIN);
	cr_assert_eq(k.flags, 0);
	cr_assert(dnscache_key_from_query(&k, &q, true, 512));
	cr_assert_eq(k.size_class, DNSCACHE_SC_TCP);

	/* never cached: CH class, AXFR, NOTIFY, EDNS version 1 */
	n = query(pkt, "version.bind", 0, DNSW_T_TXT, 3, false, false, false);
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert_not(dnscache_key_from_query(&k, &q, false, 512));
	n = query(pkt, "example.com", 0, DNSW_T_AXFR, DNSW_CLASS_IN, false, false, false);
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert_not(dnscache_key_from_query(&k, &q, true, 512));
	n = query(pkt, "example.com", DNSW_OP_NOTIFY << 11, DNSW_T_SOA, DNSW_CLASS_IN, false,
		  false, false);
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert_not(dnscache_key_from_query(&k, &q, false, 512));
	n = query(pkt, "example.com", 0, DNSW_T_SOA, DNSW_CLASS_IN, true, false, false);
	pkt[n - 11 + 6] = 1; /* OPT: owner, type, class, ext rcode, version */
	cr_assert_eq(dnsw_parse_query(pkt, n, &q), 0);
	cr_assert_eq(q.edns_version, 1);
	cr_assert_not(dnscache_key_from_query(&k, &q, false, 512));
}

/* ---- random sequences against a model ---- */

#define M_KEYS 400
#define M_DEPS 60

struct model {
	bool present;
	size_t len;
	uint8_t tag;
	unsigned nrr;
	unsigned ndeps;
	uint64_t deps[DNSCACHE_DEPS_MAX];
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)((rng_state >> 11) % n);
}

static struct dnscache_key model_key(unsigned i)
{
	char name[64];
	static const uint16_t types[] = { DNSW_T_A, DNSW_T_AAAA, DNSW_T_MX, DNSW_T_TXT };
	static const unsigned scs[] = { DNSCACHE_SC_PLAIN, DNSCACHE_SC_EDNS_SMALL,
					DNSCACHE_SC_EDNS_LARGE, DNSCACHE_SC_TCP_EDNS };
	snprintf(name, sizeof(name), "h%u.Z%u.example.com", i / 16, i % 3);
	return mkkey(name, types[i % 4], scs[(i / 4) % 4], (i / 4) % 3 == 1 ? DNSCACHE_KF_DO : 0);
}

static void run_model(size_t cache_bytes, unsigned ops, uint64_t seed, bool expect_evictions)
{
	static struct model m[M_KEYS];
	static struct dnscache_key keys[M_KEYS];
	static uint64_t dep[M_DEPS];
	static uint8_t w[8192], x[8192];
	dnscache_destroy(c);
	c = dnscache_create(cache_bytes);
	cr_assert_not_null(c);
	const struct dnscache_stats *st = dnscache_stats(c);
	rng_state = seed;
	memset(m, 0, sizeof(m));
	for (unsigned i = 0; i < M_KEYS; i++)
		keys[i] = model_key(i);
	for (unsigned i = 0; i < M_DEPS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "dep%u.example.com", i);
		dep[i] = nhash(name);
	}
	unsigned hits = 0, invalidated = 0;
	for (unsigned op = 0; op < ops; op++) {
		unsigned r = rnd(100);
		unsigned i = rnd(M_KEYS);
		struct dnscache_key *k = &keys[i];
		if (r < 40) {
			struct model *e = &m[i];
			e->nrr = rnd(8) == 0 ? 60 + rnd(180) : rnd(12);
			e->tag = (uint8_t)rnd(256);
			e->ndeps = rnd(DNSCACHE_DEPS_MAX + 1);
			for (unsigned j = 0; j < e->ndeps; j++)
				e->deps[j] = dep[rnd(M_DEPS)];
			e->len = answer(w, sizeof(w), k, e->nrr, e->tag, 0);
			cr_assert_eq(dnscache_put(c, k, dnscache_key_hash(c, k), w, e->len, e->deps,
						  e->ndeps), 0);
			e->present = true;
		} else if (r < 95) {
			const struct dnscache_entry *e = dnscache_get(c, k, dnscache_key_hash(c, k));
			if (e != NULL) {
				cr_assert(m[i].present, "op %u: hit for absent key %u", op, i);
				size_t n = answer(x, sizeof(x), k, m[i].nrr, m[i].tag, 0);
				cr_assert_eq(e->len, n, "op %u key %u", op, i);
				cr_assert_eq(memcmp(dnscache_entry_wire(e), x, n), 0, "op %u", op);
				hits++;
			} else {
				cr_assert(!m[i].present || st->evictions > 0,
					  "op %u: miss for present key %u", op, i);
			}
		} else {
			uint64_t d = dep[rnd(M_DEPS)];
			unsigned expect = 0;
			for (unsigned j = 0; j < M_KEYS; j++) {
				bool has = false;
				for (unsigned l = 0; l < m[j].ndeps; l++)
					has |= m[j].deps[l] == d;
				if (m[j].present && has) {
					m[j].present = false;
					expect++;
				}
			}
			unsigned got = dnscache_invalidate(c, d);
			if (!expect_evictions)
				cr_assert_eq(got, expect, "op %u", op);
			else
				cr_assert_leq(got, expect, "op %u", op);
			invalidated += got;
		}
		cr_assert_leq(st->bytes, st->capacity);
	}
	unsigned present = 0;
	for (unsigned i = 0; i < M_KEYS; i++)
		present += m[i].present;
	if (expect_evictions) {
		cr_assert_gt(st->evictions, 0);
		cr_assert_leq(st->entries, present);
	} else {
		cr_assert_eq(st->evictions, 0);
		cr_assert_eq(st->entries, present);
	}
	cr_assert_eq(st->invalidated, invalidated);
	cr_assert_gt(hits, ops / 20);
	/* every entry still in the cache is exactly the model's */
	for (unsigned i = 0; i < M_KEYS; i++) {
		const struct dnscache_entry *e = get(&keys[i]);
		if (!m[i].present) {
			cr_assert_null(e, "key %u", i);
		} else if (e != NULL) {
			size_t n = answer(x, sizeof(x), &keys[i], m[i].nrr, m[i].tag, 0);
			cr_assert_eq(memcmp(dnscache_entry_wire(e), x, n), 0);
		} else {
			cr_assert(expect_evictions, "key %u lost", i);
		}
	}
}

Test(dnscache, random_vs_model_no_eviction)
{
	run_model(8 << 20, 200000, 0x9e3779b97f4a7c15ull, false);
}

Test(dnscache, random_vs_model_with_eviction)
{
	run_model(DNSCACHE_BYTES_MIN, 200000, 0x2545f4914f6cdd1dull, true);
	run_model(256 << 10, 200000, 0x1234567887654321ull, true);
}
