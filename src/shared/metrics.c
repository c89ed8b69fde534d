/*
 * Metrics: per-thread slot blocks, summed and rendered at scrape time. See metrics.h.
 *
 * Memory: one aligned allocation of (workers + 1) blocks of `stride` bytes; block w
 * belongs to worker w, the last one to the control thread. Inside a block, v[] holds
 * the descriptors' slots one after another, descriptor id starting at base[id]:
 *   counter, gauge   one slot per family member
 *   histogram        n_buckets + 2 slots per member: the bucket counts (not
 *                    cumulative), _count, _sum (the bits of a double)
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "metrics.h"

#define MAX_SLOTS (1u << 24)
#define MAX_DIM_VALUES 65536u
#define MAX_LABELS 16

struct metrics {
	const struct metrics_desc *descs;
	unsigned n;
	unsigned workers;
	uint32_t *base;    /* first slot of each descriptor */
	uint32_t *members; /* family members of each descriptor */
	uint32_t nslots;
	size_t stride;     /* bytes per block, a multiple of METRICS_ALIGN */
	unsigned char *blocks;
	metrics_hook_fn hook;
	void *hook_ctx;
};

static const char *const type_names[] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

static struct metrics_slots *block(const struct metrics *m, unsigned i)
{
	return (struct metrics_slots *)(m->blocks + (size_t)i * m->stride);
}

/* ---- checking the table ---- */

static int is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int valid_metric_name(const char *s)
{
	if (s == NULL || !(is_alpha_(s[0]) || s[0] == ':'))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!(is_alpha_(*s) || is_digit(*s) || *s == ':'))
			return 0;
	return 1;
}

