//! Faults on real file systems: disk full on a small tmpfs, a read-only file system, a missing
//! or locked spool directory, corrupted record bytes, a missing body file, an orphan body.
//! Mounting needs root; where it is refused the test says so and skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_same, at, message, message_with};
use envoi_queue::{NewMessage, Storage, StorageError};
use envoi_spool::{Spool, SpoolOptions, DB_FILE};
use envoi_types::QueueId;
use redb::{ReadableTable, TableHandle};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status();
        match status {
            Ok(status) if status.success() => Some(Self { path, _dir: dir }),
            other => {
                eprintln!("SKIPPED: cannot mount a tmpfs here ({other:?}); this test needs root");
                None
            }
        }
    }

    fn remount(&self, mode: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn options(inline_max: usize) -> SpoolOptions {
    SpoolOptions {
        inline_max,
        create_dir: true,
        cache_size: 1 << 20,
        ..SpoolOptions::default()
    }
}

fn tmp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("bodies"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count()
}

/// Fills the disk with `size`-byte messages until a write fails; returns what was stored and
/// the error. Bounded to 2000 writes.
async fn fill(spool: &Spool, size: usize) -> (Vec<envoi_queue::NewMessage>, StorageError) {
    let mut stored = Vec::new();
    for _ in 0..2000 {
        let m = message_with(QueueId::new(), size, at(1));
        match spool.write(vec![m.clone()]).await {
            Ok(()) => stored.push(m),
            Err(e) => return (stored, e),
        }
    }
    panic!("the disk never filled up");
}

async fn disk_full_then_space_returns(inline_max: usize, size: usize) {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let ballast = fs.path.join("ballast");
    std::fs::write(&ballast, vec![7u8; 2 << 20]).unwrap();
    let dir = fs.path.join("spool");
    let spool = Spool::open(&dir, options(inline_max)).unwrap();
    let (stored, error) = fill(&spool, size).await;
    assert!(!stored.is_empty());
    assert!(matches!(error, StorageError::Full(_)), "{error:?}");
    assert_eq!(tmp_files(&dir), 0, "nothing half-written remains");
    // Still full: still refused as Full (452), never Ok, never a panic.
    let refused = message_with(QueueId::new(), size, at(1));
    let again = spool.write(vec![refused.clone()]).await.unwrap_err();
    assert!(matches!(again, StorageError::Full(_)), "{again:?}");

    // Space returns: the same spool works again, without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let after = message_with(QueueId::new(), size, at(2));
    spool.write(vec![after.clone()]).await.unwrap();
    assert_same(&spool.get(after.id).await.unwrap().unwrap(), &after);
    assert!(spool.get(refused.id).await.unwrap().is_none());
    drop(spool);

    let spool = Spool::open(&dir, options(inline_max)).unwrap();
    for m in stored.iter().chain([&after]) {
        assert_same(&spool.get(m.id).await.unwrap().unwrap(), m);
    }
    assert_eq!(
        spool.load_schedule().await.unwrap().len(),
        stored.len() + 1,
        "the refused writes left nothing"
    );
    assert!(spool.startup_report().orphan_bodies.is_empty());
}

#[tokio::test]
async fn disk_full_with_inline_bodies_is_full_and_recovers() {
    disk_full_then_space_returns(usize::MAX, 3000).await;
}

#[tokio::test]
async fn disk_full_with_body_files_is_full_and_recovers() {
    disk_full_then_space_returns(0, 64 * 1024).await;
}

#[tokio::test]
async fn read_only_file_system() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let dir = fs.path.join("spool");
    let kept = message(at(1));
    {
        let spool = Spool::open(&dir, options(4096)).unwrap();
        spool.write(vec![kept.clone()]).await.unwrap();
    }
    assert!(fs.remount("ro"), "remount read-only");
    let refused = Spool::open(&dir, options(4096)).unwrap_err();
    let StorageError::Unavailable(text) = &refused else {
        panic!("{refused:?}");
    };
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("not writable"), "{text}");
    assert!(fs.remount("rw"), "remount read-write");
    let spool = Spool::open(&dir, options(4096)).unwrap();
    assert_same(&spool.get(kept.id).await.unwrap().unwrap(), &kept);
}

