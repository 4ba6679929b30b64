/*
 * batchstore.c - batches read on demand from indexed .mlb files (batchstore.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batchstore.h"
#include "banned.h"

void mlip_batch_store_init(struct mlip_batch_store *s)
{
	memset(s, 0, sizeof(*s));
	mlip_batch_list_init(&s->whole);
}

void mlip_batch_store_release(struct mlip_batch_store *s)
{
	for (size_t k = 0; k < s->n_files; k++) {
		mlip_batch_reader_release(&s->files[k].r);
		if (s->files[k].f)
			fclose(s->files[k].f);
		free(s->files[k].path);
	}
	free(s->files);
	free(s->ext);
	free(s->file);
	free(s->slot);
	mlip_batch_list_release(&s->whole);
	mlip_batch_store_init(s);
}

static int nomem(struct mlip_err *err)
{
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
}

/* Room for one more batch in the per-batch arrays. */
static int grow(struct mlip_batch_store *s, size_t *alloc, struct mlip_err *err)
{
	if (s->n < *alloc)
		return MLIP_OK;
	size_t a = *alloc ? 2 * *alloc : 64;
	struct mlip_batch_extent *ext = realloc(s->ext, a * sizeof(*ext));
	if (ext)
		s->ext = ext;
	uint32_t *file = realloc(s->file, a * sizeof(*file));
	if (file)
		s->file = file;
	size_t *slot = realloc(s->slot, a * sizeof(*slot));
	if (slot)
		s->slot = slot;
	if (!ext || !file || !slot)
		return nomem(err);
	*alloc = a;
	return MLIP_OK;
}

static void count(struct mlip_batch_store *s, size_t systems, size_t atoms)
{
	if (systems > s->max_systems)
		s->max_systems = systems;
	if (atoms > s->max_atoms)
		s->max_atoms = atoms;
	s->total_systems += systems;
	s->total_atoms += atoms;
}

static int check_cutoff(struct mlip_batch_store *s, const char *path, double cutoff,
			struct mlip_err *err)
{
	if (s->cutoff != 0 && cutoff != s->cutoff)
		return mlip_err_set(err, MLIP_EDATA,
				    "%s: cutoff %g Å differs from the %g Å of the batches read before",
				    path, cutoff, s->cutoff);
	s->cutoff = cutoff;
	return MLIP_OK;
}

/* Read file fi (f, or standard input) whole into s->whole. */
static int read_whole(struct mlip_batch_store *s, size_t fi, FILE *f, size_t *alloc,
		      struct mlip_err *err)
{
	struct mlip_batch_list l;
	const char *path = s->files[fi].path;
	int rc;
	mlip_batch_list_init(&l);
	rc = mlip_batch_list_read(&l, f, strcmp(path, "-") ? path : "<stdin>", err);
	if (!rc && l.n)
		rc = check_cutoff(s, path, l.cutoff, err);
	for (size_t k = 0; !rc && k < l.n; k++) {
		if ((rc = grow(s, alloc, err)))
			break;
		count(s, l.items[k].n_systems, l.items[k].n_atoms);
		memset(&s->ext[s->n], 0, sizeof(s->ext[s->n]));
		s->file[s->n] = (uint32_t)fi;
		s->slot[s->n] = s->whole.n;
		if ((rc = mlip_batch_list_take(&s->whole, &l.items[k], err)))
			break;
		s->n++;
	}
	mlip_batch_list_release(&l);
	return rc;
}

