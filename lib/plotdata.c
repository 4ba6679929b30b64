/*
 * plotdata.c - readers of mlip-train's metrics JSON Lines and of mlip-eval's
 * predictions extxyz (plotdata.h), for mlip-plot.
 *
 * The predictions reader is a reader of one dialect, the one
 * mlip_extxyz_write produces, and not of extxyz in general (lib/extxyz.c is
 * that): what it does not expect is an error naming the file and line, so
 * a parity plot is never drawn from a file it misread. Lines are counted
 * from 1; "<stdin>" names standard input, as elsewhere in mlip.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plotdata.h"
#include "banned.h"

/* "NAME:LINE: what" as MLIP_EDATA. */
static int fail_at(struct mlip_err *err, const char *name, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_at(struct mlip_err *err, const char *name, size_t line, const char *fmt, ...)
{
	if (err) {
		char msg[MLIP_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		mlip_err_set(err, MLIP_EDATA, "%s:%zu: %s", name, line, msg);
	}
	return MLIP_EDATA;
}

static int read_error(struct mlip_err *err, const char *name)
{
	return mlip_err_set(err, MLIP_EIO, "cannot read '%s': %s", name, strerror(errno));
}

/* Strip the line end (LF, or CRLF from a file that crossed Windows). */
static size_t chomp(char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	return len;
}

static int blank(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

/* ------------------------------------------------------------- metrics */

void mlip_metrics_log_init(struct mlip_metrics_log *m)
{
	memset(m, 0, sizeof(*m));
}

void mlip_metrics_log_release(struct mlip_metrics_log *m)
{
	for (size_t i = 0; i < m->n; i++)
		json_decref(m->rec[i]);
	free(m->rec);
	free(m->line);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static int keep_record(struct mlip_metrics_log *m, json_t *rec, size_t line)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		json_t **r = realloc(m->rec, cap * sizeof(*r));
		if (!r)
			return -1;
		m->rec = r;
		size_t *l = realloc(m->line, cap * sizeof(*l));
		if (!l)
			return -1;
		m->line = l;
		m->cap = cap;
	}
	m->rec[m->n] = rec;
	m->line[m->n++] = line;
	return 0;
}

int mlip_metrics_log_read(struct mlip_metrics_log *m, FILE *f, const char *name,
			  struct mlip_err *err)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t got;
	int rc = MLIP_OK;

	if (!(m->name = strdup(name)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = chomp(line, (size_t)got);
		if (blank(line) && strlen(line) == len)
			continue;
		json_error_t jerr;
		json_t *rec = json_loadb(line, len, 0, &jerr);
		if (!rec) {
			rc = fail_at(err, name, lineno, "not JSON: %s (column %d)", jerr.text,
				     jerr.column);
			break;
		}
		if (!json_is_object(rec)) {
			json_decref(rec);
			rc = fail_at(err, name, lineno, "not a JSON object");
			break;
		}
		const char *type = json_string_value(json_object_get(rec, "type"));
		if (!type) {
			json_decref(rec);
			rc = fail_at(err, name, lineno,
				     "no \"type\": not a record of mlip-train's metrics (mlip-metrics(5))");
			break;
		}
		if (strcmp(type, "train") != 0 && strcmp(type, "val") != 0) {
			/* end, profile, and what a later version may add */
			json_decref(rec);
			continue;
		}
		if (!json_is_number(json_object_get(rec, "step"))) {
			rc = fail_at(err, name, lineno, "%s record without a numeric \"step\"", type);
			json_decref(rec);   /* type points into it */
			break;
		}
		if (keep_record(m, rec, lineno)) {
			json_decref(rec);
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			break;
		}
	}
	if (!rc && ferror(f))
		rc = read_error(err, name);
	free(line);
	if (!rc && m->n == 0)
		rc = mlip_err_set(err, MLIP_EDATA, "%s: no train or val records", name);
	return rc;
}

void mlip_series_release(struct mlip_series *s)
{
	free(s->key);
	free(s->x);
	free(s->y);
	free(s->lbfgs);
	memset(s, 0, sizeof(*s));
}

int mlip_metrics_log_has(const struct mlip_metrics_log *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (json_object_get(m->rec[i], key))
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys that hold a number somewhere (but step, the x axis), sorted, into buf. */
static void numeric_keys(const struct mlip_metrics_log *m, char *buf, size_t size)
{
	size_t n = 0, cap = 0;
	const char **keys = NULL;
	buf[0] = '\0';
	for (size_t i = 0; i < m->n; i++) {
		const char *k;
		json_t *v;
		json_object_foreach(m->rec[i], k, v) {
			if (!json_is_number(v) || strcmp(k, "step") == 0)
				continue;
			if (n == cap) {
				size_t c = cap ? 2 * cap : 32;
				const char **t = realloc(keys, c * sizeof(*t));
				if (!t) {
					free(keys);
					return;
				}
				keys = t;
				cap = c;
			}
			keys[n++] = k;
		}
	}
	if (n)
		qsort(keys, n, sizeof(*keys), cmp_str);
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(keys[i], keys[i - 1]) == 0)
			continue;
		size_t len = strlen(keys[i]) + (used ? 2 : 0);
		if (used + len + 5 >= size) {
			snprintf(buf + used, size - used, ", ...");
			break;
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", keys[i]);
	}
	free(keys);
}

int mlip_metrics_log_series(const struct mlip_metrics_log *m, const char *key,
			    struct mlip_series *s, struct mlip_err *err)
{
	int found = 0;
	memset(s, 0, sizeof(*s));
	size_t cap = m->n ? m->n : 1;
	s->key = strdup(key);
	s->x = malloc(cap * sizeof(*s->x));
	s->y = malloc(cap * sizeof(*s->y));
	s->lbfgs = malloc(cap);
	if (!s->key || !s->x || !s->y || !s->lbfgs) {
		mlip_series_release(s);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m->n; i++) {
		json_t *v = json_object_get(m->rec[i], key);
		if (!v)
			continue;
		found = 1;
		if (json_is_null(v)) {
			s->n_null++;
			continue;
		}
		if (!json_is_number(v)) {
			mlip_series_release(s);
			return fail_at(err, m->name, m->line[i], "'%s' is not a number", key);
		}
		const char *opt = json_string_value(json_object_get(m->rec[i], "optimizer"));
		s->x[s->n] = json_number_value(json_object_get(m->rec[i], "step"));
		s->y[s->n] = json_number_value(v);
		s->lbfgs[s->n] = opt && strcmp(opt, "lbfgs") == 0;
		s->n++;
	}
	if (!found) {
		char keys[400];
		numeric_keys(m, keys, sizeof(keys));
		mlip_series_release(s);
		return mlip_err_set(err, MLIP_EINVAL, "no train or val record in %s has '%s'; "
				    "numeric keys: %s", m->name, key, keys[0] ? keys : "(none)");
	}
	return MLIP_OK;
}

double mlip_metrics_log_lbfgs_start(const struct mlip_metrics_log *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const char *opt = json_string_value(json_object_get(m->rec[i], "optimizer"));
		if (opt && strcmp(opt, "lbfgs") == 0)
			return json_number_value(json_object_get(m->rec[i ? i - 1 : 0], "step"));
	}
	return NAN;
}

/* ------------------------------------------------------------- predictions */

void mlip_predictions_init(struct mlip_predictions *p)
{
	memset(p, 0, sizeof(*p));
}

static void parity_release(struct mlip_parity *q)
{
	free(q->pred);
	free(q->ref);
	free(q->err);
	memset(q, 0, sizeof(*q));
}

void mlip_predictions_release(struct mlip_predictions *p)
{
	parity_release(&p->energy);
	parity_release(&p->forces);
	parity_release(&p->stress);
	memset(p, 0, sizeof(*p));
}

static int parity_push(struct mlip_parity *q, double pred, double ref, double e)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 256;
		double *a = realloc(q->pred, cap * sizeof(*a));
		if (!a)
			return -1;
		q->pred = a;
		if (!(a = realloc(q->ref, cap * sizeof(*a))))
			return -1;
		q->ref = a;
		if (!(a = realloc(q->err, cap * sizeof(*a))))
			return -1;
		q->err = a;
		q->cap = cap;
	}
	q->pred[q->n] = pred;
	q->ref[q->n] = ref;
	q->err[q->n++] = e;
	return 0;
}

