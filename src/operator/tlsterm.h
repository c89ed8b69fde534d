/*
 * TLS termination for the operator: OpenSSL 3 over memory buffers, so the loop keeps
 * the socket. The daemon hands the bytes it receives to tlsterm_feed(), takes the
 * plaintext out with tlsterm_read(), encrypts with tlsterm_write(), and sends what
 * tlsterm_pending_out() shows (then tlsterm_consume_out()). Nothing here blocks or
 * touches a socket.
 *
 * A context (struct tlsterm_ctx) holds the certificates, one per configured name
 * (exact, or a one-label wildcard "*.a.airdr.es"), chosen by SNI: exact name, then
 * wildcard, then (no SNI at all) the first certificate. An SNI that matches nothing
 * fails the handshake with the alert unrecognized_name, unless sni_fallback is set.
 * TLS 1.2 and 1.3; ALPN http/1.1 only; stateless session tickets whose key rotates
 * every ticket_period_s (the previous key still decrypts for one more period); no
 * server-side session cache. tlsterm_ctx_reload() loads the files again and swaps
 * them in for new connections; connections already open keep what they started with.
 *
 * A connection (struct tlsterm_conn), states:
 *   HANDSHAKE  tlsterm_read() drives the handshake; tlsterm_write() takes nothing yet
 *   OPEN       tlsterm_handshake_done(); plaintext flows both ways
 *   CLOSED     tlsterm_shutdown() queued close_notify; writing returns -EPIPE
 *   FAILED     a TLS error or the peer's close_notify: every call returns that code;
 *              what is pending (perhaps an alert) should still be sent before closing
 * Per connection: the SSL object and one BIO; input and output buffers exist only
 * while they hold bytes, and OpenSSL's record buffers are released when empty
 * (SSL_MODE_RELEASE_BUFFERS), so an idle connection holds no buffer.
 *
 * Threads: a context is shared by every worker (connections are created, reloaded
 * and rotated under short mutexes); a connection belongs to one thread.
 *
 * Errors (int, as everywhere in airdress):
 *   TLSTERM_EOF    the peer sent close_notify (-ESHUTDOWN)
 *   AD_EPARSE      the peer's bytes are not TLS (plain HTTP on :443, garbage, a bad
 *                  record)
 *   AD_ENOTFOUND   the SNI names no configured certificate (alert unrecognized_name)
 *   -EPROTO        a TLS protocol failure on our side (no common version or cipher, a
 *                  bad handshake message, a record that fails to decrypt)
 *   -ECONNABORTED  the peer sent a fatal alert (it rejected our certificate, ...)
 *   -EPIPE         writing after tlsterm_shutdown()
 *   -ENOMEM, AD_ENOSPACE (input over TLSTERM_IN_MAX), -EINVAL
 *   AD_ECONFIG     a context could not be built (err names the file and the reason)
 * tlsterm_strerror() gives OpenSSL's text of the failure, for logs.
 */
#ifndef AIRDRESS_TLSTERM_H
#define AIRDRESS_TLSTERM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tlsterm_ctx;
struct tlsterm_conn;

/* tlsterm_read(): the peer closed the TLS session cleanly (close_notify). */
#define TLSTERM_EOF (-ESHUTDOWN)
/* tlsterm_feed() refuses input while this many bytes wait unread. */
#define TLSTERM_IN_MAX (256u * 1024)
/* tlsterm_write() takes no more plaintext while this much output waits. */
#define TLSTERM_OUT_MAX (64u * 1024)
/* Default and bounds of tlsterm_config.ticket_period_s. */
#define TLSTERM_TICKET_PERIOD_DEFAULT 3600u
#define TLSTERM_TICKET_PERIOD_MAX (3u * 86400)
/* A comfortable size for the err buffer of tlsterm_ctx_create/_reload. */
#define TLSTERM_ERR_MAX 512

/* One certificate: the name it serves and its two PEM files. */
struct tlsterm_cert {
	const char *name;      /* "app.example.org", or "*.a.airdr.es" (one leftmost
	                          label); case-insensitive; the certificate must cover it */
	const char *cert_file; /* PEM: the leaf certificate, then its intermediates */
	const char *key_file;  /* PEM: the leaf's private key (unencrypted) */
};

struct tlsterm_config {
	const struct tlsterm_cert *certs; /* the first one is the default */
	size_t ncerts;                    /* >= 1 */
	bool sni_fallback;        /* an SNI that matches no name gets the first certificate
	                             instead of the alert unrecognized_name */
	unsigned ticket_period_s; /* ticket key lifetime; 0 = TLSTERM_TICKET_PERIOD_DEFAULT.
	                             Fixed at create: reload keeps the keys and the period */
};

