/*
 * mlearn.c - reader for the mlearn benchmark JSON files.
 *
 * Layout (one JSON array): [{"structure": {"lattice": {"matrix": [[3]x3]},
 * "sites": [{"species": [{"element": "Si", "occu": 1}], "xyz": [3], ...}]},
 * "outputs": {"energy": E, "forces": [[3]...], "virial_stress": [6]}, ...}].
 * pymatgen Structures are periodic along all three axes. Positions come from
 * the Cartesian "xyz" (not recomputed from "abc") so that they are exactly
 * what the DFT code saw.
 *
 * The document is parsed whole (jansson has no streaming parser), which
 * costs about 17 times the file's size in memory; hence the size limit in
 * mlearn.h, checked as the bytes arrive, and the atom limit per structure
 * (MLIP_MAX_ATOMS), checked before the structure is allocated.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mlearn.h"
#include "elements.h"
#include "banned.h"

/* 1 eV/Å³ = 160.21766208 GPa; 1 kBar = 0.1 GPa. */
#define MLEARN_KBAR_PER_EV_A3 1602.1766208

void mlip_mlearn_stress(double stress[9], const double v[6])
{
	/* VASP order xx yy zz xy yz zx, positive = compressive. */
	static const int row[6] = { 0, 1, 2, 0, 1, 2 }, col[6] = { 0, 1, 2, 1, 2, 0 };
	for (int k = 0; k < 6; k++) {
		double s = -v[k] / MLEARN_KBAR_PER_EV_A3;
		stress[3 * row[k] + col[k]] = s;
		stress[3 * col[k] + row[k]] = s;
	}
}

/* Read n numbers from a JSON array into out; 0 on success. */
static int get_numbers(const json_t *arr, double *out, size_t n)
{
	if (!json_is_array(arr) || json_array_size(arr) != n)
		return -1;
	for (size_t k = 0; k < n; k++) {
		const json_t *v = json_array_get(arr, k);
		if (!json_is_number(v))
			return -1;
		out[k] = json_number_value(v);
	}
	return 0;
}

static int read_one(const json_t *item, struct mlip_structure *s, struct mlip_err *err)
{
	const json_t *st = json_object_get(item, "structure");
	const json_t *matrix = json_object_get(json_object_get(st, "lattice"), "matrix");
	const json_t *sites = json_object_get(st, "sites");
	const json_t *out = json_object_get(item, "outputs");
	int rc;

	if (!json_is_object(st))
		return mlip_err_set(err, MLIP_EDATA, "missing \"structure\" object");
	if (!json_is_array(matrix) || json_array_size(matrix) != 3)
		return mlip_err_set(err, MLIP_EDATA, "\"lattice.matrix\" is not a 3x3 array");
	if (!json_is_array(sites) || json_array_size(sites) == 0)
		return mlip_err_set(err, MLIP_EDATA, "\"sites\" is missing or empty");
	size_t n = json_array_size(sites);
	if (n > MLIP_MAX_ATOMS)
		return mlip_err_set(err, MLIP_EDATA, "\"sites\" has %zu atoms, over the limit of %u per structure",
				    n, MLIP_MAX_ATOMS);
	if ((rc = mlip_structure_alloc(s, n, err)))
		return rc;
	for (int k = 0; k < 3; k++)
		if (get_numbers(json_array_get(matrix, k), s->cell + 3 * k, 3))
			return mlip_err_set(err, MLIP_EDATA, "\"lattice.matrix\" row %d is not 3 numbers", k + 1);
	s->pbc[0] = s->pbc[1] = s->pbc[2] = 1;

	for (size_t i = 0; i < n; i++) {
		const json_t *site = json_array_get(sites, i);
		const json_t *species = json_object_get(site, "species");
		if (!json_is_array(species) || json_array_size(species) != 1)
			return mlip_err_set(err, MLIP_EDATA,
					    "site %zu: expected exactly one species (no partial occupancy)", i + 1);
		const json_t *sp = json_array_get(species, 0);
		const char *el = json_string_value(json_object_get(sp, "element"));
		const json_t *occu = json_object_get(sp, "occu");
		if (!el)
			return mlip_err_set(err, MLIP_EDATA, "site %zu: species has no \"element\"", i + 1);
		if (!(s->numbers[i] = mlip_element_z(el)))
			return mlip_err_set(err, MLIP_EDATA, "site %zu: unknown element '%s'", i + 1, el);
		if (occu && (!json_is_number(occu) || json_number_value(occu) != 1.0))
			return mlip_err_set(err, MLIP_EDATA, "site %zu: occupancy is not 1", i + 1);
		if (get_numbers(json_object_get(site, "xyz"), s->positions + 3 * i, 3))
			return mlip_err_set(err, MLIP_EDATA, "site %zu: \"xyz\" is not 3 numbers", i + 1);
	}

	if (json_is_object(out)) {
		const json_t *e = json_object_get(out, "energy");
		const json_t *f = json_object_get(out, "forces");
		const json_t *v = json_object_get(out, "virial_stress");
		if (e && !json_is_null(e)) {
			if (!json_is_number(e))
				return mlip_err_set(err, MLIP_EDATA, "\"outputs.energy\" is not a number");
			s->energy = json_number_value(e);
			s->has |= MLIP_HAS_ENERGY;
		}
		if (f && !json_is_null(f)) {
			if (!json_is_array(f) || json_array_size(f) != n)
				return mlip_err_set(err, MLIP_EDATA,
						    "\"outputs.forces\" has %zu rows for %zu sites",
						    json_is_array(f) ? json_array_size(f) : 0, n);
			for (size_t i = 0; i < n; i++)
				if (get_numbers(json_array_get(f, i), s->forces + 3 * i, 3))
					return mlip_err_set(err, MLIP_EDATA,
							    "\"outputs.forces\" row %zu is not 3 numbers", i + 1);
			s->has |= MLIP_HAS_FORCES;
		}
		if (v && !json_is_null(v)) {
			double virial[6];
			if (get_numbers(v, virial, 6))
				return mlip_err_set(err, MLIP_EDATA, "\"outputs.virial_stress\" is not 6 numbers");
			mlip_mlearn_stress(s->stress, virial);
			s->has |= MLIP_HAS_STRESS;
		}
	}
	return mlip_structure_validate(s, err);
}

