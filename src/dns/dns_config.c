/* DNS PoP configuration schema: see dns_config.h. */
#include <stddef.h>

#include "dns_config.h"

static const struct cfg_item dnssec_items[] = {
	{ .key = "enabled", .type = CFG_BOOL, .offset = offsetof(struct dns_dnssec_cfg, enabled),
	  .def = "false", .doc = "sign the zone online (ECDSA P-256)" },
	{ .key = "key_dir", .type = CFG_PATH, .offset = offsetof(struct dns_dnssec_cfg, key_dir),
	  .def = "keys", .doc = "where the zone's signing keys are kept" },
	CFG_ITEMS_END
};

static const struct cfg_schema dnssec_schema = {
	"dnssec", sizeof(struct dns_dnssec_cfg), dnssec_items
};

static const struct cfg_item zone_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct dns_zone_cfg, name),
	  .required = true, .doc = "the zone's apex" },
	{ .key = "file", .type = CFG_PATH, .offset = offsetof(struct dns_zone_cfg, file),
	  .doc = "RFC 1035 master file, loaded at start and on SIGHUP" },
	{ .key = "relay_vip", .type = CFG_IP, .offset = offsetof(struct dns_zone_cfg, relay_vip),
	  .count = CFG_AT(struct dns_zone_cfg, relay_vip_count),
	  .doc = "A/AAAA answer of every claimed name (the relay anycast addresses)" },
	{ .key = "claim_ttl", .type = CFG_DURATION, .offset = offsetof(struct dns_zone_cfg, claim_ttl),
	  .min = 1000, .max = 86400000, .def = "60s", .doc = "TTL of a claimed name's A/AAAA" },
	{ .key = "allow_transfer", .type = CFG_IP,
	  .offset = offsetof(struct dns_zone_cfg, allow_transfer),
	  .count = CFG_AT(struct dns_zone_cfg, allow_transfer_count),
	  .doc = "addresses allowed to transfer the zone (AXFR over TCP)" },
	{ .key = "dnssec", .type = CFG_SECTION, .offset = offsetof(struct dns_zone_cfg, dnssec),
	  .section = &dnssec_schema, .doc = "online signing" },
	CFG_ITEMS_END
};

static const struct cfg_schema zone_schema = { "zone", sizeof(struct dns_zone_cfg), zone_items };

static const struct cfg_item rrl_items[] = {
	{ .key = "rate", .type = CFG_UINT, .offset = offsetof(struct dns_rrl_cfg, rate),
	  .max = 1000000, .def = "0", .doc = "responses per second per client prefix, 0 = off" },
	{ .key = "slip", .type = CFG_UINT, .offset = offsetof(struct dns_rrl_cfg, slip),
	  .max = 100, .def = "2", .doc = "every Nth limited response is sent truncated" },
	{ .key = "ipv4_prefix", .type = CFG_UINT, .offset = offsetof(struct dns_rrl_cfg, ipv4_prefix),
	  .min = 8, .max = 32, .def = "24", .doc = "IPv4 client prefix length" },
	{ .key = "ipv6_prefix", .type = CFG_UINT, .offset = offsetof(struct dns_rrl_cfg, ipv6_prefix),
	  .min = 16, .max = 128, .def = "56", .doc = "IPv6 client prefix length" },
	CFG_ITEMS_END
};

static const struct cfg_schema rrl_schema = { "rrl", sizeof(struct dns_rrl_cfg), rrl_items };

static const struct cfg_item registry_items[] = {
	{ .key = "url", .type = CFG_STRING, .offset = offsetof(struct dns_registry_cfg, url),
	  .required = true, .doc = "registry base URL" },
	{ .key = "token_file", .type = CFG_PATH,
	  .offset = offsetof(struct dns_registry_cfg, token_file), .def = "registry.token",
	  .doc = "file holding the registry bearer token" },
	CFG_ITEMS_END
};

static const struct cfg_schema registry_schema = {
	"registry", sizeof(struct dns_registry_cfg), registry_items
};

static const struct cfg_item admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct dns_admin_cfg, listen),
	  .def = "127.0.0.1:9153", .doc = "admin HTTP endpoint" },
	{ .key = "token_file", .type = CFG_PATH, .offset = offsetof(struct dns_admin_cfg, token_file),
	  .doc = "bearer token for PUT/DELETE /v1/names/NAME; absent: those calls are refused" },
	CFG_ITEMS_END
};

static const struct cfg_schema admin_schema = { "admin", sizeof(struct dns_admin_cfg), admin_items };

static const struct cfg_item dns_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct dns_cfg, listen),
	  .count = CFG_AT(struct dns_cfg, listen_count), .def = "[\"127.0.0.1:5300\", \"[::1]:5300\"]",
	  .doc = "UDP and TCP addresses" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct dns_cfg, workers),
	  .max = 1024, .def = "0", .doc = "worker threads, 0 = one per online CPU" },
	{ .key = "data_dir", .type = CFG_PATH, .offset = offsetof(struct dns_cfg, data_dir),
	  .def = "/var/lib/airdress/dns", .doc = "the RocksDB zone store" },
	{ .key = "zones", .type = CFG_SECTION, .offset = offsetof(struct dns_cfg, zones),
	  .count = CFG_AT(struct dns_cfg, zones_count), .section = &zone_schema, .reload = true,
	  .doc = "authoritative zones" },
	{ .key = "cache_size", .type = CFG_SIZE, .offset = offsetof(struct dns_cfg, cache_size),
	  .min = 0, .max = 1ull << 40, .def = "64MiB", .doc = "response cache per worker (0 = none)" },
	{ .key = "nsid", .type = CFG_STRING, .offset = offsetof(struct dns_cfg, nsid),
	  .doc = "NSID sent to clients that ask (RFC 5001); absent: none" },
	{ .key = "udp_payload", .type = CFG_UINT, .offset = offsetof(struct dns_cfg, udp_payload),
	  .min = 512, .max = 4096, .def = "1232", .doc = "largest UDP answer (EDNS payload size)" },
	{ .key = "batch_wait_us", .type = CFG_UINT, .offset = offsetof(struct dns_cfg, batch_wait_us),
	  .max = 10000, .def = "0",
	  .doc = "a busy worker gathers queries this many microseconds before it answers them "
		 "(fewer wake-ups, more latency under load); 0 = answer each at once" },
	{ .key = "tcp_idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct dns_cfg, tcp_idle_timeout), .min = 100, .def = "10s",
	  .reload = true, .doc = "close an idle TCP connection after this long" },
	{ .key = "max_tcp_connections", .type = CFG_UINT,
	  .offset = offsetof(struct dns_cfg, max_tcp_connections), .min = 1, .max = 1000000,
	  .def = "10000", .doc = "TCP connections at once, whole process" },
	{ .key = "drain_timeout", .type = CFG_DURATION, .offset = offsetof(struct dns_cfg, drain_timeout),
	  .min = 1, .def = "5s", .doc = "longest wait for TCP connections on SIGTERM" },
	{ .key = "rrl", .type = CFG_SECTION, .offset = offsetof(struct dns_cfg, rrl),
	  .section = &rrl_schema, .doc = "response rate limiting" },
	{ .key = "registry", .type = CFG_SECTION, .offset = offsetof(struct dns_cfg, registry),
	  .present = CFG_AT(struct dns_cfg, registry_present), .section = &registry_schema,
	  .doc = "registry change feed (optional)" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct dns_cfg, admin),
	  .section = &admin_schema, .doc = "admin endpoint" },
	CFG_ITEMS_END
};

const struct cfg_schema dns_schema = { "dns", sizeof(struct dns_cfg), dns_items };
