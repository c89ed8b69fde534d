/*
 * HTTP syntax: the pieces of RFC 9110/9112 that the relay's head parser (http_head.c)
 * and the operator's HTTP/1.1 parser (http1.c) both read the same way.
 *
 *   byte classes     one table lookup tells tchar, VCHAR, field-value, hex digit
 *   struct http_scan a head being scanned: the start line's pieces, field lines, the
 *                    end of the head (inline steps; a per-byte loop in each)
 *   authority        "host[:port]" of a Host field or an absolute-form target, and
 *                    the authority of such a target
 *
 * What differs between the two parsers stays with them and comes in as a parameter:
 * the head limit and the reason codes (struct http_scan_reasons), the byte class of a
 * method or field name (the operator's leaves '#' out), what a header line means.
 * Pure: no allocation, no I/O. Slices point into the caller's buffer.
 */
#ifndef AIRDRESS_HTTP_SYNTAX_H
#define AIRDRESS_HTTP_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Byte classes: test with http_byte_is(c, mask), true when c is in any class of mask.
 * '#' has a bit of its own because a request-target may not hold it (it starts a
 * fragment, RFC 9112 §3.2) while tchar and VCHAR include it. */
#define HTTP_TCHAR_NOHASH 0x01 /* tchar (RFC 9110 §5.6.2) but '#' */
#define HTTP_TARGET 0x02       /* VCHAR but '#': a request-target byte */
#define HTTP_FIELD 0x04        /* field-value byte: VCHAR, obs-text, SP, HTAB (§5.5) */
#define HTTP_HEX 0x08          /* HEXDIG, either case */
#define HTTP_HASH 0x10         /* '#' */
#define HTTP_TCHAR (HTTP_TCHAR_NOHASH | HTTP_HASH) /* tchar: methods, field names */
#define HTTP_VCHAR (HTTP_TARGET | HTTP_HASH)       /* VCHAR: 0x21..0x7e */

extern const uint8_t http_byte_class[256];

static inline bool http_byte_is(unsigned char c, uint8_t mask)
{
	return (http_byte_class[c] & mask) != 0;
}

/* Bytes of a caller's buffer. */
struct http_slice {
	const char *p;
	size_t len;
};

/* The caller's reason code (its own enum) for each refusal the scanner decides. */
struct http_scan_reasons {
	int incomplete;         /* AD_ETRUNC */
	int too_big;            /* AD_ETOOBIG: no end of head within max bytes */
	int bad_line_end;       /* bare LF or bare CR */
	int bad_start_line;     /* request or status line not of its form */
	int bad_version;        /* HTTP/x.y with x != 1 */
	int obs_fold;           /* a field line starting with SP or HTAB */
	int space_before_colon; /* "Name : value" */
	int bad_header_name;    /* empty, not a token, no colon */
	int bad_header_value;   /* CTL or DEL in a value */
};

/* A head being scanned from buf[0]. Each step checks every byte when it reaches it,
 * so a decision never depends on bytes past pos. A step returns 0 (done, pos past
 * it), AD_ETRUNC or AD_ETOOBIG (the byte at pos is missing; at max it is too big) or
 * AD_EPARSE, and on an error sets reason to the caller's code. */
struct http_scan {
	const char *buf;
	size_t limit; /* min(len, max): bytes that may be looked at */
	size_t max;   /* the caller's head limit */
	size_t pos;   /* next byte */
	int reason;
	const struct http_scan_reasons *reasons;
};

static inline void http_scan_init(struct http_scan *s, const char *buf, size_t len,
				  size_t max, const struct http_scan_reasons *reasons)
{
	*s = (struct http_scan){ .buf = buf, .limit = len < max ? len : max, .max = max,
				 .reasons = reasons };
}

/* The steps below are inline: a parser calls them once or twice per line, and as calls
 * they cost the relay 15% more instructions on ordinary heads. */

