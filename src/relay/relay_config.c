/* Relay configuration schema: see relay_config.h. */
#include <stddef.h>

#include "relay_config.h"
#include "wg.h"

static const struct cfg_item wireguard_items[] = {
	{ .key = "interface", .type = CFG_STRING,
	  .offset = offsetof(struct relay_wireguard_cfg, interface), .def = "airdress0",
	  .doc = "WireGuard interface the relay creates and owns" },
	{ .key = "private_key_file", .type = CFG_PATH,
	  .offset = offsetof(struct relay_wireguard_cfg, private_key_file), .def = "relay.key",
	  .doc = "the relay's WireGuard private key (shared by every PoP)" },
	{ .key = "listen_port", .type = CFG_UINT,
	  .offset = offsetof(struct relay_wireguard_cfg, listen_port), .min = 1, .max = 65535,
	  .def = "51820", .doc = "WireGuard UDP port" },
	{ .key = "address", .type = CFG_PREFIX,
	  .offset = offsetof(struct relay_wireguard_cfg, address), .def = "fd61:6972::1/64",
	  .doc = "the relay's tunnel address and prefix" },
	{ .key = "userspace", .type = CFG_ENUM,
	  .offset = offsetof(struct relay_wireguard_cfg, userspace), .enums = wg_userspace_names,
	  .def = "auto", .doc = "auto: wireguard-go when the kernel lacks WireGuard; yes; no" },
	CFG_ITEMS_END
};

static const struct cfg_schema wireguard_schema = {
	"wireguard", sizeof(struct relay_wireguard_cfg), wireguard_items
};

static const struct cfg_item registry_items[] = {
	{ .key = "url", .type = CFG_STRING, .offset = offsetof(struct relay_registry_cfg, url),
	  .required = true, .doc = "registry base URL" },
	{ .key = "token_file", .type = CFG_PATH,
	  .offset = offsetof(struct relay_registry_cfg, token_file), .def = "registry.token",
	  .doc = "file holding the registry bearer token" },
	CFG_ITEMS_END
};

static const struct cfg_schema registry_schema = {
	"registry", sizeof(struct relay_registry_cfg), registry_items
};

static const struct cfg_item admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct relay_admin_cfg, listen),
	  .def = "127.0.0.1:9180", .doc = "admin HTTP endpoint (/healthz, /readyz, /metrics)" },
	CFG_ITEMS_END
};

static const struct cfg_schema admin_schema = {
	"admin", sizeof(struct relay_admin_cfg), admin_items
};

static const struct cfg_item relay_items[] = {
	{ .key = "listen_http", .type = CFG_ADDR, .offset = offsetof(struct relay_cfg, listen_http),
	  .count = CFG_AT(struct relay_cfg, listen_http_count), .def = "[\"0.0.0.0:80\"]",
	  .doc = "HTTP listeners: routed by the Host header" },
	{ .key = "listen_tls", .type = CFG_ADDR, .offset = offsetof(struct relay_cfg, listen_tls),
	  .count = CFG_AT(struct relay_cfg, listen_tls_count), .def = "[\"0.0.0.0:443\"]",
	  .doc = "TLS listeners: routed by the ClientHello's server name, never decrypted" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct relay_cfg, workers),
	  .max = 1024, .def = "0", .doc = "worker threads, 0 = one per online CPU" },
	{ .key = "peek_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct relay_cfg, peek_timeout), .min = 1, .def = "5s", .reload = true,
	  .doc = "time a client has to send its request head or ClientHello" },
	{ .key = "connect_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct relay_cfg, connect_timeout), .min = 1, .def = "5s",
	  .reload = true, .doc = "time to connect to the operator" },
	{ .key = "idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct relay_cfg, idle_timeout), .min = 1, .def = "300s",
	  .reload = true, .doc = "close a forwarded connection idle both ways this long" },
	{ .key = "drain_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct relay_cfg, drain_timeout), .min = 1, .def = "30s",
	  .doc = "longest wait for forwarded connections on SIGTERM" },
	{ .key = "max_connections", .type = CFG_UINT,
	  .offset = offsetof(struct relay_cfg, max_connections), .min = 1, .max = 10000000,
	  .def = "100000", .doc = "client connections at once, whole process" },
	{ .key = "max_peeking", .type = CFG_UINT, .offset = offsetof(struct relay_cfg, max_peeking),
	  .min = 1, .max = 1000000, .def = "4096",
	  .doc = "client connections at once that have not yet sent a name (slowloris cap)" },
	{ .key = "max_connections_per_name", .type = CFG_UINT,
	  .offset = offsetof(struct relay_cfg, max_per_name), .max = 10000000, .def = "10000",
	  .reload = true, .doc = "client connections at once under one name, 0 = no limit" },
	{ .key = "wireguard", .type = CFG_SECTION, .offset = offsetof(struct relay_cfg, wireguard),
	  .present = CFG_AT(struct relay_cfg, wireguard_present), .section = &wireguard_schema,
	  .doc = "the relay's WireGuard interface; absent: routes are used as they are" },
	{ .key = "routes_file", .type = CFG_PATH, .offset = offsetof(struct relay_cfg, routes_file),
	  .reload = true, .doc = "static routes (YAML), reloaded on SIGHUP" },
	{ .key = "registry", .type = CFG_SECTION, .offset = offsetof(struct relay_cfg, registry),
	  .present = CFG_AT(struct relay_cfg, registry_present), .section = &registry_schema,
	  .doc = "registry change feed (optional)" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct relay_cfg, admin),
	  .section = &admin_schema, .doc = "admin endpoint" },
	CFG_ITEMS_END
};

const struct cfg_schema relay_schema = { "relay", sizeof(struct relay_cfg), relay_items };
