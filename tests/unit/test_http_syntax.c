/* Unit tests for http_syntax: byte classes, scanner steps, authority. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "http_syntax.h"

/* ---------------------------------------------------------------- byte classes */

/* The classes as RFC 9110 spells them, one byte at a time. */
static bool rfc_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool rfc_vchar(int c)
{
	return c >= 0x21 && c <= 0x7e;
}

static bool rfc_field(int c)
{
	return rfc_vchar(c) || c >= 0x80 || c == ' ' || c == '\t';
}

static bool rfc_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Test(http_syntax, byte_classes_match_rfc_9110_for_every_byte)
{
	for (int c = 0; c < 256; c++) {
		unsigned char b = (unsigned char)c;
		cr_assert_eq(http_byte_is(b, HTTP_TCHAR), rfc_tchar(c), "tchar 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_TCHAR_NOHASH), rfc_tchar(c) && c != '#',
			     "tchar but '#' 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_VCHAR), rfc_vchar(c), "vchar 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_TARGET), rfc_vchar(c) && c != '#',
			     "target 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_FIELD), rfc_field(c), "field 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_HEX), rfc_hex(c), "hex 0x%02x", c);
		cr_assert_eq(http_byte_is(b, HTTP_HASH), c == '#', "hash 0x%02x", c);
	}
}

Test(http_syntax, byte_class_edges)
{
	/* the ends of each range, named so that a failure reads at once */
	cr_assert(!http_byte_is(0x00, HTTP_FIELD));
	cr_assert(!http_byte_is(0x1f, HTTP_FIELD));
	cr_assert(http_byte_is(0x20, HTTP_FIELD) && !http_byte_is(0x20, HTTP_VCHAR));
	cr_assert(http_byte_is('\t', HTTP_FIELD) && !http_byte_is('\t', HTTP_TCHAR));
	cr_assert(http_byte_is(0x21, HTTP_TCHAR) && http_byte_is(0x7e, HTTP_TCHAR));
	cr_assert(!http_byte_is(0x7f, HTTP_FIELD | HTTP_VCHAR | HTTP_TCHAR));
	cr_assert(http_byte_is(0x80, HTTP_FIELD) && !http_byte_is(0x80, HTTP_VCHAR));
	cr_assert(http_byte_is(0xff, HTTP_FIELD) && !http_byte_is(0xff, HTTP_TCHAR));
	/* delimiters: VCHAR, not tchar */
	for (const char *d = "\"(),/:;<=>?@[\\]{}"; *d != '\0'; d++)
		cr_assert(http_byte_is((unsigned char)*d, HTTP_TARGET) &&
			  !http_byte_is((unsigned char)*d, HTTP_TCHAR), "'%c'", *d);
	cr_assert(http_byte_is('#', HTTP_TCHAR) && !http_byte_is('#', HTTP_TCHAR_NOHASH));
	cr_assert(http_byte_is('#', HTTP_VCHAR) && !http_byte_is('#', HTTP_TARGET));
	cr_assert(http_byte_is('F', HTTP_HEX) && !http_byte_is('G', HTTP_HEX));
	cr_assert(http_byte_is('f', HTTP_HEX) && !http_byte_is('g', HTTP_HEX));
}

/* ---------------------------------------------------------------- scanning */

/* Codes nobody else uses, so that each test sees which one the scanner chose. */
enum { R_INCOMPLETE = 101, R_TOO_BIG, R_LINE_END, R_START_LINE, R_VERSION, R_OBS_FOLD,
       R_SPACE_COLON, R_NAME, R_VALUE, R_BAD_BYTE };

static const struct http_scan_reasons reasons = {
	.incomplete = R_INCOMPLETE,
	.too_big = R_TOO_BIG,
	.bad_line_end = R_LINE_END,
	.bad_start_line = R_START_LINE,
	.bad_version = R_VERSION,
	.obs_fold = R_OBS_FOLD,
	.space_before_colon = R_SPACE_COLON,
	.bad_header_name = R_NAME,
	.bad_header_value = R_VALUE,
};

enum step { WORD_TCHAR, WORD_TOKEN, VERSION, CRLF, BLANK, LINE_START, NAME_TCHAR,
	    NAME_TOKEN, VALUE };

