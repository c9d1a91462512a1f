/*
 * csv.h: RFC 4180 CSV rows for the export (GET /api/v1/dlq/export?format=csv).
 * One row per entry, fields in the seed 000 entry order with the exception
 * split into exception_type, exception_message and exception_traceback;
 * JSON fields as their JSON text, times as RFC 3339, null as an empty field.
 * Rows end in CRLF. Pure functions over a dlq_buf: no I/O.
 */
#ifndef DLQ_CSV_H
#define DLQ_CSV_H

#include <stddef.h>

#include "dlq/types.h"
#include "dlq/util.h"

/* dlq_csv_field appends one field (len bytes of s; s NULL: empty), preceded
 * by a comma unless first. A field holding a comma, a quote, CR or LF is
 * quoted, with quotes doubled. Returns DLQ_OK or DLQ_E_NOMEM. */
int dlq_csv_field(struct dlq_buf *out, const char *s, size_t len, int first);

/* dlq_csv_header appends the header row of the entry columns. */
int dlq_csv_header(struct dlq_buf *out);

/* dlq_entry_to_csv appends e as one row, in the header's column order. */
int dlq_entry_to_csv(const struct dlq_entry *e, struct dlq_buf *out);

#endif
