/*
 * Metrics: per-worker counters, gauges and histograms, summed at scrape time
 * (Knot's per-thread stats_vals, NSD's STATUP), rendered as Prometheus text
 * exposition format 0.0.4.
 *
 * A daemon declares one static table of descriptors, indexed by its own enum:
 *
 *   enum { M_QUERIES, M_QTYPE_RCODE, M_LATENCY, M_COUNT };
 *   static const char *const qtypes[] = { "A", "AAAA", "other", NULL };
 *   static const char *const rcodes[] = { "NOERROR", "NXDOMAIN", "other", NULL };
 *   static const double lat_bounds[] = { 0.0001, 0.001, 0.01, 0.1 };
 *   static const struct metrics_desc descs[M_COUNT] = {
 *     [M_QUERIES] = METRICS_DESC("dns_queries_total", "Queries received.",
 *                                METRICS_COUNTER, .labels = "proto=\"udp\""),
 *     [M_QTYPE_RCODE] = METRICS_DESC("dns_answers_total", "Answers.", METRICS_COUNTER,
 *                                .dims = { { "qtype", qtypes }, { "rcode", rcodes } }),
 *     [M_LATENCY] = METRICS_DESC("dns_latency_seconds", "Answer time.", METRICS_HISTOGRAM,
 *                                .buckets = lat_bounds, .n_buckets = 4),
 *   };
 *
 * metrics_create() gives every worker (and one control thread) its own block of
 * slots, aligned and padded to METRICS_ALIGN bytes so that no two threads ever
 * write the same cache line. A thread updates only its own block, through the
 * inline functions below: a relaxed load and a relaxed store, no lock prefix, no
 * read-modify-write. The scraper (the admin thread) reads every block with relaxed
 * loads and sums them, so a scrape costs the workers nothing.
 *
 * Families: a descriptor with dims has one member per combination of label values
 * (at most two dimensions); member index = i0 * count(dims[1].values) + i1, or just
 * i0 with one dimension. Several descriptors may also share one name (same type,
 * next to each other in the table) with different fixed labels, e.g.
 * proto="udp" and proto="tcp"; HELP and TYPE are then written once.
 *
 * Summing: counters and histograms are summed across all blocks. Gauges are summed
 * too: a gauge is each thread's contribution to a total (open connections, cache
 * entries); a value that only one thread knows should be set from that thread (or
 * from the control block) and left 0 elsewhere.
 *
 * Consistency: a scrape is not a snapshot. Values read while workers run may be a
 * few updates apart from one another (e.g. a histogram's _sum and its buckets), but
 * every counter is monotonic across scrapes. _bucket{le="+Inf"} is written equal to
 * _count, and _count is never below any bucket.
 */
#ifndef AIRDRESS_METRICS_H
#define AIRDRESS_METRICS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Alignment and padding of each thread's block: two cache lines, so that the
 * adjacent-line prefetcher does not couple neighbours either. */
#define METRICS_ALIGN 128
#define METRICS_MAX_DIMS 2
#define METRICS_MAX_BUCKETS 64

enum metrics_type {
	METRICS_COUNTER,   /* uint64_t, only goes up */
	METRICS_GAUGE,     /* int64_t, set or moved by a delta */
	METRICS_HISTOGRAM, /* cumulative buckets over fixed upper bounds, _sum, _count */
};

/* One dimension of a family: a label name and its possible values. */
struct metrics_dim {
	const char *label;          /* label name, e.g. "qtype"; NULL: dimension unused */
	const char *const *values;  /* label values, NULL-terminated, at least one */
};

/* One metric (or one family) of the daemon's table. The table and every string
 * and array it points to must outlive the struct metrics (use static data). */
struct metrics_desc {
	const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]* */
	const char *help;          /* one line of text; NULL: no HELP line */
	enum metrics_type type;
	const char *labels;        /* fixed labels without braces: `proto="udp",af="6"`;
	                              NULL: none */
	struct metrics_dim dims[METRICS_MAX_DIMS]; /* family dimensions, dims[0] first */
	const double *buckets;     /* histogram upper bounds (le), finite, strictly
	                              ascending; +Inf is implicit */
	unsigned n_buckets;        /* 0..METRICS_MAX_BUCKETS */
};

/* A descriptor with designated initializers (so that -Wextra does not ask for every
 * field): METRICS_DESC(name, help, type[, .labels = ..., .dims = ..., .buckets = ...]) */
#define METRICS_DESC(name_, help_, type_, ...) \
	{ .name = (name_), .help = (help_), .type = (type_), __VA_ARGS__ }

struct metrics;

/* One thread's block of slots. Only its owner writes it. Read-only fields first;
 * v[] starts the values (see the layout in metrics.c). */
struct metrics_slots {
	const struct metrics_desc *descs;
	const uint32_t *base; /* first slot of each descriptor */
	uint64_t v[];
};

/* Called at the end of every metrics_render() to append the daemon's own lines
 * (already in exposition format) to out. Returns 0 or an error, which the render
 * returns. Runs on the rendering thread (the admin thread). */
typedef int (*metrics_hook_fn)(FILE *out, void *ctx);