static int run(enum step step, struct http_scan *s, struct http_slice *out, int *minor)
{
	switch (step) {
	case WORD_TCHAR:
		return http_scan_word(s, HTTP_TCHAR, R_BAD_BYTE, out);
	case WORD_TOKEN:
		return http_scan_word(s, HTTP_TCHAR_NOHASH, R_BAD_BYTE, out);
	case VERSION:
		return http_scan_version(s, minor);
	case CRLF:
		return http_scan_crlf(s);
	case BLANK:
		return http_scan_blank_lines(s);
	case LINE_START:
		return http_scan_line_start(s);
	case NAME_TCHAR:
		return http_scan_field_name(s, HTTP_TCHAR, out);
	case NAME_TOKEN:
		return http_scan_field_name(s, HTTP_TCHAR_NOHASH, out);
	case VALUE:
		return http_scan_field_value(s, out);
	}
	return 0;
}

struct step_case {
	enum step step;
	const char *in;
	int ret;          /* what the step returns on the whole input */
	int reason;       /* with ret < 0 */
	size_t pos;       /* with ret >= 0: where it stops */
	const char *text; /* the slice, for WORD, NAME and VALUE */
};

static const struct step_case steps[] = {
	{ WORD_TCHAR, "GET /", 0, 0, 4, "GET" },
	{ WORD_TCHAR, "M-SEARCH! *", 0, 0, 10, "M-SEARCH!" },
	{ WORD_TCHAR, "G#T /", 0, 0, 4, "G#T" },
	{ WORD_TOKEN, "G#T /", AD_EPARSE, R_BAD_BYTE, 0, NULL },
	{ WORD_TCHAR, " GET", AD_EPARSE, R_START_LINE, 0, NULL },  /* empty */
	{ WORD_TCHAR, "GET\r\n", AD_EPARSE, R_START_LINE, 0, NULL }, /* HTTP/0.9 */
	{ WORD_TCHAR, "GET\n", AD_EPARSE, R_START_LINE, 0, NULL },
	{ WORD_TCHAR, "GE(T ", AD_EPARSE, R_BAD_BYTE, 0, NULL },
	{ WORD_TCHAR, "GET\t/", AD_EPARSE, R_BAD_BYTE, 0, NULL },
	{ WORD_TCHAR, "GET\x80 ", AD_EPARSE, R_BAD_BYTE, 0, NULL },
	{ VERSION, "HTTP/1.1\r", 0, 0, 8, NULL },
	{ VERSION, "HTTP/1.0", 0, 0, 8, NULL },
	{ VERSION, "HTTP/1.9", 0, 0, 8, NULL },
	{ VERSION, "HTTP/2.0", AD_EPARSE, R_VERSION, 0, NULL },
	{ VERSION, "HTTP/0.9", AD_EPARSE, R_VERSION, 0, NULL },
	{ VERSION, "HTTP/3", AD_EPARSE, R_VERSION, 0, NULL },
	{ VERSION, "http/1.1", AD_EPARSE, R_START_LINE, 0, NULL },
	{ VERSION, "HTTP/1.x", AD_EPARSE, R_START_LINE, 0, NULL },
	{ VERSION, "HTTP/1,1", AD_EPARSE, R_START_LINE, 0, NULL },
	{ VERSION, "HTTP/X.1", AD_EPARSE, R_START_LINE, 0, NULL },
	{ CRLF, "\r\nX", 0, 0, 2, NULL },
	{ CRLF, "\n", AD_EPARSE, R_LINE_END, 0, NULL },
	{ CRLF, "\rX", AD_EPARSE, R_LINE_END, 0, NULL },
	{ CRLF, " \r\n", AD_EPARSE, R_START_LINE, 0, NULL },
	{ CRLF, "0\r\n", AD_EPARSE, R_START_LINE, 0, NULL },
	{ BLANK, "\r\n\r\nGET", 0, 0, 4, NULL },
	{ BLANK, "GET", 0, 0, 0, NULL },
	{ BLANK, "\r\n\nGET", AD_EPARSE, R_LINE_END, 0, NULL },
	{ BLANK, "\r\r\n", AD_EPARSE, R_LINE_END, 0, NULL },
	{ LINE_START, "\r\nbody", 1, 0, 2, NULL },
	{ LINE_START, "Host: x", 0, 0, 0, NULL },
	{ LINE_START, ":", 0, 0, 0, NULL }, /* the name step refuses it */
	{ LINE_START, "\n", AD_EPARSE, R_LINE_END, 0, NULL },
	{ LINE_START, "\rx", AD_EPARSE, R_LINE_END, 0, NULL },
	{ LINE_START, " x", AD_EPARSE, R_OBS_FOLD, 0, NULL },
	{ LINE_START, "\tx", AD_EPARSE, R_OBS_FOLD, 0, NULL },
	{ NAME_TCHAR, "Host: x", 0, 0, 5, "Host" },
	{ NAME_TCHAR, "X-#:1", 0, 0, 4, "X-#" },
	{ NAME_TOKEN, "X-#:1", AD_EPARSE, R_NAME, 0, NULL },
	{ NAME_TCHAR, "Host : x", AD_EPARSE, R_SPACE_COLON, 0, NULL },
	{ NAME_TCHAR, "Host\t: x", AD_EPARSE, R_SPACE_COLON, 0, NULL },
	{ NAME_TCHAR, ": x", AD_EPARSE, R_NAME, 0, NULL },
	{ NAME_TCHAR, "Host\r\n", AD_EPARSE, R_NAME, 0, NULL },
	{ NAME_TCHAR, "Ho(st: x", AD_EPARSE, R_NAME, 0, NULL },
	{ VALUE, " \t a b \t \r\nX", 0, 0, 11, "a b" },
	{ VALUE, "\r\n", 0, 0, 2, "" },
	{ VALUE, "  \r\n", 0, 0, 4, "" },
	{ VALUE, "caf\xc3\xa9\r\n", 0, 0, 7, "caf\xc3\xa9" },
	{ VALUE, "a\x7f\r\n", AD_EPARSE, R_VALUE, 0, NULL },
	{ VALUE, "a\x01\r\n", AD_EPARSE, R_VALUE, 0, NULL },
	{ VALUE, "a\n", AD_EPARSE, R_LINE_END, 0, NULL },
	{ VALUE, "a\rb", AD_EPARSE, R_LINE_END, 0, NULL },
};

