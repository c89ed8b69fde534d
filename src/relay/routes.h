/*
 * Routes: the relay's name → operator table. A route says where a claimed name's
 * connections go (the operator's tunnel address; the client's port is kept) and,
 * optionally, the operator's WireGuard public key.
 *
 * Routes live in a nametable (lock-free readers on every worker). They come from the
 * static routes file (routes_load_file, at start and on SIGHUP) and, later, from the
 * registry feed; both go through routes_set/routes_delete.
 *
 * The routes file:
 *   routes:
 *     - name: myapp.a.airdr.es       # exact name; any case, one trailing dot allowed
 *       tunnel: "fd61:6972::2"       # IPv6 or IPv4, no port
 *       public_key: "base64…"        # optional
 */
#ifndef AIRDRESS_RELAY_ROUTES_H
#define AIRDRESS_RELAY_ROUTES_H

#include <stddef.h>
#include <sys/socket.h>

#include "nametable.h"

#define ROUTE_KEY_MAX 64 /* base64 of a 32-byte WireGuard key is 44 */

/* The value stored for a name. Immutable once published; replaced, never edited. */
struct route {
	struct sockaddr_storage tunnel; /* port 0: the client's port is used */
	socklen_t tunnel_len;
	char public_key[ROUTE_KEY_MAX]; /* "" when none */
};

/* Create an empty table of routes. Returns NULL on allocation failure. */
struct nametable *routes_create(void);

/* Publish name → route (copied). Returns 0, AD_EPARSE for an invalid name, -ENOMEM. */
int routes_set(struct nametable *t, const char *name, const struct route *r);
int routes_delete(struct nametable *t, const char *name);

/* Make the table hold exactly the routes of the file at path: add new names, replace
 * changed ones, delete the ones no longer listed. On any error (file unreadable,
 * invalid YAML, bad name or address, a name listed twice) nothing changes, err holds
 * one line naming file:line:column, and AD_ECONFIG or -errno is returned. On success
 * *count is the number of routes. Runs on the control thread. */
int routes_load_file(struct nametable *t, const char *path, size_t *count, char *err,
		     size_t errlen);

#endif
