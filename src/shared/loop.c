/*
 * Loop: the per-core io_uring runtime. See loop.h for the model and the connection
 * states.
 *
 * Every submission carries its object and operation in user_data: the object
 * pointer (at least 8-byte aligned) ORed with an op code in the low 3 bits. A conn
 * counts its operations in flight (recv, send, connect) and is freed only at a safe
 * point, once it is DEAD and nothing is in flight, so no completion can ever name a
 * freed object.
 *
 * One loop shape: submit and wait for a batch with a 100 ms timeout; drain every
 * completion; return the receive buffers to the ring once; free settled
 * connections; then housekeeping (timers, hooks.tick, draining).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <liburing.h>
#include <linux/sockios.h> /* SIOCOUTQ */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "log.h"
#include "loop.h"
#include "pool.h"

#define BGID 1
#define TICK_MS 100
#define BATCH_WAIT_NR 32  /* completions that end a batch wait early */

#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15) /* Linux 6.12; liburing 2.3 predates it */
#endif
#define MAX_LISTENERS 32
#define UDP_BATCH 64      /* datagrams gathered for one sendmmsg */

/* The operation of a CQE, in the low 3 bits of its user data (the rest is the
 * object's address). Eight codes: the worker's message eventfd shares OP_IGNORE,
 * told apart by its non-NULL address. */
enum op {
	OP_IGNORE = 0,  /* NULL: cancels, linked timeouts; the worker: OP_MSG */
	OP_ACCEPT,
	OP_RECV,
	OP_SEND,
	OP_CONNECT,
	OP_UDP_RECV,
	OP_UDP_SEND,
	OP_POLL,        /* splice mode: readiness of a conn */
};
#define OP_MSG OP_IGNORE
#define OP_MASK 7ull

enum conn_state { CONN_OPEN, CONN_CLOSING, CONN_DEAD };

/* Single-writer counter update, readable from other threads without a data race. */
#define STAT_ADD(w, field, n)                                                        \
	__atomic_store_n(&(w)->stats.field,                                          \
			 __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED) + (n),  \
			 __ATOMIC_RELAXED)

struct listener {
	bool udp;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const struct conn_ops *tcp_ops;
	const struct udp_ops *udp_ops;
	void *ctx;
	uint16_t port;
	int *fds;                 /* one socket per worker, bound in loop_add_* */
	bool local_known;         /* bound to one address (not a wildcard): addr is the
	                             local address of every accepted connection */
};

/* A listening socket of one worker (for UDP: struct udp_sock). */
struct udp_sock {
	struct worker *w;
	struct listener *l;
	int fd;
	bool armed;
	bool closed;
	struct msghdr recv_hdr;   /* template for multishot recvmsg: must outlive it */
} __attribute__((aligned(16)));

struct chunk {
	struct chunk *next;
	uint32_t len;
	uint32_t off;
	uint8_t data[];
};

struct udp_slot {
	struct msghdr hdr;
	struct iovec iov;
	struct sockaddr_storage to;
	struct udp_sock *s;
	uint8_t data[];
};

struct conn {
	struct worker *w;
	const struct conn_ops *ops;
	void *ctx;
	int fd;
	uint8_t state;
	uint8_t inflight;         /* recv + send + connect in flight */
	bool recv_armed;
	bool paused;
	bool send_inflight;
	bool connecting;
	bool shut_wr;             /* shutdown(SHUT_WR) once output is flushed */
	bool shut_wr_done;
	bool on_settle_list;
	bool on_flush_list;
	bool opened;              /* on_open ran and returned 0 */
	bool peer_eof;            /* read returned 0: the peer sends no more */
	bool reset_when_acked;    /* conn_close_finished() after the peer's EOF */
	uint8_t why;
	bool poll_armed;          /* a one-shot poll (splice mode) in flight */
	uint8_t poll_events;      /* POLLIN / POLLOUT wanted by splice mode */
	bool splice_start;        /* conn_splice() asked; starts once the recv has ended */
	bool splice_blocked;      /* waits for the destination's queued output */
	bool send_cancelled;      /* housekeeping cancelled the send in flight */
	int err;
	uint32_t piped;           /* bytes in pipe, on their way to splice_to */
	struct conn *splice_to;   /* splice mode: where what we receive goes */
	struct conn *splice_from; /* splice mode: whose bytes we are sent */
	struct loop_pipe *pipe;   /* held only while bytes are in it */
	struct chunk *out_head;
	struct chunk *out_tail;
	size_t pending;
	uint64_t idle_ms;
	uint64_t last_rx_ms;
	struct conn *prev, *next; /* worker's list of connections */
	struct conn *settle_next;
	struct conn *flush_next;
	socklen_t peerlen, locallen;
	struct sockaddr_storage peer;  /* also the address an outbound connect uses */
	union {                        /* IPv4 or IPv6 only: a quarter of the storage */
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} local;
	union {                   /* never both: sends wait for the connect */
		struct __kernel_timespec ts; /* the connect's linked timeout */
		uint64_t send_start_ms;      /* the send in flight began; see housekeeping */
	};
	uint8_t user[] __attribute__((aligned(16)));
};

/* A pipe for kernel splicing, from the worker's free list. */
struct loop_pipe {
	int r, w;
	struct loop_pipe *next;
};
#define PIPE_FREE_MAX 256   /* empty pipes a worker keeps for reuse */
#define SPLICE_ROUNDS 16    /* reads of up to a pipe's size per readiness event */

struct worker {
	struct loop *loop;
	unsigned id;
	int cpu;
	pthread_t thread;
	struct io_uring ring;
	bool ring_ready;
	bool min_wait;            /* the kernel honours a minimum wait (batch_wait_us) */
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint8_t *bufs;
	size_t bufs_len;
	unsigned buf_returns;     /* buffers added since the last advance */
	struct pool conns;
	struct pool chunks;
	struct pool udp_slots;
	struct arena arena;
	struct udp_sock socks[MAX_LISTENERS];
	unsigned nsocks;
	struct conn *conn_list;
	struct conn *settle_list;
	struct conn *flush_list;  /* conns with output queued in this iteration */
	unsigned udp_inflight;
	struct loop_pipe *pipes;  /* empty pipes for reuse */
	unsigned npipes;
	/* Datagrams udp_send queued in this iteration, sent by udp_flush. */
	unsigned udp_npend;
	struct udp_slot *udp_pend[UDP_BATCH];
	struct mmsghdr udp_mm[UDP_BATCH];
	uint64_t now_ms;
	uint64_t last_tick_ms;
	bool draining;
	uint64_t drain_deadline_ms;
	bool drain_aborted;
	bool stop;
	bool need_rearm_accept;
	uint64_t efd_val;
	void *data;
	int start_err;
	/* Written by other threads: its own cache line. */
	struct msgring mr __attribute__((aligned(64)));
	uint64_t barrier_ack;     /* last MSG_BARRIER generation seen */
	int exited;
	struct loop_stats stats __attribute__((aligned(64)));
};

struct loop {
	struct loop_config cfg;
	struct loop_hooks hooks;
	void *app;
	unsigned nworkers;
	struct worker *workers;
	struct listener listeners[MAX_LISTENERS];
	unsigned nlisteners;
	bool started;
	bool joined;
	uint64_t barrier_gen;
	int drained;
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned started_count;
};

static inline uint64_t tag(void *p, enum op op)
{
	return (uint64_t)(uintptr_t)p | op;
}

static void splice_detach(struct conn *c);
static void splice_pump(struct conn *from);
static void splice_begin(struct conn *c);
static void on_poll(struct worker *w, struct conn *c, struct io_uring_cqe *cqe);

