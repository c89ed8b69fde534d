/*
 * Admin HTTP: the HTTP/1.x request head parser of the admin server. See admin_http.h.
 * Pure: no allocation, no I/O, pointers into the caller's buffer. Strict where
 * leniency would let requests be read two ways (RFC 9112 section 11.2): no
 * obs-fold, no blank before the colon, no control characters, one Content-Length
 * value, never Content-Length together with Transfer-Encoding.
 */
#include <string.h>
#include <strings.h>

#include "admin_http.h"
#include "error.h"

/* token characters (RFC 9110 5.6.2) */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* field-value characters: VCHAR, obs-text, SP, HTAB */
static int is_field_char(unsigned char c)
{
	return is_vchar(c) || c >= 0x80 || c == ' ' || c == '\t';
}

static int all_tchar(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return n > 0;
}

static int ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* The line starting at *pos: [*start, *end) without its CRLF or LF, *pos moved past
 * it. 0, or AD_ETRUNC when no LF follows. */
static int next_line(const char *buf, size_t len, size_t *pos, size_t *start, size_t *end)
{
	const char *lf = memchr(buf + *pos, '\n', len - *pos);
	if (lf == NULL)
		return AD_ETRUNC;
	*start = *pos;
	*end = (size_t)(lf - buf);
	if (*end > *start && buf[*end - 1] == '\r')
		(*end)--;
	*pos = (size_t)(lf - buf) + 1;
	return 0;
}

/* Path and query out of a request target (origin-form, absolute-form or "*"). */
static int parse_target(struct admin_http_request *req)
{
	const char *t = req->target, *end = t + req->target_len, *p = t;

	if (t[0] == '*' && req->target_len == 1) {
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	if (t[0] != '/') {
		size_t scheme;
		if (req->target_len > 7 && strncasecmp(t, "http://", 7) == 0)
			scheme = 7;
		else if (req->target_len > 8 && strncasecmp(t, "https://", 8) == 0)
			scheme = 8;
		else
			return AD_EPARSE;
		p = t + scheme;
		while (p < end && *p != '/' && *p != '?')
			p++;
		if (p == t + scheme)
			return AD_EPARSE; /* empty authority */
	}
	const char *q = memchr(p, '?', (size_t)(end - p));
	const char *path_end = q != NULL ? q : end;
	if (path_end == p) {
		req->path = "/";
		req->path_len = 1;
	} else {
		req->path = p;
		req->path_len = (size_t)(path_end - p);
	}
	if (q != NULL) {
		req->query = q + 1;
		req->query_len = (size_t)(end - q - 1);
	}
	return 0;
}

static int parse_request_line(const char *line, size_t n, struct admin_http_request *req)
{
	const char *sp1 = memchr(line, ' ', n);
	if (sp1 == NULL)
		return AD_EPARSE;
	req->method = line;
	req->method_len = (size_t)(sp1 - line);
	if (!all_tchar(req->method, req->method_len))
		return AD_EPARSE;
	const char *rest = sp1 + 1, *end = line + n;
	const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
	if (sp2 == NULL || sp2 == rest)
		return AD_EPARSE;
	req->target = rest;
	req->target_len = (size_t)(sp2 - rest);
	for (size_t i = 0; i < req->target_len; i++)
		if (!is_vchar((unsigned char)rest[i]))
			return AD_EPARSE;
	const char *v = sp2 + 1;
	if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return AD_EPARSE;
	req->version_major = v[5] - '0';
	req->version_minor = v[7] - '0';
	return parse_target(req);
}

static int parse_content_length(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	if (n == 0)
		return AD_EPARSE;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return AD_EPARSE;
		if (v > (INT64_MAX - 9) / 10)
			v = INT64_MAX; /* saturate: "too large" */
		else
			v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Interpret the headers the server acts on. */
static int interpret_header(struct admin_http_request *req, const struct admin_http_header *h)
{
	if (ieq(h->name, h->name_len, "content-length")) {
		int64_t v;
		if (parse_content_length(h->value, h->value_len, &v) != 0)
			return AD_EPARSE;
		if (req->content_length >= 0 && req->content_length != v)
			return AD_EPARSE;
		req->content_length = v;
	} else if (ieq(h->name, h->name_len, "transfer-encoding")) {
		if (req->transfer_encoding == ADMIN_HTTP_TE_NONE &&
		    ieq(h->value, h->value_len, "chunked"))
			req->transfer_encoding = ADMIN_HTTP_TE_CHUNKED;
		else
			req->transfer_encoding = ADMIN_HTTP_TE_OTHER;
	} else if (ieq(h->name, h->name_len, "host")) {
		req->host_count++;
	} else if (ieq(h->name, h->name_len, "expect")) {
		if (ieq(h->value, h->value_len, "100-continue"))
			req->expect_continue = true;
		else
			req->expect_other = true;
	}
	return 0;
}

static int parse_header_line(const char *line, size_t n, struct admin_http_request *req)
{
	struct admin_http_header *h;
	const char *colon, *v, *end = line + n;

	if (req->n_headers == ADMIN_HTTP_MAX_HEADERS)
		return AD_ETOOBIG;
	colon = memchr(line, ':', n);
	/* also rejects obs-fold (a line starting with a blank) and "Name :" */
	if (colon == NULL || !all_tchar(line, (size_t)(colon - line)))
		return AD_EPARSE;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (!is_field_char((unsigned char)*c))
			return AD_EPARSE;
	h = &req->headers[req->n_headers++];
	h->name = line;
	h->name_len = (size_t)(colon - line);
	h->value = v;
	h->value_len = (size_t)(end - v);
	return interpret_header(req, h);
}

/* Reject a request line that cannot become valid, without waiting for its LF. */
static int check_partial_request_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(is_vchar(c) || c == ' ' || (c == '\r' && i + 1 == n)))
			return AD_EPARSE;
	}
	return AD_ETRUNC;
}

int admin_http_parse_request(const char *buf, size_t len, struct admin_http_request *req)
{
	size_t pos = 0, start, end;
	int ret;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->query = "";

	/* Empty lines before the request line are ignored (RFC 9112 2.2). */
	for (;;) {
		if (pos < len && buf[pos] == '\n') {
			pos++;
		} else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n') {
			pos += 2;
		} else {
			break;
		}
	}
	ret = next_line(buf, len, &pos, &start, &end);
	if (ret != 0)
		return check_partial_request_line(buf + pos, len - pos);
	ret = parse_request_line(buf + start, end - start, req);
	if (ret != 0)
		return ret;
	for (;;) {
		ret = next_line(buf, len, &pos, &start, &end);
		if (ret != 0)
			return ret;
		if (start == end)
			break;
		ret = parse_header_line(buf + start, end - start, req);
		if (ret != 0)
			return ret;
	}
	if (req->transfer_encoding != ADMIN_HTTP_TE_NONE && req->content_length >= 0)
		return AD_EPARSE;
	req->head_len = pos;
	return 0;
}

const char *admin_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
