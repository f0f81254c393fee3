//! Group commit against the real server: concurrent writes share transactions, and one
//! caller's duplicate id costs the others nothing. Skipped without `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::SystemTime;

use envoi_queue::storage::NewMessage;
use envoi_queue::{Storage, StorageError};
use envoi_types::{Address, Envelope, Message, Sender};

fn message() -> NewMessage {
    let envelope = Envelope::new(
        Sender::parse("s@src.test").unwrap(),
        vec![Address::parse("a@dst.test").unwrap()],
        Message::from(vec![b'x'; 4096]),
    );
    NewMessage::new(envelope, SystemTime::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_duplicate_fails_alone() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let store = common::node(&schema, "node-a").await;
    let stored = message();
    store.write(vec![stored.clone()]).await.unwrap();

    let writes = 50;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..writes {
        let store = store.store.clone();
        let mut batch = vec![message()];
        if n == 25 {
            batch.push(stored.clone());
        }
        tasks.spawn(async move { (n, store.write(batch).await) });
    }
    let mut refused = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (n, result) = done.unwrap();
        match result {
            Ok(()) => {}
            Err(StorageError::DuplicateId(id)) => {
                assert_eq!((n, id), (25, stored.id));
                refused.push(n);
            }
            Err(other) => panic!("write {n} failed: {other}"),
        }
    }
    assert_eq!(refused, vec![25]);
    let rows = schema.query("SELECT count(*) FROM envoi_message");
    assert_eq!(
        rows,
        vec![Some((1 + writes - 1).to_string())],
        "the others were not all stored"
    );
    let bodies = schema.query("SELECT count(*) FROM envoi_body");
    assert_eq!(bodies, rows);
    // Rows inserted by one transaction share its id (xmin).
    let commits = schema.query("SELECT count(DISTINCT xmin::text) FROM envoi_message");
    let commits: usize = commits[0].as_deref().unwrap().parse().unwrap();
    assert!(
        commits <= writes / 2,
        "{writes} concurrent writes took {commits} commits"
    );
}
