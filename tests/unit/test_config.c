/*
 * Unit tests for config.c: a schema using every item type, a nested section and a list
 * of sections; good files in block and flow style; defaults; relative paths; every kind
 * of error with its exact "file:line:column: ..." text; hostile YAML; free, reload merge,
 * -t and the reference table. The ARCHITECTURE.md examples load with schemas shaped
 * like the daemons' (tests/support/config_schemas.h).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "sockaddr.h"

#include "../support/config_schemas.h"

/* ---- the test schema: every type ---- */

static const char *const mode_names[] = { "auto", "kernel", "userspace", NULL };

struct t_dnssec {
	bool enabled;
	char *key_dir;
};

static const struct cfg_item t_dnssec_items[] = {
	{ .key = "enabled", .type = CFG_BOOL, .offset = offsetof(struct t_dnssec, enabled),
	  .def = "false", .reload = true, .doc = "sign online" },
	{ .key = "key_dir", .type = CFG_PATH, .offset = offsetof(struct t_dnssec, key_dir),
	  .def = "keys/", .reload = true, .doc = "key folder" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_dnssec_schema = { "dnssec", sizeof(struct t_dnssec),
						   t_dnssec_items };

struct t_zone {
	char *name;
	char *file;
	struct cfg_addr *relay_vip;
	size_t relay_vip_count;
	struct t_dnssec dnssec;
};

static const struct cfg_item t_zone_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct t_zone, name),
	  .required = true, .doc = "zone apex" },
	{ .key = "file", .type = CFG_PATH, .offset = offsetof(struct t_zone, file),
	  .doc = "zone file" },
	{ .key = "relay_vip", .type = CFG_IP, .offset = offsetof(struct t_zone, relay_vip),
	  .count = CFG_AT(struct t_zone, relay_vip_count), .doc = "answer addresses" },
	{ .key = "dnssec", .type = CFG_SECTION, .offset = offsetof(struct t_zone, dnssec),
	  .section = &t_dnssec_schema, .doc = "signing" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_zone_schema = { "zone", sizeof(struct t_zone), t_zone_items };

struct t_admin {
	struct cfg_addr listen;
};

static const struct cfg_item t_admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct t_admin, listen),
	  .def = "127.0.0.1:9153", .doc = "admin address" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_admin_schema = { "admin", sizeof(struct t_admin),
						  t_admin_items };

struct t_wg {
	char *interface;
	char *private_key_file;
	unsigned listen_port;
};

static const struct cfg_item t_wg_items[] = {
	{ .key = "interface", .type = CFG_STRING, .offset = offsetof(struct t_wg, interface),
	  .def = "airdress0", .doc = "interface" },
	{ .key = "private_key_file", .type = CFG_PATH,
	  .offset = offsetof(struct t_wg, private_key_file), .required = true, .doc = "key" },
	{ .key = "listen_port", .type = CFG_UINT, .offset = offsetof(struct t_wg, listen_port),
	  .min = 1, .max = 65535, .def = "51820", .doc = "port" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_wg_schema = { "wireguard", sizeof(struct t_wg), t_wg_items };

struct t_cfg {
	struct cfg_addr *listen;
	size_t listen_count;
	unsigned workers;
	bool verbose;
	char *name;
	char *data_dir;
	uint64_t peek_timeout;
	uint64_t idle_timeout;
	uint64_t buffer;
	uint64_t cache;
	int mode;
	struct cfg_addr upstream;
	struct cfg_addr vip;
	struct cfg_prefix prefix;
	char **tags;
	size_t tags_count;
	uint64_t *intervals;
	size_t intervals_count;
	struct t_zone *zones;
	size_t zones_count;
	struct t_admin admin;
	bool admin_set;
	struct t_wg wireguard;
	bool has_wireguard;
};

static const struct cfg_item t_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct t_cfg, listen),
	  .count = CFG_AT(struct t_cfg, listen_count),
	  .def = "[\"127.0.0.1:5300\", \"[::1]:5300\"]", .doc = "listening addresses" },
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct t_cfg, workers),
	  .max = 1024, .def = "0", .doc = "worker threads, 0 = one per CPU" },
	{ .key = "verbose", .type = CFG_BOOL, .offset = offsetof(struct t_cfg, verbose),
	  .def = "false", .reload = true, .doc = "log more" },
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct t_cfg, name),
	  .required = true, .reload = true, .doc = "PoP name" },
	{ .key = "data_dir", .type = CFG_PATH, .offset = offsetof(struct t_cfg, data_dir),
	  .def = "data", .doc = "state folder" },
	{ .key = "peek_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct t_cfg, peek_timeout), .min = 1, .max = 3600000, .def = "5s",
	  .reload = true, .doc = "time | to peek" },
	{ .key = "idle_timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct t_cfg, idle_timeout), .def = "300s", .reload = true,
	  .doc = "idle close" },
	{ .key = "buffer", .type = CFG_SIZE, .offset = offsetof(struct t_cfg, buffer),
	  .min = 512, .max = 1 << 20, .def = "4KiB", .doc = "buffer size" },
	{ .key = "cache", .type = CFG_SIZE, .offset = offsetof(struct t_cfg, cache),
	  .def = "64MiB", .reload = true, .doc = "cache size" },
	{ .key = "mode", .type = CFG_ENUM, .offset = offsetof(struct t_cfg, mode),
	  .enums = mode_names, .def = "auto", .doc = "WireGuard mode" },
	{ .key = "upstream", .type = CFG_ADDR, .offset = offsetof(struct t_cfg, upstream),
	  .reload = true, .doc = "upstream server" },
	{ .key = "vip", .type = CFG_IP, .offset = offsetof(struct t_cfg, vip),
	  .def = "203.0.113.1", .reload = true, .doc = "anycast address" },
	{ .key = "prefix", .type = CFG_PREFIX, .offset = offsetof(struct t_cfg, prefix),
	  .def = "\"fd61:6972::/64\"", .doc = "tunnel prefix" },
	{ .key = "tags", .type = CFG_STRING, .offset = offsetof(struct t_cfg, tags),
	  .count = CFG_AT(struct t_cfg, tags_count), .reload = true, .doc = "labels" },
	{ .key = "intervals", .type = CFG_DURATION, .offset = offsetof(struct t_cfg, intervals),
	  .count = CFG_AT(struct t_cfg, intervals_count), .def = "[1s]", .reload = true,
	  .doc = "probe intervals" },
	{ .key = "zones", .type = CFG_SECTION, .offset = offsetof(struct t_cfg, zones),
	  .count = CFG_AT(struct t_cfg, zones_count), .section = &t_zone_schema, .reload = true,
	  .doc = "zones" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct t_cfg, admin),
	  .present = CFG_AT(struct t_cfg, admin_set), .section = &t_admin_schema,
	  .reload = true, .doc = "admin HTTP" },
	{ .key = "wireguard", .type = CFG_SECTION, .offset = offsetof(struct t_cfg, wireguard),
	  .present = CFG_AT(struct t_cfg, has_wireguard), .section = &t_wg_schema,
	  .doc = "WireGuard interface" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_schema = { "test", sizeof(struct t_cfg), t_items };

/* A schema without required keys, for the empty-file rule. */
struct t_small {
	unsigned workers;
	struct t_admin admin;
};
static const struct cfg_item t_small_items[] = {
	{ .key = "workers", .type = CFG_UINT, .offset = offsetof(struct t_small, workers),
	  .def = "2", .doc = "workers" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct t_small, admin),
	  .section = &t_admin_schema, .doc = "admin" },
	CFG_ITEMS_END
};
static const struct cfg_schema t_small_schema = { "small", sizeof(struct t_small),
						  t_small_items };

