/*
 * yamltree.h - a small YAML document tree with source locations.
 *
 * The tree is built from libyaml's event parser (not its document loader) so
 * that every node remembers where it started: file name, 1-based line and
 * column. Node kinds are scalar, sequence and mapping. A scalar keeps its
 * text and whether it was written quoted (or as a block scalar |, >): a
 * quoted "1" is a string, a plain 1 is whatever the reader asks it to be.
 * Typing happens only in the getters, so `name: No` stays the text "No".
 *
 * Limits, by design: one document per stream; anchors, aliases and tags
 * other than !!str are rejected with an error naming the location (configs
 * are short and explicit); mapping keys are scalars and a duplicate key is
 * an error that names both places.
 *
 * Paths address nodes with dots: "optim.lr", "tasks.0.loss.name". A segment
 * of digits indexes a sequence; on a mapping every segment is a key, so keys
 * containing a dot cannot be addressed.
 *
 * Error messages follow "FILE:LINE:COLUMN: key 'optim.lr': expected a number,
 * got 'abc'" and carry MLIP_EINVAL (MLIP_EIO when a file cannot be read,
 * MLIP_ENOMEM when memory runs out). Nodes made by an override carry the
 * override as their file ("--set optim.lr=abc") and line 0, and are then
 * located as just that string.
 *
 * Ownership: a node owns its children, keys, text and file string;
 * mlip_yaml_free() frees a whole subtree. Getters return borrowed pointers
 * valid until the tree changes.
 */
#ifndef MLIP_YAMLTREE_H
#define MLIP_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum mlip_yaml_kind {
	MLIP_YAML_SCALAR = 1,
	MLIP_YAML_SEQUENCE = 2,
	MLIP_YAML_MAPPING = 3,
};

struct mlip_yaml_node {
	enum mlip_yaml_kind kind;
	char *file;                      /* source name (owned); NULL for nodes made in memory */
	unsigned line, column;           /* 1-based start; 0 for overrides and memory nodes */
	char *text;                      /* scalar text, NUL-terminated (owned); NULL otherwise */
	size_t len;                      /* strlen(text) */
	bool quoted;                     /* scalar written quoted or as a block scalar */
	size_t n, cap;                   /* sequence items / mapping pairs */
	struct mlip_yaml_node **items;   /* (n) sequence items or mapping values */
	struct mlip_yaml_node **keys;    /* (n) mapping keys (scalars); NULL for sequences */
};

/* Flags for the getters. */
enum {
	MLIP_YAML_ALLOW_INF = 1 << 0,        /* doubles: accept .inf / -.inf */
	MLIP_YAML_ALLOW_NAN = 1 << 1,        /* doubles: accept .nan */
	MLIP_YAML_SCALAR_AS_LIST = 1 << 2,   /* lists: a lone scalar is a one-element list */
};

/*
 * Parse one YAML document from the file at path ("-" reads stdin and is named
 * "<stdin>" in messages) into *root. An empty document gives a null scalar
 * at 1:1. Syntax errors read "FILE:LINE:COLUMN: invalid yaml: PROBLEM".
 *   struct mlip_yaml_node *t;
 *   if (mlip_yaml_load_file("train.yaml", &t, &err)) return err.code;
 */
int mlip_yaml_load_file(const char *path, struct mlip_yaml_node **root, struct mlip_err *err);

/* The same from len bytes of text; name labels the locations. */
int mlip_yaml_load_string(const char *text, size_t len, const char *name,
			  struct mlip_yaml_node **root, struct mlip_err *err);

/* Free a node and everything under it; NULL is fine. */
void mlip_yaml_free(struct mlip_yaml_node *node);

/*
 * Build nodes in memory (location: none, file NULL). Return NULL when out of
 * memory. Adding to a collection takes ownership of value even on failure.
 */
