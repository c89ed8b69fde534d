/*
 * The operator's tunnel to the relay and its watch (see tunnel.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "sockaddr.h"
#include "tunnel.h"
#include "wg.h"

#define STATS_INTERVAL_MS 1000
#define RESTART_BACKOFF_MIN_MS 1000
#define RESTART_BACKOFF_MAX_MS 30000

struct tunnel {
	/* Copied at start: a reload frees the config these came from. */
	char interface[16], relay_key[WG_KEY_B64_LEN + 1];
	char *key_file;
	unsigned listen_port, keepalive_s;
	enum wg_mode mode;
	struct sockaddr_storage relay_addr;  /* the relay's tunnel address */
	socklen_t relay_addr_len;
	/* Reloadable: from the running config at every tick. */
	uint64_t probe_interval, dead_after;

	struct admin *admin;
	struct metrics_slots *slots;
	struct wg_iface *wg;            /* NULL while down */
	char address[SOCKADDR_STRLEN + 8], relay_ip[SOCKADDR_STRLEN + 8], endpoint[SOCKADDR_STRLEN];

	/* probe */
	int probe_fd;                   /* raw ICMP socket, -1: none */
	bool probe_failed;              /* no socket could be had: not tried again */
	uint16_t probe_id, probe_seq;
	bool probe_outstanding, probe_answered;
	struct timespec probe_sent;     /* CLOCK_REALTIME, as the kernel stamps replies */
	uint64_t next_probe_ms;
	struct tunnel_probe_count count;

	uint64_t next_stats_ms, next_restart_ms, restart_backoff_ms;
	long long started;              /* unix seconds */
	enum tunnel_state reported;     /* last state logged and given to /healthz */

	pthread_mutex_t mu;             /* guards status against tunnel_status() */
	struct tunnel_status status;
};

