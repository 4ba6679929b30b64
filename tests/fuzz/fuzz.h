/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target defines LLVMFuzzerTestOneInput and hands the bytes to one
 * reader exactly as a command would (a FILE stream, or a path for the readers
 * that take one). The same object links either with libFuzzer (make fuzz,
 * clang) or with replay.c (make check, any C compiler), which feeds it every
 * file of the seed corpus and of the past findings.
 *
 * A reader may refuse an input only with the statuses its contract names;
 * anything else (in particular MLIP_ENOMEM: an allocation sized by the file
 * rather than by its bytes) is a finding, reported through abort() so that
 * both drivers stop on it.
 */
#ifndef MLIP_FUZZ_H
#define MLIP_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "structure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A read-only stream over the input (fmemopen refuses a zero size). */
static inline FILE *fuzz_stream(const uint8_t *data, size_t size)
{
	if (size == 0)
		return fopen("/dev/null", "rb");
	return fmemopen((void *)data, size, "rb");
}

/*
 * The input as a file with a path, for readers that open files themselves:
 * an anonymous memory file named through /proc/self/fd. Returns the
 * descriptor (close it after use) and fills path.
 */
static inline int fuzz_file(const uint8_t *data, size_t size, char path[64])
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			perror("write");
			abort();
		}
		off += (size_t)n;
	}
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

/* Abort unless rc is a success (>= 0), ok1 or ok2. */
static inline void fuzz_expect(const char *what, int rc, const struct mlip_err *err, int ok1,
			       int ok2)
{
	if (rc >= 0 || rc == ok1 || rc == ok2)
		return;
	fprintf(stderr, "%s: status %d (%s) is not allowed for bad input: %s\n", what, rc,
		mlip_strerror(rc), err ? err->msg : "");
	abort();
}

/*
 * The whole of a structure-file target: read data with a whole-file reader
 * (extxyz, mlearn JSON, n2p2 input.data) as if it were the file name, and
 * abort unless it succeeds or says MLIP_EDATA.
 */
typedef int (*fuzz_list_reader)(FILE *f, const char *path, struct mlip_structure_list *out,
				struct mlip_err *err);
static inline int fuzz_read_list(const uint8_t *data, size_t size, const char *what,
				 const char *name, fuzz_list_reader read)
{
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	FILE *f = fuzz_stream(data, size);
	if (!f)
		abort();
	mlip_structure_list_init(&l);
	int rc = read(f, name, &l, &err);
	fuzz_expect(what, rc, &err, MLIP_EDATA, MLIP_EDATA);
	mlip_structure_list_release(&l);
	fclose(f);
	return 0;
}

#endif
