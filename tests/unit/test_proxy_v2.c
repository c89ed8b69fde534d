/*
 * Unit tests for proxy_v2: the encoder checked by a decoder written here from the
 * spec (not proxy_v2_parse), round trips through proxy_v2_parse, the parser's
 * strictness, and HAProxy as the receiver when /usr/sbin/haproxy is installed.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "proxy_v2.h"

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

/* ---- an independent decoder, from proxy-protocol.txt §2.2 ---- */

struct ref_header {
	int cmd, fam, proto;
	char src[64], dst[64];
	unsigned sport, dport;
	char authority[300];
	uint8_t uid[200];
	size_t uid_len;
	size_t total;
};

/* Returns 0 or -1; fills *r. */
static int ref_decode(const uint8_t *b, size_t n, struct ref_header *r)
{
	static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	memset(r, 0, sizeof(*r));
	if (n < 16 || memcmp(b, sig, 12) != 0 || b[12] >> 4 != 2)
		return -1;
	r->cmd = b[12] & 0xf;
	r->fam = b[13] >> 4;
	r->proto = b[13] & 0xf;
	size_t len = (size_t)b[14] * 256 + b[15];
	r->total = 16 + len;
	if (r->total > n)
		return -1;
	const uint8_t *p = b + 16, *end = b + r->total;
	if (r->cmd == 0)
		return 0;
	if (r->fam == 1) {
		if (len < 12)
			return -1;
		inet_ntop(AF_INET, p, r->src, sizeof(r->src));
		inet_ntop(AF_INET, p + 4, r->dst, sizeof(r->dst));
		r->sport = p[8] * 256u + p[9];
		r->dport = p[10] * 256u + p[11];
		p += 12;
	} else if (r->fam == 2) {
		if (len < 36)
			return -1;
		inet_ntop(AF_INET6, p, r->src, sizeof(r->src));
		inet_ntop(AF_INET6, p + 16, r->dst, sizeof(r->dst));
		r->sport = p[32] * 256u + p[33];
		r->dport = p[34] * 256u + p[35];
		p += 36;
	} else {
		return -1;
	}
	while (p < end) {
		if (end - p < 3)
			return -1;
		size_t vlen = (size_t)p[1] * 256 + p[2];
		if ((size_t)(end - p - 3) < vlen)
			return -1;
		if (p[0] == 0x02) {
			memcpy(r->authority, p + 3, vlen);
			r->authority[vlen] = '\0';
		} else if (p[0] == 0x05) {
			memcpy(r->uid, p + 3, vlen);
			r->uid_len = vlen;
		}
		p += 3 + vlen;
	}
	return 0;
}

static int encode(uint8_t *out, size_t cap, const char *sip, uint16_t sport, const char *dip,
		  uint16_t dport, const char *authority, const char *uid)
{
	struct sockaddr_storage s = addr(sip, sport), d = addr(dip, dport);
	return proxy_v2_encode(out, cap, (struct sockaddr *)&s, (struct sockaddr *)&d,
			       authority, authority ? strlen(authority) : 0,
			       (const uint8_t *)uid, uid ? strlen(uid) : 0);
}

struct enc_case {
	const char *sip, *dip;
	uint16_t sport, dport;
	const char *authority, *uid;
	int fam;                 /* expected: 1 INET, 2 INET6 */
	const char *want_src, *want_dst;
	int len;
};

static const struct enc_case enc_cases[] = {
	{ "192.0.2.7", "203.0.113.10", 51234, 80, "app1.a.airdr.es", "c-1", 1, "192.0.2.7",
	  "203.0.113.10", 16 + 12 + 3 + 15 + 3 + 3 },
	{ "2001:db8::7", "2001:db8::10", 40000, 443, "x.example", "id", 2, "2001:db8::7",
	  "2001:db8::10", 16 + 36 + 3 + 9 + 3 + 2 },
	/* mixed families: IPv4 mapped into IPv6 */
	{ "192.0.2.7", "2001:db8::10", 1, 443, "x", NULL, 2, "::ffff:192.0.2.7", "2001:db8::10",
	  16 + 36 + 4 },
	{ "2001:db8::7", "203.0.113.10", 65535, 80, NULL, "u", 2, "2001:db8::7",
	  "::ffff:203.0.113.10", 16 + 36 + 4 },
	/* a dual-stack socket's IPv4-mapped addresses go out as IPv4 */
	{ "::ffff:192.0.2.7", "::ffff:203.0.113.10", 5, 80, NULL, NULL, 1, "192.0.2.7",
	  "203.0.113.10", 16 + 12 },
	{ "::ffff:192.0.2.7", "203.0.113.10", 5, 80, NULL, NULL, 1, "192.0.2.7",
	  "203.0.113.10", 16 + 12 },
};

