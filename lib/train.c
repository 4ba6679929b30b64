/*
 * train.c - the training loop (contract in train.h, semantics in
 * share/doc/TRAINING.md). Step order: forward -> losses -> backward -> (debug
 * checksums) -> gradient reduction -> clip -> AdamW -> EMA -> log ->
 * schedule. All ranks hold every batch; rank r takes entries r, r+W, ... of
 * each epoch's seeded permutation (padded with its head to a multiple of W).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "train.h"
#include "jsonl.h"
#include "batch.h"
#include "batchstore.h"
#include "dist.h"
#include "finetune.h"
#include "evaluate.h"
#include "lbfgs.h"
#include "lstsq.h"
#include "log.h"
#include "metrics.h"
#include "network.h"
#include "optim.h"
#include "potential.h"
#include "rng.h"
#include "runckpt.h"
#include "tasks.h"
#include "banned.h"

_Static_assert(sizeof(mlip_real) == sizeof(double), "training runs in float64");

struct trainer {
	const struct mlip_train_opts *opts;
	struct mlip_potential p;
	struct mlip_config *cfg;              /* = &p.cfg */
	struct mlip_batch_store train;         /* the training batches, read on demand */
	struct mlip_batch cur;                /* the batch of this step, when it was decoded */
	struct mlip_batch_list val;           /* this rank's validation batches k ≡ rank (mod W) */
	size_t n_val;                         /* validation batches of all ranks */
	struct mlip_batch_list mine;          /* l-bfgs: this rank's training batches k ≡ rank (mod W) */
	int rank, world, sharded;
	size_t n_params, shard_start, shard_count;
	/* The optimizer's state of this rank's shard [shard_start, +shard_count) of the
	 * parameters, all it holds of it (the whole vector under ddp): */
	double *adam_m, *adam_v;              /* (shard_count) AdamW moments */
	double *ema;                          /* (shard_count) the EMA, or NULL */
	uint8_t *decay;                       /* (shard_count) 1 = weight decays */
	uint64_t bpe, total_steps;            /* batches per epoch per rank, T */
	struct mlip_schedule sch;
	struct mlip_adamw adamw;
	struct mlip_run_progress pg;
	size_t *perm;                         /* (bpe · W) this epoch's padded order */
	uint64_t perm_epoch;
	double *dE, *dF, *dS;                 /* loss gradients, sized for the largest batch */
	uint64_t *counts;                     /* (n_tasks) */
	double *task_loss;                    /* (n_tasks) */
	double *loss_sum;                     /* (n_tasks) since the last print */
	uint64_t steps_since_print, atoms_since_print, systems_since_print;
	double t_print, t_start;
	uint64_t prog_step0, prog_atoms;  /* progress: the first step of this process, atoms since */
	double prog_t0, prog_last, prog_every;
	double last_grad_norm, last_lr;
	json_t *last_train, *last_val;      /* rank 0: the latest records, for the end record */
	FILE *checksums;
	uint64_t last_ckpt_step;
	unsigned needs;
	int profiled;                         /* train.profile_flops reported */
	struct mlip_potential base;           /* model.init_from: the starting model */
	int has_base;
	char init_from[1024];                 /* its path, for messages */
	/* optim.lbfgs: steps total_steps .. end_step − 1 are L-BFGS iterations */
	uint64_t end_step;                    /* total_steps + optim.lbfgs.steps */
	struct mlip_lbfgs lbfgs;
	int lbfgs_started;                    /* lbfgs holds the state of the current point */
	double *lbfgs_x;                      /* (n_params) the current point */
	double *lbfgs_task_loss;              /* (n_tasks) per-task losses of the last evaluation */
	uint64_t *lbfgs_counts;               /* (n_tasks) loss counts of the whole training set */
	double lbfgs_gnorm;                   /* |g| at the current point */
	int lstsq;                            /* optim.name lstsq: solved, no steps */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int is0(const struct trainer *t)
{
	return t->rank == 0;
}

static void trainer_release(struct trainer *t)
{
	json_decref(t->last_train);
	json_decref(t->last_val);
	mlip_lbfgs_release(&t->lbfgs);
	free(t->lbfgs_x);
	free(t->lbfgs_task_loss);
	free(t->lbfgs_counts);
	mlip_potential_release(&t->p);
	if (t->has_base)
		mlip_potential_release(&t->base);
	mlip_batch_store_release(&t->train);
	mlip_batch_release(&t->cur);
	mlip_batch_list_release(&t->val);
	mlip_batch_list_release(&t->mine);
	free(t->ema);
	free(t->adam_m);
	free(t->adam_v);
	free(t->decay);
	free(t->perm);
	free(t->dE);
	free(t->dF);
	free(t->dS);
	free(t->counts);
	free(t->task_loss);
	free(t->loss_sum);
	if (t->checksums)
		fclose(t->checksums);
}

/*
 * Batch k of store s, decoded into scratch unless the store holds it. With
 * a phase (training batches), a decoded batch is noted in the rank's debug
 * file (train.debug_checksums), so that a test can see who read what.
 */
static const struct mlip_batch *read_batch(struct trainer *t, struct mlip_batch_store *s,
					   size_t k, struct mlip_batch *scratch, const char *phase,
					   struct mlip_err *err)
{
	uint64_t before = s->decoded;
	const struct mlip_batch *b = mlip_batch_store_get(s, k, scratch, err);
	if (b && phase && t->checksums && s->decoded != before) {
		json_t *o = mlip_jsonl_new("read");
		mlip_jsonl_str(o, "phase", phase);
		mlip_jsonl_int(o, "step", (long long)t->pg.step);
		mlip_jsonl_int(o, "rank", t->rank);
		mlip_jsonl_int(o, "batch", (long long)k);
		mlip_jsonl_write(t->checksums, o, NULL);
	}
	return b;
}

/* Training batch k, into t->cur. */
static const struct mlip_batch *train_batch(struct trainer *t, size_t k, const char *phase,
					    struct mlip_err *err)
{
	return read_batch(t, &t->train, k, &t->cur, phase, err);
}

/*
 * Batches k ≡ rank (mod W) of s, in order, into l (whose batches are its
 * own); phase as read_batch.
 */
static int take_share(struct trainer *t, struct mlip_batch_store *s, struct mlip_batch_list *l,
		      const char *phase, struct mlip_err *err)
{
	struct mlip_batch scratch;
	int rc = MLIP_OK;
	mlip_batch_init(&scratch);
	for (size_t k = (size_t)t->rank; k < s->n && !rc; k += (size_t)t->world) {
		const struct mlip_batch *b = read_batch(t, s, k, &scratch, phase, err);
		if (!b) {
			rc = err ? err->code : MLIP_EDATA;
			break;
		}
		if (b != &scratch) /* held by the store: the list needs a copy */
			rc = mlip_batch_append(&scratch, b, err);
		if (!rc)
			rc = mlip_batch_list_take(l, &scratch, err);
	}
	mlip_batch_release(&scratch);
	return rc;
}

/*
 * Index the training streams (each rank decodes only the batches it works
 * on, when it works on them) and read this rank's share of the validation
 * batches.
 */
static int open_data(struct trainer *t, struct mlip_err *err)
{
	const struct mlip_config_data *d = &t->cfg->data;
	struct mlip_batch_store val;
	int rc;
	for (int v = 0; v < 2; v++)
		for (size_t k = 0; k < (v ? d->n_val : d->n_train); k++)
			if (t->world > 1 && !strcmp((v ? d->val : d->train)[k], "-"))
				return mlip_err_set(err, MLIP_EINVAL,
						    "a batch stream on standard input cannot be shared by %d MPI "
						    "ranks; write it to a file", t->world);
	if ((rc = mlip_batch_store_open(&t->train, d->train, d->n_train, 1, err)))
		return rc;
	mlip_batch_store_init(&val);
	rc = mlip_batch_store_open(&val, d->val, d->n_val, 1, err);
	if (!rc)
		rc = take_share(t, &val, &t->val, NULL, err);
	t->n_val = val.n;
	mlip_batch_store_release(&val);
	return rc;
}

