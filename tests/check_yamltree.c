/*
 * check_yamltree.c - the located YAML tree: locations, every getter and its
 * messages, overrides, deep merge, emit/load round trips (including random
 * trees), equality, and deliberately broken documents.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "yamltree.h"
#include "testutil.h"

static struct mlip_yaml_node *load(const char *text)
{
	struct mlip_yaml_node *t = NULL;
	struct mlip_err err = { 0 };
	int rc = mlip_yaml_load_string(text, strlen(text), "t.yaml", &t, &err);
	ck_assert_msg(rc == 0, "load failed: %s", err.msg);
	return t;
}

/* Load text that must fail; the message must equal want exactly. */
static void load_fails(const char *text, int code, const char *want)
{
	struct mlip_yaml_node *t = NULL;
	struct mlip_err err = { 0 };
	int rc = mlip_yaml_load_string(text, strlen(text), "t.yaml", &t, &err);
	ck_assert_int_eq(rc, code);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(err.msg, want);
}

static void loc_is(const struct mlip_yaml_node *n, unsigned line, unsigned col)
{
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->line, line);
	ck_assert_uint_eq(n->column, col);
	ck_assert_str_eq(n->file, "t.yaml");
}

#define LOC_DOC \
	"a: 1\n" \
	"b:\n" \
	"  - x\n" \
	"  - \"y\"\n" \
	"c: {d: [1, 2], e: 'q'}\n" \
	"f: |\n" \
	"  text\n" \
	"g:\n" \
	"h: end\n"

START_TEST(test_locations)
{
	struct mlip_yaml_node *t = load(LOC_DOC);
	ck_assert_int_eq(t->kind, MLIP_YAML_MAPPING);
	ck_assert_uint_eq(t->n, 6);
	loc_is(t, 1, 1);
	loc_is(t->keys[0], 1, 1);
	loc_is(mlip_yaml_get(t, "a"), 1, 4);
	loc_is(mlip_yaml_map_key(t, "b"), 2, 1);
	loc_is(mlip_yaml_get(t, "b"), 3, 3);
	ck_assert_int_eq(mlip_yaml_get(t, "b")->kind, MLIP_YAML_SEQUENCE);
	loc_is(mlip_yaml_get(t, "b.0"), 3, 5);
	loc_is(mlip_yaml_get(t, "b.1"), 4, 5);
	ck_assert(!mlip_yaml_get(t, "b.0")->quoted);
	ck_assert(mlip_yaml_get(t, "b.1")->quoted);
	ck_assert_str_eq(mlip_yaml_get(t, "b.1")->text, "y");
	loc_is(mlip_yaml_get(t, "c"), 5, 4);
	loc_is(mlip_yaml_get(t, "c.d"), 5, 8);
	loc_is(mlip_yaml_get(t, "c.d.1"), 5, 12);
	loc_is(mlip_yaml_map_key(mlip_yaml_get(t, "c"), "e"), 5, 16);
	loc_is(mlip_yaml_get(t, "c.e"), 5, 19);
	ck_assert(mlip_yaml_get(t, "c.e")->quoted);
	/* a block scalar is a string, newline kept */
	loc_is(mlip_yaml_get(t, "f"), 6, 4);
	ck_assert(mlip_yaml_get(t, "f")->quoted);
	ck_assert_str_eq(mlip_yaml_get(t, "f")->text, "text\n");
	ck_assert(mlip_yaml_is_null(mlip_yaml_get(t, "g")));
	loc_is(mlip_yaml_get(t, "g"), 8, 3);
	loc_is(mlip_yaml_get(t, "h"), 9, 4);
	/* paths that do not exist */
	ck_assert_ptr_null(mlip_yaml_get(t, "b.2"));
	ck_assert_ptr_null(mlip_yaml_get(t, "b.x"));
	ck_assert_ptr_null(mlip_yaml_get(t, "a.b"));
	ck_assert_ptr_null(mlip_yaml_get(t, "zz"));
	ck_assert_ptr_eq(mlip_yaml_get(t, ""), t);
	char buf[64];
	ck_assert_str_eq(mlip_yaml_where(mlip_yaml_get(t, "c.d.1"), buf, sizeof(buf)), "t.yaml:5:12");
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_empty_and_scalar_documents)
{
	struct mlip_yaml_node *t = load("");
	ck_assert(mlip_yaml_is_null(t));
	loc_is(t, 1, 1);
	mlip_yaml_free(t);
	t = load("# only a comment\n");
	ck_assert(mlip_yaml_is_null(t));
	mlip_yaml_free(t);
	t = load("--- 5\n");
	ck_assert_int_eq(t->kind, MLIP_YAML_SCALAR);
	ck_assert_str_eq(t->text, "5");
	mlip_yaml_free(t);
	/* !!str makes a plain scalar a string */
	t = load("a: !!str 12\n");
	ck_assert(mlip_yaml_get(t, "a")->quoted);
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_broken_documents)
{
	load_fails("a: 1\nb: 2\na: 3\n", MLIP_EINVAL,
		   "t.yaml:3:1: duplicate key 'a' (first at t.yaml:1:1)");
	load_fails("m:\n  x: 1\n  y: 2\n  x: 3\n", MLIP_EINVAL,
		   "t.yaml:4:3: duplicate key 'x' (first at t.yaml:2:3)");
	load_fails("f: {k: 1, k: 2}\n", MLIP_EINVAL,
		   "t.yaml:1:11: duplicate key 'k' (first at t.yaml:1:5)");
	load_fails("a: &x 1\nb: *x\n", MLIP_EINVAL,
		   "t.yaml:1:4: yaml anchors are not supported (&x): write the value out");
	load_fails("a: [1, *y]\n", MLIP_EINVAL,
		   "t.yaml:1:8: yaml aliases are not supported (*y): write the value out");
	load_fails("a: !foo 1\n", MLIP_EINVAL, "t.yaml:1:4: yaml tags are not supported (found '!foo')");
	load_fails("a: 1\n---\nb: 2\n", MLIP_EINVAL, "t.yaml:2:1: more than one yaml document");
	load_fails("? [a, b]\n: 1\n", MLIP_EINVAL, "t.yaml:1:3: mapping keys must be scalars");
	load_fails("a: [1, 2\n", MLIP_EINVAL,
		   "t.yaml:2:1: invalid yaml: did not find expected ',' or ']' "
		   "(while parsing a flow sequence at line 1 column 4)");
	load_fails("a: 1\n b: 2\n", MLIP_EINVAL,
		   "t.yaml:2:3: invalid yaml: mapping values are not allowed in this context");
	load_fails("a: \"x", MLIP_EINVAL, "t.yaml:1:6: invalid yaml: found unexpected end "
		   "of stream (while scanning a quoted scalar at line 1 column 4)");
	load_fails("a: \"x\\0y\"", MLIP_EINVAL, "t.yaml:1:4: NUL character in a scalar");

	/* nesting is bounded, not a stack overflow */
	char deep[1300];
	memset(deep, '[', 600);
	memset(deep + 600, ']', 600);
	deep[1200] = '\0';
	struct mlip_yaml_node *t = NULL;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_yaml_load_string(deep, 1200, "t.yaml", &t, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:1:202: yaml nested deeper than 200 levels");
}
END_TEST

START_TEST(test_load_file)
{
	char path[] = "/tmp/mlip-yamltree-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char *doc = "optim:\n  lr: abc\n";
	ck_assert_int_eq(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);
	struct mlip_yaml_node *t = NULL;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_yaml_load_file(path, &t, &err), 0);
	double lr = 1;
	ck_assert_int_eq(mlip_yaml_get_double(t, "optim.lr", 0, &lr, &err), MLIP_EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:2:7: key 'optim.lr': expected a number, got 'abc'", path);
	ck_assert_str_eq(err.msg, want);
	ck_assert_double_eq(lr, 1);
	mlip_yaml_free(t);
	unlink(path);
	t = NULL;
	ck_assert_int_eq(mlip_yaml_load_file(path, &t, &err), MLIP_EIO);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(err.msg, path));
}
END_TEST

