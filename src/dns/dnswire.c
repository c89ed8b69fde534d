/*
 * DNS wire format: query parser, response writer, name utilities.
 *
 * Parser. One pass over the packet, front to back: header, the one question
 * (expanded into struct dnsw_query, original and lowercased), then every record of
 * the answer, authority and additional sections, each checked against the end of
 * the packet before it is read. Records are skipped except OPT (read: payload size,
 * version, DO, options) and TSIG (located, must be last). A name in the question
 * may use compression pointers; every pointer must go strictly before the start of
 * the label run that contains it, so pointer chains always move backwards and end
 * (DNSW_PTR_MAX bounds them further). Names of skipped records are only walked up to
 * their first pointer, which must point backwards too.
 *
 * Writer. Appends to a caller buffer, checking capacity before every write. Names
 * are compressed against a table of up to DNSW_COMPRESS_MAX suffixes already in the
 * buffer (offset + uncompressed length): a suffix of the new name can only equal an
 * entry of the same length, so most entries are rejected by one byte compare before
 * any label is read. The one-shot writers are atomic: on error they leave the
 * writer as it was.
 */
#include <arpa/inet.h>
#include <string.h>

#include "dnswire.h"
#include "error.h"

#define PTR_LIMIT 0x3fff   /* highest offset a compression pointer can hold */

static inline uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return ntohs(v);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static inline uint8_t lower(uint8_t c)
{
	return (uint8_t)(c | ((uint8_t)(c - 'A') < 26) << 5);
}

/* ASCII-lowercase 8 bytes at once: a byte is an upper-case letter when its high bit
 * is clear and its low 7 bits are >= 'A' and not > 'Z' (the additions cannot carry
 * into the next byte); 0x80 >> 2 is the 0x20 that lowercases it. */
static inline uint64_t lower8(uint64_t x)
{
	uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
	uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3full;  /* 0x80 - 'A' */
	uint64_t gt_z = h + 0x2525252525252525ull;  /* 0x7f - 'Z' */
	uint64_t upper = (ge_a ^ gt_z) & ~x & 0x8080808080808080ull;
	return x | upper >> 2;
}

/* dst[0..n) = lowercase of src[0..n), n <= DNSW_NAME_MAX. Works in 8-byte words and
 * may read and write up to 7 bytes past n: both buffers must have
 * DNSW_NAME_MAX + 1 bytes (rounded to 8 from any n <= 255 that stays inside). */
static inline void lower_name_words(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x;
		memcpy(&x, src + i, 8);
		x = lower8(x);
		memcpy(dst + i, &x, 8);
	}
}

/* ---- parser ---- */

/* Expand the possibly compressed name at *pos of pkt[0..len) into out (and, when
 * lc is not NULL, lowercased into lc); *pos moves past the name as it sits in the
 * packet. Returns the expanded length (root label included) or AD_EPARSE; *labels
 * gets the label count and *ptrs_out the pointers followed. */
static inline int unpack(const uint8_t *pkt, size_t len, size_t *pos, uint8_t *out,
			 uint8_t *lc, unsigned *labels_out, unsigned *ptrs_out)
{
	size_t p = *pos, seg = p, end = 0, n = 0;
	unsigned labels = 0, ptrs = 0;

	for (;;) {
		if (p >= len)
			return AD_EPARSE;
		uint8_t c = pkt[p];
		if (c == 0)
			break;
		if (c > DNSW_LABEL_MAX) {
			if ((c & 0xc0) != 0xc0 || p + 1 >= len)
				return AD_EPARSE; /* extended label types 0x40/0x80, or cut pointer */
			size_t target = (size_t)(c & 0x3f) << 8 | pkt[p + 1];
			if (target >= seg || ++ptrs > DNSW_PTR_MAX)
				return AD_EPARSE; /* forward, self, a loop, or too many */
			if (end == 0)
				end = p + 2;
			p = seg = target;
			continue;
		}
		if (n + c + 2 > DNSW_NAME_MAX || p + c + 1 > len)
			return AD_EPARSE; /* too long with the root label, or past the packet */
		if (lc != NULL) {
			for (size_t i = 0; i <= c; i++) {
				uint8_t b = pkt[p + i];
				out[n + i] = b;
				lc[n + i] = lower(b);
			}
		} else {
			memcpy(out + n, pkt + p, (size_t)c + 1);
		}
		n += (size_t)c + 1;
		p += (size_t)c + 1;
		labels++;
	}
	out[n] = 0;
	if (lc != NULL)
		lc[n] = 0;
	*pos = end ? end : p + 1;
	*labels_out = labels;
	*ptrs_out = ptrs;
	return (int)(n + 1);
}