Test(proxy_v2, encode_checked_by_independent_decoder)
{
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		uint8_t buf[PROXY_V2_ENCODE_MAX];
		struct ref_header r;
		int n = encode(buf, sizeof(buf), c->sip, c->sport, c->dip, c->dport, c->authority,
			       c->uid);
		cr_assert_eq(n, c->len, "case %zu: %d", i, n);
		cr_assert_eq(ref_decode(buf, (size_t)n, &r), 0, "case %zu", i);
		cr_assert_eq(r.total, (size_t)n);
		cr_assert_eq(r.cmd, 1);
		cr_assert_eq(r.fam, c->fam, "case %zu", i);
		cr_assert_eq(r.proto, 1);
		cr_assert_str_eq(r.src, c->want_src);
		cr_assert_str_eq(r.dst, c->want_dst);
		cr_assert_eq(r.sport, c->sport);
		cr_assert_eq(r.dport, c->dport);
		cr_assert_str_eq(r.authority, c->authority ? c->authority : "");
		cr_assert_eq(r.uid_len, c->uid ? strlen(c->uid) : 0);
		if (c->uid)
			cr_assert_eq(memcmp(r.uid, c->uid, r.uid_len), 0);
	}
}

Test(proxy_v2, exact_bytes)
{
	static const uint8_t want[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x14,
		192, 0, 2, 7, 203, 0, 113, 10, 0xc8, 0x22, 0x00, 0x50,
		0x02, 0x00, 0x01, 'x',
		0x05, 0x00, 0x01, '9',
	};
	uint8_t buf[64];
	int n = encode(buf, sizeof(buf), "192.0.2.7", 51234, "203.0.113.10", 80, "x", "9");
	cr_assert_eq(n, (int)sizeof(want));
	cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);
}

