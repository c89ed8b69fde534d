/* Sockaddr: text <-> struct sockaddr. See sockaddr.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sockaddr.h"

/* "0".."65535", digits only. Returns 0 or AD_EPARSE. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return AD_EPARSE;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return AD_EPARSE;
	*port = (uint16_t)v;
	return 0;
}

/* An IPv6 address with an optional "%zone", in a buffer we may modify. */
static int parse_ip6(char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint32_t scope = 0;
	char *zone = strchr(host, '%');
	if (zone != NULL) {
		*zone++ = '\0';
		if (*zone == '\0')
			return AD_EPARSE;
		if (zone[strspn(zone, "0123456789")] == '\0') {
			unsigned long v = strlen(zone) <= 10 ? strtoul(zone, NULL, 10) : ~0ul;
			if (v > UINT32_MAX)
				return AD_EPARSE;
			scope = (uint32_t)v;
		} else {
			scope = if_nametoindex(zone);
			if (scope == 0)
				return AD_EPARSE;
		}
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return AD_EPARSE;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope;
	*len = sizeof(*sin6);
	return 0;
}

static int parse_ip4(const char *host, uint16_t port, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return AD_EPARSE;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
	return 0;
}

int sockaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[SOCKADDR_STRLEN];
	uint16_t port;
	int ret = AD_EPARSE;

	if (text == NULL || ss == NULL || len == NULL)
		return -EINVAL;
	if (strlen(text) >= sizeof(buf))
		goto finish;
	strcpy(buf, text);

	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (close == NULL || close[1] != ':')
			goto finish;
		*close = '\0';
		if (parse_port(close + 2, &port) != 0)
			goto finish;
		ret = parse_ip6(buf + 1, port, ss, len);
	} else {
		char *colon = strrchr(buf, ':');
		/* A second colon means an IPv6 address without brackets: ambiguous. */
		if (colon == NULL || memchr(buf, ':', (size_t)(colon - buf)) != NULL)
			goto finish;
		*colon = '\0';
		if (parse_port(colon + 1, &port) != 0)
			goto finish;
		ret = parse_ip4(buf, port, ss, len);
	}
finish:
	return ret;
}

int sockaddr_parse_ip(const char *text, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char buf[SOCKADDR_STRLEN];
	size_t n;

	if (text == NULL || ss == NULL || len == NULL)
		return -EINVAL;
	n = strlen(text);
	if (n == 0 || n >= sizeof(buf))
		return AD_EPARSE;
	if (text[0] == '[') {
		if (n < 3 || text[n - 1] != ']')
			return AD_EPARSE;
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = '\0';
		return parse_ip6(buf, port, ss, len);
	}
	strcpy(buf, text);
	if (strchr(buf, ':') != NULL)
		return parse_ip6(buf, port, ss, len);
	return parse_ip4(buf, port, ss, len);
}

int sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	char zone[IF_NAMESIZE + 12] = "";
	int n;

	if (sa == NULL || buf == NULL || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (len < (socklen_t)sizeof(*sin))
			return -EINVAL;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		n = snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (len < (socklen_t)sizeof(*sin6))
			return -EINVAL;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		if (sin6->sin6_scope_id != 0) {
			char ifname[IF_NAMESIZE];
			if (if_indextoname(sin6->sin6_scope_id, ifname) != NULL)
				snprintf(zone, sizeof(zone), "%%%s", ifname);
			else
				snprintf(zone, sizeof(zone), "%%%u", sin6->sin6_scope_id);
		}
		n = snprintf(buf, size, "[%s%s]:%u", host, zone, ntohs(sin6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return AD_ENOSPACE;
	}
	return 0;
}

int sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa == NULL || buf == NULL || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	const void *addr;
	if (sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return -EAFNOSUPPORT;
	if (inet_ntop(sa->sa_family, addr, buf, (socklen_t)size) == NULL) {
		buf[0] = '\0';
		return AD_ENOSPACE;
	}
	return 0;
}

uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool sockaddr_equal_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a == NULL || b == NULL || a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

int sockaddr_format_prefix(const struct sockaddr *sa, int prefixlen, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	int ret = sockaddr_format_ip(sa, ip, sizeof(ip));
	if (ret != 0)
		return ret;
	if (prefixlen < 0)
		prefixlen = sa->sa_family == AF_INET6 ? 128 : 32;
	int n = snprintf(buf, size, "%s/%d", ip, prefixlen);
	return n < 0 || (size_t)n >= size ? AD_ENOSPACE : 0;
}
