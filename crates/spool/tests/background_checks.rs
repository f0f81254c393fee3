//! A large spool whose tables agree opens without reading its schedule; the checks of body
//! files and schedule rows then run in the background and find what open would have found.
//! (Here "large" is lowered to 0 messages.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::path::Path;
use std::time::Duration;

use common::{at, message};
use envoi_queue::Storage;
use envoi_spool::{Spool, SpoolOptions, DB_FILE};
use envoi_types::QueueId;
use redb::{ReadableTable, TableDefinition};

const SCHEDULE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("schedule");

/// Every body in a file; the schedule checked in the background whatever the spool's size.
fn options() -> SpoolOptions {
    SpoolOptions {
        inline_max: 0,
        background_check_from: 0,
        ..SpoolOptions::default()
    }
}

/// Overwrites the schedule value of `id` with bytes that do not decode.
fn damage_schedule_row(dir: &Path, id: QueueId) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut schedule = txn.open_table(SCHEDULE).unwrap();
        let key = schedule
            .iter()
            .unwrap()
            .map(|row| row.unwrap().0.value().to_vec())
            .find(|key| key.ends_with(&id.to_bytes()))
            .unwrap();
        schedule
            .insert(key.as_slice(), [7u8; 18].as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

fn body_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("bodies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits (a bounded number of short sleeps) until `done` holds.
async fn eventually(mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the background check did not finish");
}

#[tokio::test]
async fn missing_body_orphan_and_damaged_row_are_found_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (message(at(1)), message(at(2)), message(at(3)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool
            .write(vec![a.clone(), b.clone(), c.clone()])
            .await
            .unwrap();
    }
    let bodies = dir.path().join("bodies");
    std::fs::remove_file(bodies.join(a.id.to_string())).unwrap();
    let orphan = QueueId::new();
    std::fs::write(bodies.join(orphan.to_string()), b"left by a crash").unwrap();
    damage_schedule_row(dir.path(), c.id);

    let spool = Spool::open(dir.path(), options()).unwrap();
    let report = spool.startup_report().clone();
    assert_eq!(report.messages, 3, "counted, not read");
    assert!(report.quarantined.is_empty() && report.orphan_bodies.is_empty());

    eventually(async || spool.quarantined().await.unwrap().len() == 1).await;
    let quarantined = spool.quarantined().await.unwrap();
    assert_eq!(quarantined[0].key, format!("meta/{}", a.id));
    assert_eq!(quarantined[0].reason, "body file missing");
    eventually(async || spool.load_schedule().await.unwrap().len() == 2).await;
    let ids: Vec<QueueId> = spool
        .load_schedule()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![b.id, c.id], "c's row rebuilt from its record");
    eventually(async || !body_files(dir.path()).contains(&orphan.to_string())).await;
    let mut expected = vec![b.id.to_string(), c.id.to_string()];
    expected.sort();
    assert_eq!(
        body_files(dir.path()),
        expected,
        "the orphan removed, the others kept"
    );
}

#[tokio::test]
async fn a_small_or_unbalanced_spool_is_still_reconciled_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (message(at(1)), message(at(2)));
    {
        let spool = Spool::open(dir.path(), options()).unwrap();
        spool.write(vec![a.clone(), b.clone()]).await.unwrap();
    }
    std::fs::remove_file(dir.path().join("bodies").join(a.id.to_string())).unwrap();
    let small = SpoolOptions {
        background_check_from: 3,
        ..options()
    };
    let spool = Spool::open(dir.path(), small).unwrap();
    assert_eq!(
        spool.startup_report().quarantined.len(),
        1,
        "checked at open"
    );
}