Test(proxy_v2, encode_limits)
{
	uint8_t buf[PROXY_V2_ENCODE_MAX + 1], uid[PROXY_V2_UNIQUE_ID_MAX + 1];
	char auth[PROXY_V2_AUTHORITY_MAX + 1];
	struct sockaddr_storage s = addr("2001:db8::1", 1), d = addr("2001:db8::2", 2);
	const struct sockaddr *sp = (struct sockaddr *)&s, *dp = (struct sockaddr *)&d;

	memset(uid, 'u', sizeof(uid));
	memset(auth, 'a', sizeof(auth));
	int n = proxy_v2_encode(buf, sizeof(buf), sp, dp, auth, PROXY_V2_AUTHORITY_MAX, uid,
				PROXY_V2_UNIQUE_ID_MAX);
	cr_assert_eq(n, PROXY_V2_ENCODE_MAX);
	cr_assert_eq(proxy_v2_encode(buf, PROXY_V2_ENCODE_MAX - 1, sp, dp, auth,
				     PROXY_V2_AUTHORITY_MAX, uid, PROXY_V2_UNIQUE_ID_MAX),
		     AD_ETOOBIG);
	cr_assert_eq(proxy_v2_encode(buf, sizeof(buf), sp, dp, auth, 10, uid,
				     PROXY_V2_UNIQUE_ID_MAX + 1), AD_ETOOBIG);
	cr_assert_eq(proxy_v2_encode(buf, sizeof(buf), sp, dp, auth,
				     PROXY_V2_AUTHORITY_MAX + 1, uid, 1), AD_ETOOBIG);
	cr_assert_eq(proxy_v2_encode(buf, 15, sp, dp, NULL, 0, NULL, 0), AD_ETOOBIG);
	cr_assert_eq(proxy_v2_encode(buf, 52, sp, dp, NULL, 0, NULL, 0), 52);

	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	cr_assert_eq(proxy_v2_encode(buf, sizeof(buf), (struct sockaddr *)&un, dp, NULL, 0,
				     NULL, 0), -EAFNOSUPPORT);
	cr_assert_eq(proxy_v2_encode(NULL, 10, sp, dp, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(proxy_v2_encode(buf, sizeof(buf), sp, dp, NULL, 3, NULL, 0), -EINVAL);
}

Test(proxy_v2, local)
{
	uint8_t buf[16];
	struct proxy_v2_header h;
	struct ref_header r;

	cr_assert_eq(proxy_v2_encode_local(buf, sizeof(buf)), 16);
	cr_assert_eq(ref_decode(buf, 16, &r), 0);
	cr_assert_eq(r.cmd, 0);
	cr_assert_eq(r.total, 16);
	cr_assert_eq(buf[13], 0);
	cr_assert_eq(proxy_v2_parse(buf, 16, &h), 0);
	cr_assert_eq(h.command, PROXY_V2_CMD_LOCAL);
	cr_assert_eq(h.header_len, 16);
	cr_assert_eq(h.src.ss_family, AF_UNSPEC);
	cr_assert_eq(proxy_v2_encode_local(buf, 15), AD_ETOOBIG);
	cr_assert_eq(proxy_v2_encode_local(NULL, 16), -EINVAL);
}

Test(proxy_v2, round_trip_and_prefixes)
{
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		uint8_t buf[PROXY_V2_ENCODE_MAX + 32];
		struct proxy_v2_header h;
		char text[64];
		int n = encode(buf, sizeof(buf), c->sip, c->sport, c->dip, c->dport, c->authority,
			       c->uid);
		cr_assert_gt(n, 0);
		memcpy(buf + n, "GET / HTTP/1.1\r\n", 16); /* what follows is not read */

		cr_assert_eq(proxy_v2_parse(buf, (size_t)n + 16, &h), 0, "case %zu", i);
		cr_assert_eq(h.header_len, (size_t)n);
		cr_assert_eq(h.command, PROXY_V2_CMD_PROXY);
		cr_assert_eq(h.transport, PROXY_V2_TP_STREAM);
		cr_assert_eq((int)h.family, c->fam);
		if (c->fam == 1) {
			const struct sockaddr_in *s = (struct sockaddr_in *)&h.src;
			const struct sockaddr_in *d = (struct sockaddr_in *)&h.dst;
			cr_assert_eq(s->sin_family, AF_INET);
			inet_ntop(AF_INET, &s->sin_addr, text, sizeof(text));
			cr_assert_str_eq(text, c->want_src);
			inet_ntop(AF_INET, &d->sin_addr, text, sizeof(text));
			cr_assert_str_eq(text, c->want_dst);
			cr_assert_eq(ntohs(s->sin_port), c->sport);
			cr_assert_eq(ntohs(d->sin_port), c->dport);
		} else {
			const struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h.src;
			const struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h.dst;
			cr_assert_eq(s->sin6_family, AF_INET6);
			inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof(text));
			cr_assert_str_eq(text, c->want_src);
			inet_ntop(AF_INET6, &d->sin6_addr, text, sizeof(text));
			cr_assert_str_eq(text, c->want_dst);
			cr_assert_eq(ntohs(s->sin6_port), c->sport);
			cr_assert_eq(ntohs(d->sin6_port), c->dport);
		}
		if (c->authority) {
			cr_assert_eq(h.authority_len, strlen(c->authority));
			cr_assert_eq(memcmp(h.authority, c->authority, h.authority_len), 0);
		} else {
			cr_assert_null(h.authority);
		}
		if (c->uid) {
			cr_assert_eq(h.unique_id_len, strlen(c->uid));
			cr_assert_eq(memcmp(h.unique_id, c->uid, h.unique_id_len), 0);
		} else {
			cr_assert_null(h.unique_id);
		}

		for (size_t k = 0; k < (size_t)n; k++) {
			cr_assert_eq(proxy_v2_parse(buf, k, &h), AD_ETRUNC, "case %zu prefix %zu",
				     i, k);
			if (k >= 16)
				cr_assert_eq(h.header_len, (size_t)n);
		}
	}
}

