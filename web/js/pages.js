// pages.js: the smaller pages: queues (depths and settings of the job
// queue, and the pending failures per queue), alert rules and their state,
// and the audit trail with its filters (kept in the URL like the failures').

import { api, get, post, session } from "./api.js";
import { age, clear, emptyState, errorBox, errorText, field, fmtNum, h, modal, prettyJson, timeEl,
  toast } from "./dom.js";

function table(cols, rows, test) {
  return h("table", { class: "entries", "data-test": test },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows));
}

function td(label, value, cls) {
  return h("td", { "data-label": label, class: cls }, value);
}

// editSettings (admin) changes a queue's replay target, webhook, replay
// budget and pause with PUT /api/v1/queues/{queue}/settings (partial).
async function editSettings(q) {
  const target = h("select", { name: "replay_target" },
    ["native", "webhook"].map((t) => h("option", { value: t, selected: q.replay_target === t }, t)));
  const url = h("input", { type: "url", name: "webhook_url", value: q.webhook_url || "" });
  const secret = h("input", { type: "password", name: "webhook_secret", autocomplete: "off",
    placeholder: q.webhook_secret_set ? "(set; leave empty to keep)" : "" });
  const maxReplays = h("input", { type: "number", name: "max_replays", min: 1, max: 100,
    value: q.max_replays ?? "" });
  const res = await modal({
    title: `Settings of queue ${q.queue}`,
    body: h("div", {}, field("Replay target", target), field("Webhook URL", url),
      field("Webhook secret", secret, "write-only: never shown again"),
      field("Max replays", maxReplays)),
    submit: "Save",
    onSubmit: () => {
      const body = { replay_target: target.value };
      if (url.value.trim()) body.webhook_url = url.value.trim();
      if (secret.value) body.webhook_secret = secret.value;
      if (maxReplays.value !== "") body.max_replays = Number(maxReplays.value);
      return api("PUT", `/queues/${encodeURIComponent(q.queue)}/settings`, { body });
    },
  });
  if (res) {
    toast(`Queue ${q.queue} saved.`);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  }
}

