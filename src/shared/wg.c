/*
 * WireGuard interface of the relay: see wg.h.
 *
 * Life of an interface:
 *   wg_iface_up:   [existing WireGuard one deleted] → created (kernel or wireguard-go)
 *                  → key + port set → address added → link up
 *   wg_peer_set / wg_peer_remove, any number of times
 *   wg_iface_down: link deleted → wireguard-go stopped and reaped → freed
 * Every step runs a tool with wg_run(): posix_spawnp with an argv array, stdin and
 * stdout on /dev/null, stderr into a pipe that becomes the error text, killed when it
 * outlives WG_CMD_TIMEOUT_MS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "log.h"
#include "sockaddr.h"
#include "wg.h"

extern char **environ;

struct wg_iface {
	char name[IF_NAMESIZE];
	pid_t wg_go_pid; /* -1: kernel interface */
};

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *const wg_userspace_names[] = { "auto", "no", "yes", NULL };

int wg_key_valid(const char *text)
{
	if (text == NULL || strlen(text) != WG_KEY_B64_LEN || text[WG_KEY_B64_LEN - 1] != '=')
		return 0;
	for (size_t i = 0; i < WG_KEY_B64_LEN - 1; i++)
		if (text[i] == '\0' || strchr(b64_alphabet, text[i]) == NULL)
			return 0;
	/* 43 symbols carry 258 bits; the last symbol's two low bits must be zero. */
	size_t last = (size_t)(strchr(b64_alphabet, text[WG_KEY_B64_LEN - 2]) - b64_alphabet);
	return (last & 3) == 0;
}

/* Interface names go on command lines: keep them to a plain, non-option alphabet. */
static int name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len >= IF_NAMESIZE || name[0] == '-' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_.=+-") == len;
}

/* "ADDR/LEN" with ADDR IPv4 or IPv6 and LEN within its family. */
static int prefix_valid(const char *text)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char buf[sizeof(struct in6_addr)];
	const char *slash = text ? strchr(text, '/') : NULL;
	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
		return 0;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	unsigned max;
	if (inet_pton(AF_INET6, addr, buf) == 1)
		max = 128;
	else if (inet_pton(AF_INET, addr, buf) == 1)
		max = 32;
	else
		return 0;
	const char *p = slash + 1;
	if (*p < '0' || *p > '9' || strlen(p) > 3)
		return 0;
	char *end;
	unsigned long len = strtoul(p, &end, 10);
	return *end == '\0' && len <= max;
}

/* One or more prefixes separated by commas, no spaces: "fd61:6972::2/128,10.0.0.2/32". */
static int prefix_list_valid(const char *text)
{
	char one[INET6_ADDRSTRLEN + 8];
	if (text == NULL || *text == '\0')
		return 0;
	for (;;) {
		size_t n = strcspn(text, ",");
		if (n == 0 || n >= sizeof(one))
			return 0;
		memcpy(one, text, n);
		one[n] = '\0';
		if (!prefix_valid(one))
			return 0;
		if (text[n] == '\0')
			return 1;
		text += n + 1;
	}
}


static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Stop a child at once and reap it (status may be NULL). */
static void kill_reap(pid_t pid, int *status)
{
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
}

/* Wait up to timeout_ms for pid to exit. Returns 1 and sets *status if it did, 0 if
 * it still runs, -errno if it cannot be waited for (not our child). */
static int wait_bounded(pid_t pid, int *status, long timeout_ms)
{
	long long end = (long long)clock_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
		if ((long long)clock_ms() >= end)
			return 0;
		sleep_ms(10);
	}
}

