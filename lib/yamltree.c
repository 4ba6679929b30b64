/*
 * yamltree.c - YAML documents as located trees, built from libyaml events.
 *
 * The loader walks yaml_parser_parse() events recursively (depth-limited),
 * turning each start event into a node at the event's start mark (libyaml
 * marks are 0-based; ours are 1-based). Scalars are not resolved here: the
 * getters decide what a plain scalar means, following the YAML 1.2 core
 * schema for numbers and YAML 1.1 for booleans. The emitter writes the tree
 * back through libyaml's event emitter, choosing styles that the loader reads
 * back to the same tree (quoted scalars stay quoted, plain stay plain).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "yamltree.h"
#include "outfile.h"
#include "banned.h"

#define YT_MAX_DEPTH 200
#define YT_STR_TAG "tag:yaml.org,2002:str"

/* ---- nodes ---- */

static struct mlip_yaml_node *node_new(enum mlip_yaml_kind kind, const char *file,
				       unsigned line, unsigned column)
{
	struct mlip_yaml_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = line;
	n->column = column;
	if (file && !(n->file = strdup(file))) {
		free(n);
		return NULL;
	}
	return n;
}

static struct mlip_yaml_node *scalar_new_at(const char *text, size_t len, bool quoted,
					    const char *file, unsigned line, unsigned column)
{
	struct mlip_yaml_node *n = node_new(MLIP_YAML_SCALAR, file, line, column);
	if (!n)
		return NULL;
	n->text = malloc(len + 1);
	if (!n->text) {
		mlip_yaml_free(n);
		return NULL;
	}
	memcpy(n->text, text, len);
	n->text[len] = '\0';
	n->len = len;
	n->quoted = quoted;
	return n;
}

void mlip_yaml_free(struct mlip_yaml_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		mlip_yaml_free(n->items[i]);
		if (n->keys)
			mlip_yaml_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->text);
	free(n->file);
	free(n);
}

struct mlip_yaml_node *mlip_yaml_scalar_new(const char *text, bool quoted)
{
	return scalar_new_at(text, strlen(text), quoted, NULL, 0, 0);
}

struct mlip_yaml_node *mlip_yaml_sequence_new(void)
{
	return node_new(MLIP_YAML_SEQUENCE, NULL, 0, 0);
}

struct mlip_yaml_node *mlip_yaml_mapping_new(void)
{
	return node_new(MLIP_YAML_MAPPING, NULL, 0, 0);
}

/* Append (key, value) or value; takes both. */
static int push(struct mlip_yaml_node *c, struct mlip_yaml_node *key, struct mlip_yaml_node *value)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4;
		struct mlip_yaml_node **items = realloc(c->items, cap * sizeof(*items));
		if (!items)
			goto fail;
		c->items = items;
		if (c->kind == MLIP_YAML_MAPPING) {
			struct mlip_yaml_node **keys = realloc(c->keys, cap * sizeof(*keys));
			if (!keys)
				goto fail;
			c->keys = keys;
		}
		c->cap = cap;
	}
	c->items[c->n] = value;
	if (c->kind == MLIP_YAML_MAPPING)
		c->keys[c->n] = key;
	c->n++;
	return MLIP_OK;
fail:
	mlip_yaml_free(key);
	mlip_yaml_free(value);
	return MLIP_ENOMEM;
}

int mlip_yaml_seq_push(struct mlip_yaml_node *seq, struct mlip_yaml_node *value)
{
	if (!value || !seq || seq->kind != MLIP_YAML_SEQUENCE) {
		mlip_yaml_free(value);
		return value ? MLIP_EINVAL : MLIP_ENOMEM;
	}
	return push(seq, NULL, value);
}

static ptrdiff_t map_find(const struct mlip_yaml_node *map, const char *key, size_t len)
{
	if (!map || map->kind != MLIP_YAML_MAPPING)
		return -1;
	for (size_t i = 0; i < map->n; i++)
		if (map->keys[i]->len == len && memcmp(map->keys[i]->text, key, len) == 0)
			return (ptrdiff_t)i;
	return -1;
}

int mlip_yaml_map_set(struct mlip_yaml_node *map, const char *key, struct mlip_yaml_node *value)
{
	if (!value || !map || map->kind != MLIP_YAML_MAPPING) {
		mlip_yaml_free(value);
		return value ? MLIP_EINVAL : MLIP_ENOMEM;
	}
	ptrdiff_t i = map_find(map, key, strlen(key));
	if (i >= 0) {
		mlip_yaml_free(map->items[i]);
		map->items[i] = value;
		return MLIP_OK;
	}
	struct mlip_yaml_node *k = mlip_yaml_scalar_new(key, false);
	if (!k) {
		mlip_yaml_free(value);
		return MLIP_ENOMEM;
	}
	return push(map, k, value);
}

struct mlip_yaml_node *mlip_yaml_copy(const struct mlip_yaml_node *s)
{
	if (!s)
		return NULL;
	struct mlip_yaml_node *c;
	if (s->kind == MLIP_YAML_SCALAR)
		return scalar_new_at(s->text, s->len, s->quoted, s->file, s->line, s->column);
	if (!(c = node_new(s->kind, s->file, s->line, s->column)))
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		struct mlip_yaml_node *k = NULL, *v = mlip_yaml_copy(s->items[i]);
		if (s->keys && v && !(k = mlip_yaml_copy(s->keys[i]))) {
			mlip_yaml_free(v);
			v = NULL;
		}
		if (!v || push(c, k, v)) {
			mlip_yaml_free(c);
			return NULL;
		}
	}
	return c;
}

/* ---- lookup ---- */

