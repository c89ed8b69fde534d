/*
 * Unit tests for zonefile: the good zone files of tests/data/zones (SOA, NS with
 * glue, a delegation, a CNAME chain, a wildcard, MX/SRV/TXT with long strings,
 * $INCLUDE, $TTL, $ORIGIN, relative names) read into the expected RRsets; every bad
 * file refused with its exact "FILE:LINE: message"; warnings; and zonefile_apply()
 * against a real store: first load, an unchanged reload writing nothing, a changed
 * reload writing only the difference, a bad reload keeping the old data, and a
 * served child zone left alone by its parent's file.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnswire.h"
#include "error.h"
#include "log.h"
#include "zonedb.h"
#include "zonefile.h"

#define ZONES TEST_DATA_DIR "/zones/"

static const uint8_t *N(const char *text)
{
	static uint8_t bufs[8][DNSW_NAME_MAX];
	static unsigned next;
	uint8_t *b = bufs[next++ % 8];
	int len = dnsw_name_from_text(text, strlen(text), (const uint8_t *)"", b);
	cr_assert_gt(len, 0, "name %s", text);
	return b;
}

static struct zonefile *load_ok(const char *file, const char *apex)
{
	struct zonefile *zf = NULL;
	char err[512] = "";
	int ret = zonefile_load(file, N(apex), &zf, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s: %s", file, err);
	return zf;
}

static const struct zonefile_rrset *find(const struct zonefile *zf, const char *name,
					 uint16_t type)
{
	const struct zonefile_rrset *rs = zonefile_find(zf, N(name), type);
	cr_assert_not_null(rs, "%s type %u missing", name, type);
	return rs;
}

Test(zonefile, good_zone)
{
	struct zonefile *zf = load_ok(ZONES "good.zone", "Example.COM.");
	cr_assert_eq(zf->nwarnings, 0);
	cr_assert_eq(zf->nrrsets, 21);
	cr_assert_eq(zf->nrecords, 24);

	const struct zonefile_rrset *soa = find(zf, "example.com.", DNSW_T_SOA);
	cr_assert_eq(soa->ttl, 3600);
	cr_assert_eq(soa->line, 4);
	/* ns1.example.com. hostmaster.example.com. then five 32-bit numbers */
	cr_assert_eq(soa->rdlen[0], 17 + 24 + 20);
	cr_assert_arr_eq(soa->rdata[0], "\3ns1\7example\3com\0", 17);
	cr_assert_arr_eq(soa->rdata[0] + 41, "\x78\xa3\xf1\x75", 4); /* 2024010101 */

	const struct zonefile_rrset *ns = find(zf, "example.com.", DNSW_T_NS);
	cr_assert_eq(ns->count, 2);
	cr_assert_eq(ns->line, 10);
	find(zf, "ns1.example.com.", DNSW_T_A);
	find(zf, "ns1.example.com.", DNSW_T_AAAA);
	cr_assert_eq(find(zf, "mail.example.com.", DNSW_T_A)->ttl, 300);

	/* the delegation and its glue */
	cr_assert_eq(find(zf, "sub.example.com.", DNSW_T_NS)->count, 2);
	const struct zonefile_rrset *glue = find(zf, "ns.sub.example.com.", DNSW_T_A);
	cr_assert_arr_eq(glue->rdata[0], "\xc0\x00\x02\x36", 4);

	/* owners lowercased, RDATA names kept as written */
	find(zf, "mixed.case.example.com.", DNSW_T_A);
	const struct zonefile_rrset *web = find(zf, "web.example.com.", DNSW_T_CNAME);
	cr_assert_eq(web->rdlen[0], 18);
	cr_assert_arr_eq(web->rdata[0], "\4Host\7Example\3COM\0", 18);
	const struct zonefile_rrset *www = find(zf, "www.example.com.", DNSW_T_CNAME);
	cr_assert_arr_eq(www->rdata[0], "\3web\7example\3com\0", 17);
	const struct zonefile_rrset *mx = find(zf, "example.com.", DNSW_T_MX);
	cr_assert_eq(mx->count, 2);
	cr_assert_eq(mx->rdlen[0], 2 + 18);
	cr_assert_arr_eq(mx->rdata[0], "\0\x0a\4mail\7example\3com\0", 20);
	cr_assert_arr_eq(mx->rdata[1], "\0\x14\5Mail2\7Example\3NET\0", 21);

	find(zf, "*.wild.example.com.", DNSW_T_A);
	find(zf, "a.b.example.com.", DNSW_T_TXT);
	cr_assert_null(zonefile_find(zf, N("b.example.com."), DNSW_T_TXT));

	const struct zonefile_rrset *srv = find(zf, "_sip._tcp.example.com.", DNSW_T_SRV);
	cr_assert_arr_eq(srv->rdata[0], "\0\x0a\0\x3c\x13\xc4\11sipserver\7example\3com\0",
			 6 + 23);
	const struct zonefile_rrset *txt = find(zf, "long.example.com.", DNSW_T_TXT);
	cr_assert_eq(txt->rdlen[0], 4 * 71 + 32);
	cr_assert_eq(txt->rdata[0][0], 70);
	cr_assert_eq(txt->rdata[0][4 * 71], 31);
	cr_assert_arr_eq(txt->rdata[0] + 4 * 71 + 1, "second; string with a semicolon", 31);

	/* $INCLUDE with an origin; its $TTL does not leak back */
	const struct zonefile_rrset *h1 = find(zf, "h1.hosts.example.com.", DNSW_T_A);
	cr_assert_eq(h1->ttl, 60);
	cr_assert_str_eq(h1->file, ZONES "inc/hosts.inc");
	cr_assert_eq(h1->line, 3);
	cr_assert_eq(find(zf, "hosts.example.com.", DNSW_T_TXT)->ttl, 60);
	cr_assert_eq(find(zf, "after.example.com.", DNSW_T_A)->ttl, 3600);
	zonefile_free(zf);
	zonefile_free(NULL);
}

