// Firmware: signed artifacts, campaigns with progress, and one campaign's per-device result
// table (seed 004 Fig. 46) with resume / cancel.

import { get, post, enc } from './api.js';
import {
  h, replace, ago, pill, empty, card, kv, fmtNum, fmtTime, throttle, tableWrap, keepFocus,
} from './dom.js';

const OUTCOMES = [
  ['completed', 'updating completed', 'ok'],
  ['waiting_for_re_update', 'waiting for re-updating', 'warn'],
  ['error', 'error', 'bad'],
  ['pending', 'pending', 'muted'],
];

function fmtBytes(n) {
  const x = Number(n);
  if (!Number.isFinite(x)) return '—';
  if (x >= 1 << 30) return `${(x / (1 << 30)).toFixed(1)} GiB`;
  if (x >= 1 << 20) return `${(x / (1 << 20)).toFixed(1)} MiB`;
  if (x >= 1 << 10) return `${(x / (1 << 10)).toFixed(1)} KiB`;
  return `${x} B`;
}

/** A stacked bar: completed / waiting / error / pending. */
export function progressBar(tally, { big = false } = {}) {
  const t = tally || {};
  const total = t.total || 0;
  const done = (t.completed || 0) + (t.error || 0) + (t.waiting_for_re_update || 0);
  return h('div', { class: ['progress', big ? 'progress-big' : ''], title: OUTCOMES.map(([k, label]) => `${label}: ${t[k] || 0}`).join(' · ') },
    h('div', { class: 'progress-track' }, OUTCOMES.filter(([k]) => k !== 'pending').map(([k, , tone]) => (t[k] && total
      ? h('div', { class: `progress-seg seg-${tone}`, style: { width: `${(100 * t[k]) / total}%` } })
      : null))),
    h('span', { class: 'progress-text num' }, `${fmtNum(done)} / ${fmtNum(total)}`));
}

function componentsText(components) {
  return (components || []).map((c) => `${c.component} ${c.version}`).join(', ') || '—';
}

export async function mountFirmware(root, _params, ctx) {
  const [arts, camps] = await Promise.all([get('/v1/artifacts'), get('/v1/campaigns')]);
  const artifacts = arts.artifacts || [];
  let campaigns = camps.campaigns || [];
  const campBox = h('div');

  function renderCampaigns() {
    keepFocus(campBox, drawCampaigns);
  }

  function drawCampaigns() {
    const sorted = campaigns.slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    replace(campBox, card('Campaigns', !sorted.length
      ? empty('No campaigns', 'Plan one with relayctl campaigns plan / create; it shows here with its progress.')
      : tableWrap(h('table', { class: 'table', testid: 'campaigns-table' },
        h('thead', null, h('tr', null, ['Campaign', 'State', 'Model', 'Components', 'Progress', 'Errors', 'Waves', 'Created'].map((c) => h('th', null, c)))),
        h('tbody', null, sorted.map((c) => {
          const started = (c.waves || []).filter((w) => w.started_at).length;
          return h('tr', { dataset: { campaign: c.id } },
            h('td', null, h('a', { href: `#/campaign/${enc(c.id)}`, class: 'strong', testid: 'campaign-link' }, c.name || c.id), h('div', { class: 'mono small dim' }, c.id)),
            h('td', null, pill(c.state)),
            h('td', null, c.model || '—'),
            h('td', { class: 'mono small' }, componentsText(c.components)),
            h('td', { class: 'cell-progress' }, progressBar(c.tally)),
            h('td', { class: 'num' }, (c.tally && c.tally.error) ? h('span', { class: 'text-bad strong' }, fmtNum(c.tally.error)) : h('span', { class: 'dim' }, '0')),
            h('td', { class: 'num' }, `${started} / ${(c.waves || []).length}`),
            h('td', { class: 'nowrap' }, ago(c.created_at)));
        }))), 'Campaigns'), { testid: 'card-campaigns' }));
  }

  const artTable = !artifacts.length
    ? empty('No artifacts', 'Upload signed images with relayctl artifact push.')
    : tableWrap(h('table', { class: 'table table-compact', testid: 'artifacts-table' },
      h('thead', null, h('tr', null, ['Kind', 'Model', 'Component', 'Version', 'Size', 'SHA-256', 'Signed', 'Key'].map((c) => h('th', null, c)))),
      h('tbody', null, artifacts.map((a) => {
        const m = a.manifest || a;
        return h('tr', null,
          h('td', null, h('span', { class: 'kind' }, m.kind || '—')),
          h('td', null, m.model || '—'),
          h('td', { class: 'mono' }, m.component || '—'),
          h('td', { class: 'mono strong' }, m.version || '—'),
          h('td', { class: 'num' }, fmtBytes(m.size)),
          h('td', { class: 'mono small', title: m.sha256 || '' }, m.sha256 ? `${m.sha256.slice(0, 12)}…` : '—'),
          h('td', { class: 'nowrap' }, m.signed_at ? fmtTime(m.signed_at) : '—'),
          h('td', { class: 'mono small dim' }, m.key_id || '—'));
      }))), 'Artifacts');

  renderCampaigns();
  replace(root,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Firmware'),
      h('p', { class: 'sub' }, 'Signed images on this relay and the campaigns that roll them out in waves.'))),
    campBox,
    card('Artifacts', artTable, { testid: 'card-artifacts' }));

  const reload = throttle(async () => {
    try {
      campaigns = (await get('/v1/campaigns')).campaigns || [];
      renderCampaigns();
    } catch { /* keep */ }
  }, 2000);
  return {
    onLive(ev) {
      if (ev.type === 'job' && ev.data && ev.data.job && ev.data.job.kind === 'firmware') reload();
    },
    resync: reload,
  };
}

