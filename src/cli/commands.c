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

static const char replay_usage[] =
    "usage: dlq replay ID [--queue Q] [--max-retries N] [--args JSON]\n"
    "                  [--kwargs JSON] [--force --reason R [--ticket URL]] [--json]\n"
    "       dlq replay FILTERS|--all [--max N] [--rate R] [--batch N]\n"
    "                  [--stop-rate F] [--min-samples N] [--outcome-timeout S]\n"
    "                  [--dry-run] [--wait] [--json]\n"
    "\n"
    "Replay one entry: it becomes 'retried' and a new job is dispatched. An entry\n"
    "below its replay budget (pending_review) is replayed by any operator; --force\n"
    "(admin) redrives one at the budget or in requires_review, with a fresh budget.\n"
    "Edits (--queue, --max-retries, --args, --kwargs) are applied first and kept in\n"
    "the entry's history with their before and after.\n"
    "\n"
    "With filters instead of an ID, start a bulk replay on the server: it replays\n"
    "the matching entries (pending_review unless --status says otherwise), oldest\n"
    "first, in batches at the rate asked, waits for their outcomes and stops\n"
    "itself when too many fail. Try --dry-run first.\n"
    "\n"
    "one entry:\n"
    "  --queue Q         replay on queue Q\n"
    "  --max-retries N   the replayed job's max_retries, 0-100\n"
    "  --args JSON       new task arguments, e.g. '[42, \"x\"]'\n"
    "  --kwargs JSON     new keyword arguments, a JSON object\n"
    "  --force           replay past the budget (admin; needs --reason)\n"
    "  --reason R        why (kept in the audit trail)\n"
    "  --ticket URL      a ticket or incident link (kept in the audit trail)\n"
    "\n"
    "bulk (filters select the entries; --queue and --reason are filters "
    "here):\n" DLQ_CLI_FILTER_USAGE "  --all             every replayable entry (no filter)\n"
    "  --max N           replay at most N entries, 1-1000000 (required unless\n"
    "                    --dry-run)\n"
    "  --rate R          entries per second, 0-100000 (default 0: unthrottled)\n"
    "  --batch N         entries per batch, 1-10000 (default 100)\n"
    "  --stop-rate F     stop when more than this share of finished replays failed,\n"
    "                    0-1 (default 0.5)\n"
    "  --min-samples N   finished replays needed before --stop-rate applies\n"
    "                    (default 10)\n"
    "  --outcome-timeout S  seconds to wait for a batch's outcomes, 0-86400 (default\n"
    "                    300; 0: do not wait)\n"
    "  --ticket URL      a ticket or incident link (kept in the audit trail)\n"
    "  --dry-run         show what would be replayed (count, by task and exception,\n"
    "                    first ids) and replay nothing\n"
    "  --wait            follow the operation until it ends (Ctrl-C stops following,\n"
    "                    not the operation); exit 0 only if it ended 'done'\n"
    "\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE "\n"
    "examples:\n"
    "  dlq replay dlq_01JHX0000000000000000000AB\n"
    "  dlq replay dlq_01JHX0000000000000000000AB --queue retry --max-retries 5\n"
    "  dlq replay dlq_01JHX0000000000000000000AB --force --reason 'fixed in v2.3.1'\n"
    "  dlq replay --task app.tasks.sync_inventory --after 2h --dry-run\n"
    "  dlq replay --exception TimeoutError --max 1000 --rate 50 --wait\n";

static const char resolve_usage[] =
    "usage: dlq resolve ID [--notes TEXT] [--json]\n"
    "       dlq resolve --ids ID,ID,...|FILTERS|--all [--max N] [--notes TEXT]\n"
    "                   [--dry-run] [--json]\n"
    "\n"
    "Mark entries resolved (handled without a replay): one by ID, or many by --ids\n"
    "or by filters (pending_review, requires_review and retried entries unless\n"
    "--status says otherwise). Entries that cannot be resolved are listed as\n"
    "skipped.\n"
    "\n"
    "options:\n"
    "  --notes TEXT      resolution notes\n"
    "  --ids LIST        entry ids separated by commas or spaces (at most 10000);\n"
    "                    '-' reads them from standard input\n" DLQ_CLI_FILTER_USAGE
    "  --all             every entry in the statuses above (no filter)\n"
    "  --max N           with filters: at most N entries, 1-1000000\n"
    "  --dry-run         say how many would be resolved; change nothing\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE "\n"
    "examples:\n"
    "  dlq resolve dlq_01JHX0000000000000000000AB --notes 'refunded by hand'\n"
    "  dlq resolve --fingerprint 3f2a9c1e0b7d4a65 --dry-run\n";

