/*
 * Healthd: the health supervisor's state machine and the text it writes to ExaBGP.
 * Pure logic: no I/O, no clock, no processes. healthd_main.c runs the checks, reads the
 * clock and the disable file, feeds the results to healthd_step() and writes the
 * commands it returns to ExaBGP; tests drive it with scripted results.
 *
 * States (those of ExaBGP's healthcheck.py, plus a drain phase):
 *
 *   INIT ──ok──▶ RISING ──rise oks──▶ UP          announce every prefix
 *     │            ▲  │                │ ▲
 *     fail     ok  │  fail          fail │ ok (RISING first)
 *     ▼            │  ▼                ▼ │
 *   FALLING ──fall fails──▶ DOWN      withdraw every prefix
 *
 *   any ──disable file──▶ DISABLED   if announced: re-announce with 65535:0 (RFC 8326),
 *                                    withdraw drain_delay later; file gone: INIT
 *   any ──SIGTERM──────▶ EXIT        same drain, then done (the process exits 0);
 *                                    a second SIGTERM withdraws at once
 *
 * rise (fall) of 1 goes straight from INIT/DOWN (UP) to UP (DOWN). RISING and FALLING
 * check every fast_interval, the other states every interval. While the prefixes are
 * announced in UP, the announcements are sent again every refresh_intervals intervals
 * (an ExaBGP restart or a peer without adj-rib-out then recovers).
 *
 * Every check result is the AND of all checks. "Announced" is tracked so that a drain
 * of a PoP that announces nothing only withdraws (harmless), without the 65535:0 step.
 */
#ifndef AIRDRESS_HEALTHD_H
#define AIRDRESS_HEALTHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define HEALTHD_MAX_PREFIXES 64
#define HEALTHD_MAX_CHECKS 16
/* One ExaBGP command line, newline included. */
#define HEALTHD_CMD_MAX 256
/* The graceful-shutdown well-known community (RFC 8326). */
#define HEALTHD_GSHUT "65535:0"

enum healthd_state {
	HEALTHD_INIT,
	HEALTHD_RISING,
	HEALTHD_FALLING,
	HEALTHD_UP,
	HEALTHD_DOWN,
	HEALTHD_DISABLED,
	HEALTHD_EXIT,
	HEALTHD_NSTATES,
};

/* "init", "rising", ... ("?" out of range). */
const char *healthd_state_name(enum healthd_state s);

/* ---- configuration (the YAML file; keys of ARCHITECTURE.md) ---- */

enum healthd_check_type { HEALTHD_CHECK_HTTP, HEALTHD_CHECK_TCP, HEALTHD_CHECK_DNS };

struct healthd_check_cfg {
	int type;                /* enum healthd_check_type */
	char *url;               /* http */
	bool address_present;
	struct cfg_addr address; /* tcp */
	bool server_present;
	struct cfg_addr server;  /* dns */
	char *query;             /* dns: "a.airdr.es SOA" */
	uint64_t timeout;        /* ms */
};

struct healthd_admin_cfg {
	struct cfg_addr listen;
};

struct healthd_cfg {
	struct healthd_check_cfg *checks;
	size_t checks_count;
	uint64_t interval;       /* ms */
	uint64_t fast_interval;  /* ms */
	unsigned rise;
	unsigned fall;
	struct cfg_prefix *prefixes;
	size_t prefixes_count;
	char *community;         /* NULL: none */
	bool med_present;
	unsigned med;
	char *disable_file;      /* NULL: none */
	uint64_t drain_delay;    /* ms */
	char *status_file;       /* NULL: none */
	struct healthd_admin_cfg admin;
};

extern const struct cfg_schema healthd_schema;

/* ---- the machine ---- */

struct healthd_params {
	const char *const *prefixes;  /* "203.0.113.0/24", "2001:db8:a1d::/48" */
	size_t nprefixes;             /* 1..HEALTHD_MAX_PREFIXES */
	const char *community;        /* "65000:1" or "65000:1 65000:2"; NULL or "": none */
	bool has_med;
	uint32_t med;
	unsigned rise, fall;          /* >= 1 */
	uint64_t interval_ms, fast_interval_ms, drain_delay_ms;
	unsigned refresh_intervals;   /* re-announce period in intervals; 0: never */
};

enum healthd_result {
	HEALTHD_RESULT_NONE, /* no check ran: a timer or a signal woke the caller */
	HEALTHD_RESULT_OK,   /* every check passed */
	HEALTHD_RESULT_FAIL, /* at least one check failed */
};

struct healthd_input {
	enum healthd_result result;
	bool disabled;  /* the disable file exists now */
	bool terminate; /* SIGTERM/SIGINT received (once is enough; repeat it to hurry) */
};

struct healthd_actions {
	char text[HEALTHD_MAX_PREFIXES * 2 * HEALTHD_CMD_MAX]; /* commands, one per line */
	size_t len;
	unsigned ncmds;
	bool changed;                 /* the state changed during this step */
	enum healthd_state from, to;  /* the state before and after the step */
	bool done;                    /* EXIT finished: the process should exit 0 */
};

struct healthd;

/* Check params (prefix text, community syntax, counts) and allocate a machine in INIT
 * whose first check is due at `now`. Returns 0 and *out (healthd_destroy), AD_ECONFIG
 * with a reason in err, or -ENOMEM. params and its strings are copied. */
int healthd_create(const struct healthd_params *params, uint64_t now, struct healthd **out,
		   char *err, size_t errlen);
void healthd_destroy(struct healthd *h);

/* Advance the machine at time now (ms, monotonic) with one input. Fills *out with the
 * commands to write, in order (each ends with '\n'). Returns 0, or -EINVAL for NULL
 * arguments. A check result is applied whenever one is given (the caller decides when
 * to check, normally when healthd_check_due()), except in DISABLED and EXIT, and when
 * the same input says disabled or terminate, which take precedence. */
int healthd_step(struct healthd *h, const struct healthd_input *in, uint64_t now,
		 struct healthd_actions *out);

/* True when the caller should run the checks before its next step (not in DISABLED
 * or EXIT, and the check time has come). */
bool healthd_check_due(const struct healthd *h, uint64_t now);
/* When the caller must call healthd_step() next at the latest (ms, monotonic). */
uint64_t healthd_next_wake(const struct healthd *h);

enum healthd_state healthd_get_state(const struct healthd *h);
bool healthd_announced(const struct healthd *h);
/* Consecutive results counted towards rise (RISING) or fall (FALLING). */
unsigned healthd_count(const struct healthd *h);

/* Build params from a loaded config: prefix text into storage (nprefixes strings of
 * PREFIX_TEXT bytes, caller-owned, at least HEALTHD_MAX_PREFIXES of them) and the rest
 * copied. Prefixes with host bits set are refused. Returns 0 or AD_ECONFIG (err). */
#define HEALTHD_PREFIX_TEXT 64
int healthd_params_from_cfg(const struct healthd_cfg *cfg, struct healthd_params *p,
			    char (*storage)[HEALTHD_PREFIX_TEXT], const char **ptrs, char *err,
			    size_t errlen);

/* Write a prefix as "203.0.113.0/24" / "2001:db8:a1d::/48". Returns 0, AD_ECONFIG when
 * host bits are set or the family is not IP, AD_ENOSPACE. */
int healthd_prefix_format(const struct cfg_prefix *p, char *buf, size_t size);

#endif