/* A header built by hand: PROXY TCP4 with the given TLV bytes. */
static size_t build(uint8_t *b, const uint8_t *tlvs, size_t tlv_len)
{
	static const uint8_t head[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
					0x55, 0x49, 0x54, 0x0a, 0x21, 0x11 };
	memcpy(b, head, sizeof(head));
	b[14] = (uint8_t)((12 + tlv_len) >> 8);
	b[15] = (uint8_t)(12 + tlv_len);
	memset(b + 16, 1, 12);
	if (tlv_len > 0)
		memcpy(b + 28, tlvs, tlv_len);
	return 28 + tlv_len;
}

/* CRC-32C written from its definition here, checked on the standard vector. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

Test(proxy_v2, tlvs)
{
	uint8_t b[600];
	struct proxy_v2_header h;
	size_t n;

	/* ALPN, NOOP, NETNS, a custom type and an SSL TLV with sub-TLVs: accepted */
	static const uint8_t ok[] = { 0x01, 0, 2, 'h', '2', 0x04, 0, 3, 0, 0, 0, 0x30, 0, 1, 'n',
				      0xe0, 0, 0, 0x20, 0, 9, 1, 0, 0, 0, 0, 0x21, 0, 1, '3' };
	n = build(b, ok, sizeof(ok));
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	cr_assert_eq(h.alpn_len, 2);
	cr_assert_null(h.authority);

	static const struct {
		uint8_t t[40];
		size_t n;
	} bad[] = {
		{ { 0x02, 0, 1, 'a', 0x02, 0, 1, 'b' }, 8 },       /* two AUTHORITY */
		{ { 0x02, 0, 0 }, 3 },                              /* empty AUTHORITY */
		{ { 0x05, 0, 1, 'a', 0x05, 0, 1, 'b' }, 8 },       /* two UNIQUE_ID */
		{ { 0x01, 0, 0 }, 3 },                              /* empty ALPN */
		{ { 0x02, 0, 5, 'a' }, 4 },                         /* value past the end */
		{ { 0x02, 0, 1, 'a', 0x04 }, 5 },                   /* cut TLV header */
		{ { 0x04, 0 }, 2 },
		{ { 0x03, 0, 3, 0, 0, 0 }, 6 },                     /* CRC32C not 4 bytes */
		{ { 0x20, 0, 4, 1, 0, 0, 0 }, 7 },                  /* SSL shorter than 5 */
		{ { 0x20, 0, 8, 1, 0, 0, 0, 0, 0x21, 0, 9 }, 11 },  /* SSL sub-TLV overflows */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = build(b, bad[i].t, bad[i].n);
		cr_assert_eq(proxy_v2_parse(b, n, &h), AD_EPARSE, "bad tlv %zu", i);
		cr_assert_eq(h.header_len, 0);
	}

	/* UNIQUE_ID: 128 bytes fine, 129 not */
	uint8_t uid[3 + 129];
	uid[0] = 0x05;
	uid[1] = 0;
	uid[2] = 128;
	memset(uid + 3, 'u', 129);
	n = build(b, uid, 3 + 128);
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	cr_assert_eq(h.unique_id_len, 128);
	uid[2] = 129;
	n = build(b, uid, 3 + 129);
	cr_assert_eq(proxy_v2_parse(b, n, &h), AD_EPARSE);

	/* CRC32C over the header with the field zeroed */
	static const uint8_t check[] = "123456789";
	cr_assert_eq(ref_crc32c(check, 9), 0xe3069283u);
	static const uint8_t crc[] = { 0x02, 0, 1, 'x', 0x03, 0, 4, 0, 0, 0, 0 };
	n = build(b, crc, sizeof(crc));
	uint32_t c = ref_crc32c(b, n);
	b[n - 4] = (uint8_t)(c >> 24);
	b[n - 3] = (uint8_t)(c >> 16);
	b[n - 2] = (uint8_t)(c >> 8);
	b[n - 1] = (uint8_t)c;
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	b[n - 1] ^= 1;
	cr_assert_eq(proxy_v2_parse(b, n, &h), AD_EPARSE);
}