static int alloc_scratch(struct trainer *t, struct mlip_err *err)
{
	size_t H = t->p.tasks.n_heads, T = t->p.tasks.n_tasks;
	size_t maxB = t->train.max_systems > 1 ? t->train.max_systems : 1;
	size_t maxN = t->train.max_atoms > 1 ? t->train.max_atoms : 1;
	for (size_t k = 0; k < t->val.n; k++) {
		if (t->val.items[k].n_systems > maxB)
			maxB = t->val.items[k].n_systems;
		if (t->val.items[k].n_atoms > maxN)
			maxN = t->val.items[k].n_atoms;
	}
	t->dE = calloc(maxB * H, sizeof(double));
	t->dF = calloc(3 * maxN * H, sizeof(double));
	t->dS = calloc(9 * maxB * H, sizeof(double));
	t->counts = calloc(T + 1, sizeof(uint64_t));
	t->task_loss = calloc(T + 1, sizeof(double));
	t->loss_sum = calloc(T + 1, sizeof(double));
	size_t c = t->shard_count, s0 = t->shard_start;
	t->decay = calloc(c + 1, 1);
	t->adam_m = calloc(c + 1, sizeof(double));
	t->adam_v = calloc(c + 1, sizeof(double));
	if (!t->dE || !t->dF || !t->dS || !t->counts || !t->task_loss || !t->loss_sum || !t->decay ||
	    !t->adam_m || !t->adam_v)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	/* The no-decay group: biases and the (frozen) descriptor scaling; this shard's part. */
	const struct mlip_tensors *tab = &t->p.model->tensors;
	for (size_t k = 0; k < tab->n; k++) {
		size_t a = tab->t[k].offset, b = a + tab->t[k].count;
		if (tab->t[k].flags & (MLIP_TENSOR_NO_DECAY | MLIP_TENSOR_FROZEN))
			continue;
		a = a > s0 ? a : s0;
		b = b < s0 + c ? b : s0 + c;
		if (a < b)
			memset(t->decay + (a - s0), 1, b - a);
	}
	return MLIP_OK;
}

/* The schedule's T and Wu from the config and the number of batches. */
static void setup_schedule(struct trainer *t)
{
	const struct mlip_config_schedule *s = &t->cfg->schedule;
	size_t n = t->train.n, W = (size_t)t->world;
	t->bpe = (n + W - 1) / W;
	t->total_steps = s->in_steps ? (uint64_t)s->steps : (uint64_t)s->epochs * t->bpe;
	t->end_step = t->total_steps + (uint64_t)t->cfg->optim.lbfgs_steps;
	if (t->lstsq) { /* the solver takes no step; an L-BFGS phase may follow it */
		t->total_steps = 0;
		t->end_step = (uint64_t)t->cfg->optim.lbfgs_steps;
	}
	t->sch.warmup_factor = s->warmup_factor;
	t->sch.lr_min_factor = s->lr_min_factor;
	t->sch.total_steps = t->total_steps;
	t->sch.warmup_steps = s->warmup_in_steps
		? (s->warmup_steps > 0 ? (uint64_t)s->warmup_steps : 1)
		: mlip_schedule_warmup_from_epochs(s->warmup_epochs, t->bpe);
	t->adamw.lr = t->cfg->optim.lr;
	t->adamw.beta1 = t->cfg->optim.betas[0];
	t->adamw.beta2 = t->cfg->optim.betas[1];
	t->adamw.eps = t->cfg->optim.eps;
	t->adamw.weight_decay = t->cfg->optim.weight_decay;
}

/* This epoch's order: a seeded permutation, padded with its head to a multiple of W. */
static int epoch_order(struct trainer *t, uint64_t epoch, struct mlip_err *err)
{
	size_t n = t->train.n, padded = t->bpe * (size_t)t->world;
	if (t->perm && t->perm_epoch == epoch)
		return MLIP_OK;
	size_t *perm = realloc(t->perm, (padded + n) * sizeof(size_t));
	if (!perm)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	t->perm = perm;
	for (size_t k = 0; k < n; k++)
		perm[k] = k;
	struct mlip_rng r;
	mlip_rng_seed2(&r, t->cfg->seed, epoch);
	mlip_rng_shuffle(&r, perm, n);
	for (size_t k = n; k < padded; k++)
		perm[k] = perm[k - n];
	t->perm_epoch = epoch;
	return MLIP_OK;
}

/*
 * A metrics record of type `type` at the current step: {"type", "step",
 * "epoch"}. The epoch stops at the schedule's end: the L-BFGS phase that
 * may follow counts steps, not passes of the AdamW schedule.
 */
static json_t *record(const struct trainer *t, const char *type)
{
	json_t *o = mlip_jsonl_new(type);
	uint64_t step = t->pg.step < t->total_steps ? t->pg.step : t->total_steps;
	mlip_jsonl_int(o, "step", (long long)t->pg.step);
	mlip_jsonl_real(o, "epoch", (double)step / (double)t->bpe);
	return o;
}

/* Keep a copy of record o in *slot (the latest of its kind). */
static void keep_record(json_t **slot, json_t *o)
{
	json_decref(*slot);
	*slot = o ? json_deep_copy(o) : NULL;
}

/* "<prefix><task>": v */
static void task_key(json_t *o, const char *prefix, const char *task, double v)
{
	char key[512];
	snprintf(key, sizeof(key), "%s%s", prefix, task);
	mlip_jsonl_real(o, key, v);
}

/* Write a record to the metrics stream (taking o). */
static int write_record(const struct trainer *t, json_t *o, struct mlip_err *err)
{
	int rc = mlip_jsonl_write(t->opts->metrics, o, err);
	if (rc && !err)
		mlip_log(MLIP_LOG_WARN, "metrics: could not write a record");
	return rc;
}

static void write_checksums(struct trainer *t, double loss)
{
	const struct mlip_tensors *tab = &t->p.model->tensors;
	const mlip_real *par = t->p.model->params, *g = t->p.model->grads;
	json_t *o = mlip_jsonl_new(NULL), *tensors = json_object();
	mlip_jsonl_int(o, "step", (long long)t->pg.step);
	mlip_jsonl_int(o, "rank", t->rank);
	mlip_jsonl_real(o, "loss", loss);
	for (size_t k = 0; k < tab->n; k++) {
		double sp = 0, sg = 0;
		for (size_t i = 0; i < tab->t[k].count; i++) {
			sp += fabs(par[tab->t[k].offset + i]);
			sg += fabs(g[tab->t[k].offset + i]);
		}
		double v[2] = { sp / tab->t[k].count, sg / tab->t[k].count };
		mlip_jsonl_set(tensors, tab->t[k].name, mlip_jsonl_reals(v, 2));
	}
	mlip_jsonl_set(o, "tensors", tensors);
	/* a debugging aid: a full disk must not stop the run */
	mlip_jsonl_write(t->checksums, o, NULL);
}

/*
 * Swap this rank's shard of the model's parameters with its EMA shard, then
 * (sharded) gather the whole vector: the parameters become the EMA on every
 * rank and the raw shard waits in t->ema. The same call swaps back. Every
 * rank calls it (a collective under sharding); no buffer of the whole
 * vector is needed besides the parameters themselves.
 */
static int swap_ema(struct trainer *t, struct mlip_err *err)
{
	mlip_real *par = t->p.model->params + t->shard_start;
	for (size_t k = 0; k < t->shard_count; k++) {
		double x = par[k];
		par[k] = t->ema[k];
		t->ema[k] = x;
	}
	return t->sharded ? mlip_dist_allgather_shards(t->p.model->params, t->n_params, err) : MLIP_OK;
}

static int use_ema(const struct trainer *t)
{
	return t->ema && t->pg.ema_started;
}

/*
 * Write the inference checkpoint path (rank 0) with the raw weights and,
 * when the EMA is in use, the EMA as the primary weights. Every rank calls
 * it. Under sharding the EMA is gathered into the parameters while the file
 * is written, and rank 0 keeps a copy of the raw weights for that moment.
 */
static int save_model(struct trainer *t, const char *path, struct mlip_err *err)
{
	int rc = MLIP_OK;
	double *raw = NULL;
	if (!use_ema(t) || !t->sharded) { /* rank 0 holds both whole */
		if (is0(t))
			rc = mlip_potential_save(&t->p, path, t->p.model->params,
						 use_ema(t) ? t->ema : NULL, 1, err);
		return mlip_dist_agree(rc, err);
	}
	if (is0(t) && !(raw = malloc(t->n_params * sizeof(double) + 1)))
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if (raw)
		memcpy(raw, t->p.model->params, t->n_params * sizeof(double));
	if ((rc = mlip_dist_agree(rc, err)) || (rc = swap_ema(t, err)))
		goto done;
	if (is0(t))
		rc = mlip_potential_save(&t->p, path, raw, t->p.model->params, 1, err);
	int rc2 = swap_ema(t, err);
	rc = mlip_dist_agree(rc ? rc : rc2, err);
done:
	free(raw);
	return rc;
}

