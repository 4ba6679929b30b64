/*
 * replay.c - run a fuzz target's LLVMFuzzerTestOneInput over files, without
 * libFuzzer: the regression half of the fuzzing, for `make check` with any C
 * compiler. Arguments are files or directories (read recursively, in name
 * order, hidden files skipped). Each input gets at most MLIP_FUZZ_TIMEOUT
 * seconds (default 10, the libFuzzer timeout of `make fuzz`): a slower one is
 * a finding, as an abort inside the target is. Prints one summary line:
 *     fuzz replay extxyz: 57 inputs, slowest 0.012 s (tests/fuzz/corpus/...)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current = "";
static size_t n_inputs;
static double slowest;
static char slowest_name[4096];

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "fuzz replay: timeout on ";
	if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, current, strlen(current)) < 0 ||
	    write(2, "\n", 1) < 0)
		_exit(1);
	_exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run_file(const char *path, unsigned timeout)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *b = realloc(buf, cap);
			if (!b) {
				fprintf(stderr, "%s: out of memory\n", path);
				exit(1);
			}
			buf = b;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	/* A copy of exactly n bytes, so that an over-read is caught by the heap checkers. */
	uint8_t *data = malloc(n ? n : 1);
	if (!data)
		exit(1);
	memcpy(data, buf, n);
	free(buf);
	current = path;
	double t0 = now();
	alarm(timeout);
	LLVMFuzzerTestOneInput(data, n);
	alarm(0);
	double dt = now() - t0;
	free(data);
	n_inputs++;
	if (dt >= slowest) {
		slowest = dt;
		snprintf(slowest_name, sizeof(slowest_name), "%s", path);
	}
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path, unsigned timeout)
{
	struct stat st;
	if (stat(path, &st)) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, timeout);
	struct dirent **list;
	int n = scandir(path, &list, NULL, by_name), rc = 0;
	if (n < 0) {
		perror(path);
		return 1;
	}
	for (int k = 0; k < n; k++) {
		if (list[k]->d_name[0] != '.' && !rc) {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, list[k]->d_name);
			rc = run_path(sub, timeout);
		}
		free(list[k]);
	}
	free(list);
	return rc;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	const char *t = getenv("MLIP_FUZZ_TIMEOUT");
	unsigned timeout = t && atoi(t) > 0 ? (unsigned)atoi(t) : 10;
	if (argc < 3) {
		fprintf(stderr, "usage: %s NAME FILE|DIR...\n", argv[0]);
		return 2;
	}
	signal(SIGALRM, on_alarm);
	for (int k = 2; k < argc; k++)
		if (run_path(argv[k], timeout))
			return 1;
	if (n_inputs == 0) {
		fprintf(stderr, "fuzz replay %s: no inputs\n", name);
		return 1;
	}
	printf("fuzz replay %s: %zu inputs, slowest %.3f s (%s)\n", name, n_inputs, slowest,
	       slowest_name);
	return 0;
}
