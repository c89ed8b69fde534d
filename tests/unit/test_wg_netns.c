/*
 * wg against real tools in network namespaces: a "relay" namespace where wg_iface_up
 * creates the interface (wireguard-go on kernels without WireGuard), and an "operator"
 * namespace set up by hand with wireguard-go + wg + ip, joined by a veth pair
 * (10.200.0.1/24 — 10.200.0.2/24, inside the namespaces only). A TCP connection from
 * the relay namespace to a listener on the operator's tunnel address fd61:6972::2
 * proves a packet crosses the tunnel; then peer removal and teardown are checked.
 *
 * Needs root, ip netns, /dev/net/tun, wg and wireguard-go; skips with the reason
 * otherwise, unless AIRDRESS_WG_REQUIRE=1 (set by tests/integration/test_wg.sh), which
 * turns a missing prerequisite into a failure. The test process enters the relay
 * namespace with setns(2) (Criterion runs each test in its own process) and .fini
 * puts everything back: processes stopped by pid, namespaces and temp files deleted.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "wg.h"

#define RELAY_PORT 51820
#define OP_PORT 51821
#define TCP_PORT 8443

static struct {
	char ns_r[32], ns_o[32];  /* namespaces */
	char veth_r[IF_NAMESIZE], veth_o[IF_NAMESIZE];
	char if_r[IF_NAMESIZE], if_o[IF_NAMESIZE];   /* unique: wireguard-go sockets are global */
	char dir[64];
	bool ns_r_made, ns_o_made;
	int home_ns;              /* our original network namespace */
	pid_t op_wg_go, listener;
	struct wg_iface *w;
} t = { .home_ns = -1, .op_wg_go = -1, .listener = -1 };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Run argv, stdin from in_path and stdout to out_path (NULL: /dev/null), wait at most
 * 10 s. Returns the exit status, or -1. stderr stays ours, for the test log. */
static int runv(const char *in_path, const char *out_path, char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
		int out = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)
				   : open("/dev/null", O_WRONLY);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status = 0;
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

#define RUN(...) runv(NULL, NULL, (char *const[]){ __VA_ARGS__, NULL })
#define RUN_IO(in, out, ...) runv(in, out, (char *const[]){ __VA_ARGS__, NULL })

static void stop_pid(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		sleep_ms(10);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[512];
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static void file_read(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

static int enter_ns(const char *ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
	close(fd);
	return ret;
}

/* A missing prerequisite: skip, or fail when the caller requires the test to run. */
static void unavailable(const char *why)
{
	const char *req = getenv("AIRDRESS_WG_REQUIRE");
	if (req && strcmp(req, "1") == 0)
		cr_assert_fail("AIRDRESS_WG_REQUIRE=1 but %s", why);
	cr_skip_test("%s", why);
}

static void teardown(void)
{
	if (t.home_ns >= 0) {
		setns(t.home_ns, CLONE_NEWNET);
		close(t.home_ns);
		t.home_ns = -1;
	}
	stop_pid(&t.listener);
	if (t.w != NULL) {
		/* wg_iface_down acts in the calling thread's namespace: go back there. */
		int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (enter_ns(t.ns_r) == 0)
			wg_iface_down(t.w);
		t.w = NULL;
		if (home >= 0) {
			setns(home, CLONE_NEWNET);
			close(home);
		}
	}
	stop_pid(&t.op_wg_go);
	if (t.ns_r_made)
		RUN("ip", "netns", "del", t.ns_r);
	if (t.ns_o_made)
		RUN("ip", "netns", "del", t.ns_o);
	t.ns_r_made = t.ns_o_made = false;
	if (t.dir[0] != '\0') {
		char path[128];
		const char *files[] = { "relay.key", "relay.pub", "op.key", "op.pub", "peers" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", t.dir, files[i]);
			unlink(path);
		}
		rmdir(t.dir);
		t.dir[0] = '\0';
	}
}

/* Child in the operator namespace: accept one TCP connection on fd61:6972::2, send
 * "pong", exit 0. Writes one byte to ready_fd once listening. */
static void listener_main(int ready_fd)
{
	alarm(30);
	if (enter_ns(t.ns_o) != 0)
		_exit(2);
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(TCP_PORT) };
	inet_pton(AF_INET6, "fd61:6972::2", &a.sin6_addr);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 4) != 0)
		_exit(3);
	if (write(ready_fd, "r", 1) != 1)
		_exit(4);
	int c = accept(s, NULL, NULL);
	if (c < 0 || write(c, "pong", 4) != 4)
		_exit(5);
	close(c);
	_exit(0);
}

