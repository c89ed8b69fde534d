/* Unit tests: the healthd state machine and its ExaBGP commands (healthd.c), its config
 * schema, and the health checks (health_check.c) against servers on loopback. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "health_check.h"
#include "healthd.h"

/* ---- helpers ---- */

static const char *const v4[] = { "203.0.113.0/24" };
static const char *const dual[] = { "203.0.113.0/24", "2001:db8:a1d::/48" };

static struct healthd_params base_params(void)
{
	struct healthd_params p = {
		.prefixes = v4, .nprefixes = 1, .rise = 2, .fall = 2,
		.interval_ms = 2000, .fast_interval_ms = 250, .drain_delay_ms = 30000,
		.refresh_intervals = 10,
	};
	return p;
}

static struct healthd *make(const struct healthd_params *p)
{
	struct healthd *h = NULL;
	char err[256] = "";
	int ret = healthd_create(p, 0, &h, err, sizeof(err));
	cr_assert_eq(ret, 0, "create: %d %s", ret, err);
	return h;
}

static struct healthd_actions act;

/* One step; returns the commands written. */
static const char *step(struct healthd *h, uint64_t now, enum healthd_result r, bool disabled,
			bool term)
{
	struct healthd_input in = { .result = r, .disabled = disabled, .terminate = term };
	cr_assert_eq(healthd_step(h, &in, now, &act), 0);
	return act.text;
}

static const char *ok(struct healthd *h, uint64_t now)
{
	return step(h, now, HEALTHD_RESULT_OK, false, false);
}

static const char *fail(struct healthd *h, uint64_t now)
{
	return step(h, now, HEALTHD_RESULT_FAIL, false, false);
}

#define ANN4 "announce route 203.0.113.0/24 next-hop self\n"
#define WD4 "withdraw route 203.0.113.0/24 next-hop self\n"

/* ---- state machine ---- */

TestSuite(healthd);

Test(healthd, starts_in_init_with_a_check_due)
{
	struct healthd_params p = base_params();
	struct healthd *h = make(&p);
	cr_assert_eq(healthd_get_state(h), HEALTHD_INIT);
	cr_assert(healthd_check_due(h, 0));
	cr_assert_eq(healthd_next_wake(h), 0);
	cr_assert_not(healthd_announced(h));
	healthd_destroy(h);
	healthd_destroy(NULL);
}

Test(healthd, rise_then_fall_with_exact_commands)
{
	struct healthd_params p = base_params();
	p.rise = 3;
	p.fall = 2;
	struct healthd *h = make(&p);
	cr_assert_str_eq(ok(h, 0), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_RISING);
	cr_assert(act.changed);
	cr_assert_eq(healthd_count(h), 1);
	cr_assert_eq(healthd_next_wake(h), 250, "rising checks every fast_interval");
	cr_assert_str_eq(ok(h, 250), "");
	cr_assert_eq(healthd_count(h), 2);
	cr_assert_not(act.changed);
	cr_assert_str_eq(ok(h, 500), ANN4);
	cr_assert_eq(act.ncmds, 1);
	cr_assert_eq(act.from, HEALTHD_RISING);
	cr_assert_eq(act.to, HEALTHD_UP);
	cr_assert(healthd_announced(h));
	cr_assert_eq(healthd_next_wake(h), 2500, "up checks every interval");
	cr_assert_not(healthd_check_due(h, 2499));
	cr_assert(healthd_check_due(h, 2500));

	cr_assert_str_eq(ok(h, 2500), "");
	cr_assert_str_eq(fail(h, 4500), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_FALLING);
	cr_assert(healthd_announced(h), "still announced while falling");
	cr_assert_eq(healthd_next_wake(h), 4750);
	cr_assert_str_eq(fail(h, 4750), WD4);
	cr_assert_eq(healthd_get_state(h), HEALTHD_DOWN);
	cr_assert_not(healthd_announced(h));
	cr_assert_eq(healthd_next_wake(h), 6750);
	cr_assert_str_eq(fail(h, 6750), "", "down stays down, nothing sent");
	healthd_destroy(h);
}

