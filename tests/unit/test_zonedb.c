/*
 * Unit tests for zonedb against a real RocksDB in a temporary directory: zones and
 * zone lookup (nesting, child zones, DS at a cut), RRsets, nodes and empty
 * non-terminals appearing and disappearing, canonical order, claims, the sequence,
 * persistence across reopen, the change lists, zone deletion, readers running while
 * a writer commits, a whole new zone written at once (the same store as a
 * transaction's), and the cost of a point read (logged, never asserted).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "dnswire.h"
#include "error.h"
#include "zonedb.h"

static char dir[64];
static struct zonedb *db;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void open_db(void)
{
	char err[256] = "";
	int ret = zonedb_open(dir, &db, err, sizeof(err));
	cr_assert_eq(ret, 0, "open: %s", err);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_zonedb.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	open_db();
}

static void teardown(void)
{
	zonedb_close(db);
	db = NULL;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(zonedb, .init = setup, .fini = teardown, .timeout = 120);

/* Wire name of an absolute presentation name (static rotating buffers). */
static const uint8_t *N(const char *text)
{
	static uint8_t bufs[8][DNSW_NAME_MAX];
	static unsigned next;
	uint8_t *b = bufs[next++ % 8];
	int len = dnsw_name_from_text(text, strlen(text), (const uint8_t *)"", b);
	cr_assert_gt(len, 0, "name %s", text);
	return b;
}

static const char *T(const uint8_t *name)
{
	static char bufs[4][DNSW_TEXT_MAX];
	static unsigned next;
	char *b = bufs[next++ % 4];
	cr_assert_geq(dnsw_name_to_text(name, b, DNSW_TEXT_MAX), 0);
	return b;
}

static void add_zone(const char *apex)
{
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_add_zone(t, N(apex)), 0, "add zone %s", apex);
	cr_assert_eq(zonedb_txn_commit(t, NULL), 0);
}

/* Put an A RRset of count addresses 10.0.0.first.. with ttl. */
static int put_a(struct zonedb_txn *t, const char *name, uint32_t ttl, unsigned first,
		 unsigned count)
{
	uint8_t addr[16][4];
	const uint8_t *rd[16];
	uint16_t len[16];
	for (unsigned i = 0; i < count; i++) {
		addr[i][0] = 10, addr[i][1] = 0, addr[i][2] = 0, addr[i][3] = (uint8_t)(first + i);
		rd[i] = addr[i];
		len[i] = 4;
	}
	struct zonedb_rrset_in in = { DNSW_T_A, ttl, (uint16_t)count, rd, len };
	return zonedb_txn_put_rrset(t, N(name), &in);
}

static int put_txt(struct zonedb_txn *t, const char *name, uint16_t type, const char *text)
{
	uint8_t rd[256];
	size_t l = strlen(text);
	rd[0] = (uint8_t)l;
	memcpy(rd + 1, text, l);
	const uint8_t *p = rd;
	uint16_t len = (uint16_t)(l + 1);
	struct zonedb_rrset_in in = { type, 300, 1, &p, &len };
	return zonedb_txn_put_rrset(t, N(name), &in);
}

static void commit(struct zonedb_txn *t, struct zonedb_changes *c)
{
	cr_assert_eq(zonedb_txn_commit(t, c), 0);
}

/* -1: absent, else the number of types. */
static int node_types(const char *name)
{
	struct zonedb_node n;
	int ret = zonedb_get_node(db, N(name), &n);
	if (ret == AD_ENOTFOUND)
		return -1;
	cr_assert_eq(ret, 0);
	return n.ntypes;
}

static bool changed(const struct zonedb_changes *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (dnsw_name_equal(c->names[i], N(name)))
			return true;
	return false;
}

Test(zonedb, empty_store)
{
	uint8_t apex[DNSW_NAME_MAX];
	struct zonedb_node n;
	cr_assert_eq(zonedb_find_zone(db, N("example.com."), apex), AD_ENOTFOUND);
	cr_assert_eq(zonedb_get_node(db, N("example.com."), &n), AD_ENOTFOUND);
	cr_assert_eq(zonedb_seq(db), 0);
	cr_assert_eq(zonedb_list_zones(db, NULL, 0), 0);
	cr_assert_not(zonedb_is_claimed(db, N("x.example.com.")));
}

Test(zonedb, find_zone_nested)
{
	uint8_t apex[DNSW_NAME_MAX];
	add_zone("example.com.");
	add_zone("sub.example.com.");
	add_zone("org.");
	cr_assert(zonedb_has_zone(db, N("Example.COM.")));
	cr_assert_not(zonedb_has_zone(db, N("com.")));

	cr_assert_eq(zonedb_find_zone(db, N("www.sub.example.com."), apex), 0);
	cr_assert_str_eq(T(apex), "sub.example.com.");
	cr_assert_eq(zonedb_find_zone(db, N("sub.example.com."), apex), 0);
	cr_assert_str_eq(T(apex), "sub.example.com.");
	cr_assert_eq(zonedb_find_zone(db, N("WWW.Example.Com."), apex), 0);
	cr_assert_str_eq(T(apex), "example.com.");
	cr_assert_eq(zonedb_find_zone(db, N("a.b.c.example.org."), apex), 0);
	cr_assert_str_eq(T(apex), "org.");
	/* suffixes count only at label boundaries */
	cr_assert_eq(zonedb_find_zone(db, N("xexample.com."), apex), AD_ENOTFOUND);
	cr_assert_eq(zonedb_find_zone(db, N("xsub.example.com."), apex), 0);
	cr_assert_str_eq(T(apex), "example.com.");
	cr_assert_eq(zonedb_find_zone(db, N("com."), apex), AD_ENOTFOUND);
	cr_assert_eq(zonedb_find_zone(db, N("."), apex), AD_ENOTFOUND);

	/* DS at a child apex belongs to the parent; everything else to the child */
	cr_assert_eq(zonedb_find_owner(db, N("sub.example.com."), DNSW_T_DS, apex), 0);
	cr_assert_str_eq(T(apex), "example.com.");
	cr_assert_eq(zonedb_find_owner(db, N("sub.example.com."), DNSW_T_NS, apex), 0);
	cr_assert_str_eq(T(apex), "sub.example.com.");
	cr_assert_eq(zonedb_find_owner(db, N("example.com."), DNSW_T_DS, apex), 0);
	cr_assert_str_eq(T(apex), "example.com."); /* no parent served */

	uint8_t list[4][DNSW_NAME_MAX];
	cr_assert_eq(zonedb_list_zones(db, list, 4), 3);
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_add_zone(t, N("example.com.")), AD_EEXISTS);
	zonedb_txn_abort(t);

	/* the root zone holds everything */
	add_zone(".");
	cr_assert_eq(zonedb_find_zone(db, N("example.net."), apex), 0);
	cr_assert_str_eq(T(apex), ".");
}

