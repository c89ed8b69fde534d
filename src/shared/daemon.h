/*
 * Daemon: what every Airdress binary does around its own work, done once.
 *
 *   -c FILE   configuration (YAML, see config.h)   -t   check it and exit 0/1
 *   -V        version                              -h   help
 *
 * Runs in the foreground and logs to stderr. Startup: load the config, call the
 * daemon's setup (which builds the runtime with daemon_runtime_create() and adds its
 * listeners and admin routes), start the workers and the admin endpoint, then wait
 * for signals on the main thread:
 *   SIGHUP    load the file again into a fresh config; keys that cannot change
 *             without a restart keep their running value (logged); the daemon's
 *             reload applies the rest; the new config is published and the old one
 *             freed once every worker has passed a quiescent point (loop_barrier).
 *             A broken file is logged and changes nothing.
 *   SIGTERM   /healthz turns 503 "draining", listeners close, connections finish
 *   SIGINT    within drain_timeout, the daemon's teardown runs, exit 0.
 */
#ifndef AIRDRESS_DAEMON_H
#define AIRDRESS_DAEMON_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "loop.h"
#include "metrics.h"

struct admin;
struct daemon;

struct daemon_spec {
	const char *name;           /* "airdress-dns": in -V, -h and logs */
	const char *summary;        /* one line for -h */
	const struct cfg_schema *schema;
	const char *default_config; /* used without -c; NULL: -c is required */
	/* Metrics of the daemon (may be none); the runtime adds its own. */
	const struct metrics_desc *metrics;
	unsigned nmetrics;
	/* Worker hooks of the daemon; the runtime adds heartbeats. May be NULL. */
	const struct loop_hooks *hooks;
	/* Build the daemon from daemon_config(d): call daemon_runtime_create() once,
	 * add listeners and admin routes. Runs before any worker starts. Returns 0 or
	 * an error (logged by the callee), which makes the process exit 1. */
	int (*setup)(struct daemon *d);
	/* Optional: apply fresh (already checked and merged) over the running config.
	 * Returns 0 to publish fresh, anything else to keep the running config. */
	int (*reload)(struct daemon *d, const void *fresh);
	/* Optional: after the workers have stopped; free the daemon's state. */
	void (*teardown)(struct daemon *d);
	/* Optional: called on the main thread (the control thread, which also runs
	 * setup, reload and teardown) about every control_tick_ms while the daemon
	 * serves: periodic control work such as watching a tunnel. It may block for a
	 * while (signals wait meanwhile); it never runs concurrently with reload. */
	void (*control_tick)(struct daemon *d);
	unsigned control_tick_ms;   /* 0 with a control_tick: 1000 */
	/* The daemon says ready itself (daemon_set_ready) once its data is loaded;
	 * otherwise /readyz is ready as soon as the workers run. */
	bool manual_ready;
};

/* The runtime options every daemon has; setup passes them from its config. */
struct daemon_runtime {
	struct loop_config loop;           /* workers, drain_timeout, sizes */
	const struct cfg_addr *admin_listen; /* NULL: no admin endpoint */
};

/* Parse the command line and run the daemon until it stops. Returns the process
 * exit status: 0 after a clean stop or a good -t, 1 on any failure, 2 on usage. */
int daemon_main(const struct daemon_spec *spec, int argc, char **argv);

/* Block SIGTERM, SIGINT and SIGHUP in the calling thread (threads created afterwards
 * inherit the mask; the daemon takes them with sigtimedwait or a signalfd) and ignore
 * SIGPIPE. The blocked set goes to *sigs. */
void daemon_block_signals(sigset_t *sigs);

/* From setup: create the loop (with the daemon's hooks plus heartbeats), the
 * metrics and the admin endpoint (not yet started). Returns 0 or an error. */
int daemon_runtime_create(struct daemon *d, const struct daemon_runtime *rt);

/* From setup: a TCP listener for each of the n addresses with ops and ctx, each
 * logged ("listening listener=WHAT address=… port=…"); a failure is logged and
 * returned (-errno). */
int daemon_listen_tcp(struct daemon *d, const struct cfg_addr *addrs, size_t n,
		      const struct conn_ops *ops, void *ctx, const char *what);

/* The running config (the daemon's struct, as schema describes it). On a worker it
 * stays valid until the callback returns; keep no pointer into it across callbacks. */
const void *daemon_config(const struct daemon *d);
const char *daemon_config_path(const struct daemon *d);
struct loop *daemon_loop(const struct daemon *d);
struct admin *daemon_admin(const struct daemon *d);
struct metrics *daemon_metrics(const struct daemon *d);
/* The daemon from a worker callback. */
struct daemon *daemon_of_worker(const struct worker *w);
/* Daemon-wide state of the daemon's own (set in setup). */
void daemon_set_data(struct daemon *d, void *data);
void *daemon_data(const struct daemon *d);
/* For manual_ready daemons: /readyz answers 200 from now on (or 503 again). */
void daemon_set_ready(struct daemon *d, bool ready);

#endif