Test(healthd, init_failing_goes_down_after_fall)
{
	struct healthd_params p = base_params();
	p.fall = 3;
	struct healthd *h = make(&p);
	cr_assert_str_eq(fail(h, 0), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_FALLING);
	cr_assert_str_eq(fail(h, 250), "");
	cr_assert_str_eq(fail(h, 500), WD4, "withdraw even if never announced: a previous "
					    "instance may have");
	cr_assert_eq(healthd_get_state(h), HEALTHD_DOWN);
	healthd_destroy(h);
}

Test(healthd, flapping_restarts_the_count)
{
	struct healthd_params p = base_params();
	p.rise = 3;
	p.fall = 3;
	struct healthd *h = make(&p);
	ok(h, 0);
	ok(h, 250);
	cr_assert_eq(healthd_count(h), 2);
	cr_assert_str_eq(fail(h, 500), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_FALLING);
	cr_assert_eq(healthd_count(h), 1);
	cr_assert_str_eq(ok(h, 750), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_RISING);
	cr_assert_eq(healthd_count(h), 1);
	ok(h, 1000);
	cr_assert_str_eq(ok(h, 1250), ANN4);
	cr_assert_eq(healthd_get_state(h), HEALTHD_UP);
	/* up: one failure then success goes back through RISING and re-announces */
	fail(h, 3250);
	cr_assert_eq(healthd_get_state(h), HEALTHD_FALLING);
	ok(h, 3500);
	cr_assert_eq(healthd_get_state(h), HEALTHD_RISING);
	ok(h, 3750);
	cr_assert_str_eq(ok(h, 4000), ANN4);
	healthd_destroy(h);
}

Test(healthd, rise_and_fall_of_one_skip_rising_and_falling)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.fall = 1;
	struct healthd *h = make(&p);
	cr_assert_str_eq(ok(h, 0), ANN4);
	cr_assert_eq(healthd_get_state(h), HEALTHD_UP);
	cr_assert_str_eq(fail(h, 2000), WD4);
	cr_assert_eq(healthd_get_state(h), HEALTHD_DOWN);
	cr_assert_str_eq(ok(h, 4000), ANN4);
	cr_assert_eq(healthd_get_state(h), HEALTHD_UP);
	healthd_destroy(h);
}

Test(healthd, timer_steps_without_result_change_nothing)
{
	struct healthd_params p = base_params();
	struct healthd *h = make(&p);
	cr_assert_str_eq(step(h, 100, HEALTHD_RESULT_NONE, false, false), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_INIT);
	cr_assert_not(act.changed);
	healthd_destroy(h);
}

Test(healthd, periodic_reannounce_every_ten_intervals)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	struct healthd *h = make(&p);
	cr_assert_str_eq(ok(h, 0), ANN4);
	unsigned sent = 0;
	for (uint64_t t = 2000; t <= 40000; t += 2000)
		if (strcmp(ok(h, t), ANN4) == 0)
			sent++;
		else
			cr_assert_str_eq(act.text, "", "at %llu", (unsigned long long)t);
	cr_assert_eq(sent, 2, "re-announced at 20 s and 40 s, got %u", sent);
	cr_assert_not(act.changed, "a refresh is no state change");
	/* refresh off */
	p.refresh_intervals = 0;
	struct healthd *h2 = make(&p);
	ok(h2, 0);
	for (uint64_t t = 2000; t <= 60000; t += 2000)
		cr_assert_str_eq(ok(h2, t), "");
	healthd_destroy(h);
	healthd_destroy(h2);
}

Test(healthd, community_and_med_formatting)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.community = "65000:1";
	struct healthd *h = make(&p);
	cr_assert_str_eq(ok(h, 0), "announce route 203.0.113.0/24 next-hop self community [65000:1]\n");
	healthd_destroy(h);

	p.community = NULL;
	p.has_med = true;
	p.med = 100;
	h = make(&p);
	cr_assert_str_eq(ok(h, 0), "announce route 203.0.113.0/24 next-hop self med 100\n");
	healthd_destroy(h);

	p.community = "  65000:1\t65000:2 ";
	p.med = 0;
	h = make(&p);
	cr_assert_str_eq(ok(h, 0), "announce route 203.0.113.0/24 next-hop self "
				   "community [65000:1 65000:2] med 0\n");
	healthd_destroy(h);
}