const struct mlip_yaml_node *mlip_yaml_map_get(const struct mlip_yaml_node *map, const char *key)
{
	ptrdiff_t i = map_find(map, key, strlen(key));
	return i < 0 ? NULL : map->items[i];
}

const struct mlip_yaml_node *mlip_yaml_map_key(const struct mlip_yaml_node *map, const char *key)
{
	ptrdiff_t i = map_find(map, key, strlen(key));
	return i < 0 ? NULL : map->keys[i];
}

/* A segment of only digits (not empty) as an index; -1 otherwise. */
static long long seg_index(const char *s, size_t len)
{
	long long v = 0;
	if (len == 0 || len > 15)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = 10 * v + (s[i] - '0');
	}
	return v;
}

/* One step down from n along the segment s[0..len). */
static const struct mlip_yaml_node *step(const struct mlip_yaml_node *n, const char *s, size_t len)
{
	if (n->kind == MLIP_YAML_MAPPING) {
		ptrdiff_t i = map_find(n, s, len);
		return i < 0 ? NULL : n->items[i];
	}
	if (n->kind == MLIP_YAML_SEQUENCE) {
		long long i = seg_index(s, len);
		return i >= 0 && (size_t)i < n->n ? n->items[i] : NULL;
	}
	return NULL;
}

/*
 * Walk path from root; returns the node or NULL. *last gets the deepest
 * node reached (for "missing key" locations).
 */
static const struct mlip_yaml_node *walk(const struct mlip_yaml_node *root, const char *path,
					 const struct mlip_yaml_node **last)
{
	const struct mlip_yaml_node *n = root;
	const char *p = path;
	if (last)
		*last = root;
	if (!root)
		return NULL;
	if (!*p)
		return root;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		n = step(n, p, len);
		if (!n)
			return NULL;
		if (last)
			*last = n;
		if (!dot)
			return n;
		p = dot + 1;
	}
}

const struct mlip_yaml_node *mlip_yaml_get(const struct mlip_yaml_node *root, const char *path)
{
	return walk(root, path, NULL);
}

bool mlip_yaml_is_null(const struct mlip_yaml_node *n)
{
	if (!n || n->kind != MLIP_YAML_SCALAR || n->quoted)
		return false;
	return !strcmp(n->text, "") || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
	       !strcmp(n->text, "Null") || !strcmp(n->text, "NULL");
}

/* ---- messages ---- */

const char *mlip_yaml_where(const struct mlip_yaml_node *n, char *buf, size_t size)
{
	if (!n || !n->file)
		snprintf(buf, size, "<memory>");
	else if (n->line == 0)
		snprintf(buf, size, "%s", n->file);
	else
		snprintf(buf, size, "%s:%u:%u", n->file, n->line, n->column);
	return buf;
}

int mlip_yaml_errf(struct mlip_err *err, int code, const struct mlip_yaml_node *n,
		   const char *key, const char *fmt, ...)
{
	if (!err)
		return code;
	char where[256], msg[MLIP_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlip_yaml_where(n, where, sizeof(where));
	if (key)
		return mlip_err_set(err, code, "%s: key '%s': %s", where, key, msg);
	return mlip_err_set(err, code, "%s: %s", where, msg);
}

/* What a node is, for "got ..." in messages. */
static const char *describe(const struct mlip_yaml_node *n, char *buf, size_t size)
{
	if (n->kind == MLIP_YAML_MAPPING)
		return "a mapping";
	if (n->kind == MLIP_YAML_SEQUENCE)
		return "a sequence";
	if (mlip_yaml_is_null(n))
		return "null";
	const char *ell = n->len > 60 ? "..." : "";
	if (n->quoted)
		snprintf(buf, size, "the quoted string \"%.60s%s\"", n->text, ell);
	else
		snprintf(buf, size, "'%.60s%s'", n->text, ell);
	return buf;
}

static int expected(struct mlip_err *err, const struct mlip_yaml_node *n, const char *key,
		    const char *what)
{
	char buf[128];
	return mlip_yaml_errf(err, MLIP_EINVAL, n, key, "expected %s, got %s", what,
			      describe(n, buf, sizeof(buf)));
}

/* ---- scalar resolution ---- */

/* 0 ok, -1 not an integer, -2 out of range. */
static int parse_int(const char *s, int64_t *out)
{
	int neg = 0, base = 10;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		s += 2;
	}
	if (!*s)
		return -1;
	unsigned long long v = 0;
	for (const char *p = s; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -1;
		if (d >= base)
			return -1;
		if (v > (~0ull - (unsigned)d) / (unsigned)base)
			return -2;
		v = v * (unsigned)base + (unsigned)d;
	}
	if (neg) {
		if (v > (unsigned long long)INT64_MAX + 1)
			return -2;
		*out = v == (unsigned long long)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (unsigned long long)INT64_MAX)
			return -2;
		*out = (int64_t)v;
	}
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 0 ok, -1 not a number, -2 out of range, -3 infinite, -4 nan. */
static int parse_double(const char *s, double *out)
{
	const char *p = s;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
		*out = neg ? -HUGE_VAL : HUGE_VAL;
		return -3;
	}
	if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) {
		*out = NAN;
		return -4;
	}
	/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE][-+]?[0-9]+ )? */
	size_t nd = 0;
	while (is_digit(*p))
		p++, nd++;
	if (*p == '.') {
		p++;
		while (is_digit(*p))
			p++, nd++;
	}
	if (nd == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!is_digit(*p))
			return -1;
		while (is_digit(*p))
			p++;
	}
	if (*p)
		return -1;
	errno = 0;
	double v = strtod(s, NULL);
	if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
		return -2;
	*out = v;
	return 0;
}

