/*
 * Healthd state machine and ExaBGP text commands. See healthd.h for the states.
 * Nothing here reads a clock or a file: the caller passes `now` and what it saw.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "healthd.h"

/* ---- configuration schema ---- */

static const char *const check_types[] = { "http", "tcp", "dns", NULL };

static const struct cfg_item check_items[] = {
	{ .key = "type", .type = CFG_ENUM, .offset = offsetof(struct healthd_check_cfg, type),
	  .enums = check_types, .required = true, .doc = "http, tcp or dns" },
	{ .key = "url", .type = CFG_STRING, .offset = offsetof(struct healthd_check_cfg, url),
	  .doc = "http: the URL to GET (http://IP:PORT/path); 2xx is a success" },
	{ .key = "address", .type = CFG_ADDR,
	  .offset = offsetof(struct healthd_check_cfg, address),
	  .present = CFG_AT(struct healthd_check_cfg, address_present),
	  .doc = "tcp: IP:PORT that must accept a connection" },
	{ .key = "server", .type = CFG_ADDR, .offset = offsetof(struct healthd_check_cfg, server),
	  .present = CFG_AT(struct healthd_check_cfg, server_present),
	  .doc = "dns: IP:PORT of the server to query over UDP" },
	{ .key = "query", .type = CFG_STRING, .offset = offsetof(struct healthd_check_cfg, query),
	  .def = "\"a.airdr.es SOA\"",
	  .doc = "dns: NAME TYPE; success is NOERROR with the AA bit" },
	{ .key = "timeout", .type = CFG_DURATION,
	  .offset = offsetof(struct healthd_check_cfg, timeout), .min = 1, .max = 60000,
	  .def = "1s", .doc = "the whole check must finish in this time" },
	CFG_ITEMS_END
};

static const struct cfg_schema check_schema = {
	"check", sizeof(struct healthd_check_cfg), check_items
};

static const struct cfg_item admin_items[] = {
	{ .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct healthd_admin_cfg, listen),
	  .def = "127.0.0.1:9181", .doc = "admin HTTP endpoint (/healthz, /metrics, /status)" },
	CFG_ITEMS_END
};

static const struct cfg_schema admin_schema = {
	"admin", sizeof(struct healthd_admin_cfg), admin_items
};

static const struct cfg_item healthd_items[] = {
	{ .key = "checks", .type = CFG_SECTION, .offset = offsetof(struct healthd_cfg, checks),
	  .count = CFG_AT(struct healthd_cfg, checks_count), .section = &check_schema,
	  .required = true, .doc = "health checks; all must pass for a success" },
	{ .key = "interval", .type = CFG_DURATION, .offset = offsetof(struct healthd_cfg, interval),
	  .min = 10, .def = "2s", .doc = "time between checks while UP, DOWN or DISABLED" },
	{ .key = "fast_interval", .type = CFG_DURATION,
	  .offset = offsetof(struct healthd_cfg, fast_interval), .min = 10, .def = "250ms",
	  .doc = "time between checks while RISING or FALLING" },
	{ .key = "rise", .type = CFG_UINT, .offset = offsetof(struct healthd_cfg, rise), .min = 1,
	  .max = 1000, .def = "2", .doc = "consecutive successes before announcing" },
	{ .key = "fall", .type = CFG_UINT, .offset = offsetof(struct healthd_cfg, fall), .min = 1,
	  .max = 1000, .def = "2", .doc = "consecutive failures before withdrawing" },
	{ .key = "prefixes", .type = CFG_PREFIX, .offset = offsetof(struct healthd_cfg, prefixes),
	  .count = CFG_AT(struct healthd_cfg, prefixes_count), .required = true,
	  .doc = "prefixes to announce (IPv4 and IPv6), host bits zero" },
	{ .key = "community", .type = CFG_STRING,
	  .offset = offsetof(struct healthd_cfg, community),
	  .doc = "optional communities added to every announcement, \"65000:1 65000:2\"" },
	{ .key = "med", .type = CFG_UINT, .offset = offsetof(struct healthd_cfg, med),
	  .present = CFG_AT(struct healthd_cfg, med_present),
	  .doc = "optional MED of every announcement" },
	{ .key = "disable_file", .type = CFG_PATH,
	  .offset = offsetof(struct healthd_cfg, disable_file),
	  .def = "/run/airdress/healthd.disable",
	  .doc = "while this file exists: drain (65535:0, drain_delay, withdraw)" },
	{ .key = "drain_delay", .type = CFG_DURATION,
	  .offset = offsetof(struct healthd_cfg, drain_delay), .def = "30s",
	  .doc = "time between the 65535:0 announcement and the withdraw" },
	{ .key = "status_file", .type = CFG_PATH,
	  .offset = offsetof(struct healthd_cfg, status_file),
	  .doc = "optional: the current state as JSON, replaced atomically" },
	{ .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct healthd_cfg, admin),
	  .section = &admin_schema, .doc = "admin endpoint" },
	CFG_ITEMS_END
};