Test(healthd, ipv6_prefixes_get_the_same_commands)
{
	struct healthd_params p = base_params();
	p.prefixes = dual;
	p.nprefixes = 2;
	p.rise = 1;
	p.fall = 1;
	p.community = "65000:1";
	struct healthd *h = make(&p);
	cr_assert_str_eq(ok(h, 0),
			 "announce route 203.0.113.0/24 next-hop self community [65000:1]\n"
			 "announce route 2001:db8:a1d::/48 next-hop self community [65000:1]\n");
	cr_assert_eq(act.ncmds, 2);
	cr_assert_str_eq(fail(h, 2000), "withdraw route 203.0.113.0/24 next-hop self\n"
					"withdraw route 2001:db8:a1d::/48 next-hop self\n");
	healthd_destroy(h);
}

Test(healthd, disable_file_drains_then_withdraws_then_resumes)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.community = "65000:1";
	p.has_med = true;
	p.med = 5;
	struct healthd *h = make(&p);
	ok(h, 0);
	cr_assert_str_eq(step(h, 1000, HEALTHD_RESULT_NONE, true, false),
			 "announce route 203.0.113.0/24 next-hop self community [65000:1 65535:0] "
			 "med 5\n");
	cr_assert_eq(healthd_get_state(h), HEALTHD_DISABLED);
	cr_assert(act.changed);
	cr_assert_not(healthd_check_due(h, 1000), "no checks while disabled");
	cr_assert_eq(healthd_next_wake(h), 3000, "the file is polled every interval");
	cr_assert_str_eq(step(h, 3000, HEALTHD_RESULT_NONE, true, false), "");
	cr_assert_str_eq(step(h, 30999, HEALTHD_RESULT_NONE, true, false), "");
	cr_assert_eq(healthd_next_wake(h), 31000, "the drain deadline comes first");
	cr_assert_str_eq(step(h, 31000, HEALTHD_RESULT_NONE, true, false), WD4);
	cr_assert_not(healthd_announced(h));
	cr_assert_eq(healthd_get_state(h), HEALTHD_DISABLED);
	cr_assert_str_eq(step(h, 33000, HEALTHD_RESULT_NONE, true, false), "");
	/* file removed: INIT, a check due at once, and up again after rise */
	cr_assert_str_eq(step(h, 35000, HEALTHD_RESULT_NONE, false, false), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_INIT);
	cr_assert(healthd_check_due(h, 35000));
	cr_assert_str_eq(ok(h, 35000),
			 "announce route 203.0.113.0/24 next-hop self community [65000:1] med 5\n");
	cr_assert_eq(healthd_get_state(h), HEALTHD_UP);
	healthd_destroy(h);
}

Test(healthd, disable_without_community_and_while_down)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.fall = 1;
	struct healthd *h = make(&p);
	ok(h, 0);
	cr_assert_str_eq(step(h, 10, HEALTHD_RESULT_NONE, true, false),
			 "announce route 203.0.113.0/24 next-hop self community [65535:0]\n");
	healthd_destroy(h);

	h = make(&p);
	fail(h, 0);
	cr_assert_eq(healthd_get_state(h), HEALTHD_DOWN);
	cr_assert_str_eq(step(h, 10, HEALTHD_RESULT_NONE, true, false), WD4,
			 "nothing announced: no 65535:0, just withdraw");
	cr_assert_eq(healthd_get_state(h), HEALTHD_DISABLED);
	healthd_destroy(h);
}

Test(healthd, disable_file_removed_during_drain)
{
	struct healthd_params p = base_params();
	p.rise = 2;
	struct healthd *h = make(&p);
	ok(h, 0);
	ok(h, 250);
	step(h, 1000, HEALTHD_RESULT_NONE, true, false);
	cr_assert_str_eq(step(h, 3000, HEALTHD_RESULT_NONE, false, false), "");
	cr_assert_eq(healthd_get_state(h), HEALTHD_INIT);
	cr_assert(healthd_announced(h), "still announced (65535:0) until decided");
	cr_assert_str_eq(step(h, 31000, HEALTHD_RESULT_OK, false, false), "",
			 "the abandoned drain never withdraws");
	cr_assert_str_eq(ok(h, 31250), ANN4, "up again: plain announcement replaces 65535:0");
	healthd_destroy(h);
}

