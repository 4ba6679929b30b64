/*
 * plugin.c - the plugin loader (dlopen, ABI check, search path, registry).
 *
 * Each loaded plugin keeps host-side copies of its record and op table,
 * zero-extended to the host's struct sizes: a plugin built when a struct
 * was shorter (same ABI, fields appended since) then reads as having NULL
 * in the newer slots, and nothing past what the plugin declared is read.
 * The copies' `ops` pointer is redirected to the copied table.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "log.h"
#include "banned.h"

#ifndef MLIP_PLUGINDIR
#define MLIP_PLUGINDIR "/usr/local/lib/mlip/plugins"
#endif

/*
 * The sizes of the record and op table when ABI 1 was introduced: a plugin
 * of this ABI declares at least these. Appending fields must not change
 * them (that is what lets an older plugin of the same ABI load).
 */
#define RECORD_MIN_SIZE (offsetof(struct mlip_plugin, flags) + sizeof(unsigned))
#define OPS_MIN_SIZE (offsetof(struct mlip_plugin_ops, load) + sizeof(void (*)(void)))

struct mlip_plugin_loaded {
	char *path;                  /* as opened */
	void *dl;                    /* dlopen handle */
	struct mlip_plugin rec;      /* zero-extended copy; rec.ops = &ops */
	struct mlip_plugin_ops ops;  /* zero-extended copy */
};

/* ---- host api ---- */

static void host_log(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (level < MLIP_LOG_ERROR)
		level = MLIP_LOG_ERROR;
	if (level > MLIP_LOG_DEBUG)
		level = MLIP_LOG_DEBUG;
	mlip_log((enum mlip_log_level)level, "%s", buf);
}

static void *host_alloc(size_t size)
{
	return malloc(size ? size : 1);
}

static void host_free(void *p)
{
	free(p);
}

static const struct mlip_host_api host_api = {
	.abi = MLIP_PLUGIN_ABI,
	.log = host_log,
	.alloc = host_alloc,
	.free = host_free,
};

const struct mlip_host_api *mlip_plugin_host(void)
{
	return &host_api;
}

int mlip_plugin_fail(const struct mlip_plugin *p, const char *op, const char *msg,
		     struct mlip_err *err)
{
	if (!msg || !msg[0])
		return mlip_err_set(err, MLIP_EPLUGIN, "%s plugin '%s': %s failed without a message",
				    p->kind, p->name, op);
	return mlip_err_set(err, MLIP_EPLUGIN, "%s plugin '%s': %.*s", p->kind, p->name,
			    MLIP_PLUGIN_ERR_MAX, msg);
}

/* ---- registry ---- */

