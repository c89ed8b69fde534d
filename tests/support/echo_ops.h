/*
 * Echo service on the loop, shared by the loop unit tests and the airdress-echo test
 * server: TCP bytes and UDP datagrams come back as they arrived. Reading pauses while
 * more than ECHO_HIGH_WATER bytes wait to be sent (a client that writes without
 * reading), and resumes once they are sent, so memory stays bounded.
 */
#ifndef AIRDRESS_TEST_ECHO_OPS_H
#define AIRDRESS_TEST_ECHO_OPS_H

#include "loop.h"

#define ECHO_HIGH_WATER (256 * 1024)

struct echo_settings {
	uint64_t idle_timeout_ms; /* 0 = none */
};

static inline int echo_on_open(struct conn *c)
{
	const struct echo_settings *s = conn_ctx(c);
	uint64_t idle = s ? __atomic_load_n(&s->idle_timeout_ms, __ATOMIC_RELAXED) : 0;
	if (idle)
		conn_set_timeout(c, idle);
	return 0;
}

static inline void echo_on_data(struct conn *c, const uint8_t *data, size_t len)
{
	if (conn_send(c, data, len) != 0) {
		conn_abort(c);
		return;
	}
	if (conn_pending(c) > ECHO_HIGH_WATER)
		conn_pause(c);
}

static inline void echo_on_drained(struct conn *c)
{
	conn_resume(c);
}

static inline void echo_on_drain(struct conn *c)
{
	/* Draining: an echo connection with nothing pending is idle; finish it. */
	if (conn_pending(c) == 0)
		conn_close(c);
}

static inline void echo_on_eof(struct conn *c)
{
	/* Half-close: send back what is pending, then close our side too. */
	conn_close(c);
}

static inline void echo_on_datagram(const struct udp_packet *p)
{
	udp_send(p->sock, p->from, p->fromlen, p->data, p->len);
}

static const struct conn_ops echo_tcp_ops = {
	.on_open = echo_on_open,
	.on_data = echo_on_data,
	.on_drained = echo_on_drained,
	.on_drain = echo_on_drain,
	.on_eof = echo_on_eof,
};

static const struct udp_ops echo_udp_ops = {
	.on_datagram = echo_on_datagram,
};

#endif
