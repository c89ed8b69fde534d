/*
 * HTTP/1.1 messages for the operator's reverse proxy (RFC 9112), strictly.
 *
 * Heads are read in one pass, line by line, each byte checked when it is reached:
 *
 *   [CRLF]*  METHOD SP TARGET SP HTTP/1.D CRLF     request line (leading blank lines
 *                                                  skipped, RFC 9112 §2.2)
 *   HTTP/1.D SP DDD [SP REASON] CRLF               status line
 *   NAME ":" OWS VALUE OWS CRLF                    header lines, H1_HEADERS_MAX at most
 *   CRLF                                           end of head
 *
 * The scanning steps, the byte classes and the Host syntax are the ones the relay's
 * head parser uses too (src/shared/http_syntax.c); the codes they refuse with are
 * ours (h1_scan_reasons). The request line is judged (method, form of the target,
 * CONNECT) as soon as it ends; the fields (Host, framing, Connection, Upgrade,
 * Expect) once the head is complete.
 * The chunked decoder is a byte-at-a-time state machine, except for chunk data, which
 * it hands back as slices of the input; its states are listed in http1.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "http1.h"
#include "http_syntax.h"

/* Methods, field and trailer names: tchar but '#'. RFC 9110 §5.6.2 allows '#' in a
 * token and the relay's parser takes it; this parser has refused it from the start,
 * and a change to what the operator accepts is a decision of its own. */
#define H1_TOKEN HTTP_TCHAR_NOHASH

static bool slice_ieq(struct h1_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static struct h1_slice h1_of(struct http_slice s)
{
	return (struct h1_slice){ s.p, s.len };
}

/* Next non-empty element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed.
 * *pos walks through list; returns false at the end. */
static bool list_next(struct h1_slice list, size_t *pos, struct h1_slice *elem)
{
	while (*pos < list.len) {
		const char *start = list.p + *pos;
		const char *comma = memchr(start, ',', list.len - *pos);
		size_t n = comma != NULL ? (size_t)(comma - start) : list.len - *pos;
		*pos += n + (comma != NULL);
		*elem = h1_of(http_trim_ows(start, n));
		if (elem->len > 0)
			return true;
	}
	return false;
}

static bool list_has(struct h1_slice list, const char *lit)
{
	struct h1_slice e;
	size_t pos = 0;
	while (list_next(list, &pos, &e))
		if (slice_ieq(e, lit))
			return true;
	return false;
}

/* ---------------------------------------------------------------- header kinds */

enum hkind {
	HK_OTHER = 0,
	HK_HOST,
	HK_CONTENT_LENGTH,
	HK_TRANSFER_ENCODING,
	HK_CONNECTION,
	HK_UPGRADE,
	HK_EXPECT,
	HK_KEEP_ALIVE,
	HK_PROXY_CONNECTION,
	HK_TE,
	HK_TRAILER,
	HK_FORWARDED,
	HK_XFF,
	HK_XF_PROTO,
	HK_XF_HOST,
	HK_XF_PORT,
	HK_X_REAL_IP,
};

static const struct {
	const char *name;
	enum hkind kind;
} hkinds[] = {
	{ "host", HK_HOST },
	{ "content-length", HK_CONTENT_LENGTH },
	{ "transfer-encoding", HK_TRANSFER_ENCODING },
	{ "connection", HK_CONNECTION },
	{ "upgrade", HK_UPGRADE },
	{ "expect", HK_EXPECT },
	{ "keep-alive", HK_KEEP_ALIVE },
	{ "proxy-connection", HK_PROXY_CONNECTION },
	{ "te", HK_TE },
	{ "trailer", HK_TRAILER },
	{ "forwarded", HK_FORWARDED },
	{ "x-forwarded-for", HK_XFF },
	{ "x-forwarded-proto", HK_XF_PROTO },
	{ "x-forwarded-host", HK_XF_HOST },
	{ "x-forwarded-port", HK_XF_PORT },
	{ "x-real-ip", HK_X_REAL_IP },
};

static enum hkind header_kind(struct h1_slice name)
{
	for (size_t i = 0; i < sizeof(hkinds) / sizeof(hkinds[0]); i++)
		if (slice_ieq(name, hkinds[i].name))
			return hkinds[i].kind;
	return HK_OTHER;
}

/* A name with '_' that reads as a field we act on once '_' is taken for '-'
 * ("Transfer_Encoding", "X_Forwarded_For"): servers behind CGI-style gateways and
 * some frameworks fold the two, so such a field could frame or forward a request
 * in a way the operator did not see. */
static bool underscore_alias(struct h1_slice name)
{
	char tmp[24];

	if (memchr(name.p, '_', name.len) == NULL || name.len > sizeof(tmp))
		return false;
	for (size_t i = 0; i < name.len; i++)
		tmp[i] = name.p[i] == '_' ? '-' : name.p[i];
	return header_kind((struct h1_slice){ tmp, name.len }) != HK_OTHER;
}

/* Whether one of the Connection fields lists name (RFC 9110 §7.6.1). */
static bool connection_lists(const struct h1_header *hs, size_t n, struct h1_slice name)
{
	for (size_t i = 0; i < n; i++) {
		struct h1_slice e;
		size_t pos = 0;
		if (header_kind(hs[i].name) != HK_CONNECTION)
			continue;
		while (list_next(hs[i].value, &pos, &e))
			if (e.len == name.len && strncasecmp(e.p, name.p, e.len) == 0)
				return true;
	}
	return false;
}

/* ---------------------------------------------------------------- head scanning */

_Static_assert(H1_HOST_BUF >= HTTP_HOST_BUF, "r->host holds any host");

static const struct http_scan_reasons h1_scan_reasons = {
	.incomplete = H1_INCOMPLETE,
	.too_big = H1_HEAD_TOO_BIG,
	.bad_line_end = H1_BAD_LINE_END,
	.bad_start_line = H1_BAD_START_LINE,
	.bad_version = H1_BAD_VERSION,
	.obs_fold = H1_OBS_FOLD,
	.space_before_colon = H1_SPACE_BEFORE_COLON,
	.bad_header_name = H1_BAD_HEADER_NAME,
	.bad_header_value = H1_BAD_HEADER_VALUE,
};

/* Header lines up to and including the blank line, into hs[0..*count). */
static int scan_headers(struct http_scan *s, struct h1_header *hs, size_t *count)
{
	struct http_slice name, value;
	int ret;

	*count = 0;
	for (;;) {
		if ((ret = http_scan_line_start(s)) != 0)
			return ret == 1 ? 0 : ret;
		if (*count == H1_HEADERS_MAX) {
			s->reason = H1_TOO_MANY_HEADERS;
			return AD_ETOOBIG;
		}
		if ((ret = http_scan_field_name(s, H1_TOKEN, &name)) != 0 ||
		    (ret = http_scan_field_value(s, &value)) != 0)
			return ret;
		hs[*count].name = h1_of(name);
		hs[*count].value = h1_of(value);
		(*count)++;
	}
}

/* ---------------------------------------------------------------- field semantics */

/* Content-Length: 1*DIGIT up to INT64_MAX. A list ("5, 5") counts as a duplicate. */
static enum h1_reason parse_content_length(struct h1_slice v, uint64_t *out)
{
	uint64_t n = 0;

	if (memchr(v.p, ',', v.len) != NULL)
		return H1_DUP_CL;
	if (v.len == 0)
		return H1_BAD_CL;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return H1_BAD_CL;
		unsigned d = (unsigned)(v.p[i] - '0');
		if (n > ((uint64_t)INT64_MAX - d) / 10)
			return H1_BAD_CL;
		n = n * 10 + d;
	}
	*out = n;
	return H1_OK;
}

