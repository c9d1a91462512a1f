// failures.js: the entries table: every filter of GET /api/v1/dlq/entries,
// full-text search, status tabs with counts (from the stats counters, not
// a scan), sort, cursor paging, selection for bulk actions. The filters
// live in the URL hash, so a view can be shared. Rows are built with DOM
// calls into one fragment and inserted at once (one layout, not one per
// row); the time from the API's answer to a laid-out table is kept in the
// table's data-render-ms attribute for bench/dash-render.

import { get, session } from "./api.js";
import { clear, emptyState, errorBox, exactTime, fmtNum, h, relTime } from "./dom.js";
import { openBulk } from "./bulk.js";

export const STATUSES = ["pending_review", "requires_review", "retried", "resolved", "discarded",
  "expired", "archived"];
export const REASONS = ["external", "max_retries_exceeded", "permanent_failure", "job_not_found",
  "invalid_arguments", "timeout"];
// Filters of the list API that the form edits (cursor and limit are paging).
export const FILTERS = ["q", "status", "task_name", "queue", "exception_type", "reason",
  "tenant_id", "fingerprint", "failed_after", "failed_before", "sort"];

// filterOf returns the list filters set in params, as an object.
export function filterOf(params) {
  const f = {};
  for (const k of FILTERS) {
    const v = params.get(k);
    if (v) f[k] = v;
  }
  return f;
}

function hashFor(filter) {
  const u = new URLSearchParams(filter);
  const s = u.toString();
  return `#/failures${s ? `?${s}` : ""}`;
}

// localInput turns an RFC 3339 time into a datetime-local value, and back.
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}
function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

function tabs(filter, byStatus) {
  const nav = h("nav", { class: "tabs", "aria-label": "Status" });
  const current = filter.status || "";
  const all = Object.values(byStatus || {}).reduce((s, n) => s + n, 0);
  const items = [["", "All", all], ...STATUSES.map((s) => [s, s.replace(/_/g, " "),
    byStatus?.[s] ?? 0])];
  for (const [value, label, count] of items) {
    const f = { ...filter };
    if (value) f.status = value;
    else delete f.status;
    const a = h("a", { href: hashFor(f), class: "tab", "data-status": value || "all" }, label,
      h("span", { class: "tab-count" }, byStatus ? fmtNum(count) : ""));
    if (value === current) a.setAttribute("aria-current", "true");
    nav.appendChild(a);
  }
  return nav;
}

function input(name, value, attrs = {}) {
  return h("input", { name, id: `flt-${name}`, value: value || "", ...attrs });
}

function filterForm(filter) {
  const reason = h("select", { name: "reason", id: "flt-reason" },
    h("option", { value: "" }, "any reason"),
    REASONS.map((r) => h("option", { value: r, selected: filter.reason === r }, r)));
  const sort = h("select", { name: "sort", id: "flt-sort" },
    h("option", { value: "-failed_at", selected: filter.sort !== "failed_at" }, "newest first"),
    h("option", { value: "failed_at", selected: filter.sort === "failed_at" }, "oldest first"));
  const lab = (text, ctl) => h("label", { class: "flt" }, h("span", {}, text), ctl);
  const form = h("form", { class: "filters", role: "search", "data-test": "filters" },
    h("div", { class: "search-row" },
      h("input", { type: "search", name: "q", id: "flt-q", value: filter.q || "",
        placeholder: "Search task names, exceptions, messages and tracebacks",
        "aria-label": "Full-text search" }),
      h("button", { type: "submit", class: "btn btn-primary" }, "Search")),
    h("details", { class: "more-filters", open: Object.keys(filter).some((k) =>
      !["q", "status"].includes(k)) },
    h("summary", {}, "Filters"),
    h("div", { class: "filter-grid" },
      lab("Task", input("task_name", filter.task_name, { placeholder: "exact task name" })),
      lab("Queue", input("queue", filter.queue)),
      lab("Exception type", input("exception_type", filter.exception_type)),
      lab("Reason", reason),
      session.who?.tenant_id ? null : lab("Tenant", input("tenant_id", filter.tenant_id)),
      lab("Fingerprint", input("fingerprint", filter.fingerprint)),
      lab("Failed after", input("failed_after", toLocalInput(filter.failed_after),
        { type: "datetime-local" })),
      lab("Failed before", input("failed_before", toLocalInput(filter.failed_before),
        { type: "datetime-local" })),
      lab("Sort", sort)),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Apply filters"),
      h("a", { href: "#/failures", class: "btn" }, "Clear"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = {};
    for (const k of FILTERS) {
      const ctl = form.elements[k];
      if (!ctl) continue;
      let v = ctl.value.trim();
      if (k === "failed_after" || k === "failed_before") v = fromLocalInput(v);
      if (k === "sort" && v === "-failed_at") v = "";
      if (v) f[k] = v;
    }
    if (filter.status) f.status = filter.status;
    location.hash = hashFor(f);
  });
  return form;
}

const COLS = ["Failed", "Task", "Exception", "Queue", "Tenant", "Reason", "Status", "Replays"];

// rowTemplate is one empty row; each entry's row is a deep clone of it,
// filled with textContent (far cheaper than building every cell anew).
function rowTemplate(selectable) {
  const tr = document.createElement("tr");
  if (selectable) {
    const td = document.createElement("td");
    td.className = "col-select";
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.className = "row-select";
    td.appendChild(cb);
    tr.appendChild(td);
  }
  const cells = [
    h("time", {}),
    h("a", { class: "task-link" }),
    [h("span", { class: "exc-type" }), " ", h("span", { class: "exc-msg" })],
    null, null, null,
    h("span", { class: "status" }),
    null,
  ];
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    td.dataset.label = COLS[i];
    if (Array.isArray(c)) td.append(...c);
    else if (c) td.appendChild(c);
    tr.appendChild(td);
  });
  return tr;
}