/* 1 true, 0 false, -1 not a boolean. */
static int parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on", "On", "ON", "y", "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF", "n", "N" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]))
			return 1;
		if (!strcmp(s, no[i]))
			return 0;
	}
	return -1;
}

static bool plain_scalar(const struct mlip_yaml_node *n)
{
	return n->kind == MLIP_YAML_SCALAR && !n->quoted && !mlip_yaml_is_null(n);
}

int mlip_yaml_as_int(const struct mlip_yaml_node *n, const char *key, int64_t *out,
		     struct mlip_err *err)
{
	int64_t v;
	int rc;
	if (!plain_scalar(n) || (rc = parse_int(n->text, &v)) == -1)
		return expected(err, n, key, "an integer");
	if (rc == -2)
		return mlip_yaml_errf(err, MLIP_EINVAL, n, key,
				      "integer '%.60s' is out of range", n->text);
	*out = v;
	return MLIP_OK;
}

int mlip_yaml_as_double(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			double *out, struct mlip_err *err)
{
	double v = 0;
	int rc;
	if (!plain_scalar(n))
		return expected(err, n, key, "a number");
	rc = parse_double(n->text, &v);
	if (rc == -1) {
		/* 0x1f and 0o17 are integers and so numbers too */
		int64_t i;
		if (parse_int(n->text, &i) == 0) {
			*out = (double)i;
			return MLIP_OK;
		}
		return expected(err, n, key, "a number");
	}
	if (rc == -2)
		return mlip_yaml_errf(err, MLIP_EINVAL, n, key,
				      "number '%.60s' is out of range", n->text);
	if (rc == -3 && !(flags & MLIP_YAML_ALLOW_INF))
		return mlip_yaml_errf(err, MLIP_EINVAL, n, key,
				      "expected a finite number, got '%s'", n->text);
	if (rc == -4 && !(flags & MLIP_YAML_ALLOW_NAN))
		return mlip_yaml_errf(err, MLIP_EINVAL, n, key,
				      "expected a number, got '%s' (not a number)", n->text);
	*out = v;
	return MLIP_OK;
}

int mlip_yaml_as_bool(const struct mlip_yaml_node *n, const char *key, bool *out,
		      struct mlip_err *err)
{
	int b;
	if (!plain_scalar(n) || (b = parse_bool(n->text)) < 0)
		return expected(err, n, key, "a boolean (true or false)");
	*out = b;
	return MLIP_OK;
}

int mlip_yaml_as_string(const struct mlip_yaml_node *n, const char *key, const char **out,
			struct mlip_err *err)
{
	if (n->kind != MLIP_YAML_SCALAR || mlip_yaml_is_null(n))
		return expected(err, n, key, "a string");
	*out = n->text;
	return MLIP_OK;
}

/*
 * The items of a list node: a sequence's items, or the node itself (-2)
 * when a lone scalar counts as a list; -1 when n is no list.
 */
static ptrdiff_t list_items(const struct mlip_yaml_node *n, unsigned flags,
			    const struct mlip_yaml_node *const **items)
{
	if (n->kind == MLIP_YAML_SEQUENCE) {
		*items = (const struct mlip_yaml_node *const *)n->items;
		return (ptrdiff_t)n->n;
	}
	*items = NULL;
	if (n->kind == MLIP_YAML_SCALAR && (flags & MLIP_YAML_SCALAR_AS_LIST) &&
	    !mlip_yaml_is_null(n))
		return -2;
	return -1;
}

/* "key.i" for item messages. */
static const char *item_key(char *buf, size_t size, const char *key, size_t i)
{
	snprintf(buf, size, "%s.%zu", key ? key : "", i);
	return buf;
}

int mlip_yaml_as_strings(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			 char ***out, size_t *count, struct mlip_err *err)
{
	const struct mlip_yaml_node *const *items;
	ptrdiff_t k = list_items(n, flags, &items);
	if (k == -1)
		return expected(err, n, key, "a list of strings");
	if (k == -2) {
		items = (const struct mlip_yaml_node *const *)&n;
		k = 1;
	}
	char **v = k ? calloc((size_t)k, sizeof(*v)) : NULL;
	if (k && !v)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (ptrdiff_t i = 0; i < k; i++) {
		const char *s = NULL;
		char ik[256];
		int rc = mlip_yaml_as_string(items[i], n->kind == MLIP_YAML_SEQUENCE ?
					     item_key(ik, sizeof(ik), key, (size_t)i) : key, &s, err);
		if (rc == MLIP_OK && !(v[i] = strdup(s)))
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		if (rc) {
			mlip_yaml_strings_free(v, (size_t)k);
			return rc;
		}
	}
	*out = v;
	*count = (size_t)k;
	return MLIP_OK;
}