Test(healthd, sigterm_drains_then_exits)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.drain_delay_ms = 5000;
	struct healthd *h = make(&p);
	ok(h, 0);
	cr_assert_str_eq(step(h, 100, HEALTHD_RESULT_NONE, false, true),
			 "announce route 203.0.113.0/24 next-hop self community [65535:0]\n");
	cr_assert_eq(healthd_get_state(h), HEALTHD_EXIT);
	cr_assert_not(act.done);
	cr_assert_not(healthd_check_due(h, 2100));
	cr_assert_eq(healthd_next_wake(h), 5100);
	cr_assert_str_eq(step(h, 5099, HEALTHD_RESULT_NONE, false, false), "");
	cr_assert_not(act.done);
	cr_assert_str_eq(step(h, 5100, HEALTHD_RESULT_NONE, false, false), WD4);
	cr_assert(act.done);
	cr_assert_str_eq(step(h, 6000, HEALTHD_RESULT_NONE, false, true), "", "done is final");
	cr_assert(act.done);
	healthd_destroy(h);
}

Test(healthd, sigterm_during_disable_drain_and_twice)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	struct healthd *h = make(&p);
	ok(h, 0);
	step(h, 100, HEALTHD_RESULT_NONE, true, false);
	cr_assert_eq(healthd_get_state(h), HEALTHD_DISABLED);
	/* SIGTERM restarts the drain announcement (harmless) and owns the exit */
	step(h, 200, HEALTHD_RESULT_NONE, true, true);
	cr_assert_eq(healthd_get_state(h), HEALTHD_EXIT);
	cr_assert_not(act.done);
	cr_assert_str_eq(step(h, 300, HEALTHD_RESULT_NONE, true, true), WD4,
			 "a second signal withdraws at once");
	cr_assert(act.done);
	healthd_destroy(h);
}

Test(healthd, sigterm_while_down_exits_at_once)
{
	struct healthd_params p = base_params();
	p.fall = 1;
	struct healthd *h = make(&p);
	fail(h, 0);
	cr_assert_str_eq(step(h, 10, HEALTHD_RESULT_NONE, false, true), WD4);
	cr_assert(act.done);
	healthd_destroy(h);
}

Test(healthd, zero_drain_delay_withdraws_in_the_same_step)
{
	struct healthd_params p = base_params();
	p.rise = 1;
	p.drain_delay_ms = 0;
	struct healthd *h = make(&p);
	ok(h, 0);
	cr_assert_str_eq(step(h, 10, HEALTHD_RESULT_NONE, false, true),
			 "announce route 203.0.113.0/24 next-hop self community [65535:0]\n" WD4);
	cr_assert(act.done);
	healthd_destroy(h);
}