int dnsw_name_unpack(const uint8_t *pkt, size_t len, size_t *pos, uint8_t *out)
{
	unsigned labels, ptrs;
	return unpack(pkt, len, pos, out, NULL, &labels, &ptrs);
}

/* Move *pos past the owner name of a record that is skipped. Returns 0 or
 * AD_EPARSE. */
static int skip_name(const uint8_t *pkt, size_t len, size_t *pos)
{
	size_t p = *pos, n = 0;

	for (;;) {
		if (p >= len)
			return AD_EPARSE;
		uint8_t c = pkt[p];
		if (c == 0) {
			*pos = p + 1;
			return 0;
		}
		if (c > DNSW_LABEL_MAX) {
			if ((c & 0xc0) != 0xc0 || p + 1 >= len)
				return AD_EPARSE;
			size_t target = (size_t)(c & 0x3f) << 8 | pkt[p + 1];
			if (target >= *pos)
				return AD_EPARSE; /* not strictly backwards */
			*pos = p + 2;
			return 0;
		}
		n += (size_t)c + 1;
		if (n + 1 > DNSW_NAME_MAX)
			return AD_EPARSE;
		p += (size_t)c + 1;
	}
}

/* Read the OPT record whose TTL field starts at ttl and rdata at rd[0..rdlen). */
static int parse_opt(const uint8_t *ttl, const uint8_t *rd, size_t rdlen, uint16_t rclass,
		     struct dnsw_query *q)
{
	q->has_edns = true;
	q->edns_payload = rclass < DNSW_EDNS_MIN ? DNSW_EDNS_MIN : rclass;
	q->edns_ext_rcode = ttl[0];
	q->edns_version = ttl[1];
	q->edns_flags = rd16(ttl + 2);
	q->edns_do = (q->edns_flags & 0x8000) != 0;

	size_t p = 0;
	while (p < rdlen) {
		if (rdlen - p < 4)
			return AD_EPARSE;
		uint16_t code = rd16(rd + p), olen = rd16(rd + p + 2);
		p += 4;
		if (olen > rdlen - p)
			return AD_EPARSE; /* option runs past the rdata */
		if (code == DNSW_EDNS_NSID) {
			q->nsid = true; /* RFC 5001: a request; any payload is ignored */
		} else if (code == DNSW_EDNS_COOKIE) {
			if (q->cookie_len != 0)
				return AD_EPARSE; /* two COOKIE options */
			if (olen != DNSW_COOKIE_CLIENT &&
			    (olen < DNSW_COOKIE_CLIENT + DNSW_COOKIE_SERVER_MIN ||
			     olen > DNSW_COOKIE_MAX))
				return AD_EPARSE; /* RFC 7873 §5.2.2 */
			memcpy(q->cookie, rd + p, olen);
			q->cookie_len = (uint8_t)olen;
		}
		p += olen;
	}
	return 0;
}

