/*
 * benchtime.h - the clocks of the benchmarks: wall time (monotonic) and the
 * process's CPU time, in seconds.
 */
#ifndef MLIP_BENCHTIME_H
#define MLIP_BENCHTIME_H

#include <time.h>

static inline double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
