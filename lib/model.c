/*
 * model.c - the BPNN: layout of a batch in element blocks, forward
 * (energies, forces, stress) and the exact training backward.
 *
 * Layout: atoms are grouped by element; element e's block has n_e rows of
 * D_e descriptor values per stream. X holds, per element, S stacked streams
 * (S = 1 for inference, 1 + H for training): stream 0 the scaled descriptors
 * x, stream 1 + t the tangent ẋ of the t-th force/stress direction. DX holds
 * H streams: ∂o_h/∂x for head h (then divided by the scale s, i.e. ∂o_h/∂G).
 * row[i] is the offset of atom i's stream-0 row; stream s of atom i is at
 * row[i] + s·n_e·D_e. Everything else is per atom (N), per edge (E) or per
 * system (B), so working memory is linear in the batch size.
 *
 * float32 (model.h): X, the activations C, the scratch and dout are float
 * (X32, C32, ...), and the descriptor passes, which compute in double, write
 * G and the tangents into DX (stream q of element e at dbase[e] + q·n_e·D_e),
 * from where they are scaled and rounded into X32.
 * ∂o_h/∂x comes out of the network into DX32 and is divided by s in double
 * into DX. The network reads float copies of the weights (p32, refreshed by
 * every forward) and backward accumulates float gradients (g32) that it
 * then adds into m->grads. Precision is branched on here, per stage; the
 * network kernels are the same code for both types (network_impl.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "banned.h"

/* A growable buffer. */
struct buf {
	void *p;
	size_t bytes;
};

struct mlip_model_work {
	const struct mlip_batch *batch; /* of the last forward (borrowed) */
	unsigned flags;
	size_t n_streams;
	struct mlip_env env;
	size_t cnt[MLIP_MAX_ELEMENTS];     /* atoms per element */
	size_t xbase[MLIP_MAX_ELEMENTS];   /* block start in X */
	size_t dbase[MLIP_MAX_ELEMENTS];   /* block start in DX */
	size_t cbase[MLIP_MAX_ELEMENTS];   /* block start in C */
	size_t obase[MLIP_MAX_ELEMENTS];   /* block start in dout */
	enum mlip_precision prec;          /* of the buffers below (set by layout) */
	struct mlip_mlp_cache_f64 cache[MLIP_MAX_ELEMENTS];   /* float64 */
	struct mlip_mlp_cache_f32 cache32[MLIP_MAX_ELEMENTS]; /* float32 */
	size_t *blk, *row;                 /* (N) index in block, row of G */
	size_t *row_s;                     /* (H, N) rows of streams in X or DX (stream_rows) */
	double *G;                         /* where the descriptor passes write: X, or DX in float32 */
	double *X;                         /* (Σ_e S n_e D_e) scaled descriptors and tangents */
	double *DX;                        /* (Σ_e H n_e D_e) ∂o_h/∂G */
	double *C;                         /* network activations of every block */
	double *scratch;                   /* network backward scratch (largest block) */
	double *dout;                      /* (N, H) ∂L/∂o, in element blocks */
	float *X32, *DX32, *C32, *scratch32, *dout32; /* float32: the float counterparts */
	float *p32, *g32;                  /* float32: (n_params) weights of the last forward,
					      gradients of the last backward */
	double *g_edge;                    /* (H, E, 3) ∂o_h/∂r_e summed over atoms */
	double *t_edge;                    /* (H, E, 3) edge tangents of the force/stress terms */
	double *Xbar;                      /* trained radials: X's layout, ∂L/∂G and ∂L/∂Ġ_t */
	float *Xbar32;                     /* float32: the network's ∂L/∂x, ∂L/∂ẋ_t */
	double *energy, *stress;           /* (B, H), (B, 9, H) */
	double *forces, *atomic;           /* (N, 3, H), (N, H) */
	struct buf b_blk, b_row, b_rows, b_x, b_dx, b_c, b_scr, b_dout, b_ge, b_te, b_en, b_st,
		b_f, b_at, b_dx32, b_p32, b_xbar, b_xbar32;
	struct geo_slot *geo;              /* (n_geo) kept geometry (mlip_model_keep_geometry) */
	size_t n_geo, geo_bytes, geo_max_bytes;
};

/* A batch's environment (with its edge cache) and raw descriptor rows, kept between forwards. */
struct geo_slot {
	const struct mlip_batch *batch;    /* NULL: empty */
	size_t n_atoms, n_edges;           /* of the batch, checked on use */
	struct mlip_env env;
	double *G;                         /* element blocks of raw descriptor rows, concatenated */
	size_t n_G;
};

void mlip_model_config_init(struct mlip_model_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->name, "bpnn", 5);
	c->cutoff = 5.0;
	c->n_hidden = 2;
	c->hidden[0] = c->hidden[1] = 24;
	c->activation = MLIP_ACT_TANH;
	c->n_heads = 1;
	memcpy(c->heads[0], "energy", 7);
	mlip_mtp_options_init(&c->mtp);
}

/* ---- creation ---------------------------------------------------------------- */