static int evaluate(struct trainer *t, struct mlip_err *err)
{
	struct mlip_eval ev;
	int rc;
	if (t->n_val == 0)
		return MLIP_OK;
	if ((rc = mlip_eval_init(&ev, t->p.model, &t->p.tasks, 0, err)))
		return mlip_dist_agree(rc, err);
	if (use_ema(t) && (rc = swap_ema(t, err))) {
		mlip_eval_release(&ev);
		return rc;
	}
	for (size_t k = 0; k < t->val.n && !rc; k++)
		rc = mlip_eval_batch(&ev, &t->val.items[k], err);
	int rc2 = use_ema(t) ? swap_ema(t, err) : MLIP_OK;
	rc = mlip_dist_agree(rc ? rc : rc2, err);
	if (!rc)
		rc = mlip_eval_reduce(&ev, err);
	if (!rc && is0(t) && t->opts->metrics) {
		json_t *o = record(t, "val");
		if (t->pg.step > t->total_steps)
			mlip_jsonl_str(o, "optimizer", "lbfgs");
		mlip_eval_metrics_json(o, &ev, "val/");
		keep_record(&t->last_val, o);
		write_record(t, o, NULL); /* rank 0 alone: a failure here must not desert the others */
	}
	mlip_eval_release(&ev);
	return rc;
}

static void log_train(struct trainer *t)
{
	size_t T = t->p.tasks.n_tasks;
	double buf[64];
	uint64_t cnt[2] = { t->atoms_since_print, t->systems_since_print };
	double dt = now() - t->t_print;
	size_t nb = T < 63 ? T : 63;
	memcpy(buf, t->loss_sum, nb * sizeof(double));
	mlip_dist_sum_u64(cnt, 2, NULL);
	if (is0(t) && t->opts->metrics && t->steps_since_print > 0) {
		double n = (double)t->steps_since_print, total = 0;
		json_t *o = record(t, "train");
		for (size_t k = 0; k < nb; k++) {
			if (!t->p.tasks.tasks[k].has_loss)
				continue;
			task_key(o, "loss/", t->p.tasks.tasks[k].cfg->name, buf[k] / n);
			total += buf[k] / n;
		}
		mlip_jsonl_real(o, "loss", total);
		mlip_jsonl_real(o, "lr", t->last_lr);
		mlip_jsonl_real(o, "grad_norm", t->last_grad_norm);
		mlip_jsonl_real(o, "samples_per_s", cnt[1] / fmax(dt, 1e-9));
		mlip_jsonl_real(o, "atoms_per_s", cnt[0] / fmax(dt, 1e-9));
		if (t->pg.nonfinite_total)
			mlip_jsonl_int(o, "nonfinite_steps", (long long)t->pg.nonfinite_total);
		keep_record(&t->last_train, o);
		write_record(t, o, NULL);
	}
	memset(t->loss_sum, 0, T * sizeof(double));
	t->steps_since_print = t->atoms_since_print = t->systems_since_print = 0;
	t->t_print = now();
}

/*
 * Progress on stderr (rank 0): on a terminal one line rewritten twice a
 * second; otherwise (a batch job's log) a line at most every 10 s
 * (MLIP_PROGRESS_SECONDS), with the
 * step, epoch or L-BFGS state, loss, lr, throughput and the time left at
 * this process's pace. Atoms/s counts rank 0's batches times the ranks.
 */
static void progress_line(struct trainer *t, double loss)
{
	if (!t->opts->progress || !is0(t))
		return;
	int tty = isatty(STDERR_FILENO), last_step = t->pg.step == t->end_step;
	double tn = now();
	if (t->prog_t0 == 0) {
		t->prog_t0 = t->prog_last = tn;
		t->prog_step0 = t->pg.step - 1;
	}
	if (t->prog_t0 == tn) { /* the first call: the interval off a terminal */
		const char *e = getenv("MLIP_PROGRESS_SECONDS");
		t->prog_every = e && atof(e) >= 0 ? atof(e) : 10.0;
	}
	if (tn - t->prog_last < (tty ? 0.5 : t->prog_every) && !(tty && last_step))
		return;
	t->prog_last = tn;
	double dt = fmax(tn - t->prog_t0, 1e-9), done = (double)(t->pg.step - t->prog_step0);
	double eta = (double)(t->end_step - t->pg.step) * dt / fmax(done, 1);
	char state[96];
	if (t->pg.step > t->total_steps)
		snprintf(state, sizeof(state), "l-bfgs  loss %.5g  |g| %.3g", loss, t->lbfgs_gnorm);
	else
		snprintf(state, sizeof(state), "epoch %.2f  loss %.5g  lr %.3g",
			 (double)t->pg.step / (double)t->bpe, loss, t->last_lr);
	fprintf(stderr, "%sstep %llu/%llu  %s  %.3g atoms/s  eta %.0f s%s", tty ? "\r" : "",
		(unsigned long long)t->pg.step, (unsigned long long)t->end_step, state,
		(double)t->prog_atoms * t->world / dt, eta, tty ? (last_step ? "   \n" : "   ") : "\n");
}

static int write_checkpoint(struct trainer *t, const char *name, struct mlip_err *err)
{
	char dir[4096], path[4200];
	int rc = MLIP_OK;
	snprintf(dir, sizeof(dir), "%s/checkpoints/%s", t->opts->run_dir, name);
	if (is0(t)) {
		/* a stale directory of the same name (an earlier run) is replaced */
		snprintf(path, sizeof(path), "%s/DONE", dir);
		unlink(path);
		rc = mlip_mkdirs(dir, err);
	}
	if ((rc = mlip_dist_agree(rc, err)))
		return rc;
	t->pg.world = t->world;
	snprintf(t->pg.strategy, sizeof(t->pg.strategy), "%s", t->sharded ? "sharded" : "ddp");
	size_t start = t->shard_start, count = t->shard_count;
	if (!t->sharded) { /* rank 0 holds everything; the others write empty shards */
		start = is0(t) ? 0 : t->n_params;
		count = is0(t) ? t->n_params : 0;
	}
	char *tasks_state = NULL;
	if (is0(t))
		rc = mlip_tasks_state_to_json(&t->p.tasks, &tasks_state, err);
	if (!rc)
		rc = mlip_runckpt_write_shard(dir, t->rank, &t->pg, t->n_params, start, count,
					      t->p.model->params, t->adam_m, t->adam_v, t->ema,
					      tasks_state, err);
	free(tasks_state);
	if ((rc = mlip_dist_agree(rc, err)))
		return rc;
	if (t->cfg->train.save_inference_ckpt) {
		snprintf(path, sizeof(path), "%s/inference_ckpt.mlip", dir);
		if ((rc = save_model(t, path, err)))
			return rc;
	}
	if (is0(t)) {
		char *config = NULL;
		size_t len;
		rc = mlip_config_resolved_text(t->cfg, &config, &len, err);
		if (!rc)
			rc = mlip_runckpt_write_resume(dir, &t->pg, config, err);
		free(config);
		snprintf(path, sizeof(path), "%s/lbfgs.mlip", dir);
		if (!rc && t->lbfgs_started)
			rc = mlip_runckpt_write_lbfgs(dir, &t->lbfgs, err);
		else if (!rc)
			unlink(path); /* a stale one of an earlier run */
		if (!rc)
			rc = mlip_runckpt_mark_done(dir, err);
		if (!rc && strncmp(name, "step_", 5) == 0) {
			snprintf(path, sizeof(path), "%s/checkpoints", t->opts->run_dir);
			rc = mlip_runckpt_prune(path, (size_t)t->cfg->train.max_saved_checkpoints, err);
		}
		if (!rc)
			mlip_log(MLIP_LOG_INFO, "checkpoint %s written", dir);
	}
	t->last_ckpt_step = t->pg.step;
	return mlip_dist_agree(rc, err);
}

/*
 * train.profile_flops: the counted FLOPs of one training forward (energies,
 * and the forces / stress the tasks need) and backward on this rank's first
 * batch. Only matrix products are counted (mlip_matmul_flops).
 */
static void report_flops(struct trainer *t, const struct mlip_batch *b, uint64_t fwd, uint64_t bwd)
{
	double per_atom = (double)(fwd + bwd) / (double)(b->n_atoms ? b->n_atoms : 1);
	if (!is0(t))
		return;
	mlip_log(MLIP_LOG_INFO, "profile: %llu + %llu FLOPs (forward + backward, matrix products) "
		 "for %zu atoms: %.0f per atom", (unsigned long long)fwd, (unsigned long long)bwd,
		 b->n_atoms, per_atom);
	if (t->opts->metrics) {
		json_t *o = mlip_jsonl_new("profile");
		mlip_jsonl_int(o, "step", (long long)t->pg.step);
		mlip_jsonl_int(o, "atoms", (long long)b->n_atoms);
		mlip_jsonl_int(o, "forward_flops", (long long)fwd);
		mlip_jsonl_int(o, "backward_flops", (long long)bwd);
		mlip_jsonl_real(o, "flops_per_atom", per_atom);
		write_record(t, o, NULL);
	}
}