Test(healthd, create_rejects_bad_params)
{
	struct healthd *h = NULL;
	char err[256];
	struct healthd_params p = base_params();
	p.community = "65000";
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "community") != NULL, "%s", err);
	p.community = "65536:1";
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG);
	p.community = "1:2 x";
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG);
	p = base_params();
	p.nprefixes = 0;
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG);
	static const char *const bad[] = { "203.0.113.0/24 med 1" };
	p = base_params();
	p.prefixes = bad;
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG,
		     "no command injection through a prefix");
	p = base_params();
	p.rise = 0;
	cr_assert_eq(healthd_create(&p, 0, &h, err, sizeof(err)), AD_ECONFIG);
	cr_assert_null(h);
	cr_assert_eq(healthd_create(NULL, 0, &h, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(healthd_state_name(HEALTHD_DISABLED), "disabled");
	cr_assert_str_eq(healthd_state_name(HEALTHD_NSTATES), "?");
}

/* ---- configuration ---- */

TestSuite(healthd_config);

static const char full_yaml[] =
	"checks:\n"
	"  - { type: http, url: \"http://127.0.0.1:9180/healthz\", timeout: 500ms }\n"
	"  - { type: tcp,  address: \"127.0.0.1:443\", timeout: 500ms }\n"
	"  - { type: dns,  server: \"127.0.0.1:53\", query: \"a.airdr.es SOA\", timeout: 500ms }\n"
	"interval: 2s\n"
	"fast_interval: 250ms\n"
	"rise: 2\n"
	"fall: 2\n"
	"prefixes: [\"203.0.113.0/24\", \"2001:db8:a1d::/48\"]\n"
	"community: \"65000:1\"\n"
	"med: 50\n"
	"disable_file: /run/airdress/healthd.disable\n"
	"drain_delay: 30s\n"
	"status_file: healthd.status\n";

Test(healthd_config, defaults_are_valid)
{
	struct healthd_cfg cfg;
	char err[CFG_ERRLEN];
	cr_assert_eq(cfg_set_defaults(&healthd_schema, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.interval, 2000);
	cr_assert_eq(cfg.fast_interval, 250);
	cr_assert_eq(cfg.rise, 2);
	cr_assert_eq(cfg.fall, 2);
	cr_assert_eq(cfg.drain_delay, 30000);
	cr_assert_str_eq(cfg.disable_file, "/run/airdress/healthd.disable");
	cr_assert_eq(ntohs(((struct sockaddr_in *)&cfg.admin.listen.addr)->sin_port), 9181);
	cr_assert_null(cfg.status_file);
	cr_assert_not(cfg.med_present);
	cfg_free(&healthd_schema, &cfg);
}

Test(healthd_config, architecture_example_loads)
{
	struct healthd_cfg cfg;
	char err[CFG_ERRLEN];
	int ret = cfg_load_buffer(&healthd_schema, &cfg, "h.yaml", full_yaml, strlen(full_yaml),
				  "/etc/airdress", err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(cfg.checks_count, 3);
	cr_assert_eq(cfg.checks[0].type, HEALTHD_CHECK_HTTP);
	cr_assert_eq(cfg.checks[2].type, HEALTHD_CHECK_DNS);
	cr_assert_eq(cfg.checks[1].timeout, 500);
	cr_assert(cfg.med_present);
	cr_assert_eq(cfg.med, 50);
	cr_assert_str_eq(cfg.status_file, "/etc/airdress/healthd.status");

	struct healthd_params p;
	char text[HEALTHD_MAX_PREFIXES][HEALTHD_PREFIX_TEXT];
	const char *ptr[HEALTHD_MAX_PREFIXES];
	cr_assert_eq(healthd_params_from_cfg(&cfg, &p, text, ptr, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(p.nprefixes, 2);
	cr_assert_str_eq(p.prefixes[1], "2001:db8:a1d::/48");
	cr_assert_eq(p.refresh_intervals, 10);
	for (size_t i = 0; i < cfg.checks_count; i++) {
		struct hc_check c;
		cr_assert_eq(hc_init(&c, &cfg.checks[i], err, sizeof(err)), 0, "%s", err);
	}
	cfg_free(&healthd_schema, &cfg);
}

static int load(const char *yaml, struct healthd_cfg *cfg, char *err)
{
	return cfg_load_buffer(&healthd_schema, cfg, "h.yaml", yaml, strlen(yaml), NULL, err,
			       CFG_ERRLEN);
}

Test(healthd_config, errors)
{
	struct healthd_cfg cfg;
	char err[CFG_ERRLEN];
	cr_assert_eq(load("prefixes: [\"192.0.2.0/24\"]\n", &cfg, err), AD_ECONFIG, "checks required");
	cr_assert_eq(load("checks: [{type: tcp, address: \"127.0.0.1:1\"}]\n", &cfg, err),
		     AD_ECONFIG, "prefixes required");
	cr_assert_eq(load("checks: [{type: icmp}]\nprefixes: [\"192.0.2.0/24\"]\n", &cfg, err),
		     AD_ECONFIG);
	cr_assert(strstr(err, "h.yaml:1:") != NULL, "%s", err);
	cr_assert_eq(load("checks: [{type: tcp, address: \"127.0.0.1:1\"}]\n"
			  "prefixes: [\"192.0.2.0/24\"]\nrise: 0\n", &cfg, err), AD_ECONFIG);
	cr_assert_eq(load("checks: [{type: tcp, address: \"127.0.0.1:1\"}]\n"
			  "prefixes: [\"192.0.2.0/24\"]\nbogus: 1\n", &cfg, err), AD_ECONFIG);

	/* loads, but healthd refuses host bits and a check without its key */
	cr_assert_eq(load("checks: [{type: http}]\nprefixes: [\"192.0.2.1/24\"]\n", &cfg, err), 0,
		     "%s", err);
	struct healthd_params p;
	char text[HEALTHD_MAX_PREFIXES][HEALTHD_PREFIX_TEXT];
	const char *ptr[HEALTHD_MAX_PREFIXES];
	cr_assert_eq(healthd_params_from_cfg(&cfg, &p, text, ptr, err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "host bits") != NULL, "%s", err);
	struct hc_check c;
	cr_assert_eq(hc_init(&c, &cfg.checks[0], err, sizeof(err)), AD_ECONFIG);
	cr_assert(strstr(err, "url") != NULL, "%s", err);
	cfg_free(&healthd_schema, &cfg);
}

Test(healthd_config, prefix_format)
{
	struct cfg_prefix p = { .prefixlen = 48 };
	char buf[HEALTHD_PREFIX_TEXT];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p.addr.addr;
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:a1d::", &s6->sin6_addr);
	cr_assert_eq(healthd_prefix_format(&p, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "2001:db8:a1d::/48");
	p.prefixlen = 32;
	cr_assert_eq(healthd_prefix_format(&p, buf, sizeof(buf)), AD_ECONFIG);
	p.prefixlen = 129;
	cr_assert_eq(healthd_prefix_format(&p, buf, sizeof(buf)), AD_ECONFIG);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&p.addr.addr;
	memset(&p, 0, sizeof(p));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "0.0.0.0", &s4->sin_addr);
	cr_assert_eq(healthd_prefix_format(&p, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "0.0.0.0/0");
}

/* ---- checks: parsing ---- */

TestSuite(health_check);

Test(health_check, url_parsing)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[HC_HOST_MAX], path[HC_PATH_MAX];
	cr_assert_eq(hc_parse_url("http://127.0.0.1:9180/healthz", &ss, &len, host, sizeof(host),
				  path, sizeof(path)), 0);
	cr_assert_str_eq(host, "127.0.0.1:9180");
	cr_assert_str_eq(path, "/healthz");
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9180);
	cr_assert_eq(hc_parse_url("http://127.0.0.1", &ss, &len, host, sizeof(host), path,
				  sizeof(path)), 0);
	cr_assert_str_eq(path, "/");
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
	cr_assert_eq(hc_parse_url("HTTP://[::1]:8080/a?b=c#frag", &ss, &len, host, sizeof(host),
				  path, sizeof(path)), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_str_eq(path, "/a?b=c");
	cr_assert_eq(hc_parse_url("http://[::1]/x", &ss, &len, host, sizeof(host), path,
				  sizeof(path)), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
	cr_assert_eq(hc_parse_url("http://127.0.0.1?q", &ss, &len, host, sizeof(host), path,
				  sizeof(path)), 0);
	cr_assert_str_eq(path, "/?q");
	static const char *const bad[] = {
		"https://127.0.0.1/", "http://localhost/", "http://", "http://::1/",
		"http://u@127.0.0.1/", "http://127.0.0.1:0/", "http://127.0.0.1:99999/",
		"http://127.0.0.1/a b", "ftp://127.0.0.1/", NULL,
	};
	for (const char *const *u = bad; *u != NULL; u++)
		cr_assert_eq(hc_parse_url(*u, &ss, &len, host, sizeof(host), path, sizeof(path)),
			     AD_EPARSE, "%s", *u);
}

Test(health_check, dns_query_bytes)
{
	uint8_t buf[HC_DNS_MAX];
	size_t len = 0;
	cr_assert_eq(hc_dns_build("a.airdr.es SOA", 0x1234, buf, sizeof(buf), &len), 0);
	static const uint8_t want[] = {
		0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		1, 'a', 5, 'a', 'i', 'r', 'd', 'r', 2, 'e', 's', 0,
		0x00, 0x06, 0x00, 0x01,
	};
	cr_assert_eq(len, sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));
	cr_assert_eq(hc_dns_build("a.airdr.es. aaaa", 1, buf, sizeof(buf), &len), 0);
	cr_assert_eq(len, sizeof(want));
	cr_assert_eq(buf[len - 3], 28);
	cr_assert_eq(hc_dns_build(". NS", 1, buf, sizeof(buf), &len), 0);
	cr_assert_eq(len, 12 + 1 + 4);
	cr_assert_eq(hc_dns_build("x TYPE65", 1, buf, sizeof(buf), &len), 0);
	cr_assert_eq(buf[len - 3], 65);
	static const char *const bad[] = { "a.airdr.es", "a.airdr.es BOGUS", "a..b SOA",
					   "a.airdr.es SOA extra", "x TYPE0", "x TYPE70000",
					   "", NULL };
	for (const char *const *q = bad; *q != NULL; q++)
		cr_assert_eq(hc_dns_build(*q, 1, buf, sizeof(buf), &len), AD_EPARSE, "%s", *q);
	char longlabel[80];
	memset(longlabel, 'x', 64);
	strcpy(longlabel + 64, " A");
	cr_assert_eq(hc_dns_build(longlabel, 1, buf, sizeof(buf), &len), AD_EPARSE);
}

Test(health_check, dns_judge)
{
	uint8_t q[HC_DNS_MAX], a[HC_DNS_MAX];
	size_t qlen;
	char why[64];
	cr_assert_eq(hc_dns_build("a.airdr.es SOA", 0xbeef, q, sizeof(q), &qlen), 0);
	memcpy(a, q, qlen);
	a[2] = 0x84; /* QR, AA */
	a[3] = 0x00;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), 0);
	a[13] = 'A'; /* case changed by the server */
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), 0);
	a[3] = 0x05;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_EPARSE);
	cr_assert_str_eq(why, "rcode 5");
	a[3] = 0;
	a[2] = 0x80;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_EPARSE);
	cr_assert_str_eq(why, "no AA bit");
	a[2] = 0x84;
	a[1] ^= 1;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_ENOTFOUND, "other id");
	a[1] ^= 1;
	a[2] = 0x04;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_ENOTFOUND, "a query");
	a[2] = 0x84;
	a[qlen - 3] = 1;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_ENOTFOUND, "other type");
	a[qlen - 3] = 6;
	a[12] = 2;
	cr_assert_eq(hc_dns_judge(q, qlen, a, qlen, why, sizeof(why)), AD_ENOTFOUND,
		     "other name");
	cr_assert_eq(hc_dns_judge(q, qlen, a, 11, why, sizeof(why)), AD_ENOTFOUND, "short");
}