void mlip_plugins_init(struct mlip_plugins *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void mlip_plugins_release(struct mlip_plugins *reg)
{
	for (size_t i = 0; i < reg->n_dirs; i++)
		free(reg->dirs[i]);
	free(reg->dirs);
	/* Close in reverse order of loading, as a dynamic linker would. */
	for (size_t i = reg->n_items; i-- > 0;) {
		dlclose(reg->items[i]->dl);
		free(reg->items[i]->path);
		free(reg->items[i]);
	}
	free(reg->items);
	mlip_plugins_init(reg);
}

int mlip_plugins_add_dir(struct mlip_plugins *reg, const char *dir, struct mlip_err *err)
{
	char **dirs = realloc(reg->dirs, (reg->n_dirs + 1) * sizeof(*dirs));
	if (!dirs)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory adding plugin directory '%s'", dir);
	reg->dirs = dirs;
	if (!(dirs[reg->n_dirs] = strdup(dir)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory adding plugin directory '%s'", dir);
	reg->n_dirs++;
	return MLIP_OK;
}

static struct mlip_plugin_loaded *lookup(const struct mlip_plugins *reg, const char *kind,
					 const char *name)
{
	for (size_t i = 0; i < reg->n_items; i++)
		if (!strcmp(reg->items[i]->rec.kind, kind) && !strcmp(reg->items[i]->rec.name, name))
			return reg->items[i];
	return NULL;
}

const char *mlip_plugins_origin(const struct mlip_plugins *reg, const struct mlip_plugin *p)
{
	for (size_t i = 0; i < reg->n_items; i++)
		if (&reg->items[i]->rec == p)
			return reg->items[i]->path;
	return NULL;
}

static int valid_name(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int known_kind(const char *kind)
{
	return kind && (!strcmp(kind, "loss") || !strcmp(kind, "normalizer"));
}

/* The required op that is NULL, or NULL when all are there. */
static const char *missing_op(const struct mlip_plugin *rec)
{
	const struct mlip_plugin_ops *o = rec->ops;
	if (!o->create)
		return "create";
	if (!o->destroy)
		return "destroy";
	if (!strcmp(rec->kind, "loss")) {
		if (!o->eval)
			return "eval";
	} else {
		if (!o->norm)
			return "norm";
		if (!o->denorm)
			return "denorm";
	}
	return NULL;
}

/*
 * Open and check path; on success *out is a new entry not yet registered.
 * dlerror() texts already name the path, so they are quoted as they are.
 */
static int open_plugin(const char *path, struct mlip_plugin_loaded **out, struct mlip_err *err)
{
	void *dl;
	mlip_plugin_entry_fn entry;
	const struct mlip_plugin *rec;
	struct mlip_plugin_loaded *it;
	int rc;

	/* dlopen searches the system library path for a bare file name; a
	 * plugin named on the command line means the file in this directory. */
	char here[PATH_MAX];
	const char *open_path = path;
	if (!strchr(path, '/')) {
		snprintf(here, sizeof(here), "./%s", path);
		open_path = here;
	}
	dlerror();
	if (!(dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL))) {
		const char *why = dlerror();
		return mlip_err_set(err, MLIP_EPLUGIN, "cannot load plugin '%s': %s", path,
				    why ? why : "unknown dlopen error");
	}
	/* POSIX: a void * from dlsym converts to a function pointer through this cast. */
	*(void **)&entry = dlsym(dl, MLIP_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' does not export %s (declare it with MLIP_PLUGIN_EXPORT)",
				  path, MLIP_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	if (!(rec = entry())) {
		rc = mlip_err_set(err, MLIP_EPLUGIN, "plugin '%s': %s() returned NULL", path,
				  MLIP_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	if (rec->abi != MLIP_PLUGIN_ABI) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' has plugin ABI version %d, but this mlip has ABI version %d; "
				  "rebuild the plugin against this mlip's mlip_plugin.h",
				  path, rec->abi, MLIP_PLUGIN_ABI);
		goto fail;
	}
	if (rec->struct_size < RECORD_MIN_SIZE) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' declares a %zu-byte record, smaller than the %zu bytes "
				  "of plugin ABI version %d",
				  path, rec->struct_size, (size_t)RECORD_MIN_SIZE, MLIP_PLUGIN_ABI);
		goto fail;
	}
	if (!(it = calloc(1, sizeof(*it)))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory loading plugin '%s'", path);
		goto fail;
	}
	memcpy(&it->rec, rec, rec->struct_size < sizeof(it->rec) ? rec->struct_size : sizeof(it->rec));
	if (!known_kind(it->rec.kind)) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' has unknown kind '%s' (expected 'loss' or 'normalizer')",
				  path, it->rec.kind ? it->rec.kind : "(null)");
		goto fail_it;
	}
	if (!valid_name(it->rec.name)) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' has invalid name '%s' (use lowercase letters, digits and '_')",
				  path, it->rec.name ? it->rec.name : "(null)");
		goto fail_it;
	}
	if (!it->rec.version)
		it->rec.version = "";
	if (!it->rec.description)
		it->rec.description = "";
	if (!rec->ops) {
		rc = mlip_err_set(err, MLIP_EPLUGIN, "plugin '%s' (%s '%s') has no ops table", path,
				  it->rec.kind, it->rec.name);
		goto fail_it;
	}
	if (rec->ops->ops_size < OPS_MIN_SIZE) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' (%s '%s') declares a %zu-byte ops table, smaller than the "
				  "%zu bytes of plugin ABI version %d",
				  path, it->rec.kind, it->rec.name, rec->ops->ops_size,
				  (size_t)OPS_MIN_SIZE, MLIP_PLUGIN_ABI);
		goto fail_it;
	}
	memcpy(&it->ops, rec->ops,
	       rec->ops->ops_size < sizeof(it->ops) ? rec->ops->ops_size : sizeof(it->ops));
	it->rec.ops = &it->ops;
	const char *op = missing_op(&it->rec);
	if (op) {
		rc = mlip_err_set(err, MLIP_EPLUGIN,
				  "plugin '%s' (%s '%s') lacks the required op '%s'", path,
				  it->rec.kind, it->rec.name, op);
		goto fail_it;
	}
	if (!(it->path = strdup(path))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory loading plugin '%s'", path);
		goto fail_it;
	}
	it->dl = dl;
	*out = it;
	return MLIP_OK;
