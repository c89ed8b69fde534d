/*
 * Daemon: command line, config load and check, signals, reload and drain, shared by
 * every binary. See daemon.h.
 *
 * Threads: the main thread owns the config and handles every signal (all are
 * blocked before any other thread starts, so workers and the admin thread never
 * see one); workers run the loop; the admin thread serves the admin endpoint.
 * The running config is published with a release store and read by workers with
 * an acquire load; a replaced one is freed only after loop_barrier().
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "sockaddr.h"

#define BARRIER_TIMEOUT_MS 10000

struct daemon {
	const struct daemon_spec *spec;
	const char *config_path;
	void *cfg;                 /* published; swapped on reload */
	struct loop *loop;
	struct admin *admin;
	struct metrics *metrics;
	struct loop_hooks hooks;   /* the daemon's, wrapped */
	void *data;
};

/* Metrics of the runtime itself, kept in the control block and filled from the
 * loop's counters at scrape time. */
static int runtime_metrics_hook(FILE *out, void *ctx)
{
	struct daemon *d = ctx;
	struct loop_stats st;
	if (d->loop == NULL)
		return 0;
	loop_stats(d->loop, &st);
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} rows[] = {
#define ROW(n, t, h, f) { "airdress_" n, t, h, offsetof(struct loop_stats, f) }
		ROW("connections_accepted_total", "counter", "TCP connections accepted.", accepted),
		ROW("connections_rejected_total", "counter",
		    "TCP connections refused: connection pool full or draining.", accept_rejected),
		ROW("connections_closed_total", "counter", "TCP connections closed.", closed),
		ROW("connections_active", "gauge", "TCP connections open now.", active),
		ROW("received_bytes_total", "counter", "TCP bytes received.", bytes_in),
		ROW("sent_bytes_total", "counter", "TCP bytes sent.", bytes_out),
		ROW("udp_received_total", "counter", "UDP datagrams received.", udp_in),
		ROW("udp_sent_total", "counter", "UDP datagrams sent.", udp_out),
		ROW("udp_dropped_total", "counter", "UDP datagrams not sent.", udp_dropped),
		ROW("receive_buffers_exhausted_total", "counter",
		    "Times the receive buffer ring ran dry.", enobufs),
		ROW("timeouts_total", "counter", "Idle timeouts.", timeouts),
		ROW("messages_total", "counter", "Cross-core messages handled.", messages),
#undef ROW
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t v = *(const uint64_t *)((const char *)&st + rows[i].off);
		if (fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", rows[i].name,
			    rows[i].help, rows[i].name, rows[i].type, rows[i].name,
			    (unsigned long long)v) < 0)
			return -EIO;
	}
	if (fprintf(out, "# HELP airdress_workers Worker threads.\n# TYPE airdress_workers gauge\n"
			 "airdress_workers %u\n", loop_workers(d->loop)) < 0)
		return -EIO;
	return 0;
}

/* ---- worker hooks: the daemon's, plus heartbeats ------------------------ */

static int hook_worker_start(struct worker *w)
{
	struct daemon *d = loop_app(worker_loop(w));
	admin_heartbeat(d->admin, worker_id(w));
	return d->hooks.worker_start ? d->hooks.worker_start(w) : 0;
}

static void hook_worker_stop(struct worker *w)
{
	struct daemon *d = loop_app(worker_loop(w));
	if (d->hooks.worker_stop)
		d->hooks.worker_stop(w);
}

static void hook_on_message(struct worker *w, const struct msg *m)
{
	struct daemon *d = loop_app(worker_loop(w));
	if (d->hooks.on_message)
		d->hooks.on_message(w, m);
}

static void hook_tick(struct worker *w)
{
	struct daemon *d = loop_app(worker_loop(w));
	admin_heartbeat(d->admin, worker_id(w));
	if (d->hooks.tick)
		d->hooks.tick(w);
}

static void hook_drain(struct worker *w)
{
	struct daemon *d = loop_app(worker_loop(w));
	if (d->hooks.drain)
		d->hooks.drain(w);
}

static const struct loop_hooks wrapped_hooks = {
	.worker_start = hook_worker_start,
	.worker_stop = hook_worker_stop,
	.on_message = hook_on_message,
	.tick = hook_tick,
	.drain = hook_drain,
};

