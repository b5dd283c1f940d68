// Registrations (add / edit / delete rows) and the service center's code tables: error_codes and
// order_codes edited as rows, the rule tables (compatibility, troubles, forecast,
// notification_rules) as JSON with the relay's validation message shown as it answers.

import { ApiError, get, getOptional, post, put, del, enc } from './api.js';
import {
  h, replace, ago, empty, card, fmtNum, jsonText, debounce, tableWrap,
} from './dom.js';

// ---------------- registrations ----------------

const REG_FIELDS = [
  ['serial', 'Serial', 'mono'], ['model', 'Model', ''], ['place', 'Place', ''], ['customer', 'Customer', ''], ['contact', 'Contact', ''],
];

export async function mountRegistrations(root, _params, ctx) {
  let regs = (await get('/v1/registrations')).registrations || [];
  const canEdit = ctx.can('operator');
  const canDelete = ctx.can('admin');
  const st = { search: '', editing: null, adding: false };
  const tbody = h('tbody');
  const summary = h('div', { class: 'table-summary' });
  const search = h('input', { type: 'search', class: 'search', placeholder: 'Search registrations…', 'aria-label': 'Search registrations' });
  const msg = h('div', { class: 'form-error', role: 'alert' });

  async function reload() {
    regs = (await get('/v1/registrations')).registrations || [];
    render();
  }

  async function save(values, isNew) {
    msg.textContent = '';
    const body = {};
    for (const [k] of REG_FIELDS) body[k] = (values[k] || '').trim();
    if (values.enrollment_code) body.enrollment_code = values.enrollment_code;
    if (!body.serial) {
      msg.textContent = 'A serial is needed.';
      return false;
    }
    try {
      await post('/v1/registrations', body);
      ctx.toast(`Registration ${body.serial} ${isNew ? 'added' : 'saved'}.`, 'ok');
      st.editing = null;
      st.adding = false;
      await reload();
      return true;
    } catch (e) {
      msg.textContent = e instanceof ApiError ? e.human : String(e.message || e);
      return false;
    }
  }

  async function remove(r) {
    if (!(await ctx.confirm(`Delete the registration of ${r.serial}? The device can no longer enrol with its code.`, { ok: 'Delete', danger: true }))) return;
    try {
      await del(`/v1/registrations/${enc(r.serial)}`);
      ctx.toast(`Registration ${r.serial} deleted.`, 'ok');
      await reload();
    } catch (e) {
      ctx.fail(e, 'Delete');
    }
  }

  function editRow(r, isNew) {
    const inputs = {};
    const cells = REG_FIELDS.map(([k, label, cls]) => {
      inputs[k] = h('input', {
        type: 'text', value: r[k] || '', class: cls, 'aria-label': label, maxlength: '256', disabled: !isNew && k === 'serial',
      });
      return h('td', null, inputs[k]);
    });
    inputs.enrollment_code = h('input', { type: 'password', 'aria-label': 'Enrollment code', placeholder: isNew ? '4–128 characters' : 'keep', autocomplete: 'new-password', class: 'code-input' });
    const values = () => Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value]));
    const tr = h('tr', { class: 'row-editing', dataset: { serial: r.serial || '' } },
      cells,
      h('td', null, inputs.enrollment_code),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'reg-save', onclick: () => save(values(), isNew) }, 'Save'),
        h('button', {
          type: 'button', class: 'btn btn-sm', onclick: () => {
            st.editing = null;
            st.adding = false;
            msg.textContent = '';
            render();
          },
        }, 'Cancel')));
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') save(values(), isNew);
      if (ev.key === 'Escape') {
        st.editing = null;
        st.adding = false;
        render();
      }
    });
    tr.firstInput = isNew ? inputs.serial : inputs.model;
    return tr;
  }

  function viewRow(r) {
    return h('tr', { dataset: { serial: r.serial } },
      h('td', null, h('a', { href: `#/device/${enc(r.serial)}`, class: 'mono strong' }, r.serial)),
      h('td', null, r.model || '—'),
      h('td', { class: 'clip', title: r.place || '' }, r.place || '—'),
      h('td', { class: 'clip', title: r.customer || '' }, r.customer || '—'),
      h('td', { class: 'clip', title: r.contact || '' }, r.contact || '—'),
      h('td', { class: 'dim small', title: 'stored hashed; never shown again' }, 'set'),
      h('td', { class: 'actions' },
        canEdit ? h('button', {
          type: 'button', class: 'btn btn-sm', testid: 'reg-edit', onclick: () => {
            st.editing = r.serial;
            st.adding = false;
            render();
          },
        }, 'Edit') : null,
        canDelete ? h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', testid: 'reg-delete', onclick: () => remove(r) }, 'Delete') : null));
  }

  // The row being edited survives a re-render (a reload after the live stream reconnects, a
  // search): it is built once per edit, so what the operator typed is never reset under them.
  // A row just opened gets the focus once it is in the page: at once, not from a timer that
  // could move it away from a field the operator (or a test) has gone to meanwhile.
  let open = { key: null, tr: null };
  let opened = null;
  function editing(key, build) {
    if (open.key !== key || !open.tr) {
      open = { key, tr: build() };
      opened = open.tr;
    }
    return open.tr;
  }

  function render() {
    const needle = st.search.trim().toLowerCase();
    const rows = regs.filter((r) => !needle || REG_FIELDS.some(([k]) => String(r[k] || '').toLowerCase().includes(needle)));
    const openKey = st.adding ? '\u0000new' : st.editing;
    if (open.key !== openKey) open = { key: null, tr: null };
    const focused = open.tr && open.tr.contains(document.activeElement) ? document.activeElement : null;
    const frag = document.createDocumentFragment();
    if (st.adding) frag.appendChild(editing(openKey, () => editRow({}, true)));
    for (const r of rows) frag.appendChild(st.editing === r.serial ? editing(openKey, () => editRow(r, false)) : viewRow(r));
    replace(tbody, frag);
    if (focused && focused.isConnected) focused.focus();
    if (opened && opened.isConnected) opened.firstInput.focus();
    opened = null;
    if (!rows.length && !st.adding) replace(tbody, h('tr', null, h('td', { colspan: 7 }, regs.length ? empty('No registration matches') : empty('No registrations', 'Add one: a device enrols with its serial and the enrollment code.'))));
    summary.textContent = `${fmtNum(rows.length)} of ${fmtNum(regs.length)} registrations`;
  }

  search.addEventListener('input', debounce(() => {
    st.search = search.value;
    render();
  }, 120));

  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Registrations'), h('p', { class: 'sub' }, 'Which device is which: model, installation place, customer and contact. A device enrols with its serial and enrollment code.')),
      h('div', { class: 'page-actions' }, search, canEdit ? h('button', {
        type: 'button', class: 'btn btn-primary', testid: 'reg-add', onclick: () => {
          st.adding = true;
          st.editing = null;
          render();
        },
      }, 'Add registration') : null)),
    msg,
    h('div', { class: 'card card-flush' }, summary, tableWrap(h('table', { class: 'table table-regs', testid: 'registrations-table' },
      h('thead', null, h('tr', null, [...REG_FIELDS.map(([, l]) => l), 'Enrollment code', ''].map((c) => h('th', null, c)))),
      tbody), 'Registrations')));
  render();
  return { resync: () => reload().catch(() => {}) };
}

