/* Unit tests: per-worker arena. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"

Test(arena, aligned_allocations_until_full_then_reset)
{
	struct arena a;
	cr_assert_eq(arena_init(&a, 4096), 0);
	cr_assert_geq(a.cap, 4096);
	uint8_t *p1 = arena_alloc(&a, 1);
	uint8_t *p2 = arena_alloc(&a, 100);
	cr_assert_not_null(p1);
	cr_assert_not_null(p2);
	cr_assert_eq((uintptr_t)p2 % 16, 0);
	cr_assert_geq(p2 - p1, 1);
	memset(p2, 1, 100);
	cr_assert_null(arena_alloc(&a, a.cap), "more than is left gives NULL");
	cr_assert_null(arena_alloc(&a, SIZE_MAX), "overflow is caught");
	size_t hw = a.high_water;
	arena_reset(&a);
	cr_assert_eq(arena_alloc(&a, 8), (void *)p1, "reset starts over");
	cr_assert_eq(a.high_water, hw, "high water survives reset");
	void *all = NULL;
	arena_reset(&a);
	all = arena_alloc(&a, a.cap);
	cr_assert_not_null(all, "the whole capacity can be taken");
	arena_deinit(&a);
	arena_deinit(&a);
}
