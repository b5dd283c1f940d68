// The printrelay service-center dashboard: login, the shell (top bar, left nav, live indicator),
// hash routing, and the live event stream handed to the current view.

import { ApiError, bus, get, getToken, setToken, openLive } from './api.js';
import { h, replace, clear, tickAgo, loading, empty } from './dom.js';
import { mountFleet } from './views-fleet.js';
import { mountDevice } from './views-device.js';
import { mountJobs } from './views-jobs.js';
import { mountAlerts } from './views-alerts.js';
import { mountFirmware, mountCampaign } from './views-firmware.js';
import { mountRegistrations, mountTables } from './views-tables.js';
import { mountNotifications, mountBilling } from './views-misc.js';
import { mountAccess } from './views-access.js';

const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };

const NAV = [
  { id: 'fleet', label: 'Fleet', icon: 'M3 5h18v4H3zM3 11h18v4H3zM3 17h18v3H3z' },
  { id: 'alerts', label: 'Alerts', icon: 'M12 3 2 20h20L12 3zm0 6v5m0 2.5v.5' },
  { id: 'jobs', label: 'Jobs', icon: 'M4 6h16M4 12h16M4 18h10' },
  { id: 'firmware', label: 'Firmware', icon: 'M12 3v12m0 0-4-4m4 4 4-4M4 17v3h16v-3' },
  { id: 'registrations', label: 'Registrations', icon: 'M5 4h14v16H5zM8 8h8M8 12h8M8 16h5' },
  { id: 'tables', label: 'Code tables', icon: 'M4 5h16v14H4zM4 10h16M10 5v14' },
  { id: 'notifications', label: 'Notifications', icon: 'M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20h4' },
  { id: 'billing', label: 'Billing', icon: 'M6 3h12v18l-3-2-3 2-3-2-3 2zM9 8h6M9 12h6' },
  { id: 'access', label: 'Access', icon: 'M14.5 4a5.5 5.5 0 1 1-4.9 8L3 18.6V21h3v-2h2v-2h2l1.6-1.6A5.5 5.5 0 0 1 14.5 4zM16 7.5h.01' },
];

const ROUTES = [
  [/^(?:fleet)?$/, 'fleet', mountFleet],
  [/^device\/(.+)$/, 'fleet', mountDevice],
  [/^alerts$/, 'alerts', mountAlerts],
  [/^jobs$/, 'jobs', mountJobs],
  [/^firmware$/, 'firmware', mountFirmware],
  [/^campaign\/(.+)$/, 'firmware', mountCampaign],
  [/^registrations$/, 'registrations', mountRegistrations],
  [/^tables(?:\/([a-z_]+))?$/, 'tables', mountTables],
  [/^notifications$/, 'notifications', mountNotifications],
  [/^billing$/, 'billing', mountBilling],
  [/^access$/, 'access', mountAccess],
];

const app = document.getElementById('app');
let user = null; // {name, role}
let live = null;
let liveState = 'off';
let everLive = false;
let view = null; // {onLive, resync, unmount}
let viewSeq = 0;
let openAlerts = null;
const els = {};

// ---- context handed to views ----

const ctx = {
  get user() {
    return user;
  },
  /** True when the signed-in role is at least `role` (an unknown role is let through: the relay decides). */
  can(role) {
    if (!user) return false;
    if (!ROLE_RANK[user.role]) return true;
    return ROLE_RANK[user.role] >= ROLE_RANK[role];
  },
  toast,
  confirm: confirmDialog,
  navigate(hash) {
    location.hash = hash;
  },
  /** Shows an API error as a toast; returns true when it was one. */
  fail(e, what) {
    if (e && e.name === 'AbortError') return true;
    const msg = e instanceof ApiError ? e.human : String((e && e.message) || e);
    toast(what ? `${what}: ${msg}` : msg, 'error');
    return true;
  },
  setAlertCount(n) {
    openAlerts = n;
    renderAlertBadge();
  },
  bumpAlertCount(d) {
    if (openAlerts !== null) ctx.setAlertCount(Math.max(0, openAlerts + d));
  },
  get liveState() {
    return liveState;
  },
};