/* Transfer-Encoding: exactly "chunked" (any case) is accepted. Another coding before
 * a final chunked is 501; anything else (chunked not last, twice, with parameters,
 * "xchunked", "identity", empty) is 400 (RFC 9112 §6.1, §6.3). */
static enum h1_reason check_transfer_encoding(struct h1_slice v)
{
	struct h1_slice e, last = { NULL, 0 };
	size_t pos = 0, n = 0, chunked = 0;

	if (slice_ieq(v, "chunked"))
		return H1_OK;
	while (list_next(v, &pos, &e)) {
		n++;
		chunked += slice_ieq(e, "chunked");
		last = e;
	}
	if (n > 1 && chunked == 1 && slice_ieq(last, "chunked"))
		return H1_TE_UNSUPPORTED;
	return H1_BAD_TE;
}

/* What both kinds of messages share: framing and Connection. */
struct fields {
	size_t hosts, cls, tes, conns;
	struct h1_slice host, te;
	uint64_t content_length;
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool upgrade_websocket, upgrade_any, expect_continue;
};

static enum h1_reason scan_fields(const struct h1_header *hs, size_t n, int minor,
				  struct fields *f)
{
	enum h1_reason r;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		struct h1_slice v = hs[i].value;
		if (underscore_alias(hs[i].name))
			return H1_UNDERSCORE_NAME;
		switch (header_kind(hs[i].name)) {
		case HK_HOST:
			if (++f->hosts > 1)
				return H1_DUP_HOST; /* RFC 9112 §3.2 */
			f->host = v;
			break;
		case HK_CONTENT_LENGTH:
			if (++f->cls > 1)
				return H1_DUP_CL;
			if ((r = parse_content_length(v, &f->content_length)) != H1_OK)
				return r;
			break;
		case HK_TRANSFER_ENCODING:
			if (++f->tes > 1)
				return H1_DUP_TE;
			f->te = v;
			break;
		case HK_CONNECTION:
			f->conn_close |= list_has(v, "close");
			f->conn_keep_alive |= list_has(v, "keep-alive");
			f->conn_upgrade |= list_has(v, "upgrade");
			break;
		case HK_UPGRADE: {
			struct h1_slice e;
			size_t pos = 0;
			f->upgrade_any = true;
			while (list_next(v, &pos, &e)) {
				/* protocol-name ["/" protocol-version] (RFC 9110 §7.8) */
				const char *slash = memchr(e.p, '/', e.len);
				if (slash != NULL)
					e.len = (size_t)(slash - e.p);
				f->upgrade_websocket |= slice_ieq(e, "websocket");
			}
			break;
		}
		case HK_EXPECT:
			f->expect_continue |= slice_ieq(v, "100-continue");
			break;
		default:
			break;
		}
	}
	if (f->tes > 0 && f->cls > 0)
		return H1_TE_AND_CL; /* RFC 9112 §6.1: a smuggling attempt; refuse */
	if (f->tes > 0 && minor == 0)
		return H1_TE_HTTP10; /* RFC 9112 §6.1 */
	if (f->tes > 0)
		return check_transfer_encoding(f->te);
	return H1_OK;
}