/* One optimizer iteration; returns MLIP_ERUN after too many non-finite steps. */
/* What a training forward computes: the outputs the tasks' losses need. */
static unsigned train_flags(const struct trainer *t)
{
	return MLIP_MODEL_TRAIN | ((t->needs & MLIP_HAS_FORCES) ? MLIP_MODEL_FORCES : 0) |
	       ((t->needs & MLIP_HAS_STRESS) ? MLIP_MODEL_STRESS : 0);
}

static int train_step(struct trainer *t, struct mlip_err *err)
{
	struct mlip_model *m = t->p.model;
	struct mlip_tasks *tasks = &t->p.tasks;
	size_t H = tasks->n_heads, T = tasks->n_tasks;
	uint64_t epoch = t->pg.step / t->bpe, pos = t->pg.step % t->bpe;
	int rc;
	if ((rc = epoch_order(t, epoch, err)))
		return rc;
	size_t bi = t->perm[pos * (size_t)t->world + (size_t)t->rank];
	const struct mlip_batch *b = train_batch(t, bi, "train", err);
	struct mlip_model_out out;
	unsigned flags = train_flags(t);

	mlip_model_zero_grad(m);
	int profile = t->cfg->train.profile_flops && !t->profiled;
	uint64_t flops_fwd = 0;
	if (profile)
		mlip_matmul_flops_reset();
	rc = b ? mlip_model_forward(m, b, flags, &out, err) : err->code;
	if (profile)
		flops_fwd = mlip_matmul_flops();
	if (!rc)
		rc = mlip_tasks_loss_counts(tasks, b, t->counts, err);
	if ((rc = mlip_dist_agree(rc, err)))
		return rc;
	if ((rc = mlip_dist_sum_u64(t->counts, T, err)))
		return rc;
	memset(t->dE, 0, b->n_systems * H * sizeof(double));
	memset(t->dF, 0, 3 * b->n_atoms * H * sizeof(double));
	memset(t->dS, 0, 9 * b->n_systems * H * sizeof(double));
	rc = mlip_tasks_loss(tasks, b, out.energy, out.forces, out.stress, t->counts, t->task_loss,
			     t->dE, out.forces ? t->dF : NULL, out.stress ? t->dS : NULL, err);
	if (!rc)
		rc = mlip_model_backward(m, b, t->dE, out.forces ? t->dF : NULL,
					 out.stress ? t->dS : NULL, err);
	if ((rc = mlip_dist_agree(rc, err)))
		return rc;
	if (profile) {
		report_flops(t, b, flops_fwd, mlip_matmul_flops() - flops_fwd);
		t->profiled = 1;
	}
	double local = 0;
	for (size_t k = 0; k < T; k++)
		local += t->task_loss[k];
	if (t->checksums)
		write_checksums(t, local);
	/* the global objective: losses and gradients are sums over ranks */
	if ((rc = mlip_dist_sum_double(t->task_loss, T, err)))
		return rc;
	double total = 0;
	for (size_t k = 0; k < T; k++)
		total += t->task_loss[k];

	size_t n = t->n_params, start = t->shard_start, count = t->shard_count;
	rc = t->sharded ? mlip_dist_reduce_scatter_sum(m->grads, n, err)
			: mlip_dist_sum_double(m->grads, n, err);
	if (rc)
		return rc;
	double sq = mlip_sum_squares(m->grads + start, count);
	if (t->sharded && (rc = mlip_dist_sum_double(&sq, 1, err)))
		return rc;
	double gnorm = sqrt(sq);
	t->last_grad_norm = gnorm;
	t->last_lr = t->adamw.lr * mlip_schedule_factor(&t->sch, t->pg.step);
	if (!isfinite(total) || !isfinite(gnorm)) {
		t->pg.nonfinite++;
		t->pg.nonfinite_total++;
		mlip_log(MLIP_LOG_WARN, "step %llu: non-finite loss or gradient on training batch %zu "
			 "(first structure %s); step skipped (%llu in a row)",
			 (unsigned long long)t->pg.step, bi, b->n_systems ? b->id[0] : "?",
			 (unsigned long long)t->pg.nonfinite);
		if (t->pg.nonfinite >= (uint64_t)t->cfg->train.max_nonfinite_steps)
			return mlip_err_set(err, MLIP_ERUN,
					    "training diverged: %llu consecutive non-finite steps, the last on "
					    "training batch %zu (first structure %s); lower optim.lr or check "
					    "the data", (unsigned long long)t->pg.nonfinite, bi,
					    b->n_systems ? b->id[0] : "?");
		t->pg.step++;
		return MLIP_OK;
	}
	t->pg.nonfinite = 0;
	double clip = mlip_clip_factor(gnorm, t->cfg->train.clip_grad_norm);
	if (clip != 1.0)
		mlip_scale(m->grads + start, count, clip);
	t->pg.adam_t++;
	mlip_adamw_step(m->params + start, m->grads + start, t->adam_m, t->adam_v, t->decay, count,
			&t->adamw, mlip_schedule_factor(&t->sch, t->pg.step), t->pg.adam_t);
	if (t->sharded && (rc = mlip_dist_allgather_shards(m->params, n, err)))
		return rc;
	if (t->ema) {
		mlip_ema_update(t->ema, m->params + start, count, t->cfg->train.ema_decay,
				!t->pg.ema_started);
		t->pg.ema_started = 1;
	}
	t->pg.step++;
	for (size_t k = 0; k < T; k++)
		t->loss_sum[k] += t->task_loss[k];
	t->steps_since_print++;
	t->atoms_since_print += b->n_atoms;
	t->prog_atoms += b->n_atoms;
	t->systems_since_print += b->n_systems;
	progress_line(t, total);
	return MLIP_OK;
}

/*
 * Every L-BFGS evaluation passes over the same batches: up to this many bytes
 * of their environments and descriptors are kept between passes (about
 * 3.5 KB per atom for 50 functions and 35 neighbours; mlearn Si: 45 MB).
 */
#define LBFGS_GEOMETRY_BYTES ((size_t)2 << 30)

/*
 * The full-data objective at x: every training batch of this rank through
 * forward, loss and backward with the counts of the whole training set, so
 * that the loss is the global mean (as one batch holding everything) and
 * m->grads its gradient, both summed over ranks.
 */
static int full_objective(void *ctx, const double *x, double *f, double *g, struct mlip_err *err)
{
	struct trainer *t = ctx;
	struct mlip_model *m = t->p.model;
	struct mlip_tasks *tasks = &t->p.tasks;
	size_t H = tasks->n_heads, T = tasks->n_tasks, n = t->n_params;
	unsigned flags = train_flags(t);
	int rc = MLIP_OK;
	memcpy(m->params, x, n * sizeof(double));
	mlip_model_zero_grad(m);
	double loss = 0; /* in batch order: its rounding decides line searches, so the order is fixed */
	memset(t->lbfgs_task_loss, 0, T * sizeof(double));
	for (size_t j = 0; !rc && j < t->mine.n; j++) {
		const struct mlip_batch *b = &t->mine.items[j];
		size_t bi = (size_t)t->rank + j * (size_t)t->world;
		struct mlip_model_out out;
		t->prog_atoms += b->n_atoms;
		rc = mlip_model_forward_kept(m, b, bi, flags, &out, err);
		if (rc)
			break;
		memset(t->dE, 0, b->n_systems * H * sizeof(double));
		memset(t->dF, 0, 3 * b->n_atoms * H * sizeof(double));
		memset(t->dS, 0, 9 * b->n_systems * H * sizeof(double));
		rc = mlip_tasks_loss(tasks, b, out.energy, out.forces, out.stress, t->lbfgs_counts,
				     t->task_loss, t->dE, out.forces ? t->dF : NULL,
				     out.stress ? t->dS : NULL, err);
		if (!rc)
			rc = mlip_model_backward(m, b, t->dE, out.forces ? t->dF : NULL,
						 out.stress ? t->dS : NULL, err);
		for (size_t k = 0; k < T; k++) {
			loss += t->task_loss[k];
			t->lbfgs_task_loss[k] += t->task_loss[k];
		}
	}
	if ((rc = mlip_dist_agree(rc, err)) || (rc = mlip_dist_sum_double(&loss, 1, err)) ||
	    (rc = mlip_dist_sum_double(t->lbfgs_task_loss, T, err)) ||
	    (rc = mlip_dist_sum_double(m->grads, n, err)))
		return rc;
	*f = loss;
	memcpy(g, m->grads, n * sizeof(double));
	return MLIP_OK;
}

