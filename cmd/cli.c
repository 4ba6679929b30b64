/*
 * cli.c - shared command-line behaviour of the mlip programs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "log.h"

static const char *prog = "mlip";

static void log_with_prog(enum mlip_log_level level, const char *msg, void *user)
{
	(void)user;
	switch (level) {
	case MLIP_LOG_ERROR: fprintf(stderr, "%s: error: %s\n", prog, msg); break;
	case MLIP_LOG_WARN: fprintf(stderr, "%s: warning: %s\n", prog, msg); break;
	default: fprintf(stderr, "%s: %s\n", prog, msg); break;
	}
}

void cli_init(const char *name)
{
	const char *slash = strrchr(name, '/');
	prog = slash ? slash + 1 : name;
	/* getopt's own messages would come before ours: cli_bad_option says it once */
	opterr = 0;
	mlip_log_set_callback(log_with_prog, NULL);
	/* The network's GEMMs are small: BLAS threads spin more than they help,
	 * and MPI ranks already use the cores. OPENBLAS_NUM_THREADS overrides. */
	if (!getenv("OPENBLAS_NUM_THREADS"))
		openblas_set_num_threads(1);
}

const char *cli_prog(void)
{
	return prog;
}

int cli_status(int code)
{
	switch (code) {
	case MLIP_OK: return CLI_OK;
	case MLIP_EINVAL: return CLI_USAGE;
	case MLIP_EDATA: return CLI_BAD_DATA;
	case MLIP_EIO: case MLIP_ENOMEM: return CLI_IO;
	case MLIP_EPLUGIN: return CLI_PLUGIN;
	case MLIP_ERUN: return CLI_RUN_FAILED;
	}
	return CLI_RUN_FAILED;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry '%s --help'\n", prog);
	return CLI_USAGE;
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: error: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return cli_status(code);
}

int cli_fail(const struct mlip_err *err)
{
	return cli_error(err->code, "%s", err->msg[0] ? err->msg : mlip_strerror(err->code));
}

void cli_version(void)
{
	printf("%s (mlip) %s\n", prog, MLIP_VERSION);
}

int cli_finish(int status)
{
	int bad = ferror(stdout);
	if (fclose(stdout) != 0 && errno != EBADF)
		bad = 1;
	if (bad && status == CLI_OK)
		return cli_error(MLIP_EIO, "cannot write to standard output: %s", strerror(errno));
	return status;
}

int cli_bad_option(char **argv, const char *shortopts, const struct option *longopts)
{
	const char *arg = argv[optind - 1];
	if (optopt) {
		/* a known option without its value, given long or short */
		for (const struct option *o = longopts; o && o->name; o++)
			if (o->val == optopt && o->has_arg == required_argument && !strncmp(arg, "--", 2))
				return cli_usage_error("option '--%s' needs a value", o->name);
		const char *p = optopt < 256 ? strchr(shortopts, optopt) : NULL;
		if (p && p[1] == ':')
			return cli_usage_error("option '-%c' needs a value", optopt);
		if (optopt < 256 && optopt > ' ')
			return cli_usage_error("unknown option '-%c'", optopt);
	}
	return cli_usage_error("unknown option '%s'", arg);
}