int dnsw_parse_query(const uint8_t *pkt, size_t len, struct dnsw_query *q)
{
	size_t p = DNSW_HDR_LEN;
	int ret = DNSW_DROP;

	if (len < DNSW_HDR_LEN)
		goto out;
	q->id = rd16(pkt);
	q->flags = rd16(pkt + 2);
	q->opcode = (uint8_t)DNSW_OPCODE(q->flags);
	q->qdcount = rd16(pkt + 4);
	q->ancount = rd16(pkt + 6);
	q->nscount = rd16(pkt + 8);
	q->arcount = rd16(pkt + 10);
	if (q->flags & DNSW_FLAG_QR)
		goto out;

	ret = DNSW_FORMERR;
	if (q->qdcount != 1 || len > 65535)
		goto out;
	/* Fast path: an uncompressed question (all real queries). Walk the length
	 * bytes, then copy and lowercase the name in one go. */
	unsigned labels = 0, ptrs = 0;
	int n;
	for (;;) {
		if (p >= len)
			goto out;
		uint8_t c = pkt[p];
		if (c == 0 || c > DNSW_LABEL_MAX)
			break;
		p += (size_t)c + 1;
		labels++;
	}
	if (pkt[p] == 0 && p + 1 - DNSW_HDR_LEN <= DNSW_NAME_MAX) {
		n = (int)(p + 1 - DNSW_HDR_LEN);
		memcpy(q->qname, pkt + DNSW_HDR_LEN, (size_t)n);
		lower_name_words(q->qname_lc, q->qname, (size_t)n);
		p++;
	} else {
		/* a pointer, an extended label or too long: the careful way */
		p = DNSW_HDR_LEN;
		n = unpack(pkt, len, &p, q->qname, q->qname_lc, &labels, &ptrs);
	}
	if (n < 0 || len - p < 4)
		goto out;
	q->qname_len = (uint8_t)n;
	q->qname_labels = (uint8_t)labels;
	q->qname_compressed = ptrs != 0;
	q->qtype = rd16(pkt + p);
	q->qclass = rd16(pkt + p + 2);
	p += 4;
	q->question_end = (uint16_t)p;
	q->has_edns = q->edns_do = q->nsid = q->has_tsig = false;
	q->edns_version = q->edns_ext_rcode = q->cookie_len = 0;
	q->edns_payload = DNSW_EDNS_MIN;
	q->edns_flags = 0;
	q->tsig_offset = 0;

	/* Answer, authority, additional. Usually 0 or 1 records (the OPT). */
	unsigned rrs = (unsigned)q->ancount + q->nscount + q->arcount;
	unsigned first_ar = (unsigned)q->ancount + q->nscount;
	for (unsigned i = 0; i < rrs; i++) {
		size_t start = p;
		if (skip_name(pkt, len, &p) != 0 || len - p < 10)
			goto out;
		uint16_t type = rd16(pkt + p), rclass = rd16(pkt + p + 2);
		size_t rdlen = rd16(pkt + p + 8);
		const uint8_t *ttl = pkt + p + 4;
		p += 10;
		if (rdlen > len - p)
			goto out;
		if (type == DNSW_T_OPT) {
			/* RFC 6891 §6.1.1: one, in the additional section, owned by the root */
			if (i < first_ar || q->has_edns || pkt[start] != 0 ||
			    parse_opt(ttl, pkt + p, rdlen, rclass, q) != 0)
				goto out;
		} else if (type == DNSW_T_TSIG) {
			/* RFC 8945 §5.1: the last record of the additional section */
			if (i != rrs - 1 || i < first_ar)
				goto out;
			q->has_tsig = true;
			q->tsig_offset = (uint16_t)start;
		}
		p += rdlen;
	}
	if (p != len)
		goto out; /* trailing bytes after the last record */
	ret = 0;
out:
	return ret;
}

/* ---- writer ---- */

void dnsw_writer_init(struct dnsw_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap > 65535 ? 65535 : (uint16_t)cap;
	w->rr_start = 0;
	w->qname_len = 0;
	w->count[0] = w->count[1] = w->count[2] = w->count[3] = 0;
	w->ncomp = 0;
}

int dnsw_put_header(struct dnsw_writer *w, uint16_t id, uint16_t flags)
{
	if (w->cap < DNSW_HDR_LEN)
		return AD_ENOSPACE;
	uint8_t *h = w->buf;
	wr16(h, id);
	wr16(h + 2, flags);
	memset(h + 4, 0, 8);
	w->len = DNSW_HDR_LEN;
	return 0;
}

uint16_t dnsw_reply_flags(const struct dnsw_query *q)
{
	return (uint16_t)(DNSW_FLAG_QR | (q->flags & (0x7800u | DNSW_FLAG_RD | DNSW_FLAG_CD)));
}

/* Whether the (compressed, trusted: written by us) name at buf[off] equals the
 * uncompressed name, ASCII case ignored. Both have the same uncompressed length. */
static bool equal_at(const uint8_t *buf, size_t off, const uint8_t *name)
{
	for (unsigned hops = 0;;) {
		uint8_t c = buf[off];
		if (c >= 0xc0) {
			if (++hops > DNSW_PTR_MAX)
				return false;
			off = (size_t)(c & 0x3f) << 8 | buf[off + 1];
			continue;
		}
		if (c != *name)
			return false;
		if (c == 0)
			return true;
		for (unsigned i = 1; i <= c; i++) {
			uint8_t x = buf[off + i], y = name[i];
			if (x != y && lower(x) != lower(y))
				return false;
		}
		off += (size_t)c + 1;
		name += (size_t)c + 1;
	}
}