static bool keep_alive_of(const struct fields *f, int minor)
{
	if (f->conn_close)
		return false;
	return minor >= 1 || f->conn_keep_alive;
}

/* ---------------------------------------------------------------- requests */

static const struct {
	const char *name;
	enum h1_method m;
} methods[] = {
	{ "GET", H1_METHOD_GET },         { "HEAD", H1_METHOD_HEAD },
	{ "POST", H1_METHOD_POST },       { "PUT", H1_METHOD_PUT },
	{ "DELETE", H1_METHOD_DELETE },   { "OPTIONS", H1_METHOD_OPTIONS },
	{ "PATCH", H1_METHOD_PATCH },     { "TRACE", H1_METHOD_TRACE },
	{ "CONNECT", H1_METHOD_CONNECT },
};

enum h1_method h1_method_of(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
			return methods[i].m;
	return H1_METHOD_OTHER;
}

/* "head", "Get": methods are case-sensitive (RFC 9110 §9.1), but a service that folds
 * case would answer "head" without a body where the proxy waits for one. */
static bool method_case_alias(struct h1_slice m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (slice_ieq(m, methods[i].name))
			return true;
	return false;
}

/* The form of the target, its authority (absolute-form) and path. */
static enum h1_reason classify_target(struct h1_request *r)
{
	const char *t = r->target.p;
	size_t n = r->target.len, i = 0, end;
	struct http_slice auth;

	if (r->method == H1_METHOD_CONNECT)
		return H1_CONNECT;
	if (t[0] == '/') {
		r->form = H1_FORM_ORIGIN;
		r->path = r->target;
		return H1_OK;
	}
	if (n == 1 && t[0] == '*') {
		r->form = H1_FORM_ASTERISK;
		r->path = r->target;
		return r->method == H1_METHOD_OPTIONS ? H1_OK : H1_BAD_TARGET;
	}
	/* absolute-form: scheme "://" authority [path-abempty] ["?" query] */
	while (i < n && t[i] != ':' && t[i] != '/' && t[i] != '?')
		i++;
	/* authority-form, another scheme, userinfo, an empty authority, junk */
	if (http_target_authority(t, n, i, &auth) != 1 || auth.len == 0)
		return H1_BAD_TARGET;
	end = (size_t)(auth.p - t) + auth.len;
	r->form = H1_FORM_ABSOLUTE;
	r->authority = h1_of(auth);
	r->path = (struct h1_slice){ t + end, n - end };
	return H1_OK;
}

static int parse_request_line(struct http_scan *s, struct h1_request *r)
{
	struct http_slice word;
	enum h1_reason why;
	int ret;

	if ((ret = http_scan_blank_lines(s)) != 0)
		return ret;
	if ((ret = http_scan_word(s, H1_TOKEN, H1_BAD_METHOD, &word)) != 0)
		return ret;
	r->method_text = h1_of(word);
	r->method = h1_method_of(word.p, word.len);
	if (r->method == H1_METHOD_OTHER && method_case_alias(r->method_text))
		return http_scan_reject(s, H1_BAD_METHOD);
	/* CTL, DEL, '#', non-ASCII: H1_BAD_TARGET */
	if ((ret = http_scan_word(s, HTTP_TARGET, H1_BAD_TARGET, &word)) != 0)
		return ret;
	r->target = h1_of(word);
	if ((ret = http_scan_version(s, &r->version_minor)) != 0)
		return ret;
	if ((ret = http_scan_crlf(s)) != 0)
		return ret;
	if ((why = classify_target(r)) != H1_OK)
		return http_scan_reject(s, why);
	return 0;
}

/* With the head complete: the fields. */
static enum h1_reason finish_request(struct h1_request *r)
{
	struct http_authority au, other;
	struct fields f;
	enum h1_reason why;

	if ((why = scan_fields(r->headers, r->header_count, r->version_minor, &f)) != H1_OK)
		return why;