void mlip_parity_errors(const struct mlip_parity *q, double *mae, double *rmse)
{
	double a = 0, sq = 0;
	if (q->n == 0) {
		*mae = *rmse = NAN;
		return;
	}
	for (size_t i = 0; i < q->n; i++) {
		a += fabs(q->err[i]);
		sq += q->err[i] * q->err[i];
	}
	*mae = a / (double)q->n;
	*rmse = sqrt(sq / (double)q->n);
}

/*
 * A finite number written in decimal that fills the token: what %.17g
 * writes. strtod alone would also take "nan", "inf" and hex floats.
 */
static int parse_real(const char *tok, size_t len, double *v)
{
	char buf[64], *end;
	if (len == 0 || len >= sizeof(buf) || strspn(tok, "0123456789+-.eE") < len)
		return -1;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	if (end != buf + len || !isfinite(*v))
		return -1;
	return 0;
}

/* An optional minus sign and at least one digit, filling the token. */
static int is_integer(const char *tok, size_t len)
{
	size_t sign = len > 0 && tok[0] == '-';
	return len > sign && strspn(tok + sign, "0123456789") >= len - sign;
}

/* Up to max whitespace-separated tokens of s: starts and lengths; the count (max + 1 if more). */
static size_t tokens(const char *s, const char **tok, size_t *len, size_t max)
{
	size_t n = 0;
	for (;;) {
		s += strspn(s, " \t");
		if (!*s)
			return n;
		size_t l = strcspn(s, " \t");
		if (n == max)
			return max + 1;
		tok[n] = s;
		len[n++] = l;
		s += l;
	}
}

