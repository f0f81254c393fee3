#!/usr/bin/env python3
"""Relay benchmark: envoi vs a private Postfix vs smtp-source -> smtp-sink (the ceiling).

Usually started by run.sh (which installs Postfix and builds envoi). Per run: start smtp-sink
(counting), start the system under test, start smtp-source and the latency probe together, wait
for the source to finish (acceptance), then for the sink to count every message (throughput),
then one settle second (duplicates). Rounds are interleaved: every round runs every load on every
system, the system order rotating from round to round.

Writes one JSON line per run to stdout and to OUT/<name>.jsonl, then a table of medians to stdout
and OUT/<name>.md. Every child process is stopped on exit, including on SIGINT/SIGTERM.
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mixed  # noqa: E402
import mta  # noqa: E402
import report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# name, messages, payload bytes, sessions
LOADS = [
    ("4KiB x20000 s1", 20000, 4096, 1),
    ("4KiB x20000 s20", 20000, 4096, 20),
    ("4KiB x20000 s100", 20000, 4096, 100),
    ("256KiB x2000 s20", 2000, 262144, 20),
]
# "One slow destination" (mixed.py): name, messages, payload, sessions, the slow hop's delay per
# reply in seconds (0: a second smtp-sink, the all-fast run to compare with). Indexes 4 and 5 of
# --loads; envoi systems only.
MIXED = [
    ("4KiB x20000 s20 10% slow", 20000, 4096, 20, 2.0),
    ("4KiB x20000 s20 10% fast", 20000, 4096, 20, 0.0),
]
# Large messages: 25 MiB less 64 KiB, so that smtp-source's own headers keep it under envoi's
# default 25 MiB limit. Index 6 of --loads (not in "all").
BIG = [
    ("25MiB x20 s20", 20, 25 * 1024 * 1024 - 65536, 20),
]
SYSTEMS = ["ceiling", "envoi", "postfix"]
# Also accepted by --systems: "envoi-old", the binary --envoi-old names (an older build, for
# before/after runs interleaved with the current one).
# Also accepted by --systems: "envoi-mem", envoi with [storage] kind = "memory" (no durability):
# an experiment that shows what the durable spool costs, not a fair comparison; "envoi-pg",
# envoi with [storage] kind = "postgres" on the server ENVOI_BENCH_POSTGRES_URL names (default
# the machine's, 127.0.0.1:5432 database test), in a schema of its own per run; its record
# adds the server's CPU per message (pg_cpu_ms_per_msg); "envoi-pg2", two envoi nodes on one
# schema, each sent half the messages over half the sessions (probe on the first; CPU of
# both); "envoi-pg-held", envoi-pg while another session holds a transaction (with an xid,
# so it holds back vacuum's horizon) open for 60 s from the start of the run; its record adds
# the dead tuples of envoi's tables at the end (pgstattuple) and how long the hold lasted.
PG_URL = os.environ.get("ENVOI_BENCH_POSTGRES_URL",
                        "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")

LIVE = []  # objects with .stop(), stopped in reverse order on exit


def stop_all():
    while LIVE:
        obj = LIVE.pop()
        try:
            obj.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"warning: stopping {type(obj).__name__}: {e}", file=sys.stderr)


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


class MemSampler(threading.Thread):
    """Every `period` seconds: sum of VmRSS and of Pss over the system's processes; keeps peaks."""

    def __init__(self, pids_fn, period=0.25):
        super().__init__(daemon=True)
        self.pids_fn, self.period = pids_fn, period
        self.peak_rss = self.peak_pss = self.max_procs = 0
        self.halt = threading.Event()

    def sample(self):
        pids = self.pids_fn()
        rss = pss = 0
        for pid in pids:
            r, _, p = mta.rss_pss(pid)
            rss += r
            pss += p
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.max_procs = max(self.max_procs, len(pids))

    def run(self):
        while not self.halt.wait(self.period):
            self.sample()


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def pg_schema(work):
    """The schema of an envoi-pg run in `work`."""
    return "bench_" + os.path.basename(work).replace("-", "_").lower()


def dead_tuples(schema):
    """Dead tuples in the schema's envoi tables now, by pgstattuple (exact, reads the tables)."""
    mta.psql(PG_URL, "CREATE EXTENSION IF NOT EXISTS pgstattuple")
    out = subprocess.run(
        ["psql", PG_URL, "-qAt", "-c",
         f"SELECT c.relname, (pgstattuple(c.oid)).dead_tuple_count FROM pg_class c "
         f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' "
         f"AND c.relkind = 'r' AND c.relname IN ('envoi_message', 'envoi_body', 'envoi_count')"],
        check=True, capture_output=True, text=True).stdout
    return {name: int(count) for name, count in
            (line.split("|") for line in out.split() if "|" in line)}


