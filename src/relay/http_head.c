/*
 * HTTP head: the routing host of an HTTP/1.x request head (RFC 9112), strictly.
 *
 * One pass over the bytes, line by line:
 *
 *   [CRLF]*  METHOD SP TARGET SP HTTP/1.D CRLF   request line (leading blank lines
 *                                                skipped, RFC 9112 §2.2)
 *   NAME ":" OWS VALUE OWS CRLF                  header lines, any number
 *   CRLF                                         end of head
 *
 * Each byte is checked when it is reached, so garbage (a TLS ClientHello sent to
 * :80, a bare LF) is refused as soon as it arrives rather than when a blank line
 * that will never come would have ended the head. A decision never depends on
 * bytes past the point reached: a prefix of any input gives AD_ETRUNC or the answer
 * of the whole. The host is chosen and checked once the head is complete.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "http_head.h"
#include "nametable.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

struct scan {
	const char *buf;
	size_t limit;        /* min(len, HTTP_HEAD_MAX): bytes we may look at */
	size_t pos;          /* next byte */
	enum http_head_reason reason;
};

/* Spans found while scanning, offsets into buf. */
struct head_spans {
	size_t method, method_len;
	size_t target, target_len;
	int version_minor;
	unsigned host_count;
	size_t host, host_len; /* value of the Host line, OWS trimmed */
};

/* The byte at s->pos is missing. */
static int sc_more(struct scan *s)
{
	if (s->pos >= HTTP_HEAD_MAX) {
		s->reason = HTTP_HEAD_TOO_BIG;
		return AD_ETOOBIG;
	}
	s->reason = HTTP_HEAD_INCOMPLETE;
	return AD_ETRUNC;
}

static int sc_reject(struct scan *s, enum http_head_reason reason)
{
	s->reason = reason;
	return AD_EPARSE;
}

/* Byte classes, one table lookup per byte on the hot loops. */
#define C_TCHAR 0x1   /* tchar of RFC 9110 §5.6.2: methods and field names */
#define C_TARGET 0x2  /* VCHAR: what a request-target may hold */
#define C_FIELD 0x4   /* field-value bytes: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5) */

#define C_T (C_TCHAR | C_TARGET | C_FIELD)
#define C_V (C_TARGET | C_FIELD)

static const uint8_t byte_class[256] = {
	['\t'] = C_FIELD,    [' '] = C_FIELD,
	['!'] = C_T,          ['"'] = C_V,          ['#' ... '\''] = C_T,
	['(' ... ')'] = C_V,  ['*' ... '+'] = C_T,  [','] = C_V,
	['-' ... '.'] = C_T,  ['/'] = C_V,          ['0' ... '9'] = C_T,
	[':' ... '@'] = C_V,  ['A' ... 'Z'] = C_T,  ['[' ... ']'] = C_V,
	['^' ... 'z'] = C_T,  ['{'] = C_V,          ['|'] = C_T,
	['}'] = C_V,          ['~'] = C_T,          [0x80 ... 0xff] = C_FIELD,
};

static bool is_tchar(unsigned char c)
{
	return byte_class[c] & C_TCHAR;
}

/* Advance s->pos over bytes of class cls. */
static void sc_span(struct scan *s, uint8_t cls)
{
	while (s->pos < s->limit && (byte_class[(unsigned char)s->buf[s->pos]] & cls))
		s->pos++;
}

/* After a CR at s->pos - 1: the LF. */
static int sc_lf(struct scan *s)
{
	if (s->pos >= s->limit)
		return sc_more(s);
	if (s->buf[s->pos] != '\n')
		return sc_reject(s, HTTP_HEAD_BAD_LINE_END); /* bare CR */
	s->pos++;
	return 0;
}

