"""Machine description and the summary table (medians, spreads, same-round ratios).

`python3 report.py RESULTS.jsonl` re-prints the table of a finished run.
"""

import json
import os
import platform
import statistics
import subprocess
import sys


def _cmd(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def fsync_latency(directory="/var/tmp", n=200):
    """p50/p99 ms of (4 KiB write + fdatasync) on the spools' file system."""
    import tempfile
    import time
    lat = []
    with tempfile.NamedTemporaryFile(dir=directory) as f:
        for _ in range(n):
            os.write(f.fileno(), b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(f.fileno())
            lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return round(lat[n // 2], 3), round(lat[int(n * 0.99)], 3)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = _cmd("free", "-h").splitlines()
    mem_total = mem[1].split()[1] if len(mem) > 1 else "?"
    dev = _cmd("findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "--target", "/var/tmp")
    m = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_total": mem_total,
        "kernel": platform.release(),
        "disk": dev,
        "postfix": _cmd("/usr/sbin/postconf", "-dh", "mail_version"),
        "load_at_start": os.getloadavg(),
        "fdatasync_ms_p50_p99": fsync_latency(),
        "envoi_commit": _cmd("git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe",
                             "--always", "--dirty"),
    }
    m["summary"] = (f"{m['nproc']} CPUs ({cpu}), {mem_total} RAM, Linux {m['kernel']}, "
                    f"spools on {dev} (4 KiB write+fdatasync p50/p99 "
                    f"{m['fdatasync_ms_p50_p99'][0]}/{m['fdatasync_ms_p50_p99'][1]} ms), "
                    f"Postfix {m['postfix']}, envoi {m['envoi_commit']}")
    return m


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return f" [{min(xs):.4g}–{max(xs):.4g}]"


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def cell(xs, digits=3):
    return fmt(med(xs), digits) + spread(xs)


def table(records, mach, seconds):
    loads = []
    for r in records:
        if r["load"] not in loads:
            loads.append(r["load"])
    rounds = sorted({r["round"] for r in records})
    out = []
    out.append(f"Machine: {mach['summary']}; load average at start "
               f"{', '.join(f'{x:.2f}' for x in mach['load_at_start'])}.")
    out.append(f"Rounds: {len(rounds)}; wall time {seconds / 60:.1f} min. Medians, [min–max] over "
               "rounds. Ratios are computed per round (same round, same load) and then the "
               "median taken.\n")
    out.append("| load | system | msg/s (to sink) | accepted msg/s | p50 ms | p99 ms | peak mem MB "
               "(RSS / PSS) | CPU ms/msg | dup | missing | errors |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for load in loads:
        for system in ("ceiling", "envoi", "postfix", "envoi-mem", "envoi-pg", "envoi-pg2",
                       "envoi-pg-held"):
            rs = [r for r in records if r["load"] == load and r["system"] == system]
            if not rs:
                continue
            mem = "–"
            if system != "ceiling":
                mem = f"{fmt(med([r.get('peak_rss_mb') for r in rs]))} / " \
                      f"{fmt(med([r.get('peak_pss_mb') for r in rs]))}"
            cpu = (cell([r.get("cpu_ms_per_msg") for r in rs]) if system != "ceiling"
                   else f"({fmt(med([r.get('tools_cpu_ms_per_msg') for r in rs]))} tools)")
            if system.startswith("envoi-pg"):
                cpu += f" (+ PostgreSQL {cell([r.get('pg_cpu_ms_per_msg') for r in rs])})"
            out.append(
                f"| {load} | {system} | {cell([r.get('msgs_per_s') for r in rs])} | "
                f"{cell([r.get('accept_per_s') for r in rs])} | "
                f"{cell([r.get('p50_ms') for r in rs])} | {cell([r.get('p99_ms') for r in rs])} | "
                f"{mem} | {cpu} | {sum(r.get('duplicates') or 0 for r in rs)} | "
                f"{sum(r.get('missing') or 0 for r in rs)} | "
                f"{sum(1 for r in rs if r.get('error'))} |")
    out.append("")
    out.append("| load | envoi/Postfix msg/s | envoi/ceiling msg/s | envoi/Postfix accepted/s | "
               "envoi/Postfix CPU per msg | envoi/Postfix p99 |")
    out.append("|---|---|---|---|---|---|")
    for load in loads:
        def ratios(key, other):
            xs = []
            for rnd in rounds:
                a = [r.get(key) for r in records
                     if r["load"] == load and r["round"] == rnd and r["system"] == "envoi"]
                b = [r.get(key) for r in records
                     if r["load"] == load and r["round"] == rnd and r["system"] == other]
                if a and b and a[0] and b[0]:
                    xs.append(a[0] / b[0])
            return cell(xs)
        out.append(f"| {load} | {ratios('msgs_per_s', 'postfix')} | "
                   f"{ratios('msgs_per_s', 'ceiling')} | {ratios('accept_per_s', 'postfix')} | "
                   f"{ratios('cpu_ms_per_msg', 'postfix')} | {ratios('p99_ms', 'postfix')} |")
    errs = [r for r in records if r.get("error")]
    if errs:
        out.append("\nErrors:")
        for r in errs:
            out.append(f"- round {r['round']} {r['system']} {r['load']}: {r['error']}")
    return "\n".join(out) + "\n"


def main():
    records, mach = [], None
    with open(sys.argv[1]) as f:
        for line in f:
            obj = json.loads(line)
            if "machine" in obj:
                mach = obj["machine"]
            else:
                records.append(obj)
    print(table(records, mach or machine(), 0))


if __name__ == "__main__":
    main()
