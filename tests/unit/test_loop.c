/*
 * Unit tests: the per-core io_uring loop, driven over real loopback sockets by
 * blocking clients in test threads. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/tcp.h> /* tcp_info with tcpi_segs_in */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../support/echo_ops.h"
#include "error.h"
#include "loop.h"

static struct loop *srv;
static uint16_t srv_port;
static struct echo_settings srv_settings;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static void start_echo(const struct loop_config *base, const struct loop_hooks *hooks)
{
	struct loop_config cfg = base ? *base : (struct loop_config){ 0 };
	if (cfg.workers == 0)
		cfg.workers = 2;
	int err = 0;
	srv = loop_create(&cfg, hooks, NULL, &err);
	cr_assert_not_null(srv, "loop_create: %s", airdress_strerror(err));
	struct sockaddr_in sa = loopback(0);
	int idx = loop_add_tcp(srv, (struct sockaddr *)&sa, sizeof(sa), &echo_tcp_ops, &srv_settings);
	cr_assert_geq(idx, 0, "loop_add_tcp: %s", airdress_strerror(idx));
	srv_port = loop_listener_port(srv, idx);
	sa = loopback(srv_port);
	int uidx = loop_add_udp(srv, (struct sockaddr *)&sa, sizeof(sa), &echo_udp_ops, NULL);
	cr_assert_geq(uidx, 0, "loop_add_udp: %s", airdress_strerror(uidx));
	cr_assert_eq(loop_start(srv), 0);
}

static void stop_echo(void)
{
	loop_drain(srv);
	loop_join(srv);
	loop_destroy(srv);
	srv = NULL;
}

static int client_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Read until EOF; returns the byte count (at most cap are kept). */
static size_t read_to_eof(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		uint8_t tmp[65536];
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			break;
		size_t keep = got < cap ? (cap - got < (size_t)n ? cap - got : (size_t)n) : 0;
		memcpy(buf + got, tmp, keep);
		got += (size_t)n;
	}
	return got;
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Wait (bounded) until every accepted connection has been closed by the server. */
static void wait_all_closed(void)
{
	struct loop_stats st;
	for (uint64_t end = now_ms() + 10000; now_ms() < end;) {
		loop_stats(srv, &st);
		if (st.active == 0 && st.closed == st.accepted)
			return;
		usleep(10000);
	}
	loop_stats(srv, &st);
	cr_assert_fail("connections left open: accepted=%lu closed=%lu active=%lu",
		       (unsigned long)st.accepted, (unsigned long)st.closed, (unsigned long)st.active);
}

#define CONNS 200
#define PER_CONN (16 * 1024)

Test(loop, many_concurrent_tcp_connections_echo_intact, .timeout = 60)
{
	start_echo(NULL, NULL);
	static int fds[CONNS];
	static uint8_t out[CONNS][PER_CONN], in[PER_CONN];
	for (int i = 0; i < CONNS; i++)
		fds[i] = client_connect(srv_port);
	for (int i = 0; i < CONNS; i++) {
		fill_pattern(out[i], PER_CONN, (uint32_t)i);
		write_all(fds[i], out[i], PER_CONN);
		shutdown(fds[i], SHUT_WR);
	}
	for (int i = 0; i < CONNS; i++) {
		size_t got = read_to_eof(fds[i], in, sizeof(in));
		cr_assert_eq(got, PER_CONN, "connection %d echoed %zu bytes", i, got);
		cr_assert_eq(memcmp(in, out[i], PER_CONN), 0, "connection %d echo differs", i);
		close(fds[i]);
	}
	wait_all_closed();
	struct loop_stats st;
	loop_stats(srv, &st);
	cr_assert_eq(st.accepted, CONNS);
	cr_assert_eq(st.bytes_in, (uint64_t)CONNS * PER_CONN);
	cr_assert_eq(st.bytes_out, (uint64_t)CONNS * PER_CONN);
	stop_echo();
}

