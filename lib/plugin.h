/*
 * plugin.h - the plugin loader: finds, opens and checks loss and normalizer
 * plugins (plugins/mlip_plugin.h describes the ABI, mlip-plugin(7) the rest).
 *
 * A plugin of kind K and name N lives in a file mlip-K-N'.so, where N' is N
 * with '_' written as '-' (loss "per_atom_mae" -> mlip-loss-per-atom-mae.so).
 * mlip_plugins_find() looks for that file, in this order:
 *   1. the directories added with mlip_plugins_add_dir() (--plugin-path), in order;
 *   2. the directories of $MLIP_PLUGIN_PATH (colon-separated, empty parts skipped);
 *   3. the build tree: dirname(/proc/self/exe)/../lib/plugins, so that bin/mlip-*
 *      and tests/check_mlip find lib/plugins without installing;
 *   4. the installed directory MLIP_PLUGINDIR ($(PREFIX)/lib/mlip/plugins).
 * The first file that exists is loaded; a broken file is an error, it never
 * falls through to a later directory (a shadowing plugin must not be skipped
 * silently).
 *
 * Every failure is MLIP_EPLUGIN (CLI exit status 5) with a message naming the
 * path. Plugins are deduplicated by (kind, name): the first one loaded wins,
 * and later requests for the same pair get it again.
 *
 * Ownership: the registry owns the loaded objects. A `const struct
 * mlip_plugin *` it returns, and every string and op in it, is borrowed
 * until mlip_plugins_release(): release the losses and normalizers made
 * from a registry before the registry itself.
 */
#ifndef MLIP_PLUGIN_LOADER_H
#define MLIP_PLUGIN_LOADER_H

#include <stddef.h>

#include "error.h"
#include "mlip_plugin.h"

struct mlip_plugin_loaded;   /* one open object (plugin.c) */

struct mlip_plugins {
	char **dirs;                       /* (n_dirs) explicit directories, owned */
	size_t n_dirs;
	struct mlip_plugin_loaded **items; /* (n_items) loaded plugins, owned */
	size_t n_items, cap_items;
};

/* An empty registry (no allocation). */
void mlip_plugins_init(struct mlip_plugins *reg);

/* dlclose every plugin and free everything; reg is empty again afterwards. */
void mlip_plugins_release(struct mlip_plugins *reg);

/*
 * Add dir to the explicit search directories, after those already added
 * (the --plugin-path option). The directory need not exist. MLIP_ENOMEM.
 */
int mlip_plugins_add_dir(struct mlip_plugins *reg, const char *dir, struct mlip_err *err);

/*
 * Open the plugin file at path (the --plugin option), check it and register
 * it under its own (kind, name). If that pair is already loaded the earlier
 * plugin stays and is returned (out may be NULL). MLIP_EPLUGIN when the file
 * cannot be opened, lacks mlip_plugin_entry, has another ABI, a short record,
 * an unknown kind, a bad name or a missing required op.
 *
 *     const struct mlip_plugin *p;
 *     if (mlip_plugins_load(&reg, "./mlip-loss-mine.so", &p, &err)) return err.code;
 */
int mlip_plugins_load(struct mlip_plugins *reg, const char *path,
		      const struct mlip_plugin **out, struct mlip_err *err);

/*
 * The plugin of kind ("loss" or "normalizer") and name, loaded now from the
 * search path or earlier. MLIP_EPLUGIN when no directory has the file (the
 * message names the kind, the name, the file and every directory searched),
 * when the file is broken, or when the file's record is of another kind or
 * name than its file name says.
 *
 *     const struct mlip_plugin *huber;
 *     int rc = mlip_plugins_find(&reg, "loss", "huber", &huber, &err);
 */
int mlip_plugins_find(struct mlip_plugins *reg, const char *kind, const char *name,
		      const struct mlip_plugin **out, struct mlip_err *err);

/*
 * The search directories in order (as mlip_plugins_find would use them now),
 * joined with ':' into buf[cap] (truncated if need be). For --help and logs.
 */
void mlip_plugins_path(const struct mlip_plugins *reg, char *buf, size_t cap);

/* The path a registered plugin was loaded from (borrowed), or NULL if p is not from reg. */
const char *mlip_plugins_origin(const struct mlip_plugins *reg, const struct mlip_plugin *p);

/* The host interface handed to every plugin's create(): mlip_log, malloc, free. */
const struct mlip_host_api *mlip_plugin_host(void);

/*
 * Turn a plugin op's failure into an mlip status: MLIP_EPLUGIN with
 * "<kind> plugin '<name>': <msg>" (msg is the plugin's err buffer; an empty
 * one becomes "failed without a message"). For lib/loss.c and lib/normalizer.c.
 */
int mlip_plugin_fail(const struct mlip_plugin *p, const char *op, const char *msg,
		     struct mlip_err *err);

#endif