export async function mountCampaign(root, { args }, ctx) {
  const id = args[0];
  let c = (await get(`/v1/campaigns/${enc(id)}`)).campaign;

  async function act(what) {
    const verb = what === 'cancel' ? 'Cancel' : 'Resume';
    const msg = what === 'cancel'
      ? `Cancel campaign "${c.name}"? No further wave starts; jobs not yet started on their devices are cancelled.`
      : `Resume campaign "${c.name}"? The failure threshold counts errors from now on.`;
    if (!(await ctx.confirm(msg, { ok: `${verb} campaign`, danger: what === 'cancel' }))) return;
    try {
      const r = await post(`/v1/campaigns/${enc(id)}/${what}`);
      c = (r && r.campaign) || (await get(`/v1/campaigns/${enc(id)}`)).campaign;
      ctx.toast(`Campaign ${what === 'cancel' ? 'cancelled' : 'resumed'}.`, 'ok');
      render();
    } catch (e) {
      ctx.fail(e, verb);
    }
  }

  function render() {
    keepFocus(root, draw);
  }

  function draw() {
    const t = c.tally || {};
    const actions = [];
    if (ctx.can('operator')) {
      if (c.state === 'paused') actions.push(h('button', { type: 'button', class: 'btn btn-primary', testid: 'campaign-resume', onclick: () => act('resume') }, 'Resume'));
      if (c.state === 'running' || c.state === 'paused') actions.push(h('button', { type: 'button', class: 'btn btn-danger', testid: 'campaign-cancel', onclick: () => act('cancel') }, 'Cancel campaign'));
    }
    const devices = c.devices || [];
    const excluded = c.excluded || [];
    replace(root,
      h('div', { class: 'page-head' },
        h('div', null,
          h('a', { href: '#/firmware', class: 'back' }, '← Firmware'),
          h('h1', null, c.name || c.id, ' ', pill(c.state)),
          h('p', { class: 'sub' }, [c.model, componentsText(c.components), c.created_by ? `created by ${c.created_by}` : null].filter(Boolean).join(' · '), ' · ', ago(c.created_at))),
        h('div', { class: 'page-actions' }, actions)),
      c.state === 'paused' && c.paused_reason ? h('div', { class: 'banner banner-warn', testid: 'campaign-paused' }, h('strong', null, 'Paused: '), c.paused_reason) : null,
      h('div', { class: 'grid grid-2' },
        card('Progress', [
          progressBar(t, { big: true }),
          h('div', { class: 'legend-row' }, OUTCOMES.map(([k, label, tone]) => h('span', { class: 'legend-item' },
            h('span', { class: `legend-swatch seg-${tone}` }), label, ' ', h('b', { class: 'num', testid: `tally-${k}` }, fmtNum(t[k] || 0))))),
          kv([
            ['Failure threshold', c.failure_threshold ? `${c.failure_threshold} (pauses at ${fmtNum(c.threshold_devices)} device${c.threshold_devices === 1 ? '' : 's'} in error)` : null],
            ['Transmit at', c.transmit_at ? fmtTime(c.transmit_at) : 'at once'],
            ['Update at', c.update_at ? fmtTime(c.update_at) : 'when downloaded'],
            ['Expires', c.expires_at ? fmtTime(c.expires_at) : null],
          ]),
        ], { testid: 'card-progress' }),
        card('Waves', h('ol', { class: 'waves' }, (c.waves || []).map((w) => h('li', { class: w.started_at ? 'started' : '' },
          h('span', { class: 'strong' }, `Wave ${w.number}`), ` · ${fmtNum(w.devices)} device${w.devices === 1 ? '' : 's'} · `,
          w.started_at ? ['started ', ago(w.started_at)] : h('span', { class: 'dim' }, 'not started'))))),
      ),
      card('Result by device', !devices.length ? empty('No devices') : tableWrap(h('table', { class: 'table', testid: 'campaign-results' },
        h('thead', null, h('tr', null, ['Serial', 'Place', 'Wave', 'Object', 'Status', 'Update at', 'Expected end', 'Result', 'Reason'].map((x) => h('th', null, x)))),
        h('tbody', null, devices.map((d) => h('tr', { dataset: { serial: d.serial, outcome: d.outcome || '' } },
          h('td', null, h('a', { href: `#/device/${enc(d.serial)}`, class: 'mono strong' }, d.serial)),
          h('td', { class: 'clip', title: d.place || '' }, d.place || '—'),
          h('td', { class: 'num' }, String(d.wave ?? '—')),
          h('td', { class: 'mono small' }, Object.entries(d.cells || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'),
          h('td', { title: d.job_id ? `job ${d.job_id}` : '' }, d.status || '—'),
          h('td', { class: 'nowrap' }, d.update_at ? fmtTime(d.update_at) : '—'),
          h('td', { class: 'nowrap' }, d.expected_end ? fmtTime(d.expected_end) : '—'),
          h('td', null, pill(d.outcome, d.result || d.outcome)),
          h('td', { class: 'small clip', title: d.reason || '' }, d.reason || ''))))), 'Result by device'), { testid: 'card-results', cls: 'card-results' }),
      excluded.length ? card(`Not included (${excluded.length})`, tableWrap(h('table', { class: 'table table-compact', testid: 'campaign-excluded' },
        h('thead', null, h('tr', null, ['Serial', 'Reason', 'Detail'].map((x) => h('th', null, x)))),
        h('tbody', null, excluded.map((e) => h('tr', null, h('td', { class: 'mono' }, e.serial), h('td', null, pill(e.reason, null, 'muted')), h('td', { class: 'small' }, e.detail || ''))))), 'Devices not included')) : null,
      (c.log || []).length ? card('Log', h('ol', { class: 'timeline' }, c.log.slice().reverse().map((l) => h('li', { class: 'timeline-item' },
        h('span', { class: 'timeline-time nowrap' }, fmtTime(l.at)), h('span', { class: 'timeline-cause' }, l.text))))) : null);
  }

  render();
  const reload = throttle(async () => {
    try {
      c = (await get(`/v1/campaigns/${enc(id)}`)).campaign;
      render();
    } catch { /* keep */ }
  }, 1000);
  const timer = setInterval(() => {
    if (c.state === 'running') reload();
  }, 15000);
  return {
    onLive(ev) {
      const j = ev.type === 'job' && ev.data && ev.data.job;
      if (j && (j.id.startsWith(`j-${id}-`) || (c.devices || []).some((d) => d.job_id === j.id))) reload();
    },
    resync: reload,
    unmount() {
      clearInterval(timer);
    },
  };
}
