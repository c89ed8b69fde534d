/* Routes: see routes.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "routes.h"

struct route_entry_cfg {
	char *name;
	struct cfg_addr tunnel;
	char *public_key;
};

struct routes_file_cfg {
	struct route_entry_cfg *routes;
	size_t count;
};

static const struct cfg_item route_items[] = {
	{ .key = "name", .type = CFG_STRING, .offset = offsetof(struct route_entry_cfg, name),
	  .required = true, .doc = "the claimed name" },
	{ .key = "tunnel", .type = CFG_IP, .offset = offsetof(struct route_entry_cfg, tunnel),
	  .required = true, .doc = "the operator's tunnel address" },
	{ .key = "public_key", .type = CFG_STRING,
	  .offset = offsetof(struct route_entry_cfg, public_key),
	  .doc = "the operator's WireGuard public key (base64)" },
	CFG_ITEMS_END
};

static const struct cfg_schema route_schema = {
	"route", sizeof(struct route_entry_cfg), route_items
};

static const struct cfg_item routes_file_items[] = {
	{ .key = "routes", .type = CFG_SECTION, .offset = offsetof(struct routes_file_cfg, routes),
	  .count = CFG_AT(struct routes_file_cfg, count), .section = &route_schema,
	  .doc = "name to operator routes" },
	CFG_ITEMS_END
};

static const struct cfg_schema routes_file_schema = {
	"routes", sizeof(struct routes_file_cfg), routes_file_items
};

void route_release(void *p)
{
	struct route *r = p;
	if (r != NULL && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(r);
}

struct nametable *routes_create(void)
{
	/* The table's reference is dropped only after every reader has left the
	 * sections that could have found the route, so a reader's route_hold never
	 * races with the free. */
	return nametable_create(0, route_release);
}

int routes_set(struct nametable *t, const char *name, const struct route *r)
{
	struct route *copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	*copy = *r;
	copy->refs = 1;
	copy->active = 0;
	int ret = nametable_set(t, name, strlen(name), copy);
	if (ret != 0)
		free(copy);
	return ret;
}

static bool route_same(const struct route *a, const struct route *b)
{
	return a->tunnel_len == b->tunnel_len && memcmp(&a->tunnel, &b->tunnel, a->tunnel_len) == 0 &&
	       strcmp(a->public_key, b->public_key) == 0;
}

int routes_delete(struct nametable *t, const char *name)
{
	return nametable_delete(t, name, strlen(name));
}

/* Normalised names of the file, sorted, to find the stale ones. */
struct name_set {
	char (*names)[NAMETABLE_NAME_MAX + 1];
	size_t count;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct stale {
	const struct name_set *keep;
	const struct route **kept; /* the current route of keep->names[i], or NULL */
	char (*names)[NAMETABLE_NAME_MAX + 1];
	size_t count, cap;
};

static int collect_stale(const char *name, size_t len, void *value, void *arg)
{
	struct stale *s = arg;
	char key[NAMETABLE_NAME_MAX + 1];
	memcpy(key, name, len);
	key[len] = '\0';
	const char(*hit)[NAMETABLE_NAME_MAX + 1] =
		bsearch(key, s->keep->names, s->keep->count, sizeof(*s->keep->names), name_cmp);
	if (hit != NULL) {
		s->kept[hit - s->keep->names] = value;
		return 0;
	}
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *n = realloc(s->names, cap * sizeof(*s->names));
		if (n == NULL)
			return -ENOMEM;
		s->names = n;
		s->cap = cap;
	}
	memcpy(s->names[s->count++], key, len + 1);
	return 0;
}

int routes_load_file(struct nametable *t, const char *path, size_t *count, char *err,
		     size_t errlen)
{
	struct routes_file_cfg file = { 0 };
	struct name_set set = { 0 };
	struct stale stale = { 0 };
	int ret = cfg_load_file(&routes_file_schema, &file, path, err, errlen);
	if (ret != 0)
		goto finish;
	set.names = calloc(file.count ? file.count : 1, sizeof(*set.names));
	if (set.names == NULL) {
		ret = -ENOMEM;
		goto finish;
	}
	/* Check everything before changing anything. */
	for (size_t i = 0; i < file.count; i++) {
		const struct route_entry_cfg *e = &file.routes[i];
		int n = nametable_name_normalize(e->name, strlen(e->name), set.names[i],
						 sizeof(set.names[i]));
		if (n < 0 || strchr(set.names[i], '*') != NULL) {
			snprintf(err, errlen, "%s: routes[%zu].name: \"%s\" is not a valid host name",
				 path, i, e->name);
			ret = AD_ECONFIG;
			goto finish;
		}
		if (e->public_key != NULL && strlen(e->public_key) >= ROUTE_KEY_MAX) {
			snprintf(err, errlen, "%s: routes[%zu].public_key: too long", path, i);
			ret = AD_ECONFIG;
			goto finish;
		}
	}
	set.count = file.count;
	qsort(set.names, set.count, sizeof(*set.names), name_cmp);
	for (size_t i = 1; i < set.count; i++) {
		if (strcmp(set.names[i - 1], set.names[i]) == 0) {
			snprintf(err, errlen, "%s: routes: %s is listed twice", path, set.names[i]);
			ret = AD_ECONFIG;
			goto finish;
		}
	}
	stale.keep = &set;
	stale.kept = calloc(set.count ? set.count : 1, sizeof(*stale.kept));
	if (stale.kept == NULL) {
		ret = -ENOMEM;
		goto finish;
	}
	if ((ret = nametable_foreach(t, collect_stale, &stale)) != 0)
		goto finish;
	for (size_t i = 0; i < file.count; i++) {
		const struct route_entry_cfg *e = &file.routes[i];
		struct route r = { .tunnel = e->tunnel.addr, .tunnel_len = e->tunnel.len };
		if (e->public_key != NULL)
			snprintf(r.public_key, sizeof(r.public_key), "%s", e->public_key);
		char key[NAMETABLE_NAME_MAX + 1];
		nametable_name_normalize(e->name, strlen(e->name), key, sizeof(key));
		const char(*hit)[NAMETABLE_NAME_MAX + 1] =
			bsearch(key, set.names, set.count, sizeof(*set.names), name_cmp);
		const struct route *cur = hit ? stale.kept[hit - set.names] : NULL;
		if (cur != NULL && route_same(cur, &r))
			continue;
		if ((ret = routes_set(t, e->name, &r)) != 0) {
			snprintf(err, errlen, "%s: routes[%zu]: %s", path, i, airdress_strerror(ret));
			goto finish;
		}
	}
	for (size_t i = 0; i < stale.count; i++)
		routes_delete(t, stale.names[i]);
	*count = file.count;
	if (errlen)
		err[0] = '\0';
finish:
	free(stale.kept);
	free(stale.names);
	free(set.names);
	cfg_free(&routes_file_schema, &file);
	return ret;
}
