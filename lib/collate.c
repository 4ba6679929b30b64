/*
 * collate.c - structures to batch streams, and batch streams back to text.
 *
 * Collation reads every input first (shuffling and splitting need them all),
 * then packs batches in order: a fixed number of structures per batch, or
 * greedily up to --max-atoms atoms. The split assigns a seeded random subset
 * of round(split * n) structures to the first output; each output then keeps
 * input order unless shuffled (with its own stream of the same seed).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collate.h"
#include "batch.h"
#include "extxyz.h"
#include "jsonl.h"
#include "n2p2data.h"
#include "log.h"
#include "outfile.h"
#include "rng.h"
#include "banned.h"

void mlip_collate_opts_init(struct mlip_collate_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->batch_size = 8;
	o->outputs[0] = "-";
}

int mlip_parse_exclude(const char *list, unsigned *bits, struct mlip_err *err)
{
	static const struct { const char *name; unsigned bit; } keys[] = {
		{ "energy", MLIP_HAS_ENERGY }, { "forces", MLIP_HAS_FORCES }, { "stress", MLIP_HAS_STRESS },
	};
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		int found = 0;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strlen(keys[k].name) == n && strncmp(keys[k].name, p, n) == 0) {
				*bits |= keys[k].bit;
				found = 1;
			}
		if (!found && n > 0)
			return mlip_err_set(err, MLIP_EINVAL,
					    "cannot exclude '%.*s': the labels are energy, forces, stress",
					    (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
	return MLIP_OK;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct progress {
	int on;
	double start, last;
	size_t done;
};

static void progress_tick(struct progress *p, size_t n, const char *what)
{
	p->done += n;
	if (!p->on)
		return;
	double t = now_seconds();
	if (t - p->last < 0.5)
		return;
	p->last = t;
	fprintf(stderr, "\rcollate: %zu %s (%.0f/s)", p->done, what, p->done / fmax(t - p->start, 1e-9));
}

static void progress_end(struct progress *p)
{
	if (p->on && p->last > p->start)
		fputc('\n', stderr);
}

/*
 * A batch stream being written: structures are taken one at a time and
 * written a batch at a time, so a large input never needs to be in memory
 * whole unless shuffling or splitting asks for it.
 */
struct sink {
	const struct mlip_collate_opts *o;
	const char *path;
	struct mlip_outfile out;
	struct mlip_batch_writer w;
	struct mlip_batch b;
	struct mlip_structure_list group;    /* the batch being filled (owned) */
	const struct mlip_structure **ptrs;  /* (group.alloc) */
	size_t group_atoms;
	size_t n_structures, n_batches, n_atoms, n_edges;
	size_t n_labels[3];                  /* structures written with energy, forces, stress */
	struct progress *prog;
};

static int sink_open(struct sink *k, const struct mlip_collate_opts *o, const char *path,
		     struct progress *prog, struct mlip_err *err)
{
	int rc;
	memset(k, 0, sizeof(*k));
	k->o = o;
	k->path = path;
	k->prog = prog;
	mlip_batch_init(&k->b);
	mlip_structure_list_init(&k->group);
	if ((rc = mlip_outfile_open(&k->out, path, err)))
		return rc;
	if ((rc = mlip_batch_writer_open(&k->w, k->out.f, path, o->cutoff, err))) {
		mlip_outfile_abort(&k->out);
		return rc;
	}
	return MLIP_OK;
}

static int sink_flush(struct sink *k, struct mlip_err *err)
{
	size_t m = k->group.n;
	int rc;
	if (m == 0)
		return MLIP_OK;
	const struct mlip_structure **p = realloc(k->ptrs, m * sizeof(*p));
	if (!p)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	k->ptrs = p;
	for (size_t i = 0; i < m; i++)
		p[i] = &k->group.items[i];
	if ((rc = mlip_batch_collate(&k->b, p, m, k->o->cutoff, k->o->exclude, k->o->dataset, err)) ||
	    (rc = mlip_batch_write(&k->w, &k->b, err)))
		return rc;
	k->n_structures += m;
	k->n_batches++;
	k->n_atoms += k->b.n_atoms;
	k->n_edges += k->b.n_edges;
	progress_tick(k->prog, m, "structures");
	for (size_t i = 0; i < m; i++)
		mlip_structure_release(&k->group.items[i]);
	k->group.n = 0;
	k->group_atoms = 0;
	return MLIP_OK;
}

