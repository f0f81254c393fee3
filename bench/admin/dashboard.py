#!/usr/bin/env python3
"""Dashboard pages on a large queue: how long each page takes to answer with N deferred
messages (default 100 000).

    python3 bench/admin/dashboard.py --envoi target/release/envoi [--messages 100000] [--rounds 5]

It fills a fresh spool with bulk.py's `deferred_queue` (smtp-source into envoi, a local hop
answering every DATA with 451, so messages stay deferred; it waits until every message has had
its first attempt), then fetches each page over loopback HTTP (no token: the loopback default,
pages open without sign-in) and prints the median time from request to the last byte of the
page, which is almost all server-side rendering and storage reads. Every process it starts is
stopped at the end.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bulk import deferred_queue, queue  # noqa: E402


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
    with deferred_queue(args.envoi, args.messages, 1800) as admin:
        admin_port = int(admin.rsplit(":", 1)[1])
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


if __name__ == "__main__":
    main()
