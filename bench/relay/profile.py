#!/usr/bin/env python3
"""Profile envoi under the 20-session relay load (smtp-source -> envoi -> smtp-sink).

  profile.py --tool perf       # perf record -e cpu-clock (software event: this VM has no PMU),
                               # DWARF call graphs, user + kernel; 20 000 x 4 KiB
  profile.py --tool callgrind  # valgrind --tool=callgrind: instruction counts (repeatable),
                               # user space only; use a smaller -n (valgrind is ~50x slower)
  profile.py --tool fsync      # perf trace -s on fdatasync/fsync/pwrite64: how long the
                               # spool writer waits for the disk per commit
  profile.py --tool syscalls   # perf stat on syscall tracepoints: fsyncs, connects, futexes
                               # per message (how well group commit and connection reuse work)

Writes the raw data and text summaries to --out (default bench/relay/profile-out/, not committed).
Every process started is stopped; every wait is bounded.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SYSCALLS = ["fsync", "fdatasync", "pwrite64", "write", "sendto", "recvfrom", "read", "connect",
            "accept4", "close", "futex", "epoll_wait", "clone3", "mmap", "munmap", "madvise"]


def sh(cmd, out_path, timeout=600):
    with open(out_path, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    print(f"wrote {out_path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", choices=["perf", "callgrind", "syscalls", "fsync"], required=True)
    ap.add_argument("--envoi", default="/work/target-bench/release/envoi")
    ap.add_argument("-n", type=int, default=None, help="messages (perf 20000, callgrind 2000)")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--out", default=os.path.join(HERE, "profile-out"))
    args = ap.parse_args()
    n = args.n or (2000 if args.tool == "callgrind" else 20000)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)

    work = tempfile.mkdtemp(prefix="envoi-relayprof-", dir="/var/tmp")
    os.chmod(work, 0o755)
    sink = envoi = perf = None
    try:
        sink_port = mta.free_port()
        sink = mta.Sink(sink_port)
        wrapper = None
        cg_file = os.path.join(out, "callgrind.out")
        if args.tool == "callgrind":
            wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_file}",
                       "--separate-threads=no", "--dump-instr=no"]
        envoi = mta.Envoi(args.envoi, work, mta.free_port(), sink_port, args.sessions,
                          wrapper=wrapper)
        time.sleep(1.0)
        perf_data = os.path.join(out, "perf.data")
        if args.tool == "perf":
            perf = subprocess.Popen(
                ["perf", "record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384",
                 "-p", str(envoi.proc.pid), "-o", perf_data],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        if args.tool == "syscalls":
            events = ",".join(f"syscalls:sys_enter_{s}" for s in SYSCALLS)
            perf = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-e", events, "-p", str(envoi.proc.pid), "-o",
                 os.path.join(out, "syscalls-raw.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        if args.tool == "fsync":
            perf = subprocess.Popen(
                ["perf", "trace", "-s", "-e", "fdatasync,fsync,pwrite64", "-p",
                 str(envoi.proc.pid), "-o", os.path.join(out, "fsync-trace.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        cpu0 = envoi.cpu()
        t0 = time.monotonic()
        src = subprocess.run(
            ["timeout", "1200", mta.SOURCE, "-d", "-s", str(args.sessions), "-m", str(n),
             "-l", str(args.size), "-f", "source@bench.test", "-t", "rcpt@dest.test",
             f"127.0.0.1:{envoi.port}"], stdout=subprocess.DEVNULL, timeout=1300)
        t_src = time.monotonic()
        t_done = sink.wait_for(n, 600)
        cpu1 = envoi.cpu()
        print(f"source rc {src.returncode}; accepted {n} in {t_src - t0:.2f}s; "
              f"delivered {sink.count} in {(t_done or time.monotonic()) - t0:.2f}s; "
              f"envoi CPU {1000 * (cpu1 - cpu0) / n:.3f} ms/msg", file=sys.stderr)
        with open(os.path.join(out, f"{args.tool}-run.txt"), "w") as f:
            f.write(f"n={n} sessions={args.sessions} size={args.size} source_rc={src.returncode} "
                    f"accept_s={t_src - t0:.3f} deliver_s={(t_done or 0) - t0:.3f} "
                    f"envoi_cpu_ms_per_msg={1000 * (cpu1 - cpu0) / n:.4f}\n")
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
            perf = None
    finally:
        if perf:
            mta.stop_proc(perf, signal.SIGINT, 120)
        if envoi:
            envoi.stop()
        if sink:
            sink.stop()
        subprocess.run(["rm", "-rf", work], check=False)

    if args.tool == "perf":
        sh(["perf", "report", "-i", perf_data, "--no-children", "--sort", "dso,sym",
            "--stdio", "-g", "none", "--percent-limit", "0.3"], os.path.join(out, "perf-self.txt"))
        sh(["perf", "report", "-i", perf_data, "--children", "--sort", "sym", "--stdio",
            "-g", "none", "--percent-limit", "2"], os.path.join(out, "perf-children.txt"))
        sh(["perf", "report", "-i", perf_data, "--no-children", "--sort", "comm",
            "--stdio", "-g", "none"], os.path.join(out, "perf-threads.txt"))
        sh(["perf", "report", "-i", perf_data, "--no-children", "--sort", "sym", "--stdio",
            "-G", "--percent-limit", "3"], os.path.join(out, "perf-callers.txt"))
    elif args.tool == "fsync":
        with open(os.path.join(out, "fsync-trace.txt")) as f:
            summary = f.read()
        print(summary[summary.find("Summary"):], file=sys.stderr)
    elif args.tool == "syscalls":
        with open(os.path.join(out, "syscalls-raw.txt")) as f, \
                open(os.path.join(out, "syscalls.txt"), "w") as g:
            g.write(f"syscalls per message (n={n}, {args.sessions} sessions, {args.size} B)\n")
            for line in f:
                p = line.strip().split(",")
                if len(p) > 2 and p[0].isdigit():
                    g.write(f"{int(p[0]) / n:10.3f}  {p[2].split('sys_enter_')[-1]}\n")
        print(open(os.path.join(out, "syscalls.txt")).read(), file=sys.stderr)
    else:
        sh(["callgrind_annotate", "--inclusive=no", cg_file],
           os.path.join(out, "callgrind-self.txt"))
        sh(["callgrind_annotate", "--inclusive=yes", cg_file],
           os.path.join(out, "callgrind-inclusive.txt"))


if __name__ == "__main__":
    main()
