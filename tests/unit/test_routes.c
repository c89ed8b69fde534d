/* Unit tests: the relay's routes file and route table. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "routes.h"

static char dir[] = "/tmp/airdress-routes-XXXXXX";
static char path[256];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/routes.yaml", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static const struct route *lookup(struct nametable *t, const char *name)
{
	struct nametable_reader *r = nametable_reader_register(t);
	nametable_read_begin(r);
	const struct route *v = nametable_lookup(t, r, name, strlen(name));
	nametable_read_end(r);
	nametable_reader_unregister(r);
	return v; /* safe here: only this thread writes */
}

TestSuite(routes, .init = setup, .fini = teardown);

Test(routes, load_replace_and_remove)
{
	struct nametable *t = routes_create();
	char err[256];
	size_t n = 0;
	write_file("routes:\n"
		   "  - { name: App.A.Airdr.Es., tunnel: \"fd61:6972::2\", public_key: \"k1\" }\n"
		   "  - { name: b.a.airdr.es, tunnel: \"192.0.2.7\" }\n");
	cr_assert_eq(routes_load_file(t, path, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 2);
	const struct route *a = lookup(t, "app.a.airdr.es");
	cr_assert_not_null(a, "names are normalised");
	cr_assert_eq(a->tunnel.ss_family, AF_INET6);
	cr_assert_str_eq(a->public_key, "k1");
	cr_assert_eq(lookup(t, "b.a.airdr.es")->tunnel.ss_family, AF_INET);

	/* Same app route, b removed, c added: app keeps its object (and counters). */
	((struct route *)a)->active = 3;
	write_file("routes:\n"
		   "  - { name: app.a.airdr.es, tunnel: \"fd61:6972::2\", public_key: \"k1\" }\n"
		   "  - { name: c.a.airdr.es, tunnel: \"fd61:6972::3\" }\n");
	cr_assert_eq(routes_load_file(t, path, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(lookup(t, "app.a.airdr.es"), a, "an unchanged route is left alone");
	cr_assert_eq(a->active, 3);
	cr_assert_null(lookup(t, "b.a.airdr.es"));
	cr_assert_not_null(lookup(t, "c.a.airdr.es"));
	cr_assert_eq(nametable_count(t), 2);

	/* A changed key publishes a new route. */
	write_file("routes:\n"
		   "  - { name: app.a.airdr.es, tunnel: \"fd61:6972::2\", public_key: \"k2\" }\n");
	cr_assert_eq(routes_load_file(t, path, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(lookup(t, "app.a.airdr.es")->public_key, "k2");
	nametable_destroy(t);
}

Test(routes, errors_change_nothing)
{
	struct nametable *t = routes_create();
	char err[256];
	size_t n = 0;
	write_file("routes:\n  - { name: a.a.airdr.es, tunnel: \"192.0.2.1\" }\n");
	cr_assert_eq(routes_load_file(t, path, &n, err, sizeof(err)), 0);
	static const char *const bad[] = {
		("routes:\n  - { name: x.a.airdr.es, tunnel: \"192.0.2.1\" }\n"
		 "  - { name: X.a.airdr.es., tunnel: \"192.0.2.2\" }\n"),
		"routes:\n  - { name: \"bad..name\", tunnel: \"192.0.2.1\" }\n",
		"routes:\n  - { name: \"*.a.airdr.es\", tunnel: \"192.0.2.1\" }\n",
		"routes:\n  - { name: x.a.airdr.es, tunnel: \"192.0.2.1:80\" }\n",
		"routes:\n  - { name: x.a.airdr.es }\n",
		"routes: [\n",
	};
	static const char *const expect[] = {
		"is listed twice", "is not a valid host name", "is not a valid host name",
		"tunnel", "tunnel", "routes.yaml:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i]);
		cr_assert_neq(routes_load_file(t, path, &n, err, sizeof(err)), 0, "bad file %zu", i);
		cr_assert_not_null(strstr(err, expect[i]), "file %zu: %s", i, err);
		cr_assert_not_null(lookup(t, "a.a.airdr.es"), "the old routes stay");
		cr_assert_eq(nametable_count(t), 1);
	}
	nametable_destroy(t);
}

Test(routes, a_held_route_outlives_its_replacement)
{
	struct nametable *t = routes_create();
	struct route r = { .tunnel_len = sizeof(struct sockaddr_in) };
	r.tunnel.ss_family = AF_INET;
	cr_assert_eq(routes_set(t, "a.a.airdr.es", &r), 0);
	struct route *held = (struct route *)lookup(t, "a.a.airdr.es");
	route_hold(held);
	held->active = 1;
	cr_assert_eq(routes_delete(t, "a.a.airdr.es"), 0);
	nametable_synchronize(t);
	/* The table dropped its reference; ours keeps the route readable (ASan checks). */
	cr_assert_eq(held->active, 1);
	cr_assert_eq(held->refs, 1);
	route_release(held);
	nametable_destroy(t);
}
