/*
 * TLS SNI: server_name from a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3),
 * reassembled across TLS records without copying.
 *
 * A reader walks the handshake byte stream: the payloads of consecutive records of
 * type handshake(22), each record header checked as it is crossed. Every read is
 * first checked against the end of the structure that contains it (extension,
 * extensions block, handshake message), which the parser knows from lengths it has
 * already read; only then against the input:
 *
 *   past its parent                  -> AD_EPARSE   (known without the bytes)
 *   past TLS_SNI_MAX_INPUT           -> AD_ETOOBIG
 *   past len                         -> AD_ETRUNC
 *
 * Every decision depends only on bytes before the point the parser has reached, so
 * a prefix of any input gives either AD_ETRUNC or the same answer as the whole.
 * The answer for a ClientHello that parses is given only at its end.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "nametable.h"
#include "tls_sni.h"

#define TLS_RECORD_HEADER 5
#define TLS_RECORD_MAX 16384     /* RFC 8446 §5.1: a plaintext fragment is at most 2^14 */
#define TLS_CT_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_HS_HEADER 4
#define TLS_EXT_SERVER_NAME 0
#define TLS_EXT_ALPN 16
#define TLS_EXT_ECH 0xfe0d
#define TLS_SNI_HOST_NAME 0

struct hs_reader {
	const uint8_t *buf;
	size_t len;         /* input bytes available */
	size_t pos;         /* next input byte */
	size_t rec_left;    /* payload bytes left in the current record */
	size_t msg_len;     /* handshake body length, once the header has been read */
	size_t msg_left;    /* bytes of the message (header, then body) not yet read */
	bool in_body;       /* the 4-byte handshake header has been read */
	unsigned records;
};

/* Bytes needed up to input offset `end` are missing. */
static int rd_short(size_t end)
{
	return end > TLS_SNI_MAX_INPUT ? AD_ETOOBIG : AD_ETRUNC;
}

/* Cross a record header at r->pos. Checks each header byte as soon as it is there,
 * so that plain text or an alert is rejected from its first byte. */
static int rd_record(struct hs_reader *r)
{
	const uint8_t *h = r->buf + r->pos;
	size_t have = r->len - r->pos, rlen;

	if (have >= 1 && h[0] != TLS_CT_HANDSHAKE)
		return AD_EPARSE; /* an alert, application data, interleaved records, text */
	if (have >= 2 && h[1] != 3)
		return AD_EPARSE; /* record version major is 3 from SSL 3.0 to TLS 1.3 */
	if (have < TLS_RECORD_HEADER)
		return rd_short(r->pos + TLS_RECORD_HEADER);
	rlen = (size_t)h[3] << 8 | h[4];
	if (rlen == 0 || rlen > TLS_RECORD_MAX)
		return AD_EPARSE; /* RFC 8446 §5.1: no empty handshake fragments */
	if (r->in_body && rlen > r->msg_left)
		return AD_EPARSE; /* the record goes on after the ClientHello */
	if (r->pos + TLS_RECORD_HEADER + rlen > TLS_SNI_MAX_INPUT)
		return AD_ETOOBIG;
	r->pos += TLS_RECORD_HEADER;
	r->rec_left = rlen;
	r->records++;
	return 0;
}

/* Offset of the next byte in the handshake body. */
static size_t rd_off(const struct hs_reader *r)
{
	return r->msg_len - r->msg_left;
}

/* Read n (1..3) bytes as a big-endian number, within the structure ending at body
 * offset end. */
static int rd_uint(struct hs_reader *r, size_t end, size_t n, size_t *val)
{
	int ret;

	if (r->in_body && n > end - rd_off(r))
		return AD_EPARSE;
	*val = 0;
	while (n-- > 0) {
		if (r->rec_left == 0 && (ret = rd_record(r)) != 0)
			return ret;
		if (r->pos >= r->len)
			return rd_short(r->pos + 1);
		*val = *val << 8 | r->buf[r->pos++];
		r->rec_left--;
		r->msg_left--;
	}
	return 0;
}

/* Skip n bytes, or copy them to out when out is not NULL, within the structure
 * ending at body offset end. */
