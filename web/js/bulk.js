// bulk.js: acting on many failures at once, from the failures table: the
// selected rows, or everything matching the current filter. A replay by
// filter always starts with a dry run (how many, by task and exception),
// takes its pace and brake settings, and then hands over to the
// operation's live progress page; resolve and discard ask for a
// confirmation (with notes) and report what was skipped and why.

import { post } from "./api.js";
import { errorText, field, fmtNum, h, modal, toast } from "./dom.js";

// filterBody turns the list filters into the filter fields of a bulk body.
export function filterBody(filter) {
  const b = {};
  for (const [k, v] of Object.entries(filter)) {
    if (k === "sort" || !v) continue;
    b[k] = k === "status" ? v.split(",").filter(Boolean) : v;
  }
  return b;
}

function countsTable(title, counts) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  return h("table", { class: "mini" }, h("caption", {}, title),
    h("tbody", {}, rows.map(([k, n]) => h("tr", {}, h("td", {}, k),
      h("td", { class: "num" }, fmtNum(n))))));
}

function countBy(rows, key) {
  const out = {};
  for (const r of rows) {
    const k = key(r) || "–";
    out[k] = (out[k] || 0) + 1;
  }
  return out;
}

function refresh() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

function numInput(name, value, attrs = {}) {
  return h("input", { type: "number", name, value: String(value), step: "any", ...attrs });
}

// replayByFilter: dry run, settings, then the server-side operation.
async function replayByFilter(filter, total) {
  const inputs = {
    max_tasks: numInput("max_tasks", Math.min(Math.max(total, 1), 1000000), { min: 1, max: 1000000,
      step: 1 }),
    rate_per_second: numInput("rate_per_second", 0, { min: 0 }),
    batch_size: numInput("batch_size", 100, { min: 1, step: 1 }),
    stop_failure_rate: numInput("stop_failure_rate", 0.5, { min: 0, max: 1 }),
    min_samples: numInput("min_samples", 10, { min: 1, step: 1 }),
    outcome_timeout_s: numInput("outcome_timeout_s", 300, { min: 0, step: 1 }),
  };
  const note = h("input", { name: "note", type: "text" });
  const ticket = h("input", { name: "ticket_url", type: "url", placeholder: "https://…" });
  const preview = h("div", { class: "preview", "data-test": "dry-run-result" },
    h("p", { class: "muted" }, "Run a dry run first: it changes nothing."));
  let previewed = false;
  const previewBtn = h("button", { type: "button", class: "btn", "data-test": "dry-run" },
    "Preview (dry run)");
  const body = h("div", {},
    h("p", {}, `Replay the failures matching this filter (${fmtNum(total)} listed; a replay takes ` +
      "pending_review entries unless the filter names other statuses)."),
    h("div", { class: "form-grid" },
      field("At most", inputs.max_tasks, "entries, oldest first"),
      field("Rate per second", inputs.rate_per_second, "0: as fast as the store goes"),
      field("Batch size", inputs.batch_size, "entries per stage"),
      field("Stop above failure rate", inputs.stop_failure_rate, "failed / finished replays"),
      field("…once this many finished", inputs.min_samples),
      field("Outcome wait (s)", inputs.outcome_timeout_s, "per stage; 0: do not wait"),
      field("Note", note),
      field("Ticket URL", ticket)),
    previewBtn, preview);
  const params = () => {
    const p = { ...filterBody(filter) };
    for (const [k, ctl] of Object.entries(inputs)) p[k] = Number(ctl.value);
    if (note.value.trim()) p.note = note.value.trim();
    if (ticket.value.trim()) p.ticket_url = ticket.value.trim();
    return p;
  };
  previewBtn.addEventListener("click", async () => {
    previewBtn.disabled = true;
    preview.replaceChildren(h("p", { class: "muted" }, "Counting…"));
    try {
      const r = await post("/dlq/replay-bulk", { ...params(), dry_run: true });
      previewed = true;
      preview.replaceChildren(
        h("p", { class: "big-line", "data-test": "dry-run-matched" },
          `${fmtNum(r.matched)} entries would be replayed.`),
        h("div", { class: "mini-tables" }, countsTable("By task", r.by_task),
          countsTable("By exception type", r.by_exception_type)));
    } catch (e) {
      preview.replaceChildren(h("p", { class: "error" }, errorText(e)));
    } finally {
      previewBtn.disabled = false;
    }
  });
  const result = await modal({
    title: "Replay everything matching this filter",
    body,
    submit: "Start replay",
    wide: true,
    onSubmit: async () => {
      if (!previewed) throw new Error("Run the dry run first, to see what would be replayed.");
      return post("/dlq/replay-bulk", params());
    },
  });
  if (result?.operation_id) {
    toast(`Bulk replay started: ${fmtNum(result.matched)} entries.`);
    location.hash = `#/operation/${encodeURIComponent(result.operation_id)}`;
  }
}

