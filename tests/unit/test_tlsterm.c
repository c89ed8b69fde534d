/*
 * Unit tests for tlsterm: TLS termination over memory buffers.
 *
 * A test CA (root and intermediate) and two server certificates are made with the
 * openssl CLI into a temporary folder before the suites run: "op.airdr.es" (ECDSA
 * P-256) and "*.a.airdr.es" (RSA 2048), each chain file holding the leaf and the
 * intermediate. An OpenSSL client in the test talks to a tlsterm_conn through memory
 * BIOs; pump() shuttles the bytes both ways in odd-sized pieces until neither side
 * moves. The last suite runs `openssl s_client` against a small blocking-socket server
 * built on tlsterm, in a thread.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "tlsterm.h"

extern char **environ;

#define DIR_ENV "AIRDRESS_TLSTERM_TEST_DIR"
#define EXACT "op.airdr.es"
#define WILD "*.a.airdr.es"
#define UNDER_WILD "app1.a.airdr.es"
#define MiB (1024u * 1024)

/* ---- files: certificates made once per test run ---- */

static char g_dir[512];
static bool g_own_dir; /* made by this process (no runner-made folder): removed in fini */

static const char *file_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", g_dir, name);
	return buf;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run argv with stdin from in_path and stdout+stderr to out_path (NULL: /dev/null),
 * at most timeout_ms (then SIGKILL). Returns the exit status, 128+signal, or -errno. */