// ---- toasts and confirm ----

function toast(message, kind = 'info', ms = kind === 'error' ? 9000 : 3000) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text' }, message),
    h('button', { class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
  box.appendChild(t);
  setTimeout(() => t.remove(), ms);
}

/** Says `message` to screen readers once, politely: the focus stays where it is. */
function announce(message) {
  const box = document.getElementById('announcer');
  if (!box) return;
  box.textContent = '';
  // A new text node after a clear is read even when the same words come twice.
  setTimeout(() => { box.textContent = message; }, 50);
}

let dialogSeq = 0;

/** A modal question; `detail` (optional) says what the action does. Resolves true for `ok`. */
function confirmDialog(message, { ok = 'Confirm', danger = false, detail = '' } = {}) {
  return new Promise((resolve) => {
    const id = `dialog-${++dialogSeq}`;
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': `${id}-text`, 'aria-describedby': detail ? `${id}-detail` : null },
      h('form', { method: 'dialog' },
        h('p', { class: 'dialog-text', id: `${id}-text` }, message),
        detail ? h('p', { class: 'dialog-detail', id: `${id}-detail`, testid: 'confirm-detail' }, detail) : null,
        h('div', { class: 'dialog-actions' },
          h('button', { value: 'cancel', class: 'btn' }, 'Cancel'),
          h('button', { value: 'ok', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, testid: 'confirm-ok' }, ok))));
    // showModal makes the page behind inert, but Tab past the last button would leave for the
    // browser's own controls: Tab and Shift+Tab go round the dialog's controls instead. On close
    // the focus goes back to what opened it.
    dlg.addEventListener('keydown', (e) => {
      if (e.key !== 'Tab') return;
      const stops = [...dlg.querySelectorAll('button, input, select, textarea, a[href]')].filter((el) => !el.disabled);
      if (!stops.length) return;
      const first = stops[0];
      const last = stops[stops.length - 1];
      if (e.shiftKey ? document.activeElement === first : document.activeElement === last) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    });
    const opener = document.activeElement;
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      else if (els.main && els.main.isConnected) els.main.focus();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

// ---- login ----

async function whoami(token) {
  try {
    const me = await get('/v1/whoami', { token });
    return { name: me.name || 'unknown', role: me.role || 'unknown' };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  // A relay without /v1/whoami: the token is good if it can read the fleet; the role is unknown
  // and the relay itself refuses what the role may not do.
  await get('/v1/alerts?serial=-', { token });
  return { name: 'signed in', role: 'unknown' };
}

function showLogin(message) {
  stopLive();
  unmountView();
  user = null;
  document.title = 'Sign in · printrelay';
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'at_…', required: true, testid: 'login-token',
  });
  const err = h('div', { class: 'form-error', role: 'alert', testid: 'login-error' }, message || '');
  const btn = h('button', { class: 'btn btn-primary btn-block', type: 'submit', testid: 'login-submit' }, 'Sign in');
  const form = h('form', {
    class: 'login-form',
    async onsubmit(ev) {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      btn.disabled = true;
      btn.textContent = 'Checking…';
      err.textContent = '';
      try {
        const me = await whoami(token);
        setToken(token);
        start(me);
      } catch (e) {
        err.textContent = e instanceof ApiError && e.status === 401
          ? 'This token is not valid on this relay.'
          : e instanceof ApiError ? e.human : String(e.message || e);
        btn.disabled = false;
        btn.textContent = 'Sign in';
        input.select();
      }
    },
  },
  h('label', { for: 'token' }, 'Admin token'),
  input,
  h('p', { class: 'hint' }, 'Paste an admin credential (made with ', h('code', null, 'relayctl credentials create'),
    ' or found in the relay\'s admin.token). It is kept in this tab only.'),
  err,
  btn);
  replace(app, h('div', { class: 'login-page' },
    h('div', { class: 'login-card', testid: 'login' },
      h('div', { class: 'brand brand-large' }, logo(), h('span', null, 'printrelay')),
      h('h1', null, 'Service center'),
      form)));
  input.focus();
}

function logo() {
  return h('span', { class: 'logo', 'aria-hidden': 'true' });
}

// ---- shell ----

function icon(path) {
  const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('class', 'nav-icon');
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', path);
  s.appendChild(p);
  return s;
}

function renderShell() {
  els.live = h('span', { class: 'live live-off', testid: 'live', title: 'Live updates', role: 'status' },
    h('span', { class: 'live-dot', 'aria-hidden': 'true' }), h('span', { class: 'sr-only' }, 'Live updates: '), h('span', { class: 'live-text' }, 'offline'));
  // Icons are decoration: each link is named by its label, which narrow screens hide visually only.
  els.nav = h('nav', { class: 'nav', id: 'nav', 'aria-label': 'Main' }, NAV.map((n) => h('a', {
    href: `#/${n.id}`, class: 'nav-link', dataset: { nav: n.id },
    onclick: () => {
      if (els.menu.getAttribute('aria-expanded') !== 'true') return;
      setMenu(false); // the link is hidden with the menu: the focus goes to the page it opens
      els.main.focus();
    },
  }, icon(n.icon), h('span', { class: 'nav-label' }, n.label),
  n.id === 'alerts' ? (els.alertBadge = h('span', { class: 'nav-badge', hidden: true, testid: 'nav-alert-count' })) : null)));
  els.nav.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && els.menu.getAttribute('aria-expanded') === 'true') {
      setMenu(false);
      els.menu.focus();
    }
  });
  // Phones: the navigation folds into this button (style.css shows it below 760 px).
  els.menu = h('button', {
    type: 'button', class: 'btn btn-ghost menu-btn', testid: 'menu', 'aria-controls': 'nav', 'aria-expanded': 'false',
    onclick: () => setMenu(els.menu.getAttribute('aria-expanded') !== 'true'),
  }, h('span', { class: 'menu-icon', 'aria-hidden': 'true' }), h('span', { class: 'menu-text' }, 'Menu'));
  els.main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const roleText = user.role === 'unknown' ? 'role unknown' : user.role;
  replace(app,
    h('a', { class: 'skip-link', href: '#main', onclick: (ev) => { ev.preventDefault(); els.main.focus(); } }, 'Skip to content'),
    h('header', { class: 'topbar' },
      els.menu,
      // Named by its words, which narrow screens hide visually only (axe: label-content-name-mismatch).
      h('a', { class: 'brand', href: '#/fleet' }, logo(), h('span', { class: 'brand-name' }, 'printrelay'), ' ', h('span', { class: 'brand-sub' }, 'Service center')),
      h('div', { class: 'topbar-right' },
        els.live,
        h('span', { class: 'user', testid: 'user' },
          h('span', { class: 'user-name', testid: 'user-name' }, user.name),
          h('span', { class: `role role-${user.role}`, testid: 'user-role' }, roleText)),
        h('button', { class: 'btn btn-ghost', testid: 'logout', onclick: logout }, 'Sign out'))),
    h('div', { class: 'layout' }, els.nav, els.main));
  renderAlertBadge();
}

