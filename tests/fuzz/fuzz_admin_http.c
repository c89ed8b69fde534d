/*
 * Fuzz target for admin_http_parse_request(): the admin server's HTTP/1.x request
 * head parser. Besides "no crash, no overread" (ASan), it checks what the server
 * relies on: every span lies inside the input (or is the static "/" path), counts
 * are in range, the same head parses the same way without what follows it, and no
 * shorter prefix of a head is taken for a complete one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct admin_http_request req, again;
	int ret = admin_http_parse_request(buf, size, &req);

	check(ret == 0 || ret == AD_ETRUNC || ret == AD_EPARSE || ret == AD_ETOOBIG);
	if (ret != 0)
		return 0;
	check(req.head_len > 0 && req.head_len <= size);
	check(req.method_len > 0 && inside(req.method, req.method_len, buf, req.head_len));
	check(req.target_len > 0 && inside(req.target, req.target_len, buf, req.head_len));
	check(req.path_len > 0);
	check(inside(req.path, req.path_len, buf, req.head_len) ||
	      (req.path_len == 1 && req.path[0] == '/'));
	check(req.query_len == 0 || inside(req.query, req.query_len, buf, req.head_len));
	check(req.version_major >= 0 && req.version_major <= 9);
	check(req.version_minor >= 0 && req.version_minor <= 9);
	check(req.n_headers <= ADMIN_HTTP_MAX_HEADERS);
	for (unsigned i = 0; i < req.n_headers; i++) {
		const struct admin_http_header *h = &req.headers[i];
		check(h->name_len > 0 && inside(h->name, h->name_len, buf, req.head_len));
		check(inside(h->value, h->value_len, buf, req.head_len));
		check(memchr(h->value, '\r', h->value_len) == NULL);
		check(memchr(h->value, '\n', h->value_len) == NULL);
		check(memchr(h->name, ':', h->name_len) == NULL);
	}
	check(req.content_length >= -1);
	check(!(req.content_length >= 0 && req.transfer_encoding != ADMIN_HTTP_TE_NONE));
	check(req.host_count <= req.n_headers);

	/* The head alone parses the same; one byte less is not a head. */
	check(admin_http_parse_request(buf, req.head_len, &again) == 0);
	check(again.head_len == req.head_len && again.n_headers == req.n_headers &&
	      again.content_length == req.content_length);
	check(admin_http_parse_request(buf, req.head_len - 1, &again) != 0);
	return 0;
}