static int run_cmd(char *const argv[], const char *in_path, const char *out_path,
		   unsigned timeout_ms)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	uint64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			return -errno;
		if (mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(5000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -errno;
	size_t n = fwrite(text, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -EIO;
}

static int concat(const char *out, const char *a, const char *b)
{
	char data[16384];
	size_t len = 0;
	const char *in[] = {a, b};
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(in[i], "rb");
		if (f == NULL)
			return -errno;
		len += fread(data + len, 1, sizeof(data) - len, f);
		fclose(f);
	}
	return write_file(out, data, len);
}

static const char openssl_cnf[] =
	"[req]\n"
	"distinguished_name = dn\n"
	"prompt = no\n"
	"[dn]\n"
	"CN = placeholder\n"
	"[root_ext]\n"
	"basicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"[int_ext]\n"
	"basicConstraints = critical,CA:TRUE,pathlen:0\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"authorityKeyIdentifier = keyid:always\n"
	"[exact_ext]\n"
	"basicConstraints = critical,CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectKeyIdentifier = hash\n"
	"authorityKeyIdentifier = keyid:always\n"
	"subjectAltName = DNS:" EXACT "\n"
	"[wild_ext]\n"
	"basicConstraints = critical,CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectKeyIdentifier = hash\n"
	"authorityKeyIdentifier = keyid:always\n"
	"subjectAltName = DNS:" WILD "\n";

/* Make the CA and the certificates in dir. Returns 0 or a description of the failure. */
static const char *make_certs(const char *dir)
{
	static char failed[600];
	char cnf[600], ca[600], cakey[600], in[600], inkey[600], csr[600], crt[600], key[600],
		pem[600], log[600];
	snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(in, sizeof(in), "%s/int.pem", dir);
	snprintf(inkey, sizeof(inkey), "%s/int.key", dir);
	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	if (write_file(cnf, openssl_cnf, strlen(openssl_cnf)) != 0)
		return "cannot write openssl.cnf";

	char *root[] = {"openssl", "req", "-x509", "-new", "-config", cnf, "-extensions",
			"root_ext", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-keyout", cakey, "-out", ca, "-days", "3", "-subj",
			"/CN=Airdress Test Root", NULL};
	if (run_cmd(root, NULL, log, 30000) != 0)
		return "openssl req (root CA) failed";
	snprintf(csr, sizeof(csr), "%s/int.csr", dir);
	char *intreq[] = {"openssl", "req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
			  "ec_paramgen_curve:P-256", "-nodes", "-keyout", inkey, "-out", csr,
			  "-subj", "/CN=Airdress Test Intermediate", NULL};
	char *intsign[] = {"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
			   "-set_serial", "2", "-days", "3", "-extfile", cnf, "-extensions",
			   "int_ext", "-out", in, NULL};
	if (run_cmd(intreq, NULL, log, 30000) != 0 || run_cmd(intsign, NULL, log, 30000) != 0)
		return "openssl (intermediate CA) failed";

	const struct {
		const char *base, *cn, *ext, *serial;
		bool rsa;
	} leaves[] = {
		{"exact", "/CN=" EXACT, "exact_ext", "3", false},
		{"wild", "/CN=" WILD, "wild_ext", "4", true},
	};
	for (size_t i = 0; i < 2; i++) {
		snprintf(csr, sizeof(csr), "%s/%s.csr", dir, leaves[i].base);
		snprintf(crt, sizeof(crt), "%s/%s.crt", dir, leaves[i].base);
		snprintf(key, sizeof(key), "%s/%s.key", dir, leaves[i].base);
		snprintf(pem, sizeof(pem), "%s/%s.pem", dir, leaves[i].base);
		char *req_ec[] = {"openssl", "req", "-new", "-config", cnf, "-newkey", "ec",
				  "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
				  "-out", csr, "-subj", (char *)leaves[i].cn, NULL};
		char *req_rsa[] = {"openssl", "req", "-new", "-config", cnf, "-newkey",
				   "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
				   (char *)leaves[i].cn, NULL};
		char *sign[] = {"openssl", "x509", "-req", "-in", csr, "-CA", in, "-CAkey", inkey,
				"-set_serial", (char *)leaves[i].serial, "-days", "3", "-extfile",
				cnf, "-extensions", (char *)leaves[i].ext, "-out", crt, NULL};
		if (run_cmd(leaves[i].rsa ? req_rsa : req_ec, NULL, log, 60000) != 0 ||
		    run_cmd(sign, NULL, log, 30000) != 0) {
			snprintf(failed, sizeof(failed), "openssl (%s certificate) failed, see %.500s",
				 leaves[i].base, log);
			return failed;
		}
		if (concat(pem, crt, in) != 0)
			return "cannot write a chain file";
	}
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Before all tests, in the runner: one folder of certificates for every test. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char dir[] = "/tmp/airdress-tlsterm-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return;
	const char *failed = make_certs(dir);
	if (failed != NULL) {
		fprintf(stderr, "tlsterm tests: %s\n", failed);
		rm_tree(dir);
		return;
	}
	setenv(DIR_ENV, dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	const char *dir = getenv(DIR_ENV);
	if (dir != NULL && strncmp(dir, "/tmp/airdress-tlsterm-", 22) == 0)
		rm_tree(dir);
}

static void setup(void)
{
	const char *dir = getenv(DIR_ENV);
	if (dir != NULL) {
		snprintf(g_dir, sizeof(g_dir), "%s", dir);
		return;
	}
	/* the runner could not make them (or did not run the hook): make our own */
	snprintf(g_dir, sizeof(g_dir), "/tmp/airdress-tlsterm-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	g_own_dir = true;
	const char *failed = make_certs(g_dir);
	cr_assert_null(failed, "%s", failed);
}

static void teardown(void)
{
	if (g_own_dir)
		rm_tree(g_dir);
}

/* ---- contexts ---- */

static char p_exact_pem[600], p_exact_key[600], p_wild_pem[600], p_wild_key[600], p_ca[600];

static void paths(void)
{
	file_in(p_exact_pem, sizeof(p_exact_pem), "exact.pem");
	file_in(p_exact_key, sizeof(p_exact_key), "exact.key");
	file_in(p_wild_pem, sizeof(p_wild_pem), "wild.pem");
	file_in(p_wild_key, sizeof(p_wild_key), "wild.key");
	file_in(p_ca, sizeof(p_ca), "ca.pem");
}

static struct tlsterm_cert g_certs[2];

static struct tlsterm_config base_config(void)
{
	paths();
	g_certs[0] = (struct tlsterm_cert){EXACT, p_exact_pem, p_exact_key};
	g_certs[1] = (struct tlsterm_cert){WILD, p_wild_pem, p_wild_key};
	return (struct tlsterm_config){.certs = g_certs, .ncerts = 2};
}

static struct tlsterm_ctx *make_ctx(const struct tlsterm_config *cfg)
{
	struct tlsterm_ctx *ctx = NULL;
	char err[TLSTERM_ERR_MAX];
	int r = tlsterm_ctx_create(cfg, &ctx, err, sizeof(err));
	cr_assert_eq(r, 0, "tlsterm_ctx_create: %d (%s)", r, err);
	cr_assert_not_null(ctx);
	return ctx;
}

/* ---- the client and the pump ---- */

struct sink {
	uint8_t *data;
	size_t len, cap;
};

static void sink_put(struct sink *s, const uint8_t *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->data = realloc(s->data, cap);
		cr_assert_not_null(s->data);
		s->cap = cap;
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

struct copts {
	const char *sni;         /* NULL: no SNI */
	const char *verify_name; /* check the chain against ca.pem and this name; NULL: no check */
	const char *alpn;        /* wire format, e.g. "\x02h2\x08http/1.1"; NULL: none */
	int min_version, max_version;
	SSL_SESSION *session;
};

/* Which allocations count as the server's, for the memory test (see mem_*). */
static int g_tag;
#define SERVER(expr)                                                                      \
	({                                                                                \
		g_tag = 1;                                                                \
		__typeof__(expr) _v = (expr);                                             \
		g_tag = 0;                                                                \
		_v;                                                                       \
	})

struct pair {
	SSL_CTX *cctx;
	SSL *ssl;
	BIO *c_in;  /* server -> client */
	BIO *c_out; /* client -> server */
	struct tlsterm_conn *sv;
	struct sink srv_rx, cli_rx;
	int srv_err;        /* first non-zero tlsterm_read/feed result below 0 */
	int cli_err;        /* SSL_get_error of a client failure */
	unsigned long cli_reason;
	bool cli_eof;
	unsigned piece;
};

static const size_t odd[] = {1, 5, 17, 300, 1447, 4096, 9001, 16389, 3, 777, 2048, 65};
#define NODD (sizeof(odd) / sizeof(odd[0]))

static void pair_open(struct pair *p, struct tlsterm_ctx *ctx, const struct copts *o)
{
	memset(p, 0, sizeof(*p));
	p->cctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(p->cctx);
	if (o->min_version) {
		SSL_CTX_set_min_proto_version(p->cctx, o->min_version);
		if (o->min_version < TLS1_2_VERSION) {
			SSL_CTX_set_security_level(p->cctx, 0);
			SSL_CTX_set_cipher_list(p->cctx, "DEFAULT@SECLEVEL=0");
		}
	}
	if (o->max_version)
		SSL_CTX_set_max_proto_version(p->cctx, o->max_version);
	if (o->verify_name) {
		cr_assert_eq(SSL_CTX_load_verify_locations(p->cctx, p_ca, NULL), 1);
		SSL_CTX_set_verify(p->cctx, SSL_VERIFY_PEER, NULL);
	}
	p->ssl = SSL_new(p->cctx);
	cr_assert_not_null(p->ssl);
	if (o->verify_name)
		cr_assert_eq(SSL_set1_host(p->ssl, o->verify_name), 1);
	if (o->sni)
		cr_assert_eq(SSL_set_tlsext_host_name(p->ssl, o->sni), 1);
	if (o->alpn)
		cr_assert_eq(SSL_set_alpn_protos(p->ssl, (const unsigned char *)o->alpn,
						 (unsigned)strlen(o->alpn)),
			     0);
	if (o->session)
		cr_assert_eq(SSL_set_session(p->ssl, o->session), 1);
	p->c_in = BIO_new(BIO_s_mem());
	p->c_out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->c_in, -1);
	BIO_set_mem_eof_return(p->c_out, -1);
	SSL_set_bio(p->ssl, p->c_in, p->c_out);
	SSL_set_connect_state(p->ssl);
	int r = SERVER(tlsterm_conn_create(ctx, &p->sv));
	cr_assert_eq(r, 0);
}

static void pair_close(struct pair *p)
{
	SERVER((tlsterm_conn_destroy(p->sv), 0));
	/* a client freed without close_notify marks its session not resumable */
	if (SSL_is_init_finished(p->ssl) && p->cli_err == 0)
		SSL_shutdown(p->ssl);
	ERR_clear_error();
	SSL_free(p->ssl);
	SSL_CTX_free(p->cctx);
	free(p->srv_rx.data);
	free(p->cli_rx.data);
	memset(p, 0, sizeof(*p));
}

static void server_drain(struct pair *p)
{
	static uint8_t buf[20000];
	while (p->srv_err == 0) {
		size_t cap = odd[p->piece++ % NODD];
		int n = SERVER(tlsterm_read(p->sv, buf, cap));
		cr_assert_leq(n, (int)cap);
		if (n > 0) {
			sink_put(&p->srv_rx, buf, (size_t)n);
			continue;
		}
		if (n < 0)
			p->srv_err = n;
		break;
	}
}

static void client_step(struct pair *p)
{
	static uint8_t buf[32768];
	if (p->cli_err != 0)
		return;
	if (!SSL_is_init_finished(p->ssl)) {
		int r = SSL_do_handshake(p->ssl);
		if (r != 1) {
			int e = SSL_get_error(p->ssl, r);
			if (e != SSL_ERROR_WANT_READ) {
				p->cli_err = e;
				p->cli_reason = ERR_peek_last_error();
			}
			ERR_clear_error();
			return;
		}
	}
	for (;;) {
		size_t n = 0;
		if (SSL_read_ex(p->ssl, buf, sizeof(buf), &n) == 1) {
			sink_put(&p->cli_rx, buf, n);
			continue;
		}
		int e = SSL_get_error(p->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN) {
			p->cli_eof = true;
		} else if (e != SSL_ERROR_WANT_READ) {
			p->cli_err = e;
			p->cli_reason = ERR_peek_last_error();
		}
		ERR_clear_error();
		break;
	}
}

/* Move bytes both ways, in odd-sized pieces, until neither side has anything to say. */
static void pump(struct pair *p)
{
	static uint8_t tmp[20000];
	for (int round = 0; round < 100000; round++) {
		bool moved = false;
		for (;;) {
			int n = BIO_read(p->c_out, tmp, (int)odd[p->piece++ % NODD]);
			if (n <= 0)
				break;
			moved = true;
			if (p->srv_err != 0)
				continue; /* the server is gone: drop */
			int r = SERVER(tlsterm_feed(p->sv, tmp, (size_t)n));
			if (r != 0) {
				p->srv_err = r;
				continue;
			}
			server_drain(p);
		}
		const uint8_t *o;
		size_t olen;
		tlsterm_pending_out(p->sv, &o, &olen);
		if (olen > 0) {
			cr_assert_eq(BIO_write(p->c_in, o, (int)olen), (int)olen);
			SERVER((tlsterm_consume_out(p->sv, olen), 0));
			moved = true;
		}
		client_step(p);
		if (!moved && BIO_ctrl_pending(p->c_out) == 0)
			return;
	}
	cr_assert_fail("pump did not settle");
}

static void handshake_ok(struct pair *p)
{
	pump(p);
	char why[256] = "";
	if (p->srv_err != 0)
		tlsterm_strerror(p->sv, p->srv_err, why, sizeof(why));
	cr_assert_eq(p->srv_err, 0, "server: %d (%s)", p->srv_err, why);
	cr_assert_eq(p->cli_err, 0, "client: %d (%s)", p->cli_err,
		     ERR_reason_error_string(p->cli_reason));
	cr_assert(SSL_is_init_finished(p->ssl));
	cr_assert(tlsterm_handshake_done(p->sv));
}

/* The name the server's certificate was issued for (its CN). */
static void peer_cn(struct pair *p, char *out, size_t size)
{
	X509 *cert = SSL_get0_peer_certificate(p->ssl);
	cr_assert_not_null(cert);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)size);
}

static SSL_SESSION *take_session(struct pair *p)
{
	SSL_SESSION *s = SSL_get1_session(p->ssl);
	cr_assert_not_null(s);
	cr_assert(SSL_SESSION_is_resumable(s), "no resumable session (ticket not received)");
	return s;
}

TestSuite(tlsterm, .init = setup, .fini = teardown, .timeout = 120);

/* ---- SNI ---- */

Test(tlsterm, sni_exact_name)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	char cn[128];
	pair_open(&p, ctx, &(struct copts){.sni = "OP.airdr.es.", .verify_name = EXACT});
	handshake_ok(&p);
	cr_assert_eq(SSL_get_verify_result(p.ssl), X509_V_OK);
	peer_cn(&p, cn, sizeof(cn));
	cr_assert_str_eq(cn, EXACT);
	cr_assert_str_eq(tlsterm_sni(p.sv), EXACT); /* lowercased, trailing dot gone */
	cr_assert_str_eq(tlsterm_version(p.sv), "TLSv1.3");
	cr_assert_not(tlsterm_resumed(p.sv));
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, sni_wildcard)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	char cn[128];
	pair_open(&p, ctx, &(struct copts){.sni = UNDER_WILD, .verify_name = UNDER_WILD});
	handshake_ok(&p);
	cr_assert_eq(SSL_get_verify_result(p.ssl), X509_V_OK);
	peer_cn(&p, cn, sizeof(cn));
	cr_assert_str_eq(cn, WILD);
	cr_assert_str_eq(tlsterm_sni(p.sv), UNDER_WILD);
	pair_close(&p);

	/* one label only: the wildcard does not cover the bare suffix or two labels */
	const char *outside[] = {"a.airdr.es", "x.y.a.airdr.es", "airdr.es", "xop.airdr.es"};
	for (size_t i = 0; i < 4; i++) {
		pair_open(&p, ctx, &(struct copts){.sni = outside[i]});
		pump(&p);
		cr_assert_eq(p.srv_err, AD_ENOTFOUND, "%s: server %d", outside[i], p.srv_err);
		cr_assert_neq(p.cli_err, 0, "%s", outside[i]);
		pair_close(&p);
	}
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, sni_unknown_gets_unrecognized_name)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	char why[256];
	pair_open(&p, ctx, &(struct copts){.sni = "other.example.org"});
	pump(&p);
	cr_assert_eq(p.srv_err, AD_ENOTFOUND);
	cr_assert_eq(p.cli_err, SSL_ERROR_SSL);
	cr_assert_eq(ERR_GET_REASON(p.cli_reason), SSL_R_TLSV1_UNRECOGNIZED_NAME,
		     "client saw: %s", ERR_reason_error_string(p.cli_reason));
	cr_assert_str_eq(tlsterm_sni(p.sv), "other.example.org");
	tlsterm_strerror(p.sv, p.srv_err, why, sizeof(why));
	cr_log_info("unknown name, server says: %s", why);
	cr_assert_str_eq(why, "no certificate for server name other.example.org");
	/* the connection stays failed */
	uint8_t b[16];
	cr_assert_eq(tlsterm_read(p.sv, b, sizeof(b)), AD_ENOTFOUND);
	cr_assert_eq(tlsterm_write(p.sv, b, sizeof(b)), AD_ENOTFOUND);
	cr_assert_eq(tlsterm_feed(p.sv, b, sizeof(b)), AD_ENOTFOUND);
	cr_assert_eq(tlsterm_shutdown(p.sv), AD_ENOTFOUND);
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, sni_unknown_with_fallback_and_no_sni_get_the_default)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	char cn[128];

	/* no SNI at all: the first certificate */
	pair_open(&p, ctx, &(struct copts){.verify_name = EXACT});
	handshake_ok(&p);
	peer_cn(&p, cn, sizeof(cn));
	cr_assert_str_eq(cn, EXACT);
	cr_assert_null(tlsterm_sni(p.sv));
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);

	cfg.sni_fallback = true;
	ctx = make_ctx(&cfg);
	pair_open(&p, ctx, &(struct copts){.sni = "other.example.org"});
	handshake_ok(&p);
	peer_cn(&p, cn, sizeof(cn));
	cr_assert_str_eq(cn, EXACT);
	cr_assert_str_eq(tlsterm_sni(p.sv), "other.example.org");
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);
}

