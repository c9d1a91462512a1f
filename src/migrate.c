/*
 * migrate.c: `dlq migrate`, creating or upgrading the schema without
 * serving (the server does the same at start). Opening with migrate=1 does
 * the work; the migrate call after it reports the version the database had
 * when it was opened (see the sqlite backend's migrate), so the command can
 * say what changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/cli.h"
#include "dlq/store.h"

static int migrate_run(int argc, char **argv)
{
    const char *env_db = getenv("DLQ_DB"), *env_store = getenv("DLQ_STORE");
    const char *db = env_store && *env_store ? env_store : env_db && *env_db ? env_db : "./dlq.db";
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "--store") == 0) && i + 1 < argc &&
            argv[i + 1][0]) {
            db = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0 && argv[i][5]) {
            db = argv[i] + 5;
        } else if (strncmp(argv[i], "--store=", 8) == 0 && argv[i][8]) {
            db = argv[i] + 8;
        } else {
            fprintf(stderr, "dlq migrate: %s '%s' (try 'dlq migrate --help')\n",
                    strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "--store") == 0
                        ? "a path is needed after"
                        : "unknown option",
                    argv[i]);
            return DLQ_EXIT_USAGE;
        }
    }
    char err[512] = "";
    struct dlq_store_config cfg = {
        .path = db, .durability = DLQ_DURABILITY_FULL, .busy_timeout_ms = 5000, .migrate = 1};
    struct dlq_store *s = NULL;
    if (dlq_store_open(dlq_store_backend_of(db), &cfg, &s, err, sizeof(err)) != DLQ_OK) {
        char where[512];
        fprintf(stderr, "dlq migrate: cannot open the store at '%s': %s\n",
                dlq_store_location_shown(db, where, sizeof where), err);
        return DLQ_EXIT_ERROR;
    }
    int from = 0, to = 0;
    int rc = dlq_store_migrate(s, &from, &to, err, sizeof(err));
    dlq_store_close(s);
    if (rc != DLQ_OK) {
        fprintf(stderr, "dlq migrate: %s\n", err);
        return DLQ_EXIT_ERROR;
    }
    if (from == to)
        printf("schema up to date at version %d\n", to);
    else
        printf("schema at version %d (was %d)\n", to, from);
    return DLQ_EXIT_OK;
}

const struct dlq_command dlq_cmd_migrate = {
    "migrate",
    "create or upgrade the database schema",
    "usage: dlq migrate [--store PATH|URL]\n"
    "\n"
    "  --store PATH|URL  a SQLite database file or a postgres:// URL (env DLQ_STORE;\n"
    "                    --db PATH and env DLQ_DB too; default ./dlq.db)\n"
    "\n"
    "Brings the schema to the newest version. `dlq serve` does the same at start.\n",
    migrate_run,
};
