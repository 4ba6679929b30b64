/*
 * metrics.c - metric accumulators and their reduction over ranks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "dist.h"
#include "banned.h"

static const char *const names[MLIP_METRIC_COUNT] = {
	"mae", "mse", "rmse", "per_atom_mae", "per_atom_mse", "cosine_similarity",
	"magnitude_error", "energy_within_threshold",
};

int mlip_metric_parse(const char *name)
{
	for (int k = 0; k < MLIP_METRIC_COUNT; k++)
		if (strcmp(name, names[k]) == 0)
			return k;
	return -1;
}

const char *mlip_metric_name(enum mlip_metric m)
{
	return (unsigned)m < MLIP_METRIC_COUNT ? names[m] : "?";
}

int mlip_metrics_init(struct mlip_metrics *m, size_t n_tasks, struct mlip_err *err)
{
	memset(m, 0, sizeof(*m));
	m->n_tasks = n_tasks;
	return MLIP_OK;
}

void mlip_metrics_release(struct mlip_metrics *m)
{
	for (size_t k = 0; k < m->n_datasets; k++)
		free(m->datasets[k]);
	free(m->datasets);
	free(m->sums);
	memset(m, 0, sizeof(*m));
}

long mlip_metrics_dataset(struct mlip_metrics *m, const char *name)
{
	for (size_t k = 0; k < m->n_datasets; k++)
		if (strcmp(m->datasets[k], name) == 0)
			return (long)k;
	size_t n = m->n_datasets + 1;
	char **d = realloc(m->datasets, n * sizeof(*d));
	if (!d)
		return -1;
	m->datasets = d;
	struct mlip_metric_sums *s = realloc(m->sums, n * (m->n_tasks ? m->n_tasks : 1) * sizeof(*s));
	if (!s)
		return -1;
	m->sums = s;
	memset(s + m->n_datasets * m->n_tasks, 0, m->n_tasks * sizeof(*s));
	if (!(d[m->n_datasets] = strdup(name)))
		return -1;
	return (long)m->n_datasets++;
}

void mlip_metrics_add_row(struct mlip_metrics *m, size_t ds, size_t t, const double *p,
			  const double *q, size_t d, size_t natoms, double threshold)
{
	struct mlip_metric_sums *s = &m->sums[ds * m->n_tasks + t];
	double pp = 0, qq = 0, pq = 0;
	for (size_t c = 0; c < d; c++) {
		double e = p[c] - q[c];
		s->abs_err += fabs(e);
		s->sq_err += e * e;
		pp += p[c] * p[c];
		qq += q[c] * q[c];
		pq += p[c] * q[c];
	}
	s->n_comp += (double)d;
	s->n_rows += 1;
	if (d == 1) {
		double e = (p[0] - q[0]) / (double)(natoms ? natoms : 1);
		s->pa_abs += fabs(e);
		s->pa_sq += e * e;
		s->within += fabs(p[0] - q[0]) < threshold;
	}
	if (d == 3) {
		double np = sqrt(pp), nq = sqrt(qq);
		s->cos += (np > 0 && nq > 0) ? pq / (np * nq) : 0.0;
		s->mag += fabs(np - nq);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mlip_metrics_reduce(struct mlip_metrics *m, struct mlip_err *err)
{
	int rc;
	/* 1. Every rank learns every dataset name: rank by rank broadcast. */
	int w = mlip_dist_size();
	for (int r = 0; r < w && w > 1; r++) {
		uint64_t bytes = 0;
		char *buf = NULL;
		if (mlip_dist_rank() == r)
			for (size_t k = 0; k < m->n_datasets; k++)
				bytes += strlen(m->datasets[k]) + 1;
		if ((rc = mlip_dist_bcast(&bytes, sizeof(bytes), r, err)))
			return rc;
		if (!(buf = malloc(bytes ? bytes : 1)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		if (mlip_dist_rank() == r) {
			size_t off = 0;
			for (size_t k = 0; k < m->n_datasets; k++) {
				size_t len = strlen(m->datasets[k]) + 1;
				memcpy(buf + off, m->datasets[k], len);
				off += len;
			}
		}
		if ((rc = mlip_dist_bcast(buf, bytes, r, err))) {
			free(buf);
			return rc;
		}
		for (size_t off = 0; off < bytes; off += strlen(buf + off) + 1)
			if (mlip_metrics_dataset(m, buf + off) < 0) {
				free(buf);
				return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			}
		free(buf);
	}
	/* 2. A common order: sorted by name. */
	size_t n = m->n_datasets, T = m->n_tasks;
	char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
	struct mlip_metric_sums *sums = malloc((n * T > 0 ? n * T : 1) * sizeof(*sums));
	if (!sorted || !sums) {
		free(sorted);
		free(sums);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	memcpy(sorted, m->datasets, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t k = 0; k < n; k++) {
		size_t old = 0;
		while (m->datasets[old] != sorted[k])
			old++;
		memcpy(sums + k * T, m->sums + old * T, T * sizeof(*sums));
	}
	free(m->datasets);
	free(m->sums);
	m->datasets = sorted;
	m->sums = sums;
	/* 3. Sum. */
	return mlip_dist_sum_double((double *)m->sums, n * T * MLIP_METRIC_NSUMS, err);
}

int mlip_metrics_value(const struct mlip_metrics *m, size_t ds, size_t t, enum mlip_metric k,
		       double *v)
{
	const struct mlip_metric_sums *s = &m->sums[ds * m->n_tasks + t];
	if (!(s->n_rows > 0))
		return 0;
	switch (k) {
	case MLIP_METRIC_MAE: *v = s->abs_err / s->n_comp; break;
	case MLIP_METRIC_MSE: *v = s->sq_err / s->n_comp; break;
	case MLIP_METRIC_RMSE: *v = sqrt(s->sq_err / s->n_comp); break;
	case MLIP_METRIC_PER_ATOM_MAE: *v = s->pa_abs / s->n_rows; break;
	case MLIP_METRIC_PER_ATOM_MSE: *v = s->pa_sq / s->n_rows; break;
	case MLIP_METRIC_COSINE_SIMILARITY: *v = s->cos / s->n_rows; break;
	case MLIP_METRIC_MAGNITUDE_ERROR: *v = s->mag / s->n_rows; break;
	case MLIP_METRIC_ENERGY_WITHIN_THRESHOLD: *v = s->within / s->n_rows; break;
	default: return 0;
	}
	return 1;
}
