// Access: who may use this relay — the admin credentials (people and scripts) and the child
// relays — with revocation for the admin role, and the device-credential revocation the device
// page offers. A revoked credential is refused by every node at once (docs/operations.md).

import {
  ApiError, get, post, del, enc,
} from './api.js';
import {
  h, replace, ago, pill, empty, card, fmtNum, tableWrap,
} from './dom.js';

const ROLE_TONE = { admin: 'info', operator: 'ok', viewer: 'muted' };

/** The text shown where a non-admin would find Revoke buttons. */
function readOnlyNote(ctx) {
  return h('span', { class: 'dim small', testid: 'access-readonly' },
    `Read-only: revoking needs the admin role (you are ${ctx.user.role}).`);
}

function actionsHeader() {
  return h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions'));
}

/** names: 'Label' or ['Label', 'class']; the last column holds the row's buttons. */
function headers(names) {
  return h('thead', null, h('tr', null, names.map((c) => {
    const [label, cls] = Array.isArray(c) ? c : [c, null];
    return h('th', { scope: 'col', class: cls }, label);
  }), actionsHeader()));
}

/**
 * Asks, then revokes the credential of device `serial` (POST /v1/devices/{serial}/revoke, admin
 * role). Resolves the relay's answer {serial, revoked_at, revoked_by, was_enrolled}, or null when
 * the person cancelled or the relay refused (the error is shown).
 */
export async function revokeDevice(ctx, serial) {
  const sure = await ctx.confirm(`Revoke the credential of ${serial}?`, {
    ok: 'Revoke credential',
    danger: true,
    detail: 'Every node refuses it at once: the device can no longer report or take jobs with it. '
      + 'A revoked device may enrol again with its enrollment code (how a replaced or reset device is '
      + 'enrolled anew); to keep it out, delete its registration as well.',
  });
  if (!sure) return null;
  try {
    const r = await post(`/v1/devices/${enc(serial)}/revoke`);
    ctx.toast(r && r.was_enrolled === false
      ? `${serial} had no working credential; it stays revoked.`
      : `Credential of ${serial} revoked: every node refuses it now.`, 'ok');
    return r || { serial };
  } catch (e) {
    ctx.fail(e, `Revoke ${serial}`);
    return null;
  }
}