Test(zonedb, put_get_rrset)
{
	uint8_t buf[512];
	struct zonedb_rrset rr;
	add_zone("example.com.");

	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "www.example.com.", 300, 1, 3), 0);
	cr_assert_eq(put_a(t, "www.example.net.", 300, 1, 1), AD_ENOTFOUND);
	struct zonedb_rrset_in bad = { DNSW_T_ANY, 300, 0, NULL, NULL };
	cr_assert_eq(zonedb_txn_put_rrset(t, N("www.example.com."), &bad), AD_EPARSE);
	commit(t, NULL);

	cr_assert_eq(zonedb_get_rrset(db, N("WWW.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_eq(rr.type, DNSW_T_A);
	cr_assert_eq(rr.ttl, 300);
	cr_assert_eq(rr.count, 3);
	cr_assert_eq(rr.rdata_len, 3 * 6);
	const uint8_t want[] = { 0, 4, 10, 0, 0, 1, 0, 4, 10, 0, 0, 2, 0, 4, 10, 0, 0, 3 };
	cr_assert_arr_eq(rr.rdata, want, sizeof(want));
	cr_assert_eq(zonedb_get_rrset(db, N("www.example.com."), DNSW_T_A, &rr, buf, 17),
		     AD_ENOSPACE);
	cr_assert_eq(zonedb_get_rrset(db, N("www.example.com."), DNSW_T_AAAA, &rr, buf,
				      sizeof(buf)), AD_ENOTFOUND);
	cr_assert_eq(zonedb_get_rrset(db, N("ftp.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), AD_ENOTFOUND);

	/* RDATAs are stored sorted, duplicates dropped; equal input is no change */
	const uint8_t r1[] = { 10, 0, 0, 3 }, r2[] = { 10, 0, 0, 1 }, r3[] = { 10, 0, 0, 2 };
	const uint8_t *rd[] = { r1, r2, r3, r2 };
	const uint16_t len[] = { 4, 4, 4, 4 };
	struct zonedb_rrset_in in = { DNSW_T_A, 300, 4, rd, len };
	cr_assert_eq(zonedb_get_rrset(db, N("www.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert(zonedb_rrset_equal(&rr, &in));
	in.ttl = 301;
	cr_assert_not(zonedb_rrset_equal(&rr, &in));
	in.ttl = 300;
	struct zonedb_changes c = { 0 };
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_put_rrset(t, N("www.example.com."), &in), 0);
	commit(t, &c);
	cr_assert_eq(c.count, 0);

	/* replace: fewer records, new TTL */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "www.example.com.", 60, 9, 1), 0);
	commit(t, &c);
	cr_assert_eq(c.count, 1);
	cr_assert(changed(&c, "www.example.com."));
	cr_assert_eq(zonedb_get_rrset(db, N("www.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_eq(rr.ttl, 60);
	cr_assert_eq(rr.count, 1);
	cr_assert_eq(rr.rdata[5], 9);
	zonedb_changes_free(&c);

	/* types at a node, ascending */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_txt(t, "www.example.com.", DNSW_T_TXT, "hello"), 0);
	commit(t, NULL);
	struct zonedb_node n;
	cr_assert_eq(zonedb_get_node(db, N("www.example.com."), &n), 0);
	cr_assert_eq(n.ntypes, 2);
	cr_assert_eq(n.types[0], DNSW_T_A);
	cr_assert_eq(n.types[1], DNSW_T_TXT);

	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("www.example.com."), DNSW_T_MX), AD_ENOTFOUND);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("www.example.com."), DNSW_T_A), 0);
	commit(t, NULL);
	cr_assert_eq(zonedb_get_node(db, N("www.example.com."), &n), 0);
	cr_assert_eq(n.ntypes, 1);
	cr_assert_eq(n.types[0], DNSW_T_TXT);
}

Test(zonedb, empty_non_terminals)
{
	struct zonedb_changes c = { 0 };
	add_zone("zone.");

	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "a.b.c.zone.", 300, 1, 1), 0);
	commit(t, &c);
	cr_assert_eq(node_types("a.b.c.zone."), 1);
	cr_assert_eq(node_types("b.c.zone."), 0);
	cr_assert_eq(node_types("c.zone."), 0);
	cr_assert_eq(node_types("zone."), 0);
	cr_assert_eq(node_types("x.b.c.zone."), -1);
	cr_assert_eq(c.count, 4);
	cr_assert(changed(&c, "a.b.c.zone.") && changed(&c, "b.c.zone.") &&
		  changed(&c, "c.zone.") && changed(&c, "zone."));
	zonedb_changes_free(&c);

	/* a sibling keeps its parent */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "d.b.c.zone.", 300, 1, 1), 0);
	commit(t, &c);
	cr_assert_eq(c.count, 1);
	zonedb_changes_free(&c);
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("a.b.c.zone."), DNSW_T_A), 0);
	commit(t, &c);
	cr_assert_eq(node_types("a.b.c.zone."), -1);
	cr_assert_eq(node_types("b.c.zone."), 0);
	cr_assert_eq(node_types("d.b.c.zone."), 1);
	cr_assert_eq(c.count, 1);
	zonedb_changes_free(&c);

	/* last one out: the whole chain goes */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("d.b.c.zone."), DNSW_T_A), 0);
	commit(t, &c);
	cr_assert_eq(node_types("d.b.c.zone."), -1);
	cr_assert_eq(node_types("b.c.zone."), -1);
	cr_assert_eq(node_types("c.zone."), -1);
	cr_assert_eq(node_types("zone."), -1);
	cr_assert_eq(c.count, 4);
	zonedb_changes_free(&c);

	/* data above data: deleting the upper RRset leaves an ENT, then it goes */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "b.c.zone.", 300, 1, 1), 0);
	cr_assert_eq(put_a(t, "a.b.c.zone.", 300, 1, 1), 0);
	cr_assert_eq(put_txt(t, "zone.", DNSW_T_TXT, "apex"), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.c.zone."), 1);
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("b.c.zone."), DNSW_T_A), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.c.zone."), 0);
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("a.b.c.zone."), DNSW_T_A), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.c.zone."), -1);
	cr_assert_eq(node_types("c.zone."), -1);
	cr_assert_eq(node_types("zone."), 1); /* the apex has data */
}