fail_it:
	free(it);
fail:
	dlclose(dl);
	return rc;
}

static int add_item(struct mlip_plugins *reg, struct mlip_plugin_loaded *it, struct mlip_err *err)
{
	if (reg->n_items == reg->cap_items) {
		size_t cap = reg->cap_items ? 2 * reg->cap_items : 8;
		struct mlip_plugin_loaded **items = realloc(reg->items, cap * sizeof(*items));
		if (!items)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory registering plugin '%s'", it->path);
		reg->items = items;
		reg->cap_items = cap;
	}
	reg->items[reg->n_items++] = it;
	return MLIP_OK;
}

static void drop_item(struct mlip_plugin_loaded *it)
{
	dlclose(it->dl);
	free(it->path);
	free(it);
}

int mlip_plugins_load(struct mlip_plugins *reg, const char *path,
		      const struct mlip_plugin **out, struct mlip_err *err)
{
	struct mlip_plugin_loaded *it, *old;
	int rc = open_plugin(path, &it, err);
	if (rc)
		return rc;
	if ((old = lookup(reg, it->rec.kind, it->rec.name))) {
		if (strcmp(old->path, it->path))
			mlip_log(MLIP_LOG_DEBUG, "plugin '%s' ignored: %s '%s' already loaded from '%s'",
				 path, old->rec.kind, old->rec.name, old->path);
		drop_item(it);
		if (out)
			*out = &old->rec;
		return MLIP_OK;
	}
	if ((rc = add_item(reg, it, err))) {
		drop_item(it);
		return rc;
	}
	mlip_log(MLIP_LOG_DEBUG, "loaded %s plugin '%s' %s from '%s'", it->rec.kind, it->rec.name,
		 it->rec.version, it->path);
	if (out)
		*out = &it->rec;
	return MLIP_OK;
}

/* ---- search path ---- */

/* A growing list of directory strings (owned). */
struct dirlist {
	char **v;
	size_t n;
};

static int dirlist_add(struct dirlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	l->v = v;
	if (!(v[l->n] = strndup(s, len)))
		return -1;
	l->n++;
	return 0;
}

static void dirlist_free(struct dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* The directories to search, in order (see plugin.h). -1 when out of memory. */
static int search_dirs(const struct mlip_plugins *reg, struct dirlist *l)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < reg->n_dirs; i++)
		if (dirlist_add(l, reg->dirs[i], strlen(reg->dirs[i])))
			return -1;
	const char *env = getenv("MLIP_PLUGIN_PATH");
	while (env && *env) {
		const char *colon = strchr(env, ':');
		size_t len = colon ? (size_t)(colon - env) : strlen(env);
		if (len > 0 && dirlist_add(l, env, len))
			return -1;
		env += len + (colon != NULL);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			char dir[PATH_MAX + 32];
			*slash = '\0';
			/* the build tree (bin/ beside lib/plugins/), then an installed
			 * tree wherever it was moved (PREFIX/bin beside PREFIX/lib/mlip/plugins) */
			snprintf(dir, sizeof(dir), "%s/../lib/plugins", exe);
			if (dirlist_add(l, dir, strlen(dir)))
				return -1;
			snprintf(dir, sizeof(dir), "%s/../lib/mlip/plugins", exe);
			if (dirlist_add(l, dir, strlen(dir)))
				return -1;
		}
	}
	return dirlist_add(l, MLIP_PLUGINDIR, strlen(MLIP_PLUGINDIR));
}

