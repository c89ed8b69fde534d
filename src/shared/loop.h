/*
 * Loop: the per-core runtime every daemon runs on.
 *
 * One worker thread per core, pinned, each owning one io_uring, its own SO_REUSEPORT
 * sockets for every listen address, its own provided-buffer ring, connection pool,
 * arena, counters and message ring. Nothing on the data path is shared between
 * workers and nothing takes a lock.
 *
 * A daemon describes its listeners (TCP with conn_ops, UDP with udp_ops) and its
 * hooks, then starts the loop. Callbacks run on the worker that owns the socket.
 *
 * Connection states (struct conn):
 *   OPEN      reading (multishot recv over the buffer ring) and writing
 *   PAUSED    reading stopped by conn_pause() (backpressure); writing goes on
 *   SPLICED   conn_splice(): received bytes go to another conn inside the kernel
 *   CLOSING   conn_close(): queued output is flushed, then the socket is closed
 *   DEAD      conn_abort() or an error: waiting for in-flight operations to end,
 *             then on_close() runs and the object returns to the pool
 * At most one send is in flight per socket; output waits in a chain of fixed-size
 * chunks from the worker's chunk pool, so an idle connection holds no buffer. What
 * callbacks queue with conn_send goes out at the end of the loop iteration, in as
 * few sends as the chunks allow.
 *
 * Shutdown: loop_drain() closes every listener, tells the daemon (hooks.drain) so it
 * can finish idle connections, waits until all connections are gone or drain_timeout
 * has passed, then aborts what is left; the worker threads exit and loop_join()
 * returns.
 */
#ifndef AIRDRESS_LOOP_H
#define AIRDRESS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "arena.h"
#include "msgring.h"

struct loop;
struct worker;
struct conn;
struct udp_sock;

/* Message types reserved by the runtime; daemons number theirs from MSG_USER. */
enum {
	MSG_DRAIN = 1,   /* stop accepting, finish connections */
	MSG_BARRIER = 2, /* acknowledge: see loop_barrier() */
	MSG_USER = 16,
};

struct loop_config {
	unsigned workers;          /* 0 = one per online CPU */
	bool pin;                  /* pin worker i to the i-th allowed CPU */
	unsigned max_conns;        /* per worker; default 16384 */
	unsigned buf_count;        /* provided receive buffers per worker (power of 2); default 1024 */
	unsigned buf_size;         /* bytes per receive buffer; default 4096 */
	unsigned chunk_size;       /* bytes per output chunk; default 16384 */
	unsigned chunk_count;      /* output chunks per worker; default 4096 */
	size_t arena_size;         /* per-worker arena; default 1 MiB */
	size_t conn_user_size;     /* bytes of daemon state in each conn; see conn_data() */
	uint64_t drain_timeout_ms; /* default 5000 */
	uint64_t send_timeout_ms;  /* a send that cannot complete in this time aborts the
	                              connection (slow reader); default 30000 */
	unsigned ring_entries;     /* SQ size; default 1024 */
	bool tcp_nodelay;          /* TCP_NODELAY on accepted and connected sockets */
	unsigned batch_wait_us;    /* a busy worker gathers completions this long before it
	                              handles them (Linux 6.12+); 0 = handle each at once */
};

/* Why a connection ended, passed to on_close(). */
enum conn_end {
	CONN_END_CLOSED = 0,  /* conn_close()/conn_abort() by the daemon */
	CONN_END_PEER,        /* the peer closed both ways or reset */
	CONN_END_TIMEOUT,     /* idle timeout with no on_timeout handler */
	CONN_END_SEND_TIMEOUT,/* the peer did not read within send_timeout */
	CONN_END_ERROR,       /* socket error */
	CONN_END_CONNECT,     /* outbound connect failed or timed out */
	CONN_END_DRAIN,       /* aborted when drain_timeout ran out */
};

/*
 * Callbacks of a TCP listener (or of an outbound connection). All are optional but
 * on_data. They run on the owning worker; the conn stays valid until on_close
 * returns. A callback may call conn_close()/conn_abort() on its own conn.
 */
struct conn_ops {
	/* Accepted (or connected). Return 0 to keep the connection, anything else
	 * closes it without further callbacks but on_close. */
	int (*on_open)(struct conn *c);
	/* Bytes arrived. data is valid only during the call: copy what you keep. */
	void (*on_data)(struct conn *c, const uint8_t *data, size_t len);
	/* The peer shut down its side (read returned 0). Default: conn_close(). */
	void (*on_eof)(struct conn *c);
	/* Every queued byte has been sent. */
	void (*on_drained)(struct conn *c);
	/* The idle timeout passed. Default: abort with CONN_END_TIMEOUT. */
	void (*on_timeout)(struct conn *c);
	/* The worker is draining: close idle connections now. */
	void (*on_drain)(struct conn *c);
	/* Last call; release daemon state. err is 0 or -errno of the failure. */
	void (*on_close)(struct conn *c, enum conn_end why, int err);
	/* Splice mode (conn_splice): len bytes received were passed on in the kernel. */
	void (*on_spliced)(struct conn *c, size_t len);
};

