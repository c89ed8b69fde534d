/*
 * airdress-healthd: the health supervisor, an ExaBGP API process (`encoder text`).
 *
 * ExaBGP starts it and owns its stdin and stdout: commands ("announce route …",
 * "withdraw route …") go to stdout, one line each, flushed; ExaBGP answers each with
 * "done" or "error" on stdin (api.ack, on by default in 4.x) and also writes
 * notifications there ("neighbor 192.0.2.1 up", "shutdown PID PPID"). Replies are read
 * as they come, matched to the commands in order, and a refused command is logged:
 * an ExaBGP 4.2 whose replies nobody reads blocks once the pipe is full.
 *
 * One thread runs everything (the admin endpoint has its own): a poll(2) loop over
 * stdin and a signalfd, woken at the machine's next deadline (healthd.h), which runs
 * the checks in sequence (each bounded by its timeout) and writes what
 * healthd_step() returns. Exits 0 on EOF on stdin, on ExaBGP's "shutdown", or when the
 * drain started by SIGTERM/SIGINT is over (a second signal ends it at once).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "clock.h"
#include "error.h"
#include "health_check.h"
#include "healthd.h"
#include "log.h"
#include "metrics.h"
#include "sockaddr.h"

#define NAME "airdress-healthd"
#define DEFAULT_CONFIG "/etc/airdress/healthd.yaml"
#define PENDING_MAX 256          /* commands awaiting ExaBGP's reply */
#define ACK_TIMEOUT_MS 10000     /* then we assume api.ack is off */
#define STATUS_MAX 8192

enum {
	M_STATE,
	M_CHANGED,
	M_TRANSITIONS,
	M_ANNOUNCED,
	M_CHECKS,
	M_FAILED,
	M_LATENCY,
	M_COMMANDS,
	M_REFUSED,
	M_COUNT
};

static const char *const state_values[] = { "init", "rising", "falling", "up", "down",
					    "disabled", "exit", NULL };
static const char *const type_values[] = { "http", "tcp", "dns", NULL };
static const double latency_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					 0.1,   0.25,   0.5,   1,    2.5,   5 };

static const struct metrics_desc metric_descs[M_COUNT] = {
	[M_STATE] = METRICS_DESC("airdress_healthd_state", "1 for the current state.",
				 METRICS_GAUGE, .dims = { { "state", state_values } }),
	[M_CHANGED] = METRICS_DESC("airdress_healthd_state_change_timestamp_seconds",
				   "Unix time of the last state change.", METRICS_GAUGE),
	[M_TRANSITIONS] = METRICS_DESC("airdress_healthd_transitions_total",
				       "State changes.", METRICS_COUNTER),
	[M_ANNOUNCED] = METRICS_DESC("airdress_healthd_announced",
				     "1 while the prefixes are announced.", METRICS_GAUGE),
	[M_CHECKS] = METRICS_DESC("airdress_healthd_checks_total", "Checks run.",
				  METRICS_COUNTER, .dims = { { "type", type_values } }),
	[M_FAILED] = METRICS_DESC("airdress_healthd_checks_failed_total", "Checks failed.",
				  METRICS_COUNTER, .dims = { { "type", type_values } }),
	[M_LATENCY] = METRICS_DESC("airdress_healthd_check_duration_seconds",
				   "Time a check took.", METRICS_HISTOGRAM,
				   .dims = { { "type", type_values } }, .buckets = latency_bounds,
				   .n_buckets = sizeof(latency_bounds) / sizeof(latency_bounds[0])),
	[M_COMMANDS] = METRICS_DESC("airdress_healthd_exabgp_commands_total",
				    "Commands written to ExaBGP.", METRICS_COUNTER),
	[M_REFUSED] = METRICS_DESC("airdress_healthd_exabgp_errors_total",
				   "Commands ExaBGP answered with error.", METRICS_COUNTER),
};

struct hd {
	struct healthd_cfg cfg;
	bool cfg_loaded;
	struct healthd_params params;
	char prefix_text[HEALTHD_MAX_PREFIXES][HEALTHD_PREFIX_TEXT];
	const char *prefix_ptr[HEALTHD_MAX_PREFIXES];
	struct hc_check checks[HEALTHD_MAX_CHECKS];
	size_t nchecks;
	struct healthd *m;
	struct metrics *metrics;
	struct metrics_slots *slots;
	struct admin *admin;
	int sfd;
	bool ack;                 /* expect replies (stdout is not a terminal) */
	char in[8192];            /* stdin bytes not yet a full line */
	size_t inlen;
	char pending[PENDING_MAX][HEALTHD_CMD_MAX];
	uint64_t pending_since;   /* when the oldest pending command was written */
	unsigned phead, pcount;
	bool ack_warned;
	/* last results, for logs and the status */
	bool last_ok;
	bool have_result;
	char last_why[256];
	time_t since;             /* wall clock of the last state change */
	time_t last_check;
	pthread_mutex_t mu;       /* guards status (read by the admin thread) */
	char status[STATUS_MAX];
};