enum col_type { COL_S, COL_R, COL_I, COL_L };

#define MAX_COLS 64

/* What the comment line of a frame holds that the plots use. */
struct frame_info {
	enum col_type col[MAX_COLS];   /* type of each atom-line token */
	size_t n_cols;
	long forces, ref_forces, move_mask;   /* first token of each, -1 if absent */
	int has_energy, has_ref_energy, has_stress, has_ref_stress;
	double energy, ref_energy, stress[9], ref_stress[9];
	int seen_properties;
};

/* A count in a Properties entry: 1 to MAX_COLS. */
static int parse_count(const char *s, size_t len, size_t *n)
{
	if (len == 0 || len > 2 || strspn(s, "0123456789") < len)
		return -1;
	*n = 0;
	for (size_t k = 0; k < len; k++)
		*n = 10 * *n + (size_t)(s[k] - '0');
	return *n >= 1 ? 0 : -1;
}

static int parse_properties(struct frame_info *fi, const char *v, const char *name, size_t line,
			    struct mlip_err *err)
{
	size_t k = 0;
	while (*v) {
		/* NAME:TYPE:COUNT, entries joined by ':' */
		const char *nm = v, *ty, *ct;
		size_t nl = strcspn(nm, ":");
		if (nm[nl] != ':' || nl == 0)
			return fail_at(err, name, line, "malformed Properties: expected NAME:TYPE:COUNT");
		ty = nm + nl + 1;
		size_t tl = strcspn(ty, ":");
		if (ty[tl] != ':')
			return fail_at(err, name, line, "malformed Properties: expected NAME:TYPE:COUNT");
		ct = ty + tl + 1;
		size_t cl = strcspn(ct, ":"), count;
		enum col_type t;
		if (tl == 1 && *ty == 'S')
			t = COL_S;
		else if (tl == 1 && *ty == 'R')
			t = COL_R;
		else if (tl == 1 && *ty == 'I')
			t = COL_I;
		else if (tl == 1 && *ty == 'L')
			t = COL_L;
		else
			return fail_at(err, name, line, "Properties: '%.*s' has type '%.*s' (not S, R, I or L)",
				       (int)nl, nm, (int)tl, ty);
		if (parse_count(ct, cl, &count))
			return fail_at(err, name, line, "Properties: '%.*s' has count '%.*s'", (int)nl, nm,
				       (int)cl, ct);
		if (fi->n_cols + count > MAX_COLS)
			return fail_at(err, name, line, "Properties: more than %d columns", MAX_COLS);
#define IS(s) (nl == strlen(s) && strncmp(nm, s, nl) == 0)
		if (k == 0 && !(IS("species") && t == COL_S && count == 1))
			return fail_at(err, name, line, "Properties must start with species:S:1");
		long *slot = IS("forces") ? &fi->forces : IS("ref_forces") ? &fi->ref_forces :
			     IS("move_mask") ? &fi->move_mask : NULL;
		if (slot) {
			int want_r3 = slot != &fi->move_mask;
			if (want_r3 ? !(t == COL_R && count == 3) : !(t == COL_L && count == 1))
				return fail_at(err, name, line, "Properties: '%.*s' must be %s", (int)nl,
					       nm, want_r3 ? "R:3" : "L:1");
			if (*slot >= 0)
				return fail_at(err, name, line, "Properties: '%.*s' twice", (int)nl, nm);
			*slot = (long)fi->n_cols;
		}
#undef IS
		for (size_t c = 0; c < count; c++)
			fi->col[fi->n_cols++] = t;
		k++;
		v = ct + cl;
		if (*v == ':')
			v++;
	}
	if (k == 0)
		return fail_at(err, name, line, "Properties is empty");
	return MLIP_OK;
}

