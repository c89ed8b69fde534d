/*
 * DNS wire format (RFC 1035 §4, RFC 6891 EDNS, RFC 7873 cookies, RFC 5001 NSID):
 * the query parser, the response writer and name utilities of airdress-dns.
 *
 * Everything here is on the per-query hot path: no allocation, no I/O, no global
 * state. The parser copies what the server needs out of the packet into a
 * caller-owned struct dnsw_query; the writer builds a response into a caller-owned
 * buffer and never writes past its capacity.
 *
 * Names ("wire names") are uncompressed RFC 1035 label sequences ending with the
 * root label: at most DNSW_NAME_MAX bytes, labels of 1..63 bytes. A wire name
 * passed to this module is trusted to be one (they come from the parser or from
 * dnsw_name_from_text()); the writer still stops at DNSW_NAME_MAX bytes and returns
 * AD_EPARSE for a bad label, so a wrong name costs an error, never an overrun.
 *
 * Parser results (see docs/dns-wire.md):
 *   0            a query: every field of struct dnsw_query is set
 *   DNSW_FORMERR (AD_EPARSE) the header was read (id, flags, opcode, counts are
 *                set) but the rest is malformed: answer FORMERR with the same id
 *   DNSW_DROP    (AD_ETRUNC) not a query: shorter than a header, or QR set.
 *                Send nothing (answering responses invites reflection loops)
 */
#ifndef AIRDRESS_DNSWIRE_H
#define AIRDRESS_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DNSW_DROP AD_ETRUNC      /* not a query: send nothing */
#define DNSW_FORMERR AD_EPARSE   /* malformed query with a readable header */

#define DNSW_HDR_LEN 12
#define DNSW_NAME_MAX 255        /* wire bytes, root label included */
#define DNSW_LABEL_MAX 63
#define DNSW_PTR_MAX 16          /* compression pointers followed per name */
#define DNSW_COMPRESS_MAX 64     /* writer: name suffixes remembered for compression */
#define DNSW_TEXT_MAX 1014       /* longest presentation name + NUL (all \DDD) */
#define DNSW_EDNS_MIN 512        /* smallest UDP payload size honoured */
#define DNSW_COOKIE_CLIENT 8     /* RFC 7873: client cookie length */
#define DNSW_COOKIE_SERVER_MIN 8
#define DNSW_COOKIE_SERVER_MAX 32
#define DNSW_COOKIE_MAX (DNSW_COOKIE_CLIENT + DNSW_COOKIE_SERVER_MAX)
#define DNSW_NSID_MAX 128        /* writer: longest NSID sent */

/* Header flags, as bits of the 16-bit word at offset 2. */
#define DNSW_FLAG_QR 0x8000u
#define DNSW_FLAG_AA 0x0400u
#define DNSW_FLAG_TC 0x0200u
#define DNSW_FLAG_RD 0x0100u
#define DNSW_FLAG_RA 0x0080u
#define DNSW_FLAG_AD 0x0020u
#define DNSW_FLAG_CD 0x0010u
#define DNSW_OPCODE(flags) (((flags) >> 11) & 0xfu)
#define DNSW_RCODE(flags) ((flags) & 0xfu)

enum dnsw_opcode { DNSW_OP_QUERY = 0, DNSW_OP_NOTIFY = 4, DNSW_OP_UPDATE = 5 };
enum dnsw_rcode {
	DNSW_RC_NOERROR = 0, DNSW_RC_FORMERR = 1, DNSW_RC_SERVFAIL = 2, DNSW_RC_NXDOMAIN = 3,
	DNSW_RC_NOTIMP = 4, DNSW_RC_REFUSED = 5, DNSW_RC_NOTAUTH = 9, DNSW_RC_BADVERS = 16,
	DNSW_RC_BADCOOKIE = 23,
};
enum dnsw_type {
	DNSW_T_A = 1, DNSW_T_NS = 2, DNSW_T_CNAME = 5, DNSW_T_SOA = 6, DNSW_T_PTR = 12,
	DNSW_T_MX = 15, DNSW_T_TXT = 16, DNSW_T_AAAA = 28, DNSW_T_SRV = 33, DNSW_T_OPT = 41,
	DNSW_T_DS = 43, DNSW_T_RRSIG = 46, DNSW_T_NSEC = 47, DNSW_T_DNSKEY = 48,
	DNSW_T_TSIG = 250, DNSW_T_IXFR = 251, DNSW_T_AXFR = 252, DNSW_T_ANY = 255,
};
#define DNSW_CLASS_IN 1
#define DNSW_EDNS_NSID 3
#define DNSW_EDNS_COOKIE 10

