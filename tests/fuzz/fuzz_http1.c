/*
 * Fuzz target for http1: the operator's request and response head parsers, the chunked
 * decoder and the head writers. Besides "no crash, no overread" (ASan; prefixes and
 * pieces parsed from exact-size copies), it checks what the proxy relies on:
 *   - the return code and the reason agree;
 *   - a prefix of a head answers AD_ETRUNC or the same as the whole; a head parses the
 *     same alone, and one byte less is "need more";
 *   - the head h1_write_request_head sends on parses again with the same method, host,
 *     framing and upgrade, so nothing the client sent can frame the request otherwise
 *     for the service; the same for h1_write_response_head and the status;
 *   - chunked bodies (the input itself, and what follows a chunked request head)
 *     decode the same whole, byte by byte and in pieces of any size, and a decoded
 *     body re-encoded decodes back to itself.
 * Seed corpus: tests/fuzz/corpus/http1/ (requests, responses, chunked bodies).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct h1_request req_whole, req_part, req_again;
static struct h1_response resp_whole, resp_part, resp_again;
static char out[H1_HEAD_MAX * 4];

static void check(int cond)
{
	if (!cond)
		abort();
}

static void *copy_of(const uint8_t *data, size_t n)
{
	char *c = malloc(n ? n : 1);
	check(c != NULL);
	memcpy(c, data, n);
	return c;
}

static void check_reason(int ret, enum h1_reason r)
{
	switch (ret) {
	case 0:
		check(r == H1_OK);
		break;
	case AD_ETRUNC:
		check(r == H1_INCOMPLETE);
		break;
	case AD_ETOOBIG:
		check(r == H1_HEAD_TOO_BIG || r == H1_TOO_MANY_HEADERS);
		break;
	case AD_EPARSE:
		check(r > H1_TOO_MANY_HEADERS && r < H1_BAD_CHUNK_SIZE);
		break;
	default:
		check(0);
	}
	check(h1_reason_str(r) != NULL);
}

static bool slice_eq(struct h1_slice a, struct h1_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void check_same_request(const struct h1_request *a, const struct h1_request *b)
{
	check(a->reason == b->reason);
	if (a->reason != H1_OK)
		return;
	check(a->head_len == b->head_len && a->method == b->method &&
	      a->form == b->form && a->version_minor == b->version_minor &&
	      a->header_count == b->header_count && a->host_len == b->host_len &&
	      strcmp(a->host, b->host) == 0 && a->port == b->port &&
	      a->host_is_ip == b->host_is_ip && a->keep_alive == b->keep_alive &&
	      a->upgrade == b->upgrade && a->expect_continue == b->expect_continue &&
	      a->body == b->body && a->content_length == b->content_length);
	check(slice_eq(a->path, b->path) && slice_eq(a->authority, b->authority));
}

static void check_request(const uint8_t *data, size_t size)
{
	struct h1_request *r = &req_whole;
	int ret = h1_parse_request((const char *)data, size, r), pret;
	char *c;

	check_reason(ret, r->reason);
	size_t cuts[] = { 1, 4, size / 3, size / 2, size - 1, size > 3 ? size - 3 : 0 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		c = copy_of(data, cuts[i]);
		pret = h1_parse_request(c, cuts[i], &req_part);
		check_reason(pret, req_part.reason);
		check(pret == AD_ETRUNC || pret == ret);
		if (pret == ret) {
			/* slices point into different buffers: compare by offset */
			check(req_part.reason == r->reason);
			check(ret != 0 || req_part.head_len == r->head_len);
		}
		free(c);
	}
	if (ret != 0)
		return;

	/* the head alone, and one byte less */
	size_t hl = r->head_len;
	check(hl >= 16 && hl <= size && hl <= H1_HEAD_MAX);
	check(memcmp(data + hl - 4, "\r\n\r\n", 4) == 0);
	check(r->body != H1_BODY_CLOSE);
	check(r->host_len == strlen(r->host));
	check(r->host_len > 0 || (r->version_minor == 0 && r->form != H1_FORM_ABSOLUTE));
	check(!r->upgrade || (r->method == H1_METHOD_GET && r->version_minor >= 1));
	check(r->method != H1_METHOD_CONNECT);
	for (size_t i = 0; i < r->header_count; i++) {
		const char *base = (const char *)data;
		check(r->headers[i].name.p >= base && r->headers[i].name.len > 0 &&
		      r->headers[i].name.p + r->headers[i].name.len <= base + hl);
		check(r->headers[i].value.len == 0 ||
		      (r->headers[i].value.p >= base &&
		       r->headers[i].value.p + r->headers[i].value.len <= base + hl));
	}
	c = copy_of(data, hl);
	check(h1_parse_request(c, hl, &req_part) == 0);
	check_same_request(&req_part, r);
	check(h1_parse_request(c, hl - 1, &req_again) == AD_ETRUNC);
	free(c);

	/* what goes to the service parses back to the same request */
	struct h1_forward fwd = { .client_addr = size & 1 ? "192.0.2.7" : "2001:db8::7",
				  .proto = "https", .trust_client = (size & 2) != 0,
				  .upstream_close = (size & 4) != 0 };
	int n = h1_write_request_head(r, &fwd, out, sizeof(out));
	check(n > 0);
	ret = h1_parse_request(out, (size_t)n, &req_again);
	if (r->host_len == 0) {
		check(ret == AD_EPARSE && req_again.reason == H1_BAD_HOST);
	} else if (ret == AD_ETOOBIG) {
		check(req_again.reason == H1_HEAD_TOO_BIG || req_again.reason == H1_TOO_MANY_HEADERS);
	} else {
		check(ret == 0);
		check((size_t)n == req_again.head_len);
		check(req_again.method == r->method && slice_eq(req_again.method_text, r->method_text));
		check(req_again.form != H1_FORM_ABSOLUTE && req_again.version_minor == 1);
		check(strcmp(req_again.host, r->host) == 0 && req_again.port == r->port);
		check(req_again.body == r->body && req_again.content_length == r->content_length);
		check(req_again.upgrade == r->upgrade);
		check(req_again.keep_alive == !fwd.upstream_close || r->upgrade);
	}
	for (size_t cap = (size_t)n > 64 ? (size_t)n - 64 : 0; cap < (size_t)n; cap += 7)
		check(h1_write_request_head(r, &fwd, out, cap) == AD_ENOSPACE);
}