Test(proxy_v2, strict_fixed_part)
{
	uint8_t b[600];
	struct proxy_v2_header h;
	size_t n = build(b, NULL, 0);

	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	/* any wrong byte of the signature, refused from that byte on */
	for (size_t i = 0; i < PROXY_V2_SIG_LEN; i++) {
		uint8_t save = b[i];
		b[i] ^= 0x40;
		cr_assert_eq(proxy_v2_parse(b, i + 1, &h), AD_EPARSE, "sig byte %zu", i);
		cr_assert_eq(proxy_v2_parse(b, n, &h), AD_EPARSE);
		b[i] = save;
	}
	/* a PROXY v1 line and plain HTTP */
	cr_assert_eq(proxy_v2_parse((const uint8_t *)"PROXY TCP4 ", 11, &h), AD_EPARSE);
	cr_assert_eq(proxy_v2_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &h), AD_EPARSE);

	static const uint8_t bad_vc[] = { 0x11, 0x31, 0x22, 0x2f };
	for (size_t i = 0; i < sizeof(bad_vc); i++) {
		b[12] = bad_vc[i];
		cr_assert_eq(proxy_v2_parse(b, 13, &h), AD_EPARSE, "ver_cmd %#x", bad_vc[i]);
	}
	b[12] = 0x21;
	static const uint8_t bad_fam[] = { 0x10, 0x13, 0x41, 0x01, 0x20, 0xff };
	for (size_t i = 0; i < sizeof(bad_fam); i++) {
		b[13] = bad_fam[i];
		cr_assert_eq(proxy_v2_parse(b, 14, &h), AD_EPARSE, "fam %#x", bad_fam[i]);
	}
	/* the address block shorter than the family needs: known from the length */
	b[13] = 0x21;
	cr_assert_eq(proxy_v2_parse(b, 16, &h), AD_EPARSE);
	b[13] = 0x31;
	cr_assert_eq(proxy_v2_parse(b, 16, &h), AD_EPARSE);
	/* UDP and UNSPEC are valid families to receive */
	b[13] = 0x12;
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	cr_assert_eq(h.transport, PROXY_V2_TP_DGRAM);
	b[13] = 0x00;
	b[28 - 12] = 0x04; /* the 12 address bytes read as a NOOP TLV of 9 */
	b[17] = 0;
	b[18] = 9;
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	cr_assert_eq(h.family, PROXY_V2_AF_UNSPEC);
	cr_assert_eq(h.src.ss_family, AF_UNSPEC);
	/* LOCAL ignores the family and the block */
	b[12] = 0x20;
	b[13] = 0xff;
	cr_assert_eq(proxy_v2_parse(b, n, &h), 0);
	cr_assert_eq(h.header_len, n);
	cr_assert_eq(proxy_v2_parse(NULL, 0, &h), AD_ETRUNC);
	cr_assert_eq(proxy_v2_parse(b, n, NULL), -EINVAL);
}

Test(proxy_v2, unix_family)
{
	uint8_t b[16 + 216];
	struct proxy_v2_header h;
	memcpy(b, proxy_v2_signature, 12);
	b[12] = 0x21;
	b[13] = 0x31;
	b[14] = 0;
	b[15] = 216;
	memset(b + 16, 'p', 216); /* paths without a NUL: 108 bytes each */
	cr_assert_eq(proxy_v2_parse(b, sizeof(b), &h), 0);
	cr_assert_eq(h.src.ss_family, AF_UNIX);
	/* the storage has room for the NUL after a full 108-byte path */
	const char *path = (const char *)&h.src + offsetof(struct sockaddr_un, sun_path);
	const char *nul = memchr(path, 0, sizeof(h.src) - offsetof(struct sockaddr_un, sun_path));
	cr_assert_not_null(nul);
	cr_assert_eq(nul - path, 108);
}

/* ---- HAProxy as the receiver ---- */

#define HAPROXY "/usr/sbin/haproxy"

