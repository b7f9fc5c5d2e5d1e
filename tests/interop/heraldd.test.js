// End to end with the official CloudEvents JS SDK on both sides of heraldd: the SDK's emitter
// (emitterFor + httpTransport) sends events to a broker in binary and in structured mode; two
// triggers deliver every event to a receiver built with HTTP.toEvent, one in binary mode (the
// default) and one in structured mode (delivery.format: json). Each delivered event must carry
// every attribute, extension and the data the producer sent.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const net = require("node:net");
const { spawn } = require("node:child_process");
const { CloudEvent, HTTP, Mode, emitterFor, httpTransport } = require("cloudevents");
const { jsonOf, assertSameEvent } = require("./lib");

const HERALDD = process.env.HERALDD;
const DEADLINE_MS = 30000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitReady(port, daemon) {
  const until = Date.now() + DEADLINE_MS;
  while (Date.now() < until) {
    if (daemon.exitCode !== null) throw new Error(`heraldd exited with ${daemon.exitCode}`);
    const ok = await new Promise((resolve) => {
      http.get({ host: "127.0.0.1", port, path: "/readyz" }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error("heraldd did not become ready");
}

// A subscriber written the way a JS SDK user writes one: Node's http server + HTTP.toEvent.
// Node hands header values over as latin1 strings; the SDK does not undo that, so a receiver that
// wants non-ASCII attribute values from binary mode re-reads them as UTF-8 (done here).
function startReceiver(port, received) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) {
        headers[k] = k.startsWith("ce-") ? Buffer.from(v, "latin1").toString("utf8") : v;
      }
      const body = Buffer.concat(chunks);
      const ct = headers["content-type"] || "";
      const textual = /json|^text\//i.test(ct);
      try {
        const event = HTTP.toEvent({ headers, body: body.length === 0 ? undefined : textual ? body.toString("utf8") : body });
        received.push({ path: req.url, contentType: ct, event: jsonOf(event) });
        res.writeHead(202).end();
      } catch (e) {
        received.push({ path: req.url, contentType: ct, error: String(e) });
        res.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

const T = "2026-11-27T13:45:00.123Z";
// Binary-mode emitting goes through Node's http client, which refuses non-ASCII header values:
// those events use ASCII attributes (with spaces and '%'); structured mode carries anything.
function events(prefix) {
  return [
    new CloudEvent({ id: `${prefix}-text`, source: "/interop/emitter", type: "com.example.interop",
      time: T, subject: "a b, 100% and %zz", datacontenttype: "text/plain", data: "hello world ✓",
      myext: "x y" }),
    new CloudEvent({ id: `${prefix}-json`, source: "urn:example:interop", type: "com.example.interop",
      time: T, datacontenttype: "application/json", data: { n: 1, s: "ü", list: [true, null] },
      count: 7, partitionkey: "p1" }),
    new CloudEvent({ id: `${prefix}-bytes`, source: "/interop/emitter", type: "com.example.interop",
      time: T, datacontenttype: "application/octet-stream",
      data: Uint8Array.from([0, 1, 2, 253, 254, 255]) }),
  ];
}
const STRUCTURED_EXTRA = new CloudEvent({ id: "structured-unicode", source: "/interop/emitter",
  type: "com.example.interop", time: T, subject: "ünïcödé € 😀", datacontenttype: "text/plain",
  data: "ok", myext: "€ 100%" });

test("JS SDK emitter → heraldd → JS SDK receivers, binary and structured", { skip: !HERALDD && "HERALDD not set" }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-interop-"));
  const [ingress, admin, rport] = [await freePort(), await freePort(), await freePort()];
  fs.mkdirSync(path.join(dir, "manifests"));
  const trigger = (name, p, delivery) => `---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: ${name}
  namespace: interop
spec:
  broker: default
  subscriber:
    uri: http://127.0.0.1:${rport}${p}
  delivery:
    retry: 2
    backoffDelay: PT0.1S
${delivery}`;
  fs.writeFileSync(path.join(dir, "manifests", "interop.yaml"), `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: interop
${trigger("to-binary", "/binary", "")}
${trigger("to-structured", "/structured", "    format: json\n")}`);
  fs.writeFileSync(path.join(dir, "herald.yaml"), `ingress:
  listen: 127.0.0.1:${ingress}
admin:
  listen: 127.0.0.1:${admin}
data_dir: ${dir}/data
durability: fsync
manifests:
  - ${dir}/manifests
log:
  level: warn
`);
  const received = [];
  const receiver = await startReceiver(rport, received);
  const log = fs.openSync(path.join(dir, "heraldd.log"), "a");
  const daemon = spawn(HERALDD, ["-c", path.join(dir, "herald.yaml")], { stdio: ["ignore", log, log] });
  t.after(() => {
    daemon.kill("SIGKILL");
    receiver.close();
    if (!process.exitCode) fs.rmSync(dir, { recursive: true, force: true });
  });
  try {
    await waitReady(ingress, daemon);
    const url = `http://127.0.0.1:${ingress}/interop/default`;
    const sent = [];
    for (const [mode, prefix] of [[Mode.BINARY, "bin"], [Mode.STRUCTURED, "str"]]) {
      const emit = emitterFor(httpTransport(url), { mode });
      const list = events(prefix);
      if (mode === Mode.STRUCTURED) list.push(STRUCTURED_EXTRA);
      for (const e of list) {
        // httpTransport resolves with the answer's headers and body only (no status code);
        // heraldd's refusals carry {"error": ...}. Delivery below proves acceptance.
        const res = await emit(e);
        assert.doesNotMatch(res.body, /"error"/, `heraldd accepted ${e.id}: ${res.body}`);
        sent.push(e);
      }
    }
    // Every event reaches both triggers' subscriber paths.
    const until = Date.now() + DEADLINE_MS;
    while (received.length < sent.length * 2 && Date.now() < until) await sleep(50);
    for (const r of received) assert.equal(r.error, undefined, `receiver could read ${r.path}: ${r.error}`);
    for (const [p, typed, ctWant] of [["/binary", false, null], ["/structured", true, /^application\/cloudevents\+json/]]) {
      for (const e of sent) {
        const got = received.filter((r) => r.path === p && r.event.id === e.id);
        assert.equal(got.length, 1, `${e.id} delivered once to ${p}`);
        if (ctWant) assert.match(got[0].contentType, ctWant);
        else assert.doesNotMatch(got[0].contentType, /cloudevents/);
        // heraldd may add its own knative* extensions (e.g. knativearrivaltime); the producer's
        // attributes must all arrive unchanged.
        const ev = { ...got[0].event };
        for (const k of Object.keys(ev)) if (k.startsWith("knative") && !(k in jsonOf(e))) delete ev[k];
        // Types of extensions survive only when the event travelled structured all the way.
        assertSameEvent(ev, jsonOf(e), { typed: typed && e.id.startsWith("str") });
      }
    }
    assert.equal(received.length, sent.length * 2, "no extra deliveries");
  } catch (e) {
    process.exitCode = 1;
    console.error(`heraldd log: ${path.join(dir, "heraldd.log")}\n` + fs.readFileSync(path.join(dir, "heraldd.log"), "utf8").slice(-3000));
    throw e;
  }
});
