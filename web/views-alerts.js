// Alerts: open service calls, jams, supplies low/empty, parts at end of life, incompatible
// structures, troubles — each with the error-code table's text and what to do, and an
// Acknowledge button for operators.

import { get, post, q, enc } from './api.js';
import {
  h, replace, ago, pill, empty, fmtNum, tableWrap, keepFocus,
} from './dom.js';

const TYPE_LABEL = {
  service_call: 'Service call',
  jam: 'Jam',
  supply_low: 'Supply low',
  supply_empty: 'Supply empty',
  part_end_of_life: 'Part end of life',
  part: 'Part',
  incompatible: 'Incompatible',
  trouble: 'Trouble',
  alert: 'Alert',
};

const DEFAULT_ACTION = {
  service_call: 'Dispatch a technician; the code says which unit.',
  jam: 'Ask the customer to clear the paper path; repeated jams need a visit.',
  supply_low: 'Order a replacement before it runs out.',
  supply_empty: 'Deliver a replacement now.',
  part_end_of_life: 'Plan the part replacement on the next visit.',
  incompatible: 'Update the units to the recommended versions (see the device page).',
  trouble: 'Look at the device\'s error history and plan a visit.',
};

export function typeLabel(t) {
  return TYPE_LABEL[t] || String(t || 'alert').replace(/_/g, ' ');
}

/** {text, action, fromTable}: the error-code table's wording when the relay has it. */
export function alertText(a) {
  const c = a.content || {};
  return {
    text: c.text || a.message || typeLabel(a.type),
    action: c.action || '',
    fallbackAction: DEFAULT_ACTION[a.type] || '',
    fromTable: !!(c.text || c.action),
  };
}