/* Advance pos over bytes in mask: the hot loop of every step. */
static inline void http_scan_span(struct http_scan *s, uint8_t mask)
{
	const char *buf = s->buf;
	size_t pos = s->pos, limit = s->limit;

	while (pos < limit && http_byte_is((unsigned char)buf[pos], mask))
		pos++;
	s->pos = pos;
}

/* p[0..n) without leading and trailing SP and HTAB. */
static inline struct http_slice http_trim_ows(const char *p, size_t n)
{
	while (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct http_slice){ p, n };
}

/* The byte at pos is missing: AD_ETRUNC, or AD_ETOOBIG once pos reaches max. */
static inline int http_scan_more(struct http_scan *s)
{
	if (s->pos >= s->max) {
		s->reason = s->reasons->too_big;
		return AD_ETOOBIG;
	}
	s->reason = s->reasons->incomplete;
	return AD_ETRUNC;
}

/* Advance pos over bytes in mask, and give the byte that stops it in *stop; AD_ETRUNC
 * or AD_ETOOBIG when that byte is missing. */
static inline int http_scan_until(struct http_scan *s, uint8_t mask, unsigned char *stop)
{
	http_scan_span(s, mask);
	if (s->pos >= s->limit)
		return http_scan_more(s);
	*stop = (unsigned char)s->buf[s->pos];
	return 0;
}

/* Refuse with the caller's reason. */
static inline int http_scan_reject(struct http_scan *s, int reason)
{
	s->reason = reason;
	return AD_EPARSE;
}

/* After a CR (consumed): the LF. */
static inline int http_scan_lf(struct http_scan *s)
{
	if (s->pos >= s->limit)
		return http_scan_more(s);
	if (s->buf[s->pos] != '\n')
		return http_scan_reject(s, s->reasons->bad_line_end); /* bare CR */
	s->pos++;
	return 0;
}

/* Empty lines (CRLF) before a request line, skipped (RFC 9112 §2.2). */
static inline int http_scan_blank_lines(struct http_scan *s)
{
	int ret;

	for (;;) {
		if (s->pos >= s->limit)
			return http_scan_more(s);
		if (s->buf[s->pos] == '\n')
			return http_scan_reject(s, s->reasons->bad_line_end);
		if (s->buf[s->pos] != '\r')
			return 0;
		s->pos++;
		if ((ret = http_scan_lf(s)) != 0)
			return ret;
	}
}

/* A method or a target: 1*(bytes in mask) then SP, into *word; pos past the SP. CR,
 * LF or an empty word is bad_start_line (HTTP/0.9, two spaces); any other byte is
 * refused with the caller's bad_byte. */
static inline int http_scan_word(struct http_scan *s, uint8_t mask, int bad_byte,
				 struct http_slice *word)
{
	size_t start = s->pos;
	unsigned char c;
	int ret;

	if ((ret = http_scan_until(s, mask, &c)) != 0)
		return ret;
	if (c == '\r' || c == '\n' || (c == ' ' && s->pos == start))
		return http_scan_reject(s, s->reasons->bad_start_line);
	if (c != ' ')
		return http_scan_reject(s, bad_byte);
	*word = (struct http_slice){ s->buf + start, s->pos - start };
	s->pos++;
	return 0;
}

/* "HTTP/1.D", case-sensitive (RFC 9112 §2.3); *minor set. Another major version is
 * bad_version. */
static inline int http_scan_version(struct http_scan *s, int *minor)
{
	static const char version[] = "HTTP/1.D";

	for (size_t i = 0; i < sizeof(version) - 1; i++, s->pos++) {
		if (s->pos >= s->limit)
			return http_scan_more(s);
		unsigned char c = (unsigned char)s->buf[s->pos];
		if (i == 5 && c >= '0' && c <= '9' && c != '1')
			return http_scan_reject(s, s->reasons->bad_version);
		if (version[i] == 'D' ? (c < '0' || c > '9') : c != (unsigned char)version[i])
			return http_scan_reject(s, s->reasons->bad_start_line);
	}
	*minor = s->buf[s->pos - 1] - '0';
	return 0;
}

