/*
 * Fuzz target for tls_sni_parse_ex(): the ClientHello server_name parser. Besides
 * "no crash, no overread" (ASan, with every prefix checked in an exact-size copy),
 * it checks what the relay relies on:
 *   - only the documented codes come back, a name is a valid lowercase host name;
 *   - a prefix of the input answers AD_ETRUNC or the same as the whole (a few
 *     prefix lengths, not all, to keep it fast);
 *   - a found hello gives the same answer alone (hello_len bytes), and the same name
 *     when its handshake message is re-framed into other record sizes.
 * Seed corpus: tests/fuzz/corpus/tls_sni/ (real captures, re-framed variants, built
 * hellos without SNI, with IP literals, SSLv2).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tls_sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

struct answer {
	int ret;
	char name[TLS_SNI_NAME_BUF];
	size_t name_len;
	struct tls_sni_info info;
};

/* Parse an exact-size copy of data[0..n), so that ASan sees a read past n. */
static void answer(const uint8_t *data, size_t n, struct answer *a)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, data, n);
	memset(a, 0, sizeof(*a));
	a->ret = tls_sni_parse_ex(copy, n, a->name, &a->name_len, &a->info);
	free(copy);
}

static void check_same(const struct answer *a, const struct answer *b)
{
	check(a->ret == b->ret);
	if (a->ret == 0)
		check(a->name_len == b->name_len && strcmp(a->name, b->name) == 0);
}

static void check_name(const struct answer *a)
{
	check(a->name_len >= 1 && a->name_len <= TLS_SNI_NAME_MAX);
	check(strlen(a->name) == a->name_len);
	check(a->name[0] != '.' && a->name[a->name_len - 1] != '.');
	for (size_t i = 0; i < a->name_len; i++) {
		char c = a->name[i];
		check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      (c == '.' && a->name[i + 1] != '.'));
	}
}

/* The handshake message carried by the records of buf[0..len) into msg. */
static size_t unframe(const uint8_t *buf, size_t len, uint8_t *msg)
{
	size_t i = 0, n = 0;
	while (i + 5 <= len) {
		size_t r = (size_t)buf[i + 3] << 8 | buf[i + 4];
		check(i + 5 + r <= len);
		memcpy(msg + n, buf + i + 5, r);
		n += r;
		i += 5 + r;
	}
	check(i == len);
	return n;
}

static size_t frame(const uint8_t *msg, size_t n, size_t chunk, uint8_t *out)
{
	size_t i = 0, o = 0;
	while (i < n) {
		size_t k = n - i < chunk ? n - i : chunk;
		out[o++] = 22;
		out[o++] = 3;
		out[o++] = 3;
		out[o++] = (uint8_t)(k >> 8);
		out[o++] = (uint8_t)k;
		memcpy(out + o, msg + i, k);
		o += k;
		i += k;
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t msg[TLS_SNI_MAX_INPUT], rec[8 * TLS_SNI_MAX_INPUT];
	struct answer whole, part;
	int ret = tls_sni_parse_ex(data, size, whole.name, &whole.name_len, &whole.info);

	whole.ret = ret;
	check(ret == 0 || ret == AD_ETRUNC || ret == AD_ENOTFOUND || ret == AD_EPARSE ||
	      ret == AD_ETOOBIG);
	if (ret == 0)
		check_name(&whole);

	/* prefixes: "need more" or the same answer */
	size_t cuts[] = { 1, 5, 9, size / 2, size - 1, (size * 7) / 8, size > 6 ? size - 6 : 0 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		answer(data, cuts[i], &part);
		check(part.ret == AD_ETRUNC || part.ret == ret);
		if (part.ret == ret)
			check_same(&part, &whole);
	}
	if (ret != 0 && ret != AD_ENOTFOUND)
		return 0;

	size_t hl = whole.info.hello_len;
	check(hl <= size && hl <= TLS_SNI_MAX_INPUT);
	if (hl == 0) /* SSLv2 */
		return 0;
	check(whole.info.records >= 1);
	answer(data, hl, &part);
	check_same(&part, &whole);
	answer(data, hl - 1, &part);
	check(part.ret == AD_ETRUNC);

	/* the same message in other records: same name (or too big for 16 KiB) */
	size_t n = unframe(data, hl, msg);
	static const size_t chunks[] = { 1, 13, 16384 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		size_t rl = frame(msg, n, chunks[i], rec);
		answer(rec, rl, &part);
		if (rl > TLS_SNI_MAX_INPUT)
			check(part.ret == AD_ETOOBIG);
		else
			check_same(&part, &whole);
	}
	return 0;
}
