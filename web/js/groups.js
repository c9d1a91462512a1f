// groups.js: failures grouped by fingerprint (task, exception type and the
// message with numbers, ids and quoted values masked), most pending first,
// each a click-through to the failures list filtered by that fingerprint.

import { get } from "./api.js";
import { emptyState, errorBox, fmtNum, h, timeEl } from "./dom.js";

export function render(root, { params }) {
  const status = params.get("status") || "";
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Groups"),
    h("span", { class: "muted" }, "failures by cause")));
  const slot = h("div", { class: "table-wrap" });
  root.appendChild(slot);
  get("/dlq/groups", { status, limit: 100 }).then((r) => {
    if (!r.items.length) {
      slot.appendChild(emptyState("No failures. The queue is healthy."));
      return;
    }
    const rows = r.items.map((g) => h("tr", {},
      h("td", { "data-label": "Task" }, h("a", {
        href: `#/failures?fingerprint=${encodeURIComponent(g.fingerprint)}`,
        "data-test": "group-link" }, g.task_name)),
      h("td", { "data-label": "Exception" },
        h("span", { class: "exc-type" }, g.exception_type || "–"),
        " ", h("span", { class: "exc-msg" }, g.sample_message || "")),
      h("td", { class: "num", "data-label": "Pending" }, fmtNum(g.pending)),
      h("td", { class: "num", "data-label": "Count" }, fmtNum(g.count)),
      h("td", { "data-label": "First seen" }, timeEl(g.first_seen)),
      h("td", { "data-label": "Last seen" }, timeEl(g.last_seen))));
    slot.appendChild(h("table", { class: "entries", "data-test": "groups" },
      h("thead", {}, h("tr", {}, ["Task", "Exception (sample)", "Pending", "Count", "First seen",
        "Last seen"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
  }).catch((e) => slot.appendChild(errorBox(e)));
}