/* An SQE, flushing the SQ to the kernel once when it is full. */
static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void submit_cancel(struct worker *w, uint64_t target)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL)
		return;
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, OP_IGNORE);
}

static void ms_to_ts(struct __kernel_timespec *ts, uint64_t ms)
{
	ts->tv_sec = (long long)(ms / 1000);
	ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

/* ---- receive buffers ---------------------------------------------------- */

static void buf_return(struct worker *w, unsigned bid)
{
	unsigned size = w->loop->cfg.buf_size;
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * size, size, (unsigned short)bid,
			      io_uring_buf_ring_mask(w->loop->cfg.buf_count), (int)w->buf_returns);
	w->buf_returns++;
}

static void buf_flush(struct worker *w)
{
	if (w->buf_returns) {
		io_uring_buf_ring_advance(w->br, (int)w->buf_returns);
		w->buf_returns = 0;
	}
}

static int buf_ring_setup(struct worker *w)
{
	const struct loop_config *cfg = &w->loop->cfg;
	w->br_len = (size_t)cfg->buf_count * sizeof(struct io_uring_buf);
	void *mem = mmap(NULL, w->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	w->br = mem;
	w->bufs_len = (size_t)cfg->buf_count * cfg->buf_size;
	mem = mmap(NULL, w->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	w->bufs = mem;
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)w->br,
		.ring_entries = cfg->buf_count,
		.bgid = BGID,
	};
	int ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (ret < 0)
		return ret;
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < cfg->buf_count; i++)
		buf_return(w, i);
	buf_flush(w);
	return 0;
}

/* ---- connections -------------------------------------------------------- */

static void conn_settle_later(struct conn *c)
{
	if (!c->on_settle_list) {
		c->on_settle_list = true;
		c->settle_next = c->w->settle_list;
		c->w->settle_list = c;
	}
}

static void conn_die(struct conn *c, enum conn_end why, int err)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	c->why = (uint8_t)why;
	c->err = err;
	if (c->recv_armed)
		submit_cancel(c->w, tag(c, OP_RECV));
	if (c->poll_armed)
		submit_cancel(c->w, tag(c, OP_POLL));
	if (c->send_inflight)
		submit_cancel(c->w, tag(c, OP_SEND));
	if (c->connecting)
		submit_cancel(c->w, tag(c, OP_CONNECT));
	conn_settle_later(c);
}

static void conn_free_chunks(struct conn *c)
{
	struct chunk *ch = c->out_head;
	while (ch != NULL) {
		struct chunk *next = ch->next;
		pool_put(&c->w->chunks, ch);
		ch = next;
	}
	c->out_head = c->out_tail = NULL;
	c->pending = 0;
}

/* Has the peer acknowledged every byte sent on fd? (false when unknown) */
static bool all_acked(int fd)
{
	int unacked = -1;
	return ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked == 0;
}

/* Free a DEAD connection once nothing is in flight. Runs only at safe points. */
static void conn_settle(struct conn *c)
{
	struct worker *w = c->w;
	c->on_settle_list = false;
	if (c->state != CONN_DEAD || c->inflight != 0 || c->on_flush_list)
		return;
	if (c->ops->on_close != NULL)
		c->ops->on_close(c, (enum conn_end)c->why, c->err);
	if ((c->why != CONN_END_CLOSED && c->why != CONN_END_PEER) ||
	    (c->reset_when_acked && all_acked(c->fd))) {
		/* Abortive end: reset rather than leave the peer in FIN_WAIT. Or a finished
		 * exchange (conn_close_finished): the reset tells the peer no more than a
		 * FIN would, and spares it a TIME_WAIT and the last ACK. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	/* Closed with the next submission rather than a system call of its own. */
	struct io_uring_sqe *sqe = w->ring_ready ? io_uring_get_sqe(&w->ring) : NULL;
	if (sqe != NULL) {
		io_uring_prep_close(sqe, c->fd);
		io_uring_sqe_set_data64(sqe, OP_IGNORE);
	} else {
		close(c->fd);
	}
	conn_free_chunks(c);
	splice_detach(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conn_list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pool_put(&w->conns, c);
	STAT_ADD(w, closed, 1);
	STAT_ADD(w, active, (uint64_t)-1);
}

static void settle_all(struct worker *w)
{
	while (w->settle_list != NULL) {
		struct conn *c = w->settle_list;
		w->settle_list = c->settle_next;
		conn_settle(c);
	}
}

static struct conn *conn_new(struct worker *w, int fd, const struct conn_ops *ops, void *ctx)
{
	struct conn *c = pool_get(&w->conns);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c) + w->loop->cfg.conn_user_size);
	c->w = w;
	c->fd = fd;
	c->ops = ops;
	c->ctx = ctx;
	c->state = CONN_OPEN;
	c->last_rx_ms = w->now_ms;
	c->next = w->conn_list;
	if (c->next != NULL)
		c->next->prev = c;
	w->conn_list = c;
	STAT_ADD(w, active, 1);
	return c;
}

static void conn_arm_recv(struct conn *c)
{
	if (c->recv_armed || c->paused || c->connecting || c->state != CONN_OPEN ||
	    c->splice_to != NULL || c->splice_start)
		return;
	struct io_uring_sqe *sqe = get_sqe(c->w);
	if (sqe == NULL) {
		conn_die(c, CONN_END_ERROR, -EBUSY);
		return;
	}
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, tag(c, OP_RECV));
	c->recv_armed = true;
	c->inflight++;
}

static void conn_flush(struct conn *c)
{
	struct worker *w = c->w;
	if (c->send_inflight || c->connecting || c->state == CONN_DEAD)
		return;
	struct chunk *ch = c->out_head;
	if (ch == NULL) {
		if (c->shut_wr && !c->shut_wr_done) {
			/* With the next submission, after every send of this socket. */
			shutdown(c->fd, SHUT_WR);
			c->shut_wr_done = true;
		}
		if (c->state == CONN_CLOSING)
			conn_die(c, CONN_END_CLOSED, 0);
		return;
	}
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL) {
		conn_die(c, CONN_END_ERROR, -EBUSY);
		return;
	}
	/* The last bytes before a shutdown: MSG_MORE holds their tail in the kernel
	 * until shutdown() queues the FIN, which then leaves in the same segment (one
	 * packet less for both ends). Not before a close: a close with unread input
	 * resets the connection and would drop the held bytes. */
	int flags = MSG_NOSIGNAL;
	if (ch->next == NULL && c->shut_wr)
		flags |= MSG_MORE;
	io_uring_prep_send(sqe, c->fd, ch->data + ch->off, ch->len - ch->off, flags);
	io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
	/* No linked timeout (an SQE, a CQE and a kernel timer per send): housekeeping
	 * cancels a send older than send_timeout. */
	c->send_start_ms = w->now_ms;
	c->send_inflight = true;
	c->inflight++;
}

void *conn_data(struct conn *c)
{
	return c->user;
}

struct worker *conn_worker(const struct conn *c)
{
	return c->w;
}

