/*
 * lstsq.c - the linear model's exact solver: design rows from the
 * descriptor (forward for energies, one-hot VJPs for forces and stress),
 * weighted normal equations per task, one reduction over ranks, and a
 * Cholesky solve per head with an eigen-decomposition fallback (lstsq.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "dist.h"
#include "log.h"
#include "lstsq.h"
#include "banned.h"

/* LAPACK through OpenBLAS, by its Fortran symbols (Debian's OpenBLAS ships no
 * LAPACKE header). The trailing size_t are the lengths of the character
 * arguments, which gfortran-built routines expect. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
		    size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
		    const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
		    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
		    int *info, size_t jobz_len, size_t uplo_len);

/* Values of g_edge one chunk of VJP columns may take: bounds the memory of a
 * batch's force and stress columns at 64 MB whatever its number of edges. */
#define CHUNK_DOUBLES ((size_t)8 << 20)

/* Eigenvalues below this fraction of the largest count as zero in the fallback. */
#define EIG_RCOND 1e-12

/* A growable buffer (as model.c's). */
struct buf {
	void *p;
	size_t bytes;
};

/* Make b hold at least n elements of size bytes; the buffer, or NULL. */
static void *need(struct buf *b, size_t n, size_t size)
{
	size_t bytes = (n ? n : 1) * size;
	if (bytes > b->bytes) {
		void *q = realloc(b->p, bytes);
		if (!q)
			return NULL;
		b->p = q;
		b->bytes = bytes;
	}
	return b->p;
}

struct mlip_lstsq_work {
	struct mlip_env env;
	struct buf energy, forces, stress; /* the design (struct mlip_lstsq_design) */
	struct buf G, row;                 /* (N, max D) raw descriptor rows, their offsets */
	struct buf onehot, vrow, pcol;     /* VJP cotangents, their rows (chunk, N), columns */
	struct buf g_edge, dpos, dstrain;  /* (chunk, E, 3), (N, 3, chunk), (B, 9, chunk) */
	struct buf rows, y, mask;          /* one task's weighted rows (n, P), targets, mask */
	struct buf zero, e0;               /* (B, H) raw zeros, their physical energies */
	struct buf counts;                 /* (n_tasks) uint64 */
	struct buf sys_valid;              /* (B) valid rows per system (per_structure) */
};

static void work_free(struct mlip_lstsq_work *w)
{
	struct buf *all[] = { &w->energy, &w->forces, &w->stress, &w->G, &w->row, &w->onehot,
			      &w->vrow, &w->pcol, &w->g_edge, &w->dpos, &w->dstrain, &w->rows,
			      &w->y, &w->mask, &w->zero, &w->e0, &w->counts, &w->sys_valid };
	if (!w)
		return;
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		free(all[k]->p);
	mlip_env_release(&w->env);
	free(w);
}

/* ---- setup --------------------------------------------------------------------------- */

/* Element e's output weight (H, D_e) and bias (H) tensors. */
static double *out_weight(const struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e] + 2].offset;
}

static double *out_bias(const struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e] + 3].offset;
}

static const double *scale_mean(const struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e]].offset;
}

static const double *scale_std(const struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e] + 1].offset;
}

static int check_model(const struct mlip_lstsq *s, const struct mlip_model *m,
		       struct mlip_err *err)
{
	if (m->config.n_hidden)
		return mlip_err_set(err, MLIP_EINVAL,
				    "lstsq solves linear models only: model.hidden must be [], "
				    "not %zu hidden layer%s", m->config.n_hidden,
				    m->config.n_hidden > 1 ? "s" : "");
	if (s && (m->desc.n_elements != s->n_elements || m->config.n_heads != s->n_heads))
		return mlip_err_set(err, MLIP_EINVAL, "lstsq: not the model it was set up for");
	for (size_t e = 0; s && e < s->n_elements; e++)
		if (m->desc.dim[e] != s->dim[e])
			return mlip_err_set(err, MLIP_EINVAL, "lstsq: not the model it was set up for");
	return MLIP_OK;
}

/* The plugin factor of a quadratic loss: 0 mse, 1 per_atom_mse, −1 not quadratic. */
static int quadratic_kind(const struct mlip_loss *loss)
{
	const char *name = loss->plugin->name;
	if (!strcmp(name, "mse"))
		return 0;
	if (!strcmp(name, "per_atom_mse"))
		return 1;
	return -1;
}