/* zonedb_get_name (the name's view, one read) says what zonedb_get_node and
 * zonedb_get_rrset say. */
static void check_name(const char *name, uint16_t type)
{
	static uint8_t buf1[65536], buf2[65536];
	struct zonedb_node n1, n2;
	struct zonedb_rrset r1, r2;
	int g1 = zonedb_get_name(db, N(name), type, &n1, &r1, buf1, sizeof(buf1));
	int g2 = zonedb_get_node(db, N(name), &n2);
	cr_assert_eq(g1, g2, "%s: get_name %d, get_node %d", name, g1, g2);
	if (g1 != 0)
		return;
	cr_assert_eq(n1.ntypes, n2.ntypes, "%s: types", name);
	cr_assert_eq(memcmp(n1.types, n2.types, n1.ntypes * sizeof(n1.types[0])), 0);
	int have = zonedb_get_rrset(db, N(name), type, &r2, buf2, sizeof(buf2));
	if (r1.rdata == NULL)
		return; /* not in the view: the caller reads it apart */
	cr_assert_eq(have, 0, "%s: a type the store does not hold", name);
	cr_assert(r1.type == r2.type && r1.ttl == r2.ttl && r1.count == r2.count &&
		  r1.rdata_len == r2.rdata_len && memcmp(r1.rdata, r2.rdata, r1.rdata_len) == 0,
		  "%s: RRset differs", name);
}

/* Whether the store holds a view (Q key) for a name of plain labels. Closes the
 * store, reads it with RocksDB directly, reopens it. */
static bool has_view(const char *name)
{
	const uint8_t *w = N(name);
	uint8_t key[1 + DNSW_NAME_MAX + 128];
	size_t offs[128], nl = 0, kl = 0;
	for (size_t p = 0; w[p] != 0; p += (size_t)w[p] + 1)
		offs[nl++] = p;
	key[kl++] = 'Q';
	while (nl-- > 0) {
		memcpy(key + kl, w + offs[nl] + 1, w[offs[nl]]);
		kl += w[offs[nl]];
		key[kl++] = 0;
	}
	zonedb_close(db);
	rocksdb_options_t *o = rocksdb_options_create();
	char *e = NULL;
	rocksdb_t *r = rocksdb_open_for_read_only(o, dir, 0, &e);
	cr_assert_null(e, "%s", e);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	size_t vl;
	char *v = rocksdb_get(r, ro, (const char *)key, kl, &vl, &e);
	cr_assert_null(e);
	rocksdb_free(v);
	rocksdb_readoptions_destroy(ro);
	rocksdb_close(r);
	rocksdb_options_destroy(o);
	open_db();
	return v != NULL;
}

Test(zonedb, name_views_follow_every_change)
{
	add_zone("zone.");
	static const char *const names[] = { "zone.", "a.zone.", "b.a.zone.", "c.b.a.zone.",
					     "big.zone.", "gone.zone.", "x.zone." };
	static const uint16_t types[] = { DNSW_T_A, DNSW_T_TXT, DNSW_T_MX, DNSW_T_AAAA };
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "a.zone.", 300, 1, 2), 0);
	cr_assert_eq(put_txt(t, "a.zone.", DNSW_T_TXT, "hello"), 0);
	cr_assert_eq(put_a(t, "c.b.a.zone.", 60, 7, 1), 0); /* b.a.zone. is an ENT */
	cr_assert_eq(put_a(t, "gone.zone.", 60, 9, 1), 0);
	/* 16 addresses and a long TXT: over the view's size, read from N and R */
	cr_assert_eq(put_a(t, "big.zone.", 300, 1, 16), 0);
	char text[250];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	cr_assert_eq(put_txt(t, "big.zone.", DNSW_T_TXT, text), 0);
	cr_assert_eq(put_txt(t, "big.zone.", DNSW_T_MX, text), 0);
	commit(t, NULL);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			check_name(names[i], types[k]);
	cr_assert(has_view("a.zone.") && has_view("b.a.zone.") && has_view("zone."));
	cr_assert(!has_view("big.zone.") && !has_view("x.zone."));

	/* change an RRset, add a type, delete a name: the views follow */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "a.zone.", 120, 5, 3), 0);
	cr_assert_eq(put_txt(t, "c.b.a.zone.", DNSW_T_TXT, "more"), 0);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("gone.zone."), DNSW_T_A), 0);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("a.zone."), DNSW_T_TXT), 0);
	commit(t, NULL);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			check_name(names[i], types[k]);
	cr_assert(!has_view("gone.zone."));

	/* the ENT's only descendant goes: the ENT and its view go too */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("c.b.a.zone."), DNSW_T_A), 0);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("c.b.a.zone."), DNSW_T_TXT), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.a.zone."), -1);
	cr_assert(!has_view("b.a.zone.") && !has_view("c.b.a.zone."));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		check_name(names[i], DNSW_T_A);

	/* and a deleted zone leaves no view behind */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_zone(t, N("zone.")), 0);
	commit(t, NULL);
	cr_assert(!has_view("a.zone.") && !has_view("zone."));
}