def pg_counters():
    """Transactions committed in the bench database and WAL syncs of the server, so far."""
    out = subprocess.run(
        ["psql", PG_URL, "-qAt", "-c",
         "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), "
         "(SELECT wal_sync FROM pg_stat_wal)"],
        check=True, capture_output=True, text=True).stdout.strip()
    commits, syncs = out.split("|")
    return int(commits), int(syncs)


def run_one(args, system, load, rnd, workroot):
    if len(load) > 4:
        return mixed.run(args, system, load, rnd, workroot, LIVE)
    name, n, size, sessions = load
    work = tempfile.mkdtemp(prefix=f"{system}-", dir=workroot)
    os.chmod(work, 0o755)
    rec = {"round": rnd, "system": system, "load": name, "n": n, "size": size,
           "sessions": sessions}
    sink_port = mta.free_port()
    sink = mta.Sink(sink_port)
    LIVE.append(sink)
    srv = None
    extra = []  # further nodes (envoi-pg2): sent their share, CPU summed
    held = None
    try:
        if system == "envoi-old":
            srv = mta.Envoi(args.envoi_old, work, mta.free_port(), sink_port, sessions)
        elif system in ("envoi", "envoi-mem"):
            srv = mta.Envoi(args.envoi, work, mta.free_port(), sink_port, sessions,
                            storage="memory" if system == "envoi-mem" else "spool")
        elif system.startswith("envoi-pg"):
            schema = pg_schema(work)
            mta.psql(PG_URL, f"CREATE SCHEMA {schema}")
            nodes = 2 if system == "envoi-pg2" else 1
            share = sessions if nodes == 1 else max(1, sessions // nodes)
            for node in range(1, nodes + 1):
                keys = (f'url = "{PG_URL}"\nschema = "{schema}"\nnode = "bench-{node}"\n'
                        f'pool_size = 32')
                nwork = work if node == 1 else os.path.join(work, f"node{node}")
                os.makedirs(nwork, exist_ok=True)
                one = mta.Envoi(args.envoi, nwork, mta.free_port(), sink_port, share,
                                storage="postgres", storage_keys=keys)
                LIVE.append(one)
                if srv is None:
                    srv = one
                else:
                    extra.append(one)
        elif system == "postfix":
            srv = mta.Postfix(work, mta.free_port(), sink_port, sessions, maillog=args.postfix_log)
        if srv and srv not in LIVE:
            LIVE.append(srv)
        port = srv.port if srv else sink_port
        time.sleep(0.5)  # let start-up work (spool open, process spawns) settle

        sampler = None
        cpu0 = 0.0
        if srv:
            sampler = MemSampler(srv.pids)
            sampler.sample()
            sampler.start()
            cpu0 = srv.cpu() + sum(e.cpu() for e in extra)
        pg_cpu0 = mta.postgres_cpu()
        pg0 = pg_counters() if system.startswith("envoi-pg") else None
        sink_cpu0 = sink.cpu()
        count0 = sink.count
        sess0 = sink.sessions
        stop_file = os.path.join(work, "probe.stop")
        src_cmd = [mta.SOURCE, *mta.source_reuse(n, sessions), "-s", str(sessions), "-m", str(n), "-l", str(size),
                   "-f", "source@bench.test", "-t", "rcpt@dest.test", "-M", "source.bench.test",
                   f"127.0.0.1:{port}"]
        rec["source_d"] = "-d" in src_cmd
        probe_cmd = [sys.executable, os.path.join(HERE, "probe.py"), "--port", str(port),
                     "--size", str(size), "--interval-ms", str(args.probe_interval_ms),
                     "--max", str(min(args.probe_max, max(20, n // 20))), "--max-seconds", str(args.source_timeout),
                     "--stop-file", stop_file]

        if system == "envoi-pg-held":
            held = subprocess.Popen(
                ["psql", PG_URL, "-qAt", "-c",
                 "BEGIN; SELECT txid_current(); SELECT pg_sleep(60); COMMIT;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            time.sleep(0.3)  # the transaction has its xid before the load starts
        per_node = [(srv.port if srv else sink_port, n, sessions)]
        if extra:
            nodes = 1 + len(extra)
            ports = [srv.port] + [e.port for e in extra]
            per_node = [(p, n // nodes + (1 if i < n % nodes else 0), max(1, sessions // nodes))
                        for i, p in enumerate(ports)]
        t0 = time.monotonic()
        others = []
        for p, m, ss in per_node[1:]:
            cmd = src_cmd[:]
            cmd[cmd.index("-s") + 1] = str(ss)
            cmd[cmd.index("-m") + 1] = str(m)
            cmd[-1] = f"127.0.0.1:{p}"
            others.append(subprocess.Popen(["timeout", str(args.source_timeout)] + cmd,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           stdin=subprocess.DEVNULL))
        if others:
            src_cmd[src_cmd.index("-s") + 1] = str(per_node[0][2])
            src_cmd[src_cmd.index("-m") + 1] = str(per_node[0][1])
        src = subprocess.Popen(["timeout", str(args.source_timeout)] + src_cmd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
        probe = subprocess.Popen(probe_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, text=True)
        _, status, ru = os.wait4(src.pid, 0)
        src.returncode = os.waitstatus_to_exitcode(status)
        for other in others:
            _, ostatus, oru = os.wait4(other.pid, 0)
            if os.waitstatus_to_exitcode(ostatus) != 0 and src.returncode == 0:
                src.returncode = os.waitstatus_to_exitcode(ostatus)
            ru = type("ru", (), {"ru_utime": ru.ru_utime + oru.ru_utime,
                                 "ru_stime": ru.ru_stime + oru.ru_stime})
        t_src = time.monotonic()
        src_err = src.stderr.read().decode(errors="replace").strip()
        src.stderr.close()
        with open(stop_file, "w"):
            pass
        try:
            pout, perr = probe.communicate(timeout=120)
            pres = json.loads(pout) if pout.strip() else {"ok": 0, "lat_ms": [],
                                                          "error": perr.strip()[-300:]}
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.communicate()
            pres = {"ok": 0, "lat_ms": [], "error": "probe timed out"}

        target = count0 + n + pres["ok"]
        t_done = sink.wait_for(target, args.deliver_timeout if src.returncode == 0 else 10)
        cpu1 = (srv.cpu() + sum(e.cpu() for e in extra)) if srv else 0.0
        pg_cpu1 = mta.postgres_cpu()
        sink_cpu1 = sink.cpu()
        time.sleep(args.settle)
        pg1 = pg_counters() if pg0 else None
        final = sink.count - count0
        expected = n + pres["ok"]
        if sampler:
            sampler.halt.set()
            sampler.join()
            sampler.sample()

        delivered = min(final, expected)
        rec.update({
            "source_rc": src.returncode,
            "probe_ok": pres["ok"],
            "probe_failed": pres.get("failed", 0),
            "accept_s": round(t_src - t0, 3),
            "accept_per_s": round(expected / (t_src - t0), 1),
            "elapsed_s": round(t_done - t0, 3) if t_done else None,
            "msgs_per_s": round(expected / (t_done - t0), 1) if t_done else None,
            "p50_ms": round(pct(pres["lat_ms"], 0.50), 3) if pres["lat_ms"] else None,
            "p99_ms": round(pct(pres["lat_ms"], 0.99), 3) if pres["lat_ms"] else None,
            "max_ms": round(max(pres["lat_ms"]), 3) if pres["lat_ms"] else None,
            "delivered": delivered,
            "missing": expected - delivered,
            "duplicates": max(0, final - expected),
            "sink_sessions_closed": sink.sessions - sess0,
            "tools_cpu_ms_per_msg": round(
                1000 * ((sink_cpu1 - sink_cpu0) + ru.ru_utime + ru.ru_stime) / expected, 4),
        })
        if srv:
            rec["cpu_ms_per_msg"] = round(1000 * (cpu1 - cpu0) / expected, 4)
            rec["peak_rss_mb"] = round(sampler.peak_rss / 2**20, 1)
            rec["peak_pss_mb"] = round(sampler.peak_pss / 2**20, 1)
            rec["procs_max"] = sampler.max_procs
            if system.startswith("envoi"):
                rec["vm_hwm_mb"] = round(mta.rss_pss(srv.proc.pid)[1] / 2**20, 1)
            if system == "postfix":
                rec["left_in_queue"] = srv.queued()
            if system.startswith("envoi-pg"):
                rec["pg_cpu_ms_per_msg"] = round(1000 * (pg_cpu1 - pg_cpu0) / expected, 4)
                rec["nodes"] = 1 + len(extra)
                # Server statistics reach the counters within about a second (the settle).
                rec["pg_commits_per_msg"] = round((pg1[0] - pg0[0]) / expected, 3)
                rec["pg_wal_syncs_per_msg"] = round((pg1[1] - pg0[1]) / expected, 3)
            if held is not None:
                rec["held_open_during_run"] = held.poll() is None
                rec["dead_tuples"] = dead_tuples(pg_schema(work))
        errors = []
        if src.returncode != 0:
            errors.append(f"smtp-source exit {src.returncode}: {src_err[-300:]}")
        if pres.get("error"):
            errors.append(f"probe: {pres['error']}")
        if t_done is None:
            errors.append(f"sink counted {final} of {expected}")
        if errors:
            rec["error"] = "; ".join(errors)
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not a crash
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        if held is not None and held.poll() is None:
            held.terminate()
            held.wait(timeout=10)
        for obj in extra + [srv, sink]:
            if obj is not None:
                obj.stop()
                if obj in LIVE:
                    LIVE.remove(obj)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if system.startswith("envoi-pg"):
                mta.psql(PG_URL, f"DROP SCHEMA IF EXISTS {pg_schema(work)} CASCADE")
        os.sync()
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envoi", default="/work/target-bench/release/envoi")
    ap.add_argument("--envoi-old", default=None, help="binary of the envoi-old system")
    ap.add_argument("--quick", action="store_true", help="N/10, one round: checks the script")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--loads", default="all",
                    help="comma-separated load indexes (0-3; 4-5 one slow destination; "
                         "6 20 x 25 MiB) or all (0-3)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default=None, help="result file name (default: timestamp)")
    ap.add_argument("--workdir", default=None, help="parent of per-run temp dirs (on disk)")
    ap.add_argument("--probe-interval-ms", type=float, default=20.0,
                    help="pause between probe messages")
    ap.add_argument("--probe-max", type=int, default=1000,
                    help="most probe messages per run (also at most N/20)")
    ap.add_argument("--source-timeout", type=int, default=600)
    ap.add_argument("--deliver-timeout", type=int, default=300)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--postfix-log", action="store_true", help="Postfix maillog_file (debug)")
    ap.add_argument("--keep", action="store_true", help="keep per-run directories")
    args = ap.parse_args()

    every = LOADS + MIXED + BIG
    loads = LOADS if args.loads == "all" else [every[int(i)] for i in args.loads.split(",")]
    if args.quick:
        loads = [(f"{nm} (quick)", max(100, n // 10), size, s, *rest)
                 for nm, n, size, s, *rest in loads]
        args.rounds = 1
        args.source_timeout = min(args.source_timeout, 180)
        args.deliver_timeout = min(args.deliver_timeout, 120)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(s.startswith("envoi") for s in systems) and not os.access(args.envoi, os.X_OK):
        sys.exit(f"no envoi binary at {args.envoi} (run.sh builds it)")
    if "envoi-old" in systems and not (args.envoi_old and os.access(args.envoi_old, os.X_OK)):
        sys.exit("the envoi-old system needs --envoi-old BINARY")

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    os.makedirs(args.out, exist_ok=True)
    name = args.name or time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    jsonl = os.path.join(args.out, name + ".jsonl")
    workroot = tempfile.mkdtemp(prefix="envoi-relaybench-", dir=args.workdir or "/var/tmp")
    os.chmod(workroot, 0o755)
    atexit.register(shutil.rmtree, workroot, True)

    machine = report.machine()
    print(f"# {machine['summary']}", file=sys.stderr)
    records = []
    t_start = time.monotonic()
    with open(jsonl, "w") as out:
        out.write(json.dumps({"machine": machine, "args": vars(args)}) + "\n")
        for rnd in range(1, args.rounds + 1):
            for load in loads:
                k = (rnd - 1) % len(systems)
                for system in systems[k:] + systems[:k]:
                    rec = run_one(args, system, load, rnd, workroot)
                    rec["load1"] = os.getloadavg()[0]
                    records.append(rec)
                    line = json.dumps(rec)
                    print(line, flush=True)
                    out.write(line + "\n")
                    out.flush()
    table = report.table(records, machine, time.monotonic() - t_start)
    with open(os.path.join(args.out, name + ".md"), "w") as f:
        f.write(table)
    print(table)
    print(f"results: {jsonl}", file=sys.stderr)
    bad = [r for r in records if r.get("error")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
