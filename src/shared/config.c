/*
 * Configuration loader: see config.h for the rules and the schema format.
 *
 * A load runs in two passes:
 *   1. doc_parse() turns libyaml's events into a small tree of nodes (scalar, mapping,
 *      sequence, each with its 1-based line and column), rejecting what a config never
 *      needs and an attacker might use: anchors, aliases, tags, several documents, deep
 *      nesting, huge scalars, too many nodes.
 *   2. load_mapping() walks the tree against the schema: every key must be an item, each
 *      at most once; convert_item() turns each value into its C type at the item's
 *      offset; absent keys take their default, which is YAML text parsed by the same
 *      two passes (and cached for the load), or are reported when required.
 * The first error is formatted into the caller's buffer and stops everything; whatever
 * was allocated into the struct is then freed with cfg_free().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "sockaddr.h"
#include "units.h"

#define PATH_LEN 256 /* longest key path kept for messages ("zones[3].dnssec.key_dir") */
#define SHOW_LEN 64  /* bytes of a bad value quoted in a message */

/* ---- the node tree ---------------------------------------------------------------- */

enum node_kind { NODE_SCALAR, NODE_MAP, NODE_SEQ };

struct node {
	enum node_kind kind;
	bool null;           /* plain "", "~" or "null": no value */
	unsigned line, col;  /* 1-based */
	char *text;          /* scalar: NUL-terminated copy (may hold NUL bytes inside) */
	size_t len;
	struct node **kids;  /* mapping: key, value, key, value ...; sequence: items */
	size_t nkids, cap;
};

struct def_entry {
	const struct cfg_item *item;
	struct node *node;
};

struct load_ctx {
	const char *name;    /* file name in messages */
	const char *basedir; /* for relative paths, or NULL */
	char *err;
	size_t errlen;
	bool failed;         /* keep the first message */
	int in_default;      /* > 0 while parsing or converting a schema default */
	char path[PATH_LEN]; /* key path of the node being converted */
	size_t pathlen;
	struct def_entry *defs; /* parsed defaults, one per item used in this load */
	size_t ndefs, capdefs;
};

static void node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

/* ---- messages --------------------------------------------------------------------- */

/* Copy n bytes of s into buf (buflen > 0) with control bytes, quotes and backslashes
 * escaped, cut after max bytes of input with "...". Always NUL-terminates. */