Test(zonedb, txn_sees_its_own_writes)
{
	struct zonedb_changes c = { 0 };
	add_zone("zone.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "a.b.zone.", 300, 1, 1), 0);
	cr_assert_eq(put_a(t, "c.b.zone.", 300, 1, 1), 0);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("a.b.zone."), DNSW_T_A), 0);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("a.b.zone."), DNSW_T_A), AD_ENOTFOUND);
	cr_assert_eq(zonedb_txn_delete_rrset(t, N("c.b.zone."), DNSW_T_A), 0);
	commit(t, &c);
	cr_assert_eq(node_types("a.b.zone."), -1);
	cr_assert_eq(node_types("b.zone."), -1);
	cr_assert_eq(node_types("zone."), -1);
	/* touched names are reported even when the net effect is nil: invalidating
	 * too much is safe, too little is not */
	cr_assert(changed(&c, "a.b.zone."));
	zonedb_changes_free(&c);

	/* an aborted transaction writes nothing */
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "x.zone.", 300, 1, 1), 0);
	zonedb_txn_abort(t);
	cr_assert_eq(node_types("x.zone."), -1);
	zonedb_txn_abort(NULL);

	/* a zone added in a transaction takes RRsets in the same transaction */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_add_zone(t, N("new.")), 0);
	cr_assert_eq(put_a(t, "www.new.", 300, 1, 1), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("www.new."), 1);
}

struct walk {
	char names[64][DNSW_TEXT_MAX];
	uint16_t types[64];
	size_t n;
};

static int walk_fn(const uint8_t *name, const struct zonedb_rrset *rr, void *arg)
{
	struct walk *w = arg;
	cr_assert_lt(w->n, 64);
	cr_assert_geq(dnsw_name_to_text(name, w->names[w->n], DNSW_TEXT_MAX), 0);
	w->types[w->n++] = rr->type;
	return 0;
}

Test(zonedb, canonical_order)
{
	/* RFC 4034 §6.1, plus labels with the escaped bytes 0 and 1 */
	static const char *const order[] = {
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		"z.a.example.",
		"zabc.a.example.",
		"z.example.",
		"\\000.z.example.",
		"\\000\\000.z.example.",
		"\\000\\001.z.example.",
		"\\001.z.example.",
		"\\001\\000.z.example.",
		"\\002.z.example.",
		"*.z.example.",
		"a.z.example.",
		"a\\000.z.example.",
		"a\\001.z.example.",
		"a\\002.z.example.",
		"aa.z.example.",
		"\\200.z.example.",
	};
	const size_t n = sizeof(order) / sizeof(order[0]);
	add_zone("example.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	for (size_t i = n; i-- > 0;) {
		/* written in reverse and mixed case where there are letters */
		char up[64];
		snprintf(up, sizeof(up), "%s", order[i]);
		if (up[0] >= 'a' && up[0] <= 'z')
			up[0] = (char)(up[0] - 32);
		cr_assert_eq(put_txt(t, up, DNSW_T_TXT, "t"), 0, "%s", up);
		cr_assert_eq(put_a(t, up, 300, 1, 1), 0);
	}
	commit(t, NULL);
	struct walk w = { .n = 0 };
	cr_assert_eq(zonedb_foreach_rrset(db, N("example."), walk_fn, &w), 0);
	cr_assert_eq(w.n, 2 * n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(w.names[2 * i], order[i]);
		cr_assert_str_eq(w.names[2 * i + 1], order[i]);
		cr_assert_eq(w.types[2 * i], DNSW_T_A);
		cr_assert_eq(w.types[2 * i + 1], DNSW_T_TXT);
	}
	cr_assert_eq(zonedb_foreach_rrset(db, N("nothere."), walk_fn, &w), AD_ENOTFOUND);
}

static int stop_fn(const uint8_t *name, const struct zonedb_rrset *rr, void *arg)
{
	(*(int *)arg)++;
	return 42;
}

