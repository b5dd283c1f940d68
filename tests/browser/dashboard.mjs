// Browser test of the printrelay dashboard: headless Chromium (Debian's /usr/bin/chromium)
// driven with playwright-core. Run by tests/integration/test_dashboard_browser.py, which starts
// the relay and devices and passes what to look for in the environment (all of it is required:
// a missing one stops the test, so no part of it is skipped):
//
//   DASHBOARD_URL, ADMIN_TOKEN, ADMIN_NAME, VIEWER_TOKEN, SCREENSHOT_DIR,
//   DEVICE_SERIAL, DEVICE_COUNT, ALERT_SERIAL, ALERT_CODE, OTHER_ALERT_SERIAL, KEYBOARD_ALERT_SERIAL,
//   KEYBOARD_ALERT_CODE, ESCAPE_SERIAL,
//   ESCAPE_PLACE, ESCAPE_CUSTOMER, CAMPAIGN_ID, CAMPAIGN_DEVICES, IGNORE_HTTPS_ERRORS
//
// Every check throws on failure (exit 1, with a screenshot of the moment); a screenshot is saved
// after every step as SCREENSHOT_DIR/NN-name.png.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const T0 = Date.now();
const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
function need(k) {
  const v = env(k);
  if (v === undefined) throw new Error(`environment variable ${k} is required`);
  return v;
}

const URL_ = need('DASHBOARD_URL');
const ADMIN_TOKEN = need('ADMIN_TOKEN');
const ADMIN_NAME = env('ADMIN_NAME', 'admin');
const VIEWER_TOKEN = need('VIEWER_TOKEN');
const SHOTS = need('SCREENSHOT_DIR');
const DEVICE = need('DEVICE_SERIAL');
const DEVICE_COUNT = Number(need('DEVICE_COUNT'));
const ALERT_SERIAL = need('ALERT_SERIAL');
const ALERT_CODE = need('ALERT_CODE');
const OTHER_ALERT_SERIAL = need('OTHER_ALERT_SERIAL');
const ALERT_TEXT = need('ALERT_TEXT');
const ALERT_ACTION = need('ALERT_ACTION');
const EXPECT_VERDICT = need('EXPECT_VERDICT');
const EXPECT_RECOMMENDED = need('EXPECT_RECOMMENDED'); // "unit=version"
const ESCAPE_SERIAL = need('ESCAPE_SERIAL');
const CAMPAIGN_ID = need('CAMPAIGN_ID');
const CAMPAIGN_DEVICES = Number(need('CAMPAIGN_DEVICES'));
const KEYBOARD_ALERT_SERIAL = need('KEYBOARD_ALERT_SERIAL');
const KEYBOARD_ALERT_CODE = need('KEYBOARD_ALERT_CODE');
const BILLING_HEADER = 'serial,model,customer,place,counter,start_at,start,end_at,end,difference,flags';

fs.mkdirSync(SHOTS, { recursive: true });
const watchdog = setTimeout(() => {
  console.error(`FAIL: the browser test did not finish in 200 s`);
  process.exit(3);
}, 200000);
watchdog.unref();

let shotNo = 0;
const pageErrors = [];

function log(msg) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
}

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

async function shot(page, name) {
  shotNo += 1;
  const file = path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0)); // a full-page shot of a scrolled page repeats the sticky bar
  await page.waitForTimeout(150); // let a just-started CSS transition settle
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${path.basename(file)}`);
}

function watch(page, who) {
  page.on('pageerror', (e) => {
    pageErrors.push(`${who}: ${e.message}`);
    console.error(`${who} page error: ${e.message}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`${who} console.${m.type()}: ${m.text()}`);
  });
}

/** A same-origin API call made inside the page (the browser trusts the relay's certificate there). */
async function api(page, pathname, token) {
  return page.evaluate(async ([p, t]) => {
    const r = await fetch(p, { headers: { Authorization: `Bearer ${t}`, Accept: 'application/json' } });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [pathname, token]);
}

/** Any same-origin API call made inside the page: {status, body}. No token, no Authorization header. */
async function call(page, method, pathname, { token, body } = {}) {
  return page.evaluate(async ([m, p, t, b]) => {
    const headers = { Accept: 'application/json' };
    if (t) headers.Authorization = `Bearer ${t}`;
    if (b !== null) headers['Content-Type'] = 'application/json';
    const r = await fetch(p, { method: m, headers, body: b === null ? undefined : JSON.stringify(b) });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [method, pathname, token || '', body === undefined ? null : body]);
}

async function waitFor(page, what, fn, timeout = 15000, interval = 100) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout / 1000} s waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
    await page.waitForTimeout(interval);
  }
}

const rows = (page, sel) => page.$$eval(sel, (els) => els.length);

async function login(page, token, { expectName, expectRole }) {
  await page.fill('[data-testid=login-token]', token);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=user-name]', { timeout: 15000 });
  const name = (await page.textContent('[data-testid=user-name]')).trim();
  const role = (await page.textContent('[data-testid=user-role]')).trim();
  if (expectName) assert(name === expectName, `header shows user ${JSON.stringify(name)}, want ${expectName}`);
  assert(role === expectRole, `header shows role ${JSON.stringify(role)}, want ${expectRole}`);
  await page.waitForSelector('[data-testid=live].live-live', { timeout: 15000 });
  return { name, role };
}

async function nav(page, id) {
  await page.click(`.nav-link[data-nav=${id}]`);
  await page.waitForFunction((n) => location.hash.startsWith(`#/${n}`), id);
}

// ---- accessibility: axe-core on every page and dialog, the keyboard, phones ----

const AXE_SOURCE = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const SIZES = [['1440', { width: 1440, height: 900 }], ['390', { width: 390, height: 844 }]];
const SCHEMES = ['light', 'dark'];

