//! Quarantine keeps everything, and only what cannot be mended goes there: a quarantined
//! message keeps its body file, a readable record whose schedule row is damaged or missing is
//! rebuilt, and a body missing at attempt time quarantines its message at once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::path::Path;

use common::{assert_same, at, message};
use envoi_queue::{Lease, Storage, StorageError};
use envoi_spool::{Spool, SpoolOptions, DB_FILE};
use envoi_types::QueueId;
use redb::{ReadableTable, TableDefinition};

const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");
const SCHEDULE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("schedule");

/// Every body in a file, every record checked at open.
fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: 0,
        verify_at_open: true,
        ..SpoolOptions::default()
    }
}

fn schedule_key(db: &redb::Database, id: QueueId) -> Vec<u8> {
    let read = db.begin_read().unwrap();
    let schedule = read.open_table(SCHEDULE).unwrap();
    let found = schedule
        .iter()
        .unwrap()
        .map(|row| row.unwrap().0.value().to_vec())
        .find(|key| key.ends_with(&id.to_bytes()));
    found.unwrap()
}

/// Rewrites the schedule row of `id` with `value` (`None`: removes it).
fn set_schedule_value(dir: &Path, id: QueueId, value: Option<&[u8]>) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let key = schedule_key(&db, id);
    let txn = db.begin_write().unwrap();
    {
        let mut schedule = txn.open_table(SCHEDULE).unwrap();
        match value {
            Some(value) => schedule.insert(key.as_slice(), value).unwrap(),
            None => schedule.remove(key.as_slice()).unwrap(),
        };
    }
    txn.commit().unwrap();
}

fn body_exists(dir: &Path, id: QueueId) -> bool {
    dir.join("bodies").join(id.to_string()).exists()
}

async fn scheduled(spool: &Spool) -> Vec<QueueId> {
    let entries = spool.load_schedule().await.unwrap();
    entries.iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn a_quarantined_message_keeps_its_body_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    {
        let db = redb::Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(a.id.to_bytes().as_slice(), [2u8, 0xff].as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.startup_report().quarantined.len(), 1);
    assert!(
        body_exists(dir.path(), a.id),
        "kept at the start that quarantines"
    );
    drop(spool);
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert!(spool.startup_report().orphan_bodies.is_empty());
    assert!(body_exists(dir.path(), a.id), "kept at every later start");
    assert_eq!(scheduled(&spool).await, [b.id]);
}

#[tokio::test]
async fn a_readable_record_with_a_damaged_schedule_row_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    set_schedule_value(dir.path(), a.id, Some(&[7u8; 18]));
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert!(spool.startup_report().quarantined.is_empty());
    assert_eq!(scheduled(&spool).await, [a.id, b.id]);
    assert_same(&spool.get(a.id).await.unwrap().unwrap(), &a);
    drop(spool);
    let spool = Spool::open(dir.path(), options()).unwrap();
    let entries = spool.load_schedule().await.unwrap();
    assert_eq!((entries[0].id, entries[0].next_attempt), (a.id, at(1)));
    assert!(spool.quarantined().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_metadata_row_without_a_schedule_row_is_found_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    set_schedule_value(dir.path(), b.id, None);
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.startup_report().messages, 2);
    assert_eq!(scheduled(&spool).await, [a.id, b.id]);
    assert!(body_exists(dir.path(), b.id), "its body is not an orphan");
    assert_same(&spool.get(b.id).await.unwrap().unwrap(), &b);
}

#[tokio::test]
async fn a_body_missing_at_attempt_time_quarantines_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    let spool = Spool::open(dir.path(), options()).unwrap();
    spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    std::fs::remove_file(dir.path().join("bodies").join(a.id.to_string())).unwrap();
    let lease = Lease {
        owner: "test".into(),
        until: at(999),
    };
    let error = spool.claim(a.id, &lease).await.unwrap_err();
    assert!(matches!(error, StorageError::Corrupt { .. }), "{error:?}");
    let listed = spool.quarantined().await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "set aside at once, listed by the admin API"
    );
    assert_eq!(listed[0].key, format!("meta/{}", a.id));
    assert_eq!(listed[0].reason, "body file missing");
    assert_eq!(scheduled(&spool).await, [b.id]);
    assert_eq!(spool.count_by_state().await.unwrap().total(), 1);
}

#[tokio::test]
async fn a_schedule_row_without_metadata_is_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    {
        let db = redb::Database::open(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .remove(a.id.to_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.startup_report().messages, 1);
    assert_eq!(scheduled(&spool).await, [b.id]);
    assert_eq!(spool.count_by_state().await.unwrap().total(), 1);
    assert!(spool.quarantined().await.unwrap().is_empty());
}