/* n numbers separated by spaces in v, for key; exactly n. */
static int parse_numbers(const char *v, double *out, size_t n, const char *key, const char *name,
			 size_t line, struct mlip_err *err)
{
	const char *tok[10];
	size_t len[10];
	size_t got = tokens(v, tok, len, 9);
	if (got != n)
		return fail_at(err, name, line, "%s: expected %zu number%s, found %s%zu", key, n,
			       n == 1 ? "" : "s", got > 9 ? "more than " : "", got > 9 ? (size_t)9 : got);
	for (size_t k = 0; k < n; k++)
		if (parse_real(tok[k], len[k], &out[k]))
			return fail_at(err, name, line, "%s: '%.*s' is not a finite number", key,
				       (int)len[k], tok[k]);
	return MLIP_OK;
}

/*
 * The KEY=VALUE pairs of a comment line. Values are unescaped in place in a
 * copy; keys other than those plotted are checked for syntax only.
 */
static int parse_comment(struct frame_info *fi, char *s, const char *name, size_t line,
			 struct mlip_err *err)
{
	memset(fi, 0, sizeof(*fi));
	fi->forces = fi->ref_forces = fi->move_mask = -1;
	for (;;) {
		s += strspn(s, " \t");
		if (!*s)
			break;
		char *key = s;
		size_t kl = strcspn(s, "= \t\"");
		if (kl == 0 || s[kl] != '=')
			return fail_at(err, name, line, "expected KEY=VALUE, found '%.*s'",
				       (int)strcspn(s, " \t"), s);
		key[kl] = '\0';
		char *val = s + kl + 1, *end;
		if (*val == '"') {
			/* a quoted value: \" and \\ are the only escapes the writer makes */
			char *r = val + 1, *w = val;
			for (;;) {
				if (*r == '\0')
					return fail_at(err, name, line, "%s: unterminated quoted value", key);
				if (*r == '"')
					break;
				if (*r == '\\') {
					if (r[1] != '"' && r[1] != '\\')
						return fail_at(err, name, line, "%s: unknown escape '\\%c'",
							       key, r[1] ? r[1] : ' ');
					r++;
				}
				*w++ = *r++;
			}
			end = r + 1;
			*w = '\0';
			if (*end && *end != ' ' && *end != '\t')
				return fail_at(err, name, line, "%s: text after the closing quote", key);
		} else {
			end = val + strcspn(val, " \t");
			if (strchr(val, '"') && (size_t)(strchr(val, '"') - val) < (size_t)(end - val))
				return fail_at(err, name, line, "%s: stray quote in value", key);
		}
		s = *end ? end + 1 : end;
		if (*end)
			*end = '\0';

		int rc = MLIP_OK;
		if (strcmp(key, "Properties") == 0) {
			if (fi->seen_properties)
				return fail_at(err, name, line, "Properties twice");
			fi->seen_properties = 1;
			rc = parse_properties(fi, val, name, line, err);
		} else if (strcmp(key, "energy") == 0 || strcmp(key, "ref_energy") == 0) {
			int ref = key[0] == 'r';
			int *has = ref ? &fi->has_ref_energy : &fi->has_energy;
			if (*has)
				return fail_at(err, name, line, "%s twice", key);
			*has = 1;
			rc = parse_numbers(val, ref ? &fi->ref_energy : &fi->energy, 1, key, name, line, err);
		} else if (strcmp(key, "stress") == 0 || strcmp(key, "ref_stress") == 0) {
			int ref = key[0] == 'r';
			int *has = ref ? &fi->has_ref_stress : &fi->has_stress;
			if (*has)
				return fail_at(err, name, line, "%s twice", key);
			*has = 1;
			rc = parse_numbers(val, ref ? fi->ref_stress : fi->stress, 9, key, name, line, err);
		}
		if (rc)
			return rc;
	}
	if (!fi->seen_properties)
		return fail_at(err, name, line, "no Properties: not an extxyz frame");
	return MLIP_OK;
}

