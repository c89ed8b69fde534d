/*
 * airdress-relay: the relay PoP. Accepts client connections on listen_http (routed
 * by Host) and listen_tls (routed by the ClientHello's server name, never decrypted)
 * and forwards them to the operator's tunnel address with a PROXY v2 header.
 * See docs/relay.md.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "error.h"
#include "forward.h"
#include "log.h"
#include "relay_config.h"
#include "routes.h"
#include "sockaddr.h"
#include "wg.h"

/* A WireGuard peer as last applied to the interface. */
struct relay_peer {
	char key[ROUTE_KEY_MAX];
	char allowed[SOCKADDR_STRLEN + 8];
};

struct relay {
	struct forward_settings settings;
	struct forward_listener http, tls;
	struct wg_iface *wg;           /* NULL without a wireguard section */
	struct relay_peer *peers;
	size_t npeers;
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

struct peer_list {
	struct relay_peer *items;
	size_t count, cap;
};

static int collect_peer(const char *name, size_t len, void *value, void *arg)
{
	const struct route *r = value;
	struct peer_list *pl = arg;
	if (r->public_key[0] == '\0')
		return 0;
	if (pl->count == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		void *n = realloc(pl->items, cap * sizeof(*pl->items));
		if (n == NULL)
			return -ENOMEM;
		pl->items = n;
		pl->cap = cap;
	}
	struct relay_peer *p = &pl->items[pl->count++];
	snprintf(p->key, sizeof(p->key), "%s", r->public_key);
	sockaddr_format_prefix((const struct sockaddr *)&r->tunnel, -1, p->allowed,
			       sizeof(p->allowed));
	return 0;
}

/* Make the interface's peers those of the routes that carry a public key. */
static void sync_peers(void)
{
	if (relay.wg == NULL)
		return;
	struct peer_list now = { 0 };
	if (nametable_foreach(relay.settings.routes, collect_peer, &now) != 0) {
		log_error("wireguard peers not updated", "error=\"%s\"", airdress_strerror(-ENOMEM));
		free(now.items);
		return;
	}
	for (size_t i = 0; i < relay.npeers; i++) {
		bool kept = false;
		for (size_t j = 0; j < now.count && !kept; j++)
			kept = strcmp(relay.peers[i].key, now.items[j].key) == 0;
		if (!kept)
			wg_peer_remove(relay.wg, relay.peers[i].key);
	}
	size_t failed = 0;
	for (size_t j = 0; j < now.count; j++) {
		int ret = wg_peer_set(relay.wg, now.items[j].key, now.items[j].allowed);
		if (ret != 0) {
			failed++;
			log_error("wireguard peer not set", "allowed=%s error=\"%s\"", now.items[j].allowed,
				  airdress_strerror(ret));
		}
	}
	free(relay.peers);
	relay.peers = now.items;
	relay.npeers = now.count;
	log_info("wireguard peers set", "peers=%zu failed=%zu", now.count, failed);
}

static int wireguard_up(const struct relay_cfg *cfg)
{
	const struct relay_wireguard_cfg *wc = &cfg->wireguard;
	char addr[SOCKADDR_STRLEN + 8];
	sockaddr_format_prefix((const struct sockaddr *)&wc->address.addr.addr,
			       (int)wc->address.prefixlen, addr, sizeof(addr));
	struct wg_settings ws = {
		.interface = wc->interface,
		.private_key_file = wc->private_key_file,
		.listen_port = wc->listen_port,
		.address = addr,
		.userspace = (enum wg_mode)wc->userspace,
	};
	char err[512];
	relay.wg = wg_iface_up(&ws, err, sizeof(err));
	if (relay.wg == NULL) {
		char q[sizeof(err) + 16];
		log_error("wireguard interface not created", "interface=%s error=%s", wc->interface,
			  log_quote(q, sizeof(q), err));
		return AD_ECONFIG;
	}
	log_info("wireguard interface up", "interface=%s address=%s port=%u userspace=%s",
		 wc->interface, addr, wc->listen_port, wg_iface_userspace(relay.wg) ? "yes" : "no");
	return 0;
}

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
	sync_peers();
	return 0;
}

static void apply_timeouts(const struct relay_cfg *cfg)
{
	__atomic_store_n(&relay.settings.max_per_name, cfg->max_per_name, __ATOMIC_RELAXED);
	__atomic_store_n(&relay.settings.peek_timeout_ms, cfg->peek_timeout, __ATOMIC_RELAXED);
	__atomic_store_n(&relay.settings.connect_timeout_ms, cfg->connect_timeout, __ATOMIC_RELAXED);
	__atomic_store_n(&relay.settings.idle_timeout_ms, cfg->idle_timeout, __ATOMIC_RELAXED);
}

static int relay_setup(struct daemon *d)
{
	const struct relay_cfg *cfg = daemon_config(d);
	relay.settings.routes = routes_create();
	if (relay.settings.routes == NULL)
		return -ENOMEM;
	apply_timeouts(cfg);
	int ret = cfg->wireguard_present ? wireguard_up(cfg) : 0;
	if (ret != 0 || (ret = load_routes(cfg)) != 0)
		return ret;
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
	/* Bulk forwarding: 64 KiB receives (sixteen times fewer completions than 4 KiB)
	 * from a small, cache-warm ring of 64, 64 KiB output chunks, and no Nagle delay
	 * on the small segments of a request. */
	rt.loop.buf_size = 65536;
	rt.loop.buf_count = 64;
	rt.loop.chunk_size = 65536;
	rt.loop.tcp_nodelay = true;
	/* Output chunks for queued bytes: one per client on average. The pool reserves
	 * address space, and memory only as chunks are first used. */
	rt.loop.chunk_count = relay.settings.max_clients < 1024 ? 1024 : relay.settings.max_clients;
	rt.loop.workers = workers;
	if ((ret = daemon_runtime_create(d, &rt)) != 0)
		return ret;
	relay.http.kind = FORWARD_HTTP;
	relay.http.settings = &relay.settings;
	relay.tls.kind = FORWARD_TLS;
	relay.tls.settings = &relay.settings;
	if ((ret = daemon_listen_tcp(d, cfg->listen_http, cfg->listen_http_count,
				     &forward_client_ops, &relay.http, "http")))
		return ret;
	return daemon_listen_tcp(d, cfg->listen_tls, cfg->listen_tls_count,
				 &forward_client_ops, &relay.tls, "tls");
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
	wg_iface_down(relay.wg);
	relay.wg = NULL;
	free(relay.peers);
	relay.peers = NULL;
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
