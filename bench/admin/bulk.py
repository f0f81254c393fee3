#!/usr/bin/env python3
"""Bulk admin actions on a large queue: how long `envoi queue hold --all` and
`envoi queue release --all` take with N deferred messages (default 10 000).

    python3 bench/admin/bulk.py --envoi target/release/envoi [--messages 10000] [--rounds 3]

It starts envoi on a fresh spool in a temporary folder, relaying to a local hop that answers
every DATA with 451 (so messages stay deferred, retried in an hour), fills the queue with
smtp-source (Postfix's load tool), waits until every message has had its first attempt, then
times each action (wall clock of the CLI command, which includes its HTTP round trips) and
prints the median of the rounds. Every process it starts is stopped at the end.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

DEFERRING_HOP = r'''
import socketserver
class Hop(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 hop\r\n")
        data = False
        for line in self.rfile:
            if data:
                if line == b".\r\n":
                    data = False
                    self.wfile.write(b"451 4.3.0 try later\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                data = True
                self.wfile.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            elif verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 hop\r\n")
            else:
                self.wfile.write(b"250 ok\r\n")
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
import sys
Server(("127.0.0.1", int(sys.argv[1])), Hop).serve_forever()
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def queue(envoi, admin, *args):
    out = subprocess.run([envoi, "queue", "--admin", f"http://{admin}", *args],
                         check=True, capture_output=True, text=True)
    return out.stdout


@contextlib.contextmanager
def deferred_queue(envoi, messages, wait_seconds):
    """Starts envoi on a fresh spool relaying to a hop that answers every DATA with 451, fills
    it with `messages` 1 KiB messages from smtp-source and waits (at most `wait_seconds`) until
    each has had its first attempt; yields the admin address (`host:port`) and stops every
    process it started when the block ends."""
    hop_port, smtp_port, admin_port = free_port(), free_port(), free_port()
    admin = f"127.0.0.1:{admin_port}"
    processes = []
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "envoi.toml")
        with open(config, "w") as f:
            f.write(f'''hostname = "bench.test"
[storage]
path = "{tmp}/spool"
[admin]
address = "{admin}"
[smtp]
reverse_dns = false
[[smtp.listener]]
address = "127.0.0.1:{smtp_port}"
[relay]
tls = "none"
smarthost = "smtp://127.0.0.1:{hop_port}"
[queue.backoff]
kind = "schedule"
delays = ["1h"]
''')
        try:
            processes.append(subprocess.Popen([sys.executable, "-c", DEFERRING_HOP, str(hop_port)]))
            processes.append(subprocess.Popen([envoi, "serve", "--config", config],
                                              stderr=subprocess.DEVNULL))
            wait_listening(hop_port)
            wait_listening(smtp_port)
            subprocess.run(["smtp-source", "-m", str(messages), "-s", "20", "-l", "1024",
                            "-f", "s@src.test", "-t", "r@dst.test", f"127.0.0.1:{smtp_port}"],
                           check=True)
            end = time.time() + wait_seconds
            while time.time() < end:
                summary = json.loads(queue(envoi, admin, "--json", "summary"))
                if summary["by_state"]["deferred"] >= messages:
                    break
                time.sleep(1)
            else:
                sys.exit(f"the queue did not reach {messages} deferred messages")
            yield admin
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envoi", required=True)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with deferred_queue(args.envoi, args.messages, 600) as admin:
        timings = {"hold": [], "release": []}
        for _ in range(args.rounds):
            for action in ("hold", "release"):
                start = time.perf_counter()
                out = queue(args.envoi, admin, action, "--all")
                timings[action].append(time.perf_counter() - start)
                expected = f"{'held' if action == 'hold' else 'released'} {args.messages} of {args.messages}"
                if not out.startswith(expected):
                    sys.exit(f"{action}: {out}")
        for action, seconds in timings.items():
            print(f"{action} --all, {args.messages} messages: median "
                  f"{statistics.median(seconds):.3f} s over {args.rounds} rounds "
                  f"({', '.join(f'{s:.3f}' for s in seconds)})")


if __name__ == "__main__":
    main()