/* The number of atoms: digits only, at least 1. */
static int parse_natoms(const char *s, size_t *n)
{
	s += strspn(s, " \t");
	size_t d = strspn(s, "0123456789");
	if (d == 0 || d > 9 || !blank(s + d))
		return -1;
	*n = (size_t)strtoul(s, NULL, 10);
	return *n >= 1 ? 0 : -1;
}

struct reader {
	FILE *f;
	const char *name;
	char *line;
	size_t cap, lineno;
};

/* The next line, chomped; 1 at end of file, < 0 on a read error. */
static int next_line(struct reader *r)
{
	ssize_t got = getline(&r->line, &r->cap, r->f);
	if (got < 0)
		return ferror(r->f) ? -1 : 1;
	r->lineno++;
	chomp(r->line, (size_t)got);
	return 0;
}

/*
 * One frame after its count line. Force pairs are taken atom by atom, as
 * they are read: no buffer sized by the count, so a damaged count gives
 * "truncated" rather than a huge allocation.
 */
static int read_frame(struct mlip_predictions *p, struct reader *r, size_t natoms,
		      size_t start, struct mlip_err *err)
{
	struct frame_info fi;
	int rc, eof;

	if ((eof = next_line(r)))
		return eof < 0 ? read_error(err, r->name) :
		       fail_at(err, r->name, r->lineno, "truncated: the frame of line %zu has no "
			       "comment line", start);
	char *comment = strdup(r->line);
	if (!comment)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	rc = parse_comment(&fi, comment, r->name, r->lineno, err);
	free(comment);
	if (rc)
		return rc;
	int forces = fi.forces >= 0 && fi.ref_forces >= 0;
	for (size_t i = 0; i < natoms; i++) {
		const char *tok[MAX_COLS];
		size_t len[MAX_COLS];
		double fp[3] = { 0 }, fr[3] = { 0 };
		int fixed = 0;
		if ((eof = next_line(r)))
			return eof < 0 ? read_error(err, r->name) :
			       fail_at(err, r->name, r->lineno, "truncated: the frame of line %zu has %zu "
				       "atoms, the file ends after %zu", start, natoms, i);
		size_t nt = tokens(r->line, tok, len, MAX_COLS);
		if (nt != fi.n_cols)
			return fail_at(err, r->name, r->lineno, "atom %zu: expected %zu columns "
				       "(Properties), found %s%zu", i + 1, fi.n_cols,
				       nt > MAX_COLS ? "more than " : "",
				       nt > MAX_COLS ? (size_t)MAX_COLS : nt);
		for (size_t c = 0; c < nt; c++) {
			double v = 0;
			int bad = 0;
			switch (fi.col[c]) {
			case COL_S: break;
			case COL_R: bad = parse_real(tok[c], len[c], &v); break;
			case COL_I: bad = !is_integer(tok[c], len[c]); break;
			case COL_L: bad = len[c] != 1 || (*tok[c] != 'T' && *tok[c] != 'F'); break;
			}
			if (bad)
				return fail_at(err, r->name, r->lineno, "atom %zu, column %zu: '%.*s' is not %s",
					       i + 1, c + 1, (int)len[c], tok[c],
					       fi.col[c] == COL_R ? "a finite number" :
					       fi.col[c] == COL_I ? "an integer" : "T or F");
			if (forces && c >= (size_t)fi.forces && c < (size_t)fi.forces + 3)
				fp[c - (size_t)fi.forces] = v;
			if (forces && c >= (size_t)fi.ref_forces && c < (size_t)fi.ref_forces + 3)
				fr[c - (size_t)fi.ref_forces] = v;
			if (fi.move_mask >= 0 && c == (size_t)fi.move_mask)
				fixed = *tok[c] == 'F';
		}
		/* pairs and errors formed as mlip-eval's metrics form them (lib/metrics.c) */
		for (int c = 0; forces && !fixed && c < 3; c++)
			if (parity_push(&p->forces, fp[c], fr[c], fp[c] - fr[c]))
				return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	if (fi.has_energy && fi.has_ref_energy &&
	    parity_push(&p->energy, fi.energy / (double)natoms, fi.ref_energy / (double)natoms,
			(fi.energy - fi.ref_energy) / (double)natoms))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (int c = 0; c < 9 && fi.has_stress && fi.has_ref_stress; c++)
		if (parity_push(&p->stress, fi.stress[c], fi.ref_stress[c],
				fi.stress[c] - fi.ref_stress[c]))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	p->frames++;
	return MLIP_OK;
}

int mlip_predictions_read(struct mlip_predictions *p, FILE *f, const char *name,
			  struct mlip_err *err)
{
	struct reader r = { .f = f, .name = name };
	size_t blank_at = 0;
	int rc = MLIP_OK, eof = 0;

	while (!rc && !(eof = next_line(&r))) {
		size_t natoms;
		if (blank(r.line)) {
			/* allowed at the end of the file only */
			if (!blank_at)
				blank_at = r.lineno;
			continue;
		}
		if (blank_at) {
			rc = fail_at(err, name, blank_at, "blank line between frames");
			break;
		}
		if (parse_natoms(r.line, &natoms)) {
			rc = fail_at(err, name, r.lineno, "expected the number of atoms of a frame, "
				     "found '%.40s'", r.line);
			break;
		}
		rc = read_frame(p, &r, natoms, r.lineno, err);
	}
	if (!rc && eof < 0)
		rc = read_error(err, name);
	free(r.line);
	if (!rc && p->frames == 0)
		rc = mlip_err_set(err, MLIP_EDATA, "%s: no frames", name);
	return rc;
}