/* ---- checks: against servers on loopback ---- */

struct server {
	int fd;
	int type;
	const char *reply; /* tcp: bytes written after reading the request; NULL: silent */
	uint8_t dns_flags; /* dns: byte 2 of the answer */
	uint8_t dns_rcode;
	pthread_t thread;
	struct sockaddr_in addr;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	if (s->type == SOCK_STREAM) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		char buf[2048];
		ssize_t n = recv(c, buf, sizeof(buf), 0); /* the request, in one read on loopback */
		if (n > 0 && s->reply != NULL)
			(void)!write(c, s->reply, strlen(s->reply));
		else
			usleep(700 * 1000);
		close(c);
	} else {
		uint8_t buf[512];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n >= 12) {
			/* first a stray answer with another id, then the real one */
			buf[2] = s->dns_flags;
			buf[3] = s->dns_rcode;
			buf[0] ^= 0xff;
			sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
			buf[0] ^= 0xff;
			sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
	}
	return NULL;
}

static void server_start(struct server *s, int type)
{
	s->type = type;
	s->fd = socket(AF_INET, type, 0);
	cr_assert_geq(s->fd, 0);
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)), 0);
	socklen_t l = sizeof(s->addr);
	getsockname(s->fd, (struct sockaddr *)&s->addr, &l);
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(s->fd, 8), 0);
	cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static struct hc_check make_check(enum healthd_check_type type, const struct server *s,
				  uint64_t timeout)
{
	struct hc_check c;
	char err[256];
	char url[64];
	struct healthd_check_cfg cfg = { .type = type, .timeout = timeout,
					 .query = (char *)"a.airdr.es SOA" };
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", ntohs(s->addr.sin_port));
	cfg.url = url;
	cfg.address_present = cfg.server_present = true;
	memcpy(&cfg.address.addr, &s->addr, sizeof(s->addr));
	cfg.address.len = sizeof(s->addr);
	cfg.server = cfg.address;
	cr_assert_eq(hc_init(&c, &cfg, err, sizeof(err)), 0, "%s", err);
	return c;
}

