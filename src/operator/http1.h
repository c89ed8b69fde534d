/*
 * HTTP/1.1 messages for the operator's reverse proxy (RFC 9110, RFC 9112): request and
 * response heads, the chunked body decoder, and the heads the proxy sends on.
 *
 *   client --request head--> h1_parse_request --h1_write_request_head--> service
 *          --body--> (Content-Length: copy N bytes | chunked: h1_chunked_decode) -->
 *   client <--h1_write_response_head-- h1_parse_response <--response head-- service
 *          <--body-- (per h1_response_client_framing) <--
 *
 * Strict, as HAProxy is: anything two parsers could read differently (bare LF or CR,
 * obs-fold, whitespace before a colon, control characters, two Content-Length fields,
 * Transfer-Encoding with Content-Length, a Transfer-Encoding other than "chunked", a
 * chunk size with junk) is refused rather than guessed at, so that no request can be
 * smuggled past the operator to a service that frames it differently.
 *
 * Pure: no allocation, no I/O. The head parsers keep no state between calls and scan
 * from the start of the buffer each time; a decision never depends on bytes past the
 * point reached, so any prefix of a head gives AD_ETRUNC or the answer of the whole.
 * Call them again only once new bytes hold a '\n' (a head ends with one), so that a
 * client sending one byte at a time costs one scan per line, not one per byte.
 * Slices (struct h1_slice) point into the caller's buffer and are valid while it is.
 */
#ifndef AIRDRESS_HTTP1_H
#define AIRDRESS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_HEAD_MAX (16 * 1024) /* bytes of a head, the blank line included */
#define H1_HEADERS_MAX 100      /* header lines in a head */
#define H1_HOST_BUF 256         /* a DNS name (253) or an IPv6 literal, and a NUL */
#define H1_CHUNK_LINE_MAX 4096  /* a chunk-size line: size, extensions, CRLF */
#define H1_TRAILERS_MAX (16 * 1024) /* the trailer section after the last chunk */

/* Why a message was refused. Each value names the status the proxy answers with
 * (h1_reason_status); for a service's response, every refusal is a 502. */
enum h1_reason {
	H1_OK = 0,
	H1_INCOMPLETE,          /* AD_ETRUNC: read more */
	H1_HEAD_TOO_BIG,        /* AD_ETOOBIG, 431: no end of head in H1_HEAD_MAX bytes */
	H1_TOO_MANY_HEADERS,    /* AD_ETOOBIG, 431: more than H1_HEADERS_MAX lines */
	H1_BAD_START_LINE,      /* AD_EPARSE, 400: request line not "M SP T SP HTTP/1.D",
	                           status line not "HTTP/1.D SP DDD SP reason" */
	H1_BAD_METHOD,          /* 400: method not a token, or a standard one in another
	                           case ("head", "Get") */
	H1_BAD_TARGET,          /* 400: byte outside VCHAR, '#', a form the method does
	                           not allow, a bad absolute-form scheme or authority */
	H1_CONNECT,             /* 405: CONNECT (authority-form): not a forward proxy */
	H1_BAD_VERSION,         /* 505: HTTP/x.y with x != 1 */
	H1_BAD_STATUS,          /* 502: status code outside 100..599 */
	H1_BAD_LINE_END,        /* 400: bare LF or bare CR */
	H1_BAD_HEADER_NAME,     /* 400: empty field name, not a token, no colon */
	H1_SPACE_BEFORE_COLON,  /* 400: "Name : value" (RFC 9112 §5.1) */
	H1_UNDERSCORE_NAME,     /* 400: "Transfer_Encoding", "X_Forwarded_For": a field
	                           we act on, spelled with '_' for '-' */
	H1_BAD_HEADER_VALUE,    /* 400: control character or DEL in a value */
	H1_OBS_FOLD,            /* 400: a line starting with SP or HTAB (RFC 9112 §5.2) */
	H1_NO_HOST,             /* 400: HTTP/1.1 request without Host (RFC 9112 §3.2) */
	H1_DUP_HOST,            /* 400: more than one Host line */
	H1_BAD_HOST,            /* 400: Host not "host[:port]", or empty */
	H1_TE_AND_CL,           /* 400: Transfer-Encoding and Content-Length together */
	H1_DUP_CL,              /* 400: two Content-Length lines, or a list, even equal */
	H1_BAD_CL,              /* 400: Content-Length not 1*DIGIT, or over INT64_MAX */
	H1_DUP_TE,              /* 400: two Transfer-Encoding lines */
	H1_BAD_TE,              /* 400: Transfer-Encoding whose last coding is not chunked */
	H1_TE_UNSUPPORTED,      /* 501: "x, chunked": a coding besides chunked */
	H1_TE_HTTP10,           /* 400: Transfer-Encoding in an HTTP/1.0 message */
	H1_UNEXPECTED_101,      /* 502: 101 answering a request that asked no upgrade */
	H1_BAD_CHUNK_SIZE,      /* AD_EPARSE, 400: chunk size not 1*HEXDIG, or junk after */
	H1_CHUNK_SIZE_OVERFLOW, /* AD_ETOOBIG, 400: chunk size over INT64_MAX */
	H1_BAD_CHUNK_EXT,       /* AD_EPARSE, 400: control character in a chunk extension */
	H1_CHUNK_LINE_TOO_BIG,  /* AD_ETOOBIG, 400: chunk-size line over H1_CHUNK_LINE_MAX */
	H1_BAD_CHUNK_END,       /* AD_EPARSE, 400: chunk data not followed by CRLF */
	H1_BAD_TRAILER,         /* AD_EPARSE, 400: a trailer line not "name: value" CRLF */
	H1_TRAILERS_TOO_BIG,    /* AD_ETOOBIG, 400: trailers over H1_TRAILERS_MAX bytes */
	H1_REASON_COUNT,
};

