/*
 * airdress-relay: the relay PoP. Accepts client connections on listen_http (routed
 * by Host) and listen_tls (routed by the ClientHello's server name, never decrypted)
 * and forwards them to the operator's tunnel address with a PROXY v2 header.
 * See docs/relay.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "error.h"
#include "forward.h"
#include "log.h"
#include "relay_config.h"
#include "routes.h"
#include "sockaddr.h"

struct relay {
	struct forward_settings settings;
	struct forward_listener http, tls;
};

static struct relay relay;

static int relay_worker_start(struct worker *w)
{
	struct daemon *d = daemon_of_worker(w);
	return forward_worker_start(w, &relay.settings, daemon_metrics(d));
}

static void relay_worker_stop(struct worker *w)
{
	forward_worker_stop(w);
}

static void relay_tick(struct worker *w)
{
	(void)w;
}

static const struct loop_hooks relay_hooks = {
	.worker_start = relay_worker_start,
	.worker_stop = relay_worker_stop,
	.tick = relay_tick,
};

static int load_routes(const struct relay_cfg *cfg)
{
	if (cfg->routes_file == NULL)
		return 0;
	char err[CFG_ERRLEN];
	size_t count = 0;
	int ret = routes_load_file(relay.settings.routes, cfg->routes_file, &count, err, sizeof(err));
	if (ret != 0) {
		char q[CFG_ERRLEN + 16];
		log_error("routes not loaded", "error=%s", log_quote(q, sizeof(q), err));
		return ret;
	}
	log_info("routes loaded", "file=%s routes=%zu", cfg->routes_file, count);
	return 0;
}

static void apply_timeouts(const struct relay_cfg *cfg)
{
	__atomic_store_n(&relay.settings.peek_timeout_ms, cfg->peek_timeout, __ATOMIC_RELAXED);
	__atomic_store_n(&relay.settings.connect_timeout_ms, cfg->connect_timeout, __ATOMIC_RELAXED);
	__atomic_store_n(&relay.settings.idle_timeout_ms, cfg->idle_timeout, __ATOMIC_RELAXED);
}

static int add_listeners(struct daemon *d, const struct cfg_addr *addrs, size_t n,
			 struct forward_listener *l, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		char text[SOCKADDR_STRLEN];
		sockaddr_format((const struct sockaddr *)&addrs[i].addr, addrs[i].len, text, sizeof(text));
		int ret = loop_add_tcp(daemon_loop(d), (const struct sockaddr *)&addrs[i].addr,
				       addrs[i].len, &forward_client_ops, l);
		if (ret < 0) {
			log_error("listen failed", "listener=%s address=%s error=\"%s\"", what, text,
				  airdress_strerror(ret));
			return ret;
		}
		log_info("listening", "listener=%s address=%s port=%u", what, text,
			 loop_listener_port(daemon_loop(d), ret));
	}
	return 0;
}

static int relay_setup(struct daemon *d)
{
	const struct relay_cfg *cfg = daemon_config(d);
	relay.settings.routes = routes_create();
	if (relay.settings.routes == NULL)
		return -ENOMEM;
	apply_timeouts(cfg);
	int ret = load_routes(cfg);
	if (ret != 0)
		return ret;
	if (cfg->wireguard_present)
		log_warn("wireguard section present: the relay does not manage the interface yet; "
			 "routes are used as they are", "interface=%s", cfg->wireguard.interface);
	if (cfg->registry_present)
		log_warn("registry section present: the change feed is not followed yet", "url=%s",
			 cfg->registry.url);

	struct daemon_runtime rt = {
		.loop = {
			.workers = cfg->workers,
			.pin = true,
			.drain_timeout_ms = cfg->drain_timeout,
			.conn_user_size = forward_conn_size(),
		},
		.admin_listen = &cfg->admin.listen,
	};
	/* Worker count first: the per-worker limits divide the process-wide ones. */
	unsigned workers = cfg->workers ? cfg->workers : loop_default_workers();
	relay.settings.max_clients = (cfg->max_connections + workers - 1) / workers;
	relay.settings.max_peeking = (cfg->max_peeking + workers - 1) / workers;
	/* Each client connection may have an operator connection beside it. */
	rt.loop.max_conns = relay.settings.max_clients * 2 + 64;
	rt.loop.workers = workers;
	if ((ret = daemon_runtime_create(d, &rt)) != 0)
		return ret;
	relay.http.kind = FORWARD_HTTP;
	relay.http.settings = &relay.settings;
	relay.tls.kind = FORWARD_TLS;
	relay.tls.settings = &relay.settings;
	if ((ret = add_listeners(d, cfg->listen_http, cfg->listen_http_count, &relay.http, "http")))
		return ret;
	return add_listeners(d, cfg->listen_tls, cfg->listen_tls_count, &relay.tls, "tls");
}

static int relay_reload(struct daemon *d, const void *fresh)
{
	const struct relay_cfg *cfg = fresh;
	int ret = load_routes(cfg);
	if (ret != 0)
		return ret;
	apply_timeouts(cfg);
	return 0;
}

static void relay_teardown(struct daemon *d)
{
	nametable_destroy(relay.settings.routes);
	relay.settings.routes = NULL;
}

static const struct daemon_spec relay_spec = {
	.name = "airdress-relay",
	.summary = "Airdress relay PoP: routes HTTP by Host and TLS by SNI to operators",
	.schema = &relay_schema,
	.default_config = "/etc/airdress/relay.yaml",
	.metrics = forward_metrics,
	.nmetrics = FM_COUNT,
	.hooks = &relay_hooks,
	.setup = relay_setup,
	.reload = relay_reload,
	.teardown = relay_teardown,
};

int main(int argc, char **argv)
{
	return daemon_main(&relay_spec, argc, argv);
}
