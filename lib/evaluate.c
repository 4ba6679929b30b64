/*
 * evaluate.c - evaluation of a potential (contract in evaluate.h).
 *
 * Conventions: the model's forward is the only timed part (atoms_per_s is
 * model throughput, not I/O). Under MPI every rank reads the same inputs in
 * the same order and evaluates batch k when k mod W is its rank (in a batch
 * stream that is a regular file it seeks over the other ranks' batches
 * without decoding them); what it
 * renders for its batch (per-structure lines, predictions) is broadcast in
 * batch order and written by rank 0, so files and stdout keep the input
 * order for any W. Every status that could differ between ranks goes
 * through mlip_dist_agree before the next collective.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evaluate.h"
#include "jsonl.h"
#include "n2p2data.h"
#include "ckpt.h"
#include "collate.h"
#include "dist.h"
#include "extxyz.h"
#include "log.h"
#include "mlearn.h"
#include "outfile.h"
#include "yamltree.h"
#include "banned.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- the evaluation step shared with mlip-train ------------------------- */

int mlip_eval_init(struct mlip_eval *ev, struct mlip_model *model, const struct mlip_tasks *tasks,
		   unsigned extra, struct mlip_err *err)
{
	size_t T = tasks->n_tasks;
	memset(ev, 0, sizeof(*ev));
	ev->model = model;
	ev->tasks = tasks;
	unsigned need = mlip_tasks_needs(tasks, 0);
	ev->flags = ((need & MLIP_HAS_FORCES) ? MLIP_MODEL_FORCES : 0) |
		    ((need & MLIP_HAS_STRESS) ? MLIP_MODEL_STRESS : 0) |
		    (extra & (MLIP_MODEL_FORCES | MLIP_MODEL_STRESS));
	ev->task_on = malloc(T + 1);
	ev->counts = calloc(T + 1, sizeof(uint64_t));
	ev->task_loss = calloc(T + 1, sizeof(double));
	if (!ev->task_on || !ev->counts || !ev->task_loss) {
		mlip_eval_release(ev);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	memset(ev->task_on, 1, T);
	return mlip_metrics_init(&ev->metrics, T, err);
}

void mlip_eval_release(struct mlip_eval *ev)
{
	mlip_metrics_release(&ev->metrics);
	free(ev->task_on);
	free(ev->energy);
	free(ev->buf_f);
	free(ev->buf_s);
	free(ev->dE);
	free(ev->dF);
	free(ev->dS);
	free(ev->counts);
	free(ev->task_loss);
	memset(ev, 0, sizeof(*ev));
}

int mlip_eval_select_tasks(struct mlip_eval *ev, const char *const *names, size_t n,
			   struct mlip_err *err)
{
	const struct mlip_tasks *t = ev->tasks;
	if (n == 0)
		return MLIP_OK;
	memset(ev->task_on, 0, t->n_tasks);
	for (size_t i = 0; i < n; i++) {
		long k = mlip_tasks_find(t, names[i]);
		if (k < 0) {
			char known[256] = "";
			size_t used = 0;
			for (size_t j = 0; j < t->n_tasks && used < sizeof(known); j++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", j ? ", " : "",
							 t->tasks[j].cfg->name);
			return mlip_err_set(err, MLIP_EINVAL, "unknown task '%s' (the tasks are: %s)", names[i],
					    known);
		}
		ev->task_on[k] = 1;
	}
	return MLIP_OK;
}

/* Grow the per-batch buffers to B systems and N atoms. */
static int grow(struct mlip_eval *ev, size_t B, size_t N, struct mlip_err *err)
{
	size_t H = ev->tasks->n_heads;
	if (B > ev->cap_b) {
		free(ev->energy), free(ev->buf_s), free(ev->dE), free(ev->dS);
		ev->energy = malloc(B * H * sizeof(double));
		ev->buf_s = malloc(9 * B * H * sizeof(double));
		ev->dE = malloc(B * H * sizeof(double));
		ev->dS = malloc(9 * B * H * sizeof(double));
		ev->cap_b = B;
		if (!ev->energy || !ev->buf_s || !ev->dE || !ev->dS) {
			ev->cap_b = 0;
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		}
	}
	if (N > ev->cap_n) {
		free(ev->buf_f), free(ev->dF);
		ev->buf_f = malloc(3 * N * H * sizeof(double));
		ev->dF = malloc(3 * N * H * sizeof(double));
		ev->cap_n = N;
		if (!ev->buf_f || !ev->dF) {
			ev->cap_n = 0;
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		}
	}
	return MLIP_OK;
}

int mlip_eval_batch(struct mlip_eval *ev, const struct mlip_batch *b, struct mlip_err *err)
{
	const struct mlip_tasks *t = ev->tasks;
	size_t H = t->n_heads;
	struct mlip_model_out out;
	int rc;
	if ((rc = grow(ev, b->n_systems + 1, b->n_atoms + 1, err)))
		return rc;
	double t0 = now();
	rc = mlip_model_forward(ev->model, b, ev->flags, &out, err);
	ev->model_seconds += now() - t0;
	if (rc)
		return rc;
	ev->forces = out.forces ? ev->buf_f : NULL;
	ev->stress = out.stress ? ev->buf_s : NULL;
	mlip_tasks_physical(t, b, out.energy, out.forces, out.stress, ev->energy, ev->forces, ev->stress);
	if ((rc = mlip_tasks_add_metrics(t, &ev->metrics, b, ev->energy, ev->forces, ev->stress, err)))
		return rc;
	/* the batch's loss, the batch on its own (its counts are its own) */
	if ((rc = mlip_tasks_loss_counts(t, b, ev->counts, err)))
		return rc;
	memset(ev->dE, 0, b->n_systems * H * sizeof(double));
	memset(ev->dF, 0, 3 * b->n_atoms * H * sizeof(double));
	memset(ev->dS, 0, 9 * b->n_systems * H * sizeof(double));
	if ((rc = mlip_tasks_loss(t, b, out.energy, out.forces, out.stress, ev->counts, ev->task_loss,
				  ev->dE, out.forces ? ev->dF : NULL, out.stress ? ev->dS : NULL, err)))
		return rc;
	for (size_t k = 0; k < t->n_tasks; k++)
		if (ev->task_on[k])
			ev->loss += ev->task_loss[k];
	ev->batches += 1;
	ev->structures += b->n_systems;
	ev->atoms += b->n_atoms;
	for (size_t k = 0; k < b->n_systems; k++)
		ev->labelled += b->has[k] != 0;
	return MLIP_OK;
}

int mlip_eval_reduce(struct mlip_eval *ev, struct mlip_err *err)
{
	double sums[2] = { ev->loss, ev->batches };
	uint64_t counts[3] = { ev->structures, ev->atoms, ev->labelled };
	int rc;
	if ((rc = mlip_metrics_reduce(&ev->metrics, err)) || (rc = mlip_dist_sum_double(sums, 2, err)) ||
	    (rc = mlip_dist_sum_u64(counts, 3, err)) ||
	    (rc = mlip_dist_max_double(&ev->model_seconds, 1, err)))
		return rc;
	ev->loss = sums[0];
	ev->batches = sums[1];
	ev->structures = counts[0];
	ev->atoms = counts[1];
	ev->labelled = counts[2];
	return MLIP_OK;
}

/* "<prefix><dataset>,<task>,<metric>" (jsonl.h escapes it when written) */
static void metric_key(char *key, size_t size, const char *prefix, const char *dataset,
		       const char *task, const char *metric)
{
	snprintf(key, size, "%s%s,%s,%s", prefix, dataset, task, metric);
}

void mlip_eval_metrics_json(json_t *o, const struct mlip_eval *ev, const char *prefix)
{
	const struct mlip_metrics *m = &ev->metrics;
	const struct mlip_tasks *t = ev->tasks;
	char key[1024];
	for (size_t d = 0; d < m->n_datasets; d++)
		for (size_t k = 0; k < t->n_tasks; k++) {
			const struct mlip_task *task = &t->tasks[k];
			if (!ev->task_on[k])
				continue;
			for (size_t i = 0; i < task->n_metrics; i++) {
				double v = 0;
				int have = mlip_metrics_value(m, d, k, task->metrics[i], &v);
				metric_key(key, sizeof(key), prefix, m->datasets[d], task->cfg->name,
					   mlip_metric_name(task->metrics[i]));
				mlip_jsonl_real(o, key, have ? v : NAN);
			}
		}
	snprintf(key, sizeof(key), "%sloss", prefix);
	mlip_jsonl_real(o, key, ev->batches > 0 ? ev->loss / ev->batches : NAN);
}

/* ---- --fail-if ------------------------------------------------------------ */

static const char *trim(const char *s, const char *end, size_t *len)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*len = (size_t)(end - s);
	return s;
}

