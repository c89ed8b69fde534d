/*
 * Answer: the authoritative lookup and the response it writes. See answer.h.
 *
 * A lookup walks the query name from the zone apex down, one point read per label
 * (zonedb nodes exist for every name and every empty non-terminal), which finds a
 * delegation on the way and, when the name is missing, its closest encloser for the
 * wildcard check. RRsets are read into the worker's scratch memory and written at
 * once, so nothing is allocated per query.
 */
#include <string.h>

#include "answer.h"

#define CHAIN_MAX 8                    /* CNAMEs followed inside the zone */
#define HALF (ANSWER_SCRATCH / 2)      /* scratch: [0, HALF) main RRsets, rest glue */

enum outcome { OUT_DATA, OUT_NODATA, OUT_NXDOMAIN, OUT_REFERRAL, OUT_STOP };

struct ctx {
	struct zonedb *db;
	const struct answer_settings *s;
	const struct dnsw_query *q;
	struct dnsw_writer w;
	struct dnsw_mark after_question;
	uint8_t *scratch;
	struct answer_info *info;
	uint8_t apex[DNSW_NAME_MAX];
	unsigned apex_labels;
	bool full;                         /* an answer or authority RRset did not fit */
};

static void add_dep(struct ctx *c, const uint8_t *name)
{
	struct answer_info *in = c->info;
	size_t len = dnsw_name_len(name);
	for (unsigned i = 0; i < in->ndeps; i++)
		if (memcmp(in->deps[i], name, len) == 0)
			return;
	if (in->ndeps == ANSWER_DEPS_MAX) {
		/* Too many names to track: do not cache what cannot be invalidated. */
		in->cacheable = false;
		return;
	}
	memcpy(in->deps[in->ndeps++], name, len);
}

static bool node_has(const struct zonedb_node *n, uint16_t type)
{
	for (unsigned i = 0; i < n->ntypes; i++)
		if (n->types[i] == type)
			return true;
	return false;
}

/* Offsets of the label starts of a wire name: offs[i] is where the suffix with
 * (labels - i) labels begins; returns the label count. */
static unsigned label_offsets(const uint8_t *name, uint8_t offs[128])
{
	unsigned n = 0, pos = 0;
	while (name[pos] != 0) {
		offs[n++] = (uint8_t)pos;
		pos += 1u + name[pos];
	}
	offs[n] = (uint8_t)pos;
	return n;
}

/* Write every record of rr to section sec with owner (NULL: the question's name).
 * Names inside RDATA are compressed for the types that allow it. */
static int put_rrset(struct ctx *c, enum dnsw_section sec, const uint8_t *owner,
		     const struct zonedb_rrset *rr, uint32_t ttl)
{
	const uint8_t *p = rr->rdata;
	for (unsigned i = 0; i < rr->count; i++) {
		uint16_t len = (uint16_t)(p[0] << 8 | p[1]);
		const uint8_t *rd = p + 2;
		uint16_t offs[2];
		unsigned n = 0;
		switch (rr->type) {
		case DNSW_T_NS:
		case DNSW_T_CNAME:
		case DNSW_T_PTR:
			offs[n++] = 0;
			break;
		case DNSW_T_MX:
			offs[n++] = 2;
			break;
		case DNSW_T_SOA:
			offs[n++] = 0;
			offs[n++] = (uint16_t)dnsw_name_len(rd);
			break;
		default:
			break;
		}
		int ret = n ? dnsw_put_rr_names(&c->w, sec, owner, rr->type, DNSW_CLASS_IN, ttl, rd,
						len, offs, n)
			    : dnsw_put_rr(&c->w, sec, owner, rr->type, DNSW_CLASS_IN, ttl, rd, len);
		if (ret != 0)
			return ret;
		p += 2 + len;
	}
	return 0;
}

/* An answer or authority RRset: on overflow, remember to send TC. */
static void put_main(struct ctx *c, enum dnsw_section sec, const uint8_t *owner,
		     const struct zonedb_rrset *rr, uint32_t ttl)
{
	if (c->full)
		return;
	struct dnsw_mark m;
	dnsw_mark(&c->w, &m);
	if (put_rrset(c, sec, owner, rr, ttl) != 0) {
		dnsw_rollback(&c->w, &m);
		c->full = true;
	}
}