Test(zonefile, odd_but_good)
{
	struct zonefile *zf = load_ok(ZONES "no-newline.zone", "example.com.");
	cr_assert_eq(zf->nrrsets, 3);
	cr_assert_eq(find(zf, "ns1.example.com.", DNSW_T_A)->line, 4);
	zonefile_free(zf);

	/* "$ORIGIN sub" is relative to the origin in force; a final comment is fine */
	zf = load_ok(ZONES "relative-origin.zone", "example.com.");
	cr_assert_eq(zf->nwarnings, 0);
	find(zf, "www.sub.example.com.", DNSW_T_A);
	zonefile_free(zf);
}

Test(zonefile, warnings)
{
	struct zonefile *zf = load_ok(ZONES "warn.zone", "example.com.");
	static const char *const want[] = {
		ZONES "warn.zone:10: ignoring out-of-zone data, owner outside.example.org.",
		ZONES "warn.zone:11: ignoring out-of-zone data, owner example.net.",
		ZONES "warn.zone:7: TTL 200 of a.example.com. A differs from the RRset's TTL "
		      "100 (" ZONES "warn.zone:6), using 100",
		ZONES "warn.zone:9: duplicate record ignored (dup.example.com. A)",
	};
	cr_assert_eq(zf->nwarnings, 4);
	for (size_t i = 0; i < 4; i++)
		cr_assert_str_eq(zf->warnings[i], want[i]);
	const struct zonefile_rrset *a = find(zf, "a.example.com.", DNSW_T_A);
	cr_assert_eq(a->ttl, 100);
	cr_assert_eq(a->count, 2);
	cr_assert_eq(find(zf, "dup.example.com.", DNSW_T_A)->count, 1);
	cr_assert_null(zonefile_find(zf, N("outside.example.org."), DNSW_T_A));
	zonefile_free(zf);
}

static void load_bad(const char *file, int want_ret, const char *want)
{
	struct zonefile *zf = (struct zonefile *)1;
	char err[512] = "";
	int ret = zonefile_load(file, N("example.com."), &zf, err, sizeof(err));
	cr_assert_eq(ret, want_ret, "%s: %d %s", file, ret, err);
	cr_assert_null(zf);
	cr_assert_str_eq(err, want);
}