int mlip_eval_cond_parse(const char *text, struct mlip_eval_cond *c, struct mlip_err *err)
{
	const char *op = NULL, *p;
	size_t klen, vlen;
	memset(c, 0, sizeof(*c));
	c->text = text;
	for (p = text; *p; p++)
		if (*p == '<' || *p == '>')
			op = p;
	if (!op)
		return mlip_err_set(err, MLIP_EINVAL,
				    "--fail-if '%s': no comparison; write KEY>VALUE (or >=, <, <=)", text);
	int eq = op[1] == '=';
	c->op = *op == '>' ? (eq ? MLIP_CMP_GE : MLIP_CMP_GT) : (eq ? MLIP_CMP_LE : MLIP_CMP_LT);
	const char *key = trim(text, op, &klen);
	const char *val = trim(op + 1 + eq, op + strlen(op), &vlen);
	if (klen == 0)
		return mlip_err_set(err, MLIP_EINVAL, "--fail-if '%s': no key before '%c'", text, *op);
	if (key[klen - 1] == '=')
		return mlip_err_set(err, MLIP_EINVAL, "--fail-if '%s': the operators are >, >=, <, <=",
				    text);
	if (klen >= sizeof(c->key))
		return mlip_err_set(err, MLIP_EINVAL, "--fail-if '%s': the key is too long", text);
	memcpy(c->key, key, klen);
	c->key[klen] = '\0';
	char num[64], *end;
	if (vlen == 0 || vlen >= sizeof(num))
		return mlip_err_set(err, MLIP_EINVAL, "--fail-if '%s': the threshold is not a number", text);
	memcpy(num, val, vlen);
	num[vlen] = '\0';
	errno = 0;
	c->value = strtod(num, &end);
	if (*end != '\0' || errno || !isfinite(c->value))
		return mlip_err_set(err, MLIP_EINVAL, "--fail-if '%s': the threshold '%s' is not a number",
				    text, num);
	return MLIP_OK;
}

static const char *const cmp_words[] = { "above", "at or above", "below", "at or below" };

static int crossed(enum mlip_cmp op, double v, double x)
{
	switch (op) {
	case MLIP_CMP_GT: return v > x;
	case MLIP_CMP_GE: return v >= x;
	case MLIP_CMP_LT: return v < x;
	case MLIP_CMP_LE: return v <= x;
	}
	return 0;
}