	if (f.hosts == 0 && r->version_minor >= 1)
		return H1_NO_HOST; /* RFC 9112 §3.2, absolute-form included */
	/* The Host line is checked even when the target's authority wins (RFC 9112 §3.2) */
	if (f.hosts > 0 && http_authority_parse(f.host.p, f.host.len, &other) != 0)
		return H1_BAD_HOST;
	if (r->form == H1_FORM_ABSOLUTE) {
		if (http_authority_parse(r->authority.p, r->authority.len, &au) != 0)
			return H1_BAD_TARGET;
	} else if (f.hosts > 0) {
		au = other;
		r->authority = f.host;
	} else {
		au.host_len = 0; /* HTTP/1.0 without Host */
		au.host[0] = '\0';
		au.port = 0;
		au.is_ip = false;
		r->authority = (struct h1_slice){ r->target.p, 0 };
	}
	memcpy(r->host, au.host, au.host_len + 1);
	r->host_len = au.host_len;
	r->port = au.port;
	r->host_is_ip = au.is_ip;

	r->keep_alive = keep_alive_of(&f, r->version_minor);
	r->upgrade = r->version_minor >= 1 && r->method == H1_METHOD_GET && f.conn_upgrade &&
		     f.upgrade_websocket;
	r->expect_continue = r->version_minor >= 1 && f.expect_continue;
	if (f.tes > 0) {
		r->body = H1_BODY_CHUNKED;
	} else if (f.cls > 0) {
		r->body = H1_BODY_LENGTH;
		r->content_length = f.content_length;
	}
	return H1_OK;
}

int h1_parse_request(const char *buf, size_t len, struct h1_request *out)
{
	struct http_scan s;
	enum h1_reason why;
	int ret;

	if ((buf == NULL && len > 0) || out == NULL)
		return -EINVAL;
	http_scan_init(&s, buf, len, H1_HEAD_MAX, &h1_scan_reasons);
	/* all but the header array, which is set as far as header_count says */
	memset(out, 0, offsetof(struct h1_request, headers));
	memset((char *)out + offsetof(struct h1_request, authority), 0,
	       sizeof(*out) - offsetof(struct h1_request, authority));

	if ((ret = parse_request_line(&s, out)) != 0)
		goto done;
	if ((ret = scan_headers(&s, out->headers, &out->header_count)) != 0)
		goto done;
	out->head_len = s.pos;
	if ((why = finish_request(out)) != H1_OK)
		ret = http_scan_reject(&s, why);
done:
	out->reason = ret == 0 ? H1_OK : s.reason;
	return ret;
}

/* ---------------------------------------------------------------- responses */

static int parse_status_line(struct http_scan *s, struct h1_response *r)
{
	unsigned char c;
	size_t start;
	int ret;

	if ((ret = http_scan_version(s, &r->version_minor)) != 0)
		return ret;
	if (s->pos >= s->limit)
		return http_scan_more(s);
	if (s->buf[s->pos] != ' ')
		return http_scan_reject(s, H1_BAD_START_LINE);
	s->pos++;
	for (int i = 0; i < 3; i++, s->pos++) {
		if (s->pos >= s->limit)
			return http_scan_more(s);
		c = (unsigned char)s->buf[s->pos];
		if (c < '0' || c > '9')
			return http_scan_reject(s, H1_BAD_START_LINE);
		r->status = r->status * 10 + (c - '0');
	}
	if (r->status < 100 || r->status > 599)
		return http_scan_reject(s, H1_BAD_STATUS);
	if (s->pos >= s->limit)
		return http_scan_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == ' ') { /* reason-phrase, possibly empty; "HTTP/1.1 200" CRLF tolerated */
		start = ++s->pos;
		http_scan_span(s, HTTP_FIELD);
		r->reason_phrase = (struct h1_slice){ s->buf + start, s->pos - start };
	} else if (c != '\r' && c != '\n') {
		return http_scan_reject(s, H1_BAD_START_LINE);
	}
	if (s->pos < s->limit && s->buf[s->pos] != '\r' && s->buf[s->pos] != '\n')
		return http_scan_reject(s, H1_BAD_START_LINE); /* CTL in the reason */
	return http_scan_crlf(s);
}

static enum h1_reason finish_response(struct h1_response *r, const struct h1_request *req)
{
	struct fields f;
	enum h1_reason why;
	bool head = req != NULL && req->method == H1_METHOD_HEAD;

	if ((why = scan_fields(r->headers, r->header_count, r->version_minor, &f)) != H1_OK)
		return why;
	if (f.tes > 0) {
		r->framing = H1_BODY_CHUNKED;
	} else if (f.cls > 0) {
		r->framing = H1_BODY_LENGTH;
		r->content_length = f.content_length;
	}
	if (r->status == 101) {
		if (req == NULL || !req->upgrade || !f.upgrade_any)
			return H1_UNEXPECTED_101;
		r->upgrade = true;
	}
	/* RFC 9112 §6.3 */
	if (head || r->status < 200 || r->status == 204 || r->status == 304)
		r->body = H1_BODY_NONE;
	else if (r->framing == H1_BODY_NONE)
		r->body = H1_BODY_CLOSE;
	else
		r->body = r->framing;
	r->keep_alive = keep_alive_of(&f, r->version_minor) && r->body != H1_BODY_CLOSE &&
			!r->upgrade;
	return H1_OK;
}

int h1_parse_response(const char *buf, size_t len, const struct h1_request *req,
		      struct h1_response *out)
{
	struct http_scan s;
	enum h1_reason why;
	int ret;