/** axe-core's WCAG 2.1 A/AA violations in the page as it is now (within `scope`, a selector). */
async function axe(page, where, scope) {
  const found = await page.evaluate(async ([tags, sel]) => {
    const r = await window.axe.run(sel ? document.querySelector(sel) : document,
      { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  }, [AXE_TAGS, scope || null]);
  return found.map((v) => ({ where, ...v }));
}

/** What is wrong with the page on a phone: wider than the screen, or a control under 44 px. */
async function phoneProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const wide = document.documentElement.scrollWidth;
    if (wide > window.innerWidth) out.push(`the page is ${wide} px wide in a ${window.innerWidth} px viewport`);
    const targets = 'button, a.btn, .nav-link, .tab, .table a, summary, select, textarea, label.check, '
      + 'input:not([type=checkbox]):not([type=radio]):not([type=hidden])';
    for (const el of document.querySelectorAll(targets)) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height || el.closest('.sr-only')) continue; // not shown
      if (r.width < 44 || r.height < 44) {
        const name = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('placeholder') || '').trim().slice(0, 40);
        out.push(`tap target <${el.tagName.toLowerCase()}${el.className ? ` class="${el.className}"` : ''}> "${name}" is ${Math.round(r.width)}×${Math.round(r.height)} px`);
      }
    }
    return out;
  });
}

/** The element with the focus: what it is, and whether the focus ring shows. */
async function focusOf(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { name: 'body', ring: false };
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    const name = `<${el.tagName.toLowerCase()}${el.dataset.testid ? ` data-testid=${el.dataset.testid}` : ''}> ${(el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 40)}`;
    const ring = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 && r.width > 0 && r.height > 0;
    return { name: ring ? name : `${name} (outline: ${cs.outlineStyle} ${cs.outlineWidth}, ${Math.round(r.width)}×${Math.round(r.height)} px)`, ring };
  });
}

/** Presses Tab (Shift+Tab with back) until `sel` has the focus; every stop on the way shows its ring. */
async function tabTo(page, sel, { back = false, max = 80 } = {}) {
  const path_ = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focusOf(page);
    path_.push(f.name);
    assert(f.ring, `the focus on ${f.name} is visible (after ${path_.length} ${back ? 'Shift+Tab' : 'Tab'})`);
    if (await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), sel)) return path_.length;
  }
  throw new Error(`${sel} never got the focus in ${max} ${back ? 'Shift+Tab' : 'Tab'} presses: ${path_.join(' → ')}`);
}

async function focusIs(page, sel, what) {
  const ok = await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), sel);
  assert(ok, `${what}: the focus is on ${(await focusOf(page)).name}, want ${sel}`);
}

async function a11yContext(browser, contextOpts) {
  const ctx = await browser.newContext({ ...contextOpts, reducedMotion: 'reduce' });
  ctx.setDefaultTimeout(15000);
  // An init script is not subject to the page's Content-Security-Policy (an inline <script> is).
  await ctx.addInitScript({ content: AXE_SOURCE });
  // Every text the live region (#announcer) says, in order, for the keyboard walk to check.
  await ctx.addInitScript(() => {
    window.announced = [];
    document.addEventListener('DOMContentLoaded', () => {
      const box = document.getElementById('announcer');
      if (!box) return;
      new MutationObserver(() => { if (box.textContent) window.announced.push(box.textContent); })
        .observe(box, { childList: true, characterData: true, subtree: true });
    });
  });
  const page = await ctx.newPage();
  return { ctx, page };
}

/**
 * Login → fleet → device → collect job → acknowledge an alert with the keyboard alone (Tab,
 * Shift+Tab, Enter, Space): every focus stop shows its ring, and after each step the focus is
 * where the next step starts.
 */
async function keyboardWalk(browser, contextOpts) {
  const { ctx, page } = await a11yContext(browser, contextOpts);
  watch(page, 'keyboard');
  await page.goto(URL_);
  await page.waitForSelector('[data-testid=login-token]');
  await focusIs(page, '[data-testid=login-token]', 'the login page');
  await page.keyboard.type(ADMIN_TOKEN);
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=live].live-live');
  await page.waitForSelector('[data-testid=fleet-table] tbody tr[data-serial]');

  await focusIs(page, 'main', 'signed in: the page starts at its content');
  await tabTo(page, '.skip-link', { back: true }); // back through the navigation and the top bar
  await page.keyboard.press('Enter');
  await focusIs(page, 'main', 'Skip to content');
  await page.keyboard.press('Tab');
  await focusIs(page, '[data-testid=fleet-search]', 'the first Tab in the fleet page');
  await page.keyboard.type(DEVICE);
  const link = `[data-testid=fleet-table] tr[data-serial="${DEVICE}"] [data-testid=device-link]`;
  await waitFor(page, `the search to leave ${DEVICE}`, async () => (await rows(page, '[data-testid=fleet-table] tbody tr[data-serial]')) === 1);
  await tabTo(page, link);
  await page.keyboard.press('Enter');
  await page.waitForFunction((s) => location.hash === `#/device/${s}`, DEVICE);
  await page.waitForSelector('[data-testid=new-collect]');
  await focusIs(page, 'main', 'the device page opened');
  await shot(page, 'keyboard-device');

  // A dialog keeps Tab inside it and gives the focus back to what opened it; Escape changes nothing.
  await tabTo(page, '[data-testid=device-revoke]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('dialog[open]');
  for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
    await page.keyboard.press(key);
    assert(await page.evaluate(() => !!document.activeElement && !!document.activeElement.closest('dialog[open]')),
      `${key} in the revoke dialog stays in it: the focus is on ${(await focusOf(page)).name}`);
    assert((await focusOf(page)).ring, `the focus in the dialog shows its ring (${(await focusOf(page)).name})`);
  }
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog', { state: 'detached' });
  await focusIs(page, '[data-testid=device-revoke]', 'the revoke dialog was cancelled');
  assert(!(await page.$('[data-testid=device-revoked]')), 'cancelling the dialog revoked nothing');

  const stops = await tabTo(page, '[data-testid=new-collect]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=form-collect]');
  await focusIs(page, '[data-testid=form-collect] input[data-set=counters]', 'the collect form opened');
  await tabTo(page, '[data-testid=form-collect] [data-testid=job-submit]');
  await shot(page, 'keyboard-collect-form');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/jobs' && r.request().method() === 'POST'),
    page.keyboard.press('Enter'),
  ]);
  assert(resp.status() === 201, `POST /v1/jobs (keyboard) answered ${resp.status()}`);
  const job = await resp.json();
  await focusIs(page, '[data-testid=new-collect]', 'the collect job was created');
  const jobRow = `[data-testid=card-jobs] tr[data-job="${job.id}"]`;
  await waitFor(page, `job ${job.id} to reach succeeded on the page`, async () => {
    const shown = await page.getAttribute(jobRow, 'data-state');
    if (shown === 'succeeded') return true;
    const relay = (await api(page, `/v1/jobs/${encodeURIComponent(job.id)}`, ADMIN_TOKEN)).body.job.state;
    throw new Error(`the page shows ${shown}, the relay ${relay}`);
  }, 40000);
  // The live region said so, politely, and the focus stayed where it was.
  await waitFor(page, `the job's end to be announced`, async () => (await page.evaluate(() => window.announced)).some((t) => t.includes(`Job ${job.id}`)));
  assert(await page.evaluate(() => document.getElementById('announcer').getAttribute('aria-live')) === 'polite', 'the announcer is polite');
  await focusIs(page, '[data-testid=new-collect]', 'the announcement left the focus alone');
  log(`keyboard: collect job ${job.id} created (${stops} Tab stops from the revoke button) and succeeded`);

  await tabTo(page, '.nav-link[data-nav=alerts]', { back: true });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.startsWith('#/alerts'));
  const ack = `[data-testid=alerts-table] tr[data-serial="${KEYBOARD_ALERT_SERIAL}"][data-code="${KEYBOARD_ALERT_CODE}"] [data-testid=alert-ack]`;
  await page.waitForSelector(ack);
  await tabTo(page, ack);
  await shot(page, 'keyboard-alert-ack');
  await page.keyboard.press('Space');
  await page.waitForSelector(ack, { state: 'detached' });
  await focusIs(page, '[data-testid=alerts-table] [data-testid=alert-ack], .table-wrap', 'the alert was acknowledged');
  assert(await page.evaluate(() => !!document.activeElement.closest('[role=region][aria-label=Alerts]')), 'the focus stays in the alert list');
  assert((await focusOf(page)).ring, 'the focus after acknowledging shows its ring');
  const closed = await api(page, `/v1/alerts?serial=${encodeURIComponent(KEYBOARD_ALERT_SERIAL)}&all=1`, ADMIN_TOKEN);
  assert(closed.body.alerts.some((a) => a.code === KEYBOARD_ALERT_CODE && !a.open), `the relay closed the alert acknowledged by keyboard: ${JSON.stringify(closed.body.alerts)}`);
  await ctx.close();
  log('keyboard: signed in, opened a device, created a collect job and acknowledged an alert with Tab, Enter and Space');
}