export async function mountAccess(root, _params, ctx) {
  const isAdmin = ctx.can('admin');
  const self = ctx.user.name;
  // Each list is {rows} or {error}: a list that could not be read is shown as an error, not empty.
  const st = { credentials: null, relays: null };
  const credBox = h('div');
  const relayBox = h('div');

  async function load(path, key) {
    try {
      return { rows: (await get(path))[key] || [] };
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      return { error: e instanceof ApiError ? e.human : String(e.message || e) };
    }
  }

  async function reload() {
    const [c, r] = await Promise.all([
      isAdmin ? load('/v1/credentials', 'credentials') : null,
      load('/v1/relays', 'relays'),
    ]);
    st.credentials = c;
    st.relays = r;
    render();
  }

  function failed(list) {
    return h('p', { class: 'text-bad', role: 'alert' }, `Could not read the list: ${list.error}`);
  }

  /** Revokes, then reloads; focus goes to the card's heading, as the row it was on is gone. */
  async function revoke({ question, detail, path, done, what, box }) {
    if (!(await ctx.confirm(question, { ok: 'Revoke', danger: true, detail }))) return;
    try {
      await del(path);
      ctx.toast(done, 'ok');
    } catch (e) {
      ctx.fail(e, what);
    }
    await reload();
    const heading = box.querySelector('.card-head h2');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }

  function credentialRow(c) {
    const action = c.name === self
      ? h('span', { class: 'dim small', testid: 'credential-self' }, 'Signed in with this one')
      : h('button', {
        type: 'button',
        class: 'btn btn-sm btn-danger-ghost',
        testid: 'credential-revoke',
        'aria-label': `Revoke ${c.name}`,
        onclick: () => revoke({
          question: `Revoke the credential ${c.name} (${c.role})?`,
          detail: 'Every node refuses it at once: the API, relayctl and dashboard pages signed in with it '
            + 'stop working, pages open now included. This cannot be undone; whoever used it needs a new '
            + 'credential (relayctl credentials create).',
          path: `/v1/credentials/${enc(c.name)}`,
          done: `Credential ${c.name} revoked: every node refuses it now.`,
          what: `Revoke ${c.name}`,
          box: credBox,
        }),
      }, 'Revoke');
    return h('tr', { dataset: { name: c.name } },
      h('th', { scope: 'row', class: 'mono' }, c.name),
      h('td', null, pill(c.role, null, ROLE_TONE[c.role])),
      h('td', { class: 'nowrap' }, ago(c.created_at)),
      h('td', { class: 'actions' }, action));
  }

  function renderCredentials() {
    const list = st.credentials;
    // Child relays' credentials are listed (and revoked) under Child relays.
    const rows = list && list.rows ? list.rows.filter((c) => c.role !== 'relay')
      .sort((a, b) => String(a.name).localeCompare(String(b.name))) : [];
    let body;
    if (!isAdmin) {
      body = empty('Only an admin sees the credentials',
        `Listing and revoking admin credentials needs the admin role; you are signed in as ${self} (${ctx.user.role}).`);
    } else if (list.error) {
      body = failed(list);
    } else if (!rows.length) {
      body = empty('No credentials');
    } else {
      body = tableWrap(h('table', { class: 'table', testid: 'credentials-table' },
        h('caption', { class: 'sr-only' }, 'Admin credentials'),
        headers(['Name', 'Role', 'Created']),
        h('tbody', null, rows.map(credentialRow))), 'Admin credentials');
    }
    replace(credBox, card('Admin credentials', body, {
      testid: 'card-credentials',
      cls: 'card-flush-body',
      actions: isAdmin && list.rows ? h('span', { class: 'dim small' }, `${fmtNum(rows.length)} credential${rows.length === 1 ? '' : 's'}`) : null,
    }));
  }

  function customersText(customers) {
    const c = customers || [];
    if (c.includes('*')) return 'all customers';
    return c.length ? c.join(', ') : 'none';
  }

  function relayRow(r) {
    const action = isAdmin ? h('button', {
      type: 'button',
      class: 'btn btn-sm btn-danger-ghost',
      testid: 'relay-revoke',
      'aria-label': `Revoke child relay ${r.id}`,
      onclick: () => revoke({
        question: `Revoke the child relay ${r.id}?`,
        detail: 'Every node refuses its credential at once: its syncs are turned away, so what its devices '
          + 'report no longer comes up through it and no jobs go down. The devices\' own credentials stay '
          + `valid. To connect it again, give it a new one (relayctl relays add ${r.id} --customers …).`,
        path: `/v1/relays/${enc(r.id)}`,
        done: `Child relay ${r.id} revoked: every node refuses it now.`,
        what: `Revoke ${r.id}`,
        box: relayBox,
      }),
    }, 'Revoke') : null;
    return h('tr', { dataset: { relay: r.id } },
      h('th', { scope: 'row', class: 'mono' }, r.id),
      h('td', { class: 'clip' }, customersText(r.customers)),
      h('td', { class: 'nowrap' }, ago(r.created_at)),
      h('td', { class: 'nowrap' }, r.last_sync ? ago(r.last_sync) : h('span', { class: 'dim' }, 'none since this node started')),
      h('td', { class: 'mono small' }, r.version || '—'),
      h('td', { class: 'num' }, r.devices === undefined ? '—' : fmtNum(r.devices)),
      h('td', { class: 'actions' }, action));
  }

  function renderRelays() {
    const list = st.relays;
    const rows = list.rows ? list.rows.slice().sort((a, b) => String(a.id).localeCompare(String(b.id))) : [];
    let body;
    if (list.error) {
      body = failed(list);
    } else if (!rows.length) {
      body = empty('No child relays', 'A child relay gets its credential with relayctl relays add ID --customers NAME.');
    } else {
      body = tableWrap(h('table', { class: 'table', testid: 'relays-table' },
        h('caption', { class: 'sr-only' }, 'Child relays'),
        headers(['Relay', 'Customers', 'Created', 'Last sync', 'Version', ['Devices', 'num']]),
        h('tbody', null, rows.map(relayRow))), 'Child relays');
    }
    replace(relayBox, card('Child relays', body, {
      testid: 'card-relays', cls: 'card-flush-body', actions: isAdmin ? null : readOnlyNote(ctx),
    }));
  }

  function render() {
    renderCredentials();
    renderRelays();
  }

  await reload();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Access'),
        h('p', { class: 'sub' }, 'Who may use this relay: admin credentials (people and scripts) and child relays. '
          + 'A revoked credential is refused by every node at once.'))),
    credBox,
    relayBox,
    h('p', { class: 'hint' }, 'A device\'s credential is revoked on the device\'s page (Revoke credential); '
      + 'the device may then enrol again with its enrollment code.'));
  return { resync: () => reload().catch(() => {}) };
}