/* The CRLF ending a start line. */
static inline int http_scan_crlf(struct http_scan *s)
{
	if (s->pos >= s->limit)
		return http_scan_more(s);
	if (s->buf[s->pos] == '\n')
		return http_scan_reject(s, s->reasons->bad_line_end);
	if (s->buf[s->pos] != '\r')
		return http_scan_reject(s, s->reasons->bad_start_line);
	s->pos++;
	return http_scan_lf(s);
}

/* A line after the start line: returns 1 once the blank line ending the head is
 * consumed, 0 when a field line starts at pos (nothing consumed), or an error (bare
 * LF or CR, obs-fold: RFC 9112 §5.2). */
static inline int http_scan_line_start(struct http_scan *s)
{
	unsigned char c;
	int ret;

	if (s->pos >= s->limit)
		return http_scan_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == '\r') {
		s->pos++;
		return (ret = http_scan_lf(s)) == 0 ? 1 : ret;
	}
	if (c == '\n')
		return http_scan_reject(s, s->reasons->bad_line_end);
	if (c == ' ' || c == '\t')
		return http_scan_reject(s, s->reasons->obs_fold);
	return 0;
}

/* A field name, 1*(bytes in mask), and its colon (no whitespace between: RFC 9112
 * §5.1), into *name; pos past the colon. */
static inline int http_scan_field_name(struct http_scan *s, uint8_t mask,
				       struct http_slice *name)
{
	size_t start = s->pos;
	unsigned char c;
	int ret;

	if ((ret = http_scan_until(s, mask, &c)) != 0)
		return ret;
	if (c == ' ' || c == '\t')
		return http_scan_reject(s, s->reasons->space_before_colon);
	if (c != ':' || s->pos == start)
		return http_scan_reject(s, s->reasons->bad_header_name);
	*name = (struct http_slice){ s->buf + start, s->pos - start };
	s->pos++;
	return 0;
}

/* A field value and its CRLF; *value without the OWS around it. */
static inline int http_scan_field_value(struct http_scan *s, struct http_slice *value)
{
	size_t start = s->pos;
	unsigned char c;
	int ret;

	if ((ret = http_scan_until(s, HTTP_FIELD, &c)) != 0)
		return ret;
	if (c == '\n')
		return http_scan_reject(s, s->reasons->bad_line_end);
	if (c != '\r')
		return http_scan_reject(s, s->reasons->bad_header_value); /* CTL, DEL */
	*value = http_trim_ows(s->buf + start, s->pos - start);
	s->pos++;
	return http_scan_lf(s);
}

/* --- authority (RFC 3986 §3.2.2, RFC 9110 §4.2.3) --- */

#define HTTP_HOST_BUF 256 /* a DNS name (253), an IPv6 literal, and a NUL */

struct http_authority {
	size_t host_len;          /* 1..253 */
	char host[HTTP_HOST_BUF]; /* lowercase, without port, brackets or trailing dot */
	uint16_t port;            /* the explicit port, 0 when none */
	bool is_ip;               /* an IPv4 address or a bracketed IPv6 one */
};

/* Parse "host[:port]": a DNS host name (nametable_name_normalize: no
 * percent-encoding, no sub-delims, no '*'), an IPv4 address, or a bracketed IPv6
 * address without zone or IPvFuture; port 0..65535, an empty port meaning none.
 * Returns 0 (*au set) or AD_EPARSE (*au partly written). */
int http_authority_parse(const char *a, size_t n, struct http_authority *au);

/* The authority of an absolute-form target t[0..n) whose scheme is t[0..scheme_len):
 * returns 0 when "://" does not follow the scheme (not absolute-form; also for
 * scheme_len > n), 1 with *auth (maybe empty) up to the first '/', '?' or '#', or
 * AD_EPARSE for a scheme other than http or https (any case) or a userinfo
 * (RFC 9110 §4.2.4). */
int http_target_authority(const char *t, size_t n, size_t scheme_len,
			  struct http_slice *auth);

#endif
