// app.js — the admin web page (index.html): reads the admin API of this origin (hd_admin.h) and
// renders brokers, channels, triggers, subscriptions, dead letters and a live tail; sends events.
// Every value from the API reaches the DOM as text (textContent / text nodes), never as HTML:
// event ids, types, data and subscriber answers are user input.
'use strict';

const REFRESH_MS = 2000;
const TAIL_LINES_MAX = 500;      // lines kept in the tail box
const TAIL_PARTIAL_MAX = 1 << 20; // a line longer than this is shown in pieces
const CONSUMERS_MAX = 200;       // describe calls per refresh, per kind
const DLQ_LIMIT = 200;

const $ = (id) => document.getElementById(id);

// el('td', {class: 'x', title: 't'}, child, 'text', ...): children are nodes or text.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

const seg = (s) => encodeURIComponent(s);
const objPath = (plural, ns, name) => '/v1/' + plural + '/' + seg(ns) + '/' + seg(name);

// The JSON body of a request, or an Error with the API's own message ({"error": "..."}).
async function api(path, opts) {
  const res = await fetch(path, opts);
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const msg = body && typeof body.error === 'string' ? body.error : text.trim();
    const err = new Error(res.status + ': ' + (msg || res.statusText));
    err.status = res.status;
    throw err;
  }
  return body;
}

const list = async (kind) => ((await api('/v1/resources/' + kind)) || {}).items || [];
const ready = (o) => ((o.status || {}).conditions || []).find((c) => c.type === 'Ready') || {};
const key = (o) => o.metadata.namespace + '/' + o.metadata.name;

function msg(id, text, error) {
  const m = $(id);
  m.textContent = text;
  m.classList.toggle('error', !!error);
}

// Rebuilds table t from rows only when what it shows changed (sig), so a button is not replaced
// under the pointer every refresh. head: column titles; build(): the <tr> elements.
function render(t, sig, head, build) {
  if (t.dataset.sig === sig) return;
  const rows = build();
  t.replaceChildren(el('tr', null, head.map((h) => el('th', null, h))));
  if (rows.length === 0) t.append(el('tr', null, el('td', {colspan: head.length, class: 'empty'}, 'none')));
  else t.append(...rows);
  t.dataset.sig = sig;
}

// Replaces a <select>'s options (values and labels) keeping the current choice when still there.
// preferred applies until the user picks one (data-chosen).
function options(sel, items, preferred) {
  const cur = (sel.dataset.chosen ? sel.value : preferred || sel.value) || '';
  const sig = JSON.stringify(items);
  if (sel.dataset.sig !== sig) {
    sel.replaceChildren(...items.map(([v, label]) => el('option', {value: v}, label)));
    sel.dataset.sig = sig;
  }
  if (items.some(([v]) => v === cur)) sel.value = cur;
}

// ---- filters, as the user wrote them ---------------------------------------------------------