const struct cfg_schema healthd_schema = { "healthd", sizeof(struct healthd_cfg),
					   healthd_items };

/* ---- the machine ---- */

struct healthd {
	char **prefixes;
	size_t nprefixes;
	char *community; /* NULL: none */
	bool has_med;
	uint32_t med;
	unsigned rise, fall, refresh_intervals;
	uint64_t interval, fast_interval, drain_delay;

	enum healthd_state state;
	unsigned count;
	bool announced;   /* our prefixes are announced (maybe with 65535:0) */
	bool draining;    /* 65535:0 announced, withdraw due at drain_until */
	bool done;
	uint64_t drain_until;
	uint64_t next_check;
	uint64_t next_refresh;
};

static const char *const state_names[HEALTHD_NSTATES] = {
	"init", "rising", "falling", "up", "down", "disabled", "exit",
};

const char *healthd_state_name(enum healthd_state s)
{
	return (unsigned)s < HEALTHD_NSTATES ? state_names[s] : "?";
}

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return AD_ECONFIG;
}

/* "A:B" with A and B decimal in 0..65535, tokens separated by blanks. */
static bool community_valid(const char *s)
{
	unsigned n = 0;
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		for (int part = 0; part < 2; part++) {
			unsigned long v = 0;
			int digits = 0;
			while (*s >= '0' && *s <= '9' && digits < 6) {
				v = v * 10 + (unsigned long)(*s++ - '0');
				digits++;
			}
			if (digits == 0 || v > 65535)
				return false;
			if (part == 0 && *s++ != ':')
				return false;
		}
		if (*s != '\0' && *s != ' ' && *s != '\t')
			return false;
		n++;
	}
	return n > 0;
}

/* A prefix as ExaBGP's route syntax takes it: no blanks, a '/', printable. */
static bool prefix_text_valid(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len >= HEALTHD_PREFIX_TEXT || strchr(s, '/') == NULL)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F') || *s == ':' || *s == '.' || *s == '/'))
			return false;
	return true;
}

void healthd_destroy(struct healthd *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nprefixes; i++)
		free(h->prefixes[i]);
	free(h->prefixes);
	free(h->community);
	free(h);
}