Test(zonefile, bad_files)
{
	load_bad(ZONES "bad-syntax.zone", AD_EPARSE,
		 ZONES "bad-syntax.zone:6: Syntax error, could not parse the RR's rdata");
	load_bad(ZONES "bad-nosoa.zone", AD_EPARSE,
		 ZONES "bad-nosoa.zone: no SOA record at the zone apex example.com.");
	load_bad(ZONES "bad-twosoa.zone", AD_EPARSE,
		 ZONES "bad-twosoa.zone:3: more than one SOA record at the zone apex (first at "
		 ZONES "bad-twosoa.zone:2)");
	load_bad(ZONES "bad-soa-below.zone", AD_EPARSE,
		 ZONES "bad-soa-below.zone:4: SOA record at sub.example.com., not at the zone "
		 "apex");
	load_bad(ZONES "bad-nons.zone", AD_EPARSE,
		 ZONES "bad-nons.zone: no NS records at the zone apex example.com.");
	load_bad(ZONES "bad-cname.zone", AD_EPARSE,
		 ZONES "bad-cname.zone:5: CNAME and other data at www.example.com. (A at "
		 ZONES "bad-cname.zone:4)");
	load_bad(ZONES "bad-class.zone", AD_EPARSE,
		 ZONES "bad-class.zone:4: class CH is not supported (only IN)");
	/* an error in an included file names that file and its line */
	load_bad(ZONES "bad-include.zone", AD_EPARSE,
		 ZONES "inc/bad.inc:2: Syntax error, could not parse the RR's rdata");
	load_bad(ZONES "bad-loop.zone", AD_EPARSE,
		 ZONES "bad-loop.zone:4: $INCLUDE of " ZONES "bad-loop.zone is a loop");
	load_bad(ZONES "bad-missing-include.zone", -ENOENT,
		 ZONES "inc/does-not-exist.inc: cannot read (No such file or directory)");
	load_bad(ZONES "no-such.zone", -ENOENT,
		 ZONES "no-such.zone: cannot read (No such file or directory)");
	/* a device would never end, a directory is a mistake: neither is read */
	load_bad(ZONES "bad-include-device.zone", AD_EPARSE, "/dev/zero: not a regular file");
	load_bad(ZONES "inc", AD_EPARSE, ZONES "inc: not a regular file");
}

/* ---- apply ---- */