void mlip_yaml_strings_free(char **list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

int mlip_yaml_as_doubles(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			 double **out, size_t *count, struct mlip_err *err)
{
	const struct mlip_yaml_node *const *items;
	ptrdiff_t k = list_items(n, flags, &items);
	if (k == -1)
		return expected(err, n, key, "a list of numbers");
	if (k == -2) {
		items = (const struct mlip_yaml_node *const *)&n;
		k = 1;
	}
	double *v = k ? malloc((size_t)k * sizeof(*v)) : NULL;
	if (k && !v)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (ptrdiff_t i = 0; i < k; i++) {
		char ik[256];
		int rc = mlip_yaml_as_double(items[i], n->kind == MLIP_YAML_SEQUENCE ?
					     item_key(ik, sizeof(ik), key, (size_t)i) : key,
					     flags, &v[i], err);
		if (rc) {
			free(v);
			return rc;
		}
	}
	*out = v;
	*count = (size_t)k;
	return MLIP_OK;
}

int mlip_yaml_as_ints(const struct mlip_yaml_node *n, const char *key, unsigned flags,
		      int64_t **out, size_t *count, struct mlip_err *err)
{
	const struct mlip_yaml_node *const *items;
	ptrdiff_t k = list_items(n, flags, &items);
	if (k == -1)
		return expected(err, n, key, "a list of integers");
	if (k == -2) {
		items = (const struct mlip_yaml_node *const *)&n;
		k = 1;
	}
	int64_t *v = k ? malloc((size_t)k * sizeof(*v)) : NULL;
	if (k && !v)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (ptrdiff_t i = 0; i < k; i++) {
		char ik[256];
		int rc = mlip_yaml_as_int(items[i], n->kind == MLIP_YAML_SEQUENCE ?
					  item_key(ik, sizeof(ik), key, (size_t)i) : key, &v[i], err);
		if (rc) {
			free(v);
			return rc;
		}
	}
	*out = v;
	*count = (size_t)k;
	return MLIP_OK;
}

/* ---- path getters ---- */

static const struct mlip_yaml_node *get_present(const struct mlip_yaml_node *root, const char *path)
{
	const struct mlip_yaml_node *n = mlip_yaml_get(root, path);
	return n && !mlip_yaml_is_null(n) ? n : NULL;
}

int mlip_yaml_get_int(const struct mlip_yaml_node *root, const char *path, int64_t *out,
		      struct mlip_err *err)
{
	const struct mlip_yaml_node *n = get_present(root, path);
	return n ? mlip_yaml_as_int(n, path, out, err) : MLIP_OK;
}

int mlip_yaml_get_double(const struct mlip_yaml_node *root, const char *path, unsigned flags,
			 double *out, struct mlip_err *err)
{
	const struct mlip_yaml_node *n = get_present(root, path);
	return n ? mlip_yaml_as_double(n, path, flags, out, err) : MLIP_OK;
}

int mlip_yaml_get_bool(const struct mlip_yaml_node *root, const char *path, bool *out,
		       struct mlip_err *err)
{
	const struct mlip_yaml_node *n = get_present(root, path);
	return n ? mlip_yaml_as_bool(n, path, out, err) : MLIP_OK;
}

int mlip_yaml_get_string(const struct mlip_yaml_node *root, const char *path, const char **out,
			 struct mlip_err *err)
{
	const struct mlip_yaml_node *n = get_present(root, path);
	return n ? mlip_yaml_as_string(n, path, out, err) : MLIP_OK;
}

int mlip_yaml_require(const struct mlip_yaml_node *root, const char *path, struct mlip_err *err)
{
	const struct mlip_yaml_node *last;
	if (walk(root, path, &last))
		return MLIP_OK;
	return mlip_yaml_errf(err, MLIP_EINVAL, last, NULL, "missing required key '%s'", path);
}

/* ---- loading ---- */

struct loader {
	yaml_parser_t parser;
	const char *name;
	bool override;        /* label nodes with name only (line 0) */
	struct mlip_err *err;
};

static int parser_error(struct loader *ld)
{
	yaml_parser_t *p = &ld->parser;
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->error == YAML_MEMORY_ERROR)
		return mlip_err_set(ld->err, MLIP_ENOMEM, "%s: out of memory while reading yaml",
				    ld->name);
	if (ld->override)
		return mlip_err_set(ld->err, MLIP_EINVAL, "%s: invalid value: %s", ld->name, problem);
	if (p->error == YAML_READER_ERROR)
		return mlip_err_set(ld->err, MLIP_EINVAL, "%s: invalid yaml: %s at byte %zu",
				    ld->name, problem, p->problem_offset);
	if (p->context)
		return mlip_err_set(ld->err, MLIP_EINVAL,
				    "%s:%zu:%zu: invalid yaml: %s (%s at line %zu column %zu)",
				    ld->name, p->problem_mark.line + 1, p->problem_mark.column + 1,
				    problem, p->context, p->context_mark.line + 1,
				    p->context_mark.column + 1);
	return mlip_err_set(ld->err, MLIP_EINVAL, "%s:%zu:%zu: invalid yaml: %s", ld->name,
			    p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

static int next_event(struct loader *ld, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ld->parser, ev))
		return parser_error(ld);
	return MLIP_OK;
}

static int mark_error(struct loader *ld, const yaml_mark_t *m, const char *fmt, const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, arg);
	if (ld->override)
		return mlip_err_set(ld->err, MLIP_EINVAL, "%s: %s", ld->name, msg);
	return mlip_err_set(ld->err, MLIP_EINVAL, "%s:%zu:%zu: %s", ld->name, m->line + 1,
			    m->column + 1, msg);
}

static struct mlip_yaml_node *located(struct loader *ld, enum mlip_yaml_kind kind,
				      const yaml_mark_t *m)
{
	if (ld->override)
		return node_new(kind, ld->name, 0, 0);
	return node_new(kind, ld->name, (unsigned)m->line + 1, (unsigned)m->column + 1);
}

static int check_tag(struct loader *ld, const yaml_mark_t *m, const yaml_char_t *tag,
		     const char *plain_ok)
{
	if (tag && strcmp((const char *)tag, plain_ok))
		return mark_error(ld, m, "yaml tags are not supported (found '%s')",
				  (const char *)tag);
	return MLIP_OK;
}