static int parse_request_line(struct scan *s, struct head_spans *sp)
{
	static const char version[] = "HTTP/1.D";
	unsigned char c;
	size_t i;
	int ret;

	/* blank lines before the request line */
	for (;;) {
		if (s->pos >= s->limit)
			return sc_more(s);
		if (s->buf[s->pos] == '\n')
			return sc_reject(s, HTTP_HEAD_BAD_LINE_END);
		if (s->buf[s->pos] != '\r')
			break;
		s->pos++;
		if ((ret = sc_lf(s)) != 0)
			return ret;
	}

	sp->method = s->pos;
	for (;; s->pos++) {
		if (s->pos >= s->limit)
			return sc_more(s);
		c = (unsigned char)s->buf[s->pos];
		if (c == ' ')
			break;
		if (c == '\r' || c == '\n')
			return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE);
		if (!is_tchar(c))
			return sc_reject(s, HTTP_HEAD_BAD_METHOD);
	}
	sp->method_len = s->pos - sp->method;
	if (sp->method_len == 0)
		return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE);
	s->pos++;

	sp->target = s->pos;
	sc_span(s, C_TARGET);
	if (s->pos >= s->limit)
		return sc_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == '\r' || c == '\n')
		return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE); /* HTTP/0.9 */
	if (c != ' ')
		return sc_reject(s, HTTP_HEAD_BAD_TARGET); /* CTL, DEL, non-ASCII */
	sp->target_len = s->pos - sp->target;
	if (sp->target_len == 0)
		return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE); /* two spaces */
	s->pos++;

	/* "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3); only major 1 */
	for (i = 0; i < sizeof(version) - 1; i++, s->pos++) {
		if (s->pos >= s->limit)
			return sc_more(s);
		c = (unsigned char)s->buf[s->pos];
		if (i == 5 && c >= '0' && c <= '9' && c != '1')
			return sc_reject(s, HTTP_HEAD_BAD_VERSION);
		if (version[i] == 'D' ? (c < '0' || c > '9') : c != (unsigned char)version[i])
			return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE);
	}
	sp->version_minor = s->buf[s->pos - 1] - '0';
	if (s->pos >= s->limit)
		return sc_more(s);
	if (s->buf[s->pos] == '\n')
		return sc_reject(s, HTTP_HEAD_BAD_LINE_END);
	if (s->buf[s->pos] != '\r')
		return sc_reject(s, HTTP_HEAD_BAD_REQUEST_LINE);
	s->pos++;
	return sc_lf(s);
}

/* One header line starting at s->pos, or the blank line; *end set on the latter. */
static int parse_header_line(struct scan *s, struct head_spans *sp, bool *end)
{
	size_t name = s->pos, value, vend;
	unsigned char c;
	int ret;

	if (s->pos >= s->limit)
		return sc_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == '\r') {
		s->pos++;
		if ((ret = sc_lf(s)) == 0)
			*end = true;
		return ret;
	}
	if (c == '\n')
		return sc_reject(s, HTTP_HEAD_BAD_LINE_END);
	if (c == ' ' || c == '\t')
		return sc_reject(s, HTTP_HEAD_OBS_FOLD); /* RFC 9112 §5.2 */

	sc_span(s, C_TCHAR);
	if (s->pos >= s->limit)
		return sc_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == ' ' || c == '\t')
		return sc_reject(s, HTTP_HEAD_SPACE_BEFORE_COLON);
	if (c != ':')
		return sc_reject(s, HTTP_HEAD_BAD_HEADER_NAME); /* no colon, CTL, ... */
	if (s->pos == name)
		return sc_reject(s, HTTP_HEAD_BAD_HEADER_NAME);
	bool is_host = s->pos - name == 4 && strncasecmp(s->buf + name, "host", 4) == 0;
	if (is_host && ++sp->host_count > 1)
		return sc_reject(s, HTTP_HEAD_DUP_HOST); /* RFC 9112 §3.2 */
	s->pos++;

	/* field-value; OWS around it trimmed */
	value = s->pos;
	sc_span(s, C_FIELD);
	if (s->pos >= s->limit)
		return sc_more(s);
	c = (unsigned char)s->buf[s->pos];
	if (c == '\n')
		return sc_reject(s, HTTP_HEAD_BAD_LINE_END);
	if (c != '\r')
		return sc_reject(s, HTTP_HEAD_BAD_HEADER_VALUE); /* CTL, DEL */
	vend = s->pos;
	while (value < vend && (s->buf[value] == ' ' || s->buf[value] == '\t'))
		value++;
	while (vend > value && (s->buf[vend - 1] == ' ' || s->buf[vend - 1] == '\t'))
		vend--;
	s->pos++;
	if ((ret = sc_lf(s)) != 0)
		return ret;
	if (is_host) {
		sp->host = value;
		sp->host_len = vend > value ? vend - value : 0;
	}
	return 0;
}

