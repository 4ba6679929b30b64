/*
 * collate.h - what mlip-collate does: structures -> batch streams, and batch
 * streams -> JSON Lines or extxyz (--dump).
 */
#ifndef MLIP_COLLATE_H
#define MLIP_COLLATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "extxyz.h"
#include "structio.h"

struct mlip_collate_opts {
	double cutoff;               /* Å, > 0 */
	const char *const *inputs;   /* (n_inputs) paths, "-" = stdin */
	size_t n_inputs;
	enum mlip_format format;
	const char *dataset;         /* for structures that name none; NULL = "default" */
	size_t batch_size;           /* structures per batch (when max_atoms == 0) */
	size_t max_atoms;            /* > 0: greedy packing up to this many atoms */
	int shuffle;
	uint64_t seed;
	unsigned exclude;            /* MLIP_HAS_* bits to drop */
	double split;                /* 0 < split < 1: that fraction goes to outputs[0] */
	const char *outputs[2];      /* outputs[1] only with split */
	int progress;                /* print progress to stderr */
	struct mlip_label_keys keys; /* where extxyz input keeps its labels (extxyz.h) */
};

void mlip_collate_opts_init(struct mlip_collate_opts *o);

/*
 * Parse a comma-separated list of label names (energy, forces, stress) into
 * MLIP_HAS_* bits. MLIP_EINVAL naming the unknown key.
 */
int mlip_parse_exclude(const char *list, unsigned *bits, struct mlip_err *err);

/*
 * Read every input, build batches and write the stream(s). Outputs are written
 * atomically (PATH.tmp then rename), so a failure leaves no partial file.
 * Statistics (structures, atoms, edges, batches per output) are logged at
 * MLIP_LOG_INFO when o->progress is set.
 */
int mlip_collate_run(const struct mlip_collate_opts *o, struct mlip_err *err);

enum mlip_dump_format { MLIP_DUMP_JSON, MLIP_DUMP_EXTXYZ, MLIP_DUMP_N2P2 };

/*
 * Read batch streams (paths, "-" = stdin) and write every system to out as
 * one JSON object per line (keys sid, dataset, natoms, numbers, positions,
 * cell, pbc, energy, forces, stress, fixed, edges; absent labels null; edges
 * [i, j, s1, s2, s3] local to the system) or as extxyz frames.
 */
int mlip_dump_run(const char *const *inputs, size_t n_inputs, enum mlip_dump_format fmt,
		  FILE *out, struct mlip_err *err);

#endif
