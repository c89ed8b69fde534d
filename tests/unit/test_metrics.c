/* Unit tests for metrics: slot layout, summing across threads, exposition text. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "metrics.h"

enum {
	M_QUERIES_UDP,
	M_QUERIES_TCP,
	M_ANSWERS,
	M_CONNS,
	M_LATENCY,
	M_SIZE,
	M_ODD,
	M_COUNT
};

static const char *const qtypes[] = { "A", "AAAA", NULL };
static const char *const rcodes[] = { "NOERROR", "NXDOMAIN", "other", NULL };
static const char *const odd_values[] = { "we\"ird\\", NULL };
static const double latency_bounds[] = { 0.25, 1, 4 };
static const double size_bounds[] = { 512, 1232 };

static const struct metrics_desc descs[M_COUNT] = {
	[M_QUERIES_UDP] = METRICS_DESC("dns_queries_total", "Queries received.", METRICS_COUNTER,
				       .labels = "proto=\"udp\""),
	[M_QUERIES_TCP] = METRICS_DESC("dns_queries_total", "Queries received.", METRICS_COUNTER,
				       .labels = "proto=\"tcp\""),
	[M_ANSWERS] = METRICS_DESC("dns_answers_total", "Answers by qtype and rcode.",
				   METRICS_COUNTER,
				   .dims = { { "qtype", qtypes }, { "rcode", rcodes } }),
	[M_CONNS] = METRICS_DESC("dns_tcp_connections", "Open TCP connections.", METRICS_GAUGE),
	[M_LATENCY] = METRICS_DESC("dns_latency_seconds", "Time to answer.", METRICS_HISTOGRAM,
				   .labels = "proto=\"udp\"", .buckets = latency_bounds,
				   .n_buckets = 3),
	[M_SIZE] = METRICS_DESC("dns_response_bytes", "Response sizes, \"quoted\" \\ escaped.",
				METRICS_HISTOGRAM, .dims = { { "qtype", qtypes } },
				.buckets = size_bounds, .n_buckets = 2),
	[M_ODD] = METRICS_DESC("test_odd", NULL, METRICS_GAUGE, .dims = { { "v", odd_values } }),
};

static const char expected_text[] =
	"# HELP dns_queries_total Queries received.\n"
	"# TYPE dns_queries_total counter\n"
	"dns_queries_total{proto=\"udp\"} 14\n"
	"dns_queries_total{proto=\"tcp\"} 2\n"
	"# HELP dns_answers_total Answers by qtype and rcode.\n"
	"# TYPE dns_answers_total counter\n"
	"dns_answers_total{qtype=\"A\",rcode=\"NOERROR\"} 1\n"
	"dns_answers_total{qtype=\"A\",rcode=\"NXDOMAIN\"} 0\n"
	"dns_answers_total{qtype=\"A\",rcode=\"other\"} 0\n"
	"dns_answers_total{qtype=\"AAAA\",rcode=\"NOERROR\"} 0\n"
	"dns_answers_total{qtype=\"AAAA\",rcode=\"NXDOMAIN\"} 2\n"
	"dns_answers_total{qtype=\"AAAA\",rcode=\"other\"} 0\n"
	"# HELP dns_tcp_connections Open TCP connections.\n"
	"# TYPE dns_tcp_connections gauge\n"
	"dns_tcp_connections 7\n"
	"# HELP dns_latency_seconds Time to answer.\n"
	"# TYPE dns_latency_seconds histogram\n"
	"dns_latency_seconds_bucket{proto=\"udp\",le=\"0.25\"} 1\n"
	"dns_latency_seconds_bucket{proto=\"udp\",le=\"1\"} 2\n"
	"dns_latency_seconds_bucket{proto=\"udp\",le=\"4\"} 3\n"
	"dns_latency_seconds_bucket{proto=\"udp\",le=\"+Inf\"} 4\n"
	"dns_latency_seconds_sum{proto=\"udp\"} 11.125\n"
	"dns_latency_seconds_count{proto=\"udp\"} 4\n"
	"# HELP dns_response_bytes Response sizes, \"quoted\" \\\\ escaped.\n"
	"# TYPE dns_response_bytes histogram\n"
	"dns_response_bytes_bucket{qtype=\"A\",le=\"512\"} 1\n"
	"dns_response_bytes_bucket{qtype=\"A\",le=\"1232\"} 1\n"
	"dns_response_bytes_bucket{qtype=\"A\",le=\"+Inf\"} 1\n"
	"dns_response_bytes_sum{qtype=\"A\"} 100\n"
	"dns_response_bytes_count{qtype=\"A\"} 1\n"
	"dns_response_bytes_bucket{qtype=\"AAAA\",le=\"512\"} 0\n"
	"dns_response_bytes_bucket{qtype=\"AAAA\",le=\"1232\"} 1\n"
	"dns_response_bytes_bucket{qtype=\"AAAA\",le=\"+Inf\"} 1\n"
	"dns_response_bytes_sum{qtype=\"AAAA\"} 600\n"
	"dns_response_bytes_count{qtype=\"AAAA\"} 1\n"
	"# TYPE test_odd gauge\n"
	"test_odd{v=\"we\\\"ird\\\\\"} -3\n";

static void fill(struct metrics *m)
{
	struct metrics_slots *w0 = metrics_worker_slots(m, 0);
	struct metrics_slots *w1 = metrics_worker_slots(m, 1);
	struct metrics_slots *ctl = metrics_control_slots(m);

	for (int i = 0; i < 3; i++)
		metrics_inc(w0, M_QUERIES_UDP);
	metrics_add(w0, M_QUERIES_TCP, 2);
	metrics_inc_at(w0, M_ANSWERS, 0 * 3 + 0);   /* A, NOERROR */
	metrics_add_at(w0, M_ANSWERS, 1 * 3 + 1, 2); /* AAAA, NXDOMAIN */
	metrics_gauge_set(w0, M_CONNS, 5);
	metrics_observe(w0, M_LATENCY, 0.125);
	metrics_observe(w0, M_LATENCY, 2);
	metrics_observe(w0, M_LATENCY, 0.0 / 0.0); /* NaN: ignored */

	metrics_inc(w1, M_QUERIES_UDP);
	metrics_gauge_add(w1, M_CONNS, 3);
	metrics_gauge_add(w1, M_CONNS, -1);
	metrics_observe(w1, M_LATENCY, 1); /* on a bound: counts in le="1" */
	metrics_observe(w1, M_LATENCY, 8);
	metrics_observe_at(w1, M_SIZE, 1, 600);

	metrics_add(ctl, M_QUERIES_UDP, 10);
	metrics_observe_at(ctl, M_SIZE, 0, 100);
	metrics_gauge_set_at(ctl, M_ODD, 0, -3);
}

