/*
 * Fuzz target for http_head_parse(): the relay's HTTP/1.x request head parser.
 * Besides "no crash, no overread" (ASan, prefixes parsed from exact-size copies), it
 * checks what the relay relies on:
 *   - the return code and the reason agree, the host is lowercase and valid;
 *   - the head ends with CRLFCRLF within HTTP_HEAD_MAX bytes and parses the same
 *     alone; one byte less is "need more";
 *   - a prefix of the input answers AD_ETRUNC or the same as the whole.
 * Seed corpus: tests/fuzz/corpus/http_head/ (heads good and bad).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int parse_copy(const uint8_t *data, size_t n, struct http_head *h)
{
	char *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, data, n);
	int ret = http_head_parse(copy, n, h);
	free(copy);
	return ret;
}

static void check_reason(int ret, enum http_head_reason r)
{
	switch (ret) {
	case 0:
		check(r == HTTP_HEAD_OK);
		break;
	case AD_ETRUNC:
		check(r == HTTP_HEAD_INCOMPLETE);
		break;
	case AD_ETOOBIG:
		check(r == HTTP_HEAD_TOO_BIG);
		break;
	case AD_ENOTFOUND:
		check(r == HTTP_HEAD_NO_NAME);
		break;
	case AD_EPARSE:
		check(r > HTTP_HEAD_NO_NAME && r < HTTP_HEAD_REASON_COUNT);
		break;
	default:
		check(0);
	}
	check(http_head_reason_str(r) != NULL);
}

static void check_host(const struct http_head *h)
{
	check(h->host_len >= 1 && h->host_len <= HTTP_HEAD_HOST_MAX);
	check(strlen(h->host) == h->host_len);
	for (size_t i = 0; i < h->host_len; i++) {
		char c = h->host[i];
		check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || (h->host_is_ip && c == ':'));
	}
	check(h->host[h->host_len - 1] != '.');
}

static void check_same(const struct http_head *a, const struct http_head *b)
{
	check(a->reason == b->reason && a->head_len == b->head_len);
	check(a->host_len == b->host_len && strcmp(a->host, b->host) == 0);
	check(a->port == b->port && a->host_is_ip == b->host_is_ip &&
	      a->host_from_target == b->host_from_target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head whole, part;
	int ret = http_head_parse((const char *)data, size, &whole), pret;

	check_reason(ret, whole.reason);
	if (ret == 0)
		check_host(&whole);

	size_t cuts[] = { 1, 4, size / 3, size / 2, size - 1, size > 3 ? size - 3 : 0 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		pret = parse_copy(data, cuts[i], &part);
		check_reason(pret, part.reason);
		check(pret == AD_ETRUNC || pret == ret);
		if (pret == ret)
			check_same(&part, &whole);
	}
	if (ret != 0 && ret != AD_ENOTFOUND)
		return 0;

	size_t hl = whole.head_len;
	check(hl >= 4 && hl <= size && hl <= HTTP_HEAD_MAX);
	check(memcmp(data + hl - 4, "\r\n\r\n", 4) == 0);
	check(memchr(data, '\n', hl) != NULL);
	check(whole.version_minor >= 0 && whole.version_minor <= 9);
	pret = parse_copy(data, hl, &part);
	check(pret == ret);
	check_same(&part, &whole);
	pret = parse_copy(data, hl - 1, &part);
	check(pret == AD_ETRUNC);
	return 0;
}