/*
 * The keys of a mapping being loaded, hashed, so that finding duplicates
 * stays linear in the number of keys (map_find would make a mapping of n
 * keys cost n^2 / 2 comparisons: a 1 MB file of short keys took minutes).
 * slot[h] holds key index + 1, 0 for empty; open addressing, load <= 1/2.
 */
struct keyset {
	size_t *slot;
	size_t cap;
};

static size_t key_hash(const char *s, size_t len)
{
	size_t h = 1469598103934665603u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return h;
}

/* Index of the key in map, or -1; map->keys[0..map->n) are all in ks. */
static ptrdiff_t keyset_find(const struct keyset *ks, const struct mlip_yaml_node *map,
			     const char *key, size_t len)
{
	if (!ks->cap)
		return -1;
	for (size_t h = key_hash(key, len) & (ks->cap - 1);; h = (h + 1) & (ks->cap - 1)) {
		size_t i = ks->slot[h];
		if (!i)
			return -1;
		const struct mlip_yaml_node *k = map->keys[i - 1];
		if (k->len == len && memcmp(k->text, key, len) == 0)
			return (ptrdiff_t)(i - 1);
	}
}

/* Add map->keys[idx] (not present yet); -1 when out of memory. */
static int keyset_add(struct keyset *ks, const struct mlip_yaml_node *map, size_t idx)
{
	if (2 * (idx + 1) > ks->cap) {
		size_t cap = ks->cap ? 2 * ks->cap : 16;
		size_t *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -1;
		free(ks->slot);
		ks->slot = slot;
		ks->cap = cap;
		for (size_t i = 0; i < idx; i++)
			if (keyset_add(ks, map, i))
				return -1;
	}
	const struct mlip_yaml_node *k = map->keys[idx];
	size_t h = key_hash(k->text, k->len) & (ks->cap - 1);
	while (ks->slot[h])
		h = (h + 1) & (ks->cap - 1);
	ks->slot[h] = idx + 1;
	return 0;
}

/*
 * Build the node that starts with *ev (consumed) and the events up to its
 * end. Anchors, aliases and tags are refused: a config says what it means.
 */
static int parse_node(struct loader *ld, yaml_event_t *ev, int depth, struct mlip_yaml_node **out)
{
	struct mlip_yaml_node *n = NULL;
	yaml_mark_t m = ev->start_mark;
	int rc = MLIP_OK;
	const yaml_char_t *anchor = NULL;

	if (depth > YT_MAX_DEPTH) {
		rc = mark_error(ld, &m, "yaml nested deeper than %s levels", "200");
		goto out;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		rc = mark_error(ld, &m, "yaml aliases are not supported (*%s): write the value out",
				(const char *)ev->data.alias.anchor);
		goto out;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		break;
	default:
		rc = mark_error(ld, &m, "unexpected yaml event%s", "");
		goto out;
	}
	if (anchor) {
		rc = mark_error(ld, &m, "yaml anchors are not supported (&%s): write the value out",
				(const char *)anchor);
		goto out;
	}

	if (ev->type == YAML_SCALAR_EVENT) {
		const yaml_char_t *tag = ev->data.scalar.tag;
		size_t len = ev->data.scalar.length;
		if ((rc = check_tag(ld, &m, tag, YT_STR_TAG)))
			goto out;
		if (memchr(ev->data.scalar.value, '\0', len)) {
			rc = mark_error(ld, &m, "NUL character in a scalar%s", "");
			goto out;
		}
		n = located(ld, MLIP_YAML_SCALAR, &m);
		if (n && !(n->text = malloc(len + 1))) {
			mlip_yaml_free(n);
			n = NULL;
		}
		if (!n) {
			rc = mlip_err_set(ld->err, MLIP_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(n->text, ev->data.scalar.value, len);
		n->text[len] = '\0';
		n->len = len;
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || tag != NULL;
		goto out;
	}

	bool map = ev->type == YAML_MAPPING_START_EVENT;
	if ((rc = check_tag(ld, &m, map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag,
			    map ? "tag:yaml.org,2002:map" : "tag:yaml.org,2002:seq")))
		goto out;
	n = located(ld, map ? MLIP_YAML_MAPPING : MLIP_YAML_SEQUENCE, &m);
	if (!n) {
		rc = mlip_err_set(ld->err, MLIP_ENOMEM, "out of memory");
		goto out;
	}
	yaml_event_delete(ev);
	struct keyset ks = { NULL, 0 };
	for (;;) {
		struct mlip_yaml_node *key = NULL, *value = NULL;
		if ((rc = next_event(ld, ev)))
			goto fail;
		if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT)
			break;
		if (map) {
			yaml_mark_t km = ev->start_mark;
			if (ev->type != YAML_SCALAR_EVENT) {
				rc = ev->type == YAML_ALIAS_EVENT ? parse_node(ld, ev, depth + 1, &key)
					: mark_error(ld, &km, "mapping keys must be scalars%s", "");
				goto fail_ev;
			}
			if ((rc = parse_node(ld, ev, depth + 1, &key)))
				goto fail;
			ptrdiff_t dup = keyset_find(&ks, n, key->text, key->len);
			if (dup >= 0) {
				char first[256];
				mlip_yaml_where(n->keys[dup], first, sizeof(first));
				rc = mark_error(ld, &km, "duplicate key '%s'", key->text);
				if (ld->err && !ld->override) {
					size_t l = strlen(ld->err->msg);
					snprintf(ld->err->msg + l, sizeof(ld->err->msg) - l,
						 " (first at %s)", first);
				}
				mlip_yaml_free(key);
				goto fail;
			}
			if ((rc = next_event(ld, ev))) {
				mlip_yaml_free(key);
				goto fail;
			}
		}
		if ((rc = parse_node(ld, ev, depth + 1, &value))) {
			mlip_yaml_free(key);
			goto fail;
		}
		if ((rc = push(n, key, value)) || (map && keyset_add(&ks, n, n->n - 1))) {
			rc = mlip_err_set(ld->err, MLIP_ENOMEM, "out of memory");
			goto fail;
		}
	}
	free(ks.slot);
	goto out;
fail_ev:
	yaml_event_delete(ev);
fail:
	free(ks.slot);
	mlip_yaml_free(n);
	n = NULL;
	*out = NULL;
	return rc;
out:
	yaml_event_delete(ev);
	if (rc) {
		mlip_yaml_free(n);
		n = NULL;
	}
	*out = n;
	return rc;
}

static int load(struct loader *ld, struct mlip_yaml_node **root)
{
	yaml_event_t ev;
	struct mlip_yaml_node *doc = NULL;
	int rc;

	*root = NULL;
	if ((rc = next_event(ld, &ev)))
		return rc;
	yaml_event_delete(&ev); /* stream start */
	if ((rc = next_event(ld, &ev)))
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		doc = ld->override ? node_new(MLIP_YAML_SCALAR, ld->name, 0, 0)
				   : node_new(MLIP_YAML_SCALAR, ld->name, 1, 1);
		if (!doc || !(doc->text = calloc(1, 1))) {
			mlip_yaml_free(doc);
			return mlip_err_set(ld->err, MLIP_ENOMEM, "out of memory");
		}
		*root = doc;
		return MLIP_OK;
	}
	yaml_event_delete(&ev); /* document start */
	if ((rc = next_event(ld, &ev)))
		return rc;
	if ((rc = parse_node(ld, &ev, 0, &doc)))
		return rc;
	if ((rc = next_event(ld, &ev)))
		goto fail; /* document end */
	yaml_event_delete(&ev);
	if ((rc = next_event(ld, &ev)))
		goto fail;
	if (ev.type != YAML_STREAM_END_EVENT) {
		rc = mark_error(ld, &ev.start_mark, "more than one yaml document%s", "");
		yaml_event_delete(&ev);
		goto fail;
	}
	yaml_event_delete(&ev);
	*root = doc;
	return MLIP_OK;
fail:
	mlip_yaml_free(doc);
	return rc;
}