int mlip_lstsq_init(struct mlip_lstsq *s, const struct mlip_model *m,
		    const struct mlip_tasks *tasks, double ridge, struct mlip_err *err)
{
	int rc;
	memset(s, 0, sizeof(*s));
	if ((rc = check_model(NULL, m, err)))
		return rc;
	if (!(ridge >= 0) || !isfinite(ridge))
		return mlip_err_set(err, MLIP_EINVAL, "lstsq: the ridge must be >= 0, not %g", ridge);
	if (tasks->n_heads != m->config.n_heads)
		return mlip_err_set(err, MLIP_EINVAL, "lstsq: %zu heads in the tasks, %zu in the model",
				    tasks->n_heads, m->config.n_heads);
	s->n_tasks = tasks->n_tasks;
	s->n_heads = tasks->n_heads;
	s->n_elements = m->desc.n_elements;
	s->ridge = ridge;
	for (size_t e = 0; e < s->n_elements; e++) {
		s->dim[e] = m->desc.dim[e];
		s->col0[e] = s->n_cols;
		s->n_cols += s->dim[e] + 1;
	}
	if (!(s->task = calloc(s->n_tasks ? s->n_tasks : 1, sizeof(*s->task))))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq");
	for (size_t k = 0; k < s->n_tasks; k++) {
		const struct mlip_task *t = &tasks->tasks[k];
		struct mlip_lstsq_task *st = &s->task[k];
		st->head = t->head;
		if (!t->has_loss)
			continue;
		int kind = quadratic_kind(&t->loss);
		if (kind < 0) {
			rc = mlip_err_set(err, MLIP_EINVAL,
					  "task '%s': lstsq minimises quadratic losses only (mse, "
					  "per_atom_mse), not '%s'", t->cfg->name, t->loss.plugin->name);
			mlip_lstsq_release(s);
			return rc;
		}
		st->active = 1;
		st->per_atom = kind;
		st->coefficient = t->loss.coefficient;
		st->reduction = t->loss.reduction;
		if (t->cfg->property == MLIP_CFG_FORCES)
			s->needs |= MLIP_HAS_FORCES;
		if (t->cfg->property == MLIP_CFG_STRESS)
			s->needs |= MLIP_HAS_STRESS;
	}
	size_t P = s->n_cols;
	s->stride = P * P + P + 2;
	s->acc = calloc(s->n_tasks * s->stride + 1, sizeof(double));
	s->task_loss = calloc(s->n_tasks + 1, sizeof(double));
	s->work = calloc(1, sizeof(*s->work));
	if (!s->acc || !s->task_loss || !s->work) {
		mlip_lstsq_release(s);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq (%zu columns)", P);
	}
	mlip_env_init(&s->work->env);
	return MLIP_OK;
}

void mlip_lstsq_release(struct mlip_lstsq *s)
{
	free(s->task);
	free(s->acc);
	free(s->task_loss);
	work_free(s->work);
	memset(s, 0, sizeof(*s));
}

/* ---- design rows --------------------------------------------------------------------- */

/* Energy rows: per system, the sums of its atoms' scaled rows per element, and atom counts. */
static void energy_rows(struct mlip_lstsq *s, const struct mlip_model *m, const double *G,
			size_t dmax)
{
	const struct mlip_env *env = &s->work->env;
	size_t P = s->n_cols;
	double *A = s->design.energy;
	memset(A, 0, env->n_systems * P * sizeof(double));
	for (size_t i = 0; i < env->n_centres; i++) {
		size_t e = (size_t)env->species[i], D = s->dim[e];
		const double *g = G + i * dmax, *mu = scale_mean(m, e), *sd = scale_std(m, e);
		double *a = A + (size_t)env->system[i] * P + s->col0[e];
		for (size_t d = 0; d < D; d++)
			a[d] += (g[d] - mu[d]) / sd[d];
		a[D] += 1;
	}
}

/*
 * The cotangents of the weight columns: element e's block (at base[e]) holds
 * D_e rows, row d being the unit vector d divided by s_d (∂x_d/∂G_d); a row
 * of zeros (at *zero) serves the atoms of other elements. Rows are shared by
 * every atom of an element: the VJP only reads them.
 */
