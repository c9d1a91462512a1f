// api.js: the one way the dashboard talks to dlq: fetch with the tab's
// bearer token, JSON in and out, and every error turned into an ApiError
// that carries the server's problem+json. A 401 anywhere signs the person
// out (the app listens for "dlq:unauthorized").

const TOKEN_KEY = "dlq.token";

export class ApiError extends Error {
  constructor(status, problem, message) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  who: null, // {name, role, tenant_id}
  set(token, who) {
    this.token = token;
    this.who = who;
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    this.token = "";
    this.who = null;
    sessionStorage.removeItem(TOKEN_KEY);
  },
  get canRead() {
    return ["viewer", "operator", "admin"].includes(this.who?.role);
  },
  get canAct() {
    return ["operator", "admin"].includes(this.who?.role);
  },
  get isAdmin() {
    return this.who?.role === "admin";
  },
};

// qs builds "?a=1&b=2" from an object, leaving out empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

// api sends one request and returns the parsed JSON (null for no body).
// options: query (object), body (JSON value), token (overrides the tab's).
export async function api(method, path, options = {}) {
  const headers = { Accept: "application/json" };
  const token = options.token ?? session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}${qs(options.query)}`, { method, headers, body,
      cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, null, `The server did not answer (${e.message}).`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const problem = data && typeof data === "object" ? data : null;
    const err = new ApiError(res.status, problem,
      problem?.detail || problem?.title || `HTTP ${res.status}`);
    if (res.status === 401 && !options.token) {
      window.dispatchEvent(new CustomEvent("dlq:unauthorized", { detail: err }));
    }
    throw err;
  }
  return data;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body, query) => api("POST", path, { body, query });
export const del = (path, query) => api("DELETE", path, { query });
