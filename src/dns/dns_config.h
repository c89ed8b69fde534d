/*
 * DNS PoP configuration: the struct airdress-dns's YAML file loads into, and its
 * schema (dns_config.c). Keys and defaults follow ARCHITECTURE.md, section
 * airdress-dns; docs/dns.md has the reference.
 */
#ifndef AIRDRESS_DNS_CONFIG_H
#define AIRDRESS_DNS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct dns_dnssec_cfg {
	bool enabled;
	char *key_dir;
};

struct dns_zone_cfg {
	char *name;
	char *file;                    /* NULL: the zone lives only in the store */
	struct cfg_addr *relay_vip;    /* A/AAAA of every claimed name */
	size_t relay_vip_count;
	uint64_t claim_ttl;            /* seconds, TTL of those records */
	struct cfg_addr *allow_transfer;
	size_t allow_transfer_count;
	struct dns_dnssec_cfg dnssec;
};

struct dns_rrl_cfg {
	unsigned rate;
	unsigned slip;
	unsigned ipv4_prefix;
	unsigned ipv6_prefix;
};

struct dns_registry_cfg {
	char *url;
	char *token_file;
};

struct dns_admin_cfg {
	struct cfg_addr listen;
	char *token_file;              /* bearer token for PUT/DELETE /v1/names */
};

struct dns_cfg {
	struct cfg_addr *listen;
	size_t listen_count;
	unsigned workers;
	char *data_dir;
	struct dns_zone_cfg *zones;
	size_t zones_count;
	uint64_t cache_size;           /* bytes per worker */
	char *nsid;                    /* NULL: no NSID */
	unsigned udp_payload;          /* our EDNS payload size */
	unsigned batch_wait_us;        /* loop_config.batch_wait_us */
	uint64_t tcp_idle_timeout;     /* ms */
	unsigned max_tcp_connections;  /* whole process */
	uint64_t drain_timeout;        /* ms */
	struct dns_rrl_cfg rrl;
	bool registry_present;
	struct dns_registry_cfg registry;
	struct dns_admin_cfg admin;
};

extern const struct cfg_schema dns_schema;

#endif
