/*
 * runckpt.c - training checkpoint directories (layout in runckpt.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runckpt.h"
#include "ckpt.h"
#include "outfile.h"
#include "banned.h"

void mlip_run_state_init(struct mlip_run_state *s)
{
	memset(s, 0, sizeof(*s));
}

void mlip_run_state_release(struct mlip_run_state *s)
{
	mlip_yaml_free(s->config);
	free(s->tasks_state);
	free(s->params);
	free(s->adam_m);
	free(s->adam_v);
	free(s->ema);
	mlip_run_state_init(s);
}

int mlip_mkdirs(const char *dir, struct mlip_err *err)
{
	char buf[4096];
	size_t n = strlen(dir);
	if (n >= sizeof(buf))
		return mlip_err_set(err, MLIP_EINVAL, "path too long: '%s'", dir);
	memcpy(buf, dir, n + 1);
	for (size_t k = 1; k <= n; k++) {
		if (buf[k] != '/' && buf[k] != '\0')
			continue;
		char c = buf[k];
		buf[k] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return mlip_err_set(err, MLIP_EIO, "cannot create directory '%s': %s", buf,
					    strerror(errno));
		buf[k] = c;
	}
	return MLIP_OK;
}

static void state_path(char *out, size_t cap, const char *dir, int rank)
{
	snprintf(out, cap, "%s/state.%d.mlip", dir, rank);
}

static json_t *progress_json(const struct mlip_run_progress *pg)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:b,s:i,s:s}", "step", (json_int_t)pg->step, "adam_t",
			 (json_int_t)pg->adam_t, "nonfinite", (json_int_t)pg->nonfinite,
			 "nonfinite_total", (json_int_t)pg->nonfinite_total, "ema_started",
			 pg->ema_started, "world", pg->world, "strategy", pg->strategy);
}

int mlip_runckpt_write_shard(const char *dir, int rank, const struct mlip_run_progress *pg,
			     size_t n_params, size_t start, size_t count, const double *params,
			     const double *adam_m, const double *adam_v, const double *ema,
			     const char *tasks_state, struct mlip_err *err)
{
	char path[4200];
	json_error_t jerr;
	state_path(path, sizeof(path), dir, rank);
	json_t *root = json_pack("{s:s,s:i,s:i,s:I,s:I,s:I,s:o,s:b}", "format", "mlip-train-state",
				 "rank", rank, "world", pg->world, "n_params", (json_int_t)n_params,
				 "shard_start", (json_int_t)start, "shard_count", (json_int_t)count,
				 "progress", progress_json(pg), "ema", ema != NULL);
	if (tasks_state)
		json_object_set_new(root, "tasks_state", json_loads(tasks_state, 0, &jerr));
	char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(root);
	if (!text)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	const double *blobs[4] = { params + start, adam_m, adam_v, ema };
	int rc = mlip_ckpt_write(path, text, blobs, ema ? 4 : 3, count, err);
	free(text);
	return rc;
}

int mlip_runckpt_write_resume(const char *dir, const struct mlip_run_progress *pg,
			      const char *config_yaml, struct mlip_err *err)
{
	char path[4200];
	struct mlip_yaml_node *cfg = NULL, *root = mlip_yaml_mapping_new(), *prog = mlip_yaml_mapping_new();
	char num[64];
	int rc;
	if (!root || !prog) {
		mlip_yaml_free(root);
		mlip_yaml_free(prog);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	if ((rc = mlip_yaml_load_string(config_yaml, strlen(config_yaml), "config", &cfg, err))) {
		mlip_yaml_free(root);
		mlip_yaml_free(prog);
		return rc;
	}
	const struct { const char *k; uint64_t v; } ints[] = {
		{ "step", pg->step }, { "adam_t", pg->adam_t }, { "nonfinite", pg->nonfinite },
		{ "nonfinite_total", pg->nonfinite_total }, { "world", (uint64_t)pg->world },
	};
	for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ints[k].v);
		mlip_yaml_map_set(prog, ints[k].k, mlip_yaml_scalar_new(num, false));
	}
	mlip_yaml_map_set(prog, "ema_started", mlip_yaml_scalar_new(pg->ema_started ? "true" : "false", false));
	mlip_yaml_map_set(prog, "strategy", mlip_yaml_scalar_new(pg->strategy, false));
	mlip_yaml_map_set(root, "progress", prog);
	mlip_yaml_map_set(root, "config", cfg);
	char *text = NULL;
	rc = mlip_yaml_emit(root, &text, NULL, err);
	mlip_yaml_free(root);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/resume.yaml", dir);
	struct mlip_outfile out;
	if (!(rc = mlip_outfile_open(&out, path, err))) {
		fputs("# mlip training checkpoint: resume with  mlip-train --resume DIR\n", out.f);
		fputs(text, out.f);
		rc = mlip_outfile_commit(&out, err);
	}
	free(text);
	return rc;
}

int mlip_runckpt_write_lbfgs(const char *dir, const struct mlip_lbfgs *lb, struct mlip_err *err)
{
	char path[4200];
	size_t n = lb->n, m = lb->m;
	const double **blobs = malloc((2 * m + 1) * sizeof(*blobs));
	json_t *rho = json_array();
	if (!blobs || !rho) {
		free(blobs);
		json_decref(rho);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	for (size_t j = 0; j < m; j++)
		json_array_append_new(rho, json_real(lb->rho[j]));
	json_t *root = json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:o}", "format", "mlip-lbfgs-state", "n",
				 (json_int_t)n, "m", (json_int_t)m, "k", (json_int_t)lb->k, "head",
				 (json_int_t)lb->head, "f", lb->f, "rho", rho);
	char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(root);
	if (!text) {
		free(blobs);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	blobs[0] = lb->g;
	for (size_t j = 0; j < m; j++) {
		blobs[1 + j] = lb->s + j * n;
		blobs[1 + m + j] = lb->y + j * n;
	}
	snprintf(path, sizeof(path), "%s/lbfgs.mlip", dir);
	int rc = mlip_ckpt_write(path, text, blobs, 2 * m + 1, n, err);
	free(text);
	free(blobs);
	return rc;
}

int mlip_runckpt_load_lbfgs(const char *dir, struct mlip_lbfgs *lb, int *found,
			    struct mlip_err *err)
{
	char path[4200];
	struct mlip_ckpt c;
	json_error_t jerr;
	size_t n = lb->n, m = lb->m;
	int rc;
	*found = 0;
	snprintf(path, sizeof(path), "%s/lbfgs.mlip", dir);
	if (access(path, F_OK) != 0)
		return MLIP_OK;
	mlip_ckpt_init(&c);
	if ((rc = mlip_ckpt_read(path, &c, err)))
		return rc;
	json_t *root = json_loads(c.json, 0, &jerr), *rho = NULL;
	json_int_t jn = -1, jm = -1, jk = -1, jh = -1;
	double f = 0;
	const char *format = "";
	if (!root || json_unpack(root, "{s:s,s:I,s:I,s:I,s:I,s:F,s:o}", "format", &format, "n", &jn,
				 "m", &jm, "k", &jk, "head", &jh, "f", &f, "rho", &rho) ||
	    strcmp(format, "mlip-lbfgs-state") != 0 || !json_is_array(rho)) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: not an l-bfgs state file", path);
	} else if ((size_t)jn != n || (size_t)jm != m || c.blob_count != n ||
		   c.n_blobs != 2 * m + 1 || json_array_size(rho) != m) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: l-bfgs state for %lld variables and %lld pairs, the run has %zu and %zu",
				  path, (long long)jn, (long long)jm, n, m);
	} else if (jk < 0 || (size_t)jk > m || jh < 0 || (size_t)jh >= m) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: bad pair count or ring position", path);
	} else {
		lb->k = (size_t)jk;
		lb->head = (size_t)jh;
		lb->f = f;
		for (size_t j = 0; j < m; j++)
			lb->rho[j] = json_number_value(json_array_get(rho, j));
		memcpy(lb->g, c.blobs, n * sizeof(double));
		for (size_t j = 0; j < m; j++) {
			memcpy(lb->s + j * n, c.blobs + (1 + j) * n, n * sizeof(double));
			memcpy(lb->y + j * n, c.blobs + (1 + m + j) * n, n * sizeof(double));
		}
		*found = 1;
	}
	json_decref(root);
	mlip_ckpt_release(&c);
	return rc;
}

int mlip_runckpt_mark_done(const char *dir, struct mlip_err *err)
{
	char path[4200];
	struct mlip_outfile out;
	int rc;
	char crc[9];
	/* resume.yaml has no checksum of its own: DONE, written last, carries one */
	snprintf(path, sizeof(path), "%s/resume.yaml", dir);
	if ((rc = mlip_file_crc32(path, crc, err)))
		return rc;
	snprintf(path, sizeof(path), "%s/DONE", dir);
	if ((rc = mlip_outfile_open(&out, path, err)))
		return rc;
	fprintf(out.f, "complete\nresume.yaml crc32 %s\n", crc);
	return mlip_outfile_commit(&out, err);
}

