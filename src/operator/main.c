/*
 * airdress-operator: the program on the user's machine.
 *
 *   airdress-operator keygen [-d DIR]     a WireGuard key pair in DIR (operator.key, 0600)
 *   airdress-operator run -c FILE         serve: reverse proxy with TLS termination
 *   airdress-operator status [-c FILE]    ask the running operator's admin endpoint
 *   airdress-operator enroll NAME         (needs the registry; not yet)
 *
 * See docs/operator.md.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "daemon.h"
#include "error.h"
#include "log.h"
#include "operator_config.h"
#include "proxy.h"
#include "sockaddr.h"
#include "tlsterm.h"
#include "tunnel.h"

static struct op_shared shared;
static struct tunnel *tunnel;
static struct op_listener http_listener = { .tls = false, .shared = &shared };
static struct op_listener tls_listener = { .tls = true, .shared = &shared };

/* ---- run ---------------------------------------------------------------- */

static int op_worker_start_hook(struct worker *w)
{
	return op_worker_start(w, daemon_metrics(daemon_of_worker(w)));
}

static const struct loop_hooks op_hooks = {
	.worker_start = op_worker_start_hook,
	.worker_stop = op_worker_stop,
};

static int tls_config(const struct op_cfg *cfg, struct tlsterm_cert **certs,
		      struct tlsterm_config *tc)
{
	*certs = calloc(cfg->certificates_count ? cfg->certificates_count : 1, sizeof(**certs));
	if (*certs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->certificates_count; i++) {
		(*certs)[i].name = cfg->certificates[i].name;
		(*certs)[i].cert_file = cfg->certificates[i].cert;
		(*certs)[i].key_file = cfg->certificates[i].key;
	}
	memset(tc, 0, sizeof(*tc));
	tc->certs = *certs;
	tc->ncerts = cfg->certificates_count;
	return 0;
}

/* The ingress rules must end in a rule that matches everything. */
static bool routes_end_in_catch_all(const struct op_cfg *cfg)
{
	const struct op_route_cfg *last = cfg->routes_count ? &cfg->routes[cfg->routes_count - 1] : NULL;
	if (last == NULL || last->host != NULL || last->path != NULL) {
		log_error("the last route must be a catch-all (no host, no path)", "");
		return false;
	}
	return true;
}

/* GET /v1/status: what `airdress-operator status` prints, one "key: value" per line. */
static int status_route(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	(void)req;
	const struct op_cfg *cfg = daemon_config(ctx);
	int ret = 0;
#define LINE(...) (ret |= admin_response_printf(resp, __VA_ARGS__))
	if (tunnel == NULL) {
		LINE("tunnel: none\n");
	} else {
		struct tunnel_status st;
		tunnel_status(tunnel, &st);
		long long now = (long long)time(NULL);
		LINE("tunnel: %s\n", tunnel_state_name(st.state));
		LINE("interface: %s (%s)\n", st.interface, st.userspace ? "wireguard-go" : "kernel");
		LINE("address: %s\n", st.address);
		LINE("relay: %s\n", st.relay);
		LINE("endpoint: %s\n", st.endpoint[0] ? st.endpoint : "none");
		if (st.last_handshake > 0)
			LINE("latest handshake: %lld s ago\n", now - st.last_handshake);
		else
			LINE("latest handshake: never\n");
		if (st.last_rtt_us >= 0)
			LINE("probe rtt: %lld us\n", st.last_rtt_us);
		LINE("transfer: %llu B received, %llu B sent\n", st.rx_bytes, st.tx_bytes);
		LINE("probes lost: %llu, fresh handshakes: %llu, restarts: %llu\n",
		     (unsigned long long)st.probes_lost, (unsigned long long)st.rehandshakes,
		     (unsigned long long)st.restarts);
	}
	for (size_t i = 0; i < cfg->names_count; i++)
		LINE("name: %s\n", cfg->names[i]);
	for (size_t i = 0; i < cfg->routes_count; i++) {
		const struct op_route_cfg *r = &cfg->routes[i];
		LINE("route: host=%s path=%s service=%s\n", r->host ? r->host : "*",
		     r->path ? r->path : "/", r->service);
	}
#undef LINE
	return ret ? -ENOMEM : 0;
}