static int check_config(const struct mlip_model_config *c, struct mlip_err *err)
{
	if (strcmp(c->name, "bpnn"))
		return mlip_err_set(err, MLIP_EINVAL, "unknown model '%.*s' (only 'bpnn')",
				    MLIP_NAME_MAX, c->name);
	if (c->n_hidden > MLIP_MAX_HIDDEN)
		return mlip_err_set(err, MLIP_EINVAL, "at most %d hidden layers, not %zu",
				    MLIP_MAX_HIDDEN, c->n_hidden);
	for (size_t l = 0; l < c->n_hidden; l++)
		if (c->hidden[l] < 1 || c->hidden[l] > 1u << 16)
			return mlip_err_set(err, MLIP_EINVAL, "hidden layer %zu: bad width %zu",
					    l + 1, c->hidden[l]);
	if (!mlip_activation_name(c->activation))
		return mlip_err_set(err, MLIP_EINVAL, "unknown activation %d", (int)c->activation);
	if (!mlip_precision_name(c->precision))
		return mlip_err_set(err, MLIP_EINVAL, "unknown precision %d", (int)c->precision);
	if (c->n_heads < 1 || c->n_heads > MLIP_MAX_HEADS)
		return mlip_err_set(err, MLIP_EINVAL, "the model needs 1 to %d heads, not %zu",
				    MLIP_MAX_HEADS, c->n_heads);
	for (size_t h = 0; h < c->n_heads; h++) {
		size_t len = strnlen(c->heads[h], MLIP_NAME_MAX);
		if (!len || len == MLIP_NAME_MAX)
			return mlip_err_set(err, MLIP_EINVAL, "head %zu: empty or too long name",
					    h + 1);
		for (size_t k = 0; k < h; k++)
			if (!strcmp(c->heads[h], c->heads[k]))
				return mlip_err_set(err, MLIP_EINVAL, "head '%s' is listed twice",
						    c->heads[h]);
	}
	return MLIP_OK;
}

static int add_tensor(struct mlip_tensors *t, const char *sym, const char *what, size_t ndim,
		      size_t d0, size_t d1, unsigned flags, struct mlip_err *err)
{
	char name[MLIP_TENSOR_NAME_MAX];
	size_t shape[2] = { d0, d1 };
	snprintf(name, sizeof(name), "%s.%s", sym, what);
	return mlip_tensors_add(t, name, ndim, shape, flags, err);
}

/* Element e's layer l weight (k = 0) or bias (k = 1) tensor. */
static size_t layer_offset(const struct mlip_model *m, size_t e, size_t l, int k)
{
	return m->tensors.t[m->tensor0[e] + 2 + 2 * l + (size_t)k].offset;
}

static void elem_params(const struct mlip_model *m, size_t e, double *buf,
			struct mlip_mlp_params_f64 *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t l = 0; l <= m->net[e].n_hidden; l++) {
		p->w[l] = buf + layer_offset(m, e, l, 0);
		p->b[l] = buf + layer_offset(m, e, l, 1);
	}
}

/* The same views into a float buffer laid out as the tensor table. */
static void elem_params32(const struct mlip_model *m, size_t e, float *buf,
			  struct mlip_mlp_params_f32 *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t l = 0; l <= m->net[e].n_hidden; l++) {
		p->w[l] = buf + layer_offset(m, e, l, 0);
		p->b[l] = buf + layer_offset(m, e, l, 1);
	}
}

static double *elem_mean(const struct mlip_model *m, size_t e, double *buf)
{
	return buf + m->tensors.t[m->tensor0[e]].offset;
}

static double *elem_std(const struct mlip_model *m, size_t e, double *buf)
{
	return buf + m->tensors.t[m->tensor0[e] + 1].offset;
}

/*
 * The moment tensor basis, and the parts of m->desc the rest of the model
 * reads (element map, cutoff, functions per element); its symmetry-function
 * list stays empty.
 */
static int init_mtp(struct mlip_model *m, const struct mlip_model_config *c, struct mlip_err *err)
{
	if (c->n_sf)
		return mlip_err_set(err, MLIP_EINVAL, "a moment tensor basis takes no symmetry functions");
	if (!(m->mtp = calloc(1, sizeof(*m->mtp))))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the model");
	int rc = mlip_mtp_init(m->mtp, c->elements, c->n_elements, c->cutoff, c->mtp_level, &c->mtp,
			       err);
	if (rc) {
		free(m->mtp);
		m->mtp = NULL;
		return rc;
	}
	struct mlip_descriptor *d = &m->desc;
	memset(d, 0, sizeof(*d));
	d->n_elements = c->n_elements;
	memcpy(d->z, c->elements, c->n_elements * sizeof(int));
	memcpy(d->species, m->mtp->species, sizeof(d->species));
	d->cutoff = c->cutoff;
	for (size_t e = 0; e < c->n_elements; e++) {
		d->dim[e] = m->mtp->dim[e];
		d->sf_start[e + 1] = d->sf_start[e];
	}
	d->max_dim = m->mtp->max_dim;
	return MLIP_OK;
}

/*
 * A moment tensor forward that a VJP, JVP or radial gradient on the same
 * environment follows keeps its per-atom values for them up to this size
 * (mlip_mtp_keep: 2.7 KB per atom and tangent at level 16, so batches of
 * up to ~50 000 atoms with one head; larger ones evaluate again in each
 * pass).
 */
#define MTP_KEEP_BYTES ((size_t)256 << 20)

/*
 * The descriptor passes, on whichever basis the model has (threads as m->desc
 * says). keep: the passes that follow (until the next forward) are on env
 * with the same weights, so the moment tensor basis may keep its values.
 */
static int basis_forward(struct mlip_model *m, double *G, const size_t *row,
			 const struct mlip_env *env, int keep, struct mlip_err *err)
{
	if (!m->mtp)
		return mlip_descriptor_forward(G, row, &m->desc, env, err);
	m->mtp->n_threads = m->desc.n_threads;
	if (keep)
		mlip_mtp_keep(m->mtp, env, MTP_KEEP_BYTES);
	else
		mlip_mtp_keep_drop(m->mtp);
	return mlip_mtp_forward(G, row, m->mtp, env, err);
}

static int basis_vjp_multi(struct mlip_model *m, double *g_edge, const double *dG,
			   const size_t *row, size_t n, const struct mlip_env *env,
			   struct mlip_err *err)
{
	if (!m->mtp)
		return mlip_descriptor_vjp_multi(g_edge, dG, row, n, &m->desc, env, err);
	m->mtp->n_threads = m->desc.n_threads;
	return mlip_mtp_vjp_multi(g_edge, dG, row, n, m->mtp, env, err);
}