static void onehot_fill(const struct mlip_lstsq *s, const struct mlip_model *m, double *oh,
			size_t *base, size_t *zero, size_t dmax)
{
	size_t off = 0;
	for (size_t e = 0; e < s->n_elements; e++) {
		size_t D = s->dim[e];
		const double *sd = scale_std(m, e);
		base[e] = off;
		memset(oh + off, 0, D * D * sizeof(double));
		for (size_t d = 0; d < D; d++)
			oh[off + d * D + d] = 1 / sd[d];
		off += D * D;
	}
	*zero = off;
	memset(oh + off, 0, dmax * sizeof(double));
}

/* Force and stress rows of the weight columns, by chunks of one-hot VJPs. */
static int derivative_rows(struct mlip_lstsq *s, struct mlip_model *m, size_t dmax,
			   struct mlip_err *err)
{
	struct mlip_lstsq_work *w = s->work;
	const struct mlip_env *env = &w->env;
	size_t N = env->n_atoms, E = env->n_edges, B = env->n_systems, P = s->n_cols;
	size_t n_w = 0, n_oh = dmax, base[MLIP_MAX_ELEMENTS], zero;
	double *F = s->design.forces, *S = s->design.stress;
	int rc;
	for (size_t e = 0; e < s->n_elements; e++) {
		n_w += s->dim[e];
		n_oh += s->dim[e] * s->dim[e];
	}
	size_t chunk = E ? CHUNK_DOUBLES / (3 * E) : n_w;
	chunk = chunk < 1 ? 1 : chunk > n_w ? n_w : chunk;
	double *oh = need(&w->onehot, n_oh, sizeof(double));
	double *g_edge = need(&w->g_edge, chunk * 3 * E, sizeof(double));
	double *dpos = need(&w->dpos, chunk * 3 * N, sizeof(double));
	double *dstrain = need(&w->dstrain, chunk * 9 * B, sizeof(double));
	size_t *vrow = need(&w->vrow, chunk * N, sizeof(size_t));
	size_t *pcol = need(&w->pcol, chunk, sizeof(size_t));
	if (!oh || !g_edge || !dpos || !dstrain || !vrow || !pcol)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq (%zu edges)", E);
	onehot_fill(s, m, oh, base, &zero, dmax);
	if (F)
		memset(F, 0, 3 * N * P * sizeof(double));
	if (S)
		memset(S, 0, 9 * B * P * sizeof(double));
	for (size_t k0 = 0; k0 < n_w; k0 += chunk) {
		size_t nc = n_w - k0 < chunk ? n_w - k0 : chunk;
		for (size_t q = 0; q < nc; q++) {
			size_t k = k0 + q, e = 0; /* weight column k0 + q: feature k of element e */
			while (k >= s->dim[e])
				k -= s->dim[e++];
			pcol[q] = s->col0[e] + k;
			for (size_t i = 0; i < N; i++)
				vrow[q * N + i] = i < env->n_centres && (size_t)env->species[i] == e
							  ? base[e] + k * s->dim[e]
							  : zero;
		}
		memset(g_edge, 0, nc * 3 * E * sizeof(double));
		if ((rc = mlip_model_basis_vjp_multi(m, g_edge, oh, vrow, nc, env, err)))
			return rc;
		memset(dpos, 0, nc * 3 * N * sizeof(double));
		memset(dstrain, 0, nc * 9 * B * sizeof(double));
		for (size_t q = 0; q < nc; q++)
			mlip_env_gather(dpos, dstrain, nc, q, g_edge + 3 * E * q, env);
		for (size_t q = 0; q < nc; q++) {
			for (size_t r = 0; F && r < 3 * N; r++) /* F = −∂E/∂r */
				F[r * P + pcol[q]] = -dpos[r * nc + q];
			for (size_t r = 0; S && r < 9 * B; r++) {
				double V = env->volume[r / 9];
				S[r * P + pcol[q]] = V > 0 ? dstrain[r * nc + q] / V : 0;
			}
		}
	}
	return MLIP_OK;
}

