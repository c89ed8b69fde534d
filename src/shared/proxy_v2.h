/*
 * PROXY v2: the binary PROXY protocol header (HAProxy's proxy-protocol.txt, version 2)
 * that the relay sends to an operator before the client's bytes, and the parser the
 * operator side uses to read it.
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version (2) << 4 | command (0 LOCAL, 1 PROXY)
 *    1 byte   address family << 4 | transport (0x11 TCP/IPv4, 0x21 TCP/IPv6, 0x00 LOCAL)
 *    2 bytes  length of what follows, big endian
 *   addresses (12 bytes IPv4, 36 IPv6, 216 UNIX), then TLVs: type, length (2), value
 *
 * The relay sends PP2_TYPE_AUTHORITY (the routed name) and PP2_TYPE_UNIQUE_ID (its
 * connection id). Pure: no allocation, no I/O.
 */
#ifndef AIRDRESS_PROXY_V2_H
#define AIRDRESS_PROXY_V2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V2_SIG_LEN 12
#define PROXY_V2_HEADER_MIN 16           /* signature, ver_cmd, fam, len */
#define PROXY_V2_HEADER_MAX (16 + 65535) /* the length field is 16 bits */
#define PROXY_V2_UNIQUE_ID_MAX 128       /* spec limit for PP2_TYPE_UNIQUE_ID */
#define PROXY_V2_AUTHORITY_MAX 255       /* a host name (ours are at most 253) */
/* Room for the longest header proxy_v2_encode() writes (IPv6, both TLVs at max). */
#define PROXY_V2_ENCODE_MAX (16 + 36 + 3 + PROXY_V2_AUTHORITY_MAX + 3 + PROXY_V2_UNIQUE_ID_MAX)

extern const uint8_t proxy_v2_signature[PROXY_V2_SIG_LEN];

enum proxy_v2_command {
	PROXY_V2_CMD_LOCAL = 0x0,
	PROXY_V2_CMD_PROXY = 0x1,
};

enum proxy_v2_family {
	PROXY_V2_AF_UNSPEC = 0x0,
	PROXY_V2_AF_INET = 0x1,
	PROXY_V2_AF_INET6 = 0x2,
	PROXY_V2_AF_UNIX = 0x3,
};

enum proxy_v2_transport {
	PROXY_V2_TP_UNSPEC = 0x0,
	PROXY_V2_TP_STREAM = 0x1,
	PROXY_V2_TP_DGRAM = 0x2,
};

enum proxy_v2_tlv_type {
	PP2_TYPE_ALPN = 0x01,
	PP2_TYPE_AUTHORITY = 0x02,
	PP2_TYPE_CRC32C = 0x03,
	PP2_TYPE_NOOP = 0x04,
	PP2_TYPE_UNIQUE_ID = 0x05,
	PP2_TYPE_SSL = 0x20,
	PP2_TYPE_NETNS = 0x30,
};

/* Write a PROXY command header for a TCP connection from src (the client) to dst
 * (the address it connected to) into out[0..cap). src and dst are AF_INET or AF_INET6;
 * an IPv4-mapped IPv6 address counts as IPv4. The header is TCP over IPv4 when both
 * are IPv4, else TCP over IPv6 with any IPv4 address mapped (::ffff:a.b.c.d).
 * authority (may be NULL when authority_len is 0) becomes PP2_TYPE_AUTHORITY and
 * unique_id (may be NULL when unique_id_len is 0) PP2_TYPE_UNIQUE_ID; a TLV of
 * length 0 is not written. Returns the header length (> 0), AD_ETOOBIG when cap is
 * too small (PROXY_V2_ENCODE_MAX always suffices), authority_len is over
 * PROXY_V2_AUTHORITY_MAX or unique_id_len over PROXY_V2_UNIQUE_ID_MAX,
 * -EAFNOSUPPORT for another family, -EINVAL for NULL arguments. */
int proxy_v2_encode(uint8_t *out, size_t cap, const struct sockaddr *src,
		    const struct sockaddr *dst, const char *authority, size_t authority_len,
		    const uint8_t *unique_id, size_t unique_id_len);

/* Write the 16-byte LOCAL command header (family UNSPEC, no addresses), which tells
 * the receiver to use the connection's own addresses: for health probes. Returns 16,
 * AD_ETOOBIG when cap < 16, -EINVAL for NULL. */
int proxy_v2_encode_local(uint8_t *out, size_t cap);

/* A parsed header. Pointers point into the parsed buffer. */
struct proxy_v2_header {
	size_t header_len;       /* bytes of the header: the client's data follows.
	                            Also set on AD_ETRUNC once the first 16 bytes are in,
	                            so the caller knows how much to read. */
	enum proxy_v2_command command;
	enum proxy_v2_family family;
	enum proxy_v2_transport transport;
	/* PROXY over INET/INET6: the addresses as AF_INET/AF_INET6 with their ports;
	 * UNIX: AF_UNIX with the path (NUL-terminated); otherwise ss_family AF_UNSPEC. */
	struct sockaddr_storage src, dst;
	const uint8_t *authority; /* PP2_TYPE_AUTHORITY, NULL when absent */
	size_t authority_len;
	const uint8_t *unique_id; /* PP2_TYPE_UNIQUE_ID, NULL when absent */
	size_t unique_id_len;
	const uint8_t *alpn;      /* PP2_TYPE_ALPN, NULL when absent */
	size_t alpn_len;
};

/* Parse the PROXY v2 header at the start of buf[0..len). Strict: the signature,
 * version 2, a known command, family and transport, an address block that fits the
 * family, TLVs that exactly fill the rest, at most one AUTHORITY, UNIQUE_ID, ALPN
 * and CRC32C TLV, AUTHORITY and ALPN not empty, UNIQUE_ID at most 128 bytes, CRC32C
 * 4 bytes and matching the header, an SSL TLV whose sub-TLVs fit. A LOCAL header's
 * block is skipped unread, as the spec says. Returns
 *   0           *out filled; out->header_len bytes consumed
 *   AD_ETRUNC   not all of the header yet (out->header_len set once known)
 *   AD_EPARSE   not a valid PROXY v2 header (from its first wrong byte)
 *   -EINVAL     NULL arguments */
int proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_header *out);

#endif