/* ---- versions and ALPN ---- */

Test(tlsterm, tls12_with_both_key_types)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	const char *names[] = {EXACT, UNDER_WILD}; /* ECDSA, RSA */
	for (size_t i = 0; i < 2; i++) {
		pair_open(&p, ctx,
			  &(struct copts){.sni = names[i], .verify_name = names[i],
					  .max_version = TLS1_2_VERSION});
		handshake_ok(&p);
		cr_assert_str_eq(tlsterm_version(p.sv), "TLSv1.2");
		cr_assert_str_eq(SSL_get_version(p.ssl), "TLSv1.2");
		cr_assert_str_eq(tlsterm_sni(p.sv), names[i]);
		const char *cipher = SSL_get_cipher_name(p.ssl);
		cr_assert(strncmp(cipher, "ECDHE-", 6) == 0, "cipher %s", cipher);
		pair_close(&p);
	}
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, tls11_is_refused)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	char why[256];
	pair_open(&p, ctx,
		  &(struct copts){.sni = EXACT, .min_version = TLS1_VERSION,
				  .max_version = TLS1_1_VERSION});
	pump(&p);
	cr_assert_lt(p.srv_err, 0);
	cr_assert_neq(p.cli_err, 0);
	tlsterm_strerror(p.sv, p.srv_err, why, sizeof(why));
	cr_log_info("tls 1.1 client: %d %s", p.srv_err, why);
	cr_assert_eq(p.srv_err, -EPROTO, "%d %s", p.srv_err, why);
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, alpn_http11_only)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	const struct {
		const char *offer;
		const char *want;
	} cases[] = {
		{"\x02h2\x08http/1.1", "http/1.1"}, /* h2 first: still http/1.1 */
		{"\x08http/1.1\x02h2", "http/1.1"},
		{"\x08http/1.1", "http/1.1"},
		{"\x02h2", NULL},          /* no http/1.1: go on without ALPN */
		{"\x08http/1.0\x02h3", NULL},
		{NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int v = 0; v < 2; v++) {
			pair_open(&p, ctx,
				  &(struct copts){.sni = EXACT, .alpn = cases[i].offer,
						  .max_version = v ? TLS1_2_VERSION : 0});
			handshake_ok(&p);
			const unsigned char *sel = NULL;
			unsigned len = 0;
			SSL_get0_alpn_selected(p.ssl, &sel, &len);
			if (cases[i].want == NULL) {
				cr_assert_null(tlsterm_alpn(p.sv), "case %zu", i);
				cr_assert_eq(len, 0, "case %zu", i);
			} else {
				cr_assert_str_eq(tlsterm_alpn(p.sv), cases[i].want);
				cr_assert_eq(len, strlen(cases[i].want));
				cr_assert(memcmp(sel, cases[i].want, len) == 0);
			}
			pair_close(&p);
		}
	}
	tlsterm_ctx_destroy(ctx);
}

