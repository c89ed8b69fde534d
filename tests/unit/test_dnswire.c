/*
 * Unit tests for dnswire: the query parser on packets built here byte by byte (valid
 * ones, every way a query can be malformed, every truncation), the writer against
 * responses written out by hand, round trips of what it writes, truncation with
 * rollback, cached-answer patching, and the name utilities.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnswire.h"
#include "error.h"

/* A packet being built by hand. */
struct pkt {
	uint8_t b[4096];
	size_t n;
};

static void put(struct pkt *p, const void *bytes, size_t n)
{
	cr_assert(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, bytes, n);
	p->n += n;
}

static void put8(struct pkt *p, uint8_t v)
{
	put(p, &v, 1);
}

static void put16(struct pkt *p, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(p, b, 2);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

/* Wire name from "www.example.com" (no escapes; "" is the root). */
static void put_text_name(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(p, (uint8_t)l);
		put(p, name, l);
		name += l + (dot ? 1 : 0);
	}
	put8(p, 0);
}

static void header(struct pkt *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	p->n = 0;
	put16(p, id);
	put16(p, flags);
	put16(p, qd);
	put16(p, an);
	put16(p, ns);
	put16(p, ar);
}

/* id 0x1234, RD, www.Example.COM A IN, arcount as given (OPT etc. follow). */
static void query(struct pkt *p, uint16_t ar)
{
	header(p, 0x1234, DNSW_FLAG_RD, 1, 0, 0, ar);
	put_text_name(p, "www.Example.COM");
	put16(p, DNSW_T_A);
	put16(p, DNSW_CLASS_IN);
}

/* OPT header: payload, ext rcode, version, flags, rdlen. */
static void opt(struct pkt *p, uint16_t payload, uint8_t ext, uint8_t ver, uint16_t flags,
		uint16_t rdlen)
{
	put8(p, 0);
	put16(p, DNSW_T_OPT);
	put16(p, payload);
	put8(p, ext);
	put8(p, ver);
	put16(p, flags);
	put16(p, rdlen);
}

/* Parse an exact-size heap copy, so that ASan catches any read past len. */
static int parse(const uint8_t *b, size_t n, struct dnsw_query *q)
{
	uint8_t *copy = malloc(n ? n : 1);
	cr_assert(copy != NULL);
	memcpy(copy, b, n);
	memset(q, 0xa5, sizeof(*q));
	int ret = dnsw_parse_query(copy, n, q);
	free(copy);
	return ret;
}

static int parse_pkt(const struct pkt *p, struct dnsw_query *q)
{
	return parse(p->b, p->n, q);
}

static const uint8_t WWW_EXAMPLE_COM[] = "\3www\7Example\3COM";
static const uint8_t WWW_EXAMPLE_COM_LC[] = "\3www\7example\3com";

Test(parse, normal_query)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 0);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.id, 0x1234);
	cr_assert_eq(q.flags, DNSW_FLAG_RD);
	cr_assert_eq(q.opcode, DNSW_OP_QUERY);
	cr_assert_eq(q.qdcount, 1);
	cr_assert_eq(q.qtype, DNSW_T_A);
	cr_assert_eq(q.qclass, DNSW_CLASS_IN);
	cr_assert_eq(q.qname_len, 17);
	cr_assert_eq(q.qname_labels, 3);
	cr_assert_not(q.qname_compressed);
	cr_assert_eq(memcmp(q.qname, WWW_EXAMPLE_COM, 17), 0);
	cr_assert_eq(memcmp(q.qname_lc, WWW_EXAMPLE_COM_LC, 17), 0);
	cr_assert_eq(q.question_end, p.n);
	cr_assert_not(q.has_edns);
	cr_assert_not(q.has_tsig);
	cr_assert_not(q.nsid);
	cr_assert_eq(q.cookie_len, 0);
	cr_assert_eq(q.edns_payload, 512);
}

Test(parse, root_query)
{
	struct pkt p;
	struct dnsw_query q;
	header(&p, 7, 0, 1, 0, 0, 0);
	put8(&p, 0);
	put16(&p, DNSW_T_NS);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.qname_len, 1);
	cr_assert_eq(q.qname_labels, 0);
	cr_assert_eq(q.qname[0], 0);
}

Test(parse, edns_do_nsid_cookie)
{
	struct pkt p;
	struct dnsw_query q;
	static const uint8_t cc[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0x8000, 4 + 4 + 8 + 4 + 2);
	put16(&p, DNSW_EDNS_NSID);
	put16(&p, 0);
	put16(&p, DNSW_EDNS_COOKIE);
	put16(&p, 8);
	put(&p, cc, 8);
	put16(&p, 65001); /* unknown option: skipped */
	put16(&p, 2);
	put16(&p, 0xbeef);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert(q.has_edns);
	cr_assert(q.edns_do);
	cr_assert(q.nsid);
	cr_assert_eq(q.edns_version, 0);
	cr_assert_eq(q.edns_payload, 1232);
	cr_assert_eq(q.edns_flags, 0x8000);
	cr_assert_eq(q.cookie_len, 8);
	cr_assert_eq(memcmp(q.cookie, cc, 8), 0);
}

