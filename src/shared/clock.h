/*
 * The monotonic clock in milliseconds, for deadlines and intervals (never for
 * wall-clock time). One definition for every module.
 */
#ifndef AIRDRESS_CLOCK_H
#define AIRDRESS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