/* ---- data ---- */

static void pattern(uint8_t *b, size_t n, uint32_t seed)
{
	uint32_t x = seed | 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}

static const size_t wsizes[] = {1, 999, 16384, 16385, 7, 40000, 3, 12345, 65536, 2};
#define NW (sizeof(wsizes) / sizeof(wsizes[0]))

/* n bytes client -> server and server -> client, written in odd pieces. */
static void transfer(struct pair *p, size_t n)
{
	uint8_t *up = malloc(n), *down = malloc(n);
	cr_assert(up && down);
	pattern(up, n, 0x1234567);
	pattern(down, n, 0x7654321);
	size_t before_srv = p->srv_rx.len, before_cli = p->cli_rx.len;

	size_t off = 0;
	for (unsigned k = 0; off < n; k++) {
		size_t len = wsizes[k % NW] < n - off ? wsizes[k % NW] : n - off, w = 0;
		cr_assert_eq(SSL_write_ex(p->ssl, up + off, len, &w), 1);
		off += w;
		if (k % 3 == 0)
			pump(p);
	}
	pump(p);
	cr_assert_eq(p->srv_err, 0);
	cr_assert_eq(p->srv_rx.len - before_srv, n);
	cr_assert(memcmp(p->srv_rx.data + before_srv, up, n) == 0, "client->server differs");

	off = 0;
	for (unsigned k = 0; off < n; k++) {
		size_t len = wsizes[(k + 3) % NW] < n - off ? wsizes[(k + 3) % NW] : n - off;
		int w = SERVER(tlsterm_write(p->sv, down + off, len));
		cr_assert_geq(w, 0);
		cr_assert_leq((size_t)w, len);
		const uint8_t *o;
		size_t olen;
		tlsterm_pending_out(p->sv, &o, &olen);
		/* bounded output: at most the limit plus one record */
		cr_assert_leq(olen, TLSTERM_OUT_MAX + 16384 + 256);
		off += (size_t)w;
		if ((size_t)w < len || k % 2 == 0)
			pump(p);
	}
	pump(p);
	cr_assert_eq(p->cli_err, 0);
	cr_assert_eq(p->cli_rx.len - before_cli, n);
	cr_assert(memcmp(p->cli_rx.data + before_cli, down, n) == 0, "server->client differs");
	free(up);
	free(down);
}

Test(tlsterm, one_mib_both_ways_tls13_and_tls12)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	for (int v = 0; v < 2; v++) {
		pair_open(&p, ctx,
			  &(struct copts){.sni = v ? UNDER_WILD : EXACT, .alpn = "\x08http/1.1",
					  .max_version = v ? TLS1_2_VERSION : 0});
		handshake_ok(&p);
		/* nothing may be written before the handshake... and after it, all of it */
		transfer(&p, MiB);
		transfer(&p, 12345);
		pair_close(&p);
	}
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, write_before_handshake_takes_nothing)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct tlsterm_conn *c = NULL;
	cr_assert_eq(tlsterm_conn_create(ctx, &c), 0);
	cr_assert_eq(tlsterm_write(c, (const uint8_t *)"x", 1), 0);
	uint8_t b[8];
	cr_assert_eq(tlsterm_read(c, b, sizeof(b)), 0); /* needs input */
	cr_assert_eq(tlsterm_read(c, b, 0), -EINVAL);
	const uint8_t *o;
	size_t olen;
	tlsterm_pending_out(c, &o, &olen);
	cr_assert_eq(olen, 0);
	cr_assert_null(o);
	cr_assert_not(tlsterm_handshake_done(c));
	cr_assert_str_eq(tlsterm_version(c), "unknown");
	cr_assert_eq(tlsterm_shutdown(c), 0); /* nothing to close yet */
	cr_assert_eq(tlsterm_write(c, (const uint8_t *)"x", 1), -EPIPE);
	tlsterm_conn_destroy(c);
	tlsterm_conn_destroy(NULL);
	tlsterm_ctx_destroy(ctx);
	tlsterm_ctx_destroy(NULL);
}

Test(tlsterm, feed_limit)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct tlsterm_conn *c = NULL;
	static uint8_t zero[TLSTERM_IN_MAX];
	cr_assert_eq(tlsterm_conn_create(ctx, &c), 0);
	cr_assert_eq(tlsterm_feed(c, zero, TLSTERM_IN_MAX), 0);
	cr_assert_eq(tlsterm_feed(c, zero, 1), AD_ENOSPACE);
	tlsterm_conn_destroy(c);
	tlsterm_ctx_destroy(ctx);
}

/* ---- close_notify ---- */

