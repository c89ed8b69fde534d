/* Unit tests for http1: the operator's HTTP/1.1 heads, chunked bodies and rewriting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "http1.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct h1_request req_storage, req2_storage;
static struct h1_response resp_storage;

static int parse_req(const char *text, struct h1_request *r)
{
	return h1_parse_request(text, strlen(text), r);
}

static bool slice_is(struct h1_slice s, const char *text)
{
	return s.len == strlen(text) && memcmp(s.p, text, s.len) == 0;
}

/* Every strict prefix of a head is "need more"; the whole with bytes after it parses
 * to the same head_len. */
static void assert_prefixes_truncated(const char *text, bool response)
{
	size_t len = strlen(text);
	for (size_t n = 0; n < len; n++) {
		char *copy = malloc(n + 1); /* exact size: ASan sees an overread */
		memcpy(copy, text, n);
		int ret;
		enum h1_reason why;
		if (response) {
			ret = h1_parse_response(copy, n, NULL, &resp_storage);
			why = resp_storage.reason;
		} else {
			ret = h1_parse_request(copy, n, &req2_storage);
			why = req2_storage.reason;
		}
		free(copy);
		cr_assert_eq(ret, AD_ETRUNC, "prefix %zu of \"%s\": %s (%s)", n, text,
			     airdress_strerror(ret), h1_reason_str(why));
		cr_assert_eq(why, H1_INCOMPLETE);
	}
}

/* ------------------------------------------------------------ valid requests */

struct good_req {
	const char *text;
	enum h1_method method;
	enum h1_target_form form;
	const char *path;
	const char *authority;
	const char *host;
	uint16_t port;
	bool is_ip;
	int minor;
	bool keep_alive, upgrade, expect;
	enum h1_body body;
	uint64_t content_length;
	size_t headers;
};

static const struct good_req good_reqs[] = {
	{ .text = "GET / HTTP/1.1\r\nHost: app.example\r\n\r\n", .method = H1_METHOD_GET,
	  .path = "/", .authority = "app.example", .host = "app.example", .minor = 1,
	  .keep_alive = true, .headers = 1 },
	{ .text = "POST /u?x=1 HTTP/1.1\r\nhost:\tApp.Example.:8443 \r\nContent-Length: 5\r\n"
		  "Expect: 100-continue\r\n\r\n",
	  .method = H1_METHOD_POST, .path = "/u?x=1", .authority = "App.Example.:8443",
	  .host = "app.example", .port = 8443, .minor = 1, .keep_alive = true,
	  .expect = true, .body = H1_BODY_LENGTH, .content_length = 5, .headers = 3 },
	{ .text = "PUT /f HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\nTransfer-Encoding:\tChunked \r\n"
		  "\r\n",
	  .method = H1_METHOD_PUT, .path = "/f", .authority = "[2001:DB8::1]:80",
	  .host = "2001:db8::1", .port = 80, .is_ip = true, .minor = 1, .keep_alive = true,
	  .body = H1_BODY_CHUNKED, .headers = 2 },
	{ .text = "GET http://Target.Example:8080/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n",
	  .method = H1_METHOD_GET, .form = H1_FORM_ABSOLUTE, .path = "/x?y",
	  .authority = "Target.Example:8080", .host = "target.example", .port = 8080,
	  .minor = 1, .keep_alive = true, .headers = 1 },
	{ .text = "GET HTTPS://t.example?q HTTP/1.1\r\nHost: t.example\r\n\r\n",
	  .method = H1_METHOD_GET, .form = H1_FORM_ABSOLUTE, .path = "?q",
	  .authority = "t.example", .host = "t.example", .minor = 1, .keep_alive = true,
	  .headers = 1 },
	{ .text = "GET http://192.0.2.1 HTTP/1.0\r\n\r\n", .method = H1_METHOD_GET,
	  .form = H1_FORM_ABSOLUTE, .path = "", .authority = "192.0.2.1", .host = "192.0.2.1",
	  .is_ip = true },
	{ .text = "OPTIONS * HTTP/1.1\r\nHost: x.example\r\n\r\n", .method = H1_METHOD_OPTIONS,
	  .form = H1_FORM_ASTERISK, .path = "*", .authority = "x.example", .host = "x.example",
	  .minor = 1, .keep_alive = true, .headers = 1 },
	/* HTTP/1.0 without Host: accepted with no host (the proxy answers 421) */
	{ .text = "HEAD /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", .method = H1_METHOD_HEAD,
	  .path = "/h", .authority = "", .host = "", .keep_alive = true, .headers = 1 },
	/* blank lines before the request line (RFC 9112 §2.2) */
	{ .text = "\r\n\r\nDELETE /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
	  .method = H1_METHOD_DELETE, .path = "/d", .authority = "x", .host = "x", .minor = 1,
	  .keep_alive = true, .body = H1_BODY_LENGTH, .headers = 2 },
	/* other methods, obs-text, empty values, a later minor version */
	{ .text = "M-SEARCH! /%7e HTTP/1.9\r\nHost: x\r\nX-A: caf\xc3\xa9\r\nX-B:\r\n\r\n",
	  .method = H1_METHOD_OTHER, .path = "/%7e", .authority = "x", .host = "x",
	  .minor = 9, .keep_alive = true, .headers = 3 },
	{ .text = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:  0009223372036854775807 \r\n\r\n",
	  .method = H1_METHOD_GET, .path = "/", .authority = "x", .host = "x", .minor = 1,
	  .keep_alive = true, .body = H1_BODY_LENGTH, .content_length = INT64_MAX,
	  .headers = 2 },
	/* names with '_' that alias nothing we act on are fine */
	{ .text = "GET / HTTP/1.1\r\nHost: x\r\nX_Custom: 1\r\n\r\n", .method = H1_METHOD_GET,
	  .path = "/", .authority = "x", .host = "x", .minor = 1, .keep_alive = true,
	  .headers = 2 },
};

Test(http1, good_requests_and_their_prefixes)
{
	for (size_t i = 0; i < N_ELEMS(good_reqs); i++) {
		const struct good_req *g = &good_reqs[i];
		struct h1_request *r = &req_storage;
		int ret = parse_req(g->text, r);
		cr_assert_eq(ret, 0, "\"%s\": %s (%s)", g->text, airdress_strerror(ret),
			     h1_reason_str(r->reason));
		cr_assert_eq(r->reason, H1_OK);
		cr_assert_eq(r->head_len, strlen(g->text));
		cr_assert_eq(r->method, g->method, "\"%s\"", g->text);
		cr_assert_eq(r->form, g->form, "\"%s\"", g->text);
		cr_assert(slice_is(r->path, g->path), "\"%s\": path %.*s", g->text,
			  (int)r->path.len, r->path.p);
		cr_assert(slice_is(r->authority, g->authority), "\"%s\"", g->text);
		cr_assert_str_eq(r->host, g->host);
		cr_assert_eq(r->host_len, strlen(g->host));
		cr_assert_eq(r->port, g->port, "\"%s\"", g->text);
		cr_assert_eq(r->host_is_ip, g->is_ip, "\"%s\"", g->text);
		cr_assert_eq(r->version_minor, g->minor, "\"%s\"", g->text);
		cr_assert_eq(r->keep_alive, g->keep_alive, "\"%s\"", g->text);
		cr_assert_eq(r->upgrade, g->upgrade, "\"%s\"", g->text);
		cr_assert_eq(r->expect_continue, g->expect, "\"%s\"", g->text);
		cr_assert_eq(r->body, g->body, "\"%s\"", g->text);
		cr_assert_eq(r->content_length, g->content_length, "\"%s\"", g->text);
		cr_assert_eq(r->header_count, g->headers, "\"%s\"", g->text);
		assert_prefixes_truncated(g->text, false);
	}
}

