/*
 * PROXY v2: header encoder (relay side) and strict parser (operator side).
 *
 * The parser checks the fixed 16 bytes as they arrive, so anything that is not a
 * PROXY v2 header is refused from its first wrong byte; the address block and the
 * TLVs are checked once all 16 + len bytes are in.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>

#include "error.h"
#include "proxy_v2.h"

const uint8_t proxy_v2_signature[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

#define PP2_VERSION 0x20
#define PP2_ADDR_INET 12   /* 4 + 4 + 2 + 2 */
#define PP2_ADDR_INET6 36  /* 16 + 16 + 2 + 2 */
#define PP2_ADDR_UNIX 216  /* 108 + 108 */
#define PP2_UNIX_PATH 108
#define PP2_TLV_HEADER 3
#define PP2_SSL_HEADER 5   /* client (1), verify (4) */

static void put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t get_u16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* The IPv4 address of an AF_INET or IPv4-mapped AF_INET6 address into a4 (network
 * order); returns false for a true IPv6 address. */
static bool as_ipv4(const struct sockaddr *sa, uint8_t a4[4])
{
	if (sa->sa_family == AF_INET) {
		memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!IN6_IS_ADDR_V4MAPPED(a6))
		return false;
	memcpy(a4, a6->s6_addr + 12, 4);
	return true;
}

