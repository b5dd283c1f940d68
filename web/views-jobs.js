// Jobs: the job list of seed 001 Fig. 9 (serial, place, instruction, data type, managing relay,
// instructing user, instructed time, execution time, status), live, with cancel / acknowledge
// and each job's transitions. JobTable is shared with the device page.

import { get, post, q, enc } from './api.js';
import {
  h, replace, pill, empty, fmtTime, jsonText, fmtAgo, throttle, tableWrap, keepFocus, replaceKeepingFocus,
} from './dom.js';

const OPEN = new Set(['waiting', 'acquired', 'running']);

function instructed(j) {
  return j.not_before || j.created_at;
}

function execution(j) {
  if (j.executed_at) return h('span', { title: fmtTime(j.executed_at) }, fmtTime(j.executed_at));
  if (j.execute_at) return h('span', { class: 'dim', title: 'planned execution time' }, fmtTime(j.execute_at), h('div', { class: 'small' }, 'planned'));
  return h('span', { class: 'dim' }, '—');
}

function kindLabel(j) {
  return j.kind === 'relay-update' ? 'relay update' : j.kind;
}

/** Transitions as a compact timeline. */
export function transitionList(trans) {
  if (!trans || !trans.length) return h('p', { class: 'dim' }, 'No transitions recorded.');
  return h('ol', { class: 'timeline', testid: 'transitions' }, trans.map((t) => h('li', { class: 'timeline-item', dataset: { to: t.to } },
    h('span', { class: 'timeline-time nowrap', title: fmtTime(t.at) }, fmtTime(t.at)),
    h('span', { class: 'timeline-move' }, t.from && t.from !== t.to ? [pill(t.from), ' → '] : null, pill(t.to)),
    h('span', { class: 'timeline-cause' }, t.cause || ''))));
}

export class JobTable {
  /** opts: {device: bool} — on a device page the serial and place columns are left out. */
  constructor(ctx, opts = {}) {
    this.ctx = ctx;
    this.device = !!opts.device;
    this.jobs = new Map();
    this.order = [];
    this.expanded = new Map(); // id -> detail <tr>
    this.rows = new Map();
    this.tbody = h('tbody');
    this.emptyText = opts.emptyText || 'No jobs.';
    const cols = [
      '', this.device ? null : 'Serial', this.device ? null : 'Place', 'Instruction', 'Data type',
      'Relay', 'Instructed by', 'Instructed', 'Execution', 'Status', '',
    ].filter((c) => c !== null);
    this.colCount = cols.length;
    this.el = tableWrap(h('table', { class: 'table table-jobs', testid: 'jobs-table' },
      h('thead', null, h('tr', null, cols.map((c) => h('th', null, c)))), this.tbody), 'Jobs');
  }

  set(jobs) {
    this.jobs = new Map(jobs.map((j) => [j.id, j]));
    this.order = jobs.map((j) => j.id);
    this.render();
  }

  has(id) {
    return this.jobs.has(id);
  }

  render() {
    // A live update re-renders the rows; the focus stays on the row it was on.
    keepFocus(this.el, () => {
      const frag = document.createDocumentFragment();
      this.rows = new Map();
      for (const id of this.order) {
        const tr = this.row(this.jobs.get(id));
        this.rows.set(id, tr);
        frag.appendChild(tr);
        const det = this.expanded.get(id);
        if (det) frag.appendChild(det);
      }
      replace(this.tbody, frag);
      if (!this.order.length) replace(this.tbody, h('tr', null, h('td', { colspan: this.colCount }, empty(this.emptyText))));
    });
  }