Test(parse, edns_server_cookie_clamp_version)
{
	struct pkt p;
	struct dnsw_query q;
	uint8_t ck[40];
	for (int i = 0; i < 40; i++)
		ck[i] = (uint8_t)i;
	static const size_t ok_lens[] = { 8, 16, 24, 40 };
	for (size_t i = 0; i < 4; i++) {
		query(&p, 1);
		opt(&p, 100, 0, 1, 0, (uint16_t)(4 + ok_lens[i]));
		put16(&p, DNSW_EDNS_COOKIE);
		put16(&p, (uint16_t)ok_lens[i]);
		put(&p, ck, ok_lens[i]);
		cr_assert_eq(parse_pkt(&p, &q), 0, "cookie of %zu", ok_lens[i]);
		cr_assert_eq(q.cookie_len, ok_lens[i]);
		cr_assert_eq(memcmp(q.cookie, ck, ok_lens[i]), 0);
		cr_assert_eq(q.edns_payload, 512); /* 100 clamped up */
		cr_assert_eq(q.edns_version, 1);   /* reported; BADVERS is the server's call */
		cr_assert_not(q.edns_do);
	}
	query(&p, 1);
	opt(&p, 65535, 0, 0, 0, 0);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.edns_payload, 65535);
}

Test(parse, bad_edns)
{
	struct pkt p;
	struct dnsw_query q;
	uint8_t ck[48] = { 0 };

	/* two OPTs */
	query(&p, 2);
	opt(&p, 1232, 0, 0, 0, 0);
	opt(&p, 1232, 0, 0, 0, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
	cr_assert_eq(q.id, 0x1234);

	/* an option longer than the rdata */
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0, 6);
	put16(&p, DNSW_EDNS_NSID);
	put16(&p, 3);
	put16(&p, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* an option header cut by the end of the rdata */
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0, 3);
	put16(&p, DNSW_EDNS_NSID);
	put8(&p, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* rdata longer than the packet */
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0, 4);
	put16(&p, DNSW_EDNS_NSID);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* cookies of the wrong size */
	static const size_t bad_lens[] = { 0, 1, 7, 9, 15, 41, 48 };
	for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
		query(&p, 1);
		opt(&p, 1232, 0, 0, 0, (uint16_t)(4 + bad_lens[i]));
		put16(&p, DNSW_EDNS_COOKIE);
		put16(&p, (uint16_t)bad_lens[i]);
		put(&p, ck, bad_lens[i]);
		cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR, "cookie of %zu", bad_lens[i]);
	}

	/* two cookies */
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0, 24);
	put16(&p, DNSW_EDNS_COOKIE);
	put16(&p, 8);
	put(&p, ck, 8);
	put16(&p, DNSW_EDNS_COOKIE);
	put16(&p, 8);
	put(&p, ck, 8);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* OPT owned by a name other than the root */
	query(&p, 1);
	put_text_name(&p, "x");
	put16(&p, DNSW_T_OPT);
	put16(&p, 1232);
	put32(&p, 0);
	put16(&p, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* OPT in the authority section */
	header(&p, 1, 0, 1, 0, 1, 0);
	put_text_name(&p, "a");
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	opt(&p, 1232, 0, 0, 0, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, tsig_presence)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 2);
	opt(&p, 1232, 0, 0, 0, 0);
	size_t tsig_at = p.n;
	put_text_name(&p, "key.example");
	put16(&p, DNSW_T_TSIG);
	put16(&p, 255);
	put32(&p, 0);
	put16(&p, 3);
	put8(&p, 1);
	put16(&p, 2);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert(q.has_tsig);
	cr_assert(q.has_edns);
	cr_assert_eq(q.tsig_offset, tsig_at);

	/* TSIG not last */
	query(&p, 2);
	put_text_name(&p, "key.example");
	put16(&p, DNSW_T_TSIG);
	put16(&p, 255);
	put32(&p, 0);
	put16(&p, 0);
	opt(&p, 1232, 0, 0, 0, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, notify_with_answer_pointer)
{
	/* NOTIFY carrying the SOA in the answer section, owner compressed to the qname */
	struct pkt p;
	struct dnsw_query q;
	header(&p, 99, DNSW_OP_NOTIFY << 11 | DNSW_FLAG_AA, 1, 1, 0, 0);
	put_text_name(&p, "example.com");
	put16(&p, DNSW_T_SOA);
	put16(&p, DNSW_CLASS_IN);
	put16(&p, 0xc00c);
	put16(&p, DNSW_T_SOA);
	put16(&p, DNSW_CLASS_IN);
	put32(&p, 3600);
	put16(&p, 4);
	put32(&p, 2024010101);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.opcode, DNSW_OP_NOTIFY);
	cr_assert_eq(q.ancount, 1);

	/* the same with a forward pointer in the answer owner */
	p.b[p.n - 4 - 2 - 4 - 2 - 2 - 1] = 0x40; /* low byte of the pointer: 0x40 > here */
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, question_pointers)
{
	struct pkt p;
	struct dnsw_query q;

	/* backwards into the header: qdcount's high byte (offset 4) is 0, the root */
	header(&p, 5, 0, 1, 0, 0, 0);
	put8(&p, 3);
	put(&p, "Foo", 3);
	put16(&p, 0xc004);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert(q.qname_compressed);
	cr_assert_eq(q.qname_len, 5);
	cr_assert_eq(memcmp(q.qname, "\3Foo", 5), 0);
	cr_assert_eq(memcmp(q.qname_lc, "\3foo", 5), 0);
	cr_assert_eq(q.question_end, p.n);

	/* a pointer to itself */
	header(&p, 5, 0, 1, 0, 0, 0);
	put16(&p, 0xc00c);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* a loop through the start of the name */
	header(&p, 5, 0, 1, 0, 0, 0);
	put8(&p, 1);
	put8(&p, 'a');
	put16(&p, 0xc00c);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* forward */
	header(&p, 5, 0, 1, 0, 0, 0);
	put16(&p, 0xc00e);
	put8(&p, 0);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);

	/* a pointer cut by the end of the packet */
	header(&p, 5, 0, 1, 0, 0, 0);
	put8(&p, 0xc0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

/* A chain: "a" at 12, then names "\1b" + pointer to the previous one. Unpacking the
 * k-th name follows k pointers. */
Test(names, unpack_pointer_chain_limit)
{
	struct pkt p;
	uint8_t out[DNSW_NAME_MAX];
	size_t at[40];
	header(&p, 0, 0, 0, 0, 0, 0);
	at[0] = p.n;
	put8(&p, 1);
	put8(&p, 'a');
	put8(&p, 0);
	for (int k = 1; k < 40; k++) {
		at[k] = p.n;
		put8(&p, 1);
		put8(&p, 'b');
		put16(&p, (uint16_t)(0xc000 | at[k - 1]));
	}
	for (int k = 0; k < 40; k++) {
		size_t pos = at[k];
		int n = dnsw_name_unpack(p.b, p.n, &pos, out);
		if (k <= DNSW_PTR_MAX) {
			cr_assert_eq(n, 2 * (k + 1) + 1, "k=%d n=%d", k, n);
			cr_assert_eq(pos, at[k] + (k ? 4 : 3));
			cr_assert_eq(out[2 * k], 1);
			cr_assert_eq(out[2 * k + 1], 'a');
		} else {
			cr_assert_eq(n, AD_EPARSE, "k=%d", k);
			cr_assert_eq(pos, at[k]);
		}
	}
}

Test(parse, label_63_and_64)
{
	struct pkt p;
	struct dnsw_query q;
	char l63[64];
	memset(l63, 'x', 63);
	header(&p, 1, 0, 1, 0, 0, 0);
	put8(&p, 63);
	put(&p, l63, 63);
	put8(&p, 0);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.qname_len, 65);

	header(&p, 1, 0, 1, 0, 0, 0);
	put8(&p, 64); /* 0x40: an extended label type, and over 63 */
	put(&p, l63, 63);
	put8(&p, 'x');
	put8(&p, 0);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, extended_labels)
{
	static const uint8_t types[] = { 0x40, 0x41, 0x7f, 0x80, 0xbf };
	for (size_t i = 0; i < sizeof(types); i++) {
		struct pkt p;
		struct dnsw_query q;
		header(&p, 1, 0, 1, 0, 0, 0);
		put8(&p, types[i]);
		put8(&p, 0);
		put8(&p, 0);
		put16(&p, DNSW_T_A);
		put16(&p, DNSW_CLASS_IN);
		cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR, "type %#x", types[i]);
	}
}