Test(metrics, render_exact)
{
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len = 0;

	cr_assert_eq(metrics_create(descs, M_COUNT, 2, &m), 0);
	fill(m);
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_eq(len, strlen(text));
	cr_assert_str_eq(text, expected_text);
	free(text);

	cr_assert_eq(metrics_sum(m, M_QUERIES_UDP, 0), 14);
	cr_assert_eq((int64_t)metrics_sum(m, M_CONNS, 0), 7);
	cr_assert_eq((int64_t)metrics_sum(m, M_ODD, 0), -3);
	cr_assert_eq(metrics_sum(m, M_LATENCY, 0), 4);
	cr_assert_eq(metrics_sum(m, M_ANSWERS, 4), 2);
	cr_assert_eq(metrics_sum(m, M_ANSWERS, 6), 0); /* out of range */
	cr_assert_eq(metrics_sum(m, M_COUNT, 0), 0);
	cr_assert_eq(metrics_members(m, M_ANSWERS), 6);
	cr_assert_eq(metrics_members(m, M_SIZE), 2);
	cr_assert_eq(metrics_workers(m), 2);
	metrics_destroy(m);
}

Test(metrics, render_to_file)
{
	struct metrics *m = NULL;
	char buf[8192] = "";

	cr_assert_eq(metrics_create(descs, M_COUNT, 2, &m), 0);
	fill(m);
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	cr_assert_not_null(f);
	cr_assert_eq(metrics_render(m, f), 0);
	fclose(f);
	cr_assert_str_eq(buf, expected_text);
	/* a FILE that fails to take the text reports it */
	char tiny[16];
	f = fmemopen(tiny, sizeof(tiny), "w");
	setvbuf(f, NULL, _IONBF, 0);
	cr_assert_eq(metrics_render(m, f), -EIO);
	fclose(f);
	metrics_destroy(m);
}

static int hook_calls;

static int extra_lines(FILE *out, void *ctx)
{
	hook_calls++;
	fprintf(out, "# TYPE %s gauge\n%s 1\n", (const char *)ctx, (const char *)ctx);
	return 0;
}

