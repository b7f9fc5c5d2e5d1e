#!/usr/bin/env python3
"""http_clients.py — misbehaving HTTP clients for http_hardening.sh, over real loopback sockets.

  flood PORT PATH MAX_BYTES MAX_SECONDS PID
      pipelines `GET PATH` on one connection and never reads an answer; stops at MAX_BYTES sent,
      after MAX_SECONDS, or once the server took nothing for 3 s. Prints
      "sent=<bytes> growth_kib=<largest VmRSS growth of PID seen while sending and 1 s after>".
  progress ADMIN_PORT INGRESS_PORT N
      connection A pipelines N `GET /metrics` (in one write) and reads every answer; once A's
      first answer is in, connection B sends one request to ingress that is answered 400 at once (counted in
      herald_events_received_total{code="400"}). Prints "b_answered=<0|1> after_b=<how many of
      A's answers were rendered after B was served> total=<answers A read>".
  conns PORT N SECONDS
      opens N connections, holds them SECONDS, prints "open=<connections the server did not
      close at once>".
  bodies PORT N LENGTH
      opens N connections; each sends a POST head announcing LENGTH body bytes and 10 of them,
      then waits. Prints "refused=<answers that were 503 with Retry-After naming
      limits.body_budget>".
  raw PORT REQUEST_HEX
      sends the bytes and prints the answer's status line.
  drain PORT PID
      SIGTERMs PID while one connection has half a request sent and another has two pipelined
      requests unread in its socket (PID stopped meanwhile); prints "partial=<status>
      partial_retry=<0|1> pipelined=<status>[,<status>] pipelined_retry=<0|1>" ("reset" when a
      connection gave no answer).
"""
import os
import re
import select
import signal
import socket
import sys
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def flood(port, path, max_bytes, max_seconds, pid):
    base = rss_kib(pid)
    peak = base
    req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    chunk = req * (65536 // len(req))
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
    s.setblocking(False)
    sent = 0
    start = last_progress = time.monotonic()
    while sent < max_bytes:
        now = time.monotonic()
        if now - start > max_seconds or now - last_progress > 3:
            break
        _, w, _ = select.select([], [s], [], 0.2)
        if w:
            try:
                n = s.send(chunk)
            except BlockingIOError:
                n = 0
            if n > 0:
                sent += n
                last_progress = time.monotonic()
        peak = max(peak, rss_kib(pid))
    end = time.monotonic() + 1
    while time.monotonic() < end:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.05)
    print(f"sent={sent} growth_kib={peak - base}")
    s.close()


def read_answers(s, out, first=None):
    """Reads HTTP answers (Content-Length framed) until EOF; appends each body to out and sets
    the event `first` once the first one is in."""
    buf = b""
    while True:
        m = re.search(rb"\r\n\r\n", buf)
        if m:
            head = buf[: m.start()]
            cl = re.search(rb"(?i)content-length: *(\d+)", head)
            n = int(cl.group(1)) if cl else 0
            if len(buf) >= m.end() + n:
                out.append(buf[m.end() : m.end() + n])
                buf = buf[m.end() + n :]
                if first:
                    first.set()
                continue
        try:
            d = s.recv(1 << 20)
        except (socket.timeout, ConnectionError):
            return
        if not d:
            return
        buf += d


def progress(admin_port, ingress_port, n):
    a = connect(admin_port)
    b = connect(ingress_port)
    answers = []
    first = threading.Event()
    reader = threading.Thread(target=read_answers, args=(a, answers, first))
    reader.start()
    a.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1)
              + b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    # B sends once A's first answer is in: the server is then working through A's pipeline
    first.wait(30)
    body = b"not an event"
    b.sendall(b"POST /ns1/b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    b_answer = b.recv(4096)
    reader.join(60)
    after = sum(1 for x in answers if b'code="400"' in x)
    print(f"b_answered={int(b_answer.startswith(b'HTTP/1.1 400'))} after_b={after} "
          f"total={len(answers)}")


def conns(port, n, seconds):
    held = []
    for _ in range(n):
        try:
            held.append(connect(port))
        except OSError:
            pass
    time.sleep(0.5)
    open_ = 0
    for s in held:
        s.setblocking(False)
        try:
            d = s.recv(1)
            if d:
                open_ += 1  # unexpected data: still open
        except BlockingIOError:
            open_ += 1  # nothing to read and no EOF: the server kept it
        except OSError:
            pass
    time.sleep(max(0.0, seconds - 0.5))
    print(f"open={open_}")
    for s in held:
        s.close()


def bodies(port, n, length):
    held = []
    for i in range(n):
        s = connect(port)
        s.sendall(b"POST /ns1/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {length}\r\n\r\n".encode() + b"0123456789")
        held.append(s)
        time.sleep(0.05)
    refused = 0
    for s in held:
        s.settimeout(1)
        try:
            d = s.recv(4096)
        except (socket.timeout, OSError):
            d = b""
        if d.startswith(b"HTTP/1.1 503") and b"retry-after:" in d.lower() and b"body_budget" in d:
            refused += 1
    print(f"refused={refused}")
    for s in held:
        s.close()


def raw(port, req_hex):
    s = connect(port)
    s.sendall(bytes.fromhex(req_hex))
    d = s.recv(4096)
    print(d.split(b"\r\n", 1)[0].decode(errors="replace"))


def statuses(s, want):
    """Reads up to `want` answers (or until EOF/reset); returns their status codes and whether
    the last one had Retry-After."""
    s.settimeout(10)
    buf = b""
    codes = []
    retry = False
    while len(codes) < want:
        m = re.search(rb"\r\n\r\n", buf)
        if m:
            head = buf[: m.start()]
            cl = re.search(rb"(?i)content-length: *(\d+)", head)
            n = int(cl.group(1)) if cl else 0
            if len(buf) >= m.end() + n:
                codes.append(head.split(b" ")[1].decode())
                retry = b"retry-after:" in head.lower()
                buf = buf[m.end() + n :]
                continue
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if not d:
            break
        buf += d
    return codes, retry


def drain(port, pid):
    """SIGTERM while (P) a request is half sent and (Q) two pipelined requests sit unread in the
    socket: P's request, completed after the signal, and Q's request the drain does not hand to
    the handler get 503 + Retry-After; nothing is reset."""
    event = (b"POST /ns1/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"ce-specversion: 1.0\r\nce-id: drain-%d\r\nce-source: /t\r\nce-type: t.drain\r\n"
             b"Content-Length: 10\r\n\r\n")
    p = connect(port)
    q = connect(port)
    p.sendall(event % 1 + b"01234")
    time.sleep(0.3)
    os.kill(pid, signal.SIGSTOP)
    try:
        q.sendall(event % 2 + b"0123456789" + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    try:
        p.sendall(b"56789")
    except OSError:
        pass
    pc, pr = statuses(p, 1)
    qc, qr = statuses(q, 2)
    print(f"partial={','.join(pc) or 'reset'} partial_retry={int(pr)} "
          f"pipelined={','.join(qc) or 'reset'} pipelined_retry={int(qr)}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "flood":
        flood(int(args[0]), args[1], int(args[2]), float(args[3]), int(args[4]))
    elif cmd == "progress":
        progress(int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "conns":
        conns(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "bodies":
        bodies(int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "raw":
        raw(int(args[0]), args[1])
    elif cmd == "drain":
        drain(int(args[0]), int(args[1]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