/* Bytes of the caller's buffer. */
struct h1_slice {
	const char *p;
	size_t len;
};

/* A header line: name as received (case kept), value with the OWS around it removed. */
struct h1_header {
	struct h1_slice name;
	struct h1_slice value;
};

enum h1_method {
	H1_METHOD_OTHER = 0, /* any other token, forwarded as is */
	H1_METHOD_GET,
	H1_METHOD_HEAD,
	H1_METHOD_POST,
	H1_METHOD_PUT,
	H1_METHOD_DELETE,
	H1_METHOD_OPTIONS,
	H1_METHOD_PATCH,
	H1_METHOD_TRACE,
	H1_METHOD_CONNECT,   /* only seen in h1_method_of(); requests refuse it */
};

enum h1_target_form {
	H1_FORM_ORIGIN = 0, /* "/path?query" */
	H1_FORM_ABSOLUTE,   /* "http://authority/path?query" (http or https) */
	H1_FORM_ASTERISK,   /* "*", OPTIONS only */
};

/* How a message body is delimited (RFC 9112 §6.3). */
enum h1_body {
	H1_BODY_NONE = 0, /* no body */
	H1_BODY_LENGTH,   /* content_length bytes (0 included) */
	H1_BODY_CHUNKED,  /* chunked: decode with h1_chunked_decode */
	H1_BODY_CLOSE,    /* responses only: everything until the service closes */
};

struct h1_request {
	enum h1_reason reason;
	size_t head_len;            /* bytes of the head, leading CRLFs and blank line
	                               included; the body or the next request follows */
	enum h1_method method;
	struct h1_slice method_text;
	struct h1_slice target;     /* as received */
	enum h1_target_form form;
	struct h1_slice path;       /* origin-form of the target: the target itself, or
	                               what follows the authority in absolute-form (may
	                               then be empty or start with '?') */
	int version_minor;          /* HTTP/1.0 -> 0, HTTP/1.1 (and 1.2..1.9) -> 1.. */
	size_t header_count;
	struct h1_header headers[H1_HEADERS_MAX];