Test(http_syntax, steps_and_every_prefix)
{
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step_case *c = &steps[i];
		size_t len = strlen(c->in);
		struct http_slice out = { NULL, 0 };
		struct http_scan s;
		int minor = -1, ret;

		http_scan_init(&s, c->in, len, 1000, &reasons);
		ret = run(c->step, &s, &out, &minor);
		cr_assert_eq(ret, c->ret, "case %zu \"%s\": %d", i, c->in, ret);
		if (ret < 0) {
			cr_assert_eq(s.reason, c->reason, "case %zu: reason %d", i, s.reason);
		} else {
			cr_assert_eq(s.pos, c->pos, "case %zu: pos %zu", i, s.pos);
			if (c->text != NULL) {
				cr_assert_eq(out.len, strlen(c->text), "case %zu", i);
				cr_assert(memcmp(out.p, c->text, out.len) == 0, "case %zu", i);
			}
		}
		if (c->step == VERSION && ret == 0)
			cr_assert_eq(minor, c->in[7] - '0');

		/* A decision never depends on bytes not reached: every prefix that stops
		 * before the deciding byte asks for more. */
		for (size_t n = 0; n < len; n++) {
			http_scan_init(&s, c->in, n, 1000, &reasons);
			int pret = run(c->step, &s, &out, &minor);
			cr_assert(pret == AD_ETRUNC || pret == ret,
				  "case %zu, prefix %zu: %d", i, n, pret);
			if (pret == AD_ETRUNC)
				cr_assert_eq(s.reason, R_INCOMPLETE);
		}
	}
}

Test(http_syntax, nul_is_no_token_nor_field_byte)
{
	struct http_slice out;
	struct http_scan s;

	http_scan_init(&s, "Ho\0st: x\r\n", 10, 1000, &reasons);
	cr_assert_eq(http_scan_field_name(&s, HTTP_TCHAR, &out), AD_EPARSE);
	cr_assert_eq(s.reason, R_NAME);
	http_scan_init(&s, "a\0b\r\n", 5, 1000, &reasons);
	cr_assert_eq(http_scan_field_value(&s, &out), AD_EPARSE);
	cr_assert_eq(s.reason, R_VALUE);
	http_scan_init(&s, "/a\0 ", 4, 1000, &reasons);
	cr_assert_eq(http_scan_word(&s, HTTP_TARGET, R_BAD_BYTE, &out), AD_EPARSE);
	cr_assert_eq(s.reason, R_BAD_BYTE);
}