static void put_soa(struct ctx *c)
{
	struct zonedb_rrset soa;
	add_dep(c, c->apex);
	if (zonedb_get_rrset(c->db, c->apex, DNSW_T_SOA, &soa, c->scratch, HALF) != 0 ||
	    soa.count != 1)
		return;
	/* RFC 2308 §5: the negative TTL is the smaller of the SOA's TTL and MINIMUM. */
	const uint8_t *rd = soa.rdata + 2;
	uint16_t rdlen = (uint16_t)(soa.rdata[0] << 8 | soa.rdata[1]);
	uint32_t minimum = rdlen >= 4 ? (uint32_t)rd[rdlen - 4] << 24 | (uint32_t)rd[rdlen - 3] << 16 |
						(uint32_t)rd[rdlen - 2] << 8 | rd[rdlen - 1]
				      : 0;
	put_main(c, DNSW_SEC_NS, c->apex, &soa, soa.ttl < minimum ? soa.ttl : minimum);
}

/* Addresses of the NS names of ns that are inside this zone (A and AAAA) into the
 * additional section, as far as they fit: glue for a referral, and what NSD and
 * Knot add to an answer of type NS. */
static void put_ns_addresses(struct ctx *c, const struct zonedb_rrset *ns)
{
	size_t apex_len = dnsw_name_len(c->apex);
	const uint8_t *p = ns->rdata;
	for (unsigned i = 0; i < ns->count; i++) {
		uint16_t len = (uint16_t)(p[0] << 8 | p[1]);
		const uint8_t *target = p + 2;
		p += 2 + len;
		size_t tlen = dnsw_name_len(target);
		uint8_t lc[DNSW_NAME_MAX];
		dnsw_name_lower(lc, target, tlen);
		if (tlen < apex_len || memcmp(lc + tlen - apex_len, c->apex, apex_len) != 0)
			continue;
		static const uint16_t glue_types[] = { DNSW_T_A, DNSW_T_AAAA };
		for (unsigned k = 0; k < 2; k++) {
			struct zonedb_rrset g;
			if (zonedb_get_rrset(c->db, lc, glue_types[k], &g, c->scratch + HALF, HALF) != 0)
				continue;
			add_dep(c, lc);
			struct dnsw_mark m;
			dnsw_mark(&c->w, &m);
			if (put_rrset(c, DNSW_SEC_AR, lc, &g, g.ttl) != 0) {
				dnsw_rollback(&c->w, &m);
				return;
			}
		}
	}
}

/* Referral to the child zone cut at cut: its NS RRset, then glue. */
static void put_referral(struct ctx *c, const uint8_t *cut)
{
	struct zonedb_rrset ns;
	add_dep(c, cut);
	if (zonedb_get_rrset(c->db, cut, DNSW_T_NS, &ns, c->scratch, HALF) != 0)
		return;
	put_main(c, DNSW_SEC_NS, cut, &ns, ns.ttl);
	if (!c->full)
		put_ns_addresses(c, &ns);
}

static enum outcome resolve(struct ctx *c, const uint8_t *name, const uint8_t *owner,
			    unsigned depth);

