#!/usr/bin/env python3
"""Dashboard pages on a large queue: how long each page takes to answer with N deferred
messages (default 100 000).

    python3 bench/admin/dashboard.py --envoi target/release/envoi [--messages 100000] [--rounds 5]

It fills a fresh spool as bulk.py does (smtp-source into envoi, a local hop answering every
DATA with 451, so messages stay deferred), waits until every message has had its first attempt,
then fetches each page over loopback HTTP (no token: the loopback default, pages open without
sign-in) and prints the median time from request to the last byte of the page, which is
almost all server-side rendering and storage reads. Every process it starts is stopped at the
end.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bulk import DEFERRING_HOP, free_port, queue, wait_listening  # noqa: E402


def fetch(admin_port, path):
    """Seconds to get `path` whole, and its status."""
    connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=600)
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed, response.status


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envoi", required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
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
            processes.append(subprocess.Popen([args.envoi, "serve", "--config", config],
                                              stderr=subprocess.DEVNULL))
            wait_listening(hop_port)
            wait_listening(smtp_port)
            subprocess.run(["smtp-source", "-m", str(args.messages), "-s", "20", "-l", "1024",
                            "-f", "s@src.test", "-t", "r@dst.test", f"127.0.0.1:{smtp_port}"],
                           check=True)
            end = time.time() + 1800
            while time.time() < end:
                summary = json.loads(queue(args.envoi, admin, "--json", "summary"))
                if summary["by_state"]["deferred"] >= args.messages:
                    break
                time.sleep(1)
            else:
                sys.exit(f"the queue did not reach {args.messages} deferred messages")
            page = json.loads(queue(args.envoi, admin, "--json", "list", "--limit", "1"))
            one = page["messages"][0]["id"]
            pages = ["/", "/shape", "/shape?by=reply", "/destinations", "/messages",
                     "/messages?state=deferred&domain=dst.test", f"/messages/{one}",
                     "/quarantine"]
            print(f"{args.messages} deferred messages; median of {args.rounds} rounds per page")
            for path in pages:
                seconds = []
                for _ in range(args.rounds):
                    elapsed, status = fetch(admin_port, path)
                    if status != 200:
                        sys.exit(f"{path}: HTTP {status}")
                    seconds.append(elapsed)
                print(f"  {path:45} {statistics.median(seconds) * 1000:9.1f} ms "
                      f"({', '.join(f'{s * 1000:.1f}' for s in seconds)})")
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
