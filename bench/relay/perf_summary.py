#!/usr/bin/env python3
"""Summarise `perf script` output (DWARF stacks) of envoi into shares that answer "what dominates".

  perf script -i perf.data -F comm,tid,time,event,ip,sym,dso --no-inline > perf-script.txt
  perf_summary.py perf-script.txt

Prints: samples per thread; per component (edge / relay / queue / spool caller / spool writer
thread / runtime) x activity (which syscall, malloc, memcpy, redb, other user code); inclusive
shares of envoi's own functions, of malloc+free+memcpy, and of the heaviest library frames.
"""

import collections
import re
import sys

SYSCALLS = [
    ("fsync/fdatasync", ("__x64_sys_fsync", "__x64_sys_fdatasync", "ext4_sync_file")),
    ("file write", ("__x64_sys_pwrite64", "__x64_sys_write", "ksys_pwrite64")),
    ("file read", ("__x64_sys_pread64",)),
    ("socket send", ("__x64_sys_sendto", "__x64_sys_sendmsg", "__x64_sys_writev")),
    ("socket recv", ("__x64_sys_recvfrom", "__x64_sys_recvmsg", "__x64_sys_read")),
    ("futex (wake/wait)", ("__x64_sys_futex",)),
    ("epoll", ("__x64_sys_epoll_wait", "__x64_sys_epoll_ctl", "__x64_sys_epoll_pwait")),
    ("thread create/exit", ("__x64_sys_clone", "__x64_sys_clone3", "__x64_sys_exit",
                            "__x64_sys_mmap", "__x64_sys_munmap", "__x64_sys_mprotect",
                            "__x64_sys_madvise")),
    ("accept/connect/close", ("__x64_sys_accept4", "__x64_sys_connect", "__x64_sys_close",
                              "__x64_sys_shutdown")),
]
ALLOC = re.compile(r"^(malloc|free|cfree|realloc|calloc|_int_malloc|_int_free|_int_realloc|"
                   r"malloc_consolidate|unlink_chunk|__libc_malloc|__libc_free|"
                   r"__rust_alloc|__rust_dealloc|__rust_realloc|alloc::raw_vec)")
COPY = re.compile(r"^(__memmove|__memcpy|__memset|memcpy|memmove)")


def parse(path):
    samples = []
    comm, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if comm is not None:
                    samples.append((comm, frames))
                comm, frames = None, []
                continue
            if not line[0].isspace():
                comm = line.split()[0] if line.split() else "?"
                frames = []
            else:
                parts = line.strip().split(" ", 1)
                if len(parts) == 2:
                    sym = parts[1].rsplit(" (", 1)[0]
                    frames.append(sym)
    if comm is not None:
        samples.append((comm, frames))
    return samples


def component(comm, frames):
    text = "\n".join(frames)
    if comm.startswith("envoi-spool"):
        return "spool writer thread"
    for name, key in (("edge (SMTP server)", "envoi_edge::"), ("relay (SMTP client)",
                      "envoi_relay::"), ("spool (caller side)", "envoi_spool::"),
                      ("queue", "envoi_queue::")):
        if key in text:
            return name
    return "runtime/other"


def activity(frames):
    for name, keys in SYSCALLS:
        if any(k in fr for fr in frames for k in keys):
            return "sys: " + name
    if frames and frames[0].startswith("0xffff") is False and any(
            "entry_SYSCALL" in fr for fr in frames):
        return "sys: other"
    leaf = frames[0] if frames else "?"
    if any("entry_SYSCALL" in fr for fr in frames):
        return "sys: other"
    if "[unknown]" not in leaf and re.match(r"^[a-z_]+$", leaf) and "irq" in leaf:
        return "kernel irq/sched"
    if ALLOC.match(leaf):
        return "malloc/free"
    if COPY.match(leaf):
        return "memcpy/memset"
    if leaf.startswith("redb::"):
        return "redb (user)"
    if leaf.startswith("tokio::") or leaf.startswith("parking_lot"):
        return "tokio/parking_lot"
    if leaf.startswith("envoi_"):
        return "envoi code (self)"
    if leaf.startswith("[k]") or leaf.startswith("_raw_") or leaf.startswith("finish_task"):
        return "kernel sched/irq"
    return "other"


def clean(sym):
    sym = re.sub(r"::\{\{closure\}\}", "", sym)
    return sym


LIBRARY = re.compile(r"^(redb::|tracing|metrics|mail_parser|mail_builder|tokio::task::blocking|"
                     r"tokio::runtime::blocking::pool::Spawner|std::thread|hickory|"
                     r"tokio::sync|tokio::time|pthread_create|alloc::)")


def envoi_frame(sym):
    """The cleaned name of one of envoi's own frames, or None."""
    if sym.startswith("envoi_") or "envoi_" in sym.split("::")[0]:
        return clean(sym)
    return None


def library_frame(sym):
    """The cleaned name of one of the heaviest libraries' frames (alloc:: without generics)."""
    if not LIBRARY.match(sym):
        return None
    s = clean(sym)
    return re.sub(r"<.*", "", s) if s.startswith("alloc::") else s


def print_inclusive(samples, total, title, pick):
    """Prints the share of samples with at least one frame that `pick` names (>= 1%)."""
    print(f"\n## inclusive share of {title} (>= 1%)")
    inc = collections.Counter()
    for _, fr in samples:
        inc.update({name for name in map(pick, fr) if name is not None})
    for s, v in inc.most_common(40):
        if 100 * v / total >= 1:
            print(f"{100 * v / total:6.1f}%  {s[:150]}")


def main():
    samples = parse(sys.argv[1])
    total = len(samples)
    print(f"{total} samples (cpu-clock)\n")

    print("## by thread")
    for k, v in collections.Counter(c for c, _ in samples).most_common():
        print(f"{100 * v / total:6.1f}%  {k}")

    print("\n## component x activity (self time of the sample's leaf)")
    comp = collections.Counter()
    act = collections.Counter()
    both = collections.Counter()
    for c, fr in samples:
        a, b = component(c, fr), activity(fr)
        comp[a] += 1
        act[b] += 1
        both[(a, b)] += 1
    for a, v in comp.most_common():
        print(f"{100 * v / total:6.1f}%  {a}")
        for (x, y), w in both.most_common():
            if x == a and 100 * w / total >= 0.5:
                print(f"         {100 * w / total:6.1f}%  {y}")
    print("\n## activity, all components")
    for a, v in act.most_common():
        print(f"{100 * v / total:6.1f}%  {a}")

    print_inclusive(samples, total, "envoi functions", envoi_frame)
    print_inclusive(samples, total, "selected library frames", library_frame)


if __name__ == "__main__":
    main()