/* ---- helpers ---- */

static char errbuf[CFG_ERRLEN];

static int load(const struct cfg_schema *schema, void *out, const char *yaml,
		const char *basedir)
{
	return cfg_load_buffer(schema, out, "test.yaml", yaml, strlen(yaml), basedir, errbuf,
			       sizeof(errbuf));
}

static void load_ok(const struct cfg_schema *schema, void *out, const char *yaml,
		    const char *basedir)
{
	int ret = load(schema, out, yaml, basedir);
	cr_assert_eq(ret, 0, "load failed (%d): %s", ret, errbuf);
	cr_assert_str_eq(errbuf, "");
}

/* The load fails with AD_ECONFIG and exactly this message; the struct is left zeroed. */
static void load_err(const char *yaml, const char *want)
{
	struct t_cfg cfg;
	memset(&cfg, 0xa5, sizeof(cfg));
	int ret = load(&t_schema, &cfg, yaml, "/etc/airdress");
	cr_assert_eq(ret, AD_ECONFIG, "ret %d for:\n%s", ret, yaml);
	cr_assert_str_eq(errbuf, want, "for:\n%s\ngot:  %s\nwant: %s", yaml, errbuf, want);
	static const struct t_cfg zero;
	cr_assert(memcmp(&cfg, &zero, sizeof(cfg)) == 0, "struct not zeroed after an error");
}