const char *tunnel_state_name(enum tunnel_state s)
{
	static const char *const names[] = { "connecting", "up", "dead", "down" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

enum tunnel_state tunnel_assess(bool iface_up, long long now, long long started,
				long long last_handshake, uint64_t dead_after_ms)
{
	if (!iface_up)
		return TUNNEL_DOWN;
	long long since = last_handshake > 0 ? last_handshake : started;
	/* Whole seconds on both sides: WireGuard reports handshakes in seconds. */
	if ((now - since) * 1000 >= (long long)dead_after_ms)
		return TUNNEL_DEAD;
	return last_handshake > 0 ? TUNNEL_UP : TUNNEL_CONNECTING;
}

bool tunnel_probe_result(struct tunnel_probe_count *pc, bool answered)
{
	if (answered) {
		pc->misses = 0;
		return false;
	}
	if (++pc->misses < pc->limit)
		return false;
	pc->misses = 0;
	return true;
}

static long long unix_now(void)
{
	return (long long)time(NULL);
}

/* ---- the interface ------------------------------------------------------ */

static int set_peer(struct tunnel *t)
{
	return wg_peer_set_endpoint(t->wg, t->relay_key, t->relay_ip, t->endpoint, t->keepalive_s);
}

static int iface_up(struct tunnel *t)
{
	struct wg_settings ws = {
		.interface = t->interface,
		.private_key_file = t->key_file,
		.listen_port = t->listen_port,
		.address = t->address,
		.userspace = t->mode,
	};
	char err[512];
	t->wg = wg_iface_up(&ws, err, sizeof(err));
	if (t->wg == NULL) {
		char q[sizeof(err) + 16];
		log_error("tunnel not created", "interface=%s error=%s", t->interface,
			  log_quote(q, sizeof(q), err));
		return AD_ECONFIG;
	}
	int ret = set_peer(t);
	if (ret != 0) {
		log_error("tunnel peer not set", "relay=%s error=\"%s\"", t->endpoint,
			  airdress_strerror(ret));
		wg_iface_down(t->wg);
		t->wg = NULL;
		return ret;
	}
	pthread_mutex_lock(&t->mu);
	t->status.userspace = wg_iface_userspace(t->wg);
	pthread_mutex_unlock(&t->mu);
	log_info("tunnel up", "interface=%s address=%s relay=%s", t->interface, t->address,
		 t->endpoint);
	return 0;
}

/* ---- the probe ---------------------------------------------------------- */

static uint16_t icmp4_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool v6(const struct tunnel *t)
{
	return t->relay_addr.ss_family == AF_INET6;
}

static void probe_open(struct tunnel *t)
{
	if (t->probe_interval == 0)
		return;
	int fd = v6(t) ? socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6)
		       : socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0) {
		log_warn("tunnel probes off: no ICMP socket (needs CAP_NET_RAW)", "error=\"%s\"",
			 strerror(errno));
		t->probe_failed = true;
		return;
	}
	if (v6(t)) {
		/* Only echo replies; the kernel fills in the ICMPv6 checksum itself. */
		struct icmp6_filter f;
		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	/* The kernel stamps each reply as it arrives: the RTT does not depend on when
	 * the control thread gets round to reading it. */
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	t->probe_fd = fd;
}

static long long elapsed_us(const struct timespec *from, const struct timespec *to)
{
	return (long long)(to->tv_sec - from->tv_sec) * 1000000 + (to->tv_nsec - from->tv_nsec) / 1000;
}

/* Read every reply waiting; one that matches the outstanding probe answers it. */
static void probe_read(struct tunnel *t)
{
	uint8_t buf[256];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		union {
			struct cmsghdr align;
			uint8_t space[CMSG_SPACE(sizeof(struct timespec))];
		} control;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				      .msg_iovlen = 1, .msg_control = &control,
				      .msg_controllen = sizeof(control) };
		ssize_t n = recvmsg(t->probe_fd, &msg, 0);
		if (n < 0)
			return;
		struct timespec arrived;
		clock_gettime(CLOCK_REALTIME, &arrived);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
				memcpy(&arrived, CMSG_DATA(c), sizeof(arrived));
		const uint8_t *icmp = buf;
		size_t len = (size_t)n;
		if (!v6(t)) {
			/* A raw IPv4 socket hands over the IP header too. */
			size_t ihl = len > 0 ? (size_t)(buf[0] & 0x0f) * 4 : 0;
			if (ihl < 20 || len < ihl)
				continue;
			icmp += ihl;
			len -= ihl;
		}
		if (len < 8 || !sockaddr_equal_ip((struct sockaddr *)&from,
						  (const struct sockaddr *)&t->relay_addr))
			continue;
		uint8_t reply_type = v6(t) ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
		uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]);
		uint16_t seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
		if (icmp[0] != reply_type || id != t->probe_id || seq != t->probe_seq ||
		    !t->probe_outstanding)
			continue;
		t->probe_answered = true;
		long long rtt = elapsed_us(&t->probe_sent, &arrived);
		pthread_mutex_lock(&t->mu);
		t->status.last_rtt_us = rtt;
		pthread_mutex_unlock(&t->mu);
	}
}

static void probe_send(struct tunnel *t)
{
	uint8_t pkt[16] = { 0 };
	t->probe_seq++;
	pkt[0] = v6(t) ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = (uint8_t)(t->probe_id >> 8);
	pkt[5] = (uint8_t)t->probe_id;
	pkt[6] = (uint8_t)(t->probe_seq >> 8);
	pkt[7] = (uint8_t)t->probe_seq;
	memcpy(pkt + 8, "airdress", 8);
	if (!v6(t)) {
		uint16_t sum = icmp4_checksum(pkt, sizeof(pkt));
		pkt[2] = (uint8_t)(sum >> 8);
		pkt[3] = (uint8_t)sum;
	}
	clock_gettime(CLOCK_REALTIME, &t->probe_sent);
	t->probe_outstanding = true;
	t->probe_answered = false;
	/* A send that fails (no route while the interface is gone) is a miss. */
	(void)sendto(t->probe_fd, pkt, sizeof(pkt), 0,
		     (const struct sockaddr *)&t->relay_addr, t->relay_addr_len);
}

/* Drop WireGuard's session with the relay so that the next packet handshakes afresh. */
static void rehandshake(struct tunnel *t)
{
	log_warn("relay not answering: forcing a fresh handshake", "relay=%s misses=%u",
		 t->endpoint, t->count.limit);
	wg_peer_remove(t->wg, t->relay_key);
	if (set_peer(t) != 0)
		return; /* logged; the next round of misses tries again */
	metrics_inc(t->slots, OM_TUNNEL_REHANDSHAKES);
	pthread_mutex_lock(&t->mu);
	t->status.rehandshakes++;
	pthread_mutex_unlock(&t->mu);
}

