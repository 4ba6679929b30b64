/*
 * error.h - status codes and the caller-owned error context.
 *
 * Every fallible lib/ function returns an int status: MLIP_OK (0) or a negative
 * MLIP_E* code. When the caller passes a struct mlip_err (usually on its stack),
 * the function also fills in a human-readable message in git style: lowercase,
 * no trailing full stop, no program prefix (cmd/ adds "mlip-xxx: error: ").
 * The err argument may be NULL: the code is still returned.
 */
#ifndef MLIP_ERROR_H
#define MLIP_ERROR_H

/* enum mlip_status (MLIP_OK, MLIP_EINVAL, ...) is public: mlip.h. */
#include "mlip.h"

#define MLIP_ERR_MSG_MAX 512

struct mlip_err {
	int code;
	char msg[MLIP_ERR_MSG_MAX];
};

/*
 * Record code and a printf-style message in err (if not NULL) and return code,
 * so that call sites read `return mlip_err_set(err, MLIP_EDATA, "...", ...)`.
 */
int mlip_err_set(struct mlip_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Prepend a context string ("file.xyz:12: ") to the message already in err.
 * Returns err->code (or MLIP_OK if err is NULL... callers pass the code through).
 */
int mlip_err_prefix(struct mlip_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A static description of a status code ("bad input data", ...). */
const char *mlip_strerror(int code);

/* Reset err to MLIP_OK with an empty message. */
void mlip_err_clear(struct mlip_err *err);

/*
 * Bugs (never bad input) abort with file:line. Under MPI the abort handler is
 * replaced so that every rank stops.
 */
void mlip_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn));
#define MLIP_ASSERT(x) ((x) ? (void)0 : mlip_assert_fail(#x, __FILE__, __LINE__))

#endif
