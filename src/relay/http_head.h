/*
 * HTTP head: the target host of an HTTP/1.x request, read from the bytes a :80
 * connection has sent so far, so that the relay can route it before forwarding.
 *
 * Strict: the relay forwards the head untouched to an operator that parses it
 * again, so anything two parsers could read differently (bare LF, obs-fold, space
 * before a colon, two Host lines, control characters) is refused, as HAProxy does
 * in its strict mode. Pure: no allocation, no I/O, no state between calls. Each
 * call scans from the start of the buffer; a head is at most HTTP_HEAD_MAX bytes,
 * so calling again as bytes arrive costs at most a few microseconds per call.
 */
#ifndef AIRDRESS_HTTP_HEAD_H
#define AIRDRESS_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A head (request line, header lines, the blank line) is at most this many bytes. */
#define HTTP_HEAD_MAX 8192
/* Longest host returned: a DNS name without its trailing dot; IPv6 literals fit too. */
#define HTTP_HEAD_HOST_MAX 253
#define HTTP_HEAD_HOST_BUF 256

/* Why a head gave no host: set on every return of http_head_parse(). Each value says
 * which status the relay answers (the relay closes on HTTP_HEAD_H2_PREFACE). */
enum http_head_reason {
	HTTP_HEAD_OK = 0,           /* 0: host found */
	HTTP_HEAD_INCOMPLETE,       /* AD_ETRUNC: read more */
	HTTP_HEAD_TOO_BIG,          /* AD_ETOOBIG, 431: no end of head in HTTP_HEAD_MAX */
	HTTP_HEAD_NO_NAME,          /* AD_ENOTFOUND, 404: HTTP/1.0 without Host, or an
	                               empty Host */
	HTTP_HEAD_H2_PREFACE,       /* AD_EPARSE: the HTTP/2 prior-knowledge preface:
	                               close the connection */
	HTTP_HEAD_BAD_REQUEST_LINE, /* AD_EPARSE, 400: request line not
	                               "METHOD SP TARGET SP HTTP/D.D CRLF" */
	HTTP_HEAD_BAD_METHOD,       /* AD_EPARSE, 400: method not a token */
	HTTP_HEAD_BAD_TARGET,       /* AD_EPARSE, 400: control or non-ASCII byte in the
	                               target, or a bad absolute-form authority */
	HTTP_HEAD_BAD_VERSION,      /* AD_EPARSE, 505: a version other than HTTP/1.x */
	HTTP_HEAD_BAD_LINE_END,     /* AD_EPARSE, 400: bare LF or bare CR */
	HTTP_HEAD_BAD_HEADER_NAME,  /* AD_EPARSE, 400: empty field name or not a token */
	HTTP_HEAD_SPACE_BEFORE_COLON, /* AD_EPARSE, 400: "Host : x" (RFC 9112 §5.1) */
	HTTP_HEAD_BAD_HEADER_VALUE, /* AD_EPARSE, 400: control character in a value */
	HTTP_HEAD_OBS_FOLD,         /* AD_EPARSE, 400: a line starting with SP or HTAB */
	HTTP_HEAD_NO_HOST,          /* AD_EPARSE, 400: HTTP/1.1 without Host */
	HTTP_HEAD_DUP_HOST,         /* AD_EPARSE, 400: more than one Host line */
	HTTP_HEAD_BAD_HOST,         /* AD_EPARSE, 400: Host not "host[:port]" */
	HTTP_HEAD_REASON_COUNT,
};

/* What the relay needs from a head. */
struct http_head {
	enum http_head_reason reason;
	size_t head_len;     /* on 0 and AD_ENOTFOUND: bytes of the head, the blank line
	                        included; what follows is the body or the next request */
	int version_minor;   /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */
	bool host_from_target; /* the host is the authority of an absolute-form target */
	bool host_is_ip;     /* the host is an IPv4 or IPv6 literal (no brackets) */
	uint16_t port;       /* the explicit port with the host; 0 when none */
	size_t host_len;     /* 1..HTTP_HEAD_HOST_MAX */
	char host[HTTP_HEAD_HOST_BUF]; /* lowercase, port and one trailing dot removed,
	                                  NUL-terminated */
};

/* Parse the request head at the start of buf[0..len) (bytes after the head are
 * never looked at). The host is the authority of an absolute-form target when
 * there is one (RFC 9112 §3.2.2), else the Host field. Returns
 *   0             out->host found
 *   AD_ETRUNC     no complete head yet and nothing wrong so far: read more
 *   AD_ENOTFOUND  a valid head without a host (HTTP/1.0 without Host, empty Host)
 *   AD_EPARSE     rejected: out->reason says why (h2 preface included)
 *   AD_ETOOBIG    no end of head within HTTP_HEAD_MAX bytes
 *   -EINVAL       NULL arguments
 * out->reason is set on every return but -EINVAL; the other fields only on 0 (and
 * head_len, version_minor on AD_ENOTFOUND). */
int http_head_parse(const char *buf, size_t len, struct http_head *out);

/* A short lowercase text for a reason ("duplicate host"), for logs and 400 bodies. */
const char *http_head_reason_str(enum http_head_reason reason);

#endif