static void assert_addr(const struct cfg_addr *a, const char *want)
{
	char buf[SOCKADDR_STRLEN];
	cr_assert_eq(sockaddr_format((const struct sockaddr *)&a->addr, a->len, buf,
				     sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
}

static void assert_prefix(const struct cfg_prefix *p, const char *want_ip, unsigned len)
{
	char buf[SOCKADDR_STRLEN + 8];
	char ip[INET6_ADDRSTRLEN];
	const void *raw = p->addr.addr.ss_family == AF_INET
				  ? (const void *)&((const struct sockaddr_in *)&p->addr.addr)->sin_addr
				  : (const void *)&((const struct sockaddr_in6 *)&p->addr.addr)->sin6_addr;
	cr_assert_not_null(inet_ntop(p->addr.addr.ss_family, raw, ip, sizeof(ip)));
	snprintf(buf, sizeof(buf), "%s/%u", ip, p->prefixlen);
	char want[SOCKADDR_STRLEN + 8];
	snprintf(want, sizeof(want), "%s/%u", want_ip, len);
	cr_assert_str_eq(buf, want);
}

static void quiet(void)
{
	log_set_level(LOG_LEVEL_ERROR);
}

TestSuite(config, .init = quiet);

/* ---- good files ---- */

static const char good_block[] =
	"# a config using every type\n"
	"listen:\n"
	"  - 127.0.0.1:5300\n"
	"  - \"[::1]:5301\"\n"
	"workers: 4\n"
	"verbose: yes\n"
	"name: pop1\n"
	"data_dir: /var/lib/airdress\n"
	"peek_timeout: 250ms\n"
	"idle_timeout: 1h30m\n"
	"buffer: 16KiB\n"
	"cache: 1GiB\n"
	"mode: kernel\n"
	"upstream: \"[2001:db8::1]:53\"\n"
	"vip: 203.0.113.10\n"
	"prefix: 2001:db8:a1d::/48\n"
	"tags:\n"
	"  - alpha\n"
	"  - 'beta gamma'\n"
	"intervals: [2s, 250ms]\n"
	"zones:\n"
	"  - name: a.airdr.es\n"
	"    file: /zones/a.zone\n"
	"    relay_vip: [\"203.0.113.10\", \"2001:db8::10\"]\n"
	"    dnssec:\n"
	"      enabled: true\n"
	"      key_dir: /keys\n"
	"  - name: b.airdr.es\n"
	"    file: /zones/b.zone\n"
	"    relay_vip: 192.0.2.1\n"
	"admin:\n"
	"  listen: 127.0.0.1:9999\n"
	"wireguard:\n"
	"  private_key_file: /etc/relay.key\n"
	"  listen_port: 51821\n";

static const char good_flow[] =
	"{ listen: [127.0.0.1:5300, \"[::1]:5301\"], workers: 4, verbose: yes, name: pop1,\n"
	"  data_dir: /var/lib/airdress, peek_timeout: 250ms, idle_timeout: 1h30m,\n"
	"  buffer: 16KiB, cache: 1GiB, mode: kernel, upstream: \"[2001:db8::1]:53\",\n"
	"  vip: 203.0.113.10, prefix: 2001:db8:a1d::/48, tags: [alpha, 'beta gamma'],\n"
	"  intervals: [2s, 250ms],\n"
	"  zones: [ { name: a.airdr.es, file: /zones/a.zone,\n"
	"             relay_vip: [\"203.0.113.10\", \"2001:db8::10\"],\n"
	"             dnssec: { enabled: true, key_dir: /keys } },\n"
	"           { name: b.airdr.es, file: /zones/b.zone, relay_vip: 192.0.2.1 } ],\n"
	"  admin: { listen: \"127.0.0.1:9999\" },\n"
	"  wireguard: { private_key_file: /etc/relay.key, listen_port: 51821 } }\n";

static void check_good(const struct t_cfg *c)
{
	cr_assert_eq(c->listen_count, 2);
	assert_addr(&c->listen[0], "127.0.0.1:5300");
	assert_addr(&c->listen[1], "[::1]:5301");
	cr_assert_eq(c->listen[0].len, sizeof(struct sockaddr_in));
	cr_assert_eq(c->listen[1].len, sizeof(struct sockaddr_in6));
	cr_assert_eq(c->workers, 4);
	cr_assert(c->verbose);
	cr_assert_str_eq(c->name, "pop1");
	cr_assert_str_eq(c->data_dir, "/var/lib/airdress");
	cr_assert_eq(c->peek_timeout, 250);
	cr_assert_eq(c->idle_timeout, 5400000);
	cr_assert_eq(c->buffer, 16384);
	cr_assert_eq(c->cache, 1ULL << 30);
	cr_assert_eq(c->mode, 1);
	assert_addr(&c->upstream, "[2001:db8::1]:53");
	assert_addr(&c->vip, "203.0.113.10:0");
	assert_prefix(&c->prefix, "2001:db8:a1d::", 48);
	cr_assert_eq(c->tags_count, 2);
	cr_assert_str_eq(c->tags[0], "alpha");
	cr_assert_str_eq(c->tags[1], "beta gamma");
	cr_assert_eq(c->intervals_count, 2);
	cr_assert_eq(c->intervals[0], 2000);
	cr_assert_eq(c->intervals[1], 250);
	cr_assert_eq(c->zones_count, 2);
	cr_assert_str_eq(c->zones[0].name, "a.airdr.es");
	cr_assert_str_eq(c->zones[0].file, "/zones/a.zone");
	cr_assert_eq(c->zones[0].relay_vip_count, 2);
	assert_addr(&c->zones[0].relay_vip[0], "203.0.113.10:0");
	assert_addr(&c->zones[0].relay_vip[1], "[2001:db8::10]:0");
	cr_assert(c->zones[0].dnssec.enabled);
	cr_assert_str_eq(c->zones[0].dnssec.key_dir, "/keys");
	cr_assert_str_eq(c->zones[1].name, "b.airdr.es");
	cr_assert_eq(c->zones[1].relay_vip_count, 1, "one bare value is a list of one");
	assert_addr(&c->zones[1].relay_vip[0], "192.0.2.1:0");
	cr_assert_not(c->zones[1].dnssec.enabled, "defaults inside list elements");
	cr_assert_str_eq(c->zones[1].dnssec.key_dir, "/etc/airdress/keys/");
	assert_addr(&c->admin.listen, "127.0.0.1:9999");
	cr_assert(c->admin_set);
	cr_assert(c->has_wireguard);
	cr_assert_str_eq(c->wireguard.interface, "airdress0");
	cr_assert_str_eq(c->wireguard.private_key_file, "/etc/relay.key");
	cr_assert_eq(c->wireguard.listen_port, 51821);
}

Test(config, good_block_style)
{
	struct t_cfg c;
	load_ok(&t_schema, &c, good_block, "/etc/airdress");
	check_good(&c);
	cfg_free(&t_schema, &c);
}

Test(config, good_flow_style)
{
	struct t_cfg c;
	load_ok(&t_schema, &c, good_flow, "/etc/airdress");
	check_good(&c);
	cfg_free(&t_schema, &c);
}

Test(config, defaults_applied)
{
	struct t_cfg c;
	load_ok(&t_schema, &c, "name: pop1\n", "/etc/airdress");
	cr_assert_eq(c.listen_count, 2);
	assert_addr(&c.listen[0], "127.0.0.1:5300");
	assert_addr(&c.listen[1], "[::1]:5300");
	cr_assert_eq(c.workers, 0);
	cr_assert_not(c.verbose);
	cr_assert_str_eq(c.data_dir, "/etc/airdress/data", "default paths are resolved too");
	cr_assert_eq(c.peek_timeout, 5000);
	cr_assert_eq(c.idle_timeout, 300000);
	cr_assert_eq(c.buffer, 4096);
	cr_assert_eq(c.cache, 64ULL << 20);
	cr_assert_eq(c.mode, 0);
	cr_assert_eq(c.upstream.len, 0, "no default: zero");
	assert_addr(&c.vip, "203.0.113.1:0");
	assert_prefix(&c.prefix, "fd61:6972::", 64);
	cr_assert_eq(c.tags_count, 0);
	cr_assert_null(c.tags);
	cr_assert_eq(c.intervals_count, 1);
	cr_assert_eq(c.intervals[0], 1000);
	cr_assert_eq(c.zones_count, 0);
	cr_assert_null(c.zones);
	assert_addr(&c.admin.listen, "127.0.0.1:9153");
	cr_assert_not(c.admin_set);
	cr_assert_not(c.has_wireguard);
	cr_assert_str_eq(c.wireguard.interface, "airdress0", "defaults of an absent section");
	cr_assert_null(c.wireguard.private_key_file, "absent section: required not checked");
	cr_assert_eq(c.wireguard.listen_port, 51820);
	cfg_free(&t_schema, &c);
}

Test(config, set_defaults)
{
	struct t_cfg c;
	cr_assert_eq(cfg_set_defaults(&t_schema, &c, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_null(c.name, "required, no default");
	cr_assert_str_eq(c.data_dir, "data", "no basedir: relative paths stay relative");
	cr_assert_eq(c.peek_timeout, 5000);
	cr_assert_eq(c.listen_count, 2);
	cfg_free(&t_schema, &c);
}

Test(config, null_values)
{
	struct t_cfg c;
	/* A null section is an empty mapping, a null list an empty list. */
	load_ok(&t_schema, &c, "name: x\nadmin:\ntags: ~\nlisten: null\nzones:\n", NULL);
	assert_addr(&c.admin.listen, "127.0.0.1:9153");
	cr_assert(c.admin_set);
	cr_assert_eq(c.tags_count, 0);
	cr_assert_eq(c.listen_count, 0);
	cr_assert_eq(c.zones_count, 0);
	cfg_free(&t_schema, &c);
	/* Quoted "null" and "" are strings. */
	load_ok(&t_schema, &c, "name: \"null\"\ntags: ['', \"~\"]\n", NULL);
	cr_assert_str_eq(c.name, "null");
	cr_assert_eq(c.tags_count, 2);
	cr_assert_str_eq(c.tags[0], "");
	cr_assert_str_eq(c.tags[1], "~");
	cfg_free(&t_schema, &c);
}

Test(config, scalar_forms)
{
	struct t_cfg c;
	/* Quoting never changes a value; booleans in any case; a document marker. */
	load_ok(&t_schema, &c,
		"%YAML 1.1\n---\nname: 'x'\nworkers: \"1024\"\nverbose: ON\n"
		"peek_timeout: '1h'\nbuffer: \"512\"\nvip: \"2001:db8::1\"\n"
		"prefix: 10.0.0.1/8\nlisten: 0.0.0.0:0\n...\n",
		NULL);
	cr_assert_eq(c.workers, 1024);
	cr_assert(c.verbose);
	cr_assert_eq(c.peek_timeout, 3600000);
	cr_assert_eq(c.buffer, 512);
	assert_addr(&c.vip, "[2001:db8::1]:0");
	assert_prefix(&c.prefix, "10.0.0.1", 8);
	cr_assert_eq(c.listen_count, 1);
	assert_addr(&c.listen[0], "0.0.0.0:0");
	cfg_free(&t_schema, &c);
	/* Long strings up to the limit, UTF-8 kept. */
	load_ok(&t_schema, &c, "name: \"Zürich ☃\"\nverbose: Off\n", NULL);
	cr_assert_str_eq(c.name, "Zürich ☃");
	cr_assert_not(c.verbose);
	cfg_free(&t_schema, &c);
}

Test(config, empty_files)
{
	struct t_small s;
	static const char *const empty[] = { "", "\n\n", "# only a comment\n", "---\n",
					     "--- ~\n", "---\n...\n" };
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		memset(&s, 0xff, sizeof(s));
		load_ok(&t_small_schema, &s, empty[i], NULL);
		cr_assert_eq(s.workers, 2);
		assert_addr(&s.admin.listen, "127.0.0.1:9153");
		cfg_free(&t_small_schema, &s);
	}
	/* With a required key, an empty file reports it at 1:1. */
	load_err("", "test.yaml:1:1: missing required key \"name\"");
	load_err("# nothing\n", "test.yaml:1:1: missing required key \"name\"");
}

Test(config, architecture_examples)
{
	struct ts_dns dns;
	load_ok(&ts_dns_schema, &dns, ts_dns_example, "/etc/airdress");
	cr_assert_eq(dns.listen_count, 2);
	assert_addr(&dns.listen[1], "[::1]:5300");
	cr_assert_eq(dns.workers, 1);
	cr_assert_eq(dns.zones_count, 1);
	cr_assert_str_eq(dns.zones[0].file, "/etc/airdress/zones/a.airdr.es.zone");
	cr_assert_eq(dns.zones[0].relay_vip_count, 2);
	cr_assert(dns.zones[0].dnssec.enabled);
	cr_assert_str_eq(dns.zones[0].dnssec.key_dir, "/etc/airdress/keys/");
	cr_assert_eq(dns.rrl.slip, 2);
	cr_assert_eq(dns.rrl.ipv6_prefix, 56);
	cr_assert(dns.has_registry);
	cr_assert_str_eq(dns.registry.url, "http://127.0.0.1:8700");
	cr_assert_str_eq(dns.registry.token_file, "/etc/airdress/registry.token");
	assert_addr(&dns.admin.listen, "127.0.0.1:9153");
	cr_assert_eq(dns.drain_timeout, 10000);
	cfg_free(&ts_dns_schema, &dns);

	struct ts_relay relay;
	load_ok(&ts_relay_schema, &relay, ts_relay_example, "/etc/airdress");
	assert_addr(&relay.listen_tls[0], "0.0.0.0:443");
	cr_assert_eq(relay.peek_timeout, 5000);
	cr_assert_eq(relay.idle_timeout, 300000);
	cr_assert_eq(relay.peek_max, 16384);
	cr_assert(relay.has_wireguard);
	cr_assert_str_eq(relay.wireguard.interface, "airdress0");
	cr_assert_str_eq(relay.wireguard.private_key_file, "/etc/airdress/relay.key");
	assert_prefix(&relay.wireguard.address, "fd61:6972::1", 64);
	cr_assert_eq(relay.wireguard.userspace, 0);
	cr_assert_str_eq(relay.routes_file, "/etc/airdress/routes.yaml");
	assert_addr(&relay.admin.listen, "127.0.0.1:9180");
	cfg_free(&ts_relay_schema, &relay);

	struct ts_routes routes;
	load_ok(&ts_routes_schema, &routes, ts_routes_example, NULL);
	cr_assert_eq(routes.routes_count, 1);
	assert_addr(&routes.routes[0].tunnel, "[fd61:6972::2]:0");
	cr_assert_str_eq(routes.routes[0].public_key, "base64…");
	cfg_free(&ts_routes_schema, &routes);

	struct ts_healthd hd;
	load_ok(&ts_healthd_schema, &hd, ts_healthd_example, NULL);
	cr_assert_eq(hd.checks_count, 3);
	cr_assert_eq(hd.checks[0].type, 0);
	cr_assert_str_eq(hd.checks[0].url, "http://127.0.0.1:9180/healthz");
	assert_addr(&hd.checks[1].address, "127.0.0.1:443");
	cr_assert_str_eq(hd.checks[2].query, "a.airdr.es SOA");
	cr_assert_eq(hd.checks[2].timeout, 500);
	cr_assert_eq(hd.fast_interval, 250);
	cr_assert_eq(hd.prefixes_count, 2);
	assert_prefix(&hd.prefixes[1], "2001:db8:a1d::", 48);
	cr_assert_str_eq(hd.community, "65000:1");
	cr_assert_eq(hd.drain_delay, 30000);
	cfg_free(&ts_healthd_schema, &hd);
}

Test(config, schema_defaults_parse)
{
	/* Every default of every schema parses: what a daemon's schema test should do. */
	const struct cfg_schema *schemas[] = { &t_schema, &t_small_schema, &ts_dns_schema,
					       &ts_relay_schema, &ts_routes_schema,
					       &ts_healthd_schema };
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		void *p = malloc(schemas[i]->size);
		cr_assert_eq(cfg_set_defaults(schemas[i], p, errbuf, sizeof(errbuf)), 0, "%s: %s",
			     schemas[i]->name, errbuf);
		cfg_free(schemas[i], p);
		free(p);
	}
}

Test(config, broken_default)
{
	struct bad {
		unsigned n;
		struct t_admin admin;
	};
	static const struct cfg_item inner[] = {
		{ .key = "listen", .type = CFG_ADDR, .offset = 0, .def = "[::1]:53" },
		CFG_ITEMS_END
	};
	static const struct cfg_schema inner_schema = { "inner", sizeof(struct t_admin),
							inner };
	static const struct cfg_item items[] = {
		{ .key = "n", .type = CFG_UINT, .offset = offsetof(struct bad, n), .max = 9,
		  .def = "10" },
		CFG_ITEMS_END
	};
	static const struct cfg_item items2[] = {
		{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct bad, admin),
		  .section = &inner_schema },
		CFG_ITEMS_END
	};
	static const struct cfg_schema s1 = { "bad", sizeof(struct bad), items };
	static const struct cfg_schema s2 = { "bad", sizeof(struct bad), items2 };
	struct bad b;
	cr_assert_eq(cfg_set_defaults(&s1, &b, errbuf, sizeof(errbuf)), AD_ECONFIG);
	cr_assert_str_eq(errbuf, "default: n: expected an unsigned integer from 0 to 9, got \"10\"");
	/* An unquoted "[::1]:53" is YAML for a list followed by junk. */
	cr_assert_eq(cfg_load_buffer(&s2, &b, "x.yaml", "", 0, NULL, errbuf, sizeof(errbuf)),
		     AD_ECONFIG);
	cr_assert_str_eq(errbuf, "default: admin.listen: invalid YAML: did not find expected "
				 "node content, while parsing a flow node that started at 1:2");
}

/* ---- relative paths ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	quiet();
	strcpy(tmpdir, "/tmp/test_config.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

Test(config, relative_paths, .init = make_tmpdir, .fini = remove_tmpdir)
{
	char dir[128], path[192], want[256];
	snprintf(dir, sizeof(dir), "%s/etc", tmpdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/pop.yaml", dir);
	write_file(path, "name: x\n"
			 "data_dir: ./state\n"
			 "zones:\n"
			 "  - { name: a, file: zones/a.zone, dnssec: { key_dir: /abs/keys } }\n"
			 "  - { name: b, file: ../b.zone, dnssec: { key_dir: . } }\n");

	struct t_cfg c;
	cr_assert_eq(cfg_load_file(&t_schema, &c, path, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	snprintf(want, sizeof(want), "%s/state", dir);
	cr_assert_str_eq(c.data_dir, want);
	snprintf(want, sizeof(want), "%s/zones/a.zone", dir);
	cr_assert_str_eq(c.zones[0].file, want);
	cr_assert_str_eq(c.zones[0].dnssec.key_dir, "/abs/keys");
	snprintf(want, sizeof(want), "%s/../b.zone", dir);
	cr_assert_str_eq(c.zones[1].file, want);
	cr_assert_str_eq(c.zones[1].dnssec.key_dir, dir);
	cfg_free(&t_schema, &c);

	/* A relative config path: the folder is made absolute from the working directory. */
	char cwd[256];
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(cfg_load_file(&t_schema, &c, "etc/pop.yaml", errbuf, sizeof(errbuf)), 0);
	snprintf(want, sizeof(want), "%s/state", dir);
	cr_assert_str_eq(c.data_dir, want);
	cfg_free(&t_schema, &c);
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(cfg_load_file(&t_schema, &c, "pop.yaml", errbuf, sizeof(errbuf)), 0);
	cr_assert_str_eq(c.data_dir, want);
	cfg_free(&t_schema, &c);
	cr_assert_eq(chdir(cwd), 0);

	/* Buffers: joined to basedir, or left alone without one. */
	load_ok(&t_schema, &c, "name: x\ndata_dir: d\n", "/srv/");
	cr_assert_str_eq(c.data_dir, "/srv/d");
	cfg_free(&t_schema, &c);
	load_ok(&t_schema, &c, "name: x\ndata_dir: d\n", "/");
	cr_assert_str_eq(c.data_dir, "/d");
	cfg_free(&t_schema, &c);
	load_ok(&t_schema, &c, "name: x\ndata_dir: d\n", NULL);
	cr_assert_str_eq(c.data_dir, "d");
	cfg_free(&t_schema, &c);
}

