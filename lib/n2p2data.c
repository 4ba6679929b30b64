/*
 * n2p2data.c - input.data, the structure file of n2p2 and RuNNer (layout and
 * conventions in n2p2data.h).
 *
 * The reader follows n2p2's Structure::readFromLines: one keyword per line,
 * fields separated by blanks, the atom line's fields at fixed positions
 * (x y z element charge atomic-energy fx fy fz). It is stricter than n2p2 in
 * what it lets through silently: every number must parse as a whole token
 * and be finite, an atom line has exactly ten fields, a structure has one
 * energy line at most, and keywords outside begin ... end are errors. Blank
 * lines are allowed anywhere (n2p2 stops at them), and CRLF line ends are
 * accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "n2p2data.h"
#include "lineio.h"
#include "batch.h"
#include "elements.h"
#include "outfile.h"
#include "banned.h"

/* Tokens are echoed in messages cut to this many bytes. */
#define ECHO 40
/* The atom line: keyword plus x y z element charge energy fx fy fz. */
#define ATOM_FIELDS 10

struct reader {
	FILE *f;
	const char *path;
	size_t line;       /* 1-based number of the last line read */
	char *buf;
	size_t cap;
	struct mlip_err *err;
};

static int fail(struct reader *r, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, size_t line, const char *fmt, ...)
{
	if (r->err) {
		char msg[MLIP_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		mlip_err_set(r->err, MLIP_EDATA, "%s:%zu: %s", r->path, line, msg);
	}
	return MLIP_EDATA;
}

/* Next line without its line end: its length, -1 at the end, -2 on a read error. */
static ssize_t next_line(struct reader *r)
{
	return mlip_read_line(r->f, &r->buf, &r->cap, &r->line, r->path, r->err);
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split s in place into at most max blank-separated fields; returns how many there are. */
static size_t split(char *s, char **field, size_t max)
{
	size_t n = 0;
	for (;;) {
		while (is_blank((unsigned char)*s))
			s++;
		if (!*s)
			return n;
		if (n < max)
			field[n] = s;
		n++;
		while (*s && !is_blank((unsigned char)*s))
			s++;
		if (*s && n <= max)
			*s++ = '\0';
	}
}

/* A whole field as a finite double. */
static int field_double(const char *tok, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(tok, &end);
	return end != tok && *end == '\0' && isfinite(*out);
}

/* State of the structure being read. */
struct frame {
	size_t begin_line;
	size_t n_lattice;
	double cell[9];
	size_t natoms, alloc;
	int32_t *numbers;
	double *pos, *forces;  /* (alloc, 3) */
	int has_energy;
	size_t energy_line;
	double energy;
};

static void frame_reset(struct frame *fr, size_t begin_line)
{
	fr->begin_line = begin_line;
	fr->n_lattice = 0;
	memset(fr->cell, 0, sizeof(fr->cell));
	fr->natoms = 0;
	fr->has_energy = 0;
	fr->energy = 0;
}

static int frame_grow(struct frame *fr)
{
	if (fr->natoms < fr->alloc)
		return 0;
	size_t n = fr->alloc ? 2 * fr->alloc : 64;
	int32_t *z = realloc(fr->numbers, n * sizeof(*z));
	if (!z)
		return -1;
	fr->numbers = z;
	double *p = realloc(fr->pos, 3 * n * sizeof(*p));
	if (!p)
		return -1;
	fr->pos = p;
	double *f = realloc(fr->forces, 3 * n * sizeof(*f));
	if (!f)
		return -1;
	fr->forces = f;
	fr->alloc = n;
	return 0;
}

/* Fields 1.. of a numeric line ("lattice", "energy", "charge"): want numbers, finite. */
static int numbers(struct reader *r, char **field, size_t nf, const char *key, size_t want,
		   double *out)
{
	if (nf - 1 != want)
		return fail(r, r->line, "'%s' takes %zu number%s, found %zu field%s", key, want,
			    want == 1 ? "" : "s", nf - 1, nf - 1 == 1 ? "" : "s");
	for (size_t k = 0; k < want; k++)
		if (!field_double(field[1 + k], &out[k]))
			return fail(r, r->line, "%s: '%.*s' is not a finite number", key, ECHO,
				    field[1 + k]);
	return MLIP_OK;
}

static int atom_line(struct reader *r, struct frame *fr, char **field, size_t nf)
{
	static const char *const what[ATOM_FIELDS] = {
		"", "x", "y", "z", "element", "charge", "atomic energy", "fx", "fy", "fz"
	};
	size_t i = fr->natoms + 1;
	if (nf != ATOM_FIELDS)
		return fail(r, r->line, "atom %zu: expected %d fields (atom x y z element charge "
			    "energy fx fy fz), found %zu", i, ATOM_FIELDS, nf);
	int z = mlip_element_z(field[4]);
	if (!z)
		return fail(r, r->line, "atom %zu: unknown element '%.*s'", i, ECHO, field[4]);
	double v[ATOM_FIELDS];
	for (size_t k = 1; k < ATOM_FIELDS; k++)
		if (k != 4 && !field_double(field[k], &v[k]))
			return fail(r, r->line, "atom %zu: %s '%.*s' is not a finite number", i,
				    what[k], ECHO, field[k]);
	if (fr->natoms >= MLIP_MAX_ATOMS)
		return fail(r, r->line, "atom %zu: over the limit of %u atoms per structure", i,
			    MLIP_MAX_ATOMS);
	if (frame_grow(fr))
		return mlip_err_set(r->err, MLIP_ENOMEM, "%s:%zu: out of memory", r->path, r->line);
	size_t a = fr->natoms++;
	fr->numbers[a] = z;
	memcpy(fr->pos + 3 * a, &v[1], 3 * sizeof(double));
	memcpy(fr->forces + 3 * a, &v[7], 3 * sizeof(double));
	return MLIP_OK;
}

/* The structure between begin and end (the end line just read) into s. */
static int finish(struct reader *r, struct frame *fr, size_t index, struct mlip_structure *s)
{
	int rc;
	if (fr->n_lattice != 0 && fr->n_lattice != 3)
		return fail(r, r->line, "structure has %zu lattice line%s; input.data needs three "
			    "(periodic) or none", fr->n_lattice, fr->n_lattice == 1 ? "" : "s");
	if (fr->natoms == 0)
		return fail(r, r->line, "structure (begin on line %zu) has no atoms", fr->begin_line);
	if ((rc = mlip_structure_alloc(s, fr->natoms, r->err)))
		return rc;
	memcpy(s->numbers, fr->numbers, fr->natoms * sizeof(*s->numbers));
	memcpy(s->positions, fr->pos, 3 * fr->natoms * sizeof(double));
	memcpy(s->forces, fr->forces, 3 * fr->natoms * sizeof(double));
	memcpy(s->cell, fr->cell, sizeof(s->cell));
	for (int k = 0; k < 3; k++)
		s->pbc[k] = fr->n_lattice == 3;
	s->has = MLIP_HAS_FORCES;
	if (fr->has_energy) {
		s->has |= MLIP_HAS_ENERGY;
		s->energy = fr->energy;
	}
	size_t n = strlen(r->path) + 24;
	char *sid = malloc(n);
	if (!sid)
		return mlip_err_set(r->err, MLIP_ENOMEM, "out of memory");
	snprintf(sid, n, "%s:%zu", r->path, index);
	rc = mlip_structure_set_id(s, sid, r->err);
	free(sid);
	if (rc)
		return rc;
	if ((rc = mlip_structure_validate(s, r->err)))
		return mlip_err_prefix(r->err, rc, "%s:%zu: ", r->path, fr->begin_line);
	return MLIP_OK;
}

int mlip_n2p2data_read(FILE *f, const char *path, struct mlip_structure_list *out,
		       struct mlip_err *err)
{
	struct reader r = { .f = f, .path = path ? path : "-", .err = err };
	struct frame fr;
	struct mlip_structure s;
	size_t index = 0;
	int inside = 0, rc = MLIP_OK;
	ssize_t n;
	memset(&fr, 0, sizeof(fr));
	mlip_structure_init(&s);
	while ((n = next_line(&r)) >= 0) {
		char *field[ATOM_FIELDS + 1];
		size_t nf = split(r.buf, field, ATOM_FIELDS + 1);
		if (nf == 0)
			continue;
		const char *key = field[0];
		if (!inside) {
			if (strcmp(key, "begin") != 0) {
				rc = fail(&r, r.line, "expected 'begin', found '%.*s'", ECHO, key);
				break;
			}
			frame_reset(&fr, r.line);
			inside = 1;
			continue;
		}
		if (strcmp(key, "atom") == 0) {
			rc = atom_line(&r, &fr, field, nf);
		} else if (strcmp(key, "lattice") == 0) {
			if (fr.n_lattice == 3)
				rc = fail(&r, r.line, "a fourth lattice line (a structure has three "
					  "cell vectors)");
			else if (!(rc = numbers(&r, field, nf, "lattice", 3, fr.cell + 3 * fr.n_lattice)))
				fr.n_lattice++;
		} else if (strcmp(key, "energy") == 0) {
			if (fr.has_energy)
				rc = fail(&r, r.line, "a second energy line (the first is on line %zu)",
					  fr.energy_line);
			else if (!(rc = numbers(&r, field, nf, "energy", 1, &fr.energy))) {
				fr.has_energy = 1;
				fr.energy_line = r.line;
			}
		} else if (strcmp(key, "charge") == 0) {
			double q;
			rc = numbers(&r, field, nf, "charge", 1, &q);
		} else if (strcmp(key, "comment") == 0) {
			/* free text */
		} else if (strcmp(key, "end") == 0) {
			if (nf != 1)
				rc = fail(&r, r.line, "'end' takes no fields");
			else if (!(rc = finish(&r, &fr, index, &s)) &&
				 !(rc = mlip_structure_list_take(out, &s, err))) {
				index++;
				inside = 0;
			}
		} else if (strcmp(key, "begin") == 0) {
			rc = fail(&r, r.line, "'begin' inside a structure (the one begun on line %zu "
				  "has no 'end')", fr.begin_line);
		} else {
			rc = fail(&r, r.line, "unknown keyword '%.*s' (begin, comment, lattice, atom, "
				  "energy, charge, end)", ECHO, key);
		}
		if (rc)
			break;
	}
	if (!rc && n == -2)
		rc = MLIP_EIO;
	if (!rc && inside)
		rc = fail(&r, fr.begin_line, "the file ends inside this structure (no 'end')");
	mlip_structure_release(&s);
	free(fr.numbers);
	free(fr.pos);
	free(fr.forces);
	free(r.buf);
	return rc;
}

/* ------------------------------------------------------------------ writer */

static void put3(FILE *f, const char *key, const double *x)
{
	fprintf(f, "%s %.17g %.17g %.17g", key, x[0], x[1], x[2]);
}

int mlip_n2p2data_write(FILE *f, const struct mlip_structure *s, struct mlip_err *err)
{
	int np = mlip_structure_n_periodic(s);
	if (np != 0 && np != 3)
		return mlip_err_set(err, MLIP_EDATA,
				    "%s: periodic along %d axes (pbc %c %c %c); input.data holds only "
				    "structures periodic along all three axes or none",
				    s->id ? s->id : "structure", np, s->pbc[0] ? 'T' : 'F',
				    s->pbc[1] ? 'T' : 'F', s->pbc[2] ? 'T' : 'F');
	for (size_t i = 0; i < s->natoms; i++)
		if (!mlip_element_symbol(s->numbers[i]))
			return mlip_err_set(err, MLIP_EDATA, "atom %zu: atomic number %d is not an element",
					    i + 1, (int)s->numbers[i]);
	static const double zero[3] = { 0, 0, 0 };
	int forces = (s->has & MLIP_HAS_FORCES) != 0;
	fputs("begin\n", f);
	if (s->id && *s->id) {
		/* one line: a line break inside the id would start a new keyword */
		fputs("comment ", f);
		for (const char *p = s->id; *p; p++)
			fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
		fputc('\n', f);
	}
	if (np == 3)
		for (int k = 0; k < 3; k++) {
			put3(f, "lattice", s->cell + 3 * k);
			fputc('\n', f);
		}
	for (size_t i = 0; i < s->natoms; i++) {
		put3(f, "atom", s->positions + 3 * i);
		fprintf(f, " %s 0 0", mlip_element_symbol(s->numbers[i]));
		const double *fi = forces ? s->forces + 3 * i : zero;
		fprintf(f, " %.17g %.17g %.17g\n", fi[0], fi[1], fi[2]);
	}
	if (s->has & MLIP_HAS_ENERGY)
		fprintf(f, "energy %.17g\n", s->energy);
	fputs("charge 0\nend\n", f);
	if (ferror(f))
		return mlip_err_set(err, MLIP_EIO, "write error: %s", strerror(errno));
	return MLIP_OK;
}
