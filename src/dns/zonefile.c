/*
 * Zone file loader (see zonefile.h for the rules and docs/dns-store.md).
 *
 * Each file is read whole into memory and handed to ldns through fmemopen(), one
 * record per ldns_rr_new_frm_fp_l() call. Reading from memory lets us find, for
 * every call, the bytes it consumed: the record's first line (for messages) and the
 * text of a $INCLUDE directive, which ldns reports but does not carry out.
 *
 * Records are collected, sorted by (owner, type, RDATA, file order), grouped into
 * RRsets and checked; zonefile_apply() then diffs the RRsets against the store.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ldns/ldns.h>

#include "log.h"
#include "zonefile.h"

struct rec {
	const char *file;
	unsigned line;
	size_t seq;              /* file order */
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t olen;
	uint8_t data[];          /* owner (olen bytes), then RDATA */
};

struct zonefile_priv {
	struct rec **recs;
	size_t nrecs, cap;
	char **files;            /* paths named in records and messages */
	size_t nfiles;
	const uint8_t **rdata;   /* storage behind every rrset's rdata/rdlen arrays */
	uint16_t *rdlen;
};

struct loader {
	struct zonefile *zf;
	char *err;
	size_t errlen;
	int depth;
	const char *stack[ZONEFILE_INCLUDE_DEPTH + 1]; /* files being read */
};