/*
 * resume.yaml against the CRC-32 its DONE mark holds (checkpoints written
 * before DONE carried one have nothing to check). MLIP_EDATA on a mismatch.
 */
static int check_resume_crc(const char *dir, struct mlip_err *err)
{
	char path[4200], line[128], want[9] = "", got[9];
	snprintf(path, sizeof(path), "%s/DONE", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "resume.yaml crc32 %8s", want) == 1)
			break;
	fclose(f);
	if (!want[0])
		return MLIP_OK;
	snprintf(path, sizeof(path), "%s/resume.yaml", dir);
	int rc = mlip_file_crc32(path, got, err);
	if (rc)
		return rc == MLIP_EIO ? mlip_err_set(err, MLIP_EDATA, "%s: missing resume.yaml", dir) : rc;
	if (strcmp(got, want))
		return mlip_err_set(err, MLIP_EDATA, "%s: damaged: its CRC-32 is %s, the checkpoint's "
				    "DONE mark says %s", path, got, want);
	return MLIP_OK;
}

static int get_u64(const struct mlip_yaml_node *root, const char *key, uint64_t *out,
		   struct mlip_err *err)
{
	int64_t v = -1;
	int rc = mlip_yaml_get_int(root, key, &v, err);
	if (rc)
		return rc;
	if (v < 0)
		return mlip_err_set(err, MLIP_EDATA, "resume.yaml: missing or negative '%s'", key);
	*out = (uint64_t)v;
	return MLIP_OK;
}