function setMenu(open) {
  if (!els.menu) return;
  els.menu.setAttribute('aria-expanded', open ? 'true' : 'false');
  els.nav.classList.toggle('open', open);
  if (open) {
    const first = els.nav.querySelector('.nav-link.active') || els.nav.querySelector('.nav-link');
    if (first) first.focus();
  }
}

function renderAlertBadge() {
  if (!els.alertBadge) return;
  if (openAlerts) {
    els.alertBadge.hidden = false;
    els.alertBadge.textContent = openAlerts > 999 ? '999+' : String(openAlerts);
    els.alertBadge.setAttribute('aria-label', `${openAlerts} open`);
  } else {
    els.alertBadge.hidden = true;
  }
}

function setLive(state, detail) {
  liveState = state;
  if (!els.live) return;
  const text = {
    live: 'live', connecting: 'connecting…', retrying: `reconnecting${detail ? ` in ${detail} s` : ''}…`, off: 'offline',
  }[state] || state;
  els.live.className = `live live-${state}`;
  els.live.querySelector('.live-text').textContent = text;
  els.live.title = state === 'live' ? 'Receiving live updates from the relay' : 'Live updates are not flowing; the page reconnects by itself';
  if (state === 'live') {
    if (everLive && view && view.resync) view.resync(); // events may have been missed meanwhile
    everLive = true;
  }
}