static int errorf(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errorf(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
	return AD_EPARSE;
}

static int warnf(struct zonefile *zf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warnf(struct zonefile *zf, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	char **w = realloc(zf->warnings, (zf->nwarnings + 1) * sizeof(*w));
	if (!w) {
		free(msg);
		return -ENOMEM;
	}
	zf->warnings = w;
	zf->warnings[zf->nwarnings++] = msg;
	return 0;
}

static const char *name_text(const uint8_t *name, char buf[DNSW_TEXT_MAX])
{
	if (dnsw_name_to_text(name, buf, DNSW_TEXT_MAX) < 0)
		snprintf(buf, DNSW_TEXT_MAX, "?");
	return buf;
}

static const char *type_text(uint16_t type, char buf[16])
{
	char *s = ldns_rr_type2str((ldns_rr_type)type);
	snprintf(buf, 16, "%s", s ? s : "?");
	free(s);
	return buf;
}

static bool meta_type(uint16_t type)
{
	return type == 0 || type == DNSW_T_OPT || (type >= DNSW_T_TSIG && type <= DNSW_T_ANY);
}

/* A file's contents, NUL-terminated. 0 or -errno. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			char *g = realloc(buf, cap + 1);
			if (!g) {
				ret = -ENOMEM;
				break;
			}
			buf = g;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				ret = -EIO;
			break;
		}
	}
	fclose(f);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

/* The first byte at or after pos that is neither blank nor inside a comment. */
static size_t skip_blank(const char *buf, size_t pos, size_t end)
{
	while (pos < end) {
		if (buf[pos] == ';') {
			while (pos < end && buf[pos] != '\n')
				pos++;
		} else if (buf[pos] == ' ' || buf[pos] == '\t' || buf[pos] == '\r' ||
			   buf[pos] == '\n') {
			pos++;
		} else {
			break;
		}
	}
	return pos;
}

/* Line counting that only moves forward. */
struct lines {
	size_t pos;
	unsigned line;
};

static unsigned line_at(const char *buf, struct lines *l, size_t pos)
{
	for (; l->pos < pos; l->pos++)
		l->line += buf[l->pos] == '\n';
	return l->line;
}

static const char *keep_path(struct zonefile *zf, const char *path)
{
	struct zonefile_priv *p = zf->priv;
	char **f = realloc(p->files, (p->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	p->files = f;
	if (!(f[p->nfiles] = strdup(path)))
		return NULL;
	return f[p->nfiles++];
}

static int add_record(struct loader *ld, const char *file, unsigned line, ldns_rr *rr)
{
	struct zonefile *zf = ld->zf;
	struct zonefile_priv *p = zf->priv;
	uint8_t owner[DNSW_NAME_MAX];
	char nb[DNSW_TEXT_MAX], tb[16];
	ldns_rdf *o = ldns_rr_owner(rr);
	uint16_t type = (uint16_t)ldns_rr_get_type(rr);
	size_t olen = ldns_rdf_size(o), rdlen = 0;

	if (olen > DNSW_NAME_MAX || dnsw_name_check(ldns_rdf_data(o), olen) != (int)olen)
		return errorf(ld, "%s:%u: bad owner name", file, line);
	dnsw_name_lower(owner, ldns_rdf_data(o), olen);
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		char *c = ldns_rr_class2str(ldns_rr_get_class(rr));
		errorf(ld, "%s:%u: class %s is not supported (only IN)", file, line, c ? c : "?");
		free(c);
		return AD_EPARSE;
	}
	if (meta_type(type))
		return errorf(ld, "%s:%u: type %s cannot be in a zone", file, line,
			      type_text(type, tb));
	if (!dnsw_name_is_below(owner, olen, zf->apex, dnsw_name_len(zf->apex)))
		return warnf(zf, "%s:%u: ignoring out-of-zone data, owner %s", file, line,
			     name_text(owner, nb));
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
		rdlen += ldns_rdf_size(ldns_rr_rdf(rr, i));
	if (rdlen > 65535)
		return errorf(ld, "%s:%u: RDATA over 65535 bytes", file, line);

	struct rec *r = malloc(sizeof(*r) + olen + rdlen);
	if (!r)
		return -ENOMEM;
	*r = (struct rec){ .file = file, .line = line, .seq = p->nrecs, .type = type,
			   .ttl = ldns_rr_ttl(rr), .rdlen = (uint16_t)rdlen, .olen = (uint8_t)olen };
	memcpy(r->data, owner, olen);
	size_t off = olen;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		ldns_rdf *f = ldns_rr_rdf(rr, i);
		memcpy(r->data + off, ldns_rdf_data(f), ldns_rdf_size(f));
		off += ldns_rdf_size(f);
	}
	if (p->nrecs == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct rec **g = realloc(p->recs, cap * sizeof(*g));
		if (!g) {
			free(r);
			return -ENOMEM;
		}
		p->recs = g;
		p->cap = cap;
	}
	p->recs[p->nrecs++] = r;
	return 0;
}

static int load_file(struct loader *ld, const char *path, ldns_rdf *origin_in, uint32_t ttl_in);

/* "$INCLUDE file [origin]" in text[0..len). */
static int do_include(struct loader *ld, const char *file, unsigned line, const char *text,
		      size_t len, ldns_rdf *origin, uint32_t ttl)
{
	char *inc = NULL, *org = NULL, *path = NULL;
	ldns_rdf *o = NULL;
	int ret;

	const char *p = memmem(text, len, "$INCLUDE", 8), *end = text + len;
	if (!p) /* ldns saw a directive where this scan finds none */
		return errorf(ld, "%s:%u: $INCLUDE not understood", file, line);
	p += 8;
	const char *tok[2] = { NULL, NULL };
	size_t tlen[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '\n' || *p == '\r' || *p == ';')
			break;
		if (*p == '"') {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			if (!q)
				return errorf(ld, "%s:%u: unterminated $INCLUDE file name", file, line);
			tok[i] = p + 1;
			tlen[i] = (size_t)(q - p - 1);
			p = q + 1;
		} else {
			tok[i] = p;
			while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' &&
			       *p != ';')
				p++;
			tlen[i] = (size_t)(p - tok[i]);
		}
	}
	if (!tok[0] || !tlen[0])
		return errorf(ld, "%s:%u: $INCLUDE without a file name", file, line);
	ret = -ENOMEM;
	if (!(inc = strndup(tok[0], tlen[0])) || (tok[1] && !(org = strndup(tok[1], tlen[1]))))
		goto finish;
	if (inc[0] == '/') {
		path = strdup(inc);
	} else {
		const char *slash = strrchr(file, '/');
		if (asprintf(&path, "%.*s%s", slash ? (int)(slash - file + 1) : 0, file, inc) < 0)
			path = NULL;
	}
	if (!path)
		goto finish;
	if (org) {
		/* a relative origin is relative to the current one */
		ldns_status s = ldns_str2rdf_dname(&o, org);
		if (s == LDNS_STATUS_OK && !ldns_dname_str_absolute(org) && origin) {
			ldns_rdf *abs = ldns_dname_cat_clone(o, origin);
			ldns_rdf_deep_free(o);
			o = abs;
		}
		if (s != LDNS_STATUS_OK || !o) {
			ret = errorf(ld, "%s:%u: bad $INCLUDE origin %s", file, line, org);
			goto finish;
		}
	}
	if (ld->depth >= ZONEFILE_INCLUDE_DEPTH) {
		ret = errorf(ld, "%s:%u: $INCLUDE nested more than %d deep", file, line,
			     ZONEFILE_INCLUDE_DEPTH);
		goto finish;
	}
	for (int i = 0; i <= ld->depth; i++)
		if (!strcmp(ld->stack[i], path)) {
			ret = errorf(ld, "%s:%u: $INCLUDE of %s is a loop", file, line, path);
			goto finish;
		}
	ld->depth++;
	ret = load_file(ld, path, o ? o : origin, ttl);
	ld->depth--;
finish:
	if (ret == -ENOMEM)
		errorf(ld, "%s:%u: out of memory", file, line);
	ldns_rdf_deep_free(o);
	free(inc);
	free(org);
	free(path);
	return ret;
}

