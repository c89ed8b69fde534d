/*
 * Unit tests for admin: a real server on 127.0.0.1 (port 0), real clients: the curl
 * binary for well-formed requests, raw sockets for malformed and slow ones. Every
 * wait is bounded (WAIT_MS); no timing is asserted beyond "it finishes".
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "error.h"
#include "metrics.h"

extern char **environ;

#define WAIT_MS 10000
#define CURL "/usr/bin/curl"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* ---- responses ---- */

struct reply {
	char *raw; /* everything received, NUL-terminated */
	size_t len;
	int status;       /* of the final (non-1xx) response; 0 if none */
	const char *head; /* start of the final response */
	const char *body;
	size_t body_len;
};

static void reply_parse(struct reply *r)
{
	const char *p = r->raw;
	r->status = 0;
	r->body = NULL;
	r->body_len = 0;
	while (p != NULL && strncmp(p, "HTTP/1.", 7) == 0) {
		int status = atoi(p + 9);
		const char *end = strstr(p, "\r\n\r\n");
		r->head = p;
		r->status = status;
		if (end == NULL)
			break;
		r->body = end + 4;
		r->body_len = r->len - (size_t)(r->body - r->raw);
		if (status >= 200)
			break;
		p = r->body;
	}
}

/* Value of header `name` in the final response head, copied to buf; NULL if absent. */
static const char *reply_header(const struct reply *r, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	if (r->head == NULL)
		return NULL;
	for (const char *line = strstr(r->head, "\r\n"); line != NULL && line + 2 < r->body;
	     line = strstr(line + 2, "\r\n")) {
		const char *l = line + 2;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			const char *v = l + n + 1;
			while (*v == ' ')
				v++;
			const char *e = strstr(v, "\r\n");
			snprintf(buf, size, "%.*s", (int)(e - v), v);
			return buf;
		}
	}
	return NULL;
}

static void reply_free(struct reply *r)
{
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

/* Read fd until EOF, error or WAIT_MS; the reply owns what was read. */
static void read_all(int fd, struct reply *r)
{
	size_t cap = 4096;
	int64_t deadline = now_ms() + WAIT_MS;
	r->raw = malloc(cap);
	r->len = 0;
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		if (cap - r->len < 2048)
			r->raw = realloc(r->raw, cap *= 2);
		ssize_t n = read(fd, r->raw + r->len, cap - r->len - 1);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	r->raw[r->len] = '\0';
	reply_parse(r);
}

/* ---- clients ---- */

static int connect_to(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may close early (413, 431): fine */
		p += n;
		len -= (size_t)n;
	}
}

/* Send raw bytes, read the whole answer (the server closes after it). */
static void raw_request(uint16_t port, const void *data, size_t len, struct reply *r)
{
	int fd = connect_to(port);
	send_all(fd, data, len);
	read_all(fd, r);
	close(fd);
}

static void raw(uint16_t port, const char *text, struct reply *r)
{
	raw_request(port, text, strlen(text), r);
}

/* Run curl with the arguments after the fixed ones (-s -i, no proxy, timeout) and
 * collect its stdout as the reply. */