/* Label name of n bytes; names starting with "__" are reserved by Prometheus. */
static int valid_label_name(const char *s, size_t n)
{
	if (n == 0 || !is_alpha_(s[0]) || (n >= 2 && s[0] == '_' && s[1] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(is_alpha_(s[i]) || is_digit(s[i])))
			return 0;
	return 1;
}

struct label_names {
	const char *name[MAX_LABELS];
	size_t len[MAX_LABELS];
	unsigned n;
};

/* Remember a label name; fails on a duplicate, on "le" in a histogram, or when full. */
static const char *label_names_add(struct label_names *ln, const char *s, size_t n,
				   enum metrics_type type)
{
	if (!valid_label_name(s, n))
		return "invalid label name";
	if (type == METRICS_HISTOGRAM && n == 2 && memcmp(s, "le", 2) == 0)
		return "label \"le\" is reserved in a histogram";
	for (unsigned i = 0; i < ln->n; i++)
		if (ln->len[i] == n && memcmp(ln->name[i], s, n) == 0)
			return "duplicate label name";
	if (ln->n == MAX_LABELS)
		return "too many labels";
	ln->name[ln->n] = s;
	ln->len[ln->n++] = n;
	return NULL;
}

/* `name="value",name="value"` with the escapes \\ \" \n in values. */
static const char *check_fixed_labels(const char *s, struct label_names *ln,
				      enum metrics_type type)
{
	const char *why;
	if (*s == '\0')
		return NULL;
	for (;;) {
		const char *eq = strchr(s, '=');
		if (eq == NULL || eq[1] != '"')
			return "fixed labels: expected name=\"value\"";
		why = label_names_add(ln, s, (size_t)(eq - s), type);
		if (why != NULL)
			return why;
		s = eq + 2;
		while (*s != '"') {
			if (*s == '\0' || *s == '\n')
				return "fixed labels: unterminated value";
			if (*s == '\\') {
				if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
					return "fixed labels: bad escape";
				s++;
			}
			s++;
		}
		s++;
		if (*s == '\0')
			return NULL;
		if (*s != ',')
			return "fixed labels: expected ',' between labels";
		s++;
	}
}

static unsigned dim_count(const struct metrics_dim *dim)
{
	unsigned n = 0;
	if (dim->label == NULL || dim->values == NULL)
		return 0;
	while (n <= MAX_DIM_VALUES && dim->values[n] != NULL)
		n++;
	return n;
}

/* NULL if descriptor i is sound, else why not; *members gets its member count. */
static const char *check_desc(const struct metrics_desc *descs, unsigned i, uint32_t *members)
{
	const struct metrics_desc *d = &descs[i];
	struct label_names ln = { .n = 0 };
	uint64_t count = 1;
	const char *why;

	if (!valid_metric_name(d->name))
		return "invalid metric name";
	if (d->type != METRICS_COUNTER && d->type != METRICS_GAUGE &&
	    d->type != METRICS_HISTOGRAM)
		return "invalid type";
	if (d->help != NULL && strchr(d->help, '\n') != NULL)
		return "help holds a newline";
	if (d->labels != NULL && (why = check_fixed_labels(d->labels, &ln, d->type)) != NULL)
		return why;
	for (unsigned k = 0; k < METRICS_MAX_DIMS; k++) {
		const struct metrics_dim *dim = &d->dims[k];
		if (dim->label == NULL && dim->values == NULL)
			continue;
		if (k > 0 && d->dims[k - 1].label == NULL)
			return "dims must be filled in order";
		if (dim->label == NULL || dim->values == NULL)
			return "dim needs both a label and values";
		why = label_names_add(&ln, dim->label, strlen(dim->label), d->type);
		if (why != NULL)
			return why;
		unsigned nv = dim_count(dim);
		if (nv == 0 || nv > MAX_DIM_VALUES)
			return "dim needs 1..65536 values";
		count *= nv;
	}
	if (d->type == METRICS_HISTOGRAM) {
		if (d->n_buckets > METRICS_MAX_BUCKETS)
			return "too many buckets";
		if (d->n_buckets > 0 && d->buckets == NULL)
			return "n_buckets without buckets";
		for (unsigned b = 0; b < d->n_buckets; b++) {
			if (!isfinite(d->buckets[b]))
				return "bucket bounds must be finite";
			if (b > 0 && !(d->buckets[b] > d->buckets[b - 1]))
				return "bucket bounds must be strictly ascending";
		}
	} else if (d->n_buckets != 0 || d->buckets != NULL) {
		return "buckets on a metric that is not a histogram";
	}
	/* A family spread over several descriptors must be contiguous and of one type. */
	if (i > 0 && strcmp(descs[i - 1].name, d->name) == 0) {
		if (descs[i - 1].type != d->type)
			return "same name as the previous descriptor with another type";
	} else {
		for (unsigned j = 0; j + 1 < i; j++)
			if (strcmp(descs[j].name, d->name) == 0)
				return "same name as an earlier, non-adjacent descriptor";
	}
	if (count > MAX_SLOTS)
		return "too many family members";
	*members = (uint32_t)count;
	return NULL;
}

/* ---- create / destroy ---- */

int metrics_create(const struct metrics_desc *descs, unsigned n, unsigned workers,
		   struct metrics **out)
{
	struct metrics *m = NULL;
	uint64_t nslots = 0;
	int ret = -EINVAL;

	if (out == NULL || (descs == NULL && n > 0))
		goto finish;
	*out = NULL;
	ret = AD_ECONFIG;
	if (workers > 65536) {
		log_error("metrics, too many workers", "workers=%u", workers);
		goto finish;
	}
	ret = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		goto finish;
	m->base = calloc(n ? n : 1, sizeof(*m->base));
	m->members = calloc(n ? n : 1, sizeof(*m->members));
	if (m->base == NULL || m->members == NULL)
		goto finish;
	m->descs = descs;
	m->n = n;
	m->workers = workers;

	for (unsigned i = 0; i < n; i++) {
		const char *why = check_desc(descs, i, &m->members[i]);
		if (why != NULL) {
			log_error("metrics, invalid descriptor", "index=%u name=%s reason=\"%s\"",
				  i, descs[i].name ? descs[i].name : "(null)", why);
			ret = AD_ECONFIG;
			goto finish;
		}
		m->base[i] = (uint32_t)nslots;
		uint64_t width = descs[i].type == METRICS_HISTOGRAM ? descs[i].n_buckets + 2 : 1;
		nslots += width * m->members[i];
		if (nslots > MAX_SLOTS) {
			log_error("metrics, too many slots", "index=%u", i);
			ret = AD_ECONFIG;
			goto finish;
		}
	}
	m->nslots = (uint32_t)nslots;
	m->stride = offsetof(struct metrics_slots, v) + nslots * sizeof(uint64_t);
	m->stride = (m->stride + METRICS_ALIGN - 1) & ~(size_t)(METRICS_ALIGN - 1);
	ret = -ENOMEM;
	m->blocks = aligned_alloc(METRICS_ALIGN, m->stride * (workers + 1));
	if (m->blocks == NULL)
		goto finish;
	memset(m->blocks, 0, m->stride * (workers + 1));
	for (unsigned w = 0; w <= workers; w++) {
		block(m, w)->descs = descs;
		block(m, w)->base = m->base;
	}
	*out = m;
	m = NULL;
	ret = 0;
finish:
	metrics_destroy(m);
	return ret;
}

void metrics_destroy(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->blocks);
	free(m->base);
	free(m->members);
	free(m);
}