Test(tlsterm, close_notify_both_directions)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct pair p;
	for (int v = 0; v < 2; v++) {
		/* the server closes */
		pair_open(&p, ctx, &(struct copts){.sni = EXACT, .max_version = v ? TLS1_2_VERSION : 0});
		handshake_ok(&p);
		cr_assert_eq(tlsterm_write(p.sv, (const uint8_t *)"bye", 3), 3);
		cr_assert_eq(tlsterm_shutdown(p.sv), 0);
		cr_assert_eq(tlsterm_shutdown(p.sv), 0); /* idempotent */
		cr_assert_eq(tlsterm_write(p.sv, (const uint8_t *)"more", 4), -EPIPE);
		pump(&p);
		cr_assert(p.cli_eof, "client did not see close_notify");
		cr_assert(SSL_get_shutdown(p.ssl) & SSL_RECEIVED_SHUTDOWN);
		cr_assert_eq(p.cli_rx.len, 3);
		cr_assert(memcmp(p.cli_rx.data, "bye", 3) == 0);
		pair_close(&p);

		/* the client closes: the server reads EOF, and may still answer and close */
		pair_open(&p, ctx, &(struct copts){.sni = EXACT, .max_version = v ? TLS1_2_VERSION : 0});
		handshake_ok(&p);
		cr_assert_eq(SSL_write(p.ssl, "last", 4), 4);
		cr_assert_geq(SSL_shutdown(p.ssl), 0);
		pump(&p);
		cr_assert_eq(p.srv_err, TLSTERM_EOF);
		cr_assert_eq(p.srv_rx.len, 4);
		uint8_t b[8];
		char why[128];
		cr_assert_eq(tlsterm_read(p.sv, b, sizeof(b)), TLSTERM_EOF);
		tlsterm_strerror(p.sv, TLSTERM_EOF, why, sizeof(why));
		cr_assert(strstr(why, "close_notify") != NULL, "%s", why);
		cr_assert_eq(tlsterm_shutdown(p.sv), 0);
		const uint8_t *o;
		size_t olen;
		tlsterm_pending_out(p.sv, &o, &olen);
		cr_assert_gt(olen, 0, "no close_notify queued in reply");
		pair_close(&p);
	}
	tlsterm_ctx_destroy(ctx);
}

/* ---- session tickets ---- */

/* A full handshake that leaves a session ticket in the client; returns the session. */
static SSL_SESSION *first_visit(struct tlsterm_ctx *ctx, const char *name, int maxv)
{
	struct pair p;
	pair_open(&p, ctx, &(struct copts){.sni = name, .verify_name = name, .max_version = maxv});
	handshake_ok(&p);
	cr_assert_not(tlsterm_resumed(p.sv));
	transfer(&p, 1000); /* TLS 1.3: the client reads the NewSessionTicket */
	SSL_SESSION *s = take_session(&p);
	pair_close(&p);
	return s;
}

/* Connect again with session s; returns whether it resumed (and checks both agree). */
static bool revisit(struct tlsterm_ctx *ctx, const char *name, int maxv, SSL_SESSION *s,
		    SSL_SESSION **renewed)
{
	struct pair p;
	pair_open(&p, ctx,
		  &(struct copts){.sni = name, .verify_name = name, .max_version = maxv, .session = s});
	handshake_ok(&p);
	bool resumed = SSL_session_reused(p.ssl) == 1;
	cr_assert_eq(resumed, tlsterm_resumed(p.sv));
	transfer(&p, 100);
	if (renewed != NULL)
		*renewed = take_session(&p);
	pair_close(&p);
	return resumed;
}

