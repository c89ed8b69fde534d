/*
 * Name hash: lowercase ASCII and hash a name in one pass, 8 bytes at a time. Used by
 * the name table, and by its benchmark so that the baseline hashes the same way.
 */
#ifndef AIRDRESS_NAMEHASH_H
#define AIRDRESS_NAMEHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>


#define NAMEHASH_ONES 0x0101010101010101ULL
#define NAMEHASH_HIGHS 0x8080808080808080ULL

/* Lowercase the ASCII letters among 8 bytes at once; other bytes, >= 0x80 included, are
 * left alone. Each byte b < 0x80 is tested for 'A' <= b <= 'Z' by two adds that set its
 * high bit and cannot carry into the next byte. */
static inline uint64_t namehash_fold8(uint64_t w)
{
	uint64_t low7 = w & ~NAMEHASH_HIGHS;
	uint64_t ge_a = low7 + NAMEHASH_ONES * (0x80 - 'A');
	uint64_t gt_z = low7 + NAMEHASH_ONES * (0x80 - 'Z' - 1);

	return w | (((ge_a ^ gt_z) & ~w & NAMEHASH_HIGHS) >> 2);
}

static inline uint64_t namehash_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* One MurmurHash3-style round per 8-byte word. */
static inline uint64_t namehash_mix(uint64_t h, uint64_t w)
{
	w *= 0x87c37b91114253d5ULL;
	w = namehash_rotl(w, 31);
	w *= 0x4cf5ad432745937fULL;
	h ^= w;
	return namehash_rotl(h, 27) * 5 + 0x52dce729;
}

static inline uint64_t namehash_fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Lowercase len bytes of in into out (which may be in) and hash the result. */
static inline uint64_t namehash_fold(const char *in, size_t len, char *out, uint64_t seed)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	size_t i = 0, j;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, in + i, 8);
		w = namehash_fold8(w);
		memcpy(out + i, &w, 8);
		h = namehash_mix(h, w);
	}
	if (i < len && len >= 8) {
		/* the last 8 bytes, overlapping the previous word: one load and one store
		 * instead of a loop per byte; the shift keeps the tail bytes only, so w is
		 * the same as the loop below builds */
		memcpy(&w, in + len - 8, 8);
		w = namehash_fold8(w);
		memcpy(out + len - 8, &w, 8);
		h = namehash_mix(h, w >> (8 * (8 - (len - i))));
	} else if (i < len) {
		w = 0;
		for (j = 0; i + j < len; j++)
			w |= (uint64_t)(unsigned char)in[i + j] << (8 * j);
		w = namehash_fold8(w);
		for (j = 0; i + j < len; j++)
			out[i + j] = (char)(w >> (8 * j));
		h = namehash_mix(h, w);
	}
	return namehash_fmix(h);
}

#endif
