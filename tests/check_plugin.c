/*
 * check_plugin.c - the plugin loader (search order, dedup, every broken
 * plugin in tests/plugins), the parameter reader of mlip_plugin.h, and the
 * normalizer plugins through lib/normalizer.c.
 *
 * Run from the top of the tree: the built plugins are in lib/plugins and
 * tests/plugins (make test-plugins). Tests that change MLIP_PLUGIN_PATH
 * restore it, so they also pass with CK_FORK=no.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "normalizer.h"
#include "log.h"
#include "testutil.h"

#define assert_has(msg, needle) \
	ck_assert_msg(strstr((msg), (needle)) != NULL, "message '%s' lacks '%s'", (msg), (needle))

static char *saved_path;

static void env_save(void)
{
	const char *p = getenv("MLIP_PLUGIN_PATH");
	saved_path = p ? strdup(p) : NULL;
}

static void env_restore(void)
{
	if (saved_path)
		setenv("MLIP_PLUGIN_PATH", saved_path, 1);
	else
		unsetenv("MLIP_PLUGIN_PATH");
	free(saved_path);
	saved_path = NULL;
}

/* ---- loader ---- */

START_TEST(test_find_builtin)
{
	static const char *const want[][3] = {
		{ "loss", "mae", "lib/plugins/mlip-loss-mae.so" },
		{ "loss", "mse", "lib/plugins/mlip-loss-mse.so" },
		{ "loss", "per_atom_mae", "lib/plugins/mlip-loss-per-atom-mae.so" },
		{ "loss", "per_atom_mse", "lib/plugins/mlip-loss-per-atom-mse.so" },
		{ "loss", "l2norm", "lib/plugins/mlip-loss-l2norm.so" },
		{ "loss", "huber", "lib/plugins/mlip-loss-huber.so" },
		{ "normalizer", "rmsd", "lib/plugins/mlip-normalizer-rmsd.so" },
		{ "normalizer", "identity", "lib/plugins/mlip-normalizer-identity.so" },
	};
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p, *q;
	env_save();
	/* Only the build-tree directory next to the executable can supply them. */
	setenv("MLIP_PLUGIN_PATH", "/nonexistent-mlip-dir", 1);
	mlip_plugins_init(&reg);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int rc = mlip_plugins_find(&reg, want[i][0], want[i][1], &p, &err);
		ck_assert_msg(rc == MLIP_OK, "%s %s: %s", want[i][0], want[i][1], err.msg);
		ck_assert_str_eq(p->kind, want[i][0]);
		ck_assert_str_eq(p->name, want[i][1]);
		ck_assert_int_eq(p->abi, MLIP_PLUGIN_ABI);
		ck_assert(p->description[0] != '\0');
		ck_assert_str_eq(p->version, "1.0.0");
		ck_assert_uint_eq((p->flags & MLIP_LOSS_PER_ROW) != 0, !strcmp(want[i][1], "l2norm"));
		const char *origin = mlip_plugins_origin(&reg, p);
		ck_assert_ptr_nonnull(origin);
		assert_has(origin, "/../lib/plugins/");
		const char *file = strrchr(want[i][2], '/');
		ck_assert_str_eq(origin + strlen(origin) - strlen(file), file);
	}
	ck_assert_uint_eq(reg.n_items, 8);
	/* Dedup: the same (kind, name) again, by search or by file, is the same plugin. */
	ck_assert_int_eq(mlip_plugins_find(&reg, "loss", "huber", &p, &err), MLIP_OK);
	ck_assert_int_eq(mlip_plugins_load(&reg, "lib/plugins/mlip-loss-huber.so", &q, &err), MLIP_OK);
	ck_assert_ptr_eq(p, q);
	ck_assert_uint_eq(reg.n_items, 8);
	mlip_plugins_release(&reg);
	ck_assert_uint_eq(reg.n_items, 0);
	env_restore();
}
END_TEST

/* The version of the "mae" loss the registry finds ("shadow" or "1.0.0"). */
static const char *mae_version(struct mlip_plugins *reg)
{
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p;
	int rc = mlip_plugins_find(reg, "loss", "mae", &p, &err);
	ck_assert_msg(rc == MLIP_OK, "%s", err.msg);
	return p->version;
}