/* A name of exactly total wire bytes (root included): labels of 63, then the rest. */
static void put_long_name(struct pkt *p, size_t total)
{
	char x[63];
	memset(x, 'y', sizeof(x));
	size_t left = total - 1;
	while (left > 0) {
		size_t l = left > 64 ? 63 : left - 1;
		if (left - (l + 1) == 1) /* never leave a single byte (an empty label) */
			l--;
		put8(p, (uint8_t)l);
		put(p, x, l);
		left -= l + 1;
	}
	put8(p, 0);
}

Test(parse, name_255_and_256)
{
	struct pkt p;
	struct dnsw_query q;
	header(&p, 1, 0, 1, 0, 0, 0);
	put_long_name(&p, 255);
	cr_assert_eq(p.n, 12 + 255);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	cr_assert_eq(q.qname_len, 255);

	header(&p, 1, 0, 1, 0, 0, 0);
	put_long_name(&p, 256);
	cr_assert_eq(p.n, 12 + 256);
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, every_truncation)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0x8000, 16);
	put16(&p, DNSW_EDNS_NSID);
	put16(&p, 0);
	put16(&p, DNSW_EDNS_COOKIE);
	put16(&p, 8);
	put32(&p, 0x01020304);
	put32(&p, 0x05060708);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	for (size_t n = 0; n < p.n; n++) {
		int ret = parse(p.b, n, &q);
		if (n < DNSW_HDR_LEN) {
			cr_assert_eq(ret, DNSW_DROP, "cut at %zu", n);
		} else {
			cr_assert_eq(ret, DNSW_FORMERR, "cut at %zu", n);
			cr_assert_eq(q.id, 0x1234);
		}
	}
}

Test(parse, trailing_bytes)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 0);
	put8(&p, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
}

Test(parse, response_is_dropped)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 0);
	p.b[2] |= 0x80;
	cr_assert_eq(parse_pkt(&p, &q), DNSW_DROP);
	cr_assert_eq(parse(p.b, 11, &q), DNSW_DROP);
	cr_assert_eq(parse(p.b, 0, &q), DNSW_DROP);
}

Test(parse, qdcount_not_one)
{
	struct pkt p;
	struct dnsw_query q;
	header(&p, 0x4242, 0, 0, 0, 0, 0);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
	cr_assert_eq(q.id, 0x4242);
	cr_assert_eq(q.qdcount, 0);

	header(&p, 0x4243, DNSW_FLAG_RD, 2, 0, 0, 0);
	put_text_name(&p, "a");
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	put_text_name(&p, "b");
	put16(&p, DNSW_T_A);
	put16(&p, DNSW_CLASS_IN);
	cr_assert_eq(parse_pkt(&p, &q), DNSW_FORMERR);
	cr_assert_eq(q.id, 0x4243);
	cr_assert_eq(q.flags, DNSW_FLAG_RD);
}

/* ---- writer ---- */

/* A parsed copy of a response: flip QR so that dnsw_parse_query accepts it, which
 * checks the whole structure (every record inside, nothing after). */
