// ui_browser.js — drives headless Chromium against the admin web page of a running heraldd that
// ui_heraldd.sh set up, and checks what a user sees there. No npm package: Chromium's DevTools
// protocol over --remote-debugging-pipe (NUL-separated JSON on fds 3 and 4).
//
//   CHROMIUM=/usr/bin/chromium ADMIN=http://127.0.0.1:PORT TMP=DIR node ui_browser.js
// TMP holds the subscribers' records (ok.jsonl, fail.jsonl). UI_SCREENSHOT=FILE.png saves what the
// page looked like at the end (to look at by hand). Prints "ok"/"FAIL" lines like lib.sh
// and "N passed, N failed"; exit 1 on any failure.
'use strict';
const {spawn} = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const CHROMIUM = process.env.CHROMIUM;
const ADMIN = process.env.ADMIN;
const TMP = process.env.TMP;
const WAIT_MS = 10000; // how long a check waits for the page to show something (polled)

let pass = 0;
let fail = 0;
const ok = (name) => { pass++; console.log('ok   ' + name); };
const bad = (name, why) => { fail++; console.log('FAIL ' + name + (why !== undefined ? ' — ' + why : '')); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));

// ---- the DevTools protocol over a pipe --------------------------------------------------------

class Browser {
  constructor(bin, profile, log) {
    this.proc = spawn(bin, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--remote-debugging-pipe', '--user-data-dir=' + profile, '--window-size=1280,1000',
      '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-sync',
      '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
      '--mute-audio', 'about:blank',
    ], {stdio: ['ignore', log, log, 'pipe', 'pipe']});
    this.next = 1;
    this.waiting = new Map();
    this.listeners = [];
    this.buf = '';
    this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res(code ?? sig)));
    this.proc.on('error', (e) => this.fatal('cannot start ' + bin + ': ' + e.message));
    this.proc.stdio[4].on('data', (d) => {
      this.buf += d.toString('utf8');
      let i;
      while ((i = this.buf.indexOf('\0')) >= 0) {
        const m = JSON.parse(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        if (m.id && this.waiting.has(m.id)) {
          const {resolve, reject, method} = this.waiting.get(m.id);
          this.waiting.delete(m.id);
          if (m.error) reject(new Error(method + ': ' + m.error.message));
          else resolve(m.result);
        } else if (m.method) {
          for (const l of this.listeners) l(m);
        }
      }
    });
    this.exited.then((how) => this.fatal('chromium exited (' + how + ')'));
  }

  fatal(why) {
    for (const {reject} of this.waiting.values()) reject(new Error(why));
    this.waiting.clear();
    this.dead = why;
  }

  send(method, params, sessionId) {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.next++;
    const msg = {id, method, params: params || {}};
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {resolve, reject, method});
      this.proc.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }

  on(fn) { this.listeners.push(fn); }

  close() {
    this.send('Browser.close').catch(() => {});
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    return this.exited.then(() => clearTimeout(t));
  }
}

// One tab: evaluate JavaScript in the page, wait for what it shows.
class Page {
  constructor(b, sessionId) { this.b = b; this.s = sessionId; }

  send(method, params) { return this.b.send(method, params, this.s); }

  async eval(expr) {
    const r = await this.send('Runtime.evaluate', {expression: expr, returnByValue: true, awaitPromise: true});
    if (r.exceptionDetails) {
      const e = r.exceptionDetails;
      throw new Error((e.exception && e.exception.description) || e.text);
    }
    return r.result.value;
  }

