/*
 * Config schemas shaped like the daemons' configs in ARCHITECTURE.md (dns, relay,
 * routes file, healthd), with the example files from that document verbatim. Shared by
 * tests/unit/test_config.c and tests/fuzz/fuzz_config.c so that the fuzzer runs against
 * the shapes real files have. These are test fixtures, not the daemons' own schemas.
 */
#ifndef AIRDRESS_TEST_CONFIG_SCHEMAS_H
#define AIRDRESS_TEST_CONFIG_SCHEMAS_H

#include <stddef.h>

#include "config.h"

#define TS_UNUSED __attribute__((unused))

/* ---- shared sections ---- */

struct ts_admin {
	struct cfg_addr listen;
};

static const struct cfg_item ts_admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct ts_admin, listen),
	  .def = "127.0.0.1:9153", .doc = "admin HTTP address (loopback)" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_admin_schema = { "admin", sizeof(struct ts_admin),
						   ts_admin_items };

struct ts_registry {
	char *url;
	char *token_file;
};

static const struct cfg_item ts_registry_items[] = {
	{ .key = "url", .type = CFG_STRING, .offset = offsetof(struct ts_registry, url),
	  .required = true, .reload = true, .doc = "registry base URL" },
	{ .key = "token_file", .type = CFG_PATH,
	  .offset = offsetof(struct ts_registry, token_file), .reload = true,
	  .doc = "file holding the bearer token" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_registry_schema = { "registry", sizeof(struct ts_registry),
						      ts_registry_items };

/* ---- airdress-dns ---- */

struct ts_dnssec {
	bool enabled;
	char *key_dir;
};

static const struct cfg_item ts_dnssec_items[] = {
	{ .key = "enabled", .type = CFG_BOOL, .offset = offsetof(struct ts_dnssec, enabled),
	  .def = "false", .reload = true, .doc = "sign the zone online" },
	{ .key = "key_dir", .type = CFG_PATH, .offset = offsetof(struct ts_dnssec, key_dir),
	  .def = "keys/", .reload = true, .doc = "folder of the signing keys" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_dnssec_schema = { "dnssec", sizeof(struct ts_dnssec),
						    ts_dnssec_items };

struct ts_zone {
	char *name;
	char *file;
	struct cfg_addr *relay_vip;
	size_t relay_vip_count;
	struct ts_dnssec dnssec;
};

static const struct cfg_item ts_zone_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct ts_zone, name),
	  .required = true, .doc = "zone apex" },
	{ .key = "file", .type = CFG_PATH, .offset = offsetof(struct ts_zone, file),
	  .required = true, .doc = "RFC 1035 master file" },
	{ .key = "relay_vip", .type = CFG_IP, .offset = offsetof(struct ts_zone, relay_vip),
	  .count = CFG_AT(struct ts_zone, relay_vip_count), .doc = "A/AAAA of claimed names" },
	{ .key = "dnssec", .type = CFG_SECTION, .offset = offsetof(struct ts_zone, dnssec),
	  .section = &ts_dnssec_schema, .doc = "DNSSEC signing" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_zone_schema = { "zone", sizeof(struct ts_zone),
						  ts_zone_items };

struct ts_rrl {
	unsigned rate, slip, ipv4_prefix, ipv6_prefix;
};

static const struct cfg_item ts_rrl_items[] = {
	{ .key = "rate", .type = CFG_UINT, .offset = offsetof(struct ts_rrl, rate),
	  .def = "0", .reload = true, .doc = "responses per second per prefix, 0 = off" },
	{ .key = "slip", .type = CFG_UINT, .offset = offsetof(struct ts_rrl, slip),
	  .max = 100, .def = "2", .reload = true, .doc = "every Nth limited answer is TC" },
	{ .key = "ipv4_prefix", .type = CFG_UINT, .offset = offsetof(struct ts_rrl, ipv4_prefix),
	  .min = 1, .max = 32, .def = "24", .reload = true, .doc = "IPv4 prefix length" },
	{ .key = "ipv6_prefix", .type = CFG_UINT, .offset = offsetof(struct ts_rrl, ipv6_prefix),
	  .min = 1, .max = 128, .def = "56", .reload = true, .doc = "IPv6 prefix length" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_rrl_schema = { "rrl", sizeof(struct ts_rrl), ts_rrl_items };

struct ts_dns {
	struct cfg_addr *listen;
	size_t listen_count;
	unsigned workers;
	char *data_dir;
	struct ts_zone *zones;
	size_t zones_count;
	struct ts_rrl rrl;
	struct ts_registry registry;
	bool has_registry;
	struct ts_admin admin;
	uint64_t drain_timeout;
};

static const struct cfg_item ts_dns_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct ts_dns, listen),
	  .count = CFG_AT(struct ts_dns, listen_count), .def = "[\"127.0.0.1:53\"]",
	  .doc = "UDP and TCP addresses" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct ts_dns, workers),
	  .max = 1024, .def = "0", .doc = "worker threads, 0 = one per CPU" },
	{ .key = "data_dir", .type = CFG_PATH, .offset = offsetof(struct ts_dns, data_dir),
	  .def = "/var/lib/airdress/dns", .doc = "RocksDB folder" },
	{ .key = "zones", .type = CFG_SECTION, .offset = offsetof(struct ts_dns, zones),
	  .count = CFG_AT(struct ts_dns, zones_count), .section = &ts_zone_schema,
	  .reload = true, .doc = "served zones" },
	{ .key = "rrl", .type = CFG_SECTION, .offset = offsetof(struct ts_dns, rrl),
	  .section = &ts_rrl_schema, .reload = true, .doc = "response rate limiting" },
	{ .key = "registry", .type = CFG_SECTION, .offset = offsetof(struct ts_dns, registry),
	  .present = CFG_AT(struct ts_dns, has_registry), .section = &ts_registry_schema,
	  .reload = true, .doc = "change feed, optional" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct ts_dns, admin),
	  .section = &ts_admin_schema, .doc = "admin HTTP" },
	{ .key = "drain_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct ts_dns, drain_timeout), .max = 3600000, .def = "10s",
	  .reload = true, .doc = "longest drain on SIGTERM" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_dns_schema TS_UNUSED = { "dns", sizeof(struct ts_dns),
							   ts_dns_items };

static const char ts_dns_example[] TS_UNUSED =
	"listen: [\"127.0.0.1:5300\", \"[::1]:5300\"]\n"
	"workers: 1\n"
	"data_dir: /var/lib/airdress/dns          # RocksDB\n"
	"zones:\n"
	"  - name: a.airdr.es\n"
	"    file: zones/a.airdr.es.zone          # RFC 1035 master file, loaded at start and on SIGHUP\n"
	"    relay_vip: [\"203.0.113.10\", \"2001:db8::10\"]   # A/AAAA answer for every claimed name\n"
	"    dnssec: { enabled: true, key_dir: keys/ }      # online signing, ECDSA P-256 (alg 13)\n"
	"rrl: { rate: 0, slip: 2, ipv4_prefix: 24, ipv6_prefix: 56 }   # rate 0 = off\n"
	"registry: { url: \"http://127.0.0.1:8700\", token_file: registry.token }   # optional change feed\n"
	"admin: { listen: \"127.0.0.1:9153\" }\n";

/* ---- airdress-relay ---- */

static const char *const ts_userspace_names[] = { "auto", "yes", "no", NULL };

struct ts_wireguard {
	char *interface;
	char *private_key_file;
	unsigned listen_port;
	struct cfg_prefix address;
	int userspace;
};

static const struct cfg_item ts_wireguard_items[] = {
	{ .key = "interface", .type = CFG_STRING,
	  .offset = offsetof(struct ts_wireguard, interface), .def = "airdress0",
	  .doc = "WireGuard interface name" },
	{ .key = "private_key_file", .type = CFG_PATH,
	  .offset = offsetof(struct ts_wireguard, private_key_file), .required = true,
	  .doc = "relay private key" },
	{ .key = "listen_port", .type = CFG_UINT,
	  .offset = offsetof(struct ts_wireguard, listen_port), .min = 1, .max = 65535,
	  .def = "51820", .doc = "UDP port" },
	{ .key = "address", .type = CFG_PREFIX, .offset = offsetof(struct ts_wireguard, address),
	  .def = "\"fd61:6972::1/64\"", .doc = "interface address" },
	{ .key = "userspace", .type = CFG_ENUM, .offset = offsetof(struct ts_wireguard, userspace),
	  .enums = ts_userspace_names, .def = "auto",
	  .doc = "wireguard-go: auto = when the kernel lacks WireGuard" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_wireguard_schema = { "wireguard",
						       sizeof(struct ts_wireguard),
						       ts_wireguard_items };

struct ts_relay {
	struct cfg_addr *listen_http;
	size_t listen_http_count;
	struct cfg_addr *listen_tls;
	size_t listen_tls_count;
	unsigned workers;
	uint64_t peek_timeout, idle_timeout;
	uint64_t peek_max;
	struct ts_wireguard wireguard;
	bool has_wireguard;
	char *routes_file;
	struct ts_registry registry;
	struct ts_admin admin;
};

static const struct cfg_item ts_relay_items[] = {
	{ .key = "listen_http", .type = CFG_ADDR, .offset = offsetof(struct ts_relay, listen_http),
	  .count = CFG_AT(struct ts_relay, listen_http_count), .def = "[\"0.0.0.0:80\"]",
	  .doc = "HTTP (Host) addresses" },
	{ .key = "listen_tls", .type = CFG_ADDR, .offset = offsetof(struct ts_relay, listen_tls),
	  .count = CFG_AT(struct ts_relay, listen_tls_count), .def = "[\"0.0.0.0:443\"]",
	  .doc = "TLS (SNI) addresses" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct ts_relay, workers),
	  .max = 1024, .def = "0", .doc = "worker threads, 0 = one per CPU" },
	{ .key = "peek_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct ts_relay, peek_timeout), .min = 1, .max = 60000,
	  .def = "5s", .reload = true, .doc = "time to read the Host or SNI" },
	{ .key = "idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct ts_relay, idle_timeout), .def = "300s", .reload = true,
	  .doc = "close a connection idle this long" },
	{ .key = "peek_max", .type = CFG_SIZE, .offset = offsetof(struct ts_relay, peek_max),
	  .min = 512, .max = 65536, .def = "16KiB", .reload = true,
	  .doc = "longest ClientHello or request head" },
	{ .key = "wireguard", .type = CFG_SECTION, .offset = offsetof(struct ts_relay, wireguard),
	  .present = CFG_AT(struct ts_relay, has_wireguard), .section = &ts_wireguard_schema,
	  .doc = "the relay's WireGuard interface; none: no interface managed" },
	{ .key = "routes_file", .type = CFG_PATH, .offset = offsetof(struct ts_relay, routes_file),
	  .reload = true, .doc = "static routes, optional" },
	{ .key = "registry", .type = CFG_SECTION, .offset = offsetof(struct ts_relay, registry),
	  .section = &ts_registry_schema, .reload = true, .doc = "change feed, optional" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct ts_relay, admin),
	  .section = &ts_admin_schema, .doc = "admin HTTP" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_relay_schema TS_UNUSED = { "relay", sizeof(struct ts_relay),
							     ts_relay_items };

static const char ts_relay_example[] TS_UNUSED =
	"listen_http: [\"0.0.0.0:80\"]\n"
	"listen_tls:  [\"0.0.0.0:443\"]\n"
	"workers: 0\n"
	"peek_timeout: 5s\n"
	"idle_timeout: 300s\n"
	"wireguard: { interface: airdress0, private_key_file: relay.key, listen_port: 51820,\n"
	"             address: \"fd61:6972::1/64\", userspace: auto }   # auto: wireguard-go when the kernel lacks WireGuard\n"
	"routes_file: routes.yaml      # static routes, optional; format below\n"
	"registry: { url: \"http://127.0.0.1:8700\", token_file: registry.token }\n"
	"admin: { listen: \"127.0.0.1:9180\" }\n";

struct ts_route {
	char *name;
	struct cfg_addr tunnel;
	char *public_key;
};

static const struct cfg_item ts_route_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct ts_route, name),
	  .required = true, .doc = "exact name, lowercase" },
	{ .key = "tunnel", .type = CFG_IP, .offset = offsetof(struct ts_route, tunnel),
	  .required = true, .doc = "where to connect" },
	{ .key = "public_key", .type = CFG_STRING, .offset = offsetof(struct ts_route, public_key),
	  .doc = "operator's WireGuard key, optional" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_route_schema = { "route", sizeof(struct ts_route),
						   ts_route_items };

struct ts_routes {
	struct ts_route *routes;
	size_t routes_count;
};

static const struct cfg_item ts_routes_items[] = {
	{ .key = "routes", .type = CFG_SECTION, .offset = offsetof(struct ts_routes, routes),
	  .count = CFG_AT(struct ts_routes, routes_count), .section = &ts_route_schema,
	  .reload = true, .doc = "static routes" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_routes_schema TS_UNUSED = { "routes",
							      sizeof(struct ts_routes),
							      ts_routes_items };

static const char ts_routes_example[] TS_UNUSED =
	"routes:\n"
	"  - name: myapp.a.airdr.es       # exact name, lowercase\n"
	"    tunnel: \"fd61:6972::2\"       # where to connect (IPv6 or IPv4), on the client's port\n"
	"    public_key: \"base64…\"        # optional: the operator's WireGuard key, added as a peer\n";

/* ---- airdress-healthd ---- */

static const char *const ts_check_types[] = { "http", "tcp", "dns", NULL };

struct ts_check {
	int type;
	char *url;
	struct cfg_addr address;
	struct cfg_addr server;
	char *query;
	uint64_t timeout;
};

static const struct cfg_item ts_check_items[] = {
	{ .key = "type", .type = CFG_ENUM, .offset = offsetof(struct ts_check, type),
	  .enums = ts_check_types, .required = true, .doc = "probe kind" },
	{ .key = "url", .type = CFG_STRING, .offset = offsetof(struct ts_check, url),
	  .doc = "http: URL to GET" },
	{ .key = "address", .type = CFG_ADDR, .offset = offsetof(struct ts_check, address),
	  .doc = "tcp: address to connect to" },
	{ .key = "server", .type = CFG_ADDR, .offset = offsetof(struct ts_check, server),
	  .doc = "dns: server to query" },
	{ .key = "query", .type = CFG_STRING, .offset = offsetof(struct ts_check, query),
	  .doc = "dns: \"NAME TYPE\"" },
	{ .key = "timeout", .type = CFG_DURATION, .offset = offsetof(struct ts_check, timeout),
	  .min = 1, .max = 60000, .def = "500ms", .doc = "probe timeout" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_check_schema = { "check", sizeof(struct ts_check),
						   ts_check_items };

struct ts_healthd {
	struct ts_check *checks;
	size_t checks_count;
	uint64_t interval, fast_interval, drain_delay;
	unsigned rise, fall;
	struct cfg_prefix *prefixes;
	size_t prefixes_count;
	char *community;
	char *disable_file;
};

static const struct cfg_item ts_healthd_items[] = {
	{ .key = "checks", .type = CFG_SECTION, .offset = offsetof(struct ts_healthd, checks),
	  .count = CFG_AT(struct ts_healthd, checks_count), .section = &ts_check_schema,
	  .reload = true, .doc = "probes, all must pass" },
	{ .key = "interval", .type = CFG_DURATION, .offset = offsetof(struct ts_healthd, interval),
	  .min = 10, .def = "2s", .reload = true, .doc = "probe interval" },
	{ .key = "fast_interval", .type = CFG_DURATION,
	  .offset = offsetof(struct ts_healthd, fast_interval), .min = 10, .def = "250ms",
	  .reload = true, .doc = "probe interval while rising or falling" },
	{ .key = "rise", .type = CFG_UINT, .offset = offsetof(struct ts_healthd, rise), .min = 1,
	  .max = 100, .def = "2", .reload = true, .doc = "successes before announcing" },
	{ .key = "fall", .type = CFG_UINT, .offset = offsetof(struct ts_healthd, fall), .min = 1,
	  .max = 100, .def = "2", .reload = true, .doc = "failures before withdrawing" },
	{ .key = "prefixes", .type = CFG_PREFIX, .offset = offsetof(struct ts_healthd, prefixes),
	  .count = CFG_AT(struct ts_healthd, prefixes_count), .required = true,
	  .doc = "announced prefixes" },
	{ .key = "community", .type = CFG_STRING,
	  .offset = offsetof(struct ts_healthd, community), .reload = true,
	  .doc = "BGP community added to announcements" },
	{ .key = "disable_file", .type = CFG_PATH,
	  .offset = offsetof(struct ts_healthd, disable_file),
	  .def = "/run/airdress/healthd.disable", .reload = true,
	  .doc = "drain while this file exists" },
	{ .key = "drain_delay", .type = CFG_DURATION,
	  .offset = offsetof(struct ts_healthd, drain_delay), .def = "30s", .reload = true,
	  .doc = "announce with GRACEFUL_SHUTDOWN this long before withdrawing" },
	CFG_ITEMS_END
};
static const struct cfg_schema ts_healthd_schema TS_UNUSED = { "healthd",
							       sizeof(struct ts_healthd),
							       ts_healthd_items };

static const char ts_healthd_example[] TS_UNUSED =
	"checks:\n"
	"  - { type: http, url: \"http://127.0.0.1:9180/healthz\", timeout: 500ms }\n"
	"  - { type: tcp,  address: \"127.0.0.1:443\", timeout: 500ms }\n"
	"  - { type: dns,  server: \"127.0.0.1:53\", query: \"a.airdr.es SOA\", timeout: 500ms }   # on DNS PoPs\n"
	"interval: 2s\n"
	"fast_interval: 250ms       # while rising or falling\n"
	"rise: 2\n"
	"fall: 2\n"
	"prefixes: [\"203.0.113.0/24\", \"2001:db8:a1d::/48\"]\n"
	"community: \"65000:1\"       # optional, added to every announcement\n"
	"disable_file: /run/airdress/healthd.disable\n"
	"drain_delay: 30s\n";

#endif