int mlip_eval_check(const char *json_text, const struct mlip_eval_cond *c, size_t n,
		    struct mlip_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(json_text, 0, &jerr);
	int rc = MLIP_OK;
	if (!json_is_object(root)) {
		json_decref(root);
		return mlip_err_set(err, MLIP_EINVAL, "results are not a JSON object: %s", jerr.text);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *v = json_object_get(root, c[i].key);
		if (v && (json_is_number(v) || json_is_null(v)))
			continue;
		char keys[400] = "";
		size_t used = 0;
		const char *k;
		json_t *x;
		json_object_foreach(root, k, x) {
			if (!json_is_number(x) && !json_is_null(x))
				continue;
			if (used + strlen(k) + 8 >= sizeof(keys)) {
				snprintf(keys + used, sizeof(keys) - used, ", ...");
				break;
			}
			used += (size_t)snprintf(keys + used, sizeof(keys) - used, "%s%s", used ? ", " : "", k);
		}
		rc = mlip_err_set(err, MLIP_EINVAL, v ? "--fail-if '%s': '%s' is not a number (numeric keys: %s)"
						       : "--fail-if '%s': no key '%s' in the results (keys: %s)",
				  c[i].text, c[i].key, keys);
	}
	size_t n_crossed = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *v = json_object_get(root, c[i].key);
		if (json_is_null(v)) {
			mlip_log(MLIP_LOG_WARN, "--fail-if '%s': '%s' is null (no valid entry); not checked",
				 c[i].text, c[i].key);
			continue;
		}
		double value = json_number_value(v);
		if (!crossed(c[i].op, value, c[i].value))
			continue;
		/* every crossing is reported once: the earlier ones logged, the last in err */
		if (n_crossed++ && err)
			mlip_log(MLIP_LOG_ERROR, "%s", err->msg);
		mlip_err_set(err, MLIP_ERUN, "%s is %.17g, %s the threshold %.15g (--fail-if '%s')",
			     c[i].key, value, cmp_words[c[i].op], c[i].value, c[i].text);
	}
	json_decref(root);
	if (!rc && n_crossed)
		rc = MLIP_ERUN;
	return rc;
}

/* ---- inputs: batch streams and structure files, in one global order ------ */

enum { SRC_NONE, SRC_BATCHES, SRC_EXTXYZ, SRC_LIST };

struct source {
	const char *const *inputs;
	size_t n_inputs, next;             /* the next input to open */
	int kind;
	const char *path;                  /* the open input, for messages */
	FILE *f;
	struct mlip_batch_reader r;
	struct mlip_extxyz_reader x;
	struct mlip_structure_list list;   /* a whole mlearn file */
	size_t list_pos;
	size_t batch_size;                 /* structures per collated batch */
	struct mlip_structure *grp;        /* (batch_size) the next group (owned) */
	const struct mlip_structure **gp;  /* (batch_size) */
	double cutoff;                     /* the model's: collation and the stream check */
	const char *dataset;               /* for structures that name none */
	struct mlip_batch skip;            /* batches of other ranks are read into this */
	int seekable;                      /* the batch stream is a regular file: others'
					      batches are skimmed over, not decoded */
	int world;
	char *stdin_copy;                  /* under MPI: standard input as rank 0 read it */
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void source_close(struct source *s)
{
	if (s->kind == SRC_BATCHES)
		mlip_batch_reader_release(&s->r);
	if (s->kind == SRC_EXTXYZ)
		mlip_extxyz_reader_release(&s->x);
	mlip_structure_list_release(&s->list);
	s->list_pos = 0;
	if (s->f)
		mlip_close_input(s->f);
	s->f = NULL;
	free(s->stdin_copy);
	s->stdin_copy = NULL;
	s->kind = SRC_NONE;
}

/*
 * Under MPI only rank 0 has standard input: it reads all of it and
 * broadcasts it, and every rank reads its copy from memory. Called by every
 * rank at the same input.
 */
static int open_shared_stdin(struct source *s, struct mlip_err *err)
{
	uint64_t head[2] = { MLIP_OK, 0 };   /* status, bytes */
	char *buf = NULL;
	int rc;
	if (mlip_dist_rank() == 0) {
		size_t cap = 1 << 16, n = 0, got;
		buf = malloc(cap);
		while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
			n += got;
			if (n == cap) {
				char *nb = realloc(buf, cap *= 2);
				if (!nb)
					free(buf);
				buf = nb;
			}
		}
		if (!buf)
			head[0] = (uint64_t)(int64_t)mlip_err_set(err, MLIP_ENOMEM, "out of memory for standard input");
		else if (ferror(stdin))
			head[0] = (uint64_t)(int64_t)mlip_err_set(err, MLIP_EIO, "<stdin>: read error: %s",
								 strerror(errno));
		head[1] = n;
	}
	if ((rc = mlip_dist_bcast(head, sizeof(head), 0, err)))
		goto fail;
	if ((rc = (int)(int64_t)head[0]) != MLIP_OK) {
		if (mlip_dist_rank() != 0)
			mlip_err_set(err, rc, "rank 0 failed (see its message)");
		goto fail;
	}
	if (mlip_dist_rank() != 0 && !(buf = malloc(head[1] + 1))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for standard input");
		goto fail;   /* rank 0 then waits in the broadcast: out of memory is fatal anyway */
	}
	if ((rc = mlip_dist_bcast(buf, head[1], 0, err)))
		goto fail;
	s->stdin_copy = buf;
	/* fmemopen refuses an empty buffer: an empty input is an empty file */
	s->f = head[1] ? fmemopen(buf, head[1], "r") : fopen("/dev/null", "r");
	if (!s->f)
		return mlip_err_set(err, MLIP_EIO, "cannot read standard input from memory: %s",
				    strerror(errno));
	return MLIP_OK;
fail:
	free(buf);
	return rc;
}

static int source_init(struct source *s, const char *const *inputs, size_t n, double cutoff,
		       const char *dataset, struct mlip_err *err)
{
	struct mlip_collate_opts co;
	memset(s, 0, sizeof(*s));
	mlip_collate_opts_init(&co);  /* batch like mlip-collate, so the loss agrees with its streams */
	s->inputs = inputs;
	s->n_inputs = n;
	s->batch_size = co.batch_size;
	s->cutoff = cutoff;
	s->dataset = dataset;
	s->world = mlip_dist_size();
	mlip_structure_list_init(&s->list);
	mlip_batch_init(&s->skip);
	s->grp = calloc(s->batch_size, sizeof(*s->grp));
	s->gp = calloc(s->batch_size, sizeof(*s->gp));
	if (!s->grp || !s->gp)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t k = 0; k < s->batch_size; k++)
		mlip_structure_init(&s->grp[k]);
	return MLIP_OK;
}