struct hap_case {
	const char *sip, *dip;
	uint16_t sport, dport;
	const char *authority, *uid;
	bool local;
	const char *want; /* the body HAProxy answers */
	char got[2048];
};

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 5 };
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Send a header and a request, put the response body (or an error) into c->got. */
static void hap_exchange(uint16_t port, struct hap_case *c)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	uint8_t buf[PROXY_V2_ENCODE_MAX + sizeof(req)];
	char resp[2048];
	size_t got = 0;
	int n, fd = -1;

	if (c->local)
		n = proxy_v2_encode_local(buf, sizeof(buf));
	else
		n = encode(buf, sizeof(buf), c->sip, c->sport, c->dip, c->dport, c->authority,
			   c->uid);
	if (n < 0) {
		snprintf(c->got, sizeof(c->got), "encode: %d", n);
		goto out;
	}
	memcpy(buf + n, req, sizeof(req) - 1);
	fd = connect_to(port);
	if (fd < 0 || write(fd, buf, (size_t)n + sizeof(req) - 1) != n + (int)sizeof(req) - 1) {
		snprintf(c->got, sizeof(c->got), "connect/write: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(resp) - 1)
			break;
	}
	resp[got] = '\0';
	const char *body = strstr(resp, "\r\n\r\n");
	snprintf(c->got, sizeof(c->got), "%s", body ? body + 4 : resp);
out:
	if (fd >= 0)
		close(fd);
}

Test(proxy_v2, haproxy_receives_it)
{
	struct hap_case cases[] = {
		{ "192.0.2.7", "203.0.113.10", 51234, 80, "app1.a.airdr.es", "conn-42", false,
		  "192.0.2.7:51234 203.0.113.10:80 app1.a.airdr.es conn-42\n", "" },
		{ "2001:db8::7", "2001:db8::10", 40000, 443, "x.example", "c2", false,
		  "2001:db8::7:40000 2001:db8::10:443 x.example c2\n", "" },
		{ "192.0.2.9", "2001:db8::10", 1025, 80, "m.example", NULL, false,
		  "::ffff:192.0.2.9:1025 2001:db8::10:80 m.example \n", "" },
		{ NULL, NULL, 0, 0, NULL, NULL, true, "127.0.0.1:", "" },
	};
	char dir[] = "/tmp/airdress-pp2-XXXXXX", cfg[128], log[128];
	pid_t pid = -1;
	uint16_t port;
	FILE *f;

	if (access(HAPROXY, X_OK) != 0)
		cr_skip_test("%s not installed: PROXY v2 not checked against HAProxy", HAPROXY);
	cr_assert_not_null(mkdtemp(dir));
	port = free_port();
	cr_assert_neq(port, 0);
	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", dir);
	snprintf(log, sizeof(log), "%s/haproxy.log", dir);
	f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"global\n"
		"  log stderr format raw local0 err\n"
		"defaults\n"
		"  mode http\n"
		"  timeout connect 2s\n"
		"  timeout client 5s\n"
		"  timeout server 5s\n"
		"frontend fe\n"
		"  bind 127.0.0.1:%u accept-proxy\n"
		"  http-request return status 200 content-type text/plain lf-string "
		"\"%%[src]:%%[src_port] %%[dst]:%%[dst_port] %%[fc_pp_authority] "
		"%%[fc_pp_unique_id]\\n\"\n",
		port);
	fclose(f);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* dies with this test process, whatever happens to it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(HAPROXY, "haproxy", "-db", "-f", cfg, (char *)NULL);
		_exit(127);
	}

	/* wait (bounded) until it listens */
	int up = 0;
	for (int i = 0; i < 100 && !up; i++) {
		int fd = connect_to(port);
		if (fd >= 0) {
			close(fd);
			up = 1;
		} else {
			sleep_ms(50);
		}
	}
	if (up)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			hap_exchange(port, &cases[i]);

	/* stop it by its pid before any assertion can end the test */
	kill(pid, SIGTERM);
	int status, reaped = 0;
	for (int i = 0; i < 100 && !reaped; i++) {
		reaped = waitpid(pid, &status, WNOHANG) == pid;
		if (!reaped)
			sleep_ms(20);
	}
	if (!reaped) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	unlink(cfg);
	unlink(log);
	rmdir(dir);
	cr_assert_eq(up, 1, "haproxy did not listen on 127.0.0.1:%u", port);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].local)
			cr_assert(strncmp(cases[i].got, cases[i].want, strlen(cases[i].want)) == 0,
				  "LOCAL: got \"%s\"", cases[i].got);
		else
			cr_assert_str_eq(cases[i].got, cases[i].want, "case %zu", i);
	}
}
