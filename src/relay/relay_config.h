/*
 * Relay configuration: the struct the relay's YAML file loads into, and its schema
 * (relay_config.c). Keys and defaults are those of ARCHITECTURE.md, section
 * airdress-relay; docs/relay.md has the reference.
 */
#ifndef AIRDRESS_RELAY_CONFIG_H
#define AIRDRESS_RELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct relay_wireguard_cfg {
	char *interface;
	char *private_key_file;
	unsigned listen_port;
	struct cfg_prefix address;
	int userspace;             /* enum wg_mode (wg_userspace_names) */
};

struct relay_registry_cfg {
	char *url;
	char *token_file;
};

struct relay_admin_cfg {
	struct cfg_addr listen;
};

struct relay_cfg {
	struct cfg_addr *listen_http;
	size_t listen_http_count;
	struct cfg_addr *listen_tls;
	size_t listen_tls_count;
	unsigned workers;
	uint64_t peek_timeout;     /* ms */
	uint64_t connect_timeout;  /* ms */
	uint64_t idle_timeout;     /* ms */
	uint64_t drain_timeout;    /* ms */
	unsigned max_connections;  /* client connections, whole process */
	unsigned max_peeking;      /* client connections still being read for a name */
	unsigned max_per_name;     /* client connections under one name; 0 = no limit */
	bool wireguard_present;
	struct relay_wireguard_cfg wireguard;
	char *routes_file;         /* NULL: none */
	bool registry_present;
	struct relay_registry_cfg registry;
	struct relay_admin_cfg admin;
};

extern const struct cfg_schema relay_schema;

#endif
