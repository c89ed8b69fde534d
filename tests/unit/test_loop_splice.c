/*
 * Unit tests: kernel splice between two connections of the loop (conn_splice).
 * A small forwarder runs on the loop: each accepted client gets an outbound
 * connection to a blocking echo server in a test thread; bytes queued with
 * conn_send before splicing must arrive first, then everything moves by splice:
 * large transfers both ways intact, half-close passed on, errors end both sides.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"

#define HELLO "hello-before-splice\n"

static struct loop *fl;
static uint16_t fl_port;
static int echo_fd = -1;
static uint16_t echo_port;
static atomic_ulong spliced_bytes;
static atomic_int echo_done;

struct side {
	struct conn *peer;
	bool eof;
};

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* ---- the forwarder on the loop ------------------------------------------ */

static void side_data(struct conn *c, const uint8_t *d, size_t n)
{
	struct side *s = conn_data(c);
	if (s->peer != NULL)
		conn_send(s->peer, d, n);
}

static void side_eof(struct conn *c)
{
	struct side *s = conn_data(c);
	s->eof = true;
	if (s->peer == NULL) {
		conn_close(c);
		return;
	}
	conn_shutdown_write(s->peer);
	if (((struct side *)conn_data(s->peer))->eof) {
		conn_close(c);
		conn_close(s->peer);
	}
}

static void side_spliced(struct conn *c, size_t n)
{
	(void)c;
	atomic_fetch_add(&spliced_bytes, n);
}

static void side_close(struct conn *c, enum conn_end why, int err)
{
	(void)why;
	(void)err;
	struct side *s = conn_data(c);
	if (s->peer != NULL) {
		((struct side *)conn_data(s->peer))->peer = NULL;
		conn_abort(s->peer);
	}
}

/* The upstream is connected: splice both ways from now on. */
static int up_open(struct conn *up)
{
	struct side *s = conn_data(up);
	if (s->peer == NULL)
		return -1;
	cr_assert_eq(conn_splice(s->peer, up), 0);
	cr_assert_eq(conn_splice(up, s->peer), 0);
	cr_assert(conn_spliced(up) && conn_spliced(s->peer));
	cr_assert_eq(conn_splice(up, s->peer), -EINVAL, "a second splice of one direction");
	return 0;
}

static const struct conn_ops up_ops = {
	.on_open = up_open,
	.on_data = side_data,
	.on_eof = side_eof,
	.on_close = side_close,
	.on_spliced = side_spliced,
};

static int client_open(struct conn *c)
{
	struct sockaddr_in sa = loopback(echo_port);
	int err = 0;
	struct conn *up = conn_connect(conn_worker(c), (struct sockaddr *)&sa, sizeof(sa), &up_ops,
				       NULL, 5000, CONN_SENDS_FIRST, &err);
	if (up == NULL)
		return -1;
	((struct side *)conn_data(c))->peer = up;
	((struct side *)conn_data(up))->peer = c;
	/* Queued before the splice: must reach the echo server first. */
	conn_send(up, HELLO, strlen(HELLO));
	return 0;
}

static const struct conn_ops client_ops = {
	.on_open = client_open,
	.on_data = side_data,
	.on_eof = side_eof,
	.on_close = side_close,
	.on_spliced = side_spliced,
};

/* ---- the echo server: blocking, one connection at a time ---------------- */

static void *echo_main(void *arg)
{
	(void)arg;
	int fd = accept(echo_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = { .tv_sec = 20 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				goto out;
			off += w;
		}
	}
	shutdown(fd, SHUT_WR); /* pass the half-close back */
out:
	atomic_store(&echo_done, 1);
	close(fd);
	return NULL;
}

static pthread_t echo_thread;

static void setup(void)
{
	echo_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(0);
	cr_assert_eq(bind(echo_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(echo_fd, 4), 0);
	socklen_t sl = sizeof(sa);
	getsockname(echo_fd, (struct sockaddr *)&sa, &sl);
	echo_port = ntohs(sa.sin_port);
	pthread_create(&echo_thread, NULL, echo_main, NULL);

	struct loop_config cfg = { .workers = 1, .buf_size = 16384, .buf_count = 64,
				   .conn_user_size = sizeof(struct side) };
	int err = 0;
	fl = loop_create(&cfg, NULL, NULL, &err);
	cr_assert_not_null(fl, "loop_create: %s", airdress_strerror(err));
	sa = loopback(0);
	int idx = loop_add_tcp(fl, (struct sockaddr *)&sa, sizeof(sa), &client_ops, NULL);
	cr_assert_geq(idx, 0);
	fl_port = loop_listener_port(fl, idx);
	cr_assert_eq(loop_start(fl), 0);
}

static void teardown(void)
{
	loop_drain(fl);
	loop_join(fl);
	loop_destroy(fl);
	shutdown(echo_fd, SHUT_RDWR);
	close(echo_fd);
	pthread_join(echo_thread, NULL);
}

static int client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = loopback(fl_port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 20 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

#define TOTAL (64u << 20)

struct writer_arg {
	int fd;
	const uint8_t *data;
};

static void *writer_main(void *arg)
{
	struct writer_arg *wa = arg;
	for (size_t off = 0; off < TOTAL;) {
		size_t n = TOTAL - off < 100000 ? TOTAL - off : 100000; /* odd sizes */
		ssize_t w = send(wa->fd, wa->data + off, n, MSG_NOSIGNAL);
		if (w <= 0)
			return NULL;
		off += (size_t)w;
	}
	shutdown(wa->fd, SHUT_WR);
	return NULL;
}

Test(loop_splice, both_ways_intact_with_half_close, .init = setup, .fini = teardown,
     .timeout = 120)
{
	uint8_t *data = malloc(TOTAL), *got = malloc(TOTAL + 64);
	cr_assert(data && got);
	uint32_t seed = 7;
	for (size_t i = 0; i < TOTAL; i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (uint8_t)(seed >> 16);
	}
	int fd = client();
	struct writer_arg wa = { fd, data };
	pthread_t wt;
	pthread_create(&wt, NULL, writer_main, &wa);
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, got + n, TOTAL + 64 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	pthread_join(wt, NULL);
	close(fd);
	size_t hl = strlen(HELLO);
	cr_assert_eq(n, TOTAL + hl, "got %zu bytes", n);
	cr_assert(memcmp(got, HELLO, hl) == 0, "the bytes queued before splicing came first");
	cr_assert(memcmp(got + hl, data, TOTAL) == 0, "spliced bytes differ");
	/* Everything after the first few bytes went through the kernel both ways. */
	cr_assert_geq(atomic_load(&spliced_bytes), 2ull * TOTAL - (1u << 20),
		      "spliced %lu bytes", (unsigned long)atomic_load(&spliced_bytes));
	cr_assert(atomic_load(&echo_done));
	free(data);
	free(got);
}

Test(loop_splice, a_reset_ends_both_sides, .init = setup, .fini = teardown, .timeout = 60)
{
	int fd = client();
	uint8_t buf[4096];
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 64; i++)
		send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	/* Reset: the forwarder must close the upstream, so the echo server sees the end. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	for (int i = 0; i < 500 && !atomic_load(&echo_done); i++)
		usleep(10000);
	cr_assert(atomic_load(&echo_done), "the upstream outlived the client's reset");
	struct loop_stats st;
	for (int i = 0; i < 500; i++) {
		loop_stats(fl, &st);
		if (st.active == 0)
			break;
		usleep(10000);
	}
	cr_assert_eq(st.active, 0, "connections left: %lu", (unsigned long)st.active);
}
