/*
 * extxyz.c - the extended XYZ reader and writer, compatible with ASE 3.22.
 *
 * A frame is a count line, a comment line of key=value pairs and one line per
 * atom whose columns are described by Properties=name:type:count:... The
 * comment line is split with the rules of ase.io.extxyz.key_val_str_to_dict
 * (quotes "..." '...' {...} [...], backslash escapes, keys without a value
 * mean T, spaces around '=' allowed, "a=b=c" gives a the value "b=c"), into
 * "flag key\0value\0" records in a scratch buffer owned by the reader. Number
 * lists are separated by blanks or commas, as ASE's re.findall(r'[^\s,]+').
 *
 * Matrices on the comment line follow ASE: Lattice lists the cell row-major
 * (a then b then c); stress lists the 3×3 tensor column-major (ASE reshapes
 * it with order='F'); 6 stress values are Voigt xx yy zz yz xz xy.
 *
 * Speed: lines come from getline into one reused buffer, numbers from strtod,
 * element symbols through a small per-frame cache; nothing is allocated per
 * line or per field.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "extxyz.h"
#include "lineio.h"
#include "elements.h"
#include "banned.h"

enum col_kind {
	COL_OTHER,
	COL_SPECIES,
	COL_POS,
	COL_FORCES,
	COL_Z,
	COL_MOVE_MASK,
	COL_FIXED,
};

struct mlip_extxyz_column {
	const char *name;  /* in the reader's kv buffer */
	size_t name_len;
	char type;         /* R, I, S or L */
	size_t count;
	enum col_kind kind;
};

/* What the comment line says, before the atom lines are read. */
struct frame_info {
	double cell[9];
	uint8_t pbc[3];
	int has_lattice, has_pbc;
	int has_energy, has_free_energy, has_stress, has_virial;
	double energy, free_energy, stress[9], virial[9];
	const char *dataset;    /* in the kv buffer, or NULL */
	char *properties;       /* in the kv buffer, or NULL for the default */
	size_t ncols;
};

/* Tokens are echoed in messages cut to this many bytes. */
#define ECHO 40

void mlip_extxyz_reader_set_keys(struct mlip_extxyz_reader *r, const struct mlip_label_keys *k)
{
	memset(&r->keys, 0, sizeof(r->keys));
	if (k)
		r->keys = *k;
}

/* Count a label-like key or column that was not read as a label (once per frame). */
static void note_unused(struct mlip_extxyz_reader *r, const char *name, size_t len, int column)
{
	struct mlip_unused_labels *u = &r->unused;
	for (size_t k = 0; k < u->n; k++)
		if (u->item[k].column == column && strlen(u->item[k].name) == len &&
		    !strncmp(u->item[k].name, name, len)) {
			u->item[k].frames++;
			return;
		}
	if (u->n == MLIP_UNUSED_LABELS_MAX || len >= sizeof(u->item[0].name))
		return;
	memcpy(u->item[u->n].name, name, len);
	u->item[u->n].name[len] = 0;
	u->item[u->n].column = column;
	u->item[u->n].frames = 1;
	u->n++;
}

/* Whether a name says it is a label of this kind (any case). */
static int looks_like(const char *name, size_t len, const char *what)
{
	size_t w = strlen(what);
	for (size_t i = 0; i + w <= len; i++)
		if (!strncasecmp(name + i, what, w))
			return 1;
	return 0;
}

/*
 * An info key (column 0) or R:3 column (1) that looks like a label: "energy",
 * "stress" or "virial" in a key, "force" in a column; not the weights and
 * uncertainties fitting codes keep beside them (energy_sigma, force_weight).
 */
static int label_like(const char *name, size_t len, int column)
{
	if (looks_like(name, len, "sigma") || looks_like(name, len, "weight"))
		return 0;
	if (column)
		return looks_like(name, len, "force");
	return looks_like(name, len, "energy") || looks_like(name, len, "stress") ||
	       looks_like(name, len, "virial");
}

void mlip_extxyz_reader_init(struct mlip_extxyz_reader *r, FILE *f, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->path = path ? path : "-";
}

void mlip_extxyz_reader_release(struct mlip_extxyz_reader *r)
{
	free(r->buf);
	free(r->kv);
	free(r->cols);
	r->buf = r->kv = NULL;
	r->cols = NULL;
	r->cap = r->kv_cap = r->cols_cap = 0;
}

