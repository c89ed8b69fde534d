/*
 * TLS SNI: the server_name of a TLS ClientHello, read from the bytes a :443
 * connection has sent so far (the relay peeks, it never terminates TLS).
 *
 * The ClientHello may come in any number of TCP segments and any number of TLS
 * records of type handshake(22): the parser follows the handshake message across
 * record boundaries. The whole ClientHello is validated before an answer is given,
 * so a prefix of a valid hello is always "need more" and never a wrong answer.
 * Pure: no allocation, no I/O, no state between calls; the caller keeps the bytes
 * and calls again, from the start, when more arrive (a ClientHello is at most
 * TLS_SNI_MAX_INPUT bytes, so rescanning costs little).
 */
#ifndef AIRDRESS_TLS_SNI_H
#define AIRDRESS_TLS_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The records carrying the ClientHello must end within this many input bytes. */
#define TLS_SNI_MAX_INPUT 16384
/* Longest name returned (a DNS name in text form, without the trailing dot). */
#define TLS_SNI_NAME_MAX 253
/* Size of the caller's name buffer: the name, NUL-terminated, always fits. */
#define TLS_SNI_NAME_BUF 256

/* What else the ClientHello says; filled when tls_sni_parse_ex() returns 0 or
 * AD_ENOTFOUND. */
struct tls_sni_info {
	size_t hello_len;   /* input bytes of the records that carry the ClientHello
	                       (record headers included); what follows is the next
	                       record (early data, change_cipher_spec) */
	unsigned records;   /* TLS records the ClientHello was split into */
	uint16_t version;   /* legacy_version of the ClientHello (0x0303 for 1.2/1.3) */
	bool has_alpn;      /* application_layer_protocol_negotiation extension */
	bool has_ech;       /* encrypted_client_hello extension (then the name is the
	                       ECH public name, or a GREASE ECH was sent) */
};

/* Find the server_name in the ClientHello at the start of buf[0..len).
 * name_out must have room for TLS_SNI_NAME_BUF bytes; on success it holds the
 * host_name lowercased, with one trailing dot removed, NUL-terminated, and
 * *name_len its length (1..TLS_SNI_NAME_MAX). Returns
 *   0             found
 *   AD_ETRUNC     the ClientHello is not complete yet: read more and call again
 *   AD_ENOTFOUND  a valid ClientHello without a usable name: no server_name
 *                 extension, no host_name in it, an IP literal (RFC 6066 forbids
 *                 them), or an SSLv2-compatible hello (first byte >= 0x80)
 *   AD_EPARSE     not a ClientHello (another record type, plain text) or a
 *                 malformed one: a length that disagrees with its parent, a bad
 *                 record, two host_names, an invalid host name
 *   AD_ETOOBIG    the ClientHello's records would end past TLS_SNI_MAX_INPUT bytes
 *   -EINVAL       NULL arguments
 * name_out and *name_len are only meaningful on 0. Bytes after the ClientHello's
 * last record are never read. */
int tls_sni_parse(const uint8_t *buf, size_t len, char *name_out, size_t *name_len);

/* tls_sni_parse() that also fills *info (may be NULL) on 0 and AD_ENOTFOUND (for an
 * SSLv2 hello only hello_len = 0 and records = 0 are set). */
int tls_sni_parse_ex(const uint8_t *buf, size_t len, char *name_out, size_t *name_len,
		     struct tls_sni_info *info);

#endif