/* The data at node_name (which may be a wildcard) answers for owner. */
static enum outcome answer_node(struct ctx *c, const uint8_t *node_name,
				const struct zonedb_node *node, const uint8_t *owner,
				unsigned depth, const struct zonedb_rrset *pre)
{
	const struct dnsw_query *q = c->q;
	struct zonedb_rrset rr;
	if (node->ntypes == 0)
		return OUT_NODATA; /* an empty non-terminal */
	if (q->qtype == DNSW_T_ANY) {
		/* RFC 8482 §4.1: one RRset is a full answer to ANY. */
		if (zonedb_get_rrset(c->db, node_name, node->types[0], &rr, c->scratch, HALF) != 0)
			return OUT_NODATA;
		put_main(c, DNSW_SEC_AN, owner, &rr, rr.ttl);
		return OUT_DATA;
	}
	if (q->qtype != DNSW_T_CNAME && node_has(node, DNSW_T_CNAME)) {
		if (zonedb_get_rrset(c->db, node_name, DNSW_T_CNAME, &rr, c->scratch, HALF) != 0 ||
		    rr.count == 0)
			return OUT_NODATA;
		put_main(c, DNSW_SEC_AN, owner, &rr, rr.ttl);
		uint8_t target[DNSW_NAME_MAX];
		size_t tlen = dnsw_name_len(rr.rdata + 2);
		dnsw_name_lower(target, rr.rdata + 2, tlen);
		uint8_t zone[DNSW_NAME_MAX];
		/* Follow the chain only inside this zone, and not forever. */
		if (depth + 1 >= CHAIN_MAX || zonedb_find_zone(c->db, target, zone) != 0 ||
		    !dnsw_name_equal(zone, c->apex))
			return OUT_STOP;
		enum outcome o = resolve(c, target, target, depth + 1);
		return o == OUT_REFERRAL ? OUT_STOP : o;
	}
	if (!node_has(node, q->qtype))
		return OUT_NODATA;
	if (pre != NULL && pre->rdata != NULL)
		rr = *pre; /* read with the node */
	else if (zonedb_get_rrset(c->db, node_name, q->qtype, &rr, c->scratch, HALF) != 0)
		return OUT_NODATA;
	put_main(c, DNSW_SEC_AN, owner, &rr, rr.ttl);
	if (q->qtype == DNSW_T_NS && !c->full)
		put_ns_addresses(c, &rr);
	return OUT_DATA;
}

/* Look name up in the zone and write what answers it, with owner as the owner of
 * the records written for it (NULL: the question's name). */
static enum outcome resolve(struct ctx *c, const uint8_t *name, const uint8_t *owner,
			    unsigned depth)
{
	uint8_t offs[128];
	unsigned labels = label_offsets(name, offs);
	struct zonedb_node node;
	add_dep(c, name);
	/* From the label under the apex down to the name itself. */
	/* The name itself is read with its view: node and RRset in one point read, for
	 * most queries ask for names that exist and hold the type (ANY: the node's first
	 * type, read apart). pre is in scratch[0, HALF), used before anything else is. */
	struct zonedb_rrset pre = { .rdata = NULL };
	bool with_rrset = c->q->qtype != DNSW_T_ANY;
	for (unsigned j = c->apex_labels + 1; j <= labels; j++) {
		const uint8_t *suffix = name + offs[labels - j];
		int got = j == labels && with_rrset
				  ? zonedb_get_name(c->db, suffix, c->q->qtype, &node, &pre,
						    c->scratch, HALF)
				  : zonedb_get_node(c->db, suffix, &node);
		if (got != 0) {
			/* suffix does not exist: its parent is the closest encloser. */
			const uint8_t *ce = name + offs[labels - j + 1];
			uint8_t wild[DNSW_NAME_MAX];
			size_t celen = dnsw_name_len(ce);
			add_dep(c, suffix);
			if (celen + 2 > DNSW_NAME_MAX)
				return OUT_NXDOMAIN;
			wild[0] = 1;
			wild[1] = '*';
			memcpy(wild + 2, ce, celen);
			add_dep(c, wild);
			if (zonedb_get_node(c->db, wild, &node) != 0)
				return OUT_NXDOMAIN;
			return answer_node(c, wild, &node, owner, depth, NULL);
		}
		bool at_name = j == labels;
		if (node_has(&node, DNSW_T_NS) && !(at_name && c->q->qtype == DNSW_T_DS)) {
			if (depth > 0)
				return OUT_REFERRAL;
			put_referral(c, suffix);
			return OUT_REFERRAL;
		}
	}
	if (labels == c->apex_labels && zonedb_get_node(c->db, name, &node) != 0)
		return OUT_NXDOMAIN; /* the apex itself always exists; be safe */
	return answer_node(c, name, &node, owner, depth, &pre);
}

