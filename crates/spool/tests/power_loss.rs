//! Power loss: the database lives on a simulated disk that keeps, apart from what the process
//! sees, only what was fsync'd. At a simulated power cut the disk comes back as of the last
//! `sync_data`, plus (in half of the rounds) a random subset of the writes issued since — a
//! disk may persist any of them, in any order. Every change acknowledged before the cut must
//! be there after reopening, and nothing removed may come back.
//!
//! Bodies are inline here (the shim covers the database only); body files follow the same
//! fsync-before-commit order, checked by the SIGKILL and failpoint tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::crash::{one_message, read_acks, verify_open, InFlight, Known};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::QueueId;
use rand::seq::SliceRandom;
use rand::Rng;
use redb::StorageBackend;

/// What the platters hold and what the page cache holds.
#[derive(Debug, Default)]
struct Disk {
    /// How many times `sync_data` was called.
    syncs: u64,
    /// What survives a power cut.
    durable: Vec<u8>,
    /// What reads see.
    live: Vec<u8>,
    /// Writes since the last sync, in order (offset, bytes); `None` offset = a resize.
    unsynced: Vec<(Option<u64>, Vec<u8>)>,
}

impl Disk {
    /// The disk after a power cut: the durable image plus, if `torn`, a random subset of the
    /// unsynced writes.
    fn after_power_cut(&self, torn: bool) -> Disk {
        let mut image = self.durable.clone();
        if torn {
            let mut rng = rand::thread_rng();
            let mut chosen: Vec<&(Option<u64>, Vec<u8>)> =
                self.unsynced.iter().filter(|_| rng.gen_bool(0.5)).collect();
            chosen.shuffle(&mut rng);
            for (offset, bytes) in chosen {
                if let Some(offset) = offset {
                    let offset = *offset as usize;
                    if image.len() < offset + bytes.len() {
                        image.resize(offset + bytes.len(), 0);
                    }
                    image[offset..offset + bytes.len()].copy_from_slice(bytes);
                }
            }
        }
        Disk {
            syncs: 0,
            durable: image.clone(),
            live: image,
            unsynced: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct ShimBackend(Arc<Mutex<Disk>>, Arc<AtomicBool>);

impl StorageBackend for ShimBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.0.lock().unwrap().live.len() as u64)
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, io::Error> {
        let disk = self.0.lock().unwrap();
        let start = offset as usize;
        disk.live
            .get(start..start + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut disk = self.0.lock().unwrap();
        disk.live.resize(len as usize, 0);
        // A resize reaches the platters only with the next sync (the torn image ignores it;
        // writes past the end extend the image as needed).
        disk.unsynced.push((None, Vec::new()));
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> Result<(), io::Error> {
        let mut disk = self.0.lock().unwrap();
        if self.1.load(Ordering::SeqCst) {
            // Like Linux after a writeback error: the dirty pages are gone, the error reported.
            disk.live = disk.durable.clone();
            disk.unsynced.clear();
            return Err(io::Error::from_raw_os_error(5));
        }
        disk.syncs += 1;
        disk.durable = disk.live.clone();
        disk.unsynced.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut disk = self.0.lock().unwrap();
        let start = offset as usize;
        if disk.live.len() < start + data.len() {
            disk.live.resize(start + data.len(), 0);
        }
        disk.live[start..start + data.len()].copy_from_slice(data);
        disk.unsynced.push((Some(offset), data.to_vec()));
        Ok(())
    }
}

fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: usize::MAX,
        cache_size: 4 << 20,
        ..SpoolOptions::default()
    }
}

fn boot(dir: &std::path::Path, disk: &Arc<Mutex<Disk>>) -> Spool {
    boot_failing(dir, disk, &Arc::new(AtomicBool::new(false)))
}

fn boot_failing(dir: &std::path::Path, disk: &Arc<Mutex<Disk>>, fail: &Arc<AtomicBool>) -> Spool {
    let (disk, fail) = (Arc::clone(disk), Arc::clone(fail));
    Spool::open_with_backend(dir, options(), move || {
        ShimBackend(Arc::clone(&disk), Arc::clone(&fail))
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).unwrap();
    let log_path = dir.path().join("acks.log");
    let mut disk = Arc::new(Mutex::new(Disk::default()));
    let mut model: BTreeMap<QueueId, Known> = BTreeMap::new();
    let mut in_flight = InFlight::default();
    let mut acked_total = 0;
    for round in 0..12 {
        let spool = boot(&spool_dir, &disk);
        verify_open(&spool, usize::MAX, &mut model, &in_flight).await;
        let log = Arc::new(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (spool, log, stop) = (spool.clone(), Arc::clone(&log), Arc::clone(&stop));
            tasks.push(tokio::spawn(async move {
                for _ in 0..500 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    one_message(&spool, &log).await.unwrap();
                }
            }));
        }
        let delay = rand::thread_rng().gen_range(20..200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // The cut: what the callers were told and what the disk holds, at one instant. The
        // disk stays locked while the log is copied, so no commit lands in between: every
        // acknowledgement in the copy was fsync'd before it was logged, hence is in the image,
        // and every change in the image had its intent logged before its commit, hence is in
        // the copy. (Copying the log first and locking after let a reschedule and a removal
        // commit in between, and the removal was then taken for a lost message.)
        let log_copy = dir.path().join("acks.cut");
        let torn = round % 2 == 1;
        let after = {
            let frozen = disk.lock().unwrap();
            std::fs::copy(&log_path, &log_copy).unwrap();
            frozen.after_power_cut(torn)
        };
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.unwrap();
        }
        drop(spool);
        drop::<Arc<Mutex<File>>>(log);
        std::fs::remove_file(&log_path).unwrap();
        let acked = read_acks(&log_copy, &mut model, &mut in_flight);
        acked_total += acked;
        eprintln!("round {round}: cut after {delay} ms (torn: {torn}), {acked} acks");
        disk = Arc::new(Mutex::new(after));
    }
    let spool = boot(&spool_dir, &disk);
    verify_open(&spool, usize::MAX, &mut model, &in_flight).await;
    assert!(acked_total > 0);
}

#[tokio::test]
async fn failed_fsync_is_an_error_never_retried_into_success() {
    use common::{assert_same, at, message};
    use envoi_queue::{Storage, StorageError};

    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(Mutex::new(Disk::default()));
    let fail = Arc::new(AtomicBool::new(false));
    let spool = boot_failing(dir.path(), &disk, &fail);
    let before = message(at(1));
    spool.write(vec![before.clone()]).await.unwrap();

    fail.store(true, Ordering::SeqCst);
    let failed = message(at(2));
    let error = spool.write(vec![failed.clone()]).await.unwrap_err();
    assert!(matches!(error, StorageError::Io(_)), "{error:?}");
    fail.store(false, Ordering::SeqCst);

    // The store reopened from what is durable and works again; the failed write is not there.
    let after = message(at(3));
    spool.write(vec![after.clone()]).await.unwrap();
    assert!(spool.get(failed.id).await.unwrap().is_none());

    let cut = disk.lock().unwrap().after_power_cut(false);
    drop(spool);
    let spool = boot(dir.path(), &Arc::new(Mutex::new(cut)));
    assert_same(&spool.get(before.id).await.unwrap().unwrap(), &before);
    assert_same(&spool.get(after.id).await.unwrap().unwrap(), &after);
    assert!(spool.get(failed.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    use common::assert_same;
    use envoi_queue::Storage;

    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(Mutex::new(Disk::default()));
    let spool = boot(dir.path(), &disk);
    let before = disk.lock().unwrap().syncs;
    let written = common::write_concurrently(&spool, 64, 5).await;
    let syncs = disk.lock().unwrap().syncs - before;
    assert!(
        syncs * 2 <= written.len() as u64,
        "{} writes took {syncs} fsyncs: no group commit",
        written.len()
    );
    // Each caller's data was durable when it returned: all of it is in the durable image.
    let cut = disk.lock().unwrap().after_power_cut(false);
    drop(spool);
    let spool = boot(dir.path(), &Arc::new(Mutex::new(cut)));
    for m in &written {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
}
