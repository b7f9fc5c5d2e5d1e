// `herald event encode --header-encoding compat` writes HTTP requests that the official
// CloudEvents JS SDK (HTTP.toEvent) reads back as the same event: every attribute, extension
// and the data. Compat mode writes attribute values raw, as the JS SDK expects.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const net = require("node:net");
const { HTTP } = require("cloudevents");
const { herald, parseRequest, bodyFor, jsonOf, assertSameEvent } = require("./lib");

const EVENTS = {
  "text data, spaces, % and non-ASCII in attributes": {
    specversion: "1.0", id: "id with spaces", source: "/sensors/room-1",
    type: "com.example.reading", subject: "100% sure – ünïcödé ✓ 😀",
    time: "2026-11-27T13:45:00Z", datacontenttype: "text/plain",
    myext: "a b%20c %zz", data: "hello world, 50% ✓"
  },
  "JSON object data with typed extensions": {
    specversion: "1.0", id: "2", source: "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    type: "com.example.json", time: "2026-11-27T13:45:00.5+01:00",
    datacontenttype: "application/json", dataschema: "https://example.com/schema.json",
    count: 42, enabled: true, partitionkey: "room-1",
    data: { temp: 21.5, tags: ["a b", "ü"], nested: { ok: true, none: null }, pct: "100%" }
  },
  "binary data": {
    specversion: "1.0", id: "3", source: "https://example.com/cameras/7",
    type: "com.example.image", datacontenttype: "application/octet-stream", seq: "0007",
    data_base64: Buffer.from([0, 1, 2, 127, 128, 254, 255, 13, 10]).toString("base64")
  },
  "no data, required attributes only": {
    specversion: "1.0", id: "4", source: "/a", type: "com.example.empty"
  },
};

function encode(event, mode) {
  const r = herald(["event", "encode", "--binding", "http", "--mode", mode,
    "--header-encoding", "compat", "--url", "http://127.0.0.1:8080/default/default"],
    JSON.stringify(event));
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  return r.stdout;
}

// What the JS SDK reads from a message; `typed` as in assertSameEvent.
function readBack(raw, want, typed) {
  const req = parseRequest(raw);
  assert.equal(req.requestLine, "POST /default/default HTTP/1.1");
  assert.equal(req.headers.host, "127.0.0.1:8080");
  const event = HTTP.toEvent({ headers: req.headers, body: bodyFor(req.headers, req.body) });
  event.validate();
  const got = jsonOf(event);
  // The JS SDK always fills in `time` and reformats it; compare the instant.
  if (!("time" in want)) delete got.time;
  assertSameEvent(got, want, { typed, timeAsInstant: true });
}

for (const [mode, typed] of [["binary", false], ["structured", true]]) {
  for (const [name, event] of Object.entries(EVENTS)) {
    test(`${mode}: ${name}`, () => readBack(encode(event, mode), event, typed));
  }
}

// The same bytes through Node's own HTTP server, as a JS SDK receiver gets them. Node hands
// header values over as latin1 strings, so only ASCII values round-trip unchanged there; our
// compat encoding of non-ASCII is raw UTF-8, which such a receiver can recover byte for byte.
test("binary: through Node's http server into HTTP.toEvent", async () => {
  const event = { ...EVENTS["JSON object data with typed extensions"], subject: "a b 100%" };
  const raw = encode(event, "binary");
  const got = await new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(202).end();
        server.close();
        try {
          resolve(jsonOf(HTTP.toEvent({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })));
        } catch (e) { reject(e); }
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const sock = net.connect(server.address().port, "127.0.0.1", () => sock.end(raw));
      sock.on("error", reject);
      sock.resume();
    });
  });
  assertSameEvent(got, event, { typed: false, timeAsInstant: true });
});

// Why compat is the default for delivery: the JS SDK does not percent-decode, so with the spec's
// strict encoding it reads the encoded text. Asserted so that a change on either side shows.
test("binary, strict: the JS SDK reads percent-encoded values as they are", () => {
  const event = { specversion: "1.0", id: "5", source: "/a", type: "t", subject: "a b 100% €" };
  const r = herald(["event", "encode", "--binding", "http", "--header-encoding", "strict"],
    JSON.stringify(event));
  assert.equal(r.status, 0, r.stderr);
  const req = parseRequest(r.stdout);
  const got = HTTP.toEvent({ headers: req.headers, body: undefined });
  assert.equal(got.subject, "a%20b%20100%25%20%E2%82%AC");
});
