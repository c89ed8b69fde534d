/*
 * libFuzzer target for the health supervisor's parsers: the check URL (from the
 * config) and the DNS answer judge (from the network). The first input byte picks
 * which; the answer judge always gets a well-formed query to compare against.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "health_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		char url[512];
		size_t n = size - 1 < sizeof(url) - 1 ? size - 1 : sizeof(url) - 1;
		memcpy(url, data + 1, n);
		url[n] = '\0';
		struct sockaddr_storage ss;
		socklen_t len;
		char host[256], path[256];
		hc_parse_url(url, &ss, &len, host, sizeof(host), path, sizeof(path));
		return 0;
	}
	uint8_t q[512];
	size_t qlen = 0;
	if (hc_dns_build("a.airdr.es SOA", 0x1234, q, sizeof(q), &qlen) != 0)
		__builtin_trap();
	char why[128];
	hc_dns_judge(q, qlen, data + 1, size - 1, why, sizeof(why));
	/* The same packet with the query's id and question, so the judge goes deep. */
	if (size - 1 >= qlen) {
		uint8_t pkt[1024];
		size_t n = size - 1 < sizeof(pkt) ? size - 1 : sizeof(pkt);
		memcpy(pkt, data + 1, n);
		memcpy(pkt, q, 2);
		memcpy(pkt + 4, q + 4, 2);
		memcpy(pkt + 12, q + 12, qlen - 12);
		hc_dns_judge(q, qlen, pkt, n, why, sizeof(why));
	}
	return 0;
}
