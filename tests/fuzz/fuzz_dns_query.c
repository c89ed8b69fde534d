/*
 * Fuzz target for dnsw_parse_query() and the dnswire writer. Each input is:
 *   - parsed as a query: only the three documented results; DNSW_DROP exactly for
 *     short inputs and QR set; on success every field within its limits, the
 *     lowercased name the lowercase of the name, and every strict prefix refused;
 *   - when it parses, answered: the question echoed, an A record and a CNAME owned
 *     by / pointing at the qname (compressed), an OPT echoing NSID and the cookie,
 *     into a full-size buffer (must fit) and into a small one whose size comes from
 *     the input (a record that does not fit is rolled back and TC set). Both
 *     answers must parse back (QR cleared) with the same question and EDNS data;
 *     an answer cached in lowercase and patched with dnsw_patch_cached() must equal
 *     the one written in the client's case; the name goes to text and back.
 * Seed corpus: tests/fuzz/corpus/dns_query/ (queries with EDNS, cookies, NSID,
 * TSIG, NOTIFY/UPDATE, pointers, long names, and broken ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnswire.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static uint8_t *dup_exact(const uint8_t *data, size_t n)
{
	uint8_t *copy = calloc(1, n ? n : 1); /* exact size, so ASan sees a read past n */
	check(copy != NULL);
	if (n)
		memcpy(copy, data, n);
	return copy;
}

static int parse_copy(const uint8_t *data, size_t n, struct dnsw_query *q)
{
	uint8_t *copy = dup_exact(data, n);
	int ret = dnsw_parse_query(copy, n, q);
	free(copy);
	return ret;
}

/* The answer to q into buf[0..cap), with qname as the question's spelling.
 * Returns its length, or 0 if not even the header and question fit. */
static size_t answer(const struct dnsw_query *q, const uint8_t *qname, uint8_t *buf, size_t cap,
		     bool *truncated)
{
	static const uint8_t addr[4] = { 192, 0, 2, 1 };
	struct dnsw_writer w;
	struct dnsw_mark m;
	struct dnsw_opt o = { .payload = 1232, .do_bit = q->edns_do };
	uint16_t off = 0;
	int ret;

	if (q->nsid) {
		o.nsid = (const uint8_t *)"fuzz";
		o.nsid_len = 4;
	}
	if (q->cookie_len) {
		o.cookie = q->cookie;
		o.cookie_len = q->cookie_len;
	}
	*truncated = false;
	dnsw_writer_init(&w, buf, cap);
	if (dnsw_put_header(&w, q->id, dnsw_reply_flags(q) | DNSW_FLAG_AA) != 0)
		return 0;
	if (dnsw_put_question(&w, qname, q->qtype, q->qclass) != 0)
		return 0;
	size_t opt = q->has_edns ? dnsw_opt_size(&o) : 0;
	if (dnsw_reserve(&w, opt) != 0)
		return 0;
	dnsw_mark(&w, &m);
	ret = dnsw_put_rr(&w, DNSW_SEC_AN, NULL, DNSW_T_A, DNSW_CLASS_IN, 60, addr, 4);
	if (ret == 0)
		ret = dnsw_put_rr_names(&w, DNSW_SEC_AN, q->qname_lc, DNSW_T_CNAME, DNSW_CLASS_IN,
					60, q->qname_lc, q->qname_len, &off, 1);
	check(ret == 0 || ret == AD_ENOSPACE);
	if (ret != 0) {
		dnsw_rollback(&w, &m);
		dnsw_set_tc(&w);
		*truncated = true;
	}
	dnsw_release(&w, opt);
	if (q->has_edns)
		check(dnsw_put_opt(&w, &o) == 0);
	size_t n = dnsw_finish(&w);
	check(n <= cap);
	return n;
}

/* The answer must parse back as a query once QR is cleared. */
static void check_answer(const struct dnsw_query *q, const uint8_t *buf, size_t n,
			 bool truncated)
{
	struct dnsw_query r;
	uint8_t *copy = dup_exact(buf, n);
	copy[2] &= 0x7f;
	check(dnsw_parse_query(copy, n, &r) == 0);
	free(copy);
	check(r.id == q->id && r.qtype == q->qtype && r.qclass == q->qclass);
	check(r.qname_len == q->qname_len && memcmp(r.qname, q->qname, q->qname_len) == 0);
	check(r.ancount == (truncated ? 0 : 2));
	check(((buf[2] & 0x02) != 0) == truncated);
	check(r.has_edns == q->has_edns && r.nsid == q->nsid && r.edns_do == q->edns_do);
	check(r.cookie_len == q->cookie_len && memcmp(r.cookie, q->cookie, q->cookie_len) == 0);
	if (!truncated && q->qname_len > 1) {
		/* the answer owners are two-byte pointers to the question (the root is
		 * one byte, never a pointer) */
		size_t at = DNSW_HDR_LEN + q->qname_len + 4;
		check(buf[at] == 0xc0 && buf[at + 1] == 0x0c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsw_query q, part;
	int ret = parse_copy(data, size, &q);

	check(ret == 0 || ret == DNSW_FORMERR || ret == DNSW_DROP);
	check((ret == DNSW_DROP) == (size < DNSW_HDR_LEN || (data[2] & 0x80) != 0));
	if (ret != 0)
		return 0;

	check(q.qname_len >= 1 && dnsw_name_check(q.qname, q.qname_len) == q.qname_len);
	check(dnsw_name_labels(q.qname) == q.qname_labels);
	uint8_t low[DNSW_NAME_MAX];
	dnsw_name_lower(low, q.qname, q.qname_len);
	check(memcmp(low, q.qname_lc, q.qname_len) == 0);
	check(dnsw_name_equal(q.qname, q.qname_lc));
	check(q.question_end <= size);
	check(q.edns_payload >= DNSW_EDNS_MIN);
	check(q.cookie_len == 0 || q.cookie_len == 8 || (q.cookie_len >= 16 && q.cookie_len <= 40));
	check(!q.has_tsig || q.tsig_offset >= q.question_end);
	for (size_t cut = 0; cut < size; cut += 1 + cut / 4) {
		int pret = parse_copy(data, cut, &part);
		check(pret == (cut < DNSW_HDR_LEN ? DNSW_DROP : DNSW_FORMERR));
	}

	/* name to text and back */
	char text[DNSW_TEXT_MAX];
	uint8_t wire[DNSW_NAME_MAX];
	int tl = dnsw_name_to_text(q.qname, text, sizeof(text));
	check(tl > 0);
	check(dnsw_name_from_text(text, (size_t)tl, NULL, wire) == q.qname_len);
	check(memcmp(wire, q.qname, q.qname_len) == 0);

	/* answers: full size, then a size taken from the input */
	static uint8_t full[65535], small[65535], cached[65535];
	bool tr;
	size_t n = answer(&q, q.qname, full, sizeof(full), &tr);
	check(n > 0 && !tr);
	check_answer(&q, full, n, false);

	size_t cap = DNSW_HDR_LEN + data[size - 1] * 2u;
	size_t sn = answer(&q, q.qname, small, cap, &tr);
	if (sn > 0)
		check_answer(&q, small, sn, tr);

	/* the cache writes lowercase and patches the client's spelling in */
	size_t cn = answer(&q, q.qname_lc, cached, sizeof(cached), &tr);
	check(cn == n);
	dnsw_patch_cached(cached, cn, q.id, q.qname, q.qname_len);
	check(memcmp(cached, full, n) == 0);
	return 0;
}