/* The L-BFGS phase's current point becomes the weights (and the EMA, which
 * evaluation, checkpoints and the model use). */
static void lbfgs_publish(struct trainer *t)
{
	memcpy(t->p.model->params, t->lbfgs_x, t->n_params * sizeof(double));
	if (t->ema) {
		memcpy(t->ema, t->lbfgs_x + t->shard_start, t->shard_count * sizeof(double));
		t->pg.ema_started = 1;
	}
	t->lbfgs_gnorm = sqrt(mlip_sum_squares(t->lbfgs.g, t->n_params));
}

/*
 * optim.lbfgs.scaling adamw: H₀'s diagonal is AdamW's own preconditioner at
 * the end of the schedule, 1/(√v̂ + ε) (v̂ the bias-corrected second moments;
 * ε at least 1e-6 of the largest √v̂, so that no parameter's scale runs
 * away). Parameters of very different scales (first-layer weights, output
 * biases, radial coefficients) then start from the scales AdamW learnt
 * instead of one γ for all: on the mtp recipe the training loss after 300
 * steps is 14 % lower (bench/RESULTS.md). v is not touched by L-BFGS and is
 * in every checkpoint, so a resume sets the same D. Without AdamW steps (no
 * schedule, or a resume of a run without them) v is zero: the identity.
 */
static int lbfgs_scaling(struct trainer *t, struct mlip_err *err)
{
	if (t->cfg->optim.lbfgs_scaling != MLIP_CFG_SCALING_ADAMW || t->pg.adam_t == 0)
		return MLIP_OK;
	size_t n = t->n_params;
	double *d = calloc(n + 1, sizeof(double));
	int rc = d ? MLIP_OK : mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if ((rc = mlip_dist_agree(rc, err))) {
		free(d);
		return rc;
	}
	memcpy(d + t->shard_start, t->adam_v, t->shard_count * sizeof(double));
	rc = t->sharded ? mlip_dist_allgather_shards(d, n, err) : MLIP_OK;
	double bc2 = 1 - pow(t->adamw.beta2, (double)t->pg.adam_t), top = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		d[i] = sqrt(d[i] / bc2);
		top = fmax(top, d[i]);
	}
	double eps = fmax(t->adamw.eps, 1e-6 * top);
	for (size_t i = 0; !rc && i < n; i++)
		d[i] = 1 / (d[i] + eps);
	if (!rc && top > 0)
		rc = mlip_lbfgs_set_scaling(&t->lbfgs, d, err);
	free(d);
	return mlip_dist_agree(rc, err);
}

/*
 * Start the L-BFGS phase from the final weights of the schedule (the EMA
 * when there is one), or from a checkpoint's state: the current point is
 * then the checkpoint's weights and lbfgs.mlip holds f, g and the pairs.
 */
static int lbfgs_begin(struct trainer *t, const char *resume_dir, struct mlip_err *err)
{
	size_t n = t->n_params;
	int rc, found = 0;
	/* every evaluation runs over the whole training set: this rank's share stays in memory */
	if (!t->mine.n && (rc = mlip_dist_agree(take_share(t, &t->train, &t->mine, "lbfgs", err), err)))
		return rc;
	if ((rc = mlip_model_keep_geometry(t->p.model, t->train.n, LBFGS_GEOMETRY_BYTES, err)))
		return rc;
	/* the loss counts of the whole training set (every evaluation divides by them) */
	size_t T = t->p.tasks.n_tasks;
	memset(t->lbfgs_counts, 0, T * sizeof(uint64_t));
	for (size_t j = 0; !rc && j < t->mine.n; j++) {
		rc = mlip_tasks_loss_counts(&t->p.tasks, &t->mine.items[j], t->counts, err);
		for (size_t k = 0; !rc && k < T; k++)
			t->lbfgs_counts[k] += t->counts[k];
	}
	if ((rc = mlip_dist_agree(rc, err)) || (rc = mlip_dist_sum_u64(t->lbfgs_counts, T, err)))
		return rc;
	/* the starting point: the EMA (every rank gathers it into the parameters and back) */
	int ema = use_ema(t);
	if (ema && (rc = swap_ema(t, err)))
		return rc;
	memcpy(t->lbfgs_x, t->p.model->params, n * sizeof(double));
	if (ema && (rc = swap_ema(t, err)))
		return rc;
	if ((rc = lbfgs_scaling(t, err)))
		return rc;
	if (resume_dir && (rc = mlip_runckpt_load_lbfgs(resume_dir, &t->lbfgs, &found, err)))
		return rc;
	if (!found) {
		rc = mlip_lbfgs_start(&t->lbfgs, t->lbfgs_x, full_objective, t, err);
		if (rc == MLIP_ERUN)
			rc = mlip_err_set(err, MLIP_ERUN, "l-bfgs: non-finite loss or gradient on the "
					  "training set at the end of the schedule; lower optim.lr or check the data");
		if (rc)
			return rc;
		if (is0(t))
			mlip_log(MLIP_LOG_INFO, "l-bfgs on the whole training set: loss %.6g at step %llu",
				 t->lbfgs.f, (unsigned long long)t->pg.step);
		/* that pass filled the geometry slots: say if the budget left some batches out
		 * (after a resume they fill on the first pass, later) */
		size_t kept, mine = (t->train.n + (size_t)t->world - 1 - (size_t)t->rank) /
				    (size_t)t->world;
		size_t bytes = mlip_model_geometry_bytes(t->p.model, &kept);
		if (kept < mine)
			mlip_log(MLIP_LOG_WARN, "l-bfgs: rank %d keeps the geometry of %zu of its %zu "
				 "training batches (%.0f MB, the budget); the others are recomputed at "
				 "every step", t->rank, kept, mine, (double)bytes / 1e6);
		else if (is0(t))
			mlip_log(MLIP_LOG_INFO, "l-bfgs: the training batches' geometry is kept between "
				 "steps (%.0f MB on rank 0)", (double)bytes / 1e6);
	}
	t->lbfgs_started = 1;
	lbfgs_publish(t);
	return MLIP_OK;
}

static void log_lbfgs(struct trainer *t, double seconds, uint64_t evals)
{
	if (!is0(t) || !t->opts->metrics)
		return;
	size_t T = t->p.tasks.n_tasks;
	json_t *o = record(t, "train");
	mlip_jsonl_str(o, "optimizer", "lbfgs");
	for (size_t k = 0; k < T; k++)
		if (t->p.tasks.tasks[k].has_loss)
			task_key(o, "loss/", t->p.tasks.tasks[k].cfg->name, t->lbfgs_task_loss[k]);
	mlip_jsonl_real(o, "loss", t->lbfgs.f);
	mlip_jsonl_real(o, "grad_norm", t->lbfgs_gnorm);
	mlip_jsonl_int(o, "evaluations", (long long)evals);
	mlip_jsonl_real(o, "s_per_evaluation", seconds / (double)(evals ? evals : 1));
	keep_record(&t->last_train, o);
	write_record(t, o, NULL);
}

/*
 * The run's last record: where it ended (step, epoch, the last phase), its
 * wall time, the last training losses and validation metrics, and the model.
 */
static void write_end_record(struct trainer *t, const char *model_path)
{
	json_t *o = record(t, "end");
	const char *key;
	json_t *v;
	mlip_jsonl_str(o, "optimizer", t->pg.step > t->total_steps ? "lbfgs" : t->lstsq ? "lstsq" : "adamw");
	mlip_jsonl_real(o, "wall_s", now() - t->t_start);
	json_object_foreach(t->last_train, key, v)
		if (!strncmp(key, "loss", 4))
			mlip_jsonl_set(o, key, json_incref(v));
	json_object_foreach(t->last_val, key, v)
		if (!strncmp(key, "val/", 4))
			mlip_jsonl_set(o, key, json_incref(v));
	mlip_jsonl_str(o, "model", model_path);
	write_record(t, o, NULL);
}

/* One L-BFGS iteration; when no trial decreases the loss, the phase ends here. */
static int lbfgs_step(struct trainer *t, struct mlip_err *err)
{
	int rc, moved = 0;
	size_t evals = 0;
	double t0 = now();
	if (!t->lbfgs_started && (rc = lbfgs_begin(t, NULL, err)))
		return rc;
	if ((rc = mlip_lbfgs_iterate(&t->lbfgs, t->lbfgs_x, full_objective, t, &evals, &moved, err)))
		return rc;
	lbfgs_publish(t); /* the weights hold the last trial; back to the current point */
	if (!moved) {
		if (is0(t))
			mlip_log(MLIP_LOG_INFO, "l-bfgs: no further decrease at step %llu (loss %.6g); "
				 "the phase ends %llu steps early", (unsigned long long)t->pg.step,
				 t->lbfgs.f, (unsigned long long)(t->end_step - t->pg.step));
		t->pg.step = t->end_step;
		return MLIP_OK;
	}
	t->pg.step++;
	if (t->checksums)
		write_checksums(t, t->lbfgs.f);
	const struct mlip_config_train *tc = &t->cfg->train;
	if ((tc->print_every > 0 && t->pg.step % (uint64_t)tc->print_every == 0) ||
	    t->pg.step == t->end_step)
		log_lbfgs(t, now() - t0, evals);
	progress_line(t, t->lbfgs.f);
	return MLIP_OK;
}