static void check_response(const uint8_t *data, size_t size)
{
	struct h1_response *r = &resp_whole;
	int ret = h1_parse_response((const char *)data, size, NULL, r), pret;
	char *c;

	check_reason(ret, r->reason);
	size_t cuts[] = { 1, 5, size / 2, size - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		c = copy_of(data, cuts[i]);
		pret = h1_parse_response(c, cuts[i], NULL, &resp_part);
		check_reason(pret, resp_part.reason);
		check(pret == AD_ETRUNC || (pret == ret && resp_part.reason == r->reason));
		free(c);
	}
	if (ret != 0)
		return;
	check(r->status >= 100 && r->status <= 599 && !r->upgrade);
	check(r->body != H1_BODY_CLOSE || !r->keep_alive);
	c = copy_of(data, r->head_len);
	check(h1_parse_response(c, r->head_len, NULL, &resp_part) == 0);
	check(resp_part.status == r->status && resp_part.body == r->body &&
	      resp_part.content_length == r->content_length);
	free(c);

	int n = h1_write_response_head(r, NULL, out, sizeof(out));
	check(n > 0);
	ret = h1_parse_response(out, (size_t)n, NULL, &resp_again);
	check(ret == 0 || ret == AD_ETOOBIG);
	if (ret == 0) {
		check(resp_again.status == r->status && resp_again.version_minor == 1);
		check(resp_again.body == r->body || r->body == H1_BODY_CLOSE);
		check(r->body != H1_BODY_LENGTH || resp_again.content_length == r->content_length);
	}
}

struct decoded {
	int ret;
	enum h1_reason reason;
	size_t consumed, body_len;
	char *body;
};