static int load_string(const char *text, size_t len, const char *name, bool override,
		       struct mlip_yaml_node **root, struct mlip_err *err)
{
	struct loader ld = { .name = name, .override = override, .err = err };
	if (!yaml_parser_initialize(&ld.parser))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)text, len);
	int rc = load(&ld, root);
	yaml_parser_delete(&ld.parser);
	return rc;
}

int mlip_yaml_load_string(const char *text, size_t len, const char *name,
			  struct mlip_yaml_node **root, struct mlip_err *err)
{
	return load_string(text, len, name ? name : "<string>", false, root, err);
}

int mlip_yaml_load_file(const char *path, struct mlip_yaml_node **root, struct mlip_err *err)
{
	FILE *f;
	int rc = mlip_open_input(&f, path, err);
	if (rc)
		return rc;
	struct loader ld = { .name = strcmp(path, "-") ? path : "<stdin>", .err = err };
	if (!yaml_parser_initialize(&ld.parser)) {
		mlip_close_input(f);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	yaml_parser_set_input_file(&ld.parser, f);
	rc = load(&ld, root);
	if (rc && ferror(f))
		rc = mlip_err_set(err, MLIP_EIO, "%s: read error: %s", ld.name, strerror(errno));
	yaml_parser_delete(&ld.parser);
	mlip_close_input(f);
	return rc;
}

/* ---- overrides and merging ---- */

static struct mlip_yaml_node *key_new(const char *s, size_t len, const char *label)
{
	return scalar_new_at(s, len, false, label, 0, 0);
}

int mlip_yaml_set(struct mlip_yaml_node **root, const char *assignment, struct mlip_err *err)
{
	char label[512];
	const char *eq = strchr(assignment, '=');
	struct mlip_yaml_node *value = NULL;
	int rc;

	snprintf(label, sizeof(label), "--set %s", assignment);
	if (!eq)
		return mlip_err_set(err, MLIP_EINVAL, "%s: expected KEY=VALUE", label);
	size_t plen = (size_t)(eq - assignment);
	if (plen == 0)
		return mlip_err_set(err, MLIP_EINVAL, "%s: empty key", label);
	for (size_t i = 0; i < plen; i++)
		if (assignment[i] == '.' && (i == 0 || i + 1 == plen || assignment[i + 1] == '.'))
			return mlip_err_set(err, MLIP_EINVAL, "%s: empty segment in key '%.*s'",
					    label, (int)plen, assignment);
	if ((rc = load_string(eq + 1, strlen(eq + 1), label, true, &value, err)))
		return rc;

	if (!*root || mlip_yaml_is_null(*root)) {
		struct mlip_yaml_node *m = node_new(MLIP_YAML_MAPPING, label, 0, 0);
		if (!m) {
			mlip_yaml_free(value);
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		}
		mlip_yaml_free(*root);
		*root = m;
	}
	struct mlip_yaml_node **slot = root;
	const char *p = assignment;
	for (;;) {
		const char *dot = memchr(p, '.', (size_t)(eq - p));
		size_t len = dot ? (size_t)(dot - p) : (size_t)(eq - p);
		bool last = !dot;
		struct mlip_yaml_node *n = *slot;
		char where[256];

		if (mlip_yaml_is_null(n)) {
			/* `model:` left empty in the file: the override fills it in */
			struct mlip_yaml_node *m = node_new(MLIP_YAML_MAPPING, label, 0, 0);
			if (!m)
				goto nomem;
			mlip_yaml_free(n);
			*slot = n = m;
		}
		/* the path walked so far, for messages */
		int dlen = p == assignment ? 6 : (int)(p - assignment - 1);
		const char *done = p == assignment ? "<root>" : assignment;
		if (n->kind == MLIP_YAML_SCALAR) {
			rc = mlip_err_set(err, MLIP_EINVAL, "%s: '%.*s' is a scalar (at %s), not a "
					  "mapping or sequence", label, dlen, done,
					  mlip_yaml_where(n, where, sizeof(where)));
			goto fail;
		}
		struct mlip_yaml_node *child = NULL;
		if (n->kind == MLIP_YAML_MAPPING) {
			ptrdiff_t i = map_find(n, p, len);
			if (i >= 0) {
				slot = &n->items[i];
			} else {
				struct mlip_yaml_node *k = key_new(p, len, label);
				child = last ? value : node_new(MLIP_YAML_MAPPING, label, 0, 0);
				if (!k || !child) {
					mlip_yaml_free(k);
					if (!last)
						mlip_yaml_free(child);
					goto nomem;
				}
				if (push(n, k, child)) {
					if (last)
						value = NULL;
					goto nomem;
				}
				slot = &n->items[n->n - 1];
				if (last)
					return MLIP_OK;
			}
		} else {
			long long i = seg_index(p, len);
			if (i < 0 || (size_t)i > n->n) {
				rc = mlip_err_set(err, MLIP_EINVAL, "%s: '%.*s' is not an index of "
						  "'%.*s' (a sequence of %zu at %s)", label, (int)len,
						  p, dlen, done, n->n,
						  mlip_yaml_where(n, where, sizeof(where)));
				goto fail;
			}
			if ((size_t)i == n->n) {
				child = last ? value : node_new(MLIP_YAML_MAPPING, label, 0, 0);
				if (!child || push(n, NULL, child)) {
					if (last)
						value = NULL;
					goto nomem;
				}
				if (last)
					return MLIP_OK;
			}
			slot = &n->items[i];
		}
		if (last) {
			mlip_yaml_free(*slot);
			*slot = value;
			return MLIP_OK;
		}
		p = dot + 1;
	}
nomem:
	rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
fail:
	mlip_yaml_free(value);
	return rc;
}

int mlip_yaml_unset(struct mlip_yaml_node *root, const char *path, struct mlip_err *err)
{
	char label[512];
	snprintf(label, sizeof(label), "--unset %s", path);
	struct mlip_yaml_node *n = root;
	const char *p = path;
	if (!*path || strchr(path, '='))
		return mlip_err_set(err, MLIP_EINVAL, "%s: expected a KEY (a dotted path)", label);
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		ptrdiff_t i = -1;
		if (len == 0)
			return mlip_err_set(err, MLIP_EINVAL, "%s: empty segment", label);
		if (n && n->kind == MLIP_YAML_MAPPING) {
			i = map_find(n, p, len);
		} else if (n && n->kind == MLIP_YAML_SEQUENCE) {
			long long k = seg_index(p, len);
			i = k >= 0 && (size_t)k < n->n ? (ptrdiff_t)k : -1;
		}
		if (i < 0)
			return mlip_err_set(err, MLIP_EINVAL, "%s: the configuration has no '%.*s'", label,
					    (int)(p + len - path), path);
		if (dot) {
			n = n->items[i];
			p = dot + 1;
			continue;
		}
		/* remove pair or item i; the later ones move up (tasks.3 becomes tasks.2) */
		mlip_yaml_free(n->items[i]);
		if (n->keys)
			mlip_yaml_free(n->keys[i]);
		for (size_t k = (size_t)i; k + 1 < n->n; k++) {
			n->items[k] = n->items[k + 1];
			if (n->keys)
				n->keys[k] = n->keys[k + 1];
		}
		n->n--;
		return MLIP_OK;
	}
}