/* ---- getters ---- */

static int64_t int_of(const char *text, int *rc, char *msg)
{
	char doc[128];
	struct mlip_err err = { 0 };
	int64_t v = 12345;
	snprintf(doc, sizeof(doc), "k: %s\n", text);
	struct mlip_yaml_node *t = load(doc);
	*rc = mlip_yaml_as_int(mlip_yaml_get(t, "k"), "k", &v, &err);
	if (msg)
		memcpy(msg, err.msg, sizeof(err.msg));
	mlip_yaml_free(t);
	return v;
}

START_TEST(test_int)
{
	static const struct { const char *text; int64_t v; } ok[] = {
		{ "0", 0 }, { "-5", -5 }, { "+3", 3 }, { "010", 10 }, { "0x1f", 31 },
		{ "0xFF", 255 }, { "0o17", 15 }, { "-0x10", -16 },
		{ "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN },
	};
	char msg[MLIP_ERR_MSG_MAX];
	int rc;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = int_of(ok[i].text, &rc, msg);
		ck_assert_msg(rc == 0, "%s: %s", ok[i].text, msg);
		ck_assert_int_eq(v, ok[i].v);
	}
	static const struct { const char *text, *msg; } no[] = {
		{ "1.5", "t.yaml:1:4: key 'k': expected an integer, got '1.5'" },
		{ "1e3", "t.yaml:1:4: key 'k': expected an integer, got '1e3'" },
		{ "abc", "t.yaml:1:4: key 'k': expected an integer, got 'abc'" },
		{ "'1'", "t.yaml:1:4: key 'k': expected an integer, got the quoted string \"1\"" },
		{ "", "t.yaml:1:3: key 'k': expected an integer, got null" },
		{ "[1]", "t.yaml:1:4: key 'k': expected an integer, got a sequence" },
		{ "{a: 1}", "t.yaml:1:4: key 'k': expected an integer, got a mapping" },
		{ "0x", "t.yaml:1:4: key 'k': expected an integer, got '0x'" },
		{ "0o8", "t.yaml:1:4: key 'k': expected an integer, got '0o8'" },
		{ "1_000", "t.yaml:1:4: key 'k': expected an integer, got '1_000'" },
		{ "9223372036854775808", "t.yaml:1:4: key 'k': integer '9223372036854775808' is out of range" },
		{ "-9223372036854775809", "t.yaml:1:4: key 'k': integer '-9223372036854775809' is out of range" },
		{ "99999999999999999999999", "t.yaml:1:4: key 'k': integer '99999999999999999999999' is out of range" },
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		int64_t v = int_of(no[i].text, &rc, msg);
		ck_assert_int_eq(rc, MLIP_EINVAL);
		ck_assert_int_eq(v, 12345); /* untouched */
		ck_assert_str_eq(msg, no[i].msg);
	}
}
END_TEST