Test(zonedb, child_zone)
{
	add_zone("example.com.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_txt(t, "example.com.", DNSW_T_TXT, "parent"), 0);
	cr_assert_eq(put_txt(t, "sub.example.com.", DNSW_T_NS, "delegation"), 0);
	cr_assert_eq(put_a(t, "ns.sub.example.com.", 300, 1, 1), 0);
	cr_assert_eq(put_a(t, "www.example.com.", 300, 1, 1), 0);
	commit(t, NULL);

	struct walk w = { .n = 0 };
	cr_assert_eq(zonedb_foreach_rrset(db, N("example.com."), walk_fn, &w), 0);
	cr_assert_eq(w.n, 4); /* the parent holds the delegation and its glue */

	/* the child zone takes over everything at and below its apex but DS */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_add_zone(t, N("sub.example.com.")), 0);
	cr_assert_eq(put_txt(t, "sub.example.com.", DNSW_T_SOA, "child soa"), 0);
	cr_assert_eq(put_txt(t, "sub.example.com.", DNSW_T_DS, "ds"), 0);
	cr_assert_eq(put_a(t, "deep.x.sub.example.com.", 300, 1, 1), 0);
	commit(t, NULL);
	w.n = 0;
	cr_assert_eq(zonedb_foreach_rrset(db, N("example.com."), walk_fn, &w), 0);
	cr_assert_eq(w.n, 3);
	cr_assert_str_eq(w.names[0], "example.com.");
	cr_assert_str_eq(w.names[1], "sub.example.com.");
	cr_assert_eq(w.types[1], DNSW_T_DS);
	cr_assert_str_eq(w.names[2], "www.example.com.");
	w.n = 0;
	cr_assert_eq(zonedb_foreach_rrset(db, N("sub.example.com."), walk_fn, &w), 0);
	cr_assert_eq(w.n, 4);
	cr_assert_str_eq(w.names[0], "sub.example.com.");
	cr_assert_eq(w.types[0], DNSW_T_NS);
	cr_assert_eq(w.types[1], DNSW_T_SOA);
	cr_assert_str_eq(w.names[2], "ns.sub.example.com.");
	cr_assert_str_eq(w.names[3], "deep.x.sub.example.com.");

	int calls = 0;
	cr_assert_eq(zonedb_foreach_rrset(db, N("sub.example.com."), stop_fn, &calls), 42);
	cr_assert_eq(calls, 1);

	/* deleting the child keeps the parent's data, DS included */
	struct zonedb_changes c = { 0 };
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_zone(t, N("sub.example.com.")), 0);
	commit(t, &c);
	cr_assert_not(zonedb_has_zone(db, N("sub.example.com.")));
	cr_assert_eq(node_types("deep.x.sub.example.com."), -1);
	cr_assert_eq(node_types("x.sub.example.com."), -1);
	cr_assert_eq(node_types("ns.sub.example.com."), -1);
	cr_assert_eq(node_types("sub.example.com."), 1); /* DS stays */
	cr_assert_eq(node_types("www.example.com."), 1);
	cr_assert(changed(&c, "sub.example.com.") && changed(&c, "deep.x.sub.example.com.") &&
		  changed(&c, "x.sub.example.com."));
	cr_assert_not(changed(&c, "www.example.com."));
	zonedb_changes_free(&c);
}

Test(zonedb, ents_between_parent_and_child)
{
	/* child first, then the parent above it */
	add_zone("c.b.example.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_txt(t, "c.b.example.", DNSW_T_SOA, "soa"), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.example."), -1);
	add_zone("example.");
	cr_assert_eq(node_types("b.example."), 0);
	cr_assert_eq(node_types("example."), 0);

	/* the parent goes: its ENTs with it, the child stays */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_zone(t, N("example.")), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("b.example."), -1);
	cr_assert_eq(node_types("example."), -1);
	cr_assert_eq(node_types("c.b.example."), 1);

	/* parent first, then the child: a put under the child makes the chain */
	add_zone("example.");
	t = zonedb_txn_begin(db);
	cr_assert_eq(put_txt(t, "example.", DNSW_T_SOA, "soa"), 0);
	cr_assert_eq(zonedb_txn_add_zone(t, N("e.d.example.")), 0);
	cr_assert_eq(put_txt(t, "e.d.example.", DNSW_T_SOA, "soa"), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("d.example."), 0);
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_zone(t, N("e.d.example.")), 0);
	commit(t, NULL);
	cr_assert_eq(node_types("d.example."), -1);
	cr_assert_eq(node_types("e.d.example."), -1);
	cr_assert_eq(node_types("example."), 1);
	cr_assert_eq(node_types("c.b.example."), 1);
}

Test(zonedb, claims_and_seq)
{
	struct zonedb_changes c = { 0 };
	add_zone("a.airdr.es.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_claim(t, N("MyApp.a.airdr.es."), true), 0);
	cr_assert_eq(zonedb_txn_claim(t, N("x.example."), true), AD_ENOTFOUND);
	zonedb_txn_set_seq(t, 77);
	commit(t, &c);
	cr_assert_eq(c.count, 1);
	cr_assert(changed(&c, "myapp.a.airdr.es."));
	cr_assert(zonedb_is_claimed(db, N("myapp.a.airdr.es.")));
	cr_assert(zonedb_is_claimed(db, N("MYAPP.a.airdr.es.")));
	cr_assert_not(zonedb_is_claimed(db, N("other.a.airdr.es.")));
	cr_assert_eq(zonedb_seq(db), 77);
	zonedb_changes_free(&c);

	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_claim(t, N("myapp.a.airdr.es."), true), 0); /* again */
	cr_assert_eq(zonedb_txn_claim(t, N("nope.a.airdr.es."), false), 0);
	commit(t, &c);
	cr_assert_eq(c.count, 0);

	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_claim(t, N("myapp.a.airdr.es."), false), 0);
	cr_assert_eq(zonedb_txn_claim(t, N("two.a.airdr.es."), true), 0);
	commit(t, &c);
	cr_assert_eq(c.count, 2);
	cr_assert_not(zonedb_is_claimed(db, N("myapp.a.airdr.es.")));
	zonedb_changes_free(&c);

	/* deleting the zone takes its claims */
	t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_delete_zone(t, N("a.airdr.es.")), 0);
	commit(t, &c);
	cr_assert_not(zonedb_is_claimed(db, N("two.a.airdr.es.")));
	cr_assert(changed(&c, "two.a.airdr.es."));
	zonedb_changes_free(&c);
}