static size_t finish(struct ctx *c, const uint8_t *cookie, uint8_t cookie_len, size_t opt_size)
{
	const struct dnsw_query *q = c->q;
	if (q->has_edns) {
		dnsw_release(&c->w, opt_size);
		struct dnsw_opt opt = {
			.payload = c->s->udp_payload,
			.ext_rcode = (uint8_t)(c->info->rcode >> 4),
			.do_bit = q->edns_do,
			.nsid = q->nsid ? c->s->nsid : NULL,
			.nsid_len = q->nsid ? c->s->nsid_len : 0,
			.cookie = cookie,
			.cookie_len = cookie_len,
		};
		if (dnsw_put_opt(&c->w, &opt) != 0)
			return 0;
	}
	dnsw_set_rcode(&c->w, c->info->rcode & 0xf);
	return dnsw_finish(&c->w);
}

size_t answer_build(struct zonedb *db, const struct answer_settings *s,
		    const struct dnsw_query *q, bool tcp, size_t limit, const uint8_t *cookie,
		    uint8_t cookie_len, uint8_t *scratch, uint8_t *out, size_t cap,
		    struct answer_info *info)
{
	struct ctx c = { .db = db, .s = s, .q = q, .scratch = scratch, .info = info };
	memset(info, 0, offsetof(struct answer_info, deps));
	info->cacheable = cookie == NULL;

	if (limit > cap)
		limit = cap;
	dnsw_writer_init(&c.w, out, limit);
	uint16_t flags = dnsw_reply_flags(q);
	if (dnsw_put_header(&c.w, q->id, flags) != 0 ||
	    dnsw_put_question(&c.w, q->qname, q->qtype, q->qclass) != 0)
		return 0;
	dnsw_mark(&c.w, &c.after_question);
	struct dnsw_opt probe = {
		.payload = s->udp_payload,
		.nsid = q->nsid ? s->nsid : NULL,
		.nsid_len = q->nsid ? s->nsid_len : 0,
		.cookie = cookie,
		.cookie_len = cookie_len,
	};
	size_t opt_size = q->has_edns ? dnsw_opt_size(&probe) : 0;
	if (opt_size && dnsw_reserve(&c.w, opt_size) != 0)
		return 0;

	if (q->opcode != DNSW_OP_QUERY) {
		info->rcode = DNSW_RC_NOTIMP;
		info->cacheable = false;
		return finish(&c, cookie, cookie_len, opt_size);
	}
	if (q->has_edns && q->edns_version != 0) {
		info->rcode = DNSW_RC_BADVERS;
		return finish(&c, cookie, cookie_len, opt_size);
	}
	if ((q->qtype == DNSW_T_AXFR || q->qtype == DNSW_T_IXFR) && !tcp) {
		/* Zone transfers only over TCP, as NSD and Knot answer. */
		info->rcode = DNSW_RC_NOTIMP;
		return finish(&c, cookie, cookie_len, opt_size);
	}
	if (q->qclass != DNSW_CLASS_IN || q->qtype == DNSW_T_AXFR || q->qtype == DNSW_T_IXFR ||
	    q->qtype == DNSW_T_OPT || zonedb_find_owner(db, q->qname_lc, q->qtype, c.apex) != 0) {
		/* Not cached: it would depend on every ancestor of the name (a zone added
		 * at any of them answers instead), and it costs no store read. */
		info->rcode = DNSW_RC_REFUSED;
		info->cacheable = false;
		return finish(&c, cookie, cookie_len, opt_size);
	}
	c.apex_labels = dnsw_name_labels(c.apex);

	enum outcome o = resolve(&c, q->qname_lc, NULL, 0);
	switch (o) {
	case OUT_NXDOMAIN:
		info->rcode = DNSW_RC_NXDOMAIN;
		put_soa(&c);
		break;
	case OUT_NODATA:
		put_soa(&c);
		break;
	default:
		break;
	}
	if (o != OUT_REFERRAL) {
		/* Authoritative unless the whole answer is a referral to a child. */
		out[2] |= DNSW_FLAG_AA >> 8;
	}
	if (c.full) {
		/* Did not fit: the question alone, with TC, sends the client to TCP. */
		dnsw_rollback(&c.w, &c.after_question);
		dnsw_set_tc(&c.w);
		info->truncated = true;
	}
	return finish(&c, cookie, cookie_len, opt_size);
}

/* ---- AXFR --------------------------------------------------------------- */