	if ((buf == NULL && len > 0) || out == NULL)
		return -EINVAL;
	http_scan_init(&s, buf, len, H1_HEAD_MAX, &h1_scan_reasons);
	memset(out, 0, offsetof(struct h1_response, headers));
	memset((char *)out + offsetof(struct h1_response, framing), 0,
	       sizeof(*out) - offsetof(struct h1_response, framing));

	if ((ret = parse_status_line(&s, out)) != 0)
		goto done;
	if ((ret = scan_headers(&s, out->headers, &out->header_count)) != 0)
		goto done;
	out->head_len = s.pos;
	if ((why = finish_response(out, req)) != H1_OK)
		ret = http_scan_reject(&s, why);
done:
	out->reason = ret == 0 ? H1_OK : s.reason;
	return ret;
}

/* ---------------------------------------------------------------- chunked bodies */

enum {
	CH_SIZE = 0,    /* first hex digit of a chunk size */
	CH_SIZE_MORE,   /* more hex digits, ';', BWS or CR */
	CH_BWS,         /* SP/HTAB after the size: only before ';' */
	CH_EXT,         /* chunk extensions, skipped, up to CR */
	CH_SIZE_LF,     /* LF ending the chunk-size line */
	CH_DATA,        /* chunk data */
	CH_DATA_CR,     /* CR after the data */
	CH_DATA_LF,     /* LF after the data */
	CH_TRAILER_START, /* start of a trailer line, or CR of the final blank line */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,      /* LF of the final blank line */
	CH_DONE,
	CH_ERROR,
};

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int chunk_error_code(enum h1_reason r)
{
	return (r == H1_CHUNK_SIZE_OVERFLOW || r == H1_CHUNK_LINE_TOO_BIG ||
		r == H1_TRAILERS_TOO_BIG) ? AD_ETOOBIG : AD_EPARSE;
}

void h1_chunked_init(struct h1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

int h1_chunked_decode(struct h1_chunked *c, const char *in, size_t len, size_t *used,
		      struct h1_slice *data)
{
	enum h1_reason why = H1_OK;
	size_t i = 0;
	int hex;

	if (c == NULL || (in == NULL && len > 0) || used == NULL || data == NULL)
		return -EINVAL;
	*used = 0;
	*data = (struct h1_slice){ in, 0 };
	if (c->state == CH_DONE)
		return 1;
	if (c->state == CH_ERROR)
		return chunk_error_code(c->reason);

	while (i < len) {
		unsigned char b = (unsigned char)in[i];

		if (c->state <= CH_SIZE_LF && ++c->line_len > H1_CHUNK_LINE_MAX) {
			why = H1_CHUNK_LINE_TOO_BIG;
			goto fail;
		}
		if (c->state >= CH_TRAILER_START && c->state <= CH_END_LF &&
		    ++c->trailer_len > H1_TRAILERS_MAX) {
			why = H1_TRAILERS_TOO_BIG;
			goto fail;
		}
		switch (c->state) {
		case CH_SIZE:
			if ((hex = hex_value(b)) < 0) {
				why = b == '\n' ? H1_BAD_LINE_END : H1_BAD_CHUNK_SIZE;
				goto fail;
			}
			c->remaining = (uint64_t)hex;
			c->state = CH_SIZE_MORE;
			break;
		case CH_SIZE_MORE:
			if ((hex = hex_value(b)) >= 0) {
				if (c->remaining > ((uint64_t)INT64_MAX - (uint64_t)hex) / 16) {
					why = H1_CHUNK_SIZE_OVERFLOW;
					goto fail;
				}
				c->remaining = c->remaining * 16 + (uint64_t)hex;
			} else if (b == ';') {
				c->state = CH_EXT;
			} else if (b == ' ' || b == '\t') {
				c->state = CH_BWS;
			} else if (b == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				why = b == '\n' ? H1_BAD_LINE_END : H1_BAD_CHUNK_SIZE;
				goto fail;
			}
			break;
		case CH_BWS:
			if (b == ';') {
				c->state = CH_EXT;
			} else if (b != ' ' && b != '\t') {
				why = H1_BAD_CHUNK_SIZE; /* "5 \r\n", "5 x" */
				goto fail;
			}
			break;
		case CH_EXT:
			if (b == '\r') {
				c->state = CH_SIZE_LF;
			} else if (!http_byte_is(b, HTTP_FIELD)) {
				why = b == '\n' ? H1_BAD_LINE_END : H1_BAD_CHUNK_EXT;
				goto fail;
			}
			break;
		case CH_SIZE_LF:
			if (b != '\n') {
				why = H1_BAD_LINE_END;
				goto fail;
			}
			c->line_len = 0;
			c->state = c->remaining > 0 ? CH_DATA : CH_TRAILER_START;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			*data = (struct h1_slice){ in + i, n };
			c->remaining -= n;
			c->body_len += n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			*used = i + n;
			return 0;
		}
		case CH_DATA_CR:
			if (b != '\r') {
				why = H1_BAD_CHUNK_END;
				goto fail;
			}
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (b != '\n') {
				why = H1_BAD_CHUNK_END;
				goto fail;
			}
			c->state = CH_SIZE;
			break;
		case CH_TRAILER_START:
			if (b == '\r') {
				c->state = CH_END_LF;
			} else if (http_byte_is(b, H1_TOKEN)) {
				c->state = CH_TRAILER_NAME;
			} else {
				why = b == '\n' ? H1_BAD_LINE_END : H1_BAD_TRAILER;
				goto fail;
			}
			break;
		case CH_TRAILER_NAME:
			if (b == ':') {
				c->state = CH_TRAILER_VALUE;
			} else if (!http_byte_is(b, H1_TOKEN)) {
				why = H1_BAD_TRAILER;
				goto fail;
			}
			break;
		case CH_TRAILER_VALUE:
			if (b == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (!http_byte_is(b, HTTP_FIELD)) {
				why = b == '\n' ? H1_BAD_LINE_END : H1_BAD_TRAILER;
				goto fail;
			}
			break;
		case CH_TRAILER_LF:
			if (b != '\n') {
				why = H1_BAD_LINE_END;
				goto fail;
			}
			c->state = CH_TRAILER_START;
			break;
		case CH_END_LF:
			if (b != '\n') {
				why = H1_BAD_LINE_END;
				goto fail;
			}
			c->state = CH_DONE;
			*used = i + 1;
			return 1;
		default:
			why = H1_BAD_CHUNK_SIZE; /* not reached */
			goto fail;
		}
		i++;
	}
	*used = i;
	return 0;
fail:
	c->state = CH_ERROR;
	c->reason = why;
	*used = i;
	return chunk_error_code(why);
}

/* ---------------------------------------------------------------- writing heads */

struct wbuf {
	char *p;
	size_t cap, len;
	bool full;
};

static void wb_put(struct wbuf *w, const char *s, size_t n)
{
	if (n == 0)
		return; /* s may be NULL */
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void wb_str(struct wbuf *w, const char *s)
{
	wb_put(w, s, strlen(s));
}

static void wb_slice(struct wbuf *w, struct h1_slice s)
{
	wb_put(w, s.p, s.len);
}

static void wb_u64(struct wbuf *w, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	wb_put(w, tmp + i, sizeof(tmp) - i);
}

static void wb_header(struct wbuf *w, struct h1_slice name, struct h1_slice value)
{
	wb_slice(w, name);
	wb_put(w, ": ", 2);
	wb_slice(w, value);
	wb_put(w, "\r\n", 2);
}

static int wb_end(struct wbuf *w)
{
	if (w->full || w->len > (size_t)INT32_MAX)
		return AD_ENOSPACE;
	return (int)w->len;
}

/* Values of every header of kind k, joined with ", ", then ", " if any. */
static bool wb_join(struct wbuf *w, const struct h1_header *hs, size_t n, enum hkind k)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (header_kind(hs[i].name) != k || hs[i].value.len == 0)
			continue;
		wb_slice(w, hs[i].value);
		wb_put(w, ", ", 2);
		any = true;
	}
	return any;
}