Test(zonedb, reopen_persists)
{
	uint8_t apex[DNSW_NAME_MAX], buf[64];
	struct zonedb_rrset rr;
	add_zone("example.com.");
	add_zone("sub.example.com.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(put_a(t, "a.b.example.com.", 123, 7, 2), 0);
	cr_assert_eq(zonedb_txn_claim(t, N("c.example.com."), true), 0);
	zonedb_txn_set_seq(t, 0x0102030405060708ull);
	commit(t, NULL);
	zonedb_close(db);
	db = NULL;
	open_db();
	cr_assert_eq(zonedb_list_zones(db, NULL, 0), 2);
	cr_assert_eq(zonedb_find_zone(db, N("x.sub.example.com."), apex), 0);
	cr_assert_str_eq(T(apex), "sub.example.com.");
	cr_assert_eq(zonedb_get_rrset(db, N("a.b.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_eq(rr.ttl, 123);
	cr_assert_eq(rr.count, 2);
	cr_assert_eq(node_types("b.example.com."), 0);
	cr_assert(zonedb_is_claimed(db, N("c.example.com.")));
	cr_assert_eq(zonedb_seq(db), 0x0102030405060708ull);
}

Test(zonedb, open_error)
{
	struct zonedb *d = (struct zonedb *)1;
	char err[256] = "";
	cr_assert_eq(zonedb_open("/proc/no/such/dir", &d, err, sizeof(err)), AD_ECONFIG);
	cr_assert_null(d);
	cr_assert_neq(err[0], 0);
	zonedb_close(NULL);
}

/* ---- readers while a writer commits ---- */

#define ROUNDS 150

static uint8_t N_www[DNSW_NAME_MAX]; /* N() is not thread-safe */

static atomic_bool writer_done;
static atomic_long reads_ok, reads_bad;

/* Each version v of www is an A RRset of (v % 5) + 1 records all ending in v, with
 * TTL 1000 + v: a reader must see a count and TTL that match the value, never a mix
 * of versions. (Criterion asserts only from the test's own thread: count here.) */
static void *reader(void *arg)
{
	uint8_t buf[256];
	struct zonedb_rrset rr;
	long n = 0, bad = 0;
	while (!atomic_load(&writer_done) || n < 100) {
		int ret = zonedb_get_rrset(db, N_www, DNSW_T_A, &rr, buf, sizeof(buf));
		if (ret == AD_ENOTFOUND)
			continue;
		if (ret || rr.rdata_len != rr.count * 6u) {
			bad++;
			continue;
		}
		uint8_t v = rr.rdata[5];
		bool ok = rr.count == v % 5 + 1 && rr.ttl == 1000u + v;
		for (unsigned i = 0; i < rr.count; i++)
			ok = ok && rr.rdata[i * 6 + 5] == v;
		struct zonedb_node node;
		ret = zonedb_get_node(db, N_www, &node);
		ok = ok && (ret == 0 || ret == AD_ENOTFOUND);
		bad += !ok;
		n++;
	}
	atomic_fetch_add(&reads_ok, n);
	atomic_fetch_add(&reads_bad, bad);
	return NULL;
}

Test(zonedb, readers_during_commits)
{
	pthread_t th[2];
	add_zone("zone.");
	memcpy(N_www, N("www.zone."), DNSW_NAME_MAX);
	atomic_store(&writer_done, false);
	atomic_store(&reads_ok, 0);
	atomic_store(&reads_bad, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
	for (unsigned v = 0; v < ROUNDS; v++) {
		uint8_t rd[5][4];
		const uint8_t *p[5];
		uint16_t len[5];
		unsigned count = v % 5 + 1;
		/* equal RDATAs would collapse into one: vary a byte nobody checks */
		for (unsigned i = 0; i < count; i++) {
			rd[i][0] = 10, rd[i][1] = (uint8_t)i, rd[i][2] = 0, rd[i][3] = (uint8_t)v;
			p[i] = rd[i];
			len[i] = 4;
		}
		struct zonedb_rrset_in in = { DNSW_T_A, 1000 + v, (uint16_t)count, p, len };
		struct zonedb_txn *t = zonedb_txn_begin(db);
		if (v % 7 == 6) /* now and then the RRset (and its node) goes away */
			zonedb_txn_delete_rrset(t, N("www.zone."), DNSW_T_A);
		else
			cr_assert_eq(zonedb_txn_put_rrset(t, N("www.zone."), &in), 0);
		commit(t, NULL);
	}
	atomic_store(&writer_done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&reads_bad), 0);
	cr_assert_geq(atomic_load(&reads_ok), 200);
}

/* ---- cost of a point read (logged for the report, not asserted) ---- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double time_gets(const uint8_t (*names)[DNSW_NAME_MAX], size_t n, unsigned loops,
			bool expect_found)
{
	uint8_t buf[512];
	struct zonedb_rrset rr;
	double t0 = now_ns();
	for (unsigned l = 0; l < loops; l++)
		for (size_t i = 0; i < n; i++) {
			int ret = zonedb_get_rrset(db, names[i], DNSW_T_A, &rr, buf, sizeof(buf));
			cr_assert_eq(ret, expect_found ? 0 : AD_ENOTFOUND);
		}
	return (now_ns() - t0) / ((double)loops * n);
}

Test(zonedb, get_rrset_cost)
{
	enum { NAMES = 2000 };
	static uint8_t names[NAMES][DNSW_NAME_MAX], missing[NAMES][DNSW_NAME_MAX];
	add_zone("bench.example.");
	struct zonedb_txn *t = zonedb_txn_begin(db);
	for (unsigned i = 0; i < NAMES; i++) {
		char text[64];
		snprintf(text, sizeof(text), "host%u.bench.example.", i);
		cr_assert_eq(put_a(t, text, 300, i % 200, 2), 0);
		memcpy(names[i], N(text), DNSW_NAME_MAX);
		snprintf(text, sizeof(text), "nx%u.bench.example.", i);
		memcpy(missing[i], N(text), DNSW_NAME_MAX);
	}
	commit(t, NULL);
	double mem = time_gets(names, NAMES, 20, true);
	/* reopen: recovery flushes the memtable, reads now come from an SST file
	 * through the block cache */
	zonedb_close(db);
	db = NULL;
	open_db();
	time_gets(names, NAMES, 1, true); /* warm the block cache */
	double sst = time_gets(names, NAMES, 20, true);
	double nx = time_gets(missing, NAMES, 20, false);
	cr_log_info("zonedb_get_rrset: %.0f ns/call from the memtable, %.0f ns/call from "
		    "cached SST blocks, %.0f ns/call for a missing name", mem, sst, nx);
	fprintf(stderr, "zonedb_get_rrset: %.0f ns memtable, %.0f ns SST (cached), "
		"%.0f ns missing\n", mem, sst, nx);
}

/* ---- a whole new zone in one batch (zonedb_add_zone) ---- */

struct bulk_rrset {
	uint8_t owner[DNSW_NAME_MAX];
	uint16_t type;
	uint32_t ttl;
	uint16_t count;
	uint8_t rdata[4][300];
	const uint8_t *rd[4];
	uint16_t rdlen[4];
};

static void bulk_set(struct bulk_rrset *r, const char *owner, uint16_t type, uint32_t ttl,
		     unsigned count, const char *const *texts)
{
	memcpy(r->owner, N(owner), DNSW_NAME_MAX);
	r->type = type;
	r->ttl = ttl;
	r->count = (uint16_t)count;
	for (unsigned i = 0; i < count; i++) {
		size_t l = strlen(texts[i]);
		r->rdata[i][0] = (uint8_t)(l > 255 ? 255 : l);
		memcpy(r->rdata[i] + 1, texts[i], l);
		r->rd[i] = r->rdata[i];
		r->rdlen[i] = (uint16_t)(l + 1);
	}
}

/* zonefile.h's order: owner by (wire length, bytes), then type; stable otherwise. */
static int bulk_cmp(const void *a, const void *b)
{
	const struct bulk_rrset *x = a, *y = b;
	size_t lx = dnsw_name_len(x->owner), ly = dnsw_name_len(y->owner);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	int c = memcmp(x->owner, y->owner, lx);
	if (c)
		return c;
	return (x->type > y->type) - (x->type < y->type);
}

static void bulk_at(const void *arg, size_t i, const uint8_t **owner, struct zonedb_rrset_in *rr)
{
	const struct bulk_rrset *r = &((const struct bulk_rrset *)arg)[i];
	*owner = r->owner;
	*rr = (struct zonedb_rrset_in){ r->type, r->ttl, r->count, r->rd, r->rdlen };
}

/* A zone with what a transaction has to work for: RDATAs out of order and repeated,
 * empty non-terminals (shared ones too, and one below a wildcard), a name too large
 * for a view, a name with many types, the same RRset twice. */
static size_t bulk_zone(struct bulk_rrset *rs)
{
	static const char *const one[] = { "a" }, *const two[] = { "zz", "b" },
			       *const dup[] = { "b", "zz", "b" };
	static char big[300];
	memset(big, 'x', sizeof(big) - 1);
	const char *const bigs[] = { big, big + 1, big + 2 };
	size_t n = 0;
	bulk_set(&rs[n++], "example.", DNSW_T_SOA, 3600, 1, one);
	bulk_set(&rs[n++], "example.", DNSW_T_NS, 3600, 2, two);
	bulk_set(&rs[n++], "www.example.", DNSW_T_A, 300, 3, dup);
	bulk_set(&rs[n++], "www.example.", DNSW_T_AAAA, 300, 1, one);
	bulk_set(&rs[n++], "a.b.c.example.", DNSW_T_TXT, 60, 2, two);
	bulk_set(&rs[n++], "x.c.example.", DNSW_T_TXT, 60, 1, one);
	bulk_set(&rs[n++], "y.*.w.example.", DNSW_T_A, 60, 1, one);
	bulk_set(&rs[n++], "*.w.example.", DNSW_T_A, 60, 1, one);
	bulk_set(&rs[n++], "big.example.", DNSW_T_TXT, 60, 3, bigs);
	bulk_set(&rs[n++], "twice.example.", DNSW_T_TXT, 60, 1, one);
	bulk_set(&rs[n++], "twice.example.", DNSW_T_TXT, 90, 1, two);
	for (uint16_t t = 100; t < 110; t++)
		bulk_set(&rs[n++], "many.example.", t, 60, 1, one);
	qsort(rs, n, sizeof(rs[0]), bulk_cmp);
	return n;
}

/* Every key and value of two closed stores are the same. */
static void same_store(const char *a, const char *b)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *e = NULL;
	rocksdb_t *da = rocksdb_open_for_read_only(o, a, 0, &e);
	cr_assert_null(e, "%s", e);
	rocksdb_t *dbb = rocksdb_open_for_read_only(o, b, 0, &e);
	cr_assert_null(e, "%s", e);
	rocksdb_iterator_t *ia = rocksdb_create_iterator(da, ro), *ib = rocksdb_create_iterator(dbb, ro);
	size_t keys = 0;
	rocksdb_iter_seek_to_first(ia);
	rocksdb_iter_seek_to_first(ib);
	for (; rocksdb_iter_valid(ia); rocksdb_iter_next(ia), rocksdb_iter_next(ib), keys++) {
		cr_assert(rocksdb_iter_valid(ib), "key %zu: only the transaction's store has it", keys);
		size_t kal, kbl, val, vbl;
		const char *ka = rocksdb_iter_key(ia, &kal), *kb = rocksdb_iter_key(ib, &kbl);
		const char *va = rocksdb_iter_value(ia, &val), *vb = rocksdb_iter_value(ib, &vbl);
		cr_assert(kal == kbl && !memcmp(ka, kb, kal), "key %zu (%c...) differs", keys, ka[0]);
		cr_assert(val == vbl && !memcmp(va, vb, val), "value of key %zu (%c...) differs",
			  keys, ka[0]);
	}
	cr_assert_not(rocksdb_iter_valid(ib), "the batch wrote more keys than the transaction");
	cr_assert_gt(keys, 40);
	rocksdb_iter_destroy(ia);
	rocksdb_iter_destroy(ib);
	rocksdb_close(da);
	rocksdb_close(dbb);
	rocksdb_readoptions_destroy(ro);
	rocksdb_options_destroy(o);
}

Test(zonedb, add_zone_writes_what_a_transaction_writes)
{
	static struct bulk_rrset rs[32];
	size_t n = bulk_zone(rs);
	struct zonedb_changes ct = { 0 }, cb = { 0 };

	struct zonedb_txn *t = zonedb_txn_begin(db);
	cr_assert_eq(zonedb_txn_add_zone(t, N("example.")), 0);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *owner;
		struct zonedb_rrset_in rr;
		bulk_at(rs, i, &owner, &rr);
		cr_assert_eq(zonedb_txn_put_rrset(t, owner, &rr), 0, "put %s", T(owner));
	}
	commit(t, &ct);
	zonedb_close(db);

	char other[64];
	strcpy(other, "/tmp/test_zonedb.XXXXXX");
	cr_assert_not_null(mkdtemp(other));
	char err[256] = "";
	cr_assert_eq(zonedb_open(other, &db, err, sizeof(err)), 0, "%s", err);
	/* what a load that stopped half-way leaves behind is no obstacle, and goes */
	char stale[3][128];
	for (int i = 0; i < 3; i++) {
		snprintf(stale[i], sizeof(stale[i]), "%s/zone-load-%d.sst", other, i);
		FILE *f = fopen(stale[i], "w");
		cr_assert_not_null(f);
		fputs("half a table file", f);
		fclose(f);
	}
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, &cb), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(access(stale[i], F_OK), -1, "%s is left behind", stale[i]);
	cr_assert(zonedb_has_zone(db, N("example.")));
	cr_assert_eq(node_types("c.example."), 0, "an empty non-terminal");
	cr_assert_eq(node_types("many.example."), 10);
	zonedb_close(db);
	db = NULL;

	same_store(dir, other);
	cr_assert_eq(cb.count, ct.count);
	for (size_t i = 0; i < ct.count; i++)
		cr_assert(dnsw_name_equal(ct.names[i], cb.names[i]), "change %zu: %s and %s", i,
			  T(ct.names[i]), T(cb.names[i]));
	zonedb_changes_free(&ct);
	zonedb_changes_free(&cb);
	nftw(other, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	open_db();
}

Test(zonedb, add_zone_leaves_what_is_in_the_way_to_a_transaction)
{
	static struct bulk_rrset rs[32];
	size_t n = bulk_zone(rs);
	add_zone("example.");
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), AD_EEXISTS);
	cr_assert_eq(zonedb_add_zone(db, N("sub.example."), 0, bulk_at, rs, NULL), AD_EEXISTS,
		     "a zone above");
	cr_assert_eq(zonedb_add_zone(db, N("."), 0, bulk_at, rs, NULL), AD_EEXISTS,
		     "a zone below");
	cr_assert_eq(zonedb_list_zones(db, NULL, 0), 1);
}

