/* Arena: see arena.h. Memory comes from mmap so untouched pages cost nothing. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"

int arena_init(struct arena *a, size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	cap = (cap + page - 1) & ~(page - 1);
	void *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	a->base = mem;
	a->cap = cap;
	a->used = 0;
	a->high_water = 0;
	return 0;
}

void arena_deinit(struct arena *a)
{
	if (a->base != NULL)
		munmap(a->base, a->cap);
	a->base = NULL;
	a->cap = a->used = a->high_water = 0;
}