/* The command as one line for messages: "ip link add x type wireguard". */
static void argv_text(char *buf, size_t size, char *const argv[])
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && off < size; i++) {
		int n = snprintf(buf + off, size - off, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Remove the trailing newline and turn inner newlines into "; " — one line for logs. */
static void one_line(char *s)
{
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		s[--len] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ';';
}

/* Append what fd has to buf (up to size - 1 bytes, NUL-terminated, the rest read and
 * dropped). Returns false at EOF or on an error. */
static bool read_some(int fd, char *buf, size_t size, size_t *len)
{
	char tmp[1024];
	ssize_t r = read(fd, tmp, sizeof(tmp));
	if (r < 0 && errno == EINTR)
		return true;
	if (r <= 0)
		return false;
	size_t keep = size - 1 - *len;
	if ((size_t)r < keep)
		keep = (size_t)r;
	memcpy(buf + *len, tmp, keep);
	*len += keep;
	buf[*len] = '\0';
	return true;
}

/*
 * Run argv (searched in PATH), stdin on /dev/null, stderr captured; stdout into
 * stdout_buf (stdout_size bytes, NUL-terminated; what does not fit is dropped) or,
 * without a buffer, to /dev/null. Returns 0 when it exits 0; else an error with
 * err = "COMMAND: STDERR" (err may be NULL). quiet: do not log the failure (probes
 * whose failure is expected).
 */
static int wg_run_capture(char *const argv[], char *stdout_buf, size_t stdout_size, char *err,
			  size_t errlen, bool quiet)
{
	int ret = 0, status = 0;
	int pipefd[2] = { -1, -1 };
	int outfd[2] = { -1, -1 };
	size_t stdout_len = 0;
	pid_t pid = -1;
	bool fa_init = false;
	posix_spawn_file_actions_t fa;
	char out[512] = "";
	size_t out_len = 0;
	char cmd[256];

	argv_text(cmd, sizeof(cmd), argv);
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		ret = -errno;
		goto finish;
	}
	if (stdout_buf != NULL) {
		if (stdout_size == 0 || pipe2(outfd, O_CLOEXEC) != 0) {
			ret = stdout_size == 0 ? -EINVAL : -errno;
			goto finish;
		}
		stdout_buf[0] = '\0';
	}
	ret = -posix_spawn_file_actions_init(&fa);
	if (ret != 0)
		goto finish;
	fa_init = true;
	ret = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (ret == 0)
		ret = outfd[1] >= 0 ? -posix_spawn_file_actions_adddup2(&fa, outfd[1], 1)
				    : -posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (ret == 0)
		ret = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (ret != 0)
		goto finish;
	ret = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (ret != 0) {
		pid = -1;
		snprintf(out, sizeof(out), "%s", strerror(-ret));
		goto finish;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (outfd[1] >= 0) {
		close(outfd[1]);
		outfd[1] = -1;
	}

	/* Read stderr (and stdout) until EOF or the deadline; keep what fits. */
	long long end = (long long)clock_ms() + WG_CMD_TIMEOUT_MS;
	struct pollfd p[2] = { { .fd = pipefd[0], .events = POLLIN },
			       { .fd = outfd[0], .events = POLLIN } };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		long long left = end - (long long)clock_ms();
		if (left <= 0)
			break;
		int n = poll(p, 2, (int)left); /* a negative fd is ignored */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (p[0].revents && !read_some(p[0].fd, out, sizeof(out), &out_len))
			p[0].fd = -1;
		if (p[1].revents && !read_some(p[1].fd, stdout_buf, stdout_size, &stdout_len))
			p[1].fd = -1;
	}
	long left = (long)(end - (long long)clock_ms());
	int w = wait_bounded(pid, &status, left > 0 ? left : 0);
	if (w == 0) {
		kill_reap(pid, &status);
		ret = -ETIMEDOUT;
		snprintf(out + out_len, sizeof(out) - out_len, "%stimed out after %d ms",
			 out_len ? "; " : "", WG_CMD_TIMEOUT_MS);
	} else if (w < 0) {
		ret = w;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
	} else {
		ret = -EIO;
		if (out_len == 0) {
			if (WIFEXITED(status))
				snprintf(out, sizeof(out), "exit status %d", WEXITSTATUS(status));
			else
				snprintf(out, sizeof(out), "killed by signal %d", WTERMSIG(status));
		}
	}
	pid = -1;

finish:
	if (pid > 0)
		kill_reap(pid, NULL);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (outfd[0] >= 0)
		close(outfd[0]);
	if (outfd[1] >= 0)
		close(outfd[1]);
	if (ret != 0) {
		if (out[0] == '\0')
			snprintf(out, sizeof(out), "%s", airdress_strerror(ret));
		one_line(out);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", cmd, out);
		if (!quiet) {
			char q1[300], q2[600];
			log_error("wireguard command failed", "command=%s error=%s",
				  log_quote(q1, sizeof(q1), cmd), log_quote(q2, sizeof(q2), out));
		}
	}
	return ret;
}

static int wg_run(char *const argv[], char *err, size_t errlen, bool quiet)
{
	return wg_run_capture(argv, NULL, 0, err, errlen, quiet);
}

/* Start wireguard-go NAME in the foreground, output on our stderr. Waits until the
 * interface exists. Returns 0 with *pid set, or an error with err filled. */
static int wg_go_start(const char *name, pid_t *pid_out, char *err, size_t errlen)
{
	int ret = 0, status = 0;
	pid_t pid = -1;
	char **envp = NULL;
	bool fa_init = false;
	posix_spawn_file_actions_t fa;
	char *argv[] = { "wireguard-go", (char *)name, NULL };

	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (envp == NULL) {
		ret = -ENOMEM;
		goto finish;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "WG_PROCESS_FOREGROUND=", 22) != 0)
			envp[k++] = environ[i];
	envp[k++] = "WG_PROCESS_FOREGROUND=1";

	ret = -posix_spawn_file_actions_init(&fa);
	if (ret != 0)
		goto finish;
	fa_init = true;
	/* Its log lines (on stdout) join ours on stderr. */
	ret = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (ret == 0)
		ret = -posix_spawn_file_actions_adddup2(&fa, 2, 1);
	if (ret != 0)
		goto finish;
	ret = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	if (ret != 0) {
		pid = -1;
		snprintf(err, errlen, "wireguard-go %s: %s", name, strerror(-ret));
		goto finish;
	}

	long long end = (long long)clock_ms() + WG_START_TIMEOUT_MS;
	for (;;) {
		if (if_nametoindex(name) != 0)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = -1;
			ret = -EIO;
			snprintf(err, errlen, "wireguard-go %s: exited with status %d before "
				 "creating the interface (its output is in the log above)", name,
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			goto finish;
		}
		if ((long long)clock_ms() >= end) {
			ret = -ETIMEDOUT;
			snprintf(err, errlen, "wireguard-go %s: interface not created within %d ms",
				 name, WG_START_TIMEOUT_MS);
			goto finish;
		}
		sleep_ms(20);
	}
	/* The interface appears before the UAPI socket that `wg` needs: wait for it too. */
	char sock[128];
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", name);
	while (access(sock, F_OK) != 0 && (long long)clock_ms() < end)
		sleep_ms(20);
	*pid_out = pid;
	pid = -1;

finish:
	if (pid > 0)
		kill_reap(pid, NULL);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	free(envp);
	return ret;
}

