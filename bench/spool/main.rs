//! Spool benchmark (not a test): durable writes per second against a one-file-per-message
//! baseline, start-up time and memory with many queued messages, and a queue over a large
//! spool (start-up to the first delivery, enqueue latency during `flush`: `queue`).
//!
//! ```text
//! cargo bench -p envoi-spool --bench spool -- writes  [--dir D] [--secs S] [--repeat N] [--sizes 4096,65536] [--writers 1,8,64]
//! cargo bench -p envoi-spool --bench spool -- startup [--dir D] [--counts 100000,1000000]
//! cargo bench -p envoi-spool --bench spool -- disk    [--dir D] [--fills 100000x1024,100000x65536]
//! cargo bench -p envoi-spool --bench spool -- cpu     [--dir D] [--sizes 4096] [--writers 8,64] [--n 20000]
//! cargo bench -p envoi-spool --bench spool -- queue   [--dir D] [--counts 100000,1000000]
//! ```
//! Results are printed as Markdown tables; bench/spool/README.md keeps the last figures.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a bench: a panic is a failed run

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use envoi_queue::{MessageMeta, NewMessage, Storage};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{Address, Envelope, QueueId, Sender};

mod disk;
mod queue;

/// Runs this bench again as `child` over the `n` messages in `dir`, in a fresh process after
/// dropping the page cache when allowed (root), so the database is read from disk; returns
/// whether the cache was dropped, and the child's output.
fn cold_child(child: &str, n: u64, dir: &Path) -> (bool, std::process::Output) {
    let dropped = fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([child, "--n", &n.to_string(), "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    (dropped, out)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(arg(&args, "--dir").unwrap_or_else(|| "/tmp/envoi-spool-bench".into()));
    if args.iter().any(|a| a == "queue-child") {
        let n: u64 = arg(&args, "--n").unwrap().parse().unwrap();
        queue::queue_child(&dir, n);
        return;
    }
    if args.iter().any(|a| a == "startup-child") {
        let n: u64 = arg(&args, "--n").unwrap().parse().unwrap();
        startup_child(&dir, n);
        return;
    }
    let secs: u64 = arg(&args, "--secs").map_or(3, |s| s.parse().unwrap());
    let writes = args.iter().any(|a| a == "writes");
    let startup = args.iter().any(|a| a == "startup");
    if args.iter().any(|a| a == "cpu") {
        let list = |name: &str, default: &str| -> Vec<usize> {
            arg(&args, name)
                .unwrap_or_else(|| default.into())
                .split(',')
                .map(|n| n.parse().unwrap())
                .collect()
        };
        let n = list("--n", "20000")[0];
        for size in list("--sizes", "4096") {
            for writers in list("--writers", "8,64") {
                bench_cpu(&dir, size, writers, n);
            }
        }
        return;
    }
    if args.iter().any(|a| a == "disk") {
        let fills = arg(&args, "--fills").unwrap_or_else(|| "100000x1024,100000x65536".into());
        disk::bench(&dir, &fills);
        return;
    }
    let queue = args.iter().any(|a| a == "queue");
    let all = !writes && !startup && !queue;
    if writes || all {
        let list = |name: &str, default: &str| -> Vec<usize> {
            arg(&args, name)
                .unwrap_or_else(|| default.into())
                .split(',')
                .map(|n| n.parse().unwrap())
                .collect()
        };
        let sizes = list("--sizes", "4096,65536");
        let writers = list("--writers", "1,8,64");
        let repeat = list("--repeat", "1")[0].max(1);
        bench_writes(&dir, Duration::from_secs(secs), &sizes, &writers, repeat);
    }
    if startup || all {
        let counts = arg(&args, "--counts").unwrap_or_else(|| "100000,1000000".into());
        for n in counts.split(',') {
            bench_startup(&dir, n.parse().unwrap());
        }
    }
    if queue || all {
        let counts = arg(&args, "--counts").unwrap_or_else(|| "100000".into());
        for n in counts.split(',') {
            queue::bench_queue(&dir, n.parse().unwrap());
        }
    }
}

fn envelope(size: usize) -> Envelope {
    let mut body = b"Subject: bench\r\nFrom: a@b.example\r\n\r\n".to_vec();
    body.resize(size, b'x');
    Envelope::new(
        Sender::parse("sender@example.org").unwrap(),
        vec![Address::parse("rcpt@example.net").unwrap()],
        body,
    )
}

fn new_message(envelope: &Envelope) -> NewMessage {
    NewMessage {
        id: QueueId::new(),
        envelope: envelope.clone(),
        meta: MessageMeta::new(envelope, SystemTime::now()),
    }
}

/// Postfix's discipline: one file per message, write + fsync + rename + fsync(dir).
fn baseline_write(dir: &Path, body: &[u8]) {
    let id = QueueId::new();
    let tmp = dir.join(format!("{id}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .unwrap();
    file.write_all(body).unwrap();
    file.sync_all().unwrap();
    fs::rename(&tmp, dir.join(id.to_string())).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
}

/// The median of `runs` measurements, taken interleaved (baseline, inline, files, baseline...)
/// so that a burst of load from elsewhere hits every column alike.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench_writes(
    root: &Path,
    secs: Duration,
    sizes: &[usize],
    writer_counts: &[usize],
    repeat: usize,
) {
    println!(
        "## Durable writes per second ({} s per cell, median of {repeat})\n",
        secs.as_secs()
    );
    println!("| writers | size | baseline (file+fsync+rename+dir fsync) | spool, inline bodies | spool, file bodies | inline / baseline |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(128)
        .enable_all()
        .build()
        .unwrap();
    for &size in sizes {
        for &writers in writer_counts {
            let (mut base, mut inline, mut files) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..repeat {
                base.push(baseline(root, writers, size, secs));
                inline.push(runtime.block_on(spool_rate(root, writers, size, usize::MAX, secs)));
                files.push(runtime.block_on(spool_rate(root, writers, size, 0, secs)));
            }
            let (base, inline, files) = (median(base), median(inline), median(files));
            println!(
                "| {writers} | {} KiB | {base:.0} | {inline:.0} | {files:.0} | {:.1}x |",
                size / 1024,
                inline / base
            );
        }
    }
    println!();
}

fn fresh(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn baseline(root: &Path, writers: usize, size: usize, secs: Duration) -> f64 {
    let dir = fresh(root, "baseline");
    let body = envelope(size).message.as_bytes().to_vec();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (dir, body, done, stop) = (dir.clone(), body.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    baseline_write(&dir, &body);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&dir);
    rate
}

async fn spool_rate(
    root: &Path,
    writers: usize,
    size: usize,
    inline_max: usize,
    secs: Duration,
) -> f64 {
    let dir = fresh(root, "spool");
    let options = SpoolOptions {
        inline_max,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(&dir, options).unwrap();
    let envelope = envelope(size);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + secs;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (spool, envelope, done) = (spool.clone(), envelope.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    spool.write(vec![new_message(&envelope)]).await.unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    drop(spool);
    let _ = fs::remove_dir_all(&dir);
    rate
}

/// CPU time of this process since it started (user + system), from `/proc/self/stat`, in
/// clock ticks of 10 ms.
fn process_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// `n` inline writes of `size` octets from `writers` tasks into a fresh spool: the rate, and
/// the process's CPU time per message (which load from other processes disturbs far less than
/// the rate).
fn bench_cpu(root: &Path, size: usize, writers: usize, n: usize) {
    let dir = fresh(root, "cpu");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
    let envelope = envelope(size);
    let left = Arc::new(AtomicU64::new(n as u64));
    let (cpu, start) = (process_cpu(), Instant::now());
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let (spool, envelope, left) = (spool.clone(), envelope.clone(), left.clone());
                tokio::spawn(async move {
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                        .is_ok()
                    {
                        spool.write(vec![new_message(&envelope)]).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let (cpu, wall) = (process_cpu() - cpu, start.elapsed());
    println!(
        "| {writers} | {size} B | {n} | {:.0}/s | {:.1} µs CPU/message |",
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
    drop(spool);
    let _ = fs::remove_dir_all(&dir);
}

/// Fills a spool with `n` messages (1 KiB bodies, inline) unless it is there already, then
/// measures a start in a fresh child process.
fn bench_startup(root: &Path, n: u64) {
    let dir = root.join(format!("startup-{n}"));
    let marker = dir.join("filled");
    if !marker.exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            let spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
            let envelope = envelope(1024);
            let mut left = n;
            while left > 0 {
                let batch = left.min(2000);
                let messages = (0..batch).map(|_| new_message(&envelope)).collect();
                spool.write(messages).await.unwrap();
                left -= batch;
            }
        });
        fs::write(&marker, b"").unwrap();
        eprintln!(
            "filled {n} messages in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let (dropped, out) = cold_child("startup-child", n, &dir);
    let db_size = fs::metadata(dir.join(envoi_spool::DB_FILE)).map_or(0, |m| m.len());
    println!(
        "startup, {n} messages, db {} MiB, page cache dropped: {dropped}: {}",
        db_size >> 20,
        String::from_utf8_lossy(&out.stdout).trim()
    );
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn rss_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn startup_child(dir: &Path, n: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = rss_kib("VmRSS:");
    let start = Instant::now();
    let spool = Spool::open(dir, SpoolOptions::default()).unwrap();
    let opened = start.elapsed();
    let schedule = runtime.block_on(spool.load_schedule()).unwrap();
    let ready = start.elapsed();
    assert_eq!(schedule.len() as u64, n);
    let after = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    let per = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!(
        "open+reconcile {:.2} s, ready (schedule loaded) {:.2} s; RSS {} MiB -> {} MiB (peak {} MiB), {per:.0} B/message resident",
        opened.as_secs_f64(),
        ready.as_secs_f64(),
        before / 1024,
        after / 1024,
        peak / 1024
    );
    // The record check (in the background since open): how long until every record decoded,
    // and what it costs in memory.
    let bad = spool.verify_records().unwrap();
    println!(
        "  every metadata record checked after {:.2} s ({} undecodable); RSS then {} MiB (peak {} MiB)",
        start.elapsed().as_secs_f64(),
        bad.len(),
        rss_kib("VmRSS:") / 1024,
        rss_kib("VmHWM:") / 1024
    );
    drop(schedule);
}