static bool has_kind(const struct h1_header *hs, size_t n, enum hkind k)
{
	for (size_t i = 0; i < n; i++)
		if (header_kind(hs[i].name) == k)
			return true;
	return false;
}

/* A string of ours going into a header: no CTL, DEL, and (for tokens) only tchar. */
static bool safe_text(const char *s, bool token)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (token ? !http_byte_is(c, H1_TOKEN) : (c < 0x20 || c == 0x7f))
			return false;
	}
	return true;
}

/* A Forwarded parameter value (RFC 7239 §4): a token as is, else a quoted-string. */
static void wb_forwarded_value(struct wbuf *w, const char *v, size_t n, bool brackets)
{
	bool token = !brackets && n > 0;
	for (size_t i = 0; i < n && token; i++)
		token = http_byte_is((unsigned char)v[i], H1_TOKEN);
	if (token) {
		wb_put(w, v, n);
		return;
	}
	wb_put(w, "\"", 1);
	if (brackets)
		wb_put(w, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			wb_put(w, "\\", 1);
		wb_put(w, v + i, 1);
	}
	if (brackets)
		wb_put(w, "]", 1);
	wb_put(w, "\"", 1);
}

/* Headers never passed on as received: hop-by-hop (RFC 9110 §7.6.1) and framing,
 * which the writers emit themselves. */
static bool hop_by_hop(enum hkind k)
{
	switch (k) {
	case HK_CONTENT_LENGTH:
	case HK_TRANSFER_ENCODING:
	case HK_CONNECTION:
	case HK_UPGRADE:
	case HK_KEEP_ALIVE:
	case HK_PROXY_CONNECTION:
	case HK_TE:
	case HK_TRAILER:
		return true;
	default:
		return false;
	}
}

static void wb_upgrade(struct wbuf *w, const struct h1_header *hs, size_t n)
{
	wb_str(w, "Connection: upgrade\r\n");
	for (size_t i = 0; i < n; i++)
		if (header_kind(hs[i].name) == HK_UPGRADE)
			wb_header(w, (struct h1_slice){ "Upgrade", 7 }, hs[i].value);
}