// ---------------- code tables ----------------

const TABLES = [
  { name: 'error_codes', label: 'Error codes', rows: [['code', 'Code', 'mono'], ['text', 'Text', ''], ['action', 'What to do', ''], ['urgency', 'Urgency', 'select']] },
  { name: 'order_codes', label: 'Order codes', rows: [['code', 'Code', 'mono'], ['text', 'Text', '']] },
  { name: 'compatibility', label: 'Compatibility', help: 'One object per model: units with their compatible versions and the recommended version per unit (src/core/monitoring_rules.h, section 1).' },
  { name: 'troubles', label: 'Troubles', help: 'How error logs are judged: jam rates, repeated jams at one place, service calls back after a reset, rising errors (section 2).' },
  { name: 'forecast', label: 'Forecast', help: 'Supply forecasting: how many readings, how far back, when a supply counts as low (section 3).' },
  { name: 'notification_rules', label: 'Notification rules', help: 'Who is told what: event types, filters, e-mail addresses and webhooks (section 4).' },
  { name: 'auto_updates', label: 'Auto-update authorisations', help: 'Standing firmware authorisations the service center signed (relayctl firmware authorise); the relay attaches them to the automatic jobs its compatibility rules create. Signed text: edit with relayctl, not here.' },
];

const URGENCIES = ['low', 'normal', 'high', 'fatal'];