int dnsw_put_name(struct dnsw_writer *w, const uint8_t *name, bool compress)
{
	uint8_t lab[DNSW_NAME_MAX / 2 + 1]; /* offset of each label in name */
	unsigned nl = 0, k, i;
	size_t n = 0, nlen, lit;
	uint16_t ptr = 0;

	while (name[n] != 0) {
		if (name[n] > DNSW_LABEL_MAX)
			return AD_EPARSE;
		lab[nl++] = (uint8_t)n;
		n += (size_t)name[n] + 1;
		if (n >= DNSW_NAME_MAX)
			return AD_EPARSE;
	}
	nlen = n + 1;
	lab[nl] = (uint8_t)n;

	/* longest suffix already written: first match, longest suffix first */
	k = nl;
	if (compress && w->ncomp != 0) {
		for (i = 0; i < nl && k == nl; i++) {
			uint8_t slen = (uint8_t)(nlen - lab[i]);
			for (unsigned e = 0; e < w->ncomp; e++) {
				if (w->comp_len[e] == slen &&
				    equal_at(w->buf, w->comp_off[e], name + lab[i])) {
					k = i;
					ptr = w->comp_off[e];
					break;
				}
			}
		}
	}
	lit = lab[k];
	if ((size_t)w->cap - w->len < lit + (k < nl ? 2 : 1))
		return AD_ENOSPACE;

	uint8_t *out = w->buf + w->len;
	memcpy(out, name, lit);
	if (k < nl)
		wr16(out + lit, (uint16_t)(0xc000 | ptr));
	else
		out[lit] = 0;
	for (i = 0; i < k && w->ncomp < DNSW_COMPRESS_MAX; i++) {
		size_t off = (size_t)w->len + lab[i];
		if (off > PTR_LIMIT)
			break;
		w->comp_off[w->ncomp] = (uint16_t)off;
		w->comp_len[w->ncomp] = (uint8_t)(nlen - lab[i]);
		w->ncomp++;
	}
	w->len = (uint16_t)(w->len + lit + (k < nl ? 2 : 1));
	return 0;
}

int dnsw_put_bytes(struct dnsw_writer *w, const void *p, size_t n)
{
	if ((size_t)w->cap - w->len < n)
		return AD_ENOSPACE;
	if (n != 0)
		memcpy(w->buf + w->len, p, n);
	w->len = (uint16_t)(w->len + n);
	return 0;
}

int dnsw_put_u16(struct dnsw_writer *w, uint16_t v)
{
	if ((size_t)w->cap - w->len < 2)
		return AD_ENOSPACE;
	wr16(w->buf + w->len, v);
	w->len = (uint16_t)(w->len + 2);
	return 0;
}

int dnsw_put_u32(struct dnsw_writer *w, uint32_t v)
{
	if ((size_t)w->cap - w->len < 4)
		return AD_ENOSPACE;
	uint8_t *p = w->buf + w->len;
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
	w->len = (uint16_t)(w->len + 4);
	return 0;
}

void dnsw_mark(const struct dnsw_writer *w, struct dnsw_mark *m)
{
	m->len = w->len;
	memcpy(m->count, w->count, sizeof(m->count));
	m->ncomp = w->ncomp;
}

void dnsw_rollback(struct dnsw_writer *w, const struct dnsw_mark *m)
{
	w->len = m->len;
	memcpy(w->count, m->count, sizeof(w->count));
	w->ncomp = m->ncomp;
	if (m->count[DNSW_SEC_QD] == 0)
		w->qname_len = 0; /* back to before the question */
}

int dnsw_put_question(struct dnsw_writer *w, const uint8_t *qname, uint16_t qtype,
		      uint16_t qclass)
{
	struct dnsw_mark m;
	int ret;

	dnsw_mark(w, &m);
	ret = dnsw_put_name(w, qname, true);
	if (ret == 0)
		ret = dnsw_put_u32(w, (uint32_t)qtype << 16 | qclass);
	if (ret != 0)
		goto fail;
	if (m.len == DNSW_HDR_LEN && w->count[DNSW_SEC_QD] == 0) /* the first question: owners may say NULL for it */
		w->qname_len = (uint8_t)(w->len - DNSW_HDR_LEN - 4);
	w->count[DNSW_SEC_QD]++;
	return 0;
fail:
	dnsw_rollback(w, &m);
	return ret;
}