START_TEST(test_search_order)
{
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	env_save();

	/* An explicit directory shadows MLIP_PLUGIN_PATH... */
	setenv("MLIP_PLUGIN_PATH", "lib/plugins", 1);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "tests/plugins/shadow", &err), MLIP_OK);
	ck_assert_str_eq(mae_version(&reg), "shadow");
	mlip_plugins_release(&reg);

	/* ...in both directions. */
	setenv("MLIP_PLUGIN_PATH", "tests/plugins/shadow", 1);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "/nonexistent-mlip-dir", &err), MLIP_OK);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), MLIP_OK);
	ck_assert_str_eq(mae_version(&reg), "1.0.0");
	mlip_plugins_release(&reg);

	/* MLIP_PLUGIN_PATH shadows the build tree; empty parts are skipped. */
	setenv("MLIP_PLUGIN_PATH", "::/nonexistent-mlip-dir::tests/plugins/shadow:", 1);
	mlip_plugins_init(&reg);
	ck_assert_str_eq(mae_version(&reg), "shadow");
	mlip_plugins_release(&reg);

	/* Without either, the build tree next to the executable is found. */
	unsetenv("MLIP_PLUGIN_PATH");
	mlip_plugins_init(&reg);
	ck_assert_str_eq(mae_version(&reg), "1.0.0");

	/* The order as reported. */
	char path[4096];
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "dir-a", &err), MLIP_OK);
	setenv("MLIP_PLUGIN_PATH", "env-b:env-c", 1);
	mlip_plugins_path(&reg, path, sizeof(path));
	ck_assert_msg(!strncmp(path, "dir-a:env-b:env-c:", 18), "path '%s'", path);
	char *build = strstr(path, "/../lib/plugins:");
	ck_assert_msg(build != NULL, "path '%s'", path);
	char *moved = strstr(build, "/../lib/mlip/plugins:");
	ck_assert_msg(moved != NULL, "path '%s'", path);
	ck_assert_str_eq(moved + strlen("/../lib/mlip/plugins:"), MLIP_PLUGINDIR);
	mlip_plugins_release(&reg);
	env_restore();
}
END_TEST

START_TEST(test_explicit_file_wins)
{
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p;
	env_save();
	setenv("MLIP_PLUGIN_PATH", "lib/plugins", 1);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_load(&reg, "tests/plugins/shadow/mlip-loss-mae.so", &p, &err),
			 MLIP_OK);
	ck_assert_str_eq(p->version, "shadow");
	ck_assert_str_eq(mae_version(&reg), "shadow");
	/* Loading the real one afterwards keeps the first (dedup by kind and name). */
	const struct mlip_plugin *q;
	ck_assert_int_eq(mlip_plugins_load(&reg, "lib/plugins/mlip-loss-mae.so", &q, &err), MLIP_OK);
	ck_assert_ptr_eq(p, q);
	ck_assert_uint_eq(reg.n_items, 1);
	/* A bare file name is a file in the current directory, not a search of
	 * the system library path (where no mlip-loss-mse.so lives). */
	ck_assert_int_eq(mlip_plugins_load(&reg, "mlip-loss-mse.so", &q, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "cannot load plugin 'mlip-loss-mse.so'");
	ck_assert_int_eq(chdir("lib/plugins"), 0);
	int rc = mlip_plugins_load(&reg, "mlip-loss-mse.so", &q, &err);
	ck_assert_int_eq(chdir("../.."), 0);
	ck_assert_msg(rc == MLIP_OK, "%s", err.msg);
	ck_assert_str_eq(q->name, "mse");
	ck_assert_str_eq(mlip_plugins_origin(&reg, q), "mlip-loss-mse.so");
	mlip_plugins_release(&reg);
	env_restore();
}
END_TEST