static void escape_text(char *buf, size_t buflen, const char *s, size_t n, size_t max)
{
	size_t o = 0;
	size_t i;
	/* Never cut inside a UTF-8 sequence. */
	while (max > 0 && max < n && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		if (c == '"' || c == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		else
			snprintf(tmp, sizeof(tmp), "%c", c);
		size_t l = strlen(tmp);
		if (o + l + 4 >= buflen)
			break;
		memcpy(buf + o, tmp, l);
		o += l;
	}
	if (i < n && o + 3 < buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* Describe what a node holds, for "got ...". */
static void describe_node(const struct node *n, char *buf, size_t buflen)
{
	if (n->kind == NODE_MAP) {
		snprintf(buf, buflen, "a mapping");
	} else if (n->kind == NODE_SEQ) {
		snprintf(buf, buflen, "a list");
	} else if (n->null) {
		snprintf(buf, buflen, "nothing");
	} else {
		char esc[SHOW_LEN * 4 + 8];
		escape_text(esc, sizeof(esc), n->text, n->len, SHOW_LEN);
		snprintf(buf, buflen, "\"%s\"", esc);
	}
}

/* Format the error "NAME:LINE:COL: PATH: message" (line 0: no position) into ctx->err,
 * unless an earlier error is already there. Returns AD_ECONFIG. */
static int fail_at(struct load_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(struct load_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
{
	if (ctx->failed || ctx->err == NULL || ctx->errlen == 0) {
		ctx->failed = true;
		return AD_ECONFIG;
	}
	ctx->failed = true;
	char msg[CFG_ERRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *sep = ctx->pathlen > 0 ? ": " : "";
	if (ctx->in_default)
		snprintf(ctx->err, ctx->errlen, "default: %s%s%s", ctx->path, sep, msg);
	else if (line > 0)
		snprintf(ctx->err, ctx->errlen, "%s:%u:%u: %s%s%s", ctx->name, line, col,
			 ctx->path, sep, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s: %s%s%s", ctx->name, ctx->path, sep, msg);
	return AD_ECONFIG;
}

#define fail(ctx, node, ...) fail_at(ctx, (node)->line, (node)->col, __VA_ARGS__)

static int fail_nomem(struct load_ctx *ctx)
{
	fail_at(ctx, 0, 0, "out of memory");
	return -ENOMEM;
}

/* Key path bookkeeping: push returns the length to pop back to. */
static size_t path_push_key(struct load_ctx *ctx, const char *key, size_t keylen)
{
	size_t saved = ctx->pathlen;
	char esc[PATH_LEN];
	escape_text(esc, sizeof(esc), key, keylen, SHOW_LEN);
	int n = snprintf(ctx->path + saved, PATH_LEN - saved, "%s%s", saved ? "." : "", esc);
	if (n > 0)
		ctx->pathlen = saved + (size_t)n < PATH_LEN ? saved + (size_t)n : PATH_LEN - 1;
	return saved;
}

static size_t path_push_index(struct load_ctx *ctx, size_t index)
{
	size_t saved = ctx->pathlen;
	int n = snprintf(ctx->path + saved, PATH_LEN - saved, "[%zu]", index);
	if (n > 0)
		ctx->pathlen = saved + (size_t)n < PATH_LEN ? saved + (size_t)n : PATH_LEN - 1;
	return saved;
}

static void path_pop(struct load_ctx *ctx, size_t saved)
{
	ctx->pathlen = saved;
	ctx->path[saved] = '\0';
}

/* ---- pass 1: YAML events to nodes --------------------------------------------------- */

struct build {
	struct node *root;
	struct node *stack[CFG_MAX_DEPTH];
	size_t depth;
	size_t nodes;
};

/* Line and column (1-based) of a byte offset, for reader errors that carry no mark. */
static void offset_position(const char *data, size_t len, size_t offset, unsigned *line,
			    unsigned *col)
{
	unsigned l = 1, c = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (data[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int yaml_fail(struct load_ctx *ctx, const yaml_parser_t *p, const char *data,
		     size_t len)
{
	unsigned line, col;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR)
		return fail_nomem(ctx);
	if (p->error == YAML_READER_ERROR) {
		offset_position(data, len, p->problem_offset, &line, &col);
		return fail_at(ctx, line, col, "invalid YAML: %s", problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context != NULL)
		return fail_at(ctx, line, col, "invalid YAML: %s, %s that started at %u:%u",
			       problem, p->context, (unsigned)p->context_mark.line + 1,
			       (unsigned)p->context_mark.column + 1);
	return fail_at(ctx, line, col, "invalid YAML: %s", problem);
}

static int node_new(struct load_ctx *ctx, struct build *b, enum node_kind kind,
		    const yaml_mark_t *mark, struct node **out)
{
	unsigned line = (unsigned)mark->line + 1, col = (unsigned)mark->column + 1;
	if (b->nodes >= CFG_MAX_NODES)
		return fail_at(ctx, line, col, "more than %u YAML nodes", CFG_MAX_NODES);
	struct node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return fail_nomem(ctx);
	n->kind = kind;
	n->line = line;
	n->col = col;
	b->nodes++;
	*out = n;
	return 0;
}

/* Hang n under the innermost open collection (or make it the root). Takes n. */
static int node_attach(struct load_ctx *ctx, struct build *b, struct node *n)
{
	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	struct node *parent = b->stack[b->depth - 1];
	if (parent->kind == NODE_MAP && parent->nkids % 2 == 0 && n->kind != NODE_SCALAR) {
		int ret = fail(ctx, n, "mapping keys must be scalars");
		node_free(n);
		return ret;
	}
	if (parent->nkids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct node **kids = realloc(parent->kids, cap * sizeof(*kids));
		if (kids == NULL) {
			node_free(n);
			return fail_nomem(ctx);
		}
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->nkids++] = n;
	return 0;
}

/* Anchors and tags are refused wherever they appear. */
static int check_props(struct load_ctx *ctx, const yaml_event_t *ev, const yaml_char_t *anchor,
		       const yaml_char_t *tag)
{
	unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
	if (anchor != NULL)
		return fail_at(ctx, line, col, "YAML anchors are not allowed");
	if (tag != NULL)
		return fail_at(ctx, line, col, "YAML tags are not allowed");
	return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)ev->data.scalar.value;
	size_t l = ev->data.scalar.length;
	return l == 0 || (l == 1 && v[0] == '~') ||
	       (l == 4 && (strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
			   strcmp(v, "NULL") == 0));
}

/* One event into the tree. Sets *done at the end of the stream. */
static int build_event(struct load_ctx *ctx, struct build *b, const yaml_event_t *ev,
		       int *docs, bool *done)
{
	unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
	struct node *n = NULL;
	int ret;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_at(ctx, line, col, "only one YAML document is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_at(ctx, line, col, "YAML aliases are not allowed");
	case YAML_SCALAR_EVENT:
		ret = check_props(ctx, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
		if (ret != 0)
			return ret;
		if (ev->data.scalar.length > CFG_MAX_SCALAR)
			return fail_at(ctx, line, col, "scalar longer than %u bytes", CFG_MAX_SCALAR);
		ret = node_new(ctx, b, NODE_SCALAR, &ev->start_mark, &n);
		if (ret != 0)
			return ret;
		n->len = ev->data.scalar.length;
		n->null = is_null_scalar(ev);
		n->text = malloc(n->len + 1);
		if (n->text == NULL) {
			node_free(n);
			return fail_nomem(ctx);
		}
		memcpy(n->text, ev->data.scalar.value, n->len);
		n->text[n->len] = '\0';
		return node_attach(ctx, b, n);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			ret = check_props(ctx, ev, ev->data.sequence_start.anchor,
					  ev->data.sequence_start.tag);
		else
			ret = check_props(ctx, ev, ev->data.mapping_start.anchor,
					  ev->data.mapping_start.tag);
		if (ret != 0)
			return ret;
		if (b->depth >= CFG_MAX_DEPTH)
			return fail_at(ctx, line, col, "nested deeper than %d levels", CFG_MAX_DEPTH);
		ret = node_new(ctx, b, ev->type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ : NODE_MAP,
			       &ev->start_mark, &n);
		if (ret != 0)
			return ret;
		ret = node_attach(ctx, b, n);
		if (ret != 0)
			return ret;
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	default: /* stream start, document end, no event */
		return 0;
	}
}

/* Parse len bytes of YAML into a tree. *root is NULL for a stream without a document.
 * Returns 0, AD_ECONFIG or -ENOMEM (message in ctx). */
static int doc_parse(struct load_ctx *ctx, const char *data, size_t len, struct node **root)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_event = false, done = false;
	struct build b = { 0 };
	int docs = 0;
	int ret = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		return fail_nomem(ctx);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = yaml_fail(ctx, &parser, data, len);
			goto cleanup;
		}
		have_event = true;
		ret = build_event(ctx, &b, &ev, &docs, &done);
		if (ret != 0)
			goto cleanup;
		yaml_event_delete(&ev);
		have_event = false;
	}
	*root = b.root;
	b.root = NULL;
cleanup:
	if (have_event)
		yaml_event_delete(&ev);
	yaml_parser_delete(&parser);
	node_free(b.root);
	return ret;
}

/* ---- types ------------------------------------------------------------------------ */

static size_t item_elem_size(const struct cfg_item *it)
{
	switch (it->type) {
	case CFG_BOOL:
		return sizeof(bool);
	case CFG_UINT:
		return sizeof(unsigned int);
	case CFG_STRING:
	case CFG_PATH:
		return sizeof(char *);
	case CFG_DURATION:
	case CFG_SIZE:
		return sizeof(uint64_t);
	case CFG_ENUM:
		return sizeof(int);
	case CFG_ADDR:
	case CFG_IP:
		return sizeof(struct cfg_addr);
	case CFG_PREFIX:
		return sizeof(struct cfg_prefix);
	case CFG_SECTION:
		return it->section->size;
	}
	return 0;
}

static uint64_t item_max(const struct cfg_item *it)
{
	uint64_t type_max = it->type == CFG_UINT ? UINT_MAX : UINT64_MAX;
	return it->max != 0 && it->max < type_max ? it->max : type_max;
}

static bool item_has_range(const struct cfg_item *it)
{
	return it->min != 0 || it->max != 0;
}

/* Format a bound in the item's unit. */
static void format_bound(const struct cfg_item *it, uint64_t v, char *buf, size_t buflen)
{
	if (it->type == CFG_DURATION)
		units_format_duration(v, buf, buflen);
	else if (it->type == CFG_SIZE)
		units_format_size(v, buf, buflen);
	else
		snprintf(buf, buflen, "%llu", (unsigned long long)v);
}

/* " from A to B" or " of at least A" for a ranged item, "" otherwise. */
static void describe_range(const struct cfg_item *it, char *buf, size_t buflen)
{
	char lo[UNITS_BUFLEN], hi[UNITS_BUFLEN];
	buf[0] = '\0';
	if (!item_has_range(it))
		return;
	format_bound(it, it->min, lo, sizeof(lo));
	if (it->max == 0) {
		snprintf(buf, buflen, " of at least %s", lo);
		return;
	}
	format_bound(it, item_max(it), hi, sizeof(hi));
	snprintf(buf, buflen, " from %s to %s", lo, hi);
}

/* What the item wants, for "expected ...". */
static void describe_expected(const struct cfg_item *it, char *buf, size_t buflen)
{
	char range[2 * UNITS_BUFLEN + 24];
	describe_range(it, range, sizeof(range));
	switch (it->type) {
	case CFG_BOOL:
		snprintf(buf, buflen, "true or false");
		break;
	case CFG_UINT:
		snprintf(buf, buflen, "an unsigned integer%s", range);
		break;
	case CFG_STRING:
		snprintf(buf, buflen, "a string");
		break;
	case CFG_PATH:
		snprintf(buf, buflen, "a path");
		break;
	case CFG_DURATION:
		if (range[0] != '\0')
			snprintf(buf, buflen, "a duration%s", range);
		else
			snprintf(buf, buflen, "a duration like 250ms, 5s, 2m or 1h");
		break;
	case CFG_SIZE:
		if (range[0] != '\0')
			snprintf(buf, buflen, "a size%s", range);
		else
			snprintf(buf, buflen, "a size like 4096, 64KiB, 1MiB or 1GiB");
		break;
	case CFG_ENUM: {
		size_t o = (size_t)snprintf(buf, buflen, "one of");
		for (size_t i = 0; it->enums[i] != NULL && o < buflen; i++)
			o += (size_t)snprintf(buf + o, buflen - o, "%s %s", i ? "," : "",
					      it->enums[i]);
		break;
	}
	case CFG_ADDR:
		snprintf(buf, buflen, "an address with port like 127.0.0.1:53 or [::1]:53");
		break;
	case CFG_IP:
		snprintf(buf, buflen, "an IP address like 192.0.2.1 or 2001:db8::1");
		break;
	case CFG_PREFIX:
		snprintf(buf, buflen, "an IP prefix like 192.0.2.0/24 or 2001:db8::/32");
		break;
	case CFG_SECTION:
		snprintf(buf, buflen, "a mapping");
		break;
	}
}

static int fail_expected(struct load_ctx *ctx, const struct cfg_item *it, const struct node *n)
{
	char want[256], got[SHOW_LEN * 4 + 16];
	describe_expected(it, want, sizeof(want));
	describe_node(n, got, sizeof(got));
	return fail(ctx, n, "expected %s, got %s", want, got);
}

/* ---- scalar parsers --------------------------------------------------------------- */

/* Decimal digits only. Returns 0, AD_EPARSE or AD_ETOOBIG. */
static int parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return AD_EPARSE;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return AD_EPARSE;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return AD_ETOOBIG;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return AD_EPARSE;
}

/* "192.0.2.0/24" or "2001:db8::/32": no brackets, no zone. */
static bool parse_prefix(const char *s, struct cfg_prefix *out)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	uint64_t bits;
	if (slash == NULL || (size_t)(slash - s) >= sizeof(ip) ||
	    strpbrk(s, "[%") != NULL)
		return false;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	memset(out, 0, sizeof(*out));
	if (sockaddr_parse_ip(ip, 0, &out->addr.addr, &out->addr.len) != 0)
		return false;
	if (strlen(slash + 1) > 3 || parse_uint(slash + 1, &bits) != 0 ||
	    bits > (out->addr.addr.ss_family == AF_INET ? 32u : 128u))
		return false;
	out->prefixlen = (unsigned)bits;
	return true;
}

/* base + "/" + p for a relative p; "./" prefixes dropped. NULL on ENOMEM. */
static char *path_join(const char *base, const char *p)
{
	if (p[0] == '/' || base == NULL || base[0] == '\0')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	if (*p == '\0' || strcmp(p, ".") == 0)
		return strdup(base);
	size_t bl = strlen(base), pl = strlen(p);
	bool slash = base[bl - 1] != '/';
	char *out = malloc(bl + slash + pl + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, base, bl);
	if (slash)
		out[bl] = '/';
	memcpy(out + bl + slash, p, pl + 1);
	return out;
}

/* ---- pass 2: nodes to the struct -------------------------------------------------- */

static int load_mapping(struct load_ctx *ctx, const struct cfg_schema *schema,
			const struct node *map, const struct node *at, void *base);

/* A scalar (not a list, not a section) into *dst. */
static int convert_scalar(struct load_ctx *ctx, const struct cfg_item *it, const struct node *n,
			  void *dst)
{
	uint64_t v = 0;
	int ret = 0;

	if (n->kind != NODE_SCALAR || n->null || strlen(n->text) != n->len)
		return fail_expected(ctx, it, n);
	switch (it->type) {
	case CFG_BOOL:
		if (parse_bool(n->text, dst) != 0)
			return fail_expected(ctx, it, n);
		return 0;
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE:
		if (it->type == CFG_UINT)
			ret = parse_uint(n->text, &v);
		else if (it->type == CFG_DURATION)
			ret = units_parse_duration(n->text, &v);
		else
			ret = units_parse_size(n->text, &v);
		if (ret != 0 || v < it->min || v > item_max(it))
			return fail_expected(ctx, it, n);
		if (it->type == CFG_UINT)
			*(unsigned int *)dst = (unsigned int)v;
		else
			*(uint64_t *)dst = v;
		return 0;
	case CFG_STRING:
	case CFG_PATH: {
		if (it->type == CFG_PATH && n->len == 0)
			return fail_expected(ctx, it, n);
		char *s = it->type == CFG_PATH ? path_join(ctx->basedir, n->text) : strdup(n->text);
		if (s == NULL)
			return fail_nomem(ctx);
		*(char **)dst = s;
		return 0;
	}
	case CFG_ENUM:
		for (int i = 0; it->enums[i] != NULL; i++) {
			if (strcmp(n->text, it->enums[i]) == 0) {
				*(int *)dst = i;
				return 0;
			}
		}
		return fail_expected(ctx, it, n);
	case CFG_ADDR:
	case CFG_IP: {
		struct cfg_addr *a = dst;
		ret = it->type == CFG_ADDR ? sockaddr_parse(n->text, &a->addr, &a->len)
					   : sockaddr_parse_ip(n->text, 0, &a->addr, &a->len);
		return ret == 0 ? 0 : fail_expected(ctx, it, n);
	}
	case CFG_PREFIX:
		return parse_prefix(n->text, dst) ? 0 : fail_expected(ctx, it, n);
	case CFG_SECTION:
		break;
	}
	return fail_expected(ctx, it, n);
}

/* One value of the item's type (a list element, or the item itself) into *dst. */
static int convert_one(struct load_ctx *ctx, const struct cfg_item *it, const struct node *n,
		       void *dst)
{
	if (it->type != CFG_SECTION)
		return convert_scalar(ctx, it, n, dst);
	if (n->kind == NODE_MAP)
		return load_mapping(ctx, it->section, n, n, dst);
	if (n->kind == NODE_SCALAR && n->null)
		return load_mapping(ctx, it->section, NULL, n, dst);
	return fail_expected(ctx, it, n);
}

static int convert_list(struct load_ctx *ctx, const struct cfg_item *it, const struct node *n,
			void *base)
{
	void **items = (void **)((char *)base + it->offset);
	size_t *count = (size_t *)((char *)base + it->count.offset);
	size_t esize = item_elem_size(it);
	const struct node *const *elems;
	size_t nelems;

	if (n->kind == NODE_SEQ) {
		elems = (const struct node *const *)n->kids;
		nelems = n->nkids;
	} else if (n->kind == NODE_SCALAR && n->null) {
		elems = NULL;
		nelems = 0;
	} else if (n->kind == NODE_SCALAR && it->type != CFG_SECTION) {
		elems = &n; /* one bare value: a list of one */
		nelems = 1;
	} else {
		char got[SHOW_LEN * 4 + 16];
		describe_node(n, got, sizeof(got));
		return fail(ctx, n, "expected a list%s, got %s",
			    it->type == CFG_SECTION ? " of mappings" : "", got);
	}
	*items = NULL;
	*count = 0;
	if (nelems == 0)
		return 0;
	char *arr = calloc(nelems, esize);
	if (arr == NULL)
		return fail_nomem(ctx);
	/* Zeroed elements are safe to free, so the whole array is owned by base now. */
	*items = arr;
	*count = nelems;
	for (size_t i = 0; i < nelems; i++) {
		size_t saved = n->kind == NODE_SEQ ? path_push_index(ctx, i) : ctx->pathlen;
		int ret = convert_one(ctx, it, elems[i], arr + i * esize);
		path_pop(ctx, saved);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int convert_item(struct load_ctx *ctx, const struct cfg_item *it, const struct node *n,
			void *base)
{
	if (it->count.set)
		return convert_list(ctx, it, n, base);
	return convert_one(ctx, it, n, (char *)base + it->offset);
}

/* The parsed default of an item, parsed on first use in this load. An empty default
 * text is a null node. */
static int default_node(struct load_ctx *ctx, const struct cfg_item *it, const struct node **out)
{
	for (size_t i = 0; i < ctx->ndefs; i++) {
		if (ctx->defs[i].item == it) {
			*out = ctx->defs[i].node;
			return 0;
		}
	}
	if (ctx->ndefs == ctx->capdefs) {
		size_t cap = ctx->capdefs ? ctx->capdefs * 2 : 16;
		struct def_entry *d = realloc(ctx->defs, cap * sizeof(*d));
		if (d == NULL)
			return fail_nomem(ctx);
		ctx->defs = d;
		ctx->capdefs = cap;
	}
	struct node *n = NULL;
	int ret = doc_parse(ctx, it->def, strlen(it->def), &n);
	if (ret != 0)
		return ret;
	if (n == NULL) {
		n = calloc(1, sizeof(*n));
		if (n == NULL || (n->text = strdup("")) == NULL) {
			free(n);
			return fail_nomem(ctx);
		}
		n->kind = NODE_SCALAR;
		n->null = true;
		n->line = n->col = 1;
	}
	ctx->defs[ctx->ndefs].item = it;
	ctx->defs[ctx->ndefs].node = n;
	ctx->ndefs++;
	*out = n;
	return 0;
}

/* Edit distance (insert, delete, replace, swap two neighbours) of two short strings,
 * for "did you mean". Strings over 32 bytes: SIZE_MAX. */
static size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t d[33][33];
	if (alen > 32 || blen > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= alen; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= blen; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= alen; i++) {
		for (size_t j = 1; j <= blen; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[alen][blen];
}

static int fail_unknown(struct load_ctx *ctx, const struct cfg_schema *schema,
			const struct node *key)
{
	const char *best = NULL;
	size_t best_d = key->len <= 4 ? 2 : 3; /* suggest within 1 (short keys) or 2 edits */
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++) {
		size_t d = edit_distance(key->text, key->len, it->key, strlen(it->key));
		if (d < best_d) {
			best = it->key;
			best_d = d;
		}
	}
	if (best != NULL)
		return fail(ctx, key, "unknown key, did you mean \"%s\"?", best);
	return fail(ctx, key, "unknown key");
}

/* Fill the struct at base from a mapping node (NULL: the key is absent, defaults only).
 * at is where missing required keys are reported; NULL: they are not checked. */
static int load_mapping(struct load_ctx *ctx, const struct cfg_schema *schema,
			const struct node *map, const struct node *at, void *base)
{
	const struct node **seen = NULL;
	size_t nitems = 0;
	int ret = 0;

	while (schema->items[nitems].key != NULL)
		nitems++;
	seen = calloc(nitems ? nitems : 1, sizeof(*seen));
	if (seen == NULL)
		return fail_nomem(ctx);

	for (size_t k = 0; map != NULL && k + 1 < map->nkids; k += 2) {
		const struct node *key = map->kids[k], *val = map->kids[k + 1];
		size_t idx;
		for (idx = 0; idx < nitems; idx++) {
			if (strlen(schema->items[idx].key) == key->len &&
			    memcmp(schema->items[idx].key, key->text, key->len) == 0)
				break;
		}
		size_t saved = path_push_key(ctx, key->text, key->len);
		if (idx == nitems) {
			ret = fail_unknown(ctx, schema, key);
		} else if (seen[idx] != NULL) {
			ret = fail(ctx, key, "duplicate key, first given at %u:%u", seen[idx]->line,
				   seen[idx]->col);
		} else {
			const struct cfg_item *it = &schema->items[idx];
			seen[idx] = key;
			ret = convert_item(ctx, it, val, base);
			if (it->present.set)
				*(bool *)((char *)base + it->present.offset) = true;
		}
		path_pop(ctx, saved);
		if (ret != 0)
			goto cleanup;
	}

	for (size_t idx = 0; idx < nitems; idx++) {
		const struct cfg_item *it = &schema->items[idx];
		if (seen[idx] != NULL)
			continue;
		size_t saved = path_push_key(ctx, it->key, strlen(it->key));
		if (it->def != NULL) {
			const struct node *def;
			ctx->in_default++;
			ret = default_node(ctx, it, &def);
			if (ret == 0)
				ret = convert_item(ctx, it, def, base);
			ctx->in_default--;
		} else if (it->required && at != NULL) {
			path_pop(ctx, saved);
			ret = fail(ctx, at, "missing required key \"%s\"", it->key);
		} else if (it->type == CFG_SECTION && !it->count.set) {
			ret = load_mapping(ctx, it->section, NULL, NULL, (char *)base + it->offset);
		}
		path_pop(ctx, saved);
		if (ret != 0)
			goto cleanup;
	}
cleanup:
	free(seen);
	return ret;
}

static void ctx_deinit(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->ndefs; i++)
		node_free(ctx->defs[i].node);
	free(ctx->defs);
	ctx->defs = NULL;
	ctx->ndefs = ctx->capdefs = 0;
}

static void ctx_init(struct load_ctx *ctx, const char *name, const char *basedir, char *err,
		     size_t errlen)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name != NULL ? name : "<config>";
	ctx->basedir = basedir;
	ctx->err = err;
	ctx->errlen = err != NULL ? errlen : 0;
	if (ctx->errlen > 0)
		err[0] = '\0';
}

/* ---- public API ------------------------------------------------------------------- */

int cfg_set_defaults(const struct cfg_schema *schema, void *out, char *err, size_t errlen)
{
	struct load_ctx ctx;
	ctx_init(&ctx, schema->name, NULL, err, errlen);
	memset(out, 0, schema->size);
	int ret = load_mapping(&ctx, schema, NULL, NULL, out);
	if (ret != 0) {
		cfg_free(schema, out);
		memset(out, 0, schema->size);
	}
	ctx_deinit(&ctx);
	return ret;
}

int cfg_load_buffer(const struct cfg_schema *schema, void *out, const char *name,
		    const char *data, size_t len, const char *basedir, char *err,
		    size_t errlen)
{
	static const struct node top = { .kind = NODE_MAP, .line = 1, .col = 1 };
	struct load_ctx ctx;
	struct node *root = NULL;
	int ret;

	ctx_init(&ctx, name, basedir, err, errlen);
	memset(out, 0, schema->size);
	if (data == NULL) {
		data = "";
		len = 0;
	}
	if (len > CFG_MAX_FILE) {
		fail_at(&ctx, 0, 0, "larger than %u bytes", CFG_MAX_FILE);
		ret = AD_ETOOBIG;
		goto cleanup;
	}
	ret = doc_parse(&ctx, data, len, &root);
	if (ret != 0)
		goto cleanup;
	if (root == NULL || (root->kind == NODE_SCALAR && root->null)) {
		/* An empty file: all defaults. */
		ret = load_mapping(&ctx, schema, NULL, &top, out);
	} else if (root->kind != NODE_MAP) {
		char got[SHOW_LEN * 4 + 16];
		describe_node(root, got, sizeof(got));
		ret = fail(&ctx, root, "expected a mapping at the top level, got %s", got);
	} else {
		ret = load_mapping(&ctx, schema, root, root, out);
	}
cleanup:
	if (ret != 0) {
		cfg_free(schema, out);
		memset(out, 0, schema->size);
	}
	node_free(root);
	ctx_deinit(&ctx);
	return ret;
}

/* The folder of path, absolute. NULL on ENOMEM or when the cwd is unknown. */
static char *config_basedir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL, *cwd = NULL, *out = NULL;

	if (slash == path)
		return strdup("/");
	dir = slash != NULL ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (dir == NULL || dir[0] == '/')
		return dir;
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		goto cleanup;
	out = strcmp(dir, ".") == 0 ? strdup(cwd) : path_join(cwd, dir);
cleanup:
	free(dir);
	free(cwd);
	return out;
}

int cfg_load_file(const struct cfg_schema *schema, void *out, const char *path, char *err,
		  size_t errlen)
{
	int fd = -1;
	char *data = NULL, *basedir = NULL;
	size_t len = 0, cap = 0;
	int ret = 0;

	memset(out, 0, schema->size);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto fail_errno;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (size_t)CFG_MAX_FILE + 1)
				cap = (size_t)CFG_MAX_FILE + 1;
			if (len == cap) {
				ret = AD_ETOOBIG;
				if (err != NULL && errlen > 0)
					snprintf(err, errlen, "%s: larger than %u bytes", path,
						 CFG_MAX_FILE);
				goto cleanup;
			}
			char *ndata = realloc(data, cap);
			if (ndata == NULL) {
				ret = -ENOMEM;
				goto fail_errno;
			}
			data = ndata;
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto fail_errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	basedir = config_basedir(path);
	if (basedir == NULL) {
		ret = errno ? -errno : -ENOMEM;
		goto fail_errno;
	}
	ret = cfg_load_buffer(schema, out, path, data != NULL ? data : "", len, basedir, err,
			      errlen);
	goto cleanup;
fail_errno:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, airdress_strerror(ret));
cleanup:
	if (fd >= 0)
		close(fd);
	free(data);
	free(basedir);
	return ret;
}

/* ---- free, compare, copy ---------------------------------------------------------- */

static void free_struct(const struct cfg_schema *schema, void *base);

static void free_value(const struct cfg_item *it, void *dst)
{
	if (it->type == CFG_STRING || it->type == CFG_PATH) {
		free(*(char **)dst);
		*(char **)dst = NULL;
	} else if (it->type == CFG_SECTION) {
		free_struct(it->section, dst);
	}
}

static void free_item(const struct cfg_item *it, void *base)
{
	if (!it->count.set) {
		free_value(it, (char *)base + it->offset);
		return;
	}
	char **items = (char **)((char *)base + it->offset);
	size_t *count = (size_t *)((char *)base + it->count.offset);
	size_t esize = item_elem_size(it);
	if (*items != NULL) {
		for (size_t i = 0; i < *count; i++)
			free_value(it, *items + i * esize);
	}
	free(*items);
	*items = NULL;
	*count = 0;
}

static void free_struct(const struct cfg_schema *schema, void *base)
{
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++)
		free_item(it, base);
}

void cfg_free(const struct cfg_schema *schema, void *out)
{
	if (schema == NULL || out == NULL)
		return;
	free_struct(schema, out);
}

static bool struct_equal(const struct cfg_schema *schema, const void *a, const void *b);

static bool addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && memcmp(&a->addr, &b->addr, a->len) == 0;
}