#[test]
fn missing_directory_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let strict = SpoolOptions::default();
    let error = Spool::open(&missing, strict).unwrap_err();
    assert_eq!(
        error,
        StorageError::Unavailable(format!(
            "spool directory {}: does not exist",
            missing.display()
        ))
    );
    assert!(
        Spool::open(&missing, options(0)).is_ok(),
        "create_dir creates it"
    );
}

#[test]
fn a_file_is_not_a_spool_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let error = Spool::open(&file, options(0)).unwrap_err();
    assert!(matches!(&error, StorageError::Unavailable(t) if t.contains("not a directory")));
}

#[test]
fn a_locked_spool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Spool::open(dir.path(), options(0)).unwrap();
    let error = Spool::open(dir.path(), options(0)).unwrap_err();
    let StorageError::Unavailable(text) = &error else {
        panic!("{error:?}");
    };
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("locked"), "{text}");
}

/// Scribbles over the metadata record of `id`.
fn corrupt_meta(dir: &Path, id: QueueId) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
        let mut meta = txn.open_table(def).unwrap();
        // Layout 2's version byte, then a record length past the end of the row.
        let garbage = [2u8, 0xff, 0xfe, 0x00, 0x13];
        meta.insert(id.to_bytes().as_slice(), garbage.as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn corrupted_record_is_quarantined_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (message(at(1)), message(at(2)), message(at(3)));
    {
        let spool = Spool::open(dir.path(), options(4096)).unwrap();
        spool
            .write(vec![a.clone(), b.clone(), c.clone()])
            .await
            .unwrap();
    }
    corrupt_meta(dir.path(), b.id);
    let checked = SpoolOptions {
        verify_at_open: true,
        ..options(4096)
    };
    let spool = Spool::open(dir.path(), checked.clone()).unwrap();
    let report = spool.startup_report();
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].key, format!("meta/{}", b.id));
    assert_eq!(report.messages, 2);
    let ids: Vec<QueueId> = spool
        .load_schedule()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![a.id, c.id]);
    assert_same(&spool.get(a.id).await.unwrap().unwrap(), &a);
    assert_same(&spool.get(c.id).await.unwrap().unwrap(), &c);
    assert!(spool.get(b.id).await.unwrap().is_none());
    drop(spool);
    // The quarantine is durable and shown to the admin view after the next start too.
    let spool = Spool::open(dir.path(), checked).unwrap();
    assert!(spool.startup_report().quarantined.is_empty());
    let listed = spool.quarantined().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, format!("meta/{}", b.id));
    assert!(
        listed[0].reason.contains("metadata"),
        "{}",
        listed[0].reason
    );
}

#[tokio::test]
async fn background_check_quarantines_a_corrupted_record() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options(4096)).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    corrupt_meta(dir.path(), b.id);
    let spool = Spool::open(dir.path(), options(4096)).unwrap();
    // Open read only the schedule; the record check runs right after it, in the background
    // (and here on demand too, so that the test knows it is done).
    assert!(spool.startup_report().quarantined.is_empty());
    spool.verify_records().unwrap();
    let listed = spool.quarantined().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, format!("meta/{}", b.id));
    assert!(spool.get(b.id).await.unwrap().is_none());
    assert_same(&spool.get(a.id).await.unwrap().unwrap(), &a);
    assert_eq!(spool.count_by_state().await.unwrap().total(), 1);
}

#[tokio::test]
async fn missing_body_file_and_orphan_body_are_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options(0)).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    let bodies = dir.path().join("bodies");
    std::fs::remove_file(bodies.join(a.id.to_string())).unwrap();
    let orphan = QueueId::new();
    std::fs::write(bodies.join(orphan.to_string()), b"left by a crash").unwrap();
    std::fs::write(bodies.join(format!("{}.tmp", QueueId::new())), b"half").unwrap();

    let spool = Spool::open(dir.path(), options(0)).unwrap();
    let report = spool.startup_report().clone();
    assert_eq!(report.orphan_bodies, vec![orphan]);
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].key, format!("meta/{}", a.id));
    assert_eq!(report.quarantined[0].reason, "body file missing");
    let ids: Vec<QueueId> = spool
        .load_schedule()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![b.id]);
    assert_same(&spool.get(b.id).await.unwrap().unwrap(), &b);
    let mut left: Vec<String> = std::fs::read_dir(&bodies)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![b.id.to_string()], "orphan and .tmp removed");
    assert_eq!(spool.quarantined().await.unwrap().len(), 1);
}