Test(http_syntax, limit_makes_missing_bytes_too_big)
{
	static const char name[] = "X-Long-Name-Here: v\r\n";
	struct http_slice out;
	struct http_scan s;

	/* the limit falls inside the name: short input waits, long input is too big */
	http_scan_init(&s, name, 5, 8, &reasons);
	cr_assert_eq(http_scan_field_name(&s, HTTP_TCHAR, &out), AD_ETRUNC);
	cr_assert_eq(s.reason, R_INCOMPLETE);
	http_scan_init(&s, name, sizeof(name) - 1, 8, &reasons);
	cr_assert_eq(s.limit, 8);
	cr_assert_eq(http_scan_field_name(&s, HTTP_TCHAR, &out), AD_ETOOBIG);
	cr_assert_eq(s.reason, R_TOO_BIG);
	cr_assert_eq(s.pos, 8);
	/* one byte under the limit still waits */
	s.pos = 7;
	cr_assert_eq(http_scan_more(&s), AD_ETRUNC);
	s.pos = 8;
	cr_assert_eq(http_scan_more(&s), AD_ETOOBIG);
	cr_assert_eq(http_scan_reject(&s, 42), AD_EPARSE);
	cr_assert_eq(s.reason, 42);
}

Test(http_syntax, trim_ows)
{
	struct http_slice t = http_trim_ows(" \t a \t b\t ", 10);
	cr_assert_eq(t.len, 5);
	cr_assert(memcmp(t.p, "a \t b", 5) == 0);
	cr_assert_eq(http_trim_ows(" \t ", 3).len, 0);
	cr_assert_eq(http_trim_ows("", 0).len, 0);
	cr_assert_eq(http_trim_ows("x", 1).len, 1);
}

/* ---------------------------------------------------------------- authority */

struct auth_case {
	const char *in;
	const char *host; /* NULL: refused */
	uint16_t port;
	bool is_ip;
};

static const struct auth_case auths[] = {
	{ "a", "a", 0, false },
	{ "App.Example", "app.example", 0, false },
	{ "app.example.", "app.example", 0, false },       /* one trailing dot dropped */
	{ "app.example.:8443", "app.example", 8443, false },
	{ "under_score.example", "under_score.example", 0, false },
	{ "x:", "x", 0, false },                            /* empty port: none */
	{ "x:0", "x", 0, false },
	{ "x:00080", "x", 80, false },
	{ "x:65535", "x", 65535, false },
	{ "203.0.113.10", "203.0.113.10", 0, true },
	{ "203.0.113.10:80", "203.0.113.10", 80, true },
	{ "256.0.0.1", "256.0.0.1", 0, false },             /* a name, not an address */
	{ "1.2.3.4.5", "1.2.3.4.5", 0, false },
	{ "[::1]", "::1", 0, true },
	{ "[::1]:", "::1", 0, true },
	{ "[::1]:443", "::1", 443, true },
	{ "[2001:DB8::A]", "2001:db8::a", 0, true },
	{ "[::ffff:192.0.2.1]", "::ffff:192.0.2.1", 0, true },
	{ "[0000:0000:0000:0000:0000:ffff:255.255.255.255]",  /* 45: the longest */
	  "0000:0000:0000:0000:0000:ffff:255.255.255.255", 0, true },
	{ "", NULL, 0, false },
	{ ":80", NULL, 0, false },
	{ ".", NULL, 0, false },
	{ "a..", NULL, 0, false },
	{ "a..b", NULL, 0, false },
	{ ".a", NULL, 0, false },
	{ "*", NULL, 0, false },
	{ "*.example", NULL, 0, false },
	{ "a*b", NULL, 0, false },
	{ "a%41", NULL, 0, false },
	{ "u@a", NULL, 0, false },
	{ "a b", NULL, 0, false },
	{ "a!b", NULL, 0, false },
	{ "caf\xc3\xa9", NULL, 0, false },
	{ "x:65536", NULL, 0, false },
	{ "x:99999999999999999999", NULL, 0, false },
	{ "x:8a", NULL, 0, false },
	{ "x:+1", NULL, 0, false },
	{ "x: 1", NULL, 0, false },
	{ "x:1:2", NULL, 0, false },
	{ "[]", NULL, 0, false },
	{ "[::1", NULL, 0, false },
	{ "[::1]x", NULL, 0, false },
	{ "[::1]]", NULL, 0, false },
	{ "[::1]:x", NULL, 0, false },
	{ "[fe80::1%25eth0]", NULL, 0, false },             /* zone */
	{ "[v1.fe80::a]", NULL, 0, false },                 /* IPvFuture */
	{ "[1.2.3.4]", NULL, 0, false },
	{ "[::g]", NULL, 0, false },
	{ "[00000:0000:0000:0000:0000:ffff:255.255.255.255]", NULL, 0, false }, /* 46 */
};