static bool value_equal(const struct cfg_item *it, const void *a, const void *b)
{
	switch (it->type) {
	case CFG_BOOL:
		return *(const bool *)a == *(const bool *)b;
	case CFG_UINT:
		return *(const unsigned int *)a == *(const unsigned int *)b;
	case CFG_DURATION:
	case CFG_SIZE:
		return *(const uint64_t *)a == *(const uint64_t *)b;
	case CFG_ENUM:
		return *(const int *)a == *(const int *)b;
	case CFG_STRING:
	case CFG_PATH: {
		const char *sa = *(char *const *)a, *sb = *(char *const *)b;
		return sa == sb || (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
	}
	case CFG_ADDR:
	case CFG_IP:
		return addr_equal(a, b);
	case CFG_PREFIX: {
		const struct cfg_prefix *pa = a, *pb = b;
		return pa->prefixlen == pb->prefixlen && addr_equal(&pa->addr, &pb->addr);
	}
	case CFG_SECTION:
		return struct_equal(it->section, a, b);
	}
	return false;
}

static bool item_equal(const struct cfg_item *it, const void *a, const void *b)
{
	if (it->present.set && *(const bool *)((const char *)a + it->present.offset) !=
				       *(const bool *)((const char *)b + it->present.offset))
		return false;
	if (!it->count.set)
		return value_equal(it, (const char *)a + it->offset, (const char *)b + it->offset);
	size_t na = *(const size_t *)((const char *)a + it->count.offset);
	size_t nb = *(const size_t *)((const char *)b + it->count.offset);
	const char *ia = *(char *const *)((const char *)a + it->offset);
	const char *ib = *(char *const *)((const char *)b + it->offset);
	size_t esize = item_elem_size(it);
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (!value_equal(it, ia + i * esize, ib + i * esize))
			return false;
	}
	return true;
}