static int basis_jvp_multi(struct mlip_model *m, double *dG, const size_t *row,
			   const double *t_edge, size_t n, const struct mlip_env *env,
			   struct mlip_err *err)
{
	if (!m->mtp)
		return mlip_descriptor_jvp_multi(dG, row, t_edge, n, &m->desc, env, err);
	m->mtp->n_threads = m->desc.n_threads;
	return mlip_mtp_jvp_multi(dG, row, t_edge, n, m->mtp, env, err);
}

int mlip_model_new(struct mlip_model **out, const struct mlip_model_config *c,
		   struct mlip_err *err)
{
	int rc;
	*out = NULL;
	if ((rc = check_config(c, err)))
		return rc;
	struct mlip_model *m = calloc(1, sizeof(*m));
	if (!m)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the model");
	mlip_tensors_init(&m->tensors);
	m->work = calloc(1, sizeof(*m->work));
	if (!m->work) {
		free(m);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the model");
	}
	mlip_env_init(&m->work->env);
	m->config = *c;
	m->precision = c->precision;
	if (c->mtp_level > 0) {
		if ((rc = init_mtp(m, c, err)))
			goto fail;
	} else if ((rc = mlip_descriptor_init(&m->desc, c->elements, c->n_elements, c->cutoff, c->sf,
					      c->n_sf, err))) {
		goto fail;
	}
	m->config.sf = m->desc.sf;
	m->config.n_sf = m->desc.n_sf;
	m->config.mtp.radial = NULL;
	size_t L = c->n_hidden, H = c->n_heads;
	for (size_t e = 0; e < c->n_elements; e++) {
		const char *sym = mlip_element_symbol(c->elements[e]);
		struct mlip_mlp *net = &m->net[e];
		net->n_hidden = L;
		net->width[0] = m->desc.dim[e];
		for (size_t l = 0; l < L; l++)
			net->width[l + 1] = c->hidden[l];
		net->width[L + 1] = H;
		net->act = c->activation;
		m->tensor0[e] = m->tensors.n;
		const unsigned fixed = MLIP_TENSOR_NO_DECAY | MLIP_TENSOR_FROZEN;
		if ((rc = add_tensor(&m->tensors, sym, "sf_mean", 1, net->width[0], 0, fixed, err)) ||
		    (rc = add_tensor(&m->tensors, sym, "sf_std", 1, net->width[0], 0, fixed, err)))
			goto fail;
		for (size_t l = 0; l <= L; l++) {
			char wn[16], bn[16];
			if (l < L) {
				snprintf(wn, sizeof(wn), "w%zu", l + 1);
				snprintf(bn, sizeof(bn), "b%zu", l + 1);
			} else {
				memcpy(wn, "w_out", 6);
				memcpy(bn, "b_out", 6);
			}
			if ((rc = add_tensor(&m->tensors, sym, wn, 2, net->width[l + 1], net->width[l],
					     0, err)) ||
			    (rc = add_tensor(&m->tensors, sym, bn, 1, net->width[l + 1], 0,
					     MLIP_TENSOR_NO_DECAY, err)))
				goto fail;
		}
	}
	if (m->mtp && c->mtp_train_radial) {
		const struct mlip_mtp *t = m->mtp;
		size_t shape[4] = { t->n_elements, t->n_elements, t->n_mu, t->n_radial };
		if ((rc = mlip_tensors_add(&m->tensors, "mtp.radial", 4, shape, MLIP_TENSOR_NO_DECAY,
					   err)))
			goto fail;
		m->train_radial = 1;
		m->radial_offset = m->tensors.t[m->tensors.n - 1].offset;
	}
	mlip_real *buf[2];
	if ((rc = mlip_tensors_alloc(&m->tensors, 2, buf, err)))
		goto fail;
	m->n_params = m->tensors.n_params;
	m->params = buf[0];
	m->grads = buf[1];
	if (m->train_radial) /* the basis reads the parameters from now on */
		mlip_mtp_use_radial(m->mtp, m->params + m->radial_offset);
	for (size_t e = 0; e < c->n_elements; e++) {
		double *s = elem_std(m, e, m->params);
		for (size_t k = 0; k < m->desc.dim[e]; k++)
			s[k] = 1;
	}
	mlip_model_init_params(m, c->seed);
	*out = m;
	return MLIP_OK;
fail:
	mlip_model_free(m);
	return rc;
}

static void geo_free(struct mlip_model_work *w)
{
	for (size_t k = 0; k < w->n_geo; k++) {
		mlip_env_release(&w->geo[k].env);
		free(w->geo[k].G);
	}
	free(w->geo);
	w->geo = NULL;
	w->n_geo = w->geo_bytes = w->geo_max_bytes = 0;
}

static void work_release(struct mlip_model_work *w)
{
	struct buf *all[] = { &w->b_blk, &w->b_row, &w->b_rows, &w->b_x, &w->b_dx, &w->b_c,
			      &w->b_scr, &w->b_dout, &w->b_ge, &w->b_te, &w->b_en, &w->b_st,
			      &w->b_f, &w->b_at, &w->b_dx32, &w->b_p32, &w->b_xbar,
			      &w->b_xbar32 };
	mlip_env_release(&w->env);
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		free(all[k]->p);
	geo_free(w);
}