int daemon_runtime_create(struct daemon *d, const struct daemon_runtime *rt)
{
	int ret = 0;
	if (d->loop != NULL)
		return -EBUSY;
	if (d->spec->hooks != NULL)
		d->hooks = *d->spec->hooks;
	d->loop = loop_create(&rt->loop, &wrapped_hooks, d, &ret);
	if (d->loop == NULL) {
		log_error("runtime create failed", "error=\"%s\"", airdress_strerror(ret));
		return ret;
	}
	static const struct metrics_desc none[] = {
		METRICS_DESC("airdress_up", "1 while the daemon runs.", METRICS_GAUGE),
	};
	const struct metrics_desc *descs = d->spec->nmetrics ? d->spec->metrics : none;
	unsigned n = d->spec->nmetrics ? d->spec->nmetrics : 1;
	ret = metrics_create(descs, n, loop_workers(d->loop), &d->metrics);
	if (ret != 0)
		return ret;
	if (!d->spec->nmetrics)
		metrics_gauge_set(metrics_control_slots(d->metrics), 0, 1);
	metrics_set_hook(d->metrics, runtime_metrics_hook, d);
	if (rt->admin_listen != NULL) {
		char listen[SOCKADDR_STRLEN];
		sockaddr_format((const struct sockaddr *)&rt->admin_listen->addr, rt->admin_listen->len,
				listen, sizeof(listen));
		struct admin_config ac = {
			.listen = listen,
			.workers = loop_workers(d->loop),
			.metrics = d->metrics,
		};
		ret = admin_create(&ac, &d->admin);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int daemon_listen_tcp(struct daemon *d, const struct cfg_addr *addrs, size_t n,
		      const struct conn_ops *ops, void *ctx, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		char text[SOCKADDR_STRLEN];
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].addr;
		sockaddr_format(sa, addrs[i].len, text, sizeof(text));
		int ret = loop_add_tcp(d->loop, sa, addrs[i].len, ops, ctx);
		if (ret < 0) {
			log_error("listen failed", "listener=%s address=%s error=\"%s\"", what, text,
				  airdress_strerror(ret));
			return ret;
		}
		log_info("listening", "listener=%s address=%s port=%u", what, text,
			 loop_listener_port(d->loop, ret));
	}
	return 0;
}

const void *daemon_config(const struct daemon *d)
{
	return __atomic_load_n(&d->cfg, __ATOMIC_ACQUIRE);
}

const char *daemon_config_path(const struct daemon *d)
{
	return d->config_path;
}

struct loop *daemon_loop(const struct daemon *d)
{
	return d->loop;
}

struct admin *daemon_admin(const struct daemon *d)
{
	return d->admin;
}

struct metrics *daemon_metrics(const struct daemon *d)
{
	return d->metrics;
}

struct daemon *daemon_of_worker(const struct worker *w)
{
	return loop_app(worker_loop(w));
}

void daemon_set_data(struct daemon *d, void *data)
{
	d->data = data;
}

void *daemon_data(const struct daemon *d)
{
	return d->data;
}

void daemon_set_ready(struct daemon *d, bool ready)
{
	admin_set_ready(d->admin, ready);
}

/* ---- reload ------------------------------------------------------------- */

static void daemon_reload(struct daemon *d)
{
	const struct cfg_schema *schema = d->spec->schema;
	char err[CFG_ERRLEN];
	void *fresh = calloc(1, schema->size);
	if (fresh == NULL) {
		log_error("reload failed", "error=\"%s\"", airdress_strerror(-ENOMEM));
		return;
	}
	int ret = cfg_load_file(schema, fresh, d->config_path, err, sizeof(err));
	if (ret != 0) {
		char q[CFG_ERRLEN + 16];
		log_error("reload failed, keeping the running configuration", "error=%s",
			  log_quote(q, sizeof(q), err));
		free(fresh);
		return;
	}
	int kept = cfg_reload_merge(schema, fresh, d->cfg);
	if (kept < 0 || (d->spec->reload != NULL && (ret = d->spec->reload(d, fresh)) != 0)) {
		log_error("reload refused, keeping the running configuration", "error=\"%s\"",
			  airdress_strerror(kept < 0 ? kept : ret));
		cfg_free(schema, fresh);
		free(fresh);
		return;
	}
	void *old = d->cfg;
	__atomic_store_n(&d->cfg, fresh, __ATOMIC_RELEASE);
	if (loop_barrier(d->loop, BARRIER_TIMEOUT_MS) == 0) {
		cfg_free(schema, old);
		free(old);
	} else {
		/* A worker that does not answer may still read it: leak rather than crash. */
		log_warn("reload: a worker did not pass a quiescent point, old config kept", "");
	}
	log_info("configuration reloaded", "file=%s restart_needed_keys=%d", d->config_path, kept);
}