export async function mountTables(root, { args }, ctx) {
  const list = await getOptional('/v1/tables');
  if (list === null) {
    replace(root,
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Code tables'))),
      empty('Not available on this relay', 'This relay has no /v1/tables endpoint (an older build).'));
    return {};
  }
  const meta = new Map((list.tables || []).map((t) => [t.name, t]));
  const names = TABLES.filter((t) => meta.has(t.name) || !meta.size).concat(
    [...meta.keys()].filter((n) => !TABLES.some((t) => t.name === n)).map((n) => ({ name: n, label: n })),
  );
  const current = args[0] && names.some((t) => t.name === args[0]) ? args[0] : names[0].name;
  const def = names.find((t) => t.name === current);
  const canEdit = ctx.can('operator');

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Tables' }, names.map((t) => {
    const m = meta.get(t.name);
    return h('a', { href: `#/tables/${t.name}`, class: ['tab', t.name === current ? 'active' : ''], dataset: { table: t.name } },
      t.label, m && m.entries !== undefined ? h('span', { class: 'chip-count num' }, fmtNum(m.entries)) : null);
  }));
  const body = h('div');
  replace(root,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Code tables'),
      h('p', { class: 'sub' }, 'The texts, rules and thresholds the relay judges devices by. Every save is checked by the relay; nothing changes when it refuses.'))),
    tabs, body);

  let table = await get(`/v1/tables/${enc(current)}`);

  const status = h('div', { class: 'form-error', role: 'alert', testid: 'table-error' });
  const metaLine = () => h('p', { class: 'dim small', testid: 'table-meta' },
    `Revision ${table.revision ?? '—'}`, table.updated_at ? [' · changed ', ago(table.updated_at)] : null, table.updated_by ? ` by ${table.updated_by}` : '');

  async function save(newBody) {
    status.textContent = '';
    try {
      table = await put(`/v1/tables/${enc(current)}`, { body: newBody, revision: table.revision });
      ctx.toast(`${def.label} saved (revision ${table.revision}).`, 'ok');
      render();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        status.replaceChildren(`Someone else changed this table meanwhile (${e.message}). `,
          h('button', { type: 'button', class: 'link-btn', onclick: async () => { table = await get(`/v1/tables/${enc(current)}`); render(); } }, 'Load their version'),
          ' (your edits are lost) or copy your changes first.');
      } else {
        status.textContent = e instanceof ApiError ? `The relay refused it: ${e.message}` : String(e.message || e);
      }
      return false;
    }
  }

  function rowsEditor() {
    const rows = Array.isArray(table.body) ? table.body.map((r) => ({ ...r })) : [];
    const tbody = h('tbody');
    const fields = def.rows;
    const saveBtn = h('button', { type: 'button', class: 'btn btn-primary', disabled: true, testid: 'table-save' }, 'Save changes');
    const mark = () => {
      saveBtn.disabled = false;
    };
    const filter = h('input', { type: 'search', class: 'search', placeholder: `Search ${def.label.toLowerCase()}…` });

    function draw() {
      const needle = filter.value.trim().toLowerCase();
      const frag = document.createDocumentFragment();
      rows.forEach((r, i) => {
        if (needle && !fields.some(([k]) => String(r[k] || '').toLowerCase().includes(needle))) return;
        frag.appendChild(h('tr', { dataset: { row: String(i) } },
          fields.map(([k, label, kind]) => {
            let input;
            if (kind === 'select') {
              input = h('select', { 'aria-label': label, disabled: !canEdit }, URGENCIES.map((u) => h('option', { value: u, selected: (r[k] || 'normal') === u }, u)));
            } else {
              input = h('input', { type: 'text', value: r[k] ?? '', class: kind, 'aria-label': label, disabled: !canEdit });
            }
            input.addEventListener('input', () => {
              r[k] = input.value;
              mark();
            });
            input.addEventListener('change', () => {
              r[k] = input.value;
              mark();
            });
            return h('td', null, input);
          }),
          h('td', { class: 'actions' }, canEdit ? h('button', {
            type: 'button', class: 'btn-icon', title: 'Delete row', 'aria-label': 'Delete row', onclick: () => {
              rows.splice(i, 1);
              mark();
              draw();
            },
          }, '×') : null)));
      });
      replace(tbody, frag);
      if (!rows.length) replace(tbody, h('tr', null, h('td', { colspan: fields.length + 1 }, empty('The table is empty', canEdit ? 'Add the first row.' : ''))));
    }
    filter.addEventListener('input', debounce(draw, 120));
    draw();
    saveBtn.addEventListener('click', async () => {
      const clean = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : v])));
      await save(clean);
    });
    return h('div', null,
      h('div', { class: 'toolbar' }, filter, h('span', { class: 'spacer' }),
        canEdit ? h('button', {
          type: 'button', class: 'btn', testid: 'table-add-row', onclick: () => {
            const r = Object.fromEntries(fields.map(([k, , kind]) => [k, kind === 'select' ? 'normal' : '']));
            rows.unshift(r);
            filter.value = '';
            mark();
            draw();
            const first = tbody.querySelector('input');
            if (first) first.focus();
          },
        }, 'Add row') : null,
        canEdit ? saveBtn : null),
      tableWrap(h('table', { class: 'table table-edit', testid: 'table-rows' },
        h('thead', null, h('tr', null, fields.map(([, l]) => h('th', null, l)), h('th', null, ''))), tbody), def.label));
  }

  function jsonEditor() {
    const area = h('textarea', {
      class: 'json-editor mono', spellcheck: 'false', rows: '24', readonly: !canEdit, testid: 'table-json', 'aria-label': `${def.label} (JSON)`,
    }, jsonText(table.body));
    const parseNote = h('span', { class: 'small' });
    const check = () => {
      try {
        JSON.parse(area.value);
        parseNote.textContent = 'valid JSON';
        parseNote.className = 'small text-ok';
        return true;
      } catch (e) {
        parseNote.textContent = `not JSON: ${e.message}`;
        parseNote.className = 'small text-bad';
        return false;
      }
    };
    area.addEventListener('input', debounce(check, 200));
    return h('div', null,
      def.help ? h('p', { class: 'hint' }, def.help) : null,
      area,
      h('div', { class: 'toolbar' }, parseNote, h('span', { class: 'spacer' }),
        canEdit ? h('button', {
          type: 'button', class: 'btn', onclick: () => {
            if (check()) area.value = jsonText(JSON.parse(area.value));
          },
        }, 'Format') : null,
        canEdit ? h('button', {
          type: 'button', class: 'btn', onclick: () => {
            area.value = jsonText(table.body);
            check();
            status.textContent = '';
          },
        }, 'Revert') : null,
        canEdit ? h('button', {
          type: 'button', class: 'btn btn-primary', testid: 'table-save', onclick: () => {
            if (!check()) {
              status.textContent = 'Fix the JSON first: it does not parse.';
              return;
            }
            save(JSON.parse(area.value));
          },
        }, 'Save') : null));
  }

  function render() {
    replace(body, card(def.label, [metaLine(), status, def.rows ? rowsEditor() : jsonEditor()], { testid: `table-${current}` }));
  }
  render();
  return {};
}
