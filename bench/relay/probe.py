#!/usr/bin/env python3
"""Latency probe: one SMTP session beside the load generator, timing final dot -> reply.

For each message it writes everything up to the end of the body, then takes a timestamp, writes
the final ".\\r\\n", and takes a second timestamp when the whole reply has been read. The difference
is what a client waits for the server's "250 ... queued" -- for a durable MTA, the commit.

Bounded: it stops after --max messages, after --max-seconds, or as soon as --stop-file exists,
whichever comes first; every socket operation has a timeout. Prints one JSON object on stdout:
  {"sent": N, "ok": N, "failed": N, "lat_ms": [...]}   (lat_ms only for 2xx replies)
"""

import argparse
import json
import os
import socket
import sys
import time


def read_reply(f):
    """Read one (possibly multi-line) SMTP reply; return (code, text)."""
    lines = []
    while True:
        line = f.readline(4096)
        if not line:
            raise ConnectionError("connection closed")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return int(lines[-1][:3]), "\n".join(lines)


def expect(f, ok_first_digit, what):
    code, text = read_reply(f)
    if code // 100 != ok_first_digit:
        raise RuntimeError(f"{what}: unexpected reply {text!r}")
    return code


def make_body(size, seq):
    """Headers plus `size` bytes of 76-column text lines (no line starts with '.')."""
    head = (
        f"From: <probe@bench.test>\r\nTo: <probe-rcpt@dest.test>\r\n"
        f"Subject: latency probe {seq}\r\nMessage-ID: <probe-{os.getpid()}-{seq}@bench.test>\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    n = max(1, size // len(line))
    return head + line * n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=4096, help="body bytes per message")
    ap.add_argument("--interval-ms", type=float, default=10.0, help="pause between messages")
    ap.add_argument("--max", type=int, default=2000, help="most messages to send")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--stop-file", help="stop as soon as this file exists")
    a = ap.parse_args()

    deadline = time.monotonic() + a.max_seconds
    sent = ok = failed = 0
    lat = []
    err = None
    try:
        s = socket.create_connection((a.host, a.port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        expect(f, 2, "banner")
        s.sendall(b"EHLO probe.bench.test\r\n")
        expect(f, 2, "EHLO")
        while sent < a.max and time.monotonic() < deadline:
            if a.stop_file and os.path.exists(a.stop_file):
                break
            body = make_body(a.size, sent)
            s.sendall(b"MAIL FROM:<probe@bench.test>\r\n")
            expect(f, 2, "MAIL")
            s.sendall(b"RCPT TO:<probe-rcpt@dest.test>\r\n")
            expect(f, 2, "RCPT")
            s.sendall(b"DATA\r\n")
            expect(f, 3, "DATA")
            s.sendall(body)
            t0 = time.perf_counter_ns()
            s.sendall(b".\r\n")
            code, _ = read_reply(f)
            t1 = time.perf_counter_ns()
            sent += 1
            if code // 100 == 2:
                ok += 1
                lat.append((t1 - t0) / 1e6)
            else:
                failed += 1
            if a.interval_ms > 0:
                time.sleep(a.interval_ms / 1000.0)
        s.sendall(b"QUIT\r\n")
        try:
            read_reply(f)
        except (OSError, ConnectionError):
            pass
        s.close()
    except (OSError, ConnectionError, RuntimeError, ValueError) as e:
        err = f"{type(e).__name__}: {e}"
    out = {"sent": sent, "ok": ok, "failed": failed, "lat_ms": [round(x, 3) for x in lat]}
    if err:
        out["error"] = err
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