/* Feeds jansson from f, stopping at MLIP_MLEARN_MAX_BYTES. */
struct source {
	FILE *f;
	size_t total;
	int over;
};

static size_t read_source(void *buf, size_t n, void *arg)
{
	struct source *src = arg;
	if (src->total >= MLIP_MLEARN_MAX_BYTES) {
		/* one byte more tells a file of exactly the limit from a longer one */
		int c = getc(src->f);
		if (c == EOF)
			return 0;
		src->over = 1;
		return (size_t)-1;
	}
	if (n > MLIP_MLEARN_MAX_BYTES - src->total)
		n = MLIP_MLEARN_MAX_BYTES - src->total;
	size_t got = fread(buf, 1, n, src->f);
	src->total += got;
	return got == 0 && ferror(src->f) ? (size_t)-1 : got;
}

int mlip_mlearn_read(FILE *f, const char *path, struct mlip_structure_list *list,
		     struct mlip_err *err)
{
	json_error_t jerr;
	struct source src = { f, 0, 0 };
	json_t *root = json_load_callback(read_source, &src, JSON_DECODE_ANY, &jerr);
	int rc = MLIP_OK;
	if (!root) {
		if (ferror(f))
			return mlip_err_set(err, MLIP_EIO, "%s: read error", path);
		if (src.over)
			return mlip_err_set(err, MLIP_EDATA,
					    "%s: offset %llu: the file is larger than the limit of %llu "
					    "bytes for mlearn JSON, which is read whole (extxyz is read "
					    "frame by frame)", path,
					    (unsigned long long)MLIP_MLEARN_MAX_BYTES,
					    (unsigned long long)MLIP_MLEARN_MAX_BYTES);
		return mlip_err_set(err, MLIP_EDATA, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
				    jerr.column, jerr.text);
	}
	if (!json_is_array(root)) {
		json_decref(root);
		return mlip_err_set(err, MLIP_EDATA, "%s: expected a JSON array of configurations", path);
	}
	size_t n = json_array_size(root);
	for (size_t k = 0; k < n && rc == MLIP_OK; k++) {
		struct mlip_structure s;
		char id[1024];
		mlip_structure_init(&s);
		rc = read_one(json_array_get(root, k), &s, err);
		if (rc) {
			mlip_err_prefix(err, rc, "%s: structure %zu: ", path, k);
		} else {
			snprintf(id, sizeof(id), "%s:%zu", path, k);
			if (!(rc = mlip_structure_set_id(&s, id, err)))
				rc = mlip_structure_list_take(list, &s, err);
		}
		mlip_structure_release(&s);
	}
	json_decref(root);
	return rc;
}