static int parse_response(const uint8_t *b, size_t n, struct dnsw_query *q)
{
	uint8_t *copy = malloc(n);
	cr_assert(copy != NULL && n >= DNSW_HDR_LEN);
	memcpy(copy, b, n);
	copy[2] &= 0x7f;
	int ret = parse(copy, n, q);
	free(copy);
	return ret;
}

/* Expanded owner name, type and rdata offset of the idx-th record after the
 * question. */
static void nth_rr(const uint8_t *b, size_t n, unsigned idx, uint8_t *owner, uint16_t *type,
		   size_t *rdata, uint16_t *rdlen)
{
	size_t pos = DNSW_HDR_LEN;
	uint8_t tmp[DNSW_NAME_MAX];
	cr_assert(dnsw_name_unpack(b, n, &pos, tmp) > 0);
	pos += 4;
	for (unsigned i = 0;; i++) {
		cr_assert(dnsw_name_unpack(b, n, &pos, owner) > 0);
		cr_assert(pos + 10 <= n);
		*type = (uint16_t)(b[pos] << 8 | b[pos + 1]);
		*rdlen = (uint16_t)(b[pos + 8] << 8 | b[pos + 9]);
		*rdata = pos + 10;
		if (i == idx)
			return;
		pos += 10 + *rdlen;
	}
}

static struct dnsw_query parsed_query(void)
{
	struct pkt p;
	struct dnsw_query q;
	query(&p, 1);
	opt(&p, 1232, 0, 0, 0x8000, 0);
	cr_assert_eq(parse_pkt(&p, &q), 0);
	return q;
}

Test(write, echo_bytes)
{
	struct dnsw_query q = parsed_query();
	uint8_t buf[512];
	struct dnsw_writer w;
	static const uint8_t addr[4] = { 203, 0, 113, 10 };
	struct dnsw_opt o = { .payload = 1232, .do_bit = true };

	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, q.id, dnsw_reply_flags(&q) | DNSW_FLAG_AA), 0);
	cr_assert_eq(dnsw_put_question(&w, q.qname, q.qtype, q.qclass), 0);
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, q.qname_lc, DNSW_T_A, DNSW_CLASS_IN, 300,
				 addr, 4), 0);
	cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	size_t n = dnsw_finish(&w);

	/* the same with NULL for "the question's name" as the owner */
	uint8_t buf2[512];
	dnsw_writer_init(&w, buf2, sizeof(buf2));
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, 1, 1, addr, 4), AD_EPARSE);
	cr_assert_eq(dnsw_put_header(&w, q.id, dnsw_reply_flags(&q) | DNSW_FLAG_AA), 0);
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, 1, 1, addr, 4), AD_EPARSE);
	cr_assert_eq(dnsw_put_question(&w, q.qname, q.qtype, q.qclass), 0);
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, DNSW_CLASS_IN, 300, addr, 4),
		     0);
	cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	cr_assert_eq(dnsw_finish(&w), n);
	cr_assert_eq(memcmp(buf, buf2, n), 0);

	static const uint8_t want[] = {
		0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 1,
		3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0,
		0, 1, 0, 1,
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 203, 0, 113, 10,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0,
	};
	cr_assert_eq(n, sizeof(want));
	cr_assert_eq(memcmp(buf, want, n), 0);
}

Test(write, compression_of_owners_and_rdata)
{
	uint8_t buf[512];
	struct dnsw_writer w;
	uint8_t ns1[DNSW_NAME_MAX], ns2[DNSW_NAME_MAX], apex[DNSW_NAME_MAX];
	int l1 = dnsw_name_from_text("ns1.example.com.", 16, NULL, ns1);
	int l2 = dnsw_name_from_text("NS2.EXAMPLE.COM.", 16, NULL, ns2);
	int la = dnsw_name_from_text("example.com.", 12, NULL, apex);
	cr_assert(l1 > 0 && l2 > 0 && la > 0);

	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 1, DNSW_FLAG_QR | DNSW_FLAG_AA), 0);
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"\3www\7example\3com", DNSW_T_NS,
				       DNSW_CLASS_IN), 0);
	/* NS with rdata given as wire bytes and the name's offset */
	uint16_t off0 = 0;
	cr_assert_eq(dnsw_put_rr_names(&w, DNSW_SEC_NS, apex, DNSW_T_NS, DNSW_CLASS_IN, 3600,
				       ns1, (uint16_t)l1, &off0, 1), 0);
	/* NS built piecewise */
	cr_assert_eq(dnsw_rr_begin(&w, apex, DNSW_T_NS, DNSW_CLASS_IN, 3600), 0);
	cr_assert_eq(dnsw_put_name(&w, ns2, true), 0);
	cr_assert_eq(dnsw_rr_end(&w, DNSW_SEC_NS), 0);
	/* glue for ns1: owner compresses to the NS rdata */
	static const uint8_t a1[4] = { 192, 0, 2, 1 };
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AR, ns1, DNSW_T_A, DNSW_CLASS_IN, 3600, a1, 4), 0);
	/* MX: preference + name */
	uint8_t mx[2 + DNSW_NAME_MAX] = { 0, 10 };
	memcpy(mx + 2, ns2, (size_t)l2);
	uint16_t off2 = 2;
	cr_assert_eq(dnsw_put_rr_names(&w, DNSW_SEC_AN, apex, DNSW_T_MX, DNSW_CLASS_IN, 60, mx,
				       (uint16_t)(2 + l2), &off2, 1), 0);
	size_t n = dnsw_finish(&w);

	static const uint8_t want[] = {
		0, 1, 0x84, 0x00, 0, 1, 0, 1, 0, 2, 0, 1,
		/* 12 */ 3, 'w', 'w', 'w', /* 16 */ 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		/* 24 */ 3, 'c', 'o', 'm', 0, 0, 2, 0, 1,
		/* 33: example.com NS ns1.example.com */
		0xc0, 16, 0, 2, 0, 1, 0, 0, 0x0e, 0x10, 0, 6,
		/* 45 */ 3, 'n', 's', '1', 0xc0, 16,
		/* 51: example.com NS NS2.EXAMPLE.COM */
		0xc0, 16, 0, 2, 0, 1, 0, 0, 0x0e, 0x10, 0, 6,
		/* 63 */ 3, 'N', 'S', '2', 0xc0, 16,
		/* 69: ns1.example.com A */
		0xc0, 45, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1,
		/* 85: example.com MX 10 NS2.example.com */
		0xc0, 16, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 10, 0xc0, 63,
	};
	cr_assert_eq(n, sizeof(want), "n=%zu", n);
	cr_assert_eq(memcmp(buf, want, n), 0);
	/* counts were not in order of writing: still a valid message shape? The MX sits
	 * after the additional record, so only check that names expand. */
	uint8_t owner[DNSW_NAME_MAX];
	uint16_t type, rdlen;
	size_t rd;
	nth_rr(buf, n, 3, owner, &type, &rd, &rdlen);
	cr_assert_eq(type, DNSW_T_MX);
	cr_assert(dnsw_name_equal(owner, apex));
	size_t pos = rd + 2;
	uint8_t target[DNSW_NAME_MAX];
	cr_assert_eq(dnsw_name_unpack(buf, n, &pos, target), l2);
	cr_assert_eq(memcmp(target, "\3NS2\7example\3com", (size_t)l2), 0);
}