/* b without its edges: the compositions and labels the tasks fit on. */
static int strip_edges(struct mlip_batch *dst, const struct mlip_batch *b, struct mlip_err *err)
{
	int rc;
	mlip_batch_release(dst);
	if ((rc = mlip_batch_append(dst, b, err)))
		return rc;
	for (size_t k = 0; k < dst->n_systems; k++)
		dst->nedges[k] = 0;
	dst->n_edges = 0;
	mlip_batch_index(dst);
	return MLIP_OK;
}

/*
 * Every rank's stripped batches (a stream in bytes, rank r's holding batches
 * k ≡ r mod W in order) gathered on every rank and put back in batch order:
 * bp[k] points into lists[k mod W].
 */
static int gather_labels(struct trainer *t, const unsigned char *mine, size_t n_mine,
			 struct mlip_batch_list *lists, const struct mlip_batch **bp,
			 struct mlip_err *err)
{
	size_t W = (size_t)t->world;
	uint64_t *sizes = calloc(W, sizeof(*sizes));
	unsigned char *all = NULL;
	int rc = sizes ? MLIP_OK : mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if ((rc = mlip_dist_agree(rc, err)) ||
	    (rc = mlip_dist_allgather_bytes(mine, n_mine, &all, sizes, err))) {
		free(sizes);
		return rc;
	}
	size_t at = 0;
	for (size_t r = 0; r < W && !rc; at += (size_t)sizes[r], r++) {
		FILE *f = fmemopen(all + at, (size_t)sizes[r], "rb");
		if (!f) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			break;
		}
		rc = mlip_batch_list_read(&lists[r], f, "<training labels>", err);
		fclose(f);
	}
	for (size_t k = 0; !rc && k < t->train.n; k++) {
		if (k / W >= lists[k % W].n) {
			rc = mlip_err_set(err, MLIP_EDATA, "rank %zu sent %zu batches, fewer than its share",
					  k % W, lists[k % W].n);
			break;
		}
		bp[k] = &lists[k % W].items[k / W];
	}
	free(all);
	free(sizes);
	return rc;
}

/*
 * Every rank's descriptor statistics merged in rank order into st (rank 0's
 * taken as they are, so one process gets its own statistics bit for bit).
 */
static int merge_stats(struct trainer *t, struct mlip_sf_stats *st, struct mlip_err *err)
{
	size_t W = (size_t)t->world, E = st->n_elements, D = st->off[E], S = E + 2 * D;
	if (W == 1)
		return MLIP_OK;
	double *buf = calloc(W * S, sizeof(double));
	int rc = buf ? MLIP_OK : mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if ((rc = mlip_dist_agree(rc, err))) {
		free(buf);
		return rc;
	}
	double *me = buf + (size_t)t->rank * S;
	memcpy(me, st->count, E * sizeof(double));
	memcpy(me + E, st->mean, D * sizeof(double));
	memcpy(me + E + D, st->m2, D * sizeof(double));
	if (!(rc = mlip_dist_allgather_shards(buf, W * S, err))) {
		struct mlip_sf_stats other = *st;
		memcpy(st->count, buf, E * sizeof(double));
		memcpy(st->mean, buf + E, D * sizeof(double));
		memcpy(st->m2, buf + E + D, D * sizeof(double));
		for (size_t r = 1; r < W; r++) {
			double *p = buf + r * S;
			memcpy(other.count, p, E * sizeof(double));
			other.mean = p + E;
			other.m2 = p + E + D;
			mlip_sf_stats_merge(st, &other);
		}
	}
	free(buf);
	return rc;
}

/*
 * Fresh run: fit scaling, element references and normalizers on the training
 * data. Each rank decodes its share of the batches (k ≡ rank mod W) once:
 * the descriptor statistics are merged over ranks, and the stripped batches
 * (labels and compositions, no edges) are gathered so that the tasks fit on
 * the whole set in batch order, as one process would.
 */
static int fit_fresh(struct trainer *t, struct mlip_err *err)
{
	struct mlip_model *m = t->p.model;
	struct mlip_sf_stats st = { 0 };
	struct mlip_batch stripped;
	struct mlip_batch_writer w;
	struct mlip_batch_list *lists = calloc((size_t)t->world, sizeof(*lists));
	const struct mlip_batch **bp = malloc((t->train.n + 1) * sizeof(*bp));
	char *bytes = NULL;
	size_t n_bytes = 0;
	FILE *f = open_memstream(&bytes, &n_bytes);
	int rc;
	mlip_batch_init(&stripped);
	memset(&w, 0, sizeof(w));
	rc = mlip_model_scaling_stats_init(m, &st, err);
	if (!rc && (!lists || !bp || !f))
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if (!rc)
		rc = mlip_batch_writer_open(&w, f, "<training labels>", t->train.cutoff, err);
	for (size_t k = (size_t)t->rank; !rc && k < t->train.n; k += (size_t)t->world) {
		const struct mlip_batch *b = train_batch(t, k, "fit", err);
		if (!b)
			rc = err->code;
		else if (!(rc = mlip_model_scaling_stats_add(m, &st, b, err)) &&
			 !(rc = strip_edges(&stripped, b, err)))
			rc = mlip_batch_write(&w, &stripped, err);
	}
	if (!rc)
		rc = mlip_batch_writer_close(&w, err);
	else
		mlip_batch_writer_release(&w);
	if (f && fclose(f) && !rc)
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	f = NULL;
	mlip_batch_release(&stripped);
	mlip_batch_release(&t->cur);
	if ((rc = mlip_dist_agree(rc, err)))
		goto out;
	if ((rc = merge_stats(t, &st, err)) ||
	    (rc = gather_labels(t, (unsigned char *)bytes, n_bytes, lists, bp, err)))
		goto out;
	/* A fine-tuning start keeps the base model's descriptor scaling (it is
	 * part of its weights; only inputs never fitted, e.g. of a new element,
	 * are fitted here) and inherits what the tasks do not refit. */
	if (t->has_base)
		rc = mlip_finetune_set_scaling(m, &st, NULL, err);
	else
		mlip_model_scaling_set(m, &st);
	if (!rc)
		rc = mlip_tasks_fit(&t->p.tasks, bp, t->train.n, err);
	if (!rc && t->has_base)
		rc = mlip_tasks_inherit(&t->p.tasks, &t->base.tasks, t->opts->reg, err);
out:
	if (f)
		fclose(f);
	if (lists)
		for (int r = 0; r < t->world; r++)
			mlip_batch_list_release(&lists[r]);
	free(lists);
	free(bp);
	free(bytes);
	mlip_sf_stats_release(&st);
	return rc;
}

/*
 * optim.name lstsq: the linear model's exact minimum of the training loss.
 * Each rank adds the rows of its share of the batches (k ≡ rank mod W) to
 * the normal equations, one reduction sums them, and the solution (rank 0's,
 * broadcast) becomes the weights; a "train" record gives each task's loss at
 * the solution.
 */
