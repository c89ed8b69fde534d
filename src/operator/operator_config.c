/* Operator configuration schema: see operator_config.h. */
#include <stddef.h>

#include "operator_config.h"
#include "wg.h"

static const struct cfg_item cert_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct op_cert_cfg, name),
	  .required = true, .doc = "the name the certificate serves (exact or *.wildcard)" },
	{ .key = "cert", .type = CFG_PATH, .offset = offsetof(struct op_cert_cfg, cert),
	  .required = true, .doc = "certificate chain (PEM)" },
	{ .key = "key", .type = CFG_PATH, .offset = offsetof(struct op_cert_cfg, key),
	  .required = true, .doc = "private key (PEM)" },
	CFG_ITEMS_END
};

static const struct cfg_schema cert_schema = { "certificate", sizeof(struct op_cert_cfg), cert_items };

static const struct cfg_item route_items[] = {
	{ .key = "host", .type = CFG_STRING, .offset = offsetof(struct op_route_cfg, host),
	  .doc = "match this host (absent: any)" },
	{ .key = "path", .type = CFG_STRING, .offset = offsetof(struct op_route_cfg, path),
	  .doc = "match paths starting with this (absent: any)" },
	{ .key = "service", .type = CFG_STRING, .offset = offsetof(struct op_route_cfg, service),
	  .required = true, .doc = "http://IP:PORT, unix:/PATH, or http_status:CODE" },
	CFG_ITEMS_END
};

static const struct cfg_schema route_schema = { "route", sizeof(struct op_route_cfg), route_items };

static const struct cfg_item tunnel_items[] = {
	{ .key = "interface", .type = CFG_STRING, .offset = offsetof(struct op_tunnel_cfg, interface),
	  .def = "airdress1", .doc = "WireGuard interface the operator creates" },
	{ .key = "private_key_file", .type = CFG_PATH,
	  .offset = offsetof(struct op_tunnel_cfg, private_key_file), .def = "operator.key",
	  .doc = "the operator's WireGuard key (airdress-operator keygen)" },
	{ .key = "address", .type = CFG_PREFIX, .offset = offsetof(struct op_tunnel_cfg, address),
	  .def = "fd61:6972::2/64", .doc = "our tunnel address (handed out at enrollment)" },
	{ .key = "listen_port", .type = CFG_UINT, .offset = offsetof(struct op_tunnel_cfg, listen_port),
	  .min = 1, .max = 65535, .def = "51821", .doc = "local WireGuard UDP port" },
	{ .key = "relay_public_key", .type = CFG_STRING,
	  .offset = offsetof(struct op_tunnel_cfg, relay_public_key), .required = true,
	  .doc = "the relay's WireGuard public key" },
	{ .key = "relay_endpoint", .type = CFG_ADDR,
	  .offset = offsetof(struct op_tunnel_cfg, relay_endpoint), .required = true,
	  .doc = "the relay's WireGuard endpoint (the anycast VIP and port)" },
	{ .key = "relay_address", .type = CFG_IP,
	  .offset = offsetof(struct op_tunnel_cfg, relay_address), .def = "fd61:6972::1",
	  .doc = "the relay's tunnel address" },
	{ .key = "keepalive", .type = CFG_DURATION, .offset = offsetof(struct op_tunnel_cfg, keepalive),
	  .min = 1000, .max = 65535000, .def = "25s", .doc = "persistent keepalive towards the relay" },
	{ .key = "userspace", .type = CFG_ENUM, .offset = offsetof(struct op_tunnel_cfg, userspace),
	  .enums = wg_userspace_names, .def = "auto",
	  .doc = "auto: wireguard-go when the kernel lacks WireGuard; yes; no" },
	{ .key = "probe_interval", .type = CFG_DURATION,
	  .offset = offsetof(struct op_tunnel_cfg, probe_interval), .min = 0, .max = 60000,
	  .def = "500ms", .reload = true,
	  .doc = "ICMP echo to relay_address this often; 0: no probes" },
	{ .key = "probe_misses", .type = CFG_UINT, .offset = offsetof(struct op_tunnel_cfg, probe_misses),
	  .min = 1, .max = 100, .def = "3",
	  .reload = true,
	  .doc = "unanswered probes in a row that force a fresh handshake" },
	{ .key = "dead_after", .type = CFG_DURATION, .offset = offsetof(struct op_tunnel_cfg, dead_after),
	  .min = 1000, .max = 86400000, .def = "180s",
	  .reload = true,
	  .doc = "no handshake for this long: the tunnel is dead (/healthz 503)" },
	CFG_ITEMS_END
};