START_TEST(test_missing_plugin)
{
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p = NULL;
	env_save();
	setenv("MLIP_PLUGIN_PATH", "env-one::env-two:", 1);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "explicit-dir", &err), MLIP_OK);
	ck_assert_int_eq(mlip_plugins_find(&reg, "loss", "no_such_loss", &p, &err), MLIP_EPLUGIN);
	ck_assert_int_eq(err.code, MLIP_EPLUGIN);
	assert_has(err.msg, "loss plugin 'no_such_loss' not found");
	assert_has(err.msg, "mlip-loss-no-such-loss.so");
	assert_has(err.msg, "explicit-dir, env-one, env-two, ");
	assert_has(err.msg, "/../lib/plugins, ");
	assert_has(err.msg, MLIP_PLUGINDIR);
	/* A kind that exists under another name is not found either. */
	ck_assert_int_eq(mlip_plugins_find(&reg, "normalizer", "mae", &p, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "normalizer plugin 'mae' not found");
	/* Names cannot reach outside the search directories. */
	ck_assert_int_eq(mlip_plugins_find(&reg, "loss", "../mae", &p, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "invalid loss plugin name '../mae'");
	ck_assert_int_eq(mlip_plugins_find(&reg, "metric", "mae", &p, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "unknown plugin kind 'metric'");
	ck_assert_int_eq(mlip_plugins_load(&reg, "tests/plugins/no-such-file.so", &p, &err),
			 MLIP_EPLUGIN);
	assert_has(err.msg, "cannot load plugin 'tests/plugins/no-such-file.so'");
	ck_assert_uint_eq(reg.n_items, 0);
	mlip_plugins_release(&reg);
	env_restore();
}
END_TEST

/* Each broken test plugin, its expected message parts (NULL-terminated). */
static const struct broken {
	const char *kind, *name, *file;
	int by_file;       /* also refused when loaded by path */
	const char *msg[3];
} broken[] = {
	{ "loss", "badabi", "tests/plugins/mlip-loss-badabi.so", 1,
	  { "has plugin ABI version 999", "this mlip has ABI version 1;", "rebuild" } },
	{ "loss", "nosym", "tests/plugins/mlip-loss-nosym.so", 1,
	  { "does not export mlip_plugin_entry", "MLIP_PLUGIN_EXPORT", NULL } },
	{ "loss", "nullops", "tests/plugins/mlip-loss-nullops.so", 1,
	  { "(loss 'nullops') lacks the required op 'eval'", NULL, NULL } },
	{ "loss", "noops", "tests/plugins/mlip-loss-noops.so", 1,
	  { "(loss 'noops') has no ops table", NULL, NULL } },
	{ "normalizer", "nodenorm", "tests/plugins/mlip-normalizer-nodenorm.so", 1,
	  { "(normalizer 'nodenorm') lacks the required op 'denorm'", NULL, NULL } },
	{ "loss", "small", "tests/plugins/mlip-loss-small.so", 1,
	  { "declares a 16-byte record, smaller than the", "of plugin ABI version 1", NULL } },
	{ "loss", "badkind", "tests/plugins/mlip-loss-badkind.so", 1,
	  { "has unknown kind 'metric' (expected 'loss' or 'normalizer')", NULL, NULL } },
	{ "loss", "nullentry", "tests/plugins/mlip-loss-nullentry.so", 1,
	  { "mlip_plugin_entry() returned NULL", NULL, NULL } },
	{ "loss", "undef", "tests/plugins/mlip-loss-undef.so", 1,
	  { "cannot load plugin", "mlip_test_no_such_symbol", NULL } },
	/* A valid normalizer by file, but not the loss its file name promises. */
	{ "loss", "wrongkind", "tests/plugins/mlip-loss-wrongkind.so", 0,
	  { "is normalizer 'wrongkind', not the loss 'wrongkind' its file name promises", NULL, NULL } },
};

START_TEST(test_broken_plugins)
{
	const struct broken *b = &broken[_i];
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p = NULL;
	char quoted[256];
	snprintf(quoted, sizeof(quoted), "plugin '%s'", b->file);
	env_save();
	unsetenv("MLIP_PLUGIN_PATH");

	/* Found through the search path. */
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "tests/plugins", &err), MLIP_OK);
	ck_assert_int_eq(mlip_plugins_find(&reg, b->kind, b->name, &p, &err), MLIP_EPLUGIN);
	ck_assert_int_eq(err.code, MLIP_EPLUGIN);
	assert_has(err.msg, quoted);
	for (int k = 0; k < 3 && b->msg[k]; k++)
		assert_has(err.msg, b->msg[k]);
	ck_assert_uint_eq(reg.n_items, 0);
	mlip_plugins_release(&reg);

	/* Loaded by path. */
	mlip_plugins_init(&reg);
	mlip_err_clear(&err);
	int rc = mlip_plugins_load(&reg, b->file, &p, &err);
	if (b->by_file) {
		ck_assert_int_eq(rc, MLIP_EPLUGIN);
		assert_has(err.msg, b->file);
		for (int k = 0; k < 3 && b->msg[k]; k++)
			assert_has(err.msg, b->msg[k]);
		ck_assert_uint_eq(reg.n_items, 0);
	} else {
		ck_assert_int_eq(rc, MLIP_OK);
	}
	mlip_plugins_release(&reg);
	env_restore();
}
END_TEST