static void source_release(struct source *s)
{
	source_close(s);
	if (s->grp)
		for (size_t k = 0; k < s->batch_size; k++)
			mlip_structure_release(&s->grp[k]);
	free(s->grp);
	free(s->gp);
	mlip_batch_release(&s->skip);
	memset(s, 0, sizeof(*s));
}

/*
 * Open an input and decide what it holds from its first byte, without
 * seeking (pipes and stdin work): 'M' starts the batch stream magic
 * "MLIPBAT\n" (checked whole by the reader), '[' or a .json name is mlearn
 * JSON, anything else extxyz (whose first line is an atom count).
 */
static int source_open(struct source *s, const char *path, struct mlip_err *err)
{
	int rc, c;
	if (strcmp(path, "-") == 0 && s->world > 1)
		rc = open_shared_stdin(s, err);
	else
		rc = mlip_open_input(&s->f, path, err);
	if (rc)
		return rc;
	s->path = strcmp(path, "-") == 0 ? "<stdin>" : path;
	c = getc(s->f);
	if (c == 'M') {
		ungetc(c, s->f);
		s->kind = SRC_BATCHES;
		if ((rc = mlip_batch_reader_open(&s->r, s->f, s->path, err)))
			return rc;
		struct stat st;
		s->seekable = fileno(s->f) >= 0 && !fstat(fileno(s->f), &st) && S_ISREG(st.st_mode);
		if (s->r.cutoff + 1e-12 < s->cutoff)
			return mlip_err_set(err, MLIP_EDATA,
					    "%s: collated at %g Å, below the model cutoff %g Å; collate again "
					    "with -c %g or more", s->path, s->r.cutoff, s->cutoff, s->cutoff);
		return MLIP_OK;
	}
	while (c != EOF && isspace(c))
		c = getc(s->f);
	if (ferror(s->f))
		return mlip_err_set(err, MLIP_EIO, "%s: read error: %s", s->path, strerror(errno));
	if (c != EOF)
		ungetc(c, s->f);
	/* n2p2's input.data starts with "begin" (or a comment line); mlip_input_format's rule */
	int n2p2 = ends_with(path, ".data") || c == 'b';
	if (c == '[' || ends_with(path, ".json") || n2p2) {
		s->kind = SRC_LIST;
		rc = n2p2 ? mlip_n2p2data_read(s->f, s->path, &s->list, err)
			  : mlip_mlearn_read(s->f, s->path, &s->list, err);
		mlip_close_input(s->f);
		s->f = NULL;
		return rc;
	}
	s->kind = SRC_EXTXYZ;
	mlip_extxyz_reader_init(&s->x, s->f, s->path);
	return MLIP_OK;
}

/*
 * The next batch of the global sequence into b; b NULL skips it as cheaply
 * as the format allows (another rank's batch). Returns 1, 0 at the end of
 * the last input, or an error. Consecutive structure files are grouped
 * across file ends, batch_size at a time, as mlip-collate groups them.
 */
static int source_next(struct source *s, struct mlip_batch *b, struct mlip_err *err)
{
	int rc;
	for (;;) {
		if (s->kind == SRC_NONE) {
			if (s->next == s->n_inputs)
				return 0;
			if ((rc = source_open(s, s->inputs[s->next++], err)))
				return rc;
		}
		if (s->kind == SRC_BATCHES) {
			struct mlip_batch_extent x;
			rc = !b && s->seekable ? mlip_batch_reader_skim(&s->r, &x, err)
					       : mlip_batch_read_next(&s->r, b ? b : &s->skip, err);
			if (rc != 0)
				return rc;
			if ((rc = mlip_batch_reader_next_stream(&s->r, err)) < 0)
				return rc;
			if (rc == 0)
				source_close(s);
			continue;
		}
		size_t m = 0;
		for (size_t k = 0; k < s->batch_size; k++)
			mlip_structure_release(&s->grp[k]);
		while (m < s->batch_size) {
			if (s->kind == SRC_NONE) {
				if (s->next == s->n_inputs)
					break;
				if ((rc = source_open(s, s->inputs[s->next++], err)))
					return rc;
			}
			if (s->kind == SRC_BATCHES)
				break;
			if (s->kind == SRC_LIST) {
				if (s->list_pos == s->list.n) {
					source_close(s);
					continue;
				}
				/* move the structure out of the list */
				s->grp[m++] = s->list.items[s->list_pos];
				mlip_structure_init(&s->list.items[s->list_pos++]);
				continue;
			}
			rc = mlip_extxyz_read_next(&s->x, &s->grp[m], err);
			if (rc < 0)
				return rc;
			if (rc == 0)
				source_close(s);
			else
				m++;
		}
		if (m == 0) {
			if (s->kind == SRC_BATCHES)
				continue;
			return 0;
		}
		if (!b)
			return 1;
		for (size_t k = 0; k < m; k++)
			s->gp[k] = &s->grp[k];
		rc = mlip_batch_collate(b, s->gp, m, s->cutoff, 0, s->dataset, err);
		return rc ? rc : 1;
	}
}

/* ---- one rank's batch ----------------------------------------------------- */

