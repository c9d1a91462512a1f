/*
 * alerts.c: the alert rules and their evaluator thread (slice C1). Every
 * alert_interval_s the evaluator reads the counters (stats over the last
 * hour, the window of finished replays) and decides each rule:
 *   pending_age          something pending continuously for > N minutes
 *   ingest_rate          more than N new failures in the last hour
 *   replay_failure_rate  failed share of the last N finished replays (>= 5)
 *   health_critical      pending above the critical threshold
 *   retention_cap        set from outside (maintenance) by alert_set
 * A rule that starts or stops firing is saved in the store (so a restart
 * neither forgets nor re-announces it) and, with a webhook configured, a
 * message is queued for the sender (notify.c). The cool-down is per rule:
 * a firing is not announced within cooldown of the rule's last message; a
 * clearing is announced exactly when its firing was.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts_int.h"
#include "dlq/core.h"
#include "service_int.h"

enum { R_PENDING_AGE, R_INGEST_RATE, R_REPLAY_RATE, R_HEALTH, R_RETENTION };

static const char *const rule_names[DLQ_ALERT_RULES] = {
    "pending_age", "ingest_rate", "replay_failure_rate", "health_critical", "retention_cap"};

#define MIN_REPLAYS 5 /* replay_failure_rate needs this many finished replays */

struct rule {
    int firing;
    int64_t since;
    char reason[256];
    double value, threshold;
    int64_t last_notified_at;
    int notified_firing; /* the current firing was announced */
};

struct dlq_alerts {
    pthread_mutex_t mu; /* guards rules and pending_since */
    pthread_cond_t cv;
    int stop;
    pthread_t thread;
    struct rule r[DLQ_ALERT_RULES];
    int64_t pending_since; /* when pending last became > 0; 0: nothing pending */
    struct dlq_sender *sender;
    char *webhook, *notify_url;
    int cooldown_s, interval_s, new_per_hour, replay_window;
    double pending_minutes, replay_rate;
};

/* A change to act on after the lock is released. */
struct change {
    int rule;
    struct dlq_alert_row row;
    char *msg;   /* webhook body or NULL */
    int changed; /* the rule started or stopped firing (else: only saved) */
};

static double pending_minutes_of(const struct dlq_alerts *a)
{
    return a ? a->pending_minutes : 5.0;
}

double dlq_alerts_pending_minutes(struct dlq_service *svc)
{
    return pending_minutes_of(svc->alerts);
}

int dlq_alerts_firing(struct dlq_service *svc, char *reason, size_t len)
{
    struct dlq_alerts *a = svc->alerts;
    if (!a)
        return 0;
    int found = 0;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < DLQ_ALERT_RULES && !found; i++)
        if (a->r[i].firing) {
            snprintf(reason, len, "%s", a->r[i].reason);
            found = 1;
        }
    pthread_mutex_unlock(&a->mu);
    return found;
}

/* message builds the webhook body for rule i (caller frees). */
static char *message(const struct rule *r, int i, int64_t now)
{
    struct dlq_buf b = {0};
    char text[400], at[DLQ_TIME_MAX];
    snprintf(text, sizeof text, "[dlq] %s %s: %s", r->firing ? "FIRING" : "RESOLVED", rule_names[i],
             r->reason);
    dlq_time_format(now, at);
    dlq_buf_puts(&b, "{\"text\":");
    dlq_buf_json_string(&b, text, strlen(text));
    dlq_buf_printf(&b, ",\"rule\":\"%s\",\"state\":\"%s\",\"reason\":", rule_names[i],
                   r->firing ? "firing" : "resolved");
    dlq_buf_json_string(&b, r->reason, strlen(r->reason));
    dlq_buf_printf(&b, ",\"value\":%.6g,\"threshold\":%.6g,\"at\":\"%s\"}", r->value, r->threshold,
                   at);
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}

