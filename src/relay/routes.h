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
#include <stdint.h>
#include <sys/socket.h>

#include "nametable.h"

#define ROUTE_KEY_MAX 64 /* base64 of a 32-byte WireGuard key is 44 */

/* The value stored for a name. Its address and key never change once published (a
 * change publishes a new route); only the two counters move. A connection that
 * routed through it holds a reference (route_hold, in the reader's epoch section)
 * so its per-name count outlives a replacement of the route. */
struct route {
	struct sockaddr_storage tunnel; /* port 0: the client's port is used */
	socklen_t tunnel_len;
	char public_key[ROUTE_KEY_MAX]; /* "" when none */
	uint32_t refs;                  /* the table's reference + one per connection */
	uint32_t active;                /* client connections forwarded under the name */
};

/* Take a reference on r, found by a lookup inside a read section. */
static inline void route_hold(struct route *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

/* Drop a reference; the last one frees the route. */
void route_release(void *r);

/* Create an empty table of routes. Returns NULL on allocation failure. */
struct nametable *routes_create(void);

/* Publish name → route (address and key copied, counters fresh). Returns 0, AD_EPARSE
 * for an invalid name, -ENOMEM. */
int routes_set(struct nametable *t, const char *name, const struct route *r);
int routes_delete(struct nametable *t, const char *name);

/* Make the table hold exactly the routes of the file at path: add new names, replace
 * changed ones (an unchanged route is left as it is, counters included), delete the
 * ones no longer listed. On any error (file unreadable,
 * invalid YAML, bad name or address, a name listed twice) nothing changes, err holds
 * one line naming file:line:column, and AD_ECONFIG or -errno is returned. On success
 * *count is the number of routes. Runs on the control thread. */
int routes_load_file(struct nametable *t, const char *path, size_t *count, char *err,
		     size_t errlen);

#endif
