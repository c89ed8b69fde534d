/*
 * Unit tests for units.c: durations and sizes, parse and format, overflow.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "units.h"

static uint64_t dur(const char *text)
{
	uint64_t v = 12345;
	int ret = units_parse_duration(text, &v);
	cr_assert_eq(ret, 0, "parse duration \"%s\": %d", text, ret);
	return v;
}

static uint64_t size(const char *text)
{
	uint64_t v = 12345;
	int ret = units_parse_size(text, &v);
	cr_assert_eq(ret, 0, "parse size \"%s\": %d", text, ret);
	return v;
}

Test(units, duration_parse)
{
	cr_assert_eq(dur("0"), 0);
	cr_assert_eq(dur("0s"), 0);
	cr_assert_eq(dur("250ms"), 250);
	cr_assert_eq(dur("5s"), 5000);
	cr_assert_eq(dur("2m"), 120000);
	cr_assert_eq(dur("1h"), 3600000);
	cr_assert_eq(dur("1d"), 86400000);
	cr_assert_eq(dur("300s"), 300000);
	cr_assert_eq(dur("1h30m"), 5400000);
	cr_assert_eq(dur("1m30s"), 90000);
	cr_assert_eq(dur("1s500ms"), 1500);
	cr_assert_eq(dur("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
	cr_assert_eq(dur("007s"), 7000);
}

Test(units, duration_reject)
{
	static const char *const bad[] = {
		"", "5", "00", "s", "ms", "5 s", " 5s", "5s ", "5sec", "5S", "5M", "-5s",
		"+5s", "1.5s", "5us", "5ns", "1m1m", "30s1m", "1ms1s", "1h1h", "5s5",
		"1_000ms", "0x10s", "5s\n", "1w",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 777;
		cr_assert_eq(units_parse_duration(bad[i], &v), AD_EPARSE, "\"%s\"", bad[i]);
		cr_assert_eq(v, 777, "\"%s\" wrote the output", bad[i]);
	}
	cr_assert_eq(units_parse_duration(NULL, &(uint64_t){ 0 }), AD_EPARSE);
}

Test(units, duration_overflow)
{
	uint64_t v = 777;
	cr_assert_eq(dur("18446744073709551615ms"), UINT64_MAX);
	cr_assert_eq(units_parse_duration("18446744073709551616ms", &v), AD_ETOOBIG);
	cr_assert_eq(units_parse_duration("99999999999999999999999s", &v), AD_ETOOBIG);
	/* 2^64 ms is 213503982334.6 days. */
	cr_assert_eq(dur("213503982334d"), 213503982334ULL * 86400000ULL);
	cr_assert_eq(units_parse_duration("213503982335d", &v), AD_ETOOBIG);
	cr_assert_eq(units_parse_duration("18446744073709551s", &v), 0);
	cr_assert_eq(units_parse_duration("18446744073709552s", &v), AD_ETOOBIG);
	/* The sum overflows even though each part fits. */
	cr_assert_eq(units_parse_duration("213503982334d23h", &v), AD_ETOOBIG);
	/* A syntax error after an overflow is still a syntax error. */
	cr_assert_eq(units_parse_duration("99999999999999999999999sx", &v), AD_EPARSE);
	cr_assert_eq(v, 18446744073709551000ULL);
}

Test(units, size_parse)
{
	cr_assert_eq(size("0"), 0);
	cr_assert_eq(size("4096"), 4096);
	cr_assert_eq(size("512B"), 512);
	cr_assert_eq(size("64KiB"), 65536);
	cr_assert_eq(size("1MiB"), 1048576);
	cr_assert_eq(size("1GiB"), 1073741824);
	cr_assert_eq(size("2TiB"), 2ULL << 40);
	cr_assert_eq(size("3PiB"), 3ULL << 50);
	cr_assert_eq(size("15EiB"), 15ULL << 60);
	cr_assert_eq(size("18446744073709551615"), UINT64_MAX);
}

Test(units, size_reject)
{
	static const char *const bad[] = {
		"", "KiB", "64 KiB", "64kib", "64KB", "64K", "64k", "1MB", "1G", "1.5GiB",
		"-1", "+1", "64KiBx", "64KiB64", "0x10", "1_000", " 1", "1 ", "1iB", "1Ki",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 777;
		cr_assert_eq(units_parse_size(bad[i], &v), AD_EPARSE, "\"%s\"", bad[i]);
		cr_assert_eq(v, 777);
	}
}

Test(units, size_overflow)
{
	uint64_t v = 777;
	cr_assert_eq(units_parse_size("18446744073709551616", &v), AD_ETOOBIG);
	cr_assert_eq(units_parse_size("16EiB", &v), AD_ETOOBIG);
	cr_assert_eq(units_parse_size("16777216TiB", &v), AD_ETOOBIG);
	cr_assert_eq(units_parse_size("17179869184GiB", &v), AD_ETOOBIG);
	cr_assert_eq(size("17179869183GiB"), 17179869183ULL << 30);
	cr_assert_eq(units_parse_size("99999999999999999999999KiB", &v), AD_ETOOBIG);
	cr_assert_eq(v, 777);
}

static void check_fmt_duration(uint64_t ms, const char *want)
{
	char buf[UNITS_BUFLEN];
	cr_assert_eq(units_format_duration(ms, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(dur(buf), ms, "round trip of %s", want);
}

static void check_fmt_size(uint64_t bytes, const char *want)
{
	char buf[UNITS_BUFLEN];
	cr_assert_eq(units_format_size(bytes, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(size(buf), bytes, "round trip of %s", want);
}

Test(units, format)
{
	check_fmt_duration(0, "0");
	check_fmt_duration(1, "1ms");
	check_fmt_duration(250, "250ms");
	check_fmt_duration(1500, "1500ms");
	check_fmt_duration(5000, "5s");
	check_fmt_duration(90000, "90s");
	check_fmt_duration(120000, "2m");
	check_fmt_duration(3600000, "1h");
	check_fmt_duration(5400000, "90m");
	check_fmt_duration(86400000, "1d");
	check_fmt_duration(UINT64_MAX, "18446744073709551615ms");

	check_fmt_size(0, "0");
	check_fmt_size(1, "1");
	check_fmt_size(1232, "1232");
	check_fmt_size(1536, "1536");
	check_fmt_size(65536, "64KiB");
	check_fmt_size(1048576, "1MiB");
	check_fmt_size(3ULL << 30, "3GiB");
	check_fmt_size(1ULL << 60, "1EiB");
	check_fmt_size(UINT64_MAX, "18446744073709551615");
}

Test(units, format_small_buffer)
{
	char buf[4] = "xyz";
	cr_assert_eq(units_format_duration(250, buf, sizeof(buf)), AD_ENOSPACE);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(units_format_size(65536, buf, sizeof(buf)), AD_ENOSPACE);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(units_format_size(65536, buf, 0), AD_ENOSPACE);
	cr_assert_eq(units_format_duration(5000, buf, 3), 0);
	cr_assert_str_eq(buf, "5s");
}