int dnsw_rr_begin(struct dnsw_writer *w, const uint8_t *owner, uint16_t type,
		  uint16_t rclass, uint32_t ttl)
{
	int ret;
	if (owner != NULL) {
		ret = dnsw_put_name(w, owner, true);
		if (ret != 0)
			return ret;
	} else if (w->qname_len == 0) {
		return AD_EPARSE; /* no question to point at */
	}
	size_t olen = owner != NULL ? 0 : w->qname_len == 1 ? 1 : 2;
	if ((size_t)w->cap - w->len < olen + 10)
		return AD_ENOSPACE;
	uint8_t *p = w->buf + w->len;
	if (olen == 2)
		wr16(p, 0xc000 | DNSW_HDR_LEN);
	else if (olen == 1)
		*p = 0; /* the question is the root */
	p += olen;
	w->len = (uint16_t)(w->len + olen);
	wr16(p, type);
	wr16(p + 2, rclass);
	ttl = htonl(ttl);
	memcpy(p + 4, &ttl, 4);
	w->rr_start = (uint16_t)(w->len + 8);
	w->len = (uint16_t)(w->len + 10);
	return 0;
}

int dnsw_rr_end(struct dnsw_writer *w, enum dnsw_section sec)
{
	size_t rdlen = (size_t)w->len - w->rr_start - 2;
	wr16(w->buf + w->rr_start, (uint16_t)rdlen);
	w->count[sec & 3]++;
	return 0;
}

int dnsw_put_rr(struct dnsw_writer *w, enum dnsw_section sec, const uint8_t *owner,
		uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t *rdata,
		uint16_t rdlen)
{
	struct dnsw_mark m;
	int ret;

	dnsw_mark(w, &m);
	ret = dnsw_rr_begin(w, owner, type, rclass, ttl);
	if (ret == 0)
		ret = dnsw_put_bytes(w, rdata, rdlen);
	if (ret != 0)
		goto fail;
	return dnsw_rr_end(w, sec);
fail:
	dnsw_rollback(w, &m);
	return ret;
}

int dnsw_put_rr_names(struct dnsw_writer *w, enum dnsw_section sec, const uint8_t *owner,
		      uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t *rdata,
		      uint16_t rdlen, const uint16_t *name_off, unsigned nnames)
{
	struct dnsw_mark m;
	size_t at = 0;
	int ret;

	dnsw_mark(w, &m);
	ret = dnsw_rr_begin(w, owner, type, rclass, ttl);
	for (unsigned i = 0; ret == 0 && i < nnames; i++) {
		size_t off = name_off[i];
		int nlen;
		if (off < at || off >= rdlen) {
			ret = AD_EPARSE;
			break;
		}
		nlen = dnsw_name_check(rdata + off, rdlen - off);
		if (nlen < 0) {
			ret = nlen;
			break;
		}
		ret = dnsw_put_bytes(w, rdata + at, off - at);
		if (ret == 0)
			ret = dnsw_put_name(w, rdata + off, true);
		at = off + (size_t)nlen;
	}
	if (ret == 0)
		ret = dnsw_put_bytes(w, rdata + at, rdlen - at);
	if (ret != 0)
		goto fail;
	return dnsw_rr_end(w, sec);
fail:
	dnsw_rollback(w, &m);
	return ret;
}

size_t dnsw_opt_size(const struct dnsw_opt *o)
{
	return 11 + (o->nsid ? 4u + o->nsid_len : 0) + (o->cookie ? 4u + o->cookie_len : 0);
}