/* What the parser read. Filled by dnsw_parse_query(); owned by the caller (usually
 * one per worker, reused for every query: the parser sets every field it documents
 * and nothing reads stale bytes past qname_len). */
struct dnsw_query {
	/* header: always set unless the result is DNSW_DROP */
	uint16_t id;
	uint16_t flags;           /* the whole flags word (DNSW_FLAG_*, opcode, rcode) */
	uint8_t opcode;           /* DNSW_OPCODE(flags) */
	uint16_t qdcount, ancount, nscount, arcount;
	/* the rest: set only when the result is 0 */
	uint16_t qtype, qclass;
	uint8_t qname_len;        /* wire length of qname, root label included (1..255) */
	uint8_t qname_labels;     /* labels, root excluded */
	bool qname_compressed;    /* the question used a compression pointer */
	bool has_edns;            /* an OPT record was present; the edns_* fields: */
	bool edns_do;             /* DO bit (RFC 3225) */
	bool nsid;                /* NSID option present (a request, RFC 5001) */
	bool has_tsig;            /* a TSIG record ends the message (not verified) */
	uint8_t edns_version;
	uint8_t edns_ext_rcode;   /* upper 8 bits of the 12-bit rcode (0 in queries) */
	uint8_t cookie_len;       /* 0 (none), 8 (client only) or 16..40 */
	uint16_t edns_payload;    /* UDP payload size, clamped to [512, 65535]; 512 without EDNS */
	uint16_t edns_flags;      /* the 16 flag bits of the OPT TTL (DO is 0x8000) */
	uint16_t tsig_offset;     /* where the TSIG record starts, when has_tsig */
	uint16_t question_end;    /* offset just past the question in the packet */
	uint8_t cookie[DNSW_COOKIE_MAX];   /* client cookie, then the server cookie */
	/* Names: bytes past qname_len are scratch (the parser lowercases in words). */
	uint8_t qname[DNSW_NAME_MAX + 1];    /* uncompressed, original case */
	uint8_t qname_lc[DNSW_NAME_MAX + 1]; /* the same, ASCII-lowercased */
};

/* Parse the query pkt[0..len). Takes nothing: pkt is only read, q is filled.
 * Returns 0, DNSW_FORMERR (AD_EPARSE: header fields of q valid, answer FORMERR) or
 * DNSW_DROP (AD_ETRUNC: len < 12 or QR set; send nothing). Checks: exactly one
 * question; names (labels <= 63, names <= 255 bytes, compression pointers strictly
 * backwards, at most DNSW_PTR_MAX per name, no extended label types); every record
 * of the answer, authority and additional sections inside the packet and nothing
 * after the last; at most one OPT, only in the additional section, owned by the
 * root; EDNS options inside the OPT rdata; COOKIE of 8 or 16..40 bytes; TSIG only
 * as the last record. The opcode, class, type and EDNS version are reported, not
 * judged. */
int dnsw_parse_query(const uint8_t *pkt, size_t len, struct dnsw_query *q);

/* Sections of a message, for the writer's counts. */
enum dnsw_section { DNSW_SEC_QD = 0, DNSW_SEC_AN = 1, DNSW_SEC_NS = 2, DNSW_SEC_AR = 3 };

/* A response being written into a caller buffer. Storage owned by the caller; all
 * fields private. */
struct dnsw_writer {
	uint8_t *buf;
	uint16_t len, cap;
	uint16_t rr_start;        /* dnsw_rr_begin(): where the rdlength field is */
	uint8_t qname_len;        /* the question's name at offset 12 (0: none yet) */
	uint16_t count[4];        /* records per enum dnsw_section */
	uint8_t ncomp;
	uint16_t comp_off[DNSW_COMPRESS_MAX];  /* offsets of names (suffixes) written */
	uint8_t comp_len[DNSW_COMPRESS_MAX];   /* their uncompressed wire lengths */
};

/* A point to return to (dnsw_mark / dnsw_rollback). */
struct dnsw_mark {
	uint16_t len;
	uint16_t count[4];
	uint8_t ncomp;
};

/* Start writing into buf[0..cap) (cap above 65535 counts as 65535). buf stays the
 * caller's and must outlive the writer's use. */
