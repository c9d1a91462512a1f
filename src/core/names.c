/*
 * names.c: the wire names of statuses, reasons and roles, generated from the
 * maps in types.h so a value and its name are defined once, and the table
 * of which role may do what (DESIGN.md section 4).
 */
#include <string.h>

#include "dlq/core.h"

const char *dlq_status_name(enum dlq_status s)
{
    switch (s) {
#define DLQ_STATUS_CASE(name, val, str)                                                            \
    case DLQ_STATUS_##name:                                                                        \
        return str;
        DLQ_STATUS_MAP(DLQ_STATUS_CASE)
#undef DLQ_STATUS_CASE
    default:
        return NULL;
    }
}

enum dlq_status dlq_status_parse(const char *s)
{
    if (s == NULL)
        return DLQ_STATUS_NONE;
#define DLQ_STATUS_CMP(name, val, str)                                                             \
    if (strcmp(s, str) == 0)                                                                       \
        return DLQ_STATUS_##name;
    DLQ_STATUS_MAP(DLQ_STATUS_CMP)
#undef DLQ_STATUS_CMP
    return DLQ_STATUS_NONE;
}

const char *dlq_reason_name(enum dlq_reason r)
{
    switch (r) {
#define DLQ_REASON_CASE(name, val, str)                                                            \
    case DLQ_REASON_##name:                                                                        \
        return str;
        DLQ_REASON_MAP(DLQ_REASON_CASE)
#undef DLQ_REASON_CASE
    default:
        return NULL;
    }
}

enum dlq_reason dlq_reason_parse(const char *s)
{
    if (s == NULL)
        return DLQ_REASON_NONE;
#define DLQ_REASON_CMP(name, val, str)                                                             \
    if (strcmp(s, str) == 0)                                                                       \
        return DLQ_REASON_##name;
    DLQ_REASON_MAP(DLQ_REASON_CMP)
#undef DLQ_REASON_CMP
    return DLQ_REASON_NONE;
}

static const struct {
    enum dlq_role role;
    const char *name;
} roles[] = {
    {DLQ_ROLE_VIEWER, "viewer"},
    {DLQ_ROLE_OPERATOR, "operator"},
    {DLQ_ROLE_ADMIN, "admin"},
    {DLQ_ROLE_PRODUCER, "producer"},
};

const char *dlq_role_name(enum dlq_role r)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == r)
            return roles[i].name;
    return NULL;
}

enum dlq_role dlq_role_parse(const char *s)
{
    if (s == NULL)
        return DLQ_ROLE_NONE;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(s, roles[i].name) == 0)
            return roles[i].role;
    return DLQ_ROLE_NONE;
}

/* dlq_role_allows returns 1 when role may do what perm guards. producer is
 * deliberately not a reader: a leaked worker token must not expose the
 * failures (and their arguments) of every job. */
int dlq_role_allows(enum dlq_role role, enum dlq_perm perm)
{
    switch (perm) {
    case DLQ_PERM_PUBLIC:
        return 1;
    case DLQ_PERM_READ:
        return role == DLQ_ROLE_VIEWER || role == DLQ_ROLE_OPERATOR || role == DLQ_ROLE_ADMIN;
    case DLQ_PERM_INGEST:
        return role == DLQ_ROLE_PRODUCER || role == DLQ_ROLE_ADMIN;
    case DLQ_PERM_ACT:
        return role == DLQ_ROLE_OPERATOR || role == DLQ_ROLE_ADMIN;
    case DLQ_PERM_ADMIN:
        return role == DLQ_ROLE_ADMIN;
    }
    return 0;
}