/* One datagram, as passed to udp_ops.on_datagram. Valid only during the call. */
struct udp_packet {
	struct worker *worker;
	struct udp_sock *sock;
	const struct sockaddr *from;
	socklen_t fromlen;
	const uint8_t *data;
	size_t len;
	void *ctx;                 /* the listener's ctx */
};

struct udp_ops {
	void (*on_datagram)(const struct udp_packet *pkt);
};

/* Per-worker hooks of the daemon; all optional. */
struct loop_hooks {
	/* In the worker thread before it serves. Return non-zero to fail loop_start. */
	int (*worker_start)(struct worker *w);
	/* In the worker thread after it served its last connection. */
	void (*worker_stop)(struct worker *w);
	/* A message of type >= MSG_USER arrived for this worker. */
	void (*on_message)(struct worker *w, const struct msg *m);
	/* At least every 100 ms: timers, epoch quiescent points, heartbeats. */
	void (*tick)(struct worker *w);
	/* The worker starts draining (after its listeners are closed). */
	void (*drain)(struct worker *w);
};

/* Counters of one worker; summed by loop_stats(). */
struct loop_stats {
	uint64_t accepted;
	uint64_t accept_rejected;  /* connection pool full or draining */
	uint64_t closed;
	uint64_t active;           /* gauge: open connections */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t udp_in;
	uint64_t udp_out;
	uint64_t udp_dropped;      /* no send slot free */
	uint64_t enobufs;          /* receive buffer ring ran dry */
	uint64_t timeouts;
	uint64_t messages;
};

/* The number of workers `workers: 0` means: the CPUs this process may run on. */
unsigned loop_default_workers(void);

/* Fill in defaults for every zero field of cfg. */
void loop_config_defaults(struct loop_config *cfg);

/* Create a loop (not started). cfg is copied. Returns NULL and sets *err. */
struct loop *loop_create(const struct loop_config *cfg, const struct loop_hooks *hooks,
			 void *app, int *err);
/* Stop (if running), join and free everything. NULL-safe. */
void loop_destroy(struct loop *l);

/* Add a listener before loop_start: one SO_REUSEPORT socket per worker, bound now,
 * so that a busy address fails here. Port 0 picks one free port for all workers.
 * Returns the listener index (>= 0) or -errno. */
int loop_add_tcp(struct loop *l, const struct sockaddr *addr, socklen_t len,
		 const struct conn_ops *ops, void *ctx);
int loop_add_udp(struct loop *l, const struct sockaddr *addr, socklen_t len,
		 const struct udp_ops *ops, void *ctx);
/* The port listener idx is bound to (host order). */
uint16_t loop_listener_port(const struct loop *l, int idx);

/* Start the workers; returns once every worker runs or one failed (then -errno or
 * the worker_start hook's code, and no worker is left running). */
int loop_start(struct loop *l);
/* Begin draining on every worker. Safe from any thread and from signal-handling
 * threads; idempotent. */
void loop_drain(struct loop *l);
/* Wait for every worker to exit. */
void loop_join(struct loop *l);

unsigned loop_workers(const struct loop *l);
void *loop_app(const struct loop *l);
/* Send a message to worker i / to every worker. Returns 0 or AD_ENOSPACE (for
 * broadcast: the first failure; other workers got it). */
int loop_send(struct loop *l, unsigned worker, const struct msg *m);
int loop_broadcast(struct loop *l, const struct msg *m);
/* Wait until every worker has drained its message ring past this call: after it,
 * no worker still runs a callback that began before it, so data unpublished before
 * the call (an old config, a replaced table) can be freed. Bounded by timeout_ms;
 * returns 0, or -ETIMEDOUT when a worker did not answer (then free nothing).
 * Returns 0 at once when the loop is not running. Not from a worker thread. */
int loop_barrier(struct loop *l, uint64_t timeout_ms);
/* Sum of every worker's counters (relaxed reads; exact once workers are idle). */
void loop_stats(const struct loop *l, struct loop_stats *out);

