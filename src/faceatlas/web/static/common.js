// What every page shares: building nodes, the access token, and JSON requests to the API.
// Nodes are built with createElement and textContent only: names are user text.
"use strict";

const TOKEN_KEY = "faceatlas-token";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// The token of a server that requires one: given once as ?token= in the address, kept for this
// tab in sessionStorage, and taken out of the address bar (and so out of history and bookmarks).
const accessToken = (() => {
  let stored = null;
  try {
    const url = new URL(location.href);
    const given = url.searchParams.get("token");
    if (given !== null) {
      if (given) sessionStorage.setItem(TOKEN_KEY, given);
      url.searchParams.delete("token");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    }
    stored = sessionStorage.getItem(TOKEN_KEY);
  } catch (err) {  // storage turned off: the token lasts as long as the page
    stored = new URL(location.href).searchParams.get("token");
  }
  return stored || null;
})();

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function errorDetail(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {  // FastAPI's validation errors
    return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
  }
  if (detail) return JSON.stringify(detail);
  return `${response.status} ${response.statusText}`.trim();
}

// GET (no body) or a write: a JSON body, and the token when there is one. Answers the JSON
// body; a 4xx or 5xx throws ApiError with the server's one-line detail.
async function api(url, { method = "GET", body, form } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (form !== undefined) {
      init.body = form;
    } else {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
  }
  const response = await fetch(url, init);
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (!response.ok) throw new ApiError(response.status, errorDetail(answer, response));
  return answer;
}

// A distance cut as people read it: 0.4 -> "0.40", 0.375 -> "0.375".
function formatCut(cut) {
  const text = Number(cut).toFixed(3);
  return text.endsWith("0") ? text.slice(0, -1) : text;
}