Test(zonedb, add_zone_rejects_bad_input_and_writes_nothing)
{
	static struct bulk_rrset rs[32];
	size_t n = bulk_zone(rs);
	rs[n - 1].type = DNSW_T_ANY;
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), AD_EPARSE,
		     "a meta type");
	n = bulk_zone(rs);
	struct bulk_rrset tmp = rs[0];
	rs[0] = rs[n - 1];
	rs[n - 1] = tmp;
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), AD_EPARSE,
		     "owners out of order");
	n = bulk_zone(rs);
	rs[n - 1].owner[1] = 'M';
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), AD_EPARSE,
		     "an owner not lowercase");
	n = bulk_zone(rs);
	memcpy(rs[n - 1].owner, N("www.example.org."), DNSW_NAME_MAX);
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), AD_ENOTFOUND,
		     "an owner outside the zone");
	cr_assert_not(zonedb_has_zone(db, N("example.")));
	cr_assert_eq(node_types("example."), -1);
	n = bulk_zone(rs);
	cr_assert_eq(zonedb_add_zone(db, N("example."), n, bulk_at, rs, NULL), 0);
	cr_assert_eq(node_types("www.example."), 2);
}

static int count_rrset(const uint8_t *name, const struct zonedb_rrset *rrset, void *arg)
{
	(void)name, (void)rrset;
	++*(size_t *)arg;
	return 0;
}