void mlip_model_free(struct mlip_model *m)
{
	if (!m)
		return;
	if (m->work)
		work_release(m->work);
	free(m->work);
	if (m->params) {
		mlip_real *buf[1] = { m->params };
		mlip_tensors_free(buf);
	}
	mlip_tensors_release(&m->tensors);
	mlip_descriptor_release(&m->desc);
	if (m->mtp) {
		mlip_mtp_release(m->mtp);
		free(m->mtp);
	}
	free(m);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The radial coefficients are read by the basis in place: they must be doubles. */
_Static_assert(sizeof(mlip_real) == sizeof(double), "mtp.radial needs mlip_real double");
/* backward's tangents (one per head) go to mlip_mtp_radial_grad in one call */
_Static_assert(MLIP_MAX_HEADS <= MLIP_MTP_MAX_TANGENTS, "more heads than radial tangents");

void mlip_model_init_params(struct mlip_model *m, uint64_t seed)
{
	for (size_t k = 0; k < m->tensors.n; k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		mlip_real *p = m->params + t->offset;
		if (t->flags & MLIP_TENSOR_FROZEN)
			continue;
		if (m->train_radial && t->offset == m->radial_offset) {
			/* the basis's own (seeded or given) coefficients, not random weights */
			memcpy(p, m->mtp->radial, t->count * sizeof(double));
			continue;
		}
		if (t->ndim == 1) {
			memset(p, 0, t->count * sizeof(mlip_real));
			continue;
		}
		uint64_t st = seed ^ fnv1a64(t->name);
		double lim = sqrt(6.0 / (double)(t->shape[0] + t->shape[1]));
		for (size_t q = 0; q < t->count; q++) {
			double u = (double)(splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0);
			p[q] = (mlip_real)((2 * u - 1) * lim);
		}
	}
}

void mlip_model_zero_grad(struct mlip_model *m)
{
	memset(m->grads, 0, m->n_params * sizeof(mlip_real));
}

/* ---- working memory ------------------------------------------------------------- */

/* Make b hold at least n elements of size bytes; returns the buffer or NULL. */
static void *need(struct buf *b, size_t n, size_t size)
{
	size_t bytes = (n ? n : 1) * size;
	if (bytes > b->bytes) {
		bytes += bytes / 4;
		void *q = realloc(b->p, bytes);
		if (!q)
			return NULL;
		b->p = q;
		b->bytes = bytes;
	}
	return b->p;
}

size_t mlip_model_work_bytes(const struct mlip_model *m)
{
	const struct mlip_model_work *w = m->work;
	const struct mlip_env *v = &w->env;
	const struct buf *all[] = { &w->b_blk, &w->b_row, &w->b_rows, &w->b_x, &w->b_dx, &w->b_c,
				    &w->b_scr, &w->b_dout, &w->b_ge, &w->b_te, &w->b_en, &w->b_st,
				    &w->b_f, &w->b_at, &w->b_dx32, &w->b_p32, &w->b_xbar,
				    &w->b_xbar32 };
	size_t b = v->alloc_atoms * (2 * sizeof(int32_t) + sizeof(size_t)) +
		   v->alloc_edges * (sizeof(int32_t) + 3 * sizeof(double)) +
		   v->alloc_systems * sizeof(double) + v->alloc_cache * sizeof(double);
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		b += all[k]->bytes;
	return b;
}

/* Lay the batch out in element blocks and size every buffer. */
static int layout(struct mlip_model *m, unsigned flags, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	const struct mlip_env *env = &w->env;
	size_t N = env->n_atoms, E = env->n_edges, B = env->n_systems;
	size_t H = m->config.n_heads, n_el = m->desc.n_elements;
	size_t S = (flags & MLIP_MODEL_TRAIN) ? 1 + H : 1;
	int derivs = (flags & (MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN)) != 0;
	int f32 = m->precision == MLIP_FLOAT32;
	size_t nx = 0, ndx = 0, nc = 0, nscr = 0, no = 0;
	size_t real = f32 ? sizeof(float) : sizeof(double); /* the network's values */
	w->n_streams = S;
	w->prec = m->precision;
	size_t Nc = env->n_centres; /* the network runs on centres only */
	memset(w->cnt, 0, sizeof(w->cnt));
	for (size_t i = 0; i < Nc; i++)
		w->cnt[env->species[i]]++;
	for (size_t e = 0; e < n_el; e++) {
		size_t n = w->cnt[e], D = m->desc.dim[e];
		w->xbase[e] = nx;
		w->dbase[e] = ndx;
		w->cbase[e] = nc;
		w->obase[e] = no;
		nx += S * n * D;
		ndx += H * n * D;
		nc += mlip_mlp_cache_count(&m->net[e], n, S);
		no += n * H;
		size_t s1 = mlip_mlp_scratch_count(&m->net[e], n, S > H ? S : H);
		if (s1 > nscr)
			nscr = s1;
	}
	void *x, *c, *scr = NULL, *dout = NULL;
	w->DX = NULL;
	w->DX32 = NULL;
	if (!(w->blk = need(&w->b_blk, N, sizeof(size_t))) ||
	    !(w->row = need(&w->b_row, N, sizeof(size_t))) ||
	    !(w->row_s = need(&w->b_rows, N * (H + 1), sizeof(size_t))) ||
	    !(x = need(&w->b_x, nx, real)) || !(c = need(&w->b_c, nc, real)) ||
	    !(w->energy = need(&w->b_en, B * H, sizeof(double))) ||
	    !(w->atomic = need(&w->b_at, N * H, sizeof(double))))
		goto nomem;
	/* float32 also needs DX for inference: the descriptors are computed there */
	if ((derivs || f32) && !(w->DX = need(&w->b_dx, ndx, sizeof(double))))
		goto nomem;
	if (derivs &&
	    (!(scr = need(&w->b_scr, nscr, real)) ||
	     (f32 && !(w->DX32 = need(&w->b_dx32, ndx, sizeof(float)))) ||
	     !(w->g_edge = need(&w->b_ge, 3 * E * H, sizeof(double))) ||
	     !(w->forces = need(&w->b_f, 3 * N * H, sizeof(double))) ||
	     !(w->stress = need(&w->b_st, 9 * B * H, sizeof(double)))))
		goto nomem;
	if ((flags & MLIP_MODEL_TRAIN) &&
	    (!(w->t_edge = need(&w->b_te, 3 * E * H, sizeof(double))) ||
	     !(dout = need(&w->b_dout, no, real))))
		goto nomem;
	w->Xbar = NULL;
	w->Xbar32 = NULL;
	if ((flags & MLIP_MODEL_TRAIN) && m->train_radial &&
	    (!(w->Xbar = need(&w->b_xbar, nx, sizeof(double))) ||
	     (f32 && !(w->Xbar32 = need(&w->b_xbar32, nx, sizeof(float))))))
		goto nomem;
	w->X = f32 ? NULL : x;
	w->C = f32 ? NULL : c;
	w->scratch = f32 ? NULL : scr;
	w->dout = f32 ? NULL : dout;
	w->X32 = f32 ? x : NULL;
	w->C32 = f32 ? c : NULL;
	w->scratch32 = f32 ? scr : NULL;
	w->dout32 = f32 ? dout : NULL;
	w->G = f32 ? w->DX : w->X;
	memset(w->cnt, 0, sizeof(w->cnt));
	for (size_t i = 0; i < Nc; i++) {
		size_t e = (size_t)env->species[i];
		w->blk[i] = w->cnt[e]++;
		w->row[i] = (f32 ? w->dbase[e] : w->xbase[e]) + w->blk[i] * m->desc.dim[e];
	}
	for (size_t e = 0; e < n_el; e++) {
		if (f32)
			mlip_mlp_cache_carve_f32(&w->cache32[e], &m->net[e], w->C32 + w->cbase[e],
						 w->cnt[e], S, w->X32 + w->xbase[e]);
		else
			mlip_mlp_cache_carve_f64(&w->cache[e], &m->net[e], w->C + w->cbase[e],
						 w->cnt[e], S, w->X + w->xbase[e]);
	}
	return MLIP_OK;
nomem:
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory for a batch of %zu atoms, %zu edges",
			    N, E);
}

