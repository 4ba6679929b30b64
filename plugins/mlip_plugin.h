/*
 * mlip_plugin.h - the plugin ABI: the only header a plugin includes.
 *
 * A plugin is one shared object, mlip-<kind>-<name>.so, built from one C file
 * with -fPIC -shared -fvisibility=hidden. It exports exactly one symbol:
 *
 *     MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void);
 *
 * which returns a record that lives as long as the object is loaded (a static
 * const). The host (lib/plugin.c) checks the record before it uses anything
 * else in it; see mlip-plugin(7) for the whole story and
 * share/plugin-template/loss_example.c for a plugin to copy.
 *
 * Versioning (ggml's integer ABI, redis/sqlite append-only tables):
 * - MLIP_PLUGIN_ABI is bumped by any change other than appending a field at
 *   the end of a struct below. A host refuses a plugin whose abi differs.
 * - `abi` and `struct_size` are the first two fields of the record in every
 *   ABI version, so a host can always read them.
 * - Appending fields keeps the ABI number. Each struct that a plugin hands to
 *   the host starts with its own size, so a newer host reading an older
 *   plugin treats the fields past that size as absent (zero / NULL); fields
 *   that existed when an ABI number was introduced are always required.
 * - Structs the host hands to the plugin (mlip_host_api, mlip_loss_input) are
 *   only ever appended to, so a plugin reads the fields it knows.
 *
 * Conventions for every op:
 * - Values are double. Counts are size_t. Arrays are row-major with the shape
 *   given in the field comments.
 * - An op returns 0 on success and nonzero on failure. On failure it writes a
 *   message into err: a buffer of MLIP_PLUGIN_ERR_MAX bytes that the host
 *   zeroes first. Messages follow git style (lowercase, no full stop, no
 *   prefix); the host prefixes "<kind> plugin '<name>': " and reports the
 *   failure as MLIP_EPLUGIN (CLI exit status 5).
 * - Ops never print: they log through host->log, and allocate through
 *   host->alloc / host->free (or plain malloc/free: both are fine).
 * - A NULL op slot means "not supported". Required slots are listed per kind.
 */
#ifndef MLIP_PLUGIN_H
#define MLIP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin ABI version this header describes. */
#define MLIP_PLUGIN_ABI 1

/* Size of the err buffer every op may write a message into (with its NUL). */
#define MLIP_PLUGIN_ERR_MAX 256

/* Marks the one exported symbol (plugins are built with -fvisibility=hidden). */
#define MLIP_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The name of that symbol, for the host's dlsym. */
#define MLIP_PLUGIN_ENTRY_SYMBOL "mlip_plugin_entry"

/* Log levels for mlip_host_api.log (the same numbers as lib/log.h). */
#define MLIP_PLUGIN_LOG_ERROR 0
#define MLIP_PLUGIN_LOG_WARN 1
#define MLIP_PLUGIN_LOG_INFO 2
#define MLIP_PLUGIN_LOG_DEBUG 3

/*
 * What the host gives a plugin in create(). Borrowed: valid until destroy().
 * Fields are appended only.
 */
struct mlip_host_api {
	/* MLIP_PLUGIN_ABI of the host (equal to the plugin's, or it would not be loaded). */
	int abi;
	/* printf-style message through the host's logger (stderr by default);
	 * level is MLIP_PLUGIN_LOG_*. Never write to stdout yourself. */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* malloc-like allocation; NULL when out of memory. */
	void *(*alloc)(size_t size);
	/* Frees what alloc returned; free(NULL) is a no-op. */
	void (*free)(void *ptr);
};

/*
 * What a loss op sees: n rows of width d (energy 1, forces 3, stress 9).
 * Built by the host (lib/loss.c); fields are appended only.
 */
struct mlip_loss_input {
	size_t n;               /* number of rows (systems or atoms) */
	size_t d;               /* row width */
	const double *pred;     /* (n, d) predictions, in the space the loss is taken in */
	const double *target;   /* (n, d) targets, same space */
	const uint8_t *mask;    /* (n) nonzero = the row has a target; NULL = every row does */
	const size_t *natoms;   /* (n) atoms in the row's system (>= 1); for per-atom losses */
};

/*
 * Loss flag: the loss gives one value per row (l2norm) rather than one per
 * component. It decides the shape eval writes and what "an entry" is for the
 * host's mean reduction.
 */
#define MLIP_LOSS_PER_ROW 1u