	/* The host: the authority of an absolute-form target (RFC 9112 §3.2.2), else the
	 * Host field. authority is as received ("App.Example:8443"); host is lowercase,
	 * without port, brackets or trailing dot, NUL-terminated. host_len is 0 only for
	 * an HTTP/1.0 origin-form request without Host. */
	struct h1_slice authority;
	size_t host_len;
	char host[H1_HOST_BUF];
	uint16_t port;              /* the explicit port, 0 when none */
	bool host_is_ip;

	bool keep_alive;            /* 1.1: unless "Connection: close"; 1.0: only with
	                               "Connection: keep-alive" (and no close) */
	bool upgrade;               /* WebSocket: HTTP/1.1 GET, Connection lists "upgrade",
	                               Upgrade lists "websocket" */
	bool expect_continue;       /* HTTP/1.1 with "Expect: 100-continue" */
	enum h1_body body;          /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;    /* with H1_BODY_LENGTH */
};

struct h1_response {
	enum h1_reason reason;
	size_t head_len;
	int version_minor;
	int status;                 /* 100..599 */
	struct h1_slice reason_phrase; /* may be empty */
	size_t header_count;
	struct h1_header headers[H1_HEADERS_MAX];
	enum h1_body framing;       /* what the framing headers say: NONE (neither),
	                               LENGTH or CHUNKED; kept for HEAD and 304 */
	enum h1_body body;          /* what follows on the wire: NONE for a HEAD request,
	                               1xx, 204 and 304, else framing, CLOSE for neither */
	uint64_t content_length;    /* with framing == H1_BODY_LENGTH */
	bool keep_alive;            /* the service's connection can carry another request */
	bool upgrade;               /* 101 Switching Protocols: after the head, a tunnel */
};

/* Parse the request head at the start of buf[0..len); bytes after it are never
 * looked at. Returns
 *   0           a valid request: every field of out set
 *   AD_ETRUNC   no complete head yet, nothing wrong so far: read more
 *   AD_EPARSE   refused: out->reason says why and h1_reason_status() what to answer
 *   AD_ETOOBIG  H1_HEAD_TOO_BIG or H1_TOO_MANY_HEADERS (431)
 *   -EINVAL     NULL out, or NULL buf with len > 0
 * out->reason is set on every return but -EINVAL; the rest only on 0. */
int h1_parse_request(const char *buf, size_t len, struct h1_request *out);

/* Parse a service's response head at the start of buf[0..len). req is the request it
 * answers (NULL: a GET without upgrade): it decides whether a body follows (HEAD) and
 * whether a 101 is allowed. A 1xx other than 101 is an interim response: forward it
 * and parse the next head after out->head_len. Returns as h1_parse_request; every
 * refusal is a 502 to the client. */
int h1_parse_response(const char *buf, size_t len, const struct h1_request *req,
		      struct h1_response *out);

/* Method of a token ("GET" -> H1_METHOD_GET), case-sensitive (RFC 9110 §9.1). */
enum h1_method h1_method_of(const char *name, size_t len);

/* --- chunked bodies (RFC 9112 §7.1) --- */

/* Incremental decoder of one chunked body; storage owned by the caller. States:
 *   SIZE -> SIZE_MORE -> [BWS ->] [EXT ->] SIZE_LF -> DATA -> DATA_CR -> DATA_LF -> SIZE
 *   last chunk: ... SIZE_LF -> TRAILER_START -> (TRAILER_NAME -> TRAILER_VALUE ->
 *               TRAILER_LF -> TRAILER_START)* -> END_LF -> DONE
 * Any refusal moves to ERROR, where it stays. */
struct h1_chunked {
	int state;
	enum h1_reason reason;   /* H1_OK until an error */
	uint64_t remaining;      /* chunk size being read, then data bytes left */
	size_t line_len;         /* bytes of the current chunk-size line */
	size_t trailer_len;      /* bytes of the trailer section so far */
	uint64_t body_len;       /* data bytes decoded so far */
};

/* Ready a decoder for a new body. */
void h1_chunked_init(struct h1_chunked *c);