Test(config, file_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
	struct t_cfg c;
	char path[128], want[256];
	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	cr_assert_eq(cfg_load_file(&t_schema, &c, path, errbuf, sizeof(errbuf)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_assert_str_eq(errbuf, want);

	cr_assert_eq(cfg_load_file(&t_schema, &c, tmpdir, errbuf, sizeof(errbuf)), -EISDIR);

	/* Messages name the file as given. */
	snprintf(path, sizeof(path), "%s/relay.yaml", tmpdir);
	write_file(path, "name: x\n# workers\nworkers: many\n");
	cr_assert_eq(cfg_load_file(&t_schema, &c, path, errbuf, sizeof(errbuf)), AD_ECONFIG);
	snprintf(want, sizeof(want),
		 "%s:3:10: workers: expected an unsigned integer from 0 to 1024, got \"many\"",
		 path);
	cr_assert_str_eq(errbuf, want);
}

Test(config, check_file, .init = make_tmpdir, .fini = remove_tmpdir)
{
	char path[128], out[1024], want[512];
	snprintf(path, sizeof(path), "%s/ok.yaml", tmpdir);
	write_file(path, "name: x\n");
	FILE *f = fmemopen(out, sizeof(out), "w");
	cr_assert_eq(cfg_check_file(&t_schema, path, f), 0);
	fclose(f);
	snprintf(want, sizeof(want), "%s: configuration ok\n", path);
	cr_assert_str_eq(out, want);

	write_file(path, "name: x\nbuffer: 2MiB\n");
	f = fmemopen(out, sizeof(out), "w");
	cr_assert_eq(cfg_check_file(&t_schema, path, f), AD_ECONFIG);
	fclose(f);
	snprintf(want, sizeof(want),
		 "%s:2:9: buffer: expected a size from 512 to 1MiB, got \"2MiB\"\n", path);
	cr_assert_str_eq(out, want);
}

/* ---- errors, each message exact ---- */

Test(config, spec_example)
{
	struct t_cfg c;
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, "relay.yaml", "name: x\n\nworkers: many\n",
				     22, NULL, errbuf, sizeof(errbuf)),
		     AD_ECONFIG);
	cr_assert_str_eq(errbuf,
			 "relay.yaml:3:10: workers: expected an unsigned integer from 0 to 1024, "
			 "got \"many\"");
}