static void probe_tick(struct tunnel *t, uint64_t now)
{
	if (t->probe_fd < 0 || t->wg == NULL || t->probe_interval == 0)
		return;
	probe_read(t);
	if (now < t->next_probe_ms)
		return;
	t->next_probe_ms = now + t->probe_interval;
	if (t->probe_outstanding) {
		if (!t->probe_answered) {
			metrics_inc(t->slots, OM_TUNNEL_PROBES_LOST);
			pthread_mutex_lock(&t->mu);
			t->status.probes_lost++;
			pthread_mutex_unlock(&t->mu);
		}
		if (tunnel_probe_result(&t->count, t->probe_answered))
			rehandshake(t);
	}
	probe_send(t);
}

/* ---- the watch ---------------------------------------------------------- */

static void restart(struct tunnel *t, uint64_t now)
{
	if (t->wg != NULL) {
		log_warn("tunnel interface gone: creating it again", "interface=%s userspace=%s",
			 t->interface, wg_iface_userspace(t->wg) ? "yes" : "no");
		wg_iface_down(t->wg); /* reaps wireguard-go, removes what is left */
		t->wg = NULL;
	}
	if (now < t->next_restart_ms)
		return;
	if (iface_up(t) != 0) {
		t->restart_backoff_ms = t->restart_backoff_ms ? t->restart_backoff_ms * 2
							      : RESTART_BACKOFF_MIN_MS;
		if (t->restart_backoff_ms > RESTART_BACKOFF_MAX_MS)
			t->restart_backoff_ms = RESTART_BACKOFF_MAX_MS;
		t->next_restart_ms = now + t->restart_backoff_ms;
		return;
	}
	t->restart_backoff_ms = 0;
	t->next_stats_ms = 0;
	t->count.misses = 0;
	metrics_inc(t->slots, OM_TUNNEL_RESTARTS);
	pthread_mutex_lock(&t->mu);
	t->status.restarts++;
	pthread_mutex_unlock(&t->mu);
}

static void stats_tick(struct tunnel *t, uint64_t now)
{
	if (t->wg == NULL || now < t->next_stats_ms)
		return;
	t->next_stats_ms = now + STATS_INTERVAL_MS;
	struct wg_peer_stats ps;
	if (wg_peer_stats(t->wg, t->relay_key, &ps) != 0)
		return; /* the peer is being set again, or wg failed: next time */
	pthread_mutex_lock(&t->mu);
	/* A re-set peer starts from zero; the last handshake we saw still counts. */
	if (ps.latest_handshake > t->status.last_handshake)
		t->status.last_handshake = ps.latest_handshake;
	t->status.rx_bytes = ps.rx_bytes;
	t->status.tx_bytes = ps.tx_bytes;
	snprintf(t->status.endpoint, sizeof(t->status.endpoint), "%s", ps.endpoint);
	long long last = t->status.last_handshake;
	pthread_mutex_unlock(&t->mu);
	metrics_gauge_set(t->slots, OM_TUNNEL_HANDSHAKE, last);
	metrics_gauge_set(t->slots, OM_TUNNEL_RX, (int64_t)ps.rx_bytes);
	metrics_gauge_set(t->slots, OM_TUNNEL_TX, (int64_t)ps.tx_bytes);
}