int healthd_create(const struct healthd_params *p, uint64_t now, struct healthd **out,
		   char *err, size_t errlen)
{
	struct healthd *h = NULL;
	int ret = -EINVAL;
	if (p == NULL || out == NULL)
		goto finish;
	ret = AD_ECONFIG;
	if (p->nprefixes == 0 || p->nprefixes > HEALTHD_MAX_PREFIXES) {
		errf(err, errlen, "prefixes: between 1 and %d needed, got %zu",
		     HEALTHD_MAX_PREFIXES, p->nprefixes);
		goto finish;
	}
	for (size_t i = 0; i < p->nprefixes; i++) {
		if (p->prefixes[i] == NULL || !prefix_text_valid(p->prefixes[i])) {
			errf(err, errlen, "prefixes[%zu]: not a prefix", i);
			goto finish;
		}
	}
	bool has_comm = p->community != NULL && p->community[0] != '\0';
	if (has_comm && (strlen(p->community) > 128 || !community_valid(p->community))) {
		errf(err, errlen, "community: expected \"ASN:VALUE\" (each 0..65535), got \"%s\"",
		     p->community);
		goto finish;
	}
	if (p->rise == 0 || p->fall == 0) {
		errf(err, errlen, "rise and fall must be at least 1");
		goto finish;
	}
	if (p->interval_ms == 0 || p->fast_interval_ms == 0) {
		errf(err, errlen, "interval and fast_interval must be above 0");
		goto finish;
	}
	ret = -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto finish;
	h->prefixes = calloc(p->nprefixes, sizeof(*h->prefixes));
	if (h->prefixes == NULL)
		goto finish;
	for (size_t i = 0; i < p->nprefixes; i++) {
		h->prefixes[i] = strdup(p->prefixes[i]);
		if (h->prefixes[i] == NULL)
			goto finish;
		h->nprefixes = i + 1;
	}
	if (has_comm) {
		/* normalise blanks to single spaces */
		h->community = calloc(1, strlen(p->community) + 1);
		if (h->community == NULL)
			goto finish;
		char *w = h->community;
		for (const char *s = p->community; *s != '\0'; s++) {
			if (*s == ' ' || *s == '\t') {
				if (w != h->community && w[-1] != ' ')
					*w++ = ' ';
			} else {
				*w++ = *s;
			}
		}
		if (w != h->community && w[-1] == ' ')
			w--;
		*w = '\0';
	}
	h->has_med = p->has_med;
	h->med = p->med;
	h->rise = p->rise;
	h->fall = p->fall;
	h->refresh_intervals = p->refresh_intervals;
	h->interval = p->interval_ms;
	h->fast_interval = p->fast_interval_ms;
	h->drain_delay = p->drain_delay_ms;
	h->state = HEALTHD_INIT;
	h->next_check = now;
	*out = h;
	h = NULL;
	ret = 0;
finish:
	healthd_destroy(h);
	return ret;
}

/* ---- commands ---- */

