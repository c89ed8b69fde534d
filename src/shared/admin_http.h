/*
 * Admin HTTP: the HTTP/1.x request head parser of the admin server (admin.h), on
 * its own so that it can be fuzzed (tests/fuzz/fuzz_admin_http.c). Pure: no
 * allocation, no I/O; the parsed request points into the caller's buffer.
 */
#ifndef AIRDRESS_ADMIN_HTTP_H
#define AIRDRESS_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_HTTP_MAX_HEADERS 64

struct admin_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing blanks removed */
	size_t value_len;
};

enum admin_http_te {
	ADMIN_HTTP_TE_NONE,
	ADMIN_HTTP_TE_CHUNKED, /* exactly "chunked" */
	ADMIN_HTTP_TE_OTHER,   /* anything else, or several Transfer-Encoding lines */
};

/* A parsed head. Pointers point into the parsed buffer. */
struct admin_http_request {
	size_t head_len;      /* bytes of the head, blank line included */
	const char *method;
	size_t method_len;
	const char *target;   /* request target as sent */
	size_t target_len;
	const char *path;     /* origin-form path ("/" for an absolute-form target without
	                         one, then not inside the buffer) */
	size_t path_len;
	const char *query;    /* after '?', without it; query_len 0 when absent */
	size_t query_len;
	int version_major;    /* "HTTP/1.1" -> 1, 1 */
	int version_minor;
	unsigned n_headers;
	struct admin_http_header headers[ADMIN_HTTP_MAX_HEADERS];
	/* Interpreted headers. */
	int64_t content_length; /* -1 when absent; INT64_MAX when too large to represent */
	enum admin_http_te transfer_encoding;
	unsigned host_count;    /* Host header lines */
	bool expect_continue;   /* Expect: 100-continue */
	bool expect_other;      /* an Expect header with another value */
};

/* Parse one HTTP/1.x request head at the start of buf[0..len). Accepts CRLF or bare
 * LF line ends, skips empty lines before the request line, takes origin-form
 * ("/path?q") and absolute-form ("http://host/path") targets. Returns
 *   0            *req filled, req->head_len bytes consumed (a body may follow)
 *   AD_ETRUNC    no complete head yet: read more
 *   AD_EPARSE    malformed (bad request line, bad header line, obs-fold, bare CR,
 *                control characters, conflicting Content-Length values, a
 *                Content-Length together with a Transfer-Encoding)
 *   AD_ETOOBIG   more than ADMIN_HTTP_MAX_HEADERS header lines
 * AD_EPARSE is returned as soon as a complete bad line is seen, even before the
 * head is complete. *req is meaningful only after 0. */
int admin_http_parse_request(const char *buf, size_t len, struct admin_http_request *req);

/* Reason phrase of a status code ("Not Found"), "Unknown" for codes it lacks. */
const char *admin_http_reason(int status);

#endif
