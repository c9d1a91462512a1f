// ops.js: bulk operations: the list, and one operation's live progress
// (polled every second while it runs) with a cancel button for roles that
// may act.

import { del, get, session } from "./api.js";
import { clear, emptyState, errorBox, fmtNum, h, modal, prettyJson, timeEl, toast } from "./dom.js";

const POLL_MS = 1000;

export function renderList(root) {
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Bulk operations")));
  const slot = h("div", { class: "table-wrap" });
  root.appendChild(slot);
  get("/dlq/operations").then((r) => {
    if (!r.items.length) {
      slot.appendChild(emptyState("No bulk operation yet.",
        "Start one from the failures page: filter, then “Replay all…”."));
      return;
    }
    slot.appendChild(h("table", { class: "entries" },
      h("thead", {}, h("tr", {}, ["Operation", "Kind", "State", "Matched", "Processed",
        "Succeeded", "Failed", "Started", "By"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, r.items.map((o) => h("tr", {},
        h("td", {}, h("a", { href: `#/operation/${encodeURIComponent(o.operation_id)}` },
          o.operation_id)),
        h("td", {}, o.kind), h("td", {}, h("span", { class: `state state-${o.state}` }, o.state)),
        h("td", { class: "num" }, fmtNum(o.matched)), h("td", { class: "num" }, fmtNum(o.processed)),
        h("td", { class: "num" }, fmtNum(o.succeeded)), h("td", { class: "num" }, fmtNum(o.failed)),
        h("td", {}, timeEl(o.created_at)), h("td", {}, o.actor || "–"))))));
  }).catch((e) => slot.appendChild(errorBox(e)));
}

function progress(o) {
  const pct = o.matched ? Math.min(100, Math.round((100 * o.processed) / o.matched)) : 100;
  const bar = h("div", { class: "progress-fill" });
  bar.style.width = `${pct}%`;
  return h("div", {},
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(pct) }, bar),
    h("p", { "data-test": "op-progress" }, `${fmtNum(o.processed)} of ${fmtNum(o.matched)} taken ` +
      `(${pct}%) · ${fmtNum(o.succeeded)} succeeded · ${fmtNum(o.failed)} failed · ` +
      `${fmtNum(o.skipped)} skipped`));
}

export function renderOne(root, { arg }) {
  root.appendChild(h("p", {}, h("a", { href: "#/operations" }, "← Bulk operations")));
  const head = h("div", { class: "page-head" }, h("h1", {}, "Bulk operation"),
    h("code", { class: "muted" }, arg));
  const body = h("div", {});
  root.append(head, body);
  let timer = 0;
  let stopped = false;
  async function load() {
    let o;
    try {
      o = await get(`/dlq/operations/${encodeURIComponent(arg)}`);
    } catch (e) {
      if (!stopped) clear(body).appendChild(errorBox(e));
      return;
    }
    if (stopped) return;
    const running = o.state === "running";
    const cancel = running && session.canAct
      ? h("button", { type: "button", class: "btn btn-danger-quiet", "data-test": "op-cancel",
        onclick: async () => {
          const ok = await modal({ title: "Cancel this operation?", danger: true,
            body: h("p", {}, "It stops before its next stage; what was replayed stays replayed."),
            submit: "Cancel the operation",
            onSubmit: () => del(`/dlq/operations/${encodeURIComponent(arg)}`) });
          if (ok) {
            toast("Cancel requested.");
            load();
          }
        } }, "Cancel")
      : null;
    clear(body).append(
      h("section", { class: "card" },
        h("p", {}, h("span", { class: `state state-${o.state}`, "data-test": "op-state" }, o.state),
          " ", o.kind, " by ", o.actor || "–", " · started ", timeEl(o.created_at),
          o.finished_at ? [" · finished ", timeEl(o.finished_at)] : null),
        progress(o),
        o.early_stop_reason ? h("p", { class: "error" }, `Stopped: ${o.early_stop_reason}`) : null,
        cancel),
      h("div", { class: "cards cards-2" },
        h("section", { class: "card" }, h("h3", {}, "Filter"), h("pre", { class: "json" },
          prettyJson(o.filter))),
        h("section", { class: "card" }, h("h3", {}, "Settings"), h("pre", { class: "json" },
          prettyJson(o.params)))),
      h("p", {}, h("a", { href: "#/failures?status=retried" }, "See the replayed entries")));
    if (running) timer = setTimeout(load, POLL_MS);
  }
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