static void emit(struct healthd_actions *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void emit(struct healthd_actions *a, const char *fmt, ...)
{
	size_t room = sizeof(a->text) - a->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(a->text + a->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		a->text[a->len] = '\0'; /* cannot happen with the limits checked at create */
		return;
	}
	a->len += (size_t)n;
	a->ncmds++;
}

static void announce_all(struct healthd *h, struct healthd_actions *a, bool gshut)
{
	char comm[160] = "";
	if (h->community != NULL || gshut)
		snprintf(comm, sizeof(comm), " community [%s%s%s]",
			 h->community ? h->community : "", h->community && gshut ? " " : "",
			 gshut ? HEALTHD_GSHUT : "");
	char med[24] = "";
	if (h->has_med)
		snprintf(med, sizeof(med), " med %u", (unsigned)h->med);
	for (size_t i = 0; i < h->nprefixes; i++)
		emit(a, "announce route %s next-hop self%s%s\n", h->prefixes[i], comm, med);
	h->announced = true;
}

static void withdraw_all(struct healthd *h, struct healthd_actions *a)
{
	for (size_t i = 0; i < h->nprefixes; i++)
		emit(a, "withdraw route %s next-hop self\n", h->prefixes[i]);
	h->announced = false;
	h->draining = false;
}

/* ---- transitions ---- */

static void enter(struct healthd *h, struct healthd_actions *a, enum healthd_state s,
		  uint64_t now)
{
	/* Shortcuts of healthcheck.py: rise (fall) of 1 needs no RISING (FALLING). */
	if (s == HEALTHD_RISING && h->rise <= 1)
		s = HEALTHD_UP;
	else if (s == HEALTHD_FALLING && h->fall <= 1)
		s = HEALTHD_DOWN;
	if (s == HEALTHD_RISING || s == HEALTHD_FALLING)
		h->count = 1;
	else
		h->count = 0;
	if (s == HEALTHD_UP) {
		announce_all(h, a, false);
		h->draining = false;
		h->next_refresh = now + (uint64_t)h->refresh_intervals * h->interval;
	} else if (s == HEALTHD_DOWN) {
		withdraw_all(h, a);
	}
	if (s != h->state)
		a->changed = true;
	h->state = s;
}

/* Start a drain (disable file or SIGTERM): what is announced is re-announced with the
 * graceful-shutdown community and withdrawn drain_delay later; what is not announced
 * is withdrawn now, in case an earlier instance of us announced it. */
static void start_drain(struct healthd *h, struct healthd_actions *a, uint64_t now)
{
	if (h->announced) {
		announce_all(h, a, true);
		h->draining = true;
		h->drain_until = now + h->drain_delay;
		if (h->drain_delay == 0)
			withdraw_all(h, a);
	} else {
		withdraw_all(h, a);
	}
}

static void on_result(struct healthd *h, struct healthd_actions *a, bool ok, uint64_t now)
{
	switch (h->state) {
	case HEALTHD_INIT:
		enter(h, a, ok ? HEALTHD_RISING : HEALTHD_FALLING, now);
		break;
	case HEALTHD_RISING:
		if (!ok)
			enter(h, a, HEALTHD_FALLING, now);
		else if (++h->count >= h->rise)
			enter(h, a, HEALTHD_UP, now);
		break;
	case HEALTHD_FALLING:
		if (ok)
			enter(h, a, HEALTHD_RISING, now);
		else if (++h->count >= h->fall)
			enter(h, a, HEALTHD_DOWN, now);
		break;
	case HEALTHD_UP:
		if (!ok)
			enter(h, a, HEALTHD_FALLING, now);
		break;
	case HEALTHD_DOWN:
		if (ok)
			enter(h, a, HEALTHD_RISING, now);
		break;
	default:
		break;
	}
	bool fast = h->state == HEALTHD_RISING || h->state == HEALTHD_FALLING;
	h->next_check = now + (fast ? h->fast_interval : h->interval);
}

int healthd_step(struct healthd *h, const struct healthd_input *in, uint64_t now,
		 struct healthd_actions *a)
{
	if (h == NULL || in == NULL || a == NULL)
		return -EINVAL;
	a->len = 0;
	a->text[0] = '\0';
	a->ncmds = 0;
	a->changed = false;
	a->from = h->state;
	if (h->done)
		goto finish;

	if (in->terminate) {
		if (h->state != HEALTHD_EXIT) {
			a->changed = true;
			h->state = HEALTHD_EXIT;
			h->count = 0;
			start_drain(h, a, now);
		} else if (h->draining) {
			withdraw_all(h, a); /* asked twice: no more waiting */
		}
		if (!h->draining)
			h->done = true;
	} else if (h->state == HEALTHD_EXIT) {
		if (h->draining && now >= h->drain_until)
			withdraw_all(h, a);
		if (!h->draining)
			h->done = true;
	} else if (h->state == HEALTHD_DISABLED) {
		if (!in->disabled) {
			/* Resume; a drain still under way is abandoned: the prefixes stay
			 * announced (with 65535:0) until the checks decide UP or DOWN. */
			h->draining = false;
			enter(h, a, HEALTHD_INIT, now);
			h->next_check = now;
		} else {
			if (h->draining && now >= h->drain_until)
				withdraw_all(h, a);
			if (now >= h->next_check)
				h->next_check = now + h->interval;
		}
	} else if (in->disabled) {
		a->changed = true;
		h->state = HEALTHD_DISABLED;
		h->count = 0;
		start_drain(h, a, now);
		h->next_check = now + h->interval;
	} else if (in->result != HEALTHD_RESULT_NONE) {
		on_result(h, a, in->result == HEALTHD_RESULT_OK, now);
	}

	/* Periodic refresh of what UP announces (not in the step that just announced). */
	if (h->state == HEALTHD_UP && h->announced && h->refresh_intervals > 0 &&
	    now >= h->next_refresh) {
		if (a->ncmds == 0)
			announce_all(h, a, false);
		h->next_refresh = now + (uint64_t)h->refresh_intervals * h->interval;
	}
finish:
	a->to = h->state;
	a->done = h->done;
	return 0;
}

bool healthd_check_due(const struct healthd *h, uint64_t now)
{
	return h->state != HEALTHD_DISABLED && h->state != HEALTHD_EXIT && now >= h->next_check;
}

uint64_t healthd_next_wake(const struct healthd *h)
{
	if (h->done)
		return 0;
	if (h->state == HEALTHD_EXIT)
		return h->draining ? h->drain_until : 0;
	uint64_t t = h->next_check;
	if (h->draining && h->drain_until < t)
		t = h->drain_until;
	return t;
}

enum healthd_state healthd_get_state(const struct healthd *h)
{
	return h->state;
}

bool healthd_announced(const struct healthd *h)
{
	return h->announced;
}

unsigned healthd_count(const struct healthd *h)
{
	return h->count;
}

/* ---- from the config ---- */

int healthd_prefix_format(const struct cfg_prefix *p, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	const unsigned char *bytes;
	unsigned width;
	int family = p->addr.addr.ss_family;
	if (family == AF_INET) {
		bytes = (const unsigned char *)&((const struct sockaddr_in *)&p->addr.addr)->sin_addr;
		width = 32;
	} else if (family == AF_INET6) {
		bytes = (const unsigned char *)&((const struct sockaddr_in6 *)&p->addr.addr)
				->sin6_addr;
		width = 128;
	} else {
		return AD_ECONFIG;
	}
	if (p->prefixlen > width)
		return AD_ECONFIG;
	for (unsigned bit = p->prefixlen; bit < width; bit++)
		if (bytes[bit / 8] & (0x80u >> (bit % 8)))
			return AD_ECONFIG;
	if (inet_ntop(family, bytes, ip, sizeof(ip)) == NULL)
		return AD_ECONFIG;
	int n = snprintf(buf, size, "%s/%u", ip, p->prefixlen);
	if (n < 0 || (size_t)n >= size)
		return AD_ENOSPACE;
	return 0;
}

int healthd_params_from_cfg(const struct healthd_cfg *cfg, struct healthd_params *p,
			    char (*storage)[HEALTHD_PREFIX_TEXT], const char **ptrs, char *err,
			    size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (cfg->prefixes_count == 0 || cfg->prefixes_count > HEALTHD_MAX_PREFIXES)
		return errf(err, errlen, "prefixes: between 1 and %d needed, got %zu",
			    HEALTHD_MAX_PREFIXES, cfg->prefixes_count);
	for (size_t i = 0; i < cfg->prefixes_count; i++) {
		if (healthd_prefix_format(&cfg->prefixes[i], storage[i], HEALTHD_PREFIX_TEXT) != 0)
			return errf(err, errlen, "prefixes[%zu]: host bits set (or not an IP prefix)",
				    i);
		ptrs[i] = storage[i];
	}
	if (cfg->checks_count == 0 || cfg->checks_count > HEALTHD_MAX_CHECKS)
		return errf(err, errlen, "checks: between 1 and %d needed, got %zu",
			    HEALTHD_MAX_CHECKS, cfg->checks_count);
	p->prefixes = ptrs;
	p->nprefixes = cfg->prefixes_count;
	p->community = cfg->community;
	p->has_med = cfg->med_present;
	p->med = cfg->med;
	p->rise = cfg->rise;
	p->fall = cfg->fall;
	p->interval_ms = cfg->interval;
	p->fast_interval_ms = cfg->fast_interval;
	p->drain_delay_ms = cfg->drain_delay;
	p->refresh_intervals = 10;
	if (cfg->community != NULL && !community_valid(cfg->community))
		return errf(err, errlen,
			    "community: expected \"ASN:VALUE\" (each 0..65535), got \"%s\"",
			    cfg->community);
	return 0;
}
