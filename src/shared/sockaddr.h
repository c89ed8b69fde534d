/*
 * Sockaddr: socket addresses to and from the text form used in configs and logs.
 *
 *   "127.0.0.1:9153"          IPv4, dotted quad, then a port
 *   "[::1]:9153"              IPv6 in brackets, then a port
 *   "[fe80::1%eth0]:9153"     IPv6 with a zone (interface name or number)
 *
 * Addresses are numeric only: host names are never resolved (no DNS lookups at
 * config time, no blocking). Ports are decimal 0..65535; 0 asks the kernel for an
 * ephemeral port when binding.
 */
#ifndef AIRDRESS_SOCKADDR_H
#define AIRDRESS_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Room for the longest text sockaddr_format() writes, NUL included:
 * "[" address "%" zone "]:" port. */
#define SOCKADDR_STRLEN (INET6_ADDRSTRLEN + IF_NAMESIZE + 10)

/* Parse "ADDR:PORT" ("1.2.3.4:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53") into *ss
 * (zeroed first) and its length into *len. Returns 0, AD_EPARSE for text that is
 * not such an address (a host name, a missing or out-of-range port, an IPv6 address
 * without brackets, an unknown zone), or -EINVAL for NULL arguments. */
int sockaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Parse a bare address without a port ("203.0.113.10", "2001:db8::10", brackets
 * optional for IPv6) and give it the port `port`. Same returns as sockaddr_parse(). */
int sockaddr_parse_ip(const char *text, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len);

/* Write sa as "1.2.3.4:53" or "[2001:db8::1]:53" (with "%zone" when it has a scope
 * id) into buf, NUL-terminated; SOCKADDR_STRLEN bytes are always enough. Returns 0,
 * AD_ENOSPACE when size is too small (buf then holds ""), -EAFNOSUPPORT for a family
 * other than AF_INET/AF_INET6, -EINVAL for NULL arguments or a short len. */
int sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Write only the address of sa, "1.2.3.4" or "2001:db8::1" (no brackets, port or
 * zone), into buf: for prefixes ("ADDR/128") and headers. INET6_ADDRSTRLEN bytes are
 * always enough. Returns 0, AD_ENOSPACE, -EAFNOSUPPORT or -EINVAL as sockaddr_format(). */
int sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t size);

/* true when a and b are of the same family (AF_INET or AF_INET6) and hold the same
 * address; ports, flow labels and scope ids are not compared. */
bool sockaddr_equal_ip(const struct sockaddr *a, const struct sockaddr *b);

/* Write the address of sa as a prefix, "10.0.0.0/8" or "fd61:6972::2/64" (for
 * WireGuard allowed-ips and interface addresses); prefixlen < 0: the address alone,
 * /32 or /128. Returns as sockaddr_format_ip(). */
int sockaddr_format_prefix(const struct sockaddr *sa, int prefixlen, char *buf, size_t size);

/* The port of an AF_INET or AF_INET6 address in host order; 0 for other families. */
uint16_t sockaddr_port(const struct sockaddr *sa);

#endif