  row(j) {
    const ctx = this.ctx;
    const open = this.expanded.has(j.id);
    const actions = [];
    if (ctx.can('operator')) {
      if (j.state === 'waiting' || j.state === 'acquired') {
        actions.push(h('button', {
          type: 'button', class: 'btn btn-sm', testid: 'job-cancel',
          onclick: async () => {
            if (!(await ctx.confirm(`Cancel job ${j.id} on ${j.serial}?`, { ok: 'Cancel job', danger: true }))) return;
            try {
              const r = await post(`/v1/jobs/${enc(j.id)}/cancel`);
              this.upsert((r && r.job) || r);
              ctx.toast(`Job ${j.id} cancelled.`);
            } catch (e) {
              ctx.fail(e, 'Cancel');
            }
          },
        }, 'Cancel'));
      }
      if (j.state === 'failed' && !j.acknowledged) {
        actions.push(h('button', {
          type: 'button', class: 'btn btn-sm', testid: 'job-ack',
          onclick: async () => {
            try {
              const r = await post(`/v1/jobs/${enc(j.id)}/ack`);
              this.upsert((r && r.job) || { ...j, acknowledged: true });
              ctx.toast(`Job ${j.id} acknowledged.`);
            } catch (e) {
              ctx.fail(e, 'Acknowledge');
            }
          },
        }, 'Acknowledge'));
      }
    }
    const reason = j.state === 'failed' && j.result && (j.result.reason || j.result.error);
    return h('tr', { dataset: { job: j.id, state: j.state }, class: j.state === 'failed' ? 'row-bad' : '' },
      h('td', { class: 'expander' }, h('button', {
        type: 'button', class: 'btn-icon', 'aria-expanded': open ? 'true' : 'false', title: 'Transitions',
        'aria-label': `Show transitions of ${j.id}`, onclick: () => this.toggle(j.id),
      }, open ? '▾' : '▸')),
      this.device ? null : h('td', { class: 'nowrap' }, h('a', { href: `#/device/${enc(j.serial)}`, class: 'mono' }, j.serial)),
      this.device ? null : h('td', { class: 'clip', title: j.place || '' }, j.place || '—'),
      h('td', { title: j.id }, h('span', { class: 'kind' }, kindLabel(j))),
      h('td', { class: 'data-type small' }, j.data_type ? j.data_type.split(',').join(', ') : '—'),
      h('td', { class: 'mono small nowrap', title: 'managing relay' }, j.managing_relay || '—'),
      h('td', null, j.instructing_user || '—'),
      h('td', { class: 'nowrap', title: fmtTime(instructed(j)) }, fmtTime(instructed(j))),
      h('td', { class: 'nowrap' }, execution(j)),
      h('td', { testid: 'job-state' }, pill(j.state), j.acknowledged ? h('span', { class: 'dim small' }, ' ack') : null,
        reason ? h('div', { class: 'small text-bad clip', title: String(reason) }, String(reason)) : null),
      h('td', { class: 'actions' }, actions));
  }

  async toggle(id) {
    if (this.expanded.has(id)) {
      this.expanded.delete(id);
      this.render();
      return;
    }
    const body = h('div', { class: 'job-detail' }, h('span', { class: 'dim' }, 'Loading transitions…'));
    this.expanded.set(id, h('tr', { class: 'detail-row', dataset: { detailFor: id } }, h('td', { colspan: this.colCount }, body)));
    this.render();
    try {
      const d = await get(`/v1/jobs/${enc(id)}`);
      this.fillDetail(body, d.job, d.transitions);
    } catch (e) {
      replace(body, h('span', { class: 'text-bad' }, e.human || e.message));
    }
  }

  fillDetail(body, job, transitions) {
    body.transitions = transitions || [];
    replace(body,
      h('div', { class: 'job-detail-grid' },
        h('div', null, h('h3', null, 'Transitions'), transitionList(body.transitions),
          h('p', { class: 'small dim' }, 'Job ', h('span', { class: 'mono' }, job.id), job.expires_at ? ` · expires ${fmtTime(job.expires_at)}` : '')),
        h('div', null,
          h('h3', null, 'Parameters'), h('pre', { class: 'code' }, jsonText(job.params || {})),
          job.result && Object.keys(job.result).length ? [h('h3', null, 'Result'), h('pre', { class: 'code' }, jsonText(job.result))] : null)));
  }

