//! Start-up of a queue over a large spool (until the first due message reaches the relay, and
//! until the whole schedule is loaded), and enqueue latency while `flush` runs.
//!
//! The spool holds `n` 1 KiB messages: one in a hundred due now, the rest due in a day (a
//! queue after an outage). The relay takes the first attempt's time and never answers, so
//! nothing is committed and the filled spool is reused from run to run; the messages the
//! run enqueues are deleted before it ends.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use envoi_queue::{Delivery, NewMessage, Queue, Relay, RelayError, Storage};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{Envelope, QueueId};
use tokio::sync::oneshot;

/// A relay that notes when the first attempt arrives and never answers.
struct Stuck {
    first: Mutex<Option<oneshot::Sender<Instant>>>,
}

#[async_trait::async_trait]
impl Relay for Stuck {
    async fn attempt(&self, _: &Envelope, _: u32) -> Result<Delivery, RelayError> {
        if let Some(first) = self.first.lock().unwrap().take() {
            let _ = first.send(Instant::now());
        }
        std::future::pending().await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Fills `queue-N` once, then measures in a fresh child process.
pub fn bench_queue(root: &Path, n: u64) {
    let dir = root.join(format!("queue-{n}"));
    let marker = dir.join("filled");
    if !marker.exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let started = Instant::now();
        runtime().block_on(async {
            let spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
            let envelope = super::envelope(1024);
            let later = SystemTime::now() + Duration::from_secs(86_400);
            let mut written = 0;
            while written < n {
                let batch = (n - written).min(2000);
                let messages = (written..written + batch)
                    .map(|i| {
                        let due = if i % 100 == 0 {
                            SystemTime::now()
                        } else {
                            later
                        };
                        NewMessage::new(envelope.clone(), due)
                    })
                    .collect();
                spool.write(messages).await.unwrap();
                written += batch;
            }
        });
        fs::write(&marker, b"").unwrap();
        eprintln!(
            "filled {n} messages in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let (dropped, out) = super::cold_child("queue-child", n, &dir);
    println!(
        "queue, {n} messages, page cache dropped: {dropped}:\n{}",
        String::from_utf8_lossy(&out.stdout).trim_end()
    );
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p99 and max of `samples`, in ms.
fn spread(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} enqueues)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        samples.len()
    )
}

/// Gives the calling thread a real-time priority (`chrt -f`, root only), so that what the
/// probe waits for is the queue's lock, not a core: on two cores the spool's background check
/// and the runtime's workers would otherwise delay it by a scheduler slice. Says so if it
/// cannot.
fn realtime() {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| Some(link.file_name()?.to_str()?.to_owned()));
    let done = tid.is_some_and(|tid| {
        std::process::Command::new("chrt")
            .args(["-f", "-p", "50", &tid])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !done {
        println!("  (the probe runs at normal priority: chrt failed)");
    }
}

/// Enqueues one message at a time until `until` says stop (at most `max`), timing each.
async fn enqueue_while(
    queue: &Queue,
    max: usize,
    until: impl Fn() -> bool,
) -> (Vec<Duration>, Vec<QueueId>) {
    let envelope = super::envelope(1024);
    let (mut times, mut ids) = (Vec::new(), Vec::new());
    while times.len() < max && !until() {
        let start = Instant::now();
        ids.extend(queue.enqueue(envelope.clone()).await.unwrap());
        times.push(start.elapsed());
    }
    (times, ids)
}

pub fn queue_child(dir: &Path, n: u64) {
    let runtime = runtime();
    runtime.block_on(async {
        let start = Instant::now();
        let spool: Arc<dyn Storage> = Arc::new(Spool::open(dir, SpoolOptions::default()).unwrap());
        let opened = start.elapsed();
        let (first_tx, first_rx) = oneshot::channel();
        let relay = Arc::new(Stuck {
            first: Mutex::new(Some(first_tx)),
        });
        let queue = Queue::builder(spool, relay).start().await.unwrap();
        let started = start.elapsed();
        let first = first_rx.await.unwrap().duration_since(start);
        while queue.is_loading() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let loaded = start.elapsed();
        assert!(queue.len() as u64 >= n, "{} loaded", queue.len());
        println!(
            "  spool open {:.3} s, queue started {:.3} s, first due message at the relay {:.3} s, whole schedule loaded {:.2} s",
            opened.as_secs_f64(),
            started.as_secs_f64(),
            first.as_secs_f64(),
            loaded.as_secs_f64()
        );

        let (quiet, mut ids) = enqueue_while(&queue, 200, || false).await;
        println!("  enqueue, no flush: {}", spread(quiet));

        // A probe takes the queue's lock (through `len`) in a loop on its own thread: the
        // longest it waits is the longest an enqueue's index insert could wait.
        let done = Arc::new(AtomicBool::new(false));
        let longest_wait = Arc::new(AtomicU64::new(0));
        let probe = {
            let (queue, done, longest) = (queue.clone(), done.clone(), longest_wait.clone());
            std::thread::spawn(move || {
                realtime();
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    std::hint::black_box(queue.len());
                    longest.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        let flushing = {
            let queue = queue.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let waiting = queue.flush().await;
                done.store(true, Ordering::Relaxed);
                (waiting, t.elapsed())
            })
        };
        let (during, more) = enqueue_while(&queue, 5000, || done.load(Ordering::Relaxed)).await;
        let (waiting, took) = flushing.await.unwrap();
        probe.join().unwrap();
        ids.extend(more);
        println!(
            "  flush: {waiting} made due in {:.0} ms; longest lock wait seen by a probe {:.2} ms",
            ms(took),
            longest_wait.load(Ordering::Relaxed) as f64 / 1000.0
        );
        if during.is_empty() {
            println!("  enqueue during flush: none finished before the flush did");
        } else {
            println!("  enqueue during flush: {}", spread(during));
        }
        let (after, more) = enqueue_while(&queue, 200, || false).await;
        ids.extend(more);
        println!("  enqueue, no flush, after it: {}", spread(after));
        for id in ids {
            queue.delete(id).await.unwrap();
        }
    });
}