Test(config, unknown_keys)
{
	load_err("name: x\nwrokers: 4\n",
		 "test.yaml:2:1: wrokers: unknown key, did you mean \"workers\"?");
	load_err("name: x\nbogus: 4\n", "test.yaml:2:1: bogus: unknown key");
	load_err("name: x\nadmin:\n  listn: 127.0.0.1:1\n",
		 "test.yaml:3:3: admin.listn: unknown key, did you mean \"listen\"?");
	load_err("name: x\nzones:\n  - name: a\n  - name: b\n    fiel: z\n",
		 "test.yaml:5:5: zones[1].fiel: unknown key, did you mean \"file\"?");
	load_err("name: x\n\"we\\tird\": 1\n", "test.yaml:2:1: we\\x09ird: unknown key");
	load_err("name: x\n\"na\\tme\": 1\n",
		 "test.yaml:2:1: na\\x09me: unknown key, did you mean \"name\"?");
	load_err("name: x\n'': 1\n", "test.yaml:2:1: unknown key");
	load_err("? [a]\n: 1\n", "test.yaml:1:3: mapping keys must be scalars");
	load_err("{ {a: 1}: 1 }\n", "test.yaml:1:3: mapping keys must be scalars");
}

Test(config, duplicate_keys)
{
	load_err("name: x\nworkers: 1\nworkers: 2\n",
		 "test.yaml:3:1: workers: duplicate key, first given at 2:1");
	load_err("{ name: x, admin: { listen: \"1.2.3.4:5\", listen: \"1.2.3.4:6\" } }",
		 "test.yaml:1:42: admin.listen: duplicate key, first given at 1:21");
	load_err("name: x\nname: x\n", "test.yaml:2:1: name: duplicate key, first given at 1:1");
}

