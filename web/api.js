// The admin API client and the live event stream.
//
// The bearer token lives in sessionStorage (per tab, gone when the tab closes). Every request
// sends it; a 401 anywhere logs the page out. The event stream is read with fetch() and a
// ReadableStream rather than EventSource, because EventSource cannot send an Authorization
// header.

const TOKEN_KEY = 'printrelay.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }

  /** The sentence shown to a person. */
  get human() {
    if (this.status === 403) return `Not allowed: ${this.message} (your role cannot do this).`;
    if (this.status === 404) return `Not found: ${this.message}`;
    if (this.status === 409) return `Conflict: ${this.message}`;
    if (this.status === 429) return 'The relay is busy; try again in a moment.';
    if (this.status === 0) return `No answer from the relay: ${this.message}`;
    return this.message;
  }
}

export const bus = new EventTarget();

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function send(method, path, body, { token, accept = 'application/json', signal } = {}) {
  const headers = { Accept: accept };
  const t = token ?? getToken();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', e.message || 'network error');
  }
  if (!res.ok) {
    let code = '';
    let message = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j && j.error) {
        code = j.error.code || '';
        message = j.error.message || message;
      }
    } catch { /* not JSON */ }
    const err = new ApiError(res.status, code, message);
    if (res.status === 401 && token === undefined) bus.dispatchEvent(new CustomEvent('unauthorized', { detail: err }));
    throw err;
  }
  return res;
}

export async function api(method, path, body, opts) {
  const res = await send(method, path, body, opts);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** GET that answers null for 404 (endpoints a relay may not have). */
export async function getOptional(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** Downloads `path` with the bearer header and saves it (a blob URL and a temporary link). */
export async function download(path, fallbackName, accept = '*/*') {
  const res = await send('GET', path, undefined, { accept });
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return { name, size: blob.size, type: blob.type };
}

export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;

// ---- the live event stream ----

/**
 * Parses Server-Sent Events from text chunks. Calls onEvent({type, data, id}) per complete
 * event; `data` is the JSON-parsed payload (or the raw text when it is not JSON).
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.id = '';
  }

  push(chunk) {
    this.buf += chunk;
    let nl;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      const skip = this.buf[nl] === '\r' && this.buf[nl + 1] === '\n' ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (this.buf[nl] === '\r' && nl + 1 === this.buf.length) break;
      this.buf = this.buf.slice(nl + skip);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) {
        const raw = this.data.join('\n');
        let data = raw;
        try {
          data = JSON.parse(raw);
        } catch { /* keep text */ }
        this.onEvent({ type: this.type || 'message', data, id: this.id });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return; // comment (keepalive)
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
  }
}

/**
 * Keeps GET /v1/events open. onEvent({type, data}) per event; onState('connecting' | 'live' |
 * 'retrying', detail) as the connection changes. Reconnects with exponential backoff (1 s .. 30 s,
 * with jitter); a stream silent for longer than 45 s (the relay sends a keepalive every 15 s) is
 * dropped and reopened. Returns {stop()}.
 */
export function openLive(onEvent, onState) {
  let stopped = false;
  let attempt = 0;
  let ctrl = null;
  let timer = null;
  let watchdog = null;

  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ctrl && ctrl.abort(), 45000);
  };

  async function connect() {
    if (stopped) return;
    ctrl = new AbortController();
    onState('connecting');
    let opened = false;
    try {
      const res = await send('GET', '/v1/events', undefined, { accept: 'text/event-stream', signal: ctrl.signal });
      if (!res.body) throw new ApiError(0, 'stream', 'this browser cannot read streams');
      opened = true;
      attempt = 0;
      onState('live');
      arm();
      const parser = new SseParser((ev) => {
        try {
          onEvent(ev);
        } catch (e) {
          console.error('live event handler', e);
        }
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.push(value);
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        stopped = true;
        onState('off', e);
        return;
      }
      if (stopped) return;
      if (!opened) console.warn('live stream:', e.message || e);
    } finally {
      clearTimeout(watchdog);
    }
    if (stopped) return;
    attempt += 1;
    const delay = Math.min(30000, 1000 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() * 0.5);
    onState('retrying', Math.round(delay / 1000));
    timer = setTimeout(connect, delay);
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (ctrl) ctrl.abort();
      onState('off');
    },
  };
}
