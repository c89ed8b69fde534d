/* Unit tests for sockaddr: parsing and formatting "host:port" text. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "error.h"
#include "sockaddr.h"

/* Parse text, format it back, compare with want (NULL: same as text). */
static void roundtrip(const char *text, const char *want)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char buf[SOCKADDR_STRLEN];

	cr_assert_eq(sockaddr_parse(text, &ss, &len), 0, "parse %s", text);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want ? want : text);
}

Test(sockaddr, ipv4)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	cr_assert_eq(sockaddr_parse("127.0.0.1:9153", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	cr_assert_eq(ntohs(sin->sin_port), 9153);
	cr_assert_eq(sin->sin_addr.s_addr, htonl(0x7f000001));
	cr_assert_eq(sockaddr_port((struct sockaddr *)&ss), 9153);
	roundtrip("0.0.0.0:80", NULL);
	roundtrip("203.0.113.10:0", NULL);
	roundtrip("255.255.255.255:65535", NULL);
}

Test(sockaddr, ipv6)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	cr_assert_eq(sockaddr_parse("[::1]:9153", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	cr_assert_eq(ntohs(sin6->sin6_port), 9153);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	roundtrip("[::]:443", NULL);
	roundtrip("[2001:db8::10]:53", NULL);
	roundtrip("[2001:0db8:0000::0010]:53", "[2001:db8::10]:53");
	roundtrip("[::ffff:192.0.2.1]:1", NULL);
	roundtrip("[fe80::1%1]:5300", "[fe80::1%lo]:5300"); /* "lo" is index 1 on Linux */
}

Test(sockaddr, zone_by_name)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char buf[SOCKADDR_STRLEN];

	cr_assert_eq(sockaddr_parse("[fe80::1%lo]:53", &ss, &len), 0);
	cr_assert_neq(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 0);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[fe80::1%lo]:53");
	cr_assert_eq(sockaddr_parse("[fe80::1%no-such-if0]:53", &ss, &len), AD_EPARSE);
}

Test(sockaddr, rejects)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1",          /* no port */
		"127.0.0.1:",         /* empty port */
		"127.0.0.1:65536",    /* out of range */
		"127.0.0.1:123456",
		"127.0.0.1:-1",
		"127.0.0.1:+80",
		"127.0.0.1:80 ",
		" 127.0.0.1:80",
		"127.0.0.1:8a",
		"127.1:80",           /* inet_aton shorthand is not an address here */
		"256.0.0.1:80",
		"localhost:9153",     /* no name resolution */
		"::1:9153",           /* IPv6 needs brackets */
		"[::1]",
		"[::1]:",
		"[::1]9153",
		"[::1:9153",
		"[127.0.0.1]:80",
		"[::1%]:80",
		":80",
		"[]:80",
		"1.2.3.4:80:80",
		"[fe80::1%lo]:53x",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
	};
	struct sockaddr_storage ss;
	socklen_t len;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(sockaddr_parse(bad[i], &ss, &len), AD_EPARSE, "accepted \"%s\"", bad[i]);
	cr_assert_eq(sockaddr_parse(NULL, &ss, &len), -EINVAL);
	cr_assert_eq(sockaddr_parse("127.0.0.1:1", NULL, &len), -EINVAL);
}