const FINAL_JOB_STATES = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

function onLive(ev) {
  if (ev.type === 'alert') {
    const a = ev.data && ev.data.alert;
    // Every open or close is announced once, whoever did it (this page included).
    if (a && ev.data.resolved) {
      ctx.bumpAlertCount(-1);
      announce(`Alert ${a.code || ''} on ${a.serial || ev.data.serial || 'a device'} closed.`);
    } else if (a && a.open !== false) {
      ctx.bumpAlertCount(1);
      announce(`New alert ${a.code || ''} on ${a.serial || ev.data.serial || 'a device'}.`);
    }
  } else if (ev.type === 'job') {
    const j = ev.data && ev.data.job;
    if (j && FINAL_JOB_STATES.has(j.state)) announce(`Job ${j.id} (${j.kind}) on ${j.serial}: ${j.state}.`);
  }
  if (view && view.onLive) view.onLive(ev);
}

function startLive() {
  stopLive();
  live = openLive(onLive, setLive);
}

function stopLive() {
  if (live) live.stop();
  live = null;
  everLive = false;
}

async function refreshAlertCount() {
  try {
    const j = await get('/v1/alerts');
    ctx.setAlertCount((j.alerts || []).length);
  } catch { /* the alerts page shows errors */ }
}

function start(me) {
  user = me;
  renderShell();
  startLive();
  refreshAlertCount();
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/fleet';
  else route();
}

function logout() {
  setToken('');
  openAlerts = null;
  showLogin();
  history.replaceState(null, '', location.pathname);
}

// ---- routing ----

function unmountView() {
  if (view && view.unmount) {
    try {
      view.unmount();
    } catch (e) {
      console.error(e);
    }
  }
  view = null;
}

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  return { path, query };
}

async function route() {
  if (!user) return;
  const { path, query } = parseHash();
  unmountView();
  const seq = ++viewSeq;
  let match = null;
  for (const [re, nav, mount] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      match = { nav, mount, args: m.slice(1).map((a) => (a === undefined ? undefined : decodeURIComponent(a))) };
      break;
    }
  }
  for (const a of els.nav.querySelectorAll('.nav-link')) {
    a.classList.toggle('active', !!match && a.dataset.nav === match.nav);
    if (match && a.dataset.nav === match.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('div', { class: 'view' });
  replace(els.main, root);
  setMenu(false);
  if (!match) {
    root.appendChild(empty('Page not found', `Nothing lives at #/${path}.`));
    return;
  }
  root.appendChild(loading());
  try {
    const v = await match.mount(root, { args: match.args, query }, ctx);
    if (seq !== viewSeq) {
      if (v && v.unmount) v.unmount();
      return;
    }
    view = v || {};
    // The link or button that led here went away with the old page: start the keyboard (and a
    // screen reader) at the top of the new one, not back at the top of the document.
    const lost = !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;
    if (lost && !document.querySelector('dialog[open]')) els.main.focus({ preventScroll: true });
  } catch (e) {
    if (seq !== viewSeq) return;
    if (e instanceof ApiError && e.status === 401) return; // the login page is on its way
    clear(root);
    root.appendChild(empty('Could not load this page', e instanceof ApiError ? e.human : String(e.message || e)));
    console.error(e);
  }
}

window.addEventListener('hashchange', route);
bus.addEventListener('unauthorized', () => {
  if (user) {
    setToken('');
    showLogin('Your session ended (the token was refused). Sign in again.');
  }
});
setInterval(() => tickAgo(document), 5000);

// ---- boot ----

(async function boot() {
  const token = getToken();
  if (!token) {
    showLogin();
    return;
  }
  replace(app, h('div', { class: 'login-page' }, loading('Signing in')));
  try {
    start(await whoami(token));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setToken('');
    showLogin(e instanceof ApiError && e.status === 401 ? '' : `Could not reach the relay: ${e.message || e}`);
  }
}());