void *conn_ctx(const struct conn *c)
{
	return c->ctx;
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

const struct sockaddr *conn_peer(const struct conn *c, socklen_t *len)
{
	struct conn *m = (struct conn *)c;
	if (m->peerlen == 0) {
		/* Looked up on first use: most connections never need it. */
		m->peerlen = sizeof(m->peer);
		if (getpeername(m->fd, (struct sockaddr *)&m->peer, &m->peerlen) != 0) {
			memset(&m->peer, 0, sizeof(m->peer));
			m->peerlen = sizeof(struct sockaddr_in);
		}
	}
	if (len != NULL)
		*len = m->peerlen;
	return (const struct sockaddr *)&m->peer;
}

const struct sockaddr *conn_local(const struct conn *c, socklen_t *len)
{
	struct conn *m = (struct conn *)c;
	if (m->locallen == 0) {
		m->locallen = sizeof(m->local);
		if (getsockname(m->fd, &m->local.sa, &m->locallen) != 0 ||
		    m->locallen > sizeof(m->local)) {
			memset(&m->local, 0, sizeof(m->local));
			m->locallen = sizeof(struct sockaddr_in);
		}
	}
	if (len != NULL)
		*len = m->locallen;
	return &m->local.sa;
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->state != CONN_OPEN || c->shut_wr)
		return -EPIPE;
	struct worker *w = c->w;
	const uint8_t *p = data;
	uint32_t csize = w->loop->cfg.chunk_size;
	/* Count the chunks needed first, so that a failure queues nothing. */
	size_t room = c->out_tail ? csize - c->out_tail->len : 0;
	size_t need = len > room ? (len - room + csize - 1) / csize : 0;
	if (need > w->chunks.cap - pool_in_use(&w->chunks))
		return AD_ENOSPACE;
	while (len > 0) {
		struct chunk *ch = c->out_tail;
		if (ch == NULL || ch->len == csize ||
		    (ch == c->out_head && c->send_inflight)) {
			/* Never append to the chunk a send in flight is reading from. */
			ch = pool_get(&w->chunks);
			if (ch == NULL)
				return AD_ENOSPACE;
			ch->next = NULL;
			ch->len = ch->off = 0;
			if (c->out_tail != NULL)
				c->out_tail->next = ch;
			else
				c->out_head = ch;
			c->out_tail = ch;
		}
		size_t n = csize - ch->len;
		if (n > len)
			n = len;
		memcpy(ch->data + ch->len, p, n);
		ch->len += (uint32_t)n;
		p += n;
		len -= n;
		c->pending += n;
	}
	/* Sent at the end of this loop iteration, so that everything a callback queues
	 * (a PROXY header and the bytes after it, pipelined answers) leaves in one send. */
	if (!c->on_flush_list) {
		c->on_flush_list = true;
		c->flush_next = w->flush_list;
		w->flush_list = c;
	}
	return 0;
}

static void flush_all(struct worker *w)
{
	while (w->flush_list != NULL) {
		struct conn *c = w->flush_list;
		w->flush_list = c->flush_next;
		c->on_flush_list = false;
		conn_flush(c);
		if (c->state == CONN_DEAD)
			conn_settle_later(c);
	}
}

size_t conn_pending(const struct conn *c)
{
	return c->pending;
}

void conn_pause(struct conn *c)
{
	if (c->paused)
		return;
	c->paused = true;
	if (c->recv_armed)
		submit_cancel(c->w, tag(c, OP_RECV));
}

void conn_resume(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	c->last_rx_ms = c->w->now_ms;
	if (c->splice_to != NULL && !c->splice_start)
		splice_pump(c);
	else
		conn_arm_recv(c);
}

void conn_set_timeout(struct conn *c, uint64_t ms)
{
	c->idle_ms = ms;
	c->last_rx_ms = c->w->now_ms;
}

void conn_shutdown_write(struct conn *c)
{
	if (c->state != CONN_OPEN || c->shut_wr)
		return;
	c->shut_wr = true;
	conn_flush(c);
}

void conn_close(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	if (c->recv_armed)
		submit_cancel(c->w, tag(c, OP_RECV));
	conn_flush(c);
}

void conn_close_finished(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->reset_when_acked = c->peer_eof;
	conn_close(c);
}

void conn_abort(struct conn *c)
{
	conn_die(c, CONN_END_CLOSED, 0);
}

struct conn *conn_connect(struct worker *w, const struct sockaddr *addr, socklen_t len,
			  const struct conn_ops *ops, void *ctx, uint64_t timeout_ms,
			  unsigned flags, int *err)
{
	/* TCP, or a unix stream socket (a local service at unix:/path). */
	bool tcp = addr->sa_family != AF_UNIX;
	if (len > sizeof(struct sockaddr_storage)) {
		*err = -EINVAL;
		return NULL;
	}
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, tcp ? IPPROTO_TCP : 0);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	struct conn *c = conn_new(w, fd, ops, ctx);
	if (c == NULL) {
		close(fd);
		*err = AD_ENOSPACE;
		return NULL;
	}
	memcpy(&c->peer, addr, len);
	c->peerlen = len;
	if (tcp && w->loop->cfg.tcp_nodelay) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (tcp && (flags & CONN_SENDS_FIRST)) {
		/* Delayed-ACK mode from the start: on the SYN-ACK Linux holds the
		 * handshake's ACK for data about to be sent, then leaves the mode, so the
		 * rest of the connection acknowledges as usual. */
		int zero = 0;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
	}
	struct io_uring_sqe *sqe = get_sqe(w);
	struct io_uring_sqe *tsqe = sqe ? get_sqe(w) : NULL;
	if (tsqe == NULL) {
		/* Cannot happen after get_sqe flushed; keep the conn consistent anyway. */
		conn_die(c, CONN_END_CONNECT, -EBUSY);
		*err = -EBUSY;
		return NULL;
	}
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->peer, len);
	io_uring_sqe_set_data64(sqe, tag(c, OP_CONNECT));
	sqe->flags |= IOSQE_IO_LINK;
	ms_to_ts(&c->ts, timeout_ms);
	io_uring_prep_link_timeout(tsqe, &c->ts, 0);
	io_uring_sqe_set_data64(tsqe, OP_IGNORE);
	c->connecting = true;
	c->inflight++;
	return c;
}

/* ---- completions -------------------------------------------------------- */

/* ---- kernel splice ------------------------------------------------------ */

/*
 * A connection in splice mode reads with splice(2) into a pipe and writes from the
 * pipe to its splice_to connection, so the bytes never reach user space: half the
 * memory traffic of receiving into a buffer and sending from it. The calls are made
 * on the worker, non-blocking (io_uring would run a splice on a kernel worker
 * thread), and driven by one-shot polls on the two sockets: POLLIN on the source
 * when it has nothing to read, POLLOUT on the destination when it is full. A source
 * is read only when its pipe is empty, so nothing is read that the destination
 * cannot take. The pipe comes from the worker's free list while bytes are in it and
 * goes back when it is empty: an idle connection holds none.
 */

static void poll_arm(struct conn *c);

