/*
 * Unit tests for tls_sni: the ClientHello server_name parser. Real captures
 * (Chromium with X25519MLKEM768 and GREASE, curl with OpenSSL 3), whole, in every
 * prefix, re-framed into many TLS records, with corrupted lengths; and hellos built
 * here for the cases the captures do not cover.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "tls_sni.h"

#define CAPTURE_NAME "app1.a.airdr.es"
#define BIG 40000

struct bytes {
	uint8_t b[BIG];
	size_t n;
};

static void load(const char *file, struct bytes *out)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, file);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	out->n = fread(out->b, 1, sizeof(out->b), f);
	fclose(f);
	cr_assert_gt(out->n, 5);
}

static void put(struct bytes *m, const void *p, size_t n)
{
	cr_assert_leq(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put8(struct bytes *m, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(m, &b, 1);
}

static void put16(struct bytes *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v);
}

static void put24(struct bytes *m, unsigned v)
{
	put8(m, v >> 16);
	put16(m, v & 0xffff);
}

/* The handshake message (header included) carried by the records of rec. */
static void unframe(const struct bytes *rec, struct bytes *msg)
{
	size_t i = 0;
	msg->n = 0;
	while (i + 5 <= rec->n) {
		size_t len = (size_t)rec->b[i + 3] << 8 | rec->b[i + 4];
		cr_assert_leq(i + 5 + len, rec->n);
		put(msg, rec->b + i + 5, len);
		i += 5 + len;
	}
}

/* Frame msg into handshake records of `chunk` payload bytes (the last may be
 * shorter); chunk 0 takes sizes from a fixed pseudo-random sequence (1..700). */
static void frame(const struct bytes *msg, size_t chunk, struct bytes *out)
{
	uint32_t seed = 12345;
	size_t i = 0;
	out->n = 0;
	while (i < msg->n) {
		size_t k = chunk;
		if (k == 0) {
			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 8) % 700;
		}
		if (k > msg->n - i)
			k = msg->n - i;
		put8(out, 22);
		put16(out, 0x0301);
		put16(out, (unsigned)k);
		put(out, msg->b + i, k);
		i += k;
	}
}

static int parse(const struct bytes *in, char *name, size_t *name_len)
{
	return tls_sni_parse(in->b, in->n, name, name_len);
}

static void assert_name(const struct bytes *in, const char *want)
{
	char name[TLS_SNI_NAME_BUF];
	size_t len = 0;
	int ret = parse(in, name, &len);
	cr_assert_eq(ret, 0, "parse: %s", airdress_strerror(ret));
	cr_assert_str_eq(name, want);
	cr_assert_eq(len, strlen(want));
}

static void assert_every_prefix_truncated(const struct bytes *in)
{
	char name[TLS_SNI_NAME_BUF];
	size_t len;
	for (size_t n = 0; n < in->n; n++) {
		int ret = tls_sni_parse(in->b, n, name, &len);
		cr_assert_eq(ret, AD_ETRUNC, "prefix %zu of %zu: %s", n, in->n,
			     airdress_strerror(ret));
	}
}

/* ---- built hellos ---- */

/* A ClientHello message (handshake header included) with the given extension
 * bytes; with_ext false leaves out the extensions block (an SSL 3.0 style hello). */
static void hello_msg(struct bytes *msg, const struct bytes *ext, bool with_ext)
{
	struct bytes body = { .n = 0 };
	uint8_t random[32];
	memset(random, 0x5a, sizeof(random));
	put16(&body, 0x0303);
	put(&body, random, sizeof(random));
	put8(&body, 32);
	put(&body, random, 32);
	put16(&body, 4);
	put16(&body, 0x1301);
	put16(&body, 0x1302);
	put8(&body, 1);
	put8(&body, 0);
	if (with_ext) {
		put16(&body, (unsigned)ext->n);
		put(&body, ext->b, ext->n);
	}
	msg->n = 0;
	put8(msg, 1);
	put24(msg, (unsigned)body.n);
	put(msg, body.b, body.n);
}

