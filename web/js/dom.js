// dom.js: small helpers to build the page with DOM APIs (never innerHTML
// with data, so text from the API can never become markup), to format
// numbers and times, and to show dialogs and messages.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(node, c);
  } else if (child instanceof Node) {
    node.appendChild(child);
  } else {
    node.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(node, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "value" && "value" in node) node.value = value;
    else if (key === "checked" || key === "disabled" || key === "hidden" || key === "selected") {
      node[key] = Boolean(value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
}

// h makes an HTML element: h("a", {href: "#/x", class: "link"}, "text", child).
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

// svg makes an SVG element the same way.
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function fmtNum(n) {
  if (n === null || n === undefined) return "–";
  return Number(n).toLocaleString("en-US");
}

const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

// relTime says "3 minutes ago" for an RFC 3339 time.
export function relTime(iso, now = Date.now()) {
  if (!iso) return "–";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const secs = Math.round((t - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(secs) >= size || unit === "second") {
      return rtf.format(Math.round(secs / size), unit);
    }
  }
  return iso;
}

// One formatter for every exact time: building one per call (what
// toLocaleString does) costs about half a millisecond each.
const exactFmt = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium",
  hour12: false });

// exactTime is the hover text: the local time and the UTC original.
export function exactTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${exactFmt.format(d)} (${iso})`;
}

// timeEl is a <time> showing the relative time, exact time on hover.
export function timeEl(iso, now) {
  if (!iso) return h("span", { class: "muted" }, "–");
  return h("time", { datetime: iso, title: exactTime(iso) }, relTime(iso, now));
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status.replace(/_/g, " "));
}

// prettyJson formats JSON text (or a value) with two-space indents; text
// that is not JSON comes back as it was.
export function prettyJson(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

// errorText turns an error (an ApiError with problem+json, or any error)
// into the sentence shown to the person.
export function errorText(err) {
  if (!err) return "Something went wrong.";
  if (err.problem) {
    const p = err.problem;
    let text = p.detail || p.title || `HTTP ${err.status}`;
    if (Array.isArray(p.errors) && p.errors.length > 1) {
      text += ` — ${p.errors.map((e) => `${e.field}: ${e.detail}`).join("; ")}`;
    }
    return text;
  }
  return err.message || String(err);
}

let toastTimer = 0;

// toast shows a short message at the bottom of the page.
export function toast(message, kind = "ok") {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.className = `toast toast-${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, kind === "error" ? 8000 : 4000);
}

export function emptyState(text, hint) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, text),
    hint ? h("p", { class: "muted" }, hint) : null);
}

export function errorBox(err) {
  return h("div", { class: "error-box", role: "alert" }, errorText(err));
}

// modal opens the page's <dialog> with a title, a body and a submit
// button. onSubmit may be async; what it throws is shown in the dialog and
// keeps it open; what it returns resolves the promise and closes it.
// Escape or Cancel resolves null.
export function modal({ title, body, submit = "OK", danger = false, onSubmit, wide = false }) {
  const dlg = document.getElementById("dialog");
  clear(dlg);
  dlg.className = wide ? "dialog-wide" : "";
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const okBtn = h("button", { type: "submit", class: danger ? "btn btn-danger" : "btn btn-primary",
    "data-test": "dialog-submit" }, submit);
  const cancel = h("button", { type: "button", class: "btn", "data-test": "dialog-cancel" },
    "Cancel");
  const form = h("form", { method: "dialog", class: "dialog-form" },
    h("h2", { id: "dialog-title" }, title), body, err,
    h("div", { class: "dialog-actions" }, cancel, okBtn));
  dlg.appendChild(form);
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      if (dlg.open) dlg.close();
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(null));
    dlg.addEventListener("close", () => finish(null), { once: true });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      okBtn.disabled = true;
      err.hidden = true;
      try {
        const value = onSubmit ? await onSubmit() : true;
        finish(value === undefined ? true : value);
      } catch (e) {
        err.textContent = errorText(e);
        err.hidden = false;
        okBtn.disabled = false;
      }
    });
    dlg.showModal();
    const first = form.querySelector("input, textarea, select");
    (first || okBtn).focus();
  });
}

// field is a labelled form control.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("p", { class: "hint" }, hint) : null);
}

export function copyButton(getText, label = "Copy") {
  const btn = h("button", { type: "button", class: "btn btn-small" }, label);
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(getText());
      toast("Copied to the clipboard.");
    } catch {
      toast("The browser did not allow copying: select the text instead.", "error");
    }
  });
  return btn;
}
