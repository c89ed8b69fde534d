/*
 * airdress-echo: a TCP and UDP echo server on the shared runtime and the common
 * daemon frame (config, -t, admin endpoint, SIGHUP, drain), for the runtime's
 * integration tests. Not a product binary: built under build/tests, never installed.
 *
 *   airdress-echo -c echo.yaml
 *
 * Logs "listening ... port=N" per listener once bound (port 0 picks one).
 */
#include <stddef.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "daemon.h"
#include "echo_ops.h"
#include "error.h"
#include "log.h"
#include "sockaddr.h"

struct echo_admin_cfg {
	struct cfg_addr listen;
};

struct echo_cfg {
	struct cfg_addr *listen;
	size_t listen_count;
	unsigned workers;
	uint64_t drain_timeout;
	uint64_t idle_timeout;
	struct echo_admin_cfg admin;
};

static const struct cfg_item echo_admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct echo_admin_cfg, listen),
	  .def = "127.0.0.1:0", .doc = "admin HTTP address (port 0: any free port)" },
	CFG_ITEMS_END
};

static const struct cfg_schema echo_admin_schema = {
	"admin", sizeof(struct echo_admin_cfg), echo_admin_items
};

static const struct cfg_item echo_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct echo_cfg, listen),
	  .count = CFG_AT(struct echo_cfg, listen_count), .def = "[\"127.0.0.1:0\"]",
	  .doc = "TCP and UDP echo addresses" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct echo_cfg, workers),
	  .max = 256, .def = "0", .doc = "worker threads, 0 = one per CPU" },
	{ .key = "drain_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct echo_cfg, drain_timeout), .min = 1, .def = "5s",
	  .doc = "longest wait for connections to finish on SIGTERM" },
	{ .key = "idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct echo_cfg, idle_timeout), .def = "0s", .reload = true,
	  .doc = "close a connection that sent nothing for this long (0 = never)" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct echo_cfg, admin),
	  .section = &echo_admin_schema, .doc = "admin endpoint" },
	CFG_ITEMS_END
};

static const struct cfg_schema echo_schema = { "echo", sizeof(struct echo_cfg), echo_items };

static struct echo_settings settings;

static int echo_setup(struct daemon *d)
{
	const struct echo_cfg *cfg = daemon_config(d);
	struct daemon_runtime rt = {
		.loop = { .workers = cfg->workers, .pin = true, .drain_timeout_ms = cfg->drain_timeout },
		.admin_listen = &cfg->admin.listen,
	};
	settings.idle_timeout_ms = cfg->idle_timeout;
	int ret = daemon_runtime_create(d, &rt);
	if (ret != 0)
		return ret;
	for (size_t i = 0; i < cfg->listen_count; i++) {
		struct cfg_addr a = cfg->listen[i];
		char text[SOCKADDR_STRLEN];
		sockaddr_format((struct sockaddr *)&a.addr, a.len, text, sizeof(text));
		int tcp = loop_add_tcp(daemon_loop(d), (struct sockaddr *)&a.addr, a.len,
				       &echo_tcp_ops, &settings);
		if (tcp < 0) {
			log_error("listen failed", "address=%s error=\"%s\"", text, airdress_strerror(tcp));
			return tcp;
		}
		/* UDP on the same port as TCP, also when the port was 0. */
		uint16_t port = loop_listener_port(daemon_loop(d), tcp);
		if (a.addr.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&a.addr)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&a.addr)->sin_port = htons(port);
		int udp = loop_add_udp(daemon_loop(d), (struct sockaddr *)&a.addr, a.len,
				       &echo_udp_ops, NULL);
		if (udp < 0) {
			log_error("listen failed", "address=%s error=\"%s\"", text, airdress_strerror(udp));
			return udp;
		}
		log_info("listening", "address=%s port=%u", text, port);
	}
	return 0;
}

static int echo_reload(struct daemon *d, const void *fresh)
{
	const struct echo_cfg *cfg = fresh;
	__atomic_store_n(&settings.idle_timeout_ms, cfg->idle_timeout, __ATOMIC_RELAXED);
	return 0;
}

static const struct daemon_spec echo_spec = {
	.name = "airdress-echo",
	.summary = "TCP/UDP echo server on the Airdress runtime (test program)",
	.schema = &echo_schema,
	.setup = echo_setup,
	.reload = echo_reload,
};

int main(int argc, char **argv)
{
	return daemon_main(&echo_spec, argc, argv);
}
