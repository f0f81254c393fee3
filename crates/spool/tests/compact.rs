//! `envoi_spool::compact`: offline only, and it gives back the file space of removed messages
//! that the live spool keeps, every remaining message intact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::time::SystemTime;

use envoi_queue::{MessageMeta, NewMessage, Storage, StorageError};
use envoi_spool::{compact, Spool, SpoolOptions, DB_FILE};
use envoi_types::{Address, Envelope, QueueId, Sender};

fn message(n: usize) -> NewMessage {
    let mut body = format!("Subject: {n}\r\n\r\n").into_bytes();
    body.resize(4096, b'a' + (n % 26) as u8);
    let envelope = Envelope::new(
        Sender::parse("a@b.org").unwrap(),
        vec![Address::parse("c@d.org").unwrap()],
        body,
    );
    let meta = MessageMeta::new(&envelope, SystemTime::now());
    NewMessage {
        id: QueueId::new(),
        envelope,
        meta,
    }
}

fn options() -> SpoolOptions {
    SpoolOptions {
        create_dir: true,
        ..SpoolOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_shrinks_the_file_and_keeps_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options()).unwrap();
    let mut ids = Vec::new();
    for batch in 0..30 {
        let messages: Vec<NewMessage> = (0..100).map(|i| message(batch * 100 + i)).collect();
        ids.extend(messages.iter().map(|m| (m.id, m.envelope.clone())));
        spool.write(messages).await.unwrap();
    }
    // Everything but the last ten goes: the live spool keeps the file, whose end is in use.
    for (id, _) in &ids[..ids.len() - 10] {
        assert!(spool.remove(*id).await.unwrap());
    }
    drop(spool);
    let live = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
    let report = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || compact(&dir)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.before.len, live);
    assert!(
        report.after.len * 4 < report.before.len,
        "{report:?}: the file did not shrink"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len(),
        report.after.len
    );
    let spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.startup_report().messages, 10);
    for (id, envelope) in &ids[ids.len() - 10..] {
        let stored = spool.get(*id).await.unwrap().unwrap();
        assert_eq!(&stored.envelope, envelope);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_spool_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), options()).unwrap();
    spool.write(vec![message(1)]).await.unwrap();
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let refused = compact(dir.path()).unwrap_err();
    assert!(
        matches!(&refused, StorageError::Unavailable(why) if why.contains("locked")),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);
    drop(spool);
}

#[test]
fn a_directory_without_a_spool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = compact(&dir.path().join("nothing")).unwrap_err();
    assert!(
        matches!(missing, StorageError::Unavailable(_)),
        "{missing:?}"
    );
    let empty = compact(dir.path()).unwrap_err();
    assert!(matches!(empty, StorageError::Unavailable(_)), "{empty:?}");
    assert!(!dir.path().join(DB_FILE).exists(), "no database created");
}