/*
 * The op table. The plugin's copy is a static const; the host copies
 * ops_size bytes of it, so slots appended after a plugin was built read as
 * NULL. `state` is what create() returned.
 *
 * Kind "loss": required create, destroy, eval; optional grad (training needs
 * it). Kind "normalizer": required create, destroy, norm, denorm; optional
 * fit, save, load (eval and grad unused, leave NULL).
 */
struct mlip_plugin_ops {
	/* sizeof(struct mlip_plugin_ops) as the plugin was compiled. */
	size_t ops_size;

	/*
	 * Parse params and make the state. params is the plugin's part of the
	 * task config as text: a flat mapping of scalars, as JSON
	 * ({"delta": 0.5}), YAML flow ({delta: 0.5}) or YAML block ("delta: 0.5");
	 * NULL or "" means no parameters. mlip_plugin_params_next() below
	 * parses it. Reject unknown keys with a message naming the key. A
	 * plugin without state may set *state = NULL.
	 */
	int (*create)(void **state, const char *params, const struct mlip_host_api *host,
		      char *err);
	/* Release the state (may be NULL). Never fails. */
	void (*destroy)(void *state);

	/*
	 * Loss: the per-entry loss. Writes loss (n, d), or (n) with
	 * MLIP_LOSS_PER_ROW. Masked rows get 0. The host does the reduction.
	 */
	int (*eval)(void *state, double *loss, const struct mlip_loss_input *in, char *err);
	/*
	 * Loss: d(loss entry)/d(pred) into dpred (n, d), overwriting it; each
	 * pred component feeds exactly one entry (its own, or its row's).
	 * Masked rows get 0. At a kink (|p - t| = 0 for mae, p = t for l2norm)
	 * return 0.
	 */
	int (*grad)(void *state, double *dpred, const struct mlip_loss_input *in, char *err);

	/*
	 * Normalizer: fit the state to n raw target values (e.g. referenced
	 * per-atom energies or force components). Parameters given in params stay
	 * fixed. n may be 0 when everything was given.
	 */
	int (*fit)(void *state, const double *values, size_t n, char *err);
	/* Normalizer: out[i] = norm(in[i]) for i < n; out may equal in. */
	int (*norm)(void *state, double *out, const double *in, size_t n, char *err);
	/* Normalizer: out[i] = denorm(in[i]), the inverse of norm; out may equal in. */
	int (*denorm)(void *state, double *out, const double *in, size_t n, char *err);

	/*
	 * Save the state as a JSON object (a flat mapping of numbers is the
	 * usual) into buf, snprintf-style: returns the length the text needs
	 * (without its NUL) and writes at most cap bytes; negative on failure.
	 * The host calls again with a larger buffer when the text did not fit.
	 * Print doubles with "%.17g" so that they round-trip exactly.
	 */
	long (*save)(void *state, char *buf, size_t cap, char *err);
	/* Restore what save wrote (the host may reformat it but keeps the values). */
	int (*load)(void *state, const char *json, char *err);
};

/*
 * The record mlip_plugin_entry() returns. Static const in the plugin;
 * fields are appended only.
 */
struct mlip_plugin {
	int abi;                 /* MLIP_PLUGIN_ABI the plugin was compiled against */
	size_t struct_size;      /* sizeof(struct mlip_plugin) as compiled */
	const char *kind;        /* "loss" or "normalizer" */
	const char *name;        /* [a-z0-9_]+, e.g. "per_atom_mae"; file mlip-loss-per-atom-mae.so */
	const char *version;     /* the plugin's own version, e.g. "1.0.0" (free text) */
	const char *description; /* one line for listings and logs */
	const struct mlip_plugin_ops *ops; /* the op table; never NULL */
	unsigned flags;          /* MLIP_LOSS_PER_ROW or 0 */
};

/* The one symbol a plugin exports. */
typedef const struct mlip_plugin *(*mlip_plugin_entry_fn)(void);

/*
 * Parameter parsing for create(): a tiny reader for the flat mapping
 * described there, so that plugins need no YAML or JSON library.
 */
struct mlip_plugin_param {
	char key[64];
	char value[256];         /* the scalar as text, quotes removed */
};

/* Skip blanks; with nl also newlines and commas; '#' comments to line end. */
static inline size_t mlip_plugin_params_skip_(const char *s, size_t i, int nl)
{
	for (;;) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || (nl && (c == '\n' || c == ',')))
			i++;
		else if (c == '#')
			while (s[i] && s[i] != '\n')
				i++;
		else
			return i;
	}
}