/* Copy the systems of src with keep[k] set into dst (edges kept as they are). */
static int batch_select(struct mlip_batch *dst, const struct mlip_batch *src, const uint8_t *keep,
			struct mlip_err *err)
{
	size_t B = 0, N = 0, E = 0, j = 0, a = 0, e = 0;
	int rc;
	for (size_t k = 0; k < src->n_systems; k++)
		if (keep[k]) {
			B++;
			N += src->natoms[k];
			E += src->nedges[k];
		}
	if ((rc = mlip_batch_alloc(dst, B, N, E, err)))
		return rc;
	dst->cutoff = src->cutoff;
	for (size_t k = 0; k < src->n_systems; k++) {
		if (!keep[k])
			continue;
		size_t a0 = src->atom_start[k], na = src->natoms[k];
		size_t e0 = src->edge_start[k], ne = src->nedges[k];
		dst->natoms[j] = src->natoms[k];
		dst->nedges[j] = src->nedges[k];
		dst->has[j] = src->has[k];
		dst->energy[j] = src->energy[k];
		memcpy(dst->pbc + 3 * j, src->pbc + 3 * k, 3);
		memcpy(dst->cell + 9 * j, src->cell + 9 * k, 9 * sizeof(double));
		memcpy(dst->stress + 9 * j, src->stress + 9 * k, 9 * sizeof(double));
		memcpy(dst->numbers + a, src->numbers + a0, na * sizeof(int32_t));
		memcpy(dst->positions + 3 * a, src->positions + 3 * a0, 3 * na * sizeof(double));
		memcpy(dst->forces + 3 * a, src->forces + 3 * a0, 3 * na * sizeof(double));
		memcpy(dst->fixed + a, src->fixed + a0, na);
		for (size_t x = 0; x < ne; x++) {
			dst->edge_i[e + x] = (int32_t)((size_t)src->edge_i[e0 + x] - a0 + a);
			dst->edge_j[e + x] = (int32_t)((size_t)src->edge_j[e0 + x] - a0 + a);
		}
		memcpy(dst->edge_shift + 3 * e, src->edge_shift + 3 * e0, 3 * ne * sizeof(int32_t));
		dst->dataset[j] = strdup(src->dataset[k]);
		dst->id[j] = strdup(src->id[k]);
		if (!dst->dataset[j] || !dst->id[j])
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		j++, a += na, e += ne;
	}
	mlip_batch_index(dst);
	return MLIP_OK;
}

/* One JSON line of system s's errors against its labels (head h). */
static int structure_line(FILE *f, const struct mlip_eval *ev, const struct mlip_batch *b, size_t s,
			  size_t h, struct mlip_err *err)
{
	size_t H = ev->tasks->n_heads, n = b->natoms[s], a0 = b->atom_start[s];
	double e = ev->energy[s * H + h], de = e - b->energy[s];
	int he = (b->has[s] & MLIP_HAS_ENERGY) != 0;
	int hf = (b->has[s] & MLIP_HAS_FORCES) && ev->forces;
	int hs = (b->has[s] & MLIP_HAS_STRESS) && ev->stress;
	double fa = 0, fq = 0, sa = 0;
	for (size_t i = 0; hf && i < 3 * n; i++) {
		double d = ev->forces[(3 * a0 + i) * H + h] - b->forces[3 * a0 + i];
		fa += fabs(d);
		fq += d * d;
	}
	for (size_t c = 0; hs && c < 9; c++)
		sa += fabs(ev->stress[(9 * s + c) * H + h] - b->stress[9 * s + c]);
	json_t *o = mlip_jsonl_new(NULL);
	mlip_jsonl_str(o, "sid", b->id[s]);
	mlip_jsonl_str(o, "dataset", b->dataset[s]);
	mlip_jsonl_int(o, "natoms", (long long)n);
	mlip_jsonl_real(o, "energy", e);
	mlip_jsonl_real(o, "energy_error", he ? de : NAN);
	mlip_jsonl_real(o, "energy_per_atom_error", he ? de / (double)n : NAN);
	mlip_jsonl_real(o, "forces_mae", hf ? fa / (3.0 * n) : NAN);
	mlip_jsonl_real(o, "forces_rmse", hf ? sqrt(fq / (3.0 * n)) : NAN);
	mlip_jsonl_real(o, "stress_mae", hs ? sa / 9.0 : NAN);
	return mlip_jsonl_write(f, o, err);
}

/* System s as an extxyz frame: predictions of head h, the input's labels as ref_*. */
static int prediction_frame(FILE *f, const struct mlip_eval *ev, const struct mlip_batch *b,
			    size_t s, size_t h, struct mlip_err *err)
{
	struct mlip_structure ref, pred;
	size_t H = ev->tasks->n_heads, a0 = b->atom_start[s];
	int rc;
	mlip_structure_init(&ref);
	mlip_structure_init(&pred);
	if (!(rc = mlip_batch_get_structure(b, s, &ref, err)) &&
	    !(rc = mlip_structure_copy(&pred, &ref, err))) {
		pred.has = MLIP_HAS_ENERGY;
		pred.energy = ev->energy[s * H + h];
		if (ev->forces) {
			pred.has |= MLIP_HAS_FORCES;
			for (size_t i = 0; i < 3 * pred.natoms; i++)
				pred.forces[i] = ev->forces[(3 * a0 + i) * H + h];
		}
		/* stress is defined only with a periodic axis (model.h) */
		if (ev->stress && mlip_structure_n_periodic(&pred) > 0) {
			pred.has |= MLIP_HAS_STRESS;
			for (int c = 0; c < 9; c++)
				pred.stress[c] = ev->stress[(9 * s + c) * H + h];
		}
		rc = mlip_extxyz_write(f, &pred, &ref, err);
	}
	mlip_structure_release(&ref);
	mlip_structure_release(&pred);
	return rc;
}

/*
 * Rank 0 writes len bytes of text held by rank owner to f (NULL: nothing),
 * every rank calling in the same order; chunks travel by broadcast (dist.h
 * has no gather), so no rank needs memory for another's whole text.
 */