static struct loop_pipe *pipe_get(struct worker *w)
{
	struct loop_pipe *pp = w->pipes;
	if (pp != NULL) {
		w->pipes = pp->next;
		w->npipes--;
		return pp;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return NULL;
	pp = malloc(sizeof(*pp));
	if (pp == NULL) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	pp->r = fds[0];
	pp->w = fds[1];
	return pp;
}

static void pipe_put(struct worker *w, struct loop_pipe *pp, bool empty)
{
	if (!empty || w->npipes >= PIPE_FREE_MAX) {
		close(pp->r);
		close(pp->w);
		free(pp);
		return;
	}
	pp->next = w->pipes;
	w->pipes = pp;
	w->npipes++;
}

/* Forget both splice links of c; the bytes still in its pipe are lost with it. */
static void splice_detach(struct conn *c)
{
	if (c->pipe != NULL)
		pipe_put(c->w, c->pipe, c->piped == 0);
	c->pipe = NULL;
	c->piped = 0;
	if (c->splice_to != NULL && c->splice_to->splice_from == c)
		c->splice_to->splice_from = NULL;
	if (c->splice_from != NULL && c->splice_from->splice_to == c)
		c->splice_from->splice_to = NULL;
	c->splice_to = c->splice_from = NULL;
}

/* Want events on c: arm a poll, or widen the one in flight. */
static void poll_want(struct conn *c, uint8_t events)
{
	if (c->state == CONN_DEAD || (c->poll_events & events) == events)
		return;
	c->poll_events |= events;
	if (!c->poll_armed) {
		poll_arm(c);
		return;
	}
	struct io_uring_sqe *sqe = get_sqe(c->w);
	if (sqe == NULL) {
		conn_die(c, CONN_END_ERROR, -EBUSY);
		return;
	}
	/* If the poll completes first, its handler arms again with every wanted event. */
	io_uring_prep_poll_update(sqe, tag(c, OP_POLL), tag(c, OP_POLL), c->poll_events,
				  IORING_POLL_UPDATE_EVENTS);
	io_uring_sqe_set_data64(sqe, OP_IGNORE);
}

static void poll_arm(struct conn *c)
{
	if (c->poll_armed || c->poll_events == 0 || c->state == CONN_DEAD)
		return;
	struct io_uring_sqe *sqe = get_sqe(c->w);
	if (sqe == NULL) {
		conn_die(c, CONN_END_ERROR, -EBUSY);
		return;
	}
	io_uring_prep_poll_add(sqe, c->fd, c->poll_events);
	io_uring_sqe_set_data64(sqe, tag(c, OP_POLL));
	c->poll_armed = true;
	c->inflight++;
}

/* Move what `from` has towards from->splice_to until one side would block. */
static void splice_pump(struct conn *from)
{
	struct worker *w = from->w;
	struct conn *to = from->splice_to;
	from->splice_blocked = false;
	for (int round = 0; round < SPLICE_ROUNDS; round++) {
		if (from->state == CONN_DEAD || to == NULL || to->state == CONN_DEAD)
			return;
		if (from->piped > 0) {
			/* Bytes queued with conn_send() go first: keep the order. */
			if (to->out_head != NULL || to->send_inflight) {
				from->splice_blocked = true;
				return;
			}
			ssize_t n = splice(from->pipe->r, NULL, to->fd, NULL, from->piped,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				poll_want(to, POLLOUT);
				return;
			}
			if (n <= 0) {
				conn_die(to, CONN_END_PEER, n < 0 ? -errno : -EPIPE);
				return;
			}
			from->piped -= (uint32_t)n;
			STAT_ADD(w, bytes_out, (uint64_t)n);
			to->last_rx_ms = w->now_ms; /* progress either way keeps both alive */
			if (from->piped > 0)
				continue;
			pipe_put(w, from->pipe, true);
			from->pipe = NULL;
		}
		if (from->state != CONN_OPEN || from->paused)
			return;
		if (from->pipe == NULL && (from->pipe = pipe_get(w)) == NULL) {
			conn_die(from, CONN_END_ERROR, -errno);
			return;
		}
		ssize_t n = splice(from->fd, NULL, from->pipe->w, NULL, (size_t)1 << 20,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			pipe_put(w, from->pipe, true);
			from->pipe = NULL;
			poll_want(from, POLLIN);
			return;
		}
		if (n < 0) {
			conn_die(from, CONN_END_PEER, -errno);
			return;
		}
		if (n == 0) {
			pipe_put(w, from->pipe, true);
			from->pipe = NULL;
			from->peer_eof = true;
			if (from->ops->on_eof != NULL)
				from->ops->on_eof(from);
			else
				conn_close(from);
			return;
		}
		from->piped = (uint32_t)n;
		STAT_ADD(w, bytes_in, (uint64_t)n);
		from->last_rx_ms = w->now_ms;
		if (from->ops->on_spliced != NULL)
			from->ops->on_spliced(from, (size_t)n);
	}
	/* Still more to do: come back after the other connections had their turn. */
	if (from->piped > 0)
		poll_want(to, POLLOUT);
	else
		poll_want(from, POLLIN);
}

static void on_poll(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	(void)w;
	c->poll_armed = false;
	c->inflight--;
	uint8_t wanted = c->poll_events;
	c->poll_events = 0;
	if (c->state == CONN_DEAD) {
		conn_settle_later(c);
		return;
	}
	if (cqe->res < 0) {
		conn_die(c, CONN_END_ERROR, cqe->res);
		conn_settle_later(c);
		return;
	}
	unsigned rev = (unsigned)cqe->res;
	bool in = (wanted & POLLIN) && (rev & (POLLIN | POLLERR | POLLHUP));
	bool out = (wanted & POLLOUT) && (rev & (POLLOUT | POLLERR | POLLHUP));
	/* What did not fire is still wanted; the splice calls say what blocks anew. */
	c->poll_events = (uint8_t)(wanted & ~((in ? POLLIN : 0) | (out ? POLLOUT : 0)));
	if (in && c->splice_to != NULL)
		splice_pump(c);
	if (out && c->splice_from != NULL && c->state != CONN_DEAD)
		splice_pump(c->splice_from);
	poll_arm(c);
	if (c->state == CONN_DEAD)
		conn_settle_later(c);
}

static void splice_begin(struct conn *c)
{
	c->splice_start = false;
	if (c->splice_to == NULL || c->state != CONN_OPEN)
		return;
	splice_pump(c);
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) ? -1 : 0;
}

int conn_splice(struct conn *from, struct conn *to)
{
	if (from->state != CONN_OPEN || to->state != CONN_OPEN || from->w != to->w ||
	    from->splice_to != NULL || to->splice_from != NULL || from->connecting ||
	    to->connecting)
		return -EINVAL;
	/* splice(2) waits on a blocking socket whatever its flags say: make both
	 * non-blocking (io_uring's own operations on them poll as before). */
	if (set_nonblocking(from->fd) != 0 || set_nonblocking(to->fd) != 0)
		return -errno;
	from->splice_to = to;
	to->splice_from = from;
	if (from->recv_armed) {
		/* The multishot recv ends first (its last bytes still go to on_data). */
		from->splice_start = true;
		submit_cancel(from->w, tag(from, OP_RECV));
		return 0;
	}
	splice_pump(from);
	return 0;
}

bool conn_spliced(const struct conn *c)
{
	return c->splice_to != NULL;
}

static void conn_opened(struct conn *c)
{
	if (c->ops->on_open != NULL && c->ops->on_open(c) != 0) {
		conn_die(c, CONN_END_CLOSED, 0);
		return;
	}
	c->opened = true;
	conn_arm_recv(c);
	conn_flush(c);
}

static void on_accept(struct worker *w, struct udp_sock *s, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		s->armed = false;
		if (w->draining) {
			close(s->fd);
			s->closed = true;
		} else {
			w->need_rearm_accept = true;
		}
	}
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED)
			log_warn("accept failed", "worker=%u error=\"%s\"", w->id,
				 airdress_strerror(cqe->res));
		return;
	}
	int fd = cqe->res;
	struct conn *c = w->draining ? NULL : conn_new(w, fd, s->l->tcp_ops, s->l->ctx);
	if (c == NULL) {
		close(fd);
		STAT_ADD(w, accept_rejected, 1);
		return;
	}
	STAT_ADD(w, accepted, 1);
	if (s->l->local_known && s->l->addrlen <= sizeof(c->local)) {
		memcpy(&c->local, &s->l->addr, s->l->addrlen);
		c->locallen = s->l->addrlen;
	}
	conn_opened(c);
}

