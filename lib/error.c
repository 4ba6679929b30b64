/*
 * error.c - status codes, error messages and assertion failures.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "banned.h"

int mlip_err_set(struct mlip_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int mlip_err_prefix(struct mlip_err *err, int code, const char *fmt, ...)
{
	if (err) {
		char old[MLIP_ERR_MSG_MAX];
		va_list ap;
		memcpy(old, err->msg, sizeof(old));
		old[sizeof(old) - 1] = '\0';
		va_start(ap, fmt);
		int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		/* The message is truncated, never overflowed, when both parts are long. */
		size_t used = n < 0 ? 0 : (size_t)n < sizeof(err->msg) ? (size_t)n : sizeof(err->msg) - 1;
		size_t room = sizeof(err->msg) - 1 - used, len = strlen(old);
		if (len > room)
			len = room;
		memcpy(err->msg + used, old, len);
		err->msg[used + len] = '\0';
		err->code = code;
	}
	return code;
}

void mlip_err_clear(struct mlip_err *err)
{
	if (err) {
		err->code = MLIP_OK;
		err->msg[0] = '\0';
	}
}

const char *mlip_strerror(int code)
{
	switch (code) {
	case MLIP_OK: return "success";
	case MLIP_EINVAL: return "invalid argument or configuration";
	case MLIP_EDATA: return "bad input data";
	case MLIP_EIO: return "i/o error";
	case MLIP_ENOMEM: return "out of memory";
	case MLIP_EPLUGIN: return "plugin error";
	case MLIP_ERUN: return "run failed";
	}
	return "unknown error";
}

void mlip_assert_fail(const char *expr, const char *file, int line)
{
	mlip_log(MLIP_LOG_ERROR, "%s:%d: assertion failed: %s", file, line, expr);
	abort();
}
