//! Disk bytes per queued message: fills a spool with `n` messages of `size` octets from 64
//! concurrent writers (groups as the daemon makes them), then reports what the spool takes on
//! disk — allocated blocks (`du`) and file lengths — against the payload (the body octets), and
//! where redb's bytes go (its own page statistics, per table).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use envoi_queue::Storage;
use envoi_spool::{Spool, SpoolOptions};
use redb::{ReadableTableMetadata, TableDefinition, TableHandle};

/// Runs every fill of `fills` (`NxSIZE,...`) in a fresh directory under `root`.
pub fn bench(root: &Path, fills: &str) {
    println!("| messages | body | spool du | du / payload | file length | length / payload | redb: stored leaf bytes / leaf pages / fragmented / branch pages |");
    println!("|---:|---:|---:|---:|---:|---:|---|");
    for fill in fills.split(',') {
        let (n, size) = fill.split_once('x').expect("NxSIZE");
        let (n, size): (u64, usize) = (n.parse().unwrap(), size.parse().unwrap());
        measure(root, n, size);
    }
}

fn measure(root: &Path, n: u64, size: usize) {
    let dir = root.join(format!("disk-{n}x{size}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    fill(&dir, n, size);
    eprintln!(
        "filled {n} x {size} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (du, len) = usage(&dir);
    let payload = n as f64 * size as f64;
    let stats = redb_stats(&dir.join(envoi_spool::DB_FILE));
    println!(
        "| {n} | {size} B | {} MiB ({:.0} B/msg) | {:.2}x | {} MiB | {:.2}x | {stats} |",
        du >> 20,
        du as f64 / n as f64,
        du as f64 / payload,
        len >> 20,
        len as f64 / payload,
    );
    let _ = fs::remove_dir_all(&dir);
}

fn fill(dir: &Path, n: u64, size: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(128)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let spool = Spool::open(dir, SpoolOptions::default()).unwrap();
        let envelope = crate::envelope(size);
        let left = Arc::new(AtomicU64::new(n));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (spool, envelope, left) = (spool.clone(), envelope.clone(), left.clone());
                tokio::spawn(async move {
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                        .is_ok()
                    {
                        let message = crate::new_message(&envelope);
                        spool.write(vec![message]).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Allocated octets (blocks × 512, what `du` counts) and file lengths under `dir`.
fn usage(dir: &Path) -> (u64, u64) {
    let (mut du, mut len) = (0, 0);
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (d, l) = usage(&entry.path());
            du += d + meta.blocks() * 512;
            len += l;
        } else {
            du += meta.blocks() * 512;
            len += meta.len();
        }
    }
    (du, len)
}

/// redb's page statistics of every table of the closed spool database.
fn redb_stats(path: &Path) -> String {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let mut out = Vec::new();
    for handle in txn.list_tables().unwrap() {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(handle.name());
        let Ok(table) = txn.open_table(def) else {
            continue; // a table of other key or value types: small, skipped
        };
        let s = table.stats().unwrap();
        out.push(format!(
            "{}: {} MiB / {} / {} MiB / {}",
            handle.name(),
            s.stored_bytes() >> 20,
            s.leaf_pages(),
            s.fragmented_bytes() >> 20,
            s.branch_pages()
        ));
    }
    out.join("; ")
}
