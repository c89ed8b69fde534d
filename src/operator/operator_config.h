/*
 * Operator configuration: the struct `airdress-operator run -c FILE` loads, and its
 * schema (operator_config.c). docs/operator.md has the reference.
 */
#ifndef AIRDRESS_OPERATOR_CONFIG_H
#define AIRDRESS_OPERATOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct op_cert_cfg {
	char *name;        /* the name served ("myapp.a.airdr.es" or "*.a.airdr.es") */
	char *cert;        /* PEM chain */
	char *key;         /* PEM key */
};

struct op_route_cfg {
	char *host;        /* NULL: any host (the catch-all) */
	char *path;        /* NULL: any path; else a prefix */
	char *service;     /* "http://127.0.0.1:3000", "unix:/run/app.sock" or "http_status:404" */
};

struct op_tunnel_cfg {
	char *interface;
	char *private_key_file;
	struct cfg_prefix address;     /* our tunnel address */
	unsigned listen_port;
	char *relay_public_key;
	struct cfg_addr relay_endpoint;
	struct cfg_addr relay_address; /* the relay's tunnel address (port 0) */
	uint64_t keepalive;            /* ms */
	int userspace;                 /* enum wg_mode (wg_userspace_names) */
	uint64_t probe_interval;       /* ms; 0: no probes */
	unsigned probe_misses;         /* misses in a row before a fresh handshake */
	uint64_t dead_after;           /* ms without a handshake: dead */
};

struct op_admin_cfg {
	struct cfg_addr listen;
};

struct op_cfg {
	struct cfg_addr *listen_http;
	size_t listen_http_count;
	struct cfg_addr *listen_tls;
	size_t listen_tls_count;
	unsigned workers;
	char **names;              /* the names this operator holds (others get 421) */
	size_t names_count;
	struct op_cert_cfg *certificates;
	size_t certificates_count;
	struct op_route_cfg *routes;
	size_t routes_count;
	uint64_t connect_timeout;  /* ms, to a service */
	uint64_t response_timeout; /* ms, for a service's response head */
	uint64_t idle_timeout;     /* ms, a client connection between requests */
	uint64_t drain_timeout;    /* ms */
	uint64_t max_request_body; /* bytes; 0: no limit */
	unsigned upstream_idle;    /* idle service connections kept per service and worker */
	uint64_t upstream_idle_timeout; /* ms, an idle service connection in the pool */
	bool access_log;           /* one log line per request */
	bool tunnel_present;
	struct op_tunnel_cfg tunnel;
	struct op_admin_cfg admin;
};

extern const struct cfg_schema op_schema;

#endif