  // Polls expr until it is truthy (its value) or WAIT_MS pass (undefined); the last value or
  // error is kept in this.last for the message of the failed check.
  async waitFor(expr) {
    const end = Date.now() + WAIT_MS;
    for (;;) {
      try {
        const v = await this.eval(expr);
        this.last = v;
        if (v) return v;
      } catch (e) {
        this.last = 'error: ' + e.message;
      }
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async navigate(url) {
    const loaded = new Promise((res) => {
      const l = (m) => { if (m.sessionId === this.s && m.method === 'Page.loadEventFired') res(); };
      this.b.on(l);
    });
    const r = await this.send('Page.navigate', {url});
    if (r.errorText) throw new Error('navigate ' + url + ': ' + r.errorText);
    await loaded;
  }
}

// ---- helpers -----------------------------------------------------------------------------------

const lines = (name) => {
  try {
    return fs.readFileSync(path.join(TMP, name + '.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch (e) {
    return [];
  }
};

async function until(fn) {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const v = fn();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// JS source that finds the table row of ns/name in table `id` (null when absent).
const row = (id, k) => `document.querySelector('#${id} tr[data-key=' + CSS.escape(${JSON.stringify(k)}) + ']')`;

async function main() {
  if (!CHROMIUM || !ADMIN || !TMP) throw new Error('CHROMIUM, ADMIN and TMP must be set');
  const log = fs.openSync(path.join(TMP, 'chromium.log'), 'w');
  const b = new Browser(CHROMIUM, path.join(TMP, 'chromium-profile'), log);
  try {
    const {targetId} = await b.send('Target.createTarget', {url: 'about:blank'});
    const {sessionId} = await b.send('Target.attachToTarget', {targetId, flatten: true});
    const p = new Page(b, sessionId);
    const errors = [];
    const requests = [];
    b.on((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.exceptionThrown') errors.push(m.params.exceptionDetails.exception?.description || m.params.exceptionDetails.text);
      if (m.method === 'Log.entryAdded' && m.params.entry.level === 'error') errors.push(m.params.entry.text + ' ' + (m.params.entry.url || ''));
      if (m.method === 'Network.requestWillBeSent') requests.push(m.params.request.url);
    });
    await Promise.all(['Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable'].map((x) => p.send(x)));

    // 1. / on the admin port leads to the page
    await p.navigate(ADMIN + '/');
    const at = await p.eval('location.pathname');
    check('/ redirects to /ui/', at === '/ui/', 'the browser is at ' + at);
    if (at !== '/ui/') await p.navigate(ADMIN + '/ui/');
    check('the page has its title', (await p.eval('document.title')) === 'Herald');

    // 2. the failing trigger: red, with its last error; the healthy one not
    const failing = await p.waitFor(`${row('triggers', 'ns1/t-fail')}?.classList.contains('failing')`);
    check('the trigger whose subscriber answers 500 is marked failing', failing,
      'row: ' + JSON.stringify(await p.eval(`${row('triggers', 'ns1/t-fail')}?.outerHTML ?? null`).catch(() => null)));
    const failText = await p.eval(`${row('triggers', 'ns1/t-fail')}?.querySelector('.delivery')?.textContent ?? ''`);
    check('the failing trigger shows its last answer (500)', /500/.test(failText) && /fail/i.test(failText), failText);
    const color = await p.eval(`(() => { const c = ${row('triggers', 'ns1/t-fail')}?.querySelector('.delivery');
      return c ? getComputedStyle(c).color : ''; })()`);
    const rgb = (color.match(/\d+/g) || []).map(Number);
    check('the failing trigger is shown in red', rgb.length >= 3 && rgb[0] >= 150 && rgb[1] < 90 && rgb[2] < 90, color);
    const bg = await p.eval(`(() => { const c = ${row('triggers', 'ns1/t-fail')}?.querySelector('td');
      return c ? getComputedStyle(c).backgroundColor : ''; })()`);
    const bgc = (bg.match(/\d+/g) || []).map(Number);
    check('the failing trigger\'s row has a red background', bgc.length >= 3 && bgc[0] > bgc[1] + 10 && bgc[0] > bgc[2] + 10, bg);

    const okRow = await p.waitFor(`${row('triggers', 'ns1/t-ok')}?.querySelector('.delivery')?.textContent`);
    check('the healthy trigger is listed', okRow !== undefined, p.last);
    check('the healthy trigger is not marked failing',
      (await p.eval(`${row('triggers', 'ns1/t-ok')}?.classList.contains('failing')`)) === false && !/fail/i.test(okRow || ''), okRow);

    // a subscription is shown the same way
    const subFailing = await p.waitFor(`${row('subscriptions', 'ns1/s-fail')}?.classList.contains('failing') &&
      ${row('subscriptions', 'ns1/s-fail')}.querySelector('.delivery').textContent`);
    check('the failing subscription is marked failing with its answer (503)', /503/.test(subFailing || ''), p.last);
    const subOk = await p.waitFor(`${row('subscriptions', 'ns1/s-ok')}?.querySelector('.delivery')?.textContent`);
    check('the healthy subscription is not marked failing', subOk !== undefined && !/fail/i.test(subOk) &&
      (await p.eval(`${row('subscriptions', 'ns1/s-ok')}?.classList.contains('failing')`)) === false, subOk);

    // 3. filters shown: attributes and CESQL
    const fOk = await p.eval(`${row('triggers', 'ns1/t-ok')}?.querySelector('.filters')?.textContent ?? ''`);
    check('the attributes filter is shown', fOk.includes('type=com.example.ok'), fOk);
    const fSql = await p.eval(`${row('triggers', 'ns1/t-sql')}?.querySelector('.filters')?.textContent ?? ''`);
    check('the CESQL filter is shown', fSql.includes("source LIKE '/sql/%'") && fSql.includes('type=com.example.sql'), fSql);

    // 4. the dead-letter panel lists the failing trigger's dead letters; replay sends one again
    const nDead = await p.waitFor(`document.getElementById('dlq-pick')?.value === 'triggers/ns1/t-fail' &&
      document.querySelectorAll('#dlq tr[data-seq]').length`);
    check('the dead-letter panel lists the failing trigger\'s 2 dead letters', nDead === 2, p.last);
    const dlqText = await p.eval(`document.getElementById('dlq')?.textContent ?? ''`);
    check('a dead letter shows the subscriber\'s answer', dlqText.includes('kaputt'), dlqText.slice(0, 300));
    const xssId = '<img src=x onerror=window.__xss=1>';
    const ids = await p.eval(`[...document.querySelectorAll('#dlq tr[data-seq] td:nth-child(5)')].map((c) => c.textContent)`).catch(() => []);
    check('an event id with markup is shown as text', ids.includes(xssId), JSON.stringify(ids));
    check('no markup from the API became elements', (await p.eval(`document.querySelectorAll('img').length === 0 && window.__xss === undefined`)) === true);

    const before = lines('fail').length;
    const clicked = await p.eval(`(() => { const b = document.querySelector('#dlq tr[data-seq] button.replay');
      if (!b) return false; b.click(); return true; })()`).catch(() => false);
    check('a dead letter has a replay button', clicked);
    const replayed = await p.waitFor(`/replayed 1 event/.test(document.getElementById('dlq-msg')?.textContent ?? '')`);
    check('replay says it replayed one event', replayed, p.last);
    check('the replayed dead letter is delivered to the subscriber again', await until(() => lines('fail').length > before),
      'fail subscriber requests: ' + lines('fail').length + ' (before: ' + before + ')');

    // 5. the send form: fill, click, the event reaches the healthy trigger's subscriber
    const formOk = await p.waitFor(`(() => { const s = document.getElementById('send-to');
      if (!s || ![...s.options].some((o) => o.value === 'brokers/ns1/b')) return false;
      s.value = 'brokers/ns1/b';
      document.getElementById('send-type').value = 'com.example.ok';
      document.getElementById('send-source').value = '/ui-test';
      document.getElementById('send-id').value = 'from-the-form';
      document.getElementById('send-data').value = '{"sent": "from the form"}';
      document.getElementById('send-go').click();
      return true; })()`);
    check('the send form is there with the broker to pick', formOk, p.last);
    const sent = await p.waitFor(`document.getElementById('send-msg')?.textContent.includes('sent id from-the-form') && document.getElementById('send-msg').textContent`);
    check('the form says the event was sent', sent, p.last);
    const got = await until(() => lines('ok').find((r) => r.headers && r.headers['ce-id'] === 'from-the-form'));
    check('the event sent from the form reaches the healthy subscriber', got && got.headers['ce-source'] === '/ui-test' &&
      got.body === '{"sent": "from the form"}', JSON.stringify(got));

    await p.eval(`document.getElementById('send-data').value = '{not json'; document.getElementById('send-go').click()`);
    const refused = await p.waitFor(`(() => { const m = document.getElementById('send-msg');
      return m.classList.contains('error') && m.textContent.includes('not JSON') && m.textContent; })()`);
    check('data that is not JSON is refused in the form', refused, p.last);

    // 6. the tail: a long event line wraps inside the box instead of overflowing it
    const tailing = await p.waitFor(`(() => { const s = document.getElementById('tail-pick');
      if (!s || ![...s.options].some((o) => o.value === 'brokers/ns1/b')) return false;
      s.value = 'brokers/ns1/b'; document.getElementById('tail-go').click(); return true; })()`);
    check('the tail can be started', tailing, p.last);
    const started = await p.waitFor(`/tailing/.test(document.getElementById('tail-msg')?.textContent ?? '')`);
    check('the tail is connected', started, p.last);
    const long = 'x'.repeat(3000);
    await p.eval(`document.getElementById('send-id').value = 'long-one';
      document.getElementById('send-source').value = '/ui-tail';
      document.getElementById('send-data').value = ${JSON.stringify(JSON.stringify({long}))};
      document.getElementById('send-go').click()`);
    const shown = await p.waitFor(`[...document.querySelectorAll('#tail .line')].some((l) => l.textContent.includes('long-one'))`);
    check('the tail shows the event sent', shown, p.last);
    const geo = await p.eval(`(() => { const t = document.getElementById('tail');
      const l = [...t.querySelectorAll('.line')].find((x) => x.textContent.includes('long-one'));
      return {sw: t.scrollWidth, cw: t.clientWidth, lw: l ? l.getBoundingClientRect().width : -1,
              lh: l ? l.getBoundingClientRect().height : -1, fs: l ? parseFloat(getComputedStyle(l).fontSize) : -1}; })()`);
    // 3000 characters on one line are far wider than the box: wrapped, the line is many rows high
    check('a long tail line wraps (no horizontal overflow)',
      geo.lw > 0 && geo.sw <= geo.cw && geo.lw <= geo.cw && geo.lh > 3 * geo.fs, JSON.stringify(geo));

    // 7. everything came from the admin port, and the page's script threw nothing
    const foreign = requests.filter((u) => !u.startsWith(ADMIN + '/') && u !== 'about:blank');
    check('the page loads nothing from anywhere but the admin port', foreign.length === 0, JSON.stringify(foreign));
    // the browser logs a network error for the 4xx/5xx answers the API gives on purpose: only
    // script errors and Content-Security-Policy reports count here
    const scriptErrors = errors.filter((e) => !/Failed to load resource/.test(e));
    check('the page throws no script error and breaks no CSP rule', scriptErrors.length === 0, JSON.stringify(scriptErrors));
    if (process.env.UI_SCREENSHOT) {
      const shot = await p.send('Page.captureScreenshot', {format: 'png', captureBeyondViewport: true,
        clip: {x: 0, y: 0, width: 1280, height: await p.eval('document.documentElement.scrollHeight'), scale: 1}});
      fs.writeFileSync(process.env.UI_SCREENSHOT, Buffer.from(shot.data, 'base64'));
    }
  } finally {
    await b.close();
  }
}

main().then(() => {
  console.log(pass + ' passed, ' + fail + ' failed');
  process.exit(fail === 0 ? 0 : 1);
}, (e) => {
  bad('the browser session', e.stack || e.message);
  console.log(pass + ' passed, ' + fail + ' failed');
  process.exit(1);
});
