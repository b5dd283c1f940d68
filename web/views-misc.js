// Notifications (the record of what was sent, by e-mail and webhook) and Billing (a period, a
// preview, and the CSV download).

import { ApiError, get, getOptional, download, q, enc } from './api.js';
import {
  h, replace, ago, pill, empty, card, fmtNum, fmtTime, debounce, tableWrap, keepFocus,
} from './dom.js';

// ---------------- notifications ----------------

export async function mountNotifications(root, { query }, ctx) {
  const serial = query.get('serial') || '';
  const first = await getOptional(`/v1/notifications${q({ limit: 500, serial })}`);
  if (first === null) {
    replace(root,
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Notifications'))),
      empty('Not available on this relay', 'This relay keeps no record of notifications (no /v1/notifications endpoint).'));
    return {};
  }
  let list = first.notifications || [];
  const st = { state: '', channel: '' };
  const tbody = h('tbody');
  const chips = h('div', { class: 'chips' });

  function render() {
    keepFocus(root, draw);
  }

  function draw() {
    const counts = {};
    for (const n of list) counts[n.state] = (counts[n.state] || 0) + 1;
    replace(chips, ['', 'pending', 'sent', 'failed'].map((s) => h('button', {
      type: 'button', class: ['chip', st.state === s ? 'active' : ''], dataset: { filter: s || 'all' },
      onclick: () => {
        st.state = s;
        render();
      },
    }, s || 'all', ' ', h('span', { class: 'chip-count num' }, fmtNum(s ? counts[s] || 0 : list.length)))));
    const rows = list.filter((n) => !st.state || n.state === st.state);
    const frag = document.createDocumentFragment();
    for (const n of rows) {
      frag.appendChild(h('tr', { dataset: { notification: String(n.id) }, class: n.state === 'failed' ? 'row-bad' : '' },
        h('td', { class: 'nowrap' }, ago(n.created_at)),
        h('td', null, String(n.event_type || '').replace(/_/g, ' ')),
        h('td', null, n.serial ? h('a', { href: `#/device/${enc(n.serial)}`, class: 'mono' }, n.serial) : '—'),
        h('td', null, h('span', { class: 'kind' }, n.channel === 'email' ? 'e-mail' : n.channel || '—'),
          h('div', { class: 'clip mono small', title: n.target || '' }, n.target || '—')),
        h('td', { class: 'small nowrap' }, n.rule || '—'),
        h('td', { class: 'clip wide', title: n.subject || '' }, n.subject || '—'),
        h('td', null, pill(n.state, null, n.state === 'pending' ? 'info' : null),
          h('div', { class: 'small dim nowrap' }, `${fmtNum(n.attempts)} attempt${n.attempts === 1 ? '' : 's'}`, n.sent_at ? ` · ${fmtTime(n.sent_at).slice(11)}` : ''),
          n.last_error ? h('div', { class: 'small text-bad clip narrow', title: n.last_error }, n.last_error) : null)));
    }
    replace(tbody, frag);
    if (!rows.length) {
      replace(tbody, h('tr', null, h('td', { colspan: 7 }, list.length ? empty('Nothing in this view')
        : empty('Nothing sent yet', 'E-mails and webhooks the notification rules send are recorded here, with their delivery state.'))));
    }
  }

  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Notifications'), h('p', { class: 'sub' }, 'Every e-mail and webhook the relay sent (or tried to), newest first.'))),
    h('div', { class: 'toolbar' }, chips),
    h('div', { class: 'card card-flush' }, tableWrap(h('table', { class: 'table', testid: 'notifications-table' },
      h('thead', null, h('tr', null, ['Created', 'Event', 'Device', 'To', 'Rule', 'Subject', 'Delivery'].map((c) => h('th', null, c)))),
      tbody), 'Notifications')));
  render();

  const reload = async () => {
    try {
      list = ((await get(`/v1/notifications${q({ limit: 500, serial })}`)).notifications) || [];
      render();
    } catch { /* keep */ }
  };
  return {
    onLive(ev) {
      if (ev.type !== 'notification' || !ev.data) return;
      const n = ev.data.notification || ev.data;
      if (!n || n.id === undefined || (serial && n.serial !== serial)) return;
      const i = list.findIndex((x) => x.id === n.id);
      if (i >= 0) list[i] = { ...list[i], ...n };
      else list.unshift(n);
      render();
    },
    resync: reload,
  };
}

// ---------------- billing ----------------

function utcDate(d) {
  return d.toISOString().slice(0, 10);
}

function monthStart(y, m) {
  return new Date(Date.UTC(y, m, 1));
}

function presets() {
  const now = new Date();
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const tomorrow = new Date(Date.UTC(y, m, now.getUTCDate() + 1));
  return [
    ['this-month', 'This month', monthStart(y, m), monthStart(y, m + 1)],
    ['last-month', 'Last month', monthStart(y, m - 1), monthStart(y, m)],
    ['last-30', 'Last 30 days', new Date(tomorrow.getTime() - 30 * 86400000), tomorrow],
    ['this-year', 'This year', new Date(Date.UTC(y, 0, 1)), new Date(Date.UTC(y + 1, 0, 1))],
  ];
}