export function renderQueues(root) {
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Queues")));
  const jobs = h("section", { class: "card" }, h("h3", {}, "Job queues"));
  const pending = h("section", { class: "card" }, h("h3", {}, "Pending failures by queue"));
  root.append(jobs, pending);

  get("/queues").then((r) => {
    if (!r.items?.length) {
      jobs.appendChild(emptyState("No job queue yet.", "Queues appear when jobs are enqueued."));
      return;
    }
    const act = (q, what) => h("button", { type: "button", class: "btn btn-small",
      "data-test": `queue-${what}`, onclick: async () => {
        try {
          await post(`/queues/${encodeURIComponent(q)}/${what}`);
          toast(`Queue ${q}: ${what}d.`);
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (e) {
          toast(errorText(e), "error");
        }
      } }, what === "pause" ? "Pause" : "Resume");
    jobs.appendChild(h("div", { class: "table-wrap" }, table(["Queue", "Ready", "Scheduled",
      "Running", "Succeeded", "Dead", "Oldest ready", "Paused", "Replay target", "Max replays",
      session.canAct ? "" : null].filter((c) => c !== null), r.items.map((q) => h("tr", {},
      td("Queue", q.queue), td("Ready", fmtNum(q.ready), "num"),
      td("Scheduled", fmtNum(q.scheduled), "num"), td("Running", fmtNum(q.running), "num"),
      td("Succeeded", fmtNum(q.succeeded), "num"), td("Dead", fmtNum(q.dead), "num"),
      td("Oldest ready", age(q.oldest_ready_age_s)), td("Paused", q.paused ? "paused" : "no"),
      td("Replay target", q.replay_target === "webhook" ? `webhook ${q.webhook_url || ""}`
        : q.replay_target || "native"),
      td("Max replays", q.max_replays ?? "–"),
      session.canAct ? td("", [act(q.queue, q.paused ? "resume" : "pause"), " ",
        session.isAdmin ? h("button", { type: "button", class: "btn btn-small",
          "data-test": "queue-settings", onclick: () => editSettings(q) }, "Settings…")
          : null]) : null)), "queues")));
  }).catch((e) => {
    if (e.status === 404 || e.status === 405) {
      jobs.appendChild(h("p", { class: "notice", "data-test": "queues-missing" },
        "This server has no job-queue endpoint yet (GET /api/v1/queues answered " +
        `${e.status}). Pending failures per queue are below.`));
    } else {
      jobs.appendChild(errorBox(e));
    }
  });

  get("/dlq/stats", { hours: 24 }).then((s) => {
    const rows = Object.entries(s.by_queue || {}).sort((a, b) => b[1] - a[1]);
    if (!rows.length) {
      pending.appendChild(emptyState("No failures. The queue is healthy."));
      return;
    }
    pending.appendChild(table(["Queue", "Pending failures"], rows.map(([q, n]) => h("tr", {},
      td("Queue", h("a", { href: `#/failures?queue=${encodeURIComponent(q)}` }, q)),
      td("Pending failures", fmtNum(n), "num"))), "queue-pending"));
  }).catch((e) => pending.appendChild(errorBox(e)));
}

export function renderAlerts(root) {
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Alerts")));
  const slot = h("div", {});
  root.appendChild(slot);
  get("/dlq/alerts").then((r) => {
    slot.append(h("p", { class: "muted" }, r.webhook
      ? "Firing and clearing are posted to the alert webhook."
      : "No alert webhook is configured (dlq serve --alert-webhook URL)."),
    h("div", { class: "table-wrap" }, table(["Rule", "State", "Since", "Reason", "Value",
      "Threshold", "Last notified"], r.items.map((a) => h("tr", { class: a.firing ? "firing" : "" },
      td("Rule", h("strong", {}, a.rule)),
      td("State", h("span", { class: `state state-${a.firing ? "firing" : "ok"}` },
        a.firing ? "firing" : "ok")),
      td("Since", timeEl(a.since)), td("Reason", a.reason || "–"),
      td("Value", String(Math.round(a.value * 100) / 100), "num"),
      td("Threshold", String(a.threshold), "num"), td("Last notified", timeEl(a.last_notified_at)))),
    "alerts")));
  }).catch((e) => slot.appendChild(errorBox(e)));
}

const AUDIT_FILTERS = ["actor", "action", "target", "since", "until"];
const ACTIONS = ["retry", "edit", "force_redrive", "resolve", "discard", "outcome", "token_create",
  "token_revoke", "replay_bulk", "resolve_bulk", "discard_bulk", "operation_cancel", "cleanup",
  "queue_settings", "queue_pause", "queue_resume"];

export function renderAudit(root, { params }) {
  const f = {};
  for (const k of AUDIT_FILTERS) if (params.get(k)) f[k] = params.get(k);
  const cursor = params.get("cursor") || "";
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Audit trail")));
  if (!session.isAdmin) {
    root.appendChild(h("p", { class: "notice" }, "The audit trail is for admin tokens."));
    return;
  }
  const inp = (name, attrs = {}) => h("label", { class: "flt" }, h("span", {}, name),
    h("input", { name, id: `aud-${name}`, value: f[name] || "", ...attrs }));
  const actionList = h("datalist", { id: "audit-actions" },
    ACTIONS.map((a) => h("option", { value: a })));
  const form = h("form", { class: "filters", role: "search" },
    h("div", { class: "filter-grid" }, inp("actor"), inp("action", { list: "audit-actions" }),
      inp("target", { placeholder: "dlq_…" }),
      inp("since", { placeholder: "2026-01-01T00:00:00Z" }),
      inp("until", { placeholder: "RFC 3339" })), actionList,
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" },
      "Apply filters"), h("a", { href: "#/audit", class: "btn" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of AUDIT_FILTERS) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    location.hash = `#/audit${q.toString() ? `?${q}` : ""}`;
  });
  const slot = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  root.append(form, slot, pager);
  get("/audit", { ...f, cursor, limit: 50 }).then((r) => {
    if (!r.items.length) {
      slot.appendChild(emptyState("No audit record matches."));
      return;
    }
    slot.appendChild(table(["When", "Actor", "Action", "Targets", "Reason", "Ticket", "Details"],
      r.items.map((a) => h("tr", {},
        td("When", timeEl(a.at)), td("Actor", a.actor), td("Action", a.action),
        td("Targets", (a.target_ids || []).length === 1
          ? h("a", { href: `#/entry/${encodeURIComponent(a.target_ids[0])}` }, a.target_ids[0])
          : `${fmtNum(a.details?.target_count ?? (a.target_ids || []).length)} entries`),
        td("Reason", a.reason || "–"),
        td("Ticket", /^https?:\/\//.test(a.ticket_url || "")
          ? h("a", { href: a.ticket_url, rel: "noreferrer noopener", target: "_blank" },
            a.ticket_url)
          : a.ticket_url || "–"),
        td("Details", a.details || a.filter ? h("details", {}, h("summary", {}, "show"),
          h("pre", { class: "json small" }, prettyJson({ filter: a.filter, details: a.details })))
          : "–"))), "audit"));
    clear(pager);
    if (cursor) pager.appendChild(h("a", { class: "btn", href: `#/audit?${new URLSearchParams(f)}` },
      "« Newest"));
    if (r.next_cursor) {
      pager.appendChild(h("a", { class: "btn", href: `#/audit?${new URLSearchParams({ ...f,
        cursor: r.next_cursor })}` }, "Older »"));
    }
  }).catch((e) => slot.appendChild(errorBox(e)));
}