static int emit(FILE *f, const char *text, size_t len, int owner, struct mlip_err *err)
{
	static char chunk[1 << 16];
	int rank = mlip_dist_rank(), rc;
	if (mlip_dist_size() == 1) {
		if (f && len)
			fwrite(text, 1, len, f);
		return MLIP_OK;
	}
	uint64_t n = rank == owner ? len : 0;
	if ((rc = mlip_dist_bcast(&n, sizeof(n), owner, err)))
		return rc;
	for (uint64_t off = 0; off < n;) {
		size_t m = n - off < sizeof(chunk) ? (size_t)(n - off) : sizeof(chunk);
		if (rank == owner)
			memcpy(chunk, text + off, m);
		if ((rc = mlip_dist_bcast(chunk, m, owner, err)))
			return rc;
		if (rank == 0 && f)
			fwrite(chunk, 1, m, f);
		off += m;
	}
	return MLIP_OK;
}

/* ---- the model and the task list ------------------------------------------ */

static int load_model(struct mlip_potential *p, const struct mlip_eval_opts *o, struct mlip_err *err)
{
	int rc = mlip_potential_load(p, o->model, o->reg, MLIP_WEIGHTS_PRIMARY, err);
	if (rc == MLIP_EINVAL) {
		/* the checkpoint holds a config this mlip refuses: a wrong file, not a usage error */
		if (err)
			err->code = MLIP_EDATA;
		rc = MLIP_EDATA;
	}
	if (rc)
		return rc;
	const double *w = NULL;
	if (o->weights == MLIP_WEIGHTS_EMA && !(w = p->ema))
		return mlip_err_set(err, MLIP_EINVAL,
				    "%s holds no EMA weights (trained without train.ema_decay); use "
				    "--weights raw", o->model);
	if (o->weights == MLIP_WEIGHTS_RAW && !(w = p->raw))
		return mlip_err_set(err, MLIP_EINVAL, "%s holds no raw weights", o->model);
	for (size_t k = 0; w && k < p->model->n_params; k++)
		p->model->params[k] = (mlip_real)w[k];
	return MLIP_OK;
}

/*
 * Replace the potential's tasks by the tasks: list of a YAML file: the
 * model's resolved config with that list in place of its own goes through
 * the config checks (errors point into the file), and the normalizers and
 * element references are the model's heads' (copied through the task state).
 */
static int use_tasks_file(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			  struct mlip_err *err)
{
	struct mlip_yaml_node *file = NULL, *tree = NULL, *copy;
	struct mlip_config cfg;
	struct mlip_tasks t;
	char *state = NULL;
	int rc;
	mlip_config_init(&cfg);
	memset(&t, 0, sizeof(t));
	if ((rc = mlip_yaml_load_file(path, &file, err)))
		return rc;
	const struct mlip_yaml_node *list = mlip_yaml_map_get(file, "tasks");
	if (!list) {
		mlip_yaml_free(file);
		return mlip_err_set(err, MLIP_EINVAL, "%s: no 'tasks' list (see mlip-config(5))", path);
	}
	if ((rc = mlip_config_resolved_tree(&p->cfg, &tree, err)))
		goto done;
	if (!(copy = mlip_yaml_copy(list)) || mlip_yaml_map_set(tree, "tasks", copy)) {
		mlip_yaml_free(tree);
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = mlip_config_from_tree(tree, &cfg, err)))
		goto done;
	if ((rc = mlip_tasks_init(&t, &cfg, reg, err)))
		goto done;
	if ((rc = mlip_tasks_state_to_json(&p->tasks, &state, err)) ||
	    (rc = mlip_tasks_state_from_json(&t, reg, state, err))) {
		mlip_tasks_release(&t);
		goto done;
	}
	mlip_tasks_release(&p->tasks);
	mlip_config_release(&p->cfg);
	p->cfg = cfg;   /* the tasks point into cfg's heap arrays, which move with it */
	p->tasks = t;
	mlip_config_init(&cfg);
done:
	free(state);
	mlip_config_release(&cfg);
	mlip_yaml_free(file);
	return rc;
}

/*
 * When no task found a single target in the data there is nothing to
 * measure: most likely the structures' dataset is not one the tasks read
 * (a structure file without -d) or the data have no labels. That is an
 * error (MLIP_EDATA, naming the datasets on both sides), except for
 * unlabelled data evaluated for its predictions (-p, --per-structure).
 */
static int check_targets(const struct mlip_eval *ev, const struct mlip_eval_opts *o,
			 struct mlip_err *err)
{
	const struct mlip_metrics *m = &ev->metrics;
	char have[256] = "", want[256] = "";
	size_t nh = 0, nw = 0;
	for (size_t d = 0; d < m->n_datasets; d++)
		for (size_t k = 0; k < m->n_tasks; k++)
			if (ev->task_on[k] && m->sums[d * m->n_tasks + k].n_rows > 0)
				return MLIP_OK;
	if (ev->labelled == 0) {
		if (o->predictions || o->per_structure) {
			mlip_log(MLIP_LOG_WARN, "the data have no labels: the metrics are null; "
				 "the predictions are written");
			return MLIP_OK;
		}
		return mlip_err_set(err, MLIP_EDATA, "the data have no labels (energy, forces, stress): "
				    "nothing to measure; -p FILE writes the predictions");
	}
	for (size_t d = 0; d < m->n_datasets && nh < sizeof(have); d++)
		nh += (size_t)snprintf(have + nh, sizeof(have) - nh, "%s%s", d ? ", " : "", m->datasets[d]);
	for (size_t k = 0; k < ev->tasks->n_tasks; k++) {
		const struct mlip_config_task *c = ev->tasks->tasks[k].cfg;
		for (size_t i = 0; ev->task_on[k] && i < c->n_datasets && nw < sizeof(want); i++) {
			int seen = 0;
			for (size_t j = 0; j <= k && !seen; j++) {
				const struct mlip_config_task *cj = ev->tasks->tasks[j].cfg;
				for (size_t x = 0; x < (j < k ? cj->n_datasets : i) && !seen; x++)
					seen = ev->task_on[j] && strcmp(cj->datasets[x], c->datasets[i]) == 0;
			}
			if (!seen)
				nw += (size_t)snprintf(want + nw, sizeof(want) - nw, "%s%s", nw ? ", " : "",
						       c->datasets[i]);
		}
	}
	return mlip_err_set(err, MLIP_EDATA, "no labelled structure has a target for the tasks: the "
			    "data hold dataset%s %s, the tasks read %s; name the dataset of unnamed "
			    "structures with -d", m->n_datasets == 1 ? "" : "s", have, nw ? want : "none");
}