export async function mountBilling(root, _params, ctx) {
  const ps = presets();
  const from = h('input', { type: 'date', value: utcDate(ps[0][2]), required: true, testid: 'billing-from' });
  const to = h('input', { type: 'date', value: utcDate(ps[0][3]), required: true, testid: 'billing-to' });
  const serial = h('input', { type: 'text', placeholder: 'all devices', class: 'mono' });
  const customer = h('input', { type: 'text', placeholder: 'all customers' });
  const err = h('div', { class: 'form-error', role: 'alert', testid: 'billing-error' });
  const preview = h('div');
  const presetBox = h('div', { class: 'segmented' });
  let active = 'this-month';

  function params(format) {
    if (!from.value || !to.value) throw new Error('Choose both dates.');
    if (from.value >= to.value) throw new Error('The period must end after it starts.');
    return {
      from: `${from.value}T00:00:00.000Z`, to: `${to.value}T00:00:00.000Z`,
      serial: serial.value.trim(), customer: customer.value.trim(), format,
    };
  }

  function drawPresets() {
    replace(presetBox, ps.map(([id, label, f, t]) => h('button', {
      type: 'button', class: active === id ? 'active' : '', dataset: { preset: id },
      onclick: () => {
        active = id;
        from.value = utcDate(f);
        to.value = utcDate(t);
        drawPresets();
        load();
      },
    }, label)));
  }

  async function load() {
    err.textContent = '';
    let p;
    try {
      p = params('');
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    replace(preview, h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Counting pages…'));
    try {
      const j = await get(`/v1/billing${q(p)}`);
      renderPreview(j);
    } catch (e) {
      replace(preview);
      err.textContent = e instanceof ApiError ? e.human : String(e.message || e);
    }
  }

  function renderPreview(j) {
    const rows = j.rows || [];
    const totals = {};
    for (const r of rows) if (r.counter) totals[r.counter] = (totals[r.counter] || 0) + (Number(r.difference) || 0);
    const devices = new Set(rows.map((r) => r.serial)).size;
    const flagged = rows.filter((r) => (r.flags || []).length).length;
    const main = ['total', 'print', 'copy', 'fax', 'scan', 'color', 'mono'].filter((k) => k in totals);
    replace(preview,
      h('div', { class: 'stat-cards' },
        h('div', { class: 'stat-card stat-all static' }, h('span', { class: 'stat-value num' }, fmtNum(devices)), h('span', { class: 'stat-label' }, 'devices')),
        main.map((k) => h('div', { class: 'stat-card static' }, h('span', { class: 'stat-value num' }, fmtNum(totals[k])), h('span', { class: 'stat-label' }, `${k} pages`))),
        h('div', { class: ['stat-card', 'static', flagged ? 'stat-warn' : ''] }, h('span', { class: 'stat-value num' }, fmtNum(flagged)), h('span', { class: 'stat-label' }, 'rows need a look'))),
      card(`Preview: ${fmtNum(rows.length)} rows`, !rows.length ? empty('No rows', 'No registered device in this selection.') : tableWrap(
        h('table', { class: 'table table-compact', testid: 'billing-table' },
          h('thead', null, h('tr', null, ['Serial', 'Customer', 'Place', 'Counter', 'Start', 'End', 'Pages', 'Flags'].map((c) => h('th', { class: c === 'Pages' || c === 'Start' || c === 'End' ? 'num' : '' }, c)))),
          h('tbody', null, rows.slice(0, 2000).map((r) => h('tr', { class: (r.flags || []).length ? 'row-warn' : '' },
            h('td', { class: 'mono' }, r.serial),
            h('td', { class: 'clip' }, r.customer || '—'),
            h('td', { class: 'clip' }, r.place || '—'),
            h('td', { class: 'mono' }, r.counter || '—'),
            h('td', { class: 'num', title: r.start_at ? fmtTime(r.start_at) : '' }, fmtNum(r.start)),
            h('td', { class: 'num', title: r.end_at ? fmtTime(r.end_at) : '' }, fmtNum(r.end)),
            h('td', { class: 'num strong' }, fmtNum(r.difference)),
            h('td', { title: r.flags_text || '' }, (r.flags || []).map((f) => pill(f.kind, null, f.kind === 'reset' || f.kind === 'no_readings' ? 'bad' : 'warn'))))))), 'Billing preview', 'table-scroll'), { cls: 'card-flush-body' }));
  }

  const dl = h('button', { type: 'button', class: 'btn btn-primary', testid: 'billing-download' }, 'Download CSV');
  dl.addEventListener('click', async () => {
    err.textContent = '';
    let p;
    try {
      p = params('csv');
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    dl.disabled = true;
    dl.textContent = 'Preparing…';
    try {
      const f = await download(`/v1/billing${q(p)}`, `billing-${p.from}-${p.to}.csv`, 'text/csv');
      ctx.toast(`Saved ${f.name} (${fmtNum(f.size)} bytes).`, 'ok');
    } catch (e) {
      err.textContent = e instanceof ApiError ? e.human : String(e.message || e);
    } finally {
      dl.disabled = false;
      dl.textContent = 'Download CSV';
    }
  });

  const onEdit = debounce(() => {
    active = '';
    drawPresets();
    load();
  }, 400);
  for (const i of [from, to, serial, customer]) i.addEventListener('change', onEdit);

  drawPresets();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Billing'), h('p', { class: 'sub' }, 'Pages counted per device and counter in a period, from the meter readings. Rows with resets, gaps or late readings are flagged.'))),
    card('Period', h('form', { class: 'billing-form', onsubmit: (ev) => { ev.preventDefault(); load(); } },
      presetBox,
      h('div', { class: 'form-row' },
        h('label', { class: 'field' }, h('span', null, 'From (UTC, inclusive)'), from),
        h('label', { class: 'field' }, h('span', null, 'To (UTC, exclusive)'), to),
        h('label', { class: 'field' }, h('span', null, 'Device'), serial),
        h('label', { class: 'field' }, h('span', null, 'Customer'), customer)),
      err,
      h('div', { class: 'form-actions form-actions-left' }, dl, h('button', { type: 'submit', class: 'btn' }, 'Refresh preview'))), { testid: 'card-billing' }),
    preview);
  load();
  return {};
}