/* One line into r->buf without its line end: its length, -1 at the end, -2 on a read error. */
static ssize_t next_line(struct mlip_extxyz_reader *r, struct mlip_err *err)
{
	return mlip_read_line(r->f, &r->buf, &r->cap, &r->line, r->path, err);
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int is_blank_line(const char *s)
{
	while (is_blank((unsigned char)*s))
		s++;
	return *s == '\0';
}

/* The next blank-separated token of *p, or NULL; *len is its length. */
static const char *next_token(const char **p, size_t *len)
{
	const char *s = *p, *t;
	while (is_blank((unsigned char)*s))
		s++;
	if (!*s)
		return NULL;
	t = s;
	while (*t && !is_blank((unsigned char)*t))
		t++;
	*len = (size_t)(t - s);
	*p = t;
	return s;
}

/* A whole token as a double (strtod syntax, so nan and inf parse). */
static int token_double(const char *tok, size_t len, double *out)
{
	char *end;
	if (len == 0 || is_blank((unsigned char)tok[0]))
		return 0;
	*out = strtod(tok, &end);
	return end == tok + len;
}

static int token_long(const char *tok, size_t len, long *out)
{
	char *end;
	if (len == 0 || is_blank((unsigned char)tok[0]))
		return 0;
	errno = 0;
	*out = strtol(tok, &end, 10);
	return end == tok + len && errno == 0;
}

/* T, F, True or False (ase.io.extxyz.parse_bool); -1 for anything else. */
static int token_bool(const char *tok, size_t len)
{
	if ((len == 1 && tok[0] == 'T') || (len == 4 && !memcmp(tok, "True", 4)))
		return 1;
	if ((len == 1 && tok[0] == 'F') || (len == 5 && !memcmp(tok, "False", 5)))
		return 0;
	return -1;
}

/*
 * Parse a list of numbers separated by blanks or commas into out (at most max
 * stored). Returns how many there are, or -1 with the offending token in
 * *bad / *badlen.
 */
static int parse_numbers(const char *s, double *out, int max, const char **bad, size_t *badlen)
{
	int n = 0;
	for (;;) {
		while (*s && (is_blank((unsigned char)*s) || *s == ','))
			s++;
		if (!*s)
			return n;
		const char *t = s;
		while (*t && !is_blank((unsigned char)*t) && *t != ',')
			t++;
		double x;
		char *end;
		x = strtod(s, &end);
		if (end != t) {
			*bad = s;
			*badlen = (size_t)(t - s);
			return -1;
		}
		if (n < max)
			out[n] = x;
		n++;
		s = t;
	}
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (*cap >= need)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * size);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static const char default_properties[] = "species:S:1:pos:R:3";

/*
 * Split the comment line into records in r->kv: one flag byte (1 when the
 * key had a value), the key, NUL, the value, NUL. Mirrors ASE's
 * key_val_str_to_dict character loop.
 */
static int split_comment(struct mlip_extxyz_reader *r, const char *s, size_t *nrec,
			 struct mlip_err *err)
{
	size_t len = strlen(s);
	/* Each input byte gives at most one output byte, each record 3 more and
	 * consumes at least one input byte; room is left for the default
	 * Properties after the records. */
	if (grow((void **)&r->kv, &r->kv_cap, 4 * len + 8 + sizeof(default_properties), 1))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	char *out = r->kv;
	size_t w = 0, rec = 0, prev = SIZE_MAX, n = 0;
	int open = 0, in_value = 0, started = 0, escaped = 0;
	char delim = 0;

#define BEGIN() do { if (!open) { rec = w; out[w++] = 0; open = 1; in_value = 0; } } while (0)
#define FINISH() do { if (!in_value) out[w++] = '\0'; out[w++] = '\0'; \
		      prev = rec; open = in_value = started = 0; n++; } while (0)

	for (const char *p = s; *p; p++) {
		char c = *p;
		if (escaped) {
			BEGIN();
			out[w++] = c;
			started = 1;
			escaped = 0;
		} else if (c == '\\') {
			escaped = 1;
		} else if (delim) {
			if (c == delim)
				delim = 0;
			else
				out[w++] = c;
		} else if (c == '"' || c == '\'' || c == '{' || c == '[') {
			BEGIN();
			delim = c == '{' ? '}' : c == '[' ? ']' : c;
			started = 1;
		} else if (is_blank((unsigned char)c)) {
			if (open && started)
				FINISH();
		} else if (c == '=') {
			if (!open && prev != SIZE_MAX) {
				/* "key =value": the '=' belongs to the previous key. */
				n--;
				rec = prev;
				open = 1;
				w--; /* drop its value terminator */
				if (out[rec])
					out[w++] = '=';
				out[rec] = 1;
				in_value = 1;
			} else {
				BEGIN();
				if (in_value) {
					out[w++] = '=';
				} else {
					out[w++] = '\0';
					out[rec] = 1;
					in_value = 1;
				}
			}
			started = 0;
		} else {
			BEGIN();
			out[w++] = c;
			started = 1;
		}
	}
	if (open)
		FINISH();
#undef BEGIN
#undef FINISH
	MLIP_ASSERT(w <= r->kv_cap);
	*nrec = n;
	return MLIP_OK;
}