int h1_write_request_head(const struct h1_request *req, const struct h1_forward *fwd,
			  char *out, size_t cap)
{
	static const struct h1_forward defaults = { 0 };
	struct wbuf w = { .p = out, .cap = cap };
	const struct h1_header *hs;
	struct h1_slice host;
	const char *proto;
	size_t n;

	if (req == NULL || out == NULL || req->reason != H1_OK || req->target.len == 0)
		return -EINVAL;
	if (fwd == NULL)
		fwd = &defaults;
	proto = fwd->proto != NULL ? fwd->proto : "https";
	if (!safe_text(proto, true) || *proto == '\0' ||
	    (fwd->host != NULL && !safe_text(fwd->host, false)))
		return -EINVAL;
	if (fwd->client_addr != NULL) {
		if (*fwd->client_addr == '\0')
			return -EINVAL;
		for (const char *a = fwd->client_addr; *a != '\0'; a++)
			if (!http_byte_is((unsigned char)*a, HTTP_HEX) && *a != ':' && *a != '.')
				return -EINVAL;
	}
	hs = req->headers;
	n = req->header_count;
	host = fwd->host != NULL ? (struct h1_slice){ fwd->host, strlen(fwd->host) }
				 : req->authority;

	/* request line: origin-form for an absolute-form target (RFC 9112 §3.2.2) */
	wb_slice(&w, req->method_text);
	wb_put(&w, " ", 1);
	if (req->form == H1_FORM_ABSOLUTE && (req->path.len == 0 || req->path.p[0] == '?'))
		wb_put(&w, "/", 1);
	wb_slice(&w, req->path);
	wb_str(&w, " HTTP/1.1\r\n");
	wb_header(&w, (struct h1_slice){ "Host", 4 }, req->authority);

	for (size_t i = 0; i < n; i++) {
		enum hkind k = header_kind(hs[i].name);
		if (k == HK_HOST || hop_by_hop(k))
			continue;
		if (k == HK_FORWARDED || k == HK_XFF ||
		    (!fwd->trust_client && (k == HK_XF_PROTO || k == HK_XF_HOST ||
					    k == HK_XF_PORT || k == HK_X_REAL_IP)))
			continue;
		if (connection_lists(hs, n, hs[i].name))
			continue;
		wb_header(&w, hs[i].name, hs[i].value);
	}

	if (req->body == H1_BODY_LENGTH) {
		wb_str(&w, "Content-Length: ");
		wb_u64(&w, req->content_length);
		wb_put(&w, "\r\n", 2);
	} else if (req->body == H1_BODY_CHUNKED) {
		wb_str(&w, "Transfer-Encoding: chunked\r\n");
	}
	if (req->upgrade)
		wb_upgrade(&w, hs, n);
	else if (fwd->upstream_close)
		wb_str(&w, "Connection: close\r\n");

	/* Forwarded: for=...;proto=...;host=... (RFC 7239) */
	wb_str(&w, "Forwarded: ");
	if (fwd->trust_client)
		wb_join(&w, hs, n, HK_FORWARDED);
	wb_str(&w, "for=");
	if (fwd->client_addr == NULL)
		wb_str(&w, "unknown");
	else
		wb_forwarded_value(&w, fwd->client_addr, strlen(fwd->client_addr),
				   strchr(fwd->client_addr, ':') != NULL);
	wb_str(&w, ";proto=");
	wb_str(&w, proto);
	if (host.len > 0) {
		wb_str(&w, ";host=");
		wb_forwarded_value(&w, host.p, host.len, false);
	}
	wb_put(&w, "\r\n", 2);

	if (fwd->client_addr != NULL) {
		wb_str(&w, "X-Forwarded-For: ");
		if (fwd->trust_client)
			wb_join(&w, hs, n, HK_XFF);
		wb_str(&w, fwd->client_addr);
		wb_put(&w, "\r\n", 2);
	}
	if (!(fwd->trust_client && has_kind(hs, n, HK_XF_PROTO))) {
		wb_str(&w, "X-Forwarded-Proto: ");
		wb_str(&w, proto);
		wb_put(&w, "\r\n", 2);
	}
	if (host.len > 0 && !(fwd->trust_client && has_kind(hs, n, HK_XF_HOST)))
		wb_header(&w, (struct h1_slice){ "X-Forwarded-Host", 16 }, host);
	wb_put(&w, "\r\n", 2);
	return wb_end(&w);
}

enum h1_body h1_response_client_framing(const struct h1_response *resp,
					const struct h1_request *req, bool *keep_alive)
{
	int minor = req != NULL ? req->version_minor : 1;
	bool ka = req != NULL ? req->keep_alive : true;
	enum h1_body body = resp->body;

	if (resp->upgrade) {
		ka = false; /* a tunnel now */
	} else if (resp->status >= 200) {
		if (body == H1_BODY_CHUNKED && minor == 0)
			body = H1_BODY_CLOSE; /* HTTP/1.0 knows no chunked (RFC 9112 §6.1) */
		ka = ka && body != H1_BODY_CLOSE;
	}
	if (keep_alive != NULL)
		*keep_alive = ka;
	return body;
}

