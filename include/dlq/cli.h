/*
 * cli.h: the command table of the `dlq` binary. `serve` and `migrate` run in
 * process; every other command is an HTTP client of a server (libcurl) and
 * never opens the database. Commands return the process exit status:
 * 0 success, 1 an error, 2 bad usage.
 */
#ifndef DLQ_CLI_H
#define DLQ_CLI_H

enum { DLQ_EXIT_OK = 0, DLQ_EXIT_ERROR = 1, DLQ_EXIT_USAGE = 2 };

struct dlq_command {
    const char *name;                  /* "list", "token", ... */
    const char *summary;               /* one line for `dlq --help` */
    const char *usage;                 /* full text for `dlq CMD --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

/* dlq_cli_commands returns the client commands, ended by a {NULL} row. */
const struct dlq_command *dlq_cli_commands(void);

/* In-process commands (src/serve.c, src/migrate.c). */
extern const struct dlq_command dlq_cmd_serve;
extern const struct dlq_command dlq_cmd_migrate;

#endif