/* The address of sa as IPv6 (IPv4 mapped) into a6. */
static void as_ipv6(const struct sockaddr *sa, uint8_t a6[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(a6, mapped, sizeof(mapped));
		memcpy(a6 + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else {
		memcpy(a6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* Port in network order, as 2 bytes. */
static void put_port(uint8_t *p, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		memcpy(p, &((const struct sockaddr_in *)sa)->sin_port, 2);
	else
		memcpy(p, &((const struct sockaddr_in6 *)sa)->sin6_port, 2);
}

static uint8_t *put_tlv(uint8_t *p, uint8_t type, const void *value, size_t len)
{
	p[0] = type;
	put_u16(p + 1, len);
	memcpy(p + PP2_TLV_HEADER, value, len);
	return p + PP2_TLV_HEADER + len;
}

int proxy_v2_encode(uint8_t *out, size_t cap, const struct sockaddr *src,
		    const struct sockaddr *dst, const char *authority, size_t authority_len,
		    const uint8_t *unique_id, size_t unique_id_len)
{
	uint8_t s4[4], d4[4];
	bool inet;
	size_t addr_len, total;
	uint8_t *p;
	int ret = -EINVAL;

	if (out == NULL || src == NULL || dst == NULL || (authority == NULL && authority_len) ||
	    (unique_id == NULL && unique_id_len))
		goto done;
	ret = -EAFNOSUPPORT;
	if ((src->sa_family != AF_INET && src->sa_family != AF_INET6) ||
	    (dst->sa_family != AF_INET && dst->sa_family != AF_INET6))
		goto done;
	ret = AD_ETOOBIG;
	if (authority_len > PROXY_V2_AUTHORITY_MAX || unique_id_len > PROXY_V2_UNIQUE_ID_MAX)
		goto done;

	inet = as_ipv4(src, s4);
	inet = as_ipv4(dst, d4) && inet;
	addr_len = inet ? PP2_ADDR_INET : PP2_ADDR_INET6;
	total = PROXY_V2_HEADER_MIN + addr_len;
	if (authority_len > 0)
		total += PP2_TLV_HEADER + authority_len;
	if (unique_id_len > 0)
		total += PP2_TLV_HEADER + unique_id_len;
	if (total > cap)
		goto done;

	memcpy(out, proxy_v2_signature, PROXY_V2_SIG_LEN);
	out[12] = PP2_VERSION | PROXY_V2_CMD_PROXY;
	out[13] = (uint8_t)((inet ? PROXY_V2_AF_INET : PROXY_V2_AF_INET6) << 4 |
			    PROXY_V2_TP_STREAM);
	put_u16(out + 14, total - PROXY_V2_HEADER_MIN);
	p = out + PROXY_V2_HEADER_MIN;
	if (inet) {
		memcpy(p, s4, 4);
		memcpy(p + 4, d4, 4);
		p += 8;
	} else {
		as_ipv6(src, p);
		as_ipv6(dst, p + 16);
		p += 32;
	}
	put_port(p, src);
	put_port(p + 2, dst);
	p += 4;
	if (authority_len > 0)
		p = put_tlv(p, PP2_TYPE_AUTHORITY, authority, authority_len);
	if (unique_id_len > 0)
		p = put_tlv(p, PP2_TYPE_UNIQUE_ID, unique_id, unique_id_len);
	ret = (int)(p - out);
done:
	return ret;
}

int proxy_v2_encode_local(uint8_t *out, size_t cap)
{
	int ret = -EINVAL;

	if (out == NULL)
		goto done;
	ret = AD_ETOOBIG;
	if (cap < PROXY_V2_HEADER_MIN)
		goto done;
	memcpy(out, proxy_v2_signature, PROXY_V2_SIG_LEN);
	out[12] = PP2_VERSION | PROXY_V2_CMD_LOCAL;
	out[13] = PROXY_V2_AF_UNSPEC << 4 | PROXY_V2_TP_UNSPEC;
	put_u16(out + 14, 0);
	ret = PROXY_V2_HEADER_MIN;
done:
	return ret;
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), bit by bit: headers are
 * short and checked once per connection. The 4 bytes at skip (if not NULL) count as
 * zeros, as the spec computes it with the checksum field zeroed. */
static uint32_t crc32c(const uint8_t *p, size_t len, const uint8_t *skip)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		uint8_t b = (skip != NULL && p + i >= skip && p + i < skip + 4) ? 0 : p[i];
		crc ^= b;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* Sub-TLVs of PP2_TYPE_SSL: a client byte, a 32-bit verify, then TLVs that fit. */
static int check_ssl(const uint8_t *v, size_t len)
{
	size_t i = PP2_SSL_HEADER, n;

	if (len < PP2_SSL_HEADER)
		return AD_EPARSE;
	while (i < len) {
		if (len - i < PP2_TLV_HEADER)
			return AD_EPARSE;
		n = get_u16(v + i + 1);
		if (n > len - i - PP2_TLV_HEADER)
			return AD_EPARSE;
		i += PP2_TLV_HEADER + n;
	}
	return 0;
}

/* TLVs in buf[i..end); buf is the whole header (for the checksum). */
static int parse_tlvs(const uint8_t *buf, size_t i, size_t end, struct proxy_v2_header *out)
{
	const uint8_t *crc = NULL;
	size_t n;
	uint8_t type;
	const uint8_t *v;

	while (i < end) {
		if (end - i < PP2_TLV_HEADER)
			return AD_EPARSE;
		type = buf[i];
		n = get_u16(buf + i + 1);
		if (n > end - i - PP2_TLV_HEADER)
			return AD_EPARSE;
		v = buf + i + PP2_TLV_HEADER;
		switch (type) {
		case PP2_TYPE_AUTHORITY:
			if (out->authority != NULL || n == 0)
				return AD_EPARSE;
			out->authority = v;
			out->authority_len = n;
			break;
		case PP2_TYPE_UNIQUE_ID:
			if (out->unique_id != NULL || n > PROXY_V2_UNIQUE_ID_MAX)
				return AD_EPARSE;
			out->unique_id = v;
			out->unique_id_len = n;
			break;
		case PP2_TYPE_ALPN:
			if (out->alpn != NULL || n == 0)
				return AD_EPARSE;
			out->alpn = v;
			out->alpn_len = n;
			break;
		case PP2_TYPE_CRC32C:
			if (crc != NULL || n != 4)
				return AD_EPARSE;
			crc = v;
			break;
		case PP2_TYPE_SSL:
			if (check_ssl(v, n) != 0)
				return AD_EPARSE;
			break;
		default: /* NOOP, NETNS, custom and unknown types are ignored (spec §2.2.7) */
			break;
		}
		i += PP2_TLV_HEADER + n;
	}
	if (crc != NULL) {
		uint32_t want = (uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 |
				(uint32_t)crc[2] << 8 | crc[3];
		if (crc32c(buf, end, crc) != want)
			return AD_EPARSE;
	}
	return 0;
}

static void get_addresses(const uint8_t *a, struct proxy_v2_header *out)
{
	switch (out->family) {
	case PROXY_V2_AF_INET: {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		break;
	}
	case PROXY_V2_AF_INET6: {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		break;
	}
	case PROXY_V2_AF_UNIX: {
		struct sockaddr_un *s = (struct sockaddr_un *)&out->src;
		struct sockaddr_un *d = (struct sockaddr_un *)&out->dst;
		s->sun_family = d->sun_family = AF_UNIX;
		/* sockaddr_storage (128 bytes) leaves room for the NUL after 108 */
		memcpy(s->sun_path, a, PP2_UNIX_PATH);
		memcpy(d->sun_path, a + PP2_UNIX_PATH, PP2_UNIX_PATH);
		break;
	}
	default:
		break;
	}
}

int proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_header *out)
{
	size_t i, n, addr_len;
	uint8_t cmd, fam;
	int ret = -EINVAL;

	if ((buf == NULL && len > 0) || out == NULL)
		goto done;
	memset(out, 0, sizeof(*out));
	ret = AD_EPARSE;
	for (i = 0; i < PROXY_V2_SIG_LEN && i < len; i++)
		if (buf[i] != proxy_v2_signature[i])
			goto done;
	if (len > 12 && (buf[12] & 0xf0) != PP2_VERSION)
		goto done;
	cmd = len > 12 ? buf[12] & 0x0f : 0;
	if (cmd != PROXY_V2_CMD_LOCAL && cmd != PROXY_V2_CMD_PROXY)
		goto done;
	/* A LOCAL header's family is ignored; for PROXY it must be a defined pair. */
	fam = len > 13 ? buf[13] : 0;
	if (cmd == PROXY_V2_CMD_PROXY && fam != 0x00 && !((fam >> 4) >= PROXY_V2_AF_INET &&
	    (fam >> 4) <= PROXY_V2_AF_UNIX && (fam & 0x0f) >= PROXY_V2_TP_STREAM &&
	    (fam & 0x0f) <= PROXY_V2_TP_DGRAM))
		goto done;
	ret = AD_ETRUNC;
	if (len < PROXY_V2_HEADER_MIN)
		goto done;
	n = get_u16(buf + 14);
	out->header_len = PROXY_V2_HEADER_MIN + n;
	out->command = (enum proxy_v2_command)cmd;
	if (cmd == PROXY_V2_CMD_LOCAL) {
		ret = len < out->header_len ? AD_ETRUNC : 0;
		goto done;
	}
	out->family = (enum proxy_v2_family)(fam >> 4);
	out->transport = (enum proxy_v2_transport)(fam & 0x0f);
	addr_len = out->family == PROXY_V2_AF_INET    ? PP2_ADDR_INET :
		   out->family == PROXY_V2_AF_INET6   ? PP2_ADDR_INET6 :
		   out->family == PROXY_V2_AF_UNIX    ? PP2_ADDR_UNIX : 0;
	ret = AD_EPARSE;
	if (n < addr_len)
		goto done; /* known from the length alone */
	ret = AD_ETRUNC;
	if (len < out->header_len)
		goto done;
	get_addresses(buf + PROXY_V2_HEADER_MIN, out);
	ret = parse_tlvs(buf, PROXY_V2_HEADER_MIN + addr_len, out->header_len, out);
done:
	if (ret == AD_EPARSE)
		memset(out, 0, sizeof(*out));
	return ret;
}
