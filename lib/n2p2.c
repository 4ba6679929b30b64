/*
 * n2p2.c - write a potential as an n2p2 potential directory (the mapping is
 * in n2p2.h).
 *
 * What n2p2 does with the files, as read from its sources (libnnp: Mode,
 * Element, SymFnc*, NeuralNetwork, Settings):
 *   - input.nn is read line by line; '#' and '!' start comments; each
 *     keyword except symfunction_short, atom_energy and element_nodes_short
 *     may appear once.
 *   - elements are indexed in the order of their atomic numbers (ElementMap
 *     sorts them); weights.%03d.data is named by the atomic number.
 *   - each element's functions are sorted (operator< of SymFncExpRad,
 *     SymFncExpAngn, SymFncExpAngw) before anything else uses their index.
 *   - scaling.data: lines not starting with '#' are consumed in element
 *     order, numSymmetryFunctions lines per element, each
 *     "element sf min max mean sigma" (1-based indices); an empty line
 *     would be an error, so the file has none.
 *   - weights files: the first column of every line not starting with '#',
 *     fed to NeuralNetwork::setConnections.
 * Numbers are written with %.17g (or n2p2's own %24.16E for the weights),
 * which read back as the same doubles.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "n2p2.h"
#include "elements.h"
#include "log.h"
#include "outfile.h"
#include "banned.h"

/* n2p2's ElementMap knows H .. No. */
#define N2P2_MAX_Z 102
/* n2p2's CutoffFunction::CT_COS: f(x) = ½[cos(πx) + 1], x = r/rc with alpha 0. */
#define N2P2_CUTOFF_COS 1

/* ---- range ----------------------------------------------------------------- */

int mlip_n2p2_range_init(struct mlip_n2p2_range *r, const struct mlip_model *m,
			 struct mlip_err *err)
{
	memset(r, 0, sizeof(*r));
	mlip_env_init(&r->env);
	r->n_sf = m->desc.n_sf;
	r->min = malloc((r->n_sf + 1) * sizeof(double));
	r->max = malloc((r->n_sf + 1) * sizeof(double));
	if (!r->min || !r->max) {
		mlip_n2p2_range_release(r);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < r->n_sf; k++) {
		r->min[k] = INFINITY;
		r->max[k] = -INFINITY;
	}
	return MLIP_OK;
}

void mlip_n2p2_range_release(struct mlip_n2p2_range *r)
{
	free(r->min);
	free(r->max);
	free(r->G);
	free(r->row);
	mlip_env_release(&r->env);
	memset(r, 0, sizeof(*r));
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (*cap >= need)
		return 0;
	void *q = realloc(*p, need * size);
	if (!q)
		return -1;
	*p = q;
	*cap = need;
	return 0;
}