/* Take s (it is re-initialised), writing the current batch first when s does not fit. */
static int sink_take(struct sink *k, struct mlip_structure *s, struct mlip_err *err)
{
	const struct mlip_collate_opts *o = k->o;
	int rc;
	if (o->max_atoms && s->natoms > o->max_atoms)
		return mlip_err_set(err, MLIP_EINVAL, "%s: %zu atoms do not fit in --max-atoms %zu",
				    s->id ? s->id : "structure", s->natoms, o->max_atoms);
	int full = o->max_atoms ? k->group_atoms + s->natoms > o->max_atoms
				: k->group.n == o->batch_size;
	if (full && (rc = sink_flush(k, err)))
		return rc;
	k->group_atoms += s->natoms;
	unsigned has = s->has & ~o->exclude;
	k->n_labels[0] += (has & MLIP_HAS_ENERGY) != 0;
	k->n_labels[1] += (has & MLIP_HAS_FORCES) != 0;
	k->n_labels[2] += (has & MLIP_HAS_STRESS) != 0;
	return mlip_structure_list_take(&k->group, s, err);
}

static void sink_release(struct sink *k)
{
	mlip_batch_release(&k->b);
	mlip_structure_list_release(&k->group);
	free(k->ptrs);
}

static int sink_close(struct sink *k, struct mlip_err *err)
{
	int rc = sink_flush(k, err);
	if (!rc)
		rc = mlip_batch_writer_close(&k->w, err);
	if (rc) {
		mlip_batch_writer_release(&k->w);
		mlip_outfile_abort(&k->out);
		sink_release(k);
		progress_end(k->prog);
		return rc;
	}
	mlip_batch_writer_release(&k->w);
	rc = mlip_outfile_commit(&k->out, err);
	if (!rc && k->o->progress) {
		progress_end(k->prog);
		k->prog->last = k->prog->start;
		mlip_log(MLIP_LOG_INFO, "%s: %zu structure%s (%zu with an energy, %zu with forces, "
			 "%zu with a stress), %zu atoms, %zu edges in %zu batch%s", k->path,
			 k->n_structures, k->n_structures == 1 ? "" : "s", k->n_labels[0], k->n_labels[1],
			 k->n_labels[2], k->n_atoms, k->n_edges, k->n_batches,
			 k->n_batches == 1 ? "" : "es");
	}
	sink_release(k);
	return rc;
}

static void sink_abort(struct sink *k)
{
	progress_end(k->prog);
	mlip_batch_writer_release(&k->w);
	mlip_outfile_abort(&k->out);
	sink_release(k);
}

/* Write structures items[idx[0..n)] into one stream (they are taken from l). */
static int write_stream(const struct mlip_collate_opts *o, const char *path,
			struct mlip_structure_list *l, const size_t *idx, size_t n,
			struct progress *prog, struct mlip_err *err)
{
	struct sink k;
	int rc = sink_open(&k, o, path, prog, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = sink_take(&k, &l->items[idx[i]], err))) {
			sink_abort(&k);
			return rc;
		}
	return sink_close(&k, err);
}

/*
 * After an extxyz file: say which label-like keys and columns were not read
 * as labels, and the option that would read each.
 */
static void warn_unused(const char *path, const struct mlip_unused_labels *u, size_t frames)
{
	for (size_t k = 0; k < u->n; k++) {
		const char *name = u->item[k].name, *opt = "--energy-key";
		if (u->item[k].column)
			opt = "--forces-key";
		else if (strcasestr(name, "virial"))
			opt = "--virial-key";
		else if (strcasestr(name, "stress"))
			opt = "--stress-key";
		mlip_log(MLIP_LOG_WARN, "%s: %s '%s' (in %zu of %zu frames) is not read as a label; "
			 "%s %s reads it", path, u->item[k].column ? "the column" : "the info key", name,
			 u->item[k].frames, frames, opt, name);
	}
}

static int has_keys(const struct mlip_label_keys *k)
{
	return k->energy || k->forces || k->stress || k->virial;
}

/*
 * Read every structure of one input, handing each to take(ctx, s): extxyz a
 * frame at a time with the label keys, the other formats whole.
 */
static int read_input(const struct mlip_collate_opts *o, const char *path,
		      int (*take)(void *ctx, struct mlip_structure *s, struct mlip_err *err),
		      void *ctx, struct mlip_err *err)
{
	int rc;
	if (mlip_input_format(path, o->format) == MLIP_FORMAT_EXTXYZ) {
		struct mlip_extxyz_reader r;
		struct mlip_structure s;
		FILE *f;
		if ((rc = mlip_open_input(&f, path, err)))
			return rc;
		const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
		mlip_extxyz_reader_init(&r, f, name);
		mlip_extxyz_reader_set_keys(&r, &o->keys);
		mlip_structure_init(&s);
		while ((rc = mlip_extxyz_read_next(&r, &s, err)) == 1)
			if ((rc = take(ctx, &s, err)))
				break;
		if (rc == 0)
			warn_unused(name, &r.unused, r.frame);
		mlip_structure_release(&s);
		mlip_extxyz_reader_release(&r);
		mlip_close_input(f);
		return rc;
	}
	if (has_keys(&o->keys))
		mlip_log(MLIP_LOG_WARN, "%s: the label keys apply to extxyz input, not to this file", path);
	struct mlip_structure_list l;
	mlip_structure_list_init(&l);
	rc = mlip_read_structures(path, o->format, &l, err);
	for (size_t j = 0; j < l.n && !rc; j++)
		rc = take(ctx, &l.items[j], err);
	mlip_structure_list_release(&l);
	return rc;
}