/* Build a context: load and check every certificate and key. Returns 0 and *out,
 * AD_ECONFIG (err holds one line naming the name or file and OpenSSL's reason, e.g.
 * "key file /etc/x.key: No such file or directory") or -ENOMEM. */
int tlsterm_ctx_create(const struct tlsterm_config *cfg, struct tlsterm_ctx **out, char *err,
		       size_t errlen);
/* Free a context. Every connection made from it must be destroyed first. NULL-safe. */
void tlsterm_ctx_destroy(struct tlsterm_ctx *ctx);

/* Load cfg's certificates again (new files, names or sni_fallback) and use them for
 * connections created from now on; open connections are untouched. On failure
 * (AD_ECONFIG with err as for create, or -ENOMEM) the context keeps its certificates.
 * Ticket keys survive the reload, so sessions resume across it. Any thread. */
int tlsterm_ctx_reload(struct tlsterm_ctx *ctx, const struct tlsterm_config *cfg, char *err,
		       size_t errlen);

/* Start a new ticket key now (the current one becomes the previous, still accepted; the
 * one before is wiped). Rotation also happens by itself every ticket_period_s. */
void tlsterm_ctx_rotate_tickets(struct tlsterm_ctx *ctx);

/* Server side of one accepted connection. Returns 0 and *out, or -ENOMEM. */
int tlsterm_conn_create(struct tlsterm_ctx *ctx, struct tlsterm_conn **out);
/* Free the connection (no close_notify: call tlsterm_shutdown() first for that).
 * NULL-safe. */
void tlsterm_conn_destroy(struct tlsterm_conn *c);

/* Bytes received from the network (copied). Returns 0, AD_ENOSPACE when more than
 * TLSTERM_IN_MAX bytes would wait unread (nothing taken: read, or pause the socket),
 * or the connection's failure code. */
int tlsterm_feed(struct tlsterm_conn *c, const uint8_t *cipher, size_t len);

/* Plaintext out: runs the handshake while it is not done, then decrypts. Returns the
 * number of bytes put in buf (1..cap), 0 when it needs more input (check
 * tlsterm_pending_out() afterwards: the handshake may have output), TLSTERM_EOF after
 * the peer's close_notify, or an error (see above). Call until it returns <= 0. */
int tlsterm_read(struct tlsterm_conn *c, uint8_t *buf, size_t cap);

/* Encrypt plaintext. Returns the number of bytes taken (they are now records in the
 * output), 0 when it takes nothing now (the handshake is not done, or
 * TLSTERM_OUT_MAX bytes of output wait: send them and call again), -EPIPE after
 * tlsterm_shutdown(), or the connection's failure code. Returns at most INT_MAX. */
int tlsterm_write(struct tlsterm_conn *c, const uint8_t *plain, size_t len);

/* Ciphertext waiting to be sent: *p, *len (0 when none). The pointer is valid until
 * the next call on c. */
void tlsterm_pending_out(const struct tlsterm_conn *c, const uint8_t **p, size_t *len);
/* n bytes of the pending output were sent (n <= its length). */
void tlsterm_consume_out(struct tlsterm_conn *c, size_t n);

/* Queue close_notify (send the pending output, then close the socket; there is no
 * need to wait for the peer's). Returns 0, or the failure code when the connection
 * already failed (then send no close_notify). Idempotent. */
int tlsterm_shutdown(struct tlsterm_conn *c);

bool tlsterm_handshake_done(const struct tlsterm_conn *c);
/* The server name the client sent (lowercase, no trailing dot) or NULL. Valid until
 * the connection is destroyed. */
const char *tlsterm_sni(const struct tlsterm_conn *c);
/* The protocol chosen by ALPN ("http/1.1") or NULL when none was negotiated. */
const char *tlsterm_alpn(const struct tlsterm_conn *c);
/* The negotiated version, "TLSv1.3" or "TLSv1.2" ("unknown" before the handshake). */
const char *tlsterm_version(const struct tlsterm_conn *c);
/* Whether the handshake resumed a session from a ticket. */
bool tlsterm_resumed(const struct tlsterm_conn *c);

/* Text for the connection's failure: OpenSSL's reason when OpenSSL reported one
 * ("wrong version number", "tlsv1 alert unknown ca"), else airdress_strerror(err).
 * Written into buf (truncated to size), which is returned. */
const char *tlsterm_strerror(const struct tlsterm_conn *c, int err, char *buf, size_t size);

#endif