int mlip_runckpt_load(const char *dir, struct mlip_run_state *s, struct mlip_err *err)
{
	char path[4200];
	struct mlip_yaml_node *root = NULL;
	struct mlip_ckpt c;
	int rc;
	mlip_run_state_init(s);
	mlip_ckpt_init(&c);
	snprintf(path, sizeof(path), "%s/DONE", dir);
	if (access(path, F_OK) != 0) {
		snprintf(path, sizeof(path), "%s/resume.yaml", dir);
		if (access(dir, F_OK) != 0)
			return mlip_err_set(err, MLIP_EIO, "%s: no such checkpoint directory", dir);
		return mlip_err_set(err, MLIP_EDATA,
				    "%s: incomplete checkpoint (no DONE mark: the run stopped while "
				    "writing it); use an older step_N directory", dir);
	}
	if ((rc = check_resume_crc(dir, err)))
		return rc;
	snprintf(path, sizeof(path), "%s/resume.yaml", dir);
	if ((rc = mlip_yaml_load_file(path, &root, err)))
		return rc == MLIP_EIO ? mlip_err_set(err, MLIP_EDATA, "%s: missing resume.yaml", dir) : rc;
	struct mlip_run_progress *pg = &s->progress;
	uint64_t world = 0;
	const char *strategy = NULL;
	bool ema_started = false;
	if ((rc = get_u64(root, "progress.step", &pg->step, err)) ||
	    (rc = get_u64(root, "progress.adam_t", &pg->adam_t, err)) ||
	    (rc = get_u64(root, "progress.nonfinite", &pg->nonfinite, err)) ||
	    (rc = get_u64(root, "progress.nonfinite_total", &pg->nonfinite_total, err)) ||
	    (rc = get_u64(root, "progress.world", &world, err)) ||
	    (rc = mlip_yaml_get_bool(root, "progress.ema_started", &ema_started, err)) ||
	    (rc = mlip_yaml_get_string(root, "progress.strategy", &strategy, err)))
		goto fail;
	if (world < 1 || world > 65536 || !strategy) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s/resume.yaml: bad progress section", dir);
		goto fail;
	}
	pg->world = (int)world;
	pg->ema_started = ema_started;
	snprintf(pg->strategy, sizeof(pg->strategy), "%s", strategy);
	const struct mlip_yaml_node *cfg = mlip_yaml_get(root, "config");
	if (!cfg || cfg->kind != MLIP_YAML_MAPPING) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s/resume.yaml: no config section", dir);
		goto fail;
	}
	if (!(s->config = mlip_yaml_copy(cfg))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto fail;
	}
	size_t covered = 0;
	int has_ema = -1;
	for (int r = 0; r < pg->world; r++) {
		state_path(path, sizeof(path), dir, r);
		if (access(path, F_OK) != 0) {
			rc = mlip_err_set(err, MLIP_EDATA, "%s: missing shard state.%d.mlip of %d", dir, r,
					  pg->world);
			goto fail;
		}
		if ((rc = mlip_ckpt_read(path, &c, err)))
			goto fail;
		json_error_t jerr;
		json_t *h = json_loads(c.json, 0, &jerr);
		json_int_t n = 0, start = 0, count = 0, rank = -1;
		int ema = 0;
		const char *fmt = NULL;
		if (!h || json_unpack(h, "{s:s,s:I,s:I,s:I,s:I,s:b}", "format", &fmt, "rank", &rank,
				      "n_params", &n, "shard_start", &start, "shard_count", &count, "ema",
				      &ema) || strcmp(fmt, "mlip-train-state") != 0 || rank != r) {
			json_decref(h);
			rc = mlip_err_set(err, MLIP_EDATA, "%s: not a training state file of rank %d", path, r);
			goto fail;
		}
		if (r == 0) {
			s->n_params = (size_t)n;
			has_ema = ema;
			size_t bytes = (s->n_params ? s->n_params : 1) * sizeof(double);
			s->params = calloc(1, bytes);
			s->adam_m = calloc(1, bytes);
			s->adam_v = calloc(1, bytes);
			s->ema = ema ? calloc(1, bytes) : NULL;
			json_t *ts = json_object_get(h, "tasks_state");
			s->tasks_state = ts ? json_dumps(ts, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
			if (!s->params || !s->adam_m || !s->adam_v || (ema && !s->ema) || !s->tasks_state) {
				json_decref(h);
				rc = s->tasks_state ? mlip_err_set(err, MLIP_ENOMEM, "out of memory")
						    : mlip_err_set(err, MLIP_EDATA, "%s: no task state", path);
				goto fail;
			}
		}
		json_decref(h);
		if ((size_t)n != s->n_params || ema != has_ema || (size_t)start != covered ||
		    c.blob_count != (size_t)count || c.n_blobs != (size_t)(ema ? 4 : 3) ||
		    covered + (size_t)count > s->n_params) {
			rc = mlip_err_set(err, MLIP_EDATA,
					  "%s: shard [%lld, +%lld) of %lld does not continue the shards "
					  "before it (expected start %zu of %zu)", path, (long long)start,
					  (long long)count, (long long)n, covered, s->n_params);
			goto fail;
		}
		double *dst[4] = { s->params, s->adam_m, s->adam_v, s->ema };
		for (size_t b = 0; b < c.n_blobs; b++)
			memcpy(dst[b] + start, c.blobs + b * c.blob_count, c.blob_count * sizeof(double));
		covered += (size_t)count;
		mlip_ckpt_release(&c);
	}
	if (covered != s->n_params) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: the shards cover %zu of %zu parameters", dir,
				  covered, s->n_params);
		goto fail;
	}
	mlip_yaml_free(root);
	return MLIP_OK;