/* Connect from the current namespace to [fd61:6972::2]:TCP_PORT, read the answer.
 * Retries for up to 15 s: the operator's first handshake may need a retry. */
static bool tunnel_connect(char *answer, size_t size)
{
	for (int i = 0; i < 60; i++) {
		int s = socket(AF_INET6, SOCK_STREAM, 0);
		struct timeval tv = { 2, 0 };
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(TCP_PORT) };
		inet_pton(AF_INET6, "fd61:6972::2", &a.sin6_addr);
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
			ssize_t n = read(s, answer, size - 1);
			close(s);
			answer[n > 0 ? n : 0] = '\0';
			return n > 0;
		}
		close(s);
		sleep_ms(250);
	}
	return false;
}

/* The wireguard-go child of this process serving name, or -1. */
static pid_t find_wg_go(const char *name)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;
	while (d && (e = readdir(d)) != NULL) {
		char path[300], buf[256];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		const char *arg = buf + strlen(buf) + 1;
		if (strstr(buf, "wireguard-go") != NULL && arg < buf + n && strcmp(arg, name) == 0)
			found = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

Test(wg_netns, tunnel, .fini = teardown, .timeout = 120)
{
	char err[512] = "", relay_pub[64], op_pub[64], path[512], path2[512], buf[512];
	int me = (int)getpid();

	if (geteuid() != 0)
		unavailable("needs root");
	if (!in_path("wireguard-go") || !in_path("wg") || !in_path("ip"))
		unavailable("needs wireguard-go, wg and ip in PATH");
	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		unavailable("needs /dev/net/tun");

	snprintf(t.ns_r, sizeof(t.ns_r), "adwg-relay-%d", me);
	snprintf(t.ns_o, sizeof(t.ns_o), "adwg-op-%d", me);
	snprintf(t.veth_r, sizeof(t.veth_r), "advr%d", me);
	snprintf(t.veth_o, sizeof(t.veth_o), "advo%d", me);
	snprintf(t.if_r, sizeof(t.if_r), "adr%d", me);
	snprintf(t.if_o, sizeof(t.if_o), "ado%d", me);
	if (RUN("ip", "netns", "add", t.ns_r) != 0)
		unavailable("ip netns add failed (no CAP_SYS_ADMIN?)");
	t.ns_r_made = true;
	cr_assert_eq(RUN("ip", "netns", "add", t.ns_o), 0);
	t.ns_o_made = true;
	snprintf(t.dir, sizeof(t.dir), "/tmp/airdress-wg.XXXXXX");
	cr_assert_not_null(mkdtemp(t.dir));

	/* Underlay: veth between the namespaces, IPv4 only. */
	cr_assert_eq(RUN("ip", "link", "add", t.veth_r, "netns", t.ns_r, "type", "veth", "peer",
			 "name", t.veth_o, "netns", t.ns_o), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_r, "address", "add", "10.200.0.1/24", "dev", t.veth_r), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_o, "address", "add", "10.200.0.2/24", "dev", t.veth_o), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_r, "link", "set", t.veth_r, "up"), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_o, "link", "set", t.veth_o, "up"), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_r, "link", "set", "lo", "up"), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_o, "link", "set", "lo", "up"), 0);

	/* Keys. */
	char rkey[512], okey[512];
	snprintf(rkey, sizeof(rkey), "%s/relay.key", t.dir);
	snprintf(okey, sizeof(okey), "%s/op.key", t.dir);
	snprintf(path, sizeof(path), "%s/relay.pub", t.dir);
	snprintf(path2, sizeof(path2), "%s/op.pub", t.dir);
	cr_assert_eq(RUN_IO(NULL, rkey, "wg", "genkey"), 0);
	cr_assert_eq(RUN_IO(NULL, okey, "wg", "genkey"), 0);
	cr_assert_eq(RUN_IO(rkey, path, "wg", "pubkey"), 0);
	cr_assert_eq(RUN_IO(okey, path2, "wg", "pubkey"), 0);
	file_read(path, relay_pub, sizeof(relay_pub));
	file_read(path2, op_pub, sizeof(op_pub));
	cr_assert(wg_key_valid(relay_pub) && wg_key_valid(op_pub), "wg pubkey gives valid keys");

	/* Enter the relay namespace (this thread only; children inherit it). */
	t.home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(t.home_ns, 0);
	cr_assert_eq(enter_ns(t.ns_r), 0);

	/* A non-WireGuard interface of that name is never touched. */
	struct wg_settings s = { t.veth_r, rkey, RELAY_PORT, "fd61:6972::1/64", WG_MODE_AUTO };
	cr_assert_null(wg_iface_up(&s, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "not WireGuard"), "%s", err);
	cr_assert_neq(if_nametoindex(t.veth_r), 0, "veth still there");

	/* Kernel mode on a kernel without WireGuard fails, naming the command. */
	s.interface = t.if_r;
	s.userspace = WG_MODE_KERNEL;
	struct wg_iface *k = wg_iface_up(&s, err, sizeof(err));
	if (k != NULL) {
		cr_log_info("kernel has WireGuard: kernel mode works");
		wg_iface_down(k);
		cr_assert_eq(if_nametoindex(t.if_r), 0);
	} else {
		cr_assert_not_null(strstr(err, "ip link add"), "%s", err);
		cr_assert_eq(if_nametoindex(t.if_r), 0, "nothing left behind");
	}

	/* The relay side, userspace forced so wireguard-go is covered on every kernel. */
	s.userspace = WG_MODE_USERSPACE;
	t.w = wg_iface_up(&s, err, sizeof(err));
	cr_assert_not_null(t.w, "wg_iface_up: %s", err);
	cr_assert(wg_iface_userspace(t.w));
	cr_assert_eq(wg_iface_alive(t.w), 1);
	pid_t wg_go = find_wg_go(t.if_r);
	cr_assert_gt(wg_go, 0, "wireguard-go running");

	/* Bad arguments with a real handle: rejected, nothing run. */
	cr_assert_eq(wg_peer_set(t.w, "not-a-key", "fd61:6972::2/128"), AD_EPARSE);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2"), AD_EPARSE);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2/128 endpoint"), AD_EPARSE);
	cr_assert_eq(wg_peer_remove(t.w, "--help"), AD_EPARSE);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2/128,"), AD_EPARSE);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2/128, 10.201.0.2/32"), AD_EPARSE);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2/128"), 0);
	cr_assert_eq(wg_peer_set(t.w, op_pub, "fd61:6972::2/128,10.201.0.2/32"), 0, "again");
	snprintf(path, sizeof(path), "%s/peers", t.dir);
	cr_assert_eq(RUN_IO(NULL, path, "wg", "show", t.if_r, "allowed-ips"), 0);
	file_read(path, buf, sizeof(buf));
	cr_assert_not_null(strstr(buf, "10.201.0.2/32"), "allowed-ips replaced: %s", buf);

	/* The operator side, by hand. */
	pid_t p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		setenv("WG_PROCESS_FOREGROUND", "1", 1);
		execlp("ip", "ip", "netns", "exec", t.ns_o, "wireguard-go", t.if_o, (char *)NULL);
		_exit(127);
	}
	t.op_wg_go = p;
	int up = 1;
	for (int i = 0; i < 100 && (up = RUN("ip", "-n", t.ns_o, "link", "show", t.if_o)) != 0; i++)
		sleep_ms(50);
	cr_assert_eq(up, 0, "operator wireguard-go interface");
	snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", t.if_o);
	for (int i = 0; i < 100 && access(path, F_OK) != 0; i++)
		sleep_ms(50);
	char oport[8];
	snprintf(oport, sizeof(oport), "%d", OP_PORT);
	cr_assert_eq(RUN("wg", "set", t.if_o, "private-key", okey, "listen-port", oport), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_o, "address", "add", "fd61:6972::2/64", "dev", t.if_o), 0);
	cr_assert_eq(RUN("ip", "-n", t.ns_o, "link", "set", t.if_o, "up"), 0);

	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		close(ready[0]);
		listener_main(ready[1]);
	}
	t.listener = p;
	close(ready[1]);
	struct pollfd pf = { .fd = ready[0], .events = POLLIN };
	cr_assert_eq(poll(&pf, 1, 5000), 1, "listener ready");
	cr_assert_eq(read(ready[0], buf, 1), 1, "listener ready");
	close(ready[0]);

	/* The operator dials the relay; keepalive 1 sends the first handshake at once. */
	char endpoint[32];
	snprintf(endpoint, sizeof(endpoint), "10.200.0.1:%d", RELAY_PORT);
	cr_assert_eq(RUN("wg", "set", t.if_o, "peer", relay_pub, "endpoint", endpoint,
			 "allowed-ips", "fd61:6972::1/128", "persistent-keepalive", "1"), 0);

	/* A real TCP exchange from the relay namespace across the tunnel. */
	char answer[16];
	cr_assert(tunnel_connect(answer, sizeof(answer)), "connect to [fd61:6972::2]:%d", TCP_PORT);
	cr_assert_str_eq(answer, "pong");
	int status = -1;
	cr_assert_eq(waitpid(t.listener, &status, 0), t.listener);
	t.listener = -1;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "listener status %d", status);

	/* Peer removal: gone from `wg show`. */
	snprintf(path, sizeof(path), "%s/peers", t.dir);
	cr_assert_eq(RUN_IO(NULL, path, "wg", "show", t.if_r, "peers"), 0);
	file_read(path, buf, sizeof(buf));
	cr_assert_str_eq(buf, op_pub, "peer listed before removal");
	cr_assert_eq(wg_peer_remove(t.w, op_pub), 0);
	cr_assert_eq(RUN_IO(NULL, path, "wg", "show", t.if_r, "peers"), 0);
	file_read(path, buf, sizeof(buf));
	cr_assert_str_eq(buf, "", "no peer after removal");
	cr_assert_eq(wg_peer_remove(t.w, op_pub), 0, "removing an absent peer");

	/* Taking over: a second wg_iface_up on the same name recreates the interface. */
	struct wg_iface *again = wg_iface_up(&s, err, sizeof(err));
	cr_assert_not_null(again, "take over: %s", err);
	for (int i = 0; i < 100 && wg_iface_alive(t.w); i++)
		sleep_ms(50);
	cr_assert_eq(wg_iface_alive(t.w), 0, "the first wireguard-go saw its interface go");
	cr_assert_eq(wg_iface_alive(again), 1);
	pid_t wg_go2 = find_wg_go(t.if_r);
	cr_assert_gt(wg_go2, 0);
	cr_assert_neq(wg_go2, wg_go);
	/* Down the new handle first (the old one would see the new interface by name);
	 * then the old handle only has its exited wireguard-go to reap. */
	wg_iface_down(again);
	cr_assert_eq(if_nametoindex(t.if_r), 0, "interface deleted");
	cr_assert_eq(kill(wg_go2, 0), -1, "second wireguard-go stopped and reaped");
	wg_iface_down(t.w);
	t.w = NULL;
	cr_assert_eq(kill(wg_go, 0), -1, "first wireguard-go stopped and reaped");
	cr_assert_eq(errno, ESRCH);
}