Test(http_syntax, authority)
{
	for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
		const struct auth_case *c = &auths[i];
		struct http_authority au;
		int ret = http_authority_parse(c->in, strlen(c->in), &au);

		if (c->host == NULL) {
			cr_assert_eq(ret, AD_EPARSE, "\"%s\" accepted", c->in);
			continue;
		}
		cr_assert_eq(ret, 0, "\"%s\" refused", c->in);
		cr_assert_str_eq(au.host, c->host, "\"%s\"", c->in);
		cr_assert_eq(au.host_len, strlen(c->host));
		cr_assert_eq(au.port, c->port, "\"%s\": port %u", c->in, au.port);
		cr_assert_eq(au.is_ip, c->is_ip, "\"%s\"", c->in);
	}
}

Test(http_syntax, authority_name_lengths)
{
	char name[300], want[300];
	struct http_authority au;

	/* labels of 63 (the most), names of 253 (the most, a trailing dot aside) */
	memset(name, 'a', 63);
	memcpy(name + 63, ".b", 3);
	cr_assert_eq(http_authority_parse(name, 65, &au), 0);
	memset(name, 'a', 64);
	memcpy(name + 64, ".b", 3);
	cr_assert_eq(http_authority_parse(name, 66, &au), AD_EPARSE);

	for (size_t i = 0; i < 253; i++)
		name[i] = i % 2 ? '.' : 'A';
	name[252] = 'A';
	for (size_t i = 0; i < 253; i++)
		want[i] = name[i] == 'A' ? 'a' : '.';
	want[253] = '\0';
	memcpy(name + 253, ".:80", 5);
	cr_assert_eq(http_authority_parse(name, 257, &au), 0);
	cr_assert_eq(au.host_len, 253);
	cr_assert_str_eq(au.host, want);
	cr_assert_eq(au.port, 80);
	name[253] = 'a';
	cr_assert_eq(http_authority_parse(name, 254, &au), AD_EPARSE);
}

struct target_case {
	const char *in;
	size_t scheme_len;
	int ret;
	const char *auth;
};

static const struct target_case targets[] = {
	{ "http://a.example/x", 4, 1, "a.example" },
	{ "HTTPS://a.example?q", 5, 1, "a.example" },
	{ "http://a.example#f", 4, 1, "a.example" },
	{ "http://a.example:81", 4, 1, "a.example:81" },
	{ "http://[::1]:81/", 4, 1, "[::1]:81" },
	{ "http://", 4, 1, "" },
	{ "http:///x", 4, 1, "" },
	{ "http://a/x@y", 4, 1, "a" },         /* '@' in the path is no userinfo */
	{ "http://u@a/", 4, AD_EPARSE, NULL },
	{ "http://u:p@a/", 4, AD_EPARSE, NULL },
	{ "ftp://a/", 3, AD_EPARSE, NULL },
	{ "httpx://a/", 5, AD_EPARSE, NULL },
	{ "http:/a", 4, 0, NULL },
	{ "http:", 4, 0, NULL },
	{ "a.example:443", 9, 0, NULL },       /* authority-form */
	{ "/x", 0, 0, NULL },
	{ "http", 5, 0, NULL },                /* scheme_len past the end */
};

Test(http_syntax, target_authority)
{
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct target_case *c = &targets[i];
		struct http_slice auth = { NULL, 0 };
		size_t n = strlen(c->in);
		int ret = http_target_authority(c->in, n, c->scheme_len < n ? c->scheme_len : n,
						&auth);

		cr_assert_eq(ret, c->ret, "\"%s\": %d", c->in, ret);
		if (ret == 1) {
			cr_assert_eq(auth.len, strlen(c->auth), "\"%s\"", c->in);
			cr_assert(memcmp(auth.p, c->auth, auth.len) == 0, "\"%s\"", c->in);
		}
	}
	/* scheme_len past the end is "not absolute-form", never a read past it */
	cr_assert_eq(http_target_authority("http", 4, 5, &(struct http_slice){ 0 }), 0);
}