struct mlip_yaml_node *mlip_yaml_scalar_new(const char *text, bool quoted);
struct mlip_yaml_node *mlip_yaml_sequence_new(void);
struct mlip_yaml_node *mlip_yaml_mapping_new(void);
int mlip_yaml_seq_push(struct mlip_yaml_node *seq, struct mlip_yaml_node *value);
/* Set key to value in map, replacing (and freeing) an old value. */
int mlip_yaml_map_set(struct mlip_yaml_node *map, const char *key, struct mlip_yaml_node *value);

/* A deep copy (locations included), NULL when out of memory. */
struct mlip_yaml_node *mlip_yaml_copy(const struct mlip_yaml_node *node);

/* The value of key in a mapping (NULL if absent or node is not a mapping). */
const struct mlip_yaml_node *mlip_yaml_map_get(const struct mlip_yaml_node *map, const char *key);
/* The key node of key in a mapping, for its location (NULL if absent). */
const struct mlip_yaml_node *mlip_yaml_map_key(const struct mlip_yaml_node *map, const char *key);

/* The node at a dotted path ("" is root itself), NULL if any step is missing. */
const struct mlip_yaml_node *mlip_yaml_get(const struct mlip_yaml_node *root, const char *path);

/* True for a plain scalar "", "~", "null", "Null" or "NULL". */
bool mlip_yaml_is_null(const struct mlip_yaml_node *node);

/*
 * Where a node starts: "FILE:LINE:COLUMN", or the override string for line 0,
 * or "<memory>". Returns buf.
 */
const char *mlip_yaml_where(const struct mlip_yaml_node *node, char *buf, size_t size);

/*
 * Set err to "WHERE: key 'KEY': MESSAGE" (or "WHERE: MESSAGE" when key is
 * NULL) and return code. The common way to report a bad value.
 */