fail:
	mlip_ckpt_release(&c);
	mlip_yaml_free(root);
	mlip_run_state_release(s);
	return rc;
}

/* Remove a checkpoint directory and its files (one level: checkpoints have no subdirectories). */
static int remove_dir(const char *dir, struct mlip_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];
	if (!d)
		return errno == ENOENT ? MLIP_OK
				       : mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* a path that does not fit is left alone (rmdir then reports the directory) */
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		return mlip_err_set(err, MLIP_EIO, "cannot remove '%s': %s", dir, strerror(errno));
	return MLIP_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int mlip_runckpt_prune(const char *root, size_t keep, struct mlip_err *err)
{
	DIR *d = opendir(root);
	struct dirent *e;
	uint64_t steps[4096];
	size_t n = 0;
	char path[4200];
	if (!d)
		return MLIP_OK;
	while ((e = readdir(d)) && n < 4096) {
		unsigned long long s;
		char tail;
		if (sscanf(e->d_name, "step_%llu%c", &s, &tail) == 1)
			steps[n++] = s;
	}
	closedir(d);
	qsort(steps, n, sizeof(steps[0]), cmp_u64);
	size_t complete = 0;
	int rc = MLIP_OK;
	for (size_t k = n; k-- > 0;) {
		snprintf(path, sizeof(path), "%s/step_%llu/DONE", root, (unsigned long long)steps[k]);
		int done = access(path, F_OK) == 0;
		snprintf(path, sizeof(path), "%s/step_%llu", root, (unsigned long long)steps[k]);
		if (done && complete < keep) {
			complete++;
			continue;
		}
		/* An incomplete directory newer than every complete one may still be
		 * being written by this run; leave it. */
		if (!done && complete == 0)
			continue;
		int r = remove_dir(path, err);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

/* Remove every subdirectory of dir (each one level deep), the files in dir, then dir. */
static int remove_two_levels(const char *dir, struct mlip_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];
	int rc = MLIP_OK;
	if (!d)
		return errno == ENOENT ? MLIP_OK
				       : mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", dir, strerror(errno));
	while ((e = readdir(d)) && !rc) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = remove_dir(path, err);
		else
			unlink(path);
	}
	closedir(d);
	if (!rc && rmdir(dir) != 0)
		rc = mlip_err_set(err, MLIP_EIO, "cannot remove '%s': %s", dir, strerror(errno));
	return rc;
}