/* ---- main --------------------------------------------------------------- */

static void usage(const struct daemon_spec *spec, FILE *out)
{
	fprintf(out,
		"%s: %s\n\n"
		"usage: %s [-c FILE] [-t] [-V] [-h]\n"
		"  -c FILE  configuration file%s%s%s\n"
		"  -t       check the configuration and exit (0 ok, 1 invalid)\n"
		"  -V       print the version and exit\n"
		"  -h       this help\n"
		"signals: SIGHUP reloads the configuration, SIGTERM drains and exits\n",
		spec->name, spec->summary, spec->name,
		spec->default_config ? " (default " : " (required)",
		spec->default_config ? spec->default_config : "",
		spec->default_config ? ")" : "");
}

void daemon_block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int daemon_main(const struct daemon_spec *spec, int argc, char **argv)
{
	struct daemon d = { .spec = spec, .config_path = spec->default_config };
	bool check = false;
	int opt, status = 1;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			d.config_path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("%s %s\n", spec->name, AIRDRESS_VERSION);
			return 0;
		case 'h':
			usage(spec, stdout);
			return 0;
		default:
			usage(spec, stderr);
			return 2;
		}
	}
	if (optind < argc || d.config_path == NULL) {
		usage(spec, stderr);
		return 2;
	}
	if (check)
		return cfg_check_file(spec->schema, d.config_path, stdout) == 0 ? 0 : 1;

	/* Every thread created from here on inherits the blocked set. */
	sigset_t sigs;
	daemon_block_signals(&sigs);

	char err[CFG_ERRLEN];
	d.cfg = calloc(1, spec->schema->size);
	if (d.cfg == NULL)
		goto finish;
	if (cfg_load_file(spec->schema, d.cfg, d.config_path, err, sizeof(err)) != 0) {
		char q[CFG_ERRLEN + 16];
		log_error("configuration invalid", "error=%s", log_quote(q, sizeof(q), err));
		goto finish;
	}
	if (spec->setup(&d) != 0)
		goto finish; /* setup logged why */
	if (d.loop == NULL) {
		log_error("setup did not create the runtime", "");
		goto finish;
	}
	int ret = loop_start(d.loop);
	if (ret != 0) {
		log_error("workers failed to start", "error=\"%s\"", airdress_strerror(ret));
		goto finish;
	}
	if (d.admin != NULL && (ret = admin_start(d.admin)) != 0) {
		log_error("admin endpoint failed to start", "error=\"%s\"", airdress_strerror(ret));
		loop_drain(d.loop);
		loop_join(d.loop);
		goto finish;
	}
	admin_set_state(d.admin, ADMIN_SERVING);
	if (!spec->manual_ready)
		admin_set_ready(d.admin, true);
	log_info("started", "daemon=%s version=%s workers=%u admin_port=%u", spec->name,
		 AIRDRESS_VERSION, loop_workers(d.loop), admin_port(d.admin));

	unsigned tick_ms = spec->control_tick_ms ? spec->control_tick_ms : 1000;
	uint64_t next_tick = clock_ms() + tick_ms;
	for (;;) {
		int sig = 0;
		if (spec->control_tick == NULL) {
			if (sigwait(&sigs, &sig) != 0)
				continue;
		} else {
			uint64_t now = clock_ms();
			if (now >= next_tick) {
				spec->control_tick(&d);
				/* A slow tick delays the next one rather than bunching them. */
				next_tick = clock_ms() + tick_ms;
				continue;
			}
			uint64_t wait = next_tick - now;
			struct timespec ts = { .tv_sec = (time_t)(wait / 1000),
					       .tv_nsec = (long)(wait % 1000) * 1000000L };
			sig = sigtimedwait(&sigs, NULL, &ts);
			if (sig < 0)
				continue; /* EAGAIN: time for a tick; EINTR */
		}
		if (sig == SIGHUP) {
			daemon_reload(&d);
			continue;
		}
		log_info("draining", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
		break;
	}
	admin_set_state(d.admin, ADMIN_DRAINING);
	admin_set_ready(d.admin, false);
	loop_drain(d.loop);
	loop_join(d.loop);
	status = 0;
	log_info("stopped", "daemon=%s", spec->name);

finish:
	admin_destroy(d.admin);
	d.admin = NULL;
	if (spec->teardown != NULL)
		spec->teardown(&d);
	loop_destroy(d.loop);
	metrics_destroy(d.metrics);
	if (d.cfg != NULL) {
		cfg_free(spec->schema, d.cfg);
		free(d.cfg);
	}
	return status;
}