/* Read a quoted or bare scalar at s[*i] into out[cap]; stops stops a bare one. */
static inline int mlip_plugin_params_scalar_(const char *s, size_t *i, char *out, size_t cap,
					     const char *stops)
{
	size_t k = 0, p = *i;
	if (s[p] == '"' || s[p] == '\'') {
		char q = s[p++];
		while (s[p] && s[p] != q) {
			if (q == '"' && s[p] == '\\' && s[p + 1])
				p++;
			if (k + 1 >= cap)
				return -1;
			out[k++] = s[p++];
		}
		if (s[p] != q)
			return -1;
		p++;
	} else {
		while (s[p] && !strchr(stops, s[p]) && s[p] != '\n') {
			if (k + 1 >= cap)
				return -1;
			out[k++] = s[p++];
		}
		while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t' || out[k - 1] == '\r'))
			k--;
	}
	out[k] = '\0';
	*i = p;
	return 0;
}

/*
 * Iterate over the key/value pairs of params. Start with *pos = 0. Returns 1
 * with *p filled, 0 at the end, -1 on a syntax error (message in err).
 *
 *     size_t pos = 0; struct mlip_plugin_param p; int r;
 *     while ((r = mlip_plugin_params_next(params, &pos, &p, err)) > 0)
 *         if (strcmp(p.key, "delta") == 0) ... else return unknown key;
 *     if (r < 0) return 1;
 */
static inline int mlip_plugin_params_next(const char *params, size_t *pos,
					  struct mlip_plugin_param *p, char *err)
{
	const char *s = params ? params : "";
	size_t i = *pos;
	if (i == 0) {
		size_t b = mlip_plugin_params_skip_(s, 0, 1);
		/* Nothing, "null", "~" and "{}" are all "no parameters". */
		if (!s[b] || (!strncmp(s + b, "null", 4) && !s[mlip_plugin_params_skip_(s, b + 4, 1)]) ||
		    (s[b] == '~' && !s[mlip_plugin_params_skip_(s, b + 1, 1)])) {
			*pos = strlen(s);
			return 0;
		}
		if (s[b] == '{')
			b++;
		i = b;
	}
	i = mlip_plugin_params_skip_(s, i, 1);
	if (s[i] == '}') {
		i = mlip_plugin_params_skip_(s, i + 1, 1);
		if (s[i]) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "unexpected text after '}' in parameters");
			return -1;
		}
	}
	if (!s[i]) {
		*pos = i;
		return 0;
	}
	if (mlip_plugin_params_scalar_(s, &i, p->key, sizeof(p->key), ":,}") || !p->key[0]) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "bad parameter name at offset %zu", i);
		return -1;
	}
	i = mlip_plugin_params_skip_(s, i, 0);
	if (s[i] != ':') {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "expected ':' after parameter '%s'", p->key);
		return -1;
	}
	i = mlip_plugin_params_skip_(s, i + 1, 0);
	if (s[i] == '{' || s[i] == '[') {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "parameter '%s' must be a scalar", p->key);
		return -1;
	}
	if (mlip_plugin_params_scalar_(s, &i, p->value, sizeof(p->value), ",}#")) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "bad value for parameter '%s'", p->key);
		return -1;
	}
	*pos = i;
	return 1;
}

/* The value of p as a finite double; -1 with a message naming the key if not. */
static inline int mlip_plugin_param_double(const struct mlip_plugin_param *p, double *v, char *err)
{
	char *end;
	double x = strtod(p->value, &end);
	if (end == p->value || *end || x != x || x - x != 0) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "parameter '%s' must be a finite number, not '%.100s'",
			 p->key, p->value);
		return -1;
	}
	*v = x;
	return 0;
}

/* For plugins without parameters: 0 if params is empty, else -1 naming the first key. */
static inline int mlip_plugin_params_none(const char *params, char *err)
{
	size_t pos = 0;
	struct mlip_plugin_param p;
	int r = mlip_plugin_params_next(params, &pos, &p, err);
	if (r > 0)
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "unknown parameter '%s' (this plugin takes none)", p.key);
	return r == 0 ? 0 : -1;
}

/*
 * For per-atom losses: 0 if every unmasked row of in has a system with atoms,
 * else 1 with a message (a missing count is a bug in the caller).
 */
static inline int mlip_loss_check_natoms(const struct mlip_loss_input *in, char *err)
{
	if (!in->natoms) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "needs the atom count of every system");
		return 1;
	}
	for (size_t i = 0; i < in->n; i++)
		if ((!in->mask || in->mask[i]) && in->natoms[i] == 0) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "row %zu belongs to a system with no atoms", i);
			return 1;
		}
	return 0;
}

#endif