int h1_write_response_head(const struct h1_response *resp, const struct h1_request *req,
			   char *out, size_t cap)
{
	struct wbuf w = { .p = out, .cap = cap };
	const struct h1_header *hs;
	enum h1_body body;
	bool ka;
	size_t n;

	if (resp == NULL || out == NULL || resp->reason != H1_OK)
		return -EINVAL;
	hs = resp->headers;
	n = resp->header_count;
	body = h1_response_client_framing(resp, req, &ka);

	wb_str(&w, "HTTP/1.1 ");
	wb_u64(&w, (uint64_t)resp->status);
	wb_put(&w, " ", 1);
	wb_slice(&w, resp->reason_phrase);
	wb_put(&w, "\r\n", 2);
	for (size_t i = 0; i < n; i++) {
		if (hop_by_hop(header_kind(hs[i].name)) || connection_lists(hs, n, hs[i].name))
			continue;
		wb_header(&w, hs[i].name, hs[i].value);
	}

	if (resp->upgrade) {
		wb_upgrade(&w, hs, n);
	} else if (resp->status >= 200) {
		/* HEAD and 304 keep the framing a GET would have had; 204 has none */
		if (resp->body == H1_BODY_NONE && resp->status != 204)
			body = resp->framing;
		if (body == H1_BODY_LENGTH) {
			wb_str(&w, "Content-Length: ");
			wb_u64(&w, resp->content_length);
			wb_put(&w, "\r\n", 2);
		} else if (body == H1_BODY_CHUNKED && (req == NULL || req->version_minor >= 1)) {
			wb_str(&w, "Transfer-Encoding: chunked\r\n");
		}
		if (!ka)
			wb_str(&w, "Connection: close\r\n");
		else if (req != NULL && req->version_minor == 0)
			wb_str(&w, "Connection: keep-alive\r\n");
	}
	wb_put(&w, "\r\n", 2);
	return wb_end(&w);
}

/* ---------------------------------------------------------------- reasons */

static const struct {
	const char *text;
	int status;
} reasons[H1_REASON_COUNT] = {
	[H1_OK] = { "ok", 0 },
	[H1_INCOMPLETE] = { "incomplete head", 0 },
	[H1_HEAD_TOO_BIG] = { "head too large", 431 },
	[H1_TOO_MANY_HEADERS] = { "too many header fields", 431 },
	[H1_BAD_START_LINE] = { "malformed start line", 400 },
	[H1_BAD_METHOD] = { "invalid method", 400 },
	[H1_BAD_TARGET] = { "invalid request target", 400 },
	[H1_CONNECT] = { "connect not allowed", 405 },
	[H1_BAD_VERSION] = { "unsupported http version", 505 },
	[H1_BAD_STATUS] = { "invalid status code", 502 },
	[H1_BAD_LINE_END] = { "bare cr or lf", 400 },
	[H1_BAD_HEADER_NAME] = { "invalid header name", 400 },
	[H1_SPACE_BEFORE_COLON] = { "whitespace before colon", 400 },
	[H1_UNDERSCORE_NAME] = { "underscore in a reserved header name", 400 },
	[H1_BAD_HEADER_VALUE] = { "invalid header value", 400 },
	[H1_OBS_FOLD] = { "obsolete line folding", 400 },
	[H1_NO_HOST] = { "missing host", 400 },
	[H1_DUP_HOST] = { "duplicate host", 400 },
	[H1_BAD_HOST] = { "invalid host", 400 },
	[H1_TE_AND_CL] = { "transfer-encoding with content-length", 400 },
	[H1_DUP_CL] = { "duplicate content-length", 400 },
	[H1_BAD_CL] = { "invalid content-length", 400 },
	[H1_DUP_TE] = { "duplicate transfer-encoding", 400 },
	[H1_BAD_TE] = { "invalid transfer-encoding", 400 },
	[H1_TE_UNSUPPORTED] = { "unsupported transfer coding", 501 },
	[H1_TE_HTTP10] = { "transfer-encoding in http/1.0", 400 },
	[H1_UNEXPECTED_101] = { "unexpected 101", 502 },
	[H1_BAD_CHUNK_SIZE] = { "invalid chunk size", 400 },
	[H1_CHUNK_SIZE_OVERFLOW] = { "chunk size too large", 400 },
	[H1_BAD_CHUNK_EXT] = { "invalid chunk extension", 400 },
	[H1_CHUNK_LINE_TOO_BIG] = { "chunk size line too long", 400 },
	[H1_BAD_CHUNK_END] = { "chunk data not followed by crlf", 400 },
	[H1_BAD_TRAILER] = { "invalid trailer", 400 },
	[H1_TRAILERS_TOO_BIG] = { "trailers too large", 400 },
};

const char *h1_reason_str(enum h1_reason reason)
{
	if ((unsigned)reason >= H1_REASON_COUNT)
		return "unknown";
	return reasons[reason].text;
}

int h1_reason_status(enum h1_reason reason)
{
	if ((unsigned)reason >= H1_REASON_COUNT)
		return 400;
	return reasons[reason].status;
}