static int take_into_sink(void *ctx, struct mlip_structure *s, struct mlip_err *err)
{
	return sink_take(ctx, s, err);
}

static int take_into_list(void *ctx, struct mlip_structure *s, struct mlip_err *err)
{
	return mlip_structure_list_take(ctx, s, err);
}

/* No shuffle, no split: extxyz inputs are read a frame at a time. */
static int collate_streaming(const struct mlip_collate_opts *o, struct progress *prog,
			     struct mlip_err *err)
{
	struct sink k;
	int rc = sink_open(&k, o, o->outputs[0], prog, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < o->n_inputs && !rc; i++) {
		const char *path = o->inputs[i];
		size_t before = k.n_structures + k.group.n;
		rc = read_input(o, path, take_into_sink, &k, err);
		if (!rc && k.n_structures + k.group.n == before)
			mlip_log(MLIP_LOG_WARN, "%s: no structures", path);
	}
	if (rc) {
		sink_abort(&k);
		return rc;
	}
	return sink_close(&k, err);
}

static int check_opts(const struct mlip_collate_opts *o, struct mlip_err *err)
{
	if (!(o->cutoff > 0) || !isfinite(o->cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "the cutoff must be a positive number of Å");
	if (!o->max_atoms && !o->batch_size)
		return mlip_err_set(err, MLIP_EINVAL, "the batch size must be at least 1");
	if (o->split != 0 && !(o->split > 0 && o->split < 1))
		return mlip_err_set(err, MLIP_EINVAL, "--split takes a fraction between 0 and 1, not %g",
				    o->split);
	if (o->split != 0 && !o->outputs[1])
		return mlip_err_set(err, MLIP_EINVAL, "--split needs two outputs: -o TRAIN -o VAL");
	if (o->split == 0 && o->outputs[1])
		return mlip_err_set(err, MLIP_EINVAL, "a second -o is only for --split");
	if (o->outputs[1] && strcmp(o->outputs[0], "-") == 0 && strcmp(o->outputs[1], "-") == 0)
		return mlip_err_set(err, MLIP_EINVAL, "both split outputs cannot be standard output");
	return MLIP_OK;
}

int mlip_collate_run(const struct mlip_collate_opts *o, struct mlip_err *err)
{
	struct mlip_structure_list l;
	struct progress prog = { 0 };
	size_t *idx = NULL;
	int rc;

	if ((rc = check_opts(o, err)))
		return rc;
	prog.on = o->progress && isatty(STDERR_FILENO);
	prog.start = prog.last = now_seconds();
	if (!o->shuffle && o->split == 0)
		return collate_streaming(o, &prog, err);
	mlip_structure_list_init(&l);
	for (size_t k = 0; k < o->n_inputs; k++) {
		size_t before = l.n;
		if ((rc = read_input(o, o->inputs[k], take_into_list, &l, err)))
			goto done;
		progress_tick(&prog, 0, "structures");
		if (l.n == before)
			mlip_log(MLIP_LOG_WARN, "%s: no structures", o->inputs[k]);
	}
	prog.done = 0;
	if (!(idx = malloc((l.n ? l.n : 1) * sizeof(*idx)))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t k = 0; k < l.n; k++)
		idx[k] = k;

	size_t n_first = l.n;
	if (o->split > 0) {
		/* Choose the first output's members with the seed, then restore input
		 * order inside each part so that a split alone does not shuffle. */
		struct mlip_rng r;
		mlip_rng_seed2(&r, o->seed, 1);
		mlip_rng_shuffle(&r, idx, l.n);
		n_first = (size_t)llround(o->split * (double)l.n);
		unsigned char *in_first = calloc(l.n ? l.n : 1, 1);
		if (!in_first) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t k = 0; k < n_first; k++)
			in_first[idx[k]] = 1;
		size_t a = 0, b = n_first;
		for (size_t k = 0; k < l.n; k++) {
			if (in_first[k])
				idx[a++] = k;
			else
				idx[b++] = k;
		}
		free(in_first);
	}
	if (o->shuffle) {
		struct mlip_rng r;
		mlip_rng_seed2(&r, o->seed, 2);
		mlip_rng_shuffle(&r, idx, n_first);
		mlip_rng_shuffle(&r, idx + n_first, l.n - n_first);
	}
	if ((rc = write_stream(o, o->outputs[0], &l, idx, n_first, &prog, err)))
		goto done;
	if (o->split > 0)
		rc = write_stream(o, o->outputs[1], &l, idx + n_first, l.n - n_first, &prog, err);
done:
	free(idx);
	mlip_structure_list_release(&l);
	return rc;
}

