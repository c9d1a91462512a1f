/*
 * cmd_token.c: `dlq token create|list|revoke`, the admin's handle on API
 * tokens (POST, GET and DELETE /api/v1/tokens). The subcommands are a small
 * table like the top-level one. A new secret is printed once, on a line of
 * its own at the end so a script can take it with `tail -n 1`.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

enum { OPT_NAME = DLQ_CLI_OPT_FIRST, OPT_ROLE, OPT_TENANT };

static const struct option options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"role", required_argument, NULL, OPT_ROLE},
    {"tenant", required_argument, NULL, OPT_TENANT},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

struct token_args {
    const char *cmd; /* "token create", for messages */
    struct dlq_cli_conn conn;
    const char *name, *role, *tenant;
    int json;
    char **rest; /* positional arguments left */
    int nrest;
};

/* parse_args reads the options of one subcommand; allowed is the set of
 * OPT_* / DLQ_CLI_OPT_JSON it takes (as a bit per value above
 * DLQ_CLI_OPT_JSON). argv[0] is the subcommand name. */
static int parse_args(struct token_args *a, int argc, char **argv, unsigned allowed)
{
    int c, li = -1;
    dlq_cli_conn_init(&a->conn);
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, &li)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error(a->cmd, argc, argv, c);
        int r = dlq_cli_conn_option(&a->conn, a->cmd, c, optarg);
        if (r < 0)
            return DLQ_EXIT_USAGE;
        if (r == 1)
            continue;
        if (!(allowed & (1u << (c - DLQ_CLI_OPT_JSON))))
            return dlq_cli_usage_error(a->cmd, "--%s does not apply here (see 'dlq token --help')",
                                       options[li].name);
        switch (c) {
        case OPT_NAME:
            a->name = optarg;
            break;
        case OPT_ROLE:
            a->role = optarg;
            break;
        case OPT_TENANT:
            a->tenant = optarg;
            break;
        default:
            a->json = 1;
            break;
        }
    }
    a->rest = argv + optind;
    a->nrest = argc - optind;
    if (dlq_cli_conn_check(&a->conn, a->cmd) != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

#define ALLOW(opt) (1u << ((opt)-DLQ_CLI_OPT_JSON))

static int token_create(struct token_args *a, int argc, char **argv)
{
    int rc =
        parse_args(a, argc, argv,
                   ALLOW(OPT_NAME) | ALLOW(OPT_ROLE) | ALLOW(OPT_TENANT) | ALLOW(DLQ_CLI_OPT_JSON));
    if (rc != DLQ_EXIT_OK)
        return rc;
    if (a->nrest > 0)
        return dlq_cli_usage_error(a->cmd, "unexpected argument '%s'", a->rest[0]);
    if (a->name == NULL || a->name[0] == '\0')
        return dlq_cli_usage_error(a->cmd, "--name is required");
    if (a->role == NULL)
        return dlq_cli_usage_error(a->cmd, "--role is required (viewer, operator, admin or "
                                           "producer)");
    if (dlq_role_parse(a->role) == DLQ_ROLE_NONE)
        return dlq_cli_usage_error(a->cmd,
                                   "--role must be one of viewer, operator, admin, "
                                   "producer (got '%s')",
                                   a->role);

    json_t *req = json_object();
    json_object_set_new(req, "name", json_string(a->name));
    json_object_set_new(req, "role", json_string(a->role));
    if (a->tenant && a->tenant[0])
        json_object_set_new(req, "tenant_id", json_string(a->tenant));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (body == NULL) {
        /* json_string() refuses text that is not UTF-8. */
        return dlq_cli_usage_error(a->cmd, "--name and --tenant must be UTF-8 text");
    }
    struct dlq_cli_reply r = {0};
    rc = dlq_cli_call(&a->conn, "POST", "/api/v1/tokens", body, &r);
    free(body);
    if (rc == DLQ_EXIT_OK && a->json) {
        rc = dlq_cli_print_json(&r);
    } else if (rc == DLQ_EXIT_OK) {
        json_t *doc = dlq_cli_reply_object(&r);
        const char *secret = dlq_cli_jstr(doc, "token");
        if (doc == NULL || secret == NULL) {
            if (doc)
                fprintf(stderr, "dlq: the server's answer has no token\n");
            rc = DLQ_EXIT_ERROR;
        } else {
            const char *tenant = dlq_cli_jstr(doc, "tenant_id");
            struct dlq_buf out = {0};
            dlq_buf_puts(&out, "created ");
            dlq_cli_sanitize(&out, dlq_cli_jstr(doc, "id"), 0);
            dlq_buf_puts(&out, "\n  name:   ");
            dlq_cli_sanitize(&out, dlq_cli_jstr(doc, "name"), 0);
            dlq_buf_puts(&out, "\n  role:   ");
            dlq_cli_sanitize(&out, dlq_cli_jstr(doc, "role"), 0);
            dlq_buf_puts(&out, "\n  tenant: ");
            dlq_cli_sanitize(&out, tenant && tenant[0] ? tenant : "(all tenants)", 0);
            dlq_buf_puts(&out, "\ntoken (shown once): ");
            dlq_cli_sanitize(&out, secret, 0);
            dlq_buf_putc(&out, '\n');
            if (!out.oom)
                fputs(out.data, stdout);
            rc = out.oom ? DLQ_EXIT_ERROR : DLQ_EXIT_OK;
            if (out.data)
                memset(out.data, 0, out.cap); /* it held the secret */
            dlq_buf_free(&out);
        }
        json_decref(doc);
    }
    if (r.body.data)
        memset(r.body.data, 0, r.body.cap);
    dlq_cli_reply_free(&r);
    return rc;
}

static int print_tokens(json_t *doc)
{
    json_t *items = json_is_array(doc) ? doc : json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    if (json_array_size(items) == 0) {
        printf("No tokens.\n");
        return DLQ_EXIT_OK;
    }
    static const char *const headers[] = {"ID",      "NAME",      "ROLE",   "TENANT",
                                          "CREATED", "LAST USED", "REVOKED"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    int rc = dlq_cli_table_init(&t, 7, headers);
    dlq_cli_table_set_col(&t, 1, 12, 32, 0);
    dlq_cli_table_set_col(&t, 3, 8, 24, 0);
    int64_t now = dlq_now_ms();
    size_t i;
    json_t *tok;
    json_array_foreach(items, i, tok)
    {
        if (rc != DLQ_OK)
            break;
        char created[32], used[32], revoked[32];
        const char *tenant = dlq_cli_jstr(tok, "tenant_id");
        dlq_cli_time_cell(dlq_cli_jstr(tok, "created_at"), now, created, sizeof(created));
        dlq_cli_time_cell(dlq_cli_jstr(tok, "last_used_at"), now, used, sizeof(used));
        dlq_cli_time_cell(dlq_cli_jstr(tok, "revoked_at"), now, revoked, sizeof(revoked));
        const char *cells[7] = {
            dlq_cli_jstr(tok, "id"),
            dlq_cli_jstr(tok, "name"),
            dlq_cli_jstr(tok, "role"),
            tenant && tenant[0] ? tenant : "*",
            created,
            strcmp(used, "-") == 0 ? "never" : used,
            revoked,
        };
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc == DLQ_OK)
        rc = dlq_cli_table_render(&t, dlq_cli_term_width(), &out);
    dlq_cli_table_free(&t);
    if (rc == DLQ_OK)
        fputs(out.data, stdout);
    else
        fprintf(stderr, "dlq: out of memory\n");
    dlq_buf_free(&out);
    return rc == DLQ_OK ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
}

static int token_list(struct token_args *a, int argc, char **argv)
{
    int rc = parse_args(a, argc, argv, ALLOW(DLQ_CLI_OPT_JSON));
    if (rc != DLQ_EXIT_OK)
        return rc;
    if (a->nrest > 0)
        return dlq_cli_usage_error(a->cmd, "unexpected argument '%s'", a->rest[0]);
    struct dlq_cli_reply r = {0};
    rc = dlq_cli_call(&a->conn, "GET", "/api/v1/tokens", NULL, &r);
    if (rc == DLQ_EXIT_OK && a->json) {
        rc = dlq_cli_print_json(&r);
    } else if (rc == DLQ_EXIT_OK) {
        json_error_t jerr;
        json_t *doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &jerr);
        if (doc == NULL) {
            fprintf(stderr, "dlq: the server's answer is not JSON (%s)\n", jerr.text);
            rc = DLQ_EXIT_ERROR;
        } else {
            rc = print_tokens(doc);
        }
        json_decref(doc);
    }
    dlq_cli_reply_free(&r);
    return rc;
}

static int token_revoke(struct token_args *a, int argc, char **argv)
{
    int rc = parse_args(a, argc, argv, 0);
    if (rc != DLQ_EXIT_OK)
        return rc;
    if (a->nrest == 0 || a->rest[0][0] == '\0')
        return dlq_cli_usage_error(a->cmd, "which token? (usage: dlq token revoke ID)");
    if (a->nrest > 1)
        return dlq_cli_usage_error(a->cmd, "unexpected argument '%s' (one ID at a time)",
                                   a->rest[1]);
    struct dlq_buf path = {0};
    struct dlq_cli_reply r = {0};
    dlq_buf_puts(&path, "/api/v1/tokens/");
    dlq_cli_escape(&path, a->rest[0]);
    if (path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        rc = DLQ_EXIT_ERROR;
    } else {
        rc = dlq_cli_call(&a->conn, "DELETE", path.data, NULL, &r);
    }
    if (rc == DLQ_EXIT_OK) {
        struct dlq_buf out = {0};
        dlq_buf_puts(&out, "revoked ");
        dlq_cli_sanitize(&out, a->rest[0], 0);
        if (!out.oom)
            printf("%s\n", out.data);
        dlq_buf_free(&out);
    }
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    return rc;
}

static const struct {
    const char *name;
    const char *cmd;
    int (*run)(struct token_args *a, int argc, char **argv);
} subcommands[] = {
    {"create", "token create", token_create},
    {"list", "token list", token_list},
    {"revoke", "token revoke", token_revoke},
};

int dlq_cli_token_run(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return dlq_cli_usage_error("token", "which one: create, list or revoke? (see 'dlq "
                                            "token --help')");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(argv[1], subcommands[i].name) != 0)
            continue;
        struct token_args a;
        memset(&a, 0, sizeof(a));
        a.cmd = subcommands[i].cmd;
        return subcommands[i].run(&a, argc - 1, argv + 1);
    }
    return dlq_cli_usage_error("token", "unknown subcommand '%s' (create, list or revoke)",
                               argv[1]);
}