static int failing_hook(FILE *out, void *ctx)
{
	return AD_ENOSPACE;
}

Test(metrics, hook)
{
	static const struct metrics_desc one[] = { METRICS_DESC("a_total", "A.", METRICS_COUNTER) };
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len;

	cr_assert_eq(metrics_create(one, 1, 1, &m), 0);
	metrics_inc(metrics_worker_slots(m, 0), 0);
	metrics_set_hook(m, extra_lines, "daemon_up");
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_str_eq(text, "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
			       "# TYPE daemon_up gauge\ndaemon_up 1\n");
	cr_assert_eq(hook_calls, 1);
	free(text);
	metrics_set_hook(m, failing_hook, NULL);
	text = NULL;
	cr_assert_eq(metrics_render_alloc(m, &text, &len), AD_ENOSPACE);
	cr_assert_null(text);
	metrics_destroy(m);
}

Test(metrics, empty_and_null)
{
	struct metrics *m = NULL;
	char *text = NULL;
	size_t len = 99;

	cr_assert_eq(metrics_create(NULL, 0, 0, &m), 0);
	cr_assert_null(metrics_worker_slots(m, 0));
	cr_assert_not_null(metrics_control_slots(m));
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(text, "");
	free(text);
	metrics_destroy(m);
	metrics_destroy(NULL);
	cr_assert_eq(metrics_create(NULL, 1, 0, &m), -EINVAL);
	cr_assert_eq(metrics_create(descs, M_COUNT, 0, NULL), -EINVAL);
}

Test(metrics, layout_no_false_sharing)
{
	struct metrics *m = NULL;
	cr_assert_eq(metrics_create(descs, M_COUNT, 3, &m), 0);
	uintptr_t prev = 0;
	for (unsigned w = 0; w <= 3; w++) {
		struct metrics_slots *s = w < 3 ? metrics_worker_slots(m, w) : metrics_control_slots(m);
		uintptr_t start = (uintptr_t)s;
		cr_assert_eq(start % METRICS_ALIGN, 0, "block %u not aligned", w);
		if (w > 0)
			cr_assert_geq(start - prev, METRICS_ALIGN);
		prev = start;
	}
	cr_assert_null(metrics_worker_slots(m, 3));
	/* the last slot of a block stays inside its own aligned range */
	struct metrics_slots *w0 = metrics_worker_slots(m, 0);
	struct metrics_slots *w1 = metrics_worker_slots(m, 1);
	cr_assert_lt((uintptr_t)&w0->v[w0->base[M_ODD]], (uintptr_t)w1);
	metrics_destroy(m);
}

static void expect_invalid(const struct metrics_desc *d, unsigned n, const char *what)
{
	struct metrics *m = (struct metrics *)1;
	cr_expect_eq(metrics_create(d, n, 1, &m), AD_ECONFIG, "accepted: %s", what);
	cr_expect_null(m, "%s", what);
}