/* More keys than one table file takes: several files, ingested together. */
Test(zonedb, add_zone_of_many_names)
{
	enum { NAMES = 100000 }; /* 3 keys a name: two files */
	struct bulk_rrset *rs = calloc(NAMES + 1, sizeof(*rs));
	cr_assert_not_null(rs);
	static const char *const one[] = { "a" };
	char name[64];
	bulk_set(&rs[0], "example.", DNSW_T_SOA, 3600, 1, one);
	for (unsigned i = 0; i < NAMES; i++) {
		snprintf(name, sizeof(name), "h%u.example.", i);
		bulk_set(&rs[i + 1], name, DNSW_T_TXT, 60, 1, one);
	}
	qsort(rs, NAMES + 1, sizeof(rs[0]), bulk_cmp);
	struct zonedb_changes c = { 0 };
	cr_assert_eq(zonedb_add_zone(db, N("example."), NAMES + 1, bulk_at, rs, &c), 0);
	cr_assert_eq(c.count, NAMES + 1);
	size_t stored = 0;
	cr_assert_eq(zonedb_foreach_rrset(db, N("example."), count_rrset, &stored), 0);
	cr_assert_eq(stored, NAMES + 1);
	cr_assert_eq(node_types("h0.example."), 1);
	cr_assert_eq(node_types("h99999.example."), 1);
	cr_assert_eq(node_types("h100000.example."), -1);
	size_t tables = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	for (struct dirent *de; (de = readdir(d));)
		tables += strstr(de->d_name, ".sst") != NULL;
	closedir(d);
	cr_assert_geq(tables, 2, "one table file per %s keys at most", "262144");
	zonedb_changes_free(&c);
	free(rs);
}