/* Index the regular file fi: the extents of its batches, over concatenated streams. */
static int index_file(struct mlip_batch_store *s, size_t fi, size_t *alloc, struct mlip_err *err)
{
	struct mlip_batch_store_file *F = &s->files[fi];
	int rc;
	if ((rc = mlip_batch_reader_open(&F->r, F->f, F->path, err)) ||
	    (rc = check_cutoff(s, F->path, F->r.cutoff, err)))
		return rc;
	for (;;) {
		struct mlip_batch_extent x;
		if ((rc = grow(s, alloc, err)))
			return rc;
		rc = mlip_batch_reader_skim(&F->r, &x, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if ((rc = mlip_batch_reader_next_stream(&F->r, err)) < 0)
				return rc;
			if (rc == 0)
				return MLIP_OK;
			continue;
		}
		count(s, (size_t)x.n_systems, (size_t)x.n_atoms);
		s->ext[s->n] = x;
		s->file[s->n] = (uint32_t)fi;
		s->slot[s->n] = SIZE_MAX;
		s->n++;
	}
}

int mlip_batch_store_open(struct mlip_batch_store *s, char *const *paths, size_t n, int seek,
			  struct mlip_err *err)
{
	size_t alloc = s->n;
	int rc = MLIP_OK;
	struct mlip_batch_store_file *files = realloc(s->files, (s->n_files + n + 1) * sizeof(*files));
	if (!files)
		return nomem(err);
	s->files = files;
	for (size_t k = 0; k < n && !rc; k++) {
		size_t fi = s->n_files;
		struct mlip_batch_store_file *F = &s->files[fi];
		memset(F, 0, sizeof(*F));
		if (!(F->path = strdup(paths[k])))
			return nomem(err);
		s->n_files++;
		if (!strcmp(paths[k], "-")) {
			rc = read_whole(s, fi, stdin, &alloc, err);
			continue;
		}
		if (!(F->f = fopen(paths[k], "rb")))
			return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", paths[k],
					    strerror(errno));
		struct stat st;
		if (!seek || fstat(fileno(F->f), &st) || !S_ISREG(st.st_mode)) {
			rc = read_whole(s, fi, F->f, &alloc, err);
			fclose(F->f);
			F->f = NULL;
		} else {
			rc = index_file(s, fi, &alloc, err);
			/* one file open at a time: a set of thousands of files must not run out of
			 * descriptors (get reopens the file it needs) */
			fclose(F->f);
			F->f = F->r.f = NULL;
		}
	}
	return rc;
}

/* Make file fi the open one (the previous one is closed). */
static int open_file(struct mlip_batch_store *s, size_t fi, struct mlip_err *err)
{
	struct mlip_batch_store_file *F = &s->files[fi];
	if (F->f)
		return MLIP_OK;
	if (s->open) {
		struct mlip_batch_store_file *O = &s->files[s->open - 1];
		fclose(O->f);
		O->f = O->r.f = NULL;
		s->open = 0;
	}
	if (!(F->f = fopen(F->path, "rb")))
		return mlip_err_set(err, MLIP_EIO, "cannot open '%s' again: %s", F->path, strerror(errno));
	F->r.f = F->f;
	s->open = fi + 1;
	return MLIP_OK;
}

const struct mlip_batch *mlip_batch_store_get(struct mlip_batch_store *s, size_t k,
					      struct mlip_batch *scratch, struct mlip_err *err)
{
	if (k >= s->n) {
		mlip_err_set(err, MLIP_EINVAL, "batch %zu of %zu does not exist", k + 1, s->n);
		return NULL;
	}
	if (s->slot[k] != SIZE_MAX)
		return &s->whole.items[s->slot[k]];
	if (open_file(s, s->file[k], err) ||
	    mlip_batch_read_extent(&s->files[s->file[k]].r, &s->ext[k], scratch, err))
		return NULL;
	s->decoded++;
	return scratch;
}

size_t mlip_batch_store_systems(const struct mlip_batch_store *s, size_t k)
{
	return s->slot[k] != SIZE_MAX ? s->whole.items[s->slot[k]].n_systems
				      : (size_t)s->ext[k].n_systems;
}

size_t mlip_batch_store_atoms(const struct mlip_batch_store *s, size_t k)
{
	return s->slot[k] != SIZE_MAX ? s->whole.items[s->slot[k]].n_atoms
				      : (size_t)s->ext[k].n_atoms;
}