/* Structure k of b as one JSON line (mlip-batch(5), DUMP). */
static int dump_json(FILE *out, const struct mlip_batch *b, size_t k, struct mlip_err *err)
{
	size_t a0 = b->atom_start[k], n = b->natoms[k];
	size_t e0 = b->edge_start[k], ne = b->nedges[k];
	json_t *o = mlip_jsonl_new(NULL), *z = json_array(), *fixed = json_array(), *edges = json_array();
	mlip_jsonl_str(o, "sid", b->id[k]);
	mlip_jsonl_str(o, "dataset", b->dataset[k]);
	mlip_jsonl_int(o, "natoms", (long long)n);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(z, json_integer(b->numbers[a0 + i]));
		json_array_append_new(fixed, json_boolean(b->fixed[a0 + i]));
	}
	mlip_jsonl_set(o, "numbers", z);
	mlip_jsonl_set(o, "positions", mlip_jsonl_reals(b->positions + 3 * a0, 3 * n));
	mlip_jsonl_set(o, "cell", mlip_jsonl_reals(b->cell + 9 * k, 9));
	mlip_jsonl_set(o, "pbc", json_pack("[bbb]", b->pbc[3 * k], b->pbc[3 * k + 1], b->pbc[3 * k + 2]));
	if (b->has[k] & MLIP_HAS_ENERGY)
		mlip_jsonl_real(o, "energy", b->energy[k]);
	else
		mlip_jsonl_null(o, "energy");
	mlip_jsonl_set(o, "forces", b->has[k] & MLIP_HAS_FORCES ? mlip_jsonl_reals(b->forces + 3 * a0, 3 * n)
							       : json_null());
	mlip_jsonl_set(o, "stress", b->has[k] & MLIP_HAS_STRESS ? mlip_jsonl_reals(b->stress + 9 * k, 9)
							       : json_null());
	mlip_jsonl_set(o, "fixed", fixed);
	for (size_t e = e0; e < e0 + ne; e++)
		json_array_append_new(edges, json_pack("[IIiii]", (json_int_t)(b->edge_i[e] - (long)a0),
						       (json_int_t)(b->edge_j[e] - (long)a0),
						       b->edge_shift[3 * e], b->edge_shift[3 * e + 1],
						       b->edge_shift[3 * e + 2]));
	mlip_jsonl_set(o, "edges", edges);
	return mlip_jsonl_write(out, o, err);
}

int mlip_dump_run(const char *const *inputs, size_t n_inputs, enum mlip_dump_format fmt,
		  FILE *out, struct mlip_err *err)
{
	struct mlip_batch b;
	struct mlip_structure s;
	int rc = MLIP_OK;
	mlip_batch_init(&b);
	mlip_structure_init(&s);
	for (size_t k = 0; k < n_inputs && rc == MLIP_OK; k++) {
		struct mlip_batch_reader r;
		FILE *f;
		const char *name = strcmp(inputs[k], "-") == 0 ? "<stdin>" : inputs[k];
		if ((rc = mlip_open_input(&f, inputs[k], err)))
			break;
		if ((rc = mlip_batch_reader_open(&r, f, name, err)) == MLIP_OK) {
			while ((rc = mlip_batch_read_next(&r, &b, err)) == 1) {
				for (size_t sys = 0; sys < b.n_systems && rc == 1; sys++) {
					if (fmt == MLIP_DUMP_JSON) {
						int r2 = dump_json(out, &b, sys, err);
						if (r2)
							rc = r2;
					} else {
						int r2 = mlip_batch_get_structure(&b, sys, &s, err);
						if (!r2)
							r2 = fmt == MLIP_DUMP_N2P2 ? mlip_n2p2data_write(out, &s, err)
										   : mlip_extxyz_write(out, &s, NULL, err);
						if (r2)
							rc = r2;
					}
				}
				if (rc == 1 && ferror(out))
					rc = mlip_err_set(err, MLIP_EIO, "write error on output");
				if (rc != 1)
					break;
			}
			mlip_batch_reader_release(&r);
		}
		mlip_close_input(f);
	}
	mlip_batch_release(&b);
	mlip_structure_release(&s);
	return rc < 0 ? rc : MLIP_OK;
}
