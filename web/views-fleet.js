// Fleet: every device with model, place, customer, state, last seen, open alerts and supply
// gauges; counts by state (clickable filters) and a search. One request for the list (and, on a
// relay whose list carries no supplies, one for the latest supplies reports): filtering,
// searching and sorting happen here, so 1,000 devices cost no extra round trips.

import { get, q, enc } from './api.js';
import {
  h, replace, ago, pill, miniGauges, empty, fmtNum, throttle, debounce, parseTime, tableWrap, keepFocus,
} from './dom.js';

const STATE_CARDS = [
  { id: '', label: 'All devices', tone: 'all' },
  { id: 'error', label: 'Error', tone: 'bad' },
  { id: 'alerts', label: 'Open alerts', tone: 'warn' },
  { id: 'offline', label: 'Offline', tone: 'muted' },
  { id: 'printing', label: 'Printing', tone: 'info' },
  { id: 'idle', label: 'Idle', tone: 'ok' },
];

const COLUMNS = [
  { key: 'serial', label: 'Serial' },
  { key: 'model', label: 'Model' },
  { key: 'place', label: 'Place' },
  { key: 'customer', label: 'Customer' },
  { key: 'state', label: 'State' },
  { key: 'last_seen', label: 'Last seen' },
  { key: 'open_alerts', label: 'Alerts', num: true },
  { key: 'supplies', label: 'Supplies', nosort: true },
  { key: 'firmware', label: 'Firmware (main)' },
];

function mainVersion(d) {
  const f = d.firmware || {};
  return f.main || Object.values(f)[0] || '';
}