static void usage(FILE *out)
{
	fprintf(out,
		NAME ": Airdress health supervisor, an ExaBGP API process\n\n"
		"usage: " NAME " [-c FILE] [-t] [-V] [-h]\n"
		"  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t       check the configuration and exit (0 ok, 1 invalid)\n"
		"  -V       print the version and exit\n"
		"  -h       this help\n"
		"ExaBGP runs it: process healthd { run " NAME " -c FILE; encoder text; }\n"
		"signals: SIGTERM drains (65535:0, drain_delay, withdraw) and exits\n");
}

/* Load and check everything a start needs: the file, the prefixes, every check. */
static int load_config(struct hd *hd, const char *path, char *err, size_t errlen)
{
	int ret = cfg_load_file(&healthd_schema, &hd->cfg, path, err, errlen);
	if (ret != 0)
		return ret;
	hd->cfg_loaded = true;
	char why[CFG_ERRLEN];
	ret = healthd_params_from_cfg(&hd->cfg, &hd->params, hd->prefix_text, hd->prefix_ptr,
				      why, sizeof(why));
	if (ret != 0) {
		snprintf(err, errlen, "%.200s: %.250s", path, why);
		return ret;
	}
	hd->nchecks = hd->cfg.checks_count;
	for (size_t i = 0; i < hd->nchecks; i++) {
		ret = hc_init(&hd->checks[i], &hd->cfg.checks[i], why, sizeof(why));
		if (ret != 0) {
			snprintf(err, errlen, "%.200s: checks[%zu]: %.250s", path, i, why);
			return ret;
		}
	}
	struct healthd *probe = NULL;
	ret = healthd_create(&hd->params, 0, &probe, why, sizeof(why));
	healthd_destroy(probe);
	if (ret != 0)
		snprintf(err, errlen, "%.200s: %.250s", path, why);
	return ret;
}

/* ---- status: JSON for the admin /status route and the status file ---- */

static size_t json_str(char *buf, size_t size, const char *s)
{
	size_t o = 0;
	if (size < 3)
		return 0;
	buf[o++] = '"';
	for (; *s != '\0' && o + 8 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(buf + o, size - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return o;
}

static void status_update(struct hd *hd, bool running)
{
	char why[300], prefixes[HEALTHD_MAX_PREFIXES * (HEALTHD_PREFIX_TEXT + 3)];
	size_t o = 0;
	json_str(why, sizeof(why), hd->last_why);
	for (size_t i = 0; i < hd->params.nprefixes; i++)
		o += (size_t)snprintf(prefixes + o, sizeof(prefixes) - o, "%s\"%s\"", i ? "," : "",
				      hd->prefix_text[i]);
	prefixes[o] = '\0';
	pthread_mutex_lock(&hd->mu);
	snprintf(hd->status, sizeof(hd->status),
		 "{\"state\":\"%s\",\"since\":%lld,\"announced\":%s,\"count\":%u,"
		 "\"running\":%s,\"last_check\":{\"time\":%lld,\"ok\":%s,\"reason\":%s},"
		 "\"prefixes\":[%s],\"updated\":%lld}\n",
		 healthd_state_name(healthd_get_state(hd->m)), (long long)hd->since,
		 healthd_announced(hd->m) ? "true" : "false", healthd_count(hd->m),
		 running ? "true" : "false", (long long)hd->last_check,
		 hd->have_result ? (hd->last_ok ? "true" : "false") : "null", why, prefixes,
		 (long long)time(NULL));
	pthread_mutex_unlock(&hd->mu);
	if (hd->cfg.status_file == NULL)
		return;
	/* atomically: a temporary file next to it, then rename(2) */
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", hd->cfg.status_file) >= (int)sizeof(tmp))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("status file, open failed", "path=%s error=\"%s\"", tmp, strerror(errno));
		return;
	}
	pthread_mutex_lock(&hd->mu);
	size_t len = strlen(hd->status);
	bool ok = write(fd, hd->status, len) == (ssize_t)len;
	pthread_mutex_unlock(&hd->mu);
	if (close(fd) != 0 || !ok || rename(tmp, hd->cfg.status_file) != 0) {
		log_warn("status file, write failed", "path=%s error=\"%s\"", hd->cfg.status_file,
			 strerror(errno));
		unlink(tmp);
	}
}