  /** A job created or changed (from the API or the live stream). Returns true if it is shown. */
  upsert(job, transition) {
    if (!job || !job.id) return false;
    const known = this.jobs.has(job.id);
    const had = this.jobs.get(job.id);
    // The answer to POST /v1/jobs can come after the stream's news of the job's end: an older
    // copy never overwrites a newer one.
    if (had && had.updated_at && job.updated_at && String(job.updated_at) < String(had.updated_at)) return true;
    this.jobs.set(job.id, { ...(had || {}), ...job });
    if (!known) this.order.unshift(job.id);
    const det = this.expanded.get(job.id);
    if (det && transition) {
      const body = det.querySelector('.job-detail');
      if (body && body.transitions) {
        body.transitions.push(transition);
        this.fillDetail(body, this.jobs.get(job.id), body.transitions);
      }
    }
    const old = this.rows.get(job.id);
    if (known && old && old.isConnected) {
      const tr = this.row(this.jobs.get(job.id));
      keepFocus(this.el, () => old.replaceWith(tr));
      this.rows.set(job.id, tr);
    } else {
      this.render();
    }
    return true;
  }
}

const STATE_FILTERS = ['', 'waiting', 'acquired', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];

export async function mountJobs(root, { query }, ctx) {
  const st = { state: query.get('state') || '', all: query.get('all') === '1', serial: query.get('serial') || '' };
  const table = new JobTable(ctx, { emptyText: 'No jobs in this view.' });
  const counts = h('div', { class: 'chips', testid: 'job-filters' });
  const info = h('span', { class: 'dim small' });
  const allBox = h('input', { type: 'checkbox', checked: st.all, id: 'jobs-all' });

  async function load() {
    const j = await get(`/v1/jobs${q({ serial: st.serial, all: st.all ? '1' : '' })}`);
    const jobs = j.jobs || [];
    st.loaded = jobs;
    renderFilters();
    table.set(jobs.filter((x) => !st.state || x.state === st.state));
    info.textContent = `updated ${fmtAgo(Date.now())}`;
  }

  function renderFilters() {
    const c = {};
    for (const j of st.loaded || []) c[j.state] = (c[j.state] || 0) + 1;
    replaceKeepingFocus(counts, STATE_FILTERS.map((s) => h('button', {
      type: 'button', class: ['chip', st.state === s ? 'active' : ''], dataset: { filter: s || 'all' },
      onclick: () => {
        st.state = s;
        sync();
        table.set((st.loaded || []).filter((x) => !st.state || x.state === st.state));
        renderFilters();
      },
    }, s || 'all', ' ', h('span', { class: 'chip-count num' }, String(s ? c[s] || 0 : (st.loaded || []).length)))));
  }

  function sync() {
    const p = new URLSearchParams();
    if (st.state) p.set('state', st.state);
    if (st.all) p.set('all', '1');
    if (st.serial) p.set('serial', st.serial);
    const s = p.toString();
    history.replaceState(null, '', `#/jobs${s ? `?${s}` : ''}`);
  }

  allBox.addEventListener('change', () => {
    st.all = allBox.checked;
    sync();
    load().catch((e) => ctx.fail(e));
  });

  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Jobs'),
        h('p', { class: 'sub' }, st.serial ? ['Jobs of ', h('a', { href: `#/device/${enc(st.serial)}`, class: 'mono' }, st.serial), '. ', h('a', { href: '#/jobs' }, 'All devices')] : 'What the service center asked devices to do, and where each job is now.')),
      h('div', { class: 'page-actions' },
        h('label', { class: 'check' }, allBox, ' Include finished and acknowledged'))),
    h('div', { class: 'toolbar' }, counts, info),
    h('div', { class: 'card card-flush' }, table.el));

  await load();
  const refresh = throttle(() => renderFilters(), 1000);

  return {
    onLive(ev) {
      if (ev.type !== 'job' || !ev.data || !ev.data.job) return;
      const job = ev.data.job;
      if (st.serial && job.serial !== st.serial) return;
      const list = st.loaded || [];
      const i = list.findIndex((x) => x.id === job.id);
      if (i >= 0) list[i] = { ...list[i], ...job };
      else list.unshift(job);
      st.loaded = list;
      if (!st.state || job.state === st.state || table.has(job.id)) table.upsert(job, ev.data.transition);
      refresh();
    },
    resync: () => load().catch(() => {}),
  };
}

export { OPEN as OPEN_JOB_STATES };