int mlip_n2p2_range_add(struct mlip_n2p2_range *r, const struct mlip_model *m,
			const struct mlip_batch *b, struct mlip_err *err)
{
	const struct mlip_descriptor *d = &m->desc;
	int rc;
	MLIP_ASSERT(r->n_sf == d->n_sf);
	if ((rc = mlip_env_build(&r->env, d, b, err)))
		return rc;
	size_t N = r->env.n_atoms, total = 0;
	if (grow((void **)&r->row, &r->cap_row, N + 1, sizeof(size_t)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t i = 0; i < N; i++) {
		r->row[i] = total;
		total += d->dim[r->env.species[i]];
	}
	if (grow((void **)&r->G, &r->cap_g, total + 1, sizeof(double)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if ((rc = mlip_descriptor_forward(r->G, r->row, d, &r->env, err)))
		return rc;
	for (size_t i = 0; i < N; i++) {
		size_t e = (size_t)r->env.species[i];
		const double *g = r->G + r->row[i];
		double *lo = r->min + d->sf_start[e], *hi = r->max + d->sf_start[e];
		for (size_t k = 0; k < d->dim[e]; k++) {
			if (g[k] < lo[k])
				lo[k] = g[k];
			if (g[k] > hi[k])
				hi[k] = g[k];
		}
		r->atoms[e]++;
	}
	return MLIP_OK;
}

int mlip_n2p2_range_load(struct mlip_n2p2_range *r, const struct mlip_model *m, const char *path,
			 struct mlip_err *err)
{
	struct mlip_batch_reader rd;
	struct mlip_batch b;
	FILE *f;
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	int rc = mlip_open_input(&f, path, err);
	if (rc)
		return rc;
	mlip_batch_init(&b);
	if ((rc = mlip_batch_reader_open(&rd, f, name, err)) == MLIP_OK) {
		while ((rc = mlip_batch_read_next(&rd, &b, err)) == 1)
			if ((rc = mlip_n2p2_range_add(r, m, &b, err))) {
				mlip_err_prefix(err, rc, "%s: ", name);
				break;
			}
	}
	mlip_batch_reader_release(&rd);
	mlip_batch_release(&b);
	mlip_close_input(f);
	return rc < 0 ? rc : MLIP_OK;
}

/* ---- checks ---------------------------------------------------------------- */

static const char *head_name(const struct mlip_potential *p, size_t h)
{
	return p->model->config.heads[h];
}

/* The head's denormalisation (scale 1, shift 0 without a normalizer). */
static void head_affine(const struct mlip_potential *p, size_t h, double *scale, double *shift)
{
	*scale = 1;
	*shift = 0;
	if (h < p->tasks.n_heads) {
		*scale = p->tasks.heads[h].scale;
		*shift = p->tasks.heads[h].shift;
	}
}

static char activation_code(enum mlip_activation a)
{
	switch (a) {
	case MLIP_ACT_TANH: return 't';
	case MLIP_ACT_SOFTPLUS: return 'p';
	default: return 0;
	}
}

int mlip_n2p2_check(const struct mlip_potential *p, size_t h, struct mlip_err *err)
{
	const struct mlip_model *m = p->model;
	const struct mlip_model_config *c = &m->config;
	if (h >= c->n_heads)
		return mlip_err_set(err, MLIP_EINVAL, "head %zu: the model has %zu head%s", h,
				    c->n_heads, c->n_heads == 1 ? "" : "s");
	if (m->mtp)
		return mlip_err_set(err, MLIP_EDATA, "the model's descriptors are a moment tensor "
				    "basis, which n2p2 has no type for (n2p2 takes symmetry functions)");
	if (!activation_code(c->activation)) {
		const char *name = mlip_activation_name(c->activation);
		return mlip_err_set(err, MLIP_EDATA,
				    "n2p2 has no '%s' activation (its hidden-layer activations "
				    "include tanh and softplus, which export; SiLU is not among them)",
				    name ? name : "?");
	}
	if (c->n_hidden == 0)
		return mlip_err_set(err, MLIP_EDATA,
				    "the model has no hidden layer; n2p2 networks have at least one");
	double scale, shift;
	head_affine(p, h, &scale, &shift);
	if (shift != 0)
		return mlip_err_set(err, MLIP_EDATA,
				    "head '%s' adds %.17g eV to every structure's energy (its "
				    "normalizer's mean); n2p2 adds constants per atom only "
				    "(mean_energy, atom_energy), so this head cannot be exported "
				    "exactly; train it with a normalizer of mean 0",
				    head_name(p, h), shift);
	if (!(scale > 0) || !isfinite(scale))
		return mlip_err_set(err, MLIP_EDATA, "head '%s' has the energy scale %g; n2p2 needs "
				    "a positive one (conv_energy = 1/scale)", head_name(p, h), scale);
	for (size_t e = 0; e < c->n_elements; e++) {
		int z = c->elements[e];
		if (z > N2P2_MAX_Z)
			return mlip_err_set(err, MLIP_EDATA,
					    "element %s (Z %d): n2p2 knows elements up to No (Z %d)",
					    mlip_element_symbol(z), z, N2P2_MAX_Z);
		if (m->desc.dim[e] == 0)
			return mlip_err_set(err, MLIP_EDATA,
					    "element %s has no symmetry functions; n2p2 needs at "
					    "least one per element", mlip_element_symbol(z));
	}
	for (size_t k = 0; k < m->desc.n_sf; k++) {
		int kind = m->desc.sf[k].kind;
		if (kind != MLIP_SF_G2 && kind != MLIP_SF_G3 && kind != MLIP_SF_G9)
			return mlip_err_set(err, MLIP_EDATA,
					    "symmetry function %zu has kind %d, which n2p2 lacks", k,
					    kind);
	}
	return MLIP_OK;
}

/* ---- order ----------------------------------------------------------------- */

/* A function with the keys n2p2 sorts by; ties only between identical functions. */
struct sf_key {
	int type;
	double rc, eta, rs, zeta, lambda;
	int e1, e2;        /* n2p2 element indices, e1 <= e2 */
	size_t idx;        /* mlip function index */
};

static int cmp_d(double a, double b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

/* SymFncExpRad / SymFncExpAngn / SymFncExpAngw::operator< (same ec, cutoff type and alpha). */
static int cmp_sf(const void *pa, const void *pb)
{
	const struct sf_key *a = pa, *b = pb;
	int c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if ((c = cmp_d(a->rc, b->rc)) || (c = cmp_d(a->eta, b->eta)) || (c = cmp_d(a->rs, b->rs)))
		return c;
	if (a->type != MLIP_SF_G2 &&
	    ((c = cmp_d(a->zeta, b->zeta)) || (c = cmp_d(a->lambda, b->lambda))))
		return c;
	if (a->e1 != b->e1)
		return a->e1 < b->e1 ? -1 : 1;
	if (a->type != MLIP_SF_G2 && a->e2 != b->e2)
		return a->e2 < b->e2 ? -1 : 1;
	/* identical functions: any order gives the same network (equal inputs) */
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Model element indices in n2p2's order (by atomic number). */
static void element_order(const struct mlip_model *m, size_t *ord, int *n2p2_index)
{
	size_t S = m->config.n_elements;
	for (size_t e = 0; e < S; e++)
		ord[e] = e;
	for (size_t a = 1; a < S; a++)
		for (size_t b = a; b > 0 && m->config.elements[ord[b]] < m->config.elements[ord[b - 1]]; b--) {
			size_t t = ord[b];
			ord[b] = ord[b - 1];
			ord[b - 1] = t;
		}
	for (size_t k = 0; k < S; k++)
		n2p2_index[ord[k]] = (int)k;
}

/* keys (dim[e]) of element e's functions in n2p2's sorted order. */
static void sorted_functions(const struct mlip_model *m, size_t e, const int *n2p2_index,
			     struct sf_key *keys)
{
	const struct mlip_descriptor *d = &m->desc;
	for (size_t k = 0; k < d->dim[e]; k++) {
		const struct mlip_sf *f = &d->sf[d->sf_start[e] + k];
		struct sf_key *q = &keys[k];
		memset(q, 0, sizeof(*q));
		q->type = f->kind;
		q->rc = f->rc;
		q->eta = f->eta;
		q->rs = f->rs;
		q->e1 = n2p2_index[d->species[f->z1]];
		if (f->kind != MLIP_SF_G2) {
			q->zeta = f->zeta;
			q->lambda = f->lambda;
			q->e2 = n2p2_index[d->species[f->z2]];
			if (q->e1 > q->e2) {
				int t = q->e1;
				q->e1 = q->e2;
				q->e2 = t;
			}
		}
		q->idx = k;
	}
	qsort(keys, d->dim[e], sizeof(*keys), cmp_sf);
}

/* ---- files ----------------------------------------------------------------- */

static const double *tensor(const struct mlip_model *m, int z, const char *what, size_t count,
			    struct mlip_err *err)
{
	char name[MLIP_TENSOR_NAME_MAX];
	snprintf(name, sizeof(name), "%s.%s", mlip_element_symbol(z), what);
	const struct mlip_tensor *t = mlip_tensors_find(&m->tensors, name);
	if (!t || t->count != count) {
		mlip_err_set(err, MLIP_EDATA, "the model has no tensor '%s' of %zu values", name, count);
		return NULL;
	}
	return m->params + t->offset;
}

static int open_out(struct mlip_outfile *o, const char *dir, const char *name,
		    struct mlip_err *err)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);
	if (!path)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	snprintf(path, n, "%s/%s", dir, name);
	int rc = mlip_outfile_open(o, path, err);
	free(path);
	return rc;
}

static int close_out(struct mlip_outfile *o, int rc, struct mlip_err *err)
{
	if (!rc && ferror(o->f))
		rc = mlip_err_set(err, MLIP_EIO, "%s: write error", o->path);
	if (rc) {
		mlip_outfile_abort(o);
		return rc;
	}
	return mlip_outfile_commit(o, err);
}

static void sf_line(FILE *f, const struct mlip_sf *s)
{
	const char *c = mlip_element_symbol(s->z), *a = mlip_element_symbol(s->z1);
	if (s->kind == MLIP_SF_G2) {
		fprintf(f, "symfunction_short %s 2 %s %.17g %.17g %.17g\n", c, a, s->eta, s->rs, s->rc);
		return;
	}
	fprintf(f, "symfunction_short %s %d %s %s %.17g %.17g %.17g %.17g %.17g\n", c, s->kind, a,
		mlip_element_symbol(s->z2), s->eta, s->lambda, s->zeta, s->rc, s->rs);
}

static int write_input_nn(const struct mlip_potential *p, size_t h, const char *dir,
			  const size_t *ord, struct sf_key *const *keys, struct mlip_err *err)
{
	const struct mlip_model *m = p->model;
	const struct mlip_model_config *c = &m->config;
	const struct mlip_descriptor *d = &m->desc;
	size_t S = c->n_elements;
	double scale, shift;
	head_affine(p, h, &scale, &shift);
	struct mlip_outfile o;
	int rc = open_out(&o, dir, "input.nn", err);
	if (rc)
		return rc;
	FILE *f = o.f;
	fprintf(f, "# n2p2 potential written by mlip %s: head '%s' of a %s model.\n", MLIP_VERSION,
		head_name(p, h), c->name);
	fputs("# Units are mlip's: Angstrom, eV (n2p2 has none of its own; in LAMMPS use metal\n"
	      "# units with cflength 1 and cfenergy 1).\n", f);
	fprintf(f, "number_of_elements %zu\nelements", S);
	for (size_t k = 0; k < S; k++)
		fprintf(f, " %s", mlip_element_symbol(c->elements[ord[k]]));
	fputc('\n', f);
	if (h < p->tasks.n_heads && p->tasks.heads[h].has_elref) {
		fputs("# element references (eV per atom)\n", f);
		for (size_t k = 0; k < S; k++) {
			int z = c->elements[ord[k]];
			fprintf(f, "atom_energy %s %.17g\n", mlip_element_symbol(z),
				p->tasks.heads[h].elref[z]);
		}
	}
	if (scale != 1) {
		fputs("# the head's energy scale: E = sum of network outputs / conv_energy\n", f);
		fprintf(f, "mean_energy 0\nconv_energy %.17g\nconv_length 1\n", 1 / scale);
	}
	fprintf(f, "cutoff_type %d 0.0\n", N2P2_CUTOFF_COS);
	fputs("scale_symmetry_functions_sigma\nscale_min_short 0.0\nscale_max_short 1.0\n", f);
	fprintf(f, "global_hidden_layers_short %zu\nglobal_nodes_short", c->n_hidden);
	for (size_t l = 0; l < c->n_hidden; l++)
		fprintf(f, " %zu", c->hidden[l]);
	fputs("\nglobal_activation_short", f);
	for (size_t l = 0; l < c->n_hidden; l++)
		fprintf(f, " %c", activation_code(c->activation));
	fputs(" l\n", f);
	for (size_t k = 0; k < S; k++) {
		size_t e = ord[k];
		fprintf(f, "# %s: %zu symmetry functions, in n2p2's order\n",
			mlip_element_symbol(c->elements[e]), d->dim[e]);
		for (size_t j = 0; j < d->dim[e]; j++)
			sf_line(f, &d->sf[d->sf_start[e] + keys[e][j].idx]);
	}
	return close_out(&o, MLIP_OK, err);
}

static int write_scaling(const struct mlip_model *m, const char *dir, const size_t *ord,
			 struct sf_key *const *keys, const struct mlip_n2p2_range *range,
			 struct mlip_err *err)
{
	const struct mlip_model_config *c = &m->config;
	const struct mlip_descriptor *d = &m->desc;
	struct mlip_outfile o;
	int rc = open_out(&o, dir, "scaling.data", err);
	if (rc)
		return rc;
	FILE *f = o.f;
	fputs("# symmetry function scaling for n2p2, written by mlip " MLIP_VERSION "\n"
	      "# element sf Gmin Gmax Gmean Gsigma (indices from 1, n2p2's order)\n", f);
	if (!range)
		fputs("# no data range was measured: Gmin 0, Gmax DBL_MAX (no extrapolation "
		      "warnings)\n", f);
	for (size_t k = 0; k < c->n_elements && !rc; k++) {
		size_t e = ord[k];
		int z = c->elements[e];
		size_t D = d->dim[e];
		const double *mean = tensor(m, z, "sf_mean", D, err), *sd = tensor(m, z, "sf_std", D, err);
		if (!mean || !sd) {
			rc = MLIP_EDATA;
			break;
		}
		int seen = range && range->atoms[e] > 0;
		if (range && !seen)
			mlip_log(MLIP_LOG_WARN, "n2p2: no %s atom in the range data; scaling.data "
				 "gets no extrapolation range for it", mlip_element_symbol(z));
		for (size_t j = 0; j < D; j++) {
			size_t i = keys[e][j].idx;
			double lo = 0, hi = DBL_MAX;
			if (seen) {
				lo = range->min[d->sf_start[e] + i];
				hi = range->max[d->sf_start[e] + i];
			}
			fprintf(f, "%zu %zu %.17g %.17g %.17g %.17g\n", k + 1, j + 1, lo, hi, mean[i],
				sd[i]);
		}
	}
	return close_out(&o, rc, err);
}

static int write_weights(const struct mlip_potential *p, size_t h, const char *dir, size_t e,
			 const struct sf_key *keys, struct mlip_err *err)
{
	const struct mlip_model *m = p->model;
	const struct mlip_model_config *c = &m->config;
	int z = c->elements[e];
	size_t L = c->n_hidden, D = m->desc.dim[e], H = c->n_heads;
	size_t width[MLIP_MAX_HIDDEN + 2];
	const double *w[MLIP_MAX_HIDDEN + 1], *b[MLIP_MAX_HIDDEN + 1];
	width[0] = D;
	for (size_t l = 0; l < L; l++)
		width[l + 1] = c->hidden[l];
	for (size_t l = 0; l <= L; l++) {
		char wn[16], bn[16];
		size_t out = l < L ? width[l + 1] : H;
		if (l < L) {
			snprintf(wn, sizeof(wn), "w%zu", l + 1);
			snprintf(bn, sizeof(bn), "b%zu", l + 1);
		} else {
			snprintf(wn, sizeof(wn), "w_out");
			snprintf(bn, sizeof(bn), "b_out");
		}
		if (!(w[l] = tensor(m, z, wn, out * width[l], err)) ||
		    !(b[l] = tensor(m, z, bn, out, err)))
			return MLIP_EDATA;
	}
	char name[32];
	snprintf(name, sizeof(name), "weights.%03d.data", z);
	struct mlip_outfile o;
	int rc = open_out(&o, dir, name, err);
	if (rc)
		return rc;
	FILE *f = o.f;
	fprintf(f, "# n2p2 network of element %s (Z %d), head '%s', written by mlip %s\n",
		mlip_element_symbol(z), z, head_name(p, h), MLIP_VERSION);
	fputs("# value, a = weight / b = bias, index, then for a weight: layer and neuron it\n"
	      "# starts from, layer and neuron it ends in; for a bias: layer and neuron\n", f);
	size_t count = 0;
	for (size_t l = 0; l <= L; l++) {
		/* n2p2 layer l+1; its output layer is one neuron: row h of w_out */
		size_t in = width[l], out = l < L ? width[l + 1] : 1;
		size_t row0 = l < L ? 0 : h;
		for (size_t j = 0; j < in; j++) {
			/* the first layer reads the inputs in n2p2's order */
			size_t col = l == 0 ? keys[j].idx : j;
			for (size_t k = 0; k < out; k++)
				fprintf(f, "%24.16E a %9zu %5zu %5zu %5zu %5zu\n",
					w[l][(row0 + k) * in + col], ++count, l, j + 1, l + 1, k + 1);
		}
		for (size_t k = 0; k < out; k++)
			fprintf(f, "%24.16E b %9zu %5zu %5zu\n", b[l][row0 + k], ++count, l + 1, k + 1);
	}
	return close_out(&o, MLIP_OK, err);
}

int mlip_n2p2_write(const struct mlip_potential *p, size_t h, const char *dir,
		    const struct mlip_n2p2_range *range, struct mlip_err *err)
{
	const struct mlip_model *m = p->model;
	size_t S = m->config.n_elements, ord[MLIP_MAX_ELEMENTS];
	int n2p2_index[MLIP_MAX_ELEMENTS];
	struct sf_key *keys[MLIP_MAX_ELEMENTS] = { 0 };
	int rc;
	if ((rc = mlip_n2p2_check(p, h, err)))
		return rc;
	if (range && range->n_sf != m->desc.n_sf)
		return mlip_err_set(err, MLIP_EINVAL, "the range has %zu functions, the model %zu",
				    range->n_sf, m->desc.n_sf);
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return mlip_err_set(err, MLIP_EIO, "%s: cannot create the directory: %s", dir,
				    strerror(errno));
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return mlip_err_set(err, MLIP_EIO, "%s: not a directory", dir);
	element_order(m, ord, n2p2_index);
	for (size_t e = 0; e < S; e++) {
		if (!(keys[e] = malloc(m->desc.dim[e] * sizeof(**keys)))) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			goto done;
		}
		sorted_functions(m, e, n2p2_index, keys[e]);
	}
	if ((rc = write_input_nn(p, h, dir, ord, keys, err)) ||
	    (rc = write_scaling(m, dir, ord, keys, range, err)))
		goto done;
	for (size_t e = 0; e < S && !rc; e++)
		rc = write_weights(p, h, dir, e, keys[e], err);
done:
	for (size_t e = 0; e < S; e++)
		free(keys[e]);
	return rc;
}