static bool struct_equal(const struct cfg_schema *schema, const void *a, const void *b)
{
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++) {
		if (!item_equal(it, a, b))
			return false;
	}
	return true;
}

static int copy_struct(const struct cfg_schema *schema, void *dst, const void *src);

/* Copy one value into zeroed (or freed) storage. Returns 0 or -ENOMEM. */
static int copy_value(const struct cfg_item *it, void *dst, const void *src)
{
	if (it->type == CFG_STRING || it->type == CFG_PATH) {
		const char *s = *(char *const *)src;
		if (s != NULL && (*(char **)dst = strdup(s)) == NULL)
			return -ENOMEM;
		return 0;
	}
	if (it->type == CFG_SECTION)
		return copy_struct(it->section, dst, src);
	memcpy(dst, src, item_elem_size(it));
	return 0;
}

/* Replace the item in dst with a deep copy of the one in src. On -ENOMEM dst still
 * holds something cfg_free() can release. */
static int copy_item(const struct cfg_item *it, void *dst, const void *src)
{
	free_item(it, dst);
	if (it->present.set)
		*(bool *)((char *)dst + it->present.offset) =
			*(const bool *)((const char *)src + it->present.offset);
	if (!it->count.set)
		return copy_value(it, (char *)dst + it->offset, (const char *)src + it->offset);
	size_t n = *(const size_t *)((const char *)src + it->count.offset);
	const char *from = *(char *const *)((const char *)src + it->offset);
	size_t esize = item_elem_size(it);
	if (n == 0)
		return 0;
	char *arr = calloc(n, esize);
	if (arr == NULL)
		return -ENOMEM;
	*(char **)((char *)dst + it->offset) = arr;
	*(size_t *)((char *)dst + it->count.offset) = n;
	for (size_t i = 0; i < n; i++) {
		int ret = copy_value(it, arr + i * esize, from + i * esize);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int copy_struct(const struct cfg_schema *schema, void *dst, const void *src)
{
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++) {
		int ret = copy_item(it, dst, src);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int reload_merge(const struct cfg_schema *schema, void *fresh, const void *running,
			char *path, size_t pathlen)
{
	int kept = 0;
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++) {
		int n = snprintf(path + pathlen, PATH_LEN - pathlen, "%s%s", pathlen ? "." : "",
				 it->key);
		size_t sublen = n > 0 && pathlen + (size_t)n < PATH_LEN ? pathlen + (size_t)n
									 : PATH_LEN - 1;
		int ret = 0;
		if (!it->reload) {
			if (!item_equal(it, fresh, running)) {
				log_warn("config change needs a restart, old value kept", "key=%s",
					 path);
				ret = copy_item(it, fresh, running);
				if (ret == 0)
					ret = 1;
			}
		} else if (it->type == CFG_SECTION && !it->count.set) {
			ret = reload_merge(it->section, (char *)fresh + it->offset,
					   (const char *)running + it->offset, path, sublen);
		}
		path[pathlen] = '\0';
		if (ret < 0)
			return ret;
		kept += ret;
	}
	return kept;
}

int cfg_reload_merge(const struct cfg_schema *schema, void *fresh, const void *running)
{
	char path[PATH_LEN] = "";
	return reload_merge(schema, fresh, running, path, 0);
}

int cfg_check_file(const struct cfg_schema *schema, const char *path, FILE *out)
{
	char err[CFG_ERRLEN];
	void *cfg = calloc(1, schema->size ? schema->size : 1);
	if (cfg == NULL) {
		fprintf(out, "%s: %s\n", path, airdress_strerror(-ENOMEM));
		return -ENOMEM;
	}
	int ret = cfg_load_file(schema, cfg, path, err, sizeof(err));
	if (ret == 0)
		fprintf(out, "%s: configuration ok\n", path);
	else
		fprintf(out, "%s\n", err);
	cfg_free(schema, cfg);
	free(cfg);
	return ret;
}

/* ---- reference -------------------------------------------------------------------- */

static const char *type_name(const struct cfg_item *it, bool plural)
{
	static const char *const names[][2] = {
		[CFG_BOOL] = { "bool", "bools" },
		[CFG_UINT] = { "unsigned integer", "unsigned integers" },
		[CFG_STRING] = { "string", "strings" },
		[CFG_PATH] = { "path", "paths" },
		[CFG_DURATION] = { "duration", "durations" },
		[CFG_SIZE] = { "size", "sizes" },
		[CFG_ENUM] = { "enum", "enum values" },
		[CFG_ADDR] = { "address", "addresses" },
		[CFG_IP] = { "IP address", "IP addresses" },
		[CFG_PREFIX] = { "IP prefix", "IP prefixes" },
		[CFG_SECTION] = { "section", "sections" },
	};
	return names[it->type][plural];
}

/* Write s with Markdown table cells' "|" escaped. */
static void put_cell(const char *s, FILE *out)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
}

static void print_items(const struct cfg_schema *schema, const char *prefix, FILE *out)
{
	for (const struct cfg_item *it = schema->items; it->key != NULL; it++) {
		char key[PATH_LEN], range[2 * UNITS_BUFLEN + 24];
		if (snprintf(key, sizeof(key), "%s%s", prefix, it->key) < 0)
			continue;

		fputs("| `", out);
		put_cell(key, out);
		fputs("` | ", out);
		if (it->count.set)
			fprintf(out, "list of %s", type_name(it, true));
		else
			fputs(type_name(it, false), out);
		if (it->type == CFG_ENUM) {
			fputs(": ", out);
			for (size_t i = 0; it->enums[i] != NULL; i++) {
				fprintf(out, "%s`", i ? ", " : "");
				put_cell(it->enums[i], out);
				fputc('`', out);
			}
		}
		describe_range(it, range, sizeof(range));
		put_cell(range, out);
		fputs(" | ", out);
		if (it->def != NULL) {
			fputc('`', out);
			put_cell(it->def, out);
			fputc('`', out);
		} else if (it->required) {
			fputs("required", out);
		} else if (it->type != CFG_SECTION || it->count.set) {
			fputs("none", out); /* zero, empty or unset */
		}
		fprintf(out, " | %s | ", it->reload ? "yes" : "no");
		put_cell(it->doc != NULL ? it->doc : "", out);
		fputs(" |\n", out);

		if (it->type == CFG_SECTION) {
			char sub[PATH_LEN];
			int n = snprintf(sub, sizeof(sub), "%s%s.", key, it->count.set ? "[]" : "");
			if (n > 0 && (size_t)n < sizeof(sub))
				print_items(it->section, sub, out);
		}
	}
}

void cfg_print_reference(const struct cfg_schema *schema, FILE *out)
{
	fputs("| key | type | default | reload | description |\n", out);
	fputs("|---|---|---|---|---|\n", out);
	print_items(schema, "", out);
}