Test(write, soa_two_names_and_no_compress)
{
	uint8_t buf[512];
	struct dnsw_writer w;
	struct dnsw_query q;
	uint8_t soa[2 * DNSW_NAME_MAX + 20];
	size_t n = 0;
	int l;
	l = dnsw_name_from_text("ns1.a.airdr.es.", 15, NULL, soa);
	n += (size_t)l;
	uint16_t offs[2] = { 0, (uint16_t)n };
	l = dnsw_name_from_text("hostmaster.a.airdr.es.", 22, NULL, soa + n);
	n += (size_t)l;
	memset(soa + n, 0, 20);
	soa[n + 3] = 1; /* serial 1 */
	n += 20;

	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 9, DNSW_FLAG_QR), 0);
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"\1x\1A\5airdr\2es", DNSW_T_AAAA,
				       DNSW_CLASS_IN), 0);
	cr_assert_eq(dnsw_put_rr_names(&w, DNSW_SEC_NS, (const uint8_t *)"\1a\5airdr\2es",
				       DNSW_T_SOA, DNSW_CLASS_IN, 300, soa, (uint16_t)n, offs, 2),
		     0);
	/* SRV target: not compressed, but a later name may point into it */
	uint8_t srv[6 + 32] = { 0, 0, 0, 0, 0x01, 0xbb };
	int sl = dnsw_name_from_text("svc.a.airdr.es.", 15, NULL, srv + 6);
	cr_assert_eq(dnsw_rr_begin(&w, (const uint8_t *)"\4_tcp\1a\5airdr\2es", DNSW_T_SRV,
				   DNSW_CLASS_IN, 60), 0);
	cr_assert_eq(dnsw_put_bytes(&w, srv, 6), 0);
	size_t srv_name_at = w.len;
	cr_assert_eq(dnsw_put_name(&w, srv + 6, false), 0);
	cr_assert_eq(dnsw_rr_end(&w, DNSW_SEC_AR), 0);
	size_t len = dnsw_finish(&w);
	cr_assert_eq(memcmp(buf + srv_name_at, srv + 6, (size_t)sl), 0); /* written in full */
	cr_assert_eq(parse_response(buf, len, &q), 0);
	cr_assert_eq(q.nscount, 1);
	cr_assert_eq(q.arcount, 1);

	uint8_t owner[DNSW_NAME_MAX], nm[DNSW_NAME_MAX];
	uint16_t type, rdlen;
	size_t rd;
	nth_rr(buf, len, 0, owner, &type, &rd, &rdlen);
	cr_assert_eq(type, DNSW_T_SOA);
	cr_assert(dnsw_name_equal(owner, (const uint8_t *)"\1a\5airdr\2es"));
	size_t pos = rd;
	cr_assert(dnsw_name_unpack(buf, len, &pos, nm) > 0);
	cr_assert(dnsw_name_equal(nm, soa));
	cr_assert(dnsw_name_unpack(buf, len, &pos, nm) > 0);
	cr_assert(dnsw_name_equal(nm, soa + offs[1]));
	cr_assert_eq(pos + 20, rd + rdlen);
	cr_assert_lt(rdlen, n); /* the names were compressed */

	/* a bad name offset is refused, writer unchanged */
	struct dnsw_mark m;
	dnsw_mark(&w, &m);
	uint16_t bad[1] = { (uint16_t)n }; /* just past the rdata */
	cr_assert_eq(dnsw_put_rr_names(&w, DNSW_SEC_AN, (const uint8_t *)"", DNSW_T_NS,
				       DNSW_CLASS_IN, 1, soa, (uint16_t)n, bad, 1), AD_EPARSE);
	cr_assert_eq(w.len, m.len);
	cr_assert_eq(w.ncomp, m.ncomp);
}