Test(health_check, http_2xx_ok_and_5xx_fails)
{
	struct server s = { .reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n" };
	char why[200];
	double secs = -1;
	server_start(&s, SOCK_STREAM);
	struct hc_check c = make_check(HEALTHD_CHECK_HTTP, &s, 1000);
	cr_assert_eq(hc_run(&c, why, sizeof(why), &secs), 0, "%s", why);
	cr_assert(secs >= 0 && secs < 1);
	server_stop(&s);

	struct server s2 = { .reply = "HTTP/1.0 503 Service Unavailable\r\n\r\ndraining\n" };
	server_start(&s2, SOCK_STREAM);
	c = make_check(HEALTHD_CHECK_HTTP, &s2, 1000);
	cr_assert_neq(hc_run(&c, why, sizeof(why), NULL), 0);
	cr_assert_str_eq(why, "status 503");
	server_stop(&s2);

	struct server s3 = { .reply = "SSH-2.0-OpenSSH\r\n" };
	server_start(&s3, SOCK_STREAM);
	c = make_check(HEALTHD_CHECK_HTTP, &s3, 1000);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), AD_EPARSE);
	server_stop(&s3);
}

Test(health_check, http_timeout_is_bounded)
{
	struct server s = { .reply = NULL }; /* reads the request, never answers */
	char why[200];
	double secs = 0;
	server_start(&s, SOCK_STREAM);
	struct hc_check c = make_check(HEALTHD_CHECK_HTTP, &s, 200);
	cr_assert_eq(hc_run(&c, why, sizeof(why), &secs), -ETIMEDOUT, "%s", why);
	cr_assert(secs >= 0.19 && secs < 0.4, "took %.3f s", secs);
	server_stop(&s);
}