static int solve_lstsq(struct trainer *t, struct mlip_err *err)
{
	struct mlip_lstsq ls;
	double t0 = now();
	int rc = mlip_lstsq_init(&ls, t->p.model, &t->p.tasks, t->cfg->optim.ridge, err);
	if ((rc = mlip_dist_agree(rc, err)))
		return rc;
	for (size_t k = (size_t)t->rank; !rc && k < t->train.n; k += (size_t)t->world) {
		const struct mlip_batch *b = train_batch(t, k, "lstsq", err);
		rc = b ? mlip_lstsq_add(&ls, t->p.model, &t->p.tasks, b, err) : err->code;
	}
	mlip_batch_release(&t->cur);
	int rc2 = mlip_lstsq_reduce(&ls, err); /* every rank, also after a failed add */
	rc = rc2 ? rc2 : rc;
	if (!rc)
		rc = mlip_lstsq_solve(&ls, t->p.model, err);
	if (!rc && t->ema) /* evaluation, checkpoints and the model read the EMA: it is the solution */
		memcpy(t->ema, t->p.model->params + t->shard_start, t->shard_count * sizeof(double));
	if (!rc && is0(t)) {
		double loss = 0;
		for (size_t k = 0; k < t->p.tasks.n_tasks; k++)
			loss += ls.task_loss[k];
		for (size_t h = 0; h < t->p.tasks.n_heads; h++)
			mlip_log(MLIP_LOG_INFO, "lstsq: head %s: %zu of %zu columns fitted, rank %zu, ridge "
				 "%.3g", t->p.tasks.heads[h].name, ls.n_active[h], ls.n_cols, ls.rank[h],
				 ls.lambda[h]);
		mlip_log(MLIP_LOG_INFO, "lstsq: loss %.6g on the training set (%.1f s)", loss, now() - t0);
		if (t->opts->metrics) {
			json_t *o = record(t, "train");
			mlip_jsonl_str(o, "optimizer", "lstsq");
			for (size_t k = 0; k < t->p.tasks.n_tasks; k++)
				if (t->p.tasks.tasks[k].has_loss)
					task_key(o, "loss/", t->p.tasks.tasks[k].cfg->name, ls.task_loss[k]);
			mlip_jsonl_real(o, "loss", loss);
			mlip_jsonl_real(o, "wall_s", now() - t0);
			keep_record(&t->last_train, o);
			write_record(t, o, NULL);
		}
	}
	mlip_lstsq_release(&ls);
	return rc;
}

static int restore(struct trainer *t, const struct mlip_run_state *s, struct mlip_err *err)
{
	int rc;
	if (s->n_params != t->n_params)
		return mlip_err_set(err, MLIP_EDATA, "the checkpoint has %zu parameters, the model %zu",
				    s->n_params, t->n_params);
	/* Batches per epoch are counted per rank: another world size would change the
	 * schedule's length and the position in the epoch under the same step number. */
	if (s->progress.world != t->world)
		return mlip_err_set(err, MLIP_EINVAL,
				    "the checkpoint was written by %d rank%s, this run has %d: resume it "
				    "with %s (the schedule's length and the position in the epoch depend "
				    "on the number of ranks); mlip-ckpt-convert reads it on any number",
				    s->progress.world, s->progress.world > 1 ? "s" : "", t->world,
				    s->progress.world > 1 ? "mpiexec.mpich -n <that many>" : "one process");
	if ((rc = mlip_tasks_state_from_json(&t->p.tasks, t->opts->reg, s->tasks_state, err)))
		return rc;
	struct mlip_model *m = t->p.model;
	size_t s0 = t->shard_start, c = t->shard_count;
	for (size_t k = 0; k < t->n_params; k++)
		m->params[k] = s->params[k];
	memcpy(t->adam_m, s->adam_m + s0, c * sizeof(double));
	memcpy(t->adam_v, s->adam_v + s0, c * sizeof(double));
	if (t->ema && s->ema)
		memcpy(t->ema, s->ema + s0, c * sizeof(double));
	t->pg = s->progress;
	if (t->ema && !s->ema)
		t->pg.ema_started = 0;
	return MLIP_OK;
}

/*
 * model: {init_from: FILE}: load the starting model (raw weights) and put its
 * model section into cfg, so that the resolved config (and resume.yaml)
 * describes the model in full and a resumed run does not need FILE.
 */
static int start_from_model(struct trainer *t, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_yaml_node *user = NULL, *base = NULL, *model = NULL;
	struct mlip_config out;
	int rc = mlip_potential_load(&t->base, cfg->model.init_from, t->opts->reg, MLIP_WEIGHTS_RAW, err);
	if (rc)
		return rc;
	t->has_base = 1;
	snprintf(t->init_from, sizeof(t->init_from), "%s", cfg->model.init_from);
	if ((rc = mlip_config_resolved_tree(cfg, &user, err)) ||
	    (rc = mlip_config_resolved_tree(&t->base.cfg, &base, err)))
		goto done;
	model = mlip_yaml_copy(mlip_yaml_map_get(base, "model"));
	if (!model || mlip_yaml_map_set(user, "model", model)) {
		mlip_yaml_free(model);
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto done;
	}
	mlip_config_init(&out);
	rc = mlip_config_from_tree(user, &out, err);
	user = NULL;
	if (rc) {
		mlip_err_prefix(err, rc, "with the model of %s: ", cfg->model.init_from);
		goto done;
	}
	mlip_log(MLIP_LOG_INFO, "starting from %s", cfg->model.init_from);
	mlip_config_release(cfg);
	*cfg = out;
done:
	mlip_yaml_free(user);
	mlip_yaml_free(base);
	return rc;
}

int mlip_train_run(struct mlip_config *cfg, const struct mlip_train_opts *opts, int *stopped,
		   struct mlip_err *err)
{
	struct trainer t;
	struct mlip_run_state rs;
	int rc;
	memset(&t, 0, sizeof(t));
	mlip_run_state_init(&rs);
	*stopped = 0;
	t.opts = opts;
	t.rank = mlip_dist_rank();
	t.world = mlip_dist_size();
	t.t_start = t.t_print = now();
	/* a fresh run never writes over another run's files unnoticed */
	rc = !opts->resume_dir && t.rank == 0 ? mlip_runckpt_claim_dir(opts->run_dir, opts->force, err)
					       : MLIP_OK;
	if ((rc = mlip_dist_agree(rc, err))) {
		mlip_config_release(cfg);
		trainer_release(&t);
		return rc;
	}
	if (cfg->model.init_from && !opts->resume_dir) {
		if ((rc = start_from_model(&t, cfg, err))) {
			mlip_config_release(cfg);
			trainer_release(&t);
			return rc;
		}
	}
	if ((rc = mlip_potential_create(&t.p, cfg, opts->reg, err))) {
		mlip_config_release(cfg);
		trainer_release(&t);
		return rc;
	}
	if (t.has_base) {
		const struct mlip_tensors *a = &t.base.model->tensors, *b = &t.p.model->tensors;
		int same = a->n == b->n && a->n_params == b->n_params;
		for (size_t k = 0; same && k < a->n; k++)
			same = !strcmp(a->t[k].name, b->t[k].name) && a->t[k].offset == b->t[k].offset &&
			       a->t[k].count == b->t[k].count;
		if (!same) {
			rc = mlip_err_set(err, MLIP_EDATA,
					  "%s: its weights do not fit the model its config builds; "
					  "make it with mlip-finetune-init", t.init_from);
			goto done;
		}
		for (size_t k = 0; k < t.p.model->n_params; k++)
			t.p.model->params[k] = (mlip_real)t.base.raw[k];
	}
	t.cfg = &t.p.cfg;
	t.sharded = t.cfg->train.strategy == MLIP_CFG_SHARDED;
	t.lstsq = !strcmp(t.cfg->optim.name, "lstsq");
	t.n_params = t.p.model->n_params;
	if (t.sharded)
		mlip_dist_shard(t.n_params, t.world, t.rank, &t.shard_start, &t.shard_count);
	else
		t.shard_count = t.n_params;
	t.needs = mlip_tasks_needs(&t.p.tasks, 1);