// rowsFragment builds the table body for a page of entries in one fragment.
export function rowsFragment(items, selectable, selected, now) {
  const frag = document.createDocumentFragment();
  const tpl = rowTemplate(selectable);
  const off = selectable ? 1 : 0;
  for (const e of items) {
    const tr = tpl.cloneNode(true);
    tr.dataset.id = e.dlq_id;
    const td = tr.children;
    if (selectable) {
      const cb = td[0].firstChild;
      cb.value = e.dlq_id;
      cb.checked = selected.has(e.dlq_id);
      cb.setAttribute("aria-label", `Select ${e.dlq_id}`);
    }
    const time = td[off].firstChild;
    if (e.failed_at) {
      time.dateTime = e.failed_at;
      time.title = exactTime(e.failed_at);
      time.textContent = relTime(e.failed_at, now);
    }
    const link = td[off + 1].firstChild;
    link.href = `#/entry/${encodeURIComponent(e.dlq_id)}`;
    link.textContent = e.task_name;
    const exc = e.exception || {};
    td[off + 2].firstChild.textContent = exc.type || "–";
    td[off + 2].lastChild.textContent = (exc.message || "").slice(0, 160);
    td[off + 3].textContent = e.queue;
    td[off + 4].textContent = e.tenant_id || "–";
    td[off + 5].textContent = e.reason;
    const st = td[off + 6].firstChild;
    st.className = `status status-${e.status}`;
    st.textContent = e.status.replace(/_/g, " ");
    td[off + 7].textContent = `${e.retry_count}/${e.max_replays}`;
    frag.appendChild(tr);
  }
  return frag;
}

// statusCounts returns {status: count} for the tabs. With no filter but
// the status these are the stats counters (no scan); with other filters,
// each status's exact total under them (seven one-row pages, answered from
// the indexes). A full-text search gets no counts: the exact total of a
// common word is costly, and the list already paid for its own. null when
// there are none.
async function statusCounts(filter) {
  const rest = { ...filter };
  delete rest.status;
  delete rest.sort;
  if (rest.q) return null;
  try {
    if (!Object.keys(rest).length) return (await get("/dlq/stats", { hours: 1 })).by_status;
    const totals = await Promise.all(STATUSES.map((s) =>
      get("/dlq/entries", { ...rest, status: s, limit: 1 }).then((p) => p.total)));
    return Object.fromEntries(STATUSES.map((s, i) => [s, totals[i]]));
  } catch {
    return null;
  }
}