/**
 * Every page and dialog at 1440x900 and 390x844, light and dark: no axe-core violation of WCAG
 * 2.1 A/AA; on the phone no page wider than the screen and no tap target under 44 px. A
 * screenshot of each page in each size and scheme (a11y-PAGE-SIZE-SCHEME.png).
 */
async function a11ySweep(browser, contextOpts) {
  const { ctx, page } = await a11yContext(browser, contextOpts);
  watch(page, 'a11y');
  const violations = [];
  const phone = [];
  let checks = 0;
  const started = Date.now();

  // scope: check only this part (a dialog, an opened row); the page around it was checked before.
  async function check(name, { scope, shots = !scope } = {}) {
    for (const [size, viewport] of SIZES) {
      await page.setViewportSize(viewport);
      for (const scheme of SCHEMES) {
        await page.emulateMedia({ colorScheme: scheme });
        violations.push(...await axe(page, `${name} ${size} ${scheme}`, scope));
        checks += 1;
        if (shots) {
          await page.screenshot({ path: path.join(SHOTS, `a11y-${name}-${size}-${scheme}.png`), fullPage: true, animations: 'disabled' });
        }
      }
      if (size === '390' && !scope) phone.push(...(await phoneProblems(page)).map((p) => `${name}: ${p}`));
    }
  }

  async function open(hash, ready) {
    await page.evaluate((hsh) => { location.hash = hsh; }, hash);
    await page.waitForSelector(ready);
  }

  async function dialog(name, opener) {
    await page.click(opener);
    await page.waitForSelector('dialog[open]');
    await check(name, { scope: 'dialog[open]', shots: false });
    await page.keyboard.press('Escape'); // cancels: nothing is changed
    await page.waitForSelector('dialog', { state: 'detached' });
  }

  await page.goto(URL_);
  await page.waitForSelector('[data-testid=login-token]');
  await page.fill('[data-testid=login-token]', 'at_0000000000000000000000000000000000000000000000000000000000000000');
  await page.click('[data-testid=login-submit]');
  await page.waitForFunction(() => /not valid/.test(document.querySelector('[data-testid=login-error]').textContent));
  await check('login');
  await login(page, ADMIN_TOKEN, { expectName: ADMIN_NAME, expectRole: 'admin' });

  await open('#/fleet', '[data-testid=fleet-table] tbody tr[data-serial] .mini-gauge');
  await check('fleet');
  await page.setViewportSize(SIZES[1][1]);
  await page.click('[data-testid=menu]');
  await page.waitForSelector('#nav.open');
  await check('menu', { scope: '#nav' });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#nav:not(.open)', { state: 'attached' });

  await open(`#/device/${encodeURIComponent(DEVICE)}`, '[data-testid=counters-chart] svg .chart-point');
  await page.waitForSelector('[data-testid=units-table]');
  await page.click('.chart-values summary');
  await page.waitForSelector('[data-testid=chart-values]');
  await check('device');
  // On a phone the device page is one column, and what a technician at the device needs comes
  // first: its state (the head), open alerts, supplies and the last counters, then the rest.
  await page.setViewportSize(SIZES[1][1]);
  const tops = await page.evaluate(() => {
    const top = (sel) => { const el = document.querySelector(sel); return el ? el.getBoundingClientRect().top + window.scrollY : null; };
    return {
      head: top('.device-head'), supplies: top('[data-testid=card-supplies]'), latest: top('[data-testid=card-latest]'),
      rest: ['card-counters', 'card-identification', 'card-settings', 'card-compat', 'card-structure', 'card-jobs', 'card-reports']
        .map((id) => [id, top(`[data-testid=${id}]`)]),
    };
  });
  const first = Math.max(tops.head, tops.supplies, tops.latest);
  assert(tops.head !== null && tops.supplies !== null && tops.latest !== null && tops.head < tops.supplies && tops.supplies < tops.latest,
    `on a phone the device page starts with its state, then supplies, then the last counters: ${JSON.stringify(tops)}`);
  for (const [id, y] of tops.rest) {
    assert(y !== null && y > first, `on a phone ${id} comes after state, supplies and the last counters: ${JSON.stringify(tops)}`);
  }
  await page.setViewportSize(SIZES[0][1]);
  await dialog('device-revoke-dialog', '[data-testid=device-revoke]');

  await open('#/alerts', '[data-testid=alerts-table] tbody tr[data-serial]');
  await check('alerts');

  await open('#/jobs', '[data-testid=jobs-table] tbody tr[data-job]');
  await check('jobs');
  await page.click('[data-testid=jobs-table] tbody tr[data-job] .expander button');
  await page.waitForSelector('[data-testid=jobs-table] tr.detail-row [data-testid=transitions]');
  await check('job-detail', { scope: '[data-testid=jobs-table] tr.detail-row' });

  await open('#/firmware', '[data-testid=campaigns-table] tbody tr[data-campaign]');
  await check('firmware');
  await open(`#/campaign/${encodeURIComponent(CAMPAIGN_ID)}`, '[data-testid=campaign-results] tbody tr[data-serial]');
  await check('campaign');

  await open('#/registrations', '[data-testid=registrations-table] tbody tr[data-serial]');
  await check('registrations');
  await page.click('[data-testid=registrations-table] tbody tr[data-serial] [data-testid=reg-edit]');
  await page.waitForSelector('[data-testid=registrations-table] tr.row-editing');
  await check('registration-edit', { scope: '[data-testid=registrations-table] tr.row-editing' });
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid=registrations-table] tr.row-editing', { state: 'detached' });
  await dialog('registration-delete-dialog', '[data-testid=registrations-table] tbody tr[data-serial] [data-testid=reg-delete]');

  await open('#/tables/error_codes', '[data-testid=table-rows] tbody tr[data-row]');
  await check('tables');
  await open('#/tables/compatibility', '[data-testid=table-json]');
  await check('tables-json');

  await open('#/notifications', '[data-testid=notifications-table] tbody tr[data-notification]');
  await check('notifications');
  await open('#/billing', '[data-testid=billing-table]');
  await check('billing');
  await open('#/access', '[data-testid=credentials-table]');
  await check('access');

  await ctx.close();
  log(`accessibility: ${checks} axe-core checks (WCAG 2.1 A/AA) at 1440 and 390 px, light and dark, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const lines = violations.map((v) => `  ${v.where}: ${v.id} (${v.impact}) ${v.help}\n${v.targets.map((t) => `      ${t}`).join('\n')}`);
  assert(!violations.length, `axe-core found ${violations.length} violation(s):\n${lines.join('\n')}`);
  assert(!phone.length, `on a 390 px phone:\n  ${phone.join('\n  ')}`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const contextOpts = {
    viewport: { width: 1440, height: 900 },
    ignoreHTTPSErrors: env('IGNORE_HTTPS_ERRORS') === '1',
    acceptDownloads: true,
    timezoneId: 'UTC',
    locale: 'en-GB',
  };
  const ctx = await browser.newContext(contextOpts);
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  watch(page, 'admin');
  try {
    await run(browser, contextOpts, page);
  } catch (e) {
    console.error(`FAIL: ${e.stack || e}`);
    try {
      await page.screenshot({ path: path.join(SHOTS, 'FAILED.png'), fullPage: true });
      console.error(`screenshot of the failure: ${path.join(SHOTS, 'FAILED.png')}`);
    } catch { /* the page may be gone */ }
    await browser.close();
    process.exit(1);
  }
  await browser.close();
}

async function run(browser, contextOpts, page) {
  await keyboardWalk(browser, contextOpts);

  // ---- 1. log in (a wrong token first) ----
  await page.goto(URL_);
  await page.waitForSelector('[data-testid=login-token]');
  await shot(page, 'login');
  await page.fill('[data-testid=login-token]', 'at_0000000000000000000000000000000000000000000000000000000000000000');
  await page.click('[data-testid=login-submit]');
  await page.waitForFunction(() => /not valid/.test(document.querySelector('[data-testid=login-error]').textContent));
  await shot(page, 'login-refused');
  await login(page, ADMIN_TOKEN, { expectName: ADMIN_NAME, expectRole: 'admin' });
  const stored = await page.evaluate(() => sessionStorage.getItem('printrelay.token'));
  assert(stored === ADMIN_TOKEN, 'the token is kept in sessionStorage');
  log('logged in as admin; live indicator on');

  // ---- 2. fleet: every device, counts, escaping, filters, search ----
  const fleetRows = '[data-testid=fleet-table] tbody tr[data-serial]';
  await waitFor(page, `${DEVICE_COUNT} fleet rows`, async () => (await rows(page, fleetRows)) === DEVICE_COUNT);
  const allCount = (await page.textContent('[data-testid=fleet-counts] [data-filter=all] .stat-value')).trim();
  assert(Number(allCount.replace(/\D/g, '')) === DEVICE_COUNT, `the "All devices" count shows ${allCount}`);
  await page.waitForSelector(`${fleetRows}[data-serial="${DEVICE}"] .mini-gauge`);
  const gauges = await rows(page, `${fleetRows}[data-serial="${DEVICE}"] .mini-gauge`);
  assert(gauges === 4, `${DEVICE} shows ${gauges} supply gauges (want 4 toners)`);
  const cells = await page.$eval(`${fleetRows}[data-serial="${ESCAPE_SERIAL}"]`, (tr) => ({
    place: tr.children[2].textContent, customer: tr.children[3].textContent, tags: tr.querySelectorAll('img, script, b').length,
  }));
  assert(cells.place === env('ESCAPE_PLACE'), `the place is shown as typed: ${JSON.stringify(cells.place)}`);
  assert(cells.customer === env('ESCAPE_CUSTOMER'), `the customer is shown as typed: ${JSON.stringify(cells.customer)}`);
  assert(cells.tags === 0, 'no element was made from server text');
  assert(await page.evaluate(() => window.__pwned === undefined), 'no script from server text ran');
  await shot(page, 'fleet');

  await page.click('[data-testid=fleet-counts] [data-filter=alerts]');
  await waitFor(page, 'the open-alerts filter', async () => {
    const shown = await page.$$eval(fleetRows, (els) => els.map((e) => [e.dataset.serial, !!e.querySelector('.count-badge')]));
    return shown.some(([s]) => s === ALERT_SERIAL) && shown.every(([, badge]) => badge);
  });
  assert((await page.evaluate(() => location.hash)).includes('state=alerts'), 'the filter is in the URL');
  await shot(page, 'fleet-filter-open-alerts');
  await page.click('[data-testid=fleet-counts] [data-filter=alerts]'); // off again

  await page.fill('[data-testid=fleet-search]', DEVICE.toLowerCase());
  await waitFor(page, `the search to leave ${DEVICE} alone`, async () => {
    const serials = await page.$$eval(fleetRows, (els) => els.map((e) => e.dataset.serial));
    return serials.length === 1 && serials[0] === DEVICE;
  });
  await shot(page, 'fleet-search');

  // ---- 3. the device page and its counters chart ----
  await page.click(`${fleetRows}[data-serial="${DEVICE}"] [data-testid=device-link]`);
  await page.waitForFunction((s) => location.hash === `#/device/${s}`, DEVICE);
  await page.waitForSelector('[data-testid=counters-chart] svg .chart-point');
  const printPoints = async () => page.$$eval('[data-testid=counters-chart] .chart-series[data-series=print] .chart-point',
    (els) => els.map((e) => Number(e.getAttribute('data-value'))));
  const before = await printPoints();
  assert(before.length >= 4, `the chart has ${before.length} points for print (want the readings: >= 4)`);
  const polyline = await page.$eval('[data-testid=counters-chart] .chart-series[data-series=print] polyline', (p) => p.getAttribute('points').trim().split(/\s+/).length);
  assert(polyline === before.length, `the print line joins its ${before.length} points (${polyline})`);
  for (let i = 1; i < before.length; i++) assert(before[i] >= before[i - 1], `print counter never falls: ${before}`);
  await waitFor(page, 'the counters shown to match the API', async () => {
    const r = await api(page, `/v1/reports?serial=${encodeURIComponent(DEVICE)}&kind=counters&limit=1`, ADMIN_TOKEN);
    const newest = r.body.reports[0].body;
    const total = Number(await page.getAttribute('[data-testid=counter-total]', 'data-value'));
    const shownText = (await page.textContent('[data-testid=counter-total]')).replace(/\D/g, '');
    const lastPrint = (await printPoints()).at(-1);
    return total === newest.total && Number(shownText) === newest.total && lastPrint === newest.print;
  });
  for (const id of ['card-identification', 'card-supplies', 'card-structure', 'card-settings', 'card-reports', 'card-compat']) {
    await page.waitForSelector(`[data-testid=${id}]`);
  }
  assert((await rows(page, '[data-testid=units-table] tbody tr')) >= 3, 'the structure lists the units');
  await waitFor(page, `the compatibility verdict ${EXPECT_VERDICT}`, async () => (await page.getAttribute('[data-testid=compat] .verdict .pill', 'data-state')) === EXPECT_VERDICT);
  const [unit, version] = EXPECT_RECOMMENDED.split('=');
  const rec = await page.$eval(`[data-testid=units-table] tr[data-unit="${unit}"] [data-testid=recommended]`, (td) => td.textContent.trim());
  assert(rec === version, `unit ${unit}: recommended ${JSON.stringify(rec)}, want ${version}`);
  await shot(page, 'device');
  log(`device page: ${before.length} readings charted; the latest total matches the API`);

  // ---- 4. a collect job created here ends without a reload (the event stream) ----
  await page.click('[data-testid=new-collect]');
  await page.waitForSelector('[data-testid=form-collect]');
  await page.check('[data-testid=form-collect] input[data-set=structure]');
  const at = await page.evaluate(() => {
    const d = new Date(Date.now() + 5000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  });
  await page.fill('[data-testid=job-execute-at]', at);
  await shot(page, 'collect-form');
  await page.evaluate(() => { window.__sameDocument = true; });
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/jobs' && r.request().method() === 'POST'),
    page.click('[data-testid=form-collect] [data-testid=job-submit]'),
  ]);
  assert(resp.status() === 201, `POST /v1/jobs answered ${resp.status()}`);
  const job = await resp.json();
  assert(job.kind === 'collect' && job.execute_at, `the job carries its execution time: ${JSON.stringify(job)}`);
  const rowSel = `[data-testid=card-jobs] tr[data-job="${job.id}"]`;
  await page.waitForSelector(rowSel);
  const seen = [];
  let acquiredShot = false;
  await waitFor(page, `job ${job.id} to reach succeeded on the page`, async () => {
    const s = await page.getAttribute(rowSel, 'data-state');
    if (seen.at(-1) !== s) {
      seen.push(s);
      log(`job ${job.id}: ${s}`);
    }
    if (!acquiredShot && (s === 'acquired' || s === 'running')) {
      acquiredShot = true;
      await shot(page, 'collect-job-acquired');
    }
    if (['failed', 'cancelled', 'expired'].includes(s)) throw new Error(`job ended ${s}`);
    return s === 'succeeded';
  }, 40000, 50);
  assert(seen.length >= 2 && seen[0] !== 'succeeded', `the row changed state in place: ${seen.join(' → ')}`);
  assert(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  await page.click(`${rowSel} .expander button`);
  const trans = `[data-detail-for="${job.id}"] [data-testid=transitions] li`;
  await waitFor(page, 'the transitions', async () => (await rows(page, trans)) >= 3);
  const lastTo = await page.$$eval(trans, (els) => els.at(-1).dataset.to);
  assert(lastTo === 'succeeded', `the last transition is ${lastTo}`);
  await waitFor(page, 'the new reading on the chart (live)', async () => (await printPoints()).length > before.length);
  await shot(page, 'collect-job-succeeded');
  log(`collect job seen live: ${seen.join(' → ')}; the chart gained the new reading`);

  // ---- 5. acknowledge an alert ----
  await nav(page, 'alerts');
  const alertRow = `[data-testid=alerts-table] tr[data-serial="${ALERT_SERIAL}"][data-code="${ALERT_CODE}"]`;
  await page.waitForSelector(alertRow);
  const text = (await page.textContent(`${alertRow} [data-testid=alert-text]`)).trim();
  assert(text.length > 3, `the alert says what happened: ${JSON.stringify(text)}`);
  assert(text.startsWith(ALERT_TEXT), `the alert shows the error-code text: ${JSON.stringify(text)}`);
  const action = (await page.textContent(`${alertRow} [data-testid=alert-action]`)).trim();
  assert(action === ALERT_ACTION, `the alert says what to do: ${JSON.stringify(action)}`);
  const badgeBefore = Number(await page.textContent('[data-testid=nav-alert-count]'));
  await shot(page, 'alerts');
  await page.click(`${alertRow} [data-testid=alert-ack]`);
  await page.waitForSelector(alertRow, { state: 'detached' });
  const after = await api(page, `/v1/alerts?serial=${encodeURIComponent(ALERT_SERIAL)}&all=1`, ADMIN_TOKEN);
  const mine = after.body.alerts.filter((a) => a.code === ALERT_CODE);
  assert(mine.length && mine.every((a) => !a.open), `the relay closed the alert: ${JSON.stringify(mine)}`);
  const badgeAfter = Number(await page.textContent('[data-testid=nav-alert-count]').catch(() => '0')) || 0;
  assert(badgeAfter === badgeBefore - 1, `the nav count went from ${badgeBefore} to ${badgeAfter}`);
  await shot(page, 'alert-acknowledged');

  // ---- 6. firmware: the campaign and its result table ----
  await nav(page, 'firmware');
  const campRow = `[data-testid=campaigns-table] tr[data-campaign="${CAMPAIGN_ID}"]`;
  await page.waitForSelector(campRow);
  assert((await rows(page, '[data-testid=artifacts-table] tbody tr')) >= 1, 'the artifact is listed');
  await shot(page, 'firmware');
  await page.click(`${campRow} [data-testid=campaign-link]`);
  await page.waitForFunction((id) => location.hash === `#/campaign/${id}`, CAMPAIGN_ID);
  const res = '[data-testid=campaign-results] tbody tr[data-serial]';
  await page.waitForSelector(res);
  assert((await rows(page, res)) === CAMPAIGN_DEVICES, `the result table has ${await rows(page, res)} rows, want ${CAMPAIGN_DEVICES}`);
  const outcomes = await page.$$eval(res, (els) => els.map((e) => [e.dataset.outcome, e.textContent]));
  assert(outcomes.every(([o, t]) => o === 'completed' && t.toLowerCase().includes('updating completed')), `results: ${JSON.stringify(outcomes)}`);
  const done = Number(await page.textContent('[data-testid=tally-completed]'));
  assert(done === CAMPAIGN_DEVICES, `the progress shows ${done} completed`);
  await shot(page, 'campaign');

  // ---- 7. billing: the CSV download ----
  await nav(page, 'billing');
  await page.waitForSelector('[data-testid=billing-table]');
  await shot(page, 'billing');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=billing-download]')]);
  const csvPath = path.join(SHOTS, 'billing.csv');
  await download.saveAs(csvPath);
  const csv = fs.readFileSync(csvPath, 'utf8');
  const lines = csv.split(/\r?\n/);
  assert(lines[0] === BILLING_HEADER, `the CSV starts with its header line: ${JSON.stringify(lines[0])}`);
  assert(lines.some((l) => l.startsWith(`${DEVICE},`)), `the CSV has rows for ${DEVICE}`);
  assert(/^billing-.*\.csv$/.test(download.suggestedFilename()), `the file is named ${download.suggestedFilename()}`);
  log(`billing CSV: ${lines.filter(Boolean).length - 1} rows, saved as ${download.suggestedFilename()}`);

  // ---- 8. the other pages ----
  await nav(page, 'jobs');
  await page.waitForSelector(`[data-testid=jobs-table] tr[data-job="${job.id}"][data-state=succeeded]`);
  await shot(page, 'jobs');

  await nav(page, 'registrations');
  const regRows = '[data-testid=registrations-table] tbody tr[data-serial]';
  await waitFor(page, 'the registrations', async () => (await rows(page, regRows)) >= DEVICE_COUNT);
  await page.click('[data-testid=reg-add]');
  const editRow = '[data-testid=registrations-table] tr.row-editing';
  await page.fill(`${editRow} input[aria-label=Serial]`, 'NEW-0001');
  await page.fill(`${editRow} input[aria-label=Model]`, 'MX-4070');
  await page.fill(`${editRow} input[aria-label=Place]`, 'Lobby');
  await page.fill(`${editRow} input[aria-label=Customer]`, 'ACME Corp');
  await page.fill(`${editRow} input[aria-label="Enrollment code"]`, 'code-1234');
  await shot(page, 'registration-add');
  await page.click(`${editRow} [data-testid=reg-save]`);
  await page.waitForSelector(`${regRows}[data-serial="NEW-0001"]:not(.row-editing)`);
  await page.click(`${regRows}[data-serial="NEW-0001"] [data-testid=reg-edit]`);
  await page.fill(`${editRow} input[aria-label=Place]`, 'Lobby, 2nd floor');
  await page.click(`${editRow} [data-testid=reg-save]`);
  await waitFor(page, 'the edited place', async () => {
    const r = await api(page, '/v1/registrations', ADMIN_TOKEN);
    return r.body.registrations.some((x) => x.serial === 'NEW-0001' && x.place === 'Lobby, 2nd floor');
  });
  await page.click(`${regRows}[data-serial="NEW-0001"] [data-testid=reg-delete]`);
  await page.click('dialog [data-testid=confirm-ok]');
  await page.waitForSelector(`${regRows}[data-serial="NEW-0001"]`, { state: 'detached' });
  const regs = await api(page, '/v1/registrations', ADMIN_TOKEN);
  assert(!regs.body.registrations.some((x) => x.serial === 'NEW-0001'), 'the registration was deleted');
  await shot(page, 'registrations');
  log('registrations: added, edited and deleted a row');

  await nav(page, 'tables');
  await page.waitForSelector('[data-testid=table-rows]');
  assert((await rows(page, '[data-testid=table-rows] tbody tr[data-row]')) >= 1, 'the error-code table has rows');
  await shot(page, 'tables-error-codes');
  await page.click('.tab[data-table=compatibility]');
  await page.waitForSelector('[data-testid=table-json]');
  const rev = await api(page, '/v1/tables/compatibility', ADMIN_TOKEN);
  await page.fill('[data-testid=table-json]', '{"this": "is not an array of models"}');
  await page.click('[data-testid=table-save]');
  await waitFor(page, 'the relay\'s validation message', async () => (await page.textContent('[data-testid=table-error]')).trim().length > 10);
  const rev2 = await api(page, '/v1/tables/compatibility', ADMIN_TOKEN);
  assert(rev2.body.revision === rev.body.revision, 'a refused table changes nothing');
  log(`tables: the relay refused a bad compatibility table: ${(await page.textContent('[data-testid=table-error]')).trim()}`);
  await shot(page, 'tables-validation-error');

  await nav(page, 'notifications');
  await page.waitForSelector('[data-testid=notifications-table]');
  await waitFor(page, 'the record of notifications', async () => (await rows(page, '[data-testid=notifications-table] tbody tr[data-notification]')) >= 1);
  await shot(page, 'notifications');

  // ---- 9. a viewer sees no action buttons ----
  const vctx = await browser.newContext(contextOpts);
  vctx.setDefaultTimeout(15000);
  const vpage = await vctx.newPage();
  watch(vpage, 'viewer');
  await vpage.goto(`${URL_}#/alerts`);
  await vpage.waitForSelector('[data-testid=login-token]');
  await login(vpage, VIEWER_TOKEN, { expectRole: 'viewer' });
  await vpage.waitForSelector(`[data-testid=alerts-table] tr[data-serial="${OTHER_ALERT_SERIAL || ALERT_SERIAL}"]`);
  assert((await rows(vpage, '[data-testid=alert-ack]')) === 0, 'a viewer sees no Acknowledge button');
  await shot(vpage, 'viewer-alerts');
  await vpage.goto(`${URL_}#/device/${encodeURIComponent(DEVICE)}`);
  await vpage.waitForSelector('[data-testid=counters-chart] svg');
  assert((await rows(vpage, '[data-testid=new-collect], [data-testid=job-cancel], [data-testid=job-ack]')) === 0, 'a viewer sees no job buttons');
  await vpage.goto(`${URL_}#/registrations`);
  await vpage.waitForSelector('[data-testid=registrations-table]');
  assert((await rows(vpage, '[data-testid=reg-add], [data-testid=reg-edit], [data-testid=reg-delete]')) === 0, 'a viewer cannot edit registrations');
  await vpage.goto(`${URL_}#/campaign/${encodeURIComponent(CAMPAIGN_ID)}`);
  await vpage.waitForSelector('[data-testid=campaign-results]');
  assert((await rows(vpage, '[data-testid=campaign-resume], [data-testid=campaign-cancel]')) === 0, 'a viewer sees no campaign buttons');
  await vpage.goto(`${URL_}#/device/${encodeURIComponent(DEVICE)}`);
  await vpage.waitForSelector('[data-testid=counters-chart] svg');
  await shot(vpage, 'viewer-device');
  await vctx.close();
  log('viewer: no action buttons');

  // ---- 10. the live stream: SSE framing, and a silent stream is dropped and reopened ----
  const frames = await page.evaluate(async () => {
    const { SseParser } = await import('/ui/api.js');
    const out = [];
    const parser = new SseParser((ev) => out.push(ev));
    // Split anywhere, CRLF or LF, comments, multi-line data.
    for (const chunk of [': keepalive\r\n\r', '\nevent: job\r\ndata: {"a"', ':1}\r\n\r\nevent: report\ndata: x\ndata: y\n', '\n']) parser.push(chunk);
    return out;
  });
  assert(JSON.stringify(frames) === JSON.stringify([{ type: 'job', data: { a: 1 }, id: '' }, { type: 'report', data: 'x\ny', id: '' }]),
    `SSE frames parsed: ${JSON.stringify(frames)}`);
  {
    const rctx = await browser.newContext(contextOpts);
    const rpage = await rctx.newPage();
    watch(rpage, 'reconnect');
    await rpage.clock.install(); // the page's timers run on a clock the test moves
    await rpage.goto(`${URL_}#/registrations`);
    await rpage.waitForSelector('[data-testid=login-token]');
    await login(rpage, ADMIN_TOKEN, { expectName: ADMIN_NAME, expectRole: 'admin' });
    // A row is being edited while the stream drops and comes back: the page reloads the list
    // (events may have been missed meanwhile), and what was typed stays.
    const regRow = '[data-testid=registrations-table] tbody tr[data-serial]';
    await rpage.waitForSelector(regRow);
    await rpage.click(`${regRow} [data-testid=reg-edit]`);
    const editPlace = '[data-testid=registrations-table] tr.row-editing input[aria-label=Place]';
    await rpage.fill(editPlace, 'typed during a reconnect');
    let opened = 0;
    let reloads = 0;
    rpage.on('request', (r) => { if (new URL(r.url()).pathname === '/v1/events') opened += 1; });
    rpage.on('requestfinished', (r) => { if (new URL(r.url()).pathname === '/v1/registrations') reloads += 1; });
    await rpage.clock.fastForward(46000); // no byte for 45 s: the stream is given up
    await rpage.waitForSelector('[data-testid=live].live-retrying', { timeout: 5000 });
    await shot(rpage, 'live-reconnecting');
    await rpage.clock.fastForward(3000); // the first retry comes after about a second
    await rpage.waitForSelector('[data-testid=live].live-live', { timeout: 10000 });
    assert(opened >= 1, 'the stream was opened again');
    await waitFor(rpage, 'the list reloaded after the reconnect', async () => reloads >= 1);
    const kept = await rpage.inputValue(editPlace);
    assert(kept === 'typed during a reconnect', `the row being edited kept what was typed: ${JSON.stringify(kept)}`);
    await rctx.close();
    log('live stream: frames parsed; a silent stream was dropped and reopened; the row being edited kept its input');
  }

  // ---- 11. revocation: a device's, a viewer's and a child relay's credential, refused at once ----
  {
    // A device of its own, enrolled here, so that the test holds its credential.
    const serial = 'REV-0001';
    const device = { serial, model: 'MX-4070', enrollment_code: 'code-rev-2026' };
    const reg = await call(page, 'POST', '/v1/registrations', {
      token: ADMIN_TOKEN, body: { ...device, place: 'Test bench', customer: 'ACME Corp' },
    });
    assert(reg.status === 200 || reg.status === 201, `POST /v1/registrations answered ${reg.status}`);
    const enrol = async () => {
      const e = await call(page, 'POST', '/v1/device/enroll', { body: device });
      assert(e.status === 201 && e.body.device_token, `the enrolment of ${serial} answered ${e.status}: ${JSON.stringify(e.body)}`);
      return e.body.device_token;
    };
    const poll = async (token) => (await call(page, 'POST', '/v1/device/poll', { token, body: { state: 'idle' } })).status;
    const deviceToken = await enrol();
    assert((await poll(deviceToken)) === 200, 'the new device credential works');

    await page.evaluate((s) => { location.hash = `#/device/${encodeURIComponent(s)}`; }, serial);
    await page.click('[data-testid=device-revoke]');
    await page.waitForSelector('dialog[open] [data-testid=confirm-detail]');
    const said = await page.textContent('dialog[open] [data-testid=confirm-detail]');
    assert(/every node refuses it at once/i.test(said) && /enrol again with its enrollment code/i.test(said),
      `the confirmation says what revocation does: ${JSON.stringify(said)}`);
    await shot(page, 'device-revoke-confirm');
    await page.click('dialog [data-testid=confirm-ok]');
    await page.waitForSelector('[data-testid=device-revoked]');
    await page.waitForSelector('.device-head h1 .pill[data-state=revoked]');
    assert((await rows(page, '[data-testid=device-revoke]')) === 0, 'a revoked device offers no second revocation');
    assert((await poll(deviceToken)) === 401, 'the revoked device credential is refused');
    const dev = await api(page, `/v1/devices/${encodeURIComponent(serial)}`, ADMIN_TOKEN);
    assert(dev.body.device.state === 'revoked', `the relay shows ${serial} as ${dev.body.device.state}`);
    await shot(page, 'device-revoked');

    // As the dialog says, the device may enrol again with its code; the old credential stays refused.
    const renewed = await enrol();
    assert((await poll(renewed)) === 200, 'the device enrols again after the revocation');
    assert((await poll(deviceToken)) === 401, 'the revoked credential stays refused');
    await page.waitForSelector('[data-testid=device-revoked][data-again=yes]'); // live: its state changed
    log(`device ${serial}: revoked in the browser, refused (401), enrolled again`);

    // A child relay, to be listed and revoked too; a relay credential may only sync (403 elsewhere).
    const child = await call(page, 'POST', '/v1/relays', { token: ADMIN_TOKEN, body: { id: 'branch-test', customers: ['ACME Corp'] } });
    assert(child.status === 201, `POST /v1/relays answered ${child.status}`);
    const relayToken = child.body.token;
    assert((await call(page, 'GET', '/v1/whoami', { token: relayToken })).status === 403, 'the relay credential is known');

    // A viewer sees the page without Revoke buttons, and is signed out once revoked.
    let vctx = null;
    let vpage = null;
    vctx = await browser.newContext(contextOpts);
    vctx.setDefaultTimeout(15000);
    vpage = await vctx.newPage();
    watch(vpage, 'viewer');
    await vpage.goto(`${URL_}#/access`);
    await vpage.waitForSelector('[data-testid=login-token]');
    await login(vpage, VIEWER_TOKEN, { expectRole: 'viewer' });
    await vpage.waitForSelector('[data-testid=relays-table] tr[data-relay="branch-test"]');
    assert((await rows(vpage, '[data-testid=credential-revoke], [data-testid=relay-revoke]')) === 0, 'a viewer sees no Revoke button');
    assert(/admin role/.test(await vpage.textContent('[data-testid=access-readonly]')), 'the viewer is told why');
    await shot(vpage, 'viewer-access');

    await nav(page, 'access');
    await page.waitForSelector('[data-testid=credentials-table]');
    const self = `[data-testid=credentials-table] tr[data-name="${ADMIN_NAME}"]`;
    assert((await rows(page, `${self} [data-testid=credential-revoke]`)) === 0 && (await rows(page, `${self} [data-testid=credential-self]`)) === 1,
      'the signed-in credential cannot be revoked from its own page');
    await shot(page, 'access');
    const who = (await api(page, '/v1/whoami', VIEWER_TOKEN)).body.name;
    await page.click(`[data-testid=credentials-table] tr[data-name="${who}"] [data-testid=credential-revoke]`);
    await page.waitForSelector('dialog[open] [data-testid=confirm-detail]');
    assert(/every node refuses it at once/i.test(await page.textContent('dialog[open] [data-testid=confirm-detail]')), 'the confirmation says what revocation does');
    await shot(page, 'access-revoke-confirm');
    await page.click('dialog [data-testid=confirm-ok]');
    await page.waitForSelector(`[data-testid=credentials-table] tr[data-name="${who}"]`, { state: 'detached' });
    assert(await page.evaluate(() => document.activeElement && document.activeElement.closest('[data-testid=card-credentials]') !== null),
      'focus stays in the list after the row is gone');
    const refused = await call(page, 'GET', '/v1/whoami', { token: VIEWER_TOKEN });
    assert(refused.status === 401, `the revoked viewer credential answered ${refused.status}`);
    const creds = await api(page, '/v1/credentials', ADMIN_TOKEN);
    assert(!creds.body.credentials.some((c) => c.name === who), `${who} is no longer listed`);
    await nav(vpage, 'fleet'); // its next request is refused: the page signs out
    await vpage.waitForSelector('[data-testid=login-token]');
    assert(/session ended/.test(await vpage.textContent('[data-testid=login-error]')), 'the viewer is told the session ended');
    await shot(vpage, 'viewer-revoked');
    await vctx.close();
    log(`viewer ${who}: revoked in the browser, refused (401), its open page signed out`);

    await page.click('[data-testid=relays-table] tr[data-relay="branch-test"] [data-testid=relay-revoke]');
    await page.click('dialog [data-testid=confirm-ok]');
    await page.waitForSelector('[data-testid=relays-table] tr[data-relay="branch-test"]', { state: 'detached' });
    assert((await call(page, 'GET', '/v1/whoami', { token: relayToken })).status === 401, 'the revoked relay credential is refused');
    const relays = await api(page, '/v1/relays', ADMIN_TOKEN);
    assert(!relays.body.relays.some((x) => x.id === 'branch-test'), 'the child relay is no longer listed');
    await shot(page, 'access-revoked');
    log('child relay branch-test: revoked in the browser, refused (401)');
  }

  // ---- 12. accessibility: every page and dialog, two sizes, two colour schemes ----
  await a11ySweep(browser, contextOpts);

  // ---- 13. sign out ----
  await page.click('[data-testid=logout]');
  await page.waitForSelector('[data-testid=login-token]');
  assert(await page.evaluate(() => sessionStorage.getItem('printrelay.token') === null), 'signing out forgets the token');
  await shot(page, 'signed-out');

  assert(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join('; ')}`);
  log(`PASS (${shotNo} screenshots in ${SHOTS})`);
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