Test(tlsterm, ticket_resumption)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	const char *names[] = {EXACT, UNDER_WILD};
	for (int v = 0; v < 2; v++) {
		for (size_t n = 0; n < 2; n++) {
			int maxv = v ? TLS1_2_VERSION : 0;
			SSL_SESSION *s = first_visit(ctx, names[n], maxv);
			cr_assert(revisit(ctx, names[n], maxv, s, NULL), "v%d %s: not resumed", v,
				  names[n]);
			SSL_SESSION_free(s);
		}
	}
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, ticket_rotation_keeps_previous_key_one_period)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	for (int v = 0; v < 2; v++) {
		int maxv = v ? TLS1_2_VERSION : 0;
		SSL_SESSION *s = first_visit(ctx, EXACT, maxv);
		tlsterm_ctx_rotate_tickets(ctx); /* the ticket's key is now the previous one */
		SSL_SESSION *renewed = NULL;
		cr_assert(revisit(ctx, EXACT, maxv, s, &renewed), "v%d: previous key refused", v);
		tlsterm_ctx_rotate_tickets(ctx); /* two rotations: that key is gone */
		cr_assert_not(revisit(ctx, EXACT, maxv, s, NULL), "v%d: expired key accepted", v);
		/* the resumption under the previous key issued a ticket under the then
		 * current key, which is the previous one now */
		cr_assert(revisit(ctx, EXACT, maxv, renewed, NULL), "v%d: renewed ticket refused", v);
		SSL_SESSION_free(s);
		SSL_SESSION_free(renewed);
	}
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, ticket_rotation_by_time)
{
	struct tlsterm_config cfg = base_config();
	cfg.ticket_period_s = 1;
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	SSL_SESSION *s = first_visit(ctx, EXACT, 0);
	usleep(1200 * 1000); /* one rotation: the ticket's key is the previous one */
	SSL_SESSION *renewed = NULL;
	cr_assert(revisit(ctx, EXACT, 0, s, &renewed), "ticket refused after one period");
	SSL_SESSION_free(s);
	SSL_SESSION_free(renewed);
	tlsterm_ctx_destroy(ctx);

	char err[TLSTERM_ERR_MAX];
	cfg.ticket_period_s = TLSTERM_TICKET_PERIOD_MAX + 1;
	cr_assert_eq(tlsterm_ctx_create(&cfg, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_assert_null(ctx);
}

Test(tlsterm, tickets_survive_reload)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	char err[TLSTERM_ERR_MAX];
	SSL_SESSION *s = first_visit(ctx, EXACT, 0);
	cr_assert_eq(tlsterm_ctx_reload(ctx, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert(revisit(ctx, EXACT, 0, s, NULL));
	SSL_SESSION_free(s);
	tlsterm_ctx_destroy(ctx);
}

/* ---- hostile input ---- */

static int feed_and_read(struct tlsterm_ctx *ctx, const uint8_t *in, size_t len, size_t piece)
{
	struct tlsterm_conn *c = NULL;
	uint8_t buf[4096];
	int ret = 0;
	cr_assert_eq(tlsterm_conn_create(ctx, &c), 0);
	for (size_t off = 0; off < len && ret >= 0; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		ret = tlsterm_feed(c, in + off, n);
		while (ret == 0) {
			int r = tlsterm_read(c, buf, sizeof(buf));
			if (r <= 0) {
				ret = r;
				break;
			}
		}
	}
	if (ret < 0) {
		char why[256];
		tlsterm_strerror(c, ret, why, sizeof(why));
		cr_assert_gt(strlen(why), 0);
	}
	tlsterm_conn_destroy(c);
	return ret;
}

Test(tlsterm, garbage_is_an_error_not_a_crash)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct tlsterm_conn *c = NULL;
	uint8_t junk[3000];
	char why[256];

	/* plain HTTP on the TLS port */
	const char *http = "GET / HTTP/1.1\r\nHost: op.airdr.es\r\n\r\n";
	cr_assert_eq(tlsterm_conn_create(ctx, &c), 0);
	cr_assert_eq(tlsterm_feed(c, (const uint8_t *)http, strlen(http)), 0);
	int r = tlsterm_read(c, junk, sizeof(junk));
	cr_assert_eq(r, AD_EPARSE, "%d", r);
	tlsterm_strerror(c, r, why, sizeof(why));
	cr_log_info("plain http: %s", why);
	cr_assert(strstr(why, "http") != NULL, "%s", why);
	tlsterm_conn_destroy(c);

	/* random bytes */
	pattern(junk, sizeof(junk), 99);
	cr_assert_lt(feed_and_read(ctx, junk, sizeof(junk), 1000), 0);

	/* a handshake record header, then garbage */
	junk[0] = 0x16;
	junk[1] = 0x03;
	junk[2] = 0x01;
	junk[3] = 0x02;
	junk[4] = 0x00;
	junk[5] = 0x01; /* client_hello */
	junk[6] = 0x00;
	junk[7] = 0x01;
	junk[8] = 0xfc;
	r = feed_and_read(ctx, junk, 5 + 512, 7);
	cr_assert_lt(r, 0);
	cr_assert(r == -EPROTO || r == AD_EPARSE, "%d", r);

	/* a real ClientHello, mutated: errors or a normal wait for more, never a crash */
	struct pair p;
	pair_open(&p, ctx, &(struct copts){.sni = EXACT, .alpn = "\x02h2\x08http/1.1"});
	client_step(&p);
	uint8_t hello[4096];
	int hl = BIO_read(p.c_out, hello, sizeof(hello));
	cr_assert_gt(hl, 100);
	pair_close(&p);
	uint32_t x = 2463534242u;
	unsigned errors = 0;
	for (int i = 0; i < 400; i++) {
		uint8_t m[4096];
		memcpy(m, hello, (size_t)hl);
		for (int k = 0; k < 1 + i % 4; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			m[(x >> 8) % (uint32_t)hl] = (uint8_t)x;
		}
		size_t len = i % 5 == 0 ? (size_t)((x >> 3) % (uint32_t)hl) : (size_t)hl;
		if (feed_and_read(ctx, m, len, 1 + (size_t)(i % 300)) < 0)
			errors++;
	}
	cr_log_info("mutated hellos: %u of 400 refused", errors);
	cr_assert_gt(errors, 0);
	tlsterm_ctx_destroy(ctx);
}

/* ---- configuration and reload ---- */

Test(tlsterm, config_errors_name_the_problem)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = NULL;
	char err[TLSTERM_ERR_MAX];
	struct tlsterm_cert c[2];
	struct tlsterm_config bad = {.certs = c, .ncerts = 1};

	c[0] = (struct tlsterm_cert){EXACT, "/nonexistent/op.pem", p_exact_key};
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_assert_null(ctx);
	cr_log_info("missing cert: %s", err);
	cr_assert(strstr(err, "/nonexistent/op.pem") && strstr(err, "No such file"), "%s", err);

	c[0] = (struct tlsterm_cert){EXACT, p_exact_pem, p_ca}; /* a certificate, not a key */
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_log_info("not a key: %s", err);
	cr_assert(strstr(err, p_ca) != NULL, "%s", err);

	char garbage[700];
	snprintf(garbage, sizeof(garbage), "%s/garbage.pem", g_dir);
	cr_assert_eq(write_file(garbage, "garbage\n", 8), 0);
	c[0] = (struct tlsterm_cert){EXACT, garbage, p_exact_key};
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_log_info("not a certificate: %s", err);
	cr_assert(strstr(err, garbage) && strstr(err, "no start line"), "%s", err);

	c[0] = (struct tlsterm_cert){EXACT, p_exact_pem, p_wild_key};
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_log_info("mismatch: %s", err);
	cr_assert(strstr(err, "does not match") && strstr(err, p_wild_key) &&
		  strstr(err, p_exact_pem), "%s", err);

	c[0] = (struct tlsterm_cert){"other.airdr.es", p_exact_pem, p_exact_key};
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "does not cover name other.airdr.es"), "%s", err);

	c[0] = (struct tlsterm_cert){"*.b.airdr.es", p_wild_pem, p_wild_key};
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "does not cover"), "%s", err);

	const char *invalid[] = {"", "*", "*.es", "a..b", "a.*.b", "bad name.es", "x*.a.airdr.es"};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		c[0] = (struct tlsterm_cert){invalid[i], p_wild_pem, p_wild_key};
		cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG,
			     "%s", invalid[i]);
		cr_assert(strstr(err, "not a host name"), "%s: %s", invalid[i], err);
	}

	c[0] = (struct tlsterm_cert){EXACT, p_exact_pem, p_exact_key};
	c[1] = (struct tlsterm_cert){"OP.airdr.es", p_exact_pem, p_exact_key};
	bad.ncerts = 2;
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "configured twice"), "%s", err);

	bad.ncerts = 0;
	cr_assert_eq(tlsterm_ctx_create(&bad, &ctx, err, sizeof(err)), AD_ECONFIG);

	/* the same name twice, spelled differently */
	struct tlsterm_cert twice[] = {{WILD, p_wild_pem, p_wild_key},
				       {"*.A.airdr.es.", p_wild_pem, p_wild_key}};
	struct tlsterm_config dup = {.certs = twice, .ncerts = 2};
	cr_assert_eq(tlsterm_ctx_create(&dup, &ctx, err, sizeof(err)), AD_ECONFIG, "%s", err);
	cr_assert(strstr(err, "configured twice"), "%s", err);

	/* the same files under two names share one SSL_CTX; both names work */
	struct tlsterm_cert shared[] = {{EXACT, p_exact_pem, p_exact_key},
					{WILD, p_wild_pem, p_wild_key},
					{"x.a.airdr.es", p_wild_pem, p_wild_key}};
	struct tlsterm_config share = {.certs = shared, .ncerts = 3};
	ctx = make_ctx(&share);
	const char *names[] = {"x.a.airdr.es", "y.a.airdr.es", EXACT};
	for (size_t i = 0; i < 3; i++) {
		struct pair p;
		pair_open(&p, ctx, &(struct copts){.sni = names[i], .verify_name = names[i]});
		handshake_ok(&p);
		pair_close(&p);
	}
	tlsterm_ctx_destroy(ctx);
	(void)cfg;
}

Test(tlsterm, reload_failure_keeps_the_old_certificates)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	char err[TLSTERM_ERR_MAX], missing[700];
	snprintf(missing, sizeof(missing), "%s/missing.key", g_dir);
	struct tlsterm_cert c[] = {{EXACT, p_exact_pem, missing}, {WILD, p_wild_pem, p_wild_key}};
	struct tlsterm_config bad = {.certs = c, .ncerts = 2};
	int r = tlsterm_ctx_reload(ctx, &bad, err, sizeof(err));
	cr_assert_eq(r, AD_ECONFIG);
	cr_log_info("reload: %s", err);
	cr_assert(strstr(err, missing) != NULL, "error does not name the file: %s", err);
	cr_assert(strstr(err, "No such file or directory") != NULL, "%s", err);

	struct pair p;
	pair_open(&p, ctx, &(struct copts){.sni = EXACT, .verify_name = EXACT});
	handshake_ok(&p);
	pair_close(&p);
	tlsterm_ctx_destroy(ctx);
}

