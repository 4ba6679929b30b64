/*
 * log.c - leveled logging through a replaceable callback (ggml style).
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "banned.h"

static void log_stderr(enum mlip_log_level level, const char *msg, void *user)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	(void)user;
	if (level == MLIP_LOG_INFO)
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "%s: %s\n", names[level], msg);
}

static mlip_log_fn log_fn = log_stderr;
static void *log_user;
static enum mlip_log_level log_level = MLIP_LOG_INFO;

void mlip_log_set_callback(mlip_log_fn fn, void *user)
{
	log_fn = fn ? fn : log_stderr;
	log_user = user;
}

void mlip_log_set_level(enum mlip_log_level level)
{
	log_level = level;
}

enum mlip_log_level mlip_log_get_level(void)
{
	return log_level;
}

void mlip_log(enum mlip_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_fn(level, buf, log_user);
}