static void on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = false;
		c->inflight--;
	}
	if (res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		STAT_ADD(w, bytes_in, (uint64_t)res);
		if (c->state == CONN_OPEN) {
			c->last_rx_ms = w->now_ms;
			c->ops->on_data(c, w->bufs + (size_t)bid * w->loop->cfg.buf_size, (size_t)res);
		}
		buf_return(w, bid);
	} else if (res == 0) {
		c->peer_eof = true;
		if (c->state == CONN_OPEN) {
			if (c->ops->on_eof != NULL)
				c->ops->on_eof(c);
			else
				conn_close(c);
		}
	} else if (res == -ENOBUFS) {
		STAT_ADD(w, enobufs, 1);
	} else if (res != -ECANCELED) {
		conn_die(c, CONN_END_PEER, res);
	}
	/* A multishot recv ends on ENOBUFS, on a cancel (pause, maybe resumed since)
	 * and sometimes with data: read on unless the peer is done or we stopped. */
	if (c->splice_start && !c->recv_armed && c->state == CONN_OPEN)
		splice_begin(c);
	else if (res != 0)
		conn_arm_recv(c);
	if (c->state == CONN_DEAD)
		conn_settle_later(c);
}

static void on_send(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	c->send_inflight = false;
	c->send_cancelled = false;
	c->inflight--;
	int res = cqe->res;
	if (res < 0) {
		if (c->state != CONN_DEAD)
			conn_die(c, res == -ECANCELED ? CONN_END_SEND_TIMEOUT : CONN_END_PEER, res);
		conn_settle_later(c);
		return;
	}
	STAT_ADD(w, bytes_out, (uint64_t)res);
	struct chunk *ch = c->out_head;
	ch->off += (uint32_t)res;
	c->pending -= (size_t)res;
	if (ch->off == ch->len) {
		c->out_head = ch->next;
		if (c->out_head == NULL)
			c->out_tail = NULL;
		pool_put(&w->chunks, ch);
	}
	if (c->state == CONN_DEAD) {
		conn_settle_later(c);
		return;
	}
	if (c->out_head == NULL && c->ops->on_drained != NULL && c->state == CONN_OPEN)
		c->ops->on_drained(c);
	if (c->out_head == NULL && c->splice_from != NULL && c->splice_from->splice_blocked)
		splice_pump(c->splice_from);
	conn_flush(c);
	if (c->state == CONN_DEAD)
		conn_settle_later(c);
}

static void on_connect(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	c->connecting = false;
	c->inflight--;
	if (c->state == CONN_DEAD) {
		conn_settle_later(c);
		return;
	}
	if (cqe->res < 0) {
		conn_die(c, CONN_END_CONNECT, cqe->res == -ECANCELED ? -ETIMEDOUT : cqe->res);
		return;
	}
	c->last_rx_ms = w->now_ms;
	conn_opened(c);
}

static void udp_flush(struct worker *w);

static void udp_arm(struct worker *w, struct udp_sock *s)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL)
		return;
	io_uring_prep_recvmsg_multishot(sqe, s->fd, &s->recv_hdr, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, tag(s, OP_UDP_RECV));
	s->armed = true;
}

static void on_udp_recv(struct worker *w, struct udp_sock *s, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (cqe->res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = w->bufs + (size_t)bid * w->loop->cfg.buf_size;
		struct io_uring_recvmsg_out *out =
			io_uring_recvmsg_validate(buf, cqe->res, &s->recv_hdr);
		if (out != NULL && !(out->flags & MSG_TRUNC) && !w->draining) {
			STAT_ADD(w, udp_in, 1);
			struct udp_packet pkt = {
				.worker = w,
				.sock = s,
				.from = io_uring_recvmsg_name(out),
				.fromlen = out->namelen,
				.data = io_uring_recvmsg_payload(out, &s->recv_hdr),
				.len = io_uring_recvmsg_payload_length(out, cqe->res, &s->recv_hdr),
				.ctx = s->l->ctx,
			};
			s->l->udp_ops->on_datagram(&pkt);
		}
		buf_return(w, bid);
	} else if (cqe->res == -ENOBUFS) {
		STAT_ADD(w, enobufs, 1);
	}
	if (!more) {
		s->armed = false;
		if (w->draining) {
			udp_flush(w); /* answers queued for it go out first */
			close(s->fd);
			s->closed = true;
		} else {
			udp_arm(w, s);
		}
	}
}

int udp_send(struct udp_sock *s, const struct sockaddr *to, socklen_t tolen,
	     const void *data, size_t len)
{
	struct worker *w = s->w;
	if (len > w->loop->cfg.buf_size || tolen > sizeof(struct sockaddr_storage))
		return AD_ETOOBIG;
	if (w->udp_npend == UDP_BATCH)
		udp_flush(w);
	struct udp_slot *slot = pool_get(&w->udp_slots);
	if (slot == NULL) {
		STAT_ADD(w, udp_dropped, 1);
		return AD_ENOSPACE;
	}
	memcpy(&slot->to, to, tolen);
	memcpy(slot->data, data, len);
	slot->s = s;
	slot->iov.iov_base = slot->data;
	slot->iov.iov_len = len;
	memset(&slot->hdr, 0, sizeof(slot->hdr));
	slot->hdr.msg_name = &slot->to;
	slot->hdr.msg_namelen = tolen;
	slot->hdr.msg_iov = &slot->iov;
	slot->hdr.msg_iovlen = 1;
	w->udp_pend[w->udp_npend++] = slot;
	return 0;
}

/* A datagram the socket would not take at once: io_uring sends it when there is room. */
static void udp_submit(struct worker *w, struct udp_slot *slot)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL) {
		pool_put(&w->udp_slots, slot);
		STAT_ADD(w, udp_dropped, 1);
		return;
	}
	io_uring_prep_sendmsg(sqe, slot->s->fd, &slot->hdr, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, tag(slot, OP_UDP_SEND));
	w->udp_inflight++;
}

/*
 * Send what udp_send queued since the last flush: one non-blocking sendmmsg per run
 * of datagrams from the same socket, straight from the worker. A burst of answers
 * then costs one kernel entry, with no submission and completion per datagram.
 * What a socket does not take now (EAGAIN: its send buffer is full) goes through
 * io_uring, which waits for room; a datagram the kernel refuses is dropped.
 */
static void udp_flush(struct worker *w)
{
	unsigned n = w->udp_npend;
	w->udp_npend = 0;
	for (unsigned i = 0; i < n;) {
		struct udp_sock *s = w->udp_pend[i]->s;
		unsigned end = i;
		for (; end < n && w->udp_pend[end]->s == s; end++)
			w->udp_mm[end].msg_hdr = w->udp_pend[end]->hdr;
		while (i < end) {
			int sent = sendmmsg(s->fd, &w->udp_mm[i], end - i, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (sent > 0) {
				for (unsigned k = i; k < i + (unsigned)sent; k++)
					pool_put(&w->udp_slots, w->udp_pend[k]);
				STAT_ADD(w, udp_out, (uint64_t)sent);
				i += (unsigned)sent;
			} else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
				for (; i < end; i++)
					udp_submit(w, w->udp_pend[i]);
			} else {
				pool_put(&w->udp_slots, w->udp_pend[i++]);
				STAT_ADD(w, udp_dropped, 1);
			}
		}
	}
}

static void on_udp_send(struct worker *w, struct udp_slot *slot, struct io_uring_cqe *cqe)
{
	w->udp_inflight--;
	if (cqe->res >= 0)
		STAT_ADD(w, udp_out, 1);
	else
		STAT_ADD(w, udp_dropped, 1);
	pool_put(&w->udp_slots, slot);
}

static void arm_msg(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL)
		return;
	io_uring_prep_read(sqe, w->mr.efd, &w->efd_val, sizeof(w->efd_val), 0);
	io_uring_sqe_set_data64(sqe, tag(w, OP_MSG));
}