static const struct cfg_schema tunnel_schema = { "tunnel", sizeof(struct op_tunnel_cfg), tunnel_items };

static const struct cfg_item admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct op_admin_cfg, listen),
	  .def = "127.0.0.1:9170", .doc = "admin HTTP endpoint" },
	CFG_ITEMS_END
};

static const struct cfg_schema admin_schema = { "admin", sizeof(struct op_admin_cfg), admin_items };

static const struct cfg_item op_items[] = {
	{ .key = "listen_http", .type = CFG_ADDR, .offset = offsetof(struct op_cfg, listen_http),
	  .count = CFG_AT(struct op_cfg, listen_http_count), .def = "[\"[fd61:6972::2]:80\"]",
	  .doc = "plain HTTP from the relay (PROXY v2 first)" },
	{ .key = "listen_tls", .type = CFG_ADDR, .offset = offsetof(struct op_cfg, listen_tls),
	  .count = CFG_AT(struct op_cfg, listen_tls_count), .def = "[\"[fd61:6972::2]:443\"]",
	  .doc = "TLS from the relay (PROXY v2 first), terminated here" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct op_cfg, workers),
	  .max = 256, .def = "1", .doc = "worker threads, 0 = one per online CPU" },
	{ .key = "names", .type = CFG_STRING, .offset = offsetof(struct op_cfg, names),
	  .count = CFG_AT(struct op_cfg, names_count), .required = true,
	  .doc = "the names this operator holds; requests for others get 421" },
	{ .key = "certificates", .type = CFG_SECTION, .offset = offsetof(struct op_cfg, certificates),
	  .count = CFG_AT(struct op_cfg, certificates_count), .section = &cert_schema,
	  .doc = "TLS certificates, chosen by SNI" },
	{ .key = "routes", .type = CFG_SECTION, .offset = offsetof(struct op_cfg, routes),
	  .count = CFG_AT(struct op_cfg, routes_count), .section = &route_schema, .reload = true,
	  .required = true, .doc = "ingress rules, first match wins, the last a catch-all" },
	{ .key = "connect_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct op_cfg, connect_timeout), .min = 1, .def = "5s", .reload = true,
	  .doc = "time to connect to a local service (then 502)" },
	{ .key = "response_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct op_cfg, response_timeout), .min = 1, .def = "60s",
	  .reload = true, .doc = "time for a service's response head (then 504)" },
	{ .key = "idle_timeout", .type = CFG_DURATION, .offset = offsetof(struct op_cfg, idle_timeout),
	  .min = 1, .def = "120s", .reload = true,
	  .doc = "close a client connection idle this long" },
	{ .key = "max_request_body", .type = CFG_SIZE,
	  .offset = offsetof(struct op_cfg, max_request_body), .def = "0", .reload = true,
	  .doc = "largest request body passed to a service (413 beyond), 0 = no limit" },
	{ .key = "upstream_idle", .type = CFG_UINT, .offset = offsetof(struct op_cfg, upstream_idle),
	  .max = 4096, .def = "128", .reload = true,
	  .doc = "idle service connections kept per service and worker, 0 = none" },
	{ .key = "upstream_idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct op_cfg, upstream_idle_timeout), .min = 1, .def = "60s",
	  .reload = true, .doc = "close a pooled service connection idle this long" },
	{ .key = "access_log", .type = CFG_BOOL, .offset = offsetof(struct op_cfg, access_log),
	  .def = "true", .reload = true, .doc = "log one line per request" },
	{ .key = "drain_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct op_cfg, drain_timeout), .min = 1, .def = "10s",
	  .doc = "longest wait for requests in flight on SIGTERM" },
	{ .key = "tunnel", .type = CFG_SECTION, .offset = offsetof(struct op_cfg, tunnel), .reload = true,
	  .present = CFG_AT(struct op_cfg, tunnel_present), .section = &tunnel_schema,
	  .doc = "the WireGuard tunnel to the relay; absent: none is managed" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct op_cfg, admin),
	  .section = &admin_schema, .doc = "admin endpoint" },
	CFG_ITEMS_END
};

const struct cfg_schema op_schema = { "operator", sizeof(struct op_cfg), op_items };