Test(health_check, tcp_connect_and_refused)
{
	struct server s = { .reply = "x" };
	char why[200];
	server_start(&s, SOCK_STREAM);
	struct hc_check c = make_check(HEALTHD_CHECK_TCP, &s, 500);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), 0, "%s", why);
	server_stop(&s); /* the listener is closed now: refused */
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), -ECONNREFUSED);
	cr_assert_str_eq(why, "connect: Connection refused");
	struct server s2 = { .reply = "x" };
	server_start(&s2, SOCK_STREAM);
	c = make_check(HEALTHD_CHECK_HTTP, &s2, 500);
	server_stop(&s2);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), -ECONNREFUSED, "http refused too");
}

Test(health_check, dns_answers)
{
	char why[200];
	struct server s = { .dns_flags = 0x84 };
	server_start(&s, SOCK_DGRAM);
	struct hc_check c = make_check(HEALTHD_CHECK_DNS, &s, 1000);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), 0, "%s", why);
	server_stop(&s);

	struct server s2 = { .dns_flags = 0x80 };
	server_start(&s2, SOCK_DGRAM);
	c = make_check(HEALTHD_CHECK_DNS, &s2, 1000);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), AD_EPARSE);
	cr_assert_str_eq(why, "no AA bit");
	server_stop(&s2);

	struct server s3 = { .dns_flags = 0x84, .dns_rcode = 2 };
	server_start(&s3, SOCK_DGRAM);
	c = make_check(HEALTHD_CHECK_DNS, &s3, 1000);
	cr_assert_eq(hc_run(&c, why, sizeof(why), NULL), AD_EPARSE);
	cr_assert_str_eq(why, "rcode 2");
	server_stop(&s3);

	/* nobody listens: refused (ICMP) or timed out, within the timeout either way */
	double secs = 0;
	c.timeout_ms = 300;
	int ret = hc_run(&c, why, sizeof(why), &secs);
	cr_assert(ret == -ECONNREFUSED || ret == -ETIMEDOUT, "%d %s", ret, why);
	cr_assert(secs < 0.5);
}
