/*
 * flipcheck.c - single-bit flips and truncations of the binary formats,
 * read back by the readers the programs use; prints the detection figures.
 *
 *   flipcheck mlb FILE.mlb        the batch stream reader (mlip_batch_list_read)
 *   flipcheck model FILE.mlip     the inference model (mlip_modelfile_load)
 *   flipcheck run DIR             a training checkpoint directory
 *                                 (mlip_runckpt_load), each file of it in turn
 *
 * Every bit of the first 64 bytes (the headers) is flipped, and single bits
 * at positions drawn from the rest of the file (a fixed seed) until at least
 * MIN_FLIPS flips per file; a file of fewer bits has all of them flipped. The
 * truncation grid is every length below 256 bytes, then every 1/64 of the
 * file, and the last 8 lengths. Each damaged copy is then
 *   - "refused" when the reader returns MLIP_EDATA (the programs' exit 3);
 *   - "harmless" when it is accepted and what it gives is identical to what
 *     the intact file gives (a flip in bytes the reader ignores);
 *   - "SILENT" when it is accepted and gives something else, or any other
 *     status: the failures.
 * One line per file and kind, e.g.
 *   flip model.mlip: 2512 flips, 2512 refused, 0 harmless, 0 silent
 * The exit status is 1 when a checksummed file (a .mlb stream or a
 * container .mlip) has a silent flip or truncation; files outside that
 * promise (resume.yaml, DONE) are reported with "unprotected" and do not
 * fail the run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "ckpt.h"
#include "modelfile.h"
#include "runckpt.h"
#include "yamltree.h"

#define MIN_FLIPS 2000

enum kind { MLB, MODEL, RUN };

struct counts {
	size_t tried, refused, harmless, silent;
};

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
	if (!p || fread(p, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		exit(2);
	}
	fclose(f);
	*n = (size_t)len;
	return p;
}

static void spill(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(2);
	}
}

/*
 * What a reader made of a file, as bytes to compare: the batches written
 * back as a stream; the container's JSON and blobs with the model's
 * parameters; the training state's fields and config.
 */
struct result {
	int rc;
	char *bytes;
	size_t len;
};

static void put(FILE *f, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, f) != n)
		exit(2);
}

static struct result read_mlb(const char *path)
{
	struct result r = { 0, NULL, 0 };
	struct mlip_batch_list l;
	struct mlip_err err = { 0 };
	FILE *f = fopen(path, "rb");
	mlip_batch_list_init(&l);
	r.rc = mlip_batch_list_read(&l, f, path, &err);
	fclose(f);
	if (r.rc == MLIP_OK) {
		FILE *m = open_memstream(&r.bytes, &r.len);
		if (mlip_batch_list_write(&l, m, "memory", &err))
			exit(2);
		fclose(m);
	}
	mlip_batch_list_release(&l);
	return r;
}

static struct result read_model(const char *path)
{
	struct result r = { 0, NULL, 0 };
	struct mlip_model *m = NULL;
	struct mlip_head_map *heads = calloc(MLIP_MAX_HEADS, sizeof(*heads));
	struct mlip_ckpt c;
	struct mlip_err err = { 0 };
	mlip_ckpt_init(&c);
	r.rc = mlip_modelfile_load(path, &m, heads, &err);
	if (r.rc == MLIP_OK) {
		FILE *f = open_memstream(&r.bytes, &r.len);
		if (mlip_ckpt_read(path, &c, &err))
			exit(2);
		put(f, c.json, c.json_bytes);
		put(f, c.blobs, c.n_blobs * c.blob_count * sizeof(double));
		put(f, m->params, m->n_params * sizeof(*m->params));
		put(f, heads, MLIP_MAX_HEADS * sizeof(*heads));
		fclose(f);
		mlip_ckpt_release(&c);
	}
	if (m)
		mlip_model_free(m);
	free(heads);
	return r;
}

static struct result read_run(const char *dir)
{
	struct result r = { 0, NULL, 0 };
	struct mlip_run_state s;
	struct mlip_err err = { 0 };
	r.rc = mlip_runckpt_load(dir, &s, &err);
	if (r.rc == MLIP_OK) {
		char *cfg = NULL;
		size_t cfg_len = 0;
		FILE *f = open_memstream(&r.bytes, &r.len);
		if (mlip_yaml_emit(s.config, &cfg, &cfg_len, &err))
			exit(2);
		put(f, &s.progress, sizeof(s.progress));
		put(f, cfg, cfg_len);
		put(f, s.tasks_state, strlen(s.tasks_state));
		put(f, &s.n_params, sizeof(s.n_params));
		put(f, s.params, s.n_params * sizeof(double));
		put(f, s.adam_m, s.n_params * sizeof(double));
		put(f, s.adam_v, s.n_params * sizeof(double));
		if (s.ema)
			put(f, s.ema, s.n_params * sizeof(double));
		fclose(f);
		free(cfg);
	}
	mlip_run_state_release(&s);
	return r;
}

