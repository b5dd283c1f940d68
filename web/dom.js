// DOM helpers. Every piece of text from the server goes through text nodes (h() children,
// textContent) or attributes set with setAttribute: nothing here parses HTML, so a device name
// like "<img onerror=...>" is shown as typed, never run.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, child) {
  if (child === null || child === undefined || child === false || child === true) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
    return;
  }
  el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setProps(el, props, isSvg) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (!isSvg && (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')) el[k] = v;
    else if (k === 'testid') el.setAttribute('data-testid', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('div', {class: 'x', onclick: fn}, 'text', child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props, false);
  append(el, children);
  return el;
}

export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props, true);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// ---- formatting ----

const numFmt = new Intl.NumberFormat(undefined);
export function fmtNum(n) {
  if (n === null || n === undefined || n === '') return '—';
  const x = Number(n);
  return Number.isFinite(x) ? numFmt.format(x) : String(n);
}

export function parseTime(t) {
  if (!t) return null;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

/** "12 s ago", "3 min ago", "5 h ago", "2 d ago"; future times as "in 3 min". */
export function fmtAgo(t, now = Date.now()) {
  const ms = parseTime(t);
  if (ms === null) return 'never';
  let d = Math.round((now - ms) / 1000);
  const future = d < 0;
  d = Math.abs(d);
  let s;
  if (d < 5) return future ? 'now' : 'just now';
  if (d < 60) s = `${d} s`;
  else if (d < 3600) s = `${Math.floor(d / 60)} min`;
  else if (d < 86400) s = `${Math.floor(d / 3600)} h`;
  else s = `${Math.floor(d / 86400)} d`;
  return future ? `in ${s}` : `${s} ago`;
}

const pad2 = (n) => String(n).padStart(2, '0');

/** "2026-11-23 22:15:07" in local time: compact, sortable, the same width in every row. */
export function fmtTime(t) {
  const ms = parseTime(t);
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

export function fmtDate(t) {
  return fmtTime(t).slice(0, 10);
}

const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
/** A chart tick: the time of day when the span is under two days, else the date. */
export function fmtTick(t, spanMs) {
  const ms = parseTime(t);
  if (ms === null) return '';
  const d = new Date(ms);
  if (spanMs < 10 * 60000) return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  if (spanMs < 2 * 86400000) return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return dayFmt.format(d);
}

/** A <time> element: relative text, exact time as tooltip; re-rendered by the ticker. */
export function ago(t) {
  const el = h('time', { class: 'ago', title: fmtTime(t) }, fmtAgo(t));
  if (t) el.dataset.t = String(t);
  return el;
}

/** Refreshes every relative time below root (called once a few seconds). */
export function tickAgo(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time.ago[data-t]')) {
    const text = fmtAgo(el.dataset.t, now);
    if (el.textContent !== text) el.textContent = text;
  }
}

// ---- status pills and gauges ----

const TONE = {
  // device states
  idle: 'ok', printing: 'info', busy: 'info', error: 'bad', offline: 'muted', unknown: 'muted',
  // job states
  waiting: 'muted', acquired: 'info', running: 'info', succeeded: 'ok', failed: 'bad',
  cancelled: 'muted', expired: 'warn',
  // urgencies
  fatal: 'bad', high: 'warn', normal: 'muted', low: 'muted',
  // supplies / parts
  ok: 'ok', low: 'warn', empty: 'bad', near_end: 'warn', end_of_life: 'bad',
  // campaigns and results
  done: 'ok', paused: 'warn', completed: 'ok', pending: 'muted', 'waiting-for-re-update': 'warn',
  // compatibility
  compatible: 'ok', incompatible: 'bad', no_rules: 'muted',
  // notifications
  sent: 'ok',
  // credentials
  revoked: 'bad',
};

export function tone(state) {
  return TONE[state] || 'muted';
}

export function pill(state, label, toneName) {
  const s = state === null || state === undefined || state === '' ? 'unknown' : String(state);
  const text = String(label || s.replace(/_/g, ' '));
  return h('span', { class: `pill pill-${toneName || tone(s)}`, dataset: { state: s } }, text.charAt(0).toUpperCase() + text.slice(1));
}

const SUPPLY_COLORS = {
  black: '#1f2328', cyan: '#0ea5c6', magenta: '#c026a3', yellow: '#d4a106',
};
export function supplyColor(name) {
  const n = String(name || '').toLowerCase();
  for (const [k, c] of Object.entries(SUPPLY_COLORS)) if (n.includes(k)) return c;
  return '#64748b';
}
export function supplyShort(name) {
  const n = String(name || '').toLowerCase();
  if (n.includes('black')) return 'K';
  if (n.includes('cyan')) return 'C';
  if (n.includes('magenta')) return 'M';
  if (n.includes('yellow')) return 'Y';
  return n.slice(0, 1).toUpperCase() || '?';
}

/** Small vertical bars, one per supply (the fleet list). */
export function miniGauges(supplies) {
  if (!Array.isArray(supplies) || supplies.length === 0) return h('span', { class: 'dim' }, '—');
  return h('span', { class: 'mini-gauges' }, supplies.map((s) => {
    const pct = Math.max(0, Math.min(100, Number(s.level_pct) || 0));
    const st = s.state || (pct <= 0 ? 'empty' : pct <= 10 ? 'low' : 'ok');
    return h('span', {
      class: `mini-gauge state-${st}`,
      title: `${s.name}: ${pct} % (${String(st).replace(/_/g, ' ')})`,
      dataset: { supply: s.name || '', level: String(pct) },
    }, h('span', { class: 'mini-fill', style: { height: `${pct}%`, background: supplyColor(s.name) } }));
  }));
}

/** A horizontal gauge with label and value (the device page). */
export function gauge(label, pct, { state, color, note, testid } = {}) {
  const p = Math.max(0, Math.min(100, Number(pct) || 0));
  return h('div', { class: `gauge state-${state || 'ok'}`, testid },
    h('div', { class: 'gauge-head' },
      h('span', { class: 'gauge-label' }, label),
      h('span', { class: 'gauge-value num' }, `${Math.round(p)} %`)),
    h('div', { class: 'gauge-track' },
      h('div', { class: 'gauge-fill', style: { width: `${p}%`, background: color || '' } })),
    note ? h('div', { class: 'gauge-note' }, note) : null);
}

export function empty(title, detail) {
  return h('div', { class: 'empty' },
    h('div', { class: 'empty-title' }, title),
    detail ? h('div', { class: 'empty-detail' }, detail) : null);
}

export function loading(what = 'Loading') {
  return h('div', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${what}…`);
}

export function card(title, body, { actions, testid, cls } = {}) {
  return h('section', { class: ['card', cls], testid },
    title ? h('header', { class: 'card-head' }, h('h2', null, title), actions ? h('div', { class: 'card-actions' }, actions) : null) : null,
    h('div', { class: 'card-body' }, body));
}

const FOCUSABLE = 'a[href], button, input, select, textarea, summary, [tabindex]';

/**
 * Runs `render` (which rebuilds what is below `root`) and gives the focus back to the element that
 * takes the place of the one that had it: the same position in the row with the same first data-
 * attribute (data-serial, data-job, …), or the same position below `root`. A live update never
 * throws a keyboard user back to the top of the page.
 */
export function keepFocus(root, render) {
  const el = document.activeElement;
  if (!el || el === document.body || !root.contains(el)) return render();
  const row = el.closest('tr');
  const key = row && root.contains(row) ? Object.entries(row.dataset)[0] : null;
  const rowSel = key ? `tr[data-${key[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}="${CSS.escape(key[1])}"]` : null;
  const index = [...(rowSel ? row : root).querySelectorAll(FOCUSABLE)].indexOf(el);
  const out = render();
  if (el.isConnected) return out;
  const scope = rowSel ? root.querySelector(rowSel) : root;
  const again = scope && scope.querySelectorAll(FOCUSABLE)[index];
  if (again) again.focus({ preventScroll: true });
  return out;
}

/** replace(), keeping the focus as keepFocus() does. */
export function replaceKeepingFocus(el, ...children) {
  return keepFocus(el, () => replace(el, ...children));
}

/**
 * A table in its own scroll box: on a narrow screen the table scrolls sideways inside it, never
 * the page. The box is a named region and a tab stop, so a keyboard user can scroll it with the
 * arrow keys and a screen reader says which table it holds. `cls` adds classes (table-scroll).
 */
export function tableWrap(table, label, cls) {
  return h('div', { class: ['table-wrap', cls], role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

/** A key/value list. rows: [[label, value], ...]; null values are skipped. */
export function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter((r) => r && r[1] !== null && r[1] !== undefined && r[1] !== '')
    .map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function jsonText(v) {
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

export function debounce(fn, ms) {
  let t = null;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/** Runs fn at most once per `ms` (trailing call kept). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    const now = Date.now();
    const wait = last + ms - now;
    if (wait <= 0 && !timer) {
      last = now;
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, Math.max(wait, 0));
    }
  };
}

/** Date → value for <input type="datetime-local" step="1"> in local time. */
export function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** <input type="datetime-local"> value (local) → RFC 3339 UTC with milliseconds, or null. */
export function fromLocalInput(v) {
  if (!v) return null;
  const d = new Date(v);
  return Number.isFinite(d.getTime()) ? d.toISOString() : null;
}
