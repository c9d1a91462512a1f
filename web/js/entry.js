// entry.js: one failure: its exception and traceback (monospace, wrapped,
// copyable), arguments as formatted JSON, every field, the full history
// timeline, and the actions the signed-in role may take: retry, force
// redrive (admin: reason and ticket), edit-and-replay (JSON checked before
// it is sent), resolve with notes, discard after a confirmation.

import { api, get, post, session } from "./api.js";
import { copyButton, errorBox, field, h, modal, prettyJson, statusBadge, timeEl, toast }
  from "./dom.js";

const FIELDS = ["dlq_id", "original_task_id", "task_name", "queue", "tenant_id", "reason",
  "error_code", "status", "retries_attempted", "retry_count", "max_replays", "priority",
  "failed_at", "processed_at", "last_retry_at", "retry_task_id", "resolved_at",
  "resolution_type", "resolved_by", "resolution_notes", "expires_at", "fingerprint",
  "idempotency_key"];
const TIMES = new Set(["failed_at", "processed_at", "last_retry_at", "resolved_at", "expires_at"]);

function pre(text, cls, test) {
  return h("pre", { class: cls, tabindex: "0", "data-test": test }, text);
}

function block(title, text, cls, test) {
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h3", {}, title), copyButton(() => text)),
    pre(text, cls, test));
}

function fieldsList(e) {
  const dl = h("dl", { class: "fields" });
  for (const k of FIELDS) {
    const v = e[k];
    let dd;
    if (v === null || v === undefined || v === "") dd = h("dd", { class: "muted" }, "–");
    else if (TIMES.has(k)) dd = h("dd", {}, timeEl(v), h("span", { class: "muted small" }, ` ${v}`));
    else if (k === "status") dd = h("dd", {}, statusBadge(v));
    else if (k === "fingerprint") {
      dd = h("dd", {}, h("a", { href: `#/failures?fingerprint=${encodeURIComponent(v)}` }, v));
    } else dd = h("dd", {}, String(v));
    dl.append(h("dt", {}, k), dd);
  }
  return h("section", { class: "card" }, h("h3", {}, "Fields"), dl);
}

function timeline(history) {
  const ol = h("ol", { class: "timeline", "data-test": "history" });
  for (const ev of history || []) {
    const details = ev.details && Object.keys(ev.details).length
      ? pre(prettyJson(ev.details), "json small") : null;
    ol.appendChild(h("li", { class: `ev ev-${ev.event}` },
      h("div", { class: "ev-head" }, h("strong", {}, ev.event.replace(/_/g, " ")), " ",
        timeEl(ev.at), ev.actor ? h("span", { class: "muted" }, ` by ${ev.actor}`) : null),
      details));
  }
  if (!ol.firstChild) ol.appendChild(h("li", { class: "muted" }, "No history yet."));
  return h("section", { class: "card" }, h("h3", {}, "History"), ol);
}

function reload() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

function done(message) {
  toast(message);
  reload();
}

async function retry(e) {
  const res = await modal({
    title: "Replay this failure?",
    body: h("p", {}, `${e.task_name} goes back to its queue as a new job ` +
      `(replay ${e.retry_count + 1} of ${e.max_replays}).`),
    submit: "Replay",
    onSubmit: () => post(`/dlq/entries/${encodeURIComponent(e.dlq_id)}/retry`, {}),
  });
  if (res) done(`Replayed as ${res.retry_task_id}.`);
}