int mlip_yaml_merge(struct mlip_yaml_node **dst, const struct mlip_yaml_node *src,
		    struct mlip_err *err)
{
	struct mlip_yaml_node *d = *dst;
	if (d && d->kind == MLIP_YAML_MAPPING && src->kind == MLIP_YAML_MAPPING) {
		for (size_t k = 0; k < src->n; k++) {
			ptrdiff_t i = map_find(d, src->keys[k]->text, src->keys[k]->len);
			int rc;
			if (i >= 0) {
				rc = mlip_yaml_merge(&d->items[i], src->items[k], err);
			} else {
				struct mlip_yaml_node *kc = mlip_yaml_copy(src->keys[k]);
				struct mlip_yaml_node *vc = mlip_yaml_copy(src->items[k]);
				if (!kc || !vc) {
					mlip_yaml_free(kc);
					mlip_yaml_free(vc);
					rc = MLIP_ENOMEM;
				} else {
					rc = push(d, kc, vc);
				}
				if (rc)
					rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			}
			if (rc)
				return rc;
		}
		return MLIP_OK;
	}
	struct mlip_yaml_node *c = mlip_yaml_copy(src);
	if (!c)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	mlip_yaml_free(d);
	*dst = c;
	return MLIP_OK;
}

bool mlip_yaml_equal(const struct mlip_yaml_node *a, const struct mlip_yaml_node *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->n != b->n)
		return false;
	if (a->kind == MLIP_YAML_SCALAR)
		return a->quoted == b->quoted && a->len == b->len && !memcmp(a->text, b->text, a->len);
	for (size_t i = 0; i < a->n; i++) {
		if (a->kind == MLIP_YAML_SEQUENCE) {
			if (!mlip_yaml_equal(a->items[i], b->items[i]))
				return false;
			continue;
		}
		ptrdiff_t j = map_find(b, a->keys[i]->text, a->keys[i]->len);
		if (j < 0 || !mlip_yaml_equal(a->items[i], b->items[j]))
			return false;
	}
	return true;
}

