/*
 * commands.c: the table of client commands (tmux's cmd_table): each row is
 * a name, the line `dlq --help` shows, the text `dlq CMD --help` prints, and
 * the function that runs it. main.c dispatches through this table and
 * handles --help itself, so a command's run() only sees real work.
 */
#include <stddef.h>

#include "cli_int.h"

static const char list_usage[] =
    "usage: dlq list [OPTIONS]\n"
    "\n"
    "List dead-letter entries, newest failure first, as a table (or --json).\n"
    "\n"
    "options:\n"
    "  --limit N         entries per page, 1-100 (default 50)\n"
    "  --offset N        skip the first N matches\n"
    "  --cursor C        the page after the one that printed C (see \"next page:\")\n"
    "  --status S        pending_review, requires_review, retried, resolved, discarded,\n"
    "                    expired or archived; repeat or separate with commas for several\n"
    "  --task NAME       task name\n"
    "  --queue Q         queue\n"
    "  --tenant T        tenant id\n"
    "  --reason R        max_retries_exceeded, permanent_failure, job_not_found,\n"
    "                    invalid_arguments, timeout or external\n"
    "  --exception TYPE  exception type, e.g. ConnectionError\n"
    "  --fingerprint FP  failure group (see the groups API)\n"
    "  --filter TEXT     full-text search over task names, exception types, messages\n"
    "                    and tracebacks\n"
    "  --after TIME      failed at or after TIME: RFC 3339 (2026-01-25T10:30:00Z),\n"
    "                    a date (2026-01-25) or an age (30m, 2h, 7d: that long ago)\n"
    "  --before TIME     failed before TIME (same forms)\n"
    "  --json            print the server's JSON answer instead of a table\n" DLQ_CLI_GLOBAL_USAGE
    "\n"
    "examples:\n"
    "  dlq list --limit 20\n"
    "  dlq list --filter send_welcome_email --status pending_review\n"
    "  dlq list --after 2h --exception TimeoutError\n";

static const char show_usage[] =
    "usage: dlq show ID [--json]\n"
    "\n"
    "Show one entry with its exception, arguments, traceback and history. ID is a\n"
    "dlq_id (dlq_...) or the original task id.\n"
    "\n"
    "options:\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char token_usage[] =
    "usage: dlq token create --name NAME --role ROLE [--tenant T] [--json]\n"
    "       dlq token list [--json]\n"
    "       dlq token revoke ID\n"
    "\n"
    "Manage API tokens (needs an admin token). A new token's secret is printed\n"
    "once and never again; the server keeps only its hash.\n"
    "\n"
    "roles:\n"
    "  viewer            reads entries and stats\n"
    "  operator          viewer + retry, resolve, discard, bulk operations, export\n"
    "  admin             operator + force redrive, cleanup, tokens, audit, settings\n"
    "  producer          ingests failures and runs the worker protocol only\n"
    "\n"
    "options:\n"
    "  --name NAME       a label for the token (who or what uses it)\n"
    "  --role ROLE       one of the roles above\n"
    "  --tenant T        bind the token to tenant T: it sees only that tenant\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const struct dlq_command commands[] = {
    {"list", "list dead-letter entries (filters, paging, full-text search)", list_usage,
     dlq_cli_list_run},
    {"show", "show one entry with its traceback and history", show_usage, dlq_cli_show_run},
    {"token", "create, list and revoke API tokens", token_usage, dlq_cli_token_run},
    {NULL, NULL, NULL, NULL},
};

const struct dlq_command *dlq_cli_commands(void)
{
    return commands;
}