/* Whether the "$ORIGIN name" directive in text[0..len) names a relative origin (no
 * unescaped final dot). */
static bool origin_relative(const char *text, size_t len)
{
	const char *p = memmem(text, len, "$ORIGIN", 7), *end = text + len;
	if (!p)
		return false;
	p += 7;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *tok = p;
	bool esc = false, last_dot = false;
	for (; p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';';
	     p++) {
		last_dot = *p == '.' && !esc;
		esc = *p == '\\' && !esc;
	}
	return p > tok && !last_dot;
}

static int load_file(struct loader *ld, const char *path, ldns_rdf *origin_in, uint32_t ttl_in)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = NULL;
	ldns_rdf *origin = NULL, *prev = NULL, *cur = NULL; /* cur: a copy of origin */
	uint32_t ttl = ttl_in;
	struct lines lines = { 0, 1 };
	int ret;

	const char *file = keep_path(ld->zf, path);
	if (!file) {
		ret = -ENOMEM;
		goto finish;
	}
	ld->stack[ld->depth] = file;
	/* A device, a FIFO or a directory ($INCLUDE /dev/zero, a mistyped path) would
	 * block or never end: only regular files are read. */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		ret = errorf(ld, "%s: not a regular file", path);
		goto finish;
	}
	if ((ret = read_file(path, &buf, &len))) {
		snprintf(ld->err, ld->errlen, "%s: cannot read (%s)", path, strerror(-ret));
		goto finish;
	}
	if (len == 0)
		goto finish; /* fmemopen() refuses an empty buffer */
	/* A master file is text (RFC 1035 writes any octet as \DDD): a NUL byte is a
	 * binary file or a broken one, and ldns would read past it differently than the
	 * directive and line scanning here. */
	const char *nul = memchr(buf, '\0', len);
	if (nul) {
		struct lines at = { 0, 1 };
		ret = errorf(ld, "%s:%u: NUL byte: not a text file", path,
			     line_at(buf, &at, (size_t)(nul - buf)));
		goto finish;
	}
	ret = -ENOMEM;
	if (!(fp = fmemopen(buf, len, "r")) || !(origin = ldns_rdf_clone(origin_in)) ||
	    !(prev = ldns_rdf_clone(origin_in)) || !(cur = ldns_rdf_clone(origin_in)))
		goto finish;
	ret = 0;
	while (!ret && !feof(fp)) {
		ldns_rr *rr = NULL;
		int ldns_line = 1;
		long start = ftell(fp);
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &ldns_line);
		long stop = ftell(fp);
		if (start < 0 || stop < start)
			stop = start = 0;
		size_t first = skip_blank(buf, (size_t)start, (size_t)stop);
		unsigned line = line_at(buf, &lines, first);

		switch (s) {
		case LDNS_STATUS_OK:
			ret = add_record(ld, file, line, rr);
			break;
		case LDNS_STATUS_SYNTAX_ORIGIN:
			/* ldns makes "$ORIGIN sub" absolute (sub.); RFC 1035 appends the
			 * origin in force to a relative one */
			if (origin_relative(buf + first, (size_t)stop - first)) {
				ldns_rdf *abs = ldns_dname_cat_clone(origin, cur);
				if (!abs) {
					ret = -ENOMEM;
					break;
				}
				ldns_rdf_deep_free(origin);
				origin = abs;
			}
			ldns_rdf_deep_free(cur);
			if (!(cur = ldns_rdf_clone(origin)))
				ret = -ENOMEM;
			break;
		case LDNS_STATUS_SYNTAX_EMPTY:
		case LDNS_STATUS_SYNTAX_TTL:
			break;
		case LDNS_STATUS_SYNTAX_INCLUDE:
			ret = do_include(ld, file, line, buf + first, (size_t)stop - first,
					 origin, ttl);
			break;
		default:
			/* ldns reports the end of a file that ends in a comment or blanks
			 * as a syntax error: nothing was there */
			if (first == (size_t)stop && feof(fp))
				break;
			ret = errorf(ld, "%s:%u: %s", file, line, ldns_get_errorstr_by_id(s));
			break;
		}
		ldns_rr_free(rr);
	}