static void curl(struct reply *r, const char *const args[])
{
	const char *argv[32] = { CURL, "-s", "-S", "-i", "--noproxy", "*", "--max-time", "10" };
	int n = 8;
	int pipefd[2];
	posix_spawn_file_actions_t fa;
	pid_t pid;

	for (int i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	cr_assert_eq(posix_spawn(&pid, CURL, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	read_all(pipefd[0], r);
	close(pipefd[0]);
	int st;
	waitpid(pid, &st, 0);
}

static char url_buf[256];

static const char *url(uint16_t port, const char *path)
{
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%u%s", port, path);
	return url_buf;
}

static void get(uint16_t port, const char *path, struct reply *r)
{
	curl(r, (const char *[]){ url(port, path), NULL });
}

static void expect_reply(const struct reply *r, int status, const char *body)
{
	cr_assert_eq(r->status, status, "status %d, want %d; got:\n%s", r->status, status, r->raw);
	if (body != NULL) {
		cr_assert_not_null(r->body, "no body in:\n%s", r->raw);
		cr_assert_str_eq(r->body, body);
	}
}

/* ---- fixtures ---- */

static struct admin *start(struct admin_config cfg, uint16_t *port)
{
	struct admin *a = NULL;
	if (cfg.listen == NULL)
		cfg.listen = "127.0.0.1:0";
	cr_assert_eq(admin_create(&cfg, &a), 0);
	cr_assert_eq(admin_start(a), 0);
	*port = admin_port(a);
	cr_assert_neq(*port, 0);
	return a;
}

/* ---- health ---- */

Test(admin, healthz_states)
{
	uint16_t port;
	struct admin *a = start((struct admin_config){ 0 }, &port);
	struct reply r;

	get(port, "/healthz", &r);
	expect_reply(&r, 503, "starting\n");
	reply_free(&r);

	admin_set_state(a, ADMIN_SERVING);
	cr_assert_eq(admin_get_state(a), ADMIN_SERVING);
	get(port, "/healthz", &r);
	expect_reply(&r, 200, "ok\n");
	char buf[128];
	cr_assert_str_eq(reply_header(&r, "Content-Type", buf, sizeof(buf)),
			 "text/plain; charset=utf-8");
	cr_assert_str_eq(reply_header(&r, "Content-Length", buf, sizeof(buf)), "3");
	cr_assert_str_eq(reply_header(&r, "Connection", buf, sizeof(buf)), "close");
	cr_assert_not_null(reply_header(&r, "Date", buf, sizeof(buf)));
	reply_free(&r);

	admin_set_unhealthy(a, "zone a.airdr.es failed to load\nsecond line");
	get(port, "/healthz", &r);
	expect_reply(&r, 503, "unhealthy: zone a.airdr.es failed to load\n");
	reply_free(&r);
	admin_set_unhealthy(a, NULL);
	get(port, "/healthz", &r);
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);

	admin_set_state(a, ADMIN_DRAINING);
	get(port, "/healthz", &r);
	expect_reply(&r, 503, "draining\n");
	reply_free(&r);
	admin_destroy(a);
}

struct beater {
	struct admin *a;
	int stop;
	int skip_worker1; /* stop beating worker 1 */
};

static void *beat(void *p)
{
	struct beater *b = p;
	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		admin_heartbeat(b->a, 0);
		if (!__atomic_load_n(&b->skip_worker1, __ATOMIC_ACQUIRE))
			admin_heartbeat(b->a, 1);
		admin_heartbeat(b->a, 99); /* out of range: ignored */
		sleep_ms(20);
	}
	return NULL;
}

/* Poll /healthz (raw, fast) until the body is `want` or WAIT_MS passes. */
static void wait_health(uint16_t port, int status, const char *want)
{
	struct reply r = { 0 };
	int64_t deadline = now_ms() + WAIT_MS;
	for (;;) {
		raw(port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		if (r.status == status && r.body != NULL && strcmp(r.body, want) == 0)
			break;
		cr_assert_lt(now_ms(), deadline, "never got %d %s; last:\n%s", status, want, r.raw);
		reply_free(&r);
		sleep_ms(50);
	}
	reply_free(&r);
}

Test(admin, stalled_worker)
{
	uint16_t port;
	struct admin *a = start((struct admin_config){ .workers = 2, .stall_after_ms = 300 }, &port);
	struct beater b = { .a = a };
	pthread_t th;

	/* while STARTING nothing is judged, even without heartbeats */
	sleep_ms(400);
	wait_health(port, 503, "starting\n");

	cr_assert_eq(pthread_create(&th, NULL, beat, &b), 0);
	admin_set_state(a, ADMIN_SERVING);
	wait_health(port, 200, "ok\n");

	__atomic_store_n(&b.skip_worker1, 1, __ATOMIC_RELEASE);
	wait_health(port, 503, "unhealthy: worker 1 stalled\n");

	__atomic_store_n(&b.skip_worker1, 0, __ATOMIC_RELEASE);
	wait_health(port, 200, "ok\n");

	/* draining wins over a stall */
	__atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	wait_health(port, 503, "unhealthy: worker 0 stalled\n");
	admin_set_state(a, ADMIN_DRAINING);
	wait_health(port, 503, "draining\n");
	admin_destroy(a);
}

Test(admin, readyz)
{
	uint16_t port;
	struct admin *a = start((struct admin_config){ 0 }, &port);
	struct reply r;

	get(port, "/readyz", &r);
	expect_reply(&r, 503, "not ready\n");
	reply_free(&r);
	admin_set_ready(a, true);
	get(port, "/readyz", &r);
	expect_reply(&r, 200, "ready\n");
	reply_free(&r);
	admin_set_ready(a, false);
	get(port, "/readyz", &r);
	expect_reply(&r, 503, "not ready\n");
	reply_free(&r);
	admin_destroy(a);
}

/* ---- metrics ---- */

static const char *const kinds[] = { "a", "b", NULL };
static const double bounds[] = { 0.5, 1 };
static const struct metrics_desc descs[] = {
	METRICS_DESC("test_requests_total", "Requests.", METRICS_COUNTER,
		     .dims = { { "kind", kinds } }),
	METRICS_DESC("test_open", "Open things.", METRICS_GAUGE),
	METRICS_DESC("test_seconds", "Durations.", METRICS_HISTOGRAM, .buckets = bounds,
		     .n_buckets = 2),
};

static int extra(FILE *out, void *ctx)
{
	fputs("# TYPE test_extra gauge\ntest_extra 42\n", out);
	return 0;
}

Test(admin, metrics_endpoint)
{
	struct metrics *m = NULL;
	uint16_t port;
	struct reply r;
	char buf[128];

	cr_assert_eq(metrics_create(descs, 3, 2, &m), 0);
	metrics_set_hook(m, extra, NULL);
	metrics_add_at(metrics_worker_slots(m, 0), 0, 1, 5);
	metrics_inc_at(metrics_worker_slots(m, 1), 0, 1);
	metrics_gauge_set(metrics_worker_slots(m, 1), 1, 3);
	metrics_observe(metrics_control_slots(m), 2, 0.75);
	struct admin *a = start((struct admin_config){ .metrics = m }, &port);

	get(port, "/metrics", &r);
	expect_reply(&r, 200, NULL);
	cr_assert_str_eq(reply_header(&r, "Content-Type", buf, sizeof(buf)),
			 "text/plain; version=0.0.4");
	char *text;
	size_t len;
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_str_eq(r.body, text);
	cr_assert_not_null(strstr(text, "test_requests_total{kind=\"b\"} 6\n"));
	cr_assert_not_null(strstr(text, "test_open 3\n"));
	cr_assert_not_null(strstr(text, "test_seconds_bucket{le=\"1\"} 1\n"));
	cr_assert_not_null(strstr(text, "test_extra 42\n"));
	snprintf(buf, sizeof(buf), "%zu", len);
	char cl[32];
	cr_assert_str_eq(reply_header(&r, "Content-Length", cl, sizeof(cl)), buf);
	free(text);
	reply_free(&r);

	/* counters move between scrapes */
	metrics_inc_at(metrics_worker_slots(m, 0), 0, 0);
	get(port, "/metrics", &r);
	cr_assert_not_null(strstr(r.body, "test_requests_total{kind=\"a\"} 1\n"));
	reply_free(&r);

	admin_destroy(a);
	metrics_destroy(m);
}

Test(admin, metrics_without_metrics)
{
	uint16_t port;
	struct reply r;
	struct admin *a = start((struct admin_config){ 0 }, &port);
	get(port, "/metrics", &r);
	expect_reply(&r, 200, "");
	reply_free(&r);
	admin_destroy(a);
}

/* ---- custom routes ---- */

static int names_put(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	const char *auth = admin_request_header(req, "authorization");
	size_t len;
	const char *body = admin_request_body(req, &len);

	(*(int *)ctx)++;
	if (auth == NULL || strcmp(auth, "Bearer s3cret") != 0) {
		admin_response_status(resp, 401);
		cr_assert_eq(admin_response_header(resp, "WWW-Authenticate", "Bearer"), 0);
		return admin_response_printf(resp, "{\"error\":{\"code\":\"unauthorized\"}}\n");
	}
	admin_response_status(resp, 201);
	cr_assert_eq(admin_response_type(resp, "application/json"), 0);
	cr_assert_eq(admin_response_header(resp, "X-Bad", "a\r\nInjected: yes"), -EINVAL);
	cr_assert_eq(admin_response_header(resp, "Content-Length", "1"), -EINVAL);
	cr_assert_eq(admin_response_header(resp, "Bad Name", "x"), -EINVAL);
	cr_assert_eq(admin_response_type(resp, "text/html\r\nX: y"), -EINVAL);
	return admin_response_printf(resp, "{\"method\":\"%s\",\"path\":\"%s\",\"query\":\"%s\","
					   "\"len\":%zu,\"body\":%s}\n",
				     admin_request_method(req), admin_request_path(req),
				     admin_request_query(req), len, len ? body : "null");
}

static int big_put(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	size_t len;
	const char *body = admin_request_body(req, &len);
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + (unsigned char)body[i];
	cr_assert_eq(body[len], '\0');
	return admin_response_printf(resp, "%zu %u\n", len, sum);
}

static int failing(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	admin_response_printf(resp, "partial");
	return -EIO;
}

static int no_content(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	admin_response_status(resp, 204);
	return admin_response_printf(resp, "ignored");
}

static int bad_status(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	admin_response_status(resp, 101);
	return 0;
}

static int exact_handler(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	return admin_response_printf(resp, "%s\n", (const char *)ctx);
}

Test(admin, custom_routes)
{
	uint16_t port;
	struct admin *a = NULL;
	struct reply r;
	char buf[128];
	int calls = 0;

	struct admin_config cfg = { .listen = "127.0.0.1:0" };
	cr_assert_eq(admin_create(&cfg, &a), 0);
	cr_assert_eq(admin_route_add(a, "PUT", "/v1/names/", ADMIN_ROUTE_PREFIX, names_put, &calls),
		     0);
	cr_assert_eq(admin_route_add(a, "PUT", "/v1/big", ADMIN_ROUTE_EXACT, big_put, NULL), 0);
	cr_assert_eq(admin_route_add(a, "GET", "/v1/fail", 0, failing, NULL), 0);
	cr_assert_eq(admin_route_add(a, "DELETE", "/v1/names/", ADMIN_ROUTE_PREFIX, no_content, NULL),
		     0);
	cr_assert_eq(admin_route_add(a, "GET", "/v1/status", 0, bad_status, NULL), 0);
	cr_assert_eq(admin_route_add(a, "GET", "/v1/x", ADMIN_ROUTE_PREFIX, exact_handler, "prefix"),
		     0);
	cr_assert_eq(admin_route_add(a, "GET", "/v1/x/y", 0, exact_handler, "exact"), 0);
	cr_assert_eq(admin_route_add(a, "GET", "/v1/x/y", 0, exact_handler, "replaced"), 0);
	cr_assert_eq(admin_route_add(a, "GET", "no-slash", 0, exact_handler, NULL), -EINVAL);
	cr_assert_eq(admin_route_add(a, "G T", "/x", 0, exact_handler, NULL), -EINVAL);
	cr_assert_eq(admin_route_add(a, "GET", "/x", 0, NULL, NULL), -EINVAL);
	cr_assert_eq(admin_route_add(a, "GET", "/x", 8, exact_handler, NULL), -EINVAL);
	cr_assert_eq(admin_start(a), 0);
	cr_assert_eq(admin_start(a), -EBUSY);
	cr_assert_eq(admin_route_add(a, "GET", "/late", 0, exact_handler, NULL), -EBUSY);
	port = admin_port(a);

	curl(&r, (const char *[]){ "-X", "PUT", "-H", "Authorization: Bearer s3cret", "-H",
				   "Content-Type: application/json", "--data-binary",
				   "{\"operator\":\"op1\"}", url(port, "/v1/names/myapp.a.airdr.es?x=1&y"),
				   NULL });
	expect_reply(&r, 201,
		     "{\"method\":\"PUT\",\"path\":\"/v1/names/myapp.a.airdr.es\",\"query\":\"x=1&y\","
		     "\"len\":18,\"body\":{\"operator\":\"op1\"}}\n");
	cr_assert_str_eq(reply_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
	reply_free(&r);

	curl(&r, (const char *[]){ "-X", "PUT", url(port, "/v1/names/x"), NULL });
	expect_reply(&r, 401, "{\"error\":{\"code\":\"unauthorized\"}}\n");
	cr_assert_str_eq(reply_header(&r, "WWW-Authenticate", buf, sizeof(buf)), "Bearer");
	reply_free(&r);
	cr_assert_eq(calls, 2);

	/* wrong method on a known path: 405 with Allow */
	curl(&r, (const char *[]){ "-X", "POST", url(port, "/v1/names/x"), NULL });
	expect_reply(&r, 405, "method not allowed\n");
	cr_assert_str_eq(reply_header(&r, "Allow", buf, sizeof(buf)), "PUT, DELETE");
	reply_free(&r);
	curl(&r, (const char *[]){ "-X", "POST", url(port, "/healthz"), NULL });
	expect_reply(&r, 405, NULL);
	cr_assert_str_eq(reply_header(&r, "Allow", buf, sizeof(buf)), "GET, HEAD");
	reply_free(&r);

	/* 204: no body, no Content-Length */
	curl(&r, (const char *[]){ "-X", "DELETE", url(port, "/v1/names/x"), NULL });
	expect_reply(&r, 204, "");
	cr_assert_null(reply_header(&r, "Content-Length", buf, sizeof(buf)));
	reply_free(&r);

	/* handler errors */
	get(port, "/v1/fail", &r);
	expect_reply(&r, 500, "internal error\n");
	reply_free(&r);
	get(port, "/v1/status", &r);
	expect_reply(&r, 500, "internal error\n");
	reply_free(&r);

	/* longest match, exact over prefix, later registration replaces */
	get(port, "/v1/x/y", &r);
	expect_reply(&r, 200, "replaced\n");
	reply_free(&r);
	get(port, "/v1/x/z", &r);
	expect_reply(&r, 200, "prefix\n");
	reply_free(&r);

	/* unknown path */
	get(port, "/nope", &r);
	expect_reply(&r, 404, "not found\n");
	reply_free(&r);
	get(port, "/healthz/more", &r);
	expect_reply(&r, 404, NULL);
	reply_free(&r);

	/* a body of 700 KB from a file through curl (read in many pieces) */
	char path[] = "/tmp/test_admin_bodyXXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	size_t big = 700 * 1000;
	char *data = malloc(big);
	unsigned sum = 0;
	for (size_t i = 0; i < big; i++) {
		data[i] = (char)('a' + i % 26);
		sum = sum * 31 + (unsigned char)data[i];
	}
	cr_assert_eq(write(fd, data, big), (ssize_t)big);
	close(fd);
	char at[64];
	snprintf(at, sizeof(at), "@%s", path);
	curl(&r, (const char *[]){ "-X", "PUT", "--data-binary", at, url(port, "/v1/big"), NULL });
	snprintf(buf, sizeof(buf), "%zu %u\n", big, sum);
	expect_reply(&r, 200, buf);
	reply_free(&r);
	unlink(path);
	free(data);
	admin_destroy(a);
}

Test(admin, expect_continue)
{
	uint16_t port;
	struct admin *a = NULL;
	struct admin_config cfg = { .listen = "127.0.0.1:0" };
	cr_assert_eq(admin_create(&cfg, &a), 0);
	cr_assert_eq(admin_route_add(a, "PUT", "/v1/big", 0, big_put, NULL), 0);
	cr_assert_eq(admin_start(a), 0);
	port = admin_port(a);

	int fd = connect_to(port);
	const char head[] = "PUT /v1/big HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
			    "Expect: 100-continue\r\n\r\n";
	send_all(fd, head, strlen(head));
	char buf[64] = "";
	struct pollfd pfd = { fd, POLLIN, 0 };
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	cr_assert_str_eq(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	send_all(fd, "abc", 3);
	struct reply r;
	read_all(fd, &r);
	close(fd);
	unsigned sum = ((unsigned)'a' * 31 + 'b') * 31 + 'c';
	snprintf(buf, sizeof(buf), "3 %u\n", sum);
	expect_reply(&r, 200, buf);
	reply_free(&r);
	admin_destroy(a);
}

/* ---- HEAD ---- */

Test(admin, head)
{
	uint16_t port;
	struct reply r;
	char buf[64];
	struct admin *a = start((struct admin_config){ 0 }, &port);
	admin_set_state(a, ADMIN_SERVING);

	curl(&r, (const char *[]){ "-I", url(port, "/healthz"), NULL });
	expect_reply(&r, 200, "");
	cr_assert_str_eq(reply_header(&r, "Content-Length", buf, sizeof(buf)), "3");
	reply_free(&r);

	raw(port, "HEAD /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	expect_reply(&r, 503, "");
	cr_assert_str_eq(reply_header(&r, "Content-Length", buf, sizeof(buf)), "10");
	reply_free(&r);
	admin_destroy(a);
}

/* ---- malformed and oversized requests (raw sockets) ---- */

Test(admin, bad_requests)
{
	uint16_t port;
	struct reply r;
	struct admin *a = start((struct admin_config){ 0 }, &port);
	admin_set_state(a, ADMIN_SERVING);

	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\n\r\n", 400 },                       /* no Host */
		{ "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 }, /* two */
		{ "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		  400 },
		{ "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400 }, /* a TLS ClientHello */
		{ "PUT /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n",
		  411 },
		{ "PUT /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
		{ "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417 },
		{ "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413 },
		{ "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		  413 },
		/* still fine: */
		{ "GET /healthz HTTP/1.0\r\n\r\n", 200 },
		{ "\r\nGET /healthz HTTP/1.1\nHost: x\n\n", 200 },
		{ "GET http://localhost/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 200 },
		{ "GET /healthz?verbose HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200 },
		{ "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw(port, cases[i].req, &r);
		cr_expect_eq(r.status, cases[i].status, "case %zu: got %d:\n%s", i, r.status, r.raw);
		reply_free(&r);
	}

	/* a head over 8 KiB: 431 */
	size_t n = 20000;
	char *big = malloc(n + 64);
	int k = snprintf(big, n, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + k, 'a', n - (size_t)k);
	memcpy(big + n, "\r\n\r\n", 4);
	raw_request(port, big, n + 4, &r);
	expect_reply(&r, 431, "request header fields too large\n");
	reply_free(&r);
	/* just under the limit passes */
	k = snprintf(big, n, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	size_t fill = 8192 - (size_t)k - 4;
	memset(big + k, 'a', fill);
	memcpy(big + k + fill, "\r\n\r\n", 4);
	raw_request(port, big, 8192, &r);
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);
	free(big);

	/* too many header lines: 431 */
	char many[4096];
	n = (size_t)snprintf(many, sizeof(many), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 70; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X-%d: v\r\n", i);
	snprintf(many + n, sizeof(many) - n, "\r\n");
	raw(port, many, &r);
	expect_reply(&r, 431, NULL);
	reply_free(&r);

	/* a real body over 1 MiB through curl: 413, with or without 100-continue */
	char path[] = "/tmp/test_admin_hugeXXXXXX";
	int fd = mkstemp(path);
	char *huge = calloc(1, 1200000);
	cr_assert_eq(write(fd, huge, 1200000), 1200000);
	close(fd);
	free(huge);
	char at[64];
	snprintf(at, sizeof(at), "@%s", path);
	curl(&r, (const char *[]){ "-X", "PUT", "--data-binary", at, url(port, "/healthz"), NULL });
	expect_reply(&r, 413, "request body too large\n");
	reply_free(&r);
	curl(&r, (const char *[]){ "-X", "PUT", "-H", "Expect:", "--data-binary", at,
				   url(port, "/healthz"), NULL });
	expect_reply(&r, 413, "request body too large\n");
	reply_free(&r);
	unlink(path);

	/* the server is still fine */
	get(port, "/healthz", &r);
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);
	admin_destroy(a);
}

/* ---- slow clients and connection limits ---- */

Test(admin, slow_client_dropped)
{
	uint16_t port;
	struct reply r;
	struct admin *a = start((struct admin_config){ .read_timeout_ms = 1000 }, &port);
	admin_set_state(a, ADMIN_SERVING);

	int slow = connect_to(port);
	send_all(slow, "GET /healthz HTTP/1.1\r\nHo", 25);
	int idle = connect_to(port); /* sends nothing at all */

	/* others are served while the slow ones hang */
	for (int i = 0; i < 3; i++) {
		get(port, "/healthz", &r);
		expect_reply(&r, 200, "ok\n");
		reply_free(&r);
	}
	/* the slow one gets 408 and is closed; the idle one is just closed */
	read_all(slow, &r);
	expect_reply(&r, 408, "request timeout\n");
	reply_free(&r);
	read_all(idle, &r);
	cr_assert_eq(r.len, 0, "idle got:\n%s", r.raw);
	reply_free(&r);
	close(slow);
	close(idle);

	/* a slow body, too */
	int fd = connect_to(port);
	const char *partial = "GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
	send_all(fd, partial, strlen(partial));
	read_all(fd, &r);
	expect_reply(&r, 408, "request timeout\n");
	reply_free(&r);
	close(fd);
	admin_destroy(a);
}

Test(admin, connection_limit)
{
	enum { LIMIT = 4, CLIENTS = 12 };
	uint16_t port;
	struct reply r;
	struct admin *a = start((struct admin_config){ .max_conns = LIMIT, .read_timeout_ms = 3000 },
				&port);
	admin_set_state(a, ADMIN_SERVING);
	int fds[CLIENTS];
	int busy = 0, closed_silently = 0;

	for (int i = 0; i < CLIENTS; i++)
		fds[i] = connect_to(port);
	for (int i = 0; i < CLIENTS; i++) {
		read_all(fds[i], &r);
		if (r.status == 503 && r.body != NULL && strcmp(r.body, "busy\n") == 0)
			busy++;
		else if (r.len == 0)
			closed_silently++;
		reply_free(&r);
		close(fds[i]);
	}
	cr_assert_eq(busy, CLIENTS - LIMIT);
	cr_assert_eq(closed_silently, LIMIT);

	/* and then the server is usable again */
	get(port, "/healthz", &r);
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);

	/* concurrent well-formed clients beyond the limit: each finishes, 200 or 503 */
	enum { N = 16 };
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		const char *argv[] = { CURL, "-s", "-o", "/dev/null", "--noproxy", "*",
				       "--max-time", "10", url(port, "/metrics"), NULL };
		cr_assert_eq(posix_spawn(&pids[i], CURL, NULL, NULL, (char *const *)argv, environ), 0);
	}
	for (int i = 0; i < N; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st));
		/* 0: answered (200 or 503); 52/56: closed under it. Never a timeout (28). */
		cr_assert_neq(WEXITSTATUS(st), 28);
	}
	get(port, "/healthz", &r);
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);
	admin_destroy(a);
}

/* ---- lifecycle ---- */

Test(admin, lifecycle)
{
	struct admin *a = NULL, *b = NULL;
	struct admin_config cfg = { .listen = "localhost:9153" };

	cr_assert_eq(admin_create(&cfg, &a), AD_ECONFIG);
	cr_assert_null(a);
	cfg.listen = NULL;
	cr_assert_eq(admin_create(&cfg, &a), AD_ECONFIG);
	cfg.listen = "127.0.0.1:0";
	cfg.max_head = 10;
	cr_assert_eq(admin_create(&cfg, &a), AD_ECONFIG);
	cfg.max_head = 0;
	cr_assert_eq(admin_create(NULL, &a), -EINVAL);
	cr_assert_eq(admin_create(&cfg, NULL), -EINVAL);
	admin_destroy(NULL);
	admin_stop(NULL);
	cr_assert_eq(admin_port(NULL), 0);

	cr_assert_eq(admin_create(&cfg, &a), 0);
	cr_assert_eq(admin_port(a), 0);
	admin_stop(a); /* not running: nothing */
	cr_assert_eq(admin_start(a), 0);
	uint16_t port = admin_port(a);

	/* the port is taken */
	char taken[64];
	snprintf(taken, sizeof(taken), "127.0.0.1:%u", port);
	cfg.listen = taken;
	cr_assert_eq(admin_create(&cfg, &b), 0);
	cr_assert_eq(admin_start(b), -EADDRINUSE);
	admin_destroy(b);

	/* stop, then start again */
	admin_stop(a);
	cr_assert_eq(admin_port(a), 0);
	cr_assert_eq(admin_start(a), 0);
	struct reply r;
	get(admin_port(a), "/readyz", &r);
	expect_reply(&r, 503, "not ready\n");
	reply_free(&r);
	/* destroy with an open, idle connection */
	int fd = connect_to(admin_port(a));
	admin_destroy(a);
	read_all(fd, &r);
	reply_free(&r);
	close(fd);
}

Test(admin, ipv6)
{
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	if (probe < 0 || bind(probe, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (probe >= 0)
			close(probe);
		cr_skip_test("no IPv6 loopback here");
	}
	close(probe);

	struct admin *a = NULL;
	struct admin_config cfg = { .listen = "[::1]:0" };
	cr_assert_eq(admin_create(&cfg, &a), 0);
	cr_assert_eq(admin_start(a), 0);
	admin_set_state(a, ADMIN_SERVING);
	char u[64];
	snprintf(u, sizeof(u), "http://[::1]:%u/healthz", admin_port(a));
	struct reply r;
	curl(&r, (const char *[]){ "-g", u, NULL });
	expect_reply(&r, 200, "ok\n");
	reply_free(&r);
	admin_destroy(a);
}
