/*
 * The operator's WireGuard tunnel to the relay, kept alive: brings the interface up
 * with the relay as its only peer, then, from the daemon's control thread, watches it.
 *
 *   probe       every probe_interval an ICMP echo to the relay's tunnel address. After
 *               probe_misses unanswered probes in a row the peer is removed and set
 *               again, which drops WireGuard's session and makes it handshake at once.
 *               This is how the operator follows an anycast move to another PoP: the
 *               new PoP shares the relay key but not the session, and a WireGuard
 *               responder never starts a handshake, so without this the operator
 *               would wait for WireGuard's own timers (15 s and more).
 *   handshake   about once a second `wg show` gives the latest handshake and the byte
 *               counters. No handshake for dead_after (since start, or since the
 *               last one) makes the tunnel DEAD: /healthz answers 503 until one comes.
 *   interface   an interface that disappeared (wireguard-go killed, link deleted) is
 *               created again, with backoff while that fails.
 *
 * Everything except tunnel_status() runs on the one control thread.
 */
#ifndef AIRDRESS_OPERATOR_TUNNEL_H
#define AIRDRESS_OPERATOR_TUNNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "operator_config.h"

struct admin;
struct metrics_slots;

enum tunnel_state {
	TUNNEL_CONNECTING, /* up, no handshake yet, started less than dead_after ago */
	TUNNEL_UP,         /* a handshake within dead_after */
	TUNNEL_DEAD,       /* no handshake for dead_after */
	TUNNEL_DOWN,       /* no interface: it could not be created (retrying) */
};

const char *tunnel_state_name(enum tunnel_state s);

/* The pure part of the watch, for tests: the state from the interface's presence and
 * the handshake times (unix seconds; last_handshake 0: never). */
enum tunnel_state tunnel_assess(bool iface_up, long long now, long long started,
				long long last_handshake, uint64_t dead_after_ms);

/* Probe bookkeeping: one result per probe_interval. Returns true when the misses in
 * a row reach the limit, and starts counting again. */
struct tunnel_probe_count {
	unsigned misses;   /* unanswered in a row */
	unsigned limit;    /* probe_misses */
};
bool tunnel_probe_result(struct tunnel_probe_count *pc, bool answered);

struct tunnel_status {
	enum tunnel_state state;
	char interface[16];
	bool userspace;
	char address[96];             /* "fd61:6972::2/64" */
	char relay[96];               /* the relay's endpoint as configured */
	char endpoint[64];            /* the endpoint WireGuard uses now, "" if none */
	long long last_handshake;     /* unix seconds, 0: never */
	unsigned long long rx_bytes, tx_bytes; /* since the peer was last set */
	long long last_rtt_us;        /* of the last answered probe, -1: none yet */
	uint64_t probes_lost, rehandshakes, restarts;
};

struct tunnel;

/* Bring the tunnel up from cfg (copied). Returns the tunnel,
 * or NULL after logging why. admin (for /healthz) and slots (control metrics) may be
 * NULL. Control thread. */
struct tunnel *tunnel_start(const struct op_tunnel_cfg *cfg, struct admin *admin,
			    struct metrics_slots *slots);

/* Periodic work; call it often (every 100 ms or so): it does what is due. cfg is the
 * running config, for the keys a reload may change (probe_interval, probe_misses,
 * dead_after); the others keep the values tunnel_start() copied. */
void tunnel_tick(struct tunnel *t, const struct op_tunnel_cfg *cfg);

/* A copy of the current status. Any thread. */
void tunnel_status(struct tunnel *t, struct tunnel_status *out);

/* Take the interface down and free t. NULL-safe. */
void tunnel_stop(struct tunnel *t);

#endif