static void row_of(const struct dlq_alerts *a, int i, struct dlq_alert_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->rule, sizeof row->rule, "%s", rule_names[i]);
    row->firing = a->r[i].firing;
    row->since = a->r[i].since;
    row->last_notified_at = a->r[i].last_notified_at;
    snprintf(row->reason, sizeof row->reason, "%s", a->r[i].reason);
}

/* decide applies rule i's new verdict under the lock; on a change it fills
 * ch (row to save, message to send) and returns 1. save forces a row even
 * without a change (pending_age's since moved). */
static int decide(struct dlq_alerts *a, int i, int firing, int64_t now, int save, struct change *ch)
{
    struct rule *r = &a->r[i];
    ch->msg = NULL;
    ch->changed = 0;
    if (r->firing == !!firing) {
        if (!save)
            return 0;
        ch->rule = i;
        row_of(a, i, &ch->row);
        return 1;
    }
    r->firing = !!firing;
    if (i != R_PENDING_AGE)
        r->since = firing ? now : 0;
    int announce = 0;
    if (firing)
        announce =
            !r->last_notified_at || now - r->last_notified_at >= (int64_t)a->cooldown_s * 1000;
    else
        announce = r->notified_firing;
    if (announce && a->webhook) {
        ch->msg = message(r, i, now);
        r->last_notified_at = now;
    }
    r->notified_firing = firing && announce && a->webhook;
    ch->changed = 1;
    ch->rule = i;
    row_of(a, i, &ch->row);
    return 1;
}

/* apply saves and sends the changes collected under the lock. */
static void apply(struct dlq_service *svc, struct change *ch, size_t n)
{
    struct dlq_alerts *a = svc->alerts;
    for (size_t i = 0; i < n; i++) {
        char err[256];
        if (ch[i].msg) {
            dlq_sender_post(a->sender, a->webhook, ch[i].msg);
            free(ch[i].msg);
        }
        if (dlq_store_alert_save(svc->store, &ch[i].row, err, sizeof err) != DLQ_OK)
            dlq_log(DLQ_LOG_WARN, "alerts: cannot save the state of %s: %s", ch[i].row.rule, err);
        if (ch[i].changed)
            dlq_log(DLQ_LOG_INFO, "alert %s %s: %s", ch[i].row.rule,
                    ch[i].row.firing ? "firing" : "clear", ch[i].row.reason);
    }
}

/* evaluate runs every rule once. */
static void evaluate(struct dlq_service *svc)
{
    struct dlq_alerts *a = svc->alerts;
    int64_t now = dlq_now_ms();
    char err[256];
    struct dlq_stats st;
    if (dlq_store_stats(svc->store, NULL, now, 1, &st, err, sizeof err) != DLQ_OK) {
        dlq_log(DLQ_LOG_WARN, "alerts: cannot read stats: %s", err);
        return;
    }
    int64_t pending = st.pending, last_hour = st.failures_last_hour;
    dlq_stats_clear(&st);
    int finished = 0, failed = 0;
    if (dlq_store_replay_window(svc->store, a->replay_window, &finished, &failed, err,
                                sizeof err) != DLQ_OK)
        finished = failed = 0;

    struct change ch[DLQ_ALERT_RULES];
    size_t n = 0;
    pthread_mutex_lock(&a->mu);
    int moved = 0;
    if (pending > 0 && !a->pending_since) {
        a->pending_since = now;
        moved = 1;
    } else if (pending == 0 && a->pending_since) {
        a->pending_since = 0;
        moved = 1;
    }
    struct rule *r = &a->r[R_PENDING_AGE];
    r->since = a->pending_since;
    r->threshold = a->pending_minutes;
    r->value = a->pending_since ? (double)(now - a->pending_since) / 60000.0 : 0;
    snprintf(r->reason, sizeof r->reason, "DLQ depth %lld > 0 for %.3g minutes (threshold %g)",
             (long long)pending, r->value, a->pending_minutes);
    n += (size_t)decide(a, R_PENDING_AGE,
                        pending > 0 &&
                            (double)(now - a->pending_since) > a->pending_minutes * 60000.0,
                        now, moved, &ch[n]);

    r = &a->r[R_INGEST_RATE];
    r->value = (double)last_hour;
    r->threshold = a->new_per_hour;
    snprintf(r->reason, sizeof r->reason, "%lld new failures in the last hour (threshold %d)",
             (long long)last_hour, a->new_per_hour);
    n += (size_t)decide(a, R_INGEST_RATE, last_hour > a->new_per_hour, now, 0, &ch[n]);

    r = &a->r[R_REPLAY_RATE];
    r->value = finished ? (double)failed / finished : 0;
    r->threshold = a->replay_rate;
    snprintf(r->reason, sizeof r->reason,
             "replay failure rate %.2f over the last %d finished replays (threshold %.2f)",
             r->value, finished, a->replay_rate);
    n += (size_t)decide(a, R_REPLAY_RATE, finished >= MIN_REPLAYS && r->value > a->replay_rate, now,
                        0, &ch[n]);

    r = &a->r[R_HEALTH];
    r->value = (double)pending;
    r->threshold = svc->cfg.health_critical_at;
    snprintf(r->reason, sizeof r->reason, "%lld pending entries (critical above %d)",
             (long long)pending, svc->cfg.health_critical_at);
    n += (size_t)decide(a, R_HEALTH, pending > svc->cfg.health_critical_at, now, 0, &ch[n]);
    pthread_mutex_unlock(&a->mu);
    apply(svc, ch, n);
}