struct metrics_slots *metrics_worker_slots(struct metrics *m, unsigned w)
{
	return m != NULL && w < m->workers ? block(m, w) : NULL;
}

struct metrics_slots *metrics_control_slots(struct metrics *m)
{
	return m != NULL ? block(m, m->workers) : NULL;
}

unsigned metrics_workers(const struct metrics *m)
{
	return m->workers;
}

unsigned metrics_members(const struct metrics *m, unsigned id)
{
	return id < m->n ? m->members[id] : 0;
}

void metrics_set_hook(struct metrics *m, metrics_hook_fn fn, void *ctx)
{
	m->hook = fn;
	m->hook_ctx = ctx;
}

/* ---- reading ---- */

static uint64_t sum_slot(const struct metrics *m, uint32_t slot)
{
	uint64_t sum = 0;
	for (unsigned w = 0; w <= m->workers; w++)
		sum += metrics_load_(&block(m, w)->v[slot]);
	return sum;
}

uint64_t metrics_sum(const struct metrics *m, unsigned id, unsigned member)
{
	if (m == NULL || id >= m->n || member >= m->members[id])
		return 0;
	const struct metrics_desc *d = &m->descs[id];
	if (d->type == METRICS_HISTOGRAM)
		return sum_slot(m, m->base[id] + member * (d->n_buckets + 2) + d->n_buckets);
	return sum_slot(m, m->base[id] + member);
}

/* One histogram member summed over all blocks. Buckets are read (acquire) before
 * _count, the reverse of the writer's order, so count >= every bucket. */
struct hist_sum {
	uint64_t cumulative[METRICS_MAX_BUCKETS];
	uint64_t count;
	double sum;
};

static void sum_histogram(const struct metrics *m, const struct metrics_desc *d,
			  uint32_t first, struct hist_sum *h)
{
	unsigned nb = d->n_buckets;
	memset(h, 0, sizeof(*h));
	for (unsigned w = 0; w <= m->workers; w++) {
		const uint64_t *p = &block(m, w)->v[first];
		for (unsigned b = 0; b < nb; b++)
			h->cumulative[b] += __atomic_load_n(&p[b], __ATOMIC_ACQUIRE);
		h->count += metrics_load_(&p[nb]);
		uint64_t bits = metrics_load_(&p[nb + 1]);
		double s;
		memcpy(&s, &bits, sizeof(s));
		h->sum += s;
	}
	for (unsigned b = 1; b < nb; b++)
		h->cumulative[b] += h->cumulative[b - 1];
	/* Belt and braces for the interleavings of several blocks: never let the
	 * exposition say that fewer observations than some bucket holds were made. */
	if (nb > 0 && h->cumulative[nb - 1] > h->count)
		h->count = h->cumulative[nb - 1];
}

/* ---- writing ---- */

/* Shortest text that reads back as the same double, spelled as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) does (what Prometheus clients write):
 * "0.005", "100", "1e+06", "+Inf". */
static void format_double(double v, char *buf, size_t size)
{
	int digits, exp;

	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (digits = 1; digits < 17; digits++) {
		snprintf(buf, size, "%.*e", digits - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, size, "%.*e", digits - 1, v);
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp < -4 || exp >= 6)
		return; /* keep the exponent form */
	snprintf(buf, size, "%.*g", digits > exp + 1 ? digits : exp + 1, v);
}