static void publish_state(struct tunnel *t)
{
	pthread_mutex_lock(&t->mu);
	enum tunnel_state s = tunnel_assess(t->wg != NULL, unix_now(), t->started,
					    t->status.last_handshake, t->dead_after);
	t->status.state = s;
	long long last = t->status.last_handshake;
	pthread_mutex_unlock(&t->mu);
	metrics_gauge_set(t->slots, OM_TUNNEL_UP, s == TUNNEL_UP);
	if (s == t->reported)
		return;
	char reason[160];
	switch (s) {
	case TUNNEL_DEAD:
		snprintf(reason, sizeof(reason), "tunnel dead: no handshake with the relay for %llu s",
			 (unsigned long long)(t->dead_after / 1000));
		log_warn("tunnel dead", "interface=%s relay=%s last_handshake=%lld", t->interface,
			 t->endpoint, last);
		admin_set_unhealthy(t->admin, reason);
		break;
	case TUNNEL_DOWN:
		log_warn("tunnel down", "interface=%s", t->interface);
		admin_set_unhealthy(t->admin, "tunnel down: no interface");
		break;
	case TUNNEL_UP:
	case TUNNEL_CONNECTING:
		log_info(s == TUNNEL_UP ? "tunnel alive" : "tunnel connecting",
			 "interface=%s relay=%s last_handshake=%lld", t->interface, t->endpoint,
			 last);
		admin_set_unhealthy(t->admin, NULL);
		break;
	}
	t->reported = s;
}

void tunnel_tick(struct tunnel *t, const struct op_tunnel_cfg *cfg)
{
	if (t == NULL)
		return;
	t->probe_interval = cfg->probe_interval;
	t->count.limit = cfg->probe_misses;
	t->dead_after = cfg->dead_after;
	if (t->probe_interval > 0 && t->probe_fd < 0 && !t->probe_failed)
		probe_open(t);
	uint64_t now = clock_ms();
	if (t->wg == NULL || !wg_iface_alive(t->wg))
		restart(t, now);
	stats_tick(t, now);
	probe_tick(t, now);
	publish_state(t);
}

struct tunnel *tunnel_start(const struct op_tunnel_cfg *cfg, struct admin *admin,
			    struct metrics_slots *slots)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->key_file = strdup(cfg->private_key_file)) == NULL) {
		free(t);
		log_error("tunnel not created", "error=\"%s\"", strerror(ENOMEM));
		return NULL;
	}
	snprintf(t->interface, sizeof(t->interface), "%s", cfg->interface);
	snprintf(t->relay_key, sizeof(t->relay_key), "%s", cfg->relay_public_key);
	t->listen_port = cfg->listen_port;
	t->keepalive_s = (unsigned)(cfg->keepalive / 1000);
	t->mode = (enum wg_mode)cfg->userspace;
	t->relay_addr = cfg->relay_address.addr;
	t->relay_addr_len = cfg->relay_address.len;
	t->probe_interval = cfg->probe_interval;
	t->dead_after = cfg->dead_after;
	t->admin = admin;
	t->slots = slots;
	t->probe_fd = -1;
	t->count.limit = cfg->probe_misses;
	t->reported = TUNNEL_CONNECTING;
	t->started = unix_now();
	pthread_mutex_init(&t->mu, NULL);

	sockaddr_format_prefix((const struct sockaddr *)&cfg->address.addr.addr,
			       (int)cfg->address.prefixlen, t->address, sizeof(t->address));
	sockaddr_format_prefix((const struct sockaddr *)&cfg->relay_address.addr, -1, t->relay_ip,
			       sizeof(t->relay_ip));
	sockaddr_format((const struct sockaddr *)&cfg->relay_endpoint.addr, cfg->relay_endpoint.len,
			t->endpoint, sizeof(t->endpoint));
	if (getrandom(&t->probe_id, sizeof(t->probe_id), GRND_NONBLOCK) != sizeof(t->probe_id))
		t->probe_id = (uint16_t)getpid();

	struct tunnel_status *st = &t->status;
	st->state = TUNNEL_CONNECTING;
	st->last_rtt_us = -1;
	snprintf(st->interface, sizeof(st->interface), "%s", cfg->interface);
	snprintf(st->address, sizeof(st->address), "%s", t->address);
	snprintf(st->relay, sizeof(st->relay), "%s", t->endpoint);

	if (iface_up(t) != 0) {
		tunnel_stop(t);
		return NULL;
	}
	probe_open(t);
	return t;
}

void tunnel_status(struct tunnel *t, struct tunnel_status *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->status;
	pthread_mutex_unlock(&t->mu);
}

void tunnel_stop(struct tunnel *t)
{
	if (t == NULL)
		return;
	if (t->probe_fd >= 0)
		close(t->probe_fd);
	wg_iface_down(t->wg);
	pthread_mutex_destroy(&t->mu);
	free(t->key_file);
	free(t);
}