static int rd_bytes(struct hs_reader *r, size_t end, size_t n, uint8_t *out)
{
	size_t k;
	int ret;

	if (n > end - rd_off(r))
		return AD_EPARSE;
	while (n > 0) {
		if (r->rec_left == 0 && (ret = rd_record(r)) != 0)
			return ret;
		k = n < r->rec_left ? n : r->rec_left;
		if (r->len - r->pos < k)
			return rd_short(r->pos + k);
		if (out != NULL) {
			memcpy(out, r->buf + r->pos, k);
			out += k;
		}
		r->pos += k;
		r->rec_left -= k;
		r->msg_left -= k;
		n -= k;
	}
	return 0;
}

/* What the extensions told us. */
struct hello_state {
	char *name;          /* caller's buffer, TLS_SNI_NAME_BUF bytes */
	size_t name_len;     /* raw host_name length; 0 while none seen */
	bool seen_sni;
	bool has_alpn;
	bool has_ech;
};

/* server_name extension body, ending at body offset end (RFC 6066 §3). */
static int parse_server_name(struct hs_reader *r, size_t end, struct hello_state *st)
{
	size_t list_len, type, nlen;
	int ret;

	if (st->seen_sni)
		return AD_EPARSE; /* RFC 8446 §4.2: one extension of each type */
	st->seen_sni = true;
	if ((ret = rd_uint(r, end, 2, &list_len)) != 0)
		return ret;
	if (list_len == 0 || list_len != end - rd_off(r))
		return AD_EPARSE;
	while (rd_off(r) < end) {
		if ((ret = rd_uint(r, end, 1, &type)) != 0 ||
		    (ret = rd_uint(r, end, 2, &nlen)) != 0)
			return ret;
		if (nlen > end - rd_off(r))
			return AD_EPARSE;
		if (type != TLS_SNI_HOST_NAME) {
			ret = rd_bytes(r, end, nlen, NULL); /* no other name type is defined */
		} else if (st->name_len != 0 || nlen == 0 || nlen > TLS_SNI_NAME_MAX + 1) {
			/* two host_names, an empty one, or one longer than a DNS name with
			 * its trailing dot */
			return AD_EPARSE;
		} else {
			ret = rd_bytes(r, end, nlen, (uint8_t *)st->name);
			st->name_len = nlen;
		}
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* application_layer_protocol_negotiation extension body (RFC 7301 §3.1). */
static int parse_alpn(struct hs_reader *r, size_t end, struct hello_state *st)
{
	size_t list_len, plen;
	int ret;

	st->has_alpn = true;
	if ((ret = rd_uint(r, end, 2, &list_len)) != 0)
		return ret;
	if (list_len < 2 || list_len != end - rd_off(r))
		return AD_EPARSE;
	while (rd_off(r) < end) {
		if ((ret = rd_uint(r, end, 1, &plen)) != 0)
			return ret;
		if (plen == 0)
			return AD_EPARSE;
		if ((ret = rd_bytes(r, end, plen, NULL)) != 0)
			return ret;
	}
	return 0;
}

/* The extensions block, which must end exactly where the message ends. */
static int parse_extensions(struct hs_reader *r, struct hello_state *st)
{
	size_t end = r->msg_len, block, type, elen, ext_end;
	int ret;

	if ((ret = rd_uint(r, end, 2, &block)) != 0)
		return ret;
	if (block != end - rd_off(r))
		return AD_EPARSE;
	while (rd_off(r) < end) {
		if ((ret = rd_uint(r, end, 2, &type)) != 0 ||
		    (ret = rd_uint(r, end, 2, &elen)) != 0)
			return ret;
		if (elen > end - rd_off(r))
			return AD_EPARSE;
		ext_end = rd_off(r) + elen;
		switch (type) {
		case TLS_EXT_SERVER_NAME:
			ret = parse_server_name(r, ext_end, st);
			break;
		case TLS_EXT_ALPN:
			ret = parse_alpn(r, ext_end, st);
			break;
		case TLS_EXT_ECH:
			st->has_ech = true;
			ret = rd_bytes(r, ext_end, elen, NULL);
			break;
		default: /* GREASE (RFC 8701) and everything else: opaque */
			ret = rd_bytes(r, ext_end, elen, NULL);
			break;
		}
		if (ret != 0)
			return ret;
		if (rd_off(r) != ext_end)
			return AD_EPARSE;
	}
	return 0;
}

/* Is a host_name an IP literal? RFC 6066 §3 forbids them; clients that send one
 * anyway get "no name". IPv6: only hex digits, ':' and '.' with at least one ':'.
 * IPv4: the last label is all digits (no top-level domain is, RFC 3696 §2). */
static bool is_ip_literal(const char *name, size_t len)
{
	size_t i, last = 0;
	bool colon = false, hexonly = true;

	if (len > 0 && name[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (c == ':')
			colon = true;
		else if (c == '.')
			last = i + 1;
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			   (c >= 'A' && c <= 'F')))
			hexonly = false;
	}
	if (colon)
		return hexonly;
	if (last >= len)
		return false;
	for (i = last; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

int tls_sni_parse_ex(const uint8_t *buf, size_t len, char *name_out, size_t *name_len,
		     struct tls_sni_info *info)
{
	struct hs_reader r = { .buf = buf, .len = len, .msg_left = TLS_HS_HEADER };
	struct hello_state st = { .name = name_out };
	size_t type, version, n, need;
	int ret = -EINVAL;

	if ((buf == NULL && len > 0) || name_out == NULL || name_len == NULL)
		goto out;
	if (len > TLS_SNI_MAX_INPUT)
		r.len = TLS_SNI_MAX_INPUT;
	if (len == 0) {
		ret = AD_ETRUNC;
		goto out;
	}
	if (buf[0] & 0x80) {
		/* SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2): no extensions */
		if (info != NULL)
			*info = (struct tls_sni_info){ 0 };
		ret = AD_ENOTFOUND;
		goto out;
	}

	/* handshake header: msg_type, uint24 length */
	if ((ret = rd_uint(&r, 0, 1, &type)) != 0)
		goto out;
	if (type != TLS_HS_CLIENT_HELLO) {
		ret = AD_EPARSE;
		goto out;
	}
	if ((ret = rd_uint(&r, 0, 3, &n)) != 0)
		goto out;
	r.in_body = true;
	r.msg_len = r.msg_left = n;
	if (r.rec_left > r.msg_left) {
		ret = AD_EPARSE; /* the first record goes on after the ClientHello */
		goto out;
	}
	need = r.pos + r.msg_left + (r.msg_left > r.rec_left ? TLS_RECORD_HEADER : 0);
	if (need > TLS_SNI_MAX_INPUT) {
		ret = AD_ETOOBIG;
		goto out;
	}

	/* legacy_version, random, legacy_session_id, cipher_suites,
	 * legacy_compression_methods */
	if ((ret = rd_uint(&r, r.msg_len, 2, &version)) != 0)
		goto out;
	if (version >> 8 != 3) {
		ret = AD_EPARSE;
		goto out;
	}
	if ((ret = rd_bytes(&r, r.msg_len, 32, NULL)) != 0 ||
	    (ret = rd_uint(&r, r.msg_len, 1, &n)) != 0)
		goto out;
	if (n > 32) {
		ret = AD_EPARSE;
		goto out;
	}
	if ((ret = rd_bytes(&r, r.msg_len, n, NULL)) != 0 ||
	    (ret = rd_uint(&r, r.msg_len, 2, &n)) != 0)
		goto out;
	if (n < 2 || n % 2 != 0) {
		ret = AD_EPARSE;
		goto out;
	}
	if ((ret = rd_bytes(&r, r.msg_len, n, NULL)) != 0 ||
	    (ret = rd_uint(&r, r.msg_len, 1, &n)) != 0)
		goto out;
	if (n < 1) {
		ret = AD_EPARSE;
		goto out;
	}
	if ((ret = rd_bytes(&r, r.msg_len, n, NULL)) != 0)
		goto out;
	/* A hello that ends here has no extensions (SSL 3.0 style): no name. */
	if (r.msg_left > 0 && (ret = parse_extensions(&r, &st)) != 0)
		goto out;

	if (info != NULL) {
		info->hello_len = r.pos;
		info->records = r.records;
		info->version = (uint16_t)version;
		info->has_alpn = st.has_alpn;
		info->has_ech = st.has_ech;
	}
	if (st.name_len == 0 || is_ip_literal(name_out, st.name_len)) {
		ret = AD_ENOTFOUND;
		goto out;
	}
	ret = nametable_name_normalize(name_out, st.name_len, name_out, TLS_SNI_NAME_BUF);
	if (ret < 0 || memchr(name_out, '*', (size_t)ret) != NULL) {
		ret = AD_EPARSE; /* not a host name: a bad byte, an empty or long label */
		goto out;
	}
	*name_len = (size_t)ret;
	ret = 0;
out:
	return ret;
}

int tls_sni_parse(const uint8_t *buf, size_t len, char *name_out, size_t *name_len)
{
	return tls_sni_parse_ex(buf, len, name_out, name_len, NULL);
}