static void ext_sni_n(struct bytes *ext, const char *name, size_t n)
{
	put16(ext, 0);
	put16(ext, (unsigned)(n + 5));
	put16(ext, (unsigned)(n + 3));
	put8(ext, 0);
	put16(ext, (unsigned)n);
	put(ext, name, n);
}

static void ext_sni(struct bytes *ext, const char *name)
{
	ext_sni_n(ext, name, strlen(name));
}

static void ext_versions(struct bytes *ext)
{
	put16(ext, 43);
	put16(ext, 3);
	put8(ext, 2);
	put16(ext, 0x0304);
}

static void ext_alpn_h2(struct bytes *ext)
{
	put16(ext, 16);
	put16(ext, 5);
	put16(ext, 3);
	put8(ext, 2);
	put(ext, "h2", 2);
}

/* One record holding a hello with one server_name extension for name. */
static void hello_with_name(struct bytes *rec, const char *name)
{
	struct bytes ext = { .n = 0 }, msg;
	ext_versions(&ext);
	ext_sni(&ext, name);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, rec);
}

static int parse_name(const char *sni, char *name)
{
	struct bytes rec;
	size_t len;
	hello_with_name(&rec, sni);
	return parse(&rec, name, &len);
}

/* ---- captures ---- */

Test(tls_sni, chromium_whole)
{
	struct bytes in;
	struct tls_sni_info info;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	load("clienthello-chromium156.bin", &in);
	cr_assert_eq(in.n, 2019);
	assert_name(&in, CAPTURE_NAME);
	cr_assert_eq(tls_sni_parse_ex(in.b, in.n, name, &len, &info), 0);
	cr_assert_eq(info.hello_len, in.n);
	cr_assert_eq(info.records, 1);
	cr_assert_eq(info.version, 0x0303);
	cr_assert(info.has_alpn);
	cr_assert(info.has_ech);
}

Test(tls_sni, curl_whole)
{
	struct bytes in;
	struct tls_sni_info info;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	load("clienthello-curl-openssl3.bin", &in);
	assert_name(&in, CAPTURE_NAME);
	cr_assert_eq(tls_sni_parse_ex(in.b, in.n, name, &len, &info), 0);
	cr_assert_eq(info.hello_len, 517);
	cr_assert(info.has_alpn);
	cr_assert_not(info.has_ech);
}

Test(tls_sni, captures_every_prefix)
{
	struct bytes in;
	load("clienthello-chromium156.bin", &in);
	assert_every_prefix_truncated(&in);
	load("clienthello-curl-openssl3.bin", &in);
	assert_every_prefix_truncated(&in);
}

Test(tls_sni, reframed_into_records)
{
	static const char *const files[] = { "clienthello-chromium156.bin",
					     "clienthello-curl-openssl3.bin" };
	static const size_t chunks[] = { 1, 2, 3, 4, 5, 100, 512, 1000, 0 };
	struct bytes in, msg, rec;
	struct tls_sni_info info;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	for (size_t f = 0; f < 2; f++) {
		load(files[f], &in);
		unframe(&in, &msg);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			frame(&msg, chunks[c], &rec);
			assert_name(&rec, CAPTURE_NAME);
			cr_assert_eq(tls_sni_parse_ex(rec.b, rec.n, name, &len, &info), 0);
			cr_assert_eq(info.hello_len, rec.n);
			if (chunks[c] != 0)
				cr_assert_eq(info.records,
					     (msg.n + chunks[c] - 1) / chunks[c]);
			if (chunks[c] == 100 || chunks[c] == 3 || chunks[c] == 0)
				assert_every_prefix_truncated(&rec);
		}
	}
}

Test(tls_sni, bytes_after_the_hello_are_ignored)
{
	struct bytes in;
	struct tls_sni_info info;
	char name[TLS_SNI_NAME_BUF];
	size_t len;
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };

	load("clienthello-curl-openssl3.bin", &in);
	put(&in, ccs, sizeof(ccs));
	memset(in.b + in.n, 0xee, 3000); /* early data, garbage: never read */
	in.n += 3000;
	cr_assert_eq(tls_sni_parse_ex(in.b, in.n, name, &len, &info), 0);
	cr_assert_str_eq(name, CAPTURE_NAME);
	cr_assert_eq(info.hello_len, 517);

	/* more than 16 KiB in the buffer: still only the hello is looked at */
	in.n = BIG;
	cr_assert_eq(tls_sni_parse(in.b, in.n, name, &len), 0);
}