int mlip_yaml_errf(struct mlip_err *err, int code, const struct mlip_yaml_node *node,
		   const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Typed conversions of one node; key names the node in messages (a dotted
 * path usually). Wrong kinds and bad text are MLIP_EINVAL, e.g.
 *   "cfg.yaml:4:7: key 'optim.lr': expected a number, got 'abc'".
 * Quoted scalars are strings: only mlip_yaml_as_string accepts them.
 *  - int: decimal, 0x hex or 0o octal, optional sign, within int64;
 *  - double: YAML 1.2 floats ("1e-3", "2.", ".5") and integers; ".inf",
 *    "-.inf" and ".nan" only with MLIP_YAML_ALLOW_INF / _NAN;
 *  - bool: true/false, yes/no, on/off, y/n in the YAML 1.1 spellings;
 *  - string: any non-null scalar, borrowed from the tree.
 */
int mlip_yaml_as_int(const struct mlip_yaml_node *n, const char *key, int64_t *out,
		     struct mlip_err *err);
int mlip_yaml_as_double(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			double *out, struct mlip_err *err);
int mlip_yaml_as_bool(const struct mlip_yaml_node *n, const char *key, bool *out,
		      struct mlip_err *err);
int mlip_yaml_as_string(const struct mlip_yaml_node *n, const char *key, const char **out,
			struct mlip_err *err);

/*
 * Lists: a sequence of scalars, each converted as above (item messages name
 * "KEY.INDEX"). With MLIP_YAML_SCALAR_AS_LIST a lone scalar is a list of one.
 * *out is malloc'd (strings: an array of malloc'd strings; free it with
 * mlip_yaml_strings_free); an empty list gives *out NULL and *count 0.
 */
int mlip_yaml_as_strings(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			 char ***out, size_t *count, struct mlip_err *err);
int mlip_yaml_as_doubles(const struct mlip_yaml_node *n, const char *key, unsigned flags,
			 double **out, size_t *count, struct mlip_err *err);
int mlip_yaml_as_ints(const struct mlip_yaml_node *n, const char *key, unsigned flags,
		      int64_t **out, size_t *count, struct mlip_err *err);
void mlip_yaml_strings_free(char **list, size_t count);

/*
 * Path getters: mlip_yaml_get(root, path) then the conversion above, the
 * path naming the key in messages. An absent key (or a null value) leaves
 * *out as it was and returns MLIP_OK, so callers set defaults first:
 *   double lr = 1e-3;
 *   if (mlip_yaml_get_double(t, "optim.lr", 0, &lr, &err)) return err.code;
 */
int mlip_yaml_get_int(const struct mlip_yaml_node *root, const char *path, int64_t *out,
		      struct mlip_err *err);
int mlip_yaml_get_double(const struct mlip_yaml_node *root, const char *path, unsigned flags,
			 double *out, struct mlip_err *err);
int mlip_yaml_get_bool(const struct mlip_yaml_node *root, const char *path, bool *out,
		       struct mlip_err *err);
int mlip_yaml_get_string(const struct mlip_yaml_node *root, const char *path, const char **out,
			 struct mlip_err *err);

/*
 * MLIP_OK if path exists (null values count as present); otherwise
 * MLIP_EINVAL "WHERE: missing required key 'PATH'" located at the deepest
 * mapping that does exist on the way.
 */
int mlip_yaml_require(const struct mlip_yaml_node *root, const char *path, struct mlip_err *err);

/*
 * Apply an override "a.b.c=VALUE". VALUE is parsed as YAML (so "[32, 32]"
 * is a sequence, "'1'" a string, "" null). Missing mapping keys on the way
 * are created; a digit segment indexes a sequence (index n appends); a null
 * on the way becomes a mapping. Every new node is located as the override
 * string. *root may be replaced (a null root becomes a mapping).
 * Errors: no '=', an empty path or segment, a bad VALUE, an index out of
 * range, a path through a scalar (MLIP_EINVAL, naming the override).
 *   mlip_yaml_set(&t, "tasks.0.loss=mae", &err);
 */
int mlip_yaml_set(struct mlip_yaml_node **root, const char *assignment, struct mlip_err *err);

/*
 * Remove the value at a dotted path ("tasks.2", "optim.lbfgs"): a mapping
 * pair, or a sequence item (the later items move up). MLIP_EINVAL when the
 * path does not exist, naming the part that does not.
 *   mlip_yaml_unset(t, "tasks.2", &err);
 */
int mlip_yaml_unset(struct mlip_yaml_node *root, const char *path, struct mlip_err *err);

/*
 * Deep-merge src into dst: for two mappings each key of src is merged
 * recursively into dst's value; in every other case dst's value is replaced
 * by a copy of src's (scalars and sequences replace). Locations come along,
 * so errors point at the file that set a value. *dst may be replaced.
 */
int mlip_yaml_merge(struct mlip_yaml_node **dst, const struct mlip_yaml_node *src,
		    struct mlip_err *err);

/*
 * Structural equality: same kinds, scalar text and quotedness, sequence
 * items in order, mapping pairs in any order. Locations are ignored.
 */
bool mlip_yaml_equal(const struct mlip_yaml_node *a, const struct mlip_yaml_node *b);

/*
 * Emit a tree as YAML text with libyaml's emitter: block style, sequences
 * of simple scalars in flow style, quoted scalars double-quoted.
 * mlip_yaml_load_string(emit(t)) is mlip_yaml_equal to t for every tree the
 * loader made. A plain scalar made in memory whose text YAML cannot write
 * plain ("a: b", " x", an empty key) comes back quoted: make it quoted.
 * *text is malloc'd and NUL-terminated; len may be NULL.
 */
int mlip_yaml_emit(const struct mlip_yaml_node *root, char **text, size_t *len,
		   struct mlip_err *err);

/*
 * A JSON value of the same shape (jansson json_t *, returned as void * to
 * keep jansson out of this header): plain scalars become null, booleans,
 * integers or reals where they read as such, everything else a string
 * (.inf and .nan too: JSON has no such numbers). Caller json_decref()s it.
 */
int mlip_yaml_to_json(const struct mlip_yaml_node *node, void **json, struct mlip_err *err);

#endif