Test(sockaddr, parse_ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[SOCKADDR_STRLEN];

	cr_assert_eq(sockaddr_parse_ip("203.0.113.10", 53, &ss, &len), 0);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "203.0.113.10:53");
	cr_assert_eq(sockaddr_parse_ip("2001:db8::10", 443, &ss, &len), 0);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[2001:db8::10]:443");
	cr_assert_eq(sockaddr_parse_ip("[::1]", 1, &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(sockaddr_parse_ip("203.0.113.10:53", 0, &ss, &len), AD_EPARSE);
	cr_assert_eq(sockaddr_parse_ip("", 0, &ss, &len), AD_EPARSE);
	cr_assert_eq(sockaddr_parse_ip("[]", 0, &ss, &len), AD_EPARSE);
	cr_assert_eq(sockaddr_parse_ip("[::1", 0, &ss, &len), AD_EPARSE);
	cr_assert_eq(sockaddr_parse_ip("example.org", 0, &ss, &len), AD_EPARSE);
}

Test(sockaddr, format_limits)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char small[8];
	char buf[SOCKADDR_STRLEN];

	cr_assert_eq(sockaddr_parse("[2001:db8::10]:53", &ss, &len), 0);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, small, sizeof(small)),
		     AD_ENOSPACE);
	cr_assert_str_eq(small, "");
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, sizeof(struct sockaddr_in), buf,
				     sizeof(buf)),
		     -EINVAL);
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	cr_assert_eq(sockaddr_format((struct sockaddr *)&un, sizeof(un), buf, sizeof(buf)),
		     -EAFNOSUPPORT);
	cr_assert_eq(sockaddr_port((struct sockaddr *)&un), 0);
	/* the longest text fits SOCKADDR_STRLEN */
	cr_assert_eq(sockaddr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535",
				    &ss, &len), 0);
	cr_assert_eq(sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
}

Test(sockaddr, format_ip_writes_the_address_alone)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[INET6_ADDRSTRLEN];
	cr_assert_eq(sockaddr_parse("192.0.2.7:80", &ss, &len), 0);
	cr_assert_eq(sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "192.0.2.7");
	cr_assert_eq(sockaddr_parse("[fd61:6972::2]:443", &ss, &len), 0);
	cr_assert_eq(sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "fd61:6972::2");
	char small[4];
	cr_assert_eq(sockaddr_format_ip((struct sockaddr *)&ss, small, sizeof(small)), AD_ENOSPACE);
	cr_assert_str_eq(small, "");
	ss.ss_family = AF_UNIX;
	cr_assert_eq(sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf)), -EAFNOSUPPORT);
}

Test(sockaddr, equal_ip)
{
	struct sockaddr_storage a, b, c, d;
	socklen_t len;
	cr_assert_eq(sockaddr_parse("[fd61:6972::1]:80", &a, &len), 0);
	cr_assert_eq(sockaddr_parse("[fd61:6972::1]:0", &b, &len), 0);
	cr_assert_eq(sockaddr_parse("[fd61:6972::2]:80", &c, &len), 0);
	cr_assert_eq(sockaddr_parse("10.0.0.1:80", &d, &len), 0);
	cr_assert(sockaddr_equal_ip((struct sockaddr *)&a, (struct sockaddr *)&b), "ports differ only");
	cr_assert_not(sockaddr_equal_ip((struct sockaddr *)&a, (struct sockaddr *)&c));
	cr_assert_not(sockaddr_equal_ip((struct sockaddr *)&a, (struct sockaddr *)&d), "families");
	cr_assert_eq(sockaddr_parse("10.0.0.1:53", &b, &len), 0);
	cr_assert(sockaddr_equal_ip((struct sockaddr *)&d, (struct sockaddr *)&b));
	cr_assert_eq(sockaddr_parse("10.0.0.2:80", &b, &len), 0);
	cr_assert_not(sockaddr_equal_ip((struct sockaddr *)&d, (struct sockaddr *)&b));
	cr_assert_not(sockaddr_equal_ip(NULL, (struct sockaddr *)&b));
}

Test(sockaddr, format_prefix)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[SOCKADDR_STRLEN + 8];
	cr_assert_eq(sockaddr_parse("[fd61:6972::2]:0", &ss, &len), 0);
	cr_assert_eq(sockaddr_format_prefix((struct sockaddr *)&ss, 64, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "fd61:6972::2/64");
	cr_assert_eq(sockaddr_format_prefix((struct sockaddr *)&ss, -1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "fd61:6972::2/128");
	cr_assert_eq(sockaddr_parse("10.202.1.2:80", &ss, &len), 0);
	cr_assert_eq(sockaddr_format_prefix((struct sockaddr *)&ss, -1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "10.202.1.2/32");
	cr_assert_eq(sockaddr_format_prefix((struct sockaddr *)&ss, 24, buf, 8), AD_ENOSPACE);
}