/* Check the table (n descriptors) and allocate zeroed blocks for `workers` workers
 * plus the control block. descs is borrowed, not copied. On success *out owns the
 * object (free with metrics_destroy) and 0 is returned; otherwise AD_ECONFIG for an
 * invalid table (logged with the descriptor's index and the reason), -EINVAL for a
 * NULL argument, -ENOMEM. */
int metrics_create(const struct metrics_desc *descs, unsigned n, unsigned workers,
		   struct metrics **out);
/* Free the object and every block. NULL is fine. No thread may use its slots after. */
void metrics_destroy(struct metrics *m);

/* The block of worker w (0 <= w < workers), or NULL when w is out of range. */
struct metrics_slots *metrics_worker_slots(struct metrics *m, unsigned w);
/* The block of the control thread: the one non-worker thread the daemon chooses to
 * count with (usually the main thread: reloads, config errors). */
struct metrics_slots *metrics_control_slots(struct metrics *m);

/* Number of workers and of family members of descriptor id (1 without dims). */
unsigned metrics_workers(const struct metrics *m);
unsigned metrics_members(const struct metrics *m, unsigned id);

/* Install the render hook (NULL removes it). Call before rendering starts, i.e.
 * before the admin server is started; not synchronised with metrics_render(). */
void metrics_set_hook(struct metrics *m, metrics_hook_fn fn, void *ctx);

/* Write every metric, summed over all blocks, to out in Prometheus text format
 * 0.0.4, then run the hook. Safe while workers update their slots. Returns 0,
 * -EIO when out reports a write error, or the hook's error. */
int metrics_render(const struct metrics *m, FILE *out);
/* Same, into a malloc'd NUL-terminated string: *text (free() it) of *len bytes.
 * Returns 0 (then *text is set), -ENOMEM, or as metrics_render(). */
int metrics_render_alloc(const struct metrics *m, char **text, size_t *len);

/* Sum over all blocks of descriptor id, family member `member` (as for the _at
 * functions): a counter's value, a gauge's value (cast it to int64_t), a
 * histogram's _count. 0 for an id or member out of range. For tests and checks. */
uint64_t metrics_sum(const struct metrics *m, unsigned id, unsigned member);

/* ---- hot path: single-writer updates of the caller's own block ---- */

static inline void metrics_store_(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t metrics_load_(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Counter id, family member `member`: add n. */
static inline void metrics_add_at(struct metrics_slots *s, unsigned id, unsigned member,
				  uint64_t n)
{
	uint64_t *p = &s->v[s->base[id] + member];
	metrics_store_(p, metrics_load_(p) + n);
}

static inline void metrics_inc_at(struct metrics_slots *s, unsigned id, unsigned member)
{
	metrics_add_at(s, id, member, 1);
}

/* Counter id (no dims): add n / add 1. */
static inline void metrics_add(struct metrics_slots *s, unsigned id, uint64_t n)
{
	metrics_add_at(s, id, 0, n);
}

static inline void metrics_inc(struct metrics_slots *s, unsigned id)
{
	metrics_add_at(s, id, 0, 1);
}

/* Gauge id: set this thread's contribution to v, or move it by delta. */
static inline void metrics_gauge_set_at(struct metrics_slots *s, unsigned id, unsigned member,
					int64_t v)
{
	metrics_store_(&s->v[s->base[id] + member], (uint64_t)v);
}

static inline void metrics_gauge_add_at(struct metrics_slots *s, unsigned id, unsigned member,
					int64_t delta)
{
	uint64_t *p = &s->v[s->base[id] + member];
	metrics_store_(p, metrics_load_(p) + (uint64_t)delta);
}

static inline void metrics_gauge_set(struct metrics_slots *s, unsigned id, int64_t v)
{
	metrics_gauge_set_at(s, id, 0, v);
}

static inline void metrics_gauge_add(struct metrics_slots *s, unsigned id, int64_t delta)
{
	metrics_gauge_add_at(s, id, 0, delta);
}

/* Histogram id: record one observation of value (NaN is ignored). A member holds
 * n_buckets bucket counts (not cumulative), then _count, then _sum (a double). The
 * count is stored before the bucket so that a scrape, which reads buckets first,
 * never sees a bucket ahead of the count. */
static inline void metrics_observe_at(struct metrics_slots *s, unsigned id, unsigned member,
				      double value)
{
	const struct metrics_desc *d = &s->descs[id];
	unsigned nb = d->n_buckets, i = 0;
	uint64_t *p = &s->v[s->base[id] + member * (nb + 2)];
	uint64_t bits;
	double sum;

	if (value != value)
		return;
	while (i < nb && value > d->buckets[i])
		i++;
	metrics_store_(&p[nb], metrics_load_(&p[nb]) + 1);
	if (i < nb)
		__atomic_store_n(&p[i], metrics_load_(&p[i]) + 1, __ATOMIC_RELEASE);
	bits = metrics_load_(&p[nb + 1]);
	memcpy(&sum, &bits, sizeof(sum));
	sum += value;
	memcpy(&bits, &sum, sizeof(bits));
	metrics_store_(&p[nb + 1], bits);
}

static inline void metrics_observe(struct metrics_slots *s, unsigned id, double value)
{
	metrics_observe_at(s, id, 0, value);
}

#endif