void mlip_plugins_path(const struct mlip_plugins *reg, char *buf, size_t cap)
{
	struct dirlist l;
	size_t used = 0;
	if (cap == 0)
		return;
	buf[0] = '\0';
	if (search_dirs(reg, &l) == 0) {
		for (size_t i = 0; i < l.n && used + 1 < cap; i++) {
			int w = snprintf(buf + used, cap - used, "%s%s", i ? ":" : "", l.v[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
	}
	dirlist_free(&l);
}

int mlip_plugins_find(struct mlip_plugins *reg, const char *kind, const char *name,
		      const struct mlip_plugin **out, struct mlip_err *err)
{
	struct mlip_plugin_loaded *it;
	struct dirlist l;
	char file[256], path[PATH_MAX];
	int rc;

	if (!known_kind(kind))
		return mlip_err_set(err, MLIP_EPLUGIN, "unknown plugin kind '%s' (expected 'loss' or 'normalizer')",
				    kind ? kind : "(null)");
	if (!valid_name(name) || strlen(name) > 128)
		return mlip_err_set(err, MLIP_EPLUGIN,
				    "invalid %s plugin name '%s' (use lowercase letters, digits and '_')",
				    kind, name ? name : "(null)");
	if ((it = lookup(reg, kind, name))) {
		*out = &it->rec;
		return MLIP_OK;
	}
	snprintf(file, sizeof(file), "mlip-%s-%s.so", kind, name);
	for (char *c = file + strlen("mlip-") + strlen(kind) + 1; *c; c++)
		if (*c == '_')
			*c = '-';

	if (search_dirs(reg, &l)) {
		dirlist_free(&l);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory searching for %s plugin '%s'", kind, name);
	}
	for (size_t i = 0; i < l.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", l.v[i], file);
		if (access(path, F_OK) != 0)
			continue;
		dirlist_free(&l);
		if ((rc = open_plugin(path, &it, err)))
			return rc;
		if (strcmp(it->rec.kind, kind) || strcmp(it->rec.name, name)) {
			rc = mlip_err_set(err, MLIP_EPLUGIN,
					  "plugin '%s' is %s '%s', not the %s '%s' its file name promises",
					  path, it->rec.kind, it->rec.name, kind, name);
			drop_item(it);
			return rc;
		}
		if ((rc = add_item(reg, it, err))) {
			drop_item(it);
			return rc;
		}
		mlip_log(MLIP_LOG_DEBUG, "loaded %s plugin '%s' %s from '%s'", kind, name,
			 it->rec.version, it->path);
		*out = &it->rec;
		return MLIP_OK;
	}

	/* Not found: say what was looked for and everywhere it was looked for. */
	char dirs[MLIP_ERR_MSG_MAX];
	size_t used = 0;
	dirs[0] = '\0';
	for (size_t i = 0; i < l.n && used + 1 < sizeof(dirs); i++) {
		int w = snprintf(dirs + used, sizeof(dirs) - used, "%s%s", i ? ", " : "", l.v[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	dirlist_free(&l);
	return mlip_err_set(err, MLIP_EPLUGIN,
			    "%s plugin '%s' not found (add its directory with --plugin-path or "
			    "MLIP_PLUGIN_PATH): no %s in %s",
			    kind, name, file, dirs);
}