static double dbl_of(const char *text, unsigned flags, int *rc, char *msg)
{
	char doc[128];
	struct mlip_err err = { 0 };
	double v = -777;
	snprintf(doc, sizeof(doc), "optim:\n  lr: %s\n", text);
	struct mlip_yaml_node *t = load(doc);
	*rc = mlip_yaml_get_double(t, "optim.lr", flags, &v, &err);
	if (msg)
		memcpy(msg, err.msg, sizeof(err.msg));
	mlip_yaml_free(t);
	return v;
}

START_TEST(test_double)
{
	static const struct { const char *text; double v; } ok[] = {
		{ "1e-3", 1e-3 }, { "1.0e-3", 1e-3 }, { ".5", 0.5 }, { "2.", 2.0 }, { "-1E+2", -100 },
		{ "10", 10 }, { "+0.25", 0.25 }, { "0x10", 16 }, { "1e-320", 1e-320 },
		{ "-0.0", 0.0 },
	};
	char msg[MLIP_ERR_MSG_MAX];
	int rc;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		double v = dbl_of(ok[i].text, 0, &rc, msg);
		ck_assert_msg(rc == 0, "%s: %s", ok[i].text, msg);
		ck_assert_double_eq(v, ok[i].v);
	}
	static const struct { const char *text, *msg; } no[] = {
		{ "abc", "t.yaml:2:7: key 'optim.lr': expected a number, got 'abc'" },
		{ "1e", "t.yaml:2:7: key 'optim.lr': expected a number, got '1e'" },
		{ ".", "t.yaml:2:7: key 'optim.lr': expected a number, got '.'" },
		{ "inf", "t.yaml:2:7: key 'optim.lr': expected a number, got 'inf'" },
		{ "nan", "t.yaml:2:7: key 'optim.lr': expected a number, got 'nan'" },
		{ "1,5", "t.yaml:2:7: key 'optim.lr': expected a number, got '1,5'" },
		{ "\"1\"", "t.yaml:2:7: key 'optim.lr': expected a number, got the quoted string \"1\"" },
		{ ".inf", "t.yaml:2:7: key 'optim.lr': expected a finite number, got '.inf'" },
		{ "-.Inf", "t.yaml:2:7: key 'optim.lr': expected a finite number, got '-.Inf'" },
		{ ".nan", "t.yaml:2:7: key 'optim.lr': expected a number, got '.nan' (not a number)" },
		{ "1e999", "t.yaml:2:7: key 'optim.lr': number '1e999' is out of range" },
		{ "[1e-3]", "t.yaml:2:7: key 'optim.lr': expected a number, got a sequence" },
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		double v = dbl_of(no[i].text, 0, &rc, msg);
		ck_assert_int_eq(rc, MLIP_EINVAL);
		ck_assert_double_eq(v, -777);
		ck_assert_str_eq(msg, no[i].msg);
	}
	/* infinities and nan only when asked */
	ck_assert(dbl_of(".inf", MLIP_YAML_ALLOW_INF, &rc, NULL) == HUGE_VAL && rc == 0);
	ck_assert(dbl_of("-.INF", MLIP_YAML_ALLOW_INF, &rc, NULL) == -HUGE_VAL && rc == 0);
	ck_assert(isnan(dbl_of(".NaN", MLIP_YAML_ALLOW_NAN, &rc, NULL)) && rc == 0);
	dbl_of(".nan", MLIP_YAML_ALLOW_INF, &rc, NULL);
	ck_assert_int_eq(rc, MLIP_EINVAL);
	/* absent and null keys leave the default */
	ck_assert_double_eq(dbl_of("", 0, &rc, NULL), -777);
	ck_assert_int_eq(rc, 0);

	/* any double printed with 17 digits reads back exactly */
	uint64_t s = 7;
	for (int i = 0; i < 2000; i++) {
		double x = (test_rand_unif(&s) - 0.5) * pow(10, (int)(test_rand_unif(&s) * 600) - 300);
		char text[64];
		snprintf(text, sizeof(text), "%.17g", x);
		double v = dbl_of(text, 0, &rc, msg);
		ck_assert_msg(rc == 0 && v == x, "%s: %s", text, msg);
	}
}
END_TEST

