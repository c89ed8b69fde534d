/* Pool: see pool.h. */
#include <errno.h>
#include <sys/mman.h>

#include "pool.h"

int pool_init(struct pool *p, size_t obj_size, uint32_t count)
{
	if (obj_size == 0 || count == 0)
		return -EINVAL;
	obj_size = (obj_size + 63) & ~(size_t)63;
	if (obj_size > SIZE_MAX / count)
		return -ENOMEM;
	void *mem = mmap(NULL, obj_size * count, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	p->mem = mem;
	p->obj_size = obj_size;
	p->cap = count;
	p->fresh = 0;
	p->in_use = 0;
	p->free_list = NULL;
	return 0;
}

void pool_deinit(struct pool *p)
{
	if (p->mem != NULL)
		munmap(p->mem, p->obj_size * p->cap);
	p->mem = NULL;
	p->cap = p->fresh = p->in_use = 0;
	p->free_list = NULL;
}

void *pool_get(struct pool *p)
{
	void *obj = p->free_list;
	if (obj != NULL) {
		p->free_list = *(void **)obj;
	} else if (p->fresh < p->cap) {
		/* Hand out never-used objects in order, so pages are touched lazily. */
		obj = p->mem + (size_t)p->fresh++ * p->obj_size;
	} else {
		return NULL;
	}
	p->in_use++;
	return obj;
}

void pool_put(struct pool *p, void *obj)
{
	if (obj == NULL)
		return;
	*(void **)obj = p->free_list;
	p->free_list = obj;
	p->in_use--;
}
