/* Unit tests for admin_http: the request head parser of the admin server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "admin_http.h"
#include "error.h"

static int parse(const char *text, struct admin_http_request *req)
{
	return admin_http_parse_request(text, strlen(text), req);
}

static int span_eq(const char *p, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(p, want, n) == 0;
}

Test(admin_http, simple_get)
{
	static const char text[] = "GET /metrics?name[]=x&y HTTP/1.1\r\n"
				   "Host: 127.0.0.1:9153\r\n"
				   "Authorization:   Bearer abc \t\r\n"
				   "X-Empty:\r\n"
				   "\r\n"
				   "BODY";
	struct admin_http_request req;

	cr_assert_eq(parse(text, &req), 0);
	cr_assert_eq(req.head_len, strlen(text) - 4);
	cr_assert(span_eq(req.method, req.method_len, "GET"));
	cr_assert(span_eq(req.target, req.target_len, "/metrics?name[]=x&y"));
	cr_assert(span_eq(req.path, req.path_len, "/metrics"));
	cr_assert(span_eq(req.query, req.query_len, "name[]=x&y"));
	cr_assert_eq(req.version_major, 1);
	cr_assert_eq(req.version_minor, 1);
	cr_assert_eq(req.n_headers, 3);
	cr_assert(span_eq(req.headers[1].name, req.headers[1].name_len, "Authorization"));
	cr_assert(span_eq(req.headers[1].value, req.headers[1].value_len, "Bearer abc"));
	cr_assert_eq(req.headers[2].value_len, 0);
	cr_assert_eq(req.host_count, 1);
	cr_assert_eq(req.content_length, -1);
	cr_assert_eq(req.transfer_encoding, ADMIN_HTTP_TE_NONE);
	cr_assert_not(req.expect_continue);
}

Test(admin_http, lf_only_and_leading_blank_lines)
{
	struct admin_http_request req;
	cr_assert_eq(parse("\r\n\nPOST /x HTTP/1.0\nContent-Length: 12\nExpect: 100-continue\n\n",
			   &req), 0);
	cr_assert(span_eq(req.method, req.method_len, "POST"));
	cr_assert_eq(req.version_minor, 0);
	cr_assert_eq(req.content_length, 12);
	cr_assert(req.expect_continue);
	cr_assert_eq(req.query_len, 0);
	cr_assert_str_eq(req.query, "");
}

Test(admin_http, absolute_form)
{
	struct admin_http_request req;
	cr_assert_eq(parse("GET http://localhost:9153/healthz?a HTTP/1.1\r\nHost: x\r\n\r\n", &req),
		     0);
	cr_assert(span_eq(req.path, req.path_len, "/healthz"));
	cr_assert(span_eq(req.query, req.query_len, "a"));
	cr_assert_eq(parse("GET HTTPS://h HTTP/1.1\r\nHost: x\r\n\r\n", &req), 0);
	cr_assert(span_eq(req.path, req.path_len, "/"));
	cr_assert_eq(parse("GET http://h?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", &req), 0);
	cr_assert(span_eq(req.path, req.path_len, "/"));
	cr_assert(span_eq(req.query, req.query_len, "q=1"));
	cr_assert_eq(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &req), 0);
	cr_assert(span_eq(req.path, req.path_len, "*"));
}

Test(admin_http, interpreted_headers)
{
	struct admin_http_request req;
	cr_assert_eq(parse("PUT / HTTP/1.1\r\ncontent-length: 5\r\nCONTENT-LENGTH: 5\r\n\r\n", &req),
		     0);
	cr_assert_eq(req.content_length, 5);
	cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &req),
		     0);
	cr_assert_eq(req.content_length, INT64_MAX);
	cr_assert_eq(parse("PUT / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n", &req), 0);
	cr_assert_eq(req.transfer_encoding, ADMIN_HTTP_TE_CHUNKED);
	cr_assert_eq(parse("PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &req), 0);
	cr_assert_eq(req.transfer_encoding, ADMIN_HTTP_TE_OTHER);
	cr_assert_eq(parse("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n", &req), 0);
	cr_assert_eq(req.transfer_encoding, ADMIN_HTTP_TE_OTHER);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &req), 0);
	cr_assert_eq(req.host_count, 2);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", &req), 0);
	cr_assert(req.expect_other);
	cr_assert_eq(parse("GET / HTTP/2.0\r\n\r\n", &req), 0);
	cr_assert_eq(req.version_major, 2);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX-Bin: caf\xc3\xa9\r\n\r\n", &req), 0); /* obs-text */
}

Test(admin_http, truncated)
{
	static const char full[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n";
	struct admin_http_request req;
	for (size_t n = 0; n < sizeof(full) - 1; n++)
		cr_assert_eq(admin_http_parse_request(full, n, &req), AD_ETRUNC, "at %zu", n);
	cr_assert_eq(admin_http_parse_request(full, sizeof(full) - 1, &req), 0);
}

Test(admin_http, malformed)
{
	static const char *const bad[] = {
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET / HTTP/11\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.10\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET x HTTP/1.1\r\n\r\n",
		"GET http:// HTTP/1.1\r\n\r\n",
		"GET ftp://h/ HTTP/1.1\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\n\r\n",
		"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\rHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	struct admin_http_request req;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i], &req), AD_EPARSE, "accepted #%zu: %s", i, bad[i]);
}

Test(admin_http, early_reject)
{
	struct admin_http_request req;
	/* a bad request line is refused as soon as its LF arrives */
	cr_assert_eq(parse("NOT HTTP\r\nHost: x", &req), AD_EPARSE);
	/* binary junk is refused before any LF */
	cr_assert_eq(admin_http_parse_request("\x16\x03\x01\x02\x00", 5, &req), AD_EPARSE);
	/* a bad header line is refused before the head ends */
	cr_assert_eq(parse("GET / HTTP/1.1\r\nBad Header: x\r\nHost: x", &req), AD_EPARSE);
	/* but a CR at the very end may still become CRLF */
	cr_assert_eq(parse("GET / HTTP/1.1\r", &req), AD_ETRUNC);
}

Test(admin_http, too_many_headers)
{
	char buf[8192];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < ADMIN_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	struct admin_http_request req;
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	cr_assert_eq(parse(buf, &req), 0);
	cr_assert_eq(req.n_headers, ADMIN_HTTP_MAX_HEADERS);
	snprintf(buf + n, sizeof(buf) - n, "One-More: v\r\n\r\n");
	cr_assert_eq(parse(buf, &req), AD_ETOOBIG);
}

Test(admin_http, reasons)
{
	cr_assert_str_eq(admin_http_reason(404), "Not Found");
	cr_assert_str_eq(admin_http_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(admin_http_reason(599), "Unknown");
}