Test(write, tc_rollback)
{
	struct dnsw_query q = parsed_query();
	uint8_t buf[512];
	struct dnsw_writer w;
	struct dnsw_mark m;
	struct dnsw_opt o = { .payload = 1232 };
	uint8_t txt[200];
	memset(txt, 'a', sizeof(txt));
	txt[0] = 199;

	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, q.id, dnsw_reply_flags(&q)), 0);
	cr_assert_eq(dnsw_put_question(&w, q.qname, DNSW_T_TXT, q.qclass), 0);
	cr_assert_eq(dnsw_reserve(&w, dnsw_opt_size(&o)), 0);
	/* an RRset of 3 TXT records of 212 bytes each: the third does not fit in 512 */
	dnsw_mark(&w, &m);
	int ret = 0, added = 0;
	for (int i = 0; i < 3 && ret == 0; i++) {
		ret = dnsw_put_rr(&w, DNSW_SEC_AN, q.qname_lc, DNSW_T_TXT, DNSW_CLASS_IN, 60, txt,
				  sizeof(txt));
		added += ret == 0;
	}
	cr_assert_eq(ret, AD_ENOSPACE);
	cr_assert_eq(added, 2);
	dnsw_rollback(&w, &m);
	dnsw_set_tc(&w);
	dnsw_release(&w, dnsw_opt_size(&o));
	cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	size_t n = dnsw_finish(&w);
	cr_assert_eq(n, 12 + 17 + 4 + 11);
	cr_assert(buf[2] & 0x02);
	cr_assert_eq(parse_response(buf, n, &q), 0);
	cr_assert_eq(q.ancount, 0);
	cr_assert_eq(q.arcount, 1);
	cr_assert(q.has_edns);

	/* a failed put_rr leaves the writer as it was */
	uint8_t small[40];
	dnsw_writer_init(&w, small, sizeof(small));
	cr_assert_eq(dnsw_put_header(&w, 1, 0), 0);
	cr_assert_eq(dnsw_put_question(&w, q.qname, 1, 1), 0);
	dnsw_mark(&w, &m);
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, (const uint8_t *)"\1z", 1, 1, 0, txt, 20),
		     AD_ENOSPACE);
	cr_assert_eq(w.len, m.len);
	cr_assert_eq(w.ncomp, m.ncomp);
	cr_assert_eq(w.count[DNSW_SEC_AN], 0);
	/* and no write goes past the capacity */
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"\1y\1z", 1, 1), AD_ENOSPACE);
	cr_assert_eq(w.len, m.len);
	uint8_t hdr_only[11];
	dnsw_writer_init(&w, hdr_only, sizeof(hdr_only));
	cr_assert_eq(dnsw_put_header(&w, 1, 0), AD_ENOSPACE);
}

Test(write, opt_nsid_cookie)
{
	uint8_t buf[128];
	struct dnsw_writer w;
	struct dnsw_query q;
	static const uint8_t ck[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct dnsw_opt o = { .payload = 1232, .ext_rcode = 1, .nsid = (const uint8_t *)"pop1",
			      .nsid_len = 4, .cookie = ck, .cookie_len = 16 };
	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 3, DNSW_FLAG_QR), 0);
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"", DNSW_T_SOA, 1), 0);
	cr_assert_eq(dnsw_put_opt(&w, &o), 0);
	size_t n = dnsw_finish(&w);
	cr_assert_eq(n, 12 + 5 + dnsw_opt_size(&o));
	/* NULL owner with a root question: the root itself, one byte */
	uint8_t rb[64];
	struct dnsw_writer w2;
	dnsw_writer_init(&w2, rb, sizeof(rb));
	cr_assert_eq(dnsw_put_header(&w2, 3, DNSW_FLAG_QR), 0);
	cr_assert_eq(dnsw_put_question(&w2, (const uint8_t *)"", DNSW_T_NS, 1), 0);
	cr_assert_eq(dnsw_put_rr(&w2, DNSW_SEC_AN, NULL, DNSW_T_NS, 1, 5, (const uint8_t *)"", 1),
		     0);
	static const uint8_t want_root[] = { 0, 0, 2, 0, 1,
					     0, 0, 2, 0, 1, 0, 0, 0, 5, 0, 1, 0 };
	cr_assert_eq(dnsw_finish(&w2), 12 + sizeof(want_root));
	cr_assert_eq(memcmp(rb + 12, want_root, sizeof(want_root)), 0);
	struct dnsw_mark m0 = { .len = 12 };
	dnsw_rollback(&w2, &m0); /* back before the question: NULL has nothing to name */
	cr_assert_eq(dnsw_put_rr(&w2, DNSW_SEC_AN, NULL, 1, 1, 1, rb, 0), AD_EPARSE);
	static const uint8_t want_opt[] = {
		0, 0, 41, 0x04, 0xd0, 1, 0, 0, 0, 0, 28,
		0, 3, 0, 4, 'p', 'o', 'p', '1',
		0, 10, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	};
	cr_assert_eq(memcmp(buf + 17, want_opt, sizeof(want_opt)), 0);
	cr_assert_eq(parse_response(buf, n, &q), 0);
	cr_assert(q.nsid);
	cr_assert_eq(q.cookie_len, 16);
	cr_assert_eq(q.edns_ext_rcode, 1);

	o.cookie_len = 12;
	cr_assert_eq(dnsw_put_opt(&w, &o), AD_ETOOBIG);
	o.cookie_len = 16;
	o.nsid_len = DNSW_NSID_MAX + 1;
	cr_assert_eq(dnsw_put_opt(&w, &o), AD_ETOOBIG);
	o.nsid_len = 4;
	dnsw_set_rcode(&w, DNSW_RC_BADVERS & 0xf);
	cr_assert_eq(buf[3] & 0xf, 0);
	dnsw_set_rcode(&w, DNSW_RC_REFUSED);
	cr_assert_eq(buf[3] & 0xf, 5);
}