int mlip_runckpt_claim_dir(const char *run_dir, int force, struct mlip_err *err)
{
	static const char *const parts[] = { "config.yaml", "inference_ckpt.mlip", "checkpoints", "debug" };
	char path[4200], held[160] = "";
	size_t used = 0;
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "%s/%s", run_dir, parts[k]);
		if (access(path, F_OK) == 0) {
			int w = snprintf(held + used, sizeof(held) - used, "%s%s", used ? ", " : "", parts[k]);
			if (w > 0 && used + (size_t)w < sizeof(held))
				used += (size_t)w;
		}
	}
	if (!used)
		return MLIP_OK;
	if (!force)
		return mlip_err_set(err, MLIP_EINVAL,
				    "'%s' holds a run (%s): continue it with --resume %s/checkpoints/..., "
				    "write to another directory with -o, or replace it with --force",
				    run_dir, held, run_dir);
	for (size_t k = 0; k < 4; k++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", run_dir, parts[k]);
		if (lstat(path, &st) != 0)
			continue;
		int rc = S_ISDIR(st.st_mode) ? remove_two_levels(path, err) : MLIP_OK;
		if (rc)
			return rc;
		if (!S_ISDIR(st.st_mode) && unlink(path) != 0)
			return mlip_err_set(err, MLIP_EIO, "cannot remove '%s': %s", path, strerror(errno));
	}
	return MLIP_OK;
}