/* Feed in[0..len): consumes *used bytes (at least one when len > 0 and the body has
 * not ended) and sets *data to the body bytes among them (a slice of in, possibly
 * empty); call again with the rest. Returns
 *   0           go on (feed the rest, or more bytes once they arrive)
 *   1           the body ended (last chunk and trailers read); the bytes from
 *               in + *used belong to the next message; further calls return 1
 *               and consume nothing
 *   AD_EPARSE, AD_ETOOBIG   refused: c->reason; answer 400 and close
 *   -EINVAL     NULL arguments
 * Chunk extensions and trailers are checked, bounded and dropped. */
int h1_chunked_decode(struct h1_chunked *c, const char *in, size_t len, size_t *used,
		      struct h1_slice *data);

/* --- heads the proxy sends --- */

/* What the proxy adds to a request it forwards. Strings are NUL-terminated and must
 * not hold control characters (else -EINVAL). */
struct h1_forward {
	const char *client_addr; /* the client's address from the PROXY v2 header, as
	                            text: "192.0.2.7" or "2001:db8::7" (no brackets);
	                            NULL: "for=unknown" and no X-Forwarded-For */
	const char *proto;       /* "https" or "http"; NULL: "https" */
	const char *host;        /* the host the client asked for; NULL: req->authority */
	bool trust_client;       /* false (the default, and the operator's setting): the
	                            client's Forwarded, X-Forwarded-*, X-Real-IP are
	                            dropped and replaced; true: a trusted proxy sits in
	                            front, its Forwarded and X-Forwarded-For are extended
	                            and its X-Forwarded-Proto/-Host kept */
	bool upstream_close;     /* ask the service to close after this response */
};

/* Write the head to send to the service into out[0..cap): "METHOD origin-form
 * HTTP/1.1", Host (the request's authority), the client's headers in order without
 * the hop-by-hop ones (Connection and the fields it names, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Upgrade) and without the framing ones, then the
 * framing as parsed ("Content-Length: N" or "Transfer-Encoding: chunked"),
 * "Connection: upgrade" and Upgrade for a WebSocket upgrade (or "Connection: close"
 * with fwd->upstream_close), Forwarded, X-Forwarded-For, X-Forwarded-Proto,
 * X-Forwarded-Host, and the blank line. req must come from a successful
 * h1_parse_request. Returns the length written (> 0), AD_ENOSPACE when cap is too
 * small (out then holds garbage), -EINVAL for NULL arguments or bad fwd strings. */
int h1_write_request_head(const struct h1_request *req, const struct h1_forward *fwd,
			  char *out, size_t cap);

/* How the response body reaches the client, and whether the client's connection stays
 * open after it: a chunked body goes on chunked to an HTTP/1.1 client, but decoded and
 * delimited by closing to an HTTP/1.0 one (H1_BODY_CLOSE); a CLOSE body closes. req
 * NULL: an HTTP/1.1 keep-alive GET. */
enum h1_body h1_response_client_framing(const struct h1_response *resp,
					const struct h1_request *req, bool *keep_alive);

/* Write the head to send to the client into out[0..cap): "HTTP/1.1 status reason",
 * the service's headers without the hop-by-hop and framing ones, the framing of
 * h1_response_client_framing, and Connection: "close" when the client's connection
 * ends after this response, "keep-alive" for an HTTP/1.0 client whose connection
 * stays, "upgrade" with Upgrade for a 101, none for other 1xx. Returns as
 * h1_write_request_head. */
int h1_write_response_head(const struct h1_response *resp, const struct h1_request *req,
			   char *out, size_t cap);

/* A short lowercase text for a reason ("duplicate content-length"), for logs and the
 * body of an error response. Never NULL. */
const char *h1_reason_str(enum h1_reason reason);

/* The status code to answer a client with for a refused request or body: 400, 405,
 * 431, 501 or 505 (502 for H1_BAD_STATUS and H1_UNEXPECTED_101); 0 for H1_OK and
 * H1_INCOMPLETE. A service's refused response is always answered with 502. */
int h1_reason_status(enum h1_reason reason);

#endif
