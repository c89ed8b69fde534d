/*
 * airdress-dns: the DNS PoP. Authoritative for the configured zones, answering
 * from a RocksDB zone store behind a per-core response cache. Zone files load at
 * start and on SIGHUP; claimed names (the admin API, later the registry feed) answer
 * A/AAAA with the relay VIPs. Every change is written to the store first, then
 * invalidates the affected cached answers on every worker. See docs/dns.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "daemon.h"
#include "dnscache.h"
#include "dns_config.h"
#include "error.h"
#include "log.h"
#include "server.h"
#include "sockaddr.h"
#include "zonedb.h"
#include "zonefile.h"

#define TOKEN_MAX 256

struct dns_app {
	struct daemon *d;
	struct dns_server server;
	pthread_mutex_t store_lock;   /* one store writer at a time: reload, admin API */
	char token[TOKEN_MAX];        /* admin bearer token; "" = the names API is off */
	char nsid[DNSW_NSID_MAX + 1];
	/* Zones whose file is read only once serving (they were already in the store),
	 * by index into the start config's zones; NULL once read. A reload reads every
	 * file and clears it, so while it is set the running config is the start one. */
	bool *deferred;
};

static struct dns_app app = { .store_lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- invalidation ------------------------------------------------------- */

/* Tell every worker to drop what depends on the changed names, and wait until all
 * have done it. Returns the time it took in seconds. */
static double invalidate(struct zonedb_changes *ch)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct loop *l = daemon_loop(app.d);
	for (size_t i = 0; i < ch->count; i++) {
		struct msg m = { .type = MSG_DNS_INVALIDATE, .u64 = dnscache_name_hash(ch->names[i]) };
		for (unsigned w = 0; w < loop_workers(l); w++) {
			/* A full ring is a worker behind on messages: wait for it, boundedly. */
			for (int tries = 0; loop_send(l, w, &m) != 0 && tries < 10000; tries++) {
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
			}
		}
	}
	if (ch->count)
		loop_barrier(l, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* ---- zones -------------------------------------------------------------- */

/* The apex of a configured zone as a lowercase wire name. Returns its length or
 * AD_EPARSE/AD_ETOOBIG for a name that is not one. */
static int zone_apex(const struct dns_zone_cfg *z, uint8_t apex[DNSW_NAME_MAX])
{
	uint8_t root = 0;
	int len = dnsw_name_from_text(z->name, strlen(z->name), &root, apex);
	if (len > 0)
		dnsw_name_lower(apex, apex, (size_t)len);
	return len;
}

/* The configured zone whose apex is apex, or NULL. */
static const struct dns_zone_cfg *zone_cfg_for(const struct dns_cfg *cfg, const uint8_t *apex)
{
	for (size_t i = 0; i < cfg->zones_count; i++) {
		uint8_t z[DNSW_NAME_MAX];
		if (zone_apex(&cfg->zones[i], z) > 0 && dnsw_name_equal(z, apex))
			return &cfg->zones[i];
	}
	return NULL;
}

/*
 * Give the memory a large load freed back to the system. The zone file's parse and
 * the store's write batch are hundreds of MB for a million names; jemalloc keeps
 * freed pages of an arena until that arena allocates again, and the loading thread
 * is idle afterwards, so they would stay resident for good. mallctl is looked up at
 * run time: sanitizer builds run on another allocator (then malloc_trim).
 */
static void release_freed_memory(void)
{
	typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
	mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	if (mallctl != NULL) {
		mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* 4096: every arena */
	} else {
		malloc_trim(0);
	}
}

/*
 * Make the store serve only configured zones: a zone it holds that the config no
 * longer lists is deleted (its RRsets, its claims, its nodes; a child zone's data
 * stays), with invalidation once serving. A zone file or the registry feed brings it
 * back if it is listed again. Returns 0 or the first store error (logged).
 */
static int remove_unlisted_zones(const struct dns_cfg *cfg, bool serving)
{
	size_t n = zonedb_list_zones(app.server.db, NULL, 0);
	if (n == 0)
		return 0;
	uint8_t (*apexes)[DNSW_NAME_MAX] = calloc(n, sizeof(*apexes));
	if (apexes == NULL)
		return -ENOMEM;
	n = zonedb_list_zones(app.server.db, apexes, n);
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (zone_cfg_for(cfg, apexes[i]) != NULL)
			continue;
		char text[DNSW_TEXT_MAX] = "?";
		(void)dnsw_name_to_text(apexes[i], text, sizeof(text));
		struct zonedb_changes ch = { 0 };
		struct zonedb_txn *t = zonedb_txn_begin(app.server.db);
		int ret = t ? zonedb_txn_delete_zone(t, apexes[i]) : -ENOMEM;
		if (ret == 0)
			ret = zonedb_txn_commit(t, &ch);
		else
			zonedb_txn_abort(t);
		if (ret != 0) {
			log_error("zone not removed", "zone=%s error=\"%s\"", text, airdress_strerror(ret));
			failed = failed ? failed : ret;
		} else {
			double secs = serving ? invalidate(&ch) : 0;
			log_info("zone removed: no longer configured", "zone=%s names_invalidated=%zu "
				 "invalidation_ms=%.3f", text, ch.count, secs * 1000);
		}
		zonedb_changes_free(&ch);
	}
	free(apexes);
	return failed;
}

/*
 * Which zones load_zones() reads:
 *   LOAD_NEW     at start, before serving: zones the store does not hold yet; a file
 *                that does not load stops the start. Zones the store holds are only
 *                marked in app.deferred: they are served from the store at once.
 *   LOAD_STORED  once serving: the zones marked in app.deferred, with invalidation;
 *                a file that does not load keeps the stored zone.
 *   LOAD_ALL     reload: every zone, with invalidation; a broken file keeps the zone.
 * LOAD_NEW and LOAD_ALL first remove the stored zones the config no longer lists.
 */
enum load_what { LOAD_NEW, LOAD_STORED, LOAD_ALL };

static int load_zones(const struct dns_cfg *cfg, enum load_what what)
{
	bool at_start = what == LOAD_NEW;
	int failed = 0;
	if (what != LOAD_STORED && remove_unlisted_zones(cfg, !at_start) != 0)
		failed++;
	for (size_t i = 0; i < cfg->zones_count; i++) {
		const struct dns_zone_cfg *z = &cfg->zones[i];
		uint8_t apex[DNSW_NAME_MAX];
		if (zone_apex(z, apex) < 0) {
			log_error("zone name invalid", "zone=%s", z->name);
			failed++;
			continue;
		}
		if (z->file == NULL)
			continue;
		if (what == LOAD_STORED && !app.deferred[i])
			continue;
		if (what == LOAD_NEW && zonedb_has_zone(app.server.db, apex)) {
			/* A restart: answer from the store now, read the file once serving. */
			app.deferred[i] = true;
			log_info("zone served from the store, its file is checked once serving",
				 "zone=%s file=%s", z->name, z->file);
			continue;
		}
		char err[512];
		struct zonedb_changes ch = { 0 };
		size_t changed = 0;
		int ret = zonefile_apply(app.server.db, apex, z->file, &ch, &changed, err, sizeof(err));
		if (ret != 0) {
			char q[sizeof(err) + 16];
			log_error(at_start ? "zone not loaded" : "zone not reloaded, keeping the old data",
				  "zone=%s error=%s", z->name, log_quote(q, sizeof(q), err));
			failed++;
			zonedb_changes_free(&ch);
			continue;
		}
		double secs = at_start ? 0 : invalidate(&ch);
		/* A large load would otherwise stay in memory as a RocksDB memtable. */
		if (changed > 1000) {
			zonedb_flush(app.server.db);
			release_freed_memory();
		}
		log_info("zone loaded", "zone=%s file=%s rrsets_changed=%zu names_invalidated=%zu "
			 "invalidation_ms=%.3f", z->name, z->file, changed, ch.count, secs * 1000);
		zonedb_changes_free(&ch);
	}
	return failed ? AD_ECONFIG : 0;
}

/* The configured zone holding name, or NULL. */
static const struct dns_zone_cfg *zone_of(const struct dns_cfg *cfg, const uint8_t *name,
					  uint8_t apex[DNSW_NAME_MAX])
{
	if (zonedb_find_zone(app.server.db, name, apex) != 0)
		return NULL;
	return zone_cfg_for(cfg, apex);
}

/* Claim or release name (lowercase wire) under its zone: the claim marker and the
 * A/AAAA RRsets with the relay VIPs, in one transaction, then invalidation.
 * Returns 0 (done), AD_EEXISTS (already claimed, nothing to do), AD_ENOTFOUND (not
 * claimed, for a release; or no zone with relay_vip holds it) or -EIO. */
static int claim(const uint8_t *name, bool on)
{
	const struct dns_cfg *cfg = daemon_config(app.d);
	uint8_t apex[DNSW_NAME_MAX];
	const struct dns_zone_cfg *z = zone_of(cfg, name, apex);
	if (z == NULL || z->relay_vip_count == 0 || dnsw_name_equal(name, apex))
		return AD_ENOTFOUND;
	pthread_mutex_lock(&app.store_lock);
	int ret = 0;
	bool was = zonedb_is_claimed(app.server.db, name);
	if (was == on) {
		ret = on ? AD_EEXISTS : AD_ENOTFOUND;
		goto out;
	}
	struct zonedb_txn *t = zonedb_txn_begin(app.server.db);
	if (t == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	zonedb_txn_claim(t, name, on);
	for (int v6 = 0; v6 <= 1; v6++) {
		uint16_t type = v6 ? DNSW_T_AAAA : DNSW_T_A;
		if (!on) {
			zonedb_txn_delete_rrset(t, name, type);
			continue;
		}
		const uint8_t *rd[16];
		uint16_t rdlen[16];
		uint16_t n = 0;
		for (size_t i = 0; i < z->relay_vip_count && n < 16; i++) {
			const struct sockaddr_storage *a = &z->relay_vip[i].addr;
			if (v6 && a->ss_family == AF_INET6) {
				rd[n] = (const uint8_t *)&((const struct sockaddr_in6 *)a)->sin6_addr;
				rdlen[n++] = 16;
			} else if (!v6 && a->ss_family == AF_INET) {
				rd[n] = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
				rdlen[n++] = 4;
			}
		}
		if (n == 0)
			continue;
		struct zonedb_rrset_in rr = { .type = type, .ttl = (uint32_t)(z->claim_ttl / 1000),
					      .count = n, .rdata = rd, .rdlen = rdlen };
		if ((ret = zonedb_txn_put_rrset(t, name, &rr)) != 0) {
			zonedb_txn_abort(t);
			goto out;
		}
	}
	struct zonedb_changes ch = { 0 };
	if ((ret = zonedb_txn_commit(t, &ch)) == 0) {
		double secs = invalidate(&ch);
		char text[DNSW_TEXT_MAX];
		dnsw_name_to_text(name, text, sizeof(text));
		log_info(on ? "name claimed" : "name released", "name=%s invalidation_ms=%.3f", text,
			 secs * 1000);
	}
	zonedb_changes_free(&ch);
out:
	pthread_mutex_unlock(&app.store_lock);
	return ret;
}

/* ---- admin API: PUT/DELETE /v1/names/NAME -------------------------------- */

static int names_route(const struct admin_request *req, struct admin_response *resp, void *ctx)
{
	const char *auth = admin_request_header(req, "Authorization");
	if (app.token[0] == '\0' || auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    strcmp(auth + 7, app.token) != 0) {
		admin_response_status(resp, 401);
		admin_response_type(resp, "application/json");
		admin_response_printf(resp, "{\"error\":{\"code\":\"unauthorized\",\"message\":"
					    "\"a valid bearer token is required\"}}\n");
		return 0;
	}
	const char *text = admin_request_path(req) + strlen("/v1/names/");
	uint8_t wire[DNSW_NAME_MAX];
	uint8_t root = 0;
	int len = dnsw_name_from_text(text, strlen(text), &root, wire);
	admin_response_type(resp, "application/json");
	if (len <= 1 || strchr(text, '\\') != NULL) {
		admin_response_status(resp, 400);
		admin_response_printf(resp, "{\"error\":{\"code\":\"bad_name\",\"message\":"
					    "\"not a host name\"}}\n");
		return 0;
	}
	dnsw_name_lower(wire, wire, (size_t)len);
	bool on = strcmp(admin_request_method(req), "PUT") == 0;
	int ret = claim(wire, on);
	switch (ret) {
	case 0:
		admin_response_status(resp, on ? 201 : 204);
		break;
	case AD_EEXISTS:
		admin_response_status(resp, 200);
		break;
	case AD_ENOTFOUND:
		admin_response_status(resp, 404);
		admin_response_printf(resp, "{\"error\":{\"code\":\"not_found\",\"message\":\"%s\"}}\n",
				      on ? "no zone with relay_vip holds this name" : "not claimed");
		break;
	default:
		admin_response_status(resp, 500);
		admin_response_printf(resp, "{\"error\":{\"code\":\"store\",\"message\":\"%s\"}}\n",
				      airdress_strerror(ret));
		break;
	}
	if (ret == 0 || ret == AD_EEXISTS)
		admin_response_printf(resp, on ? "{\"name\":\"%s\",\"claimed\":true}\n" : "", text);
	return 0;
}

static int read_token(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	size_t n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	return n ? 0 : AD_ECONFIG;
}

/* ---- daemon ------------------------------------------------------------- */

static int dns_worker_start_hook(struct worker *w)
{
	return dns_worker_start(w, &app.server, daemon_metrics(daemon_of_worker(w)));
}

static const struct loop_hooks dns_hooks = {
	.worker_start = dns_worker_start_hook,
	.worker_stop = dns_worker_stop,
	.on_message = dns_worker_message,
};

static bool transfer_allowed(const uint8_t *apex, const struct sockaddr *peer)
{
	const struct dns_zone_cfg *z = zone_cfg_for(daemon_config(app.d), apex);
	for (size_t k = 0; z != NULL && k < z->allow_transfer_count; k++) {
		if (sockaddr_equal_ip((const struct sockaddr *)&z->allow_transfer[k].addr, peer))
			return true;
	}
	return false;
}

static void apply_settings(const struct dns_cfg *cfg)
{
	__atomic_store_n(&app.server.tcp_idle_ms, cfg->tcp_idle_timeout, __ATOMIC_RELAXED);
}

static int dns_setup(struct daemon *d)
{
	const struct dns_cfg *cfg = daemon_config(d);
	app.d = d;
	char err[512];
	if (zonedb_open(cfg->data_dir, &app.server.db, err, sizeof(err)) != 0) {
		char q[sizeof(err) + 16];
		log_error("zone store not opened", "dir=%s error=%s", cfg->data_dir,
			  log_quote(q, sizeof(q), err));
		return AD_ECONFIG;
	}
	app.deferred = calloc(cfg->zones_count ? cfg->zones_count : 1, sizeof(bool));
	if (app.deferred == NULL)
		return -ENOMEM;
	if (load_zones(cfg, LOAD_NEW) != 0)
		return AD_ECONFIG;
	if (cfg->admin.token_file != NULL) {
		int ret = read_token(cfg->admin.token_file, app.token, sizeof(app.token));
		if (ret != 0) {
			log_error("admin token not read", "file=%s error=\"%s\"", cfg->admin.token_file,
				  airdress_strerror(ret));
			return ret;
		}
	}
	if (cfg->nsid != NULL) {
		size_t n = strlen(cfg->nsid);
		if (n > DNSW_NSID_MAX) {
			log_error("nsid too long", "max=%d", DNSW_NSID_MAX);
			return AD_ECONFIG;
		}
		memcpy(app.nsid, cfg->nsid, n);
		app.server.answer.nsid = (const uint8_t *)app.nsid;
		app.server.answer.nsid_len = (uint8_t)n;
	}
	app.server.answer.udp_payload = (uint16_t)cfg->udp_payload;
	app.server.cache_size = cfg->cache_size;
	app.server.transfer_allowed = transfer_allowed;
	if (getrandom(app.server.cookie_secret, sizeof(app.server.cookie_secret), 0) !=
	    (ssize_t)sizeof(app.server.cookie_secret))
		return -EIO;
	if (cfg->registry_present)
		log_warn("registry section present: the change feed is not followed yet", "url=%s",
			 cfg->registry.url);
	for (size_t i = 0; i < cfg->zones_count; i++)
		if (cfg->zones[i].dnssec.enabled)
			log_warn("dnssec enabled: online signing is not implemented yet, answers are "
				 "unsigned", "zone=%s", cfg->zones[i].name);
	if (cfg->rrl.rate != 0)
		log_warn("rrl.rate set: response rate limiting is not implemented yet", "rate=%u",
			 cfg->rrl.rate);
	apply_settings(cfg);

	unsigned workers = cfg->workers ? cfg->workers : loop_default_workers();
	app.server.max_tcp_per_worker = (cfg->max_tcp_connections + workers - 1) / workers;
	struct daemon_runtime rt = {
		.loop = {
			.workers = workers,
			.pin = true,
			.drain_timeout_ms = cfg->drain_timeout,
			.conn_user_size = dns_conn_size(),
			.max_conns = app.server.max_tcp_per_worker + 16,
			.batch_wait_us = cfg->batch_wait_us,
		},
		.admin_listen = &cfg->admin.listen,
	};
	int ret = daemon_runtime_create(d, &rt);
	if (ret != 0)
		return ret;
	admin_route_add(daemon_admin(d), "PUT", "/v1/names/", ADMIN_ROUTE_PREFIX, names_route, NULL);
	admin_route_add(daemon_admin(d), "DELETE", "/v1/names/", ADMIN_ROUTE_PREFIX, names_route, NULL);
	for (size_t i = 0; i < cfg->listen_count; i++) {
		const struct cfg_addr *a = &cfg->listen[i];
		char text[SOCKADDR_STRLEN];
		sockaddr_format((const struct sockaddr *)&a->addr, a->len, text, sizeof(text));
		ret = loop_add_udp(daemon_loop(d), (const struct sockaddr *)&a->addr, a->len,
				   &dns_udp_ops, &app.server);
		if (ret >= 0)
			ret = loop_add_tcp(daemon_loop(d), (const struct sockaddr *)&a->addr, a->len,
					   &dns_tcp_ops, &app.server);
		if (ret < 0) {
			log_error("listen failed", "address=%s error=\"%s\"", text, airdress_strerror(ret));
			return ret;
		}
		log_info("listening", "address=%s", text);
	}
	return 0;
}

/* ---- zone work while serving -------------------------------------------- */

struct zone_job {
	const struct dns_cfg *cfg;
	enum load_what what;
	int ret;
};

static void *zone_job_run(void *arg)
{
	struct zone_job *j = arg;
	/* The lowest CPU priority, for this thread only: where it shares a CPU with a
	 * worker (by default every CPU has one), the worker keeps answering at full
	 * speed and reading a large zone file takes what is left. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	j->ret = load_zones(j->cfg, j->what);
	return NULL;
}

/* The zone work of a reload or of the first tick after a restart: under the store
 * lock, in a thread of its own that the caller waits for. Every file it was to read
 * has been read afterwards: nothing is left deferred. */
static int zone_job(const struct dns_cfg *cfg, enum load_what what)
{
	struct zone_job j = { .cfg = cfg, .what = what };
	pthread_t t;
	pthread_mutex_lock(&app.store_lock);
	if (pthread_create(&t, NULL, zone_job_run, &j) != 0) {
		log_warn("no thread for zone loading, loading at normal priority", "");
		zone_job_run(&j);
	} else {
		pthread_join(t, NULL);
	}
	free(app.deferred);
	app.deferred = NULL;
	pthread_mutex_unlock(&app.store_lock);
	return j.ret;
}

static int dns_reload(struct daemon *d, const void *fresh)
{
	const struct dns_cfg *cfg = fresh;
	/* Every zone file is read: nothing is left for dns_control_tick. */
	int ret = zone_job(cfg, LOAD_ALL);
	apply_settings(cfg);
	/* A zone that failed keeps its old data; the others are applied. Publish the new
	 * config either way so that good changes take effect. */
	(void)ret;
	return 0;
}

/* Once serving: read the files of the zones that were answered from the store. */
static void dns_control_tick(struct daemon *d)
{
	if (app.deferred == NULL)
		return;
	(void)zone_job(daemon_config(d), LOAD_STORED);
}

static void dns_teardown(struct daemon *d)
{
	free(app.deferred);
	app.deferred = NULL;
	zonedb_close(app.server.db);
	app.server.db = NULL;
}

static const struct daemon_spec dns_spec = {
	.name = "airdress-dns",
	.summary = "Airdress DNS PoP: authoritative DNS from a RocksDB store with per-core caches",
	.schema = &dns_schema,
	.default_config = "/etc/airdress/dns.yaml",
	.metrics = dns_metrics,
	.nmetrics = DM_COUNT,
	.hooks = &dns_hooks,
	.setup = dns_setup,
	.reload = dns_reload,
	.teardown = dns_teardown,
	.control_tick = dns_control_tick,
	.control_tick_ms = 100,
};

int main(int argc, char **argv)
{
	return daemon_main(&dns_spec, argc, argv);
}
