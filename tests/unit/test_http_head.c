/* Unit tests for http_head: the routing host of an HTTP/1.x request head. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "http_head.h"

static int parse(const char *text, struct http_head *h)
{
	return http_head_parse(text, strlen(text), h);
}

/* Every strict prefix of text is "need more". */
static void assert_prefixes_truncated(const char *text, size_t upto)
{
	struct http_head h;
	for (size_t n = 0; n < upto; n++) {
		int ret = http_head_parse(text, n, &h);
		cr_assert_eq(ret, AD_ETRUNC, "prefix %zu of \"%s\": %s (%s)", n, text,
			     airdress_strerror(ret), http_head_reason_str(h.reason));
		cr_assert_eq(h.reason, HTTP_HEAD_INCOMPLETE);
	}
}

struct good {
	const char *text;
	const char *host;
	uint16_t port;
	bool from_target;
	bool is_ip;
};

static const struct good goods[] = {
	{ "GET / HTTP/1.1\r\nHost: app1.a.airdr.es\r\n\r\n", "app1.a.airdr.es", 0, 0, 0 },
	{ "GET /x?y=1 HTTP/1.1\r\nUser-Agent: t\r\nHOST:\tApp1.A.Airdr.ES.:8080 \t\r\n"
	  "Accept: */*\r\n\r\n", "app1.a.airdr.es", 8080, 0, 0 },
	{ "GET / HTTP/1.0\r\nhost: x\r\n\r\n", "x", 0, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n", "203.0.113.10", 0, 0, 1 },
	{ "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "::1", 80, 0, 1 },
	{ "GET / HTTP/1.1\r\nHost: [2001:DB8::A]\r\n\r\n", "2001:db8::a", 0, 0, 1 },
	{ "GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", "example.com", 0, 0, 0 },
	/* absolute-form: the target's authority wins (RFC 9112 §3.2.2) */
	{ "GET http://Target.Example:8080/x HTTP/1.1\r\nHost: other.example\r\n\r\n",
	  "target.example", 8080, 1, 0 },
	{ "GET HTTPS://t.example?q HTTP/1.1\r\nHost: other.example\r\n\r\n",
	  "t.example", 0, 1, 0 },
	{ "GET http://[::1]:81 HTTP/1.1\r\nHost: x\r\n\r\n", "::1", 81, 1, 1 },
	{ "GET http://t.example/ HTTP/1.0\r\n\r\n", "t.example", 0, 1, 0 },
	{ "OPTIONS * HTTP/1.1\r\nHost: x.example\r\n\r\n", "x.example", 0, 0, 0 },
	{ "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n", "x.example", 443,
	  0, 0 },
	/* blank lines before the request line are skipped (RFC 9112 §2.2) */
	{ "\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 0\r\nHost: x\r\n\r\n", "x", 0, 0, 0 },
	/* obs-text and an empty value are fine in other fields */
	{ "GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\nX-B:\r\nHost: x\r\n\r\n", "x", 0, 0, 0 },
	/* a later minor version is HTTP/1.1 to us (RFC 9110 §2.5) */
	{ "GET / HTTP/1.9\r\nHost: x\r\n\r\n", "x", 0, 0, 0 },
	{ "M-SEARCH! / HTTP/1.1\r\nHost: under_score.example\r\n\r\n", "under_score.example",
	  0, 0, 0 },
};

Test(http_head, good_heads_and_their_prefixes)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct http_head h;
		size_t n = strlen(g->text);
		int ret = parse(g->text, &h);
		cr_assert_eq(ret, 0, "\"%s\": %s (%s)", g->text, airdress_strerror(ret),
			     http_head_reason_str(h.reason));
		cr_assert_eq(h.reason, HTTP_HEAD_OK);
		cr_assert_str_eq(h.host, g->host);
		cr_assert_eq(h.host_len, strlen(g->host));
		cr_assert_eq(h.port, g->port, "\"%s\"", g->text);
		cr_assert_eq(h.host_from_target, g->from_target, "\"%s\"", g->text);
		cr_assert_eq(h.host_is_ip, g->is_ip, "\"%s\"", g->text);
		cr_assert_eq(h.head_len, n);
		assert_prefixes_truncated(g->text, n);
	}
}

Test(http_head, head_len_and_what_follows)
{
	static const char text[] = "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
				   "\x01\x02\n\n";
	struct http_head h;
	cr_assert_eq(http_head_parse(text, sizeof(text) - 1, &h), 0);
	cr_assert_eq(h.head_len, sizeof(text) - 1 - 9);
	cr_assert_eq(h.version_minor, 1);
}

struct bad {
	const char *text;
	size_t len; /* texts may hold a NUL */
	int ret;
	enum http_head_reason reason;
};