int mlip_lstsq_design(struct mlip_lstsq *s, struct mlip_model *m, const struct mlip_batch *b,
		      struct mlip_err *err)
{
	struct mlip_lstsq_work *w = s->work;
	struct mlip_env *env = &w->env;
	struct mlip_lstsq_design *ds = &s->design;
	int rc;
	if ((rc = check_model(s, m, err)))
		return rc;
	memset(ds, 0, sizeof(*ds));
	if ((rc = mlip_env_build(env, &m->desc, b, err)))
		return rc;
	int derivs = (s->needs & (MLIP_HAS_FORCES | MLIP_HAS_STRESS)) != 0;
	/* the VJP passes that follow read the edges' sincos and exp once */
	if (derivs && !m->mtp && (rc = mlip_env_cache(env, &m->desc, err)))
		return rc;
	size_t N = env->n_atoms, B = env->n_systems, P = s->n_cols, dmax = 0;
	for (size_t e = 0; e < s->n_elements; e++)
		dmax = s->dim[e] > dmax ? s->dim[e] : dmax;
	double *G = need(&w->G, N * dmax, sizeof(double));
	size_t *row = need(&w->row, N, sizeof(size_t));
	ds->energy = need(&w->energy, B * P, sizeof(double));
	if (s->needs & MLIP_HAS_FORCES)
		ds->forces = need(&w->forces, 3 * N * P, sizeof(double));
	if (s->needs & MLIP_HAS_STRESS)
		ds->stress = need(&w->stress, 9 * B * P, sizeof(double));
	if (!G || !row || !ds->energy || ((s->needs & MLIP_HAS_FORCES) && !ds->forces) ||
	    ((s->needs & MLIP_HAS_STRESS) && !ds->stress))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq (%zu atoms, %zu columns)",
				    N, P);
	ds->n_systems = B;
	ds->n_atoms = N;
	for (size_t i = 0; i < N; i++)
		row[i] = i * dmax;
	if ((rc = mlip_model_basis_forward(m, G, row, env, err)))
		return rc;
	energy_rows(s, m, G, dmax);
	if (derivs)
		return derivative_rows(s, m, dmax, err);
	return MLIP_OK;
}

/* ---- accumulation -------------------------------------------------------------------- */

/*
 * One task's rows of batch b: the valid rows' components, each multiplied by
 * √ω (its weight without the global factor), into rows (n, P) and y (n);
 * returns n.
 */
static size_t task_rows(struct mlip_lstsq *s, const struct mlip_tasks *tasks, size_t k,
			const struct mlip_batch *b, const uint8_t *mask, const double *e0,
			double *rows, double *y)
{
	const struct mlip_task *task = &tasks->tasks[k];
	const struct mlip_lstsq_task *st = &s->task[k];
	const struct mlip_head *head = &tasks->heads[task->head];
	size_t P = s->n_cols, H = tasks->n_heads, h = task->head, B = b->n_systems, n = 0;
	size_t width = task->width, *valid = s->work->sys_valid.p;
	const double *A = task->cfg->property == MLIP_CFG_ENERGY   ? s->design.energy
			  : task->cfg->property == MLIP_CFG_FORCES ? s->design.forces
								   : s->design.stress;
	const double *label = task->cfg->property == MLIP_CFG_ENERGY   ? b->energy
			      : task->cfg->property == MLIP_CFG_FORCES ? b->forces
								       : b->stress;
	double inv = 1.0 / head->scale;
	/* a_s of the per_structure reduction: valid rows of s (atom level) or its atoms */
	for (size_t sy = 0; sy < B; sy++) {
		valid[sy] = 0;
		if (!task->atom_level)
			valid[sy] = mask[sy] ? b->natoms[sy] : 0;
		else
			for (size_t a = b->atom_start[sy]; a < b->atom_start[sy + 1]; a++)
				valid[sy] += mask[a] != 0;
	}
	for (size_t sy = 0; sy < B; sy++) {
		size_t r0 = task->atom_level ? b->atom_start[sy] : sy;
		size_t r1 = task->atom_level ? b->atom_start[sy + 1] : sy + 1;
		if (!valid[sy])
			continue;
		double omega = 1;
		if (st->per_atom)
			omega /= (double)b->natoms[sy] * (double)b->natoms[sy];
		if (st->reduction == MLIP_REDUCE_PER_STRUCTURE)
			omega /= (double)valid[sy];
		double root = sqrt(omega);
		for (size_t r = r0; r < r1; r++) {
			if (!mask[r])
				continue;
			for (size_t c = 0; c < width; c++, n++) {
				const double *a = A + (r * width + c) * P;
				for (size_t p = 0; p < P; p++)
					rows[n * P + p] = root * a[p];
				double t = task->cfg->property == MLIP_CFG_ENERGY
						   ? (label[r] - e0[r * H + h]) * inv
						   : label[r * width + c] * inv;
				y[n] = root * t;
			}
		}
	}
	return n;
}