Test(config, wrong_types)
{
	load_err("name: x\nadmin: 127.0.0.1:9153\n",
		 "test.yaml:2:8: admin: expected a mapping, got \"127.0.0.1:9153\"");
	load_err("name: x\nadmin: [a]\n", "test.yaml:2:8: admin: expected a mapping, got a list");
	load_err("name: x\nworkers: { a: 1 }\n",
		 "test.yaml:2:10: workers: expected an unsigned integer from 0 to 1024, got a "
		 "mapping");
	load_err("name: [x]\n", "test.yaml:1:7: name: expected a string, got a list");
	load_err("name: x\nzones: a.airdr.es\n",
		 "test.yaml:2:8: zones: expected a list of mappings, got \"a.airdr.es\"");
	load_err("name: x\nzones: { name: a }\n",
		 "test.yaml:2:8: zones: expected a list of mappings, got a mapping");
	load_err("name: x\nzones: [a]\n",
		 "test.yaml:2:9: zones[0]: expected a mapping, got \"a\"");
	load_err("name: x\ntags: { a: b }\n",
		 "test.yaml:2:7: tags: expected a list, got a mapping");
	load_err("name: x\ntags: [[a]]\n", "test.yaml:2:8: tags[0]: expected a string, got a list");
	load_err("- name\n", "test.yaml:1:1: expected a mapping at the top level, got a list");
	load_err("just text\n",
		 "test.yaml:1:1: expected a mapping at the top level, got \"just text\"");
	load_err("name: x\nworkers:\n",
		 "test.yaml:2:9: workers: expected an unsigned integer from 0 to 1024, got "
		 "nothing");
	load_err("name:\n", "test.yaml:1:6: name: expected a string, got nothing");
	load_err("name: \"a\\0b\"\n", "test.yaml:1:7: name: expected a string, got \"a\\x00b\"");
	load_err("name: x\nverbose: maybe\n",
		 "test.yaml:2:10: verbose: expected true or false, got \"maybe\"");
	load_err("name: x\nverbose: 1\n", "test.yaml:2:10: verbose: expected true or false, got \"1\"");
	load_err("name: x\nmode: Kernel\n",
		 "test.yaml:2:7: mode: expected one of auto, kernel, userspace, got \"Kernel\"");
	load_err("name: x\ndata_dir: ''\n", "test.yaml:2:11: data_dir: expected a path, got \"\"");
}

Test(config, out_of_range)
{
	load_err("name: x\nworkers: 1025\n",
		 "test.yaml:2:10: workers: expected an unsigned integer from 0 to 1024, got \"1025\"");
	load_err("name: x\nworkers: 99999999999999999999999\n",
		 "test.yaml:2:10: workers: expected an unsigned integer from 0 to 1024, got "
		 "\"99999999999999999999999\"");
	load_err("name: x\nworkers: -1\n",
		 "test.yaml:2:10: workers: expected an unsigned integer from 0 to 1024, got \"-1\"");
	load_err("name: x\npeek_timeout: 2h\n",
		 "test.yaml:2:15: peek_timeout: expected a duration from 1ms to 1h, got \"2h\"");
	load_err("name: x\npeek_timeout: 0\n",
		 "test.yaml:2:15: peek_timeout: expected a duration from 1ms to 1h, got \"0\"");
	load_err("name: x\nbuffer: 511\n",
		 "test.yaml:2:9: buffer: expected a size from 512 to 1MiB, got \"511\"");
	load_err("name: x\nwireguard: { private_key_file: k, listen_port: 0 }\n",
		 "test.yaml:2:48: wireguard.listen_port: expected an unsigned integer from 1 to "
		 "65535, got \"0\"");
}

Test(config, bad_durations_and_sizes)
{
	load_err("name: x\nidle_timeout: 5 s\n",
		 "test.yaml:2:15: idle_timeout: expected a duration like 250ms, 5s, 2m or 1h, got "
		 "\"5 s\"");
	load_err("name: x\nidle_timeout: 30\n",
		 "test.yaml:2:15: idle_timeout: expected a duration like 250ms, 5s, 2m or 1h, got "
		 "\"30\"");
	load_err("name: x\nidle_timeout: 213503982335d\n",
		 "test.yaml:2:15: idle_timeout: expected a duration like 250ms, 5s, 2m or 1h, got "
		 "\"213503982335d\"");
	load_err("name: x\nintervals: [1s, 2x]\n",
		 "test.yaml:2:17: intervals[1]: expected a duration like 250ms, 5s, 2m or 1h, got "
		 "\"2x\"");
	load_err("name: x\ncache: 64KB\n",
		 "test.yaml:2:8: cache: expected a size like 4096, 64KiB, 1MiB or 1GiB, got "
		 "\"64KB\"");
	load_err("name: x\ncache: 16EiB\n",
		 "test.yaml:2:8: cache: expected a size like 4096, 64KiB, 1MiB or 1GiB, got "
		 "\"16EiB\"");
}

