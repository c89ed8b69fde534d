/*
 * Unit tests for the operator proxy's route services: op_service_parse (http://IP:PORT
 * and unix:/PATH into a connect address) and op_routes_check (what a config load and a
 * reload refuse), and the schema defaults of the keys the proxy reads (upstream_idle,
 * upstream_idle_timeout, access_log). The proxying itself runs against real services in
 * tests/integration/test_operator.sh.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "error.h"
#include "operator_config.h"
#include "proxy.h"

static int parse(const char *service, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0xa5, sizeof(*ss)); /* the parser must not depend on zeroed storage */
	return op_service_parse(service, ss, len);
}

Test(service, http_ipv4_and_ipv6)
{
	struct sockaddr_storage ss;
	socklen_t len;
	cr_assert_eq(parse("http://127.0.0.1:3000", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 3000);
	cr_assert_eq(parse("http://[::1]:8080/ignored/path", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8080);
}

Test(service, http_refused)
{
	struct sockaddr_storage ss;
	socklen_t len;
	cr_assert_eq(parse("http://localhost:3000", &ss, &len), AD_EPARSE); /* no DNS */
	cr_assert_eq(parse("http://127.0.0.1", &ss, &len), AD_EPARSE);      /* no port */
	cr_assert_eq(parse("https://127.0.0.1:443", &ss, &len), AD_EPARSE);
	cr_assert_eq(parse("http_status:404", &ss, &len), AD_EPARSE);
	cr_assert_eq(parse("", &ss, &len), AD_EPARSE);
	char longer[200] = "http://";
	memset(longer + 7, '1', 150);
	strcat(longer, ":80");
	cr_assert_eq(parse(longer, &ss, &len), AD_EPARSE);
}

Test(service, unix_socket)
{
	struct sockaddr_storage ss;
	socklen_t len;
	cr_assert_eq(parse("unix:/run/app/http.sock", &ss, &len), 0);
	const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
	cr_assert_eq(un->sun_family, AF_UNIX);
	cr_assert_str_eq(un->sun_path, "/run/app/http.sock");
	cr_assert_eq(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/app/http.sock") + 1);
	/* Two parses of one service give the same bytes: the pool compares them. */
	struct sockaddr_storage again;
	socklen_t len2;
	cr_assert_eq(parse("unix:/run/app/http.sock", &again, &len2), 0);
	cr_assert_eq(len2, len);
	cr_assert_eq(memcmp(&ss, &again, len), 0);
}

Test(service, unix_path_limits)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char path[160] = "unix:/";
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1; /* 107 with the NUL */
	memset(path + 6, 'a', max - 1);                               /* "/" + 106 = 107 */
	cr_assert_eq(parse(path, &ss, &len), 0);
	strcat(path, "a"); /* 108: no room for the NUL */
	cr_assert_eq(parse(path, &ss, &len), AD_EPARSE);
	cr_assert_eq(parse("unix:relative.sock", &ss, &len), AD_EPARSE);
	cr_assert_eq(parse("unix:", &ss, &len), AD_EPARSE);
}

static struct op_route_cfg routes[3];
static struct op_cfg cfg = { .routes = routes, .routes_count = 3 };

static int check(const char *a, const char *b, const char *c)
{
	routes[0].service = (char *)a;
	routes[1].service = (char *)b;
	routes[2].service = (char *)c;
	return op_routes_check(&cfg);
}

Test(routes, check)
{
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:404"), 0);
	cr_assert_eq(check("http://127.0.0.1:3000", "http_status:100", "http_status:599"), 0);
	cr_assert_eq(check("http://localhost:3000", "unix:/tmp/s.sock", "http_status:404"), AD_ECONFIG);
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:s.sock", "http_status:404"), AD_ECONFIG);
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:600"), AD_ECONFIG);
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:99"), AD_ECONFIG);
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:4040"), AD_ECONFIG);
	cr_assert_eq(check("http://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:"), AD_ECONFIG);
	cr_assert_eq(check("tcp://127.0.0.1:3000", "unix:/tmp/s.sock", "http_status:404"), AD_ECONFIG);
}

Test(config, proxy_defaults)
{
	struct op_cfg c;
	char err[CFG_ERRLEN];
	const char *yaml = "names: [a.test]\nroutes:\n  - { service: \"unix:/tmp/a.sock\" }\n";
	cr_assert_eq(cfg_load_buffer(&op_schema, &c, "op.yaml", yaml, strlen(yaml), NULL, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.upstream_idle, 128);
	cr_assert_eq(c.upstream_idle_timeout, 60000);
	cr_assert(c.access_log);
	cfg_free(&op_schema, &c);
	yaml = "names: [a.test]\nroutes: [{ service: \"http_status:404\" }]\n"
	       "upstream_idle: 0\nupstream_idle_timeout: 5s\naccess_log: false\n";
	cr_assert_eq(cfg_load_buffer(&op_schema, &c, "op.yaml", yaml, strlen(yaml), NULL, err,
				     sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.upstream_idle, 0);
	cr_assert_eq(c.upstream_idle_timeout, 5000);
	cr_assert(!c.access_log);
	cfg_free(&op_schema, &c);
	yaml = "names: [a.test]\nroutes: [{ service: \"http_status:404\" }]\nupstream_idle: 5000\n";
	cr_assert_eq(cfg_load_buffer(&op_schema, &c, "op.yaml", yaml, strlen(yaml), NULL, err,
				     sizeof(err)), AD_ECONFIG);
}