/* Every length field of a capture, corrupted: never a crash, never another name.
 * Length fields inside the handshake body are bounded by lengths that are intact, so
 * they give AD_EPARSE (or, when an opaque extension's length moves by the size of the
 * next extension's header, a hello that still parses: to the same name, or to none
 * when the server_name extension is swallowed); the record and handshake lengths may also ask for more
 * bytes (AD_ETRUNC) or more than 16 KiB (AD_ETOOBIG). */
struct lenfield {
	size_t off, size;
	bool outer;
};

static size_t get_n(const uint8_t *p, size_t size)
{
	size_t v = 0;
	for (size_t i = 0; i < size; i++)
		v = v << 8 | p[i];
	return v;
}

static void set_n(uint8_t *p, size_t size, size_t v)
{
	for (size_t i = size; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

static size_t length_fields(const struct bytes *in, struct lenfield *lf)
{
	size_t n = 0, p = 0, end, ext_end;
	const uint8_t *b = in->b;

	lf[n++] = (struct lenfield){ 3, 2, true };   /* record */
	lf[n++] = (struct lenfield){ 6, 3, true };   /* handshake */
	end = 9 + get_n(b + 6, 3);
	p = 9 + 2 + 32;
	lf[n++] = (struct lenfield){ p, 1, false };  /* session id */
	p += 1 + b[p];
	lf[n++] = (struct lenfield){ p, 2, false };  /* cipher suites */
	p += 2 + get_n(b + p, 2);
	lf[n++] = (struct lenfield){ p, 1, false };  /* compression */
	p += 1 + b[p];
	lf[n++] = (struct lenfield){ p, 2, false };  /* extensions block */
	p += 2;
	while (p < end) {
		size_t type = get_n(b + p, 2), elen = get_n(b + p + 2, 2);
		lf[n++] = (struct lenfield){ p + 2, 2, false };
		ext_end = p + 4 + elen;
		if (type == 0) {
			lf[n++] = (struct lenfield){ p + 4, 2, false };  /* server_name_list */
			lf[n++] = (struct lenfield){ p + 7, 2, false };  /* host_name */
		} else if (type == 16) {
			lf[n++] = (struct lenfield){ p + 4, 2, false };  /* protocol list */
			lf[n++] = (struct lenfield){ p + 6, 1, false };  /* first protocol */
		}
		p = ext_end;
	}
	cr_assert_eq(p, end);
	return n;
}

Test(tls_sni, corrupted_lengths)
{
	static const char *const files[] = { "clienthello-chromium156.bin",
					     "clienthello-curl-openssl3.bin" };
	struct lenfield lf[128];
	struct bytes in, bad;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	for (size_t f = 0; f < 2; f++) {
		load(files[f], &in);
		size_t nf = length_fields(&in, lf);
		cr_assert_gt(nf, 10);
		for (size_t i = 0; i < nf; i++) {
			size_t orig = get_n(in.b + lf[i].off, lf[i].size);
			size_t max = lf[i].size == 1 ? 0xff : lf[i].size == 2 ? 0xffff : 0xffffff;
			size_t vals[] = { orig + 1, orig - 1, orig + 2, orig - 2, 0, 1, max,
					  orig ^ 0x80, orig * 2 };
			for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
				size_t val = vals[v] & max;
				if (val == orig)
					continue;
				bad = in;
				set_n(bad.b + lf[i].off, lf[i].size, val);
				int ret = parse(&bad, name, &len);
				if (lf[i].outer)
					cr_assert(ret == AD_EPARSE || ret == AD_ETRUNC ||
							  ret == AD_ETOOBIG,
						  "%s: field at %zu = %zu: %s", files[f],
						  lf[i].off, val, airdress_strerror(ret));
				else /* an opaque extension may resynchronise */
					cr_assert(ret == AD_EPARSE || ret == AD_ENOTFOUND ||
						  (ret == 0 && strcmp(name, CAPTURE_NAME) == 0),
						  "%s: field at %zu = %zu: %s", files[f],
						  lf[i].off, val, airdress_strerror(ret));
			}
		}
	}
}

/* ---- built hellos ---- */

Test(tls_sni, built_hello_and_its_prefixes)
{
	struct bytes rec;
	hello_with_name(&rec, "x.example");
	assert_name(&rec, "x.example");
	assert_every_prefix_truncated(&rec);
}

Test(tls_sni, no_sni_is_not_found)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	struct tls_sni_info info;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	ext_versions(&ext);
	ext_alpn_h2(&ext);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(tls_sni_parse_ex(rec.b, rec.n, name, &len, &info), AD_ENOTFOUND);
	cr_assert(info.has_alpn);
	cr_assert_eq(info.hello_len, rec.n);
	/* still a prefix is "need more", never "no name" */
	assert_every_prefix_truncated(&rec);

	/* an empty extensions block, and no extensions block at all */
	ext.n = 0;
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_ENOTFOUND);
	hello_msg(&msg, &ext, false);
	frame(&msg, 7, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_ENOTFOUND);

	/* server_name with only a name type we do not know */
	ext.n = 0;
	put16(&ext, 0);
	put16(&ext, 8);
	put16(&ext, 6);
	put8(&ext, 7);
	put16(&ext, 3);
	put(&ext, "abc", 3);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_ENOTFOUND);
}