static const char delete_usage[] =
    "usage: dlq delete ID [--reason R] [--json]\n"
    "       dlq delete --ids ID,ID,...|FILTERS|--all [--max N] [--dry-run] [--json]\n"
    "\n"
    "Discard entries (status 'discarded'; they stay for the retention period and\n"
    "the audit trail): one by ID, or many by --ids or by filters (pending_review,\n"
    "requires_review and retried entries unless --status says otherwise).\n"
    "\n"
    "options:\n"
    "  --reason R        with an ID: why (kept in the audit trail); in the bulk form\n"
    "                    --reason is the failure-reason filter below\n"
    "  --ids LIST        entry ids separated by commas or spaces (at most 10000);\n"
    "                    '-' reads them from standard input\n" DLQ_CLI_FILTER_USAGE
    "  --all             every entry in the statuses above (no filter)\n"
    "  --max N           with filters: at most N entries, 1-1000000\n"
    "  --dry-run         say how many would be discarded; change nothing\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE "\n"
    "examples:\n"
    "  dlq delete dlq_01JHX0000000000000000000AB --reason 'test data'\n"
    "  dlq list --status requires_review --json | jq -r '.items[].dlq_id' |\n"
    "      dlq delete --ids -\n";

static const char cleanup_usage[] =
    "usage: dlq cleanup --days N [--status S]... [--dry-run] [--json]\n"
    "\n"
    "Delete entries for good (admin) that failed more than N days ago. Only\n"
    "resolved, discarded, expired and archived entries unless --status names\n"
    "others; pending entries go only when named.\n"
    "\n"
    "options:\n"
    "  --days N          failed more than N days ago, 0-36500 (required)\n"
    "  --status S        a status to delete; repeat or separate with commas\n"
    "  --dry-run         say how many would be deleted, by status; delete nothing\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE "\n"
    "examples:\n"
    "  dlq cleanup --days 30\n"
    "  dlq cleanup --days 7 --dry-run\n";

static const char export_usage[] =
    "usage: dlq export [--format json|ndjson|csv] [--output FILE] [FILTERS]\n"
    "\n"
    "Export the matching entries (all of them by default). The server streams\n"
    "them and they are written as they arrive; FILE appears once the export is\n"
    "complete (a failed export leaves no file behind). A progress line shows on\n"
    "a terminal; the count of entries exported is printed at the end.\n"
    "\n"
    "options:\n"
    "  --format F        json (an array), ndjson (one entry per line) or csv (one\n"
    "                    row per entry; JSON fields as JSON text). Default: from\n"
    "                    FILE's extension (.json, .ndjson, .jsonl, .csv), else json\n"
    "  --output FILE     where to write (default, or '-': standard output)\n" DLQ_CLI_FILTER_USAGE
        DLQ_CLI_GLOBAL_USAGE "  (--timeout bounds connecting and any stall, not the whole export)\n"
    "\n"
    "examples:\n"
    "  dlq export --format json --output dead_jobs.json\n"
    "  dlq export --format csv --output dead_jobs.csv --status pending_review\n";

static const char stats_usage[] =
    "usage: dlq stats [--hours N] [--json]\n"
    "\n"
    "Show the state of the dead-letter queue: health, pending entries and the\n"
    "oldest of them, new failures in the last hour and in the window, the alert\n"
    "status, and the pending entries by task, queue, reason and exception type.\n"
    "\n"
    "options:\n"
    "  --hours N         the window for \"new failures\", 1-720 (default 24)\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char groups_usage[] =
    "usage: dlq groups [--status S] [--task NAME] [--queue Q] [--exception TYPE]\n"
    "                  [--limit N] [--json]\n"
    "\n"
    "Show failures grouped by fingerprint (task, exception type and the message\n"
    "with numbers, ids and quoted values masked): the biggest open problems first.\n"
    "A fingerprint is a filter everywhere: dlq list --fingerprint FP.\n"
    "\n"
    "options:\n"
    "  --status S        count only entries in status S (commas for several)\n"
    "  --task NAME       task name\n"
    "  --queue Q         queue\n"
    "  --exception TYPE  exception type\n"
    "  --limit N         groups to show, 1-100 (default 50)\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char alerts_usage[] =
    "usage: dlq alerts [--json]\n"
    "\n"
    "Show each alert rule (pending too long, too many new failures, replay\n"
    "failure rate, health critical, retention cap): firing or not, since when,\n"
    "and why.\n"
    "\n"
    "options:\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char audit_usage[] =
    "usage: dlq audit [--actor A] [--action X] [--target ID] [--since T] [--until T]\n"
    "                 [--limit N] [--cursor C] [--json]\n"
    "\n"
    "Show the audit trail (admin), newest first: every retry, force redrive,\n"
    "edit, resolve, discard, bulk operation, cleanup and token change, with who,\n"
    "on which entries, why and when.\n"
    "\n"
    "options:\n"
    "  --actor A         records by this actor (a token's name)\n"
    "  --action X        retry, force_redrive, edit, resolve, discard, outcome,\n"
    "                    replay_bulk, resolve_bulk, discard_bulk, operation_cancel,\n"
    "                    cleanup, token_create or token_revoke\n"
    "  --target ID       records that touched entry ID\n"
    "  --since TIME      at or after TIME: RFC 3339, a date or an age (2h, 7d)\n"
    "  --until TIME      before TIME (same forms)\n"
    "  --limit N         records per page, 1-100\n"
    "  --cursor C        the page after the one that printed C (see \"next page:\")\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char ops_usage[] =
    "usage: dlq ops [--json]\n"
    "       dlq ops ID [--wait | --cancel] [--json]\n"
    "\n"
    "Server-side bulk operations (see 'dlq replay'). Without an ID, list the\n"
    "recent ones; with an ID, show one. --wait follows it until it ends (exit 0\n"
    "only if it ended 'done'); --cancel stops it (entries already replayed stay\n"
    "replayed).\n"
    "\n"
    "options:\n"
    "  --wait            follow the operation's progress until it ends\n"
    "  --cancel          cancel the operation\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

