/*
 * log.h - the library's only channel for messages.
 *
 * lib/ never writes to stdout. Messages go to a replaceable callback that
 * defaults to stderr; programs may install their own (e.g. rank-0 only).
 */
#ifndef MLIP_LOG_H
#define MLIP_LOG_H

enum mlip_log_level {
	MLIP_LOG_ERROR = 0,
	MLIP_LOG_WARN = 1,
	MLIP_LOG_INFO = 2,
	MLIP_LOG_DEBUG = 3,
};

typedef void (*mlip_log_fn)(enum mlip_log_level level, const char *msg, void *user);

/* Install fn (NULL restores the stderr default); user is passed back to fn. */
void mlip_log_set_callback(mlip_log_fn fn, void *user);

/* Messages above level are dropped (default MLIP_LOG_INFO). */
void mlip_log_set_level(enum mlip_log_level level);
enum mlip_log_level mlip_log_get_level(void);

void mlip_log(enum mlip_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