void dlq_service_alert_set(struct dlq_service *svc, const char *rule, int firing,
                           const char *reason)
{
    assert(svc && rule);
    struct dlq_alerts *a = svc->alerts;
    if (!a)
        return;
    int i = 0;
    while (i < DLQ_ALERT_RULES && strcmp(rule_names[i], rule) != 0)
        i++;
    if (i == DLQ_ALERT_RULES)
        return;
    struct change ch;
    pthread_mutex_lock(&a->mu);
    struct rule *r = &a->r[i];
    if (reason)
        snprintf(r->reason, sizeof r->reason, "%s", reason);
    r->value = firing ? 1 : 0;
    int n = decide(a, i, firing, dlq_now_ms(), 0, &ch);
    pthread_mutex_unlock(&a->mu);
    apply(svc, &ch, (size_t)n);
}

void dlq_service_alerts(struct dlq_service *svc, struct dlq_alert_view out[DLQ_ALERT_RULES],
                        size_t *n, int *webhook)
{
    assert(svc && out && n && webhook);
    struct dlq_alerts *a = svc->alerts;
    memset(out, 0, sizeof(struct dlq_alert_view) * DLQ_ALERT_RULES);
    *n = DLQ_ALERT_RULES;
    *webhook = a && a->webhook;
    if (a)
        pthread_mutex_lock(&a->mu);
    for (int i = 0; i < DLQ_ALERT_RULES; i++) {
        snprintf(out[i].rule, sizeof out[i].rule, "%s", rule_names[i]);
        if (!a)
            continue;
        const struct rule *r = &a->r[i];
        out[i].firing = r->firing;
        out[i].since = r->since;
        snprintf(out[i].reason, sizeof out[i].reason, "%s", r->reason);
        out[i].value = r->value;
        out[i].threshold = r->threshold;
        out[i].last_notified_at = r->last_notified_at;
    }
    if (a)
        pthread_mutex_unlock(&a->mu);
}

int dlq_service_notify(struct dlq_service *svc, const char *json)
{
    struct dlq_alerts *a = svc->alerts;
    if (!a || !a->notify_url)
        return 0;
    return dlq_sender_post(a->sender, a->notify_url, json);
}

static void load(struct dlq_service *svc, struct dlq_alerts *a);

/* alerts_main evaluates the rules every interval. With several servers on
 * one store one of them evaluates (and notifies), the holder of the
 * "alerts" lock; the others read the state it saves, so every server
 * answers alike, and the next one takes over when the holder dies. */
