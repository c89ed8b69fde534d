/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash, used for DNS server
 * cookies (RFC 9018) and for hashing names where clients choose the input.
 */
#ifndef AIRDRESS_DNS_SIPHASH_H
#define AIRDRESS_DNS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
