// The REST API client: every call carries the signed-in key as `Authorization: Bearer …`,
// errors arrive as RFC 9457 problem+json and become `ApiError`s, and a 401 signs the user out.

const KEY_STORAGE = 'microlearn.apiKey';

/** The key of this browser tab (sessionStorage: it is forgotten when the tab closes). */
export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new Event('microlearn:auth'));
}

/** An API failure, with the problem's members (`type`, `detail`, `field`, `row`, …). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem || {};
  }

  get field() {
    return this.problem.field;
  }

  /** The stable part of the problem type, e.g. `not-found`. */
  get kind() {
    return (this.problem.type || '').replace('urn:microlearn:problem:', '');
  }
}

async function problemOf(resp) {
  const text = await resp.text();
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.trim() || `${resp.status} ${resp.statusText}` };
  }
}

/**
 * Call the API. `body` may be a plain object (sent as JSON), FormData, a File/Blob (sent raw)
 * or undefined. Returns the parsed JSON, or null for 204.
 */
export async function api(path, { method = 'GET', body, key = getKey(), query, signal } = {}) {
  const headers = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let payload = body;
  if (body && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let url = path;
  if (query) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== ''));
    if ([...q].length) url += `?${q}`;
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: payload, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { detail: `the server did not answer (${e.message}); is microlearn serve running?` });
  }
  if (resp.status === 401 && key) {
    // The key was revoked or the data directory changed: back to the sign-in screen.
    setKey(null);
  }
  if (!resp.ok) throw new ApiError(resp.status, await problemOf(resp));
  if (resp.status === 204) return null;
  const type = resp.headers.get('content-type') || '';
  return type.includes('json') ? resp.json() : resp.text();
}

/**
 * Parse a `text/event-stream` body incrementally. Feed it chunks of text; it returns the
 * complete events seen so far as `{id, event, data}` and keeps the unfinished tail.
 */
export function sseParser() {
  let buffer = '';
  return (chunk) => {
    buffer += chunk.replace(/\r\n?/g, '\n');
    const events = [];
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const ev = { id: null, event: 'message', data: '' };
      const data = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue; // keep-alive comments
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') ev.event = value;
        else if (field === 'id') ev.id = value;
      }
      if (data.length || ev.id != null) {
        ev.data = data.join('\n');
        events.push(ev);
      }
    }
    return events;
  };
}

/**
 * Follow a pipeline's event stream. EventSource cannot send an Authorization header, so this
 * reads the SSE body through fetch, which can; the key never appears in a URL (or a log).
 * Reconnects after a dropped connection from the last event id. Returns a function that stops.
 */
export function followEvents(pipelineId, { onEvent, onEnd, onError }) {
  const ctrl = new AbortController();
  let last = null;
  let stopped = false;
  const run = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const key = getKey();
        const resp = await fetch(
          `/v1/pipelines/${encodeURIComponent(pipelineId)}/events${last != null ? `?after=${last}` : ''}`,
          { headers: key ? { Authorization: `Bearer ${key}`, Accept: 'text/event-stream' } : {}, signal: ctrl.signal },
        );
        if (resp.status === 401) {
          setKey(null);
          return;
        }
        if (!resp.ok) throw new ApiError(resp.status, await problemOf(resp));
        failures = 0;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        const parse = sseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parse(value)) {
            if (ev.id != null && ev.id !== '') last = Number(ev.id);
            if (ev.event === 'end') {
              stopped = true;
              onEnd?.();
              return;
            }
            let parsed;
            try {
              parsed = JSON.parse(ev.data);
            } catch {
              parsed = { kind: ev.event, message: ev.data, data: {} };
            }
            onEvent?.(parsed);
          }
        }
      } catch (e) {
        if (stopped || e.name === 'AbortError') return;
        failures += 1;
        if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
          onError?.(e);
          return;
        }
        if (failures === 3) onError?.(e);
      }
      // The server closed the stream without `end` (a restart): wait a little, then resume.
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** failures)));
    }
  };
  run();
  return () => {
    stopped = true;
    ctrl.abort();
  };
}