static void begin_drain(struct worker *w);

static void on_msg(struct worker *w, struct io_uring_cqe *cqe)
{
	struct msg m;
	while (msgring_recv(&w->mr, &m)) {
		STAT_ADD(w, messages, 1);
		if (m.type == MSG_DRAIN)
			begin_drain(w);
		else if (m.type == MSG_BARRIER)
			__atomic_store_n(&w->barrier_ack, m.u64, __ATOMIC_RELEASE);
		else if (m.type >= MSG_USER && w->loop->hooks.on_message != NULL)
			w->loop->hooks.on_message(w, &m);
	}
	if (!w->stop)
		arm_msg(w);
}

static void dispatch(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	void *p = (void *)(uintptr_t)(ud & ~OP_MASK);
	switch ((enum op)(ud & OP_MASK)) {
	case OP_ACCEPT:
		on_accept(w, p, cqe);
		break;
	case OP_RECV:
		on_recv(w, p, cqe);
		break;
	case OP_SEND:
		on_send(w, p, cqe);
		break;
	case OP_CONNECT:
		on_connect(w, p, cqe);
		break;
	case OP_UDP_RECV:
		on_udp_recv(w, p, cqe);
		break;
	case OP_UDP_SEND:
		on_udp_send(w, p, cqe);
		break;
	case OP_POLL:
		on_poll(w, p, cqe);
		break;
	case OP_IGNORE: /* and OP_MSG */
		if (p != NULL)
			on_msg(w, cqe);
		break;
	}
}

/* ---- housekeeping ------------------------------------------------------- */

static void arm_accept(struct worker *w, struct udp_sock *s)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	if (sqe == NULL)
		return;
	io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, tag(s, OP_ACCEPT));
	s->armed = true;
}

static void begin_drain(struct worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	udp_flush(w); /* before any UDP socket is closed */
	w->drain_deadline_ms = w->now_ms + w->loop->cfg.drain_timeout_ms;
	for (unsigned i = 0; i < w->nsocks; i++) {
		struct udp_sock *s = &w->socks[i];
		if (s->armed) {
			submit_cancel(w, tag(s, s->l->udp ? OP_UDP_RECV : OP_ACCEPT));
		} else if (!s->closed) {
			close(s->fd);
			s->closed = true;
		}
	}
	if (w->loop->hooks.drain != NULL)
		w->loop->hooks.drain(w);
	for (struct conn *c = w->conn_list; c != NULL; c = c->next)
		if (c->state == CONN_OPEN && c->ops->on_drain != NULL)
			c->ops->on_drain(c);
	log_debug("worker draining", "worker=%u connections=%u", w->id, pool_in_use(&w->conns));
}

static void housekeeping(struct worker *w)
{
	if (w->need_rearm_accept && !w->draining) {
		w->need_rearm_accept = false;
		for (unsigned i = 0; i < w->nsocks; i++)
			if (!w->socks[i].l->udp && !w->socks[i].armed && !w->socks[i].closed)
				arm_accept(w, &w->socks[i]);
	}
	uint64_t send_timeout = w->loop->cfg.send_timeout_ms;
	for (struct conn *c = w->conn_list; c != NULL; c = c->next) {
		if (c->send_inflight && !c->send_cancelled && c->state != CONN_DEAD &&
		    w->now_ms - c->send_start_ms >= send_timeout) {
			/* The peer has not read for send_timeout: on_send sees -ECANCELED. */
			c->send_cancelled = true;
			submit_cancel(w, tag(c, OP_SEND));
		}
		if (c->state != CONN_OPEN || c->idle_ms == 0 || c->paused ||
		    w->now_ms - c->last_rx_ms < c->idle_ms)
			continue;
		STAT_ADD(w, timeouts, 1);
		c->last_rx_ms = w->now_ms;
		if (c->ops->on_timeout != NULL)
			c->ops->on_timeout(c);
		else
			conn_die(c, CONN_END_TIMEOUT, -ETIMEDOUT);
	}
	if (w->loop->hooks.tick != NULL)
		w->loop->hooks.tick(w);
	if (w->draining && !w->drain_aborted && w->now_ms >= w->drain_deadline_ms) {
		w->drain_aborted = true;
		unsigned left = 0;
		for (struct conn *c = w->conn_list; c != NULL; c = c->next, left++)
			conn_die(c, CONN_END_DRAIN, 0);
		if (left)
			log_warn("drain timeout, aborting connections", "worker=%u connections=%u",
				 w->id, left);
	}
	if (w->draining) {
		bool socks_done = true;
		for (unsigned i = 0; i < w->nsocks; i++)
			socks_done &= w->socks[i].closed;
		if (socks_done && w->conn_list == NULL && w->udp_inflight == 0)
			w->stop = true;
		/* Hard stop: never hang on an operation the kernel does not finish. */
		if (w->now_ms >= w->drain_deadline_ms + 2000)
			w->stop = true;
	}
}

/*
 * Submit and wait for completions, at most one tick. With batch_wait_us set (and a
 * kernel that has minimum waits), a wait that starts less than batch_wait_us after the
 * previous pass lasts until batch_wait_us have passed or BATCH_WAIT_NR completions are
 * in, whichever is first, and then ends at the first completion as usual. A busy
 * worker so handles its completions in batches and sleeps and wakes less often; an
 * idle worker, whose wait outlasts batch_wait_us, still wakes at the first completion.
 * The cost is latency: up to batch_wait_us on a completion that arrives early.
 */
static int ring_wait(struct worker *w, struct __kernel_timespec *ts)
{
	unsigned hold = w->loop->cfg.batch_wait_us;
	if (hold == 0 || !w->min_wait) {
		struct io_uring_cqe *cqe;
		return io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, ts, NULL);
	}
	if (io_uring_sq_ready(&w->ring) > 0) {
		int ret = io_uring_submit(&w->ring);
		if (ret < 0)
			return ret;
	}
	/* liburing 2.3 calls the minimum wait "pad". */
	struct io_uring_getevents_arg arg = {
		.sigmask_sz = _NSIG / 8,
		.pad = hold,
		.ts = (uint64_t)(uintptr_t)ts,
	};
	return io_uring_enter2((unsigned)w->ring.ring_fd, 0, BATCH_WAIT_NR,
			       IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
			       (sigset_t *)&arg, sizeof(arg));
}

static void worker_run(struct worker *w)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000LL };
	while (!w->stop) {
		struct io_uring_cqe *cqe;
		int ret = ring_wait(w, &ts);
		w->now_ms = clock_ms();
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_error("io_uring wait failed", "worker=%u error=\"%s\"", w->id,
				  airdress_strerror(ret));
			break;
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			dispatch(w, cqe);
			seen++;
		}
		io_uring_cq_advance(&w->ring, seen);
		udp_flush(w);
		buf_flush(w);
		flush_all(w);
		settle_all(w);
		if (w->now_ms - w->last_tick_ms >= TICK_MS || w->draining) {
			w->last_tick_ms = w->now_ms;
			housekeeping(w);
			udp_flush(w);
			flush_all(w);
			settle_all(w);
		}
	}
}

/* ---- worker lifecycle --------------------------------------------------- */

