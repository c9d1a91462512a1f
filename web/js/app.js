// app.js: the dashboard's entry point: sign-in (the token lives in this
// tab's sessionStorage only), who is signed in (GET /api/v1/whoami), the
// navigation, and the hash router that draws one page at a time. A page is
// "#/<name>[/<arg>][?<filters>]", so any view, filters included, can be
// shared as a link.

import { api, session } from "./api.js";
import { clear, errorText, h } from "./dom.js";
import * as overview from "./overview.js";
import * as failures from "./failures.js";
import * as entry from "./entry.js";
import * as groups from "./groups.js";
import * as ops from "./ops.js";
import * as pages from "./pages.js";

const ROUTES = {
  overview: overview.render,
  failures: failures.render,
  entry: entry.render,
  groups: groups.render,
  operations: ops.renderList,
  operation: ops.renderOne,
  queues: pages.renderQueues,
  alerts: pages.renderAlerts,
  audit: pages.renderAudit,
};

const $ = (id) => document.getElementById(id);
let cleanup = null;

// parseHash splits "#/failures?status=x" into page, arg and params.
export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page, ...rest] = path.split("/");
  return {
    page: page || "overview",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : "",
    params: new URLSearchParams(query),
  };
}

function showSignIn(message) {
  if (cleanup) cleanup();
  cleanup = null;
  clear($("view"));
  $("top").hidden = true;
  $("signin").hidden = false;
  const err = $("signin-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("signin-token").value = "";
  $("signin-token").focus();
  document.title = "Sign in · dlq";
}

function showApp() {
  const who = session.who;
  $("signin").hidden = true;
  $("top").hidden = false;
  $("who-name").textContent = who.name;
  $("who-role").textContent = who.role;
  $("who-role").className = `badge badge-role-${who.role}`;
  $("who-tenant").textContent = who.tenant_id ? `tenant ${who.tenant_id}` : "all tenants";
  for (const node of document.querySelectorAll("[data-perm]")) {
    const need = node.dataset.perm;
    node.hidden = need === "admin" ? !session.isAdmin : need === "act" ? !session.canAct : false;
  }
  route();
}

// whoami asks the server who a token is; throws the API's error.
async function whoami(token) {
  const who = await api("GET", "/whoami", { token });
  if (!["viewer", "operator", "admin"].includes(who.role)) {
    throw new Error(`This token's role (${who.role}) may only report failures; ` +
      "sign in with a viewer, operator or admin token.");
  }
  return who;
}

function route() {
  if (!session.who) return;
  const { page, arg, params } = parseHash();
  const fn = ROUTES[page];
  if (cleanup) cleanup();
  cleanup = null;
  for (const a of document.querySelectorAll("#nav a")) {
    const active = a.dataset.page === page ||
      (page === "entry" && a.dataset.page === "failures") ||
      (page === "operation" && a.dataset.page === "operations");
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const view = clear($("view"));
  const root = h("div", { class: "page", "data-page": page });
  view.appendChild(root);
  if (!fn) {
    root.appendChild(h("div", { class: "empty" }, h("p", { class: "empty-title" },
      "No such page."), h("a", { href: "#/overview" }, "Go to the overview")));
    return;
  }
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · dlq`;
  try {
    const done = fn(root, { arg, params });
    if (typeof done === "function") cleanup = done;
  } catch (e) {
    root.appendChild(h("div", { class: "error-box", role: "alert" }, errorText(e)));
  }
}

async function start() {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = $("signin-token").value.trim();
    const btn = $("signin-submit");
    btn.disabled = true;
    try {
      const who = await whoami(token);
      session.set(token, who);
      if (!location.hash || location.hash === "#/") location.hash = "#/overview";
      showApp();
    } catch (e) {
      const err = $("signin-error");
      err.textContent = e.status === 401 ? `Sign-in refused: ${errorText(e)}` : errorText(e);
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  });
  $("sign-out").addEventListener("click", () => {
    session.clear();
    showSignIn("");
  });
  window.addEventListener("dlq:unauthorized", (ev) => {
    session.clear();
    showSignIn(`Signed out: ${errorText(ev.detail)}`);
  });
  window.addEventListener("hashchange", route);

  if (session.token) {
    try {
      session.who = await whoami(session.token);
      showApp();
      return;
    } catch (e) {
      session.clear();
      showSignIn(errorText(e));
      return;
    }
  }
  showSignIn("");
}

start();