/*
 * Offsets of streams s0 .. s0 + n − 1 in X (dx = 0) or DX (dx = 1) for every
 * atom: row_s[q·N + i] for stream s0 + q (n <= H + 1).
 */
static void stream_rows(struct mlip_model *m, size_t s0, size_t n, int dx)
{
	struct mlip_model_work *w = m->work;
	size_t N = w->env.n_atoms; /* the stride; rows exist for centres only */
	for (size_t q = 0; q < n; q++)
		for (size_t i = 0; i < w->env.n_centres; i++) {
			size_t e = (size_t)w->env.species[i], D = m->desc.dim[e];
			size_t base = dx ? w->dbase[e] : w->xbase[e];
			w->row_s[q * N + i] = base + ((s0 + q) * w->cnt[e] + w->blk[i]) * D;
		}
}

/* ---- the network stages, in either precision ------------------------------------------- */

/* float32: the float copy of the weights the network reads. */
static int refresh_p32(struct mlip_model *m, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	float *p = need(&w->b_p32, 2 * m->n_params, sizeof(float));
	if (!p)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the float weights");
	w->p32 = p;
	w->g32 = p + m->n_params;
	for (size_t k = 0; k < m->n_params; k++)
		p[k] = (float)m->params[k];
	return MLIP_OK;
}

/* Scale element e's descriptor rows, x = (G − μ)/s, and run its network forward. */
static void net_forward(struct mlip_model *m, size_t e)
{
	struct mlip_model_work *w = m->work;
	size_t n = w->cnt[e], D = m->desc.dim[e];
	const double *mu = elem_mean(m, e, m->params), *sd = elem_std(m, e, m->params);
	m->net[e].naive = m->naive;
	m->net[e].n_threads = mlip_descriptor_threads(&m->desc, n);
	if (w->prec == MLIP_FLOAT32) {
		const double *g = w->DX + w->dbase[e];
		float *x = w->X32 + w->xbase[e];
		for (size_t r = 0; r < n; r++)
			for (size_t d = 0; d < D; d++)
				x[r * D + d] = (float)((g[r * D + d] - mu[d]) / sd[d]);
		struct mlip_mlp_params_f32 p;
		elem_params32(m, e, w->p32, &p);
		mlip_mlp_forward_f32(&w->cache32[e], &m->net[e], &p);
		return;
	}
	double *x = w->X + w->xbase[e];
	for (size_t r = 0; r < n; r++)
		for (size_t d = 0; d < D; d++)
			x[r * D + d] = (x[r * D + d] - mu[d]) / sd[d];
	struct mlip_mlp_params_f64 p;
	elem_params(m, e, m->params, &p);
	mlip_mlp_forward_f64(&w->cache[e], &m->net[e], &p);
}

/* Output h of atom i (of element e, row blk in its block) of the last forward. */
static double net_out(const struct mlip_model_work *w, size_t e, size_t blk, size_t H, size_t h)
{
	if (w->prec == MLIP_FLOAT32)
		return (double)w->cache32[e].out[blk * H + h];
	return w->cache[e].out[blk * H + h];
}

/* ∂o_h/∂G of element e's rows for every head, into DX (double). */
static void net_input_grad(struct mlip_model *m, size_t e)
{
	struct mlip_model_work *w = m->work;
	size_t n = w->cnt[e], D = m->desc.dim[e], H = m->config.n_heads;
	const double *sd = elem_std(m, e, m->params);
	double *dx = w->DX + w->dbase[e];
	if (w->prec == MLIP_FLOAT32) {
		struct mlip_mlp_params_f32 p;
		float *dx32 = w->DX32 + w->dbase[e];
		elem_params32(m, e, w->p32, &p);
		mlip_mlp_input_grad_f32(dx32, w->scratch32, &w->cache32[e], &m->net[e], &p);
		for (size_t r = 0; r < H * n; r++)
			for (size_t d = 0; d < D; d++)
				dx[r * D + d] = (double)dx32[r * D + d] / sd[d];
		return;
	}
	struct mlip_mlp_params_f64 p;
	elem_params(m, e, m->params, &p);
	mlip_mlp_input_grad_f64(dx, w->scratch, &w->cache[e], &m->net[e], &p);
	for (size_t r = 0; r < H * n; r++)
		for (size_t d = 0; d < D; d++)
			dx[r * D + d] /= sd[d];
}