Test(tls_sni, unknown_name_type_then_host_name)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	put16(&ext, 0);
	put16(&ext, 2 + 6 + 3 + 9);
	put16(&ext, 6 + 3 + 9);
	put8(&ext, 7);
	put16(&ext, 3);
	put(&ext, "abc", 3);
	put8(&ext, 0);
	put16(&ext, 9);
	put(&ext, "x.example", 9);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	assert_name(&rec, "x.example");
}

Test(tls_sni, sslv2_hello_is_not_found)
{
	/* SSLv2 CLIENT-HELLO record: 2-byte header with the high bit set */
	static const uint8_t v2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00,
				      0x00, 0x00, 0x10 };
	char name[TLS_SNI_NAME_BUF];
	size_t len;
	cr_assert_eq(tls_sni_parse(v2, sizeof(v2), name, &len), AD_ENOTFOUND);
	cr_assert_eq(tls_sni_parse(v2, 1, name, &len), AD_ENOTFOUND);
	cr_assert_eq(tls_sni_parse(v2, 0, name, &len), AD_ETRUNC);
}

Test(tls_sni, not_a_handshake_record)
{
	static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };
	static const uint8_t appdata[] = { 23, 3, 3, 0, 1, 0 };
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };
	static const uint8_t bad_major[] = { 22, 2, 0, 0, 1, 1 };
	static const uint8_t server_hello[] = { 22, 3, 3, 0, 4, 2, 0, 0, 0 };
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	cr_assert_eq(tls_sni_parse(alert, sizeof(alert), name, &len), AD_EPARSE);
	cr_assert_eq(tls_sni_parse(appdata, sizeof(appdata), name, &len), AD_EPARSE);
	cr_assert_eq(tls_sni_parse(ccs, sizeof(ccs), name, &len), AD_EPARSE);
	cr_assert_eq(tls_sni_parse(bad_major, 2, name, &len), AD_EPARSE);
	cr_assert_eq(tls_sni_parse(server_hello, sizeof(server_hello), name, &len), AD_EPARSE);
	/* plain text is refused from its first byte */
	cr_assert_eq(tls_sni_parse((const uint8_t *)http, 1, name, &len), AD_EPARSE);
	cr_assert_eq(tls_sni_parse((const uint8_t *)http, strlen(http), name, &len),
		     AD_EPARSE);
}