Test(tlsterm, reload_applies_to_new_connections_only)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	char err[TLSTERM_ERR_MAX];
	struct pair before, after;

	/* a connection created before the reload, its handshake not started */
	pair_open(&before, ctx, &(struct copts){.sni = EXACT, .verify_name = EXACT});
	struct tlsterm_cert only_wild[] = {{WILD, p_wild_pem, p_wild_key}};
	struct tlsterm_config fresh = {.certs = only_wild, .ncerts = 1};
	cr_assert_eq(tlsterm_ctx_reload(ctx, &fresh, err, sizeof(err)), 0, "%s", err);

	pair_open(&after, ctx, &(struct copts){.sni = EXACT});
	pump(&after);
	cr_assert_eq(after.srv_err, AD_ENOTFOUND); /* op.airdr.es is no longer served */
	pair_close(&after);

	handshake_ok(&before); /* the old set is still alive for it */
	transfer(&before, 5000);
	pair_close(&before);

	pair_open(&after, ctx, &(struct copts){.sni = UNDER_WILD, .verify_name = UNDER_WILD});
	handshake_ok(&after);
	pair_close(&after);
	tlsterm_ctx_destroy(ctx);
}

struct reloader {
	struct tlsterm_ctx *ctx;
	struct tlsterm_config cfg;
	int rounds, failures;
};

static void *reload_loop(void *arg)
{
	struct reloader *r = arg;
	char err[TLSTERM_ERR_MAX];
	for (int i = 0; i < r->rounds; i++) {
		if (tlsterm_ctx_reload(r->ctx, &r->cfg, err, sizeof(err)) != 0)
			r->failures++;
		tlsterm_ctx_rotate_tickets(r->ctx);
	}
	return NULL;
}

Test(tlsterm, reload_while_connecting)
{
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	struct reloader r = {.ctx = ctx, .cfg = cfg, .rounds = 40};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, reload_loop, &r), 0);
	for (int i = 0; i < 40; i++) {
		struct pair p;
		pair_open(&p, ctx, &(struct copts){.sni = i % 2 ? EXACT : UNDER_WILD});
		handshake_ok(&p);
		transfer(&p, 3000);
		pair_close(&p);
	}
	pthread_join(th, NULL);
	cr_assert_eq(r.failures, 0);
	tlsterm_ctx_destroy(ctx);
}

/* ---- memory per connection ---- */

/* OpenSSL's allocations (and tlsterm's, which go through OPENSSL_malloc) counted by
 * who asked: the server side (g_tag 1, set by SERVER()) or anyone else. */
struct memhdr {
	size_t size;
	int tag;
	int pad;
};
_Static_assert(sizeof(struct memhdr) == 16, "header keeps 16-byte alignment");
static long long g_live[2], g_peak; /* g_peak: highest g_live[1] */

static void *mem_malloc(size_t n, const char *file, int line)
{
	struct memhdr *h = malloc(sizeof(*h) + n);
	if (h == NULL)
		return NULL;
	h->size = n;
	h->tag = g_tag;
	g_live[g_tag] += (long long)n;
	if (g_live[1] > g_peak)
		g_peak = g_live[1];
	return h + 1;
}

static void mem_free(void *p, const char *file, int line)
{
	if (p == NULL)
		return;
	struct memhdr *h = (struct memhdr *)p - 1;
	g_live[h->tag] -= (long long)h->size;
	free(h);
}

static void *mem_realloc(void *p, size_t n, const char *file, int line)
{
	if (p == NULL)
		return mem_malloc(n, file, line);
	if (n == 0) {
		mem_free(p, file, line);
		return NULL;
	}
	struct memhdr *h = (struct memhdr *)p - 1, *nh;
	size_t old = h->size;
	int tag = h->tag;
	nh = realloc(h, sizeof(*h) + n);
	if (nh == NULL)
		return NULL;
	g_live[tag] -= (long long)old;
	nh->size = n;
	nh->tag = g_tag;
	g_live[g_tag] += (long long)n;
	if (g_live[1] > g_peak)
		g_peak = g_live[1];
	return nh + 1;
}

static void measure(struct tlsterm_ctx *ctx, const char *label, const char *name, int maxv)
{
	struct pair p;
	long long base = g_live[1];
	g_peak = base;
	pair_open(&p, ctx, &(struct copts){.sni = name, .max_version = maxv});
	long long created = g_live[1] - base;
	handshake_ok(&p);
	long long after_hs = g_live[1] - base;
	transfer(&p, 256 * 1024);
	long long after_data = g_live[1] - base, peak = g_peak - base;

	/* streaming as the loop does it: 16 KiB plaintext pieces, each sent at once */
	static uint8_t piece[16384];
	g_peak = g_live[1];
	for (int i = 0; i < 32; i++) {
		size_t w = 0;
		cr_assert_eq(SSL_write_ex(p.ssl, piece, sizeof(piece), &w), 1);
		pump(&p);
		cr_assert_eq(SERVER(tlsterm_write(p.sv, piece, sizeof(piece))), (int)sizeof(piece));
		pump(&p);
	}
	long long flushed_peak = g_peak - base;
	pair_close(&p);
	long long after_free = g_live[1] - base;
	fprintf(stderr,
		"tlsterm memory, %s: created %lld B, after handshake %lld B, after 256 KiB "
		"each way (idle) %lld B, peak %lld B (flushing every 16 KiB: %lld B), "
		"after destroy %lld B\n",
		label, created, after_hs, after_data, peak, flushed_peak, after_free);
	cr_log_info("%s: after handshake %lld B, idle after data %lld B", label, after_hs,
		    after_data);
	/* OpenSSL 3.0's SSL object alone is about 7.6 KB; the record buffers (about 34 KB
	 * when kept) must not be held while idle, and nothing may be left behind */
	cr_assert_lt(after_hs, 16 * 1024, "%s: %lld bytes after the handshake", label, after_hs);
	cr_assert_leq(after_data, after_hs + 256, "%s: %lld bytes idle", label, after_data);
	cr_assert_eq(after_free, 0, "%s: %lld bytes left after destroy", label, after_free);
}

/* Installed before main (and before Criterion or anything else may touch OpenSSL):
 * OpenSSL takes custom allocators only before its first allocation. */
static bool g_counting;
__attribute__((constructor)) static void mem_install(void)
{
	g_counting = CRYPTO_set_mem_functions(mem_malloc, mem_realloc, mem_free) == 1;
}