export function render(root, { params }) {
  const filter = filterOf(params);
  const cursor = params.get("cursor") || "";
  const limit = params.get("limit") || "";
  const canAct = session.canAct;
  const selected = new Set();
  let page = null;

  const total = h("span", { class: "muted", "data-test": "total" });
  const tabsSlot = h("div", {}, tabs(filter, null));
  const bulkBar = h("div", { class: "bulk-bar", hidden: !canAct, "data-test": "bulk-bar" });
  const table = h("table", { class: "entries entries-fixed", "data-test": "entries" });
  const thead = h("thead", {}, h("tr", {}, canAct
    ? h("th", { class: "col-select" }, h("input", { type: "checkbox", id: "select-page",
      "aria-label": "Select every row of this page" }))
    : null, COLS.map((c) => h("th", { scope: "col" }, c))));
  const tbody = h("tbody", {});
  const colgroup = h("colgroup", {}, canAct ? h("col", { class: "c-select" }) : null,
    ["c-time", "c-task", "c-exc", "c-queue", "c-tenant", "c-reason", "c-status", "c-replays"]
      .map((c) => h("col", { class: c })));
  table.append(colgroup, thead, tbody);
  const body = h("div", { class: "table-wrap" }, table);
  const pager = h("div", { class: "pager" });

  root.append(h("div", { class: "page-head" }, h("h1", {}, "Failures"), total),
    tabsSlot, filterForm(filter), bulkBar, body, pager);

  function drawBulkBar() {
    if (!canAct) return;
    clear(bulkBar);
    const n = selected.size;
    const t = page ? page.total : 0;
    const pick = (mode) => () => openBulk(mode, { filter, ids: [...selected], total: t,
      rows: page ? page.items.filter((e) => selected.has(e.dlq_id)) : [] });
    bulkBar.append(
      h("span", { "data-test": "selected-count" },
        n ? `${n} selected` : "Select rows to act on them,"),
      " ",
      h("button", { type: "button", class: "btn btn-small", "data-test": "bulk-replay-selected",
        disabled: !n, onclick: pick("replay-ids") }, "Replay selected"),
      h("button", { type: "button", class: "btn btn-small", "data-test": "bulk-resolve-selected",
        disabled: !n, onclick: pick("resolve-ids") }, "Resolve selected"),
      h("button", { type: "button", class: "btn btn-small btn-danger-quiet",
        "data-test": "bulk-discard-selected", disabled: !n, onclick: pick("discard-ids") },
      "Discard selected"),
      h("span", { class: "bulk-sep" }, `or everything matching this filter (${fmtNum(t)}):`),
      h("button", { type: "button", class: "btn btn-small", "data-test": "bulk-replay-filter",
        disabled: !t, onclick: pick("replay-filter") }, "Replay all…"),
      h("button", { type: "button", class: "btn btn-small", "data-test": "bulk-resolve-filter",
        disabled: !t, onclick: pick("resolve-filter") }, "Resolve all…"),
      h("button", { type: "button", class: "btn btn-small btn-danger-quiet",
        "data-test": "bulk-discard-filter", disabled: !t, onclick: pick("discard-filter") },
      "Discard all…"));
  }

  if (canAct) {
    tbody.addEventListener("change", (ev) => {
      const cb = ev.target;
      if (!cb.classList.contains("row-select")) return;
      if (cb.checked) selected.add(cb.value);
      else selected.delete(cb.value);
      drawBulkBar();
    });
    thead.addEventListener("change", (ev) => {
      if (ev.target.id !== "select-page") return;
      for (const cb of tbody.querySelectorAll(".row-select")) {
        cb.checked = ev.target.checked;
        if (cb.checked) selected.add(cb.value);
        else selected.delete(cb.value);
      }
      drawBulkBar();
    });
  }
  // A click anywhere on a row opens it (the task name is the keyboard way).
  tbody.addEventListener("click", (ev) => {
    if (ev.target.closest("input, a, button")) return;
    const tr = ev.target.closest("tr[data-id]");
    if (tr) location.hash = `#/entry/${encodeURIComponent(tr.dataset.id)}`;
  });

  function drawPager() {
    clear(pager);
    const base = { ...filter };
    if (cursor) pager.appendChild(h("a", { href: hashFor(base), class: "btn" }, "« First page"));
    if (page?.next_cursor) {
      const u = new URLSearchParams({ ...base, cursor: page.next_cursor });
      if (limit) u.set("limit", limit);
      pager.appendChild(h("a", { href: `#/failures?${u}`, class: "btn", "data-test": "next-page",
        rel: "next" }, "Next page »"));
    }
  }

  async function load() {
    const query = { ...filter, limit: limit || 50 };
    if (cursor) query.cursor = cursor;
    total.textContent = "Loading…";
    table.setAttribute("aria-busy", "true");
    try {
      page = await get("/dlq/entries", query);
      table.removeAttribute("aria-busy");
    } catch (e) {
      total.textContent = "";
      clear(body).appendChild(errorBox(e));
      return;
    }
    const t0 = performance.now();
    const frag = rowsFragment(page.items, canAct, selected, Date.now());
    tbody.replaceChildren(frag);
    total.textContent = `${fmtNum(page.total)} matching`;
    if (!page.items.length) {
      const filtered = Object.keys(filter).some((k) => k !== "sort") || cursor;
      body.appendChild(filtered
        ? emptyState("No failures match this filter.", "Change or clear the filters.")
        : emptyState("No failures. The queue is healthy."));
    }
    drawPager();
    drawBulkBar();
    void table.offsetHeight; // lay out now, inside the measurement
    table.dataset.renderMs = (performance.now() - t0).toFixed(2);
    table.dataset.rows = String(page.items.length);
    requestAnimationFrame(() => setTimeout(() => {
      table.dataset.paintMs = (performance.now() - t0).toFixed(2);
    }, 0));
    // The counts are asked for after the table is drawn, so that their
    // queries never compete with the page the person is waiting for.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const counts = await statusCounts(filter);
    if (counts) tabsSlot.replaceChildren(tabs(filter, counts));
  }
  load();
}