Test(http1, header_slices_and_what_follows)
{
	static const char text[] = "POST /u HTTP/1.1\r\nHost: x\r\nX-Empty:   \r\n"
				   "Content-Length: 5\r\n\r\nhello\n\x01GET";
	struct h1_request *r = &req_storage;
	cr_assert_eq(h1_parse_request(text, sizeof(text) - 1, r), 0);
	cr_assert_eq(r->head_len, sizeof(text) - 1 - 10);
	cr_assert_eq(r->header_count, 3);
	cr_assert(slice_is(r->headers[0].name, "Host"));
	cr_assert(slice_is(r->headers[0].value, "x"));
	cr_assert(slice_is(r->headers[1].name, "X-Empty"));
	cr_assert_eq(r->headers[1].value.len, 0);
	cr_assert(slice_is(r->method_text, "POST"));
	cr_assert(slice_is(r->target, "/u"));
}

/* ------------------------------------------------------------ refused requests */

struct bad {
	const char *text;
	size_t len; /* texts may hold a NUL */
	int ret;
	enum h1_reason reason;
};

#define BAD(text, ret, reason) { text, sizeof(text) - 1, ret, reason }
#define H "GET / HTTP/1.1\r\nHost: x\r\n"
#define P "POST / HTTP/1.1\r\nHost: x\r\n"