void dnsw_writer_init(struct dnsw_writer *w, uint8_t *buf, size_t cap);

/* Write the 12-byte header: id, flags (the whole word: QR, opcode, AA, TC, RD, RA,
 * AD, CD, rcode), counts 0 (dnsw_finish() writes them). Must come first.
 * Returns 0 or AD_ENOSPACE. */
int dnsw_put_header(struct dnsw_writer *w, uint16_t id, uint16_t flags);

/* Flags for an answer to q: QR, q's opcode, RD and CD copied; rcode NOERROR. */
uint16_t dnsw_reply_flags(const struct dnsw_query *q);

/* Write a question (qname as given, so the client's case is kept) and count it.
 * The name becomes a compression target. Returns 0, AD_ENOSPACE or AD_EPARSE (bad
 * name); the writer is unchanged on error. */
int dnsw_put_question(struct dnsw_writer *w, const uint8_t *qname, uint16_t qtype,
		      uint16_t qclass);

/* Write a whole record to section sec: owner (compressed against names already
 * written, compared without case), type, class, ttl, then rdata[0..rdlen) as is.
 * owner NULL means the question's name: a pointer to it without any lookup (the
 * common case, and the cheap one); AD_EPARSE if no question was written.
 * Returns 0, AD_ENOSPACE or AD_EPARSE (bad owner); unchanged on error. */
int dnsw_put_rr(struct dnsw_writer *w, enum dnsw_section sec, const uint8_t *owner,
		uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t *rdata,
		uint16_t rdlen);

/* dnsw_put_rr() for rdata that embeds uncompressed wire names at the offsets
 * name_off[0..nnames) (increasing, each a whole name inside rdata): the names are
 * compressed, the bytes between copied. For the types RFC 3597 §4 allows to be
 * compressed (NS, CNAME, SOA, PTR, MX, ...); SRV targets and others must go through
 * dnsw_put_rr() or dnsw_rr_begin() with compress false. Returns 0, AD_ENOSPACE or
 * AD_EPARSE (owner or an embedded name bad, an offset outside rdata); unchanged on
 * error. */
int dnsw_put_rr_names(struct dnsw_writer *w, enum dnsw_section sec, const uint8_t *owner,
		      uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t *rdata,
		      uint16_t rdlen, const uint16_t *name_off, unsigned nnames);

/* Piecewise records: dnsw_rr_begin() writes owner, type, class, ttl and reserves
 * rdlength; dnsw_put_name / _bytes / _u16 / _u32 append rdata; dnsw_rr_end() sets
 * rdlength and counts the record in sec. owner NULL is the question's name, as for
 * dnsw_put_rr() (and dnsw_put_rr_names()). On any error take the writer back to a
 * mark made before dnsw_rr_begin(). Each returns 0, AD_ENOSPACE or AD_EPARSE. */
int dnsw_rr_begin(struct dnsw_writer *w, const uint8_t *owner, uint16_t type,
		  uint16_t rclass, uint32_t ttl);
int dnsw_rr_end(struct dnsw_writer *w, enum dnsw_section sec);

/* Append a wire name, as a pointer to an earlier copy of its longest known suffix
 * when compress is true; it becomes a compression target either way. Returns 0,
 * AD_ENOSPACE or AD_EPARSE; unchanged on error. */
int dnsw_put_name(struct dnsw_writer *w, const uint8_t *name, bool compress);
int dnsw_put_bytes(struct dnsw_writer *w, const void *p, size_t n);
int dnsw_put_u16(struct dnsw_writer *w, uint16_t v);
int dnsw_put_u32(struct dnsw_writer *w, uint32_t v);

/* The OPT record of a response. */
struct dnsw_opt {
	uint16_t payload;         /* our UDP payload size */
	uint8_t ext_rcode;        /* rcode >> 4 (BADVERS: 1) */
	bool do_bit;
	const uint8_t *nsid;      /* NULL: no NSID option */
	uint8_t nsid_len;         /* <= DNSW_NSID_MAX */
	const uint8_t *cookie;    /* NULL: no COOKIE option */
	uint8_t cookie_len;       /* 8 or 16..40 */
};

/* Append the OPT record (version 0) to the additional section. Returns 0,
 * AD_ENOSPACE, or AD_ETOOBIG (nsid_len or cookie_len out of range); unchanged on
 * error. Its size is dnsw_opt_size(o): reserve that much before the answers. */