static int ring_setup(struct worker *w)
{
	static const struct {
		unsigned flags;
		const char *what;
	} tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, NULL },
		{ IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ 0, "COOP_TASKRUN" },
	};
	int ret = -EINVAL;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p = { .flags = tries[i].flags };
		ret = io_uring_queue_init_params(w->loop->cfg.ring_entries, &w->ring, &p);
		if (ret == 0) {
			if (tries[i].what != NULL && w->id == 0)
				log_warn("io_uring flags unsupported by this kernel, running without",
					 "flags=%s", tries[i].what);
			w->ring_ready = true;
			w->min_wait = (p.features & IORING_FEAT_MIN_TIMEOUT) != 0 &&
				      (tries[i].flags & IORING_SETUP_DEFER_TASKRUN) != 0;
			if (!w->min_wait && w->loop->cfg.batch_wait_us > 0 && w->id == 0)
				log_warn("kernel has no io_uring minimum wait, batch_wait is off",
					 "batch_wait_us=%u", w->loop->cfg.batch_wait_us);
			return 0;
		}
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static int worker_setup(struct worker *w)
{
	const struct loop_config *cfg = &w->loop->cfg;
	int ret;
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	if ((ret = ring_setup(w)) != 0)
		return ret;
	if ((ret = buf_ring_setup(w)) != 0)
		return ret;
	if ((ret = pool_init(&w->conns, sizeof(struct conn) + cfg->conn_user_size, cfg->max_conns)))
		return ret;
	if ((ret = pool_init(&w->chunks, sizeof(struct chunk) + cfg->chunk_size, cfg->chunk_count)))
		return ret;
	if ((ret = pool_init(&w->udp_slots, sizeof(struct udp_slot) + cfg->buf_size, 1024)))
		return ret;
	if ((ret = arena_init(&w->arena, cfg->arena_size)))
		return ret;
	w->now_ms = w->last_tick_ms = clock_ms();
	struct loop *l = w->loop;
	for (unsigned i = 0; i < l->nlisteners; i++) {
		struct udp_sock *s = &w->socks[i];
		s->w = w;
		s->l = &l->listeners[i];
		s->fd = s->l->fds[w->id];
		s->l->fds[w->id] = -1; /* the worker owns it now */
		s->recv_hdr.msg_namelen = sizeof(struct sockaddr_storage);
	}
	w->nsocks = l->nlisteners;
	if (l->hooks.worker_start != NULL && (ret = l->hooks.worker_start(w)) != 0)
		return ret;
	for (unsigned i = 0; i < w->nsocks; i++) {
		if (w->socks[i].l->udp)
			udp_arm(w, &w->socks[i]);
		else
			arm_accept(w, &w->socks[i]);
	}
	arm_msg(w);
	return 0;
}

static void worker_teardown(struct worker *w)
{
	while (w->conn_list != NULL) {
		/* Only after a hard stop: the ring goes away with whatever is in flight. */
		struct conn *c = w->conn_list;
		c->inflight = 0;
		c->on_flush_list = false;
		if (c->state != CONN_DEAD) {
			c->state = CONN_DEAD;
			c->why = CONN_END_DRAIN;
		}
		conn_settle(c);
	}
	for (unsigned i = 0; i < w->nsocks; i++)
		if (!w->socks[i].closed)
			close(w->socks[i].fd);
	if (w->ring_ready) {
		io_uring_submit(&w->ring); /* the closes conn_settle() queued */
		io_uring_queue_exit(&w->ring);
	}
	w->ring_ready = false;
	if (w->br != NULL)
		munmap(w->br, w->br_len);
	if (w->bufs != NULL)
		munmap(w->bufs, w->bufs_len);
	w->br = NULL;
	w->bufs = NULL;
	while (w->pipes != NULL) {
		struct loop_pipe *pp = w->pipes;
		w->pipes = pp->next;
		close(pp->r);
		close(pp->w);
		free(pp);
	}
	pool_deinit(&w->conns);
	pool_deinit(&w->chunks);
	pool_deinit(&w->udp_slots);
	arena_deinit(&w->arena);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop *l = w->loop;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	char name[16];
	snprintf(name, sizeof(name), "worker-%u", w->id);
	pthread_setname_np(pthread_self(), name);

	w->start_err = worker_setup(w);
	pthread_mutex_lock(&l->start_lock);
	l->started_count++;
	pthread_cond_broadcast(&l->start_cond);
	pthread_mutex_unlock(&l->start_lock);

	if (w->start_err == 0) {
		worker_run(w);
		if (l->hooks.worker_stop != NULL)
			l->hooks.worker_stop(w);
	}
	worker_teardown(w);
	__atomic_store_n(&w->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- the loop ----------------------------------------------------------- */

void loop_config_defaults(struct loop_config *cfg)
{
	if (cfg->max_conns == 0)
		cfg->max_conns = 16384;
	if (cfg->buf_count == 0)
		cfg->buf_count = 1024;
	if (cfg->buf_size == 0)
		cfg->buf_size = 4096;
	if (cfg->chunk_size == 0)
		cfg->chunk_size = 16384;
	if (cfg->chunk_count == 0)
		cfg->chunk_count = 4096;
	if (cfg->arena_size == 0)
		cfg->arena_size = 1 << 20;
	if (cfg->drain_timeout_ms == 0)
		cfg->drain_timeout_ms = 5000;
	if (cfg->send_timeout_ms == 0)
		cfg->send_timeout_ms = 30000;
	if (cfg->ring_entries == 0)
		cfg->ring_entries = 1024;
}

/* The CPUs this process may run on, in order; returns how many. */
static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}

unsigned loop_default_workers(void)
{
	int cpus[CPU_SETSIZE];
	unsigned n = allowed_cpus(cpus, CPU_SETSIZE);
	return n ? n : 1;
}

struct loop *loop_create(const struct loop_config *cfg, const struct loop_hooks *hooks,
			 void *app, int *err)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	l->cfg = *cfg;
	loop_config_defaults(&l->cfg);
	if (hooks != NULL)
		l->hooks = *hooks;
	l->app = app;
	if ((l->cfg.buf_count & (l->cfg.buf_count - 1)) != 0 || l->cfg.buf_count > 32768) {
		free(l);
		*err = -EINVAL;
		return NULL;
	}
	int cpus[CPU_SETSIZE];
	unsigned ncpu = allowed_cpus(cpus, CPU_SETSIZE);
	l->nworkers = l->cfg.workers ? l->cfg.workers : (ncpu ? ncpu : 1);
	l->workers = aligned_alloc(64, sizeof(struct worker) * l->nworkers);
	if (l->workers == NULL) {
		free(l);
		*err = -ENOMEM;
		return NULL;
	}
	memset(l->workers, 0, sizeof(struct worker) * l->nworkers);
	pthread_mutex_init(&l->start_lock, NULL);
	pthread_cond_init(&l->start_cond, NULL);
	for (unsigned i = 0; i < l->nworkers; i++) {
		struct worker *w = &l->workers[i];
		w->loop = l;
		w->id = i;
		w->cpu = (l->cfg.pin && ncpu) ? cpus[i % ncpu] : -1;
		w->mr.efd = -1;
		int ret = msgring_init(&w->mr, 1024);
		if (ret != 0) {
			*err = ret;
			loop_destroy(l);
			return NULL;
		}
	}
	return l;
}

