//! The leases a node keeps track of, against the real server: a batch claim is the attempt's
//! lease (no second write), and leases of messages other nodes finished are forgotten while
//! those still needed for fencing are kept. Skipped without `ENVOI_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

mod common;

use std::time::{Duration, SystemTime};

use envoi_queue::{Storage, StorageError};
use envoi_store_postgres::PgStore;
use envoi_types::QueueId;

use common::{lease, message, remove};

fn where_id(id: QueueId) -> String {
    let hex: String = id.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("WHERE id = '\\x{hex}'")
}

#[tokio::test]
async fn a_batch_claim_is_the_attempts_lease_and_the_attempt_reads_without_a_write() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let writer = common::node(&schema, "node-w").await;
    let a = common::node(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let new = message();
    let id = new.id;
    writer.write(vec![new.clone()]).await.unwrap();
    // As if node-w had attempted it and released it for a retry now due.
    schema.sql("UPDATE envoi_message SET lease_owner = NULL, lease_until_ns = NULL");

    let due = a.poll_due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    let version = || {
        schema.query(&format!(
            "SELECT xmin::text || '/' || fence FROM envoi_message {}",
            where_id(id)
        ))
    };
    let claimed = version();
    assert!(
        claimed[0].as_deref().unwrap().ends_with("/1"),
        "the batch claim did not fence: {claimed:?}"
    );

    let read = a.claim(id, &lease("node-a")).await.unwrap().expect("read");
    assert_eq!(read.envelope, new.envelope);
    assert_eq!(version(), claimed, "the attempt wrote a second claim");
    assert!(
        b.claim(id, &lease("node-b")).await.unwrap().is_none(),
        "another node took a leased message"
    );
    a.commit_attempt(id, remove()).await.unwrap();
    assert!(a.info(id).await.unwrap().is_none());
}

/// A node whose leases last 200 ms, so that they lapse within the test.
async fn short_leased(schema: &std::sync::Arc<common::Schema>, node: &str) -> PgStore {
    let mut options = schema.options(node);
    options.lease = Duration::from_millis(200);
    PgStore::open(options).await.unwrap()
}

#[tokio::test]
async fn leases_of_messages_gone_elsewhere_are_forgotten_and_the_others_kept() {
    let Some(url) = common::url() else { return };
    let schema = common::Schema::create(&url);
    let a = short_leased(&schema, "node-a").await;
    let b = common::node(&schema, "node-b").await;
    let (deleted, taken, untouched) = (message(), message(), message());
    a.write(vec![deleted.clone(), taken.clone(), untouched.clone()])
        .await
        .unwrap();
    assert_eq!(a.tracked_leases(), 3);
    assert_eq!(
        a.prune_leases().await.unwrap(),
        0,
        "live leases were forgotten"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another node deletes one, and takes another over once node-a's lease lapsed.
    assert!(b.remove(deleted.id).await.unwrap());
    assert!(b.claim(taken.id, &lease("node-b")).await.unwrap().is_some());

    assert_eq!(a.prune_leases().await.unwrap(), 1);
    assert_eq!(
        a.tracked_leases(),
        2,
        "only the deleted message's lease may go"
    );
    // The kept leases still fence: node-a's late outcome for the taken one is refused, and
    // the untouched one (nobody claimed it) is still node-a's to finish.
    assert_eq!(
        a.commit_attempt(taken.id, remove()).await,
        Err(StorageError::NotFound(taken.id))
    );
    assert!(
        b.info(taken.id).await.unwrap().is_some(),
        "the stale outcome removed it"
    );
    a.commit_attempt(untouched.id, remove()).await.unwrap();
    assert_eq!(a.tracked_leases(), 1, "only the stale lease is left");
}
