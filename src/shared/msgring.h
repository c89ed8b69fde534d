/*
 * Message ring: the cross-core channel of one worker. Any thread may send (senders
 * take turns on a mutex to enqueue into a ck_ring holding messages by value) and then
 * wakes the owner through an eventfd; only the owning worker drains it, from its own
 * loop, without a lock.
 * Used for control traffic (route updates, cache invalidations, drain), never for
 * per-packet work.
 */
#ifndef AIRDRESS_MSGRING_H
#define AIRDRESS_MSGRING_H

#include <ck_ring.h>
#include <pthread.h>
#include <stdint.h>

/* One message. type values below 16 belong to the runtime (loop.h); daemons use
 * their own above that. ptr ownership passes to the receiver. */
struct msg {
	uint32_t type;
	uint32_t u32;
	uint64_t u64;
	void *ptr;
};

struct msgring {
	struct ck_ring ring;
	struct msg *slots;
	int efd;            /* eventfd the owner waits on */
	pthread_mutex_t send_lock; /* senders, one at a time (msgring.c says why) */
};

/* Prepare a caller-owned ring with room for capacity-1 messages (capacity is rounded
 * up to a power of two, at least 4). Returns 0 or -errno. */
int msgring_init(struct msgring *mr, unsigned capacity);
/* Release the ring and its eventfd. Undelivered messages are dropped. Safe twice. */
void msgring_deinit(struct msgring *mr);

/* Enqueue a copy of m and wake the owner. Safe from any thread.
 * Returns 0 or AD_ENOSPACE when the ring is full (the message is not queued). */
int msgring_send(struct msgring *mr, const struct msg *m);

/* Owner only: take the next message into *m. Returns 1 when one was taken, 0 when
 * the ring is empty. */
int msgring_recv(struct msgring *mr, struct msg *m);

#endif