Test(tls_sni, bad_records)
{
	struct bytes in, msg, rec;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	load("clienthello-curl-openssl3.bin", &in);
	unframe(&in, &msg);

	/* an alert between two records of the hello */
	frame(&msg, 300, &rec);
	struct bytes mixed = { .n = 0 };
	put(&mixed, rec.b, 305);
	static const uint8_t alert[] = { 21, 3, 3, 0, 2, 1, 0 };
	put(&mixed, alert, sizeof(alert));
	put(&mixed, rec.b + 305, rec.n - 305);
	cr_assert_eq(parse(&mixed, name, &len), AD_EPARSE);

	/* an empty handshake record */
	frame(&msg, 300, &rec);
	struct bytes empty = { .n = 0 };
	put(&empty, rec.b, 305);
	static const uint8_t zero[] = { 22, 3, 1, 0, 0 };
	put(&empty, zero, sizeof(zero));
	put(&empty, rec.b + 305, rec.n - 305);
	cr_assert_eq(parse(&empty, name, &len), AD_EPARSE);

	/* the last record goes on after the hello (another handshake message) */
	rec = in;
	set_n(rec.b + 3, 2, get_n(rec.b + 3, 2) + 4);
	static const uint8_t finished[] = { 20, 0, 0, 0 };
	put(&rec, finished, sizeof(finished));
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);
	/* ... detected as soon as the handshake length is known */
	cr_assert_eq(tls_sni_parse(rec.b, 9, name, &len), AD_EPARSE);

	/* a record over 2^14 bytes */
	rec = in;
	set_n(rec.b + 3, 2, 16385);
	cr_assert_eq(tls_sni_parse(rec.b, 5, name, &len), AD_EPARSE);
}

Test(tls_sni, over_16k)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	/* a padding extension makes a hello of 17 000 bytes: over at once */
	ext_sni(&ext, "x.example");
	put16(&ext, 21);
	put16(&ext, 17000);
	memset(ext.b + ext.n, 0, 17000);
	ext.n += 17000;
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(tls_sni_parse(rec.b, 9, name, &len), AD_ETOOBIG);
	cr_assert_eq(parse(&rec, name, &len), AD_ETOOBIG);

	/* a 4 000-byte hello in 1-byte records needs 24 000 bytes */
	ext.n = 0;
	ext_sni(&ext, "x.example");
	put16(&ext, 21);
	put16(&ext, 3900);
	memset(ext.b + ext.n, 0, 3900);
	ext.n += 3900;
	hello_msg(&msg, &ext, true);
	frame(&msg, 1, &rec);
	cr_assert_eq(tls_sni_parse(rec.b, 12000, name, &len), AD_ETRUNC);
	cr_assert_eq(parse(&rec, name, &len), AD_ETOOBIG);
	/* the same in 1 000-byte records is fine */
	frame(&msg, 1000, &rec);
	assert_name(&rec, "x.example");
}

Test(tls_sni, name_normalised)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	hello_with_name(&rec, "App1.A.AIRDR.es.");
	assert_name(&rec, "app1.a.airdr.es");
	hello_with_name(&rec, "under_score.example");
	assert_name(&rec, "under_score.example");
	hello_with_name(&rec, "x");
	assert_name(&rec, "x");
	cr_assert_eq(parse_name("a..b", name), AD_EPARSE);
	cr_assert_eq(parse_name(".a", name), AD_EPARSE);
	cr_assert_eq(parse_name("a..", name), AD_EPARSE);
	cr_assert_eq(parse_name(".", name), AD_EPARSE);
	cr_assert_eq(parse_name("*.example", name), AD_EPARSE);
	cr_assert_eq(parse_name("a b.example", name), AD_EPARSE);
	cr_assert_eq(parse_name("caf\xc3\xa9.example", name), AD_EPARSE);
	ext_sni_n(&ext, "a\0.example", 10); /* a NUL inside */
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);
}