async function forceRedrive(e) {
  const reason = h("textarea", { rows: 2, maxlength: 1000, name: "reason" });
  const ticket = h("input", { type: "url", name: "ticket_url", placeholder: "https://…" });
  const res = await modal({
    title: "Force redrive",
    body: h("div", {}, h("p", {}, "Replays past the replay budget (a fresh budget of " +
      `${e.max_replays}). Say why; it goes into the history and the audit trail.`),
    field("Reason", reason), field("Ticket URL", ticket)),
    submit: "Force redrive",
    danger: true,
    onSubmit: () => {
      if (!reason.value.trim()) throw new Error("A reason is required for a forced redrive.");
      const body = { reason: reason.value.trim() };
      if (ticket.value.trim()) body.ticket_url = ticket.value.trim();
      return post(`/dlq/entries/${encodeURIComponent(e.dlq_id)}/retry`, body, { force: "true" });
    },
  });
  if (res) done(`Force-redriven as ${res.retry_task_id}.`);
}

// checkJson parses a JSON editor's text; returns [value, error].
function checkJson(text, kind) {
  let v;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return [null, `not valid JSON: ${err.message}`];
  }
  if (kind === "args" && !Array.isArray(v)) return [null, "must be a JSON array"];
  if (kind === "kwargs" && (v === null || typeof v !== "object" || Array.isArray(v))) {
    return [null, "must be a JSON object"];
  }
  return [v, null];
}

async function editReplay(e, force) {
  const args = h("textarea", { class: "code", rows: 6, spellcheck: "false", name: "task_args",
    value: prettyJson(e.task_args) });
  const kwargs = h("textarea", { class: "code", rows: 8, spellcheck: "false",
    name: "task_kwargs", value: prettyJson(e.task_kwargs) });
  const queue = h("input", { name: "queue", value: e.queue });
  const maxRetries = h("input", { type: "number", name: "max_retries", min: 0, max: 100,
    placeholder: "3" });
  const reason = h("textarea", { rows: 2, name: "reason", maxlength: 1000 });
  const argsErr = h("p", { class: "error", hidden: true, "data-test": "args-error" });
  const kwargsErr = h("p", { class: "error", hidden: true, "data-test": "kwargs-error" });
  const validate = () => {
    const [, ea] = checkJson(args.value, "args");
    const [, ek] = checkJson(kwargs.value, "kwargs");
    argsErr.hidden = !ea;
    argsErr.textContent = ea ? `Arguments ${ea}` : "";
    kwargsErr.hidden = !ek;
    kwargsErr.textContent = ek ? `Keyword arguments ${ek}` : "";
    args.setAttribute("aria-invalid", String(Boolean(ea)));
    kwargs.setAttribute("aria-invalid", String(Boolean(ek)));
    return !ea && !ek;
  };
  args.addEventListener("input", validate);
  kwargs.addEventListener("input", validate);
  const res = await modal({
    title: force ? "Edit and force redrive" : "Edit and replay",
    wide: true,
    body: h("div", {}, h("p", { class: "muted" }, "The changes are recorded in the history as a " +
      "diff, then the job is replayed."),
    field("Arguments (JSON array)", args), argsErr,
    field("Keyword arguments (JSON object)", kwargs), kwargsErr,
    h("div", { class: "form-grid" }, field("Queue", queue),
      field("Max retries of the replayed job", maxRetries)),
    force ? field("Reason for the forced redrive (required)", reason) : null),
    submit: "Validate and replay",
    onSubmit: () => {
      if (!validate()) throw new Error("Fix the JSON first: nothing was sent.");
      const body = {};
      const [a] = checkJson(args.value, "args");
      const [k] = checkJson(kwargs.value, "kwargs");
      if (JSON.stringify(a) !== JSON.stringify(checkJson(e.task_args, "")[0])) body.task_args = a;
      if (JSON.stringify(k) !== JSON.stringify(checkJson(e.task_kwargs, "")[0])) body.task_kwargs = k;
      if (queue.value.trim() && queue.value.trim() !== e.queue) body.queue = queue.value.trim();
      if (maxRetries.value !== "") body.max_retries = Number(maxRetries.value);
      if (force) {
        if (!reason.value.trim()) throw new Error("A reason is required for a forced redrive.");
        body.reason = reason.value.trim();
      }
      return post(`/dlq/entries/${encodeURIComponent(e.dlq_id)}/retry`, body,
        force ? { force: "true" } : undefined);
    },
  });
  if (res) done(`Edited and replayed as ${res.retry_task_id}.`);
}