int mlip_lstsq_add(struct mlip_lstsq *s, struct mlip_model *m, const struct mlip_tasks *tasks,
		   const struct mlip_batch *b, struct mlip_err *err)
{
	struct mlip_lstsq_work *w = s->work;
	size_t P = s->n_cols, H = s->n_heads, N = b->n_atoms, B = b->n_systems;
	size_t most = 3 * N > 9 * B ? 3 * N : 9 * B;
	int rc;
	if (s->reduced)
		rc = mlip_err_set(err, MLIP_EINVAL, "lstsq: rows added after the reduction");
	else if (!tasks->fitted)
		rc = mlip_err_set(err, MLIP_EINVAL, "lstsq: the tasks' normalizers and element "
				  "references are not fitted yet");
	else if (tasks->n_tasks != s->n_tasks || tasks->n_heads != H)
		rc = mlip_err_set(err, MLIP_EINVAL, "lstsq: not the tasks it was set up for");
	else
		rc = mlip_lstsq_design(s, m, b, err);
	if (rc)
		goto out;
	double *rows = need(&w->rows, most * P, sizeof(double));
	double *y = need(&w->y, most, sizeof(double));
	uint8_t *mask = need(&w->mask, N + B, 1);
	double *zero = need(&w->zero, B * H, sizeof(double));
	double *e0 = need(&w->e0, B * H, sizeof(double));
	uint64_t *counts = need(&w->counts, s->n_tasks, sizeof(uint64_t));
	if (!rows || !y || !mask || !zero || !e0 || !counts || !need(&w->sys_valid, B, sizeof(size_t))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq (%zu atoms)", N);
		goto out;
	}
	/* raw targets of energies: (E − physical energy of a raw 0) / scale, as tasks.c maps them */
	memset(zero, 0, B * H * sizeof(double));
	mlip_tasks_physical(tasks, b, zero, NULL, NULL, e0, NULL, NULL);
	if ((rc = mlip_tasks_loss_counts(tasks, b, counts, err)))
		goto out;
	for (size_t k = 0; k < s->n_tasks; k++) {
		const struct mlip_task *task = &tasks->tasks[k];
		if (!s->task[k].active)
			continue;
		mlip_task_mask(task, b, task->cfg->train_on_free_atoms, mask);
		size_t n = task_rows(s, tasks, k, b, mask, e0, rows, y);
		double *acc = s->acc + k * s->stride;
		if (n) {
			/* Σ ω a aᵀ: rows is (P, n) column-major, so this is rows·rowsᵀ */
			cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)P, (int)n, 1.0, rows,
				    (int)P, 1.0, acc, (int)P);
			cblas_dgemv(CblasColMajor, CblasNoTrans, (int)P, (int)n, 1.0, rows, (int)P, y, 1,
				    1.0, acc + P * P, 1);
			acc[P * P + P] += cblas_ddot((int)n, y, 1, y, 1);
		}
		acc[P * P + P + 1] += (double)counts[k];
	}
out:
	if (rc && !s->status)
		s->status = rc;
	return rc;
}

int mlip_lstsq_reduce(struct mlip_lstsq *s, struct mlip_err *err)
{
	int rc;
	if (s->reduced)
		return mlip_err_set(err, MLIP_EINVAL, "lstsq: reduced twice");
	if ((rc = mlip_dist_agree(s->status, err)))
		return rc;
	if ((rc = mlip_dist_sum_double(s->acc, s->n_tasks * s->stride, err)))
		return rc;
	s->reduced = 1;
	return MLIP_OK;
}

/* ---- solution ------------------------------------------------------------------------- */

/* The factor the task's rows get on top of ω: c, divided by the reduction's global count. */
static double task_factor(const struct mlip_lstsq *s, size_t k)
{
	const struct mlip_lstsq_task *st = &s->task[k];
	double count = s->acc[k * s->stride + s->n_cols * s->n_cols + s->n_cols + 1];
	if (st->reduction == MLIP_REDUCE_SUM)
		return st->coefficient;
	return st->coefficient / (count > 0 ? count : 1);
}

/*
 * Solve K x = rhs (n × n, upper triangle, column-major; both destroyed) into
 * rhs: Cholesky, or the minimum-norm solution from the eigen-decomposition
 * when K is not positive definite. *rank: n, or the eigenvalues kept.
 */