/* Worker accessors, for callbacks. */
unsigned worker_id(const struct worker *w);
struct loop *worker_loop(const struct worker *w);
struct arena *worker_arena(struct worker *w);
/* Monotonic milliseconds, refreshed once per loop iteration. */
uint64_t worker_now_ms(const struct worker *w);
bool worker_draining(const struct worker *w);
/* Per-worker daemon state: set in worker_start, read anywhere on that worker. */
void worker_set_data(struct worker *w, void *data);
void *worker_data(const struct worker *w);
const struct loop_stats *worker_stats(const struct worker *w);

/* Connections. */
void *conn_data(struct conn *c);            /* conn_user_size bytes, zeroed at open */
struct worker *conn_worker(const struct conn *c);
void *conn_ctx(const struct conn *c);        /* the listener's (or connect's) ctx */
const struct sockaddr *conn_peer(const struct conn *c, socklen_t *len);
/* The local address of a TCP connection over IPv4 or IPv6 (other families: an
 * all-zero AF_UNSPEC address). */
const struct sockaddr *conn_local(const struct conn *c, socklen_t *len);
int conn_fd(const struct conn *c);
/* Queue len bytes for sending (copied). Returns 0, or AD_ENOSPACE when the worker's
 * chunk pool is exhausted (nothing queued), or -EPIPE after close/abort/shutdown. */
int conn_send(struct conn *c, const void *data, size_t len);
/* Bytes queued and not yet sent. */
size_t conn_pending(const struct conn *c);
/* Stop / restart reading (backpressure). Data already received may still be
 * delivered once after conn_pause. */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Idle timeout: on_timeout runs when nothing was received for ms (0 = none). */
void conn_set_timeout(struct conn *c, uint64_t ms);
/* After the queued output is sent, shut down the write side (half-close). */
void conn_shutdown_write(struct conn *c);
/* Graceful: stop reading, flush queued output, close. */
void conn_close(struct conn *c);
/* conn_close for a connection whose peer has finished sending (its EOF was read) and
 * needs nothing more: once the output is sent, if the peer has acknowledged every
 * byte, the socket closes with a reset instead of a FIN. The peer has all the data
 * either way (bytes it acknowledged stay readable before the reset's error); it keeps
 * no TIME_WAIT and no last ACK crosses the network. Otherwise, or before the peer's
 * EOF, this is conn_close. */
void conn_close_finished(struct conn *c);
/* Immediate: drop queued output and close (RST if unread data remains). */
void conn_abort(struct conn *c);

/* Splice mode: from now on what `from` receives goes to `to` inside the kernel
 * (splice(2) through a pipe), never through on_data; on_spliced reports it. Reading
 * waits while `to` cannot take more; bytes queued on `to` with conn_send go out first.
 * EOF on `from` calls its on_eof as before (pass the half-close on with
 * conn_shutdown_write(to)); errors end the connection they happen on. Both conns
 * must be open, connected and of the same worker. Returns 0 or -EINVAL. The other direction is
 * independent: call conn_splice(to, from) for it. */
int conn_splice(struct conn *from, struct conn *to);
/* true once conn_splice(c, ...) was called. */
bool conn_spliced(const struct conn *c);

/* Flags of conn_connect. */
enum {
	/* The caller sends as soon as the connection is up (bytes queued with conn_send
	 * before returning to the loop, or sent from on_open). The last ACK of the TCP
	 * handshake then waits for those bytes and leaves in the same segment: one
	 * segment less per connection, and the peer's accept finds the data already
	 * there. Only for protocols where this side speaks first: if nothing is sent,
	 * the peer sees the ACK only when the delayed-ACK timer fires (up to 200 ms). */
	CONN_SENDS_FIRST = 1u << 0,
};

/* Open an outbound TCP connection (or, for an AF_UNIX addr, a unix stream socket
 * connection) from worker w with a linked timeout on the connect. on_open runs when
 * connected; on failure on_close(CONN_END_CONNECT, -errno). flags: CONN_SENDS_FIRST
 * or 0. Returns the conn (usable at once: conn_data, conn_send queues until connected)
 * or NULL with *err set. */
struct conn *conn_connect(struct worker *w, const struct sockaddr *addr, socklen_t len,
			  const struct conn_ops *ops, void *ctx, uint64_t timeout_ms,
			  unsigned flags, int *err);

/* Send one datagram from socket s (copied into a send slot). The datagrams of one
 * loop iteration leave together at its end, one sendmmsg per socket; what the socket
 * cannot take at once is sent through io_uring when there is room. Returns 0,
 * AD_ENOSPACE (no slot free: dropped and counted) or AD_ETOOBIG (len over buf_size). */
int udp_send(struct udp_sock *s, const struct sockaddr *to, socklen_t tolen,
	     const void *data, size_t len);

#endif