Test(metrics, rejects_bad_tables)
{
	static const char *const vals[] = { "x", NULL };
	static const char *const none[] = { NULL };
	static const double desc_bounds[] = { 2, 1 };
	static const double inf_bounds[] = { 1, 1.0 / 0.0 };

#define BAD(what, ...) \
	expect_invalid((struct metrics_desc[]){ __VA_ARGS__ }, \
		       sizeof((struct metrics_desc[]){ __VA_ARGS__ }) / sizeof(struct metrics_desc), \
		       what)
	BAD("name digit", METRICS_DESC("1abc", "h", METRICS_COUNTER));
	BAD("name dash", METRICS_DESC("a-b", "h", METRICS_COUNTER));
	BAD("no name", METRICS_DESC(NULL, "h", METRICS_COUNTER));
	BAD("type", METRICS_DESC("a", "h", 7));
	BAD("help newline", METRICS_DESC("a", "two\nlines", METRICS_COUNTER));
	BAD("labels syntax", METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x"));
	BAD("labels blank", METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x=\"1\" ,y=\"2\""));
	BAD("duplicate fixed label",
	    METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x=\"1\",x=\"2\""));
	BAD("reserved label", METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "__x=\"1\""));
	BAD("bad escape", METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x=\"1\\t\""));
	BAD("unterminated", METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x=\"1"));
	BAD("dim duplicates fixed label",
	    METRICS_DESC("a", "h", METRICS_COUNTER, .labels = "x=\"1\"", .dims = { { "x", vals } }));
	BAD("dims out of order",
	    METRICS_DESC("a", "h", METRICS_COUNTER, .dims = { { NULL, NULL }, { "y", vals } }));
	BAD("dim without values", METRICS_DESC("a", "h", METRICS_COUNTER, .dims = { { "y", none } }));
	BAD("dim values NULL", METRICS_DESC("a", "h", METRICS_COUNTER, .dims = { { "y", NULL } }));
	BAD("le in histogram", METRICS_DESC("a", "h", METRICS_HISTOGRAM, .labels = "le=\"1\""));
	BAD("le dim in histogram", METRICS_DESC("a", "h", METRICS_HISTOGRAM, .dims = { { "le", vals } }));
	BAD("descending buckets",
	    METRICS_DESC("a", "h", METRICS_HISTOGRAM, .buckets = desc_bounds, .n_buckets = 2));
	BAD("infinite bucket",
	    METRICS_DESC("a", "h", METRICS_HISTOGRAM, .buckets = inf_bounds, .n_buckets = 2));
	BAD("n_buckets without bounds", METRICS_DESC("a", "h", METRICS_HISTOGRAM, .n_buckets = 2));
	BAD("buckets on counter",
	    METRICS_DESC("a", "h", METRICS_COUNTER, .buckets = desc_bounds, .n_buckets = 1));
	BAD("same name, other type", METRICS_DESC("a", "h", METRICS_COUNTER),
	    METRICS_DESC("a", "h", METRICS_GAUGE));
	BAD("same name, not adjacent", METRICS_DESC("a", "h", METRICS_COUNTER),
	    METRICS_DESC("b", "h", METRICS_COUNTER), METRICS_DESC("a", "h", METRICS_COUNTER));
#undef BAD

	/* and the good ones around those edges */
	struct metrics *m = NULL;
	struct metrics_desc ok[] = {
		METRICS_DESC("a:b_c", NULL, METRICS_HISTOGRAM), /* no buckets: +Inf only */
		METRICS_DESC("x", "h", METRICS_COUNTER, .labels = ""),
		METRICS_DESC("y", "h", METRICS_COUNTER, .labels = "a=\"\\\\\\\"\\n\",b=\"\""),
	};
	cr_assert_eq(metrics_create(ok, 3, 1, &m), 0);
	metrics_observe(metrics_worker_slots(m, 0), 0, 3.5);
	char *text;
	size_t len;
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_str_eq(text, "# TYPE a:b_c histogram\n"
			       "a:b_c_bucket{le=\"+Inf\"} 1\n"
			       "a:b_c_sum 3.5\n"
			       "a:b_c_count 1\n"
			       "# HELP x h\n# TYPE x counter\nx 0\n"
			       "# HELP y h\n# TYPE y counter\ny{a=\"\\\\\\\"\\n\",b=\"\"} 0\n");
	free(text);
	metrics_destroy(m);
}

/* ---- threads ---- */

#define THREADS 4
#define ROUNDS (1u << 20)

struct writer_arg {
	struct metrics_slots *slots;
	unsigned index;
};

static void *writer(void *p)
{
	struct writer_arg *arg = p;
	for (unsigned i = 0; i < ROUNDS; i++) {
		metrics_inc(arg->slots, M_QUERIES_UDP);
		metrics_inc_at(arg->slots, M_ANSWERS, i % 6);
		if (i % 16 == 0)
			metrics_observe(arg->slots, M_LATENCY, (double)((i / 16) % 8));
	}
	metrics_gauge_set(arg->slots, M_CONNS, arg->index + 1);
	return NULL;
}

struct reader_arg {
	struct metrics *m;
	int stop;
	unsigned scrapes;
	int regressions;
	int bad_histograms;
};