/* Decode data in pieces: piece 0 whole, else sizes drawn from seed in 1..piece. */
static void decode(const uint8_t *data, size_t size, size_t piece, uint32_t seed,
		   struct decoded *d)
{
	struct h1_chunked ch;
	size_t off = 0;

	h1_chunked_init(&ch);
	d->ret = 0;
	d->body_len = 0;
	while (off < size) {
		size_t n = size - off;
		if (piece > 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % piece;
			if (n > size - off)
				n = size - off;
		}
		char *c = copy_of(data + off, n);
		size_t pos = 0;
		for (;;) {
			struct h1_slice s;
			size_t used;
			d->ret = h1_chunked_decode(&ch, c + pos, n - pos, &used, &s);
			check(used <= n - pos);
			check(s.len == 0 || (s.p >= c + pos && s.p + s.len <= c + pos + used));
			check(d->body_len + s.len <= size);
			if (s.len > 0)
				memcpy(d->body + d->body_len, s.p, s.len);
			d->body_len += s.len;
			pos += used;
			if (d->ret != 0 || pos == n)
				break;
			check(used > 0);
		}
		free(c);
		off += pos;
		if (d->ret != 0)
			break;
	}
	check(d->ret == 0 || d->ret == 1 || d->ret == AD_EPARSE || d->ret == AD_ETOOBIG);
	check((d->ret == 0 || d->ret == 1) == (ch.reason == H1_OK));
	check(d->ret >= 0 || ch.reason == H1_BAD_LINE_END ||
	      (ch.reason >= H1_BAD_CHUNK_SIZE && ch.reason < H1_REASON_COUNT));
	check(ch.body_len == d->body_len);
	d->reason = ch.reason;
	d->consumed = off;
}

static void check_chunked(const uint8_t *data, size_t size)
{
	struct decoded whole, part;
	uint32_t seed = 2166136261u;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	whole.body = malloc(size + 1);
	part.body = malloc(size + 1);
	check(whole.body != NULL && part.body != NULL);

	decode(data, size, 0, 0, &whole);
	size_t pieces[] = { 1, 2, 3, 7, 64 };
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (pieces[i] == 1 && size > 8192)
			continue;
		decode(data, size, pieces[i], seed + (uint32_t)i, &part);
		check(part.ret == whole.ret && part.reason == whole.reason);
		check(part.body_len == whole.body_len);
		check(memcmp(part.body, whole.body, whole.body_len) == 0);
		check(whole.ret != 1 || part.consumed == whole.consumed);
	}

	/* the decoded body, re-encoded in chunks of up to 16 bytes, decodes back */
	if (whole.ret == 1 && whole.body_len <= 4096) {
		size_t cap = whole.body_len / 16 * 21 + 64, wl = 0;
		uint8_t *wire = malloc(cap);
		check(wire != NULL);
		for (size_t off = 0; off < whole.body_len; off += 16) {
			size_t n = whole.body_len - off < 16 ? whole.body_len - off : 16;
			wire[wl++] = (uint8_t)"0123456789abcdef"[n & 15];
			if (n == 16) {
				wire[wl - 1] = '1';
				wire[wl++] = '0';
			}
			memcpy(wire + wl, "\r\n", 2);
			memcpy(wire + wl + 2, whole.body + off, n);
			memcpy(wire + wl + 2 + n, "\r\n", 2);
			wl += n + 4;
		}
		memcpy(wire + wl, "0\r\n\r\n", 5);
		wl += 5;
		check(wl <= cap);
		decode(wire, wl, 5, seed, &part);
		check(part.ret == 1 && part.consumed == wl && part.body_len == whole.body_len);
		check(memcmp(part.body, whole.body, whole.body_len) == 0);
		free(wire);
	}
	free(whole.body);
	free(part.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	if (req_whole.reason == H1_OK && req_whole.body == H1_BODY_CHUNKED)
		check_chunked(data + req_whole.head_len, size - req_whole.head_len);
	check_response(data, size);
	check_chunked(data, size);
	return 0;
}