static struct result read_any(enum kind k, const char *path)
{
	return k == MLB ? read_mlb(path) : k == MODEL ? read_model(path) : read_run(path);
}

static void judge(struct counts *c, enum kind k, const char *target, const struct result *ref)
{
	struct result r = read_any(k, target);
	c->tried++;
	if (r.rc == MLIP_EDATA)
		c->refused++;
	else if (r.rc == MLIP_OK && r.len == ref->len && !memcmp(r.bytes, ref->bytes, r.len))
		c->harmless++;
	else
		c->silent++;
	free(r.bytes);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
	/* splitmix64: a fixed sequence, so that the figures are reproducible */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/*
 * Damage file (inside the target that kind k reads) and judge each copy;
 * the intact bytes are restored afterwards.
 */
static int damage(enum kind k, const char *target, const char *file, const char *label,
		  int protected)
{
	size_t n;
	unsigned char *orig = slurp(file, &n);
	unsigned char *copy = malloc(n ? n : 1);
	struct result ref = read_any(k, target);
	struct counts flips = { 0 }, cuts = { 0 };
	if (ref.rc) {
		fprintf(stderr, "%s: the intact file does not read (status %d)\n", label, ref.rc);
		exit(2);
	}
	size_t bits = 8 * n;
	size_t want = bits < MIN_FLIPS + 512 ? bits : MIN_FLIPS + 512;
	unsigned char *done = calloc(bits ? bits : 1, 1);
	for (size_t t = 0; t < want; t++) {
		size_t b;
		if (want == bits || t < 512)
			b = t; /* every bit of a small file, or of the header */
		else
			do
				b = (size_t)(next_random() % bits);
			while (done[b]);
		done[b] = 1;
		memcpy(copy, orig, n);
		copy[b / 8] ^= (unsigned char)(1u << (b % 8));
		spill(file, copy, n);
		judge(&flips, k, target, &ref);
	}
	free(done);
	for (size_t len = 0; len < n; len++) {
		if (!(len < 256 || len % (n / 64 > 0 ? n / 64 : 1) == 0 || len + 8 >= n))
			continue;
		spill(file, orig, len);
		judge(&cuts, k, target, &ref);
	}
	spill(file, orig, n);
	const char *tag = protected ? "" : " (unprotected)";
	printf("flip %s%s: %zu bytes, %zu flips, %zu refused, %zu harmless, %zu silent\n", label, tag,
	       n, flips.tried, flips.refused, flips.harmless, flips.silent);
	printf("truncate %s%s: %zu lengths, %zu refused, %zu harmless, %zu silent\n", label, tag,
	       cuts.tried, cuts.refused, cuts.harmless, cuts.silent);
	free(ref.bytes);
	free(orig);
	free(copy);
	return protected && (flips.silent || cuts.silent);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: flipcheck mlb|model|run PATH\n");
		return 2;
	}
	if (!strcmp(argv[1], "mlb"))
		return damage(MLB, argv[2], argv[2], argv[2], 1);
	if (!strcmp(argv[1], "model"))
		return damage(MODEL, argv[2], argv[2], argv[2], 1);
	if (strcmp(argv[1], "run")) {
		fprintf(stderr, "flipcheck: unknown kind '%s'\n", argv[1]);
		return 2;
	}
	struct dirent **list;
	int m = scandir(argv[2], &list, NULL, alphasort), bad = 0;
	if (m < 0) {
		perror(argv[2]);
		return 2;
	}
	for (int i = 0; i < m; i++) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", argv[2], list[i]->d_name);
		struct stat st;
		if (list[i]->d_name[0] != '.' && !stat(file, &st) && S_ISREG(st.st_mode)) {
			/* the model beside the state is read by mlip_modelfile_load */
			int model = !strcmp(list[i]->d_name, "inference_ckpt.mlip");
			bad |= damage(model ? MODEL : RUN, model ? file : argv[2], file, file,
				      ends_with(file, ".mlip"));
		}
		free(list[i]);
	}
	free(list);
	return bad;
}