struct axfr {
	struct ctx c;
	uint8_t *buf;
	size_t cap;
	int (*emit)(void *ctx, const uint8_t *msg, size_t len);
	void *emit_ctx;
	bool first;
	unsigned messages;
};

static void axfr_start(struct axfr *x)
{
	const struct dnsw_query *q = x->c.q;
	dnsw_writer_init(&x->c.w, x->buf, x->cap);
	dnsw_put_header(&x->c.w, q->id, (uint16_t)(dnsw_reply_flags(q) | DNSW_FLAG_AA));
	if (x->first)
		dnsw_put_question(&x->c.w, q->qname, q->qtype, q->qclass);
	x->first = false;
}

static int axfr_flush(struct axfr *x)
{
	size_t n = dnsw_finish(&x->c.w);
	x->messages++;
	return x->emit(x->emit_ctx, x->buf, n);
}

/* Add one RRset, record by record, starting new messages as they fill. */
static int axfr_put(struct axfr *x, const uint8_t *owner, const struct zonedb_rrset *rr)
{
	struct zonedb_rrset one = *rr;
	const uint8_t *p = rr->rdata;
	for (unsigned i = 0; i < rr->count; i++) {
		uint16_t len = (uint16_t)(p[0] << 8 | p[1]);
		one.count = 1;
		one.rdata = p;
		one.rdata_len = 2u + len;
		struct dnsw_mark m;
		dnsw_mark(&x->c.w, &m);
		if (put_rrset(&x->c, DNSW_SEC_AN, owner, &one, rr->ttl) != 0) {
			dnsw_rollback(&x->c.w, &m);
			int ret = axfr_flush(x);
			if (ret != 0)
				return ret;
			axfr_start(x);
			if (put_rrset(&x->c, DNSW_SEC_AN, owner, &one, rr->ttl) != 0)
				return AD_ETOOBIG; /* one record larger than a message */
		}
		p += 2 + len;
	}
	return 0;
}

static int axfr_each(const uint8_t *name, const struct zonedb_rrset *rr, void *arg)
{
	struct axfr *x = arg;
	if (rr->type == DNSW_T_SOA && dnsw_name_equal(name, x->c.apex))
		return 0; /* sent first and last */
	return axfr_put(x, name, rr);
}

int answer_axfr(struct zonedb *db, const struct dnsw_query *q, uint8_t *buf, size_t msg_cap,
		uint8_t *scratch, int (*emit)(void *ctx, const uint8_t *msg, size_t len),
		void *ctx)
{
	struct axfr x = { .c = { .db = db, .q = q, .scratch = scratch }, .buf = buf,
			  .cap = msg_cap, .emit = emit, .emit_ctx = ctx, .first = true };
	struct answer_info info;
	x.c.info = &info;
	memset(&info, 0, sizeof(info));
	if (zonedb_find_zone(db, q->qname_lc, x.c.apex) != 0 ||
	    !dnsw_name_equal(x.c.apex, q->qname_lc))
		return AD_ENOTFOUND;
	/* The SOA is read into the upper half of scratch: the walk uses the lower. */
	struct zonedb_rrset soa;
	if (zonedb_get_rrset(db, x.c.apex, DNSW_T_SOA, &soa, scratch + HALF, HALF) != 0)
		return AD_ENOTFOUND;
	axfr_start(&x);
	int ret = axfr_put(&x, x.c.apex, &soa);
	if (ret == 0)
		ret = zonedb_foreach_rrset(db, x.c.apex, axfr_each, &x);
	if (ret == 0)
		ret = axfr_put(&x, x.c.apex, &soa);
	if (ret == 0)
		ret = axfr_flush(&x);
	return ret;
}

size_t answer_formerr(const struct dnsw_query *q, uint8_t *out, size_t cap)
{
	struct dnsw_writer w;
	if (cap < DNSW_HDR_LEN)
		return 0;
	dnsw_writer_init(&w, out, cap);
	uint16_t flags = (uint16_t)(DNSW_FLAG_QR | (q->flags & (0x7800u | DNSW_FLAG_RD)) |
				    DNSW_RC_FORMERR);
	if (dnsw_put_header(&w, q->id, flags) != 0)
		return 0;
	return dnsw_finish(&w);
}