#define BAD(text, ret, reason) { text, sizeof(text) - 1, ret, reason }

static const struct bad bads[] = {
	/* request line */
	BAD("GET / HTTP/1.1\n", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET / HTTP/1.1\rX", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("\n", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET  / HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD(" GET / HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET /\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET / HTTP/1.1 \r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET / http/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET / HTTP/1.10\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET / HTTP/1\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("GET\r\n", AD_EPARSE, HTTP_HEAD_BAD_REQUEST_LINE),
	BAD("G@T / HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_METHOD),
	BAD("GE\x00T / HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_METHOD),
	BAD("GET /\x7f HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET /\x01 HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET /caf\xc3\xa9 HTTP/1.1\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET / HTTP/2.0\r\n", AD_EPARSE, HTTP_HEAD_BAD_VERSION),
	BAD("GET / HTTP/0.9\r\n", AD_EPARSE, HTTP_HEAD_BAD_VERSION),
	BAD("GET / HTTP/3", AD_EPARSE, HTTP_HEAD_BAD_VERSION),
	/* header lines */
	BAD("GET / HTTP/1.1\r\nHost: x\n", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET / HTTP/1.1\r\nHost: x\r\n\n", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET / HTTP/1.1\r\nHost: x\r\n\rX", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET / HTTP/1.1\r\nHost: x\rY\r\n", AD_EPARSE, HTTP_HEAD_BAD_LINE_END),
	BAD("GET / HTTP/1.1\r\nHost : x\r\n\r\n", AD_EPARSE, HTTP_HEAD_SPACE_BEFORE_COLON),
	BAD("GET / HTTP/1.1\r\nHost\t: x\r\n", AD_EPARSE, HTTP_HEAD_SPACE_BEFORE_COLON),
	BAD("GET / HTTP/1.1\r\n Host: x\r\n", AD_EPARSE, HTTP_HEAD_OBS_FOLD),
	BAD("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n", AD_EPARSE, HTTP_HEAD_OBS_FOLD),
	BAD("GET / HTTP/1.1\r\n: x\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_NAME),
	BAD("GET / HTTP/1.1\r\nHost\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_NAME),
	BAD("GET / HTTP/1.1\r\nX(A): x\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_NAME),
	BAD("GET / HTTP/1.1\r\nX-A: a\x01" "b\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_VALUE),
	BAD("GET / HTTP/1.1\r\nX-A: a\x7f\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_VALUE),
	BAD("GET / HTTP/1.1\r\nHost: x\r\nhost: x\r\n", AD_EPARSE, HTTP_HEAD_DUP_HOST),
	/* the host */
	BAD("GET / HTTP/1.1\r\n\r\n", AD_EPARSE, HTTP_HEAD_NO_HOST),
	BAD("GET http://x.example/ HTTP/1.1\r\n\r\n", AD_EPARSE, HTTP_HEAD_NO_HOST),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: x:80:80\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: x:65536\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: x:8a\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: ex%61mple.com\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: *.example\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	/* an invalid Host is refused even when the target's authority wins */
	BAD("GET http://x.example/ HTTP/1.1\r\nHost: a b\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_HOST),
	/* targets */
	BAD("GET x.example HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET ftp://x.example/ HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET http://u:p@x.example/ HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET http://x.example:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_TARGET),
	BAD("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 0, HTTP_HEAD_OK),
	/* no name */
	BAD("GET / HTTP/1.0\r\n\r\n", AD_ENOTFOUND, HTTP_HEAD_NO_NAME),
	BAD("GET / HTTP/1.1\r\nHost:\r\n\r\n", AD_ENOTFOUND, HTTP_HEAD_NO_NAME),
	BAD("GET / HTTP/1.1\r\nHost:  \t \r\n\r\n", AD_ENOTFOUND, HTTP_HEAD_NO_NAME),
	/* the h2 preface, and what is not one */
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", AD_EPARSE, HTTP_HEAD_H2_PREFACE),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", AD_EPARSE, HTTP_HEAD_H2_PREFACE),
	BAD("GET / HTTP/1.1\r\nX-A: \x00\r\n", AD_EPARSE, HTTP_HEAD_BAD_HEADER_VALUE),
	BAD("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", AD_EPARSE, HTTP_HEAD_BAD_VERSION),
	BAD("PRI * HTTP/2.0\r\n", AD_ETRUNC, HTTP_HEAD_INCOMPLETE),
	/* a TLS ClientHello on port 80: refused from its first byte */
	BAD("\x16\x03\x01\x02", AD_EPARSE, HTTP_HEAD_BAD_METHOD),
	BAD("", AD_ETRUNC, HTTP_HEAD_INCOMPLETE),
	BAD("GET / HTTP/1.1\r\nHost: x\r\n", AD_ETRUNC, HTTP_HEAD_INCOMPLETE),
};

Test(http_head, rejected_heads)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct http_head h;
		int ret = http_head_parse(b->text, b->len, &h);
		cr_assert_eq(ret, b->ret, "\"%s\": %s (%s)", b->text, airdress_strerror(ret),
			     http_head_reason_str(h.reason));
		cr_assert_eq(h.reason, b->reason, "\"%s\": reason %s, want %s", b->text,
			     http_head_reason_str(h.reason), http_head_reason_str(b->reason));
	}
}

Test(http_head, not_found_gives_head_len)
{
	struct http_head h;
	cr_assert_eq(parse("GET / HTTP/1.0\r\nAccept: */*\r\n\r\nxx", &h), AD_ENOTFOUND);
	cr_assert_eq(h.head_len, 31);
	cr_assert_eq(h.version_minor, 0);
	cr_assert_eq(h.host_len, 0);
}

Test(http_head, preface_prefixes_wait)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	assert_prefixes_truncated(preface, sizeof(preface) - 1);
}

static size_t make_head(char *buf, size_t head_len)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: big.example\r\nX-Pad: ";
	size_t n = strlen(start);
	memcpy(buf, start, n);
	cr_assert_geq(head_len, n + 4);
	memset(buf + n, 'p', head_len - n - 4);
	memcpy(buf + head_len - 4, "\r\n\r\n", 4);
	return head_len;
}

Test(http_head, size_limit)
{
	static char buf[3 * HTTP_HEAD_MAX];
	struct http_head h;

	size_t n = make_head(buf, HTTP_HEAD_MAX);
	cr_assert_eq(http_head_parse(buf, n, &h), 0);
	cr_assert_eq(h.head_len, HTTP_HEAD_MAX);
	cr_assert_str_eq(h.host, "big.example");
	cr_assert_eq(http_head_parse(buf, n - 1, &h), AD_ETRUNC);

	n = make_head(buf, HTTP_HEAD_MAX + 1);
	cr_assert_eq(http_head_parse(buf, n, &h), AD_ETOOBIG);
	cr_assert_eq(h.reason, HTTP_HEAD_TOO_BIG);
	cr_assert_eq(http_head_parse(buf, HTTP_HEAD_MAX, &h), AD_ETOOBIG);
	cr_assert_eq(http_head_parse(buf, HTTP_HEAD_MAX - 1, &h), AD_ETRUNC);
	n = make_head(buf, sizeof(buf));
	cr_assert_eq(http_head_parse(buf, n, &h), AD_ETOOBIG);

	/* an error before the limit is still reported as such */
	buf[100] = '\x01';
	cr_assert_eq(http_head_parse(buf, n, &h), AD_EPARSE);
	cr_assert_eq(h.reason, HTTP_HEAD_BAD_HEADER_VALUE);
}

Test(http_head, host_limits)
{
	char text[600], label[70], host[300];
	struct http_head h;

	memset(host, 'a', 253);
	for (size_t i = 62; i < 253; i += 63)
		host[i] = '.';
	host[253] = '\0';
	snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: %s.:443\r\n\r\n", host);
	cr_assert_eq(parse(text, &h), 0);
	cr_assert_str_eq(h.host, host);
	cr_assert_eq(h.port, 443);
	snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: %sa\r\n\r\n", host);
	cr_assert_eq(parse(text, &h), AD_EPARSE);
	cr_assert_eq(h.reason, HTTP_HEAD_BAD_HOST);

	memset(label, 'l', 64);
	label[64] = '\0';
	snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: %s.example\r\n\r\n", label);
	cr_assert_eq(parse(text, &h), AD_EPARSE);
	label[63] = '\0';
	snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: %s.example\r\n\r\n", label);
	cr_assert_eq(parse(text, &h), 0);
}

Test(http_head, reasons_have_text)
{
	for (int r = 0; r < HTTP_HEAD_REASON_COUNT; r++)
		cr_assert_not_null(http_head_reason_str((enum http_head_reason)r));
	cr_assert_str_eq(http_head_reason_str(HTTP_HEAD_DUP_HOST), "duplicate host");
	cr_assert_str_eq(http_head_reason_str((enum http_head_reason)999), "unknown");
}

Test(http_head, bad_arguments)
{
	struct http_head h;
	cr_assert_eq(http_head_parse(NULL, 3, &h), -EINVAL);
	cr_assert_eq(http_head_parse("GET", 3, NULL), -EINVAL);
}
