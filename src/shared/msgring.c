/* Message ring: see msgring.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "msgring.h"

CK_RING_PROTOTYPE(msg, msg)

int msgring_init(struct msgring *mr, unsigned capacity)
{
	unsigned cap = 4;
	while (cap < capacity && cap < (1u << 24))
		cap <<= 1;
	mr->slots = calloc(cap, sizeof(*mr->slots));
	if (mr->slots == NULL)
		return -ENOMEM;
	mr->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mr->efd < 0) {
		int err = -errno;
		free(mr->slots);
		mr->slots = NULL;
		return err;
	}
	ck_ring_init(&mr->ring, cap);
	return 0;
}

void msgring_deinit(struct msgring *mr)
{
	free(mr->slots);
	mr->slots = NULL;
	if (mr->efd >= 0)
		close(mr->efd);
	mr->efd = -1;
}

int msgring_send(struct msgring *mr, const struct msg *m)
{
	struct msg copy = *m;
	if (!ck_ring_enqueue_mpsc_msg(&mr->ring, mr->slots, &copy))
		return AD_ENOSPACE;
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: the owner is awake anyway. */
	ssize_t ignored = write(mr->efd, &one, sizeof(one));
	(void)ignored;
	return 0;
}

int msgring_recv(struct msgring *mr, struct msg *m)
{
	return ck_ring_dequeue_mpsc_msg(&mr->ring, mr->slots, m) ? 1 : 0;
}