// replayIds replays the selected rows one by one (the bulk endpoint takes
// filters, not ids), after a preview made from the rows themselves.
async function replayIds(rows) {
  const ok = rows.filter((r) => r.status === "pending_review");
  const progress = h("p", { class: "muted", "data-test": "replay-progress" });
  const body = h("div", {},
    h("p", { class: "big-line", "data-test": "dry-run-matched" },
      `${fmtNum(ok.length)} of ${fmtNum(rows.length)} selected entries can be replayed now.`),
    rows.length > ok.length
      ? h("p", { class: "muted" }, "Only pending_review entries within their replay budget can be " +
        "replayed; the others will be refused.")
      : null,
    h("div", { class: "mini-tables" }, countsTable("By task", countBy(rows, (r) => r.task_name)),
      countsTable("By exception type", countBy(rows, (r) => r.exception?.type))),
    progress);
  const res = await modal({
    title: "Replay the selected entries",
    body,
    submit: `Replay ${rows.length}`,
    onSubmit: async () => {
      let done = 0;
      const failed = [];
      for (const r of rows) {
        try {
          await post(`/dlq/entries/${encodeURIComponent(r.dlq_id)}/retry`, {});
          done++;
        } catch (e) {
          if (e.status === 401) throw e;
          failed.push(`${r.dlq_id}: ${errorText(e)}`);
        }
        progress.textContent = `${done + failed.length} / ${rows.length}`;
      }
      return { done, failed };
    },
  });
  if (res) {
    toast(`Replayed ${res.done}; refused ${res.failed.length}.` +
      (res.failed.length ? ` ${res.failed[0]}` : ""), res.failed.length ? "error" : "ok");
    refresh();
  }
}

// act resolves or discards by ids or by filter, after a confirmation; a
// filter is first counted with a dry run.
async function act(kind, { ids, filter }) {
  const path = kind === "resolve" ? "/dlq/resolve-bulk" : "/dlq/discard-bulk";
  const notes = h("textarea", { rows: 3, name: "notes" });
  let base;
  let count;
  if (ids) {
    base = { ids };
    count = ids.length;
  } else {
    base = { ...filterBody(filter), max_tasks: 1000000 };
    try {
      count = (await post(path, { ...base, dry_run: true })).matched;
    } catch (e) {
      toast(errorText(e), "error");
      return;
    }
  }
  const verb = kind === "resolve" ? "Resolve" : "Discard";
  const res = await modal({
    title: `${verb} ${fmtNum(count)} entries?`,
    danger: kind === "discard",
    body: h("div", {},
      h("p", { "data-test": "bulk-confirm-count" }, kind === "resolve"
        ? `${fmtNum(count)} entries will be marked resolved.`
        : `${fmtNum(count)} entries will be discarded. They stay in the store (and the audit ` +
          "trail) but leave every pending list."),
      field(kind === "resolve" ? "Resolution notes" : "Note", notes)),
    submit: `${verb} ${fmtNum(count)}`,
    onSubmit: () => {
      const body = { ...base };
      if (notes.value.trim()) body[kind === "resolve" ? "resolution_notes" : "note"] =
        notes.value.trim();
      return post(path, body);
    },
  });
  if (res) {
    toast(`${kind === "resolve" ? "Resolved" : "Discarded"} ${fmtNum(res.succeeded)}; ` +
      `skipped ${fmtNum(res.skipped)}.` +
      (res.skipped_ids?.length ? ` ${res.skipped_ids[0].dlq_id}: ${res.skipped_ids[0].detail}` : ""),
    res.skipped ? "error" : "ok");
    refresh();
  }
}

// openBulk starts one bulk action; mode is "<replay|resolve|discard>-<ids|filter>".
export function openBulk(mode, { filter, ids, total, rows }) {
  switch (mode) {
    case "replay-ids": return replayIds(rows);
    case "replay-filter": return replayByFilter(filter, total);
    case "resolve-ids": return act("resolve", { ids });
    case "discard-ids": return act("discard", { ids });
    case "resolve-filter": return act("resolve", { filter });
    case "discard-filter": return act("discard", { filter });
    default: return null;
  }
}
