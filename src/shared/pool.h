/*
 * Pool: fixed-size objects for one worker (connections, send buffers), taken from a
 * preallocated block through a free list, so the hot path never calls malloc. The
 * block is mmap'd: memory is committed only as objects are first touched. Not
 * thread-safe: one pool per worker.
 */
#ifndef AIRDRESS_POOL_H
#define AIRDRESS_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pool {
	uint8_t *mem;
	size_t obj_size;   /* rounded up to 64 bytes: objects never share a cache line */
	uint32_t cap;      /* objects in the block */
	uint32_t fresh;    /* objects never handed out yet start at this index */
	uint32_t in_use;
	void *free_list;
};

/* Prepare a caller-owned pool of count objects of obj_size bytes.
 * Returns 0, -EINVAL (zero size or count) or -ENOMEM. */
int pool_init(struct pool *p, size_t obj_size, uint32_t count);
/* Release the block; every object is gone. Safe on a zeroed pool. */
void pool_deinit(struct pool *p);

/* An object (contents undefined), or NULL when all cap objects are in use. */
void *pool_get(struct pool *p);
/* Give back an object obtained from this pool. NULL is ignored. */
void pool_put(struct pool *p, void *obj);

static inline uint32_t pool_in_use(const struct pool *p)
{
	return p->in_use;
}

#endif