Test(memory, per_connection, .init = setup, .fini = teardown, .timeout = 120)
{
	if (!g_counting)
		cr_skip_test("OpenSSL allocated before the test could count its memory");
	struct tlsterm_config cfg = base_config();
	struct tlsterm_ctx *ctx = make_ctx(&cfg);
	/* warm up: algorithm fetches and other process-wide caches */
	struct pair p;
	for (int v = 0; v < 2; v++) {
		pair_open(&p, ctx, &(struct copts){.sni = v ? UNDER_WILD : EXACT,
						   .max_version = v ? TLS1_2_VERSION : 0});
		handshake_ok(&p);
		transfer(&p, 100000);
		pair_close(&p);
	}
	measure(ctx, "TLS 1.3 ECDSA P-256", EXACT, 0);
	measure(ctx, "TLS 1.3 RSA 2048 (after SNI switch)", UNDER_WILD, 0);
	measure(ctx, "TLS 1.2 ECDSA P-256", EXACT, TLS1_2_VERSION);
	measure(ctx, "TLS 1.2 RSA 2048 (after SNI switch)", UNDER_WILD, TLS1_2_VERSION);
	tlsterm_ctx_destroy(ctx);
}

/* ---- a real client: openssl s_client over a socket ---- */

struct sserver {
	int lfd;
	struct tlsterm_ctx *ctx;
	int result; /* 0, or what went wrong */
	char sni[64], alpn[16], version[16], error[256];
};

static int send_pending(int fd, struct tlsterm_conn *c)
{
	const uint8_t *o;
	size_t olen;
	tlsterm_pending_out(c, &o, &olen);
	while (olen > 0) {
		ssize_t n = send(fd, o, olen, MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		tlsterm_consume_out(c, (size_t)n);
		tlsterm_pending_out(c, &o, &olen);
	}
	return 0;
}

/* Accept one connection; answer "echo: " + the request once its head is complete, then
 * close_notify and close. Every wait bounded. */
static void *sserver_run(void *arg)
{
	struct sserver *s = arg;
	struct tlsterm_conn *c = NULL;
	int fd = -1;
	char req[8192];
	size_t reqlen = 0;
	bool replied = false;
	struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};

	if (poll(&pfd, 1, 20000) != 1) {
		s->result = -ETIMEDOUT;
		goto finish;
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0 || tlsterm_conn_create(s->ctx, &c) != 0) {
		s->result = -EIO;
		goto finish;
	}
	uint64_t deadline = mono_ms() + 20000;
	while (!replied && mono_ms() < deadline) {
		pfd = (struct pollfd){.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) != 1)
			continue;
		uint8_t buf[8192];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			s->result = -ECONNRESET;
			goto finish;
		}
		int r = tlsterm_feed(c, buf, (size_t)n);
		while (r == 0) {
			r = tlsterm_read(c, (uint8_t *)req + reqlen, sizeof(req) - 1 - reqlen);
			if (r > 0) {
				reqlen += (size_t)r;
				r = 0;
			} else if (r == 0) {
				break;
			}
		}
		if (r < 0) {
			tlsterm_strerror(c, r, s->error, sizeof(s->error));
			s->result = r;
			send_pending(fd, c); /* the alert */
			goto finish;
		}
		req[reqlen] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL) {
			snprintf(s->sni, sizeof(s->sni), "%s", tlsterm_sni(c) ? tlsterm_sni(c) : "");
			snprintf(s->alpn, sizeof(s->alpn), "%s", tlsterm_alpn(c) ? tlsterm_alpn(c) : "");
			snprintf(s->version, sizeof(s->version), "%s", tlsterm_version(c));
			if (tlsterm_write(c, (const uint8_t *)"echo: ", 6) != 6 ||
			    tlsterm_write(c, (const uint8_t *)req, reqlen) != (int)reqlen)
				s->result = -EIO;
			tlsterm_shutdown(c);
			replied = true;
		}
		if (send_pending(fd, c) != 0) {
			s->result = -EPIPE;
			goto finish;
		}
	}
	if (!replied) {
		s->result = -ETIMEDOUT;
		goto finish;
	}
	/* let the client read everything and close first: no RST over unread data */
	shutdown(fd, SHUT_WR);
	deadline = mono_ms() + 5000;
	while (mono_ms() < deadline) {
		uint8_t buf[4096];
		pfd = (struct pollfd){.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
finish:
	tlsterm_conn_destroy(c);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static char *slurp(const char *path)
{
	static char text[65536];
	FILE *f = fopen(path, "rb");
	size_t n = 0;
	if (f != NULL) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

static void s_client_run(const char *version_flag, const char *want_version)
{
	struct tlsterm_config cfg = base_config();
	struct sserver s = {.ctx = make_ctx(&cfg)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char connect_to[64], in_path[700], out_path[700];
	pthread_t th;

	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s.lfd, 0);
	cr_assert_eq(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s.lfd, 4), 0);
	cr_assert_eq(getsockname(s.lfd, (struct sockaddr *)&a, &alen), 0);
	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%u", ntohs(a.sin_port));
	snprintf(in_path, sizeof(in_path), "%s/request-%d.txt", g_dir, getpid());
	snprintf(out_path, sizeof(out_path), "%s/s_client-%d.out", g_dir, getpid());
	const char *request = "GET / HTTP/1.1\r\nHost: " UNDER_WILD "\r\n\r\n";
	cr_assert_eq(write_file(in_path, request, strlen(request)), 0);
	cr_assert_eq(pthread_create(&th, NULL, sserver_run, &s), 0);

	char *argv[] = {"openssl", "s_client", "-connect", connect_to, "-servername", UNDER_WILD,
			"-alpn", "http/1.1", "-CAfile", p_ca, "-verify_return_error",
			"-verify_hostname", UNDER_WILD, "-ign_eof", (char *)version_flag, NULL};
	int rc = run_cmd(argv, in_path, out_path, 25000);
	pthread_join(th, NULL);
	close(s.lfd);
	const char *out = slurp(out_path);
	cr_log_info("s_client exit %d; server result %d (%s)", rc, s.result, s.error);
	cr_assert_eq(rc, 0, "s_client exit %d, output:\n%s", rc, out);
	cr_assert_eq(s.result, 0, "server: %d %s", s.result, s.error);
	cr_assert(strstr(out, "Verify return code: 0 (ok)") != NULL, "%s", out);
	cr_assert(strstr(out, "ALPN protocol: http/1.1") != NULL, "%s", out);
	cr_assert(strstr(out, "echo: GET / HTTP/1.1") != NULL, "%s", out);
	cr_assert(strstr(out, want_version) != NULL, "%s", out);
	cr_assert_str_eq(s.sni, UNDER_WILD);
	cr_assert_str_eq(s.alpn, "http/1.1");
	cr_assert(strstr(want_version, s.version) != NULL, "%s vs %s", s.version, want_version);
	tlsterm_ctx_destroy(s.ctx);
}

TestSuite(s_client, .init = setup, .fini = teardown, .timeout = 60);

Test(s_client, tls13)
{
	s_client_run("-tls1_3", "TLSv1.3");
}

Test(s_client, tls12)
{
	s_client_run("-tls1_2", "TLSv1.2");
}