finish:
	if (ret == -ENOMEM)
		snprintf(ld->err, ld->errlen, "%s: out of memory", path);
	if (fp)
		fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_rdf_deep_free(cur);
	free(buf);
	return ret;
}

static int owner_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return memcmp(a, b, al);
}

static int rec_cmp(const void *x, const void *y)
{
	const struct rec *a = *(const struct rec *const *)x, *b = *(const struct rec *const *)y;
	int c = owner_cmp(a->data, a->olen, b->data, b->olen);
	if (c)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	c = memcmp(a->data + a->olen, b->data + b->olen, a->rdlen < b->rdlen ? a->rdlen : b->rdlen);
	if (c)
		return c;
	if (a->rdlen != b->rdlen)
		return a->rdlen < b->rdlen ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Group the sorted records into RRsets: duplicates dropped, the TTL of the RRset's
 * first record in file order kept. */
static int group(struct loader *ld)
{
	struct zonefile *zf = ld->zf;
	struct zonefile_priv *p = zf->priv;
	char nb[DNSW_TEXT_MAX], tb[16];
	int ret;

	if (!p->nrecs)
		return 0;
	qsort(p->recs, p->nrecs, sizeof(*p->recs), rec_cmp);
	zf->rrsets = calloc(p->nrecs, sizeof(*zf->rrsets));
	p->rdata = calloc(p->nrecs, sizeof(*p->rdata));
	p->rdlen = calloc(p->nrecs, sizeof(*p->rdlen));
	if (!zf->rrsets || !p->rdata || !p->rdlen)
		return -ENOMEM;
	size_t nr = 0;
	for (size_t i = 0; i < p->nrecs;) {
		const struct rec *first = p->recs[i];
		size_t j = i;
		while (j < p->nrecs && p->recs[j]->type == first->type &&
		       !owner_cmp(p->recs[j]->data, p->recs[j]->olen, first->data, first->olen))
			j++;
		/* [i, j) is one RRset; its earliest record gives TTL, file and line */
		const struct rec *earliest = first;
		for (size_t k = i; k < j; k++)
			if (p->recs[k]->seq < earliest->seq)
				earliest = p->recs[k];
		struct zonefile_rrset *rs = &zf->rrsets[zf->nrrsets++];
		*rs = (struct zonefile_rrset){
			.owner = first->data, .type = first->type, .ttl = earliest->ttl,
			.rdata = &p->rdata[nr], .rdlen = &p->rdlen[nr],
			.file = earliest->file, .line = earliest->line,
		};
		for (size_t k = i; k < j; k++) {
			const struct rec *r = p->recs[k];
			if (k > i && r->rdlen == p->recs[k - 1]->rdlen &&
			    !memcmp(r->data + r->olen, p->recs[k - 1]->data + p->recs[k - 1]->olen,
				    r->rdlen)) {
				if ((ret = warnf(zf, "%s:%u: duplicate record ignored (%s %s)",
						 r->file, r->line, name_text(r->data, nb),
						 type_text(r->type, tb))))
					return ret;
				continue;
			}
			if (r->ttl != earliest->ttl &&
			    (ret = warnf(zf, "%s:%u: TTL %u of %s %s differs from the RRset's "
					 "TTL %u (%s:%u), using %u", r->file, r->line, r->ttl,
					 name_text(r->data, nb), type_text(r->type, tb),
					 earliest->ttl, earliest->file, earliest->line,
					 earliest->ttl)))
				return ret;
			p->rdata[nr] = r->data + r->olen;
			p->rdlen[nr++] = r->rdlen;
			rs->count++;
		}
		zf->nrecords += rs->count;
		i = j;
	}
	return 0;
}

/* The second record of (owner, type) in file order: where "more than one" starts. */
static const struct rec *second_rec(const struct zonefile_priv *p,
				    const struct zonefile_rrset *rs)
{
	const struct rec *a = NULL, *b = NULL;
	for (size_t i = 0; i < p->nrecs; i++) {
		const struct rec *r = p->recs[i];
		if (r->type != rs->type || r->olen != dnsw_name_len(rs->owner) ||
		    memcmp(r->data, rs->owner, r->olen))
			continue;
		if (!a || r->seq < a->seq) {
			b = a;
			a = r;
		} else if (!b || r->seq < b->seq) {
			b = r;
		}
	}
	return b ? b : a;
}

/* The zone-level checks, over the grouped RRsets (grouped by owner). */
static int check(struct loader *ld)
{
	struct zonefile *zf = ld->zf;
	char nb[DNSW_TEXT_MAX], tb[16];
	const char *top = ld->stack[0];
	size_t alen = dnsw_name_len(zf->apex);
	bool soa = false, ns = false;

	for (size_t i = 0; i < zf->nrrsets; i++) {
		const struct zonefile_rrset *rs = &zf->rrsets[i];
		size_t olen = dnsw_name_len(rs->owner);
		bool apex = olen == alen && !memcmp(rs->owner, zf->apex, alen);
		if (rs->type == DNSW_T_SOA) {
			if (!apex)
				return errorf(ld, "%s:%u: SOA record at %s, not at the zone apex",
					      rs->file, rs->line, name_text(rs->owner, nb));
			if (rs->count > 1) {
				const struct rec *r = second_rec(zf->priv, rs);
				return errorf(ld, "%s:%u: more than one SOA record at the zone "
					      "apex (first at %s:%u)", r->file, r->line,
					      rs->file, rs->line);
			}
			soa = true;
		}
		ns |= apex && rs->type == DNSW_T_NS;
		if (rs->type != DNSW_T_CNAME)
			continue;
		if (rs->count > 1) {
			const struct rec *r = second_rec(zf->priv, rs);
			return errorf(ld, "%s:%u: more than one CNAME record at %s", r->file,
				      r->line, name_text(rs->owner, nb));
		}
		/* the other RRsets of this owner sit next to it */
		for (size_t k = i; k-- > 0;) {
			const struct zonefile_rrset *o = &zf->rrsets[k];
			if (owner_cmp(o->owner, dnsw_name_len(o->owner), rs->owner, olen))
				break;
			if (o->type != DNSW_T_RRSIG && o->type != DNSW_T_NSEC)
				return errorf(ld, "%s:%u: CNAME and other data at %s (%s at %s:%u)",
					      rs->file, rs->line, name_text(rs->owner, nb),
					      type_text(o->type, tb), o->file, o->line);
		}
		for (size_t k = i + 1; k < zf->nrrsets; k++) {
			const struct zonefile_rrset *o = &zf->rrsets[k];
			if (owner_cmp(o->owner, dnsw_name_len(o->owner), rs->owner, olen))
				break;
			if (o->type != DNSW_T_RRSIG && o->type != DNSW_T_NSEC)
				return errorf(ld, "%s:%u: CNAME and other data at %s (%s at %s:%u)",
					      rs->file, rs->line, name_text(rs->owner, nb),
					      type_text(o->type, tb), o->file, o->line);
		}
	}
	if (!soa)
		return errorf(ld, "%s: no SOA record at the zone apex %s", top,
			      name_text(zf->apex, nb));
	if (!ns)
		return errorf(ld, "%s: no NS records at the zone apex %s", top,
			      name_text(zf->apex, nb));
	return 0;
}

void zonefile_free(struct zonefile *zf)
{
	if (!zf)
		return;
	struct zonefile_priv *p = zf->priv;
	if (p) {
		for (size_t i = 0; i < p->nrecs; i++)
			free(p->recs[i]);
		free(p->recs);
		for (size_t i = 0; i < p->nfiles; i++)
			free(p->files[i]);
		free(p->files);
		free(p->rdata);
		free(p->rdlen);
		free(p);
	}
	for (size_t i = 0; i < zf->nwarnings; i++)
		free(zf->warnings[i]);
	free(zf->warnings);
	free(zf->rrsets);
	free(zf);
}

int zonefile_load(const char *path, const uint8_t *apex, struct zonefile **out, char *err,
		  size_t errlen)
{
	struct zonefile *zf = calloc(1, sizeof(*zf));
	struct loader ld = { .zf = zf, .err = err, .errlen = errlen };
	ldns_rdf *origin = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (!zf || !(zf->priv = calloc(1, sizeof(*zf->priv))))
		goto finish;
	int alen = dnsw_name_check(apex, DNSW_NAME_MAX);
	if (alen < 0) {
		ret = errorf(&ld, "%s: bad zone name", path);
		goto finish;
	}
	dnsw_name_lower(zf->apex, apex, (size_t)alen);
	if (!(origin = ldns_dname_new_frm_data((uint16_t)alen, zf->apex)))
		goto finish;
	if ((ret = load_file(&ld, path, origin, ZONEFILE_DEFAULT_TTL)))
		goto finish;
	ld.stack[0] = zf->priv->files[0];
	if ((ret = group(&ld)) || (ret = check(&ld)))
		goto finish;
	*out = zf;
	zf = NULL;
finish:
	if (ret == -ENOMEM && errlen && !err[0])
		snprintf(err, errlen, "%s: out of memory", path);
	ldns_rdf_deep_free(origin);
	zonefile_free(zf);
	return ret;
}

static int rrset_key_cmp(const uint8_t *owner, uint16_t type, const struct zonefile_rrset *rs)
{
	int c = owner_cmp(owner, dnsw_name_len(owner), rs->owner, dnsw_name_len(rs->owner));
	if (c)
		return c;
	return (type > rs->type) - (type < rs->type);
}

const struct zonefile_rrset *zonefile_find(const struct zonefile *zf, const uint8_t *owner,
					   uint16_t type)
{
	size_t lo = 0, hi = zf->nrrsets;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = rrset_key_cmp(owner, type, &zf->rrsets[mid]);
		if (!c)
			return &zf->rrsets[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct diff {
	const struct zonefile *zf;
	struct zonedb_txn *t;
	bool *seen;
	size_t changed;
};

/* A file's RRset as the store takes it. */
static struct zonedb_rrset_in rrset_in(const struct zonefile_rrset *rs)
{
	return (struct zonedb_rrset_in){ rs->type, rs->ttl, rs->count, rs->rdata, rs->rdlen };
}

static int put(struct diff *d, const struct zonefile_rrset *rs)
{
	struct zonedb_rrset_in in = rrset_in(rs);
	int ret = zonedb_txn_put_rrset(d->t, rs->owner, &in);
	d->changed += !ret;
	return ret;
}

static int diff_fn(const uint8_t *name, const struct zonedb_rrset *stored, void *arg)
{
	struct diff *d = arg;
	const struct zonefile_rrset *rs = zonefile_find(d->zf, name, stored->type);
	if (!rs) {
		int ret = zonedb_txn_delete_rrset(d->t, name, stored->type);
		d->changed += !ret;
		return ret;
	}
	d->seen[rs - d->zf->rrsets] = true;
	struct zonedb_rrset_in in = rrset_in(rs);
	return zonedb_rrset_equal(stored, &in) ? 0 : put(d, rs);
}

/* zonedb_rrset_at over the file's RRsets, which are sorted as zonedb_add_zone() needs. */
static void rrset_at(const void *arg, size_t i, const uint8_t **owner, struct zonedb_rrset_in *rr)
{
	const struct zonefile_rrset *rs = &((const struct zonefile *)arg)->rrsets[i];
	*owner = rs->owner;
	*rr = rrset_in(rs);
}

int zonefile_apply(struct zonedb *db, const uint8_t *apex, const char *path,
		   struct zonedb_changes *changes, size_t *rrsets_changed, char *err,
		   size_t errlen)
{
	struct zonefile *zf = NULL;
	struct diff d = { 0 };
	char zname[DNSW_TEXT_MAX] = "?", buf[512];
	size_t others = 0;

	int ret = zonefile_load(path, apex, &zf, err, errlen);
	if (ret)
		return ret; /* err says why */
	name_text(zf->apex, zname);
	for (size_t i = 0; i < zf->nwarnings; i++)
		log_warn("zone file warning", "zone=%s detail=%s", zname,
			 log_quote(buf, sizeof(buf), zf->warnings[i]));

	bool is_new = !zonedb_has_zone(db, zf->apex);
	if (is_new) {
		/* Nothing to compare with: written whole, unless a zone above or below it,
		 * or data already under its apex, needs the transaction below. */
		ret = zonedb_add_zone(db, zf->apex, zf->nrrsets, rrset_at, zf, changes);
		if (ret != AD_EEXISTS) {
			d.changed = zf->nrrsets;
			goto finish;
		}
	}
	ret = -ENOMEM;
	d.zf = zf;
	if (!(d.t = zonedb_txn_begin(db)) || !(d.seen = calloc(zf->nrrsets + 1, 1)))
		goto finish;
	if (is_new && (ret = zonedb_txn_add_zone(d.t, zf->apex)))
		goto finish;
	/* a new zone may already hold data: a parent's delegation and glue below it */
	if ((ret = zonedb_txn_foreach_rrset(d.t, zf->apex, diff_fn, &d)))
		goto finish;
	for (size_t i = 0; i < zf->nrrsets; i++) {
		const struct zonefile_rrset *rs = &zf->rrsets[i];
		uint8_t owner[DNSW_NAME_MAX];
		if (d.seen[i])
			continue;
		if ((ret = zonedb_txn_find_owner(d.t, rs->owner, rs->type, owner)))
			goto finish;
		if (!dnsw_name_equal(owner, zf->apex)) {
			others++; /* a child zone served here holds it */
			continue;
		}
		if ((ret = put(&d, rs)))
			goto finish;
	}
	if (others)
		log_info("zone file data of child zones left alone", "zone=%s rrsets=%zu",
			 zname, others);
	if (!d.changed && !is_new) {
		ret = 0;
		goto finish;
	}
	ret = zonedb_txn_commit(d.t, changes);
	d.t = NULL;
finish:
	if (ret)
		snprintf(err, errlen, "%s: zone %s not updated: %s", path, zname,
			 airdress_strerror(ret));
	else if (rrsets_changed)
		*rrsets_changed = d.changed;
	zonedb_txn_abort(d.t);
	free(d.seen);
	zonefile_free(zf);
	return ret;
}