/* Parse "host[:port]" (RFC 3986 §3.2.2 with reg-name restricted to DNS host names:
 * no percent-encoding, no sub-delims; IP-literal without zone or IPvFuture) into
 * out->host, out->port, out->host_is_ip. Returns 0 or AD_EPARSE. */
static int parse_authority(const char *a, size_t n, struct http_head *out)
{
	const char *host = a, *port = NULL;
	size_t host_len, port_len = 0, i;
	char tmp[INET6_ADDRSTRLEN];
	unsigned long pnum = 0;
	struct in6_addr a6;
	struct in_addr a4;
	int ret;

	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (close == NULL)
			return AD_EPARSE;
		host = a + 1;
		host_len = (size_t)(close - host);
		if (host_len == 0 || host_len >= sizeof(tmp))
			return AD_EPARSE;
		for (i = 0; i < host_len; i++) {
			char c = host[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
				return AD_EPARSE; /* zone ("%25"), IPvFuture, garbage */
			tmp[i] = (c >= 'A' && c <= 'F') ? (char)(c + 'a' - 'A') : c;
		}
		tmp[host_len] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return AD_EPARSE;
		memcpy(out->host, tmp, host_len + 1);
		out->host_len = host_len;
		out->host_is_ip = true;
		i = (size_t)(close - a) + 1;
		if (i < n) {
			if (a[i] != ':')
				return AD_EPARSE;
			port = a + i + 1;
			port_len = n - i - 1;
		}
	} else {
		const char *colon = memchr(a, ':', n);
		host_len = colon != NULL ? (size_t)(colon - a) : n;
		if (colon != NULL) {
			port = colon + 1;
			port_len = n - host_len - 1;
		}
		if (host_len == 0 || memchr(host, '*', host_len) != NULL)
			return AD_EPARSE;
		ret = nametable_name_normalize(host, host_len, out->host, sizeof(out->host));
		if (ret < 0)
			return AD_EPARSE;
		out->host_len = (size_t)ret;
		out->host_is_ip = inet_pton(AF_INET, out->host, &a4) == 1;
	}
	/* port = *DIGIT; an empty port is allowed and means none */
	for (i = 0; i < port_len; i++) {
		if (port[i] < '0' || port[i] > '9')
			return AD_EPARSE;
		pnum = pnum * 10 + (unsigned long)(port[i] - '0');
		if (pnum > 65535)
			return AD_EPARSE;
	}
	out->port = (uint16_t)pnum;
	return 0;
}

/* If the target is in absolute form, give the span of its authority; returns 0 (not
 * absolute-form: *auth_len stays 0), 1 (absolute-form) or AD_EPARSE. */
static int target_authority(const char *t, size_t n, size_t *auth, size_t *auth_len)
{
	size_t i = 0, end;

	if (n == 0 || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
		return 0;
	while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
			 (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' ||
			 t[i] == '.'))
		i++;
	if (n - i < 3 || memcmp(t + i, "://", 3) != 0)
		return 0;
	if (!((i == 4 && strncasecmp(t, "http", 4) == 0) ||
	      (i == 5 && strncasecmp(t, "https", 5) == 0)))
		return AD_EPARSE; /* a scheme we do not serve */
	i += 3;
	for (end = i; end < n && t[end] != '/' && t[end] != '?' && t[end] != '#'; end++)
		if (t[end] == '@')
			return AD_EPARSE; /* userinfo: RFC 9110 §4.2.4 */
	*auth = i;
	*auth_len = end - i;
	return 1;
}

