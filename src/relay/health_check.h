/*
 * Health checks of airdress-healthd: one probe each, bounded by its own timeout.
 *
 *   http  GET url over HTTP/1.0 (numeric host only: http://127.0.0.1:9180/healthz,
 *         http://[::1]:9180/healthz); success: a 2xx status line
 *   tcp   connect(2) to address completes
 *   dns   a query over UDP to server ("a.airdr.es SOA"); success: an answer to it
 *         (same id and question) with rcode NOERROR and the AA bit
 *
 * Every check uses one non-blocking socket and poll(2) against one deadline, so a
 * check never takes longer than its timeout (plus scheduling). Nothing is resolved:
 * addresses are numeric, as everywhere in Airdress configs.
 */
#ifndef AIRDRESS_HEALTH_CHECK_H
#define AIRDRESS_HEALTH_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "healthd.h"

#define HC_DNS_MAX 512   /* the query we send, and the answer we read (UDP, no EDNS) */
#define HC_PATH_MAX 1024
#define HC_HOST_MAX 128

struct hc_check {
	enum healthd_check_type type;
	struct sockaddr_storage addr; /* where to connect or send */
	socklen_t addrlen;
	uint64_t timeout_ms;
	char host[HC_HOST_MAX];       /* http: Host header (the URL's authority) */
	char path[HC_PATH_MAX];       /* http: request target, "/" at least */
	uint8_t query[HC_DNS_MAX];    /* dns: the query, id 0 (set per probe) */
	size_t query_len;
	char label[HC_PATH_MAX + HC_HOST_MAX + 16]; /* for logs: "http://…", "tcp 127.0.0.1:443", … */
};

/* Prepare a check from its config entry. Returns 0, or AD_ECONFIG with the reason in
 * err (a missing key for the type, a URL that is not http://IP[:PORT]/…, a bad query). */
int hc_init(struct hc_check *c, const struct healthd_check_cfg *cfg, char *err, size_t errlen);

/* Run the check once. Returns 0 when healthy; otherwise an error code (-errno of the
 * failing call, -ETIMEDOUT, AD_EPARSE for an unusable answer...) and a short reason
 * in why ("connect: Connection refused", "status 503", "rcode 5", "no AA bit").
 * *elapsed_s (may be NULL) gets the time taken, in seconds. */
int hc_run(const struct hc_check *c, char *why, size_t whylen, double *elapsed_s);

/* Parse "http://IP[:PORT][/path]" into an address (port 80 by default), the Host
 * header value and the path. Returns 0 or AD_EPARSE. */
int hc_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len, char *host,
		 size_t hostlen, char *path, size_t pathlen);

/* Encode "NAME TYPE" (TYPE: A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, ANY or TYPEnnn;
 * NAME absolute or not, e.g. "a.airdr.es" or "a.airdr.es.") as a query with the given
 * id, RD clear, class IN. Returns 0 and *len, or AD_EPARSE / AD_ENOSPACE. */
int hc_dns_build(const char *text, uint16_t id, uint8_t *buf, size_t size, size_t *len);

/* Judge an answer to the query q (qlen bytes, as built above). Returns 0 for NOERROR
 * with AA; AD_ENOTFOUND when it is not an answer to q (wrong id, not QR, other
 * question: keep waiting); AD_EPARSE when it is one but unhealthy, with the reason in
 * why. */
int hc_dns_judge(const uint8_t *q, size_t qlen, const uint8_t *pkt, size_t len, char *why,
		 size_t whylen);

#endif