static int solve_spd(double *K, double *K2, double *rhs, int n, size_t *rank,
		     struct mlip_err *err)
{
	int info = 0, one = 1;
	memcpy(K2, K, (size_t)n * (size_t)n * sizeof(double));
	*rank = (size_t)n;
	dpotrf_("U", &n, K, &n, &info, 1);
	if (info == 0) {
		dpotrs_("U", &n, &one, K, &n, rhs, &n, &info, 1);
		return info ? mlip_err_set(err, MLIP_ERUN, "lstsq: dpotrs failed (%d)", info) : MLIP_OK;
	}
	if (info < 0)
		return mlip_err_set(err, MLIP_ERUN, "lstsq: dpotrf failed (%d)", info);
	/* not positive definite: K = U Λ Uᵀ, x = Σ_{λ_k kept} u_k (u_kᵀ rhs) / λ_k */
	double qwork, *lam = malloc((size_t)n * sizeof(double)), *t = malloc((size_t)n * sizeof(double));
	int qiwork, lwork = -1, liwork = -1, *iwork = NULL;
	double *work = NULL;
	int rc = MLIP_OK;
	if (!lam || !t) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq");
		goto out;
	}
	dsyevd_("V", "U", &n, K2, &n, lam, &qwork, &lwork, &qiwork, &liwork, &info, 1, 1);
	lwork = (int)qwork;
	liwork = qiwork;
	work = malloc((size_t)lwork * sizeof(double));
	iwork = malloc((size_t)liwork * sizeof(int));
	if (!work || !iwork) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq");
		goto out;
	}
	dsyevd_("V", "U", &n, K2, &n, lam, work, &lwork, iwork, &liwork, &info, 1, 1);
	if (info) {
		rc = mlip_err_set(err, MLIP_ERUN, "lstsq: dsyevd failed (%d)", info);
		goto out;
	}
	double top = lam[n - 1]; /* ascending */
	cblas_dgemv(CblasColMajor, CblasTrans, n, n, 1.0, K2, n, rhs, 1, 0.0, t, 1);
	*rank = 0;
	for (int k = 0; k < n; k++) {
		if (lam[k] > EIG_RCOND * top && top > 0) {
			t[k] /= lam[k];
			(*rank)++;
		} else {
			t[k] = 0;
		}
	}
	cblas_dgemv(CblasColMajor, CblasNoTrans, n, n, 1.0, K2, n, t, 1, 0.0, rhs, 1);
out:
	free(lam);
	free(t);
	free(work);
	free(iwork);
	return rc;
}

/*
 * Head h: θ (P) := the minimiser, from the reduced accumulators. Columns no
 * row touches get 0. Scratch: N (P²), K and K2 (P² each), rhs (P), act (P).
 */
static int solve_head(struct mlip_lstsq *s, size_t h, double *theta, double *N, double *K,
		      double *K2, double *rhs, size_t *act, struct mlip_err *err)
{
	size_t P = s->n_cols, n_w = 0, na = 0;
	int any = 0;
	memset(N, 0, P * P * sizeof(double));
	memset(rhs, 0, P * sizeof(double));
	memset(theta, 0, P * sizeof(double));
	for (size_t k = 0; k < s->n_tasks; k++) {
		if (!s->task[k].active || s->task[k].head != h)
			continue;
		const double *acc = s->acc + k * s->stride;
		double g = task_factor(s, k);
		any = 1;
		cblas_daxpy((int)(P * P), g, acc, 1, N, 1);
		cblas_daxpy((int)P, g, acc + P * P, 1, rhs, 1);
	}
	s->lambda[h] = 0;
	s->rank[h] = s->n_active[h] = 0;
	if (!any)
		return MLIP_OK;
	/* the ridge, relative to the mean diagonal of the weight columns */
	double trace = 0;
	for (size_t e = 0; e < s->n_elements; e++)
		for (size_t d = 0; d < s->dim[e]; d++, n_w++) {
			size_t c = s->col0[e] + d;
			trace += N[c * P + c];
		}
	double lambda = n_w ? s->ridge * trace / (double)n_w : 0;
	s->lambda[h] = lambda;
	for (size_t c = 0; c < P; c++)
		if (N[c * P + c] > 0)
			act[na++] = c;
	s->n_active[h] = na;
	if (!na)
		return MLIP_OK;
	memset(K, 0, na * na * sizeof(double)); /* the lower triangle too: it is checked below */
	for (size_t q = 0; q < na; q++) {
		for (size_t p = 0; p <= q; p++) /* upper triangle: row act[p] <= column act[q] */
			K[q * na + p] = N[act[q] * P + act[p]];
		rhs[q] = rhs[act[q]];
	}
	for (size_t q = 0; q < na; q++) {
		int bias = 0;
		for (size_t e = 0; e < s->n_elements; e++)
			bias |= act[q] == s->col0[e] + s->dim[e];
		if (!bias)
			K[q * na + q] += lambda;
	}
	for (size_t k = 0; k < na * na; k++)
		if (!isfinite(K[k]))
			return mlip_err_set(err, MLIP_ERUN, "lstsq: non-finite normal equations for "
					    "head %zu (non-finite labels or descriptors?)", h);
	int rc = solve_spd(K, K2, rhs, (int)na, &s->rank[h], err);
	if (rc)
		return rc;
	if (s->rank[h] < na)
		mlip_log(MLIP_LOG_WARN, "lstsq: head %zu: the normal equations are singular; kept %zu "
			 "of %zu directions (minimum-norm solution); a ridge > 0 makes them regular",
			 h, s->rank[h], na);
	for (size_t q = 0; q < na; q++) {
		if (!isfinite(rhs[q]))
			return mlip_err_set(err, MLIP_ERUN, "lstsq: non-finite solution for head %zu", h);
		theta[act[q]] = rhs[q];
	}
	return MLIP_OK;
}