async function resolve(e) {
  const notes = h("textarea", { rows: 4, name: "resolution_notes" });
  const res = await modal({
    title: "Resolve this failure",
    body: h("div", {}, h("p", {}, "Marks it handled; nothing is replayed."),
      field("Notes", notes, "what was done, for the next person")),
    submit: "Resolve",
    onSubmit: () => post(`/dlq/entries/${encodeURIComponent(e.dlq_id)}/resolve`,
      notes.value.trim() ? { resolution_notes: notes.value.trim() } : {}),
  });
  if (res) done("Resolved.");
}

async function discard(e) {
  const reason = h("input", { name: "reason", type: "text" });
  const res = await modal({
    title: "Discard this failure?",
    danger: true,
    body: h("div", {}, h("p", {}, `${e.task_name} (${e.dlq_id}) will be discarded: it leaves ` +
      "the pending lists for good. It is kept in the store and the audit trail."),
    field("Reason (optional)", reason)),
    submit: "Discard",
    onSubmit: () => api("DELETE", `/dlq/entries/${encodeURIComponent(e.dlq_id)}`,
      { query: { reason: reason.value.trim() } }),
  });
  if (res) done("Discarded.");
}

function actions(e) {
  if (!session.canAct) return null;
  const s = e.status;
  const pending = s === "pending_review";
  const btn = (label, test, fn, cls = "btn") => h("button", { type: "button", class: cls,
    "data-test": test, onclick: () => fn(e) }, label);
  const bar = h("div", { class: "actions", "data-test": "actions" });
  if (pending && e.retry_count < e.max_replays) {
    bar.append(btn("Retry", "retry", retry, "btn btn-primary"),
      btn("Edit and replay", "edit-replay", (x) => editReplay(x, false)));
  }
  if (session.isAdmin && (pending || s === "requires_review")) {
    bar.append(btn("Force redrive", "force-redrive", forceRedrive));
    if (!(pending && e.retry_count < e.max_replays)) {
      bar.append(btn("Edit and force redrive", "edit-replay", (x) => editReplay(x, true)));
    }
  }
  if (["pending_review", "requires_review", "retried"].includes(s)) {
    bar.append(btn("Resolve", "resolve", resolve));
  }
  if (s !== "archived" && s !== "discarded") {
    bar.append(btn("Discard", "discard", discard, "btn btn-danger-quiet"));
  }
  return bar.firstChild ? bar : h("p", { class: "muted" }, `No action applies to a ${s} entry.`);
}

export function render(root, { arg }) {
  root.appendChild(h("p", {}, h("a", { href: "#/failures" }, "← Failures")));
  get(`/dlq/entries/${encodeURIComponent(arg)}`).then((e) => {
    const exc = e.exception || {};
    root.append(
      h("div", { class: "page-head" }, h("h1", { class: "entry-title" }, e.task_name),
        statusBadge(e.status), h("code", { class: "muted" }, e.dlq_id)),
      actions(e),
      h("section", { class: "card exception" }, h("h3", {}, "Exception"),
        h("p", { class: "exc-line" }, h("strong", { "data-test": "exc-type" }, exc.type || "–"),
          ": ", h("span", { "data-test": "exc-message" }, exc.message || ""))),
      exc.traceback ? block("Traceback", exc.traceback, "traceback", "traceback") : null,
      h("div", { class: "cards cards-2" },
        block("Arguments", prettyJson(e.task_args), "json", "args"),
        block("Keyword arguments", prettyJson(e.task_kwargs), "json", "kwargs")),
      fieldsList(e),
      e.metadata ? block("Metadata", prettyJson(e.metadata), "json") : null,
      e.context ? block("Context", prettyJson(e.context), "json") : null,
      timeline(e.history));
  }).catch((err) => root.appendChild(errorBox(err)));
}
