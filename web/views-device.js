// One device: identification and structure (units, serials, versions, the compatibility verdict
// with findings and recommended versions), supplies with gauges and forecasts, counters charted
// over time, open alerts, recent reports, settings and poll policy, firmware history, and the
// device's jobs with their transitions, plus the forms that create collect / configure /
// schedule / reboot jobs; for admins, revoking the device's credential.

import {
  ApiError, get, getOptional, post, q, enc,
} from './api.js';
import {
  h, replace, ago, pill, gauge, card, kv, empty, fmtNum, fmtTime, jsonText, supplyColor,
  parseTime, fromLocalInput, throttle, tableWrap, replaceKeepingFocus,
} from './dom.js';
import { lineChart } from './chart.js';
import { JobTable } from './views-jobs.js';
import { alertText } from './views-alerts.js';
import { revokeDevice } from './views-access.js';

const DATA_SETS = [
  ['counters', 'Counters'], ['supplies', 'Supplies and parts'], ['identification', 'Identification'],
  ['structure', 'Structure (units, versions)'], ['settings', 'Settings'], ['adjustment', 'Adjustment values'],
  ['calls', 'Service calls'], ['jams', 'Jams'], ['comm-history', 'Communication history'],
];

const CHART_VIEWS = {
  function: {
    label: 'By function',
    series: [['print', 'Print', '#2563eb'], ['copy', 'Copy', '#0d9488'], ['scan', 'Scan', '#9333ea'], ['fax', 'Fax', '#ea580c']],
  },
  colour: { label: 'Colour / mono', series: [['color', 'Colour', '#db2777'], ['mono', 'Mono', '#334155']] },
  total: { label: 'Total', series: [['total', 'Total', '#2563eb']] },
};

const COUNTER_ROWS = [
  ['total', 'Total'], ['print', 'Print'], ['copy', 'Copy'], ['scan', 'Scan'], ['fax', 'Fax'],
  ['color', 'Colour'], ['mono', 'Mono'], ['duplex', 'Duplex'], ['jams', 'Jams'], ['service_calls', 'Service calls'],
];

