// overview.js: the first page: health against its thresholds, pending and
// recent counts, failures per hour as an SVG bar chart, the top tasks,
// queues, reasons and exception types, and the firing alerts. It redraws
// itself every 10 seconds without reloading the page.

import { get } from "./api.js";
import { age, clear, emptyState, errorBox, fmtNum, h, svg, timeEl } from "./dom.js";

const REFRESH_MS = 10000;

// chart draws counts per hour as bars, with the hour of the first, middle
// and last bar under the axis; each bar has a <title> for hover.
export function chart(byHour) {
  const W = 720;
  const H = 160;
  const padB = 22;
  const padL = 36;
  const n = Math.max(1, byHour.length);
  const max = Math.max(1, ...byHour.map((b) => b.count));
  const bw = (W - padL) / n;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": `Failures per hour, ${byHour.length} hours, at most ${max} in an hour` });
  root.appendChild(svg("line", { x1: padL, y1: H - padB, x2: W, y2: H - padB, class: "axis" }));
  root.appendChild(svg("text", { x: padL - 6, y: 12, class: "tick", "text-anchor": "end" },
    String(max)));
  root.appendChild(svg("text", { x: padL - 6, y: H - padB, class: "tick", "text-anchor": "end" },
    "0"));
  byHour.forEach((b, i) => {
    const bh = ((H - padB - 16) * b.count) / max;
    const rect = svg("rect", { x: (padL + i * bw + 1).toFixed(1), y: (H - padB - bh).toFixed(1),
      width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1), class: "bar" });
    const when = new Date(b.hour);
    rect.appendChild(svg("title", {}, `${when.toLocaleString("en-GB", { hour12: false })}: ` +
      `${b.count} failures`));
    root.appendChild(rect);
  });
  const label = (i, anchor) => {
    const d = new Date(byHour[i].hour);
    const text = `${String(d.getHours()).padStart(2, "0")}:00` +
      (byHour.length > 24 ? ` ${d.getDate()}/${d.getMonth() + 1}` : "");
    return svg("text", { x: padL + i * bw + bw / 2, y: H - 6, class: "tick",
      "text-anchor": anchor }, text);
  };
  if (byHour.length) {
    root.appendChild(label(0, "start"));
    root.appendChild(label(Math.floor(byHour.length / 2), "middle"));
    root.appendChild(label(byHour.length - 1, "end"));
  }
  return root;
}

// topList shows the largest counts of a {name: count} map, each a link to
// the failures filtered by it.
function topList(title, counts, filterKey) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const total = rows.reduce((s, r) => s + r[1], 0) || 1;
  const list = h("ol", { class: "top-list" });
  for (const [name, count] of rows) {
    const href = `#/failures?${new URLSearchParams({ [filterKey]: name,
      status: "pending_review,requires_review" })}`;
    const bar = h("span", { class: "top-bar" });
    bar.style.width = `${Math.round((100 * count) / total)}%`;
    list.appendChild(h("li", {}, h("a", { href }, h("span", { class: "top-name" }, name),
      h("span", { class: "top-count" }, fmtNum(count))), bar));
  }
  return h("section", { class: "card" }, h("h3", {}, title),
    rows.length ? list : h("p", { class: "muted" }, "Nothing pending."));
}

function healthCard(s) {
  const t = s.thresholds || {};
  return h("section", { class: `card health health-${s.health}`, "data-test": "health" },
    h("h3", {}, "Health"),
    h("p", { class: "big" }, s.health),
    h("p", { class: "muted" },
      `healthy with none pending · warning from ${t.warning} · critical above ${t.critical}`),
    s.alert_status?.should_alert ? h("p", {}, s.alert_status.reason) : null);
}

function stat(label, value, extra, test) {
  return h("section", { class: "card stat", "data-test": test }, h("h3", {}, label),
    h("p", { class: "big" }, value), extra ? h("p", { class: "muted" }, extra) : null);
}

function alertsCard(alerts) {
  const firing = (alerts?.items || []).filter((a) => a.firing);
  return h("section", { class: "card", "data-test": "firing-alerts" },
    h("h3", {}, h("a", { href: "#/alerts" }, "Firing alerts")),
    firing.length
      ? h("ul", { class: "alert-list" }, firing.map((a) => h("li", { class: "alert-firing" },
        h("strong", {}, a.rule), " ", a.reason, " · since ", timeEl(a.since))))
      : h("p", { class: "muted" }, "No alert is firing."));
}

export function render(root, { params }) {
  const hours = Number(params.get("hours")) === 168 ? 168 : 24;
  const body = h("div", { class: "overview" });
  const updated = h("span", { class: "muted", "data-test": "updated" });
  const toggle = h("div", { class: "segmented", role: "group", "aria-label": "Chart window" },
    [24, 168].map((n) => h("button", { type: "button", class: "btn btn-small",
      "aria-pressed": String(n === hours), onclick: () => {
        location.hash = `#/overview?hours=${n}`;
      } }, n === 24 ? "24 hours" : "7 days")));
  root.appendChild(h("div", { class: "page-head" }, h("h1", {}, "Overview"), toggle, updated));
  root.appendChild(body);

  let stopped = false;
  async function load() {
    try {
      const [s, alerts] = await Promise.all([get("/dlq/stats", { hours }),
        get("/dlq/alerts").catch(() => null)]);
      if (stopped) return;
      clear(body);
      body.appendChild(h("div", { class: "cards" },
        healthCard(s),
        stat("Pending", fmtNum(s.pending_entries),
          s.oldest_pending_at ? `oldest ${age(s.oldest_pending_age_s)} old` : "none waiting",
          "pending"),
        stat("Last hour", fmtNum(s.failures_last_hour), "new failures", "last-hour"),
        stat(`Last ${s.window_hours === 168 ? "7 days" : `${s.window_hours} hours`}`,
          fmtNum(s.failures_in_window), `${fmtNum(s.total_failures)} stored in all`, "window")));
      body.appendChild(h("section", { class: "card" },
        h("h3", {}, `Failures per hour, last ${hours === 168 ? "7 days" : "24 hours"}`),
        chart(s.by_hour || [])));
      if (!s.pending_entries) {
        body.appendChild(emptyState("No failures. The queue is healthy."));
      }
      body.appendChild(h("div", { class: "cards cards-4" },
        topList("Top tasks", s.by_task, "task_name"),
        topList("Queues", s.by_queue, "queue"),
        topList("Reasons", s.by_reason, "reason"),
        topList("Exception types", s.by_exception_type, "exception_type")));
      body.appendChild(alertsCard(alerts));
      updated.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
    } catch (e) {
      if (stopped) return;
      clear(body);
      body.appendChild(errorBox(e));
    }
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
