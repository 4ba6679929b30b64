/*
 * cli.h - what every mlip program shares: exit statuses, --help/--version,
 * error printing and the stdout check at exit.
 */
#ifndef MLIP_CLI_H
#define MLIP_CLI_H

#include "error.h"

/* Exit statuses, the same for every command (mlip(7), EXIT STATUS). */
enum {
	CLI_OK = 0,
	CLI_RUN_FAILED = 1,
	CLI_USAGE = 2,
	CLI_BAD_DATA = 3,
	CLI_IO = 4,
	CLI_PLUGIN = 5,
};

/* Remember the program name and route lib/ logs to stderr. */
void cli_init(const char *prog);
const char *cli_prog(void);

/* Map an MLIP_E* status to an exit status. */
int cli_status(int code);

/* Print "PROG: MSG" and "try 'PROG --help'" on stderr, return CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The default case of a getopt_long loop: one message naming the option that
 * is unknown or lacks its value ("unknown option '--bogus'", "option '-c'
 * needs a value"), then as cli_usage_error. cli_init turns getopt's own
 * messages off.
 */
struct option;
int cli_bad_option(char **argv, const char *shortopts, const struct option *longopts);

/* Print "PROG: error: MSG" on stderr and return cli_status(code). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print err's message as above and return its exit status. */
int cli_fail(const struct mlip_err *err);

/* Print "PROG (mlip) VERSION" on stdout. */
void cli_version(void);

/*
 * Check and close stdout before a successful exit (git, jq): a full disk or a
 * closed pipe turns status 0 into CLI_IO with a message.
 */
int cli_finish(int status);

#endif