int dnsw_put_opt(struct dnsw_writer *w, const struct dnsw_opt *o)
{
	size_t size = dnsw_opt_size(o);

	if ((o->nsid && o->nsid_len > DNSW_NSID_MAX) ||
	    (o->cookie && o->cookie_len != DNSW_COOKIE_CLIENT &&
	     (o->cookie_len < DNSW_COOKIE_CLIENT + DNSW_COOKIE_SERVER_MIN ||
	      o->cookie_len > DNSW_COOKIE_MAX)))
		return AD_ETOOBIG;
	if ((size_t)w->cap - w->len < size)
		return AD_ENOSPACE;
	uint8_t *p = w->buf + w->len;
	p[0] = 0; /* root owner */
	wr16(p + 1, DNSW_T_OPT);
	wr16(p + 3, o->payload);
	p[5] = o->ext_rcode;
	p[6] = 0; /* version */
	wr16(p + 7, o->do_bit ? 0x8000 : 0);
	wr16(p + 9, (uint16_t)(size - 11));
	p += 11;
	if (o->nsid) {
		wr16(p, DNSW_EDNS_NSID);
		wr16(p + 2, o->nsid_len);
		memcpy(p + 4, o->nsid, o->nsid_len);
		p += 4 + o->nsid_len;
	}
	if (o->cookie) {
		wr16(p, DNSW_EDNS_COOKIE);
		wr16(p + 2, o->cookie_len);
		memcpy(p + 4, o->cookie, o->cookie_len);
	}
	w->len = (uint16_t)(w->len + size);
	w->count[DNSW_SEC_AR]++;
	return 0;
}

int dnsw_reserve(struct dnsw_writer *w, size_t n)
{
	if ((size_t)w->cap - w->len < n)
		return AD_ENOSPACE;
	w->cap = (uint16_t)(w->cap - n);
	return 0;
}

void dnsw_release(struct dnsw_writer *w, size_t n)
{
	w->cap = (uint16_t)(w->cap + n);
}

void dnsw_set_tc(struct dnsw_writer *w)
{
	if (w->len >= DNSW_HDR_LEN)
		w->buf[2] |= DNSW_FLAG_TC >> 8;
}

void dnsw_set_rcode(struct dnsw_writer *w, uint8_t rcode)
{
	if (w->len >= DNSW_HDR_LEN)
		w->buf[3] = (uint8_t)((w->buf[3] & 0xf0) | (rcode & 0x0f));
}

size_t dnsw_finish(struct dnsw_writer *w)
{
	if (w->len >= DNSW_HDR_LEN)
		for (int i = 0; i < 4; i++)
			wr16(w->buf + 4 + 2 * i, w->count[i]);
	return w->len;
}

void dnsw_patch_cached(uint8_t *resp, size_t len, uint16_t id,
		       const uint8_t *qname_wire_original_case, size_t qname_len)
{
	if (len < 2)
		return;
	wr16(resp, id);
	if (len >= DNSW_HDR_LEN && qname_len <= len - DNSW_HDR_LEN)
		memcpy(resp + DNSW_HDR_LEN, qname_wire_original_case, qname_len);
}

/* ---- names ---- */

int dnsw_name_check(const uint8_t *name, size_t max)
{
	size_t n = 0;

	for (;;) {
		if (n >= max)
			return AD_EPARSE;
		uint8_t c = name[n];
		if (c > DNSW_LABEL_MAX)
			return AD_EPARSE;
		n += (size_t)c + 1;
		if (n > DNSW_NAME_MAX)
			return AD_EPARSE;
		if (c == 0)
			return (int)n;
	}
}

size_t dnsw_name_len(const uint8_t *name)
{
	size_t n = 0;
	while (name[n] != 0 && n < DNSW_NAME_MAX)
		n += (size_t)name[n] + 1;
	return n + 1;
}

unsigned dnsw_name_labels(const uint8_t *name)
{
	size_t n = 0;
	unsigned labels = 0;
	while (name[n] != 0 && n < DNSW_NAME_MAX) {
		n += (size_t)name[n] + 1;
		labels++;
	}
	return labels;
}

bool dnsw_name_equal(const uint8_t *a, const uint8_t *b)
{
	size_t n = 0;
	for (;;) {
		uint8_t c = a[n];
		if (c != b[n])
			return false;
		if (c == 0)
			return true;
		if (n + c + 1 > DNSW_NAME_MAX)
			return false;
		for (size_t i = n + 1; i <= n + c; i++)
			if (lower(a[i]) != lower(b[i]))
				return false;
		n += (size_t)c + 1;
	}
}