/* With the head complete: the form of the target and where the host comes from. */
static int choose_host(const char *buf, const struct head_spans *sp, struct http_head *out)
{
	size_t auth = 0, auth_len = 0;
	const char *t = buf + sp->target;
	int absolute;

	absolute = target_authority(t, sp->target_len, &auth, &auth_len);
	if (absolute < 0)
		goto bad_target;
	if (absolute == 0 && t[0] != '/' && !(sp->target_len == 1 && t[0] == '*') &&
	    !(sp->method_len == 7 && memcmp(buf + sp->method, "CONNECT", 7) == 0))
		goto bad_target; /* not origin-, asterisk-, authority- or absolute-form */

	if (sp->host_count == 0 && sp->version_minor >= 1) {
		out->reason = HTTP_HEAD_NO_HOST; /* RFC 9112 §3.2 */
		return AD_EPARSE;
	}
	/* The Host line is checked even when the target's authority wins, since a 400
	 * is due for an invalid one (RFC 9112 §3.2); it is parsed into out->host, then
	 * overwritten by the target's authority. */
	if (sp->host_len > 0 && parse_authority(buf + sp->host, sp->host_len, out) != 0) {
		out->reason = HTTP_HEAD_BAD_HOST;
		return AD_EPARSE;
	}
	if (absolute == 1) {
		if (parse_authority(t + auth, auth_len, out) != 0)
			goto bad_target;
		out->host_from_target = true;
	} else if (sp->host_len == 0) {
		out->reason = HTTP_HEAD_NO_NAME; /* HTTP/1.0 without Host, or Host: "" */
		return AD_ENOTFOUND;
	}
	out->reason = HTTP_HEAD_OK;
	return 0;
bad_target:
	out->reason = HTTP_HEAD_BAD_TARGET;
	return AD_EPARSE;
}

int http_head_parse(const char *buf, size_t len, struct http_head *out)
{
	struct scan s = { .buf = buf, .limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX };
	struct head_spans sp = { 0 };
	bool end = false;
	size_t n;
	int ret = -EINVAL;

	if ((buf == NULL && len > 0) || out == NULL)
		goto done;
	memset(out, 0, offsetof(struct http_head, host));
	out->host[0] = '\0';
	if (len == 0) {
		ret = sc_more(&s);
		goto out;
	}

	/* the HTTP/2 connection preface (RFC 9113 §3.4), or a prefix of it */
	n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
	if (memcmp(buf, h2_preface, n) == 0) {
		if (n == H2_PREFACE_LEN) {
			ret = sc_reject(&s, HTTP_HEAD_H2_PREFACE);
		} else {
			ret = sc_more(&s);
		}
		goto out;
	}

	if ((ret = parse_request_line(&s, &sp)) != 0)
		goto out;
	while (!end)
		if ((ret = parse_header_line(&s, &sp, &end)) != 0)
			goto out;
	out->head_len = s.pos;
	out->version_minor = sp.version_minor;
	ret = choose_host(buf, &sp, out);
	if (ret == AD_EPARSE) {
		out->head_len = 0;
		out->host_len = 0;
		out->host[0] = '\0';
	}
	goto done;
out:
	out->reason = s.reason;
done:
	return ret;
}

const char *http_head_reason_str(enum http_head_reason reason)
{
	static const char *const text[HTTP_HEAD_REASON_COUNT] = {
		[HTTP_HEAD_OK] = "ok",
		[HTTP_HEAD_INCOMPLETE] = "incomplete head",
		[HTTP_HEAD_TOO_BIG] = "request head too large",
		[HTTP_HEAD_NO_NAME] = "no host name",
		[HTTP_HEAD_H2_PREFACE] = "http/2 preface",
		[HTTP_HEAD_BAD_REQUEST_LINE] = "malformed request line",
		[HTTP_HEAD_BAD_METHOD] = "invalid method",
		[HTTP_HEAD_BAD_TARGET] = "invalid request target",
		[HTTP_HEAD_BAD_VERSION] = "unsupported http version",
		[HTTP_HEAD_BAD_LINE_END] = "bare cr or lf",
		[HTTP_HEAD_BAD_HEADER_NAME] = "invalid header name",
		[HTTP_HEAD_SPACE_BEFORE_COLON] = "whitespace before colon",
		[HTTP_HEAD_BAD_HEADER_VALUE] = "invalid header value",
		[HTTP_HEAD_OBS_FOLD] = "obsolete line folding",
		[HTTP_HEAD_NO_HOST] = "missing host",
		[HTTP_HEAD_DUP_HOST] = "duplicate host",
		[HTTP_HEAD_BAD_HOST] = "invalid host",
	};
	if ((unsigned)reason >= HTTP_HEAD_REASON_COUNT)
		return "unknown";
	return text[reason];
}