static void op_control_tick(struct daemon *d)
{
	const struct op_cfg *cfg = daemon_config(d);
	tunnel_tick(tunnel, &cfg->tunnel);
}

static int op_setup(struct daemon *d)
{
	const struct op_cfg *cfg = daemon_config(d);
	shared.d = d;
	if (!routes_end_in_catch_all(cfg) || op_routes_check(cfg) != 0)
		return AD_ECONFIG;
	if (cfg->certificates_count > 0) {
		struct tlsterm_cert *certs = NULL;
		struct tlsterm_config tc;
		char err[TLSTERM_ERR_MAX];
		int ret = tls_config(cfg, &certs, &tc);
		if (ret == 0)
			ret = tlsterm_ctx_create(&tc, &shared.tls, err, sizeof(err));
		free(certs);
		if (ret != 0) {
			char q[sizeof(err) + 16];
			log_error("certificates not loaded", "error=%s", log_quote(q, sizeof(q), err));
			return ret;
		}
	} else if (cfg->listen_tls_count > 0) {
		log_warn("no certificates: the TLS listener refuses connections", "");
	}
	struct daemon_runtime rt = {
		.loop = {
			.workers = cfg->workers,
			.pin = true,
			.drain_timeout_ms = cfg->drain_timeout,
			.conn_user_size = op_conn_size(),
			.buf_size = 16384,
			.buf_count = 256,
			.tcp_nodelay = true,
		},
		.admin_listen = &cfg->admin.listen,
	};
	int ret = daemon_runtime_create(d, &rt);
	if (ret != 0)
		return ret;
	admin_route_add(daemon_admin(d), "GET", "/v1/status", ADMIN_ROUTE_EXACT, status_route, d);
	/* The tunnel comes up before the listeners bind on its address. */
	if (cfg->tunnel_present) {
		tunnel = tunnel_start(&cfg->tunnel, daemon_admin(d),
				      metrics_control_slots(daemon_metrics(d)));
		if (tunnel == NULL)
			return AD_ECONFIG;
	}
	if ((ret = daemon_listen_tcp(d, cfg->listen_http, cfg->listen_http_count,
				     &op_client_ops, &http_listener, "http")))
		return ret;
	return daemon_listen_tcp(d, cfg->listen_tls, cfg->listen_tls_count,
				 &op_client_ops, &tls_listener, "tls");
}

static int op_reload(struct daemon *d, const void *fresh)
{
	const struct op_cfg *cfg = fresh;
	if (!routes_end_in_catch_all(cfg) || op_routes_check(cfg) != 0)
		return AD_ECONFIG;
	if (shared.tls != NULL && cfg->certificates_count > 0) {
		struct tlsterm_cert *certs = NULL;
		struct tlsterm_config tc;
		char err[TLSTERM_ERR_MAX];
		int ret = tls_config(cfg, &certs, &tc);
		if (ret == 0)
			ret = tlsterm_ctx_reload(shared.tls, &tc, err, sizeof(err));
		free(certs);
		if (ret != 0) {
			char q[sizeof(err) + 16];
			log_error("certificates not reloaded", "error=%s", log_quote(q, sizeof(q), err));
			return ret;
		}
	}
	return 0;
}

static void op_teardown(struct daemon *d)
{
	tlsterm_ctx_destroy(shared.tls);
	shared.tls = NULL;
	tunnel_stop(tunnel);
	tunnel = NULL;
}

static const struct daemon_spec op_spec = {
	.name = "airdress-operator",
	.summary = "Airdress operator: the tunnel end on your machine, TLS and reverse proxy",
	.schema = &op_schema,
	.default_config = "/etc/airdress/operator.yaml",
	.metrics = op_metrics,
	.nmetrics = OM_COUNT,
	.hooks = &op_hooks,
	.setup = op_setup,
	.reload = op_reload,
	.teardown = op_teardown,
	.control_tick = op_control_tick,
	.control_tick_ms = 100,
};