int dnsw_put_opt(struct dnsw_writer *w, const struct dnsw_opt *o);
size_t dnsw_opt_size(const struct dnsw_opt *o);

/* Hold back n bytes of capacity (for the OPT record while answers are added) and
 * give them back. dnsw_reserve returns 0 or AD_ENOSPACE. */
int dnsw_reserve(struct dnsw_writer *w, size_t n);
void dnsw_release(struct dnsw_writer *w, size_t n);

/* Remember the current point; take the writer back to it (bytes, counts and
 * compression targets written after it are forgotten). For truncation: mark before
 * an RRset, roll back when it does not fit, dnsw_set_tc(). */
void dnsw_mark(const struct dnsw_writer *w, struct dnsw_mark *m);
void dnsw_rollback(struct dnsw_writer *w, const struct dnsw_mark *m);

/* Set TC / the low 4 rcode bits in the header already written. */
void dnsw_set_tc(struct dnsw_writer *w);
void dnsw_set_rcode(struct dnsw_writer *w, uint8_t rcode);

/* Write the section counts into the header. Returns the message length. */
size_t dnsw_finish(struct dnsw_writer *w);

/* Turn a cached response resp[0..len) into the answer to a new query: write id and
 * copy the question name in the client's case (qname[0..qname_len), which must be
 * the cached name up to case) over the question at offset 12. Owners written as
 * pointers to the question follow its case. Does nothing past len. */
void dnsw_patch_cached(uint8_t *resp, size_t len, uint16_t id,
		       const uint8_t *qname_wire_original_case, size_t qname_len);

/* Name utilities. */

/* Expand the name at offset *pos of the message pkt[0..len), following compression
 * pointers, into out (DNSW_NAME_MAX bytes); *pos moves past the name as it is in
 * the message. Same rules as the parser: a pointer must point before the start of
 * the label run that holds it (so chains go strictly backwards and end), at most
 * DNSW_PTR_MAX pointers, labels <= 63, name <= 255. Returns the expanded length or
 * AD_EPARSE (*pos unchanged then). */
int dnsw_name_unpack(const uint8_t *pkt, size_t len, size_t *pos, uint8_t *out);

/* Length (root label included) of the wire name name[0..max), or AD_EPARSE if it is
 * not a valid uncompressed name within max bytes (a label over 63, a pointer or an
 * extended label, over 255 bytes, no root label before max). */
int dnsw_name_check(const uint8_t *name, size_t max);

/* Length of a valid wire name, root label included. */
size_t dnsw_name_len(const uint8_t *name);

/* Labels of a valid wire name, root excluded (0 for the root). */
unsigned dnsw_name_labels(const uint8_t *name);

/* Whether two valid wire names are equal, ASCII case ignored. */
bool dnsw_name_equal(const uint8_t *a, const uint8_t *b);

/* Whether wire name name[0..len) is anc[0..alen) or below it, byte for byte (lowercase
 * both first to ignore case); lengths include the root label. */
bool dnsw_name_is_below(const uint8_t *name, size_t len, const uint8_t *anc, size_t alen);

/* ASCII-lowercase n bytes of a wire name (label length bytes are never letters). */
void dnsw_name_lower(uint8_t *dst, const uint8_t *src, size_t n);

/* Presentation form of a valid wire name into out[0..cap), NUL-terminated,
 * absolute ("example.com.", "." for the root). Bytes outside '!'..'~' are written
 * \DDD, and . \ " ( ) ; @ $ are written \X. DNSW_TEXT_MAX bytes always suffice.
 * Returns the length without the NUL, AD_EPARSE (bad name) or AD_ENOSPACE. */
int dnsw_name_to_text(const uint8_t *name, char *out, size_t cap);

/* Wire form of the presentation name text[0..len) into out (DNSW_NAME_MAX bytes).
 * "@" is origin; a name without a trailing dot is relative to origin (a wire name;
 * NULL makes relative names an error; pass "" = root to accept them as absolute).
 * \DDD (000..255) and \X escapes are understood. Case is kept. Returns the wire
 * length, AD_EPARSE (empty label, bad escape, relative without origin) or AD_ETOOBIG
 * (label over 63 or name over 255 bytes). */
int dnsw_name_from_text(const char *text, size_t len, const uint8_t *origin, uint8_t *out);

#endif