static void *reader(void *p)
{
	struct reader_arg *arg = p;
	uint64_t last = 0;
	while (!__atomic_load_n(&arg->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = metrics_sum(arg->m, M_QUERIES_UDP, 0);
		if (now < last)
			arg->regressions++;
		last = now;
		char *text = NULL;
		size_t len;
		if (metrics_render_alloc(arg->m, &text, &len) == 0) {
			/* +Inf must be >= the last finite bucket */
			unsigned long long b4 = 0, inf = 0;
			const char *s = strstr(text, "le=\"4\"} ");
			const char *t = strstr(text, "le=\"+Inf\"} ");
			if (s && t) {
				b4 = strtoull(s + 8, NULL, 10);
				inf = strtoull(t + 11, NULL, 10);
				if (inf < b4)
					arg->bad_histograms++;
			}
			free(text);
		}
		arg->scrapes++;
	}
	return NULL;
}

Test(metrics, threads_sum_exactly)
{
	struct metrics *m = NULL;
	pthread_t th[THREADS], rd;
	struct writer_arg args[THREADS];
	struct reader_arg rarg = { 0 };

	cr_assert_eq(metrics_create(descs, M_COUNT, THREADS, &m), 0);
	rarg.m = m;
	cr_assert_eq(pthread_create(&rd, NULL, reader, &rarg), 0);
	for (unsigned t = 0; t < THREADS; t++) {
		args[t] = (struct writer_arg){ metrics_worker_slots(m, t), t };
		cr_assert_eq(pthread_create(&th[t], NULL, writer, &args[t]), 0);
	}
	for (unsigned t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&rarg.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rd, NULL);

	cr_assert_eq(metrics_sum(m, M_QUERIES_UDP, 0), (uint64_t)THREADS * ROUNDS);
	uint64_t answers = 0;
	for (unsigned k = 0; k < 6; k++)
		answers += metrics_sum(m, M_ANSWERS, k);
	cr_assert_eq(answers, (uint64_t)THREADS * ROUNDS);
	cr_assert_eq(metrics_sum(m, M_LATENCY, 0), (uint64_t)THREADS * (ROUNDS / 16));
	cr_assert_eq((int64_t)metrics_sum(m, M_CONNS, 0), 1 + 2 + 3 + 4);
	cr_assert_eq(rarg.regressions, 0);
	cr_assert_eq(rarg.bad_histograms, 0);
	cr_log_info("%u scrapes during the run", rarg.scrapes);

	/* the rendered histogram agrees with the counts: values 0..7, every 16th round */
	char *text;
	size_t len;
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	char want[256];
	unsigned per = ROUNDS / 16 / 8; /* observations of each value per thread */
	snprintf(want, sizeof(want),
		 "dns_latency_seconds_bucket{proto=\"udp\",le=\"0.25\"} %u\n"
		 "dns_latency_seconds_bucket{proto=\"udp\",le=\"1\"} %u\n"
		 "dns_latency_seconds_bucket{proto=\"udp\",le=\"4\"} %u\n"
		 "dns_latency_seconds_bucket{proto=\"udp\",le=\"+Inf\"} %u\n",
		 THREADS * per, THREADS * per * 2, THREADS * per * 5, THREADS * per * 8);
	cr_assert_not_null(strstr(text, want), "%s", text);
	free(text);
	metrics_destroy(m);
}

Test(metrics, number_spelling)
{
	static const double bounds[] = { 1e-05, 0.005, 0.1, 100, 123456, 1e6, 1234567 };
	static const struct metrics_desc d[] = {
		METRICS_DESC("h", NULL, METRICS_HISTOGRAM, .buckets = bounds, .n_buckets = 7),
		METRICS_DESC("g", NULL, METRICS_GAUGE),
	};
	struct metrics *m = NULL;
	char *text;
	size_t len;

	cr_assert_eq(metrics_create(d, 2, 1, &m), 0);
	metrics_observe(metrics_worker_slots(m, 0), 0, 0.1);
	metrics_observe(metrics_worker_slots(m, 0), 0, 0.2);
	metrics_gauge_set(metrics_worker_slots(m, 0), 1, INT64_MIN);
	cr_assert_eq(metrics_render_alloc(m, &text, &len), 0);
	cr_assert_str_eq(text, "# TYPE h histogram\n"
			       "h_bucket{le=\"1e-05\"} 0\n"
			       "h_bucket{le=\"0.005\"} 0\n"
			       "h_bucket{le=\"0.1\"} 1\n"
			       "h_bucket{le=\"100\"} 2\n"
			       "h_bucket{le=\"123456\"} 2\n"
			       "h_bucket{le=\"1e+06\"} 2\n"
			       "h_bucket{le=\"1.234567e+06\"} 2\n"
			       "h_bucket{le=\"+Inf\"} 2\n"
			       "h_sum 0.30000000000000004\n"
			       "h_count 2\n"
			       "# TYPE g gauge\n"
			       "g -9223372036854775808\n");
	free(text);
	metrics_destroy(m);
}