export async function mountAlerts(root, { query }, ctx) {
  const st = {
    all: query.get('all') === '1', serial: query.get('serial') || '', type: query.get('type') || '', alerts: [],
  };
  const tbody = h('tbody');
  const chips = h('div', { class: 'chips', testid: 'alert-filters' });
  const allBox = h('input', { type: 'checkbox', checked: st.all });
  const canAck = ctx.can('operator');

  const places = new Map();
  async function load() {
    const [j, d] = await Promise.all([
      get(`/v1/alerts${q({ serial: st.serial, all: st.all ? '1' : '' })}`),
      places.size ? null : get('/v1/devices').catch(() => null), // one list for the places, not one request per row
    ]);
    if (d) for (const x of d.devices || []) places.set(x.serial, [x.place, x.customer].filter(Boolean).join(' · '));
    st.alerts = j.alerts || [];
    if (!st.serial && !st.all) ctx.setAlertCount(st.alerts.length);
    render();
  }

  function sync() {
    const p = new URLSearchParams();
    if (st.all) p.set('all', '1');
    if (st.serial) p.set('serial', st.serial);
    if (st.type) p.set('type', st.type);
    const s = p.toString();
    history.replaceState(null, '', `#/alerts${s ? `?${s}` : ''}`);
  }

  async function ack(a, btn) {
    const hadFocus = document.activeElement === btn;
    const at = [...tbody.querySelectorAll('[data-testid=alert-ack]')].indexOf(btn);
    btn.disabled = true;
    try {
      const r = await post(`/v1/alerts/${enc(a.id)}/ack`);
      const closed = (r && r.alert) || r || {};
      Object.assign(a, { open: false, acknowledged_at: closed.acknowledged_at || new Date().toISOString(), acknowledged_by: closed.acknowledged_by || ctx.user.name });
      if (!st.all) st.alerts = st.alerts.filter((x) => x.id !== a.id);
      // The nav count follows the stream's announcement of the close (app.js), so that an alert
      // closed here and one closed by a colleague count the same way.
      if (ctx.liveState !== 'live') ctx.bumpAlertCount(-1);
      ctx.toast(`Alert ${a.code || a.type} on ${a.serial} acknowledged.`, 'ok');
      render();
      // The row (and the focused button) is gone: the focus moves to the next alert's button, or
      // to the list when it was the last one.
      if (hadFocus) {
        const next = tbody.querySelectorAll('[data-testid=alert-ack]');
        (next[Math.min(at, next.length - 1)] || tbody.closest('.table-wrap')).focus();
      }
    } catch (e) {
      btn.disabled = false;
      ctx.fail(e, 'Acknowledge');
    }
  }

  function row(a) {
    const t = alertText(a);
    const open = a.open !== false && !a.acknowledged_at;
    return h('tr', { dataset: { alert: String(a.id), serial: a.serial, code: a.code || '' }, class: open && a.urgency === 'fatal' ? 'row-bad' : open ? '' : 'row-closed' },
      h('td', { class: 'nowrap' }, ago(a.raised_at)),
      h('td', null, pill(a.urgency)),
      h('td', null, h('a', { href: `#/device/${enc(a.serial)}`, class: 'mono strong' }, a.serial),
        places.get(a.serial) ? h('div', { class: 'small dim clip', title: places.get(a.serial) }, places.get(a.serial)) : null),
      h('td', null, typeLabel(a.type), a.code ? h('div', { class: 'mono small' }, a.code) : null),
      h('td', { class: 'alert-text', testid: 'alert-text' }, t.text,
        t.fromTable && a.message && a.message !== t.text ? h('div', { class: 'small dim' }, a.message) : null),
      h('td', { class: 'alert-action', testid: 'alert-action' }, t.action || (t.fallbackAction ? h('span', { class: 'dim' }, t.fallbackAction) : h('span', { class: 'dim' }, '—'))),
      h('td', { class: 'actions' }, open
        ? (canAck ? (() => {
          const b = h('button', { type: 'button', class: 'btn btn-sm', testid: 'alert-ack' }, 'Acknowledge');
          b.addEventListener('click', () => ack(a, b));
          return b;
        })() : null)
        : h('span', { class: 'small dim' }, 'closed ', ago(a.acknowledged_at), a.acknowledged_by ? ` by ${a.acknowledged_by}` : '')));
  }

  function render() {
    keepFocus(root, draw);
  }

  function draw() {
    const counts = {};
    for (const a of st.alerts) counts[a.type] = (counts[a.type] || 0) + 1;
    const types = Object.keys(counts).sort();
    if (st.type && !types.includes(st.type)) types.push(st.type);
    replace(chips, ['', ...types].map((t) => h('button', {
      type: 'button', class: ['chip', st.type === t ? 'active' : ''], dataset: { filter: t || 'all' },
      onclick: () => {
        st.type = t;
        sync();
        render();
      },
    }, t ? typeLabel(t) : 'All', ' ', h('span', { class: 'chip-count num' }, fmtNum(t ? counts[t] || 0 : st.alerts.length)))));
    const rows = st.alerts.filter((a) => !st.type || a.type === st.type);
    const frag = document.createDocumentFragment();
    for (const a of rows) frag.appendChild(row(a));
    replace(tbody, frag);
    if (!rows.length) {
      replace(tbody, h('tr', null, h('td', { colspan: 7 }, st.all || st.type || st.serial
        ? empty('No alerts in this view')
        : empty('No open alerts', 'Service calls, jams, low supplies, worn parts and incompatible units show here as they happen.'))));
    }
  }

  allBox.addEventListener('change', () => {
    st.all = allBox.checked;
    sync();
    load().catch((e) => ctx.fail(e));
  });

  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Alerts'),
        h('p', { class: 'sub' }, st.serial ? ['Alerts of ', h('a', { href: `#/device/${enc(st.serial)}`, class: 'mono' }, st.serial), '. ', h('a', { href: '#/alerts' }, 'All devices')]
          : 'What needs a person: open service calls, jams, supplies, parts, incompatible units and troubles.')),
      h('div', { class: 'page-actions' }, h('label', { class: 'check' }, allBox, ' Include acknowledged'))),
    h('div', { class: 'toolbar' }, chips),
    h('div', { class: 'card card-flush' }, tableWrap(h('table', { class: 'table table-alerts', testid: 'alerts-table' },
      h('thead', null, h('tr', null, ['Raised', 'Urgency', 'Device', 'Type', 'What happened', 'What to do', ''].map((c) => h('th', null, c)))),
      tbody), 'Alerts')));

  await load();

  return {
    onLive(ev) {
      if (ev.type !== 'alert' || !ev.data || !ev.data.alert) return;
      const a = ev.data.alert;
      if (st.serial && a.serial !== st.serial) return;
      const i = st.alerts.findIndex((x) => x.id === a.id);
      if (a.open === false && !st.all) {
        // Closed elsewhere (another dispatcher, or the monitoring center): it leaves the list.
        if (i < 0) return;
        st.alerts.splice(i, 1);
      } else if (i >= 0) {
        st.alerts[i] = { ...st.alerts[i], ...a };
      } else {
        st.alerts.unshift(a);
      }
      render();
    },
    resync: () => load().catch(() => {}),
  };
}