/*
 * Element e's tangents ẋ = Ġ/s (Ġ from the JVP, in X's tangent streams or,
 * float32, in DX's first n_tan streams), the network's tangent pass and
 * backward: weight gradients into m->grads, or g32 in float32. With trained
 * radials also the adjoints of the descriptor rows, ∂L/∂G = ∂L/∂x / s and
 * ∂L/∂Ġ_t = ∂L/∂ẋ_t / s, into Xbar (X's layout, streams 0 .. n_tan).
 */
static void net_backward(struct mlip_model *m, size_t e, const size_t *head, size_t n_tan)
{
	struct mlip_model_work *w = m->work;
	size_t n = w->cnt[e], D = m->desc.dim[e];
	const double *sd = elem_std(m, e, m->params);
	m->net[e].naive = m->naive;
	if (w->prec == MLIP_FLOAT32) {
		const double *gd = w->DX + w->dbase[e];
		float *xd = w->X32 + w->xbase[e] + n * D;
		for (size_t r = 0; r < n_tan * n; r++)
			for (size_t d = 0; d < D; d++)
				xd[r * D + d] = (float)(gd[r * D + d] / sd[d]);
		struct mlip_mlp_params_f32 p, g;
		elem_params32(m, e, w->p32, &p);
		elem_params32(m, e, w->g32, &g);
		mlip_mlp_tangent_f32(&w->cache32[e], &m->net[e], &p, n_tan);
		float *xb32 = w->Xbar32 ? w->Xbar32 + w->xbase[e] : NULL;
		mlip_mlp_backward_input_f32(&g, xb32, w->scratch32, w->dout32 + w->obase[e], head,
					    n_tan, &w->cache32[e], &m->net[e], &p);
		if (xb32) {
			double *xb = w->Xbar + w->xbase[e];
			for (size_t r = 0; r < (1 + n_tan) * n; r++)
				for (size_t d = 0; d < D; d++)
					xb[r * D + d] = (double)xb32[r * D + d] / sd[d];
		}
		return;
	}
	double *xd = w->X + w->xbase[e] + n * D;
	for (size_t r = 0; r < n_tan * n; r++)
		for (size_t d = 0; d < D; d++)
			xd[r * D + d] /= sd[d];
	struct mlip_mlp_params_f64 p, g;
	elem_params(m, e, m->params, &p);
	elem_params(m, e, m->grads, &g);
	mlip_mlp_tangent_f64(&w->cache[e], &m->net[e], &p, n_tan);
	double *xb = w->Xbar ? w->Xbar + w->xbase[e] : NULL;
	mlip_mlp_backward_input_f64(&g, xb, w->scratch, w->dout + w->obase[e], head, n_tan,
				    &w->cache[e], &m->net[e], &p);
	for (size_t r = 0; xb && r < (1 + n_tan) * n; r++)
		for (size_t d = 0; d < D; d++)
			xb[r * D + d] /= sd[d];
}

/* ---- forward ------------------------------------------------------------------------ */

/* ---- kept geometry ----------------------------------------------------------------- */

void mlip_model_drop_geometry(struct mlip_model *m)
{
	geo_free(m->work);
}

int mlip_model_keep_geometry(struct mlip_model *m, size_t n_slots, size_t max_bytes,
			     struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	mlip_model_drop_geometry(m);
	if (n_slots == 0)
		return MLIP_OK;
	if (!(w->geo = calloc(n_slots, sizeof(*w->geo))))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t k = 0; k < n_slots; k++)
		mlip_env_init(&w->geo[k].env);
	w->n_geo = n_slots;
	w->geo_max_bytes = max_bytes;
	return MLIP_OK;
}

size_t mlip_model_geometry_bytes(const struct mlip_model *m, size_t *n_kept)
{
	const struct mlip_model_work *w = m->work;
	if (n_kept) {
		*n_kept = 0;
		for (size_t k = 0; k < w->n_geo; k++)
			*n_kept += w->geo[k].batch != NULL;
	}
	return w->geo_bytes;
}

/* The raw descriptor rows of the last forward's element blocks, from or to a flat array. */
static size_t g_rows_count(const struct mlip_model *m)
{
	size_t n = 0;
	for (size_t e = 0; e < m->desc.n_elements; e++)
		n += m->work->cnt[e] * m->desc.dim[e];
	return n;
}

static void g_rows_copy(struct mlip_model *m, double *flat, int to_flat)
{
	struct mlip_model_work *w = m->work;
	size_t off = 0;
	for (size_t e = 0; e < m->desc.n_elements; e++) {
		size_t k = w->cnt[e] * m->desc.dim[e];
		double *blk = w->prec == MLIP_FLOAT32 ? w->DX + w->dbase[e] : w->X + w->xbase[e];
		if (to_flat)
			memcpy(flat + off, blk, k * sizeof(double));
		else
			memcpy(blk, flat + off, k * sizeof(double));
		off += k;
	}
}

/* Keep the geometry of the forward just made in slot gs, if the budget allows. */
static void geo_store(struct mlip_model *m, struct geo_slot *gs, const struct mlip_batch *b)
{
	struct mlip_model_work *w = m->work;
	size_t nG = g_rows_count(m);
	size_t bytes = mlip_env_bytes(&w->env) + nG * sizeof(double);
	if (w->geo_bytes + bytes > w->geo_max_bytes)
		return;
	double *G = malloc((nG ? nG : 1) * sizeof(double));
	struct mlip_err ignored;
	if (!G || mlip_env_copy(&gs->env, &w->env, &ignored)) {
		free(G);
		return; /* out of memory: the batch is recomputed next time */
	}
	g_rows_copy(m, G, 1);
	gs->G = G;
	gs->n_G = nG;
	gs->batch = b;
	gs->n_atoms = b->n_atoms;
	gs->n_edges = b->n_edges;
	w->geo_bytes += bytes;
}

