/*
 * WireGuard interface of the relay: creates it, sets its key, port and address, adds
 * and removes operator peers, and tears it down. Everything goes through the tools,
 * run as child processes with argv arrays (never a shell), each bounded in time:
 * `ip` (iproute2) for links and addresses, `wg` (wireguard-tools) for keys and peers,
 * and `wireguard-go` when the kernel has no WireGuard.
 *
 * Modes (wg_settings.userspace):
 *   WG_MODE_AUTO    `ip link add NAME type wireguard`; if that fails, wireguard-go
 *   WG_MODE_KERNEL  kernel only; failure is an error
 *   WG_MODE_USERSPACE  wireguard-go only
 * wireguard-go runs in the foreground as our child (WG_PROCESS_FOREGROUND=1), its
 * output on our stderr; we keep its pid and stop it in wg_iface_down.
 *
 * An interface of the same name that already exists and is WireGuard (left over by a
 * crash: kernel interfaces outlive their creator) is deleted and created anew, with a
 * warning, so no stale peer survives. One that exists and is not WireGuard is never
 * touched: wg_iface_up fails with AD_EEXISTS.
 *
 * Everything acts in the network namespace of the calling thread (children inherit it).
 * Not thread-safe: one control thread owns a struct wg_iface. The caller must not reap
 * children with waitpid(-1) or ignore SIGCHLD, or the pid of wireguard-go is lost.
 *
 * Errors: 0, -errno (-ENOENT: a tool is not installed, -ETIMEDOUT: a tool ran longer
 * than WG_CMD_TIMEOUT_MS and was killed, -EIO: a tool exited non-zero), AD_EPARSE for an
 * invalid key or argument, AD_EEXISTS, AD_EKERNEL (kernel mode asked, kernel lacks it).
 * Where an err buffer is given it receives one line naming the failing command and
 * what it wrote to stderr.
 */
#ifndef AIRDRESS_RELAY_WG_H
#define AIRDRESS_RELAY_WG_H

#include <stdbool.h>
#include <stddef.h>

#define WG_KEY_B64_LEN 44        /* base64 of a 32-byte key, one '=' of padding */
#define WG_CMD_TIMEOUT_MS 5000   /* bound on every ip/wg command */
#define WG_START_TIMEOUT_MS 5000 /* bound on wireguard-go creating its interface */
#define WG_STOP_TIMEOUT_MS 3000  /* SIGTERM → SIGKILL for wireguard-go */

enum wg_mode { WG_MODE_AUTO, WG_MODE_KERNEL, WG_MODE_USERSPACE };

/* How configs spell the modes (`userspace: auto|no|yes`), in enum wg_mode order and
 * NULL-terminated: a CFG_ENUM item with these names stores an enum wg_mode. */
extern const char *const wg_userspace_names[];

/* What wg_iface_up needs. Strings are borrowed for the call only. */
struct wg_settings {
	const char *interface;        /* 1..15 bytes, [A-Za-z0-9_.=+-] */
	const char *private_key_file; /* path read by `wg set ... private-key` */
	unsigned listen_port;         /* 1..65535 */
	const char *address;          /* our tunnel prefix, "fd61:6972::1/64"; NULL: none */
	enum wg_mode userspace;
};

struct wg_iface;

/* 1 if text is a WireGuard key: 44 bytes of standard base64 decoding to exactly 32
 * bytes (43 symbols, the last of which leaves zero low bits, then '='). Else 0. */
int wg_key_valid(const char *text);

/* Bring the interface up as settings say (see the top of this file): create it, set
 * private key and listen port, add the address, set it up. Returns a new handle the
 * caller owns (free it with wg_iface_down), or NULL with err (errlen bytes; NULL only
 * with errlen 0) filled; on failure whatever was created is removed again. Blocks up
 * to a few times WG_CMD_TIMEOUT_MS: call it from the control thread, not a worker. */
struct wg_iface *wg_iface_up(const struct wg_settings *s, char *err, size_t errlen);

/* Add the peer (or replace its allowed IPs) with public key public_key_b64, allowed
 * allowed_ip: one prefix or a comma-separated list, no spaces ("fd61:6972::2/128" or
 * "fd61:6972::2/128,10.201.0.2/32"). No endpoint: the operator dials in. Returns 0,
 * AD_EPARSE (bad key or prefix, nothing run), or a command error (logged). */
int wg_peer_set(struct wg_iface *w, const char *public_key_b64, const char *allowed_ip);

/* Remove the peer. Removing an absent peer is not an error. Returns as wg_peer_set. */
int wg_peer_remove(struct wg_iface *w, const char *public_key_b64);
/* wg_peer_set() for a peer we dial: its endpoint ("203.0.113.10:51820", "[2001:db8::1]:51820",
 * numeric) and a persistent keepalive in seconds (0: none), as the operator sets the
 * relay. Returns as wg_peer_set(); AD_EPARSE for a bad endpoint too. */
int wg_peer_set_endpoint(struct wg_iface *w, const char *public_key_b64, const char *allowed_ip,
			 const char *endpoint, unsigned keepalive_s);

/* What WireGuard reports about one peer (`wg show IFACE dump`). */
struct wg_peer_stats {
	long long latest_handshake; /* unix seconds; 0: never */
	unsigned long long rx_bytes, tx_bytes;
	char endpoint[64];          /* "203.0.113.10:51820", or "" when unknown */
};

/* Read the peer's counters. Returns 0, -ENOENT when the interface has no such peer,
 * AD_EPARSE for a bad key or unreadable output, or a command error (not logged: the
 * caller polls this and decides what is worth a log line). */
int wg_peer_stats(struct wg_iface *w, const char *public_key_b64, struct wg_peer_stats *out);

/* 1 if the interface exists and, in userspace mode, wireguard-go still runs; else 0. */
int wg_iface_alive(const struct wg_iface *w);

/* true when the interface is served by wireguard-go (we started it). */
bool wg_iface_userspace(const struct wg_iface *w);

/* Delete the interface, stop wireguard-go by its pid (SIGTERM, bounded wait, SIGKILL,
 * reaped), free w. NULL-safe. */
void wg_iface_down(struct wg_iface *w);

#endif