static int key_is(const char *key, const char *name)
{
	return strcmp(key, name) == 0;
}

static int key_is_nocase(const char *key, const char *name)
{
	return strcasecmp(key, name) == 0;
}

/* "PATH:LINE: " before every message. */
#define FAIL(line, ...) fail(r, err, (line), __VA_ARGS__)

static int fail(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
		const char *fmt, ...)
{
	if (err) {
		char msg[MLIP_ERR_MSG_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		mlip_err_set(err, MLIP_EDATA, "%s:%zu: %s", r->path, line, msg);
	}
	return MLIP_EDATA;
}

/* A numeric info value: exactly want numbers (or want2 if not 0), finite. */
static int info_numbers(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
			const char *key, const char *val, double *out, int want, int want2,
			int *got)
{
	const char *bad;
	size_t badlen;
	int n = parse_numbers(val, out, want > want2 ? want : want2, &bad, &badlen);
	if (n < 0)
		return FAIL(line, "malformed %s: '%.*s' is not a number", key,
			    (int)(badlen > ECHO ? ECHO : badlen), bad);
	if (n != want && (want2 == 0 || n != want2)) {
		if (want2)
			return FAIL(line, "malformed %s: expected %d or %d numbers, found %d", key,
				    want, want2, n);
		if (want == 1)
			return FAIL(line, "malformed %s: expected one number, found %d", key, n);
		return FAIL(line, "malformed %s: expected %d numbers, found %d", key, want, n);
	}
	for (int k = 0; k < n; k++)
		if (!isfinite(out[k]))
			return FAIL(line, "malformed %s: value %d is not finite", key, k + 1);
	*got = n;
	return MLIP_OK;
}

static int parse_pbc(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
		     const char *val, uint8_t pbc[3])
{
	const char *p = val, *tok;
	size_t len;
	int n = 0, b[3] = { 0, 0, 0 };
	while ((tok = next_token(&p, &len))) {
		int v = token_bool(tok, len);
		if (v < 0 || n == 3)
			break;
		b[n++] = v;
	}
	if (tok || (n != 3 && n != 1))
		return FAIL(line, "malformed pbc '%.*s': expected three booleans such as \"T T F\"",
			    ECHO, val);
	for (int k = 0; k < 3; k++)
		pbc[k] = (uint8_t)(n == 1 ? b[0] : b[k]);
	return MLIP_OK;
}

/* Parse Properties=name:type:count:... into r->cols. */
static int parse_properties(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
			    char *spec, size_t *ncols)
{
	size_t n = 0;
	char *p = spec;
	int have_forces = 0;
	while (*p) {
		char *field[3];
		for (int k = 0; k < 3; k++) {
			field[k] = p;
			char *colon = strchr(p, ':');
			if (!colon && k < 2)
				return FAIL(line, "malformed Properties: '%.*s' is not name:type:count",
					    ECHO, field[0]);
			if (colon) {
				*colon = '\0';
				p = colon + 1;
			} else {
				p += strlen(p);
			}
		}
		char *end;
		errno = 0;
		unsigned long long count = strtoull(field[2], &end, 10);
		if (!*field[2] || *end || errno || count == 0 || count > 1000000 ||
		    field[2][0] == '-' || field[2][0] == '+' || is_blank((unsigned char)field[2][0]))
			return FAIL(line, "malformed Properties: count '%.*s' of '%.*s' is not a positive integer",
				    ECHO, field[2], ECHO, field[0]);
		if (strlen(field[1]) != 1 || !strchr("RISL", field[1][0]))
			return FAIL(line, "malformed Properties: type '%.*s' of '%.*s' is not R, I, S or L",
				    ECHO, field[1], ECHO, field[0]);
		if (grow((void **)&r->cols, &r->cols_cap, n + 1, sizeof(*r->cols)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		struct mlip_extxyz_column *c = &r->cols[n++];
		const char *name = field[0];
		char type = field[1][0];
		c->name = name;
		c->name_len = strlen(name);
		c->type = type;
		c->count = (size_t)count;
		c->kind = COL_OTHER;
		const char *want = NULL;
		if (key_is(name, "species") || key_is(name, "symbols")) {
			c->kind = COL_SPECIES;
			if (type != 'S' || count != 1)
				want = "S:1";
		} else if (key_is(name, "pos") || key_is(name, "positions")) {
			c->kind = COL_POS;
			if (type != 'R' || count != 3)
				want = "R:3";
		} else if (r->keys.forces ? key_is(name, r->keys.forces)
					  : key_is(name, "forces") || key_is(name, "force")) {
			c->kind = COL_FORCES;
			have_forces |= !r->keys.forces && key_is(name, "forces");
			if (type != 'R' || count != 3)
				want = "R:3";
		} else if (key_is(name, "Z") || key_is(name, "numbers")) {
			c->kind = COL_Z;
			if (type != 'I' || count != 1)
				want = "I:1";
		} else if (key_is(name, "move_mask")) {
			c->kind = COL_MOVE_MASK;
			if (type != 'L' || (count != 1 && count != 3))
				want = "L:1 or L:3";
		} else if (key_is(name, "fixed")) {
			c->kind = COL_FIXED;
			if ((type != 'L' && type != 'I') || count != 1)
				want = "L:1 or I:1";
		}
		if (want)
			return FAIL(line, "malformed Properties: '%s' must be %s, found %c:%llu", name,
				    want, type, count);
	}
	/* ASE's name is forces; an older force column is used only without it. */
	if (have_forces)
		for (size_t k = 0; k < n; k++)
			if (r->cols[k].kind == COL_FORCES && key_is(r->cols[k].name, "force"))
				r->cols[k].kind = COL_OTHER;
	for (size_t k = 0; k < n; k++)
		if (r->cols[k].kind == COL_OTHER && r->cols[k].type == 'R' && r->cols[k].count == 3 &&
		    label_like(r->cols[k].name, r->cols[k].name_len, 1))
			note_unused(r, r->cols[k].name, r->cols[k].name_len, 1);
	int species = 0, pos = 0;
	for (size_t k = 0; k < n; k++) {
		species |= r->cols[k].kind == COL_SPECIES || r->cols[k].kind == COL_Z;
		pos |= r->cols[k].kind == COL_POS;
	}
	if (!species)
		return FAIL(line, "malformed Properties: no species (or Z) column");
	if (!pos)
		return FAIL(line, "malformed Properties: no pos column");
	*ncols = n;
	return MLIP_OK;
}

/* A 3×3 tensor of an info key: 9 values column-major (ASE's order='F') or 6 Voigt. */
static int info_tensor(struct mlip_extxyz_reader *r, struct mlip_err *err, size_t line,
		       const char *key, const char *val, double *out)
{
	double v[9];
	int got, rc;
	if ((rc = info_numbers(r, err, line, key, val, v, 9, 6, &got)))
		return rc;
	if (got == 9) {
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				out[3 * i + j] = v[i + 3 * j];
	} else {
		/* Voigt xx yy zz yz xz xy */
		static const int voigt[9] = { 0, 5, 4, 5, 1, 3, 4, 3, 2 };
		for (int k = 0; k < 9; k++)
			out[k] = v[voigt[k]];
	}
	return MLIP_OK;
}

static int parse_comment(struct mlip_extxyz_reader *r, struct mlip_err *err,
			 struct frame_info *fi)
{
	const struct mlip_label_keys *lk = &r->keys;
	size_t line = r->line, nrec = 0;
	int rc, got;
	memset(fi, 0, sizeof(*fi));
	if ((rc = split_comment(r, r->buf, &nrec, err)))
		return rc;
	char *p = r->kv;
	for (size_t k = 0; k < nrec; k++) {
		int has_value = *p++;
		char *key = p;
		p += strlen(p) + 1;
		char *val = p;
		p += strlen(p) + 1;
		if (!has_value) {
			/* A key alone means T; only pbc can use that. */
			if (key_is_nocase(key, "Lattice") || key_is_nocase(key, "Properties") ||
			    key_is(key, lk->energy ? lk->energy : "energy") ||
			    (!lk->energy && key_is(key, "free_energy")) ||
			    key_is(key, lk->stress ? lk->stress : "stress") ||
			    (lk->virial && key_is(key, lk->virial)) || key_is(key, "dataset"))
				return FAIL(line, "malformed %s: the key has no value", key);
			val = "T";
		}
		if (key_is_nocase(key, "Lattice")) {
			if ((rc = info_numbers(r, err, line, "Lattice", val, fi->cell, 9, 0, &got)))
				return rc;
			fi->has_lattice = 1;
		} else if (key_is_nocase(key, "pbc")) {
			if ((rc = parse_pbc(r, err, line, val, fi->pbc)))
				return rc;
			fi->has_pbc = 1;
		} else if (key_is_nocase(key, "Properties")) {
			fi->properties = val;
		} else if (key_is(key, lk->energy ? lk->energy : "energy")) {
			if ((rc = info_numbers(r, err, line, key, val, &fi->energy, 1, 0, &got)))
				return rc;
			fi->has_energy = 1;
		} else if (!lk->energy && key_is(key, "free_energy")) {
			if ((rc = info_numbers(r, err, line, "free_energy", val, &fi->free_energy, 1, 0,
					       &got)))
				return rc;
			fi->has_free_energy = 1;
		} else if (key_is(key, lk->stress ? lk->stress : "stress")) {
			if ((rc = info_tensor(r, err, line, key, val, fi->stress)))
				return rc;
			fi->has_stress = 1;
		} else if (lk->virial && key_is(key, lk->virial)) {
			if ((rc = info_tensor(r, err, line, key, val, fi->virial)))
				return rc;
			fi->has_virial = 1;
		} else if (label_like(key, strlen(key), 0)) {
			note_unused(r, key, strlen(key), 0);
		} else if (key_is(key, "dataset")) {
			fi->dataset = val;
		}
	}
	if (fi->has_pbc && !fi->has_lattice && (fi->pbc[0] || fi->pbc[1] || fi->pbc[2]))
		return FAIL(line, "periodic (pbc=\"%c %c %c\") but there is no Lattice",
			    fi->pbc[0] ? 'T' : 'F', fi->pbc[1] ? 'T' : 'F', fi->pbc[2] ? 'T' : 'F');
	if (fi->has_lattice && !fi->has_pbc)
		fi->pbc[0] = fi->pbc[1] = fi->pbc[2] = 1;
	char *props = (char *)fi->properties;
	if (!props) {
		/* parse_properties writes NULs into its argument, so the default
		 * goes into the room split_comment left after the records. */
		props = p;
		memcpy(props, default_properties, sizeof(default_properties));
	}
	return parse_properties(r, err, line, props, &fi->ncols);
}

/* Atomic number of a species token, with a small cache; 0 if unknown. */
struct zcache {
	uint16_t key[16];
	int z[16];
};

static int species_z(const char *tok, size_t len, struct zcache *zc)
{
	if (len == 1 || len == 2) {
		/* ASE capitalizes symbols: "SI" and "si" are silicon. */
		char sym[2];
		sym[0] = (char)toupper((unsigned char)tok[0]);
		if (len == 2)
			sym[1] = (char)tolower((unsigned char)tok[1]);
		uint16_t key = (uint16_t)((unsigned char)sym[0] | (len == 2 ? (unsigned char)sym[1] << 8 : 0));
		unsigned h = (key ^ (key >> 7)) & 15;
		if (zc->key[h] == key && zc->z[h])
			return zc->z[h];
		int z = mlip_element_zn(sym, len);
		if (z) {
			zc->key[h] = key;
			zc->z[h] = z;
			return z;
		}
	}
	/* An atomic number in the species column is accepted too. */
	long v;
	if (len > 0 && len <= 3 && isdigit((unsigned char)tok[0]) && token_long(tok, len, &v) &&
	    v >= 1 && v <= MLIP_MAX_Z)
		return (int)v;
	return 0;
}

static const char *ordinal_name(size_t k)
{
	static const char *const xyz[3] = { "x", "y", "z" };
	return k < 3 ? xyz[k] : "?";
}

/* Fields on the current atom line, for the "too few columns" message. */
static size_t count_fields(const char *s)
{
	size_t n = 0, len;
	while (next_token(&s, &len))
		n++;
	return n;
}

/*
 * Read the natoms atom lines of a frame into s, which holds room for fewer
 * atoms at first and grows (doubling) as lines arrive: memory follows the
 * bytes read, not the count line.
 */
static int read_atoms(struct mlip_extxyz_reader *r, struct mlip_err *err,
		      const struct frame_info *fi, struct mlip_structure *s, size_t natoms,
		      size_t count_line, int *has_forces)
{
	struct zcache zc;
	size_t need = 0;
	int have_z = 0;
	memset(&zc, 0, sizeof(zc));
	for (size_t c = 0; c < fi->ncols; c++) {
		need += r->cols[c].count;
		have_z |= r->cols[c].kind == COL_Z;
		*has_forces |= r->cols[c].kind == COL_FORCES;
	}
	for (size_t i = 0; i < natoms; i++) {
		ssize_t n = next_line(r, err);
		if (n == -2)
			return MLIP_EIO;
		if (n == -1)
			return FAIL(count_line, "truncated frame: %zu atoms declared but the file ends after %zu",
				    natoms, i);
		int rc;
		if (i == s->natoms &&
		    (rc = mlip_structure_resize(s, natoms - i < i ? natoms : 2 * i, err)))
			return rc;
		const char *p = r->buf;
		for (size_t c = 0; c < fi->ncols; c++) {
			const struct mlip_extxyz_column *col = &r->cols[c];
			for (size_t k = 0; k < col->count; k++) {
				size_t len;
				const char *tok = next_token(&p, &len);
				int cut = (int)(len > ECHO ? ECHO : len);
				if (!tok) {
					size_t nf = count_fields(r->buf);
					if (nf <= 1)
						return FAIL(r->line, "atom %zu: expected %zu columns (Properties), found %zu; does the atom count %zu on line %zu match the frame?",
							    i + 1, need, nf, natoms, count_line);
					return FAIL(r->line, "atom %zu: too few columns: expected %zu (Properties), found %zu",
						    i + 1, need, nf);
				}
				double x;
				long v;
				int b;
				switch (col->kind) {
				case COL_SPECIES: {
					int z = species_z(tok, len, &zc);
					if (!z)
						return FAIL(r->line, "atom %zu: unknown element '%.*s'", i + 1, cut, tok);
					/* As ASE: a Z column overrides the species. */
					if (!have_z)
						s->numbers[i] = z;
					break;
				}
				case COL_POS:
				case COL_FORCES:
					if (!token_double(tok, len, &x))
						return FAIL(r->line, "atom %zu: %s %s '%.*s' is not a number", i + 1,
							    col->kind == COL_POS ? "position" : "force",
							    ordinal_name(k), cut, tok);
					if (!isfinite(x))
						return FAIL(r->line, "atom %zu: %s %s is not finite ('%.*s')", i + 1,
							    col->kind == COL_POS ? "position" : "force",
							    ordinal_name(k), cut, tok);
					(col->kind == COL_POS ? s->positions : s->forces)[3 * i + k] = x;
					break;
				case COL_Z:
					if (!token_long(tok, len, &v))
						return FAIL(r->line, "atom %zu: Z '%.*s' is not an integer", i + 1, cut, tok);
					if (v < 1 || v > MLIP_MAX_Z)
						return FAIL(r->line, "atom %zu: Z %ld is not an element", i + 1, v);
					s->numbers[i] = (int32_t)v;
					break;
				case COL_MOVE_MASK:
					if ((b = token_bool(tok, len)) < 0)
						return FAIL(r->line, "atom %zu: move_mask '%.*s' is not T or F", i + 1, cut, tok);
					/* F = fixed (ASE FixAtoms); with three components the atom is
					 * fixed only when all three are. */
					if (k == 0)
						s->fixed[i] = 1;
					if (b)
						s->fixed[i] = 0;
					break;
				case COL_FIXED:
					if (col->type == 'L') {
						if ((b = token_bool(tok, len)) < 0)
							return FAIL(r->line, "atom %zu: fixed '%.*s' is not T or F", i + 1, cut, tok);
					} else {
						if (!token_long(tok, len, &v) || (v != 0 && v != 1))
							return FAIL(r->line, "atom %zu: fixed '%.*s' is not 0 or 1", i + 1, cut, tok);
						b = (int)v;
					}
					s->fixed[i] = (uint8_t)b;
					break;
				case COL_OTHER:
					if (col->type == 'R' && !token_double(tok, len, &x))
						return FAIL(r->line, "atom %zu: '%.*s' in column '%.*s' is not a number",
							    i + 1, cut, tok, ECHO, col->name);
					if (col->type == 'I' && !token_long(tok, len, &v))
						return FAIL(r->line, "atom %zu: '%.*s' in column '%.*s' is not an integer",
							    i + 1, cut, tok, ECHO, col->name);
					break;
				}
			}
		}
	}
	return MLIP_OK;
}

int mlip_extxyz_read_next(struct mlip_extxyz_reader *r, struct mlip_structure *s,
			  struct mlip_err *err)
{
	struct frame_info fi;
	size_t natoms;
	ssize_t n;
	int rc;
	mlip_structure_release(s);

	/* Blank lines between and after frames are skipped. */
	do {
		n = next_line(r, err);
		if (n == -2)
			return MLIP_EIO;
		if (n == -1)
			return 0;
	} while (is_blank_line(r->buf));
	size_t count_line = r->line;
	{
		const char *p = r->buf, *tok;
		size_t len, dummy;
		long v;
		tok = next_token(&p, &len);
		if (next_token(&p, &dummy) || !token_long(tok, len, &v) || v < 0)
			return FAIL(count_line, "expected the number of atoms, found '%.*s'", ECHO, r->buf);
		if (v == 0)
			return FAIL(count_line, "frame has no atoms");
		if ((unsigned long)v > MLIP_MAX_ATOMS)
			return FAIL(count_line, "atom count %ld is too large: over the limit of %u atoms per structure",
				    v, MLIP_MAX_ATOMS);
		natoms = (size_t)v;
		/* Room for the first atoms only; read_atoms grows it. */
		if ((rc = mlip_structure_alloc(s, natoms < 64 ? natoms : 64, err)))
			return rc;
	}

	n = next_line(r, err);
	if (n == -2)
		return MLIP_EIO;
	if (n == -1) {
		mlip_structure_release(s);
		return FAIL(count_line, "truncated frame: the file ends before the comment line");
	}
	size_t comment_line = r->line;
	int has_forces = 0;
	if ((rc = parse_comment(r, err, &fi)) ||
	    (rc = read_atoms(r, err, &fi, s, natoms, count_line, &has_forces)))
		goto fail;

	memcpy(s->cell, fi.cell, sizeof(s->cell));
	memcpy(s->pbc, fi.pbc, sizeof(s->pbc));
	if (fi.has_energy || fi.has_free_energy) {
		s->energy = fi.has_energy ? fi.energy : fi.free_energy;
		s->has |= MLIP_HAS_ENERGY;
	}
	if (fi.has_stress) {
		memcpy(s->stress, fi.stress, sizeof(s->stress));
		s->has |= MLIP_HAS_STRESS;
	} else if (fi.has_virial) {
		/* virial = -stress * volume (GAP's convention) */
		double vol = mlip_cell_volume(s->cell);
		if (!(vol > 0) || !(s->pbc[0] || s->pbc[1] || s->pbc[2])) {
			rc = FAIL(comment_line, "%s: a virial needs a periodic cell (the stress is "
				  "-virial / volume)", r->keys.virial);
			goto fail;
		}
		for (int k = 0; k < 9; k++)
			s->stress[k] = -fi.virial[k] / vol;
		s->has |= MLIP_HAS_STRESS;
	}
	if (has_forces)
		s->has |= MLIP_HAS_FORCES;

	if ((rc = mlip_structure_validate(s, err))) {
		mlip_err_prefix(err, rc, "%s:%zu: ", r->path, comment_line);
		goto fail;
	}
	char id[64];
	int len = snprintf(id, sizeof(id), ":%zu", r->frame);
	size_t plen = strlen(r->path);
	char *full = malloc(plen + (size_t)len + 1);
	if (!full) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(full, r->path, plen);
	memcpy(full + plen, id, (size_t)len + 1);
	s->id = full;
	if (fi.dataset && (rc = mlip_structure_set_dataset(s, fi.dataset, err)))
		goto fail;
	r->frame++;
	return 1;
fail:
	mlip_structure_release(s);
	return rc;
}

int mlip_extxyz_read(FILE *f, const char *path, struct mlip_structure_list *out,
		     struct mlip_err *err)
{
	struct mlip_extxyz_reader r;
	struct mlip_structure s;
	int rc;
	mlip_extxyz_reader_init(&r, f, path);
	mlip_structure_init(&s);
	while ((rc = mlip_extxyz_read_next(&r, &s, err)) == 1)
		if ((rc = mlip_structure_list_take(out, &s, err)))
			break;
	mlip_structure_release(&s);
	mlip_extxyz_reader_release(&r);
	return rc;
}

/* ------------------------------------------------------------------ writer */

/*
 * %.17g, plus ".0" when that looks like an integer: ASE parses info values
 * that look like integers as int, which would turn -0.0 into 0.
 */
static void put_double(FILE *f, double x)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf) - 2, "%.17g", x);
	if (n > 0 && !strpbrk(buf, ".eEnNiI")) {
		buf[n++] = '.';
		buf[n++] = '0';
		buf[n] = '\0';
	}
	fputs(buf, f);
}