static void wg_go_stop(pid_t pid, const char *name)
{
	int status = 0;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	int w = wait_bounded(pid, &status, WG_STOP_TIMEOUT_MS);
	if (w == 0) {
		log_warn("wireguard-go did not stop, killing it", "interface=%s pid=%d", name,
			 (int)pid);
		kill_reap(pid, &status);
	}
}

/* Wait (bounded) until no interface is called name any more. */
static int wait_gone(const char *name, long timeout_ms)
{
	long long end = (long long)clock_ms() + timeout_ms;
	while (if_nametoindex(name) != 0) {
		if ((long long)clock_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
	return 0;
}

/* An interface called name exists: delete it if it is WireGuard, refuse otherwise. */
static int take_over(const char *name, char *err, size_t errlen)
{
	char *show[] = { "wg", "show", (char *)name, "public-key", NULL };
	char *del[] = { "ip", "link", "del", (char *)name, NULL };
	int ret = wg_run(show, NULL, 0, true);
	if (ret != 0) {
		snprintf(err, errlen, "interface %s exists and is not WireGuard; not touching it",
			 name);
		return AD_EEXISTS;
	}
	log_warn("wireguard interface exists, recreating it", "interface=%s", name);
	ret = wg_run(del, err, errlen, false);
	if (ret != 0)
		return ret;
	ret = wait_gone(name, WG_START_TIMEOUT_MS);
	if (ret != 0) {
		snprintf(err, errlen, "interface %s still present after ip link del", name);
		return ret;
	}
	/* A userspace one's wireguard-go exits a little later and removes its UAPI socket
	 * on the way out; a new wireguard-go must not start before that. A stale socket
	 * (its owner was killed) stays: wireguard-go replaces it, so go on after a while. */
	char sock[128];
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", name);
	for (int i = 0; i < 150 && access(sock, F_OK) == 0; i++)
		sleep_ms(20);
	return 0;
}

struct wg_iface *wg_iface_up(const struct wg_settings *s, char *err, size_t errlen)
{
	struct wg_iface *w = NULL;
	bool created = false;
	char port[8];
	char kerr[256] = "";
	int ret = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL || !name_valid(s->interface) || s->private_key_file == NULL ||
	    s->private_key_file[0] == '\0' || s->listen_port == 0 || s->listen_port > 65535 ||
	    (s->address != NULL && !prefix_valid(s->address)) || s->userspace < WG_MODE_AUTO ||
	    s->userspace > WG_MODE_USERSPACE) {
		snprintf(err, errlen, "invalid wireguard settings (interface name, key file, "
			 "port 1-65535, address ADDR/LEN or mode)");
		ret = AD_EPARSE;
		goto finish;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		ret = -ENOMEM;
		goto finish;
	}
	snprintf(w->name, sizeof(w->name), "%s", s->interface);
	w->wg_go_pid = -1;

	if (if_nametoindex(w->name) != 0) {
		ret = take_over(w->name, err, errlen);
		if (ret != 0)
			goto finish;
	}

	if (s->userspace != WG_MODE_USERSPACE) {
		char *add[] = { "ip", "link", "add", w->name, "type", "wireguard", NULL };
		ret = wg_run(add, kerr, sizeof(kerr), true);
		if (ret == 0) {
			created = true;
		} else if (s->userspace == WG_MODE_KERNEL) {
			snprintf(err, errlen, "%s", kerr);
			ret = AD_EKERNEL;
			goto finish;
		} else {
			char q[300];
			log_info("kernel wireguard unavailable, using wireguard-go",
				 "interface=%s reason=%s", w->name, log_quote(q, sizeof(q), kerr));
		}
	}
	if (!created) {
		ret = wg_go_start(w->name, &w->wg_go_pid, err, errlen);
		if (ret != 0)
			goto finish;
		created = true;
	}

	snprintf(port, sizeof(port), "%u", s->listen_port);
	char *set[] = { "wg", "set", w->name, "private-key", (char *)s->private_key_file,
			"listen-port", port, NULL };
	ret = wg_run(set, err, errlen, false);
	if (ret != 0)
		goto finish;
	if (s->address != NULL) {
		char *addr[] = { "ip", "address", "add", (char *)s->address, "dev", w->name, NULL };
		ret = wg_run(addr, err, errlen, false);
		if (ret != 0)
			goto finish;
	}
	char *up[] = { "ip", "link", "set", w->name, "up", NULL };
	ret = wg_run(up, err, errlen, false);
	if (ret != 0)
		goto finish;
	log_info("wireguard interface up", "interface=%s mode=%s port=%u address=%s", w->name,
		 w->wg_go_pid > 0 ? "userspace" : "kernel", s->listen_port,
		 s->address ? s->address : "none");

finish:
	if (ret != 0) {
		if (created) {
			char *del[] = { "ip", "link", "del", w->name, NULL };
			wg_run(del, NULL, 0, true);
		}
		if (w != NULL)
			wg_go_stop(w->wg_go_pid, w->name);
		free(w);
		w = NULL;
	}
	return w;
}

int wg_peer_set(struct wg_iface *w, const char *public_key_b64, const char *allowed_ip)
{
	if (w == NULL || !wg_key_valid(public_key_b64) || !prefix_list_valid(allowed_ip))
		return AD_EPARSE;
	char *argv[] = { "wg", "set", w->name, "peer", (char *)public_key_b64, "allowed-ips",
			 (char *)allowed_ip, NULL };
	int ret = wg_run(argv, NULL, 0, false);
	if (ret == 0)
		log_info("wireguard peer set", "interface=%s peer=%s allowed_ips=%s", w->name,
			 public_key_b64, allowed_ip);
	return ret;
}

int wg_peer_set_endpoint(struct wg_iface *w, const char *public_key_b64, const char *allowed_ip,
			 const char *endpoint, unsigned keepalive_s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (w == NULL || !wg_key_valid(public_key_b64) || !prefix_list_valid(allowed_ip) ||
	    endpoint == NULL || sockaddr_parse(endpoint, &ss, &len) != 0 || keepalive_s > 65535)
		return AD_EPARSE;
	char keepalive[8];
	snprintf(keepalive, sizeof(keepalive), "%u", keepalive_s);
	char *argv[] = { "wg", "set", w->name, "peer", (char *)public_key_b64, "allowed-ips",
			 (char *)allowed_ip, "endpoint", (char *)endpoint, "persistent-keepalive",
			 keepalive, NULL };
	int ret = wg_run(argv, NULL, 0, false);
	if (ret == 0)
		log_info("wireguard peer set", "interface=%s peer=%s allowed_ips=%s endpoint=%s "
			 "keepalive=%u", w->name, public_key_b64, allowed_ip, endpoint, keepalive_s);
	return ret;
}

int wg_peer_remove(struct wg_iface *w, const char *public_key_b64)
{
	if (w == NULL || !wg_key_valid(public_key_b64))
		return AD_EPARSE;
	char *argv[] = { "wg", "set", w->name, "peer", (char *)public_key_b64, "remove", NULL };
	int ret = wg_run(argv, NULL, 0, false);
	if (ret == 0)
		log_info("wireguard peer removed", "interface=%s peer=%s", w->name,
			 public_key_b64);
	return ret;
}

int wg_peer_stats(struct wg_iface *w, const char *public_key_b64, struct wg_peer_stats *out)
{
	if (w == NULL || out == NULL || !wg_key_valid(public_key_b64))
		return AD_EPARSE;
	/* One line per peer, tab-separated: public-key preshared-key endpoint allowed-ips
	 * latest-handshake transfer-rx transfer-tx persistent-keepalive. The first line is
	 * the interface's own and holds its private key: the buffer is wiped after use. */
	char dump[8192];
	char *argv[] = { "wg", "show", w->name, "dump", NULL };
	int ret = wg_run_capture(argv, dump, sizeof(dump), NULL, 0, true);
	if (ret != 0) {
		explicit_bzero(dump, sizeof(dump));
		return ret;
	}
	ret = -ENOENT;
	char *save = NULL;
	char *line = strtok_r(dump, "\n", &save);
	for (line = line ? strtok_r(NULL, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[8], *fs = NULL;
		size_t n = 0;
		for (char *t = strtok_r(line, "\t", &fs); t != NULL && n < 8; t = strtok_r(NULL, "\t", &fs))
			f[n++] = t;
		if (n != 8 || strcmp(f[0], public_key_b64) != 0)
			continue;
		char *end1, *end2, *end3;
		memset(out, 0, sizeof(*out));
		out->latest_handshake = strtoll(f[4], &end1, 10);
		out->rx_bytes = strtoull(f[5], &end2, 10);
		out->tx_bytes = strtoull(f[6], &end3, 10);
		if (*end1 || *end2 || *end3) {
			ret = AD_EPARSE;
			break;
		}
		if (strcmp(f[2], "(none)") != 0)
			snprintf(out->endpoint, sizeof(out->endpoint), "%s", f[2]);
		ret = 0;
		break;
	}
	explicit_bzero(dump, sizeof(dump));
	return ret;
}

int wg_iface_alive(const struct wg_iface *w)
{
	if (w == NULL || if_nametoindex(w->name) == 0)
		return 0;
	if (w->wg_go_pid > 0) {
		/* kill(pid, 0) does not reap; a zombie still answers, so ask waitid. */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)w->wg_go_pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
			return 0;
		if (si.si_pid != 0)
			return 0;
	}
	return 1;
}

bool wg_iface_userspace(const struct wg_iface *w)
{
	return w != NULL && w->wg_go_pid > 0;
}

void wg_iface_down(struct wg_iface *w)
{
	if (w == NULL)
		return;
	if (if_nametoindex(w->name) != 0) {
		char *del[] = { "ip", "link", "del", w->name, NULL };
		wg_run(del, NULL, 0, false);
	}
	wg_go_stop(w->wg_go_pid, w->name);
	log_info("wireguard interface down", "interface=%s", w->name);
	free(w);
}