Test(config, bad_addresses)
{
	load_err("name: x\nlisten: [\"127.0.0.1:5300\", \"localhost:53\"]\n",
		 "test.yaml:2:28: listen[1]: expected an address with port like 127.0.0.1:53 or "
		 "[::1]:53, got \"localhost:53\"");
	load_err("name: x\nlisten: 127.0.0.1\n",
		 "test.yaml:2:9: listen: expected an address with port like 127.0.0.1:53 or "
		 "[::1]:53, got \"127.0.0.1\"");
	load_err("name: x\nupstream: \"::1:53\"\n",
		 "test.yaml:2:11: upstream: expected an address with port like 127.0.0.1:53 or "
		 "[::1]:53, got \"::1:53\"");
	load_err("name: x\nupstream: 1.2.3.4:65536\n",
		 "test.yaml:2:11: upstream: expected an address with port like 127.0.0.1:53 or "
		 "[::1]:53, got \"1.2.3.4:65536\"");
	load_err("name: x\nupstream: 1.2.3.04:53\n",
		 "test.yaml:2:11: upstream: expected an address with port like 127.0.0.1:53 or "
		 "[::1]:53, got \"1.2.3.04:53\"");
	load_err("name: x\nvip: 1.2.3.4:53\n",
		 "test.yaml:2:6: vip: expected an IP address like 192.0.2.1 or 2001:db8::1, got "
		 "\"1.2.3.4:53\"");
	load_err("name: x\nzones:\n  - name: a\n    relay_vip: [192.0.2.1, 192.0.2.300]\n",
		 "test.yaml:4:28: zones[0].relay_vip[1]: expected an IP address like 192.0.2.1 or "
		 "2001:db8::1, got \"192.0.2.300\"");
	load_err("name: x\nprefix: 10.0.0.0/33\n",
		 "test.yaml:2:9: prefix: expected an IP prefix like 192.0.2.0/24 or "
		 "2001:db8::/32, got \"10.0.0.0/33\"");
	load_err("name: x\nprefix: 10.0.0.0\n",
		 "test.yaml:2:9: prefix: expected an IP prefix like 192.0.2.0/24 or "
		 "2001:db8::/32, got \"10.0.0.0\"");
	load_err("name: x\nprefix: \"[::1]/64\"\n",
		 "test.yaml:2:9: prefix: expected an IP prefix like 192.0.2.0/24 or "
		 "2001:db8::/32, got \"[::1]/64\"");
}

Test(config, yaml_syntax_errors)
{
	load_err("name: x\nworkers: [1, 2\n",
		 "test.yaml:3:1: invalid YAML: did not find expected ',' or ']', while parsing a "
		 "flow sequence that started at 2:10");
	load_err("name: x\n  workers: 1\n",
		 "test.yaml:2:10: invalid YAML: mapping values are not allowed in this context");
	load_err("name: x\n\tworkers: 1\n",
		 "test.yaml:2:1: invalid YAML: found a tab character that violates indentation, "
		 "while scanning a plain scalar that started at 1:7");
	load_err("name: \"x\n",
		 "test.yaml:2:1: invalid YAML: found unexpected end of stream, while scanning a "
		 "quoted scalar that started at 1:7");
	load_err("name: x\nbad: \xff\n",
		 "test.yaml:2:6: invalid YAML: invalid leading UTF-8 octet");
}

Test(config, hostile_yaml)
{
	load_err("name: &n x\n", "test.yaml:1:7: YAML anchors are not allowed");
	load_err("name: x\nworkers: *w\n", "test.yaml:2:10: YAML aliases are not allowed");
	load_err("base: &b { listen: \"1.2.3.4:5\" }\nadmin: *b\n",
		 "test.yaml:1:7: YAML anchors are not allowed");
	load_err("name: x\nadmin: { <<: *b }\n", "test.yaml:2:14: YAML aliases are not allowed");
	load_err("name: x\nworkers: !!int 4\n", "test.yaml:2:10: YAML tags are not allowed");
	load_err("name: !custom x\n", "test.yaml:1:7: YAML tags are not allowed");
	load_err("name: x\n---\nname: y\n", "test.yaml:2:1: only one YAML document is allowed");

	/* Nesting: 33 levels is refused before the schema is even looked at. */
	char deep[200] = "name: x\ntags: ";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	load_err(deep, "test.yaml:2:38: nested deeper than 32 levels");

	/* Scalars over 64 KiB. */
	size_t n = CFG_MAX_SCALAR + 1;
	char *big = malloc(n + 32);
	strcpy(big, "name: ");
	memset(big + 6, 'a', n);
	strcpy(big + 6 + n, "\n");
	load_err(big, "test.yaml:1:7: scalar longer than 65536 bytes");
	big[6 + n - 1] = '\n'; /* exactly the limit is fine */
	big[6 + n] = '\0';
	struct t_cfg c;
	load_ok(&t_schema, &c, big, NULL);
	cr_assert_eq(strlen(c.name), CFG_MAX_SCALAR);
	cfg_free(&t_schema, &c);
	free(big);
}

Test(config, size_limits)
{
	struct t_cfg c;
	size_t len = (size_t)CFG_MAX_FILE + 1;
	char *data = malloc(len);
	memset(data, '#', len);
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, "big.yaml", data, len, NULL, errbuf,
				     sizeof(errbuf)),
		     AD_ETOOBIG);
	cr_assert_str_eq(errbuf, "big.yaml: larger than 16777216 bytes");
	free(data);

	/* Too many nodes: a flow list of a million and one empty strings, within size. */
	size_t count = CFG_MAX_NODES + 1;
	data = malloc(count * 3 + 64);
	char *p = data;
	p += sprintf(p, "tags: [");
	for (size_t i = 0; i < count; i++) {
		memcpy(p, "'',", 3);
		p += 3;
	}
	p += sprintf(p, "]\n");
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, "many.yaml", data, (size_t)(p - data), NULL,
				     errbuf, sizeof(errbuf)),
		     AD_ECONFIG);
	cr_assert_str_eq(errbuf, "many.yaml:1:3145727: more than 1048576 YAML nodes");
	free(data);
}

Test(config, missing_required)
{
	load_err("workers: 1\n", "test.yaml:1:1: missing required key \"name\"");
	load_err("# comment\n\n  workers: 1\n", "test.yaml:3:3: missing required key \"name\"");
	load_err("{ workers: 1 }\n", "test.yaml:1:1: missing required key \"name\"");
	load_err("name: x\nzones:\n  - name: a\n  - file: /z\n",
		 "test.yaml:4:5: zones[1]: missing required key \"name\"");
	load_err("name: x\nzones: [ {} ]\n", "test.yaml:2:10: zones[0]: missing required key \"name\"");
	load_err("name: x\nwireguard: { listen_port: 1 }\n",
		 "test.yaml:2:12: wireguard: missing required key \"private_key_file\"");
	/* A present but empty section is checked too. */
	load_err("name: x\nwireguard:\n",
		 "test.yaml:2:11: wireguard: missing required key \"private_key_file\"");
}

Test(config, escaped_values_in_messages)
{
	load_err("name: x\nmode: \"a\\\"b\\\\c\\nd\"\n",
		 "test.yaml:2:7: mode: expected one of auto, kernel, userspace, got "
		 "\"a\\\"b\\\\c\\x0ad\"");
	char long_value[200];
	snprintf(long_value, sizeof(long_value), "name: x\nmode: %0100d\n", 0);
	load_err(long_value, "test.yaml:2:7: mode: expected one of auto, kernel, userspace, got "
			     "\"0000000000000000000000000000000000000000000000000000000000000000...\"");
}

