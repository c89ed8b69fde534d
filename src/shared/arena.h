/*
 * Arena: a per-worker bump allocator for per-request data. Allocation is a pointer
 * bump; everything is released at once by arena_reset() when the request is done
 * (as NSD resets its per-query region). Not thread-safe: one arena per worker.
 */
#ifndef AIRDRESS_ARENA_H
#define AIRDRESS_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena {
	uint8_t *base;
	size_t cap;
	size_t used;
	size_t high_water; /* largest `used` seen, for sizing */
};

/* Reserve cap bytes (rounded up to a page) for the caller-owned arena a.
 * Returns 0 or -ENOMEM. */
int arena_init(struct arena *a, size_t cap);
/* Release the memory. Safe on a zeroed or already deinitialised arena. */
void arena_deinit(struct arena *a);

/* n bytes aligned to 16, or NULL when the arena is full. Memory is not zeroed. */
static inline void *arena_alloc(struct arena *a, size_t n)
{
	size_t start = (a->used + 15) & ~(size_t)15;
	if (n > a->cap || start > a->cap - n)
		return NULL;
	a->used = start + n;
	if (a->used > a->high_water)
		a->high_water = a->used;
	return a->base + start;
}

/* Free everything allocated since the last reset. */
static inline void arena_reset(struct arena *a)
{
	a->used = 0;
}

#endif
