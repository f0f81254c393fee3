//! Power loss: the database lives on a simulated disk that behaves as Linux's page cache does.
//! Reads see every write; only what a successful `sync_data` flushed survives a power cut,
//! plus (in half of the rounds) a random subset of the writes issued since — a disk may
//! persist any of them, in any order. A failed `sync_data` (EIO) reports the error once and
//! leaves the writes it failed to flush readable in the cache but never durable: they are not
//! flushed by any later sync. Dropping the clean cached pages (what the spool asks before every
//! open) makes reads see the disk again. Every change acknowledged before the cut must be
//! there after reopening, and nothing removed may come back.
//!
//! Bodies are inline here (the shim covers the database only); body files follow the same
//! fsync-before-commit order, checked by the SIGKILL and failpoint tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::crash::{one_message, read_acks, verify_open, InFlight, Known};
use envoi_spool::{Spool, SpoolBackend, SpoolOptions};
use envoi_types::QueueId;
use rand::seq::SliceRandom;
use rand::Rng;
use redb::StorageBackend;

/// One change to the file, not yet flushed.
#[derive(Debug, Clone)]
enum Change {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

impl Change {
    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            Change::Write(offset, bytes) => {
                let offset = *offset as usize;
                if image.len() < offset + bytes.len() {
                    image.resize(offset + bytes.len(), 0);
                }
                image[offset..offset + bytes.len()].copy_from_slice(bytes);
            }
            Change::SetLen(len) => image.resize(*len as usize, 0),
        }
    }
}

/// What the platters hold and what the page cache holds.
#[derive(Debug, Default)]
struct Disk {
    /// How many times `sync_data` succeeded.
    syncs: u64,
    /// What survives a power cut.
    durable: Vec<u8>,
    /// What reads see: the durable image, the dirty pages, and the pages a failed sync left
    /// behind (clean, readable, never written).
    live: Vec<u8>,
    /// Changes since the last sync, in order: the dirty pages.
    dirty: Vec<Change>,
}

impl Disk {
    /// The disk after a power cut: the durable image plus, if `torn`, a random subset of the
    /// unsynced writes (a resize reaches the platters only with a sync; writes past the end
    /// extend the image as needed).
    fn after_power_cut(&self, torn: bool) -> Disk {
        let mut image = self.durable.clone();
        if torn {
            let mut rng = rand::thread_rng();
            let mut chosen: Vec<&Change> = self
                .dirty
                .iter()
                .filter(|c| matches!(c, Change::Write(..)) && rng.gen_bool(0.5))
                .collect();
            chosen.shuffle(&mut rng);
            for change in chosen {
                change.apply(&mut image);
            }
        }
        Disk {
            syncs: 0,
            durable: image.clone(),
            live: image,
            dirty: Vec::new(),
        }
    }
}

/// The simulated disk, and how many of the next `sync_data` calls fail with EIO.
#[derive(Debug, Clone)]
struct ShimBackend(Arc<Mutex<Disk>>, Arc<AtomicU32>);

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
        disk.dirty.push(Change::SetLen(len));
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> Result<(), io::Error> {
        let mut disk = self.0.lock().unwrap();
        let fail = self
            .1
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let dirty = std::mem::take(&mut disk.dirty);
        if fail {
            // Like Linux after a writeback error: the pages are marked clean, so no later sync
            // writes them, yet they stay in the cache and reads still see them.
            return Err(io::Error::from_raw_os_error(5));
        }
        disk.syncs += 1;
        for change in &dirty {
            change.apply(&mut disk.durable);
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut disk = self.0.lock().unwrap();
        let change = Change::Write(offset, data.to_vec());
        change.apply(&mut disk.live);
        disk.dirty.push(change);
        Ok(())
    }
}

impl SpoolBackend for ShimBackend {
    fn drop_cached_pages(&self) -> io::Result<()> {
        // Clean pages are forgotten (among them those a failed sync left); dirty ones stay.
        let mut disk = self.0.lock().unwrap();
        let mut live = disk.durable.clone();
        for change in &disk.dirty {
            change.apply(&mut live);
        }
        disk.live = live;
        Ok(())
    }
}

/// Checks at open, so that the start-up report says what the pack check repaired (nothing,
/// [`verify_open`] asserts).
fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: usize::MAX,
        cache_size: 4 << 20,
        verify_at_open: true,
        ..SpoolOptions::default()
    }
}

fn boot(dir: &std::path::Path, disk: &Arc<Mutex<Disk>>) -> Spool {
    boot_failing(dir, disk, &Arc::new(AtomicU32::new(0)))
}