/* s with backslash and newline escaped; in label values also the double quote. */
static void write_escaped(FILE *out, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (*s == '"' && quote)
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

/* "{fixed,dim0="v",dim1="w",le="x"}", or nothing when there are no labels. */
static void write_labels(FILE *out, const struct metrics_desc *d, unsigned member,
			 const char *le)
{
	unsigned n1 = dim_count(&d->dims[1]);
	unsigned idx[METRICS_MAX_DIMS] = { n1 ? member / n1 : member, n1 ? member % n1 : 0 };
	int any = 0;

	if (d->labels != NULL && d->labels[0] != '\0') {
		fprintf(out, "{%s", d->labels);
		any = 1;
	}
	for (unsigned k = 0; k < METRICS_MAX_DIMS; k++) {
		if (d->dims[k].label == NULL)
			break;
		fprintf(out, "%c%s=\"", any ? ',' : '{', d->dims[k].label);
		write_escaped(out, d->dims[k].values[idx[k]], 1);
		fputc('"', out);
		any = 1;
	}
	if (le != NULL) {
		fprintf(out, "%cle=\"%s\"", any ? ',' : '{', le);
		any = 1;
	}
	if (any)
		fputc('}', out);
}

static void write_histogram(FILE *out, const struct metrics *m, const struct metrics_desc *d,
			    unsigned id, unsigned member)
{
	struct hist_sum h;
	char num[40];

	sum_histogram(m, d, m->base[id] + member * (d->n_buckets + 2), &h);
	for (unsigned b = 0; b < d->n_buckets; b++) {
		format_double(d->buckets[b], num, sizeof(num));
		fprintf(out, "%s_bucket", d->name);
		write_labels(out, d, member, num);
		fprintf(out, " %" PRIu64 "\n", h.cumulative[b]);
	}
	fprintf(out, "%s_bucket", d->name);
	write_labels(out, d, member, "+Inf");
	fprintf(out, " %" PRIu64 "\n", h.count);
	format_double(h.sum, num, sizeof(num));
	fprintf(out, "%s_sum", d->name);
	write_labels(out, d, member, NULL);
	fprintf(out, " %s\n", num);
	fprintf(out, "%s_count", d->name);
	write_labels(out, d, member, NULL);
	fprintf(out, " %" PRIu64 "\n", h.count);
}

int metrics_render(const struct metrics *m, FILE *out)
{
	int ret = -EINVAL;

	if (m == NULL || out == NULL)
		goto finish;
	for (unsigned id = 0; id < m->n; id++) {
		const struct metrics_desc *d = &m->descs[id];
		if (id == 0 || strcmp(m->descs[id - 1].name, d->name) != 0) {
			if (d->help != NULL) {
				fprintf(out, "# HELP %s ", d->name);
				write_escaped(out, d->help, 0);
				fputc('\n', out);
			}
			fprintf(out, "# TYPE %s %s\n", d->name, type_names[d->type]);
		}
		for (unsigned member = 0; member < m->members[id]; member++) {
			if (d->type == METRICS_HISTOGRAM) {
				write_histogram(out, m, d, id, member);
				continue;
			}
			uint64_t v = sum_slot(m, m->base[id] + member);
			fputs(d->name, out);
			write_labels(out, d, member, NULL);
			if (d->type == METRICS_GAUGE)
				fprintf(out, " %" PRId64 "\n", (int64_t)v);
			else
				fprintf(out, " %" PRIu64 "\n", v);
		}
	}
	ret = 0;
	if (m->hook != NULL)
		ret = m->hook(out, m->hook_ctx);
	if (ret == 0 && (fflush(out) != 0 || ferror(out)))
		ret = -EIO;
finish:
	return ret;
}

int metrics_render_alloc(const struct metrics *m, char **text, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = NULL;
	int ret = -EINVAL;

	if (m == NULL || text == NULL || len == NULL)
		goto finish;
	ret = -ENOMEM;
	f = open_memstream(&buf, &size);
	if (f == NULL)
		goto finish;
	ret = metrics_render(m, f);
	if (fclose(f) != 0 && ret == 0)
		ret = -ENOMEM;
	f = NULL;
	if (ret != 0)
		goto finish;
	*text = buf;
	*len = size;
	buf = NULL;
finish:
	free(buf);
	return ret;
}
