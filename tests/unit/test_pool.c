/* Unit tests: fixed-size object pool. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

Test(pool, hands_out_distinct_aligned_objects_until_full)
{
	struct pool p;
	cr_assert_eq(pool_init(&p, 40, 100), 0);
	void *objs[100];
	for (int i = 0; i < 100; i++) {
		objs[i] = pool_get(&p);
		cr_assert_not_null(objs[i]);
		cr_assert_eq((uintptr_t)objs[i] % 64, 0, "objects are cache-line aligned");
		memset(objs[i], 0xab, 40);
		for (int j = 0; j < i; j++)
			cr_assert_neq(objs[i], objs[j]);
	}
	cr_assert_eq(pool_in_use(&p), 100);
	cr_assert_null(pool_get(&p), "a full pool gives NULL");
	pool_put(&p, objs[42]);
	cr_assert_eq(pool_get(&p), objs[42], "a freed object is reused");
	for (int i = 0; i < 100; i++)
		pool_put(&p, objs[i]);
	cr_assert_eq(pool_in_use(&p), 0);
	pool_put(&p, NULL);
	cr_assert_eq(pool_in_use(&p), 0, "NULL is ignored");
	pool_deinit(&p);
	pool_deinit(&p);
}

Test(pool, rejects_zero_sizes)
{
	struct pool p;
	cr_assert_eq(pool_init(&p, 0, 10), -EINVAL);
	cr_assert_eq(pool_init(&p, 10, 0), -EINVAL);
}

Test(pool, large_pool_commits_lazily)
{
	struct pool p;
	/* 1M objects of 1 KiB reserve 1 GiB of address space, not memory. */
	cr_assert_eq(pool_init(&p, 1024, 1u << 20), 0);
	void *o = pool_get(&p);
	cr_assert_not_null(o);
	pool_put(&p, o);
	pool_deinit(&p);
}