Test(loop, udp_datagrams_echo, .timeout = 60)
{
	start_echo(NULL, NULL);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = loopback(srv_port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int answered = 0;
	for (int i = 0; i < 2000; i++) {
		uint8_t q[512], r[600];
		size_t len = 1 + (size_t)(i % 500);
		fill_pattern(q, len, (uint32_t)i);
		cr_assert_eq(send(fd, q, len, 0), (ssize_t)len);
		ssize_t n = recv(fd, r, sizeof(r), 0);
		if (n == (ssize_t)len && memcmp(q, r, len) == 0)
			answered++;
	}
	cr_assert_eq(answered, 2000, "every datagram echoed once, intact");
	/* A datagram larger than a receive buffer is dropped, not half-delivered. */
	static uint8_t big[8192];
	cr_assert_eq(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	uint8_t small[16] = "after";
	cr_assert_eq(send(fd, small, 5, 0), 5);
	uint8_t r[9000];
	ssize_t n = recv(fd, r, sizeof(r), 0);
	cr_assert_eq(n, 5, "the oversized datagram got no answer, the next one did");
	close(fd);
	stop_echo();
}

/* A burst larger than one send batch: the answers of one loop pass go out together
 * (sendmmsg), and none is lost or duplicated on the way. */
Test(loop, udp_burst_answered_in_batches, .timeout = 60)
{
	start_echo(NULL, NULL);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = loopback(srv_port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	enum { BURST = 150 }; /* small datagrams: the server's receive buffer holds them all */
	bool seen[BURST] = { false };
	for (int round = 0; round < 5; round++) {
		for (uint32_t i = 0; i < BURST; i++) {
			uint8_t q[64];
			memcpy(q, &i, sizeof(i));
			fill_pattern(q + 4, sizeof(q) - 4, i);
			cr_assert_eq(send(fd, q, sizeof(q), 0), (ssize_t)sizeof(q));
		}
		memset(seen, 0, sizeof(seen));
		for (int got = 0; got < BURST; got++) {
			uint8_t r[128], want[64];
			ssize_t n = recv(fd, r, sizeof(r), 0);
			cr_assert_eq(n, 64, "answer %d of round %d: %zd (%s)", got, round, n, strerror(errno));
			uint32_t i;
			memcpy(&i, r, sizeof(i));
			cr_assert_lt(i, (uint32_t)BURST);
			cr_assert(!seen[i], "datagram %u echoed twice", i);
			seen[i] = true;
			fill_pattern(want + 4, sizeof(want) - 4, i);
			cr_assert_eq(memcmp(r + 4, want + 4, sizeof(want) - 4), 0);
		}
	}
	close(fd);
	/* Counters are exact once the workers have stopped. */
	loop_drain(srv);
	loop_join(srv);
	struct loop_stats st;
	loop_stats(srv, &st);
	cr_assert_eq(st.udp_out, st.udp_in, "sent %lu of %lu", (unsigned long)st.udp_out,
		     (unsigned long)st.udp_in);
	cr_assert_eq(st.udp_dropped, 0);
	stop_echo();
}

/* With batch_wait_us a busy worker holds its wait to gather completions: every
 * datagram and every byte still gets its answer, one at a time or in a burst. */
Test(loop, batch_wait_answers_everything, .timeout = 60)
{
	struct loop_config cfg = { .workers = 1, .batch_wait_us = 2000 };
	start_echo(&cfg, NULL);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = loopback(srv_port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (uint32_t i = 0; i < 300; i++) {
		uint8_t q[64], r[128];
		fill_pattern(q, sizeof(q), i);
		cr_assert_eq(send(fd, q, sizeof(q), 0), (ssize_t)sizeof(q));
		cr_assert_eq(recv(fd, r, sizeof(r), 0), (ssize_t)sizeof(q), "answer %u", i);
		cr_assert_eq(memcmp(q, r, sizeof(q)), 0);
	}
	enum { BURST = 100 };
	for (uint32_t i = 0; i < BURST; i++) {
		uint8_t q[64];
		fill_pattern(q, sizeof(q), i);
		cr_assert_eq(send(fd, q, sizeof(q), 0), (ssize_t)sizeof(q));
	}
	for (int got = 0; got < BURST; got++) {
		uint8_t r[128];
		cr_assert_eq(recv(fd, r, sizeof(r), 0), 64, "burst answer %d", got);
	}
	close(fd);
	int tfd = client_connect(srv_port);
	static uint8_t out[100000], in[100000];
	fill_pattern(out, sizeof(out), 7);
	write_all(tfd, out, sizeof(out));
	shutdown(tfd, SHUT_WR);
	cr_assert_eq(read_to_eof(tfd, in, sizeof(in)), sizeof(out));
	cr_assert_eq(memcmp(out, in, sizeof(out)), 0);
	close(tfd);
	stop_echo();
}

Test(loop, peers_that_reset_mid_stream_leave_nothing_behind, .timeout = 60)
{
	start_echo(NULL, NULL);
	static uint8_t junk[1 << 20];
	for (int i = 0; i < 50; i++) {
		int fd = client_connect(srv_port);
		/* Write without reading, then close with unread data: the kernel resets. */
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		size_t off = 0;
		while (off < sizeof(junk) && poll(&pfd, 1, 50) > 0) {
			ssize_t n = send(fd, junk + off, sizeof(junk) - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	wait_all_closed();
	/* And it still serves. */
	int fd = client_connect(srv_port);
	write_all(fd, (const uint8_t *)"ping", 4);
	shutdown(fd, SHUT_WR);
	uint8_t buf[16];
	cr_assert_eq(read_to_eof(fd, buf, sizeof(buf)), 4);
	close(fd);
	stop_echo();
}

Test(loop, backpressure_bounds_memory_and_keeps_bytes, .timeout = 120)
{
	start_echo(NULL, NULL);
	const size_t total = 64u << 20;
	uint8_t *out = malloc(total), *in = malloc(total);
	fill_pattern(out, total, 7);
	int fd = client_connect(srv_port);
	/* Write everything before reading anything: the server must pause reading
	 * rather than buffer 64 MiB. Nonblocking writes interleaved with reads. */
	size_t sent = 0, got = 0;
	while (got < total) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		cr_assert_gt(poll(&pfd, 1, 10000), 0, "stalled at sent=%zu got=%zu", sent, got);
		if ((pfd.revents & POLLOUT) && sent < total) {
			ssize_t n = send(fd, out + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			if (sent == total)
				shutdown(fd, SHUT_WR);
		}
		if (pfd.revents & POLLIN) {
			/* Read slowly at first, so that the server sees a full socket. */
			if (got < (4u << 20))
				usleep(1000);
			ssize_t n = recv(fd, in + got, total - got, MSG_DONTWAIT);
			cr_assert_geq(n, 0);
			if (n == 0)
				break;
			got += (size_t)n;
		}
	}
	cr_assert_eq(got, total);
	cr_assert_eq(memcmp(in, out, total), 0, "64 MiB echoed intact");
	close(fd);
	free(out);
	free(in);
	wait_all_closed();
	stop_echo();
}

Test(loop, idle_connection_times_out, .timeout = 30)
{
	srv_settings.idle_timeout_ms = 300;
	start_echo(NULL, NULL);
	int fd = client_connect(srv_port);
	uint64_t t0 = now_ms();
	uint8_t buf[16];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_leq(n, 0, "the server closed the idle connection");
	cr_assert_geq(now_ms() - t0, 250, "not before the idle timeout");
	close(fd);
	struct loop_stats st;
	loop_stats(srv, &st);
	cr_assert_geq(st.timeouts, 1);
	srv_settings.idle_timeout_ms = 0;
	stop_echo();
}

static unsigned msg_counts[4];

static void count_message(struct worker *w, const struct msg *m)
{
	cr_assert_eq(m->type, MSG_USER + 1);
	__atomic_add_fetch(&msg_counts[worker_id(w)], 1, __ATOMIC_RELAXED);
}

Test(loop, broadcast_messages_reach_every_worker, .timeout = 30)
{
	struct loop_hooks hooks = { .on_message = count_message };
	start_echo(NULL, &hooks);
	int sent = 5000;
	for (int i = 0; i < sent; i++) {
		struct msg m = { .type = MSG_USER + 1, .u64 = (uint64_t)i };
		for (unsigned w = 0; w < loop_workers(srv); w++) {
			/* A full ring refuses; the sender retries once the worker caught up. */
			for (int tries = 0; loop_send(srv, w, &m) != 0; tries++) {
				cr_assert_lt(tries, 10000, "worker %u never drained its ring", w);
				usleep(100);
			}
		}
	}
	for (uint64_t end = now_ms() + 10000; now_ms() < end;) {
		if (__atomic_load_n(&msg_counts[0], __ATOMIC_RELAXED) >= (unsigned)sent &&
		    __atomic_load_n(&msg_counts[1], __ATOMIC_RELAXED) >= (unsigned)sent)
			break;
		usleep(10000);
	}
	cr_assert_gt(sent, 0);
	cr_assert_eq(msg_counts[0], (unsigned)sent);
	cr_assert_eq(msg_counts[1], (unsigned)sent);
	stop_echo();
}

Test(loop, drain_finishes_idle_connections_and_exits, .timeout = 30)
{
	start_echo(NULL, NULL);
	int fds[10];
	for (int i = 0; i < 10; i++)
		fds[i] = client_connect(srv_port);
	/* Make sure every connection is accepted before draining. */
	for (uint64_t end = now_ms() + 5000; now_ms() < end;) {
		struct loop_stats st;
		loop_stats(srv, &st);
		if (st.accepted == 10)
			break;
		usleep(5000);
	}
	loop_drain(srv);
	loop_join(srv);
	for (int i = 0; i < 10; i++) {
		uint8_t b;
		cr_assert_leq(recv(fds[i], &b, 1, 0), 0, "drained connections are closed");
		close(fds[i]);
	}
	/* The listener is gone. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(srv_port);
	cr_assert_neq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	loop_destroy(srv);
	srv = NULL;
}

Test(loop, drain_timeout_aborts_stuck_connections, .timeout = 30)
{
	struct loop_config cfg = { .workers = 2, .drain_timeout_ms = 300 };
	start_echo(&cfg, NULL);
	int fd = client_connect(srv_port);
	int rcv = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* Fill the server's output towards a client that never reads. */
	static uint8_t junk[1 << 20];
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	while (poll(&pfd, 1, 200) > 0) {
		if (send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) <= 0)
			break;
	}
	uint64_t t0 = now_ms();
	loop_drain(srv);
	loop_join(srv);
	cr_assert_lt(now_ms() - t0, 10000, "drain ended by its timeout");
	close(fd);
	loop_destroy(srv);
	srv = NULL;
}

/* Outbound connections from a worker, started by a message. */
struct connect_probe {
	struct sockaddr_in to;
	unsigned flags; /* of conn_connect */
	bool keep_open; /* after sending: wait for the peer's close */
	int opened;
	int closed;
	int why;
	int err;
};

static struct connect_probe probe;

static int probe_open(struct conn *c)
{
	__atomic_store_n(&probe.opened, 1, __ATOMIC_RELEASE);
	conn_send(c, "hello", 5);
	if (!probe.keep_open)
		conn_close(c);
	return 0;
}

static void probe_data(struct conn *c, const uint8_t *d, size_t n)
{
}

static void probe_close(struct conn *c, enum conn_end why, int err)
{
	probe.why = (int)why;
	probe.err = err;
	__atomic_store_n(&probe.closed, 1, __ATOMIC_RELEASE);
}

static const struct conn_ops probe_ops = {
	.on_open = probe_open,
	.on_data = probe_data,
	.on_close = probe_close,
};

static void connect_on_message(struct worker *w, const struct msg *m)
{
	int err = 0;
	if (conn_connect(w, (struct sockaddr *)&probe.to, sizeof(probe.to), &probe_ops, NULL, 2000,
			 probe.flags, &err) == NULL)
		probe_close(NULL, CONN_END_CONNECT, err);
}

static void wait_flag(int *flag)
{
	for (uint64_t end = now_ms() + 10000; now_ms() < end && !__atomic_load_n(flag, __ATOMIC_ACQUIRE);)
		usleep(5000);
	cr_assert(__atomic_load_n(flag, __ATOMIC_ACQUIRE), "callback ran in time");
}

/* A listener for the probe, a worker told to connect to it with flags, and the
 * accepted socket (10 s receive timeout). *lfd gets the listener. */
static int probe_accept(unsigned worker, unsigned flags, bool keep_open, int *lfd)
{
	*lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(*lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(*lfd, 8), 0);
	getsockname(*lfd, (struct sockaddr *)&sa, &len);
	memset(&probe, 0, sizeof(probe));
	probe.to = sa;
	probe.flags = flags;
	probe.keep_open = keep_open;
	struct loop_hooks hooks = { .on_message = connect_on_message };
	start_echo(NULL, &hooks);
	struct msg m = { .type = MSG_USER };
	cr_assert_eq(loop_send(srv, worker, &m), 0);
	int fd = accept(*lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

Test(loop, outbound_connect_sends_and_closes, .timeout = 30)
{
	int lfd;
	int fd = probe_accept(1, 0, false, &lfd);
	uint8_t buf[16];
	cr_assert_eq(read_to_eof(fd, buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	wait_flag(&probe.closed);
	cr_assert_eq(probe.opened, 1);
	cr_assert_eq(probe.why, CONN_END_CLOSED);
	close(fd);
	close(lfd);
	stop_echo();
}

/* Segments the accepting side received on a connection from a worker that sends
 * "hello" once connected, counted when those bytes have arrived. */
static unsigned segments_in_before_data(unsigned flags)
{
	int lfd;
	int fd = probe_accept(0, flags, true, &lfd);
	uint8_t buf[5];
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	close(fd); /* the worker sees EOF and closes */
	wait_flag(&probe.closed);
	close(lfd);
	stop_echo();
	return ti.tcpi_segs_in;
}

Test(loop, outbound_connect_sends_first_saves_a_segment, .timeout = 30)
{
	/* Without the flag: SYN, ACK, data. With it the ACK comes with the data. */
	cr_assert_eq(segments_in_before_data(0), 3);
	cr_assert_eq(segments_in_before_data(CONN_SENDS_FIRST), 2);
}

Test(loop, outbound_connect_refused_reports_error, .timeout = 30)
{
	/* A port that was just free: bind, learn it, close. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	close(lfd);
	memset(&probe, 0, sizeof(probe));
	probe.to = sa;
	struct loop_hooks hooks = { .on_message = connect_on_message };
	start_echo(NULL, &hooks);
	struct msg m = { .type = MSG_USER };
	cr_assert_eq(loop_send(srv, 0, &m), 0);
	wait_flag(&probe.closed);
	cr_assert_eq(probe.opened, 0);
	cr_assert_eq(probe.why, CONN_END_CONNECT);
	cr_assert_eq(probe.err, -ECONNREFUSED);
	stop_echo();
}

/* Echo that ends with conn_close_finished: on the client's EOF, or (close_early)
 * right after echoing, before the client has ended. */
static bool close_early;

static void finished_on_data(struct conn *c, const uint8_t *data, size_t len)
{
	echo_on_data(c, data, len);
	if (close_early)
		conn_close_finished(c);
}

static const struct conn_ops finished_echo_ops = {
	.on_open = echo_on_open,
	.on_data = finished_on_data,
	.on_drained = echo_on_drained,
	.on_eof = conn_close_finished,
};

/* A one-worker loop serving finished_echo_ops; returns the client's socket after
 * "hello" came back. */
static int finished_echo_hello(struct loop **lp)
{
	int err = 0;
	struct loop_config cfg = { .workers = 1 };
	*lp = loop_create(&cfg, NULL, NULL, &err);
	cr_assert_not_null(*lp);
	struct sockaddr_in sa = loopback(0);
	int idx = loop_add_tcp(*lp, (struct sockaddr *)&sa, sizeof(sa), &finished_echo_ops, NULL);
	cr_assert_geq(idx, 0);
	cr_assert_eq(loop_start(*lp), 0);
	int fd = client_connect(loop_listener_port(*lp, idx));
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(send(fd, "hello", 5, 0), 5);
	uint8_t buf[5];
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_WAITALL), 5);
	return fd;
}

static void finished_echo_stop(struct loop *l, int fd)
{
	close(fd);
	loop_drain(l);
	loop_join(l);
	loop_destroy(l);
}

Test(loop, close_finished_resets_after_the_peers_eof, .timeout = 30)
{
	struct loop *l;
	close_early = false;
	int fd = finished_echo_hello(&l);
	/* Everything echoed was read (and so acknowledged): our EOF ends it with a reset. */
	shutdown(fd, SHUT_WR);
	uint8_t b;
	cr_assert_eq(recv(fd, &b, 1, 0), -1);
	cr_assert_eq(errno, ECONNRESET);
	finished_echo_stop(l, fd);
}

Test(loop, close_finished_before_the_peers_eof_sends_a_fin, .timeout = 30)
{
	struct loop *l;
	close_early = true;
	int fd = finished_echo_hello(&l);
	uint8_t b;
	cr_assert_eq(recv(fd, &b, 1, 0), 0, "EOF, not a reset: %s", strerror(errno));
	finished_echo_stop(l, fd);
}

Test(loop, busy_address_fails_at_add)
{
	start_echo(NULL, NULL);
	int err = 0;
	struct loop_config cfg = { .workers = 1 };
	struct loop *other = loop_create(&cfg, NULL, NULL, &err);
	cr_assert_not_null(other);
	/* A plain socket holds the port without SO_REUSEPORT. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	cr_assert_eq(loop_add_tcp(other, (struct sockaddr *)&sa, sizeof(sa), &echo_tcp_ops, NULL),
		     -EADDRINUSE);
	close(fd);
	loop_destroy(other);
	stop_echo();
}
