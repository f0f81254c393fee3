//! Disk bytes per queued message: fills a spool with `n` messages of `size` octets from 64
//! concurrent writers (groups as the daemon makes them), then reports what the spool takes on
//! disk — allocated blocks (`du`) and file lengths — against the payload (the body octets), and
//! where redb's bytes go (its own page statistics, per table). Then it removes nine messages in
//! ten (the oldest) and reports the database file as the live spool leaves it, and after
//! `envoi_spool::compact`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use envoi_queue::Storage;
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::QueueId;
use redb::{ReadableTableMetadata, TableDefinition, TableHandle};

/// Runs every fill of `fills` (`NxSIZE,...`) in a fresh directory under `root`.
pub fn bench(root: &Path, fills: &str) {
    println!("| messages | body | spool du | du / payload | file length | length / payload | redb: stored leaf bytes / leaf pages / fragmented / branch pages | db file after removing 90 %: length (du) | after compact |");
    println!("|---:|---:|---:|---:|---:|---:|---|---:|---:|");
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
    let ids = fill(&dir, n, size);
    eprintln!(
        "filled {n} x {size} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (du, len) = usage(&dir);
    let payload = n as f64 * size as f64;
    let stats = redb_stats(&dir.join(envoi_spool::DB_FILE));
    let (removed, compacted) = remove_and_compact(&dir, &ids);
    println!(
        "| {n} | {size} B | {} MiB ({:.0} B/msg) | {:.2}x | {} MiB | {:.2}x | {stats} | {removed} | {compacted} |",
        du >> 20,
        du as f64 / n as f64,
        du as f64 / payload,
        len >> 20,
        len as f64 / payload,
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Removes the oldest nine tenths of `ids`, then compacts; the database file's length (du)
/// after each, as text.
fn remove_and_compact(dir: &Path, ids: &[QueueId]) -> (String, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let spool = Spool::open(dir, SpoolOptions::default()).unwrap();
        let removed = ids.len() * 9 / 10;
        let tasks: Vec<_> = ids[..removed]
            .chunks(removed.div_ceil(64).max(1))
            .map(|part| {
                let (spool, part) = (spool.clone(), part.to_vec());
                tokio::spawn(async move {
                    for id in part {
                        spool.remove(id).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let db = dir.join(envoi_spool::DB_FILE);
    let text = |len: u64, allocated: u64| format!("{} MiB ({} MiB)", len >> 20, allocated >> 20);
    let meta = fs::metadata(&db).unwrap();
    let removed = text(meta.len(), meta.blocks() * 512);
    let report = envoi_spool::compact(dir).unwrap();
    (removed, text(report.after.len, report.after.allocated))
}

fn fill(dir: &Path, n: u64, size: usize) -> Vec<QueueId> {
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
                    let mut ids = Vec::new();
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                        .is_ok()
                    {
                        let message = crate::new_message(&envelope);
                        ids.push(message.id);
                        spool.write(vec![message]).await.unwrap();
                    }
                    ids
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.extend(task.await.unwrap());
        }
        ids.sort();
        ids
    })
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