/* ---- keygen ------------------------------------------------------------- */

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	int ret = write(fd, text, n) == (ssize_t)n ? 0 : -EIO;
	close(fd);
	return ret;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *dir = ".";
	int opt;
	optind = 1;
	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd') {
			fprintf(stderr, "usage: airdress-operator keygen [-d DIR]\n");
			return 2;
		}
		dir = optarg;
	}
	/* A WireGuard key is an X25519 key pair, base64. */
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	uint8_t priv[32], pub[32];
	size_t plen = sizeof(priv), ulen = sizeof(pub);
	if (key == NULL || EVP_PKEY_get_raw_private_key(key, priv, &plen) != 1 ||
	    EVP_PKEY_get_raw_public_key(key, pub, &ulen) != 1) {
		EVP_PKEY_free(key);
		fprintf(stderr, "airdress-operator: key generation failed\n");
		return 1;
	}
	EVP_PKEY_free(key);
	char priv64[64], pub64[64], path[4096];
	EVP_EncodeBlock((unsigned char *)priv64, priv, 32);
	EVP_EncodeBlock((unsigned char *)pub64, pub, 32);
	memset(priv, 0, sizeof(priv));
	strcat(priv64, "\n");
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/operator.key", dir);
	int ret = write_file(path, priv64, 0600);
	memset(priv64, 0, sizeof(priv64));
	if (ret != 0) {
		fprintf(stderr, "airdress-operator: %s: %s\n", path, airdress_strerror(ret));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/operator.pub", dir);
	char pubnl[72];
	snprintf(pubnl, sizeof(pubnl), "%s\n", pub64);
	unlink(path);
	if ((ret = write_file(path, pubnl, 0644)) != 0) {
		fprintf(stderr, "airdress-operator: %s: %s\n", path, airdress_strerror(ret));
		return 1;
	}
	printf("%s\n", pub64);
	return 0;
}

/* ---- status ------------------------------------------------------------- */

/* GET path from the admin endpoint at a; the body into body (NUL-terminated, cut to
 * size). Returns the HTTP status, or -errno when there was no answer. */
static int admin_get(const struct cfg_addr *a, const char *path, char *body, size_t size)
{
	int fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int ret = -ECONNREFUSED;
	char req[256], resp[8192];
	size_t n = 0;
	if (connect(fd, (const struct sockaddr *)&a->addr, a->len) != 0) {
		ret = -errno;
		goto out;
	}
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: operator\r\n"
			   "Connection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)len) != len)
		goto out;
	/* The admin endpoint closes after every answer: read to EOF, bounded. */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	while (n < sizeof(resp) - 1 && poll(&pfd, 1, 3000) > 0) {
		ssize_t r = read(fd, resp + n, sizeof(resp) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	resp[n] = '\0';
	const char *start = strstr(resp, "\r\n\r\n");
	snprintf(body, size, "%s", start ? start + 4 : "");
	ret = strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -EPROTO;
out:
	close(fd);
	return ret;
}

static int cmd_status(int argc, char **argv)
{
	const char *path = op_spec.default_config;
	int opt;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c') {
			fprintf(stderr, "usage: airdress-operator status [-c FILE]\n");
			return 2;
		}
		path = optarg;
	}
	struct op_cfg cfg;
	char err[CFG_ERRLEN];
	if (cfg_load_file(&op_schema, &cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	char text[SOCKADDR_STRLEN], health[512], status[4096];
	sockaddr_format((const struct sockaddr *)&cfg.admin.listen.addr, cfg.admin.listen.len, text,
			sizeof(text));
	int code = admin_get(&cfg.admin.listen, "/healthz", health, sizeof(health));
	if (code < 0) {
		printf("operator: not running (admin %s: %s)\n", text, strerror(-code));
		cfg_free(&op_schema, &cfg);
		return 1;
	}
	printf("operator: %s", health[0] ? health : "no answer\n");
	if (admin_get(&cfg.admin.listen, "/v1/status", status, sizeof(status)) == 200)
		fputs(status, stdout);
	cfg_free(&op_schema, &cfg);
	return code == 200 ? 0 : 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: airdress-operator keygen [-d DIR] | run -c FILE [-t] | status [-c FILE]"
		     " | enroll NAME | -V\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return daemon_main(&op_spec, argc - 1, argv + 1);
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(cmd, "enroll") == 0) {
		fprintf(stderr, "airdress-operator enroll: needs the registry, which is not built yet\n");
		return 2;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "-t") == 0 ||
	    strcmp(cmd, "-c") == 0)
		return daemon_main(&op_spec, argc, argv);
	usage(stderr);
	return 2;
}
