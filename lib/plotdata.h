/*
 * plotdata.h - what mlip-plot reads: the metrics JSON Lines of mlip-train
 * (mlip-metrics(5)) as series of (step, value), and the predictions extxyz
 * of mlip-eval -p as (predicted, reference) pairs with the errors that
 * mlip-eval's metrics average.
 *
 *     struct mlip_metrics_log m;
 *     struct mlip_series s;
 *     mlip_metrics_log_init(&m);
 *     rc = mlip_metrics_log_read(&m, f, "metrics.jsonl", err);
 *     rc = mlip_metrics_log_series(&m, "val/loss", &s, err);   // s.n points
 *     mlip_series_release(&s);
 *     mlip_metrics_log_release(&m);
 *
 *     struct mlip_predictions p;
 *     mlip_predictions_init(&p);
 *     rc = mlip_predictions_read(&p, f, "pred.xyz", err);
 *     mlip_parity_errors(&p.forces, &mae, &rmse);
 *     mlip_predictions_release(&p);
 */
#ifndef MLIP_PLOTDATA_H
#define MLIP_PLOTDATA_H

#include <stdio.h>

#include <jansson.h>

#include "error.h"

/* ------------------------------------------------------------- metrics */

/* The train and val records of a metrics file, in file order. */
struct mlip_metrics_log {
	json_t **rec;        /* (n) the records, owned */
	size_t *line;        /* (n) the line each was read from */
	size_t n, cap;
	char *name;          /* the file as named in messages, owned */
};

void mlip_metrics_log_init(struct mlip_metrics_log *m);
void mlip_metrics_log_release(struct mlip_metrics_log *m);

/*
 * Read the JSON Lines of f, named name in messages ("<stdin>" for standard
 * input), keeping the records of "type" "train" and "val"; "end", "profile"
 * and types this version does not know are skipped, as are blank lines.
 * MLIP_EDATA, as "NAME:LINE: what", for a line that is not a JSON object, an
 * object without a string "type" (not a mlip-train record), or a train or
 * val record without a numeric "step"; and "NAME: no train or val records"
 * when none is found. MLIP_EIO for a read error.
 */
int mlip_metrics_log_read(struct mlip_metrics_log *m, FILE *f, const char *name,
			  struct mlip_err *err);

/* One curve: the records that hold key with a number, in file order. */
struct mlip_series {
	char *key;               /* owned */
	double *x;               /* (n) step */
	double *y;               /* (n) value */
	unsigned char *lbfgs;    /* (n) 1 for a record of the L-BFGS phase ("optimizer":"lbfgs") */
	size_t n;
	size_t n_null;           /* records where key is null (skipped) */
};

void mlip_series_release(struct mlip_series *s);

/*
 * The series of key. A record where key is null is skipped and counted in
 * n_null, so s->n may be 0 when the key only ever held null. MLIP_EINVAL when
 * no train or val record has key, with the numeric keys that do appear in
 * the message (as many as fit); MLIP_EDATA "NAME:LINE: 'KEY' is not a number"
 * for a value of another type.
 */
int mlip_metrics_log_series(const struct mlip_metrics_log *m, const char *key,
			    struct mlip_series *s, struct mlip_err *err);

/* Whether any train or val record has key (with any value). */
int mlip_metrics_log_has(const struct mlip_metrics_log *m, const char *key);

/*
 * Where the L-BFGS phase starts, on the step axis: the step of the last
 * record before the first record with "optimizer": "lbfgs" (the last AdamW
 * step: the phase begins after it), or that first record's step when it is
 * the first. NAN when the log has no L-BFGS records.
 */
double mlip_metrics_log_lbfgs_start(const struct mlip_metrics_log *m);

/* ------------------------------------------------------------- predictions */

/* Pairs of one quantity, in file order. */
struct mlip_parity {
	double *pred;   /* (n) predicted */
	double *ref;    /* (n) reference */
	double *err;    /* (n) predicted minus reference, as mlip-eval's metrics form it */
	size_t n, cap;
};

struct mlip_predictions {
	struct mlip_parity energy;  /* eV/atom: one pair per frame with energy and ref_energy */
	struct mlip_parity forces;  /* eV/Å: the components of every atom that is not fixed, in
				     * frames with forces and ref_forces columns */
	struct mlip_parity stress;  /* eV/Å³: 9 components per frame with stress and ref_stress */
	size_t frames;              /* frames read */
};

void mlip_predictions_init(struct mlip_predictions *p);
void mlip_predictions_release(struct mlip_predictions *p);

/*
 * Read the extxyz that mlip-eval --predictions writes (mlip-eval(1)): per
 * frame a line with the number of atoms, a line of KEY=VALUE pairs (values
 * bare or in double quotes with \" and \\ escapes; Properties required;
 * energy, ref_energy: one number; stress, ref_stress: nine; other keys are
 * skipped), then one line per atom with exactly the columns Properties
 * declares (species:S:1 first; forces and ref_forces R:3; move_mask L:1
 * marks fixed atoms with F, which mlip-eval's force metrics leave out).
 * Every number must be finite and fill its token. MLIP_EDATA, as
 * "NAME:LINE: what", for anything else: a missing or malformed count or
 * key, a wrong number of columns or values, a file that ends inside a frame
 * ("truncated"), or no frame at all. MLIP_EIO for a read error.
 */
int mlip_predictions_read(struct mlip_predictions *p, FILE *f, const char *name,
			  struct mlip_err *err);

/*
 * MAE and RMSE of the errors of q, summed in file order as mlip-eval sums
 * them (so on one rank they are its numbers to the last bit). NAN when q is
 * empty.
 */
void mlip_parity_errors(const struct mlip_parity *q, double *mae, double *rmse);

#endif