bool dnsw_name_is_below(const uint8_t *name, size_t len, const uint8_t *anc, size_t alen)
{
	if (alen > len)
		return false;
	/* Walk label by label to where anc would start: a suffix that begins inside a
	 * label is no ancestor. */
	size_t o = 0;
	while (o < len - alen)
		o += name[o] + 1u;
	return o == len - alen && !memcmp(name + o, anc, alen);
}

void dnsw_name_lower(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = lower(src[i]);
}

static bool needs_escape(uint8_t c)
{
	return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' ||
	       c == '@' || c == '$';
}

int dnsw_name_to_text(const uint8_t *name, char *out, size_t cap)
{
	size_t n = 0, o = 0;
	int ret = dnsw_name_check(name, DNSW_NAME_MAX);

	if (ret < 0)
		goto out;
	ret = AD_ENOSPACE;
	if (name[0] == 0) {
		if (cap < 2)
			goto out;
		out[o++] = '.';
	}
	while (name[n] != 0) {
		uint8_t c = name[n++];
		for (uint8_t i = 0; i < c; i++) {
			uint8_t b = name[n++];
			if (b < '!' || b > '~') {
				if (cap - o < 5)
					goto out;
				out[o++] = '\\';
				out[o++] = (char)('0' + b / 100);
				out[o++] = (char)('0' + b / 10 % 10);
				out[o++] = (char)('0' + b % 10);
			} else if (needs_escape(b)) {
				if (cap - o < 3)
					goto out;
				out[o++] = '\\';
				out[o++] = (char)b;
			} else {
				if (cap - o < 2)
					goto out;
				out[o++] = (char)b;
			}
		}
		if (cap - o < 2)
			goto out;
		out[o++] = '.';
	}
	out[o] = '\0';
	ret = (int)o;
out:
	return ret;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int dnsw_name_from_text(const char *text, size_t len, const uint8_t *origin, uint8_t *out)
{
	size_t i = 0, n = 0, lab = 0;
	bool absolute = false;
	int ret = AD_EPARSE;

	if (len == 0)
		goto out;
	if (len == 1 && text[0] == '@') {
		if (origin == NULL)
			goto out;
		ret = dnsw_name_check(origin, DNSW_NAME_MAX);
		if (ret > 0)
			memcpy(out, origin, (size_t)ret);
		goto out;
	}
	if (len == 1 && text[0] == '.') {
		out[0] = 0;
		ret = 1;
		goto out;
	}
	out[0] = 0; /* length byte of the first label */
	while (i < len) {
		char ch = text[i++];
		uint8_t b;
		if (ch == '.') {
			if (out[lab] == 0)
				goto out; /* empty label */
			if (i == len) {
				absolute = true;
				break;
			}
			lab = ++n;
			if (n >= DNSW_NAME_MAX) {
				ret = AD_ETOOBIG;
				goto out;
			}
			out[lab] = 0;
			continue;
		}
		if (ch == '\\') {
			if (i == len)
				goto out;
			if (is_digit(text[i])) {
				if (len - i < 3 || !is_digit(text[i + 1]) || !is_digit(text[i + 2]))
					goto out;
				unsigned v = (unsigned)(text[i] - '0') * 100 +
					     (unsigned)(text[i + 1] - '0') * 10 +
					     (unsigned)(text[i + 2] - '0');
				if (v > 255)
					goto out;
				b = (uint8_t)v;
				i += 3;
			} else {
				b = (uint8_t)text[i++];
			}
		} else {
			b = (uint8_t)ch;
		}
		if (out[lab] == DNSW_LABEL_MAX || n + 2 >= DNSW_NAME_MAX) {
			ret = AD_ETOOBIG;
			goto out;
		}
		out[lab]++;
		out[++n] = b;
	}
	if (out[lab] == 0)
		goto out;
	n++; /* past the last label */
	if (absolute) {
		out[n++] = 0;
	} else {
		if (origin == NULL)
			goto out;
		int olen = dnsw_name_check(origin, DNSW_NAME_MAX);
		if (olen < 0) {
			ret = olen;
			goto out;
		}
		if (n + (size_t)olen > DNSW_NAME_MAX) {
			ret = AD_ETOOBIG;
			goto out;
		}
		memcpy(out + n, origin, (size_t)olen);
		n += (size_t)olen;
	}
	if (n > DNSW_NAME_MAX) {
		ret = AD_ETOOBIG;
		goto out;
	}
	ret = (int)n;
out:
	return ret;
}