static int bind_socket(const struct sockaddr *addr, socklen_t len, bool udp, bool nodelay)
{
	int fd = socket(addr->sa_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY: one system call less per connection. */
	if (nodelay && !udp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, addr, len) != 0)
		goto fail;
	if (!udp && listen(fd, 4096) != 0)
		goto fail;
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

static int add_listener(struct loop *l, const struct sockaddr *addr, socklen_t len, bool udp,
			const struct conn_ops *tops, const struct udp_ops *uops, void *ctx)
{
	if (l->started)
		return -EBUSY;
	if (l->nlisteners == MAX_LISTENERS)
		return AD_ENOSPACE;
	if (len > sizeof(struct sockaddr_storage) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	struct listener *ls = &l->listeners[l->nlisteners];
	memset(ls, 0, sizeof(*ls));
	ls->fds = malloc(sizeof(int) * l->nworkers);
	if (ls->fds == NULL)
		return -ENOMEM;
	memcpy(&ls->addr, addr, len);
	ls->addrlen = len;
	ls->udp = udp;
	ls->tcp_ops = tops;
	ls->udp_ops = uops;
	ls->ctx = ctx;
	for (unsigned i = 0; i < l->nworkers; i++)
		ls->fds[i] = -1;
	int ret = 0;
	for (unsigned i = 0; i < l->nworkers; i++) {
		int fd = bind_socket((struct sockaddr *)&ls->addr, ls->addrlen, udp, l->cfg.tcp_nodelay);
		if (fd < 0) {
			ret = fd;
			break;
		}
		ls->fds[i] = fd;
		if (i == 0) {
			/* Port 0: every worker binds the port the first one got. */
			struct sockaddr_storage got;
			socklen_t glen = sizeof(got);
			getsockname(fd, (struct sockaddr *)&got, &glen);
			uint16_t port = got.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&got)->sin6_port
						: ((struct sockaddr_in *)&got)->sin_port;
			if (ls->addr.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&ls->addr)->sin6_port = port;
			else
				((struct sockaddr_in *)&ls->addr)->sin_port = port;
			ls->port = ntohs(port);
		}
	}
	/* A listener on one address knows the local address of what it accepts. */
	ls->local_known = addr->sa_family == AF_INET
				  ? ((const struct sockaddr_in *)addr)->sin_addr.s_addr != htonl(INADDR_ANY)
				  : !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
	if (ret != 0) {
		for (unsigned i = 0; i < l->nworkers; i++)
			if (ls->fds[i] >= 0)
				close(ls->fds[i]);
		free(ls->fds);
		ls->fds = NULL;
		return ret;
	}
	return (int)l->nlisteners++;
}

int loop_add_tcp(struct loop *l, const struct sockaddr *addr, socklen_t len,
		 const struct conn_ops *ops, void *ctx)
{
	return add_listener(l, addr, len, false, ops, NULL, ctx);
}

int loop_add_udp(struct loop *l, const struct sockaddr *addr, socklen_t len,
		 const struct udp_ops *ops, void *ctx)
{
	return add_listener(l, addr, len, true, NULL, ops, ctx);
}

uint16_t loop_listener_port(const struct loop *l, int idx)
{
	if (idx < 0 || (unsigned)idx >= l->nlisteners)
		return 0;
	return l->listeners[idx].port;
}

int loop_start(struct loop *l)
{
	if (l->started)
		return -EBUSY;
	l->started = true;
	unsigned created = 0;
	int ret = 0;
	for (; created < l->nworkers; created++) {
		ret = -pthread_create(&l->workers[created].thread, NULL, worker_main,
				      &l->workers[created]);
		if (ret != 0)
			break;
	}
	pthread_mutex_lock(&l->start_lock);
	while (l->started_count < created)
		pthread_cond_wait(&l->start_cond, &l->start_lock);
	pthread_mutex_unlock(&l->start_lock);
	for (unsigned i = 0; i < created && ret == 0; i++)
		ret = l->workers[i].start_err;
	if (ret != 0) {
		for (unsigned i = 0; i < created; i++) {
			struct msg m = { .type = MSG_DRAIN };
			msgring_send(&l->workers[i].mr, &m);
		}
		for (unsigned i = 0; i < created; i++)
			pthread_join(l->workers[i].thread, NULL);
		l->joined = true;
		return ret;
	}
	return 0;
}

void loop_drain(struct loop *l)
{
	if (__atomic_exchange_n(&l->drained, 1, __ATOMIC_ACQ_REL))
		return;
	struct msg m = { .type = MSG_DRAIN };
	for (unsigned i = 0; i < l->nworkers; i++) {
		/* A full ring must not lose the drain: retry until it fits. */
		for (int tries = 0; msgring_send(&l->workers[i].mr, &m) != 0 && tries < 1000; tries++)
			usleep(1000);
	}
}

void loop_join(struct loop *l)
{
	if (!l->started || l->joined)
		return;
	for (unsigned i = 0; i < l->nworkers; i++)
		pthread_join(l->workers[i].thread, NULL);
	l->joined = true;
}

void loop_destroy(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->started && !l->joined) {
		loop_drain(l);
		loop_join(l);
	}
	for (unsigned i = 0; i < l->nlisteners; i++) {
		for (unsigned j = 0; j < l->nworkers && l->listeners[i].fds; j++)
			if (l->listeners[i].fds[j] >= 0)
				close(l->listeners[i].fds[j]);
		free(l->listeners[i].fds);
	}
	for (unsigned i = 0; i < l->nworkers; i++)
		msgring_deinit(&l->workers[i].mr);
	pthread_mutex_destroy(&l->start_lock);
	pthread_cond_destroy(&l->start_cond);
	free(l->workers);
	free(l);
}

unsigned loop_workers(const struct loop *l)
{
	return l->nworkers;
}

void *loop_app(const struct loop *l)
{
	return l->app;
}

int loop_send(struct loop *l, unsigned worker, const struct msg *m)
{
	if (worker >= l->nworkers)
		return -EINVAL;
	return msgring_send(&l->workers[worker].mr, m);
}

int loop_broadcast(struct loop *l, const struct msg *m)
{
	int first = 0;
	for (unsigned i = 0; i < l->nworkers; i++) {
		int ret = msgring_send(&l->workers[i].mr, m);
		if (ret != 0 && first == 0)
			first = ret;
	}
	return first;
}

int loop_barrier(struct loop *l, uint64_t timeout_ms)
{
	if (!l->started || l->joined)
		return 0;
	uint64_t gen = __atomic_add_fetch(&l->barrier_gen, 1, __ATOMIC_ACQ_REL);
	struct msg m = { .type = MSG_BARRIER, .u64 = gen };
	uint64_t deadline = clock_ms() + timeout_ms;
	bool *sent = calloc(l->nworkers, sizeof(bool));
	if (sent == NULL)
		return -ENOMEM;
	int ret = -ETIMEDOUT;
	while (clock_ms() < deadline) {
		unsigned done = 0;
		for (unsigned i = 0; i < l->nworkers; i++) {
			struct worker *w = &l->workers[i];
			if (!sent[i])
				sent[i] = msgring_send(&w->mr, &m) == 0;
			/* A worker that has exited holds nothing either. */
			if (__atomic_load_n(&w->barrier_ack, __ATOMIC_ACQUIRE) >= gen ||
			    __atomic_load_n(&w->exited, __ATOMIC_ACQUIRE))
				done++;
		}
		if (done == l->nworkers) {
			ret = 0;
			break;
		}
		usleep(1000);
	}
	free(sent);
	return ret;
}

void loop_stats(const struct loop *l, struct loop_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < l->nworkers; i++) {
		const uint64_t *src = (const uint64_t *)&l->workers[i].stats;
		uint64_t *dst = (uint64_t *)out;
		for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
}

unsigned worker_id(const struct worker *w)
{
	return w->id;
}

struct loop *worker_loop(const struct worker *w)
{
	return w->loop;
}

struct arena *worker_arena(struct worker *w)
{
	return &w->arena;
}

uint64_t worker_now_ms(const struct worker *w)
{
	return w->now_ms;
}

bool worker_draining(const struct worker *w)
{
	return w->draining;
}

void worker_set_data(struct worker *w, void *data)
{
	w->data = data;
}

void *worker_data(const struct worker *w)
{
	return w->data;
}

const struct loop_stats *worker_stats(const struct worker *w)
{
	return &w->stats;
}
