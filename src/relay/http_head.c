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
 *
 * The scanning steps, the byte classes and the Host syntax are the ones the
 * operator's HTTP/1.1 parser uses too (src/shared/http_syntax.c); the limit and the
 * codes they refuse with are ours (HTTP_HEAD_MAX, head_scan_reasons).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "http_head.h"
#include "http_syntax.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

_Static_assert(HTTP_HEAD_HOST_BUF >= HTTP_HOST_BUF, "out->host holds any host");

static const struct http_scan_reasons head_scan_reasons = {
	.incomplete = HTTP_HEAD_INCOMPLETE,
	.too_big = HTTP_HEAD_TOO_BIG,
	.bad_line_end = HTTP_HEAD_BAD_LINE_END,
	.bad_start_line = HTTP_HEAD_BAD_REQUEST_LINE,
	.bad_version = HTTP_HEAD_BAD_VERSION,
	.obs_fold = HTTP_HEAD_OBS_FOLD,
	.space_before_colon = HTTP_HEAD_SPACE_BEFORE_COLON,
	.bad_header_name = HTTP_HEAD_BAD_HEADER_NAME,
	.bad_header_value = HTTP_HEAD_BAD_HEADER_VALUE,
};

/* What the scan found. */
struct head_spans {
	struct http_slice method, target;
	int version_minor;
	unsigned host_count;
	struct http_slice host; /* value of the Host line, OWS trimmed */
};

/* The request line; '#' is let through in the target, as VCHAR (the operator, which
 * parses the head again, refuses it). */
static int parse_request_line(struct http_scan *s, struct head_spans *sp)
{
	int ret;

	if ((ret = http_scan_blank_lines(s)) != 0 ||
	    (ret = http_scan_word(s, HTTP_TCHAR, HTTP_HEAD_BAD_METHOD, &sp->method)) != 0 ||
	    (ret = http_scan_word(s, HTTP_VCHAR, HTTP_HEAD_BAD_TARGET, &sp->target)) != 0 ||
	    (ret = http_scan_version(s, &sp->version_minor)) != 0)
		return ret;
	return http_scan_crlf(s);
}

/* Header lines up to and including the blank line. A second Host line is refused as
 * soon as its name is read (RFC 9112 §3.2). */
static int parse_headers(struct http_scan *s, struct head_spans *sp)
{
	struct http_slice name, value;
	bool is_host;
	int ret;

	while ((ret = http_scan_line_start(s)) == 0) {
		if ((ret = http_scan_field_name(s, HTTP_TCHAR, &name)) != 0)
			return ret;
		is_host = name.len == 4 && strncasecmp(name.p, "host", 4) == 0;
		if (is_host && ++sp->host_count > 1)
			return http_scan_reject(s, HTTP_HEAD_DUP_HOST);
		if ((ret = http_scan_field_value(s, &value)) != 0)
			return ret;
		if (is_host)
			sp->host = value;
	}
	return ret == 1 ? 0 : ret;
}

/* If the target is in absolute form, give its authority; returns 0 (not absolute-form,
 * *auth untouched), 1 (absolute-form) or AD_EPARSE. A target that does not start
 * with a scheme (RFC 3986 §3.1) may still be authority-form, for CONNECT. */
static int target_authority(const char *t, size_t n, struct http_slice *auth)
{
	size_t i = 0;

	if (n == 0 || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
		return 0;
	while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
			 (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' ||
			 t[i] == '.'))
		i++;
	return http_target_authority(t, n, i, auth);
}

/* With the head complete: the form of the target and where the host comes from. The
 * Host line is checked even when the target's authority wins, since a 400 is due for
 * an invalid one (RFC 9112 §3.2). */
static int choose_host(const struct head_spans *sp, struct http_head *out)
{
	struct http_slice t = sp->target, auth = { NULL, 0 };
	struct http_authority au;
	int absolute;

	absolute = target_authority(t.p, t.len, &auth);
	if (absolute < 0)
		goto bad_target;
	if (absolute == 0 && t.p[0] != '/' && !(t.len == 1 && t.p[0] == '*') &&
	    !(sp->method.len == 7 && memcmp(sp->method.p, "CONNECT", 7) == 0))
		goto bad_target; /* not origin-, asterisk-, authority- or absolute-form */

	if (sp->host_count == 0 && sp->version_minor >= 1) {
		out->reason = HTTP_HEAD_NO_HOST; /* RFC 9112 §3.2 */
		return AD_EPARSE;
	}
	if (sp->host.len > 0 && http_authority_parse(sp->host.p, sp->host.len, &au) != 0) {
		out->reason = HTTP_HEAD_BAD_HOST;
		return AD_EPARSE;
	}
	if (absolute == 1) {
		if (http_authority_parse(auth.p, auth.len, &au) != 0)
			goto bad_target;
		out->host_from_target = true;
	} else if (sp->host.len == 0) {
		out->reason = HTTP_HEAD_NO_NAME; /* HTTP/1.0 without Host, or Host: "" */
		return AD_ENOTFOUND;
	}
	memcpy(out->host, au.host, au.host_len + 1);
	out->host_len = au.host_len;
	out->port = au.port;
	out->host_is_ip = au.is_ip;
	out->reason = HTTP_HEAD_OK;
	return 0;
bad_target:
	out->reason = HTTP_HEAD_BAD_TARGET;
	return AD_EPARSE;
}

int http_head_parse(const char *buf, size_t len, struct http_head *out)
{
	struct http_scan s;
	struct head_spans sp = { 0 };
	size_t n;
	int ret = -EINVAL;

	if ((buf == NULL && len > 0) || out == NULL)
		goto done;
	http_scan_init(&s, buf, len, HTTP_HEAD_MAX, &head_scan_reasons);
	memset(out, 0, offsetof(struct http_head, host));
	out->host[0] = '\0';
	if (len == 0) {
		ret = http_scan_more(&s);
		goto out;
	}

	/* the HTTP/2 connection preface (RFC 9113 §3.4), or a prefix of it */
	n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
	if (memcmp(buf, h2_preface, n) == 0) {
		if (n == H2_PREFACE_LEN) {
			ret = http_scan_reject(&s, HTTP_HEAD_H2_PREFACE);
		} else {
			ret = http_scan_more(&s);
		}
		goto out;
	}

	if ((ret = parse_request_line(&s, &sp)) != 0 || (ret = parse_headers(&s, &sp)) != 0)
		goto out;
	out->head_len = s.pos;
	out->version_minor = sp.version_minor;
	ret = choose_host(&sp, out);
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
