/*
 * Health checks: a tiny HTTP/1.0 client, a TCP connect and a DNS query over UDP, each
 * on one non-blocking socket polled against one deadline. See health_check.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "health_check.h"
#include "sockaddr.h"


static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void whyf(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t len, const char *fmt, ...)
{
	if (why == NULL || len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---- parsing ---- */

int hc_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len, char *host,
		 size_t hostlen, char *path, size_t pathlen)
{
	if (url == NULL || strncasecmp(url, "http://", 7) != 0)
		return AD_EPARSE;
	const char *auth = url + 7;
	size_t alen = strcspn(auth, "/?#");
	const char *rest = auth + alen;
	if (alen == 0 || alen >= hostlen || memchr(auth, '@', alen) != NULL)
		return AD_EPARSE;
	memcpy(host, auth, alen);
	host[alen] = '\0';
	/* the authority with a port ("1.2.3.4:80", "[::1]:80") or without one */
	const char *close = strchr(host, ']');
	bool has_port = host[0] == '[' ? (close != NULL && close[1] == ':')
				       : strchr(host, ':') != NULL;
	int ret;
	if (has_port) {
		ret = sockaddr_parse(host, ss, len);
	} else if (host[0] == '[') {
		if (close == NULL || close[1] != '\0')
			return AD_EPARSE;
		char ip[HC_HOST_MAX];
		snprintf(ip, sizeof(ip), "%.*s", (int)(close - host - 1), host + 1);
		ret = sockaddr_parse_ip(ip, 80, ss, len);
	} else {
		ret = sockaddr_parse_ip(host, 80, ss, len);
	}
	if (ret != 0 || sockaddr_port((const struct sockaddr *)ss) == 0)
		return AD_EPARSE;
	const char *frag = strchr(rest, '#');
	size_t plen = frag ? (size_t)(frag - rest) : strlen(rest);
	if (plen + 2 > pathlen)
		return AD_EPARSE;
	if (plen == 0 || rest[0] != '/') {
		path[0] = '/';
		memcpy(path + 1, rest, plen);
		path[plen + 1] = '\0';
	} else {
		memcpy(path, rest, plen);
		path[plen] = '\0';
	}
	for (const char *p = path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return AD_EPARSE;
	return 0;
}

static const struct {
	const char *name;
	uint16_t type;
} dns_types[] = {
	{ "A", 1 },    { "NS", 2 },   { "CNAME", 5 }, { "SOA", 6 },  { "PTR", 12 },
	{ "MX", 15 },  { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "ANY", 255 },
};

int hc_dns_build(const char *text, uint16_t id, uint8_t *buf, size_t size, size_t *len)
{
	char name[300], type[32];
	int end = -1;
	if (text == NULL || sscanf(text, " %299s %31s %n", name, type, &end) != 2 || end < 0 ||
	    text[end] != '\0')
		return AD_EPARSE;
	long qtype = -1;
	for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (strcasecmp(type, dns_types[i].name) == 0)
			qtype = dns_types[i].type;
	if (qtype < 0 && strncasecmp(type, "TYPE", 4) == 0 && type[4] >= '0' && type[4] <= '9') {
		char *stop;
		qtype = strtol(type + 4, &stop, 10);
		if (*stop != '\0' || qtype < 1 || qtype > 65535)
			return AD_EPARSE;
	}
	if (qtype < 0)
		return AD_EPARSE;
	if (size < 12 + 1 + 4)
		return AD_ENOSPACE;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[5] = 1; /* QDCOUNT */
	size_t o = 12, wire = 1;
	size_t nlen = strlen(name);
	if (nlen > 1 && name[nlen - 1] == '.')
		name[--nlen] = '\0';
	if (!(nlen == 1 && name[0] == '.')) {
		for (const char *p = name; *p != '\0';) {
			size_t l = strcspn(p, ".");
			if (l == 0 || l > 63)
				return AD_EPARSE;
			wire += l + 1;
			if (wire > 255)
				return AD_EPARSE;
			if (o + 1 + l + 1 + 4 > size)
				return AD_ENOSPACE;
			buf[o++] = (uint8_t)l;
			memcpy(buf + o, p, l);
			o += l;
			p += l;
			if (*p == '.')
				p++;
			if (*p == '\0' && p[-1] == '.')
				return AD_EPARSE; /* "a..": empty label */
		}
	}
	buf[o++] = 0;
	buf[o++] = (uint8_t)(qtype >> 8);
	buf[o++] = (uint8_t)qtype;
	buf[o++] = 0;
	buf[o++] = 1; /* IN */
	*len = o;
	return 0;
}

int hc_dns_judge(const uint8_t *q, size_t qlen, const uint8_t *pkt, size_t len, char *why,
		 size_t whylen)
{
	if (len < qlen || len < 12 || pkt[0] != q[0] || pkt[1] != q[1] || !(pkt[2] & 0x80))
		return AD_ENOTFOUND;
	if (((pkt[2] >> 3) & 0xf) != 0 || pkt[4] != 0 || pkt[5] != 1)
		return AD_ENOTFOUND;
	/* the question: name case-insensitively (servers may change the case), then type
	 * and class exactly. The query's name has no compression, so a byte walk works. */
	for (size_t i = 12; i < qlen - 4;) {
		size_t l = q[i];
		if (pkt[i] != q[i])
			return AD_ENOTFOUND;
		for (size_t k = i + 1; k <= i + l; k++)
			if (tolower(pkt[k]) != tolower(q[k]))
				return AD_ENOTFOUND;
		i += l + 1;
	}
	if (memcmp(pkt + qlen - 4, q + qlen - 4, 4) != 0)
		return AD_ENOTFOUND;
	unsigned rcode = pkt[3] & 0xf;
	if (rcode != 0) {
		whyf(why, whylen, "rcode %u", rcode);
		return AD_EPARSE;
	}
	if (!(pkt[2] & 0x04)) {
		whyf(why, whylen, "no AA bit");
		return AD_EPARSE;
	}
	return 0;
}

int hc_init(struct hc_check *c, const struct healthd_check_cfg *cfg, char *err, size_t errlen)
{
	char addr[SOCKADDR_STRLEN];
	memset(c, 0, sizeof(*c));
	c->type = (enum healthd_check_type)cfg->type;
	c->timeout_ms = cfg->timeout ? cfg->timeout : 1000;
	switch (c->type) {
	case HEALTHD_CHECK_HTTP:
		if (cfg->url == NULL) {
			whyf(err, errlen, "http check needs url");
			return AD_ECONFIG;
		}
		if (hc_parse_url(cfg->url, &c->addr, &c->addrlen, c->host, sizeof(c->host),
				 c->path, sizeof(c->path)) != 0) {
			whyf(err, errlen, "url: expected http://IP[:PORT]/path, got \"%.200s\"",
			     cfg->url);
			return AD_ECONFIG;
		}
		snprintf(c->label, sizeof(c->label), "http://%s%s", c->host, c->path);
		return 0;
	case HEALTHD_CHECK_TCP:
		if (!cfg->address_present) {
			whyf(err, errlen, "tcp check needs address");
			return AD_ECONFIG;
		}
		c->addr = cfg->address.addr;
		c->addrlen = cfg->address.len;
		sockaddr_format((const struct sockaddr *)&c->addr, c->addrlen, addr, sizeof(addr));
		snprintf(c->label, sizeof(c->label), "tcp %s", addr);
		return 0;
	case HEALTHD_CHECK_DNS:
		if (!cfg->server_present) {
			whyf(err, errlen, "dns check needs server");
			return AD_ECONFIG;
		}
		if (hc_dns_build(cfg->query, 0, c->query, sizeof(c->query), &c->query_len) != 0) {
			whyf(err, errlen, "query: expected \"NAME TYPE\", got \"%.200s\"",
			     cfg->query ? cfg->query : "");
			return AD_ECONFIG;
		}
		c->addr = cfg->server.addr;
		c->addrlen = cfg->server.len;
		sockaddr_format((const struct sockaddr *)&c->addr, c->addrlen, addr, sizeof(addr));
		snprintf(c->label, sizeof(c->label), "dns %s %s", addr, cfg->query);
		return 0;
	}
	whyf(err, errlen, "unknown check type");
	return AD_ECONFIG;
}

/* ---- probing ---- */

/* Wait for events on fd until deadline (ms). Returns 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = clock_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* A connected non-blocking socket of type, or -errno (reason in why). */
static int open_connected(const struct hc_check *c, int type, uint64_t deadline, char *why,
			  size_t whylen)
{
	int fd = socket(c->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret;
	if (fd < 0) {
		ret = -errno;
		whyf(why, whylen, "socket: %s", strerror(errno));
		return ret;
	}
	if (connect(fd, (const struct sockaddr *)&c->addr, c->addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		ret = -errno;
		goto fail;
	}
	ret = wait_fd(fd, POLLOUT, deadline);
	if (ret == 0) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			ret = -errno;
		else if (soerr != 0)
			ret = -soerr;
		else
			return fd;
	}
fail:
	whyf(why, whylen, "connect: %s", ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
	close(fd);
	return ret;
}

static int run_tcp(const struct hc_check *c, uint64_t deadline, char *why, size_t whylen)
{
	int fd = open_connected(c, SOCK_STREAM, deadline, why, whylen);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int run_http(const struct hc_check *c, uint64_t deadline, char *why, size_t whylen)
{
	char req[HC_PATH_MAX + HC_HOST_MAX + 128];
	char resp[512];
	size_t got = 0, sent = 0;
	int ret, fd = open_connected(c, SOCK_STREAM, deadline, why, whylen);
	if (fd < 0)
		return fd;
	int rlen = snprintf(req, sizeof(req),
			    "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: airdress-healthd\r\n"
			    "Connection: close\r\n\r\n", c->path, c->host);
	while (sent < (size_t)rlen) {
		ssize_t n = send(fd, req + sent, (size_t)rlen - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			whyf(why, whylen, "send: %s", strerror(errno));
			goto finish;
		}
		if ((ret = wait_fd(fd, POLLOUT, deadline)) != 0) {
			whyf(why, whylen, "send: timed out");
			goto finish;
		}
	}
	/* the status line is all we need */
	while (memchr(resp, '\n', got) == NULL) {
		if (got == sizeof(resp) - 1) {
			ret = AD_EPARSE;
			whyf(why, whylen, "status line too long");
			goto finish;
		}
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			whyf(why, whylen, "recv: %s", strerror(errno));
			goto finish;
		}
		if ((ret = wait_fd(fd, POLLIN, deadline)) != 0) {
			whyf(why, whylen, "no response: timed out");
			goto finish;
		}
	}
	resp[got] = '\0';
	unsigned status = 0;
	char sp;
	if (sscanf(resp, "HTTP/1.%*1[01]%c%3u", &sp, &status) != 2 || sp != ' ' ||
	    status < 100 || status > 999) {
		ret = AD_EPARSE;
		whyf(why, whylen, "not an HTTP response");
		goto finish;
	}
	ret = status >= 200 && status < 300 ? 0 : AD_EPARSE;
	if (ret != 0)
		whyf(why, whylen, "status %u", status);
finish:
	close(fd);
	return ret;
}

static int run_dns(const struct hc_check *c, uint64_t deadline, char *why, size_t whylen)
{
	uint8_t q[HC_DNS_MAX], a[HC_DNS_MAX];
	uint16_t id;
	int ret, fd = open_connected(c, SOCK_DGRAM, deadline, why, whylen);
	if (fd < 0)
		return fd;
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = (uint16_t)clock_ms();
	memcpy(q, c->query, c->query_len);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	if (send(fd, q, c->query_len, MSG_NOSIGNAL) != (ssize_t)c->query_len) {
		ret = -errno;
		whyf(why, whylen, "send: %s", strerror(errno));
		goto finish;
	}
	for (;;) {
		ssize_t n = recv(fd, a, sizeof(a), 0);
		if (n >= 0) {
			ret = hc_dns_judge(q, c->query_len, a, (size_t)n, why, whylen);
			if (ret != AD_ENOTFOUND)
				goto finish;
			continue; /* not ours: keep waiting */
		}
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno; /* ECONNREFUSED: nobody listens */
			whyf(why, whylen, "recv: %s", strerror(errno));
			goto finish;
		}
		if ((ret = wait_fd(fd, POLLIN, deadline)) != 0) {
			whyf(why, whylen, "no answer: timed out");
			goto finish;
		}
	}
finish:
	close(fd);
	return ret;
}

int hc_run(const struct hc_check *c, char *why, size_t whylen, double *elapsed_s)
{
	double start = mono_s();
	uint64_t deadline = clock_ms() + c->timeout_ms;
	int ret;
	whyf(why, whylen, "ok");
	switch (c->type) {
	case HEALTHD_CHECK_HTTP:
		ret = run_http(c, deadline, why, whylen);
		break;
	case HEALTHD_CHECK_TCP:
		ret = run_tcp(c, deadline, why, whylen);
		break;
	case HEALTHD_CHECK_DNS:
		ret = run_dns(c, deadline, why, whylen);
		break;
	default:
		ret = -EINVAL;
		whyf(why, whylen, "unknown check type");
		break;
	}
	if (elapsed_s != NULL)
		*elapsed_s = mono_s() - start;
	return ret;
}
