/*
 * time.c: RFC 3339 UTC times <-> milliseconds since the epoch. The calendar
 * arithmetic is done here (Howard Hinnant's days-from-civil algorithms)
 * rather than with timegm/strptime, so results do not depend on the locale,
 * the TZ variable or the C library, and every field is range-checked.
 */
#include <string.h>

#include "dlq/core.h"

#define MS_PER_DAY       86400000LL
#define DLQ_TIME_LAST_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* days_from_civil returns the days since 1970-01-01 of a proleptic
 * Gregorian date (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

static char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* dlq_time_format writes ms as RFC 3339 UTC. Times outside 1970..9999 are
 * clamped to that range: they never come from a valid input, and clamping
 * keeps the output a fixed-width, parseable string. Digits are written by
 * hand because every entry of a list page formats several times. */
void dlq_time_format(int64_t ms, char out[DLQ_TIME_MAX])
{
    if (ms < 0)
        ms = 0;
    if (ms > DLQ_TIME_LAST_MS)
        ms = DLQ_TIME_LAST_MS;
    int64_t y;
    unsigned m, d;
    unsigned rem = (unsigned)(ms % MS_PER_DAY);
    civil_from_days(ms / MS_PER_DAY, &y, &m, &d);
    char *p = out;
    p = put2(p, (unsigned)y / 100);
    p = put2(p, (unsigned)y % 100);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, rem / 3600000);
    *p++ = ':';
    p = put2(p, rem / 60000 % 60);
    *p++ = ':';
    p = put2(p, rem / 1000 % 60);
    unsigned frac = rem % 1000;
    if (frac != 0) {
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        p = put2(p, frac % 100);
    }
    *p++ = 'Z';
    *p = '\0';
}

/* digits reads exactly n decimal digits at *p into *v and advances *p;
 * returns 0 if any of them is not a digit. */
static int digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 1;
}

int dlq_time_parse(const char *s, int64_t *ms)
{
    if (s == NULL)
        return DLQ_E_INVAL;
    const char *p = s;
    int y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0, off = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return DLQ_E_INVAL;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
        (unsigned)d > days_in_month(y, (unsigned)mo))
        return DLQ_E_INVAL;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return DLQ_E_INVAL;
        p++;
        if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
            !digits(&p, 2, &ss))
            return DLQ_E_INVAL;
        if (hh > 23 || mi > 59 || ss > 59)
            return DLQ_E_INVAL;
        if (*p == '.') {
            p++;
            int n = 0, scale = 100;
            while (*p >= '0' && *p <= '9') {
                if (++n > 9)
                    return DLQ_E_INVAL;
                frac += (*p - '0') * scale; /* milliseconds: digits past the third truncate */
                scale /= 10;
                p++;
            }
            if (n == 0)
                return DLQ_E_INVAL;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return DLQ_E_INVAL;
            off = sign * (oh * 60 + om);
        } else {
            return DLQ_E_INVAL;
        }
        if (*p != '\0')
            return DLQ_E_INVAL;
    }
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_PER_DAY + (int64_t)hh * 3600000 +
                (int64_t)mi * 60000 + (int64_t)ss * 1000 + frac - (int64_t)off * 60000;
    if (t < 0)
        return DLQ_E_INVAL;
    *ms = t;
    return DLQ_OK;
}
