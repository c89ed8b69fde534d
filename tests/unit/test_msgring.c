/* Unit tests: cross-core message ring (MPSC ck_ring + eventfd). */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "error.h"
#include "msgring.h"

Test(msgring, fifo_and_full)
{
	struct msgring mr;
	cr_assert_eq(msgring_init(&mr, 8), 0);
	int sent = 0;
	for (int i = 0; i < 100; i++) {
		struct msg m = { .type = 16, .u64 = (uint64_t)i };
		if (msgring_send(&mr, &m) != 0)
			break;
		sent++;
	}
	cr_assert_eq(sent, 7, "a ring of 8 holds 7");
	struct msg extra = { .type = 16 };
	cr_assert_eq(msgring_send(&mr, &extra), AD_ENOSPACE);
	uint64_t count;
	cr_assert_eq(read(mr.efd, &count, sizeof(count)), (ssize_t)sizeof(count));
	cr_assert_eq(count, 7, "one wakeup per message sent");
	struct msg m;
	for (int i = 0; i < 7; i++) {
		cr_assert_eq(msgring_recv(&mr, &m), 1);
		cr_assert_eq(m.u64, (uint64_t)i, "messages come out in order");
	}
	cr_assert_eq(msgring_recv(&mr, &m), 0);
	msgring_deinit(&mr);
	msgring_deinit(&mr);
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

static struct msgring shared_ring;

static void *producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		struct msg m = { .type = 16, .u32 = id, .u64 = i };
		while (msgring_send(&shared_ring, &m) != 0)
			usleep(50); /* full: let the consumer run */
	}
	return NULL;
}

Test(msgring, many_producers_one_consumer_lose_nothing)
{
	cr_assert_eq(msgring_init(&shared_ring, 1024), 0);
	pthread_t t[PRODUCERS];
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, producer, (void *)i);
	uint64_t next[PRODUCERS] = { 0 };
	uint64_t total = 0;
	while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
		struct msg m;
		if (!msgring_recv(&shared_ring, &m)) {
			struct pollfd pfd = { .fd = shared_ring.efd, .events = POLLIN };
			poll(&pfd, 1, 100);
			uint64_t drain;
			cr_assert(read(shared_ring.efd, &drain, sizeof(drain)) >= -1);
			continue;
		}
		cr_assert_lt(m.u32, PRODUCERS);
		cr_assert_eq(m.u64, next[m.u32], "per-producer order holds");
		next[m.u32]++;
		total++;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	msgring_deinit(&shared_ring);
}