static int route_status(const struct admin_request *req, struct admin_response *resp,
			void *ctx)
{
	struct hd *hd = ctx;
	admin_response_type(resp, "application/json");
	pthread_mutex_lock(&hd->mu);
	int ret = admin_response_append(resp, hd->status, strlen(hd->status));
	pthread_mutex_unlock(&hd->mu);
	return ret;
}

/* ---- ExaBGP ---- */

/* Write all of text to stdout. Returns 0 or -errno (EPIPE: ExaBGP is gone). */
static int write_all(const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, text, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_commands(struct hd *hd, const struct healthd_actions *a)
{
	if (a->len == 0)
		return 0;
	int ret = write_all(a->text, a->len);
	if (ret != 0) {
		log_error("exabgp, write failed", "error=\"%s\"", strerror(-ret));
		return ret;
	}
	metrics_add(hd->slots, M_COMMANDS, a->ncmds);
	for (const char *line = a->text; *line != '\0';) {
		size_t l = strcspn(line, "\n");
		log_debug("exabgp command", "command=\"%.*s\"", (int)l, line);
		if (hd->ack) {
			if (hd->pcount == PENDING_MAX) { /* no replies are coming: forget the oldest */
				hd->phead = (hd->phead + 1) % PENDING_MAX;
				hd->pcount--;
			}
			if (hd->pcount == 0)
				hd->pending_since = clock_ms();
			unsigned slot = (hd->phead + hd->pcount) % PENDING_MAX;
			snprintf(hd->pending[slot], HEALTHD_CMD_MAX, "%.*s", (int)l, line);
			hd->pcount++;
		}
		line += l + (line[l] == '\n');
	}
	return 0;
}

static void on_reply(struct hd *hd, bool done)
{
	if (hd->pcount == 0) {
		log_warn("exabgp, reply without a command", "reply=%s", done ? "done" : "error");
		return;
	}
	const char *cmd = hd->pending[hd->phead];
	if (!done) {
		metrics_inc(hd->slots, M_REFUSED);
		log_warn("exabgp refused a command", "command=\"%s\"", cmd);
	}
	hd->phead = (hd->phead + 1) % PENDING_MAX;
	hd->pcount--;
	hd->pending_since = clock_ms();
}

/* One line from ExaBGP. Returns 1 when ExaBGP shuts down, else 0. */
static int on_line(struct hd *hd, char *line)
{
	char q[512];
	if (strcmp(line, "done") == 0) {
		on_reply(hd, true);
	} else if (strcmp(line, "error") == 0) {
		on_reply(hd, false);
	} else if (strncmp(line, "shutdown", 8) == 0) {
		log_info("exabgp shuts down, exiting", "");
		return 1;
	} else if (strncmp(line, "neighbor ", 9) == 0) {
		log_info("exabgp neighbor", "event=%s", log_quote(q, sizeof(q), line + 9));
	} else if (line[0] != '\0') {
		log_debug("exabgp said", "line=%s", log_quote(q, sizeof(q), line));
	}
	return 0;
}

/* Read what stdin has. Returns 0, 1 on EOF or shutdown, -errno on a read error. */
static int read_stdin(struct hd *hd)
{
	ssize_t n = read(STDIN_FILENO, hd->in + hd->inlen, sizeof(hd->in) - 1 - hd->inlen);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		log_info("stdin closed, exiting", "");
		return 1;
	}
	hd->inlen += (size_t)n;
	hd->in[hd->inlen] = '\0';
	char *start = hd->in, *nl;
	while ((nl = memchr(start, '\n', hd->inlen - (size_t)(start - hd->in))) != NULL) {
		*nl = '\0';
		if (nl > start && nl[-1] == '\r')
			nl[-1] = '\0';
		if (on_line(hd, start))
			return 1;
		start = nl + 1;
	}
	hd->inlen -= (size_t)(start - hd->in);
	memmove(hd->in, start, hd->inlen);
	if (hd->inlen == sizeof(hd->in) - 1) /* an absurd line: drop it */
		hd->inlen = 0;
	return 0;
}

/* Before exiting: let ExaBGP answer the last commands (bounded), so that it has read
 * and applied them before our end of the pipes closes. */