/* b NULL: the caller has filled m->work->env (mlip_model_forward_env). */
static int forward(struct mlip_model *m, const struct mlip_batch *b, struct geo_slot *gs,
		   unsigned flags, struct mlip_model_out *out, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	struct mlip_env *env = &w->env;
	int rc;
	w->batch = NULL;
	if (m->mtp) /* env changes here: nothing kept from the last forward may serve */
		mlip_mtp_keep_drop(m->mtp);
	int derivs = (flags & (MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN)) != 0;
	/* Only a slot filled by a forward of this batch with the edge cache may stand in for it. */
	int hit = b && gs && gs->batch == b && gs->n_atoms == b->n_atoms &&
		  gs->n_edges == b->n_edges && (!derivs || gs->env.cache_stride > 0);
	if (b && (rc = hit ? mlip_env_copy(env, &gs->env, err) : mlip_env_build(env, &m->desc, b, err)))
		return rc;
	if (!b)
		env->cache_stride = 0;
	if ((rc = layout(m, flags, err)))
		return rc;
	if (w->prec == MLIP_FLOAT32 && (rc = refresh_p32(m, err)))
		return rc;
	size_t N = env->n_atoms, B = env->n_systems, H = m->config.n_heads;
	size_t n_el = m->desc.n_elements;
	if (hit && !m->train_radial) { /* trained radials: the rows change with the weights */
		g_rows_copy(m, gs->G, 0);
	} else {
		/* A VJP (forces, stress) or a JVP (training) follows: evaluate the edges'
		 * sincos and exp once for all passes. */
		if (derivs && !m->mtp && (rc = mlip_env_cache(env, &m->desc, err)))
			return rc;
		if ((rc = basis_forward(m, w->G, w->row, env, derivs, err)))
			return rc;
		if (gs && derivs && !gs->batch)
			geo_store(m, gs, b);
	}
	for (size_t e = 0; e < n_el; e++)
		net_forward(m, e);
	memset(w->energy, 0, B * H * sizeof(double));
	memset(w->atomic, 0, N * H * sizeof(double));
	for (size_t i = 0; i < env->n_centres; i++) {
		size_t e = (size_t)env->species[i];
		double *E = w->energy + (size_t)env->system[i] * H;
		for (size_t h = 0; h < H; h++) {
			double o = net_out(w, e, w->blk[i], H, h);
			w->atomic[i * H + h] = o;
			E[h] += o;
		}
	}
	memset(out, 0, sizeof(*out));
	out->n_systems = B;
	out->n_atoms = N;
	out->n_heads = H;
	out->energy = w->energy;
	out->atomic_energy = (flags & MLIP_MODEL_ATOMIC) ? w->atomic : NULL;
	if (flags & (MLIP_MODEL_FORCES | MLIP_MODEL_STRESS)) {
		memset(w->forces, 0, 3 * N * H * sizeof(double));
		memset(w->stress, 0, 9 * B * H * sizeof(double));
		for (size_t e = 0; e < n_el; e++)
			net_input_grad(m, e);
		/* One walk over the pairs for all heads. */
		stream_rows(m, 0, H, 1);
		memset(w->g_edge, 0, 3 * env->n_edges * H * sizeof(double));
		if ((rc = basis_vjp_multi(m, w->g_edge, w->DX, w->row_s, H, env,
						    err)))
			return rc;
		for (size_t h = 0; h < H; h++)
			mlip_env_gather(w->forces, w->stress, H, h, w->g_edge + 3 * env->n_edges * h,
					env);
		for (size_t k = 0; k < 3 * N * H; k++) /* F = −∂E/∂r */
			w->forces[k] = -w->forces[k];
		for (size_t s = 0; s < B; s++)
			for (size_t k = 0; k < 9 * H; k++)
				w->stress[9 * H * s + k] =
					env->volume[s] > 0 ? w->stress[9 * H * s + k] / env->volume[s] : 0;
		out->forces = (flags & MLIP_MODEL_FORCES) ? w->forces : NULL;
		out->stress = (flags & MLIP_MODEL_STRESS) ? w->stress : NULL;
		out->edge_grad = w->g_edge;
	}
	w->flags = flags;
	w->batch = b;
	return MLIP_OK;
}

int mlip_model_forward(struct mlip_model *m, const struct mlip_batch *b, unsigned flags,
		       struct mlip_model_out *out, struct mlip_err *err)
{
	return forward(m, b, NULL, flags, out, err);
}

struct mlip_env *mlip_model_env(struct mlip_model *m)
{
	return &m->work->env;
}

int mlip_model_forward_env(struct mlip_model *m, unsigned flags, struct mlip_model_out *out,
			   struct mlip_err *err)
{
	const struct mlip_env *env = &m->work->env;
	if (flags & MLIP_MODEL_TRAIN)
		return mlip_err_set(err, MLIP_EINVAL, "training needs a batch, not a bare environment");
	if (env->n_centres > env->n_atoms || env->n_systems != 1)
		return mlip_err_set(err, MLIP_EINVAL, "an environment of one system with at most "
				    "n_atoms centres is expected");
	return forward(m, NULL, NULL, flags, out, err);
}

int mlip_model_forward_kept(struct mlip_model *m, const struct mlip_batch *b, size_t slot,
			    unsigned flags, struct mlip_model_out *out, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	if (slot >= w->n_geo)
		return mlip_err_set(err, MLIP_EINVAL, "geometry slot %zu of %zu", slot, w->n_geo);
	return forward(m, b, &w->geo[slot], flags, out, err);
}

/* ---- training backward ------------------------------------------------------------- */

