//! Attempt outcomes against the real server: concurrent outcomes share commits, each is fenced
//! on its own, and a node's first attempt (no claim: the write leased the message) is fenced
//! too. Skipped without `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::{Duration, SystemTime};

use envoi_queue::storage::{AttemptCommit, Disposition, NewMessage};
use envoi_queue::{Storage, StorageError};

use common::{lease, message, remove};

fn retry(attempts: u32, message: &NewMessage, bounces: Vec<NewMessage>) -> AttemptCommit {
    AttemptCommit {
        bounces,
        disposition: Disposition::Retry {
            next_attempt: SystemTime::now() + Duration::from_secs(600),
            attempts,
            recipients: message.meta.recipients.clone(),
            history: Default::default(),
        },
    }
}

#[tokio::test]
async fn a_first_attempt_without_a_claim_is_fenced_by_the_writes_lease() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let new = message();
    let id = new.id;
    a.write(vec![new.clone()]).await.unwrap();
    assert!(a.write_lease().is_some(), "the write leases the message");
    // node-a's write lease lapses before its first attempt ends; node-b takes the message,
    // defers it and releases it.
    schema.sql("UPDATE envoi_message SET lease_until_ns = 0");
    assert!(b.claim(id, &lease("node-b")).await.unwrap().is_some());
    b.commit_attempt(id, retry(7, &new, Vec::new()))
        .await
        .unwrap();
    // node-a's first attempt (never claimed) ends: its outcome must not overwrite node-b's.
    assert_eq!(
        a.commit_attempt(id, remove()).await,
        Err(StorageError::NotFound(id))
    );
    let info = a.info(id).await.unwrap().expect("node-b's state is kept");
    assert_eq!(info.attempts, 7, "the stale first attempt changed the row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_outcomes_share_commits_and_a_stale_one_fails_alone() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let outcomes = 50;
    let messages: Vec<NewMessage> = (0..outcomes).map(|_| message()).collect();
    a.write(messages.clone()).await.unwrap();
    // Message 0 was taken over by node-b (node-a's lease lapsed): node-a's outcome is stale.
    let stale = messages[0].id;
    schema.sql(&format!(
        "UPDATE envoi_message SET lease_until_ns = 0 WHERE id = '\\x{}'",
        hex(stale.to_bytes())
    ));
    assert!(b.claim(stale, &lease("node-b")).await.unwrap().is_some());
    // Message 1 was deleted by an administrator: its bounce is still stored.
    let gone = messages[1].id;
    assert!(b.remove(gone).await.unwrap());

    let mut tasks = tokio::task::JoinSet::new();
    for (n, m) in messages.iter().enumerate() {
        let store = a.store.clone();
        let commit = retry(1, m, vec![message()]);
        let id = m.id;
        tasks.spawn(async move { (n, store.commit_attempt(id, commit).await) });
    }
    let mut refused = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (n, result) = done.unwrap();
        match result {
            Ok(()) => {}
            Err(StorageError::NotFound(_)) if n < 2 => refused.push(n),
            Err(other) => panic!("outcome {n} failed: {other}"),
        }
    }
    refused.sort_unstable();
    assert_eq!(refused, vec![0, 1]);
    let deferred = schema.query("SELECT count(*) FROM envoi_message WHERE attempts = 1");
    assert_eq!(deferred, vec![Some((outcomes - 2).to_string())]);
    let owner = schema.query(&format!(
        "SELECT lease_owner FROM envoi_message WHERE id = '\\x{}'",
        hex(stale.to_bytes())
    ));
    assert_eq!(
        owner,
        vec![Some("node-b".to_owned())],
        "the stale outcome changed the row"
    );
    // Every outcome but the stale one stored its bounce (the gone message's included).
    let bounces = schema
        .query("SELECT count(*) FROM envoi_message WHERE attempts = 0 AND lease_owner = 'node-a'");
    assert_eq!(bounces, vec![Some((outcomes - 1).to_string())]);
    // Rows updated by one transaction share its id (xmin).
    let commits =
        schema.query("SELECT count(DISTINCT xmin::text) FROM envoi_message WHERE attempts = 1");
    let commits: usize = commits[0].as_deref().unwrap().parse().unwrap();
    assert!(
        commits <= outcomes / 2,
        "{outcomes} concurrent outcomes took {commits} commits"
    );
}

fn hex(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_message_this_node_wrote_is_read_without_a_claim_while_its_write_lease_lasts() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let (kept, lapsed) = (message(), message());
    a.write(vec![kept.clone(), lapsed.clone()]).await.unwrap();
    let versions =
        || schema.query("SELECT xmin::text || '/' || fence FROM envoi_message ORDER BY id");
    let before = versions();
    // Within the write's lease: read back as written, the rows untouched (no claim written).
    let read = a
        .claim(kept.id, &lease("node-a"))
        .await
        .unwrap()
        .expect("read");
    assert_eq!(read.envelope, kept.envelope);
    assert_eq!(versions(), before, "a claim was written");
    // An attempt outlasting the write's lease claims (and so bumps the fencing counter).
    schema.sql(&format!(
        "UPDATE envoi_message SET lease_until_ns = 1 WHERE id = '\\x{}'",
        hex(lapsed.id.to_bytes())
    ));
    assert!(a
        .claim(lapsed.id, &lease("node-a"))
        .await
        .unwrap()
        .is_some());
    let fence = schema.query(&format!(
        "SELECT fence FROM envoi_message WHERE id = '\\x{}'",
        hex(lapsed.id.to_bytes())
    ));
    assert_eq!(fence, vec![Some("1".to_owned())]);
    // Fencing holds for the read one too: node-b cannot take it, and once its lease is gone
    // and node-b took it, node-a's outcome is refused.
    assert!(b.claim(kept.id, &lease("node-b")).await.unwrap().is_none());
    schema.sql(&format!(
        "UPDATE envoi_message SET lease_until_ns = 1 WHERE id = '\\x{}'",
        hex(kept.id.to_bytes())
    ));
    assert!(b.claim(kept.id, &lease("node-b")).await.unwrap().is_some());
    assert_eq!(
        a.commit_attempt(kept.id, remove()).await,
        Err(StorageError::NotFound(kept.id))
    );
}