static void await_replies(struct hd *hd)
{
	uint64_t deadline = clock_ms() + 2000;
	while (hd->pcount > 0) {
		uint64_t now = clock_ms();
		if (now >= deadline) {
			log_warn("exabgp, no reply to the last commands", "pending=%u", hd->pcount);
			return;
		}
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && read_stdin(hd) != 0)
			return;
	}
}

/* ---- checks ---- */

static enum healthd_result run_checks(struct hd *hd)
{
	bool ok = true;
	char why[256] = "ok";
	for (size_t i = 0; i < hd->nchecks; i++) {
		const struct hc_check *c = &hd->checks[i];
		char w[200];
		double secs = 0;
		int ret = hc_run(c, w, sizeof(w), &secs);
		metrics_inc_at(hd->slots, M_CHECKS, c->type);
		metrics_observe_at(hd->slots, M_LATENCY, c->type, secs);
		if (ret != 0) {
			metrics_inc_at(hd->slots, M_FAILED, c->type);
			log_debug("check failed", "check=\"%s\" reason=\"%s\" seconds=%.3f", c->label,
				  w, secs);
			if (ok)
				snprintf(why, sizeof(why), "%s: %s", c->label, w);
			ok = false;
		}
	}
	if (!hd->have_result || ok != hd->last_ok || strcmp(why, hd->last_why) != 0) {
		char q[300];
		if (ok)
			log_info("checks pass", "");
		else
			log_info("check failing", "reason=%s", log_quote(q, sizeof(q), why));
	}
	hd->have_result = true;
	hd->last_ok = ok;
	hd->last_check = time(NULL);
	snprintf(hd->last_why, sizeof(hd->last_why), "%s", why);
	return ok ? HEALTHD_RESULT_OK : HEALTHD_RESULT_FAIL;
}

static void publish_state(struct hd *hd, const struct healthd_actions *a)
{
	enum healthd_state s = healthd_get_state(hd->m);
	for (unsigned i = 0; i < HEALTHD_NSTATES; i++)
		metrics_gauge_set_at(hd->slots, M_STATE, i, i == (unsigned)s);
	metrics_gauge_set(hd->slots, M_ANNOUNCED, healthd_announced(hd->m));
	if (a != NULL && a->changed) {
		hd->since = time(NULL);
		metrics_gauge_set(hd->slots, M_CHANGED, (int64_t)hd->since);
		metrics_inc(hd->slots, M_TRANSITIONS);
		char q[300];
		const char *why = hd->have_result ? hd->last_why : "none";
		if (a->to == HEALTHD_DISABLED)
			why = "disable file present";
		else if (a->from == HEALTHD_DISABLED)
			why = "disable file removed";
		else if (a->to == HEALTHD_EXIT)
			why = "signal";
		log_info("state changed", "from=%s to=%s announced=%s commands=%u reason=%s",
			 healthd_state_name(a->from), healthd_state_name(a->to),
			 healthd_announced(hd->m) ? "yes" : "no", a->ncmds,
			 log_quote(q, sizeof(q), why));
		admin_set_state(hd->admin, s == HEALTHD_EXIT ? ADMIN_DRAINING : ADMIN_SERVING);
	}
}

/* ---- main ---- */