START_TEST(test_broken_does_not_fall_through)
{
	/* A broken file earlier on the path is an error even though a good
	 * "mae" exists later: the loader never silently skips a shadowing file. */
	struct mlip_plugins reg;
	struct mlip_err err = { 0 };
	const struct mlip_plugin *p;
	char dir[] = "/tmp/mlip-check-plugin-XXXXXX", file[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/mlip-loss-mae.so", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	mlip_plugins_init(&reg);
	mlip_plugins_add_dir(&reg, dir, &err);
	mlip_plugins_add_dir(&reg, "lib/plugins", &err);
	ck_assert_int_eq(mlip_plugins_find(&reg, "loss", "mae", &p, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "cannot load plugin '");
	assert_has(err.msg, file);
	mlip_plugins_release(&reg);
	remove(file);
	remove(dir);
}
END_TEST

static char logged[512];
static int logged_level = -1;

static void capture_log(enum mlip_log_level level, const char *msg, void *user)
{
	(void)user;
	logged_level = (int)level;
	snprintf(logged, sizeof(logged), "%s", msg);
}

START_TEST(test_host_api)
{
	const struct mlip_host_api *h = mlip_plugin_host();
	ck_assert_int_eq(h->abi, MLIP_PLUGIN_ABI);
	mlip_log_set_callback(capture_log, NULL);
	h->log(MLIP_PLUGIN_LOG_WARN, "plugin says %d", 42);
	mlip_log_set_callback(NULL, NULL);
	ck_assert_int_eq(logged_level, MLIP_LOG_WARN);
	ck_assert_str_eq(logged, "plugin says 42");
	double *x = h->alloc(4 * sizeof(*x));
	ck_assert_ptr_nonnull(x);
	x[3] = 1;
	h->free(x);
	h->free(NULL);
}
END_TEST

/* ---- the parameter reader in mlip_plugin.h ---- */

/* Parse text into "k=v;k=v;" (or "error: msg"). */
static void parse(const char *text, char *out, size_t cap)
{
	struct mlip_plugin_param p;
	char err[MLIP_PLUGIN_ERR_MAX] = { 0 };
	size_t pos = 0, used = 0;
	int r;
	out[0] = '\0';
	while ((r = mlip_plugin_params_next(text, &pos, &p, err)) > 0)
		used += (size_t)snprintf(out + used, cap - used, "%s=%s;", p.key, p.value);
	if (r < 0)
		snprintf(out, cap, "error: %s", err);
}

START_TEST(test_params_reader)
{
	static const char *const cases[][2] = {
		{ NULL, "" },
		{ "", "" },
		{ "  \n", "" },
		{ "null", "" },
		{ "~", "" },
		{ "{}", "" },
		{ "{\"delta\": 0.5}", "delta=0.5;" },
		{ "{\"delta\":0.5,\"name\":\"a, b\"}", "delta=0.5;name=a, b;" },
		{ "{delta: 0.5, mean: -1e-3}", "delta=0.5;mean=-1e-3;" },
		{ "delta: 0.5\nmean: 0   # energy head\n# comment\nrmsd: '2'\n", "delta=0.5;mean=0;rmsd=2;" },
		{ "{\"a\\\"b\": \"x\\\\y\"}", "a\"b=x\\y;" },
		{ "{delta: {x: 1}}", "error: parameter 'delta' must be a scalar" },
		{ "{delta: [1, 2]}", "error: parameter 'delta' must be a scalar" },
		{ "{delta 0.5}", "error: expected ':' after parameter 'delta 0.5'" },
		{ "{delta: 1} x", "error: unexpected text after '}' in parameters" },
		{ "{\"delta: 1}", "error: bad parameter name at offset 1" },
	};
	char out[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(cases[i][0], out, sizeof(out));
		ck_assert_msg(!strcmp(out, cases[i][1]), "'%s': got '%s', want '%s'",
			      cases[i][0] ? cases[i][0] : "(null)", out, cases[i][1]);
	}
	struct mlip_plugin_param p = { "delta", "0.25" };
	char err[MLIP_PLUGIN_ERR_MAX] = { 0 };
	double v = 0;
	ck_assert_int_eq(mlip_plugin_param_double(&p, &v, err), 0);
	ck_assert_double_eq(v, 0.25);
	static const char *const bad[] = { "", "abc", "1.5x", "nan", "inf", "-inf" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(p.value, sizeof(p.value), "%s", bad[i]);
		ck_assert_int_eq(mlip_plugin_param_double(&p, &v, err), -1);
		assert_has(err, "parameter 'delta' must be a finite number");
	}
	ck_assert_int_eq(mlip_plugin_params_none("{}", err), 0);
	ck_assert_int_eq(mlip_plugin_params_none("{x: 1}", err), -1);
	assert_has(err, "unknown parameter 'x' (this plugin takes none)");
}
END_TEST

/* ---- normalizers ---- */

static void norm_setup(struct mlip_plugins *reg)
{
	struct mlip_err err = { 0 };
	mlip_plugins_init(reg);
	ck_assert_int_eq(mlip_plugins_add_dir(reg, "lib/plugins", &err), MLIP_OK);
}

static void make_norm(struct mlip_normalizer *n, struct mlip_plugins *reg, const char *name,
		      const char *params)
{
	struct mlip_err err = { 0 };
	int rc = mlip_normalizer_init(n, reg, name, params, &err);
	ck_assert_msg(rc == MLIP_OK, "%s: %s", name, err.msg);
}

START_TEST(test_rmsd_fit_round_trip)
{
	struct mlip_plugins reg;
	struct mlip_normalizer n;
	struct mlip_err err = { 0 };
	double v[4] = { 1, 2, 3, 4 }, y[4], scale, shift;
	norm_setup(&reg);

	/* Hand numbers: mean 2.5, rmsd sqrt(((1.5^2 + 0.5^2) * 2) / 4) = sqrt(1.25). */
	make_norm(&n, &reg, "rmsd", NULL);
	ck_assert_int_eq(mlip_normalizer_fit(&n, v, 4, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_affine(&n, &scale, &shift, &err), MLIP_OK);
	ck_assert_double_eq_tol(shift, 2.5, 1e-15);
	ck_assert_double_eq_tol(scale, sqrt(1.25), 1e-15);
	ck_assert_int_eq(mlip_normalizer_norm(&n, y, v, 4, &err), MLIP_OK);
	ck_assert_double_eq_tol(y[0], -1.5 / sqrt(1.25), 1e-15);
	ck_assert_double_eq_tol(y[3], 1.5 / sqrt(1.25), 1e-15);
	mlip_normalizer_release(&n);

	/* An energy head: mean 0 given, rmsd is the root mean square: sqrt(30/4). */
	make_norm(&n, &reg, "rmsd", "mean: 0");
	ck_assert_int_eq(mlip_normalizer_fit(&n, v, 4, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_affine(&n, &scale, &shift, &err), MLIP_OK);
	ck_assert_double_eq(shift, 0);
	ck_assert_double_eq_tol(scale, sqrt(7.5), 1e-15);
	mlip_normalizer_release(&n);

	/* Both given: nothing to fit, norm(5) = (5 - 1) / 2. */
	make_norm(&n, &reg, "rmsd", "{\"mean\": 1, \"rmsd\": 2}");
	ck_assert_int_eq(mlip_normalizer_fit(&n, NULL, 0, &err), MLIP_OK);
	double five = 5, two;
	ck_assert_int_eq(mlip_normalizer_norm(&n, &two, &five, 1, &err), MLIP_OK);
	ck_assert_double_eq(two, 2);
	mlip_normalizer_release(&n);

	/* Random values: brute-force statistics, normalized data has mean 0 and
	 * rms 1, and denorm(norm(t)) = t. */
	enum { N = 257 };
	double t[N], z[N], u[N];
	uint64_t rng = 11;
	double sum = 0, sq = 0;
	for (int i = 0; i < N; i++) {
		t[i] = 3.0 + 7.0 * (test_rand_unif(&rng) - 0.5);
		sum += t[i];
	}
	for (int i = 0; i < N; i++)
		sq += (t[i] - sum / N) * (t[i] - sum / N);
	make_norm(&n, &reg, "rmsd", "");
	ck_assert_int_eq(mlip_normalizer_fit(&n, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_affine(&n, &scale, &shift, &err), MLIP_OK);
	ck_assert_double_eq_tol(shift, sum / N, 1e-13);
	ck_assert_double_eq_tol(scale, sqrt(sq / N), 1e-13);
	ck_assert_int_eq(mlip_normalizer_norm(&n, z, t, N, &err), MLIP_OK);
	double zs = 0, zq = 0;
	for (int i = 0; i < N; i++) {
		zs += z[i];
		zq += z[i] * z[i];
	}
	ck_assert_double_eq_tol(zs / N, 0, 1e-13);
	ck_assert_double_eq_tol(zq / N, 1, 1e-13);
	ck_assert_int_eq(mlip_normalizer_denorm(&n, u, z, N, &err), MLIP_OK);
	for (int i = 0; i < N; i++)
		ck_assert_double_eq_tol(u[i], t[i], 1e-13);
	/* In place. */
	memcpy(u, t, sizeof(u));
	ck_assert_int_eq(mlip_normalizer_norm(&n, u, u, N, &err), MLIP_OK);
	ck_assert_double_eq(u[17], z[17]);
	mlip_normalizer_release(&n);
	mlip_normalizer_release(&n);   /* twice is fine */

	/* identity */
	make_norm(&n, &reg, "identity", NULL);
	ck_assert_int_eq(mlip_normalizer_fit(&n, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_norm(&n, z, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_denorm(&n, u, t, N, &err), MLIP_OK);
	ck_assert_mem_eq(z, t, sizeof(t));
	ck_assert_mem_eq(u, t, sizeof(t));
	ck_assert_int_eq(mlip_normalizer_affine(&n, &scale, &shift, &err), MLIP_OK);
	ck_assert_double_eq(scale, 1);
	ck_assert_double_eq(shift, 0);
	mlip_normalizer_release(&n);
	mlip_plugins_release(&reg);
}
END_TEST

START_TEST(test_rmsd_errors)
{
	struct mlip_plugins reg;
	struct mlip_normalizer n;
	struct mlip_err err = { 0 };
	double same[3] = { 2, 2, 2 }, bad[2] = { 1, NAN }, x = 1, y;
	norm_setup(&reg);

	make_norm(&n, &reg, "rmsd", NULL);
	ck_assert_int_eq(mlip_normalizer_norm(&n, &y, &x, 1, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "normalizer plugin 'rmsd': not fitted");
	ck_assert_int_eq(mlip_normalizer_fit(&n, NULL, 0, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "cannot fit mean and rmsd from no values");
	ck_assert_int_eq(mlip_normalizer_fit(&n, same, 3, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "all 3 values equal the mean 2");
	ck_assert_int_eq(mlip_normalizer_fit(&n, bad, 2, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "value 1 is not finite");
	char *json = NULL;
	ck_assert_int_eq(mlip_normalizer_to_json(&n, &json, &err), MLIP_EPLUGIN);
	ck_assert_ptr_null(json);
	mlip_normalizer_release(&n);

	static const char *const params[][2] = {
		{ "rmsd: -1", "rmsd must be positive" },
		{ "rmsd: 0", "rmsd must be positive" },
		{ "mean: x", "parameter 'mean' must be a finite number" },
		{ "{scale: 2}", "unknown parameter 'scale' (known: mean, rmsd)" },
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		ck_assert_int_eq(mlip_normalizer_init(&n, &reg, "rmsd", params[i][0], &err), MLIP_EPLUGIN);
		assert_has(err.msg, "normalizer plugin 'rmsd': ");
		assert_has(err.msg, params[i][1]);
		ck_assert_ptr_null(n.plugin);
	}
	ck_assert_int_eq(mlip_normalizer_init(&n, &reg, "identity", "mean: 0", &err), MLIP_EPLUGIN);
	assert_has(err.msg, "normalizer plugin 'identity': unknown parameter 'mean'");
	ck_assert_int_eq(mlip_normalizer_init(&n, &reg, "no_such", NULL, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "normalizer plugin 'no_such' not found");
	mlip_plugins_release(&reg);
}
END_TEST

START_TEST(test_normalizer_json)
{
	struct mlip_plugins reg;
	struct mlip_normalizer n, m;
	struct mlip_err err = { 0 };
	enum { N = 50 };
	double t[N], a[N], b[N];
	uint64_t rng = 5;
	char *json = NULL, *again = NULL;
	norm_setup(&reg);
	for (int i = 0; i < N; i++)
		t[i] = -40.0 + test_rand_unif(&rng) / 3.0;

	make_norm(&n, &reg, "rmsd", "mean: 0");
	ck_assert_int_eq(mlip_normalizer_fit(&n, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_to_json(&n, &json, &err), MLIP_OK);
	assert_has(json, "\"name\":\"rmsd\"");
	assert_has(json, "\"params\":\"mean: 0\"");
	assert_has(json, "\"state\":{\"mean\":");
	ck_assert_int_eq(mlip_normalizer_from_json(&m, &reg, json, &err), MLIP_OK);
	ck_assert_str_eq(m.params, "mean: 0");
	/* Bit for bit: the checkpoint must not change the model. */
	ck_assert_int_eq(mlip_normalizer_norm(&n, a, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_norm(&m, b, t, N, &err), MLIP_OK);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(mlip_normalizer_denorm(&n, a, t, N, &err), MLIP_OK);
	ck_assert_int_eq(mlip_normalizer_denorm(&m, b, t, N, &err), MLIP_OK);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(mlip_normalizer_to_json(&m, &again, &err), MLIP_OK);
	ck_assert_str_eq(json, again);
	free(json);
	free(again);
	mlip_normalizer_release(&m);
	mlip_normalizer_release(&n);

	/* identity has no state to save. */
	make_norm(&n, &reg, "identity", NULL);
	ck_assert_int_eq(mlip_normalizer_to_json(&n, &json, &err), MLIP_OK);
	assert_has(json, "\"state\":null");
	assert_has(json, "\"params\":null");
	ck_assert_int_eq(mlip_normalizer_from_json(&m, &reg, json, &err), MLIP_OK);
	ck_assert_str_eq(m.plugin->name, "identity");
	free(json);
	mlip_normalizer_release(&m);
	mlip_normalizer_release(&n);

	static const char *const bad[][3] = {
		{ "{", "normalizer state: ", NULL },
		{ "[1]", "not an object with a \"name\"", NULL },
		{ "{\"name\": \"rmsd\", \"params\": 3}", "\"params\" of 'rmsd' is not a string", NULL },
		{ "{\"name\": \"nope\"}", "normalizer plugin 'nope' not found", NULL },
		{ "{\"name\": \"rmsd\", \"state\": {\"mean\": 1}}", "normalizer plugin 'rmsd': ",
		  "saved state needs 'mean' and a positive 'rmsd'" },
		{ "{\"name\": \"rmsd\", \"state\": {\"mean\": 1, \"rmsd\": 1, \"x\": 2}}",
		  "unknown key 'x' in saved state", NULL },
		{ "{\"name\": \"identity\", \"state\": {\"a\": 1}}", "cannot load the saved state", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = mlip_normalizer_from_json(&m, &reg, bad[i][0], &err);
		ck_assert_msg(rc == (i < 3 ? MLIP_EDATA : MLIP_EPLUGIN), "%s: rc %d", bad[i][0], rc);
		assert_has(err.msg, bad[i][1]);
		if (bad[i][2])
			assert_has(err.msg, bad[i][2]);
		ck_assert_ptr_null(m.plugin);
	}
	mlip_plugins_release(&reg);
}
END_TEST

Suite *suite_plugin(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("loader");
	tcase_add_test(tc, test_find_builtin);
	tcase_add_test(tc, test_search_order);
	tcase_add_test(tc, test_explicit_file_wins);
	tcase_add_test(tc, test_missing_plugin);
	tcase_add_loop_test(tc, test_broken_plugins, 0, (int)(sizeof(broken) / sizeof(broken[0])));
	tcase_add_test(tc, test_broken_does_not_fall_through);
	tcase_add_test(tc, test_host_api);
	suite_add_tcase(s, tc);
	tc = tcase_create("params");
	tcase_add_test(tc, test_params_reader);
	suite_add_tcase(s, tc);
	tc = tcase_create("normalizer");
	tcase_add_test(tc, test_rmsd_fit_round_trip);
	tcase_add_test(tc, test_rmsd_errors);
	tcase_add_test(tc, test_normalizer_json);
	suite_add_tcase(s, tc);
	return s;
}
