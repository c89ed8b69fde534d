/*
 * Fuzz target for proxy_v2_parse() (the operator side's PROXY v2 reader) and
 * proxy_v2_encode(). Each input is used twice:
 *   - parsed as a header: only the documented codes, every pointer inside the
 *     header, the header parses the same alone, one byte less and every checked
 *     prefix is "need more" (or, before the fixed part is complete, the same
 *     rejection); a parsed TCP header re-encoded parses back to the same addresses,
 *     authority and unique id;
 *   - read as encoder arguments (families, addresses, ports, TLV lengths): the
 *     encoding parses back to what went in.
 * Seed corpus: tests/fuzz/corpus/proxy_v2/ (encoded headers v4/v6/with TLVs, LOCAL,
 * UNIX, CRC32C, broken ones).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "proxy_v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* An exact-size copy, so that ASan sees a read past n. */
static uint8_t *dup_exact(const uint8_t *data, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, data, n);
	return copy;
}

/* Parse a copy of data[0..n); the pointers in *h are not to be used after. */
static int parse_copy(const uint8_t *data, size_t n, struct proxy_v2_header *h)
{
	uint8_t *copy = dup_exact(data, n);
	int ret = proxy_v2_parse(copy, n, h);
	free(copy);
	return ret;
}

static int inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* Addresses of a as IPv6 bytes (IPv4 mapped), for comparing across families. */
static void as6(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &s->sin_addr, 4);
		*port = s->sin_port;
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		memcpy(out, &s->sin6_addr, 16);
		*port = s->sin6_port;
	}
}

static void check_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t x[16], y[16];
	uint16_t px, py;
	as6(a, x, &px);
	as6(b, y, &py);
	check(memcmp(x, y, 16) == 0 && px == py);
}

/* Encode src/dst/authority/uid, parse it back, compare. */
static void round_trip(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		       const uint8_t *auth, size_t auth_len, const uint8_t *uid, size_t uid_len)
{
	uint8_t buf[PROXY_V2_ENCODE_MAX];
	struct proxy_v2_header h;
	int n = proxy_v2_encode(buf, sizeof(buf), (const struct sockaddr *)src,
				(const struct sockaddr *)dst, (const char *)auth, auth_len, uid,
				uid_len);
	if (auth_len > PROXY_V2_AUTHORITY_MAX || uid_len > PROXY_V2_UNIQUE_ID_MAX) {
		check(n == AD_ETOOBIG);
		return;
	}
	check(n >= 16 + 12 && n <= PROXY_V2_ENCODE_MAX);
	uint8_t *copy = dup_exact(buf, (size_t)n);
	check(proxy_v2_parse(copy, (size_t)n, &h) == 0);
	check(h.header_len == (size_t)n && h.command == PROXY_V2_CMD_PROXY &&
	      h.transport == PROXY_V2_TP_STREAM);
	check(h.family == PROXY_V2_AF_INET || h.family == PROXY_V2_AF_INET6);
	check_same_addr(&h.src, src);
	check_same_addr(&h.dst, dst);
	check(h.authority_len == auth_len);
	check(auth_len == 0 ? h.authority == NULL : memcmp(h.authority, auth, auth_len) == 0);
	check(h.unique_id_len == uid_len);
	check(uid_len == 0 ? h.unique_id == NULL : memcmp(h.unique_id, uid, uid_len) == 0);
	free(copy);
	/* a smaller buffer is refused, not overrun */
	check(proxy_v2_encode(buf, (size_t)n - 1, (const struct sockaddr *)src,
			      (const struct sockaddr *)dst, (const char *)auth, auth_len, uid,
			      uid_len) == AD_ETOOBIG);
}

/* data as encoder arguments: flags, 16+16 address bytes, 2+2 port bytes, lengths. */
static void encode_from(const uint8_t *data, size_t size)
{
	struct sockaddr_storage s, d;
	if (size < 1 + 32 + 4 + 2)
		return;
	uint8_t flags = data[0];
	const uint8_t *a = data + 1, *p = data + 33, *rest = data + 39;
	size_t auth_len = data[37], uid_len = data[38], left = size - 39;
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	struct sockaddr_storage *ss[2] = { &s, &d };
	for (int i = 0; i < 2; i++) {
		if (flags & (1 << i)) {
			struct sockaddr_in6 *x = (struct sockaddr_in6 *)ss[i];
			x->sin6_family = AF_INET6;
			memcpy(&x->sin6_addr, a + 16 * i, 16);
			if (flags & (4 << i)) { /* make it IPv4-mapped */
				memset(&x->sin6_addr, 0, 10);
				x->sin6_addr.s6_addr[10] = x->sin6_addr.s6_addr[11] = 0xff;
			}
			memcpy(&x->sin6_port, p + 2 * i, 2);
		} else {
			struct sockaddr_in *x = (struct sockaddr_in *)ss[i];
			x->sin_family = AF_INET;
			memcpy(&x->sin_addr, a + 16 * i, 4);
			memcpy(&x->sin_port, p + 2 * i, 2);
		}
	}
	if (flags & 0x10)
		auth_len += 0x100; /* over the limit */
	if (flags & 0x20)
		uid_len = uid_len % 140;
	else
		uid_len = uid_len % 129;
	if (auth_len + uid_len > left)
		return;
	round_trip(&s, &d, rest, auth_len, rest + auth_len, uid_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_v2_header h, part;
	int ret = proxy_v2_parse(data, size, &h), pret;

	check(ret == 0 || ret == AD_ETRUNC || ret == AD_EPARSE);
	if (ret == AD_EPARSE)
		check(h.header_len == 0);
	if (ret == AD_ETRUNC)
		check(size < PROXY_V2_HEADER_MIN ? h.header_len == 0 : h.header_len > size);

	size_t cuts[] = { 1, 12, 13, 14, 15, 16, size / 2, size - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		pret = parse_copy(data, cuts[i], &part);
		check(pret == AD_ETRUNC || pret == ret);
	}

	if (ret == 0) {
		size_t hl = h.header_len;
		check(hl >= PROXY_V2_HEADER_MIN && hl <= size && hl <= PROXY_V2_HEADER_MAX);
		check(h.authority == NULL || (h.authority_len > 0 &&
					      inside(h.authority, h.authority_len, data, hl)));
		check(h.unique_id == NULL ||
		      (h.unique_id_len <= PROXY_V2_UNIQUE_ID_MAX &&
		       inside(h.unique_id, h.unique_id_len, data, hl)));
		check(h.alpn == NULL || inside(h.alpn, h.alpn_len, data, hl));
		check(parse_copy(data, hl, &part) == 0 && part.header_len == hl);
		check(parse_copy(data, hl - 1, &part) == AD_ETRUNC);
		if (h.command == PROXY_V2_CMD_PROXY &&
		    (h.family == PROXY_V2_AF_INET || h.family == PROXY_V2_AF_INET6))
			round_trip(&h.src, &h.dst, h.authority, h.authority_len, h.unique_id,
				   h.unique_id_len);
	}
	encode_from(data, size);
	return 0;
}