Test(write, compression_table_full)
{
	static uint8_t buf[65535];
	struct dnsw_writer w;
	struct dnsw_query q;
	uint8_t name[DNSW_NAME_MAX];
	char text[32];
	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 1, DNSW_FLAG_QR), 0);
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"\1q\3com", 1, 1), 0);
	/* 100 distinct owners, twice: the first 62 fill the table (with q.com and com) */
	uint8_t rd[16] = { 0 };
	for (int i = 0; i < 200; i++) {
		int tl = snprintf(text, sizeof(text), "h%d.q.com.", i % 100);
		cr_assert(dnsw_name_from_text(text, (size_t)tl, NULL, name) > 0);
		cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, name, 1, 1, 0, rd, sizeof(rd)), 0);
	}
	cr_assert_eq(w.ncomp, DNSW_COMPRESS_MAX);
	size_t n = dnsw_finish(&w);
	cr_assert_eq(parse_response(buf, n, &q), 0);
	cr_assert_eq(q.ancount, 200);
	for (unsigned i = 0; i < 200; i += 7) {
		uint8_t owner[DNSW_NAME_MAX];
		uint16_t type, rdlen;
		size_t rdp;
		nth_rr(buf, n, i, owner, &type, &rdp, &rdlen);
		int tl = snprintf(text, sizeof(text), "h%u.q.com.", i % 100);
		cr_assert(dnsw_name_from_text(text, (size_t)tl, NULL, name) > 0);
		cr_assert(dnsw_name_equal(owner, name), "record %u", i);
	}
}

Test(write, no_targets_past_pointer_range)
{
	static uint8_t buf[65535];
	struct dnsw_writer w;
	struct dnsw_query q;
	static uint8_t rd[250];
	const uint8_t *far = (const uint8_t *)"\3far\1q\3com";
	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 1, DNSW_FLAG_QR), 0);
	cr_assert_eq(dnsw_put_question(&w, (const uint8_t *)"\1q\3com", 1, 1), 0);
	for (int i = 0; i < 70; i++) /* 70 * 262 bytes: past offset 0x3fff */
		cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, (const uint8_t *)"\1q\3com", 1, 1, 0,
					 rd, sizeof(rd)), 0);
	cr_assert_gt(w.len, 0x3fff);
	cr_assert_eq(w.ncomp, 2);
	size_t at = w.len;
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, far, 1, 1, 0, rd, 4), 0);
	cr_assert_eq(w.ncomp, 2); /* "far" is past what a pointer can reach */
	size_t at2 = w.len;
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, far, 1, 1, 0, rd, 4), 0);
	cr_assert_eq(at2 - at, 4 + 2 + 10 + 4);     /* "far" + pointer to q.com */
	cr_assert_eq(memcmp(buf + at2, "\3far\xc0\x0c", 6), 0);
	size_t n = dnsw_finish(&w);
	cr_assert_eq(parse_response(buf, n, &q), 0);
	cr_assert_eq(q.ancount, 72);
}

Test(write, patch_cached)
{
	struct dnsw_query q = parsed_query();
	uint8_t buf[512];
	struct dnsw_writer w;
	static const uint8_t addr[4] = { 203, 0, 113, 10 };

	/* the cache builds its answer from the lowercase name */
	dnsw_writer_init(&w, buf, sizeof(buf));
	cr_assert_eq(dnsw_put_header(&w, 0, dnsw_reply_flags(&q) | DNSW_FLAG_AA), 0);
	cr_assert_eq(dnsw_put_question(&w, q.qname_lc, q.qtype, q.qclass), 0);
	cr_assert_eq(dnsw_put_rr(&w, DNSW_SEC_AN, q.qname_lc, DNSW_T_A, DNSW_CLASS_IN, 300,
				 addr, 4), 0);
	size_t n = dnsw_finish(&w);

	dnsw_patch_cached(buf, n, 0xbeef, q.qname, q.qname_len);
	cr_assert_eq(buf[0], 0xbe);
	cr_assert_eq(buf[1], 0xef);
	cr_assert_eq(memcmp(buf + 12, WWW_EXAMPLE_COM, 17), 0);
	uint8_t owner[DNSW_NAME_MAX];
	uint16_t type, rdlen;
	size_t rd;
	nth_rr(buf, n, 0, owner, &type, &rd, &rdlen);
	cr_assert_eq(memcmp(owner, WWW_EXAMPLE_COM, 17), 0); /* the owner follows the case */

	/* never past len */
	uint8_t tiny[20] = { 0 };
	dnsw_patch_cached(tiny, 20, 1, q.qname, q.qname_len);
	cr_assert_eq(tiny[12], 0);
	cr_assert_eq(tiny[1], 1);
	dnsw_patch_cached(tiny, 1, 0xffff, q.qname, q.qname_len);
	cr_assert_eq(tiny[0], 0);
}

/* ---- names ---- */

static void check_text(const char *in, const char *want_text, int want_len)
{
	uint8_t wire[DNSW_NAME_MAX];
	char out[DNSW_TEXT_MAX];
	int l = dnsw_name_from_text(in, strlen(in), (const uint8_t *)"", wire);
	cr_assert_eq(l, want_len, "%s: %d", in, l);
	if (l < 0)
		return;
	int t = dnsw_name_to_text(wire, out, sizeof(out));
	cr_assert_eq(t, (int)strlen(want_text), "%s", in);
	cr_assert_str_eq(out, want_text);
	/* the text form reads back to the same wire bytes */
	uint8_t again[DNSW_NAME_MAX];
	cr_assert_eq(dnsw_name_from_text(out, (size_t)t, NULL, again), l);
	cr_assert_eq(memcmp(again, wire, (size_t)l), 0);
}