int mlip_model_backward(struct mlip_model *m, const struct mlip_batch *b, const double *dE,
			const double *dF, const double *dS, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	struct mlip_env *env = &w->env;
	size_t H = m->config.n_heads, N = env->n_atoms, n_el = m->desc.n_elements;
	size_t head[MLIP_MAX_HEADS], n_tan = 0;
	int f32 = w->prec == MLIP_FLOAT32;
	int rc;
	if (!b || w->batch != b || !(w->flags & MLIP_MODEL_TRAIN) || b->n_atoms != N ||
	    w->prec != m->precision)
		return mlip_err_set(err, MLIP_EINVAL,
				    "backward needs a training forward on the same batch first");
	/* One tangent per head with a non-zero force or stress cotangent. */
	for (size_t h = 0; h < H; h++) {
		int any = 0;
		for (size_t k = 0; dF && k < 3 * N && !any; k++)
			any = dF[k * H + h] != 0;
		for (size_t s = 0; dS && s < env->n_systems && !any; s++)
			for (size_t k = 0; k < 9 && env->volume[s] > 0; k++)
				any |= dS[(9 * s + k) * H + h] != 0;
		if (any)
			head[n_tan++] = h;
	}
	for (size_t t = 0; t < n_tan; t++) {
		size_t h = head[t];
		double *t_edge = w->t_edge + 3 * env->n_edges * t;
		/* Edge tangent: u_j − u_i + r_e ε with u = −dF and ε = dS / V. */
		for (size_t i = 0; i < N; i++) {
			size_t s = (size_t)env->system[i];
			double eps[9] = { 0 }, ui[3] = { 0 };
			if (dS && env->volume[s] > 0)
				for (int k = 0; k < 9; k++)
					eps[k] = dS[(9 * s + k) * H + h] / env->volume[s];
			if (dF)
				for (int x = 0; x < 3; x++)
					ui[x] = -dF[(3 * i + x) * H + h];
			for (size_t e = env->first[i]; e < env->first[i + 1]; e++) {
				size_t j = (size_t)env->nbr[e];
				const double *r = env->r + 3 * e;
				double *tv = t_edge + 3 * e;
				for (int x = 0; x < 3; x++) {
					double uj = dF ? -dF[(3 * j + x) * H + h] : 0;
					tv[x] = uj - ui[x] + r[0] * eps[x] + r[1] * eps[3 + x] +
						r[2] * eps[6 + x];
				}
			}
		}
	}
	/* One walk over the pairs for all tangents: into X's tangent streams, or
	 * (float32) into DX's first streams, which net_backward rounds into X32. */
	stream_rows(m, f32 ? 0 : 1, n_tan, f32);
	if ((rc = basis_jvp_multi(m, w->G, w->row_s, w->t_edge, n_tan, env, err)))
		return rc;
	for (size_t i = 0; i < N; i++) {
		size_t at = w->obase[env->species[i]] + w->blk[i] * H;
		for (size_t h = 0; h < H; h++) {
			double v = dE ? dE[(size_t)env->system[i] * H + h] : 0;
			if (f32)
				w->dout32[at + h] = (float)v;
			else
				w->dout[at + h] = v;
		}
	}
	if (f32)
		memset(w->g32, 0, m->n_params * sizeof(float));
	for (size_t e = 0; e < n_el; e++)
		if (w->cnt[e])
			net_backward(m, e, head, n_tan);
	if (f32) /* the float gradients join the double ones */
		for (size_t k = 0; k < m->n_params; k++)
			m->grads[k] += (double)w->g32[k];
	if (m->train_radial) {
		/* the radial coefficients: through G (energy terms, and the network's
		 * second-order part of the tangents) and through the tangents Ġ_t */
		stream_rows(m, 0, 1 + n_tan, 0);
		m->mtp->n_threads = m->desc.n_threads;
		if ((rc = mlip_mtp_radial_grad(m->grads + m->radial_offset, w->Xbar, w->row_s,
					       w->t_edge, n_tan, m->mtp, env, err)))
			return rc;
	}
	return MLIP_OK;
}

/* ---- scaling ------------------------------------------------------------------------- */

int mlip_model_scaling_stats_init(const struct mlip_model *m, struct mlip_sf_stats *st,
				  struct mlip_err *err)
{
	return mlip_sf_stats_init(st, &m->desc, err);
}

int mlip_model_scaling_stats_add(struct mlip_model *m, struct mlip_sf_stats *st,
				 const struct mlip_batch *b, struct mlip_err *err)
{
	struct mlip_model_work *w = m->work;
	int rc;
	if (!(rc = mlip_env_build(&w->env, &m->desc, b, err)) && !(rc = layout(m, 0, err)) &&
	    !(rc = basis_forward(m, w->G, w->row, &w->env, 0, err)))
		mlip_sf_stats_add(st, w->G, w->row, &w->env);
	w->batch = NULL;
	return rc;
}

void mlip_model_scaling_set(struct mlip_model *m, const struct mlip_sf_stats *st)
{
	for (size_t e = 0; e < m->desc.n_elements; e++)
		mlip_sf_stats_result(st, e, elem_mean(m, e, m->params), elem_std(m, e, m->params));
}

int mlip_model_scaling_stats(struct mlip_model *m, struct mlip_sf_stats *st,
			     const struct mlip_batch *const *b, size_t n, struct mlip_err *err)
{
	int rc = mlip_model_scaling_stats_init(m, st, err);
	for (size_t k = 0; k < n && !rc; k++)
		rc = mlip_model_scaling_stats_add(m, st, b[k], err);
	return rc;
}

int mlip_model_fit_scaling(struct mlip_model *m, const struct mlip_batch *const *b, size_t n,
			   struct mlip_err *err)
{
	struct mlip_sf_stats st;
	int rc = mlip_model_scaling_stats(m, &st, b, n, err);
	if (!rc)
		mlip_model_scaling_set(m, &st);
	mlip_sf_stats_release(&st);
	return rc;
}

int mlip_model_basis_forward(struct mlip_model *m, double *G, const size_t *row,
			     const struct mlip_env *env, struct mlip_err *err)
{
	return basis_forward(m, G, row, env, 0, err);
}

int mlip_model_basis_vjp_multi(struct mlip_model *m, double *g_edge, const double *dG,
			       const size_t *row, size_t n, const struct mlip_env *env,
			       struct mlip_err *err)
{
	if (m->mtp) /* env need not be the last forward's */
		mlip_mtp_keep_drop(m->mtp);
	return basis_vjp_multi(m, g_edge, dG, row, n, env, err);
}