static void *alerts_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-alerts");
    struct dlq_service *svc = arg;
    struct dlq_alerts *a = svc->alerts;
    int leading = 1; /* the state loaded at start is current */
    for (;;) {
        int held = 0;
        char err[256] = "";
        if (dlq_store_lock_try(svc->store, "alerts", &held, err, sizeof err) != DLQ_OK)
            dlq_log(DLQ_LOG_WARN, "alerts: %s", err);
        if (held && !leading)
            load(svc, a); /* take over from the state the last evaluator saved */
        if (held)
            evaluate(svc);
        else
            load(svc, a);
        leading = held;
        pthread_mutex_lock(&a->mu);
        if (!a->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += a->interval_s;
            pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        }
        int stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            return NULL;
    }
}

/* load restores the saved state of every rule. */
static void load(struct dlq_service *svc, struct dlq_alerts *a)
{
    struct dlq_alert_row rows[16];
    size_t n = 0;
    char err[256];
    if (dlq_store_alert_load(svc->store, rows, 16, &n, err, sizeof err) != DLQ_OK) {
        dlq_log(DLQ_LOG_WARN, "alerts: cannot load the saved state: %s", err);
        return;
    }
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < DLQ_ALERT_RULES; i++) {
            if (strcmp(rows[k].rule, rule_names[i]) != 0)
                continue;
            struct rule *r = &a->r[i];
            r->firing = rows[k].firing;
            r->since = rows[k].since;
            r->last_notified_at = rows[k].last_notified_at;
            r->notified_firing = r->firing && r->last_notified_at >= r->since;
            snprintf(r->reason, sizeof r->reason, "%s", rows[k].reason);
            if (i == R_PENDING_AGE)
                a->pending_since = r->since;
        }
}

static void alerts_free(struct dlq_alerts *a)
{
    dlq_sender_stop(a->sender);
    free(a->webhook);
    free(a->notify_url);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

int dlq_service_alerts_start(struct dlq_service *svc, const struct dlq_service_config *cfg,
                             char *err, size_t errlen)
{
    assert(svc && cfg && !svc->alerts);
    struct dlq_alerts *a = calloc(1, sizeof *a);
    if (!a)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->cooldown_s = cfg->alert_cooldown_s > 0 ? cfg->alert_cooldown_s : 300;
    a->interval_s = cfg->alert_interval_s > 0 ? cfg->alert_interval_s : 10;
    a->pending_minutes = cfg->alert_pending_minutes > 0 ? cfg->alert_pending_minutes : 5.0;
    a->new_per_hour = cfg->alert_new_per_hour > 0 ? cfg->alert_new_per_hour : 5;
    a->replay_rate = cfg->alert_replay_failure_rate > 0 ? cfg->alert_replay_failure_rate : 0.5;
    a->replay_window = cfg->alert_replay_window > 0 ? cfg->alert_replay_window : 20;
    int oom = 0;
    if (cfg->alert_webhook && cfg->alert_webhook[0])
        oom |= !(a->webhook = dlq_strdup(cfg->alert_webhook));
    if (cfg->notify_url && cfg->notify_url[0])
        oom |= !(a->notify_url = dlq_strdup(cfg->notify_url));
    if (!oom && (a->webhook || a->notify_url))
        oom = !(a->sender = dlq_sender_start());
    if (oom) {
        alerts_free(a);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "cannot start the notification sender");
    }
    a->r[R_RETENTION].reason[0] = '\0';
    load(svc, a);
    svc->alerts = a;
    if (pthread_create(&a->thread, NULL, alerts_main, svc) != 0) {
        svc->alerts = NULL;
        alerts_free(a);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the alert thread");
    }
    return DLQ_OK;
}

void dlq_service_alerts_stop(struct dlq_service *svc)
{
    struct dlq_alerts *a = svc ? svc->alerts : NULL;
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    svc->alerts = NULL;
    alerts_free(a);
}