const attrs = (m) => Object.entries(m || {}).map(([k, v]) => k + '=' + (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');

// One filter of spec.filters (exact, prefix, suffix, all, any, not, cesql) as one line of text.
function dialect(f, depth) {
  if (!f || typeof f !== 'object' || depth > 20) return JSON.stringify(f);
  const parts = Object.entries(f).map(([d, v]) => {
    switch (d) {
      case 'exact': case 'prefix': case 'suffix': return d + ' ' + attrs(v);
      case 'all': case 'any':
        return d + '(' + (Array.isArray(v) ? v.map((x) => dialect(x, depth + 1)).join('; ') : JSON.stringify(v)) + ')';
      case 'not': return 'not(' + dialect(v, depth + 1) + ')';
      case 'cesql': case 'sql': return 'cesql: ' + (typeof v === 'string' ? v : JSON.stringify(v));
      default: return d + ': ' + JSON.stringify(v);
    }
  });
  return parts.join(' ');
}

// The lines a trigger's filter shows as: every item of `filters` (AND-ed), else `filter`'s
// attributes, else that it takes every event.
function filterLines(spec) {
  const fs = spec && spec.filters;
  if (Array.isArray(fs) && fs.length) return fs.map((f) => dialect(f, 0));
  const a = spec && spec.filter && spec.filter.attributes;
  if (a && Object.keys(a).length) return ['attributes ' + attrs(a)];
  return [];
}

// ---- trigger and subscription state ----------------------------------------------------------

// Failing: the API's `failing` when it says so; else (older daemons) a last answer that was not
// a success, or a last error.
function isFailing(s) {
  if (typeof s.failing === 'boolean') return s.failing;
  return (typeof s.lastStatus === 'number' && (s.lastStatus >= 300 || s.lastStatus < 0)) || !!s.lastError;
}

function ago(iso) {
  const t = Date.parse(iso);
  if (!isFinite(t)) return iso;
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  const h = s >= 3600 ? Math.floor(s / 3600) + 'h' : '';
  const m = s >= 60 ? Math.floor((s % 3600) / 60) + 'm' : '';
  return iso + ' (' + h + m + (s % 60) + 's ago)';
}

// The delivery cell: "ok" or what failed, as `herald describe` says it.
function deliveryCell(s) {
  if (!s || Object.keys(s).length === 0) return el('td', {class: 'delivery empty'}, 'not running');
  if (!isFailing(s)) return el('td', {class: 'delivery ok'}, 'ok' + (s.delivered ? ', ' + s.delivered + ' delivered' : ''));
  let head = 'failing';
  if (s.failingSince) head += ' since ' + ago(s.failingSince);
  if (typeof s.failedAttempts === 'number') head += ', ' + s.failedAttempts + (s.failedAttempts === 1 ? ' attempt' : ' attempts');
  let answer = s.lastStatus > 0 ? 'last answer ' + s.lastStatus : 'no answer';
  if (s.lastBody) answer += ': ' + s.lastBody;
  // the reason when it says more than the status ("HTTP 500" does not; a timeout does)
  const extra = s.lastError && !(s.lastStatus > 0 && s.lastError.startsWith('HTTP ' + s.lastStatus)) ? s.lastError : '';
  return el('td', {class: 'delivery failing', title: 'the latest delivery attempt failed'},
    el('div', null, head), el('div', {class: 'answer'}, answer), extra ? el('div', {class: 'error'}, extra) : null);
}

async function describeAll(plural, items) {
  return Promise.all(items.slice(0, CONSUMERS_MAX).map(async (o) => {
    let d = {};
    try {
      d = await api(objPath(plural, o.metadata.namespace, o.metadata.name) + '/describe');
    } catch (e) {
      d = {};
    }
    return {o, d, s: (d && d.stats) || {}};
  }));
}

function consumerRows(plural, rows) {
  return rows.map(({o, d, s}) => {
    const r = ready(o);
    const spec = o.spec || {};
    const k = key(o);
    const failing = Object.keys(s).length > 0 && isFailing(s);
    let detail;
    if (plural === 'triggers') {
      const lines = filterLines(spec);
      detail = el('td', {class: 'filters'}, lines.length ? lines.map((l) => el('code', null, l)) : el('span', {class: 'empty'}, 'every event'));
    } else {
      // describe's reply: the URI it resolved to, else what the spec names (not resolved yet)
      const rep = typeof d.reply === 'string' ? d.reply : d.reply ? JSON.stringify(d.reply) : '';
      detail = el('td', null, rep || el('span', {class: 'empty'}, 'no reply'));
    }
    const dead = s.deadLetters || 0;
    const dlq = el('button', {type: 'button', class: 'dlq-open', title: 'show in the dead-letter panel',
      onclick: () => { $('dlq-pick').value = plural + '/' + k; $('dlq-pick').dataset.chosen = '1'; loadDlq(); $('dlq-panel').scrollIntoView(); }}, String(dead));
    return el('tr', {class: failing ? 'failing' : null, 'data-key': k},
      el('td', null, k),
      el('td', null, plural === 'triggers' ? spec.broker || '' : ((spec.channel || {}).name || '')),
      el('td', {class: 'cond-' + (r.status || 'Unknown')}, r.status || '?'),
      el('td', null, r.reason || '', r.status !== 'True' && r.message ? ': ' + r.message : ''),
      detail,
      el('td', {class: 'mono'}, d.subscriberUri || (o.status || {}).subscriberUri || ''),
      el('td', null, s.backlog ?? ''),
      el('td', null, s.inFlight ?? ''),
      el('td', null, dlq),
      deliveryCell(s));
  });
}

// ---- metrics: events received per broker -----------------------------------------------------

async function received() {
  const res = await fetch('/metrics');
  const text = await res.text();
  const m = {};
  for (const line of text.split('\n')) {
    const x = line.match(/^herald_events_received_total\{([^}]*)\} (\S+)/);
    if (!x) continue;
    const l = {};
    for (const p of x[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) l[p[1]] = p[2];
    if (l.code !== '202') continue;
    const k = l.namespace + '/' + l.broker;
    m[k] = (m[k] || 0) + Number(x[2]);
  }
  return m;
}

// ---- refresh ---------------------------------------------------------------------------------

let lastCounts = {};
let lastAt = 0;

async function refresh() {
  const [brokers, channels, triggers, subs, counts] = await Promise.all([
    list('brokers'), list('channels'), list('triggers'), list('subscriptions'), received().catch(() => ({}))]);
  const now = Date.now();
  const dt = (now - lastAt) / 1000;

  const logs = brokers.map((b) => ['brokers', b]).concat(channels.map((c) => ['channels', c]));
  const logRows = logs.map(([plural, b]) => {
    const k = key(b);
    const r = ready(b);
    const n = plural === 'brokers' ? counts[k] || 0 : '';
    const rate = plural === 'brokers' && lastAt && lastCounts[k] !== undefined ? ((n - lastCounts[k]) / dt).toFixed(1) : '';
    return [b.kind, k, r.status || '?', r.reason || '', (b.status && b.status.address || {}).url || '', n, rate];
  });
  render($('logs'), JSON.stringify(logRows), ['kind', 'name', 'ready', 'reason', 'address', 'events', 'events/s'],
    () => logRows.map((c) => el('tr', null, c.map((v, i) => el('td', i === 2 ? {class: 'cond-' + v} : null, v)))));
  lastCounts = counts;
  lastAt = now;

  const [td, sd] = await Promise.all([describeAll('triggers', triggers), describeAll('subscriptions', subs)]);
  // a failing row's "since … ago" moves on: rebuild such tables every few seconds
  const sigOf = (rows) => JSON.stringify(rows.map(({o, s}) => [o.metadata, o.spec, o.status, s])) +
    (rows.some(({s}) => s.failingSince) ? Math.floor(now / 5000) : '');
  const head = ['name', 'broker', 'ready', 'reason', 'filters', 'subscriber', 'backlog', 'in flight', 'dead letters', 'delivery'];
  render($('triggers'), sigOf(td), head, () => consumerRows('triggers', td));
  const shead = head.slice();
  shead[1] = 'channel';
  shead[4] = 'reply';
  render($('subscriptions'), sigOf(sd), shead, () => consumerRows('subscriptions', sd));

  // the dead-letter panel: triggers and subscriptions; by default the first with dead letters
  const cons = td.map((x) => ['triggers', x]).concat(sd.map((x) => ['subscriptions', x]));
  const firstDead = cons.find(([, x]) => x.s.deadLetters > 0);
  options($('dlq-pick'), cons.map(([p, x]) => [p + '/' + key(x.o), (p === 'triggers' ? 'trigger ' : 'subscription ') + key(x.o) + ' (' + (x.s.deadLetters || 0) + ')']),
    firstDead ? firstDead[0] + '/' + key(firstDead[1].o) : '');

  const logOpts = logs.map(([p, b]) => [p + '/' + key(b), (p === 'brokers' ? 'broker ' : 'channel ') + key(b)]);
  options($('send-to'), logOpts);
  options($('tail-pick'), logOpts);

  const others = (await Promise.all(['pingsources', 'containersources', 'sinkbindings', 'apiserversources', 'kafkasources',
    'kafkasinks', 'services', 'sequences', 'parallels', 'natssources', 'natssinks', 'eventpolicies']
    .map((k) => list(k).catch(() => [])))).flat();
  const otherRows = others.map((o) => { const r = ready(o); return [o.kind, key(o), r.status || '?', r.reason || '']; });
  render($('others'), JSON.stringify(otherRows), ['kind', 'name', 'ready', 'reason'],
    () => otherRows.map((c) => el('tr', null, c.map((v, i) => el('td', i === 2 ? {class: 'cond-' + v} : null, v)))));

  await loadDlq(true);
}

async function tick() {
  try {
    await refresh();
    msg('status', 'updated ' + new Date().toLocaleTimeString(), false);
  } catch (e) {
    msg('status', 'cannot read the admin API: ' + e.message, true);
  }
  setTimeout(tick, REFRESH_MS);
}

// ---- dead letters ----------------------------------------------------------------------------

// "triggers/ns/name" -> the object's path
function pickPath(v) {
  const i = v.indexOf('/');
  const j = v.indexOf('/', i + 1);
  return objPath(v.slice(0, i), v.slice(i + 1, j), v.slice(j + 1));
}

async function loadDlq(quiet) {
  const v = $('dlq-pick').value;
  const t = $('dlq');
  if (!v) {
    render(t, '', ['seq'], () => []);
    return;
  }
  let items = [];
  try {
    items = ((await api(pickPath(v) + '/dlq?limit=' + DLQ_LIMIT)) || {}).items || [];
  } catch (e) {
    msg('dlq-msg', e.message, true);
    return;
  }
  if (!quiet) msg('dlq-msg', items.length + (items.length === 1 ? ' dead letter' : ' dead letters'), false);
  render(t, v + JSON.stringify(items), ['seq', 'dead since', 'answer', 'error', 'event id', 'type', 'source', ''],
    () => items.map((d) => {
      const ev = d.event || {};
      return el('tr', {'data-seq': d.seq},
        el('td', null, d.seq),
        el('td', null, d.time || ''),
        el('td', null, d.status > 0 ? d.status : 'none'),
        el('td', {class: 'error'}, d.error || ''),
        el('td', {class: 'mono'}, ev.id ?? el('span', {class: 'empty'}, 'no longer stored')),
        el('td', null, ev.type ?? ''),
        el('td', null, ev.source ?? ''),
        el('td', null, el('button', {type: 'button', class: 'replay', onclick: () => replay(v, d.seq)}, 'replay')));
    }));
}

async function replay(v, seq) {
  try {
    const r = await api(pickPath(v) + '/dlq/replay' + (seq ? '?seq=' + seq : ''), {method: 'POST'});
    const n = (r && r.replayed) || 0;
    msg('dlq-msg', 'replayed ' + n + (n === 1 ? ' event' : ' events') + (seq ? ' (seq ' + seq + ')' : ''), false);
  } catch (e) {
    msg('dlq-msg', 'replay failed: ' + e.message, true);
  }
  await loadDlq(true);
}

// ---- send ------------------------------------------------------------------------------------

function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return 'ui-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
}

async function send(ev) {
  ev.preventDefault();
  const to = $('send-to').value;
  const type = $('send-type').value.trim();
  const source = $('send-source').value.trim();
  const data = $('send-data').value;
  if (!to) return msg('send-msg', 'no broker or channel to send to', true);
  if (!type || !source) return msg('send-msg', 'type and source are required', true);
  if (data.trim()) {
    try {
      JSON.parse(data);
    } catch (e) {
      return msg('send-msg', 'data is not JSON: ' + e.message, true);
    }
  }
  const id = $('send-id').value.trim() || newId();
  const headers = {'ce-specversion': '1.0', 'ce-id': id, 'ce-type': type, 'ce-source': source,
    'ce-time': new Date().toISOString()};
  if (data.trim()) headers['content-type'] = 'application/json';
  $('send-go').disabled = true;
  try {
    const res = await fetch(pickPath(to) + '/events', {method: 'POST', headers, body: data.trim() ? data : undefined});
    if (res.ok) {
      msg('send-msg', 'sent id ' + id + ' (' + res.status + ')', false);
    } else {
      let text = await res.text();
      try { text = JSON.parse(text).error || text; } catch (e) { /* not JSON: as is */ }
      msg('send-msg', 'refused (' + res.status + '): ' + text, true);
    }
  } catch (e) {
    msg('send-msg', 'not sent: ' + e.message, true);
  } finally {
    $('send-go').disabled = false;
  }
}

// ---- live tail -------------------------------------------------------------------------------

let tailCtl = null;

function tailLine(box, text) {
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.append(el('div', {class: 'line'}, text));
  while (box.childElementCount > TAIL_LINES_MAX) box.firstElementChild.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

async function tail() {
  if (tailCtl) tailCtl.abort();
  const ctl = new AbortController();
  tailCtl = ctl;
  const v = $('tail-pick').value;
  const box = $('tail');
  box.replaceChildren();
  if (!v) return msg('tail-msg', 'nothing to tail', true);
  msg('tail-msg', 'connecting…', false);
  try {
    const res = await fetch(pickPath(v) + '/tail', {signal: ctl.signal});
    if (!res.ok) throw new Error(res.status + ': ' + (await res.text()).trim());
    // the answer's head came: events stored from now on arrive here
    const opt = $('tail-pick').selectedOptions[0];
    msg('tail-msg', 'tailing ' + (opt ? opt.textContent : v), false);
    const rd = res.body.getReader();
    const dec = new TextDecoder();
    let partial = '';
    for (;;) {
      const {value, done} = await rd.read();
      if (done) break;
      partial += dec.decode(value, {stream: true});
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        if (nl > 0) tailLine(box, partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
      if (partial.length > TAIL_PARTIAL_MAX) {
        tailLine(box, partial);
        partial = '';
      }
    }
    msg('tail-msg', 'the stream ended (deleted, or the daemon stopped)', true);
  } catch (e) {
    if (e.name === 'AbortError') msg('tail-msg', 'stopped', false);
    else msg('tail-msg', 'tail failed: ' + e.message, true);
  } finally {
    if (tailCtl === ctl) tailCtl = null;
  }
}

// ---- wiring ----------------------------------------------------------------------------------

$('dlq-pick').addEventListener('change', () => { $('dlq-pick').dataset.chosen = '1'; loadDlq(); });
$('dlq-load').addEventListener('click', () => loadDlq());
$('dlq-all').addEventListener('click', () => { if ($('dlq-pick').value) replay($('dlq-pick').value, 0); });
$('send').addEventListener('submit', send);
$('tail-go').addEventListener('click', () => { tail(); });
$('tail-stop').addEventListener('click', () => { if (tailCtl) tailCtl.abort(); });
tick();