	mlip_batch_store_init(&t.train);
	rc = open_data(&t, err);
	if (!rc && t.train.n == 0)
		rc = mlip_err_set(err, MLIP_EDATA, "no training batches in %s", t.cfg->data.train[0]);
	if (!rc && t.train.cutoff + 1e-12 < t.cfg->model.cutoff)
		rc = mlip_err_set(err, MLIP_EINVAL,
				  "the batch streams were collated at %g Å, below the model cutoff %g Å; "
				  "collate again with -c %g or more", t.train.cutoff, t.cfg->model.cutoff,
				  t.cfg->model.cutoff);
	if (!rc)
		rc = alloc_scratch(&t, err);
	if (!rc && t.cfg->optim.lbfgs_steps > 0) {
		rc = mlip_lbfgs_init(&t.lbfgs, t.n_params, (size_t)t.cfg->optim.lbfgs_history, err);
		t.lbfgs_x = calloc(t.n_params + 1, sizeof(double));
		t.lbfgs_task_loss = calloc(t.p.tasks.n_tasks + 1, sizeof(double));
		t.lbfgs_counts = calloc(t.p.tasks.n_tasks + 1, sizeof(uint64_t));
		if (!rc && (!t.lbfgs_x || !t.lbfgs_task_loss || !t.lbfgs_counts))
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	if (!rc && t.cfg->train.ema) {
		if (!(t.ema = calloc(t.shard_count + 1, sizeof(double))))
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;
	setup_schedule(&t);
	if (!rc && t.cfg->train.debug_checksums) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/debug", opts->run_dir);
		if (t.rank != 0)
			usleep(1000);
		if (!(rc = mlip_mkdirs(path, err))) {
			snprintf(path, sizeof(path), "%s/debug/checksums.rank%d.jsonl", opts->run_dir, t.rank);
			if (!(t.checksums = fopen(path, opts->resume_dir ? "a" : "w")))
				rc = mlip_err_set(err, MLIP_EIO, "cannot create '%s': %s", path, strerror(errno));
		}
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;

	if (opts->resume_dir) {
		rc = mlip_runckpt_load(opts->resume_dir, &rs, err);
		if (!rc)
			rc = restore(&t, &rs, err);
		if (!rc && is0(&t))
			mlip_log(MLIP_LOG_INFO, "resuming from %s at step %llu", opts->resume_dir,
				 (unsigned long long)t.pg.step);
	} else {
		rc = fit_fresh(&t, err);
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;

	if (is0(&t)) {
		char path[4200];
		rc = mlip_mkdirs(opts->run_dir, err);
		if (!rc) {
			snprintf(path, sizeof(path), "%s/config.yaml", opts->run_dir);
			FILE *f = fopen(path, "w");
			if (!f || mlip_config_write_resolved(t.cfg, f, err) || fclose(f))
				rc = rc ? rc : mlip_err_set(err, MLIP_EIO, "cannot write '%s'", path);
		}
		char lbfgs_note[96] = "";
		if (t.lstsq)
			snprintf(lbfgs_note, sizeof(lbfgs_note), ": the linear weights are solved exactly "
				 "(optim.name lstsq)%s", t.end_step ? ", then l-bfgs" : "");
		else if (t.end_step > t.total_steps)
			snprintf(lbfgs_note, sizeof(lbfgs_note), ", then %llu l-bfgs steps on the whole set",
				 (unsigned long long)(t.end_step - t.total_steps));
		size_t atoms = (size_t)t.train.total_atoms, systems = (size_t)t.train.total_systems;
		size_t per = (t.ema ? 3 : 2) * sizeof(double) + 1; /* moments, EMA, decay mask */
		if (!t.lstsq)
			mlip_log(MLIP_LOG_INFO, "optimizer state on rank 0: %zu of %zu parameters (%.2f MB: "
				 "AdamW moments%s)", t.shard_count, t.n_params,
				 (double)(t.shard_count * per) / 1e6, t.ema ? " and EMA" : "");
		mlip_log(MLIP_LOG_INFO, "training on %zu batches (%zu structures, %zu atoms), %zu "
			 "validation batches; %d rank%s (%s); %zu parameters; %llu steps, %llu per epoch%s",
			 t.train.n, systems, atoms, t.n_val, t.world, t.world > 1 ? "s" : "",
			 t.sharded ? "sharded" : "ddp", t.n_params, (unsigned long long)t.total_steps,
			 (unsigned long long)t.bpe, lbfgs_note);
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;
	t.last_ckpt_step = opts->resume_dir ? t.pg.step : UINT64_MAX;
	if (t.lstsq && !opts->resume_dir) {
		if (is0(&t) && t.cfg->schedule.given)
			mlip_log(MLIP_LOG_WARN, "optim.name lstsq solves the linear model exactly: the "
				 "schedule is not used");
		if (is0(&t) && t.cfg->model.mtp_train_radial && t.cfg->optim.lbfgs_steps == 0)
			mlip_log(MLIP_LOG_WARN, "optim.name lstsq solves for the linear weights only: the "
				 "radial coefficients (model.descriptor.train_radial) stay as they start unless "
				 "optim.lbfgs follows");
		if ((rc = solve_lstsq(&t, err)))
			goto done;
		t.pg.ema_started = t.ema != NULL;
		if ((rc = evaluate(&t, err)))
			goto done;
	}
	if (!opts->resume_dir && !t.lstsq && t.cfg->train.eval_at_start && (rc = evaluate(&t, err)))
		goto done;

	if (!rc && opts->resume_dir && t.end_step > t.total_steps && t.pg.step >= t.total_steps &&
	    t.pg.step < t.end_step)
		rc = mlip_dist_agree(lbfgs_begin(&t, opts->resume_dir, err), err);
	while (!rc && t.pg.step < t.end_step) {
		const struct mlip_config_train *tc = &t.cfg->train;
		int epoch_end;
		if (t.pg.step < t.total_steps) {
			if ((rc = train_step(&t, err)))
				break;
			/* the last AdamW losses are written before the L-BFGS phase, so that the
			 * run's last train record is where it ended */
			if (tc->print_every > 0 && (t.pg.step % (uint64_t)tc->print_every == 0 ||
						    (t.pg.step == t.total_steps && t.end_step > t.total_steps &&
						     t.steps_since_print > 0)))
				log_train(&t);
			epoch_end = t.pg.step % t.bpe == 0;
		} else {
			if ((rc = lbfgs_step(&t, err)))
				break;
			epoch_end = t.pg.step == t.end_step;
		}
		if ((tc->eval_every > 0 && t.pg.step % (uint64_t)tc->eval_every == 0) || epoch_end)
			if ((rc = evaluate(&t, err)))
				break;
		if (tc->checkpoint_every > 0 && t.pg.step % (uint64_t)tc->checkpoint_every == 0) {
			char name[64];
			snprintf(name, sizeof(name), "step_%llu", (unsigned long long)t.pg.step);
			if ((rc = write_checkpoint(&t, name, err)))
				break;
		}
		double flag = opts->stop && *opts->stop ? 1.0 : 0.0;
		if (t.world > 1)
			mlip_dist_max_double(&flag, 1, NULL);
		if (flag > 0) {
			if (t.last_ckpt_step != t.pg.step) {
				char name[64];
				snprintf(name, sizeof(name), "step_%llu", (unsigned long long)t.pg.step);
				rc = write_checkpoint(&t, name, err);
			}
			*stopped = 1;
			break;
		}
	}
	if (!rc && !*stopped) {
		if (t.steps_since_print > 0 && t.cfg->train.print_every > 0)
			log_train(&t);
		char path[4200];
		snprintf(path, sizeof(path), "%s/inference_ckpt.mlip", opts->run_dir);
		rc = write_checkpoint(&t, "final", err);
		if (!rc)
			rc = save_model(&t, path, err);
		if (!rc && is0(&t)) {
			mlip_log(MLIP_LOG_INFO, "model written to %s (%.1f s)", path, now() - t.t_start);
			if (opts->metrics)
				write_end_record(&t, path);
		}
	}
done:
	mlip_run_state_release(&rs);
	trainer_release(&t);
	return rc;
}

int mlip_train_resume_config(const char *ckpt_dir, struct mlip_config *user,
			     struct mlip_config *out, struct mlip_err *err)
{
	struct mlip_run_state s;
	int rc = mlip_runckpt_load(ckpt_dir, &s, err);
	if (rc)
		return rc;
	struct mlip_yaml_node *tree = s.config;
	s.config = NULL;
	mlip_run_state_release(&s);
	if ((rc = mlip_config_from_tree(tree, out, err)))
		return mlip_err_prefix(err, rc, "%s/resume.yaml: ", ckpt_dir);
	if (!user)
		return MLIP_OK;
	/* Frequencies of logging, evaluation and checkpoints do not change the weights. */
	struct mlip_config_train keep = out->train;
	out->train.print_every = user->train.print_every;
	out->train.eval_every = user->train.eval_every;
	out->train.checkpoint_every = user->train.checkpoint_every;
	out->train.max_saved_checkpoints = user->train.max_saved_checkpoints;
	out->train.debug_checksums = user->train.debug_checksums;
	out->train.profile_flops = user->train.profile_flops;
	out->train.save_inference_ckpt = user->train.save_inference_ckpt;
	out->train.eval_at_start = user->train.eval_at_start;
	if (!mlip_config_equal(out, user)) {
		struct mlip_yaml_node *a = NULL, *b = NULL;
		char where[256] = "a setting";
		if (!mlip_config_resolved_tree(out, &a, err) && !mlip_config_resolved_tree(user, &b, err)) {
			for (size_t k = 0; k < a->n && k < b->n; k++) {
				const struct mlip_yaml_node *x = mlip_yaml_map_get(b, a->keys[k]->text);
				if (!mlip_yaml_equal(a->items[k], x)) {
					snprintf(where, sizeof(where), "'%s'", a->keys[k]->text);
					break;
				}
			}
		}
		mlip_yaml_free(a);
		mlip_yaml_free(b);
		out->train = keep;
		mlip_config_release(out);
		return mlip_err_set(err, MLIP_EINVAL,
				    "the config disagrees with checkpoint %s on %s, which changes the result; "
				    "resume with --resume alone, or start a new run", ckpt_dir, where);
	}
	return MLIP_OK;
}