/* ---- the native job queue (issue 4) ---- */

static const char enqueue_usage[] =
    "usage: dlq enqueue QUEUE TASK [--args JSON] [--kwargs JSON] [--max-retries N]\n"
    "                   [--delay S] [--priority N] [--timeout S] [--idempotency-key K]\n"
    "                   [--json]\n"
    "\n"
    "Put a job on QUEUE for workers to run (see 'dlq worker'). Prints the job id.\n"
    "\n"
    "options:\n"
    "  --args JSON       positional arguments, a JSON array (default [])\n"
    "  --kwargs JSON     keyword arguments, a JSON object (default {})\n"
    "  --max-retries N   retries after the first attempt, 0-100 (default 3); then\n"
    "                    the job goes to the dead-letter queue\n"
    "  --delay S         run it S seconds from now (30, 1.5) or after a duration\n"
    "                    (5m, 2h)\n"
    "  --priority N      -1000 to 1000, higher first (default 0)\n"
    "  --timeout S       the job's time limit (its lease), 1-86400 s (default 30)\n"
    "  --idempotency-key K  a repeat with the same key gives the same job\n"
    "  --json            print the server's JSON answer\n"
    "\n"
    "global options:\n"
    "  --url URL         the server (default $DLQ_URL, else " DLQ_CLI_DEFAULT_URL ")\n"
    "  --token T         API token (default $DLQ_TOKEN)\n"
    "  --request-timeout S  seconds to wait for an answer (default 30)\n"
    "\n"
    "examples:\n"
    "  dlq enqueue billing charge_card --kwargs '{\"customer\": 42, \"amount\": 250}'\n"
    "  dlq enqueue mail send_welcome --args '[\"ana@example.com\"]' --delay 5m\n";

static const char queues_usage[] =
    "usage: dlq queues [--json]\n"
    "\n"
    "Show every queue of the job queue: jobs ready, scheduled (delayed or waiting\n"
    "for a retry), running, succeeded and dead, the age of the oldest ready job,\n"
    "whether the queue is paused and where its replays go.\n"
    "\n"
    "options:\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char queue_usage[] =
    "usage: dlq queue set QUEUE [--target native|webhook] [--webhook-url U]\n"
    "                 [--webhook-secret S] [--max-replays N] [--json]\n"
    "       dlq queue pause QUEUE [--json]\n"
    "       dlq queue resume QUEUE [--json]\n"
    "\n"
    "Change a queue. 'set' (admin) chooses where replays of its dead-lettered jobs\n"
    "go: back onto the queue for workers (native, the default) or POSTed, signed\n"
    "with HMAC-SHA256, to a webhook. 'pause' stops workers from getting its jobs\n"
    "(enqueues still work); 'resume' starts them again.\n"
    "\n"
    "options:\n"
    "  --target T        native or webhook\n"
    "  --webhook-url U   the http(s) URL replays are POSTed to (target webhook)\n"
    "  --webhook-secret S  the HMAC key of X-DLQ-Signature (never shown back)\n"
    "  --max-replays N   replay budget of entries from this queue, 1-100\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char job_usage[] =
    "usage: dlq job ID [--json]\n"
    "\n"
    "Show one job: queue, task, state, attempt, times, last error, arguments,\n"
    "result and every attempt so far.\n"
    "\n"
    "options:\n"
    "  --json            print the server's JSON answer\n" DLQ_CLI_GLOBAL_USAGE;

