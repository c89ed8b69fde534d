/*
 * Units: parse and format durations (milliseconds) and sizes (bytes). See units.h for
 * the accepted syntax. Every multiplication and addition is checked for overflow.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "units.h"

struct unit {
	const char *name;
	uint64_t factor;
};

/* Largest first: the parser requires this order, the formatter wants it. */
static const struct unit duration_units[] = {
	{ "d", 86400000ULL }, { "h", 3600000ULL }, { "m", 60000ULL },
	{ "s", 1000ULL },     { "ms", 1ULL },
};

static const struct unit size_units[] = {
	{ "EiB", 1ULL << 60 }, { "PiB", 1ULL << 50 }, { "TiB", 1ULL << 40 },
	{ "GiB", 1ULL << 30 }, { "MiB", 1ULL << 20 }, { "KiB", 1ULL << 10 },
	{ "B", 1ULL },
};

#define NUNITS(a) (sizeof(a) / sizeof((a)[0]))

/* Read decimal digits at *p into *out, advancing *p. Returns 0, AD_EPARSE (no digit)
 * or AD_ETOOBIG. */
static int parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int ret = AD_EPARSE;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			ret = AD_ETOOBIG; /* keep scanning: a syntax error wins */
		else if (ret != AD_ETOOBIG)
			ret = 0;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return ret;
}

/* Match the unit name at p among units[from..n). Returns its index or -1; *len gets the
 * name length. The longest match wins ("ms" over "m"). */
static int match_unit(const struct unit *units, size_t n, size_t from, const char *p,
		      size_t *len)
{
	int best = -1;
	size_t best_len = 0;
	for (size_t i = from; i < n; i++) {
		size_t l = strlen(units[i].name);
		if (l > best_len && strncmp(p, units[i].name, l) == 0) {
			best = (int)i;
			best_len = l;
		}
	}
	*len = best_len;
	return best;
}

int units_parse_duration(const char *text, uint64_t *ms)
{
	const char *p = text;
	uint64_t total = 0;
	size_t next_unit = 0;
	int overflow = 0;

	if (text == NULL || *text == '\0')
		return AD_EPARSE;
	if (strcmp(text, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*p != '\0') {
		uint64_t v;
		int ret = parse_digits(&p, &v);
		if (ret == AD_EPARSE)
			return AD_EPARSE;
		if (ret == AD_ETOOBIG)
			overflow = 1;
		size_t len;
		int u = match_unit(duration_units, NUNITS(duration_units), next_unit, p, &len);
		if (u < 0)
			return AD_EPARSE; /* no unit, unknown unit, or units out of order */
		/* The unit must end the group: a digit or the end follows. */
		p += len;
		if (*p != '\0' && (*p < '0' || *p > '9'))
			return AD_EPARSE;
		next_unit = (size_t)u + 1;
		if (overflow)
			continue;
		uint64_t f = duration_units[u].factor;
		if (v > UINT64_MAX / f || total > UINT64_MAX - v * f)
			overflow = 1;
		else
			total += v * f;
	}
	if (overflow)
		return AD_ETOOBIG;
	*ms = total;
	return 0;
}

int units_parse_size(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t v;

	if (text == NULL)
		return AD_EPARSE;
	int ret = parse_digits(&p, &v);
	if (ret == AD_EPARSE)
		return AD_EPARSE;
	uint64_t f = 1;
	if (*p != '\0') {
		size_t len;
		int u = match_unit(size_units, NUNITS(size_units), 0, p, &len);
		if (u < 0 || p[len] != '\0')
			return AD_EPARSE;
		f = size_units[u].factor;
	}
	if (ret == AD_ETOOBIG || v > UINT64_MAX / f)
		return AD_ETOOBIG;
	*bytes = v * f;
	return 0;
}

/* Print v with the largest unit of the table that divides it exactly; 0 and values no
 * unit divides are printed as a bare number. */
static int format_with(const struct unit *units, size_t n, uint64_t v, char *buf,
		       size_t buflen)
{
	const char *name = "";
	uint64_t shown = v;
	if (v != 0) {
		for (size_t i = 0; i < n; i++) {
			if (v % units[i].factor == 0) {
				shown = v / units[i].factor;
				name = units[i].name;
				break;
			}
		}
	}
	int len = snprintf(buf, buflen, "%llu%s", (unsigned long long)shown, name);
	if (len < 0 || (size_t)len >= buflen) {
		if (buflen > 0)
			buf[0] = '\0';
		return AD_ENOSPACE;
	}
	return 0;
}

int units_format_duration(uint64_t ms, char *buf, size_t buflen)
{
	return format_with(duration_units, NUNITS(duration_units), ms, buf, buflen);
}

int units_format_size(uint64_t bytes, char *buf, size_t buflen)
{
	/* Plain bytes are printed without "B": drop the last table entry. */
	return format_with(size_units, NUNITS(size_units) - 1, bytes, buf, buflen);
}