/* ---- emitting ---- */

struct outbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static int out_write(void *data, unsigned char *buf, size_t size)
{
	struct outbuf *o = data;
	if (o->len + size + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < o->len + size + 1)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->failed = 1;
			return 0;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, size);
	o->len += size;
	o->p[o->len] = '\0';
	return 1;
}

/*
 * A plain scalar that is safe inside a flow sequence: libyaml would quote
 * anything with flow indicators, so those lists are written in block style
 * instead (a quoted reload would not be the same tree).
 */
static bool flow_safe(const struct mlip_yaml_node *n)
{
	if (n->kind != MLIP_YAML_SCALAR)
		return false;
	if (n->quoted)
		return true;
	if (n->len == 0 || (n->text[0] == '-' && n->len == 1))
		return false;
	for (size_t i = 0; i < n->len; i++) {
		char c = n->text[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		      c == '.' || c == '_' || c == '+' || c == '-' || c == '/' || c == '~'))
			return false;
	}
	return true;
}

static int emit_event(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -1;
}

static int emit_node(yaml_emitter_t *e, const struct mlip_yaml_node *n)
{
	yaml_event_t ev;
	int ok;
	if (n->kind == MLIP_YAML_SCALAR) {
		ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)n->text,
						  (int)n->len, !n->quoted, 1,
						  n->quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
							    : YAML_PLAIN_SCALAR_STYLE);
		return ok ? emit_event(e, &ev) : -1;
	}
	if (n->kind == MLIP_YAML_SEQUENCE) {
		bool flow = n->n > 0;
		for (size_t i = 0; i < n->n && flow; i++)
			flow = flow_safe(n->items[i]);
		ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, flow ?
							  YAML_FLOW_SEQUENCE_STYLE :
							  YAML_BLOCK_SEQUENCE_STYLE);
		if (!ok || emit_event(e, &ev))
			return -1;
		for (size_t i = 0; i < n->n; i++)
			if (emit_node(e, n->items[i]))
				return -1;
		ok = yaml_sequence_end_event_initialize(&ev);
		return ok ? emit_event(e, &ev) : -1;
	}
	ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	if (!ok || emit_event(e, &ev))
		return -1;
	for (size_t i = 0; i < n->n; i++)
		if (emit_node(e, n->keys[i]) || emit_node(e, n->items[i]))
			return -1;
	ok = yaml_mapping_end_event_initialize(&ev);
	return ok ? emit_event(e, &ev) : -1;
}

int mlip_yaml_emit(const struct mlip_yaml_node *root, char **text, size_t *len,
		   struct mlip_err *err)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	struct outbuf o = { 0 };
	int rc = MLIP_OK;

	if (!yaml_emitter_initialize(&e))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	yaml_emitter_set_output(&e, out_write, &o);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_indent(&e, 2);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit_event(&e, &ev) ||
	    !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    emit_event(&e, &ev) || emit_node(&e, root) ||
	    !yaml_document_end_event_initialize(&ev, 1) || emit_event(&e, &ev) ||
	    !yaml_stream_end_event_initialize(&ev) || emit_event(&e, &ev) ||
	    !yaml_emitter_flush(&e)) {
		if (o.failed || e.error == YAML_MEMORY_ERROR)
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		else
			rc = mlip_err_set(err, MLIP_EINVAL, "cannot emit yaml: %s",
					  e.problem ? e.problem : "unknown error");
	}
	yaml_emitter_delete(&e);
	if (rc) {
		free(o.p);
		return rc;
	}
	if (!o.p && !(o.p = calloc(1, 1)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	*text = o.p;
	if (len)
		*len = o.len;
	return MLIP_OK;
}

/* ---- JSON ---- */

static json_t *scalar_json(const struct mlip_yaml_node *n)
{
	int64_t i;
	double d;
	int b;
	if (n->quoted)
		return json_string(n->text);
	if (mlip_yaml_is_null(n))
		return json_null();
	if ((b = parse_bool(n->text)) >= 0)
		return json_boolean(b);
	if (parse_int(n->text, &i) == 0)
		return json_integer((json_int_t)i);
	if (parse_double(n->text, &d) == 0)
		return json_real(d);
	return json_string(n->text);
}

static json_t *node_json(const struct mlip_yaml_node *n)
{
	json_t *j;
	if (n->kind == MLIP_YAML_SCALAR)
		return scalar_json(n);
	j = n->kind == MLIP_YAML_SEQUENCE ? json_array() : json_object();
	for (size_t i = 0; j && i < n->n; i++) {
		json_t *v = node_json(n->items[i]);
		int bad = !v || (n->kind == MLIP_YAML_SEQUENCE ? json_array_append_new(j, v)
				 : json_object_set_new(j, n->keys[i]->text, v));
		if (bad) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

int mlip_yaml_to_json(const struct mlip_yaml_node *node, void **json, struct mlip_err *err)
{
	json_t *j = node_json(node);
	if (!j)
		return mlip_err_set(err, MLIP_ENOMEM, "cannot convert yaml to json (out of memory "
				    "or invalid utf-8)");
	*json = j;
	return MLIP_OK;
}