static const char worker_usage[] =
    "usage: dlq worker --queue Q [--concurrency N] [--lease S] [--task NAME]...\n"
    "                  [--worker-id ID] -- COMMAND ARGS...\n"
    "\n"
    "Run jobs of queue Q: reserve them (long poll) and run COMMAND once per job,\n"
    "with the job's JSON on standard input and DLQ_JOB_ID, DLQ_TASK_NAME,\n"
    "DLQ_ATTEMPT and DLQ_QUEUE in its environment.\n"
    "  exit 0            the job succeeded (standard output, when it is JSON, is\n"
    "                    kept as the job's result)\n"
    "  exit 3            the job failed for good: it goes to the dead-letter queue\n"
    "                    at once (permanent_failure)\n"
    "  any other exit, a signal, or running past the lease: the job failed and is\n"
    "                    retried with backoff; the last lines of standard error (up\n"
    "                    to 4 KiB) are its error message\n"
    "The lease is heartbeated every lease/3 while COMMAND runs. One line per job\n"
    "outcome goes to standard error. SIGINT/SIGTERM: no new jobs, the running\n"
    "ones finish and are reported, exit 0; a second signal kills them (their\n"
    "leases give the jobs back to the queue).\n"
    "\n"
    "options:\n"
    "  --queue Q         the queue (required)\n"
    "  --concurrency N   commands at once, 1-256 (default 1)\n"
    "  --lease S         seconds a command may run, 1-86400 (default: each job's\n"
    "                    timeout)\n"
    "  --task NAME       run only jobs of this task; repeat for several\n"
    "  --worker-id ID    the name in the jobs' attempts (default HOST:PID)\n" DLQ_CLI_GLOBAL_USAGE
    "\n"
    "examples:\n"
    "  dlq worker --queue billing --concurrency 4 -- python3 -m app.run_job\n"
    "  dlq worker --queue mail -- sh -c 'jq -r .args[0] | ./send-mail'\n";

static const char demo_usage[] =
    "usage: dlq demo [--url U] [--token T]\n"
    "\n"
    "A two-minute tour of the job queue against a running server (dlq serve):\n"
    "enqueues a mix of jobs on queue 'demo', runs a worker whose command fails\n"
    "some of them (charges over 100), shows them arrive in the dead-letter queue,\n"
    "\"fixes\" the command, bulk-replays them and shows them resolved. It starts\n"
    "nothing it does not stop and leaves no files behind.\n" DLQ_CLI_GLOBAL_USAGE;

static const struct dlq_command commands[] = {
    {"list", "list dead-letter entries (filters, paging, full-text search)", list_usage,
     dlq_cli_list_run},
    {"show", "show one entry with its traceback and history", show_usage, dlq_cli_show_run},
    {"replay", "replay an entry (edit, force) or start a safe bulk replay", replay_usage,
     dlq_cli_replay_run},
    {"resolve", "mark entries resolved (one, by ids or by filter)", resolve_usage,
     dlq_cli_resolve_run},
    {"delete", "discard entries (one, by ids or by filter)", delete_usage, dlq_cli_delete_run},
    {"ops", "list, follow and cancel bulk operations", ops_usage, dlq_cli_ops_run},
    {"stats", "health, pending, failure rates and breakdowns", stats_usage, dlq_cli_stats_run},
    {"groups", "failures grouped by fingerprint", groups_usage, dlq_cli_groups_run},
    {"alerts", "alert rules: firing or not, and why", alerts_usage, dlq_cli_alerts_run},
    {"export", "export entries as JSON, NDJSON or CSV", export_usage, dlq_cli_export_run},
    {"cleanup", "delete old closed entries for good (admin)", cleanup_usage, dlq_cli_cleanup_run},
    {"audit", "the audit trail of operator actions (admin)", audit_usage, dlq_cli_audit_run},
    {"token", "create, list and revoke API tokens", token_usage, dlq_cli_token_run},
    {"enqueue", "put a job on a queue of the job queue", enqueue_usage, dlq_cli_enqueue_run},
    {"queues", "queues of the job queue: ready, running, dead, oldest", queues_usage,
     dlq_cli_queues_run},
    {"queue", "set a queue's replay target, pause or resume it", queue_usage, dlq_cli_queue_run},
    {"job", "show one job with its attempts", job_usage, dlq_cli_job_run},
    {"worker", "run a command for each job of a queue", worker_usage, dlq_cli_worker_run},
    {"demo", "a tour: jobs fail, land in the DLQ, get replayed, resolve", demo_usage,
     dlq_cli_demo_run},
    {NULL, NULL, NULL, NULL},
};

const struct dlq_command *dlq_cli_commands(void)
{
    return commands;
}
