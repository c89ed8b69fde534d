/*
 * HTTP syntax shared by the relay's and the operator's head parsers: the byte class
 * table and the authority of a Host field or an absolute-form target. The scanning
 * steps are inline, in http_syntax.h.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "http_syntax.h"
#include "nametable.h"

#define T (HTTP_TCHAR_NOHASH | HTTP_TARGET | HTTP_FIELD) /* tchar */
#define V (HTTP_TARGET | HTTP_FIELD)                     /* VCHAR, not tchar */
#define X HTTP_HEX

const uint8_t http_byte_class[256] = {
	['\t'] = HTTP_FIELD,  [' '] = HTTP_FIELD,
	['!'] = T,            ['"'] = V,            ['#'] = HTTP_HASH | HTTP_FIELD,
	['$' ... '\''] = T,   ['(' ... ')'] = V,    ['*' ... '+'] = T,
	[','] = V,            ['-' ... '.'] = T,    ['/'] = V,
	['0' ... '9'] = T | X,                      [':' ... '@'] = V,
	['A' ... 'F'] = T | X,                      ['G' ... 'Z'] = T,
	['[' ... ']'] = V,    ['^' ... '`'] = T,    ['a' ... 'f'] = T | X,
	['g' ... 'z'] = T,    ['{'] = V,            ['|'] = T,
	['}'] = V,            ['~'] = T,            [0x80 ... 0xff] = HTTP_FIELD,
};

#undef T
#undef V
#undef X

/* ---------------------------------------------------------------- authority */

int http_authority_parse(const char *a, size_t n, struct http_authority *au)
{
	const char *port = NULL;
	size_t host_len, port_len = 0, i;
	uint32_t pnum = 0;
	int ret;

	if (n > 0 && a[0] == '[') {
		char tmp[INET6_ADDRSTRLEN];
		struct in6_addr a6;
		const char *close = memchr(a, ']', n);
		if (close == NULL)
			return AD_EPARSE;
		host_len = (size_t)(close - a) - 1;
		if (host_len == 0 || host_len >= sizeof(tmp))
			return AD_EPARSE;
		for (i = 0; i < host_len; i++) {
			char c = a[1 + i];
			if (!http_byte_is((unsigned char)c, HTTP_HEX) && c != ':' && c != '.')
				return AD_EPARSE; /* zone ("%25"), IPvFuture */
			tmp[i] = (c >= 'A' && c <= 'F') ? (char)(c + 'a' - 'A') : c;
		}
		tmp[host_len] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return AD_EPARSE;
		memcpy(au->host, tmp, host_len + 1);
		au->host_len = host_len;
		au->is_ip = true;
		i = host_len + 2;
		if (i < n) {
			if (a[i] != ':')
				return AD_EPARSE;
			port = a + i + 1;
			port_len = n - i - 1;
		}
	} else {
		struct in_addr a4;
		const char *colon = memchr(a, ':', n);
		host_len = colon != NULL ? (size_t)(colon - a) : n;
		if (colon != NULL) {
			port = colon + 1;
			port_len = n - host_len - 1;
		}
		/* '*' is a wildcard to the name table, never a host */
		if (host_len == 0 || memchr(a, '*', host_len) != NULL)
			return AD_EPARSE;
		ret = nametable_name_normalize(a, host_len, au->host, sizeof(au->host));
		if (ret < 0)
			return AD_EPARSE;
		au->host_len = (size_t)ret;
		au->is_ip = inet_pton(AF_INET, au->host, &a4) == 1;
	}
	for (i = 0; i < port_len; i++) {
		if (port[i] < '0' || port[i] > '9')
			return AD_EPARSE;
		pnum = pnum * 10 + (uint32_t)(port[i] - '0');
		if (pnum > 65535)
			return AD_EPARSE;
	}
	au->port = (uint16_t)pnum;
	return 0;
}

int http_target_authority(const char *t, size_t n, size_t scheme_len,
			  struct http_slice *auth)
{
	size_t i = scheme_len, end;

	if (i > n || n - i < 3 || memcmp(t + i, "://", 3) != 0)
		return 0;
	if (!((i == 4 && strncasecmp(t, "http", 4) == 0) ||
	      (i == 5 && strncasecmp(t, "https", 5) == 0)))
		return AD_EPARSE; /* a scheme we do not serve */
	i += 3;
	for (end = i; end < n && t[end] != '/' && t[end] != '?' && t[end] != '#'; end++)
		if (t[end] == '@')
			return AD_EPARSE; /* userinfo: RFC 9110 §4.2.4 */
	*auth = (struct http_slice){ t + i, end - i };
	return 1;
}