static const struct bad bad_reqs[] = {
	/* request line */
	BAD("GET / HTTP/1.1\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD("GET / HTTP/1.1\rX", AD_EPARSE, H1_BAD_LINE_END),
	BAD("\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD("\r\n\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD("GET  / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD(" GET / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET /\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET / HTTP/1.1 \r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET / http/1.1\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET / HTTP/1.10\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET / HTTP/1\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("GET\r\n", AD_EPARSE, H1_BAD_START_LINE),
	BAD("G@T / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_METHOD),
	BAD("GE\x00T / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_METHOD),
	BAD("\x16\x03\x01\x02", AD_EPARSE, H1_BAD_METHOD),
	BAD("head / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_METHOD),
	BAD("Get / HTTP/1.1\r\n", AD_EPARSE, H1_BAD_METHOD),
	BAD("connect x:443 HTTP/1.1\r\n", AD_EPARSE, H1_BAD_METHOD),
	BAD("GET /\x7f HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET /\x01 HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET /a#f HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET /caf\xc3\xa9 HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET / HTTP/2.0\r\n", AD_EPARSE, H1_BAD_VERSION),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", AD_EPARSE, H1_BAD_VERSION),
	BAD("GET / HTTP/0.9\r\n", AD_EPARSE, H1_BAD_VERSION),
	/* targets, judged when the request line ends */
	BAD("CONNECT x.example:443 HTTP/1.1\r\n", AD_EPARSE, H1_CONNECT),
	BAD("CONNECT / HTTP/1.1\r\n", AD_EPARSE, H1_CONNECT),
	BAD("GET x.example:443 HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET * HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET ftp://x.example/ HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET http:/x HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET http:///x HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET http://u:p@x.example/ HTTP/1.1\r\n", AD_EPARSE, H1_BAD_TARGET),
	BAD("GET http://x.example:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", AD_EPARSE,
	    H1_BAD_TARGET),
	BAD("GET http://a b/ HTTP/1.1\r\n", AD_EPARSE, H1_BAD_START_LINE),
	/* header lines */
	BAD(H "X: y\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD(H "\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD(H "\rX", AD_EPARSE, H1_BAD_LINE_END),
	BAD(H "X: a\rb\r\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD(H "Host : x\r\n", AD_EPARSE, H1_SPACE_BEFORE_COLON),
	BAD(H "X\t: x\r\n", AD_EPARSE, H1_SPACE_BEFORE_COLON),
	BAD(H " X: y\r\n", AD_EPARSE, H1_OBS_FOLD),
	BAD(H "X: a\r\n\tb\r\n", AD_EPARSE, H1_OBS_FOLD),
	BAD(H ": x\r\n", AD_EPARSE, H1_BAD_HEADER_NAME),
	BAD(H "X\r\n", AD_EPARSE, H1_BAD_HEADER_NAME),
	BAD(H "X(A): x\r\n", AD_EPARSE, H1_BAD_HEADER_NAME),
	BAD(H "X\x00Y: x\r\n", AD_EPARSE, H1_BAD_HEADER_NAME),
	BAD(H "X: a\x01" "b\r\n", AD_EPARSE, H1_BAD_HEADER_VALUE),
	BAD(H "X: a\x7f\r\n", AD_EPARSE, H1_BAD_HEADER_VALUE),
	BAD(H "X: \x00\r\n", AD_EPARSE, H1_BAD_HEADER_VALUE),
	/* the host */
	BAD("GET / HTTP/1.1\r\n\r\n", AD_EPARSE, H1_NO_HOST),
	BAD("GET http://x.example/ HTTP/1.1\r\n\r\n", AD_EPARSE, H1_NO_HOST),
	BAD(H "host: x\r\n\r\n", AD_EPARSE, H1_DUP_HOST),
	BAD("GET / HTTP/1.1\r\nHost:\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.0\r\nHost: \r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: x:80:80\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: x:65536\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: ex%61mple.com\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: *.example\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	BAD("GET http://x.example/ HTTP/1.1\r\nHost: a b\r\n\r\n", AD_EPARSE, H1_BAD_HOST),
	/* CL.TE and TE.CL */
	BAD(P "Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n", AD_EPARSE,
	    H1_TE_AND_CL),
	BAD(P "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", AD_EPARSE,
	    H1_TE_AND_CL),
	BAD(P "Transfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n", AD_EPARSE,
	    H1_TE_AND_CL),
	BAD(P "Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n", AD_EPARSE,
	    H1_TE_AND_CL),
	/* Transfer-Encoding obfuscations */
	BAD(P "Transfer-Encoding : chunked\r\n\r\n", AD_EPARSE, H1_SPACE_BEFORE_COLON),
	BAD(P "Transfer-Encoding\t: chunked\r\n\r\n", AD_EPARSE, H1_SPACE_BEFORE_COLON),
	BAD(P " Transfer-Encoding: chunked\r\n\r\n", AD_EPARSE, H1_OBS_FOLD),
	BAD(P "X: y\r\n\tTransfer-Encoding: chunked\r\n\r\n", AD_EPARSE, H1_OBS_FOLD),
	BAD(P "Transfer-Encoding:\r\n chunked\r\n\r\n", AD_EPARSE, H1_OBS_FOLD),
	BAD(P "X: y\nTransfer-Encoding: chunked\r\n\r\n", AD_EPARSE, H1_BAD_LINE_END),
	BAD(P "Transfer-Encoding: \x0b" "chunked\r\n\r\n", AD_EPARSE, H1_BAD_HEADER_VALUE),
	BAD(P "Transfer-Encoding: chunked\x00\r\n\r\n", AD_EPARSE, H1_BAD_HEADER_VALUE),
	BAD(P "Transfer-Encoding: xchunked\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: chunk\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: \"chunked\"\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: chunked;q=1\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: chunked, identity\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: identity\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: chunked, chunked\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: chunked,\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding:\r\n\r\n", AD_EPARSE, H1_BAD_TE),
	BAD(P "Transfer-Encoding: gzip, chunked\r\n\r\n", AD_EPARSE, H1_TE_UNSUPPORTED),
	BAD(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", AD_EPARSE,
	    H1_DUP_TE),
	BAD(P "Transfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n", AD_EPARSE,
	    H1_DUP_TE),
	BAD(P "Transfer_Encoding: chunked\r\n\r\n", AD_EPARSE, H1_UNDERSCORE_NAME),
	BAD(P "Content_Length: 5\r\n\r\n", AD_EPARSE, H1_UNDERSCORE_NAME),
	BAD(H "X_Forwarded_For: 1.2.3.4\r\n\r\n", AD_EPARSE, H1_UNDERSCORE_NAME),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", AD_EPARSE, H1_TE_HTTP10),
	/* Content-Length */
	BAD(P "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", AD_EPARSE, H1_DUP_CL),
	BAD(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", AD_EPARSE, H1_DUP_CL),
	BAD(P "Content-Length: 5, 5\r\n\r\n", AD_EPARSE, H1_DUP_CL),
	BAD(P "Content-Length: 5,\r\n\r\n", AD_EPARSE, H1_DUP_CL),
	BAD(P "Content-Length: +5\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: -1\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 5 5\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 1 0\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 0x10\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 1e3\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 5\t;\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length:\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 9223372036854775808\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length: 99999999999999999999999\r\n\r\n", AD_EPARSE, H1_BAD_CL),
	BAD(P "Content-Length : 5\r\n\r\n", AD_EPARSE, H1_SPACE_BEFORE_COLON),
	/* incomplete */
	BAD("", AD_ETRUNC, H1_INCOMPLETE),
	BAD(H, AD_ETRUNC, H1_INCOMPLETE),
	BAD("\r\n\r\n\r\n", AD_ETRUNC, H1_INCOMPLETE),
};

Test(http1, refused_requests)
{
	for (size_t i = 0; i < N_ELEMS(bad_reqs); i++) {
		const struct bad *b = &bad_reqs[i];
		struct h1_request *r = &req_storage;
		int ret = h1_parse_request(b->text, b->len, r);
		cr_assert_eq(ret, b->ret, "\"%s\": %s (%s)", b->text, airdress_strerror(ret),
			     h1_reason_str(r->reason));
		cr_assert_eq(r->reason, b->reason, "\"%s\": reason %s, want %s", b->text,
			     h1_reason_str(r->reason), h1_reason_str(b->reason));
	}
}

Test(http1, rejection_statuses)
{
	cr_assert_eq(h1_reason_status(H1_CONNECT), 405);
	cr_assert_eq(h1_reason_status(H1_TE_UNSUPPORTED), 501);
	cr_assert_eq(h1_reason_status(H1_BAD_VERSION), 505);
	cr_assert_eq(h1_reason_status(H1_HEAD_TOO_BIG), 431);
	cr_assert_eq(h1_reason_status(H1_TOO_MANY_HEADERS), 431);
	cr_assert_eq(h1_reason_status(H1_TE_AND_CL), 400);
	cr_assert_eq(h1_reason_status(H1_BAD_CHUNK_SIZE), 400);
	cr_assert_eq(h1_reason_status(H1_INCOMPLETE), 0);
	for (int r = 0; r < H1_REASON_COUNT; r++) {
		cr_assert_not_null(h1_reason_str((enum h1_reason)r));
		cr_assert_str_neq(h1_reason_str((enum h1_reason)r), "unknown", "reason %d", r);
		if (r > H1_INCOMPLETE)
			cr_assert_geq(h1_reason_status((enum h1_reason)r), 400, "reason %d", r);
	}
	cr_assert_str_eq(h1_reason_str((enum h1_reason)999), "unknown");
}

/* ------------------------------------------------------------ limits */

static size_t make_head(char *buf, size_t head_len)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: big.example\r\nX-Pad: ";
	size_t n = strlen(start);
	memcpy(buf, start, n);
	memset(buf + n, 'p', head_len - n - 4);
	memcpy(buf + head_len - 4, "\r\n\r\n", 4);
	return head_len;
}

Test(http1, head_size_limit)
{
	static char buf[2 * H1_HEAD_MAX];
	struct h1_request *r = &req_storage;

	size_t n = make_head(buf, H1_HEAD_MAX);
	cr_assert_eq(h1_parse_request(buf, n, r), 0);
	cr_assert_eq(r->head_len, H1_HEAD_MAX);
	cr_assert_eq(h1_parse_request(buf, n - 1, r), AD_ETRUNC);

	n = make_head(buf, H1_HEAD_MAX + 1);
	cr_assert_eq(h1_parse_request(buf, n, r), AD_ETOOBIG);
	cr_assert_eq(r->reason, H1_HEAD_TOO_BIG);
	cr_assert_eq(h1_reason_status(r->reason), 431);
	cr_assert_eq(h1_parse_request(buf, H1_HEAD_MAX, r), AD_ETOOBIG);
	cr_assert_eq(h1_parse_request(buf, H1_HEAD_MAX - 1, r), AD_ETRUNC);
	n = make_head(buf, sizeof(buf));
	cr_assert_eq(h1_parse_request(buf, n, r), AD_ETOOBIG);
	buf[100] = '\x01'; /* an error before the limit is reported as such */
	cr_assert_eq(h1_parse_request(buf, n, r), AD_EPARSE);
	cr_assert_eq(r->reason, H1_BAD_HEADER_VALUE);
}

Test(http1, header_count_limit)
{
	static char buf[4096];
	struct h1_request *r = &req_storage;
	size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");

	for (int i = 1; i < H1_HEADERS_MAX; i++)
		n += (size_t)sprintf(buf + n, "X%d: %d\r\n", i, i);
	strcpy(buf + n, "\r\n");
	cr_assert_eq(h1_parse_request(buf, n + 2, r), 0);
	cr_assert_eq(r->header_count, H1_HEADERS_MAX);
	cr_assert(slice_is(r->headers[H1_HEADERS_MAX - 1].value, "99"));

	n += (size_t)sprintf(buf + n, "X: one too many\r\n\r\n");
	cr_assert_eq(h1_parse_request(buf, n, r), AD_ETOOBIG);
	cr_assert_eq(r->reason, H1_TOO_MANY_HEADERS);
}

Test(http1, bad_arguments)
{
	struct h1_request *r = &req_storage;
	struct h1_chunked c;
	struct h1_slice d;
	size_t used;
	char out[64];

	cr_assert_eq(h1_parse_request(NULL, 3, r), -EINVAL);
	cr_assert_eq(h1_parse_request("GET", 3, NULL), -EINVAL);
	cr_assert_eq(h1_parse_response(NULL, 3, NULL, &resp_storage), -EINVAL);
	cr_assert_eq(h1_parse_response("HTTP", 4, NULL, NULL), -EINVAL);
	h1_chunked_init(&c);
	cr_assert_eq(h1_chunked_decode(&c, NULL, 3, &used, &d), -EINVAL);
	cr_assert_eq(h1_chunked_decode(&c, "0", 1, NULL, &d), -EINVAL);
	cr_assert_eq(h1_write_request_head(NULL, NULL, out, sizeof(out)), -EINVAL);
	cr_assert_eq(parse_req("GET / HTTP/1.1\r\n\r\n", r), AD_EPARSE);
	cr_assert_eq(h1_write_request_head(r, NULL, out, sizeof(out)), -EINVAL);
	cr_assert_eq(h1_write_response_head(NULL, NULL, out, sizeof(out)), -EINVAL);
}

/* ------------------------------------------------------------ semantics */

struct ka_case {
	const char *version;
	const char *connection; /* NULL: no Connection field */
	bool keep_alive;
};

Test(http1, keep_alive_matrix)
{
	static const struct ka_case cases[] = {
		{ "1.1", NULL, true },
		{ "1.1", "close", false },
		{ "1.1", "Close", false },
		{ "1.1", "keep-alive", true },
		{ "1.1", "foo, CLOSE", false },
		{ "1.1", "keep-alive, close", false },
		{ "1.1", "closed", true },
		{ "1.1", "x-close", true },
		{ "1.0", NULL, false },
		{ "1.0", "keep-alive", true },
		{ "1.0", "Keep-Alive", true },
		{ "1.0", "te, keep-alive", true },
		{ "1.0", "close, keep-alive", false },
		{ "1.0", "keepalive", false },
		{ "1.0", "close", false },
	};
	char text[256];

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		const struct ka_case *k = &cases[i];
		const char *v = k->version;
		int n = snprintf(text, sizeof(text), "GET / HTTP/%s\r\nHost: x\r\n", v);
		if (k->connection != NULL)
			n += snprintf(text + n, sizeof(text) - (size_t)n, "Connection: %s\r\n",
				      k->connection);
		snprintf(text + n, sizeof(text) - (size_t)n, "\r\n");
		cr_assert_eq(parse_req(text, &req_storage), 0, "%s", text);
		cr_assert_eq(req_storage.keep_alive, k->keep_alive, "%s", text);
	}
	/* Connection split over two lines */
	cr_assert_eq(parse_req("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close"
			       "\r\n\r\n", &req_storage), 0);
	cr_assert_not(req_storage.keep_alive);
}

struct upgrade_case {
	const char *text;
	bool upgrade;
};

Test(http1, upgrade_and_expect_detection)
{
	static const struct upgrade_case cases[] = {
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		  true },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, upgrade\r\n"
		  "Upgrade: WebSocket\r\n\r\n", true },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: foo, websocket/13\r\n"
		  "Connection: upgrade\r\n\r\n", true },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", false },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n", false },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
		  false },
		{ "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websockets\r\n\r\n",
		  false },
		{ "POST /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		  false },
		{ "GET /ws HTTP/1.0\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		  false },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		cr_assert_eq(parse_req(cases[i].text, &req_storage), 0, "%s", cases[i].text);
		cr_assert_eq(req_storage.upgrade, cases[i].upgrade, "%s", cases[i].text);
	}

	cr_assert_eq(parse_req(P "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
			       &req_storage), 0);
	cr_assert(req_storage.expect_continue);
	cr_assert_eq(parse_req(P "Expect: 200-ok\r\n\r\n", &req_storage), 0);
	cr_assert_not(req_storage.expect_continue);
	cr_assert_eq(parse_req("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
			       &req_storage), 0);
	cr_assert_not(req_storage.expect_continue); /* RFC 9110 §10.1.1 */
}

/* ------------------------------------------------------------ responses */

struct resp_case {
	const char *text;
	const char *request; /* NULL: no request given */
	int ret;
	enum h1_reason reason;
	int status;
	enum h1_body framing, body;
	uint64_t content_length;
	bool keep_alive, upgrade;
};

static const char get_req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static const char head_req[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
static const char ws_req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
			     "Upgrade: websocket\r\n\r\n";

#define RBAD(text, req, ret, reason) \
	{ text, req, ret, reason, 0, H1_BODY_NONE, H1_BODY_NONE, 0, false, false }

static const struct resp_case resp_cases[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", get_req, 0, H1_OK, 200,
	  H1_BODY_LENGTH, H1_BODY_LENGTH, 12, true, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", NULL, 0, H1_OK, 200,
	  H1_BODY_CHUNKED, H1_BODY_CHUNKED, 0, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", get_req, 0, H1_OK,
	  200, H1_BODY_NONE, H1_BODY_CLOSE, 0, false, false },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", get_req, 0, H1_OK, 204,
	  H1_BODY_LENGTH, H1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", get_req, 0, H1_OK, 304,
	  H1_BODY_LENGTH, H1_BODY_NONE, 99, true, false },
	{ "HTTP/1.1 304 Not Modified\r\n\r\n", get_req, 0, H1_OK, 304, H1_BODY_NONE,
	  H1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head_req, 0, H1_OK, 200,
	  H1_BODY_LENGTH, H1_BODY_NONE, 99, true, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head_req, 0, H1_OK, 200,
	  H1_BODY_CHUNKED, H1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 200 OK\r\n\r\n", head_req, 0, H1_OK, 200, H1_BODY_NONE, H1_BODY_NONE, 0,
	  true, false },
	{ "HTTP/1.1 100 Continue\r\n\r\n", get_req, 0, H1_OK, 100, H1_BODY_NONE, H1_BODY_NONE,
	  0, true, false },
	{ "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", get_req, 0, H1_OK,
	  103, H1_BODY_NONE, H1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "\r\n", ws_req, 0, H1_OK, 101, H1_BODY_NONE, H1_BODY_NONE, 0, false, true },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", get_req, 0,
	  H1_OK, 200, H1_BODY_LENGTH, H1_BODY_LENGTH, 1, false, false },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", get_req, 0, H1_OK, 200,
	  H1_BODY_LENGTH, H1_BODY_LENGTH, 1, false, false },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", get_req, 0,
	  H1_OK, 200, H1_BODY_LENGTH, H1_BODY_LENGTH, 1, true, false },
	{ "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", get_req, 0, H1_OK, 200, H1_BODY_LENGTH,
	  H1_BODY_LENGTH, 0, true, false },
	{ "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", get_req, 0, H1_OK, 404,
	  H1_BODY_LENGTH, H1_BODY_LENGTH, 0, true, false },
	{ "HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n", get_req, 0, H1_OK, 599,
	  H1_BODY_LENGTH, H1_BODY_LENGTH, 0, true, false },
	/* refused: each is a 502 */
	RBAD("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", get_req,
	     AD_EPARSE, H1_UNEXPECTED_101),
	RBAD("HTTP/1.1 101 Switching Protocols\r\n\r\n", ws_req, AD_EPARSE, H1_UNEXPECTED_101),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", get_req,
	     AD_EPARSE, H1_TE_AND_CL),
	RBAD("HTTP/1.1 304 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", get_req,
	     AD_EPARSE, H1_TE_AND_CL),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", get_req,
	     AD_EPARSE, H1_DUP_CL),
	RBAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", get_req, AD_EPARSE, H1_BAD_TE),
	RBAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", get_req,
	     AD_EPARSE, H1_TE_HTTP10),
	RBAD("HTTP/1.1 099 x\r\n", NULL, AD_EPARSE, H1_BAD_STATUS),
	RBAD("HTTP/1.1 600 x\r\n", NULL, AD_EPARSE, H1_BAD_STATUS),
	RBAD("HTTP/1.1 2000 OK\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("HTTP/1.1 20 OK\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("HTTP/1.1  200 OK\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("HTTP/1.1 200 O\x01K\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("HTTP/1.1 200 OK\n", NULL, AD_EPARSE, H1_BAD_LINE_END),
	RBAD("HTTP/2 200 OK\r\n", NULL, AD_EPARSE, H1_BAD_VERSION),
	RBAD("http/1.1 200 OK\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("\r\nHTTP/1.1 200 OK\r\n", NULL, AD_EPARSE, H1_BAD_START_LINE),
	RBAD("HTTP/1.1 200 OK\r\nX : y\r\n", NULL, AD_EPARSE, H1_SPACE_BEFORE_COLON),
	RBAD("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n", NULL, AD_EPARSE, H1_OBS_FOLD),
	RBAD("HTTP/1.1 200 OK\r\nX: y\r\n", NULL, AD_ETRUNC, H1_INCOMPLETE),
};

Test(http1, response_framing)
{
	for (size_t i = 0; i < N_ELEMS(resp_cases); i++) {
		const struct resp_case *c = &resp_cases[i];
		struct h1_request *req = NULL;
		struct h1_response *r = &resp_storage;
		if (c->request != NULL) {
			cr_assert_eq(parse_req(c->request, &req_storage), 0);
			req = &req_storage;
		}
		int ret = h1_parse_response(c->text, strlen(c->text), req, r);
		cr_assert_eq(ret, c->ret, "\"%s\": %s (%s)", c->text, airdress_strerror(ret),
			     h1_reason_str(r->reason));
		cr_assert_eq(r->reason, c->reason, "\"%s\": %s", c->text, h1_reason_str(r->reason));
		if (ret != 0)
			continue;
		cr_assert_eq(r->head_len, strlen(c->text));
		cr_assert_eq(r->status, c->status, "\"%s\"", c->text);
		cr_assert_eq(r->framing, c->framing, "\"%s\"", c->text);
		cr_assert_eq(r->body, c->body, "\"%s\"", c->text);
		cr_assert_eq(r->content_length, c->content_length, "\"%s\"", c->text);
		cr_assert_eq(r->keep_alive, c->keep_alive, "\"%s\"", c->text);
		cr_assert_eq(r->upgrade, c->upgrade, "\"%s\"", c->text);
		assert_prefixes_truncated(c->text, true);
	}
}

Test(http1, interim_then_final_response)
{
	static const char text[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
				   "Content-Length: 2\r\n\r\nok";
	struct h1_response *r = &resp_storage;
	cr_assert_eq(h1_parse_response(text, sizeof(text) - 1, NULL, r), 0);
	cr_assert_eq(r->status, 100);
	size_t off = r->head_len;
	cr_assert_eq(h1_parse_response(text + off, sizeof(text) - 1 - off, NULL, r), 0);
	cr_assert_eq(r->status, 201);
	cr_assert(slice_is(r->reason_phrase, "Created"));
	cr_assert_eq(off + r->head_len, sizeof(text) - 1 - 2);
}

/* ------------------------------------------------------------ chunked bodies */

struct chunk_case {
	const char *text;
	size_t len;
	int ret;             /* final result over the whole input */
	enum h1_reason reason;
	const char *body;    /* decoded (NULL: not checked) */
	size_t rest;         /* bytes left after the end (ret == 1) */
};

#define CH(text, ret, reason, body, rest) { text, sizeof(text) - 1, ret, reason, body, rest }

static const struct chunk_case chunk_cases[] = {
	CH("5\r\nhello\r\n0\r\n\r\n", 1, H1_OK, "hello", 0),
	CH("5;ext=1;foo=\"b a;r\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\nY:\r\n\r\nNEXT", 1,
	   H1_OK, "hello world", 4),
	CH("A\r\n0123456789\r\n00000\r\n\r\n", 1, H1_OK, "0123456789", 0),
	CH("0000000000000000000000001\r\nz\r\n0\r\n\r\n", 1, H1_OK, "z", 0),
	CH("1f\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n", 1, H1_OK,
	   "0123456789abcdef0123456789abcde", 0),
	CH("3 \t;x\r\nabc\r\n0 ;y\r\n\r\n", 1, H1_OK, "abc", 0),
	CH("2\r\n\r\n\r\n0\r\n\r\n", 1, H1_OK, "\r\n", 0),
	CH("0\r\n\r\n\r\n", 1, H1_OK, "", 2),
	CH("5\r\nhel", 0, H1_OK, "hel", 0),
	CH("7fffffffffffffff\r\nabc", 0, H1_OK, "abc", 0),
	CH("5\r\nhello\r\n0\r\nX: y\r\n", 0, H1_OK, "hello", 0),
	/* sizes */
	CH("g\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH(" 5\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("+5\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("-5\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("0x5\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("5 \r\nhello\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("5 x\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("5,5\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("5\x00\r\n", AD_EPARSE, H1_BAD_CHUNK_SIZE, "", 0),
	CH("8000000000000000\r\n", AD_ETOOBIG, H1_CHUNK_SIZE_OVERFLOW, "", 0),
	CH("fffffffffffffffff\r\n", AD_ETOOBIG, H1_CHUNK_SIZE_OVERFLOW, "", 0),
	CH("10000000000000000000000000000000\r\n", AD_ETOOBIG, H1_CHUNK_SIZE_OVERFLOW, "", 0),
	/* line ends and data ends */
	CH("5\nhello\r\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("5\r\rhello\r\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("5;a\nhello\r\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("5\r\nhelloX\r\n", AD_EPARSE, H1_BAD_CHUNK_END, "hello", 0),
	CH("5\r\nhello\n0\r\n\r\n", AD_EPARSE, H1_BAD_CHUNK_END, "hello", 0),
	CH("5\r\nhello\rX", AD_EPARSE, H1_BAD_CHUNK_END, "hello", 0),
	CH("3\r\nhello\r\n", AD_EPARSE, H1_BAD_CHUNK_END, "hel", 0),
	/* extensions */
	CH("5;a\x01\r\n", AD_EPARSE, H1_BAD_CHUNK_EXT, "", 0),
	CH("5;a\x7f\r\n", AD_EPARSE, H1_BAD_CHUNK_EXT, "", 0),
	/* trailers */
	CH("0\r\nX\r\n\r\n", AD_EPARSE, H1_BAD_TRAILER, "", 0),
	CH("0\r\n X: y\r\n\r\n", AD_EPARSE, H1_BAD_TRAILER, "", 0),
	CH("0\r\nX : y\r\n\r\n", AD_EPARSE, H1_BAD_TRAILER, "", 0),
	CH("0\r\nX: \x01\r\n\r\n", AD_EPARSE, H1_BAD_TRAILER, "", 0),
	CH("0\r\nX: y\n\r\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("0\r\nX: y\rz", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("0\r\n\n", AD_EPARSE, H1_BAD_LINE_END, "", 0),
	CH("0\r\n\rX", AD_EPARSE, H1_BAD_LINE_END, "", 0),
};

struct decoded {
	int ret;
	enum h1_reason reason;
	size_t consumed;
	size_t body_len;
	char body[64 * 1024];
};

static struct decoded whole_result, split_result;

static unsigned long lcg_state = 12345;

static size_t lcg(size_t bound)
{
	lcg_state = lcg_state * 6364136223846793005UL + 1442695040888963407UL;
	return bound ? (size_t)((lcg_state >> 33) % bound) : 0;
}

/* Decode text, handed over in pieces: step 0 all at once, 1 byte by byte, else
 * random pieces of 1..step bytes. Each piece is an exact-size copy (ASan). */
static void decode(const char *text, size_t len, size_t step, struct decoded *d)
{
	struct h1_chunked c;
	size_t off = 0;

	h1_chunked_init(&c);
	memset(d, 0, sizeof(*d));
	while (off < len) {
		size_t piece = step == 0 ? len - off : step == 1 ? 1 : 1 + lcg(step);
		if (piece > len - off)
			piece = len - off;
		char *copy = malloc(piece);
		memcpy(copy, text + off, piece);
		size_t pos = 0;
		for (;;) {
			struct h1_slice data;
			size_t used;
			d->ret = h1_chunked_decode(&c, copy + pos, piece - pos, &used, &data);
			cr_assert_leq(used, piece - pos);
			if (data.len > 0) {
				cr_assert_geq(data.p, copy + pos);
				cr_assert_leq(data.p + data.len, copy + pos + used);
				cr_assert_leq(d->body_len + data.len, sizeof(d->body));
				memcpy(d->body + d->body_len, data.p, data.len);
				d->body_len += data.len;
			}
			pos += used;
			if (d->ret != 0 || pos == piece)
				break;
			cr_assert_gt(used, 0, "no progress");
		}
		free(copy);
		off += pos;
		if (d->ret != 0)
			break;
	}
	d->reason = c.reason;
	d->consumed = off;
	if (d->ret == 0)
		cr_assert_eq(d->consumed, len);
	cr_assert_eq(c.body_len, d->body_len);
}

Test(http1, chunked_reference_decodings_in_any_split)
{
	for (size_t i = 0; i < N_ELEMS(chunk_cases); i++) {
		const struct chunk_case *k = &chunk_cases[i];
		decode(k->text, k->len, 0, &whole_result);
		cr_assert_eq(whole_result.ret, k->ret, "\"%s\": %d (%s)", k->text,
			     whole_result.ret, h1_reason_str(whole_result.reason));
		cr_assert_eq(whole_result.reason, k->reason, "\"%s\": %s", k->text,
			     h1_reason_str(whole_result.reason));
		if (k->ret == 1)
			cr_assert_eq(k->len - whole_result.consumed, k->rest, "\"%s\"", k->text);
		cr_assert_eq(whole_result.body_len, strlen(k->body), "\"%s\"", k->text);
		cr_assert_eq(memcmp(whole_result.body, k->body, whole_result.body_len), 0);

		for (size_t step = 1; step < 12; step++) {
			for (int round = 0; round < (step == 1 ? 1 : 20); round++) {
				decode(k->text, k->len, step, &split_result);
				cr_assert_eq(split_result.ret, whole_result.ret, "\"%s\" step %zu",
					     k->text, step);
				cr_assert_eq(split_result.reason, whole_result.reason);
				cr_assert_eq(split_result.body_len, whole_result.body_len);
				cr_assert_eq(memcmp(split_result.body, whole_result.body,
						    whole_result.body_len), 0);
				if (k->ret == 1)
					cr_assert_eq(split_result.consumed, whole_result.consumed);
			}
		}
	}
}

/* Encode a random body in random chunk sizes with random extensions and trailers;
 * decoding it in random pieces gives the body back and stops at the end. */
Test(http1, chunked_random_round_trip)
{
	static char body[16 * 1024], wire[48 * 1024];

	for (int round = 0; round < 200; round++) {
		size_t blen = lcg(sizeof(body)), wlen = 0, off = 0;
		for (size_t i = 0; i < blen; i++)
			body[i] = (char)lcg(256);
		while (off < blen) {
			size_t n = 1 + lcg(blen - off < 3000 ? blen - off : 3000);
			wlen += (size_t)sprintf(wire + wlen, lcg(2) ? "%zx" : "%zX", n);
			if (lcg(4) == 0)
				wlen += (size_t)sprintf(wire + wlen, " ;e=%zu;f=\"x y\"", n);
			wlen += (size_t)sprintf(wire + wlen, "\r\n");
			memcpy(wire + wlen, body + off, n);
			wlen += n;
			off += n;
			wlen += (size_t)sprintf(wire + wlen, "\r\n");
		}
		wlen += (size_t)sprintf(wire + wlen, "0\r\n%s\r\nNEXT",
					lcg(2) ? "X-Sum: 1\r\nX-Other: a b\r\n" : "");
		decode(wire, wlen, 1 + lcg(64), &split_result);
		cr_assert_eq(split_result.ret, 1);
		cr_assert_eq(split_result.consumed, wlen - 4);
		cr_assert_eq(split_result.body_len, blen);
		cr_assert_eq(memcmp(split_result.body, body, blen), 0);
	}
}

Test(http1, chunked_bounds)
{
	static char wire[H1_TRAILERS_MAX + 1024];
	size_t n;

	/* a chunk-size line of exactly H1_CHUNK_LINE_MAX bytes, then one more */
	n = (size_t)sprintf(wire, "1;");
	memset(wire + n, 'e', H1_CHUNK_LINE_MAX - n - 2);
	memcpy(wire + H1_CHUNK_LINE_MAX - 2, "\r\nx\r\n0\r\n\r\n", 10);
	decode(wire, H1_CHUNK_LINE_MAX + 8, 0, &whole_result);
	cr_assert_eq(whole_result.ret, 1);
	memset(wire + n, 'e', H1_CHUNK_LINE_MAX - n - 1);
	memcpy(wire + H1_CHUNK_LINE_MAX - 1, "\r\nx\r\n0\r\n\r\n", 10);
	decode(wire, H1_CHUNK_LINE_MAX + 9, 7, &whole_result);
	cr_assert_eq(whole_result.ret, AD_ETOOBIG);
	cr_assert_eq(whole_result.reason, H1_CHUNK_LINE_TOO_BIG);

	/* trailers of exactly H1_TRAILERS_MAX bytes, then one more */
	n = (size_t)sprintf(wire, "0\r\nX: ");
	memset(wire + n, 't', H1_TRAILERS_MAX - 3 - 4); /* "X: ", t..., CRLF CRLF */
	memcpy(wire + 3 + H1_TRAILERS_MAX - 4, "\r\n\r\n", 4);
	decode(wire, 3 + H1_TRAILERS_MAX, 0, &whole_result);
	cr_assert_eq(whole_result.ret, 1);
	wire[3 + H1_TRAILERS_MAX - 4] = 't';
	memcpy(wire + 3 + H1_TRAILERS_MAX - 3, "\r\n\r\n", 4);
	decode(wire, 3 + H1_TRAILERS_MAX + 1, 0, &whole_result);
	cr_assert_eq(whole_result.ret, AD_ETOOBIG);
	cr_assert_eq(whole_result.reason, H1_TRAILERS_TOO_BIG);
}

Test(http1, chunked_end_and_error_are_sticky)
{
	struct h1_chunked c;
	struct h1_slice d;
	size_t used;

	h1_chunked_init(&c);
	cr_assert_eq(h1_chunked_decode(&c, "0\r\n\r\nX", 6, &used, &d), 1);
	cr_assert_eq(used, 5);
	cr_assert_eq(h1_chunked_decode(&c, "X", 1, &used, &d), 1);
	cr_assert_eq(used, 0);
	cr_assert_eq(d.len, 0);

	h1_chunked_init(&c);
	cr_assert_eq(h1_chunked_decode(&c, "z", 1, &used, &d), AD_EPARSE);
	cr_assert_eq(h1_chunked_decode(&c, "0\r\n\r\n", 5, &used, &d), AD_EPARSE);
	cr_assert_eq(used, 0);
	cr_assert_eq(c.reason, H1_BAD_CHUNK_SIZE);
	cr_assert_eq(h1_reason_status(c.reason), 400);
	cr_assert_eq(h1_chunked_decode(&c, NULL, 0, &used, &d), AD_EPARSE);

	h1_chunked_init(&c);
	cr_assert_eq(h1_chunked_decode(&c, NULL, 0, &used, &d), 0);
	cr_assert_eq(used, 0);
}

/* ------------------------------------------------------------ rewriting */

struct rewrite_case {
	const char *request;
	struct h1_forward fwd;
	bool no_fwd;
	const char *expect;
};

static const struct rewrite_case rewrite_cases[] = {
	/* absolute-form, hop-by-hop, Connection-listed, client X-Forwarded-* dropped */
	{ "POST http://App.Example:8443/api?x=1 HTTP/1.1\r\nHost: ignored.example\r\n"
	  "User-Agent: t\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
	  "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Connection: x\r\n"
	  "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=evil\r\nX-Real-IP: 6.6.6.6\r\n"
	  "X-Forwarded-Host: evil\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 1\r\n"
	  "Content-Length: 5\r\nAccept: */*\r\nUpgrade: websocket\r\n\r\n",
	  { .client_addr = "2001:db8::7", .proto = "https" }, false,
	  "POST /api?x=1 HTTP/1.1\r\nHost: App.Example:8443\r\nUser-Agent: t\r\nAccept: */*\r\n"
	  "Content-Length: 5\r\n"
	  "Forwarded: for=\"[2001:db8::7]\";proto=https;host=\"App.Example:8443\"\r\n"
	  "X-Forwarded-For: 2001:db8::7\r\nX-Forwarded-Proto: https\r\n"
	  "X-Forwarded-Host: App.Example:8443\r\n\r\n" },
	/* WebSocket: Connection: upgrade and Upgrade kept */
	{ "GET /ws HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	  "Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n",
	  { .client_addr = "192.0.2.7", .proto = "https" }, false,
	  "GET /ws HTTP/1.1\r\nHost: a.example\r\nSec-WebSocket-Key: k\r\n"
	  "Sec-WebSocket-Version: 13\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
	  "Forwarded: for=192.0.2.7;proto=https;host=a.example\r\n"
	  "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
	  "X-Forwarded-Host: a.example\r\n\r\n" },
	/* a trusted proxy in front: its Forwarded and X-Forwarded-For extended */
	{ "GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 198.51.100.1\r\n"
	  "X-Forwarded-For: 198.51.100.2\r\nForwarded: for=198.51.100.1\r\n"
	  "X-Forwarded-Proto: http\r\nTransfer-Encoding: chunked\r\n\r\n",
	  { .client_addr = "10.0.0.1", .proto = "https", .trust_client = true,
	    .upstream_close = true }, false,
	  "GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Proto: http\r\n"
	  "Transfer-Encoding: chunked\r\nConnection: close\r\n"
	  "Forwarded: for=198.51.100.1, for=10.0.0.1;proto=https;host=a.example\r\n"
	  "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 10.0.0.1\r\n"
	  "X-Forwarded-Host: a.example\r\n\r\n" },
	/* Connection naming what the proxy sets or frames with changes nothing */
	{ "POST / HTTP/1.1\r\nHost: a.example\r\nConnection: Host, X-Forwarded-For, "
	  "Content-Length, Forwarded\r\nContent-Length: 0\r\n\r\n",
	  { .client_addr = "192.0.2.7", .proto = "http" }, false,
	  "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 0\r\n"
	  "Forwarded: for=192.0.2.7;proto=http;host=a.example\r\n"
	  "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
	  "X-Forwarded-Host: a.example\r\n\r\n" },
	/* defaults; HTTP/1.0 without Host; asterisk-form */
	{ "OPTIONS * HTTP/1.0\r\n\r\n", { 0 }, true,
	  "OPTIONS * HTTP/1.1\r\nHost: \r\nForwarded: for=unknown;proto=https\r\n"
	  "X-Forwarded-Proto: https\r\n\r\n" },
	/* absolute-form without a path; the original host given */
	{ "GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n",
	  { .client_addr = "::1", .host = "Public.Example" }, false,
	  "GET /?q HTTP/1.1\r\nHost: a.example\r\n"
	  "Forwarded: for=\"[::1]\";proto=https;host=Public.Example\r\n"
	  "X-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\n"
	  "X-Forwarded-Host: Public.Example\r\n\r\n" },
	/* a host given that is no token is quoted, '"' and '\\' escaped */
	{ "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	  { .client_addr = "192.0.2.7", .host = "a\"b\\c" }, false,
	  "GET / HTTP/1.1\r\nHost: a.example\r\n"
	  "Forwarded: for=192.0.2.7;proto=https;host=\"a\\\"b\\\\c\"\r\n"
	  "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
	  "X-Forwarded-Host: a\"b\\c\r\n\r\n" },
	{ "GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
	  { .client_addr = "192.0.2.7" }, false,
	  "GET / HTTP/1.1\r\nHost: a.example\r\n"
	  "Forwarded: for=192.0.2.7;proto=https;host=a.example\r\n"
	  "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
	  "X-Forwarded-Host: a.example\r\n\r\n" },
};

Test(http1, request_rewriting)
{
	static char out[4096];
	for (size_t i = 0; i < N_ELEMS(rewrite_cases); i++) {
		const struct rewrite_case *c = &rewrite_cases[i];
		const struct h1_forward *fwd = c->no_fwd ? NULL : &c->fwd;
		cr_assert_eq(parse_req(c->request, &req_storage), 0, "%s", c->request);
		int n = h1_write_request_head(&req_storage, fwd, out, sizeof(out));
		cr_assert_gt(n, 0, "%s: %d", c->request, n);
		cr_assert_eq((size_t)n, strlen(c->expect), "got:\n%.*s\nwant:\n%s", n, out,
			     c->expect);
		cr_assert_eq(memcmp(out, c->expect, (size_t)n), 0, "got:\n%.*s\nwant:\n%s", n,
			     out, c->expect);
		/* what we send parses, with the same framing (but an empty Host, which
		 * only an HTTP/1.0 request without one gives) */
		int ret = h1_parse_request(out, (size_t)n, &req2_storage);
		if (req_storage.host_len == 0) {
			cr_assert_eq(req2_storage.reason, H1_BAD_HOST);
		} else {
			cr_assert_eq(ret, 0, "%.*s", n, out);
			cr_assert_eq(req2_storage.body, req_storage.body);
			cr_assert_eq(req2_storage.content_length, req_storage.content_length);
			cr_assert_eq(req2_storage.upgrade, req_storage.upgrade);
		}
		/* too small a buffer, at every size */
		for (size_t cap = 0; cap < (size_t)n; cap++)
			cr_assert_eq(h1_write_request_head(&req_storage, fwd, out, cap), AD_ENOSPACE);
	}
}

Test(http1, request_rewriting_refuses_unsafe_fwd)
{
	static const struct h1_forward bad[] = {
		{ .client_addr = "192.0.2.1\r\nX-Admin: 1" },
		{ .client_addr = "" },
		{ .client_addr = "1.2.3.4, 5.6.7.8" },
		{ .client_addr = "1.2.3.4", .proto = "ht tp" },
		{ .client_addr = "1.2.3.4", .proto = "" },
		{ .client_addr = "1.2.3.4", .host = "a\r\nb" },
	};
	char out[1024];
	cr_assert_eq(parse_req(get_req, &req_storage), 0);
	for (size_t i = 0; i < N_ELEMS(bad); i++)
		cr_assert_eq(h1_write_request_head(&req_storage, &bad[i], out, sizeof(out)),
			     -EINVAL, "case %zu", i);
}

struct resp_rewrite_case {
	const char *request;
	const char *response;
	enum h1_body client_body;
	bool keep_alive;
	const char *expect;
};

static const struct resp_rewrite_case resp_rewrite_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Internal\r\n"
	  "X-Internal: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n"
	  "Trailer: X-T\r\n\r\n",
	  H1_BODY_CHUNKED, true,
	  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" },
	/* an HTTP/1.0 client gets the chunked body decoded, ended by closing */
	{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
	  H1_BODY_CLOSE, false,
	  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" },
	{ "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	  H1_BODY_CHUNKED, false,
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	  "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", H1_BODY_LENGTH, true,
	  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n" },
	/* read until the service closes: SSE without framing */
	{ "GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
	  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", H1_BODY_CLOSE, false,
	  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" },
	{ ws_req,
	  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Accept: a\r\n\r\n",
	  H1_BODY_NONE, false,
	  "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a\r\n"
	  "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n" },
	{ get_req, "HTTP/1.1 100 Continue\r\n\r\n", H1_BODY_NONE, true,
	  "HTTP/1.1 100 Continue\r\n\r\n" },
	{ head_req, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", H1_BODY_NONE, true,
	  "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n" },
	{ get_req, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", H1_BODY_NONE, true,
	  "HTTP/1.1 204 No Content\r\n\r\n" },
	{ get_req, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 7\r\n\r\n",
	  H1_BODY_NONE, true,
	  "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 7\r\n\r\n" },
	{ get_req, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", H1_BODY_LENGTH, true,
	  "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n" },
};

Test(http1, response_rewriting)
{
	static char out[4096];
	for (size_t i = 0; i < N_ELEMS(resp_rewrite_cases); i++) {
		const struct resp_rewrite_case *c = &resp_rewrite_cases[i];
		bool ka;
		cr_assert_eq(parse_req(c->request, &req_storage), 0, "%s", c->request);
		cr_assert_eq(h1_parse_response(c->response, strlen(c->response), &req_storage,
					       &resp_storage), 0, "%s", c->response);
		cr_assert_eq(h1_response_client_framing(&resp_storage, &req_storage, &ka),
			     c->client_body, "%s", c->response);
		cr_assert_eq(ka, c->keep_alive, "%s", c->response);
		int n = h1_write_response_head(&resp_storage, &req_storage, out, sizeof(out));
		cr_assert_gt(n, 0);
		cr_assert_eq((size_t)n, strlen(c->expect), "got:\n%.*s\nwant:\n%s", n, out,
			     c->expect);
		cr_assert_eq(memcmp(out, c->expect, (size_t)n), 0, "got:\n%.*s\nwant:\n%s", n,
			     out, c->expect);
		for (size_t cap = 0; cap < (size_t)n; cap++)
			cr_assert_eq(h1_write_response_head(&resp_storage, &req_storage, out, cap),
				     AD_ENOSPACE);
	}
}