static void put_doubles(FILE *f, const double *x, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (k)
			fputc(' ', f);
		put_double(f, x[k]);
	}
}

/* 3×3 column-major, as ASE writes and reads stress. */
static void put_stress(FILE *f, const char *key, const double st[9])
{
	double v[9];
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			v[i + 3 * j] = st[3 * i + j];
	fprintf(f, " %s=\"", key);
	put_doubles(f, v, 9);
	fputc('"', f);
}

int mlip_extxyz_write(FILE *f, const struct mlip_structure *s,
		      const struct mlip_structure *ref, struct mlip_err *err)
{
	size_t n = s->natoms;
	if (ref && ref->natoms != n)
		return mlip_err_set(err, MLIP_EINVAL,
				    "reference has %zu atoms but the structure has %zu", ref->natoms, n);
	for (size_t i = 0; i < n; i++)
		if (!mlip_element_symbol(s->numbers[i]))
			return mlip_err_set(err, MLIP_EINVAL, "atom %zu: atomic number %d is not an element",
					    i + 1, (int)s->numbers[i]);
	if (s->dataset && strpbrk(s->dataset, "\n\r"))
		return mlip_err_set(err, MLIP_EINVAL, "dataset name contains a line break");
	int cell = 0, fixed = 0;
	for (int k = 0; k < 9; k++)
		cell |= s->cell[k] != 0;
	for (size_t i = 0; i < n; i++)
		fixed |= s->fixed[i] != 0;
	int forces = (s->has & MLIP_HAS_FORCES) != 0;
	int ref_forces = ref && (ref->has & MLIP_HAS_FORCES);

	fprintf(f, "%zu\n", n);
	if (cell) {
		fputs("Lattice=\"", f);
		put_doubles(f, s->cell, 9);
		fputs("\" ", f);
	}
	fputs("Properties=species:S:1:pos:R:3", f);
	if (forces)
		fputs(":forces:R:3", f);
	if (ref_forces)
		fputs(":ref_forces:R:3", f);
	if (fixed)
		fputs(":move_mask:L:1", f);
	if (s->has & MLIP_HAS_ENERGY) {
		fputs(" energy=", f);
		put_double(f, s->energy);
	}
	if (s->has & MLIP_HAS_STRESS)
		put_stress(f, "stress", s->stress);
	if (ref && (ref->has & MLIP_HAS_ENERGY)) {
		fputs(" ref_energy=", f);
		put_double(f, ref->energy);
	}
	if (ref && (ref->has & MLIP_HAS_STRESS))
		put_stress(f, "ref_stress", ref->stress);
	fprintf(f, " pbc=\"%c %c %c\"", s->pbc[0] ? 'T' : 'F', s->pbc[1] ? 'T' : 'F',
		s->pbc[2] ? 'T' : 'F');
	if (s->dataset) {
		/* Last: ASE merges what follows an empty quoted value into it. */
		fputs(" dataset=\"", f);
		for (const char *p = s->dataset; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', f);
			fputc(*p, f);
		}
		fputc('"', f);
	}
	fputc('\n', f);

	for (size_t i = 0; i < n; i++) {
		fputs(mlip_element_symbol(s->numbers[i]), f);
		fputc(' ', f);
		put_doubles(f, s->positions + 3 * i, 3);
		if (forces) {
			fputc(' ', f);
			put_doubles(f, s->forces + 3 * i, 3);
		}
		if (ref_forces) {
			fputc(' ', f);
			put_doubles(f, ref->forces + 3 * i, 3);
		}
		if (fixed)
			fputs(s->fixed[i] ? " F" : " T", f);
		fputc('\n', f);
	}
	if (ferror(f))
		return mlip_err_set(err, MLIP_EIO, "write error: %s", strerror(errno));
	return MLIP_OK;
}
