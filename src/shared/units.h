/*
 * Units: durations and sizes as people write them in configuration files.
 *
 *   duration  "0" or one or more NUMBER UNIT groups, units in decreasing order, each at
 *             most once: d (day), h, m (minute), s, ms.  "250ms", "5s", "2m", "1h30m".
 *             The value is in milliseconds (uint64).  A bare number other than 0 is an
 *             error: "5" could mean seconds or milliseconds.
 *   size      NUMBER with an optional IEC unit: B, KiB, MiB, GiB, TiB, PiB, EiB.
 *             "4096", "512B", "64KiB", "1GiB".  The value is in bytes (uint64).  Decimal
 *             units (KB, MB, k, M) are errors: they are ambiguous.
 *
 * No signs, spaces, fractions or underscores.  Values that do not fit in 64 bits are
 * rejected, never wrapped.  Formatting picks the largest unit that divides the value
 * exactly ("90s", "64KiB", "1536"), and what it prints parses back to the same value.
 */
#ifndef AIRDRESS_UNITS_H
#define AIRDRESS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any formatted duration or size, NUL included. */
#define UNITS_BUFLEN 32

/* Parse a NUL-terminated duration into *ms.
 * Returns 0, AD_EPARSE (not a duration) or AD_ETOOBIG (over 2^64-1 ms).
 * *ms is written only on success. */
int units_parse_duration(const char *text, uint64_t *ms);

/* Parse a NUL-terminated size into *bytes.
 * Returns 0, AD_EPARSE (not a size) or AD_ETOOBIG (over 2^64-1 bytes).
 * *bytes is written only on success. */
int units_parse_size(const char *text, uint64_t *bytes);

/* Format a duration ("0", "250ms", "90s", "2m", "1h", "3d") into buf (buflen bytes,
 * UNITS_BUFLEN is always enough). Returns 0 or AD_ENOSPACE (buf then holds ""). */
int units_format_duration(uint64_t ms, char *buf, size_t buflen);

/* Format a size ("0", "1536", "64KiB", "1GiB") into buf. Returns 0 or AD_ENOSPACE. */
int units_format_size(uint64_t bytes, char *buf, size_t buflen);

#endif