export async function mountFleet(root, { query }, ctx) {
  const st = {
    devices: [],
    supplies: new Map(),
    state: query.get('state') || '',
    search: query.get('q') || '',
    sort: query.get('sort') || 'serial',
    dir: query.get('dir') === 'desc' ? -1 : 1,
    bySerial: new Map(),
  };

  async function load() {
    const j = await get('/v1/devices');
    st.devices = j.devices || [];
    st.bySerial = new Map(st.devices.map((d) => [d.serial, d]));
    if (st.devices.some((d) => Array.isArray(d.supplies))) {
      for (const d of st.devices) if (Array.isArray(d.supplies)) st.supplies.set(d.serial, d.supplies);
    } else if (st.devices.length) {
      // The newest supplies report per device, from one page of reports.
      try {
        const r = await get(`/v1/reports${q({ kind: 'supplies', limit: 1000 })}`);
        for (const rep of r.reports || []) {
          if (!st.supplies.has(rep.serial) && rep.body && Array.isArray(rep.body.supplies)) {
            st.supplies.set(rep.serial, rep.body.supplies);
          }
        }
      } catch { /* gauges stay empty */ }
    }
  }

  await load();

  const search = h('input', {
    type: 'search', class: 'search', placeholder: 'Search serial, model, place, customer…',
    value: st.search, testid: 'fleet-search', 'aria-label': 'Search devices',
  });
  const cards = h('div', { class: 'stat-cards', testid: 'fleet-counts' });
  const tbody = h('tbody');
  const thead = h('thead');
  const summary = h('div', { class: 'table-summary', testid: 'fleet-summary' });
  const wrap = tableWrap(
    h('table', { class: 'table table-fleet', testid: 'fleet-table' }, thead, tbody), 'Devices');

  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Fleet'), h('p', { class: 'sub' }, 'Every device this relay serves, as it last reported.')),
      h('div', { class: 'page-actions' }, search)),
    cards,
    h('div', { class: 'card card-flush' }, summary, wrap));

  function syncUrl() {
    const p = new URLSearchParams();
    if (st.state) p.set('state', st.state);
    if (st.search) p.set('q', st.search);
    if (st.sort !== 'serial') p.set('sort', st.sort);
    if (st.dir < 0) p.set('dir', 'desc');
    const s = p.toString();
    history.replaceState(null, '', `#/fleet${s ? `?${s}` : ''}`);
  }

  function matches(d, needle) {
    if (st.state === 'alerts') {
      if (!(d.open_alerts > 0)) return false;
    } else if (st.state && d.state !== st.state) return false;
    if (!needle) return true;
    return `${d.serial}\u0000${d.model}\u0000${d.place}\u0000${d.customer}`.toLowerCase().includes(needle);
  }

  function sortValue(d) {
    switch (st.sort) {
      case 'last_seen': return parseTime(d.last_seen) || 0;
      case 'open_alerts': return d.open_alerts || 0;
      case 'firmware': return mainVersion(d);
      default: return String(d[st.sort] ?? '').toLowerCase();
    }
  }

  function renderCards() {
    const counts = { '': st.devices.length, alerts: 0 };
    for (const d of st.devices) {
      counts[d.state] = (counts[d.state] || 0) + 1;
      if (d.open_alerts > 0) counts.alerts += 1;
    }
    const extra = Object.keys(counts).filter((k) => k && k !== 'alerts' && !STATE_CARDS.some((c) => c.id === k))
      .map((k) => ({ id: k, label: k.charAt(0).toUpperCase() + k.slice(1).replace(/_/g, ' '), tone: 'muted' }));
    replace(cards, [...STATE_CARDS, ...extra].map((c) => h('button', {
      type: 'button',
      class: ['stat-card', `stat-${c.tone}`, st.state === c.id ? 'active' : ''],
      dataset: { filter: c.id || 'all' },
      'aria-pressed': st.state === c.id ? 'true' : 'false',
      onclick: () => {
        st.state = st.state === c.id ? '' : c.id;
        syncUrl();
        render();
      },
    }, h('span', { class: 'stat-value num' }, fmtNum(counts[c.id] || 0)), h('span', { class: 'stat-label' }, c.label))));
  }

  function renderHead() {
    replace(thead, h('tr', null, COLUMNS.map((c) => {
      if (c.nosort) return h('th', { class: c.num ? 'num' : '' }, c.label);
      const active = st.sort === c.key;
      return h('th', { class: [c.num ? 'num' : '', 'sortable', active ? 'sorted' : ''], 'aria-sort': active ? (st.dir > 0 ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button',
          class: 'th-sort',
          onclick: () => {
            if (st.sort === c.key) st.dir = -st.dir;
            else {
              st.sort = c.key;
              st.dir = c.key === 'last_seen' || c.key === 'open_alerts' ? -1 : 1;
            }
            syncUrl();
            render();
          },
        }, c.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (st.dir > 0 ? '▲' : '▼') : '')));
    })));
  }

  function row(d) {
    const href = `#/device/${enc(d.serial)}`;
    return h('tr', { dataset: { serial: d.serial }, class: d.state === 'error' ? 'row-bad' : '' },
      h('td', null, h('a', { href, class: 'mono strong', testid: 'device-link' }, d.serial)),
      h('td', null, d.model || '—'),
      h('td', { class: 'clip', title: d.place || '' }, d.place || h('span', { class: 'dim' }, 'not registered')),
      h('td', { class: 'clip', title: d.customer || '' }, d.customer || '—'),
      h('td', null, pill(d.state)),
      h('td', { class: 'nowrap' }, ago(d.last_seen)),
      h('td', { class: 'num' }, d.open_alerts > 0
        ? h('a', { href: `#/alerts?serial=${enc(d.serial)}`, class: 'count-badge bad' }, String(d.open_alerts))
        : h('span', { class: 'dim' }, '0')),
      h('td', null, miniGauges(st.supplies.get(d.serial))),
      h('td', { class: 'mono' }, mainVersion(d) || '—'));
  }

  function render() {
    keepFocus(root, draw);
  }

  function draw() {
    renderCards();
    renderHead();
    const needle = st.search.trim().toLowerCase();
    const rows = st.devices.filter((d) => matches(d, needle));
    rows.sort((a, b) => {
      const x = sortValue(a);
      const y = sortValue(b);
      return (x < y ? -1 : x > y ? 1 : 0) * st.dir || (a.serial < b.serial ? -1 : 1);
    });
    const frag = document.createDocumentFragment();
    for (const d of rows) frag.appendChild(row(d));
    replace(tbody, frag);
    const filtered = rows.length !== st.devices.length;
    replace(summary,
      h('span', null, filtered ? `${fmtNum(rows.length)} of ${fmtNum(st.devices.length)} devices` : `${fmtNum(rows.length)} devices`),
      filtered ? h('button', {
        type: 'button',
        class: 'link-btn',
        onclick: () => {
          st.state = '';
          st.search = '';
          search.value = '';
          syncUrl();
          render();
        },
      }, 'Clear filters') : null);
    if (rows.length === 0) {
      replace(tbody, h('tr', null, h('td', { colspan: COLUMNS.length },
        st.devices.length
          ? empty('No device matches', 'Try another search or clear the state filter.')
          : empty('No devices yet', 'Register a device (Registrations) and start its agent; it shows here once it enrols.'))));
    }
  }

  search.addEventListener('input', debounce(() => {
    st.search = search.value;
    syncUrl();
    render();
  }, 120));

  render();
  const soon = throttle(render, 1000);
  let reloading = false;
  const reload = async () => {
    if (reloading) return;
    reloading = true;
    try {
      await load();
      render();
    } catch (e) {
      if (e.status !== 401) console.warn('fleet refresh', e);
    } finally {
      reloading = false;
    }
  };
  const reloadSoon = throttle(reload, 5000);
  const timer = setInterval(reload, 30000); // offline comes from silence, not from an event

  return {
    onLive(ev) {
      const d = ev.data || {};
      if (ev.type === 'report' && d.report) {
        const dev = st.bySerial.get(d.serial || d.report.serial);
        if (!dev) {
          reloadSoon(); // a device that enrolled since the list was read
          return;
        }
        dev.last_seen = d.report.received_at || dev.last_seen;
        if (d.report.kind === 'supplies' && d.report.body && Array.isArray(d.report.body.supplies)) {
          st.supplies.set(dev.serial, d.report.body.supplies);
        }
        if (d.report.kind === 'boot' && d.report.body && d.report.body.firmware) dev.firmware = d.report.body.firmware;
        soon();
      } else if (ev.type === 'device' && d.serial) {
        const dev = st.bySerial.get(d.serial);
        if (!dev) {
          reloadSoon();
          return;
        }
        if (d.state) dev.state = d.state;
        if (d.last_seen) dev.last_seen = d.last_seen;
        soon();
      } else if (ev.type === 'alert' && d.alert) {
        const dev = st.bySerial.get(d.serial || d.alert.serial);
        if (dev && d.alert.open !== false) {
          dev.open_alerts = (dev.open_alerts || 0) + 1;
          reloadSoon(); // the state (error) comes with the list
          soon();
        } else if (dev && d.resolved && dev.open_alerts > 0) {
          dev.open_alerts -= 1;
          soon();
        }
      } else if (ev.type === 'monitoring') {
        reloadSoon();
      }
    },
    resync: reload,
    unmount() {
      clearInterval(timer);
    },
  };
}