/// A spool on `disk` whose next `fail` fsyncs fail.
fn boot_failing(dir: &std::path::Path, disk: &Arc<Mutex<Disk>>, fail: &Arc<AtomicU32>) -> Spool {
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
    let mut stopped_rounds = 0;
    for round in 0..12 {
        // Every third round an fsync fails (EIO) at a random moment, and the workload goes on
        // until the cut: the spool must stop rather than acknowledge anything on top of it.
        let fail = Arc::new(AtomicU32::new(0));
        let spool = boot_failing(&spool_dir, &disk, &fail);
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
                    if one_message(&spool, &log).await.is_err() {
                        assert!(spool.failure().is_some(), "an error only once stopped");
                        break;
                    }
                }
            }));
        }
        let delay = rand::thread_rng().gen_range(20..200);
        let eio = round % 3 == 2;
        if eio {
            tokio::time::sleep(Duration::from_millis(delay / 2)).await;
            fail.store(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay / 2)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
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
        let stopped = spool.failure().is_some();
        assert_eq!(
            stopped,
            eio && fail.load(Ordering::SeqCst) == 0,
            "stops only on EIO"
        );
        stopped_rounds += usize::from(stopped);
        drop(spool);
        drop::<Arc<Mutex<File>>>(log);
        std::fs::remove_file(&log_path).unwrap();
        let acked = read_acks(&log_copy, &mut model, &mut in_flight);
        acked_total += acked;
        eprintln!(
            "round {round}: cut after {delay} ms (torn: {torn}, EIO: {eio}, stopped: {stopped}), \
             {acked} acks"
        );
        disk = Arc::new(Mutex::new(after));
    }
    let spool = boot(&spool_dir, &disk);
    verify_open(&spool, usize::MAX, &mut model, &in_flight).await;
    assert!(acked_total > 0);
    assert!(
        stopped_rounds > 0,
        "an injected EIO stopped the spool in some round"
    );
}

/// EIO on one fsync, then more writes (Linux would report the next fsync as a success), then
/// a power cut: every write that returned `Ok` is there, the failed one is not.
#[tokio::test]
async fn eio_on_fsync_then_more_writes_and_a_power_cut_keep_every_ok_write() {
    use common::{assert_same, at, message, message_with};
    use envoi_queue::{Storage, StorageError};

    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(Mutex::new(Disk::default()));
    let fail = Arc::new(AtomicU32::new(0));
    let spool = boot_failing(dir.path(), &disk, &fail);
    // Ids chosen so that the failed write lands between the stored rows, in every leaf page:
    // its commit rewrites them all, and a commit built on it would point at those copies.
    let id = |n: u8| QueueId::from_bytes([n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let stored: Vec<_> = (0..120)
        .map(|n| message_with(id(2 * n), 300, at(1)))
        .collect();
    spool.write(stored.clone()).await.unwrap();
    let mut acked = stored;

    fail.store(1, Ordering::SeqCst);
    let failed: Vec<_> = (0..120)
        .map(|n| message_with(id(2 * n + 1), 300, at(2)))
        .collect();
    let error = spool.write(failed.clone()).await.unwrap_err();
    assert!(matches!(error, StorageError::Io(_)), "{error:?}");
    let mut refused = Vec::new();
    for _ in 0..5 {
        let m = message(at(3));
        match spool.write(vec![m.clone()]).await {
            Ok(()) => acked.push(m),
            Err(e) => refused.push((m, e)),
        }
    }

    let cut = disk.lock().unwrap().after_power_cut(false);
    let stopped = spool.failure();
    drop(spool);
    let spool = boot(dir.path(), &Arc::new(Mutex::new(cut)));
    assert!(
        spool.verify_records().unwrap().is_empty(),
        "no corrupt record"
    );
    for m in &acked {
        let stored = spool.get(m.id).await.unwrap();
        assert_same(&stored.expect("an acknowledged write survives"), m);
    }
    for m in &failed {
        assert!(spool.get(m.id).await.unwrap().is_none());
    }
    assert_eq!(spool.load_schedule().await.unwrap().len(), acked.len());

    // It survived because the spool stopped at the failed fsync: nothing more was accepted.
    assert_eq!(acked.len(), 120, "no write accepted after the failed fsync");
    assert!(
        matches!(&stopped, Some(StorageError::Unavailable(why)) if why.contains("fsync")),
        "{stopped:?}"
    );
    for (_, e) in &refused {
        assert!(matches!(e, StorageError::Unavailable(_)), "{e:?}");
    }
}

/// A restart after a failed fsync, without a power cut (the failed pages are still in the
/// cache), reads the disk: the failed write is not there, and new writes survive a later cut.
#[tokio::test]
async fn a_restart_after_a_failed_fsync_reads_the_disk_not_the_cache() {
    use common::{assert_same, at, message};
    use envoi_queue::Storage;

    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(Mutex::new(Disk::default()));
    let fail = Arc::new(AtomicU32::new(0));
    let spool = boot_failing(dir.path(), &disk, &fail);
    let before = message(at(1));
    spool.write(vec![before.clone()]).await.unwrap();
    fail.store(1, Ordering::SeqCst);
    let failed = message(at(2));
    spool.write(vec![failed.clone()]).await.unwrap_err();
    let why = tokio::time::timeout(Duration::from_secs(10), spool.stopped())
        .await
        .expect("the spool reports that it stopped");
    assert!(why.to_string().contains("fsync"), "{why}");
    drop(spool);

    let spool = boot(dir.path(), &disk);
    assert!(spool.failure().is_none());
    assert!(spool.get(failed.id).await.unwrap().is_none());
    let after = message(at(3));
    spool.write(vec![after.clone()]).await.unwrap();
    assert!(
        spool.verify_records().unwrap().is_empty(),
        "no corrupt record"
    );

    let cut = disk.lock().unwrap().after_power_cut(false);
    drop(spool);
    let spool = boot(dir.path(), &Arc::new(Mutex::new(cut)));
    assert!(
        spool.verify_records().unwrap().is_empty(),
        "no corrupt record"
    );
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