Test(names, text_conversion)
{
	check_text("www.Example.com.", "www.Example.com.", 17);
	check_text("www.example.com", "www.example.com.", 17);
	check_text(".", ".", 1);
	check_text("a\\.b.c.", "a\\.b.c.", 7);
	check_text("a\\046b.c.", "a\\.b.c.", 7);
	check_text("\\000\\255\\032x.", "\\000\\255\\032x.", 6);
	check_text("\\\"\\(\\)\\;\\@\\$\\\\.", "\\\"\\(\\)\\;\\@\\$\\\\.", 9);
	check_text("*.wild.", "*.wild.", 8);
	check_text("a..b.", "", AD_EPARSE);
	check_text(".a.", "", AD_EPARSE);
	check_text("a\\25.", "", AD_EPARSE);
	check_text("a\\256.", "", AD_EPARSE);
	check_text("a\\", "", AD_EPARSE);

	char big[600];
	memset(big, 'k', 63);
	big[63] = '.';
	big[64] = 0;
	check_text(big, big, 65);
	memset(big, 'k', 64);
	big[64] = '.';
	big[65] = 0;
	check_text(big, "", AD_ETOOBIG);
	/* 255 and 256 wire bytes: 3 labels of 63, then 61 or 62 */
	size_t o = 0;
	for (int i = 0; i < 3; i++) {
		memset(big + o, 'm', 63);
		big[o + 63] = '.';
		o += 64;
	}
	memset(big + o, 'm', 61);
	big[o + 61] = '.';
	big[o + 62] = 0;
	check_text(big, big, 255);
	memset(big + o, 'm', 62);
	big[o + 62] = '.';
	big[o + 63] = 0;
	check_text(big, "", AD_ETOOBIG);
}

Test(names, origin_and_at)
{
	uint8_t out[DNSW_NAME_MAX];
	const uint8_t *origin = (const uint8_t *)"\1a\5airdr\2es";
	cr_assert_eq(dnsw_name_from_text("www", 3, origin, out), 16);
	cr_assert_eq(memcmp(out, "\3www\1a\5airdr\2es", 16), 0);
	cr_assert_eq(dnsw_name_from_text("@", 1, origin, out), 12);
	cr_assert_eq(memcmp(out, origin, 12), 0);
	cr_assert_eq(dnsw_name_from_text("www", 3, NULL, out), AD_EPARSE);
	cr_assert_eq(dnsw_name_from_text("@", 1, NULL, out), AD_EPARSE);
	cr_assert_eq(dnsw_name_from_text("", 0, origin, out), AD_EPARSE);
	cr_assert_eq(dnsw_name_from_text("www.", 4, origin, out), 5);
}

Test(names, small_utilities)
{
	const uint8_t *a = (const uint8_t *)"\3WwW\7example\3com";
	const uint8_t *b = (const uint8_t *)"\3www\7EXAMPLE\3cOm";
	const uint8_t *c = (const uint8_t *)"\3www\7example\3co\0";
	cr_assert(dnsw_name_equal(a, b));
	cr_assert_not(dnsw_name_equal(a, c));
	cr_assert_not(dnsw_name_equal(a, (const uint8_t *)"\3www\7exbmple\3com"));
	cr_assert_eq(dnsw_name_labels(a), 3);
	cr_assert_eq(dnsw_name_labels((const uint8_t *)""), 0);
	cr_assert_eq(dnsw_name_len(a), 17);
	cr_assert_eq(dnsw_name_check(a, 17), 17);
	cr_assert_eq(dnsw_name_check(a, 16), AD_EPARSE);
	cr_assert_eq(dnsw_name_check((const uint8_t *)"\xc0\x0c", 2), AD_EPARSE);
	uint8_t low[17];
	dnsw_name_lower(low, a, 17);
	cr_assert_eq(memcmp(low, "\3www\7example\3com", 17), 0);
	/* '@' '[' '`' '{' are not letters */
	dnsw_name_lower(low, (const uint8_t *)"\4@[`{", 6);
	cr_assert_eq(memcmp(low, "\4@[`{", 6), 0);
	/* Ancestors end on a label boundary: "mple.com" is a suffix of the bytes, not a name above. */
	const uint8_t *zone = (const uint8_t *)"\7example\3com";
	cr_assert(dnsw_name_is_below((const uint8_t *)"\3www\7example\3com", 17, zone, 13));
	cr_assert(dnsw_name_is_below(zone, 13, zone, 13), "a name is at or below itself");
	cr_assert(dnsw_name_is_below(zone, 13, (const uint8_t *)"", 1), "everything is below the root");
	cr_assert_not(dnsw_name_is_below(zone, 13, (const uint8_t *)"\3www\7example\3com", 17));
	cr_assert_not(dnsw_name_is_below((const uint8_t *)"\3www\7example\3org", 17, zone, 13));
	cr_assert(dnsw_name_is_below((const uint8_t *)"\3www\2xa\4mple\3com", 17,
				     (const uint8_t *)"\4mple\3com", 10));
	cr_assert_not(dnsw_name_is_below((const uint8_t *)"\3www\7example\3com", 17,
					 (const uint8_t *)"\3ple\3com", 9), "suffix inside a label");
	char out[8];
	cr_assert_eq(dnsw_name_to_text(a, out, sizeof(out)), AD_ENOSPACE);
	cr_assert_eq(dnsw_name_to_text((const uint8_t *)"\xc0\x0c", out, sizeof(out)),
		     AD_EPARSE);
}