/*
 * The dataset of structures that name none: -d's first, else the one
 * dataset the evaluated tasks read when they read only one (a model
 * trained on one dataset), else "default".
 */
static const char *unnamed_dataset(const struct mlip_eval *ev, const struct mlip_eval_opts *o)
{
	const char *only = NULL;
	if (o->n_datasets)
		return o->datasets[0];
	for (size_t k = 0; k < ev->tasks->n_tasks; k++) {
		const struct mlip_config_task *c = ev->tasks->tasks[k].cfg;
		for (size_t i = 0; ev->task_on[k] && i < c->n_datasets; i++) {
			if (only && strcmp(only, c->datasets[i]) != 0)
				return "default";
			only = c->datasets[i];
		}
	}
	return only ? only : "default";
}

/* ---- mlip-eval -------------------------------------------------------------- */

void mlip_eval_opts_init(struct mlip_eval_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->weights = MLIP_WEIGHTS_PRIMARY;
}

static int dataset_wanted(const struct mlip_eval_opts *o, const char *name)
{
	if (o->n_datasets == 0)
		return 1;
	for (size_t k = 0; k < o->n_datasets; k++)
		if (strcmp(o->datasets[k], name) == 0)
			return 1;
	return 0;
}

static int check_opts(const struct mlip_eval_opts *o, struct mlip_err *err)
{
	if (o->predictions && strcmp(o->predictions, "-") == 0) {
		if (!o->jsonl || o->per_structure)
			return mlip_err_set(err, MLIP_EINVAL,
					    "--predictions - needs standard output to itself: use --jsonl for "
					    "the results and no --per-structure");
	}
	return MLIP_OK;
}

/* Append one line with a single write(2), so concurrent cron jobs do not interleave. */
static int append_line(const char *path, const char *line, size_t len, struct mlip_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0666);
	if (fd < 0)
		return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", path, strerror(errno));
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, line + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			return mlip_err_set(err, MLIP_EIO, "cannot write '%s': %s", path, strerror(e));
		}
		done += (size_t)w;
	}
	if (close(fd))
		return mlip_err_set(err, MLIP_EIO, "cannot write '%s': %s", path, strerror(errno));
	return MLIP_OK;
}