START_TEST(test_bool_and_string)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on",
					   "On", "ON", "y", "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off",
					  "Off", "OFF", "n", "N" };
	struct mlip_err err = { 0 };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		char doc[64];
		bool a = false, b = true;
		snprintf(doc, sizeof(doc), "a: %s\nb: %s\n", yes[i], no[i]);
		struct mlip_yaml_node *t = load(doc);
		ck_assert_int_eq(mlip_yaml_get_bool(t, "a", &a, &err), 0);
		ck_assert_int_eq(mlip_yaml_get_bool(t, "b", &b, &err), 0);
		ck_assert(a && !b);
		/* and as strings they stay what was written */
		const char *s = NULL;
		ck_assert_int_eq(mlip_yaml_get_string(t, "a", &s, &err), 0);
		ck_assert_str_eq(s, yes[i]);
		mlip_yaml_free(t);
	}
	struct mlip_yaml_node *t = load("a: maybe\nb: 'true'\nc: 1\nd:\ne: [x]\nf: \"\"\ng: 12\n");
	bool v = true;
	ck_assert_int_eq(mlip_yaml_get_bool(t, "a", &v, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:1:4: key 'a': expected a boolean (true or false), got 'maybe'");
	ck_assert_int_eq(mlip_yaml_get_bool(t, "b", &v, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:2:4: key 'b': expected a boolean (true or false), "
			 "got the quoted string \"true\"");
	ck_assert_int_eq(mlip_yaml_get_bool(t, "c", &v, &err), MLIP_EINVAL);
	ck_assert(v);

	const char *s = "default";
	ck_assert_int_eq(mlip_yaml_as_string(mlip_yaml_get(t, "d"), "d", &s, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:4:3: key 'd': expected a string, got null");
	ck_assert_int_eq(mlip_yaml_get_string(t, "e", &s, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:5:4: key 'e': expected a string, got a sequence");
	ck_assert_str_eq(s, "default");
	ck_assert_int_eq(mlip_yaml_get_string(t, "f", &s, &err), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(mlip_yaml_get_string(t, "g", &s, &err), 0);
	ck_assert_str_eq(s, "12");
	ck_assert_int_eq(mlip_yaml_get_string(t, "zz", &s, &err), 0); /* absent: untouched */
	ck_assert_str_eq(s, "12");
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_lists)
{
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *t = load("s: [a, 'b c', 3]\none: x\nd: [1, 2.5, -1e2]\n"
					"bad: [1, [2], 3]\ni: [3, 0x10]\nbi: [1, 2.5]\n"
					"m: {a: 1}\ne: []\n");
	char **s = NULL;
	size_t n = 99;
	ck_assert_int_eq(mlip_yaml_as_strings(mlip_yaml_get(t, "s"), "s", 0, &s, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(s[0], "a");
	ck_assert_str_eq(s[1], "b c");
	ck_assert_str_eq(s[2], "3");
	mlip_yaml_strings_free(s, n);
	ck_assert_int_eq(mlip_yaml_as_strings(mlip_yaml_get(t, "one"), "one", 0, &s, &n, &err),
			 MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:2:6: key 'one': expected a list of strings, got 'x'");
	ck_assert_int_eq(mlip_yaml_as_strings(mlip_yaml_get(t, "one"), "one",
					      MLIP_YAML_SCALAR_AS_LIST, &s, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(s[0], "x");
	mlip_yaml_strings_free(s, n);
	ck_assert_int_eq(mlip_yaml_as_strings(mlip_yaml_get(t, "e"), "e", 0, &s, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(s);

	double *d = NULL;
	ck_assert_int_eq(mlip_yaml_as_doubles(mlip_yaml_get(t, "d"), "d", 0, &d, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_double_eq(d[0], 1);
	ck_assert_double_eq(d[1], 2.5);
	ck_assert_double_eq(d[2], -100);
	free(d);
	ck_assert_int_eq(mlip_yaml_as_doubles(mlip_yaml_get(t, "bad"), "bad", 0, &d, &n, &err),
			 MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:4:10: key 'bad.1': expected a number, got a sequence");
	ck_assert_int_eq(mlip_yaml_as_doubles(mlip_yaml_get(t, "m"), "m", 0, &d, &n, &err),
			 MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:7:4: key 'm': expected a list of numbers, got a mapping");
	ck_assert_int_eq(mlip_yaml_as_strings(mlip_yaml_get(t, "bad"), "bad", 0, &s, &n, &err),
			 MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:4:10: key 'bad.1': expected a string, got a sequence");

	int64_t *iv = NULL;
	ck_assert_int_eq(mlip_yaml_as_ints(mlip_yaml_get(t, "i"), "i", 0, &iv, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(iv[0], 3);
	ck_assert_int_eq(iv[1], 16);
	free(iv);
	ck_assert_int_eq(mlip_yaml_as_ints(mlip_yaml_get(t, "bi"), "bi", 0, &iv, &n, &err),
			 MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:6:9: key 'bi.1': expected an integer, got '2.5'");
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_require_and_errf)
{
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *t = load("optim:\n  lr: 1\ntasks:\n  - name: a\n  - {name: b}\n");
	ck_assert_int_eq(mlip_yaml_require(t, "optim.lr", &err), 0);
	ck_assert_int_eq(mlip_yaml_require(t, "tasks.1.name", &err), 0);
	ck_assert_int_eq(mlip_yaml_require(t, "optim.eps", &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:2:3: missing required key 'optim.eps'");
	ck_assert_int_eq(mlip_yaml_require(t, "tasks.1.loss", &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:5:5: missing required key 'tasks.1.loss'");
	ck_assert_int_eq(mlip_yaml_require(t, "schedule.epochs", &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "t.yaml:1:1: missing required key 'schedule.epochs'");
	ck_assert_int_eq(mlip_yaml_errf(&err, MLIP_EDATA, mlip_yaml_get(t, "tasks.0.name"),
					"tasks.0.name", "no such %s", "thing"), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "t.yaml:4:11: key 'tasks.0.name': no such thing");
	ck_assert_int_eq(err.code, MLIP_EDATA);
	ck_assert_int_eq(mlip_yaml_errf(NULL, MLIP_EINVAL, t, NULL, "x"), MLIP_EINVAL);
	mlip_yaml_free(t);
}
END_TEST

/* ---- overrides ---- */

static void set_ok(struct mlip_yaml_node **t, const char *a)
{
	struct mlip_err err = { 0 };
	int rc = mlip_yaml_set(t, a, &err);
	ck_assert_msg(rc == 0, "%s: %s", a, err.msg);
}

static void set_fails(struct mlip_yaml_node **t, const char *a, const char *want)
{
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *before = mlip_yaml_copy(*t);
	ck_assert_int_eq(mlip_yaml_set(t, a, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, want);
	ck_assert(mlip_yaml_equal(before, *t)); /* a failed override changes nothing */
	mlip_yaml_free(before);
}

START_TEST(test_set)
{
	struct mlip_yaml_node *t = load("optim:\n  lr: 0.1\nmodel:\n  hidden: [8]\nempty:\n"
					"tasks:\n  - name: e\n    loss: {name: mse}\n  - name: f\n");
	struct mlip_err err = { 0 };
	char buf[128];

	set_ok(&t, "optim.lr=1e-4");
	double lr = 0;
	ck_assert_int_eq(mlip_yaml_get_double(t, "optim.lr", 0, &lr, &err), 0);
	ck_assert_double_eq(lr, 1e-4);
	/* the node now points at the command line */
	ck_assert_str_eq(mlip_yaml_where(mlip_yaml_get(t, "optim.lr"), buf, sizeof(buf)),
			 "--set optim.lr=1e-4");
	/* the key keeps its place in the file */
	ck_assert_uint_eq(mlip_yaml_map_key(mlip_yaml_get(t, "optim"), "lr")->line, 2);

	set_ok(&t, "model.hidden=[32, 32]");
	int64_t *h;
	size_t n;
	ck_assert_int_eq(mlip_yaml_as_ints(mlip_yaml_get(t, "model.hidden"), "model.hidden", 0,
					   &h, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(h[0], 32);
	ck_assert_int_eq(h[1], 32);
	free(h);

	set_ok(&t, "tasks.0.loss=mae");
	ck_assert_str_eq(mlip_yaml_get(t, "tasks.0.loss")->text, "mae");
	set_ok(&t, "tasks.1.loss.name=huber");
	set_ok(&t, "tasks.1.loss.delta=0.5");
	ck_assert_str_eq(mlip_yaml_get(t, "tasks.1.loss.name")->text, "huber");
	ck_assert_str_eq(mlip_yaml_get(t, "tasks.1.loss.delta")->text, "0.5");
	/* index n appends */
	set_ok(&t, "tasks.2.name=g");
	ck_assert_uint_eq(mlip_yaml_get(t, "tasks")->n, 3);
	ck_assert_str_eq(mlip_yaml_get(t, "tasks.2.name")->text, "g");
	set_ok(&t, "model.hidden.2=4");
	ck_assert_str_eq(mlip_yaml_get(t, "model.hidden.2")->text, "4");
	/* new nested keys, a null filled in, quoting, null and flow mappings */
	set_ok(&t, "train.ema.decay=0.999");
	ck_assert_int_eq(mlip_yaml_get(t, "train")->kind, MLIP_YAML_MAPPING);
	ck_assert_str_eq(mlip_yaml_where(mlip_yaml_get(t, "train"), buf, sizeof(buf)),
			 "--set train.ema.decay=0.999");
	set_ok(&t, "empty.x=1");
	ck_assert_str_eq(mlip_yaml_get(t, "empty.x")->text, "1");
	set_ok(&t, "name='007'");
	ck_assert(mlip_yaml_get(t, "name")->quoted);
	ck_assert_str_eq(mlip_yaml_get(t, "name")->text, "007");
	set_ok(&t, "gone=");
	ck_assert(mlip_yaml_is_null(mlip_yaml_get(t, "gone")));
	set_ok(&t, "norm={name: rmsd, mean: 0}");
	ck_assert_str_eq(mlip_yaml_get(t, "norm.mean")->text, "0");
	set_ok(&t, "eq=a=b");
	ck_assert_str_eq(mlip_yaml_get(t, "eq")->text, "a=b");

	/* an error in an overridden value names the override */
	int64_t v;
	set_ok(&t, "model.hidden=[32, abc]");
	ck_assert_int_eq(mlip_yaml_as_ints(mlip_yaml_get(t, "model.hidden"), "model.hidden", 0,
					   &h, &n, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--set model.hidden=[32, abc]: key 'model.hidden.1': "
			 "expected an integer, got 'abc'");
	ck_assert_int_eq(mlip_yaml_get_int(t, "optim.lr", &v, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--set optim.lr=1e-4: key 'optim.lr': expected an integer, "
			 "got '1e-4'");

	set_fails(&t, "optim.lr", "--set optim.lr: expected KEY=VALUE");
	set_fails(&t, "=3", "--set =3: empty key");
	set_fails(&t, "a..b=3", "--set a..b=3: empty segment in key 'a..b'");
	set_fails(&t, ".a=3", "--set .a=3: empty segment in key '.a'");
	set_fails(&t, "a.=3", "--set a.=3: empty segment in key 'a.'");
	set_fails(&t, "x=[1, 2", "--set x=[1, 2: invalid value: did not find expected ',' or ']'");
	set_fails(&t, "x={a: 1, a: 2}", "--set x={a: 1, a: 2}: duplicate key 'a'");
	set_fails(&t, "x=&a 1", "--set x=&a 1: yaml anchors are not supported (&a): write the "
		  "value out");
	set_fails(&t, "tasks.7.name=x", "--set tasks.7.name=x: '7' is not an index of 'tasks' "
		  "(a sequence of 3 at t.yaml:7:3)");
	set_fails(&t, "tasks.first=x", "--set tasks.first=x: 'first' is not an index of 'tasks' "
		  "(a sequence of 3 at t.yaml:7:3)");
	set_fails(&t, "optim.lr.x=1", "--set optim.lr.x=1: 'optim.lr' is a scalar (at --set "
		  "optim.lr=1e-4), not a mapping or sequence");
	set_fails(&t, "tasks.0.loss.name=x", "--set tasks.0.loss.name=x: 'tasks.0.loss' is a "
		  "scalar (at --set tasks.0.loss=mae), not a mapping or sequence");
	mlip_yaml_free(t);

	/* a null root becomes a mapping; a scalar root cannot take keys */
	t = NULL;
	set_ok(&t, "a.b=1");
	ck_assert_str_eq(mlip_yaml_get(t, "a.b")->text, "1");
	mlip_yaml_free(t);
	t = load("5\n");
	set_fails(&t, "a=1", "--set a=1: '<root>' is a scalar (at t.yaml:1:1), not a mapping or "
		  "sequence");
	mlip_yaml_free(t);
}
END_TEST

/* ---- merge ---- */

START_TEST(test_unset)
{
	struct mlip_yaml_node *t = load("optim:\n  lr: 0.1\n  lbfgs: {steps: 3}\n"
					"tasks:\n  - name: e\n  - name: f\n  - name: s\n");
	struct mlip_err err = { 0 };
	const char *name = NULL;
	ck_assert_int_eq(mlip_yaml_unset(t, "tasks.1", &err), 0);
	ck_assert_uint_eq(mlip_yaml_get(t, "tasks")->n, 2);
	ck_assert_int_eq(mlip_yaml_get_string(t, "tasks.1.name", &name, &err), 0);
	ck_assert_str_eq(name, "s"); /* the later items moved up */
	ck_assert_int_eq(mlip_yaml_unset(t, "optim.lbfgs", &err), 0);
	ck_assert_ptr_null(mlip_yaml_get(t, "optim.lbfgs"));
	ck_assert_ptr_nonnull(mlip_yaml_get(t, "optim.lr"));
	/* what is not there, and malformed paths, are errors that change nothing */
	struct mlip_yaml_node *before = mlip_yaml_copy(t);
	ck_assert_int_eq(mlip_yaml_unset(t, "tasks.2", &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--unset tasks.2: the configuration has no 'tasks.2'");
	ck_assert_int_eq(mlip_yaml_unset(t, "optim.lbfgs.steps", &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--unset optim.lbfgs.steps: the configuration has no 'optim.lbfgs'");
	ck_assert_int_eq(mlip_yaml_unset(t, "optim..lr", &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_yaml_unset(t, "optim.lr=1", &err), MLIP_EINVAL);
	ck_assert(mlip_yaml_equal(before, t));
	mlip_yaml_free(before);
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_merge)
{
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *base = load(
		"model:\n  hidden: [64, 64]\n  cutoff: 5.0\n  heads: [energy]\n"
		"optim: {lr: 0.001, betas: [0.9, 0.999]}\ntasks:\n  - {name: e}\n  - {name: f}\n");
	struct mlip_yaml_node *ovr = NULL;
	const char *ft = "model:\n  hidden: [32]\n  seed: 3\n"
			 "optim: {lr: 1e-4}\ntasks: [{name: g}]\nnew: {x: 1}\n";
	ck_assert_int_eq(mlip_yaml_load_string(ft, strlen(ft), "ft.yaml", &ovr, &err), 0);
	struct mlip_yaml_node *ovr_copy = mlip_yaml_copy(ovr);
	struct mlip_yaml_node *want = load(
		"model:\n  hidden: [32]\n  cutoff: 5.0\n  heads: [energy]\n  seed: 3\n"
		"optim: {lr: 1e-4, betas: [0.9, 0.999]}\ntasks: [{name: g}]\nnew: {x: 1}\n");
	ck_assert_int_eq(mlip_yaml_merge(&base, ovr, &err), 0);
	ck_assert(mlip_yaml_equal(base, want));
	ck_assert(mlip_yaml_equal(ovr, ovr_copy)); /* src untouched */
	/* merged values keep the location of the file that set them */
	ck_assert_str_eq(mlip_yaml_get(base, "optim.lr")->file, "ft.yaml");
	ck_assert_uint_eq(mlip_yaml_get(base, "optim.lr")->line, 4);
	ck_assert_str_eq(mlip_yaml_get(base, "optim.betas")->file, "t.yaml");
	ck_assert_str_eq(mlip_yaml_get(base, "new.x")->file, "ft.yaml");
	/* freeing the source does not disturb the result */
	mlip_yaml_free(ovr);
	mlip_yaml_free(ovr_copy);
	ck_assert(mlip_yaml_equal(base, want));
	mlip_yaml_free(want);

	/* a mapping replaces a scalar and the other way round */
	struct mlip_yaml_node *a = load("k: 1\nm: {x: 1}\n"), *b = load("k: {y: 2}\nm: 3\n");
	ck_assert_int_eq(mlip_yaml_merge(&a, b, &err), 0);
	ck_assert(mlip_yaml_equal(a, b));
	mlip_yaml_free(a);
	/* merging into a non-mapping root replaces it */
	a = load("7\n");
	ck_assert_int_eq(mlip_yaml_merge(&a, b, &err), 0);
	ck_assert(mlip_yaml_equal(a, b));
	mlip_yaml_free(a);
	mlip_yaml_free(b);
	mlip_yaml_free(base);
}
END_TEST

/* ---- equality and emit ---- */

START_TEST(test_equal)
{
	struct mlip_yaml_node *a = load("x: 1\ny: [a, b]\nz: {p: 1, q: 2}\n");
	struct mlip_yaml_node *b = load("# another layout\nz: {q: 2, p: 1}\nx: 1\ny:\n  - a\n  - b\n");
	ck_assert(mlip_yaml_equal(a, b));
	ck_assert(mlip_yaml_equal(b, a));
	static const char *const differ[] = {
		"x: '1'\ny: [a, b]\nz: {p: 1, q: 2}\n",       /* quoted */
		"x: 1\ny: [b, a]\nz: {p: 1, q: 2}\n",         /* sequence order */
		"x: 1\ny: [a, b]\nz: {p: 1, q: 2, r: 3}\n",   /* extra key */
		"x: 1\ny: [a, b]\nz: {p: 1, r: 2}\n",         /* other key */
		"x: 1.0\ny: [a, b]\nz: {p: 1, q: 2}\n",       /* text, not value */
		"x: 1\ny: [a, b, c]\nz: {p: 1, q: 2}\n",
		"x: 1\ny: {a: b}\nz: {p: 1, q: 2}\n",
		"x: 1\ny: [a, b]\nz: [p, q]\n",
	};
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		struct mlip_yaml_node *c = load(differ[i]);
		ck_assert_msg(!mlip_yaml_equal(a, c), "case %zu", i);
		ck_assert_msg(!mlip_yaml_equal(c, a), "case %zu", i);
		mlip_yaml_free(c);
	}
	ck_assert(mlip_yaml_equal(NULL, NULL));
	ck_assert(!mlip_yaml_equal(a, NULL));
	mlip_yaml_free(a);
	mlip_yaml_free(b);
}
END_TEST

static void round_trip(const struct mlip_yaml_node *t)
{
	struct mlip_err err = { 0 };
	char *text = NULL;
	size_t len = 0;
	ck_assert_msg(mlip_yaml_emit(t, &text, &len, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(len, strlen(text));
	struct mlip_yaml_node *u = NULL;
	ck_assert_msg(mlip_yaml_load_string(text, len, "emitted", &u, &err) == 0, "%s\n%s", err.msg,
		      text);
	ck_assert_msg(mlip_yaml_equal(t, u), "not the same tree after emit:\n%s", text);
	mlip_yaml_free(u);
	free(text);
}

START_TEST(test_emit_round_trip)
{
	static const char *const docs[] = {
		"",
		"5\n",
		"'quoted root'\n",
		LOC_DOC,
		"a: [1, '2', \"three\", 4.5e-3, .inf, ~, null]\n",
		"nulls:\n  -\n  - ~\n  -\n",
		"s: \"tab\\there\\nnewline \\\" quote \\\\ backslash\"\n",
		"u: \"\\u00e9t\\u00e9 \\u00c5 \\u4e2d\"\nplain: \xc3\xa9t\xc3\xa9\n",
		"'key with: colon': 1\n'': empty key\n\"#\": hash\n'-': dash\n",
		"x: 'a, b'\ny: [a b, 'c, d', '[e]', '{f}', '#g', '&h', '*i', '!j', '|k', '>l']\n",
		"empty_list: []\nempty_map: {}\nnested: [[], [{}], [[1, 2], [3]]]\n",
		"folded: >\n  one\n  two\n\n  three\nlit: |-\n  keep\n   indent\n",
		"long: " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbb cccc\n",
		"multi word plain: a plain scalar with spaces\nstdin: '-'\n",
		"- a\n- - b\n  - c\n- {d: e}\n",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct mlip_yaml_node *t = load(docs[i]);
		round_trip(t);
		mlip_yaml_free(t);
	}
}
END_TEST

/* A random tree: plain words, arbitrary quoted strings, nulls, nesting. */
static struct mlip_yaml_node *random_tree(uint64_t *s, int depth)
{
	static const char *const plain[] = { "a", "energy", "1", "-2.5e-3", "true", "0x1f",
		"per_atom_mae", "Si", "x.y/z", "~", "null", "no", "a b c", "1.0", ".inf" };
	int kind = depth > 3 ? 0 : (int)(test_rand_unif(s) * 3);
	if (kind == 0) {
		if (test_rand_unif(s) < 0.5)
			return mlip_yaml_scalar_new(plain[(int)(test_rand_unif(s) * 15)], false);
		char text[24];
		int len = (int)(test_rand_unif(s) * 20);
		for (int i = 0; i < len; i++)
			text[i] = (char)(1 + (int)(test_rand_unif(s) * 126)); /* any ASCII but NUL */
		text[len] = '\0';
		return mlip_yaml_scalar_new(text, true);
	}
	struct mlip_yaml_node *c = kind == 1 ? mlip_yaml_sequence_new() : mlip_yaml_mapping_new();
	int n = (int)(test_rand_unif(s) * 5);
	for (int i = 0; i < n; i++) {
		struct mlip_yaml_node *v = random_tree(s, depth + 1);
		if (kind == 1) {
			ck_assert_int_eq(mlip_yaml_seq_push(c, v), 0);
		} else {
			char key[16];
			snprintf(key, sizeof(key), "k%d", (int)(test_rand_unif(s) * 8));
			ck_assert_int_eq(mlip_yaml_map_set(c, key, v), 0);
		}
	}
	return c;
}

START_TEST(test_emit_random_trees)
{
	uint64_t s = 2024;
	for (int i = 0; i < 300; i++) {
		struct mlip_yaml_node *t = random_tree(&s, 0);
		struct mlip_yaml_node *c = mlip_yaml_copy(t);
		ck_assert(mlip_yaml_equal(t, c));
		round_trip(t);
		mlip_yaml_free(c);
		mlip_yaml_free(t);
	}
}
END_TEST

START_TEST(test_emit_full_config)
{
	const char *top = getenv("MLIP_TOP");
	char path[1024];
	snprintf(path, sizeof(path), "%s%stests/data/config/full.yaml", top ? top : "",
		 top ? "/" : "");
	struct mlip_yaml_node *t = NULL;
	struct mlip_err err = { 0 };
	ck_assert_msg(mlip_yaml_load_file(path, &t, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(mlip_yaml_get(t, "model.elements.0")->file, path);
	round_trip(t);
	mlip_yaml_free(t);
}
END_TEST

START_TEST(test_json)
{
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *t = load("delta: 0.01\nn: 3\nq: '3'\nb: yes\nz: ~\n"
					"l: [1, x, .inf]\nm: {k: v}\n");
	void *j;
	ck_assert_int_eq(mlip_yaml_to_json(t, &j, &err), 0);
	char *s = json_dumps(j, JSON_COMPACT);
	ck_assert_str_eq(s, "{\"delta\":0.01,\"n\":3,\"q\":\"3\",\"b\":true,\"z\":null,"
			 "\"l\":[1,\"x\",\".inf\"],\"m\":{\"k\":\"v\"}}");
	free(s);
	json_decref(j);
	mlip_yaml_free(t);
}
END_TEST

Suite *suite_yamltree(void)
{
	Suite *s = suite_create("yamltree");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_locations);
	tcase_add_test(tc, test_empty_and_scalar_documents);
	tcase_add_test(tc, test_broken_documents);
	tcase_add_test(tc, test_load_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("getters");
	tcase_add_test(tc, test_int);
	tcase_add_test(tc, test_double);
	tcase_add_test(tc, test_bool_and_string);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_require_and_errf);
	suite_add_tcase(s, tc);
	tc = tcase_create("set");
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_unset);
	suite_add_tcase(s, tc);
	tc = tcase_create("merge");
	tcase_add_test(tc, test_merge);
	suite_add_tcase(s, tc);
	tc = tcase_create("emit");
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_emit_round_trip);
	tcase_add_test(tc, test_emit_random_trees);
	tcase_add_test(tc, test_emit_full_config);
	tcase_add_test(tc, test_json);
	suite_add_tcase(s, tc);
	return s;
}