int mlip_lstsq_solve(struct mlip_lstsq *s, struct mlip_model *m, struct mlip_err *err)
{
	size_t P = s->n_cols, H = s->n_heads;
	int rc = MLIP_OK;
	if (!s->reduced)
		return mlip_err_set(err, MLIP_EINVAL, "lstsq: solve before the reduction");
	if ((rc = check_model(s, m, err)))
		return rc;
	double *theta = calloc(H * P + 1, sizeof(double));
	double *N = malloc((3 * P * P + 2 * P + 1) * sizeof(double));
	size_t *act = malloc((P + 1) * sizeof(size_t));
	if (!theta || !N || !act) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for lstsq (%zu columns)", P);
		goto out;
	}
	double *K = N + P * P, *K2 = K + P * P, *rhs = K2 + P * P, *tmp = rhs + P;
	if (mlip_dist_rank() == 0)
		for (size_t h = 0; h < H && !rc; h++)
			rc = solve_head(s, h, theta + h * P, N, K, K2, rhs, act, err);
	/* every rank takes rank 0's solution, so that the models agree bit for bit */
	if ((rc = mlip_dist_agree(rc, err)) ||
	    (rc = mlip_dist_bcast(theta, H * P * sizeof(double), 0, err)) ||
	    (rc = mlip_dist_bcast(s->lambda, sizeof(s->lambda), 0, err)) ||
	    (rc = mlip_dist_bcast(s->rank, sizeof(s->rank), 0, err)) ||
	    (rc = mlip_dist_bcast(s->n_active, sizeof(s->n_active), 0, err)))
		goto out;
	for (size_t h = 0; h < H; h++) {
		int read = 0;
		for (size_t k = 0; k < s->n_tasks; k++)
			read |= s->task[k].active && s->task[k].head == h;
		if (!read) /* no task reads the head: its parameters stay */
			continue;
		for (size_t e = 0; e < s->n_elements; e++) {
			size_t D = s->dim[e];
			memcpy(out_weight(m, e) + h * D, theta + h * P + s->col0[e], D * sizeof(double));
			out_bias(m, e)[h] = theta[h * P + s->col0[e] + D];
		}
	}
	/* each task's loss at the solution: c/G (θᵀMθ − 2 θᵀv + Σ ω y²) */
	for (size_t k = 0; k < s->n_tasks; k++) {
		const double *acc = s->acc + k * s->stride, *th = theta + s->task[k].head * P;
		s->task_loss[k] = 0;
		if (!s->task[k].active)
			continue;
		cblas_dsymv(CblasColMajor, CblasUpper, (int)P, 1.0, acc, (int)P, th, 1, 0.0, tmp, 1);
		double q = cblas_ddot((int)P, th, 1, tmp, 1) - 2 * cblas_ddot((int)P, th, 1, acc + P * P, 1) +
			   acc[P * P + P];
		s->task_loss[k] = task_factor(s, k) * q;
	}
out:
	free(theta);
	free(N);
	free(act);
	return rc;
}