/// A closed spool holding two inline messages, `a` (a 100-octet body) and `b`, with `octets`
/// cut off the end of `a`'s metadata row.
async fn two_inline_with_first_cut(octets: usize) -> (tempfile::TempDir, NewMessage, NewMessage) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message_with(QueueId::new(), 100, at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options(usize::MAX)).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    cut_off_row_end(dir.path(), a.id, octets);
    (dir, a, b)
}

/// Cuts `octets` off the end of the metadata row of `id`, where an inline body ends.
fn cut_off_row_end(dir: &std::path::Path, id: QueueId, octets: usize) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
        let mut meta = txn.open_table(def).unwrap();
        let key = id.to_bytes();
        let row = meta.get(key.as_slice()).unwrap().unwrap().value().to_vec();
        meta.insert(key.as_slice(), &row[..row.len() - octets])
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_truncated_inline_body_is_corrupt_not_a_panic() {
    let (dir, a, b) = two_inline_with_first_cut(10).await;
    let spool = Spool::open(dir.path(), options(usize::MAX)).unwrap();
    match spool.get(a.id).await {
        Err(error) => assert_eq!(
            error,
            StorageError::Corrupt {
                id: Some(a.id),
                detail: "packed body location is 2 octets, 12 expected, or outside its pack".into()
            }
        ),
        // The background record check got there first.
        Ok(None) => {}
        Ok(Some(_)) => panic!("a truncated body was read"),
    }
    assert_same(&spool.get(b.id).await.unwrap().unwrap(), &b);
    // The record check (in the background since open, here on demand) quarantines it.
    spool.verify_records().unwrap();
    let listed = spool.quarantined().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, format!("meta/{}", a.id));
    assert!(spool.get(a.id).await.unwrap().is_none());
    assert_eq!(spool.count_by_state().await.unwrap().total(), 1);
}

#[tokio::test]
async fn a_truncated_inline_body_is_quarantined_by_the_record_check() {
    let (dir, a, b) = two_inline_with_first_cut(1).await;
    let checked = SpoolOptions {
        verify_at_open: true,
        ..options(usize::MAX)
    };
    let spool = Spool::open(dir.path(), checked).unwrap();
    let report = spool.startup_report();
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(report.quarantined[0].key, format!("meta/{}", a.id));
    assert!(
        report.quarantined[0]
            .reason
            .contains("packed body location"),
        "{report:?}"
    );
    // Its row no longer names its pack, which `b` shares: the pack's count is set to one.
    assert_eq!(report.packs.recounted.len(), 1, "{report:?}");
    assert!(spool.get(a.id).await.unwrap().is_none());
    assert_same(&spool.get(b.id).await.unwrap().unwrap(), &b);
}

#[test]
fn a_database_of_the_old_layout_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        // Layout 1: inline bodies in a table of their own, no layout record.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        for name in ["meta", "schedule", "bodies"] {
            let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
            txn.open_table(def).unwrap();
        }
        txn.commit().unwrap();
    }
    let error = Spool::open(dir.path(), options(4096)).unwrap_err();
    let StorageError::Unavailable(text) = &error else {
        panic!("{error:?}");
    };
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("layout 1"), "{text}");
    // Left as it was: no layout recorded, no table added or dropped.
    let db = redb::Database::open(&path).unwrap();
    let mut tables: Vec<String> = db
        .begin_read()
        .unwrap()
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    tables.sort();
    assert_eq!(tables, ["bodies", "meta", "schedule"]);
}

#[tokio::test]
async fn an_unfinished_database_creation_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    // What a process killed while creating the database leaves behind.
    std::fs::write(dir.path().join("spool.redb.new"), b"half a header").unwrap();
    let spool = Spool::open(dir.path(), options(0)).unwrap();
    assert!(!dir.path().join("spool.redb.new").exists());
    let m = message(at(1));
    spool.write(vec![m.clone()]).await.unwrap();
    drop(spool);
    let spool = Spool::open(dir.path(), options(0)).unwrap();
    assert_same(&spool.get(m.id).await.unwrap().unwrap(), &m);
}