/* The results object as one line (malloc'd, with its newline), on rank 0. */
static int results_line(const struct mlip_eval_opts *o, const struct mlip_eval *ev, char **line,
			size_t *len, struct mlip_err *err)
{
	char crc[9], stamp[32];
	int rc;
	if ((rc = mlip_file_crc32(o->model, crc, err)))
		return rc;
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *obj = mlip_jsonl_new(NULL);
	mlip_jsonl_int(obj, "structures", (long long)ev->structures);
	mlip_jsonl_int(obj, "atoms", (long long)ev->atoms);
	mlip_eval_metrics_json(obj, ev, "");
	mlip_jsonl_real(obj, "atoms_per_s", ev->model_seconds > 0 ? (double)ev->atoms / ev->model_seconds
							       : NAN);
	mlip_jsonl_str(obj, "model", o->model);
	mlip_jsonl_str(obj, "model_crc32", crc);
	mlip_jsonl_str(obj, "precision", mlip_precision_name(ev->model->precision));
	mlip_jsonl_str(obj, "timestamp", stamp);
	if (!(*line = mlip_jsonl_dumps(obj)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	*len = strlen(*line);
	return MLIP_OK;
}

struct rendered {
	char *lines, *frames;   /* per-structure JSON lines, extxyz frames (malloc'd) */
	size_t n_lines, n_frames;
};

/* Evaluate this rank's batch b and render what goes to files. */
static int eval_own(const struct mlip_eval_opts *o, struct mlip_eval *ev, const struct mlip_batch *b,
		    size_t head, struct mlip_batch *sel, struct rendered *out, struct mlip_err *err)
{
	const struct mlip_batch *use = b;
	int rc;
	if (o->n_datasets) {
		uint8_t *keep = malloc(b->n_systems + 1);
		size_t n_keep = 0;
		if (!keep)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		for (size_t k = 0; k < b->n_systems; k++)
			n_keep += keep[k] = (uint8_t)dataset_wanted(o, b->dataset[k]);
		rc = n_keep && n_keep < b->n_systems ? batch_select(sel, b, keep, err) : MLIP_OK;
		free(keep);
		if (rc || n_keep == 0)
			return rc;
		if (n_keep < b->n_systems)
			use = sel;
	}
	if ((rc = mlip_eval_batch(ev, use, err)))
		return rc;
	if (o->per_structure) {
		FILE *f = open_memstream(&out->lines, &out->n_lines);
		if (!f)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		for (size_t s = 0; s < use->n_systems && !rc; s++)
			rc = structure_line(f, ev, use, s, head, err);
		if (fclose(f) && !rc)
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		if (rc)
			return rc;
	}
	if (o->predictions) {
		FILE *f = open_memstream(&out->frames, &out->n_frames);
		if (!f)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		for (size_t s = 0; s < use->n_systems && !rc; s++)
			rc = prediction_frame(f, ev, use, s, head, err);
		if (fclose(f) && !rc)
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	return rc;
}

int mlip_eval_run(const struct mlip_eval_opts *o, struct mlip_err *err)
{
	int rank = mlip_dist_rank(), W = mlip_dist_size(), rc;
	struct mlip_potential p;
	struct mlip_eval ev;
	struct source src;
	struct mlip_outfile pred = { 0 };
	struct mlip_batch b, sel;
	size_t head = 0;
	int pred_open = 0;

	memset(&p, 0, sizeof(p));
	memset(&ev, 0, sizeof(ev));
	memset(&src, 0, sizeof(src));
	mlip_batch_init(&b);
	mlip_batch_init(&sel);

	rc = check_opts(o, err);
	if (!rc)
		rc = load_model(&p, o, err);
	if (!rc && o->tasks_file)
		rc = use_tasks_file(&p, o->tasks_file, o->reg, err);
	if (!rc && o->head) {
		while (head < p.tasks.n_heads && strcmp(p.tasks.heads[head].name, o->head) != 0)
			head++;
		if (head == p.tasks.n_heads) {
			char known[256] = "";
			size_t used = 0;
			for (size_t h = 0; h < p.tasks.n_heads && used < sizeof(known); h++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 h ? ", " : "", p.tasks.heads[h].name);
			rc = mlip_err_set(err, MLIP_EINVAL, "--head '%s': the model has no such head (its "
					  "heads: %s)", o->head, known);
		}
	}
	unsigned extra = o->predictions || o->per_structure ? MLIP_MODEL_FORCES | MLIP_MODEL_STRESS : 0;
	if (!rc)
		rc = mlip_eval_init(&ev, p.model, &p.tasks, extra, err);
	if (!rc)
		rc = mlip_eval_select_tasks(&ev, o->tasks, o->n_tasks, err);
	/* a requested dataset has its keys (null) even when the data hold none of it */
	for (size_t k = 0; k < o->n_datasets && !rc; k++)
		if (mlip_metrics_dataset(&ev.metrics, o->datasets[k]) < 0)
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if (!rc)
		rc = source_init(&src, o->inputs, o->n_inputs, p.cfg.model.cutoff,
				 unnamed_dataset(&ev, o), err);
	if (!rc && rank == 0 && o->predictions) {
		if (!(rc = mlip_outfile_open(&pred, o->predictions, err)))
			pred_open = 1;
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;

	int progress = o->progress && rank == 0 && isatty(STDERR_FILENO);
	double t_last = now();
	uint64_t n_batches = 0;
	for (;;) {
		size_t got = 0;
		int mine = 0;
		for (int j = 0; j < W && !rc; j++) {
			int r1 = source_next(&src, j == rank ? &b : NULL, err);
			if (r1 < 0)
				rc = r1;
			else if (r1 == 0)
				break;
			else
				got++, mine |= j == rank;
		}
		if ((rc = mlip_dist_agree(rc, err)) || got == 0)
			break;
		struct rendered out = { 0 };
		if (mine)
			rc = eval_own(o, &ev, &b, head, &sel, &out, err);
		if (!(rc = mlip_dist_agree(rc, err)))
			for (size_t j = 0; j < got && !rc; j++) {
				int own = (int)j == rank;
				if (o->per_structure)
					rc = emit(o->out, own ? out.lines : NULL, own ? out.n_lines : 0, (int)j, err);
				if (!rc && o->predictions)
					rc = emit(pred.f, own ? out.frames : NULL, own ? out.n_frames : 0, (int)j,
						  err);
			}
		free(out.lines);
		free(out.frames);
		if ((rc = mlip_dist_agree(rc, err)))
			break;
		n_batches += got;
		if (progress && now() - t_last >= 0.5) {
			t_last = now();
			fprintf(stderr, "\reval: %llu batches", (unsigned long long)n_batches);
		}
		if (got < (size_t)W)
			break;
	}
	if (progress && n_batches)
		fprintf(stderr, "\reval: %llu batches\n", (unsigned long long)n_batches);
	if (!rc)
		rc = mlip_eval_reduce(&ev, err);
	if (!rc && pred_open) {
		pred_open = 0;
		rc = mlip_outfile_commit(&pred, err);
	}
	if ((rc = mlip_dist_agree(rc, err)))
		goto done;

	/* rank 0 writes the results and checks them; every rank returns its status */
	int status = MLIP_OK;
	if (rank == 0) {
		char *line = NULL;
		size_t len = 0;
		status = results_line(o, &ev, &line, &len, err);
		if (!status && o->jsonl)
			status = append_line(o->jsonl, line, len, err);
		else if (!status && o->out) {
			fwrite(line, 1, len, o->out);
			fflush(o->out);
		}
		if (!status)
			status = check_targets(&ev, o, err);
		if (!status && o->n_conds)
			status = mlip_eval_check(line, o->conds, o->n_conds, err);
		free(line);
	}
	if (W > 1) {
		int32_t s32 = status;
		if (!mlip_dist_bcast(&s32, sizeof(s32), 0, NULL) && rank != 0 && s32 != MLIP_OK)
			status = mlip_err_set(err, s32, "rank 0 failed (see its message)");
	}
	rc = status;
done:
	if (rc && W > 1 && err) {
		/* every rank read the same inputs, so most errors happen on all of them:
		 * a message rank 0 prints is not printed again by the others */
		char msg0[MLIP_ERR_MSG_MAX];
		memcpy(msg0, err->msg, sizeof(msg0));
		if (!mlip_dist_bcast(msg0, sizeof(msg0), 0, NULL) && rank != 0 &&
		    strncmp(msg0, "rank ", 5) != 0 && strcmp(msg0, err->msg) == 0)
			mlip_err_set(err, rc, "rank 0 reported it");
	}
	if (pred_open)
		mlip_outfile_abort(&pred);
	mlip_batch_release(&b);
	mlip_batch_release(&sel);
	source_release(&src);
	mlip_eval_release(&ev);
	mlip_potential_release(&p);
	return rc;
}