Test(config, small_error_buffers)
{
	struct t_cfg c;
	char small[16];
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, "test.yaml", "x: 1", 4, NULL, small,
				     sizeof(small)),
		     AD_ECONFIG);
	cr_assert_str_eq(small, "test.yaml:1:1: ");
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, NULL, "x: 1", 4, NULL, NULL, 0), AD_ECONFIG);
	cr_assert_eq(cfg_load_buffer(&t_schema, &c, NULL, "x: 1", 4, NULL, errbuf, sizeof(errbuf)),
		     AD_ECONFIG);
	cr_assert_str_eq(errbuf, "<config>:1:1: x: unknown key");
}

/* ---- free, reload, reference ---- */

Test(config, free_twice_and_zeroed)
{
	struct t_cfg c;
	load_ok(&t_schema, &c, good_block, NULL);
	cfg_free(&t_schema, &c);
	cr_assert_null(c.listen);
	cr_assert_eq(c.listen_count, 0);
	cr_assert_null(c.zones);
	cr_assert_null(c.name);
	cfg_free(&t_schema, &c);
	cfg_free(&t_schema, NULL);
	cfg_free(NULL, &c);
	struct t_cfg zero = { 0 };
	cfg_free(&t_schema, &zero);
}

static void capture_warnings(void)
{
	log_set_level(LOG_LEVEL_WARN);
	cr_redirect_stderr();
}

Test(config, reload_merge, .init = capture_warnings)
{
	struct t_cfg running, fresh;
	load_ok(&t_schema, &running, good_block, NULL);

	/* Same file: nothing to keep. */
	load_ok(&t_schema, &fresh, good_block, NULL);
	cr_assert_eq(cfg_reload_merge(&t_schema, &fresh, &running), 0);
	cfg_free(&t_schema, &fresh);

	/* listen, workers, data_dir, buffer, mode, prefix, admin.listen (inside a reloadable
	 * section) and wireguard need a restart; the rest reloads. */
	load_ok(&t_schema, &fresh,
		"name: pop2\nworkers: 8\nlisten: 127.0.0.1:1\nbuffer: 4KiB\npeek_timeout: 1s\n"
		"zones: [ { name: c } ]\n",
		NULL);
	cr_assert_eq(cfg_reload_merge(&t_schema, &fresh, &running), 8);
	cr_assert_eq(fresh.workers, 4);
	cr_assert_eq(fresh.listen_count, 2);
	assert_addr(&fresh.listen[1], "[::1]:5301");
	cr_assert_neq(fresh.listen, running.listen, "a deep copy");
	cr_assert_eq(fresh.buffer, 16384);
	cr_assert_str_eq(fresh.data_dir, "/var/lib/airdress");
	cr_assert_neq(fresh.data_dir, running.data_dir);
	cr_assert_eq(fresh.mode, 1);
	cr_assert_eq(fresh.prefix.prefixlen, 48);
	assert_addr(&fresh.admin.listen, "127.0.0.1:9999");
	cr_assert(fresh.has_wireguard);
	cr_assert_str_eq(fresh.wireguard.private_key_file, "/etc/relay.key");
	/* Reloadable keys keep their new values. */
	cr_assert_str_eq(fresh.name, "pop2");
	cr_assert_eq(fresh.peek_timeout, 1000);
	cr_assert_eq(fresh.zones_count, 1);
	cr_assert_str_eq(fresh.zones[0].name, "c");
	cr_assert_not(fresh.admin_set, "the section itself is reloadable");
	cfg_free(&t_schema, &running);
	/* fresh owns everything it holds. */
	cr_assert_str_eq(fresh.wireguard.interface, "airdress0");
	cfg_free(&t_schema, &fresh);

	fflush(stderr);
#define W "level=warn msg=\"config change needs a restart, old value kept\" key="
	cr_assert_stderr_eq_str(W "listen\n" W "workers\n" W "data_dir\n" W "buffer\n" W "mode\n"
				W "prefix\n" W "admin.listen\n" W "wireguard\n");
#undef W
}

Test(config, null_data_and_clamped_max)
{
	struct t_small s;
	cr_assert_eq(cfg_load_buffer(&t_small_schema, &s, NULL, NULL, 0, NULL, errbuf,
				     sizeof(errbuf)), 0);
	cr_assert_eq(s.workers, 2);
	cfg_free(&t_small_schema, &s);

	struct wide {
		unsigned n;
	};
	static const struct cfg_item items[] = {
		{ .key = "n", .type = CFG_UINT, .offset = 0, .max = UINT64_MAX },
		CFG_ITEMS_END
	};
	static const struct cfg_schema schema = { "wide", sizeof(struct wide), items };
	struct wide w;
	load_ok(&schema, &w, "n: 4294967295", NULL);
	cr_assert_eq(w.n, 4294967295u);
	cr_assert_eq(load(&schema, &w, "n: 4294967296", NULL), AD_ECONFIG);
	cr_assert_str_eq(errbuf, "test.yaml:1:4: n: expected an unsigned integer from 0 to "
				 "4294967295, got \"4294967296\"");
}

Test(config, reference_table)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cfg_print_reference(&t_schema, f);
	fclose(f);
	cr_assert(strncmp(buf, "| key | type | default | reload | description |\n|---|---|---|---|---|\n",
			  70) == 0, "%s", buf);
	static const char *const rows[] = {
		"| `listen` | list of addresses | `[\"127.0.0.1:5300\", \"[::1]:5300\"]` | no | "
		"listening addresses |\n",
		"| `workers` | unsigned integer from 0 to 1024 | `0` | no | worker threads, 0 = "
		"one per CPU |\n",
		"| `name` | string | required | yes | PoP name |\n",
		"| `peek_timeout` | duration from 1ms to 1h | `5s` | yes | time \\| to peek |\n",
		"| `buffer` | size from 512 to 1MiB | `4KiB` | no | buffer size |\n",
		"| `mode` | enum: `auto`, `kernel`, `userspace` | `auto` | no | WireGuard mode |\n",
		"| `upstream` | address | none | yes | upstream server |\n",
		"| `tags` | list of strings | none | yes | labels |\n",
		"| `zones` | list of sections | none | yes | zones |\n",
		"| `zones[].name` | string | required | no | zone apex |\n",
		"| `zones[].dnssec` | section |  | no | signing |\n",
		"| `zones[].dnssec.key_dir` | path | `keys/` | yes | key folder |\n",
		"| `admin` | section |  | yes | admin HTTP |\n",
		"| `admin.listen` | address | `127.0.0.1:9153` | no | admin address |\n",
		"| `wireguard.listen_port` | unsigned integer from 1 to 65535 | `51820` | no | port |\n",
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_assert_not_null(strstr(buf, rows[i]), "missing row %s in:\n%s", rows[i], buf);
	free(buf);
}