static char dir[64];
static struct zonedb *db;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void setup(void)
{
	char err[256] = "";
	log_set_level(LOG_LEVEL_ERROR); /* the warnings of warn.zone are expected */
	strcpy(dir, "/tmp/test_zonefile.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(zonedb_open(dir, &db, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	zonedb_close(db);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t apply(const char *file, const char *apex, struct zonedb_changes *c)
{
	char err[512] = "";
	size_t n = 12345;
	int ret = zonefile_apply(db, N(apex), file, c, &n, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s: %s", file, err);
	return n;
}

static bool changed(const struct zonedb_changes *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (dnsw_name_equal(c->names[i], N(name)))
			return true;
	return false;
}

static int count_fn(const uint8_t *name, const struct zonedb_rrset *rr, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t stored(const char *apex)
{
	size_t n = 0;
	cr_assert_eq(zonedb_foreach_rrset(db, N(apex), count_fn, &n), 0);
	return n;
}

static uint8_t host_last_octet(void)
{
	uint8_t buf[64];
	struct zonedb_rrset rr;
	cr_assert_eq(zonedb_get_rrset(db, N("host.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), 0);
	return rr.rdata[5];
}

TestSuite(zonefile_apply, .init = setup, .fini = teardown, .timeout = 60);

Test(zonefile_apply, load_reload_diff)
{
	struct zonedb_changes c = { 0 };
	struct zonedb_node n;
	uint8_t buf[512];
	struct zonedb_rrset rr;

	cr_assert_eq(apply(ZONES "good.zone", "example.com.", &c), 21);
	cr_assert(zonedb_has_zone(db, N("example.com.")));
	cr_assert_eq(stored("example.com."), 21);
	cr_assert(changed(&c, "example.com.") && changed(&c, "b.example.com.") &&
		  changed(&c, "h1.hosts.example.com."));
	cr_assert_eq(zonedb_get_node(db, N("b.example.com."), &n), 0);
	cr_assert_eq(n.ntypes, 0); /* an empty non-terminal */
	cr_assert_eq(zonedb_get_rrset(db, N("web.example.com."), DNSW_T_CNAME, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_arr_eq(rr.rdata, "\0\x12\4Host\7Example\3COM\0", 20);
	cr_assert_eq(host_last_octet(), 80);
	zonedb_changes_free(&c);

	/* the same file again: nothing written */
	cr_assert_eq(apply(ZONES "good.zone", "example.com.", &c), 0);
	cr_assert_eq(c.count, 0);

	/* one A changed, the apex TXT gone, one AAAA new: exactly those names */
	cr_assert_eq(apply(ZONES "good-v2.zone", "example.com.", &c), 3);
	cr_assert_eq(c.count, 3);
	cr_assert(changed(&c, "host.example.com."));
	cr_assert(changed(&c, "example.com."));
	cr_assert(changed(&c, "new.example.com."));
	cr_assert_eq(host_last_octet(), 81);
	cr_assert_eq(zonedb_get_rrset(db, N("example.com."), DNSW_T_TXT, &rr, buf,
				      sizeof(buf)), AD_ENOTFOUND);
	cr_assert_eq(stored("example.com."), 21);
	zonedb_changes_free(&c);
}

Test(zonefile_apply, bad_reload_keeps_data)
{
	struct zonedb_changes c = { 0 };
	char err[512] = "";
	size_t n = 777;
	cr_assert_eq(apply(ZONES "good.zone", "example.com.", NULL), 21);
	static const char *const bad[] = {
		ZONES "bad-syntax.zone", ZONES "bad-nosoa.zone", ZONES "bad-cname.zone",
		ZONES "bad-include.zone", ZONES "no-such.zone",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = zonefile_apply(db, N("example.com."), bad[i], &c, &n, err, sizeof(err));
		cr_assert_neq(ret, 0, "%s", bad[i]);
		cr_assert_neq(err[0], 0);
		cr_assert_eq(n, 777);
		cr_assert_eq(c.count, 0);
	}
	cr_assert_str_eq(err, ZONES "no-such.zone: cannot read (No such file or directory)");
	cr_assert_eq(stored("example.com."), 21);
	cr_assert_eq(host_last_octet(), 80);

	/* a bad first load creates no zone */
	cr_assert_neq(zonefile_apply(db, N("example.org."), ZONES "bad-syntax.zone", NULL, NULL,
				     err, sizeof(err)), 0);
	cr_assert_not(zonedb_has_zone(db, N("example.org.")));
}

Test(zonefile_apply, child_zone_left_alone)
{
	struct zonedb_changes c = { 0 };
	uint8_t buf[128];
	struct zonedb_rrset rr;

	cr_assert_eq(apply(ZONES "good.zone", "example.com.", NULL), 21);
	/* some stale data of the parent under the future child */
	struct zonedb_txn *t = zonedb_txn_begin(db);
	const uint8_t a[4] = { 192, 0, 2, 9 }, *ap = a;
	const uint16_t al = 4;
	struct zonedb_rrset_in in = { DNSW_T_A, 300, 1, &ap, &al };
	cr_assert_eq(zonedb_txn_put_rrset(t, N("stale.sub.example.com."), &in), 0);
	cr_assert_eq(zonedb_txn_commit(t, NULL), 0);
	cr_assert_eq(stored("example.com."), 22);

	/* the child takes sub.example.com. and below: the parent's NS and glue there
	 * are replaced by the child's own, what the child's file lacks goes */
	cr_assert_eq(apply(ZONES "sub.zone", "sub.example.com.", &c), 5);
	cr_assert(changed(&c, "stale.sub.example.com."));
	cr_assert_eq(zonedb_get_rrset(db, N("stale.sub.example.com."), DNSW_T_A, &rr, buf,
				      sizeof(buf)), AD_ENOTFOUND);
	cr_assert_eq(stored("sub.example.com."), 4);
	cr_assert_eq(stored("example.com."), 19);
	cr_assert_eq(zonedb_get_rrset(db, N("sub.example.com."), DNSW_T_NS, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_eq(rr.ttl, 600);
	zonedb_changes_free(&c);

	/* reloading the parent does not fight the child */
	cr_assert_eq(apply(ZONES "good.zone", "example.com.", &c), 0);
	cr_assert_eq(c.count, 0);
	cr_assert_eq(apply(ZONES "sub.zone", "sub.example.com.", &c), 0);
	cr_assert_eq(zonedb_get_rrset(db, N("sub.example.com."), DNSW_T_NS, &rr, buf,
				      sizeof(buf)), 0);
	cr_assert_eq(rr.ttl, 600);
}
