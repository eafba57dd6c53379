// The public API as the pages use it: the session kept in this browser, JSON calls that
// turn a problem+json answer into an Error a person can read, and the live stream.

const KEY = "learnstream.session";

export function session() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    if (saved && new Date(saved.expiresAt) > new Date()) return saved;
  } catch (_) { /* a damaged entry is the same as none */ }
  return null;
}

export function remember(answer) {
  localStorage.setItem(KEY, JSON.stringify(answer));
}

export function forget() {
  localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `The server answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function authorized(extra = {}) {
  const current = session();
  return current ? { ...extra, Authorization: `Bearer ${current.accessToken}` } : extra;
}

// POSTs a body and reads the answer as server-sent events (a streamed assistant reply).
export async function stream(path, body, onEvent) {
  const answer = await fetch(path, {
    method: "POST",
    headers: authorized({ Accept: "text/event-stream", "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => ({})));
  await readEvents(answer, onEvent);
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const current = session();
  const headers = authorized({ Accept: "application/json" });
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (_) {
    throw new ApiError(0, { detail: "The server cannot be reached; check the connection and try again." });
  }
  if (answer.status === 401 && current) {
    forget();
    location.assign("/");
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new ApiError(answer.status, data || {});
  return data;
}

// Reads a text/event-stream answer, calling onEvent(kind, data, id) for each event and
// onComment(text) for each comment line (the live stream's ": connected").
export async function readEvents(answer, onEvent, onComment = () => {}) {
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) onComment(line.slice(1).trim());
        if (!line || line.startsWith(":")) continue;
        const at = line.indexOf(":");
        fields[line.slice(0, at)] = line.slice(at + 1).trimStart();
      }
      if (fields.event && fields.data) onEvent(fields.event, JSON.parse(fields.data), fields.id);
    }
  }
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
// Calls onEvent(kind, data) for each update; reconnects with Last-Event-ID after a drop.
// <html data-live="connected"> while the server holds the subscription.
export function live(onEvent) {
  let lastId = null;
  let stopped = false;
  const controller = new AbortController();
  async function run() {
    while (!stopped) {
      if (!session()) return;
      const headers = authorized({ Accept: "text/event-stream" });
      if (lastId) headers["Last-Event-ID"] = lastId;
      try {
        const answer = await fetch("/api/stream", { headers, signal: controller.signal });
        if (!answer.ok || !answer.body) throw new Error(String(answer.status));
        await readEvents(answer, (kind, data, id) => {
          if (id) lastId = id;
          onEvent(kind, data);
        }, (comment) => {
          if (comment === "connected") document.documentElement.dataset.live = "connected";
        });
      } catch (_) {
        if (stopped) return;
      }
      document.documentElement.dataset.live = "reconnecting";
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
  run();
  return () => { stopped = true; controller.abort(); };
}

// A file behind the token (a certificate, an export): fetched, then saved by the browser.
export async function download(path, fallbackName) {
  const answer = await fetch(path, { headers: authorized() });
  if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => ({})));
  const disposition = answer.headers.get("Content-Disposition") || "";
  const named = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await answer.blob());
  link.download = named ? named[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
