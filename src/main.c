/*
 * main.c: reads argv and hands over to a command from the table: `serve` and
 * `migrate` in process, every other one through the CLI's command table.
 */
#include <stdio.h>
#include <string.h>

#include "dlq/cli.h"

static void usage(FILE *out)
{
    fprintf(out, "dlq %s: a dead-letter queue server for background jobs\n\n", DLQ_VERSION);
    fprintf(out, "usage: dlq COMMAND [OPTIONS]\n\ncommands:\n");
    fprintf(out, "  %-10s %s\n", dlq_cmd_serve.name, dlq_cmd_serve.summary);
    fprintf(out, "  %-10s %s\n", dlq_cmd_migrate.name, dlq_cmd_migrate.summary);
    for (const struct dlq_command *c = dlq_cli_commands(); c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'dlq COMMAND --help' for a command's options.\n"
                 "Client commands read DLQ_URL and DLQ_TOKEN (or --url, --token).\n");
}

static const struct dlq_command *find(const char *name)
{
    if (strcmp(name, dlq_cmd_serve.name) == 0)
        return &dlq_cmd_serve;
    if (strcmp(name, dlq_cmd_migrate.name) == 0)
        return &dlq_cmd_migrate;
    for (const struct dlq_command *c = dlq_cli_commands(); c->name; c++)
        if (strcmp(name, c->name) == 0)
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DLQ_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return DLQ_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("dlq %s\n", DLQ_VERSION);
        return DLQ_EXIT_OK;
    }
    const struct dlq_command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "dlq: unknown command '%s' (try 'dlq --help')\n", argv[1]);
        return DLQ_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(c->usage, stdout);
            return DLQ_EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
