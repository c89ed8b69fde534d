/*
 * airdress-echo: a TCP and UDP echo server on the shared runtime, for the loop
 * integration tests. Not a product binary: built under build/tests, never installed.
 *
 *   airdress-echo [-w WORKERS] [-i IDLE_MS] [-d DRAIN_MS] ADDR:PORT
 *
 * Prints "port=N" on stdout once serving (useful with port 0). SIGTERM or SIGINT
 * drains and exits 0.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo_ops.h"
#include "error.h"
#include "log.h"
#include "loop.h"

static int parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	int port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct loop_config cfg = { .pin = true };
	struct echo_settings settings = { 0 };
	int opt;
	while ((opt = getopt(argc, argv, "w:i:d:")) != -1) {
		switch (opt) {
		case 'w':
			cfg.workers = (unsigned)atoi(optarg);
			break;
		case 'i':
			settings.idle_timeout_ms = (uint64_t)atoll(optarg);
			break;
		case 'd':
			cfg.drain_timeout_ms = (uint64_t)atoll(optarg);
			break;
		default:
			fprintf(stderr, "usage: airdress-echo [-w N] [-i IDLE_MS] [-d DRAIN_MS] ADDR:PORT\n");
			return 2;
		}
	}
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (optind >= argc || parse_addr(argv[optind], &ss, &sslen) != 0) {
		fprintf(stderr, "airdress-echo: need ADDR:PORT\n");
		return 2;
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	int err = 0;
	struct loop *l = loop_create(&cfg, NULL, NULL, &err);
	if (l == NULL) {
		log_error("loop create failed", "error=\"%s\"", airdress_strerror(err));
		return 1;
	}
	int tcp = loop_add_tcp(l, (struct sockaddr *)&ss, sslen, &echo_tcp_ops, &settings);
	if (tcp < 0) {
		log_error("listen failed", "address=%s error=\"%s\"", argv[optind], airdress_strerror(tcp));
		loop_destroy(l);
		return 1;
	}
	uint16_t port = loop_listener_port(l, tcp);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	int udp = loop_add_udp(l, (struct sockaddr *)&ss, sslen, &echo_udp_ops, NULL);
	if (udp < 0 || (err = loop_start(l)) != 0) {
		log_error("start failed", "error=\"%s\"", airdress_strerror(udp < 0 ? udp : err));
		loop_destroy(l);
		return 1;
	}
	printf("port=%u\n", port);
	fflush(stdout);
	log_info("serving", "port=%u workers=%u", port, loop_workers(l));

	int sig = 0;
	sigwait(&sigs, &sig);
	log_info("draining", "signal=%d", sig);
	loop_drain(l);
	loop_join(l);
	struct loop_stats st;
	loop_stats(l, &st);
	log_info("stopped", "accepted=%lu closed=%lu udp_in=%lu udp_out=%lu",
		 (unsigned long)st.accepted, (unsigned long)st.closed,
		 (unsigned long)st.udp_in, (unsigned long)st.udp_out);
	loop_destroy(l);
	return 0;
}
