/*
 * test_store_fixture.h: what the store unit tests share: a store opened in a
 * fresh temporary directory through the interface (dlq_store_open), removed
 * again afterwards (fx_setup / fx_teardown for cmocka), and helpers that build complete entries the
 * way the service layer hands them to capture.
 */
#ifndef TEST_STORE_FIXTURE_H
#define TEST_STORE_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlq/core.h"
#include "dlq/store.h"

struct fx {
    char dir[64];
    char path[128];
    struct dlq_store *s;
    char err[256];
};

/* fx_mkdir makes the temporary directory; 0 on success. */
static inline int fx_mkdir(struct fx *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/dlq-store-test-XXXXXX");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    snprintf(x->path, sizeof x->path, "%s/dlq.db", x->dir);
    return 0;
}

/* fx_open opens the store at x->path; returns the dlq code. */
static inline int fx_open(struct fx *x, enum dlq_durability d, int migrate)
{
    struct dlq_store_config cfg = {
        .path = x->path, .durability = d, .busy_timeout_ms = 5000, .migrate = migrate};
    x->err[0] = '\0';
    return dlq_store_open("sqlite", &cfg, &x->s, x->err, sizeof x->err);
}

/* fx_rm closes the store and removes the directory and what is in it. */
static inline void fx_rm(struct fx *x)
{
    dlq_store_close(x->s);
    x->s = NULL;
    DIR *d = opendir(x->dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", x->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(x->dir);
}

/* fx_setup is a cmocka setup: *state becomes a malloc'd struct fx whose
 * store is open (durability normal, migrated) in a fresh directory.
 * 0, or -1 with nothing left behind. */
static inline int fx_setup(void **state)
{
    struct fx *x = malloc(sizeof *x);
    if (x == NULL || fx_mkdir(x) != 0) {
        free(x);
        return -1;
    }
    if (fx_open(x, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK) {
        fprintf(stderr, "open: %s\n", x->err);
        fx_rm(x);
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

/* fx_teardown is the cmocka teardown that undoes fx_setup. */
static inline int fx_teardown(void **state)
{
    struct fx *x = *state;
    fx_rm(x);
    free(x);
    return 0;
}

/* fset replaces a malloc'd string field with a copy of v (NULL allowed). */
static inline void fset(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

/* mk_entry fills e as the service would: ids, status pending_review,
 * processed_at, fingerprint and defaults. Free with dlq_entry_clear. */
static inline void mk_entry(struct dlq_entry *e, const char *dlq_id, const char *task,
                            int64_t failed_at)
{
    memset(e, 0, sizeof *e);
    fset(&e->dlq_id, dlq_id);
    fset(&e->task_name, task);
    fset(&e->task_args, "[]");
    fset(&e->task_kwargs, "{}");
    fset(&e->queue, "default");
    fset(&e->exc_type, "ValueError");
    fset(&e->exc_message, "something went wrong");
    fset(&e->fingerprint, "0123456789abcdef");
    e->failed_at = failed_at;
    e->processed_at = failed_at + 7;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->reason = DLQ_REASON_EXTERNAL;
    e->max_replays = 3;
}

#endif