static int run(struct hd *hd)
{
	struct healthd_actions *act = calloc(1, sizeof(*act));
	char err[CFG_ERRLEN];
	int status = 1, ret;
	if (act == NULL)
		goto finish;
	uint64_t now = clock_ms();
	if (healthd_create(&hd->params, now, &hd->m, err, sizeof(err)) != 0) {
		log_error("configuration invalid", "error=\"%s\"", err);
		goto finish;
	}
	hd->since = time(NULL);
	if (metrics_create(metric_descs, M_COUNT, 0, &hd->metrics) != 0)
		goto finish;
	hd->slots = metrics_control_slots(hd->metrics);
	metrics_gauge_set(hd->slots, M_CHANGED, (int64_t)hd->since);
	char listen[SOCKADDR_STRLEN];
	sockaddr_format((const struct sockaddr *)&hd->cfg.admin.listen.addr,
			hd->cfg.admin.listen.len, listen, sizeof(listen));
	struct admin_config ac = { .listen = listen, .workers = 0, .metrics = hd->metrics };
	if (admin_create(&ac, &hd->admin) != 0 ||
	    admin_route_add(hd->admin, "GET", "/status", ADMIN_ROUTE_EXACT, route_status, hd) != 0)
		goto finish;
	status_update(hd, true);
	publish_state(hd, NULL);
	if ((ret = admin_start(hd->admin)) != 0)
		goto finish; /* logged */
	admin_set_state(hd->admin, ADMIN_SERVING);
	admin_set_ready(hd->admin, true);
	hd->ack = !isatty(STDOUT_FILENO);
	log_info("started", "daemon=%s version=%s checks=%zu prefixes=%zu admin_port=%u", NAME,
		 AIRDRESS_VERSION, hd->nchecks, hd->params.nprefixes, admin_port(hd->admin));

	bool terminate = false, stdin_open = true;
	for (;;) {
		now = clock_ms();
		uint64_t wake = healthd_next_wake(hd->m);
		int timeout = terminate || wake <= now ? 0 : (int)(wake - now > 1000 ? 1000 : wake - now);
		struct pollfd fds[2] = {
			{ .fd = hd->sfd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		int n = poll(fds, 2, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll failed", "error=\"%s\"", strerror(errno));
			goto finish;
		}
		if (n > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(hd->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_warn("SIGHUP: no reload in healthd, restart it to apply a change",
						 "");
				} else {
					log_info("draining", "signal=%s",
						 si.ssi_signo == SIGTERM ? "TERM" : "INT");
					terminate = true;
				}
			}
		}
		if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ret = read_stdin(hd);
			if (ret != 0) {
				status = ret == 1 ? 0 : 1;
				goto finish;
			}
		}
		now = clock_ms();
		if (!terminate && now < healthd_next_wake(hd->m))
			goto acks;
		struct healthd_input in = { .terminate = terminate };
		in.disabled = hd->cfg.disable_file != NULL && access(hd->cfg.disable_file, F_OK) == 0;
		bool checked = false;
		if (!terminate && !in.disabled && healthd_check_due(hd->m, now)) {
			in.result = run_checks(hd);
			checked = true;
			now = clock_ms();
		}
		terminate = false;
		healthd_step(hd->m, &in, now, act);
		if (send_commands(hd, act) != 0)
			goto finish;
		publish_state(hd, act);
		if (checked || act->changed || act->ncmds > 0)
			status_update(hd, true);
		if (!act->changed && act->ncmds > 0) {
			if (act->to == HEALTHD_UP)
				log_debug("announcements refreshed", "commands=%u", act->ncmds);
			else
				log_info("drain over, prefixes withdrawn", "commands=%u",
					 act->ncmds);
		}
		if (act->done) {
			log_info("drained, exiting", "");
			await_replies(hd);
			status = 0;
			goto finish;
		}
acks:
		if (hd->pcount > 0 && clock_ms() - hd->pending_since > ACK_TIMEOUT_MS) {
			if (!hd->ack_warned)
				log_warn("exabgp, no reply to our commands (is exabgp.api.ack off?)",
					 "pending=%u", hd->pcount);
			hd->ack_warned = true;
			hd->pcount = 0;
		}
	}
finish:
	if (hd->m != NULL)
		status_update(hd, false);
	if (status == 0)
		log_info("stopped", "daemon=%s", NAME);
	admin_destroy(hd->admin);
	hd->admin = NULL;
	metrics_destroy(hd->metrics);
	hd->metrics = NULL;
	healthd_destroy(hd->m);
	hd->m = NULL;
	free(act);
	return status;
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool check = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("%s %s\n", NAME, AIRDRESS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	static struct hd hd; /* large (pending commands, status): not on the stack */
	char err[CFG_ERRLEN];
	int status = 1;
	hd.sfd = -1;
	pthread_mutex_init(&hd.mu, NULL);
	int ret = load_config(&hd, path, err, sizeof(err));
	if (check) {
		if (ret == 0)
			printf("%s: configuration ok\n", path);
		else
			printf("%s\n", err);
		status = ret == 0 ? 0 : 1;
		goto finish;
	}
	if (ret != 0) {
		char q[CFG_ERRLEN + 16];
		log_error("configuration invalid", "error=%s", log_quote(q, sizeof(q), err));
		goto finish;
	}
	/* Blocked before the admin thread starts, so that it inherits the mask. */
	sigset_t sigs;
	daemon_block_signals(&sigs);
	hd.sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (hd.sfd < 0) {
		log_error("signalfd failed", "error=\"%s\"", strerror(errno));
		goto finish;
	}
	status = run(&hd);
finish:
	if (hd.sfd >= 0)
		close(hd.sfd);
	if (hd.cfg_loaded)
		cfg_free(&healthd_schema, &hd.cfg);
	pthread_mutex_destroy(&hd.mu);
	return status;
}