function latestBody(dev, kind) {
  const r = dev.latest && dev.latest[kind];
  return r && r.body ? r.body : null;
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export async function mountDevice(root, { args }, ctx) {
  const serial = args[0];
  const base = `/v1/devices/${enc(serial)}`;
  const st = {
    dev: null, monitoring: undefined, counters: [], reports: [], alerts: [], history: null,
    chartView: 'function', chartMode: 'absolute', valuesOpen: false, revocation: null,
  };

  async function loadMonitoring() {
    try {
      st.monitoring = await getOptional(`${base}/monitoring`);
    } catch (e) {
      st.monitoring = { error: e.human || e.message };
    }
  }

  const [dev, counters, reports, jobs, alerts] = await Promise.all([
    get(base),
    get(`/v1/reports${q({ serial, kind: 'counters', limit: 500 })}`),
    get(`/v1/reports${q({ serial, limit: 25 })}`),
    get(`/v1/jobs${q({ serial, all: 1 })}`),
    get(`/v1/alerts${q({ serial })}`),
    loadMonitoring(),
  ]);
  st.dev = dev;
  st.counters = (counters.reports || []).slice().reverse(); // oldest first
  st.reports = reports.reports || [];
  st.alerts = alerts.alerts || [];
  getOptional(`${base}/firmware-history${q({ limit: 20 })}`).then((j) => {
    st.history = j ? j.history || [] : null;
    renderHistory();
  }).catch(() => {
    st.history = null;
    renderHistory();
  });

  const d = () => st.dev.device || {};
  const reg = () => st.dev.registration || {};
  const jobTable = new JobTable(ctx, { device: true, emptyText: 'No jobs for this device yet.' });
  jobTable.set(jobs.jobs || []);

  // ---- sections (each re-rendered on its own) ----
  const head = h('div', { class: 'page-head device-head' });
  const revokedBox = h('div');
  const alertsBox = h('div');
  const identBox = h('div');
  const compatBox = h('div');
  const countersBox = h('div');
  const latestBox = h('div');
  const suppliesBox = h('div');
  const structureBox = h('div');
  const settingsBox = h('div');
  const reportsBox = h('div');
  const historyBox = h('div');
  const formBox = h('div', { class: 'form-panel-holder' });

  function renderHead() {
    const dv = d();
    const r = reg();
    replaceKeepingFocus(head,
      h('div', null,
        h('a', { href: '#/fleet', class: 'back' }, '← Fleet'),
        h('h1', null, h('span', { class: 'mono', testid: 'device-serial' }, serial), ' ', pill(st.dev.state || dv.state)),
        h('p', { class: 'sub' },
          [dv.model || r.model, r.place, r.customer].filter(Boolean).join(' · ') || 'Not registered',
          ' · last seen ', ago(dv.last_seen))),
      h('div', { class: 'page-actions' },
        h('a', { class: 'btn', href: `#/jobs?serial=${enc(serial)}&all=1` }, 'All jobs'),
        // Only an enrolled device has a credential to revoke (the relay answers 404 otherwise).
        ctx.can('admin') && dv.enrolled_at && dv.state !== 'revoked' ? h('button', {
          type: 'button', class: 'btn btn-danger-ghost', testid: 'device-revoke', onclick: revoke,
        }, 'Revoke credential') : null));
    renderRevoked();
  }

  async function revoke() {
    const r = await revokeDevice(ctx, serial);
    if (!r) return;
    st.revocation = r;
    try {
      st.dev = await get(base);
    } catch { /* the banner says what happened; the next event refreshes */ }
    renderHead();
    renderIdent();
    const heading = head.querySelector('h1');
    heading.setAttribute('tabindex', '-1');
    heading.focus(); // the button is gone
  }

  /** What a revocation did, from the relay's answer and the device's state since. */
  function renderRevoked() {
    const dv = d();
    const rv = st.revocation;
    if (!rv && dv.state !== 'revoked') {
      replaceKeepingFocus(revokedBox);
      return;
    }
    const again = rv && parseTime(dv.enrolled_at) > parseTime(rv.revoked_at);
    const when = rv ? [' ', ago(rv.revoked_at), rv.revoked_by ? ` by ${rv.revoked_by}` : ''] : [];
    let text;
    if (again) {
      text = [h('strong', null, 'Enrolled again.'), ' The credential revoked', when,
        ' stays refused; the device enrolled anew with its enrollment code ', ago(dv.enrolled_at), '.'];
    } else if (rv && rv.was_enrolled === false) {
      text = [h('strong', null, 'No working credential.'), ' It was revoked already; the device needs to enrol again with its enrollment code.'];
    } else {
      text = [h('strong', null, 'Credential revoked'), when, '. Every node refuses it; the device needs to enrol again with its enrollment code.'];
    }
    replaceKeepingFocus(revokedBox, h('div', { class: 'banner banner-warn', testid: 'device-revoked', dataset: { again: again ? 'yes' : 'no' } }, text));
  }

  function renderAlerts() {
    if (!st.alerts.length) {
      replaceKeepingFocus(alertsBox);
      return;
    }
    replaceKeepingFocus(alertsBox, h('div', { class: 'banner banner-bad', testid: 'device-alerts' },
      h('strong', null, `${st.alerts.length} open alert${st.alerts.length > 1 ? 's' : ''}`),
      h('ul', null, st.alerts.map((a) => {
        const t = alertText(a);
        return h('li', null, pill(a.urgency), ' ', h('span', { class: 'mono' }, a.code || a.type), ' — ', t.text,
          t.action ? h('span', { class: 'dim' }, ` · ${t.action}`) : null, ' ', ago(a.raised_at));
      })),
      h('a', { href: `#/alerts?serial=${enc(serial)}` }, 'Open in Alerts →')));
  }

  function renderIdent() {
    const dv = d();
    const r = reg();
    const ident = latestBody(st.dev, 'identification') || {};
    const fw = dv.firmware || ident.firmware || {};
    replaceKeepingFocus(identBox, card('Identification', kv([
      ['Serial', h('span', { class: 'mono' }, serial)],
      ['Model', dv.model || r.model || '—'],
      ['Vendor', ident.vendor],
      ['MAC', ident.mac ? h('span', { class: 'mono' }, ident.mac) : null],
      ['Place', r.place || h('span', { class: 'dim' }, 'not registered')],
      ['Customer', r.customer],
      ['Contact', r.contact],
      ['Firmware', Object.keys(fw).length ? h('span', { class: 'mono' }, Object.entries(fw).map(([k, v]) => `${k} ${v}`).join(' · ')) : null],
      // A revocation moves enrolled_at to its own time: no enrolment to show then.
      ['Enrolled', dv.enrolled_at && dv.state !== 'revoked' ? fmtTime(dv.enrolled_at) : null],
      ['Last seen', ago(dv.last_seen)],
      ['Reports stored', fmtNum(st.dev.reports_stored)],
    ]), { testid: 'card-identification' }));
  }

  function verdictOf() {
    const m = st.monitoring;
    return m && !m.error ? m.compatibility : null;
  }

  function renderCompat() {
    const m = st.monitoring;
    let body;
    if (m === null) body = empty('Not available', 'This relay does not judge compatibility yet (no /monitoring endpoint).');
    else if (m && m.error) body = h('p', { class: 'text-bad' }, m.error);
    else if (!m || !m.compatibility) body = empty('Not judged yet', 'The verdict comes with the next structure report (collect "structure").');
    else {
      const v = m.compatibility;
      const bad = (v.findings || []).filter((f) => f.incompatible);
      const updates = Object.entries(v.updates || {});
      body = h('div', { testid: 'compat' },
        h('div', { class: 'verdict' }, pill(v.verdict, v.verdict === 'no_rules' ? 'no rules for this model' : v.verdict),
          m.judged_at ? h('span', { class: 'dim small' }, ' judged ', ago(m.judged_at)) : null),
        v.summary ? h('p', null, v.summary) : null,
        bad.length ? h('ul', { class: 'findings' }, bad.map((f) => h('li', null,
          h('span', { class: 'mono strong' }, f.unit), ' ', f.found_version ? h('span', { class: 'mono' }, f.found_version) : null,
          f.why ? ` — ${f.why}` : '', f.recommended ? h('span', { class: 'rec' }, ' → recommended ', h('span', { class: 'mono' }, f.recommended)) : null))) : null,
        updates.length ? h('p', { class: 'small' }, 'Updates to reach a compatible set: ',
          h('span', { class: 'mono' }, updates.map(([u, ver]) => `${u} ${ver}`).join(', ')),
          v.auto_update ? h('span', { class: 'pill pill-info' }, 'automatic update') : null) : null,
        (m.troubles || []).length ? [h('h3', null, 'Trouble findings'), h('ul', { class: 'findings' }, m.troubles.map((t) => h('li', null,
          t.kind ? h('span', { class: 'strong' }, `${String(t.kind).replace(/_/g, ' ')}: `) : null, t.text || t.message || t.why || jsonText(t))))] : null);
    }
    replaceKeepingFocus(compatBox, card('Compatibility', body, { testid: 'card-compat' }));
  }

  function chartSeries() {
    const view = CHART_VIEWS[st.chartView];
    const pts = st.counters.map((r) => ({ t: parseTime(r.created_at) || parseTime(r.received_at), b: r.body || {} }))
      .filter((p) => p.t !== null).sort((a, b) => a.t - b.t);
    return view.series.map(([key, label, color]) => {
      let points = pts.filter((p) => num(p.b[key]) !== null).map((p) => ({ t: p.t, v: p.b[key] }));
      if (st.chartMode === 'growth' && points.length) {
        const first = points[0].v;
        points = points.map((p) => ({ t: p.t, v: p.v - first }));
      }
      return { key, label, color, points };
    });
  }

  function renderCounters() {
    const latest = st.counters.length ? st.counters[st.counters.length - 1] : null;
    const seg = (opts, current, set) => h('div', { class: 'segmented', role: 'group' }, opts.map(([k, label]) => h('button', {
      type: 'button', class: current === k ? 'active' : '', 'aria-pressed': current === k ? 'true' : 'false', dataset: { opt: k },
      onclick: () => {
        set(k);
        renderCounters();
      },
    }, label)));
    const actions = [
      seg(Object.entries(CHART_VIEWS).map(([k, v]) => [k, v.label]), st.chartView, (k) => { st.chartView = k; }),
      seg([['absolute', 'Meter'], ['growth', 'Pages in range']], st.chartMode, (k) => { st.chartMode = k; }),
    ];
    let body;
    if (!st.counters.length) {
      body = empty('No meter readings yet', 'Counters arrive with the periodic report, at power-on, or with a collect job.');
    } else {
      body = h('div', { class: 'chart-holder', testid: 'counters-chart' }, lineChart(chartSeries(), {
        title: `Counters of ${serial}`, valuesOpen: st.valuesOpen, onValuesToggle: (open) => { st.valuesOpen = open; },
      }),
        h('p', { class: 'dim small' }, `${st.counters.length} readings, ${fmtTime(st.counters[0].created_at)} – ${fmtTime(latest.created_at)}`));
    }
    replaceKeepingFocus(countersBox, card('Counters over time', body, { actions, testid: 'card-counters' }));
    renderLatest();
  }

  /** The newest meter reading: near the top of the page, where a technician looks first. */
  function renderLatest() {
    const latest = st.counters.length ? st.counters[st.counters.length - 1] : null;
    const b = latest ? latest.body || {} : {};
    const body = !latest ? empty('No meter readings yet', 'Ask for one with a collect job (Counters).')
      : h('table', { class: 'table table-compact counters-latest', testid: 'counters-latest' },
        h('caption', { class: 'sr-only' }, 'Last counters'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Counter'), h('th', { scope: 'col', class: 'num' }, 'Pages'))),
        h('tbody', null, COUNTER_ROWS.filter(([k]) => num(b[k]) !== null).map(([k, label]) => h('tr', null,
          h('td', null, label), h('td', { class: 'num', testid: `counter-${k}`, dataset: { value: String(b[k]) } }, fmtNum(b[k]))))));
    replaceKeepingFocus(latestBox, card('Last counters', [body, latest ? h('p', { class: 'dim small' }, 'Read ', ago(latest.created_at)) : null],
      { testid: 'card-latest' }));
  }

  function forecastFor(name) {
    const m = st.monitoring;
    const list = m && !m.error && Array.isArray(m.forecasts) ? m.forecasts : [];
    return list.find((f) => f.supply === name);
  }

  function forecastNote(f) {
    if (!f) return null;
    if (num(f.days_until_empty) !== null) {
      const days = f.days_until_empty;
      const text = days < 1 ? 'empty within a day' : `about ${Math.round(days)} day${Math.round(days) === 1 ? '' : 's'} until empty`;
      return h('span', { class: f.low ? 'text-warn' : '', title: [f.reason, f.confidence ? `confidence ${f.confidence}` : '', f.empty_at ? `empty at ${fmtTime(f.empty_at)}` : ''].filter(Boolean).join(' · ') },
        text, f.empty_at ? ` (${fmtTime(f.empty_at).split(',')[0]})` : '');
    }
    return h('span', { class: 'dim', title: f.reason || '' }, 'No forecast yet', f.confidence ? ` (${String(f.confidence).replace(/_/g, ' ')})` : '');
  }

  function renderSupplies() {
    const body = latestBody(st.dev, 'supplies');
    const supplies = body && Array.isArray(body.supplies) ? body.supplies : [];
    const parts = body && Array.isArray(body.parts) ? body.parts : [];
    const r = st.dev.latest && st.dev.latest.supplies;
    const content = !supplies.length && !parts.length
      ? empty('No supplies report yet', 'Ask for one with a collect job (Supplies and parts).')
      : h('div', { class: 'supplies-grid' },
        h('div', null, h('h3', null, 'Toner'), supplies.map((s) => gauge(s.name, s.level_pct, {
          state: s.state, color: supplyColor(s.name), note: forecastNote(forecastFor(s.name)) || (s.state !== 'ok' ? String(s.state) : null), testid: `supply-${s.name}`,
        }))),
        parts.length ? h('div', null, h('h3', null, 'Parts (wear)'), parts.map((p) => gauge(p.name, p.wear_pct, {
          state: p.state === 'ok' ? 'ok' : p.state === 'near_end' ? 'low' : 'empty',
          color: p.state === 'ok' ? '#64748b' : '',
          note: `${fmtNum(p.count)} of ${fmtNum(p.life)} pages${p.state !== 'ok' ? ` · ${String(p.state).replace(/_/g, ' ')}` : ''}`,
        }))) : null);
    replaceKeepingFocus(suppliesBox, card('Supplies', [content, r ? h('p', { class: 'dim small' }, 'Reported ', ago(r.created_at)) : null], { testid: 'card-supplies' }));
  }

  function renderStructure() {
    const body = latestBody(st.dev, 'structure');
    const units = body && Array.isArray(body.units) ? body.units : [];
    const v = verdictOf();
    const findings = new Map(((v && v.findings) || []).map((f) => [f.unit, f]));
    const updates = (v && v.updates) || {};
    const content = !units.length
      ? empty('No structure report yet', 'Collect "Structure" to see the units, their serials and software versions.')
      : tableWrap(h('table', { class: 'table table-compact', testid: 'units-table' },
        h('thead', null, h('tr', null, ['Unit', 'Name', 'Serial', 'Version', 'Vendor ID', 'Verdict', 'Recommended'].map((c) => h('th', null, c)))),
        h('tbody', null, units.map((u) => {
          const f = findings.get(u.id);
          const rec = (f && f.recommended) || updates[u.id];
          return h('tr', { class: f && f.incompatible ? 'row-bad' : '', dataset: { unit: u.id } },
            h('td', { class: 'mono strong' }, u.id),
            h('td', null, u.name || '—'),
            h('td', { class: 'mono' }, u.serial || '—'),
            h('td', { class: 'mono' }, u.software_version || '—'),
            h('td', { class: 'mono dim' }, u.vendor_id || '—'),
            h('td', null, f ? [pill(f.incompatible ? 'incompatible' : 'compatible', f.incompatible ? 'incompatible' : 'ok'), f.why ? h('div', { class: 'small dim' }, f.why) : null] : h('span', { class: 'dim' }, v ? 'no rule' : '—')),
            h('td', { class: 'mono', testid: 'recommended' }, rec || '—'));
        }))), 'Units');
    const r = st.dev.latest && st.dev.latest.structure;
    replaceKeepingFocus(structureBox, card('Structure', [content, r ? h('p', { class: 'dim small' }, 'Reported ', ago(r.created_at)) : null], { testid: 'card-structure' }));
  }

  function renderSettings() {
    const s = latestBody(st.dev, 'settings');
    const p = st.dev.poll_policy;
    const r = st.dev.latest && st.dev.latest.settings;
    replaceKeepingFocus(settingsBox, card('Settings', [
      s ? kv(Object.entries(s).map(([k, v]) => [k, h('span', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v))]))
        : empty('No settings report yet', 'Collect "Settings" to read them.'),
      r ? h('p', { class: 'dim small' }, 'Reported ', ago(r.created_at)) : null,
      h('h3', null, 'Poll policy'),
      p ? kv([
        ['Interval', `${fmtNum(p.interval_s)} s`],
        ['Times of day', (p.times_of_day || []).join(', ') || '—'],
        ['At power-on', p.on_power_on ? 'yes' : 'no'],
        ['Conditions', (p.conditions || []).length ? p.conditions.map((c) => (c.kind === 'counter_at_least' ? `${c.counter} ≥ ${c.value}` : `error ${c.code}`)).join('; ') : '—'],
      ]) : h('p', { class: 'dim' }, 'Default'),
    ], { testid: 'card-settings' }));
  }

  function reportSummary(r) {
    const b = r.body || {};
    switch (r.kind) {
      case 'counters': return `total ${fmtNum(b.total)}`;
      case 'supplies': return (b.supplies || []).map((s) => `${s.name.replace('toner-', '')} ${s.level_pct}%`).join(', ');
      case 'alert': return `${b.code || ''} ${b.message || ''}`.trim();
      case 'boot': return `${b.reason || 'boot'}${b.firmware ? ` · main ${b.firmware.main || ''}` : ''}`;
      case 'structure': return `${(b.units || []).length} units`;
      case 'settings': return Object.entries(b).slice(0, 4).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
      case 'identification': return [b.vendor, b.mac].filter(Boolean).join(' · ');
      case 'jams': return `${fmtNum(b.total)} jams`;
      case 'calls': return `${(b.service_calls || []).length} service calls`;
      case 'adjustment': return `${Object.keys(b).length} values`;
      case 'comm-history': return `${(b.entries || []).length} entries`;
      case 'message': return b.text || '';
      case 'order': return `${b.item || ''} × ${b.quantity ?? ''}`;
      default: return '';
    }
  }

  function renderReports() {
    const list = st.reports.slice(0, 25);
    replaceKeepingFocus(reportsBox, card('Recent reports', !list.length ? empty('No reports yet') : tableWrap(
      h('table', { class: 'table table-compact', testid: 'reports-table' },
        h('thead', null, h('tr', null, ['Received', 'Kind', 'Urgency', 'Summary', 'Job', ''].map((c) => h('th', null, c)))),
        h('tbody', null, list.map((r) => {
          const body = h('pre', { class: 'code', hidden: true }, jsonText(r.body));
          return [h('tr', { dataset: { report: r.id } },
            h('td', { class: 'nowrap' }, ago(r.received_at || r.created_at)),
            h('td', null, h('span', { class: 'kind' }, r.kind)),
            h('td', null, r.urgency && r.urgency !== 'normal' ? pill(r.urgency) : h('span', { class: 'dim' }, 'normal')),
            h('td', { class: 'clip', title: reportSummary(r) }, reportSummary(r)),
            h('td', { class: 'mono small dim' }, r.job_id || ''),
            h('td', null, h('button', {
              type: 'button', class: 'link-btn',
              onclick: (ev) => {
                body.hidden = !body.hidden;
                ev.target.textContent = body.hidden ? 'Body' : 'Hide';
              },
            }, 'Body'))),
          h('tr', { class: 'detail-row' }, h('td', { colspan: 6, class: 'detail-cell' }, body))];
        }))), 'Recent reports'), { testid: 'card-reports' }));
  }

  function renderHistory() {
    if (st.history === null) {
      replaceKeepingFocus(historyBox);
      return;
    }
    replaceKeepingFocus(historyBox, card('Firmware history', !st.history.length ? empty('No firmware events', 'Checks, downloads and installs show here.') : tableWrap(
      h('table', { class: 'table table-compact' },
        h('thead', null, h('tr', null, ['When', 'Event', 'Component', 'Version', 'Job', 'Detail'].map((c) => h('th', null, c)))),
        h('tbody', null, st.history.map((e) => h('tr', null,
          h('td', { class: 'nowrap' }, fmtTime(e.at)),
          h('td', null, pill(e.event, null, e.event === 'installed' ? 'ok' : e.event === 'failed' ? 'bad' : 'muted')),
          h('td', { class: 'mono' }, e.component || '—'),
          h('td', { class: 'mono' }, e.version || '—'),
          h('td', { class: 'mono small dim' }, e.job_id || ''),
          h('td', { class: 'small clip' }, e.detail ? (typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)) : ''))))), 'Firmware history'), { testid: 'card-firmware-history' }));
  }

  // ---- job forms ----

  function timesFields() {
    const exec = h('input', { type: 'datetime-local', step: '1', name: 'execute_at', testid: 'job-execute-at' });
    const exp = h('input', { type: 'datetime-local', step: '1', name: 'expires_at' });
    return {
      el: h('div', { class: 'form-row' },
        h('label', { class: 'field' }, h('span', null, 'Execution time (optional, local time)'), exec, h('small', null, 'Empty: as soon as the device takes it.')),
        h('label', { class: 'field' }, h('span', null, 'Expires (optional, local time)'), exp)),
      values() {
        const o = {};
        const e = fromLocalInput(exec.value);
        const x = fromLocalInput(exp.value);
        if (e) o.execute_at = e;
        if (x) o.expires_at = x;
        return o;
      },
    };
  }

  function formPanel(title, fields, submitLabel, build, testid) {
    // Closing the form (done, Cancel, ×) gives the focus back to the button that opened it.
    const opener = document.activeElement;
    const close = () => {
      replace(formBox);
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    };
    const err = h('div', { class: 'form-error', role: 'alert' });
    const btn = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'job-submit' }, submitLabel);
    const form = h('form', {
      class: 'form-panel', testid,
      async onsubmit(ev) {
        ev.preventDefault();
        err.textContent = '';
        let body;
        try {
          body = build();
        } catch (e) {
          err.textContent = e.message;
          return;
        }
        btn.disabled = true;
        try {
          const job = await post('/v1/jobs', { serial, ...body });
          jobTable.upsert(job);
          ctx.toast(`Job ${job.id} created (${job.kind}).`, 'ok');
          close();
        } catch (e) {
          err.textContent = e instanceof ApiError ? e.human : String(e.message || e);
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('div', { class: 'form-panel-head' }, h('h3', null, title),
      h('button', { type: 'button', class: 'btn-icon', 'aria-label': 'Close', onclick: close }, '×')),
    fields, err,
    h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn', onclick: close }, 'Cancel'), btn));
    form.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') close();
    });
    replace(formBox, form);
    const first = form.querySelector('input, select, textarea');
    if (first) first.focus();
  }

  function collectForm() {
    const boxes = DATA_SETS.map(([k, label]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'data_set', value: k, checked: k === 'counters' || k === 'supplies', dataset: { set: k } }), ' ', label));
    const times = timesFields();
    formPanel('Collect data', [h('fieldset', { class: 'checks' }, h('legend', null, 'Data sets'), boxes), times.el], 'Create collect job', () => {
      const sets = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      if (!sets.length) throw new Error('Choose at least one data set.');
      return { kind: 'collect', params: { data_sets: sets }, ...times.values() };
    }, 'form-collect');
  }

  function configureForm() {
    const current = latestBody(st.dev, 'settings') || {};
    const inputs = Object.entries(current).map(([k, v]) => {
      let input;
      if (typeof v === 'boolean') {
        input = h('select', { name: k }, h('option', { value: 'true', selected: v }, 'true'), h('option', { value: 'false', selected: !v }, 'false'));
      } else if (typeof v === 'number') {
        input = h('input', { type: 'number', name: k, value: String(v), step: 'any' });
      } else {
        input = h('input', { type: 'text', name: k, value: typeof v === 'string' ? v : JSON.stringify(v) });
      }
      return { k, v, input, el: h('label', { class: 'field' }, h('span', { class: 'mono' }, k), input) };
    });
    const extraName = h('input', { type: 'text', placeholder: 'setting name', class: 'mono' });
    const extraValue = h('input', { type: 'text', placeholder: 'value (JSON: 30, true, "A4")', class: 'mono' });
    const times = timesFields();
    formPanel('Change settings', [
      inputs.length ? h('div', { class: 'form-grid' }, inputs.map((i) => i.el))
        : h('p', { class: 'dim' }, 'No settings report yet: collect "Settings" first, or name a setting below.'),
      h('div', { class: 'form-row' }, h('label', { class: 'field' }, h('span', null, 'Other setting'), extraName),
        h('label', { class: 'field' }, h('span', null, 'Value'), extraValue)),
      h('p', { class: 'hint' }, 'Only changed values are sent. The device checks them against its own schema; a value it refuses fails the job with the reason.'),
      times.el,
    ], 'Create configure job', () => {
      const settings = {};
      for (const i of inputs) {
        let val;
        if (typeof i.v === 'boolean') val = i.input.value === 'true';
        else if (typeof i.v === 'number') {
          val = Number(i.input.value);
          if (!Number.isFinite(val)) throw new Error(`${i.k} must be a number.`);
        } else if (typeof i.v === 'string') val = i.input.value;
        else {
          try {
            val = JSON.parse(i.input.value);
          } catch {
            throw new Error(`${i.k} must be JSON.`);
          }
        }
        if (JSON.stringify(val) !== JSON.stringify(i.v)) settings[i.k] = val;
      }
      if (extraName.value.trim()) {
        let val = extraValue.value.trim();
        try {
          val = JSON.parse(val);
        } catch { /* a plain string */ }
        settings[extraName.value.trim()] = val;
      }
      if (!Object.keys(settings).length) throw new Error('Nothing changed.');
      return { kind: 'configure', params: { settings }, ...times.values() };
    }, 'form-configure');
  }

  function scheduleForm() {
    const p = st.dev.poll_policy || {};
    const interval = h('input', { type: 'number', min: '5', max: '604800', step: '1', value: String(p.interval_s || 900), required: true });
    const times = h('input', { type: 'text', value: (p.times_of_day || []).join(', '), placeholder: '08:00, 17:30', class: 'mono' });
    const power = h('input', { type: 'checkbox', checked: p.on_power_on !== false });
    const conds = h('textarea', { rows: '3', class: 'mono', spellcheck: 'false' }, jsonText(p.conditions || []));
    const t = timesFields();
    formPanel('Change poll schedule', [
      h('div', { class: 'form-row' },
        h('label', { class: 'field' }, h('span', null, 'Interval (seconds, 5 – 604800)'), interval),
        h('label', { class: 'field' }, h('span', null, 'Also at times of day (HH:MM, comma-separated)'), times)),
      h('label', { class: 'check' }, power, ' Report at power-on'),
      h('label', { class: 'field' }, h('span', null, 'Conditions (JSON: [{"kind":"counter_at_least","counter":"total","value":50000}, {"kind":"error_code","code":"SC542"}])'), conds),
      t.el,
    ], 'Create schedule job', () => {
      const iv = Number(interval.value);
      if (!Number.isInteger(iv) || iv < 5 || iv > 604800) throw new Error('The interval must be a whole number of seconds, 5 – 604800.');
      const tod = times.value.split(',').map((x) => x.trim()).filter(Boolean);
      for (const x of tod) if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(x)) throw new Error(`"${x}" is not a time of day (HH:MM).`);
      let c;
      try {
        c = JSON.parse(conds.value || '[]');
      } catch (e) {
        throw new Error(`Conditions: ${e.message}`);
      }
      if (!Array.isArray(c)) throw new Error('Conditions must be a JSON array.');
      return { kind: 'schedule', params: { poll_policy: { interval_s: iv, times_of_day: tod, on_power_on: power.checked, conditions: c } }, ...t.values() };
    }, 'form-schedule');
  }

  async function reboot() {
    if (!(await ctx.confirm(`Reboot ${serial}? Whoever is at the device loses what they are doing.`, { ok: 'Reboot', danger: true }))) return;
    try {
      const job = await post('/v1/jobs', { serial, kind: 'reboot', params: {} });
      jobTable.upsert(job);
      ctx.toast(`Reboot job ${job.id} created.`, 'ok');
    } catch (e) {
      ctx.fail(e, 'Reboot');
    }
  }

  const jobActions = ctx.can('operator') ? [
    h('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'new-collect', onclick: collectForm }, 'Collect data'),
    h('button', { type: 'button', class: 'btn btn-sm', testid: 'new-configure', onclick: configureForm }, 'Change settings'),
    h('button', { type: 'button', class: 'btn btn-sm', testid: 'new-schedule', onclick: scheduleForm }, 'Change schedule'),
    h('button', { type: 'button', class: 'btn btn-sm', testid: 'new-reboot', onclick: reboot }, 'Reboot'),
  ] : h('span', { class: 'dim small', title: 'Creating jobs needs the operator role' }, 'Read-only (viewer)');

  function renderAll() {
    renderHead();
    renderAlerts();
    renderIdent();
    renderCompat();
    renderCounters();
    renderSupplies();
    renderStructure();
    renderSettings();
    renderReports();
    renderHistory();
  }
  renderAll();

  // On a phone the page is one column in this order: what a technician at the device needs first
  // (state, alerts, supplies, the last counters), then the history and the details.
  replace(root,
    head,
    revokedBox,
    alertsBox,
    h('div', { class: 'grid grid-2' }, suppliesBox, latestBox),
    countersBox,
    h('div', { class: 'grid grid-2' }, identBox, settingsBox),
    compatBox,
    structureBox,
    card('Jobs', [formBox, jobTable.el], { actions: jobActions, testid: 'card-jobs', cls: 'card-jobs' }),
    reportsBox,
    historyBox);

  const redrawCounters = throttle(renderCounters, 500);
  const refreshDevice = throttle(async () => {
    try {
      const fresh = await get(base);
      st.dev = fresh;
      renderHead();
      renderIdent();
      renderSupplies();
      renderStructure();
      renderSettings();
    } catch { /* next event tries again */ }
  }, 2000);

  async function resync() {
    try {
      const [fresh, c, r, j, a] = await Promise.all([
        get(base), get(`/v1/reports${q({ serial, kind: 'counters', limit: 500 })}`), get(`/v1/reports${q({ serial, limit: 25 })}`),
        get(`/v1/jobs${q({ serial, all: 1 })}`), get(`/v1/alerts${q({ serial })}`), loadMonitoring(),
      ]);
      st.dev = fresh;
      st.counters = (c.reports || []).slice().reverse();
      st.reports = r.reports || [];
      st.alerts = a.alerts || [];
      jobTable.set(j.jobs || []);
      renderAll();
    } catch { /* stays as it was */ }
  }

  return {
    onLive(ev) {
      const data = ev.data || {};
      if (ev.type === 'report' && data.report && (data.serial || data.report.serial) === serial) {
        const r = data.report;
        st.reports.unshift(r);
        if (st.reports.length > 25) st.reports.length = 25;
        renderReports();
        st.dev.device = { ...d(), last_seen: r.received_at || d().last_seen };
        st.dev.latest = { ...(st.dev.latest || {}), [r.kind]: r };
        if (r.kind === 'counters') {
          st.counters.push(r);
          redrawCounters();
        }
        renderHead();
        if (r.kind === 'supplies') renderSupplies();
        if (r.kind === 'structure') {
          renderStructure();
          loadMonitoring().then(() => {
            renderCompat();
            renderStructure();
            renderSupplies();
          });
        }
        if (r.kind === 'settings' || r.kind === 'identification') {
          renderSettings();
          renderIdent();
        }
        if (r.kind === 'boot') refreshDevice();
      } else if (ev.type === 'job' && data.job && data.job.serial === serial) {
        jobTable.upsert(data.job, data.transition);
        if (data.job.kind === 'schedule' && data.job.state === 'succeeded') refreshDevice();
      } else if (ev.type === 'alert' && data.alert && (data.serial || data.alert.serial) === serial) {
        if (!st.alerts.some((a) => a.id === data.alert.id)) st.alerts.unshift(data.alert);
        renderAlerts();
        refreshDevice();
      } else if (ev.type === 'device' && data.serial === serial) {
        refreshDevice(); // enrolled, revoked, or a new state
      } else if (ev.type === 'monitoring' && data.serial === serial) {
        loadMonitoring().then(() => {
          renderCompat();
          renderStructure();
          renderSupplies();
        });
      }
    },
    resync,
  };
}