Test(tls_sni, name_limits)
{
	char label[80], long_name[300], name[TLS_SNI_NAME_BUF];
	struct bytes rec;

	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(long_name, sizeof(long_name), "%s.example", label);
	hello_with_name(&rec, long_name);
	assert_name(&rec, long_name);
	label[63] = 'a';
	label[64] = '\0';
	snprintf(long_name, sizeof(long_name), "%s.example", label);
	cr_assert_eq(parse_name(long_name, name), AD_EPARSE);

	/* 253 bytes: 4 labels of 62 and one of 1, dots between */
	memset(long_name, 'b', 253);
	for (size_t i = 62; i < 253; i += 63)
		long_name[i] = '.';
	long_name[253] = '\0';
	hello_with_name(&rec, long_name);
	assert_name(&rec, long_name);
	char dotted[320];
	snprintf(dotted, sizeof(dotted), "%s.", long_name); /* 254 with the root dot */
	hello_with_name(&rec, dotted);
	assert_name(&rec, long_name);
	long_name[253] = 'c'; /* 254 bytes of name */
	long_name[254] = '\0';
	cr_assert_eq(parse_name(long_name, name), AD_EPARSE);
	memset(long_name, 'd', 299);
	long_name[299] = '\0';
	cr_assert_eq(parse_name(long_name, name), AD_EPARSE);
}

/* RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
 * Clients that send one anyway get "no name" (the relay answers unrecognized_name),
 * not "malformed". */
Test(tls_sni, ip_literal_is_not_found)
{
	char name[TLS_SNI_NAME_BUF];
	cr_assert_eq(parse_name("192.0.2.1", name), AD_ENOTFOUND);
	cr_assert_eq(parse_name("192.0.2.1.", name), AD_ENOTFOUND);
	cr_assert_eq(parse_name("2001:db8::1", name), AD_ENOTFOUND);
	cr_assert_eq(parse_name("::FFFF:192.0.2.1", name), AD_ENOTFOUND);
	cr_assert_eq(parse_name("host.example:443", name), AD_EPARSE);
	struct bytes rec;
	hello_with_name(&rec, "192.0.2.1.nip.example");
	assert_name(&rec, "192.0.2.1.nip.example");
	hello_with_name(&rec, "1a.example");
	assert_name(&rec, "1a.example");
}

Test(tls_sni, duplicates_refused)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	/* two server_name extensions */
	ext_sni(&ext, "a.example");
	ext_sni(&ext, "b.example");
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);

	/* two host_names in one list */
	ext.n = 0;
	put16(&ext, 0);
	put16(&ext, 2 + 12 + 12);
	put16(&ext, 12 + 12);
	put8(&ext, 0);
	put16(&ext, 9);
	put(&ext, "a.example", 9);
	put8(&ext, 0);
	put16(&ext, 9);
	put(&ext, "b.example", 9);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);
}

Test(tls_sni, bad_extensions)
{
	struct bytes ext = { .n = 0 }, msg, rec;
	char name[TLS_SNI_NAME_BUF];
	size_t len;

	/* empty server_name extension (a ServerHello form, not a ClientHello one) */
	put16(&ext, 0);
	put16(&ext, 0);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);

	/* empty host_name */
	ext.n = 0;
	put16(&ext, 0);
	put16(&ext, 5);
	put16(&ext, 3);
	put8(&ext, 0);
	put16(&ext, 0);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);

	/* ALPN with an empty protocol name */
	ext.n = 0;
	ext_sni(&ext, "x.example");
	put16(&ext, 16);
	put16(&ext, 3);
	put16(&ext, 1);
	put8(&ext, 0);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);

	/* an extension header cut by the end of the block */
	ext.n = 0;
	ext_sni(&ext, "x.example");
	put8(&ext, 0xaa);
	hello_msg(&msg, &ext, true);
	frame(&msg, 16384, &rec);
	cr_assert_eq(parse(&rec, name, &len), AD_EPARSE);
}

Test(tls_sni, bad_arguments)
{
	char name[TLS_SNI_NAME_BUF];
	size_t len;
	cr_assert_eq(tls_sni_parse(NULL, 5, name, &len), -EINVAL);
	cr_assert_eq(tls_sni_parse((const uint8_t *)"x", 1, NULL, &len), -EINVAL);
	cr_assert_eq(tls_sni_parse((const uint8_t *)"x", 1, name, NULL), -EINVAL);
	cr_assert_eq(tls_sni_parse(NULL, 0, name, &len), AD_ETRUNC);
}
