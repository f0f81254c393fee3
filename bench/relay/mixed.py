"""The "one slow destination" loads: 90 % of the mail to the fast sink (dest.test, the
smarthost), 10 % to slow.test, routed to a hop that waits `delay` seconds before every reply
(delay 0: a second smtp-sink, the all-fast run to compare with). Two smtp-source processes
share the sessions (18 + 2 of 20). Measured: the fast destination's throughput, messages at
the fast sink over the time from the start until the sink counted all of them; the slow mail
still queued then is left to the shutdown (a short grace)."""

import os
import shutil
import subprocess
import tempfile
import time

import mta

SLOW_SHARE = 0.10


def envoi_binary(args, system):
    if system == "envoi":
        return args.envoi
    if system == "envoi-old":
        return args.envoi_old
    raise ValueError(f"the slow-destination loads run on envoi or envoi-old, not {system}")


def run(args, system, load, rnd, workroot, live):
    name, n, size, sessions, delay = load
    n_slow = int(n * SLOW_SHARE)
    n_fast = n - n_slow
    s_slow = max(1, int(sessions * SLOW_SHARE))
    s_fast = max(1, sessions - s_slow)
    work = tempfile.mkdtemp(prefix=f"{system}-", dir=workroot)
    os.chmod(work, 0o755)
    rec = {"round": rnd, "system": system, "load": name, "n": n, "size": size,
           "sessions": sessions, "slow_delay_s": delay, "n_fast": n_fast, "n_slow": n_slow}
    started = []
    try:
        sink = mta.Sink(mta.free_port())
        started.append(sink)
        hop_port = mta.free_port()
        hop = mta.SlowHop(hop_port, delay) if delay > 0 else mta.Sink(hop_port)
        started.append(hop)
        routes = f'[relay.routes]\n"slow.test" = ["smtp://127.0.0.1:{hop_port}"]\n'
        srv = mta.Envoi(envoi_binary(args, system), work, mta.free_port(), sink.port, sessions,
                        queue_keys='shutdown_grace = "1s"', extra=routes)
        started.append(srv)
        live.extend(started)
        time.sleep(0.5)
        cpu0 = srv.cpu()
        count0 = sink.count

        def source(s, m, rcpt):
            cmd = [mta.SOURCE, *mta.source_reuse(m, s), "-s", str(s), "-m", str(m), "-l", str(size),
                   "-f", "source@bench.test", "-t", rcpt, "-M", "source.bench.test",
                   f"127.0.0.1:{srv.port}"]
            return subprocess.Popen(["timeout", str(args.source_timeout)] + cmd,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL)

        t0 = time.monotonic()
        fast_src = source(s_fast, n_fast, "rcpt@dest.test")
        slow_src = source(s_slow, n_slow, "rcpt@slow.test")
        rcs = [fast_src.wait(), slow_src.wait()]
        t_src = time.monotonic()
        errs = [p.stderr.read().decode(errors="replace").strip() for p in (fast_src, slow_src)]
        for p in (fast_src, slow_src):
            p.stderr.close()
        t_done = sink.wait_for(count0 + n_fast, args.deliver_timeout if rcs == [0, 0] else 10)
        cpu1 = srv.cpu()
        time.sleep(args.settle)
        final = sink.count - count0
        rec.update({
            "source_rc": rcs,
            "accept_s": round(t_src - t0, 3),
            "accept_per_s": round(n / (t_src - t0), 1),
            "elapsed_s": round(t_done - t0, 3) if t_done else None,
            "msgs_per_s": round(n_fast / (t_done - t0), 1) if t_done else None,
            "slow_delivered": hop.count,
            "delivered": min(final, n_fast),
            "missing": max(0, n_fast - final),
            "duplicates": max(0, final - n_fast),
            "cpu_ms_per_msg": round(1000 * (cpu1 - cpu0) / n, 4),
        })
        errors = [f"smtp-source exit {rc}: {e[-300:]}" for rc, e in zip(rcs, errs) if rc != 0]
        if t_done is None:
            errors.append(f"fast sink counted {final} of {n_fast}")
        if errors:
            rec["error"] = "; ".join(errors)
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not a crash
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        for obj in reversed(started):
            obj.stop()
            if obj in live:
                live.remove(obj)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        os.sync()
    return rec
