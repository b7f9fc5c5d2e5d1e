// Shared helpers of the interop tests: run the `herald` CLI, build and parse raw HTTP/1.1
// requests, and compare events attribute by attribute.
"use strict";
const { spawnSync } = require("node:child_process");
const assert = require("node:assert/strict");

const HERALD = process.env.HERALD;
if (!HERALD) {
  console.error("set HERALD to the path of the herald binary");
  process.exit(2);
}

// Runs `herald ...args` with `input` (Buffer or string) on stdin; returns {status, stdout, stderr}.
function herald(args, input) {
  const r = spawnSync(HERALD, args, { input, maxBuffer: 64 << 20, timeout: 30000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

// A raw HTTP/1.1 request carrying a JS SDK message ({headers, body}). Header values are written
// as UTF-8 bytes, exactly as given (the JS SDK does not percent-encode).
function rawRequest(message, path = "/") {
  let body = message.body;
  if (body === undefined || body === null) body = Buffer.alloc(0);
  else if (typeof body === "string") body = Buffer.from(body, "utf8");
  else if (ArrayBuffer.isView(body)) body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else body = Buffer.from(JSON.stringify(body), "utf8");
  let head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\n`;
  for (const [k, v] of Object.entries(message.headers)) head += `${k}: ${String(v)}\r\n`;
  head += `Content-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "utf8"), body]);
}

// Parses what `herald event encode` prints: request line, headers (names lower-cased, values
// read as UTF-8, as a UTF-8-aware server would), body bytes framed by Content-Length.
function parseRequest(buf) {
  const end = buf.indexOf("\r\n\r\n");
  assert.ok(end > 0, "no end of headers");
  const lines = buf.subarray(0, end).toString("utf8").split("\r\n");
  const requestLine = lines.shift();
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    assert.ok(i > 0, `malformed header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i).toLowerCase();
    assert.ok(!(name in headers), `header ${name} repeated`);
    headers[name] = line.slice(i + 1).trim();
  }
  const body = buf.subarray(end + 4);
  assert.equal(Number(headers["content-length"]), body.length, "Content-Length matches the body");
  return { requestLine, headers, body };
}

const JSON_CT = /^[^;]*[/+]json\s*(;|$)/i;
// The body as a JS SDK user's HTTP framework hands it over: text for textual content types,
// bytes otherwise.
function bodyFor(headers, body) {
  if (body.length === 0) return undefined; // an empty body is no data
  const ct = headers["content-type"] || "";
  if (JSON_CT.test(ct) || /^text\//i.test(ct) || /cloudevents/i.test(ct)) return body.toString("utf8");
  return body;
}

// The attributes and data of an event in the JSON format, as a plain object.
function jsonOf(event) {
  return JSON.parse(JSON.stringify(event));
}

// Asserts that `got` (a JSON-format object) carries the same event as `want`: the same set of
// attributes with the same values, and the same data. In binary mode the type of an extension
// is lost in transit (it arrives as a string), so `typed` = false compares canonical strings.
// Times are compared as strings unless `timeAsInstant` (the JS SDK reformats times it reads).
function assertSameEvent(got, want, { typed = true, timeAsInstant = false } = {}) {
  const attrs = (o) => Object.keys(o).filter((k) => k !== "data" && k !== "data_base64").sort();
  assert.deepEqual(attrs(got), attrs(want), "same attribute names");
  for (const k of attrs(want)) {
    if (k === "time" && timeAsInstant) {
      assert.equal(new Date(got[k]).getTime(), new Date(want[k]).getTime(), "time instant");
    } else if (typed) {
      assert.deepEqual(got[k], want[k], `attribute ${k}`);
    } else {
      assert.equal(String(got[k]), String(want[k]), `attribute ${k}`);
    }
  }
  const dataOf = (o) =>
    "data_base64" in o ? { b64: o.data_base64 }
      : "data" in o && o.data !== undefined ? { data: o.data } : {};
  assert.deepEqual(dataOf(got), dataOf(want), "same data");
}

module.exports = { herald, rawRequest, parseRequest, bodyFor, jsonOf, assertSameEvent, HERALD };
